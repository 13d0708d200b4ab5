//! `push` and `new-quarter` on the real test wiki: status tables, overview, staff edits read back.

use regex::Regex;
use serde_json::Value;

use crate::support::raw;
use crate::support::test_wiki;
use crate::support::{deck, find_kr, page_text, Setup, QUARTERS};

const KR2: &str = "2020-21/front-line-defenses/kr2";

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// `(edits, api requests, html fetches)` from a push summary.
fn push_counts(out: &str) -> (u64, u64, u64) {
    let c = Regex::new(r"(\d+) edits; (\d+) API requests, (\d+) HTML fetches")
        .unwrap()
        .captures(out)
        .unwrap_or_else(|| panic!("no counts in {out}"));
    (
        c[1].parse().unwrap(),
        c[2].parse().unwrap(),
        c[3].parse().unwrap(),
    )
}

/// Every line of `old` staff wrote (outside the bot's status tables) is in `new`, in the same order.
fn assert_lines_kept(old: &str, new: &str, page: &str) {
    let mut new_lines = new.lines();
    let mut in_table = false;
    for (i, line) in old.lines().enumerate() {
        if line.starts_with("{|") && line.contains("data-goalsbot-objective") {
            in_table = true;
        }
        if in_table {
            in_table = !line.starts_with("|}");
            continue;
        }
        assert!(
            new_lines.any(|n| n == line),
            "{page}: staff line {} is gone or out of order: {line:?}",
            i + 1
        );
    }
}

fn title(s: &Setup, q: &str) -> String {
    format!("{}/2020-21 {q}", s.prefix)
}

#[test]
fn first_push_adds_tables_keeps_every_staff_line_and_a_second_push_edits_nothing() {
    let s = Setup::new("push", None);
    s.ok(&["pull"]);
    s.ok(&["import", deck().to_str().unwrap()]);
    let store = s.export(&[]);

    let out = s.ok(&["push"]);
    let (edits, _, _) = push_counts(&out);
    assert_eq!(edits, 5, "four quarter pages and the overview: {out}");
    assert!(out.contains("added status tables for"), "{out}");
    for q in QUARTERS {
        let now = raw(&title(&s, q));
        assert_lines_kept(&page_text(q), &now, q);
        for o in store["fiscal_years"][0]["objectives"].as_array().unwrap() {
            let id = o["id"].as_str().unwrap();
            let n = now
                .matches(&format!("data-goalsbot-objective=\"{id}\""))
                .count();
            assert_eq!(n, 1, "{q}: one status table for {id}, found {n}");
        }
    }

    // Idempotent: nothing to do, and the pull after it has nothing to fetch or change.
    let again = s.ok(&["push"]);
    assert_eq!(push_counts(&again).0, 0, "{again}");
    let pulled = s.ok(&["pull"]);
    assert!(pulled.contains("0 pulled, 4 unchanged"), "{pulled}");
    assert!(pulled.contains("0 HTML fetches"), "{pulled}");
    assert_eq!(s.export(&[]), store, "push then pull changed the store");

    // The overview shows every KR.
    let overview = raw(&format!("{}/2020-21", s.prefix));
    let rows = overview.lines().filter(|l| l.starts_with("| '''")).count();
    let krs: usize = store["fiscal_years"][0]["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key_results"].as_array().unwrap().len())
        .sum();
    assert_eq!(rows, krs, "one overview row per KR");
    assert!(
        overview.contains("Hire for 4 SPoF")
            || overview.contains("The number of staff members solely responsible")
    );
}

#[test]
fn a_tracker_edit_flows_onto_every_page_that_shows_it_changing_one_line() {
    let s = Setup::new("push-set", None);
    s.ok(&["pull"]);
    s.ok(&["import", deck().to_str().unwrap()]);
    s.ok(&["push"]);

    s.ok(&[
        "set",
        KR2,
        "--quarter",
        "Q4",
        "--status",
        "complete",
        "--note",
        "All hires in place",
    ]);
    let run = s.run(&["push"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let out = run.stdout.clone();
    let (edits, _, html) = push_counts(&out);
    assert_eq!(
        edits, 5,
        "four quarter pages show KR2, and the overview: {out}"
    );
    // Each save is logged as it happens (the summary comes at the end).
    let logged = run.stderr.lines().filter(|l| l.contains("saved")).count();
    assert_eq!(logged, 5, "one log line per save: {}", run.stderr);
    assert_eq!(html, 4, "one HTML fetch per edited quarter page: {out}");
    assert!(out.contains("status of 1 KRs (Q4) from tracker"), "{out}");
    // The one changed cell is the only changed line of each quarter page.
    let one_line = Regex::new(r"2020-21 Q\d \(revision \d+, 2 lines changed\)").unwrap();
    assert_eq!(one_line.find_iter(&out).count(), 4, "{out}");
    for q in QUARTERS {
        assert!(
            raw(&title(&s, q)).contains("Complete: All hires in place"),
            "{q}"
        );
    }
}

#[test]
fn staff_edits_of_a_status_cell_in_source_and_through_parsoid_are_pulled() {
    let s = Setup::new("push-staff", None);
    s.ok(&["pull"]);
    s.ok(&["import", deck().to_str().unwrap()]);
    s.ok(&["push"]);
    let q2 = title(&s, "Q2");

    // Source edit: a person rewrites the Q2 cell of KR2 by hand.
    let text = raw(&q2);
    let row = text
        .find(&format!("data-goalsbot-kr=\"{KR2}\""))
        .expect("KR2 row");
    let cell_start = row + text[row..].find("data-goalsbot-quarter=\"Q2\"").unwrap();
    let line_end = cell_start + text[cell_start..].find('\n').unwrap();
    let line_start = text[..cell_start].rfind('\n').unwrap() + 1;
    let edited = format!(
        "{}| data-goalsbot-quarter=\"Q2\" | At risk: hiring frozen{}",
        &text[..line_start],
        &text[line_end..]
    );
    test_wiki().load_pages(&[(&q2, &edited)]);
    s.ok(&["pull"]);
    let kr = find_kr(&s.export(&[]), KR2).unwrap().clone();
    assert_eq!(kr["quarters"]["Q2"]["status"], "at-risk");
    assert_eq!(kr["quarters"]["Q2"]["note"], "hiring frozen");

    // VisualEditor's way: edit the Parsoid HTML, let Parsoid serialise it
    // selectively against the revision, save what it gives.
    let w = test_wiki();
    let html_url = format!("{}rest.php/v1/page/{}/html", w.url, urlencode(&q2));
    let (html, revid) = block_on(async {
        let client = reqwest::Client::new();
        let html = client
            .get(&html_url)
            .query(&[("flavor", "edit")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rev: Value = client
            .get(format!("{}api.php", w.url))
            .query(&[
                ("action", "query"),
                ("prop", "revisions"),
                ("titles", q2.as_str()),
                ("format", "json"),
                ("formatversion", "2"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            html,
            rev["query"]["pages"][0]["revisions"][0]["revid"]
                .as_u64()
                .unwrap(),
        )
    });
    assert!(
        html.contains("At risk: hiring frozen"),
        "the HTML shows the source edit"
    );
    let changed_html = html.replacen(
        "At risk: hiring frozen",
        "Complete: hiring done after all",
        1,
    );
    let wikitext = html_to_wikitext(&format!("{}/{revid}", urlencode(&q2)), &changed_html);
    assert!(
        wikitext.contains("Complete: hiring done after all"),
        "{wikitext}"
    );
    test_wiki().load_pages(&[(&q2, &wikitext)]);
    s.ok(&["pull"]);
    let kr = find_kr(&s.export(&[]), KR2).unwrap().clone();
    assert_eq!(kr["quarters"]["Q2"]["status"], "complete");
    assert_eq!(kr["quarters"]["Q2"]["note"], "hiring done after all");
}

/// The wiki's own HTML → wikitext transform (what VisualEditor saves
/// through); `of`: `TITLE/REVID` to serialise against that revision (only
/// what changed is re-serialised), empty for a serialisation from scratch.
pub(crate) fn html_to_wikitext(of: &str, html: &str) -> String {
    let mut url = format!("{}rest.php/v1/transform/html/to/wikitext", test_wiki().url);
    if !of.is_empty() {
        url = format!("{url}/{of}");
    }
    block_on(async {
        reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({ "html": html }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}

fn urlencode(title: &str) -> String {
    title
        .replace(' ', "_")
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn nobots_pages_are_left_alone_and_dry_run_edits_nothing() {
    let s = Setup::new("push-nobots", None);
    let q1 = title(&s, "Q1");
    let guarded = format!("{{{{nobots}}}}\n{}", page_text("Q1"));
    test_wiki().load_pages(&[(&q1, &guarded)]);
    s.ok(&["pull"]);

    let dry = s.run(&["--dry-run", "push"]);
    assert_eq!(dry.code, Some(3), "{dry:?}");
    assert!(dry.stdout.contains("would edit"), "{}", dry.stdout);
    assert!(
        dry.stdout
            .contains("+{| class=\"wikitable goalsbot-status\""),
        "{}",
        dry.stdout
    );
    assert_eq!(push_counts(&dry.stdout).0, 0);
    assert_eq!(
        raw(&title(&s, "Q2")).trim_end(),
        page_text("Q2").trim_end(),
        "--dry-run saved something"
    );

    let out = s.run(&["push"]);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stdout.contains(&format!("REFUSED    {q1}")),
        "{}",
        out.stdout
    );
    assert_eq!(
        raw(&q1).trim_end(),
        guarded.trim_end(),
        "a {{nobots}} page was edited"
    );
}

#[test]
fn new_quarter_creates_a_page_that_pulls_back_into_the_same_records() {
    let s = Setup::with_quarters("new-quarter", None, &["Q1", "Q2", "Q3"]);
    s.ok(&["pull"]);
    s.ok(&["import", deck().to_str().unwrap()]);
    let before = s.export(&[]);
    let out = s.ok(&["new-quarter", "2020-21", "Q4"]);
    assert!(out.contains("created"), "{out}");
    let page = raw(&title(&s, "Q4"));
    assert!(page.contains("Q4 Goals:"), "{page}");
    assert!(page.contains("data-goalsbot-objective=\"2020-21/front-line-defenses\""));
    // The page reads back as what the store holds: the next pull changes nothing.
    let pulled = s.ok(&["pull"]);
    assert!(
        pulled.contains("0 pulled, 4 unchanged"),
        "new-quarter recorded the page as synced: {pulled}"
    );
    let after = s.export(&[]);
    for o in before["fiscal_years"][0]["objectives"].as_array().unwrap() {
        for k in o["key_results"].as_array().unwrap() {
            let id = k["id"].as_str().unwrap();
            let a = find_kr(&after, id).unwrap_or_else(|| panic!("{id} lost"));
            assert_eq!(a["text"], k["text"], "{id}");
            assert_eq!(
                a["quarters"]["Q3"]["status"], k["quarters"]["Q3"]["status"],
                "{id}"
            );
        }
    }
    let again = s.run(&["new-quarter", "2020-21", "Q4"]);
    assert_eq!(again.code, Some(2), "{again:?}");
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

/// The status table of `objective` in `text`.
fn table_of(text: &str, objective: &str) -> String {
    let r = goalsbot::core::wikitext::find_table(text, objective)
        .unwrap_or_else(|| panic!("no table of {objective} in:\n{text}"));
    text[r].to_string()
}

#[test]
fn two_changed_tables_on_one_page_are_each_patched_one_line_per_cell() {
    // Hole 7f: the second changed table of a page was rewritten whole.
    const CI: &str = "2020-21/content-integrity";
    const FLD: &str = "2020-21/front-line-defenses";
    let s = Setup::with_quarters("push-two-tables", None, &["Q3"]);
    s.ok(&["pull"]);
    let q3 = title(&s, "Q3");
    let before = raw(&q3);
    s.ok(&[
        "set",
        &format!("{CI}/kr1"),
        "--quarter",
        "Q4",
        "--status",
        "complete",
        "--note",
        "CI done",
    ]);
    s.ok(&[
        "set",
        KR2,
        "--quarter",
        "Q4",
        "--status",
        "complete",
        "--note",
        "FLD done",
    ]);
    let out = s.ok(&["push"]);
    assert!(out.contains("status of 2 KRs (Q4) from tracker"), "{out}");
    let after = raw(&q3);
    for objective in [CI, FLD] {
        let (old, new) = (table_of(&before, objective), table_of(&after, objective));
        assert_eq!(
            goalsbot::core::plan::lines_changed(&old, &new),
            2,
            "{objective}: one changed cell must be a one-line change:\n{}",
            goalsbot::core::plan::unified_diff(objective, &old, &new)
        );
    }
    assert!(after.contains("Complete: CI done") && after.contains("Complete: FLD done"));
}

#[test]
fn the_bots_own_name_comes_from_the_wiki_so_bots_templates_are_obeyed() {
    // Hole 7e: the name the bot obeys `{{bots|…}}` with was the login form
    // it was given (empty with an OAuth 2 token and no user name). Here the
    // account `Goals Bot` logs in as `Goals_Bot@goalsbot`, a form the wiki
    // accepts but that does not read as the name staff write in `{{bots}}`.
    let w = test_wiki();
    let password = w.create_bot("Goals Bot");
    let s = Setup::new("push-own-name", None);
    let (q1, q2) = (title(&s, "Q1"), title(&s, "Q2"));
    let denied = format!("{{{{bots|deny=Goals Bot}}}}\n{}", page_text("Q1"));
    let allowed = format!("{{{{bots|allow=Goals Bot}}}}\n{}", page_text("Q2"));
    w.load_pages(&[(&q1, &denied), (&q2, &allowed)]);
    s.ok(&["pull"]);
    s.ok(&["import", deck().to_str().unwrap()]);
    let mut cmd = s.cmd(&["push"]);
    cmd.env("GOALSBOT_USERNAME", "Goals_Bot@goalsbot")
        .env("GOALSBOT_PASSWORD", &password);
    let out = crate::support::run(cmd);
    assert_eq!(
        raw(&q1).trim_end(),
        denied.trim_end(),
        "{{{{bots|deny=Goals Bot}}}} was ignored: {out:?}"
    );
    assert!(
        raw(&q2).contains("data-goalsbot-objective"),
        "{{{{bots|allow=Goals Bot}}}} kept the bot out: {out:?}"
    );
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stdout.contains(&format!("REFUSED    {q1}")),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(&format!("REFUSED    {q2}")),
        "{}",
        out.stdout
    );
}

/// Issue 29: push decides every page before it saves any (plain data, no
/// store write), then saves them one at a time. Through a proxy that logs
/// the requests: with a tracker edit that every page of the year shows, the
/// push reads every page it plans before its first edit, and between and
/// after its edits asks the wiki only what a save needs (the saved
/// revision read back, the emergency stop).
#[test]
fn push_decides_every_page_before_the_first_save() {
    let s = Setup::new("push-decides-first", None);
    s.ok(&["sync"]);
    // People edited Q3 and Q4 (pulled): the bot has not seen those texts.
    for q in ["Q3", "Q4"] {
        let t = title(&s, q);
        crate::support::staff_save(&t, &format!("{}\n<!-- edited -->\n", raw(&t)));
    }
    s.ok(&["pull"]);
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let p = crate::faults::through_proxy(&s);
    s.ok(&["push"]);
    let seen = p.seen();
    let log: Vec<String> = seen
        .iter()
        .map(|r| format!("{} {}", r.action, r.path))
        .collect();
    let edits: Vec<usize> = (0..seen.len())
        .filter(|&i| seen[i].action == "edit")
        .collect();
    assert_eq!(edits.len(), 5, "every page saved once: {log:#?}");
    // The texts the bot had not seen were read before the first save.
    let before = &log[..edits[0]];
    let texts_read = before
        .iter()
        .any(|l| l.contains("revids=") && l.contains("content"));
    assert!(texts_read, "{before:#?}");
    // After the first save: nothing more of other pages is planned.
    let after: Vec<&String> = log[edits[0]..]
        .iter()
        .filter(|l| !l.starts_with("edit "))
        .collect();
    let saves_need = after
        .iter()
        .all(|l| l.starts_with("rest ") || l.contains("revids="));
    assert!(saves_need, "{after:#?}");
}
