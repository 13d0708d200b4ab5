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

use super::{
    json, json_opt, named, record_fiscal_year, HistoryEntry, HistoryRow, PageWrite, Provenance,
    ProvenanceColumns, StoreError,
};
use crate::fields::{FieldChange, FieldKey, Fields, REMOVED};

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
        page: Option<&PageWrite>,
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
        if let Some(page) = page {
            upsert_page(&mut tx, page).await?;
        }
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
