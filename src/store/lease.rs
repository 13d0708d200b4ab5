//! One run at a time: the writer's lease (holder, run id, heartbeat, expiry), taken atomically under the store's write lock.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::dialect::{sql, Row};
use super::{parse_timestamp, timestamp, Store};

/// The one row of the lease table.
const WRITER: i64 = 1;

/// Who holds the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The run that holds it.
    pub run_id: String,
    /// The process: `host:pid`.
    pub holder: String,
    /// What it runs.
    pub command: String,
    /// Since when.
    pub taken_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// When it stops holding it without a new heartbeat.
    pub expires_at: DateTime<Utc>,
}

/// A run asking for the lease.
#[derive(Debug, Clone, Copy)]
pub struct LeaseClaim<'a> {
    pub run_id: &'a str,
    pub holder: &'a str,
    pub command: &'a str,
    pub now: DateTime<Utc>,
    /// Held until then unless renewed.
    pub expires_at: DateTime<Utc>,
    /// A run whose lease may be taken over before it expires: its process is
    /// known to be gone (see `ops::runs::take_lease`).
    pub replacing: Option<&'a str>,
}

impl Store {
    /// Takes the writer's lease for `claim.run_id` when nobody holds it, its
    /// holder's lease expired, its holder is the run `claim.replacing`, or the
    /// run holds it already; else answers who holds it. Atomic: two runs that try at once take turns, one wins.
    pub async fn take_lease(&self, claim: &LeaseClaim<'_>) -> Result<Result<(), LeaseHolder>> {
        let mut tx = self.db.begin_write().await?;
        let text = format!(
            "SELECT run_id, holder, command, taken_at, heartbeat_at, expires_at \
             FROM run_lease WHERE slot = ?{}",
            tx.lock_rows()
        );
        let row = tx.fetch_optional(sql("lease", text).int(WRITER)).await?;
        if let Some(row) = row {
            let held = lease_holder(&row)?;
            let stale = claim.replacing == Some(held.run_id.as_str());
            if held.run_id != claim.run_id && held.expires_at > claim.now && !stale {
                return Ok(Err(held));
            }
        }
        let (now, expires) = (timestamp(&claim.now), timestamp(&claim.expires_at));
        let text = format!(
            "INSERT INTO run_lease (slot, run_id, holder, command, taken_at, heartbeat_at, \
             expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) {}",
            tx.upsert(
                "slot",
                &[
                    "run_id",
                    "holder",
                    "command",
                    "taken_at",
                    "heartbeat_at",
                    "expires_at"
                ]
            )
        );
        let q = sql("take_lease", text)
            .int(WRITER)
            .text(claim.run_id)
            .text(claim.holder)
            .text(claim.command)
            .text(&now)
            .text(&now)
            .text(&expires);
        tx.execute(q).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The heartbeat: extends the lease of `run_id` to `expires_at`; false
    /// when the run no longer holds it (it expired and another run took it).
    pub async fn renew_lease(
        &self,
        run_id: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let (now, expires_at) = (timestamp(&now), timestamp(&expires_at));
        let q = sql(
            "renew_lease",
            "UPDATE run_lease SET heartbeat_at = ?, expires_at = ? WHERE slot = ? AND run_id = ?",
        )
        .text(&now)
        .text(&expires_at)
        .int(WRITER)
        .text(run_id);
        Ok(self.db.execute(q).await? > 0)
    }

    /// Gives the lease of `run_id` back (nothing when it does not hold it).
    pub async fn release_lease(&self, run_id: &str) -> Result<()> {
        let q = sql(
            "release_lease",
            "DELETE FROM run_lease WHERE slot = ? AND run_id = ?",
        )
        .int(WRITER)
        .text(run_id);
        self.db.execute(q).await?;
        Ok(())
    }
}

/// A lease row: `run_id, holder, command, taken_at, heartbeat_at, expires_at`.
fn lease_holder(row: &Row) -> Result<LeaseHolder> {
    Ok(LeaseHolder {
        run_id: row.text(0)?,
        holder: row.text(1)?,
        command: row.text(2)?,
        taken_at: parse_timestamp(&row.text(3)?)?,
        heartbeat_at: parse_timestamp(&row.text(4)?)?,
        expires_at: parse_timestamp(&row.text(5)?)?,
    })
}
