"""The guard that keeps passwords, tokens and national numbers out of the store."""

from __future__ import annotations

import pytest
from pydantic import SecretBytes, SecretStr
from stdnum.be import bis

from ecampus_idm.store._sensitive import check_data, check_text
from ecampus_idm.store.errors import SensitiveDataError

NISS = "85073003328"  # valid check digits
BIS = "85473003317"  # month + 40: a BIS number, valid check digits


@pytest.mark.parametrize(
    "text",
    [
        NISS,
        "85.07.30-033.28",
        "85 07 30 033 28",
        f"le numéro {NISS} figure",
        f"{BIS}",
    ],
    ids=["plain", "dotted", "spaced", "inside-text", "bis"],
)
def test_national_numbers_are_refused(text: str) -> None:
    """Texts holding a valid national or BIS number are refused."""
    with pytest.raises(SensitiveDataError) as caught:
        check_text("reason_fr", text)
    assert caught.value.field == "reason_fr"
    assert caught.value.what == "a national number"


@pytest.mark.parametrize(
    "text",
    [
        "85073003329",  # wrong check digits
        "850730033281",  # twelve digits: not a national number
        "matricule 2026-00042",
        "0470 12 34 56",
        "",
    ],
    ids=["bad-check", "twelve-digits", "matricule", "phone", "empty"],
)
def test_other_numbers_pass(text: str) -> None:
    """Numbers that are not valid national numbers are left alone."""
    check_text("reason_fr", text)


def test_bis_fixture_is_a_valid_bis_number() -> None:
    """The BIS number used above really validates (else the test above proves nothing)."""
    assert bis.is_valid(BIS)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"password": "x"}, "data.password"),
        ({"InitialPassword": "x"}, "data.InitialPassword"),
        ({"reset-token": "x"}, "data.reset-token"),
        ({"client_secret": "x"}, "data.client_secret"),
        ({"NISS": "x"}, "data.NISS"),
        ({"rrn": "x"}, "data.rrn"),
        ({"mail": {"token": ["x"]}}, "data.mail.token"),
        ({"list": [{"pwd": "x"}]}, "data.list[0].pwd"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_text_under_a_secret_name_is_refused(data: dict[str, object], path: str) -> None:
    """Text under a key that names a secret is refused, with its path."""
    with pytest.raises(SensitiveDataError) as caught:
        check_data("data", data)
    assert caught.value.field == path


@pytest.mark.parametrize(
    "secret", [SecretStr("x"), SecretBytes(b"x")], ids=["secretstr", "secretbytes"]
)
def test_secret_values_are_refused_anywhere(secret: object) -> None:
    """A pydantic secret is refused whatever its key."""
    with pytest.raises(SensitiveDataError, match=r"a secret in data\.note\[0\]"):
        check_data("data", {"note": [secret]})


@pytest.mark.parametrize("value", [True, False, 3, None], ids=["true", "false", "count", "none"])
def test_flags_and_counts_under_secret_names_pass(value: object) -> None:
    """A flag or a count about a secret is not a secret."""
    check_data("data", {"password_changed": value, "tokens_revoked": value})


def test_national_number_as_a_key_is_refused() -> None:
    """A national number used as a key is refused too."""
    with pytest.raises(SensitiveDataError):
        check_data("data", {NISS: "x"})


def test_message_never_contains_the_value() -> None:
    """The error names the field, never the refused value."""
    with pytest.raises(SensitiveDataError) as caught:
        check_data("data", {"password": "Canary-Value-77"})
    assert "Canary-Value-77" not in str(caught.value)
    assert "data.password" in str(caught.value)
