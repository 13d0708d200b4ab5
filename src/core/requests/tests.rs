//! Table tests of the command page: requests, sections, replies, who may ask.

use chrono::TimeZone;

use super::*;
use crate::core::runlog::{EditLink, RefusedPage, RunCounts, RunOutcome};

fn fy(s: &str) -> FiscalYear {
    s.parse().unwrap()
}

fn ok(action: Action, scope: Scope) -> Result<Ask, String> {
    Ok(Ask::Run(action, scope))
}

/// The parsed form of the only request in `text`.
fn only(text: &str) -> Result<Ask, String> {
    let found = find_requests(text);
    assert_eq!(found.len(), 1, "{text:?}: {found:?}");
    found.into_iter().next().unwrap().parsed
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 1, 5, h, m, 0).unwrap()
}

/// The command page as staff might keep it: documentation with the syntax
/// in nowiki, an answered request, a new one.
const PAGE: &str = "\
This page takes requests for goalsbot. Write <code><nowiki>{{goalsbot|sync}}</nowiki></code> in a new section.
<!-- Example: {{goalsbot|push|2020-21 Q3}} -->
<pre>
{{goalsbot|sync|2020-21}}
</pre>

== Sync please ==
{{goalsbot|sync}} [[User:Alice|Alice]] 10:00, 5 January 2021 (UTC)
:<!-- goalsbot-reply: r100-0 -->[[User:Alice|Alice]], I ran ''sync'': done. ~~~~

== Q3 push ==
=== details ===
Please push Q3. {{goalsbot|push|2020-21 Q3}} ~~~~

== Chat ==
No request here.
";

// ---------------------------------------------------------------------------
// Parsing

#[test]
fn actions_and_scopes_parse() {
    let q3 = |y: &str| Scope::Quarter(fy(y), Quarter::Q3);
    type Case = (&'static str, Result<Ask, String>);
    let cases: Vec<Case> = vec![
        ("{{goalsbot|sync}}", ok(Action::Sync, Scope::All)),
        ("{{goalsbot|pull}}", ok(Action::Pull, Scope::All)),
        ("{{goalsbot|push}}", ok(Action::Push, Scope::All)),
        (
            "{{goalsbot|sync|2020-21}}",
            ok(Action::Sync, Scope::Year(fy("2020-21"))),
        ),
        (
            "{{goalsbot|push|2020-21 Q3}}",
            ok(Action::Push, q3("2020-21")),
        ),
        (
            "{{goalsbot|pull|FY2020-21 q3}}",
            ok(Action::Pull, q3("2020-21")),
        ),
        (
            "{{goalsbot|sync|FY 2021-22}}",
            ok(Action::Sync, Scope::Year(fy("2021-22"))),
        ),
        (
            "{{goalsbot|new-quarter|2020-21 Q4}}",
            ok(
                Action::NewQuarter,
                Scope::Quarter(fy("2020-21"), Quarter::Q4),
            ),
        ),
        (
            "{{goalsbot|accept|2020-21 Q3}}",
            ok(Action::Accept, q3("2020-21")),
        ),
        // Spacing, underscores, first-letter case, Template: prefix.
        ("{{Goalsbot | sync }}", ok(Action::Sync, Scope::All)),
        (
            "{{ goalsbot|sync|2020-21 Q3}}",
            ok(Action::Sync, q3("2020-21")),
        ),
        (
            "{{ goalsbot_|Sync|  2020-21   Q3 }}",
            ok(Action::Sync, q3("2020-21")),
        ),
        ("{{Template:Goalsbot|sync}}", ok(Action::Sync, Scope::All)),
        ("{{template : goalsbot|sync}}", ok(Action::Sync, Scope::All)),
        (
            "{{goalsbot\n|sync\n|2020-21\n}}",
            ok(Action::Sync, Scope::Year(fy("2020-21"))),
        ),
        // A comment inside the template is not part of a value.
        (
            "{{goalsbot|sync<!-- all of it -->}}",
            ok(Action::Sync, Scope::All),
        ),
        (
            "{{<!-- x -->goalsbot<!-- y -->|pull}}",
            ok(Action::Pull, Scope::All),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(only(text), expected, "{text}");
    }
}

#[test]
fn malformed_requests_say_why() {
    let cases = [
        ("{{goalsbot}}", "names no action"),
        ("{{goalsbot|}}", "action after the first | is empty"),
        ("{{goalsbot|run}}", "unknown action “run”"),
        ("{{goalsbot|sync|2020-21|now}}", "too many parameters (3)"),
        ("{{goalsbot|sync|}}", "scope after the second | is empty"),
        ("{{goalsbot|sync|2020}}", "cannot read the scope “2020”"),
        ("{{goalsbot|sync|2020-22}}", "cannot read the scope"),
        (
            "{{goalsbot|push|2020-21 Q5}}",
            "cannot read the scope “2020-21 Q5”",
        ),
        ("{{goalsbot|new-quarter}}", "new-quarter needs a quarter"),
        (
            "{{goalsbot|new-quarter|2020-21}}",
            "new-quarter needs a quarter",
        ),
        ("{{goalsbot|accept}}", "accept needs the quarter page"),
        (
            "{{goalsbot|accept|2020-21}}",
            "accept needs the quarter page",
        ),
        ("{{goalsbot|action=sync}}", "no names"),
        ("{{GoalsBot|sync}}", "only its first letter"),
        ("{{GOALSBOT|sync}}", "only its first letter"),
        (
            "{{goalsbot|<nowiki>sync</nowiki>}}",
            "action after the first | is empty",
        ),
    ];
    for (text, why) in cases {
        let err = only(text).expect_err(text);
        assert!(err.contains(why), "{text}: {err}");
    }
}

#[test]
fn long_junk_is_quoted_short() {
    let junk = "x".repeat(500);
    let err = only(&format!("{{{{goalsbot|{junk}}}}}")).unwrap_err();
    assert!(err.len() < 200, "{err}");
    assert!(err.contains('…'));
}

#[test]
fn other_templates_and_lookalikes_are_not_requests() {
    for text in [
        "{{goalsbots|sync}}",
        "{{goals bot|sync}}",
        "{{tl|goalsbot}}",
        "{{:goalsbot|sync}}",
        "{{subst:goalsbot|sync}}",
        "{{{goalsbot|sync}}}",
        "{{goalsbot|sync",
        "goalsbot|sync}}",
        "[[Template:Goalsbot]]",
    ] {
        assert_eq!(find_requests(text), vec![], "{text}");
    }
}

#[test]
fn nested_templates_and_links_do_not_split_parameters() {
    let found = find_requests("{{quote|{{goalsbot|sync|[[x|y]]}}}}");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].template, "{{goalsbot|sync|[[x|y]]}}");
    assert!(found[0]
        .parsed
        .as_ref()
        .unwrap_err()
        .contains("cannot read the scope"));
}

#[test]
fn literal_text_holds_no_requests() {
    for text in [
        "<nowiki>{{goalsbot|sync}}</nowiki>",
        "<NoWiki >{{goalsbot|sync}}</nowiki >",
        "<code><nowiki>{{goalsbot|sync}}</nowiki></code>",
        "<pre>{{goalsbot|sync}}</pre>",
        "<pre style=\"x\">\n{{goalsbot|sync}}\n</pre>",
        "<syntaxhighlight lang=\"wikitext\">{{goalsbot|sync}}</syntaxhighlight>",
        "<source>{{goalsbot|sync}}</source>",
        "<!-- {{goalsbot|sync}} -->",
        "<!-- unclosed comment hides the rest {{goalsbot|sync}}",
        "{{<nowiki/>goalsbot|sync}}x<nowiki/>",
    ] {
        assert_eq!(find_requests(text), vec![], "{text}");
    }
}

#[test]
fn an_unclosed_tag_hides_nothing() {
    // As in MediaWiki: `<nowiki>` without `</nowiki>` is plain text.
    assert_eq!(
        only("<nowiki> {{goalsbot|sync}}"),
        ok(Action::Sync, Scope::All)
    );
    assert_eq!(only("<pre>{{goalsbot|pull}}"), ok(Action::Pull, Scope::All));
    // A request after a closed nowiki is live.
    assert_eq!(
        only("<nowiki>{{goalsbot|sync}}</nowiki> {{goalsbot|push}}"),
        ok(Action::Push, Scope::All)
    );
}

#[test]
fn sections_split_at_level_two() {
    let found = find_requests(PAGE);
    let got: Vec<(usize, &str, &str)> = found
        .iter()
        .map(|r| (r.section, r.heading.as_str(), r.template.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "Sync please", "{{goalsbot|sync}}"),
            (2, "Q3 push", "{{goalsbot|push|2020-21 Q3}}"),
        ]
    );
}

#[test]
fn headings_follow_mediawiki() {
    let text = "{{goalsbot|pull}}\n\
                == A == <!-- note -->\n{{goalsbot|sync}}\n\
                === deeper ===\n{{goalsbot|push}}\n\
                = Top =\n{{goalsbot|sync|2020-21}}\n\
                ==Tight==\n{{goalsbot|sync|2021-22}}\n\
                <!--\n== commented out ==\n-->\n{{goalsbot|pull|2021-22}}\n\
                ==Not a heading\n{{goalsbot|push|2021-22}}\n";
    let got: Vec<(usize, String)> = find_requests(text)
        .into_iter()
        .map(|r| (r.section, r.heading))
        .collect();
    let s = |n: usize, h: &str| (n, h.to_string());
    assert_eq!(
        got,
        vec![
            s(0, ""),
            s(1, "A"),
            s(1, "A"),
            s(2, "Top"),
            s(3, "Tight"),
            s(3, "Tight"),
            s(3, "Tight"),
        ]
    );
}

#[test]
fn a_heading_inside_braces_cuts_no_section() {
    // regression (found by proptest): a reply placed before `== H ==` landed
    // inside the template that spans it.
    let text = "{{goalsbot|\n== H ==\n}}\n{{goalsbot|sync}}";
    let found = find_requests(text);
    assert!(found.iter().all(|r| r.section == 0 && r.heading.is_empty()));
    let out = insert_reply(text, &found[0], ":R").unwrap();
    assert_eq!(out, format!("{text}\n:R"));
}

#[test]
fn command_text_and_display() {
    assert_eq!(command_text(Action::Sync, &Scope::All), "sync");
    assert_eq!(
        command_text(
            Action::NewQuarter,
            &Scope::Quarter(fy("2020-21"), Quarter::Q4)
        ),
        "new-quarter 2020-21 Q4"
    );
    assert_eq!(Scope::Year(fy("FY20/21")).to_string(), "2020-21");
    for a in Action::ALL {
        assert_eq!(a.as_str().parse::<Action>(), Ok(a));
    }
}

// ---------------------------------------------------------------------------
// Which requests are new

#[test]
fn added_requests_are_the_new_ones() {
    let parent = PAGE;
    let current = format!("{PAGE}\n== Again ==\n{{{{goalsbot|sync}}}} ~~~~\n");
    let added = added_requests(parent, &current);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].heading, "Again");
    assert_eq!(added[0].section, 4);
    assert_eq!(added[0].parsed, ok(Action::Sync, Scope::All));
}

#[test]
fn unrelated_edits_bring_back_no_request() {
    let cases = [
        // A comment elsewhere.
        PAGE.replace("No request here.", "No request here. Indeed. ~~~~"),
        // The bot's reply to the push request.
        PAGE.replace(
            "{{goalsbot|push|2020-21 Q3}} ~~~~\n",
            "{{goalsbot|push|2020-21 Q3}} ~~~~\n:<!-- goalsbot-reply: r101-0 -->Done. ~~~~\n",
        ),
        // The answered section archived away.
        PAGE.replace(
            "== Sync please ==\n{{goalsbot|sync}} [[User:Alice|Alice]] 10:00, 5 January 2021 (UTC)\n:<!-- goalsbot-reply: r100-0 -->[[User:Alice|Alice]], I ran ''sync'': done. ~~~~\n\n",
            "",
        ),
        // Sections moved: Chat first.
        {
            let (head, rest) = PAGE.split_once("== Sync please ==").unwrap();
            let (sync, chat) = rest.split_once("== Chat ==").unwrap();
            format!("{head}== Chat =={chat}\n== Sync please =={sync}")
        },
        // The documentation rewritten, with more examples in nowiki.
        PAGE.replace("<pre>", "<pre>\n{{goalsbot|new-quarter|2020-21 Q4}}"),
    ];
    for current in cases {
        assert_ne!(current, PAGE);
        assert_eq!(added_requests(PAGE, &current), vec![], "{current}");
    }
}

#[test]
fn the_same_request_asked_again_is_new() {
    let current = format!("{PAGE}\n== Sync please ==\n{{{{goalsbot|sync}}}} ~~~~\n");
    let added = added_requests(PAGE, &current);
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].section, 4);
    // Twice in one edit: both.
    let twice = format!("{current}\n== Sync please ==\n{{{{goalsbot|sync}}}} ~~~~\n");
    assert_eq!(added_requests(PAGE, &twice).len(), 2);
}

#[test]
fn a_request_taken_out_of_nowiki_is_new() {
    let parent = "== X ==\n<nowiki>{{goalsbot|sync}}</nowiki>\n";
    let current = "== X ==\n{{goalsbot|sync}}\n";
    assert_eq!(added_requests(parent, current).len(), 1);
    assert_eq!(added_requests(current, parent), vec![]);
}

#[test]
fn renaming_an_answered_request_does_not_run_it_again() {
    let current = PAGE.replace("== Sync please ==", "== Sync please (done) ==");
    assert_eq!(added_requests(PAGE, &current), vec![]);
    // The unanswered one, renamed, is the same request too (issue 11, hole
    // 7b: it was claimed when it was first seen; a heading typo fixed before
    // the poll must not claim it twice). Reply markers play no part.
    let current = PAGE.replace("== Q3 push ==", "== Push Q3 ==");
    assert_eq!(added_requests(PAGE, &current), vec![]);
}

#[test]
fn a_heading_typo_fixed_is_the_same_request() {
    let parent = "== Sycn please ==\n{{goalsbot|sync}} ~~~~\n";
    let current = "== Sync please ==\n{{goalsbot|sync}} ~~~~\n";
    assert_eq!(added_requests(parent, current), vec![]);
    // Its line edited (a note after the signature): the same request.
    let edited = "== Sycn please ==\n{{goalsbot|sync}} ~~~~ thanks\n";
    assert_eq!(added_requests(parent, edited), vec![]);
}

#[test]
fn the_reply_finds_a_request_whose_heading_was_renamed() {
    let parent = "== Sycn please ==\n{{goalsbot|sync}} ~~~~\n\n== Other ==\n{{goalsbot|sync}}\n";
    let req = request(parent, "{{goalsbot|sync}}");
    let current = parent.replace("Sycn", "Sync");
    assert_eq!(insert_reply(&current, &req, ":R"), None);
    let out = insert_reply_on_line(&current, &req, "{{goalsbot|sync}} ~~~~", ":R").unwrap();
    assert_eq!(
        out,
        "== Sync please ==\n{{goalsbot|sync}} ~~~~\n:R\n\n== Other ==\n{{goalsbot|sync}}\n"
    );
}

#[test]
fn the_reply_finds_its_section_after_another_user_changed_the_request() {
    let asked =
        "== Settle it ==\n{{goalsbot|resolve|2|store}} ~~~~\n\n== Other ==\n{{goalsbot|sync}}\n";
    let req = request(asked, "{{goalsbot|resolve|2|store}}");
    let changed = asked.replace("|store}}", "|wiki}}");
    let out =
        insert_reply_on_line(&changed, &req, "{{goalsbot|resolve|2|store}} ~~~~", ":R").unwrap();
    assert_eq!(
        out,
        "== Settle it ==\n{{goalsbot|resolve|2|wiki}} ~~~~\n:R\n\n== Other ==\n{{goalsbot|sync}}\n"
    );
    // The template taken out: withdrawn, no reply (`no_section_no_reply`).
    let removed = asked.replace("{{goalsbot|resolve|2|store}} ~~~~", "(withdrawn)");
    assert_eq!(
        insert_reply_on_line(&removed, &req, "{{goalsbot|resolve|2|store}} ~~~~", ":R"),
        None
    );
    // The section gone: no reply.
    let gone = "== Other ==\n{{goalsbot|sync}}\n";
    assert_eq!(insert_reply_on_line(gone, &req, "", ":R"), None);
}

#[test]
fn a_pasted_marker_hides_no_request() {
    // Hole 7a: a marker written by hand (predictable ids) in the same edit.
    let current = format!(
        "{PAGE}\n== Push ==\n{{{{goalsbot|push}}}} ~~~~\n:<!-- goalsbot-reply: r500-0 -->\n"
    );
    let added = added_requests(PAGE, &current);
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].heading, "Push");
}

#[test]
fn a_request_the_page_held_before_is_not_new_when_it_comes_back() {
    // Hole 5: asked, marker deleted, page blanked, blanking reverted.
    let asked = format!("{PAGE}\n== Push it ==\n{{{{goalsbot|push}}}} [[User:M|M]] 10:00\n");
    let mut seen = Seen::default();
    seen.remember(PAGE);
    let added = new_requests(PAGE, &asked, &seen);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].1, "{{goalsbot|push}} [[User:M|M]] 10:00");
    seen.remember(&asked);
    assert_eq!(new_requests("", "", &seen), vec![]);
    seen.remember("");
    assert_eq!(
        new_requests("", &asked, &seen),
        vec![],
        "the revert brings back nothing new"
    );
    // Restored under another heading: still the same line, still not new.
    let moved = asked.replace("== Push it ==", "== Restored ==");
    assert_eq!(new_requests("", &moved, &seen), vec![]);
    // Restored twice over: the second copy is new (the page never held two).
    let twice = format!("{asked}\n== Again ==\n{{{{goalsbot|push}}}} [[User:M|M]] 10:00\n");
    assert_eq!(new_requests("", &twice, &seen).len(), 1);
    // Asked again with a new signature: new.
    let again = format!("{asked}\n== Push it ==\n{{{{goalsbot|push}}}} [[User:M|M]] 11:00\n");
    assert_eq!(new_requests(&asked, &again, &seen).len(), 1);
    // Without memory (the old behaviour) the revert looked new.
    assert_eq!(new_requests("", &asked, &Seen::default()).len(), 3);
}

#[test]
fn requests_across_hidden_revisions_are_attributed_only_when_certain() {
    assert_eq!(attribute("alice_x", &[]), Some("Alice x".into()));
    assert_eq!(
        attribute("Alice", &["alice".to_string(), "Alice".to_string()]),
        Some("Alice".into())
    );
    assert_eq!(attribute("Alice", &["Mallory".to_string()]), None);
    assert_eq!(
        attribute("Alice", &[String::new()]),
        None,
        "author hidden too"
    );
    assert_eq!(attribute("", &[]), None);
}

#[test]
fn the_memory_of_lines_round_trips_and_only_grows() {
    let mut seen = Seen::default();
    assert!(seen.is_empty());
    seen.remember(PAGE);
    let twice = format!("{PAGE}\n== Again ==\n{{{{goalsbot|sync}}}} [[User:Alice|Alice]] 10:00, 5 January 2021 (UTC)\n");
    seen.remember(&twice);
    seen.remember("");
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen.times(
            "{{goalsbot|sync}}",
            "{{goalsbot|sync}} [[User:Alice|Alice]] 10:00, 5 January 2021 (UTC)"
        ),
        2
    );
    let back = Seen::from_json(&seen.to_json()).unwrap();
    assert_eq!(back, seen);
    assert!(Seen::from_json("not json").is_err());
}

#[test]
fn replies_are_given_up_after_the_last_try() {
    assert!(!reply_given_up(1, 3));
    assert!(!reply_given_up(2, 3));
    assert!(reply_given_up(3, 3));
    assert!(reply_given_up(4, 3));
    assert!(reply_given_up(1, 0), "at least one try");
    let note = given_up_note(
        "r5-0",
        "P/Bot requests",
        "Alice",
        3,
        "push → Changed",
        "protectedpage",
    );
    assert!(
        note.contains("r5-0")
            && note.contains("could not be saved")
            && note.contains("protectedpage"),
        "{note}"
    );
}

#[test]
fn an_edited_request_is_new() {
    let current = PAGE.replace(
        "{{goalsbot|push|2020-21 Q3}}",
        "{{goalsbot|push|2020-21 Q4}}",
    );
    let added = added_requests(PAGE, &current);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].template, "{{goalsbot|push|2020-21 Q4}}");
}

#[test]
fn a_request_asked_again_under_the_reply_is_new() {
    let current = PAGE.replace(
        "done. ~~~~\n",
        "done. ~~~~\n::Thanks! Once more please: {{goalsbot|sync}} ~~~~\n",
    );
    let added = added_requests(PAGE, &current);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].heading, "Sync please");
}

// ---------------------------------------------------------------------------
// Replies on the page

fn request(text: &str, template: &str) -> Request {
    find_requests(text)
        .into_iter()
        .find(|r| r.template == template)
        .unwrap()
}

#[test]
fn the_reply_goes_at_the_end_of_its_section() {
    let req = request(PAGE, "{{goalsbot|push|2020-21 Q3}}");
    let out = insert_reply(PAGE, &req, ":Done. ~~~~\n").unwrap();
    assert_eq!(
        out,
        PAGE.replace(
            "{{goalsbot|push|2020-21 Q3}} ~~~~\n",
            "{{goalsbot|push|2020-21 Q3}} ~~~~\n:Done. ~~~~\n"
        )
    );
}

#[test]
fn the_reply_keeps_the_blank_lines_before_the_next_heading() {
    let text = "== A ==\n{{goalsbot|sync}}   \n\n\n== B ==\nx";
    let req = request(text, "{{goalsbot|sync}}");
    let out = insert_reply(text, &req, ":R").unwrap();
    assert_eq!(out, "== A ==\n{{goalsbot|sync}}   \n:R\n\n\n== B ==\nx");
    // At the end of the page, with or without a final newline.
    let text = "== A ==\n{{goalsbot|sync}}";
    let req = request(text, "{{goalsbot|sync}}");
    assert_eq!(
        insert_reply(text, &req, ":R\n").unwrap(),
        "== A ==\n{{goalsbot|sync}}\n:R"
    );
    let text = "== A ==\n{{goalsbot|sync}}\n\n";
    assert_eq!(
        insert_reply(text, &req, ":R").unwrap(),
        "== A ==\n{{goalsbot|sync}}\n:R\n\n"
    );
    // Subsections belong to the section: the reply goes after them.
    let text = "== A ==\n{{goalsbot|sync}}\n=== more ===\ntext\n== B ==\n";
    assert_eq!(
        insert_reply(text, &req, ":R").unwrap(),
        "== A ==\n{{goalsbot|sync}}\n=== more ===\ntext\n:R\n== B ==\n"
    );
}

#[test]
fn the_reply_stays_out_of_an_unclosed_comment() {
    let text = "== A ==\n{{goalsbot|sync}}\n<!-- draft: {{goalsbot|pull}}";
    let req = request(text, "{{goalsbot|sync}}");
    assert_eq!(
        insert_reply(text, &req, ":R").unwrap(),
        "== A ==\n{{goalsbot|sync}}\n:R\n<!-- draft: {{goalsbot|pull}}"
    );
    // Closed comments and tags at the end stay before the reply.
    for end in ["<!-- note -->", "<nowiki>x</nowiki>", "<pre>\ny\n</pre>"] {
        let text = format!("== A ==\n{{{{goalsbot|sync}}}}\n{end}");
        assert_eq!(
            insert_reply(&text, &req, ":R").unwrap(),
            format!("{text}\n:R"),
        );
    }
}

#[test]
fn a_long_page_is_scanned_quickly() {
    // The page grows by a reply with four nowiki examples per request;
    // scanning stays linear (no pattern compiled per tag).
    let malformed = render_reply(
        "r1-0",
        "Alice",
        &ReplyKind::Malformed { reason: "x".into() },
    )
    .unwrap();
    let mut page = String::from("Docs <nowiki>{{goalsbot|sync}}</nowiki>\n");
    for i in 0..2000 {
        page.push_str(&format!(
            "\n== Request {i} ==\n{{{{goalsbot|run}}}}\n{malformed}"
        ));
    }
    let start = std::time::Instant::now();
    assert_eq!(find_requests(&page).len(), 2000);
    assert_eq!(added_requests(&page, &page), vec![]);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn the_reply_finds_its_section_after_the_page_changed() {
    let req = request(PAGE, "{{goalsbot|push|2020-21 Q3}}");
    // Sections added above and the first one archived since.
    let (head, rest) = PAGE.split_once("== Sync please ==").unwrap();
    let (_, rest) = rest.split_once("== Q3 push ==").unwrap();
    let changed = format!("{head}== New topic ==\nHello.\n\n== Q3 push =={rest}");
    let out = insert_reply(&changed, &req, ":R").unwrap();
    assert!(out.contains("{{goalsbot|push|2020-21 Q3}} ~~~~\n:R\n\n== Chat =="));
    assert_eq!(out.replace(":R\n", ""), changed);
}

#[test]
fn no_section_no_reply() {
    let req = request(PAGE, "{{goalsbot|push|2020-21 Q3}}");
    let gone = PAGE.replace("{{goalsbot|push|2020-21 Q3}}", "(withdrawn)");
    assert_eq!(insert_reply(&gone, &req, ":R"), None);
    let renamed = PAGE.replace("== Q3 push ==", "== Push ==");
    assert_eq!(insert_reply(&renamed, &req, ":R"), None);
}

#[test]
fn of_two_identical_requests_the_unanswered_one_gets_the_reply() {
    let current =
        format!("{PAGE}\n== Sync please ==\n{{{{goalsbot|sync}}}} Bob\n\n== Later ==\nx\n");
    let req = added_requests(PAGE, &current).remove(0);
    let out = insert_reply(&current, &req, ":R").unwrap();
    assert!(
        out.contains("{{goalsbot|sync}} Bob\n:R\n\n== Later =="),
        "{out}"
    );
    assert_eq!(out.matches(":R").count(), 1);
}

#[test]
fn markers_tell_what_was_answered() {
    assert_eq!(reply_marker("r1234-0"), "<!-- goalsbot-reply: r1234-0 -->");
    assert_eq!(request_id(1234, 0), "r1234-0");
    assert!(has_reply(PAGE, "r100-0"));
    assert!(!has_reply(PAGE, "r100-1"));
    assert!(!has_reply(PAGE, "r10"));
    assert!(!has_reply(PAGE, "r100"));
    // A hostile id cannot close the comment.
    let m = reply_marker("x --> {{goalsbot|sync}} <!--");
    assert_eq!(m.matches("-->").count(), 1);
    assert_eq!(find_requests(&m), vec![]);
    assert!(has_reply(&m, "x --> {{goalsbot|sync}} <!--"));
}

// ---------------------------------------------------------------------------
// Reply wording

fn run(outcome: RunOutcome) -> RunSummary {
    RunSummary {
        run_id: "2021-01-05T10:00Z-1a2b".into(),
        command: "sync 2020-21".into(),
        requested_by: Some("Alice".into()),
        started: at(10, 0),
        finished: at(10, 2) + Duration::seconds(5),
        outcome,
        counts: RunCounts {
            pages_checked: 5,
            pages_changed: 1,
            html_fetches: 5,
            api_requests: 9,
            edits: 1,
            records_changed: 3,
            conflicts: 0,
            refused: 0,
        },
        edits: vec![EditLink {
            title: "Wikimedia Technology/Goals/2020-21 Q3".into(),
            oldrevid: Some(100),
            newrevid: 105,
        }],
        conflicts: vec![],
        refused: vec![],
        warnings: vec![],
        dry_run: false,
    }
}

fn reply(kind: &ReplyKind<'_>) -> String {
    render_reply("r200-0", "Alice", kind).unwrap()
}

/// Every reply: each line indented, signed once at the end, with the
/// marker, and no request in it.
fn check_reply(text: &str) {
    assert!(text.ends_with(" ~~~~\n"), "{text}");
    // One signature: any other `~~~~` is inside nowiki.
    assert_eq!(masked(text).matches("~~~~").count(), 1, "{text}");
    for line in text.lines() {
        assert!(line.starts_with(':'), "{line:?} in {text}");
    }
    assert!(has_reply(text, "r200-0"), "{text}");
    assert_eq!(find_requests(text), vec![], "{text}");
    // Placed on a page, it creates no request and keeps the page's sections.
    let page = "== A ==\n{{goalsbot|sync}}\n\n== B ==\nx\n";
    let req = request(page, "{{goalsbot|sync}}");
    let out = insert_reply(page, &req, text).unwrap();
    assert_eq!(added_requests(page, &out), vec![]);
    assert_eq!(find_requests(&out).len(), 1);
    assert!(out.ends_with("\n\n== B ==\nx\n"));
}

#[test]
fn done_replies() {
    let changed = run(RunOutcome::Changed);
    let text = reply(&ReplyKind::Done {
        run: &changed,
        status_page: Some("User:GoalsBot/Status".into()),
    });
    check_reply(&text);
    assert_eq!(
        text,
        ":<!-- goalsbot-reply: r200-0 -->[[User:Alice|Alice]], I ran ''sync 2020-21'': '''✎ Changed'''. The wiki and the goals tracker agree again.\n\
         ::Edits: [[Wikimedia Technology/Goals/2020-21 Q3]] ([[Special:Diff/100/105|diff]]).\n\
         ::Run <code>2021-01-05T10:00Z-1a2b</code>, 2 min 5 s: 5 pages checked, 1 page changed, 1 edit, 3 records changed, no conflicts, no pages refused; 5 HTML fetches, 9 API requests. ~~~~\n"
    );

    let mut nothing = run(RunOutcome::NothingToDo);
    nothing.edits.clear();
    nothing.dry_run = true;
    let text = reply(&ReplyKind::Done {
        run: &nothing,
        status_page: None,
    });
    check_reply(&text);
    assert!(text.contains("as a dry run (nothing was saved): '''✓ Nothing to do'''. The wiki and the goals tracker already agree."));
    assert!(!text.contains("Edits:"));

    let mut needs = run(RunOutcome::NeedsPerson);
    needs.conflicts = vec![crate::core::runlog::ConflictLine {
        id: 7,
        record: "2020-21/x/kr1".into(),
        field: "Q3 status".into(),
        page: None,
        wiki: None,
        store: None,
        since: at(9, 0),
        revid: None,
        wiki_user: None,
        store_by: None,
    }];
    needs.refused = vec![RefusedPage {
        title: "Wikimedia Technology/Goals/2020-21 Q2".into(),
        reason: "{{nobots}}".into(),
    }];
    let text = reply(&ReplyKind::Done {
        run: &needs,
        status_page: Some("User:GoalsBot/Status".into()),
    });
    check_reply(&text);
    assert!(text.contains("'''⚠ Needs a person'''"));
    assert!(text.contains("::1 conflict waits for a person: see [[User:GoalsBot/Status]].\n"));
    assert!(text.contains(
        "::Pages left alone: [[Wikimedia Technology/Goals/2020-21 Q2]] (<nowiki>{{nobots}}</nowiki>).\n"
    ));

    let failed = run(RunOutcome::Failed {
        error: "store error: database is locked\n  caused by: busy".into(),
    });
    let text = reply(&ReplyKind::Done {
        run: &failed,
        status_page: None,
    });
    check_reply(&text);
    assert!(text.contains(
        "'''✖ Failed'''. The run stopped with an error: store error: database is locked caused by: busy."
    ));
    assert!(text.contains("2021-01-05T10:00Z-1a2b"));
}

#[test]
fn a_reply_lists_at_most_twenty_edits() {
    let mut many = run(RunOutcome::Changed);
    many.edits = (0..25)
        .map(|i| EditLink {
            title: format!("P{i}"),
            oldrevid: None,
            newrevid: 1000 + i,
        })
        .collect();
    let text = reply(&ReplyKind::Done {
        run: &many,
        status_page: Some("S".into()),
    });
    check_reply(&text);
    assert!(
        text.contains("[[P19]] ([[Special:PermanentLink/1019|new page]]) and 5 more (see [[S]]).")
    );
    assert!(!text.contains("[[P20]]"));
}

#[test]
fn refusal_names_who_may_ask() {
    let text = reply(&ReplyKind::Refused {
        allowed: vec!["Example User".into(), "Bob".into()],
        allowlist_page: Some("User:GoalsBot/Allowed".into()),
    });
    check_reply(&text);
    assert_eq!(
        text,
        ":<!-- goalsbot-reply: r200-0 -->Sorry, [[User:Alice|Alice]]: only the users allowed to ask can start goalsbot, so I have not run what you asked. \
         Allowed are [[User:Example User|Example User]], [[User:Bob|Bob]] and the users listed on [[User:GoalsBot/Allowed]]; please ask one of them. ~~~~\n"
    );
    let text = reply(&ReplyKind::Refused {
        allowed: vec![],
        allowlist_page: Some("User:GoalsBot/Allowed".into()),
    });
    check_reply(&text);
    assert!(text.contains("Allowed are the users listed on [[User:GoalsBot/Allowed]]; please"));
    let text = reply(&ReplyKind::Refused {
        allowed: vec![],
        allowlist_page: None,
    });
    check_reply(&text);
    assert!(text.contains("No one is allowed yet"));
}

#[test]
fn malformed_reply_shows_the_syntax_inertly() {
    let req = request("{{goalsbot|run|now}}", "{{goalsbot|run|now}}");
    let reason = req.parsed.unwrap_err();
    let text = reply(&ReplyKind::Malformed { reason });
    check_reply(&text);
    for example in [
        "{{goalsbot|sync}}",
        "{{goalsbot|sync|2020-21}}",
        "{{goalsbot|push|2020-21 Q3}}",
        "{{goalsbot|new-quarter|2020-21 Q4}}",
    ] {
        assert!(
            text.contains(&format!("::<code><nowiki>{example}</nowiki></code> – ")),
            "{text}"
        );
    }
    assert!(text.contains("I could not read this request: unknown action “run”"));
    // A reason quoting braces is shown, not expanded.
    let req = request("{{goalsbot|sync|}}", "{{goalsbot|sync|}}");
    let text = reply(&ReplyKind::Malformed {
        reason: req.parsed.unwrap_err(),
    });
    check_reply(&text);
    assert!(text.contains("<nowiki>the scope after the second | is empty"));
}

#[test]
fn busy_and_rate_limited_replies() {
    let text = reply(&ReplyKind::AlreadyRunning {
        run_id: "2021-01-05T10:00Z-1a2b".into(),
        status_page: Some("User:GoalsBot/Status".into()),
    });
    check_reply(&text);
    assert!(text.contains(
        "a run is already in progress (<code>2021-01-05T10:00Z-1a2b</code>), so I have not started another; its result will show on [[User:GoalsBot/Status]]"
    ));
    let text = reply(&ReplyKind::RateLimited {
        retry_after_secs: 601,
    });
    check_reply(&text);
    assert!(text.contains("Please ask again in about 11 minutes"));
    assert_eq!(about_minutes(1), "about 1 minute");
    assert_eq!(about_minutes(0), "about 1 minute");
}

#[test]
fn hostile_text_in_replies_stays_inert() {
    // regression guard: any user-derived value that could open a request,
    // a signature, a comment or a table.
    let hostile = "X}}{{goalsbot|sync}}|}~~~~</nowiki><!--";
    let mut summary = run(RunOutcome::Failed {
        error: hostile.into(),
    });
    summary.command = hostile.into();
    summary.run_id = hostile.into();
    summary.requested_by = Some(hostile.into());
    summary.edits.push(EditLink {
        title: hostile.into(),
        oldrevid: Some(1),
        newrevid: 2,
    });
    summary.refused.push(RefusedPage {
        title: hostile.into(),
        reason: hostile.into(),
    });
    let kinds = [
        ReplyKind::Done {
            run: &summary,
            status_page: Some(hostile.into()),
        },
        ReplyKind::Refused {
            allowed: vec![hostile.into(), "Bob".into()],
            allowlist_page: Some(hostile.into()),
        },
        ReplyKind::Malformed {
            reason: hostile.into(),
        },
        ReplyKind::AlreadyRunning {
            run_id: hostile.into(),
            status_page: Some(hostile.into()),
        },
        ReplyKind::RateLimited {
            retry_after_secs: 5,
        },
    ];
    for kind in &kinds {
        let text = render_reply("r200-0", hostile, kind).unwrap();
        check_reply(&text);
        assert!(!text.contains("[[User:X}}"), "{text}");
        // The only comment is the marker.
        assert_eq!(text.matches("<!--").count(), 1, "{text}");
        assert_eq!(
            text.matches("</nowiki>").count(),
            text.matches("<nowiki>").count()
        );
    }
}

// ---------------------------------------------------------------------------
// Who may ask

#[test]
fn allowlist_formats() {
    let page = "\
Users listed here may ask goalsbot for a run. Ask [[User:Admin]] to be added.
<!-- * [[User:Commented Out]] -->
<nowiki>* [[User:In Nowiki]]</nowiki>
* [[User:Example User]]
* [[User:Example_User|Ex]] (duplicate)
** [[user:bob_smith|Bob]] – added 2021-01-05
# {{user|Carol}}
* {{u|1=dave}}
* Erin Example
*   eve  
{{User|Frank}}
[[User:Grace|Grace]]
* [[User:Heidi/sandbox]]
* [[User talk:Ivan]]
* Note: this is prose
* Judy <!-- since 2020 -->
* [[User:Mallory]]] [[User:Oscar]]
* {{user|Peggy|extra}}
";
    assert_eq!(
        parse_allowlist(page),
        vec![
            "Example User",
            "Bob smith",
            "Carol",
            "Dave",
            "Erin Example",
            "Eve",
            "Frank",
            "Grace",
            "Judy",
            "Mallory",
        ]
    );
}

#[test]
fn an_empty_or_prose_allowlist_allows_no_one() {
    assert_eq!(parse_allowlist(""), Vec::<String>::new());
    assert_eq!(
        parse_allowlist("Nobody yet.\n\nAsk [[User:Admin]].\n{{user|Admin}} will add you."),
        Vec::<String>::new()
    );
}

#[test]
fn user_names_compare_as_mediawiki_does() {
    let allowed = vec!["Example User".to_string(), "bob".to_string()];
    assert!(is_allowed("Example User", &allowed));
    assert!(is_allowed("example_User", &allowed));
    assert!(is_allowed(" Example  User ", &allowed));
    assert!(is_allowed("Bob", &allowed));
    assert!(!is_allowed("Example user", &allowed));
    assert!(!is_allowed("ExampleUser", &allowed));
    assert!(!is_allowed("", &allowed));
    assert!(!is_allowed("Mallory", &allowed));
    assert!(!is_allowed("Bob", &[]));
    assert_eq!(normalize_user("élise_dupont"), "Élise dupont");
}

#[test]
fn only_exactly_run_lets_the_bot_run() {
    assert!(shutoff_allows_running(Some("run")));
    assert!(shutoff_allows_running(Some("run\n")));
    assert!(shutoff_allows_running(Some("  run  ")));
    for stop in [
        "",
        "stop",
        "Run",
        "RUN",
        "run please",
        "don't run",
        "<!-- -->run",
        "* run",
    ] {
        assert!(!shutoff_allows_running(Some(stop)), "{stop:?}");
    }
    // A missing page fails safe.
    assert!(!shutoff_allows_running(None));
}

// ---------------------------------------------------------------------------
// Rate limit

#[test]
fn rate_limit_per_user_and_overall() {
    let limit = RateLimit {
        per_user_per_hour: 2,
        per_hour: 3,
    };
    let now = at(12, 0);
    let h = |u: &str, t| (u.to_string(), t);
    assert_eq!(limit.check(&[], "Alice", now), Ok(()));
    // One in the hour: fine. Two: wait until the older leaves the hour.
    let history = vec![h("Alice", at(11, 10)), h("alice", at(11, 30))];
    assert_eq!(limit.check(&history[..1], "Alice", now), Ok(()));
    assert_eq!(limit.check(&history, "Alice", now), Err(10 * 60));
    assert_eq!(limit.check(&history, "Alice", at(12, 10)), Ok(()));
    assert_eq!(limit.check(&history, "Bob", now), Ok(()));
    // Older than an hour does not count; exactly an hour ago does not either.
    let old = vec![h("Alice", at(10, 0)), h("Alice", at(11, 0))];
    assert_eq!(limit.check(&old, "Alice", now), Ok(()));
    // Overall: three in the hour stop everyone.
    let busy = vec![h("A", at(11, 5)), h("B", at(11, 20)), h("C", at(11, 40))];
    assert_eq!(limit.check(&busy, "D", now), Err(5 * 60));
    // Both limits: the longer wait wins.
    let both = vec![h("A", at(11, 5)), h("D", at(11, 20)), h("D", at(11, 40))];
    assert_eq!(limit.check(&both, "D", now), Err(20 * 60));
    assert_eq!(limit.check(&both, "E", now), Err(5 * 60));
}

#[test]
fn rate_limit_edges() {
    let now = at(12, 0);
    let zero = RateLimit {
        per_user_per_hour: 0,
        per_hour: 10,
    };
    assert_eq!(zero.check(&[], "A", now), Err(3600));
    // A clock that went back: a "future" entry still counts, and the wait is
    // at least a second.
    let one = RateLimit {
        per_user_per_hour: 1,
        per_hour: 10,
    };
    let future = vec![("A".to_string(), now + Duration::minutes(5))];
    assert_eq!(one.check(&future, "A", now), Err(65 * 60));
    let edge = vec![(
        "A".to_string(),
        now - Duration::hours(1) + Duration::milliseconds(10),
    )];
    assert_eq!(one.check(&edge, "A", now), Err(1));
    assert!(RateLimit::default().per_user_per_hour > 0);
}

// ---------------------------------------------------------------------------
// Properties

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Text made of the pieces that matter to the scanner.
    fn tricky() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{{"),
            Just("}}"),
            Just("{{goalsbot|sync}}"),
            Just("{{Goalsbot|push|2020-21 Q3}}"),
            Just("{{goalsbot|"),
            Just("|"),
            Just("|}"),
            Just("~~~~"),
            Just("<nowiki>"),
            Just("</nowiki>"),
            Just("<nowiki/>"),
            Just("<pre>"),
            Just("</pre>"),
            Just("<!--"),
            Just("-->"),
            Just("\n"),
            Just("\n== H ==\n"),
            Just("\n=== S ===\n"),
            Just("\n= T =\n"),
            Just("=="),
            Just("[["),
            Just("]]"),
            Just("<!-- goalsbot-reply: r1-0 -->"),
            Just(":"),
            Just("&lt;"),
            Just("x"),
            Just(" "),
            Just("é"),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn a_reply_changes_nothing_but_its_line(text in tricky()) {
            const R: &str = ":GOALSBOT-R";
            let before = find_requests(&text);
            for req in &before {
                let out = insert_reply(&text, req, R).expect("the request is on the page");
                let recovered = ["\n:GOALSBOT-R\n", "\n:GOALSBOT-R", ":GOALSBOT-R\n", R]
                    .iter()
                    .any(|form| out.replacen(form, "", 1) == text);
                prop_assert!(recovered, "{:?} -> {:?}", text, out);
                prop_assert!(out.lines().any(|l| l == R), "{:?}", out);
                // The reply is seen (not hidden in a comment or tag) and
                // moves no request to another section.
                prop_assert!(masked(&out).lines().any(|l| l == R), "{:?}", out);
                prop_assert_eq!(&find_requests(&out), &before);
                prop_assert_eq!(added_requests(&text, &out), vec![]);
            }
        }

        /// Whatever a page goes through (edits, blanking, reverts to any
        /// earlier revision, hidden revisions skipped), each request line is
        /// new at most as many times as it ever stood on the page at once:
        /// a request is claimed once, in the revision that first added it.
        #[test]
        fn no_history_claims_a_line_more_often_than_it_was_added(
            picks in prop::collection::vec((0usize..8, any::<bool>()), 1..12)
        ) {
            const LINES: [&str; 4] = [
                "{{goalsbot|sync}} ~~A 1",
                "{{goalsbot|push}} ~~B 2",
                "{{goalsbot|sync}} ~~C 3",
                "{{goalsbot|sync}}",
            ];
            // Texts made of sections; a pick either writes a new text from
            // lines or goes back to an earlier revision (a revert).
            let mut history: Vec<String> = vec![String::new()];
            let mut seen = Seen::default();
            let mut parent = String::new();
            let mut claimed: HashMap<String, usize> = HashMap::new();
            let mut most: HashMap<String, usize> = HashMap::new();
            for (i, (pick, revert)) in picks.iter().enumerate() {
                let text = if *revert {
                    history[pick % history.len()].clone()
                } else {
                    let mut t = String::new();
                    for (j, line) in LINES.iter().enumerate() {
                        if (pick + i + j) % 3 != 0 {
                            t.push_str(&format!("== H{} ==\n{line}\n", (pick + j) % 2));
                        }
                    }
                    t
                };
                for (r, _) in new_requests(&parent, &text, &seen) {
                    *claimed.entry(r.template.clone()).or_default() += 1;
                }
                for r in find_requests(&text) {
                    let n = find_requests(&text).iter().filter(|x| x.template == r.template).count();
                    let e = most.entry(r.template.clone()).or_default();
                    *e = (*e).max(n);
                }
                seen.remember(&text);
                history.push(text.clone());
                parent = text;
            }
            // Per template, claims never exceed the distinct lines ever
            // written with it (each text holds a line at most once).
            for (template, n) in &claimed {
                let lines = LINES
                    .iter()
                    .filter(|l| l.starts_with(template.as_str()))
                    .filter(|l| history.iter().any(|t| t.contains(&format!("\n{l}\n"))))
                    .count();
                prop_assert!(*n <= lines, "{template}: {n} claims for {lines} lines");
                prop_assert!(most.get(template).is_some_and(|m| *m >= 1));
            }
            // A revert to any earlier revision now brings nothing new.
            for old in &history {
                prop_assert_eq!(new_requests(&parent, old, &seen), vec![]);
            }
        }

        #[test]
        fn hostile_values_never_make_a_request(value in tricky()) {
            let summary = RunSummary {
                run_id: value.clone(),
                command: value.clone(),
                requested_by: Some(value.clone()),
                outcome: RunOutcome::Failed { error: value.clone() },
                edits: vec![EditLink { title: value.clone(), oldrevid: None, newrevid: 3 }],
                refused: vec![RefusedPage { title: value.clone(), reason: value.clone() }],
                ..run(RunOutcome::Changed)
            };
            let kinds = [
                ReplyKind::Done { run: &summary, status_page: Some(value.clone()) },
                ReplyKind::Refused { allowed: vec![value.clone()], allowlist_page: Some(value.clone()) },
                ReplyKind::Malformed { reason: value.clone() },
                ReplyKind::AlreadyRunning { run_id: value.clone(), status_page: Some(value.clone()) },
            ];
            for kind in &kinds {
                let text = render_reply("r200-0", &value, kind).unwrap();
                check_reply(&text);
            }
            let page = crate::core::runlog::render_status_page(&summary, &[], std::slice::from_ref(&summary)).unwrap();
            prop_assert_eq!(find_requests(&page), vec![]);
            prop_assert!(!masked(&page).contains("~~~"));
        }
    }
}

// ---------------------------------------------------------------------------
// Resolve requests

fn resolve(conflict: i64, side: Side) -> Result<Ask, String> {
    Ok(Ask::Resolve { conflict, side })
}

#[test]
fn resolve_requests_parse() {
    let cases = [
        ("{{goalsbot|resolve|12|wiki}}", resolve(12, Side::Wiki)),
        ("{{goalsbot|resolve|12|store}}", resolve(12, Side::Store)),
        ("{{goalsbot| Resolve | 7 | WIKI }}", resolve(7, Side::Wiki)),
        ("{{Goalsbot|RESOLVE|#3|Store}}", resolve(3, Side::Store)),
        (
            "{{goalsbot\n|resolve\n|40\n|store\n}}",
            resolve(40, Side::Store),
        ),
        (
            "{{goalsbot|resolve|5<!-- the status one -->|wiki}}",
            resolve(5, Side::Wiki),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(only(text), expected, "{text}");
    }
    assert_eq!(
        resolve(12, Side::Wiki).unwrap().command_text(),
        "resolve 12 --take wiki"
    );
    assert_eq!(ok(Action::Sync, Scope::All).unwrap().command_text(), "sync");
}

#[test]
fn malformed_resolve_requests_say_why_and_show_the_syntax() {
    let cases = [
        (
            "{{goalsbot|resolve}}",
            "resolve needs a conflict id and a side",
        ),
        (
            "{{goalsbot|resolve|12}}",
            "resolve needs a conflict id and a side",
        ),
        (
            "{{goalsbot|resolve|12|wiki|now}}",
            "too many parameters (4)",
        ),
        (
            "{{goalsbot|resolve|twelve|wiki}}",
            "cannot read the conflict id “twelve”",
        ),
        (
            "{{goalsbot|resolve|0|wiki}}",
            "cannot read the conflict id “0”",
        ),
        (
            "{{goalsbot|resolve|-3|wiki}}",
            "cannot read the conflict id “-3”",
        ),
        (
            "{{goalsbot|resolve|+3|wiki}}",
            "cannot read the conflict id “+3”",
        ),
        (
            "{{goalsbot|resolve|1.5|wiki}}",
            "cannot read the conflict id “1.5”",
        ),
        (
            "{{goalsbot|resolve||wiki}}",
            "cannot read the conflict id “”",
        ),
        (
            "{{goalsbot|resolve|99999999999999999999|wiki}}",
            "cannot read the conflict id",
        ),
        (
            "{{goalsbot|resolve|12|both}}",
            "must be wiki (the store takes the wiki's value) or store",
        ),
        ("{{goalsbot|resolve|12|}}", "not “”"),
        ("{{goalsbot|resolve|12|take=wiki}}", "no names"),
    ];
    for (text, why) in cases {
        let err = only(text).expect_err(text);
        assert!(err.contains(why), "{text}: {err}");
        // The syntax is named in the reason or shown by the reply.
        let text = reply(&ReplyKind::Malformed { reason: err });
        check_reply(&text);
        assert!(
            text.contains("::<code><nowiki>{{goalsbot|resolve|12|wiki}}</nowiki></code> – ")
                && text
                    .contains("::<code><nowiki>{{goalsbot|resolve|12|store}}</nowiki></code> – "),
            "{text}"
        );
    }
    let err = only("{{goalsbot|snyc}}").unwrap_err();
    assert!(err.contains("new-quarter, accept and resolve"), "{err}");
}

fn resolve_reply(answer: ResolveAnswer) -> String {
    let text = reply(&ReplyKind::Resolve {
        answer,
        status_page: Some("User:GoalsBot/Status".into()),
    });
    check_reply(&text);
    text
}

#[test]
fn resolve_replies_say_what_was_settled_or_why_not() {
    let written = |side, value: serde_json::Value, others, written| ResolveAnswer::Settled {
        conflict: 12,
        record: "2020-21/content-integrity/kr2".into(),
        field: "quarters.Q4.status".into(),
        page: "Wikimedia Technology/Goals/2020-21 Q3".into(),
        side,
        value: Some(value),
        others,
        run_id: "2021-01-05T10:00Z-1a2b".into(),
        written,
    };
    let settled = |side, value, others| written(side, value, others, None);
    assert_eq!(
        resolve_reply(written(
            Side::Wiki,
            serde_json::json!("at-risk"),
            0,
            Some(3)
        )),
        ":<!-- goalsbot-reply: r200-0 -->[[User:Alice|Alice]], I settled conflict #12 \
         (2020-21/content-integrity/kr2, field quarters.Q4.status, on \
         [[Wikimedia Technology/Goals/2020-21 Q3]]) as you asked: the store takes the wiki's \
         value, at-risk; I wrote it to the year's pages (3 edits). Run \
         <code>2021-01-05T10:00Z-1a2b</code>. ~~~~\n"
    );
    let text = resolve_reply(settled(Side::Wiki, serde_json::json!("at-risk"), 0));
    assert!(
        text.contains(
            "the store takes the wiki's value, at-risk; the next push or sync writes it to the \
             year's other pages."
        ),
        "{text}"
    );
    let text = resolve_reply(written(
        Side::Store,
        serde_json::json!("complete"),
        0,
        Some(0),
    ));
    assert!(
        text.contains("the store keeps its value, complete; the year's pages already show it."),
        "{text}"
    );
    let text = resolve_reply(settled(Side::Store, serde_json::json!("complete"), 2));
    assert!(
        text.contains(
            "as you asked: the store keeps its value, complete; the next push or sync writes it \
             to [[Wikimedia Technology/Goals/2020-21 Q3]]. 2 more conflicts on the field are \
             settled with it"
        ),
        "{text}"
    );
    // A hostile value is text.
    let text = resolve_reply(settled(
        Side::Wiki,
        serde_json::json!("x}}{{goalsbot|sync}} |} ~~~~ </nowiki>"),
        1,
    ));
    assert!(
        text.contains("<nowiki>x}}{{goalsbot|sync}} |} ~~~~ &lt;/nowiki&gt;</nowiki>"),
        "{text}"
    );
    assert!(text.contains("1 more conflict on the field is settled with it"));

    let text = resolve_reply(ResolveAnswer::Unknown { conflict: 99 });
    assert!(
        text.contains(
            "[[User:Alice|Alice]], there is no conflict #99, so I have not changed anything. \
             The waiting conflicts and their ids are listed on [[User:GoalsBot/Status]]. ~~~~"
        ),
        "{text}"
    );

    let text = resolve_reply(ResolveAnswer::AlreadySettled {
        conflict: 12,
        how: "store".into(),
        by: "User:Bob (on-wiki request)".into(),
        at: at(9, 30),
    });
    assert!(
        text.contains(
            "conflict #12 was already settled (the store kept its value) by \
             User:Bob (on-wiki request) on 2021-01-05 09:30:00 UTC, so I have \
             not changed anything. ~~~~"
        ),
        "{text}"
    );
    let text = resolve_reply(ResolveAnswer::AlreadySettled {
        conflict: 12,
        how: "settled".into(),
        by: "goalsbot".into(),
        at: at(9, 30),
    });
    assert!(
        text.contains("(the page came to show the store's value) by goalsbot"),
        "{text}"
    );

    let text = resolve_reply(ResolveAnswer::NotTaken {
        conflict: 12,
        reason: "the page changed since it was listed: it now says {{x}} (was at-risk)".into(),
    });
    assert!(
        text.contains(
            "I have not settled conflict #12: <nowiki>the page changed since it was listed: it \
             now says {{x}} (was at-risk)</nowiki>. Nothing was changed"
        ),
        "{text}"
    );
}
