"""AD helpers without a server: unicodePwd, FILETIME, UAC flags and AD error sub-codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from ecampus_idm.directory.active_directory import (
    NEVER_EXPIRES,
    UAC_DISABLED,
    UAC_ENABLED,
    AccountDisabledError,
    AccountExpiredError,
    AccountLockedError,
    PasswordExpiredError,
    PasswordMustChangeError,
    PasswordRefusedError,
    Uac,
    ad_subcode,
    bind_error,
    check_uac,
    encode_unicode_pwd,
    from_filetime,
    password_error,
    to_filetime,
    wrong_old_password,
)
from ecampus_idm.errors import ConstraintViolationError, InvalidCredentialsError

DN = "CN=jean.dupont,OU=people,DC=ecampus,DC=test"
BIND = "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {}, v1db1"


def test_unicode_pwd_is_quoted_utf16le() -> None:
    """unicodePwd is the password in double quotes, UTF-16-LE, accents included."""
    assert encode_unicode_pwd(SecretStr("Pâques-2026")) == '"Pâques-2026"'.encode("utf-16-le")


def test_empty_unicode_pwd_is_refused() -> None:
    """An empty password is refused before it reaches AD."""
    with pytest.raises(ValueError, match="vide"):
        encode_unicode_pwd(SecretStr(""))


def test_uac_values_are_512_and_514() -> None:
    """Enabled is a normal account (512); disabled adds ACCOUNTDISABLE (514)."""
    assert (UAC_ENABLED, UAC_DISABLED) == (512, 514)
    assert UAC_DISABLED & Uac.ACCOUNTDISABLE


def test_password_never_expires_is_refused() -> None:
    """DONT_EXPIRE_PASSWORD would defeat pwdLastSet=0: the library never writes it."""
    assert check_uac(UAC_ENABLED) == UAC_ENABLED
    with pytest.raises(ValueError, match="DONT_EXPIRE_PASSWORD"):
        check_uac(UAC_ENABLED | Uac.DONT_EXPIRE_PASSWORD)


def test_filetime_of_a_known_moment() -> None:
    """1 January 1970 UTC is 116444736000000000 ticks after 1601."""
    assert to_filetime(datetime(1970, 1, 1, tzinfo=UTC)) == 116_444_736_000_000_000


@given(st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(9000, 1, 1)))
def test_filetime_round_trips_to_the_microsecond(moment: datetime) -> None:
    """A FILETIME converts back to the same instant."""
    aware = moment.replace(tzinfo=UTC)
    assert from_filetime(to_filetime(aware)) == aware


def test_filetime_follows_the_offset() -> None:
    """Midnight in Brussels (UTC+1 in winter) is 23:00 UTC the day before."""
    brussels = datetime(2027, 1, 10, tzinfo=timezone(timedelta(hours=1)))
    assert from_filetime(to_filetime(brussels)) == datetime(2027, 1, 9, 23, tzinfo=UTC)


def test_filetime_refuses_naive_datetimes() -> None:
    """A naive datetime has no defined FILETIME."""
    with pytest.raises(ValueError, match="aware"):
        to_filetime(datetime(2026, 1, 1))


@pytest.mark.parametrize("value", [0, NEVER_EXPIRES, "0", str(NEVER_EXPIRES)])
def test_never_is_none(value: int | str) -> None:
    """0 and 0x7FFFFFFFFFFFFFFF both mean "never"."""
    assert from_filetime(value) is None


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (BIND.format("773"), "773"),
        (BIND.format("52e"), "52e"),
        ("0000052D: Constraint violation - check_password_restrictions: too short", "52d"),
        ("00000056: Constraint violation - The old password specified doesn't match!", "56"),
        ("no code at all", None),
    ],
)
def test_subcode_is_read_from_the_diagnostic(message: str, code: str | None) -> None:
    """The AD sub-code comes from "data XXX" or a leading 8-digit code."""
    assert ad_subcode(message) == code


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("773", PasswordMustChangeError),
        ("533", AccountDisabledError),
        ("532", PasswordExpiredError),
        ("701", AccountExpiredError),
        ("775", AccountLockedError),
    ],
)
def test_bind_subcodes_give_typed_errors(code: str, error: type[Exception]) -> None:
    """Each bind sub-code has its own InvalidCredentialsError subclass, French first."""
    raised = bind_error(DN, BIND.format(code))
    assert type(raised) is error
    assert isinstance(raised, InvalidCredentialsError)
    assert str(raised).startswith(raised.message_fr)  # type: ignore[attr-defined]
    assert f"(AD {code})" in str(raised)


def test_wrong_password_stays_plain_invalid_credentials() -> None:
    """52e (wrong password) is an ordinary InvalidCredentialsError."""
    assert type(bind_error(DN, BIND.format("52e"))) is InvalidCredentialsError


def test_constraint_52d_is_a_password_refusal() -> None:
    """0000052D on a password change is a PasswordRefusedError with a French reason."""
    error = password_error(DN, "0000052D: Constraint violation - too short")
    assert isinstance(error, PasswordRefusedError)
    assert error.message_fr.startswith("le nouveau mot de passe")
    assert "mot de passe refusé" in str(error)


def test_other_constraints_stay_generic() -> None:
    """A constraint violation without 52D keeps the generic class and detail."""
    error = password_error(DN, "0000200D: SINGLE-VALUE attribute")
    assert type(error) is ConstraintViolationError
    assert "SINGLE-VALUE" in str(error)


def test_wrong_old_password_is_recognised() -> None:
    """AD reports a wrong old password as constraint 00000056."""
    assert wrong_old_password("00000056: Constraint violation - old password doesn't match")
    assert not wrong_old_password("0000052D: Constraint violation")
