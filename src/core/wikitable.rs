//! Wikitext tables as MediaWiki reads them, with the byte range of every
//! row and cell, so the bot can change one cell of a table staff wrote and
//! leave every other byte as it was (`pages.md`, "KR tables written by staff").
//!
//! The grammar is the wikitext table syntax: `{|` opens a table, `|+` a
//! caption, `|-` a row, `!` and `|` start header and data cells, `!!` and
//! `||` start further cells on the same line, a single `|` inside a cell
//! separates its attributes from its content (unless a `[[` or `{{` comes
//! first), lines that start with none of these continue the cell before
//! them, and a nested `{|` … `|}` belongs to the cell it stands in.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::core::wikitext::masked;

/// One wikitext table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// From `{|` to the end of `|}`.
    pub range: Range<usize>,
    /// The `{|` line, without its newline.
    pub open: Range<usize>,
    /// Where the `|}` line starts (a new row goes right before it).
    pub close_line: usize,
    /// Rows that have cells, in order (the header row is usually the first).
    pub rows: Vec<Row>,
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
    let mut out = Vec::new();
    let mut offset = within.start;
    let end = within.end.min(text.len());
    while offset < end {
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        if hidden[offset..line_end].trim_start().starts_with("{|") {
            if let Some(table) = parse_at(text, &hidden, offset) {
                offset = table.range.end;
                out.push(table);
                continue;
            }
        }
        offset = line_end + 1;
    }
    out
}

/// The table whose `{|` line starts at `start`.
pub fn parse(text: &str, start: usize) -> Option<Table> {
    parse_at(text, &masked(text), start)
}

fn parse_at(text: &str, hidden: &str, start: usize) -> Option<Table> {
    let mut lines = Vec::new();
    let mut offset = start;
    for line in text[start..].split_inclusive('\n') {
        let content_end = offset + line.trim_end_matches(['\n', '\r']).len();
        lines.push(offset..content_end);
        offset += line.len();
    }
    let open = lines.first()?.clone();
    let mut rows: Vec<Row> = vec![Row {
        line: None,
        cells: Vec::new(),
    }];
    let mut depth = 0usize;
    // The cell the next continuation line belongs to.
    let mut open_cell = false;
    for line in lines.iter().skip(1) {
        let h = &hidden[line.clone()];
        let t = h.trim_start();
        let lead = h.len() - t.len();
        let at = line.start + lead;
        if depth > 0 {
            if t.starts_with("{|") {
                depth += 1;
            } else if t.starts_with("|}") {
                depth -= 1;
            }
            extend(&mut rows, open_cell, line.end);
            continue;
        }
        if t.starts_with("{|") {
            depth = 1;
            extend(&mut rows, open_cell, line.end);
            continue;
        }
        if t.starts_with("|}") {
            let rows = rows.into_iter().filter(|r| !r.cells.is_empty()).collect();
            let close_end = at + 2;
            return Some(Table {
                range: start..close_end,
                open,
                close_line: line.start,
                rows,
            });
        }
        if t.starts_with("|+") {
            open_cell = false;
            continue;
        }
        if t.starts_with("|-") {
            rows.push(Row {
                line: Some(line.clone()),
                cells: Vec::new(),
            });
            open_cell = false;
            continue;
        }
        let header = t.starts_with('!');
        if header || t.starts_with('|') {
            let row = rows.last_mut().expect("rows starts non-empty");
            row.cells
                .extend(split_cells(text, hidden, at + 1, line.end, header));
            open_cell = true;
            continue;
        }
        extend(&mut rows, open_cell, line.end);
    }
    None
}

/// A line that continues the last cell: the cell's content now ends there.
fn extend(rows: &mut [Row], open_cell: bool, end: usize) {
    if !open_cell {
        return;
    }
    if let Some(cell) = rows.last_mut().and_then(|r| r.cells.last_mut()) {
        cell.content.end = end;
    }
}

/// The cells of one cell line, from just after its first marker.
fn split_cells(text: &str, hidden: &str, from: usize, end: usize, header: bool) -> Vec<Cell> {
    let bytes = hidden.as_bytes();
    let mut cells = Vec::new();
    let mut start = from;
    let mut i = from;
    let mut links = 0usize;
    let mut templates = 0usize;
    while i < end {
        let two = &bytes[i..(i + 2).min(end)];
        match two {
            b"[[" => {
                links += 1;
                i += 2;
                continue;
            }
            b"]]" => {
                links = links.saturating_sub(1);
                i += 2;
                continue;
            }
            b"{{" => {
                templates += 1;
                i += 2;
                continue;
            }
            b"}}" => {
                templates = templates.saturating_sub(1);
                i += 2;
                continue;
            }
            _ => {}
        }
        if links == 0 && templates == 0 && (two == b"||" || (header && two == b"!!")) {
            cells.push(cell(text, hidden, start, i, header));
            i += 2;
            start = i;
            continue;
        }
        i += if bytes[i].is_ascii() {
            1
        } else {
            hidden[i..].chars().next().map_or(1, char::len_utf8)
        };
    }
    cells.push(cell(text, hidden, start, end, header));
    cells
}

/// One cell from `start` to `end`: attributes before a single `|` that no
/// `[[` or `{{` precedes.
fn cell(_text: &str, hidden: &str, start: usize, end: usize, header: bool) -> Cell {
    let seg = &hidden[start..end];
    let bar = seg.find('|');
    let opener = [seg.find("[["), seg.find("{{")].into_iter().flatten().min();
    match bar {
        Some(b) if opener.is_none_or(|o| o > b) && !seg[b..].starts_with("||") => Cell {
            header,
            attrs: Some(start..start + b),
            content: start + b + 1..end,
        },
        _ => Cell {
            header,
            attrs: None,
            content: start..end,
        },
    }
}

/// The plain text of a piece of wikitext, close to what a reader sees:
/// `<br>` and new lines as spaces, tags and bold/italic quotes dropped, links
/// reduced to their labels, whitespace collapsed. For header matching.
pub fn plain(wikitext: &str) -> String {
    static BR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)<br\s*/?>").expect("valid pattern"));
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

fn attribute_re(name: &str) -> Regex {
    Regex::new(&format!(
        r#"(?i)(^|\s){}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>|]+))"#,
        regex::escape(name)
    ))
    .expect("attribute pattern is valid")
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
