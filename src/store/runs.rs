//! The bot's own edits and its finished runs, for undo and the status page.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::dialect::{sql, Row};
use super::{i64_of, parse_timestamp, timestamp, u64_of, Store};

/// One edit the bot saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EditEntry {
    /// The run that saved it.
    pub run_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The page.
    pub title: String,
    /// The revision it replaced (`None`: created the page).
    pub old_revid: Option<u64>,
    /// The revision it made.
    pub new_revid: u64,
    /// Its edit summary.
    pub summary: String,
}

text_enum! {
    /// Where a run is: running, stopped by the shutoff page before it began, or finished with an outcome.
    RunState {
        /// Marked at its start; replaced by its summary when it ends.
        Running = "running",
        /// The shutoff page stopped it before it began.
        Stopped = "stopped",
        /// Finished: nothing to do.
        NothingToDo = "nothing-to-do",
        /// Finished: changed the store or the wiki.
        Changed = "changed",
        /// Finished: something waits for a person.
        NeedsPerson = "needs-person",
        /// Finished: failed.
        Failed = "failed",
    }
}

/// A finished run as remembered for the status page.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    /// The run id.
    pub run_id: String,
    /// What ran.
    pub command: String,
    /// Running, stopped, or how it ended.
    pub outcome: RunState,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it finished.
    pub finished: DateTime<Utc>,
    /// The run's summary as JSON.
    pub summary: Value,
}

impl Store {
    /// Records an edit the bot saved.
    pub async fn record_edit(&self, edit: &EditEntry) -> Result<()> {
        let old = edit
            .old_revid
            .map(|r| i64_of(r, "revision id"))
            .transpose()?;
        let new = i64_of(edit.new_revid, "revision id")?;
        let at = timestamp(&edit.at);
        let q = sql(
            "record_edit",
            "INSERT INTO edits (run_id, at, title, old_revision_id, new_revision_id, summary) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .text(&edit.run_id)
        .text(&at)
        .text(&edit.title)
        .opt_int(old)
        .int(new)
        .text(&edit.summary);
        self.db.execute(q).await?;
        Ok(())
    }

    /// The edits of a run, in order.
    pub async fn edits_of_run(&self, run_id: &str) -> Result<Vec<EditEntry>> {
        let q = sql(
            "edits_of_run",
            "SELECT at, title, old_revision_id, new_revision_id, summary FROM edits \
             WHERE run_id = ? ORDER BY seq",
        );
        let rows = self.db.fetch_all(q.text(run_id)).await?;
        rows.iter()
            .map(|row| {
                Ok(EditEntry {
                    run_id: run_id.to_string(),
                    at: parse_timestamp(&row.text(0)?)?,
                    title: row.text(1)?,
                    old_revid: row
                        .opt_int(2)?
                        .map(|r| u64_of(r, "revision id"))
                        .transpose()?,
                    new_revid: u64_of(row.int(3)?, "revision id")?,
                    summary: row.text(4)?,
                })
            })
            .collect()
    }

    /// Records a finished run (replacing an entry with the same id).
    pub async fn record_run(&self, run: &RunEntry) -> Result<()> {
        let summary = serde_json::to_string(&run.summary).context("serialising the run summary")?;
        let (started, finished) = (timestamp(&run.started), timestamp(&run.finished));
        let text = format!(
            "INSERT INTO runs (run_id, started_at, finished_at, command, outcome, summary) \
             VALUES (?, ?, ?, ?, ?, ?) {}",
            self.db.upsert(
                "run_id",
                &["started_at", "finished_at", "command", "outcome", "summary"]
            )
        );
        let q = sql("record_run", text)
            .text(&run.run_id)
            .text(&started)
            .text(&finished)
            .text(&run.command)
            .text(run.outcome.as_str())
            .text(&summary);
        self.db.execute(q).await?;
        Ok(())
    }

    /// The `n` runs that finished last, newest first.
    pub async fn recent_runs(&self, n: u32) -> Result<Vec<RunEntry>> {
        let q = sql(
            "recent_runs",
            "SELECT run_id, started_at, finished_at, command, outcome, summary FROM runs \
             ORDER BY finished_at DESC, run_id DESC LIMIT ?",
        );
        let rows = self.db.fetch_all(q.int(i64::from(n))).await?;
        rows.iter().map(run_entry).collect()
    }

    /// The run `run_id`, when it is remembered.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunEntry>> {
        let q = sql(
            "run",
            "SELECT run_id, started_at, finished_at, command, outcome, summary FROM runs \
             WHERE run_id = ?",
        );
        let row = self.db.fetch_optional(q.text(run_id)).await?;
        row.as_ref().map(run_entry).transpose()
    }
}

/// A run row, its text parsed.
fn run_entry(row: &Row) -> Result<RunEntry> {
    let run_id = row.text(0)?;
    Ok(RunEntry {
        summary: serde_json::from_str(&row.text(5)?)
            .with_context(|| format!("run {run_id}: stored summary"))?,
        command: row.text(3)?,
        outcome: RunState::from(row.text(4)?),
        started: parse_timestamp(&row.text(1)?)?,
        finished: parse_timestamp(&row.text(2)?)?,
        run_id,
    })
}
