//! Hard table syntax in an adopted staff table, on the real wiki (issue 26):
//! a person puts one construct into a KR's Q1 cell (a separator inside an
//! HTML attribute, an HTML row, cells a template makes, a table at row
//! level), then a tracker `set` changes the KR's Q2 status. The sync either
//! changes only the bytes of that Q2 cell, or leaves the table as it is and
//! names it among the run's warnings (`sync --json`, the status page):
//! never a wrong cell, never a cut tag.

use std::ops::Range;

use goalsbot::core::adopt::{identity_tables, row_id};
use goalsbot::core::parse::{column, Column};
use goalsbot::core::records::Quarter;
use goalsbot::core::wikitable;
use serde_json::Value;

use goalsbot::core::table_check::wiki_tables;

use crate::support::raw;
use crate::support::staff_save;
use crate::support::Setup;
use crate::support::{root, test_wiki};
use crate::table_conformance::parsoid_html;

/// The Q1 cell texts that must survive a write of the Q2 cell.
const CASE_1: &str = "Lag <span title=\"a||b\">half</span> done";
const CASE_1B: &str = "Lag <span title=\"x!!y|z\">half</span> done";

pub(crate) const STEM: &str = "Goalsbot_test%2FStaff_tables_Deck_paste_2020-21_Q3";

/// The byte range of the cell (attributes and content) of `kr`'s row and
/// quarter `q` in the adopted table of `objective`.
pub(crate) fn cell(text: &str, objective: &str, kr: &str, q: Quarter) -> Range<usize> {
    let table = &identity_tables(text, objective)[0].table;
    let col = table.rows[0]
        .cells
        .iter()
        .position(|c| column(&wikitable::plain(&text[c.content.clone()])) == Column::Quarter(q))
        .expect("a column of the quarter");
    let row = table
        .rows
        .iter()
        .find(|r| row_id(text, r).as_deref() == Some(kr))
        .expect("the KR's row");
    let c = &row.cells[col];
    c.attrs.as_ref().map_or(c.content.start, |a| a.start)..c.content.end
}

/// `sync --json`, whatever its exit code.
fn sync_json(s: &Setup) -> Value {
    let out = s.run(&["sync", "--json"]);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// How a person's edit puts the construct into the table: the new page text.
type Construct = fn(&str, Range<usize>, Range<usize>) -> String;

pub(crate) fn in_q1(text: &str, q1: Range<usize>, content: &str) -> String {
    let mut t = text.to_string();
    let line = &text[q1.clone()];
    let keep_attrs = line.rfind('|').map_or("", |b| &line[..=b]);
    t.replace_range(q1, &format!("{keep_attrs} {content}"));
    t
}

#[test]
fn a_neighbours_write_changes_only_its_own_cell_or_the_table_is_refused_and_named() {
    let wikitext =
        std::fs::read_to_string(root().join(format!("tests/fixtures/pages/{STEM}.wikitext")))
            .unwrap();
    test_wiki().load_pages(&[
        ("Template:1x", "{{{1}}}"),
        ("Template:Cells", "a{{!}}{{!}}b"),
    ]);
    let cases: Vec<(&str, Construct, bool)> = vec![
        (
            "`||` inside an HTML attribute (issue case 1)",
            |t, q1, _| in_q1(t, q1, CASE_1),
            true,
        ),
        (
            "`!!` and `|` inside HTML attributes",
            |t, q1, _| in_q1(t, q1, CASE_1B),
            true,
        ),
        (
            "an HTML row after the cell (case 2)",
            |t, q1, _| in_q1(t, q1, "Lag half done\n<tr><td>b</td></tr>"),
            false,
        ),
        (
            "cells made with {{!}} (case 3)",
            |t, q1, _| in_q1(t, q1, "{{1x|a{{!}}{{!}}b}}"),
            false,
        ),
        (
            "cells a template makes (case 3)",
            |t, q1, _| in_q1(t, q1, "Lag {{Cells}}"),
            false,
        ),
        (
            "a table at row level (case 4)",
            |t, _, row_line| {
                let mut t = t.to_string();
                t.insert_str(row_line.end, "\n{|\n| inner\n|}");
                t
            },
            false,
        ),
    ];
    for (i, (name, construct, writable)) in cases.into_iter().enumerate() {
        let kept = if i == 0 { CASE_1 } else { CASE_1B };
        let s = Setup::with_pages(
            &format!("staff-constructs-{i}"),
            None,
            &["2020-21"],
            &[("2020-21 Q3".to_string(), wikitext.clone())],
        );
        let title = format!("{}/2020-21 Q3", s.prefix);
        sync_json(&s);
        let adopted = raw(&title);
        let export = s.export(&[]);
        let obj = export["fiscal_years"][0]["objectives"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let kr = export["fiscal_years"][0]["objectives"][0]["key_results"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let table = &identity_tables(&adopted, &obj)[0].table;
        let row = table
            .rows
            .iter()
            .find(|r| row_id(&adopted, r).as_deref() == Some(kr.as_str()))
            .unwrap();
        let edited = construct(
            &adopted,
            cell(&adopted, &obj, &kr, Quarter::Q1),
            row.line.clone().unwrap(),
        );
        staff_save(&title, &edited);
        sync_json(&s);
        let before = raw(&title);
        s.ok(&[
            "set",
            &kr,
            "--quarter",
            "Q2",
            "--status",
            "complete",
            "--note",
            "tracker neighbour",
        ]);
        let stats = sync_json(&s);
        let after = raw(&title);
        let warned = stats["warnings"].as_array().is_some_and(|w| {
            w.iter().any(|w| {
                w["page"] == title.as_str()
                    && w["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("is not written by the bot"))
            })
        });
        if writable {
            // The oracle is the wiki's own parse, not the reader under test:
            // one line changed, and in the table MediaWiki renders, the KR's
            // row has its six cells, the construct whole in Q1 and the new
            // value in Q2.
            let changed: Vec<_> = before
                .lines()
                .zip(after.lines())
                .filter(|(a, b)| a != b)
                .collect();
            assert_eq!(changed.len(), 1, "{name}: {changed:?}");
            assert_eq!(before.lines().count(), after.lines().count(), "{name}");
            let wiki = wiki_tables(&after, &parsoid_html(&after));
            let at = after
                .find(&format!("data-goalsbot-objective=\"{obj}\""))
                .unwrap();
            let table = wiki
                .iter()
                .find(|t| t.range.as_ref().is_some_and(|r| r.contains(&at)))
                .expect("the adopted table, as the wiki sees it");
            let text = |c: &goalsbot::core::table_check::WikiCell| {
                after[c.content.clone().expect("a cell of its own")].to_string()
            };
            let row = table
                .rows
                .iter()
                .find(|r| text(&r[0]).starts_with("KR1"))
                .expect("KR1's row");
            assert_eq!(
                row.len(),
                6,
                "{name}: the wiki sees {} cells in the row",
                row.len()
            );
            assert_eq!(
                text(&row[2]),
                kept,
                "{name}: the Q1 cell as the wiki reads it"
            );
            assert_eq!(text(&row[3]), "Complete: tracker neighbour", "{name}: Q2");
            assert!(!warned, "{name}: {stats}");
            // The table changed by the bot's own save alone keeps its
            // verdict: a further tracker edit asks the wiki for no second
            // check (its one HTML read is the read-back of the bot's save).
            s.ok(&[
                "set",
                &kr,
                "--quarter",
                "Q3",
                "--status",
                "at-risk",
                "--note",
                "again",
            ]);
            let again = sync_json(&s);
            // The table was checked when the sync after the staff edit
            // planned the page; each write since costs only the read-back of
            // the bot's save.
            assert_eq!(stats["html_fetches"], 1, "{name}: {stats}");
            assert_eq!(again["html_fetches"], 1, "{name}: {again}");
            assert!(raw(&title).contains("At risk: again"));
        } else {
            let changed: Vec<_> = before
                .lines()
                .zip(after.lines())
                .filter(|(a, b)| a != b)
                .collect();
            assert!(
                changed.is_empty() && before.lines().count() == after.lines().count(),
                "{name}: the page was written: {changed:?}"
            );
            assert!(
                warned,
                "{name}: the table is not named among the warnings: {stats}"
            );
        }
        eprintln!(
            "{name}: {}",
            if writable {
                "only its cell changed"
            } else {
                "refused and named"
            }
        );
    }
}
