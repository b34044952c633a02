"""Regression tests for the answer engine's defect classes (issue 14), one test per class.

The cases come from answer-matching suites of other platforms (Oppia, PrairieLearn, Moodle,
Runestone); each failed on the engine before the fix.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from learnloop.content.check import check_course
from learnloop.content.model import Blank, FillBlankExercise
from learnloop.exercises.checking import check, match_blank, parse_number


def write_course(root: Path, *, lesson_body: str) -> Path:
    """A one-lesson course whose lesson body is ``lesson_body``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "course.yaml").write_text(
        "slug: tiny\ntitle: Tiny\nmodules:\n  - title: M\n    lessons: [01-one.md]\n"
    )
    (root / "01-one.md").write_text(f"---\nnumber: 1\ntitle: One\nxp: 10\n---\n{lesson_body}")
    return root


def blanks(*items: Blank) -> FillBlankExercise:
    return FillBlankExercise(id="fb", prompt=" ".join("___" for _ in items), blanks=items)


def test_1_signs_are_significant_and_the_unicode_minus_is_a_minus() -> None:
    minus_five = Blank(answers=("-5",))
    assert match_blank(minus_five, "5") == "incorrect"
    assert match_blank(minus_five, "-5") == "correct"
    assert match_blank(minus_five, "\u22125") == "correct"  # U+2212 MINUS SIGN
    number = Blank(answers=(), number=-5)
    assert match_blank(number, "\u22125") == "correct"
    assert match_blank(number, "5") == "incorrect"


def test_2_symbol_answers_are_compared_exactly() -> None:
    equals = Blank(answers=("==",))
    assert match_blank(equals, "==") == "correct"
    assert match_blank(equals, "!=") == "incorrect"
    assert match_blank(equals, "?") == "incorrect"
    assert match_blank(Blank(answers=("//",)), "**") == "incorrect"
    sharp = Blank(answers=("C#",))
    assert match_blank(sharp, "C#") == "correct"
    assert match_blank(sharp, "C") == "incorrect"
    assert match_blank(Blank(answers=("C++",)), "C") == "incorrect"


def test_3_float_slack_is_relative_to_the_magnitude() -> None:
    charge = Blank(answers=(), number=1.602e-19)
    assert match_blank(charge, "0") == "incorrect"
    assert match_blank(charge, "1.602e-19") == "correct"
    assert match_blank(charge, "1.602\u00d710^-19") == "correct"
    assert match_blank(Blank(answers=(), number=0.3), "0.1") == "incorrect"
    assert match_blank(Blank(answers=(), number=0.30000000000000004), "0.3") == "correct"


@pytest.mark.parametrize("tolerance", ["-0.1", ".nan", ".inf"])
def test_4_check_rejects_a_bad_tolerance(tmp_path: Path, tolerance: str) -> None:
    root = write_course(
        tmp_path,
        lesson_body=f"""
```exercise
kind: fill-blank
prompt: g is ___ m/s².
blanks:
  - number: 9.81
    tolerance: {tolerance}
```
""",
    )
    problems = check_course(root)
    assert [p.message for p in problems if "tolerance" in p.message], problems
    assert all(p.line > 1 for p in problems)


def test_5_the_decimal_comma_is_not_guessed() -> None:
    assert parse_number("3,14159") == pytest.approx(3.14159)
    assert parse_number("1,2,3") is None
    assert parse_number("1,000,000") == 1_000_000
    assert parse_number("1,000.5") == 1000.5
    assert parse_number("12,34,567") is None  # not groups of three
    assert parse_number("1,234", decimal_comma=True) == pytest.approx(1.234)
    assert parse_number("1.234,5", decimal_comma=True) == pytest.approx(1234.5)
    pi = Blank(answers=(), number=3.14159, tolerance=0.00001)
    assert match_blank(pi, "3,14159") == "correct"
    assert match_blank(Blank(answers=(), number=123), "1,2,3") == "incorrect"


def test_6_case_sensitive_survives_allow_typos() -> None:
    sodium = Blank(answers=("NaCl",), case_sensitive=True, allow_typos=True)
    assert match_blank(sodium, "NaCl") == "correct"
    assert match_blank(sodium, "Nacl") == "incorrect"
    assert match_blank(sodium, "nacl") == "incorrect"
    # A real typo is still a near miss.
    assert match_blank(Blank(answers=("NaClO",), case_sensitive=True), "NaCO") == "close"


def test_7_one_letter_answers_get_no_typo_slack() -> None:
    newton = Blank(answers=("N",))
    for letter in "JWmk":
        assert match_blank(newton, letter) == "incorrect"
    assert match_blank(newton, "n") == "correct"


def test_8_nested_quantifiers_fail_check_and_matching_is_bounded(tmp_path: Path) -> None:
    root = write_course(
        tmp_path,
        lesson_body="""
```exercise
kind: fill-blank
prompt: Type ___.
blanks:
  - regex: "(a+)+b"
```
""",
    )
    problems = check_course(root)
    assert any("nested" in p.message for p in problems), problems
    risky = Blank(answers=(), regex="(a+)+b")
    started = time.perf_counter()
    assert match_blank(risky, "a" * 40 + "c") == "incorrect"
    assert match_blank(risky, "a" * 5000) == "incorrect"  # over the length cap
    assert time.perf_counter() - started < 1.0


def test_9_check_explains_yaml_number_forms(tmp_path: Path) -> None:
    root = write_course(
        tmp_path,
        lesson_body="""
```exercise
kind: fill-blank
prompt: Light travels ___ m/s.
blanks:
  - number: 3e8
```
""",
    )
    problems = check_course(root)
    assert any("3.0e+8" in p.message for p in problems), problems
    fixed = write_course(
        tmp_path / "fixed",
        lesson_body="""
```exercise
kind: fill-blank
prompt: Light travels ___ m/s.
blanks:
  - number: 3.0e+8
```
""",
    )
    assert check_course(fixed) == []


def test_speed_of_light_blank_accepts_the_notations() -> None:
    light = blanks(Blank(answers=(), number=3.0e8, relative_tolerance=0.01))
    for typed in ("3e8", "3.0\u00d710^8", "3 x 10^8", "300,000,000", "299 792 458", "3·10⁸"):
        assert check(light, [typed]).correct, typed
