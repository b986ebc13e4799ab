#!/usr/bin/env bash
# Ensures the MariaDB server binaries used by the private test instance exist.
# Idempotent; installs Debian's mariadb-server when running as root, otherwise
# fails with a message naming what to install. Never starts or touches any
# MariaDB service: the test harness runs its own mariadbd.
#
# stdout: exactly two lines, the server binary and the install-db script paths.
# Everything else (apt output, diagnostics) goes to stderr.
set -euo pipefail

find_bins() {
  server=""
  installer=""
  for c in mariadbd mysqld; do
    for p in "$(command -v "$c" 2>/dev/null || true)" "/usr/sbin/$c" "/usr/local/sbin/$c"; do
      if [ -n "$p" ] && [ -x "$p" ]; then server="$p"; break 2; fi
    done
  done
  for c in mariadb-install-db mysql_install_db; do
    p="$(command -v "$c" 2>/dev/null || true)"
    if [ -n "$p" ] && [ -x "$p" ]; then installer="$p"; break; fi
  done
  [ -n "$server" ] && [ -n "$installer" ]
}

if ! find_bins; then
  if [ "$(id -u)" -ne 0 ]; then
    {
      echo "mariadb: missing the server binary (mariadbd/mysqld) or mariadb-install-db"
      echo "mariadb: install with: sudo apt-get install -y --no-install-recommends mariadb-server"
    } >&2
    exit 1
  fi
  # Test files run in parallel and the Kafka mock's script installs packages too: one apt at a time
  # (a shared lock, then look again), and apt itself waits for a dpkg lock held by anything else.
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
  cache="${KISFLOW_CACHE_DIR:-$root/node_modules/.cache/kisflow}"
  mkdir -p "$cache"
  exec 8>"$cache/.apt.lock"
  if command -v flock >/dev/null 2>&1; then flock 8; fi
  if ! find_bins; then
    echo "mariadb: installing mariadb-server" >&2
    # The package's postinst may try to start the system service; that one is
    # not ours and is left as the package sets it up.
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends mariadb-server >&2
    find_bins || { echo "mariadb: server binaries still missing after install" >&2; exit 1; }
  fi
  exec 8>&-
fi

echo "$server"
echo "$installer"
