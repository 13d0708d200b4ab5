//! The run's checks, so that a run with nothing new to write costs a
//! request or two: the no-op marker of a whole sync, each page's
//! fingerprint (everything its plan depends on besides its revision) and the
//! push check that remembers it, each year's digest (every page of the year
//! found needing nothing with the same inputs), the views of each year the
//! pages are planned against, and the read-ahead that fetches a few pages'
//! texts at once.

use super::*;

/// Names the planner's behaviour in push checks' fingerprints: bump it when
/// an unchanged page and store may plan differently (e.g. staff tables).
pub(crate) const PLANNER: &str = "tables-2";

/// The years a push plans against: given (a dry-run sync's, as its pull's
/// plans leave them), or loaded from the store when first needed and again
/// after the push changed the store (a save, a pull after an edit conflict).
pub(super) struct Views<'a> {
    pub(super) store: &'a Store,
    pub(super) config: &'a Config,
    pub(super) years: BTreeMap<FiscalYear, YearView>,
    /// Wikitext read ahead, by revision id ([`read_ahead`]).
    pub(super) texts: BTreeMap<u64, String>,
    /// What [`read_ahead`] found already checked, by (title, revision,
    /// fingerprint): the plan asks the store no second time.
    pub(super) checked: BTreeMap<(String, u64, String), Option<Outcome>>,
    /// Years whose plan inputs are those of a push that found nothing to do
    /// on any of their pages ([`year_digest`]): not planned at all.
    pub(super) skip: BTreeSet<FiscalYear>,
    /// The plan inputs' digest of each other year, kept if its pages all
    /// turn out to need nothing.
    pub(super) year_digests: BTreeMap<FiscalYear, String>,
    /// The fingerprint [`read_ahead`] computed for a page at a revision
    /// (while the year's view is unchanged): a page found already checked
    /// with it is not planned again.
    pub(super) fingerprints: BTreeMap<(String, u64), String>,
    /// Every conflict, pending or settled, read when first needed.
    pub(super) conflicts: Option<Vec<crate::store::StoredConflict>>,
    /// What the plans could not do on pages they otherwise wrote (a staff
    /// table not written into), `(page, why)`: the report takes them.
    pub(super) warnings: Vec<(String, String)>,
}

impl<'a> Views<'a> {
    /// No page read yet; `years`: the years already planned.
    pub(super) fn new(
        store: &'a Store,
        config: &'a Config,
        years: BTreeMap<FiscalYear, YearView>,
    ) -> Self {
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
    pub(super) async fn get(&mut self, fy: &FiscalYear) -> Result<&YearView> {
        if !self.years.contains_key(fy) {
            let view = load_view(self.store, self.config, fy).await?;
            self.years.insert(fy.clone(), view);
        }
        Ok(&self.years[fy])
    }

    /// The wikitext of revision `revid`: read ahead, or read now.
    pub(super) async fn wikitext(&mut self, wiki: &Wiki, revid: u64) -> Result<String> {
        match self.texts.remove(&revid) {
            Some(text) => Ok(text),
            None => wiki.revision_wikitext(revid).await,
        }
    }

    /// [`PushContext::checked`], answered from [`read_ahead`]'s look when it had one.
    pub(super) async fn checked(
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
    pub(super) async fn taken_from_store(
        &mut self,
        title: &str,
        synced: u64,
    ) -> Result<BTreeSet<FieldKey>> {
        if self.conflicts.is_none() {
            self.conflicts = Some(self.store.conflicts(true).await?);
        }
        let conflicts = self.conflicts.as_deref().unwrap_or_default();
        Ok(taken_from_store(conflicts, title, synced))
    }

    /// Every field a person decided by keeping the store's value
    /// (`resolve --take store`, on the wiki or the command line), and when.
    pub(super) async fn kept_by_a_person(&mut self) -> Result<Vec<(FieldKey, DateTime<Utc>)>> {
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
    pub(super) fn changed(&mut self, fy: &FiscalYear) {
        self.years.remove(fy);
        self.conflicts = None;
        let titles = year_titles(self.config, fy);
        self.fingerprints.retain(|(t, _), _| !titles.contains(t));
    }

    /// The outcome of a page already checked at `revid` with the
    /// fingerprint [`read_ahead`] computed for it, if any.
    pub(super) async fn checked_ahead(
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
pub(super) async fn load_views_with(
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
pub(super) fn view_of(
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
pub(super) fn check_outcome(
    check: Option<&PageCheck>,
    revid: u64,
    fingerprint: &str,
) -> Option<Outcome> {
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

/// What a year's plan inputs are read from besides its pages' sync
/// states: for every year at once, in four queries.
pub(super) struct YearInputs {
    /// The newest history entry of each year's records.
    pub(super) heads: BTreeMap<String, i64>,
    /// Every conflict, pending or settled (how a page's field was settled is
    /// an input of its plan).
    pub(super) conflicts: Vec<crate::store::StoredConflict>,
    /// Pages with a push intent (a save not known to have been made).
    pub(super) intents: BTreeSet<String>,
    /// The digests kept by [`Store::set_year_checks`].
    pub(super) checks: BTreeMap<String, String>,
}

impl YearInputs {
    pub(super) async fn read(store: &Store) -> Result<YearInputs> {
        Ok(YearInputs {
            heads: store.year_heads().await?,
            conflicts: store.conflicts(true).await?,
            intents: store.push_intent_titles().await?,
            checks: store.year_checks().await?,
        })
    }
}

/// What every year's plan reads of the store besides its fields.
pub(super) struct PlanReads {
    /// The keys of the pending conflicts.
    pub(super) pending: Vec<FieldKey>,
    /// Every page's sync state.
    pub(super) states: BTreeMap<String, PageState>,
    /// Every page's push check.
    pub(super) checks: BTreeMap<String, PageCheck>,
}

impl PlanReads {
    pub(super) async fn read(store: &Store) -> Result<PlanReads> {
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
pub(super) fn year_digest(
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
        &format!("{:?}", ctx.run.config),
        ctx.run.user,
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
    for title in year_titles(ctx.run.config, fy) {
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
pub(super) async fn read_ahead(
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
    let year_inputs = if ctx.run.dry_run || !every_page {
        None
    } else {
        Some(YearInputs::read(ctx.run.store).await?)
    };
    // What every year's plan reads of the store besides its fields, in three
    // queries for the whole push rather than a few per year and page.
    let PlanReads {
        pending,
        states,
        checks,
    } = PlanReads::read(ctx.run.store).await?;
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
    let loaded =
        load_views_with(ctx.run.store, ctx.run.config, &unloaded, &pending, &states).await?;
    views.years.extend(loaded);
    for fy in &planned {
        let year = views.get(fy).await?;
        for (i, title) in year_titles(ctx.run.config, fy).iter().enumerate() {
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
        ctx.run.store.saved_texts(&titles).await?
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
    let texts = ctx.run.wiki.revision_wikitexts(&revids).await?;
    views.texts.extend(texts);
    Ok(())
}

/// `text` as MediaWiki stores a save of it: without trailing whitespace
/// (its pre-save transform trims the text as PHP's `rtrim` does). What else
/// that transform changes (signatures, `subst:`) the SHA-1 check finds.
pub(super) fn as_stored(text: &str) -> &str {
    text.trim_end_matches([' ', '\t', '\n', '\r', '\0', '\x0B'])
}

/// Whether `text` is the wikitext of revision `latest`: the wiki's SHA-1 of
/// it (from the revision check) is the text's. No SHA-1 (hidden, or not
/// asked): not known to be.
pub(super) fn same_text(latest: &RevisionInfo, text: &str) -> bool {
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
pub(super) fn planned_fingerprint(
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
pub(super) async fn settle_saved_years(
    ctx: &PushContext<'_>,
    renderer: &Renderer,
    years: &[FiscalYear],
    known: &BTreeMap<String, PageRevision>,
    saved: &BTreeMap<String, u64>,
) -> Result<Vec<(FiscalYear, String)>> {
    let mut now: BTreeMap<String, PageRevision> = BTreeMap::new();
    for fy in years {
        for title in year_titles(ctx.run.config, fy) {
            let Some(rev) = known.get(&title) else {
                continue;
            };
            let rev = match saved.get(&title) {
                Some(revid) => rev.saved_as(*revid, ctx.run.user),
                None => rev.clone(),
            };
            now.insert(title, rev);
        }
    }
    let inputs = YearInputs::read(ctx.run.store).await?;
    let PlanReads {
        pending,
        states,
        checks,
    } = PlanReads::read(ctx.run.store).await?;
    let mut settled = Vec::new();
    let mut loaded =
        load_views_with(ctx.run.store, ctx.run.config, years, &pending, &states).await?;
    'years: for fy in years {
        let Some(view) = loaded.remove(fy) else {
            continue;
        };
        for (i, title) in year_titles(ctx.run.config, fy).iter().enumerate() {
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

/// The no-op marker: a digest of everything a sync's plans depend on: this build, the config,
/// the bot's name, the templates, every tracked page's latest revision (from
/// the revision check), and the store ([`Store::sync_inputs_digest`]). A sync whose
/// digest is the one kept by the last sync that found nothing to do plans
/// nothing.
pub(crate) async fn sync_inputs_digest(
    ctx: &crate::ops::RunContext<'_>,
    revisions: &[crate::wiki::PageRevision],
) -> Result<String> {
    use sha2::{Digest, Sha256};
    let renderer =
        crate::core::render::Renderer::with_dir(ctx.config.pages.templates_dir.as_deref())?;
    let mut h = Sha256::new();
    for part in [
        env!("CARGO_PKG_VERSION").to_string(),
        // A new parser or planner may read or plan the same pages differently.
        format!("parser {} planner {}", crate::store::PARSER, PLANNER),
        format!("{:?}", ctx.config),
        ctx.user.to_string(),
        renderer.fingerprint(),
        ctx.store
            .sync_inputs_digest(&ctx.config.pages.status_page())
            .await?,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for r in revisions {
        let latest = r.latest.as_ref().map_or(0, |l| l.revid);
        h.update(format!("{}|{}|{}|{latest}", r.requested, r.title, r.redirected).as_bytes());
        h.update([0]);
    }
    Ok(format!("{:x}", h.finalize()))
}
