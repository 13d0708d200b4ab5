//! `--json` on every command that reports (issue 28, item 4), on the real
//! wiki: each prints one JSON object a script can read (`watch`: one per
//! line), with the same facts as the text and the exit code it returns.

use serde_json::Value;

use crate::support::raw;
use crate::support::Setup;
use crate::support::{staff_save, with_cell};

const KR: &str = "2020-21/front-line-defenses/kr1";

fn json(s: &Setup, args: &[&str], code: i32) -> Value {
    let out = s.run(args);
    assert_eq!(out.code, Some(code), "goalsbot {args:?}: {out:?}");
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("goalsbot {args:?} printed no JSON ({e}):\n{}", out.stdout))
}

fn outcomes(report: &Value) -> Vec<String> {
    report["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["outcome"].as_str().unwrap(),
                p["title"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_command_that_reports_prints_one_json_object() {
    let s = Setup::with_quarters("json-everywhere", None, &["Q1", "Q2", "Q3"]);
    let q3 = format!("{}/2020-21 Q3", s.prefix);

    let pulled = json(&s, &["pull", "--json"], 0);
    let pages = outcomes(&pulled);
    assert!(pages.contains(&format!("pulled {q3}")), "{pages:?}");
    assert!(pages.iter().any(|p| p.starts_with("missing ")), "{pages:?}");
    assert_eq!(pulled["exit_code"], 0);
    assert!(
        pulled["counts"]["api_requests"].as_u64().unwrap() > 0,
        "{pulled}"
    );

    let dry = json(&s, &["push", "--dry-run", "--json"], 0);
    assert!(
        dry["pages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["outcome"] == "would-edit"
                && p["diff"].as_str().unwrap().contains("data-goalsbot")),
        "{dry}"
    );
    let pushed = json(&s, &["push", "--json"], 0);
    let edited: Vec<&Value> = pushed["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["outcome"] == "edited")
        .collect();
    assert!(
        !edited.is_empty() && edited.iter().all(|p| p["revid"].as_u64().is_some()),
        "{pushed}"
    );

    let set = json(
        &s,
        &[
            "set",
            KR,
            "--quarter",
            "Q3",
            "--status",
            "at-risk",
            "--json",
        ],
        0,
    );
    assert_eq!(set["operator"], "Story Tester");
    assert_eq!(set["changes"][0]["record"], KR);
    assert_eq!(set["changes"][0]["field"], "quarters.Q3.status");
    assert_eq!(set["changes"][0]["new"], "at-risk");

    // A person writes another status meanwhile: a conflict, in every report.
    staff_save(&q3, &with_cell(&raw(&q3), KR, "Q3", "Complete: done early"));
    let synced = json(&s, &["sync", "--json"], 3);
    assert_eq!(synced["new_conflicts"], 1, "{synced}");
    let conflicts = json(&s, &["conflicts", "--json"], 0);
    let id = conflicts[0]["id"].as_i64().unwrap();
    let resolved = json(
        &s,
        &["resolve", &id.to_string(), "--take", "wiki", "--json"],
        0,
    );
    assert_eq!(resolved["conflict"], id);
    assert_eq!(resolved["take"], "wiki");
    assert!(
        resolved["said"].as_str().unwrap().contains("complete"),
        "{resolved}"
    );

    let file = s.dir.path().join("export.json");
    std::fs::write(&file, s.ok(&["export"])).unwrap();
    let imported = json(&s, &["import", file.to_str().unwrap(), "--json"], 0);
    assert_eq!(imported["changes"], Value::Array(vec![]), "{imported}");

    let shown = json(
        &s,
        &["new-quarter", "2020-21", "Q4", "--dry-run", "--json"],
        0,
    );
    assert_eq!(shown["dry_run"], true, "{shown}");
    assert_eq!(shown["revision"], Value::Null);
    assert!(
        shown["text"].as_str().unwrap().contains("data-goalsbot"),
        "{shown}"
    );
    let not_due = json(&s, &["roll-over", "--today", "2021-04-20", "--json"], 0);
    assert_eq!(not_due["due"], false);
    let rolled = json(&s, &["roll-over", "--today", "2021-04-02", "--json"], 0);
    assert!(
        rolled["said"][0].as_str().unwrap().starts_with("created "),
        "{rolled}"
    );
    assert_eq!(rolled["edits"], 1);

    let doctor = s.run(&["doctor", "--json"]);
    let doctor: Value = serde_json::from_str(&doctor.stdout).unwrap();
    assert!(doctor["setup"].as_array().unwrap().len() > 3, "{doctor}");

    let polled = s.run(&["watch", "--once", "--json"]);
    assert_eq!(polled.code, Some(0), "{polled:?}");
    assert_eq!(polled.stdout.lines().count(), 1, "{polled:?}");
    let polled: Value = serde_json::from_str(&polled.stdout).unwrap();
    assert_eq!(polled["found"], 0, "{polled}");

    assert!(
        polled["followed"]["full_check"].is_string(),
        "the first poll checks every page: {polled}"
    );

    // The runs that keep a summary: the watcher's full check, the
    // roll-over and the sync.
    let runs = json(&s, &["runs", "--json"], 0);
    assert!(
        runs[0]["command"]
            .as_str()
            .is_some_and(|c| c.contains("watch: a full check")),
        "{runs}"
    );
    assert_eq!(
        runs[1]["summary"]["edits"][0]["title"],
        format!("{}/2020-21 Q4", s.prefix)
    );
    assert_eq!(runs[2]["state"], "needs-person", "{runs}");
}
