"""Password policy and argon2id hashing (domain/passwords.py)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from domain.passwords import (
    HASHER,
    WeakPassword,
    check_policy,
    dummy_hash,
    hash_password,
    verify_password,
)


def test_the_hasher_uses_argon2id_with_at_least_the_asvs_parameters():
    encoded = hash_password("a long and unusual phrase")

    assert encoded.startswith("$argon2id$")
    assert (HASHER.time_cost, HASHER.parallelism) == (2, 1)
    assert HASHER.memory_cost >= 19 * 1024


def test_a_right_password_verifies_and_a_wrong_one_does_not():
    encoded = hash_password("a long and unusual phrase")

    assert verify_password(encoded, "a long and unusual phrase").ok
    assert not verify_password(encoded, "a long and unusual phrasE").ok
    assert not verify_password("not a hash", "anything at all").ok


def test_a_hash_with_old_parameters_verifies_and_asks_for_a_rehash():
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)

    check = verify_password(weaker.hash("a long and unusual phrase"), "a long and unusual phrase")

    assert check.ok
    assert check.needs_rehash
    assert not verify_password(hash_password("a long phrase 1"), "a long phrase 1").needs_rehash


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 12"),
        ("elevenchars", "at least 12"),
        ("x" * 257, "at most 256"),
        ("password1234", "too common"),
        ("Password1234", "too common"),  # compared case-insensitively
        ("qwertyuiop123", "too common"),
    ],
)
def test_the_policy_refuses_short_long_and_common_passwords(password, why):
    with pytest.raises(WeakPassword, match=why):
        check_policy(password)


def test_the_policy_accepts_a_long_uncommon_password():
    check_policy("correct horse battery staple 42")
    check_policy("twelve chars")


def test_the_dummy_hash_is_made_once_with_the_same_parameters():
    assert dummy_hash() is dummy_hash()
    assert not verify_password(dummy_hash(), "anything").needs_rehash
