//! What a reader sees of one logical line of wikitext, character by character, with where each character comes from.
//!
//! A [`Projection`] is the visible text of a stretch of wikitext (links
//! reduced to their labels, bold and comments dropped, entities decoded,
//! whitespace collapsed as the parser collapses it), and for every visible
//! character the source bytes it comes from and what holds it: plain text,
//! a link's label, or an element whose rendering the bot cannot know (a
//! template). Markup that shows no text (bold quotes, tags, comments,
//! references, categories) is listed as *kept* ranges: an edit must never
//! cut through or drop one. `<nowiki>` elements and entities are *soft*:
//! their text can be written again, escaped, without losing anything.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// What holds a visible character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// Text as it stands in the line (or in a `<nowiki>`, or an entity).
    Plain,
    /// The label of link number `n` (its target and brackets are kept).
    Label(usize),
    /// Element number `n` whose text the bot cannot know (a template, an
    /// external link without a label): one placeholder character.
    Opaque(usize),
}

/// One visible character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ch {
    pub c: char,
    pub src: Range<usize>,
    pub holder: Holder,
}

/// The placeholder for an [`Holder::Opaque`] element.
pub(crate) const OPAQUE: char = '\u{FFFC}';

/// How the line's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Ordinary wikitext.
    Wiki,
    /// Inside `<pre>…</pre>`: only entities are read.
    Pre,
}

/// The visible text of a stretch of wikitext.
#[derive(Debug, Clone, Default)]
pub(crate) struct Projection {
    pub chars: Vec<Ch>,
    /// Markup that shows no text, or a whole link / template: an edit may
    /// not cut through one, nor drop one (except inside a link's label).
    pub kept: Vec<Range<usize>>,
    /// `<nowiki>` elements and entities: rewritten whole when an edit
    /// touches them.
    pub soft: Vec<Range<usize>>,
    /// The source range of each link's label, by link number.
    pub labels: Vec<Range<usize>>,
}

impl Projection {
    pub fn text(&self) -> String {
        self.chars.iter().map(|c| c.c).collect()
    }
}

static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
        .expect("entity pattern is valid")
});
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>").expect("tag pattern is valid")
});
static NOWIKI_OPEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^<nowiki\s*>").expect("nowiki pattern is valid"));
static NOWIKI_EMPTY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^<nowiki\s*/>").expect("nowiki pattern is valid"));
static REF_OPEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^<ref(?:\s[^<>]*)?(/?)>").expect("ref pattern is valid"));
static URL_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\[(?:https?:|ftp:|mailto:|//)").expect("url pattern is valid")
});

fn decode_entity(e: &str) -> Option<char> {
    let body = &e[1..e.len() - 1];
    if let Some(num) = body.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(n);
    }
    Some(match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "hellip" => '…',
        "shy" => '\u{ad}',
        _ => return None,
    })
}

/// The end of the `</name>` closing an element opened before `from`.
fn close_of(src: &str, from: usize, end: usize, name: &str) -> Option<(usize, usize)> {
    let hay = src[from..end].to_ascii_lowercase();
    let needle = format!("</{name}");
    let at = hay.find(&needle)?;
    let rest = &hay[at + needle.len()..];
    let close = rest.find('>')?;
    if !rest[..close].trim().is_empty() {
        return None;
    }
    Some((from + at, from + at + needle.len() + close + 1))
}

/// The end of the balanced `{{…}}` starting at `at`.
fn braces_end(src: &str, at: usize, end: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut depth = 0usize;
    let mut i = at;
    while i + 1 < end + 1 && i < end {
        if b[i] == b'{' && i + 1 < end && b[i + 1] == b'{' {
            depth += 1;
            i += 2;
        } else if b[i] == b'}' && i + 1 < end && b[i + 1] == b'}' {
            depth = depth.saturating_sub(1);
            i += 2;
            if depth == 0 {
                return Some(i);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Projects `src[range]`, read in `mode`.
pub(crate) fn project(src: &str, range: Range<usize>, mode: Mode) -> Projection {
    let mut p = Projection::default();
    let mut raw: Vec<Ch> = Vec::new();
    let end = range.end;
    let mut i = range.start;
    let mut opaque = 0usize;
    while i < end {
        let rest = &src[i..end];
        let c = rest.chars().next().unwrap_or(' ');
        if c == '&' {
            if let Some(m) = ENTITY.find(rest) {
                if let Some(d) = decode_entity(m.as_str()) {
                    raw.push(Ch {
                        c: d,
                        src: i..i + m.end(),
                        holder: Holder::Plain,
                    });
                    p.soft.push(i..i + m.end());
                    i += m.end();
                    continue;
                }
            }
        }
        if mode == Mode::Pre {
            push_text(src, &mut raw, i, i + c.len_utf8(), Holder::Plain);
            i += c.len_utf8();
            continue;
        }
        if rest.starts_with("<!--") {
            let stop = rest.find("-->").map_or(end, |e| i + e + 3);
            p.kept.push(i..stop);
            i = stop;
            continue;
        }
        if let Some(m) = NOWIKI_EMPTY.find(rest) {
            p.soft.push(i..i + m.end());
            i += m.end();
            continue;
        }
        if let Some(m) = NOWIKI_OPEN.find(rest) {
            if let Some((body_end, stop)) = close_of(src, i + m.end(), end, "nowiki") {
                nowiki_body(src, i + m.end()..body_end, &mut raw);
                p.soft.push(i..stop);
                i = stop;
                continue;
            }
        }
        if let Some(c) = REF_OPEN.captures(rest) {
            let open_end = i + c[0].len();
            let stop = if &c[1] == "/" {
                open_end
            } else {
                close_of(src, open_end, end, "ref").map_or(end, |(_, s)| s)
            };
            p.kept.push(i..stop);
            i = stop;
            continue;
        }
        if let Some(m) = TAG.find(rest) {
            p.kept.push(i..i + m.end());
            i += m.end();
            continue;
        }
        if rest.starts_with("''") {
            i = quotes(src, i, end, &mut p, &mut raw);
            continue;
        }
        if rest.starts_with("{{") {
            if let Some(stop) = braces_end(src, i, end) {
                raw.push(Ch {
                    c: OPAQUE,
                    src: i..stop,
                    holder: Holder::Opaque(opaque),
                });
                opaque += 1;
                p.kept.push(i..stop);
                i = stop;
                continue;
            }
        }
        if rest.starts_with("[[") {
            if let Some(stop) = wikilink(src, i, end, &mut p, &mut raw) {
                i = stop;
                continue;
            }
        }
        if URL_START.is_match(rest) {
            if let Some(stop) = external_link(src, i, end, &mut p, &mut raw, &mut opaque) {
                i = stop;
                continue;
            }
        }
        push_text(src, &mut raw, i, i + c.len_utf8(), Holder::Plain);
        i += c.len_utf8();
    }
    collapse(raw, &mut p);
    p
}

/// Pushes the characters of `src[from..to]`, each held by `holder`.
fn push_text(src: &str, raw: &mut Vec<Ch>, from: usize, to: usize, holder: Holder) {
    for (off, c) in src[from..to].char_indices() {
        let at = from + off;
        raw.push(Ch {
            c,
            src: at..at + c.len_utf8(),
            holder,
        });
    }
}

/// A run of apostrophes at `i` (before `end`): bold or italic markup, and
/// the apostrophes MediaWiki shows as text; where the run ends.
fn quotes(src: &str, i: usize, end: usize, p: &mut Projection, raw: &mut Vec<Ch>) -> usize {
    let rest = &src[i..end];
    let run = rest.len() - rest.trim_start_matches('\'').len();
    let plain = match run {
        2 | 3 | 5 => 0,
        4 => 1,
        n => n - 5,
    };
    push_text(src, raw, i, i + plain, Holder::Plain);
    p.kept.push(i + plain..i + run);
    i + run
}

/// The characters of a `<nowiki>` body: plain text, entities decoded.
fn nowiki_body(src: &str, body: Range<usize>, raw: &mut Vec<Ch>) {
    let mut j = body.start;
    while j < body.end {
        let r = &src[j..body.end];
        if let Some(e) = ENTITY.find(r) {
            if let Some(d) = decode_entity(e.as_str()) {
                raw.push(Ch {
                    c: d,
                    src: j..j + e.end(),
                    holder: Holder::Plain,
                });
                j += e.end();
                continue;
            }
        }
        let ch = r.chars().next().unwrap_or(' ');
        push_text(src, raw, j, j + ch.len_utf8(), Holder::Plain);
        j += ch.len_utf8();
    }
}

/// A `[[…]]` link at `i` (before `end`): its label's characters (a file or category link
/// shows none); where it ends, or `None` when it is no link.
fn wikilink(
    src: &str,
    i: usize,
    end: usize,
    p: &mut Projection,
    raw: &mut Vec<Ch>,
) -> Option<usize> {
    let rest = &src[i..end];
    let close = rest.find("]]")?;
    let inner = &rest[2..close];
    let stop = i + close + 2;
    if inner.contains('[') || inner.contains('\n') {
        return None;
    }
    let target = inner.split('|').next().unwrap_or("").trim();
    let lower = target.to_ascii_lowercase();
    p.kept.push(i..stop);
    if lower.starts_with("file:") || lower.starts_with("image:") || lower.starts_with("category:") {
        return Some(stop);
    }
    let n = p.labels.len();
    let (from, to) = match inner.find('|') {
        Some(bar) => (i + 2 + bar + 1, i + close),
        None => {
            let t = i + 2 + (inner.len() - inner.trim_start().len());
            let t = if src[t..].starts_with(':') { t + 1 } else { t };
            (t, i + close)
        }
    };
    p.labels.push(from..to);
    // The label's own markup (a `<nowiki>`, bold) is read too.
    let sub = project(src, from..to, Mode::Wiki);
    raw.extend(sub.chars.into_iter().map(|c| Ch {
        holder: Holder::Label(n),
        ..c
    }));
    p.kept.extend(sub.kept);
    p.soft.extend(sub.soft);
    Some(stop)
}

/// An external link `[url label]` at `i` (before `end`): its label's
/// characters, or one opaque character for a bare `[url]`; where it ends,
/// or `None` when it is no link.
fn external_link(
    src: &str,
    i: usize,
    end: usize,
    p: &mut Projection,
    raw: &mut Vec<Ch>,
    opaque: &mut usize,
) -> Option<usize> {
    let rest = &src[i..end];
    let close = rest.find(']')?;
    let inner = &rest[1..close];
    if inner.contains('\n') || inner.contains('[') {
        return None;
    }
    let stop = i + close + 1;
    p.kept.push(i..stop);
    match inner.find(' ') {
        Some(sp) => {
            let n = p.labels.len();
            let from = i + 1 + sp + 1;
            p.labels.push(from..i + close);
            push_text(src, raw, from, i + close, Holder::Label(n));
        }
        None => {
            raw.push(Ch {
                c: OPAQUE,
                src: i..stop,
                holder: Holder::Opaque(*opaque),
            });
            *opaque += 1;
        }
    }
    Some(stop)
}

/// Collapses whitespace as the parser does, trimming both ends, into `p`.
fn collapse(raw: Vec<Ch>, p: &mut Projection) {
    for ch in raw {
        if ch.c.is_whitespace() {
            match p.chars.last_mut() {
                Some(last) if last.c == ' ' => last.src.end = ch.src.end,
                Some(_) => p.chars.push(Ch { c: ' ', ..ch }),
                None => {}
            }
        } else {
            p.chars.push(ch);
        }
    }
    if p.chars.last().is_some_and(|c| c.c == ' ') {
        p.chars.pop();
    }
}

/// The character of `proj` each character of `value` is (an opaque
/// element's placeholder for the characters it renders), when the visible
/// text can be the value; `None` when it cannot.
pub(crate) fn align(chars: &[Ch], value: &str) -> Option<Vec<Ch>> {
    let value: Vec<char> = value.chars().collect();
    if !chars.iter().any(|c| c.c == OPAQUE) {
        if chars.len() != value.len() || chars.iter().zip(&value).any(|(a, b)| a.c != *b) {
            return None;
        }
        return Some(chars.to_vec());
    }
    // Segments between placeholders must appear in order; what lies between
    // them is the placeholders' rendering (at least one character each).
    let mut out: Vec<Ch> = Vec::with_capacity(value.len());
    let mut v = 0usize;
    let mut k = 0usize;
    while k < chars.len() {
        if chars[k].c != OPAQUE {
            if value.get(v) != Some(&chars[k].c) {
                return None;
            }
            out.push(chars[k].clone());
            v += 1;
            k += 1;
            continue;
        }
        let holder = chars[k].clone();
        k += 1;
        // The next literal segment.
        let seg_end = chars[k..]
            .iter()
            .position(|c| c.c == OPAQUE)
            .map_or(chars.len(), |p| k + p);
        let seg: Vec<char> = chars[k..seg_end].iter().map(|c| c.c).collect();
        let found = if seg_end == chars.len() {
            // Last segment: anchored at the end.
            (value.len() >= v + 1 + seg.len() && value[value.len() - seg.len()..] == seg[..])
                .then(|| value.len() - seg.len())
        } else if seg.is_empty() {
            // Two placeholders in a row: give the first one character.
            (v < value.len()).then_some(v + 1)
        } else {
            (v + 1..=value.len().saturating_sub(seg.len()))
                .find(|&s| value[s..s + seg.len()] == seg[..])
        };
        let at = found?;
        if at <= v {
            return None;
        }
        for _ in v..at {
            out.push(holder.clone());
        }
        v = at;
    }
    (v == value.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(src: &str) -> String {
        project(src, 0..src.len(), Mode::Wiki).text()
    }

    #[test]
    fn markup_reads_as_its_visible_text() {
        assert_eq!(text("a '''bold''' [[X|label]] [[Y]]s"), "a bold label Ys");
        assert_eq!(text("x <!-- c --> y<ref>r</ref>"), "x y");
        assert_eq!(text("<nowiki>[[a]]</nowiki> &amp; b"), "[[a]] & b");
        assert_eq!(
            text("see {{Phabricator|T1}}  now"),
            format!("see {OPAQUE} now")
        );
        assert_eq!(
            text("[https://x.org label] [https://y.org]"),
            format!("label {OPAQUE}")
        );
        assert_eq!(text("[[Category:X]]a"), "a");
    }

    #[test]
    fn alignment_gives_templates_their_rendered_text() {
        let src = "see {{Phabricator|T123}} now";
        let p = project(src, 0..src.len(), Mode::Wiki);
        let a = align(&p.chars, "see T123 now").expect("aligns");
        assert_eq!(a.len(), 12);
        assert!(matches!(a[5].holder, Holder::Opaque(0)));
        assert!(align(&p.chars, "see now").is_none());
        assert!(align(&p.chars, "saw T1 now").is_none());
    }
}
