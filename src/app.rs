//! Command dispatch: builds the context (config, credentials, wiki, store) each command needs.

use std::io::Write as _;

use anyhow::Result;
use chrono::Utc;

use crate::cli::{Cli, Command, ExportFormat};
use crate::config::{self, Config, ProcessEnv};
use crate::error::{ExitCode, UsageError};
use crate::ops::tracker::{self, SetRequest};
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
        Command::Doctor => crate::ops::doctor::run(&loaded, &creds).await,
        Command::Pull {
            fiscal_years,
            pages,
        } => {
            let targets = crate::ops::pull::targets(config, &fiscal_years, &pages)?;
            let (store, wiki, run_id) = connect_both(config, &creds).await?;
            let opts = crate::ops::pull::Options {
                run_id: &run_id,
                dry_run: cli.dry_run,
                max_removed_share: config.pages.max_removed_share,
            };
            let report = crate::ops::pull::pull(&wiki, &store, &targets, &opts).await?;
            store.close().await;
            print!("{}", report.render());
            Ok(report.exit_code())
        }
        Command::Push {
            fiscal_years,
            pages,
        } => {
            if !cli.dry_run {
                // A dry run only reads: anonymous reads are enough.
                crate::ops::push::require_credentials(&creds, "push")?;
            }
            let (store, wiki, run_id) = connect_both(config, &creds).await?;
            let ctx = crate::ops::push::PushContext {
                config,
                wiki: &wiki,
                store: &store,
                run_id: &run_id,
                dry_run: cli.dry_run,
                user: wiki.user_name().unwrap_or_default(),
                revisions: None,
                overlay: None,
            };
            let report = crate::ops::push::push(&ctx, &fiscal_years, &pages).await?;
            store.close().await;
            print!("{}", report.render());
            Ok(report.exit_code())
        }
        Command::Sync { fiscal_years, json } => {
            if !cli.dry_run {
                // A dry run only reads: anonymous reads are enough.
                crate::ops::push::require_credentials(&creds, "sync")?;
            }
            let (store, wiki, run_id) = connect_both(config, &creds).await?;
            let span = tracing::info_span!("run", run_id = %run_id);
            let _guard = span.enter();
            let ctx = crate::ops::sync::SyncContext {
                config,
                wiki: &wiki,
                store: &store,
                run_id: &run_id,
                dry_run: cli.dry_run,
                user: wiki.user_name().unwrap_or_default(),
            };
            let started = Utc::now();
            let command = command_line();
            if !cli.dry_run {
                crate::ops::runs::mark_running(&store, &run_id, &command).await?;
            }
            let report = match crate::ops::sync::sync(&ctx, &fiscal_years).await {
                Ok(r) => r,
                Err(e) => {
                    // Say so on the status page when the wiki still answers.
                    if !cli.dry_run {
                        let s =
                            crate::ops::runs::failed_summary(&run_id, command, None, started, &e);
                        if let Err(p) = crate::ops::runs::publish(config, &wiki, &store, &s).await {
                            tracing::warn!("the status page was not updated: {p:#}");
                        }
                    }
                    store.close().await;
                    return Err(e);
                }
            };
            if report.stopped.is_some() && !cli.dry_run {
                crate::ops::runs::record_stopped(&store, &run_id, &command).await?;
            }
            if report.stopped.is_none() {
                let summary =
                    crate::ops::sync::sync_summary(&store, &report, command, None, started).await?;
                if let Err(e) = crate::ops::runs::publish(config, &wiki, &store, &summary).await {
                    tracing::warn!("the run is done, but the status page was not updated: {e:#}");
                }
            }
            store.close().await;
            if json {
                print!("{}", report.to_json());
            } else {
                print!("{}", report.render());
            }
            Ok(report.exit_code())
        }
        Command::Watch { once, interval } => {
            crate::ops::push::require_credentials(&creds, "watch")?;
            if cli.dry_run {
                return Err(UsageError::new(
                    "watch has no --dry-run: it answers on the wiki; try `sync --dry-run`",
                )
                .into());
            }
            let (store, wiki, _) = connect_both(config, &creds).await?;
            // Every push a request runs looks at the shutoff page before each save.
            let wiki = wiki.obeying_shutoff();
            let ctx = crate::ops::watch::WatchContext {
                config,
                wiki: &wiki,
                store: &store,
                user: wiki.user_name().unwrap_or_default(),
                rate_limit: crate::core::requests::RateLimit {
                    per_user_per_hour: config.commands.max_requests_per_user_per_hour,
                    per_hour: config.commands.max_requests_per_hour,
                },
            };
            let every = std::time::Duration::from_secs(
                interval
                    .unwrap_or(config.commands.poll_interval_secs)
                    .max(1),
            );
            let report = crate::ops::watch::run(&ctx, once, every).await;
            store.close().await;
            let report = report?;
            if once {
                print!("{}", report.render());
            }
            Ok(ExitCode::Ok)
        }
        Command::Conflicts { all, json } => {
            let store = open_store(config).await?;
            let list = store.conflicts(all).await?;
            store.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no conflicts{}", if all { "" } else { " waiting" });
            } else {
                for c in &list {
                    let mut line = crate::ops::sync::describe_conflict(c);
                    if let Some(r) = &c.resolution {
                        line.push_str(&format!(
                            " — resolved: {} by {} at {} (run {})",
                            r.how,
                            r.by,
                            r.at.to_rfc3339(),
                            r.run_id
                        ));
                    }
                    println!("{line}");
                }
                let waiting = list.iter().filter(|c| c.resolution.is_none()).count();
                if waiting > 0 {
                    println!("settle one with: goalsbot resolve ID --take wiki|store");
                }
            }
            Ok(ExitCode::Ok)
        }
        Command::Resolve { id, take } => {
            // Reads the conflict's page first (anonymously is enough).
            let (store, wiki, _) = connect_both(config, &creds).await?;
            let out = crate::ops::sync::resolve(
                &store,
                Some((config, &wiki)),
                id,
                take,
                &command_line(),
                cli.dry_run,
            )
            .await;
            store.close().await;
            let (text, code) = out?;
            print!("{text}");
            Ok(code)
        }
        Command::NewQuarter {
            fiscal_year,
            quarter,
        } => {
            crate::ops::push::require_credentials(&creds, "new-quarter")?;
            let (store, wiki, run_id) = connect_both(config, &creds).await?;
            let out = crate::ops::push::new_quarter(
                config,
                &wiki,
                &store,
                &fiscal_year,
                quarter,
                &run_id,
                cli.dry_run,
            )
            .await?;
            store.close().await;
            print!("{out}");
            Ok(ExitCode::Ok)
        }
        Command::Set {
            kr_id,
            quarter,
            status,
            note,
            year_goal,
            baseline,
        } => {
            let req = SetRequest {
                kr_id,
                quarter,
                status,
                note,
                year_goal,
                baseline,
            };
            let fy = crate::store::record_fiscal_year(&req.kr_id)
                .map_err(|e| UsageError::new(format!("{e:#}")))?;
            let store = open_store(config).await?;
            let current = store.load_fields(&fy).await?;
            let changes = tracker::set_changes(&req, &current)?;
            let report = tracker::commit(&store, changes, &command_line(), cli.dry_run).await?;
            store.close().await;
            print!("{}", report.render());
            Ok(ExitCode::Ok)
        }
        Command::Import { file, format } => {
            let format = format.unwrap_or_else(|| {
                if file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
                {
                    ExportFormat::Csv
                } else {
                    ExportFormat::Json
                }
            });
            let text = std::fs::read_to_string(&file)
                .map_err(|e| UsageError::new(format!("cannot read {}: {e}", file.display())))?;
            let parsed = match format {
                ExportFormat::Json => crate::core::export::from_json(&text),
                ExportFormat::Csv => crate::core::export::from_csv(&text),
            }
            .map_err(|e| {
                UsageError::new(format!("{}: {e:#}; nothing was imported", file.display()))
            })?;
            let store = open_store(config).await?;
            let mut current = std::collections::BTreeMap::new();
            for fy in &parsed.fiscal_years {
                current.insert(
                    fy.fiscal_year.clone(),
                    store.load_fields(&fy.fiscal_year).await?,
                );
            }
            let changes = tracker::import_changes(&parsed, &current, format == ExportFormat::Csv)
                .map_err(|e| {
                UsageError::new(format!("{}: {e}; nothing was imported", file.display()))
            })?;
            let report = tracker::commit(&store, changes, &command_line(), cli.dry_run).await?;
            store.close().await;
            print!("{}", report.render());
            Ok(ExitCode::Ok)
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
                ExportFormat::Json => crate::core::export::to_json(&export),
                ExportFormat::Csv => crate::core::export::to_csv(&export),
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

/// The store, the wiki and a new run id, for commands that use both.
async fn connect_both(
    config: &Config,
    creds: &crate::config::Credentials,
) -> Result<(Store, Wiki, String)> {
    let store = open_store(config).await?;
    let wiki = Wiki::connect(config, creds).await?;
    Ok((store, wiki, crate::ops::runs::new_run_id(Utc::now())))
}

/// Opens the configured store (its errors name the store, password masked).
async fn open_store(config: &Config) -> Result<Store> {
    Store::open(&config.store.url).await
}

/// The command line, for the provenance of tracker edits.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("goalsbot {}", args.join(" "))
}
