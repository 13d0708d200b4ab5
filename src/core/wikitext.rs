//! Reading and editing wikitext as text: headings, the bot's status tables and their cells, where a new table goes, and the `{{bots}}` convention.

use std::ops::Range;

use crate::core::records::{Objective, Quarter};
/// The byte range of the status table of `objective_id` in `wikitext`: from
/// the `{|` line carrying its `data-goalsbot-objective` to the matching `|}`
/// line (nested tables counted), newline excluded.
pub fn find_table(wikitext: &str, objective_id: &str) -> Option<Range<usize>> {
    let needle = regex::Regex::new(&format!(
        r#"data-goalsbot-objective\s*=\s*(?:"{id}"|'{id}'|{id}(?:\s|$))"#,
        id = regex::escape(objective_id)
    ))
    .ok()?;
    let mut offset = 0;
    let mut start: Option<usize> = None;
    let mut depth = 0usize;
    for line in wikitext.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let t = content.trim_start();
        match start {
            None => {
                if t.starts_with("{|") && needle.is_match(t) {
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

/// Level (number of `=`) and text of a heading line, if it is one.
fn heading(line: &str) -> Option<(usize, &str)> {
    let t = line.trim_end();
    let level = t.chars().take_while(|c| *c == '=').count();
    if level == 0 || level > 6 || t.len() < 2 * level + 1 {
        return None;
    }
    let closing = t.chars().rev().take_while(|c| *c == '=').count();
    if closing < level {
        return None;
    }
    Some((level, t[level..t.len() - level].trim()))
}

/// Plain text of a heading for matching: links reduced to their labels, bold/italic dropped.
fn plain_heading(text: &str) -> String {
    let link = regex::Regex::new(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]").expect("static regex");
    link.replace_all(text, "$1")
        .replace("'''", "")
        .replace("''", "")
}

/// Where a new status table for `objective` goes: right after the last
/// non-blank line of its Key Results subsection, else of its section.
pub fn insertion_point(wikitext: &str, objective: &Objective) -> Option<usize> {
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut offset = 0;
    for line in wikitext.split_inclusive('\n') {
        lines.push((offset, line));
        offset += line.len();
    }
    let is_objective_heading = |text: &str| {
        let plain = plain_heading(text);
        let title = plain
            .rsplit_once(" - ")
            .map_or(plain.as_str(), |(_, t)| t)
            .trim();
        title == objective.title.trim()
    };
    let start = lines.iter().position(|(_, l)| {
        heading(l).is_some_and(|(lvl, text)| lvl <= 2 && is_objective_heading(text))
    })?;
    let section_end = lines[start + 1..]
        .iter()
        .position(|(_, l)| heading(l).is_some_and(|(lvl, _)| lvl <= 2))
        .map_or(lines.len(), |i| start + 1 + i);
    let kr_heading = lines[start + 1..section_end].iter().position(|(_, l)| {
        heading(l).is_some_and(|(lvl, text)| {
            lvl == 3 && plain_heading(text).to_lowercase().contains("key result")
        })
    });
    let region_end = match kr_heading {
        Some(i) => {
            let h = start + 1 + i;
            lines[h + 1..section_end]
                .iter()
                .position(|(_, l)| heading(l).is_some_and(|(lvl, _)| lvl <= 3))
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
    let row = regex::Regex::new(&format!(
        r#"data-goalsbot-kr\s*=\s*(?:"{id}"|'{id}'|{id}(?:\s|$))"#,
        id = regex::escape(kr_id)
    ))
    .ok()?;
    let cell = regex::Regex::new(&format!(r#"data-goalsbot-quarter\s*=\s*["']?{q}\b"#)).ok()?;
    let row_at = row.find(table)?.start();
    let mut offset = table[..row_at].rfind('\n').map_or(0, |i| i + 1);
    let mut first = true;
    for line in table[offset..].split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let t = content.trim_start();
        if !first && (t.starts_with("|-") || t.starts_with("|}")) {
            return None;
        }
        first = false;
        if cell.is_match(t) {
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
    let re =
        regex::Regex::new(r"(?is)\{\{\s*(nobots|bots)\s*(\|[^}]*)?\}\}").expect("static regex");
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
