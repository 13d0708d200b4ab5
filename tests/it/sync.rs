//! `sync`, `conflicts` and `resolve` on the real test wiki: request economy,
//! both directions, conflicts held and resolved, a staff save between the
//! bot's read and its write, a blanked page, and kills in the middle.

use serde_json::Value;

use crate::support::test_wiki;
use crate::support::{
    bot_edits_since, cell, latest_revid, raw, revisions, staff_save, title, with_cell,
};
use crate::support::{deck, find_kr, Setup, QUARTERS};

pub(crate) const KR2: &str = "2020-21/front-line-defenses/kr2";

pub(crate) fn overview(s: &Setup) -> String {
    format!("{}/2020-21", s.prefix)
}

/// The five pages a sync of the year writes.
pub(crate) fn pages(s: &Setup) -> Vec<String> {
    let mut p: Vec<String> = QUARTERS.iter().map(|q| title(s, q)).collect();
    p.push(overview(s));
    p
}

/// `sync --json` (plus `args`), expecting exit `code`; the statistics.
pub(crate) fn sync(s: &Setup, args: &[&str], code: i32) -> Value {
    let mut all = vec!["sync", "--json"];
    all.extend_from_slice(args);
    let out = s.run(&all);
    assert_eq!(out.code, Some(code), "goalsbot {all:?}: {out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

pub(crate) fn n(stats: &Value, key: &str) -> u64 {
    stats[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {stats}"))
}

/// A year synced once with the deck's statuses imported: tables on every page.
pub(crate) fn synced(name: &str) -> Setup {
    let s = Setup::new(name, None);
    s.ok(&["import", deck().to_str().unwrap()]);
    let first = sync(&s, &[], 0);
    assert_eq!(
        n(&first, "edits"),
        5,
        "tables on 4 pages and the overview: {first}"
    );
    s
}

/// An export without one KR.
fn without(export: &Value, kr: &str) -> Value {
    let mut e = export.clone();
    for fy in e["fiscal_years"].as_array_mut().unwrap() {
        for o in fy["objectives"].as_array_mut().unwrap() {
            o["key_results"]
                .as_array_mut()
                .unwrap()
                .retain(|k| k["id"] != kr);
        }
    }
    e
}

pub(crate) fn status_of(s: &Setup, kr: &str, q: &str) -> Value {
    find_kr(&s.export(&[]), kr).unwrap()["quarters"][q]["status"].clone()
}

#[test]
fn no_op_sync_costs_one_request_and_changes_flow_both_ways() {
    let s = Setup::new("sync-economy", None);
    s.ok(&["import", deck().to_str().unwrap()]);
    let first = sync(&s, &[], 0);
    eprintln!("first sync: {first}");
    assert_eq!(n(&first, "pages_checked"), 5);
    assert_eq!(n(&first, "edits"), 5, "{first}");

    // A no-op sync: one batched revision check (⌈5/50⌉ = 1), nothing fetched, nothing saved.
    let w = test_wiki();
    let token = s.prefix.rsplit('/').next().unwrap().to_string();
    let before_all = w.request_lines().len();
    let before = w.requests_mentioning(&token).len();
    let noop = sync(&s, &[], 0);
    eprintln!("no-op sync: {noop}");
    assert_eq!(
        (
            n(&noop, "edits"),
            n(&noop, "html_fetches"),
            n(&noop, "api_requests")
        ),
        (0, 0, 1),
        "{noop}"
    );
    assert_eq!(n(&noop, "pages_changed"), 0, "{noop}");
    assert_eq!(n(&noop, "records_changed"), 0, "{noop}");
    let served = w.requests_mentioning(&token).split_off(before);
    assert_eq!(
        served.len(),
        1,
        "the wiki saw about these pages: {served:#?}"
    );
    assert!(served[0].contains("/api.php?"), "{served:#?}");
    // HTML is fetched by revision id, which no other test's pages share.
    let revids: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    let html: Vec<String> = w
        .request_lines()
        .split_off(before_all)
        .into_iter()
        .filter(|l| {
            revids
                .iter()
                .any(|r| l.contains(&format!("/revision/{r}/html")))
        })
        .collect();
    assert!(html.is_empty(), "{html:#?}");

    // A staff edit of one status cell flows into the store, and onto the
    // pages that show it (the other quarter pages' tables and the overview).
    let q3 = title(&s, "Q3");
    let edited = with_cell(&raw(&q3), KR2, "Q3", "At risk: hiring freeze");
    staff_save(&q3, &edited);
    let staff_rev = latest_revid(&q3);
    let one = sync(&s, &[], 0);
    eprintln!("one staff cell: {one}");
    assert_eq!(status_of(&s, KR2, "Q3"), "at-risk");
    assert!(n(&one, "records_changed") >= 1, "{one}");
    assert_eq!(
        n(&one, "edits"),
        4,
        "Q1, Q2, Q4 tables and the overview: {one}"
    );
    // 1 HTML fetch for the staff's revision, 1 per edited quarter page to learn its new state.
    assert_eq!(n(&one, "html_fetches"), 4, "{one}");
    // 1 revision check, 1 read of the staff's Q3 revision (planned too; the
    // four others are the bot's own revisions, whose text it kept and the
    // wiki's SHA-1 confirms), and for each of the 4 saves a look at the
    // shutoff page and the save; and the wikitext of the staff's Q3
    // revision for its notes' markup (the fixture links some).
    assert_eq!(n(&one, "api_requests"), 11, "{one}");
    assert!(
        bot_edits_since(&q3, staff_rev).is_empty(),
        "the bot left Q3 alone"
    );
    for q in ["Q1", "Q2", "Q4"] {
        assert_eq!(
            cell(&raw(&title(&s, q)), KR2, "Q3"),
            "At risk: hiring freeze"
        );
    }

    // A tracker edit flows onto every page that shows it.
    s.ok(&[
        "set",
        KR2,
        "--quarter",
        "Q4",
        "--status",
        "complete",
        "--note",
        "All hires in place",
    ]);
    let tracker = sync(&s, &[], 0);
    eprintln!("one tracker status: {tracker}");
    assert_eq!(n(&tracker, "edits"), 5, "{tracker}");
    assert_eq!(n(&tracker, "html_fetches"), 4, "{tracker}");
    // 1 revision check, 1 read of the staff's Q3 revision again (the bot
    // kept the text of its own four), 5 × (shutoff look, save).
    assert_eq!(n(&tracker, "api_requests"), 12, "{tracker}");
    for q in QUARTERS {
        assert_eq!(
            cell(&raw(&title(&s, q)), KR2, "Q4"),
            "Complete: All hires in place"
        );
        let (_, _, comment) = revisions(&title(&s, q)).remove(0);
        assert!(
            comment.contains("status of 1 KRs (Q4) from tracker (Story Tester) [run ")
                && comment.contains(tracker["run_id"].as_str().unwrap()),
            "{comment}"
        );
    }
    let again = sync(&s, &[], 0);
    assert_eq!(
        (
            n(&again, "edits"),
            n(&again, "html_fetches"),
            n(&again, "api_requests")
        ),
        (0, 0, 1)
    );
}

#[test]
fn a_no_op_sync_is_one_http_request_in_all_and_never_logs_in() {
    let s = synced("sync-one-request");
    // Every request the bot sends, whatever it is for, goes through this proxy.
    let p = crate::faults::through_proxy(&s);
    let w = test_wiki();
    let log_before = w.request_lines().len();
    let noop = sync(&s, &[], 0);
    assert_eq!(n(&noop, "api_requests"), 1, "{noop}");
    let seen = p.seen();
    assert_eq!(
        seen.len(),
        1,
        "a no-op sync asked the wiki more than its revision check: {seen:#?}"
    );
    assert_eq!(
        (seen[0].method.as_str(), seen[0].action.as_str()),
        ("GET", "query")
    );
    // The wiki's own request log agrees: one request line from the proxy's
    // connection (the log names each request's client port), a query.
    let ports: Vec<u16> = seen.iter().filter_map(|r| r.upstream_port).collect();
    let logged = wait_for_log_lines(w, log_before, &ports, 1);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert!(
        logged[0].contains("]: GET /api.php?") && logged[0].contains("action=query"),
        "{logged:#?}"
    );
    // The next one, with the same inputs, plans nothing either (and asks
    // the wiki the same once).
    quiet_sync(&s);
    assert_eq!(p.seen().len(), 2);
    // A change logs in for its save: the first request after the check is
    // mwbot's login, and the save is the bot's.
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let changed = sync(&s, &[], 0);
    assert!(n(&changed, "edits") >= 1, "{changed}");
    let seen = p.seen();
    assert!(
        seen.iter().any(|r| r.action == "login") && seen.iter().any(|r| r.action == "edit"),
        "{seen:#?}"
    );
}

/// Both sides change KR2's Q4 status and note: the tracker (`complete:
/// tracker says`) and a person on Q3 (`At risk: staff says`). Returns the
/// person's revision.
pub(crate) fn both_sides_change_kr2_q4(s: &Setup) -> u64 {
    let q3 = title(s, "Q3");
    s.ok(&[
        "set",
        KR2,
        "--quarter",
        "Q4",
        "--status",
        "complete",
        "--note",
        "tracker says",
    ]);
    staff_save(&q3, &with_cell(&raw(&q3), KR2, "Q4", "At risk: staff says"));
    latest_revid(&q3)
}

#[test]
fn both_sides_changed_is_held_for_a_person_and_resolve_settles_it() {
    let s = synced("sync-conflict");
    let q3 = title(&s, "Q3");
    let staff_rev = both_sides_change_kr2_q4(&s);

    let held = sync(&s, &[], 3);
    assert_eq!(n(&held, "conflicts"), 2, "status and note: {held}");
    assert_eq!(n(&held, "new_conflicts"), 2, "{held}");
    // The store keeps its value; the wiki keeps its text.
    assert_eq!(status_of(&s, KR2, "Q4"), "complete");
    assert!(
        bot_edits_since(&q3, staff_rev).is_empty(),
        "Q3 was overwritten"
    );
    assert_eq!(cell(&raw(&q3), KR2, "Q4"), "At risk: staff says");
    // Push leaves the field alone on the other pages too.
    for q in ["Q1", "Q2", "Q4"] {
        assert_ne!(
            cell(&raw(&title(&s, q)), KR2, "Q4"),
            "Complete: tracker says"
        );
    }
    // Listed, with both values; still pending on the next sync, which is a no-op.
    let list = s.run(&["conflicts", "--json"]);
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let status = list
        .iter()
        .find(|c| c["key"]["field"] == "quarters.Q4.status")
        .unwrap();
    assert_eq!(
        (status["wiki"].as_str(), status["store"].as_str()),
        (Some("at-risk"), Some("complete"))
    );
    let plain = s.ok(&["conflicts"]);
    assert!(plain.contains("resolve ID --take wiki|store"), "{plain}");
    // Still waiting, reported by the run before: exit 0 (no hourly mail).
    let still = sync(&s, &[], 0);
    assert_eq!(
        (n(&still, "conflicts"), n(&still, "edits")),
        (2, 0),
        "{still}"
    );

    // A person decides: the wiki's status, the store's note.
    let id = |c: &Value| c["id"].as_i64().unwrap().to_string();
    let note = list
        .iter()
        .find(|c| c["key"]["field"] == "quarters.Q4.note")
        .unwrap();
    let out = s.ok(&["resolve", &id(status), "--take", "wiki"]);
    assert!(out.contains("store takes the wiki's value"), "{out}");
    let out = s.ok(&["resolve", &format!("#{}", id(note)), "--take", "store"]);
    assert!(out.contains("the store keeps"), "{out}");
    let again = s.run(&["resolve", &id(status), "--take", "store"]);
    assert_eq!(again.code, Some(2), "{again:?}");
    assert!(
        again.stderr.contains("already resolved"),
        "{}",
        again.stderr
    );

    let done = sync(&s, &[], 0);
    assert_eq!(n(&done, "conflicts"), 0, "{done}");
    assert_eq!(status_of(&s, KR2, "Q4"), "at-risk");
    for q in QUARTERS {
        assert_eq!(
            cell(&raw(&title(&s, q)), KR2, "Q4"),
            "At risk: tracker says",
            "{q}"
        );
    }
    let quiet = sync(&s, &[], 0);
    assert_eq!(n(&quiet, "edits"), 0, "converged: {quiet}");
    let history = s.ok(&["conflicts", "--all"]);
    assert!(
        history.contains("resolved: wiki by Story Tester"),
        "{history}"
    );
}

/// Runs `sync` paused before its first save; `act` runs in the pause; then it goes on.
fn sync_with_save_in_between(s: &Setup, act: impl FnOnce()) -> (Option<i32>, Value) {
    let resume = s.dir.path().join("resume");
    let cmd = s.cmd(&["sync", "--json"]);
    let (code, stdout) = crate::tracker::act_in_pause(cmd, "push.before-save:1", &resume, act);
    let stats = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (code, stats)
}

#[test]
fn a_staff_save_between_read_and_write_is_merged_never_overwritten() {
    let s = synced("sync-race");
    let q1 = title(&s, "Q1");
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    // In the pause before the bot saves Q1, a person changes another KR's
    // cell there and a line of prose.
    const OTHER: &str = "2020-21/content-integrity/kr2";
    let (code, stats) = sync_with_save_in_between(&s, || {
        let text = with_cell(&raw(&q1), OTHER, "Q1", "Concerns: staff in the race").replacen(
            "\n",
            "\nA staff line saved while the bot was busy.\n",
            1,
        );
        staff_save(&q1, &text);
    });
    assert_eq!(code, Some(0), "{stats}");
    let now = raw(&q1);
    assert!(
        now.contains("A staff line saved while the bot was busy."),
        "{now}"
    );
    assert_eq!(cell(&now, OTHER, "Q1"), "Concerns: staff in the race");
    assert_eq!(cell(&now, KR2, "Q4"), "Complete");
    // The staff's cell reached the store and then the other pages.
    assert_eq!(status_of(&s, OTHER, "Q1"), "concerns");
    let after = sync(&s, &[], 0);
    assert_eq!(n(&after, "conflicts"), 0, "{after}");
    for q in QUARTERS {
        assert_eq!(
            cell(&raw(&title(&s, q)), OTHER, "Q1"),
            "Concerns: staff in the race",
            "{q}"
        );
    }
    assert_eq!(n(&sync(&s, &[], 0), "edits"), 0);
}

#[test]
fn a_staff_save_of_the_same_cell_between_read_and_write_is_held() {
    let s = synced("sync-race-same");
    let q1 = title(&s, "Q1");
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let (code, stats) = sync_with_save_in_between(&s, || {
        staff_save(
            &q1,
            &with_cell(&raw(&q1), KR2, "Q4", "Paused: staff in the race"),
        );
    });
    assert_eq!(code, Some(3), "{stats}");
    assert!(n(&stats, "conflicts") >= 1, "{stats}");
    // The person's text stands; the tracker keeps its value until someone decides.
    assert_eq!(cell(&raw(&q1), KR2, "Q4"), "Paused: staff in the race");
    assert_eq!(status_of(&s, KR2, "Q4"), "complete");
}

#[test]
fn a_blanked_page_is_refused_and_left_alone() {
    let s = synced("sync-blank");
    let before = s.export(&[]);
    let q2 = title(&s, "Q2");
    staff_save(&q2, "Blanked by a vandal.");
    let blank_rev = latest_revid(&q2);
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let stats = sync(&s, &[], 3);
    let refused = stats["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{stats}");
    assert_eq!(refused[0]["page"], q2.as_str());
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("no objectives"),
        "{stats}"
    );
    // Nothing from it reached the store (only the tracker's own edit differs).
    let now = s.export(&[]);
    assert_eq!(
        find_kr(&now, KR2).unwrap()["quarters"]["Q4"]["status"],
        "complete"
    );
    assert_eq!(without(&now, KR2), without(&before, KR2));
    // The bot did not touch the page; the other pages got the tracker edit.
    assert!(bot_edits_since(&q2, blank_rev).is_empty());
    assert_eq!(raw(&q2), "Blanked by a vandal.");
    assert_eq!(n(&stats, "edits"), 4, "Q1, Q3, Q4, overview: {stats}");
}

#[test]
fn dry_run_sync_shows_diffs_and_store_changes_and_writes_nothing() {
    let s = synced("sync-dry");
    let q3 = title(&s, "Q3");
    staff_save(&q3, &with_cell(&raw(&q3), KR2, "Q3", "Concerns: dry"));
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let store_before = s.export(&[]);
    let revs_before: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    let out = s.run(&["sync", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // The store change the pull would make, and the diffs the push would save.
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("quarters.Q3.status:") && l.ends_with("→ \"concerns\"")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("would edit"), "{}", out.stdout);
    assert!(
        out.stdout.contains("+| data-goalsbot-quarter=\"Q4\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("+| data-goalsbot-quarter=\"Q3\" style="),
        "the pulled cell on the other pages: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("dry run (nothing written)"),
        "{}",
        out.stdout
    );
    assert_eq!(s.export(&[]), store_before);
    let revs_after: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    assert_eq!(revs_before, revs_after);
    // The real run does what the dry run said.
    let real = sync(&s, &[], 0);
    assert_eq!(n(&real, "edits"), 5, "{real}");
}

/// Kills `sync` where `point` pauses it.
pub(crate) fn kill_at(s: &Setup, point: &str) {
    let mut cmd = s.cmd(&["sync"]);
    cmd.env("GOALSBOT_FAULT", format!("pause-at={point}"));
    crate::tracker::kill_when(cmd, &format!("goalsbot-fault: paused at {point}"));
}

#[test]
fn a_sync_killed_anywhere_converges_on_rerun_without_duplicate_edits() {
    // Inside the pull's store write, before a save, right after a save (before
    // the bot learned its new revision), and after the last quarter page.
    for point in [
        "store.apply:1",
        "push.before-save:2",
        "push.after-save:1",
        "push.after-save:4",
    ] {
        let s = synced(&format!("sync-kill-{}", point.replace([':', '.'], "-")));
        let q3 = title(&s, "Q3");
        staff_save(
            &q3,
            &with_cell(&raw(&q3), KR2, "Q3", "Concerns: before the kill"),
        );
        s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
        let marks: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
        kill_at(&s, point);
        let rerun = sync(&s, &[], 0);
        eprintln!("{point}: rerun {rerun}");
        // The state of an uninterrupted run…
        assert_eq!(status_of(&s, KR2, "Q3"), "concerns", "{point}");
        assert_eq!(status_of(&s, KR2, "Q4"), "complete", "{point}");
        for q in QUARTERS {
            let text = raw(&title(&s, q));
            assert_eq!(cell(&text, KR2, "Q4"), "Complete", "{point} {q}");
            assert_eq!(
                cell(&text, KR2, "Q3"),
                "Concerns: before the kill",
                "{point} {q}"
            );
        }
        // …with one bot edit per page that needed one, never two.
        for (t, mark) in pages(&s).iter().zip(&marks) {
            let edits = bot_edits_since(t, *mark);
            assert_eq!(edits.len(), 1, "{point}: {t}: {edits:#?}");
        }
        let quiet = sync(&s, &[], 0);
        assert_eq!(
            (n(&quiet, "edits"), n(&quiet, "html_fetches")),
            (0, 0),
            "{point}: {quiet}"
        );
    }
}

#[test]
fn sync_needs_a_login_except_for_a_dry_run() {
    let s = Setup::new("sync-anon", None);
    let anonymous = |args: &[&str]| {
        let mut cmd = s.cmd(args);
        cmd.env_remove("GOALSBOT_USERNAME")
            .env_remove("GOALSBOT_PASSWORD")
            .env("HOME", s.dir.path());
        crate::support::run(cmd)
    };
    let out = anonymous(&["sync"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("GOALSBOT_USERNAME"), "{}", out.stderr);
    let marks: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    let out = anonymous(&["sync", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("would edit"), "{}", out.stdout);
    let after: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    assert_eq!(marks, after);
    assert!(
        s.export(&[])["fiscal_years"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "a dry run stored nothing"
    );
}

#[test]
fn a_stop_pulled_during_a_push_holds_the_next_save_and_the_status_page() {
    // Hole 7c: the shutoff page was read once per sync.
    let s = synced("sync-stop-mid-push");
    let status_page = format!("{}/Bot status", s.prefix);
    let shutoff = format!("{}/Shutoff", s.prefix);
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let marks: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    let status_mark = latest_revid(&status_page);
    assert!(status_mark > 0, "the first sync wrote the status page");
    // Right after the bot saved Q1, a person pulls the emergency stop.
    let resume = s.dir.path().join("resume");
    let (code, stdout) =
        crate::tracker::act_in_pause(s.cmd(&["sync"]), "push.after-save:1", &resume, || {
            staff_save(&shutoff, "stop: something is wrong")
        });
    let p = pages(&s);
    assert_eq!(bot_edits_since(&p[0], marks[0]).len(), 1, "{stdout}");
    for (t, mark) in p.iter().zip(&marks).skip(1) {
        let edits = bot_edits_since(t, *mark);
        assert!(
            edits.is_empty(),
            "{t} saved after the stop: {edits:#?}\n{stdout}"
        );
    }
    assert!(
        bot_edits_since(&status_page, status_mark).is_empty(),
        "the status page was edited after the stop\n{stdout}"
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("STOPPED"), "{stdout}");
    for t in &p[1..] {
        assert!(
            stdout.contains(&format!("not saved {t}")),
            "the report names {t} as not saved:\n{stdout}"
        );
    }
    // With the stop lifted, the next sync saves the rest.
    staff_save(&shutoff, "run");
    let rest = sync(&s, &[], 0);
    assert_eq!(n(&rest, "edits"), 4, "Q2, Q3, Q4, overview: {rest}");
}

/// Issue 28 (runs that can be followed): Ctrl-C in the middle of a sync
/// stops it between two saves: the save in progress ends, no other starts,
/// the report says what was saved and what not, the run is recorded as
/// stopped (with its edit), and the exit code is 130. Before, the process
/// died at once, printing nothing, and the run stayed `running`.
#[test]
fn ctrl_c_stops_a_sync_between_two_saves_with_its_summary_and_a_stopped_run() {
    let s = synced("sync-ctrl-c");
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let marks: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    let resume = s.dir.path().join("resume");
    let (code, stdout, stderr) =
        crate::tracker::run_paused_pid(s.cmd(&["sync"]), "push.after-save:1", &resume, |pid| {
            let sent = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            // The handler prints its line before the pause ends.
            std::thread::sleep(std::time::Duration::from_millis(300));
        });
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Ctrl-C (SIGINT) received: stopping after the save in progress"),
        "{stderr}"
    );
    let p = pages(&s);
    assert_eq!(bot_edits_since(&p[0], marks[0]).len(), 1, "{stdout}");
    for (t, mark) in p.iter().zip(&marks).skip(1) {
        assert!(
            bot_edits_since(t, *mark).is_empty(),
            "{t} saved after Ctrl-C\n{stdout}"
        );
        assert!(stdout.contains(&format!("not saved {t}")), "{stdout}");
    }
    assert!(stdout.contains("STOPPED"), "{stdout}");
    let runs: Value = serde_json::from_str(&s.ok(&["runs", "--json", "--limit", "1"])).unwrap();
    let last = &runs[0];
    assert_eq!(last["state"], "stopped", "{runs:#}");
    assert_eq!(
        last["summary"]["edits"].as_array().map(Vec::len),
        Some(1),
        "{runs:#}"
    );
    // The next sync saves the rest.
    let rest = sync(&s, &[], 0);
    assert_eq!(n(&rest, "edits"), 4, "Q2, Q3, Q4, overview: {rest}");
}

#[test]
fn a_tracked_title_that_redirects_is_reported_and_never_written_through() {
    // Hole 7d: the bot followed redirects and wrote its region into the target.
    let s = synced("sync-redirect");
    let (q1, q2, ov) = (title(&s, "Q1"), title(&s, "Q2"), overview(&s));
    let de = format!("{ov}/de");
    let german = "Übersetzung der Jahresübersicht, von Hand gepflegt.\n";
    staff_save(&de, german);
    let ov_redirect = format!("#REDIRECT [[{de}]]\n");
    let q2_redirect = format!("#REDIRECT [[{q1}]]\n");
    staff_save(&ov, &ov_redirect);
    staff_save(&q2, &q2_redirect);
    let before = s.export(&[]);
    let q1_mark = latest_revid(&q1);
    let de_mark = latest_revid(&de);
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let out = s.run(&["sync", "--json"]);
    assert!(
        bot_edits_since(&de, de_mark).is_empty(),
        "the overview's region was written into the translation page its title redirects to:\n{}\n{out:?}",
        raw(&de)
    );
    let q1_edits = bot_edits_since(&q1, q1_mark);
    assert_eq!(
        q1_edits.len(),
        1,
        "Q1 is edited once, as itself: {q1_edits:#?}\n{out:?}"
    );
    assert_eq!(raw(&q2).trim_end(), q2_redirect.trim_end());
    assert_eq!(raw(&ov).trim_end(), ov_redirect.trim_end());
    assert_eq!(out.code, Some(3), "a redirect needs a person: {out:?}");
    let stats: Value = serde_json::from_str(&out.stdout).unwrap();
    for t in [&q2, &ov] {
        let r = stats["refused"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["page"] == t.as_str())
            .unwrap_or_else(|| panic!("{t} not reported: {stats}"));
        assert!(
            r["reason"].as_str().unwrap().contains("redirect"),
            "{stats}"
        );
    }
    // Nothing was pulled from Q2's target in Q2's name: the store changed only by the tracker edit.
    assert_eq!(without(&s.export(&[]), KR2), without(&before, KR2));
    let pulled = s.run(&["pull"]);
    assert_eq!(pulled.code, Some(3), "{pulled:?}");
    assert!(pulled.stdout.contains("redirect"), "{}", pulled.stdout);
}

/// The wiki's request log lines after the first `from` that came from
/// `ports`, once at least `want` of them are written (PHP's server logs a
/// request when it is done with it, which can be just after the bot has its
/// answer), and a moment more to see that no other follows.
pub(crate) fn wait_for_log_lines(
    w: &crate::support::wiki::TestWiki,
    from: usize,
    ports: &[u16],
    want: usize,
) -> Vec<String> {
    let lines = || w.requests_from_ports(from, ports);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lines().len() < want && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    lines()
}

/// The last line of a push's output: `run ID: N pages…, E edits; …`.
fn push_summary(s: &Setup) -> String {
    let out = s.run(&["push"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout.lines().last().unwrap_or_default().to_string()
}

/// A sync whose inputs are those a sync left when it found (or made)
/// nothing more to do: its revision check alone, nothing planned.
fn quiet_sync(s: &Setup) {
    let out = s.run(&["sync", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("nothing changed since the last sync that found nothing to do"),
        "{}",
        out.stderr
    );
    let stats: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (n(&stats, "api_requests"), n(&stats, "edits")),
        (1, 0),
        "{stats}"
    );
}

#[test]
fn a_year_nothing_changed_for_is_not_planned_again() {
    let s = synced("sync-year-check");
    // The first sync saved the year's five pages and checked them again
    // once saved: the first no-op after it plans nothing and asks the wiki
    // only its revision check.
    quiet_sync(&s);
    let quiet = push_summary(&s);
    assert!(
        quiet.contains("5 pages (5 not planned") && quiet.contains(", 0 edits"),
        "{quiet}"
    );
    // A tracker edit changes the year's inputs: the year is planned and
    // saved, then checked again as saved.
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let saved = push_summary(&s);
    assert!(
        saved.contains("5 pages, 5 edits") && !saved.contains("not planned"),
        "{saved}"
    );
    let quiet = push_summary(&s);
    assert!(
        quiet.contains("5 pages (5 not planned") && quiet.contains(", 0 edits"),
        "{quiet}"
    );
    // A person's edit of one page is a new revision: planned again, and the
    // other quarter pages get the person's status.
    let q3 = title(&s, "Q3");
    staff_save(&q3, &with_cell(&raw(&q3), KR2, "Q3", "At risk: staff"));
    let pulled = sync(&s, &[], 0);
    assert_eq!(n(&pulled, "edits"), 4, "{pulled}");
    for q in ["Q1", "Q2", "Q4"] {
        assert_eq!(cell(&raw(&title(&s, q)), KR2, "Q3"), "At risk: staff");
    }
    // The sync's saves were checked again: the next sync is its revision
    // check alone, and a push plans nothing.
    quiet_sync(&s);
    let quiet = push_summary(&s);
    assert!(
        quiet.contains("5 pages (5 not planned") && quiet.contains(", 0 edits"),
        "{quiet}"
    );
    // Someone saves over the bot's revision between two syncs: the year
    // is planned (and pulled) again, nothing of theirs is lost.
    let q1 = title(&s, "Q1");
    staff_save(&q1, &with_cell(&raw(&q1), KR2, "Q4", "At risk: late"));
    let pulled = sync(&s, &[], 0);
    assert!(n(&pulled, "pages_changed") >= 1, "{pulled}");
    for q in ["Q1", "Q2", "Q3", "Q4"] {
        assert_eq!(cell(&raw(&title(&s, q)), KR2, "Q4"), "At risk: late", "{q}");
    }
}

/// The wikitext the bot kept of its own save, with the revision's id.
fn kept_text(s: &Setup, title: &str) -> (u64, String) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = goalsbot::store::Store::open(&s.store_url).await.unwrap();
        let kept = store.saved_texts(&[title.to_string()]).await.unwrap();
        store.close().await;
        kept.get(title).cloned().expect("a kept text")
    })
}

#[test]
fn what_the_bot_saved_is_not_read_back_unless_the_wiki_holds_other_text() {
    let s = synced("sync-kept-text");
    // Every page is the bot's own revision now, its text kept.
    let q2 = title(&s, "Q2");
    let (revid, text) = kept_text(&s, &q2);
    assert_eq!(revid, latest_revid(&q2));
    assert_eq!(text, raw(&q2));

    // A tracker edit plans all five pages without reading one back:
    // 1 revision check, 5 × (shutoff look, save).
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "at-risk"]);
    let first = sync(&s, &[], 0);
    assert_eq!(
        (n(&first, "edits"), n(&first, "api_requests")),
        (5, 11),
        "{first}"
    );

    // The text kept for Q2 is not what the wiki holds (as when the wiki's
    // save transform changed the bot's text): the SHA-1 tells, Q2 is read
    // back, and its save is planned on the wiki's text, not on the kept one.
    let (revid, text) = kept_text(&s, &q2);
    let wrong = format!("TAMPERED LINE\n{text}");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = goalsbot::store::Store::open(&s.store_url).await.unwrap();
        store
            .set_saved_text(&q2, revid, &wrong, chrono::Utc::now())
            .await
            .unwrap();
        store.close().await;
    });
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let second = sync(&s, &[], 0);
    assert_eq!(
        (n(&second, "edits"), n(&second, "api_requests")),
        (5, 12),
        "{second}"
    );
    let now = raw(&q2);
    assert!(!now.contains("TAMPERED"), "{now}");
    assert!(cell(&now, KR2, "Q4").starts_with("Complete"), "{now}");
    // And what is kept now is the new save's text.
    assert_eq!(kept_text(&s, &q2), (latest_revid(&q2), now));
}

/// `goalsbot runs` lists the runs that finished last: a sync that saved five
/// pages shows each edit with its revision ids, as text and as JSON.
#[test]
fn runs_lists_the_last_runs_with_their_edits() {
    let s = synced("runs-list");
    let text = s.ok(&["runs", "--limit", "5"]);
    let head = text.lines().next().unwrap_or_default();
    assert!(
        head.contains(" sync ") && head.contains("  changed  "),
        "{text}"
    );
    let edits: Vec<&str> = text.lines().filter(|l| l.starts_with("  edit ")).collect();
    assert_eq!(edits.len(), 5, "{text}");
    // The four quarter pages edited, the overview created.
    let was = edits.iter().filter(|l| l.contains("(was r")).count();
    assert_eq!(was, 4, "{text}");
    let created = edits.iter().filter(|l| l.ends_with("(created)")).count();
    assert_eq!(created, 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&s.ok(&["runs", "--json"])).unwrap();
    let last = &json[0];
    let command = last["command"].as_str().unwrap_or_default();
    assert!(command.contains(" sync"), "{json:#}");
    assert_eq!(last["state"], "changed", "{json:#}");
    assert_eq!(
        last["summary"]["edits"].as_array().map(Vec::len),
        Some(5),
        "{json:#}"
    );
}
