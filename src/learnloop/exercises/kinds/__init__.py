"""Exercise kinds that live in one module each: model, parsing and validation, checking, API
fields and card template together. A new kind is one module here and one line in REGISTRY.

The parser (`learnloop.content.parser`), the checker (`learnloop.exercises.checking`), the API
schemas, `learnloop show --json` and the lesson page ask the registry; none of them names a
registered kind. See docs/architecture.md.
"""

from __future__ import annotations

from learnloop.content.model import RegisteredExercise
from learnloop.exercises.kinds import matching, ordering, select
from learnloop.exercises.kinds.base import KindSpec

REGISTRY: dict[str, KindSpec] = {
    spec.name: spec for spec in (matching.SPEC, ordering.SPEC, select.SPEC)
}

__all__ = ["REGISTRY", "KindSpec", "RegisteredExercise"]
