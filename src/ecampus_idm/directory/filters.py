"""Search filters as values (RFC 4515), escaped by construction.

Callers never write a filter string: they combine :class:`Filter` values, which render
to an RFC 4515 string with every assertion value escaped, and which the in-memory
directory evaluates directly. A hostile value such as ``*)(uid=*`` can therefore only
ever be matched literally.

Example:
    >>> from ecampus_idm.directory.filters import eq, present
    >>> str(eq("objectClass", "inetOrgPerson") & ~present("pwdAccountLockedTime"))
    '(&(objectClass=inetOrgPerson)(!(pwdAccountLockedTime=*)))'

Matching in :meth:`Filter.matches` is case-insensitive, like the ``caseIgnoreMatch`` rule
of the attributes we search on (``uid``, ``cn``, ``mail``, ``objectClass``...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "And",
    "Equals",
    "Filter",
    "Not",
    "Or",
    "Present",
    "Substring",
    "eq",
    "escape_filter_value",
    "everything",
    "present",
]

_ATTRIBUTE_DESCRIPTION = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*"
)
_FILTER_ESCAPES = {"\\": r"\5c", "*": r"\2a", "(": r"\28", ")": r"\29", "\x00": r"\00"}

Attributes = Mapping[str, Sequence[str]]
"""Attribute values keyed by lower-case attribute name."""


def escape_filter_value(value: str) -> str:
    r"""Escape an assertion value for a filter string (RFC 4515, section 3).

    Example:
        >>> escape_filter_value("*)(uid=*")
        '\\2a\\29\\28uid=\\2a'
    """
    return "".join(_FILTER_ESCAPES.get(char, char) for char in value)


def _check_attribute(attribute: str) -> str:
    if not _ATTRIBUTE_DESCRIPTION.fullmatch(attribute):
        raise ValueError(f"not an LDAP attribute description: {attribute!r}")
    return attribute


class Filter:
    """Base of all filters; combine them with ``&``, ``|`` and ``~``."""

    def render(self) -> str:
        """Return the RFC 4515 string form."""
        raise NotImplementedError

    def matches(self, attributes: Attributes) -> bool:
        """Return whether an entry with these attributes (lower-case keys) matches."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render()

    def __and__(self, other: Filter) -> Filter:
        return And((self, other))

    def __or__(self, other: Filter) -> Filter:
        return Or((self, other))

    def __invert__(self) -> Filter:
        return Not(self)


@dataclass(frozen=True)
class Equals(Filter):
    """``(attribute=value)``: equality match."""

    attribute: str
    value: str

    def __post_init__(self) -> None:
        _check_attribute(self.attribute)

    def render(self) -> str:
        """Return ``(attribute=escaped value)``."""
        return f"({self.attribute}={escape_filter_value(self.value)})"

    def matches(self, attributes: Attributes) -> bool:
        """Return whether any value equals ours, ignoring case."""
        wanted = self.value.casefold()
        return any(v.casefold() == wanted for v in attributes.get(self.attribute.lower(), ()))


@dataclass(frozen=True)
class Present(Filter):
    """``(attribute=*)``: the attribute has at least one value."""

    attribute: str

    def __post_init__(self) -> None:
        _check_attribute(self.attribute)

    def render(self) -> str:
        """Return ``(attribute=*)``."""
        return f"({self.attribute}=*)"

    def matches(self, attributes: Attributes) -> bool:
        """Return whether the attribute has a value."""
        return bool(attributes.get(self.attribute.lower()))


@dataclass(frozen=True)
class Substring(Filter):
    """``(attribute=initial*any*final)``: substring match."""

    attribute: str
    initial: str = ""
    any: tuple[str, ...] = ()
    final: str = ""

    def __post_init__(self) -> None:
        _check_attribute(self.attribute)
        if not (self.initial or self.final or any(self.any)):
            raise ValueError("a substring filter needs at least one non-empty part")

    def render(self) -> str:
        """Return the substring filter with each part escaped."""
        middle = "*".join(escape_filter_value(part) for part in self.any if part)
        body = escape_filter_value(self.initial) + "*"
        if middle:
            body += middle + "*"
        return f"({self.attribute}={body}{escape_filter_value(self.final)})"

    def matches(self, attributes: Attributes) -> bool:
        """Return whether any value contains the parts in order, ignoring case."""
        return any(
            self._match_one(v.casefold()) for v in attributes.get(self.attribute.lower(), ())
        )

    def _match_one(self, value: str) -> bool:
        initial, final = self.initial.casefold(), self.final.casefold()
        if not value.startswith(initial):
            return False
        position = len(initial)
        for part in (p.casefold() for p in self.any if p):
            found = value.find(part, position)
            if found < 0:
                return False
            position = found + len(part)
        return len(value) - position >= len(final) and value.endswith(final)


@dataclass(frozen=True)
class And(Filter):
    """``(&...)``: all of the filters match (the empty And matches everything)."""

    filters: tuple[Filter, ...]

    def render(self) -> str:
        """Return ``(&...)``."""
        return "(&" + "".join(f.render() for f in self.filters) + ")"

    def matches(self, attributes: Attributes) -> bool:
        """Return whether every sub-filter matches."""
        return all(f.matches(attributes) for f in self.filters)

    def __and__(self, other: Filter) -> Filter:
        return And((*self.filters, other))


@dataclass(frozen=True)
class Or(Filter):
    """``(|...)``: at least one of the filters matches."""

    filters: tuple[Filter, ...]

    def render(self) -> str:
        """Return ``(|...)``."""
        return "(|" + "".join(f.render() for f in self.filters) + ")"

    def matches(self, attributes: Attributes) -> bool:
        """Return whether any sub-filter matches."""
        return any(f.matches(attributes) for f in self.filters)

    def __or__(self, other: Filter) -> Filter:
        return Or((*self.filters, other))


@dataclass(frozen=True)
class Not(Filter):
    """``(!...)``: the filter does not match."""

    filter: Filter

    def render(self) -> str:
        """Return ``(!...)``."""
        return f"(!{self.filter.render()})"

    def matches(self, attributes: Attributes) -> bool:
        """Return whether the sub-filter does not match."""
        return not self.filter.matches(attributes)


def eq(attribute: str, value: str) -> Equals:
    """Return the equality filter ``(attribute=value)``."""
    return Equals(attribute, value)


def present(attribute: str) -> Present:
    """Return the presence filter ``(attribute=*)``."""
    return Present(attribute)


def everything() -> Present:
    """Return ``(objectClass=*)``, which every entry matches."""
    return Present("objectClass")
