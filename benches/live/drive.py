#!/usr/bin/env python3
"""Drive goalsbot's live watcher against a throwaway wiki and time it.

    drive.py --bin BIN --config CFG --store SQLITE --api URL --admin-password PW
             --server-log LOG --out JSON [--events 30] [--idle-polls 6]
             [--seed 7] [--idle-only]

Started by benches/live/run.sh after the wiki is made and a first sync wrote
every page. It starts `goalsbot watch --interval 5` (the config says 5 s
polls and no pause between saves), waits for its first poll (a full check),
and then:

1. Idle cost: for --idle-polls polls with nothing changing, the request
   lines the wiki's server logged, and how many of them were polls (the
   `list=recentchanges` query); requests per idle poll = lines / polls.
2. Latency (unless --idle-only): --events changes at random moments (random
   gaps of 0-8 s, seeded): two thirds staff edits of a status cell on a
   random quarter page (saved through the API as Admin, with the revision
   read as base, again on an edit conflict), one third tracker edits
   (`goalsbot set KR --quarter Q3 --status on-track --note ...`). Each
   change writes a note of its own ("bench event K") to a KR of its own
   (distinct KRs, so no change overwrites another). From the moment the save
   (or the `set`) returned, the change is looked for every 0.25 s until every
   quarter page of its year shows it in that KR's row and the store holds it:
   that time is its latency. A change not seen within 180 s counts as lost.
   At the end every change is looked for again (none may have been
   overwritten) and the watcher's runs are counted from its JSON lines.

Nothing but Python's standard library; the store is read with sqlite3.
"""
import argparse
import http.cookiejar
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request


def log(msg):
    print(f"drive.py: {msg}", file=sys.stderr, flush=True)


class Api:
    """The wiki's action API as Admin (clientlogin), with cookies."""

    def __init__(self, url, password):
        self.url = url.rstrip("/") + "/api.php"
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        token = self.get(action="query", meta="tokens", type="login")["query"]["tokens"]["logintoken"]
        r = self.post(
            action="clientlogin",
            username="Admin",
            password=password,
            logintoken=token,
            loginreturnurl="http://127.0.0.1/",
        )
        if r.get("clientlogin", {}).get("status") != "PASS":
            sys.exit(f"drive.py: Admin could not log in: {r}")
        self.csrf = self.get(action="query", meta="tokens")["query"]["tokens"]["csrftoken"]

    def get(self, **params):
        params.update(format="json", formatversion="2")
        q = urllib.parse.urlencode(params)
        with self.opener.open(f"{self.url}?{q}", timeout=60) as r:
            return json.load(r)

    def post(self, **params):
        params.update(format="json", formatversion="2")
        data = urllib.parse.urlencode(params).encode()
        with self.opener.open(self.url, data=data, timeout=60) as r:
            return json.load(r)

    def texts(self, titles):
        """The latest wikitext of each title, in one request."""
        r = self.get(
            action="query",
            prop="revisions",
            rvprop="ids|content",
            rvslots="main",
            titles="|".join(titles),
        )
        out = {}
        for p in r["query"]["pages"]:
            revs = p.get("revisions") or []
            if revs:
                out[p["title"]] = (revs[0]["revid"], revs[0]["slots"]["main"]["content"])
        return out

    def edit(self, title, change):
        """Saves change(text) over the latest revision; again on a conflict."""
        for _ in range(10):
            revid, text = self.texts([title])[title]
            new = change(text)
            r = self.post(
                action="edit",
                title=title,
                text=new,
                baserevid=str(revid),
                nocreate="1",
                summary="live benchmark: a staff edit",
                token=self.csrf,
            )
            if r.get("edit", {}).get("result") == "Success":
                return
            if r.get("error", {}).get("code") != "editconflict":
                sys.exit(f"drive.py: edit of {title} failed: {r}")
        sys.exit(f"drive.py: {title}: edit conflicts ten times in a row")


def kr_row_cell(text, kr, quarter):
    """The content of KR's cell of `quarter` in the bot's table, or None."""
    m = re.search(r'^\|- data-goalsbot-kr="' + re.escape(kr) + r'"\n(.*?)(?=^\|-|^\|\})', text, re.M | re.S)
    if not m:
        return None
    c = re.search(r'^\| data-goalsbot-quarter="' + quarter + r'"[^|\n]*\| ?(.*)$', m.group(1), re.M)
    return c.group(1) if c else None


def with_cell(text, kr, quarter, value):
    m = re.search(r'^\|- data-goalsbot-kr="' + re.escape(kr) + r'"\n(.*?)(?=^\|-|^\|\})', text, re.M | re.S)
    if not m:
        raise ValueError(f"no row {kr}")
    row = m.group(1)
    new_row, n = re.subn(
        r'^\| data-goalsbot-quarter="' + quarter + r'".*$',
        f'| data-goalsbot-quarter="{quarter}" | {value}',
        row,
        count=1,
        flags=re.M,
    )
    if n != 1:
        raise ValueError(f"no {quarter} cell in {kr}'s row")
    return text[: m.start(1)] + new_row + text[m.end(1):]


def server_lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return [l for l in f if re.search(r"\[\d{3}\]: [A-Z]+ /", l)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--api", required=True)
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--server-log", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefix", default="Wikimedia Technology/Goals")
    ap.add_argument("--events", type=int, default=30)
    ap.add_argument("--idle-polls", type=int, default=6)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--idle-only", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    env = dict(os.environ, GOALSBOT_CONFIG=a.config)
    env.pop("RUST_LOG", None)

    def gb(*args):
        r = subprocess.run([a.bin, *args], env=env, capture_output=True, text=True)
        if r.returncode not in (0, 3):
            sys.exit(f"drive.py: goalsbot {args} exited {r.returncode}: {r.stderr[-2000:]}")
        return r.stdout

    export = json.loads(gb("export", "--format", "json"))
    krs = []  # (fiscal year, kr id)
    for y in export["fiscal_years"]:
        for o in y["objectives"]:
            for k in o.get("key_results", []):
                if k.get("kind", "key-result") == "key-result":
                    krs.append((y["fiscal_year"], k["id"]))

    # The watcher, its JSON lines read as they come.
    lines = []
    watcher = subprocess.Popen(
        [a.bin, "watch", "--interval", "5", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(a.out + ".watch.err", "w"),
        text=True,
    )
    threading.Thread(target=lambda: [lines.append(l) for l in watcher.stdout], daemon=True).start()
    deadline = time.time() + 1800
    while not any('"full_check"' in l for l in lines):
        if watcher.poll() is not None or time.time() > deadline:
            sys.exit("drive.py: the watcher's first poll (a full check) did not come")
        time.sleep(0.2)
    log(f"the watcher's first poll: {lines[-1].strip()[:200]}")

    # 1. Idle polls.
    time.sleep(1)
    before = len(server_lines(a.server_log))
    time.sleep(5 * a.idle_polls + 1)
    idle = server_lines(a.server_log)[before:]
    polls = sum("list=recentchanges" in l for l in idle)
    result = {
        "idle_request_lines": len(idle),
        "idle_polls": polls,
        "requests_per_idle_poll": round(len(idle) / polls, 2) if polls else None,
        "idle_runs": sum('"run"' in l for l in lines[1:]),
    }
    log(f"idle: {result}")

    if not a.idle_only:
        api = Api(a.api, a.admin_password)
        chosen = rng.sample(krs, min(a.events, len(krs)))
        kinds = ["staff"] * (len(chosen) * 2 // 3) + ["tracker"] * (len(chosen) - len(chosen) * 2 // 3)
        rng.shuffle(kinds)
        quarters = ["Q1", "Q2", "Q3", "Q4"]
        events = []
        con = sqlite3.connect(f"file:{a.store}?mode=ro", uri=True, check_same_thread=False)
        lock = threading.Lock()

        def seen(fy, kr, note):
            titles = [f"{a.prefix}/{fy} {q}" for q in quarters]
            texts = api.texts(titles)
            for t in titles:
                if t in texts and kr_row_cell(texts[t][1], kr, "Q3") is not None:
                    if note not in kr_row_cell(texts[t][1], kr, "Q3"):
                        return False
            with lock:
                row = con.execute(
                    "SELECT value FROM fields WHERE record_id = ? AND field = 'quarters.Q3.note'",
                    (kr,),
                ).fetchone()
            return row is not None and json.loads(row[0]) == note

        def watch_for(ev):
            while time.time() - ev["t0"] < 180:
                if seen(ev["fy"], ev["kr"], ev["note"]):
                    ev["latency"] = time.time() - ev["t0"]
                    return
                time.sleep(0.25)
            ev["latency"] = None

        threads = []
        for k, ((fy, kr), kind) in enumerate(zip(chosen, kinds)):
            time.sleep(rng.uniform(0, 8))
            note = f"bench event {k}"
            if kind == "staff":
                # A quarter page of the year whose table has the KR's row.
                texts = api.texts([f"{a.prefix}/{fy} {q}" for q in quarters])
                pages = [t for t, (_, x) in texts.items() if kr_row_cell(x, kr, "Q3") is not None]
                if not pages:
                    sys.exit(f"drive.py: no page of {fy} has a row for {kr}")
                page = rng.choice(sorted(pages))
                api.edit(page, lambda t: with_cell(t, kr, "Q3", f"On track: {note}"))
            else:
                gb("set", kr, "--quarter", "Q3", "--status", "on-track", "--note", note)
            ev = {"k": k, "kind": kind, "fy": fy, "kr": kr, "note": note, "t0": time.time()}
            events.append(ev)
            th = threading.Thread(target=watch_for, args=(ev,), daemon=True)
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
        # None overwritten since: every change still everywhere.
        kept = sum(seen(e["fy"], e["kr"], e["note"]) for e in events)
        lat = sorted(e["latency"] for e in events if e["latency"] is not None)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))], 2) if lat else None

        result.update(
            events=len(events),
            staff=sum(e["kind"] == "staff" for e in events),
            tracker=sum(e["kind"] == "tracker" for e in events),
            lost=sum(e["latency"] is None for e in events),
            kept_at_end=kept,
            p50_s=pct(50),
            p95_s=pct(95),
            max_s=round(lat[-1], 2) if lat else None,
            runs=sum('"run"' in l for l in lines[1:]),
            latencies=[round(e["latency"], 2) if e["latency"] else None for e in events],
        )
    watcher.send_signal(signal.SIGTERM)
    try:
        watcher.wait(timeout=120)
    except subprocess.TimeoutExpired:
        watcher.kill()
    json.dump(result, open(a.out, "w"), indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "latencies"}))


if __name__ == "__main__":
    main()
