//! The watcher's heartbeat (`watch --heartbeat FILE`): a file rewritten every
//! [`EVERY`] while the watcher is healthy, for the jobs framework's
//! `health-check-script` (`deploy/watch-health.sh` checks its age).
//!
//! Healthy means: the process and its runtime are alive, and the poll in
//! progress (if any) has run for less than [`LONGEST_POLL`]. A poll may
//! run a requested sync of many pages, so the file is kept fresh during a
//! poll too; a poll stuck longer than that (a hung request, a lock that
//! never comes) stops the beats, the check fails, and Kubernetes restarts
//! the container. A poll that *fails* (the wiki is down) still ends, and
//! the beats go on: restarting would not bring the wiki back. A login that
//! cannot be made again ends the watcher itself ([`crate::wiki_http`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

/// How often the file is rewritten.
pub const EVERY: Duration = Duration::from_secs(10);
/// A poll running longer than this stops the beats.
pub const LONGEST_POLL: Duration = Duration::from_secs(3600);

/// The beating file, and when the poll in progress began.
pub struct Heartbeat {
    path: PathBuf,
    /// Unix seconds when the poll in progress began; 0 between polls.
    poll_began: Arc<AtomicI64>,
    /// What the last poll came to (shown in the file).
    last: Arc<std::sync::Mutex<String>>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Starts beating into `path` (written at once, then every [`EVERY`]).
    pub fn start(path: &Path) -> anyhow::Result<Heartbeat> {
        let poll_began = Arc::new(AtomicI64::new(0));
        let last = Arc::new(std::sync::Mutex::new("no poll yet".to_string()));
        beat(path, 0, "no poll yet").map_err(|e| {
            anyhow::anyhow!("cannot write the heartbeat file {}: {e}", path.display())
        })?;
        let ticker = {
            let (path, began, last) = (path.to_path_buf(), poll_began.clone(), last.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let began = began.load(Ordering::SeqCst);
                    if !beats(began, Utc::now().timestamp()) {
                        tracing::error!(
                            "a poll has run for over {} s: the heartbeat stops, so the health check fails and the watcher is restarted",
                            LONGEST_POLL.as_secs()
                        );
                        continue;
                    }
                    let last = last.lock().map(|l| l.clone()).unwrap_or_default();
                    if let Err(e) = beat(&path, began, &last) {
                        tracing::warn!("writing the heartbeat file {}: {e}", path.display());
                    }
                }
            })
        };
        Ok(Heartbeat {
            path: path.to_path_buf(),
            poll_began,
            last,
            ticker,
        })
    }

    /// A poll begins.
    pub fn poll_begins(&self) {
        self.poll_began
            .store(Utc::now().timestamp(), Ordering::SeqCst);
    }

    /// The poll ended, `ok` or not: a beat at once.
    pub fn poll_ended(&self, ok: bool) {
        self.poll_began.store(0, Ordering::SeqCst);
        let what = format!(
            "last poll {} at {}",
            if ok { "done" } else { "failed" },
            Utc::now().to_rfc3339()
        );
        if let Err(e) = beat(&self.path, 0, &what) {
            tracing::warn!("writing the heartbeat file {}: {e}", self.path.display());
        }
        if let Ok(mut l) = self.last.lock() {
            *l = what;
        }
    }
}

impl Drop for Heartbeat {
    /// A watcher that stops takes its heartbeat with it.
    fn drop(&mut self) {
        self.ticker.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the watcher is healthy at `now` when the poll in progress began
/// at `poll_began` (unix seconds; 0 between polls).
fn beats(poll_began: i64, now: i64) -> bool {
    poll_began == 0 || now - poll_began <= LONGEST_POLL.as_secs() as i64
}

/// Writes the file whole (a new file renamed over the old one).
fn beat(path: &Path, poll_began: i64, last: &str) -> std::io::Result<()> {
    let now = Utc::now();
    let during = if poll_began == 0 {
        "between polls".to_string()
    } else {
        format!("in a poll for {} s", now.timestamp() - poll_began)
    };
    let text = format!(
        "goalsbot watch (pid {}) alive at {}, {during}; {last}\n",
        std::process::id(),
        now.to_rfc3339()
    );
    let tmp = path.with_extension("beat-tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beats_stop_only_when_a_poll_runs_too_long() {
        let hour = LONGEST_POLL.as_secs() as i64;
        assert!(beats(0, 1_000_000), "between polls");
        assert!(
            beats(1_000_000, 1_000_000 + 600),
            "a ten-minute requested sync"
        );
        assert!(beats(1_000_000, 1_000_000 + hour), "at the limit");
        assert!(!beats(1_000_000, 1_000_000 + hour + 1), "stuck");
    }

    #[tokio::test]
    async fn the_file_is_written_at_start_rewritten_after_a_poll_and_removed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alive");
        let h = Heartbeat::start(&path).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.contains("between polls; no poll yet"), "{first}");
        h.poll_begins();
        h.poll_ended(false);
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.contains("last poll failed at"), "{after}");
        drop(h);
        assert!(!path.exists());
        // A directory that cannot hold it is a clear error at start.
        let bad = dir.path().join("missing/alive");
        let err = Heartbeat::start(&bad).err().unwrap().to_string();
        assert!(err.contains("cannot write the heartbeat file"), "{err}");
    }
}
