//! Tracker edits (`set`, `import`), changes people make in the store itself rather than on the wiki, and the store's read-outs (`export`, `conflicts`).
//!
//! Both are planned by plain functions from the store's current fields to a
//! list of [`FieldChange`]s, then applied in one store transaction with the
//! operator as author. A push or sync later writes them to the wiki.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Result;
use chrono::Utc;
use serde_json::Value;

use crate::cli::ExportFormat;
use crate::config::Config;
use crate::core::export;
use crate::core::fields::{self, FieldChange, FieldKey, Fields, REMOVED};
use crate::core::records::{Export, FiscalYear, Quarter, Status};
use crate::error::{ExitCode, UsageError};
use crate::ops::{command_line, open_store};
use crate::store::{record_fiscal_year, Provenance, Source, Store};

/// `goalsbot set`: one tracker edit of a KR's status data.
pub async fn set_command(
    config: &Config,
    req: SetRequest,
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    let fy = record_fiscal_year(&req.kr_id).map_err(|e| UsageError::new(format!("{e:#}")))?;
    let store = open_store(config).await?;
    let run = async {
        let current = store.load_fields(&fy).await?;
        let changes = set_changes(&req, &current)?;
        let report = commit(&store, changes, &command_line(), dry_run).await?;
        crate::ops::print_report(json, || report.render(), || report.to_json());
        Ok(ExitCode::Ok)
    };
    let out = asked_edit(&store, config, dry_run, run).await;
    store.close().await;
    out
}

/// `goalsbot import FILE`: the file's records as tracker edits (JSON, or CSV by extension or `--format`).
pub async fn import_command(
    config: &Config,
    file: &Path,
    format: Option<ExportFormat>,
    mode: crate::ops::Mode,
) -> Result<ExitCode> {
    let crate::ops::Mode { dry_run, json } = mode;
    let format = format.unwrap_or_else(|| {
        if file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            ExportFormat::Csv
        } else {
            ExportFormat::Json
        }
    });
    let text = std::fs::read_to_string(file)
        .map_err(|e| UsageError::new(format!("cannot read {}: {e}", file.display())))?;
    let parsed = match format {
        ExportFormat::Json => export::from_json(&text),
        ExportFormat::Csv => export::from_csv(&text),
    }
    .map_err(|e| UsageError::new(format!("{}: {e:#}; nothing was imported", file.display())))?;
    let store = open_store(config).await?;
    let run = async {
        let mut current = BTreeMap::new();
        for fy in &parsed.fiscal_years {
            let fields = store.load_fields(&fy.fiscal_year).await?;
            current.insert(fy.fiscal_year.clone(), fields);
        }
        let changes =
            import_changes(&parsed, &current, format == ExportFormat::Csv).map_err(|e| {
                UsageError::new(format!("{}: {e}; nothing was imported", file.display()))
            })?;
        let report = commit(&store, changes, &command_line(), dry_run).await?;
        crate::ops::print_report(json, || report.render(), || report.to_json());
        Ok(ExitCode::Ok)
    };
    let out = asked_edit(&store, config, dry_run, run).await;
    store.close().await;
    out
}

/// `goalsbot export`: the records (as of a time, when asked) as JSON or CSV on stdout.
pub async fn export_command(
    config: &Config,
    format: ExportFormat,
    fys: &[FiscalYear],
    as_of: Option<chrono::DateTime<Utc>>,
) -> Result<ExitCode> {
    let store = open_store(config).await?;
    let export = store.export(fys, as_of).await;
    store.close().await;
    let export = export?;
    let text = match format {
        ExportFormat::Json => export::to_json(&export),
        ExportFormat::Csv => export::to_csv(&export),
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a failure exit.
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::Ok),
    }
}

/// `goalsbot conflicts`: the conflicts waiting for a person (`--all`: resolved ones too).
pub async fn conflicts_command(config: &Config, all: bool, json: bool) -> Result<ExitCode> {
    let store = open_store(config).await?;
    let list = store.conflicts(all).await;
    store.close().await;
    let list = list?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::Ok);
    }
    if list.is_empty() {
        println!("no conflicts{}", if all { "" } else { " waiting" });
        return Ok(ExitCode::Ok);
    }
    for c in &list {
        let mut line = crate::ops::sync::describe_conflict(c);
        if let Some(r) = &c.resolution {
            line.push_str(&format!(
                " — resolved: {} by {} at {} (run {})",
                r.how,
                r.by,
                r.at.to_rfc3339(),
                r.run_id
            ));
        }
        println!("{line}");
    }
    if list.iter().any(|c| c.resolution.is_none()) {
        println!("settle one with: goalsbot resolve ID --take wiki|store");
    }
    Ok(ExitCode::Ok)
}

/// Who is making tracker edits: `$GOALSBOT_OPERATOR`, else the login name.
pub fn operator() -> String {
    operator_from(&crate::config::ProcessEnv)
}

/// Who makes a tracker edit: `GOALSBOT_OPERATOR`, else the login name of the
/// bot's credentials (`Name` of `Name@AppId`), else the OS user (`USER`,
/// `LOGNAME`, else the home directory's name, which on Toolforge is the
/// tool's). Never "unknown": history must say who changed a value.
pub fn operator_from(env: &dyn crate::config::Env) -> String {
    let given = |v: &str| env.var(v).filter(|s| !s.trim().is_empty());
    if let Some(op) = given("GOALSBOT_OPERATOR") {
        return op;
    }
    if let Some(user) = crate::config::credentials(env)
        .ok()
        .and_then(|c| c.username().map(str::to_string))
    {
        return user.split('@').next().unwrap_or(&user).to_string();
    }
    given("USER")
        .or_else(|| given("LOGNAME"))
        .or_else(|| {
            env.home()
                .and_then(|h| h.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "an operator with no user name (set GOALSBOT_OPERATOR)".into())
}

/// What `goalsbot set` was asked to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetRequest {
    /// A KR's (item's, metric's) id, or an objective's.
    pub kr_id: String,
    pub quarter: Option<Quarter>,
    /// `Some("none")` clears the status.
    pub status: Option<String>,
    /// An empty note clears it.
    pub note: Option<String>,
    pub year_goal: Option<String>,
    pub baseline: Option<String>,
    /// A KR's text.
    pub text: Option<String>,
    /// An objective's title.
    pub title: Option<String>,
    /// An objective's description ("" clears it).
    pub description: Option<String>,
    /// The managers, in order (`Some(vec![])`: none).
    pub managers: Option<Vec<String>>,
    /// A KR's objective for `quarter` ("" clears it).
    pub objective: Option<String>,
    /// A KR's goals for `quarter`, in order (`Some(vec![])`: none).
    pub goals: Option<Vec<String>>,
}

/// Texts in records are single lines of plain text: trim, collapse whitespace; empty means "clear".
fn text_value(s: &str) -> Option<Value> {
    let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(Value::String(t))
}

/// A list of texts: each collapsed, empty ones dropped.
fn list_value(items: &[String]) -> Value {
    Value::Array(items.iter().filter_map(|s| text_value(s)).collect())
}

/// A record `set` makes: whether it is an objective, and its fields.
type NewRecord = (bool, Vec<(String, Value)>);

/// The fields that make a record of a `set` whose id the store does not
/// hold (nor held: a removed record is not made again): an objective
/// `FY/slug` (with `--title`), or a key result `FY/slug/krN` of an objective
/// the tracker holds (with `--text`), placed after the others. `Some((is an
/// objective, fields))`; `None` when the id has neither form.
fn new_record(
    req: &SetRequest,
    store: &Fields,
    is_objective: &dyn Fn(&str) -> bool,
) -> Result<Option<NewRecord>, String> {
    static ID: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^([0-9]{4}-[0-9]{2})/([a-z0-9]+(?:-[a-z0-9]+)*)(?:/kr([1-9][0-9]{0,3}))?$",
        )
        .expect("valid pattern")
    });
    let id = req.kr_id.as_str();
    let Some(c) = ID.captures(id) else {
        return Ok(None);
    };
    if store.keys().any(|k| k.record == id) {
        return Ok(None);
    }
    let managers = || Value::Array(Vec::new());
    let Some(n) = c.get(3) else {
        if req.title.is_none() {
            return Err(
                "to make it a new objective, give its --title (and --description, --manager)"
                    .into(),
            );
        }
        let position = store
            .keys()
            .filter(|k| k.field == "title" && is_objective(&k.record))
            .count();
        return Ok(Some((
            true,
            vec![
                ("position".into(), Value::from(position)),
                ("managers".into(), managers()),
            ],
        )));
    };
    let parent = format!("{}/{}", &c[1], &c[2]);
    if !is_objective(&parent) {
        return Err(format!(
            "a new key result needs an objective the tracker holds: make {parent} first \
             (goalsbot set {parent} --title TEXT)"
        ));
    }
    if req.text.is_none() {
        return Err(
            "to make it a new key result, give its --text (and --manager, --year-goal, …)".into(),
        );
    }
    let number: u64 = n.as_str().parse().unwrap_or(1);
    let siblings = store
        .iter()
        .filter(|(k, v)| k.field == "parent" && v.as_str() == Some(parent.as_str()))
        .count();
    Ok(Some((
        false,
        vec![
            ("parent".into(), Value::String(parent)),
            ("position".into(), Value::from(siblings)),
            ("kind".into(), Value::String("key-result".into())),
            ("number".into(), Value::from(number)),
            ("managers".into(), managers()),
        ],
    )))
}

/// Plans the changes of a `set` against the store's fields of the record's fiscal year.
pub fn set_changes(req: &SetRequest, store: &Fields) -> Result<Vec<FieldChange>, UsageError> {
    let live = |id: &str| store.get(&FieldKey::new(id, REMOVED)) != Some(&Value::Bool(true));
    let is_kr = |id: &str| store.contains_key(&FieldKey::new(id, "parent")) && live(id);
    let is_objective = |id: &str| {
        store.contains_key(&FieldKey::new(id, "title"))
            && !store.contains_key(&FieldKey::new(id, "parent"))
            && live(id)
    };
    let id = req.kr_id.as_str();
    // A record the tracker does not hold yet: `set` creates it.
    let (created, hint) = if is_kr(id) || is_objective(id) {
        (None, None)
    } else {
        match new_record(req, store, &is_objective) {
            Ok(made) => (made, None),
            Err(hint) => (None, Some(hint)),
        }
    };
    let objective = is_objective(id) || created.as_ref().is_some_and(|(o, _)| *o);
    if !is_kr(id) && !objective && created.is_none() {
        return Err(unknown_id(store, id, hint, &|r| {
            is_kr(r) || is_objective(r)
        }));
    }
    check_flags(req, objective)?;
    let mut wanted = wanted_fields(req, objective)?;
    let mut out = Vec::new();
    for (field, v) in created.map(|(_, f)| f).unwrap_or_default() {
        if !wanted.iter().any(|(w, _)| *w == field) {
            wanted.push((field, Some(v)));
        }
    }
    for (field, new) in wanted {
        if let Some(v) = &new {
            fields::check_value(&field, v).map_err(|e| UsageError::new(format!("{field}: {e}")))?;
        }
        let key = FieldKey::new(id, field);
        let old = store.get(&key).cloned();
        // An empty goal list and no goals are the same to a page.
        let empty = |v: &Option<Value>| {
            v.is_none()
                || v.as_ref()
                    .is_some_and(|v| v.as_array().is_some_and(|a| a.is_empty()))
        };
        if old != new && !(key.field.ends_with(".goals") && empty(&old) && empty(&new)) {
            out.push(FieldChange { key, old, new });
        }
    }
    fields::follow_notes(store, &mut out);
    Ok(out)
}

/// The error for an id the store holds no record for, with the valid ids
/// (`known_record`: a live key result or objective) and `hint`.
fn unknown_id(
    store: &Fields,
    id: &str,
    hint: Option<String>,
    known_record: &dyn Fn(&str) -> bool,
) -> UsageError {
    let known: BTreeSet<&str> = store
        .keys()
        .map(|k| k.record.as_str())
        .filter(|r| known_record(r))
        .collect();
    let list = if known.is_empty() {
        "the store has no records for that fiscal year (run `goalsbot pull` first)".to_string()
    } else {
        format!(
            "valid ids: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    let hint = hint.map(|h| format!("; {h}")).unwrap_or_default();
    UsageError::new(format!("unknown id {id:?}; {list}{hint}"))
}

/// At least one flag is given, and each applies to the kind of record
/// (`objective`: an objective, else a key result).
fn check_flags(req: &SetRequest, objective: bool) -> Result<(), UsageError> {
    let id = req.kr_id.as_str();
    let given = [
        ("--status", req.status.is_some()),
        ("--note", req.note.is_some()),
        ("--year-goal", req.year_goal.is_some()),
        ("--baseline", req.baseline.is_some()),
        ("--text", req.text.is_some()),
        ("--title", req.title.is_some()),
        ("--description", req.description.is_some()),
        ("--manager", req.managers.is_some()),
        ("--objective", req.objective.is_some()),
        ("--goal", req.goals.is_some()),
    ];
    if !given.iter().any(|g| g.1) {
        return Err(UsageError::new(
            "nothing to set: give --text, --manager, --baseline, --year-goal, --objective, \
             --goal, --status or --note (a KR), or --title, --description, --manager or \
             --status (an objective)",
        ));
    }
    let (allowed, what): (&[&str], &str) = if objective {
        (
            &["--status", "--title", "--description", "--manager"],
            "an objective",
        )
    } else {
        (
            &[
                "--status",
                "--note",
                "--year-goal",
                "--baseline",
                "--text",
                "--manager",
                "--objective",
                "--goal",
            ],
            "a key result",
        )
    };
    if let Some((flag, _)) = given.iter().find(|(f, g)| *g && !allowed.contains(f)) {
        return Err(UsageError::new(format!(
            "{flag} does not apply to {what} ({id}); it takes {}",
            allowed.join(", ")
        )));
    }
    Ok(())
}

/// The fields a `set` asks for, with their new values (`None`: cleared).
fn wanted_fields(
    req: &SetRequest,
    objective: bool,
) -> Result<Vec<(String, Option<Value>)>, UsageError> {
    let quarter = |flag: &str| {
        req.quarter
            .ok_or_else(|| UsageError::new(format!("{flag} needs --quarter Q1|Q2|Q3|Q4")))
    };
    let mut wanted: Vec<(String, Option<Value>)> = Vec::new();
    if let Some(s) = &req.status {
        let q = quarter("--status")?;
        let v = if s.eq_ignore_ascii_case("none") {
            None
        } else {
            let st: Status = s
                .parse()
                .map_err(|e| UsageError::new(format!("--status: {e}, or none to clear it")))?;
            Some(Value::String(st.as_str().to_string()))
        };
        let field = if objective {
            format!("status.{q}")
        } else {
            format!("quarters.{q}.status")
        };
        wanted.push((field, v));
    }
    if let Some(n) = &req.note {
        wanted.push((
            format!("quarters.{}.note", quarter("--note")?),
            text_value(n),
        ));
    }
    if let Some(o) = &req.objective {
        let q = quarter("--objective")?;
        wanted.push((format!("quarters.{q}.objective"), text_value(o)));
    }
    if let Some(g) = &req.goals {
        let q = quarter("--goal")?;
        wanted.push((format!("quarters.{q}.goals"), Some(list_value(g))));
    }
    if let Some(y) = &req.year_goal {
        wanted.push(("year_goal".into(), text_value(y)));
    }
    if let Some(b) = &req.baseline {
        wanted.push(("baseline".into(), text_value(b)));
    }
    if let Some(t) = &req.text {
        let v = text_value(t).ok_or_else(|| UsageError::new("--text cannot be empty"))?;
        wanted.push(("text".into(), Some(v)));
    }
    if let Some(t) = &req.title {
        let v = text_value(t).ok_or_else(|| UsageError::new("--title cannot be empty"))?;
        wanted.push(("title".into(), Some(v)));
    }
    if let Some(d) = &req.description {
        wanted.push(("description".into(), text_value(d)));
    }
    if let Some(m) = &req.managers {
        wanted.push(("managers".into(), Some(list_value(m))));
    }
    Ok(wanted)
}

/// Which fields an import file speaks for: JSON carries them all, CSV only
/// its columns (it has no objective managers, description, overall status…:
/// its `managers` column is the key result's; nor positions: its row order
/// leaves out what it cannot hold, such as objectives without key results).
fn carried(key: &FieldKey, objectives: &BTreeSet<&str>, csv: bool) -> bool {
    if !csv {
        return true;
    }
    let field = key.field.as_str();
    if objectives.contains(key.record.as_str()) {
        return matches!(field, "program" | "title");
    }
    match field.strip_prefix("quarters.") {
        Some(rest) => rest.contains('.'),
        None => matches!(
            field,
            "program"
                | "title"
                | "parent"
                | "kind"
                | "number"
                | "text"
                | "managers"
                | "baseline"
                | "year_goal"
        ),
    }
}

/// Plans the changes of an `import`: every non-null value the file gives
/// (nulls mean "not known" and leave the store as it is), restoring removed
/// records the file names. Checks that the result still forms valid records.
pub fn import_changes(
    file: &Export,
    store: &BTreeMap<FiscalYear, Fields>,
    csv: bool,
) -> Result<Vec<FieldChange>, UsageError> {
    let mut out = Vec::new();
    for fy in &file.fiscal_years {
        for o in &fy.objectives {
            if let Some(k) = o
                .key_results
                .iter()
                .find(|k| !k.id.starts_with(&format!("{}/", o.id)))
            {
                return Err(UsageError::new(format!(
                    "key result {:?} is listed under objective {:?} but its id does not start with it",
                    k.id, o.id
                )));
            }
            for id in std::iter::once(&o.id).chain(o.key_results.iter().map(|k| &k.id)) {
                match record_fiscal_year(id) {
                    Ok(rfy) if rfy == fy.fiscal_year => {}
                    _ => {
                        return Err(UsageError::new(format!(
                            "record {id:?} is listed under fiscal year {} but its id does not start with it",
                            fy.fiscal_year
                        )))
                    }
                }
            }
        }
        let empty = Fields::new();
        let current = store.get(&fy.fiscal_year).unwrap_or(&empty);
        let objectives: BTreeSet<&str> = fy.objectives.iter().map(|o| o.id.as_str()).collect();
        // A record new to the store takes its position from the file (a CSV's
        // row order): it needs one. A record the store holds keeps its own.
        let known: BTreeSet<&str> = current.keys().map(|k| k.record.as_str()).collect();
        let new_position =
            |k: &FieldKey| k.field == "position" && !known.contains(k.record.as_str());
        let file_fields: Fields = fields::flatten(fy)
            .into_iter()
            .filter(|(k, v)| !v.is_null() && (carried(k, &objectives, csv) || new_position(k)))
            .collect();
        // An empty list is how a list the store does not hold exports: no
        // change where the record (or its quarter) is in the store. (An
        // empty text is not: `""` says "known to be empty".)
        let empty = |v: &Value| v.as_array().is_some_and(Vec::is_empty);
        // Where a field lives: its record, and its quarter when it has one.
        let container = |k: &FieldKey| -> (String, Option<String>) {
            let quarter = k
                .field
                .strip_prefix("quarters.")
                .and_then(|rest| rest.split('.').next())
                .map(str::to_string);
            (k.record.clone(), quarter)
        };
        let held_places: BTreeSet<(String, Option<String>)> = current
            .keys()
            .flat_map(|k| {
                let (record, quarter) = container(k);
                [(record.clone(), None), (record, quarter)]
            })
            .collect();
        let held = |k: &FieldKey| held_places.contains(&container(k));
        // A CSV joins a list's items with ` ; `: a list whose items read the
        // same once joined (an item holding ` ; `, an empty item) is what
        // the file says, not a change.
        let same_in_csv = |a: &Value, b: &Value| {
            let joined = |v: &Value| {
                v.as_array().map(|items| {
                    items
                        .iter()
                        .map(|i| i.as_str().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(crate::core::export::CSV_LIST_SEPARATOR)
                })
            };
            csv && joined(a).is_some() && joined(a) == joined(b)
        };
        let mut changes: Vec<FieldChange> = file_fields
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .filter(|(k, v)| current.contains_key(*k) || !empty(v) || !held(k))
            .filter(|(k, v)| !current.get(*k).is_some_and(|c| same_in_csv(c, v)))
            .map(|(k, v)| FieldChange {
                key: k.clone(),
                old: current.get(k).cloned(),
                new: Some(v.clone()),
            })
            .collect();
        let records: BTreeSet<&str> = file_fields.keys().map(|k| k.record.as_str()).collect();
        for r in records {
            let key = FieldKey::new(r, REMOVED);
            if current.get(&key) == Some(&Value::Bool(true)) {
                changes.push(FieldChange {
                    key,
                    old: Some(Value::Bool(true)),
                    new: None,
                });
            }
        }
        fields::follow_notes(current, &mut changes);
        let mut after = current.clone();
        fields::apply(&mut after, &changes);
        fields::unflatten(&fy.fiscal_year, &after).map_err(|e| {
            UsageError::new(format!(
                "importing fiscal year {} would leave invalid records: {e}",
                fy.fiscal_year
            ))
        })?;
        out.extend(changes);
    }
    Ok(out)
}

/// The outcome of a tracker edit, for printing.
#[derive(Debug, Clone)]
pub struct EditReport {
    pub run_id: String,
    pub operator: String,
    pub dry_run: bool,
    pub changes: Vec<FieldChange>,
}

impl EditReport {
    /// The `--json` object: the run, the operator, and each field's change.
    pub fn to_json(&self) -> serde_json::Value {
        let changes: Vec<serde_json::Value> = self
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "record": c.key.record,
                    "field": c.key.field,
                    "old": c.old,
                    "new": c.new,
                })
            })
            .collect();
        serde_json::json!({
            "run_id": self.run_id,
            "operator": self.operator,
            "dry_run": self.dry_run,
            "changes": changes,
        })
    }

    /// One line per change, then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            let _ = writeln!(out, "{}", crate::core::fields::describe_change(c));
        }
        let records: BTreeSet<&str> = self.changes.iter().map(|c| c.key.record.as_str()).collect();
        let _ = writeln!(
            out,
            "{} {} fields in {} records as a tracker edit by {} [run {}]",
            if self.dry_run {
                "would change"
            } else {
                "changed"
            },
            self.changes.len(),
            records.len(),
            self.operator,
            self.run_id
        );
        out
    }
}

/// Applies planned tracker changes in one transaction (or, dry, only reports them).
pub async fn commit(
    store: &Store,
    changes: Vec<FieldChange>,
    command: &str,
    dry_run: bool,
) -> Result<EditReport> {
    let now = Utc::now();
    let report = EditReport {
        run_id: crate::ops::runs::new_run_id(now),
        operator: operator(),
        dry_run,
        changes,
    };
    if !dry_run && !report.changes.is_empty() {
        let provenance = Provenance {
            at: now,
            run_id: report.run_id.clone(),
            source: Source::Tracker {
                operator: report.operator.clone(),
                command: command.to_string(),
            },
        };
        store.apply(&provenance, &report.changes).await?;
    }
    Ok(report)
}

/// Runs a tracker edit someone asked for under the writer's lease, as a run
/// of its own: meeting another run is exit code 4, not success.
async fn asked_edit<Fut>(
    store: &Store,
    config: &Config,
    dry_run: bool,
    run: Fut,
) -> Result<ExitCode>
where
    Fut: std::future::Future<Output = Result<ExitCode>>,
{
    let run_id = crate::ops::runs::new_run_id(Utc::now());
    crate::ops::writing(
        store,
        config,
        &run_id,
        dry_run,
        crate::ops::WhenBusy::Asked,
        run,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> Fields {
        let mut f = Fields::new();
        f.insert(FieldKey::new("2020-21/a", "title"), json!("A"));
        f.insert(FieldKey::new("2020-21/a", "position"), json!(0));
        for (k, v) in [
            ("parent", json!("2020-21/a")),
            ("position", json!(0)),
            ("kind", json!("key-result")),
            ("number", json!(1)),
            ("text", json!("one")),
        ] {
            f.insert(FieldKey::new("2020-21/a/kr1", k), v);
        }
        f.insert(
            FieldKey::new("2020-21/a/kr1", "quarters.Q2.status"),
            json!("on-track"),
        );
        f
    }

    fn req(status: &str) -> SetRequest {
        SetRequest {
            kr_id: "2020-21/a/kr1".into(),
            quarter: Some(Quarter::Q2),
            status: Some(status.into()),
            ..SetRequest::default()
        }
    }

    #[test]
    fn set_status_is_compare_and_set_against_the_store() {
        let c = set_changes(&req("at-risk"), &store()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].old, Some(json!("on-track")));
        assert_eq!(c[0].new, Some(json!("at-risk")));
        assert!(
            set_changes(&req("on-track"), &store()).unwrap().is_empty(),
            "no change, no edit"
        );
        assert_eq!(set_changes(&req("none"), &store()).unwrap()[0].new, None);
    }

    #[test]
    fn set_refuses_unknown_ids_and_statuses_with_the_valid_choices() {
        let mut r = req("at-risk");
        r.kr_id = "2020-21/a/item9".into();
        let e = set_changes(&r, &store()).unwrap_err().to_string();
        assert!(
            e.contains("unknown id") && e.contains("2020-21/a/kr1"),
            "{e}"
        );
        // A new KR's id: made only with its words.
        r.kr_id = "2020-21/a/kr9".into();
        let e = set_changes(&r, &store()).unwrap_err().to_string();
        assert!(
            e.contains("unknown id")
                && e.contains("2020-21/a/kr1")
                && e.contains("to make it a new key result, give its --text"),
            "{e}"
        );
        let e = set_changes(&req("green"), &store())
            .unwrap_err()
            .to_string();
        assert!(e.contains("on-track") && e.contains("not-scheduled"), "{e}");
        let mut r = req("at-risk");
        r.quarter = None;
        assert!(set_changes(&r, &store())
            .unwrap_err()
            .to_string()
            .contains("--quarter"));
    }

    #[test]
    fn set_creates_a_new_objective_and_then_its_key_results() {
        let apply = |store: &mut Fields, changes: Vec<FieldChange>| {
            for c in changes {
                match c.new {
                    Some(v) => store.insert(c.key, v),
                    None => store.remove(&c.key),
                };
            }
        };
        let mut s = store();
        // A KR of an objective the tracker does not hold is refused, naming the fix.
        let kr = SetRequest {
            kr_id: "2020-21/new-goal/kr1".into(),
            text: Some("Ship  the\nthing".into()),
            managers: Some(vec!["Kim".into()]),
            ..SetRequest::default()
        };
        let e = set_changes(&kr, &s).unwrap_err().to_string();
        assert!(
            e.contains("make 2020-21/new-goal first (goalsbot set 2020-21/new-goal --title TEXT)"),
            "{e}"
        );
        let e = set_changes(
            &SetRequest {
                kr_id: "2020-21/new-goal".into(),
                managers: Some(vec!["Ann".into()]),
                ..SetRequest::default()
            },
            &s,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("to make it a new objective, give its --title"),
            "{e}"
        );
        let objective = SetRequest {
            kr_id: "2020-21/new-goal".into(),
            title: Some("New goal".into()),
            managers: Some(vec!["Ann".into()]),
            ..SetRequest::default()
        };
        let made = set_changes(&objective, &s).unwrap();
        assert!(made.iter().all(|c| c.old.is_none()), "{made:?}");
        apply(&mut s, made);
        let kr_made = set_changes(&kr, &s).unwrap();
        apply(&mut s, kr_made);
        let fy: FiscalYear = "2020-21".parse().unwrap();
        let records = fields::unflatten(&fy, &s).unwrap();
        let o = records.objectives.last().unwrap();
        assert_eq!(
            (o.id.as_str(), o.title.as_str()),
            ("2020-21/new-goal", "New goal")
        );
        assert_eq!(o.managers, vec!["Ann".to_string()]);
        assert_eq!(o.key_results.len(), 1);
        let k = &o.key_results[0];
        assert_eq!(
            (k.id.as_str(), k.number, k.text.as_str()),
            ("2020-21/new-goal/kr1", 1, "Ship the thing")
        );
        assert_eq!(k.managers, vec!["Kim".to_string()]);
        // Made once: the same set again is an ordinary edit with nothing to change.
        assert_eq!(set_changes(&kr, &s).unwrap(), Vec::new());
    }

    #[test]
    fn set_texts_are_single_lines_and_empty_clears() {
        let r = SetRequest {
            kr_id: "2020-21/a/kr1".into(),
            note: Some("  25%\n filled ".into()),
            quarter: Some(Quarter::Q3),
            baseline: Some(String::new()),
            ..SetRequest::default()
        };
        let c = set_changes(&r, &store()).unwrap();
        assert_eq!(
            c.len(),
            1,
            "clearing an absent baseline is no change: {c:?}"
        );
        assert_eq!(c[0].new, Some(json!("25% filled")));
    }

    /// A note's wikitext belongs to its words: a tracker edit of the words
    /// clears it, a status-only edit keeps it.
    #[test]
    fn a_new_note_clears_the_old_notes_wikitext() {
        let mut f = store();
        let key = |field: &str| FieldKey::new("2020-21/a/kr1", field);
        f.insert(key("quarters.Q2.note"), json!("the outage"));
        f.insert(
            key("quarters.Q2.note_wikitext"),
            json!("[https://x.org the outage]"),
        );
        assert_eq!(set_changes(&req("at-risk"), &f).unwrap().len(), 1);
        let r = SetRequest {
            note: Some("storage back".into()),
            ..req("on-track")
        };
        let c = set_changes(&r, &f).unwrap();
        let got: Vec<(&str, Option<&Value>)> = c
            .iter()
            .map(|c| (c.key.field.as_str(), c.new.as_ref()))
            .collect();
        assert_eq!(
            got,
            [
                ("quarters.Q2.note", Some(&json!("storage back"))),
                ("quarters.Q2.note_wikitext", None)
            ]
        );
    }

    #[test]
    fn import_into_an_empty_store_recreates_the_file() {
        let text = include_str!("../../tests/fixtures/import/fy2020-21-deck.json");
        let file = crate::core::export::from_json(text).unwrap();
        let changes = import_changes(&file, &BTreeMap::new(), false).unwrap();
        let mut f = Fields::new();
        fields::apply(&mut f, &changes);
        let fy = &file.fiscal_years[0];
        assert_eq!(&fields::unflatten(&fy.fiscal_year, &f).unwrap(), fy);
        // Importing the same file again changes nothing.
        let mut again = BTreeMap::new();
        again.insert(fy.fiscal_year.clone(), f);
        assert!(import_changes(&file, &again, false).unwrap().is_empty());
    }

    struct Vars(Vec<(&'static str, &'static str)>, Option<&'static str>);

    impl crate::config::Env for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
        fn home(&self) -> Option<std::path::PathBuf> {
            self.1.map(std::path::PathBuf::from)
        }
    }

    #[test]
    fn the_operator_is_named_never_unknown() {
        let op =
            |vars: &[(&'static str, &'static str)], home| operator_from(&Vars(vars.to_vec(), home));
        let login = [
            ("GOALSBOT_USERNAME", "GoalsBot@goalsbot"),
            ("GOALSBOT_PASSWORD", "x"),
        ];
        assert_eq!(
            op(&[("GOALSBOT_OPERATOR", "Ann"), login[0], login[1]], None),
            "Ann"
        );
        assert_eq!(
            op(&[login[0], login[1], ("USER", "tools.goalsbot")], None),
            "GoalsBot"
        );
        assert_eq!(op(&[("USER", "ann")], None), "ann");
        assert_eq!(op(&[("LOGNAME", "bob")], None), "bob");
        assert_eq!(op(&[], Some("/data/project/goalsbot")), "goalsbot");
        assert!(!op(&[], None).contains("unknown"));
    }

    #[test]
    fn every_fixtures_export_imports_back_with_no_change() {
        // The spreadsheet workflow: what the store exports, in either
        // format, imported back unchanged, changes nothing.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages");
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let golden =
                crate::core::export::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let mut store = BTreeMap::new();
            let mut years = Vec::new();
            for fy in &golden.fiscal_years {
                let f = fields::flatten(fy);
                years.push(fields::unflatten(&fy.fiscal_year, &f).unwrap());
                store.insert(fy.fiscal_year.clone(), f);
            }
            let export = crate::core::records::Export::new(years);
            let json =
                crate::core::export::from_json(&crate::core::export::to_json(&export)).unwrap();
            let csv = crate::core::export::from_csv(&crate::core::export::to_csv(&export)).unwrap();
            // A store that never held the empty lists (a pull stores no
            // field a page does not state) exports them as `[]` all the same.
            let sparse: BTreeMap<_, Fields> = store
                .iter()
                .map(|(fy, f)| {
                    let kept = f
                        .iter()
                        .filter(|(_, v)| v.as_array().is_none_or(|a| !a.is_empty()));
                    (
                        fy.clone(),
                        kept.map(|(k, v)| (k.clone(), v.clone())).collect(),
                    )
                })
                .collect();
            for store in [&store, &sparse] {
                for (name, file, is_csv) in [("json", &json, false), ("csv", &csv, true)] {
                    let changes = import_changes(file, store, is_csv).unwrap();
                    assert!(
                        changes.is_empty(),
                        "{}, {name}: {changes:#?}",
                        path.display()
                    );
                }
            }
            files += 1;
        }
        assert!(files >= 10, "{files} fixtures");
    }

    proptest::proptest! {
        /// Generated stores, whole and without their empty lists (as a pull
        /// stores them): the export in either format imports back to no
        /// change.
        #[test]
        fn a_generated_stores_export_imports_back_with_no_change(
            r in crate::core::fields::tests::records()
        ) {
            let full = fields::flatten(&r);
            let sparse: Fields = full
                .iter()
                .filter(|(_, v)| v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for f in [full, sparse] {
                let export = crate::core::records::Export::new(vec![
                    fields::unflatten(&r.fiscal_year, &f).unwrap(),
                ]);
                let store = BTreeMap::from([(r.fiscal_year.clone(), f)]);
                let json = crate::core::export::from_json(&crate::core::export::to_json(&export)).unwrap();
                let csv = crate::core::export::from_csv(&crate::core::export::to_csv(&export)).unwrap();
                proptest::prop_assert_eq!(import_changes(&json, &store, false).unwrap(), vec![]);
                proptest::prop_assert_eq!(import_changes(&csv, &store, true).unwrap(), vec![]);
            }
        }
    }

    #[test]
    fn import_with_a_kr_of_a_missing_objective_is_refused() {
        let text = include_str!("../../tests/fixtures/import/fy2020-21-deck.json");
        let mut file = crate::core::export::from_json(text).unwrap();
        let o = &mut file.fiscal_years[0].objectives[0];
        o.key_results[0].id = "2020-21/elsewhere/kr1".into();
        let e = import_changes(&file, &BTreeMap::new(), false);
        assert!(
            e.is_err(),
            "a KR id under another objective must not import silently"
        );
    }
}
