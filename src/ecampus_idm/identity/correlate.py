"""Correlation: the validated rows of every source become one person per human.

Rules, in order:

1. Rows of one source with the same matricule are one person (a staff member has a row
   per attribution). A row whose national number differs from the one already seen for
   its matricule is set aside (issue code ``conflicting-record``).
2. Rows with the same national-number pseudonym are one person, whatever the source: the
   Promotion Sociale teacher who is also a Haute École student has one account.
3. With an :class:`IdentityIndex` (the state store's memory of earlier runs), rows whose
   source keys or pseudonym belonged to the same person before are that person again,
   unless their national numbers differ: then nothing is merged and a
   :class:`ReviewItem` says so.
4. Two people with the same names and birth date but different national numbers (or one
   without) are never merged: a :class:`ReviewItem` asks a human to look.

Person ids: the index's id when it knows the person, else an id derived from the
pseudonym, else from the smallest source key (see :mod:`ecampus_idm.identity.pseudonym`).
When sources disagree (names, birth date, e-mail), the source listed first wins; within a
source, the first row.

:class:`Correlation` builds the :class:`~ecampus_idm.model.Person` values on demand:
100,000 of them held at once would take some 350 MB, so consumers stream them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import LogicalField
from ecampus_idm.identity.errors import PersonBuildError
from ecampus_idm.identity.pseudonym import Pseudonymiser
from ecampus_idm.identity.validate import ValidRecord
from ecampus_idm.model import (
    Attribution,
    EmailIssue,
    Enrolment,
    Language,
    Person,
    Role,
    SourceKey,
)

__all__ = [
    "Correlation",
    "Correlator",
    "IdentityIndex",
    "MemoryIdentityIndex",
    "ReviewItem",
    "ReviewKind",
]


class ReviewKind(StrEnum):
    """Why a human should look at a possible match."""

    SAME_NAME_AND_BIRTH_DATE = "same-name-and-birth-date"
    """Same names and birth date, different national numbers: kept apart."""
    POSSIBLE_SAME_PERSON = "possible-same-person"
    """Same names and birth date, one of them without national number: kept apart."""
    STORED_LINK_CONFLICT = "stored-link-conflict"
    """Earlier runs linked these records, but their national numbers now differ."""
    KNOWN_PERSONS_MERGED = "known-persons-merged"
    """Records of people known apart before now match: one person id is kept."""


_REVIEW_MESSAGES = {
    ReviewKind.SAME_NAME_AND_BIRTH_DATE: (
        "Mêmes nom, prénom et date de naissance mais numéros de registre national "
        "différents : deux personnes gardées séparées, à vérifier.",
        "Same names and birth date but different national numbers: kept as two people, "
        "please check.",
    ),
    ReviewKind.POSSIBLE_SAME_PERSON: (
        "Mêmes nom, prénom et date de naissance, mais un enregistrement n’a pas de "
        "numéro de registre national : gardés séparés, à vérifier.",
        "Same names and birth date, but one record has no national number: kept apart, "
        "please check.",
    ),
    ReviewKind.STORED_LINK_CONFLICT: (
        "Ces enregistrements appartenaient à la même personne, mais leurs numéros de "
        "registre national diffèrent maintenant : non fusionnés, à vérifier.",
        "These records belonged to one person, but their national numbers now differ: "
        "not merged, please check.",
    ),
    ReviewKind.KNOWN_PERSONS_MERGED: (
        "Des enregistrements de personnes distinctes jusqu’ici correspondent "
        "maintenant : un seul identifiant est gardé, vérifier le compte de l’autre.",
        "Records of people known apart until now match: one id is kept, check the other "
        "one's account.",
    ),
}


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A possible match a human should look at; nothing was merged because of it.

    Attributes:
        kind: Why.
        person_ids: The people concerned.
        source_keys: Their source keys, to find them in the exports.
        message_fr: Why, in French.
        message_en: Why, in English.
    """

    kind: ReviewKind
    person_ids: tuple[str, ...]
    source_keys: tuple[SourceKey, ...]
    message_fr: str
    message_en: str

    @classmethod
    def of(
        cls, kind: ReviewKind, person_ids: Iterable[str], source_keys: Iterable[SourceKey]
    ) -> ReviewItem:
        """Return the review item ``kind`` with its messages."""
        french, english = _REVIEW_MESSAGES[kind]
        return cls(
            kind,
            tuple(dict.fromkeys(person_ids)),
            tuple(sorted(set(source_keys), key=str)),
            french,
            english,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the item as a JSON-ready mapping."""
        return {
            "kind": str(self.kind),
            "person_ids": list(self.person_ids),
            "source_keys": [str(key) for key in self.source_keys],
            "message_fr": self.message_fr,
            "message_en": self.message_en,
        }


@runtime_checkable
class IdentityIndex(Protocol):
    """What earlier runs knew: which person a pseudonym or a source key belonged to."""

    def person_for_pseudonym(self, pseudonym: str) -> str | None:
        """Return the person id that had this national-number pseudonym, if any."""
        ...

    def person_for_key(self, key: SourceKey) -> str | None:
        """Return the person id that had this source key, if any."""
        ...


class MemoryIdentityIndex:
    """An :class:`IdentityIndex` built from the persons of an earlier run.

    Args:
        persons: The persons to remember.
    """

    def __init__(self, persons: Iterable[Person] = ()) -> None:
        self._pseudonyms: dict[str, str] = {}
        self._keys: dict[SourceKey, str] = {}
        for person in persons:
            self.remember(person)

    def remember(self, person: Person) -> None:
        """Remember a person's pseudonym and source keys."""
        if person.niss_pseudonym is not None:
            self._pseudonyms[person.niss_pseudonym] = person.person_id
        for key in person.source_keys:
            self._keys[key] = person.person_id

    def person_for_pseudonym(self, pseudonym: str) -> str | None:
        """Return the person id that had this pseudonym, if any."""
        return self._pseudonyms.get(pseudonym)

    def person_for_key(self, key: SourceKey) -> str | None:
        """Return the person id that had this source key, if any."""
        return self._keys.get(key)

    def __repr__(self) -> str:
        return f"MemoryIdentityIndex({len(self._keys)} source keys)"


_FOLDED: dict[str, str] = {}
_FOLD_CACHE_LIMIT = 1_000_000


def _fold(name: str) -> str:
    """Return a name without case, accents, spaces, hyphens or apostrophes."""
    folded = _FOLDED.get(name)
    if folded is None:
        decomposed = unicodedata.normalize("NFKD", name)
        folded = "".join(ch for ch in decomposed if ch.isalnum()).casefold()
        if len(_FOLDED) < _FOLD_CACHE_LIMIT:
            _FOLDED[name] = folded
    return folded


class Correlator:
    """Gather the validated rows of the accepted sources, then resolve people.

    Add sources in order of precedence with :meth:`add`, then call :meth:`result`.

    Args:
        pseudonymiser: Derives person ids from pseudonyms and source keys.
        index: What earlier runs knew, if a store is there.
    """

    def __init__(self, pseudonymiser: Pseudonymiser, *, index: IdentityIndex | None = None) -> None:
        self._pseudonymiser = pseudonymiser
        self._index = index
        self._records: list[ValidRecord] = []
        self._parent: list[int] = []
        self._pseudonym_of: dict[int, str] = {}
        self._by_key: dict[tuple[str, str], int] = {}
        self._by_pseudonym: dict[str, int] = {}
        self._reviews: list[ReviewItem] = []

    def add(self, records: Iterable[ValidRecord]) -> list[RowIssue]:
        """Add the rows of one accepted source; return the rows set aside as conflicting."""
        issues: list[RowIssue] = []
        for record in records:
            key = (record.source, record.matricule)
            pseudonym = record.niss_pseudonym
            first = self._by_key.get(key)
            if first is not None and pseudonym is not None:
                known = self._pseudonym_of.get(self._find(first))
                if known is not None and known != pseudonym:
                    issues.append(
                        RowIssue.of(
                            IssueCode.CONFLICTING_RECORD,
                            source=record.source,
                            path=record.path,
                            line=record.line,
                            field=str(LogicalField.NATIONAL_NUMBER),
                            matricule=record.matricule,
                        )
                    )
                    continue
            index = len(self._records)
            self._records.append(record)
            self._parent.append(index)
            if pseudonym is not None:
                self._pseudonym_of[index] = pseudonym
            if first is None:
                self._by_key[key] = index
            else:
                self._union(first, index)
            if pseudonym is not None:
                other = self._by_pseudonym.setdefault(pseudonym, index)
                if other != index:
                    self._union(other, index)
        return issues

    # -- union-find ----------------------------------------------------------------------

    def _find(self, index: int) -> int:
        parent = self._parent
        root = index
        while parent[root] != root:
            root = parent[root]
        while parent[index] != root:
            parent[index], index = root, parent[index]
        return root

    def _union(self, a: int, b: int) -> bool:
        """Join two clusters unless their national numbers differ; the earlier row leads."""
        root_a, root_b = self._find(a), self._find(b)
        if root_a == root_b:
            return True
        pseudonym_a = self._pseudonym_of.get(root_a)
        pseudonym_b = self._pseudonym_of.get(root_b)
        if pseudonym_a is not None and pseudonym_b is not None and pseudonym_a != pseudonym_b:
            return False
        root, child = min(root_a, root_b), max(root_a, root_b)
        self._parent[child] = root
        pseudonym = pseudonym_a or pseudonym_b
        self._pseudonym_of.pop(child, None)
        if pseudonym is not None:
            self._pseudonym_of[root] = pseudonym
        return True

    def _clusters(self) -> dict[int, list[int]]:
        clusters: dict[int, list[int]] = {}
        for index in range(len(self._records)):
            clusters.setdefault(self._find(index), []).append(index)
        return clusters

    def _keys(self, members: Iterable[int]) -> list[SourceKey]:
        seen = dict.fromkeys((self._records[i].source, self._records[i].matricule) for i in members)
        return [SourceKey(source=source, matricule=matricule) for source, matricule in seen]

    # -- resolution ----------------------------------------------------------------------

    def result(self) -> Correlation:
        """Resolve the people; the correlator should not be used afterwards."""
        clusters = self._clusters()
        known: dict[int, list[str]] = {}
        if self._index is not None:
            known = self._apply_index(clusters)
            clusters = self._clusters()
        entries: list[tuple[str, tuple[int, ...]]] = []
        taken: set[str] = set()
        person_of_root: dict[int, str] = {}
        for root, members in clusters.items():
            candidates = [pid for pid in known.get(root, ()) if pid not in taken]
            if candidates:
                person_id = candidates[0]
            elif root in self._pseudonym_of:
                person_id = self._pseudonymiser.person_id_for_pseudonym(self._pseudonym_of[root])
            else:
                source, matricule = min(
                    (self._records[i].source, self._records[i].matricule) for i in members
                )
                person_id = self._pseudonymiser.person_id_for_key(source, matricule)
            taken.add(person_id)
            person_of_root[root] = person_id
            entries.append((person_id, tuple(members)))
        self._find_namesakes(clusters, person_of_root)
        entries.sort()
        return Correlation(self._records, entries, self._reviews)

    def _apply_index(self, clusters: dict[int, list[int]]) -> dict[int, list[str]]:
        """Merge clusters the index knows as one person; return each root's known ids."""
        assert self._index is not None  # noqa: S101 - only called with an index
        owner: dict[str, int] = {}
        found: dict[int, list[str]] = {}
        for root, members in clusters.items():
            ids: list[str] = []
            pseudonym = self._pseudonym_of.get(root)
            if pseudonym is not None:
                by_pseudonym = self._index.person_for_pseudonym(pseudonym)
                if by_pseudonym is not None:
                    ids.append(by_pseudonym)
            for key in sorted(self._keys(members), key=str):
                by_key = self._index.person_for_key(key)
                if by_key is not None and by_key not in ids:
                    ids.append(by_key)
            found[root] = ids
            for person_id in ids:
                other = owner.setdefault(person_id, root)
                if other != root and not self._union(other, root):
                    keys = self._keys(clusters[other]) + self._keys(members)
                    self._reviews.append(
                        ReviewItem.of(ReviewKind.STORED_LINK_CONFLICT, [person_id], keys)
                    )
        merged: dict[int, list[str]] = {}
        for root, ids in found.items():
            target = merged.setdefault(self._find(root), [])
            target.extend(pid for pid in ids if pid not in target)
        if any(len(ids) > 1 for ids in merged.values()):
            now = self._clusters()
            for root, ids in merged.items():
                if len(ids) > 1:
                    self._reviews.append(
                        ReviewItem.of(ReviewKind.KNOWN_PERSONS_MERGED, ids, self._keys(now[root]))
                    )
        return merged

    def _find_namesakes(
        self, clusters: dict[int, list[int]], person_of_root: dict[int, str]
    ) -> None:
        groups: dict[tuple[str, str, date], list[int]] = {}
        records = self._records
        for root, members in clusters.items():
            if len(members) == 1:
                birth = records[root].birth_date
            else:
                birth = next(
                    (records[i].birth_date for i in members if records[i].birth_date), None
                )
            if birth is None:
                continue
            lead = records[root]
            groups.setdefault((_fold(lead.family_name), _fold(lead.given_name), birth), []).append(
                root
            )
        for roots in groups.values():
            if len(roots) < 2:  # noqa: PLR2004 - a pair at least
                continue
            with_number = all(root in self._pseudonym_of for root in roots)
            kind = (
                ReviewKind.SAME_NAME_AND_BIRTH_DATE
                if with_number
                else ReviewKind.POSSIBLE_SAME_PERSON
            )
            keys = [key for root in roots for key in self._keys(clusters[root])]
            self._reviews.append(
                ReviewItem.of(kind, sorted(person_of_root[root] for root in roots), keys)
            )


class Correlation:
    """The people of a run, built on demand in person-id order.

    Iterating builds fresh :class:`~ecampus_idm.model.Person` values each time, so that
    a run over 100,000 people never holds them all.

    Args:
        records: The validated rows of the accepted sources, in order of precedence.
        entries: Each person's id and the indexes of their rows, sorted by id.
        reviews: Possible matches left for a human.
    """

    def __init__(
        self,
        records: Sequence[ValidRecord],
        entries: Sequence[tuple[str, tuple[int, ...]]],
        reviews: Sequence[ReviewItem],
    ) -> None:
        self._records = records
        self._entries = entries
        self.reviews = tuple(reviews)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Person]:
        records = self._records
        for person_id, members in self._entries:
            try:
                if len(members) == 1:
                    yield _single(person_id, records[members[0]])
                else:
                    yield _merged(person_id, [records[i] for i in members])
            except ValidationError as exc:
                problems = [
                    f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                    for error in exc.errors(include_input=False, include_url=False)
                ]
                # Not chained: pydantic's error would carry the input values into tracebacks.
                raise PersonBuildError(person_id, problems) from None

    def person_ids(self) -> list[str]:
        """Return the ids of every person, sorted."""
        return [person_id for person_id, _ in self._entries]

    def persons(self) -> list[Person]:
        """Return every person at once (small runs, tests)."""
        return list(self)

    def __repr__(self) -> str:
        return f"Correlation({len(self._entries)} persons, {len(self.reviews)} reviews)"


def _single(person_id: str, record: ValidRecord) -> Person:
    """Build the person of a single row (most people): no merging to do."""
    key = SourceKey(source=record.source, matricule=record.matricule)
    role = record.role
    enrolment = record.enrolment(key)
    attribution = record.attribution(key)
    return Person(
        person_id=person_id,
        given_name=record.given_name,
        family_name=record.family_name,
        birth_date=record.birth_date,
        niss_pseudonym=record.niss_pseudonym,
        personal_email=record.personal_email,
        email_issue=record.email_issue,
        language=record.language,
        language_issue=record.language_issue,
        roles=frozenset((role,)),
        source_keys=frozenset((key,)),
        enrolments=() if enrolment is None else (enrolment,),
        attributions=() if attribution is None else (attribution,),
    )


def _merged(person_id: str, records: list[ValidRecord]) -> Person:
    """Build the person of several rows, the first in precedence leading."""
    lead = records[0]
    keys: dict[tuple[str, str], SourceKey] = {}
    roles: set[Role] = set()
    enrolments: dict[Enrolment, None] = {}
    attributions: dict[Attribution, None] = {}
    birth_date = personal_email = pseudonym = None
    email_issue: EmailIssue | None = None
    language: Language | None = None
    language_issue = False
    for record in records:
        pair = (record.source, record.matricule)
        key = keys.get(pair)
        if key is None:
            key = keys[pair] = SourceKey(source=pair[0], matricule=pair[1])
        roles.add(record.role)
        birth_date = birth_date or record.birth_date
        personal_email = personal_email or record.personal_email
        email_issue = email_issue or record.email_issue
        language = language or record.language
        language_issue = language_issue or record.language_issue
        pseudonym = pseudonym or record.niss_pseudonym
        enrolment = record.enrolment(key)
        if enrolment is not None:
            enrolments[enrolment] = None
        attribution = record.attribution(key)
        if attribution is not None:
            attributions[attribution] = None
    ordered = sorted(attributions, key=lambda a: (a.start, a.school, a.end or date.max))
    if roles & {Role.TEACHER, Role.ADMINISTRATIVE}:
        roles.discard(Role.STAFF)  # another row says what the staff member does
    return Person(
        person_id=person_id,
        given_name=lead.given_name,
        family_name=lead.family_name,
        birth_date=birth_date,
        niss_pseudonym=pseudonym,
        personal_email=personal_email,
        # A valid address in any row wins; else a row's typo says why there is none.
        email_issue=None if personal_email else email_issue,
        # The first row in precedence that names a language wins; an unknown value in
        # another row is noted only when no row names one.
        language=language,
        language_issue=language_issue and language is None,
        roles=frozenset(roles),
        source_keys=frozenset(keys.values()),
        enrolments=tuple(enrolments),
        attributions=tuple(ordered),
    )
