#!/usr/bin/env bash
# The web view's latency benchmark (benches/serve.rs) on SQLite and on a
# throwaway MariaDB (Debian's, as the tests use: tests/db/mariadb.sh),
# at 40 and 1,000 quarter pages' worth of records by default.
#
#   bash benches/web/run.sh              # GOALSBOT_BENCH_PAGES=40,1000
#   GOALSBOT_BENCH_PAGES=40 bash benches/web/run.sh
#
# Prints one Markdown table row per store, size and page type (p50 and p99
# in milliseconds). The MariaDB server lives in a mktemp directory and is
# stopped and deleted on exit; its passwords stay in that directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export PATH="$PATH:/usr/sbin"
command -v mariadbd >/dev/null || bash tests/db/install-mariadb.sh
dir=$(mktemp -d "${TMPDIR:-/tmp}/goalsbot-bench-db.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bash tests/db/mariadb.sh create "$dir" "$port" >/dev/null
bash tests/db/mariadb.sh serve "$dir" 2>"$dir/server.log" &
server=$!
cleanup() {
  bash tests/db/mariadb.sh stop "$dir" >/dev/null 2>&1 || kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
# shellcheck disable=SC1091
. "$dir/db.env"
for _ in $(seq 1 120); do
  bash tests/db/mariadb.sh sql "$dir" -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.5
done
GOALSBOT_BENCH_MYSQL_URL="$GOALSBOT_TEST_MYSQL_URL" cargo bench --locked --bench serve
