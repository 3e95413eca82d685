"""Unit tests of LDAP password hashing ({SSHA512} and the salted SHA family)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ecampus_idm.passwords.hashing import hash_ldap_password, verify_ldap_password

PASSWORD = SecretStr("Corr3ct-Horse-Battery")


def ssha(password: str, salt: bytes, algorithm: str, prefix: str) -> str:
    """Build a salted-SHA LDAP value by hand (RFC 2307 style), as another server would."""
    digest = hashlib.new(algorithm, password.encode("utf-8") + salt).digest()
    return prefix + base64.b64encode(digest + salt).decode("ascii")


def test_hash_is_ssha512() -> None:
    """Hashes are written in the {SSHA512} scheme."""
    assert hash_ldap_password(PASSWORD).startswith("{SSHA512}")


def test_hash_layout_is_sha512_of_password_and_salt() -> None:
    """The value is base64(SHA-512(password + salt) + salt), which slapd's pw-sha2 verifies."""
    raw = base64.b64decode(hash_ldap_password(PASSWORD).removeprefix("{SSHA512}"))
    digest, salt = raw[:64], raw[64:]
    assert salt
    assert hashlib.sha512(PASSWORD.get_secret_value().encode() + salt).digest() == digest


def test_hash_does_not_contain_the_password() -> None:
    """The stored value does not contain the password in clear."""
    assert PASSWORD.get_secret_value() not in hash_ldap_password(PASSWORD)


def test_hash_verifies() -> None:
    """A hash verifies against the password it was made from."""
    assert verify_ldap_password(PASSWORD, hash_ldap_password(PASSWORD))


@pytest.mark.parametrize(
    "wrong",
    ["corr3ct-horse-battery", "Corr3ct-Horse-Battery ", "Corr3ct-Horse-Batter", ""],
    ids=["case", "trailing-space", "prefix", "empty"],
)
def test_wrong_password_does_not_verify(wrong: str) -> None:
    """Any other password is refused."""
    assert not verify_ldap_password(SecretStr(wrong), hash_ldap_password(PASSWORD))


def test_hashes_are_salted() -> None:
    """Two hashes of the same password differ, and both verify."""
    first, second = hash_ldap_password(PASSWORD), hash_ldap_password(PASSWORD)
    assert first != second
    assert verify_ldap_password(PASSWORD, first)
    assert verify_ldap_password(PASSWORD, second)


@pytest.mark.parametrize(
    ("algorithm", "prefix"),
    [("sha512", "{SSHA512}"), ("sha256", "{SSHA256}"), ("sha1", "{SSHA}")],
    ids=["ssha512", "ssha256", "ssha"],
)
def test_verifies_values_hashed_elsewhere(algorithm: str, prefix: str) -> None:
    """Salted-SHA values written by another tool (e.g. slappasswd) verify."""
    stored = ssha("pässwörd", b"\x01\x02\x03\x04\x05\x06\x07\x08", algorithm, prefix)
    assert verify_ldap_password(SecretStr("pässwörd"), stored)
    assert not verify_ldap_password(SecretStr("passwörd"), stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "Corr3ct-Horse-Battery",
        "{SSHA512}",
        "{SSHA512}!!!not-base64!!!",
        "{SSHA512}AAAA",
        "{SSHA512}é",
        "{MD5}ICy5YqxZB1uWSwcVLSNLcA==",
        "{CLEARTEXT}Corr3ct-Horse-Battery",
        "{CRYPT}$6$salt$hash",
    ],
    ids=[
        "empty",
        "plain-text",
        "prefix-only",
        "not-base64",
        "too-short",
        "non-ascii",
        "unsalted-md5",
        "cleartext",
        "crypt",
    ],
)
def test_malformed_or_unknown_stored_value_is_false(stored: str) -> None:
    """A malformed or unsupported stored value never matches, and never raises."""
    assert verify_ldap_password(PASSWORD, stored) is False


@settings(deadline=None)
@given(st.text(), st.sampled_from(["", "{SSHA512}", "{SSHA256}", "{SSHA}", "{ssha512}"]))
def test_verify_never_raises(suffix: str, prefix: str) -> None:
    """Whatever the stored text, verification answers True or False."""
    assert isinstance(verify_ldap_password(PASSWORD, prefix + suffix), bool)


@settings(deadline=None, max_examples=25)
@given(st.text(min_size=1, max_size=64))
def test_any_password_round_trips(password: str) -> None:
    """Any password, non-ASCII included, verifies against its own hash."""
    assert verify_ldap_password(SecretStr(password), hash_ldap_password(SecretStr(password)))
