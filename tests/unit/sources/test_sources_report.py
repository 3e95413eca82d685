"""The quarantine report: JSON for scripts, a readable table for people."""

from __future__ import annotations

import json

from ecampus_idm.connectors.errors import ExportRefusedError, RefusalReason, SourceUnavailableError
from ecampus_idm.connectors.quarantine import IssueCode, QuarantineReport, RowIssue


def issue(code: IssueCode = IssueCode.INVALID_DATE, line: int = 7, source: str = "sec") -> RowIssue:
    """Return one issue on the birth date column."""
    return RowIssue.of(
        code,
        source=source,
        path="/exports/sec.csv",
        line=line,
        field="birth_date",
        column="Date de naissance",
        matricule="000123",
    )


def test_every_code_has_both_messages() -> None:
    """No issue code lacks its French or English message."""
    for code in IssueCode:
        built = issue(code)
        assert built.message_fr
        assert built.message_en
        assert built.message_fr != built.message_en


def test_json_report_has_issues_counts_and_refusals() -> None:
    """The JSON form lists issues (with both messages), counts per source and refusals."""
    report = QuarantineReport([issue(), issue(IssueCode.INVALID_EMAIL, 9)])
    report.refuse(
        ExportRefusedError("hr", "/exports/hr.csv", RefusalReason.SHRANK, "10 rows against 100")
    )
    document = json.loads(report.to_json())
    assert document["issues"][0] == issue().as_dict()
    assert document["issues"][0]["line"] == 7
    assert document["counts"] == {"sec": {"invalid-date": 1, "invalid-email": 1}}
    assert document["refusals"][0]["reason"] == "shrank"


def test_json_keeps_accents() -> None:
    """French messages stay readable in the JSON (no \\u escapes)."""
    assert "n’est pas" in QuarantineReport([issue()]).to_json()


def test_table_shows_line_column_and_both_reasons() -> None:
    """The text table names source, line, matricule, column and both reasons."""
    text = QuarantineReport([issue()]).render_text(width=250)
    for expected in (
        "sec",
        "7",
        "000123",
        "Date de naissance",
        "n’est pas une date",
        "is not a date",
    ):
        assert expected in text


def test_table_lists_refused_sources_first() -> None:
    """A refused or unavailable source appears in the table, before the rows."""
    report = QuarantineReport(
        refusals=[SourceUnavailableError("hr", "/exports/hr.csv", "No such file")]
    )
    text = report.render_text(width=200)
    assert text.index("hr.csv") < text.index("Quarantaine")
    assert report.refusals[0].reason == "unavailable"


def test_report_collects_in_order() -> None:
    """Issues added one by one or in bulk come back in order."""
    report = QuarantineReport()
    report.add(issue(line=3))
    report.extend([issue(line=1), issue(line=2)])
    assert [i.line for i in report] == [3, 1, 2]
    assert len(report) == 3
