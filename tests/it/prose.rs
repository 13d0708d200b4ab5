//! Tracker edits of prose written back into the staff's own lines on the real wiki (issue 14).

use goalsbot::core::plan::lines_changed;
use serde_json::Value;

use crate::support::raw;
use crate::support::test_wiki;
use crate::support::{find_kr, Setup, QUARTERS};

const KR2: &str = "2020-21/front-line-defenses/kr2";

fn changed(old: &str, new: &str) -> Vec<(String, String)> {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for c in diff.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Delete => dels.push(c.value().trim_end().to_string()),
            similar::ChangeTag::Insert => adds.push(c.value().trim_end().to_string()),
            similar::ChangeTag::Equal => {}
        }
    }
    assert_eq!(dels.len(), adds.len(), "{dels:?} {adds:?}");
    dels.into_iter().zip(adds).collect()
}

/// KR2's text as the store holds it.
fn kr2_text(s: &Setup) -> String {
    find_kr(&s.export(&[]), KR2).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `sync --json` (exit 0, or 3 when conflicts wait for a person).
fn sync_json(s: &Setup) -> Value {
    let out = s.run(&["sync", "--json"]);
    assert!(matches!(out.code, Some(0 | 3)), "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn set_text_rewords_a_kr_on_every_quarter_page_one_line_each() {
    let s = Setup::new("prose-set", None);
    s.ok(&["sync"]);
    let titles: Vec<String> = QUARTERS
        .iter()
        .map(|q| format!("{}/2020-21 {q}", s.prefix))
        .collect();
    let before: Vec<String> = titles.iter().map(|t| raw(t)).collect();
    let old = kr2_text(&s);
    let new = old.replace("reduced by 50%, from 8 to 4", "reduced by 75%, from 8 to 2");
    assert_ne!(old, new);
    s.ok(&["set", KR2, "--text", &new]);
    let out = sync_json(&s);
    assert_eq!(out["edits"], 5, "4 quarter pages and the overview: {out}");
    assert_eq!(out["conflicts"], 0, "{out}");
    for (t, b) in titles.iter().zip(&before) {
        let after = raw(t);
        let lines = changed(b, &after);
        eprintln!("{t}:\n- {}\n+ {}", lines[0].0, lines[0].1);
        assert_eq!(lines.len(), 1, "{t}: {lines:?}");
        assert_eq!(
            lines[0]
                .0
                .replace("reduced by 50%, from 8 to 4", "reduced by 75%, from 8 to 2"),
            lines[0].1,
            "{t}: only the changed words, in the staff's own form"
        );
    }
    // Reading the pages back changes nothing, and a further sync edits nothing.
    let again = sync_json(&s);
    assert_eq!(again["edits"], 0, "{again}");
    assert_eq!(again["records_changed"], 0, "{again}");
    assert_eq!(find_kr(&s.export(&[]), KR2).unwrap()["text"], new.as_str());
}

#[test]
fn links_and_task_templates_outside_the_changed_words_stay_and_others_are_held() {
    let q2 = crate::support::page_text("Q2").replace(
        "KR2: The number of staff members solely responsible",
        "KR2: The number of [[Site Reliability Engineering|staff members]] ({{Phabricator|T123456}}) solely responsible",
    );
    let s = Setup::with_texts("prose-markup", None, &[("Q2".into(), q2)]);
    s.ok(&["sync"]);
    let title = format!("{}/2020-21 Q2", s.prefix);
    let before = raw(&title);
    let old = kr2_text(&s);
    assert!(old.contains("staff members (T123456) solely"), "{old}");
    let new = old.replace("by end of Q4", "by end of Q3");
    s.ok(&["set", KR2, "--text", &new]);
    let out = sync_json(&s);
    assert_eq!(
        out["conflicts"],
        0,
        "{out} {}",
        s.ok(&["conflicts", "--json"])
    );
    let after = raw(&title);
    let lines = changed(&before, &after);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].1.contains(
            "[[Site Reliability Engineering|staff members]] ({{Phabricator|T123456}}) solely"
        ) && lines[0].1.contains("by end of Q3"),
        "{lines:?}"
    );
    // Words changed together with the template: held as a conflict, the
    // page keeps its template.
    let cut = new.replace("staff members (T123456) solely", "staff members solely");
    s.ok(&["set", KR2, "--text", &cut]);
    let held = sync_json(&s);
    assert_eq!(held["conflicts"], 1, "{held}");
    assert_eq!(raw(&title), after);
    let list: Value = serde_json::from_str(&s.ok(&["conflicts", "--json"])).unwrap();
    let c = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"]["record"] == KR2)
        .unwrap_or_else(|| panic!("no conflict for {KR2}: {list}"));
    assert_eq!(c["store"], cut.as_str(), "{c}");
    assert_eq!(c["wiki"], new.as_str(), "{c}");
    // A person takes the store's value: written whole, template and all dropped.
    let id = c["id"].as_i64().unwrap().to_string();
    s.ok(&["resolve", &id, "--take", "store"]);
    let done = sync_json(&s);
    assert_eq!(done["conflicts"], 0, "{done}");
    let last = raw(&title);
    assert!(
        last.contains(&cut),
        "{done} {} {last}",
        s.ok(&["conflicts", "--all", "--json"])
    );
    assert!(!last.contains("T123456"));
    let again = sync_json(&s);
    assert_eq!(
        (again["edits"].clone(), again["conflicts"].clone()),
        (0.into(), 0.into()),
        "{again}"
    );
}

#[test]
fn resolve_take_store_on_a_prose_conflict_updates_the_page() {
    let s = Setup::with_quarters("prose-resolve", None, &["Q2"]);
    s.ok(&["sync"]);
    let title = format!("{}/2020-21 Q2", s.prefix);
    let old = kr2_text(&s);
    let tracker = old.replace("by 50%", "by 60%");
    let wiki = old.replace("by 50%", "by 40%");
    s.ok(&["set", KR2, "--text", &tracker]);
    let page = raw(&title).replace("by 50%", "by 40%");
    test_wiki().edit_as("Admin", &title, &page);
    let out = sync_json(&s);
    assert_eq!(out["conflicts"], 1, "{out}");
    assert!(raw(&title).contains("by 40%"));
    let list: Value = serde_json::from_str(&s.ok(&["conflicts", "--json"])).unwrap();
    let c = &list.as_array().unwrap()[0];
    assert_eq!(c["wiki"], wiki.as_str(), "{c}");
    let id = c["id"].as_i64().unwrap().to_string();
    s.ok(&["resolve", &id, "--take", "store"]);
    let before = raw(&title);
    let done = sync_json(&s);
    assert_eq!(done["edits"], 1, "{done}");
    let after = raw(&title);
    let lines = changed(&before, &after);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0.replace("by 40%", "by 60%"), lines[0].1);
    let again = sync_json(&s);
    assert_eq!(again["edits"], 0, "{again}");
    assert_eq!(
        find_kr(&s.export(&[]), KR2).unwrap()["text"],
        tracker.as_str()
    );
}

#[test]
fn set_changes_managers_goals_and_descriptions_on_the_page() {
    let s = Setup::with_quarters("prose-fields", None, &["Q2"]);
    s.ok(&["sync"]);
    let title = format!("{}/2020-21 Q2", s.prefix);
    let before = raw(&title);
    let ci = "2020-21/content-integrity";
    s.ok(&[
        "set",
        &format!("{ci}/kr2"),
        "--manager",
        "Chris Albon",
        "--manager",
        "Miriam Redi",
    ]);
    s.ok(&[
        "set",
        &format!("{ci}/kr3"),
        "--quarter",
        "Q2",
        "--objective",
        "Open the forum",
        "--goal",
        "Publish the guide",
        "--goal",
        "Hold 2 meetings | with [[links]]",
    ]);
    s.ok(&[
        "set",
        ci,
        "--description",
        "The movement can identify and respond to abuse.",
    ]);
    let out = sync_json(&s);
    assert_eq!(out["edits"], 1, "{out}");
    assert_eq!(out["conflicts"], 0, "{out}");
    let after = raw(&title);
    eprintln!(
        "{}",
        goalsbot::core::plan::unified_diff(&title, &before, &after)
    );
    assert!(after.contains("Key Result Manager: Chris Albon, Miriam Redi\n"));
    assert!(after.contains("Q2 Objective: Open the forum<br />"));
    assert!(after
        .contains("* Publish the guide\n* <nowiki>Hold 2 meetings | with [[links]]</nowiki>\n"));
    assert!(after.contains("\nThe movement can identify and respond to abuse.\n"));
    // 4 lines replaced (removed and added) and 1 added: nothing else moved.
    assert_eq!(lines_changed(&before, &after), 9);
    let again = sync_json(&s);
    assert_eq!(
        (again["edits"].clone(), again["records_changed"].clone()),
        (0.into(), 0.into()),
        "{again}"
    );
    let kr3 = find_kr(&s.export(&[]), &format!("{ci}/kr3"))
        .unwrap()
        .clone();
    assert_eq!(
        kr3["quarters"]["Q2"]["goals"][1], "Hold 2 meetings | with [[links]]",
        "{kr3}"
    );
}

#[test]
fn a_reworded_kr_on_a_page_visual_editor_saved_is_a_one_line_diff() {
    let html = std::fs::read_to_string(
        crate::support::root()
            .join("tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q2.html"),
    )
    .unwrap();
    // The page as VisualEditor saves it: the wiki's own transform.
    let ve = crate::push::html_to_wikitext("", &html);
    assert!(ve.contains("KR2"), "{ve}");
    assert_ne!(
        ve,
        crate::support::page_text("Q2"),
        "VisualEditor's form differs from the source form"
    );
    let s = Setup::with_texts("prose-ve", None, &[("Q2".into(), ve)]);
    s.ok(&["sync"]);
    let title = format!("{}/2020-21 Q2", s.prefix);
    let before = raw(&title);
    let old = kr2_text(&s);
    let new = old.replace("reduced by 50%, from 8 to 4", "reduced by 75%, from 8 to 2");
    s.ok(&["set", KR2, "--text", &new]);
    let out = sync_json(&s);
    assert_eq!(out["conflicts"], 0, "{out}");
    let after = raw(&title);
    eprintln!(
        "{}",
        goalsbot::core::plan::unified_diff(&title, &before, &after)
    );
    let lines = changed(&before, &after);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        lines[0]
            .0
            .replace("reduced by 50%, from 8 to 4", "reduced by 75%, from 8 to 2"),
        lines[0].1
    );
    let again = sync_json(&s);
    assert_eq!(
        (again["edits"].clone(), again["records_changed"].clone()),
        (0.into(), 0.into()),
        "{again}"
    );
}
