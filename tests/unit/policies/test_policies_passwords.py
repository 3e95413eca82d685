"""Initial passwords and the quality rules they pass (NIST SP 800-63B rev. 4, AD complexity)."""

from __future__ import annotations

import math
import random
import re
import secrets

import pytest
from pydantic import SecretStr

from ecampus_idm.errors import IdmError
from ecampus_idm.policies import (
    InitialPasswordError,
    InitialPasswordGenerator,
    InitialPasswordSettings,
    PasswordQualitySettings,
    check_password,
)
from ecampus_idm.policies.initial_password import RandomBelow

QUALITY = PasswordQualitySettings()
SHAPE = InitialPasswordSettings()
SYLLABLE = "[bdfghjkmnprstvz][aeiou]"
DEFAULT_SHAPE = re.compile(rf"({SYLLABLE}){{3}}(-({SYLLABLE}){{3}}){{3}}-[2-9]{{2}}")
SPACE = 75**12 * 8**2


def codes(password: str, settings: PasswordQualitySettings = QUALITY, **context: str) -> str:
    """Return the codes of the rules ``password`` breaks (``quality.ok`` when none)."""
    return check_password(SecretStr(password), settings, **context).reason.code


def generator(
    randbelow: RandomBelow = secrets.randbelow, max_attempts: int = 100
) -> InitialPasswordGenerator:
    return InitialPasswordGenerator(SHAPE, QUALITY, randbelow=randbelow, max_attempts=max_attempts)


# -- quality rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Correct-horse-battery-9", "quality.ok"),
        ("Ab1-", "quality.too_short"),
        ("a" * 129, "quality.too_long+quality.complexity"),
        ("abcdefghijklmnopq", "quality.complexity"),
        ("abcdefghijklmnop-7", "quality.ok"),
        ("Éléphant-rose-jaune", "quality.ok"),
        ("ΑΒΓΔ-αβγδ-εζηθ-ικλμ", "quality.ok"),
        ("日本語のパスワード-です-長い-です", "quality.complexity"),
        ("١٢٣٤٥٦٧٨٩٠١٢٣٤٥abc", "quality.complexity"),
    ],
    ids=[
        "ok",
        "short",
        "long",
        "one-class",
        "lower-digit-other",
        "accented",
        "greek",
        "no-case-script",
        "non-ascii-digits",
    ],
)
def test_quality_rules(password: str, expected: str) -> None:
    """Length floor 15, ceiling 128, three character classes (AD)."""
    assert codes(password) == expected


def test_complexity_can_be_turned_off() -> None:
    """Without Active Directory, NIST's length rule alone applies (no composition rule)."""
    assert codes("onlylowercaseletters", PasswordQualitySettings(ad_complexity=False)) == (
        "quality.ok"
    )


def test_blocklisted_password_is_refused_whatever_the_case() -> None:
    """A password on the blocklist is refused, compared without case."""
    settings = PasswordQualitySettings(blocklist=frozenset({"motdepasse-2024!"}))
    assert codes("MotDePasse-2024!", settings) == "quality.blocklisted"


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("my-jean.dupont-is-42", {"username": "jean.dupont"}),
        ("dupont-garden-shed-77", {"username": "jean.dupont"}),
        ("Loewe-garden-shed-77", {"display_name": "Élodie Lœwe"}),
        ("ÉLODIE-garden-shed-77", {"display_name": "Élodie Lœwe"}),
    ],
    ids=["username", "username-part", "transliterated-name", "accented-name"],
)
def test_username_and_names_are_refused_in_passwords(
    password: str, context: dict[str, str]
) -> None:
    """The username, its parts and parts of the name (3+ letters) may not appear."""
    assert codes(password, **context) == "quality.context"


def test_short_name_parts_are_allowed() -> None:
    """Name parts shorter than three characters do not count (Active Directory's rule)."""
    assert codes("Xu-garden-shed-77", display_name="Li Xu") == "quality.ok"


def test_every_broken_rule_is_named() -> None:
    """A password breaking several rules is told about each, in French and English."""
    decision = check_password(SecretStr("jean"), QUALITY, username="jean")
    assert decision.reason.code == "quality.too_short+quality.context+quality.complexity"
    assert decision.reason.fr.count("Le mot de passe") == 3
    assert decision.reason.en.count("The password") == 3


def test_reasons_never_contain_the_password() -> None:
    """Neither the reason nor the serialised decision holds the password."""
    decision = check_password(SecretStr("s3cret-value"), QUALITY, username="x")
    assert "s3cret" not in decision.model_dump_json()


# -- the generator -------------------------------------------------------------------------


def test_password_has_the_readable_shape() -> None:
    """Four words of three syllables, then two digits, joined by hyphens."""
    password = generator().generate().get_secret_value()
    assert DEFAULT_SHAPE.fullmatch(password)


def test_alphabet_has_no_ambiguous_character() -> None:
    """0/O, 1/l/I and the like never appear, at either end of the random range."""
    for value in (0, SPACE - 1):
        password = generator(lambda _n, v=value: v).generate().get_secret_value()
        assert not set(password) & set("0O1lIi|cqwxy")


def test_draw_is_one_uniform_integer_over_every_password() -> None:
    """One draw below the number of passwords; its extremes are the first and last one."""
    bounds: list[int] = []

    def lowest(n: int) -> int:
        bounds.append(n)
        return 0

    assert generator(lowest).generate().get_secret_value() == "bababa-bababa-bababa-bababa-22"
    assert generator(lambda n: n - 1).generate().get_secret_value() == (
        "zuzuzu-zuzuzu-zuzuzu-zuzuzu-99"
    )
    assert bounds == [SPACE]


def test_entropy_is_at_least_80_bits() -> None:
    """The default shape is worth 80.7 bits: log2 of the number of passwords."""
    assert generator().entropy_bits == pytest.approx(math.log2(SPACE))
    assert generator().entropy_bits >= 80


def test_same_random_source_gives_the_same_password() -> None:
    """With an injected random source, generation is reproducible."""
    # A seeded, non-cryptographic source: reproducibility is what is tested here.
    first = generator(random.Random(7).randrange).generate().get_secret_value()  # noqa: S311
    again = generator(random.Random(7).randrange).generate().get_secret_value()  # noqa: S311
    assert first == again


def test_a_draw_containing_the_name_is_drawn_again() -> None:
    """A password containing part of the person's name is replaced by a new draw."""
    draws = iter([0, SPACE - 1])
    password = generator(lambda _n: next(draws)).generate(display_name="Bab Martin")
    assert password.get_secret_value().startswith("zuzuzu")


def test_broken_random_source_raises_without_the_password() -> None:
    """A source that only gives refused passwords fails with an IdmError, no password in it."""
    with pytest.raises(InitialPasswordError) as caught:
        generator(lambda _n: 0, max_attempts=3).generate(display_name="Bab")
    assert (caught.value.attempts, isinstance(caught.value, IdmError)) == (3, True)
    assert "baba" not in str(caught.value)


def test_password_leaves_only_as_a_secret() -> None:
    """The password's repr and str are masked; the generator's repr holds no password."""
    gen = generator(lambda _n: 0)
    password = gen.generate()
    assert isinstance(password, SecretStr)
    assert "baba" not in repr(password) + str(password) + repr(gen)
    assert "entropy_bits=80.7" in repr(gen)


def test_100000_passwords_are_unique_and_pass_the_quality_rules() -> None:
    """100,000 initial passwords: all different, all of the shape, all pass the rules."""
    gen = generator()
    context = {"username": "jean.dupont", "display_name": "Jean Dupont"}
    passwords = [gen.generate(**context) for _ in range(100_000)]
    values = [p.get_secret_value() for p in passwords]
    assert len(set(values)) == len(values)
    assert all(DEFAULT_SHAPE.fullmatch(v) for v in values)
    assert all(check_password(p, QUALITY, **context).allowed for p in passwords)
