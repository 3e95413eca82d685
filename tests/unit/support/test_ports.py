"""The mail part's outbox and custody satisfy the support ports the lead wires."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from ecampus_idm.support.base import CustodyReader, MailHistory, MemoryCustody


def test_memory_custody_is_a_custody_reader() -> None:
    """The support's in-memory custody honours its own port."""
    assert isinstance(MemoryCustody(), CustodyReader)


def test_mail_part_custody_is_a_custody_reader() -> None:
    """``ecampus_idm.custody.MemoryCustody`` can be handed to the support tools."""
    custody = pytest.importorskip("ecampus_idm.custody")
    crypto = pytest.importorskip("ecampus_idm.crypto")
    keyring = crypto.Keyring.from_config([crypto.generate_key()])
    real = custody.MemoryCustody(keyring)
    real.deposit(
        "p1", "marie.dupont", SecretStr("zuba-kote-38"), issued_at=datetime(2026, 9, 1, tzinfo=UTC)
    )
    assert isinstance(real, CustodyReader)
    status = real.status("p1")
    assert (status.username, status.discarded_at) == ("marie.dupont", None)


def test_mail_part_outbox_is_a_mail_history() -> None:
    """``ecampus_idm.mail.outbox.MemoryOutbox`` can be handed to the diagnosis."""
    outbox = pytest.importorskip("ecampus_idm.mail.outbox")
    crypto = pytest.importorskip("ecampus_idm.crypto")
    keyring = crypto.Keyring.from_config([crypto.generate_key()])
    assert isinstance(outbox.MemoryOutbox(keyring), MailHistory)
