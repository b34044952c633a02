"""The web image ships no numpy and no model weights: the web process must start without them,
whichever grading engine is configured (the worker grades)."""

from __future__ import annotations

import subprocess
import sys


def test_the_web_app_imports_without_numpy() -> None:
    code = (
        "import sys\n"
        "sys.modules['numpy'] = None  # any import of numpy now fails\n"
        "import learnloop.web.app\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_grading_never_loads_the_training_stack() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from learnloop.content.loader import load_course\n"
        "from learnloop.grading.grader import grade\n"
        "lesson = load_course(Path('courses/cloud-native')).lesson(9)\n"
        "grade(lesson.written[0], 'Immutable images are never changed once built.', "
        "lesson=lesson)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'sklearn', 'scipy', 'transformers', 'learnloop.evaluation'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
