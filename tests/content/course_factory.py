"""Build small course folders on disk for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

COURSE_YAML = """\
slug: tiny
title: Tiny Course
description: Two lessons, one module.
modules:
  - title: Only module
    lessons:
      - 01-one.md
      - 02-two.md
"""

LESSON_ONE = """\
---
number: 1
title: One
xp: 10
---
Intro words.

## First part

```exercise
kind: true-false
prompt: The sky is green.
answer: false
```
"""

LESSON_TWO = """\
---
number: 2
title: Two
xp: 20
---
## Only part

```exercise
kind: choice
prompt: Pick a.
options:
  - text: a
    correct: true
  - text: b
```
"""


def write_course(root: Path, files: dict[str, str] | None = None) -> Path:
    """A valid two-lesson course at ``root``; ``files`` overrides or adds files by name."""
    contents = {"course.yaml": COURSE_YAML, "01-one.md": LESSON_ONE, "02-two.md": LESSON_TWO}
    contents.update(files or {})
    root.mkdir(parents=True, exist_ok=True)
    for name, text in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def lesson(front: str, body: str) -> str:
    """A lesson file from dedented front matter and body."""
    return f"---\n{textwrap.dedent(front).strip()}\n---\n{textwrap.dedent(body)}"
