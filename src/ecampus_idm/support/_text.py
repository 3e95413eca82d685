"""Text helpers of the support tools: masking addresses, hiding national numbers.

Every text the diagnosis and the listing show goes through here: a personal address is
shown as ``j***@gmail.com``, and a text that would hold a national number is replaced.
"""

from __future__ import annotations

import re

from anyascii import anyascii

from ecampus_idm.identity.niss import contains_national_number
from ecampus_idm.mail.address import mask_email

__all__ = ["cap", "mask_addresses", "mask_email", "normalise_name", "scrub"]

_REDACTED = "[masqué / redacted]"


_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def mask_addresses(text: str) -> str:
    """Return ``text`` with every e-mail address in it masked (SMTP errors quote them)."""
    return _ADDRESS.sub(lambda m: mask_email(m.group(0)), text)


def scrub(text: str) -> str:
    """Return ``text``, or a placeholder if it holds a national number."""
    return _REDACTED if contains_national_number(text) else text


def cap(text: str) -> str:
    """Return ``text`` with its first letter in upper case (at a sentence's start)."""
    return text[:1].upper() + text[1:]


def normalise_name(text: str) -> str:
    return " ".join(sorted(re.findall(r"[a-z0-9]+", anyascii(text).casefold())))
