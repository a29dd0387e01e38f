"""Tenants and their API keys.

An API key is 32 random bytes, shown to its owner once; only its SHA-256 is stored. A fast hash
is right here (unlike passwords): the key has 256 bits of entropy, so nobody can guess it from
the hash, and every request checks one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from enum import StrEnum

import msgspec

KEY_PREFIX = "rota_"
# The visible part of a key (after "rota_"), so people can tell their keys apart in listings.
VISIBLE_CHARS = 8


class Role(StrEnum):
    ADMIN = "admin"
    PLANNER = "planner"
    VIEWER = "viewer"
    SERVICE = "service"


class Tenant(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    created_at: dt.datetime


class ApiKey(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    prefix: str  # e.g. "rota_Ab3dE7gH": the start of the key, safe to show
    key_hash: str  # hex SHA-256 of the whole key
    role: Role
    created_at: dt.datetime
    name: str | None = None
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: every query of a request is scoped to `tenant_id`."""

    tenant_id: uuid.UUID
    role: Role
    key_id: uuid.UUID | None = None  # set when the caller used an API key
    user_id: uuid.UUID | None = None  # set when the caller logged in (a JWT)


def new_api_key() -> str:
    """A fresh key: "rota_" + 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + VISIBLE_CHARS]


def looks_like_api_key(text: str) -> bool:
    # Cheap shape check so garbage never costs a database query.
    return text.startswith(KEY_PREFIX) and 40 <= len(text) <= 64 and text.isascii()
