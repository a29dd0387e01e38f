"""Tenants and API keys in SQL (domain.ports.TenantRepository, ApiKeyRepository)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from domain.adapters.db.tables import api_keys, tenants
from domain.tenancy import ApiKey, Role, Tenant


class SqlTenants:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, tenant: Tenant) -> None:
        self._conn.execute(
            tenants.insert().values(id=tenant.id, name=tenant.name, created_at=tenant.created_at)
        )

    def get_by_name(self, name: str) -> Tenant | None:
        row = self._conn.execute(sa.select(tenants).where(tenants.c.name == name)).first()
        if row is None:
            return None
        return Tenant(id=row.id, name=row.name, created_at=row.created_at)


class SqlApiKeys:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, key: ApiKey) -> None:
        self._conn.execute(
            api_keys.insert().values(
                id=key.id,
                tenant_id=key.tenant_id,
                prefix=key.prefix,
                key_hash=key.key_hash,
                role=key.role.value,
                name=key.name,
                created_at=key.created_at,
                last_used_at=key.last_used_at,
                revoked_at=key.revoked_at,
            )
        )

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        row = self._conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == key_hash)).first()
        return None if row is None else _api_key(row)

    def touch(self, key_id: uuid.UUID, when: dt.datetime) -> None:
        self._conn.execute(
            api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=when)
        )

    def get(self, key_id: uuid.UUID, tenant_id: uuid.UUID) -> ApiKey | None:
        row = self._conn.execute(
            sa.select(api_keys).where(api_keys.c.id == key_id, api_keys.c.tenant_id == tenant_id)
        ).first()
        return None if row is None else _api_key(row)

    def list(self, tenant_id: uuid.UUID) -> list[ApiKey]:
        rows = self._conn.execute(
            sa.select(api_keys)
            .where(api_keys.c.tenant_id == tenant_id)
            .order_by(api_keys.c.created_at, api_keys.c.id)
        ).all()
        return [_api_key(r) for r in rows]

    def revoke(self, key_id: uuid.UUID, when: dt.datetime) -> bool:
        result = self._conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return result.rowcount == 1


def _api_key(row: Row) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        prefix=row.prefix,
        key_hash=row.key_hash,
        role=Role(row.role),
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
