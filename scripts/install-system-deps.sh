#!/usr/bin/env bash
# Installs the Debian packages the test suite needs. Idempotent: does nothing
# when they are all present. Called by `nox -s tests` (as root on CI).
#
#   bash scripts/install-system-deps.sh [PACKAGE...]
#
# Required: chromium (the browser end-to-end tests, tests/e2e/test_browser.py, drive
# Debian's /usr/bin/chromium through playwright; they fail, not skip, without it),
# coturn (tests/e2e/test_turn.py runs its `turnserver` on loopback as the TURN relay),
# redis-server (tests/backplane: the Redis backplane against a real server, and
# several real `serve` instances on one), nodejs and npm (tests/js: `npm ci` from the
# committed lock file, `tsc --strict` on the TypeScript example and the JavaScript
# client's own tests under `node --test`).
# Optional: fonts-liberation (nicer page rendering), installed only alongside a
# required package, never on its own. Extra PACKAGE arguments are required too.
set -euo pipefail

# "package:command" -- a package counts as present when its command is on PATH, or,
# with no command given, when dpkg reports it installed.
required=("chromium:chromium" "coturn:turnserver" "redis-server:redis-server" "nodejs:node" "npm:npm")
optional=("fonts-liberation:")
for pkg in "$@"; do
  required+=("${pkg}:")
done

present() {
  local pkg="${1%%:*}" cmd="${1#*:}"
  if [ -n "$cmd" ]; then
    command -v "$cmd" >/dev/null 2>&1
  else
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"
  fi
}

need=()
for spec in "${required[@]}"; do
  present "$spec" || need+=("${spec%%:*}")
done
if [ "${#need[@]}" -eq 0 ]; then
  echo "install-system-deps: everything present"
  exit 0
fi

want=()
for spec in "${optional[@]}"; do
  present "$spec" || want+=("${spec%%:*}")
done

if [ "${EUID:-$(id -u)}" -ne 0 ]; then
  echo "install-system-deps: missing ${need[*]}; run this script as root (sudo) to install" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: missing ${need[*]} and no apt-get: install them yourself" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: installing ${need[*]}"
apt-get update -qq
apt-get install -y -qq "${need[@]}"
if [ "${#want[@]}" -gt 0 ]; then
  apt-get install -y -qq "${want[@]}" ||
    echo "install-system-deps: optional ${want[*]} not installed (continuing)" >&2
fi

for spec in "${required[@]}"; do
  if ! present "$spec"; then
    echo "install-system-deps: ${spec%%:*} still missing after apt-get install" >&2
    exit 1
  fi
done
