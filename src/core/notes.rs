//! A status note's wikitext, read from the page's source.
//!
//! The parser reads a note's plain text from the wiki's rendering: a link
//! reads as its label, `{{Phabricator|T1}}` as what the template shows. The
//! store keeps the wikitext a person wrote beside it
//! ([`QuarterEntry::note_wikitext`]), so that an export shows the link and
//! a person reading the history sees what was written. The wikitext is
//! taken from the cell of the KR's row (`data-goalsbot-kr`) in the bot's own
//! tables and in adopted staff tables, as the table reader sees it; a table
//! the reader is unsure of gives nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::adopt::row_id;
use crate::core::parse::{column, Column};
use crate::core::records::{FiscalYearRecords, Quarter, QuarterEntry, Status};
use crate::core::wikitable::{self, attribute, plain};

/// The wikitext of each status cell of the page's identified rows, by
/// (record id, quarter): the cells' contents, trimmed, in page order. A
/// table pasted twice gives a row's id, and so a cell, more than once.
pub fn status_cells(text: &str) -> BTreeMap<(String, Quarter), Vec<String>> {
    let mut out = BTreeMap::new();
    for table in wikitable::tables_in(text, 0..text.len()) {
        if table.unsure.is_some() {
            continue;
        }
        let header: Vec<Column> = table.rows.first().map_or_else(Vec::new, |r| {
            r.cells
                .iter()
                .map(|c| column(&plain(&text[c.content.clone()])))
                .collect()
        });
        for row in &table.rows {
            let Some(id) = row_id(text, row) else {
                continue;
            };
            for (i, cell) in row.cells.iter().enumerate() {
                let own = cell
                    .attrs
                    .as_ref()
                    .and_then(|a| attribute(&text[a.clone()], "data-goalsbot-quarter"))
                    .and_then(|q| q.parse::<Quarter>().ok());
                let quarter = own.or(match header.get(i) {
                    Some(Column::Quarter(q)) => Some(*q),
                    _ => None,
                });
                if let (Some(q), Some(content)) = (quarter, text.get(cell.content.clone())) {
                    out.entry((id.clone(), q))
                        .or_insert_with(Vec::new)
                        .push(content.trim().to_string());
                }
            }
        }
    }
    out
}

/// The note's wikitext in a status cell's wikitext, when the cell says the
/// status `entry` read and its markup gives the note `entry` read:
/// `None` when the cell holds no markup (the plain note says it all) or
/// when the two cannot be matched (the store keeps the plain text only).
pub fn note_wikitext(cell: &str, entry: &QuarterEntry) -> Option<String> {
    let note = entry.note.as_deref()?;
    let (status, written) = Status::read_cell(cell);
    let written = written?;
    // A status the cell's words give must be the one read; a status its
    // colour gave leaves the whole cell the note.
    if status.is_some() && status != entry.status {
        return None;
    }
    let written = written.trim();
    if written == note || written.is_empty() {
        return None;
    }
    // Without templates, entities and the like, the wikitext must read as
    // the note the wiki showed: else the cell is not the one read.
    let opaque = ["{{", "&", "<!--", "-{", "__"]
        .iter()
        .any(|m| written.contains(m));
    if !opaque && plain(written) != plain(note) {
        return None;
    }
    Some(written.to_string())
}

/// Sets [`QuarterEntry::note_wikitext`] on every note of `records` that the
/// page's wikitext `text` writes with markup. A cell the wiki showed with
/// markup (`marked`, by record id and quarter) whose source the table
/// reader cannot find keeps the wikitext `base` had for the same words
/// ([`as_in_base`]): an unsure reading is no news. Returns how many were set.
pub fn attach(
    text: &str,
    records: &mut FiscalYearRecords,
    marked: &BTreeSet<(String, Quarter)>,
    base: Option<&FiscalYearRecords>,
) -> usize {
    let cells = status_cells(text);
    let mut n = 0;
    for kr in records
        .objectives
        .iter_mut()
        .flat_map(|o| o.key_results.iter_mut())
    {
        for (q, entry) in &mut kr.quarters {
            let key = (kr.id.clone(), *q);
            // The first of the row's cells whose markup gives the note read
            // (a copy of the table may hold an older, plain cell); else, for
            // a cell the wiki shows marked up but the reader cannot find,
            // the base's wikitext for the same words.
            let found = cells
                .get(&key)
                .into_iter()
                .flatten()
                .find_map(|c| note_wikitext(c, entry))
                .or_else(|| {
                    marked
                        .contains(&key)
                        .then(|| as_in_base(base, &key, entry))
                        .flatten()
                });
            if found.is_some() {
                n += 1;
            }
            entry.note_wikitext = found;
        }
    }
    n
}

/// The wikitext `base` (the revision last synced) had for a note the wiki
/// shows with markup in a cell the table reader is unsure of (HTML rows
/// among wikitext, …): the page shows the same words, so it says nothing
/// new about their markup. `None` when the words changed (the store then
/// keeps the plain text only).
fn as_in_base(
    base: Option<&FiscalYearRecords>,
    (id, quarter): &(String, Quarter),
    entry: &QuarterEntry,
) -> Option<String> {
    let then = base?
        .objectives
        .iter()
        .flat_map(|o| &o.key_results)
        .find(|k| &k.id == id)?
        .quarters
        .get(quarter)?;
    if then.note.is_some() && then.note == entry.note {
        then.note_wikitext.clone()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::records::{FiscalYear, KeyResult, Kind, Objective};

    const PAGE: &str = r#"== Content integrity ==
{| class="wikitable goalsbot-status" data-goalsbot-objective="2020-21/ci"
! KR !! Year goal !! Q1 !! Q2
|- data-goalsbot-kr="2020-21/ci/kr1"
| KR1
|
| data-goalsbot-quarter="Q1" style="background:#f8d7da" | At risk: blocked on [https://phabricator.wikimedia.org/T301234 the storage outage], see {{Phabricator|T287999}}
| data-goalsbot-quarter="Q2" | On track: plain words
|}
{| class="wikitable" data-goalsbot-objective="2020-21/ci"
! KR !! Q1 Status !! Q2 Status
|- data-goalsbot-kr="2020-21/ci/kr2"
| KR2 || style="background-color:#b6d7a8" | '''half''' done || Complete: [[Staff|people]] hired
|}
"#;

    fn entry(status: Option<Status>, note: &str) -> QuarterEntry {
        QuarterEntry {
            status,
            note: Some(note.into()),
            ..QuarterEntry::default()
        }
    }

    fn records() -> FiscalYearRecords {
        let kr = |n: u32, quarters: Vec<(Quarter, QuarterEntry)>| KeyResult {
            id: format!("2020-21/ci/kr{n}"),
            kind: Kind::KeyResult,
            number: n,
            text: String::new(),
            managers: vec![],
            baseline: None,
            year_goal: None,
            links: vec![],
            quarters: quarters.into_iter().collect(),
        };
        FiscalYearRecords {
            fiscal_year: "2020-21".parse::<FiscalYear>().unwrap(),
            objectives: vec![Objective {
                key_results: vec![
                    kr(
                        1,
                        vec![
                            (
                                Quarter::Q1,
                                entry(
                                    Some(Status::AtRisk),
                                    "blocked on the storage outage, see T287999",
                                ),
                            ),
                            (Quarter::Q2, entry(Some(Status::OnTrack), "plain words")),
                        ],
                    ),
                    kr(
                        2,
                        vec![
                            (Quarter::Q1, entry(Some(Status::Complete), "half done")),
                            (Quarter::Q2, entry(Some(Status::Complete), "people hired")),
                        ],
                    ),
                ],
                id: "2020-21/ci".into(),
                program: None,
                title: "Content integrity".into(),
                managers: vec![],
                description: None,
                status: BTreeMap::new(),
                target_quarter: None,
                department: None,
            }],
        }
    }

    #[test]
    fn a_notes_markup_is_read_from_its_cell_in_both_kinds_of_table() {
        let mut r = records();
        assert_eq!(attach(PAGE, &mut r, &BTreeSet::new(), None), 3);
        let q = |k: usize, q: Quarter| {
            r.objectives[0].key_results[k].quarters[&q]
                .note_wikitext
                .clone()
        };
        assert_eq!(
            q(0, Quarter::Q1).as_deref(),
            Some(
                "blocked on [https://phabricator.wikimedia.org/T301234 the storage outage], \
                 see {{Phabricator|T287999}}"
            )
        );
        assert_eq!(q(0, Quarter::Q2), None, "plain words need no wikitext");
        assert_eq!(q(1, Quarter::Q1).as_deref(), Some("'''half''' done"));
        assert_eq!(q(1, Quarter::Q2).as_deref(), Some("[[Staff|people]] hired"));
    }

    #[test]
    fn a_cell_that_does_not_read_as_the_note_gives_nothing() {
        let mut r = records();
        r.objectives[0].key_results[1]
            .quarters
            .get_mut(&Quarter::Q2)
            .unwrap()
            .note = Some("other words".into());
        // A status the words give that is not the one read.
        r.objectives[0].key_results[0]
            .quarters
            .get_mut(&Quarter::Q1)
            .unwrap()
            .status = Some(Status::Concerns);
        assert_eq!(attach(PAGE, &mut r, &BTreeSet::new(), None), 1);
        assert_eq!(
            r.objectives[0].key_results[1].quarters[&Quarter::Q2].note_wikitext,
            None
        );
    }

    #[test]
    fn a_marked_cell_the_reader_is_unsure_of_keeps_the_bases_wikitext_for_the_same_words() {
        // KR2's row written in HTML: the reader is unsure of its table, so
        // KR2's cells cannot be found in the source.
        let page = PAGE.replace(
            "|- data-goalsbot-kr=\"2020-21/ci/kr2\"\n| KR2 || style=\"background-color:#b6d7a8\" | '''half''' done || Complete: [[Staff|people]] hired",
            "<tr data-goalsbot-kr=\"2020-21/ci/kr2\"><td>KR2</td><td>'''half''' done</td><td>Complete: [[Staff|people]] hired</td></tr>",
        );
        assert_ne!(page, PAGE);
        let mut base = records();
        assert_eq!(attach(PAGE, &mut base, &BTreeSet::new(), None), 3);
        let q1 = ("2020-21/ci/kr2".to_string(), Quarter::Q1);
        let q2 = ("2020-21/ci/kr2".to_string(), Quarter::Q2);
        let marked: BTreeSet<_> = [q1.clone(), q2.clone()].into_iter().collect();
        let wikitext = |r: &FiscalYearRecords, (_, q): &(String, Quarter)| {
            r.objectives[0].key_results[1].quarters[q]
                .note_wikitext
                .clone()
        };
        // The same words as the base: the base's markup.
        let mut now = records();
        assert_eq!(attach(&page, &mut now, &marked, Some(&base)), 3);
        assert_eq!(wikitext(&now, &q1).as_deref(), Some("'''half''' done"));
        assert_eq!(wikitext(&now, &q2), wikitext(&base, &q2));
        // Not shown with markup, or no base: nothing.
        let mut now = records();
        assert_eq!(attach(&page, &mut now, &BTreeSet::new(), Some(&base)), 1);
        let mut now = records();
        assert_eq!(attach(&page, &mut now, &marked, None), 1);
        // Other words than the base's: nothing.
        let mut now = records();
        now.objectives[0].key_results[1]
            .quarters
            .get_mut(&Quarter::Q1)
            .unwrap()
            .note = Some("other words".into());
        assert_eq!(attach(&page, &mut now, &marked, Some(&base)), 2);
        assert_eq!(wikitext(&now, &q1), None);
    }
    #[test]
    fn a_table_pasted_twice_gives_the_markup_of_the_copy_that_reads_as_the_note() {
        // A copy of the bot's table, older than the first: KR1's Q1 cell is
        // plain there. The reader read the first copy's note; its markup is
        // kept whichever copy comes last.
        let first = PAGE
            .split("{| class=\"wikitable\" data-goalsbot-objective")
            .next()
            .unwrap();
        let copy = first
            .trim_start_matches("== Content integrity ==\n")
            .replace(
                "At risk: blocked on [https://phabricator.wikimedia.org/T301234 the storage outage], see {{Phabricator|T287999}}",
                "",
            );
        for page in [
            format!("{first}{copy}"),
            format!(
                "== Content integrity ==\n{copy}{}",
                first.trim_start_matches("== Content integrity ==\n")
            ),
        ] {
            assert_eq!(
                status_cells(&page)[&("2020-21/ci/kr1".to_string(), Quarter::Q1)].len(),
                2
            );
            let mut r = records();
            assert_eq!(attach(&page, &mut r, &BTreeSet::new(), None), 1, "{page}");
            assert_eq!(
                r.objectives[0].key_results[0].quarters[&Quarter::Q1]
                    .note_wikitext
                    .as_deref(),
                Some(
                    "blocked on [https://phabricator.wikimedia.org/T301234 the storage outage], \
                     see {{Phabricator|T287999}}"
                )
            );
        }
    }
}
