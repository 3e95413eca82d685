"""The store's errors: their place in the tree, the data they carry, their messages."""

from __future__ import annotations

import pytest

from ecampus_idm.errors import IdmError
from ecampus_idm.store import errors
from ecampus_idm.store.errors import (
    PersonHasUsernameError,
    RunFinishedError,
    RunNotFoundError,
    SchemaVersionError,
    SensitiveDataError,
    StoreError,
    StoreUnavailableError,
    UsernameNotFoundError,
    UsernameTakenError,
)

URL = "postgresql+psycopg://idm@db.ecampus.test/ecampus"


@pytest.mark.parametrize("name", sorted(errors.__all__), ids=str)
def test_every_store_error_is_a_store_error(name: str) -> None:
    """Everything the module exports is a StoreError, hence an IdmError."""
    exported = getattr(errors, name)
    assert issubclass(exported, StoreError)
    assert issubclass(exported, IdmError)


def test_unavailable_names_url_and_reason() -> None:
    """An unavailable store names its URL and the reason."""
    error = StoreUnavailableError(URL, "connection refused")
    assert (error.url, error.reason) == (URL, "connection refused")
    assert str(error) == f"state store {URL} is unavailable: connection refused"


def test_newer_schema_message_says_upgrade() -> None:
    """A database newer than the code asks for a newer ecampus-idm."""
    error = SchemaVersionError(URL, found=3, supported=2)
    assert (error.found, error.supported, error.url) == (3, 2, URL)
    assert "upgrade ecampus-idm" in str(error)


def test_older_schema_message_says_migrate() -> None:
    """A database older than the code asks for migrations."""
    assert "migrations allowed" in str(SchemaVersionError(URL, found=0, supported=1))


@pytest.mark.parametrize(
    ("tombstoned", "words"),
    [(False, "held by someone else"), (True, "never re-issued")],
    ids=["live", "tombstone"],
)
def test_username_taken_says_why(tombstoned: bool, words: str) -> None:
    """A taken username says whether it is live or a tombstone."""
    error = UsernameTakenError("jean.dupont", tombstoned=tombstoned)
    assert error.username == "jean.dupont"
    assert error.tombstoned is tombstoned
    assert words in str(error)


def test_person_has_username_carries_both() -> None:
    """The error names the person and the username they hold."""
    error = PersonHasUsernameError("p1", "jean.dupont")
    assert (error.person_id, error.username) == ("p1", "jean.dupont")


def test_run_errors_carry_the_run() -> None:
    """Run errors carry the run id (and the final status)."""
    assert RunNotFoundError(7).run_id == 7
    finished = RunFinishedError(7, "held")
    assert (finished.run_id, finished.status) == (7, "held")
    assert "held" in str(finished)


def test_username_not_found_carries_the_username() -> None:
    """Releasing an unknown username names it."""
    assert UsernameNotFoundError("nobody").username == "nobody"


def test_sensitive_data_names_field_not_value() -> None:
    """The refusal names where the value was and what it looked like."""
    error = SensitiveDataError("data.password", "a value under a secret's name")
    assert (error.field, error.what) == ("data.password", "a value under a secret's name")
    assert "data.password" in str(error)
