"""Contract tests of the user-facing flows, on any real target directory.

Three contract classes, written once and run against OpenLDAP and Samba AD:

* :class:`WelcomeMailContract`: a nightly run with a fixed clock sends exactly one welcome
  mail per created account (username, initial password, platform address) through a real
  SMTP server; the password in the mail is the directory's; a re-run sends nothing; an
  address corrected in the source gets one mail, to the new address only; no mailed
  password in our logs (DEBUG) or in the timelines (canary).
* :class:`ResetFlowContract`: "Mot de passe oublié": request → worker → reset mail
  (through the outbox and SMTP) → peek → redeem → the new password binds, the old one is
  refused; a link works once; a disabled account gets no reset mail; no token, chosen
  password or address in our logs (canary).
* :class:`DiagnosisContract`: support FAQ situations reproduced with real nightly runs:
  account fine and mail delivered ("check spam, then Mot de passe oublié"), a teacher
  without attribution in the school asked about, a higher-education student before
  1 September, a mistyped personal address (account created, mail held, sent the night
  after the correction); the timeline's directory line and the secretariat listing read the
  account in the target's vocabulary.

A subclass provides two fixtures: ``flow_directory`` (an administrator connection to the
target, emptied between tests) and ``flow_directory_settings`` (its ``[directory]``
settings, whose ``kind`` chooses the mapping profile and the account vocabulary), and,
where the target differs, overrides :meth:`FlowContract.check_initial_password` (on AD
the initial password is right but must be changed: bind result 773). Accounts are made
by the nightly run itself (the target's mapping profile); nothing here is written in one
target's vocabulary except :meth:`FlowContract.disable_account`, which follows
:class:`~ecampus_idm.passwords.vocabulary.AccountVocabulary`.

Needs the ``testing`` extra (aiosmtpd) for the ``smtp_server`` fixture.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import secrets
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import DirectorySettings, Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.crypto import generate_key
from ecampus_idm.custody import open_custody
from ecampus_idm.directory.active_directory import UAC_DISABLED
from ecampus_idm.directory.base import Directory, Entry, Modification
from ecampus_idm.errors import DirectoryError, InvalidCredentialsError
from ecampus_idm.mail.delivery import OutboxMailer
from ecampus_idm.mail.outbox import open_outbox
from ecampus_idm.mail.reset import OutboxResetMailer
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.mail.wiring import build_mailer, keyring_from_settings
from ecampus_idm.mapping.openldap import LOCKED
from ecampus_idm.passwords import (
    PasswordResetService,
    PasswordSettings,
    TokenInvalidError,
    TokenKeyring,
)
from ecampus_idm.passwords.vocabulary import AccountVocabulary
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store import open_store
from ecampus_idm.store.base import RunStatus
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.support.diagnose import (
    ConclusionCode,
    Diagnosis,
    Diagnostician,
    FaqStep,
    Lookup,
    read_sources,
)
from ecampus_idm.support.listing import PasswordState, SecretariatListing
from ecampus_idm.support.settings import OperatorSettings, SupportSettings
from ecampus_idm.testing.smtp import ReceivedMessage, SmtpServer

__all__ = [
    "ActivationContract",
    "DiagnosisContract",
    "FlowContract",
    "FlowWorld",
    "ResetFlowContract",
    "WelcomeMailContract",
]

PORTAL = "https://ecampus.test/"
RESET_URL = "https://portal.ecampus.test/mot-de-passe"
PASSWORD_LINE = re.compile(r"Mot de passe initial : (\S+)")
USERNAME_LINE = re.compile(r"Nom d'utilisateur : (\S+)")
TOKEN = re.compile(r"token=([^\s&]+)")
NEW_PASSWORD = "Horizon-Cobalt-Marmotte-42"  # noqa: S105 - the test's chosen password
CLIENT_IP = "203.0.113.9"
SAMPLE_PEOPLE = 40
LOCKOUT_ATTEMPTS = 12
"""Wrong binds that lock an account out (slapd's policy: 10; AD's threshold: set to 5)."""


@dataclass
class FlowWorld:
    """Exports, settings, clock, SQLite store, target directory and SMTP server of a test."""

    folder: Path
    settings: Settings
    clock: FixedClock
    store: SqlStore
    directory: Directory
    smtp: SmtpServer

    @property
    def vocabulary(self) -> AccountVocabulary:
        """How accounts read in the target."""
        return AccountVocabulary.for_directory(self.settings.directory)

    def run(self) -> RunReport:
        """One nightly run on the current clock; the outbox is flushed to SMTP at the end."""
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            report = NightlyRun(
                self.settings,
                clock=self.clock,
                store=self.store,
                directory=self.directory,
                connectors=connectors,
                mailer=self.mailer(),
            ).run()
        assert report.status is RunStatus.SUCCEEDED, report.message
        return report

    def mailer(self) -> OutboxMailer:
        """The outbox mailer delivering to the test SMTP server."""
        mailer = build_mailer(
            self.settings,
            self.store,
            self.clock,
            transport=SmtpTransport(self.smtp.settings()),
            directory=self.directory,
            throttle=False,
        )
        assert mailer is not None
        return mailer

    def account(self, username: str) -> Entry:
        """The target's entry of the account ``username``."""
        words = self.vocabulary
        found = list(
            self.directory.search(
                self.settings.directory.people_dn,
                words.username_filter(username),
                attributes=words.attributes(),
            )
        )
        assert len(found) == 1, f"{len(found)} entries for {username!r}"
        return found[0]

    def welcome_mails(self) -> list[ReceivedMessage]:
        """The welcome mails received so far (those carrying an initial password)."""
        return [m for m in self.smtp.messages if PASSWORD_LINE.search(m.text())]

    def single_account(self) -> tuple[ReceivedMessage, str]:
        """A welcome mail whose address is no other account's, and the export holding it."""
        counts = Counter(r for m in self.smtp.messages for r in m.recipients)
        exports = {p.stem: p.read_bytes() for p in sorted(self.folder.glob("*.csv"))}
        for message in self.welcome_mails():
            (address,) = message.recipients
            holders = [n for n, raw in exports.items() if raw.count(address.encode()) == 1]
            if counts[address] == 1 and len(holders) == 1:
                return message, holders[0]
        raise AssertionError("no account alone at its personal address")

    def timeline_of(self, username: str) -> str:
        """The events of the account ``username``, one per line (a failing test's message).

        Reasons and event kinds only: no event carries a secret (see the canary tests).
        """
        person_id = self.account(username).first(self.vocabulary.person_id)
        lines = [
            f"{event.at.isoformat()} {event.kind}: {event.reason_en}"
            for event in self.store.events_for_person(person_id or "")
        ]
        return "\n".join(lines) or f"no event for {username!r}"

    def replace_in_export(self, source: str, old: str, new: str) -> None:
        """Replace the one occurrence of ``old`` in the export ``source``."""
        path = self.folder / f"{source}.csv"
        raw = path.read_bytes()
        encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
        text = raw.decode(encoding)
        assert text.count(old) == 1, f"{old!r} is not once in {source}"
        path.write_bytes(text.replace(old, new).encode(encoding))

    def reset_service(self) -> PasswordResetService:
        """The reset service on this world: outbox mailer, settings for the target."""
        outbox = open_outbox(self.store, keyring_from_settings(self.settings))
        return PasswordResetService.for_store(
            self.store,
            mailer=OutboxResetMailer(self.store, outbox),
            settings=PasswordSettings(reset_url=RESET_URL).for_directory(self.settings.directory),
            directory=self.directory,
            clock=self.clock,
            keyring=TokenKeyring.generate(),
        )

    def diagnose(self, lookup: Lookup) -> Diagnosis:
        """Diagnose on the current clock, from today's sources and the store's events."""
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            reading = read_sources(self.settings, connectors, store=self.store, clock=self.clock)
        return Diagnostician(
            self.settings,
            clock=self.clock,
            store=self.store,
            directory=self.directory,
            people=reading.people,
            issues=reading.issues,
            refused=reading.refused,
        ).diagnose(lookup)


def username_in(message: ReceivedMessage) -> str:
    """The username a welcome mail names."""
    found = USERNAME_LINE.search(message.text())
    assert found is not None, "no username in the mail"
    return found.group(1)


def password_in(message: ReceivedMessage) -> SecretStr:
    """The initial password a welcome mail carries."""
    found = PASSWORD_LINE.search(message.text())
    assert found is not None, "no password in the mail"
    return SecretStr(found.group(1))


def token_in(message: ReceivedMessage) -> str:
    """The token of the reset link a mail carries."""
    found = TOKEN.search(message.text())
    assert found is not None, "no reset link in the mail"
    return found.group(1)


def _settings(
    folder: Path,
    directory: DirectorySettings,
    *,
    schools: object,
    sources: dict[str, object],
) -> Settings:
    return Settings(
        institution={"mail_domain": "ecampus.test", "portal_url": PORTAL},
        schools=schools,
        sources={**sources, "pseudonym_key": secrets.token_urlsafe(48), "ledger_path": None},
        directory=directory.model_dump(),
        store={"url": f"sqlite:///{folder}/state.sqlite3"},
        mail={
            "transport": "smtp",
            "flush_after_run": True,
            "keys": [generate_key()],
            "throttle": {"per_domain_per_minute": 0, "overall_per_minute": 0},
        },
    ).resolve_paths(folder, ca_file=False)


# -- the small school group of the diagnosis ----------------------------------------------

_SCHOOLS = [
    {"code": "HEC-TOURNAI", "name": "Haute-Ecole Condorcet - Tournai", "category": "HE"},
    {"code": "HEC-MONS", "name": "Haute-Ecole Condorcet - Mons", "category": "HE"},
]
_STUDENT_HEADER = (
    "Matricule;Nom;Prénom;Date de naissance;NISS;Courriel personnel;Implantation;Section;"
    "Année académique;Encodage complet"
)
_STAFF_HEADER = (
    "Matricule;Nom;Prénom;Date de naissance;Numéro national;E-mail privé;Établissement;"
    "Catégorie;Fonction;Début attribution;Fin attribution"
)


def _niss(birth: date, serial: int) -> str:
    """A valid Belgian national number for ``birth`` and a serial (1-997)."""
    base = f"{birth:%y%m%d}{serial:03d}"
    number = int(("2" if birth.year >= 2000 else "") + base)
    return f"{base}{97 - number % 97:02d}"


def _student(matricule: str, names: tuple[str, str], birth: date, email: str, school: str) -> str:
    """One secretariat row: names are (family, given)."""
    serial = int(matricule[-3:])
    fields = [matricule, *names, f"{birth:%d/%m/%Y}", _niss(birth, serial), email]
    return ";".join([*fields, school, "INFO", "2026-2027", "Oui"])


def write_school_group(folder: Path) -> dict[str, object]:
    """Write the exports of three people; return the ``[sources]`` connectors.

    Alice (``HE0001``, higher-education student at Tournai), Farid (``HE0004``, student
    at Tournai) and Emma (``P0001``, teacher attributed at Mons only).
    """
    he = [
        _student("HE0001", ("Martin", "Alice"), date(2007, 3, 14), "alice.martin@gmail.com",
                 "HEC-TOURNAI"),
        _student("HE0004", ("Benali", "Farid"), date(2006, 6, 30), "farid.benali@skynet.be",
                 "HEC-TOURNAI"),
    ]  # fmt: skip
    emma_birth = date(1980, 2, 14)
    staff = [
        ";".join(["P0001", "Petit", "Emma", "14/02/1980", _niss(emma_birth, 107),
                  "emma.petit@gmail.com", "HEC-MONS", "HE", "ENS", "01/09/2020", ""]),
    ]  # fmt: skip
    for name, header, rows in (
        ("secretariat-he", _STUDENT_HEADER, he),
        ("personnel", _STAFF_HEADER, staff),
    ):
        text = "\n".join([header, *rows]) + "\n"
        (folder / f"{name}.csv").write_text(text, encoding="utf-8-sig")
    return {
        "connectors": [
            {"name": "personnel", "type": "csv", "path": "personnel.csv", "profile": "personnel"},
            {
                "name": "secretariat-he",
                "type": "csv",
                "path": "secretariat-he.csv",
                "profile": "secretariat",
            },
        ]
    }


# -- the contracts ----------------------------------------------------------------------


class FlowContract:
    """What every flow contract needs from the target (override the two fixtures)."""

    @pytest.fixture
    def flow_directory(self) -> Directory:
        """An administrator connection to the target, emptied between tests (override)."""
        raise NotImplementedError

    @pytest.fixture
    def flow_directory_settings(self) -> DirectorySettings:
        """The target's ``[directory]`` settings (override)."""
        raise NotImplementedError

    def check_initial_password(self, directory: Directory, dn: str, password: SecretStr) -> None:
        """Assert ``password`` is the account's initial password (override per target)."""
        directory.authenticate(dn, password)

    def disable_account(self, world: FlowWorld, dn: str) -> None:
        """Disable the account as the target's mapping profile does."""
        if world.vocabulary.is_active_directory:
            change = [Modification.replace("userAccountControl", str(UAC_DISABLED))]
        else:
            change = [
                Modification.replace("ecampusAccountStatus", "disabled"),
                Modification.replace("pwdAccountLockedTime", LOCKED),
            ]
        world.directory.modify(dn, change)

    def open_world(
        self,
        folder: Path,
        directory: Directory,
        directory_settings: DirectorySettings,
        smtp: SmtpServer,
        *,
        today: date,
        school_group: bool = False,
    ) -> Iterator[FlowWorld]:
        """A world on ``today``: the sample exports, or the diagnosis' school group."""
        if school_group:
            sources = write_school_group(folder)
            schools: object = _SCHOOLS
        else:
            write_sample(folder, SAMPLE_PEOPLE)
            sample = tomllib.loads((folder / "sources.toml").read_text("utf-8"))
            sources, schools = dict(sample["sources"]), sample["schools"]
        settings = _settings(folder, directory_settings, schools=schools, sources=sources)
        clock = FixedClock.on(today)
        with open_store(settings.store, clock=clock) as store:
            assert isinstance(store, SqlStore)
            yield FlowWorld(folder, settings, clock, store, directory, smtp)


class WelcomeMailContract(FlowContract):
    """The welcome mail of a nightly run, end to end on the target."""

    @pytest.fixture
    def world(
        self,
        tmp_path: Path,
        flow_directory: Directory,
        flow_directory_settings: DirectorySettings,
        smtp_server: SmtpServer,
    ) -> Iterator[FlowWorld]:
        """40 sample people on 2 October 2026, mail flushed to SMTP after each run."""
        yield from self.open_world(
            tmp_path, flow_directory, flow_directory_settings, smtp_server, today=date(2026, 10, 2)
        )

    def test_one_welcome_mail_per_created_account(self, world: FlowWorld) -> None:
        """Each created account gets exactly one mail: username, password, platform."""
        world.run()
        events = [e.kind for p in world.store.accounts() for e in world.store.events_for_person(p)]
        mails = world.welcome_mails()
        assert events.count("account.created") > SAMPLE_PEOPLE // 2
        assert len(mails) + events.count("mail.failed") == events.count("account.created")
        assert set(Counter(username_in(m) for m in mails).values()) == {1}
        text = mails[0].text()
        assert PORTAL in text
        assert password_in(mails[0]).get_secret_value()

    def test_mail_password_is_the_target_password(self, world: FlowWorld) -> None:
        """The password in the mail is the account's initial password in the target."""
        world.run()
        message = world.welcome_mails()[0]
        entry = world.account(username_in(message))
        self.check_initial_password(world.directory, entry.dn, password_in(message))

    def test_rerun_sends_no_mail(self, world: FlowWorld) -> None:
        """The next night, with nothing changed, sends nothing."""
        world.run()
        before = len(world.smtp.messages)
        world.clock.advance(timedelta(days=1))
        world.run()
        assert len(world.smtp.messages) == before

    def test_corrected_address_gets_one_mail_to_the_new_address(self, world: FlowWorld) -> None:
        """An address corrected in the source: one mail to the new address, none to the old."""
        world.run()
        first, source = world.single_account()
        (old,) = first.recipients
        world.replace_in_export(source, old, "corrected.address@skynet.be")
        before = len(world.smtp.messages)
        world.clock.advance(timedelta(days=1))
        world.run()
        assert len(world.smtp.messages) == before + 1, world.timeline_of(username_in(first))
        (again,) = world.smtp.to("corrected.address@skynet.be")
        assert world.smtp.to(old) == [first]
        assert username_in(again) == username_in(first)
        entry = world.account(username_in(first))
        assert entry.first(world.vocabulary.personal_mail) == "corrected.address@skynet.be"

    def test_no_initial_password_in_logs_or_events(
        self, world: FlowWorld, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Canary: no mailed password in our log records (DEBUG) nor in any timeline."""
        caplog.set_level(logging.DEBUG)
        world.run()
        passwords = [password_in(m).get_secret_value() for m in world.welcome_mails()]
        assert passwords
        # "mail.log" is aiosmtpd's own logger: the receiving server, which sees the mail.
        ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ecampus"))
        timeline = " ".join(
            f"{e.reason_fr} {e.reason_en} {dict(e.data)}"
            for person in world.store.accounts()
            for e in world.store.events_for_person(person)
        )
        assert ours
        assert [p for p in passwords if p in ours or p in timeline] == []


class ResetFlowContract(FlowContract):
    """The "Mot de passe oublié" flow on the target: request, mail, peek, redeem, bind."""

    @pytest.fixture
    def world(
        self,
        tmp_path: Path,
        flow_directory: Directory,
        flow_directory_settings: DirectorySettings,
        smtp_server: SmtpServer,
    ) -> Iterator[FlowWorld]:
        """40 sample people created on 2 October 2026, their welcome mails delivered."""
        for world in self.open_world(
            tmp_path, flow_directory, flow_directory_settings, smtp_server, today=date(2026, 10, 2)
        ):
            world.run()
            yield world

    @staticmethod
    def single_account(world: FlowWorld) -> tuple[str, str, SecretStr]:
        """(personal address, username, initial password) of an account alone at its address."""
        message, _ = world.single_account()
        return message.recipients[0], username_in(message), password_in(message)

    @staticmethod
    def reset_mails(world: FlowWorld, service: PasswordResetService) -> list[ReceivedMessage]:
        """Run the worker, flush the outbox; return the reset mails received."""
        service.process_pending()
        world.mailer().flush()
        return [m for m in world.smtp.messages if TOKEN.search(m.text())]

    def test_request_mail_peek_redeem_then_bind(
        self, world: FlowWorld, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The new password binds after the flow; the initial one is refused."""
        caplog.set_level(logging.WARNING, logger="ecampus_idm.passwords")
        address, username, initial = self.single_account(world)
        service = world.reset_service()
        service.request_reset(address.upper(), CLIENT_IP)
        (mail,) = self.reset_mails(world, service)
        assert mail.recipients == (address,)
        assert username in mail.text()
        token = token_in(mail)
        assert service.peek(token).username == username
        done = service.redeem(token, NEW_PASSWORD)
        assert done.username == username
        dn = world.account(username).dn
        world.directory.authenticate(dn, SecretStr(NEW_PASSWORD))  # no "must change" left
        with pytest.raises(InvalidCredentialsError) as refused:
            world.directory.authenticate(dn, initial)
        assert type(refused.value) is InvalidCredentialsError  # wrong, not "must change"
        warned = [r.getMessage() for r in caplog.records if r.name.startswith("ecampus_idm.pass")]
        assert warned == []  # "must change" cleared without a refusal

    def test_token_works_once(self, world: FlowWorld) -> None:
        """A redeemed link cannot set a password again."""
        address, _, _ = self.single_account(world)
        service = world.reset_service()
        service.request_reset(address, CLIENT_IP)
        (mail,) = self.reset_mails(world, service)
        service.redeem(token_in(mail), NEW_PASSWORD)
        with pytest.raises(TokenInvalidError) as caught:
            service.redeem(token_in(mail), NEW_PASSWORD + "-bis")
        assert caught.value.reason == "used"

    def test_no_token_password_or_address_in_logs(
        self, world: FlowWorld, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Canary: the token, the chosen password and the address are in no log record."""
        address, _, _ = self.single_account(world)
        caplog.set_level(logging.DEBUG)
        service = world.reset_service()
        service.request_reset(address, CLIENT_IP)
        (mail,) = self.reset_mails(world, service)
        token = token_in(mail)
        service.peek(token)
        service.redeem(token, NEW_PASSWORD)
        ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ecampus"))
        assert "reset" in ours
        assert [c for c in (token, NEW_PASSWORD, address) if c in ours] == []

    def test_disabled_account_gets_no_reset_mail(self, world: FlowWorld) -> None:
        """A disabled account: the request is accepted, but no mail leaves."""
        address, username, _ = self.single_account(world)
        self.disable_account(world, world.account(username).dn)
        service = world.reset_service()
        service.request_reset(address, CLIENT_IP)
        before = len(world.smtp.messages)
        report = service.process_pending()
        assert report.suppressed == {"disabled": 1}
        assert report.mailed == 0
        world.mailer().flush()
        assert len(world.smtp.messages) == before

    # -- lockout after failed binds (issue 14, item 1) ------------------------------------

    @pytest.fixture
    def lockout_policy(self) -> None:
        """The target locks an account after repeated failed binds (override to enable).

        The throwaway slapd's default policy already does (``pwdMaxFailure: 10``,
        ``pwdLockoutDuration: 60``).
        """
        return

    def lock_out(self, world: FlowWorld, dn: str) -> None:
        """Lock the account out as a mistyping user, or an attacker, would: wrong binds."""
        for attempt in range(LOCKOUT_ATTEMPTS):
            with contextlib.suppress(DirectoryError):
                world.directory.authenticate(dn, SecretStr(f"pas-le-bon-{attempt}"))
        entry = world.directory.get(dn, world.vocabulary.attributes())
        assert entry is not None
        assert world.vocabulary.is_locked_out(entry), "the target did not lock the account"
        assert not world.vocabulary.is_disabled(entry)

    def test_locked_out_account_gets_the_mail_and_the_reset_unlocks_it(
        self, world: FlowWorld, lockout_policy: None
    ) -> None:
        """Locked after bad binds: the reset mail leaves, the new password binds at once."""
        del lockout_policy
        address, username, _ = self.single_account(world)
        dn = world.account(username).dn
        self.lock_out(world, dn)
        service = world.reset_service()
        service.request_reset(address, CLIENT_IP)
        (mail,) = self.reset_mails(world, service)
        token = token_in(mail)
        assert service.peek(token).username == username
        service.redeem(token, NEW_PASSWORD)
        world.directory.authenticate(dn, SecretStr(NEW_PASSWORD))  # within the lockout time
        entry = world.directory.get(dn, world.vocabulary.attributes())
        assert entry is not None
        assert not world.vocabulary.is_locked_out(entry)
        person = world.account(username).first(world.vocabulary.person_id)
        kinds = [e.kind for e in world.store.events_for_person(person or "")]
        assert "account.unlocked" in kinds

    def test_a_link_sent_before_the_lockout_still_works(
        self, world: FlowWorld, lockout_policy: None
    ) -> None:
        """A lockout after the mail left does not kill the link (an attacker's bad binds)."""
        del lockout_policy
        address, username, _ = self.single_account(world)
        service = world.reset_service()
        service.request_reset(address, CLIENT_IP)
        (mail,) = self.reset_mails(world, service)
        dn = world.account(username).dn
        self.lock_out(world, dn)
        service.redeem(token_in(mail), NEW_PASSWORD)
        world.directory.authenticate(dn, SecretStr(NEW_PASSWORD))

    def test_a_disabled_account_link_is_refused(self, world: FlowWorld) -> None:
        """A link sent before the account was disabled no longer sets a password."""
        address, username, _ = self.single_account(world)
        service = world.reset_service()
        service.request_reset(address, CLIENT_IP)
        (mail,) = self.reset_mails(world, service)
        self.disable_account(world, world.account(username).dn)
        with pytest.raises(TokenInvalidError) as refused:
            service.redeem(token_in(mail), NEW_PASSWORD)
        assert refused.value.reason == "disabled"


class ActivationContract(FlowContract):
    """Welcome mails in activation mode: a link to choose the first password."""

    @pytest.fixture
    def world(
        self,
        tmp_path: Path,
        flow_directory: Directory,
        flow_directory_settings: DirectorySettings,
        smtp_server: SmtpServer,
    ) -> Iterator[FlowWorld]:
        """40 sample people on 2 October 2026; mail.mode = activation, with a token key."""
        for world in self.open_world(
            tmp_path, flow_directory, flow_directory_settings, smtp_server, today=date(2026, 10, 2)
        ):
            world.settings = world.settings.model_copy(
                update={
                    "mail": world.settings.mail.model_copy(update={"mode": "activation"}),
                    "passwords": PasswordSettings(
                        reset_url=RESET_URL,
                        token_keys=(SecretStr(base64.b64encode(secrets.token_bytes(32)).decode()),),
                    ),
                }
            )
            yield world

    def test_activation_link_sets_the_first_password(self, world: FlowWorld) -> None:
        """The mail carries a link, not a password; redeeming it sets a password that binds."""
        world.run()
        mails = [m for m in world.smtp.messages if TOKEN.search(m.text())]
        assert mails
        assert not PASSWORD_LINE.search(mails[0].text())
        outbox = open_outbox(world.store, keyring_from_settings(world.settings))
        service = PasswordResetService.for_store(
            world.store,
            mailer=OutboxResetMailer(world.store, outbox),
            settings=world.settings.passwords.for_directory(world.settings.directory),
            directory=world.directory,
            clock=world.clock,
        )
        token = token_in(mails[0])
        username = service.peek(token).username
        assert username in mails[0].text()
        service.redeem(token, NEW_PASSWORD)
        world.directory.authenticate(world.account(username).dn, SecretStr(NEW_PASSWORD))
        with pytest.raises(TokenInvalidError):
            service.redeem(token, NEW_PASSWORD + "-bis")


class DiagnosisContract(FlowContract):
    """Support FAQ situations on the target, reproduced with real nightly runs."""

    @pytest.fixture
    def world(
        self,
        tmp_path: Path,
        flow_directory: Directory,
        flow_directory_settings: DirectorySettings,
        smtp_server: SmtpServer,
    ) -> Iterator[FlowWorld]:
        """Three people (Alice, Farid, Emma) on 10 September 2026."""
        yield from self.open_world(
            tmp_path,
            flow_directory,
            flow_directory_settings,
            smtp_server,
            today=date(2026, 9, 10),
            school_group=True,
        )

    def test_account_fine_and_mail_delivered_check_spam(self, world: FlowWorld) -> None:
        """Account in the target, welcome mail delivered: spam folder, then forgot password."""
        world.run()
        assert world.smtp.to("farid.benali@skynet.be")
        diagnosis = world.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
        assert diagnosis.conclusion.code is ConclusionCode.CHECK_SPAM
        assert diagnosis.conclusion.step is FaqStep.CHECK_SPAM
        assert "Mot de passe oublié" in diagnosis.conclusion.fr
        assert diagnosis.username == "farid.benali"

    def test_timeline_reads_the_account_in_the_target(self, world: FlowWorld) -> None:
        """The timeline's directory line names the account and its status in the target."""
        world.run()
        diagnosis = world.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
        (line,) = [t for t in diagnosis.timeline if t.kind == "directory.entry"]
        assert "farid.benali" in line.fr
        assert line.data["status"] == "active"
        assert line.data["groups"]

    def test_teacher_without_attribution_in_the_asked_school(self, world: FlowWorld) -> None:
        """A teacher attributed at Mons asking about Tournai: the personnel office acts."""
        world.run()
        diagnosis = world.diagnose(
            Lookup(school="HEC-TOURNAI", name="Emma Petit", birth_date=date(1980, 2, 14))
        )
        assert diagnosis.conclusion.code is ConclusionCode.NO_ATTRIBUTION
        assert "bureau du personnel" in diagnosis.conclusion.fr

    @pytest.mark.parametrize(
        "typo", ["farid.benali@skynet", "farid.benali@@skynet.be"], ids=["domain", "syntax"]
    )
    def test_invalid_address_holds_the_mail_until_the_correction(
        self, world: FlowWorld, typo: str
    ) -> None:
        """A mistyped address: the account is created, the mail is held ("invalid address").

        Support says the secretariat must correct it; the night after the correction the
        credentials leave, once, to the corrected address, and the password works.
        """
        world.replace_in_export("secretariat-he", "farid.benali@skynet.be", typo)
        world.run()
        entry = world.account("farid.benali")
        assert world.smtp.to("farid.benali@skynet.be") == []
        assert not [m for m in world.smtp.messages if username_in(m) == "farid.benali"]
        person_id = entry.first(world.vocabulary.person_id)
        assert person_id is not None
        held = [e for e in world.store.events_for_person(person_id) if e.kind == "mail.failed"]
        assert [e.data["reason"] for e in held] == ["invalid_address"]
        diagnosis = world.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
        assert diagnosis.conclusion.code is ConclusionCode.EMAIL_INVALID
        assert diagnosis.conclusion.step is FaqStep.CHECK_EMAIL_ENCODING
        assert "secrétariat" in diagnosis.conclusion.fr
        assert typo not in diagnosis.to_json("fr") + diagnosis.render("en")

        world.replace_in_export("secretariat-he", typo, "farid.benali@skynet.be")
        world.clock.advance(timedelta(days=1))
        world.run()
        (mail,) = world.smtp.to("farid.benali@skynet.be")
        assert username_in(mail) == "farid.benali"
        self.check_initial_password(world.directory, entry.dn, password_in(mail))
        world.clock.advance(timedelta(days=1))
        world.run()
        assert len(world.smtp.to("farid.benali@skynet.be")) == 1
        after = world.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
        assert after.conclusion.code is ConclusionCode.CHECK_SPAM

    def listing(self, world: FlowWorld) -> dict[str, PasswordState]:
        """The HEC-TOURNAI listing with the custody: each username's password state."""
        listing = SecretariatListing(
            world.settings,
            clock=world.clock,
            store=world.store,
            directory=world.directory,
            custody=open_custody(world.store, keyring_from_settings(world.settings)),
            support=SupportSettings(operators=(OperatorSettings(name="helpdesk", schools=("*",)),)),
        ).build("HEC-TOURNAI", operator="helpdesk")
        return {row.username: row.state for row in listing.rows}

    @pytest.mark.parametrize("by", ["user", "administrator"])
    def test_a_password_changed_in_the_directory_is_never_mailed_again(
        self, world: FlowWorld, by: str
    ) -> None:
        """Issue 22's reproduction: the password changed in the target, then the address.

        The user changes the initial password (or an administrator resets it, as
        ``ldappasswd`` or ``unicodePwd`` would), the same day the listing says "already
        changed"; the address is corrected; the next night one mail goes to the new
        address, the reset hint, without the dead password; the custody is discarded
        with an event, the diagnosis says "password already changed".
        """
        world.run()
        (first,) = world.smtp.to("farid.benali@skynet.be")
        initial = password_in(first)
        entry = world.account("farid.benali")
        person_id = entry.first(world.vocabulary.person_id)
        assert person_id is not None
        assert self.listing(world)["farid.benali"] is PasswordState.INITIAL
        chosen = SecretStr("Quartz-Lagune-Pivoine-73")
        world.directory.set_password(
            entry.dn, chosen, old_password=initial if by == "user" else None
        )
        assert self.listing(world)["farid.benali"] is PasswordState.CHANGED

        world.replace_in_export("secretariat-he", "farid.benali@skynet.be", "f.benali@telenet.be")
        world.clock.advance(timedelta(days=1))
        before = len(world.smtp.messages)
        world.run()
        fresh = world.smtp.messages[before:]
        assert [m.recipients for m in fresh] == [("f.benali@telenet.be",)]
        (hint,) = fresh
        assert initial.get_secret_value() not in hint.raw.decode("utf-8", "replace")
        assert not PASSWORD_LINE.search(hint.text())
        assert "Mot de passe oublié" in hint.text()
        status = open_custody(world.store, keyring_from_settings(world.settings)).status(person_id)
        assert status is not None
        assert (status.held, status.discard_reason) == (False, "password.changed")
        kinds = [e.kind for e in world.store.events_for_person(person_id)]
        assert kinds.count("password.changed") == 1
        diagnosis = world.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
        assert diagnosis.conclusion.code is ConclusionCode.PASSWORD_CHANGED
        assert "Mot de passe oublié" in diagnosis.conclusion.fr
        assert self.listing(world)["farid.benali"] is PasswordState.CHANGED

        world.clock.advance(timedelta(days=1))
        world.run()
        assert len(world.smtp.messages) == before + 1
        kinds = [e.kind for e in world.store.events_for_person(person_id)]
        assert kinds.count("password.changed") == 1

    def test_an_unsent_welcome_mail_loses_a_password_changed_meanwhile(
        self, world: FlowWorld
    ) -> None:
        """SMTP down: the welcome mail waits; the password changes; it is never sent.

        The secretariat hands the password out, the user changes it; the next night the
        queued mail is withdrawn.
        """
        world.smtp.down()
        try:
            world.run()
        finally:
            world.smtp.up()
        assert world.smtp.to("farid.benali@skynet.be") == []
        entry = world.account("farid.benali")
        person_id = entry.first(world.vocabulary.person_id)
        assert person_id is not None
        custody = open_custody(world.store, keyring_from_settings(world.settings))
        initial = custody.reveal(person_id)
        assert initial is not None
        world.directory.set_password(
            entry.dn, SecretStr("Quartz-Lagune-Pivoine-73"), old_password=initial
        )
        world.clock.advance(timedelta(days=1))
        world.run()
        assert world.smtp.to("farid.benali@skynet.be") == []
        outbox = open_outbox(world.store, keyring_from_settings(world.settings))
        (mail,) = outbox.messages_for(person_id)
        assert (mail.status.value, mail.last_error) == ("failed", "password_changed")
        assert outbox.reveal(mail) is None
        assert world.smtp.to("alice.martin@gmail.com") != []  # the others' mails left

    def test_he_student_before_1_september_then_on_that_day(self, world: FlowWorld) -> None:
        """On 31 August no account, "1er septembre"; the night of 1 September makes it."""
        world.clock.set(FixedClock.on(date(2026, 8, 31), hour=14).now())
        world.run()
        before = world.diagnose(Lookup(school="HEC-TOURNAI", email="alice.martin@gmail.com"))
        assert before.conclusion.code is ConclusionCode.ACCOUNT_ON_DATE
        assert "1er septembre 2026" in before.conclusion.fr
        world.clock.set(FixedClock.on(date(2026, 9, 1)).now())
        world.run()
        after = world.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0001"))
        assert after.status == "active"
        assert after.username == "alice.martin"
        assert world.account("alice.martin").first(world.vocabulary.person_id) == after.person_id

    def test_secretariat_listing_reads_the_school_in_the_target(self, world: FlowWorld) -> None:
        """The listing of a school shows its accounts as the target holds them."""
        world.run()
        listing = SecretariatListing(
            world.settings,
            clock=world.clock,
            store=world.store,
            directory=world.directory,
            custody=None,
            support=SupportSettings(operators=(OperatorSettings(name="helpdesk", schools=("*",)),)),
        ).build("HEC-TOURNAI", operator="helpdesk")
        assert sorted(r.username for r in listing.rows) == ["alice.martin", "farid.benali"]
        assert all(r.person_id and r.family_name for r in listing.rows)
