//! What a run did (its summary, counts, edits, conflicts and refused pages) and the bot status page that shows it.
//!
//! Pure: summaries in, wikitext out. Every value reaches the page escaped
//! (titles and user names become links only when they are safe as link
//! targets), so no value can open a table, a template, a request or a
//! signature.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::render::{escape, RenderError, Renderer, STATUS_PAGE};

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run id (`2021-01-05T10:00Z-1a2b`).
    pub run_id: String,
    /// What ran, as plain text: `sync`, `push 2020-21 Q3`.
    pub command: String,
    /// Who asked on the wiki; `None` for a run an operator or a schedule started.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it finished.
    pub finished: DateTime<Utc>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// What it counted.
    pub counts: RunCounts,
    /// The edits it saved, in order.
    pub edits: Vec<EditLink>,
    /// The conflicts it found.
    pub conflicts: Vec<ConflictLine>,
    /// The pages it left alone, with why.
    pub refused: Vec<RefusedPage>,
    /// What it did not do on pages it otherwise wrote, with why: staff
    /// tables it does not write into (the page is the title).
    #[serde(default)]
    pub warnings: Vec<RefusedPage>,
    /// Whether it was a dry run (nothing saved).
    pub dry_run: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Wiki and store already agreed.
    NothingToDo,
    /// Pages or records changed; nothing waits for a person.
    Changed,
    /// Conflicts or refused pages wait for a person (exit code 3).
    NeedsPerson,
    /// The run stopped with an error (exit code 1).
    Failed {
        /// The error, as the run reported it.
        error: String,
    },
}

impl RunOutcome {
    /// The outcome a run that did not fail had, from its counts: conflicts
    /// or refused pages need a person, else any edit or record changed is a
    /// change, else there was nothing to do.
    pub fn from_counts(counts: &RunCounts) -> RunOutcome {
        if counts.conflicts > 0 || counts.refused > 0 {
            RunOutcome::NeedsPerson
        } else if counts.edits > 0 || counts.records_changed > 0 || counts.pages_changed > 0 {
            RunOutcome::Changed
        } else {
            RunOutcome::NothingToDo
        }
    }

    /// `nothing-to-do`, `changed`, `needs-person`, `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::NothingToDo => "nothing-to-do",
            RunOutcome::Changed => "changed",
            RunOutcome::NeedsPerson => "needs-person",
            RunOutcome::Failed { .. } => "failed",
        }
    }

    /// The label people read: `Nothing to do`, `Changed`, `Needs a person`, `Failed`.
    pub fn label(&self) -> &'static str {
        match self {
            RunOutcome::NothingToDo => "Nothing to do",
            RunOutcome::Changed => "Changed",
            RunOutcome::NeedsPerson => "Needs a person",
            RunOutcome::Failed { .. } => "Failed",
        }
    }

    /// The symbol shown with the label, so the outcome never rests on colour.
    fn symbol(&self) -> &'static str {
        match self {
            RunOutcome::NothingToDo => "✓",
            RunOutcome::Changed => "✎",
            RunOutcome::NeedsPerson => "⚠",
            RunOutcome::Failed { .. } => "✖",
        }
    }

    /// Background and border of the outcome box (black text on each keeps
    /// a contrast above 12:1).
    fn colours(&self) -> (&'static str, &'static str) {
        match self {
            RunOutcome::NothingToDo => ("#eaecf0", "#72777d"),
            RunOutcome::Changed => ("#d5fdf4", "#14866d"),
            RunOutcome::NeedsPerson => ("#fef6e7", "#ac6600"),
            RunOutcome::Failed { .. } => ("#fee7e6", "#d73333"),
        }
    }
}

/// What a run counted (the numbers of `sync --json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Pages read.
    pub pages_checked: u64,
    /// Pages whose text changed.
    pub pages_changed: u64,
    /// Parsoid HTML fetches.
    pub html_fetches: u64,
    /// Action API requests.
    pub api_requests: u64,
    /// Edits saved.
    pub edits: u64,
    /// Store records changed.
    pub records_changed: u64,
    /// Conflicts found.
    pub conflicts: u64,
    /// Pages left alone by a safety guard or `{{nobots}}`.
    pub refused: u64,
}

/// One saved edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditLink {
    /// The page.
    pub title: String,
    /// The revision before; `None` when the edit created the page.
    pub oldrevid: Option<u64>,
    /// The revision saved.
    pub newrevid: u64,
}

impl EditLink {
    /// `[[Special:Diff/OLD/NEW|diff]]`, or `[[Special:PermanentLink/NEW|new page]]`
    /// for a creation.
    pub fn diff_link(&self) -> String {
        match self.oldrevid {
            Some(old) => format!("[[Special:Diff/{old}/{}|diff]]", self.newrevid),
            None => format!("[[Special:PermanentLink/{}|new page]]", self.newrevid),
        }
    }
}

/// A conflict waiting for a person (`goalsbot conflicts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictLine {
    /// The id `goalsbot resolve` takes.
    pub id: i64,
    /// The record (`2020-21/content-integrity/kr2`).
    pub record: String,
    /// The field (`Q3 status`).
    pub field: String,
    /// The page it was found on.
    pub page: Option<String>,
    /// The value on the wiki (`None`: not stated).
    pub wiki: Option<serde_json::Value>,
    /// The value in the store (`None`: not stated).
    pub store: Option<serde_json::Value>,
    /// Since when it waits.
    pub since: DateTime<Utc>,
    /// The revision of `page` that brought the wiki's value.
    #[serde(default)]
    pub revid: Option<u64>,
    /// Who saved that revision (`None`: hidden or unknown).
    #[serde(default)]
    pub wiki_user: Option<String>,
    /// Who last changed the field in the store before the conflict.
    #[serde(default)]
    pub store_by: Option<StoreAuthor>,
}

/// Who made a store value: the provenance of the field's last change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StoreAuthor {
    /// A tracker edit (`set`, `import`, `resolve`, an on-wiki resolve) by this operator.
    Tracker {
        /// The operator as recorded: a name, or `User:Name (on-wiki request)`.
        operator: String,
    },
    /// A page's edit, pulled into the store.
    Wiki {
        /// Who saved the revision (`None`: hidden).
        user: Option<String>,
        /// The page.
        page: String,
        /// The revision.
        revid: u64,
    },
}

/// A page a run left alone, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedPage {
    /// The page.
    pub title: String,
    /// Why, in plain text.
    pub reason: String,
}

// ---------------------------------------------------------------------------
// Links that cannot break out

/// Whether `s` (collapsed) can stand as a link target and its own label:
/// nothing that ends or splits a link, opens a template, expands a
/// signature, decodes as an entity ([`escape::is_risky`]) or jumps to a
/// section.
fn is_safe_target(s: &str) -> bool {
    !s.is_empty() && !s.contains('#') && !escape::is_risky(s)
}

/// `[[User:X|X]]` (the link notifies X), or the escaped name when it could
/// not be a link target.
pub fn user_link(name: &str) -> String {
    let name = escape::collapse(name);
    if is_safe_target(&name) {
        format!("[[User:{name}|{name}]]")
    } else {
        escape::wikitext(&name)
    }
}

/// `[[User:X|X]]` for a user name taken from the wiki or the store, which
/// is untrusted text: linked only when MediaWiki could have a user of that
/// name (no `# < > [ ] | { } /`, no control characters, no `%` escapes, no
/// `~~~`) and it is safe as a link; otherwise shown escaped, not linked.
pub fn checked_user_link(name: &str) -> String {
    let name = escape::collapse(&name.replace('_', " "));
    let valid = !name.is_empty()
        && name.len() <= 255
        && !name.contains(['#', '<', '>', '[', ']', '|', '{', '}', '/'])
        && !name.chars().any(char::is_control)
        && !name.starts_with(':')
        && !has_percent_escape(&name);
    if valid && is_safe_target(&name) {
        format!("[[User:{name}|{name}]]")
    } else {
        escape::wikitext(&name)
    }
}

/// Whether `s` holds `%` and two hex digits, which no title may hold.
fn has_percent_escape(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// The wiki user an operator name stands for: `User:Name (on-wiki request)`
/// and `User:Name` are `Name`; a plain operator name is taken as a user name
/// (set `$GOALSBOT_OPERATOR` to your wiki user name).
fn operator_user(operator: &str) -> &str {
    let name = operator.trim();
    let name = name
        .strip_suffix("(on-wiki request)")
        .unwrap_or(name)
        .trim();
    match name.split_once(':') {
        Some((ns, rest)) if ns.trim().eq_ignore_ascii_case("user") => rest.trim(),
        _ => name,
    }
}

/// `[[Page]] ([[Special:Diff/REVID|rREVID]])`.
fn revision_link(page: &str, revid: Option<u64>) -> String {
    let page = page_link(page);
    match revid {
        Some(r) => format!("{page} ([[Special:Diff/{r}|r{r}]])"),
        None => page,
    }
}

impl StoreAuthor {
    /// Who made the store's value, with their link.
    fn text(&self) -> String {
        match self {
            StoreAuthor::Tracker { operator } => {
                let on_wiki = operator.trim_end().ends_with("(on-wiki request)");
                let user = checked_user_link(operator_user(operator));
                if on_wiki {
                    format!("{user} (on-wiki request)")
                } else {
                    format!("{user} (tracker edit)")
                }
            }
            StoreAuthor::Wiki { user, page, revid } => format!(
                "{} on {}",
                user.as_deref()
                    .map_or_else(|| "''(hidden user)''".to_string(), checked_user_link),
                revision_link(page, Some(*revid))
            ),
        }
    }
}

/// `[[Title]]`, or the escaped title when it could not be a link target.
pub fn page_link(title: &str) -> String {
    let title = escape::collapse(title);
    if is_safe_target(&title) {
        format!("[[{title}]]")
    } else {
        escape::wikitext(&title)
    }
}

/// `no edits`, `1 edit`, `2 edits`.
fn count(n: u64, one: &str, many: &str) -> String {
    match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// `2021-01-05 10:00:30 UTC`.
fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `42 s`, `3 min 5 s`, `1 h 2 min`.
fn duration_text(started: DateTime<Utc>, finished: DateTime<Utc>) -> String {
    let secs = (finished - started).num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// A store or wiki value of a conflict, as a cell shows it.
pub(crate) fn value_text(value: Option<&serde_json::Value>) -> String {
    const MAX: usize = 200;
    match value {
        None => "''(not stated)''".to_string(),
        Some(serde_json::Value::Null) => "''(none)''".to_string(),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => "''(empty)''".to_string(),
        Some(serde_json::Value::String(s)) => escape::wikitext(&shorten(s, MAX)),
        Some(other) => escape::wikitext(&shorten(&other.to_string(), MAX)),
    }
}

fn shorten(text: &str, max: usize) -> String {
    let text = escape::collapse(text);
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

// ---------------------------------------------------------------------------
// Views

/// A run as the templates see it: every string is wikitext, escaped.
#[derive(Debug, Serialize)]
pub(crate) struct RunView {
    run_id: String,
    command: String,
    requested_by: Option<String>,
    started: String,
    finished: String,
    duration: String,
    outcome: OutcomeView,
    counts: Vec<CountView>,
    totals: RunCounts,
    /// The counts as one sentence, for replies.
    counts_line: String,
    edits: Vec<EditView>,
    /// Edits not listed in `edits` (replies list a few).
    more_edits: usize,
    conflicts: usize,
    refused: Vec<RefusedView>,
    warnings: Vec<RefusedView>,
    dry_run: bool,
}

#[derive(Debug, Serialize)]
struct OutcomeView {
    key: &'static str,
    label: &'static str,
    symbol: &'static str,
    background: &'static str,
    border: &'static str,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct CountView {
    label: &'static str,
    value: u64,
}

#[derive(Debug, Serialize)]
struct EditView {
    page: String,
    diff: String,
}

#[derive(Debug, Serialize)]
struct RefusedView {
    page: String,
    reason: String,
}

/// Pages with a reason, as the status page and replies show them.
fn refused_views(pages: &[RefusedPage]) -> Vec<RefusedView> {
    pages
        .iter()
        .map(|r| RefusedView {
            page: page_link(&r.title),
            reason: escape::wikitext(&r.reason),
        })
        .collect()
}

/// Edits listed in full on the status page; replies list fewer.
const STATUS_EDITS: usize = 200;
const REPLY_EDITS: usize = 20;

impl OutcomeView {
    fn new(outcome: &RunOutcome) -> Self {
        let (background, border) = outcome.colours();
        OutcomeView {
            key: outcome.as_str(),
            label: outcome.label(),
            symbol: outcome.symbol(),
            background,
            border,
            error: match outcome {
                RunOutcome::Failed { error } => Some(escape::wikitext(&shorten(error, 500))),
                _ => None,
            },
        }
    }
}

impl RunView {
    fn with_edit_limit(run: &RunSummary, max_edits: usize) -> Self {
        let c = &run.counts;
        let counts = vec![
            CountView {
                label: "Pages checked",
                value: c.pages_checked,
            },
            CountView {
                label: "Pages changed",
                value: c.pages_changed,
            },
            CountView {
                label: "Edits",
                value: c.edits,
            },
            CountView {
                label: "Records changed",
                value: c.records_changed,
            },
            CountView {
                label: "Conflicts",
                value: c.conflicts,
            },
            CountView {
                label: "Pages refused",
                value: c.refused,
            },
            CountView {
                label: "HTML fetches",
                value: c.html_fetches,
            },
            CountView {
                label: "API requests",
                value: c.api_requests,
            },
        ];
        let counts_line = format!(
            "{}, {}, {}, {}, {}, {}; {}, {}",
            count(c.pages_checked, "page checked", "pages checked"),
            count(c.pages_changed, "page changed", "pages changed"),
            count(c.edits, "edit", "edits"),
            count(c.records_changed, "record changed", "records changed"),
            count(c.conflicts, "conflict", "conflicts"),
            count(c.refused, "page refused", "pages refused"),
            count(c.html_fetches, "HTML fetch", "HTML fetches"),
            count(c.api_requests, "API request", "API requests"),
        );
        RunView {
            run_id: escape::wikitext(&run.run_id),
            command: escape::wikitext(&run.command),
            requested_by: run.requested_by.as_deref().map(user_link),
            started: time_text(run.started),
            finished: time_text(run.finished),
            duration: duration_text(run.started, run.finished),
            outcome: OutcomeView::new(&run.outcome),
            counts,
            totals: *c,
            counts_line,
            edits: run
                .edits
                .iter()
                .take(max_edits)
                .map(|e| EditView {
                    page: page_link(&e.title),
                    diff: e.diff_link(),
                })
                .collect(),
            more_edits: run.edits.len().saturating_sub(max_edits),
            conflicts: run.conflicts.len(),
            refused: refused_views(&run.refused),
            warnings: refused_views(&run.warnings),
            dry_run: run.dry_run,
        }
    }

    /// The view of `run` for a reply.
    pub(crate) fn new(run: &RunSummary) -> Self {
        Self::with_edit_limit(run, REPLY_EDITS)
    }
}

/// A waiting conflict as the status page shows it. Everything in it is
/// the conflict's own (no run's time or counts), so its text stays the same
/// from run to run while it waits: the users it links are notified once,
/// by the revision where it first appears.
#[derive(Debug, Serialize)]
struct ConflictView {
    id: i64,
    record: String,
    field: String,
    /// The page with a link to the revision.
    page: Option<String>,
    wiki: String,
    store: String,
    /// Who saved the wiki's value (a user link, or escaped text).
    wiki_by: String,
    /// Who made the store's value.
    store_by: String,
    since: String,
    /// The on-wiki requests that settle it, shown inert (`<code><nowiki>…`).
    take_wiki: String,
    take_store: String,
}

impl ConflictView {
    fn new(c: &ConflictLine) -> Self {
        ConflictView {
            id: c.id,
            record: escape::wikitext(&c.record),
            field: escape::wikitext(&c.field),
            page: c.page.as_deref().map(|p| revision_link(p, c.revid)),
            wiki: value_text(c.wiki.as_ref()),
            store: value_text(c.store.as_ref()),
            wiki_by: c
                .wiki_user
                .as_deref()
                .map_or_else(|| "''(unknown)''".to_string(), checked_user_link),
            store_by: c
                .store_by
                .as_ref()
                .map_or_else(|| "''(unknown)''".to_string(), StoreAuthor::text),
            since: time_text(c.since),
            take_wiki: resolve_request(c.id, "wiki"),
            take_store: resolve_request(c.id, "store"),
        }
    }
}

/// `<code><nowiki>{{goalsbot|resolve|ID|SIDE}}</nowiki></code>`: the request
/// to paste on the command page, inert where it is shown.
pub fn resolve_request(id: i64, side: &str) -> String {
    format!("<code><nowiki>{{{{goalsbot|resolve|{id}|{side}}}}}</nowiki></code>")
}

/// Recent runs the status page lists at most.
const RECENT_RUNS: usize = 20;

#[derive(Debug, Serialize)]
struct StatusPageView {
    last: RunView,
    conflicts: Vec<ConflictView>,
    recent: Vec<RunView>,
    /// Where resolve requests go (a link), if known.
    command_page: Option<String>,
}

impl Renderer {
    /// The bot status page: the last run, what waits for a person, recent runs.
    pub fn status_page(
        &self,
        last: &RunSummary,
        pending_conflicts: &[ConflictLine],
        recent: &[RunSummary],
    ) -> Result<String, RenderError> {
        self.status_page_for(last, pending_conflicts, recent, None)
    }

    /// [`Renderer::status_page`], naming the command page where conflicts
    /// are settled by request.
    pub fn status_page_for(
        &self,
        last: &RunSummary,
        pending_conflicts: &[ConflictLine],
        recent: &[RunSummary],
        command_page: Option<&str>,
    ) -> Result<String, RenderError> {
        let view = StatusPageView {
            command_page: command_page.map(page_link),
            last: RunView::with_edit_limit(last, STATUS_EDITS),
            conflicts: pending_conflicts.iter().map(ConflictView::new).collect(),
            recent: recent
                .iter()
                .take(RECENT_RUNS)
                .map(|r| RunView::with_edit_limit(r, 0))
                .collect(),
        };
        self.render(STATUS_PAGE, &view)
    }
}

/// The whole bot status page (config `pages.status_page`), with the
/// built-in templates: `last` in full, the conflicts the store holds open,
/// the refused pages of `last`, and `recent` runs (newest first, at most 20
/// shown).
pub fn render_status_page(
    last: &RunSummary,
    pending_conflicts: &[ConflictLine],
    recent: &[RunSummary],
) -> Result<String, RenderError> {
    Renderer::builtin().status_page(last, pending_conflicts, recent)
}

/// [`render_status_page`], naming the command page (config `commands.page`)
/// where conflicts are settled by request.
pub fn render_status_page_for(
    last: &RunSummary,
    pending_conflicts: &[ConflictLine],
    recent: &[RunSummary],
    command_page: &str,
) -> Result<String, RenderError> {
    Renderer::builtin().status_page_for(last, pending_conflicts, recent, Some(command_page))
}

mod notice;
pub use notice::{notice_marker, noticed_ids, render_conflict_notice, Notice};

#[cfg(test)]
mod tests;
