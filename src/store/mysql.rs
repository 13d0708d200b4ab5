//! The MariaDB store (ToolsDB on Toolforge): connection setup, migrations and every MariaDB query, each named.
//!
//! Same tables and meaning as the SQLite store. Two differences the code
//! below works around:
//!
//! - Text columns use binary collations, for which the server flags the
//!   column BINARY; sqlx then refuses to decode it as `String`. Text is read as
//!   bytes and checked as UTF-8 here ([`utf8`]).
//! - InnoDB has no BEGIN IMMEDIATE: every write transaction first locks the
//!   one row of `write_lock`, so writers take turns and a compare-and-set
//!   reads what the previous writer committed.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{Executor, Row};

use super::memory::{CloseTarget, ConflictRow, Extras, RequestRow};
use super::{
    json, json_opt, named, record_fiscal_year, HistoryEntry, HistoryRow, PageWrite, Provenance,
    ProvenanceColumns, StoreError,
};
use crate::core::fields::{FieldChange, FieldKey, Fields, REMOVED};

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/mysql");

/// The newest schema version this build knows.
fn known_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Text read as bytes (see the module note on binary collations), checked as UTF-8.
fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).with_context(|| format!("stored {what} is not UTF-8"))
}

/// Text columns as read: bytes, possibly NULL.
type Bytes = Vec<u8>;

fn utf8_opt(bytes: Option<Vec<u8>>, what: &str) -> Result<Option<String>> {
    bytes.map(|b| utf8(b, what)).transpose()
}

/// A pool on one MariaDB database.
pub(super) struct Mysql {
    pool: MySqlPool,
}

impl Mysql {
    /// Connects (the database must exist), refuses a newer schema, migrates an older one.
    ///
    /// `url` is `mysql://` or `mariadb://USER:PASS@HOST[:PORT]/DB`, the
    /// password percent-encoded.
    pub(super) async fn open(url: &str) -> Result<Self> {
        // utf8mb4 on the connection too: with utf8 (3 bytes) an emoji in a
        // goal would be refused or mangled on its way in.
        let options = MySqlConnectOptions::from_str(url)
            .context("reading the MariaDB URL")?
            .charset("utf8mb4")
            .collation("utf8mb4_bin");
        let pool = named(
            "connect",
            MySqlPoolOptions::new()
                // ToolsDB limits connections per tool; a run needs few.
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // Strict everywhere: a value too long for its column
                        // is an error, never silently cut, whatever the
                        // server's default sql_mode.
                        conn.execute(
                            "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(options),
        )
        .await?;
        let db = Mysql { pool };
        db.refuse_newer_schema().await?;
        MIGRATOR.run(&db.pool).await.with_context(|| {
            format!("migrating the store to schema version {}", known_version())
        })?;
        db.guard_history().await;
        Ok(db)
    }

    /// Makes the database itself refuse UPDATE and DELETE on history, where it
    /// lets us. A replicated server (ToolsDB) may refuse CREATE TRIGGER to
    /// accounts without SUPER (error 1419); then history stays append-only by
    /// goalsbot's own code, which never updates or deletes it, and we say so.
    async fn guard_history(&self) {
        for (name, event) in [
            ("history_no_update", "UPDATE"),
            ("history_no_delete", "DELETE"),
        ] {
            let sql = format!(
                "CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON history FOR EACH ROW \
                 SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'history is append-only'"
            );
            if let Err(e) = named(
                "create_history_trigger",
                sqlx::query(&sql).execute(&self.pool),
            )
            .await
            {
                tracing::warn!(
                    "the database refused the history guard trigger {name} ({e:#}); history stays \
                     append-only because goalsbot never changes it, but the database does not enforce it"
                );
            }
        }
    }

    async fn refuse_newer_schema(&self) -> Result<()> {
        let tables: i64 = named(
            "find_migrations_table",
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
            )
            .fetch_one(&self.pool),
        )
        .await?;
        if tables == 0 {
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
                "SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM _sqlx_migrations \
                 WHERE success = 1",
            )
            .fetch_one(&self.pool),
        )
        .await
    }

    pub(super) async fn fiscal_years(&self) -> Result<Vec<String>> {
        let rows: Vec<Vec<u8>> = named(
            "fiscal_years",
            sqlx::query_scalar("SELECT DISTINCT fiscal_year FROM records").fetch_all(&self.pool),
        )
        .await?;
        rows.into_iter().map(|b| utf8(b, "fiscal year")).collect()
    }

    pub(super) async fn load_fields(&self, fy: &str) -> Result<Fields> {
        let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = named(
            "load_fields",
            sqlx::query_as(
                "SELECT f.record_id, f.field, f.value FROM fields f \
                 JOIN records r ON r.id = f.record_id WHERE r.fiscal_year = ?",
            )
            .bind(fy)
            .fetch_all(&self.pool),
        )
        .await?;
        let removed: Vec<Vec<u8>> = named(
            "load_removed",
            sqlx::query_scalar("SELECT id FROM records WHERE fiscal_year = ? AND removed = 1")
                .bind(fy)
                .fetch_all(&self.pool),
        )
        .await?;
        let mut out = Fields::new();
        for (record, field, value) in rows {
            let record = utf8(record, "record id")?;
            let field = utf8(field, "field name")?;
            let v = json(&utf8(value, "value")?, &record, &field)?;
            out.insert(FieldKey::new(record, field), v);
        }
        for record in removed {
            out.insert(
                FieldKey::new(utf8(record, "record id")?, REMOVED),
                Value::Bool(true),
            );
        }
        Ok(out)
    }

    /// History rows of a fiscal year up to and including `at`, in order: (record, field, new value).
    pub(super) async fn history_until(
        &self,
        fy: &str,
        at: &str,
    ) -> Result<Vec<(String, String, Option<Value>)>> {
        let rows: Vec<(Bytes, Bytes, Option<Bytes>)> = named(
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
                let record = utf8(record, "record id")?;
                let field = utf8(field, "field name")?;
                let v = json_opt(utf8_opt(new, "value")?, &record, &field)?;
                Ok((record, field, v))
            })
            .collect()
    }

    /// Starts a write transaction and waits for this process's turn to write.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::MySql>> {
        let mut tx = named("begin_write", self.pool.begin()).await?;
        named(
            "take_write_lock",
            sqlx::query("SELECT id FROM write_lock WHERE id = 1 FOR UPDATE").fetch_one(&mut *tx),
        )
        .await?;
        Ok(tx)
    }

    /// Applies checked changes (and a page state) in one write transaction.
    pub(super) async fn apply(
        &self,
        provenance: &Provenance,
        changes: &[FieldChange],
        extras: &Extras,
    ) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let p = ProvenanceColumns::new(provenance)?;

        let mut applied = 0;
        // On any error below, `tx` is dropped unfinished and rolls back.
        for c in changes {
            if c.old == c.new {
                continue;
            }
            let record = c.key.record.as_str();
            let field = c.key.field.as_str();
            // Locking reads (FOR UPDATE) see the newest committed rows, not
            // the transaction's snapshot.
            let current = if field == REMOVED {
                let removed: Option<i64> = named(
                    "record_removed",
                    sqlx::query_scalar("SELECT removed FROM records WHERE id = ? FOR UPDATE")
                        .bind(record)
                        .fetch_optional(&mut *tx),
                )
                .await?;
                if removed.is_none() {
                    bail!("cannot mark {record} removed or restored: the store has no such record");
                }
                (removed == Some(1)).then_some(Value::Bool(true))
            } else {
                let value: Option<Vec<u8>> = named(
                    "field_value",
                    sqlx::query_scalar(
                        "SELECT value FROM fields WHERE record_id = ? AND field = ? FOR UPDATE",
                    )
                    .bind(record)
                    .bind(field)
                    .fetch_optional(&mut *tx),
                )
                .await?;
                json_opt(utf8_opt(value, "value")?, record, field)?
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
                    "INSERT INTO records (id, fiscal_year) VALUES (?, ?) \
                     ON DUPLICATE KEY UPDATE id = id",
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
                         ON DUPLICATE KEY UPDATE value = VALUES(value)",
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
        let mut tx = self.begin_write().await?;
        upsert_page(&mut tx, page).await?;
        named("commit", tx.commit()).await
    }

    pub(super) async fn page_state(&self, title: &str) -> Result<Option<(i64, String, String)>> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = named(
            "page_state",
            sqlx::query_as("SELECT revision_id, synced_at, records FROM pages WHERE title = ?")
                .bind(title)
                .fetch_optional(&self.pool),
        )
        .await?;
        row.map(|(revid, at, records)| {
            Ok((
                revid,
                utf8(at, "page sync time")?,
                utf8(records, "page records")?,
            ))
        })
        .transpose()
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

async fn upsert_page(tx: &mut MySqlConnection, page: &PageWrite) -> Result<()> {
    named(
        "upsert_page",
        sqlx::query(
            "INSERT INTO pages (title, revision_id, synced_at, records) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE revision_id = VALUES(revision_id), \
             synced_at = VALUES(synced_at), records = VALUES(records)",
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

fn history_entry(row: &MySqlRow) -> Result<HistoryEntry> {
    let text = |name: &str| -> Result<Option<String>> {
        let bytes: Option<Vec<u8>> = row
            .try_get(name)
            .with_context(|| format!("store query history: column {name}"))?;
        utf8_opt(bytes, name)
    };
    let int = |name: &str| -> Result<Option<i64>> {
        row.try_get(name)
            .with_context(|| format!("store query history: column {name}"))
    };
    HistoryRow {
        seq: int("seq")?.context("store query history: seq is empty")?,
        run_id: text("run_id")?,
        at: text("at")?,
        record: text("record_id")?,
        field: text("field")?,
        old: text("old_value")?,
        new: text("new_value")?,
        source: text("source")?,
        page_title: text("page_title")?,
        revision_id: int("revision_id")?,
        wiki_user: text("wiki_user")?,
        revision_timestamp: text("revision_timestamp")?,
        operator: text("operator")?,
        command: text("command")?,
    }
    .into_entry()
}

/// Inserts the new conflicts and closes the settled or resolved ones, inside the caller's transaction.
async fn write_conflicts(tx: &mut MySqlConnection, extras: &Extras) -> Result<()> {
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

fn conflict_row(row: &MySqlRow) -> Result<ConflictRow> {
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

/// The conflict columns, text converted so it decodes as `String` (see the module note).
const MYSQL_CONFLICT_COLUMNS: &str = "id, CONVERT(record_id USING utf8mb4) AS record_id, \
     CONVERT(field USING utf8mb4) AS field, CONVERT(page_title USING utf8mb4) AS page_title, \
     revision_id, CONVERT(wiki_user USING utf8mb4) AS wiki_user, \
     CONVERT(base_value USING utf8mb4) AS base_value, \
     CONVERT(wiki_value USING utf8mb4) AS wiki_value, \
     CONVERT(store_value USING utf8mb4) AS store_value, CONVERT(run_id USING utf8mb4) AS run_id, \
     CONVERT(created_at USING utf8mb4) AS created_at, \
     CONVERT(resolved_at USING utf8mb4) AS resolved_at, \
     CONVERT(resolution USING utf8mb4) AS resolution, \
     CONVERT(resolved_by USING utf8mb4) AS resolved_by, \
     CONVERT(resolved_run_id USING utf8mb4) AS resolved_run_id";

/// The queries of `memory.rs`.
impl Mysql {
    pub(super) async fn conflicts(&self, all: bool) -> Result<Vec<ConflictRow>> {
        let sql = if all {
            format!("SELECT {MYSQL_CONFLICT_COLUMNS} FROM conflicts ORDER BY id")
        } else {
            format!("SELECT {MYSQL_CONFLICT_COLUMNS} FROM conflicts WHERE resolved_at IS NULL ORDER BY id")
        };
        let rows = named("conflicts", sqlx::query(&sql).fetch_all(&self.pool)).await?;
        rows.iter().map(conflict_row).collect()
    }

    pub(super) async fn conflict(&self, id: i64) -> Result<Option<ConflictRow>> {
        let sql = format!("SELECT {MYSQL_CONFLICT_COLUMNS} FROM conflicts WHERE id = ?");
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
                "SELECT revision_id, CONVERT(fingerprint USING utf8mb4), CONVERT(outcome USING utf8mb4) \
                 FROM page_checks WHERE title = ?",
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
                 VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE base_revision_id = VALUES(base_revision_id), run_id = VALUES(run_id), created_at = VALUES(created_at)",
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
                "SELECT base_revision_id, CONVERT(run_id USING utf8mb4) AS run_id, \
                 CONVERT(created_at USING utf8mb4) AS created_at FROM push_intents WHERE title = ?",
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
                 VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 revision_id = VALUES(revision_id), fingerprint = VALUES(fingerprint), \
                 outcome = VALUES(outcome), checked_at = VALUES(checked_at)",
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
                "SELECT CONVERT(at USING utf8mb4), CONVERT(title USING utf8mb4), old_revision_id, \
                 new_revision_id, CONVERT(summary USING utf8mb4) FROM edits \
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
                 VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 started_at = VALUES(started_at), finished_at = VALUES(finished_at), \
                 command = VALUES(command), outcome = VALUES(outcome), summary = VALUES(summary)",
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
                "SELECT CONVERT(run_id USING utf8mb4), CONVERT(started_at USING utf8mb4), \
                 CONVERT(finished_at USING utf8mb4), CONVERT(command USING utf8mb4), \
                 CONVERT(outcome USING utf8mb4), CONVERT(summary USING utf8mb4) FROM runs \
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
        // A plain INSERT: a duplicate id is the answer "already claimed"
        // (ON DUPLICATE KEY tricks report found rows, not inserted ones).
        let done = sqlx::query(
            "INSERT INTO requests (id, page_title, revision_id, requester, template, state, \
             run_id, claimed_at) VALUES (?, ?, ?, ?, ?, 'claimed', ?, ?)",
        )
        .bind(id)
        .bind(page)
        .bind(revid)
        .bind(requester)
        .bind(template)
        .bind(run_id)
        .bind(at)
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(anyhow::Error::from(e).context("store query claim_request")),
        }
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
                "SELECT CONVERT(id USING utf8mb4), CONVERT(page_title USING utf8mb4), revision_id, \
                 CONVERT(requester USING utf8mb4), CONVERT(template USING utf8mb4), \
                 CONVERT(state USING utf8mb4), CONVERT(run_id USING utf8mb4), \
                 CONVERT(claimed_at USING utf8mb4) \
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
                "SELECT CONVERT(id USING utf8mb4), CONVERT(page_title USING utf8mb4), revision_id, \
                 CONVERT(requester USING utf8mb4), CONVERT(template USING utf8mb4), \
                 CONVERT(state USING utf8mb4), CONVERT(run_id USING utf8mb4), \
                 CONVERT(claimed_at USING utf8mb4) \
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
                "SELECT CONVERT(id USING utf8mb4), CONVERT(requester USING utf8mb4), \
                 CONVERT(claimed_at USING utf8mb4) FROM requests WHERE claimed_at >= ? \
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
            sqlx::query_as("SELECT revision_id, CONVERT(content USING utf8mb4) FROM watch_state WHERE page_title = ?")
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
                 ON DUPLICATE KEY UPDATE revision_id = VALUES(revision_id), \
                 content = VALUES(content)",
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
