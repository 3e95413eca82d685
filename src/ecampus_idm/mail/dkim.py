"""DKIM signing (RFC 6376) of outgoing mail with dkimpy, when a key is configured.

The signature covers the headers a receiver relies on (From, To, Subject, Date,
Message-ID, Reply-To, MIME headers) with relaxed canonicalisation, so that relays that
re-fold headers do not break it.
"""

from __future__ import annotations

from pathlib import Path

import dkim

from ecampus_idm.errors import ConfigError
from ecampus_idm.mail.settings import DkimSettings

__all__ = ["DkimSigner"]

_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"content-language",
)


class DkimSigner:
    """Signs raw messages for one domain and selector.

    Args:
        domain: The signing domain (``d=``).
        selector: The selector (``s=``).
        private_key: The PEM private key (RSA or Ed25519).
    """

    def __init__(self, domain: str, selector: str, private_key: bytes) -> None:
        self.domain = domain
        self.selector = selector
        self._key = private_key

    def __repr__(self) -> str:
        return f"DkimSigner(domain={self.domain!r}, selector={self.selector!r})"

    @classmethod
    def from_settings(cls, settings: DkimSettings) -> DkimSigner:
        """Read the key from the file or the secret.

        Raises:
            ConfigError: If the key file cannot be read.
        """
        if settings.private_key is not None:
            key = settings.private_key.get_secret_value().encode("ascii")
        else:
            path = Path(settings.private_key_file or "")
            try:
                key = path.read_bytes()
            except OSError as exc:
                raise ConfigError(
                    str(path), "mail.dkim.private_key_file", f"a readable PEM key ({exc.strerror})"
                ) from None
        return cls(settings.domain, settings.selector, key)

    def sign(self, raw: bytes) -> bytes:
        """Return ``raw`` with a ``DKIM-Signature`` header in front.

        Raises:
            ConfigError: If the key cannot sign (not a valid private key).
        """
        try:
            signature = dkim.sign(
                raw,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self._key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=list(_HEADERS),
            )
        except (dkim.DKIMException, ValueError) as exc:
            raise ConfigError(
                "mail.dkim",
                "private_key",
                f"a PEM private key that can sign ({type(exc).__name__})",
            ) from None
        return bytes(signature) + raw
