"""The [mail] settings: embedded defaults, clear refusals."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from ecampus_idm.crypto import generate_key
from ecampus_idm.mail.settings import DkimSettings, MailSettings


def test_defaults_are_the_embedded_maildir() -> None:
    """Without a [mail] section, mails go to a local maildir, in French, passwords mode."""
    settings = MailSettings()
    assert (settings.transport, str(settings.maildir), settings.language, settings.mode) == (
        "maildir",
        "mail-out",
        "fr",
        "password",
    )


def test_bad_key_is_refused_without_echo() -> None:
    """A mail key that is not 32 bytes of base64 is refused; the error does not quote it."""
    with pytest.raises(ValidationError, match="32 random bytes") as caught:
        MailSettings(keys=(SecretStr("not-a-key-Canary"),))
    assert "Canary" not in str(caught.value)


def test_good_keys_are_accepted() -> None:
    """Two keys (rotation) are accepted."""
    assert len(MailSettings(keys=(SecretStr(generate_key()), SecretStr(generate_key()))).keys) == 2


def test_unknown_population_is_refused() -> None:
    """Populations are the roles (staff: function not encoded)."""
    with pytest.raises(ValidationError, match="student, teacher, administrative or staff"):
        MailSettings.model_validate({"populations": {"parents": {"language": "nl"}}})


def test_dkim_needs_exactly_one_key_source() -> None:
    """A DKIM key comes from a file or a secret, not both, not neither."""
    with pytest.raises(ValidationError, match="exactly one"):
        DkimSettings(domain="condorcet.be", selector="s1")
