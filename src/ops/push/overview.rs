//! A year's overview page: decide its new text, then save it.

use super::*;

/// Plans the overview page of a year against revision `latest` (`None`:
/// the page does not exist yet): `Break` with the outcome when there is
/// nothing to save (`{{nobots}}`, unchanged, a dry run's diff), else the
/// revision to save over, its text and the new text.
pub(super) async fn decide_overview(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    records: &FiscalYearRecords,
    fingerprint: &str,
    latest: &Option<RevisionInfo>,
) -> Result<ControlFlow<Outcome, (Option<u64>, String, String)>> {
    let current = match &latest {
        Some(l) => Some(views.wikitext(ctx.run.wiki, l.revid).await?),
        None => None,
    };
    let base = latest.as_ref().map(|l| l.revid);
    if current
        .as_deref()
        .is_some_and(|c| !bots_allowed(c, ctx.run.user))
    {
        if let Some(b) = base {
            ctx.remember(page.title, b, fingerprint, CheckOutcome::Nobots)
                .await?;
        }
        return Ok(ControlFlow::Break(nobots_refusal()));
    }
    let quarter_page = |q| ctx.run.config.pages.quarter_page(page.fy, q);
    let new = plan_overview(current.as_deref(), page.fy, records, quarter_page, renderer)?;
    if current.as_deref() == Some(new.as_str()) {
        if let Some(b) = base {
            ctx.remember(page.title, b, fingerprint, CheckOutcome::Unchanged)
                .await?;
        }
        return Ok(ControlFlow::Break(Outcome::Unchanged));
    }
    let old = current.unwrap_or_default();
    if ctx.run.dry_run {
        return Ok(ControlFlow::Break(Outcome::WouldEdit {
            diff: unified_diff(page.title, &old, &new),
        }));
    }
    Ok(ControlFlow::Continue((base, old, new)))
}

/// Pushes a year's overview page: decides its text ([`decide_overview`]),
/// then saves it; an edit conflict reads the page again, a few times at most.
pub(super) async fn push_overview(
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
        let summary = format!(
            "goalsbot: year overview from tracker [run {}]",
            ctx.run.run_id
        );
        if let Some(reason) = ctx.stop_reason().await? {
            tracing::warn!(page = %page.title, "not saved: {reason}");
            return Ok(Outcome::Stopped { reason });
        }
        refuse_without_the_bot_flag(ctx).await?;
        let saved = match ctx
            .run
            .wiki
            .save(&page.rev.title, &new, &summary, base)
            .await
        {
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
            ctx.run
                .store
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
