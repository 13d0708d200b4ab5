//! Following the wiki's recent changes (`watch`, `docs/requests.md`, "Following changes live"): which
//! fiscal years a poll's changes touch, and where the feed stands.
//!
//! Each poll asks the wiki, in its one request, for the recent changes
//! from the stored [`Position`] on (`list=recentchanges`, oldest first,
//! the position's own change included). The answer says three things:
//!
//! - the changes after the position: those to a tracked page (an edit, a
//!   creation, a move to or from it, a deletion, a protection change) by
//!   anyone but the bot make their year run ([`Feed::years`]);
//! - where the feed stands now (the last change seen, [`Feed::head`]);
//! - whether the watcher can trust it: the position's own change must be
//!   in the answer, else it fell out of the wiki's recent-changes window
//!   (`$wgRCMaxAge`), and the watcher checks every page once instead
//!   ([`Feed::full_check`]) from the feed's newest change on. An answer cut
//!   short (more changes than one request returns) is taken in as far as it
//!   goes, and the next poll goes on from there ([`Feed::more`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::core::records::FiscalYear;

/// Where the watcher stands in the wiki's recent changes: the last change
/// it has taken in (its timestamp, as the wiki writes it, and its id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// ISO 8601, as the API gives it (`2026-12-06T21:14:47Z`).
    pub timestamp: String,
    pub rcid: u64,
}

/// One entry of the wiki's recent changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub rcid: u64,
    pub timestamp: String,
    /// The page changed (for a move, the page moved away from).
    pub title: String,
    /// Who made it (`None` when hidden).
    pub user: Option<String>,
    /// For a move: where the page went.
    pub moved_to: Option<String>,
}

impl Change {
    fn position(&self) -> Position {
        Position {
            timestamp: self.timestamp.clone(),
            rcid: self.rcid,
        }
    }
}

/// What one poll's answer says, read against the stored position.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Feed {
    /// The years whose tracked pages people changed after the position.
    pub years: BTreeSet<FiscalYear>,
    /// How many changes after the position were to tracked pages by people.
    pub changes: usize,
    /// The position to store once those years ran: the last change seen
    /// (the old position when there was none).
    pub head: Option<Position>,
    /// Why every page must be checked once instead (no position yet, or it
    /// fell out of the wiki's window): the watcher then starts from the
    /// feed's newest change.
    pub full_check: Option<String>,
    /// The answer was cut short: more changes follow the head.
    pub more: bool,
}

/// A title as the wiki writes it: spaces, not underscores.
pub fn normal_title(title: &str) -> String {
    title.replace('_', " ").trim().to_string()
}

/// Reads a poll's recent changes (`changes`, oldest first, from the stored
/// `position` on, the position's own change included; `more`: the answer
/// was cut short) against the `tracked` titles and the bot's own user name.
pub fn read(
    position: Option<&Position>,
    changes: &[Change],
    more: bool,
    tracked: &BTreeMap<String, FiscalYear>,
    bot: &str,
) -> Feed {
    let head = changes.iter().map(Change::position).max();
    let Some(position) = position else {
        return Feed {
            head,
            full_check: Some("the watcher has no position in the recent changes yet".into()),
            ..Feed::default()
        };
    };
    let mut feed = Feed {
        head: head.max(Some(position.clone())),
        more,
        ..Feed::default()
    };
    if !changes.iter().any(|c| c.rcid == position.rcid) {
        feed.full_check = Some(format!(
            "recent change {} ({}) is no longer in the wiki's recent changes",
            position.rcid, position.timestamp
        ));
        feed.more = false;
        return feed;
    }
    let bot = normal_title(bot);
    for c in changes.iter().filter(|c| c.position() > *position) {
        if c.user.as_deref().map(normal_title).as_deref() == Some(bot.as_str()) {
            continue;
        }
        let touched: Vec<&FiscalYear> = std::iter::once(&c.title)
            .chain(c.moved_to.as_ref())
            .filter_map(|t| tracked.get(&normal_title(t)))
            .collect();
        if !touched.is_empty() {
            feed.changes += 1;
            feed.years.extend(touched.into_iter().cloned());
        }
    }
    feed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fy(s: &str) -> FiscalYear {
        s.parse().unwrap()
    }

    fn tracked() -> BTreeMap<String, FiscalYear> {
        [
            ("Goals/2020-21 Q1", "2020-21"),
            ("Goals/2020-21 Q2", "2020-21"),
            ("Goals/2020-21", "2020-21"),
            ("Goals/2021-22 Q1", "2021-22"),
        ]
        .into_iter()
        .map(|(t, y)| (t.to_string(), fy(y)))
        .collect()
    }

    fn change(rcid: u64, title: &str, user: &str) -> Change {
        Change {
            rcid,
            timestamp: format!("2026-12-06T10:00:{:02}Z", rcid % 60),
            title: title.into(),
            user: Some(user.into()),
            moved_to: None,
        }
    }

    fn at(c: &Change) -> Position {
        c.position()
    }

    #[test]
    fn only_peoples_changes_to_tracked_pages_after_the_position_run_their_year() {
        let seen = change(10, "Goals/2020-21 Q1", "Ann");
        let changes = vec![
            seen.clone(),
            change(11, "Goals/2020-21 Q2", "GoalsBot"),
            change(12, "Sandbox", "Ann"),
            change(13, "Goals/2021-22_Q1", "Bob"),
            change(14, "Goals/2020-21 Q1", "Ann"),
        ];
        let feed = read(Some(&at(&seen)), &changes, false, &tracked(), "GoalsBot");
        assert_eq!(feed.full_check, None);
        assert_eq!(feed.changes, 2);
        assert_eq!(
            feed.years,
            [fy("2020-21"), fy("2021-22")].into_iter().collect()
        );
        assert_eq!(feed.head, Some(at(&changes[4])));
    }

    #[test]
    fn an_idle_feed_keeps_its_position_and_runs_nothing() {
        let seen = change(10, "Goals/2020-21 Q1", "Ann");
        let feed = read(
            Some(&at(&seen)),
            std::slice::from_ref(&seen),
            false,
            &tracked(),
            "GoalsBot",
        );
        assert_eq!(
            feed,
            Feed {
                head: Some(at(&seen)),
                ..Feed::default()
            }
        );
    }

    #[test]
    fn the_bots_own_saves_wake_nothing() {
        let seen = change(10, "Sandbox", "Ann");
        let changes = vec![
            seen.clone(),
            change(11, "Goals/2020-21 Q1", "GoalsBot"),
            change(12, "Goals/2020-21", "GoalsBot"),
        ];
        let feed = read(Some(&at(&seen)), &changes, false, &tracked(), "GoalsBot");
        assert!(feed.years.is_empty());
        assert_eq!(feed.head, Some(at(&changes[2])));
    }

    #[test]
    fn a_page_moved_away_or_onto_a_tracked_title_runs_its_year() {
        let seen = change(10, "Sandbox", "Ann");
        let mut away = change(11, "Goals/2020-21 Q2", "Ann");
        away.moved_to = Some("Archive/Q2".into());
        let mut onto = change(12, "Drafts/Q1", "Bob");
        onto.moved_to = Some("Goals/2021-22 Q1".into());
        let feed = read(
            Some(&at(&seen)),
            &[seen.clone(), away, onto],
            false,
            &tracked(),
            "GoalsBot",
        );
        assert_eq!(
            feed.years,
            [fy("2020-21"), fy("2021-22")].into_iter().collect()
        );
    }

    #[test]
    fn a_hidden_user_is_not_the_bot() {
        let seen = change(10, "Sandbox", "Ann");
        let mut hidden = change(11, "Goals/2020-21 Q1", "");
        hidden.user = None;
        let feed = read(
            Some(&at(&seen)),
            &[seen.clone(), hidden],
            false,
            &tracked(),
            "GoalsBot",
        );
        assert_eq!(feed.changes, 1);
    }

    #[test]
    fn no_position_or_a_lost_position_asks_for_a_full_check() {
        let seen = change(10, "Sandbox", "Ann");
        let later = change(11, "Goals/2020-21 Q1", "Ann");
        let none = read(
            None,
            std::slice::from_ref(&later),
            false,
            &tracked(),
            "GoalsBot",
        );
        assert!(none.full_check.is_some());
        assert_eq!(none.head, Some(at(&later)));
        // The position's change is gone from the window.
        let lost = read(
            Some(&at(&seen)),
            std::slice::from_ref(&later),
            false,
            &tracked(),
            "GoalsBot",
        );
        assert!(lost.full_check.as_deref().unwrap().contains("no longer"));
        assert_eq!(lost.head, Some(at(&later)));
    }

    #[test]
    fn an_answer_cut_short_is_taken_in_as_far_as_it_goes() {
        let seen = change(10, "Sandbox", "Ann");
        let later = change(11, "Goals/2020-21 Q1", "Ann");
        let cut = read(
            Some(&at(&seen)),
            &[seen.clone(), later.clone()],
            true,
            &tracked(),
            "GoalsBot",
        );
        assert_eq!(cut.full_check, None);
        assert!(cut.more);
        assert_eq!(cut.changes, 1);
        assert_eq!(cut.head, Some(at(&later)));
    }

    #[test]
    fn changes_in_the_same_second_are_ordered_by_id() {
        let mut seen = change(20, "Sandbox", "Ann");
        seen.timestamp = "2026-12-06T10:00:00Z".into();
        let mut same_second = change(21, "Goals/2020-21 Q1", "Ann");
        same_second.timestamp = seen.timestamp.clone();
        let feed = read(
            Some(&at(&seen)),
            &[seen.clone(), same_second.clone()],
            false,
            &tracked(),
            "GoalsBot",
        );
        assert_eq!(feed.changes, 1);
        assert_eq!(feed.head, Some(at(&same_second)));
    }
}
