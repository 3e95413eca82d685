"""Fixtures of the password-service unit tests: memory store, memory directory, a mailer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pw_builders import PEOPLE, RecordingCustody, RecordingMailer

from ecampus_idm.clock import FixedClock
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.passwords import PasswordResetService, PasswordSettings
from ecampus_idm.passwords.memory import MemoryResetRepository
from ecampus_idm.passwords.tokens import TokenKeyring
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.testing.plugin import memory_base_tree


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 9, 14, 8, 0, tzinfo=UTC))


@pytest.fixture
def directory() -> MemoryDirectory:
    return memory_base_tree()


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def custody() -> RecordingCustody:
    return RecordingCustody()


@pytest.fixture
def store(clock: FixedClock) -> MemoryStore:
    return MemoryStore(clock=clock)


@pytest.fixture
def settings() -> PasswordSettings:
    return PasswordSettings(people_dn=PEOPLE, reset_url="https://portal.example.be/reset")


@pytest.fixture
def service(  # noqa: PLR0917 - pytest passes fixtures as arguments
    store: MemoryStore,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    settings: PasswordSettings,
    clock: FixedClock,
    custody: RecordingCustody,
) -> PasswordResetService:
    return PasswordResetService(
        repository=MemoryResetRepository(),
        store=store,
        mailer=mailer,
        settings=settings,
        directory=directory,
        clock=clock,
        keyring=TokenKeyring.generate(),
        custody=custody,
    )
