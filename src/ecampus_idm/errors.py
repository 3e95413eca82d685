"""The exception tree of ecampus-idm.

Every failure the library reports is an :class:`IdmError`; no third-party exception
(ldap3, pydantic, sqlite, smtplib...) escapes the package: it is translated at the
boundary and chained (``raise X from e``). Each subclass exists because a caller handles
it differently, and carries the data that caller needs. Messages are built here, in the
class, so that they are the same everywhere and never contain a secret: a bind password,
a user password, a token or a national number is never passed to an exception.

The tree::

    IdmError
    ├── ConfigError                      file, key, expected
    └── DirectoryError                   url, dn
        ├── DirectoryUnavailableError    cannot reach or bind the directory (url, reason)
        │   └── DirectoryBindError       the service account's bind was refused
        ├── InvalidCredentialsError      a user's DN/password pair does not authenticate
        ├── InvalidDnError               a DN string that is not RFC 4514
        ├── EntryNotFoundError           no such object (dn)
        ├── EntryAlreadyExistsError      add/rename onto an existing DN (dn)
        ├── NotAllowedOnNonLeafError     delete/rename of an entry that has children (dn)
        ├── SchemaViolationError         object class / attribute / syntax refused (dn, detail)
        ├── AttributeValueError          value absent on delete, already present on add (dn)
        ├── ConstraintViolationError     e.g. password quality refused by ppolicy (dn, detail)
        ├── InsufficientAccessError      the bound identity may not do this (dn)
        ├── PreconditionFailedError      the entry changed since it was read (dn)
        └── DirectoryOperationError      any other result code (dn, result_code)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AttributeValueError",
    "ConfigError",
    "ConstraintViolationError",
    "DirectoryBindError",
    "DirectoryError",
    "DirectoryOperationError",
    "DirectoryUnavailableError",
    "EntryAlreadyExistsError",
    "EntryNotFoundError",
    "IdmError",
    "InsufficientAccessError",
    "InvalidCredentialsError",
    "InvalidDnError",
    "NotAllowedOnNonLeafError",
    "PreconditionFailedError",
    "SchemaViolationError",
]


class IdmError(Exception):
    """Root of every error raised by ecampus-idm."""


class ConfigError(IdmError):
    """The configuration cannot be used.

    Attributes:
        source: Where the (first) bad value came from: a file path or a variable name.
        key: The dotted key (``directory.url``), or ``None`` for a file-level problem.
        expected: What a valid value looks like, in words.
        problems: Every problem found, as (source, key, expected) triples.
    """

    def __init__(
        self,
        source: str,
        key: str | None,
        expected: str,
        problems: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        self.source = source
        self.key = key
        self.expected = expected
        self.problems = list(problems) or ([(source, key, expected)] if key else [])
        if len(self.problems) > 1:
            lines = "".join(f"\n  - {src}: {k}: {exp}" for src, k, exp in self.problems)
            message = f"invalid configuration ({len(self.problems)} problems):{lines}"
        else:
            where = f"{source}: {key}" if key else source
            message = f"invalid configuration in {where}: {expected}"
        super().__init__(message)


class DirectoryError(IdmError):
    """A directory operation failed.

    Attributes:
        dn: The entry the operation was about, when there is one.
        url: The directory URL, when known (never with credentials).
    """

    def __init__(self, message: str, *, dn: str | None = None, url: str | None = None) -> None:
        self.dn = dn
        self.url = url
        super().__init__(message)


class DirectoryUnavailableError(DirectoryError):
    """The directory cannot be reached or used: network, TLS, or configuration.

    Attributes:
        reason: A short technical reason (socket error, certificate problem...).
    """

    def __init__(self, url: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"directory {url} is unavailable: {reason}", url=url)


class DirectoryBindError(DirectoryUnavailableError):
    """The service account's bind was refused (wrong bind DN or password)."""

    def __init__(self, url: str, bind_dn: str, reason: str) -> None:
        self.bind_dn = bind_dn
        super().__init__(url, f"bind as {bind_dn!r} refused: {reason}")


class InvalidCredentialsError(DirectoryError):
    """A user's DN and password do not authenticate (result code 49)."""

    def __init__(self, dn: str) -> None:
        super().__init__(f"invalid credentials for {dn!r}", dn=dn)


class InvalidDnError(DirectoryError):
    """A string is not a valid RFC 4514 distinguished name.

    Attributes:
        position: Index in the string where parsing failed.
    """

    def __init__(self, dn: str, position: int, detail: str) -> None:
        self.position = position
        super().__init__(f"invalid DN {dn!r} at position {position}: {detail}", dn=dn)


class EntryNotFoundError(DirectoryError):
    """The entry (or its parent, for an add) does not exist."""

    def __init__(self, dn: str) -> None:
        super().__init__(f"no such entry: {dn!r}", dn=dn)


class EntryAlreadyExistsError(DirectoryError):
    """An entry already exists at the target DN."""

    def __init__(self, dn: str) -> None:
        super().__init__(f"entry already exists: {dn!r}", dn=dn)


class NotAllowedOnNonLeafError(DirectoryError):
    """The operation needs a leaf entry, and this one has children."""

    def __init__(self, dn: str) -> None:
        super().__init__(f"entry has children: {dn!r}", dn=dn)


class PreconditionFailedError(DirectoryError):
    """The entry no longer matches what the caller read (RFC 4528 assertion failed)."""

    def __init__(self, dn: str) -> None:
        super().__init__(f"entry changed since it was read: {dn!r}", dn=dn)


class _DetailedDirectoryError(DirectoryError):
    """A directory error with a server-provided detail message."""

    label = "directory operation failed"

    def __init__(self, dn: str | None, detail: str = "") -> None:
        self.detail = detail
        suffix = f": {detail}" if detail else ""
        super().__init__(f"{self.label} on {dn!r}{suffix}", dn=dn)


class SchemaViolationError(_DetailedDirectoryError):
    """The server's schema refused the entry (object class, attribute type, syntax)."""

    label = "schema violation"


class AttributeValueError(_DetailedDirectoryError):
    """A value to delete is absent, or a value to add is already present."""

    label = "attribute value conflict"


class ConstraintViolationError(_DetailedDirectoryError):
    """A constraint refused the change (password quality, single value, size)."""

    label = "constraint violation"


class InsufficientAccessError(_DetailedDirectoryError):
    """The bound identity is not allowed to perform the operation."""

    label = "insufficient access"


class DirectoryOperationError(_DetailedDirectoryError):
    """Any other failure reported by the directory.

    Attributes:
        result_code: The LDAP result code (RFC 4511), or ``None`` for a client-side failure.
    """

    label = "directory operation failed"

    def __init__(self, dn: str | None, detail: str = "", result_code: int | None = None) -> None:
        self.result_code = result_code
        code = f"(result {result_code})" if result_code is not None else ""
        super().__init__(dn, " ".join(part for part in (detail, code) if part))
