//! The command line (`cli.md`), parsed with clap.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// goalsbot keeps the Technology Goals pages of a wiki in sync with a goals tracker.
#[derive(Debug, Parser)]
#[command(name = "goalsbot", version, about, long_about = None)]
pub struct Cli {
    /// Config file (else $GOALSBOT_CONFIG, else ./goalsbot.toml, else defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Do everything except writing to the wiki and committing to the store.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// More log output on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check config, wiki, login, rights and store; say what is wrong.
    Doctor,
}

impl Cli {
    /// The default log filter for the verbosity flags.
    pub fn log_filter(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "warn",
            (false, 0) => "goalsbot=info,warn",
            (false, 1) => "goalsbot=debug,info",
            (false, _) => "trace",
        }
    }
}
