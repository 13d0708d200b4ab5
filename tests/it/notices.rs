//! Conflict notices on the real test wiki, with MediaWiki's Echo: a new
//! conflict gets one signed section on the command page that mentions the
//! people whose values disagree, and Echo notifies them; a later run with
//! the conflict still waiting posts nothing more, and a new conflict gets
//! its own notice naming only itself.

use crate::onwiki_resolve::{conflict_made, conflict_made_by};
use crate::support::raw;
use crate::support::test_wiki;
use crate::support::Setup;
use crate::support::{latest_revid, title, with_cell};
use crate::sync::KR2;
use crate::watch::{requests_page, served, ALICE, CAROL};
use goalsbot::core::runlog::{notice_marker, noticed_ids};

/// The tracker edits' operator in [`Setup`] (a wiki user here, so that Echo can notify them).
const OPERATOR: &str = "Story Tester";

/// Mentions of `user` by the bot on this test's command page so far
/// (other tests share the wiki and its users).
fn mentions_of(s: &Setup, user: &str) -> usize {
    let page = requests_page(s);
    test_wiki()
        .notifications()
        .iter()
        .filter(|(kind, to, by, on)| {
            kind == "mention" && to == user && by == "GoalsBot" && *on == page
        })
        .count()
}

/// The sections of the command page whose heading starts with `heading`.
fn notices(s: &Setup, heading: &str) -> Vec<String> {
    let page = raw(&requests_page(s));
    page.split("\n== ")
        .filter(|sec| sec.starts_with(heading))
        .map(String::from)
        .collect()
}

#[test]
fn a_new_conflict_notifies_the_people_in_it_once_by_a_signed_notice() {
    test_wiki().create_user(OPERATOR, "a-long-test-password-1");
    let s = served("notices");
    let (id, _) = conflict_made(&s);

    let posted = notices(&s, "A conflict waits for a person");
    assert_eq!(posted.len(), 1, "one notice: {posted:#?}");
    let notice = &posted[0];
    assert!(
        notice.starts_with(&format!("A conflict waits for a person: #{id} ==")),
        "{notice}"
    );
    assert!(notice.contains(&notice_marker(id)), "{notice}");
    assert!(
        notice.contains(&format!(
            "[[User:{CAROL}|{CAROL}]], [[User:{OPERATOR}|{OPERATOR}]]: the wiki"
        )),
        "mentions both people: {notice}"
    );
    assert!(
        notice.contains(&format!(
            "<code><nowiki>{{{{goalsbot|resolve|{id}|wiki}}}}</nowiki></code>"
        )),
        "{notice}"
    );
    assert!(
        notice.contains("[[User:GoalsBot|GoalsBot]]"),
        "signed: {notice}"
    );
    // Echo notified both, once.
    assert_eq!(
        mentions_of(&s, CAROL),
        1,
        "{:#?}",
        test_wiki().notifications()
    );
    assert_eq!(mentions_of(&s, OPERATOR), 1);

    // The conflict still waits: the next run posts nothing, and exits 0
    // (the conflict was reported: a scheduler that mails on failure does not
    // mail every hour while it waits).
    let page_rev = latest_revid(&requests_page(&s));
    let out = s.run(&["sync"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("1 conflicts waiting (0 new)"),
        "{out:?}"
    );
    assert_eq!(
        latest_revid(&requests_page(&s)),
        page_rev,
        "no second notice"
    );
    assert_eq!(mentions_of(&s, CAROL), 1);

    // A second conflict, by Alice on the Q2 page: its own notice, only its id.
    let q2 = title(&s, "Q2");
    s.ok(&[
        "set",
        KR2,
        "--quarter",
        "Q3",
        "--status",
        "complete",
        "--note",
        "the tracker's note",
    ]);
    test_wiki().edit_as(
        ALICE,
        &q2,
        &with_cell(&raw(&q2), KR2, "Q3", "Concerns: Alice's note"),
    );
    let out = s.run(&["sync"]);
    assert_eq!(out.code, Some(3), "a new conflict: {out:?}");
    let page = raw(&requests_page(&s));
    let ids = noticed_ids(&page);
    assert_eq!(ids.len(), 2, "{page}\n{out:?}\n{}", s.ok(&["conflicts"]));
    let second = *ids.iter().max().unwrap();
    assert_eq!(
        notices(&s, &format!("A conflict waits for a person: #{second}")).len(),
        1,
        "{page}"
    );
    assert_eq!(mentions_of(&s, ALICE), 1, "{page}");
    assert_eq!(
        mentions_of(&s, CAROL),
        1,
        "Carol is not in the second conflict"
    );

    // The watcher reads the notices as the bot's own text: no request in them.
    let out = crate::watch::watch_once(&s);
    assert!(out.contains("0 new requests, 0 answered"), "{out}");
}

/// A conflict found by a bare `pull` (not a sync) gets its notice at once too.
#[test]
fn a_conflict_found_by_a_pull_is_noticed_by_that_pull() {
    let s = served("notices-pull");
    conflict_made_by(&s, "pull", "At risk");
    let posted = notices(&s, "A conflict waits for a person");
    assert_eq!(posted.len(), 1, "one notice: {posted:#?}");
    assert!(
        posted[0].contains(&format!("[[User:{CAROL}|{CAROL}]]")),
        "{}",
        posted[0]
    );
    assert_eq!(
        mentions_of(&s, CAROL),
        1,
        "{:#?}",
        test_wiki().notifications()
    );
    // The sync after it posts nothing more.
    s.run(&["sync"]);
    assert_eq!(notices(&s, "A conflict waits for a person").len(), 1);
}
