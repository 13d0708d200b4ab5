//! What differs between SQLite and MariaDB ([`Dialect`]), and running the one SQL text of each query on either.
//!
//! Every query is written once, as a [`Sql`]: its name, its text and its
//! arguments (text or integers). The few clauses that differ come from the
//! dialect: an upsert's tail ([`Db::upsert`]), the row lock of a read inside
//! a write transaction ([`Tx::lock_rows`]). Connecting, the schema probe, the
//! migration lock, the write lock and decoding text are the dialect's own
//! code, in `sqlite.rs` and `mysql.rs`.

use std::borrow::Cow;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::mysql::MySqlRow;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteRow;
use sqlx::{ColumnIndex, MySql, Pool, Row as _, Sqlite, Transaction};

use super::{named, StoreError};

/// One database's differences: the implementations are `sqlx::Sqlite` (`sqlite.rs`) and `sqlx::MySql` (`mysql.rs`).
pub(super) trait Dialect: sqlx::Database {
    /// Appended to a read inside a write transaction whose rows the write depends on.
    const LOCK_ROWS: &'static str;

    /// The migrations of this database.
    fn migrator() -> &'static Migrator;

    /// A pool on the database at `url`, connections set up as the store
    /// needs them; `read_only`: every connection refuses writes (the web
    /// view), and a SQLite file that does not exist is not created.
    fn connect(url: &str, read_only: bool) -> impl Future<Output = Result<Pool<Self>>> + Send;

    /// Whether the database holds sqlx's migrations table (it was migrated before).
    fn is_migrated(conn: &mut Self::Connection) -> impl Future<Output = Result<bool>> + Send;

    /// The schema version: the newest migration applied.
    fn schema_version(conn: &mut Self::Connection) -> impl Future<Output = Result<i64>> + Send;

    /// Brings the schema up to date ([`migrate_on`]) on `conn` holding a
    /// lock the database itself holds, waiting up to [`MIGRATION_WAIT`] for
    /// it: any number of processes that open a new or older store at once
    /// migrate it one after the other, and the later ones, which look at the
    /// schema only once they hold the lock, find it done.
    fn migrate(conn: &mut PoolConnection<Self>) -> impl Future<Output = Result<()>> + Send;

    /// Anything to set up after migrating, under the migration lock (default: nothing).
    fn after_migrate(_conn: &mut Self::Connection) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Starts a write transaction that holds the database's write lock: writers take turns.
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>>> + Send;

    /// How an `INSERT` ends when a row with its key (`key`, the key columns
    /// as written) exists: the columns `update` take the new values; with
    /// none, the row stays as it is.
    fn upsert(key: &str, update: &[&str]) -> String;

    /// A text column of a row, `None` for NULL.
    fn text<I: ColumnIndex<Self::Row> + Debug>(row: &Self::Row, col: I) -> Result<Option<String>>;
}

/// How long a process opening the store waits for another's migration.
pub(super) const MIGRATION_WAIT: Duration = Duration::from_secs(600);

/// The newest schema version this build knows for the dialect.
fn known_version<D: Dialect>() -> i64 {
    D::migrator().iter().map(|m| m.version).max().unwrap_or(0)
}

/// Connects and brings the schema up to date ([`Dialect::migrate`]); a
/// newer schema is refused ([`StoreError::SchemaTooNew`]) untouched.
async fn open<D: Dialect>(url: &str) -> Result<Pool<D>>
where
    D::Connection: Migrate,
{
    let pool = D::connect(url, false).await?;
    let mut conn = named("migration_connection", pool.acquire()).await?;
    D::migrate(&mut conn).await?;
    drop(conn);
    Ok(pool)
}

/// Opens the database at `url` read-only, its schema checked and never
/// migrated: a store whose schema is not this build's is an error that
/// says which command migrates it.
async fn open_read_only<D: Dialect>(url: &str) -> Result<Pool<D>>
where
    D::Connection: Migrate,
{
    let pool = D::connect(url, true).await?;
    let mut conn = named("schema_check_connection", pool.acquire()).await?;
    if !up_to_date::<D>(&mut conn).await? {
        let found = if D::is_migrated(&mut conn).await? {
            D::schema_version(&mut conn).await?.to_string()
        } else {
            "none".into()
        };
        anyhow::bail!(
            "the store's schema is version {found}, and this goalsbot reads version {}: \
             it opens the store read-only and migrates nothing; run a command that \
             writes (`goalsbot sync`) with this version once to migrate it",
            known_version::<D>()
        );
    }
    drop(conn);
    Ok(pool)
}

/// Refuses a schema newer than this build's ([`StoreError::SchemaTooNew`]).
async fn refuse_newer<D: Dialect>(conn: &mut D::Connection) -> Result<()> {
    if D::is_migrated(conn).await? {
        let found = D::schema_version(conn).await?;
        let known = known_version::<D>();
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known }.into());
        }
    }
    Ok(())
}

/// Whether the schema is this build's, read without any lock: every
/// migration applied, as written, none failed half-way. A newer schema is
/// refused; `false` means the caller migrates, under the lock.
pub(super) async fn up_to_date<D: Dialect>(conn: &mut D::Connection) -> Result<bool>
where
    D::Connection: Migrate,
{
    refuse_newer::<D>(conn).await?;
    if !D::is_migrated(conn).await? || conn.dirty_version().await?.is_some() {
        return Ok(false);
    }
    let applied = conn.list_applied_migrations().await?;
    let wanted: Vec<_> = D::migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    Ok(applied.len() == wanted.len()
        && applied
            .iter()
            .zip(wanted)
            .all(|(a, m)| a.version == m.version && a.checksum == m.checksum))
}

/// The schema check and migration, on the connection that holds the
/// migration lock: refuses a newer schema untouched, applies the migrations
/// not applied yet (none when another process did meanwhile), then the
/// dialect's [`Dialect::after_migrate`].
pub(super) async fn migrate_on<D: Dialect>(conn: &mut D::Connection) -> Result<()>
where
    D::Connection: Migrate,
{
    refuse_newer::<D>(conn).await?;
    let known = known_version::<D>();
    D::migrator()
        .run_direct(conn)
        .await
        .with_context(|| format!("migrating the store to schema version {known}"))?;
    D::after_migrate(conn).await;
    Ok(())
}

/// A pool on the store's database (a clone shares the pool).
#[derive(Clone)]
pub(super) enum Db {
    Sqlite(Pool<Sqlite>),
    Mysql(Pool<MySql>),
}

/// Runs `$body` with `$p` the pool (or transaction) of either variant and `$d` its dialect.
macro_rules! each {
    ($on:expr, $kind:ident, $p:ident, $d:ident => $body:expr) => {
        match $on {
            $kind::Sqlite($p) => {
                type $d = Sqlite;
                $body
            }
            $kind::Mysql($p) => {
                type $d = MySql;
                $body
            }
        }
    };
}

/// A query of `$sql` with its arguments bound.
macro_rules! bound {
    ($sql:expr) => {{
        let sql = $sql;
        sql.args
            .iter()
            .fold(sqlx::query(&sql.text), |q, arg| match *arg {
                Arg::Text(t) => q.bind(t),
                Arg::Int(i) => q.bind(i),
            })
    }};
}

impl Db {
    /// Opens (creating it if needed) and migrates the SQLite database at `url`.
    pub(super) async fn open_sqlite(url: &str) -> Result<Db> {
        Ok(Db::Sqlite(open::<Sqlite>(url).await?))
    }

    /// Opens and migrates the MariaDB database at `url` (`mysql://` or `mariadb://`).
    pub(super) async fn open_mysql(url: &str) -> Result<Db> {
        Ok(Db::Mysql(open::<MySql>(url).await?))
    }

    /// Opens the SQLite database at `url` read-only (it must exist and be migrated).
    pub(super) async fn open_sqlite_read_only(url: &str) -> Result<Db> {
        Ok(Db::Sqlite(open_read_only::<Sqlite>(url).await?))
    }

    /// Opens the MariaDB database at `url` read-only (every session `READ ONLY`).
    pub(super) async fn open_mysql_read_only(url: &str) -> Result<Db> {
        Ok(Db::Mysql(open_read_only::<MySql>(url).await?))
    }

    /// `sqlite` or `mysql`.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Mysql(_) => "mysql",
        }
    }

    pub(super) async fn schema_version(&self) -> Result<i64> {
        each!(self, Db, p, D => {
            let mut conn = named("schema_version_connection", p.acquire()).await?;
            D::schema_version(&mut conn).await
        })
    }

    /// See [`Dialect::upsert`].
    pub(super) fn upsert(&self, key: &str, update: &[&str]) -> String {
        each!(self, Db, _p, D => D::upsert(key, update))
    }

    /// Starts a write transaction ([`Dialect::begin_write`]).
    pub(super) async fn begin_write(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(Sqlite::begin_write(p).await?),
            Db::Mysql(p) => Tx::Mysql(MySql::begin_write(p).await?),
        })
    }

    /// Runs a statement; how many rows it changed.
    pub(super) async fn execute(&self, sql: Sql<'_>) -> Result<u64> {
        named(sql.name, self.execute_raw(&sql)).await
    }

    /// Runs a statement, the database's error as it is.
    pub(super) async fn execute_raw(&self, sql: &Sql<'_>) -> Result<u64, sqlx::Error> {
        each!(self, Db, p, _D => Ok(bound!(sql).execute(p).await?.rows_affected()))
    }

    /// Every row a query returns.
    pub(super) async fn fetch_all(&self, sql: Sql<'_>) -> Result<Vec<Row>> {
        let rows = each!(self, Db, p, _D => named(sql.name, bound!(&sql).fetch_all(p))
            .await?
            .into_iter()
            .map(|r| Row::new(sql.name, r.into()))
            .collect());
        Ok(rows)
    }

    /// The row a query returns, if any.
    pub(super) async fn fetch_optional(&self, sql: Sql<'_>) -> Result<Option<Row>> {
        let row = each!(self, Db, p, _D => named(sql.name, bound!(&sql).fetch_optional(p))
            .await?
            .map(Inner::from));
        Ok(row.map(|r| Row::new(sql.name, r)))
    }

    pub(super) async fn close(self) {
        each!(self, Db, p, _D => p.close().await)
    }
}

/// A write transaction; dropped unfinished, it rolls back.
pub(super) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Mysql(Transaction<'static, MySql>),
}

impl Tx {
    /// See [`Dialect::upsert`].
    pub(super) fn upsert(&self, key: &str, update: &[&str]) -> String {
        each!(self, Tx, _t, D => D::upsert(key, update))
    }

    /// See [`Dialect::LOCK_ROWS`].
    pub(super) fn lock_rows(&self) -> &'static str {
        each!(self, Tx, _t, D => D::LOCK_ROWS)
    }

    /// Runs a statement; how many rows it changed.
    pub(super) async fn execute(&mut self, sql: Sql<'_>) -> Result<u64> {
        let done = each!(self, Tx, t, _D => named(sql.name, bound!(&sql).execute(&mut **t))
            .await?
            .rows_affected());
        Ok(done)
    }

    /// Every row a query returns, inside the transaction.
    pub(super) async fn fetch_all(&mut self, sql: Sql<'_>) -> Result<Vec<Row>> {
        let rows = each!(self, Tx, t, _D => named(sql.name, bound!(&sql).fetch_all(&mut **t))
            .await?
            .into_iter()
            .map(Inner::from)
            .collect::<Vec<_>>());
        Ok(rows.into_iter().map(|r| Row::new(sql.name, r)).collect())
    }

    /// The row a query returns, if any.
    pub(super) async fn fetch_optional(&mut self, sql: Sql<'_>) -> Result<Option<Row>> {
        let row = each!(self, Tx, t, _D => named(sql.name, bound!(&sql).fetch_optional(&mut **t))
            .await?
            .map(Inner::from));
        Ok(row.map(|r| Row::new(sql.name, r)))
    }

    pub(super) async fn commit(self) -> Result<()> {
        each!(self, Tx, t, _D => named("commit", t.commit()).await)
    }
}

/// One query: its name (for errors), its text, its arguments in order.
pub(super) struct Sql<'a> {
    name: &'static str,
    text: Cow<'a, str>,
    args: Vec<Arg<'a>>,
}

#[derive(Clone, Copy)]
enum Arg<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

/// A query named `name` (errors say which query failed).
pub(super) fn sql<'a>(name: &'static str, text: impl Into<Cow<'a, str>>) -> Sql<'a> {
    Sql {
        name,
        text: text.into(),
        args: Vec::new(),
    }
}

impl<'a> Sql<'a> {
    /// Binds the next `?` to text.
    pub(super) fn text(self, v: &'a str) -> Self {
        self.opt_text(Some(v))
    }

    /// Binds the next `?` to text or NULL.
    pub(super) fn opt_text(mut self, v: Option<&'a str>) -> Self {
        self.args.push(Arg::Text(v));
        self
    }

    /// Binds the next `?` to an integer.
    pub(super) fn int(self, v: i64) -> Self {
        self.opt_int(Some(v))
    }

    /// Binds the next `?` to an integer or NULL.
    pub(super) fn opt_int(mut self, v: Option<i64>) -> Self {
        self.args.push(Arg::Int(v));
        self
    }
}

/// A row as read, with the name of its query for errors.
pub(super) struct Row {
    query: &'static str,
    inner: Inner,
}

enum Inner {
    Sqlite(SqliteRow),
    Mysql(MySqlRow),
}

impl From<SqliteRow> for Inner {
    fn from(r: SqliteRow) -> Self {
        Inner::Sqlite(r)
    }
}

impl From<MySqlRow> for Inner {
    fn from(r: MySqlRow) -> Self {
        Inner::Mysql(r)
    }
}

/// A column of a row: its name or its position.
pub(super) trait Col: ColumnIndex<SqliteRow> + ColumnIndex<MySqlRow> + Debug + Copy {}
impl<T: ColumnIndex<SqliteRow> + ColumnIndex<MySqlRow> + Debug + Copy> Col for T {}

impl Row {
    fn new(query: &'static str, inner: Inner) -> Self {
        Row { query, inner }
    }

    /// A text column that may be NULL.
    pub(super) fn opt_text(&self, col: impl Col) -> Result<Option<String>> {
        match &self.inner {
            Inner::Sqlite(r) => Sqlite::text(r, col),
            Inner::Mysql(r) => MySql::text(r, col),
        }
        .with_context(|| format!("store query {}: column {col:?}", self.query))
    }

    /// A text column.
    pub(super) fn text(&self, col: impl Col) -> Result<String> {
        self.opt_text(col)?
            .with_context(|| format!("store query {}: column {col:?} is empty", self.query))
    }

    /// An integer column that may be NULL.
    pub(super) fn opt_int(&self, col: impl Col) -> Result<Option<i64>> {
        match &self.inner {
            Inner::Sqlite(r) => r.try_get(col),
            Inner::Mysql(r) => r.try_get(col),
        }
        .with_context(|| format!("store query {}: column {col:?}", self.query))
    }

    /// An integer column.
    pub(super) fn int(&self, col: impl Col) -> Result<i64> {
        self.opt_int(col)?
            .with_context(|| format!("store query {}: column {col:?} is empty", self.query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_end_as_each_database_wants() {
        assert_eq!(
            Sqlite::upsert("record_id, field", &["value"]),
            "ON CONFLICT (record_id, field) DO UPDATE SET value = excluded.value"
        );
        assert_eq!(
            MySql::upsert("record_id, field", &["value"]),
            "ON DUPLICATE KEY UPDATE value = VALUES(value)"
        );
        assert_eq!(
            Sqlite::upsert("title", &["revision_id", "records"]),
            "ON CONFLICT (title) DO UPDATE SET revision_id = excluded.revision_id, \
             records = excluded.records"
        );
        assert_eq!(
            MySql::upsert("title", &["revision_id", "records"]),
            "ON DUPLICATE KEY UPDATE revision_id = VALUES(revision_id), records = VALUES(records)"
        );
        assert_eq!(Sqlite::upsert("id", &[]), "ON CONFLICT (id) DO NOTHING");
        assert_eq!(MySql::upsert("id", &[]), "ON DUPLICATE KEY UPDATE id = id");
    }
}
