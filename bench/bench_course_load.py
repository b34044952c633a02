"""Time a cold parse of a generated 1,000-lesson course (target: under 2 s).

Run: .venv/bin/python bench/bench_course_load.py [--lessons 1000] [--runs 5]

Each run parses from the files on disk with nothing cached, the way the server starts. The
lessons are sized like real ones: four sections of a few paragraphs, a code block and a table,
and four exercises, about 900 words and 6 KB each.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from learnloop.content.parser import parse_course

PARAGRAPH = (
    "A container packages a process with the files it needs, so it starts the same way on a "
    "laptop and in the cluster. The kernel is shared with the host, which keeps start-up fast "
    "and memory low, and **immutability** means a change ships as a new image with a new "
    "digest. Read more in the [runtime notes](https://example.org/runtime) and keep "
    "`runAsNonRoot: true` in every manifest."
)

EXERCISES = [
    """```exercise
kind: choice
prompt: Which base image leaves the smallest attack surface?
explanation: Fewer packages mean fewer vulnerabilities to patch.
options:
  - text: A distroless image
    correct: true
    feedback: Yes, it holds little beyond the runtime.
  - text: A full Ubuntu image
    feedback: It carries a shell and a package manager.
  - text: Any image, size does not matter
    feedback: Every extra package can carry a CVE.
```""",
    """```exercise
kind: true-false
prompt: Pods on a node that crashes are lost until someone recreates them by hand.
answer: false
explanation: The ReplicaSet controller schedules replacements on healthy nodes.
```""",
    """```exercise
kind: fill-blank
prompt: Following one request across many services is called ___.
explanation: Traces connect the spans of a request with a shared id.
blanks:
  - answers: [distributed tracing, tracing]
    allow_typos: true
```""",
    """```exercise
kind: written
prompt: Explain why immutable images make deployments predictable.
model_answer: The same bytes run in every environment, so what was tested is what runs.
rubric:
  - point: The same image runs in every environment.
    weight: 2
  - A change means a new image, not an edit in place.
  - Rollback is redeploying the previous digest.
```""",
    """```exercise
kind: go-deeper
questions:
  - question: What is in a distroless image?
    answer: The runtime and its libraries, without a shell or package manager.
  - question: How does layer caching speed up builds?
    answer: Unchanged layers are reused instead of rebuilt.
```""",
]

TABLE = "| object | job |\n|---|---|\n| Pod | runs containers |\n| Service | stable address |\n"
CODE = "```yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n```\n"


def lesson_text(number: int) -> str:
    exercise_count = 3 + number % 3  # 3, 4 or 5 per lesson
    exercises = [EXERCISES[(number + i) % len(EXERCISES)] for i in range(exercise_count)]
    parts = [
        f"---\nnumber: {number}\ntitle: Generated lesson {number}\nxp: 100\n"
        f"summary: Lesson {number} of the benchmark course.\n---\n",
        f"{PARAGRAPH}\n\n{PARAGRAPH}\n",
    ]
    for section in range(4):
        parts.append(f"## Section {section + 1} of lesson {number}\n")
        parts.append(f"{PARAGRAPH}\n\n{PARAGRAPH}\n\n- one point\n- another *point*\n")
        if section == 1:
            parts.append(CODE)
        if section == 2:
            parts.append(TABLE)
        for exercise in exercises[section::4]:
            parts.append(f"\n{exercise}\n")
    return "\n".join(parts)


def write_course(root: Path, lessons: int) -> int:
    names = [f"{number:04d}-lesson.md" for number in range(1, lessons + 1)]
    size = 0
    for number, name in enumerate(names, start=1):
        text = lesson_text(number)
        size += len(text.encode())
        (root / name).write_text(text, encoding="utf-8")
    modules = "\n".join(
        f"  - title: Module {start // 100 + 1}\n"
        f"    lessons: [{', '.join(names[start : start + 100])}]"
        for start in range(0, lessons, 100)
    )
    (root / "course.yaml").write_text(
        f"slug: bench\ntitle: Benchmark course\ndescription: Generated.\nmodules:\n{modules}\n",
        encoding="utf-8",
    )
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        size = write_course(root, args.lessons)
        timings: list[float] = []
        cpu_timings: list[float] = []
        exercises = 0
        for _ in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            course, problems = parse_course(root)
            timings.append(time.perf_counter() - started)
            cpu_timings.append(time.process_time() - cpu_started)
            assert not problems, problems[:5]
            assert course is not None
            assert len(course.lessons) == args.lessons
            exercises = sum(len(lesson.exercises) for lesson in course.lessons)
    # On a shared machine wall time includes waiting for a core; CPU time is the parser's own.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{args.lessons} lessons, {exercises} exercises, {size / 1e6:.1f} MB: "
        f"median {statistics.median(timings):.2f} s wall, "
        f"{statistics.median(cpu_timings):.2f} s CPU over {args.runs} cold parses "
        f"(wall min {min(timings):.2f} s, max {max(timings):.2f} s); "
        f"{os.cpu_count()} cores, load average {load:.1f}, "
        f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


if __name__ == "__main__":
    main()
