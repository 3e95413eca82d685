"""The invariant checks of issue 13 hold on a healthy world, and each one can fail.

A check that cannot fail proves nothing: each test below breaks one promise by hand (a
wrong password in the custody, an entry edited behind the run's back, a welcome mail
received twice, a username given to someone else, a refused source whose people lost a
group) and expects exactly that breach, on a real slapd with the memberof overlay.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.custody import open_custody
from ecampus_idm.directory.base import Modification
from ecampus_idm.directory.filters import eq
from ecampus_idm.model import AccountStatus
from ecampus_idm.runner import RunReport
from ecampus_idm.store.base import RunStatus
from ecampus_idm.testing.invariants import (
    MEMBER_OF,
    NOTHING_LEFT,
    ONE_WELCOME,
    PASSWORDS_BIND,
    REFUSED_SOURCE_KEPT,
    USERNAMES_KEPT,
    InvariantChecker,
    InvariantViolation,
    PeopleSnapshot,
    PersonFacts,
    credentials_in,
)
from ecampus_idm.testing.nightly import NightlyWorld, Refusal
from ecampus_idm.testing.slapd import SlapdServer, find_slapd, start_slapd
from ecampus_idm.testing.smtp import SmtpServer, start_smtp_server

pytestmark = [pytest.mark.integration, pytest.mark.ldap]


@pytest.fixture
def slapd() -> Iterator[SlapdServer]:
    """A slapd of the test's own (the world's tree is left as the runs made it)."""
    from ecampus_idm.testing.plugin import _unavailable  # noqa: PLC0415

    if find_slapd() is None:
        _unavailable("slapd is not installed (apt-get install slapd ldap-utils)")
    server = start_slapd()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(tmp_path: Path, slapd: SlapdServer, smtp: SmtpServer) -> Iterator[NightlyWorld]:
    """Two nights: staff on 20 July, PS students on 1 August; mails sent."""
    opened = NightlyWorld.open(tmp_path, slapd=slapd, smtp=smtp)
    try:
        for day in (date(2026, 7, 20), date(2026, 8, 1)):
            opened.set_night(day)
            opened.write_exports()
            assert opened.run().status is RunStatus.SUCCEEDED
        yield opened
    finally:
        opened.close()


def _checker(world: NightlyWorld) -> InvariantChecker:
    return InvariantChecker(
        store=world.store,
        directory=world.directory,
        keyring=world.keyring,
        people_dn=world.slapd.people_dn,
        groups_dn=world.slapd.groups_dn,
        delivered=world.delivered,
    )


def _names(breaches: list[object]) -> list[str]:
    return [getattr(b, "invariant", "") for b in breaches]


def test_a_healthy_world_holds_every_invariant(world: NightlyWorld) -> None:
    """After normal nights every check holds, and the tally counts one check each."""
    checker = _checker(world)
    assert checker.after_night(second_plan=world.dry_run().plan) == []
    assert checker.conclude() == []
    assert set(checker.tally.held) == {
        PASSWORDS_BIND,
        MEMBER_OF,
        NOTHING_LEFT,
        USERNAMES_KEPT,
        ONE_WELCOME,
    }
    assert not checker.tally.broken


def test_every_sent_welcome_mail_is_read_back(world: NightlyWorld) -> None:
    """The credentials of each mail received are parsed, with the outbox's message id."""
    found = [credentials_in(raw) for raw in world.delivered()]
    assert found
    assert all(c is not None and c.message_id and c.username for c in found)
    assert len({c.message_id for c in found if c is not None}) == len(found)


def test_a_custody_password_that_does_not_bind_is_a_breach(world: NightlyWorld) -> None:
    """One wrong password in the custody: passwords-bind names that account."""
    checker = _checker(world)
    person_id, record = next(
        (p, r) for p, r in world.store.accounts().items() if r.status is AccountStatus.ACTIVE
    )
    username = world.store.username_of(person_id)
    assert username is not None
    assert record is not None
    open_custody(world.store, world.keyring).deposit(
        person_id,
        username.username,
        SecretStr("Wrong-Password-Deposited-7"),
        issued_at=world.clock.now(),
    )
    breaches = checker.passwords_bind()
    assert _names(breaches) == [PASSWORDS_BIND]
    assert username.username in str(breaches[0])
    assert "custody" in str(breaches[0])
    with pytest.raises(InvariantViolation):
        checker.conclude("the test")


def test_an_entry_edited_behind_the_runs_back_is_left_to_plan(world: NightlyWorld) -> None:
    """A managed attribute changed by hand: the second run plans its repair."""
    entry = next(
        iter(world.directory.search(world.slapd.people_dn, eq("objectClass", "ecampusPerson")))
    )
    world.directory.modify(entry.dn, [Modification.replace("displayName", "Quelqu'un d'autre")])
    breaches = _checker(world).nothing_left(world.dry_run().plan)
    assert _names(breaches) == [NOTHING_LEFT]
    assert "update" in str(breaches[0])


def test_a_welcome_mail_received_twice_is_a_breach(world: NightlyWorld) -> None:
    """The same message accepted twice by the server (the at-least-once window)."""
    raw = world.delivered()
    checker = _checker(world)
    checker.delivered = lambda: [*raw, raw[0]]
    breaches = checker.one_welcome()
    assert _names(breaches) == [ONE_WELCOME]
    assert "SMTP server" in str(breaches[0])


def test_a_username_given_to_another_person_is_a_breach(world: NightlyWorld) -> None:
    """An entry's uid seen with another person id than before: usernames-kept."""
    checker = _checker(world)
    assert checker.usernames_kept() == []
    entry = next(
        iter(world.directory.search(world.slapd.people_dn, eq("objectClass", "ecampusPerson")))
    )
    owner = entry.first("ecampusPersonId")
    assert owner is not None
    world.directory.modify(entry.dn, [Modification.replace("ecampusPersonId", "0" * len(owner))])
    breaches = checker.usernames_kept()
    assert _names(breaches) == [USERNAMES_KEPT]
    assert (entry.first("uid") or "") in str(breaches[0])


def _facts(person_id: str, *, groups: frozenset[str], status: AccountStatus) -> PersonFacts:
    return PersonFacts(
        person_id=person_id,
        username=f"user.{person_id}",
        status=status,
        entry_status=status.value,
        locked=False,
        roles=frozenset({"teacher"}),
        affiliations=frozenset({"faculty"}),
        schools=frozenset({"HEC-MONS"}),
        entitlements=frozenset(),
        groups=groups,
        sources=frozenset({"personnel"}),
    )


def test_a_refused_source_whose_people_lost_something_is_a_breach(world: NightlyWorld) -> None:
    """A refused source, the run said succeeded, and one of its people lost a group."""
    both = frozenset({"cn=a", "cn=b"})
    before = PeopleSnapshot(
        {
            "p1": _facts("p1", groups=both, status=AccountStatus.ACTIVE),
            "p2": _facts("p2", groups=both, status=AccountStatus.ACTIVE),
        }
    )
    after = PeopleSnapshot(
        {
            "p1": _facts("p1", groups=frozenset({"cn=a"}), status=AccountStatus.ACTIVE),
            "p2": _facts("p2", groups=both | {"cn=c"}, status=AccountStatus.ACTIVE),  # gained
        }
    )
    report = RunReport(status=RunStatus.SUCCEEDED, refused={"personnel": "empty"})
    breaches = _checker(world).refused_sources_kept(before, after, report)
    assert _names(breaches) == [REFUSED_SOURCE_KEPT] * 2
    assert "ended succeeded" in str(breaches[0])
    assert "1 of 2 people" in str(breaches[1])
    assert "user.p1" in str(breaches[1])
    assert "cn=b" in str(breaches[1])
    partial = RunReport(status=RunStatus.PARTIAL, refused={"personnel": "empty"})
    assert _checker(world).refused_sources_kept(before, before, partial) == []


def test_a_spoiled_export_that_is_used_is_a_breach(world: NightlyWorld) -> None:
    """A header-only export named as spoiled but absent from the refused sources."""
    world.next_night()
    world.write_exports()
    settings = world.spoil("secretariat-ps", Refusal.HEADER_ONLY)
    checker = _checker(world)
    before = checker.snapshot()
    report = world.run(settings=settings)
    after = checker.snapshot()
    assert "secretariat-ps" in report.refused
    not_named = RunReport(status=RunStatus.PARTIAL)
    breaches = checker.refused_sources_kept(before, after, not_named, expected=["secretariat-ps"])
    assert [b.detail for b in breaches] == ["the spoiled export of secretariat-ps was not refused"]
