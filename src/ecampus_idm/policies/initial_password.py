"""Initial passwords: strong, easy to read aloud and to type, never shown by accident.

This module owns the generation of the password a new account starts with (the one in
the welcome mail and in the secretariat's listing). A password is words of
consonant-vowel syllables and a group of digits, joined by hyphens
(``bazoki-muteva-ridopa-sukemi-47``):

* drawn with :func:`secrets.randbelow` (injectable for tests) as one integer, so every
  password of the shape is equally likely; the default shape is worth 80.7 bits;
* no character that looks like another (no ``0``/``O``, ``1``/``l``/``I``) and no letter
  whose sound changes with the next vowel, so it can be dictated syllable by syllable;
* lower case, digits and hyphens: three classes, which meets Active Directory's
  complexity rule; every password is still checked against the quality rules
  (:func:`~ecampus_idm.policies.quality.check_password`), username and name included;
* returned as :class:`~pydantic.SecretStr` only: its repr, JSON form and log lines show
  ``**********``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from pydantic import SecretStr

from ecampus_idm.policies._alphabet import CONSONANTS, DIGITS, SEPARATOR, VOWELS
from ecampus_idm.policies.errors import InitialPasswordError
from ecampus_idm.policies.quality import check_password
from ecampus_idm.policies.settings import InitialPasswordSettings, PasswordQualitySettings

__all__ = ["InitialPasswordGenerator", "RandomBelow"]

RandomBelow = Callable[[int], int]
"""A uniform random integer in ``[0, n)``: :func:`secrets.randbelow` or a test double."""

_SYLLABLES = tuple(c + v for c in CONSONANTS for v in VOWELS)


class InitialPasswordGenerator:
    """Generates initial passwords of the configured shape.

    Args:
        settings: The shape (words, syllables per word, digits).
        quality: The quality rules every password must pass.
        randbelow: The random source; :func:`secrets.randbelow` unless testing.
        max_attempts: Draws allowed before giving up (only a broken source needs more
            than one or two: a draw fails only when it happens to contain a name).

    Attributes:
        name: ``initial-password``.
    """

    name = "initial-password"

    def __init__(
        self,
        settings: InitialPasswordSettings,
        quality: PasswordQualitySettings,
        *,
        randbelow: RandomBelow = secrets.randbelow,
        max_attempts: int = 100,
    ) -> None:
        self.settings = settings
        self.quality = quality
        self._randbelow = randbelow
        self._max_attempts = max_attempts
        self._syllables = settings.words * settings.syllables_per_word
        self._space = len(_SYLLABLES) ** self._syllables * len(DIGITS) ** settings.digits

    @property
    def entropy_bits(self) -> float:
        """Entropy of one password, in bits."""
        return self.settings.entropy_bits

    def generate(self, *, username: str = "", display_name: str = "") -> SecretStr:
        """Return a new initial password for the account ``username`` of ``display_name``.

        Raises:
            InitialPasswordError: If ``max_attempts`` draws all broke a quality rule.
        """
        for _ in range(self._max_attempts):
            candidate = SecretStr(self._draw())
            verdict = check_password(
                candidate, self.quality, username=username, display_name=display_name
            )
            if verdict.allowed:
                return candidate
        raise InitialPasswordError(self._max_attempts)

    def _draw(self) -> str:
        number = self._randbelow(self._space)
        syllables: list[str] = []
        for _ in range(self._syllables):
            number, index = divmod(number, len(_SYLLABLES))
            syllables.append(_SYLLABLES[index])
        digits: list[str] = []
        for _ in range(self.settings.digits):
            number, index = divmod(number, len(DIGITS))
            digits.append(DIGITS[index])
        size = self.settings.syllables_per_word
        words = ["".join(syllables[i : i + size]) for i in range(0, len(syllables), size)]
        return SEPARATOR.join([*words, "".join(digits)])

    def __repr__(self) -> str:
        return (
            f"InitialPasswordGenerator(words={self.settings.words}, "
            f"syllables_per_word={self.settings.syllables_per_word}, "
            f"digits={self.settings.digits}, entropy_bits={self.entropy_bits:.1f})"
        )
