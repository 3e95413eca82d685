"""Unit tests of the exception tree: hierarchy, carried data and messages."""

from __future__ import annotations

import pytest

from ecampus_idm import errors
from ecampus_idm.errors import (
    AttributeValueError,
    ConfigError,
    ConstraintViolationError,
    DirectoryBindError,
    DirectoryError,
    DirectoryOperationError,
    DirectoryUnavailableError,
    EntryAlreadyExistsError,
    EntryNotFoundError,
    IdmError,
    InsufficientAccessError,
    InvalidCredentialsError,
    InvalidDnError,
    NotAllowedOnNonLeafError,
    SchemaViolationError,
)

DN = "uid=jean.dupont,ou=people,dc=ecampus,dc=test"
URL = "ldaps://ldap.ecampus.test:636"


@pytest.mark.parametrize("name", sorted(errors.__all__), ids=str)
def test_every_exported_error_is_an_idm_error(name: str) -> None:
    """Everything the errors module exports is an IdmError subclass."""
    exported = getattr(errors, name)
    assert isinstance(exported, type)
    assert issubclass(exported, IdmError)


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (IdmError, Exception),
        (ConfigError, IdmError),
        (DirectoryError, IdmError),
        (DirectoryUnavailableError, DirectoryError),
        (DirectoryBindError, DirectoryUnavailableError),
        (InvalidCredentialsError, DirectoryError),
        (InvalidDnError, DirectoryError),
        (EntryNotFoundError, DirectoryError),
        (EntryAlreadyExistsError, DirectoryError),
        (NotAllowedOnNonLeafError, DirectoryError),
        (SchemaViolationError, DirectoryError),
        (AttributeValueError, DirectoryError),
        (ConstraintViolationError, DirectoryError),
        (InsufficientAccessError, DirectoryError),
        (DirectoryOperationError, DirectoryError),
    ],
    ids=lambda value: value.__name__,
)
def test_tree(cls: type[Exception], parent: type[Exception]) -> None:
    """The hierarchy is the one drawn in the module docstring."""
    assert issubclass(cls, parent)


def test_config_error_is_not_a_directory_error() -> None:
    """Configuration and directory failures are separate branches."""
    assert not issubclass(ConfigError, DirectoryError)


def test_credentials_are_not_unavailability() -> None:
    """A user's bad password must not be mistaken for the directory being down."""
    assert not issubclass(InvalidCredentialsError, DirectoryUnavailableError)


@pytest.mark.parametrize(
    "cls",
    [
        InvalidCredentialsError,
        EntryNotFoundError,
        EntryAlreadyExistsError,
        NotAllowedOnNonLeafError,
        SchemaViolationError,
        AttributeValueError,
        ConstraintViolationError,
        InsufficientAccessError,
        DirectoryOperationError,
    ],
    ids=lambda value: value.__name__,
)
def test_dn_errors_carry_the_dn(cls: type[DirectoryError]) -> None:
    """Errors about an entry carry its DN and name it in the message."""
    err = cls(DN)
    assert err.dn == DN
    assert DN in str(err)


@pytest.mark.parametrize(
    ("cls", "label"),
    [
        (SchemaViolationError, "schema violation"),
        (AttributeValueError, "attribute value conflict"),
        (ConstraintViolationError, "constraint violation"),
        (InsufficientAccessError, "insufficient access"),
        (DirectoryOperationError, "directory operation failed"),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_detailed_errors_carry_the_server_detail(cls: type[DirectoryError], label: str) -> None:
    """Server-detailed errors say what kind of failure it was, and the server's words."""
    err = cls(DN, "password fails quality checking")  # type: ignore[call-arg]
    assert str(err) == f"{label} on {DN!r}: password fails quality checking"
    assert err.detail == "password fails quality checking"  # type: ignore[attr-defined]


def test_detailed_error_without_detail() -> None:
    """Without a detail the message ends after the DN."""
    assert str(SchemaViolationError(DN)) == f"schema violation on {DN!r}"


def test_operation_error_includes_result_code() -> None:
    """DirectoryOperationError carries and prints the LDAP result code."""
    err = DirectoryOperationError(DN, "busy", result_code=51)
    assert err.result_code == 51
    assert "busy (result 51)" in str(err)


def test_operation_error_result_code_without_detail() -> None:
    """The result code is printed even without a detail."""
    err = DirectoryOperationError(DN, result_code=80)
    assert "result 80" in str(err)


def test_operation_error_without_result_code() -> None:
    """A client-side failure has no result code."""
    err = DirectoryOperationError(None, "connection reset")
    assert err.result_code is None
    assert "result" not in str(err)
    assert err.dn is None


def test_unavailable_carries_url_and_reason() -> None:
    """DirectoryUnavailableError names the URL and the reason."""
    err = DirectoryUnavailableError(URL, "connection refused")
    assert (err.url, err.reason, err.dn) == (URL, "connection refused", None)
    assert str(err) == f"directory {URL} is unavailable: connection refused"


def test_bind_error_is_unavailable_with_bind_dn() -> None:
    """A refused service bind is an unavailability naming the URL and the bind DN."""
    bind_dn = "cn=ecampus-idm,ou=services,dc=ecampus,dc=test"
    err = DirectoryBindError(URL, bind_dn, "invalid credentials")
    assert isinstance(err, DirectoryUnavailableError)
    assert (err.url, err.bind_dn) == (URL, bind_dn)
    assert URL in str(err)
    assert bind_dn in str(err)
    assert "invalid credentials" in err.reason


def test_invalid_dn_carries_position() -> None:
    """InvalidDnError carries the DN and the failing position."""
    err = InvalidDnError("cn=a\\", 4, "dangling '\\' at the end")
    assert (err.dn, err.position) == ("cn=a\\", 4)
    assert "at position 4" in str(err)


def test_config_error_single_problem() -> None:
    """A single-problem ConfigError names source, key and expectation."""
    err = ConfigError("/etc/idm.toml", "directory.url", "an ldap:// URL")
    assert str(err) == "invalid configuration in /etc/idm.toml: directory.url: an ldap:// URL"
    assert err.problems == [("/etc/idm.toml", "directory.url", "an ldap:// URL")]


def test_config_error_file_level() -> None:
    """A file-level ConfigError has no key and no key-level problem."""
    err = ConfigError("/etc/idm.toml", None, "the file does not exist")
    assert str(err) == "invalid configuration in /etc/idm.toml: the file does not exist"
    assert err.key is None
    assert err.problems == []


def test_config_error_lists_every_problem() -> None:
    """A ConfigError with several problems lists each on its own line."""
    problems = [
        ("/etc/idm.toml", "directory.url", "an ldap:// URL"),
        ("ECAMPUS_IDM_DIRECTORY__PAGE_SIZE", "directory.page_size", "an integer"),
    ]
    err = ConfigError(*problems[0], problems=problems)
    assert str(err) == (
        "invalid configuration (2 problems):"
        "\n  - /etc/idm.toml: directory.url: an ldap:// URL"
        "\n  - ECAMPUS_IDM_DIRECTORY__PAGE_SIZE: directory.page_size: an integer"
    )
    assert (err.source, err.key, err.expected) == problems[0]
