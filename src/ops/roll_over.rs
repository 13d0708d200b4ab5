//! `goalsbot roll-over`: in the first week of a quarter, creates that
//! quarter's page from the store when it does not exist yet, so staff find
//! the new page ready. The scheduled job runs it daily (`deploy/jobs.yaml`);
//! it is idempotent (a page that exists is left alone, whoever made it),
//! obeys the shutoff page, and each run that does something is shown on the
//! status page. Outside a quarter's first week it asks the wiki nothing.

use anyhow::Result;
use chrono::NaiveDate;

use crate::config::{Config, Credentials};
use crate::core::records::{quarter_on, FiscalYear, Quarter};
use crate::core::runlog::{RefusedPage, RunCounts, RunOutcome};
use crate::error::{ExitCode, UsageError};
use crate::ops::runs::{self, Run};
use crate::ops::{command_line, Session};

/// A quarter's page is created in the first this many days of the quarter.
pub const FIRST_DAYS: u32 = 7;

/// What the roll-over decides from the date and the config alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Create (or find) `{FY} {Qn}`'s page.
    Create(FiscalYear, Quarter),
    /// Nothing to do today, and why.
    Not(String),
}

/// The roll-over's decision for `today` (pure).
pub fn due(config: &Config, today: NaiveDate) -> Due {
    let (fy, q, day) = quarter_on(today);
    if day > FIRST_DAYS {
        return Due::Not(format!(
            "not due: {fy} {q} began {} days before {today}; the roll-over creates a quarter's page \
             in its first {FIRST_DAYS} days (`goalsbot new-quarter {fy} {q}` creates it on any day)",
            day - 1
        ));
    }
    if !config.pages.fiscal_years.contains(&fy) {
        return Due::Not(format!(
            "not tracked: {today} is in {fy} {q}, and {fy} is not in pages.fiscal_years; \
             add it there to have its quarter pages made"
        ));
    }
    Due::Create(fy, q)
}

/// `goalsbot roll-over [--today DATE]`: prints what it did; exit 3 when a
/// person must act first (no records for the year yet, no bot flag).
pub async fn command(
    config: &Config,
    creds: &Credentials,
    today: Option<NaiveDate>,
    dry_run: bool,
) -> Result<ExitCode> {
    let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let (fy, q) = match due(config, today) {
        Due::Create(fy, q) => (fy, q),
        Due::Not(why) => {
            println!("{why}");
            return Ok(ExitCode::Ok);
        }
    };
    if !dry_run {
        // A dry run only reads: anonymous reads are enough.
        crate::ops::push::require_credentials(creds, "roll-over")?;
    }
    let session = Session::open(config, creds).await?;
    let run = roll_over(config, &session, &fy, q, dry_run);
    let out = session.writing(config, dry_run, run).await;
    session.close().await;
    out
}

/// The roll-over of `fy q` as a run: looked at, created or not, reported.
async fn roll_over(
    config: &Config,
    session: &Session,
    fy: &FiscalYear,
    q: Quarter,
    dry_run: bool,
) -> Result<ExitCode> {
    let (wiki, store) = (&session.wiki, &session.store);
    let title = config.pages.quarter_page(fy, q);
    let run = Run::new(store, &session.run_id, command_line(), None);
    // Whether the page is there, and the shutoff page: one request.
    let shutoff = config.commands.shutoff();
    let mut asked = vec![title.clone()];
    asked.extend(shutoff.map(String::from));
    let revisions = wiki.latest_revisions(&asked).await?;
    let known = shutoff.map(|_| revisions[1].latest.as_ref().map(|l| l.revid));
    if let Some(reason) = runs::shutoff_reason(config, wiki, store, known).await? {
        if !dry_run {
            tracing::warn!("{reason}");
            run.stopped().await?;
            println!("STOPPED run {}: {reason}", session.run_id);
            return Ok(ExitCode::Ok);
        }
        tracing::warn!("{reason} (a dry run goes on: it writes nothing)");
    }
    // Why the page is not made (a person decides), or that it is there already.
    let refused = match revisions[0].redirect_refusal() {
        Some(redirect) => Some(redirect),
        None if revisions[0].latest.is_some() => {
            let said = format!("{title} exists: nothing to do [run {}]", session.run_id);
            return finish(config, session, &run, &title, vec![said], None, dry_run).await;
        }
        None => wiki.bot_flag_refusal().await?,
    };
    if refused.is_some() {
        return finish(config, session, &run, &title, Vec::new(), refused, dry_run).await;
    }
    if !dry_run {
        run.mark_running().await?;
    }
    let made =
        crate::ops::new_quarter::new_quarter(config, wiki, store, fy, q, &session.run_id, dry_run)
            .await;
    match made {
        Ok(text) => finish(config, session, &run, &title, vec![text], None, dry_run).await,
        // The year has no records yet: a person writes its goals first.
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            finish(
                config,
                session,
                &run,
                &title,
                Vec::new(),
                Some(format!("{e:#}")),
                dry_run,
            )
            .await
        }
        Err(e) => {
            if !dry_run {
                let failed = run.failed(&e);
                if let Err(p) = runs::publish(config, wiki, store, &failed).await {
                    tracing::warn!("the status page was not updated: {p:#}");
                }
            }
            Err(e)
        }
    }
}

/// Prints what the run did, records it and shows it on the status page:
/// `refused` (why the page was not made) asks a person (exit 3).
async fn finish(
    config: &Config,
    session: &Session,
    run: &Run<'_>,
    title: &str,
    said: Vec<String>,
    refused: Option<String>,
    dry_run: bool,
) -> Result<ExitCode> {
    let (wiki, store) = (&session.wiki, &session.store);
    for line in &said {
        print!("{}", line.trim_end());
        println!();
    }
    let counted = wiki.counters().snapshot();
    let refused: Vec<RefusedPage> = refused
        .into_iter()
        .map(|reason| {
            println!("not created: {reason}");
            RefusedPage {
                title: title.to_string(),
                reason,
            }
        })
        .collect();
    let counts = RunCounts {
        pages_checked: 1,
        pages_changed: counted.edits,
        html_fetches: counted.html_fetches,
        api_requests: counted.api_requests,
        edits: counted.edits,
        records_changed: 0,
        conflicts: 0,
        refused: refused.len() as u64,
    };
    let outcome = RunOutcome::from_counts(&counts);
    let code = match outcome {
        RunOutcome::NeedsPerson => ExitCode::NeedsPerson,
        _ => ExitCode::Ok,
    };
    let summary = run
        .summary(counts, outcome, Vec::new(), refused, dry_run)
        .await?;
    if let Err(e) = runs::publish(config, wiki, store, &summary).await {
        tracing::warn!("the run is done, but the status page was not updated: {e:#}");
    }
    Ok(code)
}
