"""The ``ecampus-idm passwords`` commands: ``check``, ``process``, ``purge``, ``keygen``.

Registered on the main group by :func:`register` (one line at the end of
:mod:`ecampus_idm.cli`). Exit codes are those of the main command: 0 ok, 1 error (a
password that breaks a rule, mail switched off), 2 usage, 3 configuration, 4 directory
unavailable, 6 partial (``process --send`` whose transport failed: the mails stay queued).

A password to check is read from standard input or a hidden prompt, never from the
command line (it would stay in the shell history and the process list).
"""

from __future__ import annotations

import base64
import secrets
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import SecretStr
from rich.console import Console

from ecampus_idm.cli import CONFIG_HELP, EXIT_PARTIAL, _handled, _Output, default_config
from ecampus_idm.clock import SystemClock
from ecampus_idm.config import load_config
from ecampus_idm.passwords.quality import check_user_password
from ecampus_idm.passwords.settings import MIN_KEY_BYTES, QualitySettings

__all__ = ["register"]

_F = TypeVar("_F", bound=Callable[..., Any])

# The main module's option decorators, restated here with their types: importing them from
# ecampus_idm.cli (which imports this module at its end) leaves mypy unable to type them.
_json_option: Callable[[_F], _F] = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document."
)
_config_option: Callable[[_F], _F] = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ECAMPUS_IDM_CONFIG",
    default=default_config,
    help=CONFIG_HELP,
)


@click.group("passwords")
def passwords_group() -> None:
    """Mots de passe : qualité, demandes « mot de passe oublié » / passwords and resets."""


@passwords_group.command("check")
@_config_option
@click.option("--username", default="", help="The account's login (a context word).")
@click.option("--name", "names", multiple=True, help="A name of the person (repeatable).")
@click.option("--school", "schools", multiple=True, help="A school name (repeatable).")
@click.option("--population", default=None, help="student, faculty, staff... (length floor).")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from stdin.")
@_json_option
def check_command(  # noqa: PLR0917 - click passes every option as an argument
    config_path: Path | None,
    username: str,
    names: tuple[str, ...],
    schools: tuple[str, ...],
    population: str | None,
    from_stdin: bool,
    as_json: bool,
) -> None:
    """Vérifie un mot de passe choisi / check a chosen password against the rules."""
    out = _Output(as_json)
    with _handled(out):
        rules = QualitySettings()
        if config_path:
            settings = load_config(config_path)
            # The group's school names are words an attacker tries first.
            rules = settings.passwords.quality.with_known_words(s.name for s in settings.schools)
        if from_stdin:
            value = sys.stdin.readline().rstrip("\r\n")
        else:
            value = click.prompt("Mot de passe / password", hide_input=True, err=True)
        result = check_user_password(
            SecretStr(value),
            settings=rules,
            username=username,
            names=names,
            schools=schools,
            population=population,
        )
        document = {
            "ok": result.ok,
            "min_length": result.min_length,
            "max_length": result.max_length,
            "problems": [{"code": p.code, "fr": p.fr, "en": p.en} for p in result.problems],
        }

        def human(console: Console) -> None:
            if result.ok:
                console.print("[green]Mot de passe accepté / password accepted[/]")
            for problem in result.problems:
                console.print(f"[red]✗[/] {problem.fr}\n  [dim]{problem.en}[/]", highlight=False)

        out.done(document, human)
        if not result.ok:
            sys.exit(1)


@passwords_group.command("process")
@_config_option
@click.option("--limit", type=click.IntRange(1, 100_000), default=None, help="Requests at most.")
@click.option(
    "--send",
    is_flag=True,
    help="Also send the outbox (the reset worker: look up, queue, send; see ecampus_idm.portal).",
)
@_json_option
def process_command(config_path: Path | None, limit: int | None, send: bool, as_json: bool) -> None:
    """Traite les demandes en attente / look up pending requests and mail the links."""
    from ecampus_idm.portal import reset_service, run_reset_worker  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415 - SQLAlchemy stays lazy

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        flush: dict[str, Any] | None = None
        if send:
            worker = run_reset_worker(settings, limit=limit)
            report, complete = worker.lookup, worker.complete
            flush = worker.as_dict()["flush"]
        else:
            with open_store(settings.store) as store, reset_service(settings, store) as service:
                report, complete = service.process_pending(limit=limit), True
        document: dict[str, Any] = {"ok": complete, **report.as_dict()}
        if send:
            document["flush"] = flush

        def human(console: Console) -> None:
            suppressed = ", ".join(f"{k} {v}" for k, v in sorted(report.suppressed.items()))
            console.print(
                f"Demandes / requests: {report.requests} — courriels / mails: {report.mailed}"
                f" — ignorées / suppressed: {suppressed or '0'}"
                f" — reportées / deferred: {report.deferred}"
            )
            if send:
                console.print(
                    "Envoi / sending: "
                    + (
                        "un autre envoi est en cours, il les enverra / another flush is"
                        " running and will send them"
                        if flush is None
                        else f"{flush['sent']} envoyé(s) / sent, {flush['deferred']} reporté(s)"
                        f" / deferred, {flush['failed']} en échec / failed"
                    )
                )

        out.done(document, human)
    if not complete:
        sys.exit(EXIT_PARTIAL)


@passwords_group.command("purge")
@_config_option
@_json_option
def purge_command(config_path: Path | None, as_json: bool) -> None:
    """Efface les demandes et liens anciens / delete requests, links and audit past retention."""
    from ecampus_idm.passwords.service import repository_for  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415 - SQLAlchemy stays lazy

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        clock = SystemClock()
        before = clock.now() - timedelta(days=settings.passwords.retention_days)
        with open_store(settings.store, clock=clock) as store:
            removed = repository_for(store).purge(before)
        out.done(
            {"ok": True, "removed": removed, "before": before.isoformat()},
            lambda console: console.print(f"Lignes effacées / rows deleted: {removed}"),
        )


@passwords_group.command("keygen")
@_json_option
def keygen_command(as_json: bool) -> None:
    """Crée une clé de jetons / print a new token key for passwords.token_keys."""
    key = base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode("ascii")

    def human(console: Console) -> None:
        del console
        click.echo(key)  # only the key on stdout: KEY=$(ecampus-idm passwords keygen)
        click.echo("Ajoutez-la en tête de passwords.token_keys / prepend it", err=True)

    _Output(as_json).done({"ok": True, "key": key}, human)


def register(main: click.Group) -> None:
    """Add the ``passwords`` group to the main command."""
    main.add_command(passwords_group)
