//! Command dispatch: builds the context (config, credentials, wiki, store) each command needs.

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::config::{self, ProcessEnv};
use crate::error::ExitCode;

/// Runs one command line; `Err` carries what went wrong, the exit code follows from it.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let env = ProcessEnv;
    let loaded = config::load(cli.config.as_deref(), &env)?;
    let creds = config::credentials(&env)?;
    tracing::debug!(config = %loaded.source, user = ?creds.username(), "configuration loaded");
    match cli.command {
        Command::Doctor => crate::doctor::run(&loaded, &creds).await,
    }
}
