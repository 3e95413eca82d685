"""The strength estimate of chosen passwords: a table of weak and good ones (issue 14, item 4).

Every weak password below is at least 15 characters long (the length floor alone lets it
through); every good one is a passphrase in French, Dutch or English. The estimate is
zxcvbn's (``quality.weak``), with the AZERTY keyboard, the context words and the
configured words fed to it; whitespace-only and control characters have their own rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pw_builders import NEW_PASSWORD, RecordingMailer, add_account
from pydantic import SecretStr

from ecampus_idm.cli import main
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.passwords import (
    PasswordRejectedError,
    PasswordResetService,
    QualitySettings,
    check_user_password,
)
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.testing.cli import json_data

WEAK = "quality.weak"
REFUSED_AS_WEAK = {"quality.weak", "quality.blocklisted"}

ISSUE_EXAMPLES = [
    pytest.param("aaaaaaaaaaaaaaa", WEAK, id="fifteen-a"),
    pytest.param("111111111111111", WEAK, id="fifteen-ones"),
    pytest.param("passwordpassword", WEAK, id="repeated-blocklist-word"),
    pytest.param("   password    ", WEAK, id="padded-blocklist-word"),
    pytest.param(" " * 15, "quality.blank", id="fifteen-spaces"),
    pytest.param("\x00" * 15, "quality.control", id="fifteen-nul"),
    pytest.param("P@ssw0rdP@ssw0rd", WEAK, id="leet-repeated"),
    pytest.param("azertyuiopqsdfg", WEAK, id="azerty-walk"),
]

WEAK_TABLE = [
    # English
    "passwordpassword",
    "password12345678",
    "iloveyouiloveyou",
    "qwertyuiopasdfgh",
    "1qaz2wsx3edc4rfv",
    "abcdefghijklmnop",
    "123456789012345",
    "zyxwvutsrqponmlk",
    "P@ssw0rdP@ssw0rd",
    "letmeinletmein1",
    "monkeymonkey1234",
    "trustno1trustno1",
    "football12345678",
    "Welcome123456789",
    "superman2024superman",
    "asdfghjklasdfghjkl",
    "abc123abc123abc123",
    "1234567890qwerty",
    "baseball!baseball!",
    "Password1Password1",
    "PASSWORDPASSWORD",
    "qazwsxedcrfvtgb",
    # French (AZERTY keyboard)
    "motdepassemotdepasse",
    "motdepasse123456789",
    "azertyuiopqsdfgh",
    "azerty123456789",
    "soleilsoleilsoleil",
    "jetaimejetaimejetaime",
    "bonjour123456789",
    "wxcvbnqsdfghjklm",
    "aqwzsxedcrfvtgbyhn",
    "1aqw2zsx3edc4rfv",
    "mlkjhgfdsqpoiuytreza",
    "chouchouchouchou",
    "loulouloulouloulou",
    "nicolas1234567890",
    "marseille13marseille13",
    "azertyazertyazerty",
    "Azerty2024Azerty2024",
    # Dutch
    "wachtwoord123456",
    "wachtwoordwachtwoord",
    "welkom123welkom123",
    "geheimgeheimgeheim",
    "hallohallohallo1",
    "voetbal12345678",
    "ajaxajaxajaxajax",
    "qwertyqwertyqwerty",
    # repeats, sequences, dates, padding
    "aaaaaaaaaaaaaaa",
    "111111111111111",
    "000000000000000",
    "abababababababab",
    "121212121212121",
    "2024202420242024",
    "0101200001012000",
    "!!!!!!!!!!!!!!!!",
    "         password",
    "password   password",
]

GOOD_TABLE = [
    # French
    "lampadaire-violet-sous-la-pluie",
    "une tortue sur un vélo rouge",
    "le chat de Mamie dort au grenier",
    "trois poireaux dansent la valse",
    "Horizon-Cobalt-Marmotte-42",
    "mon vélo bleu grince en hiver",
    "la confiture de figues du dimanche",
    "girafe pastèque tambour nuage",
    "ce matin le brouillard chantait",
    "Escargot rapide au parfum de menthe",
    "quatre chaussettes orphelines",
    "le train de 7h12 a encore du retard",
    "Parapluie jaune et café trop sucré",
    "une baleine chante sous la lune",
    "cornichon-galaxie-boussole-98",
    "j'ai perdu mes clés dans la neige",
    "Le hibou lit Proust à minuit",
    "fromage & vélo & accordéon",
    "sept dragons mangent des crêpes",
    "la bibliothèque sent le vieux papier",
    "Kangourou pirate cherche son ukulélé",
    "fenêtre ouverte sur le jardin",
    # Dutch
    "de fiets staat in de regen",
    "mijn hond eet graag kaas",
    "kaas en wijn op vrijdag",
    "Zeven olifanten op een tandem",
    "de molen draait zonder wind",
    "Stroopwafel-Regenboog-Tulp-7",
    "mijn oma breit blauwe sokken",
    "de kat slaapt op het toetsenbord",
    "Drie kabouters zoeken hun muts",
    "het Belgisch bier is best lekker",
    "onder de brug zwemt een eend",
    "fietsbel-pannenkoek-dijk-2031",
    "mijn buurman speelt luid trompet",
    "de zeehond droomt van haring",
    "Tomatensoep met veel balletjes",
    "de regenjas van opa is te groot",
    "zeven zotte zeilers zingen luid",
    # English
    "correct horse battery staple",
    "the blue giraffe drinks tea",
    "purple elephants juggle quietly",
    "My toaster sings opera at dawn",
    "seventeen pickles on a bicycle",
    "Quantum-Banana-Lighthouse-55",
    "a lazy otter reads the newspaper",
    "never trust a dancing cactus",
    "marmalade thunderstorm velvet",
    "the kettle whistles in b flat",
    "Bright lanterns over the harbour",
    "my neighbour's parrot speaks latin",
    "waffle-compass-glacier-orbit",
    "grumpy walrus wearing sunglasses",
    "forty tulips under a grey sky",
    "Silent Penguins Tap Dance 2049",
]


def codes(password: str, **kwargs: object) -> tuple[str, ...]:
    return check_user_password(SecretStr(password), **kwargs).codes  # type: ignore[arg-type]


def test_the_tables_are_large_enough() -> None:
    """At least 50 weak and 50 good passwords, all past the length floor, none twice."""
    assert len(set(WEAK_TABLE)) == len(WEAK_TABLE) >= 50
    assert len(set(GOOD_TABLE)) == len(GOOD_TABLE) >= 50
    assert min(len(p) for p in WEAK_TABLE + GOOD_TABLE) >= 15


@pytest.mark.parametrize(("password", "code"), ISSUE_EXAMPLES)
def test_issue_examples_are_refused(password: str, code: str) -> None:
    """Each password the review found accepted is refused with the rule it breaks."""
    assert codes(password) == (code,)


@pytest.mark.parametrize("password", WEAK_TABLE)
def test_weak_passwords_are_refused(password: str) -> None:
    """Repeats, sequences, keyboard walks and common words are refused however long."""
    found = set(codes(password))
    assert found
    assert found <= REFUSED_AS_WEAK


@pytest.mark.parametrize("password", GOOD_TABLE)
def test_good_passphrases_are_accepted(password: str) -> None:
    """Passphrases of a few uncommon words pass every rule."""
    assert codes(password) == ()


@pytest.mark.parametrize(
    "password",
    ["mot de passe\tlong et sûr", "une phrase\nsur deux lignes", "zero\u200blargeur-invisible"],
    ids=["tab", "newline", "zero-width-space"],
)
def test_control_and_invisible_characters_are_refused(password: str) -> None:
    """A control or format character (tab, newline, zero-width space) is refused."""
    assert codes(password) == ("quality.control",)


def test_whitespace_only_is_refused_whatever_the_spaces() -> None:
    """Spaces, no-break spaces and ideographic spaces alone are not a password."""
    assert codes("\u00a0" * 8 + " " * 8 + "\u3000") == ("quality.blank",)


def test_weak_message_is_french_then_english() -> None:
    """The weak rule speaks French first, with an English version, and no part of it."""
    result = check_user_password(SecretStr("azertyuiopqsdfg"))
    assert result.message_fr.startswith("Ce mot de passe est trop facile à deviner")
    assert result.message_en.startswith("This password is too easy to guess")
    assert "azerty" not in result.message_fr + result.message_en


def test_configured_words_count_as_known() -> None:
    """A word of the group (another school's name) plus a year is weak."""
    settings = QualitySettings(known_words=("Haute École Condorcet",))
    assert codes("HauteEcoleCondorcet2026", settings=settings) == (WEAK,)
    assert codes("HauteEcoleCondorcet2026") == ()


def test_own_school_name_plus_year_is_refused() -> None:
    """The person's school name plus a year is refused (a context word)."""
    assert codes("AthenéeRoyal-2026", schools=("Athénée royal de Mons",)) == ("quality.context",)


def test_school_name_plus_year_is_refused_by_the_cli(tmp_path: Path) -> None:
    """``passwords check`` counts the configured schools' names as known words."""
    config = tmp_path / "idm.toml"
    config.write_text(
        '[directory]\nurl = "ldaps://ldap.example.be"\nbind_dn = "cn=a"\nbase_dn = "dc=x"\n'
        'bind_password = "x"\n'
        '[[schools]]\ncode = "HEC-TOURNAI"\nname = "Haute École Condorcet"\n'
        'category = "HE"\n',
        "utf-8",
    )
    result = CliRunner().invoke(
        main,
        ["passwords", "check", "--config", str(config), "--stdin", "--json"],
        input="HauteEcoleCondorcet2026\n",
    )
    assert result.exit_code == 1, result.output
    assert [p["code"] for p in json_data(result.stdout)["problems"]] == [WEAK]


def test_long_passphrase_up_to_the_ceiling_is_accepted() -> None:
    """A 128-character passphrase is estimated on its start and accepted, quickly."""
    password = ("lampadaire-violet-sous-la-pluie-" * 4)[:128]
    assert codes(password) == ()


def test_estimate_reads_the_first_characters_only() -> None:
    """Past the estimator's window, characters neither help nor hurt the estimate."""
    weak_start = "a" * 64
    assert codes(weak_start + "-girafe-pasteque-tambour-nuage-violet") == (WEAK,)


def test_service_reports_a_weak_password_as_a_rule_failure(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    store: MemoryStore,
) -> None:
    """redeem raises PasswordRejectedError (French first), audits it, and keeps the link."""
    add_account(directory, "jean")
    service.request_reset("parent@example.org", "198.51.100.7")
    service.process_pending()
    token = mailer.token()
    with pytest.raises(PasswordRejectedError) as caught:
        service.redeem(token, "azertyuiopqsdfg")
    assert [p.code for p in caught.value.problems] == [WEAK]
    assert caught.value.message_fr.startswith("Ce mot de passe est trop facile à deviner")
    rejected = [e for e in store.events_for_person("p-jean") if e.kind == "reset.rejected"]
    assert rejected[-1].data == {"reason": "quality", "rules": [WEAK]}
    assert service.check_password(token, "azertyuiopqsdfg").codes == (WEAK,)
    service.redeem(token, NEW_PASSWORD)
