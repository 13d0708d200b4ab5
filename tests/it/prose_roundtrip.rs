//! Hostile prose written into staff pages reads back unchanged through the real wiki (issue 14).
//!
//! Each case takes one of the four quarter fixtures (plain `<br />` lines,
//! list items with bold labels, `KR2.` labels, VisualEditor's shapes),
//! gives some of its KR texts, goals, quarter objectives, descriptions and
//! managers hostile values (markup, `|}`, `{{`, `~~~~`, `</nowiki>`, RTL,
//! combining characters, very long text), plans the write-back, saves the
//! page to MediaWiki 1.43 and reads it back as `pull` does. Every written
//! field must read back as the store's value, and every other field as the
//! page showed it. Each case is a save; 24 cases by default
//! (`PROPTEST_CASES` overrides it).

use std::collections::BTreeSet;

use goalsbot::core::fields::{flatten, FieldKey};
use goalsbot::core::parse::parse_quarter_page;
use goalsbot::core::prose::write_prose;
use goalsbot::core::records::{FiscalYearRecords, Quarter};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use crate::render_roundtrip::{cases, fy, hostile, kr_text, name, save_and_fetch_html};
use crate::support::{root, unique_title};

fn fixture(q: Quarter, ext: &str) -> String {
    std::fs::read_to_string(root().join(format!(
        "tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_{q}.{ext}"
    )))
    .unwrap()
}

/// What a case changes: per KR (in page order) a new text, goals and
/// quarter objective; per objective a description and managers.
#[derive(Debug, Clone)]
struct Changes {
    quarter: Quarter,
    kr_texts: Vec<Option<String>>,
    goals: Vec<Option<Vec<String>>>,
    objectives: Vec<Option<String>>,
    descriptions: Vec<Option<String>>,
    managers: Vec<Option<Vec<String>>>,
}

fn changes() -> impl Strategy<Value = Changes> {
    let q = proptest::sample::select(Quarter::ALL.to_vec());
    let n = 24;
    (
        q,
        proptest::collection::vec(proptest::option::weighted(0.4, kr_text()), n),
        proptest::collection::vec(
            proptest::option::weighted(0.3, proptest::collection::vec(hostile(), 0..3)),
            n,
        ),
        proptest::collection::vec(proptest::option::weighted(0.3, hostile()), n),
        proptest::collection::vec(proptest::option::weighted(0.4, hostile()), 8),
        proptest::collection::vec(
            proptest::option::weighted(0.3, proptest::collection::vec(name(), 1..3)),
            8,
        ),
    )
        .prop_map(
            |(quarter, kr_texts, goals, objectives, descriptions, managers)| Changes {
                quarter,
                kr_texts,
                goals,
                objectives,
                descriptions,
                managers,
            },
        )
}

fn apply(shown: &FiscalYearRecords, c: &Changes) -> FiscalYearRecords {
    let mut store = shown.clone();
    let mut k = 0;
    for (i, o) in store.objectives.iter_mut().enumerate() {
        if let Some(Some(d)) = c.descriptions.get(i) {
            if o.description.is_some() {
                o.description = Some(d.clone());
            }
        }
        if let Some(Some(m)) = c.managers.get(i) {
            o.managers = m.clone();
        }
        for kr in &mut o.key_results {
            if let Some(Some(t)) = c.kr_texts.get(k) {
                if !t.is_empty() {
                    kr.text = t.clone();
                }
            }
            if let Some(e) = kr.quarters.get_mut(&c.quarter) {
                if let Some(Some(g)) = c.goals.get(k) {
                    e.goals = g.clone();
                }
                if let Some(Some(obj)) = c.objectives.get(k) {
                    if e.objective.is_some() {
                        e.objective = Some(obj.clone());
                    }
                }
            }
            k += 1;
        }
    }
    store
}

#[test]
fn hostile_prose_written_into_staff_lines_reads_back_through_the_real_wiki() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let written_total = std::cell::Cell::new(0usize);
    let held_total = std::cell::Cell::new(0usize);
    let result = runner.run(&changes(), |c| {
        let q = c.quarter;
        let text = fixture(q, "wikitext");
        let shown = FiscalYearRecords {
            fiscal_year: fy(),
            objectives: parse_quarter_page(&fixture(q, "html"), &fy(), q).objectives,
        };
        let store = apply(&shown, &c);
        let plan = write_prose(&text, &shown, &store, q, None, &BTreeSet::new());
        for h in &plan.held {
            prop_assert!(
                // Texts that would read as something else, and changes
                // that would drop a link or template the page has there;
                // never a place the bot could not find.
                [
                    "read as a label",
                    "Baseline",
                    "separator",
                    "template",
                    "link's label",
                    "markup"
                ]
                .iter()
                .any(|r| h.why.contains(r)),
                "held for another reason: {h:?}"
            );
        }
        let held: BTreeSet<&FieldKey> = plan.held.iter().map(|h| &h.key).collect();
        held_total.set(held_total.get() + held.len());
        let title = unique_title("prose-roundtrip");
        let html = save_and_fetch_html(&title, &plan.text);
        let parsed = FiscalYearRecords {
            fiscal_year: fy(),
            objectives: parse_quarter_page(&html, &fy(), q).objectives,
        };
        let (want_store, want_page, got) = (flatten(&store), flatten(&shown), flatten(&parsed));
        written_total.set(written_total.get() + plan.written.len());
        for (key, v) in &want_page {
            if key.field == "links" {
                continue; // task ids follow the text
            }
            let written = plan.written.contains(key);
            let want = if written {
                want_store.get(key)
            } else {
                Some(v)
            };
            let want = if held.contains(key) { Some(v) } else { want };
            // No goals and an empty goal list are the same to a page.
            let empty = |v: Option<&serde_json::Value>| {
                v.is_none_or(|v| v.as_array().is_some_and(|a| a.is_empty()))
            };
            if key.field.ends_with(".goals") && empty(got.get(key)) && empty(want) {
                continue;
            }
            if got.get(key) != want {
                return Err(TestCaseError::fail(format!(
                    "{title}: {key} read back as {:?}, expected {:?} ({})\nwikitext:\n{}",
                    got.get(key),
                    want,
                    if written { "written" } else { "not written" },
                    plan.text
                )));
            }
        }
        // Every KR text the case changed was written or held with a reason
        // (a KR always shows its text; goals or a quarter objective may have
        // no place on a page, and then the page is left as it is).
        for (key, v) in &want_store {
            if want_page.get(key) != Some(v) && key.field == "text" {
                prop_assert!(
                    plan.written.contains(key) || held.contains(key),
                    "{key}: changed in the store but neither written nor held"
                );
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let written_total = written_total.get();
    eprintln!(
        "prose round trip: {} cases, {written_total} fields written, {} held",
        cases(),
        held_total.get()
    );
    assert!(written_total > 0);
}
