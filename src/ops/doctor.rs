//! `goalsbot doctor`: checks config, wiki, login, rights, store and pages, and says what to fix.

use std::fmt::Write as _;

use anyhow::Result;

use crate::config::{Credentials, Loaded};
use crate::error::ExitCode;
use crate::wiki::{PageContent, PageRevision, SiteAndUser, Wiki};

/// What doctor found, ready to print.
#[derive(Debug, Default)]
pub struct Report {
    /// `label: value` lines describing the setup.
    pub lines: Vec<(String, String)>,
    /// Things a person must fix, each saying what to do.
    pub problems: Vec<String>,
    /// Things worth knowing that do not stop the bot.
    pub notes: Vec<String>,
}

impl Report {
    fn line(&mut self, label: &str, value: impl Into<String>) {
        self.lines.push((label.to_string(), value.into()));
    }

    /// The `doctor --json` object: the setup's lines by label, the problems
    /// and the notes.
    pub fn to_json(&self) -> serde_json::Value {
        let lines: Vec<serde_json::Value> = self
            .lines
            .iter()
            .map(|(label, value)| {
                serde_json::json!({"label": label.trim_end_matches(':'), "value": value})
            })
            .collect();
        serde_json::json!({
            "setup": lines,
            "problems": self.problems,
            "notes": self.notes,
            "ok": self.problems.is_empty(),
        })
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let width = self.lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (label, value) in &self.lines {
            let _ = writeln!(out, "{label:width$}  {value}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        if self.problems.is_empty() {
            out.push_str("ok: no problems found\n");
        }
        for p in &self.problems {
            let _ = writeln!(out, "problem: {p}");
        }
        out
    }
}

/// Runs the checks and prints the report; exit 3 when a person must fix something.
pub async fn run(loaded: &Loaded, creds: &Credentials, json: bool) -> Result<ExitCode> {
    let config = &loaded.config;
    // Connection failures (unreachable wiki, wrong password) end doctor with
    // their own exit code: nothing else can be checked without the wiki.
    let wiki = Wiki::connect(config, creds).await?;
    let site = wiki.site_and_user().await?;
    let mut titles: Vec<String> = config
        .pages
        .quarter_pages(&[])
        .into_iter()
        .map(|(_, _, t)| t)
        .collect();
    for fy in &config.pages.years() {
        titles.push(config.pages.overview_page(fy));
    }
    titles.push(config.pages.status_page());
    let command_page = config.command_page();
    titles.push(command_page.clone());
    let revisions = wiki.latest_revisions(&titles).await?;
    let mut report = build_report(loaded, creds, &site, &revisions, &command_page);
    let shutoff = config.commands.shutoff();
    let allowlist = config.commands.allowlist();
    let asked: Vec<String> = std::iter::once(command_page.as_str())
        .chain(shutoff)
        .chain(allowlist)
        .map(String::from)
        .collect();
    let mut got = wiki.page_contents(&asked).await?.into_iter().skip(1);
    let shutoff_page = shutoff.map(|t| (t, got.next().flatten()));
    let allowlist_page = allowlist.map(|t| (t, got.next().flatten()));
    check_command_pages(
        &config.commands.allowed_users,
        shutoff_page.as_ref().map(|(t, p)| (*t, p.as_ref())),
        allowlist_page.as_ref().map(|(t, p)| (*t, p.as_ref())),
        &mut report,
    );
    check_store(config, &mut report).await;
    check_web(config, &mut report).await;
    check_templates(config.pages.templates_dir.as_deref(), &mut report);
    crate::ops::print_report(json, || report.render(), || report.to_json());
    Ok(if report.problems.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::NeedsPerson
    })
}

/// Opens the store (without creating an SQLite file that is not there yet) and reports on it.
async fn check_store(config: &crate::config::Config, r: &mut Report) {
    let url = config.store.url.as_str();
    if crate::store::sqlite_file(url).is_some_and(|f| !f.exists()) {
        r.line(
            "store state:",
            "not created yet (the first pull creates it)",
        );
        return;
    }
    match crate::store::Store::open(url).await {
        Ok(store) => {
            let version = store.schema_version().await;
            let years = store.fiscal_years().await;
            match (version, years) {
                (Ok(v), Ok(y)) => r.line(
                    "store state:",
                    format!(
                        "schema version {v}, fiscal years: {}",
                        if y.is_empty() {
                            "none yet".to_string()
                        } else {
                            y.iter()
                                .map(|f| f.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                ),
                (Err(e), _) | (_, Err(e)) => {
                    r.problems.push(format!("the store does not answer: {e:#}"))
                }
            }
            match store.watch_feed().await {
                Ok(feed) => r.line("watch:", watch_line(&config.commands, feed)),
                Err(e) => r.problems.push(format!("the store does not answer: {e:#}")),
            }
            store.close().await;
        }
        Err(e) => r
            .problems
            .push(format!("{e:#} — check store.url (or GOALSBOT_STORE_URL)")),
    }
}

/// Whether `goalsbot serve` can read its store (`[web] store_url`, else
/// the bot's): opened read-only, the schema this build reads, one head query.
async fn check_web(config: &crate::config::Config, r: &mut Report) {
    let (url, which) = match &config.web.store_url {
        Some(u) => (u.as_str(), "web.store_url"),
        None => (config.store.url.as_str(), "store.url"),
    };
    if crate::store::sqlite_file(url).is_some_and(|f| !f.exists()) {
        r.line("web:", format!("{which}: the store is not created yet"));
        return;
    }
    match crate::store::Store::open_read_only(url).await {
        Ok(store) => {
            match store.head().await {
                Ok(head) => r.line(
                    "web:",
                    format!(
                        "`goalsbot serve` reads {which} read-only: {} history rows, {} runs, \
                         {} conflicts waiting",
                        head.history_seq, head.runs, head.open_conflicts
                    ),
                ),
                Err(e) => r
                    .problems
                    .push(format!("the web view's store does not answer: {e:#}")),
            }
            store.close().await;
        }
        Err(e) => r.problems.push(format!(
            "the web view cannot read its store: {e:#} — check {which}"
        )),
    }
}

/// How `watch` and the hourly `sync` share the work, and where the watcher
/// stands in the wiki's recent changes (`docs/requests.md`, "Following
/// changes live").
fn watch_line(
    commands: &crate::config::CommandsConfig,
    feed: Option<(Option<crate::core::feed::Position>, crate::store::StoreMark)>,
) -> String {
    if !commands.follow_changes {
        return "serves requests only (commands.follow_changes = false): a change \
                reaches the other pages at the next hourly sync"
            .into();
    }
    let stands = match feed {
        Some((Some(p), _)) => format!(
            "it has taken in the wiki's recent changes up to #{} ({})",
            p.rcid, p.timestamp
        ),
        _ => "it has not polled yet (its first poll checks every page once)".into(),
    };
    format!(
        "follows the wiki's recent changes and tracker edits every {} s and syncs \
         a year when one of its pages or records changed; {stands}; the hourly \
         sync is the safety net (its no-op is one request)",
        commands.poll_interval_secs
    )
}

/// The shutoff page and the allow-list page (`docs/requests.md`): `(title, page if it exists)`.
pub fn check_command_pages(
    allowed_users: &[String],
    shutoff: Option<(&str, Option<&PageContent>)>,
    allowlist: Option<(&str, Option<&PageContent>)>,
    r: &mut Report,
) {
    match shutoff {
        None => r.notes.push(
            "no commands.shutoff_page: there is no emergency stop on the wiki; set one".into(),
        ),
        Some((title, None)) => r.problems.push(format!(
            "the shutoff page {title:?} does not exist, so sync and watch do nothing: create it with the single word run"
        )),
        Some((title, Some(p))) if crate::core::requests::shutoff_allows_running(Some(&p.content)) => {
            r.line("shutoff:", format!("{title} says run (revision {} by {})", p.revid, p.user))
        }
        Some((title, Some(p))) => {
            let shown: String = p.content.trim().chars().take(60).collect();
            r.problems.push(format!(
                "the shutoff page {title:?} says {shown:?} (revision {} by {}): sync and watch do nothing until it says run",
                p.revid, p.user
            ))
        }
    }
    let mut who: Vec<String> = allowed_users.to_vec();
    match allowlist {
        None => {}
        Some((title, None)) => r.problems.push(format!(
            "the allow-list page {title:?} does not exist: create it (one `* [[User:Name]]` per line) and protect it, or remove commands.allowlist_page"
        )),
        Some((title, Some(p))) => {
            let names = crate::core::requests::parse_allowlist(&p.content);
            if p.edit_protection.iter().any(|l| l == "sysop" || l == "editprotected") {
                r.line("allow-list:", format!("{title}: {} users", names.len()));
                who.extend(names);
            } else {
                r.problems.push(format!(
                    "the allow-list page {title:?} is not protected, so its {} names are ignored (anyone could add themselves): ask an admin to protect it (edit=sysop)",
                    names.len()
                ));
            }
        }
    }
    if who.is_empty() {
        r.notes.push(
            "nobody may make on-wiki requests: set commands.allowed_users or a protected commands.allowlist_page".into(),
        );
    } else {
        r.line("may ask:", who.join(", "));
    }
}

/// Compiles the templates (built-in, or overridden from `pages.templates_dir`).
fn check_templates(dir: Option<&std::path::Path>, r: &mut Report) {
    match (crate::core::render::Renderer::with_dir(dir), dir) {
        (Ok(_), None) => r.line("templates:", "built-in"),
        (Ok(_), Some(d)) => r.line(
            "templates:",
            format!("built-in, overridden from {}", d.display()),
        ),
        (Err(e), _) => r.problems.push(format!(
            "the templates do not compile: {e} — fix the file or pages.templates_dir"
        )),
    }
}

/// Assembles the report from what was found (pure, so every message is tested).
pub fn build_report(
    loaded: &Loaded,
    creds: &Credentials,
    site: &SiteAndUser,
    revisions: &[PageRevision],
    command_page: &str,
) -> Report {
    let config = &loaded.config;
    let mut r = Report::default();
    r.line("config:", loaded.source.to_string());
    r.line(
        "wiki:",
        format!(
            "{} ({}) at {}",
            site.sitename,
            site.generator,
            config.wiki_url()
        ),
    );
    check_user(&mut r, site, creds);
    r.line("store:", crate::store::redact_url(&config.store.url));
    check_pages(&mut r, config, revisions, command_page);
    r
}

/// Who the wiki says we are, and whether that user may do the bot's work.
fn check_user(r: &mut Report, site: &SiteAndUser, creds: &Credentials) {
    match (&site.user, creds) {
        (None, Credentials::Anonymous) => {
            r.line("user:", "anonymous (no credentials)");
            r.notes.push(format!(
                "no credentials: pull and export work, writing commands are refused. To write, set {} and {} \
                 (a bot password from Special:BotPasswords) or {}, or add [auth] to ~/.config/mwbot.toml",
                crate::config::ENV_USERNAME,
                crate::config::ENV_PASSWORD,
                crate::config::ENV_OAUTH2_TOKEN
            ));
        }
        (None, _) => {
            r.line("user:", "anonymous, although credentials were given");
            r.problems.push(
                "the wiki treats us as anonymous despite credentials: check the bot password's grants (basic, editpage)"
                    .into(),
            );
        }
        (Some(name), _) => {
            let yes = |b: bool| if b { "yes" } else { "no" };
            r.line(
                "user:",
                format!(
                    "{name} (bot flag: {}, edit: {}, create pages: {})",
                    yes(site.is_bot()),
                    yes(site.can_edit()),
                    yes(site.can_create())
                ),
            );
            if !site.is_bot() {
                r.problems.push(crate::wiki::bot_flag_missing(name));
            }
            if !site.can_edit() {
                r.problems.push(format!(
                    "{name} cannot edit: give the bot password the \"Edit existing pages\" grant in Special:BotPasswords"
                ));
            }
            if !site.can_create() {
                r.problems.push(format!(
                    "{name} cannot create pages (needed by new-quarter and the status page): add the \
                     \"Create, edit, and move pages\" grant in Special:BotPasswords"
                ));
            }
        }
    }
}

/// The configured pages: their latest revisions, and whether any quarter page and the command page exist.
fn check_pages(
    r: &mut Report,
    config: &crate::config::Config,
    revisions: &[PageRevision],
    command_page: &str,
) {
    for rev in revisions {
        let state = match (&rev.latest, rev.redirected) {
            (None, _) => "missing".to_string(),
            (Some(l), false) => format!("revision {} by {} at {}", l.revid, l.user, l.timestamp),
            (Some(l), true) => format!("redirect to {:?}, revision {}", rev.title, l.revid),
        };
        r.line("page:", format!("{} — {state}", rev.requested));
    }
    let quarter_titles: Vec<String> = config
        .pages
        .quarter_pages(&[])
        .into_iter()
        .map(|(_, _, t)| t)
        .collect();
    let found = revisions
        .iter()
        .filter(|p| quarter_titles.contains(&p.requested) && p.latest.is_some())
        .count();
    if found == 0 {
        r.problems.push(format!(
            "none of the {} configured quarter pages exists on this wiki: check pages.prefix and pages.fiscal_years",
            quarter_titles.len()
        ));
    }
    if revisions
        .iter()
        .any(|p| p.requested == command_page && p.latest.is_none())
    {
        r.notes.push(format!(
            "command page {command_page:?} does not exist yet: on-wiki requests need it (create it with a short explanation of {{{{goalsbot|sync}}}})"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str, protected: bool) -> PageContent {
        PageContent {
            title: "T".into(),
            revid: 7,
            user: "Admin".into(),
            content: text.into(),
            edit_protection: if protected {
                vec!["sysop".into()]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn the_shutoff_page_must_exist_and_say_run() {
        let mut r = Report::default();
        check_command_pages(&["A".into()], Some(("S", None)), None, &mut r);
        assert!(
            r.problems[0].contains("create it with the single word run"),
            "{r:?}"
        );
        let mut r = Report::default();
        let stop = page("stop please", false);
        check_command_pages(&["A".into()], Some(("S", Some(&stop))), None, &mut r);
        assert!(r.problems[0].contains("\"stop please\""), "{r:?}");
        let mut r = Report::default();
        let run = page("run\n", false);
        check_command_pages(&["A".into()], Some(("S", Some(&run))), None, &mut r);
        assert!(r.problems.is_empty(), "{r:?}");
        assert!(r.render().contains("S says run"));
    }

    #[test]
    fn an_unprotected_allowlist_is_a_problem_and_ignored() {
        let run = page("run", false);
        let list = page("* [[User:Carol]]\n", false);
        let mut r = Report::default();
        check_command_pages(
            &[],
            Some(("S", Some(&run))),
            Some(("L", Some(&list))),
            &mut r,
        );
        assert!(r.problems[0].contains("not protected"), "{r:?}");
        assert!(
            r.notes.iter().any(|n| n.contains("nobody may make")),
            "{r:?}"
        );
        let list = page("* [[User:Carol]]\n", true);
        let mut r = Report::default();
        check_command_pages(
            &["Alice".into()],
            Some(("S", Some(&run))),
            Some(("L", Some(&list))),
            &mut r,
        );
        assert!(r.problems.is_empty(), "{r:?}");
        assert!(
            r.render().contains("may ask:     Alice, Carol") || r.render().contains("Alice, Carol"),
            "{}",
            r.render()
        );
    }
}
