"""The mail commands as users run them: send, status, resend, bounces, keygen, demo."""

from __future__ import annotations

import mailbox
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from ecampus_idm.cli import EXIT_CONFIG, EXIT_PARTIAL, main
from ecampus_idm.config import load_config
from ecampus_idm.crypto import DataKey, generate_key
from ecampus_idm.mail.welcome import Addressee, WelcomeDesk
from ecampus_idm.mail.wiring import keyring_from_settings
from ecampus_idm.store import open_store
from ecampus_idm.testing.cli import json_data, json_error

PASSWORD = "Cli-Canary-Pw-6630"


def _config(
    tmp_path: Path,
    transport: str | None = "maildir",
    port: int = 1,
    *,
    flush_after_run: bool = False,
) -> Path:
    path = tmp_path / "ecampus.toml"
    path.write_text(
        f"""
[directory]
url = "ldap://127.0.0.1"
bind_dn = "cn=admin,dc=ecampus,dc=test"
base_dn = "dc=ecampus,dc=test"
bind_password = "unused-here"

[store]
url = "sqlite:///{tmp_path}/state.sqlite3"

[mail]
{"" if transport is None else f'transport = "{transport}"'}
maildir = "{tmp_path}/mail"
keys = ["{generate_key()}"]
flush_after_run = {"true" if flush_after_run else "false"}

[mail.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
timeout_seconds = 2
""",
        "utf-8",
    )
    return path


def _issue(config: Path) -> str:
    """Create an account jean.dupont with its welcome mail queued; return its person id."""
    settings = load_config(config)
    with open_store(settings.store) as store:
        store.reserve_username("jean.dupont", "p1")
        desk = WelcomeDesk(store, keyring_from_settings(settings), settings.mail)
        who = Addressee("p1", "jean.dupont", "Jean Dupont", "jean@example.be")
        with store.transaction():
            store.record_events(
                desk.issue(
                    who, SecretStr(PASSWORD), now=store.start_run("run").started_at, run_id=None
                )
            )
    return "p1"


def _invoke(*args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(main, [*args, "--json"])
    return result.exit_code, json_data(result.stdout) if result.stdout.strip() else {}


def test_keygen_prints_a_usable_key() -> None:
    """`mail keygen` prints a key the configuration accepts."""
    result = CliRunner().invoke(main, ["mail", "keygen"])
    assert result.exit_code == 0
    DataKey.parse(result.stdout.strip())


def test_send_delivers_the_outbox_to_the_maildir(tmp_path: Path) -> None:
    """`mail send` delivers the queued mail once and records a run and the event."""
    config = _config(tmp_path)
    _issue(config)
    code, report = _invoke("mail", "send", "--config", str(config))
    assert (code, report["sent"]) == (0, 1)
    assert _invoke("mail", "send", "--config", str(config))[1]["sent"] == 0
    assert len(mailbox.Maildir(tmp_path / "mail")) == 1
    settings = load_config(config)
    with open_store(settings.store) as store:
        assert [e.kind for e in store.events_for_person("p1")] == ["mail.queued", "mail.sent"]
        assert store.recent_runs(1)[0].kind == "mail.send"


def test_send_without_a_transport_is_a_configuration_error(tmp_path: Path) -> None:
    """No [mail] transport: `mail send` exits 3 naming mail.transport, and writes no file."""
    config = _config(tmp_path, transport=None)
    _issue(config)
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(main, ["mail", "send", "--config", str(config), "--json"])
    assert result.exit_code == EXIT_CONFIG
    assert [p["key"] for p in json_error(result.stdout)["problems"]] == ["mail.transport"]
    assert sorted(tmp_path.rglob("*")) == before  # no maildir, no mail-out
    _, status = _invoke("mail", "status", "--config", str(config))
    assert status["counts"] == {"queued": 1}


def test_send_with_smtp_down_exits_partial_and_keeps_the_mail(tmp_path: Path) -> None:
    """With the server down, `mail send` exits 6 and the mail stays queued."""
    config = _config(tmp_path, transport="smtp", port=1)
    _issue(config)
    code, report = _invoke("mail", "send", "--config", str(config))
    assert code == EXIT_PARTIAL
    assert report["unavailable"]
    code, status = _invoke("mail", "status", "--config", str(config), "--username", "jean.dupont")
    assert status["counts"] == {"queued": 1}  # an outage uses up no attempt
    (message,) = status["person"]["messages"]  # type: ignore[index]
    assert (message["attempts"], message["last_error"][:12]) == (0, "unavailable:")


def test_status_shows_a_person_without_secrets(tmp_path: Path) -> None:
    """`mail status --username` lists the person's mails, masked, without the password."""
    config = _config(tmp_path)
    _issue(config)
    result = CliRunner().invoke(
        main, ["mail", "status", "--config", str(config), "--username", "jean.dupont", "--json"]
    )
    assert result.exit_code == 0
    assert PASSWORD not in result.output
    assert "jean@example.be" not in result.output
    person = json_data(result.stdout)["person"]
    assert [(m["purpose"], m["to"], m["status"]) for m in person["messages"]] == [
        ("welcome", "j***@example.be", "queued")
    ]


def test_resend_sends_the_credentials_again(tmp_path: Path) -> None:
    """`resend --username` sends the same credentials again and records mail.resent."""
    config = _config(tmp_path)
    _issue(config)
    _invoke("mail", "send", "--config", str(config))
    code, report = _invoke("resend", "--config", str(config), "--username", "jean.dupont")
    assert code == 0
    assert report["message"]["purpose"] == "welcome-again"
    assert report["message"]["status"] == "sent"
    box = mailbox.Maildir(tmp_path / "mail")
    assert len(box) == 2
    settings = load_config(config)
    with open_store(settings.store) as store:
        assert "mail.resent" in [e.kind for e in store.events_for_person("p1")]


def test_resend_of_unknown_username_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown username is refused, naming the option."""
    result = CliRunner().invoke(
        main, ["resend", "--config", str(_config(tmp_path)), "--username", "nobody.here"]
    )
    assert result.exit_code == 2
    assert "--username" in result.output


def test_bounces_needs_exactly_one_source(tmp_path: Path) -> None:
    """Without --maildir or --imap the command explains what it needs."""
    result = CliRunner().invoke(main, ["mail", "bounces", "--config", str(_config(tmp_path))])
    assert result.exit_code == 2
    assert "--maildir or --imap" in result.output


def test_bounces_from_a_maildir_mark_the_person(tmp_path: Path) -> None:
    """A DSN in the maildir marks the person's address bouncing and is removed."""
    config = _config(tmp_path)
    _issue(config)
    _invoke("mail", "send", "--config", str(config))
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(
        b"From: MAILER-DAEMON@mx.example.be\nSubject: failure\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        b"Final-Recipient: rfc822; jean@example.be\nAction: failed\nStatus: 5.1.1\n\n--B--\n"
    )
    code, report = _invoke(
        "mail", "bounces", "--config", str(config), "--maildir", str(tmp_path / "bounces")
    )
    assert (code, report["marked"]) == (0, 1)
    assert len(box) == 0
    code, status = _invoke("mail", "status", "--config", str(config), "--username", "jean.dupont")
    assert status["person"]["bouncing_since"] is not None


@pytest.mark.ldap
def test_demo_writes_the_welcome_mails_to_its_maildir(tmp_path: Path) -> None:
    """`ecampus-idm demo` writes one welcome mail per created account with an address."""
    result = subprocess.run(
        [sys.executable, "-m", "ecampus_idm", "demo", "--json", "--people", "100"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json_data(result.stdout)
    written = report["mails"]["written"]
    assert written > 50
    assert written == report["first_run"]["mail"]["sent"]
    assert report["second_run"]["mail"]["sent"] == 0
    assert len(mailbox.Maildir(Path(report["mails"]["maildir"]))) == written


def test_send_refuses_to_overlap_a_running_send(tmp_path: Path) -> None:
    """A second `mail send` while one is running is refused: it could send twice."""
    config = _config(tmp_path)
    _issue(config)
    settings = load_config(config)
    with open_store(settings.store) as store:
        running = store.start_run("mail.send")
    result = CliRunner().invoke(main, ["mail", "send", "--config", str(config), "--json"])
    assert result.exit_code == 1
    assert f"run {running.run_id}" in json_error(result.stdout)["message"]
    assert len(mailbox.Maildir(tmp_path / "mail")) == 0


def test_send_refuses_while_a_flushing_run_is_in_progress(tmp_path: Path) -> None:
    """With flush_after_run, a nightly run in progress will flush: `mail send` waits."""
    config = _config(tmp_path, flush_after_run=True)
    _issue(config)  # leaves its "run" marked running, as a run in progress
    result = CliRunner().invoke(main, ["mail", "send", "--config", str(config), "--json"])
    assert result.exit_code == 1
    assert "« run » (run " in json_error(result.stdout)["message"]
    assert len(mailbox.Maildir(tmp_path / "mail")) == 0


def test_send_ignores_a_run_that_does_not_flush(tmp_path: Path) -> None:
    """Without flush_after_run, a nightly run in progress sends nothing: `mail send` goes."""
    config = _config(tmp_path)
    _issue(config)
    result = CliRunner().invoke(main, ["mail", "send", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert len(mailbox.Maildir(tmp_path / "mail")) == 1
