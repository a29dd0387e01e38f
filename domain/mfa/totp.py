"""TOTP (RFC 6238) with pyotp: 30-second steps, 6 digits, a window of one step either side.

pyotp's own `verify()` only answers yes or no; the caller needs the time step that matched so
that it can store it and refuse that step (and every older one) afterwards: a code is
accepted once (issue 4; RFC 6238 section 5.2).
"""

from __future__ import annotations

import datetime as dt
import hmac
import io

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
# ±1 step tolerates 30 s of clock drift or a code typed just as it rolled over (RFC 6238
# section 5.2 recommends at most one step back).
WINDOW = 1
ISSUER = "Rota"


def new_secret() -> str:
    """A random base32 secret of 160 bits (RFC 4226 section 4 recommends 160)."""
    return pyotp.random_base32(32)


def time_step(now: dt.datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(
    secret: str, code: str, now: dt.datetime, *, last_step: int | None = None
) -> int | None:
    """The time step within the window whose code is `code`, newer than `last_step`; None
    when no such step exists (a wrong code, or a replay of an already accepted one)."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = time_step(now)
    matched = None
    # Every candidate is compared (no early exit) and in constant time, so the answer's timing
    # says nothing about which step matched.
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            matched = step
    if matched is None or (last_step is not None and matched <= last_step):
        return None
    return matched


def code_at(secret: str, step: int) -> str:
    """The code of one time step (tests and the setup page's self-check)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (text, so the JSON answer can carry it inline)."""
    out = io.BytesIO()
    # Error correction "M" keeps a 32-character secret's URI in a small, easily scanned code.
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False)
    return out.getvalue().decode()
