#!/usr/bin/env bash
# Runs one goalsbot command on Toolforge as a one-off job (with the tool's
# envvars: credentials, store URL), waits for it, prints its output.
# Run as the tool (`become goalsbot`), e.g.:
#
#   bash ~/goalsbot-src/deploy/toolforge-run.sh doctor
#   bash ~/goalsbot-src/deploy/toolforge-run.sh --dry-run sync
#   bash ~/goalsbot-src/deploy/toolforge-run.sh export --as-of 2026-11-22T03:00:00Z
#
# stdout (the command's output) is kept in ~/logs/run-<time>-<command>.out, stderr (logs)
# in the .err beside it. GOALSBOT_BIN overrides the binary (default ~/bin/goalsbot),
# e.g. to try a new version before switching to it.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 [goalsbot options] COMMAND [ARGS...]   (see goalsbot --help)" >&2
  exit 2
fi

home=${TOOL_DATA_DIR:-$HOME}
bin=${GOALSBOT_BIN:-$home/bin/goalsbot}
config=$home/goalsbot.toml

# Quote for the job's /bin/sh (POSIX): 'it'\''s'.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
cmd="exec $(quote "$bin") --config $(quote "$config")"
for arg in "$@"; do cmd="$cmd $(quote "$arg")"; done

# The first argument that is not an option names the run, for the log files.
what=run
for arg in "$@"; do
  case $arg in -*) ;; *) what=$arg; break ;; esac
done
what=$(printf '%s' "$what" | tr -c 'a-z0-9-' '-' | cut -c 1-20)
name="gb-$(date -u +%Y%m%d-%H%M%S)-$what"
name=${name%-}
mkdir -p "$home/logs"
out=logs/$name.out
err=logs/$name.err

echo "job $name: $cmd" >&2
status=0
toolforge jobs run "$name" --image bookworm --mem 1Gi --cpu 0.5 \
  --filelog-stdout "$out" --filelog-stderr "$err" \
  --command "$cmd" --wait 3600 || status=$?
echo "--- stderr ($home/$err)" >&2
cat "$home/$err" >&2 2>/dev/null || true
echo "--- stdout ($home/$out)" >&2
cat "$home/$out" 2>/dev/null || true
toolforge jobs delete "$name" >/dev/null 2>&1 || true
exit "$status"
