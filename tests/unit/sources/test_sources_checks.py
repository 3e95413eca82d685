"""Whole-export checks against the last accepted export, and the ledgers that remember it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sources_support import connector, csv_bytes, student_row, write_export

from ecampus_idm.connectors.base import ExportFacts, check_export, encodings_compatible
from ecampus_idm.connectors.errors import ExportRefusedError, LedgerError, RefusalReason
from ecampus_idm.connectors.ledger import JsonExportLedger, MemoryExportLedger
from ecampus_idm.connectors.settings import ExportChecks


def facts(rows: int, encoding: str = "utf-8", source: str = "sec") -> ExportFacts:
    """Return export facts with ``rows`` rows."""
    return ExportFacts(source=source, path="x.csv", rows=rows, encoding=encoding, fingerprint="f")


def _export(tmp_path: Path, count: int, name: str = "x.csv") -> Path:
    rows = [student_row(f"{i:06d}") for i in range(count)]
    return write_export(tmp_path / name, csv_bytes(rows))


def test_first_export_passes_without_history() -> None:
    """Without a previous export only emptiness is checked."""
    check_export(facts(1), None, ExportChecks())


def test_shrink_within_the_share_passes() -> None:
    """Losing 20 % of the rows passes with the default 20 % share."""
    check_export(facts(80), facts(100), ExportChecks())


def test_shrink_beyond_the_share_is_refused() -> None:
    """Losing more than the configured share refuses the export, with both counts."""
    with pytest.raises(ExportRefusedError) as caught:
        check_export(facts(79), facts(100), ExportChecks())
    assert caught.value.reason is RefusalReason.SHRANK
    assert "79" in caught.value.detail
    assert "100" in caught.value.detail


def test_shrink_share_is_configurable() -> None:
    """A source configured with a 5 % share refuses a 10 % loss."""
    with pytest.raises(ExportRefusedError):
        check_export(facts(90), facts(100), ExportChecks(max_shrink_share=0.05))


def test_operator_can_allow_a_known_shrink() -> None:
    """An allowed reason lets the export through for this run."""
    check_export(facts(10), facts(100), ExportChecks(), allow={RefusalReason.SHRANK})


def test_growth_is_never_refused() -> None:
    """More rows than last time is fine."""
    check_export(facts(1000), facts(10), ExportChecks())


def test_empty_export_is_refused_even_first() -> None:
    """Zero rows is refused, with or without history."""
    with pytest.raises(ExportRefusedError) as caught:
        check_export(facts(0), None, ExportChecks())
    assert caught.value.reason is RefusalReason.EMPTY


def test_encoding_change_is_refused() -> None:
    """An export that switched from cp1252 to UTF-8 is refused (new software? check it)."""
    with pytest.raises(ExportRefusedError) as caught:
        check_export(facts(100, "utf-8"), facts(100, "cp1252"), ExportChecks())
    assert caught.value.reason is RefusalReason.ENCODING_CHANGED


def test_encoding_change_check_can_be_switched_off() -> None:
    """A source configured not to care about encodings accepts the change."""
    check_export(
        facts(100, "utf-8"), facts(100, "cp1252"), ExportChecks(refuse_encoding_change=False)
    )


@pytest.mark.parametrize(
    ("previous", "current", "compatible"),
    [
        ("cp1252", "ascii", True),
        ("ascii", "utf-8", True),
        ("utf-8", "utf-8-sig", True),
        ("utf-8-sig", "cp1252", False),
        ("unicode", "unicode", True),
    ],
    ids=["ascii-after-cp1252", "utf8-after-ascii", "bom-added", "utf8-to-cp1252", "sql"],
)
def test_encodings_compatible(previous: str, current: str, compatible: bool) -> None:
    """ASCII says nothing and a BOM changes nothing; cp1252 against UTF-8 is a change."""
    assert encodings_compatible(previous, current) is compatible


def test_export_cut_in_half_is_refused(tmp_path: Path) -> None:
    """An export cut in half is refused against the last accepted one, before any row."""
    ledger = MemoryExportLedger()
    full = _export(tmp_path, 200)
    batch = connector(full).read(ledger)
    list(batch)
    ledger.record_accepted(batch.facts)
    data = full.read_bytes()
    cut = write_export(tmp_path / "cut.csv", data[: data.rfind(b"\r\n", 0, len(data) // 2) + 2])
    with pytest.raises(ExportRefusedError) as caught:
        connector(cut).read(ledger)
    assert caught.value.reason is RefusalReason.SHRANK


def test_memory_ledger_keeps_the_last_accepted_per_source() -> None:
    """The memory ledger returns what was recorded last, per source."""
    ledger = MemoryExportLedger()
    ledger.record_accepted(facts(10, source="a"))
    ledger.record_accepted(facts(20, source="a"))
    ledger.record_accepted(facts(5, source="b"))
    assert ledger.last_accepted("a") == facts(20, source="a")
    assert ledger.last_accepted("c") is None


def test_json_ledger_survives_a_new_instance(tmp_path: Path) -> None:
    """What one run records, the next run reads back."""
    path = tmp_path / "var" / "ledger.json"
    accepted = facts(42).model_copy(update={"accepted_at": datetime(2026, 9, 1, 2, tzinfo=UTC)})
    JsonExportLedger(path).record_accepted(accepted)
    assert JsonExportLedger(path).last_accepted("sec") == accepted


def test_json_ledger_without_file_is_a_first_run(tmp_path: Path) -> None:
    """A missing ledger file means no history yet."""
    assert JsonExportLedger(tmp_path / "none.json").last_accepted("sec") is None


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"format": 99, "sources": {}}', '{"format": 1, "sources": {"s": {"rows": -1}}}'],
    ids=["invalid-json", "unknown-format", "invalid-facts"],
)
def test_damaged_json_ledger_is_an_error(tmp_path: Path, content: str) -> None:
    """A damaged ledger raises rather than silently switching the shrink check off."""
    path = tmp_path / "ledger.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LedgerError):
        JsonExportLedger(path).last_accepted("sec")


def test_json_ledger_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Recording writes through a temporary file that is renamed, not left behind."""
    path = tmp_path / "ledger.json"
    JsonExportLedger(path).record_accepted(facts(1))
    JsonExportLedger(path).record_accepted(facts(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]


def test_unwritable_json_ledger_is_an_error(tmp_path: Path) -> None:
    """A ledger that cannot be written raises LedgerError (not a bare OSError)."""
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(LedgerError):
        JsonExportLedger(blocker / "ledger.json").record_accepted(facts(1))
