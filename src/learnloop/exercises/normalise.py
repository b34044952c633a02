"""How typed answers are compared: the normaliser and the edit distance behind "close"."""

from __future__ import annotations

import unicodedata

# Dashes and slashes separate words ("distributed-tracing", "TCP/IP"), so they become spaces;
# every other punctuation mark is simply dropped ("don't" and "dont" compare equal).
_SEPARATORS = frozenset("/\\")


def _fold_char(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Mn":  # combining accent left over from NFKD
        return ""
    if category == "Pd" or char in _SEPARATORS:
        return " "
    if category.startswith("P"):
        return ""
    return char


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
    kept = "".join(
        # A point or comma between digits is part of a number ("3.4" must not become "34").
        char
        if char in ".,"
        and 0 < index < len(folded) - 1
        and folded[index - 1].isdigit()
        and folded[index + 1].isdigit()
        else _fold_char(char)
        for index, char in enumerate(folded)
    )
    return " ".join(kept.split())


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


def typo_allowance(expected: str) -> int:
    """How many edits still count as a near miss: one for short answers, two for longer."""
    return 1 if len(expected) <= 5 else 2
