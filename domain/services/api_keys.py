"""Use cases of a tenant's API keys over the API (admins only: the routes' guards check):
issue one (the secret is shown once), list them, revoke one. The CLI's `create_api_key`
(domain/services/tenants.py) issues keys for a tenant named by the operator instead."""

from __future__ import annotations

import uuid

from domain.errors import InvalidRequest, NotFound
from domain.identity import AuditKind
from domain.ports import Clock, UnitOfWorkFactory
from domain.services.audit import actor_of, record
from domain.services.tenants import IssuedKey
from domain.tenancy import ApiKey, Principal, Role, hash_api_key, key_prefix, new_api_key
from domain.text import plain_text

MAX_NAME_LENGTH = 200


def create_key(
    principal: Principal,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    role: Role = Role.SERVICE,
    name: str | None = None,
) -> IssuedKey:
    if name is not None:
        name = plain_text(name).strip() or None  # a label holding markup is stored without it
        if name is not None and (
            len(name) > MAX_NAME_LENGTH or any(ord(c) < 32 or c == "\x7f" for c in name)
        ):
            raise InvalidRequest(
                f"a key name has at most {MAX_NAME_LENGTH} printable characters",
                code="INVALID_KEY_NAME",
            )
    secret = new_api_key()
    with uow_factory() as uow:
        now = clock()
        key = ApiKey(
            id=uuid.uuid4(),
            tenant_id=principal.tenant_id,
            prefix=key_prefix(secret),
            key_hash=hash_api_key(secret),
            role=role,
            created_at=now,
            name=name,
        )
        uow.api_keys.add(key)
        record(
            uow,
            AuditKind.API_KEY_CREATED,
            tenant_id=principal.tenant_id,
            actor_id=actor_of(principal),
            now=now,
            detail={"key_id": str(key.id), "prefix": key.prefix, "role": role.value},
        )
        uow.commit()
    return IssuedKey(key, secret)


def list_keys(principal: Principal, uow_factory: UnitOfWorkFactory) -> list[ApiKey]:
    with uow_factory(read_only=True) as uow:
        return uow.api_keys.list(principal.tenant_id)


def revoke_key(
    principal: Principal, key_id: uuid.UUID, uow_factory: UnitOfWorkFactory, clock: Clock
) -> ApiKey:
    """Revoke the key (again: no change); API_KEY_NOT_FOUND for another tenant's key."""
    with uow_factory() as uow:
        key = uow.api_keys.get(key_id, principal.tenant_id)
        if key is None:
            raise NotFound(f"no API key {key_id}", code="API_KEY_NOT_FOUND")
        now = clock()
        if uow.api_keys.revoke(key_id, now):
            record(
                uow,
                AuditKind.API_KEY_REVOKED,
                tenant_id=principal.tenant_id,
                actor_id=actor_of(principal),
                now=now,
                detail={"key_id": str(key_id), "prefix": key.prefix},
            )
            uow.commit()
            key = uow.api_keys.get(key_id, principal.tenant_id) or key
    return key
