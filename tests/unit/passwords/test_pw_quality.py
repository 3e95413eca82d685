"""Unit tests of the rules for chosen passwords and of the directory-refusal messages."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ecampus_idm.errors import ConstraintViolationError
from ecampus_idm.passwords import (
    DirectoryPolicy,
    PasswordRejectedError,
    QualitySettings,
    check_user_password,
)
from ecampus_idm.passwords.hashing import hash_ldap_password
from ecampus_idm.passwords.quality import common_passwords, translate_directory_refusal

GOOD = "lampadaire-violet-sous-la-pluie"


def codes(password: str, **kwargs: object) -> tuple[str, ...]:
    return check_user_password(SecretStr(password), **kwargs).codes  # type: ignore[arg-type]


def test_long_password_without_context_passes() -> None:
    """A long, uncommon passphrase meets every rule."""
    assert codes(GOOD) == ()


def test_default_floor_is_15() -> None:
    """Fourteen characters are refused, fifteen accepted."""
    assert codes("abcdefghijklmn") == ("quality.too_short",)
    assert codes("chaussette-bleu") == ()


def test_no_composition_rule() -> None:
    """Lower-case letters only are fine when long enough."""
    assert codes("toutenminusculesetlong") == ()


def test_ceiling_is_128() -> None:
    """Passwords over 128 characters are refused with the limit named."""
    result = check_user_password(SecretStr("x" * 129))
    assert result.codes == ("quality.too_long",)
    assert "128" in result.message_fr


def test_population_has_its_own_floor() -> None:
    """A population may have a higher floor."""
    settings = QualitySettings(min_length_by_population={"Staff": 20})
    assert codes("a-longish-passphrase", settings=settings, population="staff") == ()
    assert codes("a-long-passphrase19", settings=settings, population="staff") == (
        "quality.too_short",
    )


def test_shipped_blocklist_refuses_common_passwords() -> None:
    """A long password from the shipped list is refused, whatever its case."""
    assert codes("1QAZ2WSX3EDC4RFV") == ("quality.blocklisted",)
    assert codes("123456789qwerty") == ("quality.blocklisted",)


def test_blocklist_is_a_sizable_list() -> None:
    """The package data holds thousands of passwords."""
    assert len(common_passwords()) > 10_000


def test_extra_blocklist_applies() -> None:
    """Configured words are refused too."""
    settings = QualitySettings(extra_blocklist=frozenset({"Condorcet-Tournai-2026"}))
    assert codes("condorcet-tournai-2026", settings=settings) == ("quality.blocklisted",)


@pytest.mark.parametrize(
    ("password", "kwargs"),
    [
        ("mon-login-jdupont2-secret", {"username": "jdupont2"}),
        ("vive-les-dupont-de-tournai", {"names": ("Jean Dupont",)}),
        ("jose-est-dans-la-place", {"names": ("José Martin",)}),
    ],
    ids=["username", "family-name", "transliterated"],
)
def test_personal_context_is_refused(password: str, kwargs: dict[str, object]) -> None:
    """The username and the person's names may not appear."""
    assert codes(password, **kwargs) == ("quality.personal",)


def test_school_names_and_ecampus_are_refused() -> None:
    """School names and 'ecampus' are context words."""
    assert codes("mon-ecampus-prefere-a-moi") == ("quality.context",)
    assert codes("condorcet-pour-toujours", schools=("Haute-Ecole Condorcet",)) == (
        "quality.context",
    )


def test_directory_minimum_is_mirrored() -> None:
    """A directory floor above ours applies, with its number in the message."""
    result = check_user_password(SecretStr(GOOD), policy=DirectoryPolicy(min_length=40))
    assert result.codes == ("quality.too_short",)
    assert "40" in result.message_fr


def test_directory_history_is_mirrored() -> None:
    """A password in the directory's history is refused when history is on."""
    history = (hash_ldap_password(SecretStr(GOOD)),)
    policy = DirectoryPolicy(in_history=5)
    assert codes(GOOD, policy=policy, history=history) == ("quality.reused",)
    assert codes(GOOD, history=history) == ()


def test_messages_are_french_then_english() -> None:
    """Every problem has a French and an English message."""
    result = check_user_password(SecretStr("court"))
    assert result.message_fr.startswith("Le mot de passe doit compter au moins 15")
    assert result.message_en.startswith("The password must be at least 15")


def test_result_raises_with_its_problems() -> None:
    """A rejected result raises PasswordRejectedError carrying the problems."""
    with pytest.raises(PasswordRejectedError) as caught:
        check_user_password(SecretStr("court")).raise_if_rejected()
    assert [p.code for p in caught.value.problems] == ["quality.too_short"]


def test_problems_never_carry_the_password() -> None:
    """No message or repr contains the candidate."""
    candidate = "Jdupont2-ecampus"
    result = check_user_password(SecretStr(candidate), username="jdupont2")
    assert candidate not in repr(result) + result.message_fr + result.message_en


@pytest.mark.parametrize(
    ("detail", "code"),
    [
        ("Password fails quality checking policy", "directory.quality"),
        ("Password is in history of old passwords", "directory.reused"),
        ("Password is too young to change", "directory.too_soon"),
        ("something else", "directory.refused"),
    ],
)
def test_directory_refusals_get_clear_messages(detail: str, code: str) -> None:
    """ppolicy's texts become a bilingual explanation."""
    rejection = translate_directory_refusal(ConstraintViolationError("uid=x", detail))
    assert [p.code for p in rejection.problems] == [code]
    assert rejection.message_fr


def test_ad_complexity_is_mirrored_only_when_asked() -> None:
    """With AD as the directory, its three-kinds rule is mirrored; otherwise no composition."""
    settings = QualitySettings(ad_complexity=True)
    assert codes("toutenminusculesetlong", settings=settings) == ("quality.ad_complexity",)
    assert codes("Toutenminusculesetlong-2", settings=settings) == ()
    assert codes("toutenminusculesetlong") == ()


def test_ad_refusal_gets_a_clear_message() -> None:
    """AD's check_password_restrictions refusal is explained."""
    error = ConstraintViolationError("cn=x", "0000052D: Constraint violation - check_password")
    assert [p.code for p in translate_directory_refusal(error).problems] == ["directory.ad_policy"]
