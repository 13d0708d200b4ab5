//! What each page of the web view shows, built from the store's records,
//! history, conflicts and runs: plain functions, no I/O. The templates
//! (`src/web/templates/`) only lay these out; every text in them is
//! escaped by the template engine.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::core::records::{FiscalYearRecords, KeyResult, Kind, Objective, Quarter, Status};
use crate::core::runlog::{RunOutcome, RunSummary};
use crate::store::{HistoryEntry, RunEntry, Source, StoredConflict};

/// Links into the wiki the bot works on (its script path, `…/w/`).
#[derive(Debug, Clone)]
pub struct WikiLinks {
    base: url::Url,
}

impl WikiLinks {
    /// From the wiki's script path (`https://www.mediawiki.org/w/`).
    pub fn new(script_path: &str) -> Result<WikiLinks, url::ParseError> {
        let mut base = url::Url::parse(script_path)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(WikiLinks { base })
    }

    fn index(&self, pairs: &[(&str, &str)]) -> String {
        let mut u = self
            .base
            .join("index.php")
            .unwrap_or_else(|_| self.base.clone());
        u.query_pairs_mut().extend_pairs(pairs);
        u.to_string()
    }

    /// A page.
    pub fn page(&self, title: &str) -> String {
        self.index(&[("title", title)])
    }

    /// The change a revision made (its diff to the revision before).
    pub fn revision_diff(&self, revid: u64) -> String {
        self.index(&[("diff", "prev"), ("oldid", &revid.to_string())])
    }

    /// The diff between two revisions, or the revision itself when it created the page.
    pub fn diff(&self, old: Option<u64>, new: u64) -> String {
        match old {
            Some(old) => self.index(&[("diff", &new.to_string()), ("oldid", &old.to_string())]),
            None => self.index(&[("oldid", &new.to_string())]),
        }
    }

    /// A user's page.
    pub fn user(&self, name: &str) -> String {
        self.page(&format!("User:{name}"))
    }
}

/// A time as people read it in the tables: `2021-01-05 10:00 UTC`.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time as the `as_of` parameter takes it back.
pub fn as_of_param(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads an `as_of` parameter: RFC 3339 (`2021-03-01T12:00:00Z`), or a day
/// (`2021-03-01`: the end of that day, UTC, so the day's changes count).
pub fn parse_as_of(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(23, 59, 59) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "as_of {s:?} is not a date (2021-03-01) or a time (2021-03-01T12:00:00Z)"
    ))
}

/// A stored value as text: a list joined with commas, no value `—`.
pub fn show(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "—".into(),
        Some(Value::String(s)) if s.is_empty() => "(empty)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.is_empty() => "(none)".into(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| show(Some(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::Bool(true)) => "yes".into(),
        Some(Value::Bool(false)) => "no".into(),
        Some(v) => v.to_string(),
    }
}

/// A field's value as people read it: a status by its label (`At risk`),
/// anything else as [`show`] gives it.
pub fn show_field(field: &str, v: Option<&Value>) -> String {
    if field.ends_with("status") || field.starts_with("status.") {
        if let Some(Value::String(s)) = v {
            if let Ok(status) = s.parse::<Status>() {
                return status.label().to_string();
            }
        }
    }
    show(v)
}

/// A field's name as people read it: `quarters.Q2.status` → `Q2 status`.
pub fn field_label(field: &str) -> String {
    if let Some(q) = field.strip_prefix("status.") {
        return format!("{q} objective status");
    }
    match field
        .strip_prefix("quarters.")
        .and_then(|f| f.split_once('.'))
    {
        Some((q, sub)) => format!("{q} {}", sub.replace('_', " ")),
        None => field.replace('_', " "),
    }
}

/// One quarter's cell of the heat map.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell {
    pub quarter: &'static str,
    /// `on-track`, or `none`: the CSS class.
    pub status: &'static str,
    /// `On track`, or empty.
    pub label: &'static str,
    pub note: Option<String>,
}

/// A KR's, metric's or item's row of the heat map.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemRow {
    pub id: String,
    /// `KR2`, `Metric`, `Objective`.
    pub label: String,
    pub text: String,
    pub managers: Vec<String>,
    pub cells: Vec<Cell>,
}

/// An objective and its rows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ObjectiveRows {
    pub id: String,
    pub title: String,
    pub program: Option<String>,
    pub managers: Vec<String>,
    pub rows: Vec<ItemRow>,
}

/// The heat map's filters, as query parameters (empty: not filtered).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Filters {
    #[serde(default)]
    pub program: String,
    #[serde(default)]
    pub manager: String,
    #[serde(default)]
    pub status: String,
}

/// A year's heat map.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct YearView {
    pub fiscal_year: String,
    pub quarters: Vec<&'static str>,
    pub objectives: Vec<ObjectiveRows>,
    /// What the filters can be set to.
    pub programs: Vec<String>,
    pub managers: Vec<String>,
    pub statuses: Vec<(&'static str, &'static str)>,
    /// Rows shown, of rows in the year.
    pub shown: usize,
    pub total: usize,
}

fn cell(q: Quarter, kr: &KeyResult) -> Cell {
    let entry = kr.quarters.get(&q);
    let status = entry.and_then(|e| e.status);
    Cell {
        quarter: q.as_str(),
        status: status.map_or("none", Status::as_str),
        label: status.map_or("", Status::label),
        note: entry.and_then(|e| e.note.clone()).filter(|n| !n.is_empty()),
    }
}

fn item_label(kr: &KeyResult) -> String {
    match kr.kind {
        Kind::KeyResult => format!("KR{}", kr.number),
        Kind::Metric => "Metric".into(),
        Kind::ObjectiveItem => "Objective".into(),
    }
}

fn row(kr: &KeyResult) -> ItemRow {
    ItemRow {
        id: kr.id.clone(),
        label: item_label(kr),
        text: kr.text.clone(),
        managers: kr.managers.clone(),
        cells: Quarter::ALL.iter().map(|q| cell(*q, kr)).collect(),
    }
}

/// Whether a row passes the filters (the program is the objective's).
fn keeps(filters: &Filters, o: &Objective, kr: &KeyResult) -> bool {
    let manager = filters.manager.is_empty()
        || o.managers.contains(&filters.manager)
        || kr.managers.contains(&filters.manager);
    let status = filters.status.is_empty()
        || kr
            .quarters
            .values()
            .any(|e| e.status.is_some_and(|s| s.as_str() == filters.status));
    manager && status
}

/// The heat map of a year: every objective's KRs and metrics by quarter,
/// filtered by program (the objective's), manager (the objective's or the
/// row's) and status (in any quarter). An objective with no row left is
/// not shown.
pub fn year(records: &FiscalYearRecords, filters: &Filters) -> YearView {
    let mut programs = BTreeSet::new();
    let mut managers = BTreeSet::new();
    let mut total = 0;
    let mut objectives = Vec::new();
    for o in &records.objectives {
        programs.extend(o.program.clone());
        managers.extend(o.managers.iter().cloned());
        total += o.key_results.len();
        for kr in &o.key_results {
            managers.extend(kr.managers.iter().cloned());
        }
        if !filters.program.is_empty() && o.program.as_deref() != Some(&filters.program) {
            continue;
        }
        let rows: Vec<ItemRow> = o
            .key_results
            .iter()
            .filter(|kr| keeps(filters, o, kr))
            .map(row)
            .collect();
        let filtered = !filters.manager.is_empty() || !filters.status.is_empty();
        if rows.is_empty() && filtered {
            continue;
        }
        objectives.push(ObjectiveRows {
            id: o.id.clone(),
            title: o.title.clone(),
            program: o.program.clone(),
            managers: o.managers.clone(),
            rows,
        });
    }
    let shown = objectives.iter().map(|o| o.rows.len()).sum();
    YearView {
        fiscal_year: records.fiscal_year.to_string(),
        quarters: Quarter::ALL.iter().map(|q| q.as_str()).collect(),
        objectives,
        programs: programs.into_iter().collect(),
        managers: managers.into_iter().collect(),
        statuses: Status::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        shown,
        total,
    }
}

/// Who made a change: a wiki user's revision, or an operator's command.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Author {
    Wiki {
        user: Option<String>,
        user_url: Option<String>,
        page: String,
        page_url: String,
        revid: u64,
        diff_url: String,
        saved: String,
    },
    Tracker {
        operator: String,
        command: String,
    },
}

fn author(links: &WikiLinks, source: &Source) -> Author {
    match source {
        Source::Wiki {
            page,
            revid,
            user,
            timestamp,
        } => Author::Wiki {
            user_url: user.as_deref().map(|u| links.user(u)),
            user: user.clone(),
            page_url: links.page(page),
            page: page.clone(),
            revid: *revid,
            diff_url: links.revision_diff(*revid),
            saved: when(timestamp),
        },
        Source::Tracker { operator, command } => Author::Tracker {
            operator: operator.clone(),
            command: command.clone(),
        },
    }
}

/// One field's change.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// One entry of a record's timeline: the changes one revision (or one
/// tracker command) made to the record, with who and when.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelineEntry {
    /// The newest history row's `seq` among the changes.
    pub seq: i64,
    pub when: String,
    /// The `as_of` parameter that shows the record as this change left it.
    pub as_of: String,
    pub changes: Vec<Change>,
    /// Whether every field this entry changed had no value before it.
    pub fresh: bool,
    /// The one line that stands for the list of changes when the page
    /// folds it away: an entry that only gave more than
    /// [`FOLD_FRESH_OVER`] fields their first values (the record first
    /// recorded, or a page that first showed its quarter's fields).
    pub folded: Option<String>,
    pub by: Author,
    pub run_id: String,
}

/// An entry that only gives fields their first values shows its list of
/// changes folded when it has more than this many.
pub const FOLD_FRESH_OVER: usize = 3;

/// A record's history, newest first, up to `as_of` when given; the
/// changes of one revision or command (same run, time and source) are one
/// entry.
pub fn timeline(
    links: &WikiLinks,
    history: &[HistoryEntry],
    as_of: Option<DateTime<Utc>>,
) -> Vec<TimelineEntry> {
    let mut out: Vec<(TimelineEntry, &crate::store::Provenance)> = Vec::new();
    for h in history
        .iter()
        .rev()
        .filter(|h| as_of.is_none_or(|t| h.provenance.at <= t))
    {
        let change = Change {
            field: field_label(&h.key.field),
            before: show_field(&h.key.field, h.old.as_ref()),
            after: show_field(&h.key.field, h.new.as_ref()),
        };
        let fresh = h.old.is_none();
        match out.last_mut() {
            Some((entry, p)) if **p == h.provenance => {
                entry.changes.push(change);
                entry.fresh &= fresh;
            }
            _ => out.push((
                TimelineEntry {
                    seq: h.seq,
                    when: when(&h.provenance.at),
                    as_of: as_of_param(&h.provenance.at),
                    changes: vec![change],
                    fresh,
                    folded: None,
                    by: author(links, &h.provenance.source),
                    run_id: h.provenance.run_id.clone(),
                },
                &h.provenance,
            )),
        }
    }
    let mut out: Vec<TimelineEntry> = out.into_iter().map(|(e, _)| e).collect();
    // The record's history is whole, and `as_of` only cuts the newest
    // entries: the last entry is the one that first recorded it.
    let last = out.len().saturating_sub(1);
    for (i, e) in out.iter_mut().enumerate() {
        let n = e.changes.len();
        if !e.fresh || n <= FOLD_FRESH_OVER {
            continue;
        }
        e.folded = Some(if i == last {
            format!("First recorded, with {n} fields")
        } else {
            format!("{n} fields given their first value")
        });
    }
    out
}

/// One quarter of a KR's page.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuarterRow {
    pub quarter: &'static str,
    pub status: &'static str,
    pub label: &'static str,
    pub note: Option<String>,
    pub note_wikitext: Option<String>,
    pub objective: Option<String>,
    pub goals: Vec<String>,
}

/// A record's page: its fields, quarters and children (an objective's KRs).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordView {
    pub id: String,
    pub fiscal_year: String,
    /// `objective`, `key-result`, `metric`, `objective-item`.
    pub kind: String,
    pub title: String,
    pub fields: Vec<(String, String)>,
    pub quarters: Vec<QuarterRow>,
    pub parent: Option<(String, String)>,
    pub children: Vec<ItemRow>,
}

fn quarter_rows(kr: &KeyResult) -> Vec<QuarterRow> {
    Quarter::ALL
        .iter()
        .map(|q| {
            let e = kr.quarters.get(q);
            let status = e.and_then(|e| e.status);
            QuarterRow {
                quarter: q.as_str(),
                status: status.map_or("none", Status::as_str),
                label: status.map_or("", Status::label),
                note: e.and_then(|e| e.note.clone()),
                note_wikitext: e.and_then(|e| e.note_wikitext.clone()),
                objective: e.and_then(|e| e.objective.clone()),
                goals: e.map(|e| e.goals.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "—".into())
}

/// The record `id` of `records`, when it is there (not removed).
pub fn record(records: &FiscalYearRecords, id: &str) -> Option<RecordView> {
    let fy = records.fiscal_year.to_string();
    for o in &records.objectives {
        if o.id == id {
            let status = Quarter::ALL
                .iter()
                .map(|q| {
                    let s = o.status.get(q).copied().flatten();
                    format!("{q}: {}", s.map_or("—", Status::label))
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Some(RecordView {
                id: o.id.clone(),
                fiscal_year: fy,
                kind: "objective".into(),
                title: o.title.clone(),
                fields: vec![
                    ("Program".into(), opt(&o.program)),
                    ("Managers".into(), o.managers.join(", ")),
                    ("Description".into(), opt(&o.description)),
                    ("Status".into(), status),
                    ("Target quarter".into(), opt(&o.target_quarter)),
                    ("Department".into(), opt(&o.department)),
                ],
                quarters: vec![],
                parent: None,
                children: o.key_results.iter().map(row).collect(),
            });
        }
        if let Some(kr) = o.key_results.iter().find(|k| k.id == id) {
            return Some(RecordView {
                id: kr.id.clone(),
                fiscal_year: fy,
                kind: kr.kind.as_str().into(),
                title: format!("{}: {}", item_label(kr), kr.text),
                fields: vec![
                    ("Text".into(), kr.text.clone()),
                    ("Number".into(), kr.number.to_string()),
                    ("Managers".into(), kr.managers.join(", ")),
                    ("Baseline".into(), opt(&kr.baseline)),
                    ("Year goal".into(), opt(&kr.year_goal)),
                    ("Links".into(), kr.links.join(", ")),
                ],
                quarters: quarter_rows(kr),
                parent: Some((o.id.clone(), o.title.clone())),
                children: vec![],
            });
        }
    }
    None
}

/// A conflict waiting for a person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConflictView {
    pub id: i64,
    pub record: String,
    pub field: String,
    pub page: String,
    pub page_url: String,
    pub revid: u64,
    pub diff_url: String,
    pub user: Option<String>,
    pub user_url: Option<String>,
    pub base: String,
    pub wiki: String,
    pub store: String,
    pub since: String,
    /// The section of the page it is in: its objective's title (and the
    /// KR's label), when the store still holds the record.
    pub section: Option<String>,
    /// The requests that settle it, to paste on the command page.
    pub take_wiki: String,
    pub take_store: String,
}

/// Where record `id` stands on its pages: its objective's title (the
/// section's heading), and the KR's label for a KR.
pub fn section_of(records: &FiscalYearRecords, id: &str) -> Option<String> {
    records.objectives.iter().find_map(|o| {
        if o.id == id {
            return Some(o.title.clone());
        }
        o.key_results
            .iter()
            .find(|k| k.id == id)
            .map(|k| format!("{}, {}", o.title, item_label(k)))
    })
}

/// The conflicts, oldest first; `years` are the records of their years
/// (for the section each is in).
pub fn conflicts(
    links: &WikiLinks,
    list: &[StoredConflict],
    years: &[FiscalYearRecords],
) -> Vec<ConflictView> {
    list.iter()
        .map(|c| ConflictView {
            section: years.iter().find_map(|r| section_of(r, &c.key.record)),
            id: c.id,
            record: c.key.record.clone(),
            field: field_label(&c.key.field),
            page_url: links.page(&c.page),
            page: c.page.clone(),
            revid: c.revid,
            diff_url: links.revision_diff(c.revid),
            user_url: c.wiki_user.as_deref().map(|u| links.user(u)),
            user: c.wiki_user.clone(),
            base: show_field(&c.key.field, c.base.as_ref()),
            wiki: show_field(&c.key.field, c.wiki.as_ref()),
            store: show_field(&c.key.field, c.store.as_ref()),
            since: when(&c.created_at),
            take_wiki: format!("{{{{goalsbot|resolve|{}|wiki}}}}", c.id),
            take_store: format!("{{{{goalsbot|resolve|{}|store}}}}", c.id),
        })
        .collect()
}

/// One saved edit of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EditView {
    pub title: String,
    pub page_url: String,
    pub diff_url: String,
    pub created: bool,
}

/// A run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunView {
    pub run_id: String,
    pub command: String,
    /// `changed`, `failed`, …: the CSS class.
    pub outcome: String,
    pub outcome_label: String,
    pub error: Option<String>,
    pub requested_by: Option<String>,
    pub started: String,
    pub finished: String,
    pub dry_run: bool,
    pub counts: Vec<(&'static str, u64)>,
    pub edits: Vec<EditView>,
    pub refused: Vec<(String, String)>,
    pub warnings: Vec<(String, String)>,
    pub conflicts: Vec<(i64, String, String)>,
}

/// A remembered run, with what its summary says (a run still going, or
/// stopped before it began, has no summary).
pub fn run(links: &WikiLinks, entry: &RunEntry) -> RunView {
    let summary: Option<RunSummary> = serde_json::from_value(entry.summary.clone()).ok();
    let mut view = RunView {
        run_id: entry.run_id.clone(),
        command: entry.command.clone(),
        outcome: entry.outcome.as_str().to_string(),
        outcome_label: entry.outcome.as_str().replace('-', " "),
        error: None,
        requested_by: None,
        started: when(&entry.started),
        finished: when(&entry.finished),
        dry_run: false,
        counts: vec![],
        edits: vec![],
        refused: vec![],
        warnings: vec![],
        conflicts: vec![],
    };
    let Some(s) = summary else {
        return view;
    };
    view.outcome_label = s.outcome.label().to_string();
    if let RunOutcome::Failed { error } = &s.outcome {
        view.error = Some(error.clone());
    }
    view.requested_by = s.requested_by;
    view.dry_run = s.dry_run;
    let c = s.counts;
    view.counts = vec![
        ("pages checked", c.pages_checked),
        ("pages changed", c.pages_changed),
        ("records changed", c.records_changed),
        ("edits", c.edits),
        ("conflicts", c.conflicts),
        ("refused", c.refused),
        ("API requests", c.api_requests),
        ("HTML fetches", c.html_fetches),
    ];
    view.edits = s
        .edits
        .iter()
        .map(|e| EditView {
            page_url: links.page(&e.title),
            title: e.title.clone(),
            diff_url: links.diff(e.oldrevid, e.newrevid),
            created: e.oldrevid.is_none(),
        })
        .collect();
    view.refused = s.refused.into_iter().map(|r| (r.title, r.reason)).collect();
    view.warnings = s
        .warnings
        .into_iter()
        .map(|r| (r.title, r.reason))
        .collect();
    view.conflicts = s
        .conflicts
        .into_iter()
        .map(|c| (c.id, c.record, c.field))
        .collect();
    view
}

#[cfg(test)]
mod tests;
