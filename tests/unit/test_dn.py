"""Unit tests of DN escaping, parsing, building and comparison (RFC 4514)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ecampus_idm.directory.dn import (
    build_dn,
    dn_is_within,
    dn_path,
    escape_rdn_value,
    format_dn,
    normalize_dn,
    parent_dn,
    parse_dn,
    rdn,
    rdn_value,
)
from ecampus_idm.errors import InvalidDnError

PEOPLE = "ou=people,dc=ecampus,dc=test"

# Every character the DN grammar treats specially, plus hex digits so that random strings
# often form (valid or broken) hex-pair escapes.
DN_ALPHABET = ' ,+="\\<>;#\x00\ncnouid.0123456789abcdefABCDEFxé€'
dn_like_text = st.text(alphabet=DN_ALPHABET, max_size=40)
any_text = st.one_of(st.text(), dn_like_text)
# Fragments that often assemble into valid DNs with every kind of escape in them.
DN_FRAGMENTS = (
    *("cn=", "ou=", " ", ",", "+", "a", "É", "#", "=", "*)(", "\n"),
    *("\\2C", "\\c3\\a9", "\\00", "\\ ", "\\\\", "\\#", "\\,", "\\+", '\\"', "\\<", "\\;"),
)
dn_fragments = st.lists(st.sampled_from(DN_FRAGMENTS), max_size=20).map(
    lambda parts: "cn=" + "".join(parts)
)
attribute_types = st.sampled_from(["cn", "uid", "ou", "dc", "CN", "sn", "x-ecampus-id", "2.5.4.3"])
rdns = st.lists(st.tuples(attribute_types, st.text()), min_size=1, max_size=3).map(tuple)

PROPERTY = settings(deadline=None, max_examples=300)


# -- escaping and building -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("jean.dupont", "jean.dupont"),
        ("Smith, John", "Smith\\, John"),
        ("a+b", "a\\+b"),
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("<a>;b=c", "\\<a\\>\\;b\\=c"),
        ("#hash", "\\#hash"),
        ("mid#hash", "mid#hash"),
        (" lead", "\\ lead"),
        ("trail ", "trail\\ "),
        ("in side", "in side"),
        (" ", "\\ "),
        ("nul\x00byte", "nul\\00byte"),
        ("été", "été"),
        ("", ""),
    ],
    ids=[
        "plain",
        "comma",
        "plus",
        "quotes",
        "backslash",
        "angle-semicolon-equals",
        "leading-hash",
        "inner-hash",
        "leading-space",
        "trailing-space",
        "inner-space",
        "single-space",
        "nul",
        "non-ascii",
        "empty",
    ],
)
def test_escape_rdn_value(value: str, escaped: str) -> None:
    """Special characters are backslash-escaped, others are left as they are."""
    assert escape_rdn_value(value) == escaped


def test_build_dn_joins_rdn_and_parent() -> None:
    """build_dn puts the escaped RDN in front of the parent."""
    assert build_dn("cn", "Smith, John", PEOPLE) == f"cn=Smith\\, John,{PEOPLE}"


def test_build_dn_without_parent_is_the_rdn() -> None:
    """An empty parent gives a top-level DN with no trailing comma."""
    assert build_dn("dc", "test", "") == "dc=test"


@pytest.mark.parametrize(
    "attribute",
    ["", "1cn", "-cn", "c n", "cn=", "cn;lang-fr", "cn,", "é", "2.", "2..5", " cn"],
    ids=[
        "empty",
        "leading-digit-name",
        "leading-dash",
        "space",
        "equals",
        "option",
        "comma",
        "non-ascii",
        "oid-trailing-dot",
        "oid-double-dot",
        "leading-space",
    ],
)
def test_rdn_rejects_bad_attribute_type(attribute: str) -> None:
    """rdn() refuses a string that is not an attribute type."""
    with pytest.raises(ValueError, match="attribute type"):
        rdn(attribute, "x")


def test_rdn_rejects_attribute_type_with_trailing_newline() -> None:
    """An attribute type followed by a newline is not an attribute type."""
    with pytest.raises(ValueError, match="attribute type"):
        rdn("cn\n", "x")


@pytest.mark.parametrize("attribute", ["cn", "uid", "x-ecampus-id", "2.5.4.3", "CN"], ids=str)
def test_rdn_accepts_valid_attribute_type(attribute: str) -> None:
    """Names and numeric OIDs are valid attribute types."""
    assert rdn(attribute, "v") == f"{attribute}=v"


# -- parsing -------------------------------------------------------------------------------


def test_parse_simple_dn() -> None:
    """A DN parses into its RDNs, most specific first."""
    assert parse_dn("uid=jean,ou=people,dc=ecampus,dc=test") == (
        (("uid", "jean"),),
        (("ou", "people"),),
        (("dc", "ecampus"),),
        (("dc", "test"),),
    )


@pytest.mark.parametrize("dn", ["", "   "], ids=["empty", "spaces"])
def test_parse_root_dse(dn: str) -> None:
    """The empty DN (the root DSE) has no RDN."""
    assert parse_dn(dn) == ()


def test_parse_multi_valued_rdn() -> None:
    """A '+' joins attribute-value pairs into one RDN."""
    assert parse_dn("cn=Jean+uid=jd,dc=x") == ((("cn", "Jean"), ("uid", "jd")), (("dc", "x"),))


def test_parse_tolerates_spaces_around_separators() -> None:
    """Spaces around ',' '+' and '=' are not part of the values (RFC 2253 style)."""
    assert parse_dn(" cn = Jean Dupont , ou = people + l = x , dc=x ") == (
        (("cn", "Jean Dupont"),),
        (("ou", "people"), ("l", "x")),
        (("dc", "x"),),
    )


def test_parse_server_style_hex_escapes() -> None:
    """Hex-pair escapes of every special character give back the exact value."""
    dn = "cn=\\20#x\\2Cy\\2Bz*)(uid\\3D*\\5C \\22\\3C\\3E\\3B\\3D\\20,ou=people,dc=ecampus,dc=test"
    assert parse_dn(dn)[0] == (("cn", ' #x,y+z*)(uid=*\\ "<>;= '),)


@pytest.mark.parametrize(
    "dn", ["cn=\\c3\\a9t\\c3\\a9", "cn=\\C3\\A9t\\C3\\A9", "cn=été"], ids=["lower", "upper", "raw"]
)
def test_parse_utf8_hex_escapes(dn: str) -> None:
    """Multi-byte UTF-8 written as hex pairs decodes to the character."""
    assert parse_dn(dn) == ((("cn", "été"),),)


def test_parse_escaped_trailing_space_is_kept() -> None:
    """An escaped trailing space is part of the value, unescaped ones around it are not."""
    assert parse_dn("cn=a \\  ,dc=x")[0] == (("cn", "a  "),)


def test_parse_escaped_comma_stays_in_value() -> None:
    """An escaped ',' does not split the DN."""
    assert parse_dn("cn=Smith\\, John,dc=x") == ((("cn", "Smith, John"),), (("dc", "x"),))


def test_parse_empty_value() -> None:
    """An attribute may have an empty value."""
    assert parse_dn("cn=,dc=x") == ((("cn", ""),), (("dc", "x"),))


@pytest.mark.parametrize(
    ("dn", "position", "detail"),
    [
        ("cn", 0, "missing '='"),
        ("cn=a,ou", 5, "missing '='"),
        ("cn=a,", 5, "missing '='"),
        ("cn=a\\", 4, "dangling"),
        ("cn=\\zz", 3, "invalid escape"),
        ("cn=\\4g", 3, "invalid escape"),
        ("cn=\\a", 3, "invalid escape"),
        ('cn=a"b', 4, "unescaped"),
        ("cn=a<b", 4, "unescaped"),
        ("cn=a;b", 4, "unescaped"),
        ("cn=a\x00b", 4, "unescaped"),
        ("cn=#04024869", 3, "BER"),
        ("cn= #04024869", 4, "BER"),
        ("cn=\\ff", 6, "UTF-8"),
        ("cn=\\c3", 6, "UTF-8"),
        ("c n=a", 0, "attribute type"),
        ("=a", 0, "attribute type"),
        ("cn=a,,dc=x", 5, "attribute type"),
    ],
    ids=[
        "no-equals",
        "no-equals-second-rdn",
        "trailing-comma",
        "dangling-backslash",
        "bad-escape",
        "half-hex-escape",
        "hex-digit-at-end",
        "unescaped-quote",
        "unescaped-angle",
        "unescaped-semicolon",
        "unescaped-nul",
        "ber-value",
        "ber-value-after-space",
        "invalid-utf8-byte",
        "truncated-utf8",
        "space-in-type",
        "empty-type",
        "empty-rdn",
    ],
)
def test_parse_invalid_dn(dn: str, position: int, detail: str) -> None:
    """An invalid DN raises InvalidDnError naming the DN and the failing position."""
    with pytest.raises(InvalidDnError, match=detail) as info:
        parse_dn(dn)
    assert info.value.position == position
    assert info.value.dn == dn
    assert f"at position {position}" in str(info.value)


def test_parse_lone_surrogate_raises_invalid_dn() -> None:
    """A string with a lone surrogate is not a DN, and says so with InvalidDnError."""
    with pytest.raises(InvalidDnError):
        parse_dn("cn=\ud800,dc=x")


def test_parse_rejects_attribute_type_with_trailing_newline() -> None:
    """A newline after the attribute type is not tolerated like a space."""
    with pytest.raises(InvalidDnError):
        parse_dn("cn\n=a,dc=x")


# -- properties ----------------------------------------------------------------------------


@PROPERTY
@given(st.text())
def test_build_then_parse_round_trips_any_value(value: str) -> None:
    """Any value put in a DN with build_dn comes back unchanged from parse_dn."""
    assert parse_dn(build_dn("cn", value, "ou=people,dc=x"))[0] == (("cn", value),)


@PROPERTY
@given(dn_like_text)
def test_build_then_parse_round_trips_dn_like_value(value: str) -> None:
    """Values made of DN syntax characters come back unchanged too."""
    dn = build_dn("cn", value, PEOPLE)
    assert parse_dn(dn) == ((("cn", value),), *parse_dn(PEOPLE))


@PROPERTY
@given(st.lists(rdns, max_size=4).map(tuple))
def test_format_then_parse_round_trips(parsed: tuple[tuple[tuple[str, str], ...], ...]) -> None:
    """format_dn is the inverse of parse_dn for any RDN structure."""
    assert parse_dn(format_dn(parsed)) == parsed


@PROPERTY
@given(st.one_of(any_text, dn_fragments))
def test_parse_format_parse_is_stable(text: str) -> None:
    """Reformatting a parsed DN and parsing it again gives the same RDNs."""
    try:
        parsed = parse_dn(text)
    except InvalidDnError:
        return  # invalid input: covered by test_parse_only_raises_invalid_dn_error
    assert parse_dn(format_dn(parsed)) == parsed


@PROPERTY
@given(st.one_of(any_text, dn_fragments))
def test_parse_only_raises_invalid_dn_error(text: str) -> None:
    """Arbitrary text either parses or raises InvalidDnError with a position inside it."""
    try:
        parse_dn(text)
    except InvalidDnError as exc:
        error: InvalidDnError | None = exc
    else:
        error = None
    if error is not None:
        assert 0 <= error.position <= len(text)
        assert error.dn == text


@PROPERTY
@given(st.text())
def test_normalize_ignores_case(value: str) -> None:
    """Two DNs differing only in letter case normalise to the same string."""
    assume(value.upper().casefold() == value.casefold())
    lower = build_dn("cn", value, "ou=people,dc=ecampus,dc=test")
    upper = build_dn("CN", value.upper(), "OU=People,DC=ECAMPUS,DC=Test")
    assert normalize_dn(lower) == normalize_dn(upper)


@PROPERTY
@given(st.text(), st.text())
def test_normalize_distinguishes_different_values(first: str, second: str) -> None:
    """Values that differ beyond case give different normalised DNs."""
    assume(first.casefold() != second.casefold())
    assert normalize_dn(build_dn("cn", first, PEOPLE)) != normalize_dn(
        build_dn("cn", second, PEOPLE)
    )


# -- comparison ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("CN=Jean Dupont,OU=People,DC=Ecampus", "cn=jean dupont,ou=people,dc=ecampus"),
        ("cn=a , dc=x", "cn=a,dc=x"),
        ("cn=a+sn=b,dc=x", "sn=B+CN=A,dc=x"),
        ("cn=\\c3\\a9t\\c3\\a9,dc=x", "cn=ÉTÉ,dc=x"),
        ("cn=\\41,dc=x", "cn=a,dc=x"),
        ("cn=Stra\\c3\\9fe,dc=x", "cn=STRASSE,dc=x"),
    ],
    ids=["case", "spaces", "multi-valued-order", "hex-vs-literal", "ascii-hex", "casefold-sharp-s"],
)
def test_normalize_equal(first: str, second: str) -> None:
    """Spellings of the same DN normalise to the same string."""
    assert normalize_dn(first) == normalize_dn(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("cn=a\\,ou=b,dc=x", "cn=a,ou=b,dc=x"),
        ("cn=a\\+sn=b,dc=x", "cn=a+sn=b,dc=x"),
        ("cn=a,dc=x", "uid=a,dc=x"),
        ("cn=a\\ ,dc=x", "cn=a,dc=x"),
    ],
    ids=["escaped-comma", "escaped-plus", "attribute-type", "escaped-trailing-space"],
)
def test_normalize_different(first: str, second: str) -> None:
    """Different DNs keep different normal forms."""
    assert normalize_dn(first) != normalize_dn(second)


def test_dn_path_lists_canonical_rdns() -> None:
    """dn_path gives one canonical RDN string per level, most specific first."""
    assert dn_path("UID=Jean+CN=J\\, D,OU=People") == ("cn=j\\, d+uid=jean", "ou=people")


def test_normalize_invalid_dn_raises() -> None:
    """normalize_dn refuses an invalid DN."""
    with pytest.raises(InvalidDnError):
        normalize_dn("not a dn")


@pytest.mark.parametrize(
    ("dn", "base", "within"),
    [
        ("ou=people,dc=x", "ou=people,dc=x", True),
        ("uid=a,ou=people,dc=x", "ou=people,dc=x", True),
        ("uid=a,ou=sub,ou=people,dc=x", "ou=people,dc=x", True),
        ("UID=A,OU=People,DC=X", "ou=people,dc=x", True),
        ("uid=a , ou=people , dc=x", "ou=people,dc=x", True),
        ("uid=a,dc=x", "", True),
        ("", "", True),
        ("uid=a,ou=groups,dc=x", "ou=people,dc=x", False),
        ("ou=people,dc=x", "uid=a,ou=people,dc=x", False),
        ("cn=a\\,ou=people,dc=x", "ou=people,dc=x", False),
        ("uid=a,ou=people2,dc=x", "ou=people,dc=x", False),
        ("uid=a,xou=people,dc=x", "ou=people,dc=x", False),
        ("uid=a,ou=people,dc=y", "ou=people,dc=x", False),
        ("dc=x", "ou=people,dc=x", False),
        ("", "dc=x", False),
    ],
    ids=[
        "same",
        "child",
        "grandchild",
        "case",
        "spaces",
        "root-base",
        "root-in-root",
        "sibling",
        "parent",
        "escaped-comma-in-value",
        "string-prefix",
        "string-suffix-of-type",
        "other-suffix",
        "shorter",
        "root-not-in-entry",
    ],
)
def test_dn_is_within(dn: str, base: str, within: bool) -> None:
    """dn_is_within compares whole RDNs from the root, ignoring case."""
    assert dn_is_within(dn, base) is within


def test_dn_is_within_invalid_raises() -> None:
    """dn_is_within refuses an invalid DN instead of answering."""
    with pytest.raises(InvalidDnError):
        dn_is_within("uid=a,ou=people,dc=x", "ou=people,dc=x\\")


@PROPERTY
@given(st.text(), st.text())
def test_built_dn_is_within_its_parent(value: str, other: str) -> None:
    """An entry built under a parent is within it, whatever its value."""
    parent = build_dn("ou", other, "dc=ecampus,dc=test")
    assert dn_is_within(build_dn("uid", value, parent), parent)


# -- parent and RDN value ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dn", "parent"),
    [
        ("uid=a,ou=people,dc=x", "ou=people,dc=x"),
        ("dc=x", ""),
        ("", ""),
        ("cn=a,ou=Smith\\2C J,dc=x", "ou=Smith\\, J,dc=x"),
        ("cn=a\\,b,dc=x", "dc=x"),
    ],
    ids=["entry", "top-level", "root", "parent-reescaped", "escaped-comma-in-rdn"],
)
def test_parent_dn(dn: str, parent: str) -> None:
    """parent_dn drops the first RDN and keeps the others' values exact."""
    assert parent_dn(dn) == parent


@pytest.mark.parametrize(
    ("dn", "attribute", "value"),
    [
        ("uid=jean,ou=people,dc=x", None, "jean"),
        ("cn=Smith\\, John,dc=x", None, "Smith, John"),
        ("cn=Jean+uid=jd,dc=x", "uid", "jd"),
        ("cn=Jean+uid=jd,dc=x", "UID", "jd"),
        ("cn=Jean+uid=jd,dc=x", None, "Jean"),
    ],
    ids=["simple", "escaped", "multi-valued-by-type", "type-case", "multi-valued-first"],
)
def test_rdn_value(dn: str, attribute: str | None, value: str) -> None:
    """rdn_value returns the unescaped value of the first RDN."""
    assert rdn_value(dn, attribute) == value


@pytest.mark.parametrize(
    ("dn", "attribute"),
    [("", None), ("cn=a,uid=b,dc=x", "uid"), ("cn=a\\", None)],
    ids=["root-dse", "attribute-only-in-parent", "invalid"],
)
def test_rdn_value_errors(dn: str, attribute: str | None) -> None:
    """rdn_value raises InvalidDnError when there is no such first-RDN value."""
    with pytest.raises(InvalidDnError):
        rdn_value(dn, attribute)


_DN_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["cn", "OU", "uid", "dc"]), _DN_TEXT), min_size=1, max_size=4
    )
)
def test_fast_and_parsed_canonical_forms_agree(parts: list[tuple[str, str]]) -> None:
    """The fast path of dn_path gives exactly what the full parser gives."""
    dn = ",".join(f"{kind}={escape_rdn_value(value)}" for kind, value in parts)
    for text in (dn, dn.replace(",", " , ")):
        try:
            expected = tuple(
                "+".join(sorted(f"{k.lower()}={escape_rdn_value(v.casefold())}" for k, v in one))
                for one in parse_dn(text)
            )
        except InvalidDnError:
            continue
        assert dn_path(text) == expected
