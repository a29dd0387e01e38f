"""Webhook signing secrets at rest (issue 6): encrypted with the webhook keyring, bound to
their webhook, readable after a key rotation, and legacy clear secrets still readable."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from domain.adapters.db import sql_uow_factory
from domain.adapters.db.tables import webhooks
from domain.mfa.keyring import Keyring, SecretUnreadable, new_key_spec
from domain.webhooks import SECRET_PREFIX
from tests.integration.test_webhook_repositories import add_webhook, remove

pytestmark = pytest.mark.integration

OLD = new_key_spec("k1")
NEW = new_key_spec("k2")


def stored_secret(engine, webhook_id: uuid.UUID) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(webhooks.c.secret).where(webhooks.c.id == webhook_id)
        ).scalar_one()


def test_a_secret_is_stored_encrypted_and_read_back_in_clear(db_engine):
    uow = sql_uow_factory(db_engine, webhook_keyring=Keyring.from_spec(OLD))
    hook = add_webhook(uow)
    try:
        raw = stored_secret(db_engine, hook.id)
        assert raw.startswith("v1:k1:")
        assert hook.secret not in raw
        with uow() as u:
            assert u.webhooks.get(hook.id).secret == hook.secret
    finally:
        remove(uow, hook)


def test_after_a_key_rotation_old_secrets_still_read_and_new_ones_use_the_new_key(db_engine):
    before = sql_uow_factory(db_engine, webhook_keyring=Keyring.from_spec(OLD))
    after = sql_uow_factory(db_engine, webhook_keyring=Keyring.from_spec(f"{NEW},{OLD}"))
    old, new = add_webhook(before), add_webhook(after)
    try:
        with after() as u:
            assert u.webhooks.get(old.id).secret == old.secret
        assert stored_secret(db_engine, new.id).startswith("v1:k2:")
    finally:
        remove(before, old)
        remove(before, new)


def test_a_ciphertext_copied_onto_another_webhook_does_not_open(db_engine):
    uow = sql_uow_factory(db_engine, webhook_keyring=Keyring.from_spec(OLD))
    first, second = add_webhook(uow), add_webhook(uow)
    try:
        with db_engine.begin() as conn:
            conn.execute(
                webhooks.update()
                .where(webhooks.c.id == second.id)
                .values(secret=stored_secret(db_engine, first.id))
            )
        with uow() as u, pytest.raises(SecretUnreadable):
            u.webhooks.get(second.id)
    finally:
        remove(sql_uow_factory(db_engine), first)
        remove(sql_uow_factory(db_engine), second)


def test_a_secret_stored_in_clear_before_encryption_is_still_read(db_engine):
    clear = sql_uow_factory(db_engine)
    hook = add_webhook(clear)
    try:
        assert stored_secret(db_engine, hook.id).startswith(SECRET_PREFIX)
        with sql_uow_factory(db_engine, webhook_keyring=Keyring.from_spec(OLD))() as u:
            assert u.webhooks.get(hook.id).secret == hook.secret
    finally:
        remove(clear, hook)
