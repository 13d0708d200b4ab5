//! A note's markup through a status-only tracker change, on the real wiki
//! (issue 27, case 3): a person links the words of a note and adds a
//! template; a tracker `set --status` (no note) rewrites the status word and
//! colour and keeps the note's wikitext byte for byte, in the bot's own
//! table and in an adopted staff table. The store keeps the note's
//! wikitext beside its plain text (`note_wikitext` in the export) until a
//! tracker edit changes the words, and the other pages' tables show the
//! note with its markup.

use goalsbot::core::records::Quarter;

use crate::staff_constructs::{cell, in_q1, STEM};
use crate::support::raw;
use crate::support::staff_save;
use crate::support::Setup;
use crate::support::{root, test_wiki};

const LINKED: &str = "blocked on [https://phabricator.wikimedia.org/T301234 the storage outage], \
                      see {{Phabricator|T287999}}";

/// `{{Phabricator|T1}}` as on mediawiki.org: a link to the task. Saved once
/// (two tests saving it at once would meet in an edit conflict).
fn phabricator_template() {
    static SAVED: std::sync::Once = std::sync::Once::new();
    SAVED.call_once(|| {
        test_wiki().load_pages(&[(
            "Template:Phabricator",
            "[https://phabricator.wikimedia.org/{{{1}}} {{{1}}}]",
        )])
    });
}

fn changed_lines(before: &str, after: &str) -> Vec<(String, String)> {
    assert_eq!(before.lines().count(), after.lines().count());
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_status_only_change_keeps_a_notes_link_and_template_in_the_bots_table() {
    phabricator_template();
    let s = Setup::new("note-markup-bot", None);
    s.ok(&["sync"]);
    let title = format!("{}/2020-21 Q3", s.prefix);
    let kr = "2020-21/front-line-defenses/kr1";
    let page = raw(&title);
    let old =
        "|On track: 1 EU data center City and site identified; contract negotiations in progress";
    assert!(page.contains(old), "{page}");
    let marked = format!("|Concerns: {LINKED}");
    staff_save(&title, &page.replace(old, &marked));
    s.ok(&["sync"]);
    let export = s.export(&[]);
    let q3 = crate::support::find_kr(&export, kr).unwrap()["quarters"]["Q3"].clone();
    assert_eq!(q3["note"], "blocked on the storage outage, see T287999");
    assert_eq!(q3["note_wikitext"], LINKED, "the store keeps the wikitext");
    // The other pages' tables show the note as the person wrote it.
    for other in ["Q1", "Q2", "Q4"] {
        let page = raw(&format!("{}/2020-21 {other}", s.prefix));
        assert!(
            page.contains(&format!("| Concerns: {LINKED}\n")),
            "2020-21 {other} shows the note's wikitext:\n{page}"
        );
    }

    let before = raw(&title);
    s.ok(&["set", kr, "--quarter", "Q3", "--status", "at-risk"]);
    s.ok(&["sync"]);
    let after = raw(&title);
    let changed = changed_lines(&before, &after);
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert!(
        changed[0].1.ends_with(&format!("| At risk: {LINKED}")),
        "the note's wikitext is kept: {changed:#?}"
    );
    assert!(
        changed[0].1.contains("data-goalsbot-quarter=\"Q3\""),
        "{changed:#?}"
    );
    // Read back: the status changed, the note did not.
    let export = s.export(&[]);
    let q3 = &crate::support::find_kr(&export, kr).unwrap()["quarters"]["Q3"];
    assert_eq!(q3["status"], "at-risk");
    assert_eq!(q3["note"], "blocked on the storage outage, see T287999");
    assert_eq!(q3["note_wikitext"], LINKED);
    // A second sync has nothing to do.
    let quiet = s.ok(&["sync"]);
    assert_eq!(raw(&title), after, "{quiet}");
    // New words from the tracker: the old wikitext goes with the old words.
    s.ok(&["set", kr, "--quarter", "Q3", "--note", "storage back"]);
    s.ok(&["sync"]);
    let export = s.export(&[]);
    let q3 = &crate::support::find_kr(&export, kr).unwrap()["quarters"]["Q3"];
    assert_eq!(q3["note"], "storage back");
    assert!(q3.get("note_wikitext").is_none(), "{q3}");
    assert!(raw(&title).contains("| At risk: storage back"));
}

/// The deck-paste page with its staff tables adopted by a first sync, then
/// a person's note with a link and a template in the first KR's Q1 cell,
/// synced: (setup, page title, objective id, KR id).
fn adopted_with_a_linked_note(name: &str) -> (Setup, String, String, String) {
    phabricator_template();
    let wikitext =
        std::fs::read_to_string(root().join(format!("tests/fixtures/pages/{STEM}.wikitext")))
            .unwrap();
    let s = Setup::with_pages(
        name,
        None,
        &["2020-21"],
        &[("2020-21 Q3".to_string(), wikitext)],
    );
    let title = format!("{}/2020-21 Q3", s.prefix);
    s.ok(&["sync"]);
    let export = s.export(&[]);
    let objective = &export["fiscal_years"][0]["objectives"][0];
    let obj = objective["id"].as_str().unwrap().to_string();
    let kr = objective["key_results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let adopted = raw(&title);
    let q1 = cell(&adopted, &obj, &kr, Quarter::Q1);
    staff_save(&title, &in_q1(&adopted, q1, &format!("Concerns: {LINKED}")));
    s.ok(&["sync"]);
    (s, title, obj, kr)
}

#[test]
fn a_status_only_change_keeps_a_notes_link_and_template_in_an_adopted_table() {
    let (s, title, obj, kr) = adopted_with_a_linked_note("note-markup-adopted");
    let before = raw(&title);
    s.ok(&["set", &kr, "--quarter", "Q1", "--status", "at-risk"]);
    s.ok(&["sync"]);
    let after = raw(&title);
    let changed = changed_lines(&before, &after);
    assert_eq!(changed.len(), 1, "{changed:#?}");
    let q1 = cell(&after, &obj, &kr, Quarter::Q1);
    assert!(
        after[q1.clone()].ends_with(&format!("| At risk: {LINKED}")),
        "the note's wikitext is kept: {:?}",
        &after[q1]
    );
    let export = s.export(&[]);
    let entry = &crate::support::find_kr(&export, &kr).unwrap()["quarters"]["Q1"];
    assert_eq!(entry["status"], "at-risk");
    assert_eq!(entry["note"], "blocked on the storage outage, see T287999");
    assert_eq!(
        entry["note_wikitext"], LINKED,
        "the store keeps the wikitext"
    );
}

/// Staff rewrite another KR's row of the adopted table as an HTML row
/// (`<tr>…</tr>`): the table reader is unsure of the table from then on,
/// and the note, which reads the same words, keeps its wikitext in the
/// store (a reading that cannot see the source is no news about markup).
#[test]
fn a_table_turned_partly_to_html_keeps_a_notes_markup() {
    use goalsbot::core::adopt::{identity_tables, row_id};
    let (s, title, obj, kr) = adopted_with_a_linked_note("note-markup-html-row");
    let entry = |export: &serde_json::Value| {
        crate::support::find_kr(export, &kr).unwrap()["quarters"]["Q1"].clone()
    };
    assert_eq!(entry(&s.export(&[]))["note_wikitext"], LINKED);

    // The last row of the table, written in HTML with the same cells.
    let page = raw(&title);
    let table = &identity_tables(&page, &obj)[0].table;
    let row = table.rows.last().unwrap();
    let other = row_id(&page, row).expect("the last row has its KR's id");
    assert_ne!(other, kr);
    let html = crate::simulation::as_html_row(&page, row).expect("a row of one-line cells");
    let before = s.export(&[]);
    staff_save(&title, &html);
    let out = s.ok(&["sync"]);
    let after = s.export(&[]);
    assert_eq!(
        entry(&after)["note_wikitext"],
        LINKED,
        "the note keeps its markup in the store:\n{out}"
    );
    assert_eq!(entry(&after), entry(&before));
    assert_eq!(
        crate::support::find_kr(&after, &other).unwrap()["quarters"],
        crate::support::find_kr(&before, &other).unwrap()["quarters"],
        "the row written in HTML reads as before"
    );
}

/// A person pastes an older copy of the bot's table (the note still plain)
/// under the one holding the marked-up note: the reader reads the first
/// copy's note, and the store keeps its wikitext, whichever copy comes last
/// (found by the simulation: the last copy's plain cell hid the markup).
#[test]
fn a_bots_table_pasted_twice_keeps_a_notes_markup() {
    use goalsbot::core::adopt::identity_tables;
    phabricator_template();
    let s = Setup::new("note-markup-pasted-twice", None);
    s.ok(&["sync"]);
    let title = format!("{}/2020-21 Q3", s.prefix);
    let obj = "2020-21/front-line-defenses";
    let kr = "2020-21/front-line-defenses/kr1";
    let old_page = raw(&title);
    let old = identity_tables(&old_page, obj)[0].table.range.clone();
    let old_table = old_page[old].to_string();
    let plain =
        "|On track: 1 EU data center City and site identified; contract negotiations in progress";
    assert!(old_table.contains(plain), "{old_table}");
    staff_save(
        &title,
        &old_page.replace(plain, &format!("|Concerns: {LINKED}")),
    );
    s.ok(&["sync"]);
    let q3 = |export: &serde_json::Value| {
        crate::support::find_kr(export, kr).unwrap()["quarters"]["Q3"].clone()
    };
    let before = s.export(&[]);
    assert_eq!(q3(&before)["note_wikitext"], LINKED);

    let page = raw(&title);
    let end = identity_tables(&page, obj)[0].table.range.end;
    let pasted = format!("{}\n{old_table}{}", &page[..end], &page[end..]);
    staff_save(&title, &pasted);
    let out = s.ok(&["sync"]);
    let after = s.export(&[]);
    assert_eq!(
        q3(&after)["note_wikitext"],
        LINKED,
        "the note keeps its markup in the store:\n{out}"
    );
    assert_eq!(q3(&after), q3(&before));
    // Every other page still shows the note with its markup.
    for other in ["Q1", "Q2", "Q4"] {
        let page = raw(&format!("{}/2020-21 {other}", s.prefix));
        assert!(
            page.contains(&format!("| Concerns: {LINKED}\n")),
            "2020-21 {other} shows the note's wikitext:\n{page}"
        );
    }
}
