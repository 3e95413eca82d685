"""Usernames: transliteration, particles, length, reserved names, suffixes, stability."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_builders import history, student

from ecampus_idm.model import Account, AccountStatus, Person
from ecampus_idm.policies import (
    NamingSettings,
    PolicyInputError,
    StoreSnapshot,
    UsernameGenerator,
)
from ecampus_idm.policies.naming import name_part

DEFAULT = UsernameGenerator(NamingSettings())
USERNAME = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
EMPTY = StoreSnapshot()


def person(given_name: str, family_name: str, person_id: str = "p-1") -> Person:
    return student(person_id=person_id, given_name=given_name, family_name=family_name)


def name_of(given_name: str, family_name: str, generator: UsernameGenerator = DEFAULT) -> str:
    choice = generator.allocate([person(given_name, family_name)], EMPTY)["p-1"]
    assert choice.username is not None
    return choice.username


# -- transliteration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lœwe", "loewe"),
        ("Cæsar", "caesar"),
        ("Søren", "soren"),
        ("Wałęsa", "walesa"),
        ("Strauß", "strauss"),
        ("D’Hondt", "dhondt"),
        ("O‘Neill", "oneill"),
        ("Dʼ Amico", "damico"),
        ("L'Écuyer", "lecuyer"),
        ("Van der Straeten", "vanderstraeten"),
        ("de la Fontaine", "delafontaine"),
        ("Dupont-Durand", "dupont-durand"),
        ("Dupont -- Durand", "dupont-durand"),
        ("Núñez Ölçer", "nunezolcer"),
        ("-Edge-", "edge"),
        ("Ζωή", "zoi"),
    ],
    ids=[
        "oe",
        "ae",
        "o-slash",
        "l-stroke",
        "sharp-s",
        "right-quote",
        "left-quote",
        "modifier-apostrophe",
        "ascii-apostrophe",
        "particles",
        "french-particles",
        "hyphen",
        "spaced-hyphens",
        "accents",
        "edge-hyphens",
        "greek",
    ],
)
def test_name_parts_are_transliterated(text: str, expected: str) -> None:
    """Names become ASCII lower case; apostrophes and spaces go, inner hyphens stay."""
    assert name_part(text) == expected


@pytest.mark.parametrize(
    ("given_name", "family_name", "expected"),
    [
        ("Jean-Pierre", "D’Hondt", "jean-pierre.dhondt"),
        ("Jean Pierre", "Dupont", "jean.dupont"),
        ("‽ Marie", "Curie", "marie.curie"),
        ("Ōkubo-San", "Van der Straeten", "okubo-san.vanderstra"),
    ],
    ids=["compound-given", "first-given-only", "first-usable-given", "cut-to-20"],
)
def test_default_pattern_is_prenom_nom(given_name: str, family_name: str, expected: str) -> None:
    """The default is first-given-name.family-name, cut to 20 characters."""
    assert name_of(given_name, family_name) == expected


def test_all_given_names_can_be_used() -> None:
    """With ``given_names = "all"`` every given name is kept."""
    generator = UsernameGenerator(NamingSettings(given_names="all", max_length=64))
    assert name_of("Jean Pierre", "Dupont", generator) == "jeanpierre.dupont"


def test_cut_never_leaves_a_trailing_separator() -> None:
    """A name cut at the maximum length does not end with '.' or '-'."""
    assert name_of("Jean-Christophe-Mar", "Dupont") == "jean-christophe-mar"


def test_unusable_names_fall_back_to_a_neutral_base() -> None:
    """Names without any letter give the neutral base ``user``."""
    assert name_of("—", "!!!") == "user"


def test_empty_given_name_leaves_no_leading_dot() -> None:
    """A given name without letters leaves the family name alone, without separator."""
    assert name_of("…", "Dupont") == "dupont"


# -- collisions ----------------------------------------------------------------------------


def test_lowest_free_suffix_is_used() -> None:
    """On a collision the lowest free suffix from 2 is added."""
    snapshot = StoreSnapshot(tombstones=frozenset({"jean.dupont", "jean.dupont2", "jean.dupont4"}))
    choice = DEFAULT.allocate([person("Jean", "Dupont")], snapshot)["p-1"]
    assert choice.username == "jean.dupont3"
    assert choice.decision.reason.code == "naming.suffixed"
    assert choice.decision.reason.data == {
        "username": "jean.dupont3",
        "base": "jean.dupont",
        "suffix": "3",
    }


def test_suffix_fits_within_the_maximum_length() -> None:
    """A suffix replaces the end of a name already at the maximum length."""
    snapshot = StoreSnapshot(tombstones=frozenset({"marie-christine.vand"}))
    choice = DEFAULT.allocate([person("Marie-Christine", "Vandenberghe")], snapshot)["p-1"]
    assert choice.username == "marie-christine.van2"


def test_same_name_twice_in_a_run_goes_by_person_id() -> None:
    """Two newcomers with one name: the smaller person_id gets the plain name."""
    people = [person("Jean", "Dupont", "p-2"), person("Jean", "Dupont", "p-1")]
    names = {k: v.username for k, v in DEFAULT.allocate(people, EMPTY).items()}
    assert names == {"p-1": "jean.dupont", "p-2": "jean.dupont2"}


def test_each_newcomer_gets_the_lowest_suffix_still_free() -> None:
    """Several newcomers sharing a name fill the gaps between issued suffixes in order."""
    snapshot = StoreSnapshot(tombstones=frozenset({"jean.dupont", "jean.dupont3"}))
    people = [person("Jean", "Dupont", f"p-{i}") for i in range(3)]
    names = [c.username for c in DEFAULT.allocate(people, snapshot).values()]
    assert names == ["jean.dupont2", "jean.dupont4", "jean.dupont5"]


def test_later_patterns_are_tried_before_a_suffix() -> None:
    """With several patterns, the next pattern is used before adding a suffix."""
    generator = UsernameGenerator(
        NamingSettings(patterns=("{given}.{family}", "{given_initial}.{family}"))
    )
    snapshot = StoreSnapshot(tombstones=frozenset({"jean.dupont"}))
    assert generator.allocate([person("Jean", "Dupont")], snapshot)["p-1"].username == "j.dupont"


def test_identical_candidates_are_tried_once() -> None:
    """Two patterns giving the same name for a person yield one candidate."""
    generator = UsernameGenerator(
        NamingSettings(patterns=("{given}.{family}", "{given_initial}.{family}"))
    )
    assert generator.candidates(person("J", "Dupont")) == ("j.dupont",)


def test_reserved_names_are_never_issued() -> None:
    """A name on the reserved list gets a suffix."""
    generator = UsernameGenerator(NamingSettings(patterns=("{given}",)))
    assert name_of("Root", "X", generator) == "root2"


def test_wildcard_reserved_prefix_can_exhaust_and_says_so() -> None:
    """When every candidate is reserved, no username is given and the reason says why."""
    generator = UsernameGenerator(NamingSettings(patterns=("{given}",), reserved={"svc-*"}))
    people = [person("Svc-Backup", "X", "p-1"), person("Svc-Backup", "Y", "p-2")]
    choices = generator.allocate(people, EMPTY)
    assert [(c.username, c.decision.reason.code) for c in choices.values()] == [
        (None, "naming.exhausted"),
        (None, "naming.exhausted"),
    ]
    assert "svc-backup" in choices["p-1"].decision.reason.fr


def test_is_reserved_matches_exact_and_wildcards() -> None:
    """Reserved names match exactly or by wildcard, nothing else."""
    generator = UsernameGenerator(NamingSettings(reserved={"admin", "svc-*", "t?st"}))
    found = [generator.is_reserved(n) for n in ("admin", "admin2", "svc-x", "test", "tesst")]
    assert found == [True, False, True, True, False]


# -- stability -----------------------------------------------------------------------------


def test_existing_account_keeps_its_username_after_a_name_change() -> None:
    """A married name does not change the username."""
    snapshot = StoreSnapshot(people=(history("p-1", date(2026, 9, 1), username="jean.dupont"),))
    choice = DEFAULT.allocate([person("Jeanne", "Martin")], snapshot)["p-1"]
    assert (choice.username, choice.decision.reason.code) == ("jean.dupont", "naming.kept")


def test_deleted_accounts_username_is_never_given_to_someone_else() -> None:
    """A deleted account's username is a tombstone for everyone else."""
    gone = history("p-0", date(2020, 1, 1), username="jean.dupont", status=AccountStatus.DELETED)
    choice = DEFAULT.allocate([person("Jean", "Dupont")], StoreSnapshot(people=(gone,)))["p-1"]
    assert choice.username == "jean.dupont2"


def test_same_person_twice_is_an_input_error() -> None:
    """A person given twice is refused (no silent choice between two names)."""
    with pytest.raises(PolicyInputError):
        DEFAULT.allocate([person("A", "B"), person("C", "D")], EMPTY)


# -- properties ----------------------------------------------------------------------------

COMMON = st.sampled_from(["Jean", "Marie", "Dupont", "Van der Straeten", "Œ", "ß", "D’Hondt"])
NAME = st.one_of(COMMON, st.text(min_size=1, max_size=40).filter(str.strip))


@st.composite
def people(draw: st.DrawFn) -> list[Person]:
    """Draw up to 25 persons whose names often collide."""
    names = draw(st.lists(st.tuples(NAME, NAME), min_size=1, max_size=25))
    return [person(g, f, f"p-{i:03d}") for i, (g, f) in enumerate(names)]


@settings(deadline=None)
@given(persons=people(), max_length=st.integers(4, 64), data=st.data())
def test_usernames_are_valid_unique_and_order_independent(
    persons: list[Person], max_length: int, data: st.DataObject
) -> None:
    """Any names give `[a-z0-9.-]` usernames within the limit, unique, in any input order."""
    generator = UsernameGenerator(NamingSettings(max_length=max_length))
    taken = frozenset(data.draw(st.lists(st.sampled_from(["jean.dupont", "marie", "user"]))))
    snapshot = StoreSnapshot(tombstones=taken)
    first = generator.allocate(persons, snapshot)
    shuffled = generator.allocate(data.draw(st.permutations(persons)), snapshot)
    names = [choice.username for choice in first.values()]
    assert all(n is not None and USERNAME.fullmatch(n) and len(n) <= max_length for n in names)
    assert len(set(names)) == len(names)
    assert not set(names) & taken
    assert {k: v.username for k, v in shuffled.items()} == dict(zip(first, names, strict=True))


@settings(deadline=None)
@given(given_name=NAME, family_name=NAME)
def test_usernames_fit_an_account(given_name: str, family_name: str) -> None:
    """Every generated username is accepted by the Account model."""
    username = name_of(given_name, family_name)
    account = Account.model_validate(
        {"username": username, "person_id": "p-1", "created_at": "2026-09-01T00:00:00Z"}
    )
    assert account.username == username
