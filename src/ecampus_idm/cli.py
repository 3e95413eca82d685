"""The ``ecampus-idm`` command: parse, load the configuration, wire objects, print.

Every command prints for humans by default (rich) and a single JSON document with
``--json``, for scripts. Exit codes are stable:

====  ========================================================
0     success
1     an ecampus-idm error not covered below
2     usage error (bad option), as click reports it
3     configuration error (file, key and expectation printed)
4     directory unavailable (URL and reason printed)
====  ========================================================
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from ecampus_idm import __version__
from ecampus_idm.config import Settings, load_config
from ecampus_idm.directory.base import Directory, Scope
from ecampus_idm.directory.dn import dn_path
from ecampus_idm.errors import ConfigError, DirectoryUnavailableError, IdmError

__all__ = ["EXIT_CONFIG", "EXIT_DIRECTORY", "EXIT_ERROR", "EXIT_OK", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 3
EXIT_DIRECTORY = 4

_OUR_SCHEMA = ("eduPerson", "schacContactLocation", "schacLinkageIdentifiers", "ecampusPerson")


class _Output:
    """Where a command writes: rich for humans, one JSON document for scripts."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(stderr=as_json)

    def done(self, document: dict[str, Any], human: Callable[[Console], None]) -> None:
        if self.as_json:
            click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
        else:
            human(self.console)

    def fail(self, error: IdmError, code: int) -> None:
        if self.as_json:
            payload = {"ok": False, "error": type(error).__name__, "message": str(error)}
            if isinstance(error, ConfigError):
                payload["problems"] = [
                    {"source": s, "key": k, "expected": e} for s, k, e in error.problems
                ]
            click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        else:
            self.console.print(f"[bold red]Erreur / Error:[/] {error}", highlight=False)
        sys.exit(code)


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
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ECAMPUS_IDM_CONFIG",
    help="TOML configuration file (or ECAMPUS_IDM_CONFIG).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecampus-idm")
def main() -> None:
    """ecampus-idm: accounts for the eCampus of a Belgian school group."""


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
            {"ok": True, "config": _masked(settings)},
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


@main.command("demo")
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the throwaway OpenLDAP running until Ctrl-C (its URL and CA are printed).",
)
@_json_option
def demo(keep: bool, as_json: bool) -> None:
    """Run the main job on the embedded default: sample school group, throwaway OpenLDAP.

    Today this starts the directory, loads the demo configuration and shows both; the
    sync engine (sources, policies, plan, apply, welcome mails) plugs in here as it lands.
    """
    from ecampus_idm.testing.slapd import start_slapd  # noqa: PLC0415 - only the demo needs it

    out = _Output(as_json)
    with _handled(out):
        started = time.monotonic()
        with out.console.status("Démarrage d'un OpenLDAP jetable / starting a throwaway OpenLDAP…"):
            server = start_slapd()
        startup = time.monotonic() - started
        try:
            settings = _demo_settings(server.settings())
            with server.connect() as directory:
                report = _describe_directory(directory, settings)
            report["startup_seconds"] = round(startup, 3)
            report["config"] = _masked(settings)
            report["sync"] = "not yet available: the sync engine lands with issue 5"
            report["ca_file"] = str(server.ca_file)

            def human(console: Console) -> None:
                _print_settings(console, settings)
                _print_directory(console, report)
                console.print(
                    f"OpenLDAP jetable prêt en {startup:.2f} s sur {server.url} "
                    f"(StartTLS, CA {server.ca_file})."
                )
                console.print(
                    "[yellow]Le moteur de synchronisation n'existe pas encore : la démo "
                    "s'arrête après avoir montré la configuration et l'annuaire.[/]"
                )

            out.done(report, human)
            if keep:
                out.console.print("Ctrl-C pour arrêter / to stop.")
                while server.is_running():
                    time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()


def _demo_settings(directory: Any) -> Settings:
    text = resources.files("ecampus_idm.data").joinpath("demo.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data["directory"] = directory
    return Settings(**data)


# -- helpers ---------------------------------------------------------------------------


def _masked(settings: Settings) -> dict[str, Any]:
    dumped: dict[str, Any] = settings.model_dump(mode="json")
    return dumped


def _describe_directory(directory: Directory, settings: Settings) -> dict[str, Any]:
    base = settings.directory.base_dn
    counts: dict[str, int] = {}
    tree: list[dict[str, Any]] = []
    for entry in directory.search(base, scope=Scope.SUBTREE, attributes=["objectClass"]):
        depth = len(dn_path(entry.dn)) - len(dn_path(base))
        tree.append({"dn": entry.dn, "depth": depth, "objectClass": list(entry.get("objectClass"))})
    for container in (settings.directory.people_dn, settings.directory.groups_dn):
        counts[container] = sum(
            1 for _ in directory.search(container, scope=Scope.ONELEVEL, attributes=["1.1"])
        )
    schema = directory.get("cn=Subschema", ["objectClasses"])
    classes = " ".join(schema.get("objectClasses")) if schema else ""
    offered = {name: f"NAME '{name}'" in classes for name in _OUR_SCHEMA}
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
    for section in ("institution", "directory", "store"):
        for key, value in getattr(settings, section).model_dump(mode="json").items():
            table.add_row(f"{section}.{key}", str(value))
    for school in settings.schools:
        table.add_row(f"schools.{school.code}", f"{school.name} ({school.category})")
    console.print(table)


def _print_directory(console: Console, report: dict[str, Any]) -> None:
    tree = Tree(f"[bold]{report['url']}[/] — {report['base_dn']}")
    nodes = {0: tree}
    for entry in report["entries"]:
        parent = nodes.get(entry["depth"] - 1, tree)
        nodes[entry["depth"]] = parent.add(
            f"{entry['dn']} [dim]{', '.join(entry['objectClass'])}[/]"
        )
    console.print(tree)
    schema = ", ".join(f"{k} {'✓' if ok else '✗'}" for k, ok in report["schema"].items())
    console.print(f"Schéma / schema: {schema}")
