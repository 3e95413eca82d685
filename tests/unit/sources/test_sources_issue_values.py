"""Quarantine messages name the offending code, word or expected format, never personal data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sources_support import (
    CLOCK,
    NISS_1985,
    SCHOOLS,
    STAFF_HEADER,
    connector,
    csv_bytes,
    pseudonymiser,
    record,
    staff_row,
    student_record,
    validator,
    write_export,
)

from ecampus_idm.connectors.errors import RefusalReason
from ecampus_idm.connectors.quarantine import IssueCode, QuarantineReport, RowIssue
from ecampus_idm.connectors.settings import LogicalField, ready_profile
from ecampus_idm.identity.population import load_population
from ecampus_idm.identity.validate import ValidRecord


def _issues(result: ValidRecord | list[RowIssue]) -> list[RowIssue]:
    assert isinstance(result, list), result
    return result


def _one(result: ValidRecord | list[RowIssue], code: IssueCode) -> RowIssue:
    found = [issue for issue in _issues(result) if issue.code is code]
    assert len(found) == 1, _issues(result)
    return found[0]


def _staff(**changes: str) -> ValidRecord | list[RowIssue]:
    values = {
        LogicalField.MATRICULE: "0042",
        LogicalField.FAMILY_NAME: "D’Hondt",
        LogicalField.GIVEN_NAME: "Lieven",
        LogicalField.NATIONAL_NUMBER: NISS_1985,
        LogicalField.SCHOOL: "EPS-MONS",
        LogicalField.CATEGORY: "PS",
        LogicalField.FUNCTION: "ENS",
        LogicalField.START: "01/09/2020",
        LogicalField.END: "",
    }
    values.update({LogicalField(k): v for k, v in changes.items()})
    return validator("personnel").validate(record(values))


@pytest.mark.parametrize(
    ("kind", "changes", "code", "shown"),
    [
        ("student", {"school": "MONS"}, IssueCode.UNKNOWN_SCHOOL, "MONS"),
        ("student", {"department": "BAC INFO"}, IssueCode.INVALID_CODE, "BAC INFO"),
        ("student", {"academic_year": "2026-2028"}, IssueCode.INVALID_ACADEMIC_YEAR, "2026-2028"),
        ("student", {"encoding_complete": "peut-être"}, IssueCode.INVALID_BOOLEAN, "peut-être"),
        ("staff", {"school": "MONS"}, IssueCode.UNKNOWN_SCHOOL, "MONS"),
        ("staff", {"function": "Chef"}, IssueCode.UNKNOWN_FUNCTION, "Chef"),
        ("staff", {"category": "Université"}, IssueCode.UNKNOWN_CATEGORY, "Université"),
        ("staff", {"category": "HE"}, IssueCode.CATEGORY_MISMATCH, "HE"),
    ],
    ids=[
        "unknown-school",
        "department-not-a-code",
        "academic-year",
        "yes-no-word",
        "staff-unknown-school",
        "unknown-function",
        "unknown-category",
        "category-mismatch",
    ],
)
def test_code_or_word_is_shown_in_both_messages(
    kind: str, changes: dict[str, str], code: IssueCode, shown: str
) -> None:
    """A code or word that is not understood is quoted in the issue and both messages."""
    result = validator().validate(student_record(**changes)) if kind == "student" else None
    issue = _one(result if result is not None else _staff(**changes), code)
    assert issue.value == shown
    assert f"« {shown} »" in issue.message_fr
    assert f"'{shown}'" in issue.message_en
    assert issue.as_dict()["value"] == shown


def test_unknown_school_message_reads_naturally() -> None:
    """The unknown-school message names the code and the column, French then English."""
    issue = _one(validator().validate(student_record(school="MONS")), IssueCode.UNKNOWN_SCHOOL)
    assert issue.message_fr == (
        "L’école ou l’implantation « MONS » (colonne « Implantation ») n’est pas configurée."
    )
    assert (
        issue.message_en == "The school or site 'MONS' (column 'Implantation') is not configured."
    )


def test_bad_date_names_the_profile_format_not_dd_mm_yyyy() -> None:
    """A profile reading dd.mm.yyyy says so in the bad-date message, in both languages."""
    profile = ready_profile("secretariat").model_copy(update={"date_formats": ("%d.%m.%Y",)})
    issue = _one(
        validator(profile).validate(student_record(birth_date="30/07/1985")),
        IssueCode.INVALID_DATE,
    )
    assert "jj.mm.aaaa" in issue.message_fr
    assert "dd.mm.yyyy" in issue.message_en
    assert "dd/mm/yyyy" not in issue.message_en
    assert "jj/mm/aaaa" not in issue.message_fr
    assert issue.expected_formats == ("%d.%m.%Y", "%Y-%m-%d")


def test_bad_date_names_every_accepted_format() -> None:
    """The default profile's message names dd/mm/yyyy and the ISO form always accepted."""
    issue = _one(validator().validate(student_record(birth_date="hier")), IssueCode.INVALID_DATE)
    assert "(jj/mm/aaaa ou aaaa-mm-jj)" in issue.message_fr
    assert "(dd/mm/yyyy or yyyy-mm-dd)" in issue.message_en


def test_bad_date_never_shows_the_date() -> None:
    """A birth date is personal: the bad-date issue gives the format, never the value."""
    issue = _one(
        validator().validate(student_record(birth_date="31/02/2004")), IssueCode.INVALID_DATE
    )
    assert issue.value is None
    assert "31/02/2004" not in json.dumps(issue.as_dict())


@pytest.mark.parametrize(
    ("kind", "changes", "code", "hidden"),
    [
        ("staff", {"function": "30/07/1985"}, IssueCode.UNKNOWN_FUNCTION, "30/07/1985"),
        ("staff", {"category": "1985-07-30"}, IssueCode.UNKNOWN_CATEGORY, "1985-07-30"),
        (
            "staff",
            {"category": "lieven.dhondt@telenet.be"},
            IssueCode.UNKNOWN_CATEGORY,
            "lieven.dhondt@telenet.be",
        ),
        (
            "student",
            {"department": "85 07 30 033 28"},
            IssueCode.INVALID_CODE,
            "85 07 30 033 28",
        ),
        ("student", {"school": "Van der Straeten"}, IssueCode.UNKNOWN_SCHOOL, "Van der Straeten"),
        ("student", {"school": "chloé"}, IssueCode.UNKNOWN_SCHOOL, "chloé"),
        ("staff", {"function": "D’Hondt"}, IssueCode.UNKNOWN_FUNCTION, "D’Hondt"),
    ],
    ids=[
        "birth-date-in-function",
        "iso-date-in-category",
        "email-in-category",
        "national-number-in-department",
        "family-name-in-school",
        "given-name-in-school",
        "family-name-in-function",
    ],
)
def test_personal_data_in_a_code_column_is_never_shown(
    kind: str, changes: dict[str, str], code: IssueCode, hidden: str
) -> None:
    """A date, e-mail, national number or the row's own name in a code column is withheld."""
    result = validator().validate(student_record(**changes)) if kind == "student" else None
    issues = _issues(result if result is not None else _staff(**changes))
    issue = _one(issues, code)
    assert issue.value is None
    assert "«  »" not in issue.message_fr
    dumped = json.dumps([i.as_dict() for i in issues], ensure_ascii=False)
    assert hidden not in dumped
    assert hidden.casefold() not in dumped.casefold()


def test_names_and_email_issues_carry_no_value() -> None:
    """Names and e-mail addresses are personal: their issues never carry the value."""
    issues = _issues(validator().validate(student_record(given_name="Jean\x07", family_name="")))
    assert [issue.value for issue in issues] == [None, None]


def test_long_value_is_truncated() -> None:
    """A long value is cut to about 40 characters, marked with an ellipsis."""
    issue = _one(validator().validate(student_record(school="X" * 200)), IssueCode.UNKNOWN_SCHOOL)
    assert issue.value is not None
    assert len(issue.value) <= 41
    assert issue.value.endswith("…")
    assert "X" * 41 not in issue.message_en


def test_control_characters_in_a_value_are_escaped() -> None:
    """Control characters are shown escaped, never written raw into a report or a terminal."""
    issue = _one(
        validator().validate(student_record(school="MO\x1b[2JNS")), IssueCode.UNKNOWN_SCHOOL
    )
    assert issue.value == "MO\\x1b[2JNS"
    assert "\x1b" not in issue.message_fr + issue.message_en


def test_row_issue_bounds_any_value_it_is_given() -> None:
    """Whatever builds an issue, the value it carries is bounded and escaped."""
    issue = RowIssue.of(
        IssueCode.UNKNOWN_FUNCTION,
        source="s",
        path="p.csv",
        line=3,
        field="function",
        column="Fonction",
        value="\u202e" + "y" * 100,
    )
    assert issue.value is not None
    assert issue.value.startswith("\\u202e")
    assert len(issue.value) <= 41


def test_json_and_table_reports_show_the_school_code(tmp_path: Path) -> None:
    """Fourteen rows with school MONS: the JSON and the table both say MONS for each."""
    rows = [staff_row(f"{i:04d}", niss="", school="MONS") for i in range(14)]
    rows.append(staff_row("9999"))
    path = write_export(tmp_path / "personnel.csv", csv_bytes(rows, header=STAFF_HEADER))
    population = load_population(
        [connector(path, "personnel", "personnel")],
        pseudonymiser(),
        clock=CLOCK,
        schools=SCHOOLS,
        allow={"personnel": (RefusalReason.TOO_MANY_REJECTED,)},
    )
    report: QuarantineReport = population.report
    document = json.loads(report.to_json())
    unknown = [i for i in document["issues"] if i["code"] == "unknown-school"]
    assert len(unknown) == 14
    assert {i["value"] for i in unknown} == {"MONS"}
    assert all("'MONS'" in i["message_en"] for i in unknown)
    text = report.render_text(width=300)
    assert text.count("MONS") >= 14


def test_report_of_a_personal_value_stays_clean(tmp_path: Path) -> None:
    """A birth date pasted into the function column reaches no report, JSON or table."""
    rows = [staff_row("0001", function="30/07/1985"), staff_row("0002", niss="")]
    path = write_export(tmp_path / "personnel.csv", csv_bytes(rows, header=STAFF_HEADER))
    population = load_population(
        [connector(path, "personnel", "personnel")],
        pseudonymiser(),
        clock=CLOCK,
        schools=SCHOOLS,
        allow={"personnel": (RefusalReason.TOO_MANY_REJECTED,)},
    )
    assert len(population.report) == 1
    assert "30/07/1985" not in population.report.to_json()
    assert "30/07/1985" not in population.report.render_text(width=300)
