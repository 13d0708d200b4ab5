//! `watch` follows changes live (`docs/requests.md`, "Following changes live"): a
//! poll's recent changes to tracked pages, and tracker edits the store took
//! since the last poll, make the watcher run `sync` for the years they
//! touched, at once, under the writer's lease.
//!
//! The position (the last recent change taken in, the last history row
//! looked at) is kept in the store and moved only after the run it asked
//! for ended without failing: a watcher killed or stopped before that
//! runs those years again on restart (a sync of pages already in step is
//! its no-op), and one whose run failed tries again at the next poll. When
//! the store has no position yet, or the wiki no longer keeps it, every
//! configured year is checked once (a `sync`) and the watcher starts from
//! the wiki's newest change.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use chrono::Utc;
use serde::Serialize;
use tracing::Instrument as _;

use crate::config::Config;
use crate::core::feed::{self, Change, Position};
use crate::core::records::FiscalYear;
use crate::core::runlog::{RunOutcome, RunSummary};
use crate::ops::runs::{take_lease, Run, Taken};
use crate::ops::RunContext;
use crate::store::{Store, StoreMark};
use crate::wiki::Wiki;

/// What following did in one poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Followed {
    /// Changes to tracked pages by people since the last poll.
    pub changes: usize,
    /// Years a tracker edit changed since the last poll.
    pub tracker_years: usize,
    /// Why every page was checked (no position yet, or it was lost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_check: Option<String>,
    /// The years the run synced (none: nothing to do).
    pub years: Vec<String>,
    /// The run that synced them, and what it came to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<(String, String)>,
    /// Why nothing ran although something changed (another run holds the
    /// writers' lease, or the pause after a failed run): the position
    /// stayed, a later poll runs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// The wiki had more recent changes than one request returns: the next
    /// poll goes on at once.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
}

impl Followed {
    /// One line for the poll's report (`None`: nothing happened).
    pub fn render(&self) -> Option<String> {
        if let Some(why) = &self.waiting {
            return Some(format!(
                "following: {} changes and {} years changed by tracker edits wait: {why}\n",
                self.changes, self.tracker_years
            ));
        }
        let (run_id, outcome) = self.run.as_ref()?;
        let why = match &self.full_check {
            Some(reason) => format!("a full check ({reason})"),
            None => format!(
                "{} page changes, {} years changed by tracker edits",
                self.changes, self.tracker_years
            ),
        };
        Some(format!(
            "following: {why}: sync {} → run {run_id} ({outcome})\n",
            self.years.join(" ")
        ))
    }
}

/// What the watcher follows with: the run's parts (the wiki obeys the
/// shutoff page) and the bot's user name (its own saves wake nothing).
pub struct Follower<'a> {
    pub config: &'a Config,
    pub wiki: &'a Wiki,
    pub store: &'a Store,
    pub user: &'a str,
}

/// Where the watcher stood at the start of a poll, and what the wiki said
/// since (`None`: it had no position, and asked for no changes).
pub struct Polled {
    pub position: Option<Position>,
    pub mark: StoreMark,
    pub changes: Option<(Vec<Change>, bool)>,
}

impl Polled {
    /// The position stored, read once per poll (nothing before the first).
    pub async fn start(store: &Store) -> Result<(Option<Position>, StoreMark)> {
        Ok(store.watch_feed().await?.unwrap_or_default())
    }
}

/// Every tracked title (normalised) with its fiscal year.
fn tracked(config: &Config) -> BTreeMap<String, FiscalYear> {
    config
        .pages
        .years()
        .into_iter()
        .flat_map(|fy| {
            crate::ops::push::year_titles(config, &fy)
                .into_iter()
                .map(move |t| (feed::normal_title(&t), fy.clone()))
        })
        .collect()
}

/// One poll's following: reads what changed, runs `sync` for the years it
/// touched, and moves the position when that run did not fail.
pub async fn follow(f: &Follower<'_>, polled: Polled) -> Result<Followed> {
    let Polled {
        position,
        mark,
        changes,
    } = polled;
    let (changes, more) = changes.unwrap_or_default();
    let read = feed::read(
        position.as_ref(),
        &changes,
        more,
        &tracked(f.config),
        f.user,
    );
    let moved = f.store.tracker_after(&mark).await?;
    let mut followed = Followed {
        changes: read.changes,
        full_check: read.full_check.clone(),
        more: read.more,
        ..Followed::default()
    };
    let (years, head): (BTreeSet<FiscalYear>, Option<Position>) = if read.full_check.is_some() {
        // From the wiki's newest change on: the full check covers what came before.
        let newest = f.wiki.newest_change().await?;
        (
            f.config.pages.years().into_iter().collect(),
            newest.or(read.head),
        )
    } else {
        // A record of a year no longer configured is not synced (`sync` would refuse).
        let configured = f.config.pages.years();
        let tracker: BTreeSet<FiscalYear> = moved
            .years
            .into_iter()
            .map(|(fy, _)| fy)
            .filter(|fy| configured.contains(fy))
            .collect();
        followed.tracker_years = tracker.len();
        (read.years.union(&tracker).cloned().collect(), read.head)
    };
    followed.years = years.iter().map(ToString::to_string).collect();
    if !years.is_empty() {
        if let Some(until) = backing_off(f.store).await? {
            // The position stays: the poll after the pause runs these years.
            followed.waiting = Some(format!("the pause after a failed run, until {until}"));
            return Ok(followed);
        }
        let years: Vec<FiscalYear> = years.into_iter().collect();
        match run_sync(f, &years, followed.full_check.is_some()).await? {
            Ran::Busy(holder) => {
                followed.waiting = Some(format!("run {holder} holds the writers' lease"));
                return Ok(followed);
            }
            Ran::Done(summary) => {
                let failed = matches!(summary.outcome, RunOutcome::Failed { .. });
                followed.run = Some((summary.run_id.clone(), summary.outcome.label().to_string()));
                if failed {
                    // The position stays: the next poll runs these years again.
                    return Ok(followed);
                }
            }
        }
    }
    if head != position || moved.mark != mark {
        f.store.set_watch_feed(head.as_ref(), &moved.mark).await?;
    }
    Ok(followed)
}

/// How the command of a run the watcher asked for names it, after the
/// years: `sync 2020-21 (watch: following changes)`.
const WATCH_RUN: &str = "watch: ";

/// How long the watcher waits after a run it asked for failed, before it
/// runs again (a failure that lasts, say the store refusing writes, is then
/// not a failed run and a status page edit every poll).
pub const PAUSE_AFTER_FAILURE: chrono::Duration = chrono::Duration::minutes(5);

/// When the last run the watcher asked for failed less than
/// [`PAUSE_AFTER_FAILURE`] ago: until when it waits.
async fn backing_off(store: &Store) -> Result<Option<String>> {
    let last = store
        .recent_runs(10)
        .await?
        .into_iter()
        .find(|r| r.command.contains(&format!("({WATCH_RUN}")));
    Ok(last.and_then(|r| {
        let until = r.finished + PAUSE_AFTER_FAILURE;
        (r.outcome == crate::store::RunState::Failed && Utc::now() < until)
            .then(|| until.format("%H:%M:%S UTC").to_string())
    }))
}

/// What asking for a run came to.
enum Ran {
    Done(Box<RunSummary>),
    /// Another run holds the writer's lease (its run id).
    Busy(String),
}

/// `sync` of `years` in a run of its own, under the writer's lease (not
/// waited for), recorded and shown on the status page as any run.
async fn run_sync(f: &Follower<'_>, years: &[FiscalYear], full: bool) -> Result<Ran> {
    let run_id = crate::ops::runs::new_run_id(Utc::now());
    let names: Vec<String> = years.iter().map(ToString::to_string).collect();
    let why = if full {
        "a full check"
    } else {
        "following changes"
    };
    let command = format!("sync {} ({WATCH_RUN}{why})", names.join(" "));
    let lease = match take_lease(f.store, &f.config.run, &run_id, &command, false).await? {
        Taken::Busy(held) => return Ok(Ran::Busy(held.run_id)),
        Taken::Held(lease) => lease,
    };
    let run = Run::new(f.store, &run_id, command, None);
    let span = tracing::info_span!("run", run_id = %run_id);
    let summary = synced(f, years, &run).instrument(span).await;
    if let Err(e) = crate::ops::runs::publish(f.config, f.wiki, f.store, &summary).await {
        tracing::warn!("the status page was not updated: {e:#}");
    }
    lease.release().await;
    crate::fault::reached("watch.followed");
    Ok(Ran::Done(Box::new(summary)))
}

/// The sync in its run's lifecycle: marked running, its summary recorded.
async fn synced(f: &Follower<'_>, years: &[FiscalYear], run: &Run<'_>) -> RunSummary {
    if let Err(e) = run.mark_running().await {
        tracing::warn!("could not mark the run as running: {e:#}");
    }
    let ctx = RunContext {
        config: f.config,
        wiki: f.wiki,
        store: f.store,
        run_id: &run.run_id,
        dry_run: false,
        user: f.user,
    };
    let before = f.wiki.counters().snapshot();
    let summary = match crate::ops::sync::sync(&ctx, years).await {
        Ok(report) => match report.stopped.clone() {
            Some(reason) => run.failed(&anyhow::anyhow!("{reason}")),
            None => match crate::ops::sync::sync_summary(run, &report).await {
                Ok(mut s) => {
                    // The watcher's counters run across polls: this run's share.
                    let after = f.wiki.counters().snapshot();
                    s.counts.api_requests = after.api_requests - before.api_requests;
                    s.counts.html_fetches = after.html_fetches - before.html_fetches;
                    s.counts.edits = after.edits - before.edits;
                    s
                }
                Err(e) => run.failed(&e),
            },
        },
        Err(e) => {
            tracing::error!("{} failed: {e:#}", run.command);
            run.failed(&e)
        }
    };
    if let Err(e) = run.record(&summary).await {
        tracing::warn!("could not record the run: {e:#}");
    }
    summary
}
