use std::collections::BTreeSet;

use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::core::fields::FieldKey;
use crate::core::records::Export;
use crate::store::{Provenance, StoredConflict};

/// The FY2020-21 review decks' statuses, as the tracker holds them.
fn deck() -> FiscalYearRecords {
    let e: Export = serde_json::from_str(include_str!(
        "../../../tests/fixtures/import/fy2020-21-deck.json"
    ))
    .unwrap();
    e.fiscal_years.into_iter().next().unwrap()
}

fn links() -> WikiLinks {
    WikiLinks::new("https://www.mediawiki.org/w/").unwrap()
}

#[test]
fn the_heat_map_shows_every_row_and_status_of_the_year() {
    let records = deck();
    let v = year(&records, &Filters::default());
    let krs: usize = records.objectives.iter().map(|o| o.key_results.len()).sum();
    assert_eq!((v.shown, v.total), (krs, krs));
    assert_eq!(v.objectives.len(), records.objectives.len());
    let mut statuses = 0;
    for (o, shown) in records.objectives.iter().zip(&v.objectives) {
        for (kr, row) in o.key_results.iter().zip(&shown.rows) {
            assert_eq!(kr.id, row.id);
            for c in &row.cells {
                let q: Quarter = c.quarter.parse().unwrap();
                let want = kr.quarters.get(&q).and_then(|e| e.status);
                assert_eq!(c.status, want.map_or("none", Status::as_str));
                assert_eq!(
                    c.label,
                    want.map_or("", Status::label),
                    "the word, not only the colour"
                );
                statuses += usize::from(want.is_some());
            }
        }
    }
    assert!(statuses > 30, "{statuses}");
    assert!(v.programs.len() >= 2, "{:?}", v.programs);
    assert!(v.managers.len() > 5);
}

#[test]
fn filters_keep_the_rows_they_name_and_drop_empty_objectives() {
    let records = deck();
    let at_risk = Filters {
        status: "at-risk".into(),
        ..Filters::default()
    };
    let v = year(&records, &at_risk);
    assert!(
        v.shown > 0 && v.shown < v.total,
        "{} of {}",
        v.shown,
        v.total
    );
    for o in &v.objectives {
        assert!(!o.rows.is_empty(), "{} has no row left", o.id);
        for r in &o.rows {
            assert!(r.cells.iter().any(|c| c.status == "at-risk"), "{}", r.id);
        }
    }

    let program = records.objectives[0].program.clone().unwrap();
    let v = year(
        &records,
        &Filters {
            program: program.clone(),
            ..Filters::default()
        },
    );
    assert!(!v.objectives.is_empty());
    assert!(v
        .objectives
        .iter()
        .all(|o| o.program.as_deref() == Some(&program)));
    assert!(v.shown < v.total);

    // A manager of one KR only: that row; of an objective: all its rows.
    let o = records
        .objectives
        .iter()
        .find(|o| !o.managers.is_empty() && o.key_results.len() > 1)
        .unwrap();
    let v = year(
        &records,
        &Filters {
            manager: o.managers[0].clone(),
            ..Filters::default()
        },
    );
    let shown = v.objectives.iter().find(|s| s.id == o.id).unwrap();
    assert_eq!(shown.rows.len(), o.key_results.len());

    // A filter nothing matches: no objective, no row.
    let v = year(
        &records,
        &Filters {
            manager: "Nobody Atall".into(),
            ..Filters::default()
        },
    );
    assert_eq!((v.objectives.len(), v.shown), (0, 0));
}

fn entry(seq: i64, field: &str, old: Value, new: Value, at: i64, source: Source) -> HistoryEntry {
    HistoryEntry {
        seq,
        key: FieldKey::new("2020-21/ci/kr2", field),
        old: Some(old),
        new: Some(new),
        provenance: Provenance {
            at: Utc.timestamp_opt(at, 0).unwrap(),
            run_id: format!("run-{seq}"),
            source,
        },
    }
}

#[test]
fn a_timeline_is_newest_first_names_who_and_links_the_revision() {
    let wiki = Source::Wiki {
        page: "Wikimedia Technology/Goals/2020-21 Q3".into(),
        revid: 4242,
        user: Some("Staff Member".into()),
        timestamp: Utc.timestamp_opt(1_600_000_000, 0).unwrap(),
    };
    let tracker = Source::Tracker {
        operator: "Ops Person".into(),
        command: "goalsbot set 2020-21/ci/kr2 --quarter Q3 --status at-risk".into(),
    };
    let history = vec![
        entry(
            1,
            "quarters.Q3.status",
            json!("on-track"),
            json!("concerns"),
            1_600_000_100,
            wiki,
        ),
        entry(
            2,
            "quarters.Q3.status",
            json!("concerns"),
            json!("at-risk"),
            1_600_000_200,
            tracker,
        ),
    ];
    let mut history = history;
    // A second change of the same revision: one entry with both.
    let mut note = history[0].clone();
    note.seq = 3;
    note.key = FieldKey::new("2020-21/ci/kr2", "quarters.Q3.note");
    note.old = None;
    note.new = Some(json!("staff words"));
    history.insert(1, note);
    history[2].seq = 4;
    let t = timeline(&links(), &history, None);
    assert_eq!(t.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 3]);
    let c = &t[0].changes;
    assert_eq!(
        (c[0].before.as_str(), c[0].after.as_str()),
        ("Concerns", "At risk")
    );
    assert_eq!(c[0].field, "Q3 status");
    assert_eq!(
        t[1].changes
            .iter()
            .map(|c| c.field.as_str())
            .collect::<Vec<_>>(),
        ["Q3 note", "Q3 status"]
    );
    match &t[1].by {
        Author::Wiki {
            user,
            diff_url,
            page_url,
            user_url,
            ..
        } => {
            assert_eq!(user.as_deref(), Some("Staff Member"));
            assert_eq!(
                diff_url,
                "https://www.mediawiki.org/w/index.php?diff=prev&oldid=4242"
            );
            assert_eq!(
                page_url,
                "https://www.mediawiki.org/w/index.php?title=Wikimedia+Technology%2FGoals%2F2020-21+Q3"
            );
            assert_eq!(
                user_url.as_deref(),
                Some("https://www.mediawiki.org/w/index.php?title=User%3AStaff+Member")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&t[0].by, Author::Tracker { operator, .. } if operator == "Ops Person"));
    // A revision that gave one field its first value and changed another
    // is not fresh, and nothing is folded.
    assert!(!t[1].fresh && !t[0].fresh);
    assert!(t.iter().all(|e| e.folded.is_none()));
    // As of between the two: only the first.
    let t = timeline(
        &links(),
        &history,
        Some(Utc.timestamp_opt(1_600_000_150, 0).unwrap()),
    );
    assert_eq!(t.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(t[0].changes.len(), 2);
    assert_eq!(t[0].as_of, "2020-09-13T12:28:20Z");
}

#[test]
fn values_and_fields_read_as_people_say_them() {
    assert_eq!(show(None), "—");
    assert_eq!(show(Some(&Value::Null)), "—");
    assert_eq!(show(Some(&json!(["Ann", "Bo"]))), "Ann, Bo");
    assert_eq!(show(Some(&json!([]))), "(none)");
    assert_eq!(show(Some(&json!(true))), "yes");
    assert_eq!(show(Some(&json!(3))), "3");
    assert_eq!(
        show_field("quarters.Q1.status", Some(&json!("not-scheduled"))),
        "Not scheduled"
    );
    assert_eq!(
        show_field("status.Q2", Some(&json!("complete"))),
        "Complete"
    );
    assert_eq!(
        show_field("quarters.Q1.note", Some(&json!("at-risk"))),
        "at-risk"
    );
    assert_eq!(field_label("quarters.Q1.note_wikitext"), "Q1 note wikitext");
    assert_eq!(field_label("status.Q4"), "Q4 objective status");
    assert_eq!(field_label("year_goal"), "year goal");
}

#[test]
fn as_of_takes_a_day_or_a_time() {
    assert_eq!(
        parse_as_of("2021-03-01").unwrap(),
        Utc.with_ymd_and_hms(2021, 3, 1, 23, 59, 59).unwrap()
    );
    assert_eq!(
        parse_as_of("2021-03-01T12:00:00+02:00").unwrap(),
        Utc.with_ymd_and_hms(2021, 3, 1, 10, 0, 0).unwrap()
    );
    let e = parse_as_of("yesterday").unwrap_err();
    assert!(e.contains("2021-03-01"), "{e}");
}

#[test]
fn a_record_page_has_its_fields_quarters_and_children() {
    let records = deck();
    let o = &records.objectives[1];
    let v = record(&records, &o.id).unwrap();
    assert_eq!(v.kind, "objective");
    assert_eq!(
        v.children
            .iter()
            .map(|c| c.id.clone())
            .collect::<BTreeSet<_>>(),
        o.key_results.iter().map(|k| k.id.clone()).collect()
    );
    let kr = &o.key_results[0];
    let v = record(&records, &kr.id).unwrap();
    assert_eq!(v.parent.as_ref().map(|p| p.0.as_str()), Some(o.id.as_str()));
    assert_eq!(v.quarters.len(), 4);
    for q in &v.quarters {
        let want = kr.quarters.get(&q.quarter.parse::<Quarter>().unwrap());
        assert_eq!(q.note, want.and_then(|e| e.note.clone()));
    }
    assert!(record(&records, "2020-21/nothing/kr1").is_none());
}

#[test]
fn a_runs_summary_gives_its_edits_diff_links() {
    use crate::core::runlog::{EditLink, RunCounts};
    use crate::store::RunState;
    let at = Utc.timestamp_opt(1_600_000_000, 0).unwrap();
    let summary = RunSummary {
        run_id: "r1".into(),
        command: "sync".into(),
        requested_by: Some("Staff Member".into()),
        started: at,
        finished: at,
        outcome: RunOutcome::Changed,
        counts: RunCounts {
            edits: 2,
            ..RunCounts::default()
        },
        edits: vec![
            EditLink {
                title: "P".into(),
                oldrevid: Some(10),
                newrevid: 11,
            },
            EditLink {
                title: "New".into(),
                oldrevid: None,
                newrevid: 12,
            },
        ],
        conflicts: vec![],
        refused: vec![],
        warnings: vec![],
        dry_run: false,
    };
    let entry = RunEntry {
        run_id: "r1".into(),
        command: "sync".into(),
        outcome: RunState::Changed,
        started: at,
        finished: at,
        summary: serde_json::to_value(&summary).unwrap(),
    };
    let v = run(&links(), &entry);
    assert_eq!(
        v.edits[0].diff_url,
        "https://www.mediawiki.org/w/index.php?diff=11&oldid=10"
    );
    assert_eq!(
        v.edits[1].diff_url,
        "https://www.mediawiki.org/w/index.php?oldid=12"
    );
    assert!(v.edits[1].created);
    assert_eq!(v.requested_by.as_deref(), Some("Staff Member"));
    assert!(v.counts.contains(&("edits", 2)));
    // A run still going has no summary: its id, command and state.
    let going = RunEntry {
        outcome: RunState::Running,
        summary: json!({}),
        ..entry
    };
    let v = run(&links(), &going);
    assert_eq!(v.outcome, "running");
    assert!(v.edits.is_empty());
}

#[test]
fn a_conflict_shows_both_values_its_section_and_the_requests_that_settle_it() {
    let records = deck();
    let o = &records.objectives[1];
    let kr = &o.key_results[1];
    let c = StoredConflict {
        id: 7,
        key: FieldKey::new(&kr.id, "quarters.Q4.status"),
        page: "Wikimedia Technology/Goals/2020-21 Q3".into(),
        revid: 99,
        wiki_user: Some("Staff Member".into()),
        base: Some(json!("on-track")),
        wiki: Some(json!("at-risk")),
        store: Some(json!("complete")),
        run_id: "r".into(),
        created_at: Utc.timestamp_opt(1_600_000_000, 0).unwrap(),
        resolution: None,
    };
    let v = conflicts(
        &links(),
        std::slice::from_ref(&c),
        std::slice::from_ref(&records),
    );
    assert_eq!(v[0].field, "Q4 status");
    assert_eq!(
        (v[0].wiki.as_str(), v[0].store.as_str(), v[0].base.as_str()),
        ("At risk", "Complete", "On track")
    );
    assert_eq!(
        v[0].section.as_deref(),
        Some(format!("{}, KR{}", o.title, kr.number).as_str())
    );
    assert_eq!(v[0].take_wiki, "{{goalsbot|resolve|7|wiki}}");
    assert_eq!(v[0].take_store, "{{goalsbot|resolve|7|store}}");
    assert_eq!(
        v[0].diff_url,
        "https://www.mediawiki.org/w/index.php?diff=prev&oldid=99"
    );
    // A record the store no longer holds: no section, the rest as before.
    let v = conflicts(&links(), &[c], &[]);
    assert_eq!(v[0].section, None);
}

#[test]
fn entries_that_only_give_first_values_are_folded() {
    let wiki = |revid: u64| Source::Wiki {
        page: "Wikimedia Technology/Goals/2020-21 Q1".into(),
        revid,
        user: Some("Staff Member".into()),
        timestamp: Utc.timestamp_opt(1_600_000_000, 0).unwrap(),
    };
    let fields = ["text", "number", "kind", "parent", "quarters.Q1.status"];
    let mut history: Vec<HistoryEntry> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            entry(
                i as i64 + 1,
                f,
                json!(1),
                json!("x"),
                1_600_000_100,
                wiki(1),
            )
        })
        .collect();
    for h in &mut history {
        h.old = None;
        h.provenance.run_id = "run-a".into();
    }
    // A later page gives four Q2 fields their first values.
    for (i, f) in ["objective", "goals", "status", "note"].iter().enumerate() {
        let mut h = entry(
            10 + i as i64,
            &format!("quarters.Q2.{f}"),
            json!(1),
            json!("y"),
            1_600_000_200,
            wiki(2),
        );
        h.old = None;
        h.provenance.run_id = "run-b".into();
        history.push(h);
    }
    // Then one change with a value before it, and one first value alone.
    history.push(entry(
        20,
        "quarters.Q1.status",
        json!("on-track"),
        json!("at-risk"),
        1_600_000_300,
        wiki(3),
    ));
    let mut note = entry(
        21,
        "quarters.Q3.note",
        json!(1),
        json!("z"),
        1_600_000_400,
        wiki(4),
    );
    note.old = None;
    history.push(note);
    let t = timeline(&links(), &history, None);
    let folded: Vec<Option<&str>> = t.iter().map(|e| e.folded.as_deref()).collect();
    assert_eq!(
        folded,
        [
            None,
            None,
            Some("4 fields given their first value"),
            Some("First recorded, with 5 fields"),
        ]
    );
    assert_eq!(
        t.iter().map(|e| e.fresh).collect::<Vec<_>>(),
        [true, false, true, true]
    );
    // As of before the later pages: the first entry is still the first.
    let t = timeline(
        &links(),
        &history,
        Some(Utc.timestamp_opt(1_600_000_150, 0).unwrap()),
    );
    assert_eq!(t.len(), 1);
    assert_eq!(
        t[0].folded.as_deref(),
        Some("First recorded, with 5 fields")
    );
}
