//! `goalsbot sync`: pull (three-way merge, `docs/sync.md`) then push, with one
//! revision check for every tracked page, and the run's statistics.
//!
//! The latest revisions of all tracked pages (the quarter pages and the year
//! overviews) are asked for once, in batches of 50 titles; pull and push both
//! work from that answer. A page whose revision is the one last synced is not
//! fetched, and a page the bot planned before with the same inputs is not
//! fetched either, so a sync with nothing to do costs ⌈N/50⌉ API requests.
//! When its inputs are those of the last sync that found nothing to do (a
//! digest kept in the store), it plans nothing at all.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use tracing::Instrument as _;

use crate::config::{Config, Credentials};
use crate::core::plan::YearView;
use crate::core::records::FiscalYear;
use crate::core::runlog::ConflictLine;
use crate::core::runlog::{RefusedPage, RunCounts, RunOutcome, RunSummary};
use crate::error::ExitCode;
use crate::ops::pull::{self, Target};
use crate::ops::push::{self, PushContext};
use crate::ops::runs::{self, Run};
use crate::ops::RunContext;
use crate::ops::{command_line, Session};
use crate::store::{Store, StoredConflict};
use crate::wiki::Counts;

/// A page left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub page: String,
    pub reason: String,
    /// The error that stopped the page, when not a safety guard (the reason is then `failed: ERROR`).
    #[serde(skip)]
    pub error: Option<String>,
}

impl Refused {
    /// A page a safety guard (or `{{nobots}}`) left alone.
    fn guarded(page: &str, reason: &str) -> Refused {
        Refused {
            page: page.to_string(),
            reason: reason.to_string(),
            error: None,
        }
    }

    /// A page an error stopped.
    fn failed(page: &str, error: &str) -> Refused {
        Refused {
            page: page.to_string(),
            reason: format!("failed: {error}"),
            error: Some(error.to_string()),
        }
    }
}

impl From<&Refused> for RefusedPage {
    fn from(r: &Refused) -> RefusedPage {
        RefusedPage {
            title: r.page.clone(),
            reason: r.reason.clone(),
        }
    }
}

/// Something a run did not do on a page it otherwise wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub page: String,
    pub message: String,
}

/// The counters of `docs/cli.md` (`sync --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub run_id: String,
    /// Tracked pages whose revision was checked (quarter pages and overviews).
    pub pages_checked: usize,
    /// Pages that changed on the wiki since the last sync, or that the bot edited (each counted once).
    pub pages_changed: usize,
    pub html_fetches: u64,
    /// API requests after login (revision checks, wikitext reads, saves).
    pub api_requests: u64,
    pub edits: u64,
    /// Store fields changed by this run's pull.
    pub records_changed: usize,
    /// Conflicts waiting for a person after this run (see `goalsbot conflicts`).
    pub conflicts: usize,
    /// Of those, found by this run.
    pub new_conflicts: usize,
    /// Pages left alone: safety guards, `{{nobots}}`, failures.
    pub refused: Vec<Refused>,
    /// Set when the shutoff page stopped the run midway (why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Pages the stop kept from being saved (or looked at).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_saved: Vec<String>,
    /// What the push did not do on pages it otherwise wrote: staff tables
    /// it does not write into, named, with why.
    pub warnings: Vec<Warning>,
    pub dry_run: bool,
    pub duration_ms: u64,
}

/// The result of a sync.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// Set when the shutoff page stopped the run before it began (nothing was done).
    pub stopped: Option<String>,
    pub pull: pull::Report,
    pub push: push::Report,
    /// Conflicts pending after the run (in a dry run: those stored plus those it would add).
    pub pending: Vec<StoredConflict>,
    pub stats: Stats,
    /// Whether what needs a person was all reported by the run before this
    /// one (no new conflict, no page refused anew): then the run exits 0, so
    /// a scheduler that mails on failure mails once per new thing, not every
    /// hour while it waits (see [`reported_before`]).
    pub reported_before: bool,
}

impl SyncReport {
    /// 1 when a page failed, 3 when this run found something new that waits
    /// for a person (a conflict, a page refused, `{{nobots}}`), else 0 —
    /// also 0 while only what an earlier run reported still waits.
    pub fn exit_code(&self) -> ExitCode {
        let pull = self.pull.exit_code();
        let push = self.push.exit_code();
        if pull == ExitCode::Failed || push == ExitCode::Failed {
            ExitCode::Failed
        } else if (pull == ExitCode::NeedsPerson
            || push == ExitCode::NeedsPerson
            || self.stats.conflicts > 0)
            && !self.reported_before
        {
            ExitCode::NeedsPerson
        } else {
            ExitCode::Ok
        }
    }

    /// Whether the run changed anything (store or wiki, or would have in a dry run).
    pub fn changed_anything(&self) -> bool {
        self.stats.records_changed > 0
            || self.stats.edits > 0
            || self.stats.new_conflicts > 0
            || self
                .push
                .pages
                .iter()
                .any(|(_, o)| matches!(o, push::Outcome::WouldEdit { .. }))
    }

    /// The plain summary: what pull and push did per page, the conflicts, then the counters in words.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(reason) = &self.stopped {
            let _ = writeln!(out, "STOPPED run {}: {reason}", self.stats.run_id);
            return out;
        }
        let _ = writeln!(out, "== pull (wiki → store)");
        out.push_str(&self.pull.render());
        let _ = writeln!(out, "== push (store → wiki)");
        out.push_str(&self.push.render());
        if !self.pending.is_empty() {
            let _ = writeln!(
                out,
                "== {} conflicts wait for a person (goalsbot conflicts; goalsbot resolve ID --take wiki|store)",
                self.pending.len()
            );
            for c in &self.pending {
                let _ = writeln!(out, "{}", describe_conflict(c));
            }
        }
        let s = &self.stats;
        for w in &s.warnings {
            let _ = writeln!(out, "warning    {}: {}", w.page, w.message);
        }
        let _ = writeln!(
            out,
            "{}run {}: {} pages checked, {} changed; {} store fields changed; {} edits; \
             {} conflicts waiting ({} new); {} pages refused; {} API requests, {} HTML fetches; {} ms",
            if s.dry_run { "dry run (nothing written) " } else { "" },
            s.run_id,
            s.pages_checked,
            s.pages_changed,
            s.records_changed,
            s.edits,
            s.conflicts,
            s.new_conflicts,
            s.refused.len(),
            s.api_requests,
            s.html_fetches,
            s.duration_ms
        );
        out
    }

    /// The `sync --json` object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.stats).unwrap_or_else(|_| "{}".into()) + "\n"
    }
}

/// One line for a conflict: `#ID record field: wiki … ≠ store … (page, revision, user)`.
pub fn describe_conflict(c: &StoredConflict) -> String {
    let show = crate::core::fields::show_value;
    format!(
        "#{} {} {}: wiki {} ≠ store {} (from {} revision {}{}; found by run {})",
        c.id,
        c.key.record,
        c.key.field,
        show(&c.wiki),
        show(&c.store),
        c.page,
        c.revid,
        c.wiki_user
            .as_deref()
            .map(|u| format!(" by {u}"))
            .unwrap_or_default(),
        c.run_id
    )
}

/// `goalsbot sync`: one run, as the status page shows it; prints the report
/// (`--json`: the statistics) and returns its exit code.
pub async fn command(
    config: &Config,
    creds: &Credentials,
    fys: &[FiscalYear],
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    if !dry_run {
        // A dry run only reads: anonymous reads are enough.
        crate::ops::require_credentials(creds, "sync")?;
    }
    let session = Session::open(config, creds).await?;
    if !dry_run {
        crate::interrupt::listen();
    }
    let span = tracing::info_span!("run", run_id = %session.run_id);
    let run = async {
        let report = tracked(config, &session, fys, dry_run).await?;
        if json {
            print!("{}", report.to_json());
        } else {
            print!("{}", report.render());
        }
        if crate::interrupt::requested().is_some() {
            return Ok(ExitCode::Interrupted);
        }
        Ok(report.exit_code())
    };
    let out = session.writing(config, dry_run, run).instrument(span).await;
    session.close().await;
    out
}

/// A sync in its run's lifecycle: marked running, run, its summary recorded
/// and the status page written (a failure is shown there when the wiki still answers).
async fn tracked(
    config: &Config,
    session: &Session,
    fys: &[FiscalYear],
    dry_run: bool,
) -> Result<SyncReport> {
    let (store, wiki) = (&session.store, &session.wiki);
    let run = Run::new(store, &session.run_id, command_line(), None);
    if !dry_run {
        run.mark_running().await?;
    }
    let user = wiki.user_name_now().await?;
    let ctx = RunContext {
        config,
        wiki,
        store,
        run_id: &session.run_id,
        dry_run,
        user: &user,
    };
    let report = match sync(&ctx, fys).await {
        Ok(r) => r,
        Err(e) => {
            if !dry_run {
                let failed = run.failed(&e);
                if let Err(p) = runs::publish(config, wiki, store, &failed).await {
                    tracing::warn!("the status page was not updated: {p:#}");
                }
            }
            return Err(e);
        }
    };
    if report.stopped.is_some() {
        if !dry_run {
            run.stopped().await?;
        }
        return Ok(report);
    }
    let mut report = report;
    if !dry_run {
        report.reported_before = reported_before(store, &session.run_id, &report).await?;
    }
    let summary = sync_summary(&run, &report).await?;
    if let Err(e) = runs::publish(config, wiki, store, &summary).await {
        tracing::warn!("the run is done, but the status page was not updated: {e:#}");
    }
    if !dry_run && crate::interrupt::requested().is_some() {
        // Its summary stays, with what it saved; the runs table says stopped.
        runs::record_as(store, &summary, crate::store::RunState::Stopped).await?;
    }
    Ok(report)
}

/// Whether everything in `report` that waits for a person was reported by
/// the last run that ended before this one (`run_id`): it listed every
/// conflict waiting now, and each page refused now was refused then for the
/// same reason. The
/// status page and the conflict notices already told the people; the run's
/// exit code then says "done", not "needs a person" again.
async fn reported_before(store: &Store, run_id: &str, report: &SyncReport) -> Result<bool> {
    let previous = store
        .recent_runs(5)
        .await?
        .into_iter()
        .filter(|r| r.run_id != run_id && r.outcome != crate::store::RunState::Running)
        .find_map(|r| serde_json::from_value::<crate::core::runlog::RunSummary>(r.summary).ok());
    let Some(previous) = previous else {
        return Ok(false);
    };
    // A conflict found by this run's pull or push (a save that raced a
    // person) is one the run before did not list.
    let known = |id: i64| previous.conflicts.iter().any(|c| c.id == id);
    if !report.pending.iter().all(|c| known(c.id)) {
        return Ok(false);
    }
    Ok(report.stats.refused.iter().all(|now| {
        now.error.is_none()
            && previous
                .refused
                .iter()
                .any(|then| then.title == now.page && then.reason == now.reason)
    }))
}

/// Pulls every tracked page of `fys` (all configured years when empty) and pushes the store back.
pub async fn sync(ctx: &RunContext<'_>, fys: &[FiscalYear]) -> Result<SyncReport> {
    let started = Instant::now();
    let config = ctx.config;
    let years: Vec<FiscalYear> = if fys.is_empty() {
        config.pages.years()
    } else {
        fys.to_vec()
    };
    let titles: Vec<String> = years
        .iter()
        .flat_map(|fy| push::year_titles(config, fy))
        .collect();
    // The shutoff page is checked in the same request as the goals pages.
    let shutoff = config.commands.shutoff();
    let mut asked = titles.clone();
    asked.extend(shutoff.map(String::from));
    let mut revisions = ctx
        .wiki
        .latest_revisions(&asked)
        .await
        .context("checking the latest revisions of the goals pages")?;
    if shutoff.is_some() {
        let rev = revisions.pop().map(|r| r.latest.map(|l| l.revid));
        if let Some(reason) =
            crate::ops::runs::shutoff_reason(config, ctx.wiki, ctx.store, rev).await?
        {
            if !ctx.dry_run {
                tracing::warn!("{reason}");
                return Ok(stopped(ctx, reason, titles.len(), started));
            }
            tracing::warn!("{reason} (a dry run goes on: it writes nothing)");
        }
    }
    let by_title: BTreeMap<String, crate::wiki::PageRevision> = revisions
        .iter()
        .map(|r| (r.requested.clone(), r.clone()))
        .collect();

    let targets: Vec<Target> = pull::targets(config, &years, &[])?;
    // The inputs of the last sync that found nothing to do, unchanged:
    // nothing to do now either, without planning a page.
    let digest = if ctx.dry_run {
        None
    } else {
        Some(push::sync_inputs_digest(ctx, &revisions).await?)
    };
    if digest.is_some() && ctx.store.sync_marker().await? == digest {
        tracing::info!("nothing changed since the last sync that found nothing to do");
        return nothing_to_do(ctx, &titles, &years, &targets, &by_title, started).await;
    }
    let target_revs = targets
        .iter()
        .map(|t| {
            by_title
                .get(&t.title)
                .cloned()
                .with_context(|| format!("no revision answer for {:?}", t.title))
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = pull::Options::of_run(ctx);
    let pulled = pull::pull_revisions(ctx.wiki, ctx.store, &targets, target_revs, &opts).await?;

    // A dry run plans its push on the years as its pull's plans leave them.
    let planned = if ctx.dry_run {
        planned_years(ctx, &years, &pulled).await?
    } else {
        BTreeMap::new()
    };
    // The emergency stop is looked at again before each save of the push.
    let push_wiki = ctx.wiki.clone().obeying_shutoff();
    let push_ctx = PushContext {
        run: RunContext {
            wiki: &push_wiki,
            ..*ctx
        },
        revisions: Some(&by_title),
    };
    let pushed = push::push_onto(&push_ctx, &years, &[], planned).await?;
    if !ctx.dry_run {
        // Found nothing to do: remember the inputs (as they are now, after
        // the push checks it recorded), so the next sync with the same
        // inputs skips the planning. Anything else forgets them.
        let quiet =
            pulled.pages.iter().all(|(_, o)| {
                matches!(o, pull::Outcome::Unchanged { .. } | pull::Outcome::Missing)
            }) && pushed.stopped.is_none()
                && pushed
                    .pages
                    .iter()
                    .all(|(_, o)| matches!(o, push::Outcome::Unchanged | push::Outcome::Missing));
        // A sync that saved pages, each year then checked again and found
        // needing nothing more (`push::Report::settled`): the next sync that
        // finds the bot's saves still the latest revisions has nothing to do.
        let settled = pushed.stopped.is_none()
            && !pushed.settled.is_empty()
            && years.iter().all(|fy| pushed.settled.contains(fy));
        let marker = if quiet {
            Some(push::sync_inputs_digest(ctx, &revisions).await?)
        } else if settled {
            Some(push::sync_inputs_digest(ctx, &after_saves(&revisions, &pushed, ctx.user)).await?)
        } else {
            None
        };
        ctx.store
            .set_sync_marker(marker.as_deref(), chrono::Utc::now())
            .await?;
    }
    report(ctx, &titles, &years, pulled, pushed, started).await
}

/// The revision check's answers as they are after the push: a page the bot
/// saved has the bot's revision as its latest.
fn after_saves(
    revisions: &[crate::wiki::PageRevision],
    pushed: &push::Report,
    user: &str,
) -> Vec<crate::wiki::PageRevision> {
    let saved: BTreeMap<&str, u64> = pushed
        .pages
        .iter()
        .filter_map(|(title, o)| match o {
            push::Outcome::Edited { revid, .. } => Some((title.as_str(), *revid)),
            _ => None,
        })
        .collect();
    revisions
        .iter()
        .map(|r| match saved.get(r.requested.as_str()) {
            Some(revid) => r.saved_as(*revid, user),
            None => r.clone(),
        })
        .collect()
}

/// The report of a sync that ran: its pull and push, the conflicts waiting
/// on its years, and the statistics.
async fn report(
    ctx: &RunContext<'_>,
    titles: &[String],
    years: &[FiscalYear],
    pulled: pull::Report,
    pushed: push::Report,
    started: Instant,
) -> Result<SyncReport> {
    let mut pending = ctx.store.conflicts(false).await?;
    let fy_prefixes: Vec<String> = years.iter().map(|fy| format!("{fy}/")).collect();
    pending.retain(|c| fy_prefixes.iter().any(|p| c.key.record.starts_with(p)));
    let counts: Counts = ctx.wiki.counters().snapshot();
    let mut stats = stats(ctx, titles, &pulled, &pushed, &pending, &counts, started);
    // A year about to start that its Q1 page cannot be made for. Outside
    // the notice's two weeks there is none whatever the store holds, and
    // the store is not asked.
    let today = ctx.config.pages.today();
    let notice = match crate::ops::roll_over::new_year_notice(ctx.config, today, &[]) {
        Some(_) => {
            let in_store = ctx.store.fiscal_years().await?;
            crate::ops::roll_over::new_year_notice(ctx.config, today, &in_store)
        }
        None => None,
    };
    if let Some((page, message)) = notice {
        tracing::warn!(page = %page, "{message}");
        stats.warnings.push(Warning { page, message });
    }
    Ok(SyncReport {
        stopped: None,
        pull: pulled,
        push: pushed,
        pending,
        stats,
        reported_before: false,
    })
}

/// The report of a sync whose inputs are those of the last sync that found
/// nothing to do: every page unchanged (or missing), nothing planned.
async fn nothing_to_do(
    ctx: &RunContext<'_>,
    titles: &[String],
    years: &[FiscalYear],
    targets: &[Target],
    by_title: &BTreeMap<String, crate::wiki::PageRevision>,
    started: Instant,
) -> Result<SyncReport> {
    let counts: Counts = ctx.wiki.counters().snapshot();
    let latest = |title: &str| by_title.get(title).and_then(|r| r.latest.as_ref());
    let pulled = pull::Report {
        run_id: ctx.run_id.to_string(),
        dry_run: false,
        pages: targets
            .iter()
            .map(|t| {
                let o = match latest(&t.title) {
                    Some(l) => pull::Outcome::Unchanged { revid: l.revid },
                    None => pull::Outcome::Missing,
                };
                (t.clone(), o)
            })
            .collect(),
        counts,
    };
    let pushed = push::Report {
        run_id: ctx.run_id.to_string(),
        pages: years
            .iter()
            .flat_map(|fy| push::year_titles(ctx.config, fy))
            .map(|t| {
                let o = match latest(&t) {
                    Some(_) => push::Outcome::Unchanged,
                    None => push::Outcome::Missing,
                };
                (t, o)
            })
            .collect(),
        counts,
        ..push::Report::default()
    };
    report(ctx, titles, years, pulled, pushed, started).await
}

/// The report of a sync the shutoff page stopped.
fn stopped(ctx: &RunContext<'_>, reason: String, pages: usize, started: Instant) -> SyncReport {
    let counts = ctx.wiki.counters().snapshot();
    SyncReport {
        stopped: Some(reason),
        pull: pull::Report {
            run_id: ctx.run_id.to_string(),
            ..pull::Report::default()
        },
        push: push::Report {
            run_id: ctx.run_id.to_string(),
            ..push::Report::default()
        },
        pending: Vec::new(),
        stats: Stats {
            run_id: ctx.run_id.to_string(),
            pages_checked: pages,
            pages_changed: 0,
            html_fetches: counts.html_fetches,
            api_requests: counts.api_requests,
            edits: counts.edits,
            records_changed: 0,
            conflicts: 0,
            new_conflicts: 0,
            refused: Vec::new(),
            stopped: None,
            not_saved: Vec::new(),
            warnings: Vec::new(),
            dry_run: ctx.dry_run,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
        reported_before: false,
    }
}

/// The years as the pull's plans (of a dry run) would leave the store.
async fn planned_years(
    ctx: &RunContext<'_>,
    years: &[FiscalYear],
    pulled: &pull::Report,
) -> Result<BTreeMap<FiscalYear, YearView>> {
    let mut views = BTreeMap::new();
    for fy in years {
        let view = push::load_view(ctx.store, ctx.config, fy).await?;
        views.insert(fy.clone(), view);
    }
    for (target, outcome) in &pulled.pages {
        if let pull::Outcome::Pulled {
            revid,
            dry: Some(dry),
            ..
        } = outcome
        {
            if let Some(view) = views.get_mut(&target.fiscal_year) {
                view.fold(&target.title, *revid, dry);
            }
        }
    }
    Ok(views)
}

/// What the reports of a pull and a push say about their pages, counted in one place.
#[derive(Debug, Default)]
pub struct Tally {
    /// Pages that changed on the wiki, or that the push edited (or would in a dry run).
    pub changed: BTreeSet<String>,
    /// Pages left alone, each once.
    pub refused: Vec<Refused>,
    /// Store fields the pull changed.
    pub records_changed: usize,
    /// Conflicts the pull found.
    pub new_conflicts: usize,
    /// Pages the shutoff kept from being saved.
    pub not_saved: Vec<String>,
    /// What the push could not do on pages it otherwise wrote, each once.
    pub warnings: Vec<Warning>,
}

impl Tally {
    /// Adds what a pull did.
    pub fn pull(&mut self, pulled: &pull::Report) {
        for (t, o) in &pulled.pages {
            match o {
                pull::Outcome::Pulled {
                    changes, conflicts, ..
                } => {
                    self.changed.insert(t.title.clone());
                    self.records_changed += changes;
                    self.new_conflicts += conflicts.len();
                }
                pull::Outcome::Refused { reason, .. } => {
                    self.refused.push(Refused::guarded(&t.title, reason))
                }
                pull::Outcome::Failed { error } => {
                    self.refused.push(Refused::failed(&t.title, error))
                }
                _ => {}
            }
        }
    }

    /// Adds what a push did (a page the pull refused already is not counted twice).
    pub fn push(&mut self, pushed: &push::Report) {
        for (page, message) in &pushed.warnings {
            let w = Warning {
                page: page.clone(),
                message: message.clone(),
            };
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        for (title, o) in &pushed.pages {
            match o {
                push::Outcome::Edited { .. } | push::Outcome::WouldEdit { .. } => {
                    self.changed.insert(title.clone());
                }
                push::Outcome::Refused { reason }
                    if !self.refused.iter().any(|r| &r.page == title) =>
                {
                    self.refused.push(Refused::guarded(title, reason));
                }
                push::Outcome::Failed { error } => self.refused.push(Refused::failed(title, error)),
                push::Outcome::Stopped { .. } => self.not_saved.push(title.clone()),
                _ => {}
            }
        }
    }

    /// The first page an error stopped, as `title: error`.
    pub fn first_failure(&self) -> Option<String> {
        self.refused
            .iter()
            .find_map(|r| Some(format!("{}: {}", r.page, r.error.as_ref()?)))
    }
}

fn stats(
    ctx: &RunContext<'_>,
    titles: &[String],
    pulled: &pull::Report,
    pushed: &push::Report,
    pending: &[StoredConflict],
    counts: &Counts,
    started: Instant,
) -> Stats {
    let mut tally = Tally::default();
    tally.pull(pulled);
    tally.push(pushed);
    let would_conflict = if ctx.dry_run { tally.new_conflicts } else { 0 };
    Stats {
        run_id: ctx.run_id.to_string(),
        pages_checked: titles.len(),
        pages_changed: tally.changed.len(),
        html_fetches: counts.html_fetches,
        api_requests: counts.api_requests,
        edits: counts.edits,
        records_changed: tally.records_changed,
        conflicts: pending.len() + would_conflict,
        new_conflicts: tally.new_conflicts,
        refused: tally.refused,
        stopped: pushed.stopped.clone(),
        not_saved: tally.not_saved,
        warnings: tally.warnings,
        dry_run: ctx.dry_run,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// The summary of a sync for the store and the status page.
pub async fn sync_summary(run: &Run<'_>, report: &SyncReport) -> Result<RunSummary> {
    let s = &report.stats;
    let counts = RunCounts {
        pages_checked: s.pages_checked as u64,
        pages_changed: s.pages_changed as u64,
        html_fetches: s.html_fetches,
        api_requests: s.api_requests,
        edits: s.edits,
        records_changed: s.records_changed as u64,
        conflicts: s.conflicts as u64,
        refused: s.refused.len() as u64,
    };
    let failed: Vec<String> = s
        .refused
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| format!("{}: {}", r.page, r.reason))
        .collect();
    let outcome = if failed.is_empty() {
        RunOutcome::from_counts(&counts)
    } else {
        RunOutcome::Failed {
            error: failed.join("; "),
        }
    };
    let conflicts = report.pending.iter().map(ConflictLine::from).collect();
    let refused = s.refused.iter().map(RefusedPage::from).collect();
    let mut summary = run
        .summary(counts, outcome, conflicts, refused, s.dry_run)
        .await?;
    summary.warnings = s
        .warnings
        .iter()
        .map(|w| RefusedPage {
            title: w.page.clone(),
            reason: w.message.clone(),
        })
        .collect();
    Ok(summary)
}
