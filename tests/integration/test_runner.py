"""The nightly run end to end: sample exports → policies → plan → apply → store."""

from __future__ import annotations

import csv
import secrets
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.directory.base import Directory
from ecampus_idm.directory.filters import eq
from ecampus_idm.runner import NightlyRun, RunInProgressError, RunReport
from ecampus_idm.store import open_store
from ecampus_idm.store.base import RunStatus, Store
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.sync import OpKind
from ecampus_idm.testing.plugin import memory_base_tree
from ecampus_idm.testing.slapd import SlapdServer

BASE = "dc=ecampus,dc=test"
KEY = secrets.token_urlsafe(48)


@dataclass
class World:
    """Everything a run needs, kept between runs of one test."""

    folder: Path
    settings: Settings
    clock: FixedClock
    store: Store
    directory: Directory

    def run(self, approve: str | None = None) -> RunReport:
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            job = NightlyRun(
                self.settings,
                clock=self.clock,
                store=self.store,
                directory=self.directory,
                connectors=connectors,
            )
            return job.run(approve=approve)

    def people(self) -> list[str]:
        entries = self.directory.search(f"ou=people,{BASE}", eq("objectClass", "ecampusPerson"))
        return sorted(e.first("uid") or "" for e in entries)

    def drop_rows(self, source: str, keep: int) -> list[dict[str, str]]:
        """Keep the first ``keep`` data rows of an export; return the dropped ones."""
        path = self.folder / f"{source}.csv"
        raw = path.read_bytes()
        encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
        text = raw.decode(encoding)
        delimiter = ";" if text.split("\n", 1)[0].count(";") else ","
        rows = list(csv.DictReader(text.splitlines(), delimiter=delimiter))
        fields = list(rows[0])
        with path.open("w", encoding=encoding, newline="") as out:
            writer = csv.DictWriter(out, fields, delimiter=delimiter)
            writer.writeheader()
            writer.writerows(rows[:keep])
        return rows[keep:]


def _settings(folder: Path, directory: dict[str, object]) -> Settings:
    sample = tomllib.loads((folder / "sources.toml").read_text("utf-8"))
    data = {
        "institution": {"mail_domain": "ecampus.test"},
        "schools": sample["schools"],
        "sources": {**sample["sources"], "pseudonym_key": KEY, "ledger_path": None},
        "directory": directory,
    }
    return Settings(**data).resolve_paths(folder, ca_file=False)


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Sample exports of 400 people, a memory directory and store, on 2 October 2026."""
    write_sample(tmp_path, 400)
    clock = FixedClock.on(date(2026, 10, 2))
    settings = _settings(
        tmp_path,
        {
            "url": "ldap://127.0.0.1",
            "bind_dn": f"cn=admin,{BASE}",
            "bind_password": "unused-by-the-memory-twin",
            "base_dn": BASE,
        },
    )
    return World(tmp_path, settings, clock, MemoryStore(clock), memory_base_tree())


def test_first_run_creates_and_second_has_nothing_to_do(world: World) -> None:
    """A first run creates every eligible account; the next one plans nothing."""
    first = world.run()
    assert first.status is RunStatus.SUCCEEDED
    assert first.plan is not None
    assert first.plan.counts()["create"] > 300
    assert first.quarantined > 0
    second = world.run()
    assert second.status is RunStatus.SUCCEEDED
    assert second.plan is not None
    assert second.plan.is_empty
    assert [r.status for r in world.store.recent_runs(2)] == [RunStatus.SUCCEEDED] * 2


def test_created_accounts_are_recorded_with_events(world: World) -> None:
    """Every created account has a username, an account record, a creation event, then mail."""
    world.run()
    accounts = world.store.accounts()
    usernames = {r.person_id: r.username for r in world.store.username_records()}
    assert set(world.people()) == {usernames[p] for p in accounts}
    some = next(iter(accounts))
    kinds = [e.kind for e in world.store.events_for_person(some)]
    assert kinds[0] == "account.created"
    assert kinds[1] in {"mail.queued", "mail.failed"}  # failed: no usable personal address


def test_truncated_export_never_takes_anything_away(world: World) -> None:
    """An export cut in half is refused: nobody loses an account or a group."""
    world.run()
    before = world.people()
    world.drop_rows("secretariat-he", keep=40)
    world.clock.advance(timedelta(days=1))
    report = world.run()
    assert "secretariat-he" in report.refused
    assert report.plan is not None
    assert not {OpKind.DELETE, OpKind.DISABLE, OpKind.REMOVE_MEMBER} & {
        op.kind for op in report.plan.operations
    }
    assert world.people() == before


def test_leaver_goes_through_grace_disable_delete(world: World) -> None:
    """A student who leaves keeps the account in grace, then is disabled, then deleted."""
    world.run()
    dropped = world.drop_rows("secretariat-ps", keep=-3)
    gone = {row["Matricule"] for row in dropped}
    assert gone
    statuses: list[set[str]] = []
    for days in (1, 121, 400):
        world.clock.set(FixedClock.on(date(2026, 10, 2) + timedelta(days=days)).now())
        report = world.run()
        assert report.status is RunStatus.SUCCEEDED, report.message
        statuses.append(set(report.accounts))
    assert "grace" in statuses[0]
    assert "disabled" in statuses[1]
    assert "deleted" in statuses[2]


def test_over_budget_plan_is_held_then_applied_with_its_hash(world: World) -> None:
    """Many leavers at once hold the plan; approving its hash applies it."""
    world.run()
    world.drop_rows("secretariat-he", keep=-25)  # 15 %: accepted, but over the budget
    world.clock.advance(timedelta(days=125))
    held = world.run()
    assert held.status is RunStatus.HELD, held.to_dict()
    assert held.plan is not None
    assert held.plan.tripped
    stale = world.run(approve="0" * 64)
    assert stale.status is RunStatus.HELD
    applied = world.run(approve=held.plan.hash)
    assert applied.status is RunStatus.SUCCEEDED
    assert applied.applied is not None
    assert applied.applied.applied["disable"] > 0


@pytest.mark.ldap
def test_nightly_run_on_slapd_with_sqlite(
    ldap_server: SlapdServer, ldap_directory: Directory, tmp_path: Path
) -> None:
    """The same run against a real slapd and a SQLite store converges in one run."""
    write_sample(tmp_path, 200)
    settings = _settings(tmp_path, ldap_server.settings().model_dump())
    settings = settings.model_copy(
        update={"store": settings.store.model_copy(update={"url": f"sqlite:///{tmp_path}/s.db"})}
    )
    clock = FixedClock.on(date(2026, 10, 2))
    with open_store(settings.store, clock=clock) as store:
        world = World(tmp_path, settings, clock, store, ldap_directory)
        assert world.run().status is RunStatus.SUCCEEDED
        second = world.run()
        assert second.plan is not None
        assert second.plan.is_empty
        uid = world.people()[0]
        entry = ldap_directory.get(f"uid={uid},ou=people,{BASE}", ["pwdReset"])
        assert entry is not None
        assert entry.first("pwdReset") == "TRUE"


def test_overlapping_run_is_refused(world: World) -> None:
    """A second run while another is still marked running is refused, nothing started."""
    other = world.store.start_run("run")
    with pytest.raises(RunInProgressError) as caught:
        world.run()
    assert caught.value.run_id == other.run_id
    assert [r.run_id for r in world.store.recent_runs(5)] == [other.run_id]


def test_crashed_run_does_not_block_forever(world: World) -> None:
    """A run left 'running' by a crash no longer blocks once it is old enough."""
    world.store.start_run("run")
    world.clock.advance(timedelta(hours=7))
    assert world.run().status is RunStatus.SUCCEEDED


class RacingStore(MemoryStore):
    """A store in which another issuer takes ``stolen`` just before our reservation."""

    stolen = ""

    def reserve_usernames(self, pairs):  # type: ignore[no-untyped-def]
        stolen, self.stolen = self.stolen, ""
        if stolen:
            self.reserve_username(stolen, "someone-else")
        return super().reserve_usernames(pairs)


def test_username_taken_meanwhile_defers_only_that_account(world: World) -> None:
    """A username taken by another issuer between plan and apply skips that create only."""
    store = RacingStore(world.clock)
    world.store = store
    assert world.settings.sources is not None
    with open_connectors(world.settings.sources) as connectors:
        job = NightlyRun(
            world.settings,
            clock=world.clock,
            store=store,
            directory=world.directory,
            connectors=connectors,
        )
        planned = job.plan()
    assert planned.plan is not None
    first_create = next(
        op for op in planned.plan.operations if op.kind is OpKind.CREATE and op.set_password
    )
    store.stolen = first_create.dn.split(",", 1)[0].split("=", 1)[1]
    taken = store.stolen
    report = world.run()
    assert report.status is RunStatus.SUCCEEDED
    assert report.applied is not None
    assert report.applied.applied["create"] == planned.plan.counts()["create"] - 1
    assert report.plan is not None
    assert taken not in world.people()
