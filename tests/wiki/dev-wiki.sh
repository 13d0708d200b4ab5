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
fiscal_years = ["2020-21"]

[store]
url = "sqlite://$dir/goalsbot.sqlite"
TOML

cat <<MSG
Dev wiki: $GOALSBOT_TEST_WIKI_URL  (Admin password in $dir/wiki.env)
In another terminal, from $root:

  export GOALSBOT_CONFIG=$dir/goalsbot.toml
  . $dir/credentials.env        # log in as the bot (omit to read anonymously)
  cargo run -- doctor
  cargo run -- sync

Serving until Ctrl-C (request log below).
MSG
exec bash "$wiki" serve "$dir"
