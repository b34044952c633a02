"""`ordering`: put steps in order (with code lines, a Parsons problem).

Answer: the item ids (shown in the API's `items`) in the learner's order. Ids are hashes of the
text, so they do not give the order away. Without JavaScript each item has a position dropdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnloop.content.fields import BOOL, LIST, ExerciseContext, Key, _text_items
from learnloop.content.model import RegisteredExercise
from learnloop.exercises.kinds.base import (
    FormValues,
    KindSpec,
    item_id,
    scored_verdict,
    stable_shuffle,
    string_list,
)
from learnloop.exercises.verdicts import AnswerError, Verdict


@dataclass(frozen=True, kw_only=True)
class OrderingExercise(RegisteredExercise):
    items: tuple[str, ...]  # in the right order
    code: bool = False  # show items as code (Parsons problems)
    kind: str = "ordering"

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(item_id(text) for text in self.items)


def parse(values: dict[str, Any], context: ExerciseContext, eid: str) -> OrderingExercise:
    items = _text_items(values.get("items"), "item", context.report)
    if "items" in values and len(items) < 2:
        context.report(context.key_line("items"), "an ordering exercise needs at least two items")
    if len(set(items)) != len(items):
        context.report(context.key_line("items"), "two items have the same text")
    return OrderingExercise(
        id=eid,
        prompt=values.get("prompt", ""),
        explanation=values.get("explanation", ""),
        source=context.source,
        partial_credit=values.get("partial_credit", False),
        hints=context.hints(values),
        tests=context.tests(values),
        items=tuple(items),
        code=values.get("code", False),
    )


def check(exercise: OrderingExercise, answer: object) -> Verdict:
    given = string_list(answer, len(exercise.items), "ordering")
    by_text = {text: item_id(text) for text in exercise.items}
    # Authors' tests may name the items by text; learners send ids.
    given = [by_text.get(value, value) for value in given]
    if sorted(given) != sorted(exercise.ids):
        raise AnswerError("an ordering answer must list every item id exactly once")
    right = sum(a == b for a, b in zip(given, exercise.ids, strict=True))
    return scored_verdict(exercise, right, len(exercise.items), given)


def answer_from_form(exercise: OrderingExercise, form: FormValues) -> object:
    positions: dict[str, int] = {}
    for identifier in exercise.ids:
        value = (form(f"position-{identifier}") or [""])[0]
        if not value.isdigit() or not 1 <= int(value) <= len(exercise.items):
            raise AnswerError("Give every step a position.")
        positions[identifier] = int(value)
    if len(set(positions.values())) != len(positions):
        raise AnswerError("Give each step a different position.")
    return sorted(positions, key=positions.__getitem__)


def view(exercise: OrderingExercise, last: object) -> dict[str, Any]:
    texts = dict(zip(exercise.ids, exercise.items, strict=True))
    if isinstance(last, list) and sorted(last) == sorted(exercise.ids):
        order = [str(identifier) for identifier in last]
    else:
        order = stable_shuffle(exercise.ids, exercise.id)
    return {
        "rows": [
            (identifier, texts[identifier], index + 1) for index, identifier in enumerate(order)
        ],
        "count": len(order),
    }


CARD = """\
<fieldset>
  <legend>{{ ex.prompt }} <span class="hint">(give each a position, 1 first)</span></legend>
  <ol class="ordering">
    {%- for identifier, text, position in v.rows %}
    <li>
      <select id="{{ ex.id }}-position-{{ identifier }}" name="position-{{ identifier }}"
              aria-label="Position of: {{ text }}">
        {%- for n in range(1, v.count + 1) %}
        <option{% if n == position %} selected{% endif %}>{{ n }}</option>
        {%- endfor %}
      </select>
      {% if ex.code %}<code>{{ text }}</code>{% else %}<span>{{ text }}</span>{% endif %}
    </li>
    {%- endfor %}
  </ol>
</fieldset>"""


def public(exercise: OrderingExercise) -> dict[str, Any]:
    texts = dict(zip(exercise.ids, exercise.items, strict=True))
    return {
        "items": [
            {"id": identifier, "text": texts[identifier]}
            for identifier in stable_shuffle(exercise.ids, exercise.id)
        ]
    }


def to_dict(exercise: OrderingExercise) -> dict[str, Any]:
    return {
        "prompt": exercise.prompt,
        "items": list(exercise.items),
        "code": exercise.code,
        "partial_credit": exercise.partial_credit,
        "explanation": exercise.explanation,
    }


SPEC = KindSpec(
    name="ordering",
    label="Put in order",
    schema={"items": Key(LIST, required=True), "code": Key(BOOL)},
    parse=parse,
    check=check,
    answer_from_form=answer_from_form,
    view=view,
    card=CARD,
    public=public,
    to_dict=to_dict,
    answer_help="ordering: the item ids in order",
)
