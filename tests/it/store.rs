//! The store on a real SQLite file: migrations, apply/load, history, as-of, removal, atomicity.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use goalsbot::fields::{self, FieldChange, FieldKey, REMOVED};
use goalsbot::records::{
    FiscalYear, FiscalYearRecords, KeyResult, Kind, Objective, Quarter, QuarterEntry, Status,
};
use goalsbot::store::{Provenance, Source, Store, StoreError};
use serde_json::json;

fn url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("goals.sqlite").display())
}

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

/// A store in a fresh directory, holding `records()` as of 2021-01-10.
async fn seeded(dir: &Path) -> Store {
    let store = Store::open(&url(dir)).await.unwrap();
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

const KR1: &str = "2020-21/evolutionary-architecture/kr1";

#[tokio::test]
async fn open_creates_and_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("goals.sqlite");
    assert!(!file.exists());
    let store = Store::open(&url(dir.path())).await.unwrap();
    assert!(file.exists());
    assert_eq!(store.schema_version().await.unwrap(), 1);
    assert!(store.fiscal_years().await.unwrap().is_empty());
    assert!(store.load(&fy()).await.unwrap().objectives.is_empty());
    store.close().await;
    // WAL is a property of the file, so a separate connection sees it.
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url(dir.path()))
            .await
            .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        conn.close().await.unwrap();
    }
    // Opening again finds nothing to migrate.
    let store = Store::open(&url(dir.path())).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 1);
}

#[tokio::test]
async fn apply_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path()).await;
    assert_eq!(store.load(&fy()).await.unwrap(), records());
    assert_eq!(store.fiscal_years().await.unwrap(), vec![fy()]);
    let export = store.export(&[], None).await.unwrap();
    assert_eq!(export.fiscal_years, vec![records()]);
    // Applying the same state again changes nothing.
    let fields = store.load_fields(&fy()).await.unwrap();
    assert!(fields::diff(&fields, &fields::flatten(&records())).is_empty());
}

#[tokio::test]
async fn in_memory_store_works() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let changes = fields::diff(&Default::default(), &fields::flatten(&records()));
    store
        .apply(&tracker("2021-01-10T12:00:00Z"), &changes)
        .await
        .unwrap();
    assert_eq!(store.load(&fy()).await.unwrap(), records());
}

#[tokio::test]
async fn history_has_provenance_for_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path()).await;
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

#[tokio::test]
async fn as_of_shows_old_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path()).await;
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

#[tokio::test]
async fn removal_marks_removed_and_a_later_apply_restores() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path()).await;
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

#[tokio::test]
async fn removing_an_unknown_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path()).await;
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

#[tokio::test]
async fn a_failing_transaction_leaves_nothing_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path()).await;
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

#[tokio::test]
async fn page_state_is_kept_with_the_pull() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path()).await;
    let title = "Wikimedia Technology/Goals/2020-21 Q3";
    assert_eq!(store.page_state(title).await.unwrap(), None);
    store
        .set_page_state(title, 100, t("2021-01-10T12:00:00Z"), &records())
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

#[tokio::test]
async fn reopening_the_file_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let title = "Wikimedia Technology/Goals/2020-21 Q3";
    let history = {
        let store = seeded(dir.path()).await;
        store
            .set_page_state(title, 100, t("2021-01-10T12:00:00Z"), &records())
            .await
            .unwrap();
        let h = store.history(KR1).await.unwrap();
        store.close().await;
        h
    };
    let store = Store::open(&url(dir.path())).await.unwrap();
    assert_eq!(store.load(&fy()).await.unwrap(), records());
    assert_eq!(store.history(KR1).await.unwrap(), history);
    assert_eq!(
        store.page_state(title).await.unwrap().unwrap().records,
        records()
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(&url(dir.path())).await.unwrap().close().await;
    // Pretend a later goalsbot migrated this file to schema version 7.
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url(dir.path()))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (7, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let err = Store::open(&url(dir.path())).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<StoreError>(),
        Some(&StoreError::SchemaTooNew { found: 7, known: 1 })
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("schema version is 7") && msg.contains("the 1 this goalsbot knows"),
        "{msg}"
    );
}

#[tokio::test]
async fn urls_other_than_sqlite_are_refused_without_showing_passwords() {
    let err = Store::open("mysql://goalsbot:hunter2@tools.db.svc.wikimedia.cloud/s5__goals")
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains("goalsbot:***@"), "{msg}");
    let err = Store::open("postgres://x/y").await.unwrap_err();
    assert!(format!("{err:#}").contains("unknown URL scheme"), "{err:#}");
}

#[tokio::test]
async fn history_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    seeded(dir.path()).await.close().await;
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&url(dir.path()))
        .await
        .unwrap();
    for sql in [
        "UPDATE history SET new_value = '\"forged\"'",
        "DELETE FROM history",
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}
