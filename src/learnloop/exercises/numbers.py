"""How a typed number is read: the one parser behind numeric blanks (docs/authoring.md).

- a Unicode minus (U+2212) is a minus;
- thousands separators (``,``, ``.`` under a decimal comma, spaces, ``_``, thin spaces) are
  accepted only in valid groups of three (``1,000,000``; ``1,2,3`` is not a number);
- a decimal comma is read when it is unambiguous (``3,14159``, ``2,5``) or when the course's
  locale writes numbers that way; ``1,234`` is one thousand two hundred and thirty-four
  unless the locale uses a decimal comma;
- ``1.5e3``; ``1.5x10^3`` with a letter x, a multiplication sign (U+00D7), ``*`` or a
  middle dot, the exponent also as superscript digits; a trailing ``%``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_MINUS = "\u2212"
_GROUP_SEPARATORS = ("\u2009", "\u202f", "\u00a0", " ", "_", "'")
_POWER_OF_TEN = re.compile(
    r"^(?P<mantissa>.+?)\s*(?:[\u00d7x*\u00b7]|\\times)\s*"
    r"10\s*(?:\^|\*\*)?\s*\(?(?P<exponent>[+-]?\d+)\)?$"
)
_E_NOTATION = re.compile(r"^(?P<mantissa>.+?)[eE](?P<exponent>[+-]?\d+)$")
_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")

# Languages whose numbers are written with a decimal comma (course.yaml `locale`).
DECIMAL_COMMA_LANGUAGES = frozenset(
    [
        "af",
        "bg",
        "ca",
        "cs",
        "da",
        "de",
        "el",
        "es",
        "et",
        "eu",
        "fi",
        "fr",
        "gl",
        "hr",
        "hu",
        "id",
        "is",
        "it",
        "kk",
        "lt",
        "lv",
        "nb",
        "nl",
        "nn",
        "no",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "sq",
        "sr",
        "sv",
        "tr",
        "uk",
        "vi",
    ]
)


def uses_decimal_comma(locale: str) -> bool:
    """`de`, `de-CH`, `fr_FR`: the language part decides."""
    return re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0] in DECIMAL_COMMA_LANGUAGES


@dataclass(frozen=True)
class ParsedNumber:
    value: float
    significant_figures: (
        int  # as written: "1.50" has 3, "1500" has 2 (trailing zeros of an integer are not counted)
    )


def parse_number(text: str, *, decimal_comma: bool = False) -> float | None:
    parsed = read_number(text, decimal_comma=decimal_comma)
    return parsed.value if parsed is not None else None


def read_number(text: str, *, decimal_comma: bool = False) -> ParsedNumber | None:
    """A number as typed, or None. Finite values only."""
    cleaned = text.strip().translate(_SUPERSCRIPTS).replace(_MINUS, "-")
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1].rstrip()
    exponent = 0
    power = _POWER_OF_TEN.match(cleaned) or _E_NOTATION.match(cleaned)
    if power:
        cleaned, exponent = power["mantissa"].strip(), int(power["exponent"])
        if abs(exponent) > 400:
            return None
    mantissa = _mantissa(cleaned, decimal_comma=decimal_comma)
    if mantissa is None or not _PLAIN.fullmatch(mantissa):
        return None
    try:
        value = float(f"{mantissa}e{exponent}")
    except ValueError:  # pragma: no cover - _PLAIN admits only what float reads
        return None
    if not math.isfinite(value):
        return None
    return ParsedNumber(value, _significant_figures(mantissa))


def _mantissa(text: str, *, decimal_comma: bool) -> str | None:
    """The digits with one '.' as the decimal point, or None when the grouping is invalid."""
    sign = ""
    if text[:1] in "+-":
        sign, text = text[0], text[1:].lstrip()
    decimal, grouping = (",", ".") if decimal_comma else (".", ",")
    for separator in _GROUP_SEPARATORS:
        if separator in text:
            ungrouped = _ungroup(text, separator, decimal)
            if ungrouped is None:
                return None
            text = ungrouped
    if grouping in text and decimal in text:
        # Both marks: the grouping one must come first, in groups of three.
        if text.rindex(grouping) > text.index(decimal):
            return None
        whole, _, fraction = text.partition(decimal)
        ungrouped = _ungroup(whole, grouping, None)
        return None if ungrouped is None else f"{sign}{ungrouped}.{fraction}"
    if grouping in text:
        groups = text.split(grouping)
        if len(groups) == 2 and not decimal_comma and len(groups[1]) != 3 and groups[0]:
            # "3,14159" or "2,5": a comma that cannot be a thousands separator is a decimal one.
            return f"{sign}{groups[0]}.{groups[1]}"
        ungrouped = _ungroup(text, grouping, None)
        return None if ungrouped is None else f"{sign}{ungrouped}"
    return sign + text.replace(decimal, ".")


def _ungroup(text: str, separator: str, decimal: str | None) -> str | None:
    whole, point, fraction = text.partition(decimal) if decimal else (text, "", "")
    groups = whole.split(separator)
    valid = (
        1 <= len(groups[0]) <= 3
        and groups[0].isdigit()
        and all(len(group) == 3 and group.isdigit() for group in groups[1:])
    )
    return f"{''.join(groups)}{point}{fraction}" if valid else None


def _significant_figures(mantissa: str) -> int:
    digits = mantissa.lstrip("+-")
    if "." in digits:
        # Leading zeros never count; every digit after the first non-zero one does.
        return max(len(digits.replace(".", "").lstrip("0")), 1)
    stripped = digits.lstrip("0")
    return max(len(stripped.rstrip("0")), 1)


def round_significant(value: float, figures: int) -> float:
    if value == 0:
        return 0.0
    return round(value, figures - 1 - math.floor(math.log10(abs(value))))


def within(value: float, expected: float, *, tolerance: float, relative_tolerance: float) -> bool:
    """Absolute tolerance, relative tolerance, and a relative hair for float error.

    The hair (1e-9 of the magnitude) is relative, so an electron's charge is never matched by 0.
    """
    return math.isclose(
        value, expected, rel_tol=max(relative_tolerance, 1e-9), abs_tol=max(tolerance, 0.0)
    )
