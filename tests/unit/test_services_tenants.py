"""Tenants and API keys: creation, one-time secrets, authentication."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from domain.errors import Conflict, InvalidRequest, NotFound
from domain.services.tenants import authenticate_api_key, create_api_key, create_tenant
from domain.tenancy import Role, hash_api_key
from tests.fakes import FixedClock, Store, fake_uow_factory


@pytest.fixture
def store():
    return Store()


def factory(store):
    return fake_uow_factory(store)


def test_a_tenant_name_is_unique(store):
    create_tenant("acme", factory(store), FixedClock())
    with pytest.raises(Conflict) as caught:
        create_tenant(" acme ", factory(store), FixedClock())
    assert caught.value.code == "TENANT_EXISTS"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_tenant_name_must_be_reasonable(store, name):
    with pytest.raises(InvalidRequest):
        create_tenant(name, factory(store), FixedClock())


def test_only_the_hash_of_a_key_is_stored(store):
    create_tenant("acme", factory(store), FixedClock())
    issued = create_api_key("acme", factory(store), FixedClock(), role=Role.PLANNER)
    (stored,) = store.api_keys.values()
    assert stored.key_hash == hash_api_key(issued.secret)
    assert issued.secret not in msgspec.json.encode(stored).decode()
    assert issued.secret.startswith(stored.prefix)
    assert stored.role is Role.PLANNER


def test_a_key_for_an_unknown_tenant_is_refused(store):
    with pytest.raises(NotFound):
        create_api_key("nobody", factory(store), FixedClock())


def test_a_key_authenticates_as_its_tenant_and_role(store):
    tenant = create_tenant("acme", factory(store), FixedClock())
    issued = create_api_key("acme", factory(store), FixedClock())
    who = authenticate_api_key(issued.secret, factory(store), FixedClock())
    assert (who.tenant_id, who.role, who.key_id) == (tenant.id, Role.SERVICE, issued.key.id)


def test_unknown_malformed_and_revoked_keys_are_refused(store):
    create_tenant("acme", factory(store), FixedClock())
    issued = create_api_key("acme", factory(store), FixedClock())
    assert authenticate_api_key(issued.secret + "x", factory(store), FixedClock()) is None
    assert authenticate_api_key("Basic abc", factory(store), FixedClock()) is None
    key = store.api_keys[issued.key.id]
    store.api_keys[key.id] = msgspec.structs.replace(key, revoked_at=dt.datetime.now(dt.UTC))
    assert authenticate_api_key(issued.secret, factory(store), FixedClock()) is None


def test_last_use_is_recorded_at_most_once_a_minute(store):
    create_tenant("acme", factory(store), FixedClock())
    issued = create_api_key("acme", factory(store), FixedClock())
    clock = FixedClock()
    authenticate_api_key(issued.secret, factory(store), clock)
    first = store.api_keys[issued.key.id].last_used_at
    authenticate_api_key(issued.secret, factory(store), clock)
    assert store.api_keys[issued.key.id].last_used_at == first
    clock.now += dt.timedelta(minutes=2)
    authenticate_api_key(issued.secret, factory(store), clock)
    assert store.api_keys[issued.key.id].last_used_at > first
