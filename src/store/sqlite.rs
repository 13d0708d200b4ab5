//! The SQLite dialect: connection setup, migrations under `BEGIN EXCLUSIVE`, the schema probe and the write lock (`BEGIN IMMEDIATE`).

use std::fmt::Debug;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
};
use sqlx::{ColumnIndex, Connection, Pool, Row, Sqlite, Transaction};

use super::dialect::{migrate_on, up_to_date, Dialect, MIGRATION_WAIT};
use super::named;

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// How long a statement waits for another process's write lock before it
/// fails with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl Dialect for Sqlite {
    const LOCK_ROWS: &'static str = "";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Opens the file (creating it if needed); `:memory:` is one connection, kept forever.
    async fn connect(url: &str, read_only: bool) -> Result<Pool<Sqlite>> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)
            .context("reading the sqlite URL")?
            .create_if_missing(!read_only)
            .read_only(read_only)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool_options = if memory {
            // Every connection to `:memory:` is a database of its own: keep
            // exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else if read_only {
            // The writers set WAL; a read-only connection cannot change the
            // journal mode, and reads a WAL database as it is.
            SqlitePoolOptions::new().max_connections(4)
        } else {
            options = options.journal_mode(SqliteJournalMode::Wal);
            SqlitePoolOptions::new().max_connections(4)
        };
        named("connect", pool_options.connect_with(options)).await
    }

    async fn is_migrated(conn: &mut SqliteConnection) -> Result<bool> {
        let table: Option<String> = named(
            "find_migrations_table",
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(&mut *conn),
        )
        .await?;
        Ok(table.is_some())
    }

    async fn schema_version(conn: &mut SqliteConnection) -> Result<i64> {
        named(
            "schema_version",
            sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = 1",
            )
            .fetch_one(&mut *conn),
        )
        .await
    }

    /// A store already up to date is only read, without a lock: opening it
    /// never waits for another process's writes. Otherwise the migration
    /// runs inside one `BEGIN EXCLUSIVE` transaction, the database's own
    /// write lock, waited for up to [`MIGRATION_WAIT`]; the schema is looked
    /// at again once it is held, and the migrations are savepoints inside
    /// it, so they all land at once or not at all.
    async fn migrate(conn: &mut PoolConnection<Sqlite>) -> Result<()> {
        if up_to_date::<Sqlite>(conn).await? {
            return Ok(());
        }
        set_busy_timeout(conn, MIGRATION_WAIT).await?;
        let migrated = async {
            let mut tx = named("begin_migration", conn.begin_with("BEGIN EXCLUSIVE"))
                .await
                .with_context(|| {
                    format!(
                        "waiting up to {} s for another goalsbot process migrating the store",
                        MIGRATION_WAIT.as_secs()
                    )
                })?;
            migrate_on::<Sqlite>(&mut tx).await?;
            named("commit_migration", tx.commit()).await
        }
        .await;
        if set_busy_timeout(conn, BUSY_TIMEOUT).await.is_err() {
            // Not back into the pool with the long wait.
            conn.close_on_drop();
        }
        migrated
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

/// How long the connection's statements wait for another's write lock.
async fn set_busy_timeout(conn: &mut SqliteConnection, wait: Duration) -> Result<()> {
    let sql = format!("PRAGMA busy_timeout = {}", wait.as_millis());
    named("set_busy_timeout", sqlx::query(&sql).execute(&mut *conn)).await?;
    Ok(())
}
