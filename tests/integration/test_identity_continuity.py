"""Identity across runs: the store's links keep a person's id when their data changes."""

from __future__ import annotations

import secrets
import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.directory.base import Directory
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store.base import IdentityLinks, Store
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.testing.plugin import memory_base_tree

BASE = "dc=ecampus,dc=test"
EXPORT = "secretariat-he.csv"


def _settings(folder: Path) -> Settings:
    sample = tomllib.loads((folder / "sources.toml").read_text("utf-8"))
    data = {
        "institution": {"mail_domain": "ecampus.test"},
        "schools": sample["schools"],
        "sources": {
            **sample["sources"],
            "pseudonym_key": secrets.token_urlsafe(48),
            "ledger_path": None,
        },
        "directory": {
            "url": "ldap://127.0.0.1",
            "bind_dn": f"cn=admin,{BASE}",
            "bind_password": "unused-by-the-memory-twin",
            "base_dn": BASE,
        },
    }
    return Settings(**data).resolve_paths(folder, ca_file=False)


def _run(settings: Settings, clock: FixedClock, store: Store, directory: Directory) -> RunReport:
    assert settings.sources is not None
    with open_connectors(settings.sources) as connectors:
        return NightlyRun(
            settings, clock=clock, store=store, directory=directory, connectors=connectors
        ).run()


def _rewrite_number(folder: Path, matricule: str, number: str) -> str:
    """Set the NISS field of one row of the HE export; return the previous value."""
    path = folder / EXPORT
    lines = path.read_text("utf-8-sig").splitlines()
    header = lines[0].split(";")
    column = header.index("NISS")
    previous = ""
    for n, line in enumerate(lines[1:], start=1):
        fields = line.split(";")
        if fields[0] == matricule:
            previous, fields[column] = fields[column], number
            lines[n] = ";".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return previous


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Sample exports of 300 people."""
    write_sample(tmp_path, 300)
    return tmp_path


def _first_student(folder: Path) -> str:
    """The matricule of the first HE student with a valid-looking number and address."""
    for line in (folder / EXPORT).read_text("utf-8-sig").splitlines()[1:]:
        fields = line.split(";")
        if len(fields[4]) == 11 and fields[4].isdigit() and "@" in fields[5]:
            return fields[0]
    raise AssertionError("the sample has no plain HE student")


def test_number_arriving_later_keeps_the_account(folder: Path) -> None:
    """A student first exported without a national number keeps id and username once it comes."""
    settings = _settings(folder)
    clock = FixedClock.on(date(2026, 10, 2))
    store, directory = MemoryStore(clock), memory_base_tree()
    matricule = _first_student(folder)
    number = _rewrite_number(folder, matricule, "")
    _run(settings, clock, store, directory)
    before = {r.person_id: r.username for r in store.username_records()}

    _rewrite_number(folder, matricule, number)
    clock.advance(timedelta(days=1))
    second = _run(settings, clock, store, directory)

    assert second.plan is not None
    assert second.plan.counts().get("create", 0) == 0
    assert {r.person_id: r.username for r in store.username_records()} == before


def test_without_links_the_number_would_mint_a_new_person(folder: Path) -> None:
    """Control: forgetting the links makes the same change create a second account."""
    settings = _settings(folder)
    clock = FixedClock.on(date(2026, 10, 2))
    store, directory = MemoryStore(clock), memory_base_tree()
    matricule = _first_student(folder)
    number = _rewrite_number(folder, matricule, "")
    _run(settings, clock, store, directory)

    _rewrite_number(folder, matricule, number)
    clock.advance(timedelta(days=1))
    forgetful = _Forgetful(store)
    second = _run(settings, clock, forgetful, directory)

    assert second.plan is not None
    assert second.plan.counts().get("create", 0) == 1


def test_run_remembers_links_without_numbers_in_clear(folder: Path) -> None:
    """After a run the links name pseudonyms and source keys, never a national number."""
    settings = _settings(folder)
    clock = FixedClock.on(date(2026, 10, 2))
    store = MemoryStore(clock)
    _run(settings, clock, store, memory_base_tree())
    links = store.identity_links().as_dict()
    numbers = {
        line.split(";")[4] for line in (folder / EXPORT).read_text("utf-8-sig").splitlines()[1:]
    }
    assert links
    assert all(link.startswith(("niss:", "key:")) for link in links)
    assert not any(n and n in link for n in numbers if len(n) == 11 for link in links)


class _Forgetful(MemoryStore):
    """A store that answers with no identity links (as before links were kept)."""

    def __init__(self, inner: MemoryStore) -> None:
        self.__dict__.update(inner.__dict__)

    def identity_links(self) -> IdentityLinks:
        return IdentityLinks()
