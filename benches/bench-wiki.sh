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
