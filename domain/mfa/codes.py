"""Backup codes and e-mailed codes: generation, normalisation and their keyed hashes.

Both are stored as HMAC-SHA256 under a server-side pepper (domain/mfa/keyring.py), not argon2:
- a backup code carries 50 random bits and an e-mailed code lives 10 minutes, so a slow hash
  adds little against guessing (the failure counter and lockout do that), while the pepper
  makes a stolen table useless without the key, which lives outside the database;
- an HMAC is deterministic, so a code is found by an indexed equality on its hash; argon2's
  random salt would force hashing the entered code once per stored code (10 x ~50 ms of CPU
  per attempt), an easy way to burn the API's two cores.
The user id is part of the hashed message, so equal codes of two users never share a hash.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence

from domain.mfa.keyring import Keyring

BACKUP_CODE_COUNT = 10
# No 0/o, 1/l/i: codes are read off paper and typed by people.
BACKUP_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
BACKUP_GROUP = 5  # two groups of five: "k7m2p-x9qrt", about 50 bits

EMAIL_CODE_DIGITS = 6
EMAIL_CODE_TTL = dt.timedelta(minutes=10)
EMAIL_SEND_LIMIT = 3
EMAIL_SEND_WINDOW = dt.timedelta(minutes=15)


def new_backup_codes() -> list[str]:
    codes: set[str] = set()
    while len(codes) < BACKUP_CODE_COUNT:
        raw = "".join(secrets.choice(BACKUP_ALPHABET) for _ in range(2 * BACKUP_GROUP))
        codes.add(f"{raw[:BACKUP_GROUP]}-{raw[BACKUP_GROUP:]}")
    return sorted(codes)


def normalise_backup_code(code: str) -> str:
    """What people type, reduced to the canonical form: case, spaces and dashes ignored."""
    raw = "".join(c for c in code.lower() if c not in " -")
    return f"{raw[:BACKUP_GROUP]}-{raw[BACKUP_GROUP:]}"


def backup_code_hash(keyring: Keyring, user_id: uuid.UUID, code: str) -> str:
    return keyring.digest(f"backup:{user_id}:{normalise_backup_code(code)}")


def backup_code_hashes(keyring: Keyring, user_id: uuid.UUID, code: str) -> list[str]:
    """The hashes `code` would have under every key of the ring (newest first): codes made
    before a key rotation keep working."""
    return keyring.digests(f"backup:{user_id}:{normalise_backup_code(code)}")


def new_email_code() -> str:
    return f"{secrets.randbelow(10**EMAIL_CODE_DIGITS):0{EMAIL_CODE_DIGITS}d}"


def email_code_hash(keyring: Keyring, user_id: uuid.UUID, code: str) -> str:
    return keyring.digest(f"email:{user_id}:{code.strip()}")


def email_code_hashes(keyring: Keyring, user_id: uuid.UUID, code: str) -> list[str]:
    return keyring.digests(f"email:{user_id}:{code.strip()}")


def email_sends_left(sent_at: Sequence[dt.datetime], now: dt.datetime) -> int:
    """How many more codes may be mailed now: 3 per rolling 15 minutes (issue 4)."""
    recent = [t for t in sent_at if now - t < EMAIL_SEND_WINDOW]
    return max(0, EMAIL_SEND_LIMIT - len(recent))


def email_retry_after(sent_at: Sequence[dt.datetime], now: dt.datetime) -> int:
    """Seconds until the oldest send in the window leaves it (for Retry-After)."""
    recent = sorted(t for t in sent_at if now - t < EMAIL_SEND_WINDOW)
    if len(recent) < EMAIL_SEND_LIMIT:
        return 0
    oldest = recent[-EMAIL_SEND_LIMIT]
    return max(1, int((oldest + EMAIL_SEND_WINDOW - now).total_seconds()) + 1)
