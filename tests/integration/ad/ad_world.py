"""A world for nightly runs on Samba AD: sample exports, settings, clock, store, directory.

Shared by the AD integration tests (``test_ad_first_run.py``, ``test_ad_runner.py``).
"""

from __future__ import annotations

import csv
import secrets
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.directory.base import Entry
from ecampus_idm.directory.filters import eq
from ecampus_idm.directory.ldap import ActiveDirectory
from ecampus_idm.policies.engine import PolicyEngine
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.testing.samba import SambaServer

KEY = secrets.token_urlsafe(48)
START = date(2026, 10, 2)


class _Recording:
    """Wraps the initial-password generator and keeps what it issued, per username."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.issued: dict[str, SecretStr] = {}

    def generate(self, *, username: str = "", display_name: str = "") -> SecretStr:
        password: SecretStr = self.inner.generate(  # type: ignore[attr-defined]
            username=username, display_name=display_name
        )
        self.issued[username] = password
        return password


@dataclass
class AdWorld:
    """Everything a run on Samba AD needs, kept between runs of one test."""

    folder: Path
    settings: Settings
    clock: FixedClock
    store: MemoryStore
    directory: ActiveDirectory
    server: SambaServer
    issued: dict[str, SecretStr] = field(default_factory=dict)

    def run(self, approve: str | None = None) -> RunReport:
        assert self.settings.sources is not None
        engine = PolicyEngine(self.settings.policies)
        recorder = _Recording(engine.initial_passwords)
        engine.initial_passwords = recorder  # type: ignore[assignment]
        with open_connectors(self.settings.sources) as connectors:
            job = NightlyRun(
                self.settings,
                clock=self.clock,
                store=self.store,
                directory=self.directory,
                connectors=connectors,
                engine=engine,
            )
            report = job.run(approve=approve)
        self.issued.update(recorder.issued)
        return report

    def users(self) -> list[Entry]:
        return list(self.directory.search(self.server.people_dn, eq("objectClass", "user")))

    def user(self, username: str) -> Entry:
        (entry,) = self.directory.search(
            self.server.people_dn, eq("userPrincipalName", f"{username}@ecampus.test")
        )
        return entry

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

    def move(self, source: str, school: str) -> str:
        """Move the first row of ``source`` that is not at ``school`` there; its matricule."""
        path = self.folder / f"{source}.csv"
        raw = path.read_bytes()
        encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
        rows = list(csv.DictReader(raw.decode(encoding).splitlines(), delimiter=";"))
        row = next(r for r in rows if r["Implantation"] not in (school, "ECOLE-FERMEE"))
        row["Implantation"] = school
        with path.open("w", encoding=encoding, newline="") as out:
            writer = csv.DictWriter(out, list(rows[0]), delimiter=";")
            writer.writeheader()
            writer.writerows(rows)
        return row["Matricule"]

    def on_day(self, days: int) -> None:
        self.clock.set(FixedClock.on(START + timedelta(days=days)).now())


def make_world(folder: Path, server: SambaServer, directory: ActiveDirectory) -> AdWorld:
    """Sample exports of 200 people in ``folder``, on 2 October 2026, AD settings."""
    write_sample(folder, 200)
    sample = tomllib.loads((folder / "sources.toml").read_text("utf-8"))
    settings = Settings(
        institution={"mail_domain": "ecampus.test"},
        schools=sample["schools"],
        sources={**sample["sources"], "pseudonym_key": KEY, "ledger_path": None},
        directory=server.settings().model_dump(),
    ).resolve_paths(folder, ca_file=False)
    clock = FixedClock.on(START)
    return AdWorld(folder, settings, clock, MemoryStore(clock), directory, server)
