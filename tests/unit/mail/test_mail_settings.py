"""The [mail] settings: embedded defaults, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from ecampus_idm.config import Settings, load_config
from ecampus_idm.crypto import generate_key
from ecampus_idm.errors import ConfigError
from ecampus_idm.mail.settings import DkimSettings, MailSettings, SmtpSettings
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.mail.transports import MaildirTransport
from ecampus_idm.mail.wiring import build_transport

SMTP_CANARY = "Smtp-Clear-Canary-Pw-58"


def test_defaults_name_no_transport() -> None:
    """Without a [mail] section: no transport chosen (never a maildir), French, passwords mode."""
    settings = MailSettings()
    assert (settings.transport, settings.language, settings.mode) == (None, "fr", "password")


def _settings(**mail: object) -> Settings:
    return Settings(
        directory={
            "url": "ldaps://ldap.ecampus.test",
            "bind_dn": "cn=idm,dc=ecampus,dc=test",
            "bind_password": "x",
            "base_dn": "dc=ecampus,dc=test",
        },
        mail=mail,
    )


def test_missing_transport_is_a_configuration_error_when_mail_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No [mail] transport: building the transport fails, naming the key, French first."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        build_transport(_settings())
    assert caught.value.key == "mail.transport"
    text = caught.value.expected
    assert text.index("aucun transport") < text.index("no mail transport")
    assert list(tmp_path.iterdir()) == []  # no ./mail-out


@pytest.mark.parametrize(
    ("transport", "kind"),
    [("maildir", MaildirTransport), ("smtp", SmtpTransport), ("none", type(None))],
    ids=["maildir", "smtp", "none"],
)
def test_a_chosen_transport_is_built(transport: str, kind: type[object]) -> None:
    """An explicit transport (maildir included) is still built as before."""
    assert isinstance(build_transport(_settings(transport=transport)), kind)


def test_flush_after_run_without_transport_is_refused_at_load(tmp_path: Path) -> None:
    """flush_after_run without a transport fails when the configuration is read, not at 3 a.m."""
    path = tmp_path / "ecampus-idm.toml"
    path.write_text(
        "[directory]\n"
        'url = "ldaps://ldap.ecampus.test"\n'
        'bind_dn = "cn=idm,dc=ecampus,dc=test"\n'
        'bind_password = "x"\n'
        'base_dn = "dc=ecampus,dc=test"\n'
        "[mail]\n"
        "flush_after_run = true\n",
        "utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "mail"
    assert "mail.transport" in caught.value.expected
    assert caught.value.expected.index("aucun transport") < caught.value.expected.index(
        "no mail transport"
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


@pytest.mark.parametrize(
    "login",
    [
        {"username": "ecampus", "password": SecretStr(SMTP_CANARY)},
        {"username": "ecampus"},
        {"password": SecretStr(SMTP_CANARY)},
    ],
    ids=["username-and-password", "username", "password"],
)
@pytest.mark.parametrize("host", ["smtp.condorcet.be", "192.0.2.25", "2001:db8::25"])
def test_login_without_tls_to_a_remote_host_is_refused(host: str, login: dict[str, object]) -> None:
    """security = "none" with a login to a remote host is refused, French first, naming keys."""
    with pytest.raises(ValidationError) as caught:
        SmtpSettings.model_validate({"host": host, "security": "none", **login})
    text = str(caught.value)
    assert text.index("en clair") < text.index("in clear")
    for name in ("security", "username", "password", "starttls", "ssl"):
        assert name in text
    assert SMTP_CANARY not in text


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.2", "::1"])
def test_login_without_tls_to_a_loopback_relay_is_accepted(host: str) -> None:
    """A relay on this machine may take the login without TLS (as plain LDAP on loopback)."""
    settings = SmtpSettings(
        host=host, security="none", username="ecampus", password=SecretStr(SMTP_CANARY)
    )
    assert settings.security == "none"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_login_with_tls_to_a_remote_host_is_accepted(security: str) -> None:
    """STARTTLS or SMTPS carry the login to a remote server."""
    settings = SmtpSettings.model_validate(
        {"host": "smtp.condorcet.be", "security": security, "username": "ecampus"}
    )
    assert settings.username == "ecampus"


def test_relay_without_login_and_without_tls_is_accepted() -> None:
    """A plain relay that asks for no login (port 25 inside the network) is accepted."""
    assert SmtpSettings(host="relay.condorcet.be", port=25, security="none").username is None


def test_login_in_clear_names_the_key_in_the_configuration(tmp_path: Path) -> None:
    """load_config reports mail.smtp with the reason, and never the password."""
    path = tmp_path / "ecampus-idm.toml"
    path.write_text(
        "[directory]\n"
        'url = "ldaps://ldap.ecampus.test"\n'
        'bind_dn = "cn=idm,dc=ecampus,dc=test"\n'
        'bind_password = "x"\n'
        'base_dn = "dc=ecampus,dc=test"\n'
        "[mail]\n"
        'transport = "smtp"\n'
        "[mail.smtp]\n"
        'host = "smtp.condorcet.be"\n'
        'security = "none"\n'
        'username = "ecampus"\n'
        f'password = "{SMTP_CANARY}"\n',
        "utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "mail.smtp"
    assert "en clair" in caught.value.expected
    assert SMTP_CANARY not in str(caught.value)
