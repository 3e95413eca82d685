"""Transports that need no server: :class:`MaildirTransport` and :class:`MemoryTransport`.

The maildir transport is the demo's (never a default: see ``mail.transport``): every
message becomes one file of a Maildir folder (``new/``), which any mail reader opens
(``mutt -f demo-output/mail``, Thunderbird with a maildir account), so that a new user
sees exactly what the run sent.
:class:`MemoryTransport` keeps messages in a list and can be told to refuse, for tests.

A maildir message may hold an initial password in clear: each is written readable by
its owner only (0600, whatever the umask) and the folders it creates are 0700. The
standard library's :mod:`mailbox` creates the folders and reads them back, but writes
messages 0666 minus the umask, so the delivery itself (``tmp/`` then ``new/``, as the
Maildir specification has it) is done here.
"""

from __future__ import annotations

import itertools
import mailbox
import os
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecampus_idm.mail.errors import (
    PermanentDeliveryError,
    TemporaryDeliveryError,
    TransportUnavailableError,
)

__all__ = ["MaildirTransport", "MemoryTransport", "SentMessage"]


class MaildirTransport:
    """Writes each message to a Maildir folder (created if missing).

    Args:
        path: The Maildir folder.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._box: mailbox.Maildir | None = None

    def __repr__(self) -> str:
        return f"MaildirTransport({str(self.path)!r})"

    @property
    def where(self) -> str:
        """The folder."""
        return f"maildir:{self.path}"

    def send(self, raw: bytes, *, sender: str, recipients: Sequence[str]) -> None:
        """Add the message to the folder (a ``Return-Path`` names the sender)."""
        del recipients  # the To header says it; the maildir has one reader
        try:
            if self._box is None:
                self._box = mailbox.Maildir(self.path, create=True)  # folders 0700
            _deliver(self.path, b"Return-Path: <" + sender.encode("ascii") + b">\r\n" + raw)
        except OSError as exc:
            raise TransportUnavailableError(
                self.where, exc.strerror or type(exc).__name__
            ) from None

    def count(self) -> int:
        """How many messages the folder holds."""
        return len(mailbox.Maildir(self.path, create=True))

    def close(self) -> None:
        """Nothing to release."""
        self._box = None


_deliveries = itertools.count(1)


def _deliver(folder: Path, content: bytes) -> None:
    """Write one message to ``tmp/`` (0600, synced), then move it into ``new/``."""
    now = time.time()
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    name = (
        f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_deliveries)}"
        f"R{secrets.token_hex(4)}.{host}"
    )
    temporary = folder / "tmp" / name
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(folder / "new" / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class SentMessage:
    """One message a :class:`MemoryTransport` accepted."""

    sender: str
    recipients: tuple[str, ...]
    raw: bytes = field(repr=False)


class MemoryTransport:
    """Keeps messages in :attr:`sent`; ``refuse`` and ``down`` simulate failures.

    Attributes:
        sent: The accepted messages, in order.
        refuse: Address → SMTP code (4xx: temporary, 5xx: permanent) to refuse.
        down: While true, every send raises :class:`TransportUnavailableError`.
    """

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self.refuse: dict[str, int] = {}
        self.down = False

    def __repr__(self) -> str:
        return f"MemoryTransport({len(self.sent)} sent)"

    @property
    def where(self) -> str:
        """``memory``."""
        return "memory"

    def send(self, raw: bytes, *, sender: str, recipients: Sequence[str]) -> None:
        """Accept the message, unless told to fail."""
        if self.down:
            raise TransportUnavailableError(self.where, "down (simulated)")
        for address in recipients:
            code = self.refuse.get(address)
            if code is not None and code >= 500:  # noqa: PLR2004 - SMTP permanent class
                raise PermanentDeliveryError("refused (simulated)", code)
            if code is not None:
                raise TemporaryDeliveryError("refused (simulated)", code)
        self.sent.append(SentMessage(sender, tuple(recipients), raw))

    def close(self) -> None:
        """Nothing to release."""
