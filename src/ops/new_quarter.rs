//! `goalsbot new-quarter`: creates the next quarter page from the store (refuses when it exists).

use anyhow::Result;

use crate::config::{Config, Credentials};
use crate::core::records::{FiscalYear, Quarter};
use crate::core::render::Renderer;
use crate::error::{ExitCode, UsageError};
use crate::ops::push::refresh_page_state;
use crate::ops::Session;
use crate::store::Store;
use crate::wiki::Wiki;

/// `goalsbot new-quarter FY QN`: prints what it created (or would, in a dry run).
pub async fn command(
    config: &Config,
    creds: &Credentials,
    fy: &FiscalYear,
    q: Quarter,
    dry_run: bool,
) -> Result<ExitCode> {
    if !dry_run {
        // A dry run only reads: anonymous reads are enough.
        crate::ops::push::require_credentials(creds, "new-quarter")?;
    }
    let session = Session::open(config, creds).await?;
    let run = async {
        let (wiki, store) = (&session.wiki, &session.store);
        let text = new_quarter(config, wiki, store, fy, q, &session.run_id, dry_run).await?;
        print!("{text}");
        Ok(ExitCode::Ok)
    };
    let out = session.asked(config, dry_run, run).await;
    session.close().await;
    out
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
            "the store has no objectives for {fy}: import the year's annual plan \
             (`goalsbot import PLAN.csv`, see the runbook's new-year procedure), or pull the \
             year's other quarter pages first"
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
    let newrev = wiki.save(&title, &text, &summary, None).await?.newrevid;
    store
        .record_edit(&crate::store::EditEntry {
            run_id: run_id.to_string(),
            at: chrono::Utc::now(),
            title: title.clone(),
            old_revid: None,
            new_revid: newrev,
            summary,
        })
        .await?;
    refresh_page_state(wiki, store, &title, fy, q, newrev, &config.palette()).await?;
    Ok(format!(
        "created {title} (revision {newrev}) [run {run_id}]\n"
    ))
}
