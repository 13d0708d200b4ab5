//! Per-page sync state: the revision last synced with its records (the next merge's base), push checks and push intents.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::dialect::{sql, Row};
use super::write::{upsert_page, Extras, PageWrite};
use super::{
    check_changes, check_provenance, i64_of, parse_timestamp, timestamp, u64_of, Provenance, Store,
    MAX_PAGE_TITLE_CHARS,
};
use crate::core::fields::FieldChange;
use crate::core::parse::PageReading;
use crate::core::records::FiscalYearRecords;

/// What the store remembers about a tracked page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageState {
    /// The revision last synced.
    pub revid: u64,
    /// Whether [`PARSER`] read it (else the page is read again).
    pub current_parser: bool,
    /// When it was synced.
    pub synced_at: DateTime<Utc>,
    /// The records parsed from that revision: the base of the next merge.
    pub records: FiscalYearRecords,
    /// The key results that had a row in one of the bot's status tables in
    /// that revision (`None`: not recorded, by a goalsbot before schema 4).
    pub table_rows: Option<BTreeSet<String>>,
    /// The key results whose words that revision gave only in a table's
    /// label cell (`None`: not recorded, by a goalsbot before 2026-12).
    pub label_words: Option<BTreeSet<String>>,
}

/// How a page state's records are kept since schema 4: with the table rows
/// (and, since 2026-12, the KRs whose words stood only in a label).
#[derive(serde::Deserialize)]
struct StoredPageRecords {
    records: FiscalYearRecords,
    table_rows: BTreeSet<String>,
    #[serde(default)]
    label_words: Option<BTreeSet<String>>,
}

/// [`StoredPageRecords`] as written.
#[derive(Serialize)]
struct StoringPageRecords<'a> {
    records: &'a FiscalYearRecords,
    table_rows: &'a BTreeSet<String>,
    label_words: &'a BTreeSet<String>,
}

text_enum! {
    /// How a planned page ended, for the next plan with the same inputs.
    CheckOutcome {
        /// Nothing to write.
        Unchanged = "unchanged",
        /// The page refuses bots (`{{nobots}}` / `{{bots}}`).
        Nobots = "nobots",
    }
}

/// What the bot remembers of a page it planned a push for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCheck {
    /// The revision the plan was made against.
    pub revid: u64,
    /// The fingerprint of the plan's other inputs.
    pub fingerprint: String,
    /// How the plan ended.
    pub outcome: CheckOutcome,
}

/// The version of the page parser whose readings the store keeps: bump it
/// when the parser reads more of a page than before, so that every page is
/// read again once (schema 7).
pub const PARSER: i64 = 1;

impl PageWrite {
    pub(super) fn new(
        title: &str,
        revid: u64,
        at: &DateTime<Utc>,
        records: &FiscalYearRecords,
        reading: Option<PageReading<'_>>,
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
            records: match reading {
                Some(r) => serde_json::to_string(&StoringPageRecords {
                    records,
                    table_rows: r.table_rows,
                    label_words: r.label_words,
                }),
                None => serde_json::to_string(records),
            }
            .context("serialising page records")?,
            parser: PARSER,
        })
    }
}

impl Store {
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
        self.write(provenance, changes, &extras).await
    }

    /// The sync state of a tracked page, if it was ever synced.
    pub async fn page_state(&self, title: &str) -> Result<Option<PageState>> {
        let q = sql(
            "page_state",
            "SELECT revision_id, synced_at, records, parser FROM pages WHERE title = ?",
        );
        let Some(row) = self.db.fetch_optional(q.text(title)).await? else {
            return Ok(None);
        };
        page_state_of(&row, title, 0).map(Some)
    }

    /// The sync state of every tracked page, by title, in one query.
    pub async fn page_states(&self) -> Result<std::collections::BTreeMap<String, PageState>> {
        let q = sql(
            "page_states",
            "SELECT title, revision_id, synced_at, records, parser FROM pages",
        );
        let mut out = std::collections::BTreeMap::new();
        for row in self.db.fetch_all(q).await? {
            let title = row.text(0)?;
            let state = page_state_of(&row, &title, 1)?;
            out.insert(title, state);
        }
        Ok(out)
    }

    /// Records that `title` was synced at revision `revid` (at `at`), parsed
    /// into `records`, with what its tables said (see [`PageReading`]).
    pub async fn set_page_state(
        &self,
        title: &str,
        revid: u64,
        at: DateTime<Utc>,
        records: &FiscalYearRecords,
        reading: Option<PageReading<'_>>,
    ) -> Result<()> {
        let page = PageWrite::new(title, revid, &at, records, reading)?;
        let mut tx = self.db.begin_write().await?;
        upsert_page(&mut tx, &page).await?;
        tx.commit().await
    }

    /// The push check of a page, if any.
    pub async fn page_check(&self, title: &str) -> Result<Option<PageCheck>> {
        let q = sql(
            "page_check",
            "SELECT revision_id, fingerprint, outcome FROM page_checks WHERE title = ?",
        );
        let row = self.db.fetch_optional(q.text(title)).await?;
        row.map(|row| page_check_of(&row, 0)).transpose()
    }

    /// The push check of every page that has one, by title, in one query.
    pub async fn page_checks(&self) -> Result<std::collections::BTreeMap<String, PageCheck>> {
        let q = sql(
            "page_checks",
            "SELECT title, revision_id, fingerprint, outcome FROM page_checks",
        );
        self.db
            .fetch_all(q)
            .await?
            .iter()
            .map(|row| Ok((row.text(0)?, page_check_of(row, 1)?)))
            .collect()
    }

    /// Remembers that `title` at `check.revid` needs no edit for `check.fingerprint`.
    pub async fn set_page_check(
        &self,
        title: &str,
        check: &PageCheck,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let revid = i64_of(check.revid, "revision id")?;
        let at = timestamp(&at);
        let text = format!(
            "INSERT INTO page_checks (title, revision_id, fingerprint, outcome, checked_at) \
             VALUES (?, ?, ?, ?, ?) {}",
            self.db.upsert(
                "title",
                &["revision_id", "fingerprint", "outcome", "checked_at"]
            )
        );
        let q = sql("set_page_check", text)
            .text(title)
            .int(revid)
            .text(&check.fingerprint)
            .text(check.outcome.as_str())
            .text(&at);
        self.db.execute(q).await?;
        Ok(())
    }

    /// Keeps the wikitext the bot saved as revision `revid` of `title`
    /// (replacing the page's earlier one).
    pub async fn set_saved_text(
        &self,
        title: &str,
        revid: u64,
        wikitext: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let revid = i64_of(revid, "revision id")?;
        let at = timestamp(&at);
        let text = format!(
            "INSERT INTO saved_texts (title, revision_id, text, saved_at) VALUES (?, ?, ?, ?) {}",
            self.db
                .upsert("title", &["revision_id", "text", "saved_at"])
        );
        let q = sql("set_saved_text", text)
            .text(title)
            .int(revid)
            .text(wikitext)
            .text(&at);
        self.db.execute(q).await?;
        Ok(())
    }

    /// The wikitext the bot last saved on each of `titles` that it saved,
    /// with that revision's id (100 titles a query).
    pub async fn saved_texts(
        &self,
        titles: &[String],
    ) -> Result<std::collections::BTreeMap<String, (u64, String)>> {
        let mut out = std::collections::BTreeMap::new();
        for chunk in titles.chunks(100) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let text = format!(
                "SELECT title, revision_id, text FROM saved_texts WHERE title IN ({marks})"
            );
            let q = chunk
                .iter()
                .fold(sql("saved_texts", text), |q, t| q.text(t));
            for r in self.db.fetch_all(q).await? {
                out.insert(r.text(0)?, (u64_of(r.int(1)?, "revision id")?, r.text(2)?));
            }
        }
        Ok(out)
    }

    /// The kept verdicts of the wiki on the staff tables of `digests`
    /// ([`crate::core::table_check`]), 100 a query.
    pub async fn table_checks(
        &self,
        digests: &[String],
    ) -> Result<crate::core::table_check::Verdicts> {
        use crate::core::table_check::Verdict;
        let mut out = crate::core::table_check::Verdicts::new();
        for chunk in digests.chunks(100) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let text = format!(
                "SELECT digest, agrees, detail FROM table_checks WHERE digest IN ({marks})"
            );
            let q = chunk
                .iter()
                .fold(sql("table_checks", text), |q, d| q.text(d));
            for r in self.db.fetch_all(q).await? {
                let verdict = if r.int(1)? == 1 {
                    Verdict::Agrees
                } else {
                    Verdict::Differs(r.text(2)?)
                };
                out.insert(r.text(0)?, verdict);
            }
        }
        Ok(out)
    }

    /// Keeps the wiki's verdict on the staff table of `digest`.
    pub async fn set_table_check(
        &self,
        digest: &str,
        verdict: &crate::core::table_check::Verdict,
        at: DateTime<Utc>,
    ) -> Result<()> {
        use crate::core::table_check::Verdict;
        let (agrees, detail) = match verdict {
            Verdict::Agrees => (1, ""),
            Verdict::Differs(why) => (0, why.as_str()),
        };
        let text = format!(
            "INSERT INTO table_checks (digest, agrees, detail, checked_at) VALUES (?, ?, ?, ?) {}",
            self.db
                .upsert("digest", &["agrees", "detail", "checked_at"])
        );
        let at = timestamp(&at);
        let q = sql("set_table_check", text)
            .text(digest)
            .int(agrees)
            .text(detail)
            .text(&at);
        self.db.execute(q).await?;
        Ok(())
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
        let at = timestamp(&at);
        let text = format!(
            "INSERT INTO push_intents (title, base_revision_id, run_id, created_at) \
             VALUES (?, ?, ?, ?) {}",
            self.db
                .upsert("title", &["base_revision_id", "run_id", "created_at"])
        );
        let q = sql("set_push_intent", text)
            .text(title)
            .int(base)
            .text(run_id)
            .text(&at);
        self.db.execute(q).await?;
        Ok(())
    }

    /// The save the bot was about to make of `title` and did not record as
    /// done: `(base revision, run id, when)`.
    pub async fn push_intent(&self, title: &str) -> Result<Option<(u64, String, DateTime<Utc>)>> {
        let q = sql(
            "push_intent",
            "SELECT base_revision_id, run_id, created_at FROM push_intents WHERE title = ?",
        );
        let row = self.db.fetch_optional(q.text(title)).await?;
        row.map(|row| {
            Ok((
                u64_of(row.int(0)?, "revision id")?,
                row.text(1)?,
                parse_timestamp(&row.text(2)?)?,
            ))
        })
        .transpose()
    }

    /// The save of `title` is recorded (or did not happen).
    pub async fn clear_push_intent(&self, title: &str) -> Result<()> {
        let q = sql(
            "clear_push_intent",
            "DELETE FROM push_intents WHERE title = ?",
        );
        self.db.execute(q.text(title)).await?;
        Ok(())
    }

    /// The revision each page was last synced at, every page in one query.
    pub async fn synced_revisions(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        // A page read by an older parser counts as not synced: it is read again.
        let q = sql(
            "synced_revisions",
            "SELECT title, revision_id FROM pages WHERE parser = ?",
        )
        .int(PARSER);
        self.db
            .fetch_all(q)
            .await?
            .iter()
            .map(|r| Ok((r.text(0)?, u64_of(r.int(1)?, "revision id")?)))
            .collect()
    }

    /// The pages with a push intent (a save a run was about to make and did
    /// not record as done), in one query.
    pub async fn push_intent_titles(&self) -> Result<BTreeSet<String>> {
        let q = sql("push_intent_titles", "SELECT title FROM push_intents");
        self.db
            .fetch_all(q)
            .await?
            .iter()
            .map(|r| r.text(0))
            .collect()
    }

    /// Per fiscal year, the newest history entry of its records (every
    /// field change and removal appends one), in one query.
    pub async fn year_heads(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let q = sql(
            "year_heads",
            "SELECT r.fiscal_year, MAX(h.seq) FROM history h \
             JOIN records r ON r.id = h.record_id GROUP BY r.fiscal_year",
        );
        self.db
            .fetch_all(q)
            .await?
            .iter()
            .map(|r| Ok((r.text(0)?, r.int(1)?)))
            .collect()
    }

    /// Per fiscal year, the digest of its plans' inputs when a push last
    /// found nothing to do on any of its pages.
    pub async fn year_checks(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let q = sql("year_checks", "SELECT fiscal_year, digest FROM year_checks");
        self.db
            .fetch_all(q)
            .await?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?)))
            .collect()
    }

    /// Remembers, in one transaction, that each year's pages need nothing
    /// for the inputs its digest stands for (replacing what it kept before).
    pub async fn set_year_checks(
        &self,
        checks: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if checks.is_empty() {
            return Ok(());
        }
        let at = timestamp(&at);
        let text = format!(
            "INSERT INTO year_checks (fiscal_year, digest, checked_at) VALUES (?, ?, ?) {}",
            self.db.upsert("fiscal_year", &["digest", "checked_at"])
        );
        let mut tx = self.db.begin_write().await?;
        for (fy, digest) in checks {
            let q = sql("set_year_check", text.as_str())
                .text(fy)
                .text(digest)
                .text(&at);
            tx.execute(q).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A digest of everything in the store a sync's plan depends on: the
    /// newest history entry (every field change and removal appends one),
    /// the conflicts (new, resolved, or re-read on a newer revision), the
    /// pages' synced revisions, the push checks and the push intents. Equal
    /// digests mean the store answers a sync exactly as before. The check
    /// of `status_page` is left out: it says what the bot status page last
    /// showed (rewritten after the run, [`crate::ops::runs::publish`]), which
    /// no sync plans from.
    pub async fn sync_inputs_digest(&self, status_page: &str) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut feed = |part: String| {
            h.update(part.as_bytes());
            h.update([0]);
        };
        let q = sql(
            "digest_history",
            "SELECT COALESCE(MAX(seq), 0) FROM history",
        );
        let row = self.db.fetch_optional(q).await?;
        feed(format!(
            "history {}",
            row.map(|r| r.int(0)).transpose()?.unwrap_or(0)
        ));
        let q = sql(
            "digest_conflicts",
            "SELECT COUNT(*), COALESCE(MAX(id), 0), COUNT(resolved_at) FROM conflicts",
        );
        if let Some(r) = self.db.fetch_optional(q).await? {
            feed(format!(
                "conflicts {} {} {}",
                r.int(0)?,
                r.int(1)?,
                r.int(2)?
            ));
        }
        // A pending conflict is re-read on a newer revision in place.
        let q = sql(
            "digest_pending",
            "SELECT id, revision_id FROM conflicts WHERE resolved_at IS NULL ORDER BY id",
        );
        for r in self.db.fetch_all(q).await? {
            feed(format!("pending {} {}", r.int(0)?, r.int(1)?));
        }
        let q = sql(
            "digest_pages",
            "SELECT title, revision_id, synced_at FROM pages ORDER BY title",
        );
        for r in self.db.fetch_all(q).await? {
            feed(format!("page {} {} {}", r.text(0)?, r.int(1)?, r.text(2)?));
        }
        let q = sql(
            "digest_checks",
            "SELECT title, revision_id, fingerprint, outcome FROM page_checks ORDER BY title",
        );
        for r in self.db.fetch_all(q).await? {
            if r.text(0)? == status_page {
                continue;
            }
            feed(format!(
                "check {} {} {} {}",
                r.text(0)?,
                r.int(1)?,
                r.text(2)?,
                r.text(3)?
            ));
        }
        let q = sql(
            "digest_intents",
            "SELECT title, base_revision_id, run_id FROM push_intents ORDER BY title",
        );
        for r in self.db.fetch_all(q).await? {
            feed(format!(
                "intent {} {} {}",
                r.text(0)?,
                r.int(1)?,
                r.text(2)?
            ));
        }
        Ok(format!("{:x}", h.finalize()))
    }

    /// The digest of the inputs of the last sync that found nothing to do.
    pub async fn sync_marker(&self) -> Result<Option<String>> {
        let q = sql(
            "sync_marker",
            "SELECT digest FROM sync_marker WHERE slot = 1",
        );
        self.db
            .fetch_optional(q)
            .await?
            .map(|r| r.text(0))
            .transpose()
    }

    /// Records `digest` as the inputs of a sync that found nothing to do;
    /// `None` forgets it.
    pub async fn set_sync_marker(&self, digest: Option<&str>, at: DateTime<Utc>) -> Result<()> {
        let Some(digest) = digest else {
            let q = sql("clear_sync_marker", "DELETE FROM sync_marker");
            self.db.execute(q).await?;
            return Ok(());
        };
        let at = timestamp(&at);
        let text = format!(
            "INSERT INTO sync_marker (slot, digest, recorded_at) VALUES (1, ?, ?) {}",
            self.db.upsert("slot", &["digest", "recorded_at"])
        );
        self.db
            .execute(sql("set_sync_marker", text).text(digest).text(&at))
            .await?;
        Ok(())
    }
}

/// A page's sync state from a row whose columns from `at` on are
/// `revision_id, synced_at, records, parser`.
fn page_state_of(row: &Row, title: &str, at: usize) -> Result<PageState> {
    let (revid, synced_at, records) = (row.int(at)?, row.text(at + 1)?, row.text(at + 2)?);
    let current_parser = row.int(at + 3)? == PARSER;
    let (records, table_rows, label_words) =
        match serde_json::from_str::<StoredPageRecords>(&records) {
            Ok(kept) => (kept.records, Some(kept.table_rows), kept.label_words),
            Err(_) => (
                serde_json::from_str(&records)
                    .with_context(|| format!("page {title}: stored records"))?,
                None,
                None,
            ),
        };
    Ok(PageState {
        revid: u64::try_from(revid).with_context(|| format!("page {title}: revision {revid}"))?,
        synced_at: parse_timestamp(&synced_at)?,
        records,
        table_rows,
        label_words,
        current_parser,
    })
}

/// A push check from a row whose columns from `at` on are `revision_id, fingerprint, outcome`.
fn page_check_of(row: &Row, at: usize) -> Result<PageCheck> {
    Ok(PageCheck {
        revid: u64_of(row.int(at)?, "revision id")?,
        fingerprint: row.text(at + 1)?,
        outcome: CheckOutcome::from(row.text(at + 2)?),
    })
}
