"""docs/authoring.md: every exercise example in it parses and passes its own tests, and every
key the parser accepts is documented there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from learnloop.content.check import check_course
from learnloop.content.fields import ANSWER_TEST
from learnloop.content.parser import (
    BLANK_SCHEMA,
    COURSE,
    EXERCISE_SCHEMAS,
    FRONT_MATTER,
    OPTION,
    QUESTION,
    RUBRIC_POINT,
)
from learnloop.exercises.kinds import REGISTRY

DOC = Path(__file__).parents[2] / "docs" / "authoring.md"
TEXT = DOC.read_text(encoding="utf-8")
EXAMPLE = re.compile(r"^```exercise\n(.*?)^```$", re.M | re.S)
EXAMPLES = EXAMPLE.findall(TEXT)


def test_the_doc_has_an_example_of_every_kind() -> None:
    kinds = {re.search(r"^kind: (\S+)", example, re.M).group(1) for example in EXAMPLES}  # type: ignore[union-attr]  # every example has a kind
    assert kinds >= set(EXERCISE_SCHEMAS)


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_every_example_parses_and_passes_its_tests(tmp_path: Path, index: int) -> None:
    (tmp_path / "course.yaml").write_text(
        "slug: docs\ntitle: Docs\nmodules:\n  - title: M\n    lessons: [01-example.md]\n"
    )
    front = "---\nnumber: 1\ntitle: Example\nxp: 1\n---\n"
    (tmp_path / "01-example.md").write_text(
        f"{front}## Part\n\n```exercise\n{EXAMPLES[index]}```\n"
    )
    assert check_course(tmp_path) == []


def test_every_key_is_documented() -> None:
    schemas = [
        COURSE,
        FRONT_MATTER,
        OPTION,
        BLANK_SCHEMA,
        RUBRIC_POINT,
        QUESTION,
        ANSWER_TEST,
        *EXERCISE_SCHEMAS.values(),
        *(spec.schema for spec in REGISTRY.values()),
    ]
    missing = sorted({key for schema in schemas for key in schema if f"`{key}`" not in TEXT})
    assert not missing, f"undocumented keys in docs/authoring.md: {missing}"


def test_the_doc_says_how_to_serve_your_own_courses() -> None:
    assert "LEARNLOOP_COURSES_DIR" in TEXT
    assert "LEARNLOOP_COURSES_DIR" in (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
