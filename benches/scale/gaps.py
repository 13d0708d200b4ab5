#!/usr/bin/env python3
"""Where a goalsbot run's time goes, from its -vv log (run.sh keeps N-noop-v.log).

    gaps.py LOG [TOP]

Every log line starts with an RFC 3339 timestamp. Prints the run's span, the
time spent waiting on the wiki (from "connection is ready"/"checkout dropped"
to hyper's next line for that request, i.e. until the answer's head came),
the time and count of store statements (sqlx's elapsed=…), the remainder,
and the TOP (default 12) longest gaps between consecutive lines with the
line that ends each gap.
"""
import re
import sys
from datetime import datetime

TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z\s+(\w+)\s+(.*)$")
ELAPSED = re.compile(r"elapsed_secs=([0-9.e-]+)")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    top = int(sys.argv[2]) if len(sys.argv) == 3 else 12
    lines = []
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = TS.match(raw.rstrip("\n"))
            if m:
                t = datetime.fromisoformat(m.group(1)[:26])
                lines.append((t.timestamp(), m.group(2), m.group(3)))
    if len(lines) < 2:
        sys.exit("gaps.py: fewer than two timestamped lines")

    span = lines[-1][0] - lines[0][0]
    http_wait = 0.0
    http_n = 0
    sql = 0.0
    sql_n = 0
    waiting_since = None
    for t, _level, text in lines:
        if "checkout dropped" in text:
            waiting_since = t
            http_n += 1
        elif waiting_since is not None and ("shouldn't retry" in text or "result=" in text):
            http_wait += t - waiting_since
            waiting_since = None
        m = ELAPSED.search(text)
        if m and "db.statement" in text:
            sql += float(m.group(1))
            sql_n += 1
    print(f"span of the log: {span:.3f} s, {len(lines)} lines")
    print(f"waiting for the wiki: {http_wait:.3f} s over {http_n} requests")
    print(f"store statements: {sql:.3f} s over {sql_n} statements")
    print(f"rest (goalsbot's own work, logging, connecting): {span - http_wait - sql:.3f} s")
    gaps = sorted(
        ((lines[i][0] - lines[i - 1][0], i) for i in range(1, len(lines))), reverse=True
    )[:top]
    print(f"\nlongest {len(gaps)} gaps between consecutive lines:")
    for gap, i in gaps:
        before = lines[i - 1][2][:90]
        after = lines[i][2][:110]
        print(f"  {gap * 1000:8.1f} ms  after: {before}\n              before: {after}")


if __name__ == "__main__":
    main()
