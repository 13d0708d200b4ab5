//! Tests of run summaries and the status page; goldens in
//! `tests/fixtures/render/status_page_*.wiki` (`GOALSBOT_BLESS=1` rewrites
//! them, as in `render::tests`).

use std::path::Path;
use std::sync::LazyLock;

use chrono::{Duration, TimeZone};
use regex::Regex;
use serde_json::json;

use super::*;
use crate::core::requests::find_requests;

/// Compares with (or, under `GOALSBOT_BLESS=1`, writes) a golden file.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/render")
        .join(name);
    if std::env::var_os("GOALSBOT_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with GOALSBOT_BLESS=1 to write it, then check it)",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from the golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n(GOALSBOT_BLESS=1 rewrites it)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 1, 5, h, m, s).unwrap()
}

fn counts(edits: u64, records: u64, conflicts: u64, refused: u64) -> RunCounts {
    RunCounts {
        pages_checked: 8,
        pages_changed: edits,
        html_fetches: 8,
        api_requests: 12,
        edits,
        records_changed: records,
        conflicts,
        refused,
    }
}

fn summary(id: &str, outcome: RunOutcome, counts: RunCounts) -> RunSummary {
    RunSummary {
        run_id: id.into(),
        command: "sync".into(),
        requested_by: None,
        started: at(10, 0, 0),
        finished: at(10, 0, 42),
        outcome,
        counts,
        edits: vec![],
        conflicts: vec![],
        refused: vec![],
        warnings: vec![],
        dry_run: false,
    }
}

fn conflict(id: i64) -> ConflictLine {
    ConflictLine {
        id,
        record: "2020-21/content-integrity/kr2".into(),
        field: "Q3 status".into(),
        page: Some("Wikimedia Technology/Goals/2020-21 Q3".into()),
        wiki: Some(json!("at-risk")),
        store: Some(json!("on-track")),
        since: at(9, 30, 0),
        revid: Some(4100),
        wiki_user: Some("Staff Person".into()),
        store_by: Some(StoreAuthor::Tracker {
            operator: "Tracker Person".into(),
        }),
    }
}

fn nothing_to_do() -> RunSummary {
    summary(
        "2021-01-05T10:00Z-0001",
        RunOutcome::NothingToDo,
        counts(0, 0, 0, 0),
    )
}

fn changed() -> RunSummary {
    let mut run = summary(
        "2021-01-05T11:00Z-0002",
        RunOutcome::Changed,
        counts(2, 3, 0, 0),
    );
    run.command = "push 2020-21 Q3".into();
    run.requested_by = Some("Example User".into());
    run.started = at(11, 0, 0);
    run.finished = at(11, 3, 7);
    run.edits = vec![
        EditLink {
            title: "Wikimedia Technology/Goals/2020-21 Q3".into(),
            oldrevid: Some(4100),
            newrevid: 4120,
        },
        EditLink {
            title: "Wikimedia Technology/Goals/2020-21 Q4".into(),
            oldrevid: None,
            newrevid: 4121,
        },
    ];
    run
}

fn needs_person() -> RunSummary {
    let mut run = summary(
        "2021-01-05T12:00Z-0003",
        RunOutcome::NeedsPerson,
        counts(1, 1, 2, 1),
    );
    run.started = at(12, 0, 0);
    run.finished = at(13, 2, 0);
    run.edits = vec![EditLink {
        title: "Wikimedia Technology/Goals/2020-21".into(),
        oldrevid: Some(4200),
        newrevid: 4201,
    }];
    run.conflicts = vec![conflict(7), conflict(8)];
    run.refused = vec![RefusedPage {
        title: "Wikimedia Technology/Goals/2020-21 Q2".into(),
        reason: "lost 60% of its records at once (pages.max_removed_share is 30%)".into(),
    }];
    run
}

fn failed() -> RunSummary {
    let mut run = summary(
        "2021-01-05T13:00Z-0004",
        RunOutcome::Failed {
            error: "cannot reach the wiki: connection refused".into(),
        },
        counts(0, 0, 0, 0),
    );
    run.started = at(13, 0, 0);
    run.finished = at(13, 0, 3);
    run.dry_run = true;
    run
}

fn all_recent() -> Vec<RunSummary> {
    vec![failed(), needs_person(), changed(), nothing_to_do()]
}

#[test]
fn status_page_goldens() {
    let recent = all_recent();
    let pending = [conflict(7), conflict(8)];
    for (name, run, pending) in [
        ("nothing_to_do", nothing_to_do(), &[][..]),
        ("changed", changed(), &[][..]),
        ("needs_person", needs_person(), &pending[..]),
        ("failed", failed(), &pending[..]),
    ] {
        let page = render_status_page(&run, pending, &recent).unwrap();
        golden(&format!("status_page_{name}.wiki"), &page);
    }
}

#[test]
fn status_page_says_the_bot_maintains_it() {
    let page = render_status_page(&nothing_to_do(), &[], &[]).unwrap();
    let first = page.lines().next().unwrap();
    assert!(first.contains("maintained by goalsbot"), "{first}");
    assert!(first.contains("will be overwritten"), "{first}");
    assert!(page.contains("''No runs yet.''"));
    assert!(page.contains("''No conflicts are waiting.''"));
    assert!(page.contains("''No edits.''"));
}

/// The outcome box of a status page.
fn outcome_box(page: &str) -> &str {
    let start = page.find("<div class=\"goalsbot-outcome").unwrap();
    let end = start + page[start..].find("</div>").unwrap();
    &page[start..end]
}

#[test]
fn the_four_outcomes_look_different() {
    let runs = [nothing_to_do(), changed(), needs_person(), failed()];
    let boxes: Vec<String> = runs
        .iter()
        .map(|r| outcome_box(&render_status_page(r, &[], &[]).unwrap()).to_string())
        .collect();
    let labels = [
        "'''✓ Nothing to do'''",
        "'''✎ Changed'''",
        "'''⚠ Needs a person'''",
        "'''✖ Failed'''",
    ];
    for (i, b) in boxes.iter().enumerate() {
        // Each says its own label in words (never colour alone)…
        assert!(b.contains(labels[i]), "{b}");
        for (j, other) in labels.iter().enumerate() {
            assert_eq!(b.contains(other), i == j, "{b}");
        }
        // …and has its own colours and class.
        for (j, c) in boxes.iter().enumerate() {
            if i != j {
                let style = |s: &str| s.lines().next().unwrap().to_string();
                assert_ne!(style(b), style(c));
            }
        }
    }
    assert!(boxes[3].contains("cannot reach the wiki: connection refused"));
    assert!(boxes[2].contains("2 conflicts and 1 refused page wait for a person"));
    assert!(boxes[1].contains("2 edits saved, 3 records changed in the store"));
}

#[test]
fn status_page_lists_edits_conflicts_and_refusals() {
    let run = needs_person();
    let page = render_status_page(&run, &run.conflicts, &[]).unwrap();
    assert!(page
        .contains("* [[Wikimedia Technology/Goals/2020-21]] ([[Special:Diff/4200/4201|diff]])\n"));
    assert!(page.contains(
        "| 7 || 2020-21/content-integrity/kr2 || Q3 status || [[Wikimedia Technology/Goals/2020-21 Q3]] ([[Special:Diff/4100|r4100]]) || at-risk<br />by [[User:Staff Person|Staff Person]] || on-track<br />by [[User:Tracker Person|Tracker Person]] (tracker edit) || 2021-01-05 09:30:00 UTC || <code><nowiki>{{goalsbot|resolve|7|wiki}}</nowiki></code><br /><code><nowiki>{{goalsbot|resolve|7|store}}</nowiki></code>\n"
    ));
    assert!(page.contains(
        "* [[Wikimedia Technology/Goals/2020-21 Q2]]: lost 60% of its records at once (pages.max_removed_share is 30%)\n"
    ));
    let page = render_status_page(&changed(), &[], &[]).unwrap();
    assert!(page.contains("([[Special:PermanentLink/4121|new page]])"));
    assert!(page.contains(
        "* Command: ''push 2020-21 Q3'', requested by [[User:Example User|Example User]]\n"
    ));
    assert!(page.contains("(took 3 min 7 s)"));
}

#[test]
fn recent_runs_are_capped() {
    let many: Vec<RunSummary> = (0..30)
        .map(|i| nothing_to_do_with_id(&format!("run-{i:02}")))
        .collect();
    let page = render_status_page(&many[0], &[], &many).unwrap();
    assert!(page.contains("<code>run-19</code>"));
    assert!(!page.contains("<code>run-20</code>"));
}

fn nothing_to_do_with_id(id: &str) -> RunSummary {
    let mut run = nothing_to_do();
    run.run_id = id.into();
    run
}

static NOWIKI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<nowiki>.*?</nowiki>").unwrap());

#[test]
fn hostile_values_cannot_break_the_status_page() {
    let hostile = "x}}{{goalsbot|sync}}\n|}\n|-\n! h || ~~~~ </nowiki> <!-- [[Category:X]] ==h==";
    let mut run = needs_person();
    run.run_id = hostile.into();
    run.command = hostile.into();
    run.requested_by = Some(hostile.into());
    run.outcome = RunOutcome::Failed {
        error: hostile.into(),
    };
    run.edits.push(EditLink {
        title: hostile.into(),
        oldrevid: Some(1),
        newrevid: 2,
    });
    run.refused.push(RefusedPage {
        title: hostile.into(),
        reason: hostile.into(),
    });
    let bad = ConflictLine {
        id: 9,
        record: hostile.into(),
        field: hostile.into(),
        page: Some(hostile.into()),
        wiki: Some(json!(hostile)),
        store: Some(json!({ "note": hostile, "list": [1, 2] })),
        since: at(9, 0, 0),
        revid: Some(1),
        wiki_user: Some(hostile.into()),
        store_by: Some(StoreAuthor::Wiki {
            user: Some(hostile.into()),
            page: hostile.into(),
            revid: 2,
        }),
    };
    let page = render_status_page(&run, &[bad, conflict(7)], &[run.clone(), changed()]).unwrap();

    assert_eq!(find_requests(&page), vec![]);
    let visible = NOWIKI.replace_all(&page, "");
    assert!(!visible.contains("~~~"), "{visible}");
    assert!(!visible.contains("<!--"), "{visible}");
    assert!(!visible.contains("</nowiki>"), "{visible}");
    assert!(!visible.contains("{{"), "{visible}");
    assert!(!visible.contains("[[Category"), "{visible}");
    assert!(!visible.contains("User:x"), "{visible}");
    // Tables open and close where the template says, and every data row of
    // the conflicts table has its eight cells.
    let opens = visible.lines().filter(|l| l.starts_with("{|")).count();
    let closes = visible.lines().filter(|l| l.starts_with("|}")).count();
    assert_eq!((opens, closes), (3, 3), "{visible}");
    let headings: Vec<&str> = visible.lines().filter(|l| l.starts_with('=')).collect();
    assert_eq!(
        headings,
        vec![
            "== Last run ==",
            "=== Edits ===",
            "== Waiting for a person ==",
            "=== Conflicts ===",
            "=== Refused pages ===",
            "== Recent runs ==",
        ]
    );
    let rows: Vec<&str> = visible
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("<code></code><br /><code></code>"))
        .collect();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row.matches("||").count(), 7, "{row}");
    }
    // Values become text, one line each.
    assert!(page.contains("<nowiki>x}}{{goalsbot|sync}} |} |- ! h || ~~~~ &lt;/nowiki&gt; &lt;!-- [[Category:X]] ==h==</nowiki>"));
}

#[test]
fn links_are_made_only_when_safe() {
    assert_eq!(
        user_link("Example_User"),
        "[[User:Example_User|Example_User]]"
    );
    assert_eq!(user_link("Bob"), "[[User:Bob|Bob]]");
    assert_eq!(user_link("A|B"), "<nowiki>A|B</nowiki>");
    assert_eq!(user_link("A~~~~"), "<nowiki>A~~~~</nowiki>");
    assert_eq!(user_link("A#b"), "A#b");
    assert_eq!(user_link("R&D"), "<nowiki>R&amp;D</nowiki>");
    assert_eq!(page_link("Main Page"), "[[Main Page]]");
    assert_eq!(page_link("A]]B"), "<nowiki>A]]B</nowiki>");
    assert_eq!(page_link(":Category:X"), "<nowiki>:Category:X</nowiki>");
    assert_eq!(page_link(""), "");
}

#[test]
fn edit_links() {
    let edit = |old| EditLink {
        title: "P".into(),
        oldrevid: old,
        newrevid: 12,
    };
    assert_eq!(edit(Some(10)).diff_link(), "[[Special:Diff/10/12|diff]]");
    assert_eq!(
        edit(None).diff_link(),
        "[[Special:PermanentLink/12|new page]]"
    );
}

#[test]
fn outcome_from_counts() {
    let cases = [
        (counts(0, 0, 0, 0), RunOutcome::NothingToDo),
        (counts(1, 0, 0, 0), RunOutcome::Changed),
        (counts(0, 4, 0, 0), RunOutcome::Changed),
        (counts(2, 4, 1, 0), RunOutcome::NeedsPerson),
        (counts(0, 0, 0, 1), RunOutcome::NeedsPerson),
    ];
    for (c, expected) in cases {
        assert_eq!(RunOutcome::from_counts(&c), expected, "{c:?}");
    }
    // Pages checked and requests made are no change.
    let busy = RunCounts {
        pages_checked: 50,
        api_requests: 60,
        html_fetches: 50,
        ..RunCounts::default()
    };
    assert_eq!(RunOutcome::from_counts(&busy), RunOutcome::NothingToDo);
}

#[test]
fn summaries_round_trip_through_json() {
    for run in all_recent() {
        let text = serde_json::to_string(&run).unwrap();
        let back: RunSummary = serde_json::from_str(&text).unwrap();
        assert_eq!(back, run);
    }
    let text = serde_json::to_value(failed()).unwrap();
    assert_eq!(
        text["outcome"],
        json!({"kind": "failed", "error": "cannot reach the wiki: connection refused"})
    );
    assert_eq!(
        serde_json::to_value(RunOutcome::NeedsPerson).unwrap(),
        json!({"kind": "needs-person"})
    );
    // `requested_by` may be left out (summaries written before it existed).
    let mut v = serde_json::to_value(nothing_to_do()).unwrap();
    v.as_object_mut().unwrap().remove("requested_by");
    assert_eq!(
        serde_json::from_value::<RunSummary>(v).unwrap(),
        nothing_to_do()
    );
}

#[test]
fn durations_and_values() {
    let t = at(10, 0, 0);
    assert_eq!(duration_text(t, t), "0 s");
    assert_eq!(duration_text(t, t + Duration::seconds(59)), "59 s");
    assert_eq!(duration_text(t, t + Duration::seconds(61)), "1 min 1 s");
    assert_eq!(duration_text(t, t + Duration::seconds(3725)), "1 h 2 min");
    assert_eq!(duration_text(t, t - Duration::seconds(5)), "0 s");
    assert_eq!(value_text(None), "''(not stated)''");
    assert_eq!(value_text(Some(&json!(null))), "''(none)''");
    assert_eq!(value_text(Some(&json!("  "))), "''(empty)''");
    assert_eq!(value_text(Some(&json!("On track"))), "On track");
    assert_eq!(value_text(Some(&json!(3))), "3");
    assert_eq!(
        value_text(Some(&json!(["a", "b"]))),
        "<nowiki>[\"a\",\"b\"]</nowiki>"
    );
    let long = "word ".repeat(100);
    let shown = value_text(Some(&json!(long)));
    assert!(
        shown.ends_with('…') && shown.chars().count() == 201,
        "{shown}"
    );
}

#[test]
fn a_template_override_changes_the_status_page() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(crate::core::render::STATUS_PAGE),
        "{{ last.outcome.label }} / {{ conflicts | length }} / {{ recent | length }}\n",
    )
    .unwrap();
    let r = Renderer::with_dir(Some(dir.path())).unwrap();
    let page = r
        .status_page(&needs_person(), &[conflict(1)], &all_recent())
        .unwrap();
    assert_eq!(page, "Needs a person / 1 / 4\n");
}

/// The conflicts section of a status page.
fn conflicts_section(page: &str) -> &str {
    let start = page.find("=== Conflicts ===").expect("a conflicts section");
    let end = page
        .find("=== Refused pages ===")
        .expect("a refused section");
    &page[start..end]
}

#[test]
fn a_waiting_conflict_reads_the_same_whatever_run_writes_the_page() {
    // The entry holds nothing of the run: the users it links are notified
    // by the revision where it first appears, not again by every rewrite.
    let pending = [conflict(7)];
    let first = render_status_page(&needs_person(), &pending, &[]).unwrap();
    let later = render_status_page(&changed(), &pending, &[changed(), needs_person()]).unwrap();
    assert_ne!(first, later);
    assert_eq!(conflicts_section(&first), conflicts_section(&later));
    // Each side's author is linked once per conflict.
    let section = conflicts_section(&first);
    assert_eq!(
        section
            .matches("[[User:Staff Person|Staff Person]]")
            .count(),
        1
    );
    assert_eq!(
        section
            .matches("[[User:Tracker Person|Tracker Person]]")
            .count(),
        1
    );
}

#[test]
fn the_store_side_names_who_made_its_value() {
    let mut c = conflict(3);
    c.store_by = Some(StoreAuthor::Wiki {
        user: Some("Page Editor".into()),
        page: "Wikimedia Technology/Goals/2020-21 Q2".into(),
        revid: 77,
    });
    let page = render_status_page(&needs_person(), &[c.clone()], &[]).unwrap();
    assert!(page.contains(
        "on-track<br />by [[User:Page Editor|Page Editor]] on [[Wikimedia Technology/Goals/2020-21 Q2]] ([[Special:Diff/77|r77]])"
    ), "{page}");
    c.store_by = Some(StoreAuthor::Tracker {
        operator: "User:Bob Example (on-wiki request)".into(),
    });
    let page = render_status_page(&needs_person(), &[c.clone()], &[]).unwrap();
    assert!(
        page.contains("on-track<br />by [[User:Bob Example|Bob Example]] (on-wiki request)"),
        "{page}"
    );
    c.store_by = None;
    c.wiki_user = None;
    let page = render_status_page(&needs_person(), &[c], &[]).unwrap();
    assert!(page.contains("at-risk<br />by ''(unknown)''"), "{page}");
    assert!(page.contains("on-track<br />by ''(unknown)''"), "{page}");
}

#[test]
fn user_names_from_the_wiki_are_linked_only_when_valid() {
    assert_eq!(
        checked_user_link("Bob_Example"),
        "[[User:Bob Example|Bob Example]]"
    );
    for bad in [
        "A/B", "A|B", "A]]B", "{{x}}", "A~~~~", "A<b>", "", ":x", "A#b", "A%41", "A\u{7}b",
        "A&amp;",
    ] {
        let shown = checked_user_link(bad);
        assert!(!shown.contains("[[User:"), "{bad:?}: {shown}");
        assert!(find_requests(&shown).is_empty());
    }
    assert_eq!(checked_user_link("A/B"), "A/B");
    assert_eq!(checked_user_link("A|B"), "<nowiki>A|B</nowiki>");
    assert_eq!(
        checked_user_link("100% sure"),
        "[[User:100% sure|100% sure]]"
    );
}

#[test]
fn the_conflicts_say_where_to_paste_the_request() {
    let page = render_status_page_for(
        &needs_person(),
        &[conflict(7)],
        &[],
        "Wikimedia Technology/Goals/Bot requests",
    )
    .unwrap();
    assert!(
        page.contains(
            "pasting its request in a new section of [[Wikimedia Technology/Goals/Bot requests]] ("
        ),
        "{page}"
    );
    let page = render_status_page(&needs_person(), &[conflict(7)], &[]).unwrap();
    assert!(page.contains("pasting its request in a new section of the command page ("));
}
