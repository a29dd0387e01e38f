"""Who must use MFA, and what a request offers as its second factor."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.identity import User
from domain.tenancy import Role


def enrollment_required(user: User, now: dt.datetime, grace_days: int) -> bool:
    """An admin without MFA, past the grace period after their account was made (issue 4:
    MFA is required for admins; the grace lets a new admin log in to enrol)."""
    return (
        user.role == Role.ADMIN
        and not user.mfa_enabled
        and now >= user.created_at + dt.timedelta(days=grace_days)
    )


@dataclass(frozen=True)
class Proof:
    """One second factor: a TOTP code, a backup code or an e-mailed code."""

    code: str | None = None
    backup_code: str | None = None
    email_code: str | None = None

    @property
    def method(self) -> str | None:
        """ "totp", "backup_code" or "email"; None unless exactly one is given."""
        given = [
            name
            for name, value in (
                ("totp", self.code),
                ("backup_code", self.backup_code),
                ("email", self.email_code),
            )
            if value
        ]
        return given[0] if len(given) == 1 else None
