//! The canonical store: current records at field level, their full history, and per-page sync state.
//!
//! All SQL lives below this module, one submodule per database (SQLite and
//! MariaDB), each with its own migrations, chosen by the URL scheme in
//! [`Store::open`]. What does not need the database (checking changes,
//! replaying history, rebuilding records) is plain code here, shared by both.
//!
//! Writes go through [`Store::apply`] (or [`Store::apply_page`]): one
//! transaction that checks each change's `old` value against the store
//! (compare-and-set, so an update computed from a stale view fails instead of
//! overwriting), writes the new values and appends a history row with the
//! change's provenance. The store never reads the clock: times come in with
//! the [`Provenance`].

mod memory;
mod mysql;
pub mod replica_cnf;
mod sqlite;

use memory::Extras;
pub use memory::{
    Decided, EditEntry, NewConflict, PageCheck, PageMerge, RequestEntry, Resolution, RunEntry,
    StoredConflict, Take,
};

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::core::fields::{self, FieldChange, FieldKey, Fields};
use crate::core::records::{Export, FiscalYear, FiscalYearRecords};

/// Store failures a caller branches on; everything else is a plain `anyhow` error.
///
/// They reach the caller inside an `anyhow::Error`; use `downcast_ref`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The database was written by a newer goalsbot; this one must not touch it.
    #[error(
        "the store's schema version is {found}, newer than the {known} this goalsbot knows; \
         upgrade goalsbot (or point store.url at another database)"
    )]
    SchemaTooNew {
        /// The newest migration applied to the database.
        found: i64,
        /// The newest migration this build has.
        known: i64,
    },
    /// A change's `old` value is not what the store holds: it was computed from a stale view.
    #[error(
        "store changed underneath: {key} is {}, the change expected {}; reload and merge again",
        show(.found),
        show(.expected)
    )]
    Stale {
        /// The field.
        key: FieldKey,
        /// The value the change was computed from.
        expected: Option<Value>,
        /// The value the store holds.
        found: Option<Value>,
    },
}

fn show(v: &Option<Value>) -> String {
    v.as_ref()
        .map_or_else(|| "absent".to_string(), Value::to_string)
}

/// Where a change comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Source {
    /// Parsed from a wiki page revision.
    Wiki {
        /// The page title.
        page: String,
        /// The revision id.
        revid: u64,
        /// Who saved the revision (`None` when the user name is hidden).
        user: Option<String>,
        /// When the revision was saved.
        timestamp: DateTime<Utc>,
    },
    /// A tracker edit by an operator (`set`, `import`, `resolve`).
    Tracker {
        /// The operator.
        operator: String,
        /// The command line or command name that made the edit.
        command: String,
    },
}

impl Source {
    /// Which kind of source this is.
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Wiki { .. } => SourceKind::Wiki,
            Source::Tracker { .. } => SourceKind::Tracker,
        }
    }
}

/// The kind of a [`Source`], as stored: `wiki` or `tracker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A wiki revision.
    Wiki,
    /// A tracker edit.
    Tracker,
}

impl SourceKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Wiki => "wiki",
            SourceKind::Tracker => "tracker",
        }
    }
}

impl FromStr for SourceKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "wiki" => Ok(SourceKind::Wiki),
            "tracker" => Ok(SourceKind::Tracker),
            _ => bail!("unknown source kind {s:?}; expected wiki or tracker"),
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who and what made a set of changes, and when (the caller's clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// When the store takes the changes; history and as-of use this time.
    pub at: DateTime<Utc>,
    /// The run that made them, e.g. `2020-12-01T10:00Z-7f3a`.
    pub run_id: String,
    /// Where they come from.
    #[serde(flatten)]
    pub source: Source,
}

/// What the store remembers about a tracked page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageState {
    /// The revision last synced.
    pub revid: u64,
    /// When it was synced.
    pub synced_at: DateTime<Utc>,
    /// The records parsed from that revision: the base of the next merge.
    pub records: FiscalYearRecords,
    /// The key results that had a row in one of the bot's status tables in
    /// that revision (`None`: not recorded, by a goalsbot before schema 4).
    pub table_rows: Option<BTreeSet<String>>,
}

/// How a page state's records are kept since schema 4: with the table rows.
#[derive(serde::Deserialize)]
struct StoredPageRecords {
    records: FiscalYearRecords,
    table_rows: BTreeSet<String>,
}

/// [`StoredPageRecords`] as written.
#[derive(Serialize)]
struct StoringPageRecords<'a> {
    records: &'a FiscalYearRecords,
    table_rows: &'a BTreeSet<String>,
}

/// One history row: a field's change with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// Order of writing, increasing.
    pub seq: i64,
    /// Which field of which record.
    pub key: FieldKey,
    /// The value before (`None`: absent).
    pub old: Option<Value>,
    /// The value after (`None`: absent).
    pub new: Option<Value>,
    /// Who, what and when.
    pub provenance: Provenance,
}

/// The canonical store, on SQLite or MariaDB behind one interface.
pub struct Store {
    backend: Backend,
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Mysql(mysql::Mysql),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            Backend::Sqlite(_) => f.write_str("Store(sqlite)"),
            Backend::Mysql(_) => f.write_str("Store(mysql)"),
        }
    }
}

/// Runs one query, naming it in the error so a failure says which query it was.
pub(crate) async fn named<T>(
    name: &'static str,
    query: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T> {
    query.await.with_context(|| format!("store query {name}"))
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (head, rest) = url.split_at(scheme_end + 3);
    // The last `@` ends the user info even when the password holds `/` or `@`:
    // masking too much beats leaking a password.
    let Some(at) = rest.rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{head}{}:***{}", &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

/// A time as stored: RFC 3339, UTC, microseconds, fixed width (so text order is time order).
pub(crate) fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_timestamp(s: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("stored time {s:?} is not RFC 3339"))?
        .with_timezone(&Utc))
}

/// A stored JSON value, parsed; the error names where it came from.
pub(crate) fn json(text: &str, record: &str, field: &str) -> Result<Value> {
    serde_json::from_str(text)
        .with_context(|| format!("stored value of {record} {field} is not JSON: {text:?}"))
}

pub(crate) fn json_opt(text: Option<String>, record: &str, field: &str) -> Result<Option<Value>> {
    text.map(|t| json(&t, record, field)).transpose()
}

/// A provenance as the columns of a history row, the same for every backend.
pub(crate) struct ProvenanceColumns<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) at: String,
    pub(crate) source: &'static str,
    pub(crate) page_title: Option<&'a str>,
    pub(crate) revision_id: Option<i64>,
    pub(crate) wiki_user: Option<&'a str>,
    pub(crate) revision_timestamp: Option<String>,
    pub(crate) operator: Option<&'a str>,
    pub(crate) command: Option<&'a str>,
}

impl<'a> ProvenanceColumns<'a> {
    pub(crate) fn new(p: &'a Provenance) -> Result<Self> {
        let mut cols = ProvenanceColumns {
            run_id: &p.run_id,
            at: timestamp(&p.at),
            source: p.source.kind().as_str(),
            page_title: None,
            revision_id: None,
            wiki_user: None,
            revision_timestamp: None,
            operator: None,
            command: None,
        };
        match &p.source {
            Source::Wiki {
                page,
                revid,
                user,
                timestamp: saved,
            } => {
                cols.page_title = Some(page);
                cols.revision_id = Some(i64::try_from(*revid).context("revision id too large")?);
                cols.wiki_user = user.as_deref();
                cols.revision_timestamp = Some(timestamp(saved));
            }
            Source::Tracker { operator, command } => {
                cols.operator = Some(operator);
                cols.command = Some(command);
            }
        }
        Ok(cols)
    }
}

/// A history row as read back, before its text is checked and parsed.
pub(crate) struct HistoryRow {
    pub(crate) seq: i64,
    pub(crate) run_id: Option<String>,
    pub(crate) at: Option<String>,
    pub(crate) record: Option<String>,
    pub(crate) field: Option<String>,
    pub(crate) old: Option<String>,
    pub(crate) new: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) page_title: Option<String>,
    pub(crate) revision_id: Option<i64>,
    pub(crate) wiki_user: Option<String>,
    pub(crate) revision_timestamp: Option<String>,
    pub(crate) operator: Option<String>,
    pub(crate) command: Option<String>,
}

impl HistoryRow {
    pub(crate) fn into_entry(self) -> Result<HistoryEntry> {
        fn need(v: Option<String>, col: &str) -> Result<String> {
            v.with_context(|| format!("store query history: {col} is empty"))
        }
        let record = need(self.record, "record_id")?;
        let field = need(self.field, "field")?;
        let source = match need(self.source, "source")?.parse::<SourceKind>()? {
            SourceKind::Wiki => {
                let revid = self.revision_id.context("history: revision_id is empty")?;
                Source::Wiki {
                    page: need(self.page_title, "page_title")?,
                    revid: u64::try_from(revid).context("history: revision_id")?,
                    user: self.wiki_user,
                    timestamp: parse_timestamp(&need(
                        self.revision_timestamp,
                        "revision_timestamp",
                    )?)?,
                }
            }
            SourceKind::Tracker => Source::Tracker {
                operator: need(self.operator, "operator")?,
                command: need(self.command, "command")?,
            },
        };
        Ok(HistoryEntry {
            seq: self.seq,
            old: json_opt(self.old, &record, &field)?,
            new: json_opt(self.new, &record, &field)?,
            key: FieldKey::new(record, field),
            provenance: Provenance {
                at: parse_timestamp(&need(self.at, "at")?)?,
                run_id: need(self.run_id, "run_id")?,
                source,
            },
        })
    }
}

/// The fiscal year a record belongs to, from its id (`2020-21/…`).
pub fn record_fiscal_year(record: &str) -> Result<FiscalYear> {
    let (prefix, rest) = record
        .split_once('/')
        .with_context(|| format!("record id {record:?} does not start with a fiscal year"))?;
    let fy: FiscalYear = prefix
        .parse()
        .with_context(|| format!("record id {record:?}"))?;
    if fy.to_string() != prefix || rest.is_empty() {
        bail!("record id {record:?} does not start with a fiscal year like 2020-21/");
    }
    Ok(fy)
}

/// The longest record id, in characters: the key length both backends' schemas hold.
pub const MAX_RECORD_ID_CHARS: usize = 255;

/// The longest page title, in characters (MediaWiki allows 255 bytes, plus a namespace).
pub const MAX_PAGE_TITLE_CHARS: usize = 512;

/// Checks every change before any is written: known field, fitting value, valid record id.
fn check_changes(changes: &[FieldChange]) -> Result<()> {
    for c in changes {
        record_fiscal_year(&c.key.record)?;
        // Checked here, not left to the database, so that SQLite (which would
        // take any length) and MariaDB refuse the same ids.
        if c.key.record.chars().count() > MAX_RECORD_ID_CHARS {
            bail!(
                "record id {}… is longer than {MAX_RECORD_ID_CHARS} characters",
                c.key.record.chars().take(60).collect::<String>()
            );
        }
        if !fields::is_known_field(&c.key.field) {
            bail!(
                "change to {}: unknown field {:?}",
                c.key.record,
                c.key.field
            );
        }
        for v in [&c.old, &c.new].into_iter().flatten() {
            fields::check_value(&c.key.field, v)
                .map_err(|e| anyhow::anyhow!("change to {}: {e}", c.key))?;
        }
    }
    Ok(())
}

fn check_provenance(p: &Provenance) -> Result<()> {
    if p.run_id.trim().is_empty() {
        bail!("provenance without run id");
    }
    match &p.source {
        Source::Wiki { page, .. } if page.trim().is_empty() => {
            bail!("wiki provenance without page")
        }
        Source::Tracker { operator, .. } if operator.trim().is_empty() => {
            bail!("tracker provenance without operator")
        }
        _ => Ok(()),
    }
}

/// Replays history rows (in order: record, field, new value) into a flat map.
pub(crate) fn replay(rows: impl IntoIterator<Item = (String, String, Option<Value>)>) -> Fields {
    let mut out = Fields::new();
    for (record, field, new) in rows {
        let key = FieldKey::new(record, field);
        match new {
            Some(v) => {
                out.insert(key, v);
            }
            None => {
                out.remove(&key);
            }
        }
    }
    out
}

impl Store {
    /// Opens (creating if needed) the store at `url` and migrates it to the current schema.
    ///
    /// `sqlite://PATH` (file created on first use), `sqlite::memory:`,
    /// `mysql://USER:PASS@HOST[:PORT]/DB` (or `mariadb://…`; the database must
    /// exist), or `mysql+replicacnf://HOST[:PORT]/DB` with the login read from
    /// Toolforge's `replica.my.cnf` ([`replica_cnf`]).
    /// Refuses a database with a newer schema ([`StoreError::SchemaTooNew`]).
    pub async fn open(url: &str) -> Result<Store> {
        let shown = redact_url(url);
        let opening = || format!("opening the store {shown}");
        let scheme = url.split(':').next().unwrap_or("");
        let backend = match scheme {
            "sqlite" => Backend::Sqlite(sqlite::Sqlite::open(url).await.with_context(opening)?),
            "mysql" | "mariadb" => {
                Backend::Mysql(mysql::Mysql::open(url).await.with_context(opening)?)
            }
            replica_cnf::SCHEME => {
                // The resolved URL holds the password: it goes to the driver
                // and nowhere else; messages show the URL as written.
                let resolved = replica_cnf::resolve(url).with_context(opening)?;
                Backend::Mysql(mysql::Mysql::open(&resolved).await.with_context(opening)?)
            }
            _ => bail!(
                "opening the store {shown}: unknown URL scheme {scheme:?}; \
                 use sqlite://PATH, mysql://USER:PASS@HOST/DB or \
                 mysql+replicacnf://tools.db.svc.wikimedia.cloud/DB"
            ),
        };
        Ok(Store { backend })
    }

    /// The schema version (newest migration applied).
    pub async fn schema_version(&self) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(db) => db.schema_version().await,
            Backend::Mysql(db) => db.schema_version().await,
        }
    }

    /// The fiscal years the store has records for (including removed ones), in order.
    pub async fn fiscal_years(&self) -> Result<Vec<FiscalYear>> {
        let names = match &self.backend {
            Backend::Sqlite(db) => db.fiscal_years().await?,
            Backend::Mysql(db) => db.fiscal_years().await?,
        };
        let mut out = names
            .iter()
            .map(|s| {
                s.parse()
                    .with_context(|| format!("stored fiscal year {s:?}"))
            })
            .collect::<Result<Vec<FiscalYear>>>()?;
        out.sort();
        Ok(out)
    }

    /// The current fields of a fiscal year, removed records included (marked [`fields::REMOVED`]).
    pub async fn load_fields(&self, fy: &FiscalYear) -> Result<Fields> {
        match &self.backend {
            Backend::Sqlite(db) => db.load_fields(&fy.to_string()).await,
            Backend::Mysql(db) => db.load_fields(&fy.to_string()).await,
        }
    }

    /// The current records of a fiscal year (removed ones left out).
    pub async fn load(&self, fy: &FiscalYear) -> Result<FiscalYearRecords> {
        let fields = self.load_fields(fy).await?;
        fields::unflatten(fy, &fields).with_context(|| format!("rebuilding {fy} from the store"))
    }

    /// The fields of a fiscal year as they were at `at` (changes at exactly `at` included).
    pub async fn load_fields_as_of(&self, fy: &FiscalYear, at: DateTime<Utc>) -> Result<Fields> {
        let rows = match &self.backend {
            Backend::Sqlite(db) => db.history_until(&fy.to_string(), &timestamp(&at)).await?,
            Backend::Mysql(db) => db.history_until(&fy.to_string(), &timestamp(&at)).await?,
        };
        Ok(replay(rows))
    }

    /// The records of a fiscal year as they were at `at`, replayed from history.
    pub async fn load_as_of(
        &self,
        fy: &FiscalYear,
        at: DateTime<Utc>,
    ) -> Result<FiscalYearRecords> {
        let fields = self.load_fields_as_of(fy, at).await?;
        fields::unflatten(fy, &fields)
            .with_context(|| format!("rebuilding {fy} as of {} from history", timestamp(&at)))
    }

    /// An export of the given years (all when empty), current or as of a time.
    pub async fn export(
        &self,
        years: &[FiscalYear],
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Export> {
        let years = if years.is_empty() {
            self.fiscal_years().await?
        } else {
            years.to_vec()
        };
        let mut out = Vec::with_capacity(years.len());
        for fy in &years {
            out.push(match as_of {
                Some(t) => self.load_as_of(fy, t).await?,
                None => self.load(fy).await?,
            });
        }
        Ok(Export::new(out))
    }

    /// Applies changes in one transaction, each with a history row; returns how many changed.
    ///
    /// Each change's `old` must equal the stored value ([`StoreError::Stale`]
    /// otherwise, and nothing is written). Changes whose `old` equals `new`
    /// are skipped. A change of [`fields::REMOVED`] to `true` marks the record
    /// removed (its values stay); back to absent restores it.
    pub async fn apply(&self, provenance: &Provenance, changes: &[FieldChange]) -> Result<usize> {
        check_provenance(provenance)?;
        check_changes(changes)?;
        match &self.backend {
            Backend::Sqlite(db) => db.apply(provenance, changes, &Extras::default()).await,
            Backend::Mysql(db) => db.apply(provenance, changes, &Extras::default()).await,
        }
    }

    /// Applies changes pulled from a page and records that page's new sync state, atomically.
    pub async fn apply_page(
        &self,
        provenance: &Provenance,
        changes: &[FieldChange],
        title: &str,
        revid: u64,
        records: &FiscalYearRecords,
    ) -> Result<usize> {
        check_provenance(provenance)?;
        check_changes(changes)?;
        let extras = Extras {
            page: Some(PageWrite::new(title, revid, &provenance.at, records, None)?),
            ..Extras::default()
        };
        match &self.backend {
            Backend::Sqlite(db) => db.apply(provenance, changes, &extras).await,
            Backend::Mysql(db) => db.apply(provenance, changes, &extras).await,
        }
    }

    /// The sync state of a tracked page, if it was ever synced.
    pub async fn page_state(&self, title: &str) -> Result<Option<PageState>> {
        let row = match &self.backend {
            Backend::Sqlite(db) => db.page_state(title).await?,
            Backend::Mysql(db) => db.page_state(title).await?,
        };
        let Some((revid, synced_at, records)) = row else {
            return Ok(None);
        };
        let (records, table_rows) = match serde_json::from_str::<StoredPageRecords>(&records) {
            Ok(kept) => (kept.records, Some(kept.table_rows)),
            Err(_) => (
                serde_json::from_str(&records)
                    .with_context(|| format!("page {title}: stored records"))?,
                None,
            ),
        };
        Ok(Some(PageState {
            revid: u64::try_from(revid)
                .with_context(|| format!("page {title}: revision {revid}"))?,
            synced_at: parse_timestamp(&synced_at)?,
            records,
            table_rows,
        }))
    }

    /// Records that `title` was synced at revision `revid` (at `at`), parsed
    /// into `records`, with the key results that had a status table row.
    pub async fn set_page_state(
        &self,
        title: &str,
        revid: u64,
        at: DateTime<Utc>,
        records: &FiscalYearRecords,
        table_rows: Option<&BTreeSet<String>>,
    ) -> Result<()> {
        let page = PageWrite::new(title, revid, &at, records, table_rows)?;
        match &self.backend {
            Backend::Sqlite(db) => db.set_page_state(&page).await,
            Backend::Mysql(db) => db.set_page_state(&page).await,
        }
    }

    /// Every change to the records of a year after `at`, oldest first.
    pub async fn history_since(
        &self,
        fy: &FiscalYear,
        at: DateTime<Utc>,
    ) -> Result<Vec<HistoryEntry>> {
        match &self.backend {
            Backend::Sqlite(db) => db.history_since(&fy.to_string(), &timestamp(&at)).await,
            Backend::Mysql(db) => db.history_since(&fy.to_string(), &timestamp(&at)).await,
        }
    }

    /// Every change to a record, oldest first.
    pub async fn history(&self, record: &str) -> Result<Vec<HistoryEntry>> {
        match &self.backend {
            Backend::Sqlite(db) => db.history(record).await,
            Backend::Mysql(db) => db.history(record).await,
        }
    }

    /// Closes the connections, waiting for them to finish.
    pub async fn close(self) {
        match self.backend {
            Backend::Sqlite(db) => db.close().await,
            Backend::Mysql(db) => db.close().await,
        }
    }
}

/// A page's sync state, ready to write.
pub(crate) struct PageWrite {
    title: String,
    revid: i64,
    synced_at: String,
    records: String,
}

impl PageWrite {
    fn new(
        title: &str,
        revid: u64,
        at: &DateTime<Utc>,
        records: &FiscalYearRecords,
        table_rows: Option<&BTreeSet<String>>,
    ) -> Result<Self> {
        if title.trim().is_empty() {
            bail!("page state without a title");
        }
        if title.chars().count() > MAX_PAGE_TITLE_CHARS {
            bail!("page title longer than {MAX_PAGE_TITLE_CHARS} characters");
        }
        Ok(Self {
            title: title.to_string(),
            revid: i64::try_from(revid)
                .with_context(|| format!("page {title}: revision {revid}"))?,
            synced_at: timestamp(at),
            records: match table_rows {
                Some(table_rows) => serde_json::to_string(&StoringPageRecords {
                    records,
                    table_rows,
                }),
                None => serde_json::to_string(records),
            }
            .context("serialising page records")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fields::tests::{records, retag};
    use proptest::prelude::*;
    use serde_json::json;

    fn tracker(at: &str) -> Provenance {
        Provenance {
            at: at.parse().unwrap(),
            run_id: "test-run".into(),
            source: Source::Tracker {
                operator: "Tester".into(),
                command: "test".into(),
            },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Any records survive the store, any change between two states is
        /// applied exactly, and as-of still sees the first state.
        #[test]
        fn store_round_trips_random_records(a in records(), b in records()) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let fy = a.fiscal_year.clone();
                // Move b into a's year, so both states share record ids.
                let b = retag(&b, &fy);
                let store = Store::open("sqlite::memory:").await.unwrap();
                let first = fields::diff(&Fields::new(), &fields::flatten(&a));
                store.apply(&tracker("2021-01-01T00:00:00Z"), &first).await.unwrap();
                assert_eq!(store.load(&fy).await.unwrap(), a);
                let current = store.load_fields(&fy).await.unwrap();
                let second = fields::diff(&current, &fields::flatten(&b));
                store.apply(&tracker("2021-02-01T00:00:00Z"), &second).await.unwrap();
                assert_eq!(store.load(&fy).await.unwrap(), b);
                let then = store.load_as_of(&fy, "2021-01-15T00:00:00Z".parse().unwrap());
                assert_eq!(then.await.unwrap(), a);
            });
        }
    }

    #[test]
    fn urls_never_show_passwords() {
        assert_eq!(
            redact_url("mysql://bot:s3cr%40t@tools.db.svc/s1__goals"),
            "mysql://bot:***@tools.db.svc/s1__goals"
        );
        assert_eq!(
            redact_url("mysql://bot:pa/ss@word@host/db"),
            "mysql://bot:***@host/db"
        );
        assert_eq!(redact_url("mysql://bot@host/db"), "mysql://bot@host/db");
        assert_eq!(redact_url("sqlite://goals.sqlite"), "sqlite://goals.sqlite");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn timestamps_sort_as_text() {
        let a: DateTime<Utc> = "2021-01-15T00:00:00Z".parse().unwrap();
        let b: DateTime<Utc> = "2021-01-15T00:00:00.5Z".parse().unwrap();
        assert_eq!(timestamp(&a), "2021-01-15T00:00:00.000000Z");
        assert!(timestamp(&a) < timestamp(&b));
        assert_eq!(parse_timestamp(&timestamp(&b)).unwrap(), b);
    }

    #[test]
    fn record_ids_carry_their_year() {
        assert_eq!(
            record_fiscal_year("2020-21/x/kr1").unwrap(),
            FiscalYear::starting(2020)
        );
        assert!(record_fiscal_year("FY20/21/x").is_err());
        assert!(record_fiscal_year("2020-21/").is_err());
        assert!(record_fiscal_year("x").is_err());
    }

    #[test]
    fn changes_are_checked_before_writing() {
        let ok = FieldChange {
            key: FieldKey::new("2020-21/x", "title"),
            old: None,
            new: Some(json!("X")),
        };
        assert!(check_changes(std::slice::from_ref(&ok)).is_ok());
        let bad_field = FieldChange {
            key: FieldKey::new("2020-21/x", "colour"),
            ..ok.clone()
        };
        assert!(check_changes(&[ok.clone(), bad_field]).is_err());
        let bad_value = FieldChange {
            new: Some(json!(5)),
            ..ok.clone()
        };
        let err = check_changes(&[bad_value]).unwrap_err().to_string();
        assert!(err.contains("2020-21/x title"), "{err}");
        let long_id = FieldChange {
            key: FieldKey::new(format!("2020-21/{}", "x".repeat(247)), "title"),
            ..ok.clone()
        };
        assert!(check_changes(std::slice::from_ref(&long_id)).is_ok());
        let too_long = FieldChange {
            key: FieldKey::new(format!("2020-21/{}", "x".repeat(248)), "title"),
            ..ok
        };
        let err = check_changes(&[too_long]).unwrap_err().to_string();
        assert!(err.contains("longer than 255"), "{err}");
    }

    #[test]
    fn replay_takes_the_last_value_and_drops_absent() {
        let f = replay([
            ("a/x".into(), "title".into(), Some(json!("1"))),
            ("a/x".into(), "title".into(), Some(json!("2"))),
            ("a/x".into(), "department".into(), Some(json!("D"))),
            ("a/x".into(), "department".into(), None),
        ]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[&FieldKey::new("a/x", "title")], json!("2"));
    }
}
