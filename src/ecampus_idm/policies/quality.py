"""Password quality: the rules every password must meet, as a decision with reasons.

This module owns the check that initial passwords go through; the password issue may move
it under :mod:`ecampus_idm.passwords` for the passwords people choose, with the same
settings (:class:`~ecampus_idm.policies.settings.PasswordQualitySettings`). The rules
follow NIST SP 800-63B revision 4 (a length floor, 15 for a password that is the only
factor; a generous ceiling; a blocklist; no context-specific words such as the username
or the person's names) plus, when Active Directory is a target, its complexity rule
(three of: upper case, lower case, digits, other characters).

A password is only ever handled as a :class:`~pydantic.SecretStr`; no reason, data or
exception carries it, its length or a part of it.
"""

from __future__ import annotations

import re
import string

from anyascii import anyascii
from pydantic import SecretStr

from ecampus_idm.policies.base import Decision, Reason, combine
from ecampus_idm.policies.settings import PasswordQualitySettings

__all__ = ["check_password"]

POLICY = "password-quality"
_DELIMITERS = re.compile(r"[\s,.\-_#@]+")
_AD_MIN_CLASSES = 3
_ASCII_UPPER = frozenset(string.ascii_uppercase)
_ASCII_LOWER = frozenset(string.ascii_lowercase)
_ASCII_DIGITS = frozenset(string.digits)
_ASCII_ALNUM = _ASCII_UPPER | _ASCII_LOWER | _ASCII_DIGITS


def _tokens(texts: tuple[str, ...], shortest: int) -> set[str]:
    """Return the parts of ``texts`` a password may not contain, as found and transliterated."""
    tokens: set[str] = set()
    for text in texts:
        forms = (
            {text.casefold()} if text.isascii() else {text.casefold(), anyascii(text).casefold()}
        )
        for form in forms:
            tokens.update(p for p in (form, *_DELIMITERS.split(form)) if len(p) >= shortest)
    return tokens


def _classes(value: str) -> int:
    """Return how many of Active Directory's character classes ``value`` uses.

    The classes: ASCII digits, upper case, lower case, other letters (scripts without
    case), and characters that are neither letters nor digits.
    """
    chars = set(value)
    if value.isascii():  # the usual case, and every generated password: set operations
        cased = sum(bool(chars & kind) for kind in (_ASCII_UPPER, _ASCII_LOWER, _ASCII_DIGITS))
        return cased + bool(chars - _ASCII_ALNUM)
    kinds: set[str] = set()
    for char in chars:
        if char in string.digits:
            kinds.add("digit")
        elif char.isupper():
            kinds.add("upper")
        elif char.islower():
            kinds.add("lower")
        elif char.isalpha():
            kinds.add("letter")
        elif not char.isalnum():
            kinds.add("other")
    return len(kinds)


_OK = Decision.allow(
    POLICY,
    Reason(
        code="quality.ok",
        fr="Le mot de passe respecte les règles de qualité.",
        en="The password meets the quality rules.",
    ),
)


def check_password(
    password: SecretStr,
    settings: PasswordQualitySettings,
    *,
    username: str = "",
    display_name: str = "",
) -> Decision:
    """Return whether ``password`` meets the quality rules, naming every rule it breaks.

    Args:
        password: The password to check.
        settings: The rules.
        username: The account's username (the password may not contain it or its parts).
        display_name: The person's full name (nor its parts).

    Returns:
        An allowing decision, or a denying one whose reason lists each broken rule.
    """
    value = password.get_secret_value()
    folded = value.casefold()
    broken: list[Reason] = []
    if len(value) < settings.min_length:
        broken.append(
            Reason(
                code="quality.too_short",
                fr=f"Le mot de passe doit compter au moins {settings.min_length} caractères.",
                en=f"The password must be at least {settings.min_length} characters long.",
                data={"min_length": settings.min_length},
            )
        )
    if len(value) > settings.max_length:
        broken.append(
            Reason(
                code="quality.too_long",
                fr=f"Le mot de passe ne peut dépasser {settings.max_length} caractères.",
                en=f"The password cannot be longer than {settings.max_length} characters.",
                data={"max_length": settings.max_length},
            )
        )
    if folded in settings.blocklist:
        broken.append(
            Reason(
                code="quality.blocklisted",
                fr="Ce mot de passe est trop courant ou a déjà fuité : choisissez-en un autre.",
                en="This password is too common or known from a breach: choose another one.",
            )
        )
    searched = {folded} if value.isascii() else {folded, anyascii(value).casefold()}
    context = _tokens((username, display_name), settings.context_token_length)
    if any(token in form for token in context for form in searched):
        broken.append(
            Reason(
                code="quality.context",
                fr="Le mot de passe ne peut contenir ni le nom d'utilisateur ni une partie du nom.",
                en="The password cannot contain the username or a part of the name.",
            )
        )
    if settings.ad_complexity and _classes(value) < _AD_MIN_CLASSES:
        broken.append(
            Reason(
                code="quality.complexity",
                fr=(
                    "Le mot de passe doit mêler au moins trois sortes de caractères parmi "
                    "majuscules, minuscules, chiffres et autres caractères."
                ),
                en=(
                    "The password must mix at least three kinds of characters among upper "
                    "case, lower case, digits and other characters."
                ),
            )
        )
    if not broken:
        return _OK
    return combine((Decision.deny(POLICY, reason) for reason in broken), POLICY)
