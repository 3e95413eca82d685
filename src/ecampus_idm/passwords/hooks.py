"""Hooks: the portal's callbacks after each step of a reset (end other sessions...).

Register on the service instance (``service.hooks.on_after_reset(callback)``, usable as a
decorator). A hook receives a :class:`ResetEvent` (never a token or a password); an
exception in a hook is logged and swallowed: the reset itself has happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Hook", "Hooks", "ResetEvent"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResetEvent:
    """What a hook is told.

    Attributes:
        step: ``after_request``, ``after_mail``, ``after_peek``, ``after_reset`` or
            ``after_reject``.
        at: When (UTC).
        person_id: The account's owner (``None`` after a request: not known yet).
        username: The login, when known.
        dn: The entry, when known.
        reason: Why, for ``after_reject`` (``expired``, ``quality``...).
    """

    step: str
    at: datetime
    person_id: str | None = None
    username: str | None = None
    dn: str | None = None
    reason: str | None = None


Hook = Callable[[ResetEvent], object]
"""A callback: receives the event, its result is ignored."""

_STEPS = ("after_request", "after_mail", "after_peek", "after_reset", "after_reject")


class Hooks:
    """The callbacks registered on one service instance."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Hook]] = {step: [] for step in _STEPS}

    def __repr__(self) -> str:
        counts = {k: len(v) for k, v in self._hooks.items() if v}
        return f"Hooks({counts})"

    def on_after_request(self, hook: Hook) -> Hook:
        """Call ``hook`` after a request was recorded (it says nothing of the address)."""
        self._hooks["after_request"].append(hook)
        return hook

    def on_after_mail(self, hook: Hook) -> Hook:
        """Call ``hook`` after a reset mail was handed to the mailer."""
        self._hooks["after_mail"].append(hook)
        return hook

    def on_after_peek(self, hook: Hook) -> Hook:
        """Call ``hook`` after a reset page was shown for a valid link."""
        self._hooks["after_peek"].append(hook)
        return hook

    def on_after_reset(self, hook: Hook) -> Hook:
        """Call ``hook`` after a password was reset (e.g. end the account's other sessions)."""
        self._hooks["after_reset"].append(hook)
        return hook

    def on_after_reject(self, hook: Hook) -> Hook:
        """Call ``hook`` after a link or a password was refused."""
        self._hooks["after_reject"].append(hook)
        return hook

    def fire(self, event: ResetEvent) -> None:
        """Call the hooks of ``event.step``; log (and swallow) their failures."""
        for hook in self._hooks.get(event.step, []):
            try:
                hook(event)
            except Exception:  # a portal callback must not undo a finished reset
                log.exception("password hook %s failed", event.step)
