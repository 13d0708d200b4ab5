//! A run's lifecycle (marked running, its summary recorded), the bot status page, and the emergency stop.
//!
//! The status page (`pages.status_page`) is rewritten after every run that
//! changed something, needs a person or failed. A run with nothing to do
//! after a good run (nothing to do, or changed) rewrites it only when the
//! page was last written more than a day ago, so that an hourly no-op sync
//! makes no edit (`docs/sync.md`: a no-op sync makes 0 edits) while the page
//! still shows, within a day, that the bot is alive; after a failed run or
//! one that needed a person, the next run rewrites it whatever it did.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};

use crate::config::{Config, RunConfig};
use crate::core::requests::shutoff_allows_running;
use crate::core::runlog::{
    self, ConflictLine, EditLink, RefusedPage, RunCounts, RunOutcome, RunSummary,
};
use crate::store::{
    CheckOutcome, LeaseClaim, LeaseHolder, PageCheck, RunEntry, RunState, Store, StoredConflict,
};
use crate::wiki::Wiki;

/// How long a status page showing a run may stand before a no-op run rewrites it.
pub const STATUS_REFRESH: Duration = Duration::hours(24);

/// Why the bot must not act, when the shutoff page says so (`docs/requests.md`).
///
/// `known` is the shutoff page's latest revision when the caller already
/// asked for it (a sync's batched revision check): when the store remembers
/// that revision's text, no request is made. Otherwise its text is fetched
/// (one API request) and remembered.
pub async fn shutoff_reason(
    config: &Config,
    wiki: &Wiki,
    store: &Store,
    known: Option<Option<u64>>,
) -> Result<Option<String>> {
    let Some(page) = config.commands.shutoff() else {
        return Ok(None);
    };
    let remembered = store.watch_state(page).await?;
    let text = match (known, remembered) {
        (Some(None), _) => None,
        (Some(Some(rev)), Some((r, text))) if r == rev => Some(text),
        _ => {
            let got = wiki
                .page_contents(&[page.to_string()])
                .await
                .with_context(|| format!("reading the shutoff page {page:?}"))?;
            match got.into_iter().next().flatten() {
                Some(p) => {
                    store.set_watch_state(page, p.revid, &p.content).await?;
                    Some(p.content)
                }
                None => None,
            }
        }
    };
    Ok(shutoff_message(page, text.as_deref()))
}

/// Why the shutoff page `page` holding `text` (`None`: missing) stops the bot; `None` when it says run.
pub fn shutoff_message(page: &str, text: Option<&str>) -> Option<String> {
    if shutoff_allows_running(text) {
        return None;
    }
    Some(match text {
        None => format!(
            "the shutoff page [[{page}]] does not exist; the bot acts only while it holds the single word \"run\" (create it with that text to start)"
        ),
        Some(t) => {
            let shown: String = t.trim().chars().take(60).collect();
            format!(
                "the shutoff page [[{page}]] says {shown:?}, not \"run\": the bot edits nothing and answers nothing until it says run"
            )
        }
    })
}

/// The conflict as the status page lists it.
impl From<&StoredConflict> for ConflictLine {
    fn from(c: &StoredConflict) -> ConflictLine {
        ConflictLine {
            id: c.id,
            record: c.key.record.clone(),
            field: c.key.field.clone(),
            page: Some(c.page.clone()),
            wiki: c.wiki.clone(),
            store: c.store.clone(),
            since: c.created_at,
            revid: Some(c.revid),
            wiki_user: c.wiki_user.clone(),
            store_by: None,
        }
    }
}

/// The waiting conflicts as the status page lists them, each with who made
/// the store's side (the field's last change before the conflict).
pub async fn waiting_conflicts(store: &Store) -> Result<Vec<ConflictLine>> {
    conflict_lines(store, store.conflicts(false).await?).await
}

/// `conflicts` as the wiki shows them, each with who made the store's value.
pub async fn conflict_lines(
    store: &Store,
    conflicts: Vec<crate::store::StoredConflict>,
) -> Result<Vec<ConflictLine>> {
    let mut out = Vec::new();
    for c in conflicts {
        let mut line = ConflictLine::from(&c);
        line.store_by =
            store
                .last_change(&c.key, c.created_at)
                .await?
                .map(|h| match h.provenance.source {
                    crate::store::Source::Tracker { operator, .. } => {
                        runlog::StoreAuthor::Tracker { operator }
                    }
                    crate::store::Source::Wiki {
                        user, page, revid, ..
                    } => runlog::StoreAuthor::Wiki { user, page, revid },
                });
        out.push(line);
    }
    Ok(out)
}

/// The edits a run saved, as diff links.
pub async fn edit_links(store: &Store, run_id: &str) -> Result<Vec<EditLink>> {
    Ok(store
        .edits_of_run(run_id)
        .await?
        .into_iter()
        .map(|e| EditLink {
            title: e.title,
            oldrevid: e.old_revid,
            newrevid: e.new_revid,
        })
        .collect())
}

/// A run that failed before it could say more.
pub fn failed_summary(
    run_id: &str,
    command: String,
    requested_by: Option<String>,
    started: DateTime<Utc>,
    error: &anyhow::Error,
) -> RunSummary {
    RunSummary {
        run_id: run_id.to_string(),
        command,
        requested_by,
        started,
        finished: Utc::now(),
        outcome: RunOutcome::Failed {
            error: format!("{error:#}"),
        },
        counts: RunCounts::default(),
        edits: Vec::new(),
        conflicts: Vec::new(),
        refused: Vec::new(),
        warnings: Vec::new(),
        dry_run: false,
    }
}

/// A run as the store and the status page show it: marked running when it
/// starts (so an on-wiki request meanwhile gets a pointer to it), and ended by
/// its summary. The one lifecycle of `sync` from the command line and of
/// every action `watch` runs.
pub struct Run<'a> {
    store: &'a Store,
    pub run_id: String,
    pub command: String,
    pub requested_by: Option<String>,
    pub started: DateTime<Utc>,
}

impl<'a> Run<'a> {
    /// A run starting now (not yet marked running).
    pub fn new(
        store: &'a Store,
        run_id: &str,
        command: String,
        requested_by: Option<String>,
    ) -> Run<'a> {
        Run {
            store,
            run_id: run_id.to_string(),
            command,
            requested_by,
            started: Utc::now(),
        }
    }

    /// Records the run as running (not in a dry run).
    pub async fn mark_running(&self) -> Result<()> {
        mark_running(self.store, &self.run_id, &self.command).await
    }

    /// Records the run's end (the status page is written by [`publish`], which records too).
    pub async fn record(&self, summary: &RunSummary) -> Result<()> {
        record(self.store, summary).await
    }

    /// The summary of this run when it failed before it could say more.
    pub fn failed(&self, error: &anyhow::Error) -> RunSummary {
        failed_summary(
            &self.run_id,
            self.command.clone(),
            self.requested_by.clone(),
            self.started,
            error,
        )
    }

    /// Ends a run the shutoff page stopped before it began.
    pub async fn stopped(&self) -> Result<()> {
        record_stopped(self.store, &self.run_id, &self.command).await
    }

    /// The run's summary from its counts, outcome and the edits the store logged for it.
    pub async fn summary(
        &self,
        counts: RunCounts,
        outcome: RunOutcome,
        conflicts: Vec<ConflictLine>,
        refused: Vec<RefusedPage>,
        dry_run: bool,
    ) -> Result<RunSummary> {
        Ok(RunSummary {
            run_id: self.run_id.clone(),
            command: self.command.clone(),
            requested_by: self.requested_by.clone(),
            started: self.started,
            finished: Utc::now(),
            outcome,
            counts,
            edits: edit_links(self.store, &self.run_id).await?,
            conflicts,
            refused,
            warnings: Vec::new(),
            dry_run,
        })
    }
}

/// The writer's lease held by this run (`[run]` in the config): renewed in
/// the background, a heartbeat every third of its expiry, and given back by
/// [`Lease::release`]. A run that ends without releasing it (killed) stops
/// holding it when it expires.
pub struct Lease {
    store: Store,
    run_id: String,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// Set when this process's lease was lost: another run holds it now, so
/// this one must not save (checked right before each page save).
static LEASE_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Why this run must not save any more: it lost the writer's lease.
pub fn lease_lost() -> Option<String> {
    LEASE_LOST
        .load(std::sync::atomic::Ordering::SeqCst)
        .then(|| {
            "this run lost its lease (it was frozen longer than [run] lease_expiry_secs and \
             another run took over): it saved nothing more; that run does the work"
                .to_string()
        })
}

/// What asking for the lease gave.
pub enum Taken {
    /// This run holds it.
    Held(Lease),
    /// Another run holds it (still, after the wait).
    Busy(LeaseHolder),
}

/// Takes the writer's lease for `run_id`, waiting up to `run.lease_wait_secs`
/// (`wait: false`: not at all) while another run holds it.
pub async fn take_lease(
    store: &Store,
    run: &RunConfig,
    run_id: &str,
    command: &str,
    wait: bool,
) -> Result<Taken> {
    let expiry = Duration::seconds(i64::try_from(run.lease_expiry_secs.max(1)).unwrap_or(60));
    let waited = std::time::Instant::now();
    let wait_for = std::time::Duration::from_secs(if wait { run.lease_wait_secs } else { 0 });
    let holder = holder_name();
    let mut announced: Option<String> = None;
    let mut gone: Option<String> = None;
    loop {
        let now = Utc::now();
        let claim = LeaseClaim {
            run_id,
            holder: &holder,
            command,
            now,
            expires_at: now + expiry,
            replacing: gone.as_deref(),
        };
        match store.take_lease(&claim).await? {
            Ok(()) => return Ok(Taken::Held(Lease::start(store, run_id, expiry))),
            // A holder on this machine whose process is gone (killed, crashed)
            // holds nothing: taken over at once rather than after its expiry.
            Err(held) if gone.is_none() && holder_is_gone(&held.holder) => {
                tracing::warn!(
                    "run {} ({}) ended without giving the lease back (its process {} is gone); taking it over",
                    held.run_id,
                    held.command,
                    held.holder
                );
                gone = Some(held.run_id);
            }
            Err(held) if waited.elapsed() >= wait_for => return Ok(Taken::Busy(held)),
            Err(held) => {
                if announced.as_deref() != Some(held.run_id.as_str()) {
                    tracing::info!(
                        "waiting for run {} ({}) to end before this one starts",
                        held.run_id,
                        held.command
                    );
                    announced = Some(held.run_id);
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
}

/// This machine's name, for the lease's holder.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// `host:pid` of this process, for the lease's holder.
fn holder_name() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// Whether `holder` (`host:pid`) is a process of this machine that is gone.
/// A holder elsewhere (another Toolforge pod) is never known to be gone: its
/// lease ends by expiring. A reused pid reads as alive: waiting is the safe side.
fn holder_is_gone(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    host == host_name()
        && pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
}

impl Lease {
    fn start(store: &Store, run_id: &str, expiry: Duration) -> Lease {
        let (beat_store, beat_run) = (store.clone(), run_id.to_string());
        let every = (expiry / 3)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1));
        let heartbeat = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let now = Utc::now();
                match beat_store.renew_lease(&beat_run, now, now + expiry).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(
                            "run {beat_run} lost its lease (it expired while the process was \
                             frozen, and another run took it): it saves no page from now on"
                        );
                        LEASE_LOST.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!("renewing the lease of run {beat_run}: {e:#}"),
                }
            }
        });
        Lease {
            store: store.clone(),
            run_id: run_id.to_string(),
            heartbeat,
        }
    }

    /// Gives the lease back.
    pub async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.store.release_lease(&self.run_id).await {
            tracing::warn!(
                "the lease of run {} was not given back (it expires by itself): {e:#}",
                self.run_id
            );
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// What a run that found another going says: `another run is going: RUN_ID (since …)`.
pub fn busy_message(held: &LeaseHolder) -> String {
    format!(
        "another run is going: {} (since {}: {} on {}); nothing was done",
        held.run_id,
        held.taken_at.to_rfc3339(),
        held.command,
        held.holder
    )
}

/// Marks a run as running (replaced by its summary when it ends), so that an
/// on-wiki request arriving meanwhile is answered with a pointer to it.
pub async fn mark_running(store: &Store, run_id: &str, command: &str) -> Result<()> {
    let now = Utc::now();
    store
        .record_run(&RunEntry {
            run_id: run_id.to_string(),
            command: command.to_string(),
            outcome: RunState::Running,
            started: now,
            finished: now,
            summary: serde_json::json!({}),
        })
        .await
}

/// Records a finished run in the store (replacing its running mark).
pub async fn record(store: &Store, summary: &RunSummary) -> Result<()> {
    record_as(store, summary, RunState::from(summary.outcome.as_str())).await
}

/// Records a finished run's summary with the state `outcome` (a run a
/// signal stopped between two saves is `stopped`, with what it did).
pub async fn record_as(store: &Store, summary: &RunSummary, outcome: RunState) -> Result<()> {
    store
        .record_run(&RunEntry {
            run_id: summary.run_id.clone(),
            command: summary.command.clone(),
            outcome,
            started: summary.started,
            finished: summary.finished,
            summary: serde_json::to_value(summary).context("serialising the run summary")?,
        })
        .await
}

/// Records that a run stopped at once (the shutoff page), replacing its running mark.
pub async fn record_stopped(store: &Store, run_id: &str, command: &str) -> Result<()> {
    let now = Utc::now();
    store
        .record_run(&RunEntry {
            run_id: run_id.to_string(),
            command: command.to_string(),
            outcome: RunState::Stopped,
            started: now,
            finished: now,
            summary: serde_json::json!({}),
        })
        .await
}

/// Records a finished run and rewrites the status page (see the module doc).
/// Returns the status page's new revision, if it was written. A dry run
/// records and writes nothing.
pub async fn publish(
    config: &Config,
    wiki: &Wiki,
    store: &Store,
    summary: &RunSummary,
) -> Result<Option<u64>> {
    if summary.dry_run {
        return Ok(None);
    }
    record(store, summary).await?;
    // The people in a new conflict hear of it from a signed notice.
    if let Err(e) = notify_conflicts(config, wiki, store).await {
        tracing::warn!(
            "the conflict notice was not posted (tried again after the next run): {e:#}"
        );
    }
    let title = config.pages.status_page();
    if title.is_empty() || shows_enough(store, &title, summary).await? {
        return Ok(None);
    }
    let pending = waiting_conflicts(store).await?;
    let recent: Vec<RunSummary> = store
        .recent_runs(20)
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_value(r.summary).ok())
        .collect();
    // The emergency stop holds the status page edit too (looked at again now).
    if let Some(reason) = shutoff_reason(config, wiki, store, None).await? {
        tracing::warn!("the status page was not written: {reason}");
        return Ok(None);
    }
    let text = runlog::render_status_page_for(summary, &pending, &recent, &config.command_page())?;
    let Some(rev) = wiki
        .latest_revisions(std::slice::from_ref(&title))
        .await?
        .pop()
    else {
        anyhow::bail!("no revision answer for the status page {title:?}");
    };
    if let Some(reason) = rev.redirect_refusal() {
        anyhow::bail!("the status page was not written: {reason}");
    }
    let latest = rev.latest.map(|l| l.revid);
    let summary_text = format!(
        "goalsbot: status after run {} ({})",
        summary.run_id,
        summary.outcome.label()
    );
    let saved = wiki
        .save_own_page(&title, &text, &summary_text, latest)
        .await
        .with_context(|| format!("writing the status page {title:?}"))?;
    // The page's check names the run the page shows (its fingerprint).
    let check = PageCheck {
        revid: saved.newrevid,
        fingerprint: summary.run_id.clone(),
        outcome: CheckOutcome::Unchanged,
    };
    store.set_page_check(&title, &check, Utc::now()).await?;
    Ok(Some(saved.newrevid))
}

/// Whether the status page may stay as it is for a run with nothing to do:
/// it shows a good run (nothing to do, or changed) written less than
/// [`STATUS_REFRESH`] ago, with the same warnings. After a failure or a run
/// that needed a person, it is rewritten to show that things are fine again.
async fn shows_enough(store: &Store, title: &str, summary: &RunSummary) -> Result<bool> {
    if summary.outcome != RunOutcome::NothingToDo {
        return Ok(false);
    }
    let Some(check) = store.page_check(title).await? else {
        return Ok(false);
    };
    let Some(shown) = store.run(&check.fingerprint).await? else {
        // A check written before the page named its run, or a run forgotten.
        return Ok(false);
    };
    let good = matches!(shown.outcome, RunState::NothingToDo | RunState::Changed);
    // A warning the page does not show yet (a year about to start) is news.
    let same_warnings = serde_json::from_value::<RunSummary>(shown.summary.clone())
        .is_ok_and(|s| s.warnings == summary.warnings);
    Ok(good && same_warnings && summary.finished - shown.finished < STATUS_REFRESH)
}

/// A run id: the UTC minute plus four hex digits, e.g. `2020-12-01T10:00Z-7f3a`.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.timestamp_nanos_opt().unwrap_or_default() as u128);
    h.write_u32(std::process::id());
    format!(
        "{}-{:04x}",
        now.format("%Y-%m-%dT%H:%MZ"),
        h.finish() & 0xffff
    )
}

/// `goalsbot runs`: the runs that finished last, newest first — outcome,
/// edits with their revision ids, conflicts found, pages refused — as text
/// or, with `--json`, as a JSON array.
pub async fn runs_command(
    config: &Config,
    limit: u32,
    json: bool,
) -> Result<crate::error::ExitCode> {
    let store = crate::ops::open_store(config).await?;
    let runs = store.recent_runs(limit).await;
    store.close().await;
    let runs = runs?;
    if json {
        let list: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "run_id": r.run_id,
                    "command": r.command,
                    "state": r.outcome.as_str(),
                    "started": r.started.to_rfc3339(),
                    "finished": r.finished.to_rfc3339(),
                    "summary": r.summary,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(crate::error::ExitCode::Ok);
    }
    if runs.is_empty() {
        println!("no runs recorded yet");
    }
    for r in &runs {
        print!("{}", describe_run(r));
    }
    Ok(crate::error::ExitCode::Ok)
}

/// A run as lines of text: its head line, then its edits, conflicts and
/// refusals, one per line.
fn describe_run(r: &crate::store::RunEntry) -> String {
    let secs = (r.finished - r.started).num_seconds().max(0);
    let mut out = format!(
        "{}  {}  {}  (started {}, {secs} s)\n",
        r.run_id,
        r.command,
        r.outcome.as_str(),
        r.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let Ok(s) = serde_json::from_value::<RunSummary>(r.summary.clone()) else {
        return out;
    };
    if let Some(by) = &s.requested_by {
        out.push_str(&format!("  asked on the wiki by {by}\n"));
    }
    for e in &s.edits {
        let was = e
            .oldrevid
            .map_or_else(|| "created".to_string(), |o| format!("was r{o}"));
        out.push_str(&format!(
            "  edit      {} r{} ({was})\n",
            e.title, e.newrevid
        ));
    }
    for c in &s.conflicts {
        let page = c
            .page
            .as_deref()
            .map_or(String::new(), |p| format!(" on {p}"));
        out.push_str(&format!(
            "  conflict  #{} {} {}{page}\n",
            c.id, c.record, c.field
        ));
    }
    for p in &s.refused {
        out.push_str(&format!("  refused   {}: {}\n", p.title, p.reason));
    }
    for p in &s.warnings {
        out.push_str(&format!("  warning   {}: {}\n", p.title, p.reason));
    }
    out
}

// ---------------------------------------------------------------------------
// Conflict notices
//
// Conflict notices (`docs/requests.md`, "Conflict notices"): after a run,
// the conflicts no notice has named yet get one signed new section on the
// command page that mentions the people whose values disagree, so that
// MediaWiki's Echo notifies them. Each conflict is noticed once: the store
// records the notice's revision, and a hidden marker per conflict on the
// page covers a run stopped between the save and that record.
//
// Costs nothing when there is nothing to notice (one store query); else one
// read of the command page and one save.

/// Posts the notice of the conflicts no notice has named yet. Returns the
/// command page's revision that holds it (`None`: nothing to notice, or
/// held by the shutoff page or `{{nobots}}`, said in the log).
pub async fn notify_conflicts(config: &Config, wiki: &Wiki, store: &Store) -> Result<Option<u64>> {
    let fresh = store.unnoticed_conflicts().await?;
    if fresh.is_empty() {
        return Ok(None);
    }
    if let Some(reason) = shutoff_reason(config, wiki, store, None).await? {
        tracing::warn!("conflict notices not posted: {reason}");
        return Ok(None);
    }
    let page = config.command_page();
    let bot = wiki.user_name_now().await?;
    let current = wiki
        .page_contents(std::slice::from_ref(&page))
        .await
        .with_context(|| format!("reading the command page {page:?}"))?
        .pop()
        .flatten();
    let mut todo = fresh;
    if let Some(c) = &current {
        if !crate::core::wikitext::bots_allowed(&c.content, &bot) {
            tracing::warn!(page = %page, "conflict notices not posted: the command page refuses bots ({{{{nobots}}}})");
            return Ok(None);
        }
        // Noticed by a run that stopped before it could record so.
        let there = runlog::noticed_ids(&c.content);
        let (done, rest): (Vec<_>, Vec<_>) = todo.into_iter().partition(|x| there.contains(&x.id));
        let ids: Vec<i64> = done.iter().map(|x| x.id).collect();
        store.mark_noticed(&ids, c.revid).await?;
        todo = rest;
    }
    if todo.is_empty() {
        return Ok(None);
    }
    let lines = conflict_lines(store, todo).await?;
    let status_page = Some(config.pages.status_page()).filter(|s| !s.is_empty());
    let notice = runlog::render_conflict_notice(&lines, &bot, status_page.as_deref())?;
    let summary = format!("goalsbot: {}", notice.title);
    let saved = wiki
        .new_section(&page, &notice.title, &notice.text, &summary)
        .await
        .with_context(|| format!("posting the conflict notice on {page:?}"))?;
    let ids: Vec<i64> = lines.iter().map(|l| l.id).collect();
    store.mark_noticed(&ids, saved).await?;
    tracing::info!(page = %page, revid = saved, conflicts = ids.len(), "conflict notice posted");
    Ok(Some(saved))
}
