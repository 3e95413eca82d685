"""The nightly run's two central promises, attacked on a real slapd (issue 13).

* **Every password we hold binds.** slapd is SIGKILLed in the middle of the apply (after a
  number of adds, some of them sent on the connection without their answer read); the
  run records only what the directory confirmed; after a restart the re-run converges:
  one entry per person, and every password in the custody and in every welcome mail of
  an active account binds.
* **A refused source changes nobody.** Each way an export goes wrong (header only, empty,
  missing, misspelt path, a column missing, truncated) leaves every person exactly as
  they were (entry, groups, store record), and the run ends ``partial`` naming the source.
* **memberOf equals group membership** after the first run, and drift is repaired by the
  next one.
"""

from __future__ import annotations

import email
import re
import secrets
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.crypto import generate_key
from ecampus_idm.custody import open_custody
from ecampus_idm.directory.base import Directory, Modification, Scope
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.errors import DirectoryUnavailableError
from ecampus_idm.mail.wiring import keyring_from_settings
from ecampus_idm.model import AccountStatus
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store.base import RunStatus
from ecampus_idm.store.sql import SqlStore, open_store
from ecampus_idm.sync.model import EntryKind
from ecampus_idm.testing.nightly import KillAfterWrites
from ecampus_idm.testing.plugin import _unavailable, reset_tree
from ecampus_idm.testing.slapd import SlapdServer, find_slapd, start_slapd

pytestmark = [pytest.mark.integration, pytest.mark.ldap]

PEOPLE = 300
_SKIP = frozenset({"entrycsn", "modifytimestamp", "modifiersname", "pwdchangedtime"})


@pytest.fixture(scope="module")
def server() -> Iterator[SlapdServer]:
    """A slapd of this module's own: its tests kill it."""
    layout = find_slapd()
    if layout is None:
        _unavailable("slapd is not installed (apt-get install slapd ldap-utils)")
    slapd = start_slapd(layout=layout)
    try:
        yield slapd
    finally:
        slapd.stop()


@dataclass
class World:
    folder: Path
    settings: Settings
    clock: FixedClock
    store: SqlStore
    server: SlapdServer
    directory: LdapDirectory

    def run(self, directory: Any = None, approve: str | None = None) -> RunReport:
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            return NightlyRun(
                self.settings,
                clock=self.clock,
                store=self.store,
                directory=directory or self.directory,
                connectors=connectors,
            ).run(approve=approve)

    def reconnect(self) -> None:
        self.directory.close()
        self.directory = self.server.connect()

    def people(self) -> dict[str, dict[str, list[str]]]:
        """Every person entry (and its memberOf), without the change stamps."""
        found = self.directory.search(
            self.server.people_dn, scope=Scope.ONELEVEL, attributes=["*", "memberOf"]
        )
        return {
            e.dn.lower(): {k: sorted(v) for k, v in e.attributes.items() if k not in _SKIP}
            for e in found
        }

    def groups(self) -> dict[str, set[str]]:
        found = self.directory.search(
            self.server.groups_dn, scope=Scope.ONELEVEL, attributes=["member"]
        )
        return {e.dn.lower(): {m.lower() for m in e.get("member")} for e in found}

    def mailed(self) -> list[tuple[str, str]]:
        """(username, password) of every welcome mail delivered to the maildir."""
        found = []
        for path in sorted((self.folder / "mail" / "new").glob("*")):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            body = message.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            user = re.search(r"(?:Nom d'utilisateur|Username)\s*:\s*(\S+)", text)
            word = re.search(r"(?:Mot de passe initial|Initial password)\s*:\s*(\S+)", text)
            if user and word:
                found.append((user.group(1), word.group(1)))
        return found


@pytest.fixture
def world(server: SlapdServer, tmp_path: Path) -> Iterator[World]:
    server.start_again()  # a test that failed half-way may have left it killed
    write_sample(tmp_path, PEOPLE, bad_share=0.0)
    sample = tomllib.loads((tmp_path / "sources.toml").read_text("utf-8"))
    settings = Settings(
        institution={"mail_domain": "ecampus.test"},
        schools=sample["schools"],
        sources={**sample["sources"], "pseudonym_key": secrets.token_urlsafe(48)},
        directory=server.settings().model_dump(),
        store={"url": f"sqlite:///{tmp_path / 'state.sqlite3'}"},
        mail={
            "transport": "maildir",
            "maildir": "mail",
            "keys": [generate_key()],
            "flush_after_run": True,
        },
    ).resolve_paths(tmp_path, ca_file=False)
    clock = FixedClock.on(date(2026, 10, 2))
    store = open_store(settings.store, clock=clock)
    directory = server.connect()
    w = World(tmp_path, settings, clock, store, server, directory)
    try:
        yield w
    finally:
        server.start_again()
        w.reconnect()
        reset_tree(w.directory, server.base_dn)
        w.directory.close()
        store.close()


def _rerun(world: World) -> RunReport:
    """The operator's re-run: a plan held by its budgets is reviewed and approved."""
    report = world.run()
    if report.status is RunStatus.HELD:
        assert report.plan is not None
        report = world.run(approve=report.plan.hash)
    return report


def _every_password_binds(world: World) -> int:
    """Every custody password and every mailed one of an active account binds; count."""
    entries = {
        (e.first("uid") or "").lower(): e
        for e in world.directory.search(world.server.people_dn, scope=Scope.ONELEVEL)
    }
    per_person = Counter(e.first("ecampusPersonId") for e in entries.values())
    assert max(per_person.values()) == 1, per_person.most_common(3)  # no duplicate entry
    names = {r.person_id: r.username for r in world.store.username_records()}
    custody = open_custody(world.store, keyring_from_settings(world.settings))
    checked = 0
    for person_id, record in world.store.accounts().items():
        if record.status is not AccountStatus.ACTIVE:
            continue
        password = custody.reveal(person_id)
        if password is None:
            continue
        world.directory.authenticate(entries[names[person_id]].dn, password)
        checked += 1
    mailed = world.mailed()
    assert mailed
    for username, password in mailed:
        world.directory.authenticate(entries[username.lower()].dn, SecretStr(password))
    pairs = Counter(mailed)
    assert max(pairs.values()) == 1, pairs.most_common(2)  # never the same mail twice
    return checked + len(mailed)


@pytest.mark.parametrize("after", [40, 150])
def test_directory_killed_mid_apply_every_password_binds(world: World, after: int) -> None:
    """SIGKILL after some adds; restart; re-run: one entry each, every password binds."""
    killer = KillAfterWrites(world.directory, after, world.server.kill)
    report = world.run(directory=killer)
    assert killer.killed
    assert killer.writes >= after
    assert report.status is RunStatus.PARTIAL, report.to_dict()
    assert report.applied is not None
    assert report.applied.interrupted
    # Exactly the adds the directory answered are recorded (answers already on the wire
    # when slapd died count: they were read), and none of those it never answered.
    recorded = world.store.accounts()
    assert report.plan is not None
    planned = [op for op in report.plan.operations if op.entry_kind is EntryKind.PERSON]
    assert len(recorded) == report.applied.applied["create"] < len(planned)
    world.server.start_again()
    world.reconnect()
    assert len(world.people()) >= len(recorded)
    _rerun(world)
    checked = _every_password_binds(world)
    assert checked > PEOPLE // 2
    world.clock.advance(timedelta(days=1))
    again = world.run()
    assert again.plan is not None
    assert again.plan.is_empty, again.plan.counts()


def _header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _missing(path: Path) -> None:
    path.unlink()


def _misspelt(path: Path) -> None:
    # The configuration names a file that is not there, next to the real one.
    path.rename(path.with_name("x" + path.name))


def _column_missing(path: Path) -> None:
    lines = path.read_bytes().splitlines()  # whatever its encoding: bytes split the same
    delimiter = b";" if lines[0].count(b";") >= lines[0].count(b",") else b","
    path.write_bytes(
        b"".join(delimiter.join(line.split(delimiter)[1:]) + b"\r\n" for line in lines)
    )


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _sources(world: World) -> list[Any]:
    assert world.settings.sources is not None
    return list(world.settings.sources.connectors)


SPOILERS = {
    "header-only": _header_only,
    "empty": _empty,
    "missing": _missing,
    "misspelt": _misspelt,
    "column-missing": _column_missing,
    "truncated": _truncated,
}


@pytest.mark.parametrize("source", ["secretariat-he", "personnel"])
@pytest.mark.parametrize("way", sorted(SPOILERS))
def test_refused_source_changes_nobody(world: World, way: str, source: str) -> None:
    """Each way an export goes wrong: nobody changes, the run is partial and says why."""
    assert _rerun(world).status is RunStatus.SUCCEEDED
    world.clock.advance(timedelta(days=1))
    before = (world.people(), world.groups(), world.store.accounts())
    config = next(s for s in _sources(world) if s.name == source)
    path = Path(config.path)
    original = path.read_bytes()
    SPOILERS[way](path)
    for _ in range(2):  # night after night: still nobody changes
        world.clock.advance(timedelta(days=30))
        report = world.run()
        assert report.status is RunStatus.PARTIAL, (report.to_dict()["plan"], report.message)
        assert source in report.refused, report.refused
        assert source in report.message
        assert report.deferred > 0 or report.plan is not None
        after = (world.people(), world.groups(), world.store.accounts())
        changed = [dn for dn, entry in before[0].items() if after[0].get(dn) != entry]
        assert not changed, f"{len(changed)} people changed, e.g. {changed[0]}"
        assert after[1] == before[1]
        statuses = {k: v.status for k, v in after[2].items()}
        assert statuses == {k: v.status for k, v in before[2].items()}
        roles = {k: v.roles for k, v in after[2].items()}
        assert roles == {k: v.roles for k, v in before[2].items()}
    for stray in path.parent.glob("x" + path.name):
        stray.unlink()
    path.write_bytes(original)
    world.clock.advance(timedelta(days=1))
    assert world.run().status is RunStatus.SUCCEEDED


def test_shuffled_rows_change_nobody(world: World) -> None:
    """The same export with its rows in another order: an empty plan."""
    assert _rerun(world).status is RunStatus.SUCCEEDED
    for config in _sources(world):
        path = Path(config.path)
        header, *rows = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(header + b"".join(reversed(rows)))
    world.clock.advance(timedelta(days=1))
    report = world.run()
    assert report.status is RunStatus.SUCCEEDED, report.to_dict()
    assert report.plan is not None
    assert report.plan.is_empty, report.plan.counts()


def _member_of_agrees(world: World) -> list[str]:
    """The people whose memberOf is not the set of groups listing them."""
    listing: dict[str, set[str]] = {}
    for group, members in world.groups().items():
        for member in members:
            listing.setdefault(member, set()).add(group)
    return [
        dn
        for dn, entry in world.people().items()
        if {v.lower() for v in entry.get("memberof", [])} != listing.get(dn, set())
    ]


def test_member_of_equals_membership_after_the_first_run(world: World) -> None:
    """On slapd with the memberof overlay, after one run."""
    assert _rerun(world).status is RunStatus.SUCCEEDED
    assert world.groups()
    disagree = _member_of_agrees(world)
    assert not disagree, f"{len(disagree)} of {len(world.people())} people disagree"


def test_member_of_drift_is_repaired_by_the_next_run(world: World) -> None:
    """Entries re-added after the groups that list them lack memberOf: the next run heals."""
    assert _rerun(world).status is RunStatus.SUCCEEDED
    groups = world.groups()
    victims = sorted(dn for dn in world.people() if any(dn in m for m in groups.values()))[:5]
    directory: Directory = world.directory
    for dn in victims:
        entry = directory.get(dn)
        assert entry is not None
        directory.delete(dn)  # refint drops it from the groups
        for group, members in groups.items():
            if dn in members:
                directory.modify(group, [Modification.add("member", dn)])  # dangling
        directory.add(dn, dict(entry.attributes))  # back, without memberOf
    assert set(_member_of_agrees(world)) == set(victims)
    world.clock.advance(timedelta(days=1))
    report = world.run()
    assert report.plan is not None
    assert report.plan.counts().get("repair_member", 0) > 0, report.plan.counts()
    assert not _member_of_agrees(world)
    world.clock.advance(timedelta(days=1))
    again = world.run()
    assert again.plan is not None
    assert again.plan.is_empty, again.plan.counts()


def test_unavailable_directory_is_what_the_wrapper_sees(world: World) -> None:
    """The fault is real: after the kill the old connection answers with unavailability."""
    world.server.kill()
    with pytest.raises(DirectoryUnavailableError):
        world.directory.get(world.server.people_dn)
