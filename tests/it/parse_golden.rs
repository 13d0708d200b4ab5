//! Golden tests: every fixture page's saved Parsoid HTML parses to its `.json` export.
//!
//! `tests/fixtures/pages/NAME.html` is captured from a real MediaWiki by
//! `tests/wiki/capture-html.sh`; `NAME.json` is the hand-checked export of
//! what that page must yield. `GOALSBOT_BLESS=1` writes the parser's output
//! to a missing `.json` as a first draft, which must then be checked by hand.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use goalsbot::core::parse::parse_quarter_page;
use goalsbot::core::records::{Export, FiscalYear, FiscalYearRecords, Quarter};
use serde_json::Value;

fn pages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages")
}

/// Fixture names (file stems) with the given extension, sorted.
fn stems(ext: &str) -> BTreeSet<String> {
    fs::read_dir(pages_dir())
        .expect("tests/fixtures/pages exists")
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == ext).then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect()
}

/// The fiscal year and quarter a fixture's title names (`…2020-21_Q2`).
fn page_quarter(stem: &str) -> (FiscalYear, Quarter) {
    let re = regex::Regex::new(r"([0-9]{4}-[0-9]{2})_(Q[1-4])").unwrap();
    let c = re
        .captures(stem)
        .unwrap_or_else(|| panic!("fixture {stem} names no fiscal year and quarter"));
    (c[1].parse().unwrap(), c[2].parse().unwrap())
}

fn export_of(stem: &str) -> Export {
    let html = fs::read_to_string(pages_dir().join(format!("{stem}.html")))
        .unwrap_or_else(|e| panic!("{stem}.html: {e} (run tests/wiki/capture-html.sh)"));
    let (fy, q) = page_quarter(stem);
    let parsed = parse_quarter_page(&html, &fy, q);
    assert_eq!(parsed.fiscal_year, fy);
    assert_eq!(parsed.quarter, q);
    Export::new(vec![FiscalYearRecords {
        fiscal_year: fy,
        objectives: parsed.objectives,
    }])
}

/// Every differing leaf, as `path: golden ≠ parsed` lines.
fn diff(path: &str, golden: &Value, parsed: &Value, out: &mut Vec<String>) {
    match (golden, parsed) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(&p, x, y, out),
                    (Some(x), None) => {
                        out.push(format!("{p}: golden {x}, parsed has no such field"))
                    }
                    (None, Some(y)) => {
                        out.push(format!("{p}: golden has no such field, parsed {y}"))
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => diff(&p, x, y, out),
                    (Some(x), None) => out.push(format!("{p}: golden {x}, parsed has none")),
                    (None, Some(y)) => out.push(format!("{p}: golden has none, parsed {y}")),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a != b => out.push(format!("{path}:\n    golden {a}\n    parsed {b}")),
        _ => {}
    }
}

#[test]
fn every_page_fixture_has_html_and_golden() {
    let wikitext = stems("wikitext");
    let html = stems("html");
    let json = stems("json");
    assert!(wikitext.len() >= 7, "fixtures missing: {wikitext:?}");
    for stem in &wikitext {
        assert!(
            html.contains(stem),
            "{stem}.html missing: run tests/wiki/capture-html.sh"
        );
        // Templates are helpers loaded with the pages, not pages to parse.
        if !stem.starts_with("Template%3A") {
            assert!(json.contains(stem), "{stem}.json (golden export) missing");
        }
    }
}

#[test]
fn pages_parse_to_their_golden_exports() {
    let mut failures = Vec::new();
    // Drafting aid: write a first version of missing goldens (check them by hand!).
    if std::env::var_os("GOALSBOT_BLESS").is_some() {
        for stem in stems("html").difference(&stems("json")) {
            if stem.starts_with("Template%3A") {
                continue;
            }
            let json = serde_json::to_string_pretty(&export_of(stem)).unwrap() + "\n";
            fs::write(pages_dir().join(format!("{stem}.json")), json).unwrap();
        }
    }
    let goldens = stems("json");
    assert!(!goldens.is_empty());
    for stem in &goldens {
        let path = pages_dir().join(format!("{stem}.json"));
        let parsed = export_of(stem);
        let text = fs::read_to_string(&path).unwrap();
        let golden: Export = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{stem}.json is not a valid export: {e}"));
        if golden != parsed {
            let mut lines = Vec::new();
            diff(
                "",
                &serde_json::to_value(&golden).unwrap(),
                &serde_json::to_value(&parsed).unwrap(),
                &mut lines,
            );
            failures.push(format!("{stem}:\n  {}", lines.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatch:\n{}",
        failures.join("\n")
    );
}

#[test]
fn ids_stay_the_same_across_quarters() {
    let ids = |q: &str| -> Vec<String> {
        export_of(&format!("Wikimedia_Technology%2FGoals%2F2020-21_{q}")).fiscal_years[0]
            .objectives
            .iter()
            .flat_map(|o| {
                std::iter::once(o.id.clone()).chain(o.key_results.iter().map(|k| k.id.clone()))
            })
            .collect()
    };
    let q2 = ids("Q2");
    assert_eq!(q2.len(), 5 + 23, "{q2:?}");
    for q in ["Q1", "Q3", "Q4"] {
        assert_eq!(ids(q), q2, "{q} ids differ from Q2's");
    }
}
