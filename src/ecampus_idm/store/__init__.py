"""The state store: runs, per-person events, username registry, account memory, export ledger.

The port is :class:`Store` (in :mod:`ecampus_idm.store.base`); :class:`MemoryStore` is
its in-memory twin for unit tests, and :func:`open_store` opens the real one on SQLite
(the embedded default) or PostgreSQL. Importing this package does not import SQLAlchemy:
:func:`open_store` loads :mod:`ecampus_idm.store.sql` only when called, and
:class:`MemoryStore` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecampus_idm._lazy import lazy_attributes
from ecampus_idm.store.base import (
    AccountRecord,
    Event,
    IdentityLinks,
    JsonValue,
    NewEvent,
    Run,
    RunStatus,
    Store,
    UsernameRecord,
)
from ecampus_idm.store.errors import (
    PersonHasUsernameError,
    RunFinishedError,
    RunInProgressError,
    RunNotFoundError,
    SchemaVersionError,
    SensitiveDataError,
    StoreError,
    StoreUnavailableError,
    UsernameNotFoundError,
    UsernameTakenError,
)

if TYPE_CHECKING:
    from ecampus_idm.clock import Clock
    from ecampus_idm.config import StoreSettings
    from ecampus_idm.store.memory import MemoryStore
    from ecampus_idm.store.sql import SqlStore

__all__ = [
    "AccountRecord",
    "Event",
    "IdentityLinks",
    "JsonValue",
    "MemoryStore",
    "NewEvent",
    "PersonHasUsernameError",
    "Run",
    "RunFinishedError",
    "RunInProgressError",
    "RunNotFoundError",
    "RunStatus",
    "SchemaVersionError",
    "SensitiveDataError",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "UsernameNotFoundError",
    "UsernameRecord",
    "UsernameTakenError",
    "open_store",
]

__getattr__ = lazy_attributes(__name__, {"MemoryStore": "ecampus_idm.store.memory"})


def open_store(
    settings: StoreSettings, *, clock: Clock | None = None, migrate: bool = True
) -> SqlStore:
    """Open the SQL state store described by ``settings``, migrating it if needed.

    See :func:`ecampus_idm.store.sql.open_store` for the details and errors.
    """
    from ecampus_idm.store.sql import open_store as _open  # noqa: PLC0415 - SQLAlchemy lazy

    return _open(settings, clock=clock, migrate=migrate)
