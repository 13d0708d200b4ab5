//! A page whose structure changed suspiciously is held, on the real wiki
//! (issue 27, case 5): deleting one heading line merges two objectives'
//! sections; the pull applies nothing from that revision (exit 3, the page
//! named as refused), until the page is repaired or `pull --accept` says a
//! person checked it.

use crate::support::{cell, find_kr, raw, staff_save, Setup};

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

const KR2: &str = "2020-21/evolutionary-architecture/kr2";
const KR3: &str = "2020-21/evolutionary-architecture/kr3";

/// `text` without the bot's status row of `kr` (its `|-` line up to the next row or table end).
fn without_row(text: &str, kr: &str) -> String {
    let open = format!("|- data-goalsbot-kr=\"{kr}\"");
    let at = text
        .find(&open)
        .unwrap_or_else(|| panic!("no row {kr}:\n{text}"));
    let rest = &text[at + 1..];
    let end = [rest.find("\n|-"), rest.find("\n|}")]
        .into_iter()
        .flatten()
        .min()
        .expect("the row ends")
        + at
        + 2;
    format!("{}{}", &text[..at], &text[end..])
}

/// The label cell (first cell) of `kr`'s row in the bot's table.
fn row_label(text: &str, kr: &str) -> Option<String> {
    let open = format!("|- data-goalsbot-kr=\"{kr}\"");
    let at = text.find(&open)?;
    let line = text[at..].lines().nth(1)?;
    Some(
        line.trim_start_matches('|')
            .split("||")
            .next()?
            .trim()
            .to_string(),
    )
}

/// `good` without KR2's prose block (up to KR3's line).
fn without_kr2_block(good: &str) -> String {
    let start = good.find("\nKR2 Engineers have").expect("KR2's block") + 1;
    let end = good[start..].find("\nKR3 Four").expect("KR3's block") + start + 1;
    let mut edited = good.to_string();
    edited.replace_range(start..end, "");
    edited
}

/// Q1 statuses for KR2 and KR3 of Evolutionary architecture, set in the tracker and pushed.
fn with_statuses(s: &Setup) {
    s.ok(&[
        "set",
        KR2,
        "--quarter",
        "Q1",
        "--status",
        "at-risk",
        "--note",
        "use cases at risk",
    ]);
    s.ok(&[
        "set",
        KR3,
        "--quarter",
        "Q1",
        "--status",
        "complete",
        "--note",
        "ML services done",
    ]);
    s.ok(&["sync"]);
}

/// The `(text, Q1 status, Q1 note)` of `kr` in the export.
fn said(export: &serde_json::Value, kr: &str) -> (String, String, String) {
    let k = find_kr(export, kr).unwrap_or_else(|| panic!("{kr} in the export"));
    let q1 = &k["quarters"]["Q1"];
    (
        k["text"].as_str().unwrap_or_default().to_string(),
        q1["status"].as_str().unwrap_or_default().to_string(),
        q1["note"].as_str().unwrap_or_default().to_string(),
    )
}

/// Issue 27, case 1: on one quarter page a person deletes KR2's block and
/// its status row and renames KR3 to KR2. Read by number, KR3's words would
/// take KR2's statuses and KR3 would be marked removed (its row deleted from
/// the other pages). The bot follows the key result: KR3 keeps its id, its
/// words and its statuses, now labelled KR2 on that page only; KR2 is
/// marked removed; the other pages keep KR3's row under its own label.
#[test]
fn a_renumbered_key_result_keeps_its_id_and_its_values() {
    let s = Setup::with_quarters("structure-renumber", None, &["Q1", "Q2"]);
    s.ok(&["sync"]);
    with_statuses(&s);
    let q1 = format!("{}/2020-21 Q1", s.prefix);
    let q2 = format!("{}/2020-21 Q2", s.prefix);
    let before = s.export(&[]);
    let kr3_before = said(&before, KR3);
    assert_eq!(kr3_before.1, "complete", "{kr3_before:?}");
    let good = raw(&q2);
    let edited = without_kr2_block(&good).replacen("\nKR3 Four", "\nKR2 Four", 1);
    let edited = without_row(&edited, KR2);
    staff_save(&q2, &edited);

    let synced = s.run(&["sync"]);
    assert_eq!(synced.code, Some(0), "{synced:?}");
    let out = synced.all_output();
    assert!(!out.contains("matches no key result"), "{out}");
    let after = s.export(&[]);
    assert_eq!(
        said(&after, KR3),
        kr3_before,
        "KR3 kept its words and statuses"
    );
    assert_eq!(
        find_kr(&after, KR3).unwrap()["number"],
        2,
        "numbered as Q2 now says"
    );
    assert!(
        find_kr(&after, KR2).is_none(),
        "KR2, deleted, is marked removed"
    );
    let q1_text = raw(&q1);
    assert_eq!(
        row_label(&q1_text, KR3).as_deref(),
        Some("KR3"),
        "{q1_text}"
    );
    assert!(
        cell(&q1_text, KR3, "Q1").contains("ML services done"),
        "{q1_text}"
    );
    let q2_text = raw(&q2);
    assert_eq!(
        row_label(&q2_text, KR3).as_deref(),
        Some("KR2"),
        "{q2_text}"
    );
    assert!(
        cell(&q2_text, KR3, "Q1").contains("ML services done"),
        "{q2_text}"
    );
    assert!(
        q2_text.contains("\nKR2 Four"),
        "the person's text stays: {q2_text}"
    );

    // A second sync has nothing to do.
    let again = s.run(&["sync"]);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(s.export(&[]), after);
}

/// Issue 27, case 1: swapping two KRs and numbering them in page order moves
/// no status: each keeps its id and values on every page.
#[test]
fn swapped_key_results_keep_their_values_on_every_page() {
    let s = Setup::with_quarters("structure-swap", None, &["Q1", "Q2"]);
    s.ok(&["sync"]);
    with_statuses(&s);
    let q1 = format!("{}/2020-21 Q1", s.prefix);
    let q2 = format!("{}/2020-21 Q2", s.prefix);
    let before = s.export(&[]);
    let good = raw(&q2);
    let a = good.find("\nKR2 Engineers have").expect("KR2's block") + 1;
    let b = good[a..].find("\nKR3 Four").expect("KR3's block") + a + 1;
    let c = good[b..].find("\n\n").map_or(good.len(), |e| e + b + 1);
    let (two, three) = (&good[a..b], &good[b..c]);
    let swapped = format!(
        "{}{}\n{}{}",
        &good[..a],
        three
            .replacen("KR3 Four", "KR2 Four", 1)
            .trim_end_matches('\n'),
        two.replacen("KR2 Engineers", "KR3 Engineers", 1),
        &good[c..]
    );
    staff_save(&q2, &swapped);

    let synced = s.run(&["sync"]);
    assert_eq!(synced.code, Some(0), "{synced:?}");
    let after = s.export(&[]);
    for kr in [KR2, KR3] {
        assert_eq!(said(&after, kr), said(&before, kr), "{kr} kept its values");
    }
    assert_eq!(find_kr(&after, KR3).unwrap()["number"], 2);
    assert_eq!(find_kr(&after, KR2).unwrap()["number"], 3);
    let q2_text = raw(&q2);
    assert_eq!(
        row_label(&q2_text, KR3).as_deref(),
        Some("KR2"),
        "{q2_text}"
    );
    assert_eq!(
        row_label(&q2_text, KR2).as_deref(),
        Some("KR3"),
        "{q2_text}"
    );
    let q1_text = raw(&q1);
    assert_eq!(
        row_label(&q1_text, KR3).as_deref(),
        Some("KR3"),
        "{q1_text}"
    );
    assert!(
        cell(&q1_text, KR2, "Q1").contains("use cases at risk"),
        "{q1_text}"
    );
    assert!(
        cell(&q1_text, KR3, "Q1").contains("ML services done"),
        "{q1_text}"
    );
}

/// Issue 27, case 1: where the bot cannot tell which KR is which (one
/// deleted and the next reworded as it is renumbered into its place), it
/// holds the page for a person instead of guessing.
#[test]
fn reworded_and_renumbered_at_once_is_held_for_a_person() {
    let s = Setup::with_quarters("structure-doubt", None, &["Q1", "Q2"]);
    s.ok(&["sync"]);
    with_statuses(&s);
    let q2 = format!("{}/2020-21 Q2", s.prefix);
    let before = s.export(&[]);
    let good = raw(&q2);
    let edited = without_kr2_block(&good).replacen("\nKR3 Four (4) new", "\nKR2 Five (5) new", 1);
    staff_save(&q2, &edited);

    let held = s.run(&["sync"]);
    assert_eq!(held.code, Some(3), "{held:?}");
    let out = held.all_output();
    assert!(out.contains("reworded and renumbered at once"), "{out}");
    assert!(out.contains("--accept"), "says how to go on: {out}");
    assert_eq!(s.export(&[]), before, "no value moved between key results");
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

/// Issue 27, case 1, in a KR table staff wrote. The bot adopts it (its
/// rows get ids); a person reverts that, and deletes KR1's line and
/// renumbers KR2 as KR1 in the text, leaving the table as it was. Read by
/// number, the row `KR1: Alpha one` would give the renumbered KR (Alpha
/// two) KR1's status. The labels' words say whose row each is: KR1 keeps
/// its status (it stays on the page, in the table), Alpha two keeps its
/// own, and the table is adopted again with each row tagged as it was
/// read. With a bare label (`KR2`), the row could be the renumbered KR's
/// or a KR kept only in the table: the page is held for a person. Found by
/// the simulation.
#[test]
fn a_staff_tables_rows_keep_their_key_results_when_only_the_text_is_renumbered() {
    let text = |krs: &str, kr2_label: &str| {
        format!(
            "== Prog - Alpha ==\nObjective Manager: Ann\n\n=== Key Results ===\n\n\
             Key Results Manager: Ann\n\n{krs}\n\
             {{| class=\"wikitable\"\n! Key Results !! Year Goal !! Q1 Status !! Q2 Status\n\
             |-\n| KR1: Alpha one || 4 hires || Complete: hiring || \n\
             |-\n| {kr2_label} || || On track: later || \n|}}\n"
        )
    };
    let both = "KR1: Alpha one\n\nKR2: Alpha two\n";
    let s = Setup::with_pages(
        "structure-staff-rows",
        None,
        &["2020-21"],
        &[("2020-21 Q1".to_string(), text(both, "KR2: Alpha two"))],
    );
    let title = format!("{}/2020-21 Q1", s.prefix);
    s.ok(&["sync"]);
    assert!(raw(&title).contains("data-goalsbot-kr"), "adopted");
    let kr1 = "2020-21/alpha/kr1";
    let kr2 = "2020-21/alpha/kr2";
    let before = s.export(&[]);
    assert_eq!(said(&before, kr1).1, "complete");
    assert_eq!(said(&before, kr2).1, "on-track");

    // A bare label: held, nothing applied.
    staff_save(&title, &text("KR1: Alpha two\n", "KR2"));
    let held = s.run(&["sync"]);
    assert_eq!(held.code, Some(3), "{held:?}");
    let out = held.all_output();
    assert!(out.contains("cannot tell which row is which"), "{out}");
    assert_eq!(s.export(&[]), before, "no value moved between key results");

    // The adoption reverted, KR1's line deleted, KR2 renumbered KR1.
    staff_save(&title, &text("KR1: Alpha two\n", "KR2: Alpha two"));
    let out = s.run(&["sync"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let after = s.export(&[]);
    assert_eq!(
        said(&after, kr2),
        ("Alpha two".into(), "on-track".into(), "later".into()),
        "the renumbered KR keeps its own status"
    );
    assert_eq!(
        said(&after, kr1),
        ("Alpha one".into(), "complete".into(), "hiring".into()),
        "KR1 keeps its status, kept in the table"
    );
    let page = raw(&title);
    for (label, id) in [("KR1: Alpha one", kr1), ("KR2: Alpha two", kr2)] {
        let row = format!("|- data-goalsbot-kr=\"{id}\"\n| {label} ");
        assert!(page.contains(&row), "{row:?} in {page}");
    }
    assert_eq!(page.matches("data-goalsbot-kr=").count(), 2, "{page}");
}
