//! The tracker story on a real store (SQLite always, MariaDB when the harness has it):
//! pull, set, import, history, as-of, removed and restored, a killed import.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use goalsbot::store::{Source, Store};
use serde_json::Value;

use crate::support::{
    deck, find_kr, mariadb::test_mariadb, page_text, run, test_wiki, Setup, QUARTERS,
};

const KR2: &str = "2020-21/front-line-defenses/kr2";

fn story(store_url: Option<String>) {
    let s = Setup::new("story", store_url);
    s.ok(&["pull"]);
    let pulled = s.export(&[]);
    assert_eq!(
        find_kr(&pulled, KR2).unwrap()["quarters"]["Q4"]["status"],
        "not-scheduled"
    );

    // A tracker edit; --as-of a time before it shows the old value.
    let before_set = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(20));
    let out = s.ok(&[
        "set",
        KR2,
        "--quarter",
        "Q4",
        "--status",
        "on-track",
        "--note",
        "Marseille go-live on track",
    ]);
    assert!(
        out.contains("changed 2 fields in 1 records as a tracker edit by Story Tester"),
        "{out}"
    );
    let now = s.export(&[]);
    assert_eq!(
        find_kr(&now, KR2).unwrap()["quarters"]["Q4"]["status"],
        "on-track"
    );
    assert_eq!(
        find_kr(&now, KR2).unwrap()["quarters"]["Q4"]["note"],
        "Marseille go-live on track"
    );
    let then = s.export(&["--as-of", &before_set.to_rfc3339()]);
    assert_eq!(
        then, pulled,
        "export --as-of before the set is the state after the pull"
    );

    // Bad input to set: exit 2 naming the valid choices, nothing changes.
    let bad = s.run(&[
        "set",
        "2020-21/front-line-defenses/kr9",
        "--quarter",
        "Q4",
        "--status",
        "on-track",
    ]);
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains("valid ids:") && bad.stderr.contains(KR2),
        "{}",
        bad.stderr
    );
    let bad = s.run(&["set", KR2, "--quarter", "Q4", "--status", "green"]);
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains("on-track, concerns, at-risk"),
        "{}",
        bad.stderr
    );
    assert_eq!(s.export(&[]), now);

    // History with provenance: wiki revisions by their author, the set by the operator.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let history = rt.block_on(async {
        let store = Store::open(&s.store_url).await.unwrap();
        let h = store.history(KR2).await.unwrap();
        store.close().await;
        h
    });
    assert!(history.iter().any(|h| matches!(&h.provenance.source,
        Source::Wiki { page, user, .. } if page.starts_with(&s.prefix) && user.as_deref() == Some("Admin"))));
    let set_entry = history
        .iter()
        .find(|h| h.key.field == "quarters.Q4.status" && h.new == Some(Value::from("on-track")))
        .expect("the set is in the history");
    assert_eq!(set_entry.old, Some(Value::from("not-scheduled")));
    match &set_entry.provenance.source {
        Source::Tracker { operator, command } => {
            assert_eq!(operator, "Story Tester");
            assert!(
                command.contains("set 2020-21/front-line-defenses/kr2"),
                "{command}"
            );
        }
        other => panic!("set recorded as {other:?}"),
    }

    // Import the review deck's status data.
    let out = s.ok(&["import", deck().to_str().unwrap()]);
    assert!(out.contains("tracker edit by Story Tester"), "{out}");
    // And a tracker note on content integrity's KR3 (its values in the deck
    // are what its pages say already).
    s.ok(&[
        "set",
        "2020-21/content-integrity/kr3",
        "--quarter",
        "Q4",
        "--note",
        "forum planned",
    ]);
    let imported = s.export(&[]);
    let pq3 = find_kr(&imported, "2020-21/production-quality/kr3").unwrap();
    assert_eq!(pq3["quarters"]["Q3"]["status"], "concerns");
    assert_eq!(pq3["year_goal"], "Code Review decision, 95% of traffic");
    // The deck says Q4 is not scheduled: the import (a later tracker edit) wins over the set.
    assert_eq!(
        find_kr(&imported, KR2).unwrap()["quarters"]["Q4"]["status"],
        "not-scheduled"
    );

    // A KR deleted on the wiki (from every quarter page that shows it) is
    // marked removed, and comes back with its values when restored.
    let is_kr3 = |l: &&str| l.contains("KR3") && l.contains("Coordinate and report quarterly");
    for q in QUARTERS {
        let text = page_text(q);
        assert_eq!(
            text.lines().filter(is_kr3).count(),
            1,
            "content integrity KR3 on the {q} page"
        );
        let without: Vec<&str> = text.lines().filter(|l| !is_kr3(l)).collect();
        test_wiki().load_pages(&[(&format!("{}/2020-21 {q}", s.prefix), &without.join("\n"))]);
    }
    // The tracker edited KR3 since the pages were last pulled: a tracker
    // edit must not vanish with its record, so the deletion waits for a person.
    let held = s.run(&["pull"]);
    assert_eq!(held.code, Some(3), "{held:?}");
    assert!(
        held.stdout
            .contains("CONFLICT 2020-21/content-integrity/kr3 removed"),
        "{}",
        held.stdout
    );
    let kept = s.export(&[]);
    assert!(find_kr(&kept, "2020-21/content-integrity/kr3").is_some());
    let list: Value = serde_json::from_str(&s.ok(&["conflicts", "--json"])).unwrap();
    let removal = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"]["record"] == "2020-21/content-integrity/kr3")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(removal["key"]["field"], "removed");
    s.ok(&["resolve", &removal["id"].to_string(), "--take", "wiki"]);
    let without = s.export(&[]);
    assert!(
        find_kr(&without, "2020-21/content-integrity/kr3").is_none(),
        "KR3 should be marked removed"
    );
    for q in QUARTERS {
        test_wiki().load_pages(&[(&format!("{}/2020-21 {q}", s.prefix), &page_text(q))]);
    }
    s.ok(&["pull"]);
    let restored = s.export(&[]);
    assert_eq!(
        find_kr(&restored, "2020-21/content-integrity/kr3"),
        find_kr(&imported, "2020-21/content-integrity/kr3"),
        "KR3 restored with its values"
    );

    // export → import into an empty store → export is byte-identical, JSON and CSV.
    let json = s.ok(&["export", "--format", "json"]);
    let csv = s.ok(&["export", "--format", "csv"]);
    let file = s.dir.path().join("export.json");
    std::fs::write(&file, &json).unwrap();
    let empty = Setup::new("story-empty", None);
    let mut cmd = empty.cmd(&["import", file.to_str().unwrap()]);
    cmd.env(
        "GOALSBOT_STORE_URL",
        format!(
            "sqlite://{}",
            empty.dir.path().join("fresh.sqlite").display()
        ),
    );
    assert_eq!(run(cmd).code, Some(0));
    for (format, want) in [("json", &json), ("csv", &csv)] {
        let mut cmd = empty.cmd(&["export", "--format", format]);
        cmd.env(
            "GOALSBOT_STORE_URL",
            format!(
                "sqlite://{}",
                empty.dir.path().join("fresh.sqlite").display()
            ),
        );
        let got = run(cmd);
        assert_eq!(&got.stdout, want, "{format} export after import differs");
    }
}

#[test]
fn story_on_sqlite() {
    story(None);
}

#[test]
fn story_on_mariadb() {
    let Some(db) = test_mariadb() else {
        eprintln!("MariaDB not installed and not required: skipping");
        return;
    };
    story(Some(db.fresh_database("story")));
}

/// Runs `cmd` paused at fault `point`; `act` runs in the pause; then it goes
/// on. Returns the exit code and stdout (it must not be killed after the pause).
pub(crate) fn act_in_pause(
    cmd: std::process::Command,
    point: &str,
    resume: &Path,
    act: impl FnOnce(),
) -> (Option<i32>, String) {
    let (code, stdout, stderr) = run_paused(cmd, point, resume, act);
    if code.is_none() {
        panic!("goalsbot was killed after the pause: {stderr}");
    }
    (code, stdout)
}

/// [`act_in_pause`], returning exit code, stdout and stderr whatever the end.
pub(crate) fn run_paused(
    cmd: std::process::Command,
    point: &str,
    resume: &Path,
    act: impl FnOnce(),
) -> (Option<i32>, String, String) {
    run_paused_pid(cmd, point, resume, |_| act())
}

/// [`run_paused`], the action given the paused process's id (to signal it).
pub(crate) fn run_paused_pid(
    mut cmd: std::process::Command,
    point: &str,
    resume: &Path,
    act: impl FnOnce(u32),
) -> (Option<i32>, String, String) {
    use std::io::{BufRead, BufReader};
    cmd.env("GOALSBOT_FAULT", format!("pause-at={point}"))
        .env("GOALSBOT_FAULT_RESUME", resume)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let marker = format!("goalsbot-fault: paused at {point}");
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let hit = line.contains(&marker);
        seen.push(line);
        if hit {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(&marker)),
        "goalsbot never paused at {point}: {seen:#?}"
    );
    act(child.id());
    std::fs::write(resume, "").unwrap();
    seen.extend(lines.map_while(Result::ok));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.code(), stdout, seen.join("\n"))
}

/// Starts goalsbot, waits for a line on stderr, SIGKILLs it there.
pub(crate) fn kill_when(mut cmd: std::process::Command, marker: &str) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let hit = line.contains(marker);
        seen.push(line);
        if hit {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return;
        }
    }
    let status = child.wait().unwrap();
    panic!("goalsbot ended ({status}) without reaching {marker:?}; stderr: {seen:#?}");
}

fn killed_import(store_url: Option<String>) {
    let s = Setup::new("killed-import", store_url);
    s.ok(&["pull"]);
    let before = s.ok(&["export", "--format", "json"]);
    let mut cmd = s.cmd(&["import", deck().to_str().unwrap()]);
    cmd.env("GOALSBOT_FAULT", "pause-at=store.apply:20");
    kill_when(cmd, "goalsbot-fault: paused at store.apply:20");
    let after = s.ok(&["export", "--format", "json"]);
    assert_eq!(
        before, after,
        "a killed import left part of itself in the store"
    );
    // And the store is usable: the same import, uninterrupted, goes through.
    let out = s.ok(&["import", deck().to_str().unwrap()]);
    assert!(out.contains("changed"), "{out}");
    assert_ne!(s.ok(&["export", "--format", "json"]), before);
}

#[test]
fn killed_import_leaves_the_store_as_before_on_sqlite() {
    killed_import(None);
}

#[test]
fn killed_import_leaves_the_store_as_before_on_mariadb() {
    let Some(db) = test_mariadb() else {
        eprintln!("MariaDB not installed and not required: skipping");
        return;
    };
    killed_import(Some(db.fresh_database("killed")));
}

#[test]
fn a_bad_import_file_names_the_place_and_changes_nothing() {
    let s = Setup::new("bad-import", None);
    s.ok(&["pull"]);
    let before = s.ok(&["export"]);
    let text = std::fs::read_to_string(deck())
        .unwrap()
        .replacen("\"on-track\"", "\"on-trak\"", 1);
    let file: &Path = &s.dir.path().join("bad.json");
    std::fs::write(file, text).unwrap();
    let out = s.run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("line"), "{}", out.stderr);
    assert!(
        out.stderr.contains("nothing was imported"),
        "{}",
        out.stderr
    );
    assert_eq!(s.ok(&["export"]), before);
}

#[test]
fn a_pull_killed_mid_page_leaves_that_page_unapplied_and_a_rerun_converges() {
    let s = Setup::new("killed-pull", None);
    let clean = Setup::new("killed-pull-clean", None);
    clean.ok(&["pull"]);
    let want = clean.export(&[]);

    // Killed inside the first page's store transaction: nothing of it may remain.
    let mut cmd = s.cmd(&["pull"]);
    cmd.env("GOALSBOT_FAULT", "pause-at=store.apply:30");
    kill_when(cmd, "goalsbot-fault: paused at store.apply:30");
    let after_kill = s.export(&[]);
    assert_eq!(
        after_kill["fiscal_years"].as_array().map_or(0, |a| a.len()),
        0,
        "half a page reached the store: {after_kill}"
    );
    let out = s.ok(&["pull"]);
    assert!(
        out.contains("4 pulled"),
        "the rerun pulls every page: {out}"
    );
    assert_eq!(
        s.export(&[]),
        want,
        "the rerun ends where an uninterrupted pull ends"
    );
}

#[test]
fn a_store_that_is_down_fails_with_exit_1_and_no_password() {
    let s = Setup::new("store-down", None);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("mysql://goalsbot:s3cr3t-pw@127.0.0.1:{port}/goalsbot");
    let mut cmd = s.cmd(&["pull"]);
    cmd.env("GOALSBOT_STORE_URL", &url);
    let out = run(cmd);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("127.0.0.1"),
        "the error names the store: {}",
        out.stderr
    );
    assert!(
        !out.all_output().contains("s3cr3t-pw"),
        "{}",
        out.all_output()
    );
}

/// The spreadsheet workflow starts with a file the bot wrote: importing an
/// export unchanged changes nothing, in CSV (which has no column for an
/// objective's managers, description or status: those stay as they are)
/// and in JSON (an empty list is what a record without the field exports).
fn export_imported_back(store_url: Option<String>) {
    let s = Setup::new("export-import", store_url);
    s.ok(&["pull"]);
    s.ok(&["import", deck().to_str().unwrap()]);
    s.ok(&["sync"]);
    let before = s.ok(&["export", "--format", "json"]);
    let now = chrono::Utc::now().to_rfc3339();
    for (format, as_of) in [("csv", None), ("json", None), ("json", Some(now.as_str()))] {
        let file = s.dir.path().join(format!("export.{format}"));
        let mut args = vec!["export", "--format", format];
        args.extend(as_of.iter().flat_map(|t| ["--as-of", *t]));
        std::fs::write(&file, s.ok(&args)).unwrap();
        let out = s.run(&["import", file.to_str().unwrap(), "--dry-run"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            out.stdout.contains("would change 0 fields in 0 records"),
            "{format}: {}",
            out.stdout
        );
        s.ok(&["import", file.to_str().unwrap()]);
        assert_eq!(s.ok(&["export", "--format", "json"]), before, "{format}");
    }
}

#[test]
fn an_export_imported_back_unchanged_changes_nothing_on_sqlite() {
    export_imported_back(None);
}

#[test]
fn an_export_imported_back_unchanged_changes_nothing_on_mariadb() {
    let Some(db) = test_mariadb() else {
        eprintln!("MariaDB not installed and not required: skipping");
        return;
    };
    export_imported_back(Some(db.fresh_database("roundtrip")));
}

/// A tracker edit says who made it: with no `GOALSBOT_OPERATOR` and no OS
/// user name (as in a Toolforge job), the bot's login name, never
/// "unknown operator".
#[test]
fn a_tracker_edit_without_an_operator_is_recorded_by_the_login_name() {
    let s = Setup::new("operator-name", None);
    s.ok(&["pull"]);
    let mut cmd = s.cmd(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    cmd.env_remove("GOALSBOT_OPERATOR")
        .env_remove("USER")
        .env_remove("LOGNAME");
    let out = run(cmd);
    assert_eq!(out.code, Some(0), "{out:?}");
    let login = test_wiki().username.clone();
    let name = login.split('@').next().unwrap().to_string();
    assert!(
        out.stdout.contains(&format!("tracker edit by {name}")),
        "{}",
        out.stdout
    );
    assert!(
        !out.all_output().contains("unknown"),
        "{}",
        out.all_output()
    );
}
