//! Command dispatch: builds the context (config, credentials, wiki, store) each command needs.

use std::io::Write as _;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::cli::{Cli, Command, ExportFormat};
use crate::config::{self, mask_url, Config, ProcessEnv};
use crate::error::ExitCode;
use crate::store::Store;
use crate::wiki::Wiki;

/// Runs one command line; `Err` carries what went wrong, the exit code follows from it.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let env = ProcessEnv;
    let loaded = config::load(cli.config.as_deref(), &env)?;
    let creds = config::credentials(&env)?;
    tracing::debug!(config = %loaded.source, user = ?creds.username(), "configuration loaded");
    let config = &loaded.config;
    match cli.command {
        Command::Doctor => crate::doctor::run(&loaded, &creds).await,
        Command::Pull {
            fiscal_years,
            pages,
        } => {
            let targets = crate::pull::targets(config, &fiscal_years, &pages)?;
            let store = open_store(config).await?;
            let wiki = Wiki::connect(config, &creds).await?;
            let run_id = crate::pull::new_run_id(Utc::now());
            let report = crate::pull::pull(&wiki, &store, &targets, &run_id, cli.dry_run).await?;
            store.close().await;
            print!("{}", report.render());
            Ok(report.exit_code())
        }
        Command::Export {
            format,
            fiscal_years,
            as_of,
        } => {
            let store = open_store(config).await?;
            let export = store.export(&fiscal_years, as_of).await?;
            store.close().await;
            let text = match format {
                ExportFormat::Json => crate::export::to_json(&export),
                ExportFormat::Csv => crate::export::to_csv(&export),
            };
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a failure exit.
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(ExitCode::Ok),
            }
        }
    }
}

/// Opens the configured store, saying which one when that fails.
async fn open_store(config: &Config) -> Result<Store> {
    Store::open(&config.store.url)
        .await
        .with_context(|| format!("cannot open the store {}", mask_url(&config.store.url)))
}
