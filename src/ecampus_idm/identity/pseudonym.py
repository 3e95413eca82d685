"""Keyed pseudonyms of national numbers, and the stable person ids derived from them.

The national number (NISS) is legally restricted: it is never stored, logged or written
to a directory in clear. What the library keeps is an HMAC-SHA256 of it under a key from
the configuration, so that two sources giving the same number give the same pseudonym,
while someone holding the pseudonyms but not the key cannot find the numbers back (11
digits with a checksum would otherwise be brute-forced in seconds).

Two sub-keys are derived from the configured key, one per purpose, so that a pseudonym
and a person id of the same person cannot be linked without the key:

* pseudonym = HMAC(K_niss, the 11 digits), 64 ModHex characters;
* person id = ``p`` + ModHex(HMAC(K_person, ``niss`` | pseudonym))[:32] when the person
  has a national number, else ``p`` + ModHex(HMAC(K_person, ``key`` | source | matricule))[:32]
  from the smallest of their source keys (128 bits either way).

ModHex is hexadecimal written with the letters ``cbdefghijklnrtuv`` instead of ``0-9a-f``
(YubiKey's alphabet). Without digits, a pseudonym or an id can never contain eleven digits
that happen to pass the national-number checksum, which the state store (rightly) refuses.

The same key and the same sources therefore give the same ids on every run. Changing the
key changes every pseudonym and id: it needs a migration of the state store.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

from pydantic import SecretStr

__all__ = ["Pseudonymiser"]

_NISS_LABEL = b"ecampus-idm/niss-pseudonym/v1"
_PERSON_LABEL = b"ecampus-idm/person-id/v1"
_ID_LENGTH = 32  # 128 bits
_MODHEX = str.maketrans("0123456789abcdef", "cbdefghijklnrtuv")


class Pseudonymiser:
    """Compute national-number pseudonyms and person ids under one secret key.

    Args:
        key: The configured HMAC key (``sources.pseudonym_key``).

    Raises:
        ValueError: If the key is empty.
    """

    __slots__ = ("_niss_key", "_person_key")

    def __init__(self, key: SecretStr) -> None:
        secret = key.get_secret_value().encode("utf-8")
        if not secret:
            raise ValueError("the pseudonym key is empty")
        self._niss_key = hmac.digest(secret, _NISS_LABEL, "sha256")
        self._person_key = hmac.digest(secret, _PERSON_LABEL, "sha256")

    def pseudonym(self, national_number: str) -> str:
        """Return the pseudonym of a national number given as its 11 digits."""
        digest = hmac.digest(self._niss_key, national_number.encode("ascii"), "sha256")
        return digest.hex().translate(_MODHEX)

    def matches(self, pseudonym: str, national_number: str) -> bool:
        """Return whether ``pseudonym`` is that of ``national_number`` (constant time)."""
        return hmac.compare_digest(pseudonym, self.pseudonym(national_number))

    def person_id_for_pseudonym(self, pseudonym: str) -> str:
        """Return the person id of someone known by a national-number pseudonym."""
        return self._person_id(b"niss\0" + pseudonym.encode("ascii"))

    def person_id_for_key(self, source: str, matricule: str) -> str:
        """Return the person id of someone known only by a source key."""
        name = source.encode("utf-8")
        # Length-prefixed, so that no (source, matricule) pair can spell another.
        return self._person_id(b"key\0%d\0" % len(name) + name + matricule.encode("utf-8"))

    def _person_id(self, message: bytes) -> str:
        digest = hmac.digest(self._person_key, message, "sha256")
        return "p" + digest.hex()[:_ID_LENGTH].translate(_MODHEX)

    def __repr__(self) -> str:
        return "Pseudonymiser(key=**********)"

    def __reduce__(self) -> NoReturn:
        # Pickling would write the derived keys out in clear.
        raise TypeError("a Pseudonymiser cannot be pickled")
