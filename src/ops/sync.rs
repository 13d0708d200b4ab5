//! `goalsbot sync`: pull (three-way merge, `sync.md`) then push, with one
//! revision check for every tracked page, and the run's statistics.
//!
//! The latest revisions of all tracked pages (the quarter pages and the year
//! overviews) are asked for once, in batches of 50 titles; pull and push both
//! work from that answer. A page whose revision is the one last synced is not
//! fetched, and a page the bot planned before with the same inputs is not
//! fetched either, so a sync with nothing to do costs ⌈N/50⌉ API requests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::core::fields;
use crate::core::records::FiscalYear;
use crate::core::runlog::ConflictLine;
use crate::core::runlog::{RefusedPage, RunCounts, RunOutcome, RunSummary};
use crate::error::ExitCode;
use crate::ops::pull::{self, Target};
use crate::ops::push::{self, Overlay, PushContext};
use crate::ops::runs::edit_links;
use crate::store::{Store, StoredConflict};
use crate::wiki::{Counts, Wiki};

/// What one sync runs with.
pub struct SyncContext<'a> {
    pub config: &'a Config,
    pub wiki: &'a Wiki,
    pub store: &'a Store,
    pub run_id: &'a str,
    pub dry_run: bool,
    /// The bot's user name, for `{{bots|deny=…}}`.
    pub user: &'a str,
}

/// A page left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub page: String,
    pub reason: String,
}

/// The counters of `cli.md` (`sync --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub run_id: String,
    /// Tracked pages whose revision was checked (quarter pages and overviews).
    pub pages_checked: usize,
    /// Pages that changed on the wiki since the last sync, or that the bot edited (each counted once).
    pub pages_changed: usize,
    pub html_fetches: u64,
    /// API requests after login (revision checks, wikitext reads, saves).
    pub api_requests: u64,
    pub edits: u64,
    /// Store fields changed by this run's pull.
    pub records_changed: usize,
    /// Conflicts waiting for a person after this run (see `goalsbot conflicts`).
    pub conflicts: usize,
    /// Of those, found by this run.
    pub new_conflicts: usize,
    /// Pages left alone: safety guards, `{{nobots}}`, failures.
    pub refused: Vec<Refused>,
    /// Set when the shutoff page stopped the run midway (why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Pages the stop kept from being saved (or looked at).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_saved: Vec<String>,
    pub dry_run: bool,
    pub duration_ms: u64,
}

/// The result of a sync.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// Set when the shutoff page stopped the run before it began (nothing was done).
    pub stopped: Option<String>,
    pub pull: pull::Report,
    pub push: push::Report,
    /// Conflicts pending after the run (in a dry run: those stored plus those it would add).
    pub pending: Vec<StoredConflict>,
    pub stats: Stats,
}

impl SyncReport {
    /// 1 when a page failed, 3 when something waits for a person (conflicts,
    /// refused pages, `{{nobots}}`), else 0.
    pub fn exit_code(&self) -> ExitCode {
        let pull = self.pull.exit_code();
        let push = self.push.exit_code();
        if pull == ExitCode::Failed || push == ExitCode::Failed {
            ExitCode::Failed
        } else if pull == ExitCode::NeedsPerson
            || push == ExitCode::NeedsPerson
            || self.stats.conflicts > 0
        {
            ExitCode::NeedsPerson
        } else {
            ExitCode::Ok
        }
    }

    /// Whether the run changed anything (store or wiki, or would have in a dry run).
    pub fn changed_anything(&self) -> bool {
        self.stats.records_changed > 0
            || self.stats.edits > 0
            || self.stats.new_conflicts > 0
            || self
                .push
                .pages
                .iter()
                .any(|(_, o)| matches!(o, push::Outcome::WouldEdit { .. }))
    }

    /// The plain summary: what pull and push did per page, the conflicts, then the counters in words.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(reason) = &self.stopped {
            let _ = writeln!(out, "STOPPED run {}: {reason}", self.stats.run_id);
            return out;
        }
        let _ = writeln!(out, "== pull (wiki → store)");
        out.push_str(&self.pull.render());
        let _ = writeln!(out, "== push (store → wiki)");
        out.push_str(&self.push.render());
        if !self.pending.is_empty() {
            let _ = writeln!(
                out,
                "== {} conflicts wait for a person (goalsbot conflicts; goalsbot resolve ID --take wiki|store)",
                self.pending.len()
            );
            for c in &self.pending {
                let _ = writeln!(out, "{}", describe_conflict(c));
            }
        }
        let s = &self.stats;
        let _ = writeln!(
            out,
            "{}run {}: {} pages checked, {} changed; {} store fields changed; {} edits; \
             {} conflicts waiting ({} new); {} pages refused; {} API requests, {} HTML fetches; {} ms",
            if s.dry_run { "dry run (nothing written) " } else { "" },
            s.run_id,
            s.pages_checked,
            s.pages_changed,
            s.records_changed,
            s.edits,
            s.conflicts,
            s.new_conflicts,
            s.refused.len(),
            s.api_requests,
            s.html_fetches,
            s.duration_ms
        );
        out
    }

    /// The `sync --json` object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.stats).unwrap_or_else(|_| "{}".into()) + "\n"
    }
}

/// One line for a conflict: `#ID record field: wiki … ≠ store … (page, revision, user)`.
pub fn describe_conflict(c: &StoredConflict) -> String {
    let show = crate::core::fields::show_value;
    format!(
        "#{} {} {}: wiki {} ≠ store {} (from {} revision {}{}; found by run {})",
        c.id,
        c.key.record,
        c.key.field,
        show(&c.wiki),
        show(&c.store),
        c.page,
        c.revid,
        c.wiki_user
            .as_deref()
            .map(|u| format!(" by {u}"))
            .unwrap_or_default(),
        c.run_id
    )
}

/// Pulls every tracked page of `fys` (all configured years when empty) and pushes the store back.
pub async fn sync(ctx: &SyncContext<'_>, fys: &[FiscalYear]) -> Result<SyncReport> {
    let started = Instant::now();
    let config = ctx.config;
    let years: Vec<FiscalYear> = if fys.is_empty() {
        config.pages.fiscal_years.clone()
    } else {
        fys.to_vec()
    };
    let titles: Vec<String> = years
        .iter()
        .flat_map(|fy| push::year_titles(config, fy))
        .collect();
    // The shutoff page is checked in the same request as the goals pages.
    let shutoff = config.commands.shutoff();
    let mut asked = titles.clone();
    asked.extend(shutoff.map(String::from));
    let mut revisions = ctx
        .wiki
        .latest_revisions(&asked)
        .await
        .context("checking the latest revisions of the goals pages")?;
    if shutoff.is_some() {
        let rev = revisions.pop().map(|r| r.latest.map(|l| l.revid));
        if let Some(reason) =
            crate::ops::runs::shutoff_reason(config, ctx.wiki, ctx.store, rev).await?
        {
            if !ctx.dry_run {
                tracing::warn!("{reason}");
                return Ok(stopped(ctx, reason, titles.len(), started));
            }
            tracing::warn!("{reason} (a dry run goes on: it writes nothing)");
        }
    }
    let by_title: BTreeMap<String, crate::wiki::PageRevision> = revisions
        .iter()
        .map(|r| (r.requested.clone(), r.clone()))
        .collect();

    let targets: Vec<Target> = pull::targets(config, &years, &[])?;
    let target_revs = targets
        .iter()
        .map(|t| {
            by_title
                .get(&t.title)
                .cloned()
                .with_context(|| format!("no revision answer for {:?}", t.title))
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = pull::Options {
        run_id: ctx.run_id,
        dry_run: ctx.dry_run,
        max_removed_share: config.pages.max_removed_share,
    };
    let pulled = pull::pull_revisions(ctx.wiki, ctx.store, &targets, target_revs, &opts).await?;

    let overlay = if ctx.dry_run {
        Some(dry_overlay(ctx.store, &pulled).await?)
    } else {
        None
    };
    // The emergency stop is looked at again before each save of the push.
    let push_wiki = ctx.wiki.clone().obeying_shutoff();
    let push_ctx = PushContext {
        config,
        wiki: &push_wiki,
        store: ctx.store,
        run_id: ctx.run_id,
        dry_run: ctx.dry_run,
        user: ctx.user,
        revisions: Some(&by_title),
        overlay: overlay.as_ref(),
    };
    let pushed = push::push(&push_ctx, &years, &[]).await?;

    let mut pending = ctx.store.conflicts(false).await?;
    let fy_prefixes: Vec<String> = years.iter().map(|fy| format!("{fy}/")).collect();
    pending.retain(|c| fy_prefixes.iter().any(|p| c.key.record.starts_with(p)));
    let counts: Counts = ctx.wiki.counters().snapshot();
    let stats = stats(ctx, &titles, &pulled, &pushed, &pending, &counts, started);
    Ok(SyncReport {
        stopped: None,
        pull: pulled,
        push: pushed,
        pending,
        stats,
    })
}

/// The report of a sync the shutoff page stopped.
fn stopped(ctx: &SyncContext<'_>, reason: String, pages: usize, started: Instant) -> SyncReport {
    let counts = ctx.wiki.counters().snapshot();
    SyncReport {
        stopped: Some(reason),
        pull: pull::Report {
            run_id: ctx.run_id.to_string(),
            ..pull::Report::default()
        },
        push: push::Report {
            run_id: ctx.run_id.to_string(),
            ..push::Report::default()
        },
        pending: Vec::new(),
        stats: Stats {
            run_id: ctx.run_id.to_string(),
            pages_checked: pages,
            pages_changed: 0,
            html_fetches: counts.html_fetches,
            api_requests: counts.api_requests,
            edits: counts.edits,
            records_changed: 0,
            conflicts: 0,
            new_conflicts: 0,
            refused: Vec::new(),
            stopped: None,
            not_saved: Vec::new(),
            dry_run: ctx.dry_run,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
    }
}

/// The store as a dry-run pull would have left it.
async fn dry_overlay(store: &Store, pulled: &pull::Report) -> Result<Overlay> {
    let mut overlay = Overlay::default();
    for (target, outcome) in &pulled.pages {
        let pull::Outcome::Pulled {
            revid,
            dry: Some(dry),
            ..
        } = outcome
        else {
            continue;
        };
        if !overlay.fields.contains_key(&target.fiscal_year) {
            let f = store.load_fields(&target.fiscal_year).await?;
            overlay.fields.insert(target.fiscal_year.clone(), f);
        }
        if let Some(f) = overlay.fields.get_mut(&target.fiscal_year) {
            fields::apply(f, &dry.changes);
        }
        overlay
            .pages
            .insert(target.title.clone(), (*revid, dry.records.clone()));
        overlay.conflicts.extend(dry.conflicts.iter().cloned());
    }
    Ok(overlay)
}

fn stats(
    ctx: &SyncContext<'_>,
    titles: &[String],
    pulled: &pull::Report,
    pushed: &push::Report,
    pending: &[StoredConflict],
    counts: &Counts,
    started: Instant,
) -> Stats {
    let mut changed = std::collections::BTreeSet::new();
    let mut refused = Vec::new();
    let mut records_changed = 0;
    let mut new_conflicts = 0;
    let mut not_saved = Vec::new();
    for (t, o) in &pulled.pages {
        match o {
            pull::Outcome::Pulled {
                changes, conflicts, ..
            } => {
                changed.insert(t.title.clone());
                records_changed += changes;
                new_conflicts += conflicts.len();
            }
            pull::Outcome::Refused { reason, .. } => refused.push(Refused {
                page: t.title.clone(),
                reason: reason.clone(),
            }),
            pull::Outcome::Failed { error } => refused.push(Refused {
                page: t.title.clone(),
                reason: format!("failed: {error}"),
            }),
            _ => {}
        }
    }
    for (title, o) in &pushed.pages {
        match o {
            push::Outcome::Edited { .. } | push::Outcome::WouldEdit { .. } => {
                changed.insert(title.clone());
            }
            push::Outcome::Refused { reason } if !refused.iter().any(|r| &r.page == title) => {
                refused.push(Refused {
                    page: title.clone(),
                    reason: reason.clone(),
                });
            }
            push::Outcome::Failed { error } => refused.push(Refused {
                page: title.clone(),
                reason: format!("failed: {error}"),
            }),
            push::Outcome::Stopped { .. } => not_saved.push(title.clone()),
            _ => {}
        }
    }
    let would_conflict = if ctx.dry_run { new_conflicts } else { 0 };
    Stats {
        run_id: ctx.run_id.to_string(),
        pages_checked: titles.len(),
        pages_changed: changed.len(),
        html_fetches: counts.html_fetches,
        api_requests: counts.api_requests,
        edits: counts.edits,
        records_changed,
        conflicts: pending.len() + would_conflict,
        new_conflicts,
        refused,
        stopped: pushed.stopped.clone(),
        not_saved,
        dry_run: ctx.dry_run,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// `goalsbot resolve ID --take wiki|store`: closes a pending conflict as a
/// person decided. Taking the wiki's value changes the store (with the
/// operator as author, in the same transaction); keeping the store's value
/// lets the next push write it to the page.
pub async fn resolve(
    store: &Store,
    fresh: Option<(&Config, &Wiki)>,
    id: i64,
    take: crate::store::Take,
    command: &str,
    dry_run: bool,
) -> Result<(String, ExitCode)> {
    use crate::error::UsageError;
    use crate::store::{Provenance, Source, Take};
    let pending = |id| async move {
        let Some(c) = store.conflict(id).await? else {
            return Err(anyhow::Error::from(UsageError::new(format!(
                "there is no conflict #{id}; `goalsbot conflicts` lists the waiting ones"
            ))));
        };
        if let Some(r) = &c.resolution {
            return Err(UsageError::new(format!(
                "conflict #{id} is already resolved ({} by {} at {}); nothing to do",
                r.how,
                r.by,
                r.at.to_rfc3339()
            ))
            .into());
        }
        Ok(c)
    };
    let mut c = pending(id).await?;
    // A person decides on what the pages and the store say now: the year's
    // pages are pulled first (the conflict follows its page). If that settled
    // the conflict, or changed its wiki value or the store's, the decision is
    // not taken: the person has not seen it.
    if let (Some((config, wiki)), false) = (fresh, dry_run) {
        let seen = c.wiki.clone();
        let fy = crate::store::record_fiscal_year(&c.key.record)?;
        let stored = store.load_fields(&fy).await?.get(&c.key).cloned();
        // Every quarter page of the year shows the field: one revision
        // check, and the pages that changed are pulled.
        let targets = pull::targets(config, std::slice::from_ref(&fy), &[])?;
        let opts = pull::Options {
            run_id: &crate::ops::runs::new_run_id(chrono::Utc::now()),
            dry_run: false,
            max_removed_share: config.pages.max_removed_share,
        };
        let report = pull::pull(wiki, store, &targets, &opts)
            .await
            .with_context(|| format!("reading {} before resolving", c.page))?;
        for (t, o) in &report.pages {
            if let pull::Outcome::Failed { error } = o {
                anyhow::bail!("reading {} before resolving: {error}", t.title);
            }
        }
        let now_stored = store.load_fields(&fy).await?.get(&c.key).cloned();
        if now_stored != stored {
            return Ok((
                format!(
                    "conflict #{id}: the store's value changed since you looked (a page's edit was \
                     pulled): it now holds {} (was {}); look again (`goalsbot conflicts`) and \
                     resolve again; nothing was changed\n",
                    crate::core::fields::show_value(&now_stored),
                    crate::core::fields::show_value(&stored)
                ),
                ExitCode::NeedsPerson,
            ));
        }
        match store.conflict(id).await? {
            Some(now) if now.resolution.is_some() => {
                return Ok((
                    format!(
                        "conflict #{id} was settled meanwhile: {} now shows the store's value; nothing to decide\n",
                        c.page
                    ),
                    ExitCode::Ok,
                ));
            }
            Some(now) if now.wiki != seen => {
                return Ok((
                    format!(
                        "conflict #{id}: {} changed since you looked: it now says {} (was {}); \
                         look again (`goalsbot conflicts`) and resolve again; nothing was changed\n",
                        c.page,
                        crate::core::fields::show_value(&now.wiki),
                        crate::core::fields::show_value(&seen)
                    ),
                    ExitCode::NeedsPerson,
                ));
            }
            Some(now) => c = now,
            None => c = pending(id).await?,
        }
    }
    let fy = crate::store::record_fiscal_year(&c.key.record)?;
    let current = store.load_fields(&fy).await?.get(&c.key).cloned();
    let change = match take {
        Take::Wiki if current != c.wiki => Some(fields::FieldChange {
            key: c.key.clone(),
            old: current.clone(),
            new: c.wiki.clone(),
        }),
        _ => None,
    };
    let what = match (&change, take) {
        (Some(ch), _) => format!(
            "store takes the wiki's value: {}",
            crate::core::fields::describe_change(ch)
        ),
        (None, Take::Wiki) => "the store already holds the wiki's value".to_string(),
        (None, Take::Store) => format!(
            "the store keeps {}; the next push or sync writes it to {}",
            current
                .as_ref()
                .map_or_else(|| "(none)".to_string(), |v| v.to_string()),
            c.page
        ),
    };
    if dry_run {
        return Ok((
            format!("dry run: would resolve conflict #{id}: {what} (the page is read first when not a dry run)\n"),
            ExitCode::Ok,
        ));
    }
    let provenance = Provenance {
        at: chrono::Utc::now(),
        run_id: crate::ops::runs::new_run_id(chrono::Utc::now()),
        source: Source::Tracker {
            operator: crate::ops::tracker::operator(),
            command: command.to_string(),
        },
    };
    // In the same transaction: the other pages' conflicts on the field that
    // show the value the store now holds are settled, and when the store
    // took the page's value, that page's base agrees with the store.
    let after = match &change {
        Some(ch) => ch.new.clone(),
        None => current.clone(),
    };
    let stated = |v: &Option<serde_json::Value>| v.clone().filter(|v| !v.is_null());
    let settled: Vec<i64> = store
        .conflicts(false)
        .await?
        .into_iter()
        .filter(|o| o.id != id && o.key == c.key && stated(&o.wiki) == stated(&after))
        .map(|o| o.id)
        .collect();
    let state = match take {
        Take::Wiki => store.page_state(&c.page).await?,
        Take::Store => None,
    };
    let also = crate::store::Decided {
        settled: &settled,
        rebase: state.as_ref().map(|st| (c.page.as_str(), st)),
    };
    store
        .resolve_conflict(id, take, change.as_ref(), &provenance, &also)
        .await?;
    let settled = settled.len();
    let what = if settled > 0 {
        format!(
            "{what}; {settled} more conflicts on the field settled (their pages show that value)"
        )
    } else {
        what
    };
    Ok((
        format!(
            "resolved conflict #{id} ({} {}): {what} [run {}]\n",
            c.key.record, c.key.field, provenance.run_id
        ),
        ExitCode::Ok,
    ))
}

/// The summary of a sync for the store and the status page.
pub async fn sync_summary(
    store: &Store,
    report: &SyncReport,
    command: String,
    requested_by: Option<String>,
    started: DateTime<Utc>,
) -> Result<RunSummary> {
    let s = &report.stats;
    let counts = RunCounts {
        pages_checked: s.pages_checked as u64,
        pages_changed: s.pages_changed as u64,
        html_fetches: s.html_fetches,
        api_requests: s.api_requests,
        edits: s.edits,
        records_changed: s.records_changed as u64,
        conflicts: s.conflicts as u64,
        refused: s.refused.len() as u64,
    };
    let outcome = if s.refused.iter().any(|r| r.reason.starts_with("failed")) {
        RunOutcome::Failed {
            error: s
                .refused
                .iter()
                .filter(|r| r.reason.starts_with("failed"))
                .map(|r| format!("{}: {}", r.page, r.reason))
                .collect::<Vec<_>>()
                .join("; "),
        }
    } else {
        RunOutcome::from_counts(&counts)
    };
    Ok(RunSummary {
        run_id: s.run_id.clone(),
        command,
        requested_by,
        started,
        finished: Utc::now(),
        outcome,
        counts,
        edits: edit_links(store, &s.run_id).await?,
        conflicts: report.pending.iter().map(ConflictLine::from).collect(),
        refused: s
            .refused
            .iter()
            .map(|r| RefusedPage {
                title: r.page.clone(),
                reason: r.reason.clone(),
            })
            .collect(),
        dry_run: s.dry_run,
    })
}
