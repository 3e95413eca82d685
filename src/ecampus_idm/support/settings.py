"""Configuration of the support tools: operators and their schools, retention, languages.

The section, under ``[support]`` of the configuration file::

    [support]
    nightly_run_time = "02:00"      # local time of the nightly run (cron), for "when"
    default_language = "fr"
    event_retention_days = 400      # initial passwords: mail.custody_days

    [[support.operators]]
    name = "secretariat-hec-tournai"
    schools = ["HEC-TOURNAI"]

    [[support.operators]]
    name = "helpdesk"
    schools = ["*"]                 # every school

Defaults are safe: no operator is configured, so nobody can print a listing until the
installation says who may see which school.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ALL_SCHOOLS",
    "DEFAULT_EVENT_RETENTION_DAYS",
    "Language",
    "OperatorSettings",
    "SupportSettings",
]

Language = Literal["fr", "en"]
"""A language the support texts are written in."""

ALL_SCHOOLS = "*"
"""In an operator's ``schools``: every configured school (the support desk)."""

DEFAULT_EVENT_RETENTION_DAYS = 400
"""Events are kept a full academic year plus the next start of year (13 months)."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class OperatorSettings(_Section):
    """Someone (a secretariat, the help desk) allowed to list schools' accounts.

    Attributes:
        name: The operator's name, as given to ``--operator`` and kept in the audit events.
        schools: School codes the operator may list, or ``["*"]`` for every school.
    """

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    schools: tuple[str, ...] = Field(min_length=1)

    def may_see(self, school: str) -> bool:
        """Whether the operator may list ``school`` (codes compare case-insensitively)."""
        wanted = school.casefold()
        return any(code == ALL_SCHOOLS or code.casefold() == wanted for code in self.schools)


class SupportSettings(_Section):
    """The ``[support]`` section.

    Attributes:
        operators: Who may print which school's listing.
        nightly_run_time: Local time at which the nightly run starts (the cron entry):
            a corrected address gets its mail at the next such time.
        default_language: Language of the diagnosis when none is asked for.
        languages: Languages the texts can be asked in.
        event_retention_days: Events older than this are purged (0 keeps them forever).
            (The initial passwords' period is ``mail.custody_days``, shared by the run
            and the purge.)
    """

    operators: tuple[OperatorSettings, ...] = ()
    nightly_run_time: time = time(2, 0)
    default_language: Language = "fr"
    languages: tuple[Language, ...] = ("fr", "en")
    event_retention_days: int = Field(default=DEFAULT_EVENT_RETENTION_DAYS, ge=0, le=3650)

    @field_validator("operators")
    @classmethod
    def _unique_names(cls, value: tuple[OperatorSettings, ...]) -> tuple[OperatorSettings, ...]:
        names = [o.name.casefold() for o in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"unique operator names (duplicated: {', '.join(twice)})")
        return value

    def operator(self, name: str) -> OperatorSettings | None:
        """Return the operator called ``name`` (case-insensitive), if configured."""
        wanted = name.casefold()
        return next((o for o in self.operators if o.name.casefold() == wanted), None)

    def next_run(self, now: datetime, zone: ZoneInfo) -> datetime:
        """Return when the next nightly run starts after ``now`` (aware, in ``zone``)."""
        local = now.astimezone(zone)
        day: date = local.date()
        start = datetime.combine(day, self.nightly_run_time, tzinfo=zone)
        if start <= local:
            start = datetime.combine(day + timedelta(days=1), self.nightly_run_time, tzinfo=zone)
        return start
