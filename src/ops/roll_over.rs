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
use crate::ops::{command_line, Mode, Session};

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
    if !config.pages.fiscal_years.on(today).contains(&fy) {
        return Due::Not(format!(
            "not tracked: {today} is in {fy} {q}, and {fy} is not in pages.fiscal_years; \
             add it there (or track `{{ current_and_before = 1 }}`) to have its quarter pages made"
        ));
    }
    Due::Create(fy, q)
}

/// How many days before a fiscal year's first day (1 July) the runs say
/// that the tracker has no objectives for it yet.
pub const NEW_YEAR_NOTICE_DAYS: i64 = 14;

/// The notice of a fiscal year about to start that its Q1 page cannot be
/// made for (pure): in the last [`NEW_YEAR_NOTICE_DAYS`] days before it,
/// when the config will not track it, or the tracker (`in_store`: the years
/// the store has records of) has no objectives for it. `(Q1 page, what to do)`.
pub fn new_year_notice(
    config: &Config,
    today: NaiveDate,
    in_store: &[FiscalYear],
) -> Option<(String, String)> {
    let (fy, _, _) = quarter_on(today);
    let next = fy.next();
    let first = NaiveDate::from_ymd_opt(i32::from(next.start_year()), 7, 1)?;
    let days = (first - today).num_days();
    if !(1..=NEW_YEAR_NOTICE_DAYS).contains(&days) {
        return None;
    }
    let title = config.pages.quarter_page(&next, Quarter::Q1);
    let when = format!("{next} starts in {days} days ({first})");
    if !config.pages.fiscal_years.on(first).contains(&next) {
        return Some((
            title,
            format!(
                "{when} and pages.fiscal_years will not track it: add \"{next}\" to the list, \
                 or write `fiscal_years = {{ current_and_before = 1 }}` to follow the calendar"
            ),
        ));
    }
    if in_store.contains(&next) {
        return None;
    }
    Some((
        title,
        format!(
            "{when} and the tracker has no objectives for it, so its Q1 page cannot be made: \
             import its annual plan with `goalsbot import PLAN.csv` (a file as `goalsbot export \
             --format csv` writes, with fiscal_year {next}); the roll-over then creates the page \
             in the year's first week"
        ),
    ))
}

/// `goalsbot roll-over [--today DATE]`: prints what it did; exit 3 when a
/// person must act first (no records for the year yet, no bot flag).
pub async fn command(
    config: &Config,
    creds: &Credentials,
    today: Option<NaiveDate>,
    mode: Mode,
) -> Result<ExitCode> {
    let dry_run = mode.dry_run;
    let today = today.unwrap_or_else(|| config.pages.today());
    let (fy, q) = match due(config, today) {
        Due::Create(fy, q) => (fy, q),
        Due::Not(why) => {
            crate::ops::print_report(
                mode.json,
                || format!("{why}\n"),
                || serde_json::json!({"today": today, "due": false, "said": [why], "exit_code": 0}),
            );
            return Ok(ExitCode::Ok);
        }
    };
    if !dry_run {
        // A dry run only reads: anonymous reads are enough.
        crate::ops::require_credentials(creds, "roll-over")?;
    }
    let session = Session::open(config, creds).await?;
    let run = roll_over(config, &session, &fy, q, mode);
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
    mode: Mode,
) -> Result<ExitCode> {
    let dry_run = mode.dry_run;
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
            let said = format!("STOPPED run {}: {reason}", session.run_id);
            crate::ops::print_report(
                mode.json,
                || format!("{said}\n"),
                || {
                    serde_json::json!({"run_id": session.run_id, "page": title, "due": true,
                        "stopped": reason, "said": [said], "exit_code": 0})
                },
            );
            return Ok(ExitCode::Ok);
        }
        tracing::warn!("{reason} (a dry run goes on: it writes nothing)");
    }
    // Why the page is not made (a person decides), or that it is there already.
    let refused = match revisions[0].redirect_refusal() {
        Some(redirect) => Some(redirect),
        None if revisions[0].latest.is_some() => {
            let said = format!("{title} exists: nothing to do [run {}]", session.run_id);
            return finish(config, session, &run, &title, vec![said], None, mode).await;
        }
        None => wiki.bot_flag_refusal().await?,
    };
    if refused.is_some() {
        return finish(config, session, &run, &title, Vec::new(), refused, mode).await;
    }
    if !dry_run {
        run.mark_running().await?;
    }
    let made =
        crate::ops::new_quarter::new_quarter(config, wiki, store, fy, q, &session.run_id, dry_run)
            .await;
    match made {
        Ok(made) => {
            finish(
                config,
                session,
                &run,
                &title,
                vec![made.render()],
                None,
                mode,
            )
            .await
        }
        // The year has no records yet: a person writes its goals first.
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            finish(
                config,
                session,
                &run,
                &title,
                Vec::new(),
                Some(format!("{e:#}")),
                mode,
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
    mode: Mode,
) -> Result<ExitCode> {
    let dry_run = mode.dry_run;
    let (wiki, store) = (&session.wiki, &session.store);
    let counted = wiki.counters().snapshot();
    let refused: Vec<RefusedPage> = refused
        .into_iter()
        .map(|reason| RefusedPage {
            title: title.to_string(),
            reason,
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
    crate::ops::print_report(
        mode.json,
        || {
            let mut out = String::new();
            for line in &said {
                out.push_str(line.trim_end());
                out.push('\n');
            }
            for r in &refused {
                out.push_str(&format!("not created: {}\n", r.reason));
            }
            out
        },
        || {
            serde_json::json!({
                "run_id": session.run_id,
                "page": title,
                "due": true,
                "dry_run": dry_run,
                "said": said.iter().map(|l| l.trim_end()).collect::<Vec<_>>(),
                "refused": refused.first().map(|r| r.reason.clone()),
                "edits": counted.edits,
                "exit_code": code as i32,
            })
        },
    );
    let summary = run
        .summary(counts, outcome, Vec::new(), refused, dry_run)
        .await?;
    if let Err(e) = runs::publish(config, wiki, store, &summary).await {
        tracing::warn!("the run is done, but the status page was not updated: {e:#}");
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(years: &str) -> Config {
        Config::from_toml(
            &format!("[pages]\nfiscal_years = {years}\n"),
            Path::new("t"),
        )
        .unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn fy(s: &str) -> FiscalYear {
        s.parse().unwrap()
    }

    #[test]
    fn a_year_that_follows_the_calendar_is_due_on_its_first_days() {
        let c = config("{ current_and_before = 1 }");
        assert_eq!(
            due(&c, day("2021-07-01")),
            Due::Create(fy("2021-22"), Quarter::Q1)
        );
        assert_eq!(
            due(&c, day("2021-07-07")),
            Due::Create(fy("2021-22"), Quarter::Q1)
        );
        assert!(matches!(due(&c, day("2021-07-08")), Due::Not(w) if w.starts_with("not due")));
        // A list does not move with the calendar.
        let listed = config("[\"2020-21\"]");
        assert!(
            matches!(due(&listed, day("2021-07-01")), Due::Not(w) if w.starts_with("not tracked"))
        );
    }

    #[test]
    fn the_new_year_notice_comes_in_the_last_two_weeks_until_the_tracker_has_the_year() {
        let c = config("{ current_and_before = 1 }");
        let notice = |today: &str, store: &[&str]| {
            let store: Vec<FiscalYear> = store.iter().map(|s| fy(s)).collect();
            new_year_notice(&c, day(today), &store)
        };
        assert_eq!(notice("2021-06-16", &["2020-21"]), None, "15 days before");
        let (page, said) = notice("2021-06-17", &["2020-21"]).unwrap();
        assert_eq!(page, "Wikimedia Technology/Goals/2021-22 Q1");
        assert!(
            said.starts_with("2021-22 starts in 14 days (2021-07-01)")
                && said.contains("goalsbot import PLAN.csv"),
            "{said}"
        );
        assert!(notice("2021-06-30", &["2020-21"]).is_some());
        assert_eq!(notice("2021-06-30", &["2020-21", "2021-22"]), None);
        // On the first day the roll-over speaks for itself.
        assert_eq!(notice("2021-07-01", &["2020-21"]), None);
        // A list that will not track the year says so.
        let listed = config("[\"2020-21\"]");
        let (_, said) = new_year_notice(&listed, day("2021-06-20"), &[fy("2021-22")]).unwrap();
        assert!(
            said.contains("pages.fiscal_years will not track it"),
            "{said}"
        );
        let listed = config("[\"2020-21\", \"2021-22\"]");
        assert_eq!(
            new_year_notice(&listed, day("2021-06-20"), &[fy("2021-22")]),
            None
        );
    }
}
