//! A page whose structure changed suspiciously is held, on the real wiki
//! (issue 27, case 5): deleting one heading line merges two objectives'
//! sections; the pull applies nothing from that revision (exit 3, the page
//! named as refused), until the page is repaired or `pull --accept` says a
//! person checked it.

use crate::support::raw;
use crate::support::staff_save;
use crate::support::Setup;

const HEADING: &str = "== MTP-Y2: Platform Evolution - Content Integrity ==\n";

#[test]
fn deleting_a_heading_line_is_held_until_the_page_is_repaired_or_accepted() {
    let s = Setup::new("structure-hold", None);
    s.ok(&["sync"]);
    let title = format!("{}/2020-21 Q2", s.prefix);
    let before = s.export(&[]);
    let good = raw(&title);
    assert!(good.contains(HEADING), "{good}");

    // A slip in VisualEditor: the heading line goes.
    staff_save(&title, &good.replacen(HEADING, "", 1));
    let held = s.run(&["sync"]);
    assert_eq!(held.code, Some(3), "{held:?}");
    let out = held.all_output();
    assert!(
        out.contains("REFUSED") && out.contains("moves data between records"),
        "{out}"
    );
    assert!(
        out.contains("Content Integrity"),
        "names the objective: {out}"
    );
    assert!(out.contains("--accept"), "says how to apply it: {out}");
    assert_eq!(
        s.export(&[]),
        before,
        "nothing from the held revision reached the store"
    );

    // Repaired (a revert): the next sync goes through and changes nothing.
    staff_save(&title, &good);
    let repaired = s.run(&["sync"]);
    assert_eq!(repaired.code, Some(0), "{repaired:?}");
    assert_eq!(s.export(&[]), before);

    // Deleted again, then accepted by an operator who checked it: applied.
    staff_save(&title, &good.replacen(HEADING, "", 1));
    assert_eq!(s.run(&["sync"]).code, Some(3));
    let accepted = s.run(&["pull", "--accept", &title]);
    assert_eq!(accepted.code, Some(0), "{accepted:?}");
    assert_ne!(s.export(&[]), before, "the accepted revision is applied");
}

/// Issue 27, case 1: on one quarter page a person deletes KR2's block and
/// renames KR3 to KR2. Applied by number, KR3's words would take KR2's
/// statuses and KR3 would be marked removed (and its row deleted from the
/// other pages). The bot does not move values between key results: the page
/// is held for a person, nothing is applied, the other pages keep their rows.
#[test]
fn a_renumbered_key_result_is_held_not_given_another_krs_values() {
    let s = Setup::new("structure-renumber", None);
    s.ok(&["sync"]);
    let q1 = format!("{}/2020-21 Q1", s.prefix);
    let q2 = format!("{}/2020-21 Q2", s.prefix);
    let before = s.export(&[]);
    let q1_before = raw(&q1);
    let good = raw(&q2);
    let start = good.find("\nKR2 Engineers have").expect("KR2's block") + 1;
    let end = good[start..].find("\nKR3 Four").expect("KR3's block") + start + 1;
    let mut edited = good.clone();
    edited.replace_range(start..end, "");
    let edited = edited.replacen("\nKR3 Four", "\nKR2 Four", 1);
    staff_save(&q2, &edited);

    let held = s.run(&["sync"]);
    assert_eq!(held.code, Some(3), "{held:?}");
    let out = held.all_output();
    assert!(
        out.contains("now has the words of key-result 3"),
        "names the renumbering: {out}"
    );
    assert_eq!(s.export(&[]), before, "no value moved between key results");
    assert_eq!(raw(&q1), q1_before, "the other page keeps every row");
}

/// Issue 27, case 5, on the wiki: a held page is applied when an allowed
/// person asks `{{goalsbot|accept|FY Qn}}` on the command page (by revision
/// author, as every request), as the page stood when they asked; a page
/// saved again after the request is not accepted, and someone not allowed
/// is refused.
#[test]
fn a_held_page_is_applied_when_an_allowed_person_accepts_it_on_the_wiki() {
    use crate::watch::{ask, requests_page, section, served, watch_once, ALICE, MALLORY};
    let s = served("accept-on-wiki");
    let title = format!("{}/2020-21 Q2", s.prefix);
    let before = s.export(&[]);
    let good = raw(&title);
    let slip = good.replacen(HEADING, "", 1);
    staff_save(&title, &slip);
    assert_eq!(s.run(&["sync"]).code, Some(3));
    let held = s.run(&["sync"]).all_output();
    assert!(
        held.contains("{{goalsbot|accept|2020-21 Q2}}"),
        "says how: {held}"
    );

    // Not allowed: refused, nothing applied.
    ask(
        &s,
        MALLORY,
        "Accept it",
        "{{goalsbot|accept|2020-21 Q2}} ~~~~",
    );
    watch_once(&s);
    let page = raw(&requests_page(&s));
    assert!(
        section(&page, "Accept it").contains("goalsbot-reply:"),
        "{page}"
    );
    assert_eq!(s.export(&[]), before);

    // Asked, then the page saved again before the bot read the request:
    // the person accepted what they saw, not the later save.
    ask(
        &s,
        ALICE,
        "Accept Q2",
        "{{goalsbot|accept|2020-21 Q2}} ~~~~",
    );
    staff_save(&title, &format!("{slip}\nOne more line.\n"));
    watch_once(&s);
    let page = raw(&requests_page(&s));
    let reply = section(&page, "Accept Q2");
    assert!(reply.contains("saved again"), "{reply}");
    assert_eq!(s.export(&[]), before, "the later save was not accepted");

    // Asked again, nothing saved since: applied, and the year pushed.
    ask(
        &s,
        ALICE,
        "Accept Q2 again",
        "{{goalsbot|accept|2020-21 Q2}} ~~~~",
    );
    let out = watch_once(&s);
    assert!(
        out.contains("1 new requests, 1 answered") || out.contains("1 new request"),
        "{out}"
    );
    assert_ne!(s.export(&[]), before, "the accepted revision is applied");
    assert_eq!(s.run(&["sync"]).code, Some(0), "nothing held any more");
}
