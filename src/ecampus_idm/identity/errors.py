"""The errors of identity resolution.

    IdmError
    └── PersonBuildError     person_id, problems: a correlated person failed the model's rules

Row problems are not errors (they are :class:`~ecampus_idm.connectors.quarantine.RowIssue`
values) and neither are doubtful matches (they are
:class:`~ecampus_idm.identity.correlate.ReviewItem` values). A :class:`PersonBuildError`
means the validation let through a value the domain model refuses: a defect to fix
here, reported without the values themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from ecampus_idm.errors import IdmError

__all__ = ["PersonBuildError"]


class PersonBuildError(IdmError):
    """A correlated person cannot be built as a :class:`~ecampus_idm.model.Person`.

    Attributes:
        person_id: The id the person would have had.
        problems: The model's complaints, as ``field: message`` (no values).
    """

    def __init__(self, person_id: str, problems: Sequence[str]) -> None:
        self.person_id = person_id
        self.problems = tuple(problems)
        super().__init__(f"person {person_id} cannot be built: {'; '.join(self.problems)}")
