//! One real MariaDB server per test process, started on first use and gone when the process ends.
//!
//! The server is created by `tests/db/mariadb.sh` in a directory of its own
//! (`$TMPDIR/goalsbot-db-PID`) and runs Debian's `mariadbd`. As with the test
//! wiki, it is started from a keeper thread that lives as long as the test
//! process, under `setpriv --pdeathsig KILL`, and `mariadb.sh serve` puts
//! `mariadbd` in a PID namespace of its own: when the test process ends in any
//! way (pass, panic, abort, SIGKILL) the kernel kills the server. No `mariadbd`
//! survives a test run.
//!
//! Without MariaDB installed, [`test_mariadb`] returns `None` and tests skip
//! themselves, unless `GOALSBOT_REQUIRE_MARIADB` is set (CI sets it): then a
//! missing or broken MariaDB fails every test that asks for it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::root;

/// The environment variable that turns "MariaDB missing" from a skip into a failure.
pub const REQUIRE_VAR: &str = "GOALSBOT_REQUIRE_MARIADB";

/// How long the server may take to accept a login.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A running test MariaDB server.
#[derive(Debug)]
pub struct TestMariaDb {
    /// `mysql://goalsbot:PASSWORD@127.0.0.1:PORT/goalsbot_test`: the test
    /// user, who has all rights on the databases named `goalsbot_*`.
    pub url: String,
    /// The server's directory: `data/`, `my.cnf`, `db.env`, `server.log`, the socket.
    pub dir: PathBuf,
}

/// The MariaDB server of this test process, started on first call.
///
/// `None` only when MariaDB is not installed and `GOALSBOT_REQUIRE_MARIADB`
/// is not set; a test then returns early. Panics, with the reason, when
/// MariaDB is required but missing, or installed but fails to start.
pub fn test_mariadb() -> Option<&'static TestMariaDb> {
    static DB: OnceLock<Result<Option<TestMariaDb>, String>> = OnceLock::new();
    // The outcome is kept, failure included: one failed start is reported by
    // every test that asks, without each trying again.
    let outcome = DB.get_or_init(|| {
        if !installed() {
            if required() {
                return Err(format!(
                    "{REQUIRE_VAR} is set but MariaDB is not installed (no mariadbd, \
                     mariadb-install-db or mariadb found): run `bash tests/db/install-mariadb.sh`"
                ));
            }
            eprintln!(
                "note: MariaDB is not installed; tests that need it are skipped \
                 (install it with `bash tests/db/install-mariadb.sh`, \
                 set {REQUIRE_VAR}=1 to make this a failure)"
            );
            return Ok(None);
        }
        start().map(Some)
    });
    match outcome {
        Ok(db) => db.as_ref(),
        Err(e) => panic!("cannot start the test MariaDB: {e}"),
    }
}

/// Whether [`test_mariadb`] will try to start a server (rather than return `None`).
pub fn expected() -> bool {
    installed() || required()
}

fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Looks for a program in `PATH` and in the sbin directories, where Debian
/// puts `mariadbd` out of an ordinary user's `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn installed() -> bool {
    ["mariadbd", "mariadb-install-db", "mariadb"]
        .iter()
        .all(|p| find_program(p).is_some())
}

fn script() -> PathBuf {
    root().join("tests/db/mariadb.sh")
}

fn start() -> Result<TestMariaDb, String> {
    let parent = std::env::temp_dir();
    super::clean_stale(&parent, "goalsbot-db-");
    let dir = parent.join(format!("goalsbot-db-{}", std::process::id()));
    // The port is free when asked for but only taken when mariadbd starts; if
    // someone else takes it in between, start over on another port.
    let mut attempt = 1;
    loop {
        match start_once(&dir) {
            Err(Start::PortTaken(log)) if attempt < 3 => {
                eprintln!("test MariaDB: port taken, trying another ({log})");
                attempt += 1;
            }
            Err(Start::PortTaken(log)) | Err(Start::Failed(log)) => return Err(log),
            Ok(db) => return Ok(db),
        }
    }
}

/// A MariaDB server of this test's own (not the shared one), for a test
/// that kills and restarts it; `None` like [`test_mariadb`]. It dies with the
/// test process like the shared one.
pub fn private_mariadb(name: &str) -> Option<TestMariaDb> {
    if !installed() {
        assert!(
            !required(),
            "{REQUIRE_VAR} is set but MariaDB is not installed"
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("goalsbot-db-{}-{name}", std::process::id()));
    match start_once(&dir) {
        Ok(db) => Some(db),
        Err(Start::PortTaken(log)) | Err(Start::Failed(log)) => {
            panic!("cannot start a private MariaDB: {log}")
        }
    }
}

enum Start {
    PortTaken(String),
    Failed(String),
}

impl From<String> for Start {
    fn from(e: String) -> Self {
        Start::Failed(e)
    }
}

fn start_once(dir: &Path) -> Result<TestMariaDb, Start> {
    let _ = std::fs::remove_dir_all(dir);
    let port = super::free_port().map_err(|e| format!("no free port: {e}"))?;
    let started = Instant::now();

    // Under a parent-death signal (mariadb.sh create moves into a PID
    // namespace of its own): killed mid-create, the test process leaves no
    // mariadb-install-db or bootstrap mariadbd behind.
    let out = Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--", "bash"])
        .arg(script())
        .arg("create")
        .arg(dir)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running mariadb.sh create: {e}"))?;
    if !out.status.success() {
        return Err(Start::Failed(format!(
            "mariadb.sh create failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let env = super::parse_env(&dir.join("db.env"))?;
    let url = env
        .get("GOALSBOT_TEST_MYSQL_URL")
        .cloned()
        .ok_or_else(|| "db.env lacks GOALSBOT_TEST_MYSQL_URL".to_string())?;

    let server_log = dir.join("server.log");
    let log = std::fs::File::create(&server_log).map_err(|e| e.to_string())?;
    let exited_rx = super::serve_kept("test-mariadb", script(), dir.to_path_buf(), log)?;

    let db = TestMariaDb {
        url,
        dir: dir.to_path_buf(),
    };
    let deadline = started + START_LIMIT;
    let mut last_error = String::from("the port never accepted a connection");
    loop {
        if let Ok(status) = exited_rx.try_recv() {
            let log = std::fs::read_to_string(&server_log).unwrap_or_default();
            let msg = format!("mariadbd exited ({status:?}) before accepting a login; log:\n{log}");
            return Err(
                if log.contains("Address already in use")
                    || log.contains("Do you already have another")
                {
                    Start::PortTaken(msg)
                } else {
                    Start::Failed(msg)
                },
            );
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Listening is not enough: the login proves init.sql has made the user.
            match db.client(&db.url).arg("--execute=SELECT 1").output() {
                Ok(out) if out.status.success() => break,
                Ok(out) => last_error = String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => last_error = format!("cannot run the mariadb client: {e}"),
            }
        }
        if Instant::now() > deadline {
            return Err(Start::Failed(format!(
                "the test MariaDB on port {port} did not accept a login within {START_LIMIT:?} \
                 ({last_error}); log:\n{}",
                std::fs::read_to_string(&server_log).unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "test MariaDB ready on port {port} after {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(db)
}

/// The parts of a `mysql://user:password@host:port/database` URL.
#[derive(Debug, Clone)]
pub struct MysqlUrl {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
}

/// Splits a `mysql://` URL into its parts, percent-decoded.
pub fn parse_mysql_url(url: &str) -> MysqlUrl {
    let u = url::Url::parse(url).unwrap_or_else(|e| panic!("bad MySQL URL {url:?}: {e}"));
    assert_eq!(u.scheme(), "mysql", "not a mysql:// URL: {url}");
    MysqlUrl {
        user: percent_decode(u.username()),
        password: percent_decode(u.password().unwrap_or("")),
        host: u.host_str().unwrap_or("127.0.0.1").to_string(),
        port: u.port().unwrap_or(3306),
        database: u.path().trim_start_matches('/').to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let byte = (b[i] == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match byte {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TestMariaDb {
    /// SIGKILLs the server, as a crash or the OOM killer would, and waits
    /// until it is gone.
    pub fn kill(&self) {
        let pattern = format!("--defaults-file={}/my.cnf", self.dir.display());
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", "--"])
            .arg(&pattern)
            .status();
        let deadline = Instant::now() + START_LIMIT;
        while Command::new("pgrep")
            .args(["-f", "--"])
            .arg(&pattern)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(Instant::now() < deadline, "the test MariaDB did not die");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts a killed server again on its data (InnoDB's crash recovery)
    /// and waits until the test user can log in.
    pub fn restart(&self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        super::serve_kept("test-mariadb", script(), self.dir.clone(), log).unwrap();
        let deadline = Instant::now() + START_LIMIT;
        loop {
            match self.client(&self.url).arg("--execute=SELECT 1").output() {
                Ok(out) if out.status.success() => return,
                _ => assert!(
                    Instant::now() < deadline,
                    "the test MariaDB did not come back; log:\n{}",
                    std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                ),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl TestMariaDb {
    /// Creates a new, empty database for one test and returns its URL (same
    /// user as [`TestMariaDb::url`]). Names are unique within the server:
    /// `goalsbot_NAME_N`, with `NAME` reduced to `[a-z0-9_]`.
    pub fn fresh_database(&self, name: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let mut clean: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        clean.truncate(40);
        let db = format!("goalsbot_{clean}_{}", N.fetch_add(1, Ordering::Relaxed));
        self.root_sql(&format!("CREATE DATABASE `{db}`"));
        let mut url = url::Url::parse(&self.url).expect("the test URL parses");
        url.set_path(&format!("/{db}"));
        url.to_string()
    }

    /// Runs SQL as the server's root user (over the socket) and returns what it printed.
    pub fn root_sql(&self, sql: &str) -> String {
        let out = Command::new("bash")
            .arg(script())
            .arg("sql")
            .arg(&self.dir)
            .args(["--batch", "--skip-column-names", "--execute"])
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .expect("run mariadb.sh sql");
        assert!(
            out.status.success(),
            "root SQL {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The `mariadb` command-line client, logged in over TCP with the
    /// credentials and database of `url` (the password passes through the
    /// environment, not the command line). Add `--execute=SQL` or stdin.
    pub fn client(&self, url: &str) -> Command {
        let u = parse_mysql_url(url);
        let mut cmd = Command::new(find_program("mariadb").unwrap_or_else(|| "mariadb".into()));
        cmd.arg("--no-defaults")
            .arg("--protocol=TCP")
            .arg(format!("--host={}", u.host))
            .arg(format!("--port={}", u.port))
            .arg(format!("--user={}", u.user))
            .arg("--connect-timeout=5")
            .arg("--default-character-set=utf8mb4")
            .arg("--batch")
            .arg("--skip-column-names")
            .arg(format!("--database={}", u.database))
            .env("MYSQL_PWD", u.password)
            .stdin(Stdio::null());
        cmd
    }
}
