"""National and BIS numbers: python-stdnum's verdicts, the 2000 rule, and the fast path."""

from __future__ import annotations

import pickle
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sources_support import BIS_1998, KEY, NISS_1985, NISS_2017
from stdnum.be import bis, nn

from ecampus_idm.connectors.sample import national_number
from ecampus_idm.identity.niss import NissProblem, check_national_number, contains_national_number
from ecampus_idm.identity.pseudonym import Pseudonymiser

TODAY = date.today()  # stdnum applies the 2000 rule against the system date


@pytest.mark.parametrize(
    ("text", "birth"),
    [
        (NISS_1985, date(1985, 7, 30)),
        ("85.07.30-033.28", date(1985, 7, 30)),
        ("85 07 30 033 28", date(1985, 7, 30)),
        (NISS_2017, date(2017, 7, 30)),
        (BIS_1998, date(1998, 7, 28)),
        ("01490700185", date(2001, 9, 7)),
    ],
    ids=["plain", "dotted", "spaced", "born-2017", "bis", "bis-2001"],
)
def test_valid_numbers_and_their_birth_dates(text: str, birth: date) -> None:
    """Valid numbers pass, in any usual spelling, and give their birth date."""
    check = check_national_number(text)
    assert check.valid
    assert check.birth_date == birth
    assert check.digits == text.replace(".", "").replace("-", "").replace(" ", "")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("85073003329", NissProblem.CHECKSUM),
        ("12345678901", NissProblem.CHECKSUM),
        ("1707300338", NissProblem.LEADING_ZERO),
        ("8507300332", NissProblem.LEADING_ZERO),
        ("850730", NissProblem.FORMAT),
        ("8.50730E+10", NissProblem.FORMAT),
        ("85O73003328", NissProblem.FORMAT),
        ("８５０７３００３３２８", NissProblem.FORMAT),
        ("00000000000", NissProblem.FORMAT),
    ],
    ids=[
        "checksum",
        "random",
        "lost-zero",
        "ten-digits",
        "short",
        "scientific",
        "letter-o",
        "fullwidth-digits",
        "zeros",
    ],
)
def test_invalid_numbers(text: str, problem: NissProblem) -> None:
    """Bad numbers are told apart: checksum, lost leading zero, format."""
    check = check_national_number(text)
    assert check.problem is problem
    assert check.digits == ""


def test_rule_for_births_from_2000() -> None:
    """Digits whose check holds only with the leading 2 are a birth from 2000 on."""
    assert check_national_number(NISS_2017).birth_date == date(2017, 7, 30)
    assert check_national_number("17073003348").problem is NissProblem.CHECKSUM


def test_check_repr_hides_the_digits() -> None:
    """A check's repr never shows the number."""
    assert NISS_1985 not in repr(check_national_number(NISS_1985))


def _stdnum_valid(digits: str) -> bool:
    return nn.is_valid(digits) or bis.is_valid(digits)


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_verdict_agrees_with_stdnum_on_any_digits(digits: str) -> None:
    """For any 11 digits our verdict is python-stdnum's (nn or bis)."""
    assert check_national_number(digits).valid == _stdnum_valid(digits)


@given(st.dates(min_value=date(1920, 1, 1), max_value=TODAY), st.integers(1, 997), st.booleans())
def test_generated_numbers_are_valid_for_stdnum(birth: date, counter: int, is_bis: bool) -> None:
    """The sample's numbers are valid for stdnum and give back their birth date."""
    number = national_number(birth, counter, bis=is_bis)
    assert _stdnum_valid(number)
    assert check_national_number(number).birth_date == birth


@given(st.dates(min_value=date(1920, 1, 1), max_value=TODAY), st.integers(1, 997))
def test_checksum_errors_agree_with_stdnum(birth: date, counter: int) -> None:
    """A number with wrong check digits is a checksum problem for us and for stdnum."""
    number = national_number(birth, counter)
    wrong = number[:9] + f"{(int(number[9:]) % 97) + 1:02d}"
    if _stdnum_valid(wrong):  # the other century's check digits: valid for both
        assert check_national_number(wrong).valid
    else:
        assert check_national_number(wrong).problem is NissProblem.CHECKSUM


def test_pseudonym_is_stable_and_keyed() -> None:
    """The same number gives the same pseudonym under one key and another under another."""
    one, two = Pseudonymiser(KEY), Pseudonymiser(KEY)
    other = Pseudonymiser(type(KEY)("another-key-" + "y" * 40))
    assert one.pseudonym(NISS_1985) == two.pseudonym(NISS_1985)
    assert one.pseudonym(NISS_1985) != other.pseudonym(NISS_1985)
    assert one.pseudonym(NISS_1985) != one.pseudonym(NISS_2017)
    assert NISS_1985 not in one.pseudonym(NISS_1985)
    assert one.matches(one.pseudonym(NISS_1985), NISS_1985)


def test_person_ids_are_stable_and_distinct_from_pseudonyms() -> None:
    """Person ids are deterministic, 33 characters, and unlike the pseudonym they come from."""
    pseudo = Pseudonymiser(KEY)
    pseudonym = pseudo.pseudonym(NISS_1985)
    person_id = pseudo.person_id_for_pseudonym(pseudonym)
    assert person_id == Pseudonymiser(KEY).person_id_for_pseudonym(pseudonym)
    assert person_id.startswith("p")
    assert len(person_id) == 33
    assert person_id[1:] not in pseudonym
    assert pseudo.person_id_for_key("sec", "000123") != pseudo.person_id_for_key("sec", "000124")
    assert pseudo.person_id_for_key("a", "b\0c") != pseudo.person_id_for_key("a\0b", "c")


def test_pseudonymiser_hides_its_key() -> None:
    """Neither the repr nor pickling reveals the key."""
    pseudo = Pseudonymiser(KEY)
    assert KEY.get_secret_value() not in repr(pseudo)
    with pytest.raises(TypeError):
        pickle.dumps(pseudo)


def test_empty_key_is_refused() -> None:
    """An empty key is a configuration mistake, not a usable key."""
    with pytest.raises(ValueError, match="empty"):
        Pseudonymiser(type(KEY)(""))


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"{NISS_1985}@hotmail.com", True),
        ("Dupont 85.07.30-033.28", True),
        (f"E-{NISS_1985}", True),
        (f"1{NISS_1985}", False),
        ("jean.dupont42@gmail.com", False),
        ("85073003329", False),
    ],
    ids=[
        "email-local-part",
        "formatted-in-a-name",
        "prefixed",
        "longer-run",
        "few-digits",
        "bad-checksum",
    ],
)
def test_contains_national_number(text: str, found: bool) -> None:
    """A valid number hidden in a text is found, whatever surrounds or separates it."""
    assert contains_national_number(text) is found


@given(
    st.dates(min_value=date(1920, 1, 1), max_value=TODAY), st.integers(1, 997), st.text(max_size=20)
)
def test_pseudonyms_and_ids_never_hold_digits(birth: date, counter: int, matricule: str) -> None:
    """Pseudonyms and person ids are digit-free: no accidental national number in them."""
    pseudo = Pseudonymiser(KEY)
    pseudonym = pseudo.pseudonym(national_number(birth, counter))
    for value in (
        pseudonym,
        pseudo.person_id_for_pseudonym(pseudonym),
        pseudo.person_id_for_key("s", matricule),
    ):
        assert not any(ch.isdigit() for ch in value)
    assert len(pseudonym) == 64
