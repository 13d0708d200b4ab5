//! Fault injection for crash tests: pause the process at a named point so a test can kill it there.
//!
//! Inert unless `GOALSBOT_FAULT=pause-at=POINT:N` is set, e.g.
//! `pause-at=store.apply:5` pauses inside the store transaction right after
//! its fifth change, prints `goalsbot-fault: paused at store.apply:5` on
//! stderr and sleeps for a minute: long enough for the test to SIGKILL the
//! process in the middle of the transaction, which is the point.

use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable that arms a fault.
pub const ENV_FAULT: &str = "GOALSBOT_FAULT";

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
pub fn point(point: &str, n: u64) {
    if let Some((p, at)) = armed() {
        if p == point && *at == n {
            eprintln!("goalsbot-fault: paused at {point}:{n}");
            std::thread::sleep(Duration::from_secs(60));
        }
    }
}
