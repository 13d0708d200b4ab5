//! `watch` follows changes live, on the real test wiki (issue 30): a
//! staff edit on one quarter page and a tracker `set` reach every page of
//! the year through `watch` alone; the bot's own saves wake nothing; an
//! idle poll is one request in the wiki's own log; a lost position falls
//! back to a full check; a killed watcher repeats no edit; a flurry is one
//! run; the shutoff page stops it.
//!
//! Other tests edit the same wiki meanwhile: their changes are in the
//! recent changes this watcher reads, and must not make it run.

use serde_json::Value;

use crate::support::{cell, find_kr, latest_revid, raw, staff_save, title, with_cell, Setup};
use crate::sync::{pages, synced, KR2};

/// The setup's config pointed at the wiki itself again (after a proxy).
fn past_proxy(s: &Setup, p: &crate::support::proxy::Proxy) {
    let w = crate::support::test_wiki();
    let cfg = std::fs::read_to_string(&s.cfg).unwrap();
    std::fs::write(&s.cfg, cfg.replace(&p.url, &w.url)).unwrap();
}

/// Each title saved at most once (no change doubled), from the wiki's log.
fn saved_once_each(saves: &[String]) {
    let mut seen = std::collections::BTreeSet::new();
    for t in saves {
        assert!(seen.insert(t), "{t} saved twice in one run: {saves:?}");
    }
}

/// One poll through a proxy: its report, and the saves it made by title,
/// from the wiki's own request log ([`saves_in`]).
fn poll_counting_saves(s: &Setup) -> (Value, Vec<String>) {
    let p = crate::faults::through_proxy(s);
    let report = poll(s);
    let saves = saves_in(&p, 0);
    past_proxy(s, &p);
    (report, saves)
}

/// One `watch --once --json` poll: its report.
fn poll(s: &Setup) -> Value {
    let out = s.run(&["watch", "--once", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// A synced year whose watcher has polled once (its full check) and stands
/// at the wiki's newest change.
fn watched(name: &str) -> Setup {
    let s = synced(name);
    let first = poll(&s);
    let followed = &first["followed"];
    assert!(
        followed["full_check"]
            .as_str()
            .is_some_and(|r| r.contains("no position")),
        "{first}"
    );
    assert_eq!(followed["years"], serde_json::json!(["2020-21"]), "{first}");
    s
}

/// The run a poll's following made, if any: (run id, outcome).
fn run_of(report: &Value) -> Option<(String, String)> {
    let run = report["followed"]["run"].as_array()?;
    Some((run[0].as_str()?.to_string(), run[1].as_str()?.to_string()))
}

/// The Q3 status cell of KR2 on every page of the year that has one.
fn kr2_q3_cells(s: &Setup) -> Vec<String> {
    pages(s)
        .iter()
        .filter_map(|t| {
            let text = raw(t);
            text.contains(KR2).then(|| cell(&text, KR2, "Q3"))
        })
        .collect()
}

/// Idle polls of a watcher that keeps running (`watch --interval 1`, its
/// requests through a proxy): after its login, each poll is one request,
/// the combined query, and the wiki's own log has exactly those lines. No
/// poll makes a run (no page changes).
fn idle_polls_are_one_request_each(s: &Setup) {
    let p = crate::faults::through_proxy(s);
    let w = crate::support::test_wiki();
    let log_before = w.request_lines().len();
    let marks: Vec<u64> = pages(s).iter().map(|t| latest_revid(t)).collect();
    let mut child = s
        .cmd(&["watch", "--interval", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let polls = || {
        p.seen()
            .iter()
            .filter(|r| r.path.contains("list=recentchanges"))
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while polls() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let seen = p.seen();
    let first = seen
        .iter()
        .position(|r| r.path.contains("list=recentchanges"))
        .unwrap_or_else(|| panic!("no poll: {seen:#?}"));
    let after_login = &seen[first..];
    assert!(after_login.len() >= 4, "{seen:#?}");
    assert!(
        after_login
            .iter()
            .all(|r| r.path.contains("list=recentchanges") && r.path.contains("prop=revisions")),
        "an idle poll asked more than its one query: {after_login:#?}"
    );
    let ports: Vec<u16> = seen.iter().filter_map(|r| r.upstream_port).collect();
    let logged = crate::sync::wait_for_log_lines(w, log_before, &ports, seen.len());
    assert_eq!(logged.len(), seen.len(), "{logged:#?}");
    let logged_polls = logged
        .iter()
        .filter(|l| l.contains("list=recentchanges"))
        .count();
    assert_eq!(logged_polls, after_login.len(), "{logged:#?}");
    let after: Vec<u64> = pages(s).iter().map(|t| latest_revid(t)).collect();
    assert_eq!(marks, after, "an idle poll saved nothing");
    // Back to the wiki itself for the rest of the test.
    past_proxy(s, &p);
}

#[test]
fn a_staff_edit_reaches_every_page_and_the_store_through_watch_alone() {
    let s = watched("live-staff");
    idle_polls_are_one_request_each(&s);
    let q3 = title(&s, "Q3");
    staff_save(&q3, &with_cell(&raw(&q3), KR2, "Q3", "Concerns: seen live"));
    let (report, saves) = poll_counting_saves(&s);
    saved_once_each(&saves);
    for q in ["Q1", "Q2", "Q4"] {
        assert!(saves.contains(&title(&s, q)), "{q} not saved: {saves:?}");
    }
    let (run_id, outcome) = run_of(&report).unwrap_or_else(|| panic!("no run: {report}"));
    assert_eq!(outcome, "Changed", "{report}");
    assert_eq!(report["followed"]["changes"], 1, "{report}");
    assert_eq!(report["followed"]["years"], serde_json::json!(["2020-21"]));
    // Every page shows it, and the store holds it.
    let cells = kr2_q3_cells(&s);
    assert!(cells.len() >= 4, "{cells:#?}");
    assert!(cells.iter().all(|c| c.contains("seen live")), "{cells:#?}");
    let export = s.export(&[]);
    let entry = &find_kr(&export, KR2).unwrap()["quarters"]["Q3"];
    assert_eq!(entry["status"], "concerns");
    assert_eq!(entry["note"], "seen live");
    // The run is on record with its id, as any run.
    let runs = s.ok(&["runs"]);
    assert!(runs.contains(&run_id), "{runs}");
    // The bot's own saves of that run wake nothing: the next poll is idle.
    idle_polls_are_one_request_each(&s);
}

#[test]
fn a_tracker_set_reaches_the_pages_through_watch() {
    let s = watched("live-tracker");
    s.ok(&[
        "set",
        KR2,
        "--quarter",
        "Q3",
        "--status",
        "at-risk",
        "--note",
        "set live",
    ]);
    let (report, saves) = poll_counting_saves(&s);
    saved_once_each(&saves);
    for q in ["Q1", "Q2", "Q3", "Q4"] {
        assert!(saves.contains(&title(&s, q)), "{q} not saved: {saves:?}");
    }
    let (_, outcome) = run_of(&report).unwrap_or_else(|| panic!("no run: {report}"));
    assert_eq!(outcome, "Changed", "{report}");
    assert_eq!(report["followed"]["tracker_years"], 1, "{report}");
    let cells = kr2_q3_cells(&s);
    assert!(cells.iter().all(|c| c.contains("set live")), "{cells:#?}");
    // Its pull and push moved the store's history only by the wiki: idle.
    let again = poll(&s);
    assert_eq!(run_of(&again), None, "{again}");
}

#[test]
fn thirty_quick_edits_are_one_run_and_the_last_value_everywhere() {
    let s = watched("live-flurry");
    let q2 = title(&s, "Q2");
    for i in 1..=30 {
        staff_save(
            &q2,
            &with_cell(&raw(&q2), KR2, "Q3", &format!("On track: edit {i}")),
        );
    }
    let (report, saves) = poll_counting_saves(&s);
    saved_once_each(&saves);
    assert!(run_of(&report).is_some(), "{report}");
    assert_eq!(report["followed"]["changes"], 30, "{report}");
    let cells = kr2_q3_cells(&s);
    assert!(cells.iter().all(|c| c.contains("edit 30")), "{cells:#?}");
    let again = poll(&s);
    assert_eq!(run_of(&again), None, "{again}");
}

#[test]
fn a_watcher_killed_after_its_run_repeats_no_edit() {
    let s = watched("live-kill");
    let q3 = title(&s, "Q3");
    staff_save(
        &q3,
        &with_cell(&raw(&q3), KR2, "Q3", "At risk: before the kill"),
    );
    let mut cmd = s.cmd(&["watch", "--once"]);
    cmd.env("GOALSBOT_FAULT", "pause-at=watch.followed:1");
    crate::tracker::kill_when(cmd, "goalsbot-fault: paused at watch.followed:1");
    let marks: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    assert!(
        kr2_q3_cells(&s)
            .iter()
            .all(|c| c.contains("before the kill")),
        "the killed run saved every page"
    );
    // The restarted watcher runs the year again (its position had not
    // moved) and finds nothing to do; then it is idle.
    let (report, saves) = poll_counting_saves(&s);
    assert!(saves.is_empty(), "no save in the wiki's log: {saves:?}");
    let (_, outcome) = run_of(&report).unwrap_or_else(|| panic!("no run: {report}"));
    assert_eq!(outcome, "Nothing to do", "{report}");
    let after: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    assert_eq!(marks, after, "no page saved twice");
    let again = poll(&s);
    assert_eq!(run_of(&again), None, "{again}");
}

#[test]
fn a_position_the_wiki_no_longer_keeps_falls_back_to_a_full_check() {
    let s = watched("live-lost");
    // A position no recent change has (as after $wgRCMaxAge).
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = goalsbot::store::Store::open(&s.store_url).await.unwrap();
        let (_, mark) = store.watch_feed().await.unwrap().unwrap();
        let lost = goalsbot::core::feed::Position {
            timestamp: "2001-01-15T00:00:00Z".into(),
            rcid: 0,
        };
        store.set_watch_feed(Some(&lost), &mark).await.unwrap();
    });
    let q3 = title(&s, "Q3");
    staff_save(
        &q3,
        &with_cell(&raw(&q3), KR2, "Q3", "Complete: while lost"),
    );
    let report = poll(&s);
    assert!(
        report["followed"]["full_check"]
            .as_str()
            .is_some_and(|r| r.contains("no longer")),
        "{report}"
    );
    assert!(run_of(&report).is_some(), "{report}");
    assert!(kr2_q3_cells(&s).iter().all(|c| c.contains("while lost")));
    // It stands at the wiki's newest change again: idle.
    let again = poll(&s);
    assert_eq!(run_of(&again), None, "{again}");
}

#[test]
fn the_shutoff_page_stops_following_within_one_poll() {
    let s = watched("live-shutoff");
    // The test config names this shutoff page.
    let shutoff = format!("{}/Shutoff", s.prefix);
    staff_save(&shutoff, "stop");
    let q3 = title(&s, "Q3");
    staff_save(
        &q3,
        &with_cell(&raw(&q3), KR2, "Q3", "Concerns: during the stop"),
    );
    let marks: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    let (report, stopped_saves) = poll_counting_saves(&s);
    assert!(
        stopped_saves.is_empty(),
        "saved while stopped: {stopped_saves:?}"
    );
    assert!(report["stopped"].is_string(), "{report}");
    assert_eq!(run_of(&report), None, "{report}");
    let after: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    assert_eq!(marks, after, "nothing saved while stopped");
    // Run again: the change waited at its position and is followed now.
    staff_save(&shutoff, "run");
    let report = poll(&s);
    assert!(run_of(&report).is_some(), "{report}");
    assert!(kr2_q3_cells(&s)
        .iter()
        .all(|c| c.contains("during the stop")));
}

/// A person settles a conflict from the shell by keeping the store's value
/// (`resolve --take store`: no field changes, the page still shows the
/// wiki's value): the next poll pushes it to the page, and the poll after
/// is idle again.
#[test]
fn a_conflict_settled_for_the_store_reaches_the_page_through_watch() {
    let s = watched("live-resolve");
    let q3 = title(&s, "Q3");
    crate::sync::both_sides_change_kr2_q4(&s);
    // The watcher follows both, and holds the conflict.
    let held = poll(&s);
    let (_, outcome) = run_of(&held).unwrap_or_else(|| panic!("no run: {held}"));
    assert_eq!(outcome, "Needs a person", "{held}");
    assert_eq!(cell(&raw(&q3), KR2, "Q4"), "At risk: staff says");
    let idle = poll(&s);
    assert_eq!(run_of(&idle), None, "{idle}");

    let list: Value = serde_json::from_str(&s.ok(&["conflicts", "--json"])).unwrap();
    for c in list.as_array().unwrap() {
        let id = c["id"].as_i64().unwrap().to_string();
        s.ok(&["resolve", &id, "--take", "store"]);
    }
    let settled = poll(&s);
    assert_eq!(settled["followed"]["tracker_years"], 1, "{settled}");
    assert!(run_of(&settled).is_some(), "{settled}");
    assert_eq!(cell(&raw(&q3), KR2, "Q4"), "Complete: tracker says");
    let idle = poll(&s);
    assert_eq!(run_of(&idle), None, "{idle}");
}

/// The saves a poll made, by title, from the wiki's own request log
/// through a proxy in front of it (`p`): each `action=edit` the proxy
/// passed, matched with a logged request line from its connection.
fn saves_in(p: &crate::support::proxy::Proxy, from: usize) -> Vec<String> {
    let seen = p.seen();
    let new = &seen[from..];
    let ports: Vec<u16> = new.iter().filter_map(|r| r.upstream_port).collect();
    let w = crate::support::test_wiki();
    let logged = crate::sync::wait_for_log_lines(w, 0, &ports, new.len());
    assert!(logged.len() >= new.len(), "{logged:#?}\n{new:#?}");
    new.iter()
        .filter(|r| r.action == "edit")
        .map(|r| r.title.clone().unwrap_or_default())
        .collect()
}

/// A page moved away and a page deleted while the watcher follows: each is
/// one change of its year, and the run handles it as `sync` does (the
/// title left as a redirect is refused and never written through; a
/// deleted page is not made again); the next poll is idle, and a `sync`
/// then has nothing to save.
#[test]
fn a_page_moved_or_deleted_while_watched_is_handled_as_sync_handles_it() {
    let s = watched("live-move");
    let w = crate::support::test_wiki();
    let p = crate::faults::through_proxy(&s);
    let (q2, q3) = (title(&s, "Q2"), title(&s, "Q3"));
    let archive = format!("{}/Archive/2020-21 Q2", s.prefix);
    w.move_page(&q2, &archive);
    let archived = latest_revid(&archive);
    let from = p.seen().len();
    let moved = poll(&s);
    assert_eq!(moved["followed"]["changes"], 1, "{moved}");
    let (run_id, outcome) = run_of(&moved).unwrap_or_else(|| panic!("no run: {moved}"));
    assert_eq!(outcome, "Needs a person", "{moved}");
    let runs: Value = serde_json::from_str(&s.ok(&["runs", "--json"])).unwrap();
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == run_id.as_str())
        .unwrap();
    assert!(
        run["summary"]["refused"].to_string().contains("redirect"),
        "{run}"
    );
    let saves = saves_in(&p, from);
    assert!(
        !saves.iter().any(|t| t == &archive || t == &q2),
        "a moved page is not written through: {saves:?}"
    );
    assert_eq!(latest_revid(&archive), archived);
    let idle = poll(&s);
    assert_eq!(run_of(&idle), None, "{idle}");

    w.delete_page(&q3);
    let from = p.seen().len();
    let deleted = poll(&s);
    assert_eq!(deleted["followed"]["changes"], 1, "{deleted}");
    assert!(run_of(&deleted).is_some(), "{deleted}");
    let saves = saves_in(&p, from);
    assert!(
        !saves.iter().any(|t| t == &q3),
        "a deleted page is not made again: {saves:?}"
    );
    let idle = poll(&s);
    assert_eq!(run_of(&idle), None, "{idle}");
    // What sync says now: nothing to save either.
    let out = s.run(&["sync", "--json"]);
    let stats: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(stats["edits"], 0, "{out:?}");
}

/// After a run it asked for failed, the watcher pauses (5 minutes) before
/// it runs again: a change waits at its position, and the poll says why.
#[test]
fn after_a_failed_run_the_watcher_pauses_and_the_change_waits() {
    let s = watched("live-pause");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = goalsbot::store::Store::open(&s.store_url).await.unwrap();
        let now = chrono::Utc::now();
        store
            .record_run(&goalsbot::store::RunEntry {
                run_id: "failed-just-now".into(),
                command: "sync 2020-21 (watch: following changes)".into(),
                outcome: goalsbot::store::RunState::Failed,
                started: now,
                finished: now,
                summary: serde_json::json!({}),
            })
            .await
            .unwrap();
    });
    let q3 = title(&s, "Q3");
    staff_save(
        &q3,
        &with_cell(&raw(&q3), KR2, "Q3", "At risk: after a failure"),
    );
    let marks: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    let report = poll(&s);
    assert_eq!(run_of(&report), None, "{report}");
    assert!(
        report["followed"]["waiting"]
            .as_str()
            .is_some_and(|w| w.contains("pause after a failed run")),
        "{report}"
    );
    let after: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    assert_eq!(marks, after, "nothing ran");
    // The change waited at its position: a poll after the pause runs it
    // (here: the failed run forgotten, as five minutes on).
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = goalsbot::store::Store::open(&s.store_url).await.unwrap();
        let earlier = chrono::Utc::now() - chrono::Duration::minutes(6);
        store
            .record_run(&goalsbot::store::RunEntry {
                run_id: "failed-just-now".into(),
                command: "sync 2020-21 (watch: following changes)".into(),
                outcome: goalsbot::store::RunState::Failed,
                started: earlier,
                finished: earlier,
                summary: serde_json::json!({}),
            })
            .await
            .unwrap();
    });
    let report = poll(&s);
    assert!(run_of(&report).is_some(), "{report}");
    assert!(kr2_q3_cells(&s)
        .iter()
        .all(|c| c.contains("after a failure")));
}
