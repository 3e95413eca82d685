"""The support commands of ``ecampus-idm``: ``diagnose``, ``listing`` and ``purge``.

Registered on the main group by :func:`register` (one line at the end of
:mod:`ecampus_idm.cli`). Exit codes are those of the main command: 0 ok, 1 error (an
unknown person's school, an operator out of scope...), 2 usage, 3 configuration,
4 directory unavailable.

Passwords never go to the terminal: a listing is written to a file (mode 0600), and its
``--json`` summary holds counts only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
from rich.console import Console
from rich.table import Table

from ecampus_idm.cli import CONFIG_HELP, _handled, _Output, default_config
from ecampus_idm.clock import SystemClock
from ecampus_idm.config import Settings, load_config
from ecampus_idm.files import write_private
from ecampus_idm.support.base import CustodyReader, MailHistory
from ecampus_idm.support.errors import LookupInputError
from ecampus_idm.support.listing import FORMATS, ListingFormat
from ecampus_idm.support.settings import Language

if TYPE_CHECKING:
    from ecampus_idm.directory.base import Directory
    from ecampus_idm.store.base import Store

__all__ = ["register"]

# The same options as the main command's (defined here: importing them from cli.py, which
# imports this module at its end, leaves their types undetermined for mypy).
_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ECAMPUS_IDM_CONFIG",
    default=default_config,
    help=CONFIG_HELP,
)
_lang_option = click.option(
    "--lang",
    type=click.Choice(["fr", "en"]),
    default=None,
    help="Language of the texts (default: support.default_language).",
)


def support_ports(
    settings: Settings, store: Store
) -> tuple[MailHistory | None, CustodyReader | None]:
    """Return the outbox and the custody the support tools read (none when mail is off).

    Without them the diagnosis reads the store's ``mail.*`` events and the listing shows
    no password.
    """
    from ecampus_idm.custody import open_custody  # noqa: PLC0415 - mail stays lazy
    from ecampus_idm.mail.outbox import open_outbox  # noqa: PLC0415
    from ecampus_idm.mail.wiring import keyring_from_settings  # noqa: PLC0415

    if not settings.mail.enabled:
        return None, None
    keyring = keyring_from_settings(settings)
    return open_outbox(store, keyring), open_custody(store, keyring)


@contextmanager
def _opened(settings: Settings, clock: SystemClock) -> Iterator[tuple[Store, Directory]]:
    from ecampus_idm.directory import open_directory  # noqa: PLC0415 - keeps ldap3 lazy
    from ecampus_idm.store import open_store  # noqa: PLC0415 - SQLAlchemy stays lazy

    with (
        open_store(settings.store, clock=clock) as store,
        open_directory(settings.directory) as directory,
    ):
        yield store, directory


@click.command("diagnose")
@_config_option
@click.option("--school", required=True, help="The school the person named (its code).")
@click.option("--email", help="The personal e-mail address encoded at enrolment.")
@click.option("--matricule", help="The person's number in a source system.")
@click.option("--username", help="The eCampus login.")
@click.option("--name", help='The person\'s names, with --birth-date ("Marie Dupont").')
@click.option("--birth-date", type=click.DateTime(["%Y-%m-%d", "%d/%m/%Y"]), help="YYYY-MM-DD.")
@_lang_option
@_json_option
def diagnose_command(
    *,
    config_path: Path | None,
    school: str,
    email: str | None,
    matricule: str | None,
    username: str | None,
    name: str | None,
    birth_date: object,
    lang: str | None,
    as_json: bool,
) -> None:
    """Why didn't this person get their access? Timeline and conclusion (FAQ steps)."""
    from ecampus_idm.connectors import open_connectors  # noqa: PLC0415 - heavy, CLI only
    from ecampus_idm.support.diagnose import (  # noqa: PLC0415
        Diagnostician,
        Lookup,
        read_sources,
    )

    out = _Output(as_json)
    with _handled(out):
        day = birth_date.date() if hasattr(birth_date, "date") else None
        try:
            lookup = Lookup(
                school=school,
                email=email,
                matricule=matricule,
                username=username,
                name=name,
                birth_date=cast("date | None", day),
            )
        except LookupInputError as exc:
            raise click.UsageError(str(exc)) from exc
        settings = load_config(config_path)
        language = cast("Language", lang or settings.support.default_language)
        clock = SystemClock(settings.institution.zone)
        if settings.sources is None:
            from ecampus_idm.errors import ConfigError  # noqa: PLC0415

            raise ConfigError("configuration", "sources", "a [sources] section with connectors")
        with (
            _opened(settings, clock) as (store, directory),
            open_connectors(settings.sources) as connectors,
        ):
            reading = read_sources(settings, connectors, store=store, clock=clock)
            mail, custody = support_ports(settings, store)
            diagnosis = Diagnostician(
                settings,
                clock=clock,
                store=store,
                directory=directory,
                people=reading.people,
                issues=reading.issues,
                refused=reading.refused,
                mail=mail,
                custody=custody,
                support=settings.support,
            ).diagnose(lookup)
        out.done(
            {"ok": True, **diagnosis.to_dict(language)},
            # Plain text: "[accordé]" is not rich markup, and a ticket wants whole lines.
            lambda console: console.print(
                diagnosis.render(language), highlight=False, markup=False, soft_wrap=True
            ),
        )


@click.command("listing")
@_config_option
@click.option("--school", required=True, help="The school to list (its code).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option(
    "--layout",
    type=click.Choice(("table", "slips")),
    default="table",
    show_default=True,
    help="PDF: a table per class, or one cut-out slip per person to hand over.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: listing-SCHOOL-DATE[-slips].FORMAT here).",
)
@click.option(
    "--operator",
    envvar="ECAMPUS_IDM_OPERATOR",
    help="Who asks (configured under [[support.operators]]; or ECAMPUS_IDM_OPERATOR).",
)
@_lang_option
@_json_option
def listing_command(
    *,
    config_path: Path | None,
    school: str,
    fmt: str,
    layout: str,
    output: Path | None,
    operator: str | None,
    lang: str | None,
    as_json: bool,
) -> None:
    """The secretariat listing of a school: usernames and default passwords (audited)."""
    if layout == "slips" and fmt != "pdf":
        raise click.UsageError("--layout slips : en PDF seulement / PDF only (--format pdf)")
    from ecampus_idm.support.listing import (  # noqa: PLC0415
        SecretariatListing,
        render_csv,
        render_html,
    )

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        language = cast("Language", lang or settings.support.default_language)
        clock = SystemClock(settings.institution.zone)
        chosen = cast("ListingFormat", fmt)
        with _opened(settings, clock) as (store, directory):
            _, custody = support_ports(settings, store)
            listing = SecretariatListing(
                settings,
                clock=clock,
                store=store,
                directory=directory,
                custody=custody,
                support=settings.support,
            ).build(school, operator=operator, fmt=chosen)
        if chosen == "pdf":
            from ecampus_idm.support.pdf import Layout, render_pdf  # noqa: PLC0415 - reportlab

            content = render_pdf(listing, language, layout=cast("Layout", layout))
        elif chosen == "html":
            content = render_html(listing, language).encode("utf-8")
        else:
            content = render_csv(listing, language).encode("utf-8-sig")
        stamp = listing.at.astimezone(settings.institution.zone).strftime("%Y%m%d")
        suffix = "-slips" if layout == "slips" else ""
        target = output or Path(f"listing-{listing.school.code}-{stamp}{suffix}.{chosen}")
        write_private(target, content)  # it holds default passwords
        shown = sum(1 for r in listing.rows if r.state.value == "initial")
        document = {
            "ok": True,
            "school": listing.school.code,
            "operator": listing.operator,
            "format": chosen,
            "layout": layout,
            "rows": len(listing.rows),
            "passwords_shown": shown,
            "groups": [g for g, _ in listing.groups()],
            "output": str(target),
        }

        def human(console: Console) -> None:
            table = Table(title=f"Listing {listing.school.name}", show_header=False)
            table.add_row("comptes / accounts", str(len(listing.rows)))
            table.add_row("mots de passe affichés / passwords shown", str(shown))
            table.add_row("fichier / file", str(target))
            console.print(table)

        out.done(document, human)


@click.command("purge")
@_config_option
@_json_option
def purge_command(config_path: Path | None, as_json: bool) -> None:
    """Retention: delete events and initial passwords older than their periods."""
    from ecampus_idm.store import open_store  # noqa: PLC0415
    from ecampus_idm.support.retention import purge  # noqa: PLC0415

    out = _Output(as_json)
    with _handled(out):
        settings = load_config(config_path)
        clock = SystemClock(settings.institution.zone)
        with open_store(settings.store, clock=clock) as store:
            from ecampus_idm.mail.outbox import open_outbox  # noqa: PLC0415 - mail stays lazy
            from ecampus_idm.mail.wiring import keyring_from_settings  # noqa: PLC0415
            from ecampus_idm.passwords.service import repository_for  # noqa: PLC0415

            _, custody = support_ports(settings, store)
            outbox = (
                open_outbox(store, keyring_from_settings(settings))
                if settings.mail.enabled
                else None
            )
            report = purge(
                store,
                clock=clock,
                settings=settings.support,
                custody=custody,
                custody_days=settings.mail.custody_days,
                outbox=outbox,
                resets=repository_for(store),
                reset_days=settings.passwords.retention_days,
            )
        document = {"ok": True, **report.to_dict()}

        def human(console: Console) -> None:
            console.print(
                f"Événements effacés / events purged: {report.events}; "
                f"mots de passe initiaux effacés / initial passwords purged: "
                f"{report.custody if report.custody is not None else '-'}; "
                f"courriels envoyés effacés / delivered mails purged: "
                f"{report.mails if report.mails is not None else '-'}; "
                f"demandes de réinitialisation effacées / reset rows purged: "
                f"{report.resets if report.resets is not None else '-'}"
            )

        out.done(document, human)


def register(group: click.Group) -> None:
    """Add ``diagnose``, ``listing`` and ``purge`` to the main command."""
    for command in (diagnose_command, listing_command, purge_command):
        group.add_command(command)
