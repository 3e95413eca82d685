"""The mail commands of ``ecampus-idm``: ``mail send|status|bounces|keygen`` and ``resend``.

Each command loads the configuration, opens the store, records itself as a run
(``mail.send``, ``mail.resend``, ``mail.bounces``) and each message's fate as an event on
the person's timeline (``mail.sent``, ``mail.deferred``, ``mail.failed``,
``mail.resent``, ``mail.bounced``), prints for humans or one JSON document with
``--json``, and exits with the codes of :mod:`ecampus_idm.cli` (6: some mails could not
be sent now and are kept for the next flush).
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ecampus_idm.cli import CONFIG_HELP, EXIT_ERROR, EXIT_PARTIAL, _handled, _Output, default_config
from ecampus_idm.clock import SystemClock, local_text
from ecampus_idm.config import load_config
from ecampus_idm.mail.errors import MailError
from ecampus_idm.store.base import RunStatus, Store

log = logging.getLogger(__name__)

__all__ = ["register"]

# Our own copies of the two shared options: cli.py imports this module at its end, which
# leaves the types of its option objects undetermined for mypy.
_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ECAMPUS_IDM_CONFIG",
    default=default_config,
    help=CONFIG_HELP,
)
IMAP_PASSWORD_VARIABLE = "ECAMPUS_IDM_MAIL_IMAP_PASSWORD"  # noqa: S105 - a variable name


@click.group("mail")
def mail_group() -> None:
    """Courriels de bienvenue / welcome mails: send the outbox, status, bounces."""


@mail_group.command("send")
@_config_option
@click.option("--limit", type=click.IntRange(1), help="Send at most this many messages.")
@click.option("--no-throttle", is_flag=True, help="Ignore the sending rates (tests, catch-up).")
@_json_option
def send_command(
    config_path: Path | None, limit: int | None, no_throttle: bool, as_json: bool
) -> None:
    """Deliver the due messages of the outbox (with a progress bar)."""
    from ecampus_idm.mail.wiring import build_mailer, locked_flush  # noqa: PLC0415 - heavy
    from ecampus_idm.store import open_store  # noqa: PLC0415

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        clock = SystemClock(settings.institution.zone)
        with open_store(settings.store, clock=clock) as store:
            mailer = build_mailer(settings, store, clock, throttle=not no_throttle)
            if mailer is None:
                out.done(
                    {"ok": True, "transport": "none", "sent": 0},
                    lambda c: c.print("Transport « none » : rien n'est envoyé / nothing is sent."),
                )
                return
            _refuse_overlap(store, clock.now(), flush_after_run=settings.mail.flush_after_run)
            bar = Progress(
                TextColumn("Envoi / sending"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=out.console,
                transient=True,
                disable=out.quiet,
            )
            with bar:
                task = bar.add_task("send", total=None)
                run, report = locked_flush(
                    store,
                    mailer,
                    limit=limit,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            status = run.status
        document = {"ok": status is RunStatus.SUCCEEDED, "run_id": run.run_id, **report.to_dict()}

        def human(console: Console) -> None:
            console.print(
                f"{report.sent} envoyé(s) / sent, {report.deferred} reporté(s) / deferred, "
                f"{report.failed} en échec / failed, {report.postponed} différé(s) par le "
                f"débit / throttled — {report.where}"
            )
            if report.unavailable:
                console.print(
                    f"[yellow]Transport indisponible / unavailable: {report.unavailable}. "
                    "Les courriels restent en file / mails are kept.[/]"
                )

        out.done(document, human)
    if status is not RunStatus.SUCCEEDED:
        sys.exit(EXIT_PARTIAL)


def _refuse_overlap(store: Store, now: datetime, *, flush_after_run: bool) -> None:
    """Refuse to flush while another flush (or a flushing nightly run) is in progress."""
    from ecampus_idm.mail.delivery import FLUSH_LOCK_HOURS, running_flush  # noqa: PLC0415

    other = running_flush(store, now, nightly_runs=flush_after_run)
    if other is not None:
        raise MailError(
            f"« {other.kind} » (run {other.run_id}, started {local_text(other.started_at)}) "
            f"is still in progress and sends mail; try again once it has finished (or after "
            f"{FLUSH_LOCK_HOURS} h)"
        )


@mail_group.command("status")
@_config_option
@click.option("--username", help="Show one person's messages.")
@_json_option
def status_command(config_path: Path | None, username: str | None, as_json: bool) -> None:
    """Messages per status; with --username, that person's messages and address state."""
    from ecampus_idm.mail.outbox import open_outbox  # noqa: PLC0415
    from ecampus_idm.mail.wiring import keyring_from_settings  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        with open_store(settings.store) as store:
            outbox = open_outbox(store, keyring_from_settings(settings))
            document: dict[str, Any] = {"ok": True, "counts": outbox.counts()}
            messages: list[dict[str, Any]] = []
            if username is not None:
                record = store.username_record(username)
                if record is None:
                    raise click.BadParameter(
                        f"unknown username {username!r}", param_hint="--username"
                    )
                messages = [m.to_dict() for m in outbox.messages_for(record.person_id)]
                recipient = outbox.recipient(record.person_id)
                document["person"] = {
                    "username": username,
                    "messages": messages,
                    "bouncing_since": recipient.bouncing_since.isoformat()
                    if recipient and recipient.bouncing_since
                    else None,
                    "bounce_reason": recipient.bounce_reason if recipient else None,
                }

        def human(console: Console) -> None:
            counts = document["counts"]
            console.print(
                "Outbox: "
                + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "vide / empty")
            )
            if messages:
                table = Table(title=f"Courriels de / mails of {username}")
                zone = settings.institution.zone
                for column in ("queued", "purpose", "to", "status", "attempts", "error"):
                    table.add_column(column)
                for m in messages:
                    table.add_row(
                        local_text(m["queued_at"], zone),
                        m["purpose"],
                        m["to"],
                        m["status"],
                        str(m["attempts"]),
                        m["last_error"] or "",
                    )
                console.print(table)

        out.done(document, human)


@mail_group.command("bounces")
@_config_option
@click.option(
    "--maildir", type=click.Path(file_okay=False, path_type=Path), help="Maildir of DSNs."
)
@click.option("--imap", "imap_host", help="IMAP server (TLS, port 993) of the bounce mailbox.")
@click.option("--imap-user", help="IMAP login.")
@click.option("--imap-folder", default="INBOX", show_default=True)
@click.option(
    "--imap-ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CA bundle the IMAP server's certificate is checked against (default: the system's).",
)
@click.option("--keep", is_flag=True, help="Leave processed reports in the maildir.")
@_json_option
def bounces_command(  # noqa: PLR0917 - click passes every option as an argument
    config_path: Path | None,
    maildir: Path | None,
    imap_host: str | None,
    imap_user: str | None,
    imap_folder: str,
    imap_ca_file: Path | None,
    keep: bool,
    as_json: bool,
) -> None:
    """Read delivery reports (DSN) and mark bouncing addresses on the people.

    The IMAP password is read from ECAMPUS_IDM_MAIL_IMAP_PASSWORD.
    """
    import mailbox  # noqa: PLC0415

    from ecampus_idm.mail.bounces import imap_reports, maildir_reports, process  # noqa: PLC0415
    from ecampus_idm.mail.outbox import open_outbox  # noqa: PLC0415
    from ecampus_idm.mail.wiring import keyring_from_settings  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415

    if (maildir is None) == (imap_host is None):
        raise click.UsageError("give exactly one of --maildir or --imap")
    if imap_host is not None and (not imap_user or IMAP_PASSWORD_VARIABLE not in os.environ):
        raise click.UsageError(f"--imap needs --imap-user and {IMAP_PASSWORD_VARIABLE}")
    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        clock = SystemClock(settings.institution.zone)
        with open_store(settings.store, clock=clock) as store:
            run = store.start_run("mail.bounces")
            outbox = open_outbox(store, keyring_from_settings(settings))
            if maildir is not None:
                reports = list(maildir_reports(maildir))
            else:
                reports = list(
                    imap_reports(
                        imap_host or "",
                        username=imap_user or "",
                        password=SecretStr(os.environ[IMAP_PASSWORD_VARIABLE]),
                        folder=imap_folder,
                        ca_file=imap_ca_file,
                    )
                )
            report = process(reports, outbox=outbox, store=store, clock=clock, run_id=run.run_id)
            if maildir is not None and not keep:
                box = mailbox.Maildir(maildir, create=False)
                for _, key in reports:
                    box.discard(key)
            store.finish_run(run.run_id, RunStatus.SUCCEEDED, counts=report.to_dict())
        document = {"ok": True, "run_id": run.run_id, **report.to_dict()}
        out.done(
            document,
            lambda c: c.print(
                f"{report.reports} rapport(s) lus / reports read, {report.marked} adresse(s) "
                f"marquée(s) / addresses marked, {report.unmatched} sans correspondance / "
                "unmatched."
            ),
        )


@mail_group.command("keygen")
@_json_option
def keygen_command(as_json: bool) -> None:
    """Print a new mail encryption key (add it last to mail.keys to rotate).

    Only the key goes to stdout (``KEY=$(ecampus-idm mail keygen)``); the hint goes to stderr.
    """
    from ecampus_idm.crypto import generate_key  # noqa: PLC0415

    key = generate_key()

    def human(console: Console) -> None:
        del console
        click.echo(key)
        click.echo(
            "Ajoutez-la en dernier à mail.keys / append it to mail.keys (rotation: rewrap)",
            err=True,
        )

    _Output(as_json).done({"ok": True, "key": key}, human)


def _changed_in_directory(settings: Any, desk: Any, person_id: str, username: str) -> bool:
    """Whether the held initial password of ``username`` was changed in the directory.

    Best effort: without a reachable directory the custody stays as the last run left it
    (each nightly run makes the same check).
    """
    from ecampus_idm.directory import open_directory  # noqa: PLC0415 - ldap3 stays lazy
    from ecampus_idm.errors import IdmError  # noqa: PLC0415
    from ecampus_idm.passwords.vocabulary import (  # noqa: PLC0415
        AccountVocabulary,
        InitialPasswordState,
    )

    secret = desk.custody.reveal(person_id)
    if secret is None:
        return False
    words = AccountVocabulary.for_directory(settings.directory)
    try:
        with open_directory(settings.directory) as directory:
            found = list(
                directory.search(
                    settings.directory.people_dn,
                    words.username_filter(username),
                    attributes=words.attributes(),
                )
            )
            if len(found) != 1:
                return False
            entry = found[0]
            state = words.initial_password_state(entry.get)
            if state is InitialPasswordState.UNSURE:
                return words.still_initial(directory, entry.dn, secret) is False
            return state is InitialPasswordState.CHANGED
    except IdmError as exc:
        log.warning("resend: the directory could not be read (%s)", type(exc).__name__)
        return False


@click.command("resend")
@_config_option
@click.option("--username", required=True, help="The account whose credentials to resend.")
@click.option("--no-send", is_flag=True, help="Only queue it; the next `mail send` delivers it.")
@_json_option
def resend_command(config_path: Path | None, username: str, no_send: bool, as_json: bool) -> None:
    """Support: send the credentials again to the last known personal address.

    The same initial password while the user has not chosen one; otherwise a mail
    explaining « Mot de passe oublié ».
    """
    from ecampus_idm.mail.welcome import Addressee, WelcomeDesk  # noqa: PLC0415
    from ecampus_idm.mail.wiring import build_mailer, keyring_from_settings  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        clock = SystemClock(settings.institution.zone)
        with open_store(settings.store, clock=clock) as store:
            record = store.username_record(username)
            if record is None or record.tombstoned:
                raise click.BadParameter(f"no live account {username!r}", param_hint="--username")
            desk = WelcomeDesk(store, keyring_from_settings(settings), settings.mail)
            previous = desk.outbox.messages_for(record.person_id)
            name = previous[-1].display_name if previous else username
            run = store.start_run("mail.resend")
            with store.transaction():
                if _changed_in_directory(settings, desk, record.person_id, username):
                    # Never resend a password the entry no longer has: the reset hint.
                    store.record_events(
                        [
                            desk.password_changed(
                                record.person_id, now=clock.now(), run_id=run.run_id
                            )
                        ]
                    )
                message, events = desk.resend(
                    Addressee(record.person_id, username, name, None),
                    now=clock.now(),
                    run_id=run.run_id,
                )
                store.record_events(events)
            if message is None:
                store.finish_run(run.run_id, RunStatus.FAILED, message="no personal address known")
                out.done(
                    {"ok": False, "reason": "no_address"},
                    lambda c: c.print(
                        "[red]Aucune adresse personnelle connue / no personal address known.[/]"
                    ),
                )
                sys.exit(EXIT_ERROR)
            flushed: dict[str, Any] | None = None
            mailer = None if no_send else build_mailer(settings, store, clock, throttle=False)
            if mailer is not None:
                flushed = mailer.flush(run_id=run.run_id).to_dict()
            store.finish_run(run.run_id, RunStatus.SUCCEEDED, counts={"queued": 1})
            sent = desk.outbox.get(message.message_id)
        document = {
            "ok": True,
            "run_id": run.run_id,
            "message": (sent or message).to_dict(),
            "flush": flushed,
        }
        out.done(
            document,
            lambda c: c.print(
                f"{(sent or message).purpose.value} → {message.to_masked}: "
                f"{(sent or message).status.value}"
            ),
        )


def register(main: click.Group) -> None:
    """Add the mail commands to the ``ecampus-idm`` group."""
    main.add_command(mail_group)
    main.add_command(resend_command)
