use std::path::Path;

use super::*;
use crate::core::parse::parse_quarter_page;
use crate::core::records::FiscalYear;

fn fixture(q: Quarter, ext: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_{q}.{ext}"
    ));
    std::fs::read_to_string(path).unwrap()
}

fn shown(q: Quarter) -> FiscalYearRecords {
    let fy: FiscalYear = "2020-21".parse().unwrap();
    let page = parse_quarter_page(&fixture(q, "html"), &fy, q);
    FiscalYearRecords {
        fiscal_year: fy,
        objectives: page.objectives,
    }
}

fn kr<'a>(r: &'a mut FiscalYearRecords, id: &str) -> &'a mut KeyResult {
    r.objectives
        .iter_mut()
        .flat_map(|o| o.key_results.iter_mut())
        .find(|k| k.id == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

/// The lines that differ (old, new).
fn changed_lines(old: &str, new: &str) -> Vec<(String, String)> {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for c in diff.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Delete => dels.push(c.value().to_string()),
            similar::ChangeTag::Insert => adds.push(c.value().to_string()),
            similar::ChangeTag::Equal => {}
        }
    }
    dels.into_iter().zip(adds).collect()
}

/// Writing `store` into the page, then writing it again over the result
/// (reading it back as `store`), changes nothing and holds nothing: the
/// bot finds the new value where it wrote it.
fn settles(text: &str, store: &FiscalYearRecords, q: Quarter) {
    let again = write_prose(text, store, store, q, None, &BTreeSet::new());
    assert_eq!(again.text, text);
    assert!(again.held.is_empty(), "{:?}", again.held);
}

#[test]
fn a_reworded_kr_changes_its_words_on_its_line_only() {
    let q = Quarter::Q2;
    let page = shown(q);
    let mut store = page.clone();
    let id = "2020-21/front-line-defenses/kr2";
    kr(&mut store, id).text = kr(&mut store, id).text.replace("by 50%", "by 75%");
    let text = fixture(q, "wikitext");
    let plan = write_prose(&text, &page, &store, q, None, &BTreeSet::new());
    assert!(plan.held.is_empty(), "{:?}", plan.held);
    assert_eq!(plan.written, vec![FieldKey::new(id, "text")]);
    let lines = changed_lines(&text, &plan.text);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0.replace("by 50%", "by 75%"), lines[0].1);
}

#[test]
fn goals_objectives_managers_and_descriptions_go_where_the_page_has_them() {
    let q = Quarter::Q2;
    let page = shown(q);
    let mut store = page.clone();
    let ci = "2020-21/content-integrity";
    let k1 = format!("{ci}/kr1");
    let e = kr(&mut store, &k1).quarters.get_mut(&q).unwrap();
    e.goals[1] = "Train and validate 2 models".into();
    e.goals.push("A new goal with [[markup]] | in it".into());
    kr(&mut store, &format!("{ci}/kr3"))
        .quarters
        .get_mut(&q)
        .unwrap()
        .objective = Some("Set up the forum".into());
    kr(&mut store, &format!("{ci}/kr2")).managers =
        vec!["Chris Albon".into(), "Miriam Redi".into()];
    let o = store.objectives.iter_mut().find(|o| o.id == ci).unwrap();
    o.description = Some(
        o.description
            .clone()
            .unwrap()
            .replace("public’s trust", "public's trust"),
    );
    o.managers = vec!["Leila Zia".into(), "Jane Doe".into()];
    let text = fixture(q, "wikitext");
    let plan = write_prose(&text, &page, &store, q, None, &BTreeSet::new());
    assert!(plan.held.is_empty(), "{:?}", plan.held);
    assert_eq!(plan.written.len(), 5, "{:?}", plan.written);
    let diff = changed_lines(&text, &plan.text);
    assert!(plan.text.contains("* Train and validate 2 models\n"));
    assert!(plan
        .text
        .contains("* <nowiki>A new goal with [[markup]] | in it</nowiki>\n"));
    assert!(plan.text.contains("Q2 Objective: Set up the forum<br />"));
    assert!(plan
        .text
        .contains("Key Result Manager: Chris Albon, Miriam Redi\n"));
    assert!(plan
        .text
        .contains("Objective Manager: Leila Zia, Jane Doe\n"));
    assert!(diff.len() >= 4, "{diff:?}");
    settles(&plan.text, &store, q);
}

fn one_kr_page(line: &str, text: &str) -> (String, FiscalYearRecords) {
    let page = format!(
        "== MTP: Thing - Widgets ==\nObjective Manager: A\n\n=== Key Results ===\n{line}\nQ2 Goals:\n* one\n"
    );
    let fy: FiscalYear = "2020-21".parse().unwrap();
    let mut quarters = BTreeMap::new();
    quarters.insert(
        Quarter::Q2,
        crate::core::records::QuarterEntry {
            goals: vec!["one".into()],
            ..Default::default()
        },
    );
    let records = FiscalYearRecords {
        fiscal_year: fy,
        objectives: vec![Objective {
            id: "2020-21/widgets".into(),
            program: Some("MTP: Thing".into()),
            title: "Widgets".into(),
            managers: vec!["A".into()],
            description: None,
            status: BTreeMap::new(),
            target_quarter: None,
            department: None,
            key_results: vec![KeyResult {
                id: "2020-21/widgets/kr1".into(),
                kind: Kind::KeyResult,
                number: 1,
                text: text.into(),
                managers: vec![],
                baseline: None,
                year_goal: None,
                links: vec![],
                quarters,
            }],
        }],
    };
    (page, records)
}

fn reword(line: &str, old: &str, new: &str) -> Result<String, Vec<Held>> {
    let (page, mut shown) = one_kr_page(line, old);
    shown.objectives[0].key_results[0].number = line[2..3].parse().unwrap_or(1);
    shown.objectives[0].key_results[0].id = format!(
        "2020-21/widgets/kr{}",
        shown.objectives[0].key_results[0].number
    );
    let mut store = shown.clone();
    store.objectives[0].key_results[0].text = new.into();
    let plan = write_prose(&page, &shown, &store, Quarter::Q2, None, &BTreeSet::new());
    if !plan.held.is_empty() {
        return Err(plan.held);
    }
    settles(&plan.text, &store, Quarter::Q2);
    let lines = changed_lines(&page, &plan.text);
    assert_eq!(lines.len(), 1, "{lines:?}");
    Ok(lines[0].1.trim_end().to_string())
}

#[test]
fn links_templates_and_bold_outside_the_changed_words_stay() {
    let line =
        "'''KR1:''' Ship [[Widget|the widget]] to 5 wikis ({{Phabricator|T123}}) by Q3<br />";
    let old = "Ship the widget to 5 wikis (T123) by Q3";
    assert_eq!(
        reword(line, old, "Ship the widget to 12 wikis (T123) by Q4").unwrap(),
        "'''KR1:''' Ship [[Widget|the widget]] to 12 wikis ({{Phabricator|T123}}) by Q4<br />"
    );
    // Inside a link's label: the label changes, the link stays.
    assert_eq!(
        reword(line, old, "Ship the new widget to 5 wikis (T123) by Q3").unwrap(),
        "'''KR1:''' Ship [[Widget|the new widget]] to 5 wikis ({{Phabricator|T123}}) by Q3<br />"
    );
    // Words replaced together with a template: held, never a lost template.
    let held = reword(line, old, "Ship the widget to 5 wikis soon").unwrap_err();
    assert!(held[0].why.contains("template"), "{held:?}");
    // A list item and VisualEditor's `<br>` work the same.
    assert_eq!(
        reword(
            "* KR1 Make it fast<br>",
            "Make it fast",
            "Make it very fast"
        )
        .unwrap(),
        "* KR1 Make it very fast<br>"
    );
}

#[test]
fn hostile_text_is_escaped_and_reads_back() {
    for new in [
        "x |} {{y}} ~~~~ </nowiki> [[z]] ''b'' __TOC__",
        "שלום עולם RTL",
        "e\u{301}\u{301} combining",
        "ends with tilde ~",
        "* starts like a list",
    ] {
        let out = reword("KR1: plain words here<br />", "plain words here", new).unwrap();
        assert!(!out.contains("~~~~") || out.contains("<nowiki>"), "{out}");
    }
    // A text that would read as a label is held.
    let (page, shown) = one_kr_page("KR1: plain<br />", "plain");
    let mut store = shown.clone();
    store.objectives[0].key_results[0]
        .quarters
        .get_mut(&Quarter::Q2)
        .unwrap()
        .goals = vec!["Q3 Goals: sneaky".into()];
    let plan = write_prose(&page, &shown, &store, Quarter::Q2, None, &BTreeSet::new());
    assert_eq!(plan.held.len(), 1);
    assert_eq!(plan.text, page);
}

#[test]
fn a_place_that_does_not_match_is_held_and_forced_writes_whole() {
    let (page, mut shown) = one_kr_page("KR1: what the page says<br />", "what the page says");
    shown.objectives[0].key_results[0].text = "something else".into();
    let mut store = shown.clone();
    store.objectives[0].key_results[0].text = "new".into();
    let plan = write_prose(&page, &shown, &store, Quarter::Q2, None, &BTreeSet::new());
    assert_eq!(plan.held.len(), 1);
    assert!(plan.held[0].why.contains("not what the bot read"));
    // Taking the store's value over markup writes it whole.
    let line = "KR1: see {{Phabricator|T1}} now<br />";
    let (page, shown) = one_kr_page(line, "see T1 now");
    let mut store = shown.clone();
    store.objectives[0].key_results[0].text = "see later".into();
    let key = FieldKey::new("2020-21/widgets/kr1", "text");
    let plan = write_prose(
        &page,
        &shown,
        &store,
        Quarter::Q2,
        None,
        &BTreeSet::from([key]),
    );
    assert!(plan.held.is_empty());
    assert!(plan.text.contains("KR1: see later<br />"), "{}", plan.text);
}

#[test]
fn a_shared_manager_line_is_split_when_one_kr_changes() {
    let page = "== P - T ==\nObjective Manager: A\n\n=== Key Results ===\nKey Results Manager: Kim\n\nKR1: one<br />\nQ2 Goals:\n* a\n\nKR2: two<br />\nQ2 Goals:\n* b\n";
    let fy: FiscalYear = "2020-21".parse().unwrap();
    let mk = |n: u32, goal: &str| KeyResult {
        id: format!("2020-21/t/kr{n}"),
        kind: Kind::KeyResult,
        number: n,
        text: ["one", "two"][n as usize - 1].into(),
        managers: vec!["Kim".into()],
        baseline: None,
        year_goal: None,
        links: vec![],
        quarters: BTreeMap::from([(
            Quarter::Q2,
            crate::core::records::QuarterEntry {
                goals: vec![goal.into()],
                ..Default::default()
            },
        )]),
    };
    let shown = FiscalYearRecords {
        fiscal_year: fy,
        objectives: vec![Objective {
            id: "2020-21/t".into(),
            program: Some("P".into()),
            title: "T".into(),
            managers: vec!["A".into()],
            description: None,
            status: BTreeMap::new(),
            target_quarter: None,
            department: None,
            key_results: vec![mk(1, "a"), mk(2, "b")],
        }],
    };
    let mut store = shown.clone();
    store.objectives[0].key_results[1].managers = vec!["Lee".into()];
    let plan = write_prose(page, &shown, &store, Quarter::Q2, None, &BTreeSet::new());
    assert!(plan.held.is_empty(), "{:?}", plan.held);
    assert!(
        plan.text
            .contains("* a\n\nKey Results Manager: Lee\n\nKR2: two"),
        "{}",
        plan.text
    );
    assert!(plan.text.contains("Key Results Manager: Kim\n\nKR1"));
}

#[test]
fn a_change_after_a_template_is_written() {
    let line = "KR2: The number of [[Site Reliability Engineering|staff members]] ({{Phabricator|T123456}}) solely responsible, by end of Q4.<br />";
    let old = "The number of staff members (T123456) solely responsible, by end of Q4.";
    assert_eq!(
        reword(line, old, "The number of staff members (T123456) solely responsible, by end of Q3.").unwrap(),
        "KR2: The number of [[Site Reliability Engineering|staff members]] ({{Phabricator|T123456}}) solely responsible, by end of Q3.<br />"
    );
}

#[test]
fn goals_in_a_pre_block_can_all_go() {
    let q = Quarter::Q3;
    let page = shown(q);
    let mut store = page.clone();
    let id = "2020-21/evolutionary-architecture/kr1";
    kr(&mut store, id)
        .quarters
        .get_mut(&q)
        .unwrap()
        .goals
        .clear();
    let text = fixture(q, "wikitext");
    let plan = write_prose(&text, &page, &store, q, None, &BTreeSet::new());
    assert!(plan.held.is_empty(), "{:?}", plan.held);
    assert!(
        plan.text.contains("Q3 Goals:\n*\n</pre>"),
        "{}",
        &plan.text[..1500]
    );
}

#[test]
fn new_text_never_joins_its_neighbours_into_an_entity_or_markup() {
    // Kept `&` + new `nbsp;` would be an entity; kept `'` + new `'` bold.
    let out = reword("KR1: a & b<br />", "a & b", "a &nbsp; b").unwrap();
    assert!(out.contains("<nowiki>"), "{out}");
    let out = reword("KR1: it' s<br />", "it' s", "it''s").unwrap();
    assert!(out.contains("nowiki"), "{out}");
}

#[test]
fn hostile_text_inside_a_link_label_stays_inside_it() {
    let out = reword(
        "KR1: see [[X|old words]] now<br />",
        "see old words now",
        "see a || b now",
    )
    .unwrap();
    assert_eq!(out, "KR1: see [[X|<nowiki>a || b</nowiki>]] now<br />");
    // And a later change of those words reads the escaped label right.
    let again = reword(&out, "see a || b now", "see a || c now").unwrap();
    assert!(again.contains("[[X|"), "{again}");
}

#[test]
fn a_goal_of_comment_closers_reads_back() {
    let q = Quarter::Q2;
    let page = shown(q);
    let mut store = page.clone();
    let id = "2020-21/front-line-defenses/item1";
    kr(&mut store, id).quarters.get_mut(&q).unwrap().goals = vec!["-->a--> 9x55".into()];
    let text = fixture(q, "wikitext");
    let plan = write_prose(&text, &page, &store, q, None, &BTreeSet::new());
    assert!(plan.held.is_empty(), "{:?}", plan.held);
    settles(&plan.text, &store, q);
}
