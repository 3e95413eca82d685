"""Correlation: one person per human across sources, never a silent merge of doubtful matches."""

from __future__ import annotations

from datetime import date

import pytest
from sources_support import BIS_1998, NISS_1985, NISS_2017, pseudonymiser, record, validator

from ecampus_idm.connectors.quarantine import IssueCode
from ecampus_idm.connectors.sample import national_number
from ecampus_idm.connectors.settings import LogicalField
from ecampus_idm.identity.correlate import (
    Correlation,
    Correlator,
    MemoryIdentityIndex,
    ReviewKind,
)
from ecampus_idm.identity.errors import PersonBuildError
from ecampus_idm.identity.validate import ValidRecord
from ecampus_idm.model import Person, Role, SourceKey


def student(
    source: str = "secretariat-he", matricule: str = "000123", **changes: str
) -> ValidRecord:
    """Return a validated student record."""
    values = {
        LogicalField.MATRICULE: matricule,
        LogicalField.FAMILY_NAME: "Van der Straeten",
        LogicalField.GIVEN_NAME: "Chloé",
        LogicalField.BIRTH_DATE: "30/07/1985",
        LogicalField.NATIONAL_NUMBER: NISS_1985,
        LogicalField.PERSONAL_EMAIL: "chloe@gmail.com",
        LogicalField.SCHOOL: "HEC-TOURNAI",
        LogicalField.ACADEMIC_YEAR: "2026-2027",
    }
    values.update({LogicalField(k): v for k, v in changes.items()})
    result = validator().validate(record(values, source=source))
    assert isinstance(result, ValidRecord), result
    return result


def staff(source: str = "personnel", matricule: str = "0042", **changes: str) -> ValidRecord:
    """Return a validated personnel record (a PS teacher)."""
    values = {
        LogicalField.MATRICULE: matricule,
        LogicalField.FAMILY_NAME: "Van der Straeten",
        LogicalField.GIVEN_NAME: "Chloé",
        LogicalField.BIRTH_DATE: "30/07/1985",
        LogicalField.NATIONAL_NUMBER: NISS_1985,
        LogicalField.PERSONAL_EMAIL: "c.vds@telenet.be",
        LogicalField.SCHOOL: "EPS-MONS",
        LogicalField.CATEGORY: "PS",
        LogicalField.FUNCTION: "ENS",
        LogicalField.START: "01/09/2020",
        LogicalField.END: "",
    }
    values.update({LogicalField(k): v for k, v in changes.items()})
    result = validator("personnel").validate(record(values, source=source))
    assert isinstance(result, ValidRecord), result
    return result


def correlate(*sources: list[ValidRecord], index: MemoryIdentityIndex | None = None) -> Correlation:
    """Correlate sources given in order of precedence."""
    correlator = Correlator(pseudonymiser(), index=index)
    for records in sources:
        assert correlator.add(records) == []
    return correlator.result()


def only(correlation: Correlation) -> Person:
    """Return the one person of a correlation."""
    (person,) = correlation.persons()
    return person


def test_two_sources_about_one_person_give_one_person_with_both_roles() -> None:
    """A PS teacher who is also a HE student is one person, teacher and student."""
    person = only(correlate([staff()], [student()]))
    assert person.roles == {Role.TEACHER, Role.STUDENT}
    assert person.source_keys == {
        SourceKey(source="personnel", matricule="0042"),
        SourceKey(source="secretariat-he", matricule="000123"),
    }
    assert len(person.enrolments) == 1
    assert len(person.attributions) == 1


def test_first_source_wins_on_conflicting_values() -> None:
    """The source listed first gives the e-mail and names; others only fill gaps."""
    person = only(correlate([staff(personal_email="")], [student(given_name="Chloe")]))
    assert person.given_name == "Chloé"
    assert person.personal_email == "chloe@gmail.com"


def test_rows_of_one_matricule_are_one_person() -> None:
    """A staff member's attribution rows merge into one person with every attribution."""
    rows = [staff(), staff(school="AR-ATH", category="SEC", start="01/09/2024")]
    person = only(correlate(rows))
    assert [a.school for a in person.attributions] == ["EPS-MONS", "AR-ATH"]


def test_row_without_number_joins_its_matricule() -> None:
    """A row of the same matricule without national number is still that person."""
    person = only(correlate([staff(), staff(national_number="", school="AR-ATH", category="SEC")]))
    assert person.niss_pseudonym == pseudonymiser().pseudonym(NISS_1985)
    assert len(person.attributions) == 2


def test_conflicting_number_for_a_matricule_is_set_aside() -> None:
    """The same matricule with another national number is an issue, not a merge."""
    correlator = Correlator(pseudonymiser())
    issues = correlator.add(
        [
            staff(),
            staff(
                national_number=BIS_1998, birth_date="28/07/1998", school="AR-ATH", category="SEC"
            ),
        ]
    )
    assert [issue.code for issue in issues] == [IssueCode.CONFLICTING_RECORD]
    person = only(correlator.result())
    assert len(person.attributions) == 1


def test_different_numbers_are_different_people() -> None:
    """Two records with different numbers are two people even with other names alike."""
    correlation = correlate(
        [student(), student(matricule="2", national_number=NISS_2017, birth_date="30/07/2017")]
    )
    assert len(correlation) == 2


def test_namesakes_with_different_numbers_are_reported_never_merged() -> None:
    """Same names and birth date, different numbers: two people and a review item."""
    other = staff(national_number=national_number(date(1985, 7, 30), 35))  # another counter
    correlation = correlate([other], [student()])
    assert len(correlation) == 2
    (review,) = correlation.reviews
    assert review.kind is ReviewKind.SAME_NAME_AND_BIRTH_DATE
    assert set(review.person_ids) == set(correlation.person_ids())
    assert NISS_1985 not in str(review.as_dict())


def test_namesake_without_number_is_a_possible_match() -> None:
    """Same names and birth date, one without number: kept apart, reported as possible."""
    correlation = correlate([staff(national_number="")], [student()])
    assert len(correlation) == 2
    assert [r.kind for r in correlation.reviews] == [ReviewKind.POSSIBLE_SAME_PERSON]


def test_namesake_check_ignores_accents_case_and_punctuation() -> None:
    """VAN DER STRAETEN Chloe matches Van der Straeten Chloé for review purposes."""
    other = staff(family_name="VAN-DER STRAETEN", given_name="chloe", national_number="")
    assert len(correlate([other], [student()]).reviews) == 1


def test_person_ids_are_stable_across_runs_and_orders() -> None:
    """The same records give the same ids, whatever the order of the rows."""
    rows = [student(), student(matricule="7", national_number="", given_name="Zoé")]
    first = correlate(rows).person_ids()
    assert first == correlate(list(reversed(rows))).person_ids()
    assert first == sorted(first)


def test_person_id_rule() -> None:
    """The id derives from the pseudonym, or from the source key without a number."""
    pseudo = pseudonymiser()
    with_number = only(correlate([student()]))
    assert with_number.person_id == pseudo.person_id_for_pseudonym(pseudo.pseudonym(NISS_1985))
    without = only(correlate([student(national_number="")]))
    assert without.person_id == pseudo.person_id_for_key("secretariat-he", "000123")


def test_index_keeps_the_id_when_the_number_arrives() -> None:
    """A person first known without number keeps their id when the number is encoded."""
    before = only(correlate([student(national_number="")]))
    after = only(correlate([student()], index=MemoryIdentityIndex([before])))
    assert after.person_id == before.person_id


def test_index_links_sources_by_stored_source_keys() -> None:
    """Stored source keys join records of one person even without a national number."""
    assert len(correlate([staff(national_number="")], [student(national_number="")])) == 2
    person = Person(
        person_id="p-known",
        given_name="Chloé",
        family_name="Van der Straeten",
        source_keys=frozenset(
            {
                SourceKey(source="personnel", matricule="0042"),
                SourceKey(source="secretariat-he", matricule="000123"),
            }
        ),
    )
    merged = only(
        correlate(
            [staff(national_number="")],
            [student(national_number="")],
            index=MemoryIdentityIndex([person]),
        )
    )
    assert merged.person_id == "p-known"
    assert merged.roles == {Role.TEACHER, Role.STUDENT}


def test_stored_link_with_different_numbers_is_not_merged() -> None:
    """When stored keys link records whose numbers now differ, nothing is merged."""
    person = Person(
        person_id="p-known",
        given_name="Chloé",
        family_name="Van der Straeten",
        source_keys=frozenset(
            {
                SourceKey(source="personnel", matricule="0042"),
                SourceKey(source="secretariat-he", matricule="000123"),
            }
        ),
    )
    other = student(national_number=NISS_2017, birth_date="30/07/2017")
    correlation = correlate([staff()], [other], index=MemoryIdentityIndex([person]))
    assert len(correlation) == 2
    assert ReviewKind.STORED_LINK_CONFLICT in {r.kind for r in correlation.reviews}
    assert len(set(correlation.person_ids())) == 2


def test_known_people_found_to_be_one_are_reported() -> None:
    """Two people known apart who now share a number become one, with a review item."""
    pseudo = pseudonymiser()
    a = Person(
        person_id="p-a", given_name="C", family_name="V", niss_pseudonym=pseudo.pseudonym(NISS_1985)
    )
    b = Person(
        person_id="p-b",
        given_name="C",
        family_name="V",
        source_keys=frozenset({SourceKey(source="secretariat-he", matricule="000123")}),
    )
    correlation = correlate([staff()], [student()], index=MemoryIdentityIndex([a, b]))
    person = only(correlation)
    assert person.person_id == "p-a"
    assert [r.kind for r in correlation.reviews] == [ReviewKind.KNOWN_PERSONS_MERGED]


def test_correlation_builds_fresh_people_each_time() -> None:
    """Iterating twice gives equal people (built on demand, not held)."""
    correlation = correlate([staff()], [student()])
    assert correlation.persons() == correlation.persons()


def test_person_the_model_refuses_is_a_person_build_error() -> None:
    """A value the model refuses becomes PersonBuildError naming the field, not the value."""
    bad = student()
    broken = bad._replace(school="BAD CODE")
    correlation = correlate([broken])
    with pytest.raises(PersonBuildError) as caught:
        correlation.persons()
    assert "school" in str(caught.value)
    assert "BAD CODE" not in str(caught.value)


def test_birth_date_is_kept_as_given() -> None:
    """The person's birth date is the source's, never inferred from the number."""
    assert only(correlate([student(birth_date="")])).birth_date is None
    assert only(correlate([student()])).birth_date == date(1985, 7, 30)
