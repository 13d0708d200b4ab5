//! Any number of goalsbot processes started at the same moment on a new or
//! an older store migrate it one after the other (issue 26, item 6): on
//! SQLite in one `BEGIN EXCLUSIVE` transaction, on MariaDB under
//! `GET_LOCK`. Six real processes at once — reads (`export`, `conflicts`)
//! and tracker edits (`import`, which may meet another holding the run
//! lease: exit 4) — all succeed or wait, and the schema is whole afterwards.

use std::path::Path;
use std::process::Stdio;

use goalsbot::store::Store;

use crate::support::mariadb::test_mariadb;
use crate::support::{deck, Setup};
use crate::support::{goalsbot, run};

/// The newest migration of this build.
const SCHEMA: i64 = 12;

/// Starts six commands at once and returns each one's exit code and stderr.
fn six_at_once(s: &Setup) -> Vec<(String, i32, String)> {
    let deck = deck();
    let deck = deck.to_str().unwrap();
    let commands: [&[&str]; 6] = [
        &["export", "--format", "json"],
        &["conflicts"],
        &["import", deck],
        &["export", "--format", "csv"],
        &["conflicts"],
        &["import", deck],
    ];
    let children: Vec<_> = commands
        .iter()
        .map(|args| {
            let child = s
                .cmd(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (args.join(" "), child)
        })
        .collect();
    children
        .into_iter()
        .map(|(name, child)| {
            let out = child.wait_with_output().unwrap();
            let name = name.split(' ').take(2).collect::<Vec<_>>().join(" ");
            (
                name,
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect()
}

/// Every read exits 0; every import 0, or 4 when it met the other holding the lease.
fn assert_all_ran_or_waited(results: &[(String, i32, String)]) {
    for (name, code, stderr) in results {
        let ok = *code == 0 || (name.starts_with("import") && *code == 4);
        assert!(ok, "{name} exited {code}: {stderr}");
    }
    assert!(
        results
            .iter()
            .any(|(n, c, _)| n.starts_with("import") && *c == 0),
        "one import ran: {results:?}"
    );
}

async fn schema_is_whole(url: &str) {
    let store = Store::open(url).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA);
    store.close().await;
}

/// A store at schema 9 (the migrations before `table_checks`), as an older goalsbot left it.
async fn older_store(url: &str, kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let src = crate::support::root().join(format!("src/store/migrations/{kind}"));
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < "0010" {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(Path::new(dir.path()))
        .await
        .unwrap();
    match kind {
        "sqlite" => {
            let opts = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        _ => {
            let pool = sqlx::MySqlPool::connect(url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

fn race(name: &str, url: Option<String>, kind: &str, older: bool) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = Setup::new(name, url);
    if older {
        rt.block_on(older_store(&s.store_url, kind));
    }
    let results = six_at_once(&s);
    assert_all_ran_or_waited(&results);
    rt.block_on(schema_is_whole(&s.store_url));
    eprintln!(
        "{name}: {:?}",
        results
            .iter()
            .map(|(n, c, _)| (n.as_str(), *c))
            .collect::<Vec<_>>()
    );
}

#[test]
fn six_processes_at_once_on_an_empty_sqlite_store_all_run_or_wait() {
    race("migrate-race-sqlite", None, "sqlite", false);
}

#[test]
fn six_processes_at_once_upgrade_an_older_sqlite_store() {
    race("migrate-race-sqlite-old", None, "sqlite", true);
}

#[test]
fn six_processes_at_once_on_an_empty_mariadb_database_all_run_or_wait() {
    let Some(server) = test_mariadb() else {
        eprintln!("skipped: MariaDB is not installed");
        return;
    };
    race(
        "migrate-race-maria",
        Some(server.fresh_database("migrate_race")),
        "mysql",
        false,
    );
}

#[test]
fn six_processes_at_once_upgrade_an_older_mariadb_database() {
    let Some(server) = test_mariadb() else {
        eprintln!("skipped: MariaDB is not installed");
        return;
    };
    race(
        "migrate-race-maria-old",
        Some(server.fresh_database("migrate_race_old")),
        "mysql",
        true,
    );
}

#[test]
fn a_store_newer_than_the_binary_is_left_untouched_with_exit_code_2() {
    let s = Setup::new("migrate-newer", None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = s.store_url.clone();
    let count = |url: String| async move {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let n: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM _sqlx_migrations), \
             (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        n
    };
    rt.block_on(async {
        Store::open(&url).await.unwrap().close().await;
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({}, 'from the future', 1, x'00', 0)",
            SCHEMA + 1
        ))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
    let before = rt.block_on(count(url.clone()));
    for args in [
        &["export", "--format", "json"][..],
        &["sync"],
        &["conflicts"],
    ] {
        let r = s.run(args);
        assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
        assert!(
            r.stderr
                .contains(&format!("schema version is {}", SCHEMA + 1)),
            "{r:?}"
        );
    }
    assert_eq!(rt.block_on(count(url)), before, "the store was touched");
}

/// A config that names no reachable wiki: the commands used here read and
/// write the store only.
fn offline_config(dir: &Path, store_url: &str) -> std::path::PathBuf {
    let path = dir.join("goalsbot.toml");
    let text = format!(
        "[wiki]\nurl = \"http://127.0.0.1:9/w\"\nuser_agent_contact = \"goalsbot tests\"\n\n\
         [store]\nurl = \"{store_url}\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A process that holds the SQLite store open (the watcher) keeps SQLite's
/// own lock on the file while others open and close it, and sees what they
/// commit. The migration lock must not open and close a descriptor of the
/// database file of its own: closing any descriptor of a file drops every
/// POSIX lock the process holds on it, SQLite's included, and the next
/// process to close the store then took itself for the last one and deleted
/// the WAL and its index under the holder, which went on reading the past
/// (and writing where no one else looks).
#[test]
fn a_process_holding_the_sqlite_store_open_sees_what_others_commit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    let cfg = offline_config(dir.path(), &url);
    let bot = |args: &[&str]| {
        let mut cmd = goalsbot(dir.path());
        cmd.arg("--config")
            .arg(&cfg)
            .args(args)
            .env("GOALSBOT_OPERATOR", "Story Tester");
        let out = run(cmd);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        out
    };
    bot(&["import", deck().to_str().unwrap()]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let held = rt.block_on(Store::open(&url)).unwrap();
    let before = rt.block_on(held.export(&[], None)).unwrap();
    // Another process opens and closes the store; the holder reads on.
    bot(&["export", "--format", "json"]);
    assert_eq!(rt.block_on(held.export(&[], None)).unwrap(), before);
    // A third changes it.
    bot(&["set", KR2, "--quarter", "Q4", "--status", "complete"]);
    let on_file = bot(&["export", "--format", "json"]).stdout;
    assert_eq!(q4_status(&on_file), "complete");
    let seen = goalsbot::core::export::to_json(&rt.block_on(held.export(&[], None)).unwrap());
    assert_eq!(
        q4_status(&seen),
        "complete",
        "the process holding the store open sees the set another process committed"
    );
    assert_eq!(seen, on_file);
    rt.block_on(held.close());
}

const KR2: &str = "2020-21/front-line-defenses/kr2";

/// KR2's Q4 status in an export (JSON).
fn q4_status(export: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(export).unwrap();
    let mut krs = v["fiscal_years"][0]["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["key_results"].as_array().unwrap());
    let kr = krs.find(|k| k["id"] == KR2).unwrap();
    kr["quarters"]["Q4"]["status"].as_str().unwrap().to_string()
}
