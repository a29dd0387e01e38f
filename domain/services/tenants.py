"""Use cases of tenants and API keys: create them (admin CLI) and authenticate a request."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from domain.errors import Conflict, InvalidRequest, NotFound
from domain.ports import Clock, UnitOfWorkFactory
from domain.tenancy import (
    ApiKey,
    Principal,
    Role,
    Tenant,
    hash_api_key,
    key_prefix,
    looks_like_api_key,
    new_api_key,
)

# last_used_at is written at most this often per key, so reads do not each cost a write.
TOUCH_INTERVAL = dt.timedelta(minutes=1)


def create_tenant(name: str, uow_factory: UnitOfWorkFactory, clock: Clock) -> Tenant:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidRequest(
            "a tenant name must have 1 to 100 characters", code="INVALID_TENANT_NAME"
        )
    with uow_factory() as uow:
        if uow.tenants.get_by_name(name) is not None:
            raise Conflict(f"tenant {name!r} already exists", code="TENANT_EXISTS")
        tenant = Tenant(id=uuid.uuid4(), name=name, created_at=clock())
        uow.tenants.add(tenant)
        uow.commit()
    return tenant


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the whole key: shown once, never stored


def create_api_key(
    tenant_name: str,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    role: Role = Role.SERVICE,
    name: str | None = None,
) -> IssuedKey:
    secret = new_api_key()
    with uow_factory() as uow:
        tenant = uow.tenants.get_by_name(tenant_name.strip())
        if tenant is None:
            raise NotFound(f"no tenant {tenant_name!r}", code="TENANT_NOT_FOUND")
        key = ApiKey(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            prefix=key_prefix(secret),
            key_hash=hash_api_key(secret),
            role=role,
            created_at=clock(),
            name=name,
        )
        uow.api_keys.add(key)
        uow.commit()
    return IssuedKey(key, secret)


def authenticate_api_key(
    secret: str, uow_factory: UnitOfWorkFactory, clock: Clock
) -> Principal | None:
    """The caller behind `secret`, or None for an unknown or revoked key."""
    if not looks_like_api_key(secret):
        return None
    with uow_factory() as uow:
        key = uow.api_keys.get_by_hash(hash_api_key(secret))
        if key is None or key.revoked_at is not None:
            return None
        now = clock()
        if key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL:
            uow.api_keys.touch(key.id, now)
            uow.commit()
    return Principal(tenant_id=key.tenant_id, role=key.role, key_id=key.id)
