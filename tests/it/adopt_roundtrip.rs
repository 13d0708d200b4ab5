//! KR tables staff wrote, adopted and then written by the bot, read back
//! through the real wiki (save, Parsoid HTML, parser) — a proptest over the
//! shapes staff give such tables and over hostile tracker values.
//!
//! Each case: a random staff table (header on one line or one cell per line,
//! header spellings, a Baseline column or not, a column the bot does not
//! know, cells inline with `||` or one per line, statuses as a leading word,
//! as a colour in three spellings, or none) is saved and read; the bot's
//! adoption must change only `{|` and `|-` lines and read back the same
//! records; then random tracker values (statuses, hostile notes, year goals,
//! baselines) are planned into the adopted table, which must change only the
//! cells whose value changed and read back exactly those values. Each case
//! saves three revisions, so the default is 24 cases; `PROPTEST_CASES`
//! overrides it.

use std::collections::BTreeMap;

use goalsbot::core::colour::Palette;
use goalsbot::core::parse::parse_quarter_page_with;
use goalsbot::core::plan::{plan_quarter_page_with, Adoption};
use goalsbot::core::records::{FiscalYearRecords, Objective, Quarter, QuarterEntry, Status};
use goalsbot::core::render::Renderer;
use goalsbot::core::wikitable;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use crate::render_roundtrip::{cases, fy, hostile, opt, save_and_fetch_html};
use crate::support::unique_title;

/// How a staff cell says its status.
#[derive(Debug, Clone)]
enum CellSpec {
    Empty,
    Word(Status, String),
    Colour(Status, u8, String),
    Plain(String),
}

#[derive(Debug, Clone)]
struct RowSpec {
    year_goal: String,
    baseline: String,
    cells: Vec<CellSpec>,
}

#[derive(Debug, Clone)]
struct TableSpec {
    one_line_header: bool,
    kr_header: &'static str,
    goal_header: &'static str,
    quarter_header: u8,
    baseline_column: bool,
    unknown_column: bool,
    inline_cells: bool,
    rows: Vec<RowSpec>,
}

/// Deck colours: what staff paint.
fn deck_colour(s: Status) -> &'static str {
    match s {
        Status::Complete => "#9fc5e8",
        Status::OnTrack => "#b6d7a8",
        Status::Concerns => "#ffe599",
        Status::AtRisk => "#ea9999",
        Status::Paused => "#e2e3e5",
        Status::NotScheduled => "#cccccc",
    }
}

fn plain_words() -> impl Strategy<Value = String> {
    "[a-z]{1,8}( [a-z0-9%]{1,6}){0,3}"
}

fn cell_spec() -> impl Strategy<Value = CellSpec> {
    // Paused has no hue of its own: staff tables say it in words.
    let coloured = proptest::sample::select(vec![
        Status::Complete,
        Status::OnTrack,
        Status::Concerns,
        Status::AtRisk,
        Status::NotScheduled,
    ]);
    prop_oneof![
        1 => Just(CellSpec::Empty),
        2 => (proptest::sample::select(Status::ALL.to_vec()), plain_words())
            .prop_map(|(s, n)| CellSpec::Word(s, n)),
        2 => (coloured, 0u8..3, plain_words()).prop_map(|(s, style, n)| CellSpec::Colour(s, style, n)),
        1 => plain_words().prop_map(CellSpec::Plain),
    ]
}

fn table_spec() -> impl Strategy<Value = TableSpec> {
    (
        (
            any::<bool>(),
            proptest::sample::select(vec!["Key Results", "KR", "", "'''Key results'''"]),
            proptest::sample::select(vec!["Year Goal", "Y2 Goal", "Goal", "FY goal"]),
            0u8..3,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        proptest::collection::vec(
            (
                plain_words(),
                plain_words(),
                proptest::collection::vec(cell_spec(), 4),
            )
                .prop_map(|(year_goal, baseline, cells)| RowSpec {
                    year_goal,
                    baseline,
                    cells,
                }),
            1..4,
        ),
    )
        .prop_map(
            |(
                (
                    one_line_header,
                    kr_header,
                    goal_header,
                    quarter_header,
                    baseline_column,
                    unknown_column,
                    inline_cells,
                ),
                rows,
            )| TableSpec {
                one_line_header,
                kr_header,
                goal_header,
                quarter_header,
                baseline_column,
                unknown_column,
                inline_cells,
                rows,
            },
        )
}

fn cell_wikitext(c: &CellSpec) -> String {
    match c {
        CellSpec::Empty => String::new(),
        CellSpec::Word(s, n) => format!("{}: {n}", s.label()),
        CellSpec::Colour(s, style, n) => {
            let c = deck_colour(*s);
            match style {
                0 => format!("bgcolor={c} | {n}"),
                1 => format!("style=\"background:{c}\" | {n}"),
                _ => format!("style=\"background-color: {c};\" | {n}"),
            }
        }
        CellSpec::Plain(n) => n.clone(),
    }
}

/// The page: an objective with two prose KRs and the staff's table.
fn page(spec: &TableSpec) -> String {
    let mut header = vec![spec.kr_header.to_string(), spec.goal_header.to_string()];
    if spec.baseline_column {
        header.push("Baseline".into());
    }
    if spec.unknown_column {
        header.push("Owner".into());
    }
    for q in 1..=4 {
        header.push(match spec.quarter_header {
            0 => format!("Q{q} Status"),
            1 => format!("Q{q}"),
            _ => format!("Q{q}<br>status"),
        });
    }
    let mut t = String::from("{| class=\"wikitable\"\n");
    if spec.one_line_header {
        t.push_str(&format!("! {}\n", header.join(" !! ")));
    } else {
        for h in &header {
            t.push_str(&format!("! {h}\n"));
        }
    }
    for (i, row) in spec.rows.iter().enumerate() {
        let n = i + 1;
        let kr_cell = if spec.baseline_column {
            format!("KR{n}: kr {n} text")
        } else {
            format!("KR{n}: kr {n} text Baseline: {}", row.baseline)
        };
        let mut cells = vec![kr_cell, row.year_goal.clone()];
        if spec.baseline_column {
            cells.push(row.baseline.clone());
        }
        if spec.unknown_column {
            cells.push(format!("owner {n}"));
        }
        cells.extend(row.cells.iter().map(cell_wikitext));
        t.push_str("|-\n");
        if spec.inline_cells {
            // A cell with attributes cannot follow `||` without its own bar.
            t.push_str(&format!("| {}\n", cells.join(" || ")));
        } else {
            for c in cells {
                t.push_str(&format!("| {c}\n"));
            }
        }
    }
    t.push_str("|}");
    let krs = (1..=spec.rows.len().min(2))
        .map(|n| format!("KR{n}: kr {n} text\n"))
        .collect::<String>();
    format!(
        "Intro text.\n\n== Prog - Staff table ==\nObjective Manager: A\n=== Key Results ===\n{krs}\n{t}\n\nAfter the table.\n\n== Next section ==\nMore text.\n"
    )
}

fn parse(html: &str) -> (FiscalYearRecords, goalsbot::core::parse::ParsedPage) {
    let parsed = parse_quarter_page_with(html, &fy(), Quarter::Q3, &Palette::default());
    (
        FiscalYearRecords {
            fiscal_year: fy(),
            objectives: parsed.objectives.clone(),
        },
        parsed,
    )
}

/// A quarter's status and note.
type Cell = (Option<Status>, Option<String>);
/// What a table shows of a KR: baseline, year goal, statuses by quarter.
type Shown = (Option<String>, Option<String>, BTreeMap<Quarter, Cell>);

/// Random tracker values for some fields of the objective's records.
#[derive(Debug, Clone)]
struct Changes {
    year_goal: Vec<Option<Option<String>>>,
    baseline: Vec<Option<Option<String>>>,
    quarters: Vec<Vec<Option<Cell>>>,
}

fn changes() -> impl Strategy<Value = Changes> {
    let no_baseline_word = hostile().prop_filter("no Baseline: in a baseline", |b| {
        !b.to_lowercase().contains("baseline")
    });
    (
        proptest::collection::vec(proptest::option::of(opt(hostile())), 3),
        proptest::collection::vec(proptest::option::of(opt(no_baseline_word)), 3),
        proptest::collection::vec(
            proptest::collection::vec(
                proptest::option::of((
                    proptest::option::of(proptest::sample::select(Status::ALL.to_vec())),
                    opt(hostile()),
                )),
                4,
            ),
            3,
        ),
    )
        .prop_map(|(year_goal, baseline, quarters)| Changes {
            year_goal,
            baseline,
            quarters,
        })
}

fn apply(objective: &Objective, ch: &Changes) -> Objective {
    let mut o = objective.clone();
    for (i, kr) in o.key_results.iter_mut().enumerate() {
        if let Some(v) = ch.year_goal.get(i).cloned().flatten() {
            kr.year_goal = v;
        }
        if let Some(v) = ch.baseline.get(i).cloned().flatten() {
            kr.baseline = v;
        }
        for (qi, q) in Quarter::ALL.into_iter().enumerate() {
            if let Some((status, note)) = ch
                .quarters
                .get(i)
                .and_then(|r| r.get(qi))
                .cloned()
                .flatten()
            {
                let e = kr.quarters.entry(q).or_insert_with(QuarterEntry::default);
                e.status = status;
                e.note = note;
            }
        }
    }
    o
}

/// What the table shows of each KR: baseline, year goal, statuses.
fn shown(o: &Objective) -> BTreeMap<String, Shown> {
    o.key_results
        .iter()
        .map(|k| {
            (
                k.id.clone(),
                (
                    k.baseline.clone(),
                    k.year_goal.clone(),
                    k.quarters
                        .iter()
                        .filter(|(_, e)| e.status.is_some() || e.note.is_some())
                        .map(|(q, e)| (*q, (e.status, e.note.clone())))
                        .collect(),
                ),
            )
        })
        .collect()
}

fn check(spec: &TableSpec, ch: &Changes, n: u32) -> Result<(), TestCaseError> {
    let title = unique_title(&format!("adopt-roundtrip-{n}"));
    let renderer = Renderer::builtin();
    let palette = Palette::default();
    let text0 = page(spec);
    let (before, parsed) = parse(&save_and_fetch_html(&title, &text0));
    prop_assert_eq!(before.objectives.len(), 1, "{:?}", parsed.warnings);
    prop_assert_eq!(before.objectives[0].key_results.len(), spec.rows.len());

    // Adoption: identity only.
    let plan = plan_quarter_page_with(
        &text0,
        &before,
        &before,
        renderer,
        Adoption {
            staff: Some(&parsed.staff_tables),
            palette: Some(&palette),
            ..Default::default()
        },
    )
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(plan.adopted.len(), 1, "{:?}", plan.warnings);
    let text1 = plan.text;
    prop_assert_eq!(text0.lines().count(), text1.lines().count());
    for (a, b) in text0.lines().zip(text1.lines()) {
        if a != b {
            prop_assert!(
                b.starts_with(a.trim_end()) && (a.starts_with("{|") || a.starts_with("|-")),
                "adoption changed {:?} into {:?}",
                a,
                b
            );
        }
    }
    let (adopted, _) = parse(&save_and_fetch_html(&title, &text1));
    prop_assert_eq!(&adopted, &before, "adoption changed what the page says");

    // Tracker values, cell by cell.
    let store_obj = apply(&adopted.objectives[0], ch);
    let store = FiscalYearRecords {
        fiscal_year: fy(),
        objectives: vec![store_obj.clone()],
    };
    let plan = plan_quarter_page_with(
        &text1,
        &adopted,
        &store,
        renderer,
        Adoption {
            staff: None,
            palette: Some(&palette),
            ..Default::default()
        },
    )
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(!plan.needs_staff_tables);
    prop_assert!(
        plan.added.is_empty(),
        "a table of the bot's was added: {:?}",
        plan.added
    );
    let text2 = plan.text;
    // Outside the table nothing moved.
    let t1 = &wikitable::tables_in(&text1, 0..text1.len())[0];
    let t2 = &wikitable::tables_in(&text2, 0..text2.len())[0];
    prop_assert_eq!(&text1[..t1.range.start], &text2[..t2.range.start]);
    prop_assert_eq!(&text1[t1.range.end..], &text2[t2.range.end..]);
    // A cell whose value did not change is byte for byte as it was.
    let was = shown(&adopted.objectives[0]);
    let now = shown(&store_obj);
    for (ri, (r1, r2)) in t1.rows.iter().zip(&t2.rows).enumerate().skip(1) {
        let id = &adopted.objectives[0].key_results[ri - 1].id;
        let (w, n) = (&was[id], &now[id]);
        let first_quarter =
            2 + usize::from(spec.baseline_column) + usize::from(spec.unknown_column);
        let mut same = vec![(1, w.1 == n.1)];
        if spec.baseline_column {
            same.push((2, w.0 == n.0));
        }
        if spec.unknown_column {
            same.push((first_quarter - 1, true));
        }
        same.push((0, spec.baseline_column || w.0 == n.0));
        for (col, q) in (first_quarter..).zip(Quarter::ALL) {
            same.push((col, w.2.get(&q) == n.2.get(&q)));
        }
        for (ci, unchanged) in same {
            if unchanged {
                prop_assert_eq!(
                    &text1[r1.cells[ci].content.clone()],
                    &text2[r2.cells[ci].content.clone()],
                    "cell {} of row {} changed",
                    ci,
                    ri
                );
            }
        }
    }
    let (read, _) = parse(&save_and_fetch_html(&title, &text2));
    prop_assert_eq!(
        shown(&read.objectives[0]),
        now,
        "the page does not read back as the store"
    );
    Ok(())
}

#[test]
fn adopted_staff_tables_take_tracker_values_cell_by_cell_and_read_back() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let n = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&(table_spec(), changes()), |(spec, ch)| {
            check(
                &spec,
                &ch,
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            )
        })
        .unwrap();
}
