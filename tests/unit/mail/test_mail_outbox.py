"""Outbox details that the contract does not cover."""

from __future__ import annotations

import re

from ecampus_idm.mail.outbox import new_message_id


def test_message_ids_are_letters_only() -> None:
    """Ids never hold digit runs that could pass for a national number in event data."""
    ids = {new_message_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"[a-z]{26}", i) for i in ids)
