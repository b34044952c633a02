"""`make run` installs learnloop without warnings from our own packaging (issue 15, item 9)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO


def test_project_metadata_builds_without_warnings(tmp_path: Path) -> None:
    # What `pip install -e .` asks setuptools for first; its deprecation warnings print here.
    built = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "-c",
            "import sys; from setuptools import build_meta; "
            "print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    output = built.stdout + built.stderr
    assert "Warning" not in output, output
    assert "deprecated" not in output.lower(), output


def test_license_is_an_spdx_expression() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
