"""Property tests of the answer normaliser and the edit distance."""

from __future__ import annotations

import string
import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from learnloop.exercises.normalise import edit_distance, normalise

# Prose punctuation is dropped; dashes and slashes separate words instead, and symbols such as
# +, # or $ are kept because they can carry meaning ("C++", "C#", "$HOME").
DROPPED = [*".,;:!?'\"()[]{}", "¿", "¡", "«", "»", "…"]
KEPT = [c for c in string.punctuation if c not in DROPPED and c not in "-/\\"]
words = st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=12)
sentences = st.lists(words, min_size=1, max_size=5)


@given(st.text())
@example("\u210cello \u0130stanbul")  # black-letter H, dotted capital I
@example("ﬁ Ⅻ ǅ")
def test_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@given(st.text())
def test_idempotent_case_sensitive(text: str) -> None:
    once = normalise(text, case_sensitive=True)
    assert normalise(once, case_sensitive=True) == once


@given(sentences)
def test_case_invariant(parts: list[str]) -> None:
    text = " ".join(parts)
    assert normalise(text.upper()) == normalise(text.lower()) == normalise(text)


@given(sentences, st.lists(st.sampled_from(["", " ", "  ", "\t", "\n", " \u00a0 "]), min_size=6))
def test_whitespace_invariant(parts: list[str], gaps: list[str]) -> None:
    spaced = gaps[0] + "".join(part + (gaps[i + 1] or " ") for i, part in enumerate(parts))
    assert normalise(spaced) == normalise(" ".join(parts))


@given(sentences, st.data())
def test_punctuation_invariant(parts: list[str], data: st.DataObject) -> None:
    marked = [part + data.draw(st.sampled_from([*DROPPED, ""])) for part in parts]
    assert normalise(" ".join(marked)) == normalise(" ".join(parts))


@given(sentences)
def test_dashes_separate_words(parts: list[str]) -> None:
    assert normalise("-".join(parts)) == normalise(" ".join(parts))


@given(sentences)
def test_accent_invariant(parts: list[str]) -> None:
    text = " ".join(parts)
    accented = "".join(char + "\u0301" if char.isalpha() else char for char in text)
    assert normalise(accented) == normalise(text)


@given(st.text())
def test_output_has_no_case_accents_or_untidy_space(text: str) -> None:
    result = normalise(text)
    assert result == result.strip()
    assert "  " not in result
    assert not any(unicodedata.category(char) == "Mn" for char in result)
    assert result == result.casefold()


@given(sentences, st.sampled_from(KEPT))
def test_symbols_are_kept(parts: list[str], symbol: str) -> None:
    assert normalise(" ".join(parts) + symbol) != normalise(" ".join(parts))


def test_examples() -> None:
    assert normalise("  Café   Crème! ") == "cafe creme"
    assert normalise("Don't") == "dont"
    assert normalise("TCP/IP") == "tcp ip"
    assert normalise("3.14") == "3.14"
    assert normalise("Ǆ") == "dz"


short = st.text(alphabet="abcde", max_size=8)


@given(short, short)
def test_edit_distance_is_symmetric_and_bounded(a: str, b: str) -> None:
    assert edit_distance(a, b) == edit_distance(b, a)
    assert abs(len(a) - len(b)) <= edit_distance(a, b) <= max(len(a), len(b))
    assert (edit_distance(a, b) == 0) == (a == b)


@given(short, st.integers(min_value=0, max_value=7))
def test_one_swap_is_one_edit(text: str, index: int) -> None:
    if len(text) < 2 or text[index % (len(text) - 1)] == text[index % (len(text) - 1) + 1]:
        return
    i = index % (len(text) - 1)
    swapped = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    assert edit_distance(text, swapped) == 1


def test_edit_distance_examples() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("ab", "ba") == 1
