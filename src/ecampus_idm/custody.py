"""The initial-password custody: each person's initial password, encrypted, for resends.

When a run creates an account, it deposits the generated password here in the same
store transaction that records the account (see :mod:`ecampus_idm.runner`), so that the
welcome mail can be sent again when the personal address is corrected, and support can
resend it. The password is sealed with the :class:`~ecampus_idm.crypto.Keyring`
(AES-GCM, bound to the person id); the custody is *discarded* as soon as the user chooses
a password of their own (the password service calls :meth:`PasswordCustody.discard`)
and purged after a configured time. Nothing here ever holds or shows a clear password
except the :class:`~pydantic.SecretStr` that :meth:`PasswordCustody.reveal` returns.

Two implementations pass :class:`ecampus_idm.testing.outbox_contract.CustodyContract`:
:class:`SqlCustody` (table ``password_custody`` in the state store, see
:mod:`ecampus_idm.mail.schema`) and :class:`MemoryCustody`. Open the right one for a
store with :meth:`PasswordCustody.for_store`.
"""

from __future__ import annotations

import threading
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from pydantic import SecretStr

from ecampus_idm.crypto import Keyring
from ecampus_idm.mail.schema import password_custody
from ecampus_idm.store.base import Store, aware_utc, validate_person_id

__all__ = ["CustodyStatus", "MemoryCustody", "PasswordCustody", "SqlCustody", "open_custody"]


@dataclass(frozen=True)
class CustodyStatus:
    """What the custody knows of one person's initial password (never the password).

    Attributes:
        person_id: The person.
        username: The account the password was issued for.
        issued_at: When it was deposited.
        discarded_at: When it was discarded, or ``None`` while it is held.
        discard_reason: Why (``password.changed``, ``purged``...).
    """

    person_id: str
    username: str
    issued_at: datetime
    discarded_at: datetime | None = None
    discard_reason: str | None = None

    @property
    def held(self) -> bool:
        """Whether the password can still be revealed."""
        return self.discarded_at is None


class PasswordCustody(ABC):
    """The custody port (see the module docstring); open one with :meth:`for_store`."""

    @staticmethod
    def for_store(store: Store, keyring: Keyring) -> PasswordCustody:
        """Return the custody kept in ``store`` (see :func:`open_custody`)."""
        return open_custody(store, keyring)

    @abstractmethod
    def deposit(
        self, person_id: str, username: str, password: SecretStr, *, issued_at: datetime
    ) -> None:
        """Keep ``password`` (encrypted) as ``person_id``'s initial password, replacing any."""

    @abstractmethod
    def reveal(self, person_id: str) -> SecretStr | None:
        """Return the held initial password, or ``None`` if none is held."""

    @abstractmethod
    def status(self, person_id: str) -> CustodyStatus | None:
        """Return what is known of ``person_id``'s initial password, if anything."""

    @abstractmethod
    def discard(self, person_id: str, *, reason: str, at: datetime) -> bool:
        """Forget the password (keep the status); return whether one was held."""

    @abstractmethod
    def held_people(self) -> frozenset[str]:
        """Return the people whose initial password is held (one read, no decryption)."""

    @abstractmethod
    def purge(self, *, before: datetime, at: datetime) -> int:
        """Discard every password issued before ``before``; return how many."""

    @abstractmethod
    def rewrap(self) -> int:
        """Seal every held password with the keyring's newest key; return how many changed."""


def _aad(person_id: str) -> bytes:
    return b"custody:" + person_id.encode("utf-8")


_REASON_MAX = 200


class SqlCustody(PasswordCustody):
    """The custody in the SQL state store, joining the store's current transaction.

    Args:
        store: A :class:`~ecampus_idm.store.sql.SqlStore`.
        keyring: The keys that seal the passwords.
    """

    def __init__(self, store: Store, keyring: Keyring) -> None:
        self._store = store
        self._keyring = keyring

    def __repr__(self) -> str:
        return f"SqlCustody({self._store!r})"

    def deposit(
        self, person_id: str, username: str, password: SecretStr, *, issued_at: datetime
    ) -> None:
        """Keep ``password`` (encrypted) as ``person_id``'s initial password, replacing any."""
        validate_person_id(person_id)
        sealed = self._keyring.encrypt(
            password.get_secret_value().encode("utf-8"), aad=_aad(person_id)
        )
        values = {
            "person_id": person_id,
            "username": username,
            "sealed": sealed.decode("ascii"),
            "key_id": self._keyring.current_id,
            "issued_at": aware_utc("issued_at", issued_at),
            "discarded_at": None,
            "discard_reason": None,
        }
        with self._store.connection() as connection:  # type: ignore[attr-defined]
            done = connection.execute(_UPDATE, {f"b_{k}": v for k, v in values.items()}).rowcount
            if not done:
                connection.execute(_INSERT, values)

    def reveal(self, person_id: str) -> SecretStr | None:
        """Return the held initial password, or ``None`` if none is held."""
        t = password_custody
        with self._store.connection() as connection:  # type: ignore[attr-defined]
            sealed = connection.execute(
                sa.select(t.c.sealed).where(t.c.person_id == person_id)
            ).scalar_one_or_none()
        if sealed is None:
            return None
        plain = self._keyring.decrypt(str(sealed).encode("ascii"), aad=_aad(person_id))
        return SecretStr(plain.decode("utf-8"))

    def status(self, person_id: str) -> CustodyStatus | None:
        """Return what is known of ``person_id``'s initial password, if anything."""
        t = password_custody
        with self._store.connection() as connection:  # type: ignore[attr-defined]
            row = connection.execute(
                sa.select(t.c.username, t.c.issued_at, t.c.discarded_at, t.c.discard_reason).where(
                    t.c.person_id == person_id
                )
            ).one_or_none()
        if row is None:
            return None
        return CustodyStatus(person_id, row[0], row[1], row[2], row[3])

    def discard(self, person_id: str, *, reason: str, at: datetime) -> bool:
        """Forget the password (keep the status); return whether one was held."""
        t = password_custody
        with self._store.connection() as connection:  # type: ignore[attr-defined]
            done = connection.execute(
                sa.update(t)
                .where(t.c.person_id == person_id, t.c.sealed.is_not(None))
                .values(
                    sealed=None,
                    key_id=None,
                    discarded_at=aware_utc("at", at),
                    discard_reason=reason[:_REASON_MAX],
                )
            ).rowcount
        return bool(done)

    def held_people(self) -> frozenset[str]:
        """Return the people whose initial password is held (one read, no decryption)."""
        t = password_custody
        with self._store.connection() as connection:  # type: ignore[attr-defined]
            rows = connection.execute(sa.select(t.c.person_id).where(t.c.sealed.is_not(None)))
            return frozenset(str(row[0]) for row in rows)

    def purge(self, *, before: datetime, at: datetime) -> int:
        """Discard every password issued before ``before``; return how many."""
        t = password_custody
        with self._store.connection() as connection:  # type: ignore[attr-defined]
            done = connection.execute(
                sa.update(t)
                .where(t.c.issued_at < aware_utc("before", before), t.c.sealed.is_not(None))
                .values(
                    sealed=None,
                    key_id=None,
                    discarded_at=aware_utc("at", at),
                    discard_reason="purged",
                )
            ).rowcount
        return int(done)

    def rewrap(self) -> int:
        """Seal every held password with the keyring's newest key; return how many changed."""
        t = password_custody
        changed = 0
        with self._store.connection() as connection:  # type: ignore[attr-defined]
            rows = connection.execute(
                sa.select(t.c.person_id, t.c.sealed).where(
                    t.c.sealed.is_not(None), t.c.key_id != self._keyring.current_id
                )
            ).all()
            for person_id, sealed in rows:
                fresh = self._keyring.rewrap(str(sealed).encode("ascii"), aad=_aad(person_id))
                connection.execute(
                    sa.update(t)
                    .where(t.c.person_id == person_id)
                    .values(sealed=fresh.decode("ascii"), key_id=self._keyring.current_id)
                )
                changed += 1
        return changed


@dataclass
class _Held:
    status: CustodyStatus
    sealed: bytes | None


class MemoryCustody(PasswordCustody):
    """The in-memory twin of :class:`SqlCustody` (same contract, same encryption).

    Args:
        keyring: The keys that seal the passwords.
    """

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._rows: dict[str, _Held] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"MemoryCustody({len(self._rows)} people)"

    def deposit(
        self, person_id: str, username: str, password: SecretStr, *, issued_at: datetime
    ) -> None:
        """Keep ``password`` (encrypted) as ``person_id``'s initial password, replacing any."""
        validate_person_id(person_id)
        sealed = self._keyring.encrypt(
            password.get_secret_value().encode("utf-8"), aad=_aad(person_id)
        )
        with self._lock:
            self._rows[person_id] = _Held(
                CustodyStatus(person_id, username, aware_utc("issued_at", issued_at)), sealed
            )

    def reveal(self, person_id: str) -> SecretStr | None:
        """Return the held initial password, or ``None`` if none is held."""
        held = self._rows.get(person_id)
        if held is None or held.sealed is None:
            return None
        plain = self._keyring.decrypt(held.sealed, aad=_aad(person_id))
        return SecretStr(plain.decode("utf-8"))

    def status(self, person_id: str) -> CustodyStatus | None:
        """Return what is known of ``person_id``'s initial password, if anything."""
        held = self._rows.get(person_id)
        return None if held is None else held.status

    def discard(self, person_id: str, *, reason: str, at: datetime) -> bool:
        """Forget the password (keep the status); return whether one was held."""
        with self._lock:
            held = self._rows.get(person_id)
            if held is None or held.sealed is None:
                return False
            held.sealed = None
            held.status = CustodyStatus(
                person_id,
                held.status.username,
                held.status.issued_at,
                aware_utc("at", at),
                reason[:_REASON_MAX],
            )
            return True

    def held_people(self) -> frozenset[str]:
        """Return the people whose initial password is held (one read, no decryption)."""
        with self._lock:
            return frozenset(p for p, held in self._rows.items() if held.sealed is not None)

    def purge(self, *, before: datetime, at: datetime) -> int:
        """Discard every password issued before ``before``; return how many."""
        limit = aware_utc("before", before)
        with self._lock:
            old = [
                p
                for p, held in self._rows.items()
                if held.sealed is not None and held.status.issued_at < limit
            ]
            for person_id in old:
                self.discard(person_id, reason="purged", at=at)
        return len(old)

    def rewrap(self) -> int:
        """Seal every held password with the keyring's newest key; return how many changed."""
        changed = 0
        with self._lock:
            for person_id, held in self._rows.items():
                if held.sealed is not None and self._keyring.needs_rewrap(held.sealed):
                    held.sealed = self._keyring.rewrap(held.sealed, aad=_aad(person_id))
                    changed += 1
        return changed


_UPDATE = (
    sa.update(password_custody)
    .where(password_custody.c.person_id == sa.bindparam("b_person_id"))
    .values(
        {
            name: sa.bindparam(f"b_{name}", type_=password_custody.c[name].type)
            for name in (
                "username",
                "sealed",
                "key_id",
                "issued_at",
                "discarded_at",
                "discard_reason",
            )
        }
    )
)
_INSERT = sa.insert(password_custody)

_MEMORY: weakref.WeakKeyDictionary[object, MemoryCustody] = weakref.WeakKeyDictionary()
_MEMORY_LOCK = threading.Lock()


def open_custody(store: Store, keyring: Keyring) -> PasswordCustody:
    """Return the custody kept in ``store``.

    A SQL store gets :class:`SqlCustody` on its own database (joining its transactions);
    any other store (the :class:`~ecampus_idm.store.memory.MemoryStore`) gets one
    :class:`MemoryCustody` attached to it for its lifetime.
    """
    if hasattr(store, "connection"):
        return SqlCustody(store, keyring)
    with _MEMORY_LOCK:
        custody = _MEMORY.get(store)
        if custody is None:
            custody = _MEMORY[store] = MemoryCustody(keyring)
        else:
            custody._keyring = keyring
        return custody
