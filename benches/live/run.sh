#!/usr/bin/env bash
# Live benchmark of `goalsbot watch` against a throwaway MediaWiki 1.43 (issue #30).
#
#   bash benches/live/run.sh [N ...]         (default: 40 200 1000)
#
# For each N: a fresh wiki (tests/wiki/wiki.sh) with N synthetic quarter
# pages (benches/scale/gen.py), a fresh SQLite store, a config with 5 s polls
# and no pause between saves, a first `goalsbot sync` that writes every page
# (not timed), then benches/live/drive.py starts `goalsbot watch` and measures:
#
#   requests per idle poll   the wiki's own request log over 6 idle polls
#   latency p50/p95/max      30 changes at random moments (20 staff edits
#                            through the API, 10 tracker `set`s), each from
#                            its save to the moment every quarter page of its
#                            year shows it and the store holds it
#   lost, kept, runs         changes never seen (180 s), changes still
#                            everywhere at the end, the watcher's runs
#
# At N >= 1000 only the idle polls are measured (the latency runs would take
# the first sync of every page first; the idle cost is what grows with N).
#
# Environment:
#   GOALSBOT_BIN   the binary (default: target/release/goalsbot, built when missing)
#   BENCH_OUT      directory for results (default: a new /tmp/goalsbot-live-results.XXXXXX)
#   BENCH_KEEP=1   keep the temp wikis
#
# Needs MediaWiki in /usr/share/mediawiki (tests/wiki/install-mediawiki.sh),
# php and python3. Passwords come only from each temp wiki's wiki.env.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=live
# shellcheck source=../bench-wiki.sh
. "$here/../bench-wiki.sh"

bench_one() {
  local n=$1 dir="$work/n$n" port
  port=$(free_port)
  echo "=== N=$n: wiki in $dir on port $port ($(date -u +%H:%M:%S))" >&2
  bash "$wikish" create "$dir/wiki" "$port" >/dev/null || die "wiki.sh create failed"
  python3 "$root/benches/scale/gen.py" "$fixtures" "$dir/pages" "$n" >&2 || die "gen.py failed"
  bash "$wikish" load "$dir/wiki" "$fixtures/Template%3APhabricator.wikitext" >/dev/null \
    || die "loading Template:Phabricator failed"
  (cd "$dir/pages" && MW_CONFIG_FILE="$dir/wiki/LocalSettings.php" \
    php "$MW/maintenance/run.php" importTextFiles --user Admin --bot \
      --summary "goalsbot live benchmark page" --prefix "$prefix/" ./*.wikitext) \
    >"$dir/import.log" 2>&1 || { tail -20 "$dir/import.log" >&2; die "importTextFiles failed"; }
  printf 'run' | bash "$wikish" edit "$dir/wiki" Admin "User:GoalsBot/Shutoff" || die "shutoff page failed"

  serve_and_configure "$dir" "$n"
  cat >>"$dir/goalsbot.toml" <<TOML

[commands]
poll_interval_secs = 5
TOML
  export GOALSBOT_USERNAME GOALSBOT_PASSWORD
  local t0 t1
  t0=$(date +%s.%N)
  env -u RUST_LOG GOALSBOT_CONFIG="$dir/goalsbot.toml" "$bin" sync >"$dir/first-sync.out" 2>"$dir/first-sync.err" \
    || [ $? = 3 ] || { tail -5 "$dir/first-sync.err" >&2; die "first sync failed"; }
  t1=$(date +%s.%N)
  echo "N=$n: first sync in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s" >&2
  local only=()
  [ "$n" -ge 1000 ] && only=(--idle-only)
  python3 "$here/drive.py" --bin "$bin" --config "$dir/goalsbot.toml" \
    --store "$dir/goalsbot.sqlite" --api "$GOALSBOT_TEST_WIKI_URL" \
    --admin-password "$GOALSBOT_TEST_ADMIN_PASSWORD" --server-log "$log" \
    --out "$out/$n.json" --prefix "$prefix" "${only[@]}" >"$out/$n.line" \
    || die "drive.py failed at N=$n"
  printf '%s\t%s\n' "$n" "$(cat "$out/$n.line")" | tee -a "$out/results.tsv" >&2
  stop_server
}

for n in "${sizes[@]}"; do
  bench_one "$n"
done
echo "run.sh: results in $out/results.tsv" >&2
