//! The command line (`docs/cli.md`), parsed with clap.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{ArgAction, Parser, Subcommand, ValueEnum};

use crate::core::records::{FiscalYear, Quarter};

/// goalsbot keeps the Technology Goals pages of a wiki in sync with a goals tracker.
#[derive(Debug, Parser)]
#[command(name = "goalsbot", version, about, long_about = None)]
pub struct Cli {
    /// Config file (else $GOALSBOT_CONFIG, else ./goalsbot.toml). Without
    /// one, the commands that read or write the wiki need --wiki.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The wiki's script path (where api.php is), e.g.
    /// https://www.mediawiki.org/w/; overrides the config and $GOALSBOT_WIKI_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub wiki: Option<String>,

    /// Before a command that writes (pull, push, sync, watch, resolve,
    /// new-quarter, roll-over, set, import): the same as its own --dry-run.
    #[arg(long)]
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

impl Command {
    /// `Some(the command's --dry-run)` for a command that can show what it
    /// would write; `None` for one that only reads, where a dry run means
    /// nothing, and for `watch`, whose answers are its work.
    pub fn dry_run(&self) -> Option<bool> {
        match self {
            Command::Pull { dry_run, .. }
            | Command::Push { dry_run, .. }
            | Command::Sync { dry_run, .. }
            | Command::Resolve { dry_run, .. }
            | Command::NewQuarter { dry_run, .. }
            | Command::RollOver { dry_run, .. }
            | Command::Set { dry_run, .. }
            | Command::Import { dry_run, .. } => Some(*dry_run),
            Command::Runs { .. }
            | Command::Watch { .. }
            | Command::Conflicts { .. }
            | Command::Export { .. }
            | Command::Serve { .. }
            | Command::Doctor { .. } => None,
        }
    }

    /// Whether `--json` was given (commands without it: never).
    pub fn json(&self) -> bool {
        match self {
            Command::Pull { json, .. }
            | Command::Push { json, .. }
            | Command::Sync { json, .. }
            | Command::Runs { json, .. }
            | Command::Conflicts { json, .. }
            | Command::Resolve { json, .. }
            | Command::Watch { json, .. }
            | Command::NewQuarter { json, .. }
            | Command::RollOver { json, .. }
            | Command::Set { json, .. }
            | Command::Import { json, .. }
            | Command::Doctor { json } => *json,
            Command::Export { .. } | Command::Serve { .. } => false,
        }
    }

    /// The command's name as typed, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Pull { .. } => "pull",
            Command::Push { .. } => "push",
            Command::Sync { .. } => "sync",
            Command::Runs { .. } => "runs",
            Command::Conflicts { .. } => "conflicts",
            Command::Resolve { .. } => "resolve",
            Command::Watch { .. } => "watch",
            Command::NewQuarter { .. } => "new-quarter",
            Command::RollOver { .. } => "roll-over",
            Command::Export { .. } => "export",
            Command::Set { .. } => "set",
            Command::Import { .. } => "import",
            Command::Doctor { .. } => "doctor",
            Command::Serve { .. } => "serve",
        }
    }

    /// Whether the command reads or writes the wiki (and so must know which).
    pub fn uses_the_wiki(&self) -> bool {
        !matches!(
            self,
            Command::Runs { .. }
                | Command::Conflicts { .. }
                | Command::Export { .. }
                | Command::Set { .. }
                | Command::Import { .. }
                | Command::Serve { .. }
                | Command::Doctor { .. }
        )
    }
}

/// The commands.
// Parsed once per process: the size of `set`'s variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Wiki → store: parse the quarter pages whose revision changed since the last pull.
    Pull {
        /// Only this fiscal year (repeatable), e.g. 2020-21.
        #[arg(long = "fy", value_name = "FY")]
        fiscal_years: Vec<FiscalYear>,
        /// Only this quarter page (repeatable), e.g. "Wikimedia Technology/Goals/2020-21 Q2".
        #[arg(long = "page", value_name = "TITLE")]
        pages: Vec<String>,
        /// Apply this page's latest revision although its structure changed
        /// in a way that moves data between records (repeatable): a person
        /// checked it. Other guards (blanking, mass removal) still apply.
        #[arg(long = "accept", value_name = "TITLE")]
        accept: Vec<String>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Do everything except writing to the wiki and committing to the store.
        #[arg(long)]
        dry_run: bool,
    },
    /// Store → wiki: status tables on the quarter pages, the year overview.
    Push {
        /// Only this fiscal year (repeatable).
        #[arg(long = "fy", value_name = "FY")]
        fiscal_years: Vec<FiscalYear>,
        /// Only this page (repeatable): a quarter page or a year overview.
        #[arg(long = "page", value_name = "TITLE")]
        pages: Vec<String>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Do everything except writing to the wiki and committing to the store.
        #[arg(long)]
        dry_run: bool,
    },
    /// Pull (three-way merge) then push; prints the run's statistics.
    Sync {
        /// Only this fiscal year (repeatable).
        #[arg(long = "fy", value_name = "FY")]
        fiscal_years: Vec<FiscalYear>,
        /// Print the statistics as one JSON object.
        #[arg(long)]
        json: bool,
        /// Do everything except writing to the wiki and committing to the store.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the runs that finished last: outcome, edits with their revision
    /// ids, conflicts found, pages refused.
    Runs {
        /// How many runs, newest first.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the conflicts waiting for a person.
    Conflicts {
        /// Also the resolved ones.
        #[arg(long)]
        all: bool,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Settle a conflict: take the wiki's value or keep the store's.
    Resolve {
        /// The conflict's id, as `goalsbot conflicts` shows it (#ID).
        #[arg(value_parser = parse_conflict_id)]
        id: i64,
        /// Which side wins.
        #[arg(long, value_enum)]
        take: TakeArg,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Do everything except writing to the wiki and committing to the store.
        #[arg(long)]
        dry_run: bool,
    },
    /// Serve the on-wiki requests on the command page, and follow the wiki's
    /// recent changes and tracker edits: a year is synced as soon as one of its
    /// pages or records changed (docs/requests.md).
    Watch {
        /// Handle what is pending, then exit.
        #[arg(long)]
        once: bool,
        /// Seconds between polls (default: commands.poll_interval_secs, 60).
        #[arg(long, value_name = "SECS")]
        interval: Option<u64>,
        /// Rewrite FILE every 10 s while healthy, for a health check
        /// (deploy/watch-health.sh); removed when the watcher stops.
        #[arg(long, value_name = "FILE")]
        heartbeat: Option<std::path::PathBuf>,
        /// Print each poll's report as one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Create that quarter page from the store (refused when it exists).
    NewQuarter {
        /// The fiscal year, e.g. 2020-21.
        fiscal_year: FiscalYear,
        /// The quarter, e.g. Q4.
        quarter: Quarter,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Do everything except writing to the wiki and committing to the store.
        #[arg(long)]
        dry_run: bool,
    },
    /// In a quarter's first 7 days: create its page from the store if missing
    /// (the scheduled roll-over; idempotent, obeys the shutoff page).
    RollOver {
        /// Act as on this day (YYYY-MM-DD, UTC) instead of today, e.g. to
        /// catch up a roll-over that did not run.
        #[arg(long, value_name = "DATE")]
        today: Option<chrono::NaiveDate>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Do everything except writing to the wiki and committing to the store.
        #[arg(long)]
        dry_run: bool,
    },
    /// Store → stdout, in the export format of docs/records.md.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Only this fiscal year (repeatable).
        #[arg(long = "fy", value_name = "FY")]
        fiscal_years: Vec<FiscalYear>,
        /// The state at this moment (RFC 3339, e.g. 2021-01-15T00:00:00Z), from the store's history.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        as_of: Option<DateTime<Utc>>,
    },
    /// A tracker edit of one key result or objective, recorded with the operator as author;
    /// an id the tracker does not hold makes a new objective (with --title) or KR (with --text).
    Set {
        /// The record's id: a KR (2020-21/front-line-defenses/kr2) or an objective (2020-21/front-line-defenses).
        #[arg(value_name = "ID")]
        kr_id: String,
        /// The quarter that --status, --note, --objective and --goal are about.
        #[arg(long, value_name = "Qn")]
        quarter: Option<Quarter>,
        /// complete, on-track, concerns, at-risk, paused, not-scheduled, or none to clear.
        #[arg(long, value_name = "S")]
        status: Option<String>,
        /// The status note ("" clears it).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// The year goal ("" clears it).
        #[arg(long, value_name = "TEXT")]
        year_goal: Option<String>,
        /// The baseline ("" clears it).
        #[arg(long, value_name = "TEXT")]
        baseline: Option<String>,
        /// A KR's text.
        #[arg(long, value_name = "TEXT")]
        text: Option<String>,
        /// An objective's title.
        #[arg(long, value_name = "TEXT")]
        title: Option<String>,
        /// An objective's description ("" clears it).
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// A manager (repeat for several, in order); replaces the list.
        #[arg(long, value_name = "NAME", conflicts_with = "no_managers")]
        manager: Vec<String>,
        /// No managers.
        #[arg(long)]
        no_managers: bool,
        /// A KR's objective for --quarter ("" clears it).
        #[arg(long, value_name = "TEXT")]
        objective: Option<String>,
        /// A KR's goal for --quarter (repeat for several, in order); replaces the list.
        #[arg(long, value_name = "TEXT", conflicts_with = "no_goals")]
        goal: Vec<String>,
        /// No goals for --quarter.
        #[arg(long)]
        no_goals: bool,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Do everything except writing to the wiki and committing to the store.
        #[arg(long)]
        dry_run: bool,
    },
    /// Records as exported (JSON or CSV) → store, as tracker edits, in one transaction.
    Import {
        /// The file to import.
        file: PathBuf,
        /// Its format (default: from the file name, else json).
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Do everything except writing to the wiki and committing to the store.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check config, wiki, login, rights and store; say what is wrong.
    Doctor {
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The tracker on the web, read-only: years, heat maps, each record's
    /// history, as of any date, conflicts, runs, downloads (docs/web.md).
    Serve {
        /// Address to listen on (else 0.0.0.0:$PORT, as Toolforge's web
        /// services set it, else 127.0.0.1:8000).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
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

/// `resolve --take`: the command line's spelling of [`crate::store::Take`]
/// (the store knows nothing of the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TakeArg {
    /// The value on the wiki page replaces the store's.
    Wiki,
    /// The store keeps its value.
    Store,
}

impl From<TakeArg> for crate::store::Take {
    fn from(t: TakeArg) -> Self {
        match t {
            TakeArg::Wiki => crate::store::Take::Wiki,
            TakeArg::Store => crate::store::Take::Store,
        }
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}: expected RFC 3339, e.g. 2021-01-15T00:00:00Z"))
}

fn parse_conflict_id(s: &str) -> Result<i64, String> {
    s.trim_start_matches('#')
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            format!("{s:?} is not a conflict id; `goalsbot conflicts` lists them, e.g. 3 or #3")
        })
}
