"""Text helpers of the support tools: masking addresses, hiding national numbers, French.

Every text the diagnosis and the listing show goes through here: a personal address is
shown as ``j***@gmail.com``, and a text that would hold a national number is replaced.
An address that is not known reads "adresse inconnue" / "no address", never an empty
place ("E-mail à  : failed"); French texts stored by earlier versions with an
uncontracted article ("Envoi de le courriel") are shown contracted ("du courriel").
"""

from __future__ import annotations

import re

from anyascii import anyascii

from ecampus_idm.identity.niss import contains_national_number
from ecampus_idm.mail.address import mask_email

__all__ = [
    "NO_ADDRESS_EN",
    "NO_ADDRESS_FR",
    "address_or_unknown",
    "cap",
    "contract_french",
    "fill_missing_address",
    "mask_addresses",
    "mask_email",
    "normalise_name",
    "scrub",
]

_REDACTED = "[masqué / redacted]"

NO_ADDRESS_FR = "adresse inconnue"
"""What the French texts say where an address is not known."""
NO_ADDRESS_EN = "no address"
"""What the English texts say where an address is not known."""


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


def address_or_unknown(address: str | None, lang: str) -> str:
    """Return ``address``, or "adresse inconnue" / "no address" when it is empty."""
    if address and address.strip():
        return address
    return NO_ADDRESS_FR if lang == "fr" else NO_ADDRESS_EN


# "à" or "to" followed by nothing but punctuation: the place of an address left empty.
_EMPTY_AFTER = {
    "fr": re.compile(r"\b(à|pour)\s*(?=[:.,;)]|$)"),
    "en": re.compile(r"\b(to|for)(?:\s+(?=[:.,;)]|$)|(?=[.,;)]|$))"),
}


def fill_missing_address(text: str, lang: str) -> str:
    """Return ``text`` with an empty recipient ("à  : failed") read as an unknown address.

    Texts recorded by other parts (the mail events) name the recipient after "à" / "to";
    when it was empty, the sentence would show a gap. French never puts a colon or a full
    stop straight after "à"; English never after "to" with a space before it.
    """
    french = lang == "fr"
    unknown = NO_ADDRESS_FR if french else NO_ADDRESS_EN

    def fill(match: re.Match[str]) -> str:
        rest = text[match.end() : match.end() + 1]
        # French sets a space before ":" and ";"; English never before punctuation.
        spacing = " " if french and rest in (":", ";") else ""
        return f"{match.group(1)} {unknown}{spacing}"

    return _EMPTY_AFTER["fr" if french else "en"].sub(fill, text)


# Only before nouns the support texts use, so that "de le faire" (a pronoun) stays.
_NOUNS = r"(courriel|renvoi|lien|mot de passe|compte|secrétariat|bureau|serveur|listing)"
_CONTRACTIONS = (
    (re.compile(rf"\b([Dd])e le {_NOUNS}\b"), lambda m: f"{m.group(1)}u {m.group(2)}"),
    (re.compile(rf"\b([Dd])e les {_NOUNS}"), lambda m: f"{m.group(1)}es {m.group(2)}"),
    (re.compile(rf"\bà le {_NOUNS}\b"), lambda m: f"au {m.group(1)}"),
    (re.compile(rf"\bà les {_NOUNS}"), lambda m: f"aux {m.group(1)}"),
)


def contract_french(text: str) -> str:
    """Return ``text`` with "de le courriel" read "du courriel" ("à le" → "au"...).

    Events recorded before the mail part contracted its articles keep their text in the
    store; the diagnosis shows them corrected.
    """
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return text
