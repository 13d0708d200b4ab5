//! One module per command: each joins the pure core to the store and the wiki.
//!
//! A command's entry point is its `command` function, called once by
//! [`crate::app::run`]; it opens what it needs ([`Session`]), runs, prints
//! its report on stdout and returns the exit code.

pub mod doctor;
pub mod follow;
pub mod heartbeat;
pub mod new_quarter;
pub mod pull;
pub mod push;
pub mod resolve;
pub mod roll_over;
pub mod runs;
pub mod sync;
pub mod tracker;
pub mod watch;

use std::future::Future;

use anyhow::Result;

use crate::config::{Config, Credentials};
use crate::error::ExitCode;
use crate::store::Store;
use crate::wiki::Wiki;

/// How a command runs and reports: `--dry-run` and `--json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mode {
    /// Write nothing: not to the wiki, not to the store.
    pub dry_run: bool,
    /// Print the report as JSON.
    pub json: bool,
}

/// Prints a command's report on stdout: its text, or with `--json` one
/// JSON object (pretty-printed; `watch --json` prints one per line).
pub fn print_report(
    json: bool,
    text: impl FnOnce() -> String,
    value: impl FnOnce() -> serde_json::Value,
) {
    if json {
        let v = value();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into())
        );
    } else {
        print!("{}", text());
    }
}

/// What a command that uses both the store and the wiki opens: both, and a new run id.
pub struct Session {
    pub store: Store,
    pub wiki: Wiki,
    pub run_id: String,
}

impl Session {
    /// Opens the configured store and a connection to the wiki that logs in
    /// when something first needs it ([`Wiki::connect_lazily`]).
    pub async fn open(config: &Config, creds: &Credentials) -> Result<Session> {
        let store = open_store(config).await?;
        let wiki = Wiki::connect_lazily(config, creds);
        Ok(Session {
            store,
            wiki,
            run_id: runs::new_run_id(chrono::Utc::now()),
        })
    }

    /// Runs `body`, holding the writer's lease unless this is a dry run
    /// (which never waits); a scheduled run that meets another exits 0.
    pub async fn writing<Fut>(&self, config: &Config, dry_run: bool, body: Fut) -> Result<ExitCode>
    where
        Fut: Future<Output = Result<ExitCode>>,
    {
        self.leased(config, dry_run, WhenBusy::Scheduled, body)
            .await
    }

    /// [`Session::writing`] for an edit someone asked for: meeting another
    /// run is exit code 4 ([`ExitCode::Busy`]), with how to retry.
    pub async fn asked<Fut>(&self, config: &Config, dry_run: bool, body: Fut) -> Result<ExitCode>
    where
        Fut: Future<Output = Result<ExitCode>>,
    {
        self.leased(config, dry_run, WhenBusy::Asked, body).await
    }

    async fn leased<Fut>(
        &self,
        config: &Config,
        dry_run: bool,
        when_busy: WhenBusy,
        body: Fut,
    ) -> Result<ExitCode>
    where
        Fut: Future<Output = Result<ExitCode>>,
    {
        writing(&self.store, config, &self.run_id, dry_run, when_busy, body).await
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

/// What a run that meets another holding the lease (after the wait) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenBusy {
    /// A run the scheduler (or a watcher) starts: it will come again, so
    /// meeting another run is no failure (exit 0).
    Scheduled,
    /// An edit a person or a script asked for (`set`, `import`, `resolve`,
    /// `new-quarter`): not running it must not look like success (exit 4).
    Asked,
}

/// Runs `body` as run `run_id`, holding the writer's lease unless this is a
/// dry run (which never waits).
pub async fn writing<Fut>(
    store: &Store,
    config: &Config,
    run_id: &str,
    dry_run: bool,
    when_busy: WhenBusy,
    body: Fut,
) -> Result<ExitCode>
where
    Fut: Future<Output = Result<ExitCode>>,
{
    if dry_run {
        return body.await;
    }
    exclusively(store, config, run_id, when_busy, body).await
}

/// Runs `body` holding the writer's lease (one writing run at a time, see
/// [`runs::take_lease`]). When another run still holds it after the wait,
/// says which (`another run is going: RUN_ID (since …)`) and does not run:
/// exit 0 for a scheduled run (meeting another is no failure), 4 for an edit
/// someone asked for, with how to retry ([`WhenBusy`]).
pub async fn exclusively<Fut>(
    store: &Store,
    config: &Config,
    run_id: &str,
    when_busy: WhenBusy,
    body: Fut,
) -> Result<ExitCode>
where
    Fut: Future<Output = Result<ExitCode>>,
{
    let command = command_line();
    match runs::take_lease(store, &config.run, run_id, &command, true).await? {
        runs::Taken::Busy(held) => {
            let message = runs::busy_message(&held);
            match when_busy {
                WhenBusy::Scheduled => {
                    tracing::info!("{message}");
                    println!("{message}");
                    Ok(ExitCode::Ok)
                }
                WhenBusy::Asked => {
                    tracing::warn!("{message}");
                    eprintln!(
                        "{message}: this command did not run. Run it again once that run has \
                         ended (exit code 4)"
                    );
                    Ok(ExitCode::Busy)
                }
            }
        }
        runs::Taken::Held(lease) => {
            let out = body.await;
            lease.release().await;
            out
        }
    }
}

/// Refuses writing commands without credentials, saying what to set.
pub fn require_credentials(
    creds: &Credentials,
    command: &str,
) -> Result<(), crate::error::UsageError> {
    if creds.can_write() {
        return Ok(());
    }
    Err(crate::error::UsageError::new(format!(
        "{command} writes to the wiki and needs a login: set {} and {} (a bot password from Special:BotPasswords), \
         or {}, or add [auth] to ~/.config/mwbot.toml",
        crate::config::ENV_USERNAME,
        crate::config::ENV_PASSWORD,
        crate::config::ENV_OAUTH2_TOKEN
    )))
}

/// What one run of a command that reads and writes pages runs with, built
/// once per run: the configuration, the wiki and store sessions, the run
/// and its mode. `sync`, `push`, and the runs `watch` and `resolve` make
/// for on-wiki requests all hand it down.
#[derive(Clone, Copy)]
pub struct RunContext<'a> {
    pub config: &'a Config,
    pub wiki: &'a Wiki,
    pub store: &'a Store,
    pub run_id: &'a str,
    pub dry_run: bool,
    /// The bot's user name, for `{{bots|deny=…}}`.
    pub user: &'a str,
}
