//! Unit tests of the quarter page parser, one per variation in `docs/pages.md`.
//!
//! Snippets follow what Parsoid (MediaWiki 1.43) emits for the wikitext in
//! each test's comment, as seen in the captured fixture pages.

use super::*;
use crate::core::records::{FiscalYearRecords, Status};

fn fy() -> FiscalYear {
    FiscalYear::starting(2020)
}

/// A Parsoid-like page whose body is `sections` (already wrapped).
fn page(sections: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"/></head><body class=\"mw-parser-output\">\
         <section data-mw-section-id=\"0\"><p>Intro</p></section>{sections}</body></html>"
    )
}

/// One objective section with heading `heading` and inner HTML `inner`.
fn section(heading: &str, inner: &str) -> String {
    format!("<section data-mw-section-id=\"1\"><h2>{heading}</h2>\n{inner}</section>")
}

fn parse(sections: &str) -> ParsedPage {
    parse_quarter_page(&page(sections), &fy(), Quarter::Q2)
}

fn only(sections: &str) -> Objective {
    let parsed = parse(sections);
    assert_eq!(parsed.objectives.len(), 1, "{parsed:#?}");
    parsed.objectives.into_iter().next().unwrap()
}

fn fixture(quarter: &str) -> ParsedPage {
    let html = std::fs::read_to_string(format!(
        "{}/tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_{quarter}.html",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    parse_quarter_page(&html, &fy(), quarter.parse().unwrap())
}

#[test]
fn heading_splits_on_last_dash_and_program_keeps_colon() {
    // == MTP-Y2: Platform Evolution - Evolutionary architecture ==
    let o = only(&section(
        "MTP-Y2: Platform Evolution - Evolutionary architecture",
        "<p>Objective Manager: Corey Floyd</p>",
    ));
    assert_eq!(o.id, "2020-21/evolutionary-architecture");
    assert_eq!(o.program.as_deref(), Some("MTP-Y2: Platform Evolution"));
    assert_eq!(o.title, "Evolutionary architecture");
}

#[test]
fn heading_without_dash_is_all_title() {
    let o = only(&section(
        "Front-line defenses – 2021",
        "<p>Objective Manager: A</p>",
    ));
    assert_eq!(o.program, None);
    assert_eq!(o.title, "Front-line defenses – 2021");
    assert_eq!(o.id, "2020-21/front-line-defenses-2021");
}

#[test]
fn labels_bold_or_plain_with_or_without_space() {
    // '''Objective Manager:''' Corey Floyd / Key Result Manager:John Bennett
    let o = only(&section(
        "P - T",
        "<p><b>Objective Manager:</b> Corey Floyd</p>\n\
         <p>Key Result Manager:John Bennett</p>\n<p><b>KR1:</b> Do it</p>\n\
         <p><b>Key Results Manager:</b>Kate Chapman</p>\n<p>KR2 Do more</p>",
    ));
    assert_eq!(o.managers, ["Corey Floyd"]);
    assert_eq!(o.key_results[0].managers, ["John Bennett"]);
    assert_eq!(o.key_results[0].text, "Do it");
    assert_eq!(o.key_results[1].managers, ["Kate Chapman"]);
}

#[test]
fn manager_line_applies_to_the_krs_after_it() {
    let o = only(&section(
        "P - T",
        "<p>Key Result Manager: Leila Zia</p><p>KR1: a</p><p>KR2: b</p>\
         <p>Key Result Manager: Chris Albon</p><p>KR3: c</p><p>Objective: d</p>",
    ));
    let managers: Vec<_> = o.key_results.iter().map(|k| k.managers.clone()).collect();
    assert_eq!(
        managers,
        [
            vec!["Leila Zia"],
            vec!["Leila Zia"],
            vec!["Chris Albon"],
            vec!["Chris Albon"]
        ]
    );
}

#[test]
fn several_managers_split_and_keep_diacritics() {
    let o = only(&section(
        "P - T",
        "<p>Objective Manager: Birgit Müller &amp; Jean-René Branaa</p>\
         <p>Key Results Manager: A and B, C</p><p>KR1 x</p>",
    ));
    assert_eq!(o.managers, ["Birgit Müller", "Jean-René Branaa"]);
    assert_eq!(o.key_results[0].managers, ["A", "B", "C"]);
}

#[test]
fn description_with_and_without_objective_heading() {
    // With `=== Objective ===` (Q1, Q2).
    let with = only(&section(
        "P - T",
        "<p>Objective Manager: A</p>\n<section data-mw-section-id=\"2\"><h3>Objective</h3>\n\
         <p>Software platforms.</p></section><section data-mw-section-id=\"3\"><h3>Key Results</h3>\n\
         <p>Key Results Manager: B</p><p>KR1 x</p></section>",
    ));
    assert_eq!(with.description.as_deref(), Some("Software platforms."));
    // Without (Q4): the description simply follows the manager line.
    let without = only(&section(
        "P - T",
        "<p>Objective Manager: A</p>\n<p>Software platforms.</p>\n<p>Key Results Manager: B</p><p>KR1 x</p>",
    ));
    assert_eq!(without, with);
    // A bare `Objective:` line before the KRs stands for the heading.
    let bare = only(&section(
        "P - T",
        "<p>Objective Manager: A</p><p>Objective:</p><p>Software platforms.</p>\
         <p>Key Results Manager: B</p><p>KR1 x</p>",
    ));
    assert_eq!(bare, with);
}

#[test]
fn kr_blocks_as_paragraphs_list_items_or_pre_read_the_same() {
    // KR1 x<br />Q2 Objective:<br />Q2 Goals:\n* g
    let para = only(&section(
        "P - T",
        "<p>KR1 x<br/>\nQ2 Objective:<br/>\nQ2 Goals:</p>\n<ul><li>g</li></ul>",
    ));
    // * '''KR1:''' x\n** '''Q2 Objective:'''\n** '''Q2 Goals:'''\n*** g
    let list = only(&section(
        "P - T",
        "<ul><li><b>KR1:</b> x\n<ul><li><b>Q2 Objective:</b></li>\n<li><b>Q2 Goals:</b>\n\
         <ul><li>g</li></ul></li></ul></li></ul>",
    ));
    // <pre>KR 1 x\nQ2 Objective:\nQ2 Goals:\n* g</pre>
    let pre = only(&section(
        "P - T",
        "<pre typeof=\"mw:Extension/pre\">KR 1 x\nQ2 Objective:\nQ2 Goals:\n* g\n</pre>",
    ));
    assert_eq!(para, list);
    assert_eq!(para, pre);
    let kr = &para.key_results[0];
    assert_eq!(kr.id, "2020-21/t/kr1");
    assert_eq!(kr.text, "x");
    assert_eq!(
        kr.quarters[&Quarter::Q2],
        QuarterEntry {
            objective: Some(String::new()),
            goals: vec!["g".into()],
            status: None,
            note: None,
            note_wikitext: None,
        }
    );
}

#[test]
fn kr_label_spellings() {
    let o = only(&section(
        "P - T",
        "<p>KR1 a</p><p>KR2: b</p><p>KR 3 c</p><p>KR4 - d</p><p>KR5. e</p>",
    ));
    let got: Vec<_> = o
        .key_results
        .iter()
        .map(|k| (k.number, k.text.as_str()))
        .collect();
    assert_eq!(got, [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]);
}

#[test]
fn objective_items_are_numbered_and_carry_their_bullets() {
    // Objective: Develop …\n* Refine strategy and concept\nObjective: Run …\n* Design …
    let o = only(&section(
        "P - T",
        "<p>KR2: A 10% increase<br/>\nObjective: Develop a model</p>\n<ul><li>Refine strategy</li></ul>\n\
         <p>Objective: Run 3 initiatives</p>\n<ul><li>Design Outreachy</li></ul>",
    ));
    let ids: Vec<_> = o.key_results.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["2020-21/t/kr2", "2020-21/t/item1", "2020-21/t/item2"]);
    assert_eq!(o.key_results[1].kind, Kind::ObjectiveItem);
    assert_eq!(o.key_results[1].text, "Develop a model");
    // Bullets right after an item are its goals for the page's quarter.
    assert_eq!(
        o.key_results[1].quarters[&Quarter::Q2].goals,
        ["Refine strategy"]
    );
    assert_eq!(o.key_results[1].quarters[&Quarter::Q2].objective, None);
    assert_eq!(
        o.key_results[2].quarters[&Quarter::Q2].goals,
        ["Design Outreachy"]
    );
    assert!(o.key_results[0].quarters.is_empty());
}

#[test]
fn quarter_blocks() {
    let o = only(&section(
        "P - T",
        // KR1: empty objective and an empty bullet; KR2: goals only, singular
        // label; KR3: nothing; KR4: goal on the label's line.
        "<p>KR1 a<br/>Q2 Objective:<br/>Q2 Goals:</p><ul><li class=\"mw-empty-elt\"></li></ul>\
         <p>KR2 b<br/>Q4 Goal:</p><ul><li>g1</li><li>g2</li></ul>\
         <p>KR3 c</p>\
         <p>KR4 d<br/>Q2 Objective: ship<br/>Q2 Goals: one goal</p>",
    ));
    let k = &o.key_results;
    assert_eq!(k[0].quarters[&Quarter::Q2].objective.as_deref(), Some(""));
    assert!(k[0].quarters[&Quarter::Q2].goals.is_empty());
    assert_eq!(k[1].quarters.keys().collect::<Vec<_>>(), [&Quarter::Q4]);
    assert_eq!(k[1].quarters[&Quarter::Q4].objective, None);
    assert_eq!(k[1].quarters[&Quarter::Q4].goals, ["g1", "g2"]);
    assert!(k[2].quarters.is_empty());
    assert_eq!(
        k[3].quarters[&Quarter::Q2].objective.as_deref(),
        Some("ship")
    );
    assert_eq!(k[3].quarters[&Quarter::Q2].goals, ["one goal"]);
}

#[test]
fn in_text_quarter_phrases_are_not_labels() {
    let o = only(&section(
        "P - T",
        "<p>KR1: plan (by end of Q3), build by Q4 (by end of FY21-22 Q1).</p>",
    ));
    assert_eq!(
        o.key_results[0].text,
        "plan (by end of Q3), build by Q4 (by end of FY21-22 Q1)."
    );
    assert!(o.key_results[0].quarters.is_empty());
}

#[test]
fn quotes_urls_and_links_read_as_a_reader_sees_them() {
    // "Gap analysis … completed”, [[Main Page|label]], raw URL.
    let o = only(&section(
        "P - T",
        "<p>KR1 \"Gap analysis are completed”, the public’s <a rel=\"mw:WikiLink\" href=\"./Main_Page\">label</a> \
         (<a rel=\"mw:ExtLink\" class=\"external free\" href=\"https://www.mediawiki.org/wiki/X\">https://www.mediawiki.org/wiki/X</a>)</p>",
    ));
    assert_eq!(
        o.key_results[0].text,
        "\"Gap analysis are completed”, the public’s label (https://www.mediawiki.org/wiki/X)"
    );
}

#[test]
fn task_ids_from_all_three_spellings() {
    // T111111, {{Phabricator|T222222}} (a link labelled T222222), [[phab:T333333|the task]]
    let o = only(&section(
        "P - T",
        "<p>KR1 see T111111<br/>Q2 Goals:</p><ul>\
         <li>a (<a rel=\"mw:WikiLink\" href=\"./Phab:T222222\" typeof=\"mw:Transclusion\">T222222</a>)</li>\
         <li>b <a rel=\"mw:WikiLink/Interwiki\" href=\"https://phabricator.wikimedia.org/T333333\">the task</a></li></ul>",
    ));
    assert_eq!(o.key_results[0].links, ["T111111", "T222222", "T333333"]);
    assert_eq!(
        o.key_results[0].quarters[&Quarter::Q2].goals,
        ["a (T222222)", "b the task"]
    );
}

#[test]
fn baseline_sentence_moves_out_of_the_text() {
    let o = only(&section(
        "P - T",
        "<p>KR2: Hire people, by end of Q4. Baseline: 0 SPoF positions filled</p>",
    ));
    assert_eq!(o.key_results[0].text, "Hire people, by end of Q4.");
    assert_eq!(
        o.key_results[0].baseline.as_deref(),
        Some("0 SPoF positions filled")
    );
}

/// The STATUS_TABLE.md example as Parsoid renders it.
fn status_table(objective_id: &str, q2_cell: &str) -> String {
    format!(
        r#"<table class="wikitable goalsbot-status" data-goalsbot-objective="{objective_id}">
<tbody><tr><th>KR</th><th>Year goal</th><th>Q1</th><th>Q2</th><th>Q3</th><th>Q4</th></tr>
<tr data-goalsbot-kr="{objective_id}/kr2">
<td>KR2<br/><small>Baseline: 8 SPoF positions</small></td><td>Hire for 4 SPoF positions</td>
<td data-goalsbot-quarter="Q1" style="background:#d4edda">On track: 0% filled, 1 hiring process in final stages</td>
<td data-goalsbot-quarter="Q2" style="background:#a8d5a2">{q2_cell}</td>
<td data-goalsbot-quarter="Q3"></td>
<td data-goalsbot-quarter="Q4" style="background:#eaecf0">Not scheduled</td></tr>
</tbody></table>"#
    )
}

#[test]
fn status_table_merges_into_the_krs() {
    let o = only(&section(
        "ERF-Y2: Technology Dept - Front Line Defenses",
        &format!(
            "<p>KR1: a</p><p>KR2: b. Baseline: old<br/>Q2 Goals:</p><ul><li>Hire 1 SRE</li></ul>{}",
            status_table("2020-21/front-line-defenses", "Complete: 25% filled")
        ),
    ));
    let kr2 = &o.key_results[1];
    assert_eq!(kr2.id, "2020-21/front-line-defenses/kr2");
    assert_eq!(kr2.baseline.as_deref(), Some("8 SPoF positions"));
    assert_eq!(kr2.year_goal.as_deref(), Some("Hire for 4 SPoF positions"));
    assert_eq!(kr2.text, "b.");
    let q1 = &kr2.quarters[&Quarter::Q1];
    // Status data alone still makes an entry.
    assert_eq!(
        q1,
        &QuarterEntry {
            objective: None,
            goals: vec![],
            status: Some(Status::OnTrack),
            note: Some("0% filled, 1 hiring process in final stages".into()),
            note_wikitext: None,
        }
    );
    let q2 = &kr2.quarters[&Quarter::Q2];
    assert_eq!(q2.goals, ["Hire 1 SRE"]);
    assert_eq!(q2.status, Some(Status::Complete));
    assert_eq!(q2.note.as_deref(), Some("25% filled"));
    // An empty cell says nothing: no Q3 entry.
    assert!(!kr2.quarters.contains_key(&Quarter::Q3));
    assert_eq!(
        kr2.quarters[&Quarter::Q4].status,
        Some(Status::NotScheduled)
    );
    // KR1 has no row: untouched.
    assert!(o.key_results[0].quarters.is_empty());
    assert_eq!(o.key_results[0].year_goal, None);
}

#[test]
fn status_comes_from_the_cell_text_not_its_colour() {
    // A staff edit: text changed, green background left as it was.
    let o = only(&section(
        "P - Front Line Defenses",
        &format!(
            "<p>KR2: b</p>{}",
            status_table("2020-21/front-line-defenses", "At risk – hiring froze")
        ),
    ));
    let q2 = &o.key_results[0].quarters[&Quarter::Q2];
    assert_eq!(q2.status, Some(Status::AtRisk));
    assert_eq!(q2.note.as_deref(), Some("hiring froze"));
    let o = only(&section(
        "P - Front Line Defenses",
        &format!(
            "<p>KR2: b</p>{}",
            status_table("2020-21/front-line-defenses", "No status: Done by Legal")
        ),
    ));
    let q2 = &o.key_results[0].quarters[&Quarter::Q2];
    assert_eq!(
        (q2.status, q2.note.as_deref()),
        (None, Some("Done by Legal"))
    );
}

#[test]
fn table_identity_survives_retitling_and_moving() {
    // Retitled objective: the table in its section gives the id.
    let table = status_table("2020-21/front-line-defenses", "Complete");
    let o = only(&section("P - Resilience", &format!("<p>KR2: b</p>{table}")));
    assert_eq!(o.id, "2020-21/front-line-defenses");
    assert_eq!(o.key_results[0].id, "2020-21/front-line-defenses/kr2");
    // Moved to another section (even the intro): found by id.
    let parsed = parse(&format!(
        "{}<section data-mw-section-id=\"2\"><h2>Other - Title</h2><p>Objective Manager: X</p>{table}</section>",
        section("P - Front Line Defenses", "<p>KR2: b</p>")
    ));
    assert_eq!(parsed.objectives[0].id, "2020-21/front-line-defenses");
    assert_eq!(
        parsed.objectives[0].key_results[0].quarters[&Quarter::Q2].status,
        Some(Status::Complete)
    );
    assert_eq!(parsed.objectives[1].id, "2020-21/title");
}

#[test]
fn unmatched_rows_and_tables_are_warnings() {
    let parsed = parse(&section(
        "P - T",
        &format!(
            "<p>KR1: a</p>{}{}",
            status_table("2020-21/t", "Done"),
            status_table("2020-21/elsewhere", "Done")
        ),
    ));
    let o = &parsed.objectives[0];
    assert!(o.key_results[0].quarters.is_empty());
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| w.contains("2020-21/t/kr2 matches no key result")),
        "{:?}",
        parsed.warnings
    );
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| w.contains("2020-21/elsewhere matches no objective")),
        "{:?}",
        parsed.warnings
    );
}

#[test]
fn page_without_objectives_is_empty_not_an_error() {
    for html in [
        "",
        "not html at all",
        "<html><body></body></html>",
        &page("<section><h2>Notes</h2><p>Just notes.</p><ul><li>a bullet</li></ul></section>"),
    ] {
        let parsed = parse_quarter_page(html, &fy(), Quarter::Q3);
        assert!(parsed.objectives.is_empty(), "{html}");
        assert_eq!(parsed.quarter, Quarter::Q3);
        assert!(!parsed.warnings.is_empty());
    }
}

#[test]
fn ignored_content_becomes_warnings() {
    let parsed = fixture("Q4");
    let w = parsed.warnings.join("\n");
    assert!(w.contains("image ignored"), "{w}");
    assert!(w.contains("table ignored"), "{w}");
    assert!(w.contains("text ignored: Our 2nd EMEA region"), "{w}");
    // The nav bar and intro are not objectives' business: no warnings.
    assert!(!w.contains("Technology Department Team Goals"), "{w}");
    assert_eq!(parsed.warnings.len(), 3, "{w}");
}

#[test]
fn fixture_status_tables_in_source_and_visualeditor_form() {
    let parsed = fixture("Q3");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let by_id = |id: &str| {
        parsed
            .objectives
            .iter()
            .flat_map(|o| &o.key_results)
            .find(|k| k.id == id)
            .unwrap_or_else(|| panic!("{id}"))
            .clone()
    };
    // VisualEditor-normalised table (one cell per line, attributes reordered).
    let kr2 = by_id("2020-21/front-line-defenses/kr2");
    assert_eq!(kr2.year_goal.as_deref(), Some("Hire for 4 SPoF positions"));
    assert_eq!(kr2.quarters[&Quarter::Q3].status, Some(Status::Complete));
    // Staff-edited cell: "Paused – …" with a wiki link, on a yellow background.
    let kr3 = by_id("2020-21/technical-community-building/kr3");
    assert_eq!(kr3.quarters[&Quarter::Q3].status, Some(Status::Paused));
    assert_eq!(
        kr3.quarters[&Quarter::Q3].note.as_deref(),
        Some("community input moved to Q4 (see the docs plan)")
    );
}

#[test]
fn duplicate_titles_get_unique_ids() {
    let parsed = parse(&format!(
        "{}{}",
        section("A - Same", "<p>KR1 x</p>"),
        section("B - Same", "<p>KR1 y</p>")
    ));
    assert_eq!(parsed.objectives[0].id, "2020-21/same");
    assert_eq!(parsed.objectives[1].id, "2020-21/same-2");
    assert_eq!(parsed.objectives[1].key_results[0].id, "2020-21/same-2/kr1");
    assert!(parsed.warnings.iter().any(|w| w.contains("same-2")));
}

#[test]
fn title_without_letters_gets_a_positional_id() {
    let parsed = parse(&section("P - !!!", "<p>KR1 x</p>"));
    assert_eq!(parsed.objectives[0].id, "2020-21/objective-1");
}

/// The parser never panics, whatever the page holds, and what it returns
/// keeps the id invariants the store relies on.
mod never_panics {
    use super::*;
    use proptest::prelude::*;

    const FIXTURES: [&str; 7] = [
        include_str!(
            "../../../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q1.html"
        ),
        include_str!(
            "../../../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q2.html"
        ),
        include_str!(
            "../../../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q3.html"
        ),
        include_str!(
            "../../../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q4.html"
        ),
        include_str!("../../../tests/fixtures/pages/Goalsbot_test%2FHostile_2020-21_Q2.html"),
        include_str!("../../../tests/fixtures/pages/Goalsbot_test%2FHeadings_2020-21_Q3.html"),
        include_str!("../../../tests/fixtures/pages/Goalsbot_test%2FNo_objectives_2020-21_Q2.html"),
    ];

    /// Fragments that steer mutations towards what the parser looks at.
    const SNIPPETS: [&str; 24] = [
        "<p>",
        "</p>",
        "<br/>",
        "</section>",
        "<section data-mw-section-id=\"9\"><h2>X - Y</h2>",
        "<h3>Objective</h3>",
        "<ul><li>",
        "</li></ul>",
        "<pre>",
        "KR1:",
        "KR 2 ",
        "Objective:",
        "Q2 Objective:",
        "Q3 Goals:",
        "\n* ",
        "Key Result Manager: A & B",
        "Baseline:",
        "<table data-goalsbot-objective=\"2020-21/content-integrity\">",
        "<tr data-goalsbot-kr=\"2020-21/content-integrity/kr1\">",
        "<td data-goalsbot-quarter=\"Q2\">On track: x",
        "<td data-goalsbot-quarter=\"Q9\">",
        "No status:",
        "é“”\u{a0}\u{212a}",
        "<div><div><div>",
    ];

    #[derive(Debug, Clone)]
    enum Mutation {
        Delete { at: usize, len: usize },
        Insert { at: usize, text: String },
        Snippet { at: usize, which: usize },
        Duplicate { at: usize, len: usize, to: usize },
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), 0usize..400).prop_map(|(at, len)| Mutation::Delete { at, len }),
            (any::<usize>(), ".{0,20}").prop_map(|(at, text)| Mutation::Insert { at, text }),
            (any::<usize>(), 0..SNIPPETS.len())
                .prop_map(|(at, which)| Mutation::Snippet { at, which }),
            (any::<usize>(), 0usize..2000, any::<usize>())
                .prop_map(|(at, len, to)| Mutation::Duplicate { at, len, to }),
        ]
    }

    /// Applies mutations on bytes (so they may split characters and tags);
    /// the result is made valid UTF-8 the way a lossy reader would.
    fn mutate(html: &str, mutations: &[Mutation]) -> String {
        let mut b = html.as_bytes().to_vec();
        for m in mutations {
            let n = b.len().max(1);
            match m {
                Mutation::Delete { at, len } => {
                    let at = at % n;
                    let end = (at + len).min(b.len());
                    if at < end {
                        b.drain(at..end);
                    }
                }
                Mutation::Insert { at, text } => {
                    let at = (at % n).min(b.len());
                    b.splice(at..at, text.bytes());
                }
                Mutation::Snippet { at, which } => {
                    let at = (at % n).min(b.len());
                    b.splice(at..at, SNIPPETS[*which].bytes());
                }
                Mutation::Duplicate { at, len, to } => {
                    let at = (at % n).min(b.len());
                    let end = (at + len).min(b.len());
                    let piece: Vec<u8> = b[at..end].to_vec();
                    let to = (to % n).min(b.len());
                    b.splice(to..to, piece);
                }
            }
        }
        String::from_utf8_lossy(&b).into_owned()
    }

    fn check_invariants(parsed: &ParsedPage) {
        let id = regex::Regex::new(r"^[0-9]{4}-[0-9]{2}/[a-z0-9-]+$").unwrap();
        let mut objective_ids = std::collections::HashSet::new();
        let mut kr_ids = std::collections::HashSet::new();
        for o in &parsed.objectives {
            assert!(id.is_match(&o.id), "bad objective id {}", o.id);
            assert!(objective_ids.insert(o.id.clone()), "duplicate {}", o.id);
            for k in &o.key_results {
                let rest =
                    k.id.strip_prefix(&format!("{}/", o.id))
                        .unwrap_or_else(|| panic!("KR id {} outside objective {}", k.id, o.id));
                // A KR's id follows the KR, its number the page (a row's
                // label says where the page has the KR its id names).
                let n = rest.strip_prefix(k.kind.id_stem());
                assert!(
                    n.is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)),
                    "{}",
                    k.id
                );
                assert!(k.number >= 1);
                assert!(kr_ids.insert(k.id.clone()), "duplicate {}", k.id);
            }
        }
    }

    proptest! {
        // Cases: PROPTEST_CASES (default 256).
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn arbitrary_strings(s in any::<String>()) {
            let parsed = parse_quarter_page(&s, &fy(), Quarter::Q2);
            check_invariants(&parsed);
        }

        #[test]
        fn mutated_fixtures(
            which in 0..FIXTURES.len(),
            mutations in proptest::collection::vec(mutation(), 1..8),
        ) {
            let html = mutate(FIXTURES[which], &mutations);
            let parsed = parse_quarter_page(&html, &fy(), Quarter::Q3);
            check_invariants(&parsed);
        }
    }

    #[test]
    fn unmutated_fixtures_keep_the_invariants() {
        for html in FIXTURES {
            check_invariants(&parse_quarter_page(html, &fy(), Quarter::Q1));
        }
    }
}

#[test]
fn hostile_page_warnings_name_what_was_ignored() {
    let html =
        include_str!("../../../tests/fixtures/pages/Goalsbot_test%2FHostile_2020-21_Q2.html");
    let parsed = parse_quarter_page(html, &fy(), Quarter::Q2);
    let w = parsed.warnings.join("\n");
    for expected in [
        "second KR1 ignored: A duplicate KR1",
        "quarter block outside any key result ignored: Q2 Goals:",
        "bullet outside any key result ignored: orphan goal after a duplicate",
        "text ignored: KR1.5 is a version number",
        "text ignored: Q9 Goals: not a quarter",
        "bullet outside any key result ignored: stray bullet",
        "“Objective:” label without text ignored",
        "malformed data-goalsbot-kr=\"DROP TABLE\"",
        "row 2020-21/tricky-things-quotes/kr7 matches no key result",
        "malformed data-goalsbot-objective=\"<b>bad</b>\"",
    ] {
        assert!(w.contains(expected), "missing {expected:?} in:\n{w}");
    }
    assert_eq!(parsed.warnings.len(), 10, "{w}");
}

/// A staff KR table: what it could not read is one warning line per table;
/// the rest is read (a colour that names nothing leaves the cell a note).
#[test]
fn what_a_staff_table_skips_is_one_warning_line_per_table() {
    let table = "<table class=\"wikitable\"><tbody>\
        <tr><th>Key Results</th><th>Year Goal</th><th>Q1 Status</th><th>Q2 Status</th></tr>\
        <tr><td>KR1: First</td><td>4</td><td style=\"background:violet\">half done</td><td bgcolor=\"#b6d7a8\">on its way</td></tr>\
        <tr><td>KR1: First again</td><td>5</td><td>Done</td><td></td></tr>\
        <tr><td>KR2</td><td></td><td style=\"background-color: #f0f0f0;\">2 of 3</td><td style=\"background:white\">later</td></tr>\
        </tbody></table>";
    let parsed = parse(&section(
        "Prog - Tables",
        &format!("<p>Objective Manager: A</p><p>KR1: First in prose</p>{table}"),
    ));
    let o = &parsed.objectives[0];
    let kr1 = &o.key_results[0];
    assert_eq!(kr1.text, "First in prose", "prose wins");
    assert_eq!(kr1.year_goal.as_deref(), Some("4"));
    assert_eq!(kr1.quarters[&Quarter::Q1].status, None);
    assert_eq!(
        kr1.quarters[&Quarter::Q1].note.as_deref(),
        Some("half done")
    );
    assert_eq!(kr1.quarters[&Quarter::Q2].status, Some(Status::OnTrack));
    assert_eq!(
        kr1.quarters[&Quarter::Q2].note.as_deref(),
        Some("on its way")
    );
    let kr2 = &o.key_results[1];
    assert_eq!((kr2.number, kr2.text.as_str()), (2, ""));
    assert_eq!(
        kr2.quarters[&Quarter::Q1].status,
        Some(Status::NotScheduled),
        "grey"
    );
    assert_eq!(
        kr2.quarters[&Quarter::Q2].status,
        None,
        "white names nothing"
    );
    let table_lines: Vec<&String> = parsed
        .warnings
        .iter()
        .filter(|w| w.contains("KR table: skipped"))
        .collect();
    assert_eq!(table_lines.len(), 1, "{:#?}", parsed.warnings);
    assert!(
        table_lines[0].contains("\"violet\" names no status"),
        "{}",
        table_lines[0]
    );
    assert!(
        table_lines[0].contains("\"white\" names no status"),
        "{}",
        table_lines[0]
    );
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| w.contains("second row for key-result 1")),
        "{:#?}",
        parsed.warnings
    );
    assert_eq!(parsed.staff_tables[&o.id][0].rows.len(), 3);
    assert_eq!(
        parsed.staff_tables[&o.id][0].rows[1], None,
        "the second KR1 row is not adopted as KR1"
    );
}

/// A table the bot cannot read whole gives nothing and is reported.
#[test]
fn a_staff_table_with_a_merged_cell_is_not_read() {
    let table = "<table class=\"wikitable\"><tbody>\
        <tr><th>KR</th><th>Q1 Status</th><th>Q2 Status</th></tr>\
        <tr><td>KR1</td><td colspan=\"2\">Done</td></tr></tbody></table>";
    let parsed = parse(&section(
        "Prog - Tables",
        &format!("<p>Objective Manager: A</p><p>KR1: One</p>{table}"),
    ));
    let o = &parsed.objectives[0];
    assert!(o.key_results[0].quarters.is_empty());
    assert!(parsed.table_rows.is_empty());
    assert!(parsed.staff_tables[&o.id][0].unreadable.is_some());
    assert!(parsed
        .warnings
        .iter()
        .any(|w| w.contains("cannot read whole")));
}

/// A KR table staff wrote: a row whose KR has no line of its own gives the
/// KR its label's words, and the page says so (`label_words`); a KR with a
/// line takes its words from the line.
#[test]
fn words_only_in_a_staff_tables_label_are_marked_as_such() {
    let table = "<table class=\"wikitable\"><tbody>\
        <tr><th>Key Results</th><th>Q1 Status</th></tr>\
        <tr><td>KR1: One short</td><td>Done</td></tr>\
        <tr><td>KR2 - Two from the label</td><td>Done</td></tr></tbody></table>";
    let parsed = parse(&section(
        "Prog - Tables",
        &format!("<p>Objective Manager: A</p><p>KR1: One in full</p>{table}"),
    ));
    let krs = &parsed.objectives[0].key_results;
    assert_eq!(krs[0].text, "One in full");
    assert_eq!(krs[1].text, "Two from the label");
    let ids: Vec<&str> = parsed.label_words.iter().map(String::as_str).collect();
    assert_eq!(ids, [krs[1].id.as_str()]);
}

/// The bot's table of `objective_id` with one row per `(id, label, Q1 cell)`.
fn rows_table(objective_id: &str, rows: &[(&str, &str, &str)]) -> String {
    let body: String = rows
        .iter()
        .map(|(id, label, q1)| {
            format!(
                "<tr data-goalsbot-kr=\"{objective_id}/{id}\"><td>{label}</td><td></td>\
                 <td data-goalsbot-quarter=\"Q1\">{q1}</td></tr>"
            )
        })
        .collect();
    format!(
        "<table class=\"wikitable goalsbot-status\" data-goalsbot-objective=\"{objective_id}\">\
         <tbody><tr><th>KR</th><th>Year goal</th><th>Q1</th></tr>{body}</tbody></table>"
    )
}

/// Issue 27, case 1: KR2 deleted and KR3 renumbered KR2 (its row untouched).
/// Followed from the revision before, the KR keeps its id and its row.
#[test]
fn a_followed_page_keeps_each_krs_id_and_binds_rows_by_id() {
    let o = "2020-21/alpha";
    let before = parse(&section(
        "X - Alpha",
        &format!(
            "<p>KR1: One</p><p>KR2: Two</p><p>KR3: Three</p>{}",
            rows_table(
                o,
                &[
                    ("kr1", "KR1", ""),
                    ("kr2", "KR2", "At risk: two"),
                    ("kr3", "KR3", "Complete: three")
                ]
            )
        ),
    ));
    let base = FiscalYearRecords {
        fiscal_year: fy(),
        objectives: before.objectives,
    };
    let after = section(
        "X - Alpha",
        &format!(
            "<p>KR1: One</p><p>KR2: Three</p>{}",
            rows_table(o, &[("kr1", "KR1", ""), ("kr3", "KR3", "Complete: three")])
        ),
    );
    let following = Following::new(&base, &[], []);
    let read = parse_quarter_page_after(
        &page(&after),
        &fy(),
        Quarter::Q2,
        &Palette::default(),
        Some(&following),
    );
    let krs = &read.objectives[0].key_results;
    let ids: Vec<(&str, u32, &str)> = krs
        .iter()
        .map(|k| (k.id.as_str(), k.number, k.text.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("2020-21/alpha/kr1", 1, "One"),
            ("2020-21/alpha/kr3", 2, "Three")
        ]
    );
    assert_eq!(krs[1].quarters[&Quarter::Q1].status, Some(Status::Complete));
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    assert!(read.identity_doubts.is_empty());

    // Without following (a new store), the page says the same once the
    // bot's table labels its rows with the page's numbers.
    let relabelled = section(
        "X - Alpha",
        &format!(
            "<p>KR1: One</p><p>KR2: Three</p>{}",
            rows_table(o, &[("kr1", "KR1", ""), ("kr3", "KR2", "Complete: three")])
        ),
    );
    let fresh = parse(&relabelled);
    let krs = &fresh.objectives[0].key_results;
    assert_eq!(krs[1].id, "2020-21/alpha/kr3");
    assert_eq!(krs[1].text, "Three");
    assert_eq!(krs[1].quarters[&Quarter::Q1].status, Some(Status::Complete));
}

/// A staff table without ids (a table the bot never adopted, or one whose
/// ids a revert took off) with a `Key Results | Q1 Status` row per KR.
fn staff_rows(rows: &[(&str, &str)]) -> String {
    let body: String = rows
        .iter()
        .map(|(label, q1)| format!("<tr><td>{label}</td><td>{q1}</td></tr>"))
        .collect();
    format!(
        "<table class=\"wikitable\"><tbody><tr><th>Key Results</th><th>Q1 Status</th></tr>\
         {body}</tbody></table>"
    )
}

/// `sections` read following `base`.
fn parse_following(base: ParsedPage, sections: &str) -> ParsedPage {
    let base = FiscalYearRecords {
        fiscal_year: fy(),
        objectives: base.objectives,
    };
    let following = Following::new(&base, &[], []);
    parse_quarter_page_after(
        &page(sections),
        &fy(),
        Quarter::Q2,
        &Palette::default(),
        Some(&following),
    )
}

/// Issue 27, case 1, in a staff table: KR1's line is deleted and KR2 is
/// renumbered KR1 in the text, the table left as it was. The row labelled
/// `KR1: Alpha one` is not the renumbered KR's (by its number): its words
/// are KR1's, which stays on the page in the table; the row `KR2: Alpha
/// two` is KR2's by its words. No value moves between KRs. (Found by the
/// simulation: the renumbered KR took KR1's status.)
#[test]
fn a_staff_rows_label_says_whose_row_it_is_when_only_the_text_was_renumbered() {
    let table = staff_rows(&[
        ("KR1: Alpha one", "Complete: hiring"),
        ("KR2: Alpha two", "On track: later"),
    ]);
    let before = parse(&section(
        "X - Alpha",
        &format!("<p>KR1: Alpha one</p><p>KR2: Alpha two</p>{table}"),
    ));
    let after = parse_following(
        before,
        &section("X - Alpha", &format!("<p>KR1: Alpha two</p>{table}")),
    );
    assert!(
        after.identity_doubts.is_empty(),
        "{:?}",
        after.identity_doubts
    );
    let krs = &after.objectives[0].key_results;
    let read: Vec<(&str, &str, Option<Status>)> = krs
        .iter()
        .map(|k| {
            let q1 = k.quarters.get(&Quarter::Q1).and_then(|e| e.status);
            (k.id.as_str(), k.text.as_str(), q1)
        })
        .collect();
    assert_eq!(
        read,
        [
            ("2020-21/alpha/kr2", "Alpha two", Some(Status::OnTrack)),
            ("2020-21/alpha/kr1", "Alpha one", Some(Status::Complete)),
        ]
    );
    let kr2 = &krs[0].quarters[&Quarter::Q1];
    assert_eq!(kr2.note.as_deref(), Some("later"));

    // Read again following its own reading (as push reads it to adopt the
    // table), the page says the same.
    let again = parse_following(
        after.clone(),
        &section("X - Alpha", &format!("<p>KR1: Alpha two</p>{table}")),
    );
    assert_eq!(again.objectives, after.objectives);
    assert_eq!(again.staff_tables, after.staff_tables);

    // With a bare label, the row `KR2` could be the renumbered KR's (the
    // table was not renumbered) or a KR kept only in the table: held.
    let bare = staff_rows(&[
        ("KR1: Alpha one", "Complete: hiring"),
        ("KR2", "On track: later"),
    ]);
    let before = parse(&section(
        "X - Alpha",
        &format!("<p>KR1: Alpha one</p><p>KR2: Alpha two</p>{bare}"),
    ));
    let held = parse_following(
        before,
        &section("X - Alpha", &format!("<p>KR1: Alpha two</p>{bare}")),
    );
    assert_eq!(held.identity_doubts.len(), 1, "{:?}", held.identity_doubts);
}

/// Bare labels say nothing but a number. When the text and the table are
/// both renumbered (KR1 deleted, KR2 now KR1 in both), the row `KR1` could
/// be the deleted KR's or the renumbered one's: the page waits for a
/// person. When no KR changed its number, the same labels bind as before.
#[test]
fn a_bare_staff_row_whose_number_is_another_krs_now_is_a_doubt() {
    let before = parse(&section(
        "X - Alpha",
        &format!(
            "<p>KR1: Alpha one</p><p>KR2: Alpha two</p>{}",
            staff_rows(&[("KR1", "Complete: hiring"), ("KR2", "On track: later")])
        ),
    ));
    let kept = parse_following(
        before.clone(),
        &section(
            "X - Alpha",
            &format!(
                "<p>KR1: Alpha one</p><p>KR2: Alpha two, reworded</p>{}",
                staff_rows(&[("KR1", "Complete: hiring"), ("KR2", "At risk: later")])
            ),
        ),
    );
    assert!(
        kept.identity_doubts.is_empty(),
        "{:?}",
        kept.identity_doubts
    );
    let kr2 = &kept.objectives[0].key_results[1];
    assert_eq!(kr2.id, "2020-21/alpha/kr2");
    assert_eq!(kr2.quarters[&Quarter::Q1].status, Some(Status::AtRisk));

    let renumbered = parse_following(
        before,
        &section(
            "X - Alpha",
            &format!(
                "<p>KR1: Alpha two</p>{}",
                staff_rows(&[("KR1", "On track: later")])
            ),
        ),
    );
    assert_eq!(renumbered.identity_doubts.len(), 1, "{renumbered:#?}");
    assert!(
        renumbered.identity_doubts[0].contains("cannot tell"),
        "{:?}",
        renumbered.identity_doubts
    );
}

/// Pages of one objective drawn from a small vocabulary, so that two of
/// them share words, numbers and labels in every way staff make them:
/// KR lines numbered in page order, and a KR table staff wrote (no ids)
/// whose rows carry a label (`KRn`, or `KRn: words`) and a Q1 cell.
mod read_twice {
    use super::*;
    use proptest::prelude::*;

    const WORDS: [&str; 4] = ["Alpha one", "Alpha two", "Beta three", "Gamma four"];
    const CELLS: [&str; 4] = ["Complete: a", "On track: b", "At risk: c", ""];

    /// KR lines (their words) and rows (number, words in the label, cell).
    type Drawn = (Vec<usize>, Vec<(u32, Option<usize>, usize)>);

    fn drawn() -> impl Strategy<Value = Drawn> {
        (
            proptest::collection::vec(0..WORDS.len(), 0..4),
            proptest::collection::vec(
                (
                    1..5u32,
                    proptest::option::of(0..WORDS.len()),
                    0..CELLS.len(),
                ),
                0..4,
            ),
        )
    }

    fn html((lines, rows): &Drawn) -> String {
        let krs: String = lines
            .iter()
            .enumerate()
            .map(|(i, w)| format!("<p>KR{}: {}</p>", i + 1, WORDS[*w]))
            .collect();
        let labels: Vec<(String, &str)> = rows
            .iter()
            .map(|(n, w, c)| {
                let label = match w {
                    Some(w) => format!("KR{n}: {}", WORDS[*w]),
                    None => format!("KR{n}"),
                };
                (label, CELLS[*c])
            })
            .collect();
        let refs: Vec<(&str, &str)> = labels.iter().map(|(l, c)| (l.as_str(), *c)).collect();
        let table = if refs.is_empty() {
            String::new()
        } else {
            staff_rows(&refs)
        };
        page(&section(
            "X - Alpha",
            &format!("<p>Objective Manager: Ann</p>{krs}{table}"),
        ))
    }

    fn following(read: &ParsedPage) -> Following {
        Following::new(
            &FiscalYearRecords {
                fiscal_year: fy(),
                objectives: read.objectives.clone(),
            },
            &[],
            [],
        )
    }

    fn read(html: &str, f: Option<&Following>) -> ParsedPage {
        parse_quarter_page_after(html, &fy(), Quarter::Q2, &Palette::default(), f)
    }

    proptest! {
        // Cases: PROPTEST_CASES (default 256).
        #![proptest_config(ProptestConfig::default())]

        /// Pull reads a revision following the one it read before; push
        /// adopts that revision's staff table by reading it again following
        /// pull's reading, and tags each row with the id it finds. The two
        /// readings must be the same (else a row is tagged with another
        /// KR's id than pull read, and the next edit lands in the wrong
        /// KR), unless pull held the page for a person.
        #[test]
        fn a_revision_reads_the_same_followed_from_its_own_reading(
            before in drawn(),
            after in drawn(),
        ) {
            let base = read(&html(&before), None);
            let html = html(&after);
            let pulled = read(&html, Some(&following(&base)));
            if !pulled.identity_doubts.is_empty() {
                // Held: push does not adopt this revision.
                return Ok(());
            }
            let again = read(&html, Some(&following(&pulled)));
            prop_assert_eq!(&again.objectives, &pulled.objectives);
            prop_assert_eq!(&again.staff_tables, &pulled.staff_tables);
            prop_assert_eq!(&again.table_rows, &pulled.table_rows);
            prop_assert!(again.identity_doubts.is_empty(), "{:?}", again.identity_doubts);
        }
    }
}
