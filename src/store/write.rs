//! The write transaction every change to the store goes through: field
//! values with their history rows, and in the same transaction a page's sync
//! state and conflict rows. The modules that build a write ([`super::history`],
//! [`super::pages`], [`super::conflicts`]) call into this one; it calls none of them.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::dialect::{sql, Tx};
use super::{json_opt, record_fiscal_year, timestamp, Provenance, Source, Store, StoreError};
use crate::core::fields::{FieldChange, FieldKey, REMOVED};

/// Everything besides field changes one write transaction may carry.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) page: Option<PageWrite>,
    pub(crate) conflicts: Vec<ConflictWrite>,
    pub(crate) follow: Vec<ConflictFollow>,
    pub(crate) close: Vec<ConflictClose>,
}

/// A page's sync state, ready to write.
pub(crate) struct PageWrite {
    pub(super) title: String,
    pub(super) revid: i64,
    pub(super) synced_at: String,
    pub(super) records: String,
    /// The page parser's version ([`super::PARSER`]) that read `records`.
    pub(super) parser: i64,
}

/// A new conflict row, checked and serialised.
pub(crate) struct ConflictWrite {
    pub(crate) fiscal_year: String,
    pub(crate) record: String,
    pub(crate) field: String,
    pub(crate) page_title: String,
    pub(crate) revid: i64,
    pub(crate) wiki_user: Option<String>,
    pub(crate) base: Option<String>,
    pub(crate) wiki: Option<String>,
    pub(crate) store: Option<String>,
    pub(crate) run_id: String,
    pub(crate) created_at: String,
}

/// Which pending conflicts to close, and how.
pub(crate) struct ConflictClose {
    /// By id (resolve: exactly one pending row must match) or by field (settled).
    pub(crate) target: CloseTarget,
    /// The settlement's column text.
    pub(crate) how: String,
    pub(crate) by: String,
    pub(crate) run_id: String,
    pub(crate) at: String,
}

pub(crate) enum CloseTarget {
    Id(i64),
    /// A page's pending conflict on a field.
    Key {
        record: String,
        field: String,
        page: String,
    },
}

/// A pending conflict that follows its page: the page's value changed again.
pub(crate) struct ConflictFollow {
    pub(crate) record: String,
    pub(crate) field: String,
    pub(crate) page_title: String,
    pub(crate) revid: i64,
    pub(crate) wiki_user: Option<String>,
    pub(crate) wiki: Option<String>,
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

impl Store {
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

/// Writes a page's sync state inside the caller's write transaction.
pub(super) async fn upsert_page(tx: &mut Tx, page: &PageWrite) -> Result<()> {
    let text = format!(
        "INSERT INTO pages (title, revision_id, synced_at, records, parser) VALUES (?, ?, ?, ?, ?) {}",
        tx.upsert("title", &["revision_id", "synced_at", "records", "parser"])
    );
    let q = sql("upsert_page", text)
        .text(&page.title)
        .int(page.revid)
        .text(&page.synced_at)
        .text(&page.records)
        .int(page.parser);
    tx.execute(q).await?;
    Ok(())
}

/// Inserts the new conflicts, follows and closes the pending ones, inside the caller's transaction.
pub(super) async fn write_conflicts(tx: &mut Tx, extras: &Extras) -> Result<()> {
    for c in &extras.conflicts {
        let q = sql(
            "insert_conflict",
            "INSERT INTO conflicts (fiscal_year, record_id, field, page_title, revision_id, \
             wiki_user, base_value, wiki_value, store_value, run_id, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .text(&c.fiscal_year)
        .text(&c.record)
        .text(&c.field)
        .text(&c.page_title)
        .int(c.revid)
        .opt_text(c.wiki_user.as_deref())
        .opt_text(c.base.as_deref())
        .opt_text(c.wiki.as_deref())
        .opt_text(c.store.as_deref())
        .text(&c.run_id)
        .text(&c.created_at);
        tx.execute(q).await?;
    }
    for f in &extras.follow {
        let q = sql(
            "follow_conflict",
            "UPDATE conflicts SET wiki_value = ?, revision_id = ?, wiki_user = ? \
             WHERE resolved_at IS NULL AND record_id = ? AND field = ? AND page_title = ?",
        )
        .opt_text(f.wiki.as_deref())
        .int(f.revid)
        .opt_text(f.wiki_user.as_deref())
        .text(&f.record)
        .text(&f.field)
        .text(&f.page_title);
        tx.execute(q).await?;
    }
    for c in &extras.close {
        close_conflict(tx, c).await?;
    }
    Ok(())
}

/// Closes pending conflicts; by id, exactly one must be pending.
async fn close_conflict(tx: &mut Tx, c: &ConflictClose) -> Result<()> {
    let set = "UPDATE conflicts SET resolved_at = ?, resolution = ?, resolved_by = ?, \
               resolved_run_id = ? WHERE resolved_at IS NULL AND ";
    let q = |which: &str| {
        sql("close_conflict", format!("{set}{which}"))
            .text(&c.at)
            .text(&c.how)
            .text(&c.by)
            .text(&c.run_id)
    };
    let q = match &c.target {
        CloseTarget::Id(id) => q("id = ?").int(*id),
        CloseTarget::Key {
            record,
            field,
            page,
        } => q("record_id = ? AND field = ? AND page_title = ?")
            .text(record)
            .text(field)
            .text(page),
    };
    let done = tx.execute(q).await?;
    if let CloseTarget::Id(id) = c.target {
        if done != 1 {
            bail!("conflict {id} is not pending (already resolved, or no such conflict)");
        }
    }
    Ok(())
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
