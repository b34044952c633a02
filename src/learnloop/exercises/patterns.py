"""Author regexes: refused by `check` when they can backtrack exponentially, and bounded at
run time (a length cap on the answer and a time limit on the match) all the same.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

import regex

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 200  # a regex blank never needs a longer answer
MATCH_TIMEOUT_SECONDS = 0.05

try:  # Python 3.11 keeps the regex parser here; it is not public API, only used by `check`.
    import re._constants as _sre_constants  # type: ignore[import-not-found, unused-ignore]
    import re._parser as _sre_parse  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - older layouts
    import sre_constants as _sre_constants  # type: ignore[no-redef, unused-ignore]
    import sre_parse as _sre_parse  # type: ignore[no-redef, unused-ignore]

_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT, _sre_constants.POSSESSIVE_REPEAT}
_MAXREPEAT = _sre_constants.MAXREPEAT


def pattern_problem(pattern: str) -> str | None:
    """Why a pattern is refused (invalid, or prone to catastrophic backtracking), or None."""
    try:
        re.compile(pattern)
        parsed = _sre_parse.parse(pattern)
    except re.error as error:
        return f"invalid regex '{pattern}': {error}"
    problem = _risky(list(parsed), inside_repeat=False)
    if problem:
        return (
            f"regex '{pattern}' has {problem}, which can take exponential time on some "
            "answers; rewrite it without the nesting (for example 'a+b' instead of '(a+)+b')"
        )
    return None


def _risky(items: list[tuple[Any, Any]], *, inside_repeat: bool) -> str | None:
    for op, arg in items:
        if op in _REPEATS:
            low, high, body = arg
            # A fixed count (\d{3}) makes no choice to backtrack over.
            repeats = high != low and (high == _MAXREPEAT or high > 1)
            if repeats and inside_repeat:
                return "a quantifier nested inside another quantifier"
            if repeats and _overlapping_branches(list(body)):
                return "a repeated alternation whose branches overlap"
            found = _risky(list(body), inside_repeat=inside_repeat or repeats)
            if found:
                return found
        elif op is _sre_constants.SUBPATTERN:
            found = _risky(list(arg[-1]), inside_repeat=inside_repeat)
            if found:
                return found
        elif op is _sre_constants.BRANCH:
            for branch in arg[1]:
                found = _risky(list(branch), inside_repeat=inside_repeat)
                if found:
                    return found
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            found = _risky(list(arg[1]), inside_repeat=inside_repeat)
            if found:
                return found
    return None


def _overlapping_branches(items: list[tuple[Any, Any]]) -> bool:
    """(a|a)*, (a|ab)*: two branches that can start with the same text."""
    for op, arg in items:
        if op is _sre_constants.SUBPATTERN:
            return _overlapping_branches(list(arg[-1]))
        if op is _sre_constants.BRANCH:
            firsts = [_first(list(branch)) for branch in arg[1]]
            for index, first in enumerate(firsts):
                for other in firsts[index + 1 :]:
                    if first is None or other is None or first & other:
                        return True
        return False
    return False


def _first(items: list[tuple[Any, Any]]) -> set[int] | None:
    """The literal code points a branch can start with; None when it is anything broader."""
    if not items:
        return None
    op, arg = items[0]
    if op is _sre_constants.LITERAL:
        return {arg, ord(chr(arg).lower()), ord(chr(arg).upper())}
    if op is _sre_constants.SUBPATTERN:
        return _first(list(arg[-1]))
    return None


@lru_cache(maxsize=1024)
def _compiled(pattern: str, case_sensitive: bool) -> Any:
    return regex.compile(pattern, regex.V0 | (0 if case_sensitive else regex.IGNORECASE))


def full_match(pattern: str, text: str, *, case_sensitive: bool) -> bool:
    """re.fullmatch semantics, with a length cap and a time limit: a runaway match is a miss."""
    if len(text) > MAX_ANSWER_CHARS:
        return False
    try:
        return (
            _compiled(pattern, case_sensitive).fullmatch(text, timeout=MATCH_TIMEOUT_SECONDS)
            is not None
        )
    except TimeoutError:
        log.warning("regex match timed out", extra={"pattern": pattern[:100]})
        return False
