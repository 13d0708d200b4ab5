//! Ctrl-C and SIGTERM in a writing run (`sync`, `push`): the first one asks
//! the run to stop between two saves — the save in progress ends, no other
//! starts, the run prints what it did, records itself as stopped and exits
//! 130 ([`crate::error::ExitCode::Interrupted`]). A second signal ends the
//! process at once (what was saved is safe: every save is recorded before
//! the next begins, and a kill at any point is recovered by the next run).
//!
//! Kubernetes stops a job with SIGTERM and, after a grace period, SIGKILL:
//! the first gives the run its chance to stop cleanly.

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: no signal; 1: Ctrl-C (SIGINT); 2: SIGTERM.
static SIGNAL: AtomicU8 = AtomicU8::new(0);

/// Listens for Ctrl-C and SIGTERM for the rest of the process (call once,
/// inside the runtime, before a writing run begins).
pub fn listen() {
    tokio::spawn(async {
        loop {
            let which = wait().await;
            if SIGNAL
                .compare_exchange(0, which, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                eprintln!("goalsbot: a second signal: stopping now");
                std::process::exit(crate::error::ExitCode::Interrupted as i32);
            }
            eprintln!(
                "goalsbot: {} received: stopping after the save in progress (send it again to stop at once)",
                name(which)
            );
        }
    });
}

#[cfg(unix)]
async fn wait() -> u8 {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => 1,
            _ = term.recv() => 2,
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            1
        }
    }
}

#[cfg(not(unix))]
async fn wait() -> u8 {
    let _ = tokio::signal::ctrl_c().await;
    1
}

fn name(which: u8) -> &'static str {
    if which == 2 {
        "SIGTERM"
    } else {
        "Ctrl-C (SIGINT)"
    }
}

/// Why to stop, once a signal asked for it.
pub fn requested() -> Option<String> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        which => Some(format!(
            "stopped by {} between two saves; the next run goes on from here",
            name(which)
        )),
    }
}
