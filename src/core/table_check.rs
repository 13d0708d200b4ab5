//! The wiki's word on a table before the bot writes into it: the rows and
//! cells the reader ([`crate::core::wikitable`]) found in a revision's
//! wikitext, compared with those of the wiki's own Parsoid parse of that
//! revision, which gives every element the byte range of its source (`dsr`,
//! in the `data-parsoid` the bot's HTML reads carry with `flavor=edit`).
//!
//! A table agrees when the wiki sees a table at the same `{|`, with the same
//! rows, each with the same cells (header or data) whose contents span the
//! same bytes (spaces around them aside), and no cell the wiki made from a
//! template. Anything else is a disagreement, and the bot does not write
//! into that table. The verdict is kept by the table's [`digest`], so a
//! table is checked again only when its text changed.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::core::wikitable::{self, Table};

/// Changes whenever the reader's rules change: verdicts kept for an older
/// reader are not used.
pub const READER_VERSION: &str = "wikitable-2";

/// What the wiki said of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The wiki sees exactly the reader's rows and cells.
    Agrees,
    /// It does not (or the reader itself is unsure): why.
    Differs(String),
}

/// The verdicts kept so far, by table digest.
pub type Verdicts = BTreeMap<String, Verdict>;

/// The bot's identity attributes, which adoption adds to a staff table's
/// `{|` and `|-` lines and which change none of its cells.
static IDENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\s*data-goalsbot-(?:objective|kr)\s*=\s*(?:"[^"|]*"|'[^'|]*')"#)
        .expect("valid pattern")
});

/// The digest of a table's text without the bot's identity attributes (so
/// adopting a table keeps its verdict): the key of its verdict.
pub fn digest(text: &str, table: &Table) -> String {
    let mut h = Sha256::new();
    h.update(READER_VERSION.as_bytes());
    h.update([0]);
    h.update(
        IDENTITY
            .replace_all(&text[table.range.clone()], "")
            .as_bytes(),
    );
    format!("{:x}", h.finalize())
}

/// The shape of a table: each row's cells as header flags.
fn shape(table: &Table) -> Vec<Vec<bool>> {
    table
        .rows
        .iter()
        .map(|r| r.cells.iter().map(|c| c.header).collect())
        .collect()
}

/// Verdicts for the tables of `new` (the bot's plan of `old`) that have
/// none: a table the reader is sure of that stands where an agreed table of
/// `old` stood (the same place among the page's tables) with that table's
/// rows and cells, more rows at its end allowed, agrees too. The bot's own
/// edits of cells are escaped text and its rows are its own, so the wiki is
/// not asked again about a table the bot alone changed.
pub fn derived(old: &str, new: &str, verdicts: &Verdicts) -> Vec<(String, Verdict)> {
    let before = wikitable::tables_in(old, 0..old.len());
    let after = wikitable::tables_in(new, 0..new.len());
    if before.len() != after.len() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (b, a) in before.iter().zip(&after) {
        let (db, da) = (digest(old, b), digest(new, a));
        if da == db || verdicts.contains_key(&da) || a.unsure.is_some() {
            continue;
        }
        let (sb, sa) = (shape(b), shape(a));
        let grown = sa.len() >= sb.len() && sa[..sb.len()] == sb[..];
        if grown && verdicts.get(&db) == Some(&Verdict::Agrees) {
            out.push((da, Verdict::Agrees));
        }
    }
    out
}

/// One cell as Parsoid shows it: header or data, and its content's source
/// bytes (`None`: no source range of its own, e.g. made by a template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WikiCell {
    pub header: bool,
    pub content: Option<Range<usize>>,
}

/// One table of the wiki's parse that is not nested in another: the source
/// range of the table and its rows that have cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WikiTable {
    pub range: Option<Range<usize>>,
    pub rows: Vec<Vec<WikiCell>>,
}

/// A table tag; its attributes' quoted values may hold `>` (a comment in a
/// cell's attributes shows as `"<!-- c -->"` in `data-parsoid`).
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"<(/?)(table|tr|td|th)\b((?:[^>"']|"[^"]*"|'[^']*')*)>"#).expect("valid pattern")
});
static DSR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""dsr":\[([^\]]*)\]"#).expect("valid pattern"));

/// The `dsr` of a tag's attributes: start, end, open width, close width,
/// leading and trailing spaces (absent parts `None`).
fn dsr(attrs: &str) -> Option<Vec<Option<usize>>> {
    let c = DSR.captures(attrs)?;
    Some(c[1].split(',').map(|n| n.trim().parse().ok()).collect())
}

/// The content range a cell's `dsr` gives, spaces around it trimmed on `text`.
fn cell_content(text: &str, d: &[Option<usize>]) -> Option<Range<usize>> {
    let (start, end, open, close) = (d.first()?, d.get(1)?, d.get(2)?, d.get(3)?);
    let (start, end, open, close) = ((*start)?, (*end)?, (*open)?, (*close)?);
    let from = start + open;
    let to = end.checked_sub(close)?;
    if from > to || to > text.len() {
        return None;
    }
    Some(trimmed(text, from..to))
}

/// `range` without the whitespace at its ends.
pub fn trimmed(text: &str, range: Range<usize>) -> Range<usize> {
    let Some(s) = text.get(range.clone()) else {
        return range;
    };
    let lead = s.len() - s.trim_start().len();
    let t = s.trim();
    range.start + lead..range.start + lead + t.len()
}

/// The tables of Parsoid HTML (with inline `data-parsoid`) of `text`, each
/// with its rows that have cells; nested tables are part of their cell.
pub fn wiki_tables(text: &str, html: &str) -> Vec<WikiTable> {
    let mut out: Vec<WikiTable> = Vec::new();
    let mut depth = 0usize;
    for c in TAG.captures_iter(html) {
        let closing = &c[1] == "/";
        let name = &c[2];
        let attrs = &c[3];
        match (name, closing) {
            ("table", false) => {
                depth += 1;
                if depth == 1 {
                    let range =
                        dsr(attrs).and_then(|d| Some(d.first().copied()??..d.get(1).copied()??));
                    out.push(WikiTable {
                        range,
                        rows: Vec::new(),
                    });
                }
            }
            ("table", true) => depth = depth.saturating_sub(1),
            ("tr", false) if depth == 1 => {
                if let Some(t) = out.last_mut() {
                    t.rows.push(Vec::new());
                }
            }
            ("td" | "th", false) if depth == 1 => {
                let templated = attrs.contains("about=\"#mwt") || attrs.contains("typeof=");
                let content = if templated {
                    None
                } else {
                    dsr(attrs).and_then(|d| cell_content(text, &d))
                };
                if let Some(row) = out.last_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(WikiCell {
                        header: name == "th",
                        content,
                    });
                }
            }
            _ => {}
        }
    }
    for t in &mut out {
        t.rows.retain(|r| !r.is_empty());
    }
    out
}

/// The verdict on each table the reader finds in `text`, given the wiki's
/// Parsoid HTML of that same text: `(table, digest, verdict)`.
pub fn check(text: &str, html: &str) -> Vec<(Table, String, Verdict)> {
    let wiki = wiki_tables(text, html);
    wikitable::tables_in(text, 0..text.len())
        .into_iter()
        .map(|t| {
            let verdict = verdict(text, &t, &wiki);
            let d = digest(text, &t);
            (t, d, verdict)
        })
        .collect()
}

/// One table's verdict.
pub fn verdict(text: &str, table: &Table, wiki: &[WikiTable]) -> Verdict {
    if let Some(why) = &table.unsure {
        return Verdict::Differs(why.clone());
    }
    let Some(w) = wiki.iter().find(|w| {
        w.range
            .as_ref()
            .is_some_and(|r| r.start == table.open.start)
    }) else {
        return Verdict::Differs("the wiki sees no table where it starts".into());
    };
    match compare(text, table, w) {
        None => Verdict::Agrees,
        Some(why) => Verdict::Differs(why),
    }
}

/// Where the reader's table and the wiki's differ, if they do.
fn compare(text: &str, table: &Table, wiki: &WikiTable) -> Option<String> {
    if wiki.range.as_ref().map(|r| r.end) != Some(table.range.end) {
        return Some("the wiki ends the table elsewhere".into());
    }
    if wiki.rows.len() != table.rows.len() {
        return Some(format!(
            "the wiki sees {} rows, the bot {}",
            wiki.rows.len(),
            table.rows.len()
        ));
    }
    for (ri, (wr, r)) in wiki.rows.iter().zip(&table.rows).enumerate() {
        if wr.len() != r.cells.len() {
            return Some(format!(
                "row {}: the wiki sees {} cells, the bot {}",
                ri + 1,
                wr.len(),
                r.cells.len()
            ));
        }
        for (ci, (wc, c)) in wr.iter().zip(&r.cells).enumerate() {
            let Some(content) = &wc.content else {
                return Some(format!(
                    "row {}, cell {}: made by a template or without a source range of its own",
                    ri + 1,
                    ci + 1
                ));
            };
            if wc.header != c.header
                || !same_content(text, content, &trimmed(text, c.content.clone()))
            {
                return Some(format!(
                    "row {}, cell {}: the wiki reads {:?}, the bot {:?}",
                    ri + 1,
                    ci + 1,
                    text.get(content.clone()).unwrap_or(""),
                    text.get(trimmed(text, c.content.clone())).unwrap_or("")
                ));
            }
        }
    }
    None
}

/// Whether the wiki's and the reader's (trimmed) content ranges are the
/// same content. Two empty contents agree wherever each sits in its cell:
/// when row-level text is fostered out of the table, Parsoid ends an empty
/// cell after its line's newline (`<td>\n</td>`), the reader before it.
fn same_content(text: &str, wiki: &Range<usize>, ours: &Range<usize>) -> bool {
    if wiki == ours {
        return true;
    }
    let between = wiki.start.min(ours.start)..wiki.end.max(ours.end);
    wiki.is_empty() && ours.is_empty() && text.get(between).is_some_and(|s| s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsoid's HTML of `{|\n| a || b\n|-\n! c\n|}` (MediaWiki 1.43, flavor=edit).
    const TEXT: &str = "{|\n| a || b\n|-\n! c\n|}";
    const HTML: &str = r#"<table id="mwAg" data-parsoid='{"dsr":[0,21,2,2]}'>
<tbody id="mwAw" data-parsoid='{"dsr":[3,19,0,0]}'><tr id="mwBA" data-parsoid='{"autoInsertedStart":true,"dsr":[3,11,0,0]}'><td id="mwBQ" data-parsoid='{"dsr":[3,7,1,0,1,1]}'>a</td><td id="mwBg" data-parsoid='{"stx":"row","dsr":[7,11,2,0,1,0]}'>b</td></tr>
<tr id="mwBw" data-parsoid='{"startTagSrc":"|-","dsr":[12,18,2,0]}'>
<th id="mwCA" data-parsoid='{"dsr":[15,18,1,0,1,0]}'>c</th></tr>
</tbody></table>"#;

    #[test]
    fn a_table_the_wiki_reads_alike_agrees() {
        let checks = check(TEXT, HTML);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].2, Verdict::Agrees);
    }

    /// Parsoid's HTML of an empty cell whose row is followed by text that
    /// is fostered out of the table: the cell's range takes the newline.
    #[test]
    fn an_empty_cell_agrees_wherever_its_whitespace_ends() {
        let text = "intro\n{|\n| \n|-\ndone\n|}\nafter";
        let html = r#"<p id="mwAw" data-parsoid='{"fostered":true,"autoInsertedStart":true,"dsr":[6,6,null,null]}'>
done
</p><table id="mwBA" data-parsoid='{"dsr":[6,22,2,2]}'>
<tbody id="mwBQ" data-parsoid='{"dsr":[9,20,0,0]}'><tr id="mwBg" data-parsoid='{"autoInsertedStart":true,"dsr":[9,12,0,0]}'><td id="mwBw" data-parsoid='{"dsr":[9,12,1,0,1,0]}'>
</td></tr><tr class="mw-empty-elt" id="mwCA" data-parsoid='{"startTagSrc":"|-","dsr":[12,20,2,0]}'></tr></tbody></table>"#;
        let checks = check(text, html);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].2, Verdict::Agrees);
        // A cell with words at another place still differs.
        let html = html.replace("[9,12,1,0,1,0]", "[9,16,1,0,1,0]");
        assert!(matches!(&check(text, &html)[0].2, Verdict::Differs(_)));
    }

    /// Parsoid's HTML of a cell whose attributes hold a comment: its
    /// `data-parsoid` holds a raw `>` (found by the conformance test).
    #[test]
    fn a_comment_in_a_cells_attributes_is_read_through() {
        let text = "intro\n{|\n| <!-- c || d --> a | b\n|}\nafter";
        let html = r#"<table id="mwAw" data-parsoid='{"dsr":[6,35,2,2]}'>
<tbody id="mwBA" data-parsoid='{"dsr":[9,33,0,0]}'><tr id="mwBQ" data-parsoid='{"autoInsertedStart":true,"dsr":[9,32,0,0]}'><td id="mwBg" data-parsoid='{"a":{"&lt;!-- c || d -->":null,"a":null},"sa":{"&lt;!-- c || d -->":"","a":""},"dsr":[9,32,21,0,1,0]}'>b</td></tr>
</tbody></table>"#;
        let wiki = wiki_tables(text, html);
        assert_eq!(wiki[0].rows[0][0].content, Some(31..32));
        let checks = check(text, html);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].2, Verdict::Agrees);
    }

    #[test]
    fn another_cell_boundary_is_a_disagreement() {
        let html = HTML.replace("[3,7,1,0,1,1]", "[3,9,1,0,1,1]");
        let checks = check(TEXT, &html);
        assert!(matches!(&checks[0].2, Verdict::Differs(w) if w.contains("row 1, cell 1")));
        let html = HTML.replace(r#"<th id="mwCA""#, r#"<td id="mwCA""#);
        assert!(matches!(&check(TEXT, &html)[0].2, Verdict::Differs(_)));
    }

    #[test]
    fn a_templated_cell_is_a_disagreement() {
        let html = HTML.replace(
            r#"<td id="mwBg""#,
            r##"<td about="#mwt1" typeof="mw:Transclusion" id="mwBg""##,
        );
        assert!(matches!(&check(TEXT, &html)[0].2, Verdict::Differs(w) if w.contains("template")));
    }

    #[test]
    fn the_digest_follows_the_table_text_only() {
        let a = wikitable::tables_in(TEXT, 0..TEXT.len());
        let other = format!("intro\n{TEXT}\nafter");
        let b = wikitable::tables_in(&other, 0..other.len());
        assert_eq!(digest(TEXT, &a[0]), digest(&other, &b[0]));
        let changed = TEXT.replace("| a", "| z");
        let c = wikitable::tables_in(&changed, 0..changed.len());
        assert_ne!(digest(TEXT, &a[0]), digest(&changed, &c[0]));
    }
}
