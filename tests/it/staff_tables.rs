//! KR and metrics tables staff wrote (`docs/pages.md`, "KR tables staff
//! wrote") on the real test wiki: read field by field, adopted on the first
//! sync with one status table per objective and every value still shown, a
//! staff edit of an adopted cell carried to the store and the other pages, a
//! tracker `set` written as one line, and metrics through export and import.

use std::collections::BTreeMap;
use std::path::PathBuf;

use goalsbot::core::adopt::identity_tables;
use goalsbot::core::plan::lines_changed;
use goalsbot::core::wikitable;
use serde_json::Value;

use crate::support::raw;
use crate::support::{find_kr, Setup};
use crate::support::{revisions, staff_save};
use crate::support::{root, run};
use crate::sync::{n, sync};

use crate::accuracy;

/// The staff-table fixtures: `(stem, "2020-21 Q3")`.
fn fixtures() -> Vec<(String, String)> {
    let dir = root().join("tests/fixtures/pages");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_str()?.to_string();
            let stem = name.strip_suffix(".wikitext")?;
            stem.contains("Staff_tables").then(|| stem.to_string())
        })
        .map(|stem| {
            let re = regex::Regex::new(r"([0-9]{4}-[0-9]{2})_(Q[1-4])$").unwrap();
            let c = re.captures(&stem).unwrap();
            let page = format!("{} {}", &c[1], &c[2]);
            (stem, page)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 7, "{out:?}");
    out
}

fn fixture_file(stem: &str, ext: &str) -> PathBuf {
    root().join(format!("tests/fixtures/pages/{stem}.{ext}"))
}

fn golden(stem: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_file(stem, "json")).unwrap()).unwrap()
}

fn wikitext(stem: &str) -> String {
    std::fs::read_to_string(fixture_file(stem, "wikitext")).unwrap()
}

fn setup(stem: &str, page: &str, extra: &[(String, String)]) -> Setup {
    let fy = &page[..7];
    let mut pages = vec![(page.to_string(), wikitext(stem))];
    pages.extend_from_slice(extra);
    Setup::with_pages("staff-tables", None, &[fy], &pages)
}

/// The status tables on a page: per objective id, how many carry its identity.
fn identity_counts(text: &str, objectives: &[String]) -> BTreeMap<String, usize> {
    objectives
        .iter()
        .map(|id| (id.clone(), identity_tables(text, id).len()))
        .collect()
}

fn objective_ids(export: &Value) -> Vec<String> {
    export["fiscal_years"][0]["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

/// Tables staff wrote whose header names a year-goal or quarter column, as
/// the wikitext shows them (adopted or not).
fn kr_tables(text: &str) -> usize {
    wikitable::tables_in(text, 0..text.len())
        .iter()
        .filter(|t| {
            let header: Vec<_> = t.rows[0]
                .cells
                .iter()
                .map(|c| goalsbot::core::parse::column(&wikitable::plain(&text[c.content.clone()])))
                .collect();
            goalsbot::core::parse::is_status_header(&header)
        })
        .count()
}

#[test]
fn pull_reads_every_fixture_field_by_field() {
    let mut all = (0, 0);
    let mut report = Vec::new();
    for (stem, page) in fixtures() {
        let s = setup(&stem, &page, &[]);
        let out = s.run(&["pull"]);
        // A page whose tables it cannot read whole says so (exit 0: nothing
        // for a person to decide); warnings go to the log, one per table.
        assert_eq!(out.code, Some(0), "{stem}: {out:?}");
        if stem.contains("Merged_cells") {
            assert!(
                out.stderr.contains("cannot read whole"),
                "{stem}: {}",
                out.stderr
            );
        }
        let got = s.export(&["--fy", &page[..7]]);
        let want = golden(&stem);
        let (right, total) = accuracy::accuracy(&want, &got);
        report.push(format!(
            "{stem}: {right}/{total} fields ({:.1}%)",
            100.0 * right as f64 / total as f64
        ));
        all.0 += right;
        all.1 += total;
        assert_eq!(
            accuracy::accuracy(&got, &want),
            (accuracy::leaves(&got).len(), accuracy::leaves(&got).len()),
            "{stem}: the pull found fields the golden does not have"
        );
    }
    report.push(format!(
        "overall: {}/{} fields ({:.1}%)",
        all.0,
        all.1,
        100.0 * all.0 as f64 / all.1 as f64
    ));
    println!(
        "staff tables read from the real wiki:\n  {}",
        report.join("\n  ")
    );
    assert_eq!(all.0, all.1, "{}", report.join("\n"));
}

#[test]
fn sync_adopts_every_staff_table_once_and_keeps_every_value() {
    for (stem, page) in fixtures() {
        let s = setup(&stem, &page, &[]);
        let title = format!("{}/{page}", s.prefix);
        let before = raw(&title);
        let tables_before = kr_tables(&before);

        let first = sync(&s, &[], 0);
        let after = raw(&title);
        let want = golden(&stem);
        let ids = objective_ids(&want);
        let counts = identity_counts(&after, &ids);
        if stem.contains("Merged_cells") {
            // Left alone: no identity added, no table of the bot's beside it.
            assert_eq!(
                after, before,
                "{stem}: a table the bot cannot read whole was touched"
            );
            assert_eq!(n(&first, "edits"), 1, "{stem}: only the overview: {first}");
            assert!(counts.values().all(|c| *c == 0), "{stem}: {counts:?}");
            continue;
        }
        // Not one table more: each objective's tables are the staff's own,
        // now carrying its identity (a KR table, and a metrics table when
        // the section has one).
        assert_eq!(
            kr_tables(&after),
            tables_before,
            "{stem}: a table was added"
        );
        assert!(
            counts.values().all(|c| (1..=2).contains(c)),
            "{stem}: identity tables per objective {counts:?}"
        );
        // Only `{|` and `|-` lines changed, and only by the identity.
        let changed: Vec<(&str, &str)> = before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(before.lines().count(), after.lines().count(), "{stem}");
        for (a, b) in &changed {
            assert!(
                b.starts_with(a.trim_end()) && b.contains("data-goalsbot-"),
                "{stem}: line changed beyond identity:\n- {a}\n+ {b}"
            );
        }
        // Every value read from the tables is still there: a fresh pull of
        // the adopted page reads the same records.
        let again = s.run(&["pull"]);
        assert_eq!(again.code, Some(0), "{stem}: {again:?}");
        let got = s.export(&["--fy", &page[..7]]);
        assert_eq!(
            accuracy::accuracy(&want, &got),
            (accuracy::leaves(&want).len(), accuracy::leaves(&want).len()),
            "{stem}: values lost after adoption"
        );

        let second = sync(&s, &[], 0);
        assert_eq!(n(&second, "edits"), 0, "{stem}: second sync: {second}");
        println!(
            "{stem}: {} identity lines added, tables per objective {counts:?}",
            changed.len()
        );
    }
}

/// Issue 27, cases 2 and 6: a page means the same before and after the bot
/// adopts its staff tables. Each fixture, once adopted, is read by a new
/// store: every field of the golden records (managers of table-only KRs
/// included, and the metrics of a section whose only data is its table)
/// reads as it did from the page before adoption; then a staff edit of an
/// adopted metrics cell reaches the store.
#[test]
fn an_adopted_page_read_by_a_new_store_gives_every_field_as_before() {
    for (stem, page) in fixtures() {
        if stem.contains("Merged_cells") {
            continue; // never adopted (see above)
        }
        let s = setup(&stem, &page, &[]);
        let title = format!("{}/{page}", s.prefix);
        sync(&s, &[], 0);
        let adopted = raw(&title);
        assert!(
            adopted.contains("data-goalsbot-objective"),
            "{stem}: adopted"
        );

        let fresh = Setup::with_pages(
            "staff-tables-reread",
            None,
            &[&page[..7]],
            &[(page.clone(), adopted.clone())],
        );
        let pulled = fresh.run(&["pull"]);
        assert_eq!(pulled.code, Some(0), "{stem}: {pulled:?}");
        assert!(
            !pulled.all_output().contains("not read as an objective"),
            "{stem}: a section was lost after adoption: {}",
            pulled.all_output()
        );
        let want = golden(&stem);
        let got = fresh.export(&["--fy", &page[..7]]);
        let lost: Vec<_> = accuracy::leaves(&want)
            .into_iter()
            .filter(|(k, v)| accuracy::leaves(&got).get(k) != Some(v))
            .collect();
        assert!(
            lost.is_empty(),
            "{stem}: read differently after adoption: {lost:#?}"
        );
        println!(
            "{stem}: {} fields read the same after adoption",
            accuracy::leaves(&want).len()
        );
    }
}

/// Issue 27, case 2: a section whose only data is a metrics table (a
/// description line, no manager, no subheadings) stays an objective after
/// the bot adopts the table: a staff edit of a cell reaches the store, and a
/// tracker `set` of the metric reaches the page.
#[test]
fn a_metrics_only_section_is_read_both_ways_after_adoption() {
    let page = "\
== MTP-Y3: Platform Excellence - Global equitable system performance ==
Save timing is the same for readers everywhere.

{| class=\"wikitable\"
! MTP Metrics !! Y3 Goal !! Q1 Status !! Q2 Status
|-
| Metric 1: p75 save timing in Asia || 2s || On track: 2.3s || 
|}
";
    let s = Setup::with_pages(
        "metrics-only",
        None,
        &["2020-21"],
        &[("2020-21 Q2".to_string(), page.to_string())],
    );
    let title = format!("{}/2020-21 Q2", s.prefix);
    sync(&s, &[], 0);
    let adopted = raw(&title);
    assert!(adopted.contains("data-goalsbot-objective"), "{adopted}");
    let export = s.export(&[]);
    let metric = export["fiscal_years"][0]["objectives"][0]["key_results"][0]["id"]
        .as_str()
        .expect("the metric is a record")
        .to_string();
    assert!(metric.ends_with("/metric1"), "{metric}");

    // A staff edit of the adopted table's Q2 cell reaches the store.
    staff_save(
        &title,
        &adopted.replace(
            "|| On track: 2.3s || ",
            "|| On track: 2.3s || At risk: 2.6s",
        ),
    );
    let out = s.run(&["sync"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        !out.all_output().contains("not read as an objective"),
        "{}",
        out.all_output()
    );
    let now = s.export(&[]);
    let q2 = &find_kr(&now, &metric).unwrap()["quarters"]["Q2"];
    assert_eq!(q2["status"], "at-risk", "{q2}");
    assert_eq!(q2["note"], "2.6s", "{q2}");

    // A tracker edit of the metric reaches the page.
    s.ok(&[
        "set",
        &metric,
        "--quarter",
        "Q1",
        "--status",
        "complete",
        "--note",
        "1.9s",
    ]);
    sync(&s, &[], 0);
    assert!(raw(&title).contains("Complete: 1.9s"), "{}", raw(&title));
}

/// The fixture with the tables cut out: the same objectives in prose only,
/// as another quarter's page shows them.
fn without_tables(text: &str) -> String {
    let mut out = text.to_string();
    let tables = wikitable::tables_in(text, 0..text.len());
    for t in tables.iter().rev() {
        out.replace_range(t.range.clone(), "");
    }
    out
}

#[test]
fn an_adopted_cell_edit_reaches_the_store_and_the_other_page_and_set_is_one_line() {
    let stem = "Goalsbot_test%2FStaff_tables_Deck_paste_2020-21_Q3";
    let q2 = ("2020-21 Q2".to_string(), without_tables(&wikitext(stem)));
    let s = setup(stem, "2020-21 Q3", &[q2]);
    let q3_title = format!("{}/2020-21 Q3", s.prefix);
    let q2_title = format!("{}/2020-21 Q2", s.prefix);
    let first = sync(&s, &[], 0);
    assert!(n(&first, "edits") >= 2, "{first}");
    let q3 = raw(&q3_title);
    let q2 = raw(&q2_title);
    // Q2 had no table: it gets the bot's own; Q3 keeps the staff's.
    let want = golden(stem);
    for id in objective_ids(&want) {
        let on_q2 = identity_tables(&q2, &id);
        assert_eq!(on_q2.len(), 1, "{id} on Q2");
        assert!(on_q2[0].bots_own);
        let on_q3 = identity_tables(&q3, &id);
        assert_eq!(on_q3.len(), 1, "{id} on Q3");
        assert!(!on_q3[0].bots_own);
    }

    // A person edits one Q1 cell of the adopted table (a status word over a
    // colour), as they would in the source editor.
    let kr = want["fiscal_years"][0]["objectives"][0]["key_results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let table = &identity_tables(
        &q3,
        want["fiscal_years"][0]["objectives"][0]["id"]
            .as_str()
            .unwrap(),
    )[0]
    .table;
    let header: Vec<_> = table.rows[0]
        .cells
        .iter()
        .map(|c| goalsbot::core::parse::column(&wikitable::plain(&q3[c.content.clone()])))
        .collect();
    let q1 = header
        .iter()
        .position(|c| {
            *c == goalsbot::core::parse::Column::Quarter(goalsbot::core::records::Quarter::Q1)
        })
        .expect("a Q1 column");
    let row = table
        .rows
        .iter()
        .find(|r| goalsbot::core::adopt::row_id(&q3, r).as_deref() == Some(kr.as_str()))
        .expect("the KR's row");
    let cell = row.cells[q1].content.clone();
    let mut edited = q3.clone();
    edited.replace_range(cell, " At risk: the vendor left ");
    staff_save(&q3_title, &edited);
    let after_edit = sync(&s, &[], 0);
    let store = s.export(&[]);
    assert_eq!(
        find_kr(&store, &kr).unwrap()["quarters"]["Q1"]["status"],
        "at-risk"
    );
    assert_eq!(
        find_kr(&store, &kr).unwrap()["quarters"]["Q1"]["note"],
        "the vendor left"
    );
    let q2_after = raw(&q2_title);
    assert!(
        q2_after.contains("At risk: the vendor left"),
        "Q2 shows the staff edit"
    );
    assert_eq!(
        lines_changed(&q2, &q2_after),
        2,
        "Q2: one line: {after_edit}"
    );
    // The summary credits the person whose save the value came from, not
    // the tracker (issue 27, item 7).
    let (_, _, comment) = &revisions(&q2_title)[0];
    assert!(
        comment.contains("status of 1 KRs (Q1) from Admin's edit of 2020-21 Q3 (r"),
        "{comment}"
    );
    assert!(!comment.contains("from tracker"), "{comment}");

    // A tracker edit of a Q3 status is one line of the adopted table.
    let q3_before = raw(&q3_title);
    let q2_before = raw(&q2_title);
    s.ok(&[
        "set",
        &kr,
        "--quarter",
        "Q3",
        "--status",
        "complete",
        "--note",
        "shipped",
    ]);
    let pushed = sync(&s, &[], 0);
    assert!(n(&pushed, "edits") >= 2, "{pushed}");
    let q3_after = raw(&q3_title);
    assert_eq!(
        lines_changed(&q3_before, &q3_after),
        2,
        "Q3: one line changed"
    );
    assert!(q3_after.contains("Complete: shipped"), "{q3_after}");
    assert_eq!(
        lines_changed(&q2_before, &raw(&q2_title)),
        2,
        "Q2: one line changed"
    );
    let (_, user, comment) = &revisions(&q3_title)[0];
    assert!(
        comment.contains("status of 1 KRs (Q3) from tracker ("),
        "{user}: {comment}"
    );
    // Read back: the store and the page agree; nothing more to do.
    let settled = sync(&s, &[], 0);
    assert_eq!(n(&settled, "edits"), 0, "{settled}");
    let store = s.export(&[]);
    assert_eq!(
        find_kr(&store, &kr).unwrap()["quarters"]["Q3"]["status"],
        "complete"
    );
}

#[test]
fn metrics_go_through_export_import_and_the_schema() {
    let stem = "Goalsbot_test%2FStaff_tables_Metrics_2020-21_Q3";
    let s = setup(stem, "2020-21 Q3", &[]);
    sync(&s, &[], 0);
    let json = s.ok(&["export", "--format", "json"]);
    let got: Value = serde_json::from_str(&json).unwrap();
    let metrics: Vec<&Value> = got["fiscal_years"][0]["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["key_results"].as_array().unwrap())
        .filter(|k| k["kind"] == "metric")
        .collect();
    assert!(metrics.len() >= 6, "{metrics:?}");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/records.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&got)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // A tracker edit of a metric (year goal and a quarter) is one cell each.
    let metric = metrics[0]["id"].as_str().unwrap().to_string();
    let title = format!("{}/2020-21 Q3", s.prefix);
    let before = raw(&title);
    s.ok(&[
        "set",
        &metric,
        "--quarter",
        "Q4",
        "--status",
        "on-track",
        "--note",
        "+2%",
    ]);
    let pushed = sync(&s, &[], 0);
    assert!(n(&pushed, "edits") >= 1, "{pushed}");
    let after = raw(&title);
    assert_eq!(
        lines_changed(&before, &after),
        2,
        "one line of the metrics table"
    );
    let json = s.ok(&["export", "--format", "json"]);
    let csv = s.ok(&["export", "--format", "csv"]);
    assert!(csv.contains(",metric,"), "{csv}");

    // export → import into an empty store → export: byte-identical.
    for (format, text) in [("json", &json), ("csv", &csv)] {
        let file = s.dir.path().join(format!("export.{format}"));
        std::fs::write(&file, text).unwrap();
        let fresh = format!(
            "sqlite://{}",
            s.dir
                .path()
                .join(format!("fresh-{format}.sqlite"))
                .display()
        );
        let mut cmd = s.cmd(&["import", file.to_str().unwrap()]);
        cmd.env("GOALSBOT_STORE_URL", &fresh);
        let out = run(cmd);
        assert_eq!(out.code, Some(0), "import {format}: {out:?}");
        let mut cmd = s.cmd(&["export", "--format", format]);
        cmd.env("GOALSBOT_STORE_URL", &fresh);
        let again = run(cmd);
        assert_eq!(&again.stdout, text, "{format} export after import differs");
    }
}
