"""Contract tests of the mail outbox and the password custody, run against every twin.

Subclass :class:`OutboxContract` and :class:`CustodyContract` in a test module (name
starting with ``Test``) and provide a ``store`` fixture; the outbox and the custody are
opened on it with :func:`~ecampus_idm.mail.outbox.open_outbox` and
:func:`~ecampus_idm.custody.open_custody`, so the memory store gets the memory twins and
a SQL store the SQL implementations::

    class TestMemoryOutbox(OutboxContract):
        @pytest.fixture
        def store(self):
            return MemoryStore()
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from ecampus_idm.crypto import CryptoError, DataKey, Keyring, generate_key
from ecampus_idm.custody import PasswordCustody, open_custody
from ecampus_idm.mail.outbox import MessageStatus, NewMessage, Outbox, Purpose, open_outbox
from ecampus_idm.store.base import Store

__all__ = ["CustodyContract", "OutboxContract"]

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
SECRET = "Canary-Pw-7f3k9q"  # noqa: S105 - a canary, not a credential


def _keyring(*keys: str) -> Keyring:
    return Keyring([DataKey.parse(k) for k in keys])


def _message(key: str = "welcome:p1:1", person: str = "p1", **extra: object) -> NewMessage:
    values: dict[str, object] = {
        "idempotency_key": key,
        "person_id": person,
        "username": "jean.dupont",
        "purpose": Purpose.WELCOME,
        "to_address": "Jean.Dupont@Gmail.com",
        "display_name": "Jean Dupont",
        "secret": SecretStr(SECRET),
    }
    values.update(extra)
    return NewMessage(**values)  # type: ignore[arg-type]


class OutboxContract:
    """The outbox's behaviour, whatever keeps it."""

    @pytest.fixture
    def store(self) -> Store:
        """The store the outbox lives in (override)."""
        raise NotImplementedError

    @pytest.fixture
    def keyring(self) -> Keyring:
        """A fresh keyring."""
        return _keyring(generate_key())

    @pytest.fixture
    def outbox(self, store: Store, keyring: Keyring) -> Outbox:
        """The outbox under test."""
        return open_outbox(store, keyring)

    def test_enqueue_is_idempotent_per_key(self, outbox: Outbox) -> None:
        """Enqueuing one idempotency key twice gives one message."""
        first, new = outbox.enqueue(_message(), now=T0)
        again, new_again = outbox.enqueue(_message(), now=T0 + timedelta(hours=1))
        assert (new, new_again) == (True, False)
        assert again.message_id == first.message_id
        assert len(outbox.messages_for("p1")) == 1

    def test_enqueued_message_is_due_and_masked(self, outbox: Outbox) -> None:
        """A new message is queued, due at once, with a masked address."""
        message, _ = outbox.enqueue(_message(), now=T0)
        assert message.status is MessageStatus.QUEUED
        assert message.to_masked == "J***@gmail.com"
        assert message.to_address == "Jean.Dupont@gmail.com"
        assert [m.message_id for m in outbox.due(T0)] == [message.message_id]

    def test_password_is_sealed_and_revealed(self, outbox: Outbox) -> None:
        """The password comes back from the sealed value, never from the message's repr."""
        message, _ = outbox.enqueue(_message(), now=T0)
        assert message.has_secret
        assert SECRET not in repr(message)
        revealed = outbox.reveal(message)
        assert revealed is not None
        assert revealed.get_secret_value() == SECRET

    def test_sent_message_loses_its_password(self, outbox: Outbox) -> None:
        """Once sent, the message no longer holds the password and is no longer due."""
        message, _ = outbox.enqueue(_message(), now=T0)
        outbox.mark_sent(message.message_id, at=T0)
        sent = outbox.get(message.message_id)
        assert sent is not None
        assert sent.status is MessageStatus.SENT
        assert sent.attempts == 1
        assert outbox.reveal(sent) is None
        assert outbox.due(T0 + timedelta(days=1)) == []

    def test_deferred_message_is_due_again_later(self, outbox: Outbox) -> None:
        """A deferred message waits until its retry time."""
        message, _ = outbox.enqueue(_message(), now=T0)
        outbox.mark_deferred(message.message_id, error="451", retry_at=T0 + timedelta(minutes=5))
        assert outbox.due(T0 + timedelta(minutes=4)) == []
        (again,) = outbox.due(T0 + timedelta(minutes=5))
        assert (again.status, again.attempts, again.last_error) == (
            MessageStatus.DEFERRED,
            1,
            "451",
        )

    def test_failed_message_is_never_due(self, outbox: Outbox) -> None:
        """A permanent failure is final."""
        message, _ = outbox.enqueue(_message(), now=T0)
        outbox.mark_failed(message.message_id, error="550 no such user")
        assert outbox.due(T0 + timedelta(days=30)) == []
        assert outbox.counts() == {"failed": 1}

    def test_postponed_message_keeps_its_attempts(self, outbox: Outbox) -> None:
        """Postponing (throttling) moves the due time without counting an attempt."""
        message, _ = outbox.enqueue(_message(), now=T0)
        outbox.postpone(message.message_id, until=T0 + timedelta(minutes=1))
        assert outbox.due(T0) == []
        (later,) = outbox.due(T0 + timedelta(minutes=1))
        assert later.attempts == 0

    def test_due_respects_the_limit_in_queue_order(self, outbox: Outbox) -> None:
        """``due(limit=n)`` gives the n oldest messages."""
        ids = [
            outbox.enqueue(_message(f"k{i}", f"p{i}"), now=T0 + timedelta(seconds=i))[0].message_id
            for i in range(5)
        ]
        assert [m.message_id for m in outbox.due(T0 + timedelta(hours=1), limit=3)] == ids[:3]

    def test_same_instant_is_due_in_the_order_queued(self, outbox: Outbox) -> None:
        """Messages queued at one instant (one nightly run) are due in the order queued."""
        ids = [outbox.enqueue(_message(f"k{i}", f"p{i}"), now=T0)[0].message_id for i in range(40)]
        assert [m.message_id for m in outbox.due(T0)] == ids
        assert [m.message_id for m in outbox.due(T0, limit=7)] == ids[:7]

    def test_a_person_s_messages_come_in_the_order_queued(self, outbox: Outbox) -> None:
        """A person's messages queued at one instant are listed in the order queued."""
        ids = [outbox.enqueue(_message(f"k{i}"), now=T0)[0].message_id for i in range(12)]
        assert [m.message_id for m in outbox.messages_for("p1")] == ids

    def test_recipient_address_is_remembered_normalised(self, outbox: Outbox) -> None:
        """The last address is kept with a lower-case domain."""
        outbox.remember_address("p1", "Jean@Example.BE", at=T0)
        record = outbox.recipient("p1")
        assert record is not None
        assert record.address == "Jean@example.be"
        assert outbox.recipients()["p1"].address == "Jean@example.be"

    def test_bounce_mark_is_cleared_by_a_new_address(self, outbox: Outbox) -> None:
        """A bouncing address stops bouncing when the address is corrected."""
        outbox.remember_address("p1", "a@example.be", at=T0)
        outbox.mark_bouncing("p1", reason="5.1.1", at=T0)
        assert outbox.recipients()["p1"].bouncing_since == T0
        outbox.remember_address("p1", "b@example.be", at=T0)
        assert outbox.recipients()["p1"].bouncing_since is None

    def test_sent_message_is_found_by_address(self, outbox: Outbox) -> None:
        """A bounce names an address: the latest sent message to it is found."""
        message, _ = outbox.enqueue(_message(), now=T0)
        assert outbox.message_for_address("jean.dupont@gmail.com") is None
        outbox.mark_sent(message.message_id, at=T0)
        found = outbox.message_for_address("Jean.Dupont@gmail.com")
        assert found is not None
        assert found.message_id == message.message_id

    def test_purge_deletes_old_finished_messages_only(self, outbox: Outbox) -> None:
        """Old sent, failed and bounced messages go; pending and recent ones stay."""
        sent, _ = outbox.enqueue(_message("k:sent"), now=T0)
        failed, _ = outbox.enqueue(_message("k:failed"), now=T0)
        bounced, _ = outbox.enqueue(_message("k:bounced"), now=T0)
        waiting, _ = outbox.enqueue(_message("k:waiting"), now=T0)
        recent, _ = outbox.enqueue(_message("k:recent"), now=T0 + timedelta(days=10))
        for message in (sent, bounced, recent):
            outbox.mark_sent(message.message_id, at=T0 + timedelta(days=10))
        outbox.mark_bounced(bounced.message_id, error="550 no such user")
        outbox.mark_failed(failed.message_id, error="550 refused")
        outbox.mark_deferred(waiting.message_id, error="451", retry_at=T0 + timedelta(days=1))
        assert outbox.purge(before=T0 + timedelta(days=5)) == 3
        kept = {m.message_id for m in outbox.messages_for("p1")}
        assert kept == {waiting.message_id, recent.message_id}
        _, new = outbox.enqueue(_message("k:sent"), now=T0 + timedelta(days=11))
        assert new  # a purged key no longer blocks: the history is in the events

    def test_another_key_cannot_open_the_password(self, outbox: Outbox, store: Store) -> None:
        """A keyring without the sealing key refuses to reveal."""
        message, _ = outbox.enqueue(_message(), now=T0)
        stranger = open_outbox(store, _keyring(generate_key()))
        with pytest.raises(CryptoError):
            stranger.reveal(message)


class CustodyContract:
    """The custody's behaviour, whatever keeps it."""

    @pytest.fixture
    def store(self) -> Store:
        """The store the custody lives in (override)."""
        raise NotImplementedError

    @pytest.fixture
    def old_key(self) -> str:
        """The key in use before a rotation."""
        return generate_key()

    @pytest.fixture
    def custody(self, store: Store, old_key: str) -> PasswordCustody:
        """The custody under test."""
        return open_custody(store, _keyring(old_key))

    def test_deposit_then_reveal(self, custody: PasswordCustody) -> None:
        """A deposited password is revealed as a SecretStr."""
        custody.deposit("p1", "jean.dupont", SecretStr(SECRET), issued_at=T0)
        revealed = custody.reveal("p1")
        assert isinstance(revealed, SecretStr)
        assert revealed.get_secret_value() == SECRET

    def test_unknown_person_has_nothing(self, custody: PasswordCustody) -> None:
        """Nothing is known of a person never deposited."""
        assert custody.reveal("nobody") is None
        assert custody.status("nobody") is None

    def test_discard_keeps_the_status_only(self, custody: PasswordCustody) -> None:
        """A discarded password is gone; when and why stay."""
        custody.deposit("p1", "jean.dupont", SecretStr(SECRET), issued_at=T0)
        assert custody.discard("p1", reason="password.changed", at=T0 + timedelta(days=1))
        assert custody.reveal("p1") is None
        status = custody.status("p1")
        assert status is not None
        assert (status.held, status.discard_reason) == (False, "password.changed")
        assert not custody.discard("p1", reason="again", at=T0 + timedelta(days=2))

    def test_held_people_are_those_not_discarded(self, custody: PasswordCustody) -> None:
        """``held_people`` lists the held passwords only (one read for a whole run)."""
        assert custody.held_people() == frozenset()
        for person in ("p1", "p2", "p3"):
            custody.deposit(person, person, SecretStr(SECRET), issued_at=T0)
        custody.discard("p2", reason="password.changed", at=T0)
        assert custody.held_people() == frozenset({"p1", "p3"})

    def test_purge_discards_old_passwords(self, custody: PasswordCustody) -> None:
        """Purging discards what was issued before the limit, nothing newer."""
        custody.deposit("old", "old.one", SecretStr(SECRET), issued_at=T0)
        custody.deposit("new", "new.one", SecretStr(SECRET), issued_at=T0 + timedelta(days=10))
        assert custody.purge(before=T0 + timedelta(days=5), at=T0 + timedelta(days=11)) == 1
        assert custody.reveal("old") is None
        assert custody.reveal("new") is not None

    def test_new_deposit_replaces_the_old(self, custody: PasswordCustody) -> None:
        """A new issuance replaces the held password and its status."""
        custody.deposit("p1", "jean.dupont", SecretStr("first-Pw-1"), issued_at=T0)
        custody.discard("p1", reason="password.changed", at=T0)
        custody.deposit("p1", "jean.dupont", SecretStr(SECRET), issued_at=T0 + timedelta(days=1))
        status = custody.status("p1")
        assert status is not None
        assert status.held
        revealed = custody.reveal("p1")
        assert revealed is not None
        assert revealed.get_secret_value() == SECRET

    def test_rotation_rewraps_to_the_newest_key(
        self, custody: PasswordCustody, store: Store, old_key: str
    ) -> None:
        """After adding a key and re-wrapping, the old key can be removed."""
        custody.deposit("p1", "jean.dupont", SecretStr(SECRET), issued_at=T0)
        new_key = generate_key()
        rotated = open_custody(store, _keyring(old_key, new_key))
        assert rotated.rewrap() == 1
        assert rotated.rewrap() == 0
        only_new = open_custody(store, _keyring(new_key))
        revealed = only_new.reveal("p1")
        assert revealed is not None
        assert revealed.get_secret_value() == SECRET
