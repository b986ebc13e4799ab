#!/usr/bin/env bash
# Ensures the Kafka mock test dependencies exist and builds the mock-cluster
# launcher. Idempotent and safe to run concurrently (serialised with flock).
#
# stdout: exactly one line, the absolute path of the launcher binary.
# Everything else (apt output, compiler diagnostics) goes to stderr.
#
# Env: KISFLOW_CACHE_DIR  overrides <repo>/node_modules/.cache/kisflow
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
src="$here/launcher.c"
cache="${KISFLOW_CACHE_DIR:-$root/node_modules/.cache/kisflow}"
bin="$cache/kafka-mock-launcher"
header=/usr/include/librdkafka/rdkafka_mock.h
packages=(librdkafka-dev kcat gcc libc6-dev)

mkdir -p "$cache"
exec 9>"$cache/.kafka-mock.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

compiler=""
find_compiler() {
  compiler=""
  for c in cc gcc; do
    if command -v "$c" >/dev/null 2>&1; then compiler="$c"; return 0; fi
  done
  return 1
}

missing=()
find_compiler || missing+=("C compiler (cc/gcc)")
command -v kcat >/dev/null 2>&1 || missing+=("kcat")
[ -f "$header" ] || missing+=("$header")
[ -f /usr/include/stdio.h ] || missing+=("libc headers")

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    {
      echo "kafka-mock: missing: ${missing[*]}"
      echo "kafka-mock: install with: sudo apt-get install -y ${packages[*]}"
    } >&2
    exit 1
  fi
  echo "kafka-mock: installing ${packages[*]} (missing: ${missing[*]})" >&2
  export DEBIAN_FRONTEND=noninteractive
  # One apt at a time with the MariaDB harness (test files run in parallel); apt waits for other dpkg users.
  exec 8>"$cache/.apt.lock"
  if command -v flock >/dev/null 2>&1; then flock 8; fi
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${packages[@]}" >&2
  exec 8>&-
  find_compiler || { echo "kafka-mock: no C compiler after install" >&2; exit 1; }
  [ -f "$header" ] || { echo "kafka-mock: $header still missing after install" >&2; exit 1; }
  command -v kcat >/dev/null 2>&1 || { echo "kafka-mock: kcat still missing after install" >&2; exit 1; }
fi

if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
  libs="-lrdkafka"
  if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists rdkafka 2>/dev/null; then
    libs="$(pkg-config --libs rdkafka)"
  fi
  tmp="$bin.tmp.$$"
  # shellcheck disable=SC2086
  if ! "$compiler" -O2 -Wall -o "$tmp" "$src" $libs >&2; then
    rm -f "$tmp"
    echo "kafka-mock: failed to compile $src" >&2
    exit 1
  fi
  mv -f "$tmp" "$bin"
fi

echo "$bin"
