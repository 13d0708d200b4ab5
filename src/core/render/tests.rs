//! Golden tests of the renderer: records in, wikitext out.
//!
//! `tests/fixtures/render/*.wiki` hold the expected wikitext. Run with
//! `GOALSBOT_BLESS=1` to rewrite them after a deliberate change, then read
//! the diff. That the wikitext reads back into the same records through a
//! real wiki is checked by `tests/it/render_roundtrip.rs`.

use std::path::{Path, PathBuf};

use super::*;
use crate::core::records::{Export, QuarterEntry};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The golden records of one FY2020-21 quarter page.
fn page_records(q: Quarter) -> FiscalYearRecords {
    let path = fixtures().join(format!(
        "pages/Wikimedia_Technology%2FGoals%2F2020-21_{q}.json"
    ));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut export: Export = serde_json::from_str(&text).unwrap();
    export.fiscal_years.remove(0)
}

/// The four quarter pages' records merged as a store would hold them: later
/// pages update texts and managers; a page speaks for its own quarter's
/// objective and goals; statuses, notes, baselines and year goals are kept
/// from whichever page states them.
fn merged_year() -> FiscalYearRecords {
    let mut year = page_records(Quarter::Q1);
    for q in [Quarter::Q2, Quarter::Q3, Quarter::Q4] {
        for o in page_records(q).objectives {
            let Some(mine) = year.objectives.iter_mut().find(|m| m.id == o.id) else {
                year.objectives.push(o);
                continue;
            };
            mine.title = o.title;
            mine.program = o.program;
            mine.managers = o.managers;
            mine.description = o.description.or(mine.description.take());
            for kr in o.key_results {
                let Some(k) = mine.key_results.iter_mut().find(|k| k.id == kr.id) else {
                    mine.key_results.push(kr);
                    continue;
                };
                k.text = kr.text;
                k.managers = kr.managers;
                k.baseline = kr.baseline.or(k.baseline.take());
                k.year_goal = kr.year_goal.or(k.year_goal.take());
                for (quarter, entry) in kr.quarters {
                    let e = k.quarters.entry(quarter).or_default();
                    if quarter == q {
                        e.objective = entry.objective;
                        e.goals = entry.goals;
                    }
                    if entry.status.is_some() || entry.note.is_some() {
                        e.status = entry.status;
                        e.note = entry.note;
                    }
                }
            }
        }
    }
    year
}

fn objective<'a>(year: &'a FiscalYearRecords, id: &str) -> &'a Objective {
    year.objectives
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no objective {id}"))
}

/// Compares with (or, under `GOALSBOT_BLESS=1`, writes) a golden file.
fn golden(name: &str, actual: &str) {
    let path = fixtures().join("render").join(name);
    if std::env::var_os("GOALSBOT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with GOALSBOT_BLESS=1 to write it, then check it)",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or(expected.lines().count().min(actual.lines().count()), |i| i);
        panic!(
            "{name} differs from the golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n(GOALSBOT_BLESS=1 rewrites it)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn title(q: Quarter) -> String {
    format!("Wikimedia Technology/Goals/2020-21 {q}")
}

#[test]
fn status_table_golden_front_line_defenses() {
    // KRs and objective items, baselines, year goals, all four quarters.
    let year = page_records(Quarter::Q3);
    let table = render_status_table(objective(&year, "2020-21/front-line-defenses"));
    golden("status_table_front_line_defenses.wiki", &table);
}

#[test]
fn status_table_golden_technical_community_building() {
    // A quarter with a note but no status, items without status data.
    let year = page_records(Quarter::Q3);
    let table = render_status_table(objective(&year, "2020-21/technical-community-building"));
    golden("status_table_technical_community_building.wiki", &table);
    assert!(table.contains("| data-goalsbot-quarter=\"Q1\" | No status: 3% (2033), draft concept"));
}

#[test]
fn status_table_is_the_documented_markup() {
    // The example of STATUS_TABLE.md, from records.
    let mut kr = KeyResult {
        id: "2020-21/content-integrity/kr2".into(),
        kind: Kind::KeyResult,
        number: 2,
        text: "x".into(),
        managers: vec![],
        baseline: Some("8 SPoF positions".into()),
        year_goal: Some("Hire for 4 SPoF positions".into()),
        links: vec![],
        quarters: BTreeMap::new(),
    };
    let entry = |s: Option<Status>, n: Option<&str>| QuarterEntry {
        status: s,
        note: n.map(str::to_string),
        ..QuarterEntry::default()
    };
    kr.quarters.insert(
        Quarter::Q1,
        entry(
            Some(Status::OnTrack),
            Some("0% filled, 1 hiring process in final stages"),
        ),
    );
    kr.quarters.insert(
        Quarter::Q2,
        entry(Some(Status::Complete), Some("25% filled")),
    );
    kr.quarters
        .insert(Quarter::Q4, entry(Some(Status::NotScheduled), None));
    let o = Objective {
        id: "2020-21/content-integrity".into(),
        program: None,
        title: "Content Integrity".into(),
        managers: vec![],
        description: None,
        status: BTreeMap::new(),
        target_quarter: None,
        department: None,
        key_results: vec![kr],
    };
    let table = render_status_table(&o);
    let doc = include_str!("../../../wikitext_templates/STATUS_TABLE.md");
    let example = doc
        .split("```\n")
        .nth(1)
        .expect("STATUS_TABLE.md opens with the example");
    assert_eq!(table, example);
}

#[test]
fn overview_golden_fy2020_21() {
    let year = merged_year();
    let overview = render_overview(&year.fiscal_year, &year, title);
    golden("overview_2020-21.wiki", &overview);
    assert!(overview.contains(
        "[[Wikimedia Technology/Goals/2020-21 Q3#ERF-Y2: Technology Dept - Front Line Defenses|Q3]]"
    ));
}

#[test]
fn overview_counts_add_up() {
    let year = merged_year();
    let view = OverviewView::new(&year.fiscal_year, &year, &title);
    let krs: usize = year.objectives.iter().map(|o| o.key_results.len()).sum();
    for i in 0..4 {
        let sum: usize = view.counts.iter().map(|c| c.counts[i]).sum();
        assert_eq!(sum, krs);
        assert_eq!(view.totals[i], krs);
    }
    // Q3 of Content Integrity: 2 on track… as the Q3 page's table says.
    let q3_at_risk = view
        .counts
        .iter()
        .find(|c| c.label == "At risk")
        .unwrap()
        .counts[2];
    assert_eq!(q3_at_risk, 1);
}

#[test]
fn metrics_show_in_a_block_of_their_own_and_are_not_counted() {
    let mut year = merged_year();
    let krs: usize = year.objectives.iter().map(|o| o.key_results.len()).sum();
    let objective = &mut year.objectives[0];
    let mut metric = objective.key_results[0].clone();
    metric.id = format!("{}/metric1", objective.id);
    metric.kind = Kind::Metric;
    metric.number = 1;
    metric.text = "Median time to first review".into();
    metric.year_goal = Some("-10%".into());
    metric.baseline = None;
    metric.quarters.clear();
    metric.quarters.insert(
        Quarter::Q3,
        crate::core::records::QuarterEntry {
            status: Some(Status::AtRisk),
            note: Some("-13% (3.3)".into()),
            ..Default::default()
        },
    );
    objective.key_results.push(metric);
    let view = OverviewView::new(&year.fiscal_year, &year, &title);
    assert_eq!(view.totals[2], krs, "metrics are not key results");
    assert_eq!(view.objectives[0].metrics.len(), 1);
    let overview = render_overview(&year.fiscal_year, &year, title);
    assert!(overview.contains("| MTP metrics\n|-\n| '''Metric 1''' Median time to first review <small>(goal: <nowiki>-10%</nowiki>)</small>"), "{overview}");
    assert!(
        overview.contains(
            "| style=\"background:#f8d7da; color:#000\" | At risk: <nowiki>-13% (3.3)</nowiki>"
        ),
        "{overview}"
    );
    // The status table of the objective shows it with its text.
    let table = render_status_table(&year.objectives[0]);
    assert!(
        table.contains("| Metric 1: Median time to first review || <nowiki>-10%</nowiki>"),
        "{table}"
    );
}

#[test]
fn new_quarter_golden_q4() {
    let year = merged_year();
    let page = render_new_quarter(
        &year.fiscal_year,
        Quarter::Q4,
        &year,
        "Wikimedia Technology/Goals",
    );
    golden("new_quarter_2020-21_Q4.wiki", &page);
    assert!(page.starts_with("{| style=\"width:100%"));
    assert!(page.contains("[[Wikimedia Technology/Goals/2020-21 Q3|◀ Q3]]"));
    assert!(page.contains("[[Wikimedia Technology/Goals/2021-22 Q1|Q1 ▶]]"));
    assert!(page.contains("FY2020–21, Q4 (April - June 2021)"));
}

#[test]
fn new_quarter_nav_crosses_fiscal_years() {
    let year = FiscalYearRecords {
        fiscal_year: FiscalYear::starting(2020),
        objectives: vec![],
    };
    let page = render_new_quarter(&year.fiscal_year, Quarter::Q1, &year, "P");
    assert!(page.contains("[[P/2019-20 Q4|◀ Q4]]"), "{page}");
    assert!(page.contains("[[P/2020-21 Q2|Q2 ▶]]"));
    assert!(page.contains("Q1 (July - September 2020)"));
    let page = render_new_quarter(&year.fiscal_year, Quarter::Q2, &year, "P");
    assert!(page.contains("Q2 (October - December 2020)"), "{page}");
}

#[test]
fn kr_manager_lines_only_when_they_change() {
    let year = merged_year();
    let page = render_new_quarter(&year.fiscal_year, Quarter::Q4, &year, "P");
    let o = objective(&year, "2020-21/content-integrity");
    // Leila Zia, Chris Albon, Leila Zia: three lines.
    assert_eq!(o.key_results.len(), 3);
    let section = page
        .split("== MTP-Y2: Platform Evolution - Content Integrity ==")
        .nth(1)
        .unwrap()
        .split("\n== ")
        .next()
        .unwrap();
    assert_eq!(section.matches("Key Results Manager:").count(), 3);
    let section = page
        .split("Evolutionary architecture ==")
        .nth(1)
        .unwrap()
        .split("\n== ")
        .next()
        .unwrap();
    assert_eq!(section.matches("Key Results Manager:").count(), 1);
}

#[test]
fn kr_lines_keep_texts_that_open_like_a_separator() {
    let kr = |text: &str| KeyResult {
        id: "2020-21/x/kr1".into(),
        kind: Kind::KeyResult,
        number: 1,
        text: text.into(),
        managers: vec![],
        baseline: None,
        year_goal: None,
        links: vec![],
        quarters: BTreeMap::new(),
    };
    assert_eq!(item_line(&kr("Reach")), "KR1 Reach");
    assert_eq!(item_line(&kr("")), "KR1");
    // regression: `KR1 - 5% fewer` read back as `5% fewer`.
    assert_eq!(
        item_line(&kr("- 5% fewer")),
        "KR1: <nowiki>- 5% fewer</nowiki>"
    );
    assert_eq!(item_line(&kr(". x")), "KR1: . x");
    assert_eq!(item_line(&kr("a|b")), "KR1 <nowiki>a|b</nowiki>");
}

#[test]
fn hostile_values_stay_inside_their_cell() {
    let year = page_records(Quarter::Q3);
    let mut o = objective(&year, "2020-21/front-line-defenses").clone();
    let kr = &mut o.key_results[0];
    kr.year_goal = Some("a || b |} c {{x}}".into());
    kr.quarters.get_mut(&Quarter::Q1).unwrap().note = Some("x </nowiki> | y\n* z".into());
    let table = render_status_table(&o);
    assert!(
        table.contains("|| <nowiki>a || b |} c {{x}}</nowiki>\n"),
        "{table}"
    );
    assert!(table.contains("| Concerns: <nowiki>x &lt;/nowiki&gt; | y * z</nowiki>\n"));
}

#[test]
fn a_notes_wikitext_is_written_where_it_is_safe_in_a_cell() {
    let entry = |status, note: &str, w: &str| QuarterEntry {
        status,
        note: Some(note.into()),
        note_wikitext: Some(w.into()),
        ..QuarterEntry::default()
    };
    let linked = "blocked on [https://phabricator.wikimedia.org/T1 the outage], \
                  see {{Phabricator|T2}} and [[Staff|people]]";
    assert_eq!(
        status_cell_wikitext(Some(&entry(
            Some(Status::AtRisk),
            "blocked on the outage, see T2 and people",
            linked
        ))),
        format!("At risk: {linked}")
    );
    assert_eq!(
        status_cell_wikitext(Some(&entry(None, "half done", "'''half''' done"))),
        "No status: '''half''' done"
    );
    // Wikitext that would not stay one cell is written as plain text.
    for unsafe_ in [
        "a || b",
        "a !! b",
        "a\n| b",
        "a | b",
        "x\n{| y",
        "<span title=\"a\nb\">c</span>",
    ] {
        assert_eq!(
            status_cell_wikitext(Some(&entry(Some(Status::OnTrack), "plain words", unsafe_))),
            "On track: plain words",
            "{unsafe_:?}"
        );
    }
    // Wikitext of other words (stale) is not written.
    assert_eq!(
        status_cell_wikitext(Some(&entry(
            Some(Status::OnTrack),
            "hiring",
            "see [https://x.org/T1 the outage]"
        ))),
        "On track: hiring"
    );
    // No note: the wikitext means nothing.
    let mut e = entry(Some(Status::Paused), "", "'''x'''");
    e.note = None;
    assert_eq!(status_cell_wikitext(Some(&e)), "Paused");
    assert_eq!(status_cell_wikitext(None), "");
}

#[test]
fn status_cells() {
    assert_eq!(
        status_cell_text(Some(Status::OnTrack), Some("25%")),
        "On track: 25%"
    );
    assert_eq!(status_cell_text(Some(Status::Paused), None), "Paused");
    assert_eq!(status_cell_text(Some(Status::Paused), Some(" ")), "Paused");
    assert_eq!(
        status_cell_text(None, Some("Done by Legal")),
        "No status: Done by Legal"
    );
    assert_eq!(status_cell_text(None, None), "");
    for s in Status::ALL {
        assert_eq!(
            Status::read_cell(&status_cell_text(Some(s), None)),
            (Some(s), None)
        );
    }
}

/// WCAG relative luminance of `#rrggbb`.
fn luminance(hex: &str) -> f64 {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
}

#[test]
fn status_colours_keep_black_text_readable() {
    for s in Status::ALL {
        let ratio = (luminance(colour(s)) + 0.05) / 0.05;
        assert!(ratio >= 4.5, "{s:?} {}: {ratio:.2}:1", colour(s));
    }
    // And STATUS_TABLE.md lists the colours the renderer uses.
    let doc = include_str!("../../../wikitext_templates/STATUS_TABLE.md");
    let doc = escape::collapse(doc);
    for s in Status::ALL {
        assert!(
            doc.contains(&format!("{} `{}`", s.label(), colour(s))),
            "{s:?}"
        );
    }
}

#[test]
fn a_template_in_the_directory_replaces_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(STATUS_TABLE),
        "table of {{ objective_id }} with {{ rows | length }} rows\n",
    )
    .unwrap();
    let r = Renderer::with_dir(Some(dir.path())).unwrap();
    let year = page_records(Quarter::Q3);
    let o = objective(&year, "2020-21/front-line-defenses");
    assert_eq!(
        r.status_table(o).unwrap(),
        "table of 2020-21/front-line-defenses with 4 rows\n"
    );
    // The others stay built in, and the new quarter page uses the override.
    let page = r
        .new_quarter(&year.fiscal_year, Quarter::Q3, &year, "P")
        .unwrap();
    assert!(page.contains("table of 2020-21/front-line-defenses with 4 rows"));
    assert!(page.contains("Objective Manager: Mark Bergsma"));
    // No directory: built in.
    let r = Renderer::with_dir(None).unwrap();
    assert_eq!(r.status_table(o).unwrap(), render_status_table(o));
}

#[test]
fn template_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OVERVIEW);
    std::fs::write(&path, "line one\nline two {% if %}\n").unwrap();
    let err = Renderer::with_dir(Some(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}:2: ", path.display())), "{msg}");
    assert!(matches!(err, RenderError::Template { line: 2, .. }));

    // A name the view does not have fails at render time, also with file and line.
    std::fs::write(&path, "ok\n\n{{ no_such_field }}\n").unwrap();
    let r = Renderer::with_dir(Some(dir.path())).unwrap();
    let year = page_records(Quarter::Q3);
    let msg = r
        .overview(&year.fiscal_year, &year, title)
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with(&format!("{}:3: ", path.display())), "{msg}");
    assert!(msg.contains("undefined"), "{msg}");
}

#[test]
fn a_misspelt_template_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("status-table.wiki.j2"), "x").unwrap();
    std::fs::write(dir.path().join("README.md"), "notes are fine").unwrap();
    let msg = Renderer::with_dir(Some(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("status-table.wiki.j2"), "{msg}");
    assert!(msg.contains("status_table.wiki.j2"), "{msg}");
}

#[test]
fn rendering_is_deterministic() {
    let year = merged_year();
    let a = render_new_quarter(&year.fiscal_year, Quarter::Q2, &year, "P");
    let b = render_new_quarter(&year.fiscal_year, Quarter::Q2, &year, "P");
    assert_eq!(a, b);
}

#[test]
fn a_status_only_change_keeps_the_notes_wikitext_byte_for_byte() {
    let note = "blocked on [https://phabricator.wikimedia.org/T301234 the storage outage], \
                see {{Phabricator|T287999}}";
    for (old, status, want) in [
        (
            format!("Concerns: {note}"),
            Some(Status::AtRisk),
            format!("At risk: {note}"),
        ),
        // A staff spelling and separator: only the word and separator go.
        (
            format!("some concerns - {note}"),
            Some(Status::OnTrack),
            format!("On track: {note}"),
        ),
        // A cell coloured by hand with no status word: the whole text is the note.
        (
            "hiring <ref>deck</ref>".to_string(),
            Some(Status::Complete),
            "Complete: hiring <ref>deck</ref>".to_string(),
        ),
        (
            format!("At risk: {note}"),
            None,
            format!("No status: {note}"),
        ),
        // A coloured cell whose note opens with a link.
        (
            "[https://phabricator.wikimedia.org/T301234 the outage] delays it".to_string(),
            Some(Status::Paused),
            "Paused: [https://phabricator.wikimedia.org/T301234 the outage] delays it".to_string(),
        ),
    ] {
        assert_eq!(
            restatus(&old, status).as_deref(),
            Some(want.as_str()),
            "{old}"
        );
        // The bot reads back the new status and the same note.
        let (s, n) = Status::read_cell(&want);
        assert_eq!(s, status, "{want}");
        assert_eq!(n, Status::read_cell(&old).1, "{want}");
    }
}

#[test]
fn a_cell_that_does_not_open_with_plain_text_is_written_whole() {
    for old in [
        "'''At risk''': blocked",
        "{{Status|at-risk}} blocked",
        "[[Status|At risk]]: blocked",
        "<span>At risk</span>: blocked",
        "* a list item",
        "Complete", // no note to keep
        "",
    ] {
        assert_eq!(restatus(old, Some(Status::Concerns)), None, "{old}");
    }
}
