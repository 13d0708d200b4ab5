#!/usr/bin/env bash
# Scale benchmark of goalsbot against a throwaway MediaWiki 1.43 (issue #16).
#
#   bash benches/scale/run.sh [N ...]          (default: 40 200 1000)
#
# For each N: a fresh wiki (tests/wiki/wiki.sh) with N synthetic quarter
# pages (benches/scale/gen.py: ceil(N/4) fiscal years x 4 quarters made from
# the FY2020-21 fixture pages), a fresh SQLite store, edit_interval_secs = 0,
# then it times with the release binary:
#
#   cold-pull      goalsbot pull                     (empty store; the wiki is set up as
#                                                    Wikimedia's are, WarmParsoidParserCache:
#                                                    it rendered each page's Parsoid HTML
#                                                    after its edit, runJobs.php, not timed)
#   render-floor   curl of every page's Parsoid HTML, 4 at a time, with the
#                  wiki's Parsoid cache emptied: the wiki's own rendering
#                  (then the cache is emptied again)
#   cold-pull-uncached goalsbot pull                 (another empty store, the wiki's Parsoid
#                                                    cache empty: every page rendered on demand)
#   first-sync     goalsbot sync --json              (writes every status table and overview)
#   noop-sync      goalsbot sync --json              (nothing changed: the first no-op after
#                                                    the first sync's edits)
#   noop-sync-2    goalsbot sync --json              a second no-op in a row
#   staff-edit     goalsbot sync --json              after Admin changed one status cell of
#                                                    one quarter page (wiki.sh edit, not timed)
#   tracker-set    goalsbot set KR --quarter Q3 …    (store only)
#   tracker-sync   goalsbot sync --json              after that set
#   noop-after-edits goalsbot sync --json            the first no-op after those two changes
#   noop-plan-v    goalsbot -vv sync --json          a no-op with the last no-op's digest dropped
#                                                    (its years' digests kept), log kept (N-noop-v.log)
#   noop-sync-v    goalsbot -vv sync --json          a no-op planning nothing, log kept (N-noop2-v.log)
#   noop-plan-all  goalsbot sync --json              a no-op planning every page: the no-op's
#                                                    and every year's digest dropped (as after a
#                                                    new build, templates or config)
#   peer-pull      benches/scale/peer.py             Pywikibot 11.9.0 + mwparserfromhell 0.7.2,
#   peer-pull-2                                      run twice (the second with Pywikibot's
#                                                    API cache warm, as on every later run)
#
# Each step: wall time (date +%s.%N around the command, process start and
# login included), the requests the wiki's PHP server logged during it (one
# "[NNN]: METHOD /path" line per request), and goalsbot's own counts from
# sync --json (api_requests after login, html_fetches, edits, pages_changed;
# pull's from its summary line), its exit code, and the 1-minute load average
# when it started (/proc/loadavg: anything else running on the machine shows).
#
# Environment:
#   GOALSBOT_BIN   the binary (default: $CARGO_TARGET_DIR or target/, release/goalsbot;
#                  built with cargo build --release when missing)
#   BENCH_OUT      directory for results.tsv and each step's output
#                  (default: a new /tmp/goalsbot-scale-results.XXXXXX)
#   BENCH_VENV     an existing virtualenv with pywikibot and mwparserfromhell
#                  (default: a throwaway one made in the temp dir)
#   BENCH_KEEP=1   keep the temp wikis (default: deleted on exit)
#
# Needs MediaWiki in /usr/share/mediawiki (tests/wiki/install-mediawiki.sh),
# php, python3 with venv, curl. Passwords come only from each temp wiki's
# wiki.env and go nowhere else.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=scale
# shellcheck source=../bench-wiki.sh
. "$here/../bench-wiki.sh"

# --- the peer's virtualenv, made once for all sizes ---
venv=${BENCH_VENV:-}
if [ -z "$venv" ]; then
  venv="$work/venv"
  echo "run.sh: making a virtualenv with pywikibot 11.9.0 and mwparserfromhell 0.7.2" >&2
  python3 -m venv "$venv" || die "python3 -m venv failed"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    pywikibot==11.9.0 mwparserfromhell==0.7.2 >&2 || die "pip install failed"
fi
"$venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("pywikibot") and u.find_spec("mwparserfromhell")))' \
  || die "no pywikibot or mwparserfromhell in $venv"


# Request lines PHP's built-in server logged so far: "[200]: GET /api.php?…"
# (the "Accepted" and "Closing" lines around each are not requests).
requests_so_far() {
  grep -cE '\[[0-9]{3}\]: [A-Z]+ /' "$log" 2>/dev/null || true
}

json_field() { # json_field FILE KEY: a top-level field of sync --json, or "-"
  python3 - "$1" "$2" <<'PY' 2>/dev/null || echo -
import json, sys
try:
    text = open(sys.argv[1], encoding="utf-8").read()
    # sync --json prints one JSON object; take the last one that parses.
    start = text.rfind("\n{")
    data = json.loads(text[start + 1:] if start >= 0 else text)
    v = data.get(sys.argv[2], "-")
    print(len(v) if isinstance(v, list) else v)
except Exception:
    # pull has no --json: its summary line says "…; N API requests, M HTML fetches"
    import re
    m = re.search(r"(\d+) API requests, (\d+) HTML fetches", text)
    key = {"api_requests": 1, "html_fetches": 2}.get(sys.argv[2])
    print(m.group(key) if m and key else "-")
PY
}

results="$out/results.tsv"
printf 'N\tstep\twall_s\twiki_requests\tapi_requests\thtml_fetches\tedits\tpages_changed\texit\tload1\n' >"$results"

# step N NAME CMD...: runs CMD with stdout to $out/N-NAME.out and stderr to
# $out/N-NAME.err, and appends one row to results.tsv.
step() {
  local n=$1 name=$2; shift 2
  local r0 r1 t0 t1 rc wall load o="$out/$n-$name"
  load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo -)
  r0=$(requests_so_far)
  t0=$(date +%s.%N)
  "$@" >"$o.out" 2>"$o.err"
  rc=$?
  t1=$(date +%s.%N)
  sleep 0.3 # PHP writes a request's log line when it answers; let the last one land
  r1=$(requests_so_far)
  wall=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$name" "$wall" "$((r1 - r0))" \
    "$(json_field "$o.out" api_requests)" "$(json_field "$o.out" html_fetches)" \
    "$(json_field "$o.out" edits)" "$(json_field "$o.out" pages_changed)" "$rc" "$load" | tee -a "$results" >&2
}

bench_one() {
  local n=$1 dir="$work/n$n" port
  port=$(free_port)
  echo "=== N=$n: wiki in $dir on port $port ($(date -u +%H:%M:%S))" >&2
  bash "$wikish" create "$dir/wiki" "$port" >/dev/null || die "wiki.sh create failed"
  # As on Wikimedia's wikis (operations/mediawiki-config, wmf-config/
  # InitialiseSettings.php, wgParsoidCacheConfig): "parsoid output should be
  # generated and cached after every edit". Here the jobs run when the
  # benchmark runs them (runJobs.php after loading the pages), not inside
  # the requests it times.
  cat >>"$dir/wiki/LocalSettings.php" <<'PHP'
$wgParsoidCacheConfig = [
	'StashType' => null,
	'StashDuration' => 24 * 60 * 60,
	'CacheThresholdTime' => 0.0,
	'WarmParsoidParserCache' => true,
];
$wgJobRunRate = 0;
PHP

  # Pages: generated, then saved in one PHP process by importTextFiles.php
  # (edit.php per page costs a PHP start each: minutes at N=1000).
  python3 "$here/gen.py" "$fixtures" "$dir/pages" "$n" >&2 || die "gen.py failed"
  local t0 t1
  t0=$(date +%s.%N)
  # The template first: saved after the pages, it would make the wiki throw
  # away every page's rendering (they use it).
  bash "$wikish" load "$dir/wiki" "$fixtures/Template%3APhabricator.wikitext" >/dev/null \
    || die "loading Template:Phabricator failed"
  (cd "$dir/pages" && MW_CONFIG_FILE="$dir/wiki/LocalSettings.php" \
    php "$MW/maintenance/run.php" importTextFiles --user Admin --bot \
      --summary "goalsbot scale benchmark page" --prefix "$prefix/" ./*.wikitext) \
    >"$dir/import.log" 2>&1 || { tail -20 "$dir/import.log" >&2; die "importTextFiles failed"; }
  printf 'run' | bash "$wikish" edit "$dir/wiki" Admin "User:GoalsBot/Shutoff" || die "shutoff page failed"
  t1=$(date +%s.%N)
  echo "N=$n: $(grep -c . <(ls "$dir/pages"/*.wikitext)) pages loaded in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s" >&2
  # The edits' jobs, Parsoid's cache warming among them (one PHP process).
  t0=$(date +%s.%N)
  MW_CONFIG_FILE="$dir/wiki/LocalSettings.php" php "$MW/maintenance/run.php" runJobs \
    >"$dir/jobs.log" 2>&1 || { tail -20 "$dir/jobs.log" >&2; die "runJobs failed"; }
  t1=$(date +%s.%N)
  echo "N=$n: the wiki ran $(grep -c 'parsoidCachePrewarm.*good' "$dir/jobs.log") Parsoid cache warming jobs in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s" >&2

  serve_and_configure "$dir" "$n"
  (cd "$dir/pages" && for f in ./*.wikitext; do f=${f#./}; echo "$prefix/${f%.wikitext}"; done) >"$dir/titles"

  # goalsbot's environment: this wiki's bot password, this config, nothing else.
  gb_with() {
    local cfg=$1; shift
    env -u RUST_LOG GOALSBOT_CONFIG="$cfg" \
      GOALSBOT_USERNAME="$GOALSBOT_USERNAME" GOALSBOT_PASSWORD="$GOALSBOT_PASSWORD" \
      "$bin" "$@"
  }
  gb() { gb_with "$dir/goalsbot.toml" "$@"; }
  # SQL on the wiki's object cache (Parsoid's parser cache is in it) and on
  # goalsbot's store, with PHP's PDO (no sqlite3 tool needed).
  pdo_exec() {
    php -r '$db = new PDO("sqlite:" . $argv[1]); $db->exec($argv[2]) !== false or exit(1);' "$1" "$2"
  }
  forget_parsoid_html() {
    pdo_exec "$dir/wiki/wikicache.sqlite" "DELETE FROM objectcache WHERE keyname LIKE '%parsoid-pcache%'" \
      || die "could not empty the wiki's Parsoid cache"
  }
  forget_sync_marker() {
    pdo_exec "$dir/goalsbot.sqlite" "DELETE FROM sync_marker" || die "could not drop the sync marker"
  }

  # A cold pull into an empty store, from the wiki as its edits left it.
  step "$n" cold-pull gb pull
  # The wiki's own rendering, the floor of any reader of Parsoid HTML: every
  # page's HTML fetched with curl, 4 at a time (as goalsbot's default read
  # pool), from a wiki whose Parsoid cache was emptied (output expired, or a
  # wiki that does not warm it). Then the cache is emptied again, so
  # goalsbot's pull into another empty store finds the wiki as cold.
  python3 - "$GOALSBOT_TEST_WIKI_URL" "$dir/titles" >"$dir/html-urls" <<'PY'
import sys, urllib.parse
for t in open(sys.argv[2], encoding="utf-8"):
    t = t.strip().replace(" ", "_")
    print(sys.argv[1] + "rest.php/v1/page/" + urllib.parse.quote(t, safe="") + "/html")
PY
  render_all() { xargs -P4 -n1 curl -fsS -o /dev/null <"$dir/html-urls"; }
  forget_parsoid_html
  step "$n" render-floor render_all
  forget_parsoid_html
  sed "s#sqlite://$dir/goalsbot.sqlite#sqlite://$dir/uncached.sqlite#" "$dir/goalsbot.toml" >"$dir/uncached.toml"
  step "$n" cold-pull-uncached gb_with "$dir/uncached.toml" pull
  step "$n" first-sync gb sync --json
  step "$n" noop-sync gb sync --json
  step "$n" noop-sync-2 gb sync --json

  # A staff edit: one status cell of the first year's Q2 page, as Admin.
  local title first_fy
  first_fy=$(head -1 "$dir/pages/fiscal_years")
  title="$prefix/$first_fy Q2"
  MW_CONFIG_FILE="$dir/wiki/LocalSettings.php" php "$MW/maintenance/run.php" getText "$title" \
    >"$dir/staff-before.wikitext" 2>/dev/null || die "getText $title failed"
  python3 - "$dir/staff-before.wikitext" "$dir/staff-after.wikitext" <<'PY' || die "no status cell to edit"
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
new, n = re.subn(r'^\| data-goalsbot-quarter="Q2".*$',
                 '| data-goalsbot-quarter="Q2" | At risk: staff edit by the scale benchmark',
                 text, count=1, flags=re.M)
if n != 1:
    sys.exit("run.sh: no Q2 status cell on the page")
open(sys.argv[2], "w", encoding="utf-8").write(new)
PY
  bash "$wikish" edit "$dir/wiki" Admin "$title" <"$dir/staff-after.wikitext" || die "staff edit failed"
  step "$n" staff-edit gb sync --json

  # A tracker edit: a KR of the last year, Q3 status.
  gb export --format json >"$dir/export.json" 2>/dev/null || die "export failed"
  local kr
  kr=$(python3 - "$dir/export.json" <<'PY'
import json, sys
ids = []
def walk(v):
    if isinstance(v, dict):
        i = v.get("id")
        if isinstance(i, str) and re.search(r"/kr\d+$", i):
            ids.append(i)
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
import re
walk(json.load(open(sys.argv[1], encoding="utf-8")))
print(ids[-1] if ids else "")
PY
)
  [ -n "$kr" ] || die "no KR id in the export"
  echo "N=$n: tracker edit of $kr" >&2
  step "$n" tracker-set gb set "$kr" --quarter Q3 --status at-risk --note "tracker edit by the scale benchmark"
  step "$n" tracker-sync gb sync --json
  # The first no-op after those changes: its inputs are new, so it plans
  # every page (and finds each already checked).
  step "$n" noop-after-edits gb sync --json

  # Where a no-op's time goes, from goalsbot's debug log: once planning
  # every page (the digest of the last no-op is dropped from the store, as
  # after any change), once with the digest kept (it plans no page).
  forget_sync_marker
  step "$n" noop-plan-v gb -vv sync --json
  cp "$out/$n-noop-plan-v.err" "$out/$n-noop-v.log"
  step "$n" noop-sync-v gb -vv sync --json
  cp "$out/$n-noop-sync-v.err" "$out/$n-noop2-v.log"
  forget_sync_marker
  pdo_exec "$dir/goalsbot.sqlite" "DELETE FROM year_checks" || die "could not drop the year checks"
  step "$n" noop-plan-all gb sync --json

  # The peer: Pywikibot with a user-config.py of its own, no family file.
  mkdir -p "$dir/pwb"
  cat >"$dir/pwb/user-config.py" <<PYCFG
family = 'bench'
mylang = 'bench'
family_files['bench'] = '${GOALSBOT_TEST_WIKI_URL}api.php'
minthrottle = 0
put_throttle = 0
maxlag = 5
console_encoding = 'utf-8'
PYCFG
  peer() { PYWIKIBOT_DIR="$dir/pwb" "$venv/bin/python" "$here/peer.py" "${GOALSBOT_TEST_WIKI_URL}api.php" "$dir/titles"; }
  step "$n" peer-pull peer
  step "$n" peer-pull-2 peer
  cat "$out/$n-peer-pull.out" >&2

  stop_server
  [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"
}

for n in "${sizes[@]}"; do
  bench_one "$n"
done

echo >&2
echo "results: $results" >&2
column -t -s $'\t' "$results"
