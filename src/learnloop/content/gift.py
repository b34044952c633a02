"""Moodle GIFT question banks: read into lesson Markdown, and written from a course.

No maintained Python library reads GIFT, so this is the small parser of Moodle's documented
format (docs.moodle.org, "GIFT format"). Supported: multiple choice (one right answer, or
several with `~%50%` weights), true/false, short answer, numerical (`#value:tolerance`,
`#min..max`, several `=` answers), matching (`=a -> b`), per-answer feedback (`#...`), general
feedback (`####...`), titles (`::title::`), comments, `$CATEGORY` lines, `[markdown]`/`[html]`
prefixes and the escapes `\\~ \\= \\# \\{ \\} \\:`. Essays and descriptions have no learnloop
equivalent and are reported, not dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from learnloop.content.model import (
    ChoiceExercise,
    Course,
    FillBlankExercise,
    RegisteredExercise,
    TrueFalseExercise,
)

_ESCAPES = {
    "\\~": "\x01",
    "\\=": "\x02",
    "\\#": "\x03",
    "\\{": "\x04",
    "\\}": "\x05",
    "\\:": "\x06",
}
_UNESCAPE = {code: text[1] for text, code in _ESCAPES.items()}


def _escape(text: str) -> str:
    for escaped, code in _ESCAPES.items():
        text = text.replace(escaped, code)
    return text


def _unescape(text: str) -> str:
    for code, char in _UNESCAPE.items():
        text = text.replace(code, char)
    return text.strip()


@dataclass
class GiftQuestion:
    line: int
    title: str
    kind: str  # choice, true-false, short, numerical, matching
    prompt: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class GiftBank:
    questions: list[GiftQuestion]
    problems: list[tuple[int, str]]  # (line, message) for what could not be imported


_TITLE = re.compile(r"^::(.*?)::", re.S)
_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d+)?)%")


def parse_gift(text: str) -> GiftBank:
    questions: list[GiftQuestion] = []
    problems: list[tuple[int, str]] = []
    for line, block in _blocks(_escape(text)):
        try:
            question = _question(line, block)
        except ValueError as error:
            problems.append((line, str(error)))
            continue
        if question is not None:
            questions.append(question)
    return GiftBank(questions, problems)


def _blocks(text: str) -> list[tuple[int, str]]:
    """Questions are separated by blank lines; comments and $CATEGORY lines are skipped."""
    blocks: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if stripped.startswith(("//", "$CATEGORY")):
            continue
        if not stripped:
            if current:
                blocks.append((start, "\n".join(current)))
                current = []
            continue
        if not current:
            start = number
        current.append(raw)
    if current:
        blocks.append((start, "\n".join(current)))
    return blocks


def _question(line: int, block: str) -> GiftQuestion | None:
    title = ""
    titled = _TITLE.match(block.strip())
    body = block.strip()
    if titled:
        title, body = _unescape(titled.group(1)), body[titled.end() :].strip()
    body = re.sub(r"^\[(markdown|html|plain|moodle)\]", "", body).strip()
    opening, closing = body.find("{"), body.rfind("}")
    if opening < 0 or closing < opening:
        raise ValueError("a description without answers has no learnloop equivalent; skipped")
    before, answers, after = body[:opening], body[opening + 1 : closing], body[closing + 1 :]
    # "its {=digest}, a hash" -> "its ___, a hash": the text around the gap keeps its spacing.
    prompt = _unescape(f"{before.rstrip()} ___{after.rstrip()}" if after.strip() else before)
    answers = answers.strip()
    general = ""
    if "####" in answers:
        answers, general = answers.split("####", 1)
        general = _unescape(general)
    answers = answers.strip()
    if not answers:
        raise ValueError("essay questions have no learnloop equivalent; skipped")
    question = GiftQuestion(line, title, "", prompt, {"explanation": general})
    if answers.startswith("#"):
        question.kind = "numerical"
        question.data["answers"] = _numerical(answers[1:])
    elif re.fullmatch(r"(T|F|TRUE|FALSE)(#.*)?", answers, re.S):
        question.kind = "true-false"
        question.data["answer"] = answers.split("#")[0] in ("T", "TRUE")
    elif "->" in answers:
        question.kind = "matching"
        pairs = []
        for item in _items(answers):
            if item[0] != "=" or "->" not in item[1]:
                raise ValueError("a matching question lists '=left -> right' pairs")
            left, right = item[1].split("->", 1)
            pairs.append((_unescape(left), _unescape(right)))
        question.data["pairs"] = pairs
    else:
        items = _items(answers)
        if all(mark == "=" for mark, _ in items):
            question.kind = "short"
        else:
            question.kind = "choice"
        question.data["options"] = [_option(mark, text) for mark, text in items]
    if not question.prompt:
        raise ValueError("a question needs text before its answers")
    return question


def _items(answers: str) -> list[tuple[str, str]]:
    """Split '=a#fb ~b ~c' into (mark, text-with-feedback) items."""
    items: list[tuple[str, str]] = []
    for match in re.finditer(r"([=~])([^=~]*)", answers):
        items.append((match.group(1), match.group(2).strip()))
    if not items:
        raise ValueError(f"cannot read the answers '{_unescape(answers)}'")
    return items


def _option(mark: str, text: str) -> dict[str, Any]:
    weight = 100.0 if mark == "=" else 0.0
    found = _WEIGHT.match(text)
    if found:
        weight, text = float(found.group(1)), text[found.end() :]
    answer, _, feedback = text.partition("#")
    return {"text": _unescape(answer), "weight": weight, "feedback": _unescape(feedback)}


def _numerical(answers: str) -> list[dict[str, Any]]:
    """'#3.14:0.01', '#1..5', or '#=3.14:0.01#fb =%50%3.1:0.1'."""
    parts = [("=", answers)] if not answers.strip().startswith("=") else _items(answers)
    result: list[dict[str, Any]] = []
    for _, text in parts:
        weight = 100.0
        found = _WEIGHT.match(text)
        if found:
            weight, text = float(found.group(1)), text[found.end() :]
        value, _, feedback = text.partition("#")
        value = value.strip()
        try:
            if ".." in value:
                low, high = (float(v) for v in value.split("..", 1))
                number, tolerance = (low + high) / 2, abs(high - low) / 2
            elif ":" in value:
                number_text, tolerance_text = value.split(":", 1)
                number, tolerance = float(number_text), abs(float(tolerance_text))
            else:
                number, tolerance = float(value), 0.0
        except ValueError as error:
            raise ValueError(f"cannot read the numerical answer '{_unescape(value)}'") from error
        result.append(
            {
                "number": number,
                "tolerance": tolerance,
                "weight": weight,
                "feedback": _unescape(feedback),
            }
        )
    return result


# --- GIFT -> lesson Markdown --------------------------------------------------------------


def _exercise_yaml(question: GiftQuestion) -> dict[str, Any]:
    data: dict[str, Any] = {}
    explanation = question.data.get("explanation", "")
    if question.kind == "choice":
        options = question.data["options"]
        right = [o for o in options if o["weight"] > 0]
        several = len(right) > 1 or any(0 < o["weight"] < 100 for o in options)
        data = {"kind": "choice", "prompt": question.prompt}
        if several:
            data["multiple"] = True
            data["partial_credit"] = True
        data["options"] = [
            {
                "text": o["text"],
                **({"correct": True} if o["weight"] > 0 else {}),
                **({"feedback": o["feedback"]} if o["feedback"] else {}),
            }
            for o in options
        ]
    elif question.kind == "true-false":
        data = {"kind": "true-false", "prompt": question.prompt, "answer": question.data["answer"]}
    elif question.kind == "short":
        # Moodle's short answer ignores case by default, as learnloop does.
        # Only full-credit answers are right; a partly right one gets its feedback, if any.
        options = question.data["options"]
        blank: dict[str, Any] = {"answers": [o["text"] for o in options if o["weight"] >= 100]}
        partly = {o["text"]: o["feedback"] for o in options if o["weight"] < 100 and o["feedback"]}
        if partly:
            blank["feedback"] = partly
        prompt = question.prompt if "___" in question.prompt else f"{question.prompt} ___"
        data = {"kind": "fill-blank", "prompt": prompt, "blanks": [blank]}
    elif question.kind == "numerical":
        best = max(question.data["answers"], key=lambda a: a["weight"])
        blank = {"number": best["number"]}
        if best["tolerance"]:
            blank["tolerance"] = best["tolerance"]
        wrong = {
            f"{a['number']:g}": a["feedback"]
            for a in question.data["answers"]
            if a is not best and a["feedback"]
        }
        if wrong:
            blank["feedback"] = wrong
        prompt = question.prompt if "___" in question.prompt else f"{question.prompt} ___"
        data = {"kind": "fill-blank", "prompt": prompt, "blanks": [blank]}
    elif question.kind == "matching":
        data = {
            "kind": "matching",
            "prompt": question.prompt,
            "pairs": [{left: right} for left, right in question.data["pairs"]],
        }
    if explanation:
        data["explanation"] = explanation
    return data


def bank_to_lesson(bank: GiftBank, *, number: int, title: str) -> str:
    blocks = []
    for question in bank.questions:
        heading = f"## {question.title}\n\n" if question.title else ""
        body = yaml.safe_dump(
            _exercise_yaml(question), sort_keys=False, allow_unicode=True, width=100
        )
        blocks.append(f"{heading}```exercise\n{body}```\n")
    front = yaml.safe_dump({"number": number, "title": title, "xp": 10 * len(blocks)})
    return f"---\n{front}---\n" + "\n".join(blocks)


# --- course -> GIFT ----------------------------------------------------------------------


def _gift_text(text: str) -> str:
    for char in "~=#{}:":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def course_to_gift(course: Course) -> tuple[str, list[str]]:
    """The course's auto-checked exercises as GIFT; also what GIFT cannot say."""
    out: list[str] = []
    skipped: list[str] = []
    for lesson in course.lessons:
        out.append(f"$CATEGORY: {course.slug}/{lesson.number}-{lesson.slug}\n")
        for exercise in lesson.exercises:
            text = _exercise_to_gift(exercise)
            if text is None:
                if isinstance(
                    exercise,
                    ChoiceExercise | TrueFalseExercise | FillBlankExercise | RegisteredExercise,
                ):
                    skipped.append(f"lesson {lesson.number} {exercise.id}")
                continue
            out.append(f"::{exercise.id}:: {text}\n")
    return "\n".join(out), skipped


def _general(explanation: str) -> str:
    return f" ####{_gift_text(explanation)}" if explanation else ""


def _exercise_to_gift(exercise: object) -> str | None:
    if isinstance(exercise, ChoiceExercise):
        right = sum(option.correct for option in exercise.options)
        parts = []
        for option in exercise.options:
            feedback = f"#{_gift_text(option.feedback)}" if option.feedback else ""
            if exercise.multiple:
                weight = f"%{100 / right:g}%" if option.correct else "%-100%"
                parts.append(f"~{weight}{_gift_text(option.text)}{feedback}")
            else:
                mark = "=" if option.correct else "~"
                parts.append(f"{mark}{_gift_text(option.text)}{feedback}")
        answers = " ".join(parts) + _general(exercise.explanation)
        return f"{_gift_text(exercise.prompt)} {{{answers}}}"
    if isinstance(exercise, TrueFalseExercise):
        answer = "TRUE" if exercise.answer else "FALSE"
        return f"{_gift_text(exercise.prompt)} {{{answer}{_general(exercise.explanation)}}}"
    if isinstance(exercise, FillBlankExercise) and len(exercise.blanks) == 1:
        blank = exercise.blanks[0]
        if blank.regex is not None or blank.units is not None or blank.sig_figs is not None:
            return None
        before, _, after = exercise.prompt.partition("___")
        before = before.rstrip("_")
        after = after.lstrip("_")
        if blank.number is not None:
            tolerance = f":{blank.tolerance:g}" if blank.tolerance else ""
            answer = f"#{blank.number:g}{tolerance}"
        elif blank.answers:
            answer = " ".join(f"={_gift_text(a)}" for a in blank.answers)
        else:
            return None
        gap = " " if after[:1].isspace() else ""
        answers = f"{answer}{_general(exercise.explanation)}"
        return f"{_gift_text(before)} {{{answers}}}{gap}{_gift_text(after)}".strip()
    return None
