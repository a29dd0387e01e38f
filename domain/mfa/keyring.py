"""Encryption of TOTP secrets at rest (AES-256-GCM) and the keyed hashes of one-time codes.

A TOTP secret is a password equivalent that the server must read back, so it is encrypted,
not hashed (ASVS 5.0 V6.4, V11.3). Every ciphertext and hash starts with the id of the key
that made it, so keys can rotate (issue 6 brings Vault): a new current key encrypts and
hashes, the old ones still read what they made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = "v1"  # of the ciphertext layout: v1:<key id>:<base64url(nonce || ciphertext+tag)>
NONCE_BYTES = 12  # the GCM standard nonce; random nonces are safe far beyond our volume
KEY_BYTES = 32


class InvalidKeySpec(ValueError):
    """A key specification that cannot be used (bad base64, wrong length, bad id)."""


class SecretUnreadable(ValueError):
    """A ciphertext that was tampered with, made by an unknown key, or not ours at all."""


def parse_keys(spec: str) -> tuple[str, dict[str, bytes]]:
    """`"k2:BASE64,k1:BASE64"` or a bare `"BASE64"` (key id k1) → (current id, keys). The
    first key is the current one; the others only decrypt what they made."""
    keys: dict[str, bytes] = {}
    order = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        key_id, sep, encoded = part.rpartition(":")
        key_id = key_id if sep else "k1"
        if not key_id.isalnum() or key_id in keys:
            raise InvalidKeySpec(f"key id {key_id!r} must be letters and digits, used once")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidKeySpec(f"key {key_id!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise InvalidKeySpec(f"key {key_id!r} must be {KEY_BYTES} bytes, has {len(key)}")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise InvalidKeySpec("no key given")
    return order[0], keys


def new_key_spec(key_id: str = "k1") -> str:
    """A random key in the form parse_keys reads (for operators and development)."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: Mapping[str, bytes]
    _peppers: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_spec(cls, spec: str) -> Keyring:
        current, keys = parse_keys(spec)
        return cls(current, keys)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """`plaintext` encrypted with the current key. `context` (the user id) is bound as
        associated data: a ciphertext copied onto another user's row does not decrypt."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(
            nonce, plaintext.encode(), context.encode()
        )
        payload = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{FORMAT}:{self.current}:{payload}"

    def decrypt(self, token: str, *, context: str) -> str:
        version, _, rest = token.partition(":")
        key_id, _, payload = rest.partition(":")
        key = self.keys.get(key_id)
        if version != FORMAT or key is None:
            raise SecretUnreadable("unknown format or key id")
        try:
            raw = base64.urlsafe_b64decode(payload.encode())
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretUnreadable("the secret does not decrypt (tampered or wrong key)") from None
        return plain.decode()

    def digest(self, message: str) -> str:
        """HMAC-SHA256 of `message` under the current key's pepper, as `<key id>$<hex>`."""
        return f"{self.current}${self._hmac(self.current, message)}"

    def digest_matches(self, stored: str, message: str) -> bool:
        key_id, _, expected = stored.partition("$")
        if key_id not in self.keys:
            return False
        return hmac.compare_digest(self._hmac(key_id, message), expected)

    def digests(self, message: str) -> list[str]:
        """`message`'s digest under every key, current first: what to look a stored hash up
        by, so that hashes made before a rotation still match."""
        order = [self.current, *(k for k in self.keys if k != self.current)]
        return [f"{key_id}${self._hmac(key_id, message)}" for key_id in order]

    def _hmac(self, key_id: str, message: str) -> str:
        return hmac.new(self._pepper(key_id), message.encode(), hashlib.sha256).hexdigest()

    def _pepper(self, key_id: str) -> bytes:
        # A separate key derived for hashing, so the encryption key is never used twice over.
        if key_id not in self._peppers:
            self._peppers[key_id] = HKDF(
                SHA256(), length=32, salt=None, info=b"rota mfa code pepper"
            ).derive(self.keys[key_id])
        return self._peppers[key_id]
