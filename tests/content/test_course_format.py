"""Round trip: the fixture course parsed, printed by `learnloop show --json`, read back."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from learnloop.cli import main
from learnloop.content.loader import load_course
from learnloop.content.markdown import render, slugify
from learnloop.content.model import ProseBlock
from learnloop.content.parser import estimate_minutes, parse_course

FIXTURE = Path(__file__).parent / "fixtures" / "demo"


@pytest.fixture(scope="module")
def shown() -> dict[str, Any]:
    result = CliRunner().invoke(main, ["show", "--json", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def exercise(shown: dict[str, Any], lesson: int, exercise_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e for e in shown["lessons"][lesson - 1]["exercises"] if e["id"] == exercise_id
    )
    return found


def test_course_fields(shown: dict[str, Any]) -> None:
    assert shown["slug"] == "demo"
    assert shown["title"] == "Demo Course"
    assert shown["description"].startswith("A small course")
    assert len(shown["content_hash"]) == 64
    assert shown["modules"] == [
        {"title": "Basics", "lessons": [1]},
        {"title": "More", "lessons": [2]},
    ]
    assert [lesson["number"] for lesson in shown["lessons"]] == [1, 2]


def test_lesson_fields(shown: dict[str, Any]) -> None:
    first = shown["lessons"][0]
    assert first["title"] == "Containers in a Nutshell"
    assert first["slug"] == "containers-in-a-nutshell"
    assert (first["xp"], first["minutes"], first["minutes_estimated"]) == (50, 7, False)
    assert first["summary"] == "What a container is, and why images never change."
    assert first["module"] == "Basics"
    assert [(s["id"], s["title"]) for s in first["sections"]] == [
        ("introduction", "Introduction"),
        ("what-is-a-container", "What Is a Container?"),
        ("images-layers", "Images & Layers"),
    ]
    assert "<table>" in first["sections"][1]["html"]
    assert "<h2" not in first["sections"][1]["html"]


def test_lesson_without_introduction_starts_at_first_heading(shown: dict[str, Any]) -> None:
    second = shown["lessons"][1]
    assert [s["id"] for s in second["sections"]] == ["pods", "services"]
    assert second["minutes_estimated"] is True


def test_exercise_ids_kinds_and_sections(shown: dict[str, Any]) -> None:
    first = shown["lessons"][0]["exercises"]
    assert [(e["id"], e["kind"], e["section_id"]) for e in first] == [
        ("choice-1", "choice", "what-is-a-container"),
        ("pick-two", "choice", "what-is-a-container"),
        ("true-false-1", "true-false", "images-layers"),
        ("fill-blank-1", "fill-blank", "images-layers"),
        ("takeaways-1", "takeaways", "images-layers"),
        ("written-1", "written", "images-layers"),
        ("go-deeper-1", "go-deeper", "images-layers"),
    ]
    # Derived ids count per lesson, so lesson 2's first fill-blank is fill-blank-1 again.
    assert [e["id"] for e in shown["lessons"][1]["exercises"]] == ["fill-blank-1", "service-ip"]


def test_choice_round_trip(shown: dict[str, Any]) -> None:
    choice = exercise(shown, 1, "choice-1")
    assert choice["prompt"] == "Why prefer a minimal base image?"
    assert choice["shuffle"] is True
    assert choice["multiple"] is False
    assert choice["explanation"] == "Fewer packages mean fewer things to patch."
    assert choice["options"] == [
        {
            "id": "a",
            "text": "It has fewer packages that could carry vulnerabilities.",
            "correct": True,
            "feedback": "Yes, a smaller attack surface.",
        },
        {
            "id": "b",
            "text": "It makes the CPU faster.",
            "correct": False,
            "feedback": "The CPU does not care.",
        },
        # YAML reads 42 as a number; option text is always a string.
        {"id": "c", "text": "42", "correct": False, "feedback": ""},
    ]
    multiple = exercise(shown, 1, "pick-two")
    assert multiple["multiple"] is True
    assert [o["id"] for o in multiple["options"] if o["correct"]] == ["crun", "runc"]


def test_other_kinds_round_trip(shown: dict[str, Any]) -> None:
    true_false = exercise(shown, 1, "true-false-1")
    assert true_false["answer"] is False
    assert true_false["explanation"].startswith("The image is read-only")

    blank = exercise(shown, 1, "fill-blank-1")
    assert blank["prompt"].count("___") == 2
    assert blank["blanks"][0]["answers"] == ["kernel", "Linux kernel"]
    assert blank["blanks"][0]["allow_typos"] is True
    assert (blank["blanks"][1]["number"], blank["blanks"][1]["tolerance"]) == (3.0, 0.5)
    assert exercise(shown, 2, "fill-blank-1")["blanks"][0]["regex"] == "replica ?sets?"

    assert exercise(shown, 1, "takeaways-1")["items"] == [
        "Containers share the kernel.",
        "Images never change after they are built.",
    ]

    written = exercise(shown, 1, "written-1")
    assert written["model_answer"] == "Because the same bytes run everywhere."
    assert (written["min_words"], written["max_words"]) == (20, 600)
    assert written["rubric"] == [
        {
            "id": "p1",
            "point": "The same image runs in every environment.",
            "weight": 2.0,
            "misconceptions": [],
        },
        {
            "id": "p2",
            "point": "Changes mean a new image, not an edit.",
            "weight": 1.0,
            "misconceptions": [],
        },
    ]

    assert exercise(shown, 1, "go-deeper-1")["questions"] == [
        {"id": "q1", "question": "What is a layer?", "answer": "A read-only filesystem diff."},
        {"id": "q2", "question": "How are layers cached?", "answer": None},
    ]


def test_exercise_source_lines(shown: dict[str, Any]) -> None:
    assert exercise(shown, 1, "choice-1")["line"] == 18
    assert exercise(shown, 2, "service-ip")["line"] == 23


def test_raw_html_and_script_links_are_neutralised(shown: dict[str, Any]) -> None:
    intro = shown["lessons"][0]["sections"][0]["html"]
    assert "<script" not in intro
    assert "&lt;script&gt;" in intro
    assert 'href="javascript' not in intro


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "![x](javascript:alert(1))",
        '<a href="https://e.org" onclick="alert(1)">x</a>',
        "<iframe src=https://e.org></iframe>",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[ok](https://example.org)",
    ],
)
def test_render_never_emits_active_content(markdown: str) -> None:
    collector = _TagCollector()
    collector.feed(render(markdown))
    for tag, attrs in collector.tags:
        assert tag not in ("script", "iframe", "img", "style", "object"), (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), attrs
        for name in ("href", "src"):
            target = (attrs.get(name) or "").strip().lower()
            assert not target.startswith(("javascript:", "data:", "vbscript:")), attrs


def test_safe_links_survive_rendering() -> None:
    collector = _TagCollector()
    collector.feed(render("[ok](https://example.org)"))
    assert collector.tags[-1][0] == "a"
    assert collector.tags[-1][1]["href"] == "https://example.org"


def test_slugify() -> None:
    assert (
        slugify("Kubernetes Pods, ReplicaSets & Services") == "kubernetes-pods-replicasets-services"
    )
    assert slugify("  What is a *container*?  ") == "what-is-a-container"
    assert slugify("!!!") == "section"


def test_duplicate_headings_get_distinct_section_ids(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "c")
    lesson = tmp_path / "c" / "02-second.md"
    lesson.write_text(lesson.read_text().replace("## Services", "## Pods"))
    course, problems = parse_course(tmp_path / "c")
    assert problems == []
    assert course is not None
    assert [s.id for s in course.lessons[1].sections] == ["pods", "pods-2"]


def test_minutes_estimate_rule() -> None:
    course = load_course(FIXTURE)
    second = course.lessons[1]
    words = sum(len(section.text.split()) for section in second.sections)
    assert words < 200  # so the prose rounds up to one minute...
    # ...plus one minute for each of the two auto-checked exercises.
    assert second.minutes == 3
    assert estimate_minutes(second.sections, second.exercises) == 3
    assert estimate_minutes((), ()) == 1


def test_prose_blocks_keep_author_order() -> None:
    course = load_course(FIXTURE)
    blocks = course.lessons[0].sections[2].blocks
    kinds = ["prose" if isinstance(b, ProseBlock) else b.kind for b in blocks]
    assert kinds == [
        "prose",
        "true-false",
        "fill-blank",
        "takeaways",
        "written",
        "go-deeper",
    ]
    prose = blocks[0]
    assert isinstance(prose, ProseBlock)
    assert 'print("not an exercise")' in prose.text


def test_content_hash_is_stable_and_tracks_edits(tmp_path: Path) -> None:
    first = load_course(FIXTURE)
    assert load_course(FIXTURE) is first  # same bytes: parsed once
    shutil.copytree(FIXTURE, tmp_path / "c")
    assert load_course(tmp_path / "c").content_hash == first.content_hash
    (tmp_path / "c" / "01-first.md").write_text(
        (FIXTURE / "01-first.md").read_text() + "\nOne more line.\n"
    )
    assert load_course(tmp_path / "c").content_hash != first.content_hash


def test_example_lesson_in_authoring_guide_is_valid(tmp_path: Path) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text()
    section = guide.split("## A complete example lesson", 1)[1]
    example = section.split("````markdown\n", 1)[1].split("\n````\n", 1)[0] + "\n"
    (tmp_path / "course.yaml").write_text(
        "slug: example\ntitle: Example\nmodules:\n  - title: M\n    lessons: [03-pods.md]\n"
    )
    (tmp_path / "03-pods.md").write_text(example)
    course, problems = parse_course(tmp_path)
    assert problems == []
    assert course is not None
    lesson = course.lessons[0]
    assert [s.id for s in lesson.sections] == [
        "introduction",
        "what-a-pod-is",
        "keeping-pods-running",
    ]
    assert [e.id for e in lesson.exercises] == [
        "choice-1",
        "lost-pods",
        "fill-blank-1",
        "takeaways-1",
        "written-1",
        "go-deeper-1",
    ]
