"""The store's values: checked on construction, frozen, times in UTC."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ecampus_idm.model import AccountStatus
from ecampus_idm.store.base import (
    AccountRecord,
    Event,
    NewEvent,
    Run,
    RunStatus,
    UsernameRecord,
    aware_utc,
    validate_kind,
    validate_run_finish,
    validate_username,
)
from ecampus_idm.store.errors import SensitiveDataError

T0 = datetime(2026, 9, 1, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def test_aware_utc_converts_to_utc() -> None:
    """An aware datetime in another zone becomes the same instant in UTC."""
    local = datetime(2026, 9, 1, 2, 0, tzinfo=PLUS_TWO)
    converted = aware_utc("at", local)
    assert converted == local
    assert converted.tzinfo is UTC


def test_aware_utc_refuses_naive() -> None:
    """A naive datetime is refused, naming the field."""
    with pytest.raises(ValueError, match="started_at must be a timezone-aware"):
        aware_utc("started_at", datetime(2026, 9, 1))


@pytest.mark.parametrize(
    "username", ["jean.dupont", "j", "jean-marie.van-den-berg2", "0user"], ids=str
)
def test_valid_usernames(username: str) -> None:
    """Lower-case logins with dots, hyphens and digits are accepted."""
    assert validate_username(username) == username


@pytest.mark.parametrize(
    "username", ["", "Jean", "jean_dupont", "-jean", "jean dupont", "é", "a" * 65], ids=repr
)
def test_invalid_usernames(username: str) -> None:
    """Anything else is refused."""
    with pytest.raises(ValueError, match="invalid username"):
        validate_username(username)


@pytest.mark.parametrize("kind", ["Account.Created", "", "1run", "a b"], ids=repr)
def test_invalid_kinds(kind: str) -> None:
    """Kinds are lower-case dotted names."""
    with pytest.raises(ValueError, match="invalid event kind"):
        validate_kind("event kind", kind)


def test_new_event_freezes_its_data() -> None:
    """An event's data is copied and read-only: later changes to the input do not leak in."""
    data: dict[str, object] = {"school": "HEC"}
    event = NewEvent("p1", "x", "fr", "en", data=data)  # type: ignore[arg-type]
    data["school"] = "changed"
    assert event.data == {"school": "HEC"}
    with pytest.raises(TypeError):
        event.data["school"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    "data",
    [{"when": T0}, {"n": float("nan")}, {1: "x"}],
    ids=["datetime", "nan", "int-key"],
)
def test_new_event_refuses_non_json_data(data: dict[object, object]) -> None:
    """Data must be plain JSON: no datetimes, no NaN, string keys."""
    with pytest.raises(ValueError, match="JSON data"):
        NewEvent("p1", "x", "fr", "en", data=data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"person_id": ""},
        {"person_id": "x" * 65},
        {"reason_fr": ""},
        {"reason_en": "x" * 2001},
    ],
    ids=["empty-person", "long-person", "empty-reason", "long-reason"],
)
def test_new_event_refuses_bad_fields(fields: dict[str, str]) -> None:
    """Person ids and reasons have bounds."""
    values = {"person_id": "p1", "kind": "x", "reason_fr": "fr", "reason_en": "en"} | fields
    with pytest.raises(ValueError, match="characters"):
        NewEvent(**values)


def test_new_event_data_must_be_an_object() -> None:
    """Event data is a JSON object, not a list."""
    with pytest.raises(TypeError, match="JSON object"):
        NewEvent("p1", "x", "fr", "en", data=["a"])  # type: ignore[arg-type]


def test_new_event_refuses_a_national_number_as_person() -> None:
    """A person id is never a national number."""
    with pytest.raises(SensitiveDataError):
        NewEvent("85073003328", "x", "fr", "en")


def test_event_time_is_normalised_to_utc() -> None:
    """An event built with a local time holds it in UTC."""
    event = Event(1, "p1", None, datetime(2026, 9, 1, 2, tzinfo=PLUS_TWO), "x", "fr", "en")
    assert event.at == T0
    assert event.at.tzinfo is UTC


def test_values_are_frozen() -> None:
    """Store values cannot be changed after construction."""
    record = UsernameRecord("jean.dupont", "p1", T0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.username = "other"  # type: ignore[misc]


def test_values_with_mappings_are_hashable() -> None:
    """Runs and events can be put in sets despite their mappings."""
    run = Run(1, "run", RunStatus.SUCCEEDED, T0, T0, counts={"create": 1})
    event = Event(1, "p1", 1, T0, "x", "fr", "en", data={"a": 1})
    assert len({run, run}) == 1
    assert len({event, event}) == 1


def test_run_finished_follows_status() -> None:
    """A run is finished once its status is no longer 'running'."""
    assert not Run(1, "run", RunStatus.RUNNING, T0).finished
    assert Run(1, "run", RunStatus.HELD, T0, T0).finished


@pytest.mark.parametrize(
    "counts", [{"create": "3"}, {"create": True}, {"create": 1.5}], ids=["str", "bool", "float"]
)
def test_run_counts_are_integers(counts: dict[str, object]) -> None:
    """Counts map names to integers, nothing else."""
    with pytest.raises(TypeError, match="integers"):
        validate_run_finish(counts, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("plan_hash", "message"),
    [("", None), ("h" * 129, None), (None, "m" * 2001)],
    ids=["empty-hash", "long-hash", "long-message"],
)
def test_run_texts_have_bounds(plan_hash: str | None, message: str | None) -> None:
    """Plan hashes and run messages have length limits."""
    with pytest.raises(ValueError, match="characters"):
        validate_run_finish(None, plan_hash, message)


def test_run_message_is_checked_for_national_numbers() -> None:
    """A run's message cannot smuggle a national number in either."""
    with pytest.raises(SensitiveDataError):
        validate_run_finish(None, None, "échec pour 85.07.30-033.28")


def test_username_record_tombstoned() -> None:
    """A record with a release time is a tombstone."""
    assert not UsernameRecord("a", "p1", T0).tombstoned
    assert UsernameRecord("a", "p1", T0, T0 + timedelta(days=1)).tombstoned


def test_account_status_cannot_predate_creation() -> None:
    """An account cannot enter a status before it exists."""
    with pytest.raises(ValueError, match="before it is created"):
        AccountRecord("p1", AccountStatus.ACTIVE, T0, T0 - timedelta(seconds=1))


def test_account_status_is_coerced_from_text() -> None:
    """A status given as text becomes the enum."""
    record = AccountRecord("p1", "grace", T0, T0)  # type: ignore[arg-type]
    assert record.status is AccountStatus.GRACE


def test_account_refuses_naive_last_seen() -> None:
    """Every time in an account record must be aware."""
    with pytest.raises(ValueError, match="last_seen_in_sources"):
        AccountRecord("p1", AccountStatus.ACTIVE, T0, T0, datetime(2026, 9, 2))
