//! The wiki edge: the one place that builds the `mwbot::Bot` and talks to the wiki.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

use crate::config::{Config, Credentials};
use crate::core::feed::{Change, Position};
use crate::error::UsageError;

/// How long connecting (site info and login) may take before we give up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(25);
/// How many times connecting (site info and login) is tried.
pub const CONNECT_ATTEMPTS: u32 = 3;
/// The wait before trying to connect again (times the attempt).
pub const CONNECT_BACKOFF: Duration = Duration::from_secs(6);
/// The API answers at most this many titles per query for ordinary accounts.
pub const TITLES_PER_REQUEST: usize = 50;

/// The User-Agent prefix, per the Wikimedia User-Agent policy; mwbot appends
/// `User:NAME mwbot-rs/VERSION` to it.
pub fn user_agent(contact: &str) -> String {
    format!(
        "goalsbot/{} ({})",
        env!("CARGO_PKG_VERSION"),
        contact.trim()
    )
}

/// Requests made through this edge, for run statistics and request-economy tests.
#[derive(Debug, Default)]
pub struct Counters {
    api_requests: AtomicU64,
    html_fetches: AtomicU64,
    edits: AtomicU64,
    /// Page reads of the pool in flight now, and the most ever at once.
    reads_now: AtomicU64,
    reads_most: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub api_requests: u64,
    pub html_fetches: u64,
    pub edits: u64,
}

impl Counters {
    /// The counts so far.
    pub fn snapshot(&self) -> Counts {
        Counts {
            api_requests: self.api_requests.load(Ordering::Relaxed),
            html_fetches: self.html_fetches.load(Ordering::Relaxed),
            edits: self.edits.load(Ordering::Relaxed),
        }
    }
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// The new revision.
    pub newrevid: u64,
    /// The revision it replaced, as the wiki reports it (`None` for a creation).
    pub oldrevid: Option<u64>,
}

/// A connection to the wiki: request counters, the transport, and the login,
/// made when first needed ([`Wiki::connect_lazily`]) or at once ([`Wiki::connect`]).
#[derive(Clone)]
pub struct Wiki {
    url: String,
    counters: Arc<Counters>,
    edit_interval: Duration,
    /// Page reads in flight at most (`wiki.reads_in_flight`).
    reads_in_flight: usize,
    last_save: Arc<tokio::sync::Mutex<Option<tokio::time::Instant>>>,
    /// How to log in, and the login once made.
    login: Arc<Login>,
    /// Whether the page saves of this run look at the shutoff page first (`sync`, `watch`).
    obeys_shutoff: bool,
    /// Every request: retries, Retry-After, give-up, lost-answer saves, a lost login made again.
    http: crate::wiki_http::Transport,
}

/// The login of a connection: made once, when first needed.
struct Login {
    config: Config,
    creds: Credentials,
    /// The bot's name as its credentials give it (`Name` of `Name@AppId`,
    /// as the wiki writes user names), used until the wiki says it.
    expected_name: Option<String>,
    done: tokio::sync::OnceCell<LoggedIn>,
    /// Why the wiki refused the login (wrong name or password), once it
    /// did: the run does not try again (one attempt per run, so that a
    /// shared address is not throttled for failed logins).
    refused: std::sync::OnceLock<String>,
}

/// A login the wiki accepted.
struct LoggedIn {
    /// The logged-in bot (mwbot keeps the session's cookies).
    bot: mwbot::Bot,
    /// Who the wiki says we are (`meta=userinfo`).
    user_name: String,
    /// Whether that account is in the wiki's bot group (its edits are marked bot).
    is_bot: bool,
}

/// A user name as the wiki writes it: underscores as spaces, the first letter capital.
fn canonical_user_name(name: &str) -> String {
    let name = name.replace('_', " ");
    let name = name.trim();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What the wiki says about itself and about us (one API request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteAndUser {
    pub sitename: String,
    pub generator: String,
    pub server: String,
    /// `None` when anonymous.
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub rights: Vec<String>,
}

impl SiteAndUser {
    /// Whether the account is in the bot group (its edits can be marked bot).
    pub fn is_bot(&self) -> bool {
        self.groups.iter().any(|g| g == "bot")
    }
    /// Whether the account may edit pages.
    pub fn can_edit(&self) -> bool {
        self.rights.iter().any(|r| r == "edit")
    }
    /// Whether the account may create pages.
    pub fn can_create(&self) -> bool {
        self.rights.iter().any(|r| r == "createpage")
    }
}

/// The latest revision of a page, from the batched revision check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRevision {
    /// The title asked for.
    pub requested: String,
    /// The title after normalisation and redirects.
    pub title: String,
    /// `None` when the page does not exist.
    pub latest: Option<RevisionInfo>,
    /// Set when `requested` was a redirect to `title`.
    pub redirected: bool,
}

impl PageRevision {
    /// This page as it is once the bot saved revision `revid` on it (made
    /// it, when it did not exist): that revision is its latest.
    pub fn saved_as(&self, revid: u64, user: &str) -> PageRevision {
        let latest = match &self.latest {
            Some(l) => RevisionInfo {
                revid,
                sha1: None,
                ..l.clone()
            },
            None => RevisionInfo {
                revid,
                user: user.to_string(),
                timestamp: String::new(),
                sha1: None,
            },
        };
        PageRevision {
            latest: Some(latest),
            ..self.clone()
        }
    }

    /// Why the bot leaves this title alone when it is a redirect: a tracked
    /// title that redirects (to another tracked page, a translation subpage,
    /// anything) is never read nor written through; a person decides.
    pub fn redirect_refusal(&self) -> Option<String> {
        self.redirected.then(|| {
            format!(
                "{:?} is a redirect to {:?}: the bot neither reads nor writes through a redirect; \
                 make it the page itself again, or change the configuration to name {:?}",
                self.requested, self.title, self.title
            )
        })
    }
}

/// Someone saved the page after the revision an edit was based on, and
/// MediaWiki could not merge the two: the caller pulls the page again and retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("edit conflict on {title:?}: someone saved it since the revision the bot read")]
pub struct EditConflict {
    /// The page.
    pub title: String,
}

/// The wiki refused a save because the account has no bot right
/// (`assertbotfailed`): the bot flag was removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NotABot {
    /// What to do: [`bot_flag_missing`].
    pub reason: String,
}

/// A revision with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageContent {
    /// The page's title as the wiki writes it.
    pub title: String,
    pub revid: u64,
    /// Who saved it.
    pub user: String,
    /// Its wikitext.
    pub content: String,
    /// The page's edit protection levels (e.g. `sysop`), when asked for.
    pub edit_protection: Vec<String>,
}

/// A revision from a page's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRevision {
    pub revid: u64,
    /// Who saved it (empty when hidden).
    pub user: String,
    /// Its wikitext; `None` when an admin hid it.
    pub content: Option<String>,
}

/// Who saved a revision, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionInfo {
    pub revid: u64,
    pub user: String,
    pub timestamp: String,
    /// The SHA-1 of the revision's wikitext, hex (`None` when the wiki did
    /// not say: hidden, or not asked).
    pub sha1: Option<String>,
}

impl Wiki {
    /// Connects to the configured wiki and logs in at once when there are
    /// credentials (`doctor`, which checks the login). Fails within
    /// [`CONNECT_TIMEOUT`] a try when the wiki is unreachable.
    pub async fn connect(config: &Config, creds: &Credentials) -> Result<Wiki> {
        let wiki = Wiki::connect_lazily(config, creds);
        match creds {
            Credentials::Anonymous => {
                // Reach the wiki now, as a login would: one request, part
                // of connecting, so not counted.
                let params: Vec<(String, String)> = [
                    ("action", "query"),
                    ("meta", "siteinfo"),
                    ("formatversion", "2"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                wiki.http
                    .api_get(&params, &|| {})
                    .await
                    .map_err(|e| cannot_reach(&wiki.url, e))?;
            }
            _ => {
                wiki.logged_in().await?;
            }
        }
        Ok(wiki)
    }

    /// A connection that asks the wiki nothing yet: reads are anonymous (or
    /// carry the OAuth 2 token), and the login is made when something needs
    /// it (a save, the bot flag, the bot's name when the credentials do not
    /// give it). A sync with nothing to do never logs in.
    pub fn connect_lazily(config: &Config, creds: &Credentials) -> Wiki {
        let url = config.wiki_url();
        let expected_name = match creds {
            Credentials::Anonymous => None,
            Credentials::BotPassword { username, .. } => Some(canonical_user_name(
                username
                    .split_once('@')
                    .map_or(username.as_str(), |(n, _)| n),
            )),
            Credentials::OAuth2 { username, .. } => username.as_deref().map(canonical_user_name),
        };
        let agent = match &expected_name {
            Some(name) => format!(
                "{} User:{name}",
                user_agent(&config.wiki.user_agent_contact)
            ),
            None => user_agent(&config.wiki.user_agent_contact),
        };
        let client = reqwest::Client::builder()
            .user_agent(agent)
            .build()
            .unwrap_or_default();
        let (bearer, login) = match creds {
            Credentials::Anonymous => (None, crate::wiki_http::Login::Anonymous),
            Credentials::BotPassword {
                username, password, ..
            } => (
                None,
                crate::wiki_http::Login::BotPassword {
                    name: username.clone(),
                    password: password.clone(),
                },
            ),
            Credentials::OAuth2 { token, .. } => (
                Some(token.expose().to_string()),
                crate::wiki_http::Login::OAuth2,
            ),
        };
        let http =
            crate::wiki_http::Transport::new(client, &url, config.wiki.maxlag, bearer, login);
        Wiki {
            url,
            counters: Arc::new(Counters::default()),
            edit_interval: Duration::from_secs(config.wiki.edit_interval_secs),
            reads_in_flight: config.wiki.reads_in_flight.max(1),
            last_save: Arc::new(tokio::sync::Mutex::new(None)),
            login: Arc::new(Login {
                config: config.clone(),
                creds: creds.clone(),
                expected_name,
                done: tokio::sync::OnceCell::new(),
                refused: std::sync::OnceLock::new(),
            }),
            obeys_shutoff: false,
            http,
        }
    }

    /// The login, made now if it was not yet; `None` when reading anonymously.
    async fn logged_in(&self) -> Result<Option<&LoggedIn>> {
        if matches!(self.login.creds, Credentials::Anonymous) {
            return Ok(None);
        }
        if let Some(why) = self.login.refused.get() {
            return Err(UsageError::new(why.clone()).into());
        }
        let made = self.login.done.get_or_try_init(|| self.log_in()).await;
        if let Err(e) = &made {
            if let Some(usage) = e.downcast_ref::<UsageError>() {
                let _ = self.login.refused.set(usage.to_string());
            }
        }
        made.map(Some)
    }

    /// Logs in (mwbot: site info and the login), takes over its logged-in
    /// client, and asks the wiki who the bot is. Not counted in the run's
    /// API requests: part of connecting.
    async fn log_in(&self) -> Result<LoggedIn> {
        let (config, creds, url) = (&self.login.config, &self.login.creds, &self.url);
        let make_builder = || {
            let builder = mwbot::Bot::builder(url.clone())
                .set_user_agent(user_agent(&config.wiki.user_agent_contact))
                .set_maxlag(config.wiki.maxlag)
                .set_save_delay(config.wiki.edit_interval_secs)
                .set_mark_as_bot(true)
                .set_respect_nobots(true)
                // mwapi retries lag and rate-limit answers with their Retry-After
                // while connecting; after that, `wiki_http` answers for every request.
                .set_retry_limit(5);
            match creds {
                Credentials::Anonymous => builder,
                Credentials::BotPassword {
                    username, password, ..
                } => builder.set_botpassword(username.clone(), password.expose().to_string()),
                Credentials::OAuth2 {
                    username, token, ..
                } => builder.set_oauth2_token(
                    username.clone().unwrap_or_else(|| "GoalsBot".into()),
                    token.expose().to_string(),
                ),
            }
        };
        // A wiki that drops a connection or answers 5xx while we connect is
        // tried again (at most CONNECT_ATTEMPTS times); a refused login is not.
        let mut attempt = 0;
        let bot = loop {
            attempt += 1;
            let err = match tokio::time::timeout(CONNECT_TIMEOUT, make_builder().build()).await {
                Err(_) => anyhow!(
                    "wiki at {url} did not answer within {}s: check wiki.url (or {}) and the network",
                    CONNECT_TIMEOUT.as_secs(),
                    crate::config::ENV_WIKI_URL
                ),
                Ok(Err(e)) => connect_error(url, creds, e),
                Ok(Ok(bot)) => break bot,
            };
            if attempt >= CONNECT_ATTEMPTS || err.downcast_ref::<UsageError>().is_some() {
                return Err(err);
            }
            // mwbot's client does not show us a Retry-After while connecting:
            // wait longer than MediaWiki's usual maxlag wait (5 s).
            let wait = CONNECT_BACKOFF * attempt;
            tracing::warn!("connecting: {err:#}; trying again in {} s", wait.as_secs());
            tokio::time::sleep(wait).await;
        };
        self.http.adopt(bot.api().http_client().clone());
        // The bot's own name is the wiki's, not the login form it was given
        // (`Name@AppId`, another spelling, or none with an OAuth 2 token).
        let params: Vec<(String, String)> = [
            ("action", "query"),
            ("meta", "userinfo"),
            ("uiprop", "groups"),
            ("formatversion", "2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let v = self
            .http
            .api_get(&params, &|| {})
            .await
            .with_context(|| format!("asking the wiki at {url} who the bot is logged in as"))?;
        let user_name = parse_user_name(&v).with_context(|| {
            format!("the wiki at {url} did not say who the bot is logged in as")
        })?;
        if let Some(expected) = &self.login.expected_name {
            if *expected != user_name {
                tracing::warn!(
                    "the wiki calls the bot {user_name:?}, not {expected:?} as its login name says; \
                     {{{{bots}}}} templates were read for {expected:?} in this run"
                );
            }
        }
        let is_bot = v["query"]["userinfo"]["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "bot"));
        tracing::debug!(user = %user_name, is_bot, "logged in");
        Ok(LoggedIn {
            bot,
            user_name,
            is_bot,
        })
    }

    /// This connection, for a run that obeys the emergency stop: push looks at
    /// the shutoff page again before each page save (`sync`, `watch`; an
    /// operator's `push` at a terminal does not). Counters and the pause
    /// between saves are shared with `self`.
    pub fn obeying_shutoff(mut self) -> Wiki {
        self.obeys_shutoff = true;
        self
    }

    /// Whether page saves look at the shutoff page first.
    pub fn obeys_shutoff(&self) -> bool {
        self.obeys_shutoff
    }

    /// Why the bot is logged out for good (its session ended and logging in
    /// again failed); `None` while it is logged in or reading anonymously.
    pub fn session_lost(&self) -> Option<String> {
        self.http.session_lost()
    }

    /// Why this login may not edit: it is not in the wiki's bot group, so its
    /// edits would not be marked bot (`docs/shared-wiki.md`). `None` when it is a
    /// bot, or reads anonymously (then nothing is saved anyway). Logs in when
    /// it has not yet. Saves also carry `assert=bot`, so the wiki refuses an
    /// edit this check missed.
    pub async fn bot_flag_refusal(&self) -> Result<Option<String>> {
        Ok(self
            .logged_in()
            .await?
            .filter(|l| !l.is_bot)
            .map(|l| bot_flag_missing(&l.user_name)))
    }

    /// [`Wiki::bot_flag_refusal`] when the login is made already, without making it.
    pub fn known_bot_flag_refusal(&self) -> Option<String> {
        self.login
            .done
            .get()
            .filter(|l| !l.is_bot)
            .map(|l| bot_flag_missing(&l.user_name))
    }

    /// The bot's user name: the wiki's once logged in, before that as the
    /// credentials give it; `None` when reading anonymously, or when an OAuth
    /// 2 token came without a name and the login was not made yet.
    pub fn user_name(&self) -> Option<&str> {
        match self.login.done.get() {
            Some(l) => Some(&l.user_name),
            None => self.login.expected_name.as_deref(),
        }
    }

    /// The bot's user name, logging in when only the wiki can say it (an
    /// OAuth 2 token without `GOALSBOT_USERNAME`); empty when anonymous.
    pub async fn user_name_now(&self) -> Result<String> {
        if let Some(name) = self.user_name() {
            return Ok(name.to_string());
        }
        Ok(self
            .logged_in()
            .await?
            .map(|l| l.user_name.clone())
            .unwrap_or_default())
    }

    /// The logged-in mwbot, once the login is made (tests save through it).
    pub fn bot(&self) -> Option<&mwbot::Bot> {
        self.login.done.get().map(|l| &l.bot)
    }

    /// Logs in now, when there are credentials and it was not done yet (a
    /// writing run checks them before it reads anything, so that a wrong
    /// password fails it at once with exit 2, whether or not there is
    /// something to write; a refused login is not tried again in the run).
    pub async fn log_in_now(&self) -> Result<()> {
        self.logged_in().await.map(|_| ())
    }

    /// The script path this wiki was reached at.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The request counters of this connection.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// One counted GET to the action API (each try counted), through [`crate::wiki_http`].
    pub async fn api_get(&self, params: &[(&str, &str)]) -> Result<Value> {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let counters = self.counters.clone();
        self.http
            .api_get(&params, &move || {
                counters.api_requests.fetch_add(1, Ordering::Relaxed);
            })
            .await
    }

    /// The latest revision of each title with its text and edit protection,
    /// in one request (titles as asked; `None` for a missing page).
    pub async fn page_contents(&self, titles: &[String]) -> Result<Vec<Option<PageContent>>> {
        if titles.is_empty() {
            return Ok(Vec::new());
        }
        let joined = titles.join("|");
        let v = self
            .api_get(&[
                ("action", "query"),
                ("prop", "revisions|info"),
                ("inprop", "protection"),
                ("rvprop", "ids|user|timestamp|content"),
                ("rvslots", "main"),
                ("titles", &joined),
                ("format", "json"),
                ("formatversion", "2"),
            ])
            .await?;
        Ok(contents_of(&v["query"], titles))
    }

    /// [`Wiki::page_contents`] and, in the same request, the wiki's recent
    /// changes from `from` on (oldest first, `from`'s own change included;
    /// at most [`FEED_BATCH`]), with whether more follow (`watch`'s poll).
    pub async fn contents_and_changes(
        &self,
        titles: &[String],
        from: &Position,
    ) -> Result<(Vec<Option<PageContent>>, Vec<Change>, bool)> {
        let joined = titles.join("|");
        let limit = FEED_BATCH.to_string();
        let mut params = vec![
            ("action", "query"),
            ("list", "recentchanges"),
            ("rcprop", "title|ids|user|timestamp|loginfo"),
            ("rctype", "edit|new|log"),
            ("rcdir", "newer"),
            ("rcstart", from.timestamp.as_str()),
            ("rclimit", limit.as_str()),
            ("format", "json"),
            ("formatversion", "2"),
        ];
        if !titles.is_empty() {
            params.extend([
                ("prop", "revisions|info"),
                ("inprop", "protection"),
                ("rvprop", "ids|user|timestamp|content"),
                ("rvslots", "main"),
                ("titles", joined.as_str()),
            ]);
        }
        let v = self.api_get(&params).await?;
        let more = v["continue"]["rccontinue"].is_string();
        let changes = changes_of(&v["query"]["recentchanges"]);
        Ok((contents_of(&v["query"], titles), changes, more))
    }

    /// The newest entry of the wiki's recent changes (`None`: the feed is empty).
    pub async fn newest_change(&self) -> Result<Option<Position>> {
        let v = self
            .api_get(&[
                ("action", "query"),
                ("list", "recentchanges"),
                ("rcprop", "ids|timestamp"),
                ("rcdir", "older"),
                ("rclimit", "1"),
                ("format", "json"),
                ("formatversion", "2"),
            ])
            .await?;
        Ok(changes_of(&v["query"]["recentchanges"])
            .first()
            .map(|c| Position {
                timestamp: c.timestamp.clone(),
                rcid: c.rcid,
            }))
    }
}

/// How many recent changes one poll asks for (the API's limit for a
/// client without the `apihighlimits` right).
pub const FEED_BATCH: u32 = 500;

/// The entries of a `list=recentchanges` answer.
fn changes_of(list: &Value) -> Vec<Change> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(Change {
                rcid: c["rcid"].as_u64()?,
                timestamp: c["timestamp"].as_str()?.to_string(),
                title: c["title"].as_str().unwrap_or_default().to_string(),
                user: c["user"].as_str().map(String::from),
                moved_to: c["logparams"]["target_title"].as_str().map(String::from),
            })
        })
        .collect()
}

/// The latest revision of each of `titles` in a `prop=revisions|info` answer.
fn contents_of(q: &Value, titles: &[String]) -> Vec<Option<PageContent>> {
    // Titles come back normalised (underscores, first letter): map them back.
    let mut norm: std::collections::HashMap<String, String> = Default::default();
    for n in q["normalized"].as_array().into_iter().flatten() {
        if let (Some(from), Some(to)) = (n["from"].as_str(), n["to"].as_str()) {
            norm.insert(from.to_string(), to.to_string());
        }
    }
    let pages = q["pages"].as_array().cloned().unwrap_or_default();
    titles
        .iter()
        .map(|t| {
            let want = norm.get(t).cloned().unwrap_or_else(|| t.clone());
            let page = pages.iter().find(|p| p["title"].as_str() == Some(&want))?;
            let rev = page["revisions"].as_array()?.first()?;
            Some(PageContent {
                title: want.clone(),
                revid: rev["revid"].as_u64()?,
                user: rev["user"].as_str().unwrap_or("").to_string(),
                content: rev["slots"]["main"]["content"].as_str()?.to_string(),
                edit_protection: page["protection"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["type"] == "edit")
                    .filter_map(|p| p["level"].as_str().map(String::from))
                    .collect(),
            })
        })
        .collect()
}

impl Wiki {
    /// Revisions of `title` after revision `after` (all from the first when
    /// `None`), oldest first, with their text: at most 50 per call; the
    /// flag says whether more follow. A revision whose text an admin hid
    /// (revision deletion: `texthidden` / `sha1hidden`) comes without text.
    pub async fn revisions_after(
        &self,
        title: &str,
        after: Option<u64>,
    ) -> Result<(Vec<HistoryRevision>, bool)> {
        let start = after.map(|a| a.to_string());
        let mut params = vec![
            ("action", "query"),
            ("prop", "revisions"),
            ("rvprop", "ids|user|timestamp|sha1|content"),
            ("rvslots", "main"),
            ("rvdir", "newer"),
            ("rvlimit", "50"),
            ("titles", title),
            ("format", "json"),
            ("formatversion", "2"),
        ];
        if let Some(s) = &start {
            params.push(("rvstartid", s));
        }
        let v = self.api_get(&params).await?;
        let page = &v["query"]["pages"][0];
        let revs: Vec<HistoryRevision> = page["revisions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let main = &r["slots"]["main"];
                let hidden = [&r["texthidden"], &r["sha1hidden"], &main["texthidden"]]
                    .iter()
                    .any(|f| f.as_bool() == Some(true));
                Some(HistoryRevision {
                    revid: r["revid"].as_u64()?,
                    user: r["user"].as_str().unwrap_or("").to_string(),
                    content: main["content"]
                        .as_str()
                        .filter(|_| !hidden)
                        .map(String::from),
                })
            })
            .filter(|r| Some(r.revid) != after)
            .collect();
        Ok((revs, v.get("continue").is_some()))
    }

    /// The first revision of `title` after revision `after`: `(revid, user, comment)`.
    pub async fn next_revision(
        &self,
        title: &str,
        after: u64,
    ) -> Result<Option<(u64, String, String)>> {
        let revs = self.revisions_from(title, after, None, "2").await?;
        Ok(revs.into_iter().find(|(revid, _, _)| *revid != after))
    }

    /// The edit summaries of `user`'s revisions of `title` after revision
    /// `after`, oldest first (at most 500): `(revision id, summary)`. Only
    /// that account can have saved them, so they tell what it wrote.
    pub async fn summaries_by(
        &self,
        title: &str,
        user: &str,
        after: u64,
    ) -> Result<Vec<(u64, String)>> {
        let revs = self.revisions_from(title, after, Some(user), "500").await?;
        Ok(revs.into_iter().map(|(r, _, c)| (r, c)).collect())
    }

    /// Revisions of `title` from revision `from` on (by `user` only, when
    /// given), oldest first, at most `limit`: `(revid, user, comment)`.
    async fn revisions_from(
        &self,
        title: &str,
        from: u64,
        user: Option<&str>,
        limit: &str,
    ) -> Result<Vec<(u64, String, String)>> {
        let start = from.to_string();
        let mut params = vec![
            ("action", "query"),
            ("prop", "revisions"),
            ("rvprop", "ids|user|comment"),
            ("rvdir", "newer"),
            ("rvstartid", start.as_str()),
            ("rvlimit", limit),
            ("titles", title),
            ("format", "json"),
            ("formatversion", "2"),
        ];
        if let Some(u) = user {
            params.push(("rvuser", u));
        }
        let v = self.api_get(&params).await?;
        Ok(v["query"]["pages"][0]["revisions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["revid"].as_u64()?,
                    r["user"].as_str().unwrap_or("").to_string(),
                    r["comment"].as_str().unwrap_or("").to_string(),
                ))
            })
            .collect())
    }

    /// Site name, MediaWiki version, and the logged-in user's groups and rights.
    pub async fn site_and_user(&self) -> Result<SiteAndUser> {
        let v = self
            .api_get(&[
                ("action", "query"),
                ("meta", "siteinfo|userinfo"),
                ("siprop", "general"),
                ("uiprop", "groups|rights"),
                ("format", "json"),
                ("formatversion", "2"),
            ])
            .await?;
        parse_site_and_user(&v)
    }

    /// The latest revision of each title, at most [`TITLES_PER_REQUEST`]
    /// titles per API request. A redirect is resolved only to say where it
    /// points: its [`PageRevision::redirected`] is set and every caller leaves
    /// the title alone ([`PageRevision::redirect_refusal`]).
    pub async fn latest_revisions(&self, titles: &[String]) -> Result<Vec<PageRevision>> {
        let mut out = Vec::with_capacity(titles.len());
        for chunk in titles.chunks(TITLES_PER_REQUEST) {
            let joined = chunk.join("|");
            let v = self
                .api_get(&[
                    ("action", "query"),
                    ("prop", "revisions"),
                    ("rvprop", "ids|timestamp|user|sha1"),
                    ("redirects", "1"),
                    ("titles", &joined),
                    ("format", "json"),
                    ("formatversion", "2"),
                ])
                .await?;
            out.extend(parse_latest_revisions(chunk, &v)?);
        }
        Ok(out)
    }

    /// Parsoid HTML of one revision of a page (counted as an HTML fetch).
    pub async fn revision_html(&self, title: &str, revid: u64) -> Result<String> {
        self.counters.html_fetches.fetch_add(1, Ordering::Relaxed);
        self.http
            .get_text(
                &format!("rest.php/v1/revision/{revid}/html?redirect=no&flavor=edit"),
                &format!("fetching HTML of {title:?} (revision {revid})"),
            )
            .await
    }

    /// A pool that reads Parsoid HTML in the background, at most
    /// `wiki.reads_in_flight` requests at once (see [`HtmlReader`]).
    pub fn html_reader(&self) -> HtmlReader {
        HtmlReader {
            wiki: self.clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(self.reads_in_flight)),
        }
    }

    /// The most page reads that were in flight at once in this connection.
    pub fn most_reads_at_once(&self) -> u64 {
        self.counters.reads_most.load(Ordering::SeqCst)
    }

    /// One counted edit (`action=edit` with a CSRF token), at least
    /// `wiki.edit_interval_secs` after the previous one. Edits are serialised:
    /// the lock is held until the save is answered, or found in the page's
    /// history when its answer was lost ([`crate::wiki_http`]).
    pub async fn api_edit(&self, params: &[(&str, String)]) -> Result<Value> {
        let user = self.logged_in().await?.map(|l| l.user_name.clone());
        let mut last = self.last_save.lock().await;
        if let Some(t) = *last {
            tokio::time::sleep_until(t + self.edit_interval).await;
        }
        self.counters.edits.fetch_add(1, Ordering::Relaxed);
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let title = params
            .iter()
            .find(|(k, _)| k == "title")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let counters = self.counters.clone();
        crate::fault::reached("wiki.before-edit");
        let result = self
            .http
            .api_write(&params, user.as_deref(), &move || {
                counters.api_requests.fetch_add(1, Ordering::Relaxed);
            })
            .await;
        *last = Some(tokio::time::Instant::now());
        match result {
            Ok(v) => Ok(v),
            // MediaWiki could not merge our text with a save made since our base revision.
            Err(e)
                if e.downcast_ref::<crate::wiki_http::ApiError>()
                    .is_some_and(|a| a.code == "editconflict") =>
            {
                Err(EditConflict { title }.into())
            }
            // The bot flag was removed since this run connected.
            Err(e)
                if e.downcast_ref::<crate::wiki_http::ApiError>()
                    .is_some_and(|a| a.code == "assertbotfailed") =>
            {
                let name = user.as_deref().unwrap_or("the bot account");
                Err(NotABot {
                    reason: bot_flag_missing(name),
                }
                .into())
            }
            Err(e) => Err(e.context(format!("saving {title:?} failed"))),
        }
    }
}

/// Saving pages and reading revisions back.
impl Wiki {
    /// Saves `text` to `title` against `baserevid` (None: create only).
    ///
    /// MediaWiki merges a save based on an older revision with the saves made
    /// since when it can; [`Saved::oldrevid`] then differs from `baserevid`, and
    /// the caller must pull the page again (the new revision holds someone
    /// else's change too). When it cannot merge, this fails with [`EditConflict`].
    pub async fn save(
        &self,
        title: &str,
        text: &str,
        summary: &str,
        baserevid: Option<u64>,
    ) -> Result<Saved> {
        self.save_asserting(title, text, summary, baserevid, "bot")
            .await
    }

    /// [`Wiki::save`] for the bot's own status page, which also says why the
    /// bot edits nothing when it has lost its bot flag: asserts only the login.
    pub async fn save_own_page(
        &self,
        title: &str,
        text: &str,
        summary: &str,
        baserevid: Option<u64>,
    ) -> Result<Saved> {
        self.save_asserting(title, text, summary, baserevid, "user")
            .await
    }

    async fn save_asserting(
        &self,
        title: &str,
        text: &str,
        summary: &str,
        baserevid: Option<u64>,
        assert: &str,
    ) -> Result<Saved> {
        let mut params = edit_params(assert, title, text, summary);
        match baserevid {
            Some(rev) => {
                params.push(("baserevid", rev.to_string()));
                params.push(("nocreate", "1".into()));
            }
            None => params.push(("createonly", "1".into())),
        }
        let resp = self.api_edit(&params).await?;
        let edit = saved_edit(&resp, title)?;
        if edit["nochange"].as_bool() == Some(true) {
            let rev = baserevid
                .ok_or_else(|| anyhow!("no revision id in the edit answer for {title:?}"))?;
            return Ok(Saved {
                newrevid: rev,
                oldrevid: Some(rev),
            });
        }
        let newrevid = edit["newrevid"]
            .as_u64()
            .ok_or_else(|| anyhow!("no revision id in the edit answer for {title:?}"))?;
        Ok(Saved {
            newrevid,
            oldrevid: edit["oldrevid"].as_u64().filter(|r| *r != 0),
        })
    }

    /// Adds a new section `heading` with `text` at the end of `title` (made
    /// when missing), as MediaWiki's "add topic" does: no edit conflict is
    /// possible. Returns the new revision.
    pub async fn new_section(
        &self,
        title: &str,
        heading: &str,
        text: &str,
        summary: &str,
    ) -> Result<u64> {
        let mut params = edit_params("bot", title, text, summary);
        params.push(("section", "new".into()));
        params.push(("sectiontitle", heading.into()));
        let resp = self.api_edit(&params).await?;
        saved_edit(&resp, title)?["newrevid"]
            .as_u64()
            .ok_or_else(|| anyhow!("no revision id in the edit answer for {title:?}"))
    }

    /// The wikitext of several revisions, [`TITLES_PER_REQUEST`] revisions a
    /// request (one at a time); a revision the answer lacks (hidden, deleted)
    /// is left out, and read alone when wanted.
    pub async fn revision_wikitexts(&self, revids: &[u64]) -> Result<Vec<(u64, String)>> {
        let mut out = Vec::with_capacity(revids.len());
        for chunk in revids.chunks(TITLES_PER_REQUEST) {
            let joined = chunk
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("|");
            let v = self
                .api_get(&[
                    ("action", "query"),
                    ("prop", "revisions"),
                    ("revids", &joined),
                    ("rvprop", "ids|content"),
                    ("rvslots", "main"),
                    ("format", "json"),
                    ("formatversion", "2"),
                ])
                .await?;
            for page in v["query"]["pages"].as_array().into_iter().flatten() {
                for rev in page["revisions"].as_array().into_iter().flatten() {
                    if let (Some(revid), Some(text)) = (
                        rev["revid"].as_u64(),
                        rev["slots"]["main"]["content"].as_str(),
                    ) {
                        out.push((revid, text.to_string()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Fetches a revision's wikitext (one API request).
    pub async fn revision_wikitext(&self, revid: u64) -> Result<String> {
        let rev = revid.to_string();
        let v = self
            .api_get(&[
                ("action", "query"),
                ("prop", "revisions"),
                ("revids", &rev),
                ("rvprop", "content"),
                ("rvslots", "main"),
                ("format", "json"),
                ("formatversion", "2"),
            ])
            .await?;
        v["query"]["pages"][0]["revisions"][0]["slots"]["main"]["content"]
            .as_str()
            .map(String::from)
            .with_context(|| format!("revision {revid} has no wikitext in the answer"))
    }
}

/// The parameters of every save: a bot edit of `title` asserting `assert`
/// (`bot`, or `user` for the bot's own status page).
fn edit_params<'a>(assert: &str, title: &str, text: &str, summary: &str) -> Vec<(&'a str, String)> {
    vec![
        ("action", "edit".into()),
        ("assert", assert.into()),
        ("title", title.into()),
        ("text", text.into()),
        ("summary", summary.into()),
        ("bot", "1".into()),
        ("format", "json".into()),
        ("formatversion", "2".into()),
    ]
}

/// The `edit` part of a save's answer, when the wiki says it saved.
fn saved_edit<'v>(resp: &'v serde_json::Value, title: &str) -> Result<&'v serde_json::Value> {
    let edit = &resp["edit"];
    if edit["result"].as_str() != Some("Success") {
        anyhow::bail!("the wiki did not save {title:?}: {resp}");
    }
    Ok(edit)
}

/// What to do when `name` has no bot flag: where to ask for it.
pub fn bot_flag_missing(name: &str) -> String {
    format!(
        "{name} is not in the wiki's bot group, so its edits would not be marked bot: no page is \
         edited until it is. Ask for the bot flag (on mediawiki.org at [[Project:Requests for permissions]], \
         formerly Project:Requests; a bureaucrat grants it at [[Special:UserRights/{name}]]); \
         `goalsbot doctor` checks it"
    )
}

/// Turns an mwbot connection error into a message that says what to do,
/// without ever quoting credentials.
fn connect_error(url: &str, creds: &Credentials, err: mwbot::ConfigError) -> anyhow::Error {
    let text = format!("{err}");
    let debug = format!("{err:?}");
    let mut scrubbed = text.clone();
    for s in creds.secrets() {
        scrubbed = scrubbed.replace(s, "***");
    }
    let lower = format!("{text} {debug}").to_lowercase();
    if lower.contains("wrongpass")
        || lower.contains("incorrect username or password")
        || lower.contains("wrongpluginpass")
        || lower.contains("login failed")
        || lower.contains("invalid_token")
        || lower.contains("mwoauth-invalid-authorization")
    {
        let who = creds.username().unwrap_or("(unknown)");
        let source = match creds {
            Credentials::BotPassword { source, .. } | Credentials::OAuth2 { source, .. } => {
                source.to_string()
            }
            Credentials::Anonymous => "nowhere".into(),
        };
        return anyhow::Error::new(UsageError::new(format!(
            "login to {url} as {who} failed: wrong user name or password (credentials from {source}). \
             A bot password logs in as Name@AppId with the generated password from Special:BotPasswords: \
             check {} and {} (or {} for OAuth 2)",
            crate::config::ENV_USERNAME,
            crate::config::ENV_PASSWORD,
            crate::config::ENV_OAUTH2_TOKEN
        )));
    }
    if lower.contains("connect") || lower.contains("dns") || lower.contains("error sending request")
    {
        return anyhow!(
            "cannot reach the wiki at {url}: {scrubbed}. Check wiki.url (or {}) and the network",
            crate::config::ENV_WIKI_URL
        );
    }
    anyhow!("connecting to the wiki at {url} failed: {scrubbed}")
}

/// The wiki did not answer the first request of an anonymous connection.
fn cannot_reach(url: &str, err: anyhow::Error) -> anyhow::Error {
    anyhow!(
        "cannot reach the wiki at {url}: {err:#}. Check wiki.url (or {}) and the network",
        crate::config::ENV_WIKI_URL
    )
}

/// Parses the `meta=siteinfo|userinfo` answer.
pub fn parse_site_and_user(v: &Value) -> Result<SiteAndUser> {
    let general = &v["query"]["general"];
    let userinfo = &v["query"]["userinfo"];
    let strs = |x: &Value| -> Vec<String> {
        x.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let anon = userinfo
        .get("anon")
        .is_some_and(|a| a.as_bool().unwrap_or(true));
    Ok(SiteAndUser {
        sitename: general["sitename"]
            .as_str()
            .context("siteinfo answer has no sitename: is wiki.url a MediaWiki script path?")?
            .to_string(),
        generator: general["generator"]
            .as_str()
            .unwrap_or("MediaWiki (unknown version)")
            .to_string(),
        server: general["server"].as_str().unwrap_or_default().to_string(),
        user: (!anon)
            .then(|| userinfo["name"].as_str().map(String::from))
            .flatten(),
        groups: strs(&userinfo["groups"]),
        rights: strs(&userinfo["rights"]),
    })
}

/// The logged-in user's name from a `meta=userinfo` answer; an error when
/// the answer is anonymous or has no name.
pub fn parse_user_name(v: &Value) -> Result<String> {
    let info = &v["query"]["userinfo"];
    if info
        .get("anon")
        .is_some_and(|a| a.as_bool().unwrap_or(true))
    {
        return Err(anyhow!(
            "the wiki answers as an anonymous user: the login did not take"
        ));
    }
    info["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .context("the userinfo answer has no user name")
}

/// Parses a `prop=revisions` answer for the titles of one batch.
pub fn parse_latest_revisions(requested: &[String], v: &Value) -> Result<Vec<PageRevision>> {
    let query = v
        .get("query")
        .context("revision check answer has no `query`")?;
    // Follow normalisation, then redirects, from the requested title to the page title.
    let map = |key: &str| -> Vec<(String, String)> {
        query[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        Some((
                            e["from"].as_str()?.to_string(),
                            e["to"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let normalized = map("normalized");
    let redirects = map("redirects");
    let pages = query["pages"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(requested.len());
    for req in requested {
        let mut title = req.clone();
        if let Some((_, to)) = normalized.iter().find(|(f, _)| *f == title) {
            title = to.clone();
        }
        let mut redirected = false;
        // Chains of redirects are followed by the API in one go; guard anyway.
        for _ in 0..5 {
            match redirects.iter().find(|(f, _)| *f == title) {
                Some((_, to)) => {
                    title = to.clone();
                    redirected = true;
                }
                None => break,
            }
        }
        let page = pages
            .iter()
            .find(|p| p["title"].as_str() == Some(title.as_str()));
        let latest = page.and_then(|p| {
            if p.get("missing").is_some() || p.get("invalid").is_some() {
                return None;
            }
            let rev = p["revisions"].get(0)?;
            Some(RevisionInfo {
                revid: rev["revid"].as_u64()?,
                user: rev["user"].as_str().unwrap_or_default().to_string(),
                timestamp: rev["timestamp"].as_str().unwrap_or_default().to_string(),
                sha1: rev["sha1"].as_str().map(str::to_ascii_lowercase),
            })
        });
        out.push(PageRevision {
            requested: req.clone(),
            title,
            latest,
            redirected,
        });
    }
    Ok(out)
}

/// Reads Parsoid HTML in the background, a few requests at once: a pull
/// asks for the pages ahead of the one it merges, and merges while they come.
pub struct HtmlReader {
    wiki: Wiki,
    slots: Arc<tokio::sync::Semaphore>,
}

impl HtmlReader {
    /// Starts reading the HTML of `title` at `revid`; it waits for a free slot.
    pub fn spawn(&self, title: &str, revid: u64) -> PendingHtml {
        let (wiki, slots, title) = (self.wiki.clone(), self.slots.clone(), title.to_string());
        let task = tokio::spawn(async move {
            let _slot = slots.acquire_owned().await;
            let c = &wiki.counters;
            let now = c.reads_now.fetch_add(1, Ordering::SeqCst) + 1;
            c.reads_most.fetch_max(now, Ordering::SeqCst);
            let html = wiki.revision_html(&title, revid).await;
            c.reads_now.fetch_sub(1, Ordering::SeqCst);
            html
        });
        PendingHtml { task }
    }
}

/// One page's HTML being read ([`HtmlReader::spawn`]); dropping it stops the read.
pub struct PendingHtml {
    task: tokio::task::JoinHandle<Result<String>>,
}

impl PendingHtml {
    /// The HTML, once read.
    pub async fn html(mut self) -> Result<String> {
        match (&mut self.task).await {
            Ok(html) => html,
            Err(e) => Err(anyhow!("reading a page's HTML stopped: {e}")),
        }
    }
}

impl Drop for PendingHtml {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_agent_follows_policy() {
        let ua = user_agent("https://www.mediawiki.org/wiki/User:GoalsBot");
        assert!(ua.starts_with("goalsbot/"));
        assert!(ua.ends_with("(https://www.mediawiki.org/wiki/User:GoalsBot)"));
    }

    #[test]
    fn revisions_follow_normalisation_and_redirects() {
        let v = json!({"query": {
        "normalized": [{"from": "Goals/a_b", "to": "Goals/a b"}],
        "redirects": [{"from": "Goals/a b", "to": "Goals/c"}],
        "pages": [
            {"title": "Goals/c", "revisions": [{"revid": 7, "user": "Ann", "timestamp": "2021-01-01T00:00:00Z"}]},
            {"title": "Goals/missing", "missing": true}
        ]}});
        let got =
            parse_latest_revisions(&["Goals/a_b".into(), "Goals/missing".into()], &v).unwrap();
        assert_eq!(got[0].title, "Goals/c");
        assert!(got[0].redirected);
        assert_eq!(got[0].latest.as_ref().unwrap().revid, 7);
        assert_eq!(got[1].latest, None);
    }

    #[test]
    fn the_bots_name_is_the_one_userinfo_gives() {
        // An OAuth 2 login without GOALSBOT_USERNAME: the name comes from the wiki.
        let v = json!({"query": {"userinfo": {"id": 7, "name": "GoalsBot"}}});
        let name = parse_user_name(&v).unwrap();
        assert_eq!(name, "GoalsBot");
        assert!(!crate::core::wikitext::bots_allowed(
            "{{bots|deny=GoalsBot}}",
            &name
        ));
        assert!(crate::core::wikitext::bots_allowed(
            "{{bots|allow=GoalsBot}}",
            &name
        ));
        let anon = json!({"query": {"userinfo": {"id": 0, "name": "127.0.0.1", "anon": true}}});
        assert!(parse_user_name(&anon).is_err());
        assert!(parse_user_name(&json!({"query": {}})).is_err());
    }

    #[test]
    fn site_and_user_anonymous() {
        let v = json!({"query": {"general": {"sitename": "W", "generator": "MediaWiki 1.43.9"},
            "userinfo": {"id": 0, "name": "127.0.0.1", "anon": true, "groups": ["*"], "rights": ["read", "edit"]}}});
        let s = parse_site_and_user(&v).unwrap();
        assert_eq!(s.user, None);
        assert!(!s.is_bot());
    }
}
