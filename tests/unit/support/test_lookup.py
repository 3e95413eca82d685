"""The question of a diagnosis: one school, exactly one way of finding the person."""

from __future__ import annotations

from datetime import date

import pytest

from ecampus_idm.support.diagnose import Lookup, mask_addresses, mask_email
from ecampus_idm.support.errors import LookupInputError


def test_no_criterion_is_refused() -> None:
    """A school alone finds nobody."""
    with pytest.raises(LookupInputError, match="exactly one"):
        Lookup(school="HEC-MONS")


def test_two_criteria_are_refused() -> None:
    """E-mail and matricule together are ambiguous."""
    with pytest.raises(LookupInputError, match="exactly one"):
        Lookup(school="HEC-MONS", email="a@b.be", matricule="1")


def test_name_needs_a_birth_date() -> None:
    """A name without a birth date is refused, naming the missing field."""
    with pytest.raises(LookupInputError) as caught:
        Lookup(school="HEC-MONS", name="Marie Dupont")
    assert caught.value.field == "birth_date"


def test_email_must_look_like_one() -> None:
    """An e-mail criterion without @ is refused."""
    with pytest.raises(LookupInputError, match="email"):
        Lookup(school="HEC-MONS", email="marie.dupont")


def test_empty_school_is_refused() -> None:
    """The school the person named is required."""
    with pytest.raises(LookupInputError, match="school"):
        Lookup(school=" ", matricule="1")


def test_describe_masks_the_email() -> None:
    """The criteria shown in reports carry the address masked."""
    described = Lookup(school="HEC-MONS", email="marie.dupont@gmail.com").describe()
    assert described == {"school": "HEC-MONS", "email": "m***@gmail.com"}


def test_describe_keeps_name_and_birth_date() -> None:
    """Name and birth date are shown as given."""
    described = Lookup(school="S", name="Marie Dupont", birth_date=date(2001, 2, 3)).describe()
    assert described["birth_date"] == "2001-02-03"


@pytest.mark.parametrize(
    ("address", "masked"),
    [("jean@gmail.com", "j***@gmail.com"), ("X@Example.BE", "X***@example.be"), ("nope", "***")],
    ids=["plain", "domain-lowered", "not-an-address"],
)
def test_mask_email(address: str, masked: str) -> None:
    """Only the first letter and the domain remain."""
    assert mask_email(address) == masked


def test_addresses_inside_a_text_are_masked() -> None:
    """An SMTP error quoting the recipient shows it masked."""
    text = mask_addresses("550 5.1.1 <chloe.dubois@gmial.com>: user unknown")
    assert text == "550 5.1.1 <c***@gmial.com>: user unknown"
