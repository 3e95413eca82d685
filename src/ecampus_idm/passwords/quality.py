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
import threading
import unicodedata
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
    "ESTIMATOR_WINDOW",
    "DirectoryPolicy",
    "QualityResult",
    "check_user_password",
    "common_passwords",
    "estimate_strength",
    "read_directory_policy",
    "translate_directory_refusal",
]

_DELIMITERS = re.compile(r"[\s,.\-_#@'’()/]+")
_AD_MIN_CLASSES = 3
_POLICY_ATTRIBUTES = ("pwdMinLength", "pwdMaxLength", "pwdInHistory", "pwdCheckQuality")

ESTIMATOR_WINDOW = 64
"""How many characters (after whitespace is collapsed) the strength estimate reads.

zxcvbn's cost grows quickly with the length (measured on this project's 2-core machine,
worst case, a 100-character l33t-rich input: 0.5 s; at 64 characters: 0.3 s; a usual
30-character passphrase: 3 ms), and it refuses inputs past its ``max_length``. Reading the
start only can make the estimate lower, never higher: a password whose first 64
characters are guessable is refused even if its tail is not.
"""

# Walks on the Belgian/French AZERTY keyboard (zxcvbn only knows QWERTY, Dvorak and the
# keypads): the letter rows, the whole board row by row, the columns ("aqw", "zsx"...,
# as "1qaz2wsx" on QWERTY), with and without the digits above them.
_AZERTY_WALKS = (
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "azertyuiopqsdfghjklmwxcvbn",
    "aqwzsxedcrfvtgbyhnujikolpm",
    "1aqw2zsx3edc4rfv5tgb6yhn7uj8ik9ol0pm",
    "&é\"'(-è_çà",
)
_WALK_SHORTEST = 4
# Control characters (Cc: NUL, tab, newline...), invisible format characters (Cf: zero-
# width space, bidi marks, soft hyphen) and lone surrogates (Cs): not typable the same
# way twice, and some break the directory's storage or the login form.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
# zxcvbn keeps the user inputs in a module-level dictionary while it estimates: one
# estimate at a time, or one thread would judge with another's names.
_ESTIMATOR_LOCK = threading.Lock()


@cache
def common_passwords() -> frozenset[str]:
    """Return the shipped blocklist (case-folded), read once."""
    text = resources.files("ecampus_idm.passwords.data").joinpath("common-passwords.txt")
    lines = text.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().casefold() for line in lines if line.strip() and not line.startswith("#")
    )


@cache
def _keyboard_words() -> tuple[str, ...]:
    """Every stretch (4 keys or more, both ways) of the AZERTY walks, longest first."""
    words: dict[str, None] = {}
    for walk in _AZERTY_WALKS:
        for line in (walk, walk[::-1]):
            for size in range(len(line), _WALK_SHORTEST - 1, -1):
                for start in range(len(line) - size + 1):
                    words[line[start : start + size]] = None
    return tuple(words)


def _estimator_words(texts: Iterable[str]) -> list[str]:
    """The texts, their transliterations and their parts, as zxcvbn's user inputs."""
    words: dict[str, None] = {}
    for text in texts:
        for form in _forms(text):
            parts = [p for p in _DELIMITERS.split(form) if p]
            for word in (form, "".join(parts), *parts):
                if word:
                    words[word] = None
    return list(words)


def estimate_strength(password: SecretStr, user_inputs: Iterable[str] = ()) -> int:
    """Estimate how guessable a password is: zxcvbn's score, 0 (trivial) to 4.

    Score 4 means an estimated 10^10 guesses or more; 3, at least 10^8. The estimator
    reads the password with its whitespace runs collapsed to one space (padding with
    spaces adds nothing an attacker would not try) and only its first
    :data:`ESTIMATOR_WINDOW` characters: zxcvbn's cost grows quickly with the length,
    and cutting can only lower the estimate. The AZERTY keyboard's walks are always
    among the known words.

    Args:
        password: The candidate.
        user_inputs: Words to count as known (username, names, school names...).

    Returns:
        The score, 0 to 4.
    """
    from zxcvbn import zxcvbn  # noqa: PLC0415 - loaded on the first check, not on import

    text = " ".join(password.get_secret_value().split())[:ESTIMATOR_WINDOW]
    words = [*_estimator_words(user_inputs), *_keyboard_words()]
    with _ESTIMATOR_LOCK:
        result = zxcvbn(text, user_inputs=words, max_length=ESTIMATOR_WINDOW)
    return int(result["score"])


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


def _has_control(value: str) -> bool:
    return any(unicodedata.category(char) in _CONTROL_CATEGORIES for char in value)


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

    The strength estimate (``quality.weak``, :func:`estimate_strength`) runs only when
    no rule on the length, the characters, the blocklist or the context words is broken
    already: the user fixes those first, and the estimate is skipped on text it would
    judge for nothing (a 4,096-character paste).

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
    if _has_control(value):
        problems.append(
            QualityProblem(
                "quality.control",
                "Le mot de passe ne peut contenir de caractère de contrôle ou invisible "
                "(tabulation, retour à la ligne, espace sans largeur…).",
                "The password cannot contain a control or invisible character (tab, line "
                "break, zero-width space…).",
            )
        )
    elif value and not value.strip():
        problems.append(
            QualityProblem(
                "quality.blank",
                "Le mot de passe ne peut être fait que d'espaces.",
                "The password cannot be made of spaces only.",
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
    if rules.min_strength and not problems:
        known = (username, *names, *schools, *rules.context_words, *rules.known_words)
        if estimate_strength(password, known) < rules.min_strength:
            problems.append(
                QualityProblem(
                    "quality.weak",
                    "Ce mot de passe est trop facile à deviner (répétitions, suites, touches "
                    "voisines du clavier, mots ou dates courants) : choisissez une phrase de "
                    "plusieurs mots peu courants.",
                    "This password is too easy to guess (repeats, sequences, neighbouring "
                    "keys, common words or dates): choose a phrase of several uncommon words.",
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
