//! Fault injection for crash tests: pause the process at a named point so a test can kill it there.
//!
//! Compiled in only with the `fault-injection` feature, which the tests turn
//! on (`Cargo.toml`: the package is its own dev-dependency with that
//! feature); a release build has empty [`point`] and [`reached`] and never
//! reads the environment. With the feature, inert unless
//! `GOALSBOT_FAULT=pause-at=POINT:N` is set, e.g.
//! `pause-at=store.apply:5` pauses inside the store transaction right after
//! its fifth change, prints `goalsbot-fault: paused at store.apply:5` on
//! stderr and sleeps for a minute: long enough for the test to SIGKILL the
//! process in the middle of the transaction, which is the point. With
//! `GOALSBOT_FAULT_RESUME=FILE` the pause ends as soon as FILE exists, so a
//! test can act in the pause (e.g. save the page as a person) and let the
//! bot go on.
//!
//! Points: `store.apply` (after each change inside a store write),
//! `push.before-save` and `push.after-save` (around each save of a quarter
//! page; counted by [`reached`]), `watch.claimed` (before a claimed request
//! is run), `watch.ran` (after its action ran, before its reply is kept)
//! `watch.replied` (after its reply is saved, before it is marked
//! answered), `watch.followed` (after a run that following changes asked
//! for, before the watcher's position moves) and `wiki.before-edit` (just
//! before any save is sent, after the pause between saves).

#[cfg(feature = "fault-injection")]
use std::sync::OnceLock;
#[cfg(feature = "fault-injection")]
use std::time::Duration;

/// The environment variable that arms a fault.
pub const ENV_FAULT: &str = "GOALSBOT_FAULT";
/// The environment variable naming the file whose existence ends a pause.
pub const ENV_RESUME: &str = "GOALSBOT_FAULT_RESUME";

#[cfg(feature = "fault-injection")]
fn armed() -> Option<&'static (String, u64)> {
    static FAULT: OnceLock<Option<(String, u64)>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let spec = std::env::var(ENV_FAULT).ok()?;
            let (point, n) = spec.strip_prefix("pause-at=")?.rsplit_once(':')?;
            Some((point.to_string(), n.parse().ok()?))
        })
        .as_ref()
}

/// Marks reaching `point` for the `n`th time; pauses there when that fault is armed.
#[cfg(feature = "fault-injection")]
pub fn point(point: &str, n: u64) {
    if let Some((p, at)) = armed() {
        if p == point && *at == n {
            eprintln!("goalsbot-fault: paused at {point}:{n}");
            let resume = std::env::var_os(ENV_RESUME).map(std::path::PathBuf::from);
            let until = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < until {
                if resume.as_deref().is_some_and(|f| f.exists()) {
                    eprintln!("goalsbot-fault: resumed at {point}:{n}");
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Marks reaching `point` once more (counted per point in this process); see [`point`].
#[cfg(feature = "fault-injection")]
pub fn reached(point: &str) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static COUNTS: OnceLock<Mutex<HashMap<String, u64>>> = OnceLock::new();
    if armed().is_none() {
        return;
    }
    let n = {
        let mut counts = COUNTS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(point.to_string()).or_insert(0);
        *n += 1;
        *n
    };
    self::point(point, n);
}

/// Without the `fault-injection` feature: nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_point: &str, _n: u64) {}

/// Without the `fault-injection` feature: nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn reached(_point: &str) {}
