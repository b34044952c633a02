"""One test per class of problem `check_course` reports, each pinned to its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from course_factory import lesson, write_course
from hypothesis import given, settings
from hypothesis import strategies as st

from learnloop.content.check import Problem, check_course
from learnloop.content.model import ChoiceExercise
from learnloop.content.parser import parse_course, parse_lesson

TF_BODY = """\
## Part

```exercise
kind: true-false
prompt: Yes?
answer: true
```
"""


def problems_of(root: Path, files: dict[str, str]) -> list[str]:
    write_course(root, files)
    return [str(problem) for problem in check_course(root)]


def test_valid_course_has_no_problems(tmp_path: Path) -> None:
    assert check_course(write_course(tmp_path)) == []


def test_problem_prints_as_path_line_message() -> None:
    assert str(Problem("c/01.md", 7, "oops")) == "c/01.md:7: oops"


def test_bad_yaml_in_front_matter_points_at_the_line(tmp_path: Path) -> None:
    text = "---\nnumber: 1\ntitle: [unclosed\nxp: 10\n---\nBody.\n"
    found = problems_of(tmp_path, {"01-one.md": text})
    assert len(found) == 1
    # The flow sequence opened on line 3 is found broken on line 4.
    assert found[0].startswith(f"{tmp_path}/01-one.md:4: front matter: bad YAML")


def test_bad_yaml_in_course_yaml(tmp_path: Path) -> None:
    text = "slug: tiny\ntitle: Tiny\nmodules:\n  - title: M\n    lessons: [01-one.md\n"
    found = problems_of(tmp_path, {"course.yaml": text})
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path}/course.yaml:6: bad YAML")


def test_bad_yaml_in_exercise_uses_the_line_in_the_markdown_file(tmp_path: Path) -> None:
    body = """\
    Intro.

    ```exercise
    kind: true-false
    prompt: "unterminated
    answer: true
    ```
    """
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert len(found) == 1
    # Front matter takes lines 1-5, the fence opens on line 8, the open quote is on line 10.
    assert found[0].startswith(f"{tmp_path}/01-one.md:10: exercise: bad YAML")


def test_unknown_exercise_kind_suggests_the_nearest(tmp_path: Path) -> None:
    body = "Intro.\n\n```exercise\nkind: choise\nprompt: x\n```\n"
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:9: unknown exercise kind 'choise'; did you mean 'choice'? "
        "(kinds: choice, true-false, fill-blank, takeaways, written, go-deeper, matching, "
        "ordering, select)"
    ]


def test_choice_without_correct_option(tmp_path: Path) -> None:
    body = """\
    ```exercise
    kind: choice
    prompt: Pick.
    options:
      - text: a
      - text: b
    ```
    """
    found = problems_of(tmp_path, {"02-two.md": lesson("number: 2\ntitle: Two\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/02-two.md:9: a choice needs at least one option with 'correct: true'"
    ]


def test_blank_without_any_accepted_answer(tmp_path: Path) -> None:
    body = """\
    ```exercise
    kind: fill-blank
    prompt: The ___ runs pods.
    blanks:
      - allow_typos: true
    ```
    """
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:10: blank has no accepted answer: give 'answers', 'regex' or "
        "'number'"
    ]


def test_invalid_regex(tmp_path: Path) -> None:
    body = """\
    ```exercise
    kind: fill-blank
    prompt: The ___ runs pods.
    blanks:
      - answers: [kubelet]
        regex: "kube(let"
    ```
    """
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path}/01-one.md:11: invalid regex 'kube(let': ")


def test_duplicate_exercise_ids(tmp_path: Path) -> None:
    body = """\
    ```exercise
    kind: true-false
    id: same
    prompt: One?
    answer: true
    ```

    ```exercise
    kind: true-false
    id: same
    prompt: Two?
    answer: false
    ```
    """
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:13: duplicate exercise id 'same' (first used on line 6)"
    ]


def test_explicit_id_clashing_with_a_derived_one(tmp_path: Path) -> None:
    body = """\
    ```exercise
    kind: true-false
    prompt: One?
    answer: true
    ```

    ```exercise
    kind: true-false
    id: true-false-1
    prompt: Two?
    answer: false
    ```
    """
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:12: duplicate exercise id 'true-false-1' (first used on line 6)"
    ]


def test_duplicate_lesson_numbers(tmp_path: Path) -> None:
    found = problems_of(tmp_path, {"02-two.md": lesson("title: Two\nnumber: 1\nxp: 1", TF_BODY)})
    assert found == [f"{tmp_path}/02-two.md:3: lesson number 1 is already used by 01-one.md"]


def test_missing_lesson_file_points_at_course_yaml(tmp_path: Path) -> None:
    text = (
        "slug: tiny\ntitle: Tiny\nmodules:\n"
        "  - title: M\n    lessons:\n      - 01-one.md\n      - 03-gone.md\n"
    )
    found = problems_of(tmp_path, {"course.yaml": text})
    assert found == [f"{tmp_path}/course.yaml:7: lesson file '03-gone.md' does not exist"]


def test_unknown_front_matter_key_suggests_the_nearest(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1\nsumary: Hi", TF_BODY)}
    )
    assert found == [
        f"{tmp_path}/01-one.md:5: unknown key 'sumary' in front matter; did you mean 'summary'?"
    ]


def test_unknown_exercise_key_suggests_the_nearest(tmp_path: Path) -> None:
    body = "```exercise\nkind: true-false\nprompt: Yes?\nanswer: true\nexplenation: Because.\n```\n"
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:10: unknown key 'explenation' in true-false exercise; "
        "did you mean 'explanation'?"
    ]


def test_missing_required_keys(tmp_path: Path) -> None:
    body = "```exercise\nkind: true-false\nprompt: Yes?\n```\n"
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One", body)})
    assert found == [
        f"{tmp_path}/01-one.md:1: front matter is missing required key 'xp'",
        f"{tmp_path}/01-one.md:5: true-false exercise is missing required key 'answer'",
    ]


def test_wrong_types(tmp_path: Path) -> None:
    body = "```exercise\nkind: true-false\nprompt: Yes?\nanswer: maybe\n```\n"
    found = problems_of(tmp_path, {"01-one.md": lesson("number: one\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:2: 'number' in front matter must be a whole number, "
        "not the text 'one'",
        f"{tmp_path}/01-one.md:9: 'answer' in true-false exercise must be true or false, "
        "not the text 'maybe'",
    ]


def test_blank_count_mismatch(tmp_path: Path) -> None:
    body = """\
    ```exercise
    kind: fill-blank
    prompt: Only ___ here.
    blanks:
      - answers: [one]
      - answers: [two]
    ```
    """
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:8: the prompt has 1 blank(s) (written as ___) but 'blanks' lists 2"
    ]


def test_missing_front_matter(tmp_path: Path) -> None:
    found = problems_of(tmp_path, {"01-one.md": "# No front matter\n"})
    assert found == [
        f"{tmp_path}/01-one.md:1: a lesson must start with YAML front matter between two "
        "'---' lines"
    ]


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    bad_one = lesson(
        "number: 1\ntitle: One\nxp: 1\ncolour: red",
        "```exercise\nkind: quiz\n```\n\n```exercise\nkind: choice\nprompt: P\n"
        "options: [{text: a}, {text: b}]\n```\n",
    )
    bad_two = lesson("number: 1\ntitle: Two\nxp: ten", TF_BODY)
    found = problems_of(tmp_path, {"01-one.md": bad_one, "02-two.md": bad_two})
    files_and_lines = [line.rsplit(":", 1)[0].split(": ")[0] for line in found]
    assert len(found) == 5, found
    assert files_and_lines == [
        f"{tmp_path}/01-one.md:5",
        f"{tmp_path}/01-one.md:8",
        f"{tmp_path}/01-one.md:14",
        f"{tmp_path}/02-two.md:2",  # the number clash is found although both lessons are bad
        f"{tmp_path}/02-two.md:4",
    ]


def test_not_a_course_folder(tmp_path: Path) -> None:
    assert [str(p) for p in check_course(tmp_path)] == [
        f"{tmp_path}/course.yaml:1: no course.yaml here: not a course folder"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "---\n",
        "---\n---\n",
        "---\n- a list\n---\n",
        "---\nnumber: 1\ntitle: One\nxp: 1\n---\n```exercise\n- not a mapping\n```\n",
        "---\nnumber: 1\ntitle: One\nxp: 1\n---\n```exercise\n```\n",
        "---\nnumber: 1\ntitle: One\nxp: 1\n---\n```exercise\nkind: [choice]\n```\n",
        "---\nnumber: 1\ntitle: One\nxp: 1\n---\n```exercise\nkind: choice\noptions: 3\n```\n",
        "---\nnumber: 1\ntitle: One\nxp: 1\n---\n```exercise\nkind: written\nrubric: [[1]]\n```\n",
        "---\nnumber: 1\ntitle: One\nxp: 1\n---\n- ```exercise\n  kind: takeaways\n  ```\n",
        "---\n{1: 2, [x]: y}\n---\n",
        "\x00\x01 binary junk",
    ],
)
def test_malformed_input_gives_problems_never_a_traceback(tmp_path: Path, text: str) -> None:
    write_course(tmp_path, {"01-one.md": text})
    problems = check_course(tmp_path)
    assert problems, "a malformed lesson must produce at least one problem"
    assert all(problem.path == f"{tmp_path}/01-one.md" for problem in problems)


def test_invalid_utf8_is_a_problem(tmp_path: Path) -> None:
    write_course(tmp_path)
    (tmp_path / "01-one.md").write_bytes(b"---\nnumber: 1\ntitle: \xff\n---\n")
    assert [str(p) for p in check_course(tmp_path)] == [
        f"{tmp_path}/01-one.md:3: file is not valid UTF-8: invalid start byte"
    ]


def test_exercise_inside_a_list_is_reported(tmp_path: Path) -> None:
    body = "Intro.\n\n- a point\n  ```exercise\n  kind: takeaways\n  items: [x]\n  ```\n"
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:9: an exercise block must start at the beginning of a line, "
        "not inside a list or quote"
    ]


def test_yaml_anchors_and_merge_keys_work_in_exercises(tmp_path: Path) -> None:
    body = """\
    ```exercise
    kind: choice
    prompt: Pick.
    options:
      - &wrong {text: b, feedback: Same feedback for every wrong option.}
      - {text: a, correct: true}
      - {<<: *wrong, text: c}
    ```
    """
    write_course(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    course, problems = parse_course(tmp_path)
    assert problems == []
    assert course is not None
    choice = course.lessons[0].exercises[0]
    assert isinstance(choice, ChoiceExercise)
    assert [(o.id, o.text, o.feedback) for o in choice.options] == [
        ("a", "b", "Same feedback for every wrong option."),
        ("b", "a", ""),
        ("c", "c", "Same feedback for every wrong option."),
    ]


def test_self_referencing_yaml_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    body = "```exercise\nkind: takeaways\nitems: &loop [*loop]\n```\n"
    found = problems_of(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert found == [
        f"{tmp_path}/01-one.md:8: each takeaway must be text, not a list",
        f"{tmp_path}/01-one.md:8: takeaways need at least one item",
    ]


LESSON_ALPHABET = st.sampled_from(
    ["---\n", "```exercise\n", "```\n", "## ", "kind: ", "choice", "fill-blank", "blanks:",
     "  - ", "answers: [", "]", "{", "}", ":", "\n", "number: 1\n", "title: T\n", "xp: 1\n",
     "___", "regex: '(", "&a ", "*a", "\t", "é", "\x00", "correct: true\n", "options:\n"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(LESSON_ALPHABET, max_size=40).map("".join))
def test_random_lessons_never_raise(text: str) -> None:
    problems: list[Problem] = []
    result = parse_lesson(text, "x.md", "x.md", "M", problems)
    assert (result.lesson is None) == bool(problems)
    assert all(problem.line >= 1 for problem in problems)


WRITTEN_WITH_EXAMPLES = """\
Intro.

```exercise
kind: written
prompt: Why pin images by digest?
model_answer: A digest names exactly one image, so every environment runs the same bytes.
rubric:
  - id: same-bytes
    point: A digest identifies exactly one image.
  - id: reproducible
    point: Every environment then runs the same image.
examples:
  - answer: The digest is a hash of the image so it can only ever mean that one build.
    points: {same-bytes: covered}
    score: 50
  - answer: Tags are immutable, so pinning a digest adds nothing.
    points:
      same-bytes: contradicted
      reproducable: partial
  - answer: digest, hash, reproducible
    points: {same-bytes: maybe}
    score: 120
```
"""


def test_examples_are_parsed_with_every_point_and_their_file_line(tmp_path: Path) -> None:
    valid = WRITTEN_WITH_EXAMPLES.replace("reproducable", "reproducible").replace(
        "{same-bytes: maybe}\n    score: 120", "{reproducible: partial}"
    )
    root = write_course(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", valid)})
    course, problems = parse_course(root)
    assert problems == []
    assert course is not None
    (written,) = course.lessons[0].written
    first, second, third = written.examples
    # Points the author left out are missing; every example lists every point, in rubric order.
    assert first.points == (("same-bytes", "covered"), ("reproducible", "missing"))
    assert first.score == 50
    assert first.line == 18  # the line of its "- answer:"
    assert second.points == (("same-bytes", "contradicted"), ("reproducible", "partial"))
    assert second.score is None
    assert third.status_of("reproducible") == "partial"


def test_example_problems_point_at_their_line(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", WRITTEN_WITH_EXAMPLES)}
    )
    path = f"{tmp_path}/01-one.md"
    assert found == [
        f"{path}:24: example names rubric point 'reproducable', which this exercise does not "
        "have; did you mean 'reproducible'?",
        f"{path}:25: an example's score must be between 0 and 100, not 120",
        f"{path}:26: status of 'same-bytes' must be one of covered, partial, missing, "
        "contradicted, not the text 'maybe'",
    ]


def test_check_warns_about_a_go_deeper_answer_unrelated_to_every_section(tmp_path: Path) -> None:
    from learnloop.content.check import course_warnings

    body = """\
    ## Clouds

    Clouds form when water vapour condenses into droplets around dust.

    ```exercise
    kind: go-deeper
    questions:
      - id: rain
        question: Why does it rain?
        answer: Droplets around dust grow heavy and fall as rain.
      - id: stray
        question: What is a monad?
        answer: A monoid in the category of endofunctors, famously.
    ```
    """
    root = write_course(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 1", body)})
    assert check_course(root) == []  # a warning never fails the check
    course, _ = parse_course(root)
    assert course is not None
    warnings = [str(w) for w in course_warnings(course, root)]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{root}/01-one.md:")
    assert "'stray' shares no words with any section" in warnings[0]
    assert "'rain'" not in warnings[0]


WRITTEN_WITH_MISCONCEPTIONS = """\
---
number: 1
title: One
xp: 10
---
## Part

```exercise
kind: written
prompt: What does a failing readiness probe do?
model_answer: It takes the Pod out of the Service without a restart.
rubric:
  - id: readiness
    point: Failing readiness removes the Pod from traffic without a restart.
    misconceptions:
      - says: A failing readiness probe restarts the container.
        when: [readiness]
      - says: Fine.
        when: [readiness, "restart||kill"]
        within: -1
      - when: [readiness, restart]
        colour: red
```
"""


def test_misconception_problems_point_at_their_lines(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, {"01-one.md": WRITTEN_WITH_MISCONCEPTIONS})
    where = f"{tmp_path}/01-one.md"
    expected = [
        (17, "'when' in misconception needs at least two groups"),
        (19, "'restart||kill' has an empty alternative"),
        (20, "'within' in misconception must be 0 or more, not -1"),
        (21, "misconception is missing required key 'says'"),
        (22, "unknown key 'colour' in misconception"),
    ]
    for line, message in expected:
        assert any(p.startswith(f"{where}:{line}: ") and message in p for p in problems), (
            line,
            message,
        )


def test_out_of_scope_topics_are_checked_with_their_lines(tmp_path: Path) -> None:
    modules = "modules:\n  - title: M\n    lessons: [01-one.md, 02-two.md]\n"
    good = (
        "slug: tiny\ntitle: Tiny\nout_of_scope:\n"
        "  - topic: using git\n    about: [merge conflicts, rebasing]\n" + modules
    )
    write_course(tmp_path, {"course.yaml": good})
    course, problems = parse_course(tmp_path)
    assert problems == []
    assert course is not None
    assert [(s.topic, s.about) for s in course.out_of_scope] == [
        ("using git", ("merge conflicts", "rebasing"))
    ]
    bad = (
        "slug: tiny\ntitle: Tiny\nout_of_scope:\n"
        "  - topic: using git\n    about: merge conflicts\n"
        "  - about: [joins]\n"
        "  - topic: unit testing\n    about: [pytest, {mock: http}]\n" + modules
    )
    found = problems_of(tmp_path, {"course.yaml": bad})
    assert len(found) == 3, found
    assert found[0].startswith(f"{tmp_path}/course.yaml:5: ")
    assert "about" in found[0]
    assert found[1].startswith(f"{tmp_path}/course.yaml:6: ")
    assert "topic" in found[1]
    assert found[2] == (
        f"{tmp_path}/course.yaml:7: out_of_scope 'unit testing': 'about' must list what "
        "learners ask about it, as text: [merge conflicts, rebasing]"
    )
