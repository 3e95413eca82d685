"""What a run enqueues: welcome on creation, resend on a corrected address, support resend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.crypto import Keyring
from ecampus_idm.mail.outbox import Purpose
from ecampus_idm.mail.settings import MailSettings
from ecampus_idm.mail.welcome import Addressee, WelcomeDesk
from ecampus_idm.model import EmailIssue, Role
from ecampus_idm.store.memory import MemoryStore

PASSWORD = SecretStr("Initial-Pw-8812")
JEAN = Addressee("p1", "jean.dupont", "Jean Dupont", "jean@gmail.com", frozenset({Role.STUDENT}))


@pytest.fixture
def desk(mail_store: MemoryStore, keyring: Keyring) -> WelcomeDesk:
    """The welcome desk in password mode."""
    return WelcomeDesk(mail_store, keyring, MailSettings())


def _purposes(desk: WelcomeDesk, person: str = "p1") -> list[tuple[Purpose, str]]:
    return [(m.purpose, m.to_masked) for m in desk.outbox.messages_for(person)]


def test_creation_deposits_and_enqueues_one_welcome(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """A created account gets its password in custody and one queued welcome mail."""
    events = desk.issue(JEAN, PASSWORD, now=mail_clock.now(), run_id=1)
    assert [e.kind for e in events] == ["mail.queued"]
    assert _purposes(desk) == [(Purpose.WELCOME, "j***@gmail.com")]
    revealed = desk.custody.reveal("p1")
    assert revealed is not None
    assert revealed.get_secret_value() == PASSWORD.get_secret_value()
    (message,) = desk.outbox.messages_for("p1")
    assert desk.outbox.reveal(message) == PASSWORD


def test_creation_without_address_is_recorded_for_support(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """Without a personal address, nothing is queued and support sees why."""
    nobody = Addressee("p2", "x.y", "X Y", None)
    (event,) = desk.issue(nobody, PASSWORD, now=mail_clock.now(), run_id=1)
    assert (event.kind, event.data["reason"]) == ("mail.failed", "no_address")
    assert desk.outbox.messages_for("p2") == []


def test_creation_with_an_invalid_address_holds_the_mail_with_its_reason(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """A mistyped address: the password kept, nothing queued, "invalid address" recorded."""
    typo = Addressee("p2", "x.y", "X Y", None, email_issue=EmailIssue.INVALID)
    (event,) = desk.issue(typo, PASSWORD, now=mail_clock.now(), run_id=1)
    assert (event.kind, event.data["reason"]) == ("mail.failed", "invalid_address")
    assert "n'est pas valide" in event.reason_fr
    assert "not valid" in event.reason_en
    assert desk.outbox.messages_for("p2") == []
    assert desk.custody.reveal("p2") == PASSWORD


def test_corrected_invalid_address_gets_the_credentials_next_run(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """Once the address is corrected, the next run sends the password kept in custody."""
    typo = Addressee("p2", "x.y", "X Y", None, email_issue=EmailIssue.INVALID)
    desk.issue(typo, PASSWORD, now=mail_clock.now(), run_id=1)
    mail_clock.advance(timedelta(days=1))
    desk.review_addresses(
        [Addressee("p2", "x.y", "X Y", "x@skynet.be")], now=mail_clock.now(), run_id=2
    )
    (message,) = desk.outbox.messages_for("p2")
    assert (message.purpose, message.to_masked) == (Purpose.WELCOME_AGAIN, "x***@skynet.be")
    assert desk.outbox.reveal(message) == PASSWORD


def test_address_added_later_gets_the_credentials(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """Once an address is encoded, the next run sends the welcome mail to it."""
    desk.issue(Addressee("p2", "x.y", "X Y", None), PASSWORD, now=mail_clock.now(), run_id=1)
    desk.review_addresses(
        [Addressee("p2", "x.y", "X Y", "x@skynet.be")], now=mail_clock.now(), run_id=2
    )
    assert _purposes(desk, "p2") == [(Purpose.WELCOME_AGAIN, "x***@skynet.be")]


def test_unchanged_address_sends_nothing(desk: WelcomeDesk, mail_clock: FixedClock) -> None:
    """The same address in the next run sends nothing more."""
    desk.issue(JEAN, PASSWORD, now=mail_clock.now(), run_id=1)
    assert desk.review_addresses([JEAN], now=mail_clock.now(), run_id=2) == []
    assert len(desk.outbox.messages_for("p1")) == 1


def test_corrected_address_gets_the_same_password(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """A corrected address receives the same initial password; the old one nothing more."""
    desk.issue(JEAN, PASSWORD, now=mail_clock.now(), run_id=1)
    corrected = Addressee("p1", "jean.dupont", "Jean Dupont", "jean.dupont@skynet.be")
    mail_clock.advance(timedelta(days=1))
    events = desk.review_addresses([corrected], now=mail_clock.now(), run_id=2)
    assert [e.kind for e in events] == ["mail.address_changed", "mail.queued"]
    assert events[0].data == {
        "from": "j***@gmail.com",
        "to": "j***@skynet.be",
        "purpose": "welcome-again",
    }
    again = desk.outbox.messages_for("p1")[-1]
    assert (again.purpose, again.to_address) == (Purpose.WELCOME_AGAIN, "jean.dupont@skynet.be")
    assert desk.outbox.reveal(again) == PASSWORD
    assert desk.review_addresses([corrected], now=mail_clock.now(), run_id=3) == []


def test_corrected_address_after_password_change_gets_the_hint(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """Once the user chose a password, a correction gets the « Mot de passe oublié » mail."""
    desk.issue(JEAN, PASSWORD, now=mail_clock.now(), run_id=1)
    desk.custody.discard("p1", reason="password.changed", at=mail_clock.now())
    corrected = Addressee("p1", "jean.dupont", "Jean Dupont", "jean.dupont@skynet.be")
    desk.review_addresses([corrected], now=mail_clock.now(), run_id=2)
    hint = desk.outbox.messages_for("p1")[-1]
    assert (hint.purpose, hint.has_secret) == (Purpose.RESET_HINT, False)


def test_account_from_before_the_pipeline_is_not_mailed(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """An existing account seen for the first time is remembered, not mailed."""
    assert desk.review_addresses([JEAN], now=mail_clock.now(), run_id=1) == []
    assert desk.outbox.messages_for("p1") == []
    assert desk.outbox.recipients()["p1"].address == "jean@gmail.com"


def test_activation_mode_queues_a_link_without_password(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """In activation mode the message carries no password (custody still holds it)."""
    desk = WelcomeDesk(mail_store, keyring, MailSettings(mode="activation"))
    desk.issue(JEAN, PASSWORD, now=mail_clock.now(), run_id=1)
    (message,) = desk.outbox.messages_for("p1")
    assert (message.purpose, message.has_secret) == (Purpose.ACTIVATION, False)
    assert desk.custody.status("p1") is not None


def test_population_language_is_used(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """A population configured in Dutch gets its mails in Dutch."""
    settings = MailSettings.model_validate({"populations": {"student": {"language": "nl"}}})
    desk = WelcomeDesk(mail_store, keyring, settings)
    desk.issue(JEAN, PASSWORD, now=mail_clock.now(), run_id=1)
    assert desk.outbox.messages_for("p1")[0].language == "nl"


def test_support_resend_goes_to_the_last_address(desk: WelcomeDesk, mail_clock: FixedClock) -> None:
    """Support's resend queues a new message with the same password, recorded as mail.resent."""
    desk.issue(JEAN, PASSWORD, now=mail_clock.now(), run_id=1)
    mail_clock.advance(timedelta(days=2))
    message, events = desk.resend(
        Addressee("p1", "jean.dupont", "Jean Dupont", None), now=mail_clock.now(), run_id=2
    )
    assert message is not None
    assert (message.purpose, message.to_masked) == (Purpose.WELCOME_AGAIN, "j***@gmail.com")
    assert [e.kind for e in events] == ["mail.resent", "mail.queued"]


def test_custody_expires_after_the_configured_days(
    desk: WelcomeDesk, mail_clock: FixedClock
) -> None:
    """Passwords kept longer than custody_days are discarded; later corrections get the hint."""
    desk.issue(JEAN, PASSWORD, now=mail_clock.now(), run_id=1)
    mail_clock.advance(timedelta(days=59))
    assert desk.expire(mail_clock.now()) == 0
    mail_clock.advance(timedelta(days=2))
    assert desk.expire(mail_clock.now()) == 1
    status = desk.custody.status("p1")
    assert status is not None
    assert status.discard_reason == "purged"
