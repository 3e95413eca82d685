"""Unit tests of search filters: escaping, rendering and in-memory matching (RFC 4515)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecampus_idm.directory.filters import (
    And,
    Equals,
    Filter,
    Or,
    Present,
    Substring,
    eq,
    escape_filter_value,
    everything,
    present,
)

PROPERTY = settings(deadline=None, max_examples=300)
FILTER_ALPHABET = "*()\\\x00=&|!~<>aAé "
filter_like_text = st.text(alphabet=FILTER_ALPHABET, max_size=30)
any_value = st.one_of(st.text(), filter_like_text)

_HEX_PAIR = re.compile(rb"\\([0-9a-fA-F]{2})")


def _unescape(rendered_value: str) -> str:
    """Decode RFC 4515 hex-pair escapes the way a server does: as UTF-8 bytes."""
    raw = _HEX_PAIR.sub(lambda m: bytes([int(m.group(1), 16)]), rendered_value.encode("utf-8"))
    return raw.decode("utf-8")


# -- escaping and rendering ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("jean", "jean"),
        ("*", "\\2a"),
        ("(", "\\28"),
        (")", "\\29"),
        ("\\", "\\5c"),
        ("\x00", "\\00"),
        ("a=b&c|d!e~f<g>h", "a=b&c|d!e~f<g>h"),
        ("été", "été"),
        ("", ""),
    ],
    ids=["plain", "star", "open", "close", "backslash", "nul", "operators", "non-ascii", "empty"],
)
def test_escape_filter_value(value: str, escaped: str) -> None:
    """Only the characters RFC 4515 requires are escaped, as hex pairs."""
    assert escape_filter_value(value) == escaped


def test_hostile_value_renders_literally() -> None:
    """An injection attempt is escaped into a single equality assertion."""
    assert eq("cn", "*)(uid=*").render() == "(cn=\\2a\\29\\28uid=\\2a)"


def test_str_is_render() -> None:
    """str() of a filter is its RFC 4515 string."""
    assert str(eq("uid", "jean")) == "(uid=jean)"


def test_present_renders() -> None:
    """A presence filter renders as (attribute=*)."""
    assert present("mail").render() == "(mail=*)"


def test_everything_renders_object_class_presence() -> None:
    """everything() is (objectClass=*)."""
    assert everything().render() == "(objectClass=*)"


@pytest.mark.parametrize(
    ("built", "rendered"),
    [
        (eq("a", "1") & present("b"), "(&(a=1)(b=*))"),
        (eq("a", "1") | present("b"), "(|(a=1)(b=*))"),
        (~eq("a", "1"), "(!(a=1))"),
        (eq("a", "1") & eq("b", "2") & eq("c", "3"), "(&(a=1)(b=2)(c=3))"),
        (eq("a", "1") | eq("b", "2") | eq("c", "3"), "(|(a=1)(b=2)(c=3))"),
        (eq("a", "1") & (eq("b", "2") | ~present("c")), "(&(a=1)(|(b=2)(!(c=*))))"),
        (~~eq("a", "1"), "(!(!(a=1)))"),
        (And(()), "(&)"),
        (Or(()), "(|)"),
        (eq("cn", "*") & eq("sn", ")"), "(&(cn=\\2a)(sn=\\29))"),
    ],
    ids=[
        "and",
        "or",
        "not",
        "and-chain-flattens",
        "or-chain-flattens",
        "nested",
        "double-not",
        "empty-and",
        "empty-or",
        "escaped-inside-and",
    ],
)
def test_combinators_render(built: Filter, rendered: str) -> None:
    """&, | and ~ build (&...), (|...) and (!...) filters."""
    assert built.render() == rendered


def test_or_inside_and_is_not_flattened() -> None:
    """Mixing operators keeps the grouping the caller wrote."""
    assert (eq("a", "1") | eq("b", "2")) & eq("c", "3") == And(
        (Or((eq("a", "1"), eq("b", "2"))), eq("c", "3"))
    )


@pytest.mark.parametrize(
    ("substring", "rendered"),
    [
        (Substring("cn", initial="jo"), "(cn=jo*)"),
        (Substring("cn", final="son"), "(cn=*son)"),
        (Substring("cn", any=("a", "b")), "(cn=*a*b*)"),
        (Substring("cn", initial="j", any=("a", "b"), final="n"), "(cn=j*a*b*n)"),
        (Substring("cn", initial="a", any=("", "b", "")), "(cn=a*b*)"),
        (Substring("cn", initial="*(", final=")\\"), "(cn=\\2a\\28*\\29\\5c)"),
        (Substring("cn", any=("*",)), "(cn=*\\2a*)"),
    ],
    ids=["initial", "final", "any", "all-parts", "empty-any-parts-skipped", "escaped", "star-any"],
)
def test_substring_renders(substring: Substring, rendered: str) -> None:
    """Substring parts are escaped and joined with unescaped '*'."""
    assert substring.render() == rendered


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attribute",
    ["", "c n", "cn=", "(cn", "cn)", "cn*", "1cn", "-cn", "2", "cn;", "é", "cn\\"],
    ids=[
        "empty",
        "space",
        "equals",
        "open-paren",
        "close-paren",
        "star",
        "leading-digit",
        "leading-dash",
        "bare-number",
        "empty-option",
        "non-ascii",
        "backslash",
    ],
)
@pytest.mark.parametrize(
    "make",
    [lambda a: Equals(a, "x"), Present, lambda a: Substring(a, initial="x")],
    ids=["equals", "present", "substring"],
)
def test_invalid_attribute_rejected(make: Callable[[str], Filter], attribute: str) -> None:
    """A filter refuses an attribute that is not an attribute description."""
    with pytest.raises(ValueError, match="attribute description"):
        make(attribute)


def test_attribute_with_trailing_newline_rejected() -> None:
    """An attribute followed by a newline is not an attribute description."""
    with pytest.raises(ValueError, match="attribute description"):
        Equals("cn\n", "x")


@pytest.mark.parametrize(
    "attribute",
    ["cn", "objectClass", "x-ecampus-id", "cn;lang-fr", "2.5.4.3", "userCertificate;binary"],
    ids=str,
)
def test_valid_attribute_accepted(attribute: str) -> None:
    """Names, options and numeric OIDs are attribute descriptions."""
    assert Present(attribute).render() == f"({attribute}=*)"


@pytest.mark.parametrize(
    "parts",
    [{}, {"initial": "", "final": ""}, {"any": ()}, {"any": ("", "")}],
    ids=["nothing", "empty-ends", "empty-any", "only-empty-any-parts"],
)
def test_substring_needs_a_non_empty_part(parts: dict[str, object]) -> None:
    """A substring filter with only empty parts is refused (it would be a presence test)."""
    with pytest.raises(ValueError, match="non-empty part"):
        Substring("cn", **parts)  # type: ignore[arg-type]


def test_filters_are_frozen() -> None:
    """Filters are immutable values."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        eq("cn", "a").value = "b"  # type: ignore[misc]


# -- matching ------------------------------------------------------------------------------

JEAN = {"cn": ["Jean Dupont"], "uid": ["jean.dupont"], "objectclass": ["inetOrgPerson", "top"]}


@pytest.mark.parametrize(
    ("flt", "matches"),
    [
        (eq("uid", "jean.dupont"), True),
        (eq("uid", "JEAN.DUPONT"), True),
        (eq("UID", "jean.dupont"), True),
        (eq("objectClass", "top"), True),
        (eq("uid", "jean"), False),
        (eq("mail", "jean.dupont"), False),
        (eq("cn", "*"), False),
        (present("cn"), True),
        (present("CN"), True),
        (present("mail"), False),
        (everything(), True),
    ],
    ids=[
        "equal",
        "value-case",
        "attribute-case",
        "one-of-many-values",
        "prefix-is-not-equal",
        "absent-attribute",
        "star-is-literal",
        "present",
        "present-attribute-case",
        "absent",
        "everything",
    ],
)
def test_simple_matching(flt: Filter, matches: bool) -> None:
    """Equality and presence match case-insensitively on lower-case attribute keys."""
    assert flt.matches(JEAN) is matches


def test_present_with_no_values_does_not_match() -> None:
    """An attribute key with an empty value list is not present."""
    assert not present("mail").matches({"mail": []})


def test_equality_on_casefold() -> None:
    """Equality uses full case folding (ß equals SS)."""
    assert eq("cn", "STRASSE").matches({"cn": ["Straße"]})


@pytest.mark.parametrize(
    ("flt", "matches"),
    [
        (And(()), True),
        (Or(()), False),
        (eq("uid", "jean.dupont") & present("cn"), True),
        (eq("uid", "jean.dupont") & present("mail"), False),
        (eq("uid", "x") | present("cn"), True),
        (eq("uid", "x") | present("mail"), False),
        (~present("mail"), True),
        (~present("cn"), False),
        (~~present("cn"), True),
    ],
    ids=[
        "empty-and",
        "empty-or",
        "and-true",
        "and-false",
        "or-true",
        "or-false",
        "not-true",
        "not-false",
        "double-not",
    ],
)
def test_combinator_matching(flt: Filter, matches: bool) -> None:
    """And needs all, Or needs one, Not inverts; the empty And matches everything."""
    assert flt.matches(JEAN) is matches


def test_empty_and_matches_empty_entry() -> None:
    """The empty And matches even an entry without attributes."""
    assert And(()).matches({})


@pytest.mark.parametrize(
    ("substring", "value", "matches"),
    [
        (Substring("cn", initial="jean"), "Jean Dupont", True),
        (Substring("cn", initial="dupont"), "Jean Dupont", False),
        (Substring("cn", final="PONT"), "Jean Dupont", True),
        (Substring("cn", final="jean"), "Jean Dupont", False),
        (Substring("cn", any=("n d",)), "Jean Dupont", True),
        (Substring("cn", any=("an", "up")), "Jean Dupont", True),
        (Substring("cn", any=("up", "an")), "Jean Dupont", False),
        (Substring("cn", initial="jean", final="dupont"), "Jean Dupont", True),
        (Substring("cn", initial="ab", final="bc"), "abc", False),
        (Substring("cn", initial="ab", final="bc"), "abbc", True),
        (Substring("cn", initial="a", final="a"), "a", False),
        (Substring("cn", initial="a", final="a"), "aa", True),
        (Substring("cn", any=("aa", "aa")), "aaa", False),
        (Substring("cn", any=("aa", "aa")), "aaaa", True),
        (Substring("cn", any=("bc",), final="c"), "abc", False),
        (Substring("cn", any=("bc",), final="c"), "abcc", True),
        (Substring("cn", initial="ab", any=("b",)), "ab", False),
        (Substring("cn", initial="*"), "*x", True),
        (Substring("cn", initial="*"), "x", False),
        (Substring("cn", initial="STRASS"), "Straße", True),
    ],
    ids=[
        "initial",
        "initial-not-at-start",
        "final-case",
        "final-not-at-end",
        "any",
        "any-in-order",
        "any-out-of-order",
        "initial-and-final",
        "initial-final-overlap",
        "initial-final-adjacent",
        "same-char-overlap",
        "same-char-twice",
        "repeated-any-overlap",
        "repeated-any-disjoint",
        "any-final-overlap",
        "any-then-final",
        "any-inside-initial",
        "star-is-literal",
        "star-is-not-wildcard",
        "casefold",
    ],
)
def test_substring_matching(substring: Substring, value: str, matches: bool) -> None:
    """Parts match in order, without overlapping, ignoring case."""
    assert substring.matches({"cn": [value]}) is matches


def test_substring_matches_any_of_several_values() -> None:
    """A multi-valued attribute matches when one value does."""
    assert Substring("mail", final="@ecampus.test").matches({"mail": ["a@x.be", "b@ecampus.test"]})


def test_substring_on_absent_attribute() -> None:
    """A substring filter does not match an entry without the attribute."""
    assert not Substring("mail", initial="a").matches(JEAN)


# -- properties ----------------------------------------------------------------------------


@PROPERTY
@given(any_value)
def test_equality_matches_its_own_value(value: str) -> None:
    """eq(attribute, v) matches an entry whose attribute holds exactly v."""
    assert eq("cn", value).matches({"cn": [value]})


@PROPERTY
@given(any_value)
def test_rendered_value_unescapes_to_the_value(value: str) -> None:
    """The rendered assertion value decodes back to the exact value."""
    rendered = eq("cn", value).render()
    assert rendered.startswith("(cn=")
    assert rendered.endswith(")")
    assert _unescape(rendered[4:-1]) == value


@PROPERTY
@given(any_value)
def test_rendered_value_has_no_unescaped_specials(value: str) -> None:
    """Inside the value, '*', '(', ')', NUL never appear and '\\' only starts a hex pair."""
    body = eq("cn", value).render()[4:-1]
    without_escapes = re.sub(r"\\[0-9a-fA-F]{2}", "", body)
    assert not set(without_escapes) & {"*", "(", ")", "\\", "\x00"}


@PROPERTY
@given(any_value, any_value, any_value)
def test_substring_matches_a_value_built_from_its_parts(
    initial: str, middle: str, final: str
) -> None:
    """A value made of initial + middle + final matches Substring(initial, (middle,), final)."""
    if not (initial or middle or final):
        return  # such a Substring is refused, see test_substring_needs_a_non_empty_part
    flt = Substring("cn", initial=initial, any=(middle,), final=final)
    assert flt.matches({"cn": [initial + "-" + middle + "-" + final]})


@PROPERTY
@given(any_value, any_value)
def test_not_inverts_equality(value: str, other: str) -> None:
    """~f matches exactly when f does not."""
    entry = {"cn": [other]}
    assert (~eq("cn", value)).matches(entry) is not eq("cn", value).matches(entry)
