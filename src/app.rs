//! Command dispatch: loads the configuration and credentials, then one call per command into `ops`.

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::config::{self, Env, ProcessEnv};
use crate::error::{ExitCode, UsageError};
use crate::ops::{self, tracker::SetRequest};

/// Runs one command line; `Err` carries what went wrong, the exit code follows from it.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let env = ProcessEnv;
    let mut loaded = load_config(&cli, &env)?;
    let dry_run = dry_run_of(&cli)?;
    // Neither a dry run nor a read creates the store file.
    let reads_only = matches!(
        cli.command,
        Command::Runs { .. } | Command::Conflicts { .. } | Command::Export { .. }
    );
    if dry_run || reads_only {
        dry_run_store(&mut loaded.config);
    }
    let creds = config::credentials(&env)?;
    tracing::debug!(config = %loaded.source, user = ?creds.username(), "configuration loaded");
    let mode = ops::Mode {
        dry_run,
        json: cli.command.json(),
    };
    dispatch(cli.command, &loaded, &creds, mode).await
}

/// The configuration file (or defaults) with `--wiki` applied; a command
/// that uses the wiki refuses to guess one when nothing names it.
fn load_config(cli: &Cli, env: &ProcessEnv) -> Result<config::Loaded> {
    let mut loaded = config::load(cli.config.as_deref(), env)?;
    if let Some(url) = &cli.wiki {
        loaded.config.wiki.url = url.clone();
        loaded
            .config
            .validate(std::path::Path::new("(with --wiki)"))?;
    } else if loaded.source == config::ConfigSource::Defaults
        && env.var(config::ENV_WIKI_URL).is_none()
        && cli.command.uses_the_wiki()
    {
        return Err(UsageError::new(format!(
            "no configuration: goalsbot looked for --config FILE, ${} and ./goalsbot.toml \
             and found none, and will not guess which wiki to work on. Copy \
             config/goalsbot.example.toml to ./goalsbot.toml (config/mediawiki.org.toml is \
             the production setup), or say the wiki with --wiki URL (or ${})",
            config::ENV_CONFIG,
            config::ENV_WIKI_URL
        ))
        .into());
    }
    Ok(loaded)
}

/// Whether this is a dry run (`--dry-run` before or after the command); a
/// usage error for a command that has no dry run.
fn dry_run_of(cli: &Cli) -> Result<bool> {
    Ok(match cli.command.dry_run() {
        Some(own) => own || cli.dry_run,
        None if cli.dry_run => {
            let why = match cli.command {
                Command::Watch { .. } => "it answers on the wiki; try `sync --dry-run`",
                _ => "it writes nothing",
            };
            return Err(UsageError::new(format!(
                "--dry-run means nothing for `{}`: {why}",
                cli.command.name()
            ))
            .into());
        }
        None => false,
    })
}

/// One call into `ops` for the command.
async fn dispatch(
    command: Command,
    loaded: &config::Loaded,
    creds: &config::Credentials,
    mode: ops::Mode,
) -> Result<ExitCode> {
    let config = &loaded.config;
    match command {
        Command::Doctor { json } => ops::doctor::run(loaded, creds, json).await,
        Command::Serve { listen } => crate::web::command(config, listen.as_deref()).await,
        Command::Pull {
            fiscal_years,
            pages,
            accept,
            ..
        } => ops::pull::command(config, creds, &fiscal_years, &pages, &accept, mode).await,
        Command::Push {
            fiscal_years,
            pages,
            ..
        } => ops::push::command(config, creds, &fiscal_years, &pages, mode).await,
        Command::Sync { fiscal_years, .. } => {
            ops::sync::command(config, creds, &fiscal_years, mode).await
        }
        Command::Watch {
            once,
            interval,
            heartbeat,
            ..
        } => ops::watch::command(config, creds, once, interval, heartbeat.as_deref(), mode).await,
        Command::Runs { limit, json } => ops::runs::runs_command(config, limit, json).await,
        Command::Conflicts { all, json } => {
            ops::tracker::conflicts_command(config, all, json).await
        }
        Command::Resolve { id, take, .. } => {
            ops::resolve::command(config, creds, id, take.into(), mode).await
        }
        Command::RollOver { today, .. } => {
            ops::roll_over::command(config, creds, today, mode).await
        }
        Command::NewQuarter {
            fiscal_year,
            quarter,
            ..
        } => ops::new_quarter::command(config, creds, &fiscal_year, quarter, mode).await,
        Command::Set {
            kr_id,
            quarter,
            status,
            note,
            year_goal,
            baseline,
            text,
            title,
            description,
            manager,
            no_managers,
            objective,
            goal,
            no_goals,
            ..
        } => {
            let req = SetRequest {
                kr_id,
                quarter,
                status,
                note,
                year_goal,
                baseline,
                text,
                title,
                description,
                managers: (no_managers || !manager.is_empty()).then_some(manager),
                objective,
                goals: (no_goals || !goal.is_empty()).then_some(goal),
            };
            ops::tracker::set_command(config, req, mode).await
        }
        Command::Import { file, format, .. } => {
            ops::tracker::import_command(config, &file, format, mode).await
        }
        Command::Export {
            format,
            fiscal_years,
            as_of,
        } => ops::tracker::export_command(config, format, &fiscal_years, as_of).await,
    }
}

/// A dry run writes nothing, a store file included, and a read (`runs`,
/// `conflicts`, `export`) creates nothing: when the configured SQLite file
/// does not exist yet, the command reads an empty store in memory instead
/// of creating the file.
fn dry_run_store(config: &mut config::Config) {
    let Some(path) = crate::store::sqlite_file(&config.store.url) else {
        return;
    };
    if !path.exists() {
        tracing::info!(
            store = %path.display(),
            "the store file does not exist and this command creates none: it reads an empty store in memory"
        );
        config.store.url = "sqlite::memory:".into();
    }
}
