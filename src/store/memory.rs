//! What `sync` and `watch` remember besides the records: conflicts held for a
//! person, the push checks that let a no-op sync skip fetching wikitext, the
//! bot's own edits, finished runs, and on-wiki requests.
//!
//! The SQL is in the backends (`sqlite.rs`, `mysql.rs`); the types, checks
//! and conversions are here, shared.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{
    parse_timestamp, record_fiscal_year, timestamp, Backend, PageWrite, Provenance, Store,
};
use crate::core::fields::{FieldChange, FieldKey};
use crate::core::records::FiscalYearRecords;

/// Which side a person took when resolving a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
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

/// How a conflict was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// `wiki`, `store` or `settled` (wiki and store came to agree).
    pub how: String,
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
    /// The key results with a row in one of the bot's status tables on the page.
    pub table_rows: Option<&'a std::collections::BTreeSet<String>>,
}

/// What else a person's decision on a conflict settles, in its transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decided<'a> {
    /// Other pages' pending conflicts on the field whose value the store now
    /// holds (their pages show it already): closed as `settled`.
    pub settled: &'a [i64],
    /// The conflict's page and its state, when the store took that page's
    /// value: its base agrees with the store from the decision on.
    pub rebase: Option<(&'a str, &'a super::PageState)>,
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
    pub(crate) how: &'static str,
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

/// Everything besides field changes one write transaction may carry.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) page: Option<PageWrite>,
    pub(crate) conflicts: Vec<ConflictWrite>,
    pub(crate) follow: Vec<ConflictFollow>,
    pub(crate) close: Vec<ConflictClose>,
}

/// A conflict row as read back, before its text is parsed.
pub(crate) struct ConflictRow {
    pub(crate) id: i64,
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
    pub(crate) resolved_at: Option<String>,
    pub(crate) resolution: Option<String>,
    pub(crate) resolved_by: Option<String>,
    pub(crate) resolved_run_id: Option<String>,
}

/// The columns of a conflict row, in [`ConflictRow`] order.
pub(crate) const CONFLICT_COLUMNS: &str =
    "id, record_id, field, page_title, revision_id, wiki_user, \
     base_value, wiki_value, store_value, run_id, created_at, resolved_at, resolution, \
     resolved_by, resolved_run_id";

impl ConflictRow {
    fn into_conflict(self) -> Result<StoredConflict> {
        let (r, f) = (self.record.as_str(), self.field.as_str());
        let resolution = match (self.resolved_at, self.resolution) {
            (Some(at), Some(how)) => Some(Resolution {
                how,
                by: self.resolved_by.unwrap_or_default(),
                run_id: self.resolved_run_id.unwrap_or_default(),
                at: parse_timestamp(&at)?,
            }),
            _ => None,
        };
        Ok(StoredConflict {
            id: self.id,
            base: super::json_opt(self.base, r, f)?,
            wiki: super::json_opt(self.wiki, r, f)?,
            store: super::json_opt(self.store, r, f)?,
            key: FieldKey::new(self.record, self.field),
            page: self.page_title,
            revid: u64::try_from(self.revid).context("conflict: revision id")?,
            wiki_user: self.wiki_user,
            run_id: self.run_id,
            created_at: parse_timestamp(&self.created_at)?,
            resolution,
        })
    }
}

/// What the bot remembers of a page it planned a push for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCheck {
    /// The revision the plan was made against.
    pub revid: u64,
    /// The fingerprint of the plan's other inputs.
    pub fingerprint: String,
    /// `unchanged` (nothing to write) or `nobots` (the page refuses bots).
    pub outcome: String,
}

/// One edit the bot saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EditEntry {
    /// The run that saved it.
    pub run_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The page.
    pub title: String,
    /// The revision it replaced (`None`: created the page).
    pub old_revid: Option<u64>,
    /// The revision it made.
    pub new_revid: u64,
    /// Its edit summary.
    pub summary: String,
}

/// A finished run as remembered for the status page.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    /// The run id.
    pub run_id: String,
    /// What ran.
    pub command: String,
    /// `nothing-to-do`, `changed`, `needs-person` or `failed`.
    pub outcome: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it finished.
    pub finished: DateTime<Utc>,
    /// The run's summary as JSON.
    pub summary: Value,
}

/// An on-wiki request as remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEntry {
    /// The request id (revision and position).
    pub id: String,
    /// The command page.
    pub page: String,
    /// The revision that added it.
    pub revid: u64,
    /// Who added it (from that revision).
    pub requester: String,
    /// The request as written.
    pub template: String,
    /// `claimed` (being worked on) or `answered`.
    pub state: String,
    /// The run that serves it.
    pub run_id: Option<String>,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
}

fn i64_of(n: u64, what: &str) -> Result<i64> {
    i64::try_from(n).with_context(|| format!("{what} {n} is too large"))
}

fn u64_of(n: i64, what: &str) -> Result<u64> {
    u64::try_from(n).with_context(|| format!("{what} {n} is negative"))
}

macro_rules! dispatch {
    ($self:ident, $db:ident => $e:expr) => {
        match &$self.backend {
            Backend::Sqlite($db) => $e,
            Backend::Mysql($db) => $e,
        }
    };
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
        super::check_provenance(provenance)?;
        super::check_changes(changes)?;
        let (revid, user) = match &provenance.source {
            super::Source::Wiki { revid, user, .. } => (*revid, user.clone()),
            super::Source::Tracker { .. } => bail!("a page merge needs a wiki provenance"),
        };
        let at = timestamp(&provenance.at);
        let mut extras = Extras {
            page: Some(PageWrite::new(
                merge.title,
                merge.revid,
                &provenance.at,
                merge.records,
                merge.table_rows,
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
                how: "settled",
                by: "goalsbot".into(),
                run_id: provenance.run_id.clone(),
                at: at.clone(),
            });
        }
        dispatch!(self, db => db.apply(provenance, changes, &extras).await)
    }

    /// Conflicts, oldest first: only the pending ones unless `all`.
    pub async fn conflicts(&self, all: bool) -> Result<Vec<StoredConflict>> {
        let rows = dispatch!(self, db => db.conflicts(all).await)?;
        rows.into_iter().map(ConflictRow::into_conflict).collect()
    }

    /// One conflict by id.
    pub async fn conflict(&self, id: i64) -> Result<Option<StoredConflict>> {
        let rows = dispatch!(self, db => db.conflict(id).await)?;
        rows.map(ConflictRow::into_conflict).transpose()
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
        super::check_provenance(provenance)?;
        let changes: Vec<FieldChange> = change.into_iter().cloned().collect();
        super::check_changes(&changes)?;
        let by = match &provenance.source {
            super::Source::Tracker { operator, .. } => operator.clone(),
            super::Source::Wiki { user, .. } => user.clone().unwrap_or_default(),
        };
        let at = timestamp(&provenance.at);
        let close = |target, how: &'static str, by: String| ConflictClose {
            target,
            how,
            by,
            run_id: provenance.run_id.clone(),
            at: at.clone(),
        };
        let mut closes = vec![close(CloseTarget::Id(id), take.as_str(), by)];
        for other in also.settled {
            closes.push(close(CloseTarget::Id(*other), "settled", "goalsbot".into()));
        }
        // Dated just after the decision, so that the decision's own history
        // entry is not a change this page's base missed.
        let page = also
            .rebase
            .map(|(title, st)| {
                let after = provenance.at + chrono::Duration::microseconds(1);
                PageWrite::new(title, st.revid, &after, &st.records, st.table_rows.as_ref())
            })
            .transpose()?;
        let extras = Extras {
            page,
            close: closes,
            ..Extras::default()
        };
        dispatch!(self, db => db.apply(provenance, &changes, &extras).await)
    }

    /// The push check of a page, if any.
    pub async fn page_check(&self, title: &str) -> Result<Option<PageCheck>> {
        let row = dispatch!(self, db => db.page_check(title).await)?;
        row.map(|(revid, fingerprint, outcome)| {
            Ok(PageCheck {
                revid: u64_of(revid, "revision id")?,
                fingerprint,
                outcome,
            })
        })
        .transpose()
    }

    /// Remembers that `title` at `check.revid` needs no edit for `check.fingerprint`.
    pub async fn set_page_check(
        &self,
        title: &str,
        check: &PageCheck,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let revid = i64_of(check.revid, "revision id")?;
        dispatch!(self, db => db.set_page_check(title, revid, &check.fingerprint, &check.outcome, &timestamp(&at)).await)
    }

    /// Notes that the bot is about to save `title` against revision `base` in run `run_id`.
    pub async fn set_push_intent(
        &self,
        title: &str,
        base: u64,
        run_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let base = i64_of(base, "revision id")?;
        dispatch!(self, db => db.set_push_intent(title, base, run_id, &timestamp(&at)).await)
    }

    /// The save the bot was about to make of `title` and did not record as
    /// done: `(base revision, run id, when)`.
    pub async fn push_intent(&self, title: &str) -> Result<Option<(u64, String, DateTime<Utc>)>> {
        let row = dispatch!(self, db => db.push_intent(title).await)?;
        row.map(|(base, run, at)| Ok((u64_of(base, "revision id")?, run, parse_timestamp(&at)?)))
            .transpose()
    }

    /// The save of `title` is recorded (or did not happen).
    pub async fn clear_push_intent(&self, title: &str) -> Result<()> {
        dispatch!(self, db => db.clear_push_intent(title).await)
    }

    /// Records an edit the bot saved.
    pub async fn record_edit(&self, edit: &EditEntry) -> Result<()> {
        let old = edit
            .old_revid
            .map(|r| i64_of(r, "revision id"))
            .transpose()?;
        let new = i64_of(edit.new_revid, "revision id")?;
        dispatch!(self, db => db.record_edit(&edit.run_id, &timestamp(&edit.at), &edit.title, old, new, &edit.summary).await)
    }

    /// The edits of a run, in order.
    pub async fn edits_of_run(&self, run_id: &str) -> Result<Vec<EditEntry>> {
        let rows = dispatch!(self, db => db.edits_of_run(run_id).await)?;
        rows.into_iter()
            .map(|(at, title, old, new, summary)| {
                Ok(EditEntry {
                    run_id: run_id.to_string(),
                    at: parse_timestamp(&at)?,
                    title,
                    old_revid: old.map(|r| u64_of(r, "revision id")).transpose()?,
                    new_revid: u64_of(new, "revision id")?,
                    summary,
                })
            })
            .collect()
    }

    /// Records a finished run (replacing an entry with the same id).
    pub async fn record_run(&self, run: &RunEntry) -> Result<()> {
        let summary = serde_json::to_string(&run.summary).context("serialising the run summary")?;
        dispatch!(self, db => db.record_run(&run.run_id, &timestamp(&run.started), &timestamp(&run.finished), &run.command, &run.outcome, &summary).await)
    }

    /// The latest `n` finished runs, newest first.
    pub async fn recent_runs(&self, n: u32) -> Result<Vec<RunEntry>> {
        let rows = dispatch!(self, db => db.recent_runs(n).await)?;
        rows.into_iter()
            .map(|(run_id, started, finished, command, outcome, summary)| {
                Ok(RunEntry {
                    summary: serde_json::from_str(&summary)
                        .with_context(|| format!("run {run_id}: stored summary"))?,
                    run_id,
                    command,
                    outcome,
                    started: parse_timestamp(&started)?,
                    finished: parse_timestamp(&finished)?,
                })
            })
            .collect()
    }

    /// Claims a request before its action runs; false when it was already
    /// claimed (by this or an earlier watcher).
    pub async fn claim_request(&self, req: &RequestEntry) -> Result<bool> {
        let revid = i64_of(req.revid, "revision id")?;
        dispatch!(self, db => db.claim_request(&req.id, &req.page, revid, &req.requester, &req.template, req.run_id.as_deref(), &timestamp(&req.claimed_at)).await)
    }

    /// Marks a claimed request answered by the reply saved as `reply_revid`.
    pub async fn answer_request(
        &self,
        id: &str,
        reply_revid: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let rev = reply_revid.map(|r| i64_of(r, "revision id")).transpose()?;
        dispatch!(self, db => db.answer_request(id, rev, &timestamp(&at)).await)
    }

    /// Records the run that serves a request (it counts towards the rate limit from then on).
    pub async fn set_request_run(&self, id: &str, run_id: &str) -> Result<()> {
        dispatch!(self, db => db.set_request_run(id, run_id).await)
    }

    /// Replaces what is stored about a request besides its columns (the
    /// watcher's JSON: where it was written, its reply while unsaved).
    pub async fn set_request_template(&self, id: &str, template: &str) -> Result<()> {
        dispatch!(self, db => db.set_request_template(id, template).await)
    }

    /// A request by id.
    pub async fn request(&self, id: &str) -> Result<Option<RequestEntry>> {
        let row = dispatch!(self, db => db.request(id).await)?;
        row.map(request_entry).transpose()
    }

    /// Requests claimed but not answered (a watcher stopped in the middle).
    pub async fn unanswered_requests(&self) -> Result<Vec<RequestEntry>> {
        let rows = dispatch!(self, db => db.unanswered_requests().await)?;
        rows.into_iter().map(request_entry).collect()
    }

    /// The requests claimed since `since` (by `requester`, or by anyone)
    /// that ran an action (they have a run): `(id, requester, claimed at)`, oldest first.
    pub async fn requests_since(
        &self,
        requester: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String, DateTime<Utc>)>> {
        let rows = dispatch!(self, db => db.requests_since(&timestamp(&since)).await)?;
        rows.into_iter()
            .filter(|(_, user, _)| requester.is_none_or(|r| r == user))
            .map(|(id, user, t)| Ok((id, user, parse_timestamp(&t)?)))
            .collect()
    }

    /// The last revision of a watched page whose requests were taken in, with its text.
    pub async fn watch_state(&self, page: &str) -> Result<Option<(u64, String)>> {
        let row = dispatch!(self, db => db.watch_state(page).await)?;
        row.map(|(r, text)| Ok((u64_of(r, "revision id")?, text)))
            .transpose()
    }

    /// The memory of every request line a watched page ever held (JSON of
    /// `command::Seen`); `None` before the first is kept. Kept in the
    /// watch-state table under `PAGE#seen` (no page title holds `#`).
    pub async fn watch_seen(&self, page: &str) -> Result<Option<String>> {
        let key = format!("{page}#seen");
        let row = dispatch!(self, db => db.watch_state(&key).await)?;
        Ok(row.map(|(_, text)| text))
    }

    /// Keeps the memory of a watched page's request lines (see [`Store::watch_seen`]).
    pub async fn set_watch_seen(&self, page: &str, seen: &str) -> Result<()> {
        let key = format!("{page}#seen");
        dispatch!(self, db => db.set_watch_state(&key, 0, seen).await)
    }

    /// Remembers the last revision of a watched page whose requests were taken in.
    pub async fn set_watch_state(&self, page: &str, revid: u64, text: &str) -> Result<()> {
        let revid = i64_of(revid, "revision id")?;
        dispatch!(self, db => db.set_watch_state(page, revid, text).await)
    }
}

/// A request row: id, page, revision, requester, template, state, run id, claimed at.
pub(crate) type RequestRow = (
    String,
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
);

fn request_entry(row: RequestRow) -> Result<RequestEntry> {
    let (id, page, revid, requester, template, state, run_id, claimed_at) = row;
    Ok(RequestEntry {
        id,
        page,
        revid: u64_of(revid, "revision id")?,
        requester,
        template,
        state,
        run_id,
        claimed_at: parse_timestamp(&claimed_at)?,
    })
}
