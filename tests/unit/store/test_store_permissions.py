"""What the library writes to disk is readable by its owner only (issue 14, item 5)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecampus_idm.config import StoreSettings
from ecampus_idm.files import others_may_read, write_private
from ecampus_idm.mail.transports import MaildirTransport
from ecampus_idm.store import open_store
from ecampus_idm.store.errors import StoreUnavailableError
from ecampus_idm.testing.slapd import SlapdServer

RAW = b"From: a@condorcet.be\r\nTo: b@example.be\r\nSubject: x\r\n\r\nMot de passe\r\n"


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which files are created 0644 unless asked otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_new_sqlite_store_is_owner_only(tmp_path: Path) -> None:
    """A new SQLite store, its WAL and its shared-memory file are created 0600."""
    path = tmp_path / "state.sqlite3"
    with open_store(StoreSettings(url=f"sqlite:///{path}")) as store:
        store.reserve_username("jean.dupont", "p1")  # a write: the WAL exists now
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_store_readable_by_others_is_warned_at_opening(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An existing store readable by others: a French-first warning naming the file and mode."""
    path = tmp_path / "state.sqlite3"
    open_store(StoreSettings(url=f"sqlite:///{path}")).close()
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="ecampus_idm.store"):
        open_store(StoreSettings(url=f"sqlite:///{path}")).close()
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = record.getMessage()
    assert text.index("lisible par d'autres") < text.index("readable by others")
    assert str(path) in text
    assert "0644" in text
    assert f"chmod 600 {path}" in text


def test_owner_only_store_opens_without_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store created by us (0600) is reopened without a warning."""
    path = tmp_path / "state.sqlite3"
    open_store(StoreSettings(url=f"sqlite:///{path}")).close()
    with caplog.at_level(logging.WARNING, logger="ecampus_idm.store"):
        open_store(StoreSettings(url=f"sqlite:///{path}")).close()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_maildir_messages_are_owner_only(tmp_path: Path) -> None:
    """Each maildir message (it may hold an initial password) is 0600, its folders 0700."""
    box = tmp_path / "mail"
    transport = MaildirTransport(box)
    transport.send(RAW, sender="a@condorcet.be", recipients=["b@example.be"])
    transport.close()
    (message,) = (box / "new").iterdir()
    assert mode(message) == 0o600
    assert {d: mode(box / d) for d in ("", "new", "cur", "tmp")} == dict.fromkeys(
        ("", "new", "cur", "tmp"), 0o700
    )


def test_write_private_replaces_a_file_readable_by_others(tmp_path: Path) -> None:
    """An existing 0644 file is replaced by a 0600 one holding exactly the new content."""
    target = tmp_path / "listing.csv"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private(target, b"username;password\r\n")
    assert (target.read_bytes(), mode(target)) == (b"username;password\r\n", 0o600)
    assert others_may_read(target) is None
    assert [p.name for p in tmp_path.iterdir()] == ["listing.csv"]  # no temporary left


def test_write_private_into_a_missing_folder_leaves_nothing(tmp_path: Path) -> None:
    """A folder that does not exist: FileNotFoundError, and no file anywhere."""
    with pytest.raises(FileNotFoundError):
        write_private(tmp_path / "missing" / "listing.csv", b"x")
    assert list(tmp_path.iterdir()) == []


def test_a_new_store_in_a_missing_folder_is_a_store_error(tmp_path: Path) -> None:
    """The 0600 creation reports a missing folder as the store being unavailable."""
    with pytest.raises(StoreUnavailableError, match="cannot create the database file"):
        open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'missing' / 'state.sqlite3'}"))


@pytest.mark.ldap
def test_throwaway_slapd_private_key_is_owner_only(ldap_server: SlapdServer) -> None:
    """The TLS key the slapd fixture writes is 0600."""
    assert mode(ldap_server.ca_file.with_name("server.key")) == 0o600
