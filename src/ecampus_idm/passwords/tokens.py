"""Reset tokens and the keyed hashes that stand for them (and for addresses) in the store.

A token is 256 random bits, URL-safe base64 (43 characters), handed once to the mail and
never stored: the store keeps ``HMAC-SHA256(key, purpose, token)`` under the id of the
key that made it. The :class:`TokenKeyring` holds the keys, newest first: the newest
makes every new digest, every key still finds old ones, so a key rotates without
killing the links in flight.

The same keyring gives the other keyed values the service keeps instead of clear text:
the HMAC of a submitted address or client IP (rate-limit buckets, audit rows), the
fingerprint of an account's password state, and the sealed (AES-GCM) address of a request
waiting for the worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from ecampus_idm.passwords.errors import ResetConfigError, TokenInvalidError

__all__ = [
    "PURPOSE_ACTIVATION",
    "PURPOSE_RESET",
    "TOKEN_BYTES",
    "TokenKeyring",
    "TokenRecord",
    "new_token",
    "parse_token",
]

TOKEN_BYTES = 32
"""256 bits."""

PURPOSE_RESET = "reset"
"""The purpose of a "Mot de passe oublié" token."""

PURPOSE_ACTIVATION = "activation"
"""The purpose of a welcome mail's activation link (the first password is chosen)."""

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_NONCE_BYTES = 12


def new_token() -> SecretStr:
    """Return a new random token: 256 bits, URL-safe base64 without padding."""
    return SecretStr(secrets.token_urlsafe(TOKEN_BYTES))


def parse_token(token: str | SecretStr) -> SecretStr:
    """Return ``token`` as a secret if it has the shape of one of ours.

    Raises:
        TokenInvalidError: If it does not (reason ``malformed``); the value is not echoed.
    """
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise TokenInvalidError("malformed")
    return SecretStr(value)


class TokenKeyring:
    """HMAC keys with ids, newest first; never shows its keys.

    Args:
        keys: The raw keys (each at least 32 bytes), newest first.

    Raises:
        ResetConfigError: If there is no key or a key is too short.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ResetConfigError(
                "the reset service needs at least one token key (passwords.token_keys)"
            )
        ids: dict[str, bytes] = {}
        for key in keys:
            if len(key) < TOKEN_BYTES:
                raise ResetConfigError("a token key must hold at least 32 bytes")
            ids[hashlib.sha256(b"ecampus-idm key id\0" + key).hexdigest()[:12]] = key
        self._keys: tuple[tuple[str, bytes], ...] = tuple(ids.items())

    @classmethod
    def from_base64(cls, keys: Iterable[SecretStr]) -> TokenKeyring:
        """Build a keyring from the configured base64 keys (newest first)."""
        return cls([base64.b64decode(k.get_secret_value()) for k in keys])

    @classmethod
    def generate(cls) -> TokenKeyring:
        """Return a keyring with one fresh random key (tests, demos)."""
        return cls([secrets.token_bytes(TOKEN_BYTES)])

    def __repr__(self) -> str:
        return f"TokenKeyring({len(self._keys)} keys, newest {self.newest_id})"

    @property
    def newest_id(self) -> str:
        """The id of the key that makes new digests."""
        return self._keys[0][0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, newest first."""
        return tuple(key_id for key_id, _ in self._keys)

    def _key(self, key_id: str) -> bytes | None:
        return next((key for kid, key in self._keys if kid == key_id), None)

    @staticmethod
    def _mac(key: bytes, label: str, *parts: str) -> str:
        message = "\0".join((label, *parts)).encode("utf-8")
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def token_digest(self, token: SecretStr, purpose: str) -> tuple[str, str]:
        """Return ``(key id, digest)`` of ``token`` for ``purpose`` under the newest key."""
        key_id, key = self._keys[0]
        return key_id, self._mac(key, "token", purpose, token.get_secret_value())

    def token_candidates(self, token: SecretStr, purpose: str) -> list[str]:
        """Return the digest of ``token`` under every key (a lookup matches any of them)."""
        return [self._mac(key, "token", purpose, token.get_secret_value()) for _, key in self._keys]

    def label(self, kind: str, value: str) -> str:
        """Return a keyed, stable stand-in for ``value`` (an address, an IP) under the newest key.

        Args:
            kind: What ``value`` is (``address``, ``ip``): values of two kinds never collide.
            value: The clear value; addresses should be normalised first.
        """
        return self._mac(self._keys[0][1], kind, value)

    def fingerprint(self, key_id: str, material: Sequence[str]) -> str | None:
        """Return the fingerprint of an account's state under the key ``key_id``.

        Returns:
            The HMAC, or ``None`` when that key is no longer in the ring.
        """
        key = self._key(key_id)
        if key is None:
            return None
        return self._mac(key, "fingerprint", *material)

    def seal(self, value: str, *, context: str) -> str:
        """Encrypt ``value`` (AES-256-GCM, key derived from the newest key) for the store."""
        key_id, key = self._keys[0]
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self._seal_key(key)).encrypt(nonce, value.encode("utf-8"), context.encode())
        return f"{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def unseal(self, sealed: str, *, context: str) -> str | None:
        """Decrypt a value made by :meth:`seal`; ``None`` if its key is gone or it was altered."""
        key_id, _, body = sealed.partition(":")
        key = self._key(key_id)
        if key is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            clear = AESGCM(self._seal_key(key)).decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()
            )
        except (InvalidTag, ValueError):
            return None
        return clear.decode("utf-8")

    @staticmethod
    def _seal_key(key: bytes) -> bytes:
        return hmac.new(key, b"ecampus-idm seal key", hashlib.sha256).digest()


@dataclass(frozen=True)
class TokenRecord:
    """What the store keeps of a token (never the token itself).

    Attributes:
        token_id: Assigned by the repository.
        purpose: What the token allows (``reset``).
        person_id: The account's owner.
        dn: The account's entry.
        username: The account's login (shown on the reset page).
        key_id: The key that made ``digest`` and ``fingerprint``.
        digest: HMAC of the token.
        fingerprint: HMAC of the account's password state and personal address at issue.
        issued_at: When the token was made (UTC).
        expires_at: When it stops working (UTC).
        peeked_at: The first time the reset page was shown with it.
        used_at: When a reset consumed it.
        revoked_at: When it was revoked.
        revoke_reason: Why (``superseded``, ``changed``, ``reset-done``...).
    """

    token_id: int
    purpose: str
    person_id: str
    dn: str
    username: str
    key_id: str
    digest: str
    fingerprint: str
    issued_at: datetime
    expires_at: datetime
    peeked_at: datetime | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None

    def __repr__(self) -> str:
        # The digest is not the token, but a repr has no use for it either.
        return (
            f"TokenRecord(token_id={self.token_id}, purpose={self.purpose!r}, "
            f"person_id={self.person_id!r}, issued_at={self.issued_at.isoformat()})"
        )
