"""Templates and MIME: every language, every purpose, the headers receivers expect."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.mail.errors import TemplateError
from ecampus_idm.mail.render import Branding, Renderer
from ecampus_idm.mail.settings import MailSettings, PopulationMail

PASSWORD = SecretStr("tirage-Pw-4471")


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_welcome_names_username_password_platform(renderer: Renderer, language: str) -> None:
    """The welcome mail holds the username, the password, the platform and the address."""
    mail = renderer.render(
        purpose="welcome",
        language=language,
        username="jean.dupont",
        display_name="Jean Dupont",
        password=PASSWORD,
    )
    for body in (mail.text, mail.html):
        assert "jean.dupont" in body
        assert "tirage-Pw-4471" in body
        assert "https://ecampus.condorcet.be/" in body
        assert "jean.dupont@condorcet.be" in body
    assert "jean.dupont" in mail.subject


def test_french_is_the_default(renderer: Renderer) -> None:
    """An unknown language falls back to French."""
    mail = renderer.render(
        purpose="welcome", language="de", username="a.b", display_name="A B", password=PASSWORD
    )
    assert mail.text.startswith("Bonjour")


def test_html_escapes_names(renderer: Renderer) -> None:
    """A name from the sources cannot inject HTML."""
    mail = renderer.render(
        purpose="welcome",
        language="fr",
        username="a.b",
        display_name="<script>x</script>",
        password=PASSWORD,
    )
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html


def test_activation_mail_has_the_link_and_no_password(renderer: Renderer) -> None:
    """The activation mail carries the link instead of a password."""
    mail = renderer.render(
        purpose="activation",
        language="fr",
        username="a.b",
        display_name="A B",
        activation_url="https://ecampus.condorcet.be/activate/tok",
    )
    assert "https://ecampus.condorcet.be/activate/tok" in mail.text
    assert "Mot de passe initial" not in mail.text


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_reset_hint_explains_forgot_password(renderer: Renderer, language: str) -> None:
    """Without a password to resend, the mail explains « Mot de passe oublié »."""
    mail = renderer.render(
        purpose="reset-hint", language=language, username="a.b", display_name="A"
    )
    assert "Mot de passe oublié" in mail.text
    assert "a.b" in mail.text


def test_welcome_again_says_the_address_changed(renderer: Renderer) -> None:
    """A resend after a correction says why it comes."""
    mail = renderer.render(
        purpose="welcome-again", language="fr", username="a.b", display_name="A", password=PASSWORD
    )
    assert "mise à jour" in mail.text
    assert mail.subject.startswith("Vos nouveaux accès")


def test_population_language_and_templates_override(tmp_path: Path, branding: Branding) -> None:
    """A population's own language and templates are used first."""
    folder = tmp_path / "staff" / "welcome"
    folder.mkdir(parents=True)
    (folder / "nl.txt.j2").write_text('{% set subject = "Personeel" %}Dag {{ username }}\n')
    (folder / "nl.html.j2").write_text("<p>Dag {{ username }}</p>\n")
    settings = MailSettings(
        templates_dir=tmp_path,
        populations={"teacher": PopulationMail(language="nl", template_prefix="staff")},
    )
    renderer = Renderer(branding, settings)
    language = renderer.language_for("teacher")
    mail = renderer.render(
        purpose="welcome",
        language=language,
        username="a.b",
        display_name="A",
        population="teacher",
        password=PASSWORD,
    )
    assert (language, mail.subject, mail.text) == ("nl", "Personeel", "Dag a.b\n")


def test_missing_template_is_a_template_error(renderer: Renderer) -> None:
    """A purpose without templates fails with the template named."""
    with pytest.raises(TemplateError, match="nothing/fr"):
        renderer.render(purpose="nothing", language="fr", username="a", display_name="A")


def test_long_accented_subject_folds_without_a_leading_space(renderer: Renderer) -> None:
    """A long non-ASCII subject starts on the Subject line and decodes exactly."""
    rendered = renderer.render(
        purpose="welcome",
        language="fr",
        username="jean-philippe.vandenbroucke",
        display_name="Jean-Philippe Vandenbroucke",
        password=PASSWORD,
    )
    message = renderer.compose(
        rendered,
        to_address="jp@example.be",
        to_name="Jean-Philippe Vandenbroucke",
        message_id="q" * 26,
        now=datetime(2026, 9, 2, 2, 0, tzinfo=UTC),
        language="fr",
    )
    raw = message.as_bytes()
    assert b"\nSubject: =?utf-8?" in raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == rendered.subject
    assert rendered.subject.startswith("Vos accès")


def test_composed_message_has_the_expected_headers(renderer: Renderer) -> None:
    """Date, Message-ID, From, Reply-To and both alternatives are present."""
    rendered = renderer.render(
        purpose="welcome",
        language="fr",
        username="a.b",
        display_name="Élodie Ab",
        password=PASSWORD,
    )
    message = renderer.compose(
        rendered,
        to_address="elodie@example.be",
        to_name="Élodie Ab",
        message_id="q" * 26,
        now=datetime(2026, 9, 2, 2, 0, tzinfo=UTC),
        language="fr",
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == f"<{'q' * 26}@condorcet.be>"
    assert parsed["Date"] == "Wed, 02 Sep 2026 02:00:00 +0000"
    assert parsed["From"] == "Haute-Ecole Condorcet <no-reply@condorcet.be>"
    assert parsed["Reply-To"] == "support@condorcet.be"
    assert parsed["Content-Language"] == "fr"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
