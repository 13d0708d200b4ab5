//! A page whose structure changed suspiciously is held, on the real wiki
//! (issue 27, case 5): deleting one heading line merges two objectives'
//! sections; the pull applies nothing from that revision (exit 3, the page
//! named as refused), until the page is repaired or `pull --accept` says a
//! person checked it.

use crate::push::raw;
use crate::sync::staff_save;
use crate::tracker::Setup;

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
