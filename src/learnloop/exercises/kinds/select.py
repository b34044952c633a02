"""`select`: dropdowns inside a sentence. Each `___` in the prompt is one dropdown.

Answer: the chosen option texts, one per dropdown, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from learnloop.content.fields import LIST, TEXT, ExerciseContext, Key, _item_line, read_fields
from learnloop.content.model import RegisteredExercise
from learnloop.exercises.kinds.base import FormValues, KindSpec, scored_verdict, string_list
from learnloop.exercises.verdicts import AnswerError, Verdict

BLANK = re.compile(r"_{3,}")
DROPDOWN = {"options": Key(LIST, required=True), "answer": Key(TEXT, required=True)}


@dataclass(frozen=True, kw_only=True)
class SelectExercise(RegisteredExercise):
    # (options in the author's order, the right option) per dropdown
    dropdowns: tuple[tuple[tuple[str, ...], str], ...]
    kind: str = "select"


def parse(values: dict[str, Any], context: ExerciseContext, eid: str) -> SelectExercise:
    report = context.report
    items = values.get("dropdowns") or []
    dropdowns: list[tuple[tuple[str, ...], str]] = []
    for index, item in enumerate(items):
        line = _item_line(items, index, context.key_line("dropdowns"))
        fields = read_fields(item, DROPDOWN, "dropdown", report, line)
        options = tuple(str(option) for option in fields.get("options") or [])
        answer = fields.get("answer")
        if "options" in fields and len(options) < 2:
            report(line, "a dropdown needs at least two options")
        if answer is not None and options and answer not in options:
            report(line, f"the answer '{answer}' is not one of the dropdown's options")
        dropdowns.append((options, str(answer or "")))
    prompt = values.get("prompt", "")
    count = len(BLANK.findall(prompt))
    if "prompt" in values and "dropdowns" in values and count != len(items):
        report(
            context.key_line("prompt"),
            f"the prompt has {count} gap(s) (written as ___) but 'dropdowns' lists {len(items)}",
        )
    return SelectExercise(
        id=eid,
        prompt=prompt,
        explanation=values.get("explanation", ""),
        source=context.source,
        partial_credit=values.get("partial_credit", False),
        hints=context.hints(values),
        tests=context.tests(values),
        dropdowns=tuple(dropdowns),
    )


def check(exercise: SelectExercise, answer: object) -> Verdict:
    chosen = string_list(answer, len(exercise.dropdowns), "select")
    for text, (options, _) in zip(chosen, exercise.dropdowns, strict=True):
        if text not in options:
            raise AnswerError(f"{text!r} is not one of the options")
    right = sum(
        text == expected for text, (_, expected) in zip(chosen, exercise.dropdowns, strict=True)
    )
    return scored_verdict(exercise, right, len(exercise.dropdowns), chosen)


def answer_from_form(exercise: SelectExercise, form: FormValues) -> object:
    chosen = [(form(f"select-{index}") or [""])[0] for index in range(len(exercise.dropdowns))]
    if not all(chosen):
        raise AnswerError("Choose an option in every gap.")
    return chosen


def view(exercise: SelectExercise, last: object) -> dict[str, Any]:
    chosen = last if isinstance(last, list) else []
    pieces = BLANK.split(exercise.prompt)
    parts: list[tuple[str, int | None, tuple[str, ...], str]] = []
    for index, text in enumerate(pieces):
        if text:
            parts.append((text, None, (), ""))
        if index < len(exercise.dropdowns) and index < len(pieces) - 1:
            picked = str(chosen[index]) if index < len(chosen) else ""
            parts.append(("", index, exercise.dropdowns[index][0], picked))
    return {"parts": parts, "count": len(exercise.dropdowns)}


CARD = """\
<fieldset>
  <legend class="visually-hidden">Choose the words that complete the sentence</legend>
  <p class="blank-sentence">
    {%- for text, index, options, picked in v.parts -%}
    {%- if index is none %}{{ text }}{% else -%}
    <select name="select-{{ index }}" required aria-label="Gap {{ index + 1 }} of {{ v.count }}">
      <option value="">…</option>
      {%- for option in options %}
      <option{% if option == picked %} selected{% endif %}>{{ option }}</option>
      {%- endfor %}
    </select>
    {%- endif -%}
    {%- endfor -%}
  </p>
</fieldset>"""


def public(exercise: SelectExercise) -> dict[str, Any]:
    return {"dropdowns": [list(options) for options, _ in exercise.dropdowns]}


def to_dict(exercise: SelectExercise) -> dict[str, Any]:
    return {
        "prompt": exercise.prompt,
        "dropdowns": [
            {"options": list(options), "answer": answer} for options, answer in exercise.dropdowns
        ],
        "partial_credit": exercise.partial_credit,
        "explanation": exercise.explanation,
    }


SPEC = KindSpec(
    name="select",
    label="Choose the words",
    schema={"dropdowns": Key(LIST, required=True)},
    parse=parse,
    check=check,
    answer_from_form=answer_from_form,
    view=view,
    card=CARD,
    public=public,
    to_dict=to_dict,
    answer_help="select: the chosen option texts, one per gap",
)
