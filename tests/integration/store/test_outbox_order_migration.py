"""Migration 7 numbers the messages already queued: the flush keeps their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import StoreSettings
from ecampus_idm.crypto import Keyring, generate_key
from ecampus_idm.mail.outbox import NewMessage, Purpose, open_outbox
from ecampus_idm.store._engine import create_store_engine
from ecampus_idm.store.migrations import MIGRATIONS, migrate
from ecampus_idm.store.schema import UtcDateTime
from ecampus_idm.store.sql import open_store

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def _engine_url(settings: StoreSettings) -> sa.URL:
    url = make_url(settings.url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if settings.password is not None:
        url = url.set(password=settings.password.get_secret_value())
    return url


def _message(i: int) -> NewMessage:
    return NewMessage(
        idempotency_key=f"welcome:p{i}:1",
        person_id=f"p{i}",
        username=f"user.{i}",
        purpose=Purpose.WELCOME,
        to_address=f"user{i}@gmail.com",
        display_name=f"User {i}",
        secret=SecretStr("Canary-Pw-7f3k9q"),
    )


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_queued_messages_keep_their_order_and_new_ones_come_after(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Rows queued under v6 are numbered (queued_at, id); one queued after v7 comes last."""
    settings: StoreSettings = request.getfixturevalue(f"{backend}_settings")
    engine = create_store_engine(_engine_url(settings), busy_timeout=5)
    try:
        migrate(engine, url=settings.url, clock=FixedClock(T0), steps=MIGRATIONS[:6])
        old = [("zzz", T0), ("aaa", T0 + timedelta(seconds=1)), ("mmm", T0)]
        with engine.begin() as connection:
            for message_id, queued_at in old:
                connection.execute(
                    sa.text(
                        "INSERT INTO mail_outbox (message_id, idempotency_key, person_id,"
                        " username, purpose, to_address, to_masked, language, display_name,"
                        " status, queued_at, next_attempt_at, attempts) VALUES (:id, :id,"
                        " 'p9', 'u.nine', 'welcome', 'a@b.be', 'a***@b.be', 'fr', 'A B',"
                        " 'queued', :at, :at, 0)"
                    ).bindparams(sa.bindparam("at", type_=UtcDateTime)),
                    {"id": message_id, "at": queued_at},
                )
    finally:
        engine.dispose()
    keyring = Keyring.from_config([generate_key()])
    with open_store(settings) as store:
        outbox = open_outbox(store, keyring)
        new = [outbox.enqueue(_message(i), now=T0)[0].message_id for i in range(3)]
        due = [m.message_id for m in outbox.due(T0 + timedelta(hours=1))]
    assert due == ["mmm", "zzz", *new, "aaa"]
