//! The KR tables staff write, taken over in place (`docs/pages.md`, "KR tables
//! staff wrote"; the choice is documented in `wikitext_templates/STATUS_TABLE.md`).
//!
//! **Adopting** a staff table adds the bot's identity to it and changes
//! nothing else: `data-goalsbot-objective` on its `{|` line and
//! `data-goalsbot-kr` on each body row's `|-` line. Its look, columns (also
//! those the bot does not read), cell texts and colours stay as staff wrote
//! them, and so does every byte around it. From then on the table is the
//! objective's status table: the bot adds no table of its own beside it.
//!
//! **Showing the store's data** in an adopted table changes only the cells
//! whose value the store changed: a quarter cell becomes `Label: note` with
//! the status's colour (a cell whose colour already names that status keeps
//! it), a year-goal or Baseline cell takes the new text, and a record with
//! no row yet gets one at the end of the table, cells in the table's own
//! column order. Rows, columns and cells the store has nothing to say about
//! are never touched, and an adopted table is never re-rendered whole.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::core::colour::Palette;
use crate::core::parse::{column, is_status_header, Column, StaffTable};
use crate::core::records::{KeyResult, Kind, Objective, Quarter, Status};
use crate::core::render::{escape, restatus, status_cell_wikitext};
use crate::core::table_check::{self, Verdict, Verdicts};
use crate::core::wikitable::{self, attribute, plain, set_attribute, with_background, Row, Table};

/// A table on the page that carries an objective's identity.
#[derive(Debug, Clone)]
pub struct IdentityTable {
    pub table: Table,
    /// The bot's own generated table (class `goalsbot-status`), not an adopted one.
    pub bots_own: bool,
}

/// The attributes of a table's `{|` line.
fn open_attrs<'t>(text: &'t str, table: &Table) -> &'t str {
    text[table.open.clone()]
        .trim_start()
        .strip_prefix("{|")
        .unwrap_or("")
}

/// Whether the bot may write into a staff table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Yes: the wiki agreed with the reader on this very text (or the plan
    /// runs without the wiki's verdicts, as the pure tests do).
    Open,
    /// No: why (the reader is unsure, or the wiki's parse differs).
    Shut(String),
    /// Not before the wiki's parse of this text was compared: its digest.
    Unchecked(String),
}

/// The gate of `table` in `text`, given the verdicts kept so far (`None`:
/// no check against the wiki is asked for).
pub fn gate(text: &str, table: &Table, verdicts: Option<&Verdicts>) -> Gate {
    if let Some(why) = &table.unsure {
        return Gate::Shut(why.clone());
    }
    let Some(verdicts) = verdicts else {
        return Gate::Open;
    };
    let digest = table_check::digest(text, table);
    match verdicts.get(&digest) {
        Some(Verdict::Agrees) => Gate::Open,
        Some(Verdict::Differs(why)) => Gate::Shut(format!("the wiki reads it otherwise: {why}")),
        None => Gate::Unchecked(digest),
    }
}

/// How a warning names a staff table: its objective and its header row.
pub fn table_name(text: &str, table: &Table, objective: &str) -> String {
    let head = header_text(text, table);
    format!("the KR table of {objective:?} (columns: {head})")
}

/// The plain text of a table's first row, cells joined by ` | `.
fn header_text(text: &str, table: &Table) -> String {
    table.rows.first().map_or_else(String::new, |r| {
        r.cells
            .iter()
            .map(|c| plain(&text[c.content.clone()]))
            .collect::<Vec<_>>()
            .join(" | ")
    })
}

/// Every table of `text` whose `data-goalsbot-objective` is `objective_id`.
pub fn identity_tables(text: &str, objective_id: &str) -> Vec<IdentityTable> {
    wikitable::tables_in(text, 0..text.len())
        .into_iter()
        .filter(|t| {
            attribute(open_attrs(text, t), "data-goalsbot-objective").as_deref()
                == Some(objective_id)
        })
        .map(|t| {
            let bots_own = attribute(open_attrs(text, &t), "class")
                .is_some_and(|c| c.split_whitespace().any(|c| c == "goalsbot-status"));
            IdentityTable { table: t, bots_own }
        })
        .collect()
}

/// The columns a table's first row names.
fn header(text: &str, table: &Table) -> Vec<Column> {
    table.rows.first().map_or_else(Vec::new, |r| {
        r.cells
            .iter()
            .map(|c| column(&plain(&text[c.content.clone()])))
            .collect()
    })
}

/// The KR tables staff wrote in `section` that carry no identity yet, in order.
pub fn staff_tables_in(text: &str, section: Range<usize>) -> Vec<Table> {
    wikitable::tables_in(text, section)
        .into_iter()
        .filter(|t| attribute(open_attrs(text, t), "data-goalsbot-objective").is_none())
        .filter(|t| is_status_header(&header(text, t)))
        .collect()
}

/// `text` with `edits` (byte range → replacement) applied; ranges must not overlap.
fn apply(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for (range, new) in edits {
        out.replace_range(range, &new);
    }
    out
}

/// Adds `objective_id`'s identity to the staff tables of its `section`, as
/// the parsed page saw them (`infos`, in the same order). A table the bot
/// cannot read whole is left as it is; any disagreement between what the
/// page's HTML showed and the wikitext is an error and nothing is adopted.
pub fn adopt(
    text: &str,
    section: Range<usize>,
    objective_id: &str,
    infos: &[StaffTable],
) -> Result<String, String> {
    let tables = staff_tables_in(text, section);
    if tables.len() != infos.len() {
        return Err(format!(
            "the page's HTML shows {} KR tables for {objective_id} and its wikitext {}; \
             none is adopted (a template or a comment may hide one)",
            infos.len(),
            tables.len()
        ));
    }
    let mut edits = Vec::new();
    for (table, info) in tables.iter().zip(infos) {
        if info.unreadable.is_some() {
            continue;
        }
        let body = &table.rows[1..];
        if body.len() != info.rows.len() {
            return Err(format!(
                "a KR table of {objective_id} has {} rows in its wikitext and {} in its HTML; \
                 it is not adopted",
                body.len(),
                info.rows.len()
            ));
        }
        for (row, id) in body.iter().zip(&info.rows) {
            let Some(id) = id else { continue };
            let Some(line) = &row.line else {
                return Err(format!(
                    "a KR table of {objective_id} has a row without its own `|-` line; \
                     it is not adopted"
                ));
            };
            let attrs = row_attrs(text, line);
            let at = line.end - attrs.len();
            edits.push((
                at..line.end,
                set_attribute(attrs, "data-goalsbot-kr", &escape::attribute(id)),
            ));
        }
        let attrs = open_attrs(text, table);
        let at = table.open.end - attrs.len();
        edits.push((
            at..table.open.end,
            set_attribute(
                attrs,
                "data-goalsbot-objective",
                &escape::attribute(objective_id),
            ),
        ));
    }
    Ok(apply(text, edits))
}

/// The status data one row shows: what is compared with the store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct RowValues {
    baseline: Option<String>,
    year_goal: Option<String>,
    quarters: BTreeMap<Quarter, (Option<Status>, Option<String>)>,
}

fn values(kr: Option<&KeyResult>) -> RowValues {
    let Some(kr) = kr else {
        return RowValues::default();
    };
    RowValues {
        baseline: kr.baseline.clone(),
        year_goal: kr.year_goal.clone(),
        quarters: kr
            .quarters
            .iter()
            .filter(|(_, e)| e.status.is_some() || e.note.is_some())
            .map(|(q, e)| (*q, (e.status, e.note.clone())))
            .collect(),
    }
}

/// What [`patch_adopted`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patched {
    pub text: String,
    /// Record ids whose shown data changed, with the quarters that changed.
    pub changed: Vec<(String, BTreeSet<Quarter>)>,
    pub warnings: Vec<String>,
    /// Records with data to show and no adopted table of their kind (KRs
    /// of an objective whose only staff table lists metrics): they go in a
    /// status table of the bot's.
    pub homeless: Vec<String>,
    /// Digests of adopted tables the wiki's parse must be compared with
    /// before the bot writes into them ([`Gate::Unchecked`]).
    pub unchecked: Vec<String>,
    /// An adopted table of the objective is not written into (its gate is
    /// shut or unchecked): no table of the bot's is added beside it.
    pub shut: bool,
}

/// Shows `store`'s data in the objective's adopted tables of `text`, where
/// it differs from what the page shows (`shown`), cell by cell.
pub fn patch_adopted(
    text: &str,
    shown: &Objective,
    store: &Objective,
    palette: &Palette,
    verdicts: Option<&Verdicts>,
) -> Patched {
    let tables: Vec<(Table, Vec<Column>)> = identity_tables(text, &store.id)
        .into_iter()
        .filter(|t| !t.bots_own)
        .map(|t| {
            let h = header(text, &t.table);
            (t.table, h)
        })
        .collect();
    let mut out = Patched {
        text: text.to_string(),
        ..Patched::default()
    };
    if tables.is_empty() {
        return out;
    }
    let shut = shut_tables(text, &tables, verdicts, &store.title, &mut out);
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    // New rows, per table, in store order.
    let mut appended: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for kr in &store.key_results {
        let was = values(shown.key_results.iter().find(|k| k.id == kr.id));
        let now = values(Some(kr));
        let place = tables.iter().enumerate().find_map(|(ti, (t, _))| {
            t.rows
                .iter()
                .skip(1)
                .position(|r| row_id(text, r).as_deref() == Some(kr.id.as_str()))
                .map(|ri| (ti, ri + 1))
        });
        let Some((ti, ri)) = place else {
            if now == RowValues::default() {
                // Nothing to show: no empty row is added to a staff table.
                continue;
            }
            let Some(ti) = home_table(&tables, &shut, kr.kind) else {
                out.homeless.push(kr.id.clone());
                continue;
            };
            let cells = new_row(&tables[ti].1, kr, palette);
            appended.entry(ti).or_default().push(format!(
                "|- data-goalsbot-kr=\"{}\"\n{cells}\n",
                escape::attribute(&kr.id)
            ));
            out.changed
                .push((kr.id.clone(), now.quarters.keys().copied().collect()));
            continue;
        };
        if was == now || shut[ti] {
            continue;
        }
        let (table, columns) = &tables[ti];
        let patch = RowPatch {
            was: &was,
            now: &now,
            kr,
            columns,
        };
        if let Some(quarters) = patch_row(text, &table.rows[ri], &patch, palette, &mut edits) {
            out.changed.push((kr.id.clone(), quarters));
        }
    }
    for (ti, rows) in appended {
        let at = tables[ti].0.close_line;
        edits.push((at..at, rows.concat()));
    }
    // Insertions at one point keep their order: content edits never start
    // where an attribute insertion does, so sorting by start is enough.
    out.text = apply_stable(text, edits);
    out
}

/// Which of the objective's adopted tables the bot may not write into: their
/// rows stay as they are, and no row is added to them. Says why in `out`'s
/// warnings (or its unchecked digests), and sets `out.shut`.
fn shut_tables(
    text: &str,
    tables: &[(Table, Vec<Column>)],
    verdicts: Option<&Verdicts>,
    title: &str,
    out: &mut Patched,
) -> Vec<bool> {
    let shut: Vec<bool> = tables
        .iter()
        .map(|(t, _)| match gate(text, t, verdicts) {
            Gate::Open => false,
            Gate::Shut(why) => {
                out.warnings.push(format!(
                    "{} is not written by the bot: {why}",
                    table_name(text, t, title)
                ));
                true
            }
            Gate::Unchecked(digest) => {
                out.unchecked.push(digest);
                true
            }
        })
        .collect();
    out.shut = shut.iter().any(|s| *s);
    // MediaWiki shows a KR's values from the first row that has it, and
    // where one of the objective's tables is shut the bot cannot tell which
    // row that is: it writes none of them (a value written into a copy
    // would not be what the page shows, and would overwrite what a person
    // wrote there).
    if out.shut && tables.len() > 1 {
        for (t, s) in tables.iter().zip(&shut) {
            if !s {
                out.warnings.push(format!(
                    "{} is not written by the bot: another KR table of the objective is \
                     one it cannot write into, so it cannot tell which row the page shows",
                    table_name(text, &t.0, title)
                ));
            }
        }
        vec![true; tables.len()]
    } else {
        shut
    }
}

/// One row's values as the page shows them (`was`) and as the store has
/// them (`now`), with the table's columns.
struct RowPatch<'a> {
    was: &'a RowValues,
    now: &'a RowValues,
    kr: &'a KeyResult,
    columns: &'a [Column],
}

/// Pushes onto `edits` what shows `p.now` instead of `p.was` in `row`, cell
/// by cell; the quarters whose cells changed, or `None` when no cell did.
fn patch_row(
    text: &str,
    row: &Row,
    p: &RowPatch<'_>,
    palette: &Palette,
    edits: &mut Vec<(Range<usize>, String)>,
) -> Option<BTreeSet<Quarter>> {
    let mut quarters = BTreeSet::new();
    let mut any = false;
    for (ci, cell) in row.cells.iter().enumerate() {
        let col = p.columns.get(ci).copied().unwrap_or(Column::Unknown);
        let (new_content, colour): (String, Option<Option<String>>) = match col {
            Column::YearGoal if p.was.year_goal != p.now.year_goal => (
                p.now.year_goal.as_deref().map(one_line).unwrap_or_default(),
                None,
            ),
            Column::Baseline if p.was.baseline != p.now.baseline => (
                p.now.baseline.as_deref().map(one_line).unwrap_or_default(),
                None,
            ),
            Column::Kr | Column::Metric
                if p.was.baseline != p.now.baseline && !p.columns.contains(&Column::Baseline) =>
            {
                match with_baseline(&text[cell.content.clone()], p.now.baseline.as_deref()) {
                    Some(c) => (c, None),
                    None => continue,
                }
            }
            Column::Quarter(q) if p.was.quarters.get(&q) != p.now.quarters.get(&q) => {
                quarters.insert(q);
                let (status, note) = p.now.quarters.get(&q).cloned().unwrap_or_default();
                let keep = cell.attrs.as_ref().is_some_and(|a| {
                    cell_background(&text[a.clone()])
                        .is_some_and(|c| status.is_some() && palette.status_of(&c) == status)
                });
                let colour = if keep {
                    None
                } else {
                    Some(status.map(|s| palette.colour_for(s)))
                };
                // A status-only change keeps the note's wikitext.
                let same_note = p.was.quarters.get(&q).map(|(_, n)| n) == Some(&note);
                let content = same_note
                    .then(|| restatus(&text[cell.content.clone()], status))
                    .flatten()
                    .unwrap_or_else(|| status_cell_wikitext(p.kr.quarters.get(&q)));
                (content, colour)
            }
            _ => continue,
        };
        any = true;
        let paint = match (&cell.attrs, &colour) {
            (None, Some(Some(c))) => Some(c.clone()),
            _ => None,
        };
        if let Some(c) = paint {
            // `| content` becomes `| style="…" | content`: one edit over
            // the whole content, so nothing else lands between the two.
            let followed = text[cell.content.end..].starts_with("||")
                || text[cell.content.end..].starts_with("!!");
            let trail = if followed { " " } else { "" };
            edits.push((
                cell.content.clone(),
                format!(" style=\"background:{c}\" | {new_content}{trail}"),
            ));
            continue;
        }
        edits.push((
            content_edit(text, &cell.content),
            pad(text, &cell.content, &new_content),
        ));
        if let (Some(colour), Some(a)) = (colour, &cell.attrs) {
            let attrs = with_background(&text[a.clone()], colour.as_deref());
            if attrs.trim().is_empty() {
                // No attribute left: the bar that ended them goes too
                // (`| | text` would read as another cell).
                edits.push((a.start..a.end + 1, String::new()));
            } else {
                edits.push((a.clone(), attrs));
            }
        }
    }
    any.then_some(quarters)
}

/// Like [`apply`], but edits at the same point are applied in their given order.
fn apply_stable(text: &str, edits: Vec<(Range<usize>, String)>) -> String {
    let mut indexed: Vec<(usize, (Range<usize>, String))> = edits.into_iter().enumerate().collect();
    // From the end of the text; at one point, a replacement before the
    // insertions there, and insertions last-given first (so they end up in
    // the given order, all before the replaced text).
    indexed.sort_by(|(i, (a, _)), (j, (b, _))| {
        b.start
            .cmp(&a.start)
            .then(a.is_empty().cmp(&b.is_empty()))
            .then(j.cmp(i))
    });
    let mut out = text.to_string();
    for (_, (range, new)) in indexed {
        out.replace_range(range, &new);
    }
    out
}

/// The table a new row of `kind` goes to: metrics to a metrics table, KRs
/// and items to a KR table; `None` when the objective has no such table.
fn home_table(tables: &[(Table, Vec<Column>)], shut: &[bool], kind: Kind) -> Option<usize> {
    let wants_metrics = kind == Kind::Metric;
    let i = tables
        .iter()
        .position(|(_, cols)| cols.contains(&Column::Metric) == wants_metrics)?;
    (!shut[i]).then_some(i)
}

/// The ids of `objective`'s records that have a row in one of its adopted tables.
pub fn rows_in_adopted(text: &str, objective_id: &str) -> BTreeSet<String> {
    identity_tables(text, objective_id)
        .into_iter()
        .filter(|t| !t.bots_own)
        .flat_map(|t| {
            t.table
                .rows
                .iter()
                .filter_map(|r| row_id(text, r))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The attributes of a row's `|-` line.
fn row_attrs<'t>(text: &'t str, line: &Range<usize>) -> &'t str {
    text[line.clone()]
        .trim_start()
        .strip_prefix("|-")
        .map_or("", |a| a.trim_start_matches('-'))
}

/// The record id a row carries (`data-goalsbot-kr` on its `|-` line).
pub fn row_id(text: &str, row: &Row) -> Option<String> {
    attribute(row_attrs(text, row.line.as_ref()?), "data-goalsbot-kr")
}

/// The cells of a new row for `kr`, one per line, in the table's column order.
fn new_row(columns: &[Column], kr: &KeyResult, palette: &Palette) -> String {
    let label = match kr.kind {
        Kind::KeyResult => format!("KR{}", kr.number),
        Kind::ObjectiveItem => "Objective".to_string(),
        Kind::Metric => String::new(),
    };
    let text = one_line(&kr.text);
    let first = match (label.is_empty(), text.is_empty()) {
        (true, _) => text,
        (false, true) => label,
        (false, false) => format!("{label}: {text}"),
    };
    columns
        .iter()
        .map(|c| match c {
            Column::Kr | Column::Metric => format!("| {first}"),
            Column::YearGoal => cell_line(kr.year_goal.as_deref().map(one_line)),
            Column::Baseline => cell_line(kr.baseline.as_deref().map(one_line)),
            Column::Quarter(q) => match kr.quarters.get(q) {
                Some(e) if e.status.is_some() || e.note.is_some() => {
                    let t = status_cell_wikitext(Some(e));
                    match e.status {
                        Some(s) => {
                            format!("| style=\"background:{}\" | {t}", palette.colour_for(s))
                        }
                        None => format!("| {t}"),
                    }
                }
                _ => "|".to_string(),
            },
            Column::Unknown => "|".to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn cell_line(value: Option<String>) -> String {
    match value {
        Some(v) if !v.is_empty() => format!("| {v}"),
        _ => "|".to_string(),
    }
}

/// A store value as cell wikitext on one line, escaped.
fn one_line(value: &str) -> String {
    escape::wikitext(&escape::collapse(value))
}

/// The background colour an attribute string gives a cell.
fn cell_background(attrs: &str) -> Option<String> {
    attribute(attrs, "style")
        .and_then(|s| crate::core::colour::style_background(&s))
        .or_else(|| attribute(attrs, "bgcolor"))
}

/// The part of a cell's content that an edit replaces: its text without the
/// spaces around it (an empty cell: all of it).
fn content_edit(text: &str, content: &Range<usize>) -> Range<usize> {
    let c = &text[content.clone()];
    let trimmed = c.trim();
    if trimmed.is_empty() {
        return content.clone();
    }
    let lead = c.len() - c.trim_start().len();
    content.start + lead..content.start + lead + trimmed.len()
}

/// The new text of a cell, with a space before it when the cell was empty
/// (`|` + ` text`), and after it when another cell follows on the line.
fn pad(text: &str, content: &Range<usize>, new: &str) -> String {
    if !text[content.clone()].trim().is_empty() {
        return new.to_string();
    }
    let followed = text[content.end..].starts_with("||") || text[content.end..].starts_with("!!");
    match (new.is_empty(), followed) {
        (true, true) => " ".into(),
        (true, false) => String::new(),
        (false, true) => format!(" {new} "),
        (false, false) => format!(" {new}"),
    }
}

/// A KR cell with its `Baseline:` sentence set to `baseline` (appended when
/// absent); `None` when there is none to remove.
fn with_baseline(cell: &str, baseline: Option<&str>) -> Option<String> {
    let t = cell.trim();
    let lower = t.to_lowercase();
    let at = lower.rfind("baseline:");
    let head = match at {
        Some(i) => t[..i]
            .trim_end()
            .trim_end_matches("<br>")
            .trim_end_matches("<br />")
            .trim_end(),
        None => t,
    };
    match (baseline, at) {
        (None, None) => None,
        (None, Some(_)) => Some(head.to_string()),
        (Some(b), Some(i)) => Some(format!("{}Baseline: {}", &t[..i], one_line(b))),
        (Some(b), None) => Some(format!("{head}<br />Baseline: {}", one_line(b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::records::QuarterEntry;

    /// The lines that differ, old and new, for texts with the same line count.
    fn changed_lines<'a>(old: &'a str, new: &'a str) -> Vec<(&'a str, &'a str)> {
        old.lines()
            .zip(new.lines())
            .filter(|(a, b)| a != b)
            .collect()
    }

    const PAGE: &str = "== X - Obj ==\nintro\n{| class=\"wikitable\" style=\"width:100%\"\n! Key Results !! Year Goal !! Owner !! Q1 Status !! Q2 Status\n|-\n| KR1: Hire || 4 || Ann || bgcolor=#b6d7a8 | 25% filled || \n|- style=\"x\"\n|KR2\n| 2 teams\n| Bob\n| style=\"background:#ffe599\" | Behind<br>one team\n|\n|}\nafter the table\n== Next ==\n";

    fn info(ids: &[&str]) -> StaffTable {
        StaffTable {
            rows: ids.iter().map(|i| Some(i.to_string())).collect(),
            unreadable: None,
        }
    }

    fn kr(id: &str, n: u32, q: &[(Quarter, Option<Status>, &str)]) -> KeyResult {
        KeyResult {
            id: id.into(),
            kind: Kind::KeyResult,
            number: n,
            text: String::new(),
            managers: vec![],
            baseline: None,
            year_goal: None,
            links: vec![],
            quarters: q
                .iter()
                .map(|(q, s, n)| {
                    (
                        *q,
                        QuarterEntry {
                            status: *s,
                            note: Some(n.to_string()),
                            ..Default::default()
                        },
                    )
                })
                .collect(),
        }
    }

    fn objective(krs: Vec<KeyResult>) -> Objective {
        Objective {
            id: "2020-21/obj".into(),
            program: None,
            title: "Obj".into(),
            managers: vec![],
            description: None,
            status: BTreeMap::new(),
            target_quarter: None,
            department: None,
            key_results: krs,
        }
    }

    fn adopted() -> String {
        let end = PAGE.find("== Next").unwrap();
        adopt(
            PAGE,
            0..end,
            "2020-21/obj",
            &[info(&["2020-21/obj/kr1", "2020-21/obj/kr2"])],
        )
        .unwrap()
    }

    #[test]
    fn adopting_adds_identity_and_nothing_else() {
        let text = adopted();
        let diff = changed_lines(PAGE, &text);
        assert_eq!(
            diff,
            vec![
                (
                    "{| class=\"wikitable\" style=\"width:100%\"",
                    "{| class=\"wikitable\" style=\"width:100%\" data-goalsbot-objective=\"2020-21/obj\""
                ),
                ("|-", "|- data-goalsbot-kr=\"2020-21/obj/kr1\""),
                ("|- style=\"x\"", "|- style=\"x\" data-goalsbot-kr=\"2020-21/obj/kr2\""),
            ]
        );
        assert_eq!(PAGE.lines().count(), text.lines().count());
        assert!(staff_tables_in(&text, 0..text.len()).is_empty());
        assert_eq!(identity_tables(&text, "2020-21/obj").len(), 1);
    }

    #[test]
    fn a_table_added_beside_an_adopted_one_is_adopted_too() {
        use crate::core::records::FiscalYearRecords;
        use crate::core::render::Renderer;
        let text = adopted();
        let metrics = "{| class=\"wikitable\"\n! MTP Metrics !! Y2 Goal !! Q1 Status\n|-\n| Time to merge || -10% || On track: -4%\n|}\n";
        let text = text.replace("after the table\n", &format!("after the table\n{metrics}"));
        let mut obj = objective(vec![
            kr("2020-21/obj/kr1", 1, &[]),
            kr("2020-21/obj/kr2", 2, &[]),
        ]);
        let mut metric = kr(
            "2020-21/obj/metric1",
            1,
            &[(Quarter::Q1, Some(Status::OnTrack), "-4%")],
        );
        metric.kind = Kind::Metric;
        metric.text = "Time to merge".into();
        metric.year_goal = Some("-10%".into());
        obj.key_results.push(metric);
        let year = FiscalYearRecords {
            fiscal_year: "2020-21".parse().unwrap(),
            objectives: vec![obj],
        };
        let plan =
            crate::core::plan::plan_quarter_page(&text, &year, &year, Renderer::builtin()).unwrap();
        assert!(
            plan.needs_staff_tables,
            "the new table waits for the page's parse"
        );
        assert_eq!(plan.text, text, "and nothing is added meanwhile");
        let mut staff = BTreeMap::new();
        staff.insert(
            "2020-21/obj".to_string(),
            vec![info(&["2020-21/obj/metric1"])],
        );
        let plan = crate::core::plan::plan_quarter_page_with(
            &text,
            &year,
            &year,
            Renderer::builtin(),
            crate::core::plan::Adoption {
                staff: Some(&staff),
                palette: None,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(plan.adopted, vec!["2020-21/obj".to_string()]);
        assert_eq!(identity_tables(&plan.text, "2020-21/obj").len(), 2);
        assert!(plan.added.is_empty());
        assert!(plan
            .text
            .contains("|- data-goalsbot-kr=\"2020-21/obj/metric1\"\n| Time to merge"));
    }

    #[test]
    fn krs_of_an_objective_whose_only_staff_table_lists_metrics_get_a_bot_table_once_they_have_data(
    ) {
        use crate::core::records::FiscalYearRecords;
        use crate::core::render::Renderer;
        let text = "== X - Obj ==\nKR1: One\n{| class=\"wikitable\" data-goalsbot-objective=\"2020-21/obj\"\n! MTP Metrics !! Y2 Goal !! Q1 Status\n|- data-goalsbot-kr=\"2020-21/obj/metric1\"\n| Time to merge || -10% || On track: -4%\n|}\n== Next ==\n";
        let mut metric = kr(
            "2020-21/obj/metric1",
            1,
            &[(Quarter::Q1, Some(Status::OnTrack), "-4%")],
        );
        metric.kind = Kind::Metric;
        metric.text = "Time to merge".into();
        metric.year_goal = Some("-10%".into());
        let shown = objective(vec![kr("2020-21/obj/kr1", 1, &[]), metric]);
        let year = |o: Objective| FiscalYearRecords {
            fiscal_year: "2020-21".parse().unwrap(),
            objectives: vec![o],
        };
        // Nothing to show for KR1: no table is added.
        let plan = crate::core::plan::plan_quarter_page(
            text,
            &year(shown.clone()),
            &year(shown.clone()),
            Renderer::builtin(),
        )
        .unwrap();
        assert_eq!(plan.text, text);
        // KR1 gets a status: a table of the bot's for KR1 alone, the metrics table as it was.
        let mut store = shown.clone();
        store.key_results[0].quarters.insert(
            Quarter::Q1,
            QuarterEntry {
                status: Some(Status::AtRisk),
                note: None,
                ..Default::default()
            },
        );
        let plan = crate::core::plan::plan_quarter_page(
            text,
            &year(shown),
            &year(store),
            Renderer::builtin(),
        )
        .unwrap();
        assert_eq!(plan.added, vec!["2020-21/obj".to_string()]);
        let tables = identity_tables(&plan.text, "2020-21/obj");
        assert_eq!(tables.len(), 2);
        let own = tables.iter().find(|t| t.bots_own).unwrap();
        let own_text = &plan.text[own.table.range.clone()];
        assert!(
            own_text.contains("data-goalsbot-kr=\"2020-21/obj/kr1\""),
            "{own_text}"
        );
        assert!(!own_text.contains("metric1"), "{own_text}");
        assert!(plan
            .text
            .contains("| Time to merge || -10% || On track: -4%\n"));
    }

    #[test]
    fn a_disagreeing_row_count_adopts_nothing() {
        let end = PAGE.find("== Next").unwrap();
        assert!(adopt(PAGE, 0..end, "2020-21/obj", &[info(&["2020-21/obj/kr1"])]).is_err());
        assert!(adopt(PAGE, 0..end, "2020-21/obj", &[]).is_err());
    }

    #[test]
    fn a_changed_status_changes_one_cell() {
        let text = adopted();
        let shown = objective(vec![
            kr(
                "2020-21/obj/kr1",
                1,
                &[(Quarter::Q1, Some(Status::OnTrack), "25% filled")],
            ),
            kr(
                "2020-21/obj/kr2",
                2,
                &[(Quarter::Q1, Some(Status::Concerns), "Behind one team")],
            ),
        ]);
        let mut store = shown.clone();
        store.key_results[0]
            .quarters
            .get_mut(&Quarter::Q1)
            .unwrap()
            .status = Some(Status::AtRisk);
        let p = patch_adopted(&text, &shown, &store, &Palette::default(), None);
        let diff = changed_lines(&text, &p.text);
        assert_eq!(
            diff,
            vec![(
                "| KR1: Hire || 4 || Ann || bgcolor=#b6d7a8 | 25% filled || ",
                "| KR1: Hire || 4 || Ann || style=\"background:#f8d7da\" | At risk: 25% filled || "
            )]
        );
        assert_eq!(
            p.changed,
            vec![("2020-21/obj/kr1".to_string(), BTreeSet::from([Quarter::Q1]))]
        );
        // Nothing to change: the same text.
        let same = patch_adopted(&text, &shown, &shown, &Palette::default(), None);
        assert_eq!(same.text, text);
        assert!(same.changed.is_empty());
    }

    #[test]
    fn a_status_only_change_keeps_the_markup_of_an_adopted_cells_note() {
        // Issue 27 case 3 in a staff table: the note's link and template
        // stay byte for byte; only the status word and colour change.
        let note =
            "[https://phabricator.wikimedia.org/T301234 25% filled], see {{Phabricator|T287999}}";
        let text = adopted().replace("| 25% filled ||", &format!("| {note} ||"));
        let shown_note = "25% filled, see T287999";
        let shown = objective(vec![
            kr(
                "2020-21/obj/kr1",
                1,
                &[(Quarter::Q1, Some(Status::OnTrack), shown_note)],
            ),
            kr(
                "2020-21/obj/kr2",
                2,
                &[(Quarter::Q1, Some(Status::Concerns), "Behind one team")],
            ),
        ]);
        let mut store = shown.clone();
        let entry = store.key_results[0].quarters.get_mut(&Quarter::Q1).unwrap();
        entry.status = Some(Status::AtRisk);
        let p = patch_adopted(&text, &shown, &store, &Palette::default(), None);
        assert_eq!(
            changed_lines(&text, &p.text),
            vec![(
                format!("| KR1: Hire || 4 || Ann || bgcolor=#b6d7a8 | {note} || ").as_str(),
                format!(
                    "| KR1: Hire || 4 || Ann || style=\"background:#f8d7da\" | At risk: {note} || "
                )
                .as_str()
            )]
        );
        // A new note replaces the old one whole.
        let entry = store.key_results[0].quarters.get_mut(&Quarter::Q1).unwrap();
        entry.note = Some("half filled".into());
        let p = patch_adopted(&text, &shown, &store, &Palette::default(), None);
        assert!(p.text.contains("| At risk: half filled ||"), "{}", p.text);
    }

    #[test]
    fn an_empty_cell_and_a_year_goal_are_filled_in_place() {
        let text = adopted();
        let shown = objective(vec![
            kr("2020-21/obj/kr1", 1, &[]),
            kr("2020-21/obj/kr2", 2, &[]),
        ]);
        let mut store = shown.clone();
        store.key_results[0].quarters.insert(
            Quarter::Q2,
            QuarterEntry {
                status: Some(Status::Complete),
                note: None,
                ..Default::default()
            },
        );
        store.key_results[1].year_goal = Some("3 | teams".into());
        let p = patch_adopted(&text, &shown, &store, &Palette::default(), None);
        let diff = changed_lines(&text, &p.text);
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert_eq!(diff[0].1, "| KR1: Hire || 4 || Ann || bgcolor=#b6d7a8 | 25% filled || style=\"background:#a8d5a2\" | Complete");
        assert_eq!(diff[1].1, "| <nowiki>3 | teams</nowiki>");
    }

    #[test]
    fn a_cleared_cell_loses_its_colour_and_its_attribute_bar() {
        let text = adopted();
        let shown = objective(vec![
            kr(
                "2020-21/obj/kr1",
                1,
                &[(Quarter::Q1, Some(Status::OnTrack), "25% filled")],
            ),
            kr(
                "2020-21/obj/kr2",
                2,
                &[(Quarter::Q1, Some(Status::Concerns), "Behind one team")],
            ),
        ]);
        let mut store = shown.clone();
        store.key_results[0].quarters.clear();
        store.key_results[1].quarters.clear();
        let p = patch_adopted(&text, &shown, &store, &Palette::default(), None);
        let diff = changed_lines(&text, &p.text);
        assert_eq!(
            diff,
            vec![
                (
                    "| KR1: Hire || 4 || Ann || bgcolor=#b6d7a8 | 25% filled || ",
                    "| KR1: Hire || 4 || Ann ||  || "
                ),
                ("| style=\"background:#ffe599\" | Behind<br>one team", "| "),
            ]
        );
        assert_eq!(text.lines().count(), p.text.lines().count());
    }

    #[test]
    fn a_cell_without_attributes_is_painted_in_one_piece() {
        // An empty cell at the end of a line and an empty inline cell.
        let text = "== X - Obj ==\n{| class=\"wikitable\" data-goalsbot-objective=\"2020-21/obj\"\n! KR !! Q1 !! Q2\n|- data-goalsbot-kr=\"2020-21/obj/kr1\"\n| KR1 ||  || \n|- data-goalsbot-kr=\"2020-21/obj/kr2\"\n| KR2\n|\n| x\n|}\n";
        let shown = objective(vec![
            kr("2020-21/obj/kr1", 1, &[]),
            kr("2020-21/obj/kr2", 2, &[(Quarter::Q2, None, "x")]),
        ]);
        let mut store = shown.clone();
        for k in &mut store.key_results {
            k.quarters.insert(
                Quarter::Q1,
                QuarterEntry {
                    status: Some(Status::Complete),
                    note: Some("done".into()),
                    ..Default::default()
                },
            );
        }
        store.key_results[0].quarters.insert(
            Quarter::Q2,
            QuarterEntry {
                status: Some(Status::AtRisk),
                note: None,
                ..Default::default()
            },
        );
        let p = patch_adopted(text, &shown, &store, &Palette::default(), None);
        assert!(
            p.text.contains("| KR1 || style=\"background:#a8d5a2\" | Complete: done || style=\"background:#f8d7da\" | At risk\n"),
            "{}",
            p.text
        );
        assert!(
            p.text
                .contains("| KR2\n| style=\"background:#a8d5a2\" | Complete: done\n| x\n"),
            "{}",
            p.text
        );
    }

    #[test]
    fn a_record_without_a_row_gets_one_at_the_end() {
        let text = adopted();
        let shown = objective(vec![
            kr("2020-21/obj/kr1", 1, &[]),
            kr("2020-21/obj/kr2", 2, &[]),
        ]);
        let mut store = shown.clone();
        let mut kr3 = kr(
            "2020-21/obj/kr3",
            3,
            &[(Quarter::Q2, Some(Status::OnTrack), "fine")],
        );
        kr3.text = "New one".into();
        store.key_results.push(kr3);
        let p = patch_adopted(&text, &shown, &store, &Palette::default(), None);
        assert!(p.text.contains(
            "|- data-goalsbot-kr=\"2020-21/obj/kr3\"\n| KR3: New one\n|\n|\n|\n| style=\"background:#d4edda\" | On track: fine\n|}"
        ), "{}", p.text);
    }
}
