"""`matching`: pair each item on the left with one on the right (with optional distractors).

Answer: the right-hand texts, one per left-hand item in the author's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnloop.content.fields import LIST, ExerciseContext, Key, _item_line
from learnloop.content.model import RegisteredExercise
from learnloop.exercises.kinds.base import (
    FormValues,
    KindSpec,
    scored_verdict,
    stable_shuffle,
    string_list,
)
from learnloop.exercises.verdicts import AnswerError, Verdict


@dataclass(frozen=True, kw_only=True)
class MatchingExercise(RegisteredExercise):
    pairs: tuple[tuple[str, str], ...]
    distractors: tuple[str, ...] = ()
    kind: str = "matching"

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(right for _, right in self.pairs) + self.distractors


def parse(values: dict[str, Any], context: ExerciseContext, eid: str) -> MatchingExercise:
    report = context.report
    pairs: list[tuple[str, str]] = []
    items = values.get("pairs") or []
    for index, item in enumerate(items):
        line = _item_line(items, index, context.key_line("pairs"))
        if isinstance(item, dict) and len(item) == 1:
            ((left, right),) = item.items()
            if isinstance(left, str | int | float) and isinstance(right, str | int | float):
                pairs.append((str(left), str(right)))
                continue
        report(line, "each pair is one 'left item: right item' line")
    if "pairs" in values and len(pairs) < 2:
        report(context.key_line("pairs"), "a matching exercise needs at least two pairs")
    distractors = [str(d) for d in values.get("distractors") or []]
    rights = [right for _, right in pairs] + distractors
    lefts = [left for left, _ in pairs]
    for what, texts in (("right-hand", rights), ("left-hand", lefts)):
        if len(set(texts)) != len(texts):
            report(context.key_line("pairs"), f"two {what} items have the same text")
    return MatchingExercise(
        id=eid,
        prompt=values.get("prompt", ""),
        explanation=values.get("explanation", ""),
        source=context.source,
        partial_credit=values.get("partial_credit", False),
        hints=context.hints(values),
        tests=context.tests(values),
        pairs=tuple(pairs),
        distractors=tuple(distractors),
    )


def check(exercise: MatchingExercise, answer: object) -> Verdict:
    chosen = string_list(answer, len(exercise.pairs), "matching")
    unknown = [text for text in chosen if text not in exercise.choices]
    if unknown:
        raise AnswerError(f"{unknown[0]!r} is not one of the choices")
    right = sum(
        given == expected for given, (_, expected) in zip(chosen, exercise.pairs, strict=True)
    )
    return scored_verdict(exercise, right, len(exercise.pairs), chosen)


def answer_from_form(exercise: MatchingExercise, form: FormValues) -> object:
    chosen = [(form(f"match-{index}") or [""])[0] for index in range(len(exercise.pairs))]
    if not all(chosen):
        raise AnswerError("Choose a match for every item.")
    return chosen


def view(exercise: MatchingExercise, last: object) -> dict[str, Any]:
    chosen = last if isinstance(last, list) else []
    return {
        "rows": [
            (index, left, chosen[index] if index < len(chosen) else "")
            for index, (left, _) in enumerate(exercise.pairs)
        ],
        "choices": stable_shuffle(exercise.choices, exercise.id),
    }


CARD = """\
<fieldset>
  <legend>{{ ex.prompt }}</legend>
  <table class="matching">
    {%- for index, left, chosen in v.rows %}
    <tr>
      <th scope="row"><label for="{{ ex.id }}-match-{{ index }}">{{ left }}</label></th>
      <td><select id="{{ ex.id }}-match-{{ index }}" name="match-{{ index }}" required>
        <option value="">Choose…</option>
        {%- for choice in v.choices %}
        <option{% if choice == chosen %} selected{% endif %}>{{ choice }}</option>
        {%- endfor %}
      </select></td>
    </tr>
    {%- endfor %}
  </table>
</fieldset>"""


def public(exercise: MatchingExercise) -> dict[str, Any]:
    return {
        "items": [left for left, _ in exercise.pairs],
        "choices": stable_shuffle(exercise.choices, exercise.id),
    }


def to_dict(exercise: MatchingExercise) -> dict[str, Any]:
    return {
        "prompt": exercise.prompt,
        "pairs": [{"left": left, "right": right} for left, right in exercise.pairs],
        "distractors": list(exercise.distractors),
        "partial_credit": exercise.partial_credit,
        "explanation": exercise.explanation,
    }


SPEC = KindSpec(
    name="matching",
    label="Matching",
    schema={"pairs": Key(LIST, required=True), "distractors": Key(LIST)},
    parse=parse,
    check=check,
    answer_from_form=answer_from_form,
    view=view,
    card=CARD,
    public=public,
    to_dict=to_dict,
    answer_help="matching: the chosen right-hand texts, one per item, in item order",
)
