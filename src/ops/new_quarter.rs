//! `goalsbot new-quarter`: creates the next quarter page from the store (refuses when it exists).

use anyhow::Result;

use crate::config::{Config, Credentials};
use crate::core::records::{FiscalYear, Quarter};
use crate::core::render::Renderer;
use crate::error::{ExitCode, UsageError};
use crate::ops::pull::refresh_page_state;
use crate::ops::Session;
use crate::store::Store;
use crate::wiki::Wiki;

/// `goalsbot new-quarter FY QN`: prints what it created (or would, in a dry run).
pub async fn command(
    config: &Config,
    creds: &Credentials,
    fy: &FiscalYear,
    q: Quarter,
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    if !dry_run {
        // A dry run only reads: anonymous reads are enough.
        crate::ops::require_credentials(creds, "new-quarter")?;
    }
    let session = Session::open(config, creds).await?;
    let run = async {
        let (wiki, store) = (&session.wiki, &session.store);
        let made = new_quarter(config, wiki, store, fy, q, &session.run_id, dry_run).await?;
        crate::ops::print_report(
            json,
            || made.render(),
            || serde_json::to_value(&made).unwrap_or_default(),
        );
        Ok(ExitCode::Ok)
    };
    let out = session.asked(config, dry_run, run).await;
    session.close().await;
    out
}

/// A quarter page made (or, in a dry run, the page that would be).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Made {
    pub run_id: String,
    pub page: String,
    pub dry_run: bool,
    /// The new page's revision; `None` in a dry run.
    pub revision: Option<u64>,
    /// The page's wikitext.
    pub text: String,
}

impl Made {
    /// `created TITLE (revision N) [run ID]`, or a dry run's page.
    pub fn render(&self) -> String {
        match self.revision {
            Some(rev) => format!(
                "created {} (revision {rev}) [run {}]\n",
                self.page, self.run_id
            ),
            None => format!("would create {}:\n{}", self.page, self.text),
        }
    }
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
) -> Result<Made> {
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
    let mut made = Made {
        run_id: run_id.to_string(),
        page: title.clone(),
        dry_run,
        revision: None,
        text,
    };
    if dry_run {
        return Ok(made);
    }
    let summary = format!("goalsbot: new quarter page from the goals tracker [run {run_id}]");
    let newrev = wiki
        .save(&title, &made.text, &summary, None)
        .await?
        .newrevid;
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
    made.revision = Some(newrev);
    Ok(made)
}
