"""Password hashing (argon2id) and the password policy (NIST SP 800-63B 5.1.1, ASVS 6.2).

The only module that imports argon2. Parameters: t=2, m=19 MiB, p=1, the ASVS/OWASP minimum
for argon2id; a hash made with other parameters verifies and is replaced at the next login
(`needs_rehash`), so raising them later costs no migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from domain.common_passwords import COMMON_PASSWORDS

MIN_LENGTH = 12
# Long enough for any passphrase, short enough that hashing one is not a denial of service.
MAX_LENGTH = 256

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)


class WeakPassword(ValueError):
    """A password the policy refuses; the message says why, for the person choosing it."""


def check_policy(password: str) -> None:
    """Raise WeakPassword unless `password` is acceptable."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if password.casefold() in COMMON_PASSWORDS:
        raise WeakPassword("this password is too common: choose another")


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    return hasher.hash(password)


@dataclass(frozen=True)
class Verification:
    ok: bool
    needs_rehash: bool = False


def verify_password(
    password_hash: str, password: str, hasher: PasswordHasher = HASHER
) -> Verification:
    """Whether `password` matches; a stored hash that is not argon2 never matches."""
    try:
        hasher.verify(password_hash, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verification(ok=False)
    return Verification(ok=True, needs_rehash=hasher.check_needs_rehash(password_hash))


@cache
def dummy_hash() -> str:
    """A hash to verify against when the email is unknown, so that an unknown user costs the
    same argon2 work as a wrong password (no timing oracle on which emails exist)."""
    return HASHER.hash("not a password of anyone: only spends the time of a real check")
