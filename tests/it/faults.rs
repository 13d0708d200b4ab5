//! `sync`, `push`, `pull` and `watch` through a fault-injecting proxy in
//! front of the real test wiki (`support::proxy`): maxlag with Retry-After,
//! 503, 429, connections reset before or after the wiki did the work, delays.
//!
//! What must hold: no lost write and no duplicate edit (a save whose answer
//! was lost is recognised by its revision, not made again); a run that
//! cannot finish exits 1 with the reason and leaves store and pages
//! consistent; the rerun converges to the state an undisturbed run reaches;
//! Retry-After and maxlag are obeyed; give-up limits are finite. No test
//! here asserts how long anything took: waits are checked as lower bounds
//! between the proxy's answer and the bot's next request.
//!
//! `GOALSBOT_FAULT_SYNCS` sets the number of runs of the seeded fault run
//! (default 24); `GOALSBOT_FAULT_SEED` its seed.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestRng, TestRunner};

use crate::replay::{replay_op, Real};
use crate::simulation::{Op, Sim};
use crate::support::proxy::{Fault, Kind, Match, Proxy, Seen};
use crate::support::raw;
use crate::support::test_wiki;
use crate::support::{bot_edits_since, cell, latest_revid, staff_save, title, with_cell};
use crate::support::{Setup, QUARTERS};
use crate::sync::{n, overview, pages, status_of, sync, synced, KR2};

/// Points the setup's config at a new proxy in front of the test wiki.
pub(crate) fn through_proxy(s: &Setup) -> Proxy {
    let w = test_wiki();
    let p = Proxy::start(&w.url);
    let cfg = std::fs::read_to_string(&s.cfg).unwrap();
    let from = format!("url = \"{}\"", w.url);
    assert!(cfg.contains(&from), "{cfg}");
    std::fs::write(&s.cfg, cfg.replace(&from, &format!("url = \"{}\"", p.url))).unwrap();
    p
}

/// A synced year, then a person's edit of KR2's Q3 cell on Q3 and a tracker
/// edit of KR2's Q4 status: the next sync pulls Q3 and saves all five
/// pages. Returns the pages' revisions before that sync.
fn scenario(name: &str) -> (Setup, Vec<u64>) {
    let s = synced(name);
    let q3 = title(&s, "Q3");
    staff_save(
        &q3,
        &with_cell(&raw(&q3), KR2, "Q3", "Concerns: before the faults"),
    );
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let marks = pages(&s).iter().map(|t| latest_revid(t)).collect();
    (s, marks)
}

/// The state an undisturbed sync of [`scenario`] reaches: both changes in
/// the store and on every page, exactly one bot edit per page, and nothing
/// left to do.
fn assert_converged(s: &Setup, marks: &[u64], what: &str) {
    assert_eq!(status_of(s, KR2, "Q3"), "concerns", "{what}");
    assert_eq!(status_of(s, KR2, "Q4"), "complete", "{what}");
    for q in QUARTERS {
        let text = raw(&title(s, q));
        assert_eq!(cell(&text, KR2, "Q4"), "Complete", "{what} {q}");
        assert_eq!(
            cell(&text, KR2, "Q3"),
            "Concerns: before the faults",
            "{what} {q}"
        );
    }
    assert!(
        raw(&overview(s)).contains("Complete") || raw(&overview(s)).contains("complete"),
        "{what}: the overview"
    );
    for (t, mark) in pages(s).iter().zip(marks) {
        let edits = bot_edits_since(t, *mark);
        assert_eq!(edits.len(), 1, "{what}: {t}: {edits:#?}");
    }
    let quiet = sync(s, &[], 0);
    assert_eq!(
        (n(&quiet, "edits"), n(&quiet, "html_fetches")),
        (0, 0),
        "{what}: {quiet}"
    );
}

/// Every faulted answer that asked the bot to wait N seconds was followed
/// by no request of the bot sooner than N seconds later; the number of such waits.
///
/// A different read that reaches the proxy within [`IN_FLIGHT`] of the
/// answer was already on its way (the bot reads a few pages at once, and
/// another read had passed its turn before the answer reached the bot): it
/// cannot obey a wait it had not heard of, and is not counted. The same
/// request sent again, and every request after that window, must wait.
fn assert_waits_obeyed(seen: &[Seen]) -> usize {
    const IN_FLIGHT: Duration = Duration::from_millis(20);
    let mut waits = 0;
    for (i, r) in seen.iter().enumerate() {
        let Some(secs) = r.fault.and_then(|f| f.retry_after()) else {
            continue;
        };
        let Some(next) = seen[i + 1..].iter().find(|x| {
            x.at >= r.done && !(x.path != r.path && x.at.duration_since(r.done) < IN_FLIGHT)
        }) else {
            continue; // the run's last request
        };
        let gap = next.at.duration_since(r.done);
        assert!(
            gap + Duration::from_millis(20) >= Duration::from_secs(secs),
            "the bot asked again {gap:?} after being told to wait {secs} s: {r:?} then {next:?}"
        );
        waits += 1;
    }
    waits
}

/// The wiki etiquette under faults: every API request carries maxlag, and
/// no two saves are in flight at once.
fn assert_etiquette(seen: &[Seen]) {
    for r in seen.iter().filter(|r| r.action != "rest") {
        assert!(r.maxlag, "an API request without maxlag: {r:?}");
    }
    let saves: Vec<&Seen> = seen.iter().filter(|r| r.action == "edit").collect();
    for w in saves.windows(2) {
        assert!(
            w[1].at >= w[0].done,
            "two saves at once: {:?} and {:?}",
            w[0],
            w[1]
        );
    }
}

/// The saves of `title` that reached the wiki (a refused or reset request did not).
fn edit_posts(seen: &[Seen], title: &str) -> usize {
    seen.iter()
        .filter(|r| {
            r.method == "POST"
                && r.action == "edit"
                && r.title.as_deref() == Some(title)
                && r.reached_the_wiki()
        })
        .count()
}

#[test]
fn maxlag_and_429_are_waited_out_as_retry_after_says() {
    let (s, marks) = scenario("faults-maxlag");
    let p = through_proxy(&s);
    // The revision check, the first save, an HTML fetch, the third save.
    p.on(Match::action("query"), 1, Fault::Maxlag { retry_after: 2 });
    p.on(Match::edits(), 1, Fault::Maxlag { retry_after: 1 });
    p.on(Match::action("rest"), 1, Fault::TooMany { retry_after: 1 });
    p.on(Match::edits(), 3, Fault::TooMany { retry_after: 2 });
    let out = sync(&s, &[], 0);
    assert_eq!(p.pending_rules(), 0, "every fault fired");
    let seen = p.seen();
    assert_eq!(assert_waits_obeyed(&seen), 4, "{:#?}", p.counts());
    assert_etiquette(&seen);
    eprintln!("through maxlag and 429: {out}\nfaults: {:?}", p.counts());
    assert_converged(&s, &marks, "maxlag and 429");
}

#[test]
fn a_503_and_reset_connections_are_retried_and_the_sync_finishes() {
    let (s, marks) = scenario("faults-503");
    let p = through_proxy(&s);
    p.on(
        Match::action("query"),
        1,
        Fault::Unavailable { retry_after: 2 },
    );
    p.on(Match::action("rest"), 1, Fault::ResetBefore);
    p.on(Match::edits(), 2, Fault::Unavailable { retry_after: 1 });
    p.on(Match::edits(), 4, Fault::ResetBefore);
    p.on(Match::action("query"), 6, Fault::Delay { millis: 1500 });
    let out = s.run(&["sync", "--json"]);
    assert_eq!(p.pending_rules(), 0, "every fault fired");
    assert_eq!(
        out.code,
        Some(0),
        "a passing sickness ends the run: {out:?}"
    );
    let seen = p.seen();
    assert_eq!(assert_waits_obeyed(&seen), 2, "{:#?}", p.counts());
    assert_etiquette(&seen);
    assert_converged(&s, &marks, "503 and resets");
}

#[test]
fn a_save_whose_answer_is_lost_is_recognised_by_its_revision_and_not_made_again() {
    let (s, marks) = scenario("faults-lost-answer");
    let p = through_proxy(&s);
    // The second save (Q2) happens on the wiki; its answer never arrives.
    p.on(Match::edits(), 2, Fault::ResetAfter);
    let out = s.run(&["sync", "--json"]);
    assert_eq!(p.pending_rules(), 0);
    let seen = p.seen();
    let q2 = title(&s, "Q2");
    assert_eq!(
        edit_posts(&seen, &q2),
        1,
        "the save was made again: {:#?}\n{out:?}",
        seen.iter()
            .filter(|r| r.action == "edit")
            .collect::<Vec<_>>()
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_converged(&s, &marks, "a lost answer");
}

#[test]
fn a_run_that_cannot_finish_exits_1_with_the_reason_and_the_rerun_converges() {
    let (s, marks) = scenario("faults-give-up");
    let p = through_proxy(&s);
    // The third save is made but its answer is lost; from then on the wiki
    // answers nothing but 503.
    p.on(Match::edits(), 3, Fault::ResetAfter);
    p.down_after(Match::edits(), 3, Fault::Unavailable { retry_after: 1 });
    let out = s.run(&["sync", "--json"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("error:") && out.stderr.contains("503"),
        "the reason: {}",
        out.stderr
    );
    let seen = p.seen();
    let sick = seen.iter().filter(|r| r.fault.is_some()).count();
    assert!(
        sick <= 12,
        "the bot gave up after {sick} refused requests: it must give up sooner"
    );
    assert_waits_obeyed(&seen);
    // Store and pages consistent: the pages saved before are saved once, none after.
    let saved: Vec<usize> = pages(&s)
        .iter()
        .zip(&marks)
        .map(|(t, m)| bot_edits_since(t, *m).len())
        .collect();
    assert!(saved.iter().all(|n| *n <= 1), "{saved:?}");
    assert_eq!(saved.iter().sum::<usize>(), 3, "{saved:?}");
    // The rerun, on a healthy wiki, finishes what the failed one began: the
    // lost save is recognised by its revision, not made again.
    p.calm();
    let rerun = s.run(&["sync", "--json"]);
    assert_eq!(rerun.code, Some(0), "{rerun:?}");
    let q3 = title(&s, "Q3");
    let seen = p.seen();
    assert_eq!(edit_posts(&seen, &q3), 1, "Q3 was saved again");
    assert_converged(&s, &marks, "after giving up");
}

#[test]
fn pull_and_push_through_faults_converge() {
    let (s, marks) = scenario("faults-pull-push");
    let p = through_proxy(&s);
    p.on(
        Match::action("rest"),
        1,
        Fault::Unavailable { retry_after: 1 },
    );
    p.on(Match::action("query"), 2, Fault::ResetBefore);
    let pulled = s.run(&["pull"]);
    assert_eq!(pulled.code, Some(0), "{pulled:?}");
    assert_eq!(status_of(&s, KR2, "Q3"), "concerns");
    p.on(Match::edits(), 1, Fault::ResetAfter);
    p.on(Match::edits(), 3, Fault::Maxlag { retry_after: 1 });
    p.on(
        Match::action("rest"),
        2,
        Fault::Unavailable { retry_after: 1 },
    );
    let pushed = s.run(&["push"]);
    assert_eq!(pushed.code, Some(0), "{pushed:?}");
    assert_eq!(p.pending_rules(), 0);
    let seen = p.seen();
    assert_eq!(edit_posts(&seen, &title(&s, "Q1")), 1, "Q1 was saved again");
    assert_waits_obeyed(&seen);
    assert_etiquette(&seen);
    assert_converged(&s, &marks, "pull, then push");
}

#[test]
fn watch_runs_a_requested_sync_through_faults_and_answers_once() {
    let s = crate::watch::served("faults-watch");
    let p = through_proxy(&s);
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    crate::watch::ask(
        &s,
        crate::watch::ALICE,
        "Sync through a sick wiki",
        "{{goalsbot|sync}} ~~~~",
    );
    let page = crate::watch::requests_page(&s);
    let mark = latest_revid(&page);
    let marks: Vec<u64> = pages(&s).iter().map(|t| latest_revid(t)).collect();
    p.on(Match::action("query"), 1, Fault::Maxlag { retry_after: 1 });
    p.on(Match::edits(), 1, Fault::Unavailable { retry_after: 1 });
    p.on(Match::edits(), 2, Fault::ResetAfter);
    p.on(Match::action("rest"), 1, Fault::ResetBefore);
    // The sixth save (after the four quarter pages and the overview: the reply or the status page).
    p.on(Match::edits(), 6, Fault::ResetAfter);
    let out = s.run(&["watch", "--once"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(p.pending_rules(), 0, "{:#?}", p.seen());
    assert_eq!(crate::watch::kr2_q4_everywhere(&s), [true; 4]);
    let again = s.run(&["watch", "--once"]);
    assert_eq!(again.code, Some(0), "{again:?}");
    let text = raw(&page);
    let section = crate::watch::section(&text, "Sync through a sick wiki");
    assert_eq!(
        section.matches("goalsbot-reply:").count(),
        1,
        "answered once: {section}"
    );
    assert_eq!(
        bot_edits_since(&page, mark).len(),
        1,
        "one reply saved: {section}"
    );
    let seen = p.seen();
    for (t, m) in pages(&s).iter().zip(&marks) {
        assert!(edit_posts(&seen, t) <= 1, "{t} saved twice");
        assert_eq!(bot_edits_since(t, *m).len(), 1, "{t}");
    }
    assert_waits_obeyed(&p.seen());
    assert_etiquette(&p.seen());
}

fn fault_syncs() -> usize {
    std::env::var("GOALSBOT_FAULT_SYNCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

fn fault_seed() -> u64 {
    std::env::var("GOALSBOT_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(17)
}

/// The operations of the seeded fault run: the replay's, without kills
/// (faults are what this run is about), with runs three times as likely.
fn fault_op() -> impl Strategy<Value = Op> {
    let other = replay_op().prop_filter("no kills, no runs", |o| {
        !matches!(
            o,
            Op::Killed { .. }
                | Op::KilledMidPull { .. }
                | Op::KilledBeforeSave { .. }
                | Op::Sync
                | Op::PullOnly
                | Op::PushOnly
        )
    });
    prop_oneof![
        3 => other,
        4 => Just(Op::Sync),
        1 => Just(Op::PullOnly),
        1 => Just(Op::PushOnly),
    ]
}

/// What the seeded run did.
#[derive(Debug, Default)]
struct Tally {
    runs: usize,
    attempts: usize,
    exits: BTreeMap<i32, usize>,
    duplicate_edits: usize,
    lost_writes: usize,
    faults: BTreeMap<Kind, u64>,
    outages: u64,
    waits_obeyed: usize,
}

const FAULTS: [Fault; 6] = [
    Fault::Maxlag { retry_after: 1 },
    Fault::Unavailable { retry_after: 1 },
    Fault::TooMany { retry_after: 1 },
    Fault::ResetBefore,
    Fault::ResetAfter,
    Fault::Delay { millis: 300 },
];

/// Runs `args` through random faults until it finishes (exit 0 or 3), at
/// most three times; then once more on a calm wiki. Every failed attempt
/// must exit 1 naming its reason.
fn run_through_faults(r: &Real, p: &Proxy, args: &[&str], seed: u64, t: &mut Tally) {
    for attempt in 0..4u64 {
        if attempt < 3 {
            p.random(
                seed.wrapping_mul(31).wrapping_add(attempt),
                60,
                &FAULTS,
                Match::any(),
            );
            // Now and then the wiki goes down for longer than the bot tries.
            p.outages(4, 10);
        } else {
            p.calm();
        }
        let start = std::time::Instant::now();
        let out = r.s.run(args);
        t.attempts += 1;
        // Waits are per process: a rerun does not know what the last run was told.
        let seen: Vec<Seen> = p.seen().into_iter().filter(|r| r.at >= start).collect();
        t.waits_obeyed += assert_waits_obeyed(&seen);
        assert_etiquette(&seen);
        let code = out.code.unwrap_or(-1);
        *t.exits.entry(code).or_insert(0) += 1;
        match code {
            0 | 3 => {
                p.calm();
                return;
            }
            1 => assert!(
                out.stderr.contains("error:"),
                "exit 1 without a reason: {out:?}"
            ),
            _ => panic!("goalsbot {args:?} ended with {code}: {out:?}"),
        }
    }
    panic!("goalsbot {args:?} failed on a calm wiki");
}

#[test]
fn a_seeded_fault_run_loses_no_write_and_duplicates_no_edit() {
    let seed = fault_seed();
    let want = fault_syncs();
    let skip: usize = std::env::var("GOALSBOT_FAULT_SKIP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut runner = TestRunner::new_with_rng(
        PtConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed as u8; 32]),
    );
    let strategy = (2..=3usize, proptest::collection::vec(fault_op(), 16..24));
    let mut t = Tally::default();
    let mut seq = 0;
    while t.runs < want {
        let (quarters, ops) = strategy.new_tree(&mut runner).unwrap().current();
        if seq < skip {
            // Drawn, not run: to go straight to a sequence that failed.
            seq += 1;
            continue;
        }
        let mut sim = Sim::new(quarters);
        let real = Real::new(quarters, 1000 + seq);
        let p = through_proxy(&real.s);
        let watched: Vec<String> = real
            .titles
            .iter()
            .cloned()
            .chain([format!("{}/2020-21", real.s.prefix)])
            .collect();
        for (n, op) in ops.iter().enumerate() {
            if t.runs >= want {
                break;
            }
            let before: Vec<String> = sim.pages.iter().map(|p| p.text().to_string()).collect();
            sim.apply(op);
            let args: Option<&[&str]> = match op {
                Op::Sync => Some(&["sync"]),
                Op::PullOnly => Some(&["pull"]),
                Op::PushOnly => Some(&["push"]),
                _ => None,
            };
            match args {
                Some(args) => {
                    let marks: Vec<u64> = watched.iter().map(|t| latest_revid(t)).collect();
                    run_through_faults(&real, &p, args, seed ^ ((seq * 1000 + n) as u64), &mut t);
                    t.runs += 1;
                    // Nobody else saved meanwhile: one bot edit per page at most.
                    for (title, mark) in watched.iter().zip(&marks) {
                        let edits = bot_edits_since(title, *mark).len();
                        t.duplicate_edits += edits.saturating_sub(1);
                    }
                }
                None => real.apply(op, &sim, &before),
            }
            if let Some(d) = real.differs(&sim) {
                t.lost_writes += 1;
                panic!(
                    "sequence {seq}, step {n} {op:?}: the real wiki and store differ from an undisturbed run: {d}\n\
                     tally so far: {t:?}\nmodel log: {:#?}",
                    sim.log
                );
            }
            assert_eq!(
                t.duplicate_edits, 0,
                "sequence {seq}, step {n} {op:?}: {t:?}"
            );
        }
        for (k, v) in p.counts() {
            *t.faults.entry(k).or_insert(0) += v;
        }
        t.outages += p.outages_started();
        seq += 1;
    }
    eprintln!(
        "seeded fault run (seed {seed}): {} runs ({} attempts) in {seq} sequences; \
         faults injected {:?} (total {}; {} outages: the wiki down for up to 10 requests); exits {:?}; waits obeyed {}; \
         lost writes {}, duplicate edits {}",
        t.runs,
        t.attempts,
        t.faults,
        t.faults.values().sum::<u64>(),
        t.outages,
        t.exits,
        t.waits_obeyed,
        t.lost_writes,
        t.duplicate_edits
    );
    assert_eq!((t.lost_writes, t.duplicate_edits), (0, 0), "{t:?}");
}
