"""Failures of the policies (a refusal is a :class:`~ecampus_idm.policies.Decision`, not these).

A policy that says "no" or "not yet" returns a decision with a reason. The exceptions here
are for the cases where no decision can be made at all: the caller passed inconsistent
input, asked for a rule nobody registered, or the random source could not produce an
acceptable password. They hang under :class:`~ecampus_idm.errors.IdmError`::

    IdmError
    └── PolicyError
        ├── PolicyInputError        the persons given cannot be decided (person_ids)
        ├── UnknownRuleError        no rule registered under that name (name, known)
        └── InitialPasswordError    no generated password met the quality rules (attempts)
"""

from __future__ import annotations

from collections.abc import Iterable

from ecampus_idm.errors import IdmError

__all__ = ["InitialPasswordError", "PolicyError", "PolicyInputError", "UnknownRuleError"]


class PolicyError(IdmError):
    """A policy could not be evaluated."""


class PolicyInputError(PolicyError):
    """The persons handed to the policies are inconsistent.

    Attributes:
        person_ids: The identifiers at fault (sorted), e.g. given twice in one run.
    """

    def __init__(self, problem: str, person_ids: Iterable[str]) -> None:
        self.person_ids = tuple(sorted(person_ids))
        super().__init__(f"{problem}: {', '.join(self.person_ids)}")


class UnknownRuleError(PolicyError):
    """No rule is registered under the requested name.

    Attributes:
        name: The requested name.
        known: The names that are registered (sorted).
    """

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f"no rule named {name!r} (known: {', '.join(self.known) or 'none'})")


class InitialPasswordError(PolicyError):
    """The generator found no password meeting the quality rules.

    Only a broken random source gets here; the message never contains a password.

    Attributes:
        attempts: How many passwords were drawn and refused.
    """

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(
            f"no initial password met the quality rules after {attempts} attempts "
            "(is the random source broken?)"
        )
