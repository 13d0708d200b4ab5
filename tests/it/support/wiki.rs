//! One real MediaWiki 1.43 per test process, started on first use and gone when the process ends.
//!
//! The wiki is created by `tests/wiki/wiki.sh` (installing MediaWiki when
//! missing) and served by PHP's built-in server. The server is started from a
//! keeper thread that lives as long as the test process, under `setpriv
//! --pdeathsig KILL`, and `wiki.sh serve` puts PHP in a PID namespace of its
//! own: when the test process ends in any way (pass, panic, abort, SIGKILL)
//! the kernel kills PHP and every worker it forked. No PHP survives a test run.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::root;

/// A running test wiki: where it is and how to log in.
#[derive(Debug)]
pub struct TestWiki {
    /// Script path, e.g. `http://127.0.0.1:PORT/`.
    pub url: String,
    /// Bot password login name (`GoalsBot@goalsbot`).
    pub username: String,
    /// Bot password.
    pub password: String,
    /// The wiki's directory (database, LocalSettings.php, server log).
    pub dir: PathBuf,
    /// PHP's request log: one line per request.
    pub server_log: PathBuf,
}

/// The wiki of this test process, started on first call.
pub fn test_wiki() -> &'static TestWiki {
    static WIKI: OnceLock<TestWiki> = OnceLock::new();
    WIKI.get_or_init(|| start().unwrap_or_else(|e| panic!("cannot start the test wiki: {e}")))
}

fn start() -> Result<TestWiki, String> {
    let parent = std::env::temp_dir();
    super::clean_stale(&parent, "goalsbot-it-");
    let dir = parent.join(format!("goalsbot-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = root().join("tests/wiki/wiki.sh");
    let port = super::free_port().map_err(|e| format!("no free port: {e}"))?;

    let out = Command::new("bash")
        .arg(&script)
        .arg("create")
        .arg(&dir)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running wiki.sh create: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "wiki.sh create failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Templates the fixture pages use, loaded once here: tests loading the
    // same page concurrently race to create it.
    let mut templates: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/pages"))
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("Template%3A") && n.ends_with(".wikitext"))
        })
        .collect();
    templates.sort();
    let out = Command::new("bash")
        .arg(&script)
        .arg("load")
        .arg(&dir)
        .args(&templates)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running wiki.sh load: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "loading templates failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let env = super::parse_env(&dir.join("wiki.env"))?;
    let get = |k: &str| {
        env.get(k)
            .cloned()
            .ok_or_else(|| format!("wiki.env lacks {k}"))
    };

    let server_log = dir.join("server.log");
    let log = std::fs::File::create(&server_log).map_err(|e| e.to_string())?;
    // The receiver is dropped: a wiki that dies shows up as a failed connection below.
    super::serve_kept("test-wiki", script.clone(), dir.clone(), log)?;

    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "the wiki server did not listen on port {port} within 30 s; log:\n{}",
                std::fs::read_to_string(&server_log).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(TestWiki {
        url: get("GOALSBOT_TEST_WIKI_URL")?,
        username: get("GOALSBOT_USERNAME")?,
        password: get("GOALSBOT_PASSWORD")?,
        dir,
        server_log,
    })
}

impl TestWiki {
    /// Saves pages as the `Admin` user (a person, not the bot): `(title, wikitext)`.
    pub fn load_pages(&self, pages: &[(&str, &str)]) {
        let tmp = self.dir.join(format!("load-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let mut files = Vec::new();
        for (title, text) in pages {
            let encoded: String = title
                .replace(' ', "_")
                .chars()
                .map(|c| match c {
                    '/' => "%2F".to_string(),
                    '%' => "%25".to_string(),
                    c => c.to_string(),
                })
                .collect();
            let f = tmp.join(format!("{encoded}.wikitext"));
            std::fs::write(&f, text).unwrap();
            files.push(f);
        }
        self.wiki_sh(&["load"], &files);
    }

    /// Creates a (non-bot) user; creating one that exists is fine.
    pub fn create_user(&self, name: &str, password: &str) {
        let out = Command::new("bash")
            .arg(root().join("tests/wiki/wiki.sh"))
            .args(["user"])
            .arg(&self.dir)
            .args([name, password])
            .output()
            .expect("run wiki.sh user");
        // Tests share the wiki: another test may have created the user (even just now).
        let err = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            out.status.success() || err.contains("exists") || err.contains("already in use"),
            "wiki.sh user {name}: {err}"
        );
    }

    /// Echo's notifications on the wiki, oldest first: `(type, user, agent,
    /// page)` (`mention`, the user notified, who mentioned them, on which
    /// page of the main namespace, spaces as spaces).
    pub fn notifications(&self) -> Vec<(String, String, String, String)> {
        let out = Command::new("bash")
            .arg(root().join("tests/wiki/wiki.sh"))
            .arg("notifications")
            .arg(&self.dir)
            .output()
            .expect("run wiki.sh notifications");
        assert!(
            out.status.success(),
            "wiki.sh notifications: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<serde_json::Value> = if text.trim().is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        rows.iter()
            .map(|r| {
                let page = s(&r["page"]).replace('_', " ");
                (s(&r["type"]), s(&r["user"]), s(&r["agent"]), page)
            })
            .collect()
    }

    /// Saves `text` as `title`, as the existing user `user` (a real revision by them).
    pub fn edit_as(&self, user: &str, title: &str, text: &str) {
        use std::io::Write;
        let mut child = Command::new("bash")
            .arg(root().join("tests/wiki/wiki.sh"))
            .arg("edit")
            .arg(&self.dir)
            .args([user, title])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run wiki.sh edit");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "wiki.sh edit {user} {title}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates a further bot account `name` with a bot password (app id
    /// `goalsbot`) and returns that password. Call it once per name.
    pub fn create_bot(&self, name: &str) -> String {
        let out = Command::new("bash")
            .arg(root().join("tests/wiki/wiki.sh"))
            .arg("bot")
            .arg(&self.dir)
            .arg(name)
            .output()
            .expect("run wiki.sh bot");
        assert!(
            out.status.success(),
            "wiki.sh bot {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Protects `title`: only admins may edit it.
    pub fn protect(&self, title: &str) {
        let out = Command::new("bash")
            .arg(root().join("tests/wiki/wiki.sh"))
            .arg("protect")
            .arg(&self.dir)
            .arg(title)
            .output()
            .expect("run wiki.sh protect");
        assert!(
            out.status.success(),
            "wiki.sh protect {title}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Removes `name` from the bot group, as a bureaucrat removing the bot flag does.
    pub fn unbot(&self, name: &str) {
        self.wiki_sh_args(&["unbot"], &[name]);
    }

    /// Ends `name`'s sessions on the wiki (drops them from the session
    /// store, as an expiry or an emptied cache does): its next request is
    /// answered as anonymous. Returns how many there were.
    pub fn end_sessions(&self, name: &str) -> usize {
        let out = Command::new("bash")
            .arg(root().join("tests/wiki/wiki.sh"))
            .arg("endsessions")
            .arg(&self.dir)
            .arg(name)
            .output()
            .expect("run wiki.sh endsessions");
        assert!(
            out.status.success(),
            "wiki.sh endsessions {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("wiki.sh endsessions prints a count")
    }

    /// Deletes `name`'s bot passwords, as Special:BotPasswords does: its
    /// sessions stop working and it cannot log in again.
    pub fn revoke_bot_password(&self, name: &str) {
        self.wiki_sh_args(&["revoke"], &[name]);
    }

    /// Moves page `from` to `to` as Admin (`from` keeps a redirect), as a
    /// person's Special:MovePage does: a move entry in the recent changes.
    pub fn move_page(&self, from: &str, to: &str) {
        self.wiki_sh_args(&["move"], &[from, to]);
    }

    /// Deletes `title` as Admin: a delete entry in the recent changes.
    pub fn delete_page(&self, title: &str) {
        self.wiki_sh_args(&["delete"], &[title]);
    }

    /// Lifts the protection of `title`.
    pub fn unprotect(&self, title: &str) {
        self.wiki_sh_args(&["unprotect"], &[title]);
    }

    /// Hides the text of revision `revid`, as an admin's revision deletion does.
    pub fn hide_revision(&self, revid: u64) {
        self.wiki_sh_args(&["hide"], &[&revid.to_string()]);
    }

    fn wiki_sh_args(&self, cmd: &[&str], args: &[&str]) {
        let out = Command::new("bash")
            .arg(root().join("tests/wiki/wiki.sh"))
            .args(cmd)
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("run wiki.sh");
        assert!(
            out.status.success(),
            "wiki.sh {cmd:?} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn wiki_sh(&self, args: &[&str], files: &[PathBuf]) {
        let out = Command::new("bash")
            .arg(root().join("tests/wiki/wiki.sh"))
            .args(args)
            .arg(&self.dir)
            .args(files)
            .output()
            .expect("run wiki.sh");
        assert!(
            out.status.success(),
            "wiki.sh {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The request lines of the server log that mention `token` (e.g. the
    /// unique part of a test's page prefix), so a test counts its own traffic
    /// even while other tests use the same wiki.
    pub fn requests_mentioning(&self, token: &str) -> Vec<String> {
        std::fs::read_to_string(&self.server_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| (l.contains("]: GET ") || l.contains("]: POST ")) && l.contains(token))
            .map(String::from)
            .collect()
    }

    /// The request lines of the server log from these client ports
    /// (`127.0.0.1:PORT [200]: GET …`): what the wiki itself saw of the
    /// connections a [`super::proxy::Proxy`] made.
    /// Only lines after the first `from` are looked at (a port can be used again later).
    pub fn requests_from_ports(&self, from: usize, ports: &[u16]) -> Vec<String> {
        self.request_lines()
            .into_iter()
            .skip(from)
            .filter(|l| ports.iter().any(|p| l.contains(&format!(":{p} ["))))
            .collect()
    }

    /// All request lines of the server log so far (`[200]: GET /api.php?…`).
    pub fn request_lines(&self) -> Vec<String> {
        self.requests_mentioning("")
    }

    /// How many requests the server has logged so far (PHP logs "Accepted" once per request).
    pub fn server_requests(&self) -> usize {
        std::fs::read_to_string(&self.server_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" Accepted"))
            .count()
    }
}
