//! Current records at field level and their full history: loading, as-of replay, and the write transaction every change goes through.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::conflicts::{write_conflicts, ConflictClose, ConflictFollow, ConflictWrite};
use super::dialect::{sql, Row, Tx};
use super::pages::{upsert_page, PageWrite};
use super::{
    check_changes, check_provenance, json, json_opt, parse_timestamp, record_fiscal_year,
    timestamp, Provenance, Source, SourceKind, Store, StoreError,
};
use crate::core::fields::{self, FieldChange, FieldKey, Fields, REMOVED};
use crate::core::records::{Export, FiscalYear, FiscalYearRecords};

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

/// Everything besides field changes one write transaction may carry.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) page: Option<PageWrite>,
    pub(crate) conflicts: Vec<ConflictWrite>,
    pub(crate) follow: Vec<ConflictFollow>,
    pub(crate) close: Vec<ConflictClose>,
}

/// A provenance as the columns of a history row.
struct ProvenanceColumns<'a> {
    run_id: &'a str,
    at: String,
    source: &'static str,
    page_title: Option<&'a str>,
    revision_id: Option<i64>,
    wiki_user: Option<&'a str>,
    revision_timestamp: Option<String>,
    operator: Option<&'a str>,
    command: Option<&'a str>,
}

impl<'a> ProvenanceColumns<'a> {
    fn new(p: &'a Provenance) -> Result<Self> {
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

/// A history row, its text checked and parsed.
fn history_entry(row: &Row) -> Result<HistoryEntry> {
    let record = row.text("record_id")?;
    let field = row.text("field")?;
    let source = match row.text("source")?.parse::<SourceKind>()? {
        SourceKind::Wiki => Source::Wiki {
            page: row.text("page_title")?,
            revid: u64::try_from(row.int("revision_id")?).context("history: revision_id")?,
            user: row.opt_text("wiki_user")?,
            timestamp: parse_timestamp(&row.text("revision_timestamp")?)?,
        },
        SourceKind::Tracker => Source::Tracker {
            operator: row.text("operator")?,
            command: row.text("command")?,
        },
    };
    Ok(HistoryEntry {
        seq: row.int("seq")?,
        old: json_opt(row.opt_text("old_value")?, &record, &field)?,
        new: json_opt(row.opt_text("new_value")?, &record, &field)?,
        key: FieldKey::new(record, field),
        provenance: Provenance {
            at: parse_timestamp(&row.text("at")?)?,
            run_id: row.text("run_id")?,
            source,
        },
    })
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

/// How many fiscal years [`Store::load_fields_of`] asks for in one query.
const YEARS_A_QUERY: usize = 100;

impl Store {
    /// The fiscal years the store has records for (including removed ones), in order.
    pub async fn fiscal_years(&self) -> Result<Vec<FiscalYear>> {
        let q = sql("fiscal_years", "SELECT DISTINCT fiscal_year FROM records");
        let mut out = Vec::new();
        for row in self.db.fetch_all(q).await? {
            let s = row.text(0)?;
            out.push(
                s.parse()
                    .with_context(|| format!("stored fiscal year {s:?}"))?,
            );
        }
        out.sort();
        Ok(out)
    }

    /// The current fields of a fiscal year, removed records included (marked [`fields::REMOVED`]).
    pub async fn load_fields(&self, fy: &FiscalYear) -> Result<Fields> {
        let fy = fy.to_string();
        let q = sql(
            "load_fields",
            "SELECT f.record_id, f.field, f.value FROM fields f \
             JOIN records r ON r.id = f.record_id WHERE r.fiscal_year = ?",
        );
        let rows = self.db.fetch_all(q.text(&fy)).await?;
        let q = sql(
            "load_removed",
            "SELECT id FROM records WHERE fiscal_year = ? AND removed = 1",
        );
        let removed = self.db.fetch_all(q.text(&fy)).await?;
        let mut out = Fields::new();
        for row in rows {
            let (record, field) = (row.text(0)?, row.text(1)?);
            let v = json(&row.text(2)?, &record, &field)?;
            out.insert(FieldKey::new(record, field), v);
        }
        for row in removed {
            out.insert(FieldKey::new(row.text(0)?, REMOVED), Value::Bool(true));
        }
        Ok(out)
    }

    /// [`Store::load_fields`] of several years: two queries for up to
    /// [`YEARS_A_QUERY`] years (`fiscal_year IN (…)`), not two a year.
    pub async fn load_fields_of(
        &self,
        years: &[FiscalYear],
    ) -> Result<BTreeMap<FiscalYear, Fields>> {
        let mut out: BTreeMap<FiscalYear, Fields> = BTreeMap::new();
        let names: Vec<String> = years.iter().map(ToString::to_string).collect();
        let wanted: BTreeMap<&str, &FiscalYear> =
            names.iter().map(String::as_str).zip(years).collect();
        for fy in years {
            out.insert(fy.clone(), Fields::new());
        }
        for chunk in names.chunks(YEARS_A_QUERY) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let text = format!(
                "SELECT r.fiscal_year, f.record_id, f.field, f.value FROM fields f \
                 JOIN records r ON r.id = f.record_id WHERE r.fiscal_year IN ({marks})"
            );
            let q = chunk
                .iter()
                .fold(sql("load_fields_of", text), |q, fy| q.text(fy));
            for row in self.db.fetch_all(q).await? {
                let year = row.text(0)?;
                let (record, field) = (row.text(1)?, row.text(2)?);
                let v = json(&row.text(3)?, &record, &field)?;
                if let Some(fields) = wanted.get(year.as_str()).and_then(|fy| out.get_mut(*fy)) {
                    fields.insert(FieldKey::new(record, field), v);
                }
            }
            let text = format!(
                "SELECT fiscal_year, id FROM records WHERE removed = 1 AND fiscal_year IN ({marks})"
            );
            let q = chunk
                .iter()
                .fold(sql("load_removed_of", text), |q, fy| q.text(fy));
            for row in self.db.fetch_all(q).await? {
                let year = row.text(0)?;
                if let Some(fields) = wanted.get(year.as_str()).and_then(|fy| out.get_mut(*fy)) {
                    fields.insert(FieldKey::new(row.text(1)?, REMOVED), Value::Bool(true));
                }
            }
        }
        Ok(out)
    }

    /// The current records of a fiscal year (removed ones left out).
    pub async fn load(&self, fy: &FiscalYear) -> Result<FiscalYearRecords> {
        let fields = self.load_fields(fy).await?;
        fields::unflatten(fy, &fields).with_context(|| format!("rebuilding {fy} from the store"))
    }

    /// The fields of a fiscal year as they were at `at` (changes at exactly `at` included).
    pub async fn load_fields_as_of(&self, fy: &FiscalYear, at: DateTime<Utc>) -> Result<Fields> {
        let (fy, at) = (fy.to_string(), timestamp(&at));
        let q = sql(
            "history_until",
            "SELECT h.record_id, h.field, h.new_value FROM history h \
             JOIN records r ON r.id = h.record_id \
             WHERE r.fiscal_year = ? AND h.at <= ? ORDER BY h.seq",
        );
        let rows = self.db.fetch_all(q.text(&fy).text(&at)).await?;
        let rows = rows
            .into_iter()
            .map(|row| {
                let (record, field) = (row.text(0)?, row.text(1)?);
                let v = json_opt(row.opt_text(2)?, &record, &field)?;
                Ok((record, field, v))
            })
            .collect::<Result<Vec<_>>>()?;
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
        self.write(provenance, changes, &Extras::default()).await
    }

    /// Every change to the records of a year after `at`, oldest first.
    pub async fn history_since(
        &self,
        fy: &FiscalYear,
        at: DateTime<Utc>,
    ) -> Result<Vec<HistoryEntry>> {
        let (fy, at) = (fy.to_string(), timestamp(&at));
        let q = sql(
            "history_since",
            "SELECT h.seq, h.run_id, h.at, h.record_id, h.field, h.old_value, h.new_value, \
             h.source, h.page_title, h.revision_id, h.wiki_user, h.revision_timestamp, \
             h.operator, h.command FROM history h JOIN records r ON r.id = h.record_id \
             WHERE r.fiscal_year = ? AND h.at > ? ORDER BY h.seq",
        )
        .text(&fy)
        .text(&at);
        self.db
            .fetch_all(q)
            .await?
            .iter()
            .map(history_entry)
            .collect()
    }

    /// The last change to a field at or before `at` (who made the value it
    /// held then), if any.
    pub async fn last_change(
        &self,
        key: &FieldKey,
        at: DateTime<Utc>,
    ) -> Result<Option<HistoryEntry>> {
        let at = timestamp(&at);
        let q = sql(
            "last_change",
            "SELECT seq, run_id, at, record_id, field, old_value, new_value, source, \
             page_title, revision_id, wiki_user, revision_timestamp, operator, command \
             FROM history WHERE record_id = ? AND field = ? AND at <= ? \
             ORDER BY seq DESC LIMIT 1",
        )
        .text(&key.record)
        .text(&key.field)
        .text(&at);
        self.db
            .fetch_optional(q)
            .await?
            .as_ref()
            .map(history_entry)
            .transpose()
    }

    /// Every change to a record, oldest first.
    pub async fn history(&self, record: &str) -> Result<Vec<HistoryEntry>> {
        let q = sql(
            "history",
            "SELECT seq, run_id, at, record_id, field, old_value, new_value, source, \
             page_title, revision_id, wiki_user, revision_timestamp, operator, command \
             FROM history WHERE record_id = ? ORDER BY seq",
        )
        .text(record);
        self.db
            .fetch_all(q)
            .await?
            .iter()
            .map(history_entry)
            .collect()
    }

    /// Applies checked changes, a page state and conflict rows in one write transaction.
    pub(super) async fn write(
        &self,
        provenance: &Provenance,
        changes: &[FieldChange],
        extras: &Extras,
    ) -> Result<usize> {
        let mut tx = self.db.begin_write().await?;
        let p = ProvenanceColumns::new(provenance)?;
        let changes: Vec<&FieldChange> = changes.iter().filter(|c| c.old != c.new).collect();
        // On any error below, `tx` is dropped unfinished and rolls back.
        check_current(&mut tx, &changes).await?;
        insert_records(&mut tx, &changes).await?;
        let mut applied = 0;
        // A few statements per hundred changes, not three per change: each
        // statement is a round trip to the database (for SQLite, to its thread).
        for chunk in changes.chunks(BATCH_ROWS) {
            write_values(&mut tx, chunk).await?;
            insert_history(&mut tx, &p, chunk).await?;
            for _ in chunk {
                applied += 1;
                crate::fault::point("store.apply", applied as u64);
            }
        }
        if let Some(page) = &extras.page {
            upsert_page(&mut tx, page).await?;
        }
        write_conflicts(&mut tx, extras).await?;
        tx.commit().await?;
        Ok(applied)
    }
}

/// Rows one multi-row statement reads or writes at most (13 arguments a
/// history row: well under SQLite's and MariaDB's limits).
const BATCH_ROWS: usize = 100;

/// `(?, ?, …), (?, ?, …)`: `rows` groups of `cols` placeholders.
fn placeholders(rows: usize, cols: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(", "));
    vec![one; rows].join(", ")
}

/// Compare-and-set: each change's `old` must be the stored value, or the
/// value an earlier change of the same write leaves ([`StoreError::Stale`]).
/// The stored values are read (and, on MariaDB, locked) a hundred records a query.
async fn check_current(tx: &mut Tx, changes: &[&FieldChange]) -> Result<()> {
    let mut records: Vec<&str> = changes.iter().map(|c| c.key.record.as_str()).collect();
    records.sort_unstable();
    records.dedup();
    let lock = tx.lock_rows();
    let mut current: BTreeMap<FieldKey, Option<Value>> = BTreeMap::new();
    let mut removed: BTreeMap<String, bool> = BTreeMap::new();
    for chunk in records.chunks(BATCH_ROWS) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let text = format!("SELECT id, removed FROM records WHERE id IN ({marks}){lock}");
        let q = chunk
            .iter()
            .fold(sql("records_removed", text), |q, r| q.text(r));
        for row in tx.fetch_all(q).await? {
            removed.insert(row.text(0)?, row.int(1)? == 1);
        }
        let text = format!(
            "SELECT record_id, field, value FROM fields WHERE record_id IN ({marks}){lock}"
        );
        let q = chunk
            .iter()
            .fold(sql("field_values", text), |q, r| q.text(r));
        for row in tx.fetch_all(q).await? {
            let (record, field) = (row.text(0)?, row.text(1)?);
            let value = json_opt(Some(row.text(2)?), &record, &field)?;
            current.insert(FieldKey::new(&record, &field), value);
        }
    }
    for c in changes {
        let (record, field) = (c.key.record.as_str(), c.key.field.as_str());
        let found = if field == REMOVED {
            let Some(flag) = removed.get(record) else {
                bail!("cannot mark {record} removed or restored: the store has no such record");
            };
            flag.then_some(Value::Bool(true))
        } else {
            current.get(&c.key).cloned().flatten()
        };
        if found != c.old {
            return Err(StoreError::Stale {
                key: c.key.clone(),
                expected: c.old.clone(),
                found,
            }
            .into());
        }
        if field == REMOVED {
            removed.insert(record.to_string(), c.new.is_some());
        } else {
            current.insert(c.key.clone(), c.new.clone());
            // A field's change creates its record ([`insert_records`]): a
            // later removal mark in the same write finds it.
            removed.entry(record.to_string()).or_insert(false);
        }
    }
    Ok(())
}

/// Creates the records the changes touch, where missing: one statement a
/// hundred records.
async fn insert_records(tx: &mut Tx, changes: &[&FieldChange]) -> Result<()> {
    let mut records: Vec<(&str, String)> = Vec::new();
    for c in changes {
        let record = c.key.record.as_str();
        if !records.iter().any(|(r, _)| *r == record) {
            records.push((record, record_fiscal_year(record)?.to_string()));
        }
    }
    for chunk in records.chunks(BATCH_ROWS) {
        let text = format!(
            "INSERT INTO records (id, fiscal_year) VALUES {} {}",
            placeholders(chunk.len(), 2),
            tx.upsert("id", &[])
        );
        let q = chunk
            .iter()
            .fold(sql("insert_records", text), |q, (r, fy)| q.text(r).text(fy));
        tx.execute(q).await?;
    }
    Ok(())
}

/// Writes the changes' new values: the new values of distinct fields in one
/// statement; a removal mark, a cleared field, or a field changed twice in
/// the chunk one by one, in order.
async fn write_values(tx: &mut Tx, chunk: &[&FieldChange]) -> Result<()> {
    let mut keys: Vec<&FieldKey> = chunk.iter().map(|c| &c.key).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() < chunk.len() {
        for c in chunk {
            write_change(tx, c).await?;
        }
        return Ok(());
    }
    let values: Vec<(&FieldChange, String)> = chunk
        .iter()
        .filter(|c| c.key.field != REMOVED)
        .filter_map(|c| Some((*c, c.new.as_ref()?.to_string())))
        .collect();
    if !values.is_empty() {
        let text = format!(
            "INSERT INTO fields (record_id, field, value) VALUES {} {}",
            placeholders(values.len(), 3),
            tx.upsert("record_id, field", &["value"])
        );
        let q = values.iter().fold(sql("upsert_fields", text), |q, (c, v)| {
            q.text(&c.key.record).text(&c.key.field).text(v)
        });
        tx.execute(q).await?;
    }
    for c in chunk
        .iter()
        .filter(|c| c.key.field == REMOVED || c.new.is_none())
    {
        write_change(tx, c).await?;
    }
    Ok(())
}

/// Writes one change's new value (its record exists: [`insert_records`]).
async fn write_change(tx: &mut Tx, c: &FieldChange) -> Result<()> {
    let (record, field) = (c.key.record.as_str(), c.key.field.as_str());
    let value = c.new.as_ref().map(Value::to_string);
    let q = match value.as_deref() {
        _ if field == REMOVED => sql("set_removed", "UPDATE records SET removed = ? WHERE id = ?")
            .int(i64::from(c.new.is_some()))
            .text(record),
        Some(value) => {
            let text = format!(
                "INSERT INTO fields (record_id, field, value) VALUES (?, ?, ?) {}",
                tx.upsert("record_id, field", &["value"])
            );
            sql("upsert_field", text)
                .text(record)
                .text(field)
                .text(value)
        }
        None => sql(
            "delete_field",
            "DELETE FROM fields WHERE record_id = ? AND field = ?",
        )
        .text(record)
        .text(field),
    };
    tx.execute(q).await?;
    Ok(())
}

/// Appends the changes' history rows, in order, in one statement.
async fn insert_history(
    tx: &mut Tx,
    p: &ProvenanceColumns<'_>,
    chunk: &[&FieldChange],
) -> Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    let values: Vec<(Option<String>, Option<String>)> = chunk
        .iter()
        .map(|c| {
            (
                c.old.as_ref().map(Value::to_string),
                c.new.as_ref().map(Value::to_string),
            )
        })
        .collect();
    let text = format!(
        "INSERT INTO history (run_id, at, record_id, field, old_value, new_value, \
         source, page_title, revision_id, wiki_user, revision_timestamp, operator, \
         command) VALUES {}",
        placeholders(chunk.len(), 13)
    );
    let q = chunk
        .iter()
        .zip(&values)
        .fold(sql("insert_history", text), |q, (c, (old, new))| {
            q.text(p.run_id)
                .text(&p.at)
                .text(&c.key.record)
                .text(&c.key.field)
                .opt_text(old.as_deref())
                .opt_text(new.as_deref())
                .text(p.source)
                .opt_text(p.page_title)
                .opt_int(p.revision_id)
                .opt_text(p.wiki_user)
                .opt_text(p.revision_timestamp.as_deref())
                .opt_text(p.operator)
                .opt_text(p.command)
        });
    tx.execute(q).await?;
    Ok(())
}
