//! The records model: objectives, key results and per-quarter entries, as in `docs/records.md`.
//!
//! These types are the export format itself (field order included), so
//! `serde_json` output of [`Export`] is what `goalsbot export --format json`
//! prints and what `goalsbot import` reads back.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The schema tag written into every export.
pub const SCHEMA: &str = "goalsbot.records/1";

/// A whole export: every fiscal year the store holds (or the ones asked for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    pub schema: String,
    pub fiscal_years: Vec<FiscalYearRecords>,
}

impl Export {
    /// An export of the given years with the current schema tag.
    pub fn new(fiscal_years: Vec<FiscalYearRecords>) -> Self {
        Self {
            schema: SCHEMA.to_string(),
            fiscal_years,
        }
    }
}

/// The objectives of one fiscal year, in page order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiscalYearRecords {
    pub fiscal_year: FiscalYear,
    pub objectives: Vec<Objective>,
}

/// One objective (a `== program - title ==` section of a quarter page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    pub id: String,
    pub program: Option<String>,
    pub title: String,
    pub managers: Vec<String>,
    pub description: Option<String>,
    /// Overall colour per quarter, when known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status: BTreeMap<Quarter, Option<Status>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_quarter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub key_results: Vec<KeyResult>,
}

/// A key result, or an `Objective: …` item that stands where a KR would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyResult {
    pub id: String,
    pub kind: Kind,
    pub number: u32,
    pub text: String,
    pub managers: Vec<String>,
    pub baseline: Option<String>,
    pub year_goal: Option<String>,
    /// Phabricator task ids found in the texts, e.g. `T123456`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    pub quarters: BTreeMap<Quarter, QuarterEntry>,
}

/// What one quarter says about one key result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarterEntry {
    pub objective: Option<String>,
    pub goals: Vec<String>,
    pub status: Option<Status>,
    pub note: Option<String>,
    /// The note as a person wrote it in a status cell, markup included
    /// (`[https://… the outage]`, `{{Phabricator|T1}}`, `'''bold'''`), when
    /// that differs from the plain text in `note`. Read from the page's
    /// wikitext with the note it belongs to; a tracker edit of the note
    /// clears it. Never set without `note`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_wikitext: Option<String>,
}

/// Whether an item is a numbered KR or an `Objective:` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    KeyResult,
    ObjectiveItem,
    /// A row of an MTP metrics table (`docs/pages.md`).
    Metric,
}

impl Kind {
    /// The spelling used in exports and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::KeyResult => "key-result",
            Kind::ObjectiveItem => "objective-item",
            Kind::Metric => "metric",
        }
    }

    /// The id suffix stem: `kr`, `item` or `metric`.
    pub fn id_stem(self) -> &'static str {
        match self {
            Kind::KeyResult => "kr",
            Kind::ObjectiveItem => "item",
            Kind::Metric => "metric",
        }
    }
}

impl FromStr for Kind {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "key-result" => Ok(Kind::KeyResult),
            "objective-item" => Ok(Kind::ObjectiveItem),
            "metric" => Ok(Kind::Metric),
            _ => Err(ParseEnumError::new(
                "kind",
                s,
                &["key-result", "objective-item", "metric"],
            )),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fiscal quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Quarter {
    Q1,
    Q2,
    Q3,
    Q4,
}

impl Quarter {
    /// All four, in order.
    pub const ALL: [Quarter; 4] = [Quarter::Q1, Quarter::Q2, Quarter::Q3, Quarter::Q4];

    /// `Q1` … `Q4`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quarter::Q1 => "Q1",
            Quarter::Q2 => "Q2",
            Quarter::Q3 => "Q3",
            Quarter::Q4 => "Q4",
        }
    }

    /// 1 … 4.
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// The quarter with that number, 1 … 4.
    pub fn from_number(n: u8) -> Option<Self> {
        Self::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The months the quarter covers, e.g. `October - December`.
    pub fn months(self) -> &'static str {
        match self {
            Quarter::Q1 => "July - September",
            Quarter::Q2 => "October - December",
            Quarter::Q3 => "January - March",
            Quarter::Q4 => "April - June",
        }
    }
}

impl FromStr for Quarter {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t.strip_prefix(['Q', 'q']).unwrap_or(t);
        digits
            .parse::<u8>()
            .ok()
            .and_then(Quarter::from_number)
            .ok_or_else(|| ParseEnumError::new("quarter", s, &["Q1", "Q2", "Q3", "Q4"]))
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a KR in a quarter, as in the review decks' legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Complete,
    OnTrack,
    Concerns,
    AtRisk,
    Paused,
    NotScheduled,
}

impl Status {
    /// All statuses, in legend order.
    pub const ALL: [Status; 6] = [
        Status::Complete,
        Status::OnTrack,
        Status::Concerns,
        Status::AtRisk,
        Status::Paused,
        Status::NotScheduled,
    ];

    /// The canonical spelling (`on-track`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::OnTrack => "on-track",
            Status::Concerns => "concerns",
            Status::AtRisk => "at-risk",
            Status::Paused => "paused",
            Status::NotScheduled => "not-scheduled",
        }
    }

    /// The label people read (`On track`).
    pub fn label(self) -> &'static str {
        match self {
            Status::Complete => "Complete",
            Status::OnTrack => "On track",
            Status::Concerns => "Concerns",
            Status::AtRisk => "At risk",
            Status::Paused => "Paused",
            Status::NotScheduled => "Not scheduled",
        }
    }

    /// Every spelling that may open a status cell, label first (`docs/pages.md`).
    pub fn spellings(self) -> &'static [&'static str] {
        match self {
            Status::Complete => &["Complete", "Completed", "Done", "Achieved", "Met"],
            Status::OnTrack => &["On track", "On schedule", "Green", "In progress"],
            Status::Concerns => &[
                "Concerns",
                "Some concerns",
                "Behind",
                "Yellow",
                "Partially done",
            ],
            Status::AtRisk => &["At risk", "Off track", "Red", "Blocked", "Not done"],
            Status::Paused => &[
                "Paused",
                "On hold",
                "On pause",
                "Postponed",
                "Deprioritized",
            ],
            Status::NotScheduled => &["Not scheduled", "n/a", "-", "Not started", "Grey"],
        }
    }

    /// Splits a status cell's text into its status and note.
    ///
    /// The status is recognised only at the start of the cell, case-insensitively,
    /// and only as a whole word (so `Metrics…` is not `Met`). The longest
    /// spelling wins (`Some concerns` before `Concerns`, `Not done` before
    /// `Done`). A cell that opens with no known spelling keeps its whole text
    /// as the note and has no status: never guess, never drop text.
    pub fn split_cell(text: &str) -> (Option<Status>, Option<String>) {
        let t = text.trim();
        let mut best: Option<(Status, usize)> = None;
        for status in Status::ALL {
            for spelling in status.spellings() {
                if let Some(len) = starts_with_word(t, spelling) {
                    if best.is_none_or(|(_, l)| len > l) {
                        best = Some((status, len));
                    }
                }
            }
        }
        match best {
            Some((status, len)) => {
                // `Label: note` is how the bot writes a cell: everything after
                // the `: ` is the note, even when it opens with `-` or `:`.
                if let Some(note) = t[len..].strip_prefix(": ") {
                    let note = note.trim();
                    return (Some(status), (!note.is_empty()).then(|| note.to_string()));
                }
                let rest = t[len..].trim_start_matches(|c: char| {
                    c.is_whitespace() || matches!(c, ':' | ',' | ';' | '.')
                });
                // A dash between label and note ("On track - 25% filled") is a
                // separator, not part of the note; "-5%" right after would be.
                let rest = ["- ", "– ", "— "]
                    .iter()
                    .find_map(|d| rest.strip_prefix(d))
                    .unwrap_or(rest)
                    .trim();
                let note = (!rest.is_empty()).then(|| rest.to_string());
                (Some(status), note)
            }
            None if t.is_empty() => (None, None),
            None => (None, Some(t.to_string())),
        }
    }
}

impl Status {
    /// The prefix of a status cell that deliberately has no status, so that a
    /// note opening with a status word (`No status: Done by Legal`) is not
    /// read as one.
    pub const NO_STATUS_PREFIX: &'static str = "No status:";

    /// Reads a status table cell: [`Status::NO_STATUS_PREFIX`] means no status
    /// and the rest as note; anything else goes through [`Status::split_cell`].
    pub fn read_cell(text: &str) -> (Option<Status>, Option<String>) {
        let t = text.trim();
        let prefix = Self::NO_STATUS_PREFIX;
        match t.get(..prefix.len()) {
            Some(head) if head.eq_ignore_ascii_case(prefix) => {
                let rest = t[prefix.len()..].trim();
                (None, (!rest.is_empty()).then(|| rest.to_string()))
            }
            _ => Self::split_cell(t),
        }
    }
}

/// Byte length of `prefix` at the start of `text` (case-insensitive), when it
/// ends at a word boundary.
fn starts_with_word(text: &str, prefix: &str) -> Option<usize> {
    let head = text.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let next = text[prefix.len()..].chars().next();
    let last_is_word = prefix.chars().last().is_some_and(char::is_alphanumeric);
    match next {
        Some(c) if last_is_word && (c.is_alphanumeric() || c == '_') => None,
        // `-` alone means "not scheduled", but `-13%` is a number.
        Some(c) if !last_is_word && !c.is_whitespace() => None,
        _ => Some(prefix.len()),
    }
}

impl FromStr for Status {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| ParseEnumError::new("status", s, &Status::ALL.map(Status::as_str)))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fiscal year in canonical spelling, `2020-21` (1 July 2020 – 30 June 2021).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FiscalYear {
    start: u16,
}

impl FiscalYear {
    /// The fiscal year that starts in July of `start`.
    pub fn starting(start: u16) -> Self {
        Self { start }
    }

    /// The calendar year in which it starts.
    pub fn start_year(&self) -> u16 {
        self.start
    }

    /// The year after.
    pub fn next(&self) -> Self {
        Self::starting(self.start + 1)
    }

    /// The display spelling with an en dash, `2020–21`, as the page headers use.
    pub fn display_dash(&self) -> String {
        format!("{}–{:02}", self.start, (self.start + 1) % 100)
    }

    /// The short spelling `FY20/21` of the page intros.
    pub fn short(&self) -> String {
        format!("FY{:02}/{:02}", self.start % 100, (self.start + 1) % 100)
    }
}

/// The quarter `day` falls in, and the day's number within it (1 on its
/// first day). Wikimedia's fiscal year runs from July to June: Q1 is
/// July–September, Q2 October–December, Q3 January–March, Q4 April–June.
pub fn quarter_on(day: chrono::NaiveDate) -> (FiscalYear, Quarter, u32) {
    use chrono::Datelike;
    let (year, month) = (day.year(), day.month());
    let start = if month >= 7 { year } else { year - 1 };
    let index = ((month + 5) % 12) / 3;
    let q = Quarter::ALL[index as usize];
    let first_month = [7, 10, 1, 4][index as usize];
    let first_year = if index < 2 { start } else { start + 1 };
    let first = chrono::NaiveDate::from_ymd_opt(first_year, first_month, 1)
        .expect("the first of a month is a date");
    let fy = FiscalYear::starting(u16::try_from(start).unwrap_or(0));
    (fy, q, (day - first).num_days() as u32 + 1)
}

impl fmt::Display for FiscalYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:02}", self.start, (self.start + 1) % 100)
    }
}

impl FromStr for FiscalYear {
    type Err = ParseEnumError;

    /// Accepts every spelling `docs/pages.md` lists: `2020-21`, `2020–21`,
    /// `FY2020-21`, `FY2020–21`, `FY20/21`, `FY2020/21`, `FY21-22`, `FY 2021-22`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseEnumError::new("fiscal year", s, &["2020-21", "FY2020-21", "FY20/21"]);
        let t = s.trim();
        let t = t
            .strip_prefix("FY")
            .or_else(|| t.strip_prefix("fy"))
            .map(str::trim_start)
            .unwrap_or(t);
        let (a, b) = t.split_once(['-', '–', '/']).ok_or_else(err)?;
        let (a, b) = (a.trim(), b.trim());
        if !a.chars().all(|c| c.is_ascii_digit()) || !b.chars().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        let start: u16 = match a.len() {
            4 => a.parse().map_err(|_| err())?,
            2 => 2000 + a.parse::<u16>().map_err(|_| err())?,
            _ => return Err(err()),
        };
        let end: u16 = match b.len() {
            2 => b.parse().map_err(|_| err())?,
            4 => b.parse::<u16>().map_err(|_| err())? % 100,
            _ => return Err(err()),
        };
        if (start + 1) % 100 != end {
            return Err(err());
        }
        Ok(Self { start })
    }
}

impl TryFrom<String> for FiscalYear {
    type Error = ParseEnumError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<FiscalYear> for String {
    fn from(fy: FiscalYear) -> String {
        fy.to_string()
    }
}

/// An unknown spelling of an enum-like value; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; expected one of: {}", .valid.join(", "))]
pub struct ParseEnumError {
    what: &'static str,
    given: String,
    valid: Vec<String>,
}

impl ParseEnumError {
    fn new(what: &'static str, given: &str, valid: &[&str]) -> Self {
        Self {
            what,
            given: given.to_string(),
            valid: valid.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The slug of an objective title for its id: lowercase ASCII letters and
/// digits, diacritics dropped, every other run of characters one `-`, none at
/// either end.
pub fn slug(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    let mut pending_dash = false;
    for c in title.chars() {
        match fold_ascii(c) {
            Some(a) => {
                if pending_dash && !out.is_empty() {
                    out.push('-');
                }
                pending_dash = false;
                out.push(a);
            }
            None => pending_dash = true,
        }
    }
    out
}

/// A lowercase ASCII letter or digit for `c`, dropping diacritics of the Latin
/// letters people's names and titles use; `None` for everything else.
fn fold_ascii(c: char) -> Option<char> {
    if c.is_ascii_alphanumeric() {
        return Some(c.to_ascii_lowercase());
    }
    let base = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å'
        | 'Ā' | 'Ă' | 'Ą' => 'a',
        'ç' | 'ć' | 'č' | 'Ç' | 'Ć' | 'Č' => 'c',
        'ď' | 'Ď' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' | 'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę'
        | 'Ě' => 'e',
        'ğ' | 'Ğ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'Į' | 'İ' => {
            'i'
        }
        'ł' | 'ľ' | 'Ł' | 'Ľ' => 'l',
        'ñ' | 'ń' | 'ň' | 'Ñ' | 'Ń' | 'Ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō'
        | 'Ő' => 'o',
        'ř' | 'Ř' => 'r',
        'ś' | 'š' | 'ş' | 'ș' | 'Ś' | 'Š' | 'Ş' | 'Ș' => 's',
        'ť' | 'ţ' | 'ț' | 'Ť' | 'Ţ' | 'Ț' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' | 'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű'
        | 'Ų' => 'u',
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => 'y',
        'ź' | 'ż' | 'ž' | 'Ź' | 'Ż' | 'Ž' => 'z',
        _ => return None,
    };
    Some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quarter_of_a_day_follows_the_july_fiscal_year() {
        let on = |y, m, d| {
            let (fy, q, n) = quarter_on(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
            (fy.to_string(), q.as_str(), n)
        };
        assert_eq!(on(2020, 7, 1), ("2020-21".into(), "Q1", 1));
        assert_eq!(on(2020, 9, 30), ("2020-21".into(), "Q1", 92));
        assert_eq!(on(2020, 10, 7), ("2020-21".into(), "Q2", 7));
        assert_eq!(on(2020, 12, 31), ("2020-21".into(), "Q2", 92));
        assert_eq!(on(2021, 1, 1), ("2020-21".into(), "Q3", 1));
        assert_eq!(on(2021, 3, 31), ("2020-21".into(), "Q3", 90));
        assert_eq!(on(2024, 3, 31), ("2023-24".into(), "Q3", 91));
        assert_eq!(on(2021, 4, 8), ("2020-21".into(), "Q4", 8));
        assert_eq!(on(2021, 6, 30), ("2020-21".into(), "Q4", 91));
        assert_eq!(on(2026, 11, 28), ("2026-27".into(), "Q2", 59));
    }

    #[test]
    fn fiscal_year_spellings() {
        for s in [
            "2020-21",
            "2020–21",
            "FY2020-21",
            "FY2020–21",
            "FY20/21",
            "FY2020/21",
            "FY 2020-21",
        ] {
            assert_eq!(
                s.parse::<FiscalYear>().unwrap().to_string(),
                "2020-21",
                "{s}"
            );
        }
        assert_eq!(
            "FY21-22".parse::<FiscalYear>().unwrap().to_string(),
            "2021-22"
        );
        assert!("2020-22".parse::<FiscalYear>().is_err());
        assert!("Q2".parse::<FiscalYear>().is_err());
        assert_eq!(FiscalYear::starting(2020).display_dash(), "2020–21");
        assert_eq!(FiscalYear::starting(2020).short(), "FY20/21");
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("Evolutionary architecture"),
            "evolutionary-architecture"
        );
        assert_eq!(slug("  Front Line Defenses! "), "front-line-defenses");
        assert_eq!(slug("Técnica & Müller"), "tecnica-muller");
        assert_eq!(slug("ÆØ"), "o");
    }

    #[test]
    fn status_cells() {
        assert_eq!(
            Status::split_cell("On track: 25% filled"),
            (Some(Status::OnTrack), Some("25% filled".into()))
        );
        assert_eq!(
            Status::split_cell("Some concerns - late"),
            (Some(Status::Concerns), Some("late".into()))
        );
        assert_eq!(Status::split_cell("Not done"), (Some(Status::AtRisk), None));
        assert_eq!(Status::split_cell("done"), (Some(Status::Complete), None));
        assert_eq!(Status::split_cell("-"), (Some(Status::NotScheduled), None));
        assert_eq!(
            Status::split_cell("Metrics are fine"),
            (None, Some("Metrics are fine".into()))
        );
        assert_eq!(
            Status::split_cell("25% filled"),
            (None, Some("25% filled".into()))
        );
        assert_eq!(Status::split_cell("  "), (None, None));
        // regression: a note the bot wrote after `Label: ` lost its leading `- ` or `:`.
        assert_eq!(
            Status::split_cell("On track: - 5% fewer"),
            (Some(Status::OnTrack), Some("- 5% fewer".into()))
        );
        assert_eq!(
            Status::split_cell("At risk: : x"),
            (Some(Status::AtRisk), Some(": x".into()))
        );
        assert_eq!(
            Status::split_cell("On track - 25% filled"),
            (Some(Status::OnTrack), Some("25% filled".into()))
        );
    }

    #[test]
    fn status_cells_without_status() {
        assert_eq!(
            Status::read_cell("No status: Done by Legal"),
            (None, Some("Done by Legal".into()))
        );
        assert_eq!(Status::read_cell("no status:"), (None, None));
        assert_eq!(
            Status::read_cell("Done: all"),
            (Some(Status::Complete), Some("all".into()))
        );
        assert_eq!(Status::read_cell("ÄÖ"), (None, Some("ÄÖ".into())));
    }

    #[test]
    fn status_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(Status::split_cell(s.label()).0, Some(s));
        }
        let err = "green".parse::<Status>().unwrap_err().to_string();
        assert!(err.contains("on-track"), "{err}");
    }

    #[test]
    fn quarters() {
        assert_eq!("Q3".parse::<Quarter>().unwrap(), Quarter::Q3);
        assert_eq!("4".parse::<Quarter>().unwrap(), Quarter::Q4);
        assert!("Q5".parse::<Quarter>().is_err());
        assert_eq!(Quarter::Q2.number(), 2);
    }
}
