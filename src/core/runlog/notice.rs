//! The signed notice of new conflicts (`docs/requests.md`, "Conflict
//! notices"): one new section of the command page naming the people whose
//! values disagree, so that MediaWiki's Echo notifies them (it notifies the
//! users linked in a signed post, not those named on a page the bot
//! rewrites, like the status page).
//!
//! Pure: the conflicts in, the section's title and text out; and the
//! conflicts a page's text says were noticed already (a hidden marker per
//! conflict), so that a run stopped between the save and its record does not
//! post the same notice again.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{checked_user_link, operator_user, page_link, ConflictLine, ConflictView, StoreAuthor};
use crate::core::render::{RenderError, Renderer, CONFLICT_NOTICE};

/// The hidden marker of conflict `id` in a notice.
pub fn notice_marker(id: i64) -> String {
    format!("<!-- goalsbot-conflict-notice: {id} -->")
}

/// The conflicts whose notice `wikitext` holds (by their markers).
pub fn noticed_ids(wikitext: &str) -> BTreeSet<i64> {
    const OPEN: &str = "<!-- goalsbot-conflict-notice: ";
    wikitext
        .match_indices(OPEN)
        .filter_map(|(at, _)| {
            let rest = &wikitext[at + OPEN.len()..];
            let end = rest.find(" -->")?;
            rest[..end].parse().ok()
        })
        .collect()
}

/// A notice to post: the new section's title and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub text: String,
}

#[derive(Debug, Serialize)]
struct NoticeView {
    ids: String,
    markers: String,
    people: Vec<String>,
    conflicts: Vec<ConflictView>,
    status_page: Option<String>,
}

/// The wiki users behind a conflict's two values, as user names: who saved
/// the page's value, and who made the store's (a page's editor, or the
/// operator of a tracker edit), in that order.
fn people_of(c: &ConflictLine) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(u) = &c.wiki_user {
        out.push(u.clone());
    }
    match &c.store_by {
        Some(StoreAuthor::Wiki { user: Some(u), .. }) => out.push(u.clone()),
        Some(StoreAuthor::Tracker { operator }) => out.push(operator_user(operator).to_string()),
        _ => {}
    }
    out
}

impl Renderer {
    /// The notice of `conflicts` (those no notice has named yet), mentioning
    /// each person once, the bot itself (`bot`, its login name) left out.
    pub fn conflict_notice(
        &self,
        conflicts: &[ConflictLine],
        bot: &str,
        status_page: Option<&str>,
    ) -> Result<Notice, RenderError> {
        let bot = bot
            .split('@')
            .next()
            .unwrap_or(bot)
            .trim()
            .replace('_', " ");
        let mut seen = BTreeSet::new();
        let mut people = Vec::new();
        for name in conflicts.iter().flat_map(people_of) {
            let key = name.trim().replace('_', " ");
            let own = key.split('@').next().unwrap_or(&key).trim() == bot;
            if key.is_empty() || own || !seen.insert(key.to_lowercase()) {
                continue;
            }
            people.push(checked_user_link(&key));
        }
        // The heading names a few ids; the text lists them all.
        let mut ids: Vec<String> = conflicts
            .iter()
            .take(5)
            .map(|c| format!("#{}", c.id))
            .collect();
        if conflicts.len() > 5 {
            ids.push(format!("and {} more", conflicts.len() - 5));
        }
        let view = NoticeView {
            ids: conflicts
                .iter()
                .map(|c| format!("#{}", c.id))
                .collect::<Vec<_>>()
                .join(", "),
            markers: conflicts.iter().map(|c| notice_marker(c.id)).collect(),
            people,
            conflicts: conflicts.iter().map(ConflictView::new).collect(),
            status_page: status_page.map(page_link),
        };
        Ok(Notice {
            title: format!(
                "{} for a person: {}",
                if conflicts.len() == 1 {
                    "A conflict waits"
                } else {
                    "Conflicts wait"
                },
                ids.join(", ")
            ),
            text: self.render(CONFLICT_NOTICE, &view)?,
        })
    }
}

/// [`Renderer::conflict_notice`] with the built-in templates.
pub fn render_conflict_notice(
    conflicts: &[ConflictLine],
    bot: &str,
    status_page: Option<&str>,
) -> Result<Notice, RenderError> {
    Renderer::builtin().conflict_notice(conflicts, bot, status_page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn conflict(id: i64, wiki_user: Option<&str>, store_by: Option<StoreAuthor>) -> ConflictLine {
        ConflictLine {
            id,
            record: "2020-21/alpha/kr2".into(),
            field: "quarters.Q1.status".into(),
            page: Some("Goals/2020-21 Q1".into()),
            wiki: Some(serde_json::json!("at-risk")),
            store: Some(serde_json::json!("on-track")),
            since: chrono::Utc.with_ymd_and_hms(2020, 10, 1, 12, 0, 0).unwrap(),
            revid: Some(42),
            wiki_user: wiki_user.map(String::from),
            store_by,
        }
    }

    #[test]
    fn a_notice_mentions_each_person_once_is_signed_and_marks_its_conflicts() {
        let tracker = StoreAuthor::Tracker {
            operator: "User:Bob (on-wiki request)".into(),
        };
        let page_edit = StoreAuthor::Wiki {
            user: Some("Alice".into()),
            page: "Goals/2020-21 Q2".into(),
            revid: 7,
        };
        let conflicts = [
            conflict(3, Some("Alice"), Some(tracker)),
            conflict(4, Some("GoalsBot"), Some(page_edit)),
        ];
        let n = render_conflict_notice(&conflicts, "GoalsBot@goalsbot", Some("Goals/Bot status"))
            .unwrap();
        assert_eq!(n.title, "Conflicts wait for a person: #3, #4");
        assert!(
            n.text
                .trim_end()
                .ends_with(&format!("{}{}~~~~", notice_marker(3), notice_marker(4))),
            "{}",
            n.text
        );
        assert!(
            n.text
                .contains("[[User:Alice|Alice]], [[User:Bob|Bob]]: the wiki"),
            "{}",
            n.text
        );
        let people = n.text.split(": the wiki").next().unwrap();
        assert!(
            !people.contains("[[User:GoalsBot|"),
            "the bot mentions nobody of its own: {}",
            n.text
        );
        assert!(n
            .text
            .contains("<code><nowiki>{{goalsbot|resolve|3|wiki}}</nowiki></code>"));
        assert!(n.text.contains("[[Goals/Bot status]]"));
        assert_eq!(noticed_ids(&n.text), BTreeSet::from([3, 4]));
        assert_eq!(
            noticed_ids("<!-- goalsbot-conflict-notice: x -->"),
            BTreeSet::new()
        );

        let one = render_conflict_notice(&conflicts[..1], "GoalsBot", None).unwrap();
        assert_eq!(one.title, "A conflict waits for a person: #3");
        assert!(
            one.text.contains("disagree on a value (#3),"),
            "{}",
            one.text
        );
    }

    #[test]
    fn a_hostile_user_name_is_shown_not_linked_and_breaks_nothing() {
        let c = conflict(5, Some("x]]{{goalsbot|sync}}~~~~"), None);
        let n = render_conflict_notice(&[c], "GoalsBot", None).unwrap();
        // Shown inert, never linked: the only live signature is the bot's.
        let inert = "<nowiki>x]]{{goalsbot|sync}}~~~~</nowiki>";
        assert!(n.text.contains(inert), "{}", n.text);
        assert!(!n.text.contains("[[User:x"), "{}", n.text);
        assert_eq!(
            n.text.replace(inert, "").matches("~~~~").count(),
            1,
            "{}",
            n.text
        );
        assert_eq!(noticed_ids(&n.text), BTreeSet::from([5]));
    }
}
