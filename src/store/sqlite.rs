//! The SQLite store: connection setup, migrations and every SQLite query, each named.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use super::{
    json, json_opt, named, record_fiscal_year, HistoryEntry, HistoryRow, PageWrite, Provenance,
    ProvenanceColumns, StoreError,
};
use crate::fields::{FieldChange, FieldKey, Fields, REMOVED};

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
        page: Option<&PageWrite>,
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
        if let Some(page) = page {
            upsert_page(&mut tx, page).await?;
        }
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
