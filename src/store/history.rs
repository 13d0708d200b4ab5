//! Current records at field level and their full history: loading, as-of replay and history queries (writes go through [`super::write`]).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::dialect::{sql, Row};
use super::write::Extras;
use super::{
    check_changes, check_provenance, json, json_opt, parse_timestamp, timestamp, Provenance,
    Source, SourceKind, Store,
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

/// How many record ids [`Store::load_fields_as_of`] asks for in one query.
const IDS_A_QUERY: usize = 500;

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

    /// [`Store::load`] of several years, in the queries of [`Store::load_fields_of`].
    pub async fn load_of(&self, years: &[FiscalYear]) -> Result<Vec<FiscalYearRecords>> {
        self.load_fields_of(years)
            .await?
            .iter()
            .map(|(fy, fields)| {
                fields::unflatten(fy, fields)
                    .with_context(|| format!("rebuilding {fy} from the store"))
            })
            .collect()
    }

    /// The fields of a fiscal year as they were at `at` (changes at exactly `at` included).
    ///
    /// The year's record ids first, then their history by id (the
    /// `history_record` index), a chunk of ids a query, the rows after `at`
    /// left out here: a query filtered on `at` lets MariaDB walk the whole
    /// history by `history_at` when the time is recent (170 ms at 1,000
    /// pages; `benches/serve.rs`). Times are stored in one fixed format, so
    /// comparing their text is comparing the times, as the database did. A
    /// record's history is in one chunk, so each field replays in order.
    pub async fn load_fields_as_of(&self, fy: &FiscalYear, at: DateTime<Utc>) -> Result<Fields> {
        let (fy, at) = (fy.to_string(), timestamp(&at));
        let q = sql(
            "year_records",
            "SELECT id FROM records WHERE fiscal_year = ?",
        );
        let ids = self
            .db
            .fetch_all(q.text(&fy))
            .await?
            .iter()
            .map(|row| row.text(0))
            .collect::<Result<Vec<String>>>()?;
        let mut rows = Vec::new();
        for chunk in ids.chunks(IDS_A_QUERY) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let text = format!(
                "SELECT record_id, field, new_value, at FROM history \
                 WHERE record_id IN ({marks}) ORDER BY seq"
            );
            let q = chunk
                .iter()
                .fold(sql("history_until", text), |q, id| q.text(id));
            for row in self.db.fetch_all(q).await? {
                if row.text(3)?.as_str() > at.as_str() {
                    continue;
                }
                let (record, field) = (row.text(0)?, row.text(1)?);
                let v = json_opt(row.opt_text(2)?, &record, &field)?;
                rows.push((record, field, v));
            }
        }
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
}
