//! `watch` on the real test wiki, with several wiki users created by the test:
//! who may ask (from the revision, not the signature), replies, exactly once
//! across kills, the shutoff page, the status page.

use std::process::Stdio;

use crate::support::test_wiki;
use crate::support::{deck, Setup, QUARTERS};
use crate::support::{latest_revid, raw};

const KR2: &str = "2020-21/front-line-defenses/kr2";
pub(crate) const ALICE: &str = "Alice Allowed";
pub(crate) const CAROL: &str = "Carol Listed";
pub(crate) const MALLORY: &str = "Mallory Notallowed";

/// A year synced once, a command page with its documentation, an allow-list page.
pub(crate) fn served(name: &str) -> Setup {
    let s = Setup::new(name, None);
    let w = test_wiki();
    for u in [ALICE, CAROL, MALLORY] {
        w.create_user(u, "a-long-test-password-1");
    }
    let cfg = std::fs::read_to_string(&s.cfg).unwrap().replace(
        "[commands]\n",
        &format!(
            "[commands]\npage = \"{p}/Bot requests\"\nallowed_users = [\"{ALICE}\"]\n\
             allowlist_page = \"{p}/Allowed\"\n",
            p = s.prefix
        ),
    );
    std::fs::write(&s.cfg, cfg).unwrap();
    w.load_pages(&[
        (
            &format!("{}/Bot requests", s.prefix),
            "Ask the bot here: add a section with <nowiki>{{goalsbot|sync}}</nowiki>.\n\n\
             == An old request ==\n{{goalsbot|sync}} written before the bot watched the page\n",
        ),
        (
            &format!("{}/Allowed", s.prefix),
            &format!("* [[User:{CAROL}]]\n"),
        ),
    ]);
    w.protect(&format!("{}/Allowed", s.prefix));
    s.ok(&["import", deck().to_str().unwrap()]);
    s.ok(&["sync"]);
    // The first watch notes where the page stands: the old request is not run.
    let before = raw(&requests_page(&s));
    let first = s.ok(&["watch", "--once"]);
    assert!(first.contains("0 new requests, 0 answered"), "{first}");
    assert_eq!(raw(&requests_page(&s)), before);
    s
}

pub(crate) fn requests_page(s: &Setup) -> String {
    format!("{}/Bot requests", s.prefix)
}

/// `user` adds a section to the command page (a revision by them).
pub(crate) fn ask(s: &Setup, user: &str, heading: &str, body: &str) {
    let page = requests_page(s);
    let text = format!("{}\n\n== {heading} ==\n{body}\n", raw(&page));
    test_wiki().edit_as(user, &page, &text);
}

pub(crate) fn watch_once(s: &Setup) -> String {
    s.ok(&["watch", "--once"])
}

/// The text of the section under `heading`.
pub(crate) fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("== {heading} =="))
        .unwrap_or_else(|| panic!("no section {heading}:\n{text}"));
    let rest = &text[start..];
    let end = rest[3..].find("\n== ").map(|i| i + 3).unwrap_or(rest.len());
    &rest[..end]
}

pub(crate) fn kr2_q4_everywhere(s: &Setup) -> Vec<bool> {
    QUARTERS
        .iter()
        .map(|q| {
            let text = raw(&format!("{}/2020-21 {q}", s.prefix));
            let mut in_row = false;
            text.lines().any(|l| {
                if l.starts_with("|-") {
                    in_row = l.contains(KR2);
                }
                in_row && l.contains("data-goalsbot-quarter=\"Q4\"") && l.ends_with("| Complete")
            })
        })
        .collect()
}

#[test]
fn requests_are_run_refused_or_corrected_by_who_wrote_them_and_answered_once() {
    let s = served("watch-story");
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    // Mallory forges Alice's signature: the revision says Mallory wrote it.
    ask(
        &s,
        MALLORY,
        "Please sync",
        &format!("{{{{goalsbot|sync}}}} [[User:{ALICE}|{ALICE}]] 10:00, 1 January 2021 (UTC)"),
    );
    ask(&s, ALICE, "Sync the year", "{{goalsbot|sync|2020-21}} ~~~~");
    ask(&s, ALICE, "Typo", "{{goalsbot|snyc}} ~~~~");
    ask(&s, CAROL, "Pull Q3", "{{goalsbot|pull|2020-21 Q3}} ~~~~");

    let out = watch_once(&s);
    assert!(out.contains("4 new requests, 4 answered"), "{out}");
    let page = raw(&requests_page(&s));

    let forged = section(&page, "Please sync");
    assert!(forged.contains("goalsbot-reply:"), "{forged}");
    assert!(
        forged.contains(&format!("[[User:{ALICE}|{ALICE}]]")),
        "names who may ask: {forged}"
    );
    assert!(
        forged.contains(&format!("{}/Allowed", s.prefix)),
        "{forged}"
    );
    assert!(
        !forged.contains("Run "),
        "nothing ran for Mallory: {forged}"
    );

    let sync = section(&page, "Sync the year");
    let run_id = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ-[0-9a-f]{4}")
        .unwrap()
        .find(sync)
        .unwrap_or_else(|| panic!("no run id in the reply: {sync}"))
        .as_str()
        .to_string();
    assert!(
        sync.contains("[[User:GoalsBot"),
        "signed by the bot: {sync}"
    );
    assert!(sync.contains("Special:Diff/"), "diff links: {sync}");
    assert_eq!(
        kr2_q4_everywhere(&s),
        [true; 4],
        "the tracker change is on every page"
    );

    let typo = section(&page, "Typo");
    assert!(
        typo.contains("<nowiki>{{goalsbot|sync}}</nowiki>"),
        "shows the syntax: {typo}"
    );
    assert!(typo.contains("snyc"), "{typo}");

    let pull = section(&page, "Pull Q3");
    assert!(
        pull.contains("goalsbot-reply:") && pull.contains("Run "),
        "{pull}"
    );

    // Each request answered exactly once; a second watch answers nothing and edits nothing.
    assert_eq!(page.matches("goalsbot-reply:").count(), 4, "{page}");
    let before = raw(&requests_page(&s));
    let again = watch_once(&s);
    assert!(again.contains("0 new requests, 0 answered"), "{again}");
    assert_eq!(raw(&requests_page(&s)), before);

    // The status page says what the last runs did, with the sync's run id.
    let status = raw(&format!("{}/Bot status", s.prefix));
    assert!(status.contains("maintained by"), "{status}");
    assert!(status.contains(&run_id), "{status}");

    // doctor checks the command pages: the stop says run, who may ask.
    let doctor = s.run(&["doctor"]);
    assert!(
        doctor
            .stdout
            .contains(&format!("{}/Shutoff says run", s.prefix)),
        "{doctor:?}"
    );
    assert!(
        doctor.stdout.contains(&format!("{ALICE}, {CAROL}")),
        "{}",
        doctor.stdout
    );
}

/// Runs `watch --once` and SIGKILLs it where `point` pauses it.
fn kill_watch_at(s: &Setup, point: &str) {
    let mut cmd = s.cmd(&["watch", "--once"]);
    cmd.env("GOALSBOT_FAULT", format!("pause-at={point}"));
    crate::tracker::kill_when(cmd, &format!("goalsbot-fault: paused at {point}"));
}

#[test]
fn a_watcher_killed_anywhere_answers_each_request_once_after_restart() {
    let s = served("watch-kill");
    for (i, point) in ["watch.claimed:1", "watch.replied:1"].iter().enumerate() {
        let heading = format!("Push please {i}");
        ask(&s, ALICE, &heading, "{{goalsbot|push|2020-21}} ~~~~");
        kill_watch_at(&s, point);
        let out = watch_once(&s);
        let page = raw(&requests_page(&s));
        let sec = section(&page, &heading);
        assert_eq!(
            sec.matches("goalsbot-reply:").count(),
            1,
            "{point}: {sec}\n{out}"
        );
        if point.starts_with("watch.replied") {
            assert!(out.contains("1 found answered already"), "{point}: {out}");
        } else {
            assert!(out.contains("1 answered"), "{point}: {out}");
        }
        assert!(watch_once(&s).contains("0 new requests, 0 answered"));
    }
}

#[test]
fn the_shutoff_page_stops_answers_and_edits_until_it_says_run() {
    let s = served("watch-shutoff");
    let shutoff = format!("{}/Shutoff", s.prefix);
    test_wiki().load_pages(&[(&shutoff, "stop: the bot broke the tables")]);
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    ask(&s, ALICE, "Sync now", "{{goalsbot|sync}} ~~~~");
    let before_page = raw(&requests_page(&s));

    let out = watch_once(&s);
    assert!(out.contains("STOPPED"), "{out}");
    assert_eq!(raw(&requests_page(&s)), before_page, "nothing answered");
    let sync = s.ok(&["sync"]);
    assert!(sync.contains("STOPPED"), "{sync}");
    assert_eq!(kr2_q4_everywhere(&s), [false; 4], "nothing edited");

    test_wiki().load_pages(&[(&shutoff, "run")]);
    let out = watch_once(&s);
    assert!(out.contains("1 new requests, 1 answered"), "{out}");
    assert_eq!(kr2_q4_everywhere(&s), [true; 4]);
    assert_eq!(
        raw(&requests_page(&s)).matches("goalsbot-reply:").count(),
        1
    );
}

#[test]
fn a_request_while_another_run_is_going_gets_a_pointer_to_it() {
    let s = served("watch-busy");
    // A tracker edit for the requested sync to write (made before the other
    // run takes the lease: an edit asked for while it holds it does not run).
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    // The hourly sync (another process on the same store) is running.
    let busy = "2026-01-01T00:00Z-beef";
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = goalsbot::store::Store::open(&s.store_url).await.unwrap();
        // It holds the writer's lease (one writing run at a time).
        let now = chrono::Utc::now();
        let claim = goalsbot::store::LeaseClaim {
            run_id: busy,
            holder: "tools-sgeexec:4242",
            command: "goalsbot sync",
            now,
            expires_at: now + chrono::Duration::minutes(10),
            replacing: None,
        };
        store.take_lease(&claim).await.unwrap().unwrap();
        store.close().await;
    });
    ask(&s, ALICE, "Sync while busy", "{{goalsbot|sync}} ~~~~");
    let out = watch_once(&s);
    assert!(
        out.contains(&format!("already running: run {busy}")),
        "{out}"
    );
    let page = raw(&requests_page(&s));
    let sec = section(&page, "Sync while busy");
    assert!(
        sec.contains(busy) && sec.contains("goalsbot-reply:"),
        "{sec}"
    );
    assert_eq!(kr2_q4_everywhere(&s), [false; 4], "nothing ran");
}

/// One writing run at a time (issue 17): a sync started from the command
/// line while `watch` runs a requested sync is told which run is going and
/// does nothing; every page shows the change through exactly one bot edit.
#[test]
fn a_sync_started_while_watch_runs_a_requested_sync_says_which_run_is_going() {
    let s = served("watch-lease");
    crate::lease::with_lease(&s, 60, 0);
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let pages: Vec<String> = QUARTERS
        .iter()
        .map(|q| format!("{}/2020-21 {q}", s.prefix))
        .collect();
    let before: Vec<u64> = pages.iter().map(|t| latest_revid(t)).collect();
    ask(&s, ALICE, "Sync now", "{{goalsbot|sync}} ~~~~");
    let resume = s.dir.path().join("resume");
    let mut cli = None;
    // The watcher's sync holds the lease, paused before its first save.
    let (code, out) = crate::tracker::act_in_pause(
        s.cmd(&["watch", "--once"]),
        "push.before-save:1",
        &resume,
        || cli = Some(s.run(&["sync"])),
    );
    assert_eq!(code, Some(0), "{out}");
    let cli = cli.unwrap();
    assert_eq!(cli.code, Some(0), "{cli:?}");
    let watched = runs_of(&s, "sync");
    let named = watched.iter().any(|r| {
        cli.stdout
            .contains(&format!("another run is going: {r} (since "))
    });
    assert!(named, "the watcher's run {watched:?} is named: {cli:?}");
    assert_eq!(kr2_q4_everywhere(&s), [true; 4]);
    for (title, b) in pages.iter().zip(before) {
        let edits = crate::support::bot_edits_since(title, b);
        assert_eq!(edits.len(), 1, "{title}: exactly one bot edit: {edits:?}");
    }
}

#[test]
fn a_failed_request_says_so_and_the_status_page_looks_different_until_fixed() {
    let s = served("watch-failed");
    let status_title = format!("{}/Bot status", s.prefix);
    assert!(
        raw(&status_title).contains("✎ Changed"),
        "after the first sync"
    );
    // The Q3 page exists: new-quarter refuses, the run fails.
    ask(
        &s,
        ALICE,
        "New Q3",
        "{{goalsbot|new-quarter|2020-21 Q3}} ~~~~",
    );
    let out = watch_once(&s);
    assert!(out.contains("1 answered"), "{out}");
    let page = raw(&requests_page(&s));
    let sec = section(&page, "New Q3");
    assert!(
        sec.contains("Failed") && sec.contains("already exists"),
        "{sec}"
    );
    let status = raw(&status_title);
    assert!(
        status.contains("✖ Failed") && status.contains("already exists"),
        "{status}"
    );
    assert!(!status.contains("'''✎ Changed'''"), "{status}");
    // The next run with nothing to do shows that all is well again.
    ask(&s, ALICE, "Sync", "{{goalsbot|sync}} ~~~~");
    watch_once(&s);
    let status = raw(&status_title);
    assert!(status.contains("'''✓ Nothing to do'''"), "{status}");
}

#[test]
fn requests_over_the_rate_limit_wait_and_sigterm_stops_the_watcher_cleanly() {
    let s = served("watch-limit");
    let cfg = std::fs::read_to_string(&s.cfg).unwrap().replace(
        "[commands]\n",
        "[commands]\nmax_requests_per_user_per_hour = 1\n",
    );
    std::fs::write(&s.cfg, cfg).unwrap();
    ask(&s, ALICE, "First", "{{goalsbot|push|2020-21}} ~~~~");
    ask(&s, ALICE, "Second", "{{goalsbot|push|2020-21}} ~~~~");
    let out = watch_once(&s);
    assert!(out.contains("2 new requests, 2 answered"), "{out}");
    assert!(out.contains("rate limited"), "{out}");
    let page = raw(&requests_page(&s));
    assert!(section(&page, "First").contains("Run "), "{page}");
    assert!(!section(&page, "Second").contains("Run "), "{page}");

    // The looping watcher stops on SIGTERM between polls, with exit 0.
    let mut child = s
        .cmd(&["watch", "--interval", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "watch did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("stopping: signal received"), "{err}");
}

#[test]
fn the_shutoff_page_pulled_between_two_requests_stops_the_second() {
    let s = served("watch-shutoff-mid");
    ask(&s, ALICE, "One", "{{goalsbot|push|2020-21}} ~~~~");
    ask(&s, ALICE, "Two", "{{goalsbot|push|2020-21}} ~~~~");
    let resume = s.dir.path().join("resume");
    let cmd = s.cmd(&["watch", "--once"]);
    let (code, stdout) = crate::tracker::act_in_pause(cmd, "watch.replied:1", &resume, || {
        // An admin pulls the emergency stop while the first request is being answered.
        test_wiki().load_pages(&[(&format!("{}/Shutoff", s.prefix), "stop")]);
    });
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("STOPPED"), "{stdout}");
    let page = raw(&requests_page(&s));
    assert_eq!(section(&page, "One").matches("goalsbot-reply:").count(), 1);
    assert_eq!(
        section(&page, "Two").matches("goalsbot-reply:").count(),
        0,
        "{page}"
    );
}

/// The run ids of the finished or running runs whose command is `command`.
fn runs_of(s: &Setup, command: &str) -> Vec<String> {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = goalsbot::store::Store::open(&s.store_url).await.unwrap();
        let runs = store.recent_runs(100).await.unwrap();
        store.close().await;
        runs.into_iter()
            .filter(|r| r.command == command)
            .map(|r| r.run_id)
            .collect()
    })
}

/// Hole 5: a refused request whose reply marker is deleted, then the page
/// blanked and the blanking reverted by an allowed user, stays the refused
/// user's request: nothing runs on the reverter's name.
#[test]
fn a_refused_request_restored_by_an_allowed_users_revert_is_not_run_on_their_name() {
    let s = served("watch-revert");
    let page = requests_page(&s);
    ask(&s, MALLORY, "Push it", "{{goalsbot|push|2020-21}} ~~~~");
    let out = watch_once(&s);
    assert!(out.contains("refused"), "{out}");
    // Mallory deletes the marker of the refusal, then blanks the page.
    let without_marker = regex::Regex::new(r"<!-- goalsbot-reply: [^>]*-->")
        .unwrap()
        .replace_all(&raw(&page), "")
        .into_owned();
    test_wiki().edit_as(MALLORY, &page, &without_marker);
    test_wiki().edit_as(MALLORY, &page, "");
    // Alice reverts the blanking: the text of Mallory's marker-less revision comes back.
    test_wiki().edit_as(ALICE, &page, &without_marker);
    let before = raw(&page);
    let out = watch_once(&s);
    assert!(out.contains("0 new requests, 0 answered"), "{out}");
    assert_eq!(raw(&page), before, "nothing answered again");
    assert!(runs_of(&s, "push 2020-21").is_empty(), "nothing ran");
}

/// Hole 5: a revision whose text was hidden (revision deletion) is skipped;
/// the next one is compared with the last visible one, so the requests
/// already on the page do not look new.
#[test]
fn a_hidden_revision_does_not_make_older_requests_look_new() {
    let s = served("watch-hidden");
    let page = requests_page(&s);
    let text = raw(&page);
    test_wiki().edit_as(CAROL, &page, &format!("{text}\nSome spam\n"));
    test_wiki().hide_revision(latest_revid(&page));
    test_wiki().edit_as(CAROL, &page, &format!("{text}\nA note\n"));
    let before = raw(&page);
    let mut cmd = s.cmd(&["watch", "--once"]);
    cmd.env("RUST_LOG", "goalsbot=info");
    let run = crate::support::run(cmd);
    assert!(run.stdout.contains("0 new requests, 0 answered"), "{run:?}");
    assert!(
        run.stderr.contains("hidden text is skipped"),
        "{}",
        run.stderr
    );
    assert_eq!(raw(&page), before, "nothing answered");
    assert!(runs_of(&s, "sync").len() <= 1, "only the setup's sync ran");
}

/// Hole 6: a reply that cannot be saved (the command page got protected) is
/// tried again on later polls without running the action again.
#[test]
fn a_reply_that_cannot_be_saved_is_retried_without_running_the_action_again() {
    let s = served("watch-protected");
    let page = requests_page(&s);
    ask(&s, ALICE, "Push now", "{{goalsbot|push|2020-21}} ~~~~");
    test_wiki().protect(&page);
    for _ in 0..2 {
        s.run(&["watch", "--once"]);
    }
    assert_eq!(runs_of(&s, "push 2020-21").len(), 1, "the action ran once");
    test_wiki().unprotect(&page);
    let out = watch_once(&s);
    assert!(out.contains("1 answered"), "{out}");
    let runs = runs_of(&s, "push 2020-21");
    assert_eq!(runs.len(), 1, "the action ran once: {runs:?}");
    let text = raw(&page);
    let sec = section(&text, "Push now");
    assert_eq!(sec.matches("goalsbot-reply:").count(), 1, "{sec}");
    assert!(sec.contains(&runs[0]), "the reply names the one run: {sec}");
    assert!(watch_once(&s).contains("0 new requests, 0 answered"));
}

/// Hole 6: a reply that never saves is given up after a few polls, with a
/// log line and a note on the status page; the action ran once.
#[test]
fn a_reply_that_never_saves_is_given_up_with_a_note_on_the_status_page() {
    let s = served("watch-giveup");
    let page = requests_page(&s);
    ask(&s, ALICE, "Push now", "{{goalsbot|push|2020-21}} ~~~~");
    let id = format!("r{}-0", latest_revid(&page));
    test_wiki().protect(&page);
    let mut err = String::new();
    for _ in 0..5 {
        err.push_str(&s.run(&["watch", "--once"]).stderr);
    }
    assert_eq!(runs_of(&s, "push 2020-21").len(), 1, "the action ran once");
    assert!(err.contains("giving up"), "{err}");
    let status = raw(&format!("{}/Bot status", s.prefix));
    assert!(
        status.contains("could not be saved") && status.contains(&id),
        "{status}"
    );
    let last = s.run(&["watch", "--once"]);
    assert!(
        last.stdout.contains("0 new requests, 0 answered"),
        "{last:?}"
    );
    assert!(
        !last.stderr.contains("giving up"),
        "given up once: {last:?}"
    );
}

/// Hole 7a: a hand-pasted reply marker does not swallow a pending request.
#[test]
fn a_pasted_reply_marker_does_not_swallow_a_pending_request() {
    let s = served("watch-pasted");
    let page = requests_page(&s);
    ask(&s, ALICE, "Push please", "{{goalsbot|push|2020-21}} ~~~~");
    let id = format!("r{}-0", latest_revid(&page));
    let text = raw(&page);
    test_wiki().edit_as(
        MALLORY,
        &page,
        &format!("{}\n<!-- goalsbot-reply: {id} -->\n", text.trim_end()),
    );
    let out = watch_once(&s);
    assert!(out.contains("1 new requests, 1 answered"), "{out}");
    assert_eq!(runs_of(&s, "push 2020-21").len(), 1, "the request ran");
    let text = raw(&page);
    assert!(section(&text, "Push please").contains("Run "), "{text}");
}

/// Hole 7b: a heading typo fixed before the next poll does not make the
/// request a second one.
#[test]
fn a_heading_fixed_before_the_poll_claims_the_request_once() {
    let s = served("watch-typo");
    let page = requests_page(&s);
    ask(&s, ALICE, "Psuh please", "{{goalsbot|push|2020-21}} ~~~~");
    let fixed = raw(&page).replace("== Psuh please ==", "== Push please ==");
    test_wiki().edit_as(ALICE, &page, &fixed);
    let out = watch_once(&s);
    assert!(out.contains("1 new requests, 1 answered"), "{out}");
    assert_eq!(runs_of(&s, "push 2020-21").len(), 1, "ran once");
    assert_eq!(raw(&page).matches("goalsbot-reply:").count(), 1);
}

/// A watcher killed after a request's action ran, before its reply was
/// kept, does not run it again after a restart: the reply reports that run.
#[test]
fn a_watcher_killed_after_the_action_ran_does_not_run_it_again() {
    let s = served("watch-kill-ran");
    ask(&s, ALICE, "Push please", "{{goalsbot|push|2020-21}} ~~~~");
    kill_watch_at(&s, "watch.ran:1");
    let runs = runs_of(&s, "push 2020-21");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let out = watch_once(&s);
    assert!(out.contains("1 answered"), "{out}");
    assert_eq!(runs_of(&s, "push 2020-21"), runs, "not run again");
    let page = raw(&requests_page(&s));
    let sec = section(&page, "Push please");
    assert_eq!(sec.matches("goalsbot-reply:").count(), 1, "{sec}");
    assert!(sec.contains(&runs[0]), "{sec}");
}

/// Hole 5: a request added in a revision whose text was then hidden cannot
/// be told apart from one the next visible revision added: it is not run
/// on the next author's name.
#[test]
fn a_request_added_in_a_hidden_revision_is_not_run_on_the_next_authors_name() {
    let s = served("watch-hidden-add");
    let page = requests_page(&s);
    ask(&s, MALLORY, "Push it", "{{goalsbot|push|2020-21}} ~~~~");
    test_wiki().hide_revision(latest_revid(&page));
    let text = raw(&page);
    test_wiki().edit_as(ALICE, &page, &format!("{text}\nA note by Alice\n"));
    let out = watch_once(&s);
    assert!(
        runs_of(&s, "push 2020-21").is_empty(),
        "ran as Alice's: {out}"
    );
    assert!(!out.contains("push 2020-21 →"), "{out}");
    // Answered, not lost: the reply says why nothing ran.
    let text = raw(&page);
    let sec = section(&text, "Push it");
    assert!(sec.contains("cannot tell who added it"), "{sec}");
}
