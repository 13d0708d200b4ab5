//! One writing run at a time: the store's lease on the real wiki (issue 17).
//!
//! A second run meets a first that holds the lease (paused before its first
//! save by a fault point, so the two overlap for sure, not by luck), a run
//! killed with SIGKILL stops blocking when its lease expires.

use crate::support::{bot_edits_since, latest_revid};
use crate::support::{deck, Setup, QUARTERS};
use crate::tracker::{act_in_pause, kill_when};
use serde_json::Value;

/// Sets `[run]` in the setup's config: the lease's expiry and how long a run waits.
pub(crate) fn with_lease(s: &Setup, expiry_secs: u64, wait_secs: u64) {
    let cfg = std::fs::read_to_string(&s.cfg).unwrap();
    let cfg = match cfg.find("\n[run]\n") {
        Some(i) => cfg[..i].to_string(),
        None => cfg,
    };
    let cfg =
        format!("{cfg}\n[run]\nlease_expiry_secs = {expiry_secs}\nlease_wait_secs = {wait_secs}\n");
    std::fs::write(&s.cfg, cfg).unwrap();
}

/// The quarter pages and the overview of the setup's year.
fn titles(s: &Setup) -> Vec<String> {
    let mut t: Vec<String> = QUARTERS
        .iter()
        .map(|q| format!("{}/2020-21 {q}", s.prefix))
        .collect();
    t.push(format!("{}/2020-21", s.prefix));
    t
}

#[test]
fn two_syncs_started_together_one_runs_and_the_other_says_which_run_is_going() {
    let s = Setup::new("lease-two", None);
    s.ok(&["import", deck().to_str().unwrap()]);
    with_lease(&s, 60, 0);
    let before: Vec<u64> = titles(&s).iter().map(|t| latest_revid(t)).collect();
    let resume = s.dir.path().join("resume");
    let mut second = None;
    // The first holds the lease, paused right before its first save.
    let (code, out, err) = crate::tracker::run_paused(
        s.cmd(&["sync", "--json"]),
        "push.before-save:1",
        &resume,
        || second = Some(s.run(&["sync"])),
    );
    assert_eq!(code, Some(0), "the first sync: {out}\n{err}");
    let first: Value = serde_json::from_str(&out).unwrap();
    let run_id = first["run_id"].as_str().unwrap();
    assert_eq!(first["edits"], 5, "{first}");
    let second = second.unwrap();
    assert_eq!(
        second.code,
        Some(0),
        "a run that meets another is not a failure: {second:?}"
    );
    assert!(
        second
            .stdout
            .contains(&format!("another run is going: {run_id} (since ")),
        "{second:?}"
    );
    for (title, b) in titles(&s).iter().zip(before) {
        let edits = bot_edits_since(title, b);
        assert_eq!(edits.len(), 1, "{title}: exactly one bot edit: {edits:?}");
    }
}

#[test]
fn a_run_killed_with_sigkill_on_this_machine_is_taken_over_at_once() {
    let s = Setup::new("lease-killed", None);
    s.ok(&["import", deck().to_str().unwrap()]);
    with_lease(&s, 60, 0);
    let mut killed = s.cmd(&["sync"]);
    killed.env("GOALSBOT_FAULT", "pause-at=push.before-save:1");
    kill_when(killed, "goalsbot-fault: paused at push.before-save:1");
    // Its lease has not expired, but its process is gone: the next run,
    // which does not wait, takes it over and does the killed run's work.
    let next = s.run(&["sync", "--json"]);
    assert_eq!(next.code, Some(0), "{next:?}");
    assert!(next.stderr.contains("taking it over"), "{next:?}");
    let stats: Value = serde_json::from_str(&next.stdout).unwrap();
    assert_eq!(stats["edits"], 5, "{stats}");
    // And it gave the lease back: the next run starts at once.
    let after = s.run(&["sync", "--json"]);
    assert_eq!(after.code, Some(0), "{after:?}");
    let stats: Value = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(stats["edits"], 0, "{stats}");
}

/// A run killed on another machine (a Toolforge job's pod) cannot be seen
/// to be gone: its lease blocks until it expires — seconds, not an hour.
#[test]
fn a_lease_held_elsewhere_blocks_until_it_expires() {
    let s = Setup::new("lease-elsewhere", None);
    s.ok(&["import", deck().to_str().unwrap()]);
    let gone = "2026-01-01T00:00Z-dead";
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = goalsbot::store::Store::open(&s.store_url).await.unwrap();
        let now = chrono::Utc::now();
        let claim = goalsbot::store::LeaseClaim {
            run_id: gone,
            holder: "tools-k8s-worker-17:4242",
            command: "goalsbot sync",
            now,
            expires_at: now + chrono::Duration::seconds(4),
            replacing: None,
        };
        store.take_lease(&claim).await.unwrap().unwrap();
        store.close().await;
    });
    with_lease(&s, 60, 0);
    let busy = s.run(&["sync"]);
    assert_eq!(busy.code, Some(0), "{busy:?}");
    assert!(
        busy.stdout
            .contains(&format!("another run is going: {gone} (since ")),
        "{busy:?}"
    );
    // An edit someone asked for that could not run says so: exit 4, and
    // the store is as it was (issue 27, item 4).
    let before = s.export(&[]);
    let kr = before["fiscal_years"][0]["objectives"][0]["key_results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for args in [
        vec![
            "set",
            kr.as_str(),
            "--quarter",
            "Q2",
            "--status",
            "complete",
        ],
        vec!["import", deck().to_str().unwrap()],
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, Some(4), "{args:?}: {r:?}");
        assert!(r.stderr.contains("this command did not run"), "{r:?}");
    }
    assert_eq!(
        s.export(&[])["fiscal_years"],
        before["fiscal_years"],
        "nothing was written"
    );
    // A run that waits longer than what is left of it starts once it expired.
    with_lease(&s, 60, 30);
    let next = s.run(&["sync", "--json"]);
    assert_eq!(next.code, Some(0), "{next:?}");
    assert!(
        next.stderr.contains(&format!("waiting for run {gone}")),
        "{next:?}"
    );
    let stats: Value = serde_json::from_str(&next.stdout).unwrap();
    assert_eq!(stats["edits"], 5, "{stats}");
}

#[test]
fn dry_runs_and_reads_never_wait_for_the_lease() {
    let s = Setup::new("lease-readers", None);
    s.ok(&["import", deck().to_str().unwrap()]);
    with_lease(&s, 60, 0);
    let resume = s.dir.path().join("resume");
    let mut seen = Vec::new();
    let (code, _) = act_in_pause(s.cmd(&["sync"]), "push.before-save:1", &resume, || {
        for args in [
            &["sync", "--dry-run"][..],
            &["push", "--dry-run"],
            &["export", "--format", "json"],
            &["conflicts"],
        ] {
            let r = s.run(args);
            seen.push((args.join(" "), r));
        }
    });
    assert_eq!(code, Some(0));
    for (args, r) in seen {
        assert_eq!(r.code, Some(0), "{args}: {r:?}");
        assert!(
            !r.stdout.contains("another run is going"),
            "{args} waited for the lease: {r:?}"
        );
    }
}

/// A run frozen (SIGSTOP) longer than its lease's expiry loses the lease to
/// the next run, which does the work; woken again, the frozen run saves
/// nothing more and exits 1 saying why: never two writers on one page.
#[test]
fn a_run_frozen_past_its_lease_saves_nothing_once_another_took_over() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let s = Setup::new("lease-frozen", None);
    s.ok(&["import", deck().to_str().unwrap()]);
    with_lease(&s, 2, 30);
    let before: Vec<u64> = titles(&s).iter().map(|t| latest_revid(t)).collect();
    let resume = s.dir.path().join("resume");
    let mut cmd = s.cmd(&["sync"]);
    cmd.env("GOALSBOT_FAULT", "pause-at=push.before-save:1")
        .env("GOALSBOT_FAULT_RESUME", &resume)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut frozen = cmd.spawn().unwrap();
    let mut lines = BufReader::new(frozen.stderr.take().unwrap()).lines();
    let mut err: Vec<String> = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let hit = line.contains("goalsbot-fault: paused at push.before-save:1");
        err.push(line);
        if hit {
            break;
        }
    }
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &frozen.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    // Its lease expires (its process is alive, only frozen: no take-over at
    // once); the next run waits for that, then does the work.
    let next = s.run(&["sync", "--json"]);
    assert_eq!(next.code, Some(0), "{next:?}");
    let stats: Value = serde_json::from_str(&next.stdout).unwrap();
    assert_eq!(stats["edits"], 5, "{stats}");
    signal("-CONT");
    // Its heartbeat finds the lease gone; then it goes on to its first save.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::fs::write(&resume, "").unwrap();
    err.extend(lines.map_while(Result::ok));
    let out = frozen.wait_with_output().unwrap();
    let err = err.join("\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    // Each page it would have saved fails for that reason: no save was tried.
    assert!(
        stdout.contains("it saved nothing more") && !stdout.contains("edited "),
        "{stdout}\n{err}"
    );
    for (title, b) in titles(&s).iter().zip(before) {
        let edits = bot_edits_since(title, b);
        assert_eq!(edits.len(), 1, "{title}: exactly one bot edit: {edits:?}");
    }
}
