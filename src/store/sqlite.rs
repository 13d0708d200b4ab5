//! The SQLite dialect: connection setup, migrations, the schema probe and the write lock (`BEGIN IMMEDIATE`).

use std::fmt::Debug;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{ColumnIndex, Pool, Row, Sqlite, Transaction};

use super::dialect::{Dialect, MigrationLock};
use super::named;

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/sqlite");

impl Dialect for Sqlite {
    const LOCK_ROWS: &'static str = "";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Opens the file (creating it if needed); `:memory:` is one connection, kept forever.
    async fn connect(url: &str) -> Result<Pool<Sqlite>> {
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
        named("connect", pool_options.connect_with(options)).await
    }

    async fn lock_migrations(url: &str, _pool: &Pool<Sqlite>) -> Result<MigrationLock> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(MigrationLock::None);
        }
        let options = SqliteConnectOptions::from_str(url).context("reading the sqlite URL")?;
        let path = options.get_filename().to_path_buf();
        // The pool's first connection created the file.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .open(&path)
            .with_context(|| format!("opening {} to lock it for migrations", path.display()))?;
        let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .context("waiting for the store file's migration lock")?
            .with_context(|| format!("locking {} for migrations", path.display()))?;
        Ok(MigrationLock::File(file))
    }

    async fn is_migrated(pool: &Pool<Sqlite>) -> Result<bool> {
        let table: Option<String> = named(
            "find_migrations_table",
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(pool),
        )
        .await?;
        Ok(table.is_some())
    }

    async fn schema_version(pool: &Pool<Sqlite>) -> Result<i64> {
        named(
            "schema_version",
            sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = 1",
            )
            .fetch_one(pool),
        )
        .await
    }

    async fn begin_write(pool: &Pool<Sqlite>) -> Result<Transaction<'static, Sqlite>> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that
        // reads first could fail to upgrade when another process writes.
        named("begin_write", pool.begin_with("BEGIN IMMEDIATE")).await
    }

    fn upsert(key: &str, update: &[&str]) -> String {
        if update.is_empty() {
            return format!("ON CONFLICT ({key}) DO NOTHING");
        }
        let set: Vec<String> = update
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!("ON CONFLICT ({key}) DO UPDATE SET {}", set.join(", "))
    }

    fn text<I: ColumnIndex<SqliteRow> + Debug>(row: &SqliteRow, col: I) -> Result<Option<String>> {
        Ok(row.try_get(col)?)
    }
}
