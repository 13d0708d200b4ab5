//! The database lost in the middle of a run (issue 17): the MariaDB server
//! SIGKILLed during a pull's store transaction and during a push, then
//! restarted (InnoDB's crash recovery). The run exits 1 naming the store,
//! nothing is half-written, and the rerun ends where an undisturbed run does,
//! with one bot edit per page.

use serde_json::Value;

use crate::support::bot_edits_since;
use crate::support::mariadb::private_mariadb;
use crate::support::{deck, Setup, QUARTERS};
use crate::tracker::run_paused as paused;

/// The export with the setup's page prefix written as `PREFIX`, to compare two setups.
fn export_of(s: &Setup) -> String {
    serde_json::to_string_pretty(&s.export(&[]))
        .unwrap()
        .replace(&s.prefix, "PREFIX")
}

#[test]
fn mariadb_killed_mid_pull_and_mid_push_exits_1_naming_the_store_and_a_rerun_converges() {
    let Some(db) = private_mariadb("lost") else {
        return;
    };
    // What an undisturbed run ends with (SQLite, its own pages).
    let reference = Setup::new("db-lost-ref", None);
    reference.ok(&["import", deck().to_str().unwrap()]);
    reference.ok(&["sync"]);
    let want = export_of(&reference);

    let s = Setup::new("db-lost", Some(db.fresh_database("lost")));
    // A run that lost its store cannot give its lease back: the next one
    // waits for it to expire (3 s here).
    crate::lease::with_lease(&s, 3, 30);
    s.ok(&["import", deck().to_str().unwrap()]);
    let before = s.export(&[]);

    // 1. Killed inside the pull's first page transaction.
    let resume = s.dir.path().join("resume-pull");
    let (code, out, err) = paused(s.cmd(&["sync"]), "store.apply:3", &resume, || db.kill());
    assert_eq!(code, Some(1), "stdout: {out}\nstderr: {err}");
    assert!(
        format!("{out}\n{err}").contains("store"),
        "the failure names the store: {out}\n{err}"
    );
    db.restart();
    assert_eq!(
        s.export(&[]),
        before,
        "nothing of the killed transaction is in the store"
    );

    // 2. Killed in the push, after the first save and before the second.
    let resume = s.dir.path().join("resume-push");
    let (code, out, err) = paused(s.cmd(&["sync"]), "push.before-save:2", &resume, || {
        db.kill()
    });
    assert_eq!(code, Some(1), "stdout: {out}\nstderr: {err}");
    assert!(format!("{out}\n{err}").contains("store"), "{out}\n{err}");
    db.restart();

    // The rerun converges: the undisturbed run's records, one bot edit per page.
    let rerun = s.ok(&["sync", "--json"]);
    let stats: Value = serde_json::from_str(&rerun).unwrap();
    assert_eq!(stats["conflicts"], 0, "{stats}");
    assert_eq!(export_of(&s), want);
    let mut pages: Vec<String> = QUARTERS
        .iter()
        .map(|q| format!("{}/2020-21 {q}", s.prefix))
        .collect();
    pages.push(format!("{}/2020-21", s.prefix));
    for title in &pages {
        let edits = bot_edits_since(title, 0);
        assert_eq!(edits.len(), 1, "{title}: one bot edit: {edits:?}");
    }
    let again = s.ok(&["sync", "--json"]);
    let stats: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(stats["edits"], 0, "{stats}");
}

/// SQLite's file locked by another process (a backup, a person's
/// `sqlite3` session): a writing run waits a little, then stops with a clear
/// error; nothing is written, and the run goes through once the lock is gone.
#[test]
fn a_sqlite_file_locked_by_another_process_is_a_clear_error_and_no_damage() {
    use sqlx::Connection;
    let s = Setup::new("db-locked", None);
    s.ok(&["import", deck().to_str().unwrap()]);
    let before = s.export(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let path = s.store_url.trim_start_matches("sqlite://").to_string();
    let mut holder = rt.block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut c)
            .await
            .unwrap();
        c
    });
    let out = s.run(&[
        "set",
        "2020-21/front-line-defenses/kr2",
        "--quarter",
        "Q4",
        "--status",
        "complete",
    ]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("locked") && out.stderr.contains("store"),
        "the error says the store is locked: {out:?}"
    );
    rt.block_on(async {
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
        holder.close().await.unwrap();
    });
    assert_eq!(s.export(&[]), before, "nothing was written");
    s.ok(&[
        "set",
        "2020-21/front-line-defenses/kr2",
        "--quarter",
        "Q4",
        "--status",
        "complete",
    ]);
    assert_ne!(s.export(&[]), before);
}
