//! `goalsbot resolve`: settles a pending conflict as a person decided, after reading the year's pages again.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::config::{Config, Credentials};
use crate::core::fields::{describe_change, show_value, FieldChange};
use crate::error::{ExitCode, UsageError};
use crate::ops::{command_line, pull, Session};
use crate::store::{record_fiscal_year, Decided, Provenance, Source, Store, StoredConflict, Take};
use crate::wiki::Wiki;

/// `goalsbot resolve ID --take wiki|store`: prints what was decided.
pub async fn command(
    config: &Config,
    creds: &Credentials,
    id: i64,
    take: Take,
    dry_run: bool,
) -> Result<ExitCode> {
    // Reads the conflict's page first (anonymously is enough).
    let session = Session::open(config, creds).await?;
    let fresh = Some((config, &session.wiki));
    let run = async {
        let (text, code) =
            resolve(&session.store, fresh, id, take, &command_line(), dry_run).await?;
        print!("{text}");
        Ok(code)
    };
    let out = session.writing(config, dry_run, run).await;
    session.close().await;
    out
}

/// `goalsbot resolve ID --take wiki|store`: closes a pending conflict as a
/// person decided. Taking the wiki's value changes the store (with the
/// operator as author, in the same transaction); keeping the store's value
/// lets the next push write it to the page.
///
/// With `fresh` (not in a dry run), the year's pages are pulled first; the
/// decision is not taken when that settled the conflict or changed either
/// side: the person has not seen it (exit 3, or 0 when settled).
pub async fn resolve(
    store: &Store,
    fresh: Option<(&Config, &Wiki)>,
    id: i64,
    take: Take,
    command: &str,
    dry_run: bool,
) -> Result<(String, ExitCode)> {
    let mut c = waiting(store, id).await?;
    if let (Some((config, wiki)), false) = (fresh, dry_run) {
        match reread(config, wiki, store, c).await? {
            Reread::Unchanged(now) => c = *now,
            Reread::Answer(text, code) => return Ok((text, code)),
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
        return Ok((
            format!("dry run: would resolve conflict #{id}: {what} (the page is read first when not a dry run)\n"),
            ExitCode::Ok,
        ));
    }
    let after = match &change {
        Some(ch) => ch.new.clone(),
        None => current,
    };
    let (run_id, settled) = decide(store, &c, take, change.as_ref(), after, command).await?;
    let what = if settled > 0 {
        format!(
            "{what}; {settled} more conflicts on the field settled (their pages show that value)"
        )
    } else {
        what
    };
    Ok((
        format!(
            "resolved conflict #{id} ({} {}): {what} [run {run_id}]\n",
            c.key.record, c.key.field
        ),
        ExitCode::Ok,
    ))
}

/// The conflict `id`, when it is waiting for a person.
async fn waiting(store: &Store, id: i64) -> Result<StoredConflict> {
    let Some(c) = store.conflict(id).await? else {
        return Err(UsageError::new(format!(
            "there is no conflict #{id}; `goalsbot conflicts` lists the waiting ones"
        ))
        .into());
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
}

/// What reading the pages again left of a conflict.
enum Reread {
    /// Still waiting, both sides as the person saw them (the conflict as stored now).
    Unchanged(Box<StoredConflict>),
    /// Settled meanwhile, or a side changed: the answer, and no decision taken.
    Answer(String, ExitCode),
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
    let opts = pull::Options {
        run_id: &crate::ops::runs::new_run_id(chrono::Utc::now()),
        dry_run: false,
        max_removed_share: config.pages.max_removed_share,
        palette: config.palette(),
    };
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
                return Ok(Reread::Answer(
                    format!(
                        "conflict #{id}: {} could not be read ({reason}); repair the page, then \
                         resolve again; nothing was changed\n",
                        c.page
                    ),
                    ExitCode::NeedsPerson,
                ));
            }
            _ => {}
        }
    }
    let now_stored = store.load_fields(&fy).await?.get(&c.key).cloned();
    if now_stored != stored {
        return Ok(Reread::Answer(
            format!(
                "conflict #{id}: the store's value changed since you looked (a page's edit was \
                 pulled): it now holds {} (was {}); look again (`goalsbot conflicts`) and \
                 resolve again; nothing was changed\n",
                show_value(&now_stored),
                show_value(&stored)
            ),
            ExitCode::NeedsPerson,
        ));
    }
    Ok(match store.conflict(id).await? {
        Some(now) if now.resolution.is_some() => Reread::Answer(
            format!(
                "conflict #{id} was settled meanwhile: {} now shows the store's value; nothing to decide\n",
                c.page
            ),
            ExitCode::Ok,
        ),
        Some(now) if now.wiki != seen => Reread::Answer(
            format!(
                "conflict #{id}: {} changed since you looked: it now says {} (was {}); \
                 look again (`goalsbot conflicts`) and resolve again; nothing was changed\n",
                c.page,
                show_value(&now.wiki),
                show_value(&seen)
            ),
            ExitCode::NeedsPerson,
        ),
        Some(now) => Reread::Unchanged(Box::new(now)),
        None => Reread::Unchanged(Box::new(waiting(store, id).await?)),
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
/// store's change (when the wiki's value is taken), the other pages'
/// conflicts on the field that show the value the store now holds settled,
/// and — when the store took the page's value — that page's base agreeing
/// with the store. Returns the run id and how many other conflicts settled.
async fn decide(
    store: &Store,
    c: &StoredConflict,
    take: Take,
    change: Option<&FieldChange>,
    after: Option<Value>,
    command: &str,
) -> Result<(String, usize)> {
    let provenance = Provenance {
        at: chrono::Utc::now(),
        run_id: crate::ops::runs::new_run_id(chrono::Utc::now()),
        source: Source::Tracker {
            operator: crate::ops::tracker::operator(),
            command: command.to_string(),
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
    let state = match take {
        Take::Wiki => store.page_state(&c.page).await?,
        Take::Store => None,
    };
    let also = Decided {
        settled: &settled,
        rebase: state.as_ref().map(|st| (c.page.as_str(), st)),
    };
    store
        .resolve_conflict(c.id, take, change, &provenance, &also)
        .await?;
    Ok((provenance.run_id, settled.len()))
}
