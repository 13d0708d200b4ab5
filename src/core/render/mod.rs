//! Renders records into the wikitext the bot writes: status tables, the year overview, new quarter pages (and the templates of replies and the status page, whose views live in `requests` and `runlog`).
//!
//! Pure: records in, wikitext out, no network. Logic lives here (what each
//! row says, which colour, what needs escaping, which manager line to
//! repeat); layout lives in minijinja templates (`wikitext_templates/*.wiki.j2`),
//! which receive precomputed views whose strings are already wikitext. The
//! built-in templates are compiled into the binary; [`Renderer::with_dir`]
//! lets an operator replace any of them with a file of the same name.

pub mod escape;
pub mod splice;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

pub use self::splice::{splice_region, SpliceError};
use crate::core::records::{
    FiscalYear, FiscalYearRecords, KeyResult, Kind, Objective, Quarter, QuarterEntry, Status,
};
use crate::core::wikitable;

/// The status table of one objective (`STATUS_TABLE.md`).
pub const STATUS_TABLE: &str = "status_table.wiki.j2";
/// The bot's region of the year overview page.
pub const OVERVIEW: &str = "overview.wiki.j2";
/// A whole new quarter page.
pub const NEW_QUARTER: &str = "new_quarter.wiki.j2";
/// A reply under an on-wiki request (`crate::core::requests`).
pub const REPLY: &str = "reply.wiki.j2";
/// The bot status page (`crate::core::runlog`).
pub const STATUS_PAGE: &str = "status_page.wiki.j2";
/// The signed notice of new conflicts on the command page.
pub const CONFLICT_NOTICE: &str = "conflict_notice.wiki.j2";

/// The region name of the overview on `{prefix}/{FY}` (see [`splice_region`]).
pub const OVERVIEW_REGION: &str = "overview";

/// Every template the renderer uses, with its built-in source.
pub const TEMPLATES: [(&str, &str); 6] = [
    (
        STATUS_TABLE,
        include_str!("../../../wikitext_templates/status_table.wiki.j2"),
    ),
    (
        OVERVIEW,
        include_str!("../../../wikitext_templates/overview.wiki.j2"),
    ),
    (
        NEW_QUARTER,
        include_str!("../../../wikitext_templates/new_quarter.wiki.j2"),
    ),
    (
        REPLY,
        include_str!("../../../wikitext_templates/reply.wiki.j2"),
    ),
    (
        STATUS_PAGE,
        include_str!("../../../wikitext_templates/status_page.wiki.j2"),
    ),
    (
        CONFLICT_NOTICE,
        include_str!("../../../wikitext_templates/conflict_notice.wiki.j2"),
    ),
];

/// A template that could not be read, compiled or rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read the template {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: not a template goalsbot knows; name it one of {} or move it out of the template directory",
        path.display(),
        TEMPLATES.map(|(n, _)| n).join(", ")
    )]
    Unknown { path: PathBuf },
    #[error("{file}:{line}: {message}")]
    Template {
        /// The file the template came from (or `(built-in) NAME`).
        file: String,
        /// 1-based; 0 when the engine could not tell.
        line: usize,
        message: String,
    },
}

/// The template engine with its templates loaded.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    /// Where each template came from, for error messages.
    origins: BTreeMap<&'static str, String>,
}

static DEFAULT: LazyLock<Renderer> = LazyLock::new(|| {
    Renderer::with_sources(Vec::new()).expect("the built-in templates compile (tested)")
});

impl Renderer {
    /// The renderer with the built-in templates, overridden by `overrides`:
    /// `(path, text)` of template files whose file name is a template's name
    /// (e.g. `status_table.wiki.j2`; read from the configured directory by
    /// `Renderer::with_dir`). A file that is no known template is an error,
    /// so a misspelt override is not silently ignored.
    pub fn with_sources(overrides: Vec<(PathBuf, String)>) -> Result<Renderer, RenderError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Values arrive already escaped for wikitext (see `escape`).
        env.set_auto_escape_callback(|_| AutoEscape::None);

        let mut sources: BTreeMap<&'static str, (String, String)> = TEMPLATES
            .iter()
            .map(|(name, src)| (*name, (format!("(built-in) {name}"), src.to_string())))
            .collect();
        for (path, src) in overrides {
            let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
            let Some((name, _)) = TEMPLATES.iter().find(|(n, _)| *n == file) else {
                return Err(RenderError::Unknown { path });
            };
            sources.insert(name, (path.display().to_string(), src));
        }
        let mut origins = BTreeMap::new();
        for (name, (origin, src)) in sources {
            env.add_template_owned(name, src)
                .map_err(|e| template_error(&e, &origin))?;
            origins.insert(name, origin);
        }
        Ok(Renderer { env, origins })
    }

    /// The renderer with the built-in templates only.
    pub fn builtin() -> &'static Renderer {
        &DEFAULT
    }

    /// Renders template `name` with `view` (for the views of other modules).
    pub(crate) fn render<S: Serialize>(
        &self,
        name: &'static str,
        view: &S,
    ) -> Result<String, RenderError> {
        let origin_of = |e: &minijinja::Error| {
            let n = e.name().unwrap_or(name);
            self.origins
                .get(n)
                .cloned()
                .unwrap_or_else(|| n.to_string())
        };
        let template = self
            .env
            .get_template(name)
            .map_err(|e| template_error(&e, &origin_of(&e)))?;
        template
            .render(view)
            .map_err(|e| template_error(&e, &origin_of(&e)))
    }

    /// The status table of `objective` (`STATUS_TABLE.md`).
    pub fn status_table(&self, objective: &Objective) -> Result<String, RenderError> {
        self.render(STATUS_TABLE, &StatusTableView::new(objective))
    }

    /// The content of the bot's region of the year overview (without the
    /// region markers; see [`splice_region`]).
    pub fn overview(
        &self,
        fiscal_year: &FiscalYear,
        records: &FiscalYearRecords,
        quarter_page_title: impl Fn(Quarter) -> String,
    ) -> Result<String, RenderError> {
        let view = OverviewView::new(fiscal_year, records, &quarter_page_title);
        self.render(OVERVIEW, &view)
    }

    /// A whole new quarter page `{prefix}/{FY} {Qn}`.
    pub fn new_quarter(
        &self,
        fiscal_year: &FiscalYear,
        quarter: Quarter,
        records: &FiscalYearRecords,
        prefix: &str,
    ) -> Result<String, RenderError> {
        let mut objectives = Vec::new();
        for objective in &records.objectives {
            let table = self.status_table(objective)?;
            objectives.push(QuarterObjectiveView::new(objective, quarter, table));
        }
        let view = NewQuarterView::new(fiscal_year, quarter, prefix, objectives);
        self.render(NEW_QUARTER, &view)
    }
}

fn template_error(e: &minijinja::Error, file: &str) -> RenderError {
    let message = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    RenderError::Template {
        file: file.to_string(),
        line: e.line().unwrap_or(0),
        message,
    }
}

/// [`Renderer::status_table`] with the built-in templates.
pub fn render_status_table(objective: &Objective) -> String {
    DEFAULT
        .status_table(objective)
        .expect("the built-in templates render (tested)")
}

/// [`Renderer::overview`] with the built-in templates.
pub fn render_overview(
    fiscal_year: &FiscalYear,
    records: &FiscalYearRecords,
    quarter_page_title: impl Fn(Quarter) -> String,
) -> String {
    DEFAULT
        .overview(fiscal_year, records, quarter_page_title)
        .expect("the built-in templates render (tested)")
}

/// [`Renderer::new_quarter`] with the built-in templates.
pub fn render_new_quarter(
    fiscal_year: &FiscalYear,
    quarter: Quarter,
    records: &FiscalYearRecords,
    prefix: &str,
) -> String {
    DEFAULT
        .new_quarter(fiscal_year, quarter, records, prefix)
        .expect("the built-in templates render (tested)")
}

/// The background of a status cell: decoration only, never read back.
/// Every colour keeps black text at a contrast of at least 12:1 (WCAG AA
/// asks 4.5:1); `status_colours_keep_black_text_readable` checks it.
pub fn colour(status: Status) -> &'static str {
    match status {
        Status::Complete => "#a8d5a2",
        Status::OnTrack => "#d4edda",
        Status::Concerns => "#fff3cd",
        Status::AtRisk => "#f8d7da",
        Status::Paused => "#e2e3e5",
        Status::NotScheduled => "#eaecf0",
    }
}

/// The wikitext of a status cell: `Label: note`, `Label`, `No status: note`
/// or empty (`STATUS_TABLE.md`).
pub fn status_cell_text(status: Option<Status>, note: Option<&str>) -> String {
    let note = note.map(escape::collapse).filter(|n| !n.is_empty());
    match (status, note) {
        (Some(s), Some(n)) => format!("{}: {}", s.label(), escape::wikitext(&n)),
        (Some(s), None) => s.label().to_string(),
        (None, Some(n)) => format!("{} {}", Status::NO_STATUS_PREFIX, escape::wikitext(&n)),
        (None, None) => String::new(),
    }
}

/// The wikitext of a status cell for a quarter's entry: as
/// [`status_cell_text`], with the note's wikitext a person wrote
/// ([`QuarterEntry::note_wikitext`]) in place of its plain text when the
/// store has it and it is safe in a cell of its own line, with or without
/// attributes before it ([`cell_safe`]): the link or template a person put
/// on one page reaches every page that shows the note.
pub fn status_cell_wikitext(entry: Option<&QuarterEntry>) -> String {
    let status = entry.and_then(|e| e.status);
    let note = entry.and_then(|e| e.note.as_deref());
    let marked = entry
        .and_then(|e| e.note_wikitext.as_deref())
        .map(str::trim)
        .filter(|w| !w.is_empty() && note.is_some_and(|n| !n.trim().is_empty()));
    // Wikitext that does not read as the note (stale, or not this note's)
    // is not written; one whose reading depends on templates or entities
    // is trusted to the store, which drops it when the words change.
    let reads_as_note = |w: &str| {
        ["{{", "&", "<!--", "-{", "__"]
            .iter()
            .any(|m| w.contains(m))
            || note.is_some_and(|n| wikitable::plain(w) == wikitable::plain(n))
    };
    if let Some(w) = marked.filter(|w| reads_as_note(w)) {
        let text = match status {
            Some(s) => format!("{}: {w}", s.label()),
            None => format!("{} {w}", Status::NO_STATUS_PREFIX),
        };
        if cell_safe(&text) {
            return text;
        }
    }
    status_cell_text(status, note)
}

/// Whether `content` reads as the whole content of one cell, as the table
/// reader (checked against the wiki) sees it, both on a line of its own
/// (`| content`) and after attributes (`| style="…" | content`): no line
/// break, no `||` or `!!` that would start a cell, no `|` that would make
/// words before it attributes, nothing that opens or closes a table.
pub fn cell_safe(content: &str) -> bool {
    // `!!` starts a cell on a header line, where a staff table may hold one.
    if content.contains(['\n', '\r']) || content.contains("!!") || content.trim() != content {
        return false;
    }
    ["| ", "| data-goalsbot-quarter=\"Q1\" | "]
        .iter()
        .all(|lead| {
            let text = format!("{{|\n|-\n{lead}{content}\n|}}\n");
            let tables = wikitable::tables_in(&text, 0..text.len());
            match tables.as_slice() {
                [t] if t.unsure.is_none() => {
                    match t.rows.iter().flat_map(|r| &r.cells).collect::<Vec<_>>()[..] {
                        [c] => text.get(c.content.clone()).map(str::trim) == Some(content),
                        _ => false,
                    }
                }
                _ => false,
            }
        })
}

/// A status cell's new wikitext when only its status changes: the status
/// word is replaced and the note's wikitext — links, templates, any markup a
/// person wrote — is kept byte for byte. `None` when there is no note to
/// keep, or when the cell does not open with plain text (a status word in
/// bold, a link or a template could read differently from its wikitext):
/// such a cell is written whole, as [`status_cell_text`] does.
pub fn restatus(old: &str, status: Option<Status>) -> Option<String> {
    let t = old.trim();
    let (_, note) = Status::read_cell(t);
    let note = note?;
    let word = t.strip_suffix(note.as_str())?;
    if word.is_empty() {
        // No status word: the cell must not open with what starts a line's
        // markup or a template, nor with markup whose text is a status word.
        if note.starts_with(|c: char| "{&_~*#:;=!|-".contains(c))
            || Status::read_cell(&wikitable::plain(&note)).0.is_some()
        {
            return None;
        }
    } else if word.contains(|c: char| "<[{'&_~".contains(c)) {
        // The status word and its separator are plain text.
        return None;
    }
    Some(match status {
        Some(s) => format!("{}: {note}", s.label()),
        None => format!("{} {note}", Status::NO_STATUS_PREFIX),
    })
}

/// The row label of a KR or objective item: `KR2`, `Objective 1`.
fn row_label(kr: &KeyResult) -> String {
    match kr.kind {
        Kind::KeyResult => format!("KR{}", kr.number),
        Kind::ObjectiveItem => format!("Objective {}", kr.number),
        // A metric is written nowhere else on the page: its text goes with it.
        Kind::Metric => {
            let text = escape::collapse(&kr.text);
            if text.is_empty() {
                format!("Metric {}", kr.number)
            } else {
                format!("Metric {}: {}", kr.number, escape::wikitext(&text))
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct LegendEntry {
    label: &'static str,
    colour: &'static str,
}

fn legend() -> Vec<LegendEntry> {
    Status::ALL
        .iter()
        .map(|s| LegendEntry {
            label: s.label(),
            colour: colour(*s),
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct StatusTableView {
    objective_id: String,
    legend: Vec<LegendEntry>,
    quarters: Vec<&'static str>,
    rows: Vec<StatusRowView>,
}

#[derive(Debug, Serialize)]
struct StatusRowView {
    kr_id: String,
    label: String,
    /// Escaped; `None` when the baseline is not known.
    baseline: Option<String>,
    year_goal: String,
    cells: Vec<StatusCellView>,
}

#[derive(Debug, Serialize)]
struct StatusCellView {
    quarter: &'static str,
    colour: Option<&'static str>,
    text: String,
}

impl StatusTableView {
    fn new(objective: &Objective) -> Self {
        let rows = objective
            .key_results
            .iter()
            .map(|kr| StatusRowView {
                kr_id: escape::attribute(&kr.id),
                label: row_label(kr),
                baseline: kr
                    .baseline
                    .as_deref()
                    .map(escape::collapse)
                    .filter(|b| !b.is_empty())
                    .map(|b| escape::wikitext(&b)),
                year_goal: kr
                    .year_goal
                    .as_deref()
                    .map(escape::wikitext)
                    .unwrap_or_default(),
                cells: Quarter::ALL
                    .iter()
                    .map(|q| {
                        let entry = kr.quarters.get(q);
                        let status = entry.and_then(|e| e.status);
                        StatusCellView {
                            quarter: q.as_str(),
                            colour: status.map(colour),
                            text: status_cell_wikitext(entry),
                        }
                    })
                    .collect(),
            })
            .collect();
        StatusTableView {
            objective_id: escape::attribute(&objective.id),
            legend: legend(),
            quarters: Quarter::ALL.iter().map(|q| q.as_str()).collect(),
            rows,
        }
    }
}

/// The section heading of an objective as written: `program - title`, or the
/// title alone.
fn heading_text(objective: &Objective) -> String {
    match objective.program.as_deref().map(escape::collapse) {
        Some(p) if !p.is_empty() => format!("{p} - {}", escape::collapse(&objective.title)),
        _ => escape::collapse(&objective.title),
    }
}

/// The same, as wikitext (each part escaped on its own, so the ` - ` that
/// separates them stays visible to the parser).
fn heading_wikitext(objective: &Objective) -> String {
    match objective.program.as_deref().map(escape::collapse) {
        Some(p) if !p.is_empty() => format!(
            "{} - {}",
            escape::wikitext(&p),
            escape::wikitext(&objective.title)
        ),
        _ => escape::wikitext(&objective.title),
    }
}

/// Manager names joined as the parser splits them (`, `).
fn managers_wikitext(names: &[String]) -> String {
    names
        .iter()
        .map(|n| escape::wikitext(n))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Serialize)]
struct OverviewView {
    fiscal_year: String,
    fiscal_year_display: String,
    quarters: Vec<&'static str>,
    legend: Vec<LegendEntry>,
    objectives: Vec<OverviewObjective>,
    counts: Vec<CountRow>,
    totals: Vec<usize>,
}

#[derive(Debug, Serialize)]
struct OverviewObjective {
    heading: String,
    links: Vec<QuarterLink>,
    rows: Vec<OverviewRow>,
    /// The objective's MTP metrics (not counted with the key results).
    metrics: Vec<OverviewRow>,
}

#[derive(Debug, Serialize)]
struct QuarterLink {
    quarter: &'static str,
    target: String,
}

#[derive(Debug, Serialize)]
struct OverviewRow {
    label: String,
    text: String,
    cells: Vec<OverviewCell>,
}

#[derive(Debug, Serialize)]
struct OverviewCell {
    colour: Option<&'static str>,
    text: String,
}

#[derive(Debug, Serialize)]
struct CountRow {
    label: &'static str,
    colour: Option<&'static str>,
    counts: Vec<usize>,
}

/// KR texts longer than this are shortened on the overview (the quarter
/// pages have them whole).
const OVERVIEW_TEXT_CHARS: usize = 120;

/// A metric's cell on the overview shows its status and the start of its
/// note (the figures): this many characters.
const METRIC_CELL_CHARS: usize = 60;

fn shorten(text: &str, max: usize) -> String {
    let text = escape::collapse(text);
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", text[..i].trim_end()),
        None => text,
    }
}

impl OverviewView {
    fn new(
        fiscal_year: &FiscalYear,
        records: &FiscalYearRecords,
        quarter_page_title: &dyn Fn(Quarter) -> String,
    ) -> Self {
        let mut counts: BTreeMap<Option<Status>, [usize; 4]> = BTreeMap::new();
        let mut totals = [0usize; 4];
        let objectives = records
            .objectives
            .iter()
            .map(|objective| {
                let fragment = escape::fragment(&heading_text(objective));
                let metrics = objective
                    .key_results
                    .iter()
                    .filter(|kr| kr.kind == Kind::Metric)
                    .map(|kr| OverviewRow {
                        label: format!("Metric {}", kr.number),
                        text: {
                            let text = escape::wikitext(&shorten(&kr.text, OVERVIEW_TEXT_CHARS));
                            match kr.year_goal.as_deref().map(escape::collapse) {
                                Some(g) if !g.is_empty() => format!(
                                    "{text} <small>(goal: {})</small>",
                                    escape::wikitext(&shorten(&g, OVERVIEW_TEXT_CHARS))
                                ),
                                _ => text,
                            }
                        },
                        cells: Quarter::ALL
                            .iter()
                            .map(|q| {
                                let entry = kr.quarters.get(q);
                                let status = entry.and_then(|e| e.status);
                                let note = entry
                                    .and_then(|e| e.note.as_deref())
                                    .map(|n| shorten(n, METRIC_CELL_CHARS));
                                OverviewCell {
                                    colour: status.map(colour),
                                    text: match status {
                                        Some(_) => status_cell_text(status, note.as_deref()),
                                        None => note
                                            .as_deref()
                                            .map(escape::wikitext)
                                            .unwrap_or_default(),
                                    },
                                }
                            })
                            .collect(),
                    })
                    .collect();
                let rows = objective
                    .key_results
                    .iter()
                    .filter(|kr| kr.kind != Kind::Metric)
                    .map(|kr| OverviewRow {
                        label: row_label(kr),
                        text: escape::wikitext(&shorten(&kr.text, OVERVIEW_TEXT_CHARS)),
                        cells: Quarter::ALL
                            .iter()
                            .map(|q| {
                                let status = kr.quarters.get(q).and_then(|e| e.status);
                                let i = usize::from(q.number() - 1);
                                counts.entry(status).or_default()[i] += 1;
                                totals[i] += 1;
                                OverviewCell {
                                    colour: status.map(colour),
                                    text: status.map(Status::label).unwrap_or("").to_string(),
                                }
                            })
                            .collect(),
                    })
                    .collect();
                OverviewObjective {
                    heading: heading_wikitext(objective),
                    links: Quarter::ALL
                        .iter()
                        .map(|q| QuarterLink {
                            quarter: q.as_str(),
                            target: format!("{}#{fragment}", quarter_page_title(*q)),
                        })
                        .collect(),
                    rows,
                    metrics,
                }
            })
            .collect();
        let counts = Status::ALL
            .iter()
            .map(|s| (Some(*s), s.label(), Some(colour(*s))))
            .chain([(None, "No status", None)])
            .map(|(key, label, colour)| CountRow {
                label,
                colour,
                counts: counts.get(&key).copied().unwrap_or_default().to_vec(),
            })
            .collect();
        OverviewView {
            fiscal_year: fiscal_year.to_string(),
            fiscal_year_display: fiscal_year.display_dash(),
            quarters: Quarter::ALL.iter().map(|q| q.as_str()).collect(),
            legend: legend(),
            objectives,
            counts,
            totals: totals.to_vec(),
        }
    }
}

#[derive(Debug, Serialize)]
struct NewQuarterView {
    fiscal_year: String,
    fiscal_year_display: String,
    fiscal_year_short: String,
    quarter: &'static str,
    /// `October - December 2020`.
    period: String,
    title: String,
    previous: PageLink,
    next: PageLink,
    objectives: Vec<QuarterObjectiveView>,
}

#[derive(Debug, Serialize)]
struct PageLink {
    title: String,
    quarter: &'static str,
}

#[derive(Debug, Serialize)]
struct QuarterObjectiveView {
    heading: String,
    managers: String,
    description: Option<String>,
    items: Vec<QuarterItemView>,
    status_table: String,
}

#[derive(Debug, Serialize)]
struct QuarterItemView {
    /// A `Key Results Manager:` line goes before this item.
    manager_change: bool,
    managers: String,
    /// `KR1 text`, `KR1: - text`, `Objective: text`.
    line: String,
    /// The page quarter's objective (escaped; empty: none yet).
    objective: String,
    /// The page quarter's goals (escaped), one bullet each.
    goals: Vec<String>,
}

impl QuarterObjectiveView {
    fn new(objective: &Objective, quarter: Quarter, status_table: String) -> Self {
        let mut in_force: &[String] = &[];
        // Metrics show in the status table only; they are no prose items.
        let items = objective
            .key_results
            .iter()
            .filter(|kr| kr.kind != Kind::Metric)
            .map(|kr| {
                let manager_change = kr.managers.as_slice() != in_force;
                in_force = &kr.managers;
                let entry = kr.quarters.get(&quarter);
                QuarterItemView {
                    manager_change,
                    managers: managers_wikitext(&kr.managers),
                    line: item_line(kr),
                    objective: entry
                        .and_then(|e| e.objective.as_deref())
                        .map(escape::collapse)
                        .filter(|o| !o.is_empty())
                        .map(|o| escape::wikitext(&o))
                        .unwrap_or_default(),
                    goals: entry
                        .map(|e| {
                            e.goals
                                .iter()
                                .map(|g| escape::collapse(g))
                                .filter(|g| !g.is_empty())
                                .map(|g| escape::wikitext(&g))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        QuarterObjectiveView {
            heading: heading_wikitext(objective),
            managers: managers_wikitext(&objective.managers),
            description: objective
                .description
                .as_deref()
                .map(escape::collapse)
                .filter(|d| !d.is_empty())
                .map(|d| escape::wikitext(&d)),
            items,
            status_table: status_table.trim_end().to_string(),
        }
    }
}

/// The line that opens a KR or item on a quarter page.
fn item_line(kr: &KeyResult) -> String {
    let text = escape::collapse(&kr.text);
    match kr.kind {
        Kind::ObjectiveItem => format!("Objective: {}", escape::wikitext(&text)),
        Kind::KeyResult if text.is_empty() => format!("KR{}", kr.number),
        // The label may end in `:`, `-`, `–`, `—` or `.`; a text that opens
        // with one of them needs an explicit `:` so the parser keeps it.
        Kind::KeyResult if text.starts_with([':', '-', '–', '—', '.']) => {
            format!("KR{}: {}", kr.number, escape::wikitext(&text))
        }
        Kind::KeyResult => format!("KR{} {}", kr.number, escape::wikitext(&text)),
        Kind::Metric => format!("Metric {}: {}", kr.number, escape::wikitext(&text)),
    }
}

impl NewQuarterView {
    fn new(
        fiscal_year: &FiscalYear,
        quarter: Quarter,
        prefix: &str,
        objectives: Vec<QuarterObjectiveView>,
    ) -> Self {
        let page = |fy: &FiscalYear, q: Quarter| format!("{prefix}/{fy} {q}");
        let (prev_fy, prev_q) = match quarter {
            Quarter::Q1 => (
                FiscalYear::starting(fiscal_year.start_year() - 1),
                Quarter::Q4,
            ),
            q => (
                fiscal_year.clone(),
                Quarter::from_number(q.number() - 1).expect("Q2…Q4 have a predecessor"),
            ),
        };
        let (next_fy, next_q) = match quarter {
            Quarter::Q4 => (fiscal_year.next(), Quarter::Q1),
            q => (
                fiscal_year.clone(),
                Quarter::from_number(q.number() + 1).expect("Q1…Q3 have a successor"),
            ),
        };
        let calendar_year = match quarter {
            Quarter::Q1 | Quarter::Q2 => fiscal_year.start_year(),
            Quarter::Q3 | Quarter::Q4 => fiscal_year.start_year() + 1,
        };
        NewQuarterView {
            fiscal_year: fiscal_year.to_string(),
            fiscal_year_display: fiscal_year.display_dash(),
            fiscal_year_short: fiscal_year.short(),
            quarter: quarter.as_str(),
            period: format!("{} {calendar_year}", quarter.months()),
            title: page(fiscal_year, quarter),
            previous: PageLink {
                title: page(&prev_fy, prev_q),
                quarter: prev_q.as_str(),
            },
            next: PageLink {
                title: page(&next_fy, next_q),
                quarter: next_q.as_str(),
            },
            objectives,
        }
    }
}

#[cfg(test)]
mod tests;

impl Renderer {
    /// A digest of every template's source: when an operator changes a
    /// template, what the bot would write may change, so pages are checked again.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let sources: BTreeMap<&str, String> = self
            .env
            .templates()
            .map(|(name, t)| (name, t.source().to_string()))
            .collect();
        let mut h = Sha256::new();
        for (name, src) in sources {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(src.as_bytes());
            h.update([0]);
        }
        format!("{:x}", h.finalize())
    }
}
