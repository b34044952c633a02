"""The fast Rust Markdown engine must render exactly what markdown-it-py renders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from learnloop.content import markdown
from learnloop.content.parser import EXERCISE_INFO, split_body, split_front_matter

REPO = Path(__file__).resolve().parents[2]
COURSES = [Path(__file__).parent / "fixtures" / "demo", REPO / "courses" / "cloud-native"]
needs_rust = pytest.mark.skipif("rust" not in markdown.ENGINES, reason="markdown-it-pyrs absent")

SAMPLES = [
    'Plain *emphasis*, **strong**, `code`, [link](https://example.org "title") and <b>raw</b>.',
    "1. one\n2. two\n   - nested\n\n> quoted\n> text\n\n---\n\n### Small heading",
    "| a | b |\n|:--|--:|\n| 1 | 2 |\n| `x` | *y* |",
    "```yaml\nkey: value\n```\n\n    indented code\n\nA line  \nbreak and an &amp; entity &copy;.",
    "[ref link][r] and ![img](https://example.org/a.png)\n\n[r]: https://example.org/r",
    "<script>alert(1)</script> [x](javascript:alert(1)) <https://example.org> tail",
    "Setext heading\n--------------\n\nText with trailing hash # and _under_score_ words.",
]


@needs_rust
@pytest.mark.parametrize("sample", SAMPLES)
def test_engines_agree_on_samples(sample: str) -> None:
    python = markdown.sanitise(markdown.ENGINES["python"](sample))
    rust = markdown.sanitise(markdown.ENGINES["rust"](sample))
    assert rust == python


@needs_rust
@pytest.mark.parametrize("course", COURSES, ids=lambda path: path.name)
def test_engines_agree_on_every_prose_chunk(course: Path) -> None:
    chunks = 0
    for lesson in sorted(course.glob("*.md")):
        parts = split_front_matter(lesson.read_text(encoding="utf-8"))
        assert parts is not None, lesson
        for chunk in split_body(parts[1]):
            if chunk.kind != "prose":
                continue
            chunks += 1
            python = markdown.sanitise(markdown.ENGINES["python"](chunk.text))
            rust = markdown.sanitise(markdown.ENGINES["rust"](chunk.text))
            assert rust == python, f"{lesson.name} line {chunk.line}"
    assert chunks > 0


@needs_rust
def test_show_json_is_the_same_with_either_engine() -> None:
    outputs = []
    for engine in ("python", "rust"):
        completed = subprocess.run(
            [sys.executable, "-m", "learnloop", "show", "--json", str(COURSES[0])],
            env={**os.environ, "LEARNLOOP_MARKDOWN_ENGINE": engine},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        outputs.append(completed.stdout)
    assert outputs[0] == outputs[1]


def test_split_body_finds_headings_and_exercises_outside_code() -> None:
    body = (
        "Intro\n\n## First ##\n\n````markdown\n## not a heading\n```exercise\nkind: x\n```\n"
        "````\n\n```exercise\nkind: takeaways\n```\n\n~~~\n## still code\n~~~\n## Second\n"
    )
    chunks = [(c.kind, c.text.strip(), c.line) for c in split_body(body)]
    assert [(kind, line) for kind, _, line in chunks] == [
        ("prose", 0),
        ("heading", 2),
        ("prose", 3),
        ("exercise", 11),
        ("prose", 14),
        ("heading", 18),
    ]
    assert chunks[1][1] == "First"
    assert chunks[3][1] == "kind: takeaways"
    assert EXERCISE_INFO == "exercise"
