"""Ledgers of accepted exports: in memory, and in a JSON file until the state store exists.

The ledger remembers, per source, the facts of the last export that was accepted (row
count, columns, encoding, fingerprint): the next export is compared against them
(:func:`~ecampus_idm.connectors.base.check_export`). A missing file is a first run; a
damaged file is a :class:`~ecampus_idm.connectors.errors.LedgerError`, never an empty
ledger, because an empty ledger would switch the shrink check off.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ecampus_idm.connectors.base import ExportFacts
from ecampus_idm.connectors.errors import LedgerError

__all__ = ["JsonExportLedger", "MemoryExportLedger"]

_FORMAT = 1


class MemoryExportLedger:
    """An :class:`~ecampus_idm.connectors.base.ExportLedger` in memory (tests, one-off runs)."""

    def __init__(self) -> None:
        self._facts: dict[str, ExportFacts] = {}
        self._lock = threading.Lock()

    def last_accepted(self, source: str) -> ExportFacts | None:
        """Return the facts of the last accepted export of ``source``, if any."""
        with self._lock:
            return self._facts.get(source)

    def record_accepted(self, facts: ExportFacts) -> None:
        """Remember ``facts`` as the last accepted export of its source."""
        with self._lock:
            self._facts[facts.source] = facts

    def __repr__(self) -> str:
        return f"MemoryExportLedger({sorted(self._facts)!r})"


class JsonExportLedger:
    """An :class:`~ecampus_idm.connectors.base.ExportLedger` kept in a JSON file.

    Every change rewrites the file atomically (a temporary file in the same folder, then
    a rename), so that a crash leaves the previous ledger intact.

    Args:
        path: The JSON file; created on the first accepted export.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def last_accepted(self, source: str) -> ExportFacts | None:
        """Return the facts of the last accepted export of ``source``, if any.

        Raises:
            LedgerError: If the file exists but cannot be read as a ledger.
        """
        with self._lock:
            return self._load().get(source)

    def record_accepted(self, facts: ExportFacts) -> None:
        """Remember ``facts`` as the last accepted export of its source.

        Raises:
            LedgerError: If the file cannot be read or written.
        """
        with self._lock:
            ledger = self._load()
            ledger[facts.source] = facts
            document = {
                "format": _FORMAT,
                "sources": {name: f.model_dump(mode="json") for name, f in sorted(ledger.items())},
            }
            self._write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    def _load(self) -> dict[str, ExportFacts]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise LedgerError(str(self.path), f"cannot be read ({exc})") from exc
        try:
            document: Any = json.loads(text)
            if not isinstance(document, dict) or document.get("format") != _FORMAT:
                raise LedgerError(str(self.path), f"not a ledger of format {_FORMAT}")
            sources = document.get("sources")
            if not isinstance(sources, dict):
                raise LedgerError(str(self.path), "no 'sources' table")
            return {name: ExportFacts.model_validate(f) for name, f in sources.items()}
        except (ValueError, ValidationError) as exc:
            raise LedgerError(str(self.path), "damaged (invalid JSON or facts)") from exc

    def _write(self, text: str) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                Path(temporary).replace(self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise LedgerError(str(self.path), f"cannot be written ({exc.strerror})") from exc

    def __repr__(self) -> str:
        return f"JsonExportLedger({str(self.path)!r})"
