"""Validation of records into typed values, and the issues of bad rows."""

from __future__ import annotations

from datetime import date

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st
from sources_support import (
    NISS_1985,
    NISS_2017,
    SCHOOLS,
    pseudonymiser,
    record,
    student_record,
    validator,
)

from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import LogicalField, SourceProfile, ready_profile
from ecampus_idm.identity.validate import RecordValidator, ValidRecord
from ecampus_idm.model import Category, EmailIssue, Role, SourceKey, StaffFunction


def _valid(result: ValidRecord | list[RowIssue]) -> ValidRecord:
    assert isinstance(result, ValidRecord), result
    return result


def _codes(result: ValidRecord | list[RowIssue]) -> list[tuple[IssueCode, str | None]]:
    assert isinstance(result, list), result
    return [(issue.code, issue.field) for issue in result]


def test_good_student_row_becomes_typed_values() -> None:
    """A clean secretariat row gives typed values and a pseudonym instead of the number."""
    valid = _valid(validator().validate(student_record()))
    assert valid.matricule == "000123"
    assert valid.birth_date == date(1985, 7, 30)
    assert valid.niss_pseudonym == pseudonymiser().pseudonym(NISS_1985)
    assert valid.school == "HEC-TOURNAI"
    assert valid.category is Category.HE
    assert valid.academic_year == 2026
    assert valid.encoding_complete is True
    assert valid.role is Role.STUDENT


def test_valid_record_builds_its_enrolment() -> None:
    """The enrolment model value is built from the record and a source key."""
    valid = _valid(validator().validate(student_record()))
    enrolment = valid.enrolment(valid.key)
    assert enrolment is not None
    assert enrolment.source == SourceKey(source="sec", matricule="000123")
    assert str(enrolment.academic_year) == "2026-2027"


def test_valid_record_repr_hides_the_pseudonym() -> None:
    """A validated record's repr leaves the pseudonym out."""
    valid = _valid(validator().validate(student_record()))
    assert valid.niss_pseudonym is not None
    assert valid.niss_pseudonym not in repr(valid)


@pytest.mark.parametrize(
    "field",
    ["birth_date", "national_number", "personal_email"],
    ids=["no-birth-date", "no-national-number", "no-email"],
)
def test_soft_fields_may_be_missing(field: str) -> None:
    """A person without birth date, national number or e-mail is kept with None."""
    valid = _valid(validator().validate(student_record(**{field: ""})))
    target = "niss_pseudonym" if field == "national_number" else field
    assert getattr(valid, target) is None


@pytest.mark.parametrize(
    "address",
    [
        "chloe@",
        "chloe @gmail.com",
        "chloe@gmail..com",
        "chloe@@gmail.com",
        "chloe.gmail.com",
        "chloe@gmail",
        "chloe@-gmail.com",
    ],
    ids=["no-domain", "space", "double-dot", "double-at", "no-at", "no-tld", "bad-domain"],
)
def test_invalid_email_keeps_the_row_and_says_the_address_is_invalid(address: str) -> None:
    """A mistyped address (syntax or domain) keeps the row: no address, flagged invalid."""
    valid = _valid(validator().validate(student_record(personal_email=address)))
    assert valid.personal_email is None
    assert valid.email_issue is EmailIssue.INVALID


def test_missing_email_is_no_issue() -> None:
    """A missing address is only missing: the row is kept, nothing flagged."""
    valid = _valid(validator().validate(student_record(personal_email="")))
    assert (valid.personal_email, valid.email_issue) == (None, None)


def test_valid_email_is_no_issue() -> None:
    """A good address is kept, nothing flagged."""
    valid = _valid(validator().validate(student_record()))
    assert valid.personal_email is not None
    assert valid.email_issue is None


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"matricule": ""}, IssueCode.MISSING_VALUE, "matricule"),
        ({"matricule": "x" * 65}, IssueCode.TOO_LONG, "matricule"),
        ({"family_name": "  "}, IssueCode.MISSING_VALUE, "family_name"),
        ({"given_name": "1234"}, IssueCode.INVALID_TEXT, "given_name"),
        ({"given_name": "Jean\x07"}, IssueCode.INVALID_TEXT, "given_name"),
        ({"family_name": "x" * 129}, IssueCode.TOO_LONG, "family_name"),
        ({"birth_date": "31/02/2004"}, IssueCode.INVALID_DATE, "birth_date"),
        ({"birth_date": "hier"}, IssueCode.INVALID_DATE, "birth_date"),
        ({"birth_date": "01/01/1850"}, IssueCode.IMPLAUSIBLE_DATE, "birth_date"),
        (
            {"birth_date": "01/01/2027", "national_number": ""},
            IssueCode.IMPLAUSIBLE_DATE,
            "birth_date",
        ),
        ({"birth_date": "31/07/1985"}, IssueCode.BIRTH_DATE_MISMATCH, "birth_date"),
        ({"national_number": "85073003329"}, IssueCode.NATIONAL_NUMBER_CHECKSUM, "national_number"),
        (
            {"national_number": "8507300332"},
            IssueCode.NATIONAL_NUMBER_LEADING_ZERO,
            "national_number",
        ),
        ({"national_number": "85-07-30"}, IssueCode.INVALID_NATIONAL_NUMBER, "national_number"),
        ({"school": "ECOLE-FERMEE"}, IssueCode.UNKNOWN_SCHOOL, "school"),
        ({"school": ""}, IssueCode.MISSING_VALUE, "school"),
        ({"department": "BAC INFO"}, IssueCode.INVALID_CODE, "department"),
        ({"academic_year": "2026-2028"}, IssueCode.INVALID_ACADEMIC_YEAR, "academic_year"),
        ({"academic_year": ""}, IssueCode.MISSING_VALUE, "academic_year"),
        ({"encoding_complete": "peut-être"}, IssueCode.INVALID_BOOLEAN, "encoding_complete"),
        ({"matricule": NISS_2017}, IssueCode.MATRICULE_IS_NATIONAL_NUMBER, "matricule"),
        ({"matricule": "E-17.07.30-033.84"}, IssueCode.MATRICULE_IS_NATIONAL_NUMBER, "matricule"),
        (
            {"personal_email": f"{NISS_2017}@hotmail.com"},
            IssueCode.CONTAINS_NATIONAL_NUMBER,
            "personal_email",
        ),
        ({"family_name": f"Dupont {NISS_2017}"}, IssueCode.CONTAINS_NATIONAL_NUMBER, "family_name"),
        ({"department": NISS_2017}, IssueCode.CONTAINS_NATIONAL_NUMBER, "department"),
        ({"personal_email": NISS_2017}, IssueCode.CONTAINS_NATIONAL_NUMBER, "personal_email"),
    ],
    ids=[
        "no-matricule",
        "long-matricule",
        "blank-family-name",
        "digits-as-name",
        "control-character",
        "long-name",
        "impossible-date",
        "not-a-date",
        "too-old",
        "future-birth",
        "birth-date-mismatch",
        "checksum",
        "leading-zero",
        "short-number",
        "unknown-school",
        "no-school",
        "department-with-space",
        "academic-year-gap",
        "no-academic-year",
        "bad-yes-no",
        "matricule-is-niss",
        "matricule-holds-niss",
        "email-holds-niss",
        "name-holds-niss",
        "department-is-niss",
        "email-is-niss",
    ],
)
def test_bad_value_quarantines_the_row(
    changes: dict[str, str], code: IssueCode, field: str
) -> None:
    """Each kind of bad value gives its issue code on its field."""
    assert (code, field) in _codes(validator().validate(student_record(**changes)))


def test_every_issue_of_a_row_is_reported_at_once() -> None:
    """A row with three problems reports all three, so it is fixed in one go."""
    result = validator().validate(
        student_record(matricule="", birth_date="hier", academic_year="soon")
    )
    assert {code for code, _ in _codes(result)} == {
        IssueCode.MISSING_VALUE,
        IssueCode.INVALID_DATE,
        IssueCode.INVALID_ACADEMIC_YEAR,
    }


def test_issue_names_line_column_and_both_languages() -> None:
    """An issue names the source, line, column as in the export, in French and English."""
    result = validator().validate(student_record(birth_date="31/02/2004"))
    assert isinstance(result, list)
    (issue,) = result
    assert (issue.source, issue.line, issue.column) == ("sec", 2, "Date de naissance")
    assert "« Date de naissance »" in issue.message_fr
    assert "'Date de naissance'" in issue.message_en
    assert issue.matricule == "000123"


def test_issue_never_quotes_the_value() -> None:
    """A national number typed into the e-mail column is not repeated by the issue."""
    result = validator().validate(student_record(personal_email=NISS_2017))
    assert isinstance(result, list)
    (issue,) = result
    assert NISS_2017 not in str(issue.as_dict())


def test_names_are_tidied() -> None:
    """Names lose surrounding and doubled spaces and line breaks, and are NFC."""
    valid = _valid(
        validator().validate(
            student_record(family_name=" Van  der\r\nStraeten ", given_name="Zoe\u0301")
        )
    )
    assert valid.family_name == "Van der Straeten"
    assert valid.given_name == "Zoé"


def test_email_domain_is_normalised() -> None:
    """The domain of an address is lower-cased; the local part is kept as written."""
    valid = _valid(validator().validate(student_record(personal_email="Chloe.VDS@GMAIL.com")))
    assert valid.personal_email == "Chloe.VDS@gmail.com"


def test_international_email_goes_through_email_validator() -> None:
    """An address with accents is checked (and accepted) by email-validator itself."""
    valid = _valid(validator().validate(student_record(personal_email="chloé@exemple.be")))
    assert valid.personal_email == "chloé@exemple.be"


@given(st.from_regex(r"[A-Za-z0-9._+-]{1,70}@[A-Za-z0-9.-]{1,70}", fullmatch=True))
def test_email_fast_path_agrees_with_email_validator(address: str) -> None:
    """For plain ASCII addresses our verdict and normalisation are email-validator's."""
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    result = validator().validate(student_record(personal_email=address))
    got = result.personal_email if isinstance(result, ValidRecord) else None
    assert got == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30/07/1985", date(1985, 7, 30)),
        ("1985-07-30", date(1985, 7, 30)),
        ("30/7/1985", date(1985, 7, 30)),
    ],
    ids=["dd/mm/yyyy", "iso", "single-digit-month"],
)
def test_dates_in_the_usual_forms(text: str, expected: date) -> None:
    """dd/mm/yyyy and ISO dates are read."""
    assert _valid(validator().validate(student_record(birth_date=text))).birth_date == expected


def test_profile_date_formats_are_used() -> None:
    """A profile may add formats, e.g. the LDAP yyyymmdd."""
    profile = ready_profile("secretariat").model_copy(update={"date_formats": ("%Y%m%d",)})
    valid = _valid(validator(profile).validate(student_record(birth_date="19850730")))
    assert valid.birth_date == date(1985, 7, 30)


def test_yes_no_words_are_read() -> None:
    """Non/nee/0 mean an incomplete record; an empty cell too."""
    for word in ("Non", "nee", "0", ""):
        valid = _valid(validator().validate(student_record(encoding_complete=word)))
        assert valid.encoding_complete is False


def test_school_codes_are_mapped_then_matched_case_insensitively() -> None:
    """The profile's school_codes translate the source's codes to configured ones."""
    profile = ready_profile("secretariat").model_copy(
        update={"school_codes": {"tournai": "hec-tournai"}}
    )
    valid = _valid(validator(profile).validate(student_record(school="TOURNAI")))
    assert valid.school == "HEC-TOURNAI"


def test_without_configured_schools_a_category_is_needed() -> None:
    """With no schools configured the category must come from a column or a constant."""
    result = validator(schools=()).validate(student_record(school="ANY-SCHOOL"))
    assert (IssueCode.MISSING_VALUE, "category") in _codes(result)
    profile = ready_profile("secretariat").model_copy(
        update={"constants": {LogicalField.CATEGORY: "PS"}}
    )
    valid = _valid(validator(profile, schools=()).validate(student_record(school="ANY-SCHOOL")))
    assert (valid.school, valid.category) == ("ANY-SCHOOL", Category.PS)


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


def test_staff_row_gives_an_attribution() -> None:
    """A personnel row gives a teacher's open-ended attribution."""
    valid = _valid(_staff())
    attribution = valid.attribution(valid.key)
    assert attribution is not None
    assert (attribution.school, attribution.category) == ("EPS-MONS", Category.PS)
    assert attribution.function is StaffFunction.TEACHER
    assert attribution.end is None
    assert valid.role is Role.TEACHER


def test_staff_row_without_attribution_is_kept() -> None:
    """A staff member without attribution columns filled is a person without attribution."""
    valid = _valid(_staff(school="", category="", start=""))
    assert valid.attribution(valid.key) is None
    assert valid.role is Role.TEACHER


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"end": "31/08/2019"}, IssueCode.INVALID_PERIOD, "end"),
        ({"start": ""}, IssueCode.MISSING_VALUE, "start"),
        ({"function": "Chef"}, IssueCode.UNKNOWN_FUNCTION, "function"),
        ({"function": ""}, IssueCode.MISSING_VALUE, "function"),
        ({"category": "HE"}, IssueCode.CATEGORY_MISMATCH, "category"),
        ({"category": "Université"}, IssueCode.UNKNOWN_CATEGORY, "category"),
    ],
    ids=[
        "ends-before-start",
        "no-start",
        "unknown-function",
        "no-function",
        "category-mismatch",
        "unknown-category",
    ],
)
def test_bad_attribution_quarantines_the_row(
    changes: dict[str, str], code: IssueCode, field: str
) -> None:
    """Each kind of bad attribution value gives its issue code."""
    assert (code, field) in _codes(_staff(**changes))


def test_administrative_function_gives_the_administrative_role() -> None:
    """ADM means administrative staff."""
    assert _valid(_staff(function="adm")).role is Role.ADMINISTRATIVE


def test_constants_fill_unmapped_fields() -> None:
    """A profile constant stands for a column the export does not have."""
    profile = SourceProfile.model_validate(
        {
            "kind": "student",
            "columns": {"matricule": "M", "family_name": "N", "given_name": "P", "school": "S"},
            "constants": {"academic_year": "2026-2027"},
        }
    )
    values = {
        LogicalField.MATRICULE: "1",
        LogicalField.FAMILY_NAME: "Dupont",
        LogicalField.GIVEN_NAME: "Jean",
        LogicalField.SCHOOL: "AR-ATH",
    }
    valid = _valid(
        RecordValidator(profile, pseudonymiser(), schools=SCHOOLS, today=date(2026, 9, 1)).validate(
            record(values)
        )
    )
    assert valid.academic_year == 2026
    assert valid.school == "AR-ATH"
