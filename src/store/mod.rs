//! The canonical store: current records at field level, their full history, per-page sync state, and what `sync` and `watch` remember.
//!
//! One store on SQLite or MariaDB, chosen by the URL scheme in
//! [`Store::open`]. Every query is written once, over a small dialect
//! (`dialect.rs`) that holds what differs between the two databases, one
//! implementation each (`sqlite.rs`, `mysql.rs`). The queries live with
//! their concern: `write.rs` (the one write transaction every change goes
//! through), `history.rs` (fields and their history), `pages.rs` (page sync
//! state, push checks and intents),
//! `conflicts.rs`, `runs.rs` (the bot's edits and runs) and `requests.rs`
//! (on-wiki requests, watch state). What does not need the database
//! (checking changes, parsing stored text) is plain code here.
//!
//! Writes of records go through [`Store::apply`] (or [`Store::apply_page`]):
//! one transaction that checks each change's `old` value against the store
//! (compare-and-set, so an update computed from a stale view fails instead of
//! overwriting), writes the new values and appends a history row with the
//! change's provenance. The store never reads the clock: times come in with
//! the [`Provenance`].

/// A state kept as text in a column, as an enum: `as_str()` for writing,
/// `From<&str>` / `FromStr` for reading. A value this version does not know
/// (written by a newer goalsbot) is kept as it is in `Other`, never dropped.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $text:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)+
            /// A value this version of goalsbot does not know, as stored.
            Other(String),
        }

        impl $name {
            /// The text kept in the store.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$var => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => Self::$var,)+
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self::from(s.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

mod conflicts;
mod dialect;
mod history;
mod lease;
mod mysql;
mod pages;
pub mod replica_cnf;
mod requests;
mod runs;
mod sqlite;
mod web;
mod write;

pub use conflicts::{
    Decided, NewConflict, PageMerge, Resolution, Settlement, StoredConflict, Take,
};
pub use history::HistoryEntry;
pub use lease::{LeaseClaim, LeaseHolder};
pub use pages::PARSER;
pub use pages::{CheckOutcome, PageCheck, PageState};
pub use requests::{RequestEntry, RequestState, StoreMark, TrackerMoved};
pub use runs::{EditEntry, RunEntry, RunState};
pub use web::StoreHead;

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::core::fields::{self, FieldChange, FieldKey};
use crate::core::records::FiscalYear;
use dialect::Db;
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

/// The canonical store, on SQLite or MariaDB behind one interface (a clone shares the connections).
#[derive(Clone)]
pub struct Store {
    db: Db,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", self.db.name())
    }
}

/// Runs one query, naming it in the error so a failure says which query it was.
pub(crate) async fn named<T>(
    name: &'static str,
    query: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T> {
    query.await.with_context(|| format!("store query {name}"))
}

/// Whether `e` came from the store's database (connection lost or timed
/// out, a query failed) rather than from a page: a run cannot go on without
/// its store, so it stops at the first such error instead of failing every
/// page after it (mwbot's `Error::is_page_related()` is the model).
pub fn is_store_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<sqlx::Error>().is_some())
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

/// The file a `sqlite://PATH` (or `sqlite:PATH`) store URL names: `None`
/// for another database or an in-memory one.
pub fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    let memory = path.is_empty() || path.contains(":memory:") || url.contains("mode=memory");
    (!memory).then(|| std::path::Path::new(path))
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
        let db = match scheme {
            "sqlite" => Db::open_sqlite(url).await.with_context(opening)?,
            "mysql" | "mariadb" => Db::open_mysql(url).await.with_context(opening)?,
            replica_cnf::SCHEME => {
                // The resolved URL holds the password: it goes to the driver
                // and nowhere else; messages show the URL as written.
                let resolved = replica_cnf::resolve(url).with_context(opening)?;
                Db::open_mysql(&resolved).await.with_context(opening)?
            }
            _ => bail!(
                "opening the store {shown}: unknown URL scheme {scheme:?}; \
                 use sqlite://PATH, mysql://USER:PASS@HOST/DB or \
                 mysql+replicacnf://tools.db.svc.wikimedia.cloud/DB"
            ),
        };
        Ok(Store { db })
    }

    /// Opens the store at `url` read-only, for the web view: nothing is
    /// created or migrated (a missing SQLite file, or a schema that is not
    /// this build's, is an error that says what to do), and every
    /// connection refuses writes (SQLite `mode=ro`; a MariaDB session
    /// `READ ONLY`, so a user granted SELECT only is enough).
    pub async fn open_read_only(url: &str) -> Result<Store> {
        let shown = redact_url(url);
        let opening = || format!("opening the store {shown} read-only");
        let scheme = url.split(':').next().unwrap_or("");
        let db = match scheme {
            "sqlite" => {
                if sqlite_file(url).is_some_and(|f| !f.exists()) {
                    bail!(
                        "{}: the file does not exist; the web view reads the store the \
                         bot's commands write (run `goalsbot sync` first, or set \
                         [store] url)",
                        opening()
                    );
                }
                Db::open_sqlite_read_only(url).await.with_context(opening)?
            }
            "mysql" | "mariadb" => Db::open_mysql_read_only(url).await.with_context(opening)?,
            replica_cnf::SCHEME => {
                let resolved = replica_cnf::resolve(url).with_context(opening)?;
                Db::open_mysql_read_only(&resolved)
                    .await
                    .with_context(opening)?
            }
            _ => bail!("{}: unknown URL scheme {scheme:?}", opening()),
        };
        Ok(Store { db })
    }

    /// The schema version (newest migration applied).
    pub async fn schema_version(&self) -> Result<i64> {
        self.db.schema_version().await
    }

    /// Closes the connections, waiting for them to finish.
    pub async fn close(self) {
        self.db.close().await
    }
}

fn i64_of(n: u64, what: &str) -> Result<i64> {
    i64::try_from(n).with_context(|| format!("{what} {n} is too large"))
}

fn u64_of(n: i64, what: &str) -> Result<u64> {
    u64::try_from(n).with_context(|| format!("{what} {n} is negative"))
}

#[cfg(test)]
mod tests {
    use super::history::replay;
    use super::*;
    use crate::core::fields::tests::{records, retag};
    use crate::core::fields::Fields;
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
    fn a_sqlite_url_names_its_file_unless_in_memory() {
        let file = |u| sqlite_file(u).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(
            file("sqlite://goalsbot.sqlite").as_deref(),
            Some("goalsbot.sqlite")
        );
        assert_eq!(
            file("sqlite:/tmp/s.db?mode=ro").as_deref(),
            Some("/tmp/s.db")
        );
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://x.db?mode=memory"), None);
        assert_eq!(file("mysql://u:p@h/db"), None);
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
