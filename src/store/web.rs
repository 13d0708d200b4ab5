//! What the web view (`goalsbot serve`) asks of the store beyond the
//! commands' reads: where the store's history stands, in one query.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::dialect::sql;
use super::{parse_timestamp, Store};

/// Where the store stands: the newest history row, the newest run and the
/// conflicts. Every page of the web view is a function of these and of its
/// address, so they make its `ETag` and `Last-Modified`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHead {
    /// The newest history row's `seq` (0: no history).
    pub history_seq: i64,
    /// How many runs are remembered, and how many conflicts there are and
    /// are still waiting: a run or a resolution changes them.
    pub runs: i64,
    pub conflicts: i64,
    pub open_conflicts: i64,
    /// The newest of: the last history row, run end, conflict found or
    /// resolved (`None`: an empty store).
    pub changed: Option<DateTime<Utc>>,
}

impl StoreHead {
    /// A strong validator for this head (with `build`, the program's
    /// version, so that a new release's pages are not taken from a cache).
    pub fn etag(&self, build: &str) -> String {
        format!(
            "\"{build}-{}-{}-{}-{}\"",
            self.history_seq, self.runs, self.conflicts, self.open_conflicts
        )
    }
}

impl Store {
    /// The store's head, in one query ([`StoreHead`]).
    pub async fn head(&self) -> Result<StoreHead> {
        let q = sql(
            "head",
            "SELECT \
             (SELECT MAX(seq) FROM history) AS history_seq, \
             (SELECT at FROM history ORDER BY seq DESC LIMIT 1) AS history_at, \
             (SELECT COUNT(*) FROM runs) AS runs, \
             (SELECT MAX(finished_at) FROM runs) AS runs_at, \
             (SELECT COUNT(*) FROM conflicts) AS conflicts, \
             (SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL) AS open_conflicts, \
             (SELECT MAX(created_at) FROM conflicts) AS conflicts_at, \
             (SELECT MAX(resolved_at) FROM conflicts) AS resolved_at",
        );
        let row = self.db.fetch_optional(q).await?;
        let Some(row) = row else {
            anyhow::bail!("store query head: no row");
        };
        let mut changed: Option<DateTime<Utc>> = None;
        for col in ["history_at", "runs_at", "conflicts_at", "resolved_at"] {
            if let Some(t) = row.opt_text(col)? {
                let t = parse_timestamp(&t)?;
                changed = Some(changed.map_or(t, |c| c.max(t)));
            }
        }
        Ok(StoreHead {
            history_seq: row.opt_int("history_seq")?.unwrap_or(0),
            runs: row.int("runs")?,
            conflicts: row.int("conflicts")?,
            open_conflicts: row.int("open_conflicts")?,
            changed,
        })
    }
}
