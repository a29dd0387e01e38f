"""Multi-factor authentication rules (issue 4, "MFA"): TOTP, backup and e-mailed codes, and
the encryption of TOTP secrets at rest. Pure: no database, HTTP or settings; the use cases in
domain/services/mfa.py combine them with the repositories.
"""
