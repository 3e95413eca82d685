"""One nightly run, end to end: sources → policies → mapping → plan → apply → store.

:class:`NightlyRun` wires the parts that each do one thing:

1. **sources** — every configured connector is read, validated and correlated
   (:func:`~ecampus_idm.identity.population.load_population`); a source refused by its
   whole-export checks (or missing, or unreadable) is not used, and its people are
   *frozen*: every person an earlier run read from it, and every person no accepted
   source lists, is left exactly as they are (status, roles, schools, groups, store
   record); the run ends ``partial`` and names the source;
2. **policies** — :class:`~ecampus_idm.policies.engine.PolicyEngine` decides, for every
   person known to the sources or the store, the account status, username and access;
3. **mapping** — the OpenLDAP profile turns verdicts into desired entries;
4. **plan** — one snapshot read of the directory, then the pure diff with its budgets;
5. **apply** — the only writer; initial passwords are generated here and go straight into
   the entries (or onto an entry whose add an interrupted run never saw confirmed);
6. **store** — usernames are reserved before the entries exist, and the run, the account
   memory and one event per lifecycle change are recorded after, for what the directory
   confirmed only (a person whose operation failed, was not attempted or lost its answer
   keeps their previous record, and the next run's read settles it); in that same
   transaction each initial password is deposited (encrypted) in the custody and its
   welcome mail enqueued, and corrected personal addresses get the credentials again
   (:mod:`ecampus_idm.mail.welcome`); the outbox is delivered by ``mail send``, or at the
   end of the run with ``mail.flush_after_run``.

A plan over budget is *held*: nothing is written and the run ends with status ``held``;
``run(approve=hash)`` recomputes the plan and applies it only if it is still exactly the
reviewed one (same hash).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from ecampus_idm.clock import Clock
from ecampus_idm.config import Settings
from ecampus_idm.connectors.base import Connector, ExportFacts, ExportLedger
from ecampus_idm.directory.base import Directory
from ecampus_idm.errors import IdmError
from ecampus_idm.identity.population import load_population
from ecampus_idm.identity.pseudonym import Pseudonymiser
from ecampus_idm.mail.delivery import FLUSH_LOCK, OutboxMailer
from ecampus_idm.mail.welcome import Addressee, WelcomeDesk
from ecampus_idm.mail.wiring import build_mailer, keyring_from_settings
from ecampus_idm.mapping.active_directory import profile_for
from ecampus_idm.model import (
    Account,
    AccountStatus,
    Attribution,
    EmailIssue,
    Enrolment,
    Language,
    Person,
    Role,
)
from ecampus_idm.passwords.vocabulary import AccountVocabulary, InitialPasswordState
from ecampus_idm.policies.base import PersonHistory, StoreSnapshot
from ecampus_idm.policies.engine import PersonVerdict, PolicyEngine
from ecampus_idm.store.base import (
    AccountRecord,
    IdentityLinks,
    NewEvent,
    Run,
    RunStatus,
    Store,
)
from ecampus_idm.store.errors import (
    PersonHasUsernameError,
    RunInProgressError,
    UsernameTakenError,
)
from ecampus_idm.sync.apply import ApplyReport, PlanApprovalError, apply
from ecampus_idm.sync.model import Conflict, EntryKind, ObservedEntry, Operation, OpKind
from ecampus_idm.sync.plan import Plan, plan
from ecampus_idm.sync.review import plan_drift, plan_to_ldif
from ecampus_idm.sync.target import read_snapshot

__all__ = ["NightlyRun", "Progress", "ReadOnlyLedger", "RunInProgressError", "RunReport"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int | None], None]
"""Called as ``progress(step, done, total)`` during long steps (total None: unknown)."""

_MAILABLE = frozenset({AccountStatus.ACTIVE})
RUN_LOCK_HOURS = 6
"""A run still marked running after this long is taken for crashed, not in progress."""
# RunInProgressError lives with the store that raises it (store.errors); re-exported here.


@dataclass
class RunReport:
    """What a run (or a dry run) found and did.

    Attributes:
        status: How it ended (the CLI's exit code follows it).
        run_id: The store's id of the run.
        people: People read from the sources.
        quarantined: Rows set aside by validation.
        refused: Sources not used, with the reason.
        reviews: Possible duplicates left for a human.
        accounts: Verdicts per account status (``pending`` for people without account yet).
        plan: The plan (operations deferred because of a refused source removed).
        deferred: Operations deferred because a source was refused.
        applied: The apply report, when the plan was applied.
        message: One human sentence.
        school_names: School code to name, to explain the plan's segments.
    """

    status: RunStatus
    run_id: int | None = None
    people: int = 0
    quarantined: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    reviews: int = 0
    accounts: Counter[str] = field(default_factory=Counter)
    plan: Plan | None = None
    deferred: int = 0
    applied: ApplyReport | None = None
    message: str = ""
    mail: dict[str, Any] | None = None
    school_names: dict[str, str] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form (never a password)."""
        return {
            "status": self.status.value,
            "run_id": self.run_id,
            "people": self.people,
            "quarantined": self.quarantined,
            "refused_sources": self.refused,
            "reviews": self.reviews,
            "accounts": dict(sorted(self.accounts.items())),
            "plan": None
            if self.plan is None
            else {
                "hash": self.plan.hash,
                "held": self.plan.held,
                "counts": self.plan.counts(),
                "per_segment": self.plan.counts_per_segment(),
                "segments": self.plan.segment_labels(self.school_names),
                "tripped": [t.message for t in self.plan.tripped],
                "conflicts": len(self.plan.conflicts),
            },
            "deferred": self.deferred,
            "applied": None if self.applied is None else self.applied.to_dict(),
            "mail": self.mail,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class _Fate:
    """What the run needs to remember of one verdict once the plan is made.

    Persons and full verdicts (every decision for support) are dropped after mapping: at
    100,000 people they are most of the run's memory.
    """

    person_id: str
    present: bool
    status: AccountStatus | None
    username: str | None
    new_account: bool
    roles: frozenset[Role]
    display_name: str
    reason: tuple[str, str] | None  # the lifecycle decision, French and English
    email: str | None = field(default=None, repr=False)  # where the welcome mail goes
    email_issue: EmailIssue | None = None  # why there is no email (a typo): the mail is held
    language: Language | None = None  # the mails' language, when a source column says it
    language_issue: bool = False  # a source's language column held none of fr, nl, en
    enrolled_at: tuple[str, ...] = ()  # the open schools of the enrolments (welcome mail)
    attributed_at: tuple[str, ...] = ()  # the open schools of the attributions

    @classmethod
    def of(cls, verdict: PersonVerdict, person: Person | None) -> _Fate:
        decision = next(
            (d for d in reversed(verdict.decisions) if d.reason.code.startswith("lifecycle")),
            verdict.decisions[0] if verdict.decisions else None,
        )
        return cls(
            person_id=verdict.person_id,
            present=verdict.present,
            status=verdict.status,
            username=verdict.username,
            new_account=verdict.new_account,
            # The open roles of an active account (a role whose school is not open yet
            # shows nowhere, not even in the welcome mail's template); else the sources'.
            roles=verdict.roles or (person.roles if person is not None else frozenset()),
            display_name=person.display_name if person is not None else "",
            reason=(decision.reason.fr, decision.reason.en) if decision else None,
            email=person.personal_email if person is not None else None,
            email_issue=person.email_issue if person is not None else None,
            language=person.language if person is not None else None,
            language_issue=person.language_issue if person is not None else False,
            enrolled_at=_open(verdict, person.enrolments if person is not None else ()),
            attributed_at=_open(verdict, person.attributions if person is not None else ()),
        )


def _open(verdict: PersonVerdict, places: Iterable[Enrolment | Attribution]) -> tuple[str, ...]:
    """The school codes of ``places`` the person has access to today, sorted."""
    return tuple(sorted({p.school for p in places} & verdict.schools))


@dataclass
class _Prepared:
    people: int
    quarantined: int
    refused: dict[str, str]
    reviews: int
    complete: bool
    fates: dict[str, _Fate]
    plan: Plan
    deferred: int
    frozen: frozenset[str] = frozenset()
    # Person id to (state, DN) of each managed entry whose initial password may be gone.
    passwords: dict[str, tuple[InitialPasswordState, str]] = field(default_factory=dict)


class ReadOnlyLedger:
    """A ledger that answers but never records: a dry run must not move the baseline."""

    def __init__(self, inner: ExportLedger) -> None:
        self._inner = inner

    def last_accepted(self, source: str) -> ExportFacts | None:
        """Return the inner ledger's last accepted export of ``source``."""
        return self._inner.last_accepted(source)

    def record_accepted(self, facts: ExportFacts) -> None:
        """Record nothing."""
        del facts


class NightlyRun:
    """The nightly job, wired from the configuration and injected components.

    Args:
        settings: The configuration (sources, policies, directory layout, schools).
        clock: The run's clock (the calendar rules use its local date).
        store: The state store.
        directory: The target directory.
        connectors: The opened sources, in order of precedence.
        engine: The policy engine (built from ``settings.policies`` when None).
        progress: Called during long steps, for progress bars.
        mailer: Delivers the outbox when ``mail.flush_after_run`` is set (built from the
            settings when None).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        store: Store,
        directory: Directory,
        connectors: Sequence[Connector],
        engine: PolicyEngine | None = None,
        progress: Progress | None = None,
        mailer: OutboxMailer | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.directory = directory
        self.connectors = list(connectors)
        self.engine = engine or PolicyEngine(settings.policies)
        self.profile = profile_for(settings)  # OpenLDAP or AD, by directory.kind
        self.progress = progress
        self.mailer = mailer
        self.welcome = (
            WelcomeDesk(
                store,
                keyring_from_settings(settings),
                settings.mail,
                schools=settings.schools,
            )
            if settings.mail.enabled and (settings.mail.keys or settings.sources is not None)
            else None
        )

    # -- public ---------------------------------------------------------------------------

    def plan(self) -> RunReport:
        """Compute today's plan without writing anything (the dry run)."""
        prepared = self._prepare(record_exports=False)
        return self._report(prepared, RunStatus.HELD if prepared.plan.held else RunStatus.SUCCEEDED)

    def run(self, *, approve: str | None = None) -> RunReport:
        """Run the whole nightly job.

        Args:
            approve: The hash of a reviewed plan; required to apply a held plan, and the
                run refuses to apply anything else.

        Returns:
            The report; its status says succeeded, held, partial or failed.
        """
        return self._run(approve, None)

    def apply_reviewed(self, reviewed: Plan, *, origin: str) -> RunReport:
        """Run the nightly job, applying only the reviewed plan (``apply --plan FILE``).

        Today's plan is recomputed and applied only if it is still exactly ``reviewed``
        (same hash: same operations, same preconditions); otherwise the run is held, the
        directory untouched, and the message says what changed (:func:`plan_drift`).

        Args:
            reviewed: The plan a human reviewed (:func:`~ecampus_idm.sync.review.load_plan`).
            origin: Where it comes from (its file), named in the message.
        """
        return self._run(reviewed.hash, (reviewed, origin))

    def plan_ldif(self, reviewable: Plan) -> str:
        """``reviewable`` as LDIF for this target (preconditions as assertions on OpenLDAP)."""
        target = self.profile.target()
        return plan_to_ldif(
            reviewable,
            member_attribute=target.member_attribute,
            version_attribute=target.version_attribute,
            # AD has no assertion control: its preconditions stay comments.
            assertions=self.settings.directory.kind != "active_directory",
        )

    def _run(self, approve: str | None, reviewed: tuple[Plan, str] | None) -> RunReport:
        run = self._refuse_overlap()
        try:
            prepared = self._prepare(record_exports=True)
            self._follow_passwords(prepared, run.run_id)
            report = self._report(prepared, RunStatus.SUCCEEDED)
            report.run_id = run.run_id
            if approve is not None and approve != prepared.plan.hash:
                report.status = RunStatus.HELD
                report.message = (
                    f"the plan is now {prepared.plan.hash[:12]}, not the approved "
                    f"{approve[:12]}: review the new plan"
                    if reviewed is None
                    else plan_drift(reviewed[0], prepared.plan).message(reviewed[1])
                )
            elif prepared.plan.held and approve is None:
                report.status = RunStatus.HELD
                report.message = "held by its safety budgets: review and approve by hash"
            else:
                self._apply(prepared, report, run.run_id, approve)
                self._flush_mail(report, run.run_id)
            self._refused(prepared, report)
        except IdmError as exc:
            self.store.finish_run(run.run_id, RunStatus.FAILED, message=str(exc)[:500])
            raise
        self.store.finish_run(
            run.run_id,
            report.status,
            counts=_counts(report),
            plan_hash=prepared.plan.hash,
            message=report.message or None,
        )
        return report

    def _refuse_overlap(self) -> Run:
        """Start the run, refused while another nightly run is in progress.

        Atomic at the store (one transaction, a unique lock row): of runs started in the
        same instant, on any host sharing the store, exactly one starts; the others raise
        :class:`~ecampus_idm.store.errors.RunInProgressError` and record nothing. A run
        still marked running after :data:`RUN_LOCK_HOURS` is taken for crashed (finished
        as failed). A run that will flush the outbox at its end also holds the mail flush
        lock, so that no ``mail send`` starts meanwhile; when a ``mail send`` holds it,
        the run goes on and skips its flush (``_flush_mail``).
        """
        lease = timedelta(hours=RUN_LOCK_HOURS)
        run = self.store.start_run("run", exclusive=True, stale_after=lease)
        if self.welcome is not None and self.settings.mail.flush_after_run:
            try:
                self.store.claim_lock(run.run_id, FLUSH_LOCK, stale_after=lease)
            except BaseException:
                self.store.finish_run(run.run_id, RunStatus.FAILED, message="could not start")
                raise
        return run

    @staticmethod
    def _refused(prepared: _Prepared, report: RunReport) -> None:
        """A run that could not use every source is partial, and says which and why."""
        if not prepared.refused or report.status is not RunStatus.SUCCEEDED:
            return
        names = ", ".join(f"{name} ({why})" for name, why in sorted(prepared.refused.items()))
        report.status = RunStatus.PARTIAL
        report.message = (
            f"source(s) not used: {names}; their {len(prepared.frozen)} people left as they "
            f"were ({prepared.deferred} operation(s) deferred); {report.message}"
        )

    # -- steps ----------------------------------------------------------------------------

    def _prepare(self, *, record_exports: bool) -> _Prepared:
        sources = self.settings.sources
        if sources is None:
            raise IdmError("no [sources] section: nothing to read people from")
        ledger: ExportLedger = self.store if record_exports else ReadOnlyLedger(self.store)
        self._step("sources", 0, len(self.connectors))
        known = self.store.identity_links()
        population = load_population(
            self.connectors,
            Pseudonymiser(sources.pseudonym_key),
            clock=self.clock,
            schools=self.settings.schools,
            ledger=ledger,
            index=known,
        )
        persons = list(population.people)
        linked = _linked_to(known, set(population.failed))
        if record_exports:
            # Who is who, for the next runs: a person first read without a national
            # number keeps their id (and account) once the number arrives.
            self.store.remember_identities(known.changes(persons))
        del known
        people, complete = len(persons), population.complete
        summary = (
            len(population.report.issues),
            {name: str(error) for name, error in population.failed.items()},
            len(population.reviews),
        )
        del population  # the validated rows: the persons are built
        self._step("sources", len(self.connectors), len(self.connectors))
        snapshot = self._store_snapshot()
        self._step("policies", 0, people)
        by_id = {p.person_id: p for p in persons}
        fates: dict[str, _Fate] = {}

        def remembered(
            verdicts: Iterator[PersonVerdict], known: dict[str, Person]
        ) -> Iterator[PersonVerdict]:
            # Each verdict (every decision, for support) lives only until it is mapped.
            for verdict in verdicts:
                fates[verdict.person_id] = _Fate.of(verdict, known.get(verdict.person_id))
                if len(fates) % 1000 == 0:
                    self._step("policies", len(fates), people)
                yield verdict

        verdicts = self.engine.decide_each(persons, snapshot, self.clock)
        desired = self.profile.desired(persons, remembered(verdicts, by_id), self.clock.today())
        self._step("policies", people, people)
        del persons, by_id, snapshot
        spec = self.profile.target()
        observed = list(
            read_snapshot(self.directory, spec, progress=lambda n: self._step("directory", n, None))
        )
        frozen: frozenset[str] = frozenset()
        if not complete:
            # Who depends on a refused source is not known tonight: whoever an earlier
            # run read from it, and whoever no accepted source lists, stays as they are.
            frozen = frozenset(linked | {i for i, f in fates.items() if not f.present})
        result = plan(desired, observed, self.profile.plan_options(), frozen=frozen)
        passwords = self._password_states(observed)
        del desired, observed
        quarantined, refused, reviews = summary
        return _Prepared(
            people,
            quarantined,
            refused,
            reviews,
            complete,
            fates,
            result,
            result.deferred,
            frozen,
            passwords,
        )

    def _password_states(
        self, observed: list[ObservedEntry]
    ) -> dict[str, tuple[InitialPasswordState, str]]:
        """The managed entries whose initial password may have been changed (snapshot only)."""
        vocabulary = AccountVocabulary.for_directory(self.settings.directory)
        found: dict[str, tuple[InitialPasswordState, str]] = {}
        for entry in observed:
            if entry.kind is not EntryKind.PERSON or not entry.managed or not entry.key:
                continue
            state = vocabulary.initial_password_state(entry.get)
            if state is not InitialPasswordState.IN_FORCE:
                found[entry.key] = (state, entry.dn)
        return found

    def _follow_passwords(self, prepared: _Prepared, run_id: int) -> None:
        """Discard the held initial passwords the directory no longer has (see the module).

        A password held in custody whose entry says it was changed since (ppolicy's
        ``pwdReset`` gone, AD's ``pwdLastSet`` no longer 0), or set again and no longer
        matching the entry's hash, is discarded, its unsent welcome mails withdrawn, and
        a ``password.changed`` event recorded: a corrected address then gets the reset
        hint, the listing says "already changed". Tonight's new passwords are not
        concerned (their operations write them).
        """
        if self.welcome is None or not prepared.passwords:
            return
        custody = self.welcome.custody
        renewed = {
            op.key
            for op in prepared.plan.operations
            if op.set_password or op.kind is OpKind.SET_PASSWORD
        }
        vocabulary = AccountVocabulary.for_directory(self.settings.directory)
        changed: list[str] = []
        for person_id in sorted((custody.held_people() & prepared.passwords.keys()) - renewed):
            state, dn = prepared.passwords[person_id]
            if state is InitialPasswordState.UNSURE:
                secret = custody.reveal(person_id)
                if (
                    secret is None
                    or vocabulary.still_initial(self.directory, dn, secret) is not False
                ):
                    continue  # the same password set again, or the target cannot tell
            changed.append(person_id)
        if not changed:
            return
        now = self.clock.now()
        with self.store.transaction():
            self.store.record_events(
                [self.welcome.password_changed(p, now=now, run_id=run_id) for p in changed]
            )
        log.info("%d initial password(s) changed in the directory: custody discarded", len(changed))

    def _apply(
        self, prepared: _Prepared, report: RunReport, run_id: int, approve: str | None
    ) -> None:
        fates = prepared.fates
        creates = [
            op for op in prepared.plan.operations if op.kind is OpKind.CREATE and op.set_password
        ]
        # Entries whose add an interrupted run never saw confirmed get a password too.
        resets = [op for op in prepared.plan.operations if op.kind is OpKind.SET_PASSWORD]
        live = {r.person_id for r in self.store.username_records() if not r.tombstoned}
        reservations = [
            (fates[op.key].username or "", op.key)
            for op in creates
            if op.key in fates and op.key not in live
        ]
        to_apply = prepared.plan
        refused = self._reserve(reservations)
        if refused:
            # Taken meanwhile by a concurrent issuance: those accounts wait for the next run.
            # The reviewed plan (held or not) covered more than this subset of it.
            to_apply = Plan(
                tuple(
                    o
                    for o in prepared.plan.operations
                    if not (o.kind is OpKind.CREATE and o.key in refused)
                ),
                prepared.plan.conflicts
                + tuple(
                    Conflict(key, fates[key].username or "", "username taken meanwhile")
                    for key in sorted(refused)
                ),
            )
            approve = None
            creates = [op for op in creates if op.key not in refused]
        passwords = self._passwords(creates + resets, fates)
        total = len(prepared.plan.operations)
        done = Counter[str]()

        def progress(_: Operation) -> None:
            done["ops"] += 1
            self._step("apply", done["ops"], total)

        try:
            applied = apply(
                to_apply,
                self.directory,
                self.profile.target(),
                approve=approve,
                passwords=lambda key: passwords[key],
                progress=progress,
            )
        except PlanApprovalError as exc:
            passwords.clear()
            report.status = RunStatus.HELD
            report.message = str(exc)
            return
        except BaseException:
            passwords.clear()
            raise
        report.applied = applied
        # Only what the directory confirmed is recorded: a person with an operation that
        # failed, was not attempted or lost its answer keeps the previous record, and a
        # password goes to the custody (and the mail) only once the entry holds it.
        unsettled = applied.unsettled | refused | prepared.frozen
        confirmed = {k: v for k, v in passwords.items() if k in applied.passwords_set}
        try:
            # The initial passwords go into the custody in the transaction that records
            # the accounts, then are dropped from memory.
            self._remember(fates, unsettled, run_id, confirmed)
        finally:
            passwords.clear()
            confirmed.clear()
        if applied.interrupted:
            report.status = RunStatus.PARTIAL
            report.message = f"interrupted: {applied.interrupted}"
        elif applied.failures:
            report.status = RunStatus.PARTIAL
            report.message = f"{len(applied.failures)} operation(s) failed"
        else:
            report.message = "applied" if not prepared.plan.is_empty else "nothing to do"

    def _reserve(self, reservations: list[tuple[str, str]]) -> set[str]:
        """Reserve the usernames; return the person ids whose username could not be had."""
        try:
            self.store.reserve_usernames(reservations)
        except (UsernameTakenError, PersonHasUsernameError):
            refused = set()
            for username, person_id in reservations:
                try:
                    self.store.reserve_username(username, person_id)
                except (UsernameTakenError, PersonHasUsernameError):
                    refused.add(person_id)
            return refused
        return set()

    def _passwords(self, ops: list[Operation], fates: dict[str, _Fate]) -> dict[str, SecretStr]:
        generator = self.engine.initial_passwords
        result: dict[str, SecretStr] = {}
        for op in ops:
            fate = fates.get(op.key)
            result[op.key] = generator.generate(
                username=(fate.username or "") if fate else "",
                display_name=fate.display_name if fate else "",
            )
        return result

    def _remember(
        self,
        fates: dict[str, _Fate],
        failed: set[str],
        run_id: int,
        passwords: dict[str, SecretStr] | None = None,
    ) -> None:
        now = self.clock.now()
        previous = self.store.accounts()
        records: list[AccountRecord] = []
        events: list[NewEvent] = []
        released: list[str] = []
        for fate in fates.values():
            if fate.status is None or fate.person_id in failed:
                continue
            before = previous.get(fate.person_id)
            record = _record(fate, before, now)
            records.append(record)
            if before is None or before.status is not record.status:
                events.append(_event(fate, record.status, run_id))
                if record.status is AccountStatus.DELETED and fate.username:
                    released.append(fate.username)
        with self.store.transaction():
            self.store.put_accounts(records)
            self.store.record_events(events)
            for username in released:
                self.store.release_username(username)
            if self.welcome is not None:
                self.store.record_events(self._welcome(fates, failed, passwords or {}, now, run_id))

    def _welcome(
        self,
        fates: dict[str, _Fate],
        failed: set[str],
        passwords: dict[str, SecretStr],
        now: datetime,
        run_id: int,
    ) -> list[NewEvent]:
        """Deposit and enqueue for created accounts; resend to corrected addresses."""
        assert self.welcome is not None  # noqa: S101 - the caller checked
        self.welcome.expire(now)
        events: list[NewEvent] = []
        others: list[Addressee] = []
        for fate in fates.values():
            if fate.person_id in failed or not fate.username or fate.status is None:
                continue
            who = Addressee(
                fate.person_id,
                fate.username,
                fate.display_name,
                fate.email,
                fate.roles,
                email_issue=fate.email_issue,
                language=fate.language,
                language_issue=fate.language_issue,
                enrolled_at=fate.enrolled_at,
                attributed_at=fate.attributed_at,
            )
            password = passwords.get(fate.person_id)
            if password is not None:
                events.extend(self.welcome.issue(who, password, now=now, run_id=run_id))
            elif fate.present and fate.status in _MAILABLE:
                others.append(who)
        events.extend(self.welcome.review_addresses(others, now=now, run_id=run_id))
        return events

    def _flush_mail(self, report: RunReport, run_id: int) -> None:
        """Deliver the outbox at the end of the run, when configured to."""
        if self.welcome is None or not self.settings.mail.flush_after_run:
            return
        # The lock claimed at the start, or now if a `mail send` held it then (atomic:
        # never two flushes at once).
        lease = timedelta(hours=RUN_LOCK_HOURS)
        other = self.store.claim_lock(run_id, FLUSH_LOCK, stale_after=lease)
        if other is not None:
            # A `mail send` is delivering: two flushes could send a message twice. The
            # mails stay queued for the next flush.
            report.mail = {"skipped": f"mail send run {other.run_id} in progress"}
            return
        mailer = self.mailer or build_mailer(
            self.settings, self.store, self.clock, directory=self.directory
        )
        if mailer is not None:
            report.mail = mailer.flush(run_id=run_id).to_dict()

    def _store_snapshot(self) -> StoreSnapshot:
        """Everything the policies need from the store: two bulk reads."""
        zone = self.settings.institution.zone
        accounts = self.store.accounts()
        usernames = self.store.username_records()
        by_person: dict[str, str] = {}
        for name in sorted(usernames, key=lambda r: (r.released_at is None, r.reserved_at)):
            by_person[name.person_id] = name.username  # live last, so it wins
        histories = []
        for person_id, record in accounts.items():
            username = by_person.get(person_id)
            account = (
                None
                if username is None
                else Account(
                    username=username,
                    person_id=person_id,
                    status=record.status,
                    created_at=record.created_at,
                    status_since=record.status_since,
                )
            )
            seen = record.last_seen_in_sources or record.created_at
            histories.append(
                PersonHistory(
                    person_id=person_id,
                    last_seen=seen.astimezone(zone).date(),
                    roles=record.roles,
                    account=account,
                )
            )
        attached = {h.account.username for h in histories if h.account is not None}
        # A live username of a person without an account record was reserved by a run
        # that stopped before recording (its entry may exist): it stays that person's.
        reserved = {
            r.person_id: r.username
            for r in usernames
            if not r.tombstoned and r.person_id not in accounts and r.username not in attached
        }
        tombstones = frozenset(
            r.username
            for r in usernames
            if r.username not in attached and reserved.get(r.person_id) != r.username
        )
        return StoreSnapshot(people=tuple(histories), tombstones=tombstones, reserved=reserved)

    def _report(self, prepared: _Prepared, status: RunStatus) -> RunReport:
        accounts: Counter[str] = Counter(
            f.status.value if f.status is not None else "pending" for f in prepared.fates.values()
        )
        return RunReport(
            status=status,
            people=prepared.people,
            quarantined=prepared.quarantined,
            refused=prepared.refused,
            reviews=prepared.reviews,
            accounts=accounts,
            plan=prepared.plan,
            deferred=prepared.deferred,
            school_names={s.code: s.name for s in self.settings.schools},
        )

    def _step(self, name: str, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress(name, done, total)


def _linked_to(known: IdentityLinks, sources: set[str]) -> set[str]:
    """The person ids an earlier run read from any of ``sources`` (by their source keys)."""
    if not sources:
        return set()
    found: set[str] = set()
    for link, person_id in known.as_dict().items():
        kind, _, rest = link.partition(":")
        if kind == "key" and rest.partition(":")[0] in sources:
            found.add(person_id)
    return found


def _record(fate: _Fate, before: AccountRecord | None, now: datetime) -> AccountRecord:
    status = fate.status
    assert status is not None  # noqa: S101 - callers skip people without an account
    unchanged = before is not None and before.status is status
    return AccountRecord(
        person_id=fate.person_id,
        status=status,
        created_at=before.created_at if before is not None else now,
        status_since=before.status_since if unchanged and before is not None else now,
        last_seen_in_sources=now
        if fate.present
        else (before.last_seen_in_sources if before is not None else None),
        roles=fate.roles if fate.present else (before.roles if before else frozenset()),
    )


def _event(fate: _Fate, status: AccountStatus, run_id: int) -> NewEvent:
    kind = "account.created" if fate.new_account else f"account.{status.value}"
    fr, en = fate.reason or ("Changement de statut du compte.", "Account status changed.")
    return NewEvent(
        person_id=fate.person_id,
        kind=kind,
        reason_fr=fr,
        reason_en=en,
        run_id=run_id,
        data={"status": status.value, "username": fate.username or ""},
    )


def _counts(report: RunReport) -> dict[str, int]:
    counts: dict[str, int] = {"people": report.people, "quarantined": report.quarantined}
    if report.plan is not None:
        counts.update(report.plan.counts())
    if report.applied is not None:
        counts["failures"] = len(report.applied.failures)
    counts["deferred"] = report.deferred
    return counts
