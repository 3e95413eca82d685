"""Fixtures of the mail unit tests: memory store, outbox, memory transport, fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecampus_idm.clock import FixedClock
from ecampus_idm.crypto import Keyring, generate_key
from ecampus_idm.mail.delivery import OutboxMailer
from ecampus_idm.mail.outbox import Outbox, open_outbox
from ecampus_idm.mail.render import Branding, Renderer
from ecampus_idm.mail.settings import MailSettings
from ecampus_idm.mail.transports import MemoryTransport
from ecampus_idm.store.memory import MemoryStore

BRANDING = Branding(
    institution="Haute-Ecole Condorcet",
    portal_url="https://ecampus.condorcet.be/",
    mail_domain="condorcet.be",
    from_address="no-reply@condorcet.be",
    from_name="Haute-Ecole Condorcet",
    reply_to="support@condorcet.be",
)


@pytest.fixture
def branding() -> Branding:
    """The test institution."""
    return BRANDING


@pytest.fixture
def mail_clock() -> FixedClock:
    """2 September 2026, 02:00 UTC."""
    return FixedClock(datetime(2026, 9, 2, 2, 0, tzinfo=UTC))


@pytest.fixture
def mail_store(mail_clock: FixedClock) -> MemoryStore:
    """An empty memory store."""
    return MemoryStore(mail_clock)


@pytest.fixture
def keyring() -> Keyring:
    """A one-key keyring."""
    return Keyring.from_config([generate_key()])


@pytest.fixture
def outbox(mail_store: MemoryStore, keyring: Keyring) -> Outbox:
    """The memory outbox of the store."""
    return open_outbox(mail_store, keyring)


@pytest.fixture
def renderer() -> Renderer:
    """The shipped templates with a test branding."""
    return Renderer(BRANDING, MailSettings())


@pytest.fixture
def transport() -> MemoryTransport:
    """A transport that records."""
    return MemoryTransport()


@pytest.fixture
def mailer(
    outbox: Outbox,
    transport: MemoryTransport,
    renderer: Renderer,
    mail_store: MemoryStore,
    mail_clock: FixedClock,
) -> OutboxMailer:
    """A mailer on the memory twins, throttling off."""
    return OutboxMailer(
        outbox=outbox, transport=transport, renderer=renderer, store=mail_store, clock=mail_clock
    )
