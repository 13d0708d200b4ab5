//! The SQLite store: connection setup, migrations and every SQLite query, each named.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use super::memory::{CloseTarget, ConflictRow, Extras, RequestRow, CONFLICT_COLUMNS};
use super::{
    json, json_opt, named, record_fiscal_year, HistoryEntry, HistoryRow, PageWrite, Provenance,
    ProvenanceColumns, StoreError,
};
use crate::core::fields::{FieldChange, FieldKey, Fields, REMOVED};

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// The newest schema version this build knows.
fn known_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A pool on one SQLite database.
pub(super) struct Sqlite {
    pool: SqlitePool,
}

impl Sqlite {
    /// Opens (creating the file if needed), refuses a newer schema, migrates an older one.
    pub(super) async fn open(url: &str) -> Result<Self> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)
            .context("reading the sqlite URL")?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool_options = if memory {
            // Every connection to `:memory:` is a database of its own: keep
            // exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            options = options.journal_mode(SqliteJournalMode::Wal);
            SqlitePoolOptions::new().max_connections(4)
        };
        let pool = named("connect", pool_options.connect_with(options)).await?;
        let db = Sqlite { pool };
        db.refuse_newer_schema().await?;
        MIGRATOR.run(&db.pool).await.with_context(|| {
            format!("migrating the store to schema version {}", known_version())
        })?;
        Ok(db)
    }

    async fn refuse_newer_schema(&self) -> Result<()> {
        let table: Option<String> = named(
            "find_migrations_table",
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(&self.pool),
        )
        .await?;
        if table.is_none() {
            return Ok(());
        }
        let found = self.schema_version().await?;
        let known = known_version();
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known }.into());
        }
        Ok(())
    }

    pub(super) async fn schema_version(&self) -> Result<i64> {
        named(
            "schema_version",
            sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = 1",
            )
            .fetch_one(&self.pool),
        )
        .await
    }

    pub(super) async fn fiscal_years(&self) -> Result<Vec<String>> {
        named(
            "fiscal_years",
            sqlx::query_scalar("SELECT DISTINCT fiscal_year FROM records").fetch_all(&self.pool),
        )
        .await
    }

    pub(super) async fn load_fields(&self, fy: &str) -> Result<Fields> {
        let rows: Vec<(String, String, String)> = named(
            "load_fields",
            sqlx::query_as(
                "SELECT f.record_id, f.field, f.value FROM fields f \
                 JOIN records r ON r.id = f.record_id WHERE r.fiscal_year = ?",
            )
            .bind(fy)
            .fetch_all(&self.pool),
        )
        .await?;
        let removed: Vec<String> = named(
            "load_removed",
            sqlx::query_scalar("SELECT id FROM records WHERE fiscal_year = ? AND removed = 1")
                .bind(fy)
                .fetch_all(&self.pool),
        )
        .await?;
        let mut out = Fields::new();
        for (record, field, value) in rows {
            let v = json(&value, &record, &field)?;
            out.insert(FieldKey::new(record, field), v);
        }
        for record in removed {
            out.insert(FieldKey::new(record, REMOVED), Value::Bool(true));
        }
        Ok(out)
    }

    /// History rows of a fiscal year up to and including `at`, in order: (record, field, new value).
    pub(super) async fn history_until(
        &self,
        fy: &str,
        at: &str,
    ) -> Result<Vec<(String, String, Option<Value>)>> {
        let rows: Vec<(String, String, Option<String>)> = named(
            "history_until",
            sqlx::query_as(
                "SELECT h.record_id, h.field, h.new_value FROM history h \
                 JOIN records r ON r.id = h.record_id \
                 WHERE r.fiscal_year = ? AND h.at <= ? ORDER BY h.seq",
            )
            .bind(fy)
            .bind(at)
            .fetch_all(&self.pool),
        )
        .await?;
        rows.into_iter()
            .map(|(record, field, new)| {
                let v = json_opt(new, &record, &field)?;
                Ok((record, field, v))
            })
            .collect()
    }

    /// Applies checked changes (and a page state) in one write transaction.
    pub(super) async fn apply(
        &self,
        provenance: &Provenance,
        changes: &[FieldChange],
        extras: &Extras,
    ) -> Result<usize> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that
        // reads first could fail to upgrade when another process writes.
        let mut tx = named("begin_write", self.pool.begin_with("BEGIN IMMEDIATE")).await?;
        let p = ProvenanceColumns::new(provenance)?;

        let mut applied = 0;
        // On any error below, `tx` is dropped unfinished and rolls back.
        for c in changes {
            if c.old == c.new {
                continue;
            }
            let record = c.key.record.as_str();
            let field = c.key.field.as_str();
            let current = if field == REMOVED {
                let removed: Option<i64> = named(
                    "record_removed",
                    sqlx::query_scalar("SELECT removed FROM records WHERE id = ?")
                        .bind(record)
                        .fetch_optional(&mut *tx),
                )
                .await?;
                if removed.is_none() {
                    bail!("cannot mark {record} removed or restored: the store has no such record");
                }
                (removed == Some(1)).then_some(Value::Bool(true))
            } else {
                let value: Option<String> = named(
                    "field_value",
                    sqlx::query_scalar(
                        "SELECT value FROM fields WHERE record_id = ? AND field = ?",
                    )
                    .bind(record)
                    .bind(field)
                    .fetch_optional(&mut *tx),
                )
                .await?;
                json_opt(value, record, field)?
            };
            if current != c.old {
                return Err(StoreError::Stale {
                    key: c.key.clone(),
                    expected: c.old.clone(),
                    found: current,
                }
                .into());
            }

            let fy = record_fiscal_year(record)?.to_string();
            named(
                "insert_record",
                sqlx::query(
                    "INSERT INTO records (id, fiscal_year) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                )
                .bind(record)
                .bind(&fy)
                .execute(&mut *tx),
            )
            .await?;
            if field == REMOVED {
                named(
                    "set_removed",
                    sqlx::query("UPDATE records SET removed = ? WHERE id = ?")
                        .bind(i64::from(c.new.is_some()))
                        .bind(record)
                        .execute(&mut *tx),
                )
                .await?;
            } else if let Some(v) = &c.new {
                named(
                    "upsert_field",
                    sqlx::query(
                        "INSERT INTO fields (record_id, field, value) VALUES (?, ?, ?) \
                         ON CONFLICT (record_id, field) DO UPDATE SET value = excluded.value",
                    )
                    .bind(record)
                    .bind(field)
                    .bind(v.to_string())
                    .execute(&mut *tx),
                )
                .await?;
            } else {
                named(
                    "delete_field",
                    sqlx::query("DELETE FROM fields WHERE record_id = ? AND field = ?")
                        .bind(record)
                        .bind(field)
                        .execute(&mut *tx),
                )
                .await?;
            }
            named(
                "insert_history",
                sqlx::query(
                    "INSERT INTO history (run_id, at, record_id, field, old_value, new_value, \
                     source, page_title, revision_id, wiki_user, revision_timestamp, operator, \
                     command) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(p.run_id)
                .bind(&p.at)
                .bind(record)
                .bind(field)
                .bind(c.old.as_ref().map(Value::to_string))
                .bind(c.new.as_ref().map(Value::to_string))
                .bind(p.source)
                .bind(p.page_title)
                .bind(p.revision_id)
                .bind(p.wiki_user)
                .bind(p.revision_timestamp.as_deref())
                .bind(p.operator)
                .bind(p.command)
                .execute(&mut *tx),
            )
            .await?;
            applied += 1;
            crate::fault::point("store.apply", applied as u64);
        }
        if let Some(page) = &extras.page {
            upsert_page(&mut tx, page).await?;
        }
        write_conflicts(&mut tx, extras).await?;
        named("commit", tx.commit()).await?;
        Ok(applied)
    }

    pub(super) async fn set_page_state(&self, page: &PageWrite) -> Result<()> {
        let mut tx = named("begin_write", self.pool.begin_with("BEGIN IMMEDIATE")).await?;
        upsert_page(&mut tx, page).await?;
        named("commit", tx.commit()).await
    }

    pub(super) async fn page_state(&self, title: &str) -> Result<Option<(i64, String, String)>> {
        named(
            "page_state",
            sqlx::query_as("SELECT revision_id, synced_at, records FROM pages WHERE title = ?")
                .bind(title)
                .fetch_optional(&self.pool),
        )
        .await
    }

    pub(super) async fn history_since(&self, fy: &str, at: &str) -> Result<Vec<HistoryEntry>> {
        let rows = named(
            "history_since",
            sqlx::query(
                "SELECT h.seq, h.run_id, h.at, h.record_id, h.field, h.old_value, h.new_value, \
                 h.source, h.page_title, h.revision_id, h.wiki_user, h.revision_timestamp, \
                 h.operator, h.command FROM history h JOIN records r ON r.id = h.record_id \
                 WHERE r.fiscal_year = ? AND h.at > ? ORDER BY h.seq",
            )
            .bind(fy)
            .bind(at)
            .fetch_all(&self.pool),
        )
        .await?;
        rows.iter().map(history_entry).collect()
    }

    pub(super) async fn history(&self, record: &str) -> Result<Vec<HistoryEntry>> {
        let rows = named(
            "history",
            sqlx::query(
                "SELECT seq, run_id, at, record_id, field, old_value, new_value, source, \
                 page_title, revision_id, wiki_user, revision_timestamp, operator, command \
                 FROM history WHERE record_id = ? ORDER BY seq",
            )
            .bind(record)
            .fetch_all(&self.pool),
        )
        .await?;
        rows.iter().map(history_entry).collect()
    }

    pub(super) async fn close(self) {
        self.pool.close().await;
    }
}

async fn upsert_page(tx: &mut sqlx::SqliteConnection, page: &PageWrite) -> Result<()> {
    named(
        "upsert_page",
        sqlx::query(
            "INSERT INTO pages (title, revision_id, synced_at, records) VALUES (?, ?, ?, ?) \
             ON CONFLICT (title) DO UPDATE SET revision_id = excluded.revision_id, \
             synced_at = excluded.synced_at, records = excluded.records",
        )
        .bind(&page.title)
        .bind(page.revid)
        .bind(&page.synced_at)
        .bind(&page.records)
        .execute(&mut *tx),
    )
    .await?;
    Ok(())
}

fn history_entry(row: &sqlx::sqlite::SqliteRow) -> Result<HistoryEntry> {
    fn col<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
        row: &'r sqlx::sqlite::SqliteRow,
        name: &str,
    ) -> Result<T> {
        row.try_get(name)
            .with_context(|| format!("store query history: column {name}"))
    }
    HistoryRow {
        seq: col(row, "seq")?,
        run_id: col(row, "run_id")?,
        at: col(row, "at")?,
        record: col(row, "record_id")?,
        field: col(row, "field")?,
        old: col(row, "old_value")?,
        new: col(row, "new_value")?,
        source: col(row, "source")?,
        page_title: col(row, "page_title")?,
        revision_id: col(row, "revision_id")?,
        wiki_user: col(row, "wiki_user")?,
        revision_timestamp: col(row, "revision_timestamp")?,
        operator: col(row, "operator")?,
        command: col(row, "command")?,
    }
    .into_entry()
}

/// Inserts the new conflicts and closes the settled or resolved ones, inside the caller's transaction.
async fn write_conflicts(tx: &mut sqlx::SqliteConnection, extras: &Extras) -> Result<()> {
    for c in &extras.conflicts {
        named(
            "insert_conflict",
            sqlx::query(
                "INSERT INTO conflicts (fiscal_year, record_id, field, page_title, revision_id, \
                 wiki_user, base_value, wiki_value, store_value, run_id, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&c.fiscal_year)
            .bind(&c.record)
            .bind(&c.field)
            .bind(&c.page_title)
            .bind(c.revid)
            .bind(&c.wiki_user)
            .bind(&c.base)
            .bind(&c.wiki)
            .bind(&c.store)
            .bind(&c.run_id)
            .bind(&c.created_at)
            .execute(&mut *tx),
        )
        .await?;
    }
    for f in &extras.follow {
        named(
            "follow_conflict",
            sqlx::query(
                "UPDATE conflicts SET wiki_value = ?, revision_id = ?, wiki_user = ? \
                 WHERE resolved_at IS NULL AND record_id = ? AND field = ? AND page_title = ?",
            )
            .bind(&f.wiki)
            .bind(f.revid)
            .bind(&f.wiki_user)
            .bind(&f.record)
            .bind(&f.field)
            .bind(&f.page_title)
            .execute(&mut *tx),
        )
        .await?;
    }
    for c in &extras.close {
        let set = "UPDATE conflicts SET resolved_at = ?, resolution = ?, resolved_by = ?, \
                   resolved_run_id = ? WHERE resolved_at IS NULL AND ";
        let sql = match &c.target {
            CloseTarget::Id(_) => format!("{set}id = ?"),
            CloseTarget::Key { .. } => {
                format!("{set}record_id = ? AND field = ? AND page_title = ?")
            }
        };
        let q = sqlx::query(&sql)
            .bind(&c.at)
            .bind(c.how)
            .bind(&c.by)
            .bind(&c.run_id);
        let q = match &c.target {
            CloseTarget::Id(id) => q.bind(*id),
            CloseTarget::Key {
                record,
                field,
                page,
            } => q.bind(record).bind(field).bind(page),
        };
        let done = named("close_conflict", q.execute(&mut *tx)).await?;
        if let CloseTarget::Id(id) = c.target {
            if done.rows_affected() != 1 {
                bail!("conflict {id} is not pending (already resolved, or no such conflict)");
            }
        }
    }
    Ok(())
}

fn conflict_row(row: &sqlx::sqlite::SqliteRow) -> Result<ConflictRow> {
    let c = |e: sqlx::Error| anyhow::Error::from(e).context("store query conflicts");
    Ok(ConflictRow {
        id: row.try_get("id").map_err(c)?,
        record: row.try_get("record_id").map_err(c)?,
        field: row.try_get("field").map_err(c)?,
        page_title: row.try_get("page_title").map_err(c)?,
        revid: row.try_get("revision_id").map_err(c)?,
        wiki_user: row.try_get("wiki_user").map_err(c)?,
        base: row.try_get("base_value").map_err(c)?,
        wiki: row.try_get("wiki_value").map_err(c)?,
        store: row.try_get("store_value").map_err(c)?,
        run_id: row.try_get("run_id").map_err(c)?,
        created_at: row.try_get("created_at").map_err(c)?,
        resolved_at: row.try_get("resolved_at").map_err(c)?,
        resolution: row.try_get("resolution").map_err(c)?,
        resolved_by: row.try_get("resolved_by").map_err(c)?,
        resolved_run_id: row.try_get("resolved_run_id").map_err(c)?,
    })
}

/// The queries of `memory.rs`.
impl Sqlite {
    pub(super) async fn conflicts(&self, all: bool) -> Result<Vec<ConflictRow>> {
        let sql = if all {
            format!("SELECT {CONFLICT_COLUMNS} FROM conflicts ORDER BY id")
        } else {
            format!(
                "SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE resolved_at IS NULL ORDER BY id"
            )
        };
        let rows = named("conflicts", sqlx::query(&sql).fetch_all(&self.pool)).await?;
        rows.iter().map(conflict_row).collect()
    }

    pub(super) async fn conflict(&self, id: i64) -> Result<Option<ConflictRow>> {
        let sql = format!("SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?");
        let row = named(
            "conflict",
            sqlx::query(&sql).bind(id).fetch_optional(&self.pool),
        )
        .await?;
        row.as_ref().map(conflict_row).transpose()
    }

    pub(super) async fn page_check(&self, title: &str) -> Result<Option<(i64, String, String)>> {
        named(
            "page_check",
            sqlx::query_as(
                "SELECT revision_id, fingerprint, outcome FROM page_checks WHERE title = ?",
            )
            .bind(title)
            .fetch_optional(&self.pool),
        )
        .await
    }

    pub(super) async fn set_push_intent(
        &self,
        title: &str,
        base: i64,
        run_id: &str,
        at: &str,
    ) -> Result<()> {
        named(
            "set_push_intent",
            sqlx::query(
                "INSERT INTO push_intents (title, base_revision_id, run_id, created_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT (title) DO UPDATE SET base_revision_id = excluded.base_revision_id, run_id = excluded.run_id, created_at = excluded.created_at",
            )
            .bind(title)
            .bind(base)
            .bind(run_id)
            .bind(at)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn push_intent(&self, title: &str) -> Result<Option<(i64, String, String)>> {
        let row = named(
            "push_intent",
            sqlx::query_as::<_, (i64, String, String)>(
                "SELECT base_revision_id, run_id, created_at FROM push_intents WHERE title = ?",
            )
            .bind(title)
            .fetch_optional(&self.pool),
        )
        .await?;
        Ok(row)
    }

    pub(super) async fn clear_push_intent(&self, title: &str) -> Result<()> {
        named(
            "clear_push_intent",
            sqlx::query("DELETE FROM push_intents WHERE title = ?")
                .bind(title)
                .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn set_page_check(
        &self,
        title: &str,
        revid: i64,
        fingerprint: &str,
        outcome: &str,
        at: &str,
    ) -> Result<()> {
        named(
            "set_page_check",
            sqlx::query(
                "INSERT INTO page_checks (title, revision_id, fingerprint, outcome, checked_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (title) DO UPDATE SET \
                 revision_id = excluded.revision_id, fingerprint = excluded.fingerprint, \
                 outcome = excluded.outcome, checked_at = excluded.checked_at",
            )
            .bind(title)
            .bind(revid)
            .bind(fingerprint)
            .bind(outcome)
            .bind(at)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn record_edit(
        &self,
        run_id: &str,
        at: &str,
        title: &str,
        old: Option<i64>,
        new: i64,
        summary: &str,
    ) -> Result<()> {
        named(
            "record_edit",
            sqlx::query(
                "INSERT INTO edits (run_id, at, title, old_revision_id, new_revision_id, summary) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(at)
            .bind(title)
            .bind(old)
            .bind(new)
            .bind(summary)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    pub(super) async fn edits_of_run(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, String, Option<i64>, i64, String)>> {
        named(
            "edits_of_run",
            sqlx::query_as(
                "SELECT at, title, old_revision_id, new_revision_id, summary FROM edits \
                 WHERE run_id = ? ORDER BY seq",
            )
            .bind(run_id)
            .fetch_all(&self.pool),
        )
        .await
    }

    pub(super) async fn record_run(
        &self,
        run_id: &str,
        started: &str,
        finished: &str,
        command: &str,
        outcome: &str,
        summary: &str,
    ) -> Result<()> {
        named(
            "record_run",
            sqlx::query(
                "INSERT INTO runs (run_id, started_at, finished_at, command, outcome, summary) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET \
                 started_at = excluded.started_at, finished_at = excluded.finished_at, \
                 command = excluded.command, outcome = excluded.outcome, summary = excluded.summary",
            )
            .bind(run_id)
            .bind(started)
            .bind(finished)
            .bind(command)
            .bind(outcome)
            .bind(summary)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    pub(super) async fn recent_runs(
        &self,
        n: u32,
    ) -> Result<Vec<(String, String, String, String, String, String)>> {
        named(
            "recent_runs",
            sqlx::query_as(
                "SELECT run_id, started_at, finished_at, command, outcome, summary FROM runs \
                 ORDER BY finished_at DESC, run_id DESC LIMIT ?",
            )
            .bind(i64::from(n))
            .fetch_all(&self.pool),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn claim_request(
        &self,
        id: &str,
        page: &str,
        revid: i64,
        requester: &str,
        template: &str,
        run_id: Option<&str>,
        at: &str,
    ) -> Result<bool> {
        let done = named(
            "claim_request",
            sqlx::query(
                "INSERT INTO requests (id, page_title, revision_id, requester, template, state, \
                 run_id, claimed_at) VALUES (?, ?, ?, ?, ?, 'claimed', ?, ?) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(page)
            .bind(revid)
            .bind(requester)
            .bind(template)
            .bind(run_id)
            .bind(at)
            .execute(&self.pool),
        )
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn set_request_run(&self, id: &str, run_id: &str) -> Result<()> {
        named(
            "set_request_run",
            sqlx::query("UPDATE requests SET run_id = ? WHERE id = ?")
                .bind(run_id)
                .bind(id)
                .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn set_request_template(&self, id: &str, template: &str) -> Result<()> {
        named(
            "set_request_template",
            sqlx::query("UPDATE requests SET template = ? WHERE id = ?")
                .bind(template)
                .bind(id)
                .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn answer_request(
        &self,
        id: &str,
        reply: Option<i64>,
        at: &str,
    ) -> Result<()> {
        named(
            "answer_request",
            sqlx::query(
                "UPDATE requests SET state = 'answered', answered_at = ?, reply_revision_id = ? \
                 WHERE id = ?",
            )
            .bind(at)
            .bind(reply)
            .bind(id)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn request(&self, id: &str) -> Result<Option<RequestRow>> {
        named(
            "request",
            sqlx::query_as(
                "SELECT id, page_title, revision_id, requester, template, state, run_id, claimed_at \
                 FROM requests WHERE id = ?",
            )
            .bind(id)
            .fetch_optional(&self.pool),
        )
        .await
    }

    pub(super) async fn unanswered_requests(&self) -> Result<Vec<RequestRow>> {
        named(
            "unanswered_requests",
            sqlx::query_as(
                "SELECT id, page_title, revision_id, requester, template, state, run_id, claimed_at \
                 FROM requests WHERE state = 'claimed' ORDER BY claimed_at, id",
            )
            .fetch_all(&self.pool),
        )
        .await
    }

    pub(super) async fn requests_since(
        &self,
        since: &str,
    ) -> Result<Vec<(String, String, String)>> {
        named(
            "requests_since",
            sqlx::query_as(
                "SELECT id, requester, claimed_at FROM requests WHERE claimed_at >= ? \
                 AND run_id IS NOT NULL ORDER BY claimed_at, id",
            )
            .bind(since)
            .fetch_all(&self.pool),
        )
        .await
    }

    pub(super) async fn watch_state(&self, page: &str) -> Result<Option<(i64, String)>> {
        named(
            "watch_state",
            sqlx::query_as("SELECT revision_id, content FROM watch_state WHERE page_title = ?")
                .bind(page)
                .fetch_optional(&self.pool),
        )
        .await
    }

    pub(super) async fn set_watch_state(&self, page: &str, revid: i64, text: &str) -> Result<()> {
        named(
            "set_watch_state",
            sqlx::query(
                "INSERT INTO watch_state (page_title, revision_id, content) VALUES (?, ?, ?) \
                 ON CONFLICT (page_title) DO UPDATE SET revision_id = excluded.revision_id, \
                 content = excluded.content",
            )
            .bind(page)
            .bind(revid)
            .bind(text)
            .execute(&self.pool),
        )
        .await?;
        Ok(())
    }
}
