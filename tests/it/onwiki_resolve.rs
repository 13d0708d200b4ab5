//! Conflicts settled on the wiki: `{{goalsbot|resolve|ID|wiki|store}}` on the
//! command page, served by `watch --once` on the real test wiki, and the
//! status page's list of waiting conflicts (both values, page and revision,
//! both editors linked, the request to paste), the same bytes from run to run.

use serde_json::Value;

use crate::support::raw;
use crate::support::test_wiki;
use crate::support::Setup;
use crate::support::{cell, latest_revid, title, with_cell};
use crate::sync::KR2;
use crate::watch::{ask, requests_page, section, served, watch_once, ALICE, CAROL, MALLORY};

const STATUS: &str = "quarters.Q4.status";

fn status_page(s: &Setup) -> String {
    raw(&format!("{}/Bot status", s.prefix))
}

/// The conflicts section of the status page.
fn conflicts_section(text: &str) -> String {
    let start = text
        .find("=== Conflicts ===")
        .unwrap_or_else(|| panic!("no conflicts section:\n{text}"));
    let end = text[start..]
        .find("=== Refused pages ===")
        .map_or(text.len(), |i| start + i);
    text[start..end].to_string()
}

/// The pending conflicts (`conflicts --json`).
fn pending(s: &Setup) -> Vec<Value> {
    let out = s.ok(&["conflicts", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v.as_array().unwrap().clone()
}

/// The tracker sets KR2's Q4 status while Carol writes another on the Q3
/// page; the sync holds the conflict. Returns the conflict id and Carol's revision.
pub(crate) fn conflict_made(s: &Setup) -> (i64, u64) {
    conflict_made_by(s, "sync", "At risk")
}

/// [`conflict_made`], with Carol's cell reading `carol` (an at-risk status)
/// and `command` (`sync` or `pull`) finding the conflict.
pub(crate) fn conflict_made_by(s: &Setup, command: &str, carol: &str) -> (i64, u64) {
    let q3 = title(s, "Q3");
    s.ok(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    test_wiki().edit_as(CAROL, &q3, &with_cell(&raw(&q3), KR2, "Q4", carol));
    let carol_rev = latest_revid(&q3);
    let out = s.run(&[command]);
    assert_eq!(out.code, Some(3), "the {command} holds a conflict: {out:?}");
    let status = pending(s)
        .into_iter()
        .find(|c| c["key"]["record"] == KR2 && c["key"]["field"] == STATUS)
        .unwrap_or_else(|| panic!("no status conflict: {:?}", pending(s)));
    assert_eq!(
        (status["wiki"].as_str(), status["store"].as_str()),
        (Some("at-risk"), Some("complete"))
    );
    assert_eq!(status["revid"].as_u64(), Some(carol_rev));
    (status["id"].as_i64().unwrap(), carol_rev)
}

#[test]
fn a_conflict_is_listed_once_with_both_editors_and_settled_by_an_allowed_users_request() {
    let s = served("onwiki-resolve");
    let (id, carol_rev) = conflict_made(&s);
    let q3 = title(&s, "Q3");

    // (c) The status page lists it: field, both values, page and revision,
    // both editors linked, the requests to paste.
    let first = status_page(&s);
    let listed = conflicts_section(&first);
    let row = format!(
        "| {id} || {KR2} || {STATUS} || [[{q3}]] ([[Special:Diff/{carol_rev}|r{carol_rev}]]) || \
         at-risk<br />by [[User:{CAROL}|{CAROL}]] || complete<br />by [[User:Story Tester|Story Tester]] \
         (tracker edit) || "
    );
    assert!(listed.contains(&row), "{row}\nnot in:\n{listed}");
    for side in ["wiki", "store"] {
        let request = format!("<code><nowiki>{{{{goalsbot|resolve|{id}|{side}}}}}</nowiki></code>");
        assert!(listed.contains(&request), "{request} not in:\n{listed}");
    }
    assert!(
        listed.contains(&format!("a new section of [[{}]]", requests_page(&s))),
        "names the command page: {listed}"
    );
    // A second run with the conflict still pending rewrites the page but
    // not the conflict's entry: its links notify nobody again.
    // It exits 0: what waits was reported by the run before (no mail every hour).
    let status_rev = latest_revid(&format!("{}/Bot status", s.prefix));
    let out = s.run(&["sync"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let second = status_page(&s);
    assert!(
        latest_revid(&format!("{}/Bot status", s.prefix)) > status_rev,
        "the second run wrote the status page"
    );
    assert_ne!(first, second, "the run part of the page changed");
    assert_eq!(conflicts_section(&second), listed);

    // (b) Someone not allowed asks: refused, nothing changes.
    ask(
        &s,
        MALLORY,
        "Keep the tracker",
        &format!("{{{{goalsbot|resolve|{id}|store}}}} ~~~~"),
    );
    // (d) A malformed resolve request gets the syntax.
    ask(
        &s,
        ALICE,
        "Resolve typo",
        &format!("{{{{goalsbot|resolve|{id}|tracker}}}} ~~~~"),
    );
    let out = watch_once(&s);
    assert!(out.contains("2 new requests, 2 answered"), "{out}");
    let page = raw(&requests_page(&s));
    let refused = section(&page, "Keep the tracker");
    assert!(
        refused.contains(&format!("Sorry, [[User:{MALLORY}|{MALLORY}]]"))
            && refused.contains(&format!("[[User:{ALICE}|{ALICE}]]")),
        "{refused}"
    );
    assert!(!refused.contains("I settled"), "{refused}");
    assert!(
        pending(&s).iter().any(|c| c["id"].as_i64() == Some(id)),
        "still pending after the refusal"
    );
    let typo = section(&page, "Resolve typo");
    assert!(
        typo.contains("I could not read this request")
            && typo.contains("“tracker”")
            && typo.contains("<code><nowiki>{{goalsbot|resolve|12|wiki}}</nowiki></code>")
            && typo.contains("<code><nowiki>{{goalsbot|resolve|12|store}}</nowiki></code>"),
        "{typo}"
    );
    assert!(pending(&s).iter().any(|c| c["id"].as_i64() == Some(id)));

    // (a) An allowed user settles it (and any other conflict the edit raised).
    ask(
        &s,
        ALICE,
        "Keep the tracker's status",
        &format!("{{{{goalsbot|resolve|{id}|store}}}} ~~~~"),
    );
    let others: Vec<i64> = pending(&s)
        .iter()
        .filter_map(|c| c["id"].as_i64())
        .filter(|o| *o != id)
        .collect();
    for other in &others {
        ask(
            &s,
            CAROL,
            &format!("Take the page's value {other}"),
            &format!("{{{{goalsbot|resolve|{other}|wiki}}}} ~~~~"),
        );
    }
    let out = watch_once(&s);
    let n = 1 + others.len();
    assert!(
        out.contains(&format!("{n} new requests, {n} answered")),
        "{out}"
    );
    let page = raw(&requests_page(&s));
    let settled = section(&page, "Keep the tracker's status");
    assert!(
        settled.contains(&format!(
            "[[User:{ALICE}|{ALICE}]], I settled conflict #{id} ({KR2}, field {STATUS}, on [[{q3}]]) \
             as you asked: the store keeps its value, complete; I wrote it to the year's pages ("
        )),
        "{settled}"
    );
    // The decision reached the pages in the same run: the page that had
    // the other value shows the store's now, before any sync.
    assert!(
        cell(&raw(&q3), KR2, "Q4").starts_with("Complete"),
        "{}",
        cell(&raw(&q3), KR2, "Q4")
    );
    assert_eq!(pending(&s), Vec::<Value>::new(), "every conflict settled");
    let all = s.ok(&["conflicts", "--all"]);
    assert!(
        all.contains(&format!(
            "resolved: store by User:{ALICE} (on-wiki request)"
        )),
        "the requester decided: {all}"
    );
    let after = status_page(&s);
    let section_after = conflicts_section(&after);
    assert!(
        section_after.contains("''No conflicts are waiting.''")
            && !section_after.contains(&format!("resolve|{id}|")),
        "{section_after}"
    );
    assert!(
        after.contains(&format!("resolve {id} --take store")),
        "the run is named: {after}"
    );

    assert_eq!(settled.matches("goalsbot-reply:").count(), 1, "{settled}");
    // Asking again: already settled, said how and by whom.
    ask(
        &s,
        ALICE,
        "Again",
        &format!("{{{{goalsbot|resolve|{id}|wiki}}}} ~~~~"),
    );
    watch_once(&s);
    let again = section(&raw(&requests_page(&s)), "Again").to_string();
    assert!(
        again.contains(&format!("conflict #{id} was already settled (the store kept its value) by User:{ALICE} (on-wiki request) on ")),
        "{again}"
    );
    // An unknown id.
    ask(
        &s,
        ALICE,
        "Unknown",
        "{{goalsbot|resolve|999999|wiki}} ~~~~",
    );
    watch_once(&s);
    let unknown = section(&raw(&requests_page(&s)), "Unknown").to_string();
    assert!(
        unknown.contains("there is no conflict #999999"),
        "{unknown}"
    );

    // The next sync has nothing more to write there.
    let out = s.run(&["sync"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        cell(&raw(&q3), KR2, "Q4").starts_with("Complete"),
        "{}",
        cell(&raw(&q3), KR2, "Q4")
    );
}

#[test]
fn a_watcher_killed_after_the_decision_answers_it_once_without_deciding_again() {
    let s = served("onwiki-resolve-kill");
    let (id, _) = conflict_made(&s);
    ask(
        &s,
        ALICE,
        "Take the page",
        &format!("{{{{goalsbot|resolve|{id}|wiki}}}} ~~~~"),
    );
    // Killed right after the decision was recorded, before any reply.
    let mut cmd = s.cmd(&["watch", "--once"]);
    cmd.env("GOALSBOT_FAULT", "pause-at=watch.resolved:1");
    crate::tracker::kill_when(cmd, "goalsbot-fault: paused at watch.resolved:1");
    assert_eq!(
        pending(&s),
        Vec::<Value>::new(),
        "the decision was recorded"
    );
    assert!(!raw(&requests_page(&s)).contains("I settled"));

    let out = watch_once(&s);
    assert!(out.contains("1 answered"), "{out}");
    let page = raw(&requests_page(&s));
    let sec = section(&page, "Take the page");
    assert_eq!(sec.matches("goalsbot-reply:").count(), 1, "{sec}");
    assert!(
        sec.contains(&format!(
            "I settled conflict #{id} ({KR2}, field {STATUS}, on [[{}]]) as you asked: the store \
             takes the wiki's value, at-risk; I wrote it to the year's pages (",
            title(&s, "Q3")
        )),
        "{sec}"
    );
    // The push the kill cut short ran after the restart: the other pages show the decision.
    assert!(
        cell(&raw(&title(&s, "Q2")), KR2, "Q4").starts_with("At risk"),
        "{}",
        cell(&raw(&title(&s, "Q2")), KR2, "Q4")
    );
    let all = s.ok(&["conflicts", "--all"]);
    assert_eq!(
        all.matches("resolved: wiki by").count(),
        1,
        "decided once: {all}"
    );
    assert!(
        all.contains(&format!("resolved: wiki by User:{ALICE} (on-wiki request)")),
        "{all}"
    );
    // The status page was written after the restart: the conflict is gone from it.
    let status = status_page(&s);
    assert!(
        conflicts_section(&status).contains("''No conflicts are waiting.''"),
        "{status}"
    );
    assert!(watch_once(&s).contains("0 new requests, 0 answered"));
    assert_eq!(
        raw(&requests_page(&s)).matches("goalsbot-reply:").count(),
        page.matches("goalsbot-reply:").count()
    );
}

/// Issue 26, item 7: Alice asks; before the poll another user changes her
/// line to the other side. Alice's request runs (authorised by her
/// revision, as she wrote it) and is answered in its section, saying what
/// ran and for whom; the other user's change is refused with a reply that
/// does not claim nothing ran.
#[test]
fn a_request_line_another_user_changed_before_the_poll_is_answered_in_its_section() {
    let s = served("onwiki-resolve-edited");
    let (id, _) = conflict_made(&s);
    let q3 = title(&s, "Q3");
    ask(
        &s,
        ALICE,
        "Settle the Q4 status",
        &format!("{{{{goalsbot|resolve|{id}|store}}}} ~~~~"),
    );
    let page = requests_page(&s);
    let asked = raw(&page);
    let changed = asked.replace(
        &format!("{{{{goalsbot|resolve|{id}|store}}}}"),
        &format!("{{{{goalsbot|resolve|{id}|wiki}}}}"),
    );
    assert_ne!(asked, changed);
    test_wiki().edit_as(MALLORY, &page, &changed);
    let out = s.run(&["watch", "--once"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stderr.contains("section is gone"), "{out:?}");
    // Alice's request ran as she wrote it.
    assert!(
        !pending(&s).iter().any(|c| c["id"].as_i64() == Some(id)),
        "settled"
    );
    let all = s.ok(&["conflicts", "--all"]);
    assert!(
        all.contains(&format!(
            "resolved: store by User:{ALICE} (on-wiki request)"
        )),
        "{all}"
    );
    let text = raw(&page);
    let answered = section(&text, "Settle the Q4 status");
    assert!(
        answered.contains(&format!(
            "[[User:{ALICE}|{ALICE}]], I settled conflict #{id}"
        )) && answered.contains(&format!(
            "on [[{q3}]]) as you asked: the store keeps its value"
        )),
        "{answered}"
    );
    assert!(
        answered.contains(&format!("Sorry, [[User:{MALLORY}|{MALLORY}]]"))
            && answered.contains("so I have not run what you asked")
            && !answered.contains("I have not run anything"),
        "{answered}"
    );
}

/// Found in the README walkthrough: a person writes a new status and note
/// where the tracker set another status; the status waits as a conflict,
/// the note goes to the other pages, and their edit summaries credit the
/// person whose save the note came from, not the tracker's held status.
#[test]
fn a_note_written_beside_a_held_status_is_credited_to_its_writer() {
    let s = served("held-status-credit");
    conflict_made_by(&s, "sync", "At risk: the vendor left");
    let q2 = title(&s, "Q2");
    assert!(
        cell(&raw(&q2), KR2, "Q4").ends_with(": the vendor left"),
        "{}",
        cell(&raw(&q2), KR2, "Q4")
    );
    let (_, _, comment) = &crate::support::revisions(&q2)[0];
    assert!(
        comment.contains(&format!(
            "status of 1 KRs (Q4) from {CAROL}'s edit of 2020-21 Q3 (r"
        )),
        "{comment}"
    );
    assert!(!comment.contains("from tracker"), "{comment}");
}
