"""Reading YAML values against a schema, shared by the course parser and the exercise kinds.

Every problem is reported with the line it was found on, never raised.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from learnloop.content.model import AnswerTest, SourceRef
from learnloop.content.yamlsource import LineDict, LineList

# A line number below this inside a YAML snippet means "the line that opened the snippet".
OPENING_LINE = -1

# --- field schemas -----------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What a YAML value must be, and how to say so in a problem message."""

    name: str
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any] = lambda value: value


def _is_text(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Numbers are allowed where text is expected because YAML reads `text: 3` as an integer.
TEXT = Kind("text", _is_text, lambda value: value if isinstance(value, str) else str(value))
INT = Kind("a whole number", _is_int)
NUMBER = Kind("a number", _is_number, float)
BOOL = Kind("true or false", lambda value: isinstance(value, bool))
LIST = Kind("a list", lambda value: isinstance(value, list))
MAPPING = Kind("a mapping of 'key: value' lines", lambda value: isinstance(value, dict))
ANY = Kind("a value", lambda value: True)


@dataclass(frozen=True)
class Key:
    kind: Kind
    required: bool = False


Schema = Mapping[str, Key]

ANSWER_TEST: Schema = {
    "answer": Key(ANY, required=True),
    "verdict": Key(TEXT, required=True),
    "feedback": Key(TEXT),
}
VERDICTS = ("correct", "incorrect", "close")


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


# A reporter takes a 0-based line inside the YAML snippet being read and a message.
Report = Callable[[int, str], None]


def read_fields(data: Any, schema: Schema, what: str, report: Report, line: int) -> dict[str, Any]:
    """Check ``data`` against ``schema``; return the valid values, report the rest.

    ``line`` is where the mapping starts, used when ``data`` is not a mapping at all or a
    required key is missing. A key whose value is wrong is left out of the result.
    """
    if not isinstance(data, dict):
        report(line, f"{what} must be a mapping of 'key: value' lines")
        return {}
    key_line = data.line_of if isinstance(data, LineDict) else (lambda _key: line)
    values: dict[str, Any] = {}
    for key, value in data.items():
        spec = schema.get(key) if isinstance(key, str) else None
        if spec is None:
            report(
                key_line(key),
                f"unknown key '{key}' in {what}{did_you_mean(str(key), list(schema))}",
            )
            continue
        if value is None:
            if spec.required:
                report(key_line(key), f"'{key}' in {what} is empty")
            continue
        if not spec.kind.accepts(value):
            hint = " (put it in quotes)" if isinstance(value, bool) and spec.kind is TEXT else ""
            if spec.kind in (NUMBER, INT) and isinstance(value, str) and _looks_numeric(value):
                hint = (
                    " (YAML reads a number with an exponent as a number only with a point and a"
                    " signed exponent: write 3.0e+8 or 300000000, not 3e8)"
                )
            report(
                key_line(key),
                f"'{key}' in {what} must be {spec.kind.name}, not {_describe(value)}{hint}",
            )
            continue
        values[key] = spec.kind.convert(value)
    for key, spec in schema.items():
        if spec.required and key not in data:
            report(line, f"{what} is missing required key '{key}'")
    return values


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text '{value}'"
    return f"'{value}'"


def _item_line(items: Any, index: int, fallback: int) -> int:
    return items.line_of(index) if isinstance(items, LineList) else fallback


# --- exercise context ---------------------------------------------------------------------------


@dataclass
class ExerciseContext:
    """What an exercise parser needs to know about where it is."""

    report: Report
    source: SourceRef
    derived_id: str
    data: Any = None
    decimal_comma: bool = False  # the course's locale writes 3,14

    def key_line(self, key: str) -> int:
        """Where ``key`` is written in the block, or the opening fence if it is not."""
        return self.data.line_of(key) if isinstance(self.data, LineDict) else OPENING_LINE

    def file_line(self, line: int) -> int:
        """A line inside the block as a line of the lesson file."""
        return self.source.line + 1 + line

    def hints(self, values: dict[str, Any]) -> tuple[str, ...]:
        return tuple(_text_items(values.get("hints"), "hint", self.report))

    def tests(self, values: dict[str, Any]) -> tuple[AnswerTest, ...]:
        items = values.get("tests") or []
        tests: list[AnswerTest] = []
        for index, item in enumerate(items):
            line = _item_line(items, index, self.key_line("tests"))
            fields = read_fields(item, ANSWER_TEST, "test", self.report, line)
            verdict = fields.get("verdict")
            if verdict is not None and verdict not in VERDICTS:
                self.report(
                    line,
                    f"a test's verdict must be one of {', '.join(VERDICTS)}, not "
                    f"{_describe(verdict)}",
                )
                continue
            if "answer" in fields and verdict is not None:
                tests.append(
                    AnswerTest(
                        answer=_plain(fields["answer"]),
                        verdict=verdict,
                        line=self.file_line(line),
                        feedback=fields.get("feedback", ""),
                    )
                )
        return tuple(tests)


def _plain(value: Any) -> Any:
    """YAML's line-tracking containers as plain lists and dicts; numbers as the text typed."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _text_items(items: Any, what: str, report: Report) -> list[str]:
    texts: list[str] = []
    for index, item in enumerate(items or []):
        if _is_text(item):
            texts.append(str(item))
        else:
            report(_item_line(items, index, 0), f"each {what} must be text, not {_describe(item)}")
    return texts
