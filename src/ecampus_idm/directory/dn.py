r"""Distinguished names (RFC 4514): escaping, parsing, building and comparing.

A DN is always built from values with :func:`build_dn` / :func:`escape_rdn_value`, never
by string formatting, so that a name such as ``Smith, John`` or a hostile
``*)(uid=*`` stays one attribute value. :func:`parse_dn` is the inverse: it reads any
RFC 4514 string, including the hex-pair form (``\c3\a9``) that servers return, and
gives back the exact values.

Comparison uses :func:`normalize_dn`: attribute types and values are compared without
regard to case, which is right for the naming attributes we use (``uid``, ``cn``, ``ou``,
``dc``: all ``caseIgnoreMatch``).
"""

from __future__ import annotations

import functools
import re

from ecampus_idm.errors import InvalidDnError

__all__ = [
    "RDN",
    "build_dn",
    "dn_is_within",
    "dn_path",
    "escape_rdn_value",
    "format_dn",
    "normalize_dn",
    "parent_dn",
    "parse_dn",
    "rdn",
    "rdn_value",
]

RDN = tuple[tuple[str, str], ...]
"""A relative distinguished name: one or more (attribute type, value) pairs."""

_ATTRIBUTE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+")
_SPECIAL = {'"', "+", ",", ";", "<", ">", "\\", "="}
_ESCAPABLE = _SPECIAL | {" ", "#"}
_HEX = set("0123456789abcdefABCDEF")


def escape_rdn_value(value: str) -> str:
    r"""Escape an attribute value for use in a DN (RFC 4514, section 2.4).

    Args:
        value: The raw value, e.g. ``"Smith, John"``.

    Returns:
        The escaped string, e.g. ``"Smith\, John"``.
    """
    out: list[str] = []
    last = len(value) - 1
    for index, char in enumerate(value):
        if char in _SPECIAL or (char == "#" and index == 0):
            out.append("\\" + char)
        elif char == " " and index in (0, last):
            out.append("\\ ")
        elif char == "\x00":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


def rdn(attribute: str, value: str) -> str:
    """Return the string form of a single-valued RDN, ``attribute=escaped-value``.

    Raises:
        ValueError: If ``attribute`` is not a valid attribute type.
    """
    if not _ATTRIBUTE_TYPE.fullmatch(attribute):
        raise ValueError(f"not an LDAP attribute type: {attribute!r}")
    return f"{attribute}={escape_rdn_value(value)}"


def build_dn(attribute: str, value: str, parent: str) -> str:
    """Return the DN of the entry named ``attribute=value`` under ``parent``.

    Example:
        >>> build_dn("uid", "jean.dupont", "ou=people,dc=ecampus,dc=test")
        'uid=jean.dupont,ou=people,dc=ecampus,dc=test'
    """
    head = rdn(attribute, value)
    return f"{head},{parent}" if parent else head


def parse_dn(dn: str) -> tuple[RDN, ...]:
    """Parse an RFC 4514 DN into its RDNs, most specific first, values unescaped.

    Spaces around the separators are tolerated (RFC 2253 servers emit them).
    Values in the BER ``#hex`` form are refused: no naming attribute we use needs them.

    Args:
        dn: The DN string; the empty string is the root DSE.

    Returns:
        The RDNs, each a tuple of (attribute type, value) pairs.

    Raises:
        InvalidDnError: If ``dn`` is not a valid DN; the error names the position.
    """
    return _DnParser(dn).parse()


@functools.lru_cache(maxsize=1 << 18)
def dn_path(dn: str) -> tuple[str, ...]:
    """Return the canonical RDNs of ``dn``, most specific first (see :func:`normalize_dn`).

    Plans compare hundreds of thousands of DNs: plain ones (no escapes, no multi-valued
    RDN, nothing to escape) take a fast path that gives the same result as the parser.

    Raises:
        InvalidDnError: If ``dn`` is not a valid DN.
    """
    if not _NEEDS_PARSER.search(dn):
        fast = _plain_path(dn)
        if fast is not None:
            return fast
    return tuple(
        "+".join(
            sorted(f"{kind.lower()}={escape_rdn_value(value.casefold())}" for kind, value in one)
        )
        for one in parse_dn(dn)
    )


_NEEDS_PARSER = re.compile(r'[\\"+;<>#\x00]|^\s*$')  # escapes, multi-valued RDNs, empty


def _plain_path(dn: str) -> tuple[str, ...] | None:
    """Canonical RDNs of a DN whose values hold no special character, else None."""
    out = []
    for part in dn.split(","):
        kind, _, value = part.partition("=")
        kind, value = kind.strip(" "), value.strip(" ")
        if not _ATTRIBUTE_TYPE.fullmatch(kind) or "=" in value:
            return None
        folded = value.casefold()
        if _NEEDS_PARSER.search(folded) or "=" in folded or folded != folded.strip(" "):
            return None
        out.append(f"{kind.lower()}={folded}")
    return tuple(out)


def normalize_dn(dn: str) -> str:
    """Return a canonical form of ``dn`` for comparisons (case-insensitive).

    Raises:
        InvalidDnError: If ``dn`` is not a valid DN.
    """
    return ",".join(dn_path(dn))


def format_dn(rdns: tuple[RDN, ...]) -> str:
    """Return the string form of parsed RDNs (the inverse of :func:`parse_dn`)."""
    return ",".join("+".join(rdn(kind, value) for kind, value in one) for one in rdns)


def parent_dn(dn: str) -> str:
    """Return the DN of the parent entry ("" for a top-level entry).

    Raises:
        InvalidDnError: If ``dn`` is not a valid DN.
    """
    return format_dn(parse_dn(dn)[1:])


def rdn_value(dn: str, attribute: str | None = None) -> str:
    """Return the value of the first RDN of ``dn``.

    Args:
        dn: The DN.
        attribute: When given, the value of that attribute type in a multi-valued RDN.

    Raises:
        InvalidDnError: If ``dn`` is not a valid DN, is empty, or lacks ``attribute``.
    """
    parsed = parse_dn(dn)
    if not parsed:
        raise InvalidDnError(dn, 0, "the root DSE has no RDN")
    for kind, value in parsed[0]:
        if attribute is None or kind.lower() == attribute.lower():
            return value
    raise InvalidDnError(dn, 0, f"first RDN has no {attribute!r}")


def dn_is_within(dn: str, base: str) -> bool:
    """Return whether ``dn`` is ``base`` or one of its descendants.

    Raises:
        InvalidDnError: If either string is not a valid DN.
    """
    child, root = dn_path(dn), dn_path(base)
    return not root or child[len(child) - len(root) :] == root


class _DnParser:
    """A single-pass RFC 4514 parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, detail: str) -> InvalidDnError:
        return InvalidDnError(self.text, self.pos, detail)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def parse(self) -> tuple[RDN, ...]:
        if not self.text.strip(" "):
            return ()
        rdns: list[RDN] = []
        current: list[tuple[str, str]] = []
        while True:
            current.append(self.attribute_type_and_value())
            self.skip_spaces()
            if self.pos == len(self.text):
                rdns.append(tuple(current))
                return tuple(rdns)
            separator = self.text[self.pos]
            self.pos += 1
            if separator == ",":
                rdns.append(tuple(current))
                current = []
            elif separator != "+":
                raise self.fail(f"expected ',' or '+', found {separator!r}")

    def attribute_type_and_value(self) -> tuple[str, str]:
        self.skip_spaces()
        equals = self.text.find("=", self.pos)
        if equals < 0:
            raise self.fail("missing '='")
        kind = self.text[self.pos : equals].strip(" ")
        if not _ATTRIBUTE_TYPE.fullmatch(kind):
            raise self.fail(f"invalid attribute type {kind!r}")
        self.pos = equals + 1
        self.skip_spaces()
        if self.pos < len(self.text) and self.text[self.pos] == "#":
            raise self.fail("BER-encoded (#hex) values are not supported")
        return kind, self.value()

    def value(self) -> str:
        buffer = bytearray()
        significant = 0  # length of buffer up to the last char that is not an unescaped space
        text = self.text
        while self.pos < len(text) and text[self.pos] not in ",+":
            char = text[self.pos]
            if char == "\\":
                buffer += self.escape()
                significant = len(buffer)
                continue
            if char in '"<>;\x00':
                raise self.fail(f"unescaped {char!r} in a value")
            try:
                buffer += char.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate is not text
                raise self.fail("value is not valid Unicode text") from exc
            self.pos += 1
            if char != " ":
                significant = len(buffer)
        try:
            return bytes(buffer[:significant]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail("escaped bytes are not valid UTF-8") from exc

    def escape(self) -> bytes:
        text = self.text
        if self.pos + 1 >= len(text):
            raise self.fail("dangling '\\' at the end")
        following = text[self.pos + 1]
        if following in _HEX and self.pos + 2 < len(text) and text[self.pos + 2] in _HEX:
            self.pos += 3
            return bytes([int(text[self.pos - 2 : self.pos], 16)])
        if following in _ESCAPABLE:
            self.pos += 2
            return following.encode("utf-8")
        raise self.fail(f"invalid escape '\\{following}'")
