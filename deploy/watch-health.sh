#!/bin/sh
# Health check of the continuous `goalsbot watch` job (jobs.yaml:
# health-check-script). Healthy (exit 0) when the watcher's heartbeat file
# was rewritten within MAX_AGE seconds; else it says why on stderr and exits 1,
# and after three failures in a row Kubernetes restarts the container.
#
#   watch-health.sh [FILE [MAX_AGE]]     defaults: /tmp/goalsbot-watch.alive, 60
#
# The watcher (`goalsbot watch --heartbeat FILE`) rewrites FILE every 10 s,
# also while a poll runs a long requested sync, and stops when a poll has
# run for over an hour (src/ops/heartbeat.rs). /tmp is the container's own,
# so the check sees the file of the watcher in the same container.
set -u
file=${1:-/tmp/goalsbot-watch.alive}
max_age=${2:-60}
if [ ! -f "$file" ]; then
  echo "unhealthy: no heartbeat file $file (the watcher is not running, or was not started with --heartbeat $file)" >&2
  exit 1
fi
now=$(date +%s)
beat=$(stat -c %Y "$file") || exit 1
age=$((now - beat))
if [ "$age" -gt "$max_age" ]; then
  echo "unhealthy: the heartbeat $file is $age s old (limit $max_age s): the watcher is stuck; $(cat "$file" 2>/dev/null)" >&2
  exit 1
fi
exit 0
