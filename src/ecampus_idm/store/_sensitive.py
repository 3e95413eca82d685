"""The guard that keeps passwords, tokens and national numbers out of the store.

The store's API has no parameter for a secret, but events carry free text (the reasons)
and free JSON (``data``), so a careless caller could still hand one over. This module
checks every such value before anything is written and raises
:class:`~ecampus_idm.store.errors.SensitiveDataError` naming the field, never the value:

* a :class:`~pydantic.SecretStr` (or ``SecretBytes``) anywhere is refused;
* a key that names a secret (``password``, ``token``, ``secret``, ``niss``...) may hold
  only a flag or a count (``{"password_changed": true}``, ``{"tokens_revoked": 2}``),
  never text;
* any text holding a valid Belgian national number or BIS number (eleven digits, with or
  without the usual ``85.07.30-033.28`` separators, check digits verified) is refused.

A random token under an innocent key cannot be recognised: that is what the key rule and
the absence of any secret-taking parameter are for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import SecretBytes, SecretStr
from stdnum.be import bis, nn

from ecampus_idm.store.errors import SensitiveDataError

__all__ = ["check_data", "check_text"]

_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "credential",
    "niss",
    "insz",
    "nationalnumber",
    "nationalregister",
    "registrenational",
    "rijksregister",
    "bisnumber",
)
_SECRET_KEYS = frozenset({"nn", "rrn", "bis", "pin", "otp"})

# Eleven digits, optionally grouped as YY.MM.DD-SSS.CC, not inside a longer digit run.
_NATIONAL_NUMBER = re.compile(
    r"(?<![0-9])[0-9]{2}[. ]?[0-9]{2}[. ]?[0-9]{2}[- ]?[0-9]{3}[. ]?[0-9]{2}(?![0-9])"
)


def _names_a_secret(key: str) -> bool:
    squashed = re.sub(r"[^a-z0-9]", "", key.lower())
    return squashed in _SECRET_KEYS or any(word in squashed for word in _SECRET_WORDS)


def check_text(field: str, text: str) -> None:
    """Refuse ``text`` if it holds a national number.

    Raises:
        SensitiveDataError: If it does.
    """
    for match in _NATIONAL_NUMBER.finditer(text):
        digits = re.sub(r"[^0-9]", "", match.group())
        if nn.is_valid(digits) or bis.is_valid(digits):
            raise SensitiveDataError(field, "a national number")


def check_data(field: str, value: object) -> None:
    """Refuse ``value`` (JSON-like data) if it holds a secret or a national number.

    Args:
        field: Where ``value`` is, for the error (``data``).
        value: The value to check, recursively.

    Raises:
        SensitiveDataError: Naming the path of the first refused value.
    """
    if isinstance(value, SecretStr | SecretBytes):
        raise SensitiveDataError(field, "a secret")
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{field}.{key}"
            if not isinstance(key, str):
                continue  # not JSON: the caller refuses it
            check_text(path, key)
            if _names_a_secret(key) and not _is_flag_or_count(item):
                raise SensitiveDataError(path, "a value under a secret's name")
            check_data(path, item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_data(f"{field}[{index}]", item)


def _is_flag_or_count(value: object) -> bool:
    return value is None or isinstance(value, bool | int)
