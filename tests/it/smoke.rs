//! Smoke tests of the wiki edge and `doctor` against the real test wiki.

use std::time::Duration;

use goalsbot::config::{Config, CredentialSource, Credentials, Secret};
use goalsbot::wiki::Wiki;
use mwbot::SaveOptions;

use crate::support::{goalsbot, run, run_with_limit, test_wiki, unique_title, write_config};

fn bot_credentials() -> Credentials {
    let w = test_wiki();
    Credentials::BotPassword {
        username: w.username.clone(),
        password: Secret::new(w.password.clone()),
        source: CredentialSource::Environment,
    }
}

fn test_config() -> Config {
    let mut c = Config::default();
    c.wiki.url = test_wiki().url.clone();
    c.wiki.edit_interval_secs = 0;
    c.wiki.user_agent_contact = "goalsbot tests".into();
    c
}

#[tokio::test]
async fn bot_password_login_sees_bot_user() {
    let wiki = Wiki::connect(&test_config(), &bot_credentials())
        .await
        .expect("login");
    let site = wiki.site_and_user().await.unwrap();
    assert_eq!(site.user.as_deref(), Some("GoalsBot"));
    assert!(site.is_bot(), "groups: {:?}", site.groups);
    assert!(site.can_edit());
    assert!(
        site.generator.starts_with("MediaWiki 1.43"),
        "{}",
        site.generator
    );
}

#[tokio::test]
async fn save_then_read_back_as_wikitext_and_parsoid_html() {
    let wiki = Wiki::connect(&test_config(), &bot_credentials())
        .await
        .unwrap();
    let title = unique_title("save");
    let text = "== MTP-Y2: Platform Evolution - Evolutionary architecture ==\nObjective Manager: Corey Floyd\n\nKR1 Reached level 3 “AMM” by Q4\n";
    let page = wiki.bot().expect("logged in").page(&title).unwrap();
    page.save(
        text.to_string(),
        &SaveOptions::summary("goalsbot smoke test"),
    )
    .await
    .expect("save");

    let again = wiki.bot().expect("logged in").page(&title).unwrap();
    assert_eq!(again.wikitext().await.unwrap().trim_end(), text.trim_end());

    let revs = wiki
        .latest_revisions(std::slice::from_ref(&title))
        .await
        .unwrap();
    let latest = revs[0].latest.clone().expect("page exists after save");
    assert_eq!(latest.user, "GoalsBot");
    let html = wiki.revision_html(&title, latest.revid).await.unwrap();
    assert!(html.contains("Evolutionary architecture"), "{html}");
    assert!(html.contains("Reached level 3 “AMM” by Q4"));
    assert!(html.contains("mw:htmlVersion"), "Parsoid HTML expected");
    assert_eq!(wiki.counters().snapshot().html_fetches, 1);
    assert_eq!(wiki.counters().snapshot().api_requests, 1);
}

#[tokio::test]
async fn anonymous_read_works() {
    let w = test_wiki();
    let title = unique_title("anon");
    w.load_pages(&[(&title, "Written by a person.\n")]);
    let wiki = Wiki::connect(&test_config(), &Credentials::Anonymous)
        .await
        .unwrap();
    let site = wiki.site_and_user().await.unwrap();
    assert_eq!(site.user, None);
    let revs = wiki
        .latest_revisions(&[title.clone(), unique_title("absent")])
        .await
        .unwrap();
    assert_eq!(revs[0].latest.as_ref().unwrap().user, "Admin");
    assert!(revs[1].latest.is_none());
    let html = wiki
        .revision_html(&title, revs[0].latest.as_ref().unwrap().revid)
        .await
        .unwrap();
    assert!(html.contains("Written by a person."));
}

#[test]
fn doctor_shows_wiki_version_and_bot_user_without_the_password() {
    let w = test_wiki();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), w, "");
    let mut cmd = goalsbot(dir.path());
    cmd.arg("--config")
        .arg(&cfg)
        .arg("doctor")
        .env("GOALSBOT_USERNAME", &w.username)
        .env("GOALSBOT_PASSWORD", &w.password);
    let out = run(cmd);
    // No quarter pages exist under the default prefix on the test wiki: exit 3 with that problem.
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stdout.contains("(MediaWiki 1.43"), "{}", out.stdout);
    assert!(
        out.stdout.contains("GoalsBot (bot flag: yes, edit: yes"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("problem: none of the 4 configured quarter pages exists"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("problem: the shutoff page \"User:GoalsBot/Shutoff\" does not exist"),
        "{}",
        out.stdout
    );
    assert!(!out.all_output().contains(&w.password));
}

#[test]
fn wrong_password_gives_clear_message_and_never_echoes_it() {
    let w = test_wiki();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), w, "");
    let wrong = "0123456789abcdef0123456789abcdef";
    let mut cmd = goalsbot(dir.path());
    cmd.arg("--config")
        .arg(&cfg)
        .arg("doctor")
        .env("GOALSBOT_USERNAME", &w.username)
        .env("GOALSBOT_PASSWORD", wrong);
    let out = run(cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("wrong user name or password"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("GOALSBOT_PASSWORD"), "{}", out.stderr);
    assert!(!out.all_output().contains(wrong));
    assert!(!out.all_output().contains(&w.password));
}

#[test]
fn unreachable_wiki_fails_fast_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = goalsbot(dir.path());
    cmd.arg("doctor")
        .env("GOALSBOT_WIKI_URL", format!("http://127.0.0.1:{port}/w/"));
    let out = run_with_limit(cmd, Duration::from_secs(30));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("cannot reach the wiki"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_config_key_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[wiki]\nurl = \"http://127.0.0.1:1/\"\nedit_intervall_secs = 3\n",
    )
    .unwrap();
    let mut cmd = goalsbot(dir.path());
    cmd.arg("--config").arg(&cfg).arg("doctor");
    let out = run(cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("edit_intervall_secs"), "{}", out.stderr);
    // The same through $GOALSBOT_CONFIG.
    let mut cmd = goalsbot(dir.path());
    cmd.arg("doctor").env("GOALSBOT_CONFIG", &cfg);
    let out = run(cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
}

#[test]
fn half_set_credentials_exit_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = goalsbot(dir.path());
    cmd.arg("doctor")
        .env("GOALSBOT_USERNAME", "GoalsBot@goalsbot");
    let out = run(cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("GOALSBOT_PASSWORD"), "{}", out.stderr);
}

#[tokio::test]
async fn server_logs_one_line_per_request() {
    // The request log is how later tests cross-check the bot's own request counts.
    let w = test_wiki();
    let before = w.server_requests();
    let body = reqwest::get(format!(
        "{}api.php?action=query&meta=siteinfo&format=json",
        w.url
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(body.contains("sitename"));
    assert!(w.server_requests() > before);
}

#[test]
#[ignore = "run as a child process by no_php_survives_a_panicking_test"]
fn panics_after_starting_the_wiki() {
    let _ = test_wiki();
    panic!("deliberate panic with the test wiki running");
}

/// Processes whose environment points MediaWiki at `dir`.
fn php_processes_of(dir: &std::path::Path) -> Vec<u32> {
    let needle = format!("MW_CONFIG_FILE={}/", dir.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| String::from_utf8_lossy(&env).contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn no_php_survives_a_panicking_test() {
    let exe = std::env::current_exe().unwrap();
    let child = std::process::Command::new(exe)
        .args([
            "smoke::panics_after_starting_the_wiki",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the child test was meant to panic");
    let dir = std::env::temp_dir().join(format!("goalsbot-it-{pid}"));
    assert!(
        dir.join("server.log").exists(),
        "the child never started its wiki"
    );
    // The kernel tears the PID namespace down right after the parent dies; allow it a moment.
    let mut left = php_processes_of(&dir);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        left = php_processes_of(&dir);
    }
    assert!(
        left.is_empty(),
        "PHP processes survived the panicking test: {left:?}"
    );
}

#[tokio::test]
async fn revision_checks_ask_for_at_most_50_titles_per_request() {
    let wiki = Wiki::connect(&test_config(), &Credentials::Anonymous)
        .await
        .unwrap();
    let titles: Vec<String> = (0..120)
        .map(|i| format!("{}-{i}", unique_title("batch")))
        .collect();
    let revs = wiki.latest_revisions(&titles).await.unwrap();
    assert_eq!(revs.len(), 120);
    assert!(revs.iter().all(|r| r.latest.is_none()));
    assert_eq!(
        wiki.counters().snapshot().api_requests,
        3,
        "⌈120/50⌉ requests"
    );
}

/// A wrong password fails a sync that has something to write at its first
/// save, with exit 2 (a usage error: fix the credentials), and is tried
/// once: no retry per page, which could get the tool's shared address
/// throttled on Toolforge. A sync with nothing to write stays anonymous (a
/// no-op is one request) and does not notice it; `doctor` does.
#[test]
fn a_wrong_password_fails_a_sync_early_with_exit_2_and_one_login_attempt() {
    let s = crate::support::Setup::new("wrong-password", None);
    s.ok(&["sync"]);
    let wrong = "0123456789abcdef0123456789abcdef";
    let with_wrong = |args: &[&str]| {
        let mut cmd = s.cmd(args);
        cmd.env("GOALSBOT_PASSWORD", wrong)
            .env("RUST_LOG", "goalsbot=debug");
        run(cmd)
    };
    // Nothing to write: the no-op does not log in.
    let idle = with_wrong(&["sync"]);
    assert_eq!(idle.code, Some(0), "{idle:?}");
    // Something to write on every page.
    s.ok(&[
        "set",
        "2020-21/front-line-defenses/kr2",
        "--quarter",
        "Q4",
        "--status",
        "complete",
    ]);
    // Every request of this run goes through a proxy that counts them.
    let p = crate::faults::through_proxy(&s);
    let busy = with_wrong(&["sync"]);
    assert_eq!(busy.code, Some(2), "{busy:?}");
    assert!(
        busy.stderr.contains("error: login to")
            && busy.stderr.contains("wrong user name or password"),
        "{}",
        busy.stderr
    );
    let logins = p.seen().iter().filter(|r| r.action == "login").count();
    assert_eq!(logins, 1, "one login attempt in the run: {:#?}", p.seen());
    assert!(!busy.all_output().contains(wrong));
}

/// Issue 28 (first steps): with no config at all, a command that touches a
/// wiki stops with exit 2 and says how to give one, instead of silently
/// working on mediawiki.org; `--wiki URL` names the wiki; and a dry run
/// creates no store file (before, `./goalsbot.sqlite` appeared).
#[test]
fn without_a_config_the_bot_asks_which_wiki_and_a_dry_run_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["sync"][..],
        &["sync", "--dry-run"],
        &["pull"],
        &["watch", "--once"],
    ] {
        let mut cmd = goalsbot(dir.path());
        cmd.args(args);
        let out = run(cmd);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("no configuration"), "{out:?}");
        assert!(
            out.stderr.contains("--config") && out.stderr.contains("--wiki URL"),
            "{out:?}"
        );
    }
    assert!(!dir.path().join("goalsbot.sqlite").exists());
    // Store-only commands still run on the defaults, and a read creates
    // no store file either.
    for args in [&["conflicts"][..], &["runs"], &["export"]] {
        let mut cmd = goalsbot(dir.path());
        cmd.args(args);
        let out = run(cmd);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert!(
            !dir.path().join("goalsbot.sqlite").exists(),
            "{args:?} created the store"
        );
    }
    // A dry run of a command that writes nothing is a usage error, after
    // the command (clap does not know the flag there) or before it.
    for args in [
        &["conflicts", "--dry-run"][..],
        &["export", "--dry-run"],
        &["doctor", "--dry-run"],
    ] {
        let mut cmd = goalsbot(dir.path());
        cmd.args(args);
        let out = run(cmd);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("--dry-run"), "{args:?}: {out:?}");
    }
    let mut cmd = goalsbot(dir.path());
    cmd.args(["--dry-run", "export"]);
    let out = run(cmd);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("--dry-run means nothing for `export`: it writes nothing"),
        "{out:?}"
    );
    // Naming the wiki is enough; the dry run reads it and writes no file.
    let mut cmd = goalsbot(dir.path());
    cmd.args(["--wiki", &test_wiki().url, "sync", "--dry-run"]);
    let out = run(cmd);
    assert!(matches!(out.code, Some(0 | 3)), "{out:?}");
    assert!(out.stdout.contains("dry run (nothing written)"), "{out:?}");
    assert!(
        !dir.path().join("goalsbot.sqlite").exists(),
        "a dry run created the store file"
    );
}
