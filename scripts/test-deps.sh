#!/usr/bin/env bash
# Installs and starts what the test suite needs beyond the Python packages.
# In CI (CI=true, as root) every tool is installed or this script fails: no test may be
# skipped for lack of a service. On a laptop without root it installs what it can.
set -euo pipefail
cd "$(dirname "$0")/.."

in_ci=${CI:-false}
is_root=false
[ "$(id -u)" = 0 ] && is_root=true

apt_packages=()
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)

if [ ${#apt_packages[@]} -gt 0 ]; then
  if $is_root; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
  elif [ "$in_ci" = true ]; then
    echo "test-deps: CI needs ${apt_packages[*]} but this is not root" >&2
    exit 1
  else
    echo "test-deps: not root, so ${apt_packages[*]} stay missing; their tests will skip" >&2
  fi
fi

# PostgreSQL: this machine kind starts it before the session; start it again if it stopped.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if $is_root && command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
fi
if [ "$in_ci" = true ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "test-deps: PostgreSQL is not reachable on 127.0.0.1:5432 and CI requires it" >&2
  exit 1
fi

# Feature-specific tools, each with its own idempotent installer.
for installer in scripts/install-axe.sh scripts/install-deploy-tools.sh; do
  if [ -x "$installer" ]; then
    "$installer"
  fi
done
