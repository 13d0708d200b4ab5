//! What push decides for a page before it saves anything, and the run's
//! two phases over the pages: decide them all, then save them one at a
//! time.

use super::*;

/// What push decided for a page before saving anything.
pub(super) enum Decided {
    /// The page's outcome, whatever was saved before it.
    Final(Outcome),
    /// Nothing (more) to save: the outcome unless an earlier attempt saved.
    Nothing(Outcome),
    /// A quarter page's new text to save.
    Save(PagePlanned),
    /// An overview's new text to save.
    SaveOverview(OverviewPlanned),
}

/// A page's decision and what the store learns from it: written in the
/// save phase ([`Decision::write`]), so that deciding writes nothing.
pub(super) struct Decision {
    pub(super) decided: Decided,
    pub(super) writes: Vec<Learned>,
}

/// What the store learns from deciding a page.
pub(super) enum Learned {
    /// The page at `revid` needs nothing for the inputs `fingerprint`
    /// (unchanged, or `{{nobots}}`): the next push does not plan it.
    Checked {
        revid: u64,
        fingerprint: String,
        outcome: CheckOutcome,
    },
    /// What the wiki's parse said of staff tables (by digest).
    Verdicts(Vec<Found>),
    /// Fields the plan could not write, held as conflicts against revision
    /// `synced` (`latest` names its author).
    Held {
        latest: RevisionInfo,
        synced: u64,
        held: Vec<crate::core::prose::Held>,
    },
}

impl Decision {
    /// A decision with nothing for the store.
    pub(super) fn done(decided: Decided) -> Self {
        Decision {
            decided,
            writes: Vec::new(),
        }
    }

    /// Writes what the store learns from the decision (nothing in a dry
    /// run), and returns the decision.
    pub(super) async fn write(
        self,
        ctx: &PushContext<'_>,
        views: &mut Views<'_>,
        page: &PageJob<'_>,
    ) -> Result<Decided> {
        for learned in self.writes {
            match learned {
                Learned::Checked {
                    revid,
                    fingerprint,
                    outcome,
                } => {
                    ctx.remember(page.title, revid, &fingerprint, outcome)
                        .await?
                }
                Learned::Verdicts(found) => {
                    let now = chrono::Utc::now();
                    for (digest, verdict) in found {
                        ctx.run
                            .store
                            .set_table_check(&digest, &verdict, now)
                            .await?;
                    }
                }
                Learned::Held {
                    latest,
                    synced,
                    held,
                } => {
                    hold_unwritten(ctx, page, &latest, synced, &held).await?;
                    views.conflicts = None;
                }
            }
        }
        Ok(self.decided)
    }
}

/// The decision of each of `jobs` (`None`: the page's revision was not
/// read), in order; nothing is written.
pub(super) async fn decide_all(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    jobs: &[(&FiscalYear, usize, String)],
    known: &BTreeMap<String, PageRevision>,
) -> Vec<Option<Result<Decision>>> {
    let mut decided = Vec::new();
    for (fy, i, title) in jobs {
        let Some(rev) = known.get(title) else {
            decided.push(None);
            continue;
        };
        let page = PageJob { fy, title, rev };
        let decision = if ctx.bot_flag_refusal().is_some() || views.skip.contains(fy) {
            // Refused unread, or a year that needs nothing: see the saves.
            Ok(Decision::done(Decided::Nothing(Outcome::Unchanged)))
        } else {
            match Quarter::ALL.get(*i) {
                Some(q) => decide_quarter(ctx, views, renderer, &page, *q).await,
                None => decide_overview_page(ctx, views, renderer, &page).await,
            }
        };
        decided.push(Some(decision));
    }
    decided
}

/// Saves one page as decided (an error deciding it is its outcome's): what
/// the store learns from the decision first, then its new text, if any (a
/// quarter page when `q` says which).
pub(super) async fn save_decided(
    ctx: &PushContext<'_>,
    views: &mut Views<'_>,
    renderer: &Renderer,
    page: &PageJob<'_>,
    (q, decision): (Option<Quarter>, Result<Decision>),
) -> Result<Outcome> {
    match (decision?.write(ctx, views, page).await?, q) {
        (Decided::Final(outcome) | Decided::Nothing(outcome), _) => Ok(outcome),
        (Decided::Save(planned), Some(q)) => {
            save_quarter_page(ctx, views, renderer, page, (q, planned)).await
        }
        (Decided::SaveOverview(planned), None) => {
            save_overview(ctx, views, renderer, page, planned).await
        }
        _ => bail!("{:?}: a page planned as another kind of page", page.title),
    }
}
