"""Numbers with units, through pint. The unit registry takes ~0.5 s to build, so it is built
on first use: a course without `units` never pays for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from learnloop.exercises.numbers import ParsedNumber, read_number

MAX_QUANTITY_CHARS = 100

_lock = threading.Lock()
_registry: Any = None


def registry() -> Any:
    global _registry
    with _lock:
        if _registry is None:
            import pint  # heavy; only courses with units need it

            _registry = pint.UnitRegistry()
    return _registry


def unit_problem(units: str) -> str | None:
    """Why pint cannot read ``units``, or None."""
    try:
        registry().parse_units(units)
    except Exception as error:  # pint raises many kinds for bad input
        return f"unknown unit '{units}' ({type(error).__name__})"
    return None


@dataclass(frozen=True)
class Quantity:
    number: ParsedNumber
    unit_text: str  # as typed, "" when no unit was given


def split_quantity(text: str, *, decimal_comma: bool) -> Quantity | None:
    """The longest leading number and the unit after it ("1.5e3 km/h" -> 1500, "km/h")."""
    text = text.strip()[:MAX_QUANTITY_CHARS]
    for end in range(len(text), 0, -1):
        head, tail = text[:end], text[end:]
        if tail and not (tail[0].isspace() or head[-1].isdigit()):
            continue  # the number ends before a space or right after a digit
        parsed = read_number(head, decimal_comma=decimal_comma)
        if parsed is not None:
            return Quantity(parsed, tail.strip())
    return None


@dataclass(frozen=True)
class Converted:
    value: float | None  # in the author's unit; None when the unit does not fit
    message: str = ""


def to_unit(value: float, unit_text: str, target: str, *, convert: bool) -> Converted:
    ureg = registry()
    try:
        given = ureg.parse_units(unit_text)
    except Exception:  # pint raises many kinds for bad input
        return Converted(None, f"'{unit_text}' is not a unit I know; give the answer in {target}.")
    wanted = ureg.parse_units(target)
    if given == wanted:
        return Converted(value)
    if not convert:
        return Converted(None, f"Give the answer in {target}.")
    try:
        return Converted(float(ureg.Quantity(value, given).to(wanted).magnitude))
    except Exception:  # DimensionalityError and friends
        return Converted(None, f"{unit_text} is not a unit of the same kind as {target}.")
