//! `goalsbot push` and `new-quarter`: store → wiki. Plans each page's new wikitext (pure), then saves it.
//!
//! On a quarter page the bot writes only its status tables: a table is found
//! by its `data-goalsbot-objective` identity wherever staff moved it, and is
//! rewritten only when the data it shows (as last pulled) differs from the
//! store; a missing table is inserted at the end of the objective's Key
//! Results section. Every other byte of the page stays as it was. On the year
//! overview the bot writes only its marked region.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;

use anyhow::{anyhow, bail, Context, Result};

use crate::config::{Config, Credentials};
use crate::core::fields::{FieldKey, Fields, REMOVED};
use crate::core::parse::parse_quarter_page;
use crate::core::records::{FiscalYear, FiscalYearRecords, KeyResult, Objective, Quarter, Status};
use crate::core::render::{splice_region, Renderer};
use crate::error::{ExitCode, UsageError};
use crate::store::{EditEntry, PageCheck, Store};
use crate::wiki::{EditConflict, PageRevision, RevisionInfo, Wiki};

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

/// The byte range of the status table of `objective_id` in `wikitext`: from
/// the `{|` line carrying its `data-goalsbot-objective` to the matching `|}`
/// line (nested tables counted), newline excluded.
pub fn find_table(wikitext: &str, objective_id: &str) -> Option<Range<usize>> {
    let needle = regex::Regex::new(&format!(
        r#"data-goalsbot-objective\s*=\s*(?:"{id}"|'{id}'|{id}(?:\s|$))"#,
        id = regex::escape(objective_id)
    ))
    .ok()?;
    let mut offset = 0;
    let mut start: Option<usize> = None;
    let mut depth = 0usize;
    for line in wikitext.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let t = content.trim_start();
        match start {
            None => {
                if t.starts_with("{|") && needle.is_match(t) {
                    start = Some(offset);
                    depth = 1;
                }
            }
            Some(s) => {
                if t.starts_with("{|") {
                    depth += 1;
                } else if t.starts_with("|}") {
                    depth -= 1;
                    if depth == 0 {
                        return Some(s..offset + content.len());
                    }
                }
            }
        }
        offset += line.len();
    }
    None
}

/// Level (number of `=`) and text of a heading line, if it is one.
fn heading(line: &str) -> Option<(usize, &str)> {
    let t = line.trim_end();
    let level = t.chars().take_while(|c| *c == '=').count();
    if level == 0 || level > 6 || t.len() < 2 * level + 1 {
        return None;
    }
    let closing = t.chars().rev().take_while(|c| *c == '=').count();
    if closing < level {
        return None;
    }
    Some((level, t[level..t.len() - level].trim()))
}

/// Plain text of a heading for matching: links reduced to their labels, bold/italic dropped.
fn plain_heading(text: &str) -> String {
    let link = regex::Regex::new(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]").expect("static regex");
    link.replace_all(text, "$1")
        .replace("'''", "")
        .replace("''", "")
}

/// Where a new status table for `objective` goes: right after the last
/// non-blank line of its Key Results subsection, else of its section.
pub fn insertion_point(wikitext: &str, objective: &Objective) -> Option<usize> {
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut offset = 0;
    for line in wikitext.split_inclusive('\n') {
        lines.push((offset, line));
        offset += line.len();
    }
    let is_objective_heading = |text: &str| {
        let plain = plain_heading(text);
        let title = plain
            .rsplit_once(" - ")
            .map_or(plain.as_str(), |(_, t)| t)
            .trim();
        title == objective.title.trim()
    };
    let start = lines.iter().position(|(_, l)| {
        heading(l).is_some_and(|(lvl, text)| lvl <= 2 && is_objective_heading(text))
    })?;
    let section_end = lines[start + 1..]
        .iter()
        .position(|(_, l)| heading(l).is_some_and(|(lvl, _)| lvl <= 2))
        .map_or(lines.len(), |i| start + 1 + i);
    let kr_heading = lines[start + 1..section_end].iter().position(|(_, l)| {
        heading(l).is_some_and(|(lvl, text)| {
            lvl == 3 && plain_heading(text).to_lowercase().contains("key result")
        })
    });
    let region_end = match kr_heading {
        Some(i) => {
            let h = start + 1 + i;
            lines[h + 1..section_end]
                .iter()
                .position(|(_, l)| heading(l).is_some_and(|(lvl, _)| lvl <= 3))
                .map_or(section_end, |j| h + 1 + j)
        }
        None => section_end,
    };
    let last = lines[start..region_end]
        .iter()
        .rposition(|(_, l)| !l.trim().is_empty())?;
    let (off, line) = lines[start + last];
    Some(off + line.trim_end_matches(['\n', '\r']).len())
}

/// The line of the cell of `kr_id`'s row that carries `data-goalsbot-quarter=Qn`,
/// as a byte range within `table`, if it stands on a line of its own.
fn cell_line(table: &str, kr_id: &str, q: Quarter) -> Option<Range<usize>> {
    let row = regex::Regex::new(&format!(
        r#"data-goalsbot-kr\s*=\s*(?:"{id}"|'{id}'|{id}(?:\s|$))"#,
        id = regex::escape(kr_id)
    ))
    .ok()?;
    let cell = regex::Regex::new(&format!(r#"data-goalsbot-quarter\s*=\s*["']?{q}\b"#)).ok()?;
    let row_at = row.find(table)?.start();
    let mut offset = table[..row_at].rfind('\n').map_or(0, |i| i + 1);
    let mut first = true;
    for line in table[offset..].split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let t = content.trim_start();
        if !first && (t.starts_with("|-") || t.starts_with("|}")) {
            return None;
        }
        first = false;
        if cell.is_match(t) {
            // A cell line of its own: `| attrs | content`, no `||` joining another cell.
            let ok = t.starts_with('|') && !t.starts_with("||") && !t[1..].contains("||");
            return ok.then_some(offset..offset + content.len());
        }
        offset += line.len();
    }
    None
}

/// `existing` with the given cells' lines replaced by those of `rendered`;
/// `None` when a cell is not on a line of its own in either.
fn patch_cells(existing: &str, rendered: &str, cells: &[(String, Quarter)]) -> Option<String> {
    let mut out = existing.to_string();
    for (id, q) in cells {
        let new_line = &rendered[cell_line(rendered, id, *q)?];
        let at = cell_line(&out, id, *q)?;
        out.replace_range(at, new_line);
    }
    Some(out)
}

/// What a push would do to one quarter page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePlan {
    /// The page's new wikitext.
    pub text: String,
    /// Objectives whose table was added.
    pub added: Vec<String>,
    /// KR ids whose shown data changed, and in which quarters.
    pub changed: Vec<(String, BTreeSet<Quarter>)>,
    /// Things a person should know (a table that could not be placed).
    pub warnings: Vec<String>,
}

impl PagePlan {
    /// The edit summary (without the run id), saying what changed.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!(
                "added status tables for {} objectives",
                self.added.len()
            ));
        }
        if !self.changed.is_empty() {
            let quarters: BTreeSet<Quarter> = self
                .changed
                .iter()
                .flat_map(|(_, q)| q.iter().copied())
                .collect();
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
                "status of {} KRs{what} from tracker",
                self.changed.len()
            ));
        }
        format!("goalsbot: {}", parts.join("; "))
    }
}

/// Plans a quarter page: `shown` are the records parsed from its current
/// revision, `store` the store's records of the year.
pub fn plan_quarter_page(
    wikitext: &str,
    shown: &FiscalYearRecords,
    store: &FiscalYearRecords,
    renderer: &Renderer,
) -> Result<PagePlan> {
    let mut text = wikitext.to_string();
    let mut plan = PagePlan {
        text: String::new(),
        added: vec![],
        changed: vec![],
        warnings: vec![],
    };
    for page_obj in &shown.objectives {
        let Some(obj) = store.objectives.iter().find(|o| o.id == page_obj.id) else {
            continue;
        };
        let table = renderer.status_table(obj)?;
        match find_table(&text, &obj.id) {
            Some(range) => {
                let shown_rows: Vec<RowData> = page_obj.key_results.iter().map(row_data).collect();
                let store_rows: Vec<RowData> = obj.key_results.iter().map(row_data).collect();
                // A row staff deleted is put back even when it shows nothing.
                let rows_there = obj.key_results.iter().all(|k| {
                    text[range.clone()].contains(&format!("data-goalsbot-kr=\"{}\"", k.id))
                });
                let same_rows = rows_there
                    && page_obj
                        .key_results
                        .iter()
                        .map(|k| &k.id)
                        .eq(obj.key_results.iter().map(|k| &k.id));
                if same_rows && shown_rows == store_rows {
                    continue;
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
                            .filter(|q| {
                                s.3.iter().find(|e| e.0 == *q) != p.3.iter().find(|e| e.0 == *q)
                            })
                            .collect();
                        changed.push((s.0.clone(), quarters));
                    }
                }
                // Only status cells changed: patch just those lines, so a
                // table staff reformatted (e.g. VisualEditor's one cell per
                // line) keeps its shape. Anything else: the whole table.
                let only_cells = same_rows
                    && store_rows
                        .iter()
                        .zip(&shown_rows)
                        .all(|(s, p)| s.0 == p.0 && s.1 == p.1 && s.2 == p.2);
                // Each table is patched with its own changed cells only.
                let cells: Vec<(String, Quarter)> = changed
                    .iter()
                    .flat_map(|(id, qs)| qs.iter().map(move |q| (id.clone(), *q)))
                    .collect();
                plan.changed.extend(changed);
                let patched = if only_cells {
                    patch_cells(&text[range.clone()], &table, &cells)
                } else {
                    None
                };
                let new_table = patched.unwrap_or_else(|| table.trim_end_matches('\n').to_string());
                text.replace_range(range, &new_table);
            }
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

/// Plans the year overview: only the bot's region changes (appended when absent).
pub fn plan_overview(
    existing: Option<&str>,
    fy: &FiscalYear,
    store: &FiscalYearRecords,
    config: &Config,
    renderer: &Renderer,
) -> Result<String> {
    let content = renderer.overview(fy, store, |q| config.pages.quarter_page(fy, q))?;
    let page = existing.unwrap_or("");
    Ok(splice_region(page, "overview", &content)?)
}

/// Whether `{{nobots}}` / `{{bots|…}}` in the wikitext let `user` edit (the
/// convention of Template:Bots). `user` is the bot's name as the wiki says it
/// (`meta=userinfo`); names compare as MediaWiki's do (underscores are spaces,
/// case-blind here). An empty name (not known) is kept out of every page
/// whose `{{bots}}` names bots, so an unknown name can never slip past a `deny`.
pub fn bots_allowed(wikitext: &str, user: &str) -> bool {
    let re =
        regex::Regex::new(r"(?is)\{\{\s*(nobots|bots)\s*(\|[^}]*)?\}\}").expect("static regex");
    let norm = |n: &str| {
        n.replace('_', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let user = norm(user.split('@').next().unwrap_or(user));
    for c in re.captures_iter(wikitext) {
        let name = c[1].to_lowercase();
        let params = c
            .get(2)
            .map(|m| m.as_str().to_lowercase())
            .unwrap_or_default();
        if name == "nobots" {
            return false;
        }
        for p in params.split('|').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let names: Vec<String> = v.split(',').map(norm).collect();
            let mentions = names.iter().any(|n| n == "all" || *n == user);
            let names_bots = names.iter().any(|n| !n.is_empty() && n != "none");
            match k.trim() {
                "deny" | "allow" if user.is_empty() && names_bots => return false,
                "deny" if mentions => return false,
                "allow" if names.iter().any(|n| n == "none") => return false,
                "allow" if !mentions => return false,
                _ => {}
            }
        }
    }
    true
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

/// What happened to one page in a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Missing,
    Edited {
        revid: u64,
        summary: String,
        lines_changed: usize,
    },
    WouldEdit {
        diff: String,
    },
    Refused {
        reason: String,
    },
    Failed {
        error: String,
    },
    /// Not saved: the shutoff page stopped the run before this page's save
    /// (or before the page was looked at).
    Stopped {
        reason: String,
    },
}

/// The result of a push.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub run_id: String,
    pub pages: Vec<(String, Outcome)>,
    pub counts: crate::wiki::Counts,
    /// Set when the shutoff page stopped the push midway (why); the pages
    /// not saved are [`Outcome::Stopped`].
    pub stopped: Option<String>,
}

impl Report {
    /// 1 when a page failed, 3 when one was refused, else 0.
    pub fn exit_code(&self) -> ExitCode {
        if self
            .pages
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed { .. }))
        {
            ExitCode::Failed
        } else if self
            .pages
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Refused { .. }))
        {
            ExitCode::NeedsPerson
        } else {
            ExitCode::Ok
        }
    }

    /// One line per page, diffs for a dry run, then the counts.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut edits = 0;
        for (title, o) in &self.pages {
            let _ = match o {
                Outcome::Unchanged => writeln!(out, "unchanged  {title}"),
                Outcome::Missing => writeln!(out, "missing    {title} (no such page)"),
                Outcome::Edited {
                    revid,
                    summary,
                    lines_changed,
                } => {
                    edits += 1;
                    writeln!(out, "edited     {title} (revision {revid}, {lines_changed} lines changed): {summary}")
                }
                Outcome::WouldEdit { diff } => writeln!(out, "would edit {title}:\n{diff}"),
                Outcome::Refused { reason } => writeln!(out, "REFUSED    {title}: {reason}"),
                Outcome::Failed { error } => writeln!(out, "FAILED     {title}: {error}"),
                Outcome::Stopped { reason } => writeln!(out, "not saved {title}: {reason}"),
            };
        }
        if let Some(reason) = &self.stopped {
            let _ = writeln!(
                out,
                "STOPPED run {} before its next save: {reason}",
                self.run_id
            );
        }
        let _ = writeln!(
            out,
            "run {}: {} pages, {edits} edits; {} API requests, {} HTML fetches",
            self.run_id,
            self.pages.len(),
            self.counts.api_requests,
            self.counts.html_fetches
        );
        out
    }
}

/// Lines that differ between two texts (added plus removed).
pub fn lines_changed(old: &str, new: &str) -> usize {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .count()
}

/// Refuses writing commands without credentials, saying what to set.
pub fn require_credentials(creds: &Credentials, command: &str) -> Result<(), UsageError> {
    if creds.can_write() {
        return Ok(());
    }
    Err(UsageError::new(format!(
        "{command} writes to the wiki and needs a login: set {} and {} (a bot password from Special:BotPasswords), \
         or {}, or add [auth] to ~/.config/mwbot.toml",
        crate::config::ENV_USERNAME,
        crate::config::ENV_PASSWORD,
        crate::config::ENV_OAUTH2_TOKEN
    )))
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Saved {
    /// The new revision.
    pub(crate) newrevid: u64,
    /// The revision it replaced, as the wiki reports it (`None` for a creation).
    pub(crate) oldrevid: Option<u64>,
}

/// Saves `text` to `title` against `baserevid` (None: create only).
///
/// MediaWiki merges a save based on an older revision with the saves made
/// since when it can; [`Saved::oldrevid`] then differs from `baserevid`, and
/// the caller must pull the page again (the new revision holds someone
/// else's change too). When it cannot merge, this fails with [`EditConflict`].
pub(crate) async fn save(
    wiki: &Wiki,
    title: &str,
    text: &str,
    summary: &str,
    baserevid: Option<u64>,
) -> Result<Saved> {
    let mut params: Vec<(&str, String)> = vec![
        ("action", "edit".into()),
        ("title", title.into()),
        ("text", text.into()),
        ("summary", summary.into()),
        ("bot", "1".into()),
        ("format", "json".into()),
        ("formatversion", "2".into()),
    ];
    match baserevid {
        Some(rev) => {
            params.push(("baserevid", rev.to_string()));
            params.push(("nocreate", "1".into()));
        }
        None => params.push(("createonly", "1".into())),
    }
    let resp = wiki.api_edit(&params).await?;
    let edit = &resp["edit"];
    if edit["result"].as_str() != Some("Success") {
        bail!("the wiki did not save {title:?}: {resp}");
    }
    if edit["nochange"].as_bool() == Some(true) {
        let rev =
            baserevid.ok_or_else(|| anyhow!("no revision id in the edit answer for {title:?}"))?;
        return Ok(Saved {
            newrevid: rev,
            oldrevid: Some(rev),
        });
    }
    let newrevid = edit["newrevid"]
        .as_u64()
        .ok_or_else(|| anyhow!("no revision id in the edit answer for {title:?}"))?;
    Ok(Saved {
        newrevid,
        oldrevid: edit["oldrevid"].as_u64().filter(|r| *r != 0),
    })
}

/// Fetches a revision's wikitext (one API request).
async fn revision_wikitext(wiki: &Wiki, revid: u64) -> Result<String> {
    let rev = revid.to_string();
    let v = wiki
        .api_get(&[
            ("action", "query"),
            ("prop", "revisions"),
            ("revids", &rev),
            ("rvprop", "content"),
            ("rvslots", "main"),
            ("format", "json"),
            ("formatversion", "2"),
        ])
        .await?;
    v["query"]["pages"][0]["revisions"][0]["slots"]["main"]["content"]
        .as_str()
        .map(String::from)
        .with_context(|| format!("revision {revid} has no wikitext in the answer"))
}

/// After the bot's own edit, remember what the page now shows, so the next
/// pull need not fetch it and the next merge has the right base.
async fn refresh_page_state(
    wiki: &Wiki,
    store: &Store,
    title: &str,
    fy: &FiscalYear,
    q: Quarter,
    revid: u64,
) -> Result<()> {
    let html = wiki.revision_html(title, revid).await?;
    let parsed = parse_quarter_page(&html, fy, q);
    let records = FiscalYearRecords {
        fiscal_year: fy.clone(),
        objectives: parsed.objectives,
    };
    store
        .set_page_state(
            title,
            revid,
            chrono::Utc::now(),
            &records,
            Some(&parsed.table_rows),
        )
        .await
}

/// What every page of one push shares: the connections, the templates and the run.
pub struct PushContext<'a> {
    pub config: &'a Config,
    pub wiki: &'a Wiki,
    pub store: &'a Store,
    pub run_id: &'a str,
    pub dry_run: bool,
    /// The bot's user name, for `{{bots|deny=…}}`.
    pub user: &'a str,
    /// Latest revisions already fetched in this run (by `sync`), by title asked for.
    pub revisions: Option<&'a BTreeMap<String, PageRevision>>,
    /// A dry-run sync's view of the store after its pull.
    pub overlay: Option<&'a Overlay>,
}

/// What a dry-run pull would have written, for planning the push on top of it.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// The fields of each year after the pull.
    pub fields: BTreeMap<FiscalYear, Fields>,
    /// The sync state of each pulled page.
    pub pages: BTreeMap<String, (u64, FiscalYearRecords)>,
    /// Fields the pull would hold in conflict.
    pub conflicts: Vec<FieldKey>,
}

/// How many times a save is retried after an edit conflict (`sync.md`, push step 3).
pub const EDIT_CONFLICT_RETRIES: usize = 2;

/// One year as a push needs it: the store's fields and the fields in conflict.
struct Year {
    fields: Fields,
    pending: BTreeSet<FieldKey>,
}

impl PushContext<'_> {
    async fn year(&self, fy: &FiscalYear) -> Result<Year> {
        let prefix = format!("{fy}/");
        let mut pending: BTreeSet<FieldKey> = self
            .store
            .conflicts(false)
            .await?
            .into_iter()
            .map(|c| c.key)
            .filter(|k| k.record.starts_with(&prefix))
            .collect();
        let fields = match self.overlay.and_then(|o| o.fields.get(fy)) {
            Some(f) => f.clone(),
            None => self.store.load_fields(fy).await?,
        };
        if let Some(o) = self.overlay {
            pending.extend(
                o.conflicts
                    .iter()
                    .filter(|k| k.record.starts_with(&prefix))
                    .cloned(),
            );
        }
        Ok(Year { fields, pending })
    }

    /// The revision and records the page was last synced at.
    async fn page_state(&self, title: &str) -> Result<Option<(u64, FiscalYearRecords)>> {
        if let Some(p) = self.overlay.and_then(|o| o.pages.get(title)) {
            return Ok(Some(p.clone()));
        }
        Ok(self
            .store
            .page_state(title)
            .await?
            .map(|s| (s.revid, s.records)))
    }

    /// The digest of everything a page's plan depends on besides its revision.
    fn fingerprint(&self, renderer: &Renderer, title: &str, records: &FiscalYearRecords) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            env!("CARGO_PKG_VERSION"),
            &renderer.fingerprint(),
            title,
            &self.config.pages.prefix,
            self.user,
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(serde_json::to_vec(records).unwrap_or_default());
        format!("{:x}", h.finalize())
    }

    /// Whether the page was planned at `revid` with the same inputs before, and how that ended.
    async fn checked(&self, title: &str, revid: u64, fingerprint: &str) -> Result<Option<Outcome>> {
        let Some(check) = self.store.page_check(title).await? else {
            return Ok(None);
        };
        if check.revid != revid || check.fingerprint != fingerprint {
            return Ok(None);
        }
        Ok(Some(if check.outcome == "nobots" {
            nobots_refusal()
        } else {
            Outcome::Unchanged
        }))
    }

    /// Remembers that the page at `revid` needs nothing for these inputs (not in a dry run).
    async fn remember(
        &self,
        title: &str,
        revid: u64,
        fingerprint: &str,
        outcome: &str,
    ) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let check = PageCheck {
            revid,
            fingerprint: fingerprint.to_string(),
            outcome: outcome.to_string(),
        };
        self.store
            .set_page_check(title, &check, chrono::Utc::now())
            .await
    }

    /// Records an edit the bot saved.
    async fn log_edit(
        &self,
        title: &str,
        saved: Saved,
        base: Option<u64>,
        summary: &str,
    ) -> Result<()> {
        self.store
            .record_edit(&EditEntry {
                run_id: self.run_id.to_string(),
                at: chrono::Utc::now(),
                title: title.to_string(),
                old_revid: base,
                new_revid: saved.newrevid,
                summary: summary.to_string(),
            })
            .await
    }

    /// Right before a save, in a run that obeys the emergency stop: why not
    /// to save, when the shutoff page no longer says `run` (one API request).
    async fn stop_reason(&self) -> Result<Option<String>> {
        if self.dry_run || !self.wiki.obeys_shutoff() {
            return Ok(None);
        }
        crate::ops::runs::shutoff_reason(self.config, self.wiki, self.store, None)
            .await
            .context("looking at the shutoff page before saving")
    }

    /// The latest revision of one page, asked again (after an edit conflict).
    async fn latest(&self, title: &str) -> Result<Option<RevisionInfo>> {
        let mut revs = self.wiki.latest_revisions(&[title.to_string()]).await?;
        Ok(revs.pop().and_then(|r| r.latest))
    }
}

/// The records a quarter page should show: the store's, except that a field
/// in conflict keeps what the page shows now (push leaves it alone on both
/// sides until a person decides).
pub fn records_for_page(
    fy: &FiscalYear,
    store: &Fields,
    pending: &BTreeSet<FieldKey>,
    shown: &FiscalYearRecords,
) -> Result<FiscalYearRecords> {
    if pending.is_empty() {
        return Ok(crate::core::fields::unflatten(fy, store)?);
    }
    let shown_fields = crate::core::fields::flatten(shown);
    let shown_records: BTreeSet<&str> = shown_fields.keys().map(|k| k.record.as_str()).collect();
    let mut fields = store.clone();
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
            None => {
                fields.remove(key);
            }
        }
    }
    Ok(crate::core::fields::unflatten(fy, &fields)?)
}

/// Pushes the store to the quarter pages and overview pages of `fys` (all
/// configured years when empty); `only` limits it to those titles.
pub async fn push(ctx: &PushContext<'_>, fys: &[FiscalYear], only: &[String]) -> Result<Report> {
    let config = ctx.config;
    let wanted = |t: &str| only.is_empty() || only.iter().any(|o| o.replace('_', " ") == t);
    let renderer = Renderer::with_dir(config.pages.templates_dir.as_deref())?;
    let years: Vec<FiscalYear> = if fys.is_empty() {
        config.pages.fiscal_years.clone()
    } else {
        fys.to_vec()
    };
    let mut report = Report {
        run_id: ctx.run_id.to_string(),
        ..Report::default()
    };
    let mut fetched = BTreeMap::new();
    let known = match ctx.revisions {
        Some(known) => known,
        None => {
            let titles: Vec<String> = years
                .iter()
                .flat_map(|fy| year_titles(config, fy))
                .filter(|t| wanted(t))
                .collect();
            for rev in ctx.wiki.latest_revisions(&titles).await? {
                fetched.insert(rev.requested.clone(), rev);
            }
            &fetched
        }
    };
    for fy in &years {
        for (i, title) in year_titles(config, fy).iter().enumerate() {
            if !wanted(title) {
                continue;
            }
            let Some(rev) = known.get(title) else {
                continue;
            };
            if report.stopped.is_some() {
                // The emergency stop holds every further page: none is even read.
                report.pages.push((
                    title.clone(),
                    Outcome::Stopped {
                        reason: "the run stopped before this page".into(),
                    },
                ));
                continue;
            }
            let page = PageJob { fy, title, rev };
            let result = match Quarter::ALL.get(i) {
                Some(q) => push_quarter_page(ctx, &renderer, &page, *q).await,
                None => push_overview(ctx, &renderer, &page).await,
            };
            let outcome = result.unwrap_or_else(|e| {
                tracing::error!(page = %title, "push failed: {e:#}");
                Outcome::Failed {
                    error: format!("{e:#}"),
                }
            });
            if let Outcome::Stopped { reason } = &outcome {
                report.stopped = Some(reason.clone());
            }
            report.pages.push((title.clone(), outcome));
        }
    }
    report.counts = ctx.wiki.counters().snapshot();
    Ok(report)
}

/// The pages a push writes for a year: its four quarter pages, then its overview.
pub fn year_titles(config: &Config, fy: &FiscalYear) -> Vec<String> {
    let mut titles: Vec<String> = Quarter::ALL
        .iter()
        .map(|q| config.pages.quarter_page(fy, *q))
        .collect();
    titles.push(config.pages.overview_page(fy));
    titles
}

/// One page of a push: its title and latest revision.
struct PageJob<'a> {
    fy: &'a FiscalYear,
    title: &'a str,
    rev: &'a PageRevision,
}

/// The refusal for a page that asks bots to stay away.
fn nobots_refusal() -> Outcome {
    Outcome::Refused {
        reason: "the page asks bots to stay away ({{nobots}} / {{bots}}); left alone".into(),
    }
}

async fn push_quarter_page(
    ctx: &PushContext<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    q: Quarter,
) -> Result<Outcome> {
    if let Some(reason) = page.rev.redirect_refusal() {
        return Ok(Outcome::Refused { reason });
    }
    let Some(first) = &page.rev.latest else {
        return Ok(Outcome::Missing);
    };
    let mut latest = first.clone();
    let mut edited: Option<Outcome> = None;
    for attempt in 0..=EDIT_CONFLICT_RETRIES {
        let Some((synced, shown)) = ctx
            .page_state(page.title)
            .await?
            .filter(|(revid, _)| *revid == latest.revid)
        else {
            return Ok(Outcome::Refused {
                reason: "the page changed since the last pull (or a guard refused it); \
                         nothing is written until it merges"
                    .into(),
            });
        };
        let year = ctx.year(page.fy).await?;
        let records = records_for_page(page.fy, &year.fields, &year.pending, &shown)?;
        let fingerprint = ctx.fingerprint(renderer, page.title, &records);
        if let Some(done) = ctx.checked(page.title, synced, &fingerprint).await? {
            return Ok(edited.unwrap_or(done));
        }
        let current = revision_wikitext(ctx.wiki, synced).await?;
        if !bots_allowed(&current, ctx.user) {
            ctx.remember(page.title, synced, &fingerprint, "nobots")
                .await?;
            return Ok(nobots_refusal());
        }
        let plan = plan_quarter_page(&current, &shown, &records, renderer)?;
        for w in &plan.warnings {
            tracing::warn!(page = %page.title, "{w}");
        }
        if plan.text == current {
            ctx.remember(page.title, synced, &fingerprint, "unchanged")
                .await?;
            return Ok(edited.unwrap_or(Outcome::Unchanged));
        }
        if ctx.dry_run {
            return Ok(Outcome::WouldEdit {
                diff: unified_diff(page.title, &current, &plan.text),
            });
        }
        let summary = format!("{} [run {}]", plan.summary(), ctx.run_id);
        if let Some(reason) = ctx.stop_reason().await? {
            tracing::warn!(page = %page.title, "not saved: {reason}");
            return Ok(Outcome::Stopped { reason });
        }
        // Written before the save: a run killed after the save but before the
        // page's new state is recorded lets the next pull recognise the
        // bot's own revision (see `pull::recover_own_save`).
        ctx.store
            .set_push_intent(page.title, synced, ctx.run_id, chrono::Utc::now())
            .await?;
        crate::fault::reached("push.before-save");
        let saved = match save(
            ctx.wiki,
            &page.rev.title,
            &plan.text,
            &summary,
            Some(synced),
        )
        .await
        {
            Ok(saved) => saved,
            Err(e) if e.downcast_ref::<EditConflict>().is_some() => {
                tracing::warn!(page = %page.title, attempt, "edit conflict: pulling the page again");
                latest = repull(ctx, page, q).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        ctx.log_edit(page.title, saved, Some(synced), &summary)
            .await?;
        crate::fault::reached("push.after-save");
        edited = Some(Outcome::Edited {
            revid: saved.newrevid,
            summary,
            lines_changed: lines_changed(&current, &plan.text),
        });
        if saved.oldrevid == Some(synced) {
            refresh_page_state(ctx.wiki, ctx.store, page.title, page.fy, q, saved.newrevid).await?;
            ctx.store.clear_push_intent(page.title).await?;
            ctx.remember(page.title, saved.newrevid, &fingerprint, "unchanged")
                .await?;
            return Ok(edited.unwrap_or(Outcome::Unchanged));
        }
        // The wiki merged our save with one made since we read the page: the
        // new revision holds that person's change too. Pull it like any other.
        tracing::warn!(page = %page.title, "someone saved the page meanwhile; merging their change");
        ctx.store.clear_push_intent(page.title).await?;
        latest = repull(ctx, page, q).await?;
    }
    Ok(Outcome::Failed {
        error: format!(
            "the page kept changing while the bot saved it ({} edit conflicts); nothing of it was lost, run again later",
            EDIT_CONFLICT_RETRIES + 1
        ),
    })
}

/// After an edit conflict: pull the page's latest revision into the store
/// (three-way merge, conflicts held), and return that revision.
async fn repull(ctx: &PushContext<'_>, page: &PageJob<'_>, q: Quarter) -> Result<RevisionInfo> {
    let latest = ctx
        .latest(page.title)
        .await?
        .with_context(|| format!("{:?} was deleted while the bot saved it", page.title))?;
    let target = crate::ops::pull::Target {
        title: page.title.to_string(),
        fiscal_year: page.fy.clone(),
        quarter: q,
    };
    let opts = crate::ops::pull::Options {
        run_id: ctx.run_id,
        dry_run: false,
        max_removed_share: ctx.config.pages.max_removed_share,
    };
    let outcome = crate::ops::pull::pull_page(
        ctx.wiki,
        ctx.store,
        &target,
        &page.rev.title,
        &latest,
        &opts,
    )
    .await?;
    if let crate::ops::pull::Outcome::Refused { reason, .. } = outcome {
        bail!("after an edit conflict the page was refused: {reason}");
    }
    Ok(latest)
}

async fn push_overview(
    ctx: &PushContext<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
) -> Result<Outcome> {
    if let Some(reason) = page.rev.redirect_refusal() {
        return Ok(Outcome::Refused { reason });
    }
    let year = ctx.year(page.fy).await?;
    let records = crate::core::fields::unflatten(page.fy, &year.fields)?;
    if records.objectives.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    let fingerprint = ctx.fingerprint(renderer, page.title, &records);
    let mut latest = page.rev.latest.clone();
    for attempt in 0..=EDIT_CONFLICT_RETRIES {
        if let Some(l) = &latest {
            if let Some(done) = ctx.checked(page.title, l.revid, &fingerprint).await? {
                return Ok(done);
            }
        }
        let current = match &latest {
            Some(l) => Some(revision_wikitext(ctx.wiki, l.revid).await?),
            None => None,
        };
        let base = latest.as_ref().map(|l| l.revid);
        if current
            .as_deref()
            .is_some_and(|c| !bots_allowed(c, ctx.user))
        {
            if let Some(b) = base {
                ctx.remember(page.title, b, &fingerprint, "nobots").await?;
            }
            return Ok(nobots_refusal());
        }
        let new = plan_overview(current.as_deref(), page.fy, &records, ctx.config, renderer)?;
        if current.as_deref() == Some(new.as_str()) {
            if let Some(b) = base {
                ctx.remember(page.title, b, &fingerprint, "unchanged")
                    .await?;
            }
            return Ok(Outcome::Unchanged);
        }
        let old = current.unwrap_or_default();
        if ctx.dry_run {
            return Ok(Outcome::WouldEdit {
                diff: unified_diff(page.title, &old, &new),
            });
        }
        let summary = format!("goalsbot: year overview from tracker [run {}]", ctx.run_id);
        if let Some(reason) = ctx.stop_reason().await? {
            tracing::warn!(page = %page.title, "not saved: {reason}");
            return Ok(Outcome::Stopped { reason });
        }
        let saved = match save(ctx.wiki, &page.rev.title, &new, &summary, base).await {
            Ok(saved) => saved,
            Err(e) if e.downcast_ref::<EditConflict>().is_some() => {
                tracing::warn!(page = %page.title, attempt, "edit conflict: reading the page again");
                latest = ctx.latest(page.title).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        ctx.log_edit(page.title, saved, base, &summary).await?;
        ctx.remember(page.title, saved.newrevid, &fingerprint, "unchanged")
            .await?;
        return Ok(Outcome::Edited {
            revid: saved.newrevid,
            summary,
            lines_changed: lines_changed(&old, &new),
        });
    }
    Ok(Outcome::Failed {
        error: format!(
            "the page kept changing while the bot saved it ({} edit conflicts); run again later",
            EDIT_CONFLICT_RETRIES + 1
        ),
    })
}

/// Creates `{prefix}/{FY} {Qn}` from the store; refuses when it exists.
pub async fn new_quarter(
    config: &Config,
    wiki: &Wiki,
    store: &Store,
    fy: &FiscalYear,
    q: Quarter,
    run_id: &str,
    dry_run: bool,
) -> Result<String> {
    let title = config.pages.quarter_page(fy, q);
    let records = store.load(fy).await?;
    if records.objectives.is_empty() {
        return Err(UsageError::new(format!(
            "the store has no objectives for {fy}: pull the year's other quarter pages (or import) first"
        ))
        .into());
    }
    let rev = wiki.latest_revisions(std::slice::from_ref(&title)).await?;
    if rev[0].latest.is_some() {
        return Err(UsageError::new(format!(
            "{title:?} already exists; new-quarter only creates missing pages"
        ))
        .into());
    }
    let text = Renderer::with_dir(config.pages.templates_dir.as_deref())?.new_quarter(
        fy,
        q,
        &records,
        &config.pages.prefix,
    )?;
    if dry_run {
        return Ok(format!("would create {title}:\n{text}"));
    }
    let summary = format!("goalsbot: new quarter page from the goals tracker [run {run_id}]");
    let newrev = save(wiki, &title, &text, &summary, None).await?.newrevid;
    refresh_page_state(wiki, store, &title, fy, q, newrev).await?;
    Ok(format!(
        "created {title} (revision {newrev}) [run {run_id}]\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
