//! Reads the bot's status tables (`wikitext_templates/STATUS_TABLE.md`).
//!
//! Identity comes from the `data-goalsbot-*` attributes, the values from the
//! cells' text: a staff edit of a cell's text wins over its colour.

use std::sync::LazyLock;

use parsoid::prelude::*;
use regex::Regex;

use super::dom::{attr, plain_text, tag};
use super::line::split_baseline;
use crate::core::records::{Kind, Quarter, Status};

/// Objective ids as `records.schema.json` allows them.
static OBJECTIVE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{2}/[a-z0-9-]+$").expect("valid pattern"));
/// KR ids as `records.schema.json` allows them.
static KR_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{4}-[0-9]{2}/[a-z0-9-]+)/(kr|item)([0-9]{1,6})$").expect("valid pattern")
});

/// A status table as read from the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StatusTable {
    /// `data-goalsbot-objective`.
    pub objective_id: String,
    pub rows: Vec<StatusRow>,
}

/// One row of a status table: one KR's store-side data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StatusRow {
    /// `data-goalsbot-kr`, the KR's id.
    pub kr_id: String,
    pub kind: Kind,
    pub number: u32,
    pub baseline: Option<String>,
    pub year_goal: Option<String>,
    /// Quarters whose cell holds something, with status and note.
    pub quarters: Vec<(Quarter, Option<Status>, Option<String>)>,
}

/// Reads a `table[data-goalsbot-objective]`; problems become warnings.
pub(super) fn read(table: &Wikinode, warnings: &mut Vec<String>) -> Option<StatusTable> {
    let objective_id = attr(table, "data-goalsbot-objective")?.trim().to_string();
    if !OBJECTIVE_ID.is_match(&objective_id) {
        warnings.push(format!(
            "status table with malformed data-goalsbot-objective={objective_id:?} ignored"
        ));
        return None;
    }
    let mut header: Vec<String> = Vec::new();
    let mut rows: Vec<StatusRow> = Vec::new();
    for tr in rows_of(table) {
        let cells: Vec<Wikinode> = tr
            .children()
            .filter(|c| matches!(tag(c).as_deref(), Some("td" | "th")))
            .collect();
        let Some(kr_id) = attr(&tr, "data-goalsbot-kr") else {
            if header.is_empty() && cells.iter().all(|c| tag(c).as_deref() == Some("th")) {
                header = cells.iter().map(plain_text).collect();
            }
            continue;
        };
        let kr_id = kr_id.trim().to_string();
        let Some(caps) = KR_ID.captures(&kr_id) else {
            warnings.push(format!(
                "status table {objective_id}: row with malformed data-goalsbot-kr={kr_id:?} ignored"
            ));
            continue;
        };
        let kind = if &caps[2] == "kr" {
            Kind::KeyResult
        } else {
            Kind::ObjectiveItem
        };
        let Some(number) = caps[3].parse::<u32>().ok().filter(|n| *n > 0) else {
            warnings.push(format!(
                "status table {objective_id}: row {kr_id} has no valid number; ignored"
            ));
            continue;
        };
        if &caps[1] != objective_id.as_str() {
            // Taking its id would let two KRs share one; a person must look.
            warnings.push(format!(
                "status table {objective_id}: row {kr_id} names another objective; ignored"
            ));
            continue;
        }
        if rows.iter().any(|r| r.kr_id == kr_id) {
            warnings.push(format!(
                "status table {objective_id}: second row for {kr_id} ignored"
            ));
            continue;
        }
        rows.push(read_row(kr_id, kind, number, &cells, &header));
    }
    Some(StatusTable { objective_id, rows })
}

fn read_row(
    kr_id: String,
    kind: Kind,
    number: u32,
    cells: &[Wikinode],
    header: &[String],
) -> StatusRow {
    let mut row = StatusRow {
        kr_id,
        kind,
        number,
        baseline: None,
        year_goal: None,
        quarters: Vec::new(),
    };
    for (i, cell) in cells.iter().enumerate() {
        let heading = header.get(i).map(String::as_str).unwrap_or("");
        let quarter = attr(cell, "data-goalsbot-quarter")
            .and_then(|q| q.parse::<Quarter>().ok())
            .or_else(|| heading.parse::<Quarter>().ok());
        let text = plain_text(cell);
        if let Some(quarter) = quarter {
            let (status, note) = Status::read_cell(&text);
            if status.is_some() || note.is_some() {
                if let Some(slot) = row.quarters.iter_mut().find(|(q, ..)| *q == quarter) {
                    *slot = (quarter, status, note);
                } else {
                    row.quarters.push((quarter, status, note));
                }
            }
        } else if i == 0 || heading.to_ascii_lowercase().starts_with("kr") {
            row.baseline = split_baseline(&text).1;
        } else if i == 1 || heading.to_ascii_lowercase().contains("goal") {
            row.year_goal = (!text.is_empty()).then_some(text);
        }
    }
    row.quarters.sort_by_key(|(q, ..)| *q);
    row
}

/// The `<tr>`s of a table, looking through `<tbody>`/`<thead>` but not into
/// nested tables.
fn rows_of(table: &Wikinode) -> Vec<Wikinode> {
    let mut rows = Vec::new();
    for child in table.children() {
        match tag(&child).as_deref() {
            Some("tr") => rows.push(child),
            Some("tbody" | "thead" | "tfoot") => {
                rows.extend(child.children().filter(|c| tag(c).as_deref() == Some("tr")));
            }
            _ => {}
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_html(html: &str) -> (Option<StatusTable>, Vec<String>) {
        let code = Wikicode::new(html);
        let table = code
            .select_first("table[data-goalsbot-objective]")
            .expect("test html has a status table");
        let mut warnings = Vec::new();
        (read(&table, &mut warnings), warnings)
    }

    /// Parsoid HTML (MW 1.43) of the STATUS_TABLE.md example.
    const EXAMPLE: &str = r##"<table class="wikitable goalsbot-status" data-goalsbot-objective="2020-21/content-integrity" id="mwFQ">
<tbody id="mwFg"><tr id="mwFw"><th id="mwGA">KR</th><th id="mwGQ">Year goal</th><th id="mwGg">Q1</th><th id="mwGw">Q2</th><th id="mwHA">Q3</th><th id="mwHQ">Q4</th></tr>
<tr data-goalsbot-kr="2020-21/content-integrity/kr2" id="mwHg">
<td id="mwHw">KR2<br id="mwIA"/><small id="mwIQ">Baseline: 8 SPoF positions</small></td><td id="mwIg">Hire for 4 SPoF positions</td>
<td data-goalsbot-quarter="Q1" style="background:#d4edda" id="mwIw">On track: 0% filled, 1 hiring process in final stages</td>
<td data-goalsbot-quarter="Q2" style="background:#a8d5a2" id="mwJA">Complete: 25% filled</td>
<td data-goalsbot-quarter="Q3" id="mwJQ"></td>
<td data-goalsbot-quarter="Q4" style="background:#eaecf0" id="mwJg">Not scheduled</td></tr>
</tbody></table>"##;

    #[test]
    fn reads_the_documented_example() {
        let (table, warnings) = read_html(EXAMPLE);
        assert!(warnings.is_empty(), "{warnings:?}");
        let table = table.unwrap();
        assert_eq!(table.objective_id, "2020-21/content-integrity");
        assert_eq!(
            table.rows,
            vec![StatusRow {
                kr_id: "2020-21/content-integrity/kr2".into(),
                kind: Kind::KeyResult,
                number: 2,
                baseline: Some("8 SPoF positions".into()),
                year_goal: Some("Hire for 4 SPoF positions".into()),
                quarters: vec![
                    (
                        Quarter::Q1,
                        Some(Status::OnTrack),
                        Some("0% filled, 1 hiring process in final stages".into())
                    ),
                    (
                        Quarter::Q2,
                        Some(Status::Complete),
                        Some("25% filled".into())
                    ),
                    (Quarter::Q4, Some(Status::NotScheduled), None),
                ],
            }]
        );
    }

    #[test]
    fn status_comes_from_text_not_colour() {
        // A staff edit changed the text but left the green background.
        let html = EXAMPLE.replace("Complete: 25% filled", "At risk: hiring froze");
        let (table, _) = read_html(&html);
        let q = &table.unwrap().rows[0].quarters;
        assert_eq!(
            q[1],
            (
                Quarter::Q2,
                Some(Status::AtRisk),
                Some("hiring froze".into())
            )
        );
    }

    #[test]
    fn no_status_prefix_and_header_fallback() {
        // Quarter attributes lost (e.g. a hand-made row): the header names the column.
        let html = r#"<table data-goalsbot-objective="2020-21/x"><tr><th>KR</th><th>Year goal</th><th>Q1</th><th>Q2</th></tr>
<tr data-goalsbot-kr="2020-21/x/item1"><td>Objective 1</td><td></td><td>No status: Done by another team</td><td>Postponed</td></tr></table>"#;
        let (table, warnings) = read_html(html);
        assert!(warnings.is_empty(), "{warnings:?}");
        let row = &table.unwrap().rows[0];
        assert_eq!(row.kind, Kind::ObjectiveItem);
        assert_eq!(row.number, 1);
        assert_eq!(row.year_goal, None);
        assert_eq!(row.baseline, None);
        assert_eq!(
            row.quarters,
            vec![
                (Quarter::Q1, None, Some("Done by another team".into())),
                (Quarter::Q2, Some(Status::Paused), None),
            ]
        );
    }

    #[test]
    fn malformed_ids_are_warnings() {
        let html = r#"<table data-goalsbot-objective="2020-21/x"><tr data-goalsbot-kr="evil"><td>x</td></tr><tr data-goalsbot-kr="2020-21/x/kr0"><td>x</td></tr></table>"#;
        let (table, warnings) = read_html(html);
        assert!(table.unwrap().rows.is_empty());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let (table, warnings) = read_html(r#"<table data-goalsbot-objective="../../etc"></table>"#);
        assert!(table.is_none());
        assert_eq!(warnings.len(), 1);
    }
}
