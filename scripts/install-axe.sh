#!/usr/bin/env bash
# Fetch axe-core from the npm registry once, into .cache/axe-core/, for the browser tests.
# The tests inject axe.min.js into the page; nothing is fetched while the tests run.
set -euo pipefail

AXE_VERSION="${AXE_VERSION:-4.14.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.cache/axe-core"

if [[ -f "$DEST/axe.min.js" && "$(cat "$DEST/VERSION" 2>/dev/null)" == "$AXE_VERSION" ]]; then
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
tar -xzf "$work"/axe-core-*.tgz -C "$work"
mkdir -p "$DEST"
cp "$work/package/axe.min.js" "$work/package/LICENSE" "$DEST/"
echo "$AXE_VERSION" > "$DEST/VERSION"
echo "axe-core $AXE_VERSION installed in $DEST"
