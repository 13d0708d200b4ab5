//! Requests on the command page (`docs/requests.md`): finding them, who may ask, the emergency stop, rate limits and replies.
//!
//! Pure: wikitext and times in, requests, decisions and wikitext out. The
//! `watch` loop fetches the pages and revisions, decides with these
//! functions and saves what they return.
//!
//! # Requests
//!
//! A request is a `{{goalsbot|ACTION}}` or `{{goalsbot|ACTION|SCOPE}}`
//! template, or a decision on a conflict, `{{goalsbot|resolve|ID|wiki}}` or
//! `{{goalsbot|resolve|ID|store}}` (ID a positive integer, `#` allowed before
//! it; `wiki`/`store` in any case, spaces around them ignored), that MediaWiki
//! would expand: the name may start with `G` or
//! `g`, may carry `Template:`, and underscores and spaces around it do not
//! matter. Text that MediaWiki shows literally is never read: HTML comments
//! and the bodies of `<nowiki>`, `<pre>`, `<syntaxhighlight>`, `<source>`,
//! `<math>` and `<templatedata>`. That is how the page's documentation and the
//! bot's own replies (which show the syntax inside `<nowiki>`) stay inert.
//! As in MediaWiki, an opening tag without its closing tag hides nothing,
//! while an unclosed `<!--` hides the rest of the page.
//!
//! Sections are cut at headings of level 1 or 2 (`== Sync please ==`);
//! deeper headings belong to the section above them, and a heading line
//! inside a template's braces cuts nothing. Section 0 is the text
//! before the first heading (heading `""`), as in MediaWiki's numbering.
//!
//! # The allow-list page
//!
//! [`parse_allowlist`] reads one user per line, and only from lines that
//! cannot be mistaken for prose, so that a sentence on the page never
//! becomes a user name someone could register:
//!
//! ```text
//! * [[User:Example User]]            a list item opening with a user link
//! * [[User:Example_User|Ex]] (added 2021)   text after the link is ignored
//! # {{user|Example User}}           or with {{user|…}} / {{u|…}}
//! * Example User                    a list item that is just a name
//! [[User:Example User]]             a line that is only a link or {{user|…}}
//! ```
//!
//! List items start with `*` or `#` (any depth). HTML comments and
//! `<nowiki>` are ignored. Names are normalised as MediaWiki does (underscores
//! become spaces, runs of spaces one, first letter upper case); names
//! MediaWiki would not allow (`#<>[]|{}/`) are dropped.
//!
//! # The shutoff page
//!
//! The bot acts only while the shutoff page holds exactly `run` (surrounding
//! whitespace aside; `Run` or `run please` stop it). A missing page stops it
//! too: it "holds anything but run" and failing safe is the point of an
//! emergency stop; `doctor` and the watch loop say so, and the operator
//! creates the page with `run`.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::core::records::{FiscalYear, Quarter};
use crate::core::render::{escape, RenderError, Renderer, REPLY};
use crate::core::runlog::{self, RunSummary};
use crate::core::wikitext::{heading, hidden_ranges, masked};

/// What a request asks the bot to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Pull, then push.
    Sync,
    /// Wiki → store.
    Pull,
    /// Store → wiki.
    Push,
    /// Create a quarter page from the store.
    NewQuarter,
    /// Apply a quarter page the bot holds because its structure changed
    /// (a deleted heading, renumbered KRs), as a person checked it, then
    /// push its year (`pull --accept TITLE`, then `push`).
    Accept,
}

impl Action {
    /// All actions, in the order the documentation lists them.
    pub const ALL: [Action; 5] = [
        Action::Sync,
        Action::Pull,
        Action::Push,
        Action::NewQuarter,
        Action::Accept,
    ];

    /// The spelling in a request: `sync`, `pull`, `push`, `new-quarter`, `accept`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Sync => "sync",
            Action::Pull => "pull",
            Action::Push => "push",
            Action::NewQuarter => "new-quarter",
            Action::Accept => "accept",
        }
    }
}

impl FromStr for Action {
    type Err = String;

    /// Case does not matter (`Sync` is `sync`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown action {}; the actions are sync, pull, push, new-quarter, accept and resolve",
                    quote(s)
                )
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which pages a request covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every tracked page (no scope given).
    All,
    /// One fiscal year's pages.
    Year(FiscalYear),
    /// One quarter page.
    Quarter(FiscalYear, Quarter),
}

impl Scope {
    /// The fiscal year, if the scope names one.
    pub fn fiscal_year(&self) -> Option<&FiscalYear> {
        match self {
            Scope::All => None,
            Scope::Year(fy) | Scope::Quarter(fy, _) => Some(fy),
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    /// `2020-21` (any spelling [`FiscalYear`] reads) or `2020-21 Q3`; empty
    /// text is an error, not [`Scope::All`] (`{{goalsbot|sync|}}` is more
    /// likely a slip than a wish to sync everything).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err("the scope after the second | is empty; leave out that | to cover every page, or write a fiscal year such as 2020-21".into());
        }
        let bad = || {
            format!(
                "cannot read the scope {}; write a fiscal year such as 2020-21 or a quarter such as 2020-21 Q3",
                quote(s)
            )
        };
        if let Some((fy, q)) = t.rsplit_once(char::is_whitespace) {
            if q.starts_with(['Q', 'q']) {
                let q: Quarter = q.parse().map_err(|_| bad())?;
                let fy: FiscalYear = fy.parse().map_err(|_| bad())?;
                return Ok(Scope::Quarter(fy, q));
            }
        }
        t.parse().map(Scope::Year).map_err(|_| bad())
    }
}

impl fmt::Display for Scope {
    /// `all`, `2020-21`, `2020-21 Q3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all"),
            Scope::Year(fy) => write!(f, "{fy}"),
            Scope::Quarter(fy, q) => write!(f, "{fy} {q}"),
        }
    }
}

/// The plain-text command a parsed request stands for: `sync`,
/// `push 2020-21 Q3` (as [`RunSummary::command`] holds it).
pub fn command_text(action: Action, scope: &Scope) -> String {
    match scope {
        Scope::All => action.as_str().to_string(),
        scope => format!("{action} {scope}"),
    }
}

/// Which side of a conflict a person takes (`{{goalsbot|resolve|ID|wiki}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The store takes the value on the wiki page.
    Wiki,
    /// The store keeps its value; the next push writes it to the page.
    Store,
}

impl Side {
    /// `wiki` or `store`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Wiki => "wiki",
            Side::Store => "store",
        }
    }
}

impl FromStr for Side {
    type Err = String;

    /// `wiki` or `store`, case and surrounding whitespace aside.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("wiki") {
            Ok(Side::Wiki)
        } else if t.eq_ignore_ascii_case("store") {
            Ok(Side::Store)
        } else {
            Err(format!(
                "the side after the conflict id must be wiki (the store takes the wiki's value) or store (the store keeps its value), not {}",
                quote(s)
            ))
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request asks for: a run, or a person's decision on a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ask {
    /// Run an action over a scope (`{{goalsbot|sync|2020-21}}`).
    Run(Action, Scope),
    /// Settle a waiting conflict (`{{goalsbot|resolve|12|wiki}}`), as
    /// `goalsbot resolve 12 --take wiki` does.
    Resolve {
        /// The conflict id (the status page and `goalsbot conflicts` list it).
        conflict: i64,
        /// Which value wins.
        side: Side,
    },
}

impl Ask {
    /// The plain-text command it stands for: `sync`, `push 2020-21 Q3`,
    /// `resolve 12 --take wiki`.
    pub fn command_text(&self) -> String {
        match self {
            Ask::Run(action, scope) => command_text(*action, scope),
            Ask::Resolve { conflict, side } => format!("resolve {conflict} --take {side}"),
        }
    }
}

/// One request template found on the command page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// 0-based index of its section (0: before the first heading).
    pub section: usize,
    /// The section's heading text, trimmed (`""` for section 0).
    pub heading: String,
    /// The template exactly as written, braces included.
    pub template: String,
    /// What it asks, or why the request cannot be read (plain text,
    /// escaped when replied).
    pub parsed: Result<Ask, String>,
}

/// Every request in `wikitext`, in page order (see the module doc for what
/// counts as one).
pub fn find_requests(wikitext: &str) -> Vec<Request> {
    scan(wikitext)
        .found
        .into_iter()
        .map(|f| f.request)
        .collect()
}

/// The requests of `current` that `parent` (the revision before) did not
/// have: the ones added by the revision's author (with no memory of earlier
/// revisions; the watcher uses [`new_requests`]).
pub fn added_requests(parent: &str, current: &str) -> Vec<Request> {
    new_requests(parent, current, &Seen::default())
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// The requests of `current` that are new: neither carried over from
/// `parent` (the last visible revision before) nor a request the page held
/// before coming back (`seen`).
///
/// A request of `parent` carries over to `current` when it stands there
/// with the same heading, template and line (its line is the text of the
/// line(s) it stands on, so usually its signature with the timestamp); or
/// with the same template and line under another heading (a heading renamed
/// or a typo fixed); or with the same heading and template on an edited line.
/// Each request of `parent` carries over at most once, so the same request
/// asked again (even in a section of the same name) is new.
///
/// What is left is compared with `seen`, the memory of every request line
/// the page ever held: a template on a line the page held before (as many
/// times as it held it at once) is that earlier request come back — restored
/// by a revert, an undo or a copy — and is not new, whoever restored it.
///
/// Reply markers play no part: nobody can hide a request by pasting one.
/// Each new request comes with its line.
pub fn new_requests(parent: &str, current: &str, seen: &Seen) -> Vec<(Request, String)> {
    let before = scan(parent).found;
    let now = scan(current).found;
    let mut used = vec![false; before.len()];
    let mut carried = vec![false; now.len()];
    let passes: [fn(&Found, &Found) -> bool; 3] = [
        |a, b| {
            a.request.heading == b.request.heading
                && a.request.template == b.request.template
                && a.line == b.line
        },
        |a, b| a.request.template == b.request.template && a.line == b.line,
        |a, b| a.request.heading == b.request.heading && a.request.template == b.request.template,
    ];
    for same in passes {
        for (i, f) in now.iter().enumerate() {
            if carried[i] {
                continue;
            }
            if let Some(j) = (0..before.len()).find(|&j| !used[j] && same(&before[j], f)) {
                used[j] = true;
                carried[i] = true;
            }
        }
    }
    // Per line: how many of the page's requests on it are accounted for.
    let mut accounted: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, f) in now.iter().enumerate() {
        if carried[i] {
            *accounted
                .entry((f.request.template.as_str(), f.line.as_str()))
                .or_default() += 1;
        }
    }
    let mut added = Vec::new();
    for (i, f) in now.iter().enumerate() {
        if carried[i] {
            continue;
        }
        let key = (f.request.template.as_str(), f.line.as_str());
        let n = accounted.entry(key).or_default();
        if *n < seen.times(key.0, key.1) {
            *n += 1;
        } else {
            added.push((f.request.clone(), f.line.clone()));
        }
    }
    added
}

/// Who added the requests new in a visible revision saved by `author`, when
/// the revisions since the last visible one whose text is hidden were saved
/// by `hidden_authors`: `author` when none was hidden or all were theirs;
/// `None` when it cannot be told (a request may have come with a hidden
/// revision by someone else, or its author is hidden too).
pub fn attribute(author: &str, hidden_authors: &[String]) -> Option<String> {
    let author = normalize_user(author);
    (!author.is_empty() && hidden_authors.iter().all(|h| normalize_user(h) == author))
        .then_some(author)
}

/// Why a request whose author cannot be told is not run (a malformed-style reply).
pub const UNATTRIBUTED: &str = "it came with a revision whose text an admin hid, so I cannot tell who added it; please ask again in a new section and sign it (~~~~)";

/// The memory of a watched page: every request line it ever held, with the
/// most times it held it at once. It only grows, so that deleting, blanking
/// or reverting can never make an old request look new.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    lines: std::collections::BTreeMap<(String, String), usize>,
}

/// One remembered line, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SeenLine {
    template: String,
    line: String,
    times: usize,
}

impl Seen {
    /// How many times at once the page held `template` on `line`.
    pub fn times(&self, template: &str, line: &str) -> usize {
        self.lines
            .get(&(template.to_string(), line.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Adds the requests of `wikitext` (a revision of the page) to the memory.
    pub fn remember(&mut self, wikitext: &str) {
        let mut counts: HashMap<(String, String), usize> = HashMap::new();
        for f in scan(wikitext).found {
            *counts.entry((f.request.template, f.line)).or_default() += 1;
        }
        for (key, n) in counts {
            let e = self.lines.entry(key).or_default();
            *e = (*e).max(n);
        }
    }

    /// How many lines are remembered.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The memory as JSON, for the store.
    pub fn to_json(&self) -> String {
        let lines: Vec<SeenLine> = self
            .lines
            .iter()
            .map(|((template, line), times)| SeenLine {
                template: template.clone(),
                line: line.clone(),
                times: *times,
            })
            .collect();
        serde_json::to_string(&lines).unwrap_or_else(|_| "[]".into())
    }

    /// The memory from [`Seen::to_json`]'s text.
    pub fn from_json(text: &str) -> Result<Seen, serde_json::Error> {
        let lines: Vec<SeenLine> = serde_json::from_str(text)?;
        Ok(Seen {
            lines: lines
                .into_iter()
                .map(|l| ((l.template, l.line), l.times))
                .collect(),
        })
    }
}

/// `wikitext` with `reply` appended at the end of the request's section
/// (after its last line with text, before the blank lines and the next
/// heading), on a line of its own; every other byte is kept.
///
/// The section is found again by heading and template, so sections added or
/// removed since do not matter. When the same request stands in several
/// sections of that heading, the first one without a reply gets it.
/// `None` when the section or the request is gone.
pub fn insert_reply(wikitext: &str, req: &Request, reply: &str) -> Option<String> {
    insert_reply_on_line(wikitext, req, "", reply)
}

/// [`insert_reply`], also finding the request by its template and `line`
/// (see [`new_requests`]) when its heading was renamed since.
pub fn insert_reply_on_line(
    wikitext: &str,
    req: &Request,
    line: &str,
    reply: &str,
) -> Option<String> {
    let scanned = scan(wikitext);
    let mut candidates: Vec<&Found> = scanned
        .found
        .iter()
        .filter(|f| f.request.heading == req.heading && f.request.template == req.template)
        .collect();
    if candidates.is_empty() && !line.trim().is_empty() {
        candidates = scanned
            .found
            .iter()
            .filter(|f| f.request.template == req.template && f.line == line.trim())
            .collect();
    }
    if candidates.is_empty() {
        // The request's line was changed since (another user edited the
        // template): its section, found by its heading, still gets the
        // reply of what ran.
        candidates = scanned
            .found
            .iter()
            .filter(|f| f.request.heading == req.heading)
            .collect();
    }
    // (A section whose request was taken out gets no reply: it was withdrawn.)
    let chosen = candidates
        .iter()
        .find(|f| !scanned.answered_in_place(wikitext, f))
        .or(candidates.last())?;
    let section = &scanned.sections[chosen.request.section];
    let body = &wikitext[section.range.clone()];
    // After the end of the last line that holds anything but whitespace.
    let mut at = match body.rfind(|c: char| !c.is_whitespace()) {
        Some(i) => {
            let rest = &body[i..];
            section.range.start + i + rest.find('\n').unwrap_or(rest.len())
        }
        None => section.range.end,
    };
    // An unclosed `<!--` runs to the end of the page: the reply goes before
    // it, or nobody would see it.
    if let Some(r) = hidden_ranges(wikitext).into_iter().find(|r| {
        let hidden = &wikitext[r.clone()];
        let unclosed = hidden.starts_with("<!--") && !hidden[4..].ends_with("-->");
        r.start < at && (at < r.end || unclosed)
    }) {
        at = r.start;
    }
    let mut out = String::with_capacity(wikitext.len() + reply.len() + 1);
    out.push_str(&wikitext[..at]);
    if at > 0 && !wikitext[..at].ends_with('\n') {
        out.push('\n');
    }
    out.push_str(reply.trim_end_matches(['\n', '\r']));
    if at < wikitext.len() && !wikitext[at..].starts_with('\n') {
        out.push('\n');
    }
    out.push_str(&wikitext[at..]);
    Some(out)
}

/// Whether a reply that could not be saved on its `tries`-th poll is given
/// up: after `max` polls (at least one). Its action ran once and is not run
/// again, whatever this says.
pub fn reply_given_up(tries: u32, max: u32) -> bool {
    tries >= max.max(1)
}

/// The log line and status-page note for a reply given up.
pub fn given_up_note(
    request_id: &str,
    page: &str,
    requester: &str,
    tries: u32,
    what: &str,
    error: &str,
) -> String {
    format!(
        "the reply to request {request_id} by {requester} on {page} could not be saved \
         ({tries} tries; last: {error}); the request was served once ({what}) and is not \
         run again"
    )
}

/// The id of the `index`-th request (0-based) that revision `revid` added:
/// `r1234-0`. Stable across restarts, so it can key "already answered".
pub fn request_id(revid: u64, index: usize) -> String {
    format!("r{revid}-{index}")
}

/// The invisible marker a reply carries: `<!-- goalsbot-reply: r1234-0 -->`.
pub fn reply_marker(request_id: &str) -> String {
    format!("<!-- goalsbot-reply: {} -->", clean_id(request_id))
}

/// Whether `wikitext` holds a marker for `request_id`. Anyone can paste
/// one, so the watcher decides nothing by it (it asks the bot's own
/// revisions); tests and readers use it.
pub fn has_reply(wikitext: &str, request_id: &str) -> bool {
    let id = clean_id(request_id);
    REPLY_MARKER
        .captures_iter(wikitext)
        .any(|c| c.get(1).is_some_and(|m| m.as_str() == id))
}

/// Characters that may stand in a marker: nothing that could end the comment.
fn clean_id(id: &str) -> String {
    id.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

static REPLY_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<!--\s*goalsbot-reply:\s*([A-Za-z0-9._:-]+)\s*-->").expect("valid pattern")
});

// ---------------------------------------------------------------------------
// Scanning

/// A level-1 or level-2 section: `range` runs from the start of its heading
/// line (or 0) to the start of the next such heading (or the end).
#[derive(Debug)]
struct Section {
    range: Range<usize>,
}

#[derive(Debug)]
struct Found {
    request: Request,
    /// Byte range of the template in the text.
    span: Range<usize>,
    /// The text of the line(s) the template stands on, trimmed.
    line: String,
}

#[derive(Debug)]
struct Scanned {
    sections: Vec<Section>,
    found: Vec<Found>,
}

impl Scanned {
    /// Whether the section of `f` holds at least as many reply markers as
    /// it holds requests up to and including `f`.
    fn answered_in_place(&self, text: &str, f: &Found) -> bool {
        let range = self.sections[f.request.section].range.clone();
        let rank = self
            .found
            .iter()
            .filter(|g| g.request.section == f.request.section && g.span.start <= f.span.start)
            .count();
        REPLY_MARKER.find_iter(&text[range]).count() >= rank
    }
}

static COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<!--.*?(?:-->|$)").expect("valid pattern"));

fn scan(text: &str) -> Scanned {
    let masked = masked(text);
    let spans = template_spans(&masked);
    // A heading inside a template's braces belongs to the template: it
    // splits no section, so no section boundary cuts a template.
    let mut outer: Vec<Range<usize>> = Vec::new();
    let mut by_start = spans.clone();
    by_start.sort_by_key(|s| s.start);
    for s in by_start {
        match outer.last_mut() {
            Some(last) if s.start < last.end => last.end = last.end.max(s.end),
            _ => outer.push(s),
        }
    }
    let in_template = |pos: usize| {
        let i = outer.partition_point(|r| r.start < pos);
        i > 0 && pos < outer[i - 1].end
    };
    let mut sections = vec![Section { range: 0..0 }];
    let mut headings = vec![String::new()];
    let mut pos = 0;
    for line in masked.split_inclusive('\n') {
        if let Some((level, inner)) = heading(line) {
            if level <= 2 && !in_template(pos) {
                sections.last_mut().expect("section 0").range.end = pos;
                sections.push(Section { range: pos..pos });
                headings.push(text[pos + inner.start..pos + inner.end].trim().to_string());
            }
        }
        pos += line.len();
    }
    sections.last_mut().expect("section 0").range.end = text.len();

    let mut found = Vec::new();
    for span in spans {
        let inner = &masked[span.start + 2..span.end - 2];
        let parts = split_params(inner);
        let Some(name_match) = template_name(parts[0]) else {
            continue;
        };
        // `{{<nowiki/>goalsbot|…}}` names no template MediaWiki would
        // expand; a comment in the name is fine (it is removed first).
        let raw_name = &text[span.start + 2..span.start + 2 + parts[0].len()];
        if COMMENT.replace_all(raw_name, "").contains('<') {
            continue;
        }
        let section = sections
            .iter()
            .rposition(|s| s.range.start <= span.start)
            .unwrap_or(0);
        let parsed = match name_match {
            NameMatch::Exact => parse_params(&parts[1..]),
            NameMatch::WrongCase => Err(format!(
                "the template is called goalsbot (only its first letter may be upper case), not {}",
                quote(parts[0])
            )),
        };
        let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[span.end..]
            .find('\n')
            .map_or(text.len(), |i| span.end + i);
        found.push(Found {
            request: Request {
                section,
                heading: headings[section].clone(),
                template: text[span.clone()].to_string(),
                parsed,
            },
            line: text[line_start..line_end].trim().to_string(),
            span,
        });
    }
    found.sort_by_key(|f| f.span.start);
    Scanned { sections, found }
}

/// The byte ranges of every `{{…}}` in masked text, matched innermost first.
fn template_spans(masked: &str) -> Vec<Range<usize>> {
    let bytes = masked.as_bytes();
    let mut open = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'{', b'{') => {
                open.push(i);
                i += 2;
            }
            (b'}', b'}') => {
                if let Some(start) = open.pop() {
                    spans.push(start..i + 2);
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    spans
}

/// Splits a template's inside at the `|`s that are not inside a nested
/// template or link.
fn split_params(inner: &str) -> Vec<&str> {
    let bytes = inner.as_bytes();
    let (mut braces, mut brackets) = (0usize, 0usize);
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let pair = bytes.get(i..i + 2);
        match (bytes[i], pair) {
            (_, Some(b"{{")) => {
                braces += 1;
                i += 2;
                continue;
            }
            (_, Some(b"}}")) if braces > 0 => {
                braces -= 1;
                i += 2;
                continue;
            }
            (_, Some(b"[[")) => {
                brackets += 1;
                i += 2;
                continue;
            }
            (_, Some(b"]]")) if brackets > 0 => {
                brackets -= 1;
                i += 2;
                continue;
            }
            (b'|', _) if braces == 0 && brackets == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&inner[start..]);
    parts
}

enum NameMatch {
    /// `goalsbot` or `Goalsbot`: the template MediaWiki would expand.
    Exact,
    /// `GoalsBot`, `GOALSBOT`: another page to MediaWiki, surely meant as ours.
    WrongCase,
}

fn template_name(raw: &str) -> Option<NameMatch> {
    let name = raw.replace('_', " ");
    let name = name.trim();
    let name = match name.split_once(':') {
        Some((ns, rest)) if ns.trim().eq_ignore_ascii_case("template") => rest.trim(),
        _ => name,
    };
    match name {
        "goalsbot" | "Goalsbot" => Some(NameMatch::Exact),
        n if n.eq_ignore_ascii_case("goalsbot") => Some(NameMatch::WrongCase),
        _ => None,
    }
}

fn parse_params(params: &[&str]) -> Result<Ask, String> {
    if params.iter().any(|p| p.contains('=')) {
        return Err(
            "the parameters have no names; write {{goalsbot|sync|2020-21}}, not action=…".into(),
        );
    }
    if let Some((first, rest)) = params.split_first() {
        if first.trim().eq_ignore_ascii_case("resolve") {
            return parse_resolve(rest);
        }
    }
    let (action, scope) = match params {
        [] => {
            return Err("the request names no action; write for example {{goalsbot|sync}}".into())
        }
        [a] => (a.trim(), None),
        [a, s] => (a.trim(), Some(*s)),
        _ => {
            return Err(format!(
                "too many parameters ({}); a request takes an action and at most one scope",
                params.len()
            ))
        }
    };
    if action.is_empty() {
        return Err("the action after the first | is empty; the actions are sync, pull, push, new-quarter, accept and resolve".into());
    }
    let action: Action = action.parse()?;
    let scope = match scope {
        None => Scope::All,
        Some(s) => s.parse()?,
    };
    if action == Action::Accept && !matches!(scope, Scope::Quarter(..)) {
        return Err(
            "accept needs the quarter page the bot holds, such as {{goalsbot|accept|2020-21 Q3}}"
                .into(),
        );
    }
    if action == Action::NewQuarter && !matches!(scope, Scope::Quarter(..)) {
        return Err(
            "new-quarter needs a quarter, such as {{goalsbot|new-quarter|2020-21 Q4}}".into(),
        );
    }
    Ok(Ask::Run(action, scope))
}

/// The syntax of a resolve request, for its errors.
const RESOLVE_SYNTAX: &str = "{{goalsbot|resolve|12|wiki}} or {{goalsbot|resolve|12|store}} (12: the conflict's id on the status page)";

/// The parameters after `resolve`: a conflict id (a positive integer, `#`
/// allowed before it) and a side (`wiki` or `store`, any case).
fn parse_resolve(params: &[&str]) -> Result<Ask, String> {
    let (id, side) = match params {
        [id, side] => (*id, *side),
        [] | [_] => {
            return Err(format!(
                "resolve needs a conflict id and a side; write {RESOLVE_SYNTAX}"
            ))
        }
        _ => {
            return Err(format!(
                "too many parameters ({}); write {RESOLVE_SYNTAX}",
                params.len() + 1
            ))
        }
    };
    let digits = id.trim();
    let digits = digits.strip_prefix('#').unwrap_or(digits).trim();
    let conflict = match digits.parse::<i64>() {
        Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            return Err(format!(
                "cannot read the conflict id {}; it is a number, such as 12 in {RESOLVE_SYNTAX}",
                quote(id)
            ))
        }
    };
    let side: Side = side.parse()?;
    Ok(Ask::Resolve { conflict, side })
}

/// User text quoted for a reason, collapsed and shortened.
fn quote(s: &str) -> String {
    const MAX: usize = 40;
    let s = escape::collapse(s);
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("“{}…”", &s[..i]),
        None => format!("“{s}”"),
    }
}

// ---------------------------------------------------------------------------
// Who may ask

/// A user name as MediaWiki stores it: underscores are spaces, runs of
/// whitespace one space, no whitespace at either end, first letter upper case.
pub fn normalize_user(name: &str) -> String {
    let collapsed = escape::collapse(&name.replace('_', " "));
    let mut chars = collapsed.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Whether MediaWiki could have a user of that (normalised) name.
fn is_valid_user(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['#', '<', '>', '[', ']', '|', '{', '}', '/', '\n'])
        && !name.contains("~~~")
}

static USER_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[\[\s*:?\s*[Uu][Ss][Ee][Rr]\s*:([^\]|]*)(?:\|[^\]]*)?\]\]")
        .expect("valid pattern")
});
static USER_TEMPLATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\{\{\s*(?:[Uu]ser|[Uu])\s*\|\s*(?:1\s*=)?([^|}]*)\}\}").expect("valid pattern")
});

/// The user names an allow-list page lists (format in the module doc),
/// normalised, each once, in page order.
pub fn parse_allowlist(wikitext: &str) -> Vec<String> {
    let masked = masked(wikitext);
    let mut names: Vec<String> = Vec::new();
    for line in masked.lines() {
        let line = line.trim();
        let (item, is_list) = match line.strip_prefix(['*', '#']) {
            Some(rest) => (rest.trim_start_matches(['*', '#', ':']).trim(), true),
            None => (line, false),
        };
        let name = if let Some(c) = USER_LINK.captures(item) {
            (is_list || c[0].len() == item.len()).then(|| c[1].to_string())
        } else if let Some(c) = USER_TEMPLATE.captures(item) {
            (is_list || c[0].len() == item.len()).then(|| c[1].to_string())
        } else if is_list && !item.contains(['[', ']', '{', '}', '|', '<', '>', '=', ':']) {
            Some(item.to_string())
        } else {
            None
        };
        let Some(name) = name.map(|n| normalize_user(&n)) else {
            continue;
        };
        if is_valid_user(&name) && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Whether `user` is one of `allowed`, comparing names as MediaWiki does
/// (first letter case-insensitive, `_` the same as a space).
pub fn is_allowed(user: &str, allowed: &[String]) -> bool {
    let user = normalize_user(user);
    !user.is_empty() && allowed.iter().any(|a| normalize_user(a) == user)
}

/// Whether the shutoff page lets the bot act: only when its content,
/// trimmed, is exactly `run`. A missing page (`None`) stops the bot (see
/// the module doc).
pub fn shutoff_allows_running(wikitext: Option<&str>) -> bool {
    wikitext.is_some_and(|t| t.trim() == "run")
}

// ---------------------------------------------------------------------------
// Rate limit

/// How many requests may run per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests one user may have run in any hour.
    pub per_user_per_hour: u32,
    /// Requests all users together may have run in any hour.
    pub per_hour: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_user_per_hour: 6,
            per_hour: 20,
        }
    }
}

impl RateLimit {
    /// `Ok` if `user` may have a request run at `now`, given `history`:
    /// the (user, time) of the requests run before. Otherwise the seconds
    /// until the oldest request in the way leaves the hour (at least 1).
    ///
    /// A limit of 0 lets nothing run.
    pub fn check(
        &self,
        history: &[(String, DateTime<Utc>)],
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<(), u64> {
        let hour = Duration::hours(1);
        let recent: Vec<&(String, DateTime<Utc>)> =
            history.iter().filter(|(_, t)| *t > now - hour).collect();
        let user = normalize_user(user);
        let mine: Vec<DateTime<Utc>> = recent
            .iter()
            .filter(|(u, _)| normalize_user(u) == user)
            .map(|(_, t)| *t)
            .collect();
        let all: Vec<DateTime<Utc>> = recent.iter().map(|(_, t)| *t).collect();
        let wait = [
            wait_for(&mine, self.per_user_per_hour, now),
            wait_for(&all, self.per_hour, now),
        ]
        .into_iter()
        .flatten()
        .max();
        match wait {
            Some(secs) => Err(secs),
            None => Ok(()),
        }
    }
}

/// Seconds until fewer than `limit` of `times` (all within the last hour)
/// remain in the hour before; `None` if already so.
fn wait_for(times: &[DateTime<Utc>], limit: u32, now: DateTime<Utc>) -> Option<u64> {
    let limit = limit as usize;
    if times.len() < limit {
        return None;
    }
    if limit == 0 {
        return Some(3600);
    }
    let mut sorted = times.to_vec();
    sorted.sort();
    // Once this one leaves the hour, limit - 1 remain.
    let blocking = sorted[sorted.len() - limit];
    let secs = (blocking + Duration::hours(1) - now).num_seconds();
    Some(secs.max(1) as u64)
}

// ---------------------------------------------------------------------------
// Replies

/// What a reply says.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyKind<'a> {
    /// The request ran (whatever the outcome, failure included).
    Done {
        /// What the run did.
        run: &'a RunSummary,
        /// The bot status page, linked for conflicts and refused pages.
        status_page: Option<String>,
    },
    /// The requester may not ask; nothing ran.
    Refused {
        /// The users allowed (config and allow-list page).
        allowed: Vec<String>,
        /// The allow-list page, if configured.
        allowlist_page: Option<String>,
    },
    /// The request cannot be read; nothing ran.
    Malformed {
        /// Why, in plain text.
        reason: String,
    },
    /// A run is in progress; nothing new ran.
    AlreadyRunning {
        /// The run in progress.
        run_id: String,
        /// Where its result will show.
        status_page: Option<String>,
    },
    /// The requester (or everyone) asked too often; nothing ran.
    RateLimited {
        /// When they may ask again.
        retry_after_secs: u64,
    },
    /// A resolve request from an allowed user: settled, or why not.
    Resolve {
        /// What became of it.
        answer: ResolveAnswer,
        /// The bot status page, which lists the waiting conflicts.
        status_page: Option<String>,
    },
}

/// What became of an allowed user's `{{goalsbot|resolve|ID|wiki|store}}`.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveAnswer {
    /// The conflict is closed as the requester decided.
    Settled {
        /// The conflict id.
        conflict: i64,
        /// Its record.
        record: String,
        /// Its field.
        field: String,
        /// The page whose revision brought the wiki's value.
        page: String,
        /// The side taken.
        side: Side,
        /// The value the store holds now (`None`: not stated).
        value: Option<serde_json::Value>,
        /// Other pages' conflicts on the field settled with it.
        others: usize,
        /// The run that recorded the decision.
        run_id: String,
        /// The saves of the push of the field's year that followed the
        /// decision in the same run; `None` when it did not run (the next
        /// push or sync writes the pages).
        written: Option<usize>,
    },
    /// No conflict has that id.
    Unknown {
        /// The id asked for.
        conflict: i64,
    },
    /// The conflict was closed before.
    AlreadySettled {
        /// The conflict id.
        conflict: i64,
        /// How: `wiki` (a person took the wiki's value), `store` (a person
        /// kept the store's), `settled` (the page came to agree).
        how: String,
        /// Who closed it, as recorded (`User:Name (on-wiki request)`, an
        /// operator, `goalsbot`).
        by: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Nothing was decided: a side changed since it was listed, or the page
    /// cannot be read (plain text, escaped when replied).
    NotTaken {
        /// The conflict id.
        conflict: i64,
        /// Why, in plain text.
        reason: String,
    },
}

impl ResolveAnswer {
    /// The reply's sentence after the requester's name (wikitext, escaped;
    /// `status_page` is a link already).
    fn sentence(&self, status_page: Option<&str>) -> String {
        let listed = status_page
            .map(|p| format!(" The waiting conflicts and their ids are listed on {p}."))
            .unwrap_or_default();
        match self {
            ResolveAnswer::Settled {
                conflict,
                record,
                field,
                page,
                side,
                value,
                others,
                run_id,
                written,
            } => {
                let value = runlog::value_text(value.as_ref());
                let page = runlog::page_link(page);
                let taken = match side {
                    Side::Wiki => format!("the store takes the wiki's value, {value}"),
                    Side::Store => format!("the store keeps its value, {value}"),
                };
                let what = match (written, side) {
                    (Some(0), _) => format!("{taken}; the year's pages already show it"),
                    (Some(1), _) => format!("{taken}; I wrote it to the year's pages (1 edit)"),
                    (Some(n), _) => format!("{taken}; I wrote it to the year's pages ({n} edits)"),
                    (None, Side::Wiki) => {
                        format!("{taken}; the next push or sync writes it to the year's other pages")
                    }
                    (None, Side::Store) => {
                        format!("{taken}; the next push or sync writes it to {page}")
                    }
                };
                let others = match others {
                    0 => String::new(),
                    1 => " 1 more conflict on the field is settled with it (its page shows that value).".into(),
                    n => format!(" {n} more conflicts on the field are settled with it (their pages show that value)."),
                };
                format!(
                    "I settled conflict #{conflict} ({}, field {}, on {page}) as you asked: {what}.{others} Run <code>{}</code>.",
                    escape::wikitext(record),
                    escape::wikitext(field),
                    escape::wikitext(run_id),
                )
            }
            ResolveAnswer::Unknown { conflict } => format!(
                "there is no conflict #{conflict}, so I have not changed anything.{listed}"
            ),
            ResolveAnswer::AlreadySettled {
                conflict,
                how,
                by,
                at,
            } => {
                let how = match how.as_str() {
                    "wiki" => "the store took the wiki's value",
                    "store" => "the store kept its value",
                    "settled" => "the page came to show the store's value",
                    _ => "closed",
                };
                format!(
                    "conflict #{conflict} was already settled ({how}) by {} on {}, so I have not changed anything.",
                    escape::wikitext(by),
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                )
            }
            ResolveAnswer::NotTaken { conflict, reason } => format!(
                "I have not settled conflict #{conflict}: {}. Nothing was changed; please look again and ask again in a new section, signed (<nowiki>~~~~</nowiki>).{listed}",
                escape::wikitext(reason)
            ),
        }
    }
}

/// The correct syntax, shown in a malformed reply.
const EXAMPLES: [(&str, &str); 7] = [
    ("{{goalsbot|sync}}", "pull, then push, every tracked page"),
    ("{{goalsbot|sync|2020-21}}", "the same for one fiscal year"),
    ("{{goalsbot|push|2020-21 Q3}}", "push one quarter page"),
    (
        "{{goalsbot|new-quarter|2020-21 Q4}}",
        "create a new quarter page",
    ),
    (
        "{{goalsbot|accept|2020-21 Q3}}",
        "apply a quarter page the bot holds (its structure changed), as it stood when you asked",
    ),
    (
        "{{goalsbot|resolve|12|wiki}}",
        "settle conflict 12 (the status page lists the ids): the store takes the wiki's value",
    ),
    (
        "{{goalsbot|resolve|12|store}}",
        "settle conflict 12: the store keeps its value and the next push writes it to the page",
    ),
];

#[derive(Debug, Serialize)]
struct ReplyView {
    marker: String,
    requester: String,
    kind: &'static str,
    run: Option<runlog::RunView>,
    status_page: Option<String>,
    allowed: Vec<String>,
    allowlist_page: Option<String>,
    reason: Option<String>,
    examples: Vec<ExampleView>,
    run_id: Option<String>,
    retry_after: Option<String>,
    resolve: Option<String>,
}

#[derive(Debug, Serialize)]
struct ExampleView {
    syntax: String,
    meaning: &'static str,
}

impl ReplyView {
    fn new(request_id: &str, requester: &str, kind: &ReplyKind<'_>) -> Self {
        let mut view = ReplyView {
            marker: reply_marker(request_id),
            requester: runlog::user_link(requester),
            kind: "",
            run: None,
            status_page: None,
            allowed: Vec::new(),
            allowlist_page: None,
            reason: None,
            examples: Vec::new(),
            run_id: None,
            retry_after: None,
            resolve: None,
        };
        match kind {
            ReplyKind::Done { run, status_page } => {
                view.kind = "done";
                view.run = Some(runlog::RunView::new(run));
                view.status_page = status_page.as_deref().map(runlog::page_link);
            }
            ReplyKind::Refused {
                allowed,
                allowlist_page,
            } => {
                view.kind = "refused";
                view.allowed = allowed.iter().map(|u| runlog::user_link(u)).collect();
                view.allowlist_page = allowlist_page.as_deref().map(runlog::page_link);
            }
            ReplyKind::Malformed { reason } => {
                view.kind = "malformed";
                view.reason = Some(escape::wikitext(reason));
                view.examples = EXAMPLES
                    .iter()
                    .map(|(syntax, meaning)| ExampleView {
                        syntax: format!("<code><nowiki>{syntax}</nowiki></code>"),
                        meaning,
                    })
                    .collect();
            }
            ReplyKind::AlreadyRunning {
                run_id,
                status_page,
            } => {
                view.kind = "already-running";
                view.run_id = Some(escape::wikitext(run_id));
                view.status_page = status_page.as_deref().map(runlog::page_link);
            }
            ReplyKind::RateLimited { retry_after_secs } => {
                view.kind = "rate-limited";
                view.retry_after = Some(about_minutes(*retry_after_secs));
            }
            ReplyKind::Resolve {
                answer,
                status_page,
            } => {
                view.kind = "resolve";
                view.status_page = status_page.as_deref().map(runlog::page_link);
                view.resolve = Some(answer.sentence(view.status_page.as_deref()));
            }
        }
        view
    }
}

/// `about 1 minute`, `about 12 minutes` (rounded up).
fn about_minutes(secs: u64) -> String {
    match secs.div_ceil(60).max(1) {
        1 => "about 1 minute".to_string(),
        n => format!("about {n} minutes"),
    }
}

impl Renderer {
    /// The reply to request `request_id` by `requester`: lines indented
    /// with `:`, signed, carrying [`reply_marker`].
    pub fn reply(
        &self,
        request_id: &str,
        requester: &str,
        kind: &ReplyKind<'_>,
    ) -> Result<String, RenderError> {
        self.render(REPLY, &ReplyView::new(request_id, requester, kind))
    }
}

/// [`Renderer::reply`] with the built-in templates.
pub fn render_reply(
    request_id: &str,
    requester: &str,
    kind: &ReplyKind<'_>,
) -> Result<String, RenderError> {
    Renderer::builtin().reply(request_id, requester, kind)
}

#[cfg(test)]
mod tests;
