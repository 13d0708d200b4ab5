//! Replaces the bot's own region of a page and keeps every other byte as staff wrote it.
//!
//! A region is delimited by two HTML comments, which survive source and
//! VisualEditor edits and show nothing to readers:
//!
//! ```text
//! <!-- goalsbot:begin overview -->
//! …generated…
//! <!-- goalsbot:end overview -->
//! ```
//!
//! When the markers are damaged (one missing, duplicated, out of order, or
//! misspelt so that a marker-like text is not exactly a marker) the bot does
//! not guess where its region ends: it refuses, and a person fixes the page.

use std::sync::LazyLock;

use regex::Regex;

/// Why a region could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    #[error(
        "the page has {begins} begin and {ends} end markers of the goalsbot region “{region}”; \
         expected exactly one of each: fix the page so that it has one `{begin}` and one `{end}`, \
         or remove both to have the region appended"
    )]
    MarkerCount {
        region: String,
        begins: usize,
        ends: usize,
        begin: String,
        end: String,
    },
    #[error(
        "the end marker of the goalsbot region “{region}” comes before its begin marker; \
         fix the page by hand"
    )]
    MarkerOrder { region: String },
    #[error(
        "the page has a damaged marker of the goalsbot region “{region}” ({found:?}); \
         it must read exactly `{expected}`"
    )]
    DamagedMarker {
        region: String,
        found: String,
        expected: String,
    },
}

/// The begin marker of `region`.
pub fn begin_marker(region: &str) -> String {
    format!("<!-- goalsbot:begin {region} -->")
}

/// The end marker of `region`.
pub fn end_marker(region: &str) -> String {
    format!("<!-- goalsbot:end {region} -->")
}

/// `content` between the markers of `region`, as the bot writes it.
pub fn wrap_region(region: &str, content: &str) -> String {
    format!(
        "{}\n{}\n{}",
        begin_marker(region),
        content.trim_end_matches('\n'),
        end_marker(region)
    )
}

/// Anything that looks like a marker: `goalsbot:begin` / `goalsbot:end`
/// followed by a region name, however spaced or cased.
static MARKER_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)goalsbot\s*:\s*(begin|end)\s+([A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*)")
        .expect("marker pattern is valid")
});

/// Where the marker text starts in an exact marker (`<!-- `).
const MARKER_OPEN: &str = "<!-- ";

/// Replaces the content of the region `region` of `page` with `content`;
/// appends the region (after a blank line) when the page has none. Bytes
/// outside the region, markers included, are kept exactly.
pub fn splice_region(page: &str, region: &str, content: &str) -> Result<String, SpliceError> {
    let begin = begin_marker(region);
    let end = end_marker(region);

    // Every marker-like text naming this region must be an exact marker.
    let mut begins = Vec::new();
    let mut ends = Vec::new();
    for caps in MARKER_LIKE.captures_iter(page) {
        let (whole, kind, name) = (&caps[0], &caps[1], &caps[2]);
        if name != region {
            continue;
        }
        let at = caps.get(0).expect("group 0 exists").start();
        let (expected, list) = if kind.eq_ignore_ascii_case("begin") {
            (&begin, &mut begins)
        } else {
            (&end, &mut ends)
        };
        let start = at.checked_sub(MARKER_OPEN.len());
        match start.filter(|&s| {
            page.get(s..)
                .is_some_and(|t| t.starts_with(expected.as_str()))
        }) {
            Some(s) => list.push(s),
            None => {
                return Err(SpliceError::DamagedMarker {
                    region: region.to_string(),
                    found: whole.to_string(),
                    expected: expected.clone(),
                })
            }
        }
    }

    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => {
            let mut out = page.to_string();
            if !out.is_empty() {
                let trailing = out.len() - out.trim_end_matches('\n').len();
                out.push_str(&"\n".repeat(2usize.saturating_sub(trailing)));
            }
            out.push_str(&wrap_region(region, content));
            out.push('\n');
            Ok(out)
        }
        ([b], [e]) => {
            if e < b {
                return Err(SpliceError::MarkerOrder {
                    region: region.to_string(),
                });
            }
            let inner_start = b + begin.len();
            let mut out = String::with_capacity(page.len() + content.len());
            out.push_str(&page[..inner_start]);
            out.push('\n');
            out.push_str(content.trim_end_matches('\n'));
            out.push('\n');
            out.push_str(&page[*e..]);
            Ok(out)
        }
        _ => Err(SpliceError::MarkerCount {
            region: region.to_string(),
            begins: begins.len(),
            ends: ends.len(),
            begin,
            end,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAFF_BEFORE: &str =
        "Intro by staff, with ''markup'' and trailing spaces   \n\n{{Some template}}\n";
    const STAFF_AFTER: &str = "\n\n== Notes ==\nWritten by a person.\n[[Category:Goals]]";

    fn page_with(inner: &str) -> String {
        format!(
            "{STAFF_BEFORE}<!-- goalsbot:begin overview -->\n{inner}\n<!-- goalsbot:end overview -->{STAFF_AFTER}"
        )
    }

    #[test]
    fn replaces_only_the_region_and_keeps_every_byte_outside() {
        let page = page_with("old table\nold counts");
        let out = splice_region(&page, "overview", "new table\n").unwrap();
        assert_eq!(out, page_with("new table"));
        assert!(out.starts_with(STAFF_BEFORE));
        assert!(out.ends_with(STAFF_AFTER));
    }

    #[test]
    fn splicing_twice_changes_nothing() {
        let page = page_with("old");
        let once = splice_region(&page, "overview", "new").unwrap();
        assert_eq!(splice_region(&once, "overview", "new").unwrap(), once);
    }

    #[test]
    fn other_regions_are_left_alone() {
        let page = format!(
            "{}\n<!-- goalsbot:begin other -->\nkeep\n<!-- goalsbot:end other -->\n",
            page_with("old")
        );
        let out = splice_region(&page, "overview", "new").unwrap();
        assert!(out.contains("<!-- goalsbot:begin other -->\nkeep\n<!-- goalsbot:end other -->\n"));
        assert!(out.contains("begin overview -->\nnew\n<!--"));
    }

    #[test]
    fn absent_region_is_appended() {
        let out = splice_region("Staff text.", "overview", "table").unwrap();
        assert_eq!(
            out,
            "Staff text.\n\n<!-- goalsbot:begin overview -->\ntable\n<!-- goalsbot:end overview -->\n"
        );
        let out = splice_region("Staff text.\n\n", "overview", "table").unwrap();
        assert!(out.starts_with("Staff text.\n\n<!-- goalsbot:begin"));
        let out = splice_region("", "overview", "table").unwrap();
        assert_eq!(
            out,
            "<!-- goalsbot:begin overview -->\ntable\n<!-- goalsbot:end overview -->\n"
        );
    }

    #[test]
    fn broken_markers_are_errors_never_guesses() {
        let begin = "<!-- goalsbot:begin overview -->";
        let end = "<!-- goalsbot:end overview -->";
        // Only one of the two.
        let e = splice_region(&format!("a\n{begin}\nb"), "overview", "x").unwrap_err();
        assert!(matches!(
            e,
            SpliceError::MarkerCount {
                begins: 1,
                ends: 0,
                ..
            }
        ));
        assert!(splice_region(&format!("a\n{end}\nb"), "overview", "x").is_err());
        // Duplicated (e.g. staff copied the region).
        let twice = format!("{begin}\nx\n{end}\n{begin}\ny\n{end}");
        assert!(matches!(
            splice_region(&twice, "overview", "x").unwrap_err(),
            SpliceError::MarkerCount {
                begins: 2,
                ends: 2,
                ..
            }
        ));
        // Out of order.
        assert_eq!(
            splice_region(&format!("{end}\nx\n{begin}"), "overview", "x").unwrap_err(),
            SpliceError::MarkerOrder {
                region: "overview".into()
            }
        );
        // Damaged: misspaced, or the comment lost its closing `-->`.
        for damaged in [
            format!("<!--goalsbot:begin overview-->\nx\n{end}"),
            format!("<!-- goalsbot:begin overview\nx\n{end}"),
            format!("{begin}\nx\n<!-- goalsbot:END overview -->"),
        ] {
            assert!(
                matches!(
                    splice_region(&damaged, "overview", "x"),
                    Err(SpliceError::DamagedMarker { .. })
                ),
                "{damaged}"
            );
        }
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = splice_region("<!-- goalsbot:begin overview -->", "overview", "x").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("expected exactly one of each"), "{msg}");
        assert!(msg.contains("<!-- goalsbot:end overview -->"), "{msg}");
    }
}
