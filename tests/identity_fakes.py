"""In-memory users, refresh tokens, audit events and API-key management (domain.identity_ports),
bound to tests/fakes.py's Store like tests/webhook_fakes.py."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import msgspec

from domain.errors import Conflict
from domain.identity import AuditEvent, RefreshToken, User
from domain.identity_ports import AuditCursor

if TYPE_CHECKING:
    from tests.fakes import Store


class FakeUsers:
    def __init__(self, store: Store) -> None:
        self.s = store

    def add(self, user: User) -> None:
        if any(u.email == user.email for u in self.s.users.values()):
            raise Conflict("a user with this email exists", code="EMAIL_TAKEN")
        self.s.users[user.id] = user

    def get(self, user_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> User | None:
        user = self.s.users.get(user_id)
        if user is None or (tenant_id is not None and user.tenant_id != tenant_id):
            return None
        return user

    def get_by_email(self, email: str) -> User | None:
        return next((u for u in self.s.users.values() if u.email == email), None)

    def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        self._replace(user_id, password_hash=password_hash)

    def record_login(self, user_id: uuid.UUID, when: dt.datetime) -> None:
        self._replace(user_id, last_login_at=when, failed_logins=0, locked_until=None)

    def record_failure(self, user_id: uuid.UUID) -> int:
        count = self.s.users[user_id].failed_logins + 1
        self._replace(user_id, failed_logins=count)
        return count

    def lock(self, user_id: uuid.UUID, until: dt.datetime) -> None:
        self._replace(user_id, locked_until=until)

    def unlock(self, user_id: uuid.UUID) -> None:
        self._replace(user_id, failed_logins=0, locked_until=None)

    def _replace(self, user_id: uuid.UUID, **changes: object) -> None:
        self.s.users[user_id] = msgspec.structs.replace(self.s.users[user_id], **changes)


class FakeRefreshTokens:
    def __init__(self, store: Store) -> None:
        self.s = store

    def add(self, token: RefreshToken) -> None:
        self.s.refresh_tokens[token.id] = token

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return next((t for t in self.s.refresh_tokens.values() if t.token_hash == token_hash), None)

    def mark_used(self, token_id: uuid.UUID, when: dt.datetime) -> bool:
        token = self.s.refresh_tokens[token_id]
        if token.used_at is not None or token.revoked_at is not None:
            return False
        self.s.refresh_tokens[token_id] = msgspec.structs.replace(token, used_at=when)
        return True

    def revoke_family(self, family_id: uuid.UUID, when: dt.datetime) -> int:
        n = 0
        for t in list(self.s.refresh_tokens.values()):
            if t.family_id == family_id and t.revoked_at is None:
                self.s.refresh_tokens[t.id] = msgspec.structs.replace(t, revoked_at=when)
                n += 1
        return n


class FakeAudit:
    def __init__(self, store: Store) -> None:
        self.s = store

    def add(self, event: AuditEvent) -> None:
        self.s.audit.append(event)

    def list(
        self, tenant_id: uuid.UUID, *, after: AuditCursor | None, limit: int
    ) -> list[AuditEvent]:
        events = [e for e in self.s.audit if e.tenant_id == tenant_id]
        events.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        if after is not None:
            events = [e for e in events if (e.created_at, e.id) < after]
        return events[:limit]
