//! `goalsbot push`: store → wiki. Plans each page's new wikitext against its year (`core::plan`), then saves it.
//!
//! On a quarter page the bot writes only its status tables: a table is found
//! by its `data-goalsbot-objective` identity wherever staff moved it, and is
//! rewritten only when the data it shows (as last pulled) differs from the
//! store; a missing table is inserted at the end of the objective's Key
//! Results section. Every other byte of the page stays as it was. On the year
//! overview the bot writes only its marked region.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{Config, Credentials};
use crate::core::fields::FieldKey;
use crate::core::identity::Following;
use crate::core::parse::parse_quarter_page_after;
use crate::core::plan::{
    lines_changed, plan_overview, plan_quarter_page_with, records_for_page, unified_diff, Adoption,
    YearView,
};
use crate::core::records::{FiscalYear, FiscalYearRecords, Quarter};
use crate::core::render::Renderer;
use crate::core::table_check;
use crate::core::wikitext::bots_allowed;
use crate::error::ExitCode;
use crate::ops::Session;
use crate::store::{CheckOutcome, EditEntry, PageCheck, PageState, Provenance, Source, Store};
use crate::wiki::{EditConflict, NotABot, PageRevision, RevisionInfo, Saved, Wiki};

// The job files share this module's imports and items (`use super::*`): one
// module, split by job.
mod checks;
mod decision;
mod overview;
mod quarter;

pub use checks::load_view;
use checks::*;
pub(crate) use checks::{sync_inputs_digest, PLANNER};
use decision::*;
use overview::*;
use quarter::*;

/// What happened to one page in a push.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
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
    /// What the plans could not do on pages they otherwise wrote, `(page, why)`.
    pub warnings: Vec<(String, String)>,
    /// Pages answered unchanged without being planned: nothing their year's
    /// plans depend on changed since a push found nothing to do on any of
    /// its pages.
    pub unplanned: usize,
    /// Years whose pages all need nothing now, as far as the store and the
    /// revisions this push saw or saved say: skipped, found needing
    /// nothing, or saved and checked again ([`settle_saved_years`]). Their
    /// digests are kept, so the next push with the same inputs skips them.
    pub settled: BTreeSet<FiscalYear>,
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

    /// The `push --json` object: the run, each page with its outcome (a
    /// dry run's diff included), warnings, the counters and the exit code.
    pub fn to_json(&self) -> serde_json::Value {
        let pages: Vec<serde_json::Value> = self
            .pages
            .iter()
            .map(|(title, o)| {
                let mut v = serde_json::to_value(o).unwrap_or_default();
                v["title"] = title.clone().into();
                v
            })
            .collect();
        let warnings: Vec<serde_json::Value> = self
            .warnings
            .iter()
            .map(|(page, message)| serde_json::json!({"page": page, "message": message}))
            .collect();
        serde_json::json!({
            "run_id": self.run_id,
            "pages": pages,
            "stopped": self.stopped,
            "warnings": warnings,
            "unplanned": self.unplanned,
            "counts": self.counts,
            "exit_code": self.exit_code() as i32,
        })
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
        let unplanned = match self.unplanned {
            0 => String::new(),
            n => format!(" ({n} not planned: nothing their year shows changed since a push found nothing to do)"),
        };
        let _ = writeln!(
            out,
            "run {}: {} pages{unplanned}, {edits} edits; {} API requests, {} HTML fetches",
            self.run_id,
            self.pages.len(),
            self.counts.api_requests,
            self.counts.html_fetches
        );
        out
    }
}

/// What every page of one push shares: the run, and the revisions already read.
pub struct PushContext<'a> {
    pub run: crate::ops::RunContext<'a>,
    /// Latest revisions already fetched in this run (by `sync`), by title asked for.
    pub revisions: Option<&'a BTreeMap<String, PageRevision>>,
}

impl<'a> PushContext<'a> {
    /// The push of run `run`, with no revisions read ahead.
    pub fn of_run(run: crate::ops::RunContext<'a>) -> Self {
        PushContext {
            run,
            revisions: None,
        }
    }
}

/// How many times a save is retried after an edit conflict (`docs/sync.md`, "Push").
pub const EDIT_CONFLICT_RETRIES: usize = 2;

impl PushContext<'_> {
    /// Why every page left is refused unread: known only once the bot
    /// logged in (for its first save, or already) and found it has no bot
    /// flag; never in a dry run.
    fn bot_flag_refusal(&self) -> Option<String> {
        if self.run.dry_run {
            None
        } else {
            self.run.wiki.known_bot_flag_refusal()
        }
    }

    /// The digest of everything a page's plan depends on besides its revision.
    fn fingerprint(&self, renderer: &Renderer, title: &str, records: &FiscalYearRecords) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            env!("CARGO_PKG_VERSION"),
            &renderer.fingerprint(),
            title,
            &self.run.config.pages.prefix,
            self.run.user,
            // What reads and shows staff tables: a new reader or palette
            // plans every page again.
            PLANNER,
            &format!("{:?}", self.run.config.status.colours),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(serde_json::to_vec(records).unwrap_or_default());
        format!("{:x}", h.finalize())
    }

    /// Whether the page was planned at `revid` with the same inputs before, and how that ended.
    async fn checked(&self, title: &str, revid: u64, fingerprint: &str) -> Result<Option<Outcome>> {
        let check = self.run.store.page_check(title).await?;
        Ok(check_outcome(check.as_ref(), revid, fingerprint))
    }

    /// Remembers that the page at `revid` needs nothing for these inputs (not in a dry run).
    async fn remember(
        &self,
        title: &str,
        revid: u64,
        fingerprint: &str,
        outcome: CheckOutcome,
    ) -> Result<()> {
        if self.run.dry_run {
            return Ok(());
        }
        let check = PageCheck {
            revid,
            fingerprint: fingerprint.to_string(),
            outcome,
        };
        self.run
            .store
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
        self.run
            .store
            .record_edit(&EditEntry {
                run_id: self.run.run_id.to_string(),
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
        if let Some(why) = crate::interrupt::requested() {
            return Ok(Some(why));
        }
        if self.run.dry_run || !self.run.wiki.obeys_shutoff() {
            return Ok(None);
        }
        crate::ops::runs::shutoff_reason(self.run.config, self.run.wiki, self.run.store, None)
            .await
            .context("looking at the shutoff page before saving")
    }

    /// The latest revision of one page, asked again (after an edit conflict).
    async fn latest(&self, title: &str) -> Result<Option<RevisionInfo>> {
        let mut revs = self.run.wiki.latest_revisions(&[title.to_string()]).await?;
        Ok(revs.pop().and_then(|r| r.latest))
    }
}

/// `goalsbot push`: prints one line per page (diffs in a dry run); exit 3 when a page was refused.
pub async fn command(
    config: &Config,
    creds: &Credentials,
    fys: &[FiscalYear],
    pages: &[String],
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    if !dry_run {
        // A dry run only reads: anonymous reads are enough.
        crate::ops::require_credentials(creds, "push")?;
    }
    let session = Session::open(config, creds).await?;
    if !dry_run {
        crate::interrupt::listen();
    }
    let user = match session.wiki.user_name_now().await {
        Ok(user) => user,
        Err(e) => {
            session.close().await;
            return Err(e);
        }
    };
    let ctx = PushContext::of_run(crate::ops::RunContext {
        config,
        wiki: &session.wiki,
        store: &session.store,
        run_id: &session.run_id,
        dry_run,
        user: &user,
    });
    let run = async {
        let report = push(&ctx, fys, pages).await?;
        crate::ops::print_report(json, || report.render(), || report.to_json());
        if crate::interrupt::requested().is_some() {
            return Ok(ExitCode::Interrupted);
        }
        Ok(report.exit_code())
    };
    let out = session.writing(config, dry_run, run).await;
    session.close().await;
    out
}

/// Pushes the store to the quarter pages and overview pages of `fys` (all
/// configured years when empty); `only` limits it to those titles.
pub async fn push(ctx: &PushContext<'_>, fys: &[FiscalYear], only: &[String]) -> Result<Report> {
    push_onto(ctx, fys, only, BTreeMap::new()).await
}

/// [`push`], planned against `planned` years where given (a dry-run sync's
/// years as its pull's plans leave them), else against the store.
pub async fn push_onto(
    ctx: &PushContext<'_>,
    fys: &[FiscalYear],
    only: &[String],
    planned: BTreeMap<FiscalYear, YearView>,
) -> Result<Report> {
    let config = ctx.run.config;
    let mut views = Views::new(ctx.run.store, config, planned);
    let wanted = |t: &str| only.is_empty() || only.iter().any(|o| o.replace('_', " ") == t);
    let renderer = Renderer::with_dir(config.pages.templates_dir.as_deref())?;
    let years = years_of(config, fys);
    let mut report = Report {
        run_id: ctx.run.run_id.to_string(),
        ..Report::default()
    };
    // Every page asked for: (year, position in the year, title).
    let jobs: Vec<(&FiscalYear, usize, String)> = years
        .iter()
        .flat_map(|fy| {
            let titles = year_titles(config, fy).into_iter().enumerate();
            titles.map(move |(i, t)| (fy, i, t))
        })
        .filter(|(_, _, t)| wanted(t))
        .collect();
    let titles: Vec<String> = jobs.iter().map(|(_, _, t)| t.clone()).collect();
    let mut fetched = BTreeMap::new();
    let known = match ctx.revisions {
        Some(known) => known,
        // Every page is refused unread: nothing to ask the wiki.
        None if ctx.bot_flag_refusal().is_some() => &fetched,
        None => {
            for rev in ctx.run.wiki.latest_revisions(&titles).await? {
                fetched.insert(rev.requested.clone(), rev);
            }
            &fetched
        }
    };
    if ctx.bot_flag_refusal().is_none() {
        let wanted = (&wanted as &dyn Fn(&str) -> bool, only.is_empty());
        read_ahead(ctx, &mut views, &renderer, &years, wanted, known).await?;
    }
    // Decide: every page's outcome or plan, before anything is saved.
    let decided = decide_all(ctx, &mut views, &renderer, &jobs, known).await;
    // Save: the decided texts one page at a time.
    let mut saved_years = Vec::new();
    let mut kept = Vec::new();
    // Shown on a terminal only; each save is also logged as it happens.
    let progress = crate::ops::pull::progress_bar(titles.len());
    let mut decided = jobs.iter().zip(decided).peekable();
    for fy in &years {
        let first = report.pages.len();
        while let Some(((_, i, title), decision)) = decided.next_if(|((f, ..), _)| *f == fy) {
            progress.set_message(title.clone());
            progress.inc(1);
            if let Some(held) = held_back(&report, ctx.bot_flag_refusal().as_deref()) {
                report.pages.push((title.clone(), held));
                continue;
            }
            let (Some(rev), Some(decision)) = (known.get(title), decision) else {
                continue;
            };
            if views.skip.contains(fy) {
                report.pages.push((title.clone(), Outcome::Unchanged));
                report.unplanned += 1;
                report.settled.insert(fy.clone());
                continue;
            }
            let page = PageJob { fy, title, rev };
            let q = Quarter::ALL.get(*i).copied();
            let outcome = save_decided(ctx, &mut views, &renderer, &page, (q, decision)).await;
            let outcome = outcome_of(outcome, title)?;
            if let Outcome::Stopped { reason } = &outcome {
                report.stopped = Some(reason.clone());
            }
            if let Outcome::Edited { revid, .. } = &outcome {
                progress.suspend(|| tracing::info!(page = %title, revid, "saved"));
            }
            report.pages.push((title.clone(), outcome));
        }
        let whole = report.pages.len() - first == year_titles(config, fy).len();
        if let (Some(digest), true) = (views.year_digests.get(fy), whole) {
            match year_end(&report.pages[first..]) {
                YearEnd::Unchanged => {
                    kept.push((fy.to_string(), digest.clone()));
                    report.settled.insert(fy.clone());
                }
                YearEnd::Saved => saved_years.push(fy.clone()),
                YearEnd::Other => {}
            }
        }
    }
    if !saved_years.is_empty() {
        let saved = saved_revisions(&report);
        for (fy, digest) in settle_saved_years(ctx, &renderer, &saved_years, known, &saved).await? {
            kept.push((fy.to_string(), digest));
            report.settled.insert(fy);
        }
    }
    progress.finish_and_clear();
    // Written together once every year is done (a run stopped before
    // keeps none: the next push plans those years again).
    ctx.run
        .store
        .set_year_checks(&kept, chrono::Utc::now())
        .await?;
    report.counts = ctx.run.wiki.counters().snapshot();
    report.warnings = views.warnings;
    Ok(report)
}

/// The years asked for, or every configured year when none is.
fn years_of(config: &Config, fys: &[FiscalYear]) -> Vec<FiscalYear> {
    if fys.is_empty() {
        config.pages.years()
    } else {
        fys.to_vec()
    }
}

/// The revision of each page the push saved.
fn saved_revisions(report: &Report) -> BTreeMap<String, u64> {
    report
        .pages
        .iter()
        .filter_map(|(title, o)| match o {
            Outcome::Edited { revid, .. } => Some((title.clone(), *revid)),
            _ => None,
        })
        .collect()
}

/// A page's outcome from its push; `Err` for what ends the run: the store
/// failing, or a refused login (wrong password: exit 2, the other pages
/// would meet it again). Any other error fails only this page.
fn outcome_of(result: Result<Outcome>, title: &str) -> Result<Outcome> {
    match result {
        Err(e) if crate::store::is_store_error(&e) => Err(e.context(format!("pushing {title:?}"))),
        Err(e) if e.downcast_ref::<crate::error::UsageError>().is_some() => Err(e),
        Err(e) if e.downcast_ref::<NotABot>().is_some() => Ok(Outcome::Refused {
            reason: format!("{e}"),
        }),
        Err(e) => {
            tracing::error!(page = %title, "push failed: {e:#}");
            Ok(Outcome::Failed {
                error: format!("{e:#}"),
            })
        }
        Ok(o) => Ok(o),
    }
}

/// How a year's pushed pages ended, all of them: every page planned and
/// found to need nothing (the next push with the same inputs skips the
/// year), some saved and the rest needing nothing (checked again once the
/// push is done), or anything else.
enum YearEnd {
    /// Every page needed nothing.
    Unchanged,
    /// Some were saved, the rest needed nothing.
    Saved,
    /// Some were not pushed (held, refused, failed…).
    Other,
}

fn year_end(done: &[(String, Outcome)]) -> YearEnd {
    if done.iter().all(|(_, o)| matches!(o, Outcome::Unchanged)) {
        YearEnd::Unchanged
    } else if done
        .iter()
        .all(|(_, o)| matches!(o, Outcome::Unchanged | Outcome::Edited { .. }))
    {
        YearEnd::Saved
    } else {
        YearEnd::Other
    }
}

/// Why a page is not even read: the emergency stop held the run, or the
/// login has no bot flag (`refusal`); `None` when it may be pushed.
fn held_back(report: &Report, refusal: Option<&str>) -> Option<Outcome> {
    if report.stopped.is_some() {
        return Some(Outcome::Stopped {
            reason: "the run stopped before this page".into(),
        });
    }
    refusal.map(|reason| Outcome::Refused {
        reason: reason.to_string(),
    })
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
