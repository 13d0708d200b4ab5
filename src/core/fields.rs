//! The field-level view of records: flatten, rebuild and diff, the basis of history, as-of and merge.
//!
//! A fiscal year's records flatten into a map from [`FieldKey`] (record id,
//! field path) to a JSON value. The map says everything needed to rebuild the
//! nested [`FiscalYearRecords`] exactly: each record's page position, a KR's
//! parent objective, kind and number, and every optional field that is set.
//!
//! Field paths, objective records (`2020-21/x`):
//! `position`, `program`, `title`, `managers`, `description`, `status.Qn`
//! (only for quarters that carry an overall status), `target_quarter` and
//! `department` (only when set).
//!
//! Key result records (`2020-21/x/kr1`, `2020-21/x/item1`):
//! `parent`, `position`, `kind`, `number`, `text`, `managers`, `baseline`,
//! `year_goal`, `links` (only when not empty), and for each quarter with data
//! `quarters.Qn.objective`, `quarters.Qn.goals`, `quarters.Qn.status`,
//! `quarters.Qn.note`, and `quarters.Qn.note_wikitext` when the note was
//! written with markup.
//!
//! Any record may also carry the marker field [`REMOVED`] (`true`): it is kept,
//! with its values, but left out when the records are rebuilt.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::records::{
    FiscalYear, FiscalYearRecords, KeyResult, Objective, Quarter, QuarterEntry,
};

/// The marker field of a removed record (value `true`).
pub const REMOVED: &str = "removed";

/// One field of one record: `(2020-21/x/kr1, quarters.Q2.status)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldKey {
    /// The record id: an objective's or a key result's.
    pub record: String,
    /// The field path within the record, e.g. `title` or `quarters.Q2.goals`.
    pub field: String,
}

impl FieldKey {
    /// A key from a record id and a field path.
    pub fn new(record: impl Into<String>, field: impl Into<String>) -> Self {
        Self {
            record: record.into(),
            field: field.into(),
        }
    }
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.record, self.field)
    }
}

/// The flat form of a fiscal year's records.
pub type Fields = BTreeMap<FieldKey, Value>;

/// One field that differs: `None` means absent (not set, or not present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Which field of which record.
    pub key: FieldKey,
    /// The value before, `None` when the field was absent.
    pub old: Option<Value>,
    /// The value after, `None` when the field goes away.
    pub new: Option<Value>,
}

/// A value in the flat map that does not fit its field; names record and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record}, field {field}: {problem}")]
pub struct FieldError {
    /// The record id.
    pub record: String,
    /// The field path.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Whether `field` is a field path this module knows (objective, KR or marker).
pub fn is_known_field(field: &str) -> bool {
    Shape::of(field).is_some()
}

/// `status.Q2` → `Q2`.
fn status_quarter(field: &str) -> Option<Quarter> {
    let q = field.strip_prefix("status.")?;
    q.parse::<Quarter>().ok().filter(|p| p.as_str() == q)
}

/// What kind of JSON value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The removed marker: `true`.
    Marker,
    /// A page position: a whole number from 0.
    Position,
    /// A KR number: a whole number from 1.
    Number,
    /// A [`Kind`](crate::core::records::Kind) spelling.
    Kind,
    /// A string.
    Str,
    /// A string or null.
    Text,
    /// A [`Status`](crate::core::records::Status) spelling or null.
    Status,
    /// A list of strings.
    Strings,
}

impl Shape {
    fn of(field: &str) -> Option<Shape> {
        let shape = match field {
            REMOVED => Shape::Marker,
            "position" => Shape::Position,
            "number" => Shape::Number,
            "kind" => Shape::Kind,
            "title" | "text" | "parent" => Shape::Str,
            "managers" | "links" => Shape::Strings,
            "program" | "description" | "target_quarter" | "department" | "baseline"
            | "year_goal" => Shape::Text,
            f if status_quarter(f).is_some() => Shape::Status,
            f => match split_quarter_field(f)?.1 {
                "status" => Shape::Status,
                "goals" => Shape::Strings,
                "objective" | "note" | "note_wikitext" => Shape::Text,
                _ => return None,
            },
        };
        Some(shape)
    }

    fn expected(self) -> &'static str {
        match self {
            Shape::Marker => "true",
            Shape::Position => "a whole number",
            Shape::Number => "a whole number from 1",
            Shape::Kind => "key-result or objective-item",
            Shape::Str => "a string",
            Shape::Text => "a string or null",
            Shape::Status => "a status or null",
            Shape::Strings => "a list of strings",
        }
    }

    fn fits(self, value: &Value) -> bool {
        use crate::core::records::{Kind, Status};
        match (self, value) {
            (Shape::Marker, Value::Bool(b)) => *b,
            (Shape::Position, v) => v.as_u64().is_some(),
            (Shape::Number, v) => v
                .as_u64()
                .is_some_and(|n| n >= 1 && u32::try_from(n).is_ok()),
            (Shape::Kind, Value::String(s)) => s.parse::<Kind>().is_ok(),
            (Shape::Str | Shape::Text, Value::String(_)) => true,
            (Shape::Text | Shape::Status, Value::Null) => true,
            (Shape::Status, Value::String(s)) => s.parse::<Status>().is_ok(),
            (Shape::Strings, Value::Array(items)) => items.iter().all(Value::is_string),
            _ => false,
        }
    }
}

/// Checks that `value` fits `field` (a known field path), so a stored map always rebuilds.
pub fn check_value(field: &str, value: &Value) -> Result<(), String> {
    let shape = Shape::of(field).ok_or_else(|| format!("unknown field {field:?}"))?;
    if shape.fits(value) {
        Ok(())
    } else {
        Err(format!("expected {}, found {value}", shape.expected()))
    }
}

/// `quarters.Q2.goals` → `(Q2, "goals")`.
fn split_quarter_field(field: &str) -> Option<(Quarter, &str)> {
    let rest = field.strip_prefix("quarters.")?;
    let (q, sub) = rest.split_once('.')?;
    let quarter = q.parse::<Quarter>().ok().filter(|p| p.as_str() == q)?;
    Some((quarter, sub))
}

fn string_list(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn opt_string(s: &Option<String>) -> Value {
    s.clone().map_or(Value::Null, Value::String)
}

/// The flat form of one fiscal year's records (no record is marked removed).
pub fn flatten(records: &FiscalYearRecords) -> Fields {
    let mut out = Fields::new();
    for (pos, o) in records.objectives.iter().enumerate() {
        let mut put = |field: &str, v: Value| {
            out.insert(FieldKey::new(&o.id, field), v);
        };
        put("position", Value::from(pos));
        put("program", opt_string(&o.program));
        put("title", Value::String(o.title.clone()));
        put("managers", string_list(&o.managers));
        put("description", opt_string(&o.description));
        for (q, status) in &o.status {
            let v = status.map_or(Value::Null, |s| Value::String(s.as_str().into()));
            put(&format!("status.{q}"), v);
        }
        if let Some(t) = &o.target_quarter {
            put("target_quarter", Value::String(t.clone()));
        }
        if let Some(d) = &o.department {
            put("department", Value::String(d.clone()));
        }
        for (kpos, kr) in o.key_results.iter().enumerate() {
            let mut put = |field: &str, v: Value| {
                out.insert(FieldKey::new(&kr.id, field), v);
            };
            put("parent", Value::String(o.id.clone()));
            put("position", Value::from(kpos));
            put("kind", Value::String(kr.kind.as_str().into()));
            put("number", Value::from(kr.number));
            put("text", Value::String(kr.text.clone()));
            put("managers", string_list(&kr.managers));
            put("baseline", opt_string(&kr.baseline));
            put("year_goal", opt_string(&kr.year_goal));
            if !kr.links.is_empty() {
                put("links", string_list(&kr.links));
            }
            for (q, e) in &kr.quarters {
                put(&format!("quarters.{q}.objective"), opt_string(&e.objective));
                put(&format!("quarters.{q}.goals"), string_list(&e.goals));
                let status = e
                    .status
                    .map_or(Value::Null, |s| Value::String(s.as_str().into()));
                put(&format!("quarters.{q}.status"), status);
                put(&format!("quarters.{q}.note"), opt_string(&e.note));
                if let Some(w) = &e.note_wikitext {
                    put(
                        &format!("quarters.{q}.note_wikitext"),
                        Value::String(w.clone()),
                    );
                }
            }
        }
    }
    out
}

/// The fields of one record, by field path.
type RecordFields<'a> = BTreeMap<&'a str, &'a Value>;

struct Reader<'a> {
    record: &'a str,
    fields: &'a RecordFields<'a>,
}

impl<'a> Reader<'a> {
    fn err(&self, field: &str, problem: impl Into<String>) -> FieldError {
        FieldError {
            record: self.record.to_string(),
            field: field.to_string(),
            problem: problem.into(),
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.fields.get(field).copied()
    }

    fn string(&self, field: &str) -> Result<String, FieldError> {
        match self.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.err(field, format!("expected a string, found {v}"))),
            None => Err(self.err(field, "missing")),
        }
    }

    /// A nullable text; absent reads as `null`.
    fn opt_string(&self, field: &str) -> Result<Option<String>, FieldError> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(field, format!("expected a string or null, found {v}"))),
        }
    }

    /// A list of strings; absent reads as empty.
    fn strings(&self, field: &str) -> Result<Vec<String>, FieldError> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    v => Err(self.err(field, format!("expected strings, found {v}"))),
                })
                .collect(),
            Some(v) => Err(self.err(field, format!("expected a list of strings, found {v}"))),
        }
    }

    fn u64(&self, field: &str) -> Result<u64, FieldError> {
        match self.get(field) {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| self.err(field, format!("expected a whole number, found {v}"))),
            None => Err(self.err(field, "missing")),
        }
    }

    fn parsed<T: std::str::FromStr>(&self, field: &str) -> Result<Option<T>, FieldError>
    where
        T::Err: fmt::Display,
    {
        match self.opt_string(field)? {
            None => Ok(None),
            Some(s) => s
                .parse::<T>()
                .map(Some)
                .map_err(|e| self.err(field, e.to_string())),
        }
    }

    fn removed(&self) -> bool {
        self.get(REMOVED) == Some(&Value::Bool(true))
    }
}

/// Rebuilds the records of `fy` from their flat form (the inverse of [`flatten`]).
///
/// Records marked [`REMOVED`] are left out, and so are key results whose
/// parent objective is removed or absent. Objectives and key results are
/// ordered by `position` (then id, so a tie still gives one order). Fails,
/// naming record and field, on a value that does not fit its field.
pub fn unflatten(fy: &FiscalYear, fields: &Fields) -> Result<FiscalYearRecords, FieldError> {
    let mut by_record: BTreeMap<&str, RecordFields<'_>> = BTreeMap::new();
    for (k, v) in fields {
        by_record
            .entry(k.record.as_str())
            .or_default()
            .insert(k.field.as_str(), v);
    }

    let mut objectives: Vec<(u64, Objective)> = Vec::new();
    let mut krs: BTreeMap<String, Vec<(u64, KeyResult)>> = BTreeMap::new();
    for (record, fs) in &by_record {
        let r = Reader { record, fields: fs };
        if r.removed() {
            continue;
        }
        if r.get("parent").is_some() {
            let (pos, kr) = read_key_result(&r)?;
            krs.entry(r.string("parent")?).or_default().push((pos, kr));
        } else {
            objectives.push(read_objective(&r)?);
        }
    }

    // BTreeMap iteration gives id order, and a stable sort keeps it among ties.
    objectives.sort_by_key(|(pos, _)| *pos);
    let objectives = objectives
        .into_iter()
        .map(|(_, mut o)| {
            let mut list = krs.remove(&o.id).unwrap_or_default();
            list.sort_by_key(|(pos, _)| *pos);
            o.key_results = list.into_iter().map(|(_, kr)| kr).collect();
            o
        })
        .collect();
    Ok(FiscalYearRecords {
        fiscal_year: fy.clone(),
        objectives,
    })
}

fn read_objective(r: &Reader<'_>) -> Result<(u64, Objective), FieldError> {
    let mut status = BTreeMap::new();
    for q in Quarter::ALL {
        let field = format!("status.{q}");
        if r.get(&field).is_some() {
            status.insert(q, r.parsed(&field)?);
        }
    }
    let o = Objective {
        id: r.record.to_string(),
        program: r.opt_string("program")?,
        title: r.string("title")?,
        managers: r.strings("managers")?,
        description: r.opt_string("description")?,
        status,
        target_quarter: r.opt_string("target_quarter")?,
        department: r.opt_string("department")?,
        key_results: Vec::new(),
    };
    Ok((r.u64("position")?, o))
}

fn read_key_result(r: &Reader<'_>) -> Result<(u64, KeyResult), FieldError> {
    let quarters_present: BTreeSet<Quarter> = r
        .fields
        .keys()
        .filter_map(|f| split_quarter_field(f).map(|(q, _)| q))
        .collect();
    let mut quarters = BTreeMap::new();
    for q in quarters_present {
        let f = |sub: &str| format!("quarters.{q}.{sub}");
        let entry = QuarterEntry {
            objective: r.opt_string(&f("objective"))?,
            goals: r.strings(&f("goals"))?,
            status: r.parsed(&f("status"))?,
            note: r.opt_string(&f("note"))?,
            note_wikitext: r.opt_string(&f("note_wikitext"))?,
        };
        quarters.insert(q, entry);
    }
    let number = r.u64("number")?;
    let kr = KeyResult {
        id: r.record.to_string(),
        kind: r.parsed("kind")?.ok_or_else(|| r.err("kind", "missing"))?,
        number: u32::try_from(number).map_err(|_| r.err("number", "too large"))?,
        text: r.string("text")?,
        managers: r.strings("managers")?,
        baseline: r.opt_string("baseline")?,
        year_goal: r.opt_string("year_goal")?,
        links: r.strings("links")?,
        quarters,
    };
    Ok((r.u64("position")?, kr))
}

/// The changes that turn `old` into `new`, in key order.
///
/// A record that is in `old` (and not marked removed) but has no field at all
/// in `new` is not cleared field by field: it gets one change setting
/// [`REMOVED`] to `true`, so its values stay recoverable. Everything else is a
/// plain per-field difference, which also restores a removed record
/// (`removed: true → absent`) when `new` has it unmarked.
pub fn diff(old: &Fields, new: &Fields) -> Vec<FieldChange> {
    let new_records: BTreeSet<&str> = new.keys().map(|k| k.record.as_str()).collect();
    let removed_before =
        |record: &str| old.get(&FieldKey::new(record, REMOVED)) == Some(&Value::Bool(true));
    let mut out = Vec::new();
    let mut vanished: BTreeSet<&str> = BTreeSet::new();
    for (k, v) in old {
        if !new_records.contains(k.record.as_str()) {
            if !removed_before(&k.record) {
                vanished.insert(&k.record);
            }
            continue;
        }
        match new.get(k) {
            Some(n) if n == v => {}
            n => out.push(FieldChange {
                key: k.clone(),
                old: Some(v.clone()),
                new: n.cloned(),
            }),
        }
    }
    for (k, v) in new {
        if !old.contains_key(k) {
            out.push(FieldChange {
                key: k.clone(),
                old: None,
                new: Some(v.clone()),
            });
        }
    }
    for record in vanished {
        out.push(FieldChange {
            key: FieldKey::new(record, REMOVED),
            old: None,
            new: Some(Value::Bool(true)),
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// Applies `changes` to a flat map (`None` removes the field), ignoring their `old` values.
pub fn apply(fields: &mut Fields, changes: &[FieldChange]) {
    for c in changes {
        match &c.new {
            Some(v) => {
                fields.insert(c.key.clone(), v.clone());
            }
            None => {
                fields.remove(&c.key);
            }
        }
    }
}

/// A note's wikitext follows its note ([`QuarterEntry::note_wikitext`]):
/// each change in `changes` of a `quarters.Qn.note` that does not also set
/// that note's wikitext clears the wikitext `store` holds for it (it was
/// written for the old words).
pub fn follow_notes(store: &Fields, changes: &mut Vec<FieldChange>) {
    let cleared: Vec<FieldChange> = changes
        .iter()
        .filter(|c| c.key.field.ends_with(".note") && c.old != c.new)
        .map(|c| FieldKey::new(c.key.record.clone(), format!("{}_wikitext", c.key.field)))
        .filter(|k| !changes.iter().any(|c| &c.key == k))
        .filter_map(|key| {
            let old = store.get(&key).filter(|v| !v.is_null()).cloned()?;
            Some(FieldChange {
                key,
                old: Some(old),
                new: None,
            })
        })
        .collect();
    if !cleared.is_empty() {
        changes.extend(cleared);
        changes.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

/// What a quarter page states, as fields.
///
/// A page speaks for its own quarter's blocks (`Qn Objective:`, `Qn Goals:`),
/// for the texts, managers, baselines and year goals it shows, and — through
/// its status tables — for the status and note of every quarter. It does not
/// speak for other quarters' objective and goals, and a `null` means "this
/// page does not say": neither may erase what another page said.
pub fn page_fields(records: &FiscalYearRecords, quarter: Quarter) -> Fields {
    flatten(records)
        .into_iter()
        .filter(|(k, v)| !v.is_null() && page_states(quarter, &k.field))
        .collect()
}

/// Whether the page of `quarter` speaks for `field` of the records it shows (see [`page_fields`]).
pub fn page_states(quarter: Quarter, field: &str) -> bool {
    match field
        .strip_prefix("quarters.")
        .and_then(|f| f.split_once('.'))
    {
        Some((q, sub)) => {
            q == quarter.as_str() || matches!(sub, "status" | "note" | "note_wikitext")
        }
        None => true,
    }
}

/// One line for a planned store change: `record field: old → new`.
pub fn describe_change(c: &FieldChange) -> String {
    format!(
        "{} {}: {} → {}",
        c.key.record,
        c.key.field,
        show_value(&c.old),
        show_value(&c.new)
    )
}

/// A stored value for a summary line: JSON, cut at 80 characters; `(none)` when absent.
pub fn show_value(v: &Option<Value>) -> String {
    match v {
        None => "(none)".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 80 {
                format!("{}…", s.chars().take(80).collect::<String>())
            } else {
                s
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::records::{Kind, Status};
    use proptest::prelude::*;
    use serde_json::json;

    fn fy() -> FiscalYear {
        FiscalYear::starting(2020)
    }

    pub(crate) fn sample() -> FiscalYearRecords {
        let mut q = BTreeMap::new();
        q.insert(
            Quarter::Q3,
            QuarterEntry {
                objective: None,
                goals: vec!["Ship it".into(), "Écrire".into()],
                status: Some(Status::OnTrack),
                note: Some("100% at Level 2".into()),
                note_wikitext: Some("100% at [[Level 2]]".into()),
            },
        );
        q.insert(Quarter::Q2, QuarterEntry::default());
        FiscalYearRecords {
            fiscal_year: fy(),
            objectives: vec![Objective {
                id: "2020-21/x".into(),
                program: Some("MTP-Y2: Platform Evolution".into()),
                title: "X".into(),
                managers: vec!["Corey Floyd".into()],
                description: None,
                status: [(Quarter::Q2, Some(Status::Concerns)), (Quarter::Q3, None)].into(),
                target_quarter: Some("Q4".into()),
                department: None,
                key_results: vec![
                    KeyResult {
                        id: "2020-21/x/kr2".into(),
                        kind: Kind::KeyResult,
                        number: 2,
                        text: "Second, shown first".into(),
                        managers: vec![],
                        baseline: None,
                        year_goal: Some("85%".into()),
                        links: vec!["T123".into()],
                        quarters: q,
                    },
                    KeyResult {
                        id: "2020-21/x/item1".into(),
                        kind: Kind::ObjectiveItem,
                        number: 1,
                        text: "Objective: something".into(),
                        managers: vec!["Zoë".into()],
                        baseline: Some("".into()),
                        year_goal: None,
                        links: vec![],
                        quarters: BTreeMap::new(),
                    },
                ],
            }],
        }
    }

    #[test]
    fn flatten_names_fields() {
        let f = flatten(&sample());
        let get = |r: &str, k: &str| f.get(&FieldKey::new(r, k)).cloned();
        assert_eq!(get("2020-21/x", "title"), Some(json!("X")));
        assert_eq!(get("2020-21/x", "status.Q2"), Some(json!("concerns")));
        assert_eq!(get("2020-21/x", "status.Q3"), Some(Value::Null));
        assert_eq!(get("2020-21/x", "department"), None);
        assert_eq!(get("2020-21/x/kr2", "position"), Some(json!(0)));
        assert_eq!(get("2020-21/x/kr2", "parent"), Some(json!("2020-21/x")));
        assert_eq!(
            get("2020-21/x/kr2", "quarters.Q3.status"),
            Some(json!("on-track"))
        );
        assert_eq!(get("2020-21/x/kr2", "quarters.Q1.status"), None);
        assert_eq!(get("2020-21/x/item1", "links"), None);
        for k in f.keys() {
            assert!(is_known_field(&k.field), "{k}");
        }
    }

    #[test]
    fn known_fields() {
        assert!(is_known_field("quarters.Q4.note"));
        assert!(is_known_field("status.Q1"));
        assert!(is_known_field(REMOVED));
        assert!(!is_known_field("quarters.Q5.note"));
        assert!(!is_known_field("quarters.3.note"));
        assert!(!is_known_field("quarters.Q1.colour"));
        assert!(!is_known_field("status.q1"));
        assert!(!is_known_field("nonsense"));
    }

    #[test]
    fn values_are_checked() {
        for (k, v) in flatten(&sample()) {
            assert_eq!(check_value(&k.field, &v), Ok(()), "{k}");
        }
        assert_eq!(check_value(REMOVED, &json!(true)), Ok(()));
        assert!(check_value(REMOVED, &json!(false)).is_err());
        assert!(check_value("number", &json!(0)).is_err());
        assert!(check_value("number", &json!("1")).is_err());
        assert!(check_value("title", &Value::Null).is_err());
        assert!(check_value("kind", &json!("kr")).is_err());
        let err = check_value("quarters.Q1.status", &json!("green")).unwrap_err();
        assert_eq!(err, "expected a status or null, found \"green\"");
        assert!(check_value("status.Q1", &json!("at-risk")).is_ok());
        assert!(check_value("quarters.Q1.goals", &json!(["a", 1])).is_err());
        assert!(check_value("department", &json!(3)).is_err());
        assert!(check_value("colour", &json!("red"))
            .unwrap_err()
            .contains("unknown"));
    }

    #[test]
    fn round_trip_sample() {
        let r = sample();
        assert_eq!(unflatten(&fy(), &flatten(&r)).unwrap(), r);
    }

    #[test]
    fn removed_records_are_left_out() {
        let mut f = flatten(&sample());
        f.insert(FieldKey::new("2020-21/x/kr2", REMOVED), json!(true));
        let r = unflatten(&fy(), &f).unwrap();
        assert_eq!(r.objectives[0].key_results.len(), 1);
        // A removed objective takes its key results with it.
        f.insert(FieldKey::new("2020-21/x", REMOVED), json!(true));
        assert!(unflatten(&fy(), &f).unwrap().objectives.is_empty());
    }

    #[test]
    fn bad_value_names_record_and_field() {
        let mut f = flatten(&sample());
        f.insert(FieldKey::new("2020-21/x/kr2", "number"), json!("two"));
        let err = unflatten(&fy(), &f).unwrap_err().to_string();
        assert!(
            err.contains("2020-21/x/kr2") && err.contains("number"),
            "{err}"
        );
        let mut f = flatten(&sample());
        f.insert(
            FieldKey::new("2020-21/x/kr2", "quarters.Q3.status"),
            json!("green"),
        );
        let err = unflatten(&fy(), &f).unwrap_err().to_string();
        assert!(
            err.contains("quarters.Q3.status") && err.contains("on-track"),
            "{err}"
        );
    }

    #[test]
    fn diff_marks_vanished_records_removed_and_restores() {
        let a = sample();
        let mut b = a.clone();
        b.objectives[0].key_results.remove(1);
        b.objectives[0].title = "Y".into();
        let (fa, fb) = (flatten(&a), flatten(&b));
        let changes = diff(&fa, &fb);
        assert_eq!(
            changes,
            vec![
                FieldChange {
                    key: FieldKey::new("2020-21/x", "title"),
                    old: Some(json!("X")),
                    new: Some(json!("Y")),
                },
                FieldChange {
                    key: FieldKey::new("2020-21/x/item1", REMOVED),
                    old: None,
                    new: Some(json!(true)),
                },
            ]
        );
        let mut applied = fa.clone();
        apply(&mut applied, &changes);
        assert_eq!(unflatten(&fy(), &applied).unwrap(), b);

        // Bringing the record back un-marks it.
        let back = diff(&applied, &fa);
        assert!(back.contains(&FieldChange {
            key: FieldKey::new("2020-21/x/item1", REMOVED),
            old: Some(json!(true)),
            new: None,
        }));
        apply(&mut applied, &back);
        assert_eq!(applied, fa);
        // Nothing to do twice.
        assert!(diff(&applied, &fa).is_empty());
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-zA-Z0-9 ]{1,12}",
            "\\PC{0,10}",
            Just("“Zoë” — 100%".to_string()),
        ]
    }

    fn status() -> impl Strategy<Value = Option<Status>> {
        proptest::option::of(proptest::sample::select(Status::ALL.to_vec()))
    }

    fn quarter() -> impl Strategy<Value = Quarter> {
        proptest::sample::select(Quarter::ALL.to_vec())
    }

    fn entry() -> impl Strategy<Value = QuarterEntry> {
        (
            proptest::option::of(text()),
            proptest::collection::vec(text(), 0..3),
            status(),
            proptest::option::of(text()),
            any::<bool>(),
        )
            .prop_map(|(objective, goals, status, note, marked)| QuarterEntry {
                objective,
                goals,
                status,
                note_wikitext: note
                    .as_ref()
                    .filter(|n| marked && !n.is_empty())
                    .map(|n| format!("'''{n}'''")),
                note,
            })
    }

    /// A key result without id (given by position when the objective is built).
    fn key_result() -> impl Strategy<Value = KeyResult> {
        (
            proptest::sample::select(vec![Kind::KeyResult, Kind::ObjectiveItem]),
            1u32..20,
            text(),
            proptest::collection::vec(text(), 0..3),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::collection::vec("T[0-9]{3,6}", 0..3),
            proptest::collection::btree_map(quarter(), entry(), 0..4),
        )
            .prop_map(
                |(kind, number, text, managers, baseline, year_goal, links, quarters)| KeyResult {
                    id: String::new(),
                    kind,
                    number,
                    text,
                    managers,
                    baseline,
                    year_goal,
                    links,
                    quarters,
                },
            )
    }

    fn objective() -> impl Strategy<Value = Objective> {
        (
            proptest::option::of(text()),
            text(),
            proptest::collection::vec(text(), 0..3),
            proptest::option::of(text()),
            proptest::collection::btree_map(quarter(), status(), 0..4),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::collection::vec(key_result(), 0..5),
        )
            .prop_map(
                |(
                    program,
                    title,
                    managers,
                    description,
                    status,
                    target_quarter,
                    department,
                    key_results,
                )| {
                    Objective {
                        id: String::new(),
                        program,
                        title,
                        managers,
                        description,
                        status,
                        target_quarter,
                        department,
                        key_results,
                    }
                },
            )
    }

    /// Random records with unique ids, as the parser assigns them.
    pub(crate) fn records() -> impl Strategy<Value = FiscalYearRecords> {
        (2015u16..2030, proptest::collection::vec(objective(), 0..5)).prop_map(
            |(start, mut objectives)| {
                let fy = FiscalYear::starting(start);
                for (i, o) in objectives.iter_mut().enumerate() {
                    // Ids deliberately out of page order, so order comes from `position`.
                    o.id = format!("{fy}/o{}", 9 - i);
                    for (j, kr) in o.key_results.iter_mut().enumerate() {
                        kr.id = format!("{}/{}{}", o.id, kr.kind.id_stem(), 9 - j);
                    }
                }
                FiscalYearRecords {
                    fiscal_year: fy,
                    objectives,
                }
            },
        )
    }

    proptest! {
        #[test]
        fn flatten_unflatten_is_identity(r in records()) {
            let f = flatten(&r);
            for (k, v) in &f {
                prop_assert_eq!(check_value(&k.field, v), Ok(()), "{}", k);
            }
            prop_assert_eq!(unflatten(&r.fiscal_year, &f).unwrap(), r);
        }

        #[test]
        fn diff_then_apply_gives_new(a in records(), b in records()) {
            // Same year, so ids overlap and the diff has real work to do.
            let b = retag(&b, &a.fiscal_year);
            let (fa, fb) = (flatten(&a), flatten(&b));
            let mut applied = fa.clone();
            apply(&mut applied, &diff(&fa, &fb));
            prop_assert_eq!(unflatten(&a.fiscal_year, &applied).unwrap(), b);
        }
    }

    /// `r` with its ids moved to fiscal year `fy`.
    pub(crate) fn retag(r: &FiscalYearRecords, fy: &FiscalYear) -> FiscalYearRecords {
        let old = r.fiscal_year.to_string();
        let new = fy.to_string();
        let mut r = r.clone();
        r.fiscal_year = fy.clone();
        for o in &mut r.objectives {
            o.id = o.id.replacen(&old, &new, 1);
            for kr in &mut o.key_results {
                kr.id = kr.id.replacen(&old, &new, 1);
            }
        }
        r
    }
}
