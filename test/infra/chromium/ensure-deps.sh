#!/usr/bin/env bash
# Ensures Debian's Chromium is installed for the console's browser tests (never a downloaded browser).
# Idempotent and safe to run concurrently (serialised with flock, and with the other harnesses' apt).
#
# stdout: exactly one line, the absolute path of the browser binary.
# Everything else (apt output) goes to stderr.
#
# Env: KISFLOW_CACHE_DIR  overrides <repo>/node_modules/.cache/kisflow
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cache="${KISFLOW_CACHE_DIR:-$root/node_modules/.cache/kisflow}"
bin=/usr/bin/chromium

mkdir -p "$cache"
exec 9>"$cache/.chromium.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

if [ ! -x "$bin" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    {
      echo "chromium: $bin is missing (the console's browser tests drive Debian's Chromium)"
      echo "chromium: install with: sudo apt-get install -y chromium"
    } >&2
    exit 1
  fi
  echo "chromium: installing chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  # One apt at a time with the Kafka mock and MariaDB harnesses (test files run in parallel).
  exec 8>"$cache/.apt.lock"
  if command -v flock >/dev/null 2>&1; then flock 8; fi
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >&2
  exec 8>&-
  [ -x "$bin" ] || { echo "chromium: $bin still missing after install" >&2; exit 1; }
fi

echo "$bin"
