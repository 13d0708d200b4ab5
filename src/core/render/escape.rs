//! Escapes store text so that wikitext shows it literally and reads back unchanged.
//!
//! Records hold plain, single-line text (`docs/records.md`). A value that could be
//! read as markup anywhere on a page is wrapped whole in `<nowiki>…</nowiki>`
//! (which also stops signatures, magic words and magic links at save time);
//! inside it, `&` and `<` become `&amp;` and `&lt;`, since entities are still
//! decoded inside `<nowiki>` and `</nowiki>` would otherwise end it early.
//! Plain values are written as they are, so ordinary text and bare URLs stay
//! readable (and clickable) in the source.
//!
//! `<nowiki>` works wherever the bot puts values (paragraphs, headings, table
//! cells) and needs no template on the wiki, unlike `{{!}}`.

use std::sync::LazyLock;

use regex::Regex;

/// Collapses every run of whitespace (newlines included) into one space and
/// trims both ends: records are single-line, as the parser reads them.
pub fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Magic links (`ISBN 978…`, `RFC 1234`, `PMID 1`) that the parser turns
/// into links by itself.
static MAGIC_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:ISBN|RFC|PMID)[\s\p{Zs}]+[0-9]").expect("magic link pattern is valid")
});

/// Whether wikitext could read `text` (already collapsed) as anything but
/// literal text in a paragraph, heading or table cell.
pub fn is_risky(text: &str) -> bool {
    // Anywhere: links, templates, tables, tags, entities, headings.
    const ANYWHERE: &[char] = &['[', ']', '{', '}', '|', '<', '>', '&', '='];
    // At the start of a line or cell: lists, definitions, table rows and
    // captions, horizontal rules.
    const LEADING: &[char] = &['*', '#', ':', ';', '!', '+', '-', ' '];
    text.contains(ANYWHERE)
        || text.starts_with(LEADING)
        || text.ends_with(' ')
        || text.contains("''") // bold and italics
        || text.contains("~~~") // signatures, expanded at save time
        || text.contains("__") // behaviour switches (__TOC__, __NOINDEX__)
        || text.contains("!!") // table header cell separator
        || text.contains("----")
        || MAGIC_LINK.is_match(text)
}

/// Wikitext that shows `text` (collapsed to one line) literally.
pub fn wikitext(text: &str) -> String {
    let text = collapse(text);
    if !is_risky(&text) {
        return text;
    }
    nowiki(&text)
}

/// `text` as it stands (spaces kept), with `&`, `<` and `>` as entities:
/// literal inside `<nowiki>` and `<pre>`, where entities are still decoded.
pub fn entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as it stands (spaces kept) inside `<nowiki>…</nowiki>`.
pub fn nowiki(text: &str) -> String {
    format!("<nowiki>{}</nowiki>", entities(text))
}

/// A value for a double-quoted HTML attribute (ids, which are already
/// restricted to `[a-z0-9/-]` by the records, but a store is not a proof).
pub fn attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in collapse(value).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Template and link syntax is expanded inside attributes too.
            '{' => out.push_str("&#123;"),
            '}' => out.push_str("&#125;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '|' => out.push_str("&#124;"),
            '~' => out.push_str("&#126;"),
            c => out.push(c),
        }
    }
    out
}

/// A link fragment (`#Section heading`) for a heading's text: characters
/// that would end or break the link are percent-encoded, which MediaWiki
/// decodes after splitting the link.
pub fn fragment(heading: &str) -> String {
    let mut out = String::with_capacity(heading.len());
    for c in collapse(heading).chars() {
        if c.is_ascii_alphanumeric() || c == ' ' || c == '.' || c == ',' || c == '-' || c == ':' {
            out.push(c);
        } else if c.is_ascii() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_stays_as_it_is() {
        for t in [
            "Reached level 3 of the AMM (50%) by Q4.",
            "Birgit Müller",
            "“quoted” – public’s trust; done: yes",
            "see https://www.mediawiki.org/wiki/X",
            "don't",
        ] {
            assert_eq!(wikitext(t), t);
        }
    }

    #[test]
    fn markup_is_wrapped_in_nowiki() {
        assert_eq!(wikitext("a | b"), "<nowiki>a | b</nowiki>");
        assert_eq!(wikitext("x || y !! z"), "<nowiki>x || y !! z</nowiki>");
        assert_eq!(wikitext("{{int:x}}"), "<nowiki>{{int:x}}</nowiki>");
        assert_eq!(wikitext("|}"), "<nowiki>|}</nowiki>");
        assert_eq!(wikitext("sig ~~~~"), "<nowiki>sig ~~~~</nowiki>");
        assert_eq!(wikitext("__TOC__"), "<nowiki>__TOC__</nowiki>");
        assert_eq!(wikitext("* item"), "<nowiki>* item</nowiki>");
        assert_eq!(wikitext("=x="), "<nowiki>=x=</nowiki>");
        assert_eq!(wikitext("----"), "<nowiki>----</nowiki>");
        assert_eq!(wikitext("''it''"), "<nowiki>''it''</nowiki>");
        assert_eq!(
            wikitext("ISBN 9780000000"),
            "<nowiki>ISBN 9780000000</nowiki>"
        );
        assert_eq!(wikitext("RFC 1234"), "<nowiki>RFC 1234</nowiki>");
    }

    #[test]
    fn nowiki_end_tags_and_entities_cannot_escape() {
        // regression: a note containing </nowiki> ended the protection early.
        assert_eq!(
            wikitext("a </nowiki> [[b]]"),
            "<nowiki>a &lt;/nowiki&gt; [[b]]</nowiki>"
        );
        assert_eq!(wikitext("&amp; R&D"), "<nowiki>&amp;amp; R&amp;D</nowiki>");
    }

    #[test]
    fn newlines_and_runs_of_space_collapse() {
        assert_eq!(wikitext("  a\n\n b\t c  "), "a b c");
        assert_eq!(wikitext("\n* x"), "<nowiki>* x</nowiki>");
    }

    #[test]
    fn attributes_and_fragments() {
        assert_eq!(attribute("2020-21/x"), "2020-21/x");
        assert_eq!(attribute("a\"b{{c}}"), "a&quot;b&#123;&#123;c&#125;&#125;");
        assert_eq!(
            fragment("MTP-Y2: Platform - A|B [x]"),
            "MTP-Y2: Platform - A%7CB %5Bx%5D"
        );
        assert_eq!(fragment("Müller"), "Müller");
    }
}
