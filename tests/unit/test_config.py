"""Unit tests of load_config: TOML file, environment overrides, errors and secrets."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from ecampus_idm.config import Settings, load_config
from ecampus_idm.errors import ConfigError
from ecampus_idm.model import Category, School

CANARY = "Canary-Bind-Pw-7731"
ENV_CANARY = "Env-Canary-Pw-4410"

DIRECTORY = f"""\
[directory]
url = "ldaps://ldap.ecampus.test"
bind_dn = "cn=ecampus-idm,ou=services,dc=ecampus,dc=test"
bind_password = "{CANARY}"
base_dn = "dc=ecampus,dc=test"
"""

FULL = f"""\
[institution]
name = "Haute-Ecole Condorcet"
mail_domain = "condorcet.be"
portal_url = "https://ecampus.condorcet.be/"
timezone = "Europe/Brussels"

{DIRECTORY}people_rdn = "ou=persons"
tls = "starttls"
timeout_seconds = 2.5
page_size = 100

[store]
url = "postgresql://idm@db/ecampus"
password = "Store-Canary-Pw-2208"

[[schools]]
code = "HEC-TOURNAI"
name = "Haute-Ecole Condorcet - Tournai"
category = "HE"

[[schools]]
code = "IPS-MONS"
name = "Institut de Promotion Sociale - Mons"
category = "PS"
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide any ECAMPUS_IDM_* variable of the calling shell (pydantic reads any case)."""
    for name in list(os.environ):
        if name.upper().startswith("ECAMPUS_IDM_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "ecampus-idm.toml") -> Path:
    """Write a configuration file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path | None) -> ConfigError:
    """Load ``path`` and return the ConfigError it must raise."""
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def full_text(err: BaseException) -> str:
    """Everything a log handler could print about an error: str, repr and the chain."""
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(err))])


# -- loading -------------------------------------------------------------------------------


def test_valid_file_loads(tmp_path: Path) -> None:
    """Every section of a valid file ends up in the typed settings."""
    settings = load_config(write(tmp_path, FULL))
    assert settings.institution.name == "Haute-Ecole Condorcet"
    assert settings.institution.mail_domain == "condorcet.be"
    assert settings.directory.url == "ldaps://ldap.ecampus.test"
    assert settings.directory.tls == "starttls"
    assert settings.directory.timeout_seconds == 2.5
    assert settings.directory.page_size == 100
    assert settings.directory.bind_password.get_secret_value() == CANARY
    assert settings.store.url == "postgresql://idm@db/ecampus"
    assert settings.schools == (
        School(code="HEC-TOURNAI", name="Haute-Ecole Condorcet - Tournai", category=Category.HE),
        School(code="IPS-MONS", name="Institut de Promotion Sociale - Mons", category=Category.PS),
    )


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    """Only [directory] is required; the rest has defaults."""
    settings = load_config(write(tmp_path, DIRECTORY))
    assert settings.institution.timezone == "Europe/Brussels"
    assert settings.directory.tls == "auto"
    assert settings.directory.ca_file is None
    assert settings.directory.people_dn == "ou=people,dc=ecampus,dc=test"
    assert settings.directory.groups_dn == "ou=groups,dc=ecampus,dc=test"
    assert settings.store.password is None
    assert settings.schools == ()


def test_school_lookup_ignores_case(tmp_path: Path) -> None:
    """Settings.school finds a configured school by code, in any case."""
    settings = load_config(write(tmp_path, FULL))
    found = settings.school("hec-tournai")
    assert found is not None
    assert found.code == "HEC-TOURNAI"
    assert settings.school("NOPE") is None


def test_settings_are_frozen(tmp_path: Path) -> None:
    """The loaded settings cannot be changed behind the caller's back."""
    settings = load_config(write(tmp_path, DIRECTORY))
    with pytest.raises(ValueError, match="frozen"):
        settings.schools = ()  # type: ignore[misc]


def test_tls_none_is_accepted(tmp_path: Path) -> None:
    """tls = "none" is valid configuration (the adapter enforces loopback)."""
    settings = load_config(write(tmp_path, DIRECTORY + 'tls = "none"\n'))
    assert settings.directory.tls == "none"


def test_relative_ca_file_is_relative_to_the_file(tmp_path: Path) -> None:
    """A relative ca_file is resolved against the configuration file's folder."""
    folder = tmp_path / "etc"
    folder.mkdir()
    settings = load_config(write(folder, DIRECTORY + 'ca_file = "certs/ca.pem"\n'))
    assert settings.directory.ca_file == folder / "certs" / "ca.pem"


def test_relative_mail_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    """The maildir, templates, SMTP CA and DKIM key paths start at the file's folder."""
    folder = tmp_path / "etc"
    folder.mkdir()
    mail = (
        '[mail]\nmaildir = "out/mail"\ntemplates_dir = "tpl"\n'
        '[mail.smtp]\nhost = "smtp.example.be"\nca_file = "smtp-ca.pem"\n'
        '[mail.dkim]\ndomain = "example.be"\nselector = "s1"\nprivate_key_file = "dkim.pem"\n'
    )
    settings = load_config(write(folder, DIRECTORY + mail))
    assert settings.mail.maildir == folder / "out" / "mail"
    assert settings.mail.templates_dir == folder / "tpl"
    assert settings.mail.smtp.ca_file == folder / "smtp-ca.pem"
    assert settings.mail.dkim is not None
    assert settings.mail.dkim.private_key_file == folder / "dkim.pem"


def test_relative_ca_file_from_environment_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ca_file set by a variable is not re-rooted at the file's folder."""
    folder = tmp_path / "etc"
    folder.mkdir()
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__CA_FILE", "certs/ca.pem")
    settings = load_config(write(folder, DIRECTORY))
    assert settings.directory.ca_file == Path("certs/ca.pem")


def test_relative_config_path_gives_absolute_ca_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading ./ecampus-idm.toml resolves ca_file to an absolute path."""
    write(tmp_path, DIRECTORY + 'ca_file = "ca.pem"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_config(Path("ecampus-idm.toml"))
    assert settings.directory.ca_file == tmp_path / "ca.pem"


def test_absolute_ca_file_is_kept(tmp_path: Path) -> None:
    """An absolute ca_file is used as written."""
    absolute = tmp_path / "pki" / "ca.pem"
    settings = load_config(write(tmp_path, DIRECTORY + f'ca_file = "{absolute}"\n'))
    assert settings.directory.ca_file == absolute


# -- environment ---------------------------------------------------------------------------


def test_env_overrides_bind_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD wins over the file."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ENV_CANARY)
    settings = load_config(write(tmp_path, DIRECTORY))
    assert settings.directory.bind_password.get_secret_value() == ENV_CANARY


def test_env_supplies_a_key_missing_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret kept out of the file comes from the environment, merged with the file."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ENV_CANARY)
    text = DIRECTORY.replace(f'bind_password = "{CANARY}"\n', "")
    settings = load_config(write(tmp_path, text))
    assert settings.directory.bind_password.get_secret_value() == ENV_CANARY
    assert settings.directory.url == "ldaps://ldap.ecampus.test"


def test_env_only_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a file, the environment alone can configure everything."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__URL", "ldap://localhost:3890")
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BIND_DN", "cn=admin,dc=x")
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ENV_CANARY)
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BASE_DN", "dc=x")
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__PAGE_SIZE", "50")
    settings = load_config()
    assert settings.directory.url == "ldap://localhost:3890"
    assert settings.directory.page_size == 50


def test_env_json_schools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A complex value can come from the environment as JSON."""
    monkeypatch.setenv("ECAMPUS_IDM_SCHOOLS", '[{"code": "A1", "name": "A", "category": "SEC"}]')
    settings = load_config(write(tmp_path, DIRECTORY))
    assert settings.schools == (School(code="A1", name="A", category=Category.SEC),)


def test_missing_without_file_names_the_environment() -> None:
    """With no file and no variables, the error says the environment lacks [directory]."""
    err = config_error(None)
    assert err.source == "environment"
    assert err.key == "directory"


# -- file-level errors ---------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    """A file that does not exist is a ConfigError naming it."""
    path = tmp_path / "nope.toml"
    err = config_error(path)
    assert err.source == str(path)
    assert err.key is None
    assert str(path) in str(err)
    assert "does not exist" in str(err)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A path that cannot be read as a file is a ConfigError, not an OSError."""
    err = config_error(tmp_path)
    assert err.source == str(tmp_path)
    assert "cannot be read" in str(err)


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    """A TOML syntax error names the file and the line of the problem."""
    path = write(tmp_path, DIRECTORY.replace('base_dn = "dc=ecampus,dc=test"', "base_dn = "))
    err = config_error(path)
    assert err.source == str(path)
    assert err.key is None
    assert str(path) in str(err)
    assert "line 5" in str(err)


def test_non_utf8_file(tmp_path: Path) -> None:
    """A file that is not UTF-8 is a ConfigError naming it."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(DIRECTORY.encode() + b"# caf\xe9\n")
    err = config_error(path)
    assert str(path) in str(err)
    assert "UTF-8" in str(err)


# -- value errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (DIRECTORY + 'page_size = "many"\n', "directory.page_size", "integer"),
        (DIRECTORY + "page_size = 0\n", "directory.page_size", "greater than or equal to 1"),
        (DIRECTORY + "timeout_seconds = 0\n", "directory.timeout_seconds", "greater than 0"),
        (DIRECTORY + 'colour = "blue"\n', "directory.colour", "unknown key"),
        (DIRECTORY + "[extra]\na = 1\n", "extra", "unknown key"),
        (DIRECTORY.replace('url = "ldaps://ldap.ecampus.test"\n', ""), "directory.url", "required"),
        ("[institution]\nname = 'x'\n", "directory", "required"),
        (DIRECTORY.replace("ldaps://", "http://"), "directory.url", "ldap://host"),
        (DIRECTORY.replace("ldaps://ldap.ecampus.test", "ldaps://"), "directory.url", "ldap://"),
        (
            DIRECTORY.replace("ldaps://", "ldaps://idm:secret@"),
            "directory.url",
            "without credentials",
        ),
        (DIRECTORY + 'tls = "sometimes"\n', "directory.tls", "'none'"),
        (DIRECTORY.replace('"dc=ecampus,dc=test"', '"not a dn"'), "directory.base_dn", "RFC 4514"),
        (DIRECTORY + 'people_rdn = "people"\n', "directory.people_rdn", "RFC 4514"),
        (DIRECTORY + '[institution]\ntimezone = "Mars/Olympus"\n', "institution.timezone", "IANA"),
        (
            DIRECTORY + '[institution]\nmail_domain = "Not A Domain"\n',
            "institution.mail_domain",
            "pattern",
        ),
        (
            DIRECTORY + '[institution]\nportal_url = "ftp://x"\n',
            "institution.portal_url",
            "pattern",
        ),
        (DIRECTORY + '[store]\nurl = "state.sqlite3"\n', "store.url", "database URL"),
        (
            DIRECTORY + '[[schools]]\ncode = "HEC"\nname = "H"\ncategory = "UNIV"\n',
            "schools[0].category",
            "'HE', 'PS' or 'SEC'",
        ),
        (
            DIRECTORY + '[[schools]]\ncode = "-HEC"\nname = "H"\ncategory = "HE"\n',
            "schools[0].code",
            "starting alphanumeric",
        ),
        (DIRECTORY + '[[schools]]\ncode = "HEC"\nname = "H"\n', "schools[0].category", "required"),
        ('schools = "HEC"\n' + DIRECTORY, "schools", "tuple"),
    ],
    ids=[
        "wrong-type",
        "out-of-range",
        "zero-timeout",
        "unknown-key",
        "unknown-section",
        "missing-key",
        "missing-section",
        "url-scheme",
        "url-without-host",
        "url-with-credentials",
        "bad-tls",
        "bad-dn",
        "bad-rdn",
        "bad-timezone",
        "bad-mail-domain",
        "bad-portal-url",
        "store-url-without-scheme",
        "bad-school-category",
        "bad-school-code",
        "missing-school-category",
        "schools-not-a-list",
    ],
)
def test_invalid_value_names_file_and_key(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    """A bad value raises ConfigError naming the file, the dotted key and what was expected."""
    path = write(tmp_path, text)
    err = config_error(path)
    assert (err.source, err.key) == (str(path), key)
    assert expected in err.expected
    assert f"{path}: {key}: " in str(err)
    assert err.problems == [(str(path), key, err.expected)]


def test_every_problem_is_listed(tmp_path: Path) -> None:
    """All bad values are reported together, one line each."""
    text = DIRECTORY.replace("ldaps://", "http://") + (
        'page_size = "many"\nbogus = 1\n'
        '[[schools]]\ncode = "A"\nname = "A"\ncategory = "XX"\n'
        '[[schools]]\ncode = "B"\nname = "B"\ncategory = "HE"\nfoo = 2\n'
    )
    path = write(tmp_path, text)
    err = config_error(path)
    keys = [key for _, key, _ in err.problems]
    assert sorted(keys) == sorted(
        [
            "directory.url",
            "directory.page_size",
            "directory.bogus",
            "schools[0].category",
            "schools[1].foo",
        ]
    )
    assert "5 problems" in str(err)
    for key in keys:
        assert f"  - {path}: {key}: " in str(err)


def test_duplicate_school_codes_rejected(tmp_path: Path) -> None:
    """Two schools with the same code (ignoring case) are refused."""
    schools = (
        '[[schools]]\ncode = "HEC"\nname = "A"\ncategory = "HE"\n'
        '[[schools]]\ncode = "hec"\nname = "B"\ncategory = "PS"\n'
    )
    err = config_error(write(tmp_path, DIRECTORY + schools))
    assert err.key == "schools"
    assert "HEC" in err.expected


def test_store_url_with_password_rejected(tmp_path: Path) -> None:
    """A password inside the store URL is refused, and not echoed."""
    text = DIRECTORY + '[store]\nurl = "postgresql://idm:Store-Canary-9@db/ecampus"\n'
    err = config_error(write(tmp_path, text))
    assert err.key == "store.url"
    assert "store.password" in err.expected
    assert "Store-Canary-9" not in full_text(err)


def test_env_value_error_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the bad value came from a variable, the error names the variable, not the file."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__PAGE_SIZE", "lots")
    err = config_error(write(tmp_path, DIRECTORY))
    assert err.source == "ECAMPUS_IDM_DIRECTORY__PAGE_SIZE"
    assert err.key == "directory.page_size"
    assert "ECAMPUS_IDM_DIRECTORY__PAGE_SIZE: directory.page_size" in str(err)


def test_env_json_error_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad field inside a JSON variable is blamed on that variable."""
    monkeypatch.setenv("ECAMPUS_IDM_SCHOOLS", '[{"code": "A", "name": "A", "category": "XX"}]')
    err = config_error(write(tmp_path, DIRECTORY))
    assert (err.source, err.key) == ("ECAMPUS_IDM_SCHOOLS", "schools[0].category")


def test_mixed_sources_each_blamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each problem names its own source when file and environment are both wrong."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__URL", "http://ldap")
    path = write(tmp_path, DIRECTORY + "page_size = 0\n")
    err = config_error(path)
    assert {(source, key) for source, key, _ in err.problems} == {
        ("ECAMPUS_IDM_DIRECTORY__URL", "directory.url"),
        (str(path), "directory.page_size"),
    }


def test_file_value_not_blamed_on_unrelated_json_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad value from the file is blamed on the file even when a section variable is set."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY", '{"page_size": 20}')
    path = write(tmp_path, DIRECTORY.replace("ldaps://", "http://"))
    err = config_error(path)
    assert (err.source, err.key) == (str(path), "directory.url")


def test_lower_case_env_value_error_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad value from a lower-case variable names that variable."""
    monkeypatch.setenv("ecampus_idm_directory__url", "http://ldap")
    err = config_error(write(tmp_path, DIRECTORY))
    assert err.source == "ecampus_idm_directory__url"


def test_env_malformed_json_is_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable that must hold JSON but does not is a ConfigError naming it."""
    monkeypatch.setenv("ECAMPUS_IDM_SCHOOLS", "not json")
    err = config_error(write(tmp_path, DIRECTORY))
    assert err.source == "ECAMPUS_IDM_SCHOOLS"


def test_file_cannot_set_settings_init_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A top-level key such as _env_prefix is an unknown key, not a loader option."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ENV_CANARY)
    err = config_error(write(tmp_path, '_env_prefix = "OTHER_"\n' + DIRECTORY))
    assert err.key == "_env_prefix"


# -- secrets -------------------------------------------------------------------------------


def loaded(tmp_path: Path) -> Settings:
    """Load FULL and check the canary really is the bind password (else tests are vacuous)."""
    settings = load_config(write(tmp_path, FULL))
    assert settings.directory.bind_password.get_secret_value() == CANARY
    return settings


@pytest.mark.parametrize(
    "render",
    [
        repr,
        str,
        lambda s: s.model_dump_json(),
        lambda s: str(s.model_dump()),
        lambda s: repr(s.directory),
    ],
    ids=["repr", "str", "json", "dump", "section-repr"],
)
def test_bind_password_not_in_settings_output(
    tmp_path: Path, render: Callable[[Settings], str]
) -> None:
    """The bind password never appears when settings are printed or serialised."""
    assert CANARY not in render(loaded(tmp_path))


def test_store_password_not_in_settings_output(tmp_path: Path) -> None:
    """The store password is a secret too."""
    settings = loaded(tmp_path)
    assert settings.store.password is not None
    assert settings.store.password.get_secret_value() == "Store-Canary-Pw-2208"
    assert "Store-Canary-Pw-2208" not in repr(settings) + settings.model_dump_json()


@pytest.mark.parametrize(
    "extra",
    [
        'page_size = "many"\n',
        'tls = "sometimes"\n',
        'bind_pasword = "typo"\n',
        '[[schools]]\ncode = "HEC"\nname = "H"\ncategory = "UNIV"\n',
        '[institution]\ntimezone = "Mars/Olympus"\n',
    ],
    ids=["wrong-type", "bad-enum", "unknown-key", "bad-school", "bad-timezone"],
)
def test_bind_password_not_in_config_error(tmp_path: Path, extra: str) -> None:
    """A ConfigError about another key never shows the bind password, chain included."""
    err = config_error(write(tmp_path, DIRECTORY + extra))
    assert err.problems
    assert CANARY not in full_text(err)


@pytest.mark.parametrize(
    "text",
    [
        f'[directory]\nbind_password = {{ value = "{CANARY}" }}\n',
        f'[directory]\nbind_pasword = "{CANARY}"\n',
        f'[institution]\nbind_password = "{CANARY}"\n',
        f'[directory]\nbind_dn = ["{CANARY}"]\n',
    ],
    ids=["secret-of-wrong-type", "secret-under-misspelt-key", "secret-in-wrong-section", "in-list"],
)
def test_misplaced_secret_not_echoed(tmp_path: Path, text: str) -> None:
    """When the secret itself is the bad value, the error still does not echo it."""
    err = config_error(write(tmp_path, text))
    assert CANARY not in full_text(err)


def test_bind_password_not_in_toml_syntax_error(tmp_path: Path) -> None:
    """A TOML syntax error in a file holding the password does not quote the file."""
    err = config_error(write(tmp_path, DIRECTORY + "page_size = = 3\n"))
    assert CANARY not in full_text(err)


def test_env_password_not_in_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password given by variable is not echoed when another variable is wrong."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ENV_CANARY)
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__TIMEOUT_SECONDS", "soon")
    err = config_error(write(tmp_path, DIRECTORY))
    assert err.key == "directory.timeout_seconds"
    assert ENV_CANARY not in full_text(err)


def test_shipped_example_configuration_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/ecampus-idm.example.toml loads (its secret from the environment)."""
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", "from-the-environment")
    example = Path(__file__).parents[2] / "examples" / "ecampus-idm.example.toml"
    settings = load_config(example)
    assert settings.mail.transport == "smtp"
    assert settings.mail.dkim is not None
    assert settings.mail.dkim.private_key_file == example.parent / "dkim" / "ecampus2026.pem"
    assert settings.support.operators[0].schools == ("HEC-TOURNAI",)
    assert settings.passwords.token_ttl_minutes == 30
