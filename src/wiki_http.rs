//! The wiki's HTTP transport for `Wiki` (`src/wiki.rs`): every request after
//! login goes through here, so a sick wiki is met in one place.
//!
//! - **Retry-After is obeyed** for the whole connection, not just the request
//!   that got it: after a `maxlag` answer (HTTP 200 with
//!   `MediaWiki-API-Error: maxlag`), a 429 or a 503, no request leaves
//!   before the wait the wiki asked for (at least a second, at most
//!   [`MAX_WAIT`]). A dropped connection or a cut-off answer waits 1, 2, 4, …
//!   seconds.
//! - **Give-up limits are finite**: a request is sent at most
//!   [`MAX_ATTEMPTS`] times; then the run gets an error naming the wiki's
//!   last answer, and for [`GIVE_UP_PAUSE`] every further request fails at
//!   once instead of hammering a wiki that is down (the run ends, exit 1,
//!   with what it finished recorded).
//! - **A save whose answer was lost** (connection reset after sending, a
//!   timeout, a 5xx, a cut-off answer) may have been made: before sending it
//!   again the page's latest revisions are read, and a revision by the bot
//!   with the same summary after the save's base revision *is* that save
//!   (summaries name the run, or the request a reply answers). It is taken
//!   as the answer, never made twice. Only `maxlag`, 429 and rate-limit
//!   answers, which MediaWiki gives before doing anything, are sent again
//!   without looking.
//! - **A lost login heals once**: when the wiki answers `assertuserfailed`
//!   (the bot's session ended: expired, the session store was emptied, the
//!   user's sessions were reset), a bot password logs in again, once per
//!   request, and the request is sent again; MediaWiki checks assertions
//!   before doing anything, so nothing is done twice. A save refused with
//!   `assertbotfailed` asks who the bot is first (which heals a lost
//!   session), so a lost session is not taken for a removed bot flag. When
//!   logging in again fails (the bot password was revoked, the OAuth token
//!   is no longer accepted) the connection is **lost** for good: every
//!   further request fails at once with [`SessionLost`], and `watch` exits.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use serde_json::Value;
use tokio::time::Instant;

/// How many times one request is sent before the run gives up.
pub const MAX_ATTEMPTS: u32 = 5;
/// The longest the bot waits between two tries, whatever Retry-After says.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// After giving up, requests fail at once for this long.
pub const GIVE_UP_PAUSE: Duration = Duration::from_secs(120);
/// How long one try may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// An error the action API answered with (not retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API error: (code: {code}): {info}")]
pub struct ApiError {
    pub code: String,
    pub info: String,
}

/// The bot is no longer logged in and could not log in again: the run
/// stops (`watch` exits non-zero, so its job is restarted and mails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SessionLost {
    pub reason: String,
}

/// How the transport logs in again after the wiki says the bot is logged out.
#[derive(Clone, Default)]
pub enum Login {
    /// Anonymous reads: nothing is asserted.
    #[default]
    Anonymous,
    /// A bot password (`Name@AppId`): logs in again with `action=login`.
    BotPassword {
        name: String,
        password: crate::config::Secret,
    },
    /// An OAuth 2 token is sent with every request: there is no session to
    /// make again, only a token the wiki no longer accepts.
    OAuth2,
}

/// The login's state, shared by every clone of the transport.
#[derive(Default)]
struct SessionState {
    /// Counts the logins made again; an edit token belongs to one of them.
    generation: std::sync::atomic::AtomicU64,
    /// One login at a time.
    relogin: tokio::sync::Mutex<()>,
    /// Set when logging in again failed: why.
    lost: std::sync::Mutex<Option<String>>,
}

/// What one try came to.
enum Try {
    /// An answer (API JSON without an error, or a page body).
    Done(Answer),
    /// Not done on the wiki (maxlag, 429, nothing sent, or a read): send again after `wait`.
    Again { why: String, wait: Option<u64> },
    /// A write may or may not have been done: look before sending again.
    Unknown { why: String, wait: Option<u64> },
    /// An answer that another try will not change.
    Fail(anyhow::Error),
}

/// A successful answer.
pub enum Answer {
    Json(Value),
    Text(String),
}

#[derive(Debug, Default)]
struct Pace {
    /// No request leaves before this (Retry-After, backoff).
    not_before: Option<Instant>,
    /// Set when the run gave up: requests fail at once until then.
    down: Option<(Instant, String)>,
}

/// The transport: the logged-in HTTP client, the wiki's paths, and the pace.
#[derive(Clone)]
pub struct Transport {
    /// The client: anonymous (or with the OAuth 2 token) until the login,
    /// then the logged-in one with the session's cookies ([`Transport::adopt`]).
    http: Arc<std::sync::RwLock<reqwest::Client>>,
    /// Whether requests go as the logged-in bot (and assert it).
    logged_in: Arc<std::sync::atomic::AtomicBool>,
    url: String,
    maxlag: u32,
    bearer: Option<String>,
    login: Login,
    session: Arc<SessionState>,
    pace: Arc<std::sync::Mutex<Pace>>,
    /// The edit token, with the login generation it belongs to.
    csrf: Arc<tokio::sync::Mutex<Option<(u64, String)>>>,
}

fn header_secs(resp: &reqwest::Response, name: &str) -> Option<u64> {
    resp.headers().get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The API error in an answer (`error` in the default format, `errors` in the others).
fn api_error(v: &Value) -> Option<ApiError> {
    let e = if v["error"].is_object() {
        &v["error"]
    } else {
        v["errors"].get(0)?
    };
    Some(ApiError {
        code: e["code"].as_str().unwrap_or("unknown").to_string(),
        info: e["info"]
            .as_str()
            .or(e["text"].as_str())
            .unwrap_or_default()
            .to_string(),
    })
}

impl Transport {
    /// `http` is the client to start with (User-Agent; logged in or not);
    /// `url` the script path. With an OAuth 2 token (`bearer`) every request
    /// goes as the bot from the start.
    pub fn new(
        http: reqwest::Client,
        url: &str,
        maxlag: u32,
        bearer: Option<String>,
        login: Login,
    ) -> Transport {
        let logged_in = bearer.is_some();
        Transport {
            http: Arc::new(std::sync::RwLock::new(http)),
            logged_in: Arc::new(std::sync::atomic::AtomicBool::new(logged_in)),
            url: url.to_string(),
            maxlag,
            bearer,
            login,
            session: Default::default(),
            pace: Default::default(),
            csrf: Default::default(),
        }
    }

    fn logged_in(&self) -> bool {
        self.logged_in.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The client requests go through now.
    fn client(&self) -> reqwest::Client {
        self.http.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// From now on, requests go through `http`, logged in as the bot (its
    /// cookies hold the session), and assert so.
    pub fn adopt(&self, http: reqwest::Client) {
        *self.http.write().unwrap_or_else(|e| e.into_inner()) = http;
        self.logged_in
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn generation(&self) -> u64 {
        self.session
            .generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Why the bot is logged out for good, once logging in again failed.
    pub fn session_lost(&self) -> Option<String> {
        self.session
            .lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The wiki said the bot is not logged in, on a request sent under login
    /// generation `seen`: logs in again (unless another request already
    /// did since), or marks the connection lost.
    async fn log_in_again(&self, seen: u64, what: &str) -> Result<()> {
        let _one = self.session.relogin.lock().await;
        if let Some(reason) = self.session_lost() {
            return Err(SessionLost { reason }.into());
        }
        if self.generation() != seen {
            return Ok(());
        }
        let (name, password) = match &self.login {
            Login::BotPassword { name, password } => (name, password),
            Login::OAuth2 => {
                return Err(self.lose(format!(
                "{what}: the wiki no longer accepts the bot's OAuth 2 token (assertuserfailed): \
                     it was revoked or expired; make a new owner-only token and set {}",
                crate::config::ENV_OAUTH2_TOKEN
            )))
            }
            Login::Anonymous => {
                return Err(anyhow!(
                    "{what}: the wiki says the bot is not logged in, but it never logged in"
                ))
            }
        };
        tracing::warn!(
            "{what}: the wiki says the bot is no longer logged in (its session ended); logging in again as {name}"
        );
        // Boxed: logging in reads through `read`, which may call this.
        match Box::pin(self.log_in(name, password)).await {
            Ok(()) => {
                self.session
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tracing::warn!("logged in again as {name}; sending the request again");
                Ok(())
            }
            Err(e) => Err(self.lose(format!(
                "the bot's session ended and logging in again as {name} failed: {e:#}. \
                 Nothing more is asked of the wiki in this run; check the bot password \
                 (Special:BotPasswords) and {}",
                crate::config::ENV_PASSWORD
            ))),
        }
    }

    /// Marks the connection lost for good.
    fn lose(&self, reason: String) -> anyhow::Error {
        tracing::error!("{reason}");
        *self.session.lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.clone());
        SessionLost { reason }.into()
    }

    /// `action=login` with a bot password: a login token, then the login.
    async fn log_in(&self, name: &str, password: &crate::config::Secret) -> Result<()> {
        let mut params: Vec<(String, String)> = [
            ("action", "query"),
            ("meta", "tokens"),
            ("type", "login"),
            ("formatversion", "2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        self.etiquette(&mut params, false);
        let api = format!("{}api.php", self.url);
        let what = "logging in again (login token)";
        let token = match self
            .read(
                what,
                true,
                || self.client().get(&api).query(&params),
                &|| {},
            )
            .await?
        {
            Answer::Json(v) => v["query"]["tokens"]["logintoken"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| anyhow!("the wiki gave no login token"))?,
            Answer::Text(_) => unreachable!("API answers are JSON"),
        };
        let mut form: Vec<(String, String)> = vec![
            ("action".into(), "login".into()),
            ("lgname".into(), name.into()),
            ("lgpassword".into(), password.expose().into()),
            ("formatversion".into(), "2".into()),
        ];
        self.etiquette(&mut form, false);
        form.push(("lgtoken".into(), token));
        let v = match self
            .read(
                "logging in again",
                true,
                || self.client().post(&api).form(&form),
                &|| {},
            )
            .await?
        {
            Answer::Json(v) => v,
            Answer::Text(_) => unreachable!("API answers are JSON"),
        };
        match v["login"]["result"].as_str() {
            Some("Success") => Ok(()),
            other => Err(anyhow!(
                "the wiki answered {}: {}",
                other.unwrap_or("no result"),
                v["login"]["reason"]
                    .as_str()
                    .or(v["login"]["reason"]["text"].as_str())
                    .unwrap_or("no reason given")
            )),
        }
    }

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the connection's turn; fails at once after a give-up.
    async fn turn(&self, what: &str) -> Result<()> {
        if let Some(reason) = self.session_lost() {
            return Err(
                anyhow::Error::from(SessionLost { reason }).context(format!("{what}: not asked"))
            );
        }
        let (not_before, down) = {
            let p = self.pace();
            (p.not_before, p.down.clone())
        };
        if let Some((until, why)) = down {
            if Instant::now() < until {
                return Err(anyhow!(
                    "{what}: not asked: the wiki stopped answering earlier in this run ({why})"
                ));
            }
        }
        if let Some(t) = not_before {
            tokio::time::sleep_until(t).await;
        }
        Ok(())
    }

    /// Notes a wait before the next request (Retry-After, else backoff).
    fn hold(&self, what: &str, why: &str, wait: Option<u64>, attempt: u32) {
        let secs = wait
            .unwrap_or(1 << (attempt - 1).min(5))
            .max(1)
            .min(MAX_WAIT.as_secs());
        tracing::warn!(
            "{what}: {why}; waiting {secs} s before asking again (try {attempt} of {MAX_ATTEMPTS})"
        );
        let until = Instant::now() + Duration::from_secs(secs);
        let mut p = self.pace();
        p.not_before = Some(p.not_before.map_or(until, |t| t.max(until)));
    }

    fn give_up(&self, what: &str, why: &str) -> anyhow::Error {
        self.pace().down = Some((Instant::now() + GIVE_UP_PAUSE, why.to_string()));
        anyhow!("{what}: the wiki did not answer after {MAX_ATTEMPTS} tries, giving up: {why}")
    }

    /// One try: sends, and sorts out the answer.
    async fn attempt(&self, req: reqwest::RequestBuilder, api: bool, write: bool) -> Try {
        let mut req = req.timeout(ATTEMPT_TIMEOUT);
        if let Some(b) = &self.bearer {
            req = req.bearer_auth(b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let connect = e.is_connect();
                let why = format!("{:#}", anyhow::Error::from(e.without_url()));
                // A connection never made carried nothing to the wiki.
                return unsure(write && !connect, why, None);
            }
        };
        let status = resp.status();
        let retry_after = header_secs(&resp, "retry-after");
        let maxlag = resp
            .headers()
            .get("mediawiki-api-error")
            .is_some_and(|v| v.as_bytes() == b"maxlag");
        if status.as_u16() == 429 {
            return Try::Again {
                why: format!("HTTP {status}"),
                wait: retry_after,
            };
        }
        if status.is_server_error() {
            return unsure(write, format!("HTTP {status}"), retry_after);
        }
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let why = format!("the answer was cut off: {:#}", anyhow::Error::from(e));
                return unsure(write, why, None);
            }
        };
        if !status.is_success() {
            return Try::Fail(anyhow!(
                "the wiki answered HTTP {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
        if !api {
            return Try::Done(Answer::Text(String::from_utf8_lossy(&body).into_owned()));
        }
        let v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return unsure(write, format!("the answer is not JSON ({e})"), None),
        };
        match api_error(&v) {
            None if !maxlag => Try::Done(Answer::Json(v)),
            None => Try::Again {
                why: "maxlag".into(),
                wait: retry_after.or(Some(5)),
            },
            Some(e) => match e.code.as_str() {
                // Given before anything is done: safe to send again.
                "maxlag" => Try::Again {
                    why: format!("the wiki's database replicas lag ({})", e.info),
                    wait: retry_after.or(Some(5)),
                },
                "readonly" => Try::Again {
                    why: format!("the wiki is read-only ({})", e.info),
                    wait: retry_after.or(Some(30)),
                },
                "ratelimited" => Try::Again {
                    why: format!("rate limited ({})", e.info),
                    wait: retry_after.or(Some(30)),
                },
                _ => Try::Fail(e.into()),
            },
        }
    }

    /// The parameters every API request carries: JSON, maxlag, and that we
    /// are logged in (saves: logged in with the bot right).
    fn etiquette(&self, params: &mut Vec<(String, String)>, assert_login: bool) {
        for (k, v) in [
            ("format", "json".to_string()),
            ("maxlag", self.maxlag.to_string()),
        ] {
            if !params.iter().any(|(p, _)| p == k) {
                params.push((k.to_string(), v));
            }
        }
        if assert_login && self.logged_in() && !params.iter().any(|(p, _)| p == "assert") {
            // A save asserts the bot right too: an account that lost its bot
            // flag is refused by the wiki (`assertbotfailed`), never
            // edits unflagged.
            let edit = params.iter().any(|(p, v)| p == "action" && v == "edit");
            let assert = if edit { "bot" } else { "user" };
            params.push(("assert".into(), assert.into()));
        }
    }

    /// A read: sent again (after the wait) until it is answered or the tries
    /// are used up; logged in again once when the wiki says the bot is logged out.
    async fn read(
        &self,
        what: &str,
        api: bool,
        make: impl Fn() -> reqwest::RequestBuilder,
        counted: &(dyn Fn() + Send + Sync),
    ) -> Result<Answer> {
        let mut healed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.turn(what).await?;
            let generation = self.generation();
            counted();
            match self.attempt(make(), api, false).await {
                Try::Done(a) => return Ok(a),
                Try::Fail(e) if !healed && has_code(&e, "assertuserfailed") => {
                    healed = true;
                    attempt -= 1;
                    self.log_in_again(generation, what).await?;
                }
                Try::Fail(e) => return Err(e.context(what.to_string())),
                Try::Again { why, wait } | Try::Unknown { why, wait } => {
                    if attempt >= MAX_ATTEMPTS {
                        return Err(self.give_up(what, &why));
                    }
                    self.hold(what, &why, wait, attempt);
                }
            }
        }
    }

    /// An action API GET.
    pub async fn api_get(
        &self,
        params: &[(String, String)],
        counted: &(dyn Fn() + Send + Sync),
    ) -> Result<Value> {
        let mut params = params.to_vec();
        self.etiquette(&mut params, true);
        let action = params
            .iter()
            .find(|(k, _)| k == "action")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let api = format!("{}api.php", self.url);
        let what = format!("wiki API request ({action})");
        match self
            .read(
                &what,
                true,
                || self.client().get(&api).query(&params),
                counted,
            )
            .await?
        {
            Answer::Json(v) => Ok(v),
            Answer::Text(_) => unreachable!("API answers are JSON"),
        }
    }

    /// A page (e.g. Parsoid HTML from `rest.php`) at `path` under the script path.
    pub async fn get_text(&self, path: &str, what: &str) -> Result<String> {
        let url = format!("{}{path}", self.url);
        match self
            .read(what, false, || self.client().get(&url), &|| {})
            .await?
        {
            Answer::Text(t) => Ok(t),
            Answer::Json(_) => unreachable!("asked for text"),
        }
    }

    /// The edit token (fetched once per run, as mwapi did: not counted in the run's API requests).
    async fn csrf_token(&self) -> Result<String> {
        let mut t = self.csrf.lock().await;
        if let Some((generation, tok)) = t.as_ref() {
            // A token belongs to the session it was given in.
            if *generation == self.generation() {
                return Ok(tok.clone());
            }
        }
        let generation = self.generation();
        let v = self
            .api_get(
                &[
                    ("action".into(), "query".into()),
                    ("meta".into(), "tokens".into()),
                    ("type".into(), "csrf".into()),
                    ("formatversion".into(), "2".into()),
                ],
                &|| {},
            )
            .await?;
        let tok = v["query"]["tokens"]["csrftoken"]
            .as_str()
            .ok_or_else(|| anyhow!("the wiki gave no edit token: {v}"))?
            .to_string();
        // Asking may have logged in again: the token is the new session's.
        *t = Some((generation.max(self.generation()), tok.clone()));
        Ok(tok)
    }

    /// An action API POST that writes (`action=edit`), with an edit token.
    /// `user` is the bot's name; `summary` and `base` (the `baserevid`) find
    /// the save again when its answer is lost. Returns the API's answer,
    /// or an [`ApiError`] (e.g. `editconflict`) the wiki answered.
    pub async fn api_write(
        &self,
        params: &[(String, String)],
        user: Option<&str>,
        counted: &(dyn Fn() + Send + Sync),
    ) -> Result<Value> {
        let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone());
        let title = get("title").unwrap_or_default();
        let summary = get("summary").unwrap_or_default();
        let base: Option<u64> = get("baserevid").and_then(|b| b.parse().ok());
        let what = format!("saving {title:?}");
        let api = format!("{}api.php", self.url);
        let mut fresh_token = false;
        let mut healed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.turn(&what).await?;
            let token = self.csrf_token().await?;
            let generation = self.generation();
            let mut form = params.to_vec();
            self.etiquette(&mut form, true);
            // The token goes last: a truncated POST is refused, not half-read.
            form.push(("token".into(), token));
            counted();
            let outcome = self
                .attempt(self.client().post(&api).form(&form), true, true)
                .await;
            match outcome {
                Try::Done(Answer::Json(v)) => return Ok(v),
                Try::Done(Answer::Text(_)) => unreachable!("API answers are JSON"),
                Try::Fail(e) => {
                    if has_code(&e, "badtoken") && !fresh_token {
                        fresh_token = true;
                        *self.csrf.lock().await = None;
                        continue;
                    }
                    // Assertions are checked before anything is done: safe to send again.
                    if has_code(&e, "assertuserfailed") && !healed {
                        healed = true;
                        self.log_in_again(generation, &what).await?;
                        continue;
                    }
                    // A logged-out bot is refused as "not a bot" too: asking who
                    // the bot is heals a lost session; a bot flag that is gone
                    // stays refused.
                    if has_code(&e, "assertbotfailed") && !healed {
                        healed = true;
                        tracing::warn!(
                            "{what}: refused, the bot has no bot right (assertbotfailed); \
                             asking the wiki who the bot is, as a lost session looks the same"
                        );
                        self.whoami(counted).await?;
                        if self.generation() != generation {
                            continue;
                        }
                    }
                    return Err(e);
                }
                Try::Again { why, wait } => {
                    if attempt >= MAX_ATTEMPTS {
                        return Err(self.give_up(&what, &why));
                    }
                    self.hold(&what, &why, wait, attempt);
                }
                Try::Unknown { why, wait } => {
                    // It may have been saved: wait as asked, then look.
                    self.hold(
                        &what,
                        &format!("{why}; the save may have been made"),
                        wait,
                        attempt,
                    );
                    if let Some(v) = self
                        .find_own_save(&title, &summary, base, user, counted)
                        .await?
                    {
                        tracing::warn!(
                            page = %title,
                            revid = v["edit"]["newrevid"].as_u64().unwrap_or(0),
                            "the save's answer was lost, but the page history shows it: taking that revision, not saving again"
                        );
                        return Ok(v);
                    }
                    if attempt >= MAX_ATTEMPTS {
                        return Err(self.give_up(&what, &why));
                    }
                }
            }
        }
    }

    /// Asks who the bot is (logged in, so a lost session is made again).
    async fn whoami(&self, counted: &(dyn Fn() + Send + Sync)) -> Result<Value> {
        self.api_get(
            &[
                ("action".into(), "query".into()),
                ("meta".into(), "userinfo".into()),
                ("formatversion".into(), "2".into()),
            ],
            counted,
        )
        .await
    }

    /// The bot's save of `title` with `summary` after revision `base`, if the
    /// page's latest revisions hold one: as the edit API would have answered.
    async fn find_own_save(
        &self,
        title: &str,
        summary: &str,
        base: Option<u64>,
        user: Option<&str>,
        counted: &(dyn Fn() + Send + Sync),
    ) -> Result<Option<Value>> {
        let v = self
            .api_get(
                &[
                    ("action".into(), "query".into()),
                    ("prop".into(), "revisions".into()),
                    ("rvprop".into(), "ids|user|comment".into()),
                    ("rvlimit".into(), "20".into()),
                    ("titles".into(), title.into()),
                    ("formatversion".into(), "2".into()),
                ],
                counted,
            )
            .await?;
        let same_user = |u: &str| user.is_none_or(|me| u.replace('_', " ") == me.replace('_', " "));
        let found = v["query"]["pages"][0]["revisions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| {
                let revid = r["revid"].as_u64().unwrap_or(0);
                base.is_none_or(|b| revid > b)
                    && r["comment"].as_str() == Some(summary)
                    && same_user(r["user"].as_str().unwrap_or(""))
            });
        Ok(found.map(|r| {
            serde_json::json!({"edit": {
                "result": "Success",
                "title": title,
                "newrevid": r["revid"],
                "oldrevid": r["parentid"],
                "recovered": true,
            }})
        }))
    }
}

/// Whether `e` is the action API's error `code`.
fn has_code(e: &anyhow::Error, code: &str) -> bool {
    e.downcast_ref::<ApiError>().is_some_and(|a| a.code == code)
}

/// A try whose answer did not come whole: a write may have been done (its
/// outcome is unknown, to be looked up), a read is sent again.
fn unsure(write: bool, why: String, wait: Option<u64>) -> Try {
    if write {
        Try::Unknown { why, wait }
    } else {
        Try::Again { why, wait }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_errors_are_read_in_either_format() {
        let bc = json!({"error": {"code": "maxlag", "info": "Waiting for db1: 5 seconds lagged."}});
        let plain = json!({"errors": [{"code": "editconflict", "text": "Edit conflict."}]});
        assert_eq!(
            api_error(&bc),
            Some(ApiError {
                code: "maxlag".into(),
                info: "Waiting for db1: 5 seconds lagged.".into()
            })
        );
        assert_eq!(api_error(&plain).unwrap().code, "editconflict");
        assert_eq!(api_error(&json!({"edit": {"result": "Success"}})), None);
        assert_eq!(
            ApiError {
                code: "protectedpage".into(),
                info: "This page has been protected.".into()
            }
            .to_string(),
            "API error: (code: protectedpage): This page has been protected."
        );
    }
}
