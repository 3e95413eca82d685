"""The secretariat listing: a school's accounts, with the default password while unchanged.

This module owns :class:`SecretariatListing` and the CSV and HTML renderings (the PDF is
in :mod:`ecampus_idm.support.pdf`). The FAQ says: "Votre secrétariat possède un listing
reprenant votre compte eCampus et votre mot de passe par défaut". A listing holds, for
each account of one school (read from the directory, where the nightly run writes the
school codes on each entry), the username, names, institutional address, the class or
department (from the groups), and the initial password *only while the user has not
changed it* — revealed from the encrypted custody; otherwise "mot de passe déjà changé".

Scoping: only a configured operator may build a listing, and only for the schools it is
configured for (:class:`~ecampus_idm.support.errors.OperatorScopeError` otherwise). Each
view is audited: a ``listing`` run in the store (operator, school, format, counts) and a
``listing.viewed`` event on the timeline of every person listed, saying whether their
password was shown.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import SecretStr

from ecampus_idm.clock import Clock
from ecampus_idm.config import Settings
from ecampus_idm.directory.base import Directory, Entry, Scope
from ecampus_idm.directory.dn import normalize_dn
from ecampus_idm.directory.filters import Substring, eq
from ecampus_idm.errors import EntryNotFoundError
from ecampus_idm.model import School
from ecampus_idm.passwords.vocabulary import AccountVocabulary, InitialPasswordState
from ecampus_idm.store.base import NewEvent, RunStatus, Store
from ecampus_idm.support.base import CustodyReader
from ecampus_idm.support.errors import (
    OperatorScopeError,
    UnknownOperatorError,
    UnknownSchoolError,
)
from ecampus_idm.support.settings import Language, OperatorSettings, SupportSettings

__all__ = [
    "FORMATS",
    "Listing",
    "ListingFormat",
    "ListingRow",
    "PasswordState",
    "SecretariatListing",
    "authorise",
    "render_csv",
    "render_html",
]

ListingFormat = Literal["csv", "html", "pdf"]
FORMATS: tuple[ListingFormat, ...] = ("csv", "html", "pdf")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class PasswordState(StrEnum):
    """What the listing can say about a person's password."""

    INITIAL = "initial"
    """The default password, unchanged: shown."""
    CHANGED = "changed"
    """The user chose their own password."""
    EXPIRED = "expired"
    """The default password was purged after the retention period."""
    UNKNOWN = "unknown"
    """No custody record (an account older than the custody, or no custody wired)."""


_STATE_TEXT: dict[PasswordState, tuple[str, str]] = {
    PasswordState.CHANGED: ("mot de passe déjà changé", "password already changed"),
    PasswordState.EXPIRED: (
        "effacé (délai de conservation) : « Mot de passe oublié »",
        'purged (retention period): use "Mot de passe oublié"',
    ),
    PasswordState.UNKNOWN: ("non disponible", "not available"),
}

_HEADERS: dict[Language, tuple[str, ...]] = {
    "fr": (
        "Classe / département",
        "Nom",
        "Prénom",
        "Identifiant",
        "Adresse institutionnelle",
        "Mot de passe par défaut",
    ),
    "en": (
        "Class / department",
        "Family name",
        "Given name",
        "Username",
        "Institutional address",
        "Default password",
    ),
}


@dataclass(frozen=True)
class ListingRow:
    """One account of the listing.

    Attributes:
        person_id: The person (not printed).
        group: The class or department (``INFO``), ``Personnel`` for staff, or ``-``.
        family_name: The family name.
        given_name: The given name.
        username: The login.
        email: The institutional address.
        state: Whether the default password is still the one in use.
        password: The default password while unchanged (hidden in reprs).
    """

    person_id: str
    group: str
    family_name: str
    given_name: str
    username: str
    email: str
    state: PasswordState
    password: SecretStr | None = field(default=None, repr=False)

    def password_text(self, lang: Language) -> str:
        """Return what the password column says (the password itself while unchanged)."""
        if self.state is PasswordState.INITIAL and self.password is not None:
            return self.password.get_secret_value()
        fr, en = _STATE_TEXT[
            self.state if self.state is not PasswordState.INITIAL else PasswordState.UNKNOWN
        ]
        return fr if lang == "fr" else en


@dataclass(frozen=True)
class Listing:
    """The listing of one school, as one operator viewed it.

    Attributes:
        school: The school.
        operator: Who asked.
        at: When (in the institution's time zone).
        rows: The accounts, by group then family and given name.
        portal_url: The platform's address (``institution.portal_url``), printed on the
            slips handed out; empty when unknown.
    """

    school: School
    operator: str
    at: datetime
    rows: tuple[ListingRow, ...]
    portal_url: str = ""

    def groups(self) -> list[tuple[str, list[ListingRow]]]:
        """Return the rows per class/department, in order (one printed page each)."""
        grouped: dict[str, list[ListingRow]] = {}
        for row in self.rows:
            grouped.setdefault(row.group, []).append(row)
        return list(grouped.items())

    def __repr__(self) -> str:
        return f"Listing({self.school.code}, {len(self.rows)} rows, operator={self.operator!r})"


def authorise(support: SupportSettings, operator: str | None, school: School) -> OperatorSettings:
    """Return the operator if it may list ``school``.

    Raises:
        UnknownOperatorError: If no operator is given or it is not configured.
        OperatorScopeError: If the operator is configured for other schools.
    """
    if operator is None or not operator.strip():
        raise UnknownOperatorError(None)
    found = support.operator(operator.strip())
    if found is None:
        raise UnknownOperatorError(operator)
    if not found.may_see(school.code):
        raise OperatorScopeError(found.name, school.code)
    return found


class SecretariatListing:
    """Builds school listings from the directory and the custody, and audits each view.

    Args:
        settings: The configuration (schools, directory layout).
        clock: Gives the instant of the view.
        store: Where views are audited.
        directory: Where the accounts are.
        custody: The initial-password custody (``None``: no password is ever shown).
        support: The operators and their schools.
        vocabulary: The directory's attribute names (from ``settings.directory`` when
            omitted: OpenLDAP or Active Directory profile).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        store: Store,
        directory: Directory,
        custody: CustodyReader | None,
        support: SupportSettings,
        vocabulary: AccountVocabulary | None = None,
    ) -> None:
        self.settings = settings
        self.vocabulary = vocabulary or AccountVocabulary.for_directory(settings.directory)
        self.clock = clock
        self.store = store
        self.directory = directory
        self.custody = custody
        self.support = support

    def build(self, school: str, *, operator: str | None, fmt: ListingFormat = "csv") -> Listing:
        """Return the listing of ``school`` for ``operator``, and audit the view.

        Raises:
            UnknownSchoolError: If the school is not configured.
            UnknownOperatorError: If the operator is missing or unknown.
            OperatorScopeError: If the operator may not list that school.
        """
        found = self.settings.school(school)
        if found is None:
            raise UnknownSchoolError(school)
        allowed = authorise(self.support, operator, found)
        rows = self._rows(found)
        now = self.clock.now().astimezone(self.settings.institution.zone)
        portal = self.settings.institution.portal_url
        listing = Listing(found, allowed.name, now, tuple(rows), portal_url=portal)
        self._audit(listing, fmt)
        return listing

    # -- reading --------------------------------------------------------------------------

    def _rows(self, school: School) -> list[ListingRow]:
        people_dn = self.settings.directory.people_dn
        words = self.vocabulary
        wanted = eq(words.school, school.code) & words.managed()
        attributes = [
            words.username,
            "sn",
            "givenName",
            "mail",
            words.person_id,
            *words.status_attributes,
            *words.password_state_attributes,
        ]
        try:
            entries = [
                e
                for e in self.directory.search(people_dn, wanted, attributes=attributes)
                if words.status_of(e) in (None, "active", "grace")
            ]
        except EntryNotFoundError:
            return []
        groups = self._group_of(school, entries)
        rows = [self._row(entry, groups.get(normalize_dn(entry.dn), "-")) for entry in entries]
        return sorted(rows, key=lambda r: (r.group, r.family_name.casefold(), r.given_name))

    def _group_of(self, school: School, entries: Iterable[Entry]) -> dict[str, str]:
        """Member DN → class/department label, from the school's groups."""
        prefix = f"{school.code.lower()}-"
        dns = {normalize_dn(e.dn) for e in entries}
        labels: dict[str, str] = {}
        try:
            groups = list(
                self.directory.search(
                    self.settings.directory.groups_dn,
                    Substring("cn", initial=prefix),
                    scope=Scope.ONELEVEL,
                    attributes=["cn", "member"],
                )
            )
        except EntryNotFoundError:
            return labels
        for group in groups:
            name = (group.first("cn") or "").lower().removeprefix(prefix)
            if name.endswith("-students") and name != "students":
                label = name.removesuffix("-students").upper()
                rank = 0
            elif name == "staff":
                label, rank = "Personnel", 1
            else:
                continue
            for member in group.get("member"):
                key = normalize_dn(member)
                if key in dns and (key not in labels or rank == 0):
                    labels[key] = label
        return labels

    def _row(self, entry: Entry, group: str) -> ListingRow:
        person_id = entry.first(self.vocabulary.person_id) or ""
        username = self.vocabulary.username_of(entry) or ""
        state, password = self._password(person_id)
        if password is not None and not self._still_initial(entry, password):
            # Changed in the directory since the last run: never list a dead password.
            state, password = PasswordState.CHANGED, None
        return ListingRow(
            person_id=person_id,
            group=group,
            family_name=entry.first("sn") or "",
            given_name=entry.first("givenName") or "",
            username=username,
            email=entry.first("mail") or "",
            state=state,
            password=password,
        )

    def _still_initial(self, entry: Entry, password: SecretStr) -> bool:
        """Whether the entry still has the held initial password (its state attributes)."""
        words = self.vocabulary
        state = words.initial_password_state(entry.get)
        if state is InitialPasswordState.CHANGED:
            return False
        if state is InitialPasswordState.UNSURE:
            return words.still_initial(self.directory, entry.dn, password) is not False
        return True

    def _password(self, person_id: str) -> tuple[PasswordState, SecretStr | None]:
        if self.custody is None or not person_id:
            return PasswordState.UNKNOWN, None
        status = self.custody.status(person_id)
        if status is None:
            return PasswordState.UNKNOWN, None
        if status.discarded_at is not None:
            reason = (status.discard_reason or "").lower()
            expired = any(word in reason for word in ("purge", "retention", "expire"))
            return (PasswordState.EXPIRED if expired else PasswordState.CHANGED), None
        # The custody is the authority: the password part discards the initial password
        # when the user changes it (one read per person, no scan of the timelines).
        secret = self.custody.reveal(person_id)
        if secret is None:
            return PasswordState.UNKNOWN, None
        return PasswordState.INITIAL, secret

    # -- audit ----------------------------------------------------------------------------

    def _audit(self, listing: Listing, fmt: ListingFormat) -> None:
        shown = sum(1 for r in listing.rows if r.state is PasswordState.INITIAL)
        code = listing.school.code
        with self.store.transaction():
            run = self.store.start_run("listing")
            self.store.record_events(
                NewEvent(
                    person_id=row.person_id,
                    kind="listing.viewed",
                    reason_fr=(
                        f"Listing de {code} consulté par {listing.operator} ({fmt}) ; mot de "
                        + ("passe par défaut affiché." if _shown(row) else "passe non affiché.")
                    ),
                    reason_en=(
                        f"Listing of {code} viewed by {listing.operator} ({fmt}); default "
                        + ("password shown." if _shown(row) else "password not shown.")
                    ),
                    run_id=run.run_id,
                    data={
                        "operator": listing.operator,
                        "school": code,
                        "format": fmt,
                        "password_shown": _shown(row),
                    },
                )
                for row in listing.rows
                if row.person_id
            )
            self.store.finish_run(
                run.run_id,
                RunStatus.SUCCEEDED,
                counts={"rows": len(listing.rows), "passwords_shown": shown},
                message=f"listing {code} ({fmt}) for operator {listing.operator}",
            )


def _shown(row: ListingRow) -> bool:
    return row.state is PasswordState.INITIAL


# -- renderings ---------------------------------------------------------------------------


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a leading ``'`` keeps it text."""
    return f"'{value}" if value.startswith(_FORMULA) else value


def render_csv(listing: Listing, lang: Language = "fr") -> str:
    """Return the listing as CSV (``;``-separated, as Belgian spreadsheets expect).

    Cells that a spreadsheet would take for a formula get a leading ``'``.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(_HEADERS[lang])
    for row in listing.rows:
        writer.writerow(
            [
                _cell(row.group),
                _cell(row.family_name),
                _cell(row.given_name),
                _cell(row.username),
                _cell(row.email),
                _cell(row.password_text(lang)),
            ]
        )
    return out.getvalue()


def title(listing: Listing, lang: Language) -> tuple[str, str]:
    """Return the title and the confidentiality line of a printed listing."""
    when = listing.at.strftime("%Y-%m-%d %H:%M %Z")
    if lang == "fr":
        return (
            f"Listing eCampus — {listing.school.name} ({listing.school.code})",
            f"Confidentiel — édité par {listing.operator} le {when}. À remettre en main propre.",
        )
    return (
        f"eCampus listing — {listing.school.name} ({listing.school.code})",
        f"Confidential — printed by {listing.operator} on {when}. Hand out in person only.",
    )


def render_html(listing: Listing, lang: Language = "fr") -> str:
    """Return the listing as a standalone HTML page (one printed page per group)."""
    heading, notice = title(listing, lang)
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{esc(heading)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #888;padding:2px 6px;text-align:left}"
        "section{page-break-after:always}code{font-size:1.1em}</style></head><body>",
    ]
    for group, rows in listing.groups():
        parts.append(f"<section><h1>{esc(heading)}</h1><h2>{esc(group)}</h2>")
        parts.append(f"<p><em>{esc(notice)}</em></p><table><thead><tr>")
        parts.extend(f"<th>{esc(h)}</th>" for h in _HEADERS[lang][1:])
        parts.append("</tr></thead><tbody>")
        for row in rows:
            cells = (row.family_name, row.given_name, row.username, row.email)
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells))
            password = esc(row.password_text(lang))
            shown = row.state is PasswordState.INITIAL
            parts.append(f"<td>{f'<code>{password}</code>' if shown else password}</td></tr>")
        parts.append("</tbody></table></section>")
    if not listing.rows:
        empty = "Aucun compte." if lang == "fr" else "No account."
        parts.append(f"<h1>{esc(heading)}</h1><p>{empty}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def headers(lang: Language) -> tuple[str, ...]:
    """Return the column headers in ``lang`` (the group column first)."""
    return _HEADERS[lang]
