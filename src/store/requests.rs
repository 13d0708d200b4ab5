//! On-wiki requests (claimed before their action runs, answered once) and what the watcher remembers of each watched page.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::dialect::{sql, Row};
use super::{i64_of, parse_timestamp, timestamp, u64_of, SourceKind, Store};
use crate::core::feed::Position;
use crate::core::records::FiscalYear;

text_enum! {
    /// Where an on-wiki request is.
    RequestState {
        /// Being worked on (its action may have run; its reply may be pending).
        Claimed = "claimed",
        /// Its reply is saved.
        Answered = "answered",
    }
}

/// An on-wiki request as remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEntry {
    /// The request id (revision and position).
    pub id: String,
    /// The command page.
    pub page: String,
    /// The revision that added it.
    pub revid: u64,
    /// Who added it (from that revision).
    pub requester: String,
    /// The request as written.
    pub template: String,
    /// Claimed or answered.
    pub state: RequestState,
    /// The run that serves it.
    pub run_id: Option<String>,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
}

/// The columns of a request row, as [`request_entry`] reads them.
const REQUEST_COLUMNS: &str =
    "id, page_title, revision_id, requester, template, state, run_id, claimed_at";

fn request_entry(row: &Row) -> Result<RequestEntry> {
    Ok(RequestEntry {
        id: row.text(0)?,
        page: row.text(1)?,
        revid: u64_of(row.int(2)?, "revision id")?,
        requester: row.text(3)?,
        template: row.text(4)?,
        state: RequestState::from(row.text(5)?),
        run_id: row.opt_text(6)?,
        claimed_at: parse_timestamp(&row.text(7)?)?,
    })
}

impl Store {
    /// Claims a request before its action runs; false when it was already
    /// claimed (by this or an earlier watcher).
    pub async fn claim_request(&self, req: &RequestEntry) -> Result<bool> {
        let revid = i64_of(req.revid, "revision id")?;
        let at = timestamp(&req.claimed_at);
        // A plain INSERT: a duplicate id (the only unique key) is the answer
        // "already claimed" (MariaDB's ON DUPLICATE KEY tricks report found
        // rows, not inserted ones).
        let q = sql(
            "claim_request",
            "INSERT INTO requests (id, page_title, revision_id, requester, template, state, \
             run_id, claimed_at) VALUES (?, ?, ?, ?, ?, 'claimed', ?, ?)",
        )
        .text(&req.id)
        .text(&req.page)
        .int(revid)
        .text(&req.requester)
        .text(&req.template)
        .opt_text(req.run_id.as_deref())
        .text(&at);
        match self.db.execute_raw(&q).await {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(anyhow::Error::from(e).context("store query claim_request")),
        }
    }

    /// Marks a claimed request answered by the reply saved as `reply_revid`.
    pub async fn answer_request(
        &self,
        id: &str,
        reply_revid: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let rev = reply_revid.map(|r| i64_of(r, "revision id")).transpose()?;
        let at = timestamp(&at);
        let q = sql(
            "answer_request",
            "UPDATE requests SET state = 'answered', answered_at = ?, reply_revision_id = ? \
             WHERE id = ?",
        );
        self.db.execute(q.text(&at).opt_int(rev).text(id)).await?;
        Ok(())
    }

    /// Records the run that serves a request (it counts towards the rate limit from then on).
    pub async fn set_request_run(&self, id: &str, run_id: &str) -> Result<()> {
        let q = sql(
            "set_request_run",
            "UPDATE requests SET run_id = ? WHERE id = ?",
        );
        self.db.execute(q.text(run_id).text(id)).await?;
        Ok(())
    }

    /// Replaces what is stored about a request besides its columns (the
    /// watcher's JSON: where it was written, its reply while unsaved).
    pub async fn set_request_template(&self, id: &str, template: &str) -> Result<()> {
        let q = sql(
            "set_request_template",
            "UPDATE requests SET template = ? WHERE id = ?",
        );
        self.db.execute(q.text(template).text(id)).await?;
        Ok(())
    }

    /// A request by id.
    pub async fn request(&self, id: &str) -> Result<Option<RequestEntry>> {
        let text = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?");
        let row = self
            .db
            .fetch_optional(sql("request", text).text(id))
            .await?;
        row.as_ref().map(request_entry).transpose()
    }

    /// Requests claimed but not answered (a watcher stopped in the middle).
    pub async fn unanswered_requests(&self) -> Result<Vec<RequestEntry>> {
        let text = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE state = 'claimed' ORDER BY claimed_at, id"
        );
        let rows = self.db.fetch_all(sql("unanswered_requests", text)).await?;
        rows.iter().map(request_entry).collect()
    }

    /// The requests claimed since `since` (by `requester`, or by anyone)
    /// that ran an action (they have a run): `(id, requester, claimed at)`, oldest first.
    pub async fn requests_since(
        &self,
        requester: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String, DateTime<Utc>)>> {
        let since = timestamp(&since);
        let q = sql(
            "requests_since",
            "SELECT id, requester, claimed_at FROM requests WHERE claimed_at >= ? \
             AND run_id IS NOT NULL ORDER BY claimed_at, id",
        );
        let mut out = Vec::new();
        for row in self.db.fetch_all(q.text(&since)).await? {
            let user = row.text(1)?;
            if requester.is_none_or(|r| r == user) {
                out.push((row.text(0)?, user, parse_timestamp(&row.text(2)?)?));
            }
        }
        Ok(out)
    }

    /// The last revision of a watched page whose requests were taken in, with its text.
    pub async fn watch_state(&self, page: &str) -> Result<Option<(u64, String)>> {
        let row = self.get_watch_state(page).await?;
        row.map(|(r, text)| Ok((u64_of(r, "revision id")?, text)))
            .transpose()
    }

    /// What the watcher remembers of the request lines `page` held (JSON).
    pub async fn watch_seen(&self, page: &str) -> Result<Option<String>> {
        let q = sql(
            "watch_seen",
            "SELECT seen FROM watch_seen WHERE page_title = ?",
        )
        .text(page);
        let row = self.db.fetch_optional(q).await?;
        row.map(|r| r.text(0)).transpose()
    }

    /// Keeps what the watcher remembers of the request lines `page` held.
    pub async fn set_watch_seen(&self, page: &str, seen: &str) -> Result<()> {
        let text = format!(
            "INSERT INTO watch_seen (page_title, seen) VALUES (?, ?) {}",
            self.db.upsert("page_title", &["seen"])
        );
        self.db
            .execute(sql("set_watch_seen", text).text(page).text(seen))
            .await?;
        Ok(())
    }

    /// Remembers the last revision of a watched page whose requests were taken in.
    pub async fn set_watch_state(&self, page: &str, revid: u64, text: &str) -> Result<()> {
        self.put_watch_state(page, i64_of(revid, "revision id")?, text)
            .await
    }

    async fn get_watch_state(&self, page: &str) -> Result<Option<(i64, String)>> {
        let q = sql(
            "watch_state",
            "SELECT revision_id, content FROM watch_state WHERE page_title = ?",
        );
        let row = self.db.fetch_optional(q.text(page)).await?;
        row.map(|row| Ok((row.int(0)?, row.text(1)?))).transpose()
    }

    async fn put_watch_state(&self, page: &str, revid: i64, content: &str) -> Result<()> {
        let text = format!(
            "INSERT INTO watch_state (page_title, revision_id, content) VALUES (?, ?, ?) {}",
            self.db.upsert("page_title", &["revision_id", "content"])
        );
        let q = sql("set_watch_state", text)
            .text(page)
            .int(revid)
            .text(content);
        self.db.execute(q).await?;
        Ok(())
    }

    /// Where `watch` stands in what it follows (`None` before its first
    /// poll): its position in the wiki's recent changes (`None` until it
    /// had one) and in the store ([`StoreMark`]).
    pub async fn watch_feed(&self) -> Result<Option<(Option<Position>, StoreMark)>> {
        let q = sql(
            "watch_feed",
            "SELECT rc_timestamp, rc_id, history_seq, resolved_at FROM watch_feed WHERE slot = 1",
        );
        let Some(row) = self.db.fetch_optional(q).await? else {
            return Ok(None);
        };
        let rc = match (row.opt_text(0)?, row.opt_int(1)?) {
            (Some(timestamp), Some(rcid)) => Some(Position {
                timestamp,
                rcid: u64_of(rcid, "recent change id")?,
            }),
            _ => None,
        };
        let mark = StoreMark {
            history_seq: row.int(2)?,
            resolved_at: row.text(3)?,
        };
        Ok(Some((rc, mark)))
    }

    /// Moves `watch`'s position (see [`Store::watch_feed`]).
    pub async fn set_watch_feed(&self, rc: Option<&Position>, mark: &StoreMark) -> Result<()> {
        let rcid = rc.map(|p| i64_of(p.rcid, "recent change id")).transpose()?;
        let text = format!(
            "INSERT INTO watch_feed (slot, rc_timestamp, rc_id, history_seq, resolved_at) \
             VALUES (1, ?, ?, ?, ?) {}",
            self.db.upsert(
                "slot",
                &["rc_timestamp", "rc_id", "history_seq", "resolved_at"]
            )
        );
        let q = sql("set_watch_feed", text)
            .opt_text(rc.map(|p| p.timestamp.as_str()))
            .opt_int(rcid)
            .int(mark.history_seq)
            .text(&mark.resolved_at);
        self.db.execute(q).await?;
        Ok(())
    }

    /// What the tracker did after `mark`, in one query: where the store
    /// stands now, and the fiscal years tracker edits (`set`, `import`,
    /// `resolve` taking the wiki's value) and resolutions that kept the
    /// store's value (the pages still show the wiki's) touched, each with
    /// the run that made it. A run that served an on-wiki request pushed
    /// its own changes, and wiki pulls are the pages' own: both left out.
    pub async fn tracker_after(&self, mark: &StoreMark) -> Result<TrackerMoved> {
        let q = sql(
            "tracker_after",
            "SELECT r.fiscal_year, h.source, h.run_id, MAX(h.seq), '', \
             EXISTS (SELECT 1 FROM requests q WHERE q.run_id = h.run_id) \
             FROM history h JOIN records r ON r.id = h.record_id WHERE h.seq > ? \
             GROUP BY r.fiscal_year, h.source, h.run_id \
             UNION ALL \
             SELECT c.fiscal_year, 'tracker', c.resolved_run_id, 0, MAX(c.resolved_at), \
             EXISTS (SELECT 1 FROM requests q WHERE q.run_id = c.resolved_run_id) \
             FROM conflicts c WHERE c.resolved_at > ? AND c.resolution = 'store' \
             GROUP BY c.fiscal_year, c.resolved_run_id",
        )
        .int(mark.history_seq)
        .text(&mark.resolved_at);
        let mut moved = TrackerMoved {
            mark: mark.clone(),
            years: Vec::new(),
        };
        for row in self.db.fetch_all(q).await? {
            moved.mark.history_seq = moved.mark.history_seq.max(row.int(3)?);
            let resolved_at = row.text(4)?;
            if resolved_at > moved.mark.resolved_at {
                moved.mark.resolved_at = resolved_at;
            }
            let requested = row.int(5)? != 0;
            if row.text(1)? == SourceKind::Tracker.as_str() && !requested {
                let fy = row.text(0)?;
                let fy = fy
                    .parse::<FiscalYear>()
                    .map_err(|e| anyhow::anyhow!("history: fiscal year {fy:?}: {e}"))?;
                let run_id = row.opt_text(2)?.unwrap_or_default();
                moved.years.push((fy, run_id));
            }
        }
        Ok(moved)
    }
}

/// Where `watch` stands in the store: the last `history` row and the last
/// conflict resolution it has looked at (a timestamp as the store writes
/// them; empty before any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreMark {
    pub history_seq: i64,
    pub resolved_at: String,
}

/// What the tracker did after a [`StoreMark`] ([`Store::tracker_after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerMoved {
    /// Where the store stands now.
    pub mark: StoreMark,
    /// Each fiscal year a tracker edit or resolution touched, with its run id.
    pub years: Vec<(FiscalYear, String)>,
}
