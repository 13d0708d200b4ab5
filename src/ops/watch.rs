//! `goalsbot watch`: serves the requests staff write on the command page (`docs/requests.md`).
//!
//! One poll is one API request while nothing happens: the latest revisions
//! (with text and protection) of the command page, the shutoff page and the
//! allow-list page. When the command page has new revisions, they are read
//! (50 per request) and each request a revision *added* is attributed to
//! that revision's author — never to a signature in the text.
//!
//! "Added" means new to the page ([`requests::new_requests`]): not carried
//! over from the last visible revision (a renamed heading or an edited line
//! carry it over) and not a line the page held before (the store remembers
//! every request line it ever held, [`Seen`]). So deleting a reply, blanking
//! the page and reverting cannot bring a request back on another name, and
//! revisions whose text is hidden are skipped.
//!
//! The first poll ever only notes where the page stands: requests already on
//! it are not run (start `watch` right after creating the command page).
//!
//! Exactly once, also across restarts and crashes: a request found is first
//! *claimed* in the store (with who asked), and only then is the command
//! page's watch position moved past its revision. A claimed request's action
//! runs at most once: its run is noted before it starts, and its reply is
//! kept in the store before it is saved; a reply that cannot be saved is
//! tried again at later polls (nothing runs again), and given up after
//! [`REPLY_POLLS`] polls with a log line and a note on the status page.
//! Whether a reply was saved before a restart is told by the bot's own
//! revisions (their edit summaries name the request), never by the reply
//! markers in the text, which anyone can paste.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use crate::config::{Config, Credentials};
use crate::core::records::FiscalYear;
use crate::core::render::Renderer;
use crate::core::requests::{
    self, find_requests, Action, Ask, RateLimit, ReplyKind, Request, ResolveAnswer, Scope, Seen,
};
use crate::core::runlog::{RefusedPage, RunCounts, RunOutcome, RunSummary};
use crate::error::{ExitCode, UsageError};
use crate::ops::runs::{take_lease, Run, Taken};
use crate::ops::sync::Tally;
use crate::ops::Session;
use crate::store::{RequestEntry, RequestState, Store};
use crate::wiki::{PageContent, Wiki};

/// How many times a reply is saved again after an edit conflict (within one poll).
const REPLY_RETRIES: usize = 2;

/// How many polls try to save a reply before it is given up.
pub const REPLY_POLLS: u32 = 3;

/// What the watcher needs.
pub struct WatchContext<'a> {
    pub config: &'a Config,
    pub wiki: &'a Wiki,
    pub store: &'a Store,
    /// The bot's user name (its own revisions hold no requests).
    pub user: &'a str,
    pub rate_limit: RateLimit,
}

impl<'a> WatchContext<'a> {
    /// A sync of the request run `run_id` (never a dry run).
    fn sync_context<'b>(&'b self, run_id: &'b str) -> crate::ops::RunContext<'b> {
        crate::ops::RunContext {
            config: self.config,
            wiki: self.wiki,
            store: self.store,
            run_id,
            dry_run: false,
            user: self.user,
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PollReport {
    /// Set when the shutoff page stopped the bot (nothing was answered).
    pub stopped: Option<String>,
    /// New requests found (and claimed).
    pub found: usize,
    /// Requests answered, by id, with what the answer was.
    pub answered: Vec<(String, String)>,
    /// Requests found answered already (a reply saved before a restart).
    pub already_answered: usize,
    /// What following the wiki's changes and the tracker's edits did
    /// (`None`: `follow_changes` is off, or the poll stopped before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followed: Option<crate::ops::follow::Followed>,
}

impl PollReport {
    /// One line per answered request, then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (id, what) in &self.answered {
            out.push_str(&format!("answered {id}: {what}\n"));
        }
        if let Some(line) = self.followed.as_ref().and_then(|f| f.render()) {
            out.push_str(&line);
        }
        if let Some(reason) = &self.stopped {
            out.push_str(&format!("STOPPED: {reason}\n"));
            if self.answered.is_empty() {
                return out;
            }
        }
        out.push_str(&format!(
            "{} new requests, {} answered, {} found answered already\n",
            self.found,
            self.answered.len(),
            self.already_answered
        ));
        out
    }
}

/// What is stored per request besides its columns: where it was written,
/// and its reply from the moment it is decided until it is saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Written {
    heading: String,
    template: String,
    /// The line it stood on (finds it again under a renamed heading).
    #[serde(default)]
    line: String,
    /// It came with a hidden revision: who added it cannot be told, so it
    /// is answered but never run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    unattributed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply: Option<PendingReply>,
}

/// A reply decided (its action, if any, has run) but not saved yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingReply {
    /// The reply's wikitext.
    text: String,
    /// What the request came to, for the poll report.
    what: String,
    /// The run that served the request, if one ran.
    #[serde(default)]
    run_id: Option<String>,
    /// Polls that tried to save it.
    tries: u32,
}

/// One poll: take in new requests, answer every claimed one, then follow
/// what changed on the wiki and in the store ([`crate::ops::follow`]).
/// While nothing happens it is one API request: the command, shutoff and
/// allow-list pages and the recent changes come in one answer.
pub async fn poll(ctx: &WatchContext<'_>) -> Result<PollReport> {
    let config = ctx.config;
    let page = config.command_page();
    let shutoff = config.commands.shutoff();
    let allowlist = config.commands.allowlist();
    let titles: Vec<String> = std::iter::once(page.as_str())
        .chain(shutoff)
        .chain(allowlist)
        .map(String::from)
        .collect();
    let following = if config.commands.follow_changes {
        Some(crate::ops::follow::Polled::start(ctx.store).await?)
    } else {
        None
    };
    let (got, changes) = match &following {
        Some((Some(position), _)) => {
            let (got, changes, more) = ctx.wiki.contents_and_changes(&titles, position).await?;
            (got, Some((changes, more)))
        }
        _ => (ctx.wiki.page_contents(&titles).await?, None),
    };
    let mut got = got.into_iter();
    let command = got.next().flatten();
    let shutoff_text = shutoff.map(|_| got.next().flatten().map(|p| p.content));
    let allowlist_rev = allowlist.and_then(|_| got.next().flatten());
    let mut report = PollReport::default();

    if let Some(reason) = shutoff
        .and_then(|p| crate::ops::runs::shutoff_message(p, shutoff_text.flatten().as_deref()))
    {
        tracing::warn!("{reason}");
        report.stopped = Some(reason);
        return Ok(report);
    }
    match command {
        Some(command) => serve(ctx, &page, &command, allowlist_rev.as_ref(), &mut report).await?,
        None => {
            tracing::debug!(page = %page, "the command page does not exist yet: nothing to serve");
        }
    }
    if report.stopped.is_some() {
        return Ok(report);
    }
    if let Some((position, mark)) = following {
        let follower = crate::ops::follow::Follower {
            config,
            wiki: ctx.wiki,
            store: ctx.store,
            user: ctx.user,
        };
        let polled = crate::ops::follow::Polled {
            position,
            mark,
            changes,
        };
        report.followed = Some(crate::ops::follow::follow(&follower, polled).await?);
    }
    Ok(report)
}

/// The requests part of a poll: takes in the command page's new requests
/// and answers every claimed one (stops when the shutoff page is pulled).
async fn serve(
    ctx: &WatchContext<'_>,
    page: &str,
    command: &PageContent,
    allowlist_rev: Option<&PageContent>,
    report: &mut PollReport,
) -> Result<()> {
    let config = ctx.config;
    report.found = take_in(ctx, page, command).await?;
    let allowed = allowed_users(config, allowlist_rev);
    let mut first = true;
    for req in ctx.store.unanswered_requests().await? {
        if req.page != page {
            continue;
        }
        // The emergency stop may be pulled while earlier requests ran: look again.
        if !std::mem::take(&mut first) {
            if let Some(reason) =
                crate::ops::runs::shutoff_reason(config, ctx.wiki, ctx.store, None).await?
            {
                tracing::warn!("{reason}");
                report.stopped = Some(reason);
                return Ok(());
            }
        }
        match answer(ctx, page, &req, &allowed).await {
            Ok(Some(what)) => report.answered.push((req.id.clone(), what)),
            Ok(None) => report.already_answered += 1,
            Err(e) => {
                // Left claimed: the next poll tries again.
                tracing::error!(request = %req.id, "answering failed: {e:#}");
            }
        }
    }
    Ok(())
}

/// The memory of request lines seen on `page`; when none can be read (kept
/// by a goalsbot before it existed, or damaged), it starts again from `text`,
/// what the page held at the watch position.
async fn remembered(ctx: &WatchContext<'_>, page: &str, text: &str) -> Result<Seen> {
    let stored = ctx.store.watch_seen(page).await?;
    if let Some(read) = stored.as_deref().map(Seen::from_json) {
        match read {
            Ok(seen) => return Ok(seen),
            Err(e) => {
                tracing::warn!(page = %page, "the memory of requests seen cannot be read ({e}); it starts again from the last revision read")
            }
        }
    }
    let mut seen = Seen::default();
    seen.remember(text);
    ctx.store.set_watch_seen(page, &seen.to_json()).await?;
    Ok(seen)
}

/// Claims request `i` of revision `revid` by `user` (false when it was claimed before).
async fn claim(
    ctx: &WatchContext<'_>,
    page: &str,
    (revid, user): (u64, &str),
    i: usize,
    req: &Request,
    line: String,
    unattributed: bool,
) -> Result<bool> {
    if unattributed {
        tracing::warn!(page = %page, revid, "request {} came with a hidden revision: who added it cannot be told; it is answered, not run", req.template);
    }
    let written = Written {
        heading: req.heading.clone(),
        template: req.template.clone(),
        line,
        unattributed,
        reply: None,
    };
    let entry = RequestEntry {
        id: requests::request_id(revid, i),
        page: page.to_string(),
        revid,
        requester: requests::normalize_user(user),
        template: serde_json::to_string(&written)?,
        state: RequestState::Claimed,
        run_id: None,
        claimed_at: Utc::now(),
    };
    let claimed = ctx.store.claim_request(&entry).await?;
    if claimed {
        tracing::info!(request = %entry.id, user = %entry.requester, "request {}", req.template);
    }
    Ok(claimed)
}

/// Reads the command page's revisions after the watch position, claims the
/// requests each one added, and moves the position. Returns how many were found.
///
/// A request is new only when it was neither on the last visible revision
/// nor ever on the page before ([`requests::new_requests`] with the page's
/// [`Seen`] memory), so it is claimed for the author of the revision that
/// first added it: deleting, blanking and reverting cannot bring it back on
/// another name. Revisions whose text is hidden are skipped.
async fn take_in(ctx: &WatchContext<'_>, page: &str, latest: &PageContent) -> Result<usize> {
    let state = ctx.store.watch_state(page).await?;
    let Some((first, text)) = state else {
        // First start: requests already on the page (perhaps long answered
        // by people, or stale) are not run; watching begins now.
        tracing::info!(
            page = %page,
            revid = latest.revid,
            "watching begins at this revision; requests already on the page are not answered"
        );
        let mut seen = Seen::default();
        seen.remember(&latest.content);
        ctx.store.set_watch_seen(page, &seen.to_json()).await?;
        ctx.store
            .set_watch_state(page, latest.revid, &latest.content)
            .await?;
        return Ok(0);
    };
    let mut seen = remembered(ctx, page, &text).await?;
    if first == latest.revid {
        return Ok(0);
    }
    let (mut after, mut parent) = (Some(first), text);
    let bot = requests::normalize_user(ctx.user.split('@').next().unwrap_or(ctx.user));
    let mut found = 0;
    // Who saved the hidden revisions since the last visible one.
    let mut hidden_authors: Vec<String> = Vec::new();
    loop {
        let (revs, more) = ctx.wiki.revisions_after(page, after).await?;
        if revs.is_empty() {
            break;
        }
        for rev in revs {
            let Some(content) = rev.content else {
                // Hidden by an admin: it reads as nothing, which would make
                // every request of the next revision look new.
                tracing::info!(page = %page, revid = rev.revid, "a revision with hidden text is skipped");
                hidden_authors.push(rev.user.clone());
                ctx.store.set_watch_state(page, rev.revid, &parent).await?;
                after = Some(rev.revid);
                continue;
            };
            let by_bot = !bot.is_empty() && requests::normalize_user(&rev.user) == bot;
            let author = requests::attribute(&rev.user, &std::mem::take(&mut hidden_authors));
            if !by_bot {
                let new = requests::new_requests(&parent, &content, &seen);
                for (i, (req, line)) in new.into_iter().enumerate() {
                    if claim(
                        ctx,
                        page,
                        (rev.revid, &rev.user),
                        i,
                        &req,
                        line,
                        author.is_none(),
                    )
                    .await?
                    {
                        found += 1;
                    }
                }
            }
            // Claimed first, then the memory and the position: a crash in
            // between re-reads this revision and finds its requests claimed
            // already (or remembered: the memory only grows).
            let before = seen.clone();
            seen.remember(&content);
            if seen != before {
                ctx.store.set_watch_seen(page, &seen.to_json()).await?;
            }
            ctx.store.set_watch_state(page, rev.revid, &content).await?;
            after = Some(rev.revid);
            parent = content;
        }
        if !more {
            break;
        }
    }
    Ok(found)
}

/// Who may ask: `commands.allowed_users`, plus the allow-list page when it
/// is protected (an unprotected list anyone could add themselves to is ignored).
fn allowed_users(config: &Config, allowlist: Option<&PageContent>) -> Vec<String> {
    let mut allowed: Vec<String> = config
        .commands
        .allowed_users
        .iter()
        .map(|u| requests::normalize_user(u))
        .collect();
    if let Some(p) = allowlist {
        if p.edit_protection
            .iter()
            .any(|l| l == "sysop" || l == "editprotected")
        {
            for u in requests::parse_allowlist(&p.content) {
                if !allowed.contains(&u) {
                    allowed.push(u);
                }
            }
        } else {
            tracing::warn!(
                page = %p.title,
                "the allow-list page is not protected (edit=sysop); its names are ignored"
            );
        }
    }
    allowed
}

/// Runs and answers one claimed request; `None` when its reply was saved already.
///
/// The action runs at most once: its reply is stored before it is saved,
/// and a reply that cannot be saved is tried again on later polls (without
/// running anything), then given up after [`REPLY_POLLS`] polls. Whether a
/// reply was saved is told by the bot's own revisions of the page (their
/// edit summaries name the request), never by markers in the text, which
/// anyone can paste.
async fn answer(
    ctx: &WatchContext<'_>,
    page: &str,
    req: &RequestEntry,
    allowed: &[String],
) -> Result<Option<String>> {
    let mut written: Written = serde_json::from_str(&req.template)
        .with_context(|| format!("request {}: stored position", req.id))?;
    crate::fault::reached("watch.claimed");
    if written.reply.as_ref().is_some_and(|p| p.tries > 0) {
        if let Some(revid) = saved_reply(ctx, page, req).await? {
            ctx.store
                .answer_request(&req.id, Some(revid), Utc::now())
                .await?;
            return Ok(None);
        }
    }
    let parsed = find_requests(&written.template)
        .into_iter()
        .next()
        .map(|r| r.parsed)
        .unwrap_or_else(|| Err("no {{goalsbot|…}} request found".into()));
    let decided = if written.unattributed {
        Err(requests::UNATTRIBUTED.to_string())
    } else {
        parsed.clone()
    };
    let request = Request {
        section: 0,
        heading: written.heading.clone(),
        template: written.template.clone(),
        parsed,
    };
    let mut pending = match written.reply.clone() {
        Some(p) => p,
        None => {
            let p = decide(ctx, req, decided, allowed).await?;
            // Kept before anything is saved: from here on the action never runs again.
            written.reply = Some(p.clone());
            ctx.store
                .set_request_template(&req.id, &serde_json::to_string(&written)?)
                .await?;
            p
        }
    };
    // Counted before the save: a kill after it is found by `saved_reply`.
    pending.tries += 1;
    written.reply = Some(pending.clone());
    ctx.store
        .set_request_template(&req.id, &serde_json::to_string(&written)?)
        .await?;
    let what = pending.what.clone();
    let error = match save_reply(ctx, page, req, &request, &written.line, &pending).await {
        Ok(Some(revid)) => {
            ctx.store
                .answer_request(&req.id, Some(revid), Utc::now())
                .await?;
            return Ok(Some(what));
        }
        Ok(None) => {
            tracing::warn!(request = %req.id, "its section is gone from the page; not answered");
            ctx.store.answer_request(&req.id, None, Utc::now()).await?;
            return Ok(Some(format!("{what} (section gone, no reply)")));
        }
        Err(e) => format!("{e:#}"),
    };
    if requests::reply_given_up(pending.tries, REPLY_POLLS) {
        give_up(ctx, page, req, &pending, &error).await;
        ctx.store.answer_request(&req.id, None, Utc::now()).await?;
        return Ok(Some(format!("{what} (reply given up)")));
    }
    anyhow::bail!(
        "the reply to {} was not saved ({error}); it is tried again at the next poll (try {} of {REPLY_POLLS}), without running anything again",
        req.id,
        pending.tries
    )
}

/// Saves a reply at the end of its request's section, reading the page
/// again after an edit conflict: the reply's revision, or `None` when the
/// request is gone from the page.
async fn save_reply(
    ctx: &WatchContext<'_>,
    page: &str,
    req: &RequestEntry,
    request: &Request,
    line: &str,
    pending: &PendingReply,
) -> Result<Option<u64>> {
    let edit_summary = format!(
        "goalsbot: reply to {} ({}){}",
        req.requester,
        req.id,
        pending
            .run_id
            .as_deref()
            .map(|r| format!(" [run {r}]"))
            .unwrap_or_default()
    );
    let mut attempt = 0;
    loop {
        let text = current_text(ctx, page).await?;
        let Some(new) = requests::insert_reply_on_line(&text.content, request, line, &pending.text)
        else {
            return Ok(None);
        };
        match ctx
            .wiki
            .save(page, &new, &edit_summary, Some(text.revid))
            .await
        {
            Ok(saved) => {
                crate::fault::reached("watch.replied");
                return Ok(Some(saved.newrevid));
            }
            Err(e)
                if e.downcast_ref::<crate::wiki::EditConflict>().is_some()
                    && attempt < REPLY_RETRIES =>
            {
                tracing::warn!(request = %req.id, attempt, "edit conflict on the command page; reading it again");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The bot's revision of the command page that saved the reply to `req`, if any.
async fn saved_reply(
    ctx: &WatchContext<'_>,
    page: &str,
    req: &RequestEntry,
) -> Result<Option<u64>> {
    let bot = ctx.user.split('@').next().unwrap_or(ctx.user).trim();
    if bot.is_empty() {
        // Without the bot's name its revisions cannot be told apart: the
        // reply is saved again rather than a request left unanswered.
        return Ok(None);
    }
    let needle = format!("({})", req.id);
    Ok(ctx
        .wiki
        .summaries_by(page, bot, req.revid)
        .await?
        .into_iter()
        .find(|(_, summary)| summary.contains(&needle))
        .map(|(revid, _)| revid))
}

/// Says on the log and on the status page that a reply was given up.
async fn give_up(
    ctx: &WatchContext<'_>,
    page: &str,
    req: &RequestEntry,
    pending: &PendingReply,
    error: &str,
) {
    let message = requests::given_up_note(
        &req.id,
        page,
        &req.requester,
        pending.tries,
        &pending.what,
        error,
    );
    tracing::error!(request = %req.id, "giving up: {message}");
    let run_id = crate::ops::runs::new_run_id(Utc::now());
    let note = crate::ops::runs::failed_summary(
        &run_id,
        format!("reply to request {}", req.id),
        Some(req.requester.clone()),
        Utc::now(),
        &anyhow::anyhow!("{message}"),
    );
    if let Err(e) = crate::ops::runs::publish(ctx.config, ctx.wiki, ctx.store, &note).await {
        tracing::warn!("the status page was not updated: {e:#}");
    }
}

/// Decides a claimed request's reply, running its action if it should run
/// and has not run yet (a run recorded for the request is not run again).
async fn decide(
    ctx: &WatchContext<'_>,
    req: &RequestEntry,
    parsed: Result<Ask, String>,
    allowed: &[String],
) -> Result<PendingReply> {
    let status_page = Some(ctx.config.pages.status_page());
    let decision = match parsed {
        Err(reason) => Decision::Reply(
            ReplyKind::Malformed {
                reason: reason.clone(),
            },
            format!("malformed ({reason})"),
        ),
        Ok(_) if !requests::is_allowed(&req.requester, allowed) => Decision::Reply(
            ReplyKind::Refused {
                allowed: allowed.to_vec(),
                allowlist_page: ctx.config.commands.allowlist().map(String::from),
            },
            format!("refused: {} is not allowed", req.requester),
        ),
        Ok(Ask::Resolve { conflict, side }) => {
            resolve_now(ctx, req, conflict, side, allowed).await?
        }
        Ok(Ask::Run(action, scope)) if req.run_id.is_some() => {
            ran_before(ctx, req, action, &scope).await?
        }
        Ok(Ask::Run(action, scope)) => run_now(ctx, req, action, &scope, allowed).await?,
    };
    let (kind, what, run_id) = match &decision {
        Decision::Reply(kind, what) => (kind.clone(), what.clone(), None),
        Decision::Settled(answer, what, run_id) => (
            ReplyKind::Resolve {
                answer: answer.clone(),
                status_page: status_page.clone(),
            },
            what.clone(),
            run_id.clone(),
        ),
        Decision::Ran(run, what) => (
            ReplyKind::Done {
                run,
                status_page: status_page.clone(),
            },
            what.clone(),
            Some(run.run_id.clone()),
        ),
    };
    let renderer = Renderer::with_dir(ctx.config.pages.templates_dir.as_deref())?;
    let text = renderer.reply(&req.id, &req.requester, &kind)?;
    Ok(PendingReply {
        text,
        what,
        run_id,
        tries: 0,
    })
}

/// What a request gets: a reply without a run, or the run it asked for.
enum Decision {
    /// A reply of this kind; what it was, for the log.
    Reply(ReplyKind<'static>, String),
    /// The run's summary; what it was, for the log.
    Ran(Box<RunSummary>, String),
    /// A resolve request served: its answer, what it was (for the log), the
    /// run that recorded the decision.
    Settled(ResolveAnswer, String, Option<String>),
}

/// A request that ran (or began to) before the watcher stopped: not again;
/// its reply tells how the run ended, as far as the store knows.
async fn ran_before(
    ctx: &WatchContext<'_>,
    req: &RequestEntry,
    action: Action,
    scope: &Scope,
) -> Result<Decision> {
    let run_id = req.run_id.clone().unwrap_or_default();
    let command = requests::command_text(action, scope);
    let s = match recorded_run(ctx.store, &run_id).await? {
        Some(s) => s,
        None => crate::ops::runs::failed_summary(
            &run_id,
            command.clone(),
            Some(req.requester.clone()),
            Utc::now(),
            &anyhow::anyhow!(
                "the bot stopped while this ran; it was not run again (see the status page and the page histories)"
            ),
        ),
    };
    let what = format!("{command} → {}", s.outcome.label());
    Ok(Decision::Ran(Box::new(s), what))
}

/// An allowed request: rate limited, pointed to a run another goalsbot
/// process (the hourly sync) has going, or run now.
async fn run_now(
    ctx: &WatchContext<'_>,
    req: &RequestEntry,
    action: Action,
    scope: &Scope,
    allowed: &[String],
) -> Result<Decision> {
    if let Some(limited) = rate_limited(ctx, req, allowed).await? {
        return Ok(limited);
    }
    // One writing run at a time: a run another goalsbot process (the hourly
    // sync, an operator's push) has going gets a pointer to it, no wait.
    let run_id = crate::ops::runs::new_run_id(Utc::now());
    let command = requests::command_text(action, scope);
    let lease = match lease_for(ctx, req, &run_id, &command).await? {
        Ok(lease) => lease,
        Err(busy) => return Ok(busy),
    };
    let s = run_action(ctx, action, scope, req, run_id).await;
    let what = format!("{command} → {}", s.outcome.label());
    if let Err(e) = crate::ops::runs::publish(ctx.config, ctx.wiki, ctx.store, &s).await {
        tracing::warn!("the status page was not updated: {e:#}");
    }
    lease.release().await;
    crate::fault::reached("watch.ran");
    Ok(Decision::Ran(Box::new(s), what))
}

/// The rate-limit reply, when `req` is over a limit.
/// One writing run at a time: the writer's lease for a requested run
/// `run_id` (recorded on the request), or the reply pointing at the run
/// another goalsbot process has going (no wait).
async fn lease_for(
    ctx: &WatchContext<'_>,
    req: &RequestEntry,
    run_id: &str,
    command: &str,
) -> Result<Result<crate::ops::runs::Lease, Decision>> {
    let lease = match take_lease(ctx.store, &ctx.config.run, run_id, command, false).await? {
        Taken::Busy(held) => {
            return Ok(Err(Decision::Reply(
                ReplyKind::AlreadyRunning {
                    run_id: held.run_id.clone(),
                    status_page: Some(ctx.config.pages.status_page()),
                },
                format!("already running: run {}", held.run_id),
            )));
        }
        Taken::Held(lease) => lease,
    };
    ctx.store.set_request_run(&req.id, run_id).await?;
    Ok(Ok(lease))
}

async fn rate_limited(
    ctx: &WatchContext<'_>,
    req: &RequestEntry,
    allowed: &[String],
) -> Result<Option<Decision>> {
    let history: Vec<(String, chrono::DateTime<Utc>)> = ctx
        .store
        .requests_since(None, Utc::now() - chrono::Duration::hours(1))
        .await?
        .into_iter()
        .filter(|(id, user, _)| id != &req.id && requests::is_allowed(user, allowed))
        .map(|(_, user, t)| (user, t))
        .collect();
    Ok(ctx
        .rate_limit
        .check(&history, &req.requester, Utc::now())
        .err()
        .map(|secs| {
            Decision::Reply(
                ReplyKind::RateLimited {
                    retry_after_secs: secs,
                },
                format!("rate limited ({secs} s)"),
            )
        }))
}

/// An allowed user's `{{goalsbot|resolve|ID|wiki|store}}`: the decision of
/// `goalsbot resolve ID --take …` ([`crate::ops::resolve::settle`], the
/// year's pages read first), recorded with the requester as who decided
/// (`User:Name (on-wiki request)`) in a run of its own that holds the
/// writer's lease; the status page is written after it. A decision this
/// request recorded before a restart is not taken again: its reply is made
/// from the store.
async fn resolve_now(
    ctx: &WatchContext<'_>,
    req: &RequestEntry,
    conflict: i64,
    side: requests::Side,
    allowed: &[String],
) -> Result<Decision> {
    use crate::ops::resolve;
    let take = crate::store::Take::from(side);
    let command = Ask::Resolve { conflict, side }.command_text();
    if let Some(done) = settled_before_a_restart(ctx, req, conflict, side, &command).await? {
        return Ok(done);
    }
    end_a_stopped_run(ctx, req, &command).await?;
    if let Some(limited) = rate_limited(ctx, req, allowed).await? {
        return Ok(limited);
    }
    let run_id = crate::ops::runs::new_run_id(Utc::now());
    let lease = match lease_for(ctx, req, &run_id, &command).await? {
        Ok(lease) => lease,
        Err(busy) => return Ok(busy),
    };
    let run = Run::new(
        ctx.store,
        &run_id,
        command.clone(),
        Some(req.requester.clone()),
    );
    if let Err(e) = run.mark_running().await {
        tracing::warn!("could not mark the run as running: {e:#}");
    }
    let by = resolve::Decider {
        operator: resolve::on_wiki_operator(&req.requester),
        command: format!(
            "{} (on-wiki request {} on {})",
            written_template(req),
            req.id,
            req.page
        ),
        run_id: Some(run_id.clone()),
    };
    let settled = resolve::settle(
        ctx.store,
        Some((ctx.config, ctx.wiki)),
        conflict,
        take,
        &by,
        false,
    )
    .instrument(tracing::info_span!("run", run_id = %run_id))
    .await;
    crate::fault::reached("watch.resolved");
    let (answer, changed) = answer_of(settled, conflict, side, &run_id, &command, req);
    let mut answer = answer;
    if let (
        ResolveAnswer::Settled {
            record, written, ..
        },
        Ok(_),
    ) = (&mut answer, &changed)
    {
        *written = push_decided(ctx, record, &run_id).await;
    }
    let settled = matches!(answer, ResolveAnswer::Settled { .. });
    finish_resolve(ctx, &run, settled, changed).await;
    lease.release().await;
    let what = match &answer {
        ResolveAnswer::Settled { .. } => format!("{command} → settled"),
        ResolveAnswer::Unknown { .. } => format!("{command} → no such conflict"),
        ResolveAnswer::AlreadySettled { .. } => format!("{command} → already settled"),
        ResolveAnswer::NotTaken { reason, .. } => format!("{command} → not settled: {reason}"),
    };
    Ok(Decision::Settled(answer, what, Some(run_id)))
}

/// A decision this request recorded before a restart: its reply, made from
/// the store, and the run's end and the status page the stop left undone.
async fn settled_before_a_restart(
    ctx: &WatchContext<'_>,
    req: &RequestEntry,
    conflict: i64,
    side: requests::Side,
    command: &str,
) -> Result<Option<Decision>> {
    if let Some(run_id) = &req.run_id {
        if let Some(c) = ctx.store.conflict(conflict).await? {
            if c.resolution.as_ref().is_some_and(|r| &r.run_id == run_id) {
                let fy = crate::store::record_fiscal_year(&c.key.record)?;
                let value = ctx.store.load_fields(&fy).await?.get(&c.key).cloned();
                let changed = side == requests::Side::Wiki && value != c.store;
                let answer = ResolveAnswer::Settled {
                    conflict,
                    record: c.key.record.clone(),
                    field: c.key.field.clone(),
                    page: c.page.clone(),
                    side,
                    value,
                    others: 0,
                    run_id: run_id.clone(),
                    // The push the stop may have cut short, now.
                    written: push_decided(ctx, &c.key.record, run_id).await,
                };
                // The run's end and the status page, which the stop left undone.
                let run = Run::new(
                    ctx.store,
                    run_id,
                    command.to_string(),
                    Some(req.requester.clone()),
                );
                finish_resolve(ctx, &run, true, Ok(changed)).await;
                return Ok(Some(Decision::Settled(
                    answer,
                    format!("{command} → settled before a restart"),
                    Some(run_id.clone()),
                )));
            }
        }
    }
    Ok(None)
}

/// A run of this request that stopped before its decision was recorded
/// ends without one (said in the run log); the request is served again.
async fn end_a_stopped_run(
    ctx: &WatchContext<'_>,
    req: &RequestEntry,
    command: &str,
) -> Result<()> {
    if let Some(run_id) = &req.run_id {
        let running = ctx.store.run(run_id).await?;
        if running.is_some_and(|r| r.outcome == crate::store::RunState::Running) {
            let stale = Run::new(
                ctx.store,
                run_id,
                command.to_string(),
                Some(req.requester.clone()),
            );
            let stopped = anyhow::anyhow!(
                "the bot stopped before the decision was recorded; the request is served again"
            );
            if let Err(e) = stale.record(&stale.failed(&stopped)).await {
                tracing::warn!("could not record the stopped run: {e:#}");
            }
        }
    }
    Ok(())
}

/// The reply to a resolve request from what [`crate::ops::resolve::settle`]
/// did, and whether the store changed (`Err`: it failed).
fn answer_of(
    settled: Result<crate::ops::resolve::Outcome>,
    conflict: i64,
    side: requests::Side,
    run_id: &str,
    command: &str,
    req: &RequestEntry,
) -> (ResolveAnswer, Result<bool>) {
    use crate::ops::resolve::Outcome;
    match settled {
        Ok(Outcome::Resolved {
            conflict: c,
            value,
            others,
            changed,
            ..
        }) => (
            ResolveAnswer::Settled {
                conflict,
                record: c.key.record.clone(),
                field: c.key.field.clone(),
                page: c.page.clone(),
                side,
                value,
                others,
                run_id: run_id.to_string(),
                written: None,
            },
            Ok(changed),
        ),
        Ok(Outcome::Unknown) => (ResolveAnswer::Unknown { conflict }, Ok(false)),
        Ok(Outcome::AlreadyResolved(r))
        | Ok(Outcome::SettledMeanwhile {
            resolution: Some(r),
            ..
        }) => (
            ResolveAnswer::AlreadySettled {
                conflict,
                how: r.how.as_str().to_string(),
                by: r.by,
                at: r.at,
            },
            Ok(false),
        ),
        Ok(Outcome::SettledMeanwhile {
            page,
            resolution: None,
        }) => (
            ResolveAnswer::NotTaken {
                conflict,
                reason: format!("it was settled meanwhile: {page} now shows the store's value"),
            },
            Ok(false),
        ),
        Ok(Outcome::NotTaken(why)) => (
            ResolveAnswer::NotTaken {
                conflict,
                reason: why.reason(),
            },
            Ok(false),
        ),
        Ok(Outcome::DryRun { .. }) => unreachable!("watch never resolves as a dry run"),
        Err(e) => {
            tracing::error!("{command} for {} failed: {e:#}", req.requester);
            let reason = format!("an error stopped it ({e:#})");
            (ResolveAnswer::NotTaken { conflict, reason }, Err(e))
        }
    }
}

/// After an on-wiki decision, the push of the field's year in the same run
/// (under its lease, obeying the shutoff page), so that every page shows
/// the decided value when the reply says so: the number of saves, or `None`
/// when the push did not run to the end (the next push or sync writes it).
async fn push_decided(ctx: &WatchContext<'_>, record: &str, run_id: &str) -> Option<usize> {
    let fy = crate::store::record_fiscal_year(record).ok()?;
    let pctx = crate::ops::push::PushContext::of_run(ctx.sync_context(run_id));
    let pushed = crate::ops::push::push(&pctx, &[fy], &[])
        .instrument(tracing::info_span!("run", run_id = %run_id))
        .await;
    match pushed {
        Ok(report) if report.stopped.is_none() => {
            let failed = report
                .pages
                .iter()
                .any(|(_, o)| matches!(o, crate::ops::push::Outcome::Failed { .. }));
            let edits = report
                .pages
                .iter()
                .filter(|(_, o)| matches!(o, crate::ops::push::Outcome::Edited { .. }))
                .count();
            (!failed).then_some(edits)
        }
        Ok(report) => {
            tracing::warn!(
                "the decision is recorded; its pages were not all written: {}",
                report.stopped.unwrap_or_default()
            );
            None
        }
        Err(e) => {
            tracing::warn!("the decision is recorded; its pages were not written: {e:#}");
            None
        }
    }
}

/// Records a resolve run's end and writes the status page (which no longer
/// lists a conflict settled); failures are logged, the reply goes on.
async fn finish_resolve(
    ctx: &WatchContext<'_>,
    run: &Run<'_>,
    settled: bool,
    changed: Result<bool, anyhow::Error>,
) {
    let summary = match changed {
        Ok(changed) => resolve_summary(ctx, run, settled, changed).await,
        Err(e) => Ok(run.failed(&e)),
    };
    match summary {
        Ok(s) => {
            if let Err(e) = run.record(&s).await {
                tracing::warn!("could not record the run: {e:#}");
            }
            if let Err(e) = crate::ops::runs::publish(ctx.config, ctx.wiki, ctx.store, &s).await {
                tracing::warn!("the status page was not updated: {e:#}");
            }
        }
        Err(e) => tracing::warn!("could not sum up the run: {e:#}"),
    }
}

/// The request's template as written (for the provenance of a decision).
fn written_template(req: &RequestEntry) -> String {
    serde_json::from_str::<Written>(&req.template)
        .map(|w| w.template)
        .unwrap_or_else(|_| req.template.clone())
}

/// The summary of a resolve run: the conflicts still waiting after it. A
/// decision taken is a change (the status page is rewritten without it),
/// even when the store kept its value.
async fn resolve_summary(
    ctx: &WatchContext<'_>,
    run: &Run<'_>,
    settled: bool,
    changed: bool,
) -> Result<RunSummary> {
    let waiting = ctx.store.conflicts(false).await?;
    let counts = RunCounts {
        records_changed: u64::from(changed),
        conflicts: waiting.len() as u64,
        ..RunCounts::default()
    };
    let outcome = match RunOutcome::from_counts(&counts) {
        RunOutcome::NothingToDo if settled => RunOutcome::Changed,
        outcome => outcome,
    };
    let conflicts = waiting
        .iter()
        .map(crate::core::runlog::ConflictLine::from)
        .collect();
    let mut summary = run
        .summary(counts, outcome, conflicts, Vec::new(), false)
        .await?;
    // The push that followed the decision saved these.
    summary.counts.edits = summary.edits.len() as u64;
    summary.counts.pages_changed = summary.edits.len() as u64;
    Ok(summary)
}

/// The summary recorded for a finished run, if any.
async fn recorded_run(store: &Store, run_id: &str) -> Result<Option<RunSummary>> {
    Ok(store
        .run(run_id)
        .await?
        .filter(|r| r.outcome != crate::store::RunState::Running)
        .and_then(|r| serde_json::from_value(r.summary).ok()))
}

async fn current_text(ctx: &WatchContext<'_>, page: &str) -> Result<PageContent> {
    ctx.wiki
        .page_contents(&[page.to_string()])
        .await?
        .pop()
        .flatten()
        .with_context(|| format!("the command page {page:?} is gone"))
}

/// Runs a request's action; a failure becomes a failed summary (the reply says so).
async fn run_action(
    ctx: &WatchContext<'_>,
    action: Action,
    scope: &Scope,
    req: &RequestEntry,
    run_id: String,
) -> RunSummary {
    let span = tracing::info_span!("run", run_id = %run_id);
    let command = requests::command_text(action, scope);
    let run = Run::new(ctx.store, &run_id, command, Some(req.requester.clone()));
    run_in_lifecycle(ctx, action, scope, req.revid, &run)
        .instrument(span)
        .await
}

/// The run's lifecycle around the action: marked running, its summary recorded at once.
async fn run_in_lifecycle(
    ctx: &WatchContext<'_>,
    action: Action,
    scope: &Scope,
    asked_in: u64,
    run: &Run<'_>,
) -> RunSummary {
    if let Err(e) = run.mark_running().await {
        tracing::warn!("could not mark the run as running: {e:#}");
    }
    let before = ctx.wiki.counters().snapshot();
    let summary = match act(ctx, action, scope, asked_in, run).await {
        Ok(mut s) => {
            // The watcher's counters run across polls: this run's share.
            let after = ctx.wiki.counters().snapshot();
            s.counts.api_requests = after.api_requests - before.api_requests;
            s.counts.html_fetches = after.html_fetches - before.html_fetches;
            s.counts.edits = after.edits - before.edits;
            s
        }
        Err(e) => {
            let requester = run.requested_by.as_deref().unwrap_or_default();
            tracing::error!("{} for {requester} failed: {e:#}", run.command);
            run.failed(&e)
        }
    };
    // Recorded at once: a reply that fails to save must not leave the run "running".
    if let Err(e) = run.record(&summary).await {
        tracing::warn!("could not record the run: {e:#}");
    }
    summary
}

/// Runs the action a request asked for; `asked_in` is the revision of the
/// command page that added the request.
async fn act(
    ctx: &WatchContext<'_>,
    action: Action,
    scope: &Scope,
    asked_in: u64,
    run: &Run<'_>,
) -> Result<RunSummary> {
    let config = ctx.config;
    let run_id = run.run_id.as_str();
    let fys: Vec<FiscalYear> = scope.fiscal_year().cloned().into_iter().collect();
    let quarter_page: Vec<String> = match scope {
        Scope::Quarter(fy, q) => vec![config.pages.quarter_page(fy, *q)],
        _ => Vec::new(),
    };
    let mut tally = Tally::default();
    let sctx = ctx.sync_context(run_id);
    let pctx = crate::ops::push::PushContext::of_run(sctx);
    let pages_checked = match action {
        Action::Sync => {
            let report = crate::ops::sync::sync(&sctx, &fys).await?;
            if let Some(reason) = report.stopped {
                anyhow::bail!("{reason}");
            }
            return crate::ops::sync::sync_summary(run, &report).await;
        }
        Action::Pull | Action::Accept => {
            let targets = crate::ops::pull::targets(config, &fys, &quarter_page)?;
            // A person accepts the held page as it stood when they asked:
            // revision ids grow across the wiki, so a save after the
            // request has a larger one and is not accepted.
            let accept = action == Action::Accept;
            let opts = crate::ops::pull::Options {
                accept: if accept {
                    quarter_page.clone()
                } else {
                    Vec::new()
                },
                accept_before: accept.then_some(asked_in),
                ..crate::ops::pull::Options::of_run(&sctx)
            };
            let report = crate::ops::pull::pull(ctx.wiki, ctx.store, &targets, &opts).await?;
            tally.pull(&report);
            if accept {
                // Then the year's pages show what the page now says.
                let pushed = crate::ops::push::push(&pctx, &fys, &[]).await?;
                tally.push(&pushed);
            }
            report.pages.len()
        }
        Action::Push => {
            let report = crate::ops::push::push(&pctx, &fys, &quarter_page).await?;
            tally.push(&report);
            report.pages.len()
        }
        Action::NewQuarter => {
            let Scope::Quarter(fy, q) = scope else {
                anyhow::bail!(
                    "new-quarter needs a quarter, e.g. {{{{goalsbot|new-quarter|2020-21 Q4}}}}"
                );
            };
            crate::ops::new_quarter::new_quarter(
                config, ctx.wiki, ctx.store, fy, *q, run_id, false,
            )
            .await?;
            tally.changed.insert(config.pages.quarter_page(fy, *q));
            1
        }
    };
    if let Some(failure) = tally.first_failure() {
        anyhow::bail!("{failure}");
    }
    let counts = RunCounts {
        pages_checked: pages_checked as u64,
        pages_changed: tally.changed.len() as u64,
        records_changed: tally.records_changed as u64,
        conflicts: tally.new_conflicts as u64,
        refused: tally.refused.len() as u64,
        ..RunCounts::default()
    };
    let refused = tally.refused.iter().map(RefusedPage::from).collect();
    run.summary(
        counts,
        RunOutcome::from_counts(&counts),
        Vec::new(),
        refused,
        false,
    )
    .await
}

/// `goalsbot watch`: answers on-wiki requests until SIGTERM (`--once`: one poll, its report printed).
pub async fn command(
    config: &Config,
    creds: &Credentials,
    once: bool,
    interval: Option<u64>,
    heartbeat: Option<&std::path::Path>,
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    crate::ops::require_credentials(creds, "watch")?;
    if dry_run {
        return Err(UsageError::new(
            "watch has no --dry-run: it answers on the wiki; try `sync --dry-run`",
        )
        .into());
    }
    let session = Session::open(config, creds).await?;
    // The watcher saves replies: it logs in at once, and a login the wiki
    // refuses ends it before the first poll.
    if let Err(e) = session.wiki.log_in_now().await {
        session.close().await;
        return Err(e);
    }
    // Every push a request runs looks at the shutoff page before each save.
    let wiki = session.wiki.clone().obeying_shutoff();
    let ctx = WatchContext {
        config,
        wiki: &wiki,
        store: &session.store,
        user: wiki.user_name().unwrap_or_default(),
        rate_limit: RateLimit {
            per_user_per_hour: config.commands.max_requests_per_user_per_hour,
            per_hour: config.commands.max_requests_per_hour,
        },
    };
    let every = Duration::from_secs(
        interval
            .unwrap_or(config.commands.poll_interval_secs)
            .max(1),
    );
    let heartbeat = match heartbeat {
        Some(path) if !once => Some(crate::ops::heartbeat::Heartbeat::start(path)?),
        _ => None,
    };
    let report = run(&ctx, once, every, heartbeat.as_ref(), json).await;
    drop(heartbeat);
    session.close().await;
    let report = report?;
    if once {
        print_poll(&report, json);
    }
    Ok(ExitCode::Ok)
}

/// A poll's report on stdout: its text, or (`--json`) one JSON object on one line.
fn print_poll(report: &PollReport, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).unwrap_or_else(|_| "{}".into())
        );
    } else {
        print!("{}", report.render());
    }
}

/// `watch`: polls until SIGTERM or Ctrl-C (`--once`: one poll); prints
/// each poll that answered or was stopped (`json`: as one JSON line).
pub async fn run(
    ctx: &WatchContext<'_>,
    once: bool,
    interval: Duration,
    heartbeat: Option<&crate::ops::heartbeat::Heartbeat>,
    json: bool,
) -> Result<PollReport> {
    if once {
        return poll(ctx).await;
    }
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let mut total = PollReport::default();
    loop {
        if let Some(h) = heartbeat {
            h.poll_begins();
        }
        let began = std::time::Instant::now();
        let polled = poll(ctx).await;
        if let Some(h) = heartbeat {
            h.poll_ended(polled.is_ok());
        }
        let mut behind = false;
        match polled {
            Ok(r) => {
                let ran = r.followed.as_ref().is_some_and(|f| f.render().is_some());
                if !r.answered.is_empty() || r.stopped.is_some() || ran {
                    print_poll(&r, json);
                }
                // More recent changes than one request returns: go on at once.
                behind = r.followed.as_ref().is_some_and(|f| f.more);
                total.found += r.found;
                total.answered.extend(r.answered);
                total.already_answered += r.already_answered;
            }
            // A failed poll (wiki or store down) is logged; the next one tries again.
            Err(e) => tracing::error!("poll failed: {e:#}"),
        }
        // Logged out for good (the session ended and logging in again
        // failed): polling on would answer nothing, so the watcher ends with
        // an error and its job is restarted, and mails its owners.
        if let Some(reason) = ctx.wiki.session_lost() {
            return Err(crate::wiki_http::SessionLost { reason }.into());
        }
        if behind {
            continue;
        }
        // Polls keep their cadence: a poll that ran a sync for a while is
        // followed by the next one that much sooner (a change saved during
        // the run waits at most one interval after it began).
        let pause = interval.saturating_sub(began.elapsed());
        #[cfg(unix)]
        let stop = tokio::select! {
            _ = tokio::time::sleep(pause) => false,
            _ = term.recv() => true,
            _ = tokio::signal::ctrl_c() => true,
        };
        #[cfg(not(unix))]
        let stop = tokio::select! {
            _ = tokio::time::sleep(pause) => false,
            _ = tokio::signal::ctrl_c() => true,
        };
        if stop {
            tracing::info!("stopping: signal received between polls");
            return Ok(total);
        }
    }
}
