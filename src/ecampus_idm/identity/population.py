"""One read of every source: from connectors to the people of the run.

:func:`load_population` reads each source in order of precedence, validates every row,
refuses a source whose export fails a whole-export check (including too many quarantined
rows), records the accepted ones in the ledger, and correlates the rest into people.

The result says which sources are *authoritative* for this run. A person missing from a
refused or unavailable source has not left: downstream code (lifecycle, sync) must not
take any role away on the word of a source that is not in :attr:`Population.accepted`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ecampus_idm.clock import Clock
from ecampus_idm.connectors.base import Connector, ExportFacts, ExportLedger
from ecampus_idm.connectors.errors import (
    ExportRefusedError,
    LedgerError,
    RefusalReason,
    SourceError,
)
from ecampus_idm.connectors.quarantine import QuarantineReport, RowIssue
from ecampus_idm.identity.correlate import Correlation, Correlator, IdentityIndex, ReviewItem
from ecampus_idm.identity.pseudonym import Pseudonymiser
from ecampus_idm.identity.validate import RecordValidator, ValidRecord
from ecampus_idm.model import School

__all__ = ["Population", "load_population"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Population:
    """The people of one run, and how far each source can be trusted.

    Attributes:
        people: The correlated people (built on demand, see
            :class:`~ecampus_idm.identity.correlate.Correlation`).
        report: Every quarantined row and every refused source.
        accepted: The facts of each source accepted for this run.
        failed: Each source refused or unreadable, with its error.
    """

    people: Correlation
    report: QuarantineReport
    accepted: Mapping[str, ExportFacts] = field(default_factory=dict)
    failed: Mapping[str, SourceError] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every source was accepted."""
        return not self.failed

    @property
    def reviews(self) -> tuple[ReviewItem, ...]:
        """Possible matches left for a human."""
        return self.people.reviews

    def is_authoritative(self, source: str) -> bool:
        """Whether ``source`` was accepted, so that its absences mean something."""
        return source in self.accepted


def load_population(
    connectors: Sequence[Connector],
    pseudonymiser: Pseudonymiser,
    *,
    clock: Clock,
    schools: Iterable[School] = (),
    ledger: ExportLedger | None = None,
    index: IdentityIndex | None = None,
    allow: Mapping[str, Collection[RefusalReason]] | None = None,
) -> Population:
    """Read, validate and correlate every source.

    Args:
        connectors: The sources, in order of precedence.
        pseudonymiser: Turns national numbers into pseudonyms and derives person ids.
        clock: Gives today's date (birth dates in the future) and the acceptance time.
        schools: The configured schools.
        ledger: The last accepted exports; accepted ones are recorded in it.
        index: What earlier runs knew about people, if a store is there.
        allow: Per source, refusal reasons the operator accepts for this run.

    Returns:
        The people, the quarantine report and the state of each source. One bad row or
        one bad source never aborts the run; only a damaged ledger does
        (:class:`~ecampus_idm.connectors.errors.LedgerError`).
    """
    school_list = tuple(schools)
    report = QuarantineReport()
    correlator = Correlator(pseudonymiser, index=index)
    accepted: dict[str, ExportFacts] = {}
    failed: dict[str, SourceError] = {}
    today = clock.today()
    for connector in connectors:
        validator = RecordValidator(
            connector.profile, pseudonymiser, schools=school_list, today=today
        )
        permitted = (allow or {}).get(connector.source, ())
        records: list[ValidRecord] = []
        issues: list[RowIssue] = []
        try:
            facts = _read(
                connector,
                validator=validator,
                ledger=ledger,
                allow=permitted,
                records=records,
                issues=issues,
            )
        except LedgerError:
            raise  # without the ledger the shrink check is off: stop the whole run
        except SourceError as exc:
            report.extend(issues)
            report.refuse(exc)
            failed[connector.source] = exc
            _log.warning("source %s not used for this run: %s", connector.source, exc)
            continue
        facts = facts.model_copy(update={"accepted_at": clock.now()})
        if ledger is not None:
            ledger.record_accepted(facts)
        accepted[connector.source] = facts
        report.extend(issues)
        report.extend(correlator.add(records))
        _log.info(
            "source %s accepted: %d rows, %d quarantined",
            connector.source,
            facts.rows,
            len(issues),
        )
    people = correlator.result()
    _log.info(
        "%d people from %d source(s); %d quarantined row(s), %d review item(s)",
        len(people),
        len(accepted),
        len(report),
        len(people.reviews),
    )
    return Population(people, report, accepted, failed)


def _read(
    connector: Connector,
    *,
    validator: RecordValidator,
    ledger: ExportLedger | None,
    allow: Collection[RefusalReason],
    records: list[ValidRecord],
    issues: list[RowIssue],
) -> ExportFacts:
    """Read one source into ``records`` and ``issues``; refuse it if too many rows fail."""
    batch = connector.read(ledger, allow=allow)
    rows = 0
    validate = validator.validate
    for item in batch:
        rows += 1
        if isinstance(item, RowIssue):
            issues.append(item)
            continue
        result = validate(item)
        if isinstance(result, list):
            issues.extend(result)
        else:
            records.append(result)
    rejected = rows - len(records)
    limit = connector.checks.max_rejected_share
    if rows and rejected / rows > limit and RefusalReason.TOO_MANY_REJECTED not in allow:
        raise ExportRefusedError(
            connector.source,
            batch.path,
            RefusalReason.TOO_MANY_REJECTED,
            f"{rejected} of {rows} rows quarantined ({rejected / rows:.0%}; at most "
            f"{limit:.0%} allowed): a changed format must not look like departures",
        )
    return batch.facts
