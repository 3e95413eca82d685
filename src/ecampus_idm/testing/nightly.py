"""A small school group driven through real nightly runs, with faults on demand.

:class:`NightlyWorld` holds what consecutive nightly runs share: a modelled population
(:class:`Population`) written as the CSV exports the ready profiles read, a fixed clock,
a state store (SQLite or PostgreSQL), a throwaway slapd and a recording SMTP server. The
runs are the real :class:`~ecampus_idm.runner.NightlyRun` (sources, policies, mapping,
plan, apply, store, custody, outbox, flush at the end of the run); nothing of the run is
replaced. The faults are injected from outside:

* an export refused for one night (:class:`Refusal`: header only, empty, missing,
  misspelt path in the configuration, a column missing, truncated) or its rows shuffled
  (:meth:`NightlyWorld.spoil`); the true export is written again the next night;
* the directory killed (SIGKILL of the real slapd) after ``n`` writes of a run:
  :class:`KillAfterWrites` wraps the directory object the runner uses; then
  :meth:`~ecampus_idm.testing.slapd.SlapdServer.start_again` restarts slapd on the same
  ports and data;
* the SMTP server failing (:class:`SmtpFault`: down, 421, 451, 550 for one recipient,
  connection dropped mid-DATA), until :meth:`NightlyWorld.smtp_recovers`.

The checks of what must stay true are in :mod:`ecampus_idm.testing.invariants`; the
stateful property test that draws random nights is
:mod:`ecampus_idm.testing.nightly_machine`.

The lifecycle periods are shortened (students 20 + 30 days, staff 10 + 20 days) so that
grace, disable and delete all happen inside one academic year.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from anyascii import anyascii
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings, StoreSettings
from ecampus_idm.connectors import open_connectors
from ecampus_idm.connectors.sample import national_number
from ecampus_idm.connectors.settings import ready_profile
from ecampus_idm.crypto import Keyring, generate_key
from ecampus_idm.directory.base import AttributeInput, Directory, Entry, Modification, Scope
from ecampus_idm.errors import DirectoryError
from ecampus_idm.mail.delivery import OutboxMailer
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.mail.wiring import build_mailer, keyring_from_settings
from ecampus_idm.model import AccountStatus
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store import open_store
from ecampus_idm.store.base import RunStatus, Store

if TYPE_CHECKING:
    from types import TracebackType

    from ecampus_idm.directory.filters import Filter
    from ecampus_idm.testing.slapd import SlapdServer
    from ecampus_idm.testing.smtp import SmtpServer

__all__ = [
    "ACADEMIC_YEAR",
    "SCHOOLS",
    "SOURCES",
    "Attribution",
    "Enrolment",
    "ExportSpec",
    "Human",
    "KillAfterWrites",
    "NightlyWorld",
    "Population",
    "Refusal",
    "SmtpFault",
]

ACADEMIC_YEAR = 2026
"""The academic year of every enrolment (2026-2027)."""

SCHOOLS: tuple[tuple[str, str, str], ...] = (
    ("HEC-TOURNAI", "Haute-Ecole Condorcet - Tournai", "HE"),
    ("HEC-MONS", "Haute-Ecole Condorcet - Mons", "HE"),
    ("EPS-CHARLEROI", "Enseignement de Promotion Sociale - Charleroi", "PS"),
    ("EPS-MONS", "Enseignement de Promotion Sociale - Mons", "PS"),
    ("AR-ATH", "Athénée Royal d'Ath", "SEC"),
)
"""Code, name and category of the schools of the world."""

_DEPARTMENTS = {"HE": ("INFO", "COMPTA", "SOINS"), "PS": ("LANGUES", "INFO")}
_GIVEN = (
    "Chloé", "Léa", "Noémie", "Anaïs", "Hélène", "Jérôme", "François", "Benoît", "Loïc",
    "Raphaël", "Gaëtan", "Wout", "Bram", "Lotte", "Jonas", "Griet", "Mohamed", "Yasmine",
    "Thomas", "Julie",
)  # fmt: skip
_FAMILY = (
    "Dupont", "Lefèvre", "Leclercq", "Mertens", "Janssens", "De Smet", "Van Damme",
    "D'Hondt", "de la Croix", "Lemaire", "Frère", "Noël", "El Amrani", "Da Silva", "Müller",
    "Nguyen", "Wauters", "Fontaine",
)  # fmt: skip
_DOMAINS = ("gmail.com", "skynet.be", "telenet.be", "outlook.be")


@dataclass(frozen=True)
class ExportSpec:
    """How one source's export is written (as the real software writes it)."""

    source: str
    file_name: str
    profile: str
    encoding: str
    delimiter: str
    terminator: str

    def header(self) -> tuple[list[str], list[str]]:
        """The column names, and the logical field of each."""
        mapped = ready_profile(self.profile).columns.mapped()
        return list(mapped.values()), [str(logical) for logical in mapped]


SOURCES: Mapping[str, ExportSpec] = {
    spec.source: spec
    for spec in (
        ExportSpec("personnel", "personnel.csv", "personnel", "cp1252", ";", "\r\n"),
        ExportSpec("secretariat-he", "secretariat-he.csv", "secretariat", "utf-8-sig", ";", "\r\n"),
        ExportSpec("secretariat-ps", "secretariat-ps.csv", "secretariat", "cp1252", ";", "\r\n"),
    )
}
"""The sources of the world, in order of precedence."""

STUDENT_SOURCES = {"HE": "secretariat-he", "PS": "secretariat-ps"}


@dataclass
class Enrolment:
    """A student's row in a secretariat export."""

    matricule: str
    school: str
    department: str


@dataclass
class Attribution:
    """One row of a staff member in the personnel export."""

    school: str
    category: str
    function: str  # ENS or ADM
    start: date
    end: date | None = None


@dataclass
class Human:
    """One modelled person: identity, enrolments per source, attributions.

    A human with no enrolment and no attribution is in no export (removed).
    """

    number: int
    given: str
    family: str
    birth: date
    niss: str
    email: str
    enrolments: dict[str, Enrolment] = field(default_factory=dict)
    staff_matricule: str | None = None
    attributions: list[Attribution] = field(default_factory=list)

    @property
    def sources(self) -> frozenset[str]:
        """The exports that list this human."""
        listed = set(self.enrolments)
        if self.staff_matricule is not None and self.attributions:
            listed.add("personnel")
        return frozenset(listed)

    @property
    def name(self) -> str:
        """Given and family name."""
        return f"{self.given} {self.family}"


class Population:
    """The humans of the world and the exports they make (deterministic from a seed).

    Args:
        seed: Seeds names, birth dates and national numbers.
    """

    def __init__(self, seed: int = 13) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.humans: dict[int, Human] = {}
        self._used_niss: set[str] = set()
        self._matricules: dict[str, int] = {}
        self.gone: dict[int, Human] = {}
        """Humans removed from every export, as they were (to bring them back)."""

    # -- people ---------------------------------------------------------------------------

    def _human(self, youngest: int, oldest: int, like: Human | None = None) -> Human:
        rng = self.rng
        number = len(self.humans) + 1
        given = like.given if like is not None else rng.choice(_GIVEN)
        family = like.family if like is not None else rng.choice(_FAMILY)
        birth = date(ACADEMIC_YEAR - oldest, 9, 1) + timedelta(
            days=rng.randrange((oldest - youngest) * 365)
        )
        while True:
            niss = national_number(birth, rng.randrange(1, 998))
            if niss not in self._used_niss:
                self._used_niss.add(niss)
                break
        local = ".".join(
            "".join(c for c in anyascii(part).lower() if c.isalnum()) for part in (given, family)
        )
        email = f"{local}{number}@{rng.choice(_DOMAINS)}"
        human = Human(number, given, family, birth, niss, email)
        self.humans[number] = human
        return human

    def _matricule(self, namespace: str, width: int) -> str:
        self._matricules[namespace] = self._matricules.get(namespace, 0) + 1
        return f"{self._matricules[namespace] * 7 + 13:0{width}d}"

    def enrol(self, human: Human, category: str, school: str | None = None) -> None:
        """Enrol ``human`` as a student of ``category`` (HE or PS)."""
        rng = self.rng
        source = STUDENT_SOURCES[category]
        school = school or rng.choice([c for c, _, cat in SCHOOLS if cat == category])
        human.enrolments[source] = Enrolment(
            self._matricule(source, 8), school, rng.choice(_DEPARTMENTS[category])
        )

    def attribute(self, human: Human, category: str | None = None) -> Attribution:
        """Give ``human`` a (new) attribution; make them staff if they were not."""
        rng = self.rng
        if human.staff_matricule is None:
            human.staff_matricule = self._matricule("personnel", 7)
        category = category or rng.choice(("HE", "HE", "PS", "SEC"))
        school = rng.choice([c for c, _, cat in SCHOOLS if cat == category])
        attribution = Attribution(
            school,
            category,
            "ENS" if rng.random() < 0.8 else "ADM",  # noqa: PLR2004 - share of teachers
            date(ACADEMIC_YEAR - rng.randrange(0, 10), 9, 1),
        )
        human.attributions.append(attribution)
        return attribution

    def new_student(self, category: str, *, namesake_of: Human | None = None) -> Human:
        """A new student of ``category``; with ``namesake_of``, of the same name."""
        human = self._human(17, 40, namesake_of)
        self.enrol(human, category)
        return human

    def new_staff(self, *, studies: str | None = None, namesake_of: Human | None = None) -> Human:
        """A new staff member (one or two attributions); ``studies`` enrols them too."""
        human = self._human(23, 64, namesake_of)
        for _ in range(self.rng.choice((1, 1, 2))):
            self.attribute(human)
        if studies is not None:
            self.enrol(human, studies)
        return human

    def seed_school_group(self, *, students: int = 8, staff: int = 8) -> None:
        """The first population: HE and PS students, staff, a teacher who studies."""
        for _ in range(students):
            self.new_student("HE")
            self.new_student("PS")
        for index in range(staff):
            self.new_staff(studies="HE" if index == 0 else None)

    def listed(self) -> list[Human]:
        """Humans in at least one export."""
        return [h for h in self.humans.values() if h.sources]

    def in_source(self, source: str) -> list[Human]:
        """Humans listed by ``source``."""
        return [h for h in self.humans.values() if source in h.sources]

    def remove(self, human: Human, source: str | None = None) -> None:
        """Take ``human`` out of ``source`` (every source when None)."""
        before = _copy(human)
        if source in (None, "personnel"):
            human.attributions.clear()
        if source is None:
            human.enrolments.clear()
        else:
            human.enrolments.pop(source, None)
        if not human.sources:
            self.gone[human.number] = before

    def bring_back(self, number: int) -> Human:
        """List a removed human again, with what they had."""
        before = self.gone.pop(number)
        human = self.humans[number]
        human.enrolments = dict(before.enrolments)
        human.attributions = list(before.attributions)
        human.staff_matricule = before.staff_matricule
        if not human.sources:  # they had nothing left when removed: enrol them
            self.enrol(human, "PS")
        return human

    # -- exports --------------------------------------------------------------------------

    def rows(self, source: str) -> list[list[str]]:
        """The data rows of ``source``'s export."""
        spec = SOURCES[source]
        _, logical = spec.header()
        rows: list[list[str]] = []
        for human in self.humans.values():
            identity = {
                "family_name": human.family,
                "given_name": human.given,
                "birth_date": human.birth.strftime("%d/%m/%Y"),
                "national_number": human.niss,
                "personal_email": human.email,
            }
            if source == "personnel":
                if human.staff_matricule is None:
                    continue
                for a in human.attributions:
                    values = identity | {
                        "matricule": human.staff_matricule,
                        "school": a.school,
                        "category": a.category,
                        "function": a.function,
                        "start": a.start.strftime("%d/%m/%Y"),
                        "end": a.end.strftime("%d/%m/%Y") if a.end else "",
                    }
                    rows.append([values.get(name, "") for name in logical])
            elif source in human.enrolments:
                e = human.enrolments[source]
                values = identity | {
                    "matricule": e.matricule,
                    "school": e.school,
                    "department": e.department,
                    "academic_year": f"{ACADEMIC_YEAR}-{ACADEMIC_YEAR + 1}",
                    "encoding_complete": "Oui",
                }
                rows.append([values.get(name, "") for name in logical])
        return rows

    def export_bytes(
        self,
        source: str,
        *,
        rows: Sequence[Sequence[str]] | None = None,
        drop_column: int | None = None,
    ) -> bytes:
        """The export file of ``source`` (its encoding, delimiter and line ends)."""
        spec = SOURCES[source]
        header, _ = spec.header()
        body = [list(r) for r in (self.rows(source) if rows is None else rows)]
        table = [header, *body]
        if drop_column is not None:
            table = [[c for i, c in enumerate(row) if i != drop_column] for row in table]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=spec.delimiter, lineterminator=spec.terminator)
        writer.writerows(table)
        return out.getvalue().encode(spec.encoding)


def _copy(human: Human) -> Human:
    return Human(
        human.number,
        human.given,
        human.family,
        human.birth,
        human.niss,
        human.email,
        dict(human.enrolments),
        human.staff_matricule,
        list(human.attributions),
    )


class Refusal(StrEnum):
    """A way for an export to be refused for one night."""

    HEADER_ONLY = "header-only"
    EMPTY = "empty"
    MISSING = "missing"
    MISSPELT = "misspelt-path"
    COLUMN_MISSING = "column-missing"
    TRUNCATED = "truncated"


class SmtpFault(StrEnum):
    """A way for the SMTP server to fail (until it recovers)."""

    DOWN = "down"
    REFUSE_421_CONNECT = "421-connect"
    REFUSE_421_MAIL = "421-mail"
    DEFER_451_RCPT = "451-rcpt"
    DEFER_451_DATA = "451-data"
    REJECT_550_ONE = "550-one"
    DROP_IN_DATA = "drop-in-data"


class KillAfterWrites:
    """The runner's directory, which SIGKILLs the real slapd after ``after`` writes.

    Writes are add, modify, rename, delete and password changes, one each, and every
    result of an ``add_many`` (pipelined: when the ``after``-th result arrives, the
    following requests may already be in flight, so their outcome is unknown to the
    client, as when a server dies for real). With ``after=0`` the server dies before the
    first write. Reads go through untouched.

    Args:
        inner: The directory to wrap (connected to the server that ``kill`` kills).
        after: Writes let through before the kill.
        kill: Kills the server (``SlapdServer.kill``).
    """

    def __init__(self, inner: Directory, after: int, kill: Callable[[], None]) -> None:
        self.inner = inner
        self.after = after
        self._kill = kill
        self.writes = 0
        self.killed = False

    def _maybe_kill(self) -> None:
        if not self.killed and self.writes >= self.after:
            self.killed = True
            self._kill()

    def _write(self, call: Callable[[], Any]) -> Any:
        self._maybe_kill()
        result = call()
        self.writes += 1
        return result

    @property
    def url(self) -> str:
        """The wrapped directory's URL."""
        return self.inner.url

    def search(
        self,
        base: str,
        filter: Filter | None = None,
        *,
        scope: Scope = Scope.SUBTREE,
        attributes: Iterable[str] | None = None,
        page_size: int | None = None,
    ) -> Iterator[Entry]:
        """Search the wrapped directory."""
        return self.inner.search(
            base, filter, scope=scope, attributes=attributes, page_size=page_size
        )

    def get(self, dn: str, attributes: Iterable[str] | None = None) -> Entry | None:
        """Read one entry."""
        return self.inner.get(dn, attributes)

    def add(self, dn: str, attributes: AttributeInput) -> None:
        """Add, counted."""
        self._write(lambda: self.inner.add(dn, attributes))

    def add_many(
        self, entries: Iterable[tuple[str, AttributeInput]]
    ) -> Iterator[DirectoryError | None]:
        """Add many, each result counted; the kill may come with requests in flight."""
        self._maybe_kill()
        for result in self.inner.add_many(entries):
            self.writes += 1
            yield result
            self._maybe_kill()

    def modify(
        self, dn: str, changes: Sequence[Modification], *, expect: Filter | None = None
    ) -> None:
        """Modify, counted."""
        self._write(lambda: self.inner.modify(dn, changes, expect=expect))

    def rename(
        self,
        dn: str,
        new_rdn: str,
        new_parent: str | None = None,
        *,
        expect: Filter | None = None,
    ) -> str:
        """Rename, counted."""
        result: str = self._write(lambda: self.inner.rename(dn, new_rdn, new_parent, expect=expect))
        return result

    def delete(self, dn: str, *, expect: Filter | None = None) -> None:
        """Delete, counted."""
        self._write(lambda: self.inner.delete(dn, expect=expect))

    def set_password(
        self, dn: str, new_password: SecretStr, *, old_password: SecretStr | None = None
    ) -> None:
        """Password change, counted."""
        self._write(lambda: self.inner.set_password(dn, new_password, old_password=old_password))

    def authenticate(self, dn: str, password: SecretStr) -> None:
        """Bind check on the wrapped directory."""
        self.inner.authenticate(dn, password)

    def close(self) -> None:
        """Nothing: the wrapped directory belongs to the world."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


_LIFECYCLE = {
    "students": {"grace_days": 20, "retention_days": 30},
    "staff": {"grace_days": 10, "retention_days": 20},
}


@dataclass
class NightlyWorld:
    """Exports, clock, store, slapd and SMTP server shared by consecutive nightly runs.

    Build one with :meth:`open`; :meth:`close` closes the store and the directory
    connection (the servers belong to the caller).

    Attributes:
        folder: Where the exports (and the SQLite file, if any) are.
        population: The modelled people.
        clock: The runs' clock (02:00, Brussels, each night).
        slapd: The throwaway OpenLDAP, killed and restarted by the fault steps.
        smtp: The recording SMTP server the end-of-run flush delivers to.
        settings: The true configuration (paths of today's exports).
        store: The state store.
        directory: An admin connection to ``slapd`` (reconnects after a restart).
        keyring: Opens the custody and the outbox.
        fault: The SMTP fault in force, if any.
    """

    folder: Path
    population: Population
    clock: FixedClock
    slapd: SlapdServer
    smtp: SmtpServer
    settings: Settings
    store: Store
    directory: Directory
    keyring: Keyring
    fault: SmtpFault | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        slapd: SlapdServer,
        smtp: SmtpServer,
        store: StoreSettings | None = None,
        start: date = date(ACADEMIC_YEAR, 7, 20),
        seed: int = 13,
    ) -> NightlyWorld:
        """A new world in ``folder`` (an empty directory tree on ``slapd`` is expected).

        Args:
            folder: An empty folder for the exports.
            slapd: The directory (its tree holding only the base entries).
            smtp: The SMTP server.
            store: Store settings; a SQLite file in ``folder`` when None.
            start: The first night.
            seed: The population's seed.
        """
        folder.mkdir(parents=True, exist_ok=True)
        store_settings = store or StoreSettings(url=f"sqlite:///{folder / 'state.sqlite3'}")
        settings = Settings(
            institution={"mail_domain": "ecampus.test", "portal_url": "https://ecampus.test/"},
            schools=[{"code": c, "name": n, "category": k} for c, n, k in SCHOOLS],
            sources={
                "pseudonym_key": SecretStr(generate_key()),
                "ledger_path": None,
                "connectors": [
                    {
                        "name": spec.source,
                        "type": "csv",
                        "path": str(folder / spec.file_name),
                        "profile": spec.profile,
                    }
                    for spec in SOURCES.values()
                ],
            },
            directory=slapd.settings().model_dump(),
            store=store_settings,
            policies={"lifecycle": _LIFECYCLE},
            mail={
                "transport": "smtp",
                "keys": [generate_key()],
                "flush_after_run": True,
                "throttle": {"per_domain_per_minute": 0, "overall_per_minute": 0},
            },
        )
        clock = FixedClock.on(start)
        opened = open_store(settings.store, clock=clock)
        directory = slapd.connect()
        population = Population(seed)
        population.seed_school_group()
        world = cls(
            folder=folder,
            population=population,
            clock=clock,
            slapd=slapd,
            smtp=smtp,
            settings=settings,
            store=opened,
            directory=directory,
            keyring=keyring_from_settings(settings),
        )
        world._closers += [opened.close, directory.close]
        return world

    def close(self) -> None:
        """Close the store and the directory connection."""
        while self._closers:
            self._closers.pop()()

    # -- exports --------------------------------------------------------------------------

    def path(self, source: str) -> Path:
        """Where ``source``'s export is."""
        return self.folder / SOURCES[source].file_name

    def write_exports(self) -> None:
        """Write every source's true export for tonight."""
        for source in SOURCES:
            self.path(source).write_bytes(self.population.export_bytes(source))

    def spoil(self, source: str, way: Refusal | None, pick: int = 0) -> Settings:
        """Spoil ``source``'s export for tonight; return the configuration to run with.

        Args:
            source: The source.
            way: How (``None``: the rows shuffled, which must be accepted).
            pick: Chooses the column missing, the truncation point, the shuffle.
        """
        path = self.path(source)
        population = self.population
        if way is None:
            rows = population.rows(source)
            random.Random(pick).shuffle(rows)  # noqa: S311 - not a secret
            path.write_bytes(population.export_bytes(source, rows=rows))
        elif way is Refusal.HEADER_ONLY:
            path.write_bytes(population.export_bytes(source, rows=[]))
        elif way is Refusal.EMPTY:
            path.write_bytes(b"")
        elif way is Refusal.MISSING:
            path.unlink()
        elif way is Refusal.COLUMN_MISSING:
            header, _ = SOURCES[source].header()
            path.write_bytes(population.export_bytes(source, drop_column=pick % len(header)))
        elif way is Refusal.TRUNCATED:
            raw = path.read_bytes()
            lines = raw.splitlines(keepends=True)
            # Cut inside a row of the first half: the header and at most half the rows.
            keep = 1 + (pick % max(1, (len(lines) - 1) // 2))
            cut = sum(len(line) for line in lines[:keep]) + len(lines[keep]) // 2
            path.write_bytes(raw[:cut])
        elif way is Refusal.MISSPELT:
            name = SOURCES[source].file_name
            misspelt = name.replace("nn", "n", 1) if "nn" in name else name.replace("-", "", 1)
            return self._with_path(source, self.folder / misspelt)
        return self.settings

    def _with_path(self, source: str, path: Path) -> Settings:
        sources = self.settings.sources
        assert sources is not None  # noqa: S101 - open() configures them
        connectors = [
            c.model_copy(update={"path": path}) if c.name == source else c
            for c in sources.connectors
        ]
        return self.settings.model_copy(
            update={"sources": sources.model_copy(update={"connectors": connectors})}
        )

    def restart_directory(self) -> Directory:
        """Start slapd again after a kill, on the same data, and connect to it anew.

        The old connection is closed: a connection opened before the kill fails once
        more before it reconnects (the way each run of the CLI would connect anew).
        """
        self.slapd.start_again()
        old, self.directory = self.directory, self.slapd.connect()
        self._closers.remove(old.close)
        self._closers.append(self.directory.close)
        old.close()
        return self.directory

    # -- runs -----------------------------------------------------------------------------

    def mailer(self, settings: Settings | None = None) -> OutboxMailer:
        """The end-of-run mailer: the SMTP server, no throttling."""
        mailer = build_mailer(
            settings or self.settings,
            self.store,
            self.clock,
            transport=SmtpTransport(self.smtp.settings(timeout_seconds=2)),
            directory=self.directory,
            throttle=False,
        )
        assert mailer is not None  # noqa: S101 - the transport is given
        return mailer

    def run(
        self,
        *,
        settings: Settings | None = None,
        directory: Directory | None = None,
        approve: str | None = None,
    ) -> RunReport:
        """One real nightly run on the current clock (the outbox flushed at its end)."""
        settings = settings or self.settings
        assert settings.sources is not None  # noqa: S101 - open() configures them
        with open_connectors(settings.sources) as connectors:
            return NightlyRun(
                settings,
                clock=self.clock,
                store=self.store,
                directory=directory or self.directory,
                connectors=connectors,
                mailer=self.mailer(settings),
            ).run(approve=approve)

    def dry_run(self, *, settings: Settings | None = None) -> RunReport:
        """Today's plan, right after a run, without writing anything."""
        settings = settings or self.settings
        assert settings.sources is not None  # noqa: S101 - open() configures them
        with open_connectors(settings.sources) as connectors:
            return NightlyRun(
                settings,
                clock=self.clock,
                store=self.store,
                directory=self.directory,
                connectors=connectors,
            ).plan()

    def run_approving(self, *, settings: Settings | None = None) -> tuple[RunReport, bool]:
        """A run; a plan held by its budgets is approved by hash, as an operator would.

        Returns:
            The report of the last run, and whether a held plan was approved.
        """
        report = self.run(settings=settings)
        if report.status is RunStatus.HELD and report.plan is not None:
            return self.run(settings=settings, approve=report.plan.hash), True
        return report, False

    def next_night(self, days: int = 1) -> None:
        """Move the clock to 02:00 ``days`` nights later."""
        self.clock.set(FixedClock.on(self.clock.today() + timedelta(days=days)).now())

    def set_night(self, day: date) -> None:
        """Move the clock to 02:00 on ``day``."""
        self.clock.set(FixedClock.on(day).now())

    # -- clock boundaries -----------------------------------------------------------------

    def boundaries(self, status: AccountStatus) -> list[date]:
        """The days on which accounts in ``status`` move on (grace → disable → delete)."""
        zone = self.settings.institution.zone
        periods = self.settings.policies.lifecycle
        days: list[date] = []
        for record in self.store.accounts().values():
            if record.status is not status or record.last_seen_in_sources is None:
                continue
            left_on = record.last_seen_in_sources.astimezone(zone).date() + timedelta(days=1)
            period = periods.periods_for(record.roles)
            disable_on = left_on + timedelta(days=period.grace_days)
            delete_on = disable_on + timedelta(days=period.retention_days)
            days.append(disable_on if status is AccountStatus.GRACE else delete_on)
        return sorted(days)

    # -- SMTP faults ----------------------------------------------------------------------

    def smtp_fails(self, fault: SmtpFault, pick: int = 0) -> None:
        """Make the SMTP server fail ``fault``'s way until :meth:`smtp_recovers`."""
        self.smtp_recovers()
        server = self.smtp
        reply = {
            SmtpFault.REFUSE_421_CONNECT: ("connect", "421 4.3.2 Service not available"),
            SmtpFault.REFUSE_421_MAIL: ("mail", "421 4.7.0 Too many connections"),
            SmtpFault.DEFER_451_RCPT: ("rcpt", "451 4.3.0 Temporary local problem"),
            SmtpFault.DEFER_451_DATA: ("data", "451 4.3.0 Temporary local problem"),
        }
        if fault is SmtpFault.DOWN:
            server.down()
        elif fault in reply:
            where, text = reply[fault]
            setattr(server.faults, where, text)
        elif fault is SmtpFault.REJECT_550_ONE:
            listed = self.population.listed()
            if listed:
                address = listed[pick % len(listed)].email
                server.refuse[address] = f"550 5.1.1 <{address}>: user unknown"
        elif fault is SmtpFault.DROP_IN_DATA:
            server.faults.drop_in_data = 1 + pick % 3
        self.fault = fault

    def smtp_recovers(self) -> None:
        """The SMTP server behaves again (the 550 of one address stays: it is permanent)."""
        self.smtp.faults.clear()
        self.smtp.up()
        self.fault = None

    def delivered(self) -> list[bytes]:
        """Every message the SMTP server accepted, raw."""
        return [m.raw for m in self.smtp.messages]
