"""The alphabet of initial passwords, and what a password shape is worth in entropy.

Kept apart so that the settings can check a configured shape (words, syllables, digits)
without importing the generator. Letters and digits that look alike in common fonts
(``0``/``O``/``o``, ``1``/``l``/``I``) and letters whose sound depends on the next vowel or
that are silent in French (``c``, ``q``, ``w``, ``x``, ``y``, ``l``) are left out, so that
a password can be read aloud syllable by syllable and typed without hesitation.
"""

from __future__ import annotations

import math

CONSONANTS = "bdfghjkmnprstvz"
VOWELS = "aeiou"
DIGITS = "23456789"
SEPARATOR = "-"


def shape_entropy_bits(words: int, syllables_per_word: int, digits: int) -> float:
    """Return the entropy, in bits, of a password drawn uniformly with this shape."""
    syllable = len(CONSONANTS) * len(VOWELS)
    return words * syllables_per_word * math.log2(syllable) + digits * math.log2(len(DIGITS))


def shape_length(words: int, syllables_per_word: int, digits: int) -> int:
    """Return the length of every password of this shape (separators included)."""
    return words * syllables_per_word * 2 + words + digits
