//! Conflicts held for a person: found by a page's merge, following that page's value, closed as settled or by `resolve`.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::dialect::{sql, Row};
use super::write::{CloseTarget, ConflictClose, ConflictFollow, ConflictWrite, Extras, PageWrite};
use super::{
    check_changes, check_provenance, i64_of, json_opt, parse_timestamp, record_fiscal_year,
    timestamp, Provenance, Source, Store,
};
use crate::core::fields::{FieldChange, FieldKey};
use crate::core::records::FiscalYearRecords;

/// Which side a person took when resolving a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Take {
    /// The value on the wiki page replaces the store's.
    Wiki,
    /// The store keeps its value; the next push writes it to the page.
    Store,
}

impl Take {
    /// `wiki` or `store`.
    pub fn as_str(self) -> &'static str {
        match self {
            Take::Wiki => "wiki",
            Take::Store => "store",
        }
    }
}

impl From<crate::core::requests::Side> for Take {
    fn from(side: crate::core::requests::Side) -> Take {
        match side {
            crate::core::requests::Side::Wiki => Take::Wiki,
            crate::core::requests::Side::Store => Take::Store,
        }
    }
}

/// A conflict as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredConflict {
    /// The id `goalsbot resolve` takes.
    pub id: i64,
    /// The field in conflict.
    pub key: FieldKey,
    /// The page whose revision brought the wiki value.
    pub page: String,
    /// That revision.
    pub revid: u64,
    /// Who saved it.
    pub wiki_user: Option<String>,
    /// The value both sides started from (`None`: not stated, or first sync).
    pub base: Option<Value>,
    /// The value on the wiki.
    pub wiki: Option<Value>,
    /// The value the store held when the conflict was found.
    pub store: Option<Value>,
    /// The run that found it.
    pub run_id: String,
    /// When it was found.
    pub created_at: DateTime<Utc>,
    /// When and how it was closed; `None` while pending.
    pub resolution: Option<Resolution>,
}

text_enum! {
    /// How a conflict was closed.
    Settlement {
        /// A person took the wiki's value.
        Wiki = "wiki",
        /// A person kept the store's value.
        Store = "store",
        /// Wiki and store came to agree.
        Settled = "settled",
    }
}

impl From<Take> for Settlement {
    fn from(take: Take) -> Settlement {
        match take {
            Take::Wiki => Settlement::Wiki,
            Take::Store => Settlement::Store,
        }
    }
}

/// How a conflict was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// A person's decision, or settled.
    pub how: Settlement,
    /// Who closed it (operator, or `goalsbot` for settled).
    pub by: String,
    /// The run that closed it.
    pub run_id: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A new conflict to record, from a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConflict {
    /// The field.
    pub key: FieldKey,
    /// The base value.
    pub base: Option<Value>,
    /// The wiki value.
    pub wiki: Option<Value>,
    /// The store value.
    pub store: Option<Value>,
}

/// A page's merge, applied in one transaction: the store changes, the page's
/// new sync state, new conflicts and conflicts that settled.
#[derive(Debug, Clone, Copy)]
pub struct PageMerge<'a> {
    /// The page.
    pub title: &'a str,
    /// The revision merged.
    pub revid: u64,
    /// Its records (the next merge's base).
    pub records: &'a FiscalYearRecords,
    /// Conflicts to hold for a person.
    pub conflicts: &'a [NewConflict],
    /// This page's pending conflicts that it settled (it shows the store's value now).
    pub settled: &'a [FieldKey],
    /// This page's pending conflicts whose value on the page changed again, with the new value.
    pub followed: &'a [(FieldKey, Option<Value>)],
    /// What the page's tables said (`None`: not known).
    pub reading: Option<crate::core::parse::PageReading<'a>>,
}

/// What else a person's decision on a conflict settles, in its transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decided<'a> {
    /// Other pages' pending conflicts on the field whose value the store now
    /// holds (their pages show it already): closed as `settled`.
    pub settled: &'a [i64],
}

/// The columns of a conflict row, as [`stored_conflict`] reads them.
const CONFLICT_COLUMNS: &str = "id, record_id, field, page_title, revision_id, wiki_user, \
     base_value, wiki_value, store_value, run_id, created_at, resolved_at, resolution, \
     resolved_by, resolved_run_id";

/// A conflict row, its text parsed.
fn stored_conflict(row: &Row) -> Result<StoredConflict> {
    let (record, field) = (row.text("record_id")?, row.text("field")?);
    let (r, f) = (record.as_str(), field.as_str());
    let resolution = match (row.opt_text("resolved_at")?, row.opt_text("resolution")?) {
        (Some(at), Some(how)) => Some(Resolution {
            how: Settlement::from(how),
            by: row.opt_text("resolved_by")?.unwrap_or_default(),
            run_id: row.opt_text("resolved_run_id")?.unwrap_or_default(),
            at: parse_timestamp(&at)?,
        }),
        _ => None,
    };
    Ok(StoredConflict {
        id: row.int("id")?,
        base: json_opt(row.opt_text("base_value")?, r, f)?,
        wiki: json_opt(row.opt_text("wiki_value")?, r, f)?,
        store: json_opt(row.opt_text("store_value")?, r, f)?,
        page: row.text("page_title")?,
        revid: u64::try_from(row.int("revision_id")?).context("conflict: revision id")?,
        wiki_user: row.opt_text("wiki_user")?,
        run_id: row.text("run_id")?,
        created_at: parse_timestamp(&row.text("created_at")?)?,
        key: FieldKey::new(record, field),
        resolution,
    })
}

impl Store {
    /// Applies a page's merge in one transaction: its changes (compare-and-set,
    /// with history), its new sync state, its new conflicts, and closes the
    /// conflicts that settled. Returns how many fields changed.
    pub async fn apply_merge(
        &self,
        provenance: &Provenance,
        changes: &[FieldChange],
        merge: &PageMerge<'_>,
    ) -> Result<usize> {
        check_provenance(provenance)?;
        check_changes(changes)?;
        let (revid, user) = match &provenance.source {
            Source::Wiki { revid, user, .. } => (*revid, user.clone()),
            Source::Tracker { .. } => bail!("a page merge needs a wiki provenance"),
        };
        let at = timestamp(&provenance.at);
        let mut extras = Extras {
            page: Some(PageWrite::new(
                merge.title,
                merge.revid,
                &provenance.at,
                merge.records,
                merge.reading,
            )?),
            ..Extras::default()
        };
        for c in merge.conflicts {
            let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
            extras.conflicts.push(ConflictWrite {
                fiscal_year: record_fiscal_year(&c.key.record)?.to_string(),
                record: c.key.record.clone(),
                field: c.key.field.clone(),
                page_title: merge.title.to_string(),
                revid: i64_of(revid, "revision id")?,
                wiki_user: user.clone(),
                base: text(&c.base),
                wiki: text(&c.wiki),
                store: text(&c.store),
                run_id: provenance.run_id.clone(),
                created_at: at.clone(),
            });
        }
        for (key, wiki) in merge.followed {
            extras.follow.push(ConflictFollow {
                record: key.record.clone(),
                field: key.field.clone(),
                page_title: merge.title.to_string(),
                revid: i64_of(revid, "revision id")?,
                wiki_user: user.clone(),
                wiki: wiki.as_ref().map(Value::to_string),
            });
        }
        for key in merge.settled {
            extras.close.push(ConflictClose {
                target: CloseTarget::Key {
                    record: key.record.clone(),
                    field: key.field.clone(),
                    page: merge.title.to_string(),
                },
                how: Settlement::Settled.as_str().to_string(),
                by: "goalsbot".into(),
                run_id: provenance.run_id.clone(),
                at: at.clone(),
            });
        }
        self.write(provenance, changes, &extras).await
    }

    /// Holds the fields a push could not write into page `title` (revision
    /// `revid`, saved by `user`) as conflicts, each with the page's value
    /// (also its base: the page did not change) and the store's. A field
    /// already pending for that page is not held twice.
    pub async fn hold_unwritten(
        &self,
        provenance: &Provenance,
        title: &str,
        revid: u64,
        user: Option<String>,
        held: &[(FieldKey, Option<Value>, Option<Value>)],
    ) -> Result<usize> {
        check_provenance(provenance)?;
        let pending = self.conflicts(false).await?;
        let at = timestamp(&provenance.at);
        let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        let mut extras = Extras::default();
        for (key, page, store) in held {
            if pending.iter().any(|c| c.key == *key && c.page == title) {
                continue;
            }
            extras.conflicts.push(ConflictWrite {
                fiscal_year: record_fiscal_year(&key.record)?.to_string(),
                record: key.record.clone(),
                field: key.field.clone(),
                page_title: title.to_string(),
                revid: i64_of(revid, "revision id")?,
                wiki_user: user.clone(),
                base: text(page),
                wiki: text(page),
                store: text(store),
                run_id: provenance.run_id.clone(),
                created_at: at.clone(),
            });
        }
        let n = extras.conflicts.len();
        if n > 0 {
            self.write(provenance, &[], &extras).await?;
        }
        Ok(n)
    }

    /// Conflicts, oldest first: only the pending ones unless `all`.
    pub async fn conflicts(&self, all: bool) -> Result<Vec<StoredConflict>> {
        let pending = if all {
            ""
        } else {
            "WHERE resolved_at IS NULL "
        };
        let text = format!("SELECT {CONFLICT_COLUMNS} FROM conflicts {pending}ORDER BY id");
        let rows = self.db.fetch_all(sql("conflicts", text)).await?;
        rows.iter().map(stored_conflict).collect()
    }

    /// The pending conflicts no notice has told anyone about yet, oldest first.
    pub async fn unnoticed_conflicts(&self) -> Result<Vec<StoredConflict>> {
        let text = format!(
            "SELECT {CONFLICT_COLUMNS} FROM conflicts \
             WHERE resolved_at IS NULL AND notice_revid IS NULL ORDER BY id"
        );
        let rows = self.db.fetch_all(sql("unnoticed_conflicts", text)).await?;
        rows.iter().map(stored_conflict).collect()
    }

    /// Records that the command page's revision `revid` posted the notice
    /// of conflicts `ids` (one transaction; a conflict noticed before keeps
    /// its first notice).
    pub async fn mark_noticed(&self, ids: &[i64], revid: u64) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for id in ids {
            let q = sql(
                "mark_noticed",
                "UPDATE conflicts SET notice_revid = ? WHERE id = ? AND notice_revid IS NULL",
            )
            .int(i64::try_from(revid).context("notice revision id")?)
            .int(*id);
            tx.execute(q).await?;
        }
        tx.commit().await
    }

    /// One conflict by id.
    pub async fn conflict(&self, id: i64) -> Result<Option<StoredConflict>> {
        let text = format!("SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?");
        let row = self
            .db
            .fetch_optional(sql("conflict", text).int(id))
            .await?;
        row.as_ref().map(stored_conflict).transpose()
    }

    /// Closes pending conflict `id` as a person decided, in one transaction
    /// with the store change taking the wiki's value needs (`change`, if any,
    /// compare-and-set against the current store value).
    pub async fn resolve_conflict(
        &self,
        id: i64,
        take: Take,
        change: Option<&FieldChange>,
        provenance: &Provenance,
        also: &Decided<'_>,
    ) -> Result<usize> {
        check_provenance(provenance)?;
        let changes: Vec<FieldChange> = change.into_iter().cloned().collect();
        check_changes(&changes)?;
        let by = match &provenance.source {
            Source::Tracker { operator, .. } => operator.clone(),
            Source::Wiki { user, .. } => user.clone().unwrap_or_default(),
        };
        let at = timestamp(&provenance.at);
        let close = |target, how: Settlement, by: String| ConflictClose {
            target,
            how: how.as_str().to_string(),
            by,
            run_id: provenance.run_id.clone(),
            at: at.clone(),
        };
        let mut closes = vec![close(CloseTarget::Id(id), Settlement::from(take), by)];
        for other in also.settled {
            closes.push(close(
                CloseTarget::Id(*other),
                Settlement::Settled,
                "goalsbot".into(),
            ));
        }
        let extras = Extras {
            close: closes,
            ..Extras::default()
        };
        self.write(provenance, &changes, &extras).await
    }
}
