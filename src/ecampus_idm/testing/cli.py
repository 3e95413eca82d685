"""Reading what ``ecampus-idm ... --json`` printed, for tests and scripts.

Every command prints one envelope, ``{"ok", "command", "data", "errors"}`` (see
:mod:`ecampus_idm.cli`). :func:`json_envelope` checks that shape and returns it;
:func:`json_data` returns its ``data`` with the ``ok`` flag folded in, which is what most
assertions read; :func:`json_error` returns the first error of a failed command.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ENVELOPE_KEYS", "json_data", "json_envelope", "json_error"]

ENVELOPE_KEYS = ("ok", "command", "data", "errors")
"""The keys of every ``--json`` document, in this order."""


def json_envelope(output: str) -> dict[str, Any]:
    """The envelope printed on stdout, checked.

    Raises:
        AssertionError: If ``output`` is not exactly one JSON envelope.
    """
    document = json.loads(output)
    _check(isinstance(document, dict), f"not a JSON object: {output[:200]!r}")
    _check(tuple(document) == ENVELOPE_KEYS, f"not an envelope: keys {list(document)}")
    _check(isinstance(document["ok"], bool), "ok is not a boolean")
    _check(isinstance(document["command"], str), "command is not a string")
    _check(document["data"] is None or isinstance(document["data"], dict), "data: object|null")
    _check(isinstance(document["errors"], list), "errors is not a list")
    _check(bool(document["errors"]) <= (document["data"] is None), "errors beside data")
    _check(document["data"] is not None or bool(document["errors"]), "neither data nor error")
    _check(not document["ok"] or not document["errors"], "a success with errors")
    envelope: dict[str, Any] = document
    return envelope


def json_data(output: str) -> dict[str, Any]:
    """The envelope's ``data`` with ``ok`` added (``{}`` plus ``ok`` when it has none)."""
    envelope = json_envelope(output)
    return {"ok": envelope["ok"], **(envelope["data"] or {})}


def json_error(output: str) -> dict[str, Any]:
    """The first error of a failed command: ``type``, ``message``, ``exit_code``...

    Raises:
        AssertionError: If the command succeeded or reported no error.
    """
    envelope = json_envelope(output)
    _check(not envelope["ok"], f"the command succeeded: {envelope}")
    first: dict[str, Any] = envelope["errors"][0]
    return first


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
