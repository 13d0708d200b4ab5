//! Writes the store's prose fields into the lines staff wrote, changing only the characters that changed (pure).
//!
//! The fields: a KR's (or item's) text after its label, the manager lines,
//! the objective's description paragraph, `Qn Objective:` and the goal
//! bullets. How a page is read is the parser's business (`core::parse`);
//! here the objective's section is read again as wikitext, line by line,
//! to find *where* each field stands. Each place is checked against what
//! the parser read from the same revision: a place whose visible text is
//! not the page's value is held as a conflict, never guessed at.
//!
//! An edit changes only the characters between the old and new value's
//! common beginning and end. Markup outside them (a link, a template,
//! bold) stays as it is; inside a link's label the label changes and the
//! link stays. When the changed characters hold markup that shows no text
//! of its own or cannot be rewritten (bold quotes, a template, a link and
//! the text around it), the field is held as a conflict with both values:
//! a link is never dropped silently. A person who then takes the store's
//! value ([`write_prose`]'s `forced`) gets the whole value written plainly.
//!
//! New text is escaped as for tables (`<nowiki>` around anything wikitext
//! could read as markup, also across the edit's edges).

pub(crate) mod project;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde_json::Value;

use self::project::{align, project, Holder, Mode, Projection};
use crate::core::fields::FieldKey;
use crate::core::parse::line::{classify, split_baseline, split_managers, Label};
use crate::core::records::{FiscalYearRecords, KeyResult, Kind, Objective, Quarter};
use crate::core::render::escape;
use crate::core::wikitext::{heading, hidden_ranges, objective_section};

/// A field push could not write: it stays as the page shows it, and a
/// person decides (a conflict with both values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub key: FieldKey,
    /// What the page shows.
    pub page: Option<Value>,
    /// What the store holds.
    pub store: Option<Value>,
    /// Why the bot did not write it.
    pub why: String,
}

/// What writing the store's prose into a page does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProsePlan {
    /// The page's new wikitext.
    pub text: String,
    /// The fields written.
    pub written: Vec<FieldKey>,
    /// The fields held as conflicts.
    pub held: Vec<Held>,
}

/// One logical line of the section: a `<br>`-separated piece of a
/// paragraph, list item or preformatted line.
#[derive(Debug, Clone)]
struct Seg {
    proj: Projection,
    /// Where a value goes when the line's value is empty: after the label.
    end: usize,
    /// A list item (`*`/`#`).
    bullet: bool,
    /// The source line(s) holding it (with the newline).
    lines: Range<usize>,
    mode: Mode,
    /// A level-3+ heading's text, for headings.
    heading: Option<String>,
}

/// Where a text field stands: characters `start..end` of segment `seg`.
#[derive(Debug, Clone, Copy)]
struct Loc {
    seg: usize,
    start: usize,
    end: usize,
    /// The value fills its line (a label or bullet must not be made of it).
    whole: bool,
}

#[derive(Debug, Default)]
struct QPlaces {
    objective: Option<Loc>,
    goals: Vec<Loc>,
    /// Empty bullets (`*` alone) after the label: the first is filled first.
    empty_bullets: Vec<Range<usize>>,
    /// Where a new bullet line goes, the list marker to give it, and how
    /// the text there is read.
    anchor: Option<(usize, String, Mode)>,
}

#[derive(Debug, Default)]
struct ItemPlaces {
    text: Option<Loc>,
    /// Where the item's source line starts, when the item starts it (a
    /// manager line can go there).
    first_line: Option<usize>,
    quarters: BTreeMap<Quarter, QPlaces>,
}

#[derive(Debug)]
struct ManagerLine {
    loc: Loc,
    /// The line's source (to copy its form), and the items it governs.
    line: Range<usize>,
    items: Vec<(Kind, u32)>,
}

#[derive(Debug, Default)]
struct Places {
    segs: Vec<Seg>,
    description: Option<Loc>,
    managers: Option<Loc>,
    kr_managers: Vec<ManagerLine>,
    items: BTreeMap<(Kind, u32), ItemPlaces>,
}

/// The logical lines of `text[range]` (an objective's section, its heading
/// line first), tables and comments skipped.
fn segments(text: &str, range: Range<usize>) -> Vec<Seg> {
    let hidden = hidden_ranges(text);
    let mut lines: Vec<Range<usize>> = Vec::new();
    let mut at = range.start;
    for l in text[range.clone()].split_inclusive('\n') {
        lines.push(at..at + l.len());
        at += l.len();
    }
    let mut segs = Vec::new();
    let mut i = 1; // the section's own heading
    let mut table_depth = 0usize;
    let mut para: Option<Range<usize>> = None;
    let flush = |para: &mut Option<Range<usize>>, segs: &mut Vec<Seg>| {
        if let Some(p) = para.take() {
            split_br(text, p.clone(), p, false, Mode::Wiki, segs);
        }
    };
    while i < lines.len() {
        let line = lines[i].clone();
        let content = line_content(text, &line);
        let trimmed = content.trim();
        // Inside a comment or opaque block that began on an earlier line.
        let inside = hidden
            .iter()
            .any(|h| h.start < line.start && h.end > line.start);
        if table_depth > 0 || trimmed.starts_with("{|") {
            flush(&mut para, &mut segs);
            if trimmed.starts_with("{|") {
                table_depth += 1;
            } else if trimmed.starts_with("|}") {
                table_depth -= 1;
            }
            i += 1;
            continue;
        }
        if inside {
            flush(&mut para, &mut segs);
            i += 1;
            continue;
        }
        if trimmed.to_ascii_lowercase().starts_with("<pre>") {
            flush(&mut para, &mut segs);
            let open = line.start + content.find('<').unwrap_or(0) + 5;
            let Some(block_end) = pre_block(text, &hidden, open, &mut segs) else {
                i += 1;
                continue;
            };
            while i < lines.len() && lines[i].start < block_end {
                i += 1;
            }
            continue;
        }
        if let Some((level, inner)) = heading(content) {
            flush(&mut para, &mut segs);
            if level >= 3 {
                segs.push(heading_seg(&content[inner], &line));
            }
            i += 1;
            continue;
        }
        if trimmed.is_empty() {
            flush(&mut para, &mut segs);
            i += 1;
            continue;
        }
        let marks = content.len() - content.trim_start_matches(['*', '#', ':', ';']).len();
        if marks > 0 {
            flush(&mut para, &mut segs);
            let bullet = content[..marks].contains(['*', '#']);
            let start = line.start + marks;
            let end = line.start + content.len();
            split_br(
                text,
                start..end,
                line.clone(),
                bullet,
                Mode::Wiki,
                &mut segs,
            );
            i += 1;
            continue;
        }
        if content.starts_with(' ') {
            flush(&mut para, &mut segs);
            pre_line(text, line.start + 1..line.start + content.len(), &mut segs);
            i += 1;
            continue;
        }
        let end = line.start + content.len();
        para = Some(match para {
            Some(p) => p.start..end,
            None => line.start..end,
        });
        i += 1;
    }
    flush(&mut para, &mut segs);
    segs
}

/// The lines of a `<pre>` block whose body starts at `open`, as segments;
/// where the block ends, or `None` when it is not closed.
fn pre_block(
    text: &str,
    hidden: &[Range<usize>],
    open: usize,
    segs: &mut Vec<Seg>,
) -> Option<usize> {
    let block_end = hidden.iter().find(|h| h.start == open - 5).map(|h| h.end)?;
    let close = text[..block_end].rfind("</").unwrap_or(block_end);
    let mut s = open;
    for l in text[open..close].split_inclusive('\n') {
        let r = s..s + l.trim_end_matches('\n').len();
        s += l.len();
        pre_line(text, r, segs);
    }
    Some(block_end)
}

/// The segment of a level-3+ heading line whose text is `t`.
fn heading_seg(t: &str, line: &Range<usize>) -> Seg {
    Seg {
        proj: Projection::default(),
        end: line.start,
        bullet: false,
        lines: line.clone(),
        mode: Mode::Wiki,
        heading: Some(project(t, 0..t.len(), Mode::Wiki).text()),
    }
}

/// A line without its newline.
fn line_content<'a>(text: &'a str, line: &Range<usize>) -> &'a str {
    text[line.clone()]
        .trim_end_matches('\n')
        .trim_end_matches('\r')
}

/// A preformatted line: leading spaces and `*`/`#` (a bullet) are not text.
fn pre_line(text: &str, r: Range<usize>, segs: &mut Vec<Seg>) {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let after = &s[lead..];
    let stars = after.len() - after.trim_start_matches(['*', '#']).len();
    let start = r.start + lead + stars;
    let proj = project(text, start..r.end, Mode::Pre);
    if proj.chars.is_empty() && stars == 0 {
        return;
    }
    segs.push(Seg {
        end: proj.chars.last().map_or(start, |c| c.src.end),
        proj,
        bullet: stars > 0,
        lines: r.start..(r.end + 1).min(text.len()),
        mode: Mode::Pre,
        heading: None,
    });
}

/// Splits `text[r]` at `<br>` tags into segments.
fn split_br(
    text: &str,
    r: Range<usize>,
    lines: Range<usize>,
    bullet: bool,
    mode: Mode,
    segs: &mut Vec<Seg>,
) {
    static BR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)<br\s*/?>").expect("br pattern is valid")
    });
    let mut start = r.start;
    let mut pieces = Vec::new();
    for m in BR.find_iter(&text[r.clone()]) {
        pieces.push(start..r.start + m.start());
        start = r.start + m.end();
    }
    pieces.push(start..r.end);
    let count = segs.len();
    for p in pieces {
        let proj = project(text, p.clone(), mode);
        if proj.chars.is_empty() {
            continue;
        }
        segs.push(Seg {
            end: proj.chars.last().map_or(p.start, |c| c.src.end),
            proj,
            bullet,
            lines: lines.clone(),
            mode,
            heading: None,
        });
    }
    if bullet && segs.len() == count {
        // An empty bullet: "no goals yet".
        segs.push(Seg {
            proj: Projection::default(),
            end: r.start,
            bullet,
            lines,
            mode,
            heading: None,
        });
    }
}

/// Where each field of the section stands, read as the parser reads it.
fn places(text: &str, range: Range<usize>, page_quarter: Quarter) -> Places {
    let segs = segments(text, range);
    let mut walk = Walk {
        text,
        page_quarter,
        p: Places::default(),
        current: None,
        open_q: None,
        expect_description: false,
        pending_text: false,
        pending_qobj: None,
        pending_item: false,
        items: 0,
        manager: None,
    };
    for (i, seg) in segs.iter().enumerate() {
        walk.segment(i, seg);
    }
    let mut p = walk.p;
    p.segs = segs;
    p
}

/// What [`places`] knows as it walks a section's segments in order.
struct Walk<'a> {
    text: &'a str,
    page_quarter: Quarter,
    /// What was found so far.
    p: Places,
    /// The item (key result or objective item) the lines now belong to.
    current: Option<(Kind, u32)>,
    /// The quarter whose lines are open under the current item.
    open_q: Option<Quarter>,
    /// The next prose line is the objective's description.
    expect_description: bool,
    /// A key result's label had no words: the next prose line is its text.
    pending_text: bool,
    /// A quarter objective's label had no words: the next prose line is it.
    pending_qobj: Option<Quarter>,
    /// An empty `Objective:` label after the first item: the next prose
    /// line starts an objective item.
    pending_item: bool,
    /// Objective items counted so far.
    items: u32,
    /// The key result manager line the items now fall under.
    manager: Option<usize>,
}

/// The value at the end of segment `seg` (of `n` characters): the last
/// characters, as many as `r` has.
fn rest_of(seg: usize, n: usize, r: &str) -> Loc {
    Loc {
        seg,
        start: n - r.chars().count(),
        end: n,
        whole: false,
    }
}

impl Walk<'_> {
    /// Reads one segment.
    fn segment(&mut self, i: usize, seg: &Seg) {
        if let Some(h) = &seg.heading {
            self.current = None;
            self.open_q = None;
            self.pending_text = false;
            self.pending_qobj = None;
            self.pending_item = false;
            let h = h.trim_end_matches(':').to_ascii_lowercase();
            self.expect_description =
                matches!(h.as_str(), "objective" | "objectives") && self.p.description.is_none();
            return;
        }
        let t = seg.proj.text();
        let n = seg.proj.chars.len();
        let whole = Loc {
            seg: i,
            start: 0,
            end: n,
            whole: true,
        };
        let rest = |r: &str| rest_of(i, n, r);
        let was_pending_text = std::mem::take(&mut self.pending_text);
        let was_pending_qobj = self.pending_qobj.take();
        let label = classify(&t);
        if std::mem::take(&mut self.pending_item) && label == Label::Prose && !seg.bullet {
            self.items += 1;
            let key = (Kind::ObjectiveItem, self.items);
            self.current = self.start_item(seg, key, Some(whole)).then_some(key);
            self.expect_description = false;
            self.open_q = None;
            return;
        }
        match label {
            Label::ObjectiveManager(_) => {
                let r = t.split_once(':').map_or("", |(_, r)| r.trim());
                self.p.managers = Some(rest(r));
                if self.p.description.is_none() && self.p.items.is_empty() {
                    self.expect_description = true;
                }
            }
            Label::KrManager(_) => {
                let r = t.split_once(':').map_or("", |(_, r)| r.trim());
                self.p.kr_managers.push(ManagerLine {
                    loc: rest(r),
                    line: seg.lines.clone(),
                    items: vec![],
                });
                self.manager = Some(self.p.kr_managers.len() - 1);
                self.current = None;
                self.open_q = None;
                self.expect_description = false;
            }
            Label::KeyResult { number, text } => {
                self.expect_description = false;
                self.open_q = None;
                let key = (Kind::KeyResult, number);
                let (statement, _) = split_baseline(&text);
                let mut loc = rest(&text);
                loc.end = loc.start + statement.chars().count();
                self.current = self.start_item(seg, key, Some(loc)).then_some(key);
                self.pending_text = text.is_empty() && self.current.is_some();
            }
            Label::ObjectiveItem(text) if text.is_empty() => {
                self.current = None;
                self.open_q = None;
                if self.p.items.is_empty() && self.p.description.is_none() {
                    self.expect_description = true;
                } else {
                    self.pending_item = true;
                }
            }
            Label::ObjectiveItem(text) => {
                self.items += 1;
                self.expect_description = false;
                self.open_q = None;
                let key = (Kind::ObjectiveItem, self.items);
                self.current = self.start_item(seg, key, Some(rest(&text))).then_some(key);
            }
            Label::QuarterObjective { quarter, text } => {
                if let Some(item) = self.current.and_then(|k| self.p.items.get_mut(&k)) {
                    item.quarters.entry(quarter).or_default().objective = Some(rest(&text));
                    self.open_q = Some(quarter);
                    if text.is_empty() {
                        self.pending_qobj = Some(quarter);
                    }
                }
            }
            Label::QuarterGoals { quarter, text } => {
                if let Some(item) = self.current.and_then(|k| self.p.items.get_mut(&k)) {
                    self.open_q = Some(quarter);
                    let q = item.quarters.entry(quarter).or_default();
                    if !text.is_empty() {
                        q.goals.push(rest(&text));
                    }
                    q.anchor = Some((seg.lines.end, "* ".into(), seg.mode));
                }
            }
            Label::Prose if seg.bullet => self.goal_bullet(seg, whole),
            Label::Prose => self.prose(&t, whole, was_pending_text, was_pending_qobj),
        }
    }

    /// Starts the item `key` at `loc`; `false` when the section has it
    /// already. The current key result manager line manages it.
    fn start_item(&mut self, seg: &Seg, key: (Kind, u32), loc: Option<Loc>) -> bool {
        // A manager line can go before the item only when the item
        // starts its source line.
        let text = self.text;
        let first_line = seg.proj.chars.first().and_then(|c| {
            let at = c.src.start;
            let ls = text[..at].rfind('\n').map_or(0, |i| i + 1);
            text[ls..at]
                .chars()
                .all(|c| matches!(c, '*' | '#' | ':' | ';' | ' ' | '\''))
                .then_some(ls)
        });
        if self.p.items.contains_key(&key) {
            return false;
        }
        self.p.items.insert(
            key,
            ItemPlaces {
                text: loc,
                first_line,
                quarters: BTreeMap::new(),
            },
        );
        if let Some(m) = self.manager {
            self.p.kr_managers[m].items.push(key);
        }
        true
    }

    /// A bullet of prose under an item: a goal of the open quarter (the
    /// page's when none is open), and where the quarter's next goal goes.
    fn goal_bullet(&mut self, seg: &Seg, whole: Loc) {
        let Some(item) = self.current.and_then(|k| self.p.items.get_mut(&k)) else {
            return;
        };
        let quarter = self.open_q.unwrap_or(self.page_quarter);
        self.open_q = Some(quarter);
        let q = item.quarters.entry(quarter).or_default();
        let marker = self.text[seg.lines.clone()]
            .chars()
            .take_while(|c| matches!(c, '*' | '#' | ':' | ';' | ' '))
            .collect::<String>();
        let marker = if marker.trim().is_empty() {
            "* ".to_string()
        } else if marker.ends_with(' ') {
            marker
        } else {
            format!("{marker} ")
        };
        if seg.proj.chars.is_empty() {
            q.empty_bullets.push(seg.lines.clone());
        } else {
            q.goals.push(whole);
        }
        let marker = if seg.mode == Mode::Pre {
            "* ".into()
        } else {
            marker
        };
        q.anchor = Some((seg.lines.end, marker, seg.mode));
    }

    /// A line of prose that is no bullet: the words a label before it left
    /// for it, the objective's description, or the end of the item.
    fn prose(
        &mut self,
        t: &str,
        whole: Loc,
        was_pending_text: bool,
        was_pending_qobj: Option<Quarter>,
    ) {
        if was_pending_text {
            if let Some(item) = self.current.and_then(|k| self.p.items.get_mut(&k)) {
                item.text = Some(whole);
                return;
            }
        }
        if let (Some(_), None) = (self.current, self.open_q) {
            let (before, baseline) = split_baseline(t);
            if before.is_empty() && baseline.is_some() {
                return;
            }
        }
        if let Some(quarter) = was_pending_qobj {
            if let Some(item) = self.current.and_then(|k| self.p.items.get_mut(&k)) {
                item.quarters.entry(quarter).or_default().objective = Some(whole);
                return;
            }
        }
        if self.expect_description && self.current.is_none() {
            self.p.description = Some(whole);
            self.expect_description = false;
            return;
        }
        self.current = None;
        self.open_q = None;
    }
}

/// Wikitext for `fragment`, to stand between source characters `prev` and
/// `next` (`at_start`: nothing but list markers before it on its line).
/// `fragment` escaped so that nothing around it can join it into markup:
/// wrapped in `<nowiki>` (a `<nowiki/>` where it is empty), or in `<pre>`,
/// its first character as a numeric entity (so a `&` before it cannot make
/// an entity of it).
fn strict_fragment(fragment: &str, mode: Mode) -> String {
    match mode {
        Mode::Wiki if fragment.is_empty() => "<nowiki/>".into(),
        Mode::Wiki => escape::nowiki(fragment),
        Mode::Pre => {
            let mut chars = fragment.chars();
            let mut out = chars
                .next()
                .map_or(String::new(), |c| format!("&#{};", c as u32));
            out.push_str(&escape_fragment(
                chars.as_str(),
                None,
                None,
                false,
                Mode::Pre,
            ));
            out
        }
    }
}

fn escape_fragment(
    fragment: &str,
    prev: Option<char>,
    next: Option<char>,
    at_start: bool,
    mode: Mode,
) -> String {
    if mode == Mode::Pre {
        return escape::entities(fragment);
    }
    if fragment.is_empty() {
        // Two characters brought together could make markup (`''`, `~~~~`, `[[`).
        let joins =
            matches!((prev, next), (Some(a), Some(b)) if a == b && "'~[]{}_-!=|".contains(a));
        return if joins {
            "<nowiki/>".into()
        } else {
            String::new()
        };
    }
    const SENSITIVE: &str = "'~[]{}_-!=|<>&*#:;";
    let edge = |c: Option<char>, f: Option<char>| matches!((c, f), (Some(a), Some(b)) if SENSITIVE.contains(a) && SENSITIVE.contains(b));
    let trimmed = fragment.trim();
    let risky = escape::is_risky(trimmed)
        || (at_start && fragment.starts_with(' '))
        || edge(prev, fragment.chars().next())
        || edge(fragment.chars().last(), next)
        || (!at_start && trimmed != fragment && escape::is_risky(&format!("x{trimmed}x")));
    // Line-start characters only matter at the start of a line.
    let risky = risky
        && (at_start
            || escape::is_risky(&format!("x{trimmed}x"))
            || edge(prev, fragment.chars().next())
            || edge(fragment.chars().last(), next));
    if !risky {
        return fragment.to_string();
    }
    escape::nowiki(fragment)
}

/// The edits that turn the text field at `loc` from `old` (what the page
/// shows there) into `new`, checked by reading the edited line again: where
/// new text would join its neighbours into markup the plain escaping did
/// not foresee, every piece is escaped; if even that does not read back,
/// the field is held.
fn edit_text(
    text: &str,
    places: &Places,
    loc: Loc,
    old: &str,
    new: &str,
    forced: bool,
) -> Result<Vec<(Range<usize>, String)>, String> {
    for strict in [false, true] {
        let edits = edit_text_with(text, places, loc, old, new, forced, strict)?;
        if reads_back(text, &places.segs[loc.seg], loc, &edits, new) {
            return Ok(edits);
        }
    }
    Err("the new text does not read back as written once placed in the line".into())
}

/// Whether segment `seg` with `edits` applied shows `new` where `loc` was.
fn reads_back(
    text: &str,
    seg: &Seg,
    loc: Loc,
    edits: &[(Range<usize>, String)],
    new: &str,
) -> bool {
    let (Some(first), Some(last)) = (seg.proj.chars.first(), seg.proj.chars.last()) else {
        // An empty segment: the value is all there is.
        let start = edits.iter().map(|e| e.0.start).min().unwrap_or(seg.end);
        let end = edits.iter().map(|e| e.0.end).max().unwrap_or(seg.end);
        return reads_back_range(text, seg, start..end, edits, 0, 0, new);
    };
    let start = edits
        .iter()
        .map(|e| e.0.start)
        .min()
        .unwrap_or(first.src.start)
        .min(first.src.start);
    let end = edits
        .iter()
        .map(|e| e.0.end)
        .max()
        .unwrap_or(last.src.end)
        .max(last.src.end);
    reads_back_range(
        text,
        seg,
        start..end,
        edits,
        loc.start,
        seg.proj.chars.len() - loc.end,
        new,
    )
}

fn reads_back_range(
    text: &str,
    seg: &Seg,
    range: Range<usize>,
    edits: &[(Range<usize>, String)],
    before: usize,
    after: usize,
    new: &str,
) -> bool {
    let mut sorted: Vec<&(Range<usize>, String)> = edits.iter().collect();
    sorted.sort_by_key(|e| e.0.start);
    let mut out = String::new();
    let mut at = range.start;
    for (r, with) in sorted {
        if r.start < at {
            return false;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(with);
        at = r.end;
    }
    out.push_str(&text[at..range.end]);
    let proj = project(&out, 0..out.len(), seg.mode);
    let old_text: Vec<char> = seg.proj.chars.iter().map(|c| c.c).collect();
    let n = proj.chars.len();
    if n < before + after {
        return false;
    }
    let got: Vec<char> = proj.chars.iter().map(|c| c.c).collect();
    // The parser trims the value: spaces at its edges are not part of it.
    let mut mid = &proj.chars[before..n - after];
    while mid.first().is_some_and(|c| c.c == ' ') {
        mid = &mid[1..];
    }
    while mid.last().is_some_and(|c| c.c == ' ') {
        mid = &mid[..mid.len() - 1];
    }
    got[..before] == old_text[..before]
        && got[n - after..] == old_text[old_text.len() - after..]
        && align(mid, new).is_some()
}

/// The hunks of a diff of `o` to `n` by words (runs of letters and digits;
/// any other character alone), as character ranges (old a..b, new c..d).
/// Changes kept apart only by spaces or punctuation are one change: the
/// words in between are not "kept" words (a wholly new text replaces the
/// old one, not its spaces one by one).
fn word_hunks(o: &[char], n: &[char]) -> Vec<(usize, usize, usize, usize)> {
    let mut hunks: Vec<(usize, usize, usize, usize)> = Vec::new();
    {
        let (ot, ob) = tokens(o);
        let (nt, nb) = tokens(n);
        // Positions are counted along the ops, from their lengths: the
        // indices `similar` gives a `Delete` or `Insert` need not be where
        // it stands (found by the real-wiki proptest).
        let (mut oa, mut na) = (0usize, 0usize);
        for op in similar::capture_diff_slices(similar::Algorithm::Myers, &ot, &nt) {
            let (ol, nl) = (op.old_range().len(), op.new_range().len());
            if !matches!(op, similar::DiffOp::Equal { .. }) {
                hunks.push((ob[oa], ob[oa + ol], nb[na], nb[na + nl]));
            }
            oa += ol;
            na += nl;
        }
    }
    let mut merged: Vec<(usize, usize, usize, usize)> = Vec::new();
    for h in hunks {
        match merged.last_mut() {
            Some(m) if o[m.1..h.0].iter().all(|c| !c.is_alphanumeric()) => {
                *m = (m.0, h.1, m.2, h.3);
            }
            _ => merged.push(h),
        }
    }
    merged
}

fn edit_text_with(
    text: &str,
    places: &Places,
    loc: Loc,
    old: &str,
    new: &str,
    forced: bool,
    strict: bool,
) -> Result<Vec<(Range<usize>, String)>, String> {
    let seg = &places.segs[loc.seg];
    let chars = &seg.proj.chars[loc.start..loc.end];
    let Some(mapped) = align(chars, old) else {
        return Err("the page's text there is not what the bot read from it".into());
    };
    if loc.whole && !new.is_empty() && classify(new) != Label::Prose {
        return Err("the new text would read as a label on the page".into());
    }
    let empty_at = if loc.start > 0 {
        seg.proj.chars[loc.start - 1].src.end
    } else {
        seg.end
    };
    let at_start_of_line = |pos: usize| {
        let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
        text[line_start..pos]
            .chars()
            .all(|c| matches!(c, '*' | '#' | ':' | ';' | ' ' | '\t'))
    };
    if forced || mapped.is_empty() {
        let range = match (mapped.first(), mapped.last()) {
            (Some(a), Some(b)) => a.src.start..b.src.end,
            _ => empty_at..empty_at,
        };
        let mut s = range.start;
        let mut e = range.end;
        // Whole kept elements at the edges go with the value.
        for k in seg.proj.kept.iter().chain(&seg.proj.soft) {
            if k.start < s && k.end > s {
                s = k.start;
            }
            if k.start < e && k.end > e {
                e = k.end;
            }
        }
        let space = if mapped.is_empty()
            && !new.is_empty()
            && text[..s].chars().last().is_some_and(|c| !c.is_whitespace())
            && !at_start_of_line(s)
        {
            " "
        } else {
            ""
        };
        let frag = escape_fragment(
            new,
            text[..s].chars().last(),
            text[e..].chars().next(),
            at_start_of_line(s) || strict,
            seg.mode,
        );
        return Ok(vec![(s..e, format!("{space}{frag}"))]);
    }
    let o: Vec<char> = old.chars().collect();
    let n: Vec<char> = new.chars().collect();
    let mut hunks = word_hunks(&o, &n);

    let mut out: Vec<(Range<usize>, String)> = Vec::new();
    let mut i = 0;
    while i < hunks.len() {
        match hunk_edit(text, seg, &mapped, &n, hunks[i], &at_start_of_line, strict) {
            Ok(HunkEdit::Done(r, f)) => {
                if out.last().is_some_and(|(p, _)| p.end > r.start) && i > 0 {
                    // Widened into the hunk before: do both as one.
                    let prev = hunks.remove(i - 1);
                    i -= 1;
                    hunks[i] = (prev.0, hunks[i].1, prev.2, hunks[i].3);
                    out.pop();
                    continue;
                }
                out.push((r, f));
                i += 1;
            }
            Ok(HunkEdit::Widen(a, b)) => {
                // Widened over equal characters: the new side moves with it.
                let h = hunks[i];
                let (a, b) = (a.min(h.0), b.max(h.1));
                let widened = (a, b, h.2 - (h.0 - a), h.3 + (b - h.1));
                // Swallow hunks now inside.
                let mut w = widened;
                while i + 1 < hunks.len() && hunks[i + 1].0 < w.1 {
                    let next = hunks.remove(i + 1);
                    let tail = w.1.saturating_sub(next.1);
                    w = (w.0, next.1.max(w.1), w.2, next.3 + tail);
                }
                while i > 0 && out.last().is_some_and(|_| hunks[i - 1].1 > w.0) {
                    let prev = hunks.remove(i - 1);
                    i -= 1;
                    out.pop();
                    let head = prev.0.min(w.0);
                    w = (head, w.1, prev.2 - (prev.0 - head), w.3);
                }
                if w == h {
                    return Err("the bot could not find where the change goes".into());
                }
                hunks[i] = w;
            }
            Err(why) => return Err(why),
        }
    }
    Ok(out)
}

/// Word tokens of `chars` and each token's start (with the end last).
fn tokens(chars: &[char]) -> (Vec<String>, Vec<usize>) {
    let mut toks = Vec::new();
    let mut starts = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        starts.push(i);
        let j = if chars[i].is_alphanumeric() {
            i + chars[i..]
                .iter()
                .take_while(|c| c.is_alphanumeric())
                .count()
        } else {
            i + 1
        };
        toks.push(chars[i..j].iter().collect());
        i = j;
    }
    starts.push(chars.len());
    (toks, starts)
}

enum HunkEdit {
    /// Replace the source range with the text.
    Done(Range<usize>, String),
    /// Do it again over old characters `a..b` (a soft element was cut).
    Widen(usize, usize),
}

/// The edit for one hunk: old characters `a..b` become new `c..d`.
fn hunk_edit(
    text: &str,
    seg: &Seg,
    mapped: &[project::Ch],
    n: &[char],
    (a, b, c, d): (usize, usize, usize, usize),
    at_start_of_line: &dyn Fn(usize) -> bool,
    strict: bool,
) -> Result<HunkEdit, String> {
    let (s, e) = if a < b {
        (mapped[a].src.start, mapped[b - 1].src.end)
    } else {
        let at = if a > 0 && !matches!(mapped[a - 1].holder, Holder::Opaque(_)) {
            mapped[a - 1].src.end
        } else if a < mapped.len() {
            mapped[a].src.start
        } else {
            mapped[a - 1].src.end
        };
        (at, at)
    };
    // A soft element (nowiki, entity) cut by the range is written again
    // whole: the range grows over it, and over the unchanged characters in
    // it, which are written again with the new ones.
    let (mut s, mut e) = (s, e);
    loop {
        let mut grew = false;
        for k in &seg.proj.soft {
            if (k.start < s && k.end > s) || (k.start < e && k.end > e) {
                s = s.min(k.start);
                e = e.max(k.end);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let a2 = mapped
        .iter()
        .position(|m| m.src.start >= s)
        .unwrap_or(mapped.len())
        .min(a);
    let b2 = mapped
        .iter()
        .rposition(|m| m.src.end <= e)
        .map_or(0, |i| i + 1)
        .max(b);
    if a - a2 > c || d + (b2 - b) > n.len() {
        return Ok(HunkEdit::Widen(a2, b2));
    }
    let (a, b, c, d) = (a2, b2, c - (a - a2), d + (b2 - b));
    let changed = &mapped[a..b];
    if changed
        .iter()
        .any(|m| matches!(m.holder, Holder::Opaque(_)))
    {
        return Err("the changed words are inside a template or an unlabelled link".into());
    }
    let labels: BTreeSet<usize> = changed
        .iter()
        .filter_map(|m| match m.holder {
            Holder::Label(l) => Some(l),
            _ => None,
        })
        .collect();
    let all_label =
        !changed.is_empty() && changed.iter().all(|m| matches!(m.holder, Holder::Label(_)));
    let in_label = match (labels.len(), all_label) {
        (1, true) => labels.iter().next().map(|l| seg.proj.labels[*l].clone()),
        (0, _) => None,
        _ => return Err("the changed words run across a link's label".into()),
    };
    let cuts_kept = seg.proj.kept.iter().any(|k| {
        let overlaps = k.start < e && k.end > s && s < e;
        let inside_label = in_label
            .as_ref()
            .is_some_and(|l| k.start <= l.start && k.end >= l.end);
        overlaps && !inside_label
    });
    if cuts_kept {
        return Err(
            "the changed words hold markup (a link, a template or formatting) the bot would lose"
                .into(),
        );
    }
    let frag: String = n[c..d].iter().collect();
    let frag = if strict {
        strict_fragment(&frag, seg.mode)
    } else {
        escape_fragment(
            &frag,
            text[..s].chars().last(),
            text[e..].chars().next(),
            at_start_of_line(s),
            seg.mode,
        )
    };
    Ok(HunkEdit::Done(s..e, frag))
}

fn string_value(s: &Option<String>) -> Option<Value> {
    s.as_ref().map(|s| Value::String(s.clone()))
}

fn list_value(v: &[String]) -> Option<Value> {
    Some(Value::Array(v.iter().cloned().map(Value::String).collect()))
}

/// The managers as a manager line writes them.
fn manager_text(names: &[String]) -> String {
    names.join(", ")
}

struct Writer<'a> {
    text: &'a str,
    forced: &'a BTreeSet<FieldKey>,
    eligible: Option<&'a BTreeSet<FieldKey>>,
    edits: Vec<(Range<usize>, String, FieldKey)>,
    held: Vec<Held>,
}

impl Writer<'_> {
    fn may_write(&self, key: &FieldKey) -> bool {
        self.eligible.is_none_or(|e| e.contains(key)) || self.forced.contains(key)
    }

    fn text_field(
        &mut self,
        places: &Places,
        key: FieldKey,
        loc: Option<Loc>,
        old: Option<&str>,
        new: Option<&str>,
        values: (Option<Value>, Option<Value>),
    ) {
        let Some(loc) = loc else { return };
        if !self.may_write(&key) {
            return;
        }
        let old = old.unwrap_or("");
        let new = new.unwrap_or("");
        if old == new {
            return;
        }
        let forced = self.forced.contains(&key);
        match edit_text(self.text, places, loc, old, new, forced) {
            Ok(edits) => self
                .edits
                .extend(edits.into_iter().map(|(r, s)| (r, s, key.clone()))),
            Err(why) => self.held.push(Held {
                key,
                page: values.0,
                store: values.1,
                why,
            }),
        }
    }
}

/// Writes the prose fields of `store` that differ from `shown` (the page's
/// parse of this very `wikitext`) into `wikitext`: those in `eligible`
/// (`None`: all), and those in `forced`, which are written whole even
/// where that drops markup (a person took the store's value).
pub fn write_prose(
    wikitext: &str,
    shown: &FiscalYearRecords,
    store: &FiscalYearRecords,
    quarter: Quarter,
    eligible: Option<&BTreeSet<FieldKey>>,
    forced: &BTreeSet<FieldKey>,
) -> ProsePlan {
    let mut w = Writer {
        text: wikitext,
        forced,
        eligible,
        edits: vec![],
        held: vec![],
    };
    let mut inserts: Vec<(usize, String, FieldKey)> = Vec::new();
    for page_obj in &shown.objectives {
        let Some(obj) = store.objectives.iter().find(|o| o.id == page_obj.id) else {
            continue;
        };
        let Some(range) = objective_section(wikitext, page_obj) else {
            continue;
        };
        let places = places(wikitext, range, quarter);
        objective_fields(&mut w, &places, page_obj, obj);
        for kr in &page_obj.key_results {
            let Some(skr) = obj.key_results.iter().find(|k| k.id == kr.id) else {
                continue;
            };
            let Some(item) = places.items.get(&(kr.kind, kr.number)) else {
                continue;
            };
            if kr.kind != Kind::Metric {
                w.text_field(
                    &places,
                    FieldKey::new(&kr.id, "text"),
                    item.text,
                    Some(&kr.text),
                    Some(&skr.text),
                    (
                        Some(Value::String(kr.text.clone())),
                        Some(Value::String(skr.text.clone())),
                    ),
                );
                let key = FieldKey::new(&kr.id, "text");
                let label_has_colon = item.text.is_some_and(|loc| {
                    places.segs[loc.seg].proj.chars[..loc.start]
                        .iter()
                        .any(|c| c.c == ':')
                });
                let why = if split_baseline(&skr.text).1.is_some() {
                    Some(
                        "the new text holds “Baseline:”, which the page would read as the baseline",
                    )
                } else if kr.kind == Kind::KeyResult
                    && skr.text.starts_with([':', '-', '–', '—', '.'])
                    && !label_has_colon
                {
                    Some("the new text opens like the label's separator, and the label has no “:”")
                } else {
                    None
                };
                if let Some(why) = why.filter(|_| w.edits.iter().any(|e| e.2 == key)) {
                    w.edits.retain(|e| e.2 != key);
                    w.held.push(Held {
                        key,
                        page: Some(Value::String(kr.text.clone())),
                        store: Some(Value::String(skr.text.clone())),
                        why: why.into(),
                    });
                }
            }
            quarter_fields(&mut w, &places, item, kr, skr, &mut inserts);
        }
        manager_lines(&mut w, &places, page_obj, obj, &mut inserts);
    }
    // Apply, last first; an edit overlapping another is held.
    let mut edits = w.edits;
    edits.sort_by_key(|e| (e.0.start, e.0.end));
    let mut out = wikitext.to_string();
    let mut written: Vec<FieldKey> = Vec::new();
    let mut held = w.held;
    let mut last_start = usize::MAX;
    let mut all: Vec<(Range<usize>, String, FieldKey)> = edits;
    all.extend(inserts.into_iter().map(|(at, s, k)| (at..at, s, k)));
    all.sort_by_key(|e| std::cmp::Reverse((e.0.start, e.0.end)));
    for (range, with, key) in all {
        if range.end > last_start {
            held.push(Held {
                key,
                page: None,
                store: None,
                why: "two changes fell on the same words".into(),
            });
            continue;
        }
        last_start = range.start;
        out.replace_range(range, &with);
        if !written.contains(&key) {
            written.push(key);
        }
    }
    written.sort();
    ProsePlan {
        text: out,
        written,
        held,
    }
}

fn objective_fields(w: &mut Writer<'_>, places: &Places, page: &Objective, store: &Objective) {
    w.text_field(
        places,
        FieldKey::new(&page.id, "description"),
        places.description,
        page.description.as_deref(),
        store.description.as_deref(),
        (
            string_value(&page.description),
            string_value(&store.description),
        ),
    );
    if page.managers != store.managers {
        if let Some(loc) = places.managers {
            let shown: String = places.segs[loc.seg].proj.chars[loc.start..loc.end]
                .iter()
                .map(|c| c.c)
                .collect();
            if split_managers(&shown) == page.managers {
                w.text_field(
                    places,
                    FieldKey::new(&page.id, "managers"),
                    Some(loc),
                    Some(&shown),
                    Some(&manager_text(&store.managers)),
                    (list_value(&page.managers), list_value(&store.managers)),
                );
            } else {
                w.held.push(Held {
                    key: FieldKey::new(&page.id, "managers"),
                    page: list_value(&page.managers),
                    store: list_value(&store.managers),
                    why: "the page's manager line is not what the bot read from it".into(),
                });
            }
        }
    }
}

fn quarter_fields(
    w: &mut Writer<'_>,
    places: &Places,
    item: &ItemPlaces,
    page: &KeyResult,
    store: &KeyResult,
    inserts: &mut Vec<(usize, String, FieldKey)>,
) {
    for (q, qp) in &item.quarters {
        let pe = page.quarters.get(q);
        let se = store.quarters.get(q);
        let (po, so) = (
            pe.and_then(|e| e.objective.clone()),
            se.and_then(|e| e.objective.clone()),
        );
        if po.as_deref().unwrap_or("") != so.as_deref().unwrap_or("") {
            w.text_field(
                places,
                FieldKey::new(&page.id, format!("quarters.{q}.objective")),
                qp.objective,
                po.as_deref(),
                so.as_deref(),
                (string_value(&po), string_value(&so)),
            );
        }
        let empty = Vec::new();
        let pg = pe.map_or(&empty, |e| &e.goals);
        let sg = se.map_or(&empty, |e| &e.goals);
        if pg == sg {
            continue;
        }
        let key = FieldKey::new(&page.id, format!("quarters.{q}.goals"));
        if !w.may_write(&key) {
            continue;
        }
        let hold = |w: &mut Writer<'_>, why: &str| {
            w.held.push(Held {
                key: key.clone(),
                page: list_value(pg),
                store: list_value(sg),
                why: why.into(),
            })
        };
        if qp.goals.len() != pg.len() {
            hold(
                w,
                "the page's goal bullets are not what the bot read from them",
            );
            continue;
        }
        if sg.iter().any(|g| classify(g) != Label::Prose) {
            hold(w, "a new goal would read as a label on the page");
            continue;
        }
        match goal_edits(w, places, qp, &key, pg, sg) {
            Err(why) => hold(w, &why),
            Ok(local) => {
                // Several inserts at one point keep their order.
                let mut merged: Vec<(Range<usize>, String, FieldKey)> = Vec::new();
                for e in local {
                    match merged.last_mut() {
                        Some(last)
                            if last.0.is_empty() && e.0.is_empty() && last.0.start == e.0.start =>
                        {
                            last.1.push_str(&e.1)
                        }
                        _ => merged.push(e),
                    }
                }
                for (r, s, k) in merged {
                    if r.is_empty() {
                        inserts.push((r.start, s, k));
                    } else {
                        w.edits.push((r, s, k));
                    }
                }
            }
        }
    }
}

/// The edits that turn a quarter's goals as the page has them (`pg`, at
/// `qp`) into the store's (`sg`), goal by goal: a changed goal's words, a
/// deleted goal's bullet line, a new goal's bullet; `Err` (the last reason)
/// when one of them has no safe edit.
fn goal_edits(
    w: &Writer<'_>,
    places: &Places,
    qp: &QPlaces,
    key: &FieldKey,
    pg: &[String],
    sg: &[String],
) -> Result<Vec<(Range<usize>, String, FieldKey)>, String> {
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, pg, sg);
    let mut local: Vec<(Range<usize>, String, FieldKey)> = Vec::new();
    let mut empty_bullets = qp.empty_bullets.iter();
    let mut failed = None;
    // Positions are counted along the ops, from their lengths (as for texts).
    let (mut oa, mut na) = (0usize, 0usize);
    for op in ops {
        let (ol, nl) = (op.old_range().len(), op.new_range().len());
        let (old_r, new_r) = (oa..oa + ol, na..na + nl);
        oa += ol;
        na += nl;
        if matches!(op, similar::DiffOp::Equal { .. }) {
            continue;
        }
        let pairs = old_r.len().min(new_r.len());
        for k in 0..pairs {
            let loc = qp.goals[old_r.start + k];
            match edit_text(
                w.text,
                places,
                loc,
                &pg[old_r.start + k],
                &sg[new_r.start + k],
                w.forced.contains(key),
            ) {
                Ok(edits) => local.extend(edits.into_iter().map(|(r, s)| (r, s, key.clone()))),
                Err(why) => failed = Some(why),
            }
        }
        for k in old_r.start + pairs..old_r.end {
            // A deleted goal: its whole bullet line goes.
            let loc = qp.goals[k];
            let seg = &places.segs[loc.seg];
            if !seg.bullet || places.segs.iter().filter(|s| s.lines == seg.lines).count() > 1 {
                failed = Some("a goal to remove is not a bullet line of its own".into());
                continue;
            }
            // The last goal gone: an empty bullet stays, "no goals yet".
            let keep = if sg.is_empty() && k == 0 {
                let marker: String = w.text[seg.lines.clone()]
                    .chars()
                    .take_while(|c| matches!(c, '*' | '#'))
                    .collect();
                let nl = if w.text[seg.lines.clone()].ends_with('\n') {
                    "\n"
                } else {
                    ""
                };
                format!("{marker}{nl}")
            } else {
                String::new()
            };
            local.push((seg.lines.clone(), keep, key.clone()));
        }
        for new_goal in &sg[new_r.start + pairs..new_r.end] {
            let mode = qp.anchor.as_ref().map_or(Mode::Wiki, |a| a.2);
            let goal = escape_fragment(new_goal, None, None, true, mode);
            // Placed after the bullet of the goal before it, else after
            // the label, else into an empty bullet.
            let after = if old_r.start + pairs > 0 {
                let loc = qp.goals[old_r.start + pairs - 1];
                Some(places.segs[loc.seg].lines.end)
            } else {
                None
            };
            let marker = qp.anchor.as_ref().map_or("* ".to_string(), |a| a.1.clone());
            match (after, empty_bullets.next()) {
                (None, Some(b)) => {
                    let line = &w.text[b.clone()];
                    let nl = if line.ends_with('\n') { "\n" } else { "" };
                    local.push((b.clone(), format!("{}{goal}{nl}", marker), key.clone()));
                }
                (after, _) => match after.or_else(|| qp.anchor.as_ref().map(|a| a.0)) {
                    Some(at) if w.text[..at].ends_with('\n') => {
                        local.push((at..at, format!("{marker}{goal}\n"), key.clone()))
                    }
                    Some(at) => local.push((at..at, format!("\n{marker}{goal}"), key.clone())),
                    None => failed = Some("no place for a new goal".into()),
                },
            }
        }
    }
    match failed {
        Some(why) => Err(why),
        None => Ok(local),
    }
}

/// Each KR manager line governs the items after it: a line whose items all
/// have one new value is rewritten; where they now differ, the line is
/// split (a line in the same form before each run of items with one value).
fn manager_lines(
    w: &mut Writer<'_>,
    places: &Places,
    page: &Objective,
    store: &Objective,
    inserts: &mut Vec<(usize, String, FieldKey)>,
) {
    for line in &places.kr_managers {
        let items: Vec<(&KeyResult, &KeyResult, Option<usize>)> = line
            .items
            .iter()
            .filter_map(|key| {
                let pk = page
                    .key_results
                    .iter()
                    .find(|k| (k.kind, k.number) == *key)?;
                let sk = store
                    .key_results
                    .iter()
                    .find(|k| k.id == pk.id)
                    .unwrap_or(pk);
                Some((pk, sk, places.items.get(key)?.first_line))
            })
            .collect();
        if items.iter().all(|(p, s, _)| {
            p.managers == s.managers || !w.may_write(&FieldKey::new(&p.id, "managers"))
        }) {
            continue;
        }
        let shown: String = places.segs[line.loc.seg].proj.chars[line.loc.start..line.loc.end]
            .iter()
            .map(|c| c.c)
            .collect();
        let shown_names = split_managers(&shown);
        if items.iter().any(|(p, _, _)| p.managers != shown_names) {
            for (p, s, _) in &items {
                if p.managers != s.managers {
                    w.held.push(Held {
                        key: FieldKey::new(&p.id, "managers"),
                        page: list_value(&p.managers),
                        store: list_value(&s.managers),
                        why: "the page's manager line is not what the bot read from it".into(),
                    });
                }
            }
            continue;
        }
        // Runs of items with one value; the first keeps the line.
        let mut runs: Vec<(Vec<String>, Option<usize>, Vec<String>)> = Vec::new();
        for (p, s, first_line) in &items {
            match runs.last_mut() {
                Some(run) if run.0 == s.managers => run.2.push(p.id.clone()),
                _ => runs.push((s.managers.clone(), *first_line, vec![p.id.clone()])),
            }
        }
        let Some(first) = runs.first() else { continue };
        let first_key = FieldKey::new(first.2[0].clone(), "managers");
        if first.0 != shown_names {
            w.text_field(
                places,
                first_key.clone(),
                Some(line.loc),
                Some(&shown),
                Some(&manager_text(&first.0)),
                (list_value(&shown_names), list_value(&first.0)),
            );
        }
        let form = line_content(w.text, &line.line);
        let label_end = form.find(':').map_or(form.len(), |i| i + 1);
        let blank = w.text[line.line.end..].starts_with('\n');
        for (names, at, ids) in runs.iter().skip(1) {
            let Some(at) = *at else {
                w.held.push(Held {
                    key: FieldKey::new(ids[0].clone(), "managers"),
                    page: list_value(&shown_names),
                    store: list_value(names),
                    why: "a manager line for it would need a line of its own, and the KR does not start one".into(),
                });
                continue;
            };
            let names_text =
                escape_fragment(&manager_text(names), Some(' '), None, false, Mode::Wiki);
            let sep = if blank { "\n\n" } else { "\n" };
            inserts.push((
                at,
                format!("{} {names_text}{sep}", &form[..label_end]),
                FieldKey::new(ids[0].clone(), "managers"),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
