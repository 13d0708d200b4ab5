//! `goalsbot push`: store → wiki. Plans each page's new wikitext against its year (`core::plan`), then saves it.
//!
//! On a quarter page the bot writes only its status tables: a table is found
//! by its `data-goalsbot-objective` identity wherever staff moved it, and is
//! rewritten only when the data it shows (as last pulled) differs from the
//! store; a missing table is inserted at the end of the objective's Key
//! Results section. Every other byte of the page stays as it was. On the year
//! overview the bot writes only its marked region.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::ControlFlow;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{Config, Credentials};
use crate::core::fields::FieldKey;
use crate::core::parse::parse_quarter_page_with;
use crate::core::plan::{
    lines_changed, plan_overview, plan_quarter_page_with, records_for_page, unified_diff, Adoption,
    YearView,
};
use crate::core::records::{FiscalYear, FiscalYearRecords, Quarter};
use crate::core::render::Renderer;
use crate::core::table_check;
use crate::core::wikitext::bots_allowed;
use crate::error::{ExitCode, UsageError};
use crate::ops::Session;
use crate::store::{CheckOutcome, EditEntry, PageCheck, PageState, Provenance, Source, Store};
use crate::wiki::{EditConflict, NotABot, PageRevision, RevisionInfo, Saved, Wiki};

/// What happened to one page in a push.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Unchanged,
    Missing,
    Edited {
        revid: u64,
        summary: String,
        lines_changed: usize,
    },
    WouldEdit {
        diff: String,
    },
    Refused {
        reason: String,
    },
    Failed {
        error: String,
    },
    /// Not saved: the shutoff page stopped the run before this page's save
    /// (or before the page was looked at).
    Stopped {
        reason: String,
    },
}

/// The result of a push.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub run_id: String,
    pub pages: Vec<(String, Outcome)>,
    pub counts: crate::wiki::Counts,
    /// Set when the shutoff page stopped the push midway (why); the pages
    /// not saved are [`Outcome::Stopped`].
    pub stopped: Option<String>,
    /// What the plans could not do on pages they otherwise wrote, `(page, why)`.
    pub warnings: Vec<(String, String)>,
    /// Pages answered unchanged without being planned: nothing their year's
    /// plans depend on changed since a push found nothing to do on any of
    /// its pages.
    pub unplanned: usize,
    /// Years whose pages all need nothing now, as far as the store and the
    /// revisions this push saw or saved say: skipped, found needing
    /// nothing, or saved and checked again ([`settle_saved_years`]). Their
    /// digests are kept, so the next push with the same inputs skips them.
    pub settled: BTreeSet<FiscalYear>,
}

impl Report {
    /// 1 when a page failed, 3 when one was refused, else 0.
    pub fn exit_code(&self) -> ExitCode {
        if self
            .pages
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed { .. }))
        {
            ExitCode::Failed
        } else if self
            .pages
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Refused { .. }))
        {
            ExitCode::NeedsPerson
        } else {
            ExitCode::Ok
        }
    }

    /// The `push --json` object: the run, each page with its outcome (a
    /// dry run's diff included), warnings, the counters and the exit code.
    pub fn to_json(&self) -> serde_json::Value {
        let pages: Vec<serde_json::Value> = self
            .pages
            .iter()
            .map(|(title, o)| {
                let mut v = serde_json::to_value(o).unwrap_or_default();
                v["title"] = title.clone().into();
                v
            })
            .collect();
        let warnings: Vec<serde_json::Value> = self
            .warnings
            .iter()
            .map(|(page, message)| serde_json::json!({"page": page, "message": message}))
            .collect();
        serde_json::json!({
            "run_id": self.run_id,
            "pages": pages,
            "stopped": self.stopped,
            "warnings": warnings,
            "unplanned": self.unplanned,
            "counts": self.counts,
            "exit_code": self.exit_code() as i32,
        })
    }

    /// One line per page, diffs for a dry run, then the counts.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut edits = 0;
        for (title, o) in &self.pages {
            let _ = match o {
                Outcome::Unchanged => writeln!(out, "unchanged  {title}"),
                Outcome::Missing => writeln!(out, "missing    {title} (no such page)"),
                Outcome::Edited {
                    revid,
                    summary,
                    lines_changed,
                } => {
                    edits += 1;
                    writeln!(out, "edited     {title} (revision {revid}, {lines_changed} lines changed): {summary}")
                }
                Outcome::WouldEdit { diff } => writeln!(out, "would edit {title}:\n{diff}"),
                Outcome::Refused { reason } => writeln!(out, "REFUSED    {title}: {reason}"),
                Outcome::Failed { error } => writeln!(out, "FAILED     {title}: {error}"),
                Outcome::Stopped { reason } => writeln!(out, "not saved {title}: {reason}"),
            };
        }
        if let Some(reason) = &self.stopped {
            let _ = writeln!(
                out,
                "STOPPED run {} before its next save: {reason}",
                self.run_id
            );
        }
        let unplanned = match self.unplanned {
            0 => String::new(),
            n => format!(" ({n} not planned: nothing their year shows changed since a push found nothing to do)"),
        };
        let _ = writeln!(
            out,
            "run {}: {} pages{unplanned}, {edits} edits; {} API requests, {} HTML fetches",
            self.run_id,
            self.pages.len(),
            self.counts.api_requests,
            self.counts.html_fetches
        );
        out
    }
}

/// Refuses writing commands without credentials, saying what to set.
pub fn require_credentials(creds: &Credentials, command: &str) -> Result<(), UsageError> {
    if creds.can_write() {
        return Ok(());
    }
    Err(UsageError::new(format!(
        "{command} writes to the wiki and needs a login: set {} and {} (a bot password from Special:BotPasswords), \
         or {}, or add [auth] to ~/.config/mwbot.toml",
        crate::config::ENV_USERNAME,
        crate::config::ENV_PASSWORD,
        crate::config::ENV_OAUTH2_TOKEN
    )))
}

/// After the bot's own edit, remember what the page now shows, so the next
/// pull need not fetch it and the next merge has the right base.
pub(crate) async fn refresh_page_state(
    wiki: &Wiki,
    store: &Store,
    title: &str,
    fy: &FiscalYear,
    q: Quarter,
    revid: u64,
    palette: &crate::core::colour::Palette,
) -> Result<()> {
    let html = wiki.revision_html(title, revid).await?;
    let parsed = parse_quarter_page_with(&html, fy, q, palette);
    let records = FiscalYearRecords {
        fiscal_year: fy.clone(),
        objectives: parsed.objectives,
    };
    store
        .set_page_state(
            title,
            revid,
            chrono::Utc::now(),
            &records,
            Some(crate::core::parse::PageReading {
                table_rows: &parsed.table_rows,
                label_words: &parsed.label_words,
            }),
        )
        .await
}

/// What every page of one push shares: the connections, the templates and the run.
pub struct PushContext<'a> {
    pub config: &'a Config,
    pub wiki: &'a Wiki,
    pub store: &'a Store,
    pub run_id: &'a str,
    pub dry_run: bool,
    /// The bot's user name, for `{{bots|deny=…}}`.
    pub user: &'a str,
    /// Latest revisions already fetched in this run (by `sync`), by title asked for.
    pub revisions: Option<&'a BTreeMap<String, PageRevision>>,
}

/// Names the planner's behaviour in push checks' fingerprints: bump it when
/// an unchanged page and store may plan differently (e.g. staff tables).
pub(crate) const PLANNER: &str = "tables-2";

/// How many times a save is retried after an edit conflict (`docs/sync.md`, "Push").
pub const EDIT_CONFLICT_RETRIES: usize = 2;

/// The years a push plans against: given (a dry-run sync's, as its pull's
/// plans leave them), or loaded from the store when first needed and again
/// after the push changed the store (a save, a pull after an edit conflict).
struct Views<'a> {
    store: &'a Store,
    config: &'a Config,
    years: BTreeMap<FiscalYear, YearView>,
    /// Wikitext read ahead, by revision id ([`read_ahead`]).
    texts: BTreeMap<u64, String>,
    /// What [`read_ahead`] found already checked, by (title, revision,
    /// fingerprint): the plan asks the store no second time.
    checked: BTreeMap<(String, u64, String), Option<Outcome>>,
    /// Years whose plan inputs are those of a push that found nothing to do
    /// on any of their pages ([`year_digest`]): not planned at all.
    skip: BTreeSet<FiscalYear>,
    /// The plan inputs' digest of each other year, kept if its pages all
    /// turn out to need nothing.
    year_digests: BTreeMap<FiscalYear, String>,
    /// The fingerprint [`read_ahead`] computed for a page at a revision
    /// (while the year's view is unchanged): a page found already checked
    /// with it is not planned again.
    fingerprints: BTreeMap<(String, u64), String>,
    /// Every conflict, pending or settled, read when first needed.
    conflicts: Option<Vec<crate::store::StoredConflict>>,
    /// What the plans could not do on pages they otherwise wrote (a staff
    /// table not written into), `(page, why)`: the report takes them.
    warnings: Vec<(String, String)>,
}

impl<'a> Views<'a> {
    /// No page read yet; `years`: the years already planned.
    fn new(store: &'a Store, config: &'a Config, years: BTreeMap<FiscalYear, YearView>) -> Self {
        Views {
            store,
            config,
            years,
            texts: BTreeMap::new(),
            checked: BTreeMap::new(),
            skip: BTreeSet::new(),
            year_digests: BTreeMap::new(),
            fingerprints: BTreeMap::new(),
            conflicts: None,
            warnings: Vec::new(),
        }
    }

    /// The view of year `fy`.
    async fn get(&mut self, fy: &FiscalYear) -> Result<&YearView> {
        if !self.years.contains_key(fy) {
            let view = load_view(self.store, self.config, fy).await?;
            self.years.insert(fy.clone(), view);
        }
        Ok(&self.years[fy])
    }

    /// The wikitext of revision `revid`: read ahead, or read now.
    async fn wikitext(&mut self, wiki: &Wiki, revid: u64) -> Result<String> {
        match self.texts.remove(&revid) {
            Some(text) => Ok(text),
            None => wiki.revision_wikitext(revid).await,
        }
    }

    /// [`PushContext::checked`], answered from [`read_ahead`]'s look when it had one.
    async fn checked(
        &mut self,
        ctx: &PushContext<'_>,
        title: &str,
        revid: u64,
        fingerprint: &str,
    ) -> Result<Option<Outcome>> {
        let key = (title.to_string(), revid, fingerprint.to_string());
        match self.checked.remove(&key) {
            Some(known) => Ok(known),
            None => ctx.checked(title, revid, fingerprint).await,
        }
    }

    /// [`taken_from_store`], from every conflict read once for the push
    /// (again after the store changed), not once a page.
    async fn taken_from_store(&mut self, title: &str, synced: u64) -> Result<BTreeSet<FieldKey>> {
        if self.conflicts.is_none() {
            self.conflicts = Some(self.store.conflicts(true).await?);
        }
        let conflicts = self.conflicts.as_deref().unwrap_or_default();
        Ok(taken_from_store(conflicts, title, synced))
    }

    /// Every field a person decided by keeping the store's value
    /// (`resolve --take store`, on the wiki or the command line), and when.
    async fn kept_by_a_person(&mut self) -> Result<Vec<(FieldKey, DateTime<Utc>)>> {
        if self.conflicts.is_none() {
            self.conflicts = Some(self.store.conflicts(true).await?);
        }
        let conflicts = self.conflicts.as_deref().unwrap_or_default();
        Ok(conflicts
            .iter()
            .filter_map(|c| {
                let r = c.resolution.as_ref()?;
                (r.how == crate::store::Settlement::Store).then(|| (c.key.clone(), r.at))
            })
            .collect())
    }

    /// Forgets year `fy`: the store changed under it.
    fn changed(&mut self, fy: &FiscalYear) {
        self.years.remove(fy);
        self.conflicts = None;
        let titles = year_titles(self.config, fy);
        self.fingerprints.retain(|(t, _), _| !titles.contains(t));
    }

    /// The outcome of a page already checked at `revid` with the
    /// fingerprint [`read_ahead`] computed for it, if any.
    async fn checked_ahead(
        &mut self,
        ctx: &PushContext<'_>,
        title: &str,
        revid: u64,
    ) -> Result<Option<Outcome>> {
        let Some(fingerprint) = self.fingerprints.get(&(title.to_string(), revid)).cloned() else {
            return Ok(None);
        };
        self.checked(ctx, title, revid, &fingerprint).await
    }
}

/// The store's view of year `fy` (see [`YearView`]).
pub async fn load_view(store: &Store, config: &Config, fy: &FiscalYear) -> Result<YearView> {
    let pending: Vec<FieldKey> = store
        .conflicts(false)
        .await?
        .into_iter()
        .map(|c| c.key)
        .collect();
    let mut states = BTreeMap::new();
    for q in Quarter::ALL {
        let title = config.pages.quarter_page(fy, q);
        if let Some(st) = store.page_state(&title).await? {
            states.insert(title, st);
        }
    }
    let fields = store.load_fields(fy).await?;
    Ok(view_of(config, fy, fields, &pending, &states))
}

/// The views of `years`, with the pending conflicts' keys and the pages'
/// sync states already read (for every year at once, [`read_ahead`]),
/// their fields read in two queries per 100 years.
async fn load_views_with(
    store: &Store,
    config: &Config,
    years: &[FiscalYear],
    pending: &[FieldKey],
    states: &BTreeMap<String, PageState>,
) -> Result<BTreeMap<FiscalYear, YearView>> {
    let mut fields = store.load_fields_of(years).await?;
    Ok(years
        .iter()
        .map(|fy| {
            let f = fields.remove(fy).unwrap_or_default();
            (fy.clone(), view_of(config, fy, f, pending, states))
        })
        .collect())
}

/// Year `fy`'s view from its fields, the pending conflicts' keys and the
/// pages' sync states.
fn view_of(
    config: &Config,
    fy: &FiscalYear,
    fields: crate::core::fields::Fields,
    pending: &[FieldKey],
    states: &BTreeMap<String, PageState>,
) -> YearView {
    let prefix = format!("{fy}/");
    let pending = pending
        .iter()
        .filter(|k| k.record.starts_with(&prefix))
        .cloned()
        .collect();
    let mut pages = BTreeMap::new();
    for q in Quarter::ALL {
        let title = config.pages.quarter_page(fy, q);
        if let Some(st) = states.get(&title) {
            pages.insert(title, (st.revid, st.records.clone()));
        }
    }
    YearView {
        fields,
        pending,
        pages,
    }
}

/// How a push check answers for a page at `revid` planned with `fingerprint`:
/// `None` when it was not checked with these inputs.
fn check_outcome(check: Option<&PageCheck>, revid: u64, fingerprint: &str) -> Option<Outcome> {
    let check = check?;
    if check.revid != revid || check.fingerprint != fingerprint {
        return None;
    }
    Some(if check.outcome == CheckOutcome::Nobots {
        nobots_refusal()
    } else {
        Outcome::Unchanged
    })
}

impl PushContext<'_> {
    /// Why every page left is refused unread: known only once the bot
    /// logged in (for its first save, or already) and found it has no bot
    /// flag; never in a dry run.
    fn bot_flag_refusal(&self) -> Option<String> {
        if self.dry_run {
            None
        } else {
            self.wiki.known_bot_flag_refusal()
        }
    }

    /// The digest of everything a page's plan depends on besides its revision.
    fn fingerprint(&self, renderer: &Renderer, title: &str, records: &FiscalYearRecords) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            env!("CARGO_PKG_VERSION"),
            &renderer.fingerprint(),
            title,
            &self.config.pages.prefix,
            self.user,
            // What reads and shows staff tables: a new reader or palette
            // plans every page again.
            PLANNER,
            &format!("{:?}", self.config.status.colours),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(serde_json::to_vec(records).unwrap_or_default());
        format!("{:x}", h.finalize())
    }

    /// Whether the page was planned at `revid` with the same inputs before, and how that ended.
    async fn checked(&self, title: &str, revid: u64, fingerprint: &str) -> Result<Option<Outcome>> {
        let check = self.store.page_check(title).await?;
        Ok(check_outcome(check.as_ref(), revid, fingerprint))
    }

    /// Remembers that the page at `revid` needs nothing for these inputs (not in a dry run).
    async fn remember(
        &self,
        title: &str,
        revid: u64,
        fingerprint: &str,
        outcome: CheckOutcome,
    ) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let check = PageCheck {
            revid,
            fingerprint: fingerprint.to_string(),
            outcome,
        };
        self.store
            .set_page_check(title, &check, chrono::Utc::now())
            .await
    }

    /// Records an edit the bot saved.
    async fn log_edit(
        &self,
        title: &str,
        saved: Saved,
        base: Option<u64>,
        summary: &str,
    ) -> Result<()> {
        self.store
            .record_edit(&EditEntry {
                run_id: self.run_id.to_string(),
                at: chrono::Utc::now(),
                title: title.to_string(),
                old_revid: base,
                new_revid: saved.newrevid,
                summary: summary.to_string(),
            })
            .await
    }

    /// Right before a save, in a run that obeys the emergency stop: why not
    /// to save, when the shutoff page no longer says `run` (one API request).
    async fn stop_reason(&self) -> Result<Option<String>> {
        if let Some(why) = crate::interrupt::requested() {
            return Ok(Some(why));
        }
        if self.dry_run || !self.wiki.obeys_shutoff() {
            return Ok(None);
        }
        crate::ops::runs::shutoff_reason(self.config, self.wiki, self.store, None)
            .await
            .context("looking at the shutoff page before saving")
    }

    /// The latest revision of one page, asked again (after an edit conflict).
    async fn latest(&self, title: &str) -> Result<Option<RevisionInfo>> {
        let mut revs = self.wiki.latest_revisions(&[title.to_string()]).await?;
        Ok(revs.pop().and_then(|r| r.latest))
    }
}

/// `goalsbot push`: prints one line per page (diffs in a dry run); exit 3 when a page was refused.
pub async fn command(
    config: &Config,
    creds: &Credentials,
    fys: &[FiscalYear],
    pages: &[String],
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    if !dry_run {
        // A dry run only reads: anonymous reads are enough.
        require_credentials(creds, "push")?;
    }
    let session = Session::open(config, creds).await?;
    if !dry_run {
        crate::interrupt::listen();
    }
    let user = match session.wiki.user_name_now().await {
        Ok(user) => user,
        Err(e) => {
            session.close().await;
            return Err(e);
        }
    };
    let ctx = PushContext {
        config,
        wiki: &session.wiki,
        store: &session.store,
        run_id: &session.run_id,
        dry_run,
        user: &user,
        revisions: None,
    };
    let run = async {
        let report = push(&ctx, fys, pages).await?;
        crate::ops::print_report(json, || report.render(), || report.to_json());
        if crate::interrupt::requested().is_some() {
            return Ok(ExitCode::Interrupted);
        }
        Ok(report.exit_code())
    };
    let out = session.writing(config, dry_run, run).await;
    session.close().await;
    out
}

/// Pushes the store to the quarter pages and overview pages of `fys` (all
/// configured years when empty); `only` limits it to those titles.
pub async fn push(ctx: &PushContext<'_>, fys: &[FiscalYear], only: &[String]) -> Result<Report> {
    push_onto(ctx, fys, only, BTreeMap::new()).await
}

/// [`push`], planned against `planned` years where given (a dry-run sync's
/// years as its pull's plans leave them), else against the store.
pub async fn push_onto(
    ctx: &PushContext<'_>,
    fys: &[FiscalYear],
    only: &[String],
    planned: BTreeMap<FiscalYear, YearView>,
) -> Result<Report> {
    let config = ctx.config;
    let mut views = Views::new(ctx.store, config, planned);
    let wanted = |t: &str| only.is_empty() || only.iter().any(|o| o.replace('_', " ") == t);
    let renderer = Renderer::with_dir(config.pages.templates_dir.as_deref())?;
    let years: Vec<FiscalYear> = if fys.is_empty() {
        config.pages.years()
    } else {
        fys.to_vec()
    };
    let mut report = Report {
        run_id: ctx.run_id.to_string(),
        ..Report::default()
    };
    let titles: Vec<String> = years
        .iter()
        .flat_map(|fy| year_titles(config, fy))
        .filter(|t| wanted(t))
        .collect();
    let mut fetched = BTreeMap::new();
    let known = match ctx.revisions {
        Some(known) => known,
        // Every page is refused unread: nothing to ask the wiki.
        None if ctx.bot_flag_refusal().is_some() => &fetched,
        None => {
            for rev in ctx.wiki.latest_revisions(&titles).await? {
                fetched.insert(rev.requested.clone(), rev);
            }
            &fetched
        }
    };
    if ctx.bot_flag_refusal().is_none() {
        let wanted = (&wanted as &dyn Fn(&str) -> bool, only.is_empty());
        read_ahead(ctx, &mut views, &renderer, &years, wanted, known).await?;
    }
    let mut saved_years = Vec::new();
    let mut kept = Vec::new();
    // Shown on a terminal only; each save is also logged as it happens.
    let progress = crate::ops::pull::progress_bar(titles.len());
    for fy in &years {
        let first = report.pages.len();
        for (i, title) in year_titles(config, fy).iter().enumerate() {
            if !wanted(title) {
                continue;
            }
            progress.set_message(title.clone());
            progress.inc(1);
            if let Some(held) = held_back(&report, ctx.bot_flag_refusal().as_deref()) {
                report.pages.push((title.clone(), held));
                continue;
            }
            let Some(rev) = known.get(title) else {
                continue;
            };
            if views.skip.contains(fy) {
                report.pages.push((title.clone(), Outcome::Unchanged));
                report.unplanned += 1;
                report.settled.insert(fy.clone());
                continue;
            }
            let page = PageJob { fy, title, rev };
            let outcome = match Quarter::ALL.get(i) {
                Some(q) => push_quarter_page(ctx, &mut views, &renderer, &page, *q).await,
                None => push_overview(ctx, &mut views, &renderer, &page).await,
            };
            let outcome = outcome_of(outcome, title)?;
            if let Outcome::Stopped { reason } = &outcome {
                report.stopped = Some(reason.clone());
            }
            if let Outcome::Edited { revid, .. } = &outcome {
                progress.suspend(|| tracing::info!(page = %title, revid, "saved"));
            }
            report.pages.push((title.clone(), outcome));
        }
        // Every page of the year planned and found to need nothing: the
        // next push with the same inputs skips the year. A year some of
        // whose pages were saved (the rest needing nothing) is checked
        // again once the push is done.
        let done = &report.pages[first..];
        match views.year_digests.get(fy) {
            Some(digest) if done.len() == year_titles(config, fy).len() => match year_end(done) {
                YearEnd::Unchanged => {
                    kept.push((fy.to_string(), digest.clone()));
                    report.settled.insert(fy.clone());
                }
                YearEnd::Saved => saved_years.push(fy.clone()),
                YearEnd::Other => {}
            },
            _ => {}
        }
    }
    if !saved_years.is_empty() {
        let saved = saved_revisions(&report);
        for (fy, digest) in settle_saved_years(ctx, &renderer, &saved_years, known, &saved).await? {
            kept.push((fy.to_string(), digest));
            report.settled.insert(fy);
        }
    }
    progress.finish_and_clear();
    // Written together once every year is done (a run stopped before
    // keeps none: the next push plans those years again).
    ctx.store.set_year_checks(&kept, chrono::Utc::now()).await?;
    report.counts = ctx.wiki.counters().snapshot();
    report.warnings = views.warnings;
    Ok(report)
}

/// The revision of each page the push saved.
fn saved_revisions(report: &Report) -> BTreeMap<String, u64> {
    report
        .pages
        .iter()
        .filter_map(|(title, o)| match o {
            Outcome::Edited { revid, .. } => Some((title.clone(), *revid)),
            _ => None,
        })
        .collect()
}

/// A page's outcome from its push; `Err` for what ends the run: the store
/// failing, or a refused login (wrong password: exit 2, the other pages
/// would meet it again). Any other error fails only this page.
fn outcome_of(result: Result<Outcome>, title: &str) -> Result<Outcome> {
    match result {
        Err(e) if crate::store::is_store_error(&e) => Err(e.context(format!("pushing {title:?}"))),
        Err(e) if e.downcast_ref::<crate::error::UsageError>().is_some() => Err(e),
        Err(e) if e.downcast_ref::<NotABot>().is_some() => Ok(Outcome::Refused {
            reason: format!("{e}"),
        }),
        Err(e) => {
            tracing::error!(page = %title, "push failed: {e:#}");
            Ok(Outcome::Failed {
                error: format!("{e:#}"),
            })
        }
        Ok(o) => Ok(o),
    }
}

/// How a year's pushed pages ended, all of them.
enum YearEnd {
    /// Every page needed nothing.
    Unchanged,
    /// Some were saved, the rest needed nothing.
    Saved,
    /// Some were not pushed (held, refused, failed…).
    Other,
}

fn year_end(done: &[(String, Outcome)]) -> YearEnd {
    if done.iter().all(|(_, o)| matches!(o, Outcome::Unchanged)) {
        YearEnd::Unchanged
    } else if done
        .iter()
        .all(|(_, o)| matches!(o, Outcome::Unchanged | Outcome::Edited { .. }))
    {
        YearEnd::Saved
    } else {
        YearEnd::Other
    }
}

/// What a year's plan inputs are read from besides its pages' sync
/// states: for every year at once, in four queries.
struct YearInputs {
    /// The newest history entry of each year's records.
    heads: BTreeMap<String, i64>,
    /// Every conflict, pending or settled (how a page's field was settled is
    /// an input of its plan).
    conflicts: Vec<crate::store::StoredConflict>,
    /// Pages with a push intent (a save not known to have been made).
    intents: BTreeSet<String>,
    /// The digests kept by [`Store::set_year_checks`].
    checks: BTreeMap<String, String>,
}

impl YearInputs {
    async fn read(store: &Store) -> Result<YearInputs> {
        Ok(YearInputs {
            heads: store.year_heads().await?,
            conflicts: store.conflicts(true).await?,
            intents: store.push_intent_titles().await?,
            checks: store.year_checks().await?,
        })
    }
}

/// What every year's plan reads of the store besides its fields.
struct PlanReads {
    /// The keys of the pending conflicts.
    pending: Vec<FieldKey>,
    /// Every page's sync state.
    states: BTreeMap<String, PageState>,
    /// Every page's push check.
    checks: BTreeMap<String, PageCheck>,
}

impl PlanReads {
    async fn read(store: &Store) -> Result<PlanReads> {
        Ok(PlanReads {
            pending: store
                .conflicts(false)
                .await?
                .into_iter()
                .map(|c| c.key)
                .collect(),
            states: store.page_states().await?,
            checks: store.page_checks().await?,
        })
    }
}

/// A digest of everything the plans of year `fy`'s five pages depend on:
/// what every page's fingerprint holds besides its records (this build, the
/// templates, the config, the bot's name, the planner), and
/// instead of the records, where they come from: the year's newest history
/// entry, its conflicts (pending and settled), its quarter pages' sync
/// states, the push intents and the five pages' latest revisions. Equal
/// digests mean equal plans.
fn year_digest(
    ctx: &PushContext<'_>,
    renderer: &Renderer,
    fy: &FiscalYear,
    inputs: &YearInputs,
    states: &BTreeMap<String, PageState>,
    known: &BTreeMap<String, PageRevision>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut feed = |part: &str| {
        h.update(part.as_bytes());
        h.update([0]);
    };
    for part in [
        env!("CARGO_PKG_VERSION"),
        &renderer.fingerprint(),
        // The whole config, as the sync's digest: any change plans again.
        &format!("{:?}", ctx.config),
        ctx.user,
        PLANNER,
    ] {
        feed(part);
    }
    let year = fy.to_string();
    feed(&format!("year {year} head {:?}", inputs.heads.get(&year)));
    let prefix = format!("{year}/");
    for c in inputs
        .conflicts
        .iter()
        .filter(|c| c.key.record.starts_with(&prefix))
    {
        feed(&format!(
            "conflict {} {} {} {:?}",
            c.id, c.page, c.revid, c.resolution
        ));
    }
    for title in year_titles(ctx.config, fy) {
        let rev = known.get(&title).map(|r| {
            let latest = r.latest.as_ref().map(|l| l.revid);
            format!("{}|{}|{latest:?}", r.title, r.redirected)
        });
        feed(&format!("page {title} {rev:?}"));
        if let Some(st) = states.get(&title) {
            feed(&format!(
                "state {} {} {}",
                st.revid,
                st.synced_at.to_rfc3339(),
                st.current_parser
            ));
        }
        feed(&format!("intent {}", inputs.intents.contains(&title)));
    }
    format!("{:x}", h.finalize())
}

/// Reads ahead, 50 revisions a request, the wikitext of every page this push
/// will plan: those whose inputs (revision, records, templates, the bot's
/// name) differ from when the page was last found to need nothing. The rest
/// are not read at all; a page whose read-ahead is missing (hidden, or the
/// plan's inputs moved meanwhile) is read alone when planned.
async fn read_ahead(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    years: &[FiscalYear],
    (wanted, every_page): (&dyn Fn(&str) -> bool, bool),
    known: &BTreeMap<String, PageRevision>,
) -> Result<()> {
    let mut unread: Vec<(String, RevisionInfo)> = Vec::new();
    let mut looked = Vec::new();
    let mut prepared = Vec::new();
    // Years given (a dry-run sync's, as its pull's plans leave them) are
    // not the store's: they are always planned. So are years of a push
    // limited to some pages, and every year of a dry run.
    let given: BTreeSet<FiscalYear> = views.years.keys().cloned().collect();
    let year_inputs = if ctx.dry_run || !every_page {
        None
    } else {
        Some(YearInputs::read(ctx.store).await?)
    };
    // What every year's plan reads of the store besides its fields, in three
    // queries for the whole push rather than a few per year and page.
    let PlanReads {
        pending,
        states,
        checks,
    } = PlanReads::read(ctx.store).await?;
    let mut planned = Vec::new();
    for fy in years {
        if let Some(inputs) = year_inputs.as_ref().filter(|_| !given.contains(fy)) {
            let digest = year_digest(ctx, renderer, fy, inputs, &states, known);
            if inputs.checks.get(&fy.to_string()) == Some(&digest) {
                views.skip.insert(fy.clone());
                continue;
            }
            views.year_digests.insert(fy.clone(), digest);
        }
        planned.push(fy.clone());
    }
    let unloaded: Vec<FiscalYear> = planned
        .iter()
        .filter(|fy| !views.years.contains_key(*fy))
        .cloned()
        .collect();
    let loaded = load_views_with(ctx.store, ctx.config, &unloaded, &pending, &states).await?;
    views.years.extend(loaded);
    for fy in &planned {
        let year = views.get(fy).await?;
        for (i, title) in year_titles(ctx.config, fy).iter().enumerate() {
            let Some(latest) = known
                .get(title)
                .filter(|r| wanted(title) && !r.redirected)
                .and_then(|r| r.latest.as_ref())
            else {
                continue;
            };
            let Some(fingerprint) =
                planned_fingerprint(ctx, renderer, fy, year, i, title, latest.revid)
            else {
                continue;
            };
            let done = check_outcome(checks.get(title), latest.revid, &fingerprint);
            if done.is_none() {
                unread.push((title.clone(), latest.clone()));
            }
            prepared.push(((title.clone(), latest.revid), fingerprint.clone()));
            looked.push(((title.clone(), latest.revid, fingerprint), done));
        }
    }
    views.checked.extend(looked);
    views.fingerprints.extend(prepared);
    // What the bot saved itself is not read back: the wikitext it kept,
    // when the wiki's SHA-1 of that revision says it is the same text.
    let titles: Vec<String> = unread.iter().map(|(t, _)| t.clone()).collect();
    let mut kept = if titles.is_empty() {
        BTreeMap::new()
    } else {
        ctx.store.saved_texts(&titles).await?
    };
    let mut revids = Vec::new();
    for (title, latest) in unread {
        match kept.remove(&title) {
            Some((revid, text)) if revid == latest.revid && same_text(&latest, &text) => {
                views.texts.insert(revid, text);
            }
            _ => revids.push(latest.revid),
        }
    }
    if revids.len() < 2 {
        return Ok(());
    }
    let texts = ctx.wiki.revision_wikitexts(&revids).await?;
    views.texts.extend(texts);
    Ok(())
}

/// `text` as MediaWiki stores a save of it: without trailing whitespace
/// (its pre-save transform trims the text as PHP's `rtrim` does). What else
/// that transform changes (signatures, `subst:`) the SHA-1 check finds.
fn as_stored(text: &str) -> &str {
    text.trim_end_matches([' ', '\t', '\n', '\r', '\0', '\x0B'])
}

/// Whether `text` is the wikitext of revision `latest`: the wiki's SHA-1 of
/// it (from the revision check) is the text's. No SHA-1 (hidden, or not
/// asked): not known to be.
fn same_text(latest: &RevisionInfo, text: &str) -> bool {
    use sha1::{Digest, Sha1};
    let Some(wiki) = &latest.sha1 else {
        return false;
    };
    let ours = format!("{:x}", Sha1::digest(text.as_bytes()));
    ours == *wiki
}

/// The fingerprint the plan of page `i` of year `fy` (its quarter pages,
/// then its overview) at revision `revid` computes from `year`; `None` when
/// the page is left to its own plan: a quarter page refused before any read
/// (not synced at `revid`), records that do not come out (the plan reports
/// the error), an overview with no objectives (not written).
fn planned_fingerprint(
    ctx: &PushContext<'_>,
    renderer: &Renderer,
    fy: &FiscalYear,
    year: &YearView,
    i: usize,
    title: &str,
    revid: u64,
) -> Option<String> {
    let records = if i < Quarter::ALL.len() {
        let (_, shown) = year.pages.get(title).filter(|(r, _)| *r == revid)?;
        records_for_page(fy, &year.fields, &year.pending, shown).ok()
    } else {
        crate::core::fields::unflatten(fy, &year.fields).ok()
    };
    let records = records.filter(|r| !r.objectives.is_empty())?;
    Some(ctx.fingerprint(renderer, title, &records))
}

/// The digests of `years`, whose pages this push saved (and found the rest
/// needing nothing), when each page now needs nothing more: checked as the
/// next push would plan it, without the wiki — at the revision the bot saved
/// (or found), with the records the store now gives it, found already
/// checked with that fingerprint and needing nothing. A year with any page
/// not answered so (its saved revision reads back otherwise than planned, a
/// conflict held, a redirect, a page missing) gets no digest: the next push
/// plans it. `saved` is each saved page's new revision.
async fn settle_saved_years(
    ctx: &PushContext<'_>,
    renderer: &Renderer,
    years: &[FiscalYear],
    known: &BTreeMap<String, PageRevision>,
    saved: &BTreeMap<String, u64>,
) -> Result<Vec<(FiscalYear, String)>> {
    let mut now: BTreeMap<String, PageRevision> = BTreeMap::new();
    for fy in years {
        for title in year_titles(ctx.config, fy) {
            let Some(rev) = known.get(&title) else {
                continue;
            };
            let rev = match saved.get(&title) {
                Some(revid) => rev.saved_as(*revid, ctx.user),
                None => rev.clone(),
            };
            now.insert(title, rev);
        }
    }
    let inputs = YearInputs::read(ctx.store).await?;
    let PlanReads {
        pending,
        states,
        checks,
    } = PlanReads::read(ctx.store).await?;
    let mut settled = Vec::new();
    let mut loaded = load_views_with(ctx.store, ctx.config, years, &pending, &states).await?;
    'years: for fy in years {
        let Some(view) = loaded.remove(fy) else {
            continue;
        };
        for (i, title) in year_titles(ctx.config, fy).iter().enumerate() {
            let Some(latest) = now
                .get(title)
                .filter(|r| !r.redirected)
                .and_then(|r| r.latest.as_ref())
            else {
                continue 'years;
            };
            if !taken_from_store(&inputs.conflicts, title, latest.revid).is_empty() {
                continue 'years;
            }
            let Some(fingerprint) =
                planned_fingerprint(ctx, renderer, fy, &view, i, title, latest.revid)
            else {
                continue 'years;
            };
            let done = check_outcome(checks.get(title), latest.revid, &fingerprint);
            if !matches!(done, Some(Outcome::Unchanged)) {
                continue 'years;
            }
        }
        let digest = year_digest(ctx, renderer, fy, &inputs, &states, &now);
        settled.push((fy.clone(), digest));
    }
    Ok(settled)
}

/// Why a page is not even read: the emergency stop held the run, or the
/// login has no bot flag (`refusal`); `None` when it may be pushed.
fn held_back(report: &Report, refusal: Option<&str>) -> Option<Outcome> {
    if report.stopped.is_some() {
        return Some(Outcome::Stopped {
            reason: "the run stopped before this page".into(),
        });
    }
    refusal.map(|reason| Outcome::Refused {
        reason: reason.to_string(),
    })
}

/// The pages a push writes for a year: its four quarter pages, then its overview.
pub fn year_titles(config: &Config, fy: &FiscalYear) -> Vec<String> {
    let mut titles: Vec<String> = Quarter::ALL
        .iter()
        .map(|q| config.pages.quarter_page(fy, *q))
        .collect();
    titles.push(config.pages.overview_page(fy));
    titles
}

/// One page of a push: its title and latest revision.
struct PageJob<'a> {
    fy: &'a FiscalYear,
    title: &'a str,
    rev: &'a PageRevision,
}

/// The refusal for a page that asks bots to stay away.
fn nobots_refusal() -> Outcome {
    Outcome::Refused {
        reason: "the page asks bots to stay away ({{nobots}} / {{bots}}); left alone".into(),
    }
}

/// Pushes one quarter page: decides its text ([`decide_quarter_page`]),
/// then saves it. An edit conflict, or a save the wiki merged with a
/// person's, pulls the page again and decides anew, a few times at most.
async fn push_quarter_page(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    q: Quarter,
) -> Result<Outcome> {
    if let Some(reason) = page.rev.redirect_refusal() {
        return Ok(Outcome::Refused { reason });
    }
    let Some(first) = &page.rev.latest else {
        return Ok(Outcome::Missing);
    };
    let mut latest = first.clone();
    let mut edited: Option<Outcome> = None;
    for attempt in 0..=EDIT_CONFLICT_RETRIES {
        let planned = match decide_quarter_page(ctx, views, renderer, page, q, &latest).await? {
            Decided::Final(outcome) => return Ok(outcome),
            Decided::Nothing(outcome) => return Ok(edited.unwrap_or(outcome)),
            Decided::Save(planned) => planned,
        };
        let PagePlanned {
            synced,
            current,
            text,
            summary,
            fingerprint,
        } = planned;
        if let Some(reason) = ctx.stop_reason().await? {
            tracing::warn!(page = %page.title, "not saved: {reason}");
            return Ok(Outcome::Stopped { reason });
        }
        let Some(saved) = save_with_intent(ctx, page, synced, &text, &summary).await? else {
            tracing::warn!(page = %page.title, attempt, "edit conflict: pulling the page again");
            latest = repull(ctx, page, q).await?;
            views.changed(page.fy);
            continue;
        };
        edited = Some(Outcome::Edited {
            revid: saved.newrevid,
            summary,
            lines_changed: lines_changed(&current, &text),
        });
        if saved.oldrevid == Some(synced) {
            settle_own_save(ctx, views, page, q, &text, saved.newrevid, &fingerprint).await?;
            return Ok(edited.unwrap_or(Outcome::Unchanged));
        }
        // The wiki merged our save with one made since we read the page: the
        // new revision holds that person's change too. Pull it like any other.
        tracing::warn!(page = %page.title, "someone saved the page meanwhile; merging their change");
        ctx.store.clear_push_intent(page.title).await?;
        latest = repull(ctx, page, q).await?;
        views.changed(page.fy);
    }
    Ok(Outcome::Failed {
        error: format!(
            "the page kept changing while the bot saved it ({} edit conflicts); nothing of it was lost, run again later",
            EDIT_CONFLICT_RETRIES + 1
        ),
    })
}

/// What a quarter page's push decided before saving anything.
enum Decided {
    /// The page's outcome, whatever was saved before it.
    Final(Outcome),
    /// Nothing (more) to save: the outcome unless an earlier attempt saved.
    Nothing(Outcome),
    /// A new text to save.
    Save(PagePlanned),
}

/// A page's new text, planned against revision `synced` (whose text is
/// `current`), with its edit summary and the fingerprint of its inputs.
struct PagePlanned {
    synced: u64,
    current: String,
    text: String,
    summary: String,
    fingerprint: String,
}

/// Plans a quarter page against the store, revision `latest` being the one
/// the last pull merged: nothing to do (already checked with the same
/// inputs, the text unchanged, `{{nobots}}`), a dry run's diff, or the text
/// to save. Fields it cannot write are held as conflicts first.
async fn decide_quarter_page(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    q: Quarter,
    latest: &RevisionInfo,
) -> Result<Decided> {
    let year = views.get(page.fy).await?;
    let Some(synced) = year
        .pages
        .get(page.title)
        .map(|(revid, _)| *revid)
        .filter(|revid| *revid == latest.revid)
    else {
        return Ok(Decided::Final(Outcome::Refused {
            reason: "the page changed since the last pull (or a guard refused it); \
                     nothing is written until it merges"
                .into(),
        }));
    };
    let forced = views.taken_from_store(page.title, synced).await?;
    // Found already checked when read ahead: its records are not built again.
    if forced.is_empty() {
        if let Some(done) = views.checked_ahead(ctx, page.title, synced).await? {
            return Ok(Decided::Nothing(done));
        }
    }
    let year = views.get(page.fy).await?;
    let Some(shown) = year.pages.get(page.title).map(|(_, shown)| shown.clone()) else {
        anyhow::bail!("the store has no sync state of {:?}", page.title);
    };
    let records = records_for_page(page.fy, &year.fields, &year.pending, &shown)?;
    let mut fingerprint = ctx.fingerprint(renderer, page.title, &records);
    if !forced.is_empty() {
        // A person's decision to take the store's value is a new input.
        let keys: Vec<String> = forced.iter().map(ToString::to_string).collect();
        fingerprint = format!("{fingerprint} taken:{}", keys.join(","));
    }
    if let Some(done) = views.checked(ctx, page.title, synced, &fingerprint).await? {
        return Ok(Decided::Nothing(done));
    }
    let current = views.wikitext(ctx.wiki, synced).await?;
    if !bots_allowed(&current, ctx.user) {
        ctx.remember(page.title, synced, &fingerprint, CheckOutcome::Nobots)
            .await?;
        return Ok(Decided::Final(nobots_refusal()));
    }
    let kept = views.kept_by_a_person().await?;
    let eligible = prose_to_write(ctx.store, page.fy, &forced, &kept).await?;
    let plan = plan_checked(
        ctx,
        page,
        synced,
        &current,
        PlanInputs {
            shown: &shown,
            records: &records,
            renderer,
            quarter: q,
            forced: &forced,
            eligible: &eligible,
        },
    )
    .await?;
    for w in &plan.warnings {
        tracing::warn!(page = %page.title, "{w}");
        let w = (page.title.to_string(), w.clone());
        if !views.warnings.contains(&w) {
            views.warnings.push(w);
        }
    }
    if !plan.held.is_empty() && !ctx.dry_run {
        hold_unwritten(ctx, page, latest, synced, &plan.held).await?;
        views.conflicts = None;
    }
    if plan.text == current {
        // With fields held, the next run plans again (they are then
        // pending conflicts, which the fingerprint does not see yet).
        if plan.held.is_empty() {
            ctx.remember(page.title, synced, &fingerprint, CheckOutcome::Unchanged)
                .await?;
        }
        return Ok(Decided::Nothing(Outcome::Unchanged));
    }
    if ctx.dry_run {
        return Ok(Decided::Final(Outcome::WouldEdit {
            diff: unified_diff(page.title, &current, &plan.text),
        }));
    }
    let sources = change_sources(ctx.store, &plan, &shown, &records).await?;
    let summary = format!("{} [run {}]", plan.summary_from(&sources), ctx.run_id);
    Ok(Decided::Save(PagePlanned {
        synced,
        current,
        text: plan.text,
        summary,
        fingerprint,
    }))
}

/// After the bot's save of `text` as revision `newrevid` straight on the
/// revision it planned against: the store learns the new revision is this
/// text (as the wiki stores it, unless its save transform changed more:
/// the SHA-1 check says so), its reading, and that it needs nothing.
async fn settle_own_save(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    page: &PageJob<'_>,
    q: Quarter,
    text: &str,
    newrevid: u64,
    fingerprint: &str,
) -> Result<()> {
    ctx.store
        .set_saved_text(page.title, newrevid, as_stored(text), chrono::Utc::now())
        .await?;
    refresh_page_state(
        ctx.wiki,
        ctx.store,
        page.title,
        page.fy,
        q,
        newrevid,
        &ctx.config.palette(),
    )
    .await?;
    views.changed(page.fy);
    ctx.store.clear_push_intent(page.title).await?;
    ctx.remember(page.title, newrevid, fingerprint, CheckOutcome::Unchanged)
        .await?;
    Ok(())
}

/// Where the store's values that `plan` writes came from (the latest
/// change of each field it shows anew), for its edit summary: one history
/// query per record it changes. A status cell is credited to the field it
/// shows anew (`records` against what the page showed, `shown`): a note a
/// person wrote is not credited to a tracker status held in a conflict.
async fn change_sources(
    store: &Store,
    plan: &crate::core::plan::PagePlan,
    shown: &FiscalYearRecords,
    records: &FiscalYearRecords,
) -> Result<crate::core::plan::Sources> {
    let (before, after) = (
        crate::core::fields::flatten(shown),
        crate::core::fields::flatten(records),
    );
    let cell = |k: &FieldKey| {
        k.field.starts_with("quarters.")
            && (k.field.ends_with(".status") || k.field.ends_with(".note"))
    };
    use crate::core::plan::ChangeSource;
    let records: BTreeSet<&str> = plan
        .changed
        .iter()
        .map(|(kr, _)| kr.as_str())
        .chain(plan.prose.iter().map(|k| k.record.as_str()))
        .collect();
    let mut out = crate::core::plan::Sources::new();
    for record in records {
        for entry in store.history(record).await? {
            let source = match entry.provenance.source {
                Source::Wiki {
                    page, revid, user, ..
                } => ChangeSource::Wiki { user, page, revid },
                Source::Tracker { operator, .. } => ChangeSource::Tracker { operator },
            };
            // Later entries replace earlier ones: the latest change wins.
            out.insert(entry.key, source);
        }
    }
    out.retain(|k, _| !cell(k) || before.get(k) != after.get(k));
    Ok(out)
}

/// What one quarter page's plan is made of, besides its wikitext.
struct PlanInputs<'a> {
    shown: &'a FiscalYearRecords,
    records: &'a FiscalYearRecords,
    renderer: &'a Renderer,
    quarter: Quarter,
    forced: &'a BTreeSet<FieldKey>,
    eligible: &'a BTreeSet<FieldKey>,
}

/// Plans a quarter page at revision `synced` (wikitext `current`), writing
/// into staff tables only where the wiki agrees with the reader: a staff
/// table found for the first time is parsed from the page's HTML (which rows
/// are which KRs), and a staff table whose text has no verdict yet is
/// compared with the wiki's parse of this revision ([`table_check`]), the
/// verdict kept by the table's digest. Each costs one HTML read of the
/// revision, only when needed; the page is then planned again.
async fn plan_checked(
    ctx: &PushContext<'_>,
    page: &PageJob<'_>,
    synced: u64,
    current: &str,
    inputs: PlanInputs<'_>,
) -> Result<crate::core::plan::PagePlan> {
    let palette = ctx.config.palette();
    // The verdicts of the page's tables other than the bot's own (none
    // asked for on a page without such tables).
    let digests: Vec<String> = crate::core::wikitable::tables_in(current, 0..current.len())
        .iter()
        .filter(|t| !current[t.open.clone()].contains("goalsbot-status"))
        .map(|t| table_check::digest(current, t))
        .collect();
    let mut verdicts = if digests.is_empty() {
        table_check::Verdicts::new()
    } else {
        ctx.store.table_checks(&digests).await?
    };
    let mut staff = None;
    let mut html: Option<String> = None;
    for _ in 0..4 {
        let plan = plan_quarter_page_with(
            current,
            inputs.shown,
            inputs.records,
            inputs.renderer,
            Adoption {
                staff: staff.as_ref(),
                palette: Some(&palette),
                quarter: Some(inputs.quarter),
                forced: Some(inputs.forced),
                eligible: Some(inputs.eligible),
                verdicts: Some(&verdicts),
            },
        )?;
        let wants_staff = plan.needs_staff_tables && staff.is_none();
        if !wants_staff && plan.unchecked.is_empty() {
            if !ctx.dry_run {
                let now = chrono::Utc::now();
                for (digest, verdict) in table_check::derived(current, &plan.text, &verdicts) {
                    ctx.store.set_table_check(&digest, &verdict, now).await?;
                }
            }
            return Ok(plan);
        }
        if html.is_none() {
            html = Some(ctx.wiki.revision_html(page.title, synced).await?);
        }
        let html = html.as_deref().unwrap_or_default();
        if wants_staff {
            staff =
                Some(parse_quarter_page_with(html, page.fy, inputs.quarter, &palette).staff_tables);
        }
        if !plan.unchecked.is_empty() {
            check_tables(
                ctx,
                page.title,
                current,
                html,
                &plan.unchecked,
                &mut verdicts,
            )
            .await?;
        }
    }
    anyhow::bail!(
        "planning {:?} did not settle after its staff tables were read",
        page.title
    )
}

/// Compares the tables of `unchecked` digests with the wiki's parse (`html`
/// of the same text) and keeps each verdict; a disagreement is logged.
async fn check_tables(
    ctx: &PushContext<'_>,
    title: &str,
    text: &str,
    html: &str,
    unchecked: &[String],
    verdicts: &mut table_check::Verdicts,
) -> Result<()> {
    let now = chrono::Utc::now();
    for (_, digest, verdict) in table_check::check(text, html) {
        if !unchecked.contains(&digest) || verdicts.contains_key(&digest) {
            continue;
        }
        if let table_check::Verdict::Differs(why) = &verdict {
            tracing::warn!(page = %title, "a staff table is read otherwise by the wiki: {why}");
        }
        if !ctx.dry_run {
            ctx.store.set_table_check(&digest, &verdict, now).await?;
        }
        verdicts.insert(digest, verdict);
    }
    for digest in unchecked {
        // A table the wiki's parse does not show at all.
        verdicts.entry(digest.clone()).or_insert_with(|| {
            table_check::Verdict::Differs("the wiki's parse shows no such table".into())
        });
    }
    Ok(())
}

/// Which prose fields push writes into a page: those whose last word in
/// the store was the tracker's — a tracker edit (`set`, `import`, `resolve`)
/// or a person's decision to keep the store's value (`kept`, which changes
/// nothing in history but settles the field for every page) — and those a
/// person settled by taking the store's value for this page
/// ([`taken_from_store`]). A page that simply shows another wording than a
/// later quarter's page (staff reworded a KR from one quarter to the next)
/// is left as staff wrote it.
async fn prose_to_write(
    store: &Store,
    fy: &FiscalYear,
    taken: &BTreeSet<FieldKey>,
    kept: &[(FieldKey, DateTime<Utc>)],
) -> Result<BTreeSet<FieldKey>> {
    let mut last: BTreeMap<FieldKey, (DateTime<Utc>, bool)> = BTreeMap::new();
    for h in store
        .history_since(fy, chrono::DateTime::UNIX_EPOCH)
        .await?
    {
        let tracker = matches!(h.provenance.source, Source::Tracker { .. });
        last.insert(h.key, (h.provenance.at, tracker));
    }
    for (key, at) in kept {
        let e = last.entry(key.clone()).or_insert((*at, true));
        if *at >= e.0 {
            *e = (*at, true);
        }
    }
    let mut eligible: BTreeSet<FieldKey> = last
        .into_iter()
        .filter_map(|(k, (_, tracker))| tracker.then_some(k))
        .collect();
    eligible.extend(taken.iter().cloned());
    Ok(eligible)
}

/// The fields of page `title` a person settled by taking the store's value
/// while the page stood at revision `synced`, for conflicts push held
/// (writing them drops markup): now written whole.
fn taken_from_store(
    conflicts: &[crate::store::StoredConflict],
    title: &str,
    synced: u64,
) -> BTreeSet<FieldKey> {
    conflicts
        .iter()
        .filter(|c| c.page == title && c.revid == synced && c.base == c.wiki)
        .filter(|c| {
            c.resolution
                .as_ref()
                .is_some_and(|r| r.how == crate::store::Settlement::Store)
        })
        .map(|c| c.key.clone())
        .collect()
}

/// Prose fields the plan could not write become conflicts (once per field
/// and page), each with the page's and the store's value and the reason.
async fn hold_unwritten(
    ctx: &PushContext<'_>,
    page: &PageJob<'_>,
    latest: &RevisionInfo,
    synced: u64,
    held: &[crate::core::prose::Held],
) -> Result<()> {
    for h in held {
        tracing::warn!(page = %page.title, field = %h.key, "not written, held as a conflict: {}", h.why);
    }
    let provenance = Provenance {
        at: chrono::Utc::now(),
        run_id: ctx.run_id.to_string(),
        source: Source::Wiki {
            page: page.title.to_string(),
            revid: synced,
            user: Some(latest.user.clone()).filter(|u| !u.is_empty()),
            timestamp: chrono::Utc::now(),
        },
    };
    let list: Vec<_> = held
        .iter()
        .map(|h| (h.key.clone(), h.page.clone(), h.store.clone()))
        .collect();
    // Who wrote the page's side: the revision's author, unless that is the
    // bot's own edit (then it is not known here, and not claimed).
    let same = |a: &str, b: &str| {
        a.replace('_', " ")
            .eq_ignore_ascii_case(&b.replace('_', " "))
    };
    let user = Some(latest.user.clone()).filter(|u| {
        !u.is_empty() && !same(u, ctx.user) && !same(u, ctx.user.split('@').next().unwrap_or(""))
    });
    ctx.store
        .hold_unwritten(&provenance, page.title, synced, user, &list)
        .await?;
    Ok(())
}

/// Saves a quarter page's new text against revision `synced`, with the
/// push intent written first and the edit logged after; `None` after an edit
/// conflict (nothing saved).
/// Before a save: the login (made now for a run's first save) must have the
/// bot flag, else [`NotABot`] (the page, and every page after it, is refused).
async fn refuse_without_the_bot_flag(ctx: &PushContext<'_>) -> Result<()> {
    match ctx.wiki.bot_flag_refusal().await? {
        Some(reason) => {
            tracing::error!("{reason}");
            Err(NotABot { reason }.into())
        }
        None => Ok(()),
    }
}

async fn save_with_intent(
    ctx: &PushContext<'_>,
    page: &PageJob<'_>,
    synced: u64,
    text: &str,
    summary: &str,
) -> Result<Option<Saved>> {
    refuse_without_the_bot_flag(ctx).await?;
    // Written before the save: a run killed after the save but before the
    // page's new state is recorded lets the next pull recognise the
    // bot's own revision (see `pull::recover_own_save`).
    ctx.store
        .set_push_intent(page.title, synced, ctx.run_id, chrono::Utc::now())
        .await?;
    crate::fault::reached("push.before-save");
    // Another run may hold the lease now (this one was frozen past its
    // expiry): never two writers on one page.
    if let Some(reason) = crate::ops::runs::lease_lost() {
        anyhow::bail!("{reason}");
    }
    let saved = match ctx
        .wiki
        .save(&page.rev.title, text, summary, Some(synced))
        .await
    {
        Ok(saved) => saved,
        Err(e) if e.downcast_ref::<EditConflict>().is_some() => return Ok(None),
        Err(e) => return Err(e),
    };
    ctx.log_edit(page.title, saved, Some(synced), summary)
        .await?;
    crate::fault::reached("push.after-save");
    Ok(Some(saved))
}

/// After an edit conflict: pull the page's latest revision into the store
/// (three-way merge, conflicts held), and return that revision.
async fn repull(ctx: &PushContext<'_>, page: &PageJob<'_>, q: Quarter) -> Result<RevisionInfo> {
    let latest = ctx
        .latest(page.title)
        .await?
        .with_context(|| format!("{:?} was deleted while the bot saved it", page.title))?;
    let target = crate::ops::pull::Target {
        title: page.title.to_string(),
        fiscal_year: page.fy.clone(),
        quarter: q,
    };
    let opts = crate::ops::pull::Options::new(ctx.config, ctx.run_id, false);
    let outcome = crate::ops::pull::pull_page(
        ctx.wiki,
        ctx.store,
        &target,
        &page.rev.title,
        &latest,
        &opts,
    )
    .await?;
    if let crate::ops::pull::Outcome::Refused { reason, .. } = outcome {
        bail!("after an edit conflict the page was refused: {reason}");
    }
    Ok(latest)
}

/// Plans the overview page of a year against revision `latest` (`None`:
/// the page does not exist yet): `Break` with the outcome when there is
/// nothing to save (`{{nobots}}`, unchanged, a dry run's diff), else the
/// revision to save over, its text and the new text.
async fn decide_overview(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    records: &FiscalYearRecords,
    fingerprint: &str,
    latest: &Option<RevisionInfo>,
) -> Result<ControlFlow<Outcome, (Option<u64>, String, String)>> {
    let current = match &latest {
        Some(l) => Some(views.wikitext(ctx.wiki, l.revid).await?),
        None => None,
    };
    let base = latest.as_ref().map(|l| l.revid);
    if current
        .as_deref()
        .is_some_and(|c| !bots_allowed(c, ctx.user))
    {
        if let Some(b) = base {
            ctx.remember(page.title, b, fingerprint, CheckOutcome::Nobots)
                .await?;
        }
        return Ok(ControlFlow::Break(nobots_refusal()));
    }
    let quarter_page = |q| ctx.config.pages.quarter_page(page.fy, q);
    let new = plan_overview(current.as_deref(), page.fy, records, quarter_page, renderer)?;
    if current.as_deref() == Some(new.as_str()) {
        if let Some(b) = base {
            ctx.remember(page.title, b, fingerprint, CheckOutcome::Unchanged)
                .await?;
        }
        return Ok(ControlFlow::Break(Outcome::Unchanged));
    }
    let old = current.unwrap_or_default();
    if ctx.dry_run {
        return Ok(ControlFlow::Break(Outcome::WouldEdit {
            diff: unified_diff(page.title, &old, &new),
        }));
    }
    Ok(ControlFlow::Continue((base, old, new)))
}

/// Pushes a year's overview page: decides its text ([`decide_overview`]),
/// then saves it; an edit conflict reads the page again, a few times at most.
async fn push_overview(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
) -> Result<Outcome> {
    if let Some(reason) = page.rev.redirect_refusal() {
        return Ok(Outcome::Refused { reason });
    }
    // Found already checked when read ahead: its records are not built again.
    if let Some(l) = &page.rev.latest {
        if let Some(done) = views.checked_ahead(ctx, page.title, l.revid).await? {
            return Ok(done);
        }
    }
    let year = views.get(page.fy).await?;
    let records = crate::core::fields::unflatten(page.fy, &year.fields)?;
    if records.objectives.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    let fingerprint = ctx.fingerprint(renderer, page.title, &records);
    let mut latest = page.rev.latest.clone();
    for attempt in 0..=EDIT_CONFLICT_RETRIES {
        if let Some(l) = &latest {
            if let Some(done) = views
                .checked(ctx, page.title, l.revid, &fingerprint)
                .await?
            {
                return Ok(done);
            }
        }
        let (base, old, new) =
            match decide_overview(ctx, views, renderer, page, &records, &fingerprint, &latest)
                .await?
            {
                ControlFlow::Break(outcome) => return Ok(outcome),
                ControlFlow::Continue(planned) => planned,
            };
        let summary = format!("goalsbot: year overview from tracker [run {}]", ctx.run_id);
        if let Some(reason) = ctx.stop_reason().await? {
            tracing::warn!(page = %page.title, "not saved: {reason}");
            return Ok(Outcome::Stopped { reason });
        }
        refuse_without_the_bot_flag(ctx).await?;
        let saved = match ctx.wiki.save(&page.rev.title, &new, &summary, base).await {
            Ok(saved) => saved,
            Err(e) if e.downcast_ref::<EditConflict>().is_some() => {
                tracing::warn!(page = %page.title, attempt, "edit conflict: reading the page again");
                latest = ctx.latest(page.title).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        ctx.log_edit(page.title, saved, base, &summary).await?;
        if saved.oldrevid == base {
            ctx.store
                .set_saved_text(
                    page.title,
                    saved.newrevid,
                    as_stored(&new),
                    chrono::Utc::now(),
                )
                .await?;
        }
        ctx.remember(
            page.title,
            saved.newrevid,
            &fingerprint,
            CheckOutcome::Unchanged,
        )
        .await?;
        return Ok(Outcome::Edited {
            revid: saved.newrevid,
            summary,
            lines_changed: lines_changed(&old, &new),
        });
    }
    Ok(Outcome::Failed {
        error: format!(
            "the page kept changing while the bot saved it ({} edit conflicts); run again later",
            EDIT_CONFLICT_RETRIES + 1
        ),
    })
}
