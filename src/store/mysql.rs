//! The MariaDB dialect (ToolsDB on Toolforge): connection setup, migrations under `GET_LOCK`, the schema probe, history's guard triggers, the write-lock row and text decoding.
//!
//! Same tables and meaning as the SQLite store. Two differences handled here:
//!
//! - Text columns use binary collations, for which the server flags the
//!   column BINARY; sqlx then refuses to decode it as `String`. Text is read as
//!   bytes and checked as UTF-8 ([`Dialect::text`]).
//! - InnoDB has no BEGIN IMMEDIATE: every write transaction first locks the
//!   one row of `write_lock`, so writers take turns, and reads inside it lock
//!   their rows (`FOR UPDATE`) so a compare-and-set reads what the previous
//!   writer committed.

use std::fmt::Debug;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions, MySqlRow};
use sqlx::pool::PoolConnection;
use sqlx::{ColumnIndex, Executor, MySql, Pool, Row, Transaction};

use super::dialect::{migrate_on, Dialect, MIGRATION_WAIT};
use super::named;

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/mysql");

impl Dialect for MySql {
    // Locking reads see the newest committed rows, not the transaction's snapshot.
    const LOCK_ROWS: &'static str = " FOR UPDATE";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Connects (the database must exist): utf8mb4, strict SQL mode.
    ///
    /// `url` is `mysql://` or `mariadb://USER:PASS@HOST[:PORT]/DB`, the
    /// password percent-encoded.
    async fn connect(url: &str, read_only: bool) -> Result<Pool<MySql>> {
        // utf8mb4 on the connection too: with utf8 (3 bytes) an emoji in a
        // goal would be refused or mangled on its way in.
        let options = MySqlConnectOptions::from_str(url)
            .context("reading the MariaDB URL")?
            .charset("utf8mb4")
            .collation("utf8mb4_bin");
        named(
            "connect",
            MySqlPoolOptions::new()
                // ToolsDB limits connections per tool; a run needs few.
                .max_connections(4)
                // A database that does not answer within this is down: the
                // run stops with the store's error (a busy ToolsDB answers
                // well within it).
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        // Strict everywhere: a value too long for its column
                        // is an error, never silently cut, whatever the
                        // server's default sql_mode.
                        conn.execute(
                            "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')",
                        )
                        .await?;
                        if read_only {
                            // The web view: the server refuses any write
                            // on this session, whatever the user may do.
                            conn.execute("SET SESSION TRANSACTION READ ONLY").await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(options),
        )
        .await
    }

    async fn is_migrated(conn: &mut MySqlConnection) -> Result<bool> {
        let tables: i64 = named(
            "find_migrations_table",
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
            )
            .fetch_one(&mut *conn),
        )
        .await?;
        Ok(tables > 0)
    }

    async fn schema_version(conn: &mut MySqlConnection) -> Result<i64> {
        named(
            "schema_version",
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM _sqlx_migrations \
                 WHERE success = 1",
            )
            .fetch_one(&mut *conn),
        )
        .await
    }

    /// Under `GET_LOCK('goalsbot-migrate-DATABASE')`, taken and given back
    /// on `conn` and waited for up to [`MIGRATION_WAIT`]; the server drops
    /// it should the session end first. Taken on every open: it holds up no
    /// one's writes.
    async fn migrate(conn: &mut PoolConnection<MySql>) -> Result<()> {
        let name: String = named(
            "migration_lock_name",
            sqlx::query_scalar(
                "SELECT LEFT(CONCAT('goalsbot-migrate-', COALESCE(DATABASE(), '')), 64)",
            )
            .fetch_one(&mut **conn),
        )
        .await?;
        let got: Option<i64> = named(
            "migration_lock",
            sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                .bind(&name)
                .bind(MIGRATION_WAIT.as_secs() as i64)
                .fetch_one(&mut **conn),
        )
        .await?;
        if got != Some(1) {
            anyhow::bail!(
                "another goalsbot process kept migrating the store for {} s; try again",
                MIGRATION_WAIT.as_secs()
            );
        }
        let migrated = migrate_on::<MySql>(conn).await;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&name)
            .execute(&mut **conn)
            .await;
        if released.is_err() {
            // The lock ends with the session.
            conn.close_on_drop();
        }
        migrated
    }

    /// Makes the database itself refuse UPDATE and DELETE on history, where it
    /// lets us. A replicated server (ToolsDB) may refuse CREATE TRIGGER to
    /// accounts without SUPER (error 1419); then history stays append-only by
    /// goalsbot's own code, which never updates or deletes it, and we say so.
    async fn after_migrate(conn: &mut MySqlConnection) {
        // Only when missing: CREATE TRIGGER locks `history`, and a process
        // opening the store must not stall (or deadlock) another's writes.
        let present: Result<i64, _> = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
             AND TRIGGER_NAME IN ('history_no_update', 'history_no_delete')",
        )
        .fetch_one(&mut *conn)
        .await;
        if present.is_ok_and(|n| n == 2) {
            return;
        }
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
                sqlx::query(&sql).execute(&mut *conn),
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

    /// Starts a transaction and waits for this process's turn to write.
    async fn begin_write(pool: &Pool<MySql>) -> Result<Transaction<'static, MySql>> {
        let mut tx = named("begin_write", pool.begin()).await?;
        named(
            "take_write_lock",
            sqlx::query("SELECT id FROM write_lock WHERE id = 1 FOR UPDATE").fetch_one(&mut *tx),
        )
        .await?;
        Ok(tx)
    }

    fn upsert(key: &str, update: &[&str]) -> String {
        if update.is_empty() {
            // A no-op update: MariaDB has no DO NOTHING.
            let first = key.split(',').next().unwrap_or(key).trim();
            return format!("ON DUPLICATE KEY UPDATE {first} = {first}");
        }
        let set: Vec<String> = update
            .iter()
            .map(|c| format!("{c} = VALUES({c})"))
            .collect();
        format!("ON DUPLICATE KEY UPDATE {}", set.join(", "))
    }

    /// Text read as bytes (see the module note on binary collations), checked as UTF-8.
    fn text<I: ColumnIndex<MySqlRow> + Debug>(row: &MySqlRow, col: I) -> Result<Option<String>> {
        let bytes: Option<Vec<u8>> = row.try_get(col)?;
        bytes
            .map(|b| String::from_utf8(b).context("stored text is not UTF-8"))
            .transpose()
    }
}
