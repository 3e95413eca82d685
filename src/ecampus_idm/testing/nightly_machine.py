"""A stateful property test of the nightly run: random nights, real servers, invariants.

:class:`NightlyMachine` is a hypothesis ``RuleBasedStateMachine``. Each example starts a
throwaway slapd and a recording SMTP server, opens a :class:`~ecampus_idm.testing.nightly.
NightlyWorld` (SQLite, or the store the :class:`MachineEnvironment` gives, e.g.
PostgreSQL) on 20 July 2026 with 24 people, runs the first night, then draws steps:

* people: a new student or staff member (sometimes a namesake of somebody, present or
  gone), a name change, a school move, a new attribution, an attribution ended, a
  person removed from one export or from all of them, a removed person back, a personal
  address corrected;
* sources: an export refused for one night (header only, empty, missing, misspelt path,
  a column missing, truncated) or its rows shuffled;
* the clock: a quiet night, a move across an opening day (PS 1 August, HE 1 September),
  a move to (or around) the day grace ends or a disabled account is deleted;
* faults: slapd SIGKILLed after ``n`` writes of a run (then restarted on the same data
  and the run redone), the SMTP server failing (down, 421, 451, 550 for one address,
  dropped mid-DATA) until it recovers.

Every step is one night (the clock moves, the exports are written, one real
:class:`~ecampus_idm.runner.NightlyRun` runs and flushes the outbox to SMTP), then the
invariants of :mod:`ecampus_idm.testing.invariants` are checked: all of them after a
night, the refusal check on a night some source was refused, and after a killed run
(before its re-run) the ones that must hold even then (passwords, usernames, mails). A
plan held by its budgets is approved by hash, as an operator would, except on a night a
source was refused (nothing is approved that night).

Budgets are hypothesis settings profiles, chosen by ``HYPOTHESIS_PROFILE``
(:func:`machine_settings`): ``ci`` (a few minutes in all) and ``soak`` (long runs,
``tests/benchmarks/soak_nightly.py``). Needs hypothesis and aiosmtpd (the ``dev`` extra).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)
from pydantic import SecretStr

from ecampus_idm.config import Settings, StoreSettings
from ecampus_idm.custody import open_custody
from ecampus_idm.directory.filters import eq
from ecampus_idm.errors import IdmError
from ecampus_idm.model import AccountStatus
from ecampus_idm.runner import RunReport
from ecampus_idm.store.base import RunStatus
from ecampus_idm.testing.invariants import Breach, InvariantChecker, Tally
from ecampus_idm.testing.nightly import (
    ACADEMIC_YEAR,
    SCHOOLS,
    SOURCES,
    STUDENT_SOURCES,
    Attribution,
    Human,
    KillAfterWrites,
    NightlyWorld,
    Refusal,
    SmtpFault,
)
from ecampus_idm.testing.slapd import start_slapd
from ecampus_idm.testing.smtp import SmtpServer

__all__ = [
    "LAST_NIGHT",
    "PROFILE_VARIABLE",
    "MachineEnvironment",
    "NightlyMachine",
    "machine_for",
    "machine_settings",
]

PROFILE_VARIABLE = "HYPOTHESIS_PROFILE"
LAST_NIGHT = date(ACADEMIC_YEAR + 1, 6, 30)
"""The clock never goes past the end of the academic year of the exports."""
_OPENINGS = (date(ACADEMIC_YEAR, 8, 1), date(ACADEMIC_YEAR, 9, 1))  # PS, HE
_MAX_SHRINK = 0.2  # the default ExportChecks.max_shrink_share

settings.register_profile(
    "ci",
    max_examples=10,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
settings.register_profile(
    "soak",
    max_examples=100_000,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def machine_settings(default: str = "ci") -> settings:
    """The settings profile named by ``HYPOTHESIS_PROFILE`` (``ci`` or ``soak``)."""
    return settings.get_profile(os.environ.get(PROFILE_VARIABLE, default))


StoreFactory = Callable[[], tuple[StoreSettings | None, Callable[[], None]]]
"""Returns one example's store settings (None: SQLite in its folder) and their cleanup."""


@dataclass
class MachineEnvironment:
    """What the examples of one machine share.

    Attributes:
        store: Makes each example's store (SQLite when it returns None).
        strict: Raise at the first night with a breach (the test); else only count
            (the soak's ``--keep-going``).
        tally: Figures of every example (steps, faults, invariants checked and held).
        breaches: In non-strict mode, every breach found, with its step.
        log: Called with a line per night (the soak's progress), if given.
    """

    store: StoreFactory = field(default=lambda: (None, lambda: None))
    strict: bool = True
    tally: Tally = field(default_factory=Tally)
    breaches: list[tuple[str, Breach]] = field(default_factory=list)
    log: Callable[[str], None] | None = None


def machine_for(environment: MachineEnvironment) -> type[NightlyMachine]:
    """A :class:`NightlyMachine` bound to ``environment`` (hand it to hypothesis)."""
    return type("NightlyMachine", (NightlyMachine,), {"environment": environment})


_PICK = st.integers(min_value=0, max_value=10_000)
_SOURCE = st.sampled_from(sorted(SOURCES))


class NightlyMachine(RuleBasedStateMachine):
    """Random nights of a small school group on real servers (see the module)."""

    environment: ClassVar[MachineEnvironment] = MachineEnvironment()

    def __init__(self) -> None:
        super().__init__()
        env = self.environment
        self.folder = Path(tempfile.mkdtemp(prefix="ecampus-nightly-"))
        self.slapd = start_slapd()
        self.smtp = SmtpServer()
        store, self._drop_store = env.store()
        self.world = NightlyWorld.open(
            self.folder / "world", slapd=self.slapd, smtp=self.smtp, store=store
        )
        self.checker = InvariantChecker(
            store=self.world.store,
            directory=self.world.directory,
            keyring=self.world.keyring,
            people_dn=self.slapd.people_dn,
            groups_dn=self.slapd.groups_dn,
            delivered=self.world.delivered,
            strict=env.strict,
            tally=env.tally,
        )
        self.tally = env.tally

    def teardown(self) -> None:
        """Stop the servers, drop the store."""
        try:
            self.world.close()
        finally:
            self.smtp.stop()
            self.slapd.stop()
            self._drop_store()
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- one night ------------------------------------------------------------------------

    def _advance(self, days: int = 1) -> None:
        world = self.world
        world.set_night(min(world.clock.today() + timedelta(days=days), LAST_NIGHT))

    def _night(
        self,
        step: str,
        *,
        spoil: tuple[str, Refusal | None, int] | None = None,
    ) -> RunReport:
        """Write tonight's exports (one spoiled, maybe), run, check every invariant."""
        world, checker = self.world, self.checker
        world.write_exports()
        run_settings: Settings | None = None
        if spoil is not None:
            source, way, pick = spoil
            run_settings = world.spoil(source, way, pick)
            self.tally.faults[f"export {way.value if way else 'shuffled'}"] += 1
        before = checker.snapshot()
        refusing = spoil is not None and spoil[1] is not None
        if refusing:
            report, approved = world.run(settings=run_settings), False
        else:
            report, approved = world.run_approving(settings=run_settings)
        if approved:
            self.tally.notes["held plan approved"] += 1
        self._count(step, report)
        after = checker.snapshot()
        spoilt = spoil[0] if spoil is not None else None
        if report.refused or refusing:
            checker.refused_sources_kept(
                before, after, report, expected=[spoilt] if refusing and spoilt else []
            )
        elif spoilt is not None:  # shuffled rows: accepted, and nobody of it changes
            checker.source_kept(spoilt, before, after)
        second = None
        if report.status is RunStatus.HELD:
            self.tally.notes["held plan left (refused source)"] += 1
        else:
            second = world.dry_run(settings=run_settings).plan
        checker.passwords_bind()
        checker.member_of()
        if report.status is not RunStatus.HELD:
            checker.nothing_left(second)
        checker.usernames_kept()
        checker.one_welcome()
        self._conclude(step)
        return report

    def _count(self, step: str, report: RunReport) -> None:
        self.tally.steps[step] += 1
        self.tally.notes[f"run {report.status.value}"] += 1
        for source in report.refused:
            self.tally.notes[f"refused {source}"] += 1
        log = self.environment.log
        if log is not None:
            counts = report.plan.counts() if report.plan is not None else {}
            done = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if n) or "nothing"
            log(f"{self.world.clock.today()} {step}: {report.status.value}, {done}")

    def _conclude(self, step: str) -> None:
        found = self.checker.conclude(f"{step} on {self.world.clock.today()}")
        self.environment.breaches.extend((step, b) for b in found)

    # -- the first night ------------------------------------------------------------------

    @initialize()
    def first_night(self) -> None:
        """The first run: staff accounts; students wait for their school's opening."""
        self._night("first_night")

    # -- people ---------------------------------------------------------------------------

    def _pick(self, people: list[Human], pick: int) -> Human:
        return people[pick % len(people)]

    @rule(
        kind=st.sampled_from(("he", "ps", "staff", "staff-studies")),
        namesake=st.booleans(),
        pick=_PICK,
    )
    def new_person(self, kind: str, namesake: bool, pick: int) -> None:
        """A new student or staff member, maybe with the name of somebody (present or gone)."""
        population = self.world.population
        everyone = list(population.humans.values())
        like = self._pick(everyone, pick) if namesake else None
        if kind in ("he", "ps"):
            population.new_student(kind.upper(), namesake_of=like)
        else:
            population.new_staff(
                studies="HE" if kind == "staff-studies" else None, namesake_of=like
            )
        self._advance()
        self._night("new_person")

    @precondition(lambda self: bool(self.world.population.listed()))
    @rule(pick=_PICK, family=_PICK)
    def name_change(self, pick: int, family: int) -> None:
        """A family name changes in every export (a marriage)."""
        human = self._pick(self.world.population.listed(), pick)
        human.family = ("Dupont-Lefèvre", "Van Acker", "Leclercq", "Noël-Frère")[family % 4]
        self._advance()
        self._night("name_change")

    @precondition(lambda self: bool(self._students()))
    @rule(pick=_PICK)
    def school_move(self, pick: int) -> None:
        """A student moves to the other school of their category."""
        human, source = self._pick_student(pick)
        enrolment = human.enrolments[source]
        category = next(c for c, s in STUDENT_SOURCES.items() if s == source)
        others = [c for c, _, cat in SCHOOLS if cat == category and c != enrolment.school]
        enrolment.school = others[pick % len(others)]
        self._advance()
        self._night("school_move")

    @precondition(lambda self: bool(self._staff()))
    @rule(pick=_PICK)
    def new_attribution(self, pick: int) -> None:
        """A staff member gets another attribution."""
        self.world.population.attribute(self._pick(self._staff(), pick))
        self._advance()
        self._night("new_attribution")

    @precondition(lambda self: bool(self._current_attributions()))
    @rule(pick=_PICK)
    def attribution_ended(self, pick: int) -> None:
        """An attribution ends yesterday (its row stays in the export, with its end date)."""
        self._advance()
        attributions = self._current_attributions()
        attribution = attributions[pick % len(attributions)]
        attribution.end = self.world.clock.today() - timedelta(days=1)
        self._night("attribution_ended")

    @precondition(lambda self: bool(self._removable()))
    @rule(pick=_PICK)
    def person_removed(self, pick: int) -> None:
        """Somebody disappears from one export, or from all of theirs."""
        removable = self._removable()
        human, source = removable[pick % len(removable)]
        self.world.population.remove(human, source)
        self._advance()
        self._night("person_removed")

    @precondition(lambda self: bool(self._returnable()))
    @rule(pick=_PICK)
    def person_returns(self, pick: int) -> None:
        """Somebody removed earlier is listed again, as before."""
        numbers = self._returnable()
        self.world.population.bring_back(numbers[pick % len(numbers)])
        self._advance()
        self._night("person_returns")

    @precondition(lambda self: bool(self.world.population.listed()))
    @rule(pick=_PICK)
    def address_corrected(self, pick: int) -> None:
        """The secretariat or personnel office corrects a personal address."""
        human = self._pick(self.world.population.listed(), pick)
        local, domain = human.email.split("@", 1)
        human.email = f"{local}.corrige@{domain}"
        self._advance()
        self._night("address_corrected")

    @precondition(lambda self: bool(self._held()))
    @rule(pick=_PICK, by_user=st.booleans())
    def password_changed_in_directory(self, pick: int, by_user: bool) -> None:
        """A user changes the initial password (or an administrator resets it) directly.

        The next night must discard that custody: every held or mailed password of a
        usable account still binds, and none of the dead one is mailed again.
        """
        world = self.world
        held = self._held()
        person_id, dn = held[pick % len(held)]
        custody = open_custody(world.store, world.keyring)
        initial = custody.reveal(person_id)
        assert initial is not None  # noqa: S101 - held_people said so
        chosen = SecretStr(f"Quartz-Lagune-{pick:05d}-Pivoine")
        world.directory.set_password(dn, chosen, old_password=initial if by_user else None)
        self.tally.faults[f"password changed by {'user' if by_user else 'administrator'}"] += 1
        self._advance()
        self._night("password_changed_in_directory")

    # -- sources --------------------------------------------------------------------------

    @rule(source=_SOURCE, way=st.sampled_from(list(Refusal)), pick=_PICK)
    def export_refused(self, source: str, way: Refusal, pick: int) -> None:
        """One export is refused tonight; it is right again the next night."""
        self._advance()
        self._night("export_refused", spoil=(source, way, pick))

    @rule(source=_SOURCE, pick=_PICK)
    def rows_shuffled(self, source: str, pick: int) -> None:
        """One export's rows come in another order: accepted, nobody changes."""
        self._advance()
        self._night("rows_shuffled", spoil=(source, None, pick))

    # -- the clock ------------------------------------------------------------------------

    @rule()
    def quiet_night(self) -> None:
        """A night with nothing new in the exports."""
        self._advance()
        self._night("quiet_night")

    @precondition(lambda self: self.world.clock.today() < _OPENINGS[-1])
    @rule(eve=st.booleans())
    def across_opening(self, eve: bool) -> None:
        """The next opening day (PS 1 August, HE 1 September), or its eve."""
        today = self.world.clock.today()
        opening = next(d for d in _OPENINGS if d > today)
        day = (
            opening - timedelta(days=1) if eve and opening - timedelta(days=1) > today else opening
        )
        self.world.set_night(day)
        self._night("across_opening")

    @precondition(lambda self: bool(self._boundaries()))
    @rule(pick=_PICK, offset=st.sampled_from((0, -1, 1)))
    def lifecycle_boundary(self, pick: int, offset: int) -> None:
        """The day an account in grace is disabled, or a disabled one deleted (or around)."""
        today = self.world.clock.today()
        days = self._boundaries()
        day = days[pick % len(days)] + timedelta(days=offset)
        self.world.set_night(min(max(day, today + timedelta(days=1)), LAST_NIGHT))
        self._night("lifecycle_boundary")

    # -- faults ---------------------------------------------------------------------------

    @rule(
        newcomers=st.integers(min_value=1, max_value=6),
        after=st.integers(min_value=0, max_value=10),
        pick=_PICK,
    )
    def directory_killed(self, newcomers: int, after: int, pick: int) -> None:
        """The directory dies (SIGKILL) after ``after`` writes of tonight's run; restart, re-run."""
        world, checker = self.world, self.checker
        for index in range(newcomers):
            if (pick + index) % 3 == 0:
                world.population.new_staff()
            else:
                category = "HE" if world.clock.today() >= _OPENINGS[1] else "PS"
                world.population.new_student(category)
        self._advance()
        world.write_exports()
        killer = KillAfterWrites(world.directory, after, world.slapd.kill)
        try:
            report: RunReport | None = world.run(directory=killer)
        except IdmError as exc:
            report = None
            self.tally.notes[f"killed run raised {type(exc).__name__}"] += 1
        if not killer.killed:
            self.tally.notes["kill not reached (fewer writes)"] += 1
            assert report is not None  # noqa: S101 - the run raised only if killed
            self._count("directory_killed (not reached)", report)
            checker.passwords_bind()
            checker.member_of()
            checker.nothing_left(world.dry_run().plan)
            checker.usernames_kept()
            checker.one_welcome()
            self._conclude("directory_killed (not reached)")
            return
        self.tally.faults["slapd killed mid-apply"] += 1
        checker.directory = world.restart_directory()
        if report is not None:
            self._count("directory_killed", report)
        # What the killed run recorded and mailed must be true, even before the re-run.
        checker.passwords_bind()
        checker.usernames_kept()
        checker.one_welcome()
        self._conclude("directory_killed (the killed run)")
        self._night("directory_killed (the re-run)")

    @precondition(lambda self: self.world.fault is None)
    @rule(fault=st.sampled_from(list(SmtpFault)), pick=_PICK)
    def smtp_fails(self, fault: SmtpFault, pick: int) -> None:
        """The SMTP server starts failing (until it recovers); tonight's flush meets it."""
        self.world.smtp_fails(fault, pick)
        self.tally.faults[f"smtp {fault.value}"] += 1
        self._advance()
        self._night("smtp_fails")

    @precondition(lambda self: self.world.fault is not None)
    @rule()
    def smtp_recovers(self) -> None:
        """The SMTP server behaves again; tonight's flush delivers what is due."""
        self.world.smtp_recovers()
        self._advance()
        self._night("smtp_recovers")

    # -- candidates -----------------------------------------------------------------------

    def _students(self) -> list[tuple[Human, str]]:
        return [
            (h, s)
            for h in self.world.population.humans.values()
            for s in h.enrolments
            if s in STUDENT_SOURCES.values()
        ]

    def _pick_student(self, pick: int) -> tuple[Human, str]:
        students = self._students()
        return students[pick % len(students)]

    def _staff(self) -> list[Human]:
        return self.world.population.in_source("personnel")

    def _current_attributions(self) -> list[Attribution]:
        today = self.world.clock.today()
        return [
            a
            for h in self._staff()
            for a in h.attributions
            if a.end is None or a.end > today + timedelta(days=1)
        ]

    def _rows(self, source: str) -> int:
        return len(self.world.population.rows(source))

    def _shrink_ok(self, source: str, lost: int) -> bool:
        """Whether ``source`` losing ``lost`` rows stays within the shrink check."""
        last = self.world.store.last_accepted(source)
        rows = self._rows(source) - lost
        floor = (last.rows if last is not None else self._rows(source)) * (1 - _MAX_SHRINK)
        return rows >= max(floor, 4)

    def _removable(self) -> list[tuple[Human, str | None]]:
        found: list[tuple[Human, str | None]] = []
        for human in self.world.population.listed():
            rows = {s: (len(human.attributions) if s == "personnel" else 1) for s in human.sources}
            for source, lost in rows.items():
                if self._shrink_ok(source, lost):
                    found.append((human, source))
            if len(rows) > 1 and all(self._shrink_ok(s, n) for s, n in rows.items()):
                found.append((human, None))  # out of every export at once
        return found

    def _held(self) -> list[tuple[str, str]]:
        """Usable accounts whose initial password is held, with their entry's DN."""
        world = self.world
        held = open_custody(world.store, world.keyring).held_people()
        if not held:
            return []
        usable = {p for p, r in world.store.accounts().items() if r.status is AccountStatus.ACTIVE}
        entries = world.directory.search(
            self.slapd.people_dn, eq("objectClass", "ecampusPerson"), attributes=["ecampusPersonId"]
        )
        return sorted(
            (person_id, e.dn)
            for e in entries
            if (person_id := e.first("ecampusPersonId") or "") in held & usable
        )

    def _returnable(self) -> list[int]:
        return sorted(self.world.population.gone)

    def _boundaries(self) -> list[date]:
        today = self.world.clock.today()
        days = self.world.boundaries(AccountStatus.GRACE) + self.world.boundaries(
            AccountStatus.DISABLED
        )
        return sorted(d for d in days if today < d <= LAST_NIGHT)
