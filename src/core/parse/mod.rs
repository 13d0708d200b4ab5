//! Parses a quarter page's Parsoid HTML into objectives and key results (`docs/pages.md`).
//!
//! [`parse_quarter_page`] is pure: HTML in, records and warnings out. It never
//! fails and never panics; whatever it does not understand becomes a warning
//! and is otherwise left alone (it stays on the page untouched).
//!
//! How a page is read:
//!
//! - The page is flattened into headings and logical lines
//!   (paragraphs split at `<br>`, list items, `<pre>` lines), so KR blocks
//!   written as paragraphs, list items or preformatted text read the same.
//! - Every level-2 heading starts a candidate objective (`program - title`,
//!   split on the last ` - `). It counts as an objective when it has an
//!   objective manager, a KR or `Objective:` item, or an `Objective`/`Key
//!   Results` subheading; other sections are reported.
//! - The description is the first plain line after the `=== Objective ===`
//!   heading (or a bare `Objective:` line before any KR) or, without either,
//!   after the `Objective Manager:` line. Further plain lines before the KRs
//!   are reported, not joined.
//! - `Objective: text` is an objective item. A bare `Objective:` after the
//!   first KR takes its text from the next plain line; with none, it is
//!   reported and no item is made (so item numbers have no gaps).
//! - A `Key Result(s) Manager:` line applies to the KRs after it. A quarter
//!   block (`Qn Objective:`, `Qn Goals:` and bullets) belongs to the KR or
//!   item right before it; bullets right after an item with no quarter label
//!   are that item's goals for the page's own quarter.
//! - **Baseline:** a `Baseline: …` sentence at the end of a KR's text goes to
//!   `baseline` and is *removed* from `text`, because the two are separate
//!   fields and the status table shows the baseline under the KR; keeping it
//!   in both would show it twice on a regenerated page. A status table's
//!   baseline, when present, wins over the sentence.
//! - The bot's status tables (`wikitext_templates/STATUS_TABLE.md`) are found
//!   by `data-goalsbot-objective`, wherever they stand. A table whose id
//!   equals an objective's slug id belongs to it; otherwise a table inside an
//!   objective's section gives that objective its id (identity travels in
//!   the markup, so a retitled objective keeps its id).

mod dom;
pub(crate) mod line;
mod table;

use std::collections::{BTreeMap, BTreeSet};

use parsoid::prelude::*;

use self::dom::{Block, Line};
use self::line::{classify, split_baseline, split_heading, tasks_in_text, Label};
use self::table::{Found, StatusTable};
use crate::core::colour::Palette;
use crate::core::identity::{follow, words, Following};
use crate::core::records::{slug, FiscalYear, KeyResult, Kind, Objective, Quarter, QuarterEntry};

pub use self::table::{column, is_status_header, Column};

/// What one quarter page yields: its objectives and what could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPage {
    /// The fiscal year the caller said the page is for (ids are built on it).
    pub fiscal_year: FiscalYear,
    /// The page's quarter; bullets right after an item are its goals for it.
    pub quarter: Quarter,
    /// Objectives in page order; empty when the page has none (the caller
    /// refuses such a page rather than treating it as "all deleted").
    pub objectives: Vec<Objective>,
    /// Things on the page the parser did not understand, for a person to read.
    pub warnings: Vec<String>,
    /// The key results that have a row in one of the bot's status tables on
    /// the page: only for these does the page say anything about statuses,
    /// notes and year goals (a deleted table or row is not a cleared value).
    pub table_rows: BTreeSet<String>,
    /// The key results whose words the page gives only in a table's label
    /// cell (`KR3 - Build …` in a KR table staff wrote, a metric's name),
    /// not in a prose line of their own. A KR whose line staff deleted
    /// while its row stays is one: its label is an abbreviation, not a
    /// rewording (see `core::merge::unread_labels`).
    pub label_words: BTreeSet<String>,
    /// The KR tables staff wrote that the bot has not adopted yet, per
    /// objective id, in section order: what adopting them needs to know.
    pub staff_tables: BTreeMap<String, Vec<StaffTable>>,
    /// The status cells that hold markup, by (record id, quarter): their
    /// notes' wikitext is worth reading from the page's source
    /// ([`crate::core::notes`]).
    pub marked_notes: BTreeSet<(String, Quarter)>,
    /// Key results whose identity the parse could not tell from what the
    /// bot knew of the page (reworded and renumbered at once,
    /// [`crate::core::identity::follow`]): the page waits for a person.
    pub identity_doubts: Vec<String>,
}

impl ParsedPage {
    /// What the page's tables said about which records, as a page's sync
    /// state keeps it.
    pub fn reading(&self) -> PageReading<'_> {
        PageReading {
            table_rows: &self.table_rows,
            label_words: &self.label_words,
        }
    }
}

/// What a read of a page's tables says about which records, kept with the
/// page's sync state for the next merge: see [`ParsedPage::table_rows`] and
/// [`ParsedPage::label_words`].
#[derive(Debug, Clone, Copy)]
pub struct PageReading<'a> {
    pub table_rows: &'a BTreeSet<String>,
    pub label_words: &'a BTreeSet<String>,
}

/// A KR or metrics table staff wrote, not yet adopted by the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffTable {
    /// The record id of each body row in order (`None`: an empty row, or
    /// one the bot did not read).
    pub rows: Vec<Option<String>>,
    /// Why the bot cannot read the table whole, if it cannot: it is then
    /// left alone, and the objective gets no table of the bot's either.
    pub unreadable: Option<String>,
}

/// Parses the Parsoid HTML of the quarter page `fiscal_year` `quarter`,
/// reading staff tables' colours with the built-in palette.
pub fn parse_quarter_page(html: &str, fiscal_year: &FiscalYear, quarter: Quarter) -> ParsedPage {
    parse_quarter_page_with(html, fiscal_year, quarter, &Palette::default())
}

/// [`parse_quarter_page`] with the colours of `[status] colours`.
pub fn parse_quarter_page_with(
    html: &str,
    fiscal_year: &FiscalYear,
    quarter: Quarter,
    palette: &Palette,
) -> ParsedPage {
    parse_quarter_page_after(html, fiscal_year, quarter, palette, None)
}

/// [`parse_quarter_page_with`] for a page the bot read before: each key
/// result keeps the id it had (`following`, [`crate::core::identity`])
/// through renumbering and reordering, and the bot's status rows bind to
/// key results by the id they carry rather than by their label's number.
pub fn parse_quarter_page_after(
    html: &str,
    fiscal_year: &FiscalYear,
    quarter: Quarter,
    palette: &Palette,
    following: Option<&Following>,
) -> ParsedPage {
    let code = Wikicode::new(html);
    let mut warnings = Vec::new();
    let blocks = match code.select_first("body") {
        Some(body) => dom::flatten(&body),
        None => Vec::new(),
    };

    // Split at level-1/2 headings; what comes before the first is the nav
    // bar and intro, which the parser does not read.
    let mut sections: Vec<(String, Vec<Block>)> = Vec::new();
    let mut loose_tables: Vec<Wikinode> = Vec::new();
    for block in blocks {
        match block {
            Block::Heading { level, text } if level <= 2 => sections.push((text, Vec::new())),
            block => match sections.last_mut() {
                Some((_, blocks)) => blocks.push(block),
                None => {
                    if let Block::StatusTable(t) = block {
                        loose_tables.push(t);
                    }
                }
            },
        }
    }

    let mut drafts: Vec<Draft> = Vec::new();
    for (heading, blocks) in sections {
        let mut reader = Reader::new(&heading, quarter, palette, &mut warnings);
        for block in blocks {
            reader.block(block);
        }
        match reader.finish() {
            Ok(draft) => drafts.push(draft),
            Err(tables) => loose_tables.extend(tables),
        }
    }

    let mut read = RowsRead {
        following,
        ..RowsRead::default()
    };
    let mut staff_tables = BTreeMap::new();
    let mut objectives = assemble(
        drafts,
        loose_tables,
        fiscal_year,
        palette,
        &mut warnings,
        &mut read,
        &mut staff_tables,
    );
    dedupe_ids(&mut objectives, &mut warnings, &mut read, &mut staff_tables);
    if objectives.is_empty() {
        warnings.push("no objectives found on the page".to_string());
    }
    ParsedPage {
        fiscal_year: fiscal_year.clone(),
        quarter,
        objectives,
        warnings,
        table_rows: read.table_rows,
        label_words: read.label_words,
        staff_tables,
        marked_notes: read.marked_notes,
        identity_doubts: read.doubts,
    }
}

/// What the page's tables said about which records, as the parse goes.
#[derive(Default)]
struct RowsRead<'f> {
    /// What the bot knew of the page, to follow its key results by.
    following: Option<&'f Following>,
    /// See [`ParsedPage::identity_doubts`].
    doubts: Vec<String>,
    /// See [`ParsedPage::table_rows`].
    table_rows: BTreeSet<String>,
    /// See [`ParsedPage::label_words`].
    label_words: BTreeSet<String>,
    /// See [`ParsedPage::marked_notes`].
    marked_notes: BTreeSet<(String, Quarter)>,
}

/// An objective as read from its section, before ids are settled.
struct Draft {
    program: Option<String>,
    title: String,
    managers: Vec<String>,
    description: Option<String>,
    key_results: Vec<KeyResult>,
    tables: Vec<Wikinode>,
    /// For each of `tables`, the KR managers line in force where it stands.
    table_managers: Vec<Vec<String>>,
    staff: Vec<Staff>,
}

/// A staff table in an objective's section, as read.
enum Staff {
    /// Read, with the KR managers in force where it stands.
    Read(StatusTable, Vec<String>),
    Unreadable(String),
}

/// Reads the blocks of one `== program - title ==` section.
struct Reader<'w> {
    heading: String,
    page_quarter: Quarter,
    warnings: &'w mut Vec<String>,
    managers: Option<Vec<String>>,
    description: Option<String>,
    expect_description: bool,
    has_subheading: bool,
    kr_managers: Vec<String>,
    key_results: Vec<KeyResult>,
    items: u32,
    /// Index of the KR or item that quarter blocks attach to.
    current: Option<usize>,
    /// The quarter whose goals the next bullets are.
    open_quarter: Option<Quarter>,
    /// An empty `Qn Objective:` whose text may be on the next line.
    pending_quarter_objective: Option<Quarter>,
    /// A KR label with no text, whose text may be on the next line.
    pending_kr_text: bool,
    /// A bare `Objective:` item label, whose text must be on the next line.
    pending_item: bool,
    tables: Vec<Wikinode>,
    /// For each of `tables`, the KR managers line in force where it stands.
    table_managers: Vec<Vec<String>>,
    staff: Vec<Staff>,
    palette: &'w Palette,
}

impl<'w> Reader<'w> {
    fn new(
        heading: &str,
        page_quarter: Quarter,
        palette: &'w Palette,
        warnings: &'w mut Vec<String>,
    ) -> Self {
        Self {
            heading: heading.to_string(),
            page_quarter,
            warnings,
            managers: None,
            description: None,
            expect_description: false,
            has_subheading: false,
            kr_managers: Vec::new(),
            key_results: Vec::new(),
            items: 0,
            current: None,
            open_quarter: None,
            pending_quarter_objective: None,
            pending_kr_text: false,
            pending_item: false,
            tables: Vec::new(),
            table_managers: Vec::new(),
            staff: Vec::new(),
            palette,
        }
    }

    fn warn(&mut self, what: String) {
        self.warnings
            .push(format!("section “{}”: {what}", self.heading));
    }

    fn block(&mut self, block: Block) {
        match block {
            Block::Heading { text, .. } => {
                if std::mem::take(&mut self.pending_item) {
                    self.warn("“Objective:” label without text ignored".into());
                }
                self.current = None;
                self.open_quarter = None;
                self.pending_quarter_objective = None;
                self.pending_kr_text = false;
                let t = text.trim_end_matches(':').to_ascii_lowercase();
                match t.as_str() {
                    "objective" | "objectives" => {
                        self.has_subheading = true;
                        self.expect_description = self.description.is_none();
                    }
                    "key results" | "key result" => {
                        self.has_subheading = true;
                        self.expect_description = false;
                    }
                    _ => self.expect_description = false,
                }
            }
            Block::Line(line) => self.line(line),
            Block::StatusTable(t) => {
                // A staff table the bot adopted reads as it did before: its
                // table-only rows take the managers line in force here.
                self.table_managers.push(self.kr_managers.clone());
                self.tables.push(t)
            }
            Block::Table(t) => match table::read_staff(&t, self.palette) {
                Found::Other => self.warn("table ignored".into()),
                Found::Staff(table) => {
                    self.current = None;
                    self.open_quarter = None;
                    self.staff
                        .push(Staff::Read(table, self.kr_managers.clone()));
                }
                Found::Unreadable(why) => {
                    self.warn(format!(
                        "a KR table the bot cannot read whole ({}); left as it is, and no \
                         status table of the bot's is added beside it",
                        why.0
                    ));
                    self.staff.push(Staff::Unreadable(why.0));
                }
            },
            Block::Ignored(what) => self.warn(format!("{what} ignored")),
        }
    }

    fn line(&mut self, line: Line) {
        let pending_quarter_objective = self.pending_quarter_objective.take();
        let pending_kr_text = std::mem::take(&mut self.pending_kr_text);
        let label = classify(&line.text);
        if std::mem::take(&mut self.pending_item) {
            if label == Label::Prose && line.bullet.is_none() {
                self.items += 1;
                self.start_item(Kind::ObjectiveItem, self.items, &line.text, &line.tasks);
                return;
            }
            self.warn("“Objective:” label without text ignored".into());
        }
        match label {
            Label::ObjectiveManager(names) => {
                if self.managers.is_some() {
                    self.warn("second Objective Manager line; the last one counts".into());
                }
                self.managers = Some(names);
                if self.description.is_none() && self.key_results.is_empty() {
                    self.expect_description = true;
                }
            }
            Label::KrManager(names) => {
                self.kr_managers = names;
                self.current = None;
                self.open_quarter = None;
                self.expect_description = false;
            }
            Label::KeyResult { number, text } => {
                self.start_item(Kind::KeyResult, number, &text, &line.tasks)
            }
            Label::ObjectiveItem(text) if text.is_empty() => {
                self.current = None;
                self.open_quarter = None;
                if self.key_results.is_empty() && self.description.is_none() {
                    // `Objective:` standing where the `=== Objective ===`
                    // heading would, before the description.
                    self.has_subheading = true;
                    self.expect_description = true;
                } else {
                    self.pending_item = true;
                }
            }
            Label::ObjectiveItem(text) => {
                self.items += 1;
                self.start_item(Kind::ObjectiveItem, self.items, &text, &line.tasks);
            }
            Label::QuarterObjective { quarter, text } => {
                if let Some(entry) = self.entry(quarter, &line) {
                    entry.objective = Some(text.clone());
                    self.add_links(tasks_in_text(&text).chain(line.tasks).collect());
                    self.open_quarter = Some(quarter);
                    if text.is_empty() {
                        self.pending_quarter_objective = Some(quarter);
                    }
                }
            }
            Label::QuarterGoals { quarter, text } => {
                if self.entry(quarter, &line).is_some() {
                    self.open_quarter = Some(quarter);
                    if !text.is_empty() {
                        self.goal(quarter, text);
                    }
                    self.add_links(line.tasks);
                }
            }
            Label::Prose if line.bullet.is_some() => self.bullet(line),
            Label::Prose => self.prose(line, pending_kr_text, pending_quarter_objective),
        }
    }

    /// A bullet without a label: a goal of the open quarter (else the
    /// page's) of the current key result.
    fn bullet(&mut self, line: Line) {
        if self.current.is_some() {
            let quarter = self.open_quarter.unwrap_or(self.page_quarter);
            self.open_quarter = Some(quarter);
            if self.entry(quarter, &line).is_some() && !line.text.is_empty() {
                self.goal(quarter, line.text);
                self.add_links(line.tasks);
            }
        } else if !line.text.is_empty() {
            self.warn(format!(
                "bullet outside any key result ignored: {}",
                excerpt(&line.text)
            ));
        }
    }

    /// A line of prose: the text of a KR whose label stood alone, a
    /// quarter objective whose label stood alone, the objective's
    /// description, or ignored (with a warning).
    fn prose(
        &mut self,
        line: Line,
        pending_kr_text: bool,
        pending_quarter_objective: Option<Quarter>,
    ) {
        if pending_kr_text {
            if let Some(i) = self.current {
                self.set_kr_text(i, &line.text, &line.tasks);
                return;
            }
        }
        // `Baseline: …` as a paragraph of its own right after a KR.
        if let (Some(i), None) = (self.current, self.open_quarter) {
            let (before, baseline) = split_baseline(&line.text);
            if before.is_empty() {
                if let (Some(kr), Some(b)) = (self.key_results.get_mut(i), baseline) {
                    if kr.baseline.is_none() {
                        kr.baseline = Some(b);
                        return;
                    }
                }
            }
        }
        if let Some(quarter) = pending_quarter_objective {
            if let Some(entry) = self.entry(quarter, &line) {
                entry.objective = Some(line.text.clone());
                self.add_links(tasks_in_text(&line.text).chain(line.tasks).collect());
                return;
            }
        }
        if self.expect_description && self.current.is_none() {
            self.description = Some(line.text);
            self.expect_description = false;
            return;
        }
        self.current = None;
        self.open_quarter = None;
        self.warn(format!("text ignored: {}", excerpt(&line.text)));
    }

    fn start_item(&mut self, kind: Kind, number: u32, text: &str, tasks: &[String]) {
        self.expect_description = false;
        self.open_quarter = None;
        if self
            .key_results
            .iter()
            .any(|k| k.kind == kind && k.number == number)
        {
            let label = match kind {
                Kind::KeyResult => format!("KR{number}"),
                Kind::ObjectiveItem => format!("Objective item {number}"),
                Kind::Metric => format!("Metric {number}"),
            };
            self.warn(format!("second {label} ignored: {}", excerpt(text)));
            self.current = None;
            return;
        }
        self.key_results.push(KeyResult {
            id: String::new(),
            kind,
            number,
            text: String::new(),
            managers: self.kr_managers.clone(),
            baseline: None,
            year_goal: None,
            links: Vec::new(),
            quarters: BTreeMap::new(),
        });
        let i = self.key_results.len() - 1;
        self.current = Some(i);
        self.set_kr_text(i, text, tasks);
        self.pending_kr_text = text.is_empty();
    }

    fn set_kr_text(&mut self, i: usize, text: &str, tasks: &[String]) {
        let (statement, baseline) = split_baseline(text);
        let mut links: Vec<String> = tasks_in_text(text).collect();
        links.extend(tasks.iter().cloned());
        if let Some(kr) = self.key_results.get_mut(i) {
            kr.text = statement;
            kr.baseline = baseline;
        }
        self.add_links(links);
    }

    /// The current item's entry for `quarter`, created on first use; `None`
    /// (with a warning) when no item is open.
    fn entry(&mut self, quarter: Quarter, line: &Line) -> Option<&mut QuarterEntry> {
        let Some(i) = self.current else {
            if !line.text.is_empty() {
                self.warn(format!(
                    "quarter block outside any key result ignored: {}",
                    excerpt(&line.text)
                ));
            }
            return None;
        };
        let kr = self.key_results.get_mut(i)?;
        Some(kr.quarters.entry(quarter).or_default())
    }

    fn goal(&mut self, quarter: Quarter, text: String) {
        let tasks: Vec<String> = tasks_in_text(&text).collect();
        if let Some(kr) = self.current.and_then(|i| self.key_results.get_mut(i)) {
            kr.quarters.entry(quarter).or_default().goals.push(text);
        }
        self.add_links(tasks);
    }

    fn add_links(&mut self, links: Vec<String>) {
        if let Some(kr) = self.current.and_then(|i| self.key_results.get_mut(i)) {
            for link in links {
                if !kr.links.contains(&link) {
                    kr.links.push(link);
                }
            }
        }
    }

    /// The objective, or (when the section is not one) its status tables so
    /// they can still be matched by id.
    fn finish(mut self) -> Result<Draft, Vec<Wikinode>> {
        if self.pending_item {
            self.warn("“Objective:” label without text ignored".into());
        }
        // A status table alone does not make an objective: staff may have
        // moved tables into a section of their own.
        // A staff table, adopted or not, is the section's content.
        let is_objective = self.managers.is_some()
            || !self.key_results.is_empty()
            || self.has_subheading
            || self.staff.iter().any(|s| matches!(s, Staff::Read(..)))
            || self.tables.iter().any(table::is_staff);
        if !is_objective {
            self.warnings.push(format!(
                "section “{}” has no objective manager, key results or objective heading; not read as an objective",
                self.heading
            ));
            return Err(self.tables);
        }
        let (program, title) = split_heading(&self.heading);
        Ok(Draft {
            program,
            title,
            managers: self.managers.unwrap_or_default(),
            description: self.description,
            key_results: self.key_results,
            tables: self.tables,
            table_managers: self.table_managers,
            staff: self.staff,
        })
    }
}

/// Settles ids, binds status tables to objectives and merges their data.
fn assemble(
    drafts: Vec<Draft>,
    loose_tables: Vec<Wikinode>,
    fiscal_year: &FiscalYear,
    palette: &Palette,
    warnings: &mut Vec<String>,
    read: &mut RowsRead,
    staff_tables: &mut BTreeMap<String, Vec<StaffTable>>,
) -> Vec<Objective> {
    let tables = read_tables(&drafts, &loose_tables, palette, warnings);
    let (mut objectives, staff) = objectives_of(drafts, fiscal_year, warnings);
    let bound = bind_tables(&objectives, tables, warnings);
    for ((objective, tables), staff) in objectives.iter_mut().zip(bound).zip(staff) {
        fill_objective(objective, tables, staff, warnings, read, staff_tables);
    }
    objectives
}

/// Every status table of the page read once, with the section it stood in
/// (`None`: before the first heading).
fn read_tables(
    drafts: &[Draft],
    loose_tables: &[Wikinode],
    palette: &Palette,
    warnings: &mut Vec<String>,
) -> Vec<(Option<usize>, StatusTable)> {
    // Read every table once, remembering the section it stood in.
    let mut tables: Vec<(Option<usize>, StatusTable)> = Vec::new();
    for (i, draft) in drafts.iter().enumerate() {
        for (node, managers) in draft.tables.iter().zip(&draft.table_managers) {
            if let Some(mut t) = table::read(node, palette, warnings) {
                if t.staff {
                    t.managers = managers.clone();
                }
                tables.push((Some(i), t));
            }
        }
    }
    for node in loose_tables {
        if let Some(t) = table::read(node, palette, warnings) {
            tables.push((None, t));
        }
    }
    tables
}

/// The sections' objectives (ids from their titles) and each one's staff
/// tables.
fn objectives_of(
    drafts: Vec<Draft>,
    fiscal_year: &FiscalYear,
    warnings: &mut Vec<String>,
) -> (Vec<Objective>, Vec<Vec<Staff>>) {
    let mut staff: Vec<Vec<Staff>> = Vec::new();
    let objectives: Vec<Objective> = drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let mut s = slug(&d.title);
            if s.is_empty() {
                warnings.push(format!(
                    "objective “{}” has no letters or digits for an id; using objective-{}",
                    d.title,
                    i + 1
                ));
                s = format!("objective-{}", i + 1);
            }
            staff.push(d.staff);
            Objective {
                id: format!("{fiscal_year}/{s}"),
                program: d.program,
                title: d.title,
                managers: d.managers,
                description: d.description,
                status: BTreeMap::new(),
                target_quarter: None,
                department: None,
                key_results: d.key_results,
            }
        })
        .collect();
    (objectives, staff)
}

/// The status tables of each objective: first by id (the table may have
/// moved anywhere), then by position (the objective may have been
/// retitled, so its slug no longer matches).
fn bind_tables(
    objectives: &[Objective],
    tables: Vec<(Option<usize>, StatusTable)>,
    warnings: &mut Vec<String>,
) -> Vec<Vec<StatusTable>> {
    // An objective may have several: an adopted KR table and metrics table.
    let mut bound: Vec<Vec<StatusTable>> = vec![Vec::new(); objectives.len()];
    let mut unbound: Vec<(Option<usize>, StatusTable)> = Vec::new();
    for (owner, t) in tables {
        match objectives
            .iter()
            .position(|o| Some(o.id.as_str()) == t.objective_id.as_deref())
        {
            Some(i) => bound[i].push(t),
            None => unbound.push((owner, t)),
        }
    }
    let mut by_owner: Vec<Vec<StatusTable>> = vec![Vec::new(); objectives.len()];
    for (owner, t) in unbound {
        match owner {
            Some(i) if bound[i].is_empty() => by_owner[i].push(t),
            _ => warnings.push(format!(
                "status table {} matches no objective on the page; ignored",
                t.objective_id.as_deref().unwrap_or("")
            )),
        }
    }
    for (i, tables) in by_owner.into_iter().enumerate() {
        // Tables of one retitled objective all carry the same id.
        let mut ids: Vec<&str> = tables
            .iter()
            .filter_map(|t| t.objective_id.as_deref())
            .collect();
        ids.dedup();
        if ids.len() > 1 {
            warnings.push(format!(
                "section “{}” holds status tables of several objectives ({}); only {} is read",
                objectives[i].title,
                ids.join(", "),
                ids[0]
            ));
        }
        let first = ids.first().map(|s| s.to_string());
        bound[i].extend(tables.into_iter().filter(|t| t.objective_id == first));
    }
    bound
}

/// Puts an objective's tables on its records: the bot's table and staff
/// tables' rows, what each staff table held (into `staff_tables`), and the
/// objective's records in order.
fn fill_objective(
    objective: &mut Objective,
    tables: Vec<StatusTable>,
    staff: Vec<Staff>,
    warnings: &mut Vec<String>,
    read: &mut RowsRead,
    staff_tables: &mut BTreeMap<String, Vec<StaffTable>>,
) {
    if let Some(id) = tables.first().and_then(|t| t.objective_id.clone()) {
        objective.id = id;
    }
    for kr in &mut objective.key_results {
        kr.id = format!("{}/{}{}", objective.id, kr.kind.id_stem(), kr.number);
    }
    // Known before: each KR keeps its id, and rows bind to it by id.
    let following = read.following.filter(|f| f.knows(&objective.id));
    if let Some(f) = following {
        for doubt in follow(f, &objective.id, &mut objective.key_results) {
            read.doubts
                .push(format!("objective {:?}: {doubt}", objective.title));
        }
    }
    let has_bots_own = tables.iter().any(|t| !t.staff);
    // A record takes its data from the first row that shows it; the
    // bot writes only its first table of an objective, so a copy staff
    // made of it is not read (it would bring back stale values).
    let mut claimed = BTreeSet::new();
    let mut own_seen = false;
    for table in tables {
        if !table.staff {
            if own_seen {
                warnings.push(format!(
                    "a second status table of the bot's for {} is ignored (remove one of the two)",
                    objective.id
                ));
                continue;
            }
            own_seen = true;
        }
        let managers = table.managers.clone();
        merge_table(objective, table, &managers, warnings, read, &mut claimed);
    }
    let mut infos = Vec::new();
    for s in staff {
        match s {
            Staff::Read(table, _) if has_bots_own => {
                warnings.push(format!(
                    "objective {}: a KR table staff wrote stands beside the bot's status \
                     table; it is not read (keep one of the two)",
                    objective.id
                ));
                infos.push(StaffTable {
                    rows: Vec::new(),
                    unreadable: Some("the objective has the bot's status table".into()),
                });
                let _ = table;
            }
            Staff::Read(table, managers) => {
                let skipped = table.skipped.clone();
                let empty_rows = table.empty_rows.clone();
                let mut rows =
                    merge_table(objective, table, &managers, warnings, read, &mut claimed);
                for i in empty_rows {
                    rows.insert(i.min(rows.len()), None);
                }
                if !skipped.is_empty() {
                    warnings.push(format!(
                        "objective {}: KR table: skipped {}",
                        objective.id,
                        skipped.join("; ")
                    ));
                }
                infos.push(StaffTable {
                    rows,
                    unreadable: None,
                });
            }
            Staff::Unreadable(why) => infos.push(StaffTable {
                rows: Vec::new(),
                unreadable: Some(why),
            }),
        }
    }
    if !infos.is_empty() {
        staff_tables.insert(objective.id.clone(), infos);
    }
    // Metrics after the objective's KRs and items, in their own order.
    objective
        .key_results
        .sort_by_key(|k| k.kind == Kind::Metric);
}

/// Puts a status table's data on the objective's records: baselines, year
/// goals and statuses, and (from staff tables and metric rows) the records
/// the prose does not write. Returns each row's record id, in row order.
fn merge_table(
    objective: &mut Objective,
    table: StatusTable,
    managers: &[String],
    warnings: &mut Vec<String>,
    read: &mut RowsRead,
    claimed: &mut BTreeSet<usize>,
) -> Vec<Option<String>> {
    let name = table
        .objective_id
        .clone()
        .unwrap_or_else(|| objective.id.clone());
    // Per row, the record it went to (by index); ids are read once every
    // row has given its record its id.
    let mut slots: Vec<Option<usize>> = Vec::new();
    let mut renamed: Vec<(usize, String)> = Vec::new();
    let mut marked: Vec<(usize, Quarter)> = Vec::new();
    let mut from_labels: Vec<usize> = Vec::new();
    if table.staff && table.objective_id.is_some() && !table.skipped.is_empty() {
        warnings.push(format!(
            "status table {name}: skipped {}",
            table.skipped.join("; ")
        ));
    }
    // Words that label several rows of the table say nothing of which KR
    // each row is (see `staff_row_owner`).
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for row in &table.rows {
        *labels.entry(label_words(&row.text)).or_default() += 1;
    }
    let following = read.following.filter(|f| f.knows(&objective.id));
    for row in table.rows {
        let number = row_number(objective, &row);
        let shared = labels.get(&label_words(&row.text)).is_some_and(|n| *n > 1);
        let owner = row_owner(objective, &row, number, following.map(|f| (f, shared)));
        if let Some(doubt) = owner.doubt {
            read.doubts
                .push(format!("objective {:?}: {doubt}", objective.title));
        }
        let (found, stale) = (owner.found, owner.stale);
        let i = match found {
            Some(i) => i,
            None if (table.staff || row.kind == Kind::Metric) && !stale => {
                let record = record_of_row(objective, &row, number, managers, owner.known);
                objective.key_results.push(record);
                objective.key_results.len() - 1
            }
            None => {
                warnings.push(format!(
                    "status table {name}: row {} matches no key result in the text; ignored",
                    row.kr_id.as_deref().unwrap_or("?")
                ));
                slots.push(None);
                continue;
            }
        };
        if !claimed.insert(i) {
            warnings.push(format!(
                "status table {name}: a second row for {} {number} ignored",
                row.kind.as_str()
            ));
            slots.push(None);
            continue;
        }
        // A record made from the row above has its label's words (none
        // when the label is empty: the page then gives it no words at
        // all); so has a prose item without words of its own.
        let from_label =
            found.is_none() || (objective.key_results[i].text.is_empty() && row.text.is_some());
        let kr = &mut objective.key_results[i];
        if let Some(id) = row.kr_id {
            if kr.id != id {
                renamed.push((i, std::mem::replace(&mut kr.id, id)));
            }
        }
        if kr.text.is_empty() {
            if let Some(text) = row.text {
                for t in tasks_in_text(&text) {
                    if !kr.links.contains(&t) {
                        kr.links.push(t);
                    }
                }
                kr.text = text;
            }
        }
        if from_label {
            from_labels.push(i);
        }
        marked.extend(row.marked.iter().map(|q| (i, *q)));
        slots.push(Some(i));
        if row.baseline.is_some() {
            kr.baseline = row.baseline;
        }
        kr.year_goal = row.year_goal;
        for (quarter, status, note) in row.quarters {
            let entry = kr.quarters.entry(quarter).or_default();
            entry.status = status;
            entry.note = note;
        }
    }
    settle_ids(objective, &renamed, &name, warnings);
    let id = |i: usize| objective.key_results[i].id.clone();
    read.label_words.extend(from_labels.into_iter().map(id));
    read.table_rows
        .extend(slots.iter().flatten().map(|&i| id(i)));
    read.marked_notes
        .extend(marked.into_iter().map(|(i, q)| (id(i), q)));
    slots.into_iter().map(|slot| slot.map(id)).collect()
}

/// A status row's number: its label's, else the objective's n-th record of
/// its kind in page order, else n (or the next free number).
fn row_number(objective: &Objective, row: &table::StatusRow) -> u32 {
    row.number.unwrap_or_else(|| {
        let of_kind: Vec<u32> = objective
            .key_results
            .iter()
            .filter(|k| k.kind == row.kind)
            .map(|k| k.number)
            .collect();
        match of_kind.get(row.position as usize - 1) {
            Some(n) => *n,
            None if !of_kind.contains(&row.position) => row.position,
            None => of_kind.iter().max().copied().unwrap_or(0) + 1,
        }
    })
}

/// The record a staff row (or a metric's row) of no record in the text
/// makes: its label's words, the section's managers for a key result; the
/// id of the KR it was (`known`, see [`Owner::known`]), else its number's.
fn record_of_row(
    objective: &Objective,
    row: &table::StatusRow,
    number: u32,
    managers: &[String],
    known: Option<String>,
) -> KeyResult {
    let text = row.text.clone().unwrap_or_default();
    KeyResult {
        id: known.unwrap_or_else(|| free_id(objective, row.kind, number)),
        kind: row.kind,
        number,
        links: tasks_in_text(&text).collect(),
        text,
        managers: if row.kind == Kind::Metric {
            Vec::new()
        } else {
            managers.to_vec()
        },
        baseline: None,
        year_goal: None,
        quarters: BTreeMap::new(),
    }
}

/// The id of a record made from a status row: its number's, or the next
/// one no record of the objective holds (a row took that id already).
fn free_id(objective: &Objective, kind: Kind, number: u32) -> String {
    (number..)
        .map(|n| format!("{}/{}{n}", objective.id, kind.id_stem()))
        .find(|id| !objective.key_results.iter().any(|k| &k.id == id))
        .unwrap_or_default()
}

/// Once every row of a table gave its record the id it carries (rows swap
/// ids when staff swap lines), no two records of the objective may share
/// one: a record renamed to an id another still holds (a row pasted twice
/// under other labels) gets its own id back, or the next free one, with a
/// warning (two records with one id would be one to the store).
fn settle_ids(
    objective: &mut Objective,
    renamed: &[(usize, String)],
    name: &str,
    warnings: &mut Vec<String>,
) {
    for (i, own) in renamed {
        let taken = |o: &Objective, id: &str| {
            o.key_results
                .iter()
                .enumerate()
                .any(|(j, k)| j != *i && k.id == id)
        };
        if !taken(objective, &objective.key_results[*i].id) {
            continue;
        }
        let kr = &objective.key_results[*i];
        let back = if taken(objective, own) {
            free_id(objective, kr.kind, kr.number)
        } else {
            own.clone()
        };
        warnings.push(format!(
            "status table {name}: row {} is another key result's id; read as {back}",
            kr.id
        ));
        objective.key_results[*i].id = back;
    }
}

/// A row label's words, whitespace collapsed (none for a bare `KRn`).
fn label_words(text: &Option<String>) -> String {
    words(text.as_deref().unwrap_or_default())
}

/// Whose a status row is ([`row_owner`]).
#[derive(Debug, Default)]
struct Owner {
    /// The objective's record it binds to (by index).
    found: Option<usize>,
    /// A row of the bot's whose KR left the text: not a record of its own.
    stale: bool,
    /// For a staff row of no record on the page: the id of the KR it was on
    /// the revision followed from (by its label's words, or its number
    /// there), so the record it makes is that KR, not a new one.
    known: Option<String>,
    /// The row could be either of two KRs (see [`staff_row_owner`]): the
    /// page waits for a person.
    doubt: Option<String>,
}

/// The objective's record a status row belongs to (by position), and
/// whether the row is stale. On a followed page a row is its id's KR
/// whatever its label says; a row whose id no KR has while its number is a
/// prose KR's is the row of a KR that left the text (stale, not a record of
/// its own); a staff row without an id is read by [`staff_row_owner`].
/// Otherwise (a page read for the first time, a metric) rows bind by kind
/// and `number`.
fn row_owner(
    objective: &Objective,
    row: &table::StatusRow,
    number: u32,
    following: Option<(&Following, bool)>,
) -> Owner {
    let by_number = |k: &KeyResult| k.kind == row.kind && k.number == number;
    let following = following.filter(|_| row.kind != Kind::Metric);
    match (&row.kr_id, following) {
        (Some(id), Some(_)) => {
            let found = objective.key_results.iter().position(|k| &k.id == id);
            Owner {
                found,
                stale: found.is_none() && objective.key_results.iter().any(by_number),
                ..Owner::default()
            }
        }
        (None, Some((f, shared))) => staff_row_owner(objective, row, number, f, shared),
        _ => Owner {
            found: objective.key_results.iter().position(by_number),
            ..Owner::default()
        },
    }
}

/// A staff row without an id on a followed page. Staff often change the
/// text and not the table (or the other way round), so a row's label is
/// read for what it says of the KR, never by its number alone where that
/// number is another KR's now than when the bot last read the page:
///
/// 1. a label with the words of exactly one KR of the text is that KR's
///    (staff moved the lines, not the table);
/// 2. a label with the words one KR had when the bot last read the page
///    (or that one of the objective's other KRs has in the store) is that
///    KR's: its line went and its row stayed (the KR is kept in the
///    table), or it was reworded in place;
/// 3. otherwise its number: the KR of that number now when it had the
///    number then too (or no KR had it then), or the KR that had it then
///    when that KR is on the page no more (its row stayed).
///
/// Rule 2 holds only for words that label no other row of the table
/// (`shared`) and that no KR of the page has: two rows with one label, or a
/// label with the words of two KRs, are told apart by their numbers.
///
/// Where the label says one KR and the page another (a KR of the text
/// reworded *and* renumbered, or a number that is another KR's now), the
/// row could be either: it is read as best it can be and the page waits
/// for a person (`identity_doubts`). Nothing else binds a row by the
/// numbers of the revision before, so the page reads the same followed
/// from that revision or from its own reading (push adopts a table by the
/// latter, and must tag each row as pull read it).
fn staff_row_owner(
    objective: &Objective,
    row: &table::StatusRow,
    number: u32,
    following: &Following,
    shared: bool,
) -> Owner {
    let label = label_words(&row.text);
    let position = |id: &str| objective.key_results.iter().position(|k| k.id == id);
    let bind = |found: usize| Owner {
        found: Some(found),
        ..Owner::default()
    };
    let doubt = |found: Option<usize>| Owner {
        found,
        doubt: Some(format!(
            "the row of {} {number}{} in a KR table staff wrote may be another key result's \
             than when the bot last read the page (the text or the table was renumbered, and \
             the bot cannot tell which row is which)",
            row.kind.as_str(),
            if label.is_empty() {
                String::new()
            } else {
                format!(" ({label:?})")
            },
        )),
        ..Owner::default()
    };
    let known = |id: &str| Owner {
        known: Some(id.to_string()),
        ..Owner::default()
    };
    let same: Vec<usize> = (0..objective.key_results.len())
        .filter(|&i| {
            let k = &objective.key_results[i];
            k.kind == row.kind && !label.is_empty() && words(&k.text) == label
        })
        .collect();
    if let [i] = same[..] {
        return bind(i);
    }
    // Words two KRs of the page have say nothing either.
    let by_words = (!shared && same.is_empty())
        .then(|| following.id_by_words(&objective.id, row.kind, &label))
        .flatten();
    if let Some(id) = by_words {
        return match position(id) {
            Some(i) if objective.key_results[i].number == number => bind(i),
            Some(i) => doubt(Some(i)),
            None => known(id),
        };
    }
    let now = objective
        .key_results
        .iter()
        .position(|k| k.kind == row.kind && k.number == number);
    match (now, following.id_by_number(&objective.id, row.kind, number)) {
        (Some(i), Some(then)) if objective.key_results[i].id != then => doubt(Some(i)),
        (Some(i), _) => bind(i),
        (None, Some(then)) if position(then).is_some() => doubt(None),
        (None, Some(then)) => known(then),
        (None, None) => Owner::default(),
    }
}

/// Two objectives with the same title would share an id; the later ones get
/// a numeric suffix and a warning, so ids stay unique.
fn dedupe_ids(
    objectives: &mut [Objective],
    warnings: &mut Vec<String>,
    read: &mut RowsRead,
    staff_tables: &mut BTreeMap<String, Vec<StaffTable>>,
) {
    let mut seen: Vec<String> = Vec::new();
    for objective in objectives.iter_mut() {
        if seen.contains(&objective.id) {
            let mut n = 2;
            while seen.contains(&format!("{}-{n}", objective.id)) {
                n += 1;
            }
            let id = format!("{}-{n}", objective.id);
            warnings.push(format!(
                "two objectives have the id {}; the later one is read as {id}",
                objective.id
            ));
            for kr in &mut objective.key_results {
                if let Some(rest) = kr.id.strip_prefix(objective.id.as_str()) {
                    let new = format!("{id}{rest}");
                    if read.table_rows.contains(&kr.id) {
                        read.table_rows.insert(new.clone());
                    }
                    if read.label_words.contains(&kr.id) {
                        read.label_words.insert(new.clone());
                    }
                    kr.id = new;
                }
            }
            // The first objective with the id keeps its staff tables; the
            // later one's cannot be told apart, so none is adopted.
            staff_tables.remove(&objective.id);
            objective.id = id;
        }
        seen.push(objective.id.clone());
    }
}

/// The start of a text, for warnings.
fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests;
