//! `pull` and `export` against the real test wiki with the FY2020-21 fixture pages.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::support::{goalsbot, root, run, test_wiki, unique_title, write_config, Run};

const QUARTERS: [&str; 4] = ["Q1", "Q2", "Q3", "Q4"];

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/pages").join(name)
}

fn fixture_name(q: &str) -> String {
    format!("Wikimedia_Technology%2FGoals%2F2020-21_{q}")
}

/// Loads the four quarter pages under a prefix of this test's own.
fn load_fy2020_21(prefix: &str) {
    let w = test_wiki();
    let mut pages = Vec::new();
    for q in QUARTERS {
        let text =
            std::fs::read_to_string(fixture(&format!("{}.wikitext", fixture_name(q)))).unwrap();
        pages.push((format!("{prefix}/2020-21 {q}"), text));
    }
    let refs: Vec<(&str, &str)> = pages
        .iter()
        .map(|(t, x)| (t.as_str(), x.as_str()))
        .collect();
    w.load_pages(&refs);
}

fn goalsbot_run(dir: &Path, cfg: &Path, args: &[&str]) -> Run {
    let mut cmd = goalsbot(dir);
    cmd.arg("--config").arg(cfg).args(args);
    run(cmd)
}

/// The records the four pages together say, computed independently of the
/// store: pages in quarter order, each page speaking for its own quarter's
/// objective and goals and for every quarter's status and note (its status
/// tables); a later page's non-null value replaces an earlier one.
fn expected_export() -> Value {
    let mut objectives: Vec<Map<String, Value>> = Vec::new();
    for q in QUARTERS {
        let golden: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture(&format!("{}.json", fixture_name(q)))).unwrap(),
        )
        .unwrap();
        for o in golden["fiscal_years"][0]["objectives"].as_array().unwrap() {
            let o = o.as_object().unwrap();
            let pos = match objectives.iter().position(|e| e["id"] == o["id"]) {
                Some(p) => p,
                None => {
                    let mut fresh = o.clone();
                    fresh.insert("key_results".into(), Value::Array(vec![]));
                    objectives.push(fresh);
                    objectives.len() - 1
                }
            };
            let target = &mut objectives[pos];
            overlay(target, o, &["key_results"]);
            for kr in o["key_results"].as_array().unwrap() {
                let kr = kr.as_object().unwrap();
                let list = target
                    .get_mut("key_results")
                    .unwrap()
                    .as_array_mut()
                    .unwrap();
                let at = match list.iter().position(|e| e["id"] == kr["id"]) {
                    Some(p) => p,
                    None => {
                        let mut fresh = kr.clone();
                        fresh.insert("quarters".into(), Value::Object(Map::new()));
                        list.push(Value::Object(fresh));
                        list.len() - 1
                    }
                };
                let t = list[at].as_object_mut().unwrap();
                overlay(t, kr, &["quarters"]);
                let quarters = t.get_mut("quarters").unwrap().as_object_mut().unwrap();
                for (qq, entry) in kr["quarters"].as_object().unwrap() {
                    let stated: Vec<&str> = if qq == q {
                        vec!["objective", "goals", "status", "note"]
                    } else {
                        vec!["status", "note"]
                    };
                    let states_any =
                        stated.iter().any(|f| !entry[*f].is_null() && *f != "goals") || (qq == q);
                    if !states_any {
                        continue;
                    }
                    let e = quarters.entry(qq.clone()).or_insert_with(|| {
                        serde_json::json!({"objective": null, "goals": [], "status": null, "note": null})
                    });
                    for f in stated {
                        if !entry[f].is_null() {
                            e[f] = entry[f].clone();
                        }
                    }
                }
            }
        }
    }
    serde_json::json!({
        "schema": "goalsbot.records/1",
        "fiscal_years": [{"fiscal_year": "2020-21", "objectives": objectives}]
    })
}

/// Copies `from`'s non-null fields onto `to`, except `skip`.
fn overlay(to: &mut Map<String, Value>, from: &Map<String, Value>, skip: &[&str]) {
    for (k, v) in from {
        if skip.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        to.insert(k.clone(), v.clone());
    }
}

/// The `N api`, `N html` figures of the pull summary line.
fn counts(summary: &str) -> (u64, u64) {
    let re = regex::Regex::new(r"(\d+) API requests, (\d+) HTML fetches").unwrap();
    let c = re
        .captures(summary)
        .unwrap_or_else(|| panic!("no counts in {summary}"));
    (c[1].parse().unwrap(), c[2].parse().unwrap())
}

#[test]
fn pull_then_export_gives_the_golden_records_and_a_second_pull_fetches_nothing() {
    let w = test_wiki();
    let prefix = unique_title("pull");
    load_fy2020_21(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        w,
        &format!("\n[pages]\nprefix = \"{prefix}\"\nfiscal_years = [\"2020-21\"]\n"),
    );

    let before_first = w.request_lines().len();
    let first = goalsbot_run(dir.path(), &cfg, &["pull"]);
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(
        first.stdout.contains("4 pages checked, 4 pulled"),
        "{}",
        first.stdout
    );
    // One batched revision check for the four pages, one HTML fetch each,
    // and the wikitext of the one page whose status notes hold markup.
    assert_eq!(counts(&first.stdout), (2, 4), "{}", first.stdout);

    let export = goalsbot_run(dir.path(), &cfg, &["export", "--format", "json"]);
    assert_eq!(export.code, Some(0), "{export:?}");
    let got: Value = serde_json::from_str(&export.stdout).expect("export is JSON");

    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/records.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&got)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "export does not match tests/fixtures/records.schema.json: {errors:#?}"
    );

    let mut want = expected_export();
    // What pull adds to the parser's goldens: the wikitext of the one note
    // written with markup (a link, in the Q3 page's table).
    for o in want["fiscal_years"][0]["objectives"]
        .as_array_mut()
        .unwrap()
    {
        for k in o["key_results"].as_array_mut().unwrap() {
            if k["id"] == "2020-21/technical-community-building/kr3" {
                k["quarters"]["Q3"]["note_wikitext"] = Value::String(
                    "community input moved to Q4 (see [[Technical Documentation|the docs plan]])"
                        .into(),
                );
            }
        }
    }
    let got_objs = got["fiscal_years"][0]["objectives"].as_array().unwrap();
    let want_objs = want["fiscal_years"][0]["objectives"].as_array().unwrap();
    assert_eq!(got_objs.len(), want_objs.len());
    for (g, e) in got_objs.iter().zip(want_objs) {
        assert_eq!(g["id"], e["id"]);
        for (gk, ek) in g["key_results"]
            .as_array()
            .unwrap()
            .iter()
            .zip(e["key_results"].as_array().unwrap())
        {
            assert_eq!(gk, ek, "key result {} differs", ek["id"]);
        }
        assert_eq!(g, e, "objective {} differs", e["id"]);
    }
    assert_eq!(got, want);

    // Nothing changed on the wiki: one revision check, no HTML fetch, store unchanged.
    // The unique tail of the prefix ("PID-N") appears, URL-encoded or not, in
    // every request about these pages.
    let token = prefix.rsplit('/').next().unwrap().to_string();
    let revids: Vec<String> = regex::Regex::new(r"\(revision (\d+)\)")
        .unwrap()
        .captures_iter(&first.stdout)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(revids.len(), 4, "{}", first.stdout);
    let fetched_first = w.request_lines().split_off(before_first);
    let fetched_first = fetched_first
        .iter()
        .filter(|l| {
            revids
                .iter()
                .any(|r| l.contains(&format!("/revision/{r}/html")))
        })
        .count();
    assert_eq!(
        fetched_first, 4,
        "the wiki's log shows the first pull's four HTML fetches"
    );
    let before_all = w.request_lines().len();
    let before = w.requests_mentioning(&token).len();
    let second = goalsbot_run(dir.path(), &cfg, &["pull"]);
    let served: Vec<String> = w.requests_mentioning(&token).split_off(before);
    let html_fetches: Vec<String> = w
        .request_lines()
        .split_off(before_all)
        .into_iter()
        .filter(|l| {
            revids
                .iter()
                .any(|r| l.contains(&format!("/revision/{r}/html")))
        })
        .collect();
    assert_eq!(second.code, Some(0), "{second:?}");
    assert!(
        second
            .stdout
            .contains("4 pages checked, 0 pulled, 4 unchanged"),
        "{}",
        second.stdout
    );
    assert_eq!(counts(&second.stdout), (1, 0), "{}", second.stdout);
    // Cross-check with the wiki's own request log: about these pages it saw
    // exactly one request, the batched revision check, and no rest.php (HTML) request.
    assert_eq!(
        served.len(),
        1,
        "requests about the pages seen by the wiki: {served:#?}"
    );
    assert!(served[0].contains("/api.php?"), "{served:#?}");
    assert!(
        html_fetches.is_empty(),
        "HTML fetched again: {html_fetches:#?}"
    );
    let again = goalsbot_run(dir.path(), &cfg, &["export", "--format", "json"]);
    assert_eq!(again.stdout, export.stdout);
}

#[test]
fn a_page_with_no_objectives_is_refused_and_not_stored() {
    let w = test_wiki();
    let prefix = unique_title("refuse");
    load_fy2020_21(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        w,
        &format!("\n[pages]\nprefix = \"{prefix}\"\nfiscal_years = [\"2020-21\"]\n"),
    );
    let first = goalsbot_run(dir.path(), &cfg, &["pull"]);
    assert_eq!(first.code, Some(0), "{first:?}");
    let before = goalsbot_run(dir.path(), &cfg, &["export"]).stdout;

    // Someone blanks the Q2 page.
    w.load_pages(&[(&format!("{prefix}/2020-21 Q2"), "Blanked.\n")]);
    let pulled = goalsbot_run(dir.path(), &cfg, &["pull"]);
    assert_eq!(pulled.code, Some(3), "{pulled:?}");
    assert!(pulled.stdout.contains("REFUSED"), "{}", pulled.stdout);
    assert!(
        pulled.stdout.contains("yields no objectives"),
        "{}",
        pulled.stdout
    );
    let after = goalsbot_run(dir.path(), &cfg, &["export"]).stdout;
    assert_eq!(before, after, "a refused page changed the store");
}

#[test]
fn export_csv_has_the_records_md_columns() {
    let w = test_wiki();
    let prefix = unique_title("csv");
    load_fy2020_21(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        w,
        &format!("\n[pages]\nprefix = \"{prefix}\"\nfiscal_years = [\"2020-21\"]\n"),
    );
    assert_eq!(
        goalsbot_run(dir.path(), &cfg, &["pull", "--fy", "2020-21"]).code,
        Some(0)
    );
    let csv = goalsbot_run(dir.path(), &cfg, &["export", "--format", "csv"]);
    assert_eq!(csv.code, Some(0), "{csv:?}");
    let mut lines = csv.stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "fiscal_year,objective_id,program,objective_title,kr_id,kind,number,text,managers,baseline,year_goal,quarter,objective,goals,status,note,note_wikitext"
    );
    assert!(
        csv.stdout.contains("2020-21/front-line-defenses/kr2"),
        "{}",
        csv.stdout
    );
    assert!(lines.count() > 23, "one row per KR per quarter with data");
}

#[test]
fn pull_of_a_page_that_is_not_a_quarter_page_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = goalsbot(dir.path());
    cmd.args(["--wiki", &test_wiki().url, "pull", "--page", "Main Page"]);
    let out = run(cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("--page \"Main Page\" is not a quarter page"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_page_that_lost_most_of_its_records_at_once_is_refused_whole() {
    let w = test_wiki();
    let prefix = unique_title("vandal");
    load_fy2020_21(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        w,
        &format!("\n[pages]\nprefix = \"{prefix}\"\nfiscal_years = [\"2020-21\"]\n"),
    );
    assert_eq!(goalsbot_run(dir.path(), &cfg, &["pull"]).code, Some(0));
    let before = goalsbot_run(dir.path(), &cfg, &["export"]).stdout;

    // Someone cuts the Q2 page down to its first objective: 4 of 5 objectives
    // and most KRs gone at once, though the page still parses.
    let q2 = std::fs::read_to_string(fixture(&format!("{}.wikitext", fixture_name("Q2")))).unwrap();
    let second = q2
        .match_indices("\n== ")
        .nth(1)
        .map(|(i, _)| i)
        .expect("a second objective");
    w.load_pages(&[(&format!("{prefix}/2020-21 Q2"), &q2[..second])]);
    let pulled = goalsbot_run(dir.path(), &cfg, &["pull"]);
    assert_eq!(pulled.code, Some(3), "{pulled:?}");
    assert!(pulled.stdout.contains("REFUSED"), "{}", pulled.stdout);
    assert!(
        pulled.stdout.contains("records") && pulled.stdout.contains("at once"),
        "{}",
        pulled.stdout
    );
    assert_eq!(
        goalsbot_run(dir.path(), &cfg, &["export"]).stdout,
        before,
        "the refused page changed the store"
    );

    // With the guard opened up (an operator's deliberate choice), the same page applies.
    let cfg2 = write_config(
        dir.path(),
        w,
        &format!("\n[pages]\nprefix = \"{prefix}\"\nfiscal_years = [\"2020-21\"]\nmax_removed_share = 1.0\n"),
    );
    // Objectives with data left the page: the structure guard still holds
    // it for a person, who applies it with `--accept`.
    let pulled = goalsbot_run(dir.path(), &cfg2, &["pull"]);
    assert_eq!(pulled.code, Some(3), "{pulled:?}");
    assert!(
        pulled.stdout.contains("held for a person"),
        "{}",
        pulled.stdout
    );
    let title = format!("{prefix}/2020-21 Q2");
    let pulled = goalsbot_run(dir.path(), &cfg2, &["pull", "--accept", &title]);
    assert_eq!(pulled.code, Some(0), "{pulled:?}");
}

/// The most reads at once a pull reported (its `page reads done` log line).
fn reads_at_once(stderr: &str) -> u64 {
    let re = regex::Regex::new(r"page reads done.*at_once=(\d+)").unwrap();
    let c = re
        .captures(stderr)
        .unwrap_or_else(|| panic!("no `page reads done` line in {stderr}"));
    c[1].parse().unwrap()
}

#[test]
fn a_cold_pull_reads_pages_a_few_at_a_time_and_stores_the_same_records_as_one_at_a_time() {
    let w = test_wiki();
    let prefix = unique_title("pull-pool");
    load_fy2020_21(&prefix);
    let mut exports = Vec::new();
    for limit in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(
            dir.path(),
            w,
            &format!("\n[pages]\nprefix = \"{prefix}\"\nfiscal_years = [\"2020-21\"]\n"),
        );
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("[wiki]\n", &format!("[wiki]\nreads_in_flight = {limit}\n"));
        std::fs::write(&cfg, text).unwrap();
        let pulled = goalsbot_run(dir.path(), &cfg, &["pull"]);
        assert_eq!(pulled.code, Some(0), "{pulled:?}");
        // The same requests whatever the pool: one revision check, one HTML
        // fetch a page, the wikitext of the page whose notes hold markup.
        assert_eq!(counts(&pulled.stdout), (2, 4), "{}", pulled.stdout);
        let at_once = reads_at_once(&pulled.stderr);
        assert!(
            (1..=limit).contains(&at_once),
            "{at_once} reads at once with reads_in_flight = {limit}"
        );
        let export = goalsbot_run(dir.path(), &cfg, &["export", "--format", "json"]);
        assert_eq!(export.code, Some(0), "{export:?}");
        exports.push(export.stdout);
    }
    assert_eq!(exports[0], exports[1], "the pool changed what was stored");
}

#[test]
fn a_pool_of_reads_beyond_what_a_shared_wiki_allows_is_a_config_error() {
    let w = test_wiki();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), w, "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[wiki]\n", "[wiki]\nreads_in_flight = 20\n");
    std::fs::write(&cfg, text).unwrap();
    let out = goalsbot_run(dir.path(), &cfg, &["pull"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("wiki.reads_in_flight"), "{out:?}");
}
