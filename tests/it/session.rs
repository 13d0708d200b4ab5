//! A session that heals (issue 15), on the real test wiki: the bot's session
//! is ended on the wiki (dropped from the session store) or its bot password
//! revoked while `watch` loops or `sync` saves. Each test logs in as a bot of
//! its own, so ending its sessions touches no other test's login.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::raw;
use crate::support::revisions;
use crate::support::test_wiki;
use crate::support::{deck, Setup, QUARTERS};
use crate::tracker::run_paused;
use crate::watch::{ask, requests_page, section, served, ALICE};

/// A bot account of the test's own: (name, password).
fn own_bot(what: &str) -> (String, String) {
    let name = format!("{what}{}", std::process::id());
    let password = test_wiki().create_bot(&name);
    (name, password)
}

fn as_bot(mut cmd: std::process::Command, bot: &(String, String)) -> std::process::Command {
    cmd.env("GOALSBOT_USERNAME", format!("{}@goalsbot", bot.0))
        .env("GOALSBOT_PASSWORD", &bot.1);
    cmd
}

/// A looping watcher (poll every second) whose stderr goes to `log`.
fn start_watch(s: &Setup, bot: &(String, String), log: &Path) -> Child {
    as_bot(s.cmd(&["watch", "--interval", "1"]), bot)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until `done` holds, or fails with the watcher's log.
fn wait_for(what: &str, log: &Path, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}; watch log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn answered(s: &Setup, heading: &str) -> bool {
    let page = raw(&requests_page(s));
    page.contains(&format!("== {heading} ==")) && section(&page, heading).contains("Run ")
}

fn stop(mut child: Child) -> Option<i32> {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().ok().and_then(|st| st.code())
}

#[test]
fn a_watcher_whose_session_ends_logs_in_again_and_answers_the_next_request() {
    let s = served("session-ends");
    let bot = own_bot("Sessioned");
    let log = s.dir.path().join("watch.err");
    let child = start_watch(&s, &bot, &log);
    // Logged in and serving: a first request is answered.
    ask(&s, ALICE, "Before", "{{goalsbot|push|2020-21}} ~~~~");
    wait_for(
        "the first request answered",
        &log,
        Duration::from_secs(120),
        || answered(&s, "Before"),
    );
    // The wiki forgets the watcher's session between two polls.
    let ended = test_wiki().end_sessions(&bot.0);
    assert!(ended >= 1, "the watcher had no session to end");
    ask(&s, ALICE, "After", "{{goalsbot|push|2020-21}} ~~~~");
    wait_for(
        "the request after the session ended answered",
        &log,
        Duration::from_secs(120),
        || answered(&s, "After"),
    );
    let by_bot = |s: &Setup| {
        revisions(&requests_page(s))
            .iter()
            .filter(|(_, user, _)| user == &bot.0)
            .count()
    };
    // The reply after the session ended was saved by the bot, logged in again.
    assert!(by_bot(&s) >= 2, "{:?}", revisions(&requests_page(&s)));
    assert_eq!(
        stop(child),
        Some(0),
        "the watcher kept running and stops cleanly"
    );
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(
        err.contains("no longer logged in")
            && err.contains(&format!("logged in again as {}", bot.0)),
        "{err}"
    );
    assert!(!err.contains(&bot.1), "the password was printed: {err}");
}

#[test]
fn a_watcher_whose_bot_password_is_revoked_exits_non_zero_within_one_poll() {
    let s = served("session-revoked");
    let bot = own_bot("Revoked");
    let log = s.dir.path().join("watch.err");
    let mut child = start_watch(&s, &bot, &log);
    ask(&s, ALICE, "Before", "{{goalsbot|push|2020-21}} ~~~~");
    wait_for(
        "the first request answered",
        &log,
        Duration::from_secs(120),
        || answered(&s, "Before"),
    );
    test_wiki().revoke_bot_password(&bot.0);
    // One poll a second: the next poll finds the session gone, cannot log in
    // again, and the watcher ends with an error (Kubernetes restarts it and
    // the jobs framework mails the failure).
    let mut code = None;
    wait_for("the watcher exits", &log, Duration::from_secs(60), || {
        code = child.try_wait().unwrap().map(|st| st.code());
        code.is_some()
    });
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(Some(1)), "{err}");
    assert!(
        err.contains(&format!("logging in again as {}@goalsbot failed", bot.0))
            && err.contains("Special:BotPasswords"),
        "{err}"
    );
    assert!(!err.contains(&bot.1), "the password was printed: {err}");
    let _ = child
        .stdout
        .take()
        .map(|mut o| o.read_to_end(&mut Vec::new()));
}

/// A sync paused before its `n`th save, where `act` happens to the bot's login.
fn sync_with_login_changed_before_save(
    name: &str,
    n: u32,
    act: impl FnOnce(&str),
) -> (Setup, (String, String), Option<i32>, String, String) {
    let s = Setup::new(name, None);
    s.ok(&["import", deck().to_str().unwrap()]);
    let bot = own_bot(if n == 1 { "SyncRevoked" } else { "SyncSession" });
    let resume = s.dir.path().join("resume");
    let cmd = as_bot(s.cmd(&["sync"]), &bot);
    let (code, stdout, stderr) = run_paused(cmd, &format!("wiki.before-edit:{n}"), &resume, || {
        act(&bot.0)
    });
    (s, bot, code, stdout, stderr)
}

#[test]
fn a_sync_whose_session_ends_before_a_save_logs_in_again_and_saves_every_page() {
    // The second save: the edit token is already known, so the wiki refuses
    // the save with `assertbotfailed` (a logged-out user has no bot right);
    // the bot asks who it is, logs in again and saves.
    let (s, bot, code, stdout, stderr) =
        sync_with_login_changed_before_save("sync-session-ends", 2, |name| {
            assert!(test_wiki().end_sessions(name) >= 1);
        });
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("refused, the bot has no bot right (assertbotfailed)")
            && stderr.contains(&format!("logged in again as {}@goalsbot", bot.0)),
        "{stderr}"
    );
    for q in QUARTERS {
        let title = format!("{}/2020-21 {q}", s.prefix);
        assert!(
            revisions(&title).iter().any(|(_, user, _)| user == &bot.0),
            "{title} was not saved by {}: {stdout}",
            bot.0
        );
    }
    assert!(!format!("{stdout}{stderr}").contains(&bot.1));
    // Nothing is left to do: the healed run saved what it meant to.
    let again = s.ok(&["sync"]);
    assert!(again.contains(" 0 edits;"), "{again}");
}

#[test]
fn a_sync_whose_bot_password_is_revoked_saves_nothing_more_and_exits_1() {
    let (s, bot, code, stdout, stderr) =
        sync_with_login_changed_before_save("sync-revoked", 1, |name| {
            test_wiki().revoke_bot_password(name);
        });
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}")
            .contains(&format!("logging in again as {}@goalsbot failed", bot.0)),
        "{stdout}\n{stderr}"
    );
    for q in QUARTERS {
        let title = format!("{}/2020-21 {q}", s.prefix);
        assert!(
            revisions(&title).iter().all(|(_, user, _)| user != &bot.0),
            "{title} was saved after the bot password was revoked"
        );
    }
    assert!(!format!("{stdout}{stderr}").contains(&bot.1));
}

/// Runs the jobs' health check script on `file` with `max_age` seconds.
fn health(file: &Path, max_age: u64) -> crate::support::Run {
    let script = crate::support::root().join("deploy/watch-health.sh");
    let out = std::process::Command::new("sh")
        .arg(script)
        .arg(file)
        .arg(max_age.to_string())
        .output()
        .unwrap();
    crate::support::Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_health_check_passes_while_the_watcher_beats_and_fails_when_it_stops_or_stalls() {
    let s = served("session-health");
    let beat = s.dir.path().join("watch.alive");
    let log = s.dir.path().join("watch.err");
    let child = s
        .cmd(&[
            "watch",
            "--interval",
            "1",
            "--heartbeat",
            beat.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("the heartbeat file", &log, Duration::from_secs(60), || {
        beat.exists()
    });
    let healthy = health(&beat, 60);
    assert_eq!(healthy.code, Some(0), "{healthy:?}");
    // Beats go on between and after polls (every 10 s, and after each poll).
    let first = std::fs::metadata(&beat).unwrap().modified().unwrap();
    wait_for("a later beat", &log, Duration::from_secs(30), || {
        std::fs::metadata(&beat)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > first)
    });
    let text = std::fs::read_to_string(&beat).unwrap();
    assert!(text.contains("last poll done at"), "{text}");
    // A heartbeat older than the limit (a stalled watcher) fails the check.
    let stale = s.dir.path().join("stale.alive");
    std::fs::copy(&beat, &stale).unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "-5 minutes"])
        .arg(&stale)
        .status()
        .unwrap();
    assert!(touched.success());
    let stalled = health(&stale, 60);
    assert_eq!(stalled.code, Some(1), "{stalled:?}");
    assert!(
        stalled.stderr.contains("the watcher is stuck"),
        "{stalled:?}"
    );
    // A watcher that stops takes its heartbeat with it.
    assert_eq!(stop(child), Some(0));
    assert!(!beat.exists());
    let gone = health(&beat, 60);
    assert_eq!(gone.code, Some(1), "{gone:?}");
    assert!(gone.stderr.contains("no heartbeat file"), "{gone:?}");
}
