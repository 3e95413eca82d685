"""A welcome mail a person trusts and understands (issue 15, item 6), in fr, nl and en.

Why it comes (the enrolment or attribution at the named school), the password rule that
applies to the person, that the school never asks for a password by mail, the initial
password large and in a monospace face, the institution's name and optional logo, the
portal link named in the mail's language, and the reset link's lifetime in minutes.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from pydantic import SecretStr, ValidationError

from ecampus_idm.config import Settings
from ecampus_idm.mail.outbox import MailContext
from ecampus_idm.mail.render import Branding, RenderedMail, Renderer
from ecampus_idm.mail.settings import MailSettings

PASSWORD = SecretStr("bazoki-muteva-ridopa-sukemi-47")
LANGUAGES = ["fr", "nl", "en"]
LOGO = "https://www.condorcet.be/logo.png"
LARGE = 20  # px: a third larger than the body text (15 px)
PURPOSES = ["welcome", "welcome-again", "activation", "reset-hint", "reset"]
TOURNAI = "Haute-Ecole Condorcet - Tournai"
ENROLMENT = {
    "fr": f"en raison de votre inscription à {TOURNAI}.",
    "nl": f"omdat u ingeschreven bent bij {TOURNAI}.",
    "en": f"because of your enrolment at {TOURNAI}.",
}
ATTRIBUTION = {
    "fr": f"en raison de votre attribution à {TOURNAI}.",
    "nl": f"omdat u een opdracht hebt bij {TOURNAI}.",
    "en": f"because of your assignment at {TOURNAI}.",
}
PERSONNEL = {
    "fr": "vous faites partie du personnel de Haute-Ecole Condorcet.",
    "nl": "deel uitmaakt van het personeel van Haute-Ecole Condorcet.",
    "en": "you are a member of staff of Haute-Ecole Condorcet.",
}
NEVER = {
    "fr": "L'école ne vous demandera jamais votre mot de passe par courriel",
    "nl": "De school zal u nooit per e-mail om uw wachtwoord vragen",
    "en": "The school will never ask you for your password by e-mail",
}
AT_LEAST = {
    "fr": "au moins {n} caractères",
    "nl": "minstens {n} tekens",
    "en": "at least {n} characters",
}
MINUTES = {
    "fr": "valable {n} minutes",
    "nl": "die {n} minuten geldig is",
    "en": "valid for {n} minutes",
}
DIRECTORY = {
    "url": "ldaps://ldap.ecampus.test",
    "bind_dn": "cn=idm,dc=ecampus,dc=test",
    "bind_password": "x",
    "base_dn": "dc=ecampus,dc=test",
}
FORGOT = {"nl": "« Wachtwoord vergeten »", "en": '"Forgot password" link'}


def _render(
    renderer: Renderer, purpose: str, language: str, context: MailContext | None = None
) -> RenderedMail:
    return renderer.render(
        purpose=purpose,
        language=language,
        username="elodie.vandamme",
        display_name="Élodie Vandamme",
        password=PASSWORD,
        activation_url="https://ecampus.condorcet.be/activate/tok",
        reset_url="https://ecampus.condorcet.be/reset/tok",
        context=context,
    )


def _plain(html: str) -> str:
    """The HTML's words, tags dropped and spaces folded (for phrase checks)."""
    text = re.sub(r"<[^>]+>", "", html).replace("&nbsp;", " ").replace("&#39;", "'")
    return " ".join(text.replace("&#34;", '"').replace("&quot;", '"').split())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("purpose", ["welcome", "welcome-again", "activation"])
def test_reason_names_the_enrolment_school(renderer: Renderer, purpose: str, language: str) -> None:
    """A student's mail says it comes because of their enrolment at the named school."""
    context = MailContext(reason="enrolment", schools=(TOURNAI,), affiliation="student")
    mail = _render(renderer, purpose, language, context)
    assert ENROLMENT[language] in mail.text
    assert ENROLMENT[language] in _plain(mail.html)


@pytest.mark.parametrize("language", LANGUAGES)
def test_reason_names_the_attribution_school(renderer: Renderer, language: str) -> None:
    """A teacher's mail says it comes because of their attribution at the named school."""
    context = MailContext(reason="attribution", schools=(TOURNAI,), affiliation="faculty")
    mail = _render(renderer, "welcome", language, context)
    assert ATTRIBUTION[language] in mail.text
    assert ATTRIBUTION[language] in _plain(mail.html)


@pytest.mark.parametrize("language", LANGUAGES)
def test_reason_of_the_personnel_list_names_the_institution(
    renderer: Renderer, language: str
) -> None:
    """A staff member without a function (no school) is told they are of the personnel."""
    mail = _render(renderer, "welcome", language, MailContext(reason="personnel"))
    assert PERSONNEL[language] in mail.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_reason_without_context_stays_general(renderer: Renderer, language: str) -> None:
    """A mail queued before the context existed says an account was created, no school."""
    mail = _render(renderer, "welcome", language)
    general = {"fr": "a été créé à votre nom", "nl": "werd aangemaakt", "en": "in your name"}
    assert general[language] in mail.text
    assert "Tournai" not in mail.text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("purpose", ["welcome", "welcome-again", "activation", "reset"])
def test_mail_states_the_minimum_length(branding: Branding, purpose: str, language: str) -> None:
    """The mail gives ``passwords.quality.min_length`` as the rule of the new password."""
    renderer = Renderer(replace(branding, password_min_length=17), MailSettings())
    mail = _render(renderer, purpose, language)
    assert AT_LEAST[language].format(n=17) in mail.text
    assert AT_LEAST[language].format(n=17) in _plain(mail.html)


@pytest.mark.parametrize("language", LANGUAGES)
def test_mail_states_the_floor_of_the_persons_affiliation(
    branding: Branding, language: str
) -> None:
    """A population floor (``min_length_by_population``) is the length the mail states."""
    floors = replace(branding, password_min_length=15, password_floors=(("student", 12),))
    renderer = Renderer(floors, MailSettings())
    student = _render(renderer, "welcome", language, MailContext(affiliation="student"))
    teacher = _render(renderer, "welcome", language, MailContext(affiliation="faculty"))
    assert AT_LEAST[language].format(n=12) in student.text
    assert AT_LEAST[language].format(n=15) in teacher.text


def test_branding_takes_the_password_rules_of_the_configuration() -> None:
    """``min_length``, the floors and ``token_ttl_minutes`` come from ``[passwords]``."""
    settings = Settings(
        directory=DIRECTORY,
        passwords={
            "token_ttl_minutes": 45,
            "quality": {"min_length": 16, "min_length_by_population": {"student": 12}},
        },
    )
    branding = Branding.from_settings(settings)
    assert (branding.password_min_length, branding.reset_minutes) == (16, 45)
    assert (branding.min_length_for("student"), branding.min_length_for("faculty")) == (12, 16)


def test_active_directory_branding_states_the_general_length() -> None:
    """On AD the service reads no affiliation, so the mail states ``min_length`` to all."""
    settings = Settings(
        directory={**DIRECTORY, "kind": "active_directory"},
        passwords={"quality": {"min_length": 16, "min_length_by_population": {"student": 12}}},
    )
    assert Branding.from_settings(settings).min_length_for("student") == 16


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_mail_says_the_school_never_asks_for_a_password(
    renderer: Renderer, purpose: str, language: str
) -> None:
    """Every mail says the school never asks for a password by e-mail."""
    mail = _render(renderer, purpose, language)
    assert NEVER[language] in mail.text
    assert NEVER[language] in _plain(mail.html)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("purpose", ["welcome", "welcome-again"])
def test_initial_password_is_large_and_monospace(
    renderer: Renderer, purpose: str, language: str
) -> None:
    """The HTML shows the password alone in a large monospace box, nothing around it."""
    mail = _render(renderer, purpose, language)
    found = re.search(r'<code style="([^"]*)">([^<]*)</code>', mail.html)
    assert found is not None
    style, shown = found.groups()
    assert shown == PASSWORD.get_secret_value()
    assert "monospace" in style
    size = re.search(r"font-size: (\d+)px", style)
    assert size is not None
    assert int(size.group(1)) >= LARGE


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("purpose", ["welcome", "welcome-again"])
def test_welcome_html_carries_the_institution_and_its_logo(
    branding: Branding, purpose: str, language: str
) -> None:
    """With ``mail.logo_url``, the welcome mail's header shows the logo, then the name."""
    renderer = Renderer(replace(branding, logo_url=LOGO), MailSettings())
    header = _render(renderer, purpose, language).html.split("<p>", 1)[0]
    assert f'<img src="{LOGO}" alt="Haute-Ecole Condorcet"' in header
    assert ">Haute-Ecole Condorcet</span></td></tr>" in header


@pytest.mark.parametrize("purpose", ["activation", "reset-hint", "reset"])
def test_short_mails_carry_the_name_without_the_logo(branding: Branding, purpose: str) -> None:
    """The shorter mails show the name only: an image in under 3.2 kB of HTML costs spam points."""
    renderer = Renderer(replace(branding, logo_url=LOGO), MailSettings())
    html = _render(renderer, purpose, "fr").html
    assert "<img" not in html
    assert ">Haute-Ecole Condorcet</span></td></tr>" in html


@pytest.mark.parametrize("purpose", PURPOSES)
def test_no_logo_by_default(renderer: Renderer, purpose: str) -> None:
    """Without a logo the header is the institution's name alone (no image to load)."""
    html = _render(renderer, purpose, "fr").html
    assert "<img" not in html
    assert ">Haute-Ecole Condorcet</span></td></tr>" in html.split("<p>", 1)[0]


def test_logo_url_must_be_an_https_image_address() -> None:
    """A logo over http, or with a quote that could leave the attribute, is refused."""
    assert MailSettings(logo_url="https://www.condorcet.be/logo.png").logo_url
    for bad in ("http://www.condorcet.be/logo.png", 'https://x.be/a.png" onload="x'):
        with pytest.raises(ValidationError):
            MailSettings(logo_url=bad)


def test_branding_takes_the_logo_from_the_mail_settings() -> None:
    """``Branding.from_settings`` carries ``mail.logo_url``."""
    settings = Settings(
        directory=DIRECTORY,
        mail={"logo_url": "https://www.condorcet.be/logo.png"},
    )
    assert Branding.from_settings(settings).logo_url == "https://www.condorcet.be/logo.png"


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("purpose", ["welcome", "activation", "reset-hint"])
def test_portal_link_is_named_in_the_mails_language(
    renderer: Renderer, purpose: str, language: str
) -> None:
    """nl and en name the "forgot password" link in their language first, French after."""
    text = _render(renderer, purpose, language).text
    assert f"{FORGOT[language]} (« Mot de passe oublié »)" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_reset_mail_gives_the_links_lifetime_in_minutes(branding: Branding, language: str) -> None:
    """The reset mail says how many minutes its link works (``token_ttl_minutes``)."""
    renderer = Renderer(replace(branding, reset_minutes=45), MailSettings())
    mail = _render(renderer, "reset", language)
    assert MINUTES[language].format(n=45) in mail.text
    assert MINUTES[language].format(n=45) in _plain(mail.html)


def test_school_names_are_escaped_in_html(renderer: Renderer) -> None:
    """A configured school name cannot inject HTML into the mail."""
    context = MailContext(reason="enrolment", schools=("<b>École</b>",))
    html = _render(renderer, "welcome", "fr", context).html
    assert "<b>École</b>" not in html
    assert "&lt;b&gt;École&lt;/b&gt;" in html


READABLE = {
    "fr": "uniquement des lettres minuscules, des chiffres de 2 à 9 et des traits d'union",
    "nl": "alleen kleine letters, cijfers van 2 tot 9 en koppeltekens",
    "en": "lower-case letters, digits 2 to 9 and hyphens only",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_generated_password_is_said_to_hold_no_look_alikes(
    renderer: Renderer, language: str
) -> None:
    """A generated password (no 0, 1 or l) comes with the line naming its characters."""
    mail = _render(renderer, "welcome", language)
    assert READABLE[language] in mail.text
    assert READABLE[language] in _plain(mail.html)


def test_other_password_gets_no_such_line(renderer: Renderer) -> None:
    """A password with other characters is not described as the generator's."""
    mail = renderer.render(
        purpose="welcome",
        language="fr",
        username="a.b",
        display_name="A B",
        password=SecretStr("Tirage-10l"),
    )
    assert READABLE["fr"] not in mail.text


@pytest.mark.parametrize(
    ("hours", "said"),
    [
        (168, {"fr": "valable 7 jours", "nl": "die 7 dagen geldig is", "en": "valid for 7 days"}),
        (24, {"fr": "valable 1 jour :", "nl": "die 1 dag geldig is", "en": "valid for 1 day:"}),
        (36, {"fr": "valable 36 heures", "nl": "die 36 uur geldig is", "en": "valid for 36 hours"}),
    ],
    ids=["week", "day", "hours"],
)
@pytest.mark.parametrize("language", LANGUAGES)
def test_activation_mail_gives_the_links_lifetime(
    branding: Branding, hours: int, said: dict[str, str], language: str
) -> None:
    """The activation mail says how long its link works (``activation_ttl_hours``)."""
    renderer = Renderer(replace(branding, activation_hours=hours), MailSettings())
    mail = _render(renderer, "activation", language)
    assert said[language] in mail.text
