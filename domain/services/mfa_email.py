"""The e-mailed second factor: a 6-digit code, valid 10 minutes, single use, at most 3 sends
per 15 minutes (issue 4). It is checked by domain/services/mfa.py like any other factor."""

from __future__ import annotations

import datetime as dt
import uuid

from domain.errors import Conflict, NotFound, ServiceUnavailable, TooManyAttempts, Unauthorized
from domain.mail import MailError, MailMessage
from domain.mfa import codes
from domain.services.mfa import Mfa


def _too_many(retry_after: int) -> TooManyAttempts:
    return TooManyAttempts(
        "too many codes sent; wait before asking for another",
        retry_after=retry_after,
        code="MFA_EMAIL_LIMIT",
    )


def send_email_code(mfa: Mfa, user_id: uuid.UUID, *, login: int) -> None:
    """Mail a new code to the user's address (`login`: the marker of the caller's mfa_token;
    a spent token sends nothing)."""
    if mfa.mailer is None:
        raise ServiceUnavailable("no mailer is configured", code="MAIL_UNAVAILABLE")
    code = codes.new_email_code()
    with mfa.uow_factory() as uow:
        user = uow.users.get(user_id)
        if user is None:
            raise NotFound("no such user", code="USER_NOT_FOUND")
        if login != user.login_marker:
            raise Unauthorized("the mfa_token was already used", code="MFA_TOKEN_INVALID")
        if not user.mfa_enabled:
            raise Conflict("MFA is not enabled for this account", code="MFA_NOT_ENABLED")
        # Without the row lock, two concurrent requests could both count 2 earlier sends and
        # both send: 4 in the window.
        uow.mfa.hold(user.id)
        now = mfa.clock()
        sent = uow.mfa.email_codes_sent_since(user.id, now - codes.EMAIL_SEND_WINDOW)
        if codes.email_sends_left(sent, now) == 0:
            raise _too_many(codes.email_retry_after(sent, now))
        uow.mfa.add_email_code(
            user.id,
            codes.email_code_hash(mfa.keyring, user.id, code),
            created_at=now,
            expires_at=now + codes.EMAIL_CODE_TTL,
        )
        # Committed before sending: the send counts against the limit even if the mail
        # server fails, and no database connection waits on SMTP.
        uow.commit()
    try:
        mfa.mailer.send(_message(user.email, code, now + codes.EMAIL_CODE_TTL))
    except MailError:
        raise ServiceUnavailable(
            "the code could not be mailed; try again later", code="MAIL_UNAVAILABLE"
        ) from None


def _message(to: str, code: str, expires_at: dt.datetime) -> MailMessage:
    minutes = int(codes.EMAIL_CODE_TTL.total_seconds() // 60)
    return MailMessage(
        to=to,
        subject="Your Rota sign-in code",
        body=(
            f"Your Rota sign-in code is {code}.\n\n"
            f"It works once, for {minutes} minutes (until {expires_at:%H:%M} UTC).\n"
            "If you did not try to sign in, change your password: someone knows it.\n"
        ),
    )
