"""Users, refresh tokens and audit events in SQL (domain.identity_ports)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from domain.adapters.db.tables import audit_events, refresh_tokens, users
from domain.errors import Conflict
from domain.identity import AuditEvent, RefreshToken, User
from domain.identity_ports import AuditCursor
from domain.tenancy import Role


class SqlUsers:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, user: User) -> None:
        values = {f: getattr(user, f) for f in User.__struct_fields__}
        values["role"] = user.role.value
        try:
            self._conn.execute(users.insert().values(**values))
        except sa.exc.IntegrityError as error:
            # The unique constraint settles a race between two creations of one address; the
            # transaction is spoilt, which is fine: the use case ends here.
            raise Conflict("a user with this email exists", code="EMAIL_TAKEN") from error

    def get(self, user_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> User | None:
        query = sa.select(users).where(users.c.id == user_id)
        if tenant_id is not None:
            query = query.where(users.c.tenant_id == tenant_id)
        row = self._conn.execute(query).first()
        return None if row is None else _user(row)

    def get_by_email(self, email: str) -> User | None:
        row = self._conn.execute(sa.select(users).where(users.c.email == email)).first()
        return None if row is None else _user(row)

    def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        self._conn.execute(
            users.update().where(users.c.id == user_id).values(password_hash=password_hash)
        )

    def record_login(self, user_id: uuid.UUID, when: dt.datetime) -> None:
        self._conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(last_login_at=when, failed_logins=0, locked_until=None)
        )

    def record_failure(self, user_id: uuid.UUID) -> int:
        # One statement, so concurrent failures from many IPs all count.
        count = self._conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(failed_logins=users.c.failed_logins + 1)
            .returning(users.c.failed_logins)
        ).scalar_one_or_none()
        return int(count or 0)

    def lock(self, user_id: uuid.UUID, until: dt.datetime) -> None:
        self._conn.execute(users.update().where(users.c.id == user_id).values(locked_until=until))

    def unlock(self, user_id: uuid.UUID) -> None:
        self._conn.execute(
            users.update().where(users.c.id == user_id).values(failed_logins=0, locked_until=None)
        )


class SqlRefreshTokens:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, token: RefreshToken) -> None:
        self._conn.execute(
            refresh_tokens.insert().values(
                **{f: getattr(token, f) for f in RefreshToken.__struct_fields__}
            )
        )

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        row = self._conn.execute(
            sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        return RefreshToken(**{f: getattr(row, f) for f in RefreshToken.__struct_fields__})

    def mark_used(self, token_id: uuid.UUID, when: dt.datetime) -> bool:
        # Guarded: of two concurrent refreshes with one token, exactly one matches the row.
        result = self._conn.execute(
            refresh_tokens.update()
            .where(
                refresh_tokens.c.id == token_id,
                refresh_tokens.c.used_at.is_(None),
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(used_at=when)
        )
        return result.rowcount == 1

    def revoke_family(self, family_id: uuid.UUID, when: dt.datetime) -> int:
        result = self._conn.execute(
            refresh_tokens.update()
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return result.rowcount


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, event: AuditEvent) -> None:
        self._conn.execute(
            audit_events.insert().values(
                **{f: getattr(event, f) for f in AuditEvent.__struct_fields__}
            )
        )

    def list(
        self, tenant_id: uuid.UUID, *, after: AuditCursor | None, limit: int
    ) -> list[AuditEvent]:
        query = sa.select(audit_events).where(audit_events.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(
                sa.tuple_(audit_events.c.created_at, audit_events.c.id) < sa.tuple_(*after)
            )
        query = query.order_by(audit_events.c.created_at.desc(), audit_events.c.id.desc())
        rows = self._conn.execute(query.limit(limit)).all()
        return [
            AuditEvent(**{f: getattr(r, f) for f in AuditEvent.__struct_fields__}) for r in rows
        ]


def _user(row: Row) -> User:
    values = {f: getattr(row, f) for f in User.__struct_fields__}
    values["role"] = Role(row.role)
    return User(**values)
