//! The throwaway MariaDB harness itself: it starts, hands out fresh databases
//! the test user can use, and dies with the test process.

use std::time::Duration;

use crate::support::mariadb::{self, parse_mysql_url, test_mariadb};

#[test]
fn fresh_database_takes_a_table_through_the_cli() {
    let Some(db) = test_mariadb() else {
        eprintln!("skipped: MariaDB is not installed");
        return;
    };
    // The shared database exists and the test user can log in to it.
    let base = parse_mysql_url(&db.url);
    assert_eq!(base.database, "goalsbot_test");
    assert_eq!(base.host, "127.0.0.1");
    let out = db
        .client(&db.url)
        .arg("--execute=SELECT CURRENT_USER(), DATABASE(), @@character_set_database")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "goalsbot@127.0.0.1\tgoalsbot_test\tutf8mb4"
    );

    let a = db.fresh_database("harness test");
    let b = db.fresh_database("harness test");
    assert_ne!(a, b, "fresh databases must differ");
    let u = parse_mysql_url(&a);
    assert!(u.database.starts_with("goalsbot_harness_test_"), "{a}");
    assert_eq!(
        (u.user.as_str(), u.password.as_str()),
        (base.user.as_str(), base.password.as_str())
    );

    // Empty at first; then a table, a row and a query, as the test user over TCP.
    let run = |sql: &str| {
        let out = db
            .client(&a)
            .arg(format!("--execute={sql}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(run("SHOW TABLES"), "");
    run("CREATE TABLE goals (id INT PRIMARY KEY, title VARCHAR(200) NOT NULL) ENGINE=InnoDB");
    run("INSERT INTO goals VALUES (1, 'Reached level 3 “AMM” by Q4'), (2, 'Ünïcödé 🎯')");
    assert_eq!(
        run("SELECT id, title FROM goals ORDER BY id"),
        "1\tReached level 3 “AMM” by Q4\n2\tÜnïcödé 🎯\n"
    );
    // The other fresh database did not see it.
    let out = db.client(&b).arg("--execute=SHOW TABLES").output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    // The test user cannot reach databases outside goalsbot_*.
    let out = db
        .client(&db.url)
        .arg("--execute=CREATE DATABASE other_db")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the test user may only touch goalsbot_*"
    );
}

#[test]
#[ignore = "run as a child process by no_mariadbd_survives_a_panicking_test"]
fn panics_after_starting_mariadb() {
    let _ = test_mariadb();
    panic!("deliberate panic with the test MariaDB running");
}

/// Processes whose command line points at `dir` (mariadbd --defaults-file=DIR/my.cnf, its wrappers).
fn processes_of(dir: &std::path::Path) -> Vec<(u32, String)> {
    let needle = format!("{}/", dir.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&needle).then_some((pid, cmd))
        })
        .collect()
}

#[test]
fn no_mariadbd_survives_a_panicking_test() {
    if !mariadb::expected() {
        eprintln!("skipped: MariaDB is not installed");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let child = std::process::Command::new(exe)
        .args([
            "mariadb_harness::panics_after_starting_mariadb",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    // libtest reports a failed test's panic on stdout, the harness's notes go to stderr.
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the child test was meant to panic");
    assert!(
        output.contains("deliberate panic with the test MariaDB running"),
        "the child did not get as far as its deliberate panic:\n{output}"
    );
    let dir = std::env::temp_dir().join(format!("goalsbot-db-{pid}"));
    assert!(
        dir.join("server.log").exists(),
        "the child never started its MariaDB"
    );
    // The kernel kills the server right after the child dies; allow it a moment.
    let mut left = processes_of(&dir);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        left = processes_of(&dir);
    }
    assert!(
        left.is_empty(),
        "processes of the child's MariaDB survived the panicking test: {left:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
