//! The simulation model shared by `tests/sim.rs` (the pure runs) and
//! `tests/it/replay.rs` (the same sequences against the real wiki): see
//! `tests/sim.rs` for what it models and the oracle.
#![allow(dead_code)] // each test crate uses a part of it

use std::collections::{BTreeMap, BTreeSet};

use goalsbot::core::feed::{self as feed, Change, Position};
use goalsbot::core::fields::{self, FieldChange, FieldKey, Fields};
use goalsbot::core::identity::Following;
use goalsbot::core::merge::{
    merge_page, past_words, structure_hold, unread_labels, MergeInput, PastWords, PendingConflict,
    SinceBase,
};
use goalsbot::core::parse::parse_quarter_page_after;
use goalsbot::core::parse::Column;
use goalsbot::core::plan::{plan_quarter_page_with, records_for_page, Adoption};
use goalsbot::core::records::{
    FiscalYear, FiscalYearRecords, KeyResult, Kind, Objective, Quarter, Status,
};
use goalsbot::core::render::{status_cell_text, Renderer};
use goalsbot::core::wikitable;
use proptest::prelude::*;
use serde_json::{json, Value};

/// The bot account's user name in the model's recent changes.
pub const BOT_USER: &str = "GoalsBot";
pub const KRS: [&str; 3] = ["2020-21/alpha/kr1", "2020-21/alpha/kr2", "2020-21/beta/kr1"];
pub const OBJECTIVES: [&str; 2] = ["2020-21/alpha", "2020-21/beta"];
pub const STATUSES: [Status; 4] = [
    Status::Complete,
    Status::OnTrack,
    Status::AtRisk,
    Status::Concerns,
];
pub const NOTES: [&str; 4] = ["hiring", "later", "blocked on legal", "done early"];
/// KR texts a tracker edit (`set --text`) gives: plain, longer, with markup to escape.
pub const TEXTS: [&str; 4] = [
    "Ship the widget",
    "Ship the widget by Q3",
    "Ship it | fast {{now}}",
    "Alpha one",
];
pub const GOALS: [&str; 3] = ["4 hires", "10 models", "2 services"];

pub fn fy() -> FiscalYear {
    FiscalYear::starting(2020)
}

// ---------------------------------------------------------------------------
// The wiki: wikitext → the HTML Parsoid makes of it, for the subset used here.

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
}

/// Splits a table cell `attrs | content` (attrs only when they look like attributes).
pub fn cell_parts(cell: &str) -> (String, String) {
    if let Some((a, c)) = cell.split_once(" | ") {
        if a.contains('=') && !a.contains('<') {
            return (a.trim().to_string(), c.trim().to_string());
        }
    }
    (String::new(), cell.trim().to_string())
}

/// `s` split at `sep`, except inside an HTML tag (`<span title="a||b">`):
/// MediaWiki splits a table line into cells only outside tags.
pub fn split_outside_tags<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let (mut start, mut i, mut in_tag) = (0, 0, false);
    let b = s.as_bytes();
    while i < b.len() {
        match b[i] {
            b'<' if b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'/') =>
            {
                in_tag = true
            }
            b'>' => in_tag = false,
            _ if !in_tag && b[i..].starts_with(sep.as_bytes()) => {
                out.push(&s[start..i]);
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// The wikitext with its HTML comments removed, as MediaWiki's
/// preprocessor removes them before tables are read.
pub fn strip_comments(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("<!--") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("<!--") {
        out.push_str(&rest[..at]);
        match rest[at..].find("-->") {
            Some(end) => rest = &rest[at + end + 3..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out.into()
}

/// A note with markup, as a person writes one in a status cell: an
/// external link and bold text.
pub const MARKUP_NOTE: &str =
    "see [https://phabricator.wikimedia.org/T301234 the outage] and '''T287999'''";

/// A cell's inline wikitext as Parsoid renders it, for the markup used here
/// (external links with a text, bold).
pub fn inline_html(wikitext: &str) -> String {
    thread_local! {
        static LINK: regex::Regex =
            regex::Regex::new(r"\[(https?://[^ \]]+) ([^\]]+)\]").expect("pattern");
        static BOLD: regex::Regex = regex::Regex::new(r"'''([^']+)'''").expect("pattern");
    }
    let escaped = html_escape(wikitext);
    if !escaped.contains('[') && !escaped.contains("'''") {
        return escaped;
    }
    let linked = LINK.with(|r| {
        r.replace_all(
            &escaped,
            r#"<a rel="mw:ExtLink" class="external text" href="$1">$2</a>"#,
        )
        .into_owned()
    });
    BOLD.with(|r| r.replace_all(&linked, "<b>$1</b>").into_owned())
}

pub fn to_html(wikitext: &str) -> String {
    let wikitext = strip_comments(wikitext);
    let mut out = String::from("<html><body>");
    let mut in_table = false;
    let mut in_row = false;
    for line in wikitext.lines() {
        // `{{!}}` is the template that gives a bar: in a table it makes
        // separators as a written `|` does.
        let bars;
        let line = if in_table && line.contains("{{!}}") {
            bars = line.replace("{{!}}", "|");
            bars.as_str()
        } else {
            line
        };
        if in_table {
            if let Some(rest) = line.strip_prefix("{|") {
                // A table at row level (no cell open) ends the open one.
                if in_row {
                    out.push_str("</tr>");
                }
                out.push_str("</tbody></table>");
                out.push_str(&format!("<table {}><tbody>", rest.trim()));
                in_row = false;
            } else if line.trim_start().starts_with("<tr") {
                // A row written in HTML: the browser's parser reads it.
                if in_row {
                    out.push_str("</tr>");
                }
                out.push_str(&inline_html(line.trim()));
                in_row = false;
            } else if line.starts_with("|}") {
                if in_row {
                    out.push_str("</tr>");
                }
                out.push_str("</tbody></table>");
                in_table = false;
                in_row = false;
            } else if let Some(rest) = line.strip_prefix("|-") {
                if in_row {
                    out.push_str("</tr>");
                }
                out.push_str(&format!("<tr {}>", rest.trim()));
                in_row = true;
            } else if line.starts_with("|+") {
                // The legend caption is never read.
            } else if let Some(rest) = line.strip_prefix('!') {
                out.push_str("<tr>");
                for h in split_outside_tags(rest, "!!") {
                    out.push_str(&format!("<th>{}</th>", h.trim()));
                }
                out.push_str("</tr>");
            } else if let Some(rest) = line.strip_prefix('|') {
                if !in_row {
                    out.push_str("<tr>");
                    in_row = true;
                }
                for c in split_outside_tags(rest, "||") {
                    let (attrs, content) = cell_parts(c);
                    out.push_str(&format!("<td {attrs}>{}</td>", inline_html(&content)));
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("{|") {
            out.push_str(&format!("<table {}><tbody>", rest.trim()));
            in_table = true;
        } else if line.starts_with('=') {
            let level = line.chars().take_while(|c| *c == '=').count();
            let text = line.trim_matches('=').trim();
            out.push_str(&format!("<h{level}>{}</h{level}>", html_escape(text)));
        } else if !line.trim().is_empty() {
            out.push_str(&format!("<p>{}</p>", html_escape(line.trim())));
        }
    }
    out.push_str("</body></html>");
    out
}

pub fn parse(text: &str, q: Quarter) -> (FiscalYearRecords, BTreeSet<String>) {
    let (records, rows, _) = parse_with_labels(text, q);
    (records, rows)
}

/// The KRs whose words `text` gives only in a table's label cell.
pub fn labels(text: &str, q: Quarter) -> BTreeSet<String> {
    parse_with_labels(text, q).2
}

/// A page's text as the bot reads it: records, the KRs with a status row,
/// the KRs whose words only a label gives.
pub type Parsed = (FiscalYearRecords, BTreeSet<String>, BTreeSet<String>);

/// `text` as the bot reads it after a revision it read as `base`: each KR
/// keeps the id it had there (`core::identity`), against the store's
/// `year` when given (as pull does), else `base` alone.
pub fn parse_after(
    text: &str,
    q: Quarter,
    base: Option<&FiscalYearRecords>,
    year: Option<&Fields>,
    past: &PastWords,
) -> Parsed {
    parse_following(text, q, base, year, past).0
}

/// [`parse_after`], and what it could not follow (reworded and renumbered at once).
fn parse_following(
    text: &str,
    q: Quarter,
    base: Option<&FiscalYearRecords>,
    year: Option<&Fields>,
    past: &PastWords,
) -> (Parsed, Vec<String>) {
    let Some(base) = base else {
        return (parse_with_labels(text, q), Vec::new());
    };
    let following = match year {
        Some(year) => Following::of_store(base, year),
        None => Following::new(base, &[], []),
    }
    .with_past(past.clone());
    read_text(text, q, Some((&following, base)))
}

/// `text` as pull reads it (following `after`'s KRs when given, after the
/// revision it read as its base): its records (a note written with markup
/// keeps its wikitext), the rest of the parse, and what could not be followed.
fn read_text(
    text: &str,
    q: Quarter,
    after: Option<(&Following, &FiscalYearRecords)>,
) -> (Parsed, Vec<String>) {
    let following = after.map(|(f, _)| f);
    let parsed = parse_quarter_page_after(&to_html(text), &fy(), q, &Default::default(), following);
    let mut records = FiscalYearRecords {
        fiscal_year: fy(),
        objectives: parsed.objectives,
    };
    if !parsed.marked_notes.is_empty() {
        let base = after.map(|(_, base)| base);
        goalsbot::core::notes::attach(text, &mut records, &parsed.marked_notes, base);
    }
    (
        (records, parsed.table_rows, parsed.label_words),
        parsed.identity_doubts,
    )
}

/// A text read on a page: the text, the page's quarter, a hash of what the
/// bot follows its KRs by (the revision last synced there, the history).
type ReadKey = (String, Quarter, u64);

/// The bot's own save `text`, made on the revision read as `base`.
pub fn parse_own_save(text: &str, q: Quarter, base: &FiscalYearRecords) -> Parsed {
    read_text(text, q, Some((&Following::of_own_save(base), base))).0
}

/// What `parsed` shows for the watched fields (only rows it has).
pub fn shown_in(parsed: &Parsed) -> Fields {
    fields::flatten(&parsed.0)
        .into_iter()
        // A KR's text is prose: shown whether or not a table has its row.
        .filter(|(k, v)| (parsed.1.contains(&k.record) || k.field == "text") && !v.is_null())
        .collect()
}

fn parse_with_labels(
    text: &str,
    q: Quarter,
) -> (FiscalYearRecords, BTreeSet<String>, BTreeSet<String>) {
    type Parsed = (FiscalYearRecords, BTreeSet<String>, BTreeSet<String>);
    thread_local! {
        // The oracle looks at every page after every step: parse each text once.
        static PARSED: std::cell::RefCell<std::collections::HashMap<(String, Quarter), Parsed>> =
            Default::default();
    }
    let key = (text.to_string(), q);
    if let Some(hit) = PARSED.with(|c| c.borrow().get(&key).cloned()) {
        return hit;
    }
    let out = read_text(text, q, None).0;
    PARSED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(key, out.clone());
    });
    out
}

// ---------------------------------------------------------------------------
// Editing page text as a person would.

/// The content of `kr`'s cell in `column` of an adopted staff table (one
/// with the bot's identity and without its `goalsbot-status` class).
fn adopted_cell(text: &str, kr: &str, column: Column) -> Option<std::ops::Range<usize>> {
    adopted_cells(text)
        .iter()
        .find(|(k, c, _)| k == kr && *c == column)
        .map(|(_, _, r)| r.clone())
}

/// Every cell of the adopted tables in `text`: (KR id, column, content
/// range), in table order (the first table's cell wins, as a search would
/// find it). The oracle asks for cell after cell of the same text: the
/// tables are read once per text.
fn adopted_cells(text: &str) -> std::rc::Rc<Vec<(String, Column, std::ops::Range<usize>)>> {
    type Cells = std::rc::Rc<Vec<(String, Column, std::ops::Range<usize>)>>;
    thread_local! {
        static READ: std::cell::RefCell<std::collections::HashMap<String, Cells>> =
            Default::default();
    }
    if let Some(hit) = READ.with(|c| c.borrow().get(text).cloned()) {
        return hit;
    }
    let mut out = Vec::new();
    for t in wikitable::tables_in(text, 0..text.len()) {
        let open = &text[t.open.clone()];
        if !open.contains("data-goalsbot-objective") || open.contains("goalsbot-status") {
            continue;
        }
        let header: Vec<Column> = t.rows[0]
            .cells
            .iter()
            .map(|c| goalsbot::core::parse::column(&wikitable::plain(&text[c.content.clone()])))
            .collect();
        for (ci, column) in header.iter().enumerate() {
            if header[..ci].contains(column) {
                continue; // the first column of a kind is the one searched
            }
            // The first row with the KR's id, as a search would find it.
            let mut seen = BTreeSet::new();
            for r in &t.rows {
                let Some(kr) = goalsbot::core::adopt::row_id(text, r) else {
                    continue;
                };
                if !seen.insert(kr.clone()) {
                    continue;
                }
                // A person edits what they see as the cell: the reader's
                // range of a cell followed by an HTML row (a table it is
                // unsure of) runs over that row, which no person would cut.
                if let Some(cell) = r
                    .cells
                    .get(ci)
                    .filter(|c| !text[c.content.clone()].contains("<tr"))
                {
                    out.push((kr, *column, cell.content.clone()));
                }
            }
        }
    }
    let out = std::rc::Rc::new(out);
    READ.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 1024 {
            c.clear();
        }
        c.insert(text.to_string(), out.clone());
    });
    out
}

/// `text` with `range` holding ` value ` (a cell edited in place).
fn replaced(text: &str, range: std::ops::Range<usize>, value: &str) -> String {
    let mut out = text.to_string();
    out.replace_range(range, &format!(" {value} "));
    out
}

/// The forms of table syntax [`with_staff_syntax`] writes.
pub const STAFF_SYNTAX: [&str; 3] = [
    "KR2's row as an HTML row",
    "KR1's first cell separator as {{!}}{{!}}",
    "a row holding a table (at row level) before the table's |}",
];

/// `text` with the wikitext table row `row` written as one HTML row with
/// the same attributes and cells (`<tr …><td …>…</td>…</tr>`); `None` for a
/// row with header cells or a cell over several lines.
pub fn as_html_row(text: &str, row: &wikitable::Row) -> Option<String> {
    let line = row.line.clone()?;
    let end = row.cells.last()?.content.end;
    let attrs = text[line.clone()].trim_start_matches("|-").trim();
    let cells: String = row
        .cells
        .iter()
        .map(|c| {
            let attrs = c
                .attrs
                .clone()
                .map_or(String::new(), |a| format!(" {}", text[a].trim()));
            format!("<td{attrs}>{}</td>", text[c.content.clone()].trim())
        })
        .collect();
    if cells.contains('\n') || row.cells.iter().any(|c| c.header) {
        return None;
    }
    let mut out = text.to_string();
    out.replace_range(line.start..end, &format!("<tr {attrs}>{cells}</tr>"));
    Some(out)
}

/// `text` with Alpha's adopted staff table rewritten by a person in a form
/// of the table syntax (`STAFF_SYNTAX[form]`) that shows the same cells:
/// an HTML row and `{{!}}` separators, which the bot's reader cannot be
/// sure of (the bot must then never write into the table), and a table at
/// row level, which ends the staff table there for MediaWiki (the bot must
/// keep writing exactly MediaWiki's cells, and add rows before it). `None`
/// when the page has no such table (or row) to rewrite.
pub fn with_staff_syntax(text: &str, form: usize) -> Option<String> {
    let table = goalsbot::core::adopt::identity_tables(text, OBJECTIVES[0])
        .into_iter()
        .find(|t| !t.bots_own)?
        .table;
    let row_of = |kr: &str| {
        table
            .rows
            .iter()
            .find(|r| goalsbot::core::adopt::row_id(text, r).as_deref() == Some(kr))
    };
    let mut out = text.to_string();
    match form {
        0 => out = as_html_row(text, row_of(KRS[1])?)?,
        1 => {
            let row = row_of(KRS[0])?;
            let after = row.cells.first()?.content.end;
            let line_end = text[after..].find('\n').map_or(text.len(), |e| after + e);
            let at = after + text[after..line_end].find("||")?;
            out.replace_range(at..at + 2, "{{!}}{{!}}");
        }
        _ => {
            if table.range.end <= table.close_line || !text[table.close_line..].starts_with("|}") {
                return None; // already ended by something else
            }
            // After a `|-` no cell is open: the `{|` stands at row level
            // (inside an open cell it would nest a table in that cell).
            out.insert_str(table.close_line, "|-\n{|\n| an aside\n|}\n");
        }
    }
    Some(out)
}

/// `text` with the quarter cell `q` of `kr`'s row replaced by `value`; `None` when there is no such cell.
pub fn with_cell(text: &str, kr: &str, q: &str, value: &str) -> Option<String> {
    if let Ok(quarter) = q.parse::<Quarter>() {
        if let Some(r) = adopted_cell(text, kr, Column::Quarter(quarter)) {
            return Some(replaced(text, r, value));
        }
    }
    let mut out = String::new();
    let (mut in_row, mut done) = (false, false);
    for line in text.lines() {
        if line.starts_with("|-") || line.starts_with("|}") {
            in_row = line.contains(&format!("data-goalsbot-kr=\"{kr}\""));
        }
        if in_row && !done && line.contains(&format!("data-goalsbot-quarter=\"{q}\"")) {
            out.push_str(&format!("| data-goalsbot-quarter=\"{q}\" | {value}\n"));
            done = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    done.then_some(out)
}

/// `text` with `kr`'s year goal cell set to `goal` (the bot's `| KR1 || goal`
/// line, or VisualEditor's second cell line).
pub fn with_year_goal(text: &str, kr: &str, goal: &str) -> Option<String> {
    if let Some(r) = adopted_cell(text, kr, Column::YearGoal) {
        return Some(replaced(text, r, goal));
    }
    let mut out = String::new();
    let (mut at, mut done) = (None::<usize>, false);
    for line in text.lines() {
        if line.starts_with("|-") || line.starts_with("|}") {
            at = line
                .contains(&format!("data-goalsbot-kr=\"{kr}\""))
                .then_some(0);
        } else if let Some(n) = at.filter(|_| !done) {
            if n == 0 {
                if let Some((label, _)) = line.split_once(" || ") {
                    out.push_str(&format!("{label} || {goal}\n"));
                    done = true;
                    continue;
                }
            } else if n == 1 {
                out.push_str(&format!("| {goal}\n"));
                done = true;
                continue;
            }
            at = Some(n + 1);
        }
        out.push_str(line);
        out.push('\n');
    }
    done.then_some(out)
}

/// The lines of the table of `objective`, or `None`.
fn table_span(text: &str, objective: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        l.starts_with("{|") && l.contains(&format!("data-goalsbot-objective=\"{objective}\""))
    })?;
    let end = start + lines[start..].iter().position(|l| l.starts_with("|}"))?;
    Some((start, end))
}

/// The table of `objective` twice, one after the other (a paste gone wrong).
pub fn with_table_twice(text: &str, objective: &str) -> Option<String> {
    let (start, end) = table_span(text, objective)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = lines[..=end].to_vec();
    out.extend_from_slice(&lines[start..=end]);
    out.extend_from_slice(&lines[end + 1..]);
    Some(out.join("\n") + "\n")
}

/// The rows of the table of `objective` as (start, end) line ranges.
fn rows_of(lines: &[&str], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut rows = Vec::new();
    for i in start..end {
        if lines[i].starts_with("|-") && lines[i].contains("data-goalsbot-kr") {
            let stop = (i + 1..=end)
                .find(|&j| lines[j].starts_with("|-") || lines[j].starts_with("|}"))
                .unwrap_or(end);
            rows.push((i, stop));
        }
    }
    rows
}

/// The table of `objective` with its first two rows swapped, or its first row doubled.
pub fn with_rows_moved(text: &str, objective: &str, duplicate: bool) -> Option<String> {
    let (start, end) = table_span(text, objective)?;
    let lines: Vec<&str> = text.lines().collect();
    let rows = rows_of(&lines, start, end);
    let first = *rows.first()?;
    let mut out: Vec<&str> = lines[..first.0].to_vec();
    if duplicate {
        out.extend_from_slice(&lines[first.0..first.1]);
        out.extend_from_slice(&lines[first.0..]);
    } else {
        let second = *rows.get(1)?;
        out.extend_from_slice(&lines[second.0..second.1]);
        out.extend_from_slice(&lines[first.0..first.1]);
        out.extend_from_slice(&lines[second.1..]);
    }
    Some(out.join("\n") + "\n")
}

/// Every bot table with one cell per line, as VisualEditor saves a table it touched.
pub fn visual_editor_form(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("{|") && line.contains("data-goalsbot-objective") {
            inside = true;
        }
        if inside && line.starts_with("| ") && line.contains(" || ") {
            // VisualEditor splits where the wiki sees cells (not inside a tag).
            for cell in split_outside_tags(&line[2..], "||") {
                out.push_str(&format!("| {}\n", cell.trim()));
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
        if inside && line.starts_with("|}") {
            inside = false;
        }
    }
    out
}

pub fn without_table(text: &str, objective: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("{|")
            && line.contains(&format!("data-goalsbot-objective=\"{objective}\""))
        {
            skipping = true;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
        if skipping && line.starts_with("|}") {
            skipping = false;
        }
    }
    out
}

pub fn without_row(text: &str, kr: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        // A row ends where the next one starts, in wikitext or in HTML.
        if line.starts_with("|-") || line.starts_with("|}") || line.starts_with("<tr") {
            skipping =
                line.starts_with("|-") && line.contains(&format!("data-goalsbot-kr=\"{kr}\""));
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The line indexes of Alpha's `KR1:` and `KR2:` prose lines.
fn alpha_kr_lines(lines: &[&str]) -> Option<(usize, usize)> {
    let end = lines
        .iter()
        .position(|l| l.starts_with("== Prog - Beta"))
        .unwrap_or(lines.len());
    let one = lines[..end].iter().position(|l| l.starts_with("KR1: "))?;
    let two = lines[..end].iter().position(|l| l.starts_with("KR2: "))?;
    Some((one, two))
}

/// Alpha's KRs reordered and numbered in page order: the words of the
/// `KR1:` and `KR2:` lines swapped (the table rows stay, with their ids).
pub fn with_krs_swapped(text: &str) -> Option<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (one, two) = alpha_kr_lines(&refs)?;
    let (w1, w2) = (lines[one][5..].to_string(), lines[two][5..].to_string());
    lines[one] = format!("KR1: {w2}");
    lines[two] = format!("KR2: {w1}");
    Some(lines.join("\n") + "\n")
}

/// Alpha's KR1 deleted (its prose line and its table row) and KR2
/// renumbered KR1: the issue's case of a renumbering.
pub fn with_kr_renumbered(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (one, two) = alpha_kr_lines(&lines)?;
    // With the same words on both lines nobody can tell which one went.
    if lines[one][5..] == lines[two][5..] {
        return None;
    }
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[two] = format!("KR1: {}", &lines[two][5..]);
    out.remove(one);
    Some(without_row(&(out.join("\n") + "\n"), KRS[0]))
}

/// The page without `objective`'s heading line (a slip in VisualEditor):
/// its section runs into the one before.
pub fn without_heading(text: &str, objective: usize) -> Option<String> {
    let heading = ["== Prog - Alpha ==", "== Prog - Beta =="][objective];
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| *l == heading)?;
    let mut out: Vec<&str> = lines[..at].to_vec();
    out.extend_from_slice(&lines[at + 1..]);
    Some(out.join("\n") + "\n")
}

/// The wikitext of `kr`'s status cell for `q` (the bot's table, as the bot
/// or VisualEditor writes it, or an adopted staff table).
pub fn cell_wikitext(text: &str, kr: &str, q: Quarter) -> Option<String> {
    if let Some(r) = adopted_cell(text, kr, Column::Quarter(q)) {
        return Some(text[r].trim().to_string());
    }
    let mut in_row = false;
    for line in text.lines() {
        if line.starts_with("|-") || line.starts_with("|}") {
            in_row = line.contains(&format!("data-goalsbot-kr=\"{kr}\""));
        } else if in_row && line.contains(&format!("data-goalsbot-quarter=\"{}\"", q.as_str())) {
            let cell = line.strip_prefix('|')?;
            return Some(cell_parts(cell).1);
        }
    }
    None
}

/// The note part of a status cell's wikitext (after the status word).
pub fn note_wikitext(cell: &str) -> &str {
    cell.split_once(": ").map_or(cell, |(_, n)| n)
}

/// The objectives whose adopted staff table in `text` the bot does not
/// write into: its reader is unsure of the cells MediaWiki sees there.
pub fn shut(text: &str) -> BTreeSet<&'static str> {
    OBJECTIVES
        .iter()
        .copied()
        .filter(|o| {
            goalsbot::core::adopt::identity_tables(text, o)
                .iter()
                .any(|t| !t.bots_own && t.table.unsure.is_some())
        })
        .collect()
}

/// The lines outside the bot's status tables, blank lines left out.
pub fn outside_tables(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut inside = false;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().copied().enumerate() {
        // The bot's tables, and the KR tables staff wrote (which the bot
        // adopts: identity on their `{|` and `|-` lines, then its cells).
        let staff_table = line.starts_with("{|")
            && lines
                .get(i + 1)
                .is_some_and(|h| h.starts_with('!') && h.contains("Status"));
        if line.starts_with("{|") && (line.contains("data-goalsbot-objective") || staff_table) {
            inside = true;
        }
        if !inside && !line.trim().is_empty() {
            out.push(line);
        }
        if inside && line.starts_with("|}") {
            inside = false;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The model: pages, store, conflicts, history.

#[derive(Debug, Clone)]
pub struct Page {
    pub quarter: Quarter,
    pub title: String,
    /// Revisions, oldest first; the last is current.
    pub revisions: Vec<(u64, String)>,
}

impl Page {
    pub fn text(&self) -> &str {
        &self.revisions.last().expect("a page has a revision").1
    }
    pub fn revid(&self) -> u64 {
        self.revisions.last().expect("a page has a revision").0
    }
}

#[derive(Debug, Clone)]
pub struct PageState {
    pub revid: u64,
    pub records: FiscalYearRecords,
    pub rows: BTreeSet<String>,
    /// The KRs whose words the revision gave only in a table's label.
    pub labels: BTreeSet<String>,
    pub synced_at: u64,
}

#[derive(Debug, Clone)]
pub struct Conflict {
    pub key: FieldKey,
    pub page: String,
    pub wiki: Option<Value>,
    pub store: Option<Value>,
    pub pending: bool,
}

#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub at: u64,
    pub key: FieldKey,
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub tracker: bool,
}

/// A value someone wrote, for the oracle.
#[derive(Debug, Clone)]
pub struct Write {
    pub key: FieldKey,
    pub value: Option<Value>,
    pub who: String,
    /// The page it was written on (`None`: the tracker or a resolve).
    pub page: Option<usize>,
    /// When (the model's clock).
    pub at: u64,
    pub live: bool,
}

#[derive(Debug, Clone)]
pub struct Sim {
    pub pages: Vec<Page>,
    pub states: BTreeMap<usize, PageState>,
    pub store: Fields,
    pub history: Vec<HistoryEntry>,
    pub conflicts: Vec<Conflict>,
    /// Fields a person settled by keeping the store's value, and when
    /// (no history entry: the value did not change).
    pub kept: Vec<(FieldKey, u64)>,
    /// Fields a person settled by taking a page's value: (page, field, when).
    pub seen: Vec<(usize, FieldKey, u64)>,
    /// A page's text before a person changed its structure (a deleted
    /// heading): while the bot has not read the page since, what that text
    /// shows is still on the page, only not readable until it is repaired.
    pub before_structure: BTreeMap<usize, String>,
    pub clock: u64,
    pub next_revid: u64,
    pub writes: Vec<Write>,
    pub log: Vec<String>,
    /// The bot's saves: revision → run.
    pub bot_saves: BTreeMap<u64, u64>,
    /// Whether pull recovers unrecorded saves (off: the code before the fix).
    pub recovery: bool,
    /// Saves the bot was about to make and has not recorded: page → (base revision, run, when).
    pub intents: BTreeMap<usize, (u64, u64, u64)>,
    pub run: u64,
    /// Where `watch` stands in the wiki's recent changes (`None` before its first poll).
    pub feed: Option<Position>,
    /// And in the store: how many history entries and kept decisions it has looked at.
    pub feed_mark: (usize, usize),
}

/// The fields the oracle follows: every quarter's status and note of every KR.
pub fn watched() -> Vec<FieldKey> {
    KRS.iter().flat_map(|kr| fields_of(kr)).collect()
}

/// The KR texts the oracle follows (tracker edits write them to every page).
pub fn text_keys() -> Vec<FieldKey> {
    KRS.iter().map(|kr| FieldKey::new(*kr, "text")).collect()
}

/// The fields of one KR the oracle follows: its year goal and every
/// quarter's status and note.
fn fields_of(kr: &str) -> Vec<FieldKey> {
    let mut out = vec![FieldKey::new(kr, "year_goal")];
    for q in Quarter::ALL {
        for f in ["status", "note"] {
            out.push(FieldKey::new(kr, format!("quarters.{}.{f}", q.as_str())));
        }
    }
    out
}

pub fn initial_records() -> FiscalYearRecords {
    let kr = |obj: &str, n: u32, text: &str| KeyResult {
        id: format!("{obj}/kr{n}"),
        kind: Kind::KeyResult,
        number: n,
        text: text.into(),
        managers: vec!["Ann".into()],
        baseline: None,
        year_goal: None,
        links: vec![],
        quarters: BTreeMap::new(),
    };
    let objective = |id: &str, title: &str, krs: Vec<KeyResult>| Objective {
        id: id.into(),
        program: Some("Prog".into()),
        title: title.into(),
        managers: vec!["Ann".into()],
        description: None,
        status: BTreeMap::new(),
        target_quarter: None,
        department: None,
        key_results: krs,
    };
    FiscalYearRecords {
        fiscal_year: fy(),
        objectives: vec![
            objective(
                OBJECTIVES[0],
                "Alpha",
                vec![
                    kr(OBJECTIVES[0], 1, "Alpha one"),
                    kr(OBJECTIVES[0], 2, "Alpha two"),
                ],
            ),
            objective(
                OBJECTIVES[1],
                "Beta",
                vec![kr(OBJECTIVES[1], 1, "Beta one")],
            ),
        ],
    }
}

/// A quarter page as staff write it, with Alpha's KR table as staff keep it
/// (pasted from the deck: one KR by a colour, one by a status word, showing
/// the tracker's starting Q1 values), which the first sync adopts. Its
/// header holds a comment with `!!` and KR2's label cell a tag whose
/// attribute holds `||` and `!!`: no cell boundary for MediaWiki (see
/// `to_html`), so none for the bot's writes either.
pub fn page_text_with_staff_table(q: Quarter) -> String {
    page_text(q).replace(
        "KR2: Alpha two\n\n",
        "KR2: Alpha two\n\n{| class=\"wikitable\"\n\
         ! Key Results <!-- was: KRs !! Goals --> !! Year Goal !! Q1 Status !! Q2 Status !! Q3 Status !! Q4 Status\n\
         |-\n| KR1: Alpha one || 4 hires || bgcolor=#9fc5e8 | hiring ||  ||  || \n\
         |-\n| KR2 <span title=\"see || and !! here\">‡</span> ||  || On track: later ||  ||  || \n|}\n\n",
    )
}

/// A quarter page as staff write it, without tables (the first sync adds them).
pub fn page_text(q: Quarter) -> String {
    // One paragraph per line (blank lines between), as staff's pages have
    // them: wikitext joins adjacent lines into one paragraph.
    format!(
        "Goals for {q}.\n\n== Prog - Alpha ==\nObjective Manager: Ann\n\n=== Key Results ===\n\n\
         Key Results Manager: Ann\n\nKR1: Alpha one\n\nKR2: Alpha two\n\n\
         == Prog - Beta ==\nObjective Manager: Ann\n\n=== Key Results ===\n\n\
         Key Results Manager: Ann\n\nKR1: Beta one\n",
        q = q.as_str()
    )
}

pub fn stated(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// What a page shows for the watched fields (only rows it has).
pub fn shown(text: &str, q: Quarter) -> std::rc::Rc<Fields> {
    thread_local! {
        // The oracle looks at every page after every step: once per text.
        static SHOWN: std::cell::RefCell<std::collections::HashMap<(String, Quarter), std::rc::Rc<Fields>>> =
            Default::default();
    }
    let key = (text.to_string(), q);
    if let Some(hit) = SHOWN.with(|c| c.borrow().get(&key).cloned()) {
        return hit;
    }
    let (records, rows) = parse(text, q);
    let out: Fields = fields::flatten(&records)
        .into_iter()
        // A KR's text is prose: shown whether or not a table has its row.
        .filter(|(k, v)| (rows.contains(&k.record) || k.field == "text") && !v.is_null())
        .collect();
    let out = std::rc::Rc::new(out);
    SHOWN.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(key, out.clone());
    });
    out
}

impl Sim {
    pub fn new(quarters: usize) -> Sim {
        Sim::with_staff_table(quarters, false)
    }

    /// With `staff_table`, the first page keeps a KR table staff wrote.
    pub fn with_staff_table(quarters: usize, staff_table: bool) -> Sim {
        let pages = Quarter::ALL[..quarters]
            .iter()
            .enumerate()
            .map(|(i, q)| Page {
                quarter: *q,
                title: format!("Goals/2020-21 {}", q.as_str()),
                revisions: vec![(
                    i as u64 + 1,
                    if staff_table && i == 0 {
                        page_text_with_staff_table(*q)
                    } else {
                        page_text(*q)
                    },
                )],
            })
            .collect();
        let mut sim = Sim {
            pages,
            states: BTreeMap::new(),
            store: fields::flatten(&initial_records()),
            history: Vec::new(),
            kept: Vec::new(),
            seen: Vec::new(),
            before_structure: BTreeMap::new(),
            conflicts: Vec::new(),
            clock: 1,
            next_revid: 100,
            writes: Vec::new(),
            log: Vec::new(),
            bot_saves: BTreeMap::new(),
            recovery: true,
            intents: BTreeMap::new(),
            run: 0,
            feed: None,
            feed_mark: (0, 0),
        };
        // The tracker's starting statuses (as an import of the deck would set).
        for (i, kr) in KRS.iter().enumerate() {
            sim.tracker_set(kr, Quarter::Q1, Some(STATUSES[i % 4]), Some(NOTES[i % 4]));
        }
        sim.sync(None);
        assert!(sim.pending().is_empty(), "a clean start: {:?}", sim.log);
        sim
    }

    /// Every KR the oracle follows: the three it starts with, and any the
    /// bot made since (a row pasted or added by staff, a KR written on a
    /// page). A person's edit of such a KR's cell is a write like any
    /// other, so a decision on it (`resolve`) can be superseded.
    pub fn kr_ids(&self) -> Vec<String> {
        let mut out: Vec<String> = KRS.iter().map(|k| (*k).to_string()).collect();
        for (k, v) in &self.store {
            if k.field == "kind" && v.as_str() == Some("key-result") && !out.contains(&k.record) {
                out.push(k.record.clone());
            }
        }
        out
    }

    /// [`watched`] for every KR of [`Sim::kr_ids`].
    pub fn watched_now(&self) -> Vec<FieldKey> {
        self.kr_ids().iter().flat_map(|kr| fields_of(kr)).collect()
    }

    /// [`text_keys`] for every KR of [`Sim::kr_ids`].
    pub fn text_keys_now(&self) -> Vec<FieldKey> {
        self.kr_ids()
            .into_iter()
            .map(|kr| FieldKey::new(kr, "text"))
            .collect()
    }

    pub fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub fn pending(&self) -> Vec<&Conflict> {
        self.conflicts.iter().filter(|c| c.pending).collect()
    }

    pub fn save(&mut self, i: usize, text: String) -> u64 {
        // As MediaWiki: a save of the text the page holds makes no revision.
        if let Some((revid, last)) = self.pages[i].revisions.last() {
            if *last == text {
                return *revid;
            }
        }
        self.next_revid += 1;
        let revid = self.next_revid;
        self.pages[i].revisions.push((revid, text));
        revid
    }

    // -- the oracle's bookkeeping ------------------------------------------

    /// `who` changed the fields from `before` to `after`, having seen
    /// `before`. `base`: for a page, what its last synced revision showed —
    /// the bot compares revisions, not every edit between them, so a value
    /// put back to what the base showed is no write of its own (an edit
    /// undone before the next sync is as if it never happened).
    pub fn wrote(
        &mut self,
        who: &str,
        page: Option<usize>,
        before: &Fields,
        after: &Fields,
        keys: &[FieldKey],
        base: Option<&Fields>,
    ) {
        for key in keys {
            let (b, a) = (stated(before.get(key)), stated(after.get(key)));
            if b == a {
                continue;
            }
            self.saw(key, b.cloned());
            if base.is_some_and(|base| stated(base.get(key)) == a) {
                continue;
            }
            let at = self.tick();
            self.writes.push(Write {
                key: key.clone(),
                value: a.cloned(),
                who: who.to_string(),
                page,
                at,
                live: true,
            });
        }
    }

    /// Someone saw `value` in `key` and replaced it: writes of that value are superseded.
    pub fn saw(&mut self, key: &FieldKey, value: Option<Value>) {
        for w in self.writes.iter_mut() {
            if &w.key == key && w.value == value {
                w.live = false;
            }
        }
    }

    // -- people --------------------------------------------------------------

    pub fn person_edit(&mut self, i: usize, who: &str, new: String) {
        let good = self.good_text(i);
        // The person's edit as the bot will read it: both texts followed
        // from the revision the bot last synced there.
        let then_read = self.read_cached(i, &good);
        let now_read = self.read_cached(i, &new);
        let before = shown_in(&then_read);
        let after = shown_in(&now_read);
        // Only a cell edited in place is a write: a row or table that goes
        // says nothing (the bot keeps the values), and one that comes back
        // (a revert, a paste) shows values written before, by others.
        let (rows_then, rows_now) = (then_read.1.clone(), now_read.1.clone());
        let keys: Vec<FieldKey> = self
            .watched_now()
            .into_iter()
            .filter(|k| rows_then.contains(&k.record) && rows_now.contains(&k.record))
            .collect();
        // A KR's text is prose: it is a write where the KR is on both texts,
        // unless the KR's line went and its label is all that is left (see
        // `core::merge::unread_labels`).
        let (then, now) = (then_read.0.clone(), now_read.0.clone());
        let (labels_then, labels_now) = (then_read.2.clone(), now_read.2.clone());
        let on = |r: &FiscalYearRecords, id: &str| {
            r.objectives
                .iter()
                .flat_map(|o| &o.key_results)
                .any(|k| k.id == id)
        };
        for k in self.text_keys_now() {
            if on(&then, &k.record)
                && !labels_then.contains(&k.record)
                && labels_now.contains(&k.record)
            {
                // The KR's line went: its words go by this person's hand.
                self.gone(i, &k, stated(before.get(&k)).cloned());
            }
        }
        for k in self.text_keys_now() {
            if on(&then, &k.record) && !on(&now, &k.record) {
                // The KR went from the page (a revert, a cut): whoever did it
                // saw it there, so a decision that kept it is superseded.
                self.saw(&FieldKey::new(k.record.clone(), fields::REMOVED), None);
            }
            if !on(&then, &k.record) && on(&now, &k.record) {
                // The KR came back on the page (a revert, a paste): whoever
                // did it undid its removal, so a decision that removed it
                // is superseded (the bot restores a record a page brings
                // back; `docs/sync.md`, "Restore").
                self.saw(
                    &FieldKey::new(k.record.clone(), fields::REMOVED),
                    Some(Value::Bool(true)),
                );
            }
        }
        let mut keys = keys;
        keys.extend(
            self.text_keys_now()
                .into_iter()
                .filter(|k| on(&then, &k.record) && on(&now, &k.record))
                .filter(|k| labels_then.contains(&k.record) || !labels_now.contains(&k.record)),
        );
        let base = self.base_fields(i);
        self.reworded_over(i, who, &before, &after, &keys);
        self.wrote(who, Some(i), &before, &after, &keys, base.as_ref());
        self.save(i, new);
    }

    /// A person rewords a KR on page `i`: the latest wording from any page
    /// goes to the store (`docs/sync.md`, "Prose written back"), so an
    /// earlier person's wording from another page that the store held when
    /// this page was last synced is superseded (it stays on its own page).
    fn reworded_over(
        &mut self,
        i: usize,
        who: &str,
        before: &Fields,
        after: &Fields,
        keys: &[FieldKey],
    ) {
        if who == "tracker" || who == "resolver" {
            return;
        }
        let Some(synced) = self.states.get(&i).map(|s| s.synced_at) else {
            return;
        };
        for k in keys.iter().filter(|k| k.field == "text") {
            if stated(before.get(k)) == stated(after.get(k)) {
                continue;
            }
            let then = self.store_at(k, synced);
            for w in self.writes.iter_mut() {
                if w.live
                    && &w.key == k
                    && w.page.is_some_and(|p| p != i)
                    && w.who != "tracker"
                    && w.who != "resolver"
                    && w.value == then
                {
                    w.live = false;
                }
            }
        }
    }

    /// The store's value of `k` at time `t`, from its history.
    fn store_at(&self, k: &FieldKey, t: u64) -> Option<Value> {
        let mut value = None;
        let mut seen = false;
        for h in self.history.iter().filter(|h| &h.key == k) {
            if !seen {
                value = h.old.clone();
                seen = true;
            }
            if h.at > t {
                break;
            }
            value = h.new.clone();
        }
        if seen {
            value
        } else {
            self.store.get(k).cloned()
        }
    }

    pub fn tracker_set(
        &mut self,
        kr: &str,
        q: Quarter,
        status: Option<Status>,
        note: Option<&str>,
    ) {
        let at = self.tick();
        let before = self.store.clone();
        self.tracker_values(at, kr, q, status, note);
        let after = self.store.clone();
        self.wrote("tracker", None, &before, &after, &watched(), None);
    }

    /// Whether the store holds `kr` (or its objective) as removed: the
    /// tool's `set` and `import` do not know its id.
    pub fn removed(&self, kr: &str) -> bool {
        let objective = kr.rsplit_once('/').map_or("", |(o, _)| o);
        [kr, objective].iter().any(|r| {
            self.store.get(&FieldKey::new(*r, fields::REMOVED)) == Some(&Value::Bool(true))
        })
    }

    /// `set KR --text TEXT`: a tracker edit of a KR's text.
    pub fn tracker_text(&mut self, kr: &str, text: &str) {
        let at = self.tick();
        let before = self.store.clone();
        let key = FieldKey::new(kr, "text");
        let old = self.store.get(&key).cloned();
        let new = Some(json!(text));
        if old != new {
            self.history.push(HistoryEntry {
                at,
                key: key.clone(),
                old,
                new: new.clone(),
                tracker: true,
            });
            self.store.insert(key.clone(), json!(text));
        }
        let after = self.store.clone();
        self.wrote("tracker", None, &before, &after, &[key], None);
    }

    /// The store change of a tracker edit (`set`, one record of an `import`), with history.
    fn tracker_values(
        &mut self,
        at: u64,
        kr: &str,
        q: Quarter,
        status: Option<Status>,
        note: Option<&str>,
    ) {
        for (f, v) in [
            ("status", status.map(|s| json!(s.as_str()))),
            ("note", note.map(|n| json!(n))),
        ] {
            let key = FieldKey::new(kr, format!("quarters.{}.{f}", q.as_str()));
            let old = self.store.get(&key).cloned();
            if stated(old.as_ref()) == v.as_ref() {
                continue;
            }
            self.history.push(HistoryEntry {
                at,
                key: key.clone(),
                old: old.clone(),
                new: v.clone(),
                tracker: true,
            });
            match v {
                Some(v) => self.store.insert(key, v),
                None => self.store.remove(&key),
            };
            // As `fields::follow_notes`: new words drop the old words' wikitext.
            let marked = FieldKey::new(kr, format!("quarters.{}.note_wikitext", q.as_str()));
            if f == "note" {
                if let Some(old) = self.store.remove(&marked) {
                    self.history.push(HistoryEntry {
                        at,
                        key: marked,
                        old: Some(old),
                        new: None,
                        tracker: true,
                    });
                }
            }
        }
    }

    pub fn resolve(&mut self, n: usize, take_wiki: bool) {
        let pending: Vec<usize> = (0..self.conflicts.len())
            .filter(|&i| self.conflicts[i].pending)
            .collect();
        if pending.is_empty() {
            return;
        }
        let idx = pending[n % pending.len()];
        let c = self.conflicts[idx].clone();
        // `resolve` pulls the year's pages first: a person decides on what
        // the pages and the store say now. If that changed (or settled) the
        // conflict, or the store's value, the decision is not taken; the
        // person is shown the new value.
        let stored = self.store.get(&c.key).cloned();
        for i in 0..self.pages.len() {
            self.pull(i);
        }
        let i = self
            .pages
            .iter()
            .position(|p| p.title == c.page)
            .expect("a conflict's page");
        let now = &self.conflicts[idx];
        // A page the pull refused (blanked, vandalised) could not be read:
        // what it shows now is unknown, so nothing is decided on it.
        let unread = self.states.get(&i).map(|st| st.revid) != Some(self.pages[i].revid());
        if unread || !now.pending || now.wiki != c.wiki || self.store.get(&c.key) != stored.as_ref()
        {
            self.log
                .push(format!("resolve {:?}: the page changed, not taken", c.key));
            return;
        }
        let current = self.store.get(&c.key).cloned();
        // The person sees both values.
        self.saw(&c.key, stated(c.wiki.as_ref()).cloned());
        self.saw(&c.key, stated(current.as_ref()).cloned());
        let value = if take_wiki {
            stated(c.wiki.as_ref()).cloned()
        } else {
            stated(current.as_ref()).cloned()
        };
        if take_wiki && stated(current.as_ref()) != value.as_ref() {
            let at = self.tick();
            self.history.push(HistoryEntry {
                at,
                key: c.key.clone(),
                old: current.clone(),
                new: value.clone(),
                tracker: true,
            });
            match &value {
                Some(v) => self.store.insert(c.key.clone(), v.clone()),
                None => self.store.remove(&c.key),
            };
        }
        self.writes.push(Write {
            key: c.key.clone(),
            value,
            who: "resolver".into(),
            page: None,
            at: self.clock,
            live: true,
        });
        self.conflicts[idx].pending = false;
        if !take_wiki {
            let at = self.tick();
            self.kept.push((c.key.clone(), at));
        }
        if take_wiki {
            // As `resolve` and `pull::since_base`: taking the page's value
            // is, for that field of that page, a sync as of the decision.
            let at = self.tick();
            self.seen.push((i, c.key.clone(), at));
        }
        // `sync::resolve`: other pages' conflicts whose value is now the store's settle with it.
        let now = stated(self.store.get(&c.key)).cloned();
        for other in self.conflicts.iter_mut() {
            if other.pending && other.key == c.key && stated(other.wiki.as_ref()).cloned() == now {
                other.pending = false;
            }
        }
        self.log
            .push(format!("resolve {:?} take_wiki={take_wiki}", c.key));
    }

    // -- the bot, as src/ops/pull.rs and src/ops/push.rs wire the pure core ---------

    pub fn since_base(&self, page: usize, synced_at: u64) -> SinceBase {
        let mut then = self.store.clone();
        let mut touched = BTreeSet::new();
        let after_base = |key: &FieldKey, at: u64| {
            at > synced_at
                && !self
                    .seen
                    .iter()
                    .any(|(p, k, until)| *p == page && k == key && at <= *until)
        };
        for e in self
            .history
            .iter()
            .rev()
            .filter(|e| after_base(&e.key, e.at))
        {
            match &e.old {
                Some(v) => then.insert(e.key.clone(), v.clone()),
                None => then.remove(&e.key),
            };
            if e.tracker {
                touched.insert(e.key.clone());
            }
        }
        // As pull: a person keeping the store's value since counts too.
        for (k, at) in &self.kept {
            if after_base(k, *at) {
                touched.insert(k.clone());
            }
        }
        // As pull: the fields whose store value a tracker edit made.
        let mut last: BTreeMap<&FieldKey, (u64, bool)> = BTreeMap::new();
        for e in &self.history {
            last.insert(&e.key, (e.at, e.tracker));
        }
        for (k, at) in &self.kept {
            let entry = last.entry(k).or_insert((*at, true));
            if *at >= entry.0 {
                *entry = (*at, true);
            }
        }
        let tracker_values = last
            .into_iter()
            .filter(|(_, (_, t))| *t)
            .map(|(k, _)| k.clone())
            .collect();
        SinceBase {
            store_then: then,
            tracker_changed: touched,
            tracker_values,
            changes: self
                .history
                .iter()
                .filter(|e| after_base(&e.key, e.at))
                .map(|e| FieldChange {
                    key: e.key.clone(),
                    old: e.old.clone(),
                    new: e.new.clone(),
                })
                .collect(),
        }
    }

    /// The bot's own save `text` on page `i`, read as push's refresh and
    /// pull's recovery read it: each KR the one its number was.
    pub fn read_own_save(&self, i: usize, text: &str) -> Parsed {
        match self.states.get(&i) {
            Some(state) => parse_own_save(text, self.pages[i].quarter, &state.records),
            None => parse_with_labels(text, self.pages[i].quarter),
        }
    }

    /// `text` as the bot would read it on page `i` now: following the
    /// revision it last synced there, against the store (as pull does).
    pub fn read(&self, i: usize, text: &str) -> Parsed {
        let state = self.states.get(&i);
        let past = self.past_until(state.map(|s| s.synced_at));
        let base = state.map(|s| &s.records);
        parse_after(text, self.pages[i].quarter, base, Some(&self.store), &past)
    }

    /// The words each KR's text had in the store's history up to `at` (a
    /// page's sync, whose revision the bot follows KRs from), or ever.
    pub fn past_until(&self, at: Option<u64>) -> PastWords {
        let until = self
            .history
            .iter()
            .filter(|h| at.is_none_or(|at| h.at <= at));
        past_words(until.map(|h| (&h.key, h.old.as_ref(), h.new.as_ref())))
    }

    /// `text` on page `i` as the oracle reads it: following the revision
    /// the bot's next pull follows from ([`Sim::follow_base`]), cached per
    /// text, base and history.
    pub fn read_cached(&self, i: usize, text: &str) -> std::rc::Rc<Parsed> {
        thread_local! {
            static READ: std::cell::RefCell<std::collections::HashMap<ReadKey, std::rc::Rc<Parsed>>> =
                Default::default();
        }
        use std::hash::{Hash, Hasher};
        let q = self.pages[i].quarter;
        let followed = self.follow_base(i);
        let base = followed.as_ref().map(|(records, _)| records);
        let past = self.past_until(followed.as_ref().map(|(_, at)| *at));
        // The reading depends on the base and the history, not only on the
        // text (other sequences run on the same thread).
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{base:?}").hash(&mut h);
        past.hash(&mut h);
        let key = (text.to_string(), q, h.finish());
        if let Some(hit) = READ.with(|c| c.borrow().get(&key).cloned()) {
            return hit;
        }
        let out = std::rc::Rc::new(parse_after(text, q, base, None, &past));
        READ.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() > 4096 {
                c.clear();
            }
            c.insert(key, out.clone());
        });
        out
    }

    /// The records the bot's next pull of page `i` follows its KRs from,
    /// with when they were synced: the revision it last synced there, or
    /// the bot's own save a stopped run did not record (which that pull
    /// recovers first, `pull::recover_own_save`).
    pub fn follow_base(&self, i: usize) -> Option<(FiscalYearRecords, u64)> {
        let state = self.states.get(&i)?;
        let own = self
            .intents
            .get(&i)
            .filter(|(base, _, _)| self.recovery && *base == state.revid)
            .and_then(|(base, run, intended_at)| {
                let (revid, text) = self.pages[i].revisions.iter().find(|(r, _)| r > base)?;
                (self.bot_saves.get(revid) == Some(run)).then(|| {
                    let q = self.pages[i].quarter;
                    let records = parse_own_save(text, q, &state.records).0;
                    (records, *intended_at)
                })
            });
        Some(own.unwrap_or_else(|| (state.records.clone(), state.synced_at)))
    }

    /// What the bot takes as page `i`'s base at its next pull, as fields.
    pub fn base_fields(&self, i: usize) -> Option<Fields> {
        Some(fields::flatten(&self.follow_base(i)?.0))
    }

    /// `pull::recover_own_save`: a save a killed run did not record.
    pub fn recover_own_save(&mut self, i: usize) {
        let Some(state) = self.states.get(&i) else {
            return;
        };
        if state.revid == self.pages[i].revid() {
            return;
        }
        let Some((base, run, intended_at)) = self.intents.remove(&i) else {
            return;
        };
        if state.revid != base {
            return;
        }
        let next = self.pages[i]
            .revisions
            .iter()
            .find(|(r, _)| *r > base)
            .cloned();
        if let Some((revid, text)) = next {
            if self.bot_saves.get(&revid) == Some(&run) {
                let (records, rows, labels) = self.read_own_save(i, &text);
                let at = intended_at;
                self.log.push(format!("recovered own save r{revid}"));
                self.states.insert(
                    i,
                    PageState {
                        revid,
                        records,
                        rows,
                        labels,
                        synced_at: at,
                    },
                );
            }
        }
    }

    pub fn pull(&mut self, i: usize) {
        if self.recovery {
            self.recover_own_save(i);
        }
        let page = self.pages[i].clone();
        let state = self.states.get(&i).cloned();
        if state.as_ref().is_some_and(|s| s.revid == page.revid()) {
            return;
        }
        let ((records, rows, labels), doubts) = parse_following(
            page.text(),
            page.quarter,
            state.as_ref().map(|s| &s.records),
            Some(&self.store),
            &self.past_until(state.as_ref().map(|s| s.synced_at)),
        );
        // As pull: a label left as a KR's only words does not reword it.
        let read = unread_labels(
            &records,
            &labels,
            state.as_ref().map(|s| &s.records),
            state.as_ref().map(|s| &s.labels),
        );
        let pending: Vec<PendingConflict> = self
            .pending()
            .iter()
            .map(|c| PendingConflict {
                key: c.key.clone(),
                page: c.page.clone(),
                wiki: c.wiki.clone(),
            })
            .collect();
        // `docs/sync.md`: a field changed on the page to the value the store holds
        // already is "fine" — the page's write is absorbed into the store's
        // value and lives on only as that (a later change of the store's
        // value by someone who saw it replaces it).
        if let Some(st) = &state {
            let (b, w) = (fields::flatten(&st.records), fields::flatten(&read));
            let texts = self.text_keys_now();
            for key in self
                .watched_now()
                .into_iter()
                .filter(|k| rows.contains(&k.record))
                .chain(texts)
            {
                let (b, w) = (stated(b.get(&key)), stated(w.get(&key)));
                if w != b && w == stated(self.store.get(&key)) {
                    for wr in self.writes.iter_mut() {
                        if wr.key == key && wr.page == Some(i) && wr.value.as_ref() == w {
                            wr.live = false;
                        }
                    }
                }
            }
        }
        let since = state.as_ref().map(|s| self.since_base(i, s.synced_at));
        let plan = merge_page(
            &MergeInput {
                page: &page.title,
                quarter: page.quarter,
                base: state.as_ref().map(|s| &s.records),
                wiki: &read,
                store: &self.store,
                pending: &pending,
                since_base: since.as_ref(),
                table_rows: Some(&rows),
                base_rows: state.as_ref().map(|s| &s.rows),
            },
            0.3,
        );
        if let Some(r) = plan.refused {
            self.log.push(format!("pull {} refused: {r}", page.title));
            return;
        }
        // As pull: a page whose structure moves data between records is held.
        let past = past_words(
            self.history
                .iter()
                .map(|h| (&h.key, h.old.as_ref(), h.new.as_ref())),
        );
        if let Some(r) = structure_hold(
            state.as_ref().map(|s| &s.records),
            &read,
            &self.store,
            &past,
        ) {
            self.log.push(format!("pull {} held: {r}", page.title));
            return;
        }
        if !doubts.is_empty() {
            self.log
                .push(format!("pull {} held: {}", page.title, doubts.join("; ")));
            return;
        }
        let at = self.tick();
        for c in &plan.changes {
            assert_eq!(
                self.store.get(&c.key),
                c.old.as_ref(),
                "compare-and-set: {c:?}"
            );
            self.history.push(HistoryEntry {
                at,
                key: c.key.clone(),
                old: c.old.clone(),
                new: c.new.clone(),
                tracker: false,
            });
        }
        fields::apply(&mut self.store, &plan.changes);
        for c in plan.conflicts {
            assert!(
                !self
                    .conflicts
                    .iter()
                    .any(|x| x.pending && x.key == c.key && x.page == page.title),
                "one pending conflict per field and page"
            );
            self.conflicts.push(Conflict {
                key: c.key,
                page: page.title.clone(),
                wiki: c.wiki,
                store: c.store,
                pending: true,
            });
        }
        for (key, wiki) in plan.followed {
            for c in self.conflicts.iter_mut() {
                if c.pending && c.key == key && c.page == page.title {
                    c.wiki = wiki.clone();
                }
            }
        }
        for key in plan.settled {
            for c in self.conflicts.iter_mut() {
                if c.pending && c.key == key && c.page == page.title {
                    c.pending = false;
                }
            }
        }
        self.log.push(format!(
            "pull {} r{}: {} changes",
            page.title,
            page.revid(),
            plan.changes.len()
        ));
        self.states.insert(
            i,
            PageState {
                revid: page.revid(),
                records,
                rows,
                labels,
                synced_at: at,
            },
        );
    }

    /// Plans page `i`; `Some(new text)` when it needs an edit.
    pub fn plan(&self, i: usize) -> Option<String> {
        let page = &self.pages[i];
        let state = self.states.get(&i)?;
        if state.revid != page.revid() {
            return None; // changed since the last pull: left alone
        }
        let pending: BTreeSet<FieldKey> = self.pending().iter().map(|c| c.key.clone()).collect();
        let records = records_for_page(&fy(), &self.store, &pending, &state.records)
            .expect("the store's fields rebuild");
        // As push: prose whose last word was the tracker's (an edit, or a
        // person keeping the store's value) is written.
        let mut last: BTreeMap<&FieldKey, (u64, bool)> = BTreeMap::new();
        for h in &self.history {
            last.insert(&h.key, (h.at, h.tracker));
        }
        for (k, at) in &self.kept {
            let e = last.entry(k).or_insert((*at, true));
            if *at >= e.0 {
                *e = (*at, true);
            }
        }
        let eligible: BTreeSet<FieldKey> = last
            .into_iter()
            .filter(|(_, (_, t))| *t)
            .map(|(k, _)| k.clone())
            .collect();
        // The converging runs plan the same page on the same inputs again
        // and again: a plan is a pure function of them, made once.
        type Planned = std::collections::HashMap<u64, Option<String>>;
        thread_local! {
            static PLANNED: std::cell::RefCell<Planned> = Default::default();
        }
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            page.text().hash(&mut h);
            page.quarter.hash(&mut h);
            serde_json::to_string(&state.records)
                .expect("records serialise")
                .hash(&mut h);
            serde_json::to_string(&records)
                .expect("records serialise")
                .hash(&mut h);
            eligible.hash(&mut h);
            h.finish()
        };
        if let Some(hit) = PLANNED.with(|c| c.borrow().get(&key).cloned()) {
            return hit;
        }
        let planned = self.plan_on(page, state, &records, &eligible);
        PLANNED.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() > 4096 {
                c.clear();
            }
            c.insert(key, planned.clone());
        });
        planned
    }

    /// [`Sim::plan`] on its inputs.
    fn plan_on(
        &self,
        page: &Page,
        state: &PageState,
        records: &FiscalYearRecords,
        eligible: &BTreeSet<FieldKey>,
    ) -> Option<String> {
        let prose = Adoption {
            quarter: Some(page.quarter),
            eligible: Some(eligible),
            ..Default::default()
        };
        let mut plan = plan_quarter_page_with(
            page.text(),
            &state.records,
            records,
            Renderer::builtin(),
            prose,
        )
        .expect("the plan renders");
        if plan.needs_staff_tables {
            // As push: the page's parse says which row is which KR, its KRs
            // followed from the revision the bot read (`push::quarter::plan_checked`).
            let following = Following::new(&state.records, &[], []);
            let staff = parse_quarter_page_after(
                &to_html(page.text()),
                &fy(),
                page.quarter,
                &Default::default(),
                Some(&following),
            )
            .staff_tables;
            // Push tags each row with the KR pull read it as (the bot's
            // property: `core::parse::tests::read_twice`).
            if state.revid == page.revid() {
                for id in staff
                    .values()
                    .flatten()
                    .flat_map(|t| t.rows.iter().flatten())
                {
                    assert!(
                        state.rows.contains(id),
                        "push would tag a row {id} on {} that its pull did not read",
                        page.title
                    );
                }
            }
            plan = plan_quarter_page_with(
                page.text(),
                &state.records,
                records,
                Renderer::builtin(),
                Adoption {
                    staff: Some(&staff),
                    ..prose
                },
            )
            .expect("the plan renders");
        }
        (plan.text != page.text()).then_some(plan.text)
    }

    /// Saves the bot's text for page `i`, planned on `planned_on`; a person's
    /// save in between is an edit conflict: pull again and plan again (twice at most).
    pub fn bot_save(&mut self, i: usize, mut text: String, between: Option<&Op>) -> bool {
        if let Some(op) = between {
            self.apply_person(op);
            // Edit conflict: the bot pulls the page again, re-merges, re-plans.
            self.pull(i);
            match self.plan(i) {
                Some(t) => text = t,
                None => return false,
            }
        }
        let old = self.pages[i].text().to_string();
        // Outside its tables the bot writes only a KR's text after its
        // label (a tracker edit of it); the oracle checks the text itself.
        static KR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"^([*#:;' ]*KR ?[0-9]+[:.\- ]*)").expect("pattern")
        });
        let labels_only = |t: &str| -> Vec<String> {
            outside_tables(t)
                .into_iter()
                .map(|l| KR.find(l).map_or(l.to_string(), |m| m.as_str().to_string()))
                .collect()
        };
        assert_eq!(
            labels_only(&old),
            labels_only(&text),
            "the bot changed text outside its tables on {}",
            self.pages[i].title
        );
        self.check_note_markup_kept(i, &old, &text);
        // A staff table the reader cannot be sure of is never written into.
        // (The bot's own tables are written whole, from their `{|` to their
        // `|}`, whatever stands around them.)
        for t in wikitable::tables_in(&old, 0..old.len()) {
            if t.unsure.is_some() && !old[t.open.clone()].contains("goalsbot-status") {
                assert!(
                    text.contains(&old[t.range.clone()]),
                    "the bot wrote into a table it cannot be sure of ({:?}) on {}:\n{}\nnow:\n{text}",
                    t.unsure,
                    self.pages[i].title,
                    &old[t.range.clone()]
                );
            }
        }
        let base = self.states.get(&i).map_or(0, |s| s.revid);
        let at = self.tick();
        self.intents.insert(i, (base, self.run, at));
        let revid = self.save(i, text);
        self.bot_saves.insert(revid, self.run);
        self.log
            .push(format!("bot saved {} r{revid}", self.pages[i].title));
        true
    }

    /// The bot keeps the words and markup of notes: where a note holding
    /// markup reads the same after the bot's save, its wikitext is the same.
    fn check_note_markup_kept(&self, i: usize, old: &str, new: &str) {
        let q = self.pages[i].quarter;
        let (before, after) = (shown(old, q), shown(new, q));
        for kr in self.kr_ids() {
            let kr = kr.as_str();
            for quarter in Quarter::ALL {
                let Some(cell) = cell_wikitext(old, kr, quarter) else {
                    continue;
                };
                let note = note_wikitext(&cell);
                if !note.contains("[http") && !note.contains("'''") {
                    continue;
                }
                let key = FieldKey::new(kr, format!("quarters.{}.note", quarter.as_str()));
                if !before.contains_key(&key) || before.get(&key) != after.get(&key) {
                    continue;
                }
                let now = cell_wikitext(new, kr, quarter);
                // A KR the store holds removed loses its row (push takes
                // it off every page): not a note's markup dropped. The
                // page's reading may still give its words to a KR of the
                // text left without a row.
                let removed = FieldKey::new(kr, fields::REMOVED);
                if now.is_none() && self.store.get(&removed) == Some(&Value::Bool(true)) {
                    continue;
                }
                if std::env::var("SIM_DEBUG").is_ok()
                    && !now.as_deref().is_some_and(|c| c.contains(note))
                {
                    eprintln!(
                        "LOG {:#?}\nOLD:\n{old}\nNEW:\n{new}\nSTORE {:#?}",
                        self.log,
                        self.store
                            .iter()
                            .filter(|(k, _)| k.record == kr)
                            .collect::<Vec<_>>()
                    );
                    for (i, p) in self.pages.iter().enumerate() {
                        eprintln!("PAGE {i}:\n{}", p.text());
                    }
                }
                assert!(
                    now.as_deref().is_some_and(|c| c.contains(note)),
                    "the bot dropped the markup of {kr} {quarter:?} on {}: {cell:?} became {now:?}",
                    self.pages[i].title
                );
            }
        }
    }

    /// Records what the bot's own revision shows (push's refresh after a save).
    pub fn refresh(&mut self, i: usize) {
        let (records, rows, labels) = self.read_own_save(i, self.pages[i].text());
        let revid = self.pages[i].revid();
        let at = self.tick();
        self.states.insert(
            i,
            PageState {
                revid,
                records,
                rows,
                labels,
                synced_at: at,
            },
        );
    }

    /// Pushes every page; `kill_after`: the run dies right after that many saves
    /// (before recording the last one); `between`: a person's save lands before the first save.
    pub fn push(&mut self, kill_after: Option<usize>, mut between: Option<Op>) -> bool {
        let mut saves = 0;
        for i in 0..self.pages.len() {
            let Some(text) = self.plan(i) else { continue };
            if !self.bot_save(i, text, between.take().as_ref()) {
                continue;
            }
            saves += 1;
            if kill_after == Some(saves) {
                self.log.push("killed".into());
                return false;
            }
            self.refresh(i);
            self.intents.remove(&i);
        }
        true
    }

    pub fn sync(&mut self, kill_after: Option<usize>) {
        self.sync_with(kill_after, None);
    }

    /// The wiki's recent changes from `from` on (its own change included),
    /// oldest first: every revision of every page (revision ids are the
    /// change ids and, zero-padded, their timestamps), saved by the bot or
    /// by a person.
    pub fn recent_changes(&self, from: Option<&Position>) -> Vec<Change> {
        let mut out: Vec<Change> = self
            .pages
            .iter()
            .flat_map(|p| p.revisions.iter().map(move |(revid, _)| (p, *revid)))
            .filter(|(_, revid)| from.is_none_or(|f| *revid >= f.rcid))
            .map(|(p, revid)| Change {
                rcid: revid,
                timestamp: format!("{revid:012}"),
                title: p.title.clone(),
                user: Some(if self.bot_saves.contains_key(&revid) {
                    BOT_USER.to_string()
                } else {
                    "Staff".to_string()
                }),
                moved_to: None,
            })
            .collect();
        out.sort_by_key(|c| c.rcid);
        out
    }

    /// One poll of `watch` following changes, as `ops::follow`: the feed
    /// read from the watcher's position (`core::feed`), the tracker's
    /// moves since its mark, a sync when either says so, and the position
    /// moved once that run ended (not when the watcher was `killed` after
    /// it). The oracle: it runs exactly when a person saved a page since
    /// its position, the tracker moved, or it had no position; and right
    /// after its run the bot's own saves wake nothing.
    pub fn watch(&mut self, killed: bool) {
        let tracked: BTreeMap<String, FiscalYear> =
            self.pages.iter().map(|p| (p.title.clone(), fy())).collect();
        let changes = self.recent_changes(self.feed.as_ref());
        let read = feed::read(self.feed.as_ref(), &changes, false, &tracked, BOT_USER);
        let (seen_history, seen_kept) = self.feed_mark;
        let tracker =
            self.history[seen_history..].iter().any(|h| h.tracker) || self.kept.len() > seen_kept;
        let mark = (self.history.len(), self.kept.len());
        let person_saved = match &self.feed {
            None => true,
            Some(at) => self.pages.iter().any(|p| {
                p.revisions
                    .iter()
                    .any(|(r, _)| *r > at.rcid && !self.bot_saves.contains_key(r))
            }),
        };
        let runs = read.full_check.is_some() || !read.years.is_empty() || tracker;
        assert_eq!(
            runs,
            person_saved || tracker,
            "the watcher {} (feed {read:?}, log {:#?})",
            if runs {
                "ran for nothing"
            } else {
                "missed a change"
            },
            self.log
        );
        let head = match read.full_check {
            // From the wiki's newest change on.
            Some(_) => self.recent_changes(None).last().map(|c| Position {
                timestamp: c.timestamp.clone(),
                rcid: c.rcid,
            }),
            None => read.head,
        };
        if runs {
            self.log.push(format!(
                "watch: {} person changes{}{} → sync",
                read.changes,
                if tracker { ", tracker moved" } else { "" },
                if read.full_check.is_some() {
                    ", a full check"
                } else {
                    ""
                }
            ));
            self.sync(None);
            if killed {
                self.log
                    .push("watch killed before its position moved".into());
                return;
            }
        }
        self.feed = head;
        self.feed_mark = mark;
        // Its own saves wake nothing: the next poll, now, runs nothing.
        let again = feed::read(
            self.feed.as_ref(),
            &self.recent_changes(self.feed.as_ref()),
            false,
            &tracked,
            BOT_USER,
        );
        assert!(
            again.full_check.is_none() && again.years.is_empty(),
            "the bot's own saves woke the watcher: {again:?}"
        );
    }

    pub fn sync_with(&mut self, kill_after: Option<usize>, between: Option<Op>) {
        self.run += 1;
        for i in 0..self.pages.len() {
            self.pull(i);
        }
        self.push(kill_after, between);
    }

    // -- operations ----------------------------------------------------------

    pub fn apply_person(&mut self, op: &Op) {
        let n = self.pages.len();
        match op {
            Op::Cell {
                page,
                kr,
                q,
                status,
                note,
            } => {
                let i = page % n;
                let value = status_cell_text(status.map(|s| STATUSES[s]), note.map(|x| NOTES[x]));
                let quarter = Quarter::ALL[*q];
                if let Some(t) = with_cell(self.pages[i].text(), KRS[*kr], quarter.as_str(), &value)
                {
                    self.log.push(format!(
                        "{} cell {} {}: {value}",
                        self.pages[i].title,
                        KRS[*kr],
                        quarter.as_str()
                    ));
                    self.person_edit(i, "staff", t);
                }
            }
            Op::Prose { page } => {
                let i = page % n;
                let t = self.pages[i]
                    .text()
                    .replacen("\n==", "\nAn unrelated sentence.\n\n==", 1);
                self.log.push(format!("{} prose", self.pages[i].title));
                self.person_edit(i, "staff", t);
            }
            Op::DeleteTable { page, objective } => {
                let i = page % n;
                let t = without_table(self.pages[i].text(), OBJECTIVES[*objective]);
                self.log.push(format!(
                    "{} delete table {}",
                    self.pages[i].title, OBJECTIVES[*objective]
                ));
                self.deleted(i, t);
            }
            Op::DeleteRow { page, kr } => {
                let i = page % n;
                let t = without_row(self.pages[i].text(), KRS[*kr]);
                self.log
                    .push(format!("{} delete row {}", self.pages[i].title, KRS[*kr]));
                self.deleted(i, t);
            }
            Op::Revert { page } => {
                let i = page % n;
                let revs = &self.pages[i].revisions;
                if revs.len() >= 2 {
                    let old = revs[revs.len() - 2].1.clone();
                    self.log.push(format!("{} revert", self.pages[i].title));
                    self.person_edit(i, "reverter", old);
                }
            }
            Op::Blank { page } => {
                let i = page % n;
                self.log.push(format!("{} blanked", self.pages[i].title));
                self.deleted(i, String::new());
            }
            Op::YearGoal { page, kr, goal } => {
                let i = page % n;
                let goal = goal.map_or("", |g| GOALS[g]);
                if let Some(t) = with_year_goal(self.pages[i].text(), KRS[*kr], goal) {
                    self.log.push(format!(
                        "{} year goal {}: {goal}",
                        self.pages[i].title, KRS[*kr]
                    ));
                    self.person_edit(i, "staff", t);
                }
            }
            Op::DuplicateTable { page, objective } => {
                let i = page % n;
                if let Some(t) = with_table_twice(self.pages[i].text(), OBJECTIVES[*objective]) {
                    self.log.push(format!(
                        "{} table {} twice",
                        self.pages[i].title, OBJECTIVES[*objective]
                    ));
                    self.person_edit(i, "staff", t);
                }
            }
            Op::MoveRows {
                page,
                objective,
                duplicate,
            } => {
                let i = page % n;
                if let Some(t) =
                    with_rows_moved(self.pages[i].text(), OBJECTIVES[*objective], *duplicate)
                {
                    self.log.push(format!(
                        "{} rows of {} {}",
                        self.pages[i].title,
                        OBJECTIVES[*objective],
                        if *duplicate { "doubled" } else { "swapped" }
                    ));
                    self.person_edit(i, "staff", t);
                }
            }
            Op::GoalBullet { page, kr } => {
                let i = page % n;
                let label = match *kr {
                    0 => "KR1: Alpha one",
                    1 => "KR2: Alpha two",
                    _ => "KR1: Beta one",
                };
                // Under the KR's prose line (its text may be the tracker's
                // by now), not a table cell that shows the same label.
                let text = self.pages[i].text();
                let (heading, prefix) = label.split_once(": ").map_or(("", ""), |(p, t)| {
                    (
                        if t.starts_with("Beta") {
                            "== Prog - Beta =="
                        } else {
                            "== Prog - Alpha =="
                        },
                        p,
                    )
                });
                let from = text.find(heading).unwrap_or(0);
                let mut at = None;
                let mut offset = from;
                for line in text[from..].split_inclusive('\n') {
                    if line.starts_with(prefix) {
                        at = Some(offset + line.trim_end_matches('\n').len());
                        break;
                    }
                    offset += line.len();
                }
                let mut t = text.to_string();
                if let Some(at) = at {
                    t.insert_str(at, "\n* Hire one more person");
                }
                self.log
                    .push(format!("{} goal bullet under {label}", self.pages[i].title));
                self.person_edit(i, "staff", t);
            }
            Op::DeleteHeading { page, objective } => {
                let i = page % n;
                if let Some(t) = without_heading(self.pages[i].text(), *objective) {
                    self.log.push(format!(
                        "{} heading of {} deleted",
                        self.pages[i].title, OBJECTIVES[*objective]
                    ));
                    // What the section said can no longer be read: as a
                    // deletion, a value the bot does not have yet goes by
                    // the person's hand; what it still holds waits for the
                    // repair (the bot holds the page).
                    let synced =
                        self.states.get(&i).map(|s| s.revid) == Some(self.pages[i].revid());
                    if synced || !self.before_structure.contains_key(&i) {
                        self.before_structure
                            .insert(i, self.pages[i].text().to_string());
                    }
                    self.deleted(i, t);
                }
            }
            Op::SwapKrs { page } => {
                let i = page % n;
                if let Some(t) = with_krs_swapped(self.pages[i].text()) {
                    self.log
                        .push(format!("{} KR1 and KR2 swapped", self.pages[i].title));
                    self.person_edit(i, "staff", t);
                }
            }
            Op::StaffSyntax { page, form } => {
                let i = page % n;
                if let Some(new) = with_staff_syntax(self.pages[i].text(), *form) {
                    self.log.push(format!(
                        "{} staff table: {}",
                        self.pages[i].title, STAFF_SYNTAX[*form]
                    ));
                    self.person_edit(i, "staff", new);
                }
            }
            Op::Renumber { page } => {
                let i = page % n;
                let old = self.pages[i].text().to_string();
                if let Some(new) = with_kr_renumbered(&old) {
                    self.log.push(format!(
                        "{} KR1 deleted, KR2 renumbered KR1",
                        self.pages[i].title
                    ));
                    // One save, read as the bot reads it: KR1 went (a
                    // deletion), KR2 is followed to its own id under the
                    // number 1 (or, where the bot reads KR1's line as KR1's
                    // own words once had, an edit of KR1's line).
                    self.forget_removed(i, &old, &new);
                    self.person_edit(i, "staff", new);
                }
            }
            Op::MarkupNote {
                page,
                kr,
                q,
                status,
            } => {
                let i = page % n;
                let value = format!("{}: {MARKUP_NOTE}", STATUSES[*status].label());
                let quarter = Quarter::ALL[*q];
                if let Some(t) = with_cell(self.pages[i].text(), KRS[*kr], quarter.as_str(), &value)
                {
                    self.log.push(format!(
                        "{} cell {} {}: {value}",
                        self.pages[i].title,
                        KRS[*kr],
                        quarter.as_str()
                    ));
                    self.person_edit(i, "staff", t);
                }
            }
            Op::VisualEditor { page } => {
                let i = page % n;
                let t = visual_editor_form(self.pages[i].text());
                self.log
                    .push(format!("{} saved by VisualEditor", self.pages[i].title));
                self.person_edit(i, "staff", t);
            }
            _ => {}
        }
    }

    /// A person removed cells (a table, a row, the whole page). The bot keeps
    /// the values it has; a value it does not have yet goes by the person's
    /// hand (they saw it and removed it).
    pub fn deleted(&mut self, i: usize, new: String) {
        let old = self.pages[i].text().to_string();
        self.forget_removed(i, &old, &new);
        self.save(i, new);
    }

    /// The bookkeeping of [`Sim::deleted`]: cells and KRs on `old` that are
    /// not on `new`.
    pub fn forget_removed(&mut self, i: usize, old: &str, new: &str) {
        let old_read = self.read_cached(i, old);
        let (before, rows_before) = (shown_in(&old_read), old_read.1.clone());
        let new_read = self.read_cached(i, new);
        let (records_after, rows_after) = (new_read.0.clone(), new_read.1.clone());
        let records_before = old_read.0.clone();
        let on = |r: &FiscalYearRecords, id: &str| {
            r.objectives
                .iter()
                .flat_map(|o| &o.key_results)
                .any(|k| k.id == id)
        };
        for k in self.watched_now().into_iter().chain(self.text_keys_now()) {
            let (was, is) = if k.field == "text" {
                (
                    on(&records_before, &k.record),
                    on(&records_after, &k.record),
                )
            } else {
                (
                    rows_before.contains(&k.record),
                    rows_after.contains(&k.record),
                )
            };
            if was && !is {
                self.gone(i, &k, stated(before.get(&k)).cloned());
                if k.field == "text" {
                    // The KR itself went from the page: whoever deleted it
                    // saw it there, so a decision that kept it is superseded.
                    self.saw(&FieldKey::new(k.record.clone(), fields::REMOVED), None);
                }
            }
        }
    }

    /// A person removed `v` of `k` from page `i` (its cell, row, or line):
    /// unless the bot already has it, the value goes with it; so does an
    /// edit made there that the bot has not pulled yet.
    fn gone(&mut self, i: usize, k: &FieldKey, v: Option<Value>) {
        if stated(self.store.get(k)) != v.as_ref() {
            self.saw(k, v.clone());
        }
        let pulled = self.states.get(&i).map_or(0, |s| s.synced_at);
        for w in self.writes.iter_mut() {
            if &w.key == k && w.page == Some(i) && w.value == v && w.at > pulled {
                w.live = false;
            }
        }
    }

    /// Whether `v` is the store's value of `k`, shown on a page, or held in a pending conflict.
    pub fn somewhere(&self, k: &FieldKey, v: Option<&Value>) -> bool {
        let unread_structure = self.before_structure.iter().any(|(i, text)| {
            self.states.get(i).map(|s| s.revid) != Some(self.pages[*i].revid()) && {
                let (records, rows) = parse(text, self.pages[*i].quarter);
                (rows.contains(&k.record) || k.field == "text")
                    && stated(fields::flatten(&records).get(k)) == v
            }
        });
        unread_structure
            || stated(self.store.get(k)) == v
            || self.pages.iter().enumerate().any(|(i, p)| {
                let read = self.read_cached(i, p.text());
                (read.1.contains(&k.record) || k.field == "text")
                    && stated(fields::flatten(&read.0).get(k)) == v
            })
            || self.pending().iter().any(|c| {
                &c.key == k && (stated(c.wiki.as_ref()) == v || stated(c.store.as_ref()) == v)
            })
    }

    /// The page's latest text that yields objectives: a blanked or vandalised
    /// revision is refused by the bot, and a person restoring the page is
    /// undoing it, not writing its values anew.
    pub fn good_text(&self, i: usize) -> String {
        let q = self.pages[i].quarter;
        self.pages[i]
            .revisions
            .iter()
            .rev()
            .find(|(_, t)| !parse(t, q).0.objectives.is_empty())
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Set { kr, .. } | Op::SetText { kr, .. } if self.removed(KRS[*kr]) => {
                // The tool refuses an edit of a removed KR: unknown id.
                self.log.push(format!("set {} refused: removed", KRS[*kr]));
            }
            Op::Set {
                kr,
                q,
                status,
                note,
            } => {
                self.log.push(format!(
                    "set {} {:?} {status:?} {note:?}",
                    KRS[*kr],
                    Quarter::ALL[*q]
                ));
                self.tracker_set(
                    KRS[*kr],
                    Quarter::ALL[*q],
                    status.map(|s| STATUSES[s]),
                    note.map(|x| NOTES[x]),
                )
            }
            Op::Sync => self.sync(None),
            Op::PullOnly => {
                for i in 0..self.pages.len() {
                    self.pull(i);
                }
            }
            Op::PushOnly => {
                self.run += 1;
                self.push(None, None);
            }
            Op::Killed { after } => self.sync(Some(*after)),
            Op::KilledMidPull { n } => {
                self.run += 1;
                for i in 0..(*n).min(self.pages.len()) {
                    self.pull(i);
                }
                self.log.push("killed in the pull".into());
            }
            Op::KilledBeforeSave { n } => {
                self.run += 1;
                for i in 0..self.pages.len() {
                    self.pull(i);
                }
                let mut saves = 0;
                for i in 0..self.pages.len() {
                    let Some(text) = self.plan(i) else { continue };
                    saves += 1;
                    if saves == *n {
                        // The intent is written, the save never made.
                        let base = self.states.get(&i).map_or(0, |s| s.revid);
                        let at = self.tick();
                        self.intents.insert(i, (base, self.run, at));
                        self.log.push("killed before a save".into());
                        break;
                    }
                    self.bot_save(i, text, None);
                    self.refresh(i);
                    self.intents.remove(&i);
                }
            }
            Op::Import(values) => {
                self.log.push(format!("import {values:?}"));
                let at = self.tick();
                let before = self.store.clone();
                for (kr, q, status, note) in values {
                    if self.removed(KRS[*kr]) {
                        continue;
                    }
                    self.tracker_values(
                        at,
                        KRS[*kr],
                        Quarter::ALL[*q],
                        status.map(|s| STATUSES[s]),
                        note.map(|x| NOTES[x]),
                    );
                }
                let after = self.store.clone();
                self.wrote("tracker", None, &before, &after, &watched(), None);
            }
            Op::SetText { kr, text } => {
                self.log
                    .push(format!("set {} --text {:?}", KRS[*kr], TEXTS[*text]));
                self.tracker_text(KRS[*kr], TEXTS[*text]);
            }
            Op::SaveBetween(person) => self.sync_with(None, Some((**person).clone())),
            Op::Resolve { n, wiki } => self.resolve(*n, *wiki),
            Op::Watch { killed } => self.watch(*killed),
            person => self.apply_person(person),
        }
    }

    // -- the oracle ----------------------------------------------------------

    /// Every live write's value is somewhere: store, a page, a pending conflict.
    pub fn check_nothing_lost(&self) -> Result<(), String> {
        for w in self.writes.iter().filter(|w| w.live) {
            if !self.somewhere(&w.key, w.value.as_ref()) {
                if std::env::var("SIM_DEBUG").is_ok() {
                    for p in &self.pages {
                        for (revid, text) in &p.revisions {
                            eprintln!("==== {} r{revid}:\n{text}", p.title);
                        }
                    }
                    for (i, p) in self.pages.iter().enumerate() {
                        eprintln!(
                            "PAGE {i}:\n{}\nREAD {:?}",
                            p.text(),
                            shown_in(&self.read_cached(i, p.text()))
                        );
                    }
                }
                return Err(format!("lost: a write by {}: {w:?}", w.who));
            }
        }
        Ok(())
    }

    /// A page the bot holds (its structure moved data between records: a
    /// deleted heading, renumbered KRs) waits for a person: here one reverts
    /// it to the last revision the bot read. What was written on the page
    /// since, and is on no page now, goes by that person's hand.
    pub fn repair_held_pages(&mut self) {
        let mut repaired = BTreeSet::new();
        for i in 0..self.pages.len() {
            let Some(st) = self.states.get(&i) else {
                continue;
            };
            if st.revid == self.pages[i].revid() {
                continue;
            }
            let Some((_, good)) = self.pages[i]
                .revisions
                .iter()
                .find(|(r, _)| *r == st.revid)
                .cloned()
            else {
                continue;
            };
            self.log.push(format!(
                "{} repaired: reverted to r{}",
                self.pages[i].title, st.revid
            ));
            self.save(i, good);
            repaired.insert(i);
        }
        // What each repaired page shows, as the bot reads it.
        let reads: BTreeMap<usize, Fields> = repaired
            .iter()
            .map(|&i| (i, shown_in(&self.read_cached(i, self.pages[i].text()))))
            .collect();
        for w in self.writes.iter_mut() {
            let Some(read) = w.page.and_then(|p| reads.get(&p)) else {
                continue;
            };
            let shows = stated(read.get(&w.key)) == w.value.as_ref();
            if w.live && !shows && stated(self.store.get(&w.key)) != w.value.as_ref() {
                w.live = false;
            }
        }
    }

    /// Resolves everything and syncs until quiet; then every surviving
    /// write's value is in the store and on every page that shows the field.
    pub fn converge(&mut self, take_wiki: bool) -> Result<(), String> {
        for i in 0..self.pages.len() {
            if parse(self.pages[i].text(), self.pages[i].quarter)
                .0
                .objectives
                .is_empty()
            {
                // A person repairs the blanked page (a revert to its last good text).
                let good = self.good_text(i);
                self.log.push(format!("{} repaired", self.pages[i].title));
                self.person_edit(i, "reverter", good);
            }
        }
        for _ in 0..8 {
            self.sync(None);
            self.check_nothing_lost()?;
            self.repair_held_pages();
            while !self.pending().is_empty() {
                self.resolve(0, take_wiki);
            }
        }
        self.sync(None);
        if !self.pending().is_empty() {
            return Err(format!("still pending: {:?}", self.pending()));
        }
        let quiet: Vec<usize> = (0..self.pages.len())
            .filter(|&i| self.plan(i).is_some())
            .collect();
        if !quiet.is_empty() {
            return Err(format!("pages still to edit after converging: {quiet:?}"));
        }
        type Read = (String, std::rc::Rc<Fields>, BTreeSet<String>, String, usize);
        let pages: Vec<Read> = self
            .pages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // As the bot reads the page: each KR followed from the
                // revision it last synced there.
                let read = self.read_cached(i, p.text());
                (
                    p.title.clone(),
                    std::rc::Rc::new(shown_in(&read)),
                    read.1.clone(),
                    p.text().to_string(),
                    i,
                )
            })
            .collect();
        for w in self.writes.iter().filter(|w| w.live) {
            let v = w.value.as_ref();
            // A KR's text a person wrote on one page reaches the store, not
            // the other pages' prose (`docs/sync.md`, "Prose written back"); the
            // tracker's reaches every page.
            let everywhere = w.key.field != "text" || w.who == "tracker" || w.who == "resolver";
            if stated(self.store.get(&w.key)) != v {
                return Err(format!(
                    "a surviving write is not in the store: {w:?}, store {:?}",
                    self.store.get(&w.key)
                ));
            }
            // A KR whose removal from a page the bot applied (staff
            // deleted it there) keeps its values in the store only.
            let removed = FieldKey::new(w.key.record.clone(), fields::REMOVED);
            if self.store.get(&removed) == Some(&Value::Bool(true)) {
                continue;
            }
            for (title, f, rows, text, i) in &pages {
                if !everywhere {
                    continue;
                }
                let objective = w.key.record.rsplit_once('/').map_or("", |(o, _)| o);
                if w.key.field != "text" && shut(text).contains(objective) {
                    // The objective's adopted table is one the bot does not
                    // write into: it keeps what staff wrote (the value is
                    // in the store, checked above).
                    continue;
                }
                let listed = self
                    .read_cached(*i, text)
                    .0
                    .objectives
                    .iter()
                    .flat_map(|o| &o.key_results)
                    .any(|k| k.id == w.key.record);
                if !rows.contains(&w.key.record) && !listed {
                    // A page whose text does not list the KR (staff deleted
                    // it there) shows nothing of it.
                    continue;
                }
                if w.key.field == "text" {
                    // The bot writes a KR's text into its prose line; a KR
                    // whose words stand only in a staff table's label cell
                    // (its line deleted) keeps the label staff wrote.
                    let prose = outside_tables(text).join("\n\n");
                    let state = self.states.get(i);
                    let past = self.past_until(state.map(|s| s.synced_at));
                    let base = state.map(|s| &s.records);
                    let in_prose = parse_after(&prose, Quarter::ALL[0], base, None, &past)
                        .0
                        .objectives
                        .iter()
                        .flat_map(|o| &o.key_results)
                        .any(|k| k.id == w.key.record);
                    if !in_prose {
                        continue;
                    }
                    if stated(f.get(&w.key)) != v {
                        return Err(format!(
                            "{title} does not show {w:?}: {:?}\n{text}",
                            f.get(&w.key)
                        ));
                    }
                    continue;
                }
                if !rows.contains(&w.key.record) {
                    // An adopted staff table gets no empty row: a record
                    // with nothing to show (the write cleared it) has none.
                    let objective = w.key.record.rsplit_once('/').map_or("", |(o, _)| o);
                    let adopted = goalsbot::core::adopt::identity_tables(text, objective)
                        .iter()
                        .any(|t| !t.bots_own);
                    if v.is_none() && adopted {
                        continue;
                    }
                    return Err(format!("{title} has no row for {}", w.key.record));
                }
                if stated(f.get(&w.key)) != v {
                    return Err(format!("{title} does not show {w:?}: {:?}", f.get(&w.key)));
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Operations and their strategy.

#[derive(Debug, Clone)]
pub enum Op {
    Cell {
        page: usize,
        kr: usize,
        q: usize,
        status: Option<usize>,
        note: Option<usize>,
    },
    Prose {
        page: usize,
    },
    DeleteTable {
        page: usize,
        objective: usize,
    },
    DeleteRow {
        page: usize,
        kr: usize,
    },
    Revert {
        page: usize,
    },
    YearGoal {
        page: usize,
        kr: usize,
        goal: Option<usize>,
    },
    DuplicateTable {
        page: usize,
        objective: usize,
    },
    MoveRows {
        page: usize,
        objective: usize,
        duplicate: bool,
    },
    VisualEditor {
        page: usize,
    },
    Blank {
        page: usize,
    },
    SetText {
        kr: usize,
        text: usize,
    },
    Set {
        kr: usize,
        q: usize,
        status: Option<usize>,
        note: Option<usize>,
    },
    Sync,
    PullOnly,
    PushOnly,
    Killed {
        after: usize,
    },
    /// A sync killed before its `n`-th page's pull is applied.
    KilledMidPull {
        n: usize,
    },
    /// A sync killed right before its `n`-th save (its intent is written).
    KilledBeforeSave {
        n: usize,
    },
    /// A tracker import: several values set in one transaction.
    Import(Vec<(usize, usize, Option<usize>, Option<usize>)>),
    /// Staff add a goal bullet under a key result (prose the bot only reads).
    GoalBullet {
        page: usize,
        kr: usize,
    },
    /// A person deletes an objective's heading line (its section runs into
    /// the one before): the bot holds the page until it is repaired.
    DeleteHeading {
        page: usize,
        objective: usize,
    },
    /// A person reorders Alpha's two KRs and numbers them in page order.
    SwapKrs {
        page: usize,
    },
    /// A person deletes Alpha's KR1 (line and row) and renumbers KR2 as KR1.
    Renumber {
        page: usize,
    },
    /// A person rewrites Alpha's adopted staff table in another form of
    /// the table syntax ([`STAFF_SYNTAX`]).
    StaffSyntax {
        page: usize,
        form: usize,
    },
    /// A person writes a status with a note holding a link and bold text.
    MarkupNote {
        page: usize,
        kr: usize,
        q: usize,
        status: usize,
    },
    SaveBetween(Box<Op>),
    Resolve {
        n: usize,
        wiki: bool,
    },
    /// One poll of `watch` following changes (`killed`: killed after the
    /// run it asked for, before its position moved).
    Watch {
        killed: bool,
    },
}

pub fn person_op() -> impl Strategy<Value = Op> {
    let cell = (
        0..4usize,
        0..3usize,
        0..4usize,
        proptest::option::of(0..4usize),
        proptest::option::of(0..4usize),
    )
        .prop_map(|(page, kr, q, status, note)| Op::Cell {
            page,
            kr,
            q,
            status,
            note,
        });
    prop_oneof![
        6 => cell,
        1 => (0..4usize).prop_map(|page| Op::Prose { page }),
        1 => (0..4usize, 0..2usize).prop_map(|(page, objective)| Op::DeleteTable { page, objective }),
        1 => (0..4usize, 0..3usize).prop_map(|(page, kr)| Op::DeleteRow { page, kr }),
        1 => (0..4usize).prop_map(|page| Op::Revert { page }),
        1 => (0..4usize).prop_map(|page| Op::Blank { page }),
        2 => (0..4usize, 0..3usize, proptest::option::of(0..3usize))
            .prop_map(|(page, kr, goal)| Op::YearGoal { page, kr, goal }),
        1 => (0..4usize, 0..2usize).prop_map(|(page, objective)| Op::DuplicateTable { page, objective }),
        1 => (0..4usize, 0..2usize, any::<bool>())
            .prop_map(|(page, objective, duplicate)| Op::MoveRows { page, objective, duplicate }),
        1 => (0..4usize).prop_map(|page| Op::VisualEditor { page }),
        1 => (0..4usize, 0..3usize).prop_map(|(page, kr)| Op::GoalBullet { page, kr }),
        1 => (0..4usize, 0..2usize).prop_map(|(page, objective)| Op::DeleteHeading { page, objective }),
        1 => (0..4usize).prop_map(|page| Op::SwapKrs { page }),
        1 => (0..4usize).prop_map(|page| Op::Renumber { page }),
        2 => (0..4usize, 0..3usize, 0..4usize, 0..4usize)
            .prop_map(|(page, kr, q, status)| Op::MarkupNote { page, kr, q, status }),
        1 => (0..4usize, 0..STAFF_SYNTAX.len()).prop_map(|(page, form)| Op::StaffSyntax { page, form }),
    ]
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => person_op(),
        3 => (0..3usize, 0..4usize, proptest::option::of(0..4usize), proptest::option::of(0..4usize))
            .prop_map(|(kr, q, status, note)| Op::Set { kr, q, status, note }),
        2 => (0..3usize, 0..4usize).prop_map(|(kr, text)| Op::SetText { kr, text }),
        4 => Just(Op::Sync),
        2 => any::<bool>().prop_map(|killed| Op::Watch { killed }),
        2 => Just(Op::PullOnly),
        1 => Just(Op::PushOnly),
        1 => (1..4usize).prop_map(|after| Op::Killed { after }),
        1 => (1..4usize).prop_map(|n| Op::KilledMidPull { n }),
        1 => (1..4usize).prop_map(|n| Op::KilledBeforeSave { n }),
        1 => proptest::collection::vec(
                (0..3usize, 0..4usize, proptest::option::of(0..4usize), proptest::option::of(0..4usize)),
                1..4,
            ).prop_map(Op::Import),
        1 => person_op().prop_map(|p| Op::SaveBetween(Box::new(p))),
        2 => (0..4usize, any::<bool>()).prop_map(|(n, wiki)| Op::Resolve { n, wiki }),
    ]
}
