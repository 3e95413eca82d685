"""The errors of the state store.

Every failure of a :class:`~ecampus_idm.store.base.Store` is a :class:`StoreError`; no
SQLAlchemy or driver exception escapes: :mod:`ecampus_idm.store.sql` translates them at
the boundary and chains them (``raise X from e``). A store URL in an error never carries
the password: the password is kept apart from the URL from configuration to the single
line that hands it to SQLAlchemy. An error about refused personal data names the field,
never the value.

The tree::

    IdmError
    └── StoreError                     url (without password), when known
        ├── StoreUnavailableError      cannot open or reach the database (url, reason)
        ├── SchemaVersionError         the database's schema is not the code's (found, supported)
        ├── UsernameTakenError         live or tombstoned, held by another person (username)
        ├── PersonHasUsernameError     the person already holds another live username
        ├── UsernameNotFoundError      no such username in the registry
        ├── RunNotFoundError           no run with that id (run_id)
        ├── RunFinishedError           the run is already finished (run_id, status)
        ├── RunInProgressError         an exclusive run is refused: another holds its lock
        │                              (run_id, started_at, kind, lock)
        └── SensitiveDataError         a password, token or national number was offered (field)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ecampus_idm.errors import IdmError

__all__ = [
    "PersonHasUsernameError",
    "RunFinishedError",
    "RunInProgressError",
    "RunNotFoundError",
    "SchemaVersionError",
    "SensitiveDataError",
    "StoreError",
    "StoreUnavailableError",
    "UsernameNotFoundError",
    "UsernameTakenError",
]


class StoreError(IdmError):
    """A state-store operation failed.

    Attributes:
        url: The store URL without its password, when known.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class StoreUnavailableError(StoreError):
    """The database cannot be opened or reached (network, authentication, file, driver).

    Attributes:
        reason: A short technical reason, never containing the password.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"state store {url} is unavailable: {reason}", url=url)


class SchemaVersionError(StoreError):
    """The database's schema version is not the one this code works with.

    Raised when the database is newer than the code (an older ecampus-idm must never
    write into a schema it does not know), or older when migrations were not allowed.

    Attributes:
        found: The version recorded in the database.
        supported: The latest version this code knows.
    """

    def __init__(self, url: str, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        if found > supported:
            advice = "upgrade ecampus-idm before using this database"
        else:
            advice = "open it with migrations allowed to upgrade it"
        super().__init__(
            f"state store {url} has schema version {found}, this code supports "
            f"{supported}: {advice}",
            url=url,
        )


class UsernameTakenError(StoreError):
    """The username is held by another person, or was released and is tombstoned.

    Attributes:
        username: The refused username.
        tombstoned: Whether it is a released username (never re-issued) rather than a
            live one.
    """

    def __init__(self, username: str, *, tombstoned: bool) -> None:
        self.username = username
        self.tombstoned = tombstoned
        state = "was released and is never re-issued" if tombstoned else "is held by someone else"
        super().__init__(f"username {username!r} {state}")


class PersonHasUsernameError(StoreError):
    """The person already holds a live username; release it first (in one transaction).

    Attributes:
        person_id: The person.
        username: The username the person holds.
    """

    def __init__(self, person_id: str, username: str) -> None:
        self.person_id = person_id
        self.username = username
        super().__init__(f"person {person_id!r} already holds username {username!r}")


class UsernameNotFoundError(StoreError):
    """The username was never reserved.

    Attributes:
        username: The unknown username.
    """

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"username {username!r} is not in the registry")


class RunNotFoundError(StoreError):
    """No run has this id.

    Attributes:
        run_id: The unknown run id.
    """

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id {run_id}")


class RunFinishedError(StoreError):
    """The run was already finished; a run is finished once.

    Attributes:
        run_id: The run.
        status: The status it finished with.
    """

    def __init__(self, run_id: int, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id} is already finished ({status})")


class RunInProgressError(StoreError):
    """Another run is in progress: an exclusive start was refused, nothing was recorded.

    Raised by ``start_run(kind, exclusive=True)`` (overlapping cron jobs, a manual run
    during the night, two ``mail send`` at once). The check and the start are one
    transaction, and the lock row is unique: of starts at the same instant, one wins.

    Attributes:
        run_id: The run in progress.
        started_at: When it started.
        kind: What it is (``run``, ``mail.send``...).
        lock: The lock it holds that was asked for, if it holds one.
        stale_after: After how long such a run is taken for crashed, if ever.
    """

    def __init__(
        self,
        run_id: int,
        started_at: datetime,
        *,
        kind: str = "run",
        lock: str | None = None,
        stale_after: timedelta | None = None,
    ) -> None:
        self.run_id = run_id
        self.started_at = started_at
        self.kind = kind
        self.lock = lock
        self.stale_after = stale_after
        crashed = (
            "" if stale_after is None else f" (or after {duration_text(stale_after)} if it crashed)"
        )
        super().__init__(
            f"run {run_id} ({kind}) started at {started_at.isoformat()} is still in progress; "
            f"try again once it has finished{crashed}"
        )


def duration_text(value: timedelta) -> str:
    """``6 h`` or ``90 min``: how long a run may stay running before it is taken for crashed."""
    minutes = int(value.total_seconds() // 60)
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


class SensitiveDataError(StoreError):
    """A value that must never be stored was offered: a password, token or national number.

    The store refuses it before anything is written. The message names where the value
    was (``data.contact.token``, ``reason_fr``), never the value.

    Attributes:
        field: Where the refused value was.
        what: What it looked like (``a secret``, ``a national number``...).
    """

    def __init__(self, field: str, what: str) -> None:
        self.field = field
        self.what = what
        super().__init__(f"refused to store {what} in {field}: the store never keeps one")
