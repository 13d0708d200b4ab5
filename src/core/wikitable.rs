//! Wikitext tables as MediaWiki reads them, with the byte range of every
//! row and cell, so the bot can change one cell of a table staff wrote and
//! leave every other byte as it was (`docs/pages.md`, "KR tables staff wrote").
//!
//! The reader follows MediaWiki's own table pass line by line (the legacy
//! parser's and Parsoid's agree on everything it claims to know):
//!
//! - a line that starts (after spaces and `:` indentation) with `{|` opens a
//!   table, `|}` closes the innermost one, `|+` is a caption, `|-` a row;
//!   `!` and `|` start header and data cells, `!!` (headers) and `||` start
//!   further cells on the same line, and the first single `|` of a cell
//!   separates its attributes from its content (unless a `[[` comes first);
//!   other lines continue the open cell;
//! - separators inside an HTML tag MediaWiki allows (`<span title="a||b">`)
//!   separate nothing: the tag is one piece of the cell;
//! - a `{|` inside a cell nests a table in that cell; a `{|` at row level (no
//!   cell open) ends the open table there, as the browser's HTML parser does,
//!   and the `| …` lines after the inner table are no cells of anything;
//! - a table without its `|}` ends with the page.
//!
//! What the reader cannot know without the wiki (cells or separators that
//! templates or `{{!}}` make, HTML rows and cells, separators inside links,
//! where the two parsers of MediaWiki disagree) makes the table
//! [`Table::unsure`]: it is read, but the bot never writes into it. Every
//! other table is still checked against the wiki's own parse before the bot
//! writes into it (`crate::core::table_check`).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::core::wikitext::masked;

/// One wikitext table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// From `{|` to the end of `|}` (to where the table ends, for one
    /// without its `|}`).
    pub range: Range<usize>,
    /// The `{|` line from its `{|`, without its newline.
    pub open: Range<usize>,
    /// Where the `|}` line starts (a new row goes right before it).
    pub close_line: usize,
    /// Rows that have cells, in order (the header row is usually the first).
    pub rows: Vec<Row>,
    /// Why the bot must not write into this table, when it must not: the
    /// reader cannot be sure it sees the cells MediaWiki sees.
    pub unsure: Option<String>,
    /// It calls templates inside cells: what they give is not in the
    /// wikitext, so only the wiki's own parse can say they make no cells.
    pub templates: bool,
}

/// One row: its `|-` line (none for a first row written without one) and cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: Option<Range<usize>>,
    pub cells: Vec<Cell>,
}

/// One cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// `!` / `!!` rather than `|` / `||`.
    pub header: bool,
    /// The attributes before the cell's single `|`, if it has any.
    pub attrs: Option<Range<usize>>,
    /// The content: up to the next cell marker on the line, or to the end of
    /// the last line that continues it (newline excluded).
    pub content: Range<usize>,
}

/// The tables that start in `within` of `text` and are not inside another
/// table, a comment or a `<nowiki>`/`<pre>` body.
pub fn tables_in(text: &str, within: Range<usize>) -> Vec<Table> {
    let hidden = masked(text);
    let end = within.end.min(text.len());
    let mut reader = Reader::new(text, &hidden);
    let mut offset = within.start.min(text.len());
    while offset < text.len() {
        if offset >= end && reader.stack.is_empty() {
            break;
        }
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        reader.line(offset..line_end);
        offset = line_end + 1;
    }
    reader.finish();
    reader.done
}

/// What is open where the reader stands, for one table on its stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenCell {
    /// At row level: no cell or caption open.
    None,
    /// A cell of the current row (its content grows with continuation lines).
    Cell,
    /// A caption (its lines belong to no cell).
    Caption,
}

/// A table being read.
struct Building {
    table: Table,
    /// Whether it is a table of the text (not nested in another's cell).
    top: bool,
    /// Its `|}` is still to come, but MediaWiki's HTML ended it already (a
    /// table opened at its row level): its lines make no cells.
    ended: bool,
    open_cell: OpenCell,
}

/// MediaWiki's table pass over lines, with a stack of open tables.
struct Reader<'t> {
    text: &'t str,
    hidden: &'t str,
    stack: Vec<Building>,
    done: Vec<Table>,
}

/// `{|` after optional `:` indentation and spaces, as MediaWiki finds it.
static TABLE_OPEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^:*[ \t]*\{\|").expect("valid pattern"));

impl<'t> Reader<'t> {
    fn new(text: &'t str, hidden: &'t str) -> Self {
        Reader {
            text,
            hidden,
            stack: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Reads one line (its range, newline excluded).
    fn line(&mut self, line: Range<usize>) {
        let h = &self.hidden[line.clone()];
        let t = h.trim_start();
        let at = line.start + (h.len() - t.len());
        if let Some(m) = TABLE_OPEN.find(t) {
            self.open_table(at + m.end() - 2, line.end);
            return;
        }
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        if let Some(why) = doubtful_line(t) {
            mark(&mut top.table, why);
        }
        if t.contains("{{") {
            top.table.templates = true;
        }
        if t.starts_with("|}") {
            self.close_table(line.start, at + 2);
            return;
        }
        if top.ended {
            return;
        }
        if t.starts_with("|-") {
            top.table.rows.push(Row {
                line: Some(line.clone()),
                cells: Vec::new(),
            });
            top.open_cell = OpenCell::None;
        } else if t.starts_with("|+") {
            // A caption closes the row it stands in: the next cells make a new one.
            if top.table.rows.last().is_some_and(|r| !r.cells.is_empty()) {
                top.table.rows.push(Row {
                    line: None,
                    cells: Vec::new(),
                });
            }
            top.open_cell = OpenCell::Caption;
        } else if t.starts_with('!') || t.starts_with('|') {
            let header = t.starts_with('!');
            let (cells, doubt) = split_cells(self.hidden, at + 1, line.end, header);
            if let Some(why) = doubt {
                mark(&mut top.table, why);
            }
            let row = top
                .table
                .rows
                .last_mut()
                .expect("a table starts with a row");
            row.cells.extend(cells);
            top.open_cell = OpenCell::Cell;
        } else if top.open_cell == OpenCell::Cell && !self.text[line.clone()].trim().is_empty() {
            // (A line that is all comment continues the cell too.)
            if t.contains("||") || t.contains("!!") {
                // Parsoid starts a cell there, the legacy parser does not.
                mark(
                    &mut top.table,
                    "`||` or `!!` on a line that continues a cell".into(),
                );
            }
            extend(&mut top.table, line.end);
        } else if top.open_cell == OpenCell::None && t.contains("{{") {
            // Text at row level goes before the table; a template in it may
            // make cells or rows all the same.
            mark(&mut top.table, "a template in text at its row level".into());
        }
    }

    /// A `{|` at `start`: nested in the open cell, or ending the open table
    /// when it stands at that table's row level.
    fn open_table(&mut self, start: usize, line_end: usize) {
        // Inside a table the reader is unsure of, it cannot know where this
        // one stands either (in a cell a template made, say).
        let unsure = self
            .stack
            .iter()
            .any(|b| b.table.unsure.is_some())
            .then(|| "it stands in a table the reader is unsure of".to_string());
        let mut top = true;
        if let Some(parent) = self.stack.last_mut() {
            top = parent.top;
            if !parent.ended && parent.open_cell == OpenCell::None {
                // The browser's HTML parser closes the open table here.
                parent.ended = true;
                mark(
                    &mut parent.table,
                    "a table starts at its row level and ends it early".into(),
                );
                let end = self.text[..start]
                    .trim_end()
                    .len()
                    .max(parent.table.open.end);
                let t = finished(&parent.table, end, end);
                if parent.top {
                    self.done.push(t);
                }
            } else if !parent.ended {
                top = false;
            }
        }
        self.stack.push(Building {
            table: Table {
                range: start..line_end,
                open: start..line_end,
                close_line: line_end,
                rows: vec![Row {
                    line: None,
                    cells: Vec::new(),
                }],
                unsure,
                templates: false,
            },
            top,
            ended: false,
            open_cell: OpenCell::None,
        });
    }

    /// A `|}` line starting at `line_start`, its `|}` ending at `end`.
    fn close_table(&mut self, line_start: usize, end: usize) {
        let Some(b) = self.stack.pop() else { return };
        if b.ended {
            return;
        }
        let table = finished(&b.table, line_start, end);
        self.nested_done(&table);
        if b.top {
            self.done.push(table);
        }
    }

    /// A table nested in the open cell of the table below it: that cell's
    /// content now reaches its end, and its doubts are the outer table's.
    fn nested_done(&mut self, nested: &Table) {
        if let Some(parent) = self.stack.iter_mut().rev().find(|p| !p.ended) {
            if parent.open_cell == OpenCell::Cell {
                extend(&mut parent.table, nested.range.end);
            }
            if let Some(why) = &nested.unsure {
                mark(&mut parent.table, format!("a table nested in it: {why}"));
            }
            parent.table.templates |= nested.templates;
        }
    }

    /// The end of the text: tables still open end with it.
    fn finish(&mut self) {
        let end = self.text.trim_end().len();
        while let Some(mut b) = self.stack.pop() {
            if b.ended {
                continue;
            }
            mark(&mut b.table, "it has no closing `|}`".into());
            let table = finished(
                &b.table,
                end.max(b.table.open.end),
                end.max(b.table.open.end),
            );
            self.nested_done(&table);
            if b.top {
                self.done.push(table);
            }
        }
        self.done.sort_by_key(|t| t.range.start);
    }
}

/// A finished copy of `table`: its `|}` line at `close_line`, its end at
/// `end`, only the rows that have cells.
fn finished(table: &Table, close_line: usize, end: usize) -> Table {
    let mut t = table.clone();
    t.range.end = end;
    t.close_line = close_line;
    t.rows.retain(|r| !r.cells.is_empty());
    t
}

/// Notes a reason not to write into `table` (the first one is kept).
fn mark(table: &mut Table, why: String) {
    if table.unsure.is_none() {
        table.unsure = Some(why);
    }
}

/// A line that continues the last cell: the cell's content now ends there.
fn extend(table: &mut Table, end: usize) {
    if let Some(cell) = table.rows.last_mut().and_then(|r| r.cells.last_mut()) {
        cell.content.end = end;
    }
}

/// HTML elements that may stand in a table's wikitext and make rows or cells.
static HTML_TABLE_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)</?(table|tr|td|th|caption|tbody|thead|tfoot|colgroup|col)[\s/>]")
        .expect("valid pattern")
});

/// Why a line of a table (masked) makes the reader unsure of its structure.
fn doubtful_line(t: &str) -> Option<String> {
    if HTML_TABLE_TAG.is_match(t) {
        return Some("it has HTML table tags (`<tr>`, `<td>`, …) among its wikitext".into());
    }
    if t.contains("{{!") || t.contains("{{{") || t.contains("!}}") || t.contains("-{") {
        return Some(
            "`{{!}}`, template parameters or language-converter markup may make its cells".into(),
        );
    }
    if t.starts_with("{{") {
        return Some("a template at the start of one of its lines may make rows or cells".into());
    }
    None
}

/// The elements MediaWiki lets wikitext write as HTML tags: a separator
/// inside one of these tags separates nothing.
const HTML_TAGS: &[&str] = &[
    "abbr",
    "b",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "data",
    "dd",
    "del",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "ins",
    "kbd",
    "li",
    "link",
    "mark",
    "meta",
    "ol",
    "p",
    "pre",
    "q",
    "rb",
    "rp",
    "rt",
    "rtc",
    "ruby",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "td",
    "th",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
];

/// The end of the HTML tag starting at `i` (at its `<`), when it is one
/// MediaWiki reads as a tag: up to its first `>`. The flag says the tag has
/// an odd number of `"` before that `>` (a quoted `>`): the legacy parser
/// ends the tag there, Parsoid at the closing quote.
fn html_tag_end(h: &str, i: usize, end: usize) -> Option<(usize, bool)> {
    let rest = &h[i + 1..end];
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let name_len = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = &rest[..name_len];
    if name.is_empty() || !HTML_TAGS.iter().any(|t| t.eq_ignore_ascii_case(name)) {
        return None;
    }
    let after = rest[name_len..].chars().next()?;
    if !(after.is_whitespace() || after == '>' || after == '/') {
        return None;
    }
    let close = i + h[i..end].find('>')? + 1;
    let odd = h[i..close].matches('"').count() % 2 == 1;
    Some((close, odd))
}

/// The cells of one cell line, from just after its first marker, and why
/// the reader cannot be sure of them, if so.
fn split_cells(hidden: &str, from: usize, end: usize, header: bool) -> (Vec<Cell>, Option<String>) {
    let bytes = hidden.as_bytes();
    let mut cells = Vec::new();
    let mut doubt = None;
    let mut start = from;
    let mut i = from;
    let mut links = 0usize;
    let mut templates = 0usize;
    while i < end {
        let two = &bytes[i..(i + 2).min(end)];
        if bytes[i] == b'<' {
            if let Some((tag_end, odd)) = html_tag_end(hidden, i, end) {
                if templates > 0 || hidden[i..tag_end].contains("{{") {
                    doubt.get_or_insert_with(|| "a template inside an HTML tag".to_string());
                }
                if odd {
                    doubt.get_or_insert_with(|| "a `>` inside a quoted HTML attribute".to_string());
                }
                i = tag_end;
                continue;
            }
        }
        match two {
            b"[[" => links += 1,
            b"]]" => links = links.saturating_sub(1),
            b"{{" => templates += 1,
            b"}}" => templates = templates.saturating_sub(1),
            _ => {}
        }
        if matches!(two, b"[[" | b"]]" | b"{{" | b"}}") {
            i += 2;
            continue;
        }
        let separator = two == b"||" || (header && two == b"!!");
        if separator && templates == 0 {
            if links > 0 && two == b"||" {
                // Parsoid keeps `[[a||b]]` one link, the legacy parser splits it.
                doubt.get_or_insert_with(|| "`||` inside a link".to_string());
            }
            cells.push(cell(hidden, start, i, header, &mut doubt));
            i += 2;
            start = i;
            continue;
        }
        i += hidden[i..].chars().next().map_or(1, char::len_utf8);
    }
    if templates > 0 {
        // An unclosed `{{` is text to MediaWiki; separators after it count there.
        doubt.get_or_insert_with(|| "a `{{` without its `}}` on a cell line".to_string());
    }
    cells.push(cell(hidden, start, end, header, &mut doubt));
    (cells, doubt)
}

/// Attributes as both of MediaWiki's parsers read them alike: names,
/// optionally with plain or quoted values, and nothing else.
static ATTRIBUTES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*(?:[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>|\[\]{}]+))?\s*)*$"#,
    )
    .expect("valid pattern")
});

/// One cell from `start` to `end`: attributes before its first single `|`
/// (outside HTML tags and template calls) that no `[[` precedes.
fn cell(hidden: &str, start: usize, end: usize, header: bool, doubt: &mut Option<String>) -> Cell {
    let bytes = hidden.as_bytes();
    let mut i = start;
    let mut templates = 0usize;
    let mut bar = None;
    while i < end {
        if bytes[i] == b'<' && templates == 0 {
            if let Some((tag_end, _)) = html_tag_end(hidden, i, end) {
                i = tag_end;
                continue;
            }
        }
        match &bytes[i..(i + 2).min(end)] {
            b"{{" => {
                templates += 1;
                i += 2;
                continue;
            }
            b"}}" if templates > 0 => {
                templates -= 1;
                i += 2;
                continue;
            }
            _ => {}
        }
        if bytes[i] == b'|' && templates == 0 {
            bar = Some(i);
            break;
        }
        i += hidden[i..].chars().next().map_or(1, char::len_utf8);
    }
    let whole = Cell {
        header,
        attrs: None,
        content: start..end,
    };
    let Some(b) = bar else { return whole };
    let before = &hidden[start..b];
    if before.contains("[[") {
        return whole;
    }
    if before.contains("{{") {
        // What the template gives may be attributes, text or more bars.
        doubt.get_or_insert_with(|| "a template before a cell's `|` may be its attributes".into());
    } else if !ATTRIBUTES.is_match(before) {
        // Markup before the bar: the two parsers of MediaWiki part it differently.
        doubt.get_or_insert_with(|| "a cell's text before its `|` is not plain attributes".into());
    }
    Cell {
        header,
        attrs: Some(start..b),
        content: b + 1..end,
    }
}

/// The plain text of a piece of wikitext, close to what a reader sees:
/// comments dropped, `<br>` and new lines as spaces, tags and bold/italic
/// quotes dropped, links reduced to their labels, whitespace collapsed. For
/// header matching.
pub fn plain(wikitext: &str) -> String {
    static COMMENT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?s)<!--.*?(?:-->|$)").expect("valid pattern"));
    static BR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)<br\s*/?>").expect("valid pattern"));
    let wikitext = COMMENT.replace_all(wikitext, "");
    let wikitext = wikitext.as_ref();
    static TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"</?[A-Za-z][^>]*>").expect("valid pattern"));
    static LINK: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]").expect("valid pattern"));
    static EXT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\[(?:https?:)?//[^\s\]]+\s*([^\]]*)\]").expect("valid pattern")
    });
    let t = BR.replace_all(wikitext, " ");
    let t = TAG.replace_all(&t, "");
    let t = LINK.replace_all(&t, "$1");
    let t = EXT.replace_all(&t, "$1");
    let t = t.replace("'''", "").replace("''", "");
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sets `name="value"` in an attribute string: replaces the attribute when
/// it is there, else appends it.
pub fn set_attribute(attrs: &str, name: &str, value: &str) -> String {
    let re = attribute_re(name);
    let new = format!("{name}=\"{value}\"");
    if let Some(m) = re.find(attrs) {
        let lead = &attrs[m.start()..]
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect::<String>();
        let mut out = attrs.to_string();
        out.replace_range(m.range(), &format!("{lead}{new}"));
        return out;
    }
    let trimmed = attrs.trim_end();
    let trail = &attrs[trimmed.len()..];
    if trimmed.is_empty() {
        format!(" {new}{trail}")
    } else {
        format!("{trimmed} {new}{trail}")
    }
}

/// The value of attribute `name` in an attribute string.
pub fn attribute(attrs: &str, name: &str) -> Option<String> {
    let c = attribute_re(name).captures(attrs)?;
    let v = c.get(2).or(c.get(3)).or(c.get(4))?;
    Some(v.as_str().to_string())
}

/// Removes attribute `name` from an attribute string.
pub fn remove_attribute(attrs: &str, name: &str) -> String {
    attribute_re(name).replace_all(attrs, "").into_owned()
}

/// The pattern of attribute `name`, compiled once per name and kept for the
/// life of the process: the bot asks for a handful of fixed names, many times
/// per page, and a `Regex` shared (not cloned) keeps its search cache.
fn attribute_re(name: &str) -> &'static Regex {
    type Compiled = std::collections::HashMap<String, &'static Regex>;
    static COMPILED: LazyLock<std::sync::Mutex<Compiled>> = LazyLock::new(Default::default);
    let compile = || {
        Regex::new(&format!(
            r#"(?i)(^|\s){}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>|]+))"#,
            regex::escape(name)
        ))
        .expect("attribute pattern is valid")
    };
    // A poisoned lock only means another thread panicked while inserting:
    // the map itself is still whole.
    let mut map = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(name.to_string())
        .or_insert_with(|| Box::leak(Box::new(compile())))
}

/// An attribute string with its background colour set to `colour` (or
/// removed, for `None`): `bgcolor` goes, `background`/`background-color`
/// declarations leave `style`, and `background:colour` joins it.
pub fn with_background(attrs: &str, colour: Option<&str>) -> String {
    let mut out = remove_attribute(attrs, "bgcolor");
    let style = attribute(&out, "style").unwrap_or_default();
    let mut decls: Vec<String> = style
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| {
            let name = d
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            name != "background" && name != "background-color"
        })
        .map(str::to_string)
        .collect();
    if let Some(c) = colour {
        decls.insert(0, format!("background:{c}"));
    }
    if decls.is_empty() {
        out = remove_attribute(&out, "style");
    } else {
        out = set_attribute(&out, "style", &decls.join("; "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECK: &str = "intro\n{| class=\"wikitable\"\n! Key Results !! Year Goal !! Q1 Status\n|-\n| KR1: Hire [[Staff|people]] || 4 SPoF || bgcolor=#b6d7a8 | 25% filled\n|-\n|KR2\n| 2 teams\n| style=\"background:#ffe599\" | Behind<br>one team\nsecond line\n|}\nafter\n";

    fn texts(text: &str, t: &Table) -> Vec<Vec<String>> {
        t.rows
            .iter()
            .map(|r| {
                r.cells
                    .iter()
                    .map(|c| text[c.content.clone()].trim().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn rows_and_cells_of_a_deck_table() {
        let tables = tables_in(DECK, 0..DECK.len());
        assert_eq!(tables.len(), 1);
        let t = &tables[0];
        assert_eq!(&DECK[t.range.clone()], &DECK[6..DECK.len() - 7]);
        assert_eq!(&DECK[t.open.clone()], "{| class=\"wikitable\"");
        assert_eq!(
            texts(DECK, t),
            vec![
                vec!["Key Results", "Year Goal", "Q1 Status"],
                vec!["KR1: Hire [[Staff|people]]", "4 SPoF", "25% filled"],
                vec!["KR2", "2 teams", "Behind<br>one team\nsecond line"],
            ]
        );
        let c = &t.rows[1].cells[2];
        assert_eq!(&DECK[c.attrs.clone().unwrap()], " bgcolor=#b6d7a8 ");
        assert!(
            t.rows[1].cells[0].attrs.is_none(),
            "a link's | is no attribute bar"
        );
        assert_eq!(&DECK[t.rows[2].line.clone().unwrap()], "|-");
        assert!(t.rows[0].line.is_none());
        assert!(DECK[t.close_line..].starts_with("|}"));
    }

    #[test]
    fn nested_tables_and_hidden_tables() {
        let text = "<!--\n{| x\n|}\n-->\n{|\n! Q1\n|-\n| a\n{|\n| inner\n|}\n| b\n|}\n";
        let tables = tables_in(text, 0..text.len());
        assert_eq!(tables.len(), 1, "the commented-out table is not one");
        assert_eq!(tables[0].rows.len(), 2);
        assert_eq!(tables[0].rows[1].cells.len(), 2);
        assert!(text[tables[0].rows[1].cells[0].content.clone()].contains("inner"));
    }

    #[test]
    fn plain_text_of_headers() {
        assert_eq!(plain("'''Q1<br/>Status'''"), "Q1 Status");
        assert_eq!(plain(" [[Key results|Key Results]] "), "Key Results");
        assert_eq!(plain("<span style=\"x\">Y2 Goal</span>"), "Y2 Goal");
        // A comment is not read: a header holding one names its column
        // (found by the simulation: a row the bot added to such a staff
        // table had no label).
        assert_eq!(
            plain("Key Results <!-- was: KRs !! Goals -->"),
            "Key Results"
        );
        assert_eq!(plain("Q1 <!-- open"), "Q1");
    }

    #[test]
    fn attributes() {
        assert_eq!(
            set_attribute(" class=\"wikitable\"", "data-x", "1"),
            " class=\"wikitable\" data-x=\"1\""
        );
        assert_eq!(set_attribute("", "data-x", "1"), " data-x=\"1\"");
        assert_eq!(
            set_attribute(" data-x='0' ", "data-x", "1"),
            " data-x=\"1\" "
        );
        assert_eq!(
            attribute("bgcolor=#fff style=\"a:b\"", "style").as_deref(),
            Some("a:b")
        );
        assert_eq!(
            attribute("bgcolor=#fff", "bgcolor").as_deref(),
            Some("#fff")
        );
        assert_eq!(
            with_background(" bgcolor=#b6d7a8 ", Some("#f8d7da")),
            " style=\"background:#f8d7da\" "
        );
        assert_eq!(
            with_background(
                " style=\"background-color: red; color:#000;\" ",
                Some("#fff3cd")
            ),
            " style=\"background:#fff3cd; color:#000\" "
        );
        assert_eq!(with_background(" style=\"background:red\"", None), "");
    }

    /// The cells' trimmed contents per row, and whether the reader is sure.
    fn read(text: &str) -> Vec<(Vec<Vec<String>>, bool)> {
        tables_in(text, 0..text.len())
            .iter()
            .map(|t| (texts(text, t), t.unsure.is_none()))
            .collect()
    }

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|c| c.iter().map(|s| (*s).to_string()).collect())
            .collect()
    }

    /// Issue cases, each as MediaWiki 1.43 (Parsoid and the legacy parser) reads it.
    #[test]
    fn separators_inside_html_tags_separate_nothing() {
        let t = "{|\n! a <span title=\"x!!y\">b</span>\n|}";
        assert_eq!(
            read(t),
            vec![(rows(&[&["a <span title=\"x!!y\">b</span>"]]), true)]
        );
        let t = "{|\n| style=\"background-color: #fff2cc;\" | Lag <span title=\"a||b\">half</span> done || Q2\n|}";
        assert_eq!(
            read(t),
            vec![(
                rows(&[&["Lag <span title=\"a||b\">half</span> done", "Q2"]]),
                true
            )]
        );
        let t = "{|\n| a <span title=\"x|y\">b</span>\n|}";
        let tables = tables_in(t, 0..t.len());
        assert!(
            tables[0].rows[0].cells[0].attrs.is_none(),
            "a bar in a tag is no attribute bar"
        );
        // Not a tag MediaWiki knows: the separators count.
        let t = "{|\n| a <foo title=\"x||y\"> z\n|}";
        assert_eq!(
            read(t),
            vec![(rows(&[&["a <foo title=\"x", "y\"> z"]]), true)]
        );
        let t = "{|\n! a < b !! c > d\n|}";
        assert_eq!(read(t), vec![(rows(&[&["a < b", "c > d"]]), true)]);
    }

    #[test]
    fn html_rows_and_cells_make_the_reader_unsure() {
        for t in [
            "{|\n| a\n<tr><td>b</td></tr>\n|}",
            "{|\n|-\n<td>a</td><td>b</td>\n|}",
        ] {
            let tables = tables_in(t, 0..t.len());
            assert_eq!(tables.len(), 1);
            assert!(tables[0].unsure.is_some(), "{t}");
        }
    }

    #[test]
    fn cells_templates_may_make_make_the_reader_unsure() {
        for t in [
            "{|\n| {{1x|a{{!}}{{!}}b}} || c\n|}",
            "{|\n| style=\"x\" {{1x|1={{!}}}} a\n|}",
            "{|\n| {{1x|style=\"x\"}} | a\n|}",
            "{|\n|-\n{{Table row|a|b}}\n|}",
        ] {
            let tables = tables_in(t, 0..t.len());
            assert_eq!(tables.len(), 1, "{t}");
            assert!(tables[0].unsure.is_some(), "{t}");
        }
        // `{{{!}}` … `{{!}}}`: no wikitext table for the reader (nothing to write into).
        assert!(tables_in("{{{!}}\n{{!}} a\n{{!}}}", 0..20).is_empty());
        // A template inside a cell's content, its bars its own: sure (the wiki is asked before a write).
        let t = "{|\n| {{Phabricator|T1}} done || b\n|}";
        assert_eq!(
            read(t),
            vec![(rows(&[&["{{Phabricator|T1}} done", "b"]]), true)]
        );
        // `||` inside a link: Parsoid keeps one link, the legacy parser splits.
        let t = "{|\n| [[Foo||bar]] || c\n|}";
        assert!(!read(t)[0].1);
        // `!!` inside a link on a header line: both parsers split it.
        let t = "{|\n! [[a!!b]] !! c\n|}";
        assert_eq!(read(t), vec![(rows(&[&["[[a", "b]]", "c"]]), true)]);
    }

    #[test]
    fn a_table_at_row_level_ends_the_open_table() {
        let t = "{|\n|-\n{|\n| inner\n|}\n| outer\n|}";
        let tables = tables_in(t, 0..t.len());
        assert_eq!(tables.len(), 2);
        assert!(tables[0].rows.is_empty());
        assert!(tables[0].unsure.is_some(), "the outer table ended early");
        assert_eq!(texts(t, &tables[1]), rows(&[&["inner"]]));
        assert!(tables[1].unsure.is_none());
        // Inside a cell, the table nests and the cell holds it.
        let t = "{|\n| a || b\n|-\n| c\n{|\n| in\n|}\n| d\n|}";
        assert_eq!(
            read(t),
            vec![(rows(&[&["a", "b"], &["c\n{|\n| in\n|}", "d"]]), true)]
        );
    }

    #[test]
    fn indented_and_unclosed_tables_are_read() {
        let t = ":{|\n| a\n|}";
        let tables = tables_in(t, 0..t.len());
        assert_eq!(texts(t, &tables[0]), rows(&[&["a"]]));
        assert_eq!(tables[0].open.start, 1);
        assert!(tables[0].unsure.is_none());
        let t = "{|\n| a\n| b";
        let tables = tables_in(t, 0..t.len());
        assert_eq!(texts(t, &tables[0]), rows(&[&["a", "b"]]));
        assert!(tables[0].unsure.is_some(), "no closing line: never written");
    }

    proptest::proptest! {
        /// Any text, however broken its tables, is read without a panic, and
        /// every range found lies on character boundaries inside the text.
        #[test]
        fn any_text_reads_without_a_panic(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "{|", "|}", "|-", "|+", "!", "!!", "||", "|", "\n", " ", "[[", "]]",
                    "{{", "}}", "<!--", "-->", "<nowiki>", "</nowiki>", "é", "ש", "x=1",
                    "style=\"a\"", "bgcolor=#fff", "KR1", "Q1 Status", "\u{200f}",
                ]),
                0..60,
            )
        ) {
            let text: String = parts.concat();
            for t in tables_in(&text, 0..text.len()) {
                for r in std::iter::once(t.range.clone()).chain(std::iter::once(t.open.clone())) {
                    proptest::prop_assert!(text.get(r).is_some());
                }
                for row in &t.rows {
                    if let Some(l) = &row.line {
                        proptest::prop_assert!(text.get(l.clone()).is_some());
                    }
                    for c in &row.cells {
                        proptest::prop_assert!(text.get(c.content.clone()).is_some());
                        if let Some(a) = &c.attrs {
                            proptest::prop_assert!(text.get(a.clone()).is_some());
                        }
                    }
                }
            }
        }
    }
}
