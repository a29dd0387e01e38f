"""Wire types of `/v1/auth/mfa` (as api/identity_schemas.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from api.identity_schemas import MAX_TOKEN_FIELD, TokenView
from api.schemas import Wire
from domain.mfa.policy import Proof
from domain.mfa_ports import EnrollmentCount

MFA_PATH = "/v1/auth/mfa"
# Longer than any code (6 digits, or "xxxxx-xxxxx" with some spaces), short enough to cost
# nothing to refuse.
MAX_CODE_FIELD = 32
MfaToken = Annotated[str, msgspec.Meta(min_length=1, max_length=2 * MAX_TOKEN_FIELD + 400)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CODE_FIELD)]


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class EnrollRequest(_Body):
    # Only for an admin whose login answered mfa_enrollment_required; others send a bearer
    # access token and no body.
    mfa_token: MfaToken | None = None


class ConfirmRequest(_Body):
    code: Code
    mfa_token: MfaToken | None = None


class ProofRequest(_Body):
    """A fresh second factor: exactly one of the three."""

    code: Code | None = None
    backup_code: Code | None = None
    email_code: Code | None = None

    def proof(self) -> Proof:
        return Proof(code=self.code, backup_code=self.backup_code, email_code=self.email_code)


class VerifyRequest(ProofRequest, kw_only=True):
    mfa_token: MfaToken


class EmailRequest(_Body):
    mfa_token: MfaToken


class TotpSetupView(Wire):
    secret: str  # base32, for typing into an app that cannot scan
    otpauth_uri: str
    qr_svg: str  # an SVG document of the otpauth URI


class BackupCodesView(Wire):
    backup_codes: list[str]  # shown this once: only their hashes are kept


class EnrolledView(BackupCodesView):
    # Set when enrolment finished a login (the body carried an mfa_token).
    tokens: TokenView | None


class EnrollmentView(Wire):
    users: int
    enrolled: int
    rate: float  # enrolled / users; 0 for a tenant without users
    admins: int
    admins_enrolled: int


def enrollment_view(count: EnrollmentCount) -> EnrollmentView:
    return EnrollmentView(
        users=count.users,
        enrolled=count.enrolled,
        rate=round(count.rate, 4),
        admins=count.admins,
        admins_enrolled=count.admins_enrolled,
    )
