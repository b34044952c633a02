"""How typed answers are compared: the normaliser and the edit distance behind "close"."""

from __future__ import annotations

import unicodedata

# Prose punctuation is dropped ("don't" = "dont", "tracing." = "tracing"); dashes and slashes
# between words separate them ("distributed-tracing", "TCP/IP"). Every other mark is kept,
# because symbols carry meaning: "C#", "C++", "x**2", "-5", "$HOME".
_SEPARATORS = frozenset("/\\")
_PROSE_PUNCTUATION = frozenset(
    ".,;:!?'\"()[]{}\u00bf\u00a1\u00ab\u00bb\u2026\u2018\u2019\u201c\u201d"
)
_MINUS = "\u2212"


def _fold_char(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Mn":  # combining accent left over from NFKD
        return ""
    if category == "Pd" or char in _SEPARATORS:
        return " "
    if char in _PROSE_PUNCTUATION or category in ("Pi", "Pf", "Ps", "Pe"):
        return ""
    return char


def is_symbolic(text: str) -> bool:
    """No letter or digit at all: "==", "//", "?", "-". Such answers are compared exactly."""
    return bool(text.strip()) and not any(char.isalnum() for char in text)


def normalise(text: str, *, case_sensitive: bool = False) -> str:
    """Fold an answer so that case, accents, punctuation and spacing do not matter.

    Idempotent: normalising a normalised answer changes nothing.
    """
    # NFKD on both sides of casefold: compatibility forms can decompose to capitals (black-letter
    # H -> H) and casefold can add combining marks (dotted capital I -> i + dot), so a single
    # pass would not be idempotent.
    folded = unicodedata.normalize("NFKD", text)
    if not case_sensitive:
        # The dotless i is the one letter whose capital (I) folds back to a different letter.
        folded = unicodedata.normalize("NFKD", folded.casefold()).replace("\u0131", "i")
    folded = folded.replace(_MINUS, "-")
    kept: list[str] = []
    last = ""  # the last character kept so far: a sign follows no letter or digit
    for index, char in enumerate(folded):
        following = folded[index + 1] if index + 1 < len(folded) else ""
        if char in ".," and last.isdigit() and following.isdigit():
            piece = char  # part of a number: "3.4" must not become "34"
        elif char in "-+" and following.isdigit() and not last.isalnum():
            piece = char  # a sign: "-5" is not "5"
        else:
            piece = _fold_char(char)
        kept.append(piece)
        last = piece[-1] if piece else last
    return " ".join("".join(kept).split())


def edit_distance(first: str, second: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swap of neighbours costs 1."""
    if first == second:
        return 0
    if not first or not second:
        return len(first) or len(second)
    previous_previous: list[int] = []
    previous = list(range(len(second) + 1))
    for i, char_a in enumerate(first, start=1):
        current = [i] + [0] * len(second)
        for j, char_b in enumerate(second, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == second[j - 2] and first[i - 2] == char_b:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        previous_previous, previous = previous, current
    return previous[-1]


# Shorter answers get no typo slack: with "N" accepted, any one letter would be one edit away.
MIN_TYPO_LENGTH = 4


def typo_allowance(expected: str) -> int:
    """How many edits still count as a near miss: none under 4 characters, one up to 5, then two."""
    if len(expected) < MIN_TYPO_LENGTH:
        return 0
    return 1 if len(expected) <= 5 else 2
