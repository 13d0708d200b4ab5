//! Reads status tables: the bot's (`wikitext_templates/STATUS_TABLE.md`) and
//! the KR and metrics tables staff write (`docs/pages.md`, "KR tables staff
//! wrote"), adopted by the bot or not yet.
//!
//! Identity comes from the `data-goalsbot-*` attributes, columns from the
//! header row, the values from the cells' text: a status word leading a
//! cell wins over its colour. In the bot's own tables (class
//! `goalsbot-status`) colours are decoration and never read; in staff
//! tables a cell without a status word takes its status from its
//! background colour ([`Palette`]).

use std::sync::LazyLock;

use parsoid::prelude::*;
use regex::Regex;

use super::dom::{attr, collapse, plain_text, tag};
use super::line::{classify, split_baseline, Label};
use crate::core::colour::{style_background, Palette};
use crate::core::records::{Kind, Quarter, Status};

/// Objective ids as `tests/fixtures/records.schema.json` allows them.
static OBJECTIVE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{2}/[a-z0-9-]+$").expect("valid pattern"));
/// Record ids as `tests/fixtures/records.schema.json` allows them.
static KR_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{4}-[0-9]{2}/[a-z0-9-]+)/(kr|item|metric)([0-9]{1,6})$")
        .expect("valid pattern")
});
/// The label the bot writes before a metric's text in its own tables.
static METRIC_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i)metric[ \t]*[0-9]{1,6}[ \t]*(?:[:.\-–—][ \t]*|[ \t]+|$)")
        .expect("valid pattern")
});

/// Whether a table with the bot's identity is one staff wrote (adopted),
/// not the bot's own `goalsbot-status` table.
pub(super) fn is_staff(table: &Wikinode) -> bool {
    !attr(table, "class").is_some_and(|c| c.split_whitespace().any(|c| c == "goalsbot-status"))
}

/// A status table as read from the page: one of the bot's, or one staff
/// wrote (adopted by the bot or not yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StatusTable {
    /// `data-goalsbot-objective`; `None` for a staff table not yet adopted.
    pub objective_id: Option<String>,
    /// Written by staff (not the bot's `goalsbot-status` table): colours
    /// name statuses, and a row's KR cell may hold a KR's text.
    pub staff: bool,
    pub rows: Vec<StatusRow>,
    /// Rows the reader skipped, for one warning line per table.
    pub skipped: Vec<String>,
    /// Body rows (0-based) with nothing in any cell, which the reader passes over.
    pub empty_rows: Vec<usize>,
    /// The `Key Results Manager:` line in force where an adopted staff table
    /// stands: the managers of the records only its rows write.
    pub managers: Vec<String>,
}

/// One row of a status table: one record's status data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StatusRow {
    /// `data-goalsbot-kr`, the record's id (adopted and bot tables).
    pub kr_id: Option<String>,
    pub kind: Kind,
    /// The number from the id or the label; `None`: the row is the
    /// objective's `position`-th record of its kind.
    pub number: Option<u32>,
    /// 1-based place among the table's body rows of this kind.
    pub position: u32,
    /// The KR's or metric's text as the table writes it (staff tables, and
    /// metric rows of the bot's tables).
    pub text: Option<String>,
    pub baseline: Option<String>,
    pub year_goal: Option<String>,
    /// Quarters whose cell holds something, with status and note.
    pub quarters: Vec<(Quarter, Option<Status>, Option<String>)>,
    /// The quarters whose cell holds markup (a link, a template, bold…):
    /// their note's wikitext is not its plain text.
    pub marked: Vec<Quarter>,
}

/// What a header cell names (`docs/pages.md`, "KR tables staff wrote").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Kr,
    Metric,
    YearGoal,
    Baseline,
    Quarter(Quarter),
    Unknown,
}

/// Classifies a header cell's text (case, spacing and line breaks ignored).
pub fn column(header: &str) -> Column {
    static QUARTER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^q([1-4])(?: (?:status|update))?$").expect("valid pattern"));
    let h = collapse(&header.to_lowercase());
    let h = h.trim_end_matches(':').trim();
    match h {
        "" | "kr" | "krs" | "key result" | "key results" => Column::Kr,
        "mtp metrics" | "mtp metric" | "metric" | "metrics" => Column::Metric,
        // `Goal` alone is how the decks title the year-goal column in some
        // tables; a table with quarter columns means nothing else by it.
        "year goal" | "y1 goal" | "y2 goal" | "y3 goal" | "fy goal" | "annual goal" | "goal" => {
            Column::YearGoal
        }
        "baseline" => Column::Baseline,
        _ => match QUARTER.captures(h) {
            Some(c) => c[1]
                .parse::<u8>()
                .ok()
                .and_then(Quarter::from_number)
                .map_or(Column::Unknown, Column::Quarter),
            None => Column::Unknown,
        },
    }
}

/// Whether a header names a staff KR table: a year-goal or a quarter column.
pub fn is_status_header(columns: &[Column]) -> bool {
    columns
        .iter()
        .any(|c| matches!(c, Column::YearGoal | Column::Quarter(_)))
}

/// A table staff wrote that looks like a KR table but cannot be read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unreadable(pub String);

/// What a table without the bot's identity is.
pub(super) enum Found {
    /// Not a KR table: narrative, as before.
    Other,
    /// A staff KR or metrics table, read.
    Staff(StatusTable),
    /// A staff KR table the bot cannot read whole (merged cells, …): left
    /// alone and reported, never half-read.
    Unreadable(Unreadable),
}

/// Reads a table without `data-goalsbot-objective`.
pub(super) fn read_staff(table: &Wikinode, palette: &Palette) -> Found {
    let rows = rows_of(table);
    let Some(first) = rows.first() else {
        return Found::Other;
    };
    let header: Vec<Column> = cells_of(first)
        .iter()
        .map(|c| column(&cell_text(c)))
        .collect();
    if !is_status_header(&header) {
        return Found::Other;
    }
    if let Err(why) = readable(table, &rows, header.len()) {
        return Found::Unreadable(why);
    }
    let mut out = StatusTable {
        objective_id: None,
        staff: true,
        rows: Vec::new(),
        skipped: Vec::new(),
        empty_rows: Vec::new(),
        managers: Vec::new(),
    };
    let mut positions = Positions::default();
    for (i, tr) in rows[1..].iter().enumerate() {
        let cells = cells_of(tr);
        if cells.iter().all(|c| cell_text(c).is_empty()) {
            out.empty_rows.push(i);
            continue;
        }
        let mut notes = Vec::new();
        if let Some(row) = read_row(
            None,
            None,
            &cells,
            &Layout {
                header: &header,
                staff: true,
                palette,
            },
            &mut positions,
            &mut notes,
        ) {
            out.rows.push(row);
        }
        out.skipped
            .extend(notes.into_iter().map(|n| format!("row {}: {n}", i + 1)));
    }
    Found::Staff(out)
}

/// Why a staff KR table cannot be read whole, if it cannot.
fn readable(table: &Wikinode, rows: &[Wikinode], width: usize) -> Result<(), Unreadable> {
    if !table.select("table table").is_empty() || table.select("table").len() > 1 {
        return Err(Unreadable("it holds a table inside a cell".into()));
    }
    for (i, tr) in rows.iter().enumerate() {
        let cells = cells_of(tr);
        for c in &cells {
            for span in ["colspan", "rowspan"] {
                if attr(c, span).is_some_and(|v| v.trim() != "1") {
                    return Err(Unreadable(format!(
                        "row {} has a merged cell ({span})",
                        i + 1
                    )));
                }
            }
        }
        if i > 0 && cells.len() != width {
            return Err(Unreadable(format!(
                "row {} has {} cells where the header has {width}",
                i + 1,
                cells.len()
            )));
        }
    }
    Ok(())
}

/// Reads a `table[data-goalsbot-objective]` (the bot's, or a staff table
/// the bot adopted); problems become warnings.
pub(super) fn read(
    table: &Wikinode,
    palette: &Palette,
    warnings: &mut Vec<String>,
) -> Option<StatusTable> {
    let objective_id = attr(table, "data-goalsbot-objective")?.trim().to_string();
    if !OBJECTIVE_ID.is_match(&objective_id) {
        warnings.push(format!(
            "status table with malformed data-goalsbot-objective={objective_id:?} ignored"
        ));
        return None;
    }
    let staff = is_staff(table);
    let mut header: Vec<Column> = Vec::new();
    let mut rows: Vec<StatusRow> = Vec::new();
    let mut positions = Positions::default();
    let mut skipped = Vec::new();
    for tr in rows_of(table) {
        let cells = cells_of(&tr);
        let Some(kr_id) = attr(&tr, "data-goalsbot-kr") else {
            if header.is_empty() {
                header = cells.iter().map(|c| column(&cell_text(c))).collect();
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
        let kind = match &caps[2] {
            "kr" => Kind::KeyResult,
            "item" => Kind::ObjectiveItem,
            _ => Kind::Metric,
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
        if rows
            .iter()
            .any(|r| r.kr_id.as_deref() == Some(kr_id.as_str()))
        {
            warnings.push(format!(
                "status table {objective_id}: second row for {kr_id} ignored"
            ));
            continue;
        }
        let known = Some((kind, number));
        let mut notes = Vec::new();
        if let Some(row) = read_row(
            Some(kr_id.clone()),
            known,
            &cells,
            &Layout {
                header: &header,
                staff,
                palette,
            },
            &mut positions,
            &mut notes,
        ) {
            rows.push(row);
        }
        skipped.extend(notes.into_iter().map(|n| format!("{kr_id}: {n}")));
    }
    Some(StatusTable {
        objective_id: Some(objective_id),
        staff,
        rows,
        skipped,
        empty_rows: Vec::new(),
        managers: Vec::new(),
    })
}

/// Counts body rows per kind, for rows that say no number.
#[derive(Default)]
struct Positions {
    key_results: u32,
    items: u32,
    metrics: u32,
}

impl Positions {
    fn next(&mut self, kind: Kind) -> u32 {
        let n = match kind {
            Kind::KeyResult => &mut self.key_results,
            Kind::ObjectiveItem => &mut self.items,
            Kind::Metric => &mut self.metrics,
        };
        *n += 1;
        *n
    }
}

/// How a table's rows are read: its columns, and whether staff wrote it.
#[derive(Clone, Copy)]
struct Layout<'a> {
    header: &'a [Column],
    staff: bool,
    palette: &'a Palette,
}

/// A quarter's status and note from its cell (`value`: the cell's text);
/// `None` when the cell says neither. In a staff table a cell whose words
/// name no status may say it by its colour: the whole text is then the note.
fn quarter_cell(
    cell: &Wikinode,
    value: &str,
    quarter: Quarter,
    layout: &Layout<'_>,
    notes: &mut Vec<String>,
) -> Option<(Option<Status>, Option<String>)> {
    let (status, note) = Status::read_cell(value);
    if status.is_none() && layout.staff && !value.is_empty() && !says_no_status(value) {
        let colour = background(cell);
        let status = colour.as_deref().and_then(|c| layout.palette.status_of(c));
        if let (Some(c), None) = (&colour, status) {
            notes.push(format!(
                "{quarter}: the colour {c:?} names no status (add it to [status] colours); \
                 the cell is read as a note"
            ));
        }
        if status.is_some() {
            return Some((status, Some(value.to_string())));
        }
    }
    (status.is_some() || note.is_some()).then_some((status, note))
}

/// What the label cell of a row whose id is known says: its number, when
/// it is a KR's (the label says where the page has the KR: staff may have
/// renumbered it, while the id says which KR it is), and its words, when
/// the table is staff's or the row a metric's.
fn known_label(statement: &str, kind: Kind, staff: bool) -> (Option<u32>, Option<String>) {
    let label = classify(statement);
    let number = match (&label, kind) {
        (Label::KeyResult { number, .. }, Kind::KeyResult) => Some(*number),
        _ => None,
    };
    let text = (staff || kind == Kind::Metric).then(|| match label {
        Label::KeyResult { text, .. } | Label::ObjectiveItem(text) => text,
        _ => METRIC_LABEL.replace(statement, "").into_owned(),
    });
    (number, text)
}

/// Reads one body row. `known` is the kind and number the row's id gives;
/// without one (a staff table) they come from the KR or metric cell.
fn read_row(
    kr_id: Option<String>,
    known: Option<(Kind, u32)>,
    cells: &[Wikinode],
    layout: &Layout<'_>,
    positions: &mut Positions,
    notes: &mut Vec<String>,
) -> Option<StatusRow> {
    let Layout { header, staff, .. } = *layout;
    // Where the header names nothing (a bot table whose header staff
    // changed), the bot's own layout: KR, year goal, then quarters.
    let col = |i: usize| match header.get(i).copied() {
        Some(Column::Unknown) | None if !staff => match i {
            0 => Column::Kr,
            1 => Column::YearGoal,
            _ => Column::Unknown,
        },
        Some(c) => c,
        None => Column::Unknown,
    };
    let metric_table = header.contains(&Column::Metric);
    let mut kind = known.map_or(
        if metric_table {
            Kind::Metric
        } else {
            Kind::KeyResult
        },
        |(k, _)| k,
    );
    let mut number = known.map(|(_, n)| n);
    let mut text: Option<String> = None;
    let mut baseline: Option<String> = None;
    let mut baseline_column: Option<String> = None;
    let mut year_goal: Option<String> = None;
    let mut quarters: Vec<(Quarter, Option<Status>, Option<String>)> = Vec::new();
    let mut marked = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let value = cell_text(cell);
        let quarter = attr(cell, "data-goalsbot-quarter")
            .and_then(|q| q.parse::<Quarter>().ok())
            .or(match col(i) {
                Column::Quarter(q) => Some(q),
                _ => None,
            });
        if let Some(quarter) = quarter {
            if has_markup(cell, 0) && !marked.contains(&quarter) {
                marked.push(quarter);
            }
            if let Some((status, note)) = quarter_cell(cell, &value, quarter, layout, notes) {
                quarters.retain(|(q, ..)| *q != quarter);
                quarters.push((quarter, status, note));
            }
            continue;
        }
        match col(i) {
            Column::Kr if kind != Kind::Metric || !metric_table => {
                let (statement, b) = split_baseline(&value);
                baseline = b;
                if known.is_none() {
                    match classify(&statement) {
                        Label::KeyResult { number: n, text: t } => {
                            number = Some(n);
                            text = Some(t);
                        }
                        Label::ObjectiveItem(t) => {
                            kind = Kind::ObjectiveItem;
                            text = Some(t);
                        }
                        _ => text = Some(statement),
                    }
                } else {
                    let (n, t) = known_label(&statement, kind, staff);
                    number = n.or(number);
                    text = t.or(text);
                }
            }
            Column::Metric | Column::Kr => {
                let (statement, b) = split_baseline(&value);
                baseline = b;
                text = Some(METRIC_LABEL.replace(&statement, "").into_owned());
            }
            Column::YearGoal => year_goal = (!value.is_empty()).then_some(value),
            Column::Baseline => baseline_column = (!value.is_empty()).then_some(value),
            Column::Quarter(_) | Column::Unknown => {}
        }
    }
    if baseline_column.is_some() {
        baseline = baseline_column;
    }
    let position = positions.next(kind);
    if kind == Kind::Metric && number.is_none() {
        number = Some(position);
    }
    quarters.sort_by_key(|(q, ..)| *q);
    Some(StatusRow {
        kr_id,
        kind,
        number,
        position,
        text: text.filter(|t| !t.is_empty()),
        baseline,
        year_goal,
        quarters,
        marked,
    })
}

/// Whether `node` holds any element but a line break: markup whose
/// wikitext is not the text it shows.
fn has_markup(node: &Wikinode, depth: usize) -> bool {
    depth < 64
        && node.children().any(|child| {
            child.as_text().is_none()
                && tag(&child).is_some_and(|t| t != "br" || has_markup(&child, depth + 1))
        })
}

/// A cell that says it has no status on purpose (`No status: …`).
fn says_no_status(text: &str) -> bool {
    let p = Status::NO_STATUS_PREFIX;
    text.get(..p.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(p))
}

/// A cell's background colour as written: `style` (`background`,
/// `background-color`) over `bgcolor`.
fn background(cell: &Wikinode) -> Option<String> {
    attr(cell, "style")
        .and_then(|s| style_background(&s))
        .or_else(|| attr(cell, "bgcolor"))
}

/// The text of a cell as a reader sees it: `<br>`, paragraphs and new lines
/// as one space.
pub(super) fn cell_text(cell: &Wikinode) -> String {
    fn walk(node: &Wikinode, out: &mut String, depth: usize) {
        if depth > 64 {
            return;
        }
        for child in node.children() {
            if let Some(t) = child.as_text() {
                out.push_str(&t.borrow());
                continue;
            }
            let Some(name) = tag(&child) else { continue };
            match name.as_str() {
                "br" => out.push(' '),
                "p" | "div" | "li" | "ul" | "ol" | "dl" | "dd" | "dt" | "pre" => {
                    out.push(' ');
                    walk(&child, out, depth + 1);
                    out.push(' ');
                }
                _ => {
                    // Invisible parts (references, comments, styles) are
                    // left out as the rest of the parser does.
                    let one = plain_text_of(&child);
                    out.push_str(&one);
                }
            }
        }
    }
    let mut out = String::new();
    walk(cell, &mut out, 0);
    collapse(&out)
}

/// The plain text of an inline element, spaces kept at its edges.
fn plain_text_of(node: &Wikinode) -> String {
    let raw = node.text_contents();
    let inner = plain_text(node);
    if inner.is_empty() {
        return if raw.trim().is_empty() && !raw.is_empty() {
            " ".into()
        } else {
            String::new()
        };
    }
    let lead = if raw.starts_with(char::is_whitespace) {
        " "
    } else {
        ""
    };
    let trail = if raw.ends_with(char::is_whitespace) {
        " "
    } else {
        ""
    };
    format!("{lead}{inner}{trail}")
}

/// The `<td>`/`<th>` cells of a row.
fn cells_of(tr: &Wikinode) -> Vec<Wikinode> {
    tr.children()
        .filter(|c| matches!(tag(c).as_deref(), Some("td" | "th")))
        .collect()
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
        (read(&table, &Palette::default(), &mut warnings), warnings)
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
        assert_eq!(
            table.objective_id.as_deref(),
            Some("2020-21/content-integrity")
        );
        assert_eq!(
            table.rows,
            vec![StatusRow {
                kr_id: Some("2020-21/content-integrity/kr2".into()),
                kind: Kind::KeyResult,
                number: Some(2),
                position: 1,
                text: None,
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
                marked: Vec::new(),
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
        let html = r#"<table class="goalsbot-status" data-goalsbot-objective="2020-21/x"><tr><th>KR</th><th>Year goal</th><th>Q1</th><th>Q2</th></tr>
<tr data-goalsbot-kr="2020-21/x/item1"><td>Objective 1</td><td></td><td>No status: Done by another team</td><td>Postponed</td></tr></table>"#;
        let (table, warnings) = read_html(html);
        assert!(warnings.is_empty(), "{warnings:?}");
        let row = &table.unwrap().rows[0];
        assert_eq!(row.kind, Kind::ObjectiveItem);
        assert_eq!(row.number, Some(1));
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
