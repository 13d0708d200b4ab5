//! Reading and editing wikitext as text: headings, the bot's status tables and their cells, where a new table goes, and the `{{bots}}` convention.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::core::records::{Objective, Quarter};
/// The byte range of the status table of `objective_id` in `wikitext`: from
/// the `{|` line carrying its `data-goalsbot-objective` to the matching `|}`
/// line (nested tables counted), newline excluded.
pub fn find_table(wikitext: &str, objective_id: &str) -> Option<Range<usize>> {
    static OBJECTIVE: LazyLock<Regex> = LazyLock::new(|| id_attribute("data-goalsbot-objective"));
    let needle = |t: &str| carries(&OBJECTIVE, t, objective_id);
    let mut offset = 0;
    let mut start: Option<usize> = None;
    let mut depth = 0usize;
    for line in wikitext.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let t = content.trim_start();
        match start {
            None => {
                if t.starts_with("{|") && needle(t) {
                    start = Some(offset);
                    depth = 1;
                }
            }
            Some(s) => {
                if t.starts_with("{|") {
                    depth += 1;
                } else if t.starts_with("|}") {
                    depth -= 1;
                    if depth == 0 {
                        return Some(s..offset + content.len());
                    }
                }
            }
        }
        offset += line.len();
    }
    None
}

/// Tags whose body MediaWiki shows (or hands to an extension) without
/// expanding templates.
static OPAQUE_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^<(nowiki|pre|syntaxhighlight|source|math|templatedata)(?:\s[^>]*?)?(/?)>")
        .expect("valid pattern")
});

/// The byte ranges MediaWiki does not read as markup: comments and the
/// bodies (tags included) of [`OPAQUE_TAG`]s.
pub(crate) fn hidden_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(off) = text[i..].find('<') {
        let start = i + off;
        let rest = &text[start..];
        if let Some(body) = rest.strip_prefix("<!--") {
            let end = body.find("-->").map_or(text.len(), |e| start + 4 + e + 3);
            ranges.push(start..end);
            i = end;
            continue;
        }
        if let Some(c) = OPAQUE_TAG.captures(rest) {
            let open_end = start + c[0].len();
            if &c[2] == "/" {
                ranges.push(start..open_end);
                i = open_end;
                continue;
            }
            if let Some(end) = close_tag_end(text, open_end, &c[1]) {
                ranges.push(start..end);
                i = end;
                continue;
            }
            // An opening tag without its close is plain text to MediaWiki.
        }
        i = start + 1;
    }
    ranges
}

/// The end of the first `</name>` (any case, spaces before `>`) from `from`.
fn close_tag_end(text: &str, from: usize, name: &str) -> Option<usize> {
    let mut i = from;
    while let Some(off) = text[i..].find("</") {
        let after = i + off + 2;
        let rest = &text[after..];
        if rest
            .get(..name.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
        {
            let tail = &rest[name.len()..];
            let spaces = tail.len() - tail.trim_start().len();
            if tail[spaces..].starts_with('>') {
                return Some(after + name.len() + spaces + 1);
            }
        }
        i = after;
    }
    None
}

/// `text` with every hidden byte but newlines turned into a space, so that
/// offsets and lines stay where they were.
pub(crate) fn masked(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for r in hidden_ranges(text) {
        for b in &mut bytes[r] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    // Hidden ranges start and end at ASCII delimiters, so whole characters
    // were replaced by ASCII spaces.
    String::from_utf8(bytes).expect("masking keeps UTF-8 valid")
}

/// The level and inner byte range (within `line`) of a heading line of
/// masked text, as MediaWiki reads it (the level is the shorter run of `=`, at most 6).
pub(crate) fn heading(line: &str) -> Option<(usize, Range<usize>)> {
    let t = line.trim_end();
    if !t.starts_with('=') || !t.ends_with('=') {
        return None;
    }
    let lead = t.len() - t.trim_start_matches('=').len();
    let trail = t.len() - t.trim_end_matches('=').len();
    if lead == t.len() {
        // Only `=`: MediaWiki reads `=====` as a level-2 heading of `=`.
        let level = ((t.len() - 1) / 2).min(6);
        return (level > 0).then(|| (level, level..t.len() - level));
    }
    let level = lead.min(trail).min(6);
    Some((level, level..t.len() - level))
}

/// The pattern of an id attribute (`name="id"`, `name='id'` or `name=id`
/// followed by a space or the end); the id is in group 1, 2 or 3.
fn id_attribute(name: &str) -> Regex {
    Regex::new(&format!(
        r#"{name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+)(?:\s|$))"#
    ))
    .expect("static regex")
}

/// The id an [`id_attribute`] match names.
fn id_value<'t>(c: &regex::Captures<'t>) -> Option<&'t str> {
    c.get(1).or(c.get(2)).or(c.get(3)).map(|m| m.as_str())
}

/// Whether `t` carries the id attribute of `re` with the value `id`.
fn carries(re: &Regex, t: &str, id: &str) -> bool {
    re.captures_iter(t).any(|c| id_value(&c) == Some(id))
}

/// The level and text of the heading on `line` (at `off` in the page), read on the page's masked text `hidden`.
fn line_heading<'a>(hidden: &str, (off, line): (usize, &'a str)) -> Option<(usize, &'a str)> {
    let (level, inner) = heading(&hidden[off..off + line.len()])?;
    Some((level, line[inner].trim()))
}

/// Plain text of a heading for matching: links reduced to their labels, bold/italic dropped.
fn plain_heading(text: &str) -> String {
    static LINK: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]").expect("static regex"));
    LINK.replace_all(text, "$1")
        .replace("'''", "")
        .replace("''", "")
}

/// The page's lines with their byte offsets, and the page masked (comments
/// and `<nowiki>` bodies hold no headings).
fn page_lines(wikitext: &str) -> (String, Vec<(usize, &str)>) {
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut offset = 0;
    for line in wikitext.split_inclusive('\n') {
        lines.push((offset, line));
        offset += line.len();
    }
    (masked(wikitext), lines)
}

/// The lines (start, end exclusive) of `objective`'s section: from its
/// level-2 heading to the next heading of level 1 or 2.
fn section_span(
    hidden: &str,
    lines: &[(usize, &str)],
    objective: &Objective,
) -> Option<(usize, usize)> {
    let is_objective_heading = |text: &str| {
        let plain = plain_heading(text);
        let title = plain
            .rsplit_once(" - ")
            .map_or(plain.as_str(), |(_, t)| t)
            .trim();
        title == objective.title.trim()
    };
    let start = lines.iter().position(|l| {
        line_heading(hidden, *l).is_some_and(|(lvl, text)| lvl <= 2 && is_objective_heading(text))
    })?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| line_heading(hidden, *l).is_some_and(|(lvl, _)| lvl <= 2))
        .map_or(lines.len(), |i| start + 1 + i);
    Some((start, end))
}

/// The byte range of `objective`'s section: from its level-2 heading line
/// to the next heading of level 1 or 2 (or the end of the page).
pub fn objective_section(wikitext: &str, objective: &Objective) -> Option<Range<usize>> {
    let (hidden, lines) = page_lines(wikitext);
    let (start, end) = section_span(&hidden, &lines, objective)?;
    Some(lines[start].0..lines.get(end).map_or(wikitext.len(), |l| l.0))
}

/// Where a new status table for `objective` goes: right after the last
/// non-blank line of its Key Results subsection, else of its section.
pub fn insertion_point(wikitext: &str, objective: &Objective) -> Option<usize> {
    // Headings are read on the masked text (comments and `<nowiki>` bodies
    // hold none), their text taken from the page's own line.
    let (hidden, lines) = page_lines(wikitext);
    let (start, section_end) = section_span(&hidden, &lines, objective)?;
    let kr_heading = lines[start + 1..section_end].iter().position(|l| {
        line_heading(&hidden, *l).is_some_and(|(lvl, text)| {
            lvl == 3 && plain_heading(text).to_lowercase().contains("key result")
        })
    });
    let region_end = match kr_heading {
        Some(i) => {
            let h = start + 1 + i;
            lines[h + 1..section_end]
                .iter()
                .position(|l| line_heading(&hidden, *l).is_some_and(|(lvl, _)| lvl <= 3))
                .map_or(section_end, |j| h + 1 + j)
        }
        None => section_end,
    };
    let last = lines[start..region_end]
        .iter()
        .rposition(|(_, l)| !l.trim().is_empty())?;
    let (off, line) = lines[start + last];
    Some(off + line.trim_end_matches(['\n', '\r']).len())
}

/// The line of the cell of `kr_id`'s row that carries `data-goalsbot-quarter=Qn`,
/// as a byte range within `table`, if it stands on a line of its own.
pub(crate) fn cell_line(table: &str, kr_id: &str, q: Quarter) -> Option<Range<usize>> {
    static ROW: LazyLock<Regex> = LazyLock::new(|| id_attribute("data-goalsbot-kr"));
    static CELL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"data-goalsbot-quarter\s*=\s*["']?(Q[1-4])\b"#).expect("static regex")
    });
    let q = q.to_string();
    let row_at = ROW
        .captures_iter(table)
        .find(|c| id_value(c) == Some(kr_id))?
        .get(0)?
        .start();
    let mut offset = table[..row_at].rfind('\n').map_or(0, |i| i + 1);
    let mut first = true;
    for line in table[offset..].split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let t = content.trim_start();
        if !first && (t.starts_with("|-") || t.starts_with("|}")) {
            return None;
        }
        first = false;
        if CELL.captures_iter(t).any(|c| &c[1] == q.as_str()) {
            // A cell line of its own: `| attrs | content`, no `||` joining another cell.
            let ok = t.starts_with('|') && !t.starts_with("||") && !t[1..].contains("||");
            return ok.then_some(offset..offset + content.len());
        }
        offset += line.len();
    }
    None
}

/// Whether `{{nobots}}` / `{{bots|…}}` in the wikitext let `user` edit (the
/// convention of Template:Bots). `user` is the bot's name as the wiki says it
/// (`meta=userinfo`); names compare as MediaWiki's do (underscores are spaces,
/// case-blind here). An empty name (not known) is kept out of every page
/// whose `{{bots}}` names bots, so an unknown name can never slip past a `deny`.
pub fn bots_allowed(wikitext: &str, user: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)\{\{\s*(nobots|bots)\s*(\|[^}]*)?\}\}").expect("static regex")
    });
    let re = &*RE;
    let norm = |n: &str| {
        n.replace('_', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let user = norm(user.split('@').next().unwrap_or(user));
    for c in re.captures_iter(wikitext) {
        let name = c[1].to_lowercase();
        let params = c
            .get(2)
            .map(|m| m.as_str().to_lowercase())
            .unwrap_or_default();
        if name == "nobots" {
            return false;
        }
        for p in params.split('|').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let names: Vec<String> = v.split(',').map(norm).collect();
            let mentions = names.iter().any(|n| n == "all" || *n == user);
            let names_bots = names.iter().any(|n| !n.is_empty() && n != "none");
            match k.trim() {
                "deny" | "allow" if user.is_empty() && names_bots => return false,
                "deny" if mentions => return false,
                "allow" if names.iter().any(|n| n == "none") => return false,
                "allow" if !mentions => return false,
                _ => {}
            }
        }
    }
    true
}
