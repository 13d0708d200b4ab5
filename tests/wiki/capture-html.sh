#!/usr/bin/env bash
# Saves the Parsoid HTML of every fixture page, so parser tests run without a wiki.
#
#   capture-html.sh [DIR]     DIR defaults to tests/fixtures/pages
#
# For each DIR/NAME.wikitext (NAME = URL-encoded title, as for `wiki.sh load`)
# this writes DIR/NAME.html: exactly what mwbot 0.7's `page.html()` receives,
# i.e. parsoid 0.10's `Client::get` on MediaWiki's core REST API:
#   GET rest.php/v1/page/{urlencoded title}/html?redirect=no&flavor=edit
#   Accept: text/html; charset=utf-8; profile="https://www.mediawiki.org/wiki/Specs/HTML/2.8.0"
# It creates a throwaway wiki on a free loopback port, serves it in the
# background, loads every page, fetches the HTML, then stops the server and
# deletes the wiki.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(realpath "${1:-$here/../fixtures/pages}")
accept='text/html; charset=utf-8; profile="https://www.mediawiki.org/wiki/Specs/HTML/2.8.0"'

shopt -s nullglob
files=("$dir"/*.wikitext)
[ ${#files[@]} -gt 0 ] || { echo "capture-html.sh: no .wikitext files in $dir" >&2; exit 1; }

# Bind port 0 and let the kernel pick a free port; the tiny race before PHP
# binds it is acceptable for a developer script.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
tmp=$(mktemp -d)
server=

stop() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    # `unshare --fork` ignores SIGTERM and PHP runs as PID 1 of its namespace,
    # which ignores it too: only SIGKILL stops the server. unshare's
    # --kill-child then takes PHP and its workers down with it.
    kill -KILL "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  server=
  rm -rf "$tmp"
}
trap stop EXIT

bash "$here/wiki.sh" create "$tmp/wiki" "$port" >/dev/null
bash "$here/wiki.sh" serve "$tmp/wiki" 2>"$tmp/serve.log" &
server=$!

for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/api.php" && break
  sleep 0.1
done

bash "$here/wiki.sh" load "$tmp/wiki" "${files[@]}"

for f in "${files[@]}"; do
  name=$(basename "$f" .wikitext)
  # The title as mwbot spells it, encoded as parsoid's `urlencoding::encode`
  # does (everything but A-Z a-z 0-9 - . _ ~ is percent-encoded).
  enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(urllib.parse.unquote(sys.argv[1]).replace("_", " "), safe="-._~"))' "$name")
  # MediaWiki answers a title with spaces by redirecting to its underscore
  # form; reqwest (under mwbot) follows redirects, so curl does too (-L).
  curl -sSfL -H "Accept: $accept" \
    "http://127.0.0.1:$port/rest.php/v1/page/$enc/html?redirect=no&flavor=edit" \
    -o "$dir/$name.html"
  echo "captured: $name.html"
done

stop
trap - EXIT
# The server ran in a PID namespace of its own (see wiki.sh serve), so its
# workers die with it; check anyway, for this port only.
if pgrep -af "php -S 127.0.0.1:$port" >/dev/null; then
  echo "capture-html.sh: a PHP server for port $port is still running:" >&2
  pgrep -af "php -S 127.0.0.1:$port" >&2
  exit 1
fi
