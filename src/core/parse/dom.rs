//! Flattens Parsoid HTML into a stream of headings, text lines and tables.
//!
//! The staff-written pages put the same logical lines ("KR1 …", "Q2 Goals:",
//! bullets) into paragraphs split by `<br>`, into list items, or into `<pre>`;
//! reducing all three to [`Block::Line`]s lets one line-based reader handle
//! every layout.

use std::sync::LazyLock;

use parsoid::prelude::*;
use regex::Regex;

/// Deeper nesting than this is not a goals page; stop descending instead of
/// risking the stack on hostile input.
const MAX_DEPTH: usize = 64;

/// One unit of the page, in document order.
#[derive(Debug, Clone)]
pub(super) enum Block {
    /// A heading `<hN>` with its plain text.
    Heading { level: u8, text: String },
    /// A logical line of text; `bullet` is the list depth for list items
    /// (and `*` lines inside `<pre>`), `None` for plain lines.
    Line(Line),
    /// A table carrying `data-goalsbot-objective` (the bot's status table).
    StatusTable(Wikinode),
    /// Any other table (maybe a KR table staff wrote).
    Table(Wikinode),
    /// Something the reader does not use (a table, an image, …).
    Ignored(&'static str),
}

impl PartialEq for Block {
    /// Tables compare by identity of their DOM node (tests only need this).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Block::Heading { level: a, text: x }, Block::Heading { level: b, text: y }) => {
                a == b && x == y
            }
            (Block::Line(a), Block::Line(b)) => a == b,
            (Block::StatusTable(a), Block::StatusTable(b)) => **a == **b,
            (Block::Table(a), Block::Table(b)) => **a == **b,
            (Block::Ignored(a), Block::Ignored(b)) => a == b,
            _ => false,
        }
    }
}

/// A logical line of text as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Line {
    /// Plain text, whitespace collapsed, trimmed.
    pub text: String,
    /// List depth (1 for `*`), or `None` when not a list item.
    pub bullet: Option<u8>,
    /// Task ids found in link targets of the line (`phab:T123`), which the
    /// text alone may not show when the link has another label.
    pub tasks: Vec<String>,
}

/// Flattens the children of `root` (normally `<body>`) into blocks.
pub(super) fn flatten(root: &Wikinode) -> Vec<Block> {
    let mut out = Vec::new();
    flatten_children(root, 0, &mut out);
    out
}

fn flatten_children(node: &Wikinode, depth: usize, out: &mut Vec<Block>) {
    if depth > MAX_DEPTH {
        out.push(Block::Ignored("deeply nested markup"));
        return;
    }
    // Inline runs directly in a block container (rare in Parsoid output, but
    // possible in hand-made HTML) are gathered like a paragraph.
    let mut inline = Inline::default();
    for child in node.children() {
        if let Some(t) = child.as_text() {
            inline.push_text(&t.borrow(), false);
            continue;
        }
        let Some(name) = tag(&child) else { continue };
        if is_block(&name, &child) {
            inline.flush_lines(None, out);
            flatten_element(&child, &name, depth + 1, out);
        } else {
            inline_element(&child, &name, &mut inline, false, depth + 1);
        }
    }
    inline.flush_lines(None, out);
}

fn flatten_element(node: &Wikinode, name: &str, depth: usize, out: &mut Vec<Block>) {
    match name {
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level = name[1..].parse().unwrap_or(6);
            let mut inline = Inline::default();
            inline_children(node, &mut inline, false, depth);
            out.push(Block::Heading {
                level,
                text: collapse(&inline.text),
            });
        }
        "p" => {
            let mut inline = Inline::default();
            inline_children(node, &mut inline, false, depth);
            inline.flush_lines(None, out);
        }
        "pre" => {
            let mut inline = Inline::default();
            inline_children(node, &mut inline, true, depth);
            for (raw, tasks) in inline.pieces(&inline.text) {
                let trimmed = raw.trim_start();
                let stars = trimmed
                    .chars()
                    .take_while(|c| matches!(c, '*' | '#'))
                    .count();
                let bullet = (stars > 0).then(|| u8::try_from(stars).unwrap_or(u8::MAX));
                let text = collapse(&trimmed[stars..]);
                if text.is_empty() && bullet.is_none() {
                    continue;
                }
                out.push(Block::Line(Line {
                    text,
                    bullet,
                    tasks,
                }));
            }
        }
        "ul" | "ol" => list(node, 1, depth, out),
        "dl" => {
            for item in node.children() {
                if matches!(tag(&item).as_deref(), Some("dt" | "dd")) {
                    flatten_list_item(&item, None, depth + 1, out);
                }
            }
        }
        "table" => {
            if attr(node, "data-goalsbot-objective").is_some() {
                out.push(Block::StatusTable(node.clone()));
            } else {
                out.push(Block::Table(node.clone()));
                nested_status_tables(node, out);
            }
        }
        "figure" => {
            out.push(Block::Ignored("image"));
            nested_status_tables(node, out);
        }
        "style" | "script" | "link" | "meta" | "hr" => {}
        // section, div, blockquote, center, …: transparent containers.
        _ => flatten_children(node, depth, out),
    }
}

/// Status tables are found anywhere, even inside something else ignored.
fn nested_status_tables(node: &Wikinode, out: &mut Vec<Block>) {
    for table in node.select("table[data-goalsbot-objective]") {
        out.push(Block::StatusTable(table));
    }
}

fn list(node: &Wikinode, level: u8, depth: usize, out: &mut Vec<Block>) {
    if depth > MAX_DEPTH {
        out.push(Block::Ignored("deeply nested markup"));
        return;
    }
    for item in node.children() {
        if tag(&item).as_deref() == Some("li") {
            flatten_list_item(&item, Some(level), depth + 1, out);
        }
    }
}

/// A list item: its own inline text is one line (or several, split at
/// `<br>`), nested lists follow one level deeper.
fn flatten_list_item(item: &Wikinode, level: Option<u8>, depth: usize, out: &mut Vec<Block>) {
    if depth > MAX_DEPTH {
        out.push(Block::Ignored("deeply nested markup"));
        return;
    }
    let mut inline = Inline::default();
    let mut nested = Vec::new();
    for child in item.children() {
        if let Some(t) = child.as_text() {
            inline.push_text(&t.borrow(), false);
            continue;
        }
        let Some(name) = tag(&child) else { continue };
        if is_block(&name, &child) {
            nested.push((child, name));
        } else {
            inline_element(&child, &name, &mut inline, false, depth + 1);
        }
    }
    let line_count = out.len();
    inline.flush_lines(level, out);
    if out.len() == line_count && level.is_some() {
        // An empty bullet (`*` alone) still says something: "no goals yet".
        out.push(Block::Line(Line {
            bullet: level,
            ..Line::default()
        }));
    }
    let next = level.map(|l| l.saturating_add(1));
    for (child, name) in nested {
        match name.as_str() {
            "ul" | "ol" => list(&child, next.unwrap_or(1), depth + 1, out),
            _ => flatten_element(&child, &name, depth + 1, out),
        }
    }
}

/// Inline text being gathered; `\n` in `text` marks a `<br>` (or a source
/// newline inside `<pre>`).
#[derive(Default)]
struct Inline {
    text: String,
    /// Task ids from link targets, with the byte offset in `text` where the
    /// link starts, so each one lands on the line that holds its link.
    tasks: Vec<(usize, String)>,
}

impl Inline {
    fn push_text(&mut self, s: &str, keep_newlines: bool) {
        if keep_newlines {
            self.text.push_str(s);
        } else {
            // A source newline inside a paragraph is just a space to a reader.
            self.text
                .extend(s.chars().map(|c| if c == '\n' { ' ' } else { c }));
        }
    }

    /// Emits one line per `<br>`-separated piece; empty pieces are dropped.
    fn flush_lines(&mut self, bullet: Option<u8>, out: &mut Vec<Block>) {
        let text = std::mem::take(&mut self.text);
        for (piece, tasks) in self.pieces(&text) {
            let text = collapse(piece);
            if !text.is_empty() {
                out.push(Block::Line(Line {
                    text,
                    bullet,
                    tasks,
                }));
            }
        }
        self.tasks.clear();
    }

    /// The `\n`-separated pieces of `text`, each with the tasks of its links.
    fn pieces<'t>(&self, text: &'t str) -> Vec<(&'t str, Vec<String>)> {
        let mut start = 0;
        text.split('\n')
            .map(|piece| {
                let end = start + piece.len();
                let tasks = self
                    .tasks
                    .iter()
                    .filter(|(at, _)| (start..=end).contains(at))
                    .map(|(_, t)| t.clone())
                    .collect();
                start = end + 1;
                (piece, tasks)
            })
            .collect()
    }
}

fn inline_children(node: &Wikinode, inline: &mut Inline, keep_newlines: bool, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for child in node.children() {
        if let Some(t) = child.as_text() {
            inline.push_text(&t.borrow(), keep_newlines);
        } else if let Some(name) = tag(&child) {
            inline_element(&child, &name, inline, keep_newlines, depth + 1);
        }
    }
}

fn inline_element(
    node: &Wikinode,
    name: &str,
    inline: &mut Inline,
    keep_newlines: bool,
    depth: usize,
) {
    if is_invisible(name, node) {
        return;
    }
    match name {
        "br" => inline.text.push('\n'),
        "a" => {
            if let Some(href) = attr(node, "href") {
                let at = inline.text.len();
                inline
                    .tasks
                    .extend(tasks_in_href(&href).into_iter().map(|t| (at, t)));
            }
            inline_children(node, inline, keep_newlines, depth);
        }
        _ => inline_children(node, inline, keep_newlines, depth),
    }
}

/// Markup a reader does not see as text: images, reference markers,
/// styles, metadata.
fn is_invisible(name: &str, node: &Wikinode) -> bool {
    if matches!(
        name,
        "style" | "script" | "link" | "meta" | "figure" | "img" | "audio" | "video"
    ) {
        return true;
    }
    let typeof_ = attr(node, "typeof").unwrap_or_default();
    let class = attr(node, "class").unwrap_or_default();
    typeof_.split_whitespace().any(|t| {
        t.starts_with("mw:File") || t == "mw:Extension/ref" || t == "mw:Extension/references"
    }) || class.split_whitespace().any(|c| c == "mw-ref")
}

/// Elements that make their own lines rather than running inline.
fn is_block(name: &str, node: &Wikinode) -> bool {
    matches!(
        name,
        "section"
            | "div"
            | "p"
            | "pre"
            | "ul"
            | "ol"
            | "dl"
            | "table"
            | "figure"
            | "blockquote"
            | "center"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "hr"
    ) && !is_invisible_block(name, node)
}

fn is_invisible_block(name: &str, node: &Wikinode) -> bool {
    name == "div" && attr(node, "typeof").is_some_and(|t| t.contains("mw:Extension/references"))
}

/// The plain text of `node`: `<br>` as a space, invisible parts dropped,
/// whitespace collapsed.
pub(super) fn plain_text(node: &Wikinode) -> String {
    let mut inline = Inline::default();
    inline_children(node, &mut inline, false, 0);
    collapse(&inline.text)
}

/// Collapses every run of whitespace (including no-break spaces) into one
/// space and trims both ends.
pub(super) fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The lowercase tag name of an element node.
pub(super) fn tag(node: &Wikinode) -> Option<String> {
    node.as_element()
        .map(|e| e.name.local.to_string().to_ascii_lowercase())
}

/// An attribute of an element node.
pub(super) fn attr(node: &Wikinode, name: &str) -> Option<String> {
    let element = node.as_element()?;
    let attributes = element.attributes.borrow();
    attributes.get(name).map(str::to_string)
}

/// Task ids in a link target: `phab:T123`, `Phab:T123` (Parsoid's `./Phab:T123`),
/// `https://phabricator.wikimedia.org/T123`.
fn tasks_in_href(href: &str) -> Vec<String> {
    static TASK_HREF: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:phab(?:ricator)?:|phabricator\.wikimedia\.org/)(T[1-9][0-9]*)\b")
            .expect("task href pattern is valid")
    });
    TASK_HREF
        .captures_iter(href)
        .filter_map(|c| c.get(1))
        .map(|m| format!("T{}", &m.as_str()[1..]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(html: &str) -> Vec<Block> {
        let code = Wikicode::new(html);
        let body = code
            .select_first("body")
            .expect("html5ever always makes a body");
        flatten(&body)
    }

    fn line(text: &str, bullet: Option<u8>) -> Block {
        Block::Line(Line {
            text: text.into(),
            bullet,
            tasks: vec![],
        })
    }

    #[test]
    fn paragraph_split_at_br() {
        let b = blocks("<p>KR1 text\nmore<br/>Q2 Objective:<br id=x />Q2 Goals:</p>");
        assert_eq!(
            b,
            vec![
                line("KR1 text more", None),
                line("Q2 Objective:", None),
                line("Q2 Goals:", None)
            ]
        );
    }

    #[test]
    fn nested_lists_and_empty_items() {
        // Captured from Parsoid (MW 1.43) for `* '''KR1:''' a\n** Q1 Goals:\n*** g\n***`.
        let b = blocks(
            r#"<ul><li><b>KR1:</b> a
<ul><li><b>Q1 Goals:</b>
<ul><li>g</li>
<li class="mw-empty-elt"></li></ul></li></ul></li></ul>"#,
        );
        assert_eq!(
            b,
            vec![
                line("KR1: a", Some(1)),
                line("Q1 Goals:", Some(2)),
                line("g", Some(3)),
                line("", Some(3)),
            ]
        );
    }

    #[test]
    fn pre_lines_and_bullets() {
        let b = blocks("<pre typeof=\"mw:Extension/pre\">KR 1 text\nQ3 Goals:\n* goal b\n</pre>");
        assert_eq!(
            b,
            vec![
                line("KR 1 text", None),
                line("Q3 Goals:", None),
                line("goal b", Some(1))
            ]
        );
    }

    #[test]
    fn links_reduce_to_labels_and_tasks_come_from_targets() {
        let b = blocks(
            r#"<p>see <a rel="mw:WikiLink" href="./Phab:T234567?action=edit&amp;redlink=1">this task</a> and <a rel="mw:ExtLink" href="https://example.org">Example</a><sup typeof="mw:Extension/ref" class="mw-ref">[1]</sup></p>"#,
        );
        assert_eq!(
            b,
            vec![Block::Line(Line {
                text: "see this task and Example".into(),
                bullet: None,
                tasks: vec!["T234567".into()],
            })]
        );
    }

    #[test]
    fn tasks_stay_on_the_line_of_their_link() {
        // regression: every line of a paragraph or <pre> got all its links' tasks.
        let b = blocks(r#"<p>KR1 a<br/>KR2 <a rel="mw:WikiLink" href="./Phab:T234567">b</a></p>"#);
        assert_eq!(
            b,
            vec![
                line("KR1 a", None),
                Block::Line(Line {
                    text: "KR2 b".into(),
                    bullet: None,
                    tasks: vec!["T234567".into()],
                })
            ]
        );
    }

    #[test]
    fn tables_and_images_are_marked() {
        let b = blocks(
            r#"<table class="x"><tr><td>nav</td></tr></table><figure typeof="mw:File/Thumb"><a><span>File:X.png</span></a><figcaption>cap</figcaption></figure><table data-goalsbot-objective="2020-21/x"></table>"#,
        );
        assert_eq!(b.len(), 3);
        assert!(matches!(b[0], Block::Table(_)), "{:?}", b[0]);
        assert_eq!(b[1], Block::Ignored("image"));
        assert!(matches!(b[2], Block::StatusTable(_)));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = "<div>".repeat(5_000) + "x";
        let b = blocks(&html);
        assert!(b.contains(&Block::Ignored("deeply nested markup")));
    }

    #[test]
    fn collapse_whitespace_keeps_typography() {
        assert_eq!(collapse("  a \u{a0} b\t“c”  "), "a b “c”");
    }
}
