//! `goalsbot resolve`: settles a pending conflict as a person decided, after reading the year's pages again.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::config::{Config, Credentials};
use crate::core::fields::{describe_change, show_value, FieldChange};
use crate::error::{ExitCode, UsageError};
use crate::ops::{command_line, pull, Session};
use crate::store::{
    record_fiscal_year, Decided, Provenance, Resolution, Source, Store, StoredConflict, Take,
};
use crate::wiki::Wiki;

/// `goalsbot resolve ID --take wiki|store`: prints what was decided.
pub async fn command(
    config: &Config,
    creds: &Credentials,
    id: i64,
    take: Take,
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    // Reads the conflict's page first (anonymously is enough).
    let session = Session::open(config, creds).await?;
    let fresh = Some((config, &session.wiki));
    let run = async {
        let (text, code) =
            resolve(&session.store, fresh, id, take, &command_line(), dry_run).await?;
        crate::ops::print_report(
            json,
            || text.clone(),
            || {
                serde_json::json!({
                    "conflict": id,
                    "take": take.as_str(),
                    "dry_run": dry_run,
                    "said": text.trim_end(),
                    "exit_code": code as i32,
                })
            },
        );
        Ok(code)
    };
    let out = session.asked(config, dry_run, run).await;
    session.close().await;
    out
}

/// Who decides, as the store records it.
#[derive(Debug, Clone)]
pub struct Decider {
    /// The operator of the tracker edit and the conflict's `resolved_by`:
    /// the operator at a terminal, or `User:Name (on-wiki request)`
    /// ([`on_wiki_operator`]).
    pub operator: String,
    /// The command line, or the request that asked.
    pub command: String,
    /// The run that records the decision (`None`: a new one).
    pub run_id: Option<String>,
}

/// The operator recorded for a decision asked on the wiki by `user` (the
/// revision author): `User:Name (on-wiki request)`.
pub fn on_wiki_operator(user: &str) -> String {
    format!("User:{user} (on-wiki request)")
}

/// What a decision on a conflict came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Decided and recorded.
    Resolved {
        /// The conflict as it was decided.
        conflict: Box<StoredConflict>,
        /// The side taken.
        take: Take,
        /// What it did, in words.
        what: String,
        /// Whether the store's value changed (the wiki's value was taken).
        changed: bool,
        /// The value the store holds now.
        value: Option<Value>,
        /// Other pages' conflicts on the field settled with it.
        others: usize,
        /// The run that recorded it.
        run_id: String,
    },
    /// A dry run: what would be decided.
    DryRun {
        /// In words.
        what: String,
    },
    /// No conflict has that id.
    Unknown,
    /// Closed before.
    AlreadyResolved(Resolution),
    /// Closed while the pages were read again: the page shows the store's value.
    SettledMeanwhile {
        /// The conflict's page.
        page: String,
        /// How it was closed.
        resolution: Option<Resolution>,
    },
    /// Nothing decided: the page cannot be read, or a side changed since
    /// the person looked.
    NotTaken(NotTaken),
}

/// Why a decision was not taken after the pages were read again.
#[derive(Debug, Clone)]
pub enum NotTaken {
    /// The conflict's page could not be read (blanked, vandalised).
    Unreadable {
        /// The page.
        page: String,
        /// Why.
        reason: String,
    },
    /// Another page's edit changed the store's value.
    StoreChanged {
        /// The store's value now.
        now: Option<Value>,
        /// Before.
        was: Option<Value>,
    },
    /// The conflict's page says something else now.
    WikiChanged {
        /// The page.
        page: String,
        /// Its value now.
        now: Option<Value>,
        /// The value the person saw.
        was: Option<Value>,
    },
}

impl NotTaken {
    /// The reason in plain words (for a reply on the wiki).
    pub fn reason(&self) -> String {
        match self {
            NotTaken::Unreadable { page, reason } => {
                format!("{page} could not be read ({reason}); it needs repairing first")
            }
            NotTaken::StoreChanged { now, was } => format!(
                "the store's value changed since the conflict was listed (a page's edit was \
                 pulled): it now holds {} (was {})",
                show_value(now),
                show_value(was)
            ),
            NotTaken::WikiChanged { page, now, was } => format!(
                "{page} changed since the conflict was listed: it now says {} (was {})",
                show_value(now),
                show_value(was)
            ),
        }
    }
}

/// `goalsbot resolve ID --take wiki|store`: closes a pending conflict as a
/// person decided (see [`settle`]); the text to print and the exit code. An
/// unknown or closed conflict is a usage error (exit 2).
pub async fn resolve(
    store: &Store,
    fresh: Option<(&Config, &Wiki)>,
    id: i64,
    take: Take,
    command: &str,
    dry_run: bool,
) -> Result<(String, ExitCode)> {
    let by = Decider {
        operator: crate::ops::tracker::operator(),
        command: command.to_string(),
        run_id: None,
    };
    Ok(match settle(store, fresh, id, take, &by, dry_run).await? {
        Outcome::Unknown => {
            return Err(UsageError::new(format!(
                "there is no conflict #{id}; `goalsbot conflicts` lists the waiting ones"
            ))
            .into())
        }
        Outcome::AlreadyResolved(r) => {
            return Err(UsageError::new(format!(
                "conflict #{id} is already resolved ({} by {} at {}); nothing to do",
                r.how,
                r.by,
                r.at.to_rfc3339()
            ))
            .into())
        }
        Outcome::DryRun { what } => (
            format!("dry run: would resolve conflict #{id}: {what} (the page is read first when not a dry run)\n"),
            ExitCode::Ok,
        ),
        Outcome::Resolved {
            conflict: c,
            what,
            others,
            run_id,
            ..
        } => {
            let what = if others > 0 {
                format!(
                    "{what}; {others} more conflicts on the field settled (their pages show that value)"
                )
            } else {
                what
            };
            (
                format!(
                    "resolved conflict #{id} ({} {}): {what} [run {run_id}]\n",
                    c.key.record, c.key.field
                ),
                ExitCode::Ok,
            )
        }
        Outcome::SettledMeanwhile { page, .. } => (
            format!(
                "conflict #{id} was settled meanwhile: {page} now shows the store's value; nothing to decide\n"
            ),
            ExitCode::Ok,
        ),
        Outcome::NotTaken(NotTaken::Unreadable { page, reason }) => (
            format!(
                "conflict #{id}: {page} could not be read ({reason}); repair the page, then \
                 resolve again; nothing was changed\n"
            ),
            ExitCode::NeedsPerson,
        ),
        Outcome::NotTaken(NotTaken::StoreChanged { now, was }) => (
            format!(
                "conflict #{id}: the store's value changed since you looked (a page's edit was \
                 pulled): it now holds {} (was {}); look again (`goalsbot conflicts`) and \
                 resolve again; nothing was changed\n",
                show_value(&now),
                show_value(&was)
            ),
            ExitCode::NeedsPerson,
        ),
        Outcome::NotTaken(NotTaken::WikiChanged { page, now, was }) => (
            format!(
                "conflict #{id}: {page} changed since you looked: it now says {} (was {}); \
                 look again (`goalsbot conflicts`) and resolve again; nothing was changed\n",
                show_value(&now),
                show_value(&was)
            ),
            ExitCode::NeedsPerson,
        ),
    })
}

/// Closes a pending conflict as a person decided: the one code path of
/// `goalsbot resolve` and of `{{goalsbot|resolve|ID|wiki|store}}` on the
/// command page. Taking the wiki's value changes the store (with
/// `by.operator` as author, in the same transaction); keeping the store's
/// value lets the next push write it to the page.
///
/// With `fresh` (not in a dry run), the year's pages are pulled first; the
/// decision is not taken when that settled the conflict or changed either
/// side: the person has not seen it.
pub async fn settle(
    store: &Store,
    fresh: Option<(&Config, &Wiki)>,
    id: i64,
    take: Take,
    by: &Decider,
    dry_run: bool,
) -> Result<Outcome> {
    let mut c = match store.conflict(id).await? {
        None => return Ok(Outcome::Unknown),
        Some(c) => match c.resolution {
            Some(r) => return Ok(Outcome::AlreadyResolved(r)),
            None => c,
        },
    };
    if let (Some((config, wiki)), false) = (fresh, dry_run) {
        match reread(config, wiki, store, c).await? {
            Reread::Unchanged(now) => c = *now,
            Reread::Answer(outcome) => return Ok(outcome),
        }
    }
    let fy = record_fiscal_year(&c.key.record)?;
    let current = store.load_fields(&fy).await?.get(&c.key).cloned();
    let change = match take {
        Take::Wiki if current != c.wiki => Some(FieldChange {
            key: c.key.clone(),
            old: current.clone(),
            new: c.wiki.clone(),
        }),
        _ => None,
    };
    let what = decision(change.as_ref(), take, &current, &c.page);
    if dry_run {
        return Ok(Outcome::DryRun { what });
    }
    let after = match &change {
        Some(ch) => ch.new.clone(),
        None => current,
    };
    let (run_id, others) = decide(store, &c, take, change.as_ref(), after.clone(), by).await?;
    Ok(Outcome::Resolved {
        conflict: Box::new(c),
        take,
        what,
        changed: change.is_some(),
        value: after,
        others,
        run_id,
    })
}

/// What reading the pages again left of a conflict.
enum Reread {
    /// Still waiting, both sides as the person saw them (the conflict as stored now).
    Unchanged(Box<StoredConflict>),
    /// Settled meanwhile, or a side changed: the outcome, and no decision taken.
    Answer(Outcome),
}

/// Pulls the year's pages (the conflict follows its page) and says whether
/// the person's decision still applies to what they saw.
async fn reread(config: &Config, wiki: &Wiki, store: &Store, c: StoredConflict) -> Result<Reread> {
    let id = c.id;
    let seen = c.wiki.clone();
    let fy = record_fiscal_year(&c.key.record)?;
    let stored = store.load_fields(&fy).await?.get(&c.key).cloned();
    // Every quarter page of the year shows the field: one revision
    // check, and the pages that changed are pulled.
    let targets = pull::targets(config, std::slice::from_ref(&fy), &[])?;
    let run_id = crate::ops::runs::new_run_id(chrono::Utc::now());
    let opts = pull::Options::new(config, &run_id, false);
    let report = pull::pull(wiki, store, &targets, &opts)
        .await
        .with_context(|| format!("reading {} before resolving", c.page))?;
    for (t, o) in &report.pages {
        match o {
            pull::Outcome::Failed { error } => {
                anyhow::bail!("reading {} before resolving: {error}", t.title)
            }
            // The conflict's page could not be read (blanked, vandalised):
            // what it shows now is unknown, so nothing is decided on it.
            pull::Outcome::Refused { reason, .. } if t.title == c.page => {
                return Ok(Reread::Answer(Outcome::NotTaken(NotTaken::Unreadable {
                    page: c.page.clone(),
                    reason: reason.to_string(),
                })));
            }
            _ => {}
        }
    }
    let now_stored = store.load_fields(&fy).await?.get(&c.key).cloned();
    if now_stored != stored {
        return Ok(Reread::Answer(Outcome::NotTaken(NotTaken::StoreChanged {
            now: now_stored,
            was: stored,
        })));
    }
    Ok(match store.conflict(id).await? {
        Some(now) if now.resolution.is_some() => Reread::Answer(Outcome::SettledMeanwhile {
            page: c.page.clone(),
            resolution: now.resolution,
        }),
        Some(now) if now.wiki != seen => Reread::Answer(Outcome::NotTaken(NotTaken::WikiChanged {
            page: c.page.clone(),
            now: now.wiki,
            was: seen,
        })),
        Some(now) => Reread::Unchanged(Box::new(now)),
        None => Reread::Answer(Outcome::Unknown),
    })
}

/// What the decision does, in words.
fn decision(
    change: Option<&FieldChange>,
    take: Take,
    current: &Option<Value>,
    page: &str,
) -> String {
    match (change, take) {
        (Some(ch), _) => format!("store takes the wiki's value: {}", describe_change(ch)),
        (None, Take::Wiki) => "the store already holds the wiki's value".to_string(),
        (None, Take::Store) => format!(
            "the store keeps {}; the next push or sync writes it to {page}",
            current
                .as_ref()
                .map_or_else(|| "(none)".to_string(), |v| v.to_string()),
        ),
    }
}

/// Records the decision in one store transaction: the conflict closed, the
/// store's change (when the wiki's value is taken), and the other pages'
/// conflicts on the field that show the value the store now holds settled.
/// (A decision that takes the page's value is, for that field of that page,
/// a sync: pull reads it from the closed conflict, see `pull::since_base`.)
/// Returns the run id and how many other conflicts settled.
async fn decide(
    store: &Store,
    c: &StoredConflict,
    take: Take,
    change: Option<&FieldChange>,
    after: Option<Value>,
    by: &Decider,
) -> Result<(String, usize)> {
    let provenance = Provenance {
        at: chrono::Utc::now(),
        run_id: by
            .run_id
            .clone()
            .unwrap_or_else(|| crate::ops::runs::new_run_id(chrono::Utc::now())),
        source: Source::Tracker {
            operator: by.operator.clone(),
            command: by.command.clone(),
        },
    };
    let stated = |v: &Option<Value>| v.clone().filter(|v| !v.is_null());
    let settled: Vec<i64> = store
        .conflicts(false)
        .await?
        .into_iter()
        .filter(|o| o.id != c.id && o.key == c.key && stated(&o.wiki) == stated(&after))
        .map(|o| o.id)
        .collect();
    let also = Decided { settled: &settled };
    store
        .resolve_conflict(c.id, take, change, &provenance, &also)
        .await?;
    Ok((provenance.run_id, settled.len()))
}
