"""In-memory MFA storage (domain.mfa_ports) and mailer, bound to tests/fakes.py's Store like
tests/identity_fakes.py."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import msgspec

from domain.mail import MailError, MailMessage
from domain.mfa_ports import EnrollmentCount
from domain.tenancy import Role

if TYPE_CHECKING:
    from tests.fakes import Store


@dataclass
class StoredCode:
    user_id: uuid.UUID
    code_hash: str
    used_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None


class FakeMfa:
    def __init__(self, store: Store) -> None:
        self.s = store

    def set_totp_secret(self, user_id: uuid.UUID, encrypted: str) -> None:
        self._replace(user_id, totp_secret_encrypted=encrypted, totp_last_step=None)

    def enable(self, user_id: uuid.UUID, *, when: dt.datetime, step: int) -> None:
        self._replace(user_id, mfa_enabled=True, mfa_enrolled_at=when, totp_last_step=step)

    def disable(self, user_id: uuid.UUID) -> None:
        self._replace(
            user_id,
            mfa_enabled=False,
            totp_secret_encrypted=None,
            totp_last_step=None,
            mfa_enrolled_at=None,
        )
        self.s.mfa_backup_codes[:] = [c for c in self.s.mfa_backup_codes if c.user_id != user_id]
        self.s.mfa_email_codes[:] = [c for c in self.s.mfa_email_codes if c.user_id != user_id]

    def claim_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        last = self.s.users[user_id].totp_last_step
        if last is not None and last >= step:
            return False
        self._replace(user_id, totp_last_step=step)
        return True

    def replace_backup_codes(self, user_id: uuid.UUID, code_hashes: list[str]) -> None:
        kept = [c for c in self.s.mfa_backup_codes if c.user_id != user_id]
        self.s.mfa_backup_codes[:] = kept + [StoredCode(user_id, h) for h in code_hashes]

    def use_backup_code(
        self, user_id: uuid.UUID, code_hashes: list[str], when: dt.datetime
    ) -> bool:
        return self._use(self.s.mfa_backup_codes, user_id, code_hashes, when)

    def backup_codes_left(self, user_id: uuid.UUID) -> int:
        return sum(1 for c in self.s.mfa_backup_codes if c.user_id == user_id and c.used_at is None)

    def hold(self, user_id: uuid.UUID) -> None:
        """Nothing to lock: the fakes run one unit of work at a time."""

    def add_email_code(
        self,
        user_id: uuid.UUID,
        code_hash: str,
        *,
        created_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        self.s.mfa_email_codes.append(
            StoredCode(user_id, code_hash, created_at=created_at, expires_at=expires_at)
        )

    def email_codes_sent_since(self, user_id: uuid.UUID, since: dt.datetime) -> list[dt.datetime]:
        return [
            c.created_at
            for c in self.s.mfa_email_codes
            if c.user_id == user_id and c.created_at is not None and c.created_at > since
        ]

    def use_email_code(self, user_id: uuid.UUID, code_hashes: list[str], when: dt.datetime) -> bool:
        live = [c for c in self.s.mfa_email_codes if c.expires_at and c.expires_at > when]
        return self._use(live, user_id, code_hashes, when)

    def enrollment_by_tenant(self) -> dict[str, EnrollmentCount]:
        names = {t.id: t.name for t in self.s.tenants.values()}
        ids = {u.tenant_id for u in self.s.users.values() if u.role != Role.SERVICE}
        return {names[i]: self.enrollment(i) for i in ids}

    def enrollment(self, tenant_id: uuid.UUID) -> EnrollmentCount:
        people = [
            u for u in self.s.users.values() if u.tenant_id == tenant_id and u.role != Role.SERVICE
        ]
        admins = [u for u in people if u.role == Role.ADMIN]
        return EnrollmentCount(
            users=len(people),
            enrolled=sum(u.mfa_enabled for u in people),
            admins=len(admins),
            admins_enrolled=sum(u.mfa_enabled for u in admins),
        )

    @staticmethod
    def _use(
        codes: list[StoredCode], user_id: uuid.UUID, hashes: list[str], when: dt.datetime
    ) -> bool:
        for code in codes:
            if code.user_id == user_id and code.code_hash in hashes and code.used_at is None:
                code.used_at = when
                return True
        return False

    def _replace(self, user_id: uuid.UUID, **changes: object) -> None:
        self.s.users[user_id] = msgspec.structs.replace(self.s.users[user_id], **changes)


@dataclass
class FakeMailer:
    """Keeps sent messages; `fail=True` makes every send raise MailError."""

    sent: list[MailMessage] = field(default_factory=list)
    fail: bool = False

    def send(self, message: MailMessage) -> None:
        if self.fail:
            raise MailError("the fake mailer is down")
        self.sent.append(replace(message))
