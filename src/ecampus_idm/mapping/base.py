"""The mapping port: what a directory profile (OpenLDAP, Active Directory) provides.

A profile turns one person's verdict into a desired person entry and a group name plus
its members into a desired group entry; :func:`desired_entries` does the rest, the same
way for every profile: person entries first, then one group per group name that active
accounts belong to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Protocol

from ecampus_idm.model import AccountStatus

if TYPE_CHECKING:
    from ecampus_idm.model import Person
    from ecampus_idm.policies import PersonVerdict
    from ecampus_idm.sync import DesiredEntry, ObservedEntry, PlanOptions, Segment, TargetSpec

__all__ = ["MappingProfile", "desired_entries"]


class MappingProfile(Protocol):
    """A directory layout: entries, containers, ownership and plan options."""

    def person(
        self, person: Person | None, verdict: PersonVerdict, today: date
    ) -> DesiredEntry | None:
        """The desired entry of one person's account, or ``None`` when there is none."""
        ...

    def group(self, name: str, member_dns: Iterable[str]) -> DesiredEntry:
        """The desired group ``name`` with these members."""
        ...

    def target(self) -> TargetSpec:
        """What the planner reads and owns in the directory."""
        ...

    def plan_options(self) -> PlanOptions:
        """Budgets and segmentation of the plan."""
        ...

    def segment_of(self, entry: ObservedEntry) -> Segment:
        """The category and school an observed entry belongs to (budgets per school)."""
        ...


def desired_entries(
    profile: MappingProfile,
    persons: Iterable[Person],
    verdicts: Iterable[PersonVerdict],
    today: date,
) -> list[DesiredEntry]:
    """Every desired person and group entry of a run, for ``profile``.

    Args:
        profile: The directory layout.
        persons: The persons the sources describe today.
        verdicts: The policy engine's verdicts (one per person known to sources or store).
        today: The run's local date (current attributions and enrolments).
    """
    people = {p.person_id: p for p in persons}
    entries: list[DesiredEntry] = []
    members: dict[str, list[str]] = {}
    for verdict in verdicts:
        entry = profile.person(people.get(verdict.person_id), verdict, today)
        if entry is None:
            continue
        entries.append(entry)
        if verdict.status is AccountStatus.ACTIVE:
            for group in verdict.groups:
                members.setdefault(group, []).append(entry.dn)
    entries.extend(profile.group(name, dns) for name, dns in sorted(members.items()))
    return entries
