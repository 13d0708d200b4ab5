//! The store's story on both backends, a real SQLite file and a real MariaDB
//! database: migrations, apply/load, history, as-of, removal, atomicity,
//! compare-and-set between two writers.
//!
//! Each story is an `async fn(Db)`; [`on_both_backends!`] makes two tests of
//! it, `store::sqlite::NAME` and `store::mariadb::NAME`. Without MariaDB
//! installed the MariaDB ones return early with a note, unless
//! `GOALSBOT_REQUIRE_MARIADB` is set (CI): then they fail.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use goalsbot::core::fields::{self, FieldChange, FieldKey, REMOVED};
use goalsbot::core::records::{
    FiscalYear, FiscalYearRecords, KeyResult, Kind, Objective, Quarter, QuarterEntry, Status,
};
use goalsbot::store::{
    Decided, EditEntry, NewConflict, PageCheck, PageMerge, Provenance, RequestEntry, RunEntry,
    Source, Store, StoreError, Take,
};
use serde_json::json;

use crate::support::mariadb::test_mariadb;

/// Where one test's store lives: a fresh SQLite file or a fresh MariaDB database.
enum Db {
    Sqlite(tempfile::TempDir),
    Mariadb(String),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A fresh database on the test MariaDB; `None` (the test skips) when MariaDB is not installed.
    fn mariadb(test: &str) -> Option<Db> {
        let Some(server) = test_mariadb() else {
            eprintln!("skipped {test} on MariaDB: MariaDB is not installed");
            return None;
        };
        Some(Db::Mariadb(server.fresh_database(test)))
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(dir) => format!("sqlite://{}", dir.path().join("goals.sqlite").display()),
            Db::Mariadb(url) => url.clone(),
        }
    }

    async fn open(&self) -> Store {
        Store::open(&self.url()).await.unwrap()
    }

    /// Runs SQL on a connection of its own, as another client would; the error as text.
    async fn raw(&self, sql: &str) -> Result<(), String> {
        use sqlx::{Connection, Executor};
        let url = self.url();
        let result = match self {
            Db::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                let r = conn.execute(sql).await.map(drop);
                conn.close().await.unwrap();
                r
            }
            Db::Mariadb(_) => {
                let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
                let r = conn.execute(sql).await.map(drop);
                conn.close().await.unwrap();
                r
            }
        };
        result.map_err(|e| e.to_string())
    }
}

/// One test per backend for each story: `sqlite::NAME` and `mariadb::NAME`.
macro_rules! on_both_backends {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $story() {
                    super::$story(super::Db::sqlite()).await;
                }
            )+
        }
        mod mariadb {
            $(
                #[tokio::test]
                async fn $story() {
                    let Some(db) = super::Db::mariadb(stringify!($story)) else {
                        return;
                    };
                    super::$story(db).await;
                }
            )+
        }
    };
}

on_both_backends!(
    open_migrates_and_reopens,
    apply_and_load_round_trip,
    history_has_provenance_for_each_change,
    the_last_change_of_a_field_before_a_time_names_who_made_it,
    as_of_shows_old_values,
    removal_marks_removed_and_a_later_apply_restores,
    removing_an_unknown_record_is_refused,
    a_write_of_many_changes_keeps_their_order_and_checks_each,
    a_failing_transaction_leaves_nothing_applied,
    page_state_is_kept_with_the_pull,
    reopening_keeps_everything,
    a_newer_schema_is_refused,
    history_is_append_only,
    text_is_kept_exactly,
    concurrent_writers_with_the_same_old_value_one_wins,
    conflicts_are_held_settled_and_resolved_with_the_page_state,
    push_checks_edits_runs_and_requests_are_remembered,
    a_request_keeps_its_unsaved_reply_and_a_page_the_request_lines_it_held,
    the_sync_inputs_digest_moves_with_every_input_and_the_marker_is_kept,
    the_watchers_position_and_the_tracker_edits_after_it,
);

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn fy() -> FiscalYear {
    FiscalYear::starting(2020)
}

fn wiki(at: &str, revid: u64) -> Provenance {
    Provenance {
        at: t(at),
        run_id: format!("{at}-wiki"),
        source: Source::Wiki {
            page: "Wikimedia Technology/Goals/2020-21 Q3".into(),
            revid,
            user: Some("Zoë Ünal".into()),
            timestamp: t(at) - Duration::minutes(5),
        },
    }
}

fn tracker(at: &str) -> Provenance {
    Provenance {
        at: t(at),
        run_id: format!("{at}-tracker"),
        source: Source::Tracker {
            operator: "Jürgen".into(),
            command: "goalsbot set 2020-21/evolutionary-architecture/kr1 --quarter Q3".into(),
        },
    }
}

fn kr(id: &str, kind: Kind, number: u32, text: &str) -> KeyResult {
    KeyResult {
        id: id.into(),
        kind,
        number,
        text: text.into(),
        managers: vec![],
        baseline: None,
        year_goal: None,
        links: vec![],
        quarters: BTreeMap::new(),
    }
}

/// Two objectives as a quarter page shows them, with the odd corners filled in.
fn records() -> FiscalYearRecords {
    let ea = "2020-21/evolutionary-architecture";
    let mut kr1 = kr(
        &format!("{ea}/kr1"),
        Kind::KeyResult,
        1,
        "Reached level 3 of the Architecture Maturity Model (AMM) for at least 85% of capabilities by Q4",
    );
    kr1.managers = vec!["Kate Chapman".into()];
    kr1.baseline = Some("4 capabilities at Level 1 (50%), 4 capabilities at Level 2 (50%)".into());
    kr1.year_goal = Some("move 85% of capabilities to Level 3".into());
    kr1.links = vec!["T123456".into()];
    kr1.quarters.insert(
        Quarter::Q2,
        QuarterEntry {
            objective: Some(String::new()),
            goals: vec![],
            status: None,
            note: None,
            note_wikitext: None,
        },
    );
    kr1.quarters.insert(
        Quarter::Q3,
        QuarterEntry {
            objective: None,
            goals: vec![
                "Assess “all” capabilities".into(),
                "Publish — report".into(),
            ],
            status: Some(Status::OnTrack),
            note: Some("100% at Level 2 12.5 % at Level 3 12.5 % at Level 4".into()),
            note_wikitext: None,
        },
    );
    let mut kr2 = kr(
        &format!("{ea}/kr2"),
        Kind::KeyResult,
        2,
        "Document the system’s seams",
    );
    kr2.managers = vec!["Gergő Tisza".into(), "Nuria Ruiz".into()];
    kr2.quarters.insert(
        Quarter::Q3,
        QuarterEntry {
            objective: Some("Draft the map".into()),
            goals: vec!["Map".into()],
            status: Some(Status::AtRisk),
            note: Some("Blocked on hiring".into()),
            note_wikitext: Some("Blocked on [[Hiring|hiring]]".into()),
        },
    );
    let item = kr(
        &format!("{ea}/item1"),
        Kind::ObjectiveItem,
        1,
        "Objective: keep the lights on",
    );
    let fld = "2020-21/front-line-defenses";
    let mut fkr = kr(
        &format!("{fld}/kr1"),
        Kind::KeyResult,
        1,
        "Reduce incidents by 20%",
    );
    fkr.quarters.insert(
        Quarter::Q1,
        QuarterEntry {
            objective: None,
            goals: vec![],
            status: Some(Status::Complete),
            note: None,
            note_wikitext: None,
        },
    );
    FiscalYearRecords {
        fiscal_year: fy(),
        objectives: vec![
            Objective {
                id: ea.into(),
                program: Some("MTP-Y2: Platform Evolution".into()),
                title: "Evolutionary architecture".into(),
                managers: vec!["Corey Floyd".into()],
                description: Some("Software platforms with integrated machine learning, …".into()),
                status: [(Quarter::Q2, Some(Status::Concerns)), (Quarter::Q3, None)].into(),
                target_quarter: Some("Q4".into()),
                department: Some("Technology".into()),
                key_results: vec![kr1, item, kr2],
            },
            Objective {
                id: fld.into(),
                program: None,
                title: "Front-line défenses".into(),
                managers: vec![],
                description: None,
                status: BTreeMap::new(),
                target_quarter: None,
                department: None,
                key_results: vec![fkr],
            },
        ],
    }
}

/// A store in a fresh database, holding `records()` as of 2021-01-10.
async fn seeded(db: &Db) -> Store {
    let store = db.open().await;
    let changes = fields::diff(&Default::default(), &fields::flatten(&records()));
    let n = store
        .apply(&wiki("2021-01-10T12:00:00Z", 100), &changes)
        .await
        .unwrap();
    assert_eq!(n, changes.len());
    store
}

fn change(
    record: &str,
    field: &str,
    old: serde_json::Value,
    new: serde_json::Value,
) -> FieldChange {
    FieldChange {
        key: FieldKey::new(record, field),
        old: Some(old),
        new: Some(new),
    }
}

/// The schema version of this goalsbot (its newest migration).
const SCHEMA: i64 = 12;

const KR1: &str = "2020-21/evolutionary-architecture/kr1";

async fn open_migrates_and_reopens(db: Db) {
    let store = db.open().await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA);
    assert!(store.fiscal_years().await.unwrap().is_empty());
    assert!(store.load(&fy()).await.unwrap().objectives.is_empty());
    store.close().await;
    // Opening again finds nothing to migrate.
    let store = db.open().await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA);
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let db = Db::sqlite();
    let Db::Sqlite(dir) = &db else { unreachable!() };
    let file = dir.path().join("goals.sqlite");
    assert!(!file.exists());
    db.open().await.close().await;
    assert!(file.exists());
    // WAL is a property of the file, so a separate connection sees it.
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
}

/// Schema 5 moves the watcher's memory out of `watch_state` (schema 4 kept
/// it there under `PAGE#seen`): a store written by schema 4 keeps it.
#[tokio::test]
async fn a_schema_4_watch_memory_moves_to_its_own_table() {
    let db = Db::sqlite();
    db.open().await.close().await;
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
    // The store as schema 4 left it: no schema 5 tables, the memory under `PAGE#seen`.
    for stmt in [
        "DROP TABLE run_lease",
        "DROP TABLE watch_seen",
        "DELETE FROM _sqlx_migrations WHERE version = 5",
        "INSERT INTO watch_state (page_title, revision_id, content) VALUES ('Goals/Bot requests', 7, 'text')",
        "INSERT INTO watch_state (page_title, revision_id, content) VALUES ('Goals/Bot requests#seen', 0, '[\"ü\"]')",
    ] {
        sqlx::query(stmt).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let store = db.open().await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA);
    assert_eq!(
        store
            .watch_seen("Goals/Bot requests")
            .await
            .unwrap()
            .as_deref(),
        Some("[\"ü\"]")
    );
    assert_eq!(
        store.watch_state("Goals/Bot requests").await.unwrap(),
        Some((7, "text".to_string()))
    );
    assert_eq!(
        store.watch_state("Goals/Bot requests#seen").await.unwrap(),
        None
    );
    store.close().await;
}

#[tokio::test]
async fn mariadb_tables_are_innodb_utf8mb4() {
    let Some(db) = Db::mariadb("mariadb_tables_are_innodb_utf8mb4") else {
        return;
    };
    db.open().await.close().await;
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(&db.url()).await.unwrap();
    let tables: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(engine AS CHAR), CAST(table_collation AS CHAR) \
         FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND table_name <> '_sqlx_migrations' ORDER BY table_name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "conflicts",
            "edits",
            "fields",
            "history",
            "pages",
            "page_checks",
            "push_intents",
            "records",
            "requests",
            "runs",
            "run_lease",
            "saved_texts",
            "sync_marker",
            "table_checks",
            "watch_feed",
            "watch_seen",
            "watch_state",
            "write_lock",
            "year_checks"
        ],
        "{tables:?}"
    );
    for (table, engine, collation) in &tables {
        assert_eq!(engine, "InnoDB", "{table}");
        assert!(collation.starts_with("utf8mb4_"), "{table}: {collation}");
    }
    // Keys compare byte for byte, whatever the server's default collation.
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT CONCAT(table_name, '.', column_name), CAST(collation_name AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE() \
         AND column_key = 'PRI' AND collation_name IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // records, fields (2), pages, page_checks, push_intents, runs, requests, watch_state,
    // watch_seen, year_checks, saved_texts, table_checks.
    assert_eq!(keys.len(), 13, "{keys:?}");
    assert!(
        keys.iter().all(|(_, c)| c == "utf8mb4_nopad_bin"),
        "{keys:?}"
    );
    conn.close().await.unwrap();
}

async fn apply_and_load_round_trip(db: Db) {
    let store = seeded(&db).await;
    assert_eq!(store.load(&fy()).await.unwrap(), records());
    assert_eq!(store.fiscal_years().await.unwrap(), vec![fy()]);
    let export = store.export(&[], None).await.unwrap();
    assert_eq!(export.fiscal_years, vec![records()]);
    // Applying the same state again changes nothing.
    let fields = store.load_fields(&fy()).await.unwrap();
    assert!(fields::diff(&fields, &fields::flatten(&records())).is_empty());
}

#[tokio::test]
async fn sqlite_in_memory_store_works() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let changes = fields::diff(&Default::default(), &fields::flatten(&records()));
    store
        .apply(&tracker("2021-01-10T12:00:00Z"), &changes)
        .await
        .unwrap();
    assert_eq!(store.load(&fy()).await.unwrap(), records());
}

async fn history_has_provenance_for_each_change(db: Db) {
    let store = seeded(&db).await;
    let status = "quarters.Q3.status";
    store
        .apply(
            &tracker("2021-01-12T09:30:00Z"),
            &[change(KR1, status, json!("on-track"), json!("concerns"))],
        )
        .await
        .unwrap();

    let history = store.history(KR1).await.unwrap();
    let created = fields::flatten(&records())
        .keys()
        .filter(|k| k.record == KR1)
        .count();
    assert_eq!(history.len(), created + 1);
    for h in &history[..created] {
        assert_eq!(h.key.record, KR1);
        assert_eq!(h.old, None);
        assert_eq!(h.provenance, wiki("2021-01-10T12:00:00Z", 100), "{}", h.key);
    }
    let last = history.last().unwrap();
    assert_eq!(last.key, FieldKey::new(KR1, status));
    assert_eq!(
        (last.old.clone(), last.new.clone()),
        (Some(json!("on-track")), Some(json!("concerns")))
    );
    assert_eq!(last.provenance, tracker("2021-01-12T09:30:00Z"));
    assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
}

/// Who made a field's value at a time (the store's side of a conflict on
/// the status page): the last history row at or before it.
async fn the_last_change_of_a_field_before_a_time_names_who_made_it(db: Db) {
    let store = seeded(&db).await;
    let status = "quarters.Q3.status";
    let key = FieldKey::new(KR1, status);
    store
        .apply(
            &tracker("2021-01-12T09:30:00Z"),
            &[change(KR1, status, json!("on-track"), json!("concerns"))],
        )
        .await
        .unwrap();
    store
        .apply(
            &wiki("2021-01-14T08:00:00Z", 130),
            &[change(KR1, status, json!("concerns"), json!("at-risk"))],
        )
        .await
        .unwrap();
    let at = |s: &str| {
        let store = store.clone();
        let key = key.clone();
        let s = s.to_string();
        async move { store.last_change(&key, t(&s)).await.unwrap() }
    };
    assert_eq!(at("2021-01-01T00:00:00Z").await, None, "before the seed");
    let seed = at("2021-01-11T00:00:00Z").await.unwrap();
    assert_eq!(seed.provenance, wiki("2021-01-10T12:00:00Z", 100));
    let set = at("2021-01-12T09:30:00Z").await.unwrap();
    assert_eq!(
        set.provenance,
        tracker("2021-01-12T09:30:00Z"),
        "at the moment itself"
    );
    assert_eq!(set.new, Some(json!("concerns")));
    let later = at("2021-02-01T00:00:00Z").await.unwrap();
    assert_eq!(later.provenance, wiki("2021-01-14T08:00:00Z", 130));
    // Another field's change is not this field's.
    assert_eq!(
        store
            .last_change(
                &FieldKey::new(KR1, "quarters.Q9.status"),
                t("2021-02-01T00:00:00Z")
            )
            .await
            .unwrap(),
        None
    );
}

async fn as_of_shows_old_values(db: Db) {
    let store = seeded(&db).await;
    let ea = "2020-21/evolutionary-architecture";
    store
        .apply(
            &wiki("2021-02-01T00:00:00Z", 120),
            &[change(
                ea,
                "title",
                json!("Evolutionary architecture"),
                json!("Architecture évolutive"),
            )],
        )
        .await
        .unwrap();

    let now = store.load(&fy()).await.unwrap();
    assert_eq!(now.objectives[0].title, "Architecture évolutive");
    // Up to and including the moment of the first change, the old title.
    let before = store
        .load_as_of(&fy(), t("2021-01-31T23:59:59Z"))
        .await
        .unwrap();
    assert_eq!(before, records());
    let at_seed = store
        .load_as_of(&fy(), t("2021-01-10T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(at_seed, records());
    let at_change = store
        .load_as_of(&fy(), t("2021-02-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(at_change, now);
    // Before anything was known, nothing.
    let empty = store
        .load_as_of(&fy(), t("2021-01-01T00:00:00Z"))
        .await
        .unwrap();
    assert!(empty.objectives.is_empty());
    let export = store
        .export(&[fy()], Some(t("2021-01-15T00:00:00Z")))
        .await
        .unwrap();
    assert_eq!(export.fiscal_years, vec![records()]);
}

async fn removal_marks_removed_and_a_later_apply_restores(db: Db) {
    let store = seeded(&db).await;
    let kr2 = "2020-21/evolutionary-architecture/kr2";
    let mut without = records();
    without.objectives[0].key_results.retain(|k| k.id != kr2);

    let current = store.load_fields(&fy()).await.unwrap();
    let removal = fields::diff(&current, &fields::flatten(&without));
    assert_eq!(removal.len(), 1, "{removal:?}");
    store
        .apply(&wiki("2021-02-01T00:00:00Z", 130), &removal)
        .await
        .unwrap();
    assert_eq!(store.load(&fy()).await.unwrap(), without);
    // Removed, not deleted: the values are still there, marked.
    let kept = store.load_fields(&fy()).await.unwrap();
    assert_eq!(kept.get(&FieldKey::new(kr2, REMOVED)), Some(&json!(true)));
    assert_eq!(
        kept.get(&FieldKey::new(kr2, "text")),
        Some(&json!("Document the system’s seams"))
    );
    // Read with other years at once (push plans every year so): the same
    // fields, the removal mark among them; a year with no records is empty.
    let other = FiscalYear::starting(2019);
    let both = store.load_fields_of(&[other.clone(), fy()]).await.unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(both[&fy()], kept);
    assert!(both[&other].is_empty());
    // More years than one query asks for: asked in parts, none lost.
    let many: Vec<FiscalYear> = (1900..2150).map(FiscalYear::starting).collect();
    let all = store.load_fields_of(&many).await.unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(all[&fy()], kept);
    assert_eq!(all.values().filter(|f| !f.is_empty()).count(), 1);

    let restore = fields::diff(&kept, &fields::flatten(&records()));
    assert_eq!(
        restore,
        vec![FieldChange {
            key: FieldKey::new(kr2, REMOVED),
            old: Some(json!(true)),
            new: None,
        }]
    );
    store
        .apply(&tracker("2021-02-02T00:00:00Z"), &restore)
        .await
        .unwrap();
    assert_eq!(store.load(&fy()).await.unwrap(), records());
    // History tells the whole story, and as-of sees the gap.
    let h = store.history(kr2).await.unwrap();
    let marks: Vec<_> = h
        .iter()
        .filter(|e| e.key.field == REMOVED)
        .map(|e| e.new.clone())
        .collect();
    assert_eq!(marks, vec![Some(json!(true)), None]);
    let gap = store
        .load_as_of(&fy(), t("2021-02-01T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(gap, without);
}

async fn removing_an_unknown_record_is_refused(db: Db) {
    let store = seeded(&db).await;
    let err = store
        .apply(
            &tracker("2021-02-01T00:00:00Z"),
            &[FieldChange {
                key: FieldKey::new("2020-21/nope", REMOVED),
                old: None,
                new: Some(json!(true)),
            }],
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("2020-21/nope"), "{err:#}");
}

/// More changes than one multi-row statement takes, a new record marked
/// removed in the same write, and a field changed twice: each change is
/// checked against the value the one before it leaves, history keeps their
/// order, and a stale `old` anywhere leaves nothing applied.
async fn a_write_of_many_changes_keeps_their_order_and_checks_each(db: Db) {
    let store = seeded(&db).await;
    let kr = |i: usize| format!("2020-21/many/kr{i}");
    let mut changes: Vec<FieldChange> = (0..250)
        .map(|i| FieldChange {
            key: FieldKey::new(kr(i), "text"),
            old: None,
            new: Some(json!(format!("text {i}"))),
        })
        .collect();
    changes.push(FieldChange {
        key: FieldKey::new(kr(7), "text"),
        old: Some(json!("text 7")),
        new: Some(json!("text 7, again")),
    });
    changes.push(FieldChange {
        key: FieldKey::new(kr(9), REMOVED),
        old: None,
        new: Some(json!(true)),
    });
    let applied = store
        .apply(&tracker("2021-02-01T00:00:00Z"), &changes)
        .await
        .unwrap();
    assert_eq!(applied, 252);
    // Each change has its history row, in the order of the changes.
    let mut seqs = Vec::new();
    for c in &changes {
        let entry = store
            .history(&c.key.record)
            .await
            .unwrap()
            .into_iter()
            .find(|h| h.key == c.key && h.new == c.new && h.old == c.old)
            .unwrap_or_else(|| panic!("no history row for {c:?}"));
        seqs.push(entry.seq);
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let fields = store.load_fields(&fy()).await.unwrap();
    assert_eq!(
        fields.get(&FieldKey::new(kr(7), "text")),
        Some(&json!("text 7, again"))
    );
    assert_eq!(
        fields.get(&FieldKey::new(kr(9), REMOVED)),
        Some(&json!(true))
    );

    // One stale change among many: nothing of the write is applied.
    let other = |i: usize| format!("2020-21/other/kr{i}");
    let mut stale: Vec<FieldChange> = (0..150)
        .map(|i| FieldChange {
            key: FieldKey::new(other(i), "text"),
            old: None,
            new: Some(json!(format!("other {i}"))),
        })
        .collect();
    stale.push(FieldChange {
        key: FieldKey::new(kr(7), "text"),
        old: Some(json!("text 7")),
        new: Some(json!("text 7, a third time")),
    });
    let err = store
        .apply(&tracker("2021-02-02T00:00:00Z"), &stale)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("many/kr7"), "{err:#}");
    assert!(store.history(&other(0)).await.unwrap().is_empty());
    assert_eq!(store.history(&kr(7)).await.unwrap().len(), 2);
}

async fn a_failing_transaction_leaves_nothing_applied(db: Db) {
    let store = seeded(&db).await;
    let ea = "2020-21/evolutionary-architecture";
    let before_fields = store.load_fields(&fy()).await.unwrap();
    let before_history = store.history(ea).await.unwrap().len();
    let changes = [
        change(
            ea,
            "title",
            json!("Evolutionary architecture"),
            json!("New title"),
        ),
        change(
            KR1,
            "text",
            json!(records().objectives[0].key_results[0].text),
            json!("New text"),
        ),
        // Stale: computed from a view in which the status was `complete`.
        change(
            KR1,
            "quarters.Q3.status",
            json!("complete"),
            json!("paused"),
        ),
    ];
    let err = store
        .apply(&tracker("2021-02-01T00:00:00Z"), &changes)
        .await
        .unwrap_err();
    let stale = err.downcast_ref::<StoreError>().expect("a StoreError");
    assert!(matches!(stale, StoreError::Stale { .. }), "{stale:?}");
    assert!(err.to_string().contains("quarters.Q3.status"), "{err}");

    // The same through a page pull: neither the changes nor the page state land.
    let err = store
        .apply_page(
            &wiki("2021-02-01T00:00:00Z", 140),
            &changes,
            "Wikimedia Technology/Goals/2020-21 Q3",
            140,
            &records(),
        )
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<StoreError>().is_some(), "{err:#}");

    assert_eq!(store.load_fields(&fy()).await.unwrap(), before_fields);
    assert_eq!(store.history(ea).await.unwrap().len(), before_history);
    assert_eq!(
        store
            .page_state("Wikimedia Technology/Goals/2020-21 Q3")
            .await
            .unwrap(),
        None
    );

    // A change that does not fit its field is refused before anything is written.
    let err = store
        .apply(
            &tracker("2021-02-01T00:00:00Z"),
            &[
                change(
                    ea,
                    "title",
                    json!("Evolutionary architecture"),
                    json!("New title"),
                ),
                change(KR1, "quarters.Q3.status", json!("on-track"), json!("green")),
            ],
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("green"), "{err:#}");
    assert_eq!(store.load_fields(&fy()).await.unwrap(), before_fields);
}

async fn page_state_is_kept_with_the_pull(db: Db) {
    let store = seeded(&db).await;
    let title = "Wikimedia Technology/Goals/2020-21 Q3";
    assert_eq!(store.page_state(title).await.unwrap(), None);
    store
        .set_page_state(title, 100, t("2021-01-10T12:00:00Z"), &records(), None)
        .await
        .unwrap();
    let state = store.page_state(title).await.unwrap().unwrap();
    assert_eq!(state.revid, 100);
    assert_eq!(state.synced_at, t("2021-01-10T12:00:00Z"));
    assert_eq!(state.records, records());

    let mut edited = records();
    edited.objectives[1].key_results[0]
        .quarters
        .get_mut(&Quarter::Q1)
        .unwrap()
        .note = Some("Done early".into());
    let changes = fields::diff(
        &store.load_fields(&fy()).await.unwrap(),
        &fields::flatten(&edited),
    );
    let n = store
        .apply_page(
            &wiki("2021-01-20T08:00:00Z", 150),
            &changes,
            title,
            150,
            &edited,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let state = store.page_state(title).await.unwrap().unwrap();
    assert_eq!((state.revid, state.records), (150, edited.clone()));
    assert_eq!(store.load(&fy()).await.unwrap(), edited);
}

async fn reopening_keeps_everything(db: Db) {
    let title = "Wikimedia Technology/Goals/2020-21 Q3";
    let history = {
        let store = seeded(&db).await;
        store
            .set_page_state(title, 100, t("2021-01-10T12:00:00Z"), &records(), None)
            .await
            .unwrap();
        let h = store.history(KR1).await.unwrap();
        store.close().await;
        h
    };
    let store = db.open().await;
    assert_eq!(store.load(&fy()).await.unwrap(), records());
    assert_eq!(store.history(KR1).await.unwrap(), history);
    assert_eq!(
        store.page_state(title).await.unwrap().unwrap().records,
        records()
    );
}

async fn a_newer_schema_is_refused(db: Db) {
    db.open().await.close().await;
    // Pretend a later goalsbot migrated this database to the next schema version.
    db.raw(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({}, 'from the future', 1, x'00', 0)",
        SCHEMA + 1
    ))
    .await
    .unwrap();
    let err = Store::open(&db.url()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<StoreError>(),
        Some(&StoreError::SchemaTooNew {
            found: SCHEMA + 1,
            known: SCHEMA
        })
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&format!("schema version is {}", SCHEMA + 1))
            && msg.contains(&format!("the {SCHEMA} this goalsbot knows")),
        "{msg}"
    );
}

async fn history_is_append_only(db: Db) {
    seeded(&db).await.close().await;
    for sql in [
        "UPDATE history SET new_value = '\"forged\"'",
        "DELETE FROM history",
    ] {
        let err = db.raw(sql).await.unwrap_err();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
}

/// Values and keys come back byte for byte: 4-byte UTF-8, case and trailing
/// spaces are never folded (a case-insensitive or PAD SPACE collation would).
async fn text_is_kept_exactly(db: Db) {
    let store = db.open().await;
    let ids = ["2020-21/exact", "2020-21/Exact", "2020-21/exact "];
    let titles = ["🎯 Goal", "🎯 goal", "🎯 Goal "];
    let create: Vec<FieldChange> = ids
        .iter()
        .zip(titles)
        .map(|(id, title)| FieldChange {
            key: FieldKey::new(*id, "title"),
            old: None,
            new: Some(json!(title)),
        })
        .collect();
    assert_eq!(
        store
            .apply(&tracker("2021-01-10T12:00:00Z"), &create)
            .await
            .unwrap(),
        3
    );
    let loaded = store.load_fields(&fy()).await.unwrap();
    assert_eq!(loaded.len(), 3, "{loaded:?}");
    for (id, title) in ids.iter().zip(titles) {
        assert_eq!(loaded[&FieldKey::new(*id, "title")], json!(title), "{id:?}");
    }
    // Compare-and-set compares exactly: a value differing only in case or a
    // trailing space is stale.
    for wrong in ["🎯 GOAL", "🎯 Goal "] {
        let err = store
            .apply(
                &tracker("2021-01-11T00:00:00Z"),
                &[change(ids[0], "title", json!(wrong), json!("x"))],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err.downcast_ref(), Some(StoreError::Stale { .. })),
            "{wrong:?}: {err:#}"
        );
    }
    store
        .apply(
            &tracker("2021-01-11T00:00:00Z"),
            &[change(ids[0], "title", json!("🎯 Goal"), json!("𝔊𝔬𝔞𝔩 🚀"))],
        )
        .await
        .unwrap();
    let h = store.history(ids[0]).await.unwrap();
    assert_eq!(h.last().unwrap().new, Some(json!("𝔊𝔬𝔞𝔩 🚀")));
    assert_eq!(store.history(ids[1]).await.unwrap().len(), 1);
    // Page titles too.
    let (a, b) = ("Goals/🎯 Q3", "Goals/🎯 q3");
    store
        .set_page_state(a, 1, t("2021-01-10T12:00:00Z"), &records(), None)
        .await
        .unwrap();
    store
        .set_page_state(b, 2, t("2021-01-10T12:00:00Z"), &records(), None)
        .await
        .unwrap();
    assert_eq!(store.page_state(a).await.unwrap().unwrap().revid, 1);
    assert_eq!(store.page_state(b).await.unwrap().unwrap().revid, 2);
    assert_eq!(store.page_state("Goals/🎯 Q3 ").await.unwrap(), None);
}

/// Two bot processes (two stores, two pools) apply changes computed from the
/// same view at once: exactly one lands, the other is told it is stale, and
/// history holds only the winner's change.
async fn concurrent_writers_with_the_same_old_value_one_wins(db: Db) {
    seeded(&db).await.close().await;
    let (a, b) = (db.open().await, db.open().await);
    let status = "quarters.Q3.status";
    let mut old = json!("on-track");
    for (round, (x, y)) in [("concerns", "at-risk"), ("paused", "complete")]
        .into_iter()
        .enumerate()
    {
        let at = format!("2021-02-0{}T00:00:00Z", round + 1);
        let p = tracker(&at);
        let to_x = [change(KR1, status, old.clone(), json!(x))];
        let to_y = [change(KR1, status, old.clone(), json!(y))];
        let (ra, rb) = tokio::join!(a.apply(&p, &to_x), b.apply(&p, &to_y));
        let (winner, loser) = match (ra, rb) {
            (Ok(1), Err(e)) => (x, e),
            (Err(e), Ok(1)) => (y, e),
            other => panic!("round {round}: expected exactly one success, got {other:?}"),
        };
        assert_eq!(
            loser.downcast_ref::<StoreError>(),
            Some(&StoreError::Stale {
                key: FieldKey::new(KR1, status),
                expected: Some(old.clone()),
                found: Some(json!(winner)),
            }),
            "{loser:#}"
        );
        let now = a.load_fields(&fy()).await.unwrap();
        assert_eq!(now[&FieldKey::new(KR1, status)], json!(winner));
        old = json!(winner);
    }
    let changes: Vec<_> = a
        .history(KR1)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.key.field == status)
        .map(|h| h.new)
        .collect();
    assert_eq!(
        changes.len(),
        3,
        "seed plus one winner per round: {changes:?}"
    );
}

#[tokio::test]
async fn unknown_url_schemes_are_refused() {
    let err = Store::open("postgres://x/y").await.unwrap_err();
    assert!(format!("{err:#}").contains("unknown URL scheme"), "{err:#}");
}

#[tokio::test]
async fn mariadb_errors_never_show_the_password() {
    let Some(Db::Mariadb(url)) = Db::mariadb("mariadb_errors_never_show_the_password") else {
        return;
    };
    let mut wrong = url::Url::parse(&url).unwrap();
    wrong.set_password(Some("hunter2")).unwrap();
    let err = Store::open(wrong.as_str()).await.unwrap_err();
    let msg = format!("{err:#} {err:?}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains("goalsbot:***@"), "{msg}");
    assert!(msg.contains("Access denied"), "{msg}");
}

#[tokio::test]
async fn mariadb_alias_scheme_opens_the_same_store() {
    let Some(db) = Db::mariadb("mariadb_alias_scheme_opens_the_same_store") else {
        return;
    };
    seeded(&db).await.close().await;
    let alias = db.url().replacen("mysql://", "mariadb://", 1);
    let store = Store::open(&alias).await.unwrap();
    assert_eq!(store.load(&fy()).await.unwrap(), records());
}

/// The Toolforge form: no password in the URL, the login from a
/// replica.my.cnf, with a password full of characters URLs and option files
/// treat specially.
#[tokio::test]
async fn replica_cnf_url_logs_in_with_the_file_credentials() {
    use goalsbot::store::replica_cnf;
    let Some(server) = test_mariadb() else {
        eprintln!("skipped replica_cnf_url_logs_in_with_the_file_credentials: no MariaDB");
        return;
    };
    let url = server.fresh_database("replica cnf");
    let u = url::Url::parse(&url).unwrap();
    let database = u.path().trim_start_matches('/').to_string();
    let password = r#"p@ss:w/o#rd%41 'q"ü"#;
    let sql_password = password.replace('\\', "\\\\").replace('\'', "\\'");
    server.root_sql(&format!(
        "CREATE USER 'cnf_user'@'127.0.0.1' IDENTIFIED BY '{sql_password}'; \
         GRANT ALL PRIVILEGES ON `{database}`.* TO 'cnf_user'@'127.0.0.1'"
    ));
    let dir = tempfile::tempdir().unwrap();
    let cnf = dir.path().join("replica.my.cnf");
    std::fs::write(
        &cnf,
        format!(
            "# written by the test\n[client]\nuser = cnf_user\npassword = \"{}\"\n",
            password.replace('\\', "\\\\").replace('"', "\\\"")
        ),
    )
    .unwrap();
    let written = format!(
        "mysql+replicacnf://127.0.0.1:{}/{database}",
        u.port().unwrap()
    );
    let resolved = replica_cnf::resolve_with(&written, &cnf).unwrap();
    let store = Store::open(&resolved).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA);
    store.close().await;

    // A wrong password in the file: the error shows neither password.
    std::fs::write(&cnf, "[client]\nuser = cnf_user\npassword = hunter2\n").unwrap();
    let resolved = replica_cnf::resolve_with(&written, &cnf).unwrap();
    let err = Store::open(&resolved).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(!msg.contains("hunter2") && !msg.contains("p@ss"), "{msg}");
    assert!(msg.contains("Access denied"), "{msg}");
}

/// A `goalsbot.toml` in `dir` whose store is `mysql+replicacnf://` the host,
/// port and database of `u` (no login: it comes from elsewhere).
fn write_toolforge_config(dir: &std::path::Path, u: &url::Url) {
    std::fs::write(
        dir.join("goalsbot.toml"),
        format!(
            "[wiki]\nurl = \"https://wiki.invalid/w/\"\nuser_agent_contact = \"goalsbot tests\"\n\n\
             [store]\nurl = \"mysql+replicacnf://{}:{}{}\"\n",
            u.host_str().unwrap(),
            u.port().unwrap(),
            u.path()
        ),
    )
    .unwrap();
}

/// What an operator on Toolforge does: `[store] url = "mysql+replicacnf://…"`
/// in goalsbot.toml and the login in the file `GOALSBOT_REPLICA_CNF` names
/// (`~/replica.my.cnf` there). The binary exports the store; with a wrong
/// password it fails without printing it.
#[tokio::test]
async fn the_binary_opens_a_replica_cnf_store() {
    use crate::support::{goalsbot, run};
    let Some(server) = test_mariadb() else {
        eprintln!("skipped the_binary_opens_a_replica_cnf_store: no MariaDB");
        return;
    };
    let db = Db::Mariadb(server.fresh_database("binary replica cnf"));
    seeded(&db).await.close().await;
    let u = url::Url::parse(&db.url()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_toolforge_config(dir.path(), &u);
    let cnf = dir.path().join("creds.cnf");
    let password = u.password().unwrap().to_string();
    let export = |cnf_text: String| {
        std::fs::write(&cnf, cnf_text).unwrap();
        let mut cmd = goalsbot(dir.path());
        cmd.env("GOALSBOT_REPLICA_CNF", &cnf).args([
            "--config",
            "goalsbot.toml",
            "export",
            "--format",
            "json",
        ]);
        run(cmd)
    };

    let ok = export(format!(
        "[client]\nuser = {}\npassword = '{password}'\n",
        u.username()
    ));
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert!(ok.stdout.contains(KR1), "{}", ok.stdout);
    assert!(!ok.all_output().contains(&password));

    // A Toolforge job whose $HOME is not the tool's home: the file is found
    // in the tool's home that TOOL_DATA_DIR names.
    let tool_home = dir.path().join("tool-home");
    std::fs::create_dir_all(&tool_home).unwrap();
    std::fs::copy(&cnf, tool_home.join("replica.my.cnf")).unwrap();
    let mut cmd = goalsbot(dir.path());
    cmd.env("TOOL_DATA_DIR", &tool_home).args([
        "--config",
        "goalsbot.toml",
        "export",
        "--format",
        "json",
    ]);
    let from_tool_home = run(cmd);
    assert_eq!(from_tool_home.code, Some(0), "{}", from_tool_home.stderr);
    assert!(from_tool_home.stdout.contains(KR1));

    let bad = export(format!(
        "[client]\nuser = {}\npassword = hunter2\n",
        u.username()
    ));
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("Access denied"), "{}", bad.stderr);
    assert!(
        !bad.all_output().contains("hunter2"),
        "{}",
        bad.all_output()
    );
    assert!(!bad.all_output().contains(&password));
}

/// What a Toolforge job (a Build Service image with no home directory)
/// has: `TOOL_TOOLSDB_USER` / `TOOL_TOOLSDB_PASSWORD` in its environment and
/// a store URL that names only host and database. The binary exports the
/// store with them (no replica.my.cnf exists); with a wrong password it
/// fails without printing either password.
#[tokio::test]
async fn the_binary_takes_the_toolsdb_login_from_the_environment() {
    use crate::support::{goalsbot, run};
    let Some(server) = test_mariadb() else {
        eprintln!("skipped the_binary_takes_the_toolsdb_login_from_the_environment: no MariaDB");
        return;
    };
    let db = Db::Mariadb(server.fresh_database("binary toolsdb env"));
    seeded(&db).await.close().await;
    let u = url::Url::parse(&db.url()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_toolforge_config(dir.path(), &u);
    let password = u.password().unwrap().to_string();
    let export = |pw: &str| {
        let mut cmd = goalsbot(dir.path());
        cmd.env("GOALSBOT_REPLICA_CNF", dir.path().join("no-such-file.cnf"))
            .env("TOOL_TOOLSDB_USER", u.username())
            .env("TOOL_TOOLSDB_PASSWORD", pw)
            .args(["--config", "goalsbot.toml", "export", "--format", "json"]);
        run(cmd)
    };
    let ok = export(&password);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert!(ok.stdout.contains(KR1), "{}", ok.stdout);
    assert!(!ok.all_output().contains(&password));

    let bad = export("hunter2-wrong");
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("Access denied"), "{}", bad.stderr);
    assert!(
        !bad.all_output().contains("hunter2"),
        "{}",
        bad.all_output()
    );
    assert!(!bad.all_output().contains(&password));
}

/// A conflict is stored with the page state in one transaction, listed while
/// pending, closed when wiki and store agree ("settled") or by a person, and
/// a resolved conflict cannot be resolved twice.
async fn conflicts_are_held_settled_and_resolved_with_the_page_state(db: Db) {
    let store = seeded(&db).await;
    let title = "Wikimedia Technology/Goals/2020-21 Q3";
    let status = FieldKey::new(KR1, "quarters.Q1.status");
    let note = FieldKey::new(KR1, "quarters.Q1.note");
    let conflicts = [
        NewConflict {
            key: status.clone(),
            base: Some(json!("on-track")),
            wiki: Some(json!("at-risk")),
            store: Some(json!("complete")),
        },
        NewConflict {
            key: note.clone(),
            base: None,
            wiki: Some(json!("wiki note")),
            store: Some(json!("store note")),
        },
    ];
    let merge = PageMerge {
        title,
        revid: 160,
        records: &records(),
        conflicts: &conflicts,
        settled: &[],
        followed: &[],
        reading: None,
    };
    let n = store
        .apply_merge(&wiki("2021-01-21T08:00:00Z", 160), &[], &merge)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(store.page_state(title).await.unwrap().unwrap().revid, 160);
    let pending = store.conflicts(false).await.unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert_eq!(pending[0].key, status);
    assert_eq!(pending[0].wiki, Some(json!("at-risk")));
    assert_eq!(pending[0].store, Some(json!("complete")));
    assert_eq!(pending[0].base, Some(json!("on-track")));
    assert_eq!(pending[0].revid, 160);
    assert_eq!(pending[0].wiki_user.as_deref(), Some("Zoë Ünal"));
    assert_eq!(pending[1].base, None);

    // A second pending conflict on the same field is refused, and the whole
    // merge with it (the page state stays at 160).
    let again = PageMerge {
        revid: 170,
        conflicts: &conflicts[..1],
        ..merge
    };
    store
        .apply_merge(&wiki("2021-01-22T08:00:00Z", 170), &[], &again)
        .await
        .unwrap_err();
    assert_eq!(store.page_state(title).await.unwrap().unwrap().revid, 160);

    // The note settles on its own.
    let settle = PageMerge {
        revid: 180,
        conflicts: &[],
        settled: std::slice::from_ref(&note),
        ..merge
    };
    store
        .apply_merge(&wiki("2021-01-23T08:00:00Z", 180), &[], &settle)
        .await
        .unwrap();
    let pending = store.conflicts(false).await.unwrap();
    assert_eq!(pending.len(), 1);
    let id = pending[0].id;
    let all = store.conflicts(true).await.unwrap();
    assert_eq!(all.len(), 2);
    let settled = all.iter().find(|c| c.key == note).unwrap();
    assert_eq!(settled.resolution.as_ref().unwrap().how, "settled");

    // A person takes the wiki's value: the change and the close are one transaction.
    let current = store
        .load_fields(&fy())
        .await
        .unwrap()
        .get(&status)
        .cloned();
    let take = FieldChange {
        key: status.clone(),
        old: current,
        new: Some(json!("at-risk")),
    };
    let n = store
        .resolve_conflict(
            id,
            Take::Wiki,
            Some(&take),
            &tracker("2021-01-24T08:00:00Z"),
            &Decided::default(),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(store.conflicts(false).await.unwrap().is_empty());
    let closed = store.conflict(id).await.unwrap().unwrap();
    let r = closed.resolution.unwrap();
    assert_eq!((r.how.as_str(), r.by.as_str()), ("wiki", "Jürgen"));
    assert_eq!(
        store.load_fields(&fy()).await.unwrap().get(&status),
        Some(&json!("at-risk"))
    );
    // Twice: refused, and the value is not written again.
    let err = store
        .resolve_conflict(
            id,
            Take::Store,
            None,
            &tracker("2021-01-25T08:00:00Z"),
            &Decided::default(),
        )
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("not pending"), "{err:#}");
    assert_eq!(
        store
            .conflict(id)
            .await
            .unwrap()
            .unwrap()
            .resolution
            .unwrap()
            .how,
        "wiki"
    );
    assert_eq!(store.conflict(9999).await.unwrap(), None);

    // Conflicts belong to pages: another page may hold its own value on the
    // same field beside this page's, and each follows its own page.
    let other = "Wikimedia Technology/Goals/2020-21 Q2";
    let mine = PageMerge {
        revid: 190,
        conflicts: &conflicts[..1],
        settled: &[],
        ..merge
    };
    store
        .apply_merge(&wiki("2021-01-26T08:00:00Z", 190), &[], &mine)
        .await
        .unwrap();
    let theirs = PageMerge {
        title: other,
        revid: 200,
        ..mine
    };
    store
        .apply_merge(&wiki("2021-01-26T09:00:00Z", 200), &[], &theirs)
        .await
        .unwrap();
    assert_eq!(store.conflicts(false).await.unwrap().len(), 2);
    let follow = [(status.clone(), Some(json!("paused")))];
    let again = PageMerge {
        title: other,
        revid: 210,
        conflicts: &[],
        followed: &follow,
        ..mine
    };
    store
        .apply_merge(&wiki("2021-01-27T08:00:00Z", 210), &[], &again)
        .await
        .unwrap();
    let pending = store.conflicts(false).await.unwrap();
    let of = |page: &str| pending.iter().find(|c| c.page == page).unwrap().clone();
    assert_eq!(
        (of(other).wiki, of(other).revid),
        (Some(json!("paused")), 210)
    );
    assert_eq!(
        of(title).wiki,
        Some(json!("at-risk")),
        "the other page's is untouched"
    );
    // Settled by its own page only.
    let settle = PageMerge {
        title: other,
        revid: 220,
        conflicts: &[],
        settled: std::slice::from_ref(&status),
        ..mine
    };
    store
        .apply_merge(&wiki("2021-01-28T08:00:00Z", 220), &[], &settle)
        .await
        .unwrap();
    let pending = store.conflicts(false).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].page, title);

    // A decision settles, in its transaction, the other pages' conflicts that
    // show the value the store keeps, and leaves the page's base as it was
    // (pull reads a decision from the closed conflict, field by field).
    let mine_id = pending[0].id;
    let third = "Wikimedia Technology/Goals/2020-21 Q4";
    let same = [NewConflict {
        key: status.clone(),
        base: None,
        wiki: pending[0].store.clone(),
        store: pending[0].store.clone(),
    }];
    store
        .apply_merge(
            &wiki("2021-01-29T08:00:00Z", 230),
            &[],
            &PageMerge {
                title: third,
                revid: 230,
                conflicts: &same,
                settled: &[],
                ..mine
            },
        )
        .await
        .unwrap();
    let third_id = store
        .conflicts(false)
        .await
        .unwrap()
        .iter()
        .find(|c| c.page == third)
        .unwrap()
        .id;
    let state = store.page_state(title).await.unwrap().unwrap();
    store
        .resolve_conflict(
            mine_id,
            Take::Store,
            None,
            &tracker("2021-01-30T08:00:00Z"),
            &Decided {
                settled: &[third_id],
            },
        )
        .await
        .unwrap();
    assert!(store.conflicts(false).await.unwrap().is_empty());
    let third_closed = store.conflict(third_id).await.unwrap().unwrap();
    assert_eq!(third_closed.resolution.unwrap().how, "settled");
    assert_eq!(store.page_state(title).await.unwrap().unwrap(), state);
}

async fn push_checks_edits_runs_and_requests_are_remembered(db: Db) {
    let store = db.open().await;
    let title = "Wikimedia Technology/Goals/2020-21";
    assert_eq!(store.page_check(title).await.unwrap(), None);
    let check = PageCheck {
        revid: 12,
        fingerprint: "ab".repeat(32),
        outcome: "unchanged".into(),
    };
    store
        .set_page_check(title, &check, t("2021-01-01T00:00:00Z"))
        .await
        .unwrap();
    let nobots = PageCheck {
        revid: 13,
        outcome: "nobots".into(),
        ..check.clone()
    };
    store
        .set_page_check(title, &nobots, t("2021-01-02T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.page_check(title).await.unwrap(), Some(nobots.clone()));
    let all = store.page_checks().await.unwrap();
    assert_eq!(all.get(title), Some(&nobots));

    // A year's check: kept per fiscal year, replaced by the next one.
    assert!(store.year_checks().await.unwrap().is_empty());
    let at = t("2021-01-03T00:00:00Z");
    let checks = vec![
        ("2020-21".to_string(), "cd".repeat(32)),
        ("2019-20".to_string(), "01".to_string()),
    ];
    store.set_year_checks(&checks, at).await.unwrap();
    store.set_year_checks(&[], at).await.unwrap();
    store
        .set_year_checks(&[("2020-21".to_string(), "ef".repeat(32))], at)
        .await
        .unwrap();
    let years = store.year_checks().await.unwrap();
    assert_eq!(years.len(), 2);
    assert_eq!(years["2020-21"], "ef".repeat(32));
    assert_eq!(years["2019-20"], "01");

    let edit = EditEntry {
        run_id: "2021-01-01T00:00Z-abcd".into(),
        at: t("2021-01-01T00:00:01Z"),
        title: "Wikimedia Technology/Goals/2020-21 Q3 — ünïcode".into(),
        old_revid: Some(12),
        new_revid: 14,
        summary: "goalsbot: status of 1 KRs (Q3) from tracker [run 2021-01-01T00:00Z-abcd]".into(),
    };
    store.record_edit(&edit).await.unwrap();
    store
        .record_edit(&EditEntry {
            old_revid: None,
            new_revid: 15,
            ..edit.clone()
        })
        .await
        .unwrap();
    let edits = store.edits_of_run(&edit.run_id).await.unwrap();
    assert_eq!(edits.len(), 2);
    assert_eq!(edits[0], edit);
    assert_eq!(edits[1].old_revid, None);
    assert!(store.edits_of_run("other").await.unwrap().is_empty());

    for (i, outcome) in ["changed", "failed"].iter().enumerate() {
        store
            .record_run(&RunEntry {
                run_id: format!("run-{i}"),
                command: "sync".into(),
                outcome: (*outcome).into(),
                started: t("2021-01-01T00:00:00Z") + Duration::hours(i as i64),
                finished: t("2021-01-01T00:10:00Z") + Duration::hours(i as i64),
                summary: json!({"edits": i, "note": "ünïcode ✓"}),
            })
            .await
            .unwrap();
    }
    let runs = store.recent_runs(5).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].run_id, "run-1");
    assert_eq!(runs[0].outcome, "failed");
    assert_eq!(runs[1].summary["note"], json!("ünïcode ✓"));
    assert_eq!(store.recent_runs(1).await.unwrap().len(), 1);

    let req = RequestEntry {
        id: "r42-0".into(),
        page: "Wikimedia Technology/Goals/Bot requests".into(),
        revid: 42,
        requester: "Émile".into(),
        template: "{{goalsbot|sync|2020-21}}".into(),
        state: "claimed".into(),
        run_id: Some("run-2".into()),
        claimed_at: t("2021-01-03T00:00:00Z"),
    };
    assert!(store.claim_request(&req).await.unwrap());
    assert!(!store.claim_request(&req).await.unwrap(), "claimed twice");
    assert_eq!(store.request("r42-0").await.unwrap(), Some(req.clone()));
    assert_eq!(
        store.unanswered_requests().await.unwrap(),
        vec![req.clone()]
    );
    assert_eq!(
        store
            .requests_since(Some("Émile"), t("2021-01-02T00:00:00Z"))
            .await
            .unwrap(),
        vec![("r42-0".to_string(), "Émile".to_string(), req.claimed_at)]
    );
    assert!(store
        .requests_since(Some("Someone Else"), t("2021-01-02T00:00:00Z"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .requests_since(None, t("2021-01-02T00:00:00Z"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .requests_since(None, t("2021-01-04T00:00:00Z"))
        .await
        .unwrap()
        .is_empty());
    store
        .answer_request("r42-0", Some(43), t("2021-01-03T00:01:00Z"))
        .await
        .unwrap();
    assert!(store.unanswered_requests().await.unwrap().is_empty());
    assert_eq!(
        store.request("r42-0").await.unwrap().unwrap().state,
        "answered"
    );

    let page = "Wikimedia Technology/Goals/Bot requests";
    assert_eq!(store.watch_state(page).await.unwrap(), None);
    store
        .set_watch_state(page, 42, "== Sync ==\n{{goalsbot|sync}} ✓")
        .await
        .unwrap();
    store
        .set_watch_state(page, 43, "== Sync ==\n{{goalsbot|sync}} ✓\n:done")
        .await
        .unwrap();
    assert_eq!(
        store.watch_state(page).await.unwrap(),
        Some((43, "== Sync ==\n{{goalsbot|sync}} ✓\n:done".to_string()))
    );
}

/// What the watcher keeps between polls (issue 11, holes 5 and 6): the
/// reply decided for a request until it is saved, and the memory of every
/// request line a page held, beside (not instead of) its watch position.
async fn a_request_keeps_its_unsaved_reply_and_a_page_the_request_lines_it_held(db: Db) {
    let store = db.open().await;
    let page = "Wikimedia Technology/Goals/Bot requests";
    let req = RequestEntry {
        id: "r7-0".into(),
        page: page.into(),
        revid: 7,
        requester: "Émile".into(),
        template: r#"{"heading":"Sync","template":"{{goalsbot|sync}}"}"#.into(),
        state: "claimed".into(),
        run_id: None,
        claimed_at: t("2021-01-03T00:00:00Z"),
    };
    assert!(store.claim_request(&req).await.unwrap());
    let with_reply = r#"{"heading":"Sync","template":"{{goalsbot|sync}}","reply":{"text":":Done ✓","what":"sync","tries":1}}"#;
    store
        .set_request_template("r7-0", with_reply)
        .await
        .unwrap();
    let back = store.request("r7-0").await.unwrap().unwrap();
    assert_eq!(back.template, with_reply);
    assert_eq!(back.state, "claimed");

    assert_eq!(store.watch_seen(page).await.unwrap(), None);
    store.set_watch_state(page, 7, "text ✓").await.unwrap();
    store.set_watch_seen(page, "[1, \"ü\"]").await.unwrap();
    store.set_watch_seen(page, "[2, \"ü\"]").await.unwrap();
    assert_eq!(
        store.watch_seen(page).await.unwrap().as_deref(),
        Some("[2, \"ü\"]")
    );
    assert_eq!(
        store.watch_state(page).await.unwrap(),
        Some((7, "text ✓".to_string())),
        "the memory leaves the watch position alone"
    );
}

/// The digest a no-op sync compares: it changes with every store input a
/// sync's plans read (a field change, a push check, a conflict), stays put
/// otherwise, and the marker keeps one digest or none.
async fn the_sync_inputs_digest_moves_with_every_input_and_the_marker_is_kept(db: Db) {
    const STATUS: &str = "Wikimedia Technology/Goals/Bot status";
    let store = seeded(&db).await;
    let first = store.sync_inputs_digest(STATUS).await.unwrap();
    assert_eq!(
        store.sync_inputs_digest(STATUS).await.unwrap(),
        first,
        "stable"
    );
    assert_eq!(store.sync_marker().await.unwrap(), None);
    store
        .set_sync_marker(Some(&first), t("2021-01-11T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.sync_marker().await.unwrap(), Some(first.clone()));

    // A field change.
    let records = records();
    let kr = &records.objectives[0].key_results[0];
    let q = kr.quarters.iter().next().map(|(q, _)| *q).unwrap();
    let field = format!("quarters.{q}.note");
    let old = store
        .load_fields(&fy())
        .await
        .unwrap()
        .get(&FieldKey::new(&kr.id, &field))
        .cloned();
    let changed = vec![FieldChange {
        key: FieldKey::new(&kr.id, &field),
        old,
        new: Some(json!("a digest test note")),
    }];
    store
        .apply(&wiki("2021-01-12T00:00:00Z", 101), &changed)
        .await
        .unwrap();
    let second = store.sync_inputs_digest(STATUS).await.unwrap();
    assert_ne!(second, first, "a field change");

    // A push check.
    let check = PageCheck {
        revid: 101,
        fingerprint: "cd".repeat(32),
        outcome: "unchanged".into(),
    };
    store
        .set_page_check(
            "Wikimedia Technology/Goals/2020-21 Q3",
            &check,
            t("2021-01-12T00:00:01Z"),
        )
        .await
        .unwrap();
    let third = store.sync_inputs_digest(STATUS).await.unwrap();
    assert_ne!(third, second, "a push check");
    // What the bot status page shows is no sync's input.
    store
        .set_page_check(STATUS, &check, t("2021-01-12T00:00:01Z"))
        .await
        .unwrap();
    assert_eq!(
        store.sync_inputs_digest(STATUS).await.unwrap(),
        third,
        "the status page's check"
    );

    store
        .set_sync_marker(Some(&third), t("2021-01-12T00:00:02Z"))
        .await
        .unwrap();
    assert_eq!(store.sync_marker().await.unwrap(), Some(third));
    store
        .set_sync_marker(None, t("2021-01-12T00:00:03Z"))
        .await
        .unwrap();
    assert_eq!(store.sync_marker().await.unwrap(), None);
    store.close().await;
}

/// `watch` keeps where it stands (`watch_feed`: a recent change and a
/// store mark), and asks in one query what the tracker did after the mark:
/// where the store stands now, and the years tracker edits and
/// resolutions keeping the store's value touched — not those of a run
/// that served an on-wiki request (it pushed them), nor wiki pulls.
async fn the_watchers_position_and_the_tracker_edits_after_it(db: Db) {
    use goalsbot::store::StoreMark;
    let store = seeded(&db).await;
    assert_eq!(store.watch_feed().await.unwrap(), None);
    let start = store.tracker_after(&StoreMark::default()).await.unwrap();
    assert!(start.mark.history_seq > 0);
    assert!(start.years.is_empty(), "a wiki pull is no tracker edit");
    let at = goalsbot::core::feed::Position {
        timestamp: "2021-01-10T12:00:00Z".into(),
        rcid: 41,
    };
    store.set_watch_feed(None, &start.mark).await.unwrap();
    assert_eq!(
        store.watch_feed().await.unwrap(),
        Some((None, start.mark.clone()))
    );
    store.set_watch_feed(Some(&at), &start.mark).await.unwrap();
    assert_eq!(
        store.watch_feed().await.unwrap(),
        Some((Some(at.clone()), start.mark.clone()))
    );
    let idle = store.tracker_after(&start.mark).await.unwrap();
    assert_eq!((idle.mark, idle.years), (start.mark.clone(), vec![]));

    // A tracker edit, and one made by an on-wiki request's run.
    let set = tracker("2021-01-11T00:00:00Z");
    store
        .apply(
            &set,
            &[change(
                KR1,
                "year_goal",
                json!("move 85% of capabilities to Level 3"),
                json!("all of them"),
            )],
        )
        .await
        .unwrap();
    let mut requested = tracker("2021-01-12T00:00:00Z");
    requested.run_id = "2021-01-12-request".into();
    let req = RequestEntry {
        id: "r9-0".into(),
        page: "Wikimedia Technology/Goals/Bot requests".into(),
        revid: 9,
        requester: "Émile".into(),
        template: r#"{"heading":"Resolve","template":"{{goalsbot|resolve|1|wiki}}"}"#.into(),
        state: "claimed".into(),
        run_id: None,
        claimed_at: t("2021-01-12T00:00:00Z"),
    };
    assert!(store.claim_request(&req).await.unwrap());
    store
        .set_request_run("r9-0", &requested.run_id)
        .await
        .unwrap();
    store
        .apply(
            &requested,
            &[change(
                KR1,
                "year_goal",
                json!("all of them"),
                json!("most"),
            )],
        )
        .await
        .unwrap();
    let moved = store.tracker_after(&start.mark).await.unwrap();
    assert_eq!(moved.mark.history_seq, start.mark.history_seq + 2);
    assert_eq!(moved.mark.resolved_at, "");
    assert_eq!(moved.years, vec![(fy(), set.run_id.clone())]);
    // Looked at: nothing new after it.
    assert!(store
        .tracker_after(&moved.mark)
        .await
        .unwrap()
        .years
        .is_empty());
}
