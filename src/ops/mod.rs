//! One module per command: each joins the pure core to the store and the wiki.
//!
//! A command's entry point is its `command` function, called once by
//! [`crate::app::run`]; it opens what it needs ([`Session`]), runs, prints
//! its report on stdout and returns the exit code.

pub mod doctor;
pub mod new_quarter;
pub mod pull;
pub mod push;
pub mod resolve;
pub mod runs;
pub mod sync;
pub mod tracker;
pub mod watch;

use anyhow::Result;

use crate::config::{Config, Credentials};
use crate::store::Store;
use crate::wiki::Wiki;

/// What a command that uses both the store and the wiki opens: both, and a new run id.
pub struct Session {
    pub store: Store,
    pub wiki: Wiki,
    pub run_id: String,
}

impl Session {
    /// Opens the configured store, then connects to the wiki (logging in when there are credentials).
    pub async fn open(config: &Config, creds: &Credentials) -> Result<Session> {
        let store = open_store(config).await?;
        let wiki = match Wiki::connect(config, creds).await {
            Ok(w) => w,
            Err(e) => {
                store.close().await;
                return Err(e);
            }
        };
        Ok(Session {
            store,
            wiki,
            run_id: runs::new_run_id(chrono::Utc::now()),
        })
    }

    /// Closes the store (the wiki needs no goodbye).
    pub async fn close(self) {
        self.store.close().await;
    }
}

/// Opens the configured store (its errors name the store, password masked).
pub async fn open_store(config: &Config) -> Result<Store> {
    Store::open(&config.store.url).await
}

/// The command line as typed, for the provenance of tracker edits and the run log.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("goalsbot {}", args.join(" "))
}
