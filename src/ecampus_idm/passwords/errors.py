"""The errors of the password-reset service, under :class:`~ecampus_idm.errors.IdmError`.

The portal catches :class:`TokenError` on the reset page (the link is dead: offer a new
request) and :class:`PasswordRejectedError` on the form (show ``message_fr`` first, then
``message_en``). None of them ever carries a token, a link or a password.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ecampus_idm.errors import IdmError

__all__ = [
    "InvalidAddressError",
    "PasswordError",
    "PasswordRejectedError",
    "PasswordWriteError",
    "QualityProblem",
    "ResetConfigError",
    "TokenError",
    "TokenExpiredError",
    "TokenInvalidError",
]


class PasswordError(IdmError):
    """Base of the password-reset errors."""


class ResetConfigError(PasswordError):
    """The reset service is not configured well enough to run (e.g. no token key)."""


class TokenError(PasswordError):
    """A reset link cannot be used (the portal offers a new request)."""


class TokenInvalidError(TokenError):
    """The token is unknown, malformed, already used, revoked, or no longer matches the account.

    Attributes:
        reason: Why, as a short code (``unknown``, ``malformed``, ``used``, ``revoked``,
            ``changed``, ``disabled``): for audit and support, not to show to the user.
    """

    message_fr = "Ce lien n'est plus valable. Demandez un nouveau lien."
    message_en = "This link is no longer valid. Ask for a new link."

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the reset link is not valid ({reason})")


class TokenExpiredError(TokenError):
    """The token was valid but is past its expiry.

    Attributes:
        issued_at: When the link was made (UTC), so the portal can say "sent at 14:02".
        expired_at: When it stopped working (UTC).
    """

    message_fr = "Ce lien a expiré. Demandez un nouveau lien."
    message_en = "This link has expired. Ask for a new link."

    def __init__(self, issued_at: datetime, expired_at: datetime) -> None:
        self.issued_at = issued_at
        self.expired_at = expired_at
        super().__init__(
            f"the reset link issued at {issued_at.isoformat()} expired at {expired_at.isoformat()}"
        )


class QualityProblem:
    """One rule a chosen password breaks, with its message in French and English.

    Attributes:
        code: Stable code (``quality.too_short``...).
        fr: The message in French.
        en: The message in English.
    """

    __slots__ = ("code", "en", "fr")

    def __init__(self, code: str, fr: str, en: str) -> None:
        self.code = code
        self.fr = fr
        self.en = en

    def __repr__(self) -> str:
        return f"QualityProblem({self.code!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QualityProblem):
            return NotImplemented
        return (self.code, self.fr, self.en) == (other.code, other.fr, other.en)

    def __hash__(self) -> int:
        return hash(self.code)


class PasswordRejectedError(PasswordError):
    """The new password was refused (by our rules or by the directory's policy).

    The token is not consumed: the user may try another password with the same link.

    Attributes:
        problems: What is wrong, each in French and English.
    """

    def __init__(self, problems: Sequence[QualityProblem]) -> None:
        self.problems = tuple(problems)
        codes = ", ".join(p.code for p in self.problems) or "refused"
        super().__init__(f"the new password was refused ({codes})")

    @property
    def message_fr(self) -> str:
        """Every problem, in French, one per line."""
        return "\n".join(p.fr for p in self.problems)

    @property
    def message_en(self) -> str:
        """Every problem, in English, one per line."""
        return "\n".join(p.en for p in self.problems)


class PasswordWriteError(PasswordError):
    """The directory could not store the new password (unreachable, or another failure).

    The token is not consumed: the user may retry later.
    """

    message_fr = "Le mot de passe n'a pas pu être enregistré. Réessayez dans quelques minutes."
    message_en = "The password could not be saved. Try again in a few minutes."


class InvalidAddressError(PasswordError, ValueError):
    """The submitted text is not an e-mail address (says nothing of any account)."""

    message_fr = "Cette adresse électronique n'est pas valide : vérifiez-la."
    message_en = "This e-mail address is not valid: please check it."

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"not a valid e-mail address: {detail}")
