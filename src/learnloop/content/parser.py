"""Turn a course folder (course.yaml plus Markdown lessons) into the frozen model.

The parser never stops at the first mistake: every problem is collected with its file and
line, so ``learnloop check`` can report them all in one run. See docs/authoring.md.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from learnloop.content.assets import Asset, is_asset_name, link_assets
from learnloop.content.fields import (
    BOOL,
    INT,
    LIST,
    MAPPING,
    NUMBER,
    OPENING_LINE,
    TEXT,
    ExerciseContext,
    Key,
    Report,
    Schema,
    _describe,
    _is_text,
    _item_line,
    _text_items,
    did_you_mean,
    read_fields,
)
from learnloop.content.markdown import html_to_text, inline_text, render_with_maths, slugify
from learnloop.content.model import (
    AUTO_CHECKED_KINDS,
    POINT_STATUSES,
    AnticipatedMisconception,
    Blank,
    ChoiceExercise,
    ChoiceOption,
    Course,
    Exercise,
    FillBlankExercise,
    GoDeeperBlock,
    GoDeeperQuestion,
    GradedExample,
    Lesson,
    Module,
    OutOfScope,
    PointStatus,
    ProseBlock,
    RubricPoint,
    Section,
    SourceRef,
    TakeawaysBlock,
    TrueFalseExercise,
    WrittenExercise,
)
from learnloop.content.problems import Problem
from learnloop.content.yamlsource import LineDict, YamlError, load_yaml
from learnloop.exercises.kinds import REGISTRY
from learnloop.exercises.numbers import uses_decimal_comma
from learnloop.exercises.patterns import pattern_problem
from learnloop.exercises.units import unit_problem
from learnloop.grading.misconceptions import term_problem

COURSE_FILE = "course.yaml"
EXERCISE_INFO = "exercise"
BLANK = re.compile(r"_{3,}")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
COURSE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# The minutes estimate, documented in docs/authoring.md.
WORDS_PER_MINUTE = 200
MINUTES_PER_AUTO_CHECKED = 1
MINUTES_PER_WRITTEN = 3


FRONT_MATTER: Schema = {
    "number": Key(INT, required=True),
    "title": Key(TEXT, required=True),
    "xp": Key(INT, required=True),
    "minutes": Key(INT),
    "pass": Key(NUMBER),
    "summary": Key(TEXT),
    "slug": Key(TEXT),
}
COURSE: Schema = {
    "slug": Key(TEXT, required=True),
    "title": Key(TEXT, required=True),
    "description": Key(TEXT),
    "modules": Key(LIST, required=True),
    "locale": Key(TEXT),
    "out_of_scope": Key(LIST),
}
MODULE: Schema = {"title": Key(TEXT, required=True), "lessons": Key(LIST, required=True)}
OUT_OF_SCOPE: Schema = {"topic": Key(TEXT, required=True), "about": Key(LIST, required=True)}

_COMMON: Schema = {"kind": Key(TEXT, required=True), "id": Key(TEXT)}
# Every auto-checked kind also takes progressive hints and the author's own answer tests.
_CHECKED: Schema = {"hints": Key(LIST), "tests": Key(LIST)}
EXERCISE_SCHEMAS: dict[str, Schema] = {
    "choice": {
        **_COMMON,
        **_CHECKED,
        "prompt": Key(TEXT, required=True),
        "options": Key(LIST, required=True),
        "shuffle": Key(BOOL),
        "multiple": Key(BOOL),
        "partial_credit": Key(BOOL),
        "explanation": Key(TEXT),
    },
    "true-false": {
        **_COMMON,
        **_CHECKED,
        "prompt": Key(TEXT, required=True),
        "answer": Key(BOOL, required=True),
        "explanation": Key(TEXT),
    },
    "fill-blank": {
        **_COMMON,
        **_CHECKED,
        "prompt": Key(TEXT, required=True),
        "blanks": Key(LIST, required=True),
        "partial_credit": Key(BOOL),
        "explanation": Key(TEXT),
    },
    "takeaways": {**_COMMON, "items": Key(LIST, required=True)},
    "written": {
        **_COMMON,
        "prompt": Key(TEXT, required=True),
        "model_answer": Key(TEXT, required=True),
        "rubric": Key(LIST, required=True),
        "min_words": Key(INT),
        "max_words": Key(INT),
        "examples": Key(LIST),
    },
    "go-deeper": {**_COMMON, "questions": Key(LIST, required=True)},
}
OPTION: Schema = {
    "text": Key(TEXT, required=True),
    "correct": Key(BOOL),
    "feedback": Key(TEXT),
    "id": Key(TEXT),
}
BLANK_SCHEMA: Schema = {
    "answers": Key(LIST),
    "regex": Key(TEXT),
    "number": Key(NUMBER),
    "tolerance": Key(NUMBER),
    "relative_tolerance": Key(NUMBER),
    "sig_figs": Key(INT),
    "units": Key(TEXT),
    "convert_units": Key(BOOL),
    "allow_typos": Key(BOOL),
    "case_sensitive": Key(BOOL),
    "feedback": Key(MAPPING),
}
RUBRIC_POINT: Schema = {
    "point": Key(TEXT, required=True),
    "weight": Key(NUMBER),
    "id": Key(TEXT),
    "misconceptions": Key(LIST),
}
MISCONCEPTION: Schema = {
    "says": Key(TEXT, required=True),
    "when": Key(LIST, required=True),
    "unless": Key(LIST),
    "unless_anywhere": Key(BOOL),
    "within": Key(INT),
    "ordered": Key(BOOL),
}
EXAMPLE: Schema = {
    "answer": Key(TEXT, required=True),
    "points": Key(MAPPING),
    "score": Key(INT),
}
QUESTION: Schema = {
    "question": Key(TEXT, required=True),
    "answer": Key(TEXT),
    "id": Key(TEXT),
}


# --- exercises ---------------------------------------------------------------------------


def _exercise_id(values: dict[str, Any], context: ExerciseContext, data: Any) -> str:
    explicit = values.get("id")
    if explicit is None:
        return context.derived_id
    if not ID_PATTERN.match(explicit):
        context.report(
            data.line_of("id") if isinstance(data, LineDict) else 0,
            f"exercise id '{explicit}' may use only letters, digits, '-', '_' and '.'",
        )
    return str(explicit)


def _parse_choice(values: dict[str, Any], context: ExerciseContext, eid: str) -> Exercise | None:
    report = context.report
    options_data = values.get("options")
    if options_data is None:
        return None
    options: list[ChoiceOption] = []
    seen: set[str] = set()
    for index, item in enumerate(options_data):
        line = _item_line(options_data, index, 0)
        fields = read_fields(item, OPTION, "choice option", report, line)
        if "text" not in fields:
            continue
        option_id = str(fields.get("id", _letter_id(index)))
        if option_id in seen:
            report(line, f"duplicate option id '{option_id}'")
        seen.add(option_id)
        options.append(
            ChoiceOption(
                id=option_id,
                text=fields["text"],
                correct=fields.get("correct", False),
                feedback=fields.get("feedback", ""),
            )
        )
    line = context.key_line("options")
    if len(options_data) < 2:
        report(line, "a choice needs at least two options")
    elif len(options) == len(options_data) and not any(option.correct for option in options):
        report(line, "a choice needs at least one option with 'correct: true'")
    elif values.get("multiple") is False and sum(option.correct for option in options) > 1:
        report(context.key_line("multiple"), "'multiple: false' but several options are correct")
    if values.get("partial_credit") and not (
        values.get("multiple") or sum(option.correct for option in options) > 1
    ):
        report(
            context.key_line("partial_credit"),
            "partial credit needs several answers: add 'multiple: true'",
        )
    return ChoiceExercise(
        id=eid,
        prompt=values.get("prompt", ""),
        options=tuple(options),
        shuffle=values.get("shuffle", False),
        explanation=values.get("explanation", ""),
        source=context.source,
        multiple_answers=values.get("multiple"),
        partial_credit=values.get("partial_credit", False),
        hints=context.hints(values),
        tests=context.tests(values),
    )


def _letter_id(index: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    if index < len(letters):
        return letters[index]
    return letters[index // len(letters) - 1] + letters[index % len(letters)]


def _parse_true_false(values: dict[str, Any], context: ExerciseContext, eid: str) -> Exercise:
    return TrueFalseExercise(
        id=eid,
        prompt=values.get("prompt", ""),
        answer=values.get("answer", False),
        explanation=values.get("explanation", ""),
        source=context.source,
        hints=context.hints(values),
        tests=context.tests(values),
    )


def _parse_fill_blank(values: dict[str, Any], context: ExerciseContext, eid: str) -> Exercise:
    report = context.report
    blanks_data = values.get("blanks") or []
    blanks: list[Blank] = []
    for index, item in enumerate(blanks_data):
        line = _item_line(blanks_data, index, 0)
        fields = read_fields(item, BLANK_SCHEMA, "blank", report, line)
        answers_data = fields.get("answers") or []
        for answer_index, answer in enumerate(answers_data):
            if not _is_text(answer):
                hint = " (put it in quotes)" if isinstance(answer, bool) else ""
                report(
                    _item_line(answers_data, answer_index, line),
                    f"an accepted answer must be text, not {_describe(answer)}{hint}",
                )
        blanks.append(_parse_blank(item, fields, answers_data, line, context))
    prompt = values.get("prompt", "")
    if "prompt" in values and "blanks" in values:
        count = len(BLANK.findall(prompt))
        if count != len(blanks_data):
            report(
                context.key_line("prompt"),
                f"the prompt has {count} blank(s) (written as ___) but 'blanks' lists "
                f"{len(blanks_data)}",
            )
    if values.get("partial_credit") and len(blanks_data) < 2:
        report(context.key_line("partial_credit"), "partial credit needs two or more blanks")
    return FillBlankExercise(
        id=eid,
        prompt=prompt,
        blanks=tuple(blanks),
        explanation=values.get("explanation", ""),
        source=context.source,
        partial_credit=values.get("partial_credit", False),
        hints=context.hints(values),
        tests=context.tests(values),
    )


def _parse_blank(
    item: Any, fields: dict[str, Any], answers_data: Any, line: int, context: ExerciseContext
) -> Blank:
    report = context.report

    def at(key: str) -> int:
        return item.line_of(key) if isinstance(item, LineDict) else line

    answers = [str(answer) for answer in answers_data if _is_text(answer)]
    regex = fields.get("regex")
    if regex is not None:
        problem = pattern_problem(regex)
        if problem:
            report(at("regex"), problem)
    number = fields.get("number")
    if isinstance(item, dict) and not answers_data and "regex" not in item and "number" not in item:
        report(line, "blank has no accepted answer: give 'answers', 'regex' or 'number'")
    for key in ("tolerance", "relative_tolerance"):
        value = fields.get(key)
        if value is not None and not (math.isfinite(value) and value >= 0):
            report(at(key), f"'{key}' must be a finite number of 0 or more, not {value}")
            fields.pop(key)
    sig_figs = fields.get("sig_figs")
    if sig_figs is not None and not 1 <= sig_figs <= 15:
        report(at("sig_figs"), f"'sig_figs' must be between 1 and 15, not {sig_figs}")
        fields.pop("sig_figs")
    number_only = ("relative_tolerance", "sig_figs", "units", "convert_units", "tolerance")
    for key in number_only:
        if key in fields and number is None:
            report(at(key), f"'{key}' applies only to a blank with a 'number'")
    units = fields.get("units")
    if units is not None:
        problem = unit_problem(units)
        if problem:
            report(at("units"), problem)
            units = None
    if fields.get("convert_units") and "units" not in fields:
        report(at("convert_units"), "'convert_units' needs 'units', the unit of 'number'")
    feedback: list[tuple[str, str]] = []
    for wrong, message in (fields.get("feedback") or {}).items():
        if not _is_text(wrong) or not _is_text(message):
            report(at("feedback"), "'feedback' maps a wrong answer to its message, both text")
            continue
        feedback.append((str(wrong), str(message)))
    return Blank(
        answers=tuple(answers),
        regex=regex,
        number=number,
        tolerance=fields.get("tolerance", 0.0),
        allow_typos=fields.get("allow_typos", False),
        case_sensitive=fields.get("case_sensitive", False),
        relative_tolerance=fields.get("relative_tolerance", 0.0),
        sig_figs=fields.get("sig_figs"),
        units=units,
        convert_units=fields.get("convert_units", False),
        feedback=tuple(feedback),
        decimal_comma=context.decimal_comma,
    )


def _parse_takeaways(values: dict[str, Any], context: ExerciseContext, eid: str) -> Exercise:
    items = _text_items(values.get("items"), "takeaway", context.report)
    if "items" in values and not items:
        context.report(context.key_line("items"), "takeaways need at least one item")
    return TakeawaysBlock(id=eid, items=tuple(items), source=context.source)


def _parse_written(values: dict[str, Any], context: ExerciseContext, eid: str) -> Exercise:
    report = context.report
    rubric_data = values.get("rubric") or []
    rubric: list[RubricPoint] = []
    for index, item in enumerate(rubric_data):
        line = _item_line(rubric_data, index, 0)
        # A bare string is a point with weight 1: the common case reads best that way.
        if _is_text(item):
            rubric.append(RubricPoint(id=f"p{index + 1}", text=str(item)))
            continue
        fields = read_fields(item, RUBRIC_POINT, "rubric point", report, line)
        if "point" not in fields:
            continue
        weight = fields.get("weight", 1.0)
        if weight <= 0:
            report(line, "a rubric point's weight must be greater than 0")
        rubric.append(
            RubricPoint(
                id=str(fields.get("id", f"p{index + 1}")),
                text=fields["point"],
                weight=weight,
                misconceptions=_parse_misconceptions(
                    fields.get("misconceptions") or [], item, line, context
                ),
            )
        )
    if "rubric" in values and not rubric_data:
        report(context.key_line("rubric"), "a written exercise needs at least one rubric point")
    _report_duplicates([p.id for p in rubric], "rubric point", report, context.key_line("rubric"))
    min_words = values.get("min_words", 0)
    max_words = values.get("max_words", 600)
    if min_words > max_words:
        report(
            context.key_line("min_words"),
            f"min_words ({min_words}) is more than max_words ({max_words})",
        )
    return WrittenExercise(
        id=eid,
        prompt=values.get("prompt", ""),
        model_answer=values.get("model_answer", ""),
        rubric=tuple(rubric),
        min_words=min_words,
        max_words=max_words,
        source=context.source,
        examples=_parse_examples(values.get("examples") or [], rubric, context),
    )


def _parse_misconceptions(
    items: list[Any], point: Any, point_line: int, context: ExerciseContext
) -> tuple[AnticipatedMisconception, ...]:
    """Wrong beliefs the author anticipates for one rubric point (`grading.misconceptions`)."""
    report = context.report
    given = point.get("misconceptions") if isinstance(point, dict) else None
    out: list[AnticipatedMisconception] = []
    for index, item in enumerate(items):
        line = _item_line(given, index, point_line)
        fields = read_fields(item, MISCONCEPTION, "misconception", report, line)
        at = {k: item.line_of(k) if isinstance(item, LineDict) else line for k in MISCONCEPTION}
        groups: dict[str, list[str]] = {}
        for key in ("when", "unless"):
            values = fields.get(key, [])
            if not all(_is_text(v) and str(v).strip() for v in values):
                report(at[key], f"'{key}' in misconception must list words: [readiness, restart*]")
                values = []
            groups[key] = [str(v) for v in values]
            for value in groups[key]:
                problem = term_problem(value)
                if problem:
                    report(at[key], f"'{key}' in misconception: {problem}")
        if "when" in fields and len(groups["when"]) < 2:
            report(
                at["when"],
                "'when' in misconception needs at least two groups of words that together give "
                "the belief away (one word alone also matches correct answers)",
            )
            continue
        within = fields.get("within", 8)
        if within < 0:
            report(at["within"], f"'within' in misconception must be 0 or more, not {within}")
            within = 8
        if "says" in fields and "when" in fields:
            out.append(
                AnticipatedMisconception(
                    says=fields["says"],
                    when=tuple(groups["when"]),
                    unless=tuple(groups["unless"]),
                    unless_anywhere=fields.get("unless_anywhere", False),
                    within=within,
                    ordered=fields.get("ordered", False),
                    line=context.source.line + 1 + line,
                )
            )
    return tuple(out)


def _parse_examples(
    items: Any, rubric: list[RubricPoint], context: ExerciseContext
) -> tuple[GradedExample, ...]:
    """Sample answers graded by the author: every status names a rubric point of this exercise."""
    report = context.report
    ids = [p.id for p in rubric]
    examples: list[GradedExample] = []
    for index, item in enumerate(items):
        line = _item_line(items, index, context.key_line("examples"))
        fields = read_fields(item, EXAMPLE, "example", report, line)
        answer = fields.get("answer", "")
        if "answer" in fields and not answer.strip():
            report(line, "an example's answer is empty")
            continue
        statuses: dict[str, PointStatus] = {}
        given = item.get("points") if isinstance(item, dict) else None
        for point_id, status in fields.get("points", {}).items():
            at = given.line_of(point_id) if isinstance(given, LineDict) else line
            if str(point_id) not in ids:
                report(
                    at,
                    f"example names rubric point '{point_id}', which this exercise does not "
                    f"have{did_you_mean(str(point_id), ids)}",
                )
            elif status not in POINT_STATUSES:
                report(
                    at,
                    f"status of '{point_id}' must be one of {', '.join(POINT_STATUSES)}, "
                    f"not {_describe(status)}",
                )
            else:
                statuses[str(point_id)] = status
        score = fields.get("score")
        if score is not None and not 0 <= score <= 100:
            report(line, f"an example's score must be between 0 and 100, not {score}")
            score = None
        if answer.strip():
            examples.append(
                GradedExample(
                    answer=answer,
                    points=tuple((pid, statuses.get(pid, "missing")) for pid in ids),
                    score=score,
                    line=context.source.line + 1 + line,
                )
            )
    return tuple(examples)


def _parse_go_deeper(values: dict[str, Any], context: ExerciseContext, eid: str) -> Exercise:
    report = context.report
    questions_data = values.get("questions") or []
    questions: list[GoDeeperQuestion] = []
    for index, item in enumerate(questions_data):
        line = _item_line(questions_data, index, 0)
        if _is_text(item):
            questions.append(GoDeeperQuestion(id=f"q{index + 1}", question=str(item)))
            continue
        fields = read_fields(item, QUESTION, "go-deeper question", report, line)
        if "question" not in fields:
            continue
        questions.append(
            GoDeeperQuestion(
                id=str(fields.get("id", f"q{index + 1}")),
                question=fields["question"],
                answer=fields.get("answer"),
            )
        )
    if "questions" in values and not questions_data:
        report(context.key_line("questions"), "go-deeper needs at least one question")
    _report_duplicates([q.id for q in questions], "question", report, context.key_line("questions"))
    return GoDeeperBlock(id=eid, questions=tuple(questions), source=context.source)


def _report_duplicates(ids: list[str], what: str, report: Report, line: int) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            report(line, f"duplicate {what} id '{item_id}'")
        seen.add(item_id)


ExerciseParser = Callable[[dict[str, Any], ExerciseContext, str], "Exercise | None"]
EXERCISE_PARSERS: dict[str, ExerciseParser] = {
    "choice": _parse_choice,
    "true-false": _parse_true_false,
    "fill-blank": _parse_fill_blank,
    "takeaways": _parse_takeaways,
    "written": _parse_written,
    "go-deeper": _parse_go_deeper,
}
# Kinds with a module of their own in learnloop.exercises.kinds bring their keys and parser.
for _spec in REGISTRY.values():
    EXERCISE_SCHEMAS[_spec.name] = {
        **_COMMON,
        **_CHECKED,
        "prompt": Key(TEXT, required=True),
        "explanation": Key(TEXT),
        "partial_credit": Key(BOOL),
        **_spec.schema,
    }
    EXERCISE_PARSERS[_spec.name] = _spec.parse


# --- lessons -----------------------------------------------------------------------------


@dataclass
class _AssetContext:
    slug: str
    files: dict[str, bytes]
    used: dict[str, Asset] = field(default_factory=dict)


@dataclass
class LessonParse:
    lesson: Lesson | None
    # Known even when the lesson has problems, so clashes between lessons are still reported.
    number: int | None = None
    slug: str | None = None
    slug_line: int = 1
    number_line: int = 1


@dataclass
class _SectionBuilder:
    id: str
    title: str
    blocks: list[ProseBlock | Exercise] = field(default_factory=list)


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Return (front matter, body, index of the body's first line), or None without one."""
    if not text.startswith("---"):
        return None
    lines = text.splitlines(keepends=True)
    if lines[0].rstrip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 1
    return None


def parse_lesson(
    text: str,
    display_path: str,
    source_path: str,
    module_title: str,
    problems: list[Problem],
    *,
    decimal_comma: bool = False,
    assets: _AssetContext | None = None,
) -> LessonParse:
    """Parse one lesson file. Problems go to ``problems``; the lesson is None if any arose."""
    before = len(problems)

    def at(line: int, message: str) -> None:
        problems.append(Problem(display_path, line, message))

    parts = split_front_matter(text)
    if parts is None:
        at(1, "a lesson must start with YAML front matter between two '---' lines")
        return LessonParse(None)
    front_text, body, body_start = parts

    def front_report(line: int, message: str) -> None:
        # Line 0 of the front matter is file line 2; OPENING_LINE lands on the first '---'.
        at(line + 2, message)

    try:
        front = load_yaml(front_text)
    except YamlError as error:
        front_report(error.line, f"front matter: {error.message}")
        front = None
    meta: dict[str, Any] = {}
    number_line = slug_line = 1
    if front is not None or not problems[before:]:
        meta = read_fields(front, FRONT_MATTER, "front matter", front_report, OPENING_LINE)
        if isinstance(front, LineDict):
            number_line = front.line_of("number") + 2
            slug_line = front.line_of("slug" if "slug" in front else "title") + 2
    if meta.get("number", 1) < 1:
        at(number_line, "'number' must be 1 or more")
    if meta.get("xp", 0) < 0:
        at(number_line, "'xp' must not be negative")
    if "minutes" in meta and meta["minutes"] < 1:
        at(number_line, "'minutes' must be 1 or more")
    if "pass" in meta and not 0 < meta["pass"] <= 1:
        at(number_line, "'pass' must be a share above 0 and at most 1, such as 0.8")
    slug = str(meta.get("slug") or slugify(str(meta.get("title", ""))))
    if "slug" in meta and not COURSE_SLUG.match(slug):
        at(slug_line, f"lesson slug '{slug}' may use only lowercase letters, digits and '-'")

    sections = _parse_body(
        body, body_start, display_path, source_path, problems, decimal_comma, assets
    )
    exercises = tuple(
        block
        for section in sections
        for block in section.blocks
        if not isinstance(block, ProseBlock)
    )
    _check_exercise_ids(exercises, display_path, problems)

    number = meta.get("number")
    clean_slug = slug if "slug" in meta or "title" in meta else None
    if problems[before:]:
        return LessonParse(None, number, clean_slug, slug_line, number_line)
    minutes = meta.get("minutes")
    lesson = Lesson(
        number=meta["number"],
        title=meta["title"],
        slug=slug,
        xp=meta["xp"],
        minutes=minutes if minutes is not None else estimate_minutes(sections, exercises),
        minutes_estimated=minutes is None,
        summary=meta.get("summary", ""),
        module_title=module_title,
        sections=sections,
        exercises=exercises,
        source=SourceRef(source_path, 1),
        pass_share=float(meta.get("pass", 1.0)),
    )
    return LessonParse(lesson, number, clean_slug, slug_line, number_line)


def estimate_minutes(sections: tuple[Section, ...], exercises: tuple[Exercise, ...]) -> int:
    words = sum(len(section.text.split()) for section in sections)
    auto = sum(e.kind in AUTO_CHECKED_KINDS for e in exercises)
    written = sum(isinstance(e, WrittenExercise) for e in exercises)
    total = (
        words / WORDS_PER_MINUTE + auto * MINUTES_PER_AUTO_CHECKED + written * MINUTES_PER_WRITTEN
    )
    return max(1, math.ceil(total))


def _check_exercise_ids(
    exercises: tuple[Exercise, ...], path: str, problems: list[Problem]
) -> None:
    first_line: dict[str, int] = {}
    for exercise in exercises:
        line = exercise.source.line if exercise.source else 1
        if exercise.id in first_line:
            problems.append(
                Problem(
                    path,
                    line,
                    f"duplicate exercise id '{exercise.id}'"
                    f" (first used on line {first_line[exercise.id]})",
                )
            )
        else:
            first_line[exercise.id] = line


# Structure is found line by line, then each prose chunk is rendered on its own. A fence opens
# with three or more backticks or tildes, indented at most three spaces (CommonMark).
_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_HEADING_2 = re.compile(r"^##(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MISPLACED_EXERCISE = re.compile(r"(`{3,}|~{3,})\s*exercise\b")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S")


def _fence_closes(line: str, marker: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and stripped.startswith(marker)
        and set(stripped) == {marker[0]}
    )


@dataclass
class _Chunk:
    kind: Literal["prose", "heading", "exercise", "misplaced"]
    text: str
    line: int  # 0-based line in the body where it starts


def split_body(body: str) -> list[_Chunk]:
    """Cut a lesson body into prose, level-two headings and exercise blocks."""
    lines = body.split("\n")
    chunks: list[_Chunk] = []
    prose: list[str] = []
    prose_start = 0

    def flush(next_line: int) -> None:
        nonlocal prose, prose_start
        if any(line.strip() for line in prose):
            chunks.append(_Chunk("prose", "\n".join(prose), prose_start))
        prose = []
        prose_start = next_line

    index = 0
    while index < len(lines):
        line = lines[index]
        # Cheap substring tests first: most lines are plain prose and skip every regex.
        opening = _FENCE_OPEN.match(line) if ("```" in line or "~~~" in line) else None
        if opening and not (opening.group(2)[0] == "`" and "`" in opening.group(3)):
            indent, marker, info = opening.groups()
            end = index + 1
            while end < len(lines) and not _fence_closes(lines[end], marker):
                end += 1
            if info.split()[:1] == [EXERCISE_INFO] and indent:
                # Indented, it belongs to a list item or is a typo; either way say so.
                chunks.append(_Chunk("misplaced", line, index))
                prose.extend(lines[index : end + 1])
            elif info.split()[:1] == [EXERCISE_INFO]:
                flush(end + 1)
                chunks.append(_Chunk("exercise", "\n".join(lines[index + 1 : end]) + "\n", index))
            else:
                prose.extend(lines[index : end + 1])
            index = end + 1
            continue
        heading = _HEADING_2.match(line) if line.startswith("##") else None
        if heading:
            flush(index + 1)
            chunks.append(_Chunk("heading", heading.group(1) or "", index))
            index += 1
            continue
        if "exercise" in line and _MISPLACED_EXERCISE.search(line):
            # Inside a list or a quote: it would silently show as code instead of an exercise.
            chunks.append(_Chunk("misplaced", line, index))
        prose.append(line)
        index += 1
    flush(len(lines))
    return chunks


def _parse_body(
    body: str,
    body_start: int,
    display_path: str,
    source_path: str,
    problems: list[Problem],
    decimal_comma: bool = False,
    assets: _AssetContext | None = None,
) -> tuple[Section, ...]:
    chunks = split_body(body)
    # Reference-style link definitions apply to the whole file, so every chunk gets them.
    references = "\n".join(
        line
        for chunk in chunks
        if chunk.kind == "prose" and "]:" in chunk.text
        for line in chunk.text.split("\n")
        if _REFERENCE.match(line)
    )
    sections: list[_SectionBuilder] = []
    current = _SectionBuilder("introduction", "Introduction")
    used_ids: set[str] = set()
    kind_counts: dict[str, int] = {}

    def close(section: _SectionBuilder) -> None:
        if section.blocks or section.id != "introduction":
            sections.append(section)
            used_ids.add(section.id)

    for chunk in chunks:
        if chunk.kind == "heading":
            close(current)
            title = inline_text(chunk.text)
            section_id = base_id = slugify(title)
            suffix = 2
            while section_id in used_ids:
                section_id = f"{base_id}-{suffix}"
                suffix += 1
            used_ids.add(section_id)
            current = _SectionBuilder(section_id, title)
        elif chunk.kind == "misplaced":
            problems.append(
                Problem(
                    display_path,
                    body_start + chunk.line + 1,
                    "an exercise block must start at the beginning of a line, "
                    "not inside a list or quote",
                )
            )
        elif chunk.kind == "exercise":
            fence_line = body_start + chunk.line + 1
            exercise = _parse_exercise(
                chunk.text,
                fence_line,
                display_path,
                source_path,
                kind_counts,
                problems,
                decimal_comma=decimal_comma,
            )
            if exercise is not None:
                current.blocks.append(exercise)
        else:
            markup, maths_problems = render_with_maths(
                f"{chunk.text}\n\n{references}" if references else chunk.text
            )
            if assets is not None:
                markup, asset_problems = link_assets(
                    markup, source_path, assets.slug, assets.files, assets.used
                )
                maths_problems += asset_problems
            for message in maths_problems:
                problems.append(Problem(display_path, body_start + chunk.line + 1, message))
            current.blocks.append(ProseBlock(html=markup, text=html_to_text(markup)))
    close(current)
    return tuple(Section(id=s.id, title=s.title, blocks=tuple(s.blocks)) for s in sections)


def _parse_exercise(
    content: str,
    fence_line: int,
    display_path: str,
    source_path: str,
    kind_counts: dict[str, int],
    problems: list[Problem],
    *,
    decimal_comma: bool = False,
) -> Exercise | None:
    def report(line: int, message: str) -> None:
        # Line -1 (OPENING_LINE) lands on the ```exercise fence itself.
        problems.append(Problem(display_path, fence_line + 1 + line, message))

    try:
        data = load_yaml(content)
    except YamlError as error:
        report(error.line, f"exercise: {error.message}")
        return None
    if not isinstance(data, dict):
        report(
            OPENING_LINE, "an exercise block must hold 'key: value' lines, starting with 'kind:'"
        )
        return None
    kind = data.get("kind")
    if kind is None:
        report(OPENING_LINE, "exercise is missing required key 'kind'")
        return None
    kind_line = data.line_of("kind") if isinstance(data, LineDict) else 0
    if not isinstance(kind, str) or kind not in EXERCISE_SCHEMAS:
        kinds = list(EXERCISE_SCHEMAS)
        report(
            kind_line,
            f"unknown exercise kind '{kind}'{did_you_mean(str(kind), kinds)} "
            f"(kinds: {', '.join(kinds)})",
        )
        return None
    kind_counts[kind] = kind_counts.get(kind, 0) + 1
    values = read_fields(data, EXERCISE_SCHEMAS[kind], f"{kind} exercise", report, OPENING_LINE)
    context = ExerciseContext(
        report,
        SourceRef(source_path, fence_line),
        f"{kind}-{kind_counts[kind]}",
        data,
        decimal_comma=decimal_comma,
    )
    exercise_id = _exercise_id(values, context, data)
    return EXERCISE_PARSERS[kind](values, context, exercise_id)


# --- courses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseFiles:
    """Every file a course is built from, read once: the parser and the hash share the bytes."""

    root: Path
    files: dict[str, bytes]  # path relative to root, with '/' separators
    content_hash: str


def course_file_names(root: Path) -> list[str]:
    """course.yaml and every Markdown file under the course folder, hidden folders skipped."""
    names: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        relative = Path(folder).relative_to(root)
        for filename in filenames:
            if (
                filename.endswith(".md")
                or is_asset_name(filename)
                or (filename == COURSE_FILE and folder == str(root))
            ):
                names.append((relative / filename).as_posix())
    return sorted(names)


def read_course_files(root: Path) -> CourseFiles:
    files: dict[str, bytes] = {}
    digest = hashlib.sha256()
    for name in course_file_names(root):
        try:
            data = (root / name).read_bytes()
        except OSError:
            continue  # vanished while we looked; the parser reports it if it mattered
        files[name] = data
        # Length-prefixed so that moving bytes between files always changes the hash.
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return CourseFiles(root, files, digest.hexdigest())


def parse_course(
    root: Path, files: CourseFiles | None = None
) -> tuple[Course | None, list[Problem]]:
    """Parse a course folder; the course is None whenever there is at least one problem."""
    files = files or read_course_files(root)
    problems: list[Problem] = []
    course_path = str(root / COURSE_FILE)

    def course_report(line: int, message: str) -> None:
        problems.append(Problem(course_path, max(line, 0) + 1, message))

    raw = files.files.get(COURSE_FILE)
    if raw is None:
        course_report(0, f"no {COURSE_FILE} in {root}")
        return None, problems
    text = _decode(raw, course_path, problems)
    if text is None:
        return None, problems
    try:
        data = load_yaml(text)
    except YamlError as error:
        course_report(error.line, error.message)
        return None, problems
    meta = read_fields(data, COURSE, COURSE_FILE, course_report, 0)
    slug = meta.get("slug")
    if slug is not None and not COURSE_SLUG.match(slug):
        course_report(
            data.line_of("slug"),
            f"course slug '{slug}' may use only lowercase letters, digits and '-'",
        )

    decimal_comma = uses_decimal_comma(str(meta.get("locale", "en")))
    assets = _AssetContext(str(slug or ""), files.files)
    modules: list[Module] = []
    lessons: list[Lesson] = []
    listed: dict[str, int] = {}
    number_owner: dict[int, str] = {}
    slug_owner: dict[str, str] = {}
    modules_data = meta.get("modules") or []
    for module_index, module_data in enumerate(modules_data):
        module_line = _item_line(modules_data, module_index, 0)
        module = read_fields(module_data, MODULE, "module", course_report, module_line)
        lesson_names = module.get("lessons") or []
        numbers: list[int] = []
        for lesson_index, name in enumerate(lesson_names):
            line = _item_line(lesson_names, lesson_index, module_line)
            if not isinstance(name, str):
                course_report(line, f"a lesson entry must be a file name, not {_describe(name)}")
                continue
            posix = Path(name).as_posix()
            if posix in listed:
                course_report(
                    line,
                    f"lesson file '{name}' is listed twice (first on line {listed[posix] + 1})",
                )
                continue
            listed[posix] = line
            if not name.endswith(".md"):
                course_report(line, f"lesson file '{name}' must be a Markdown file ending in .md")
                continue
            raw_lesson = files.files.get(posix)
            if raw_lesson is None:
                course_report(line, f"lesson file '{name}' does not exist")
                continue
            display = str(root / posix)
            lesson_text = _decode(raw_lesson, display, problems)
            if lesson_text is None:
                continue
            result = parse_lesson(
                lesson_text,
                display,
                posix,
                str(module.get("title", "")),
                problems,
                decimal_comma=decimal_comma,
                assets=assets,
            )
            if result.number is not None:
                if result.number in number_owner:
                    problems.append(
                        Problem(
                            display,
                            result.number_line,
                            f"lesson number {result.number} is already used by"
                            f" {number_owner[result.number]}",
                        )
                    )
                number_owner.setdefault(result.number, posix)
            if result.slug is not None:
                if result.slug in slug_owner:
                    problems.append(
                        Problem(
                            display,
                            result.slug_line,
                            f"lesson slug '{result.slug}' is already used by"
                            f" {slug_owner[result.slug]}",
                        )
                    )
                slug_owner.setdefault(result.slug, posix)
            lesson = result.lesson
            if lesson is None:
                continue
            numbers.append(lesson.number)
            lessons.append(lesson)
        modules.append(Module(title=str(module.get("title", "")), lesson_numbers=tuple(numbers)))
    if "modules" in meta and not modules_data:
        course_report(data.line_of("modules"), "a course needs at least one module")
    out_of_scope = _out_of_scope(meta.get("out_of_scope") or [], course_report)
    if problems:
        return None, sorted(problems)
    course = Course(
        slug=meta["slug"],
        title=meta["title"],
        description=meta.get("description", ""),
        modules=tuple(modules),
        lessons=tuple(lessons),
        content_hash=files.content_hash,
        out_of_scope=out_of_scope,
        assets={asset.digest: asset for asset in assets.used.values()},
    )
    return course, []


def _out_of_scope(items: list[Any], report: Report) -> tuple[OutOfScope, ...]:
    """Neighbouring topics the course does not teach: a name, and what learners ask about it."""
    out: list[OutOfScope] = []
    for index, item in enumerate(items):
        line = _item_line(items, index, 0)
        fields = read_fields(item, OUT_OF_SCOPE, "out_of_scope entry", report, line)
        if "topic" not in fields or "about" not in fields:
            continue
        topic = str(fields["topic"]).strip()
        about = [str(a).strip() for a in fields["about"] if _is_text(a) and str(a).strip()]
        if not topic:
            report(line, "an out_of_scope entry needs a topic: the name the tutor shows")
        elif len(about) != len(fields["about"]) or not about:
            report(
                line,
                f"out_of_scope '{topic}': 'about' must list what learners ask about it, as "
                "text: [merge conflicts, rebasing]",
            )
        else:
            out.append(OutOfScope(topic, tuple(about)))
    return tuple(out)


def _decode(raw: bytes, display: str, problems: list[Problem]) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        problems.append(Problem(display, line, f"file is not valid UTF-8: {error.reason}"))
        return None
