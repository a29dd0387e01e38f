"""MFA state and codes in SQL (domain.mfa_ports.MfaRepository).

Every "use once" rule is a single guarded UPDATE, so two concurrent requests with the same
code cannot both succeed, whatever the isolation level: the second one's WHERE no longer
matches once the first has written (PostgreSQL re-checks it after waiting for the row lock).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.adapters.db.tables import mfa_backup_codes, mfa_email_codes, tenants, users
from domain.mfa_ports import EnrollmentCount
from domain.tenancy import Role


class SqlMfa:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def set_totp_secret(self, user_id: uuid.UUID, encrypted: str) -> None:
        self._conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(totp_secret_encrypted=encrypted, totp_last_step=None)
        )

    def enable(self, user_id: uuid.UUID, *, when: dt.datetime, step: int) -> None:
        self._conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(mfa_enabled=True, mfa_enrolled_at=when, totp_last_step=step)
        )

    def disable(self, user_id: uuid.UUID) -> None:
        self._conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(
                mfa_enabled=False,
                totp_secret_encrypted=None,
                totp_last_step=None,
                mfa_enrolled_at=None,
            )
        )
        self._conn.execute(mfa_backup_codes.delete().where(mfa_backup_codes.c.user_id == user_id))
        self._conn.execute(mfa_email_codes.delete().where(mfa_email_codes.c.user_id == user_id))

    def claim_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        result = self._conn.execute(
            users.update()
            .where(
                users.c.id == user_id,
                sa.or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
        return result.rowcount == 1

    def replace_backup_codes(self, user_id: uuid.UUID, code_hashes: list[str]) -> None:
        self._conn.execute(mfa_backup_codes.delete().where(mfa_backup_codes.c.user_id == user_id))
        self._conn.execute(
            mfa_backup_codes.insert(),
            [{"id": uuid.uuid4(), "user_id": user_id, "code_hash": h} for h in code_hashes],
        )

    def use_backup_code(
        self, user_id: uuid.UUID, code_hashes: list[str], when: dt.datetime
    ) -> bool:
        result = self._conn.execute(
            mfa_backup_codes.update()
            .where(
                mfa_backup_codes.c.user_id == user_id,
                mfa_backup_codes.c.code_hash.in_(code_hashes),
                mfa_backup_codes.c.used_at.is_(None),
            )
            .values(used_at=when)
        )
        return result.rowcount >= 1

    def backup_codes_left(self, user_id: uuid.UUID) -> int:
        return self._conn.execute(
            sa.select(sa.func.count()).where(
                mfa_backup_codes.c.user_id == user_id, mfa_backup_codes.c.used_at.is_(None)
            )
        ).scalar_one()

    def hold(self, user_id: uuid.UUID) -> None:
        # A no-op on SQLite, which lets one writer at a time in anyway.
        self._conn.execute(sa.select(users.c.id).where(users.c.id == user_id).with_for_update())

    def add_email_code(
        self,
        user_id: uuid.UUID,
        code_hash: str,
        *,
        created_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        self._conn.execute(
            mfa_email_codes.insert().values(
                id=uuid.uuid4(),
                user_id=user_id,
                code_hash=code_hash,
                created_at=created_at,
                expires_at=expires_at,
            )
        )

    def email_codes_sent_since(self, user_id: uuid.UUID, since: dt.datetime) -> list[dt.datetime]:
        rows = self._conn.execute(
            sa.select(mfa_email_codes.c.created_at).where(
                mfa_email_codes.c.user_id == user_id, mfa_email_codes.c.created_at > since
            )
        )
        return [row.created_at for row in rows]

    def use_email_code(self, user_id: uuid.UUID, code_hashes: list[str], when: dt.datetime) -> bool:
        result = self._conn.execute(
            mfa_email_codes.update()
            .where(
                mfa_email_codes.c.user_id == user_id,
                mfa_email_codes.c.code_hash.in_(code_hashes),
                mfa_email_codes.c.used_at.is_(None),
                mfa_email_codes.c.expires_at > when,
            )
            .values(used_at=when)
        )
        return result.rowcount >= 1

    def enrollment(self, tenant_id: uuid.UUID) -> EnrollmentCount:
        row = self._conn.execute(
            sa.select(*_ENROLLMENT).where(
                users.c.tenant_id == tenant_id, users.c.role != Role.SERVICE.value
            )
        ).one()
        return EnrollmentCount(*(int(v) for v in row))

    def enrollment_by_tenant(self) -> dict[str, EnrollmentCount]:
        rows = self._conn.execute(
            sa.select(tenants.c.name, *_ENROLLMENT)
            .join(tenants, tenants.c.id == users.c.tenant_id)
            .where(users.c.role != Role.SERVICE.value)
            .group_by(tenants.c.name)
        )
        return {row[0]: EnrollmentCount(*(int(v) for v in row[1:])) for row in rows}


_IS_ADMIN = users.c.role == Role.ADMIN.value
_ENROLLED = users.c.mfa_enabled.is_(True)
# users, enrolled, admins, admins enrolled (EnrollmentCount's order); service keys excluded.
_ENROLLMENT = (
    sa.func.count(),
    sa.func.count().filter(_ENROLLED),
    sa.func.count().filter(_IS_ADMIN),
    sa.func.count().filter(sa.and_(_IS_ADMIN, _ENROLLED)),
)
