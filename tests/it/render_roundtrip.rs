//! Rendered wikitext read back through the real wiki (save, Parsoid HTML, parser) gives the same records.
//!
//! This is what makes the escaping trustworthy: the proptest saves pages
//! full of markup-like text to MediaWiki 1.43 and reads them back the way
//! `pull` does. Each case saves a page, so the default is 24 cases;
//! `PROPTEST_CASES` overrides it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use goalsbot::config::{Config, CredentialSource, Credentials, Secret};
use goalsbot::core::parse::parse_quarter_page;
use goalsbot::core::records::{
    Export, FiscalYear, FiscalYearRecords, KeyResult, Kind, Objective, Quarter, QuarterEntry,
    Status,
};
use goalsbot::core::render::escape::collapse;
use goalsbot::core::render::{render_new_quarter, render_status_table};
use goalsbot::wiki::Wiki;
use mwbot::SaveOptions;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use crate::support::{root, test_wiki, unique_title};

pub(crate) fn fy() -> FiscalYear {
    FiscalYear::starting(2020)
}

/// One runtime and one logged-in bot for the whole module: the proptest
/// body is synchronous.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

pub(crate) fn wiki() -> &'static Wiki {
    static WIKI: OnceLock<Wiki> = OnceLock::new();
    WIKI.get_or_init(|| {
        let w = test_wiki();
        let mut config = Config::default();
        config.wiki.url = w.url.clone();
        config.wiki.edit_interval_secs = 0;
        config.wiki.user_agent_contact = "goalsbot tests".into();
        let creds = Credentials::BotPassword {
            username: w.username.clone(),
            password: Secret::new(w.password.clone()),
            source: CredentialSource::Environment,
        };
        runtime()
            .block_on(Wiki::connect(&config, &creds))
            .expect("bot login to the test wiki")
    })
}

/// Saves `text` as the bot and returns the saved revision's Parsoid HTML.
pub(crate) fn save_and_fetch_html(title: &str, text: &str) -> String {
    let wiki = wiki();
    runtime().block_on(async {
        let page = wiki
            .bot()
            .expect("logged in")
            .page(title)
            .expect("valid title");
        page.save(
            text.to_string(),
            &SaveOptions::summary("goalsbot render round trip test"),
        )
        .await
        .unwrap_or_else(|e| panic!("saving {title}: {e}"));
        let revs = wiki
            .latest_revisions(&[title.to_string()])
            .await
            .expect("revision check");
        let revid = revs[0]
            .latest
            .as_ref()
            .expect("the page exists after saving")
            .revid;
        wiki.revision_html(title, revid)
            .await
            .expect("Parsoid HTML")
    })
}

/// What a round trip must keep of a KR.
#[derive(Debug, PartialEq, Eq)]
struct KrView {
    id: String,
    kind: Kind,
    number: u32,
    text: String,
    managers: Vec<String>,
    baseline: Option<String>,
    year_goal: Option<String>,
    statuses: BTreeMap<Quarter, (Option<Status>, Option<String>)>,
}

/// What a round trip must keep of an objective.
#[derive(Debug, PartialEq, Eq)]
struct ObjectiveView {
    id: String,
    program: Option<String>,
    title: String,
    managers: Vec<String>,
    description: Option<String>,
    key_results: Vec<KrView>,
}

fn view(objectives: &[Objective]) -> Vec<ObjectiveView> {
    objectives
        .iter()
        .map(|o| ObjectiveView {
            id: o.id.clone(),
            program: o.program.clone(),
            title: o.title.clone(),
            managers: o.managers.clone(),
            description: o.description.clone(),
            key_results: o
                .key_results
                .iter()
                .map(|k| KrView {
                    id: k.id.clone(),
                    kind: k.kind,
                    number: k.number,
                    text: k.text.clone(),
                    managers: k.managers.clone(),
                    baseline: k.baseline.clone(),
                    year_goal: k.year_goal.clone(),
                    statuses: k
                        .quarters
                        .iter()
                        .filter(|(_, e)| e.status.is_some() || e.note.is_some())
                        .map(|(q, e)| (*q, (e.status, e.note.clone())))
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// Pieces of text that wikitext, HTML or the save pipeline could take as markup.
const HOSTILE: &[&str] = &[
    "|",
    "||",
    "!!",
    "!",
    "{{",
    "}}",
    "{|",
    "|}",
    "|-",
    "|+",
    "[[",
    "]]",
    "[",
    "]",
    "[http://example.org x]",
    "http://example.org/a?b=c&d",
    "~~~~",
    "~~~",
    "~~~~~",
    "__TOC__",
    "__NOTOC__",
    "<nowiki>",
    "</nowiki>",
    "</NOWIKI >",
    "<b>",
    "<br />",
    "<!--",
    "-->",
    "<ref>x</ref>",
    "&amp;",
    "&lt;",
    "&",
    "&#124;",
    "&nbsp;",
    "----",
    "ISBN 9780306406157",
    "RFC 1234",
    "PMID 12345",
    "''",
    "'''",
    "=",
    "==",
    "*",
    "#",
    ":",
    ";",
    "-",
    "–",
    ".",
    "{{!}}",
    "{{PAGENAME}}",
    "{{subst:PAGENAME}}",
    "-{",
    "}-",
    "%",
    "\"",
    "'",
    "<",
    ">",
    "\\",
    "T123456",
    "Done",
    "שלום עולם",
    "مَرْحَبًا",
    "\u{200F}",
    "q\u{0323}\u{0301}",
    "x\u{0301}",
    "文字",
    "😀",
    "\u{a0}",
    "\n",
    "  ",
];

/// A hostile, non-empty, single-line value as the store would hold it.
pub(crate) fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(HOSTILE).prop_map(str::to_string),
        2 => "[a-zA-Z0-9]{1,8}",
    ];
    let short = proptest::collection::vec((piece, proptest::bool::ANY), 1..7).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(p, space)| if space { format!("{p} ") } else { p })
            .collect::<String>()
    });
    prop_oneof![
        8 => short.clone(),
        // Very long text.
        1 => short.prop_map(|s| format!("{s} ").repeat(2_000 / (s.len() + 1) + 1)),
    ]
    .prop_map(|s| collapse(&s))
    .prop_filter("non-empty after collapsing", |s| !s.is_empty())
}

/// A name the `A, B and C` manager line can carry: no list separators.
pub(crate) fn name() -> impl Strategy<Value = String> {
    hostile().prop_filter("no list separators", |n| {
        let padded = format!(" {n} ");
        !n.contains(',') && !padded.contains(" and ") && !padded.contains(" & ")
    })
}

pub(crate) fn opt(s: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(s)
}

fn quarter_entry() -> impl Strategy<Value = QuarterEntry> {
    (
        proptest::option::of(proptest::sample::select(Status::ALL.to_vec())),
        opt(hostile()),
    )
        .prop_map(|(status, note)| QuarterEntry {
            objective: None,
            goals: vec![],
            status,
            note,
            note_wikitext: None,
        })
}

/// KR text: anything but a `Baseline:` sentence, which the parser moves to
/// the baseline field (`parse` module docs).
pub(crate) fn kr_text() -> impl Strategy<Value = String> {
    prop_oneof![1 => Just(String::new()), 6 => hostile()]
        .prop_filter("no Baseline: sentence", |t| {
            !t.to_lowercase().contains("baseline")
        })
}

fn key_result(kind: Kind) -> impl Strategy<Value = KeyResult> {
    (
        if kind == Kind::KeyResult {
            kr_text().boxed()
        } else {
            kr_text()
                .prop_filter("items have text", |t| !t.is_empty())
                .boxed()
        },
        proptest::collection::vec(name(), 0..3),
        opt(hostile()),
        opt(hostile()),
        proptest::collection::btree_map(
            proptest::sample::select(Quarter::ALL.to_vec()),
            quarter_entry(),
            0..4,
        ),
    )
        .prop_map(
            move |(text, managers, baseline, year_goal, quarters)| KeyResult {
                id: String::new(),
                kind,
                number: 0,
                text,
                managers,
                baseline,
                year_goal,
                links: vec![],
                quarters,
            },
        )
}

/// A title the heading `program - title` splits back into the same two parts.
fn title() -> impl Strategy<Value = String> {
    hostile().prop_filter("splits back", |t| {
        !t.contains(" - ") && !t.starts_with("- ") && t != "-"
    })
}

/// A description that reads as prose, not as a label line.
fn description() -> impl Strategy<Value = String> {
    hostile().prop_filter("not a label", |d| {
        let l = d.to_lowercase();
        !(l.starts_with("kr")
            || l.starts_with('q')
            || l.starts_with("objective")
            || l.starts_with("key result"))
    })
}

fn objective() -> impl Strategy<Value = Objective> {
    (
        opt(hostile()),
        title(),
        proptest::collection::vec(name(), 0..3),
        opt(description()),
        proptest::collection::vec(
            prop_oneof![
                3 => key_result(Kind::KeyResult),
                1 => key_result(Kind::ObjectiveItem),
                1 => key_result(Kind::Metric),
            ],
            0..4,
        ),
        proptest::collection::btree_set(1u32..40, 4),
    )
        .prop_map(
            |(program, title, managers, description, mut krs, numbers)| {
                let mut numbers = numbers.into_iter();
                let mut items = 0;
                let mut metrics = 0;
                // Metrics come after the KRs and items, as the parser orders them.
                krs.sort_by_key(|k| k.kind == Kind::Metric);
                for kr in &mut krs {
                    kr.number = match kr.kind {
                        Kind::KeyResult => numbers.next().expect("enough numbers"),
                        Kind::ObjectiveItem => {
                            items += 1;
                            items
                        }
                        Kind::Metric => {
                            metrics += 1;
                            // A metric lives in the status table alone: no
                            // managers, no quarter objective or goals there.
                            kr.managers.clear();
                            kr.quarters
                                .retain(|_, e| e.status.is_some() || e.note.is_some());
                            for e in kr.quarters.values_mut() {
                                e.objective = None;
                                e.goals.clear();
                            }
                            metrics
                        }
                    };
                }
                Objective {
                    id: String::new(),
                    program,
                    title,
                    managers,
                    description,
                    status: BTreeMap::new(),
                    target_quarter: None,
                    department: None,
                    key_results: krs,
                }
            },
        )
}

fn year() -> impl Strategy<Value = FiscalYearRecords> {
    proptest::collection::vec(objective(), 1..4).prop_map(|mut objectives| {
        for (i, o) in objectives.iter_mut().enumerate() {
            // Ids no title's slug could produce, so tables bind by their
            // section (as after a retitle), not by accident of a slug.
            o.id = format!("2020-21/generated-objective-{}", i + 1);
            for kr in &mut o.key_results {
                kr.id = format!("{}/{}{}", o.id, kr.kind.id_stem(), kr.number);
            }
        }
        FiscalYearRecords {
            fiscal_year: fy(),
            objectives,
        }
    })
}

pub(crate) fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

#[test]
fn new_quarter_pages_with_hostile_text_read_back_unchanged() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        // Each case is a save and a fetch; keep shrinking bounded.
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&year(), |records| {
        let text = render_new_quarter(&fy(), Quarter::Q3, &records, "Goalsbot test");
        let title = unique_title("render-roundtrip");
        let html = save_and_fetch_html(&title, &text);
        let parsed = parse_quarter_page(&html, &fy(), Quarter::Q3);
        let expected = view(&records.objectives);
        let actual = view(&parsed.objectives);
        if expected != actual {
            return Err(TestCaseError::fail(format!(
                "page {title} did not read back:\nexpected {expected:#?}\nactual {actual:#?}\nwarnings {:#?}\nwikitext:\n{text}",
                parsed.warnings
            )));
        }
        // A title with no letters or digits is reported (its id comes from
        // the table anyway); nothing else may be.
        let unexpected: Vec<&String> = parsed
            .warnings
            .iter()
            .filter(|w| !w.contains("has no letters or digits for an id"))
            .collect();
        prop_assert!(
            unexpected.is_empty(),
            "warnings on {}: {:?}",
            title,
            unexpected
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn fixture(stem: &str, ext: &str) -> String {
    let path = root().join(format!("tests/fixtures/pages/{stem}.{ext}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `page` with every bot status table replaced by `table(id)`, and a table
/// appended to the section of each objective in `objectives` that had none.
fn with_rendered_tables(page: &str, objectives: &[Objective]) -> String {
    let mut out = String::new();
    let mut placed: Vec<&str> = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let id = line
            .strip_prefix("{| class=\"wikitable goalsbot-status\" data-goalsbot-objective=\"")
            .and_then(|rest| rest.split('"').next());
        match id.and_then(|id| objectives.iter().find(|o| o.id == id)) {
            Some(o) => {
                for skipped in lines.by_ref() {
                    if skipped.starts_with("|}") {
                        break;
                    }
                }
                out.push_str(&render_status_table(o));
                placed.push(&o.id);
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    // Tables bind to their objective by id wherever they stand.
    for o in objectives {
        if !placed.contains(&o.id.as_str()) {
            out.push('\n');
            out.push_str(&render_status_table(o));
        }
    }
    out
}

#[test]
fn rendered_status_tables_of_every_fixture_objective_read_back_unchanged() {
    for q in Quarter::ALL {
        let stem = format!("Wikimedia_Technology%2FGoals%2F2020-21_{q}");
        let golden: Export = serde_json::from_str(&fixture(&stem, "json")).unwrap();
        let golden = &golden.fiscal_years[0].objectives;
        let text = with_rendered_tables(&fixture(&stem, "wikitext"), golden);
        let title = unique_title(&format!("render-tables-{q}"));
        let html = save_and_fetch_html(&title, &text);
        let parsed = parse_quarter_page(&html, &fy(), q);
        // The whole records, goals and task links included: the bot's tables
        // change nothing the page said.
        assert_eq!(
            serde_json::to_value(&parsed.objectives).unwrap(),
            serde_json::to_value(golden).unwrap(),
            "{q}: the page with rendered tables reads differently\nwikitext:\n{text}"
        );
    }
}

#[test]
fn a_rendered_fixture_year_reads_back_as_a_new_quarter_page() {
    // Every fixture objective of the Q3 page (which has statuses, baselines,
    // year goals, items and staff-edited cells) rendered as a new Q3 page.
    let golden: Export = serde_json::from_str(&fixture(
        "Wikimedia_Technology%2FGoals%2F2020-21_Q3",
        "json",
    ))
    .unwrap();
    let year = &golden.fiscal_years[0];
    let text = render_new_quarter(&fy(), Quarter::Q3, year, "Goalsbot test");
    let title = unique_title("render-new-quarter");
    let html = save_and_fetch_html(&title, &text);
    let parsed = parse_quarter_page(&html, &fy(), Quarter::Q3);
    assert_eq!(view(&parsed.objectives), view(&year.objectives));
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

#[test]
fn mediawiki_has_the_pipe_magic_word_but_escaping_does_not_need_it() {
    // MW 1.43 provides `{{!}}` as a magic word (no template needed); the
    // renderer still uses `<nowiki>`, which also covers `||`, `[[`, `~~~~`….
    let title = unique_title("pipe-magic-word");
    let html = save_and_fetch_html(&title, "a {{!}} b\n\n<nowiki>c || d ~~~~</nowiki>\n");
    // Parsoid marks it as the built-in parser function `!`, rendered `|`.
    assert!(html.contains(r#""function":"!""#), "{html}");
    assert!(html.contains(">|</span> b"), "{html}");
    assert!(html.contains("c || d ~~~~"), "{html}");
}
