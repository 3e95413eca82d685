"""Encryption at rest of the few secrets the store must keep: AES-256-GCM with key ids.

This module owns :class:`Keyring`, the list of data-encryption keys used by the password
custody and the mail outbox (initial passwords, which must be readable again to resend
them). Each key has a short id; the *newest* key encrypts, every key decrypts, so keys
are rotated by appending a new one, re-wrapping the stored values (:meth:`Keyring.rewrap`)
and only then removing the old key.

A sealed value is ``b"v1." + key_id + b"." + base64url(nonce || ciphertext || tag)``; it
is bound to its context by the *associated data* (``aad``: the person id, the message id)
so that a ciphertext copied to another row does not decrypt there.

Key material never appears in a repr, a log line or an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from ecampus_idm.errors import IdmError

__all__ = ["CryptoError", "DataKey", "Keyring", "UnknownKeyError", "generate_key"]

_VERSION = b"v1"
_NONCE = 12
_KEY_BYTES = 32
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class CryptoError(IdmError):
    """A sealed value cannot be opened: wrong key, wrong context or damaged data."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot decrypt a stored secret: {reason}")


class UnknownKeyError(CryptoError):
    """The value was sealed with a key that is no longer (or not yet) configured.

    Attributes:
        key_id: The id of the missing key.
    """

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"key {key_id!r} is not in the configured keys")


def generate_key() -> str:
    """Return a new random key as configuration text (``base64`` of 32 bytes)."""
    return base64.b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


@dataclass(frozen=True)
class DataKey:
    """One AES-256 key and its id.

    Attributes:
        key_id: Short id written in front of every value it seals.
    """

    key_id: str
    _material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KID.match(self.key_id):
            raise ValueError("a key id is 1-32 letters, digits, '_' or '-'")
        if len(self._material) != _KEY_BYTES:
            raise ValueError(f"an AES-256 key is {_KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return f"DataKey({self.key_id!r})"

    @classmethod
    def parse(cls, text: SecretStr | str) -> DataKey:
        """Read a configured key: ``base64`` or ``id:base64`` (32 bytes once decoded).

        Without an explicit id, the id is the first 8 hex digits of the key's SHA-256.

        Raises:
            ValueError: If the text is not such a key (the message never quotes it).
        """
        raw = text.get_secret_value() if isinstance(text, SecretStr) else text
        key_id, _, encoded = raw.strip().rpartition(":")
        try:
            material = base64.b64decode(encoded, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            material = b""
        if len(material) != _KEY_BYTES:
            raise ValueError(
                "a mail key is 32 random bytes in base64, optionally prefixed by 'id:' "
                "(generate one with `ecampus-idm mail keygen`)"
            )
        return cls(key_id or hashlib.sha256(material).hexdigest()[:8], material)

    @classmethod
    def derive(cls, secret: SecretStr, *, purpose: str, key_id: str = "derived") -> DataKey:
        """Derive a key (HKDF-SHA256) from another configured secret, for one purpose."""
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=_KEY_BYTES,
            salt=b"ecampus-idm keyring",
            info=purpose.encode("utf-8"),
        )
        return cls(key_id, hkdf.derive(secret.get_secret_value().encode("utf-8")))


class Keyring:
    """AES-GCM keys with ids: the newest (last) encrypts, all of them decrypt.

    Args:
        keys: The keys, oldest first; at least one.

    Raises:
        ValueError: Without keys, or with two keys of one id.
    """

    def __init__(self, keys: Sequence[DataKey]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        ids = [k.key_id for k in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("two keys have the same id")
        self._keys = {k.key_id: AESGCM(k._material) for k in keys}
        self._current = keys[-1].key_id

    @classmethod
    def from_config(cls, keys: Iterable[SecretStr | str]) -> Keyring:
        """Build a keyring from configured key texts (see :meth:`DataKey.parse`)."""
        return cls([DataKey.parse(k) for k in keys])

    @property
    def current_id(self) -> str:
        """The id of the key that encrypts."""
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key, oldest first."""
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(ids={list(self._keys)!r}, current={self._current!r})"

    def encrypt(self, plaintext: bytes, *, aad: bytes) -> bytes:
        """Seal ``plaintext`` with the newest key, bound to ``aad``."""
        nonce = os.urandom(_NONCE)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, aad)
        body = base64.urlsafe_b64encode(nonce + sealed)
        return b".".join((_VERSION, self._current.encode("ascii"), body))

    def decrypt(self, token: bytes, *, aad: bytes) -> bytes:
        """Open a value sealed by :meth:`encrypt` with the same ``aad``.

        Raises:
            UnknownKeyError: If its key is not configured.
            CryptoError: If it is damaged or belongs to another context.
        """
        version, key_id, body = self._split(token)
        if version != _VERSION:
            raise CryptoError("unknown format")
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise UnknownKeyError(key_id)
        try:
            raw = base64.urlsafe_b64decode(body)
            return cipher.decrypt(raw[:_NONCE], raw[_NONCE:], aad)
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise CryptoError("damaged value or wrong context") from exc

    def key_id_of(self, token: bytes) -> str:
        """Return the id of the key that sealed ``token`` (no decryption)."""
        return self._split(token)[1]

    def needs_rewrap(self, token: bytes) -> bool:
        """Whether ``token`` was sealed with another key than the newest."""
        return self.key_id_of(token) != self._current

    def rewrap(self, token: bytes, *, aad: bytes) -> bytes:
        """Return ``token`` sealed again with the newest key (unchanged if it already is)."""
        if not self.needs_rewrap(token):
            return token
        return self.encrypt(self.decrypt(token, aad=aad), aad=aad)

    @staticmethod
    def _split(token: bytes) -> tuple[bytes, str, bytes]:
        parts = bytes(token).split(b".", 2)
        if len(parts) != 3:  # noqa: PLR2004 - version, key id, body
            raise CryptoError("not a sealed value")
        return parts[0], parts[1].decode("ascii", "replace"), parts[2]
