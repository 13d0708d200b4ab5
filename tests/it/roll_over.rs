//! The quarter roll-over (issue 15) on the real test wiki: `roll-over` in a
//! quarter's first week creates its page from the store once, whatever the
//! number of runs; obeys the shutoff page; says so on the status page; and
//! outside the first week asks the wiki nothing.

use crate::support::raw;
use crate::support::revisions;
use crate::support::test_wiki;
use crate::support::{deck, Setup};

#[test]
fn the_roll_over_run_twice_at_a_quarters_start_creates_the_page_once() {
    // Q4 has no page yet; the store knows the year from the other three.
    let s = Setup::with_quarters("roll-over", None, &["Q1", "Q2", "Q3"]);
    s.ok(&["import", deck().to_str().unwrap()]);
    s.ok(&["sync"]);
    let q4 = format!("{}/2020-21 Q4", s.prefix);
    let shutoff = format!("{}/Shutoff", s.prefix);
    let status = format!("{}/Bot status", s.prefix);

    // Outside a quarter's first week: nothing, and no wiki is asked (an
    // unreachable wiki does not matter).
    let mut late = s.cmd(&["roll-over", "--today", "2021-04-08"]);
    late.env("GOALSBOT_WIKI_URL", "http://127.0.0.1:9/");
    let late = crate::support::run(late);
    assert_eq!(late.code, Some(0), "{late:?}");
    assert!(late.stdout.starts_with("not due: 2020-21 Q4"), "{late:?}");

    // The emergency stop holds the roll-over too.
    test_wiki().edit_as("Admin", &shutoff, "stop: testing the roll-over");
    let stopped = s.ok(&["roll-over", "--today", "2021-04-01"]);
    assert!(stopped.starts_with("STOPPED"), "{stopped}");
    assert!(revisions(&q4).is_empty(), "created while stopped");
    test_wiki().edit_as("Admin", &shutoff, "run");

    // A dry run only reads: without a login it shows the page it would
    // create and creates nothing (issue 28).
    for args in [
        &["roll-over", "--dry-run", "--today", "2021-04-02"][..],
        &["new-quarter", "2020-21", "Q4", "--dry-run"],
    ] {
        let mut dry = s.cmd(args);
        dry.env_remove("GOALSBOT_USERNAME")
            .env_remove("GOALSBOT_PASSWORD");
        let dry = crate::support::run(dry);
        assert_eq!(dry.code, Some(0), "{args:?}: {dry:?}");
        assert!(
            dry.stdout.contains(&format!("would create {q4}:"))
                && dry.stdout.contains("data-goalsbot"),
            "{args:?}: {dry:?}"
        );
        assert!(revisions(&q4).is_empty(), "a dry run created the page");
    }

    // The scheduled job runs daily: the first run of the week creates the
    // page, the next ones find it.
    let first = s.ok(&["roll-over", "--today", "2021-04-02"]);
    assert!(
        first.starts_with(&format!("created {q4} (revision ")),
        "{first}"
    );
    let second = s.ok(&["roll-over", "--today", "2021-04-03"]);
    assert!(
        second.starts_with(&format!("{q4} exists: nothing to do")),
        "{second}"
    );
    let revs = revisions(&q4);
    assert_eq!(revs.len(), 1, "{revs:?}");
    let text = raw(&q4);
    assert!(text.contains("data-goalsbot"), "{text}");
    // The status page shows the run that made the page, with its diff link.
    let shown = raw(&status);
    assert!(
        shown.contains("roll-over")
            && shown.contains(&format!("Special:PermanentLink/{}", revs[0].0)),
        "{shown}"
    );
    // Made by the bot, the page is its own: a sync afterwards edits nothing.
    let after = s.ok(&["sync"]);
    assert!(after.contains(" 0 edits;"), "{after}");
}

#[test]
fn a_roll_over_into_a_year_the_config_does_not_track_does_nothing() {
    let s = Setup::with_quarters("roll-over-untracked", None, &["Q1"]);
    let mut cmd = s.cmd(&["roll-over", "--today", "2021-07-01"]);
    cmd.env("GOALSBOT_WIKI_URL", "http://127.0.0.1:9/");
    let out = crate::support::run(cmd);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .starts_with("not tracked: 2021-07-01 is in 2021-22 Q1"),
        "{out:?}"
    );
}

/// The annual plan of a year the wiki has no pages for yet, as an operator
/// writes it (or exports a year and edits it in a spreadsheet); the README's
/// walkthrough imports the same file.
fn plan_2021_22() -> std::path::PathBuf {
    crate::support::root().join("tests/fixtures/import/fy2021-22-plan.json")
}

#[test]
fn a_new_year_starts_from_the_tracker_without_an_edit_of_the_config() {
    let s = Setup::with_quarters("new-year", None, &["Q1", "Q2", "Q3", "Q4"]);
    // The config follows the calendar instead of listing the years.
    let cfg = std::fs::read_to_string(&s.cfg).unwrap();
    let listed = cfg
        .lines()
        .find(|l| l.starts_with("fiscal_years"))
        .unwrap()
        .to_string();
    std::fs::write(
        &s.cfg,
        cfg.replace(&listed, "fiscal_years = { current_and_before = 1 }"),
    )
    .unwrap();
    let on = |day: &str, args: &[&str]| {
        let mut cmd = s.cmd(args);
        cmd.env("GOALSBOT_TODAY", day);
        crate::support::run(cmd)
    };
    let q1 = format!("{}/2021-22 Q1", s.prefix);
    let status = format!("{}/Bot status", s.prefix);

    // Two weeks before the year: the run says what is missing, and how to fix it.
    let early = on("2021-06-10", &["sync"]);
    assert_eq!(early.code, Some(0), "{early:?}");
    assert!(!early.stdout.contains("2021-22"), "too early: {early:?}");
    let before = on("2021-06-20", &["sync"]);
    assert_eq!(before.code, Some(0), "{before:?}");
    let warning = format!(
        "warning    {q1}: 2021-22 starts in 11 days (2021-07-01) and the tracker has no objectives"
    );
    assert!(before.stdout.contains(&warning), "{before:?}");
    assert!(
        before.stdout.contains("goalsbot import PLAN.csv"),
        "{before:?}"
    );
    let shown = raw(&status);
    assert!(
        shown.contains("2021-22 starts in 11 days") && shown.contains("goalsbot import"),
        "the status page says so:\n{shown}"
    );

    // The operator imports the year's plan; the notice goes.
    let plan = plan_2021_22();
    let imported = on("2021-06-21", &["import", plan.to_str().unwrap()]);
    assert_eq!(imported.code, Some(0), "{imported:?}");
    // One more objective and its KR, with `set`.
    for args in [
        &[
            "set",
            "2021-22/community-health",
            "--title",
            "Community health",
            "--manager",
            "Birgit Müller",
        ][..],
        &[
            "set",
            "2021-22/community-health/kr1",
            "--text",
            "Answer every new developer's question within a week.",
        ],
    ] {
        let made = on("2021-06-21", args);
        assert_eq!(made.code, Some(0), "{args:?}: {made:?}");
    }
    let after = on("2021-06-22", &["sync"]);
    assert!(!after.stdout.contains("2021-22 starts"), "{after:?}");
    assert!(revisions(&q1).is_empty(), "made before the year began");

    // The daily roll-over makes the Q1 page once, in the year's first week,
    // from the tracker; the config was never edited.
    let first = on("2021-07-01", &["roll-over"]);
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(
        first
            .stdout
            .starts_with(&format!("created {q1} (revision ")),
        "{first:?}"
    );
    let second = on("2021-07-02", &["roll-over"]);
    assert!(
        second
            .stdout
            .starts_with(&format!("{q1} exists: nothing to do")),
        "{second:?}"
    );
    let text = raw(&q1);
    assert!(
        text.contains("Platform evolution")
            && text.contains("data-goalsbot-objective=\"2021-22/platform-evolution\""),
        "{text}"
    );
    assert!(
        text.contains("Community health")
            && text.contains("KR1 Answer every new developer's question within a week.")
            && text.contains("data-goalsbot-kr=\"2021-22/community-health/kr1\""),
        "{text}"
    );
    // Now the year is tracked: a sync reads the new page and leaves it as made.
    let synced = on("2021-07-02", &["sync"]);
    assert_eq!(synced.code, Some(0), "{synced:?}");
    assert!(synced.stdout.contains(&q1), "{synced:?}");
    assert_eq!(revisions(&q1).len(), 1, "{synced:?}");
}
