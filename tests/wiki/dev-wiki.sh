#!/usr/bin/env bash
# Starts a local MediaWiki 1.43 seeded with the FY2020-21 sample goals pages,
# writes a ready goalsbot config for it, and serves it until Ctrl-C.
#
#   bash tests/wiki/dev-wiki.sh [DIR]      (default DIR: .dev-wiki)
#
# Run it again to serve the same wiki again (pages and store stay as they were);
# delete DIR to start afresh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$(realpath -m "${1:-$root/.dev-wiki}")
wiki="$root/tests/wiki/wiki.sh"

if [ ! -f "$dir/wiki.env" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  bash "$wiki" create "$dir" "$port" >/dev/null
  shopt -s nullglob
  pages=("$root"/tests/fixtures/pages/Template%3A*.wikitext "$root"/tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F*.wikitext)
  if [ ${#pages[@]} -gt 0 ]; then
    bash "$wiki" load "$dir" "${pages[@]}"
  else
    echo "dev-wiki: no sample pages in tests/fixtures/pages yet; the wiki starts empty" >&2
  fi
  # The emergency stop lets the bot run (sync and watch do nothing without it).
  printf 'run' | bash "$wiki" edit "$dir" Admin "User:GoalsBot/Shutoff"
  # The command page, where allowed users (Admin here) ask the watcher for a
  # run and settle conflicts; the bot's conflict notices appear there too.
  printf '%s\n' "Ask goalsbot here: add a section with <nowiki>{{goalsbot|sync}}</nowiki>, signed." \
    "Settle a conflict with <nowiki>{{goalsbot|resolve|ID|wiki}}</nowiki> or <nowiki>{{goalsbot|resolve|ID|store}}</nowiki>." \
    | bash "$wiki" edit "$dir" Admin "Wikimedia Technology/Goals/Bot requests"
fi
# shellcheck disable=SC1091
. "$dir/wiki.env"
umask 077
cat >"$dir/credentials.env" <<ENV
export GOALSBOT_USERNAME='$GOALSBOT_USERNAME'
export GOALSBOT_PASSWORD='$GOALSBOT_PASSWORD'
ENV
cat >"$dir/goalsbot.toml" <<TOML
# goalsbot config for the local dev wiki made by tests/wiki/dev-wiki.sh
[wiki]
url = "$GOALSBOT_TEST_WIKI_URL"
user_agent_contact = "local dev wiki"
edit_interval_secs = 1

[pages]
prefix = "Wikimedia Technology/Goals"
# The sample year, and the next one, which starts from the tracker
# (docs/trying-it.md, "A new year and its first quarter").
fiscal_years = ["2020-21", "2021-22"]

[store]
url = "sqlite://$dir/goalsbot.sqlite"

[commands]
page = "Wikimedia Technology/Goals/Bot requests"
allowed_users = ["Admin"]
shutoff_page = "User:GoalsBot/Shutoff"
poll_interval_secs = 10
TOML

cat <<MSG
Dev wiki: $GOALSBOT_TEST_WIKI_URL  (log in as Admin: the password is in $dir/wiki.env)
In another terminal, from $root (docs/trying-it.md walks through every step):

  cargo build --release          # once (a few minutes); then:
  export GOALSBOT_CONFIG=$dir/goalsbot.toml
  . $dir/credentials.env          # log in as the bot (omit to read anonymously)
  target/release/goalsbot doctor
  target/release/goalsbot sync    # status tables, the year overview, the status page
  target/release/goalsbot watch   # answers requests on Wikimedia Technology/Goals/Bot requests

Then: a conflict and its notice, settling it on the wiki, an export edited
in a spreadsheet and imported, and a new year's first quarter
(tests/fixtures/import/fy2021-22-plan.json) — see docs/trying-it.md.

Serving until Ctrl-C (request log below).
MSG
exec bash "$wiki" serve "$dir"
