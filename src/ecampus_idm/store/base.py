"""The Store port: what the rest of the library may keep between runs, and its values.

The state store remembers what the sources and the directory cannot tell: the runs and
what they did, a timeline of events per person (what happened, when, why — the support
diagnosis reads it), the username registry with its tombstones (a username is never
re-issued to another person), the lifecycle memory of each account, and the fingerprint
of the last accepted export of each source. Later migrations add the mail outbox, the
initial-password custody, tokens and rate limits beside these tables.

Two implementations honour this contract and pass the same contract tests
(:class:`ecampus_idm.testing.store_contract.StoreContract`):
:class:`~ecampus_idm.store.memory.MemoryStore` for fast unit tests and
:class:`~ecampus_idm.store.sql.SqlStore` on SQLite (the embedded default) or PostgreSQL.

The contract:

* Every public method is atomic. ``with store.transaction():`` groups several calls into
  one atomic unit (record an account's creation and its event; later, enqueue its welcome
  mail); a call that fails inside it (e.g. :class:`UsernameTakenError`) leaves the
  transaction usable, so a caller may try the next candidate.
* Instants are timezone-aware and come back in UTC; a naive datetime is refused.
* Nothing secret is ever stored: no method takes a password, a token or a national
  number, and event texts and data are checked (see :mod:`ecampus_idm.store._sensitive`).
* The export ledger keeps every accepted export's facts; :meth:`Store.last_accepted`
  returns the most recently recorded one of a source, stamped with the store's clock
  when it came without ``accepted_at``.
* Bulk reads (:meth:`Store.accounts`, :meth:`Store.username_records`) exist so that a
  nightly run reads each table once, never once per person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from ecampus_idm.model import AccountStatus, Person, Role, SourceKey
from ecampus_idm.store._sensitive import check_data, check_text
from ecampus_idm.store.errors import PersonHasUsernameError, UsernameTakenError, duration_text

if TYPE_CHECKING:
    # Annotations only: importing the store must not import the connectors.
    from ecampus_idm.connectors.base import ExportFacts

__all__ = [
    "GONE_MESSAGE",
    "AccountRecord",
    "Event",
    "IdentityLinks",
    "JsonValue",
    "NewEvent",
    "Run",
    "RunStatus",
    "Store",
    "UsernameRecord",
    "aware_utc",
    "plan_reservations",
    "stale_message",
    "validate_kind",
    "validate_lease",
    "validate_links",
    "validate_person_id",
    "validate_run_finish",
    "validate_username",
]

JsonValue: TypeAlias = (
    "str | int | float | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)
"""A value that JSON can hold."""

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
_KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_MAX_ID = 64
_MAX_TEXT = 2000


def aware_utc(name: str, value: datetime) -> datetime:
    """Return ``value`` in UTC, refusing a naive datetime.

    Args:
        name: The field's name, for the error.
        value: The instant.

    Raises:
        ValueError: If ``value`` is naive.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def validate_username(username: str) -> str:
    """Return ``username`` if it is a valid login (``jean.dupont2``), else raise ValueError."""
    if not _USERNAME.match(username):
        raise ValueError(
            f"invalid username {username!r}: 1-64 lower-case letters, digits, '.' or '-'"
        )
    return username


def validate_person_id(value: str) -> str:
    """Return ``value`` if it is a person id (1-64 characters, no national number).

    Raises:
        ValueError: If it is empty or too long.
        SensitiveDataError: If it holds a national number.
    """
    if not 0 < len(value) <= _MAX_ID:
        raise ValueError(f"a person id is 1-{_MAX_ID} characters")
    check_text("person_id", value)
    return value


_LINK = re.compile(r"^(niss|key):[^\s]{1,194}$")


def validate_links(links: Mapping[str, str]) -> dict[str, str]:
    """Check identity links (see :class:`IdentityLinks`) and return them as a dict.

    Raises:
        ValueError: If a link or person id is malformed.
    """
    checked: dict[str, str] = {}
    for link, person_id in links.items():
        if not _LINK.match(link):
            raise ValueError("an identity link is niss:<pseudonym> or key:<source>:<matricule>")
        checked[link] = validate_person_id(person_id)
    return checked


def validate_kind(name: str, value: str) -> str:
    """Return ``value`` if it is a lower-case dotted kind (``account.created``).

    Raises:
        ValueError: If it is not.
    """
    if not _KIND.match(value):
        raise ValueError(f"invalid {name} {value!r}: lower-case, like 'account.created'")
    return value


def _string_keys(value: object) -> bool:
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _string_keys(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_string_keys(item) for item in value)
    return True


def _freeze_json(name: str, value: Mapping[str, JsonValue]) -> Mapping[str, JsonValue]:
    check_data(name, value)
    if not _string_keys(value):
        raise ValueError(f"{name} must be JSON data (str keys, finite numbers)")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be JSON data (str keys, finite numbers)") from exc
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise TypeError(f"{name} must be a JSON object")
    return MappingProxyType(loaded)


class RunStatus(StrEnum):
    """Where a run stands; the CLI's exit code follows it."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    HELD = "held"
    """The plan went over a safety budget: nothing was applied."""
    PARTIAL = "partial"
    """Applied, with per-entry failures."""
    FAILED = "failed"


@dataclass(frozen=True)
class Run:
    """One execution of a command (``plan``, ``apply``, ``run``, ``mail-send``...).

    Attributes:
        run_id: Assigned by the store, increasing.
        kind: What ran, lower-case (``run``, ``apply``, ``mail.send``).
        status: Running, or how it ended.
        started_at: When it started (UTC).
        finished_at: When it ended, or ``None`` while running.
        counts: Named counts (``{"create": 12, "disable": 3}``).
        plan_hash: Content hash of the plan it made or applied, if any.
        message: A short human summary of how it ended (why it failed or was held).
    """

    run_id: int
    kind: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    counts: Mapping[str, int] = field(default_factory=dict, hash=False)
    plan_hash: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))
        object.__setattr__(self, "started_at", aware_utc("started_at", self.started_at))
        if self.finished_at is not None:
            object.__setattr__(self, "finished_at", aware_utc("finished_at", self.finished_at))
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self.status is not RunStatus.RUNNING


STALE_MESSAGE = "taken for crashed: still running {age} after it started"
"""The message of a run finished as failed by an exclusive start (``{age}``: e.g. ``6 h``)."""


GONE_MESSAGE = "taken for crashed: its process on this host is gone"
"""The message of a run finished as failed because its lock's owner process has ended."""


def stale_message(stale_after: timedelta) -> str:
    """Return the message recorded on a run taken for crashed after ``stale_after``."""
    return STALE_MESSAGE.format(age=duration_text(stale_after))


def validate_lease(stale_after: timedelta | None) -> timedelta | None:
    """Check a stale horizon / lock lease: positive, or ``None`` for never."""
    if stale_after is not None and stale_after <= timedelta(0):
        raise ValueError("stale_after must be positive (or None: never stale)")
    return stale_after


def validate_run_finish(
    counts: Mapping[str, int] | None, plan_hash: str | None, message: str | None
) -> dict[str, int]:
    """Check the values given to :meth:`Store.finish_run`; return the counts as a dict.

    Raises:
        TypeError: If a count is not an integer.
        ValueError: If a text is too long.
    """
    checked: dict[str, int] = {}
    for name, value in (counts or {}).items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("counts map names to integers")
        checked[name] = value
    if plan_hash is not None and not 0 < len(plan_hash) <= _MAX_ID * 2:
        raise ValueError("a plan hash is 1-128 characters")
    if message is not None:
        if len(message) > _MAX_TEXT:
            raise ValueError(f"a run message is at most {_MAX_TEXT} characters")
        check_text("message", message)
    return checked


@dataclass(frozen=True)
class NewEvent:
    """An event to record about a person; the store assigns its id (and time, if unset).

    Construction checks the values: an invalid field raises ``ValueError``, and a
    password, token or national number raises
    :class:`~ecampus_idm.store.errors.SensitiveDataError` before anything is stored.

    Attributes:
        person_id: Whom it is about (the stable internal id).
        kind: What happened, lower-case and dotted (``account.created``, ``mail.bounced``).
        reason_fr: Why, in French (shown first to support staff).
        reason_en: Why, in English.
        run_id: The run that did it, if any.
        data: Facts for the diagnosis (JSON object): school, dates, masked address...
        at: When it happened; the store's clock when ``None``.
    """

    person_id: str
    kind: str
    reason_fr: str
    reason_en: str
    run_id: int | None = None
    data: Mapping[str, JsonValue] = field(default_factory=dict, hash=False)
    at: datetime | None = None

    def __post_init__(self) -> None:
        validate_person_id(self.person_id)
        validate_kind("event kind", self.kind)
        for name in ("reason_fr", "reason_en"):
            text: str = getattr(self, name)
            if not 0 < len(text) <= _MAX_TEXT:
                raise ValueError(f"{name} is 1-{_MAX_TEXT} characters")
            check_text(name, text)
        object.__setattr__(self, "data", _freeze_json("data", self.data))
        if self.at is not None:
            object.__setattr__(self, "at", aware_utc("at", self.at))


@dataclass(frozen=True)
class Event:
    """A recorded event: one line of a person's timeline.

    Attributes:
        event_id: Assigned by the store, increasing.
        person_id: Whom it is about.
        run_id: The run that did it, if any.
        at: When it happened (UTC).
        kind: What happened.
        reason_fr: Why, in French.
        reason_en: Why, in English.
        data: Facts for the diagnosis.
    """

    event_id: int
    person_id: str
    run_id: int | None
    at: datetime
    kind: str
    reason_fr: str
    reason_en: str
    data: Mapping[str, JsonValue] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", aware_utc("at", self.at))
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))


@dataclass(frozen=True)
class UsernameRecord:
    """A username in the registry: live, or released and kept forever as a tombstone.

    Attributes:
        username: The login.
        person_id: The person it was issued to; a username never changes owner.
        reserved_at: When it was (last) reserved.
        released_at: When it was released, or ``None`` while live.
    """

    username: str
    person_id: str
    reserved_at: datetime
    released_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reserved_at", aware_utc("reserved_at", self.reserved_at))
        if self.released_at is not None:
            object.__setattr__(self, "released_at", aware_utc("released_at", self.released_at))

    @property
    def tombstoned(self) -> bool:
        """Whether the username was released (it stays taken)."""
        return self.released_at is not None


def plan_reservations(
    wanted: Sequence[tuple[str, str]],
    existing: Mapping[str, UsernameRecord],
    holders: Mapping[str, str],
    now: datetime,
) -> dict[str, UsernameRecord]:
    """Decide a batch of reservations; the rule every Store implementation applies.

    Args:
        wanted: Validated ``(username, person_id)`` pairs, in order.
        existing: The registry's records of those usernames (live and tombstones).
        holders: Person id to the live username they hold, for those persons.
        now: The reservation time of new or revived usernames.

    Returns:
        Username to its record after the batch (unchanged, new, or revived).

    Raises:
        UsernameTakenError: A username belongs to another person, live or tombstoned.
        PersonHasUsernameError: A person would hold two live usernames.
    """
    holders = dict(holders)
    planned: dict[str, UsernameRecord] = {}
    for username, person_id in wanted:
        current = planned.get(username) or existing.get(username)
        if current is not None and current.person_id != person_id:
            raise UsernameTakenError(username, tombstoned=current.tombstoned)
        held = holders.get(person_id)
        if held is not None and held != username:
            raise PersonHasUsernameError(person_id, held)
        if current is None or current.tombstoned:
            current = UsernameRecord(username, person_id, now)
        planned[username] = current
        holders[person_id] = username
    return planned


@dataclass(frozen=True)
class AccountRecord:
    """What the lifecycle policy remembers about a person's account.

    Attributes:
        person_id: The owner.
        status: Where the account stands (active, grace, disabled, deleted).
        created_at: When the account was created.
        status_since: When it entered ``status`` (grace and deletion delays count from it).
        last_seen_in_sources: The last time a source still listed the person.
        roles: The roles the person held when last seen (they choose the grace and
            retention periods once the person has left).
    """

    person_id: str
    status: AccountStatus
    created_at: datetime
    status_since: datetime
    last_seen_in_sources: datetime | None = None
    roles: frozenset[Role] = frozenset()

    def __post_init__(self) -> None:
        validate_person_id(self.person_id)
        object.__setattr__(self, "status", AccountStatus(self.status))
        object.__setattr__(self, "roles", frozenset(Role(r) for r in self.roles))
        created = aware_utc("created_at", self.created_at)
        since = aware_utc("status_since", self.status_since)
        if since < created:
            raise ValueError("an account cannot change status before it is created")
        object.__setattr__(self, "created_at", created)
        object.__setattr__(self, "status_since", since)
        if self.last_seen_in_sources is not None:
            seen = aware_utc("last_seen_in_sources", self.last_seen_in_sources)
            object.__setattr__(self, "last_seen_in_sources", seen)


class IdentityLinks:
    """What earlier runs knew about who is who: an identity index loaded in one read.

    Each link is ``niss:<pseudonym>`` (the keyed pseudonym, never the national number)
    or ``key:<source>:<matricule>``, and names the person id it belonged to. The
    correlator asks it (it is an :class:`~ecampus_idm.identity.IdentityIndex`) so that a
    person first seen without a national number keeps their id, username and account
    once the number arrives, and a matricule keeps its person across runs.

    Args:
        links: Link → person id.
    """

    __slots__ = ("_links",)

    def __init__(self, links: Mapping[str, str] | None = None) -> None:
        self._links: dict[str, str] = dict(links or {})

    @staticmethod
    def pseudonym_link(pseudonym: str) -> str:
        """Return the link of a national-number pseudonym."""
        return f"niss:{pseudonym}"

    @staticmethod
    def key_link(key: SourceKey) -> str:
        """Return the link of a source key."""
        return f"key:{key.source}:{key.matricule}"

    @classmethod
    def links_of(cls, person: Person) -> dict[str, str]:
        """Return every link of ``person`` (its pseudonym, if known, and source keys)."""
        links = {cls.key_link(key): person.person_id for key in person.source_keys}
        if person.niss_pseudonym is not None:
            links[cls.pseudonym_link(person.niss_pseudonym)] = person.person_id
        return links

    def person_for_pseudonym(self, pseudonym: str) -> str | None:
        """Return the person id that had this national-number pseudonym, if any."""
        return self._links.get(self.pseudonym_link(pseudonym))

    def person_for_key(self, key: SourceKey) -> str | None:
        """Return the person id that had this source key, if any."""
        return self._links.get(self.key_link(key))

    def changes(self, persons: Iterable[Person]) -> dict[str, str]:
        """Return the links of ``persons`` that are new or now name another person."""
        found: dict[str, str] = {}
        for person in persons:
            for link, person_id in self.links_of(person).items():
                if self._links.get(link) != person_id:
                    found[link] = person_id
        return found

    def as_dict(self) -> dict[str, str]:
        """Return a copy of the links."""
        return dict(self._links)

    def __len__(self) -> int:
        return len(self._links)

    def __repr__(self) -> str:
        # The links hold pseudonyms: keyed, but still nothing to print.
        return f"IdentityLinks({len(self._links)} links)"


@runtime_checkable
class Store(Protocol):
    """The state store port.

    It is also an :class:`~ecampus_idm.connectors.base.ExportLedger`
    (:meth:`last_accepted`, :meth:`record_accepted`), so the connectors' export checks
    compare each export with the last accepted one kept here.
    """

    def transaction(self) -> AbstractContextManager[None]:
        """Group the calls made inside the ``with`` block (same thread) into one atomic unit.

        On an exception the whole block is rolled back and the exception propagates.
        Nested blocks join the outer one (a nested block that raises rolls back only its
        own changes).
        """
        ...

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...

    # -- runs ----------------------------------------------------------------------------

    def start_run(
        self,
        kind: str,
        *,
        plan_hash: str | None = None,
        exclusive: bool = False,
        lock: str | None = None,
        stale_after: timedelta | None = None,
    ) -> Run:
        """Record that a run of ``kind`` starts now; return it (status ``running``).

        With ``exclusive``, the check and the start are one transaction, and of starts at
        the same instant (threads, processes, hosts sharing the store) exactly one wins:

        1. a run of ``kind`` still running that started ``stale_after`` ago or more is
           taken for crashed: finished as ``failed`` and its locks released;
        2. if another run of ``kind`` is still running, or the lock ``lock`` (default:
           ``kind``) is held by a running run of any kind, the start is refused;
        3. otherwise the run is recorded holding the lock until :meth:`finish_run`
           (``stale_after`` is also the lock's lease: an expired lock is taken over).

        Raises:
            RunInProgressError: If refused in step 2 (nothing is recorded).
            ValueError: If a value is invalid.
        """
        ...

    def claim_lock(
        self, run_id: int, name: str, *, stale_after: timedelta | None = None
    ) -> Run | None:
        """Let the running run ``run_id`` hold the lock ``name`` too, until it finishes.

        Atomic like an exclusive :meth:`start_run`: of claims at the same instant, one
        wins. ``stale_after`` is the lease (an expired lock is taken over).

        Returns:
            ``None`` when the run holds the lock (now or already), else the running run
            that holds it.

        Raises:
            RunNotFoundError: If there is no such run.
            RunFinishedError: If the run already ended.
        """
        ...

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        *,
        counts: Mapping[str, int] | None = None,
        plan_hash: str | None = None,
        message: str | None = None,
    ) -> Run:
        """Record how a run ended, now, releasing the locks it held.

        Raises:
            RunNotFoundError: If there is no such run.
            RunFinishedError: If it already ended.
            ValueError: If ``status`` is ``running`` or a value is invalid.
        """
        ...

    def get_run(self, run_id: int) -> Run:
        """Return the run.

        Raises:
            RunNotFoundError: If there is no such run.
        """
        ...

    def recent_runs(self, limit: int = 20, *, kind: str | None = None) -> list[Run]:
        """Return the latest runs (of ``kind``, if given), newest first."""
        ...

    # -- events --------------------------------------------------------------------------

    def record_event(
        self,
        person_id: str,
        kind: str,
        *,
        reason_fr: str,
        reason_en: str,
        run_id: int | None = None,
        data: Mapping[str, JsonValue] | None = None,
        at: datetime | None = None,
    ) -> Event:
        """Record one event (see :class:`NewEvent` for the fields and their checks).

        Raises:
            SensitiveDataError: If a text or the data holds a secret or national number.
            RunNotFoundError: If ``run_id`` names no run.
        """
        ...

    def record_events(self, events: Iterable[NewEvent]) -> list[Event]:
        """Record several events atomically, in order; return them with their ids.

        Raises:
            RunNotFoundError: If a ``run_id`` names no run (nothing is recorded).
        """
        ...

    def events_for_person(self, person_id: str) -> list[Event]:
        """Return the person's timeline, oldest first."""
        ...

    def events_for_run(self, run_id: int) -> list[Event]:
        """Return what a run recorded, oldest first."""
        ...

    def purge_events(self, before: datetime) -> int:
        """Delete events that happened before ``before`` (retention); return how many."""
        ...

    # -- username registry ---------------------------------------------------------------

    def reserve_username(self, username: str, person_id: str) -> UsernameRecord:
        """Reserve ``username`` for ``person_id``.

        Idempotent for the same person. A person's own tombstoned username is revived (a
        returning student gets their login back); another person's never is.

        Raises:
            UsernameTakenError: If another person holds it, live or tombstoned.
            PersonHasUsernameError: If the person holds another live username.
            ValueError: If the username is not a valid login.
        """
        ...

    def reserve_usernames(self, pairs: Iterable[tuple[str, str]]) -> list[UsernameRecord]:
        """Reserve several ``(username, person_id)`` pairs atomically: all or none.

        Raises:
            UsernameTakenError: See :meth:`reserve_username`; nothing is reserved.
            PersonHasUsernameError: See :meth:`reserve_username`; nothing is reserved.
        """
        ...

    def release_username(self, username: str) -> UsernameRecord:
        """Release a username: it becomes a tombstone, taken forever. Idempotent.

        Raises:
            UsernameNotFoundError: If it was never reserved.
        """
        ...

    def username_record(self, username: str) -> UsernameRecord | None:
        """Return the registry's record of ``username`` (live or tombstone), if any."""
        ...

    def username_of(self, person_id: str) -> UsernameRecord | None:
        """Return the person's live username, if any."""
        ...

    def is_taken(self, username: str) -> bool:
        """Whether ``username`` can no longer be issued (live or tombstoned)."""
        ...

    def username_records(self) -> list[UsernameRecord]:
        """Return every record (live and tombstones), sorted by username: one bulk read."""
        ...

    # -- account memory ------------------------------------------------------------------

    def get_account(self, person_id: str) -> AccountRecord | None:
        """Return what is remembered of the person's account, if anything."""
        ...

    def accounts(self) -> dict[str, AccountRecord]:
        """Return every account record by person id: one bulk read."""
        ...

    def put_accounts(self, records: Iterable[AccountRecord]) -> None:
        """Insert or replace account records atomically."""
        ...

    # -- identity links ------------------------------------------------------------------

    def identity_links(self) -> IdentityLinks:
        """Return every remembered identity link: one bulk read, for the correlator."""
        ...

    def remember_identities(self, links: Mapping[str, str]) -> int:
        """Insert or repoint identity links (link → person id); return how many.

        Raises:
            ValueError: If a link or person id is malformed.
        """
        ...

    # -- export ledger (connectors.base.ExportLedger) -------------------------------------

    def last_accepted(self, source: str) -> ExportFacts | None:
        """Return the facts of the last accepted export of ``source``, if any."""
        ...

    def record_accepted(self, facts: ExportFacts) -> None:
        """Remember ``facts`` as the last accepted export of ``facts.source``.

        An ``accepted_at`` left unset is stamped with the store's clock.
        """
        ...
