"""The rules for the passwords people choose, checked before the directory is asked.

NIST SP 800-63B revision 4: a length floor (15 by default, per population if wanted), a
generous ceiling (128), no composition rules, a blocklist of common passwords (the
shipped ``data/common-passwords.txt``: zxcvbn's list, MIT), and no context words (the
username, the person's names, the school names, "ecampus"). The directory's own policy
(OpenLDAP ppolicy: ``pwdMinLength``, ``pwdMaxLength``, ``pwdInHistory``) is mirrored, so
the user reads a clear message, French first, instead of a refused write.

A password is only ever handled as a :class:`~pydantic.SecretStr`; no problem, message
or exception carries it, its length or a part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from anyascii import anyascii
from pydantic import SecretStr

from ecampus_idm.directory.base import Directory
from ecampus_idm.errors import ConstraintViolationError
from ecampus_idm.passwords.errors import PasswordRejectedError, QualityProblem
from ecampus_idm.passwords.hashing import verify_ldap_password
from ecampus_idm.passwords.settings import QualitySettings

__all__ = [
    "DirectoryPolicy",
    "QualityResult",
    "check_user_password",
    "common_passwords",
    "read_directory_policy",
    "translate_directory_refusal",
]

_DELIMITERS = re.compile(r"[\s,.\-_#@'’()/]+")
_AD_MIN_CLASSES = 3
_POLICY_ATTRIBUTES = ("pwdMinLength", "pwdMaxLength", "pwdInHistory", "pwdCheckQuality")


@cache
def common_passwords() -> frozenset[str]:
    """Return the shipped blocklist (case-folded), read once."""
    text = resources.files("ecampus_idm.passwords.data").joinpath("common-passwords.txt")
    lines = text.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().casefold() for line in lines if line.strip() and not line.startswith("#")
    )


@dataclass(frozen=True)
class DirectoryPolicy:
    """The directory's password policy, as far as a user can be told in advance.

    Attributes:
        min_length: ``pwdMinLength`` (0: none).
        max_length: ``pwdMaxLength`` (0: none).
        in_history: ``pwdInHistory``: how many previous passwords may not be reused.
        check_quality: ``pwdCheckQuality`` (0 off, 1 when possible, 2 strict).
    """

    min_length: int = 0
    max_length: int = 0
    in_history: int = 0
    check_quality: int = 0


def read_directory_policy(directory: Directory, dn: str) -> DirectoryPolicy | None:
    """Read the ppolicy entry ``dn``; ``None`` when it does not exist."""
    entry = directory.get(dn, _POLICY_ATTRIBUTES)
    if entry is None:
        return None

    def number(name: str) -> int:
        value = entry.first(name)
        return int(value) if value and value.isdigit() else 0

    return DirectoryPolicy(
        min_length=number("pwdMinLength"),
        max_length=number("pwdMaxLength"),
        in_history=number("pwdInHistory"),
        check_quality=number("pwdCheckQuality"),
    )


@dataclass(frozen=True)
class QualityResult:
    """What :func:`check_user_password` found.

    Attributes:
        problems: Each broken rule, French and English; empty when the password is fine.
        min_length: The length floor that applied (to show next to the field).
        max_length: The length ceiling that applied.
    """

    problems: tuple[QualityProblem, ...]
    min_length: int
    max_length: int

    @property
    def ok(self) -> bool:
        """Whether the password meets every rule."""
        return not self.problems

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of the broken rules."""
        return tuple(p.code for p in self.problems)

    @property
    def message_fr(self) -> str:
        """Every problem in French, one per line."""
        return "\n".join(p.fr for p in self.problems)

    @property
    def message_en(self) -> str:
        """Every problem in English, one per line."""
        return "\n".join(p.en for p in self.problems)

    def raise_if_rejected(self) -> None:
        """Raise :class:`PasswordRejectedError` if a rule is broken."""
        if self.problems:
            raise PasswordRejectedError(self.problems)


def _forms(text: str) -> set[str]:
    folded = text.casefold()
    return {folded} if text.isascii() else {folded, anyascii(text).casefold()}


def _context_tokens(texts: Iterable[str], shortest: int) -> set[str]:
    tokens: set[str] = set()
    for text in texts:
        for form in _forms(text):
            tokens.update(p for p in (form, *_DELIMITERS.split(form)) if len(p) >= shortest)
    return tokens


def _ad_classes(value: str) -> int:
    """How many of Active Directory's character classes ``value`` uses."""
    kinds = set()
    for char in value:
        if char.isdigit():
            kinds.add("digit")
        elif char.isupper():
            kinds.add("upper")
        elif char.islower():
            kinds.add("lower")
        elif char.isalpha():
            kinds.add("letter")
        else:
            kinds.add("other")
    return len(kinds)


def check_user_password(
    password: SecretStr,
    *,
    settings: QualitySettings | None = None,
    username: str = "",
    names: Sequence[str] = (),
    schools: Sequence[str] = (),
    population: str | None = None,
    policy: DirectoryPolicy | None = None,
    history: Sequence[str] = (),
) -> QualityResult:
    """Check a password a person chose, naming every rule it breaks.

    Args:
        password: The candidate.
        settings: The rules (defaults: 15 to 128 characters, blocklist on).
        username: The account's login (may not appear in the password).
        names: The person's names (given, family, display; nor their parts).
        schools: The person's school names (nor their parts).
        population: The account's population (``student``...), for its length floor.
        policy: The directory's policy to mirror, if known.
        history: Hashes of previous passwords the directory refuses to reuse.

    Returns:
        The problems found (none: the password may be written).
    """
    rules = settings or QualitySettings()
    value = password.get_secret_value()
    policy = policy or DirectoryPolicy()
    floor = max(rules.min_length_for(population), policy.min_length)
    ceiling = min(rules.max_length, policy.max_length) if policy.max_length else rules.max_length
    problems: list[QualityProblem] = []
    if len(value) < floor:
        problems.append(
            QualityProblem(
                "quality.too_short",
                f"Le mot de passe doit compter au moins {floor} caractères.",
                f"The password must be at least {floor} characters long.",
            )
        )
    if len(value) > ceiling:
        problems.append(
            QualityProblem(
                "quality.too_long",
                f"Le mot de passe ne peut dépasser {ceiling} caractères.",
                f"The password cannot be longer than {ceiling} characters.",
            )
        )
    searched = _forms(value)
    blocked = rules.extra_blocklist | (common_passwords() if rules.use_blocklist else frozenset())
    if searched & blocked:
        problems.append(
            QualityProblem(
                "quality.blocklisted",
                "Ce mot de passe est trop courant ou a déjà fuité : choisissez-en un autre.",
                "This password is too common or known from a breach: choose another one.",
            )
        )
    personal = _context_tokens((username, *names), rules.context_token_length)
    if any(token in form for token in personal for form in searched):
        problems.append(
            QualityProblem(
                "quality.personal",
                "Le mot de passe ne peut contenir ni votre nom d'utilisateur ni votre nom.",
                "The password cannot contain your username or your name.",
            )
        )
    general = _context_tokens((*schools, *rules.context_words), rules.context_token_length)
    if any(token in form for token in general for form in searched):
        problems.append(
            QualityProblem(
                "quality.context",
                "Le mot de passe ne peut contenir ni « ecampus » ni le nom de votre école.",
                "The password cannot contain “ecampus” or the name of your school.",
            )
        )
    if rules.ad_complexity and _ad_classes(value) < _AD_MIN_CLASSES:
        problems.append(
            QualityProblem(
                "quality.ad_complexity",
                "Active Directory exige au moins trois sortes de caractères parmi majuscules, "
                "minuscules, chiffres et autres caractères.",
                "Active Directory requires at least three kinds of characters among upper "
                "case, lower case, digits and other characters.",
            )
        )
    if policy.in_history and any(verify_ldap_password(password, h) for h in history):
        problems.append(
            QualityProblem(
                "quality.reused",
                "Vous avez déjà utilisé ce mot de passe : choisissez-en un nouveau.",
                "You have used this password before: choose a new one.",
            )
        )
    return QualityResult(tuple(problems), floor, ceiling)


# ppolicy's texts (OpenLDAP servers/slapd/overlays/ppolicy.c) -> what the user reads.
_REFUSALS: tuple[tuple[str, QualityProblem], ...] = (
    (
        "history",
        QualityProblem(
            "directory.reused",
            "Vous avez déjà utilisé ce mot de passe : choisissez-en un nouveau.",
            "You have used this password before: choose a new one.",
        ),
    ),
    (
        "too young",
        QualityProblem(
            "directory.too_soon",
            "Le mot de passe vient d'être changé : réessayez plus tard.",
            "The password was changed very recently: try again later.",
        ),
    ),
    (
        "quality",
        QualityProblem(
            "directory.quality",
            "L'annuaire refuse ce mot de passe (trop court ou trop simple) : "
            "choisissez-en un plus long.",
            "The directory refuses this password (too short or too simple): choose a longer one.",
        ),
    ),
    (
        "too short",
        QualityProblem(
            "directory.too_short",
            "L'annuaire refuse ce mot de passe : il est trop court.",
            "The directory refuses this password: it is too short.",
        ),
    ),
    (
        "0000052d",  # Active Directory: check_password_restrictions
        QualityProblem(
            "directory.ad_policy",
            "Active Directory refuse ce mot de passe (complexité, historique ou changement "
            "trop récent) : choisissez-en un autre.",
            "Active Directory refuses this password (complexity, history or changed too "
            "recently): choose another one.",
        ),
    ),
    (
        "too long",
        QualityProblem(
            "directory.too_long",
            "L'annuaire refuse ce mot de passe : il est trop long.",
            "The directory refuses this password: it is too long.",
        ),
    ),
)

_REFUSED = QualityProblem(
    "directory.refused",
    "L'annuaire refuse ce mot de passe : choisissez-en un autre.",
    "The directory refuses this password: choose another one.",
)


def translate_directory_refusal(error: ConstraintViolationError) -> PasswordRejectedError:
    """Map a directory's refusal of a new password to a clear, bilingual rejection."""
    detail = error.detail.casefold()
    for needle, problem in _REFUSALS:
        if needle in detail:
            return PasswordRejectedError([problem])
    return PasswordRejectedError([_REFUSED])
