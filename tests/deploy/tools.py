"""Helpers for the deploy tests: where the tools are, and rendering the Helm chart.

The tools come from scripts/install-deploy-tools.sh (helm, checkov, apt packages) and
requirements-dev.lock (kubernetes-validate, hadolint, syft). In CI (CI=true) a missing tool fails
the test; elsewhere it skips with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "learnloop"
PRODUCTION_VALUES = REPO / "deploy" / "helm" / "values-production.yaml"
TOOLS = REPO / ".cache" / "tools"
NAMESPACE = "learnloop"
RELEASE = "learnloop"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} (CI must have it: scripts/install-deploy-tools.sh)")
    pytest.skip(f"{reason}; run scripts/install-deploy-tools.sh")


def find_tool(name: str) -> Path:
    candidates = [
        TOOLS / "bin" / name,
        TOOLS / "checkov-venv" / "bin" / name,
        Path(sys.executable).parent / name,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    missing(f"{name} is not installed")
    raise AssertionError("unreachable")


def run(
    args: list[str | Path], *, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, check=False, **kwargs
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )
    return result


def helm_template(*extra: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(
        [find_tool("helm"), "template", RELEASE, CHART, "--namespace", NAMESPACE, *extra],
        check=check,
    )


def load_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]
