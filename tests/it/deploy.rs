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

/// The jobs files: the Build Service one (the main path) and the fallback on
/// the pre-built `bookworm` image.
const JOBS_FILES: [&str; 2] = ["jobs.yaml", "jobs-prebuilt.yaml"];

fn jobs_yaml(file: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&read(file)).unwrap_or_else(|e| panic!("deploy/{file}: {e}"))
}

fn jobs(file: &str) -> Vec<Job> {
    serde_yaml_ng::from_value(jobs_yaml(file))
        .unwrap_or_else(|e| panic!("deploy/{file} is not a list of jobs with known keys: {e}"))
}

/// The three jobs of a file: the hourly sync, the daily roll-over, the watcher.
struct Jobs {
    sync: Job,
    roll_over: Job,
    watch: Job,
}

fn the_jobs(file: &str) -> Jobs {
    let all = jobs(file);
    let names: Vec<String> = all.iter().map(|j| j.name.clone()).collect();
    assert_eq!(
        all.len(),
        3,
        "{file}: expected the sync, the roll-over and the watcher: {names:?}"
    );
    let mut by_command: BTreeMap<String, Job> = BTreeMap::new();
    for job in all {
        let sub = subcommand_of(&goalsbot_args(&job.command), &job.name);
        assert!(
            by_command.insert(sub.clone(), job).is_none(),
            "{file}: two jobs run {sub}"
        );
    }
    let mut take = |sub: &str| {
        by_command
            .remove(sub)
            .unwrap_or_else(|| panic!("{file}: no job runs `goalsbot {sub}`: {names:?}"))
    };
    Jobs {
        sync: take("sync"),
        roll_over: take("roll-over"),
        watch: take("watch"),
    }
}

/// A schedule the jobs framework takes: one of its @-macros (it spreads them
/// over the hour or day itself) or five cron fields.
fn check_schedule(expr: &str) -> Result<(), String> {
    const MACROS: [&str; 5] = ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"];
    if expr.starts_with('@') {
        return if MACROS.contains(&expr) {
            Ok(())
        } else {
            Err(format!("{expr:?} is not one of {MACROS:?}"))
        };
    }
    check_cron(expr)
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
fn schedule_check_takes_the_frameworks_macros_and_cron() {
    for good in ["@hourly", "@daily", "17 * * * *"] {
        assert_eq!(check_schedule(good), Ok(()), "{good}");
    }
    for bad in ["@every5m", "@reboot", "@midnight", "17 * * *"] {
        assert!(check_schedule(bad).is_err(), "{bad} accepted");
    }
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
fn jobs_files_have_an_hourly_sync_a_daily_roll_over_and_a_watcher_with_a_health_check() {
    let name = Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap();
    for file in JOBS_FILES {
        let Jobs {
            sync,
            roll_over,
            watch,
        } = the_jobs(file);
        for job in [&sync, &roll_over, &watch] {
            assert!(
                name.is_match(&job.name) && job.name.len() <= 52,
                "{file}: job name {:?}: lowercase letters, digits and '-', at most 52 characters",
                job.name
            );
            let mem = job
                .mem
                .as_deref()
                .unwrap_or_else(|| panic!("{file}: {}: no mem", job.name));
            assert!(is_memory_quantity(mem), "{file}: {}: mem {mem:?}", job.name);
            assert_eq!(
                job.emails.as_deref(),
                Some("onfailure"),
                "{file}: {}: emails",
                job.name
            );
            assert!(
                !job.image.trim().is_empty(),
                "{file}: {}: no image",
                job.name
            );
            assert_eq!(
                job.wait, None,
                "{file}: {}: wait is for one-off jobs",
                job.name
            );
        }
        for (job, every) in [(&sync, "@hourly"), (&roll_over, "@daily")] {
            let schedule = job.schedule.as_deref();
            assert_eq!(schedule, Some(every), "{file}: {}: schedule", job.name);
            check_schedule(every).unwrap();
            assert_ne!(job.continuous, Some(true), "{file}: {}", job.name);
            assert!(job.timeout.is_some(), "{file}: {}: no timeout", job.name);
        }
        assert_eq!(watch.continuous, Some(true), "{file}: {}", watch.name);
        assert_eq!(watch.schedule, None, "{file}: {}", watch.name);
        // The watcher beats into a file, and the health check reads that file.
        let args = goalsbot_args(&watch.command);
        let at = args
            .iter()
            .position(|a| a == "--heartbeat")
            .unwrap_or_else(|| panic!("{file}: the watcher has no --heartbeat"));
        let beat = &args[at + 1];
        let check = watch
            .health_check_script
            .as_deref()
            .unwrap_or_else(|| panic!("{file}: the watcher has no health-check-script"));
        let words: Vec<&str> = check.split_whitespace().collect();
        assert!(
            words.len() == 4
                && words[0] == "sh"
                && words[1].ends_with("deploy/watch-health.sh")
                && words[2] == beat
                && words[3].parse::<u64>().is_ok_and(|s| s >= 30),
            "{file}: health-check-script {check:?} should be `sh …/deploy/watch-health.sh {beat} SECS` (SECS ≥ 30: beats come every 10 s)"
        );
    }
}

#[test]
fn the_build_service_jobs_run_the_tools_own_image_by_path() {
    let Jobs {
        sync,
        roll_over,
        watch,
    } = the_jobs("jobs.yaml");
    for job in [&sync, &roll_over, &watch] {
        assert_eq!(
            job.image, "tool-goalsbot/tool-goalsbot:latest",
            "{}: the tool's Build Service image",
            job.name
        );
        // Binaries are not on PATH in Build Service jobs (T363417): by path,
        // relative to the image's working directory, as listeria_rs does.
        assert!(
            job.command.starts_with("target/release/goalsbot "),
            "{}: {:?}",
            job.name,
            job.command
        );
        // The config is in the tool's home: Build Service images mount nothing by default.
        assert_eq!(job.mount.as_deref(), Some("all"), "{}: mount", job.name);
        // No file logs: then no shell stands between Kubernetes' SIGTERM and goalsbot.
        assert!(
            job.filelog_stdout.is_none() && job.filelog_stderr.is_none() && job.filelog.is_none(),
            "{}: file logs put a shell in front of the command",
            job.name
        );
    }
    let check = watch.health_check_script.unwrap();
    assert!(
        check.split_whitespace().nth(1) == Some("deploy/watch-health.sh"),
        "the health check runs the script of the image: {check:?}"
    );
}

/// The web view runs from the same Build Service image as the jobs
/// (`toolforge webservice buildservice start --mount all` runs the
/// Procfile's `web` process): one `web:` line, by path like the jobs, with
/// the jobs' config, parsed by the real command line as `serve`, and
/// listening where the web service says (`$PORT`), not on a fixed address.
#[test]
fn the_procfile_runs_the_web_view_from_the_jobs_image() {
    let procfile = std::fs::read_to_string(crate::support::root().join("Procfile")).unwrap();
    let lines: Vec<&str> = procfile.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one process, the web view: {procfile:?}");
    let command = lines[0]
        .strip_prefix("web:")
        .unwrap_or_else(|| panic!("a `web:` process: {:?}", lines[0]))
        .trim();
    assert!(
        command.starts_with("target/release/goalsbot "),
        "{command:?}"
    );
    let args = goalsbot_args(command);
    assert_eq!(subcommand_of(&args, "Procfile"), "serve");
    assert!(
        !args.iter().any(|a| a == "--listen"),
        "the web service says the port ($PORT): {args:?}"
    );
    let sync = the_jobs("jobs.yaml").sync;
    assert_eq!(
        config_arg(&args, "Procfile"),
        config_arg(&goalsbot_args(&sync.command), &sync.name),
        "the web view reads the jobs' config"
    );
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
fn job_commands_run_with_the_real_cli() {
    for file in JOBS_FILES {
        let Jobs {
            sync,
            roll_over,
            watch,
        } = the_jobs(file);
        for job in [&sync, &roll_over, &watch] {
            let args = goalsbot_args(&job.command);
            config_arg(&args, &job.name);
            assert!(
                !args.iter().any(|a| a == "--dry-run"),
                "{file}: {} must not be a dry run",
                job.name
            );
            if job.image == "bookworm" {
                // The pre-built image's wrapper shell must not stand between
                // Kubernetes' SIGTERM and the bot.
                assert!(
                    job.command.starts_with("exec /"),
                    "{file}: {}: start the command with `exec /absolute/path`: {:?}",
                    job.name,
                    job.command
                );
            }
        }
    }
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
fn runbook_shows_the_jobs_files_as_they_are() {
    let runbook = read("README.md");
    let blocks = yaml_blocks(&runbook);
    assert!(!blocks.is_empty(), "deploy/README.md has no ```yaml block");
    for file in JOBS_FILES {
        let jobs = jobs_yaml(file);
        let same = blocks.iter().any(|b| {
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(b)
                .map(|v| v == jobs)
                .unwrap_or(false)
        });
        assert!(
            same,
            "no ```yaml block in deploy/README.md parses to the same value as deploy/{file}; \
             copy the file into the runbook again. The blocks:\n{}",
            blocks.join("\n---\n")
        );
    }
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
    for file in JOBS_FILES {
        for job in jobs(file) {
            let args = goalsbot_args(&job.command);
            let path = config_arg(&args, &job.name);
            assert_eq!(
                path,
                Path::new("/data/project/goalsbot/goalsbot.toml"),
                "{file}: {}",
                job.name
            );
        }
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

/// The Python of a virtualenv holding the jobs framework's CLI from PyPI
/// (`toolforge-jobs-cli`), made by `.ci/run`; `None` (the test says it was
/// skipped) when not given, unless `GOALSBOT_REQUIRE_JOBS_CLI` is set.
fn jobs_cli_python() -> Option<PathBuf> {
    match std::env::var_os("GOALSBOT_JOBS_CLI_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("GOALSBOT_REQUIRE_JOBS_CLI").is_some() => panic!(
            "GOALSBOT_JOBS_CLI_PYTHON is not set: .ci/run makes a virtualenv with toolforge-jobs-cli and sets it"
        ),
        None => {
            eprintln!(
                "skipped: set GOALSBOT_JOBS_CLI_PYTHON to a Python with toolforge-jobs-cli (see deploy/check-jobs.py)"
            );
            None
        }
    }
}

/// `deploy/check-jobs.py FILES…` with the jobs framework's own code.
fn check_jobs(python: &Path, files: &[PathBuf]) -> (Option<i32>, String) {
    let out = std::process::Command::new(python)
        .arg(deploy_dir().join("check-jobs.py"))
        .args(files)
        .output()
        .expect("run deploy/check-jobs.py");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn jobs_files_load_with_the_jobs_frameworks_own_loader() {
    let Some(python) = jobs_cli_python() else {
        return;
    };
    let files: Vec<PathBuf> = JOBS_FILES.iter().map(|f| deploy_dir().join(f)).collect();
    let (code, out) = check_jobs(&python, &files);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("ok: "), "{out}");
}

#[test]
fn the_jobs_loader_fails_on_an_unknown_or_invalid_key() {
    let Some(python) = jobs_cli_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = read("jobs.yaml");
    // Each mistake, made in a copy of the real file, and what the check says.
    let mistakes = [
        (
            "  mem: 1Gi\n",
            "  memory: 1Gi\n",
            "unrecognized arguments: --memory",
        ),
        (
            "  mount: all\n",
            "  mount: some\n",
            "invalid parse value: 'some'",
        ),
        (
            "schedule: \"@hourly\"",
            "schedule: \"@every5m\"",
            "unknown schedule macro '@every5m'",
        ),
        (
            "  continuous: true\n",
            "  schedule: \"@daily\"\n",
            "Health checks are only supported for continuous/webservice jobs",
        ),
        (
            "  emails: onfailure\n",
            "  emails: sometimes\n",
            "--emails: invalid choice",
        ),
    ];
    for (n, (from, to, expected)) in mistakes.iter().enumerate() {
        assert!(good.contains(from), "jobs.yaml no longer has {from:?}");
        let path = dir.path().join(format!("jobs-{n}.yaml"));
        std::fs::write(&path, good.replacen(from, to, 1)).unwrap();
        let (code, out) = check_jobs(&python, &[path]);
        assert_eq!(code, Some(1), "{to:?} passed: {out}");
        assert!(out.contains(expected), "{to:?}: {out}");
    }
}
