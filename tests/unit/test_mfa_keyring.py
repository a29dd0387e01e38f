"""Encryption of TOTP secrets at rest: round trip, tampering detected, keys rotate."""

from __future__ import annotations

import base64
import os

import pytest

from domain.adapters.mfa_wiring import keyring_from_settings
from domain.mfa.keyring import InvalidKeySpec, Keyring, SecretUnreadable, new_key_spec
from domain.settings import Settings, SettingsError

USER = "0b8e1c9e-4e55-4d47-9a43-1d6c1f1f2a3b"
OTHER_USER = "6a0a4c1b-2f43-4c26-9d0f-8d2a9f5d7e10"


def ring(spec: str | None = None) -> Keyring:
    return Keyring.from_spec(spec or new_key_spec())


def test_round_trip():
    keys = ring()

    token = keys.encrypt("JBSWY3DPEHPK3PXP", context=USER)

    assert keys.decrypt(token, context=USER) == "JBSWY3DPEHPK3PXP"
    assert "JBSWY3DPEHPK3PXP" not in token
    assert token.startswith("v1:k1:")


def test_every_encryption_uses_a_new_nonce():
    keys = ring()

    assert keys.encrypt("s", context=USER) != keys.encrypt("s", context=USER)


def test_a_flipped_bit_is_detected():
    keys = ring()
    token = keys.encrypt("JBSWY3DPEHPK3PXP", context=USER)
    prefix, payload = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload))
    raw[-1] ^= 1
    tampered = f"{prefix}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"

    with pytest.raises(SecretUnreadable):
        keys.decrypt(tampered, context=USER)


def test_a_secret_moved_to_another_user_does_not_decrypt():
    keys = ring()
    token = keys.encrypt("JBSWY3DPEHPK3PXP", context=USER)

    with pytest.raises(SecretUnreadable):
        keys.decrypt(token, context=OTHER_USER)


def test_another_key_cannot_read_it():
    token = ring().encrypt("s", context=USER)

    with pytest.raises(SecretUnreadable):
        ring().decrypt(token, context=USER)


def test_garbage_is_unreadable_not_a_crash():
    for token in ("", "v1:k1:", "v1:k1:!!!", "v2:k1:AAAA", "v1:zz:AAAA"):
        with pytest.raises(SecretUnreadable):
            ring().decrypt(token, context=USER)


def test_after_rotation_old_secrets_still_decrypt_and_new_ones_use_the_new_key():
    old = new_key_spec("k1")
    before = Keyring.from_spec(old).encrypt("old secret", context=USER)
    rotated = Keyring.from_spec(f"{new_key_spec('k2')},{old}")

    assert rotated.decrypt(before, context=USER) == "old secret"
    assert rotated.encrypt("new", context=USER).startswith("v1:k2:")


def test_digests_are_keyed_and_survive_rotation():
    old = new_key_spec("k1")
    digest = Keyring.from_spec(old).digest("backup:u:abcde-fghjk")
    rotated = Keyring.from_spec(f"{new_key_spec('k2')},{old}")

    assert rotated.digest_matches(digest, "backup:u:abcde-fghjk")
    assert not rotated.digest_matches(digest, "backup:u:abcde-fghjm")
    assert not ring().digest_matches(digest, "backup:u:abcde-fghjk")


def test_a_bare_base64_key_is_key_k1():
    bare = base64.b64encode(os.urandom(32)).decode()

    assert Keyring.from_spec(bare).current == "k1"


@pytest.mark.parametrize(
    "spec", ["", "not base64!", base64.b64encode(b"short").decode(), "k-1:" + "A" * 44]
)
def test_bad_key_specs_are_refused(spec):
    with pytest.raises(InvalidKeySpec):
        Keyring.from_spec(spec)


def test_an_unset_key_is_ephemeral_in_development(caplog):
    keys = keyring_from_settings(Settings(environment="development"))

    assert keys.decrypt(keys.encrypt("s", context=USER), context=USER) == "s"
    assert "ephemeral" in caplog.text


def test_an_unset_key_is_refused_outside_development():
    with pytest.raises(SettingsError, match="ROTA_TOTP_ENCRYPTION_KEY"):
        keyring_from_settings(Settings(environment="production"))


def test_a_bad_key_in_settings_names_the_variable():
    with pytest.raises(SettingsError, match="ROTA_TOTP_ENCRYPTION_KEY"):
        keyring_from_settings(Settings(totp_encryption_key="x" * 40, environment="production"))
