//! Page plans as data: the new wikitext of a quarter page or overview and what changed, from the records shown and the store's (pure).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::LazyLock;

use anyhow::Result;
use regex::Regex;

use crate::core::adopt::{self, identity_tables, patch_adopted, staff_tables_in, IdentityTable};
use crate::core::colour::Palette;
use crate::core::fields::{self, FieldChange, FieldKey, Fields, REMOVED};
use crate::core::parse::StaffTable;
use crate::core::prose::{write_prose, Held};
use crate::core::records::{
    FiscalYear, FiscalYearRecords, KeyResult, Kind, Objective, Quarter, Status,
};
use crate::core::render::{restatus, splice_region, Renderer};
use crate::core::wikitable;
use crate::core::wikitext::{cell_line, insertion_point, objective_section};
/// The data a status table shows for one row: what must match the store.
type RowData = (
    String,
    Option<String>,
    Option<String>,
    Vec<(Quarter, Option<Status>, Option<String>)>,
);

fn row_data(kr: &KeyResult) -> RowData {
    (
        kr.id.clone(),
        kr.baseline.clone(),
        kr.year_goal.clone(),
        kr.quarters
            .iter()
            .filter(|(_, e)| e.status.is_some() || e.note.is_some())
            .map(|(q, e)| (*q, e.status, e.note.clone()))
            .collect(),
    )
}

/// `existing` with the given cells' lines replaced by those of `rendered`;
/// `None` when a cell is not on a line of its own in either. A cell whose
/// only change is its status (`Some(status)`) keeps its note's wikitext
/// ([`restatus`]): the rendered line's attributes, the old line's note.
fn patch_cells(existing: &str, rendered: &str, cells: &[PatchCell]) -> Option<String> {
    let mut out = existing.to_string();
    for (id, q, status_only) in cells {
        let mut new_line = rendered[cell_line(rendered, id, *q)?].to_string();
        let at = cell_line(&out, id, *q)?;
        if let Some(status) = status_only {
            let kept = line_content(&out[at.clone()])
                .and_then(|old| restatus(&out[at.start + old.start..at.start + old.end], *status));
            if let (Some(kept), Some(content)) = (kept, line_content(&new_line)) {
                new_line.replace_range(content, &format!(" {kept}"));
            }
        }
        out.replace_range(at, &new_line);
    }
    Some(out)
}

/// The bot's freshly rendered `table` with the note of each cell in `keep`
/// taken from `existing`: when the rest of the table is rewritten (a year
/// goal, a row put back, a label), a cell whose note reads the same on the
/// page as in the store keeps its wikitext — a link, a template, any markup
/// a person wrote — whole when its status is the same too
/// (`None`), with only the status word replaced when that changed
/// (`Some(status)`, see [`restatus`]).
fn keep_notes(existing: &str, table: &str, keep: &[PatchCell]) -> String {
    let mut out = table.to_string();
    for (id, q, status) in keep {
        let (Some(old_at), Some(new_at)) = (cell_line(existing, id, *q), cell_line(&out, id, *q))
        else {
            continue;
        };
        let (Some(old), Some(new)) = (
            line_content(&existing[old_at.clone()]),
            line_content(&out[new_at.clone()]),
        ) else {
            continue;
        };
        let old = &existing[old_at.start + old.start..old_at.start + old.end];
        let kept = match status {
            None => Some(old.to_string()),
            Some(status) => restatus(old, *status).map(|k| format!(" {k}")),
        };
        if let Some(kept) = kept {
            out.replace_range(new_at.start + new.start..new_at.start + new.end, &kept);
        }
    }
    out
}

/// The cells of rows in both `store` and `shown` whose note (not empty)
/// reads the same in both: `None` when the status is the same too,
/// `Some(status)` when only the status changed.
fn same_notes(store: &[RowData], shown: &[RowData]) -> Vec<PatchCell> {
    let mut out = Vec::new();
    for s in store {
        let Some(p) = row_of(shown, &s.0) else {
            continue;
        };
        for e in &s.3 {
            let Some(shown) = p.3.iter().find(|x| x.0 == e.0) else {
                continue;
            };
            if e.2.as_deref().is_some_and(|n| !n.is_empty()) && shown.2 == e.2 {
                out.push((s.0.clone(), e.0, (shown.1 != e.1).then_some(e.1)));
            }
        }
    }
    out
}

/// The row of `id` among a table's rows.
fn row_of<'a>(rows: &'a [RowData], id: &str) -> Option<&'a RowData> {
    rows.iter().find(|r| r.0 == id)
}

/// `Some(new status)` when quarter `q` of a row changed only its status
/// between what the page shows (`shown`) and the store.
fn status_only(
    store: Option<&RowData>,
    shown: Option<&RowData>,
    q: Quarter,
) -> Option<Option<Status>> {
    let entry = |r: Option<&RowData>| {
        r.and_then(|r| r.3.iter().find(|e| e.0 == q))
            .map(|e| (e.1, e.2.clone()))
            .unwrap_or_default()
    };
    let ((s, sn), (p, pn)) = (entry(store), entry(shown));
    (s != p && sn == pn && sn.is_some()).then_some(s)
}

/// A cell to patch: the KR, the quarter, and `Some(status)` when only its
/// status changed.
type PatchCell = (String, Quarter, Option<Option<Status>>);

/// The content range of a one-cell line `| attrs | content`, as the table
/// reader sees it.
fn line_content(line: &str) -> Option<Range<usize>> {
    let wrapped = format!("{{|\n{line}\n|}}");
    let table = wikitable::tables_in(&wrapped, 0..wrapped.len())
        .into_iter()
        .next()?;
    let cell = table.rows.iter().flat_map(|r| &r.cells).next()?;
    let start = cell.content.start.checked_sub(3)?;
    (table.unsure.is_none() && cell.content.end - 3 <= line.len())
        .then(|| start..cell.content.end - 3)
}

/// What a push would do to one quarter page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePlan {
    /// The page's new wikitext.
    pub text: String,
    /// Objectives whose table was added.
    pub added: Vec<String>,
    /// Objectives whose KR tables (written by staff) the bot adopted.
    pub adopted: Vec<String>,
    /// An objective has a KR table staff wrote and the plan was made
    /// without the page's parsed staff tables: parse the page and plan again
    /// ([`Adoption::staff`]). Until then no table is added beside it.
    pub needs_staff_tables: bool,
    /// KR ids whose shown data changed, and in which quarters.
    pub changed: Vec<(String, BTreeSet<Quarter>)>,
    /// Things a person should know (a table that could not be placed).
    pub warnings: Vec<String>,
    /// Prose fields written into the staff's lines ([`crate::core::prose`]).
    pub prose: Vec<FieldKey>,
    /// Prose fields that could not be written: conflicts for a person.
    pub held: Vec<Held>,
    /// Digests of staff tables the plan wanted to write into and that the
    /// wiki's parse must be compared with first ([`adopt::Gate::Unchecked`]):
    /// check them and plan again. Nothing is written into them until then.
    pub unchecked: Vec<String>,
}

/// Where the store's value of a field came from, for an edit summary: a
/// person's save of a wiki page, or the tracker's operator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeSource {
    /// A revision of a page, saved by `user` (`None`: the name is hidden).
    Wiki {
        user: Option<String>,
        page: String,
        revid: u64,
    },
    /// A tracker edit (`set`, `import`, `resolve`) by an operator.
    Tracker { operator: String },
}

impl ChangeSource {
    /// How a summary names it: `Alice's edit of 2020-21 Q2 (r123)`, `tracker (bob)`.
    pub fn label(&self) -> String {
        match self {
            ChangeSource::Wiki { user, page, revid } => {
                let who = user.as_deref().unwrap_or("a hidden user");
                let page = page.rsplit('/').next().unwrap_or(page);
                format!("{who}'s edit of {page} (r{revid})")
            }
            ChangeSource::Tracker { operator } => format!("tracker ({operator})"),
        }
    }
}

/// The sources of the store's values, by field: what a summary credits.
pub type Sources = BTreeMap<FieldKey, ChangeSource>;

impl PagePlan {
    /// The edit summary (without the run id), saying what changed; each
    /// change is credited to its source where `sources` knows it (else to
    /// the tracker, as before).
    pub fn summary_from(&self, sources: &Sources) -> String {
        let mut parts = Vec::new();
        if !self.prose.is_empty() {
            let mut by: BTreeMap<Option<&ChangeSource>, usize> = BTreeMap::new();
            for key in &self.prose {
                *by.entry(sources.get(key)).or_default() += 1;
            }
            for (source, n) in by {
                parts.push(format!("{n} texts from {}", credit(source)));
            }
        }
        if !self.adopted.is_empty() {
            parts.push(format!(
                "took over the KR tables of {} objectives",
                self.adopted.len()
            ));
        }
        if !self.added.is_empty() {
            parts.push(format!(
                "added status tables for {} objectives",
                self.added.len()
            ));
        }
        // Per source: the KRs and quarters it changed.
        let mut by: BTreeMap<Option<&ChangeSource>, (BTreeSet<&str>, BTreeSet<Quarter>)> =
            BTreeMap::new();
        for (kr, quarters) in &self.changed {
            if quarters.is_empty() {
                by.entry(None).or_default().0.insert(kr);
            }
            for q in quarters {
                let source = [
                    format!("quarters.{}.status", q.as_str()),
                    format!("quarters.{}.note", q.as_str()),
                ]
                .iter()
                .find_map(|f| sources.get(&FieldKey::new(kr.as_str(), f.as_str())));
                let e = by.entry(source).or_default();
                e.0.insert(kr);
                e.1.insert(*q);
            }
        }
        for (source, (krs, quarters)) in by {
            let qs = quarters
                .iter()
                .map(|q| q.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let what = if qs.is_empty() {
                String::new()
            } else {
                format!(" ({qs})")
            };
            parts.push(format!(
                "status of {} KRs{what} from {}",
                krs.len(),
                credit(source)
            ));
        }
        format!("goalsbot: {}", parts.join("; "))
    }

    /// [`PagePlan::summary_from`] with no sources known: every change is the tracker's.
    pub fn summary(&self) -> String {
        self.summary_from(&Sources::new())
    }
}

/// Who a summary credits: a source's label, or the tracker when unknown.
fn credit(source: Option<&ChangeSource>) -> String {
    source.map_or_else(|| "tracker".to_string(), ChangeSource::label)
}

/// What a plan knows about the KR tables staff wrote on the page.
#[derive(Debug, Clone, Copy, Default)]
pub struct Adoption<'a> {
    /// The page's staff tables not yet adopted, as its parse found them
    /// ([`crate::core::parse::ParsedPage::staff_tables`]); `None`: not parsed
    /// for this plan.
    pub staff: Option<&'a BTreeMap<String, Vec<StaffTable>>>,
    /// How colours read as statuses (and which colour a status is painted).
    pub palette: Option<&'a Palette>,
    /// The page's quarter: with it, the store's prose fields are written
    /// into the staff's lines too ([`crate::core::prose`]).
    pub quarter: Option<Quarter>,
    /// Prose fields a person decided to take from the store where writing
    /// them drops markup (written whole).
    pub forced: Option<&'a BTreeSet<FieldKey>>,
    /// The prose fields the store changed since the page was read (a
    /// tracker edit, a person taking the store's side); `None`: all.
    pub eligible: Option<&'a BTreeSet<FieldKey>>,
    /// The wiki's verdicts on staff tables ([`crate::core::table_check`]):
    /// with them, a staff table is written only when the wiki agreed with
    /// the reader on its text. `None`: no check asked for (pure tests).
    pub verdicts: Option<&'a crate::core::table_check::Verdicts>,
}

/// Plans a quarter page: `shown` are the records parsed from its current
/// revision, `store` the store's records of the year.
pub fn plan_quarter_page(
    wikitext: &str,
    shown: &FiscalYearRecords,
    store: &FiscalYearRecords,
    renderer: &Renderer,
) -> Result<PagePlan> {
    plan_quarter_page_with(wikitext, shown, store, renderer, Adoption::default())
}

/// [`plan_quarter_page`] that adopts and updates the KR tables staff wrote.
pub fn plan_quarter_page_with(
    wikitext: &str,
    shown: &FiscalYearRecords,
    store: &FiscalYearRecords,
    renderer: &Renderer,
    adoption: Adoption<'_>,
) -> Result<PagePlan> {
    let default_palette = Palette::default();
    let palette = adoption.palette.unwrap_or(&default_palette);
    let mut text = wikitext.to_string();
    let mut plan = PagePlan {
        text: String::new(),
        added: vec![],
        adopted: vec![],
        needs_staff_tables: false,
        changed: vec![],
        warnings: vec![],
        prose: vec![],
        held: vec![],
        unchecked: vec![],
    };
    if let Some(q) = adoption.quarter {
        let none = BTreeSet::new();
        let p = write_prose(
            &text,
            shown,
            store,
            q,
            adoption.eligible,
            adoption.forced.unwrap_or(&none),
        );
        text = p.text;
        plan.prose = p.written;
        plan.held = p.held;
    }
    for page_obj in &shown.objectives {
        let Some(obj) = store.objectives.iter().find(|o| o.id == page_obj.id) else {
            continue;
        };
        let Some(mut ident) =
            take_over_staff_tables(&mut text, page_obj, obj, &adoption, &mut plan)
        else {
            continue;
        };
        // With adopted tables, the bot's own table (if any) shows only the
        // records that have no row in them.
        let (mut own_obj, mut own_page_obj) = (Cow::Borrowed(obj), Cow::Borrowed(page_obj));
        if ident.iter().any(|t| !t.bots_own) {
            let Some((o, p)) =
                patch_adopted_tables(&mut text, page_obj, obj, palette, &adoption, &mut plan)
            else {
                continue;
            };
            ident = identity_tables(&text, &obj.id);
            (own_obj, own_page_obj) = (Cow::Owned(o), Cow::Owned(p));
        }
        let (obj, page_obj) = (own_obj.as_ref(), own_page_obj.as_ref());
        let table = renderer.status_table(obj)?;
        match ident
            .iter()
            .find(|t| t.bots_own)
            .map(|t| t.table.range.clone())
        {
            Some(range) => update_own_table(&mut text, range, page_obj, obj, &table, &mut plan),
            None => match insertion_point(&text, page_obj) {
                Some(at) => {
                    text.insert_str(at, &format!("\n{}", table.trim_end_matches('\n')));
                    plan.added.push(obj.id.clone());
                }
                None => plan.warnings.push(format!(
                    "no place found for the status table of {:?}: its heading was not found",
                    obj.title
                )),
            },
        }
    }
    plan.text = text;
    Ok(plan)
}

/// Takes over the KR tables staff wrote in an objective's section when the
/// objective has no table of the bot's (also one added beside a table
/// adopted before), never doubling them with one; the objective's tables
/// after it, or `None` when the objective is left as it is (a table the bot
/// cannot read or write, or the staff tables' readings are still needed).
fn take_over_staff_tables(
    text: &mut String,
    page_obj: &Objective,
    obj: &Objective,
    adoption: &Adoption<'_>,
    plan: &mut PagePlan,
) -> Option<Vec<IdentityTable>> {
    let mut ident = identity_tables(text, &obj.id);
    if !ident.iter().any(|t| t.bots_own) {
        // No table of the bot's: a KR table staff wrote in the section
        // (also one added beside a table adopted before) is taken over,
        // never doubled by a table of the bot's.
        let section = objective_section(text, page_obj);
        let staff_here = section
            .clone()
            .is_some_and(|r| !staff_tables_in(text, r).is_empty());
        if staff_here {
            let Some(staff) = adoption.staff else {
                plan.needs_staff_tables = true;
                return None;
            };
            let infos = staff.get(&obj.id).map(Vec::as_slice).unwrap_or(&[]);
            if !infos.is_empty() && infos.iter().all(|i| i.unreadable.is_some()) {
                plan.warnings.push(format!(
                    "{:?} has a KR table the bot cannot read whole ({}); it is left as it is \
                     and no status table is added beside it",
                    obj.title,
                    infos
                        .iter()
                        .filter_map(|i| i.unreadable.as_deref())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
                return None;
            }
            let range = section?;
            if !staff_gates_open(text, range.clone(), obj, adoption.verdicts, plan) {
                return None;
            }
            match adopt::adopt(text, range, &obj.id, infos) {
                Ok(new) => {
                    *text = new;
                    plan.adopted.push(obj.id.clone());
                    ident = identity_tables(text, &obj.id);
                }
                Err(why) => {
                    plan.warnings.push(why);
                    return None;
                }
            }
        }
    }
    Some(ident)
}

/// Shows the store's values in an objective's adopted tables; the records
/// left for the bot's own table (those without a row in an adopted table),
/// as the store and the page have them, or `None` when it gets no table.
fn patch_adopted_tables(
    text: &mut String,
    page_obj: &Objective,
    obj: &Objective,
    palette: &Palette,
    adoption: &Adoption<'_>,
    plan: &mut PagePlan,
) -> Option<(Objective, Objective)> {
    let ident = identity_tables(text, &obj.id);
    let patched = patch_adopted(text, page_obj, obj, palette, adoption.verdicts);
    plan.unchecked.extend(patched.unchecked);
    *text = patched.text;
    plan.changed.extend(patched.changed);
    plan.warnings.extend(patched.warnings);
    let has_own = ident.iter().any(|t| t.bots_own);
    if !has_own && (patched.homeless.is_empty() || patched.shut) {
        // (A staff table the bot may not write into gets no table of
        // the bot's beside it: a person's edit made it so, and the
        // warning names it.)
        return None;
    }
    let adopted_rows = adopt::rows_in_adopted(text, &obj.id);
    let mut o = obj.clone();
    o.key_results.retain(|k| !adopted_rows.contains(&k.id));
    let mut p = page_obj.clone();
    p.key_results.retain(|k| !adopted_rows.contains(&k.id));
    Some((o, p))
}

/// Updates the bot's own status table of an objective at `range` to show
/// `table` (the store's rows): just the changed status cells when nothing
/// else changed, so a table staff reformatted keeps its shape; else the
/// whole table, keeping notes' wikitext where the note did not change.
fn update_own_table(
    text: &mut String,
    range: Range<usize>,
    page_obj: &Objective,
    obj: &Objective,
    table: &str,
    plan: &mut PagePlan,
) {
    let shown_rows: Vec<RowData> = page_obj.key_results.iter().map(row_data).collect();
    let store_rows: Vec<RowData> = obj.key_results.iter().map(row_data).collect();
    // A row staff deleted is put back even when it shows nothing.
    let rows_there = obj
        .key_results
        .iter()
        .all(|k| text[range.clone()].contains(&format!("data-goalsbot-kr=\"{}\"", k.id)));
    let same_rows = rows_there
        && page_obj
            .key_results
            .iter()
            .map(|k| &k.id)
            .eq(obj.key_results.iter().map(|k| &k.id));
    let relabel = stale_labels(&text[range.clone()], obj);
    if same_rows && shown_rows == store_rows && !relabel {
        return;
    }
    // This table's changed rows; `plan.changed` holds every table's.
    let mut changed: Vec<(String, BTreeSet<Quarter>)> = Vec::new();
    for (s, p) in store_rows.iter().zip(
        shown_rows
            .iter()
            .chain(std::iter::repeat(&Default::default())),
    ) {
        if s != p {
            let quarters: BTreeSet<Quarter> = Quarter::ALL
                .into_iter()
                .filter(|q| s.3.iter().find(|e| e.0 == *q) != p.3.iter().find(|e| e.0 == *q))
                .collect();
            changed.push((s.0.clone(), quarters));
        }
    }
    // Only status cells changed: patch just those lines, so a
    // table staff reformatted (e.g. VisualEditor's one cell per
    // line) keeps its shape. Anything else: the whole table.
    let only_cells = same_rows
        && !relabel
        && store_rows
            .iter()
            .zip(&shown_rows)
            .all(|(s, p)| s.0 == p.0 && s.1 == p.1 && s.2 == p.2);
    // Each table is patched with its own changed cells only.
    let cells: Vec<PatchCell> = changed
        .iter()
        .flat_map(|(id, qs)| {
            let (s, p) = (row_of(&store_rows, id), row_of(&shown_rows, id));
            qs.iter()
                .map(move |q| (id.clone(), *q, status_only(s, p, *q)))
        })
        .collect();
    plan.changed.extend(changed);
    let patched = if only_cells {
        patch_cells(&text[range.clone()], table, &cells)
    } else {
        None
    };
    let new_table = patched.unwrap_or_else(|| {
        let keep = same_notes(&store_rows, &shown_rows);
        keep_notes(&text[range.clone()], table.trim_end_matches('\n'), &keep)
    });
    text.replace_range(range, &new_table);
}

/// Whether a row of the bot's `table` is labelled with another number than
/// its key result (or item) has on the page: staff renumbered it, and the
/// table follows the page's numbering.
fn stale_labels(table: &str, obj: &Objective) -> bool {
    static NUMBER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\|\s*(?:KR|Objective)\s*(\d+)").expect("static regex"));
    obj.key_results
        .iter()
        .filter(|k| matches!(k.kind, Kind::KeyResult | Kind::ObjectiveItem))
        .any(|k| {
            let open = format!("data-goalsbot-kr=\"{}\"", k.id);
            let label = table
                .find(&open)
                .and_then(|at| table[at..].lines().nth(1))
                .and_then(|line| NUMBER.captures(line.trim_start()));
            label.is_some_and(|c| c[1].parse::<u32>().ok() != Some(k.number))
        })
}

/// Whether the bot may adopt the staff tables of an objective's `section`:
/// all their gates open. A table the bot may not write into is named in a
/// warning (and no table of the bot's is added beside it); one to be checked
/// first goes to [`PagePlan::unchecked`].
fn staff_gates_open(
    text: &str,
    section: std::ops::Range<usize>,
    obj: &crate::core::records::Objective,
    verdicts: Option<&crate::core::table_check::Verdicts>,
    plan: &mut PagePlan,
) -> bool {
    let mut open = true;
    for table in staff_tables_in(text, section) {
        match adopt::gate(text, &table, verdicts) {
            adopt::Gate::Open => {}
            adopt::Gate::Shut(why) => {
                plan.warnings.push(format!(
                    "{} is not adopted or written by the bot: {why}; its values stay in the store",
                    adopt::table_name(text, &table, &obj.title)
                ));
                open = false;
            }
            adopt::Gate::Unchecked(digest) => {
                plan.unchecked.push(digest);
                open = false;
            }
        }
    }
    open
}

/// Plans the year overview: only the bot's region changes (appended when absent).
pub fn plan_overview(
    existing: Option<&str>,
    fy: &FiscalYear,
    store: &FiscalYearRecords,
    quarter_page: impl Fn(Quarter) -> String,
    renderer: &Renderer,
) -> Result<String> {
    let content = renderer.overview(fy, store, quarter_page)?;
    let page = existing.unwrap_or("");
    Ok(splice_region(page, "overview", &content)?)
}

/// The records a quarter page should show: the store's, except that a field
/// in conflict keeps what the page shows now (push leaves it alone on both
/// sides until a person decides), and that each record the page shows keeps
/// the page's own number and place ([`crate::core::merge::layout_field`]: a
/// KR renumbered on another page keeps its label here).
pub fn records_for_page(
    fy: &FiscalYear,
    store: &Fields,
    pending: &BTreeSet<FieldKey>,
    shown: &FiscalYearRecords,
) -> Result<FiscalYearRecords> {
    let shown_fields = crate::core::fields::flatten(shown);
    let shown_records: BTreeSet<&str> = shown_fields.keys().map(|k| k.record.as_str()).collect();
    let mut fields = store.clone();
    for (key, v) in &shown_fields {
        if crate::core::merge::layout_field(&key.field) && fields.contains_key(key) {
            fields.insert(key.clone(), v.clone());
        }
    }
    for key in pending {
        if key.field == REMOVED {
            if shown_records.contains(key.record.as_str()) {
                fields.remove(key);
            } else if fields.keys().any(|k| k.record == key.record) {
                fields.insert(key.clone(), serde_json::Value::Bool(true));
            }
            continue;
        }
        match shown_fields.get(key) {
            Some(v) => {
                fields.insert(key.clone(), v.clone());
            }
            // A record the page does not show (staff deleted its KR here)
            // has nothing to keep: the store's value stands, so the
            // records stay whole (a KR's text is required).
            None if !shown_records.contains(key.record.as_str()) => {}
            None => {
                fields.remove(key);
            }
        }
    }
    Ok(crate::core::fields::unflatten(fy, &fields)?)
}

/// A unified diff of a page's text, for `--dry-run`.
pub fn unified_diff(title: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(
            &format!("{title} (current)"),
            &format!("{title} (goalsbot)"),
        )
        .to_string()
}

/// What a page's merge would write to the store, kept as data by a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryMerge {
    /// The store changes.
    pub changes: Vec<FieldChange>,
    /// The records of the revision (the page's new base).
    pub records: FiscalYearRecords,
    /// Fields that would be held in conflict.
    pub conflicts: Vec<FieldKey>,
}

/// A year as a push plans its pages against it: the store's fields, the
/// fields held in conflict, and the revision and records each quarter page
/// was last synced at. Loaded from the store, or — in a dry-run sync — the
/// store as the pull's plans would leave it ([`YearView::fold`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct YearView {
    pub fields: Fields,
    pub pending: BTreeSet<FieldKey>,
    pub pages: BTreeMap<String, (u64, FiscalYearRecords)>,
}

impl YearView {
    /// The year as the merge of page `title` at `revid` leaves it: its
    /// changes applied, its conflicts held, the page synced showing its records.
    pub fn fold(&mut self, title: &str, revid: u64, merge: &DryMerge) {
        fields::apply(&mut self.fields, &merge.changes);
        self.pending.extend(merge.conflicts.iter().cloned());
        self.pages
            .insert(title.to_string(), (revid, merge.records.clone()));
    }
}

/// Lines that differ between two texts (added plus removed).
pub fn lines_changed(old: &str, new: &str) -> usize {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::parse::parse_quarter_page;
    use crate::core::records::Objective;
    use crate::core::wikitext::{bots_allowed, find_table};

    const PAGE: &str = "Intro.\n\n== MTP: X - Alpha ==\nObjective Manager: A\n=== Objective ===\nDo.\n=== Key Results ===\nKR1 one\nQ2 Goals:\n*\n\n\n== Beta ==\nKR1 two\n\n";

    #[test]
    fn tables_are_found_by_identity_with_nesting() {
        let t = "a\n{| class=\"x\" data-goalsbot-objective=\"2020-21/alpha\"\n|-\n|\n{|\n|-\n|in\n|}\n|}\nafter\n";
        let r = find_table(t, "2020-21/alpha").unwrap();
        assert!(t[r.clone()].starts_with("{|") && t[r.clone()].ends_with("|}"));
        assert_eq!(&t[r.end..], "\nafter\n");
        assert!(find_table(t, "2020-21/alph").is_none());
        let single = "{| data-goalsbot-objective='2020-21/alpha'\n|}";
        assert_eq!(find_table(single, "2020-21/alpha"), Some(0..single.len()));
    }

    #[test]
    fn insertion_goes_after_the_key_results_content() {
        let o = Objective {
            id: "2020-21/alpha".into(),
            program: Some("MTP: X".into()),
            title: "Alpha".into(),
            managers: vec![],
            description: None,
            status: Default::default(),
            target_quarter: None,
            department: None,
            key_results: vec![],
        };
        let at = insertion_point(PAGE, &o).unwrap();
        assert!(PAGE[..at].ends_with("Q2 Goals:\n*"), "{:?}", &PAGE[..at]);
        let mut beta = o.clone();
        beta.title = "Beta".into();
        let at = insertion_point(PAGE, &beta).unwrap();
        assert!(PAGE[..at].ends_with("KR1 two"));
        beta.title = "Gamma".into();
        assert_eq!(insertion_point(PAGE, &beta), None);
    }

    /// The FY2020-21 Q3 page: its wikitext, the records it shows, the built-in renderer.
    fn q3_fixture() -> (&'static str, FiscalYearRecords, Renderer) {
        let q3_text = include_str!(
            "../../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q3.wikitext"
        );
        let q3_html = include_str!(
            "../../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q3.html"
        );
        let fy = FiscalYear::starting(2020);
        let shown = FiscalYearRecords {
            fiscal_year: fy.clone(),
            objectives: parse_quarter_page(q3_html, &fy, Quarter::Q3).objectives,
        };
        (q3_text, shown, Renderer::with_dir(None).unwrap())
    }

    #[test]
    fn a_status_change_patches_only_its_cell_in_a_visualeditor_shaped_table() {
        // regression: one changed status rewrote all 52 lines of a table VisualEditor had reformatted.
        let (q3_text, shown, renderer) = q3_fixture();
        // The store says exactly what the page shows, except one cell.
        let mut store = shown.clone();
        let kr = store
            .objectives
            .iter_mut()
            .flat_map(|o| o.key_results.iter_mut())
            .find(|k| k.id == "2020-21/front-line-defenses/kr2")
            .unwrap();
        let e = kr.quarters.get_mut(&Quarter::Q3).unwrap();
        e.status = Some(Status::AtRisk);
        e.note = Some("two hires fell through".into());
        let plan = plan_quarter_page(q3_text, &shown, &store, &renderer).unwrap();
        // Objectives without a table get one; for this test only the FLD table matters.
        let only_fld =
            |t: &str| t[find_table(t, "2020-21/front-line-defenses").unwrap()].to_string();
        let (old, new) = (only_fld(q3_text), only_fld(&plan.text));
        assert_eq!(
            lines_changed(&old, &new),
            2,
            "{}",
            unified_diff("t", &old, &new)
        );
        assert!(new.contains("At risk: two hires fell through"));
        assert_eq!(plan.changed.len(), 1);
        assert!(
            plan.summary().contains("status of 1 KRs (Q3) from tracker"),
            "{}",
            plan.summary()
        );
    }

    #[test]
    fn a_status_only_change_keeps_the_markup_of_the_cells_note() {
        // Issue 27 case 3: a person linked the words of a note in the bot's
        // table; a tracker change of the status alone keeps the link and the
        // template byte for byte.
        let (q3_text, shown, renderer) = q3_fixture();
        let plain = "|On track: 1 EU data center City and site identified; contract negotiations in progress";
        let marked = "|On track: 1 EU data center [https://phabricator.wikimedia.org/T301234 City and site identified]; contract negotiations in progress";
        assert!(q3_text.contains(plain));
        let text = q3_text.replace(plain, marked);
        let mut store = shown.clone();
        let kr = store
            .objectives
            .iter_mut()
            .flat_map(|o| o.key_results.iter_mut())
            .find(|k| k.id == "2020-21/front-line-defenses/kr1")
            .unwrap();
        let e = kr.quarters.get_mut(&Quarter::Q3).unwrap();
        assert_eq!(
            e.note.as_deref(),
            Some("1 EU data center City and site identified; contract negotiations in progress")
        );
        e.status = Some(Status::AtRisk);
        let plan = plan_quarter_page(&text, &shown, &store, &renderer).unwrap();
        let changed: Vec<_> = text
            .lines()
            .zip(plan.text.lines())
            .filter(|(a, b)| a != b)
            .collect();
        let fld = |t: &str| t[find_table(t, "2020-21/front-line-defenses").unwrap()].to_string();
        assert_eq!(lines_changed(&fld(&text), &fld(&plan.text)), 2);
        assert!(
            changed.iter().any(|(_, b)| b.ends_with(
                "| At risk: 1 EU data center [https://phabricator.wikimedia.org/T301234 City and site identified]; contract negotiations in progress"
            )),
            "{changed:#?}"
        );
        // A changed note is written whole, as the store has it.
        e_note(&mut store, "2020-21/front-line-defenses/kr1", "site chosen");
        let plan = plan_quarter_page(&text, &shown, &store, &renderer).unwrap();
        assert!(
            plan.text.contains("| At risk: site chosen\n"),
            "{}",
            plan.text
        );
    }

    #[test]
    fn a_table_rewritten_whole_keeps_the_markup_of_notes_that_read_the_same() {
        // A year goal changes with the status of a marked-up note in the same
        // row: the table is rewritten whole, and the note keeps its link,
        // with only the status word replaced.
        let (q3_text, shown, renderer) = q3_fixture();
        let plain = "|On track: 1 EU data center City and site identified; contract negotiations in progress";
        let marked = "|On track: 1 EU data center [https://phabricator.wikimedia.org/T301234 City and site identified]; contract negotiations in progress";
        let text = q3_text.replace(plain, marked);
        let mut store = shown.clone();
        let kr = kr_mut(&mut store, "2020-21/front-line-defenses/kr1");
        kr.year_goal = Some("3 data centers".into());
        kr.quarters.get_mut(&Quarter::Q3).unwrap().status = Some(Status::AtRisk);
        let plan = plan_quarter_page(&text, &shown, &store, &renderer).unwrap();
        assert!(plan.text.contains("3 data centers"), "{}", plan.text);
        assert!(
            plan.text.contains(
                "| At risk: 1 EU data center [https://phabricator.wikimedia.org/T301234 City and site identified]; contract negotiations in progress"
            ),
            "{}",
            plan.text
        );
        // With the status unchanged, the cell is kept whole.
        kr_status(
            &mut store,
            "2020-21/front-line-defenses/kr1",
            Status::OnTrack,
        );
        let plan = plan_quarter_page(&text, &shown, &store, &renderer).unwrap();
        assert!(
            plan.text.contains(marked.trim_start_matches('|')),
            "{}",
            plan.text
        );
    }

    /// The key result `id` of `store`, to change.
    fn kr_mut<'a>(store: &'a mut FiscalYearRecords, id: &str) -> &'a mut KeyResult {
        store
            .objectives
            .iter_mut()
            .flat_map(|o| o.key_results.iter_mut())
            .find(|k| k.id == id)
            .unwrap()
    }

    fn kr_status(store: &mut FiscalYearRecords, id: &str, status: Status) {
        kr_mut(store, id)
            .quarters
            .get_mut(&Quarter::Q3)
            .unwrap()
            .status = Some(status);
    }

    fn e_note(store: &mut FiscalYearRecords, id: &str, note: &str) {
        kr_mut(store, id)
            .quarters
            .get_mut(&Quarter::Q3)
            .unwrap()
            .note = Some(note.into());
    }

    #[test]
    fn two_changed_tables_are_each_patched_with_their_own_cells() {
        // Hole 7f: with a changed cell in two tables, the second table was
        // rewritten whole (it was asked to patch the first table's cells too).
        let (q3_text, shown, renderer) = q3_fixture();
        let mut store = shown.clone();
        for (kr, note) in [
            ("2020-21/content-integrity/kr1", "CI done"),
            ("2020-21/front-line-defenses/kr2", "FLD done"),
        ] {
            let kr = store
                .objectives
                .iter_mut()
                .flat_map(|o| o.key_results.iter_mut())
                .find(|k| k.id == kr)
                .unwrap();
            let e = kr.quarters.entry(Quarter::Q4).or_default();
            e.status = Some(Status::Complete);
            e.note = Some(note.into());
        }
        let plan = plan_quarter_page(q3_text, &shown, &store, &renderer).unwrap();
        for objective in ["2020-21/content-integrity", "2020-21/front-line-defenses"] {
            let table = |t: &str| t[find_table(t, objective).unwrap()].to_string();
            let (old, new) = (table(q3_text), table(&plan.text));
            assert_eq!(
                lines_changed(&old, &new),
                2,
                "{objective}:\n{}",
                unified_diff(objective, &old, &new)
            );
        }
        assert_eq!(plan.changed.len(), 2);
    }

    #[test]
    fn an_unknown_bot_name_never_slips_past_a_bots_template() {
        // Hole 7e: with no name (an OAuth 2 token without GOALSBOT_USERNAME)
        // `{{bots|deny=GoalsBot}}` was ignored. Whatever name the bot has, a
        // page that names bots to keep out or let in is not edited under an
        // unknown name.
        assert!(!bots_allowed("{{bots|deny=GoalsBot}}", ""));
        assert!(!bots_allowed("{{bots|allow=GoalsBot}}", ""));
        assert!(!bots_allowed("{{bots|deny=GoalsBot}}", "  "));
        assert!(bots_allowed("no template here", ""));
        // Names as MediaWiki writes them: underscores are spaces, the first letter is case-blind.
        assert!(!bots_allowed("{{bots|deny=Goals_Bot}}", "Goals Bot"));
        assert!(bots_allowed("{{bots|allow=goals Bot}}", "Goals Bot"));
    }

    #[test]
    fn a_summary_credits_each_change_to_its_source() {
        let plan = PagePlan {
            text: String::new(),
            added: vec![],
            adopted: vec![],
            needs_staff_tables: false,
            changed: vec![
                ("y/o/kr1".into(), BTreeSet::from([Quarter::Q1])),
                ("y/o/kr2".into(), BTreeSet::from([Quarter::Q1])),
                ("y/o/kr3".into(), BTreeSet::from([Quarter::Q3])),
            ],
            warnings: vec![],
            prose: vec![FieldKey::new("y/o/kr1", "text")],
            held: vec![],
            unchecked: vec![],
        };
        let alice = ChangeSource::Wiki {
            user: Some("Alice".into()),
            page: "Goals/2020-21 Q2".into(),
            revid: 42,
        };
        let sources = Sources::from([
            (
                FieldKey::new("y/o/kr1", "quarters.Q1.status"),
                alice.clone(),
            ),
            (FieldKey::new("y/o/kr2", "quarters.Q1.note"), alice),
            (
                FieldKey::new("y/o/kr3", "quarters.Q3.status"),
                ChangeSource::Tracker {
                    operator: "bob".into(),
                },
            ),
        ]);
        assert_eq!(
            plan.summary_from(&sources),
            "goalsbot: 1 texts from tracker; status of 2 KRs (Q1) from Alice's edit of \
             2020-21 Q2 (r42); status of 1 KRs (Q3) from tracker (bob)"
        );
    }

    #[test]
    fn nobots_conventions() {
        assert!(bots_allowed("text", "GoalsBot@goalsbot"));
        assert!(!bots_allowed("{{nobots}}", "GoalsBot"));
        assert!(!bots_allowed("{{bots|deny=all}}", "GoalsBot"));
        assert!(!bots_allowed(
            "{{bots|deny=OtherBot, GoalsBot}}",
            "GoalsBot@x"
        ));
        assert!(bots_allowed("{{bots|deny=OtherBot}}", "GoalsBot"));
        assert!(!bots_allowed("{{bots|allow=none}}", "GoalsBot"));
        assert!(bots_allowed("{{bots|allow=GoalsBot}}", "GoalsBot"));
        assert!(!bots_allowed("{{bots|allow=OtherBot}}", "GoalsBot"));
    }
}
