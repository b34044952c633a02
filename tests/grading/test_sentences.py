"""How an answer is cut into the sentences the judge reads."""

from __future__ import annotations

import pytest

from learnloop.grading.features import split_sentences


@pytest.mark.parametrize(
    ("answer", "sentences"),
    [
        # A "." standing alone is a path in a Dockerfile or a command, not a sentence end.
        (
            "COPY . /app before pip install is the right order. Then run it.",
            ["COPY . /app before pip install is the right order.", "Then run it."],
        ),
        (
            "End with COPY . . and build with docker build . -t api. Push the tag.",
            ["End with COPY . . and build with docker build . -t api.", "Push the tag."],
        ),
        ("1. Pin the base. 2. Add a user.", ["Pin the base.", "Add a user."]),
        (
            "Readiness removes it; liveness restarts it.",
            ["Readiness removes it;", "liveness restarts it."],
        ),
    ],
)
def test_an_answer_is_cut_at_sentence_ends_only(answer: str, sentences: list[str]) -> None:
    assert split_sentences(answer) == sentences
