//! Export formats: records as JSON and CSV text (`docs/records.md`), and reading them back.
//!
//! Pure functions from text to records and back; the `export` and `import`
//! commands only add the store and stdout.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use crate::core::records::{
    Export, FiscalYear, FiscalYearRecords, KeyResult, Kind, Objective, Quarter, QuarterEntry,
    Status, SCHEMA,
};

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 17] = [
    "fiscal_year",
    "objective_id",
    "program",
    "objective_title",
    "kr_id",
    "kind",
    "number",
    "text",
    "managers",
    "baseline",
    "year_goal",
    "quarter",
    "objective",
    "goals",
    "status",
    "note",
    "note_wikitext",
];

/// How `managers` and `goals` lists are joined in one CSV field.
pub const CSV_LIST_SEPARATOR: &str = " ; ";

/// The JSON export: pretty-printed, field order as in `docs/records.md`, ending in a newline.
pub fn to_json(export: &Export) -> String {
    // Serialising these plain structs of strings, lists and maps cannot fail.
    let mut s = serde_json::to_string_pretty(export).expect("records serialise to JSON");
    s.push('\n');
    s
}

/// Reads a JSON export; errors name the line and column, and the field where serde knows it.
pub fn from_json(text: &str) -> Result<Export> {
    let mut de = serde_json::Deserializer::from_str(text);
    let export: Export = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // serde_json's message carries line and column; the path names the field.
        anyhow::anyhow!("reading the JSON export: at {}: {}", e.path(), e.inner())
    })?;
    de.end()
        .context("reading the JSON export: more text after the export")?;
    if export.schema != SCHEMA {
        bail!(
            "reading the JSON export: schema is {:?}, expected {SCHEMA:?}",
            export.schema
        );
    }
    Ok(export)
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// The CSV export: one row per KR per quarter with data, one row with an
/// empty `quarter` for a KR without; RFC 4180 quoting and CRLF line ends.
///
/// `null` and `""` both become an empty field; objective managers,
/// descriptions, statuses, target quarters, departments, KR links and
/// objectives without key results have no column and are not written.
pub fn to_csv(export: &Export) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record(CSV_COLUMNS).expect("write to memory");
    for fy in &export.fiscal_years {
        let fy_s = fy.fiscal_year.to_string();
        for o in &fy.objectives {
            for kr in &o.key_results {
                let number = kr.number.to_string();
                let managers = kr.managers.join(CSV_LIST_SEPARATOR);
                let head = [
                    fy_s.as_str(),
                    &o.id,
                    opt(&o.program),
                    &o.title,
                    &kr.id,
                    kr.kind.as_str(),
                    &number,
                    &kr.text,
                    &managers,
                    opt(&kr.baseline),
                    opt(&kr.year_goal),
                ];
                if kr.quarters.is_empty() {
                    let row = head.iter().copied().chain(["", "", "", "", "", ""]);
                    w.write_record(row).expect("write to memory");
                }
                for (q, e) in &kr.quarters {
                    let goals = e.goals.join(CSV_LIST_SEPARATOR);
                    let tail = [
                        q.as_str(),
                        opt(&e.objective),
                        &goals,
                        e.status.map_or("", Status::as_str),
                        opt(&e.note),
                        opt(&e.note_wikitext),
                    ];
                    w.write_record(head.iter().copied().chain(tail))
                        .expect("write to memory");
                }
            }
        }
    }
    let bytes = w.into_inner().expect("flush to memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
}

/// One CSV row, with its line for error messages.
struct Row {
    line: u64,
    fields: csv::StringRecord,
}

impl Row {
    fn get(&self, col: usize) -> &str {
        self.fields.get(col).unwrap_or("")
    }

    fn err(&self, col: usize, problem: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!(
            "CSV line {}, column {} ({}): {problem}",
            self.line,
            col + 1,
            CSV_COLUMNS[col]
        )
    }

    fn parse<T: std::str::FromStr>(&self, col: usize) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.get(col).parse().map_err(|e| self.err(col, e))
    }

    fn text(&self, col: usize) -> Option<String> {
        let s = self.get(col);
        (!s.is_empty()).then(|| s.to_string())
    }

    fn list(&self, col: usize) -> Vec<String> {
        let s = self.get(col);
        if s.is_empty() {
            Vec::new()
        } else {
            s.split(CSV_LIST_SEPARATOR).map(str::to_string).collect()
        }
    }

    /// Fails when this row repeats a key with a different value than an earlier row.
    fn same(&self, col: usize, earlier: &str) -> Result<()> {
        if self.get(col) != earlier {
            return Err(self.err(
                col,
                format!(
                    "{:?} differs from {earlier:?} on an earlier row",
                    self.get(col)
                ),
            ));
        }
        Ok(())
    }
}

/// The 1-based line of the record starting at byte `at`.
///
/// The csv reader's own line count lags by one after a CRLF (it consumes the
/// `\n` only when reading the next record), so count from the byte offset.
fn line_at(text: &str, at: usize) -> u64 {
    let bytes = text.as_bytes();
    let at = at.min(bytes.len());
    let at = if bytes.get(at) == Some(&b'\n') {
        at + 1
    } else {
        at
    };
    1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64
}

const C_FY: usize = 0;
const C_OBJ_ID: usize = 1;
const C_PROGRAM: usize = 2;
const C_OBJ_TITLE: usize = 3;
const C_KR_ID: usize = 4;
const C_KIND: usize = 5;
const C_NUMBER: usize = 6;
const C_TEXT: usize = 7;
const C_MANAGERS: usize = 8;
const C_BASELINE: usize = 9;
const C_YEAR_GOAL: usize = 10;
const C_QUARTER: usize = 11;
const C_OBJECTIVE: usize = 12;
const C_GOALS: usize = 13;
const C_STATUS: usize = 14;
const C_NOTE: usize = 15;
const C_NOTE_WIKITEXT: usize = 16;

/// Reads a CSV export back into nested records (order of first appearance).
///
/// Empty fields read as `null` (or empty lists); what the CSV has no column
/// for is left unset. Errors name the line and column.
pub fn from_csv(text: &str) -> Result<Export> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = r.headers().context("reading the CSV header")?.clone();
    let got: Vec<&str> = header.iter().collect();
    // A CSV written before `note_wikitext` was a column reads as without it.
    if got != CSV_COLUMNS && got != CSV_COLUMNS[..CSV_COLUMNS.len() - 1] {
        bail!(
            "CSV line 1: the header must be `{}`, found `{}`",
            CSV_COLUMNS.join(","),
            got.join(",")
        );
    }
    let mut nest = Nesting::default();
    for rec in r.records() {
        let fields = rec.context("reading the CSV")?;
        let line = fields
            .position()
            .map_or(0, |p| line_at(text, p.byte() as usize));
        nest.row(&Row { line, fields })?;
    }
    Ok(Export::new(nest.years))
}

/// The records a CSV builds, row by row, and where each objective and KR went.
#[derive(Default)]
struct Nesting {
    years: Vec<FiscalYearRecords>,
    /// (year, objective) indices by objective id.
    objective_at: BTreeMap<String, (usize, usize)>,
    /// (year, objective, kr) indices by KR id.
    kr_at: BTreeMap<String, (usize, usize, usize)>,
}

impl Nesting {
    /// Adds one CSV row: its year, objective and KR when first seen (else
    /// checks they agree), and its quarter's entry.
    fn row(&mut self, row: &Row) -> Result<()> {
        let fy: FiscalYear = row.parse(C_FY)?;
        let yi = self.year(fy);
        let objective = self.objective(row, yi)?;
        let kr_id = row.get(C_KR_ID).to_string();
        if kr_id.is_empty() {
            return Err(row.err(C_KR_ID, "empty"));
        }
        let quarter: Option<Quarter> = match row.get(C_QUARTER) {
            "" => None,
            _ => Some(row.parse(C_QUARTER)?),
        };
        let (ky, ko, kk) = self.key_result(row, &kr_id, objective, quarter.is_some())?;
        let Some(q) = quarter else {
            for col in [C_OBJECTIVE, C_GOALS, C_STATUS, C_NOTE, C_NOTE_WIKITEXT] {
                if !row.get(col).is_empty() {
                    return Err(row.err(col, "set on a row without quarter"));
                }
            }
            return Ok(());
        };
        let status: Option<Status> = match row.get(C_STATUS) {
            "" => None,
            _ => Some(row.parse(C_STATUS)?),
        };
        let entry = QuarterEntry {
            objective: row.text(C_OBJECTIVE),
            goals: row.list(C_GOALS),
            status,
            note: row.text(C_NOTE),
            note_wikitext: row.text(C_NOTE_WIKITEXT),
        };
        if entry.note_wikitext.is_some() && entry.note.is_none() {
            return Err(row.err(C_NOTE_WIKITEXT, "set without a note"));
        }
        let kr = &mut self.years[ky].objectives[ko].key_results[kk];
        if kr.quarters.insert(q, entry).is_some() {
            return Err(row.err(C_QUARTER, format!("{q} repeats for {kr_id}")));
        }
        Ok(())
    }

    /// The index of year `fy`, added when first seen.
    fn year(&mut self, fy: FiscalYear) -> usize {
        if let Some(i) = self.years.iter().position(|y| y.fiscal_year == fy) {
            return i;
        }
        self.years.push(FiscalYearRecords {
            fiscal_year: fy,
            objectives: Vec::new(),
        });
        self.years.len() - 1
    }

    /// Where the row's objective is: added to year `yi` when first seen, else checked against the row.
    fn objective(&mut self, row: &Row, yi: usize) -> Result<(usize, usize)> {
        let obj_id = row.get(C_OBJ_ID).to_string();
        if obj_id.is_empty() {
            return Err(row.err(C_OBJ_ID, "empty"));
        }
        if let Some(&(oy, oi)) = self.objective_at.get(&obj_id) {
            let o = &self.years[oy].objectives[oi];
            row.same(C_FY, &self.years[oy].fiscal_year.to_string())?;
            row.same(C_PROGRAM, opt(&o.program))?;
            row.same(C_OBJ_TITLE, &o.title)?;
            return Ok((oy, oi));
        }
        let objectives = &mut self.years[yi].objectives;
        objectives.push(Objective {
            id: obj_id.clone(),
            program: row.text(C_PROGRAM),
            title: row.get(C_OBJ_TITLE).to_string(),
            managers: Vec::new(),
            description: None,
            status: BTreeMap::new(),
            target_quarter: None,
            department: None,
            key_results: Vec::new(),
        });
        let at = (yi, objectives.len() - 1);
        self.objective_at.insert(obj_id, at);
        Ok(at)
    }

    /// Where the row's KR is: added to `objective` when first seen, else
    /// checked against the row (a KR's rows all have a quarter, or it has one row).
    fn key_result(
        &mut self,
        row: &Row,
        kr_id: &str,
        (oy, oi): (usize, usize),
        has_quarter: bool,
    ) -> Result<(usize, usize, usize)> {
        if let Some(&(ky, ko, kk)) = self.kr_at.get(kr_id) {
            let kr = &self.years[ky].objectives[ko].key_results[kk];
            row.same(C_OBJ_ID, &self.years[ky].objectives[ko].id)?;
            row.same(C_KIND, kr.kind.as_str())?;
            row.same(C_NUMBER, &kr.number.to_string())?;
            row.same(C_TEXT, &kr.text)?;
            row.same(C_MANAGERS, &kr.managers.join(CSV_LIST_SEPARATOR))?;
            row.same(C_BASELINE, opt(&kr.baseline))?;
            row.same(C_YEAR_GOAL, opt(&kr.year_goal))?;
            if !has_quarter || kr.quarters.is_empty() {
                return Err(row.err(
                    C_QUARTER,
                    format!("{kr_id} has a row without quarter and other rows"),
                ));
            }
            return Ok((ky, ko, kk));
        }
        let number: u32 = row.parse(C_NUMBER)?;
        let kind: Kind = row.parse(C_KIND)?;
        let krs = &mut self.years[oy].objectives[oi].key_results;
        krs.push(KeyResult {
            id: kr_id.to_string(),
            kind,
            number,
            text: row.get(C_TEXT).to_string(),
            managers: row.list(C_MANAGERS),
            baseline: row.text(C_BASELINE),
            year_goal: row.text(C_YEAR_GOAL),
            links: Vec::new(),
            quarters: BTreeMap::new(),
        });
        let at = (oy, oi, krs.len() - 1);
        self.kr_at.insert(kr_id.to_string(), at);
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fields::tests::{records, sample};
    use proptest::prelude::*;

    fn export() -> Export {
        let mut other = sample();
        other.fiscal_year = FiscalYear::starting(2021);
        other.objectives[0].id = "2021-22/x".into();
        other.objectives[0].key_results.truncate(1);
        other.objectives[0].key_results[0].id = "2021-22/x/kr2".into();
        other.objectives[0].key_results[0].text = "Comma, \"quote\"\nand newline".into();
        Export::new(vec![sample(), other])
    }

    #[test]
    fn json_matches_records_md_shape() {
        let mut r = sample();
        r.objectives[0].status.clear();
        r.objectives[0].target_quarter = None;
        r.objectives[0].key_results.truncate(1);
        r.objectives[0].key_results[0].links.clear();
        r.objectives[0].key_results[0].quarters.remove(&Quarter::Q3);
        let json = to_json(&Export::new(vec![r]));
        let expected = r#"{
  "schema": "goalsbot.records/1",
  "fiscal_years": [
    {
      "fiscal_year": "2020-21",
      "objectives": [
        {
          "id": "2020-21/x",
          "program": "MTP-Y2: Platform Evolution",
          "title": "X",
          "managers": [
            "Corey Floyd"
          ],
          "description": null,
          "key_results": [
            {
              "id": "2020-21/x/kr2",
              "kind": "key-result",
              "number": 2,
              "text": "Second, shown first",
              "managers": [],
              "baseline": null,
              "year_goal": "85%",
              "quarters": {
                "Q2": {
                  "objective": null,
                  "goals": [],
                  "status": null,
                  "note": null
                }
              }
            }
          ]
        }
      ]
    }
  ]
}
"#;
        assert_eq!(json, expected);
    }

    #[test]
    fn json_round_trip() {
        let json = to_json(&export());
        let back = from_json(&json).unwrap();
        assert_eq!(back, export());
        assert_eq!(to_json(&back), json);
    }

    #[test]
    fn json_errors_name_place() {
        let json = to_json(&export()).replace("\"title\": \"X\"", "\"title\": 3");
        let err = format!("{:#}", from_json(&json).unwrap_err());
        assert!(err.contains("line 10"), "{err}");
        assert!(
            err.contains("at fiscal_years[0].objectives[0].title:"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            from_json("{\"schema\": \"goalsbot.records/1\", \"fiscal_years\": []} x").unwrap_err()
        );
        assert!(err.contains("more text"), "{err}");
        let json = to_json(&export()).replace("\"text\"", "\"txt\"");
        let err = format!("{:#}", from_json(&json).unwrap_err());
        assert!(err.contains("txt") && err.contains("line"), "{err}");
        let json = to_json(&export()).replace("goalsbot.records/1", "goalsbot.records/9");
        let err = format!("{:#}", from_json(&json).unwrap_err());
        assert!(err.contains("goalsbot.records/9"), "{err}");
    }

    #[test]
    fn csv_rows_and_quoting() {
        let csv = to_csv(&export());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "2020-21,2020-21/x,MTP-Y2: Platform Evolution,X,2020-21/x/kr2,key-result,2,\
             \"Second, shown first\",,,85%,Q2,,,,,"
        );
        assert_eq!(
            lines[2],
            "2020-21,2020-21/x,MTP-Y2: Platform Evolution,X,2020-21/x/kr2,key-result,2,\
             \"Second, shown first\",,,85%,Q3,,Ship it ; Écrire,on-track,100% at Level 2,100% at [[Level 2]]"
        );
        // The objective item has no quarter data: one row with an empty quarter.
        assert_eq!(
            lines[3],
            "2020-21,2020-21/x,MTP-Y2: Platform Evolution,X,2020-21/x/item1,objective-item,1,\
             Objective: something,Zoë,,,,,,,,"
        );
        assert!(
            csv.contains("\"Comma, \"\"quote\"\"\nand newline\""),
            "{csv}"
        );
        assert!(csv.ends_with("\r\n"));
    }

    /// A CSV written before notes kept their wikitext (16 columns) reads
    /// as one without it; a wikitext without a note is refused.
    #[test]
    fn a_csv_without_the_note_wikitext_column_still_imports() {
        let csv = to_csv(&export());
        let old: String = csv
            .split_inclusive("\r\n")
            .map(|line| {
                let mut r = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .from_reader(line.as_bytes());
                let rec = r.records().next().unwrap().unwrap();
                let mut w = csv::Writer::from_writer(vec![]);
                w.write_record(rec.iter().take(16)).unwrap();
                String::from_utf8(w.into_inner().unwrap()).unwrap()
            })
            .collect();
        let back = from_csv(&old).unwrap();
        let kr = &back.fiscal_years[0].objectives[0].key_results[0];
        assert_eq!(
            kr.quarters[&Quarter::Q3].note.as_deref(),
            Some("100% at Level 2")
        );
        assert_eq!(kr.quarters[&Quarter::Q3].note_wikitext, None);
        let bad = csv.replace(",on-track,100% at Level 2,", ",on-track,,");
        let err = format!("{:#}", from_csv(&bad).unwrap_err());
        assert!(err.contains("(note_wikitext): set without a note"), "{err}");
    }

    #[test]
    fn csv_round_trip() {
        let csv = to_csv(&export());
        let back = from_csv(&csv).unwrap();
        assert_eq!(to_csv(&back), csv);
        assert_eq!(back.fiscal_years.len(), 2);
        assert_eq!(back.fiscal_years[0].objectives[0].key_results.len(), 2);
        let kr = &back.fiscal_years[0].objectives[0].key_results[0];
        assert_eq!(kr.quarters[&Quarter::Q3].goals, ["Ship it", "Écrire"]);
        assert_eq!(kr.quarters[&Quarter::Q3].status, Some(Status::OnTrack));
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let csv = to_csv(&export()).replacen("on-track", "green", 1);
        let err = format!("{:#}", from_csv(&csv).unwrap_err());
        assert!(err.contains("line 3, column 15 (status)"), "{err}");
        let csv = to_csv(&export()).replacen("key-result,2", "key-result,two", 1);
        let err = format!("{:#}", from_csv(&csv).unwrap_err());
        assert!(err.contains("line 2, column 7 (number)"), "{err}");
        // Same lines with LF line ends.
        let csv = to_csv(&export())
            .replace("\r\n", "\n")
            .replacen("on-track", "green", 1);
        let err = format!("{:#}", from_csv(&csv).unwrap_err());
        assert!(err.contains("line 3, column 15 (status)"), "{err}");
        let err = format!("{:#}", from_csv("a,b\n1,2\n").unwrap_err());
        assert!(err.contains("header"), "{err}");
    }

    proptest! {
        #[test]
        fn json_round_trip_random(r in records()) {
            let e = Export::new(vec![r]);
            let json = to_json(&e);
            prop_assert_eq!(from_json(&json).unwrap(), e);
        }

        #[test]
        fn csv_export_is_stable_through_import(r in records()) {
            let csv = to_csv(&Export::new(vec![r]));
            let back = from_csv(&csv).unwrap();
            prop_assert_eq!(to_csv(&back), csv);
        }
    }
}
