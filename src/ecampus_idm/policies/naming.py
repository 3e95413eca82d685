"""Usernames: deterministic, readable, unique forever.

This module owns how a login is made from a person's name:

* transliteration with :func:`anyascii.anyascii` (ISC licence, not the GPL Unidecode):
  ``é`` → ``e``, ``œ`` → ``oe``, ``æ`` → ``ae``, ``ø`` → ``o``, ``ł`` → ``l``,
  ``ß`` → ``ss``; apostrophes, typographic or not, and spaces disappear, so particles
  stay with the name (``Van der Straeten`` → ``vanderstraeten``, ``D’Hondt`` →
  ``dhondt``) while hyphens of compound names stay (``Dupont-Durand``);
* configurable patterns (default ``{given}.{family}``, the first given name only), cut
  to a maximum length (20 for Active Directory) without a trailing ``.`` or ``-``;
* a reserved list (role and system names, with ``*`` wildcards) and every username ever
  issued (live, disabled or deleted accounts, and tombstones) are never issued again;
  on a collision the lowest free numeric suffix is added (``jean.dupont2``);
* a person with an account keeps its username, whatever happens to their name;
* within a run, newcomers are served in order of ``person_id``, so the result depends
  only on the set of persons and on the store, never on the order of the input.

Usernames match ``[a-z0-9]([a-z0-9.-]*[a-z0-9])?``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from anyascii import anyascii
from pydantic import BaseModel, ConfigDict

from ecampus_idm.model import Person
from ecampus_idm.policies.base import Decision, Reason, StoreSnapshot, by_person_id
from ecampus_idm.policies.settings import NamingSettings

__all__ = ["UsernameChoice", "UsernameGenerator", "name_part"]

_FALLBACK = "user"
_MAX_SUFFIX_TRIES = 10_000
_EDGES = ".-"


def name_part(text: str) -> str:
    """Return ``text`` as a username part: ASCII lower case, digits and inner hyphens.

    Example:
        >>> name_part("Van der Straeten"), name_part("D’Hondt-Lœwe")
        ('vanderstraeten', 'dhondt-loewe')
    """
    ascii_text = anyascii(text).lower()
    kept = re.sub(r"[^a-z0-9-]+", "", ascii_text)
    return re.sub(r"-{2,}", "-", kept).strip("-")


def _tidy(text: str) -> str:
    """Collapse runs of separators and strip them from both ends."""
    return re.sub(r"[.-]{2,}", lambda m: m.group()[0], text).strip(_EDGES)


class UsernameChoice(BaseModel):
    """The username given to one person, and why.

    Attributes:
        person_id: The person.
        username: The username, or ``None`` when none could be found.
        decision: Allowed with the username, or denied with the reason.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: str
    username: str | None
    decision: Decision


class UsernameGenerator:
    """Makes usernames from names, following :class:`NamingSettings`.

    Args:
        settings: Patterns, maximum length, first suffix and reserved names.

    Attributes:
        name: ``naming``.
    """

    name = "naming"

    def __init__(self, settings: NamingSettings) -> None:
        self.settings = settings
        exact = {r for r in settings.reserved if not any(c in r for c in "*?")}
        wild = sorted(settings.reserved - exact)
        self._reserved_exact = frozenset(exact)
        self._reserved_wild = re.compile("|".join(fnmatch.translate(w) for w in wild) or "(?!)")

    def is_reserved(self, username: str) -> bool:
        """Return whether ``username`` is on the reserved list."""
        return username in self._reserved_exact or bool(self._reserved_wild.match(username))

    def candidates(self, person: Person) -> tuple[str, ...]:
        """Return the usernames the patterns give for ``person``, before any suffix."""
        given = self._given(person.given_name)
        family = name_part(person.family_name)
        values = {
            "given": given,
            "family": family,
            "given_initial": given[:1],
            "family_initial": family[:1],
        }
        out: list[str] = []
        for pattern in self.settings.patterns:
            username = _tidy(_tidy(pattern.format_map(values))[: self.settings.max_length])
            username = username or _FALLBACK
            if username not in out:
                out.append(username)
        return tuple(out)

    def allocate(
        self, persons: Iterable[Person], snapshot: StoreSnapshot
    ) -> dict[str, UsernameChoice]:
        """Return a username for each person, keyed (and ordered) by ``person_id``.

        A person with an account keeps its username; the others get a new one, in
        ``person_id`` order, never one already issued, reserved or given in this run.

        Raises:
            PolicyInputError: If a person is given twice.
        """
        taken = set(snapshot.taken_usernames)
        # Per base, the lowest suffix that may still be free: everything below it was
        # found taken earlier in this run, and taken only grows. Keeps a run linear when
        # many newcomers share a name.
        next_suffix: dict[str, int] = {}
        choices: dict[str, UsernameChoice] = {}
        for person in by_person_id(persons).values():
            history = snapshot.history(person.person_id)
            if history is not None and history.account is not None:
                choices[person.person_id] = self._kept(person, history.account.username)
            elif person.person_id in snapshot.reserved:
                choices[person.person_id] = self._kept(person, snapshot.reserved[person.person_id])
            else:
                choice = self._new(person, taken, next_suffix)
                if choice.username is not None:
                    taken.add(choice.username)
                choices[person.person_id] = choice
        return choices

    def _given(self, given_name: str) -> str:
        if self.settings.given_names == "all":
            return name_part(given_name)
        # The first given name that yields letters ("Jean Pierre" -> "jean").
        for token in re.split(r"[\s,;/]+", given_name):
            part = name_part(token)
            if part:
                return part
        return ""

    def _kept(self, person: Person, username: str) -> UsernameChoice:
        return UsernameChoice(
            person_id=person.person_id,
            username=username,
            decision=Decision.allow(
                self.name,
                Reason(
                    code="naming.kept",
                    fr=(
                        f"Nom d'utilisateur existant conservé : {username} (il ne change "
                        "jamais, même si le nom change)."
                    ),
                    en=(
                        f"Existing username kept: {username} (it never changes, even when "
                        "the name does)."
                    ),
                    data={"username": username},
                ),
            ),
        )

    def _new(self, person: Person, taken: set[str], next_suffix: dict[str, int]) -> UsernameChoice:
        candidates = self.candidates(person)
        for username in candidates:
            if self._free(username, taken):
                return self._chosen(
                    person,
                    username,
                    "naming.generated",
                    f"Nom d'utilisateur {username} formé à partir du nom.",
                    f"Username {username} made from the name.",
                )
        base = candidates[0]
        last = self.settings.first_suffix + _MAX_SUFFIX_TRIES
        for suffix in range(next_suffix.get(base, self.settings.first_suffix), last):
            digits = str(suffix)
            username = base[: self.settings.max_length - len(digits)].rstrip(_EDGES) + digits
            if self._free(username, taken):
                next_suffix[base] = suffix + 1
                return self._chosen(
                    person,
                    username,
                    "naming.suffixed",
                    f"Nom d'utilisateur {username} : {base} est déjà attribué ou réservé, "
                    f"{digits} est le plus petit suffixe libre.",
                    f"Username {username}: {base} is already issued or reserved, {digits} "
                    "is the lowest free suffix.",
                    base=base,
                    suffix=digits,
                )
        next_suffix[base] = last
        return UsernameChoice(
            person_id=person.person_id,
            username=None,
            decision=Decision.deny(
                self.name,
                Reason(
                    code="naming.exhausted",
                    fr=(
                        f"Aucun nom d'utilisateur libre à partir de {base} : le compte ne peut "
                        "pas être créé ; l'équipe IAM doit revoir la liste réservée."
                    ),
                    en=(
                        f"No free username from {base}: the account cannot be created; the "
                        "IAM team must review the reserved list."
                    ),
                    data={"base": base},
                ),
            ),
        )

    def _free(self, username: str, taken: set[str]) -> bool:
        return username not in taken and not self.is_reserved(username)

    def _chosen(
        self, person: Person, username: str, code: str, fr: str, en: str, **data: str
    ) -> UsernameChoice:
        return UsernameChoice(
            person_id=person.person_id,
            username=username,
            decision=Decision.allow(
                self.name,
                Reason(code=code, fr=fr, en=en, data={"username": username, **data}),
            ),
        )
