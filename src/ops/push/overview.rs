//! A year's overview page: decide its new text (writing nothing), then save it.

use super::*;

/// An overview's new text, planned against revision `base` (`None`: the
/// page does not exist yet) whose text is `old`, with what it was planned
/// from (to decide again after an edit conflict).
pub(super) struct OverviewPlanned {
    pub(super) base: Option<u64>,
    pub(super) old: String,
    pub(super) new: String,
    pub(super) records: FiscalYearRecords,
    pub(super) fingerprint: String,
}

/// Decides a year's overview page at its latest revision, writing nothing:
/// refused (a redirect), already checked, nothing to show, or
/// [`decide_overview`]'s decision.
pub(super) async fn decide_overview_page(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
) -> Result<Decision> {
    if let Some(reason) = page.rev.redirect_refusal() {
        return Ok(Decision::done(Decided::Final(Outcome::Refused { reason })));
    }
    // Found already checked when read ahead: its records are not built again.
    if let Some(l) = &page.rev.latest {
        if let Some(done) = views.checked_ahead(ctx, page.title, l.revid).await? {
            return Ok(Decision::done(Decided::Final(done)));
        }
    }
    let year = views.get(page.fy).await?;
    let records = crate::core::fields::unflatten(page.fy, &year.fields)?;
    if records.objectives.is_empty() {
        return Ok(Decision::done(Decided::Final(Outcome::Unchanged)));
    }
    let fingerprint = ctx.fingerprint(renderer, page.title, &records);
    decide_overview(
        ctx,
        views,
        renderer,
        page,
        (records, fingerprint),
        &page.rev.latest,
    )
    .await
}

/// Plans the overview page of a year from `records` (with their
/// `fingerprint`) against revision `latest` (`None`: the page does not exist
/// yet): an outcome when there is nothing to save (already checked with the
/// same inputs, `{{nobots}}`, unchanged, a dry run's diff), else the text to
/// save; with the check the store learns. Writes nothing.
pub(super) async fn decide_overview(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    (records, fingerprint): (FiscalYearRecords, String),
    latest: &Option<RevisionInfo>,
) -> Result<Decision> {
    let base = latest.as_ref().map(|l| l.revid);
    if let Some(b) = base {
        if let Some(done) = views.checked(ctx, page.title, b, &fingerprint).await? {
            return Ok(Decision::done(Decided::Final(done)));
        }
    }
    let current = match base {
        Some(b) => Some(views.wikitext(ctx.run.wiki, b).await?),
        None => None,
    };
    let checked = |outcome| {
        base.map(|revid| Learned::Checked {
            revid,
            fingerprint: fingerprint.clone(),
            outcome,
        })
    };
    if current
        .as_deref()
        .is_some_and(|c| !bots_allowed(c, ctx.run.user))
    {
        return Ok(Decision {
            decided: Decided::Final(nobots_refusal()),
            writes: checked(CheckOutcome::Nobots).into_iter().collect(),
        });
    }
    let quarter_page = |q| ctx.run.config.pages.quarter_page(page.fy, q);
    let new = plan_overview(
        current.as_deref(),
        page.fy,
        &records,
        quarter_page,
        renderer,
    )?;
    if current.as_deref() == Some(new.as_str()) {
        return Ok(Decision {
            decided: Decided::Final(Outcome::Unchanged),
            writes: checked(CheckOutcome::Unchanged).into_iter().collect(),
        });
    }
    let old = current.unwrap_or_default();
    if ctx.run.dry_run {
        let diff = unified_diff(page.title, &old, &new);
        return Ok(Decision::done(Decided::Final(Outcome::WouldEdit { diff })));
    }
    Ok(Decision::done(Decided::SaveOverview(OverviewPlanned {
        base,
        old,
        new,
        records,
        fingerprint,
    })))
}

/// Saves a year's overview page's decided text; an edit conflict reads the
/// page again and decides anew, a few times at most.
pub(super) async fn save_overview(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    mut planned: OverviewPlanned,
) -> Result<Outcome> {
    for attempt in 0..=EDIT_CONFLICT_RETRIES {
        let OverviewPlanned {
            base,
            old,
            new,
            records,
            fingerprint,
        } = planned;
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
                let latest = ctx.latest(page.title).await?;
                let again = (records, fingerprint);
                let decision = decide_overview(ctx, views, renderer, page, again, &latest).await?;
                planned = match decision.write(ctx, views, page).await? {
                    Decided::SaveOverview(planned) => planned,
                    Decided::Final(outcome) | Decided::Nothing(outcome) => return Ok(outcome),
                    Decided::Save(_) => bail!("an overview planned as a quarter page"),
                };
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
