# Sourced by the benchmarks that run goalsbot against throwaway wikis
# (benches/scale/run.sh, benches/live/run.sh): the page counts from the
# command line, the checks, the binary, the work and results directories,
# the wiki's server and its clean-up. Before sourcing, set `here` (the
# benchmark's directory) and `name` (scale, live). Sets root, wikish,
# fixtures, MW, prefix, sizes, bin, work, out and server_pid; defines die,
# stop_server, cleanup and free_port.

root=$(cd "$here/../.." && pwd)
wikish="$root/tests/wiki/wiki.sh"
fixtures="$root/tests/fixtures/pages"
MW=/usr/share/mediawiki
prefix="Wikimedia Technology/Goals"

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(40 200 1000)
for n in "${sizes[@]}"; do
  case $n in ''|*[!0-9]*|0) echo "run.sh: not a page count: $n" >&2; exit 2 ;; esac
done

die() { echo "run.sh: $*" >&2; exit 1; }
[ -f "$MW/maintenance/run.php" ] || die "no MediaWiki in $MW (bash tests/wiki/install-mediawiki.sh)"
command -v php >/dev/null || die "php is missing"
command -v curl >/dev/null || die "curl is missing"

bin=${GOALSBOT_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/goalsbot}
if [ ! -x "$bin" ]; then
  echo "run.sh: building $bin" >&2
  (cd "$root" && cargo build --release --bin goalsbot) || die "cargo build failed"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/goalsbot-$name.XXXXXX")
out=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/goalsbot-$name-results.XXXXXX")}
mkdir -p "$out"
server_pid=

stop_server() {
  if [ -n "$server_pid" ]; then
    # wiki.sh serve execs `unshare --pid --fork --kill-child`, which ignores
    # SIGTERM while it waits for PHP: SIGKILL it, and --kill-child SIGKILLs
    # PHP, the namespace's PID 1, whose death ends every worker.
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
  fi
}
cleanup() {
  stop_server
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "run.sh: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# serve_and_configure DIR N: starts the wiki in DIR/wiki (its wiki.env
# sourced: the URL and the passwords), waits until it answers, and writes
# DIR/goalsbot.toml for it (every fiscal year of DIR/pages, no pause between
# saves, the store in DIR/goalsbot.sqlite). Sets `log` (the server's log).
serve_and_configure() {
  local dir=$1 n=$2 i fys
  # shellcheck disable=SC1091
  . "$dir/wiki/wiki.env"
  log="$dir/server.log"
  bash "$wikish" serve "$dir/wiki" 2>"$log" >/dev/null &
  server_pid=$!
  for i in $(seq 1 100); do
    curl -fsS -o /dev/null "${GOALSBOT_TEST_WIKI_URL}api.php?action=query&meta=siteinfo&format=json" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || die "the wiki's server exited (log: $log)"
    sleep 0.2
  done
  fys=$(sed 's/.*/"&"/' "$dir/pages/fiscal_years" | paste -sd, -)
  cat >"$dir/goalsbot.toml" <<TOML
# goalsbot config for the $name benchmark's throwaway wiki (N=$n)
[wiki]
url = "$GOALSBOT_TEST_WIKI_URL"
user_agent_contact = "goalsbot $name benchmark"
edit_interval_secs = 0

[pages]
prefix = "$prefix"
fiscal_years = [$fys]

[store]
url = "sqlite://$dir/goalsbot.sqlite"
TOML
}
