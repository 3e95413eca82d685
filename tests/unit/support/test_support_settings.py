"""The [support] settings: operators, their schools, the next nightly run."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from ecampus_idm.clock import BRUSSELS
from ecampus_idm.config import Settings
from ecampus_idm.support.settings import OperatorSettings, SupportSettings

DIRECTORY = {"url": "ldap://x", "bind_dn": "cn=a,dc=x", "bind_password": "p", "base_dn": "dc=x"}


def test_defaults_configure_no_operator() -> None:
    """Without configuration nobody may list anything."""
    assert Settings(directory=DIRECTORY).support.operators == ()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 9, 11, 8, 0, tzinfo=UTC), datetime(2026, 9, 12, 2, 0, tzinfo=BRUSSELS)),
        (datetime(2026, 9, 10, 23, 0, tzinfo=UTC), datetime(2026, 9, 11, 2, 0, tzinfo=BRUSSELS)),
        (datetime(2026, 9, 10, 22, 30, tzinfo=UTC), datetime(2026, 9, 11, 2, 0, tzinfo=BRUSSELS)),
    ],
    ids=["morning", "after-midnight-local", "just-before-midnight"],
)
def test_next_run_is_the_next_local_run_time(now: datetime, expected: datetime) -> None:
    """The next run is the next 02:00, Brussels time."""
    assert SupportSettings().next_run(now, BRUSSELS) == expected


def test_next_run_follows_the_configured_time() -> None:
    """A run configured at 23:15 is still to come at 20:00 the same day."""
    support = SupportSettings(nightly_run_time=time(23, 15))
    now = datetime(2026, 1, 5, 19, 0, tzinfo=UTC)  # 20:00 in Brussels
    assert support.next_run(now, BRUSSELS) == datetime(2026, 1, 5, 23, 15, tzinfo=BRUSSELS)


def test_operator_sees_its_schools_case_insensitively() -> None:
    """An operator of HEC-TOURNAI may see hec-tournai, not HEC-MONS."""
    operator = OperatorSettings(name="sec", schools=("HEC-TOURNAI",))
    assert operator.may_see("hec-tournai")
    assert not operator.may_see("HEC-MONS")


def test_star_means_every_school() -> None:
    """``*`` gives every school (the support desk)."""
    assert OperatorSettings(name="desk", schools=("*",)).may_see("AR-ATH")


def test_duplicate_operator_names_are_refused() -> None:
    """Two operators with the same name are a configuration error naming it."""
    with pytest.raises(ValidationError, match="duplicated: sec"):
        SupportSettings(
            operators=(
                OperatorSettings(name="sec", schools=("A",)),
                OperatorSettings(name="SEC", schools=("B",)),
            )
        )


def test_operator_without_school_is_refused() -> None:
    """An operator must name at least one school."""
    with pytest.raises(ValidationError):
        OperatorSettings(name="sec", schools=())


def test_negative_retention_is_refused() -> None:
    """A retention period cannot be negative."""
    with pytest.raises(ValidationError):
        SupportSettings(event_retention_days=-1)
