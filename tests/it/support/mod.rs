//! Shared helpers for the integration tests: a real throwaway MediaWiki, a real throwaway MariaDB and the goalsbot binary.

pub mod mariadb;
mod pages;
pub mod proxy;
mod setup;
pub(crate) use pages::{
    bot_edits_since, cell, latest_revid, raw, revisions, staff_save, title, with_cell,
};
pub mod wiki;
pub(crate) use setup::{deck, find_kr, page_text, Setup, QUARTERS};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use wiki::{test_wiki, TestWiki};

/// A free port on the loopback interface (bind port 0, note it, close it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Reads a `KEY=value` file written by the server scripts.
pub fn parse_env(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// Removes `PREFIX<pid>` directories of earlier test processes that are gone
/// (their servers died with them).
pub fn clean_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(prefix) {
            // `PREFIX<pid>` or `PREFIX<pid>-<name>` (a test's private server).
            let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Runs `bash SCRIPT serve DIR` (stderr to `log`) for as long as this test
/// process lives, and returns a receiver that gets the server's exit status
/// should it end early.
///
/// The server is started from a keeper thread that never ends, under
/// `setpriv --pdeathsig KILL`: PR_SET_PDEATHSIG fires when the *thread* that
/// started the child exits, so the kernel kills the server when, and only
/// when, the test process ends, however it ends. The serve scripts put the
/// server in a PID namespace of its own, so its workers go with it.
pub fn serve_kept(
    name: &str,
    script: PathBuf,
    dir: PathBuf,
    log: std::fs::File,
) -> Result<std::sync::mpsc::Receiver<std::io::Result<std::process::ExitStatus>>, String> {
    let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (exited_tx, exited_rx) = std::sync::mpsc::channel();
    let what = name.to_string();
    std::thread::Builder::new()
        .name(format!("{name}-keeper"))
        .spawn(move || {
            let child = Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "--", "bash"])
                .arg(&script)
                .arg("serve")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn();
            match child {
                Ok(mut child) => {
                    let _ = started_tx.send(Ok(()));
                    let _ = exited_tx.send(child.wait());
                    loop {
                        std::thread::park();
                    }
                }
                Err(e) => {
                    let _ = started_tx.send(Err(format!(
                        "cannot start the {what} server (is setpriv from util-linux installed?): {e}"
                    )));
                }
            }
        })
        .map_err(|e| e.to_string())?;
    started_rx.recv().map_err(|e| e.to_string())??;
    Ok(exited_rx)
}

/// The project's root directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A unique page title for one test, so tests never share pages.
pub fn unique_title(test: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "Goalsbot test/{test}/{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The outcome of running the goalsbot binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything it printed, for "never printed the secret" checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Builds a goalsbot command isolated from the developer's environment: its
/// own working directory and HOME (no stray goalsbot.toml or mwbot.toml), no
/// inherited GOALSBOT_* variables.
pub fn goalsbot(workdir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_goalsbot"));
    cmd.current_dir(workdir)
        .env("HOME", workdir)
        .env("NO_COLOR", "1");
    for (k, _) in std::env::vars() {
        if k.starts_with("GOALSBOT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs a command to its end, killing it (and failing the test) after `limit`.
///
/// Its output is read while it runs: a command that prints more than a pipe
/// holds (a dry run's diffs) would otherwise block forever on a full pipe.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> Run {
    use std::io::Read;
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start goalsbot");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for goalsbot") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "goalsbot did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs a command with a generous limit for ordinary commands.
pub fn run(cmd: Command) -> Run {
    run_with_limit(cmd, Duration::from_secs(300))
}

/// A config file for the test wiki in `dir`, with no pause between saves.
pub fn write_config(dir: &Path, wiki: &TestWiki, extra: &str) -> PathBuf {
    let path = dir.join("goalsbot.toml");
    let text = format!(
        "[wiki]\nurl = \"{}\"\nuser_agent_contact = \"goalsbot tests\"\nedit_interval_secs = 0\n\n\
         [store]\nurl = \"sqlite://{}\"\n{extra}",
        wiki.url,
        dir.join("store.sqlite").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}
