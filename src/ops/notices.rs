//! Conflict notices (`docs/requests.md`, "Conflict notices"): after a run,
//! the conflicts no notice has named yet get one signed new section on the
//! command page that mentions the people whose values disagree, so that
//! MediaWiki's Echo notifies them. Each conflict is noticed once: the store
//! records the notice's revision, and a hidden marker per conflict on the
//! page covers a run stopped between the save and that record.
//!
//! Costs nothing when there is nothing to notice (one store query); else one
//! read of the command page and one save.

use anyhow::{Context, Result};

use crate::config::Config;
use crate::core::runlog::{self, noticed_ids};
use crate::core::wikitext::bots_allowed;
use crate::ops::runs::{conflict_lines, shutoff_reason};
use crate::store::Store;
use crate::wiki::Wiki;

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
        if !bots_allowed(&c.content, &bot) {
            tracing::warn!(page = %page, "conflict notices not posted: the command page refuses bots ({{{{nobots}}}})");
            return Ok(None);
        }
        // Noticed by a run that stopped before it could record so.
        let there = noticed_ids(&c.content);
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
