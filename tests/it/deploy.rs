//! The deployment files under `deploy/` (no wiki needed): the Toolforge jobs
//! file and its copy in the runbook, the commands they run (parsed by the real
//! command line), the production config, the systemd units, the helper
//! scripts, and that no secret is written anywhere there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use goalsbot::cli::Cli;
use goalsbot::config::Config;
use regex::Regex;
use serde::Deserialize;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn read(rel: &str) -> String {
    let path = deploy_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// One entry of a `toolforge jobs load` file: the keys the Toolforge jobs CLI
/// knows (it only warns about others and ignores them, so a typo such as
/// `memory:` for `mem:` would silently lose the setting: here it fails).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)] // every key is listed so that deny_unknown_fields knows it
struct Job {
    name: String,
    command: String,
    image: String,
    schedule: Option<String>,
    continuous: Option<bool>,
    wait: Option<serde_yaml_ng::Value>,
    mem: Option<String>,
    cpu: Option<String>,
    emails: Option<String>,
    retry: Option<u8>,
    timeout: Option<u64>,
    mount: Option<String>,
    filelog: Option<bool>,
    no_filelog: Option<bool>,
    filelog_stdout: Option<String>,
    filelog_stderr: Option<String>,
    port: Option<serde_yaml_ng::Value>,
    replicas: Option<u32>,
    health_check_script: Option<String>,
    health_check_http: Option<String>,
}

fn jobs_yaml() -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&read("jobs.yaml")).expect("deploy/jobs.yaml is YAML")
}

fn jobs() -> Vec<Job> {
    serde_yaml_ng::from_value(jobs_yaml())
        .expect("deploy/jobs.yaml is a list of jobs with known keys")
}

/// `(scheduled, continuous)`: exactly one of each, and nothing else.
fn the_two_jobs() -> (Job, Job) {
    let all = jobs();
    let names: Vec<String> = all.iter().map(|j| j.name.clone()).collect();
    assert_eq!(
        all.len(),
        2,
        "expected one scheduled and one continuous job: {names:?}"
    );
    let (scheduled, continuous): (Vec<Job>, Vec<Job>) =
        all.into_iter().partition(|j| j.schedule.is_some());
    assert_eq!(scheduled.len(), 1, "scheduled jobs among {names:?}");
    assert_eq!(continuous.len(), 1, "non-scheduled jobs among {names:?}");
    let (s, c) = (scheduled.into_iter().next(), continuous.into_iter().next());
    (s.unwrap(), c.unwrap())
}

/// A five-field cron expression whose every field is in range (lists, ranges, steps, `*`).
fn check_cron(expr: &str) -> Result<(), String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("{expr:?} has {} fields, not 5", fields.len()));
    }
    let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    for (field, (lo, hi)) in fields.iter().zip(ranges) {
        for part in field.split(',') {
            let (base, step) = match part.split_once('/') {
                Some((b, s)) => (b, Some(s)),
                None => (part, None),
            };
            if let Some(s) = step {
                match s.parse::<u32>() {
                    Ok(n) if n >= 1 && n <= hi => {}
                    _ => return Err(format!("{expr:?}: bad step in {part:?}")),
                }
            }
            if base == "*" {
                continue;
            }
            let (a, b) = base.split_once('-').unwrap_or((base, base));
            let in_range = |v: &str| v.parse::<u32>().ok().filter(|n| (lo..=hi).contains(n));
            match (in_range(a), in_range(b)) {
                (Some(a), Some(b)) if a <= b => {}
                _ => return Err(format!("{expr:?}: {part:?} is not within {lo}-{hi}")),
            }
        }
    }
    Ok(())
}

#[test]
fn cron_check_rejects_bad_expressions() {
    for good in ["17 * * * *", "*/15 0-6,22 * * 1-5", "0 0 1 1 7"] {
        assert_eq!(check_cron(good), Ok(()), "{good}");
    }
    for bad in [
        "@hourly",
        "17 * * *",
        "60 * * * *",
        "* 24 * * *",
        "5-1 * * * *",
        "*/0 * * * *",
    ] {
        assert!(check_cron(bad).is_err(), "{bad} accepted");
    }
}

/// A Kubernetes memory quantity as the jobs CLI takes it: `512Mi`, `1Gi`, `1G`.
fn is_memory_quantity(s: &str) -> bool {
    Regex::new(r"^[1-9][0-9]*(Ki|Mi|Gi|K|M|G)$")
        .unwrap()
        .is_match(s)
}

#[test]
fn jobs_file_has_one_scheduled_and_one_continuous_job() {
    let (sync, watch) = the_two_jobs();
    let name = Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap();
    for job in [&sync, &watch] {
        assert!(
            name.is_match(&job.name) && job.name.len() <= 52,
            "job name {:?}: lowercase letters, digits and '-', at most 52 characters",
            job.name
        );
        let mem = job
            .mem
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no mem", job.name));
        assert!(is_memory_quantity(mem), "{}: mem {mem:?}", job.name);
        assert_eq!(
            job.emails.as_deref(),
            Some("onfailure"),
            "{}: emails",
            job.name
        );
        assert!(!job.image.trim().is_empty(), "{}: no image", job.name);
        assert_eq!(job.wait, None, "{}: wait is for one-off jobs", job.name);
    }
    let schedule = sync.schedule.as_deref().unwrap();
    check_cron(schedule).unwrap_or_else(|e| panic!("{}: schedule {e}", sync.name));
    assert_ne!(
        sync.continuous,
        Some(true),
        "{}: both scheduled and continuous",
        sync.name
    );
    assert_eq!(
        watch.continuous,
        Some(true),
        "{}: continuous: true",
        watch.name
    );
    assert_ne!(sync.name, watch.name);
}

/// The argument list from `goalsbot` on in a job's command (`exec /path/to/goalsbot ARGS`),
/// with `goalsbot` as the program name.
fn goalsbot_args(command: &str) -> Vec<String> {
    assert!(
        !command.contains(['\'', '"', '\\', ';', '|', '&', '<', '>', '`', '$', '\n']),
        "keep the command free of shell syntax so that it reads as it runs: {command:?}"
    );
    let words: Vec<&str> = command.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| Path::new(w).file_name().is_some_and(|f| f == "goalsbot"))
        .unwrap_or_else(|| panic!("no goalsbot binary in {command:?}"));
    std::iter::once("goalsbot")
        .chain(words[at + 1..].iter().copied())
        .map(String::from)
        .collect()
}

/// Parses `args` with the real command line and returns the subcommand's name.
fn subcommand_of(args: &[String], origin: &str) -> String {
    if let Err(e) = Cli::try_parse_from(args) {
        panic!("{origin}: `{}` does not parse: {e}", args.join(" "));
    }
    let matches = Cli::command()
        .try_get_matches_from(args)
        .unwrap_or_else(|e| panic!("{origin}: {e}"));
    matches
        .subcommand_name()
        .unwrap_or_else(|| panic!("{origin}: no subcommand in {args:?}"))
        .to_string()
}

/// The value of `--config` in `args`, which must be an absolute path.
fn config_arg(args: &[String], origin: &str) -> PathBuf {
    let at = args
        .iter()
        .position(|a| a == "--config")
        .unwrap_or_else(|| panic!("{origin}: no --config in {args:?}"));
    let path = PathBuf::from(&args[at + 1]);
    assert!(path.is_absolute(), "{origin}: --config {}", path.display());
    path
}

#[test]
fn job_commands_run_sync_and_watch_with_the_real_cli() {
    let (sync, watch) = the_two_jobs();
    for (job, expected) in [(&sync, "sync"), (&watch, "watch")] {
        // The Toolforge wrapper shell must not stand between Kubernetes' SIGTERM and the bot.
        assert!(
            job.command.starts_with("exec "),
            "{}: start the command with `exec `: {:?}",
            job.name,
            job.command
        );
        let args = goalsbot_args(&job.command);
        assert_eq!(subcommand_of(&args, &job.name), expected, "{}", job.name);
        config_arg(&args, &job.name);
    }
    assert!(
        !goalsbot_args(&sync.command)
            .iter()
            .any(|a| a == "--dry-run"),
        "the scheduled sync must not be a dry run"
    );
}

/// The ```yaml fenced blocks of a Markdown text.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start().starts_with("```yaml") => current = Some(String::new()),
            Some(_) if line.trim_start().starts_with("```") => blocks.push(current.take().unwrap()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```yaml block");
    blocks
}

#[test]
fn runbook_shows_the_jobs_file_as_it_is() {
    let runbook = read("README.md");
    let jobs = jobs_yaml();
    let blocks = yaml_blocks(&runbook);
    assert!(!blocks.is_empty(), "deploy/README.md has no ```yaml block");
    let same = blocks.iter().any(|b| {
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(b)
            .map(|v| v == jobs)
            .unwrap_or(false)
    });
    assert!(
        same,
        "no ```yaml block in deploy/README.md parses to the same value as deploy/jobs.yaml; \
         copy the file into the runbook again. The blocks:\n{}",
        blocks.join("\n---\n")
    );
}

#[test]
fn toolforge_config_is_valid_and_uses_toolsdb() {
    let text = read("goalsbot.toolforge.toml");
    let config = Config::from_toml(&text, Path::new("deploy/goalsbot.toolforge.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let db = config
        .store
        .url
        .strip_prefix("mysql+replicacnf://tools.db.svc.wikimedia.cloud/")
        .unwrap_or_else(|| {
            panic!(
                "store.url is not ToolsDB via replica.my.cnf: {:?}",
                config.store.url
            )
        });
    assert!(
        Regex::new(r"^s[0-9]+__goalsbot$").unwrap().is_match(db),
        "ToolsDB database names are CREDENTIALUSER__NAME: {db:?}"
    );
    assert!(config.commands.shutoff_page.is_some(), "no shutoff page");
    assert!(
        config.wiki.url.starts_with("https://"),
        "{}",
        config.wiki.url
    );
    // The jobs read the config from the tool's home, where the runbook copies this file.
    for job in jobs() {
        let args = goalsbot_args(&job.command);
        let path = config_arg(&args, &job.name);
        assert_eq!(path.file_name().unwrap(), "goalsbot.toml", "{}", job.name);
    }
}

/// A systemd unit file as section → key → values (a key may repeat).
fn unit(rel: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section = String::new();
    for (n, line) in read(rel).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{rel}:{}: not `Key=value`: {line:?}", n + 1));
        assert!(
            !section.is_empty(),
            "{rel}:{}: key outside a section",
            n + 1
        );
        out.entry(section.clone())
            .or_default()
            .entry(key.trim().to_string())
            .or_default()
            .push(value.trim().to_string());
    }
    out
}

fn one<'a>(
    u: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
    rel: &str,
    section: &str,
    key: &str,
) -> &'a str {
    let values = u
        .get(section)
        .and_then(|s| s.get(key))
        .unwrap_or_else(|| panic!("{rel}: no {key}= in [{section}]"));
    assert_eq!(
        values.len(),
        1,
        "{rel}: [{section}] {key}= given {} times",
        values.len()
    );
    &values[0]
}

const SERVICES: [(&str, &str); 2] = [
    ("systemd/goalsbot-sync.service", "sync"),
    ("systemd/goalsbot-watch.service", "watch"),
];

#[test]
fn systemd_units_have_the_needed_keys() {
    for (rel, expected) in SERVICES {
        let u = unit(rel);
        let exec = one(&u, rel, "Service", "ExecStart");
        let words: Vec<&str> = exec.split_whitespace().collect();
        assert!(
            Path::new(words[0]).is_absolute() && words.last() == Some(&expected),
            "{rel}: ExecStart={exec} should run /absolute/path/goalsbot ... {expected}"
        );
        let user = one(&u, rel, "Service", "User");
        assert!(!user.is_empty() && user != "root", "{rel}: User={user}");
        let env_file = one(&u, rel, "Service", "EnvironmentFile");
        assert!(
            env_file.trim_start_matches('-').starts_with("/etc/"),
            "{rel}: EnvironmentFile={env_file}"
        );
        for (key, value) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
            ("ProtectHome", "yes"),
            ("KillSignal", "SIGTERM"),
        ] {
            assert_eq!(one(&u, rel, "Service", key), value, "{rel}: {key}");
        }
        let rw = one(&u, rel, "Service", "ReadWritePaths");
        assert!(
            rw.contains("/var/lib/goalsbot"),
            "{rel}: ReadWritePaths={rw}"
        );
    }

    let rel = "systemd/goalsbot-sync.service";
    let sync = unit(rel);
    assert_eq!(one(&sync, rel, "Service", "Type"), "oneshot", "{rel}: Type");

    let rel = "systemd/goalsbot-watch.service";
    let watch = unit(rel);
    assert_eq!(
        one(&watch, rel, "Service", "Restart"),
        "on-failure",
        "{rel}: Restart"
    );
    one(&watch, rel, "Service", "TimeoutStopSec");
    one(&watch, rel, "Install", "WantedBy");

    let rel = "systemd/goalsbot-sync.timer";
    let timer = unit(rel);
    one(&timer, rel, "Timer", "OnCalendar");
    one(&timer, rel, "Timer", "RandomizedDelaySec");
    assert_eq!(
        one(&timer, rel, "Timer", "Persistent"),
        "true",
        "{rel}: Persistent"
    );
    assert_eq!(
        one(&timer, rel, "Timer", "Unit"),
        "goalsbot-sync.service",
        "{rel}: Unit"
    );
    assert_eq!(
        one(&timer, rel, "Install", "WantedBy"),
        "timers.target",
        "{rel}: WantedBy"
    );
}

#[test]
fn systemd_units_run_sync_and_watch_with_the_real_cli() {
    for (rel, expected) in SERVICES {
        let u = unit(rel);
        let args = goalsbot_args(one(&u, rel, "Service", "ExecStart"));
        assert_eq!(subcommand_of(&args, rel), expected, "{rel}");
        config_arg(&args, rel);
    }
}

/// Lines under `deploy/` that look like a secret written down.
fn secrets_in(text: &str) -> Vec<String> {
    let patterns = [
        // VAR=value (env files, shell): an empty value is fine.
        r"\b(GOALSBOT_PASSWORD|GOALSBOT_OAUTH2_TOKEN)[ \t]*=[ \t]*[^\s#]",
        // A secret on the command line ends up in the shell history.
        r"envvars create[ \t]+(GOALSBOT_PASSWORD|GOALSBOT_OAUTH2_TOKEN)[ \t]+[^\s#]",
        // TOML or INI: password = "…", oauth2_token = "…".
        r#"(?i)^[ \t]*(password|passwd|oauth2_token|token|secret)[ \t]*[=:][ \t]*["']?[^\s"']"#,
        // A URL with a password in it.
        r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@",
    ];
    let patterns: Vec<Regex> = patterns.iter().map(|p| Regex::new(p).unwrap()).collect();
    text.lines()
        .filter(|line| patterns.iter().any(|p| p.is_match(line)))
        .map(String::from)
        .collect()
}

#[test]
fn secret_check_finds_secrets() {
    for secret in [
        "GOALSBOT_PASSWORD=hunter2hunter2",
        "export GOALSBOT_OAUTH2_TOKEN='abc'",
        "toolforge envvars create GOALSBOT_PASSWORD hunter2",
        "password = \"hunter2\"",
        "url = \"mysql://s12345:hunter2@tools.db.svc.wikimedia.cloud/s12345__goalsbot\"",
    ] {
        assert_eq!(
            secrets_in(secret),
            vec![secret.to_string()],
            "not caught: {secret}"
        );
    }
    for fine in [
        "GOALSBOT_PASSWORD=",
        "#GOALSBOT_OAUTH2_TOKEN=",
        "toolforge envvars create GOALSBOT_PASSWORD",
        "`GOALSBOT_USERNAME` + `GOALSBOT_PASSWORD` (a bot password)",
        "url = \"mysql+replicacnf://tools.db.svc.wikimedia.cloud/s12345__goalsbot\"",
    ] {
        assert!(secrets_in(fine).is_empty(), "false alarm: {fine}");
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn no_secrets_under_deploy() {
    let files = files_under(&deploy_dir());
    assert!(files.len() >= 5, "{files:?}");
    let mut found = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in secrets_in(&text) {
            found.push(format!("{}: {line}", path.display()));
        }
    }
    assert!(
        found.is_empty(),
        "secrets written down:\n{}",
        found.join("\n")
    );
}

#[test]
fn helper_scripts_are_valid_shell() {
    for path in files_under(&deploy_dir()) {
        if path.extension().is_some_and(|e| e == "sh") {
            let out = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .expect("running bash -n");
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
