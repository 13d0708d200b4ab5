//! One quarter page: decide its new text against the store (plain data:
//! an outcome, or the text, summary and fingerprint to save, and what the
//! store learns from deciding), then save it, deciding again only after an
//! edit conflict.

use super::*;

/// Decides one quarter page at its latest revision, writing nothing:
/// refused (a redirect), missing, or [`decide_quarter_page`]'s decision.
pub(super) async fn decide_quarter(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    q: Quarter,
) -> Result<Decision> {
    if let Some(reason) = page.rev.redirect_refusal() {
        return Ok(Decision::done(Decided::Final(Outcome::Refused { reason })));
    }
    let Some(latest) = &page.rev.latest else {
        return Ok(Decision::done(Decided::Final(Outcome::Missing)));
    };
    decide_quarter_page(ctx, views, renderer, page, q, latest).await
}

/// Saves a quarter page's decided text. An edit conflict, or a save the
/// wiki merged with a person's, pulls the page again and decides anew (its
/// store writes done at once), a few times at most.
pub(super) async fn save_quarter_page(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    (q, planned): (Quarter, PagePlanned),
) -> Result<Outcome> {
    let mut edited: Option<Outcome> = None;
    let mut decided = Some(planned);
    for attempt in 0..=EDIT_CONFLICT_RETRIES {
        let planned = match decided.take() {
            Some(planned) => planned,
            None => {
                let latest = repull(ctx, page, q).await?;
                views.changed(page.fy);
                let decision = decide_quarter_page(ctx, views, renderer, page, q, &latest).await?;
                match decision.write(ctx, views, page).await? {
                    Decided::Save(planned) => planned,
                    Decided::Nothing(outcome) => return Ok(edited.unwrap_or(outcome)),
                    Decided::Final(outcome) => return Ok(outcome),
                    Decided::SaveOverview(_) => bail!("a quarter page planned as an overview"),
                }
            }
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
        ctx.run.store.clear_push_intent(page.title).await?;
    }
    // The last attempt met a person's save: the store takes it in, as after
    // any edit conflict.
    repull(ctx, page, q).await?;
    views.changed(page.fy);
    Ok(Outcome::Failed {
        error: format!(
            "the page kept changing while the bot saved it ({} edit conflicts); nothing of it was lost, run again later",
            EDIT_CONFLICT_RETRIES + 1
        ),
    })
}

/// A page's new text, planned against revision `synced` (whose text is
/// `current`), with its edit summary and the fingerprint of its inputs.
pub(super) struct PagePlanned {
    pub(super) synced: u64,
    pub(super) current: String,
    pub(super) text: String,
    pub(super) summary: String,
    pub(super) fingerprint: String,
}

/// Plans a quarter page against the store, revision `latest` being the one
/// the last pull merged: nothing to do (already checked with the same
/// inputs, the text unchanged, `{{nobots}}`), a dry run's diff, or the text
/// to save; with the fields it cannot write, to hold as conflicts. Writes
/// nothing.
pub(super) async fn decide_quarter_page(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    q: Quarter,
    latest: &RevisionInfo,
) -> Result<Decision> {
    let year = views.get(page.fy).await?;
    let Some(synced) = year
        .pages
        .get(page.title)
        .map(|(revid, _)| *revid)
        .filter(|revid| *revid == latest.revid)
    else {
        return Ok(Decision::done(Decided::Final(Outcome::Refused {
            reason: "the page changed since the last pull (or a guard refused it); \
                     nothing is written until it merges"
                .into(),
        })));
    };
    let forced = views.taken_from_store(page.title, synced).await?;
    // Found already checked when read ahead: its records are not built again.
    if forced.is_empty() {
        if let Some(done) = views.checked_ahead(ctx, page.title, synced).await? {
            return Ok(Decision::done(Decided::Nothing(done)));
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
        return Ok(Decision::done(Decided::Nothing(done)));
    }
    let current = views.wikitext(ctx.run.wiki, synced).await?;
    let checked = |outcome| Learned::Checked {
        revid: synced,
        fingerprint: fingerprint.clone(),
        outcome,
    };
    if !bots_allowed(&current, ctx.run.user) {
        return Ok(Decision {
            decided: Decided::Final(nobots_refusal()),
            writes: vec![checked(CheckOutcome::Nobots)],
        });
    }
    let kept = views.kept_by_a_person().await?;
    let eligible = prose_to_write(ctx.run.store, page.fy, &forced, &kept).await?;
    let inputs = PlanInputs {
        shown: &shown,
        records: &records,
        renderer,
        quarter: q,
        forced: &forced,
        eligible: &eligible,
    };
    let (plan, verdicts) = plan_checked(ctx, page, synced, &current, inputs).await?;
    for w in &plan.warnings {
        tracing::warn!(page = %page.title, "{w}");
        let w = (page.title.to_string(), w.clone());
        if !views.warnings.contains(&w) {
            views.warnings.push(w);
        }
    }
    let mut writes = Vec::new();
    if !verdicts.is_empty() && !ctx.run.dry_run {
        writes.push(Learned::Verdicts(verdicts));
    }
    if !plan.held.is_empty() && !ctx.run.dry_run {
        writes.push(Learned::Held {
            latest: latest.clone(),
            synced,
            held: plan.held.clone(),
        });
    }
    if plan.text == current {
        // With fields held, the next run plans again (they are then
        // pending conflicts, which the fingerprint does not see yet).
        if plan.held.is_empty() {
            writes.push(checked(CheckOutcome::Unchanged));
        }
        let decided = Decided::Nothing(Outcome::Unchanged);
        return Ok(Decision { decided, writes });
    }
    if ctx.run.dry_run {
        let diff = unified_diff(page.title, &current, &plan.text);
        return Ok(Decision::done(Decided::Final(Outcome::WouldEdit { diff })));
    }
    let sources = change_sources(ctx.run.store, &plan, &shown, &records).await?;
    let summary = format!("{} [run {}]", plan.summary_from(&sources), ctx.run.run_id);
    let planned = PagePlanned {
        synced,
        current,
        text: plan.text,
        summary,
        fingerprint,
    };
    Ok(Decision {
        decided: Decided::Save(planned),
        writes,
    })
}

/// After the bot's save of `text` as revision `newrevid` straight on the
/// revision it planned against: the store learns the new revision is this
/// text (as the wiki stores it, unless its save transform changed more:
/// the SHA-1 check says so), its reading, and that it needs nothing.
pub(super) async fn settle_own_save(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    page: &PageJob<'_>,
    q: Quarter,
    text: &str,
    newrevid: u64,
    fingerprint: &str,
) -> Result<()> {
    ctx.run
        .store
        .set_saved_text(page.title, newrevid, as_stored(text), chrono::Utc::now())
        .await?;
    crate::ops::pull::refresh_page_state(
        ctx.run.wiki,
        ctx.run.store,
        page.title,
        page.fy,
        q,
        newrevid,
        &ctx.run.config.palette(),
    )
    .await?;
    views.changed(page.fy);
    ctx.run.store.clear_push_intent(page.title).await?;
    ctx.remember(page.title, newrevid, fingerprint, CheckOutcome::Unchanged)
        .await?;
    Ok(())
}

/// Where the store's values that `plan` writes came from (the latest
/// change of each field it shows anew), for its edit summary: one history
/// query per record it changes. A status cell is credited to the field it
/// shows anew (`records` against what the page showed, `shown`): a note a
/// person wrote is not credited to a tracker status held in a conflict.
pub(super) async fn change_sources(
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
pub(super) struct PlanInputs<'a> {
    pub(super) shown: &'a FiscalYearRecords,
    pub(super) records: &'a FiscalYearRecords,
    pub(super) renderer: &'a Renderer,
    pub(super) quarter: Quarter,
    pub(super) forced: &'a BTreeSet<FieldKey>,
    pub(super) eligible: &'a BTreeSet<FieldKey>,
}

/// Plans a quarter page at revision `synced` (wikitext `current`), writing
/// into staff tables only where the wiki agrees with the reader: a staff
/// table found for the first time is parsed from the page's HTML (which rows
/// are which KRs), and a staff table whose text has no verdict yet is
/// compared with the wiki's parse of this revision ([`table_check`]), the
/// verdict kept by the table's digest. Each costs one HTML read of the
/// revision, only when needed; the page is then planned again.
pub(super) async fn plan_checked(
    ctx: &PushContext<'_>,
    page: &PageJob<'_>,
    synced: u64,
    current: &str,
    inputs: PlanInputs<'_>,
) -> Result<(crate::core::plan::PagePlan, Vec<Found>)> {
    let palette = ctx.run.config.palette();
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
        ctx.run.store.table_checks(&digests).await?
    };
    let mut staff = None;
    let mut html: Option<String> = None;
    let mut found: Vec<Found> = Vec::new();
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
            found.extend(table_check::derived(current, &plan.text, &verdicts));
            return Ok((plan, found));
        }
        if html.is_none() {
            html = Some(ctx.run.wiki.revision_html(page.title, synced).await?);
        }
        let html = html.as_deref().unwrap_or_default();
        if wants_staff {
            // The revision `shown` was read from: its KRs keep those ids.
            let following = Following::new(inputs.shown, &[], []);
            let parsed =
                parse_quarter_page_after(html, page.fy, inputs.quarter, &palette, Some(&following));
            staff = Some(parsed.staff_tables);
        }
        if !plan.unchecked.is_empty() {
            let checked = check_tables(page.title, current, html, &plan.unchecked, &mut verdicts);
            found.extend(checked);
        }
    }
    anyhow::bail!(
        "planning {:?} did not settle after its staff tables were read",
        page.title
    )
}

/// A staff table's verdict found while planning (by the table's digest):
/// the store keeps it once the page's decision is written.
pub(super) type Found = (String, table_check::Verdict);

/// Compares the tables of `unchecked` digests with the wiki's parse (`html`
/// of the same text): each verdict goes into `verdicts` and is returned, to
/// keep; a disagreement is logged.
pub(super) fn check_tables(
    title: &str,
    text: &str,
    html: &str,
    unchecked: &[String],
    verdicts: &mut table_check::Verdicts,
) -> Vec<Found> {
    let mut found = Vec::new();
    for (_, digest, verdict) in table_check::check(text, html) {
        if !unchecked.contains(&digest) || verdicts.contains_key(&digest) {
            continue;
        }
        if let table_check::Verdict::Differs(why) = &verdict {
            tracing::warn!(page = %title, "a staff table is read otherwise by the wiki: {why}");
        }
        found.push((digest.clone(), verdict.clone()));
        verdicts.insert(digest, verdict);
    }
    for digest in unchecked {
        // A table the wiki's parse does not show at all.
        verdicts.entry(digest.clone()).or_insert_with(|| {
            table_check::Verdict::Differs("the wiki's parse shows no such table".into())
        });
    }
    found
}

/// Which prose fields push writes into a page: those whose last word in
/// the store was the tracker's — a tracker edit (`set`, `import`, `resolve`)
/// or a person's decision to keep the store's value (`kept`, which changes
/// nothing in history but settles the field for every page) — and those a
/// person settled by taking the store's value for this page
/// ([`taken_from_store`]). A page that simply shows another wording than a
/// later quarter's page (staff reworded a KR from one quarter to the next)
/// is left as staff wrote it.
pub(super) async fn prose_to_write(
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
pub(super) fn taken_from_store(
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
pub(super) async fn hold_unwritten(
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
        run_id: ctx.run.run_id.to_string(),
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
        !u.is_empty()
            && !same(u, ctx.run.user)
            && !same(u, ctx.run.user.split('@').next().unwrap_or(""))
    });
    ctx.run
        .store
        .hold_unwritten(&provenance, page.title, synced, user, &list)
        .await?;
    Ok(())
}

/// Saves a quarter page's new text against revision `synced`, with the
/// push intent written first and the edit logged after; `None` after an edit
/// conflict (nothing saved).
/// Before a save: the login (made now for a run's first save) must have the
/// bot flag, else [`NotABot`] (the page, and every page after it, is refused).
pub(super) async fn refuse_without_the_bot_flag(ctx: &PushContext<'_>) -> Result<()> {
    match ctx.run.wiki.bot_flag_refusal().await? {
        Some(reason) => {
            tracing::error!("{reason}");
            Err(NotABot { reason }.into())
        }
        None => Ok(()),
    }
}

pub(super) async fn save_with_intent(
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
    ctx.run
        .store
        .set_push_intent(page.title, synced, ctx.run.run_id, chrono::Utc::now())
        .await?;
    crate::fault::reached("push.before-save");
    // Another run may hold the lease now (this one was frozen past its
    // expiry): never two writers on one page.
    if let Some(reason) = crate::ops::runs::lease_lost() {
        anyhow::bail!("{reason}");
    }
    let saved = match ctx
        .run
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
pub(super) async fn repull(
    ctx: &PushContext<'_>,
    page: &PageJob<'_>,
    q: Quarter,
) -> Result<RevisionInfo> {
    let latest = ctx
        .latest(page.title)
        .await?
        .with_context(|| format!("{:?} was deleted while the bot saved it", page.title))?;
    let target = crate::ops::pull::Target {
        title: page.title.to_string(),
        fiscal_year: page.fy.clone(),
        quarter: q,
    };
    let opts = crate::ops::pull::Options::of_run(&ctx.run);
    let outcome = crate::ops::pull::pull_page(
        ctx.run.wiki,
        ctx.run.store,
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
