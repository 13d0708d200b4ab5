//! `goalsbot pull`: wiki → store. Checks revisions in batches, parses changed pages, applies their changes.
//!
//! As `docs/sync.md`, "Pull", says: a page whose latest revision is the one last
//! synced is skipped; a changed page is fetched, parsed and merged three ways
//! ([`crate::core::merge`]: base = the records of the revision last synced, wiki =
//! the records now, store = the store's values). Its changes, its new sync
//! state, its new conflicts and the conflicts it settled are written in one
//! transaction.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{Config, Credentials};
use crate::core::colour::Palette;
use crate::core::fields::{self, describe_change, show_value, FieldChange, FieldKey, Fields};
use crate::core::identity::Following;
use crate::core::merge::{
    merge_page, past_words, structure_hold, MergeInput, PastWords, PendingConflict, SinceBase,
};
use crate::core::parse::{parse_quarter_page_after, ParsedPage};
use crate::core::plan::DryMerge;
use crate::core::records::{FiscalYear, FiscalYearRecords, Quarter};
use crate::error::{ExitCode, UsageError};
use crate::ops::Session;
use crate::store::{NewConflict, PageMerge, PageState, Provenance, Source, Store};
use crate::wiki::{Counts, Wiki};

/// A quarter page to pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub title: String,
    pub fiscal_year: FiscalYear,
    pub quarter: Quarter,
}

/// What happened to one page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The latest revision is the one last synced: not fetched.
    Unchanged { revid: u64 },
    /// The page does not exist (yet).
    Missing,
    /// Fetched, parsed and applied.
    Pulled {
        revid: u64,
        objectives: usize,
        key_results: usize,
        changes: usize,
        /// New conflicts held for a person.
        conflicts: Vec<String>,
        /// Pending conflicts that wiki and store settled.
        settled: usize,
        warnings: Vec<String>,
        /// With `--dry-run`: the store changes that would have been made.
        planned: Vec<String>,
        /// With `--dry-run`: what the merge would do, for planning a push on top of it.
        #[serde(skip)]
        dry: Option<Box<DryMerge>>,
    },
    /// Left alone by a safety guard; nothing from it was applied.
    Refused { revid: u64, reason: String },
    /// An error stopped this page; nothing from it was applied.
    Failed { error: String },
}

/// The result of a pull over several pages.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub run_id: String,
    pub dry_run: bool,
    pub pages: Vec<(Target, Outcome)>,
    pub counts: Counts,
}

impl Report {
    /// 1 when a page failed, 3 when one was refused, else 0.
    pub fn exit_code(&self) -> ExitCode {
        let any = |f: fn(&Outcome) -> bool| self.pages.iter().any(|(_, o)| f(o));
        if any(|o| matches!(o, Outcome::Failed { .. })) {
            ExitCode::Failed
        } else if any(|o| {
            matches!(o, Outcome::Refused { .. })
                || matches!(o, Outcome::Pulled { conflicts, .. } if !conflicts.is_empty())
        }) {
            ExitCode::NeedsPerson
        } else {
            ExitCode::Ok
        }
    }

    /// The `pull --json` object: the run, each page with its outcome, the
    /// counters and the exit code.
    pub fn to_json(&self) -> serde_json::Value {
        let pages: Vec<serde_json::Value> = self
            .pages
            .iter()
            .map(|(t, o)| {
                let mut v = serde_json::to_value(o).unwrap_or_default();
                v["title"] = t.title.clone().into();
                v["fiscal_year"] = t.fiscal_year.to_string().into();
                v["quarter"] = t.quarter.as_str().into();
                v
            })
            .collect();
        serde_json::json!({
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "pages": pages,
            "counts": self.counts,
            "exit_code": self.exit_code() as i32,
        })
    }

    /// The summary printed on stdout: one line per page, then totals.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let (mut changed, mut unchanged, mut missing, mut refused, mut failed, mut fields) =
            (0, 0, 0, 0, 0, 0);
        for (t, o) in &self.pages {
            let line = match o {
                Outcome::Unchanged { revid } => {
                    unchanged += 1;
                    format!("unchanged  {} (revision {revid})", t.title)
                }
                Outcome::Missing => {
                    missing += 1;
                    format!("missing    {} (no such page)", t.title)
                }
                Outcome::Pulled {
                    revid,
                    objectives,
                    key_results,
                    changes,
                    conflicts,
                    settled,
                    warnings,
                    planned,
                    dry: _,
                } => {
                    changed += 1;
                    fields += changes;
                    let verb = if self.dry_run {
                        "would change"
                    } else {
                        "changed"
                    };
                    let mut l = format!(
                        "pulled     {} (revision {revid}): {objectives} objectives, {key_results} key results, {changes} fields {verb}",
                        t.title
                    );
                    for c in conflicts {
                        let _ = write!(l, "\n           CONFLICT {c}");
                    }
                    if *settled > 0 {
                        let _ = write!(
                            l,
                            "\n           {settled} conflicts settled (wiki and store agree now)"
                        );
                    }
                    for w in warnings {
                        let _ = write!(l, "\n           warning: {w}");
                    }
                    for p in planned {
                        let _ = write!(l, "\n           {p}");
                    }
                    l
                }
                Outcome::Refused { revid, reason } => {
                    refused += 1;
                    format!("REFUSED    {} (revision {revid}): {reason}", t.title)
                }
                Outcome::Failed { error } => {
                    failed += 1;
                    format!("FAILED     {}: {error}", t.title)
                }
            };
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(
            out,
            "{}run {}: {} pages checked, {changed} pulled, {unchanged} unchanged, {missing} missing, {refused} refused, {failed} failed; \
             {fields} fields changed; {} API requests, {} HTML fetches",
            if self.dry_run { "dry run (store not changed) " } else { "" },
            self.run_id,
            self.pages.len(),
            self.counts.api_requests,
            self.counts.html_fetches
        );
        out
    }
}

/// The pages to pull: the `--page` titles (which must be quarter pages under
/// the prefix), else every quarter page of the `--fy` years, else of all configured years.
pub fn targets(
    config: &Config,
    fys: &[FiscalYear],
    pages: &[String],
) -> Result<Vec<Target>, UsageError> {
    if pages.is_empty() {
        return Ok(config
            .pages
            .quarter_pages(fys)
            .into_iter()
            .map(|(fiscal_year, quarter, title)| Target {
                title,
                fiscal_year,
                quarter,
            })
            .collect());
    }
    pages
        .iter()
        .map(|title| {
            let (fiscal_year, quarter) =
                config.pages.parse_quarter_title(title).ok_or_else(|| {
                    UsageError::new(format!(
                        "--page {title:?} is not a quarter page: expected \"{}/FY Qn\", e.g. {:?}",
                        config.pages.prefix,
                        config
                            .pages
                            .quarter_page(&FiscalYear::starting(2020), Quarter::Q2)
                    ))
                })?;
            Ok(Target {
                title: title.replace('_', " "),
                fiscal_year,
                quarter,
            })
        })
        .collect()
}

/// How a pull runs.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    pub run_id: &'a str,
    /// Plan and report the store changes, commit nothing.
    pub dry_run: bool,
    /// Refuse a page that lost more than this share of its records (`pages.max_removed_share`).
    pub max_removed_share: f64,
    /// How staff tables' colours read as statuses (`[status] colours`).
    pub palette: crate::core::colour::Palette,
    /// Pages whose latest revision is applied although its structure moves
    /// data between records (`pull --accept`; [`structure_hold`]).
    pub accept: Vec<String>,
    /// With `accept`: only a latest revision older than this one (the
    /// on-wiki request that accepted it) is applied: a person accepted
    /// the page as it stood when they asked, not an edit saved after.
    pub accept_before: Option<u64>,
}

impl<'a> Options<'a> {
    /// The options of run `run`'s pull (under the configuration's guards
    /// and colours, accepting no held page).
    pub fn of_run(run: &crate::ops::RunContext<'a>) -> Options<'a> {
        Options::new(run.config, run.run_id, run.dry_run)
    }

    /// A pull of run `run_id` under `config`'s guards and colours, accepting
    /// no held page (set [`Options::accept`] for `--accept`).
    pub fn new(config: &Config, run_id: &'a str, dry_run: bool) -> Options<'a> {
        Options {
            run_id,
            dry_run,
            max_removed_share: config.pages.max_removed_share,
            palette: config.palette(),
            accept: Vec::new(),
            accept_before: None,
        }
    }
}

/// `goalsbot pull`: prints one line per page and the totals; exit 3 when a page needs a person.
pub async fn command(
    config: &Config,
    creds: &Credentials,
    fys: &[FiscalYear],
    pages: &[String],
    accept: &[String],
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    let targets = targets(config, fys, pages)?;
    let session = Session::open(config, creds).await?;
    let opts = Options {
        accept: accept.iter().map(|t| t.replace('_', " ")).collect(),
        ..Options::new(config, &session.run_id, dry_run)
    };
    let run = async {
        let report = pull(&session.wiki, &session.store, &targets, &opts).await?;
        // A conflict this pull found reaches its people now, as after a sync
        // (posting needs a login: without one, the next sync posts it).
        let found = report
            .pages
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Pulled { conflicts, .. } if !conflicts.is_empty()));
        if found && !dry_run && creds.can_write() {
            if let Err(e) =
                crate::ops::runs::notify_conflicts(config, &session.wiki, &session.store).await
            {
                tracing::warn!(
                    "the conflict notice was not posted (the next run tries again): {e:#}"
                );
            }
        }
        crate::ops::print_report(json, || report.render(), || report.to_json());
        Ok(report.exit_code())
    };
    let out = session.writing(config, dry_run, run).await;
    session.close().await;
    out
}

/// Pulls the targets from the wiki into the store. Each page is applied in one
/// store transaction together with its new sync state: a failure leaves that
/// page as it was and the run goes on with the next.
pub async fn pull(
    wiki: &Wiki,
    store: &Store,
    targets: &[Target],
    opts: &Options<'_>,
) -> Result<Report> {
    let titles: Vec<String> = targets.iter().map(|t| t.title.clone()).collect();
    let revisions = wiki
        .latest_revisions(&titles)
        .await
        .context("checking the latest revisions of the goals pages")?;
    pull_revisions(wiki, store, targets, revisions, opts).await
}

/// [`pull`] with the latest revisions of the targets already known (in target order).
pub async fn pull_revisions(
    wiki: &Wiki,
    store: &Store,
    targets: &[Target],
    revisions: Vec<crate::wiki::PageRevision>,
    opts: &Options<'_>,
) -> Result<Report> {
    let Options {
        run_id, dry_run, ..
    } = *opts;
    let progress = progress_bar(targets.len());
    let mut report = Report {
        run_id: run_id.to_string(),
        dry_run,
        ..Report::default()
    };
    // A dry run merges each page onto what the pages before it would have written.
    let mut dry_fields: std::collections::BTreeMap<FiscalYear, Fields> = Default::default();
    // Where every page was last synced, and which have a push intent: two
    // queries for the whole pull, not two a page.
    let synced = store.synced_revisions().await?;
    let intents = store.push_intent_titles().await?;
    let pairs: Vec<(&Target, crate::wiki::PageRevision)> = targets.iter().zip(revisions).collect();
    // The HTML of the pages that changed is read ahead in the wiki's read
    // pool while the pages before it are merged, in order.
    let wanted = changed_pages(&synced, &intents, &pairs);
    let mut ahead = ReadAhead::new(wiki, wanted);
    for (i, (target, rev)) in pairs.into_iter().enumerate() {
        ahead.fill(i);
        progress.set_message(target.title.clone());
        // Never pulled through a redirect: the target is not this page.
        let outcome = match (rev.redirect_refusal(), rev.latest) {
            (_, None) => Outcome::Missing,
            (Some(reason), Some(latest)) => Outcome::Refused {
                revid: latest.revid,
                reason,
            },
            // Synced at this revision: nothing to read (a stopped run's
            // own save is looked for only when the revision moved).
            (None, Some(latest)) if synced.get(&target.title) == Some(&latest.revid) => {
                Outcome::Unchanged {
                    revid: latest.revid,
                }
            }
            (None, Some(latest)) => {
                let dry = if dry_run {
                    if !dry_fields.contains_key(&target.fiscal_year) {
                        let f = store.load_fields(&target.fiscal_year).await?;
                        dry_fields.insert(target.fiscal_year.clone(), f);
                    }
                    dry_fields.get_mut(&target.fiscal_year)
                } else {
                    None
                };
                let html = match ahead.take(i, latest.revid) {
                    Some(pending) => Some(pending.html().await),
                    None => None,
                };
                match pull_page_onto(
                    wiki,
                    store,
                    target,
                    &rev.title,
                    &latest,
                    opts,
                    Onto {
                        dry_fields: dry,
                        html,
                    },
                )
                .await
                {
                    Ok(o) => o,
                    Err(e) if crate::store::is_store_error(&e) => {
                        return Err(e.context(format!("pulling {:?}", target.title)));
                    }
                    Err(e) => {
                        tracing::error!(page = %target.title, "pull failed: {e:#}");
                        Outcome::Failed {
                            error: format!("{e:#}"),
                        }
                    }
                }
            }
        };
        tracing::info!(page = %target.title, outcome = ?outcome_kind(&outcome), "page done");
        report.pages.push((target.clone(), outcome));
        progress.inc(1);
    }
    progress.finish_and_clear();
    report.counts = wiki.counters().snapshot();
    tracing::info!(
        html_fetches = report.counts.html_fetches,
        at_once = wiki.most_reads_at_once(),
        "page reads done"
    );
    Ok(report)
}

fn outcome_kind(o: &Outcome) -> &'static str {
    match o {
        Outcome::Unchanged { .. } => "unchanged",
        Outcome::Missing => "missing",
        Outcome::Pulled { .. } => "pulled",
        Outcome::Refused { .. } => "refused",
        Outcome::Failed { .. } => "failed",
    }
}

/// Pulls one page at its latest revision `latest` (merging it three ways into the store).
pub async fn pull_page(
    wiki: &Wiki,
    store: &Store,
    target: &Target,
    resolved_title: &str,
    latest: &crate::wiki::RevisionInfo,
    opts: &Options<'_>,
) -> Result<Outcome> {
    pull_page_onto(
        wiki,
        store,
        target,
        resolved_title,
        latest,
        opts,
        Onto::default(),
    )
    .await
}

/// How many pages ahead of the one being merged their HTML is read (at
/// most `wiki.reads_in_flight` of them at once): enough to keep the read
/// pool busy while a page merges, few enough that the pages read ahead and
/// not yet merged stay a few megabytes.
const READ_AHEAD: usize = 16;

/// The pages (by position, with title and revision) whose HTML the pull will
/// read: those that changed since they were last synced. A page with a push
/// intent is left to [`pull_page_onto`]: a stopped run's own save may make
/// it unchanged, and its HTML would be read for nothing. A single page is
/// read by [`pull_page_onto`] itself (it reads as fast alone).
fn changed_pages(
    synced: &std::collections::BTreeMap<String, u64>,
    intents: &std::collections::BTreeSet<String>,
    pairs: &[(&Target, crate::wiki::PageRevision)],
) -> std::collections::VecDeque<(usize, String, u64)> {
    let wanted: std::collections::VecDeque<(usize, String, u64)> = pairs
        .iter()
        .enumerate()
        .filter(|(_, (target, rev))| !rev.redirected && !intents.contains(&target.title))
        .filter_map(|(i, (target, rev))| {
            let latest = rev.latest.as_ref()?;
            (synced.get(&target.title) != Some(&latest.revid))
                .then(|| (i, rev.title.clone(), latest.revid))
        })
        .collect();
    if wanted.len() < 2 {
        return Default::default();
    }
    wanted
}

/// The HTML reads running ahead of the merge ([`READ_AHEAD`] pages).
struct ReadAhead {
    reader: crate::wiki::HtmlReader,
    /// Pages not started yet, in order.
    todo: std::collections::VecDeque<(usize, String, u64)>,
    /// Reads started, by position.
    running: std::collections::BTreeMap<usize, (u64, crate::wiki::PendingHtml)>,
}

impl ReadAhead {
    fn new(wiki: &Wiki, todo: std::collections::VecDeque<(usize, String, u64)>) -> Self {
        ReadAhead {
            reader: wiki.html_reader(),
            todo,
            running: Default::default(),
        }
    }

    /// Starts the reads of the pages up to [`READ_AHEAD`] positions after `at`.
    fn fill(&mut self, at: usize) {
        while let Some((i, _, _)) = self.todo.front() {
            if *i > at + READ_AHEAD {
                break;
            }
            let Some((i, title, revid)) = self.todo.pop_front() else {
                break;
            };
            let pending = self.reader.spawn(&title, revid);
            self.running.insert(i, (revid, pending));
        }
    }

    /// The read of the page at `at`, if it was read ahead at revision `revid`.
    fn take(&mut self, at: usize, revid: u64) -> Option<crate::wiki::PendingHtml> {
        let (read, pending) = self.running.remove(&at)?;
        (read == revid).then_some(pending)
    }
}

/// What [`pull_page_onto`] starts from besides the store.
#[derive(Default)]
struct Onto<'a> {
    /// In a dry run: the year as the dry run's earlier pages left it, which
    /// takes the planned changes.
    dry_fields: Option<&'a mut Fields>,
    /// The page's HTML when it was read ahead ([`ReadAhead`]).
    html: Option<Result<String>>,
}

/// [`pull_page`], merged onto what `onto` says.
async fn pull_page_onto(
    wiki: &Wiki,
    store: &Store,
    target: &Target,
    resolved_title: &str,
    latest: &crate::wiki::RevisionInfo,
    opts: &Options<'_>,
    onto: Onto<'_>,
) -> Result<Outcome> {
    let Onto {
        dry_fields,
        html: prefetched,
    } = onto;
    let state = synced_state(wiki, store, target, resolved_title, latest, opts).await?;
    if state
        .as_ref()
        .is_some_and(|s| s.revid == latest.revid && s.current_parser)
    {
        return Ok(Outcome::Unchanged {
            revid: latest.revid,
        });
    }
    let current = match &dry_fields {
        Some(f) => (*f).clone(),
        None => store.load_fields(&target.fiscal_year).await?,
    };
    let (history, past, following) =
        following_of_state(store, &target.fiscal_year, state.as_ref(), &current).await?;
    let (records, parsed) = read_revision(
        wiki,
        (target, resolved_title, latest),
        &opts.palette,
        (following.as_ref(), state.as_ref().map(|s| &s.records)),
        prefetched,
    )
    .await?;
    let pending = pending_of_year(store, &target.fiscal_year).await?;
    // A label left as a KR's only words on the page does not reword it.
    let read = crate::core::merge::unread_labels(
        &records,
        &parsed.label_words,
        state.as_ref().map(|s| &s.records),
        state.as_ref().and_then(|s| s.label_words.as_ref()),
    );
    let synced = state
        .as_ref()
        .map(|st| (target.title.as_str(), st.synced_at));
    let since_base = match synced {
        Some(s) => Some(since_base(store, &target.fiscal_year, s, &current, &history).await?),
        None => None,
    };
    let plan = merge_page(
        &MergeInput {
            page: &target.title,
            quarter: target.quarter,
            base: state.as_ref().map(|s| &s.records),
            wiki: &read,
            store: &current,
            pending: &pending,
            since_base: since_base.as_ref(),
            table_rows: Some(&parsed.table_rows),
            base_rows: state.as_ref().and_then(|s| s.table_rows.as_ref()),
        },
        opts.max_removed_share,
    );
    if let Some(reason) = plan.refused {
        return Ok(Outcome::Refused {
            revid: latest.revid,
            reason: format!("{reason} (blanked or vandalised?); nothing from it was applied"),
        });
    }
    let base = state.as_ref().map(|s| &s.records);
    let found = Found {
        base,
        read: &read,
        doubts: &parsed.identity_doubts,
    };
    if let Some(refused) = structure_check(target, latest, opts, &found, &current, &past) {
        return Ok(refused);
    }
    let described: Vec<String> = plan.conflicts.iter().map(describe_conflict).collect();
    for c in &described {
        tracing::warn!(page = %target.title, "conflict held for a person: {c}");
    }
    let kept = Kept {
        target,
        latest,
        records: &records,
        reading: crate::core::parse::PageReading {
            table_rows: &parsed.table_rows,
            label_words: &parsed.label_words,
        },
    };
    let (applied, planned, dry) = kept.keep(store, opts, dry_fields, &plan).await?;
    Ok(Outcome::Pulled {
        revid: latest.revid,
        objectives: records.objectives.len(),
        key_results: records.objectives.iter().map(|o| o.key_results.len()).sum(),
        changes: applied,
        conflicts: described,
        settled: plan.settled.len(),
        warnings: parsed.warnings,
        planned,
        dry,
    })
}

/// The year's whole history, read once for a page (what the tracker made
/// since the base, and the words each KR's text ever had, for following and
/// the structure hold), and what the bot knows to follow the page's key
/// results by: each keeps the id it had on the revision last synced
/// (`state`; `None`: never synced).
async fn following_of_state(
    store: &Store,
    fy: &FiscalYear,
    state: Option<&PageState>,
    current: &Fields,
) -> Result<(
    Vec<crate::store::HistoryEntry>,
    PastWords,
    Option<Following>,
)> {
    let history = store
        .history_since(fy, chrono::DateTime::UNIX_EPOCH)
        .await?;
    let past = past_words(
        history
            .iter()
            .map(|h| (&h.key, h.old.as_ref(), h.new.as_ref())),
    );
    // The words up to the base's sync: a later tracker edit says nothing of
    // what the page's words were.
    let following = state.map(|s| {
        let until_base = history.iter().filter(|h| h.provenance.at <= s.synced_at);
        let past = past_words(until_base.map(|h| (&h.key, h.old.as_ref(), h.new.as_ref())));
        Following::of_store(&s.records, current).with_past(past)
    });
    Ok((history, past, following))
}

/// The page's revision read and parsed: its records (a note written with
/// markup gets its wikitext from the page's source: one more request, only
/// for pages whose status cells hold markup; a cell the table reader is
/// unsure of keeps the wikitext of `base`, the revision last synced, for
/// the same words) and the rest of the parse.
async fn read_revision(
    wiki: &Wiki,
    (target, resolved_title, latest): (&Target, &str, &crate::wiki::RevisionInfo),
    palette: &Palette,
    (following, base): (Option<&Following>, Option<&FiscalYearRecords>),
    prefetched: Option<Result<String>>,
) -> Result<(FiscalYearRecords, ParsedPage)> {
    let html = match prefetched {
        Some(html) => html?,
        None => wiki.revision_html(resolved_title, latest.revid).await?,
    };
    // The parser is synchronous and its DOM is not Send: keep it out of any await.
    let mut parsed = parse_quarter_page_after(
        &html,
        &target.fiscal_year,
        target.quarter,
        palette,
        following,
    );
    for w in &parsed.warnings {
        tracing::warn!(page = %target.title, "{w}");
    }
    let mut records = FiscalYearRecords {
        fiscal_year: target.fiscal_year.clone(),
        objectives: std::mem::take(&mut parsed.objectives),
    };
    if !parsed.marked_notes.is_empty() {
        let text = wiki.revision_wikitext(latest.revid).await?;
        crate::core::notes::attach(&text, &mut records, &parsed.marked_notes, base);
    }
    Ok((records, parsed))
}

/// The refusal of a page whose structure changed suspiciously against its
/// `base` ([`structure_hold`], with the words each KR ever had from
/// `history`), unless a person accepted this revision.
fn structure_check(
    target: &Target,
    latest: &crate::wiki::RevisionInfo,
    opts: &Options<'_>,
    found: &Found<'_>,
    current: &Fields,
    past: &crate::core::merge::PastWords,
) -> Option<Outcome> {
    let accepted = opts.accept.contains(&target.title)
        && opts
            .accept_before
            .is_none_or(|before| latest.revid < before);
    if accepted {
        return None;
    }
    let reason = structure_hold(found.base, found.read, current, past);
    let reason = match (reason, found.doubts.is_empty()) {
        (reason, true) => reason?,
        (None, false) => format!(
            "it renumbered key results in a way the bot cannot follow ({}); held for a person",
            found.doubts.join("; ")
        ),
        (Some(r), false) => format!("{r}; and {}", found.doubts.join("; ")),
    };
    Some(structure_refused(target, latest, opts, &reason))
}

/// A revision as read, against the one last synced: what the structure
/// check looks at.
struct Found<'a> {
    base: Option<&'a FiscalYearRecords>,
    read: &'a FiscalYearRecords,
    /// Key results the read could not follow ([`ParsedPage::identity_doubts`]).
    doubts: &'a [String],
}

/// The refusal of a page whose structure changed in a way that would move
/// data between records ([`structure_hold`]'s `reason`), with how to go on.
fn structure_refused(
    target: &Target,
    latest: &crate::wiki::RevisionInfo,
    opts: &Options<'_>,
    reason: &str,
) -> Outcome {
    if opts.accept.contains(&target.title) {
        return Outcome::Refused {
            revid: latest.revid,
            reason: format!(
                "{reason}: not applied, because the page was saved again (r{}) after the \
                 request that accepted it; look at the page again and, if it is right, \
                 ask again",
                latest.revid
            ),
        };
    }
    Outcome::Refused {
        revid: latest.revid,
        reason: format!(
            "{reason}: nothing from it was applied; revert or repair the page, or apply it \
             as it is with `goalsbot pull --accept \"{}\"` or an on-wiki \
             {{{{goalsbot|accept|{} {}}}}}",
            target.title, target.fiscal_year, target.quarter
        ),
    }
}

/// A pulled revision whose merge plan is to be kept.
struct Kept<'a> {
    target: &'a Target,
    latest: &'a crate::wiki::RevisionInfo,
    records: &'a FiscalYearRecords,
    reading: crate::core::parse::PageReading<'a>,
}

impl Kept<'_> {
    /// Commits the plan to the store in one transaction with the page's new
    /// state, or — in a dry run — keeps it as data (the year's `dry_fields`
    /// take its changes, so the next page merges onto them). Returns the
    /// changes made (or planned), their description in a dry run, and the plan.
    async fn keep(
        &self,
        store: &Store,
        opts: &Options<'_>,
        dry_fields: Option<&mut Fields>,
        plan: &crate::core::merge::MergePlan,
    ) -> Result<(usize, Vec<String>, Option<Box<DryMerge>>)> {
        if opts.dry_run {
            if let Some(f) = dry_fields {
                fields::apply(f, &plan.changes);
            }
            let dry = DryMerge {
                changes: plan.changes.clone(),
                records: self.records.clone(),
                conflicts: plan.conflicts.iter().map(|c| c.key.clone()).collect(),
            };
            let planned = plan.changes.iter().map(describe_change).collect();
            return Ok((plan.changes.len(), planned, Some(Box::new(dry))));
        }
        let conflicts: Vec<NewConflict> = plan.conflicts.iter().map(new_conflict).collect();
        let merge = PageMerge {
            title: &self.target.title,
            revid: self.latest.revid,
            records: self.records,
            conflicts: &conflicts,
            settled: &plan.settled,
            followed: &plan.followed,
            reading: Some(self.reading),
        };
        let provenance = provenance(self.target, self.latest, opts.run_id)?;
        let n = store
            .apply_merge(&provenance, &plan.changes, &merge)
            .await?;
        Ok((n, Vec::new(), None))
    }
}

/// The page's sync state: as stored, or — when the bot's own save was
/// interrupted before it was recorded — as that save left it (not in a dry run).
async fn synced_state(
    wiki: &Wiki,
    store: &Store,
    target: &Target,
    resolved_title: &str,
    latest: &crate::wiki::RevisionInfo,
    opts: &Options<'_>,
) -> Result<Option<PageState>> {
    let state = store.page_state(&target.title).await?;
    if let (Some(st), false) = (&state, opts.dry_run) {
        if st.revid != latest.revid
            && recover_own_save(wiki, store, target, resolved_title, st.revid, &opts.palette)
                .await?
        {
            return store.page_state(&target.title).await;
        }
    }
    Ok(state)
}

/// The conflicts pending on fields of year `fy`, as the merge takes them.
async fn pending_of_year(store: &Store, fy: &FiscalYear) -> Result<Vec<PendingConflict>> {
    let prefix = format!("{fy}/");
    Ok(store
        .conflicts(false)
        .await?
        .into_iter()
        .filter(|c| c.key.record.starts_with(&prefix))
        .map(|c| PendingConflict {
            key: c.key,
            page: c.page,
            wiki: c.wiki,
        })
        .collect())
}

/// Who, what and when for the store changes of a pulled revision.
fn provenance(
    target: &Target,
    latest: &crate::wiki::RevisionInfo,
    run_id: &str,
) -> Result<Provenance> {
    let timestamp = DateTime::parse_from_rfc3339(&latest.timestamp)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!(
                "revision {} has an unreadable timestamp {:?}",
                latest.revid, latest.timestamp
            )
        })?;
    Ok(Provenance {
        at: Utc::now(),
        run_id: run_id.to_string(),
        source: Source::Wiki {
            page: target.title.clone(),
            revid: latest.revid,
            user: (!latest.user.is_empty()).then(|| latest.user.clone()),
            timestamp,
        },
    })
}

/// A conflict the merge found, as the store keeps it.
fn new_conflict(c: &crate::core::merge::Conflict) -> NewConflict {
    NewConflict {
        key: c.key.clone(),
        base: c.base.clone(),
        wiki: c.wiki.clone(),
        store: c.store.clone(),
    }
}

/// One line for a conflict the merge found: `record field: store ≠ wiki`.
fn describe_conflict(c: &crate::core::merge::Conflict) -> String {
    format!(
        "{} {}: {} (store) ≠ {} (wiki)",
        c.key.record,
        c.key.field,
        show_value(&c.store),
        show_value(&c.wiki)
    )
}

/// Finishes a save a killed run did not record: when the bot noted it was
/// about to save `target` against revision `base` (the page's synced
/// revision) and the first revision after `base` is that save (its summary
/// names the run), that revision becomes the page's state — as the run would
/// have recorded it — so the pull that follows merges only what others did
/// since. Without this, the bot's own values would read as a person's edit
/// and could overwrite what the store learned meanwhile. Returns whether the
/// state moved. Costs one API request and one HTML fetch, only after a kill.
async fn recover_own_save(
    wiki: &Wiki,
    store: &Store,
    target: &Target,
    resolved_title: &str,
    base: u64,
    palette: &crate::core::colour::Palette,
) -> Result<bool> {
    let Some((intent_base, run_id, intended_at)) = store.push_intent(&target.title).await? else {
        return Ok(false);
    };
    let ours = if intent_base == base {
        wiki.next_revision(resolved_title, base)
            .await?
            .filter(|(_, _, comment)| comment.contains(&format!("[run {run_id}]")))
    } else {
        None
    };
    let Some((revid, _, comment)) = ours else {
        store.clear_push_intent(&target.title).await?;
        return Ok(false);
    };
    tracing::warn!(page = %target.title, revid, run = %run_id, "recording the bot's own save that a stopped run did not record");
    let html = wiki.revision_html(resolved_title, revid).await?;
    let following = following_of(store, &target.title).await?;
    let (records, rows, labels) = {
        let parsed = parse_quarter_page_after(
            &html,
            &target.fiscal_year,
            target.quarter,
            palette,
            following.as_ref(),
        );
        let records = FiscalYearRecords {
            fiscal_year: target.fiscal_year.clone(),
            objectives: parsed.objectives,
        };
        (records, parsed.table_rows, parsed.label_words)
    };
    let now = Utc::now();
    let logged = store
        .edits_of_run(&run_id)
        .await?
        .iter()
        .any(|e| e.new_revid == revid);
    if !logged {
        store
            .record_edit(&crate::store::EditEntry {
                run_id: run_id.clone(),
                at: now,
                title: target.title.clone(),
                old_revid: Some(base),
                new_revid: revid,
                summary: comment,
            })
            .await?;
    }
    // Synced as of the moment the save was planned, as the killed run would
    // have recorded it: store changes made since then are changes this
    // page's base did not see.
    store
        .set_page_state(
            &target.title,
            revid,
            intended_at,
            &records,
            Some(crate::core::parse::PageReading {
                table_rows: &rows,
                label_words: &labels,
            }),
        )
        .await?;
    store.clear_push_intent(&target.title).await?;
    Ok(true)
}

/// The fields whose store value a tracker edit made, at any time: the last
/// change of the field in history was a tracker edit, or a person decided
/// to keep the store's value after it ([`SinceBase::tracker_values`]).
fn tracker_values(
    history: &[crate::store::HistoryEntry],
    closed: &[crate::store::StoredConflict],
) -> std::collections::BTreeSet<FieldKey> {
    let mut last: std::collections::BTreeMap<FieldKey, (DateTime<Utc>, bool)> = Default::default();
    for e in history {
        let tracker = matches!(e.provenance.source, Source::Tracker { .. });
        last.insert(e.key.clone(), (e.provenance.at, tracker));
    }
    for c in closed {
        if let Some(r) = c
            .resolution
            .as_ref()
            .filter(|r| r.how == crate::store::Settlement::Store)
        {
            let entry = last.entry(c.key.clone()).or_insert((r.at, true));
            if r.at >= entry.0 {
                *entry = (r.at, true);
            }
        }
    }
    last.into_iter()
        .filter(|(_, (_, tracker))| *tracker)
        .map(|(k, _)| k)
        .collect()
}

/// What the store did since `synced_at` (a page's last sync), from its history.
///
/// A person who settled a conflict of this page by taking the page's value
/// settled that field as of the decision: for that field (only), the
/// changes up to the decision are ones the page's base has seen. The other
/// fields keep the page's own sync time, so a tracker edit of another field
/// made before the decision, and not yet written to the page, still counts.
/// `history` is the year's whole history (read once by the caller).
async fn since_base(
    store: &Store,
    fy: &FiscalYear,
    (page, synced_at): (&str, DateTime<Utc>),
    current: &Fields,
    history: &[crate::store::HistoryEntry],
) -> Result<SinceBase> {
    let since = store.history_since(fy, synced_at).await?;
    let closed = store.conflicts(true).await?;
    let mut seen_until: std::collections::BTreeMap<FieldKey, DateTime<Utc>> = Default::default();
    for c in &closed {
        if let Some(r) = c.resolution.as_ref().filter(|r| {
            c.page == page && r.how == crate::store::Settlement::Wiki && r.at > synced_at
        }) {
            let until = seen_until.entry(c.key.clone()).or_insert(r.at);
            *until = (*until).max(r.at);
        }
    }
    let after_base =
        |key: &FieldKey, at: DateTime<Utc>| seen_until.get(key).is_none_or(|u| at > *u);
    let since: Vec<crate::store::HistoryEntry> = since
        .into_iter()
        .filter(|e| after_base(&e.key, e.provenance.at))
        .collect();
    let mut then = current.clone();
    let mut tracker_changed = std::collections::BTreeSet::new();
    for e in since.iter().rev() {
        match &e.old {
            Some(v) => then.insert(e.key.clone(), v.clone()),
            None => then.remove(&e.key),
        };
        if matches!(e.provenance.source, Source::Tracker { .. }) {
            tracker_changed.insert(e.key.clone());
        }
    }
    let tracker_values = tracker_values(history, &closed);
    // A person's decision to keep the store's value is the tracker's word
    // on the field too, though history has no entry for it (nothing changed).
    for c in closed {
        if c.resolution.as_ref().is_some_and(|r| {
            r.how == crate::store::Settlement::Store && r.at > synced_at && after_base(&c.key, r.at)
        }) {
            tracker_changed.insert(c.key);
        }
    }
    Ok(SinceBase {
        store_then: then,
        tracker_changed,
        tracker_values,
        changes: since
            .into_iter()
            .map(|e| FieldChange {
                key: e.key,
                old: e.old,
                new: e.new,
            })
            .collect(),
    })
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub(crate) fn progress_bar(len: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

/// How to read the bot's own save on page `title`: each KR keeps the id
/// its number had in the revision last synced, which the save was made on
/// (`None`: never synced).
async fn following_of(store: &Store, title: &str) -> Result<Option<Following>> {
    let state = store.page_state(title).await?;
    Ok(state.map(|s| Following::of_own_save(&s.records)))
}

/// After the bot's own edit, remember what the page now shows, so the next
/// pull need not fetch it and the next merge has the right base.
pub(crate) async fn refresh_page_state(
    wiki: &Wiki,
    store: &Store,
    title: &str,
    fy: &FiscalYear,
    q: Quarter,
    revid: u64,
    palette: &crate::core::colour::Palette,
) -> Result<()> {
    let html = wiki.revision_html(title, revid).await?;
    let following = following_of(store, title).await?;
    let parsed = parse_quarter_page_after(&html, fy, q, palette, following.as_ref());
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
            Some(crate::core::parse::PageReading {
                table_rows: &parsed.table_rows,
                label_words: &parsed.label_words,
            }),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fields::{FieldKey, REMOVED};
    use crate::core::records::{KeyResult, Kind, Objective, QuarterEntry, Status};
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn fy() -> FiscalYear {
        FiscalYear::starting(2020)
    }

    fn kr(n: u32, text: &str, q: Option<(Quarter, QuarterEntry)>) -> KeyResult {
        KeyResult {
            id: format!("2020-21/a/kr{n}"),
            kind: Kind::KeyResult,
            number: n,
            text: text.into(),
            managers: vec!["Ann".into()],
            baseline: None,
            year_goal: None,
            links: vec![],
            quarters: q.into_iter().collect::<BTreeMap<_, _>>(),
        }
    }

    fn page(krs: Vec<KeyResult>) -> FiscalYearRecords {
        FiscalYearRecords {
            fiscal_year: fy(),
            objectives: vec![Objective {
                id: "2020-21/a".into(),
                program: None,
                title: "A".into(),
                managers: vec![],
                description: None,
                status: BTreeMap::new(),
                target_quarter: None,
                department: None,
                key_results: krs,
            }],
        }
    }

    fn status(s: Status) -> QuarterEntry {
        QuarterEntry {
            status: Some(s),
            ..QuarterEntry::default()
        }
    }

    /// The store changes merging the page brings (no pending conflicts, no guard).
    fn page_changes(
        quarter: Quarter,
        base: Option<&FiscalYearRecords>,
        new: &FiscalYearRecords,
        store: &Fields,
    ) -> Vec<FieldChange> {
        let input = MergeInput {
            page: "test page",
            quarter,
            base,
            wiki: new,
            store,
            pending: &[],
            since_base: None,
            table_rows: None,
            base_rows: None,
        };
        let plan = merge_page(&input, 1.0);
        assert!(plan.conflicts.is_empty(), "{plan:?}");
        plan.changes
    }

    #[test]
    fn first_pull_applies_everything_the_page_states() {
        let new = page(vec![kr(1, "one", None)]);
        let changes = page_changes(Quarter::Q1, None, &new, &Fields::new());
        assert!(changes
            .iter()
            .all(|c| c.old.is_none() && c.new.as_ref().is_some_and(|v| !v.is_null())));
        let mut store = Fields::new();
        fields::apply(&mut store, &changes);
        assert_eq!(fields::unflatten(&fy(), &store).unwrap(), new);
    }

    #[test]
    fn a_page_that_does_not_show_a_value_does_not_erase_it() {
        // regression: the Q4 page (no status table) wiped statuses read from the Q3 table.
        let q3 = page(vec![kr(
            1,
            "one",
            Some((Quarter::Q1, status(Status::OnTrack))),
        )]);
        let mut store = Fields::new();
        let first = page_changes(Quarter::Q1, None, &q3, &store);
        fields::apply(&mut store, &first);
        let q4 = page(vec![kr(1, "one", None)]);
        let changes = page_changes(Quarter::Q1, None, &q4, &store);
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_page_does_not_speak_for_other_quarters_goals() {
        // regression: the Q3 page's status table (Q1 column) emptied the goals written on the Q1 page.
        let goals = QuarterEntry {
            goals: vec!["Hire 1 SRE".into()],
            ..QuarterEntry::default()
        };
        let q1 = page(vec![kr(1, "one", Some((Quarter::Q1, goals.clone())))]);
        let mut store = Fields::new();
        let first = page_changes(Quarter::Q1, None, &q1, &store);
        fields::apply(&mut store, &first);
        let q3 = page(vec![kr(
            1,
            "one",
            Some((Quarter::Q1, status(Status::Complete))),
        )]);
        let changes = page_changes(Quarter::Q3, None, &q3, &store);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(
            changes[0].key,
            FieldKey::new("2020-21/a/kr1", "quarters.Q1.status")
        );
        fields::apply(&mut store, &changes);
        let entry = &fields::unflatten(&fy(), &store).unwrap().objectives[0].key_results[0]
            .quarters[&Quarter::Q1];
        assert_eq!(entry.goals, goals.goals);
        assert_eq!(entry.status, Some(Status::Complete));
    }

    #[test]
    fn only_what_changed_on_the_page_is_applied() {
        let base = page(vec![kr(1, "one", None), kr(2, "two", None)]);
        let mut store = Fields::new();
        let first = page_changes(Quarter::Q1, None, &base, &store);
        fields::apply(&mut store, &first);
        // Someone else (another page, the tracker) changed KR2's text meanwhile.
        let k2 = FieldKey::new("2020-21/a/kr2", "text");
        store.insert(k2.clone(), Value::String("two (tracker)".into()));
        let now = page(vec![kr(1, "one, edited", None), kr(2, "two", None)]);
        let changes = page_changes(Quarter::Q1, Some(&base), &now, &store);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].key, FieldKey::new("2020-21/a/kr1", "text"));
        assert_eq!(changes[0].old, Some(Value::String("one".into())));
    }

    #[test]
    fn records_leaving_the_page_are_marked_removed_and_come_back() {
        let base = page(vec![kr(1, "one", None), kr(2, "two", None)]);
        let mut store = Fields::new();
        let first = page_changes(Quarter::Q1, None, &base, &store);
        fields::apply(&mut store, &first);
        let without = page(vec![kr(1, "one", None)]);
        let changes = page_changes(Quarter::Q1, Some(&base), &without, &store);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].key, FieldKey::new("2020-21/a/kr2", REMOVED));
        fields::apply(&mut store, &changes);
        assert_eq!(fields::unflatten(&fy(), &store).unwrap(), without);
        let back = page_changes(Quarter::Q1, Some(&without), &base, &store);
        fields::apply(&mut store, &back);
        assert_eq!(fields::unflatten(&fy(), &store).unwrap(), base);
    }

    #[test]
    fn run_ids_look_like_the_spec() {
        let t = DateTime::parse_from_rfc3339("2020-12-01T10:00:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = crate::ops::runs::new_run_id(t);
        assert!(
            regex::Regex::new(r"^2020-12-01T10:00Z-[0-9a-f]{4}$")
                .unwrap()
                .is_match(&id),
            "{id}"
        );
    }
}
