"""What the identity use cases need from storage, as Protocols (beside domain/ports.py, which
puts these repositories into its UnitOfWork, as domain/webhook_ports.py does).

Implementations: domain/adapters/db/users.py in SQL, tests/identity_fakes.py in memory.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

from domain.identity import AuditEvent, RefreshToken, User

# (created_at, id) of the last event of a page: events are listed newest first.
AuditCursor = tuple[dt.datetime, uuid.UUID]


class UserRepository(Protocol):
    def add(self, user: User) -> None:
        """Insert; domain.errors.Conflict (code EMAIL_TAKEN) when the email is taken."""

    def get(self, user_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> User | None:
        """The user; with `tenant_id`, only if they belong to that tenant."""

    def get_by_email(self, email: str) -> User | None:
        """The user with this normalized email (domain.identity.normalize_email)."""

    def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None: ...

    def record_login(self, user_id: uuid.UUID, when: dt.datetime) -> None:
        """A successful login: `last_login_at`, and the failure counter back to zero."""

    def record_failure(self, user_id: uuid.UUID) -> int:
        """Count one more failed login (one UPDATE); the new count."""

    def lock(self, user_id: uuid.UUID, until: dt.datetime) -> None:
        """Refuse every login until `until` (domain/lockout.py decides when)."""

    def unlock(self, user_id: uuid.UUID) -> None:
        """An administrator opens the account: no lock, failure count back to zero."""


class RefreshTokenRepository(Protocol):
    def add(self, token: RefreshToken) -> None: ...

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        """The token, used, revoked or expired (the caller decides)."""

    def mark_used(self, token_id: uuid.UUID, when: dt.datetime) -> bool:
        """Rotate: set `used_at` if it is unused and not revoked (one guarded UPDATE). False
        when another request rotated it first: that is a reuse."""

    def revoke_family(self, family_id: uuid.UUID, when: dt.datetime) -> int:
        """Revoke every token of the family not revoked yet; how many."""


class AuditRepository(Protocol):
    def add(self, event: AuditEvent) -> None: ...

    def list(
        self, tenant_id: uuid.UUID, *, after: AuditCursor | None, limit: int
    ) -> list[AuditEvent]:
        """The tenant's events, newest first, strictly after `after` in that order."""
