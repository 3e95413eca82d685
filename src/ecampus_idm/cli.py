"""The ``ecampus-idm`` command: parse, load the configuration, wire objects, print.

Every command prints for humans by default (rich) and a single JSON document with
``--json``, for scripts, always in one envelope::

    {"ok": true, "command": "mail send", "data": {...}, "errors": []}

``data`` is the command's result; ``ok`` is false when that result is not a success (a
held plan, a partial run: the reasons are in ``data``, the exit code says which). When the
command stopped before having a result, ``data`` is ``null`` and ``errors`` says why, each
error ``{"type", "message", "exit_code"}`` (and ``problems`` for a configuration error). A
usage error with ``--json`` is an envelope too. Progress and hints go to stderr. Exit codes
are stable:

====  ========================================================
0     success
1     an ecampus-idm error not covered below
2     usage error (bad option), as click reports it
3     configuration error (file, key and expectation printed)
4     directory unavailable (URL and reason printed)
5     plan held by a safety budget (review, then ``--approve HASH``)
6     partial: applied with per-entry failures, or interrupted
====  ========================================================
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import shutil
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.tree import Tree

from ecampus_idm import __version__
from ecampus_idm.clock import Clock, SystemClock, local_text
from ecampus_idm.config import Settings, load_config
from ecampus_idm.directory.base import Directory, Scope
from ecampus_idm.directory.dn import dn_path
from ecampus_idm.errors import ConfigError, DirectoryUnavailableError, IdmError
from ecampus_idm.files import write_private

if TYPE_CHECKING:
    from ecampus_idm.runner import NightlyRun, RunReport
    from ecampus_idm.sync.review import EntryDiff

__all__ = [
    "CONFIG_HELP",
    "DEFAULT_CONFIG_PATH",
    "EXIT_CONFIG",
    "EXIT_DIRECTORY",
    "EXIT_ERROR",
    "EXIT_HELD",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "configure_logging",
    "default_config",
    "main",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 3
EXIT_DIRECTORY = 4
EXIT_HELD = 5
EXIT_PARTIAL = 6

_OUR_SCHEMA = ("eduPerson", "schacContactLocation", "schacLinkageIdentifiers", "ecampusPerson")


def _command_name() -> str:
    """The running command's path without the program's name (``mail send``)."""
    context = click.get_current_context(silent=True)
    return "" if context is None else _below_root(context)


def _quiet() -> bool:
    """Whether ``-q`` was given to the root command (no progress bars then)."""
    context = click.get_current_context(silent=True)
    root = context.find_root().obj if context is not None else None
    return bool(root.get("quiet")) if isinstance(root, dict) else False


def _below_root(context: click.Context) -> str:
    """``mail send`` whether the program ran as ``ecampus-idm`` or ``python -m ecampus_idm``."""
    root = context.find_root().command_path
    return context.command_path[len(root) :].strip()


def _envelope(
    ok: bool, data: dict[str, Any] | None, errors: list[dict[str, Any]], command: str
) -> str:
    """The one JSON document of a ``--json`` command."""
    document = {"ok": ok, "command": command, "data": data, "errors": errors}
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)


class _Output:
    """Where a command writes: rich for humans, one JSON envelope for scripts."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(stderr=as_json)
        self.command = _command_name()
        self.quiet = as_json or _quiet()

    def done(self, document: dict[str, Any], human: Callable[[Console], None]) -> None:
        """Print the result: ``document`` is the envelope's data, its ``ok`` the envelope's."""
        if self.as_json:
            data = dict(document)
            ok = bool(data.pop("ok", True))
            click.echo(_envelope(ok, data, [], self.command))
        else:
            human(self.console)

    def fail(self, error: IdmError, code: int) -> None:
        """Print ``error`` (its type and message, never a secret) and exit with ``code``."""
        if self.as_json:
            detail: dict[str, Any] = {
                "type": type(error).__name__,
                "message": str(error),
                "exit_code": code,
            }
            if isinstance(error, ConfigError):
                detail["problems"] = [
                    {"source": s, "key": k, "expected": e} for s, k, e in error.problems
                ]
            click.echo(_envelope(False, None, [detail], self.command))
        else:
            self.console.print(f"[bold red]Erreur / Error:[/] {error}", highlight=False)
        sys.exit(code)


class _Main(click.Group):
    """The root group: a usage error under ``--json`` is printed as an envelope too."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        arguments = kwargs.get("args", args[0] if args else None)
        arguments = sys.argv[1:] if arguments is None else list(arguments)
        if "--json" not in arguments or kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            return super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.UsageError as exc:
            command = _below_root(exc.ctx) if exc.ctx else ""
            detail = {"type": "UsageError", "message": exc.format_message(), "exit_code": 2}
            click.echo(_envelope(False, None, [detail], command))
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)


@contextmanager
def _handled(out: _Output) -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        out.fail(exc, EXIT_CONFIG)
    except DirectoryUnavailableError as exc:
        out.fail(exc, EXIT_DIRECTORY)
    except IdmError as exc:
        out.fail(exc, EXIT_ERROR)


_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
DEFAULT_CONFIG_PATH: Path = Path("/etc/ecampus-idm/ecampus-idm.toml")
"""The configuration read when neither ``--config`` nor ``ECAMPUS_IDM_CONFIG`` names one."""

CONFIG_HELP: str = (
    "TOML configuration file (or ECAMPUS_IDM_CONFIG; by default "
    f"{DEFAULT_CONFIG_PATH} when it exists, else the environment only)."
)


def default_config() -> Path | None:
    """:data:`DEFAULT_CONFIG_PATH` if that file exists (``--config``'s default)."""
    path = DEFAULT_CONFIG_PATH
    return path if path.is_file() else None


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ECAMPUS_IDM_CONFIG",
    default=default_config,
    help=CONFIG_HELP,
)

_LOG_HANDLER = "ecampus-idm-cli"
_LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (not at creation)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        del value  # always the current stderr


def configure_logging(verbosity: int, log_format: str = "text") -> None:
    """Send the library's logs to stderr at the level ``-v``/``-q`` chose.

    Args:
        verbosity: ``-1`` (``-q``: errors only), ``0`` (warnings, the default), ``1``
            (``-v``: what each step did), ``2`` or more (``-vv``: debugging).
        log_format: ``text`` (one readable line) or ``json`` (one JSON object per line:
            ``level``, ``logger``, ``message``, ``timestamp`` in ISO 8601 UTC, and any
            ``extra`` fields), for journald or a log collector.
    """
    logger = logging.getLogger("ecampus_idm")
    for handler in list(logger.handlers):
        if handler.get_name() == _LOG_HANDLER:
            logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.set_name(_LOG_HANDLER)
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter  # noqa: PLC0415 - only when asked

        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp=True,
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = _LEVELS.get(verbosity, logging.DEBUG)
    handler.setLevel(level)
    logger.addHandler(handler)
    # Below WARNING the logger itself must let records through; otherwise it is left to
    # the application (NOTSET: the root logger's level), e.g. pytest's caplog.
    logger.setLevel(level if level < logging.WARNING else logging.NOTSET)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecampus-idm")
@click.option("-v", "--verbose", count=True, help="More detail in the logs (-vv: debugging).")
@click.option("-q", "--quiet", is_flag=True, help="Errors only: no warnings, no progress bars.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="ECAMPUS_IDM_LOG_FORMAT",
    show_default=True,
    help="Logs on stderr as text or one JSON object per line (or ECAMPUS_IDM_LOG_FORMAT).",
)
@click.pass_context
def main(context: click.Context, verbose: int, quiet: bool, log_format: str) -> None:
    """ecampus-idm: accounts for the eCampus of a Belgian school group.

    Shell completion (bash, zsh, fish): eval "$(_ECAMPUS_IDM_COMPLETE=bash_source ecampus-idm)".
    """
    context.obj = {"quiet": quiet}
    configure_logging(-1 if quiet else verbose, log_format)


# -- config ----------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@_config_option
@_json_option
def config_show(config_path: Path | None, as_json: bool) -> None:
    """Load and validate the configuration, then print it (secrets masked)."""
    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        out.done(
            {"ok": True, "config": settings.model_dump(mode="json")},
            lambda console: _print_settings(console, settings),
        )


# -- directory -------------------------------------------------------------------------


@main.group("directory")
def directory_group() -> None:
    """Talk to the target directory."""


@directory_group.command("check")
@_config_option
@_json_option
def directory_check(config_path: Path | None, as_json: bool) -> None:
    """Connect, secure and bind; report the base tree and what our schema offers."""
    out = _Output(as_json)
    with _handled(out):
        from ecampus_idm.directory import open_directory  # noqa: PLC0415 - keeps ldap3 lazy

        settings = load_config(config_path)
        with open_directory(settings.directory) as directory:
            report = _describe_directory(directory, settings)
        out.done(report, lambda console: _print_directory(console, report))


# -- demo ------------------------------------------------------------------------------


# -- the nightly job ---------------------------------------------------------------------


class _RichProgress:
    """Progress bars for the runner's long steps (on stderr, so --json stays clean)."""

    _LABELS: ClassVar[dict[str, str]] = {
        "sources": "Sources",
        "policies": "Politiques / policies",
        "directory": "Annuaire / directory",
        "apply": "Application / apply",
    }

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, step: str, done: int, total: int | None) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(self._LABELS.get(step, step), total=total)
        self.progress.update(self.tasks[step], completed=done, total=total)


@contextmanager
def _nightly(
    settings: Settings, clock: Clock, console: Console, *, quiet: bool
) -> Iterator[NightlyRun]:
    """Open the store, the directory and the sources; yield the wired run; close them."""
    from ecampus_idm.connectors import open_connectors  # noqa: PLC0415 - heavy, CLI only
    from ecampus_idm.directory import open_directory  # noqa: PLC0415
    from ecampus_idm.runner import NightlyRun  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415

    if settings.sources is None:
        raise ConfigError("configuration", "sources", "a [sources] section with connectors")
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    )
    with (
        open_store(settings.store, clock=clock) as store,
        open_directory(settings.directory) as directory,
        open_connectors(settings.sources) as connectors,
        progress,
    ):
        yield NightlyRun(
            settings,
            clock=clock,
            store=store,
            directory=directory,
            connectors=connectors,
            progress=_RichProgress(progress),
        )


_EXIT_BY_STATUS = {"succeeded": EXIT_OK, "held": EXIT_HELD, "partial": EXIT_PARTIAL}


def _finish_run(out: _Output, report: RunReport) -> None:
    out.done(report.to_dict(), lambda console: _print_run(console, report))
    code = _EXIT_BY_STATUS.get(report.status.value, EXIT_ERROR)
    if code:
        sys.exit(code)


def _configured_run(
    config_path: Path | None, as_json: bool, action: Callable[[NightlyRun], RunReport]
) -> tuple[_Output, RunReport]:
    """Load the configuration, wire the nightly run, and do ``action`` with it."""
    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        clock = SystemClock(settings.institution.zone)
        with _nightly(settings, clock, out.console, quiet=out.quiet) as job:
            return out, action(job)
    raise AssertionError("unreachable: _handled exits on error")  # pragma: no cover


@main.command("run")
@_config_option
@click.option("--approve", metavar="HASH", help="Apply a held plan, if it is still this one.")
@_json_option
def run_command(config_path: Path | None, approve: str | None, as_json: bool) -> None:
    """The nightly job: sources → policies → plan → apply, recorded in the store."""
    out, report = _configured_run(config_path, as_json, lambda job: job.run(approve=approve))
    _finish_run(out, report)


@main.command("apply")
@_config_option
@click.option("--approve", metavar="HASH", help="The hash of the reviewed plan.")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The reviewed plan, as plan --out saved it: applied only if still exactly valid.",
)
@_json_option
def apply_command(
    config_path: Path | None, approve: str | None, plan_file: Path | None, as_json: bool
) -> None:
    """Apply the reviewed plan: recomputed, and applied only if its hash is still HASH.

    With --plan FILE the hash is the saved plan's (checked against its content); today's
    plan must be that one, preconditions included, or nothing is written (exit 5).
    """
    context = click.get_current_context()
    if plan_file is None:
        if approve is None:
            raise click.UsageError("give --plan FILE (from plan --out) or --approve HASH", context)
        out, report = _configured_run(config_path, as_json, lambda job: job.run(approve=approve))
        _finish_run(out, report)
        return
    from ecampus_idm.sync.review import load_plan  # noqa: PLC0415 - the sync engine, lazily

    with _handled(_Output(as_json)):
        reviewed = load_plan(plan_file)  # before anything is read: a bad file changes nothing
    if approve is not None and approve != reviewed.hash:
        raise click.UsageError(
            f"--approve is not the hash of {plan_file}: {reviewed.hash}", context
        )
    out, report = _configured_run(
        config_path,
        as_json,
        lambda job: job.apply_reviewed(reviewed, origin=str(plan_file)),
    )
    _finish_run(out, report)


@main.command("plan")
@_config_option
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the whole plan (every operation) to this file, owner-only.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["json", "ldif"]),
    default="json",
    show_default=True,
    help="What --out writes: the plan (for apply --plan) or an LDIF for ldapmodify.",
)
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Show each change per entry, attribute by attribute (secrets masked).",
)
@_json_option
def plan_command(
    config_path: Path | None,
    out_file: Path | None,
    out_format: str,
    show_diff: bool,
    as_json: bool,
) -> None:
    """Compute today's plan without writing anything (the dry run)."""
    if out_format == "ldif" and out_file is None:
        raise click.UsageError("--format ldif needs --out FILE", click.get_current_context())
    ldif: list[str] = []

    def dry_run(job: NightlyRun) -> RunReport:
        found = job.plan()
        if out_format == "ldif" and found.plan is not None:
            ldif.append(job.plan_ldif(found.plan))
        return found

    out, report = _configured_run(config_path, as_json, dry_run)
    if out_file is not None and report.plan is not None:
        content = ldif[0] if ldif else report.plan.to_json()
        write_private(out_file, content.encode("utf-8"))  # names, addresses
    document = report.to_dict()
    diff = _plan_diff(report) if show_diff else None
    if diff is not None:
        document["diff"] = [entry.to_dict() for entry in diff]

    def human(console: Console) -> None:
        _print_run(console, report)
        if diff is not None:
            _print_diff(console, diff)

    out.done(document, human)
    if report.plan is not None and report.plan.held:
        sys.exit(EXIT_HELD)


def _plan_diff(report: RunReport) -> tuple[EntryDiff, ...]:
    """The plan's changes per entry (empty without a plan)."""
    from ecampus_idm.sync.review import plan_diff  # noqa: PLC0415 - the sync engine, lazily

    return plan_diff(report.plan) if report.plan is not None else ()


def _print_diff(console: Console, diff: tuple[EntryDiff, ...]) -> None:
    """Print the diff as is: DNs and values are not rich markup."""
    from ecampus_idm.sync.review import diff_lines  # noqa: PLC0415

    for line in diff_lines(diff) or ["(aucun changement / no change)"]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@main.group("sources")
def sources_group() -> None:
    """Read the sources without changing anything."""


@sources_group.command("check")
@_config_option
@_json_option
def sources_check(config_path: Path | None, as_json: bool) -> None:
    """Read, check and validate every source; print the quarantine report (nothing recorded).

    For secretariats and the personnel office: each set-aside row with its file, line,
    field and reason (French and English), and every source refused as a whole.
    """
    from ecampus_idm.connectors import open_connectors  # noqa: PLC0415 - heavy, CLI only
    from ecampus_idm.identity import Pseudonymiser, load_population  # noqa: PLC0415
    from ecampus_idm.runner import ReadOnlyLedger  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        if settings.sources is None:
            raise ConfigError("configuration", "sources", "a [sources] section with connectors")
        clock = SystemClock(settings.institution.zone)
        with (
            open_store(settings.store, clock=clock) as store,
            open_connectors(settings.sources) as connectors,
        ):
            population = load_population(
                connectors,
                Pseudonymiser(settings.sources.pseudonym_key),
                clock=clock,
                schools=settings.schools,
                ledger=ReadOnlyLedger(store),
            )
        report = population.report
        document = {
            "ok": population.complete,
            "people": len(population.people),
            "accepted": sorted(population.accepted),
            "reviews": len(population.reviews),
            "report": report.as_dict(),
        }

        def human(console: Console) -> None:
            console.print(report.to_rich())
            console.print(
                f"{len(population.people)} personnes / people; "
                f"sources acceptées / accepted: {', '.join(sorted(population.accepted)) or '-'}"
            )

        out.done(document, human)
        if not population.complete:
            sys.exit(EXIT_PARTIAL)


@main.command("sample")
@click.option("--people", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option(
    "--year",
    type=click.IntRange(2000, 2200),
    default=None,
    help="Academic year of the enrolments (start year; default: the one under way).",
)
@_json_option
def sample_command(people: int, out_dir: Path, seed: int, year: int | None, as_json: bool) -> None:
    """Write synthetic but realistic exports (and their sources.toml) into a folder."""
    from ecampus_idm.connectors import write_sample  # noqa: PLC0415

    out = _Output(as_json)
    with _handled(out):
        summary = write_sample(out_dir, people, seed, academic_year=year or _academic_year())
        document = {"ok": True, **summary.as_dict()}

        def human(console: Console) -> None:
            table = Table(title=f"{summary.people} personnes / people → {summary.out_dir}")
            table.add_column("source")
            table.add_column("lignes / rows", justify="right")
            for name, rows in summary.rows.items():
                table.add_row(name, str(rows))
            console.print(table)
            console.print(
                f"Lignes défectueuses / bad rows: {summary.total_bad_rows}; "
                f"config: {summary.config}"
            )

        out.done(document, human)


@main.command("status")
@_config_option
@click.option("--runs", type=click.IntRange(1, 200), default=10, show_default=True)
@_json_option
def status_command(config_path: Path | None, runs: int, as_json: bool) -> None:
    """Recent runs, accounts per status and the last accepted export of each source."""
    from ecampus_idm.store import open_store  # noqa: PLC0415

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        zone = settings.institution.zone
        with open_store(settings.store) as store:
            recent = store.recent_runs(runs)
            accounts = Counter(r.status.value for r in store.accounts().values())
            names = [c.name for c in settings.sources.connectors] if settings.sources else []
            exports = {name: store.last_accepted(name) for name in names}
        document = {
            "ok": True,
            "runs": [
                {
                    "run_id": r.run_id,
                    "kind": r.kind,
                    "status": r.status.value,
                    "started_at": r.started_at.isoformat(),
                    "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                    "counts": dict(r.counts),
                    "plan_hash": r.plan_hash,
                    "message": r.message,
                }
                for r in recent
            ],
            "accounts": dict(sorted(accounts.items())),
            "exports": {
                name: None if facts is None else facts.model_dump(mode="json")
                for name, facts in exports.items()
            },
        }

        def human(console: Console) -> None:
            table = Table(title="Exécutions récentes / recent runs")
            for column in ("#", "kind", "status", f"started ({zone.key})", "counts", "message"):
                table.add_column(column)
            for r in recent:
                table.add_row(
                    str(r.run_id),
                    r.kind,
                    r.status.value,
                    local_text(r.started_at, zone),
                    ", ".join(f"{k} {v}" for k, v in r.counts.items()),
                    r.message or "",
                )
            console.print(table)
            console.print(
                "Comptes / accounts: "
                + (", ".join(f"{k} {v}" for k, v in sorted(accounts.items())) or "-")
            )

        out.done(document, human)


# -- demo ------------------------------------------------------------------------------


@main.command("demo")
@click.option("--people", type=click.IntRange(10, 200_000), default=3000, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the sample exports and the SQLite store go (replaced on each demo).",
)
@click.option(
    "--keep",
    is_flag=True,
    help=(
        "Keep the throwaway OpenLDAP running until Ctrl-C and hand it over: its URL, bind DN,"
        " CA, and a ready configuration (ecampus-idm.toml, secrets in ecampus-idm.env)."
    ),
)
@_json_option
def demo(people: int, out_dir: Path, keep: bool, as_json: bool) -> None:
    """The main job on the embedded default: sample data, throwaway OpenLDAP, SQLite.

    Writes synthetic exports of PEOPLE humans, starts a throwaway OpenLDAP, runs the
    nightly job twice (the second run must have nothing to do) and shows what it did.
    """
    from ecampus_idm.connectors import write_sample  # noqa: PLC0415
    from ecampus_idm.testing.slapd import start_slapd  # noqa: PLC0415 - only the demo needs it

    out = _Output(as_json)
    with _handled(out):
        for stale in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"):
            (out_dir / stale).unlink(missing_ok=True)
        shutil.rmtree(out_dir / "mail", ignore_errors=True)  # the maildir of the last demo
        # The enrolments are for the academic year under way, so the demo works any day.
        summary = write_sample(out_dir / "exports", people, academic_year=_academic_year())
        started = time.monotonic()
        with out.console.status("Démarrage d'un OpenLDAP jetable / starting a throwaway OpenLDAP…"):
            server = start_slapd()
        startup = time.monotonic() - started
        try:
            settings = _demo_settings(server.settings(), summary.config, out_dir)
            clock = SystemClock(settings.institution.zone)
            with _nightly(settings, clock, out.console, quiet=out.quiet) as job:
                first = job.run()
                second = job.run()
            with server.connect() as directory:
                tree = _describe_directory(directory, settings)
                support = _demo_support(settings, clock, directory, out_dir)
            written = _mails(settings)
            handover = _hand_over(settings, out_dir) if keep else None
            document = {
                "ok": first.status.value == "succeeded" and second.status.value == "succeeded",
                "startup_seconds": round(startup, 3),
                "sample": summary.as_dict(),
                "first_run": first.to_dict(),
                "second_run": second.to_dict(),
                "mails": {"maildir": str(settings.mail.maildir), "written": written},
                "support": support,
                "directory": tree,
                "config": settings.model_dump(mode="json"),
                "handover": handover,
            }

            def human(console: Console) -> None:
                console.print(
                    f"OpenLDAP jetable prêt en {startup:.2f} s sur {server.url} (StartTLS). "
                    f"Exports : {summary.out_dir} ({summary.people} personnes)."
                )
                console.rule("1re exécution / first run")
                _print_run(console, first)
                console.rule("2e exécution / second run")
                _print_run(console, second)
                _print_directory(console, tree)
                console.print(
                    f"Courriels de bienvenue / welcome mails: {written} "
                    f"écrits dans / written to {settings.mail.maildir} "
                    f"(mutt -f {settings.mail.maildir})"
                )
                if support:
                    listing, diagnosis = support["listing"], support["diagnosis"]
                    console.print(
                        f"Listing du secrétariat / secretariat listing {listing['school']}: "
                        f"{listing['rows']} comptes / accounts → {listing['file']}"
                    )
                    console.print(
                        f"Diagnostic de / diagnosis of {diagnosis['username']}: "
                        f"{diagnosis['conclusion']}",
                        highlight=False,
                    )

            out.done(document, human)
            if handover is not None:
                _print_handover(out.console, handover)
                while server.is_running():
                    time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()


def _hand_over(settings: Settings, out_dir: Path) -> dict[str, Any]:
    """Write the demo's configuration for an engineer's own commands; say where it is.

    ``ecampus-idm.toml`` holds every setting the demo used except its secrets, which go to
    ``ecampus-idm.env`` (``KEY=value`` lines, as systemd's ``EnvironmentFile=`` reads them
    and as ``set -a; . file; set +a`` loads them in a shell). Both are owner-only.
    """
    import tomli_w  # noqa: PLC0415 - only the handover writes TOML

    document = settings.model_dump(mode="json", exclude_none=True)
    secrets_found: dict[str, str] = {}
    _move_secrets(settings, document, (), secrets_found)
    config = (out_dir / "ecampus-idm.toml").resolve()
    env_file = (out_dir / "ecampus-idm.env").resolve()
    header = "# ecampus-idm demo: its secrets are in ecampus-idm.env, next to this file\n"
    write_private(config, (header + tomli_w.dumps(document)).encode("utf-8"))
    write_private(
        env_file,
        "".join(f"{name}='{value}'\n" for name, value in sorted(secrets_found.items())).encode(),
    )
    directory = settings.directory
    return {
        "url": directory.url,
        "bind_dn": directory.bind_dn,
        "base_dn": directory.base_dn,
        "ca_file": str(directory.ca_file) if directory.ca_file else None,
        "bind_password_variable": "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD",
        "config": str(config),
        "env_file": str(env_file),
        "variables": sorted(secrets_found),
    }


def _move_secrets(
    model: Any, dumped: dict[str, Any], path: tuple[str, ...], found: dict[str, str]
) -> None:
    """Take every secret out of ``dumped`` into ``found``, under its environment variable."""
    from pydantic import BaseModel, SecretStr  # noqa: PLC0415

    for name in type(model).model_fields:
        value = getattr(model, name)
        variable = "ECAMPUS_IDM_" + "__".join((*path, name)).upper()
        if isinstance(value, SecretStr):
            found[variable] = value.get_secret_value()
            dumped.pop(name, None)
        elif isinstance(value, list | tuple) and value and isinstance(value[0], SecretStr):
            found[variable] = json.dumps([item.get_secret_value() for item in value])
            dumped.pop(name, None)
        elif isinstance(value, BaseModel) and isinstance(dumped.get(name), dict):
            _move_secrets(value, dumped[name], (*path, name), found)


def _print_handover(console: Console, handover: dict[str, Any]) -> None:
    console.rule("L'OpenLDAP reste démarré / the OpenLDAP keeps running")
    console.print(
        f"URL {handover['url']} (StartTLS)\n"
        f"bind DN {handover['bind_dn']}\n"
        f"base DN {handover['base_dn']}\n"
        f"CA {handover['ca_file']}\n"
        f"mot de passe / bind password: {handover['bind_password_variable']} "
        f"dans / in {handover['env_file']}\n"
        f"configuration: {handover['config']}\n\n"
        f"  set -a; . {handover['env_file']}; set +a\n"
        f"  ecampus-idm directory check --config {handover['config']}\n\n"
        "Ctrl-C pour arrêter / to stop.",
        highlight=False,
        soft_wrap=True,  # paths and commands stay whole, to be copied
    )


def _demo_support(
    settings: Settings, clock: SystemClock, directory: Directory, out_dir: Path
) -> dict[str, Any]:
    """One school's secretariat listing (PDF) and one person's diagnosis, for the demo."""
    from ecampus_idm.connectors import open_connectors  # noqa: PLC0415
    from ecampus_idm.custody import open_custody  # noqa: PLC0415
    from ecampus_idm.mail.outbox import open_outbox  # noqa: PLC0415
    from ecampus_idm.mail.wiring import keyring_from_settings  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415
    from ecampus_idm.support.diagnose import Diagnostician, Lookup, read_sources  # noqa: PLC0415
    from ecampus_idm.support.listing import SecretariatListing  # noqa: PLC0415
    from ecampus_idm.support.pdf import render_pdf  # noqa: PLC0415 - loads reportlab

    if settings.sources is None or not settings.schools:
        return {}
    with open_store(settings.store, clock=clock) as store:
        keyring = keyring_from_settings(settings)
        custody = open_custody(store, keyring)
        school = settings.schools[0]
        listing = SecretariatListing(
            settings,
            clock=clock,
            store=store,
            directory=directory,
            custody=custody,
            support=settings.support,
        ).build(school.code, operator="demo", fmt="pdf")
        target = (out_dir / f"listing-{school.code}.pdf").resolve()
        write_private(target, render_pdf(listing, "fr"))  # default passwords
        document: dict[str, Any] = {
            "listing": {"school": school.code, "rows": len(listing.rows), "file": str(target)}
        }
        if not listing.rows:
            return document
        username = listing.rows[0].username
        with open_connectors(settings.sources) as connectors:
            reading = read_sources(settings, connectors, store=store, clock=clock)
        diagnosis = Diagnostician(
            settings,
            clock=clock,
            store=store,
            directory=directory,
            people=reading.people,
            issues=reading.issues,
            refused=reading.refused,
            mail=open_outbox(store, keyring),
            custody=custody,
            support=settings.support,
        ).diagnose(Lookup(school=school.code, username=username))
        document["diagnosis"] = {
            "username": username,
            "conclusion": diagnosis.conclusion.text("fr"),
        }
    return document


def _academic_year() -> int:
    """The start year of the academic year under way (a new one is encoded from August)."""
    today = SystemClock().today()
    return today.year if today.month >= 8 else today.year - 1  # noqa: PLR2004 - August


def _mails(settings: Settings) -> int:
    """How many mails the demo's maildir holds."""
    from ecampus_idm.mail.transports import MaildirTransport  # noqa: PLC0415

    return MaildirTransport(settings.mail.maildir).count()


def _demo_settings(directory: Any, sources_file: Path, out_dir: Path) -> Settings:
    text = resources.files("ecampus_idm.data").joinpath("demo.toml").read_text("utf-8")
    data = tomllib.loads(text)
    sample = tomllib.loads(sources_file.read_text("utf-8"))
    data["schools"] = sample["schools"]
    data["sources"] = {
        **sample["sources"],
        # A fresh key per demo: the demo's store and directory are fresh too.
        "pseudonym_key": secrets.token_urlsafe(48),
    }
    data["directory"] = directory
    data["store"] = {"url": f"sqlite:///{(out_dir / 'state.sqlite3').resolve()}"}
    data["mail"] = {
        **data.get("mail", {}),
        "maildir": str((out_dir / "mail").resolve()),
        "keys": [base64.b64encode(secrets.token_bytes(32)).decode("ascii")],  # fresh, like above
    }
    return Settings(**data).resolve_paths(sources_file.parent.resolve(), ca_file=False)


def _print_run(console: Console, report: RunReport) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("statut / status", f"[bold]{report.status.value}[/] {report.message}")
    table.add_row("personnes / people", str(report.people))
    table.add_row("lignes écartées / quarantined", str(report.quarantined))
    if report.refused:
        table.add_row("sources refusées / refused", ", ".join(report.refused))
    table.add_row(
        "comptes / accounts", ", ".join(f"{k} {v}" for k, v in sorted(report.accounts.items()))
    )
    if report.plan is not None:
        table.add_row("plan", report.plan.summary(report.school_names))
    if report.deferred:
        table.add_row("différées / deferred", str(report.deferred))
    if report.applied is not None:
        applied = ", ".join(f"{k} {v}" for k, v in report.applied.applied.items()) or "-"
        table.add_row("appliqué / applied", applied)
        for failure in report.applied.failures[:10]:
            table.add_row(
                "échec / failure", f"{failure.kind.value} {failure.dn}: {failure.message}"
            )
    console.print(table)


# -- helpers ---------------------------------------------------------------------------


def _describe_directory(directory: Directory, settings: Settings) -> dict[str, Any]:
    base = settings.directory.base_dn
    counts: dict[str, int] = {}
    tree: list[dict[str, Any]] = []
    # The base and its containers only: the people themselves are counted, not listed.
    for scope, top in ((Scope.BASE, base), (Scope.ONELEVEL, base)):
        for entry in directory.search(top, scope=scope, attributes=["objectClass"]):
            depth = len(dn_path(entry.dn)) - len(dn_path(base))
            tree.append(
                {"dn": entry.dn, "depth": depth, "objectClass": list(entry.get("objectClass"))}
            )
    for container in (settings.directory.people_dn, settings.directory.groups_dn):
        # The whole subtree: Active Directory profiles may put people in one OU per school.
        counts[container] = sum(
            1
            for entry in directory.search(container, scope=Scope.SUBTREE, attributes=["1.1"])
            if not entry.dn.lower().startswith("ou=")
        )
    offered: dict[str, bool] = {}
    if settings.directory.kind == "openldap":
        # Our auxiliary classes exist only on OpenLDAP; AD uses its own attributes.
        schema = directory.get("cn=Subschema", ["objectClasses"])
        known = " ".join(schema.get("objectClasses")) if schema else ""
        offered = {name: f"NAME '{name}'" in known for name in _OUR_SCHEMA}
    return {
        "ok": True,
        "url": directory.url,
        "base_dn": base,
        "entries": tree,
        "children": counts,
        "schema": offered,
    }


def _print_settings(console: Console, settings: Settings) -> None:
    table = Table(title="Configuration", show_header=True)
    table.add_column("clé / key")
    table.add_column("valeur / value")
    dumped = settings.model_dump(mode="json")  # secrets come out masked
    for section, values in dumped.items():
        if section == "schools" or not isinstance(values, dict):
            continue
        for key, value in _flattened(values, section):
            table.add_row(key, str(value))
    for school in settings.schools:
        table.add_row(f"schools.{school.code}", f"{school.name} ({school.category})")
    console.print(table)


def _flattened(values: dict[str, Any], prefix: str) -> Iterator[tuple[str, object]]:
    """Yield ``(dotted.key, value)`` for every leaf of a nested section."""
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from _flattened(value, f"{prefix}.{key}")
        else:
            yield f"{prefix}.{key}", value


def _print_directory(console: Console, report: dict[str, Any]) -> None:
    tree = Tree(f"[bold]{report['url']}[/] — {report['base_dn']}")
    nodes = {0: tree}
    for entry in report["entries"]:
        parent = nodes.get(entry["depth"] - 1, tree)
        label = f"{entry['dn']} [dim]{', '.join(entry['objectClass'])}[/]"
        children = report["children"].get(entry["dn"])
        if children is not None:
            label += f" — {children} entrées / entries"
        nodes[entry["depth"]] = parent.add(label)
    console.print(tree)
    if report["schema"]:
        schema = ", ".join(f"{k} {'✓' if ok else '✗'}" for k, ok in report["schema"].items())
        console.print(f"Schéma / schema: {schema}")


from ecampus_idm.cli_support import register as _register_support  # noqa: E402 - needs main

_register_support(main)
from ecampus_idm.cli_mail import register as _register_mail  # noqa: E402 - needs main

_register_mail(main)
from ecampus_idm.cli_passwords import register as _register_passwords  # noqa: E402 - needs main

_register_passwords(main)
