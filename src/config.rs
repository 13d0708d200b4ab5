//! Configuration: the TOML file, environment overrides and credentials (see `docs/cli.md`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use chrono::NaiveDate;

use crate::core::records::{quarter_on, FiscalYear, Quarter};
use crate::error::UsageError;

/// Environment variable naming the config file when `--config` is absent.
pub const ENV_CONFIG: &str = "GOALSBOT_CONFIG";
/// The most page reads `wiki.reads_in_flight` may allow at once.
pub const MAX_READS_IN_FLIGHT: usize = 8;
/// Overrides `wiki.url`.
pub const ENV_WIKI_URL: &str = "GOALSBOT_WIKI_URL";
/// Overrides `store.url`.
pub const ENV_STORE_URL: &str = "GOALSBOT_STORE_URL";
/// Bot password user name, e.g. `GoalsBot@goalsbot`.
pub const ENV_USERNAME: &str = "GOALSBOT_USERNAME";
/// Bot password.
pub const ENV_PASSWORD: &str = "GOALSBOT_PASSWORD";
/// Owner-only OAuth 2 access token.
pub const ENV_OAUTH2_TOKEN: &str = "GOALSBOT_OAUTH2_TOKEN";
/// The date the bot takes for today (`YYYY-MM-DD`), for rehearsing a new
/// fiscal year: which years `{ current_and_before = N }` tracks, the
/// new-year notice and the roll-over follow it.
pub const ENV_TODAY: &str = "GOALSBOT_TODAY";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub wiki: WikiConfig,
    #[serde(default)]
    pub pages: PagesConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub commands: CommandsConfig,
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub status: StatusConfig,
    #[serde(default)]
    pub web: WebConfig,
}

/// `[web]`: the read-only web view (`goalsbot serve`, `docs/web.md`).
#[derive(Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// The store the web view reads, when not `[store] url`: e.g. a ToolsDB
    /// user granted SELECT only. It is opened read-only either way.
    pub store_url: Option<String>,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field(
                "store_url",
                &self.store_url.as_deref().map(crate::store::redact_url),
            )
            .finish()
    }
}

/// `[status]`: how staff tables' colours read as statuses (`docs/pages.md`).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    /// Cell background colour → status (`"#b6d7a8" = "on-track"`), for the
    /// colours of a department's review deck. Colours not listed are matched
    /// to the bot's own palette, then by hue.
    pub colours: std::collections::BTreeMap<String, String>,
}

/// `[wiki]`: where the wiki is and how to behave on it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WikiConfig {
    /// The script path, where `api.php` and `rest.php` live.
    pub url: String,
    /// A page or address where wiki operators can reach the bot's owner.
    pub user_agent_contact: String,
    /// Back off when replication lag exceeds this many seconds.
    pub maxlag: u32,
    /// Minimum time between two saves.
    pub edit_interval_secs: u64,
    /// How many page reads (Parsoid HTML) may be in flight at once, 1 to 8.
    /// Saves are always one at a time.
    pub reads_in_flight: usize,
}

impl Default for WikiConfig {
    fn default() -> Self {
        Self {
            url: "https://www.mediawiki.org/w/".into(),
            user_agent_contact: "https://www.mediawiki.org/wiki/User:GoalsBot".into(),
            maxlag: 5,
            edit_interval_secs: 10,
            reads_in_flight: 4,
        }
    }
}

/// `[pages]`: which pages the bot reads and writes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PagesConfig {
    pub prefix: String,
    /// The fiscal years tracked: a list, or `{ current_and_before = N }`
    /// (the year today is in and the N before it; see [`PagesConfig::years`]).
    pub fiscal_years: FiscalYears,
    /// Defaults to `{prefix}/Bot status`.
    pub status_page: Option<String>,
    /// A directory whose `*.wiki.j2` files replace the built-in templates of
    /// the same name (see `wikitext_templates/`).
    pub templates_dir: Option<PathBuf>,
    /// A page that lost more than this share of its records (objectives and
    /// KRs) since its last sync is refused whole (`docs/sync.md`, "The guards").
    pub max_removed_share: f64,
    /// Today, when `GOALSBOT_TODAY` says (else the clock's date).
    #[serde(skip)]
    pub today: Option<NaiveDate>,
}

impl Default for PagesConfig {
    fn default() -> Self {
        Self {
            prefix: "Wikimedia Technology/Goals".into(),
            fiscal_years: FiscalYears::Listed(vec![FiscalYear::starting(2020)]),
            status_page: None,
            templates_dir: None,
            max_removed_share: 0.3,
            today: None,
        }
    }
}

/// `pages.fiscal_years`: the years written out, or the ones that follow the
/// calendar (a new year is tracked from its first day, 1 July, without an
/// edit of the config).
#[derive(Debug, Clone, PartialEq)]
pub enum FiscalYears {
    /// `["2020-21", "2021-22"]`.
    Listed(Vec<FiscalYear>),
    /// `{ current_and_before = 1 }`: the year today is in and the one before.
    Recent { current_and_before: u16 },
}

/// `{ current_and_before = N }`, with its one key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Recent {
    current_and_before: u16,
}

impl<'de> Deserialize<'de> for FiscalYears {
    /// A list of years (each error names the year), or the table
    /// `{ current_and_before = N }`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FiscalYears;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a list of fiscal years, e.g. [\"2020-21\", \"2021-22\"], \
                     or { current_and_before = 1 }",
                )
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                a: A,
            ) -> Result<FiscalYears, A::Error> {
                Vec::<FiscalYear>::deserialize(serde::de::value::SeqAccessDeserializer::new(a))
                    .map(FiscalYears::Listed)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                a: A,
            ) -> Result<FiscalYears, A::Error> {
                Recent::deserialize(serde::de::value::MapAccessDeserializer::new(a)).map(|r| {
                    FiscalYears::Recent {
                        current_and_before: r.current_and_before,
                    }
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl FiscalYears {
    /// The years tracked on `today`, oldest first.
    pub fn on(&self, today: NaiveDate) -> Vec<FiscalYear> {
        match self {
            FiscalYears::Listed(years) => years.clone(),
            FiscalYears::Recent { current_and_before } => {
                let (current, _, _) = quarter_on(today);
                (0..=*current_and_before)
                    .rev()
                    .filter_map(|back| current.start_year().checked_sub(back))
                    .map(FiscalYear::starting)
                    .collect()
            }
        }
    }
}

impl PagesConfig {
    /// The date the bot takes for today: `GOALSBOT_TODAY`, else the clock's (UTC).
    pub fn today(&self) -> NaiveDate {
        self.today
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    /// The fiscal years tracked today, oldest first.
    pub fn years(&self) -> Vec<FiscalYear> {
        self.fiscal_years.on(self.today())
    }

    /// `{prefix}/{FY} Q{n}`.
    pub fn quarter_page(&self, fy: &FiscalYear, q: Quarter) -> String {
        format!("{}/{} {}", self.prefix, fy, q)
    }

    /// `{prefix}/{FY}`.
    pub fn overview_page(&self, fy: &FiscalYear) -> String {
        format!("{}/{}", self.prefix, fy)
    }

    /// The bot status page.
    pub fn status_page(&self) -> String {
        self.status_page
            .clone()
            .unwrap_or_else(|| format!("{}/Bot status", self.prefix))
    }

    /// The fiscal year and quarter of a quarter page title (`{prefix}/2020-21 Q2`),
    /// accepting underscores for spaces; `None` for any other title.
    pub fn parse_quarter_title(&self, title: &str) -> Option<(FiscalYear, Quarter)> {
        let title = title.replace('_', " ");
        let prefix = self.prefix.replace('_', " ");
        let rest = title
            .strip_prefix(prefix.trim_end_matches('/'))?
            .strip_prefix('/')?;
        let (fy, q) = rest.trim().rsplit_once(' ')?;
        if !q.starts_with('Q') {
            return None;
        }
        Some((fy.parse().ok()?, q.parse().ok()?))
    }

    /// The quarter pages of the given years (all configured ones when empty), in order.
    pub fn quarter_pages(&self, only: &[FiscalYear]) -> Vec<(FiscalYear, Quarter, String)> {
        let years = if only.is_empty() {
            self.years()
        } else {
            only.to_vec()
        };
        years
            .iter()
            .flat_map(|fy| Quarter::ALL.map(|q| (fy.clone(), q, self.quarter_page(fy, q))))
            .collect()
    }
}

/// The store URL forms [`crate::store::Store::open`] knows.
const STORE_URL_PREFIXES: [&str; 4] = ["sqlite:", "mysql://", "mariadb://", "mysql+replicacnf://"];

/// `[store]`: the canonical goals tracker.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH`, `mysql://USER:PASS@HOST[:PORT]/DB` (or `mariadb://…`),
    /// or `mysql+replicacnf://HOST[:PORT]/DB` (login from Toolforge's `replica.my.cnf`).
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://goalsbot.sqlite".into(),
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &crate::store::redact_url(&self.url))
            .finish()
    }
}

/// `[run]`: one writing run at a time (the store's lease).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// A run's lease lasts this long without a heartbeat (renewed every third
    /// of it): a killed run stops blocking others after at most this.
    pub lease_expiry_secs: u64,
    /// How long a writing run waits for another to end before it gives up
    /// (exit 0, naming the run that is going).
    pub lease_wait_secs: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            lease_expiry_secs: 60,
            lease_wait_secs: 30,
        }
    }
}

/// `[commands]`: the on-wiki request page.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// Defaults to `{prefix}/Bot requests`.
    pub page: Option<String>,
    pub allowed_users: Vec<String>,
    pub allowlist_page: Option<String>,
    pub shutoff_page: Option<String>,
    /// Requests one user may have run per hour (`watch`).
    pub max_requests_per_user_per_hour: u32,
    /// Requests all users together may have run per hour (`watch`).
    pub max_requests_per_hour: u32,
    /// Seconds between two polls of `watch` (`--interval` overrides).
    pub poll_interval_secs: u64,
    /// `watch` follows the wiki's recent changes and the store's tracker
    /// edits, and syncs a year as soon as one of its pages or records
    /// changed (`false`: it serves requests only; the hourly sync does the rest).
    pub follow_changes: bool,
}

impl CommandsConfig {
    /// The shutoff page, unless configured empty.
    pub fn shutoff(&self) -> Option<&str> {
        self.shutoff_page.as_deref().filter(|p| !p.is_empty())
    }

    /// The allow-list page, unless not configured (or empty).
    pub fn allowlist(&self) -> Option<&str> {
        self.allowlist_page.as_deref().filter(|p| !p.is_empty())
    }
}

impl Default for CommandsConfig {
    fn default() -> Self {
        Self {
            page: None,
            allowed_users: Vec::new(),
            allowlist_page: None,
            shutoff_page: Some("User:GoalsBot/Shutoff".into()),
            max_requests_per_user_per_hour: 6,
            max_requests_per_hour: 20,
            poll_interval_secs: 60,
            follow_changes: true,
        }
    }
}

/// Where the configuration came from, for `doctor` and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Defaults,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults (no goalsbot.toml found)"),
        }
    }
}

/// A loaded configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub source: ConfigSource,
}

/// Reads the environment; a seam so tests need not mutate the process environment.
pub trait Env {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
    /// The user's home directory.
    fn home(&self) -> Option<PathBuf>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn home(&self) -> Option<PathBuf> {
        dirs::home_dir()
    }
}

impl Config {
    /// The command page: `commands.page`, else `{prefix}/Bot requests`.
    pub fn command_page(&self) -> String {
        self.commands
            .page
            .clone()
            .unwrap_or_else(|| format!("{}/Bot requests", self.pages.prefix))
    }

    /// Parses a config file's text; unknown keys are an error naming the key.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, UsageError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            UsageError::new(format!(
                "config file {}: {}",
                origin.display(),
                e.to_string().trim_end()
            ))
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn validate(&self, origin: &Path) -> Result<(), UsageError> {
        let bad = |key: &str, why: &str| {
            Err(UsageError::new(format!(
                "config file {}: key `{key}` {why}",
                origin.display()
            )))
        };
        let url = url::Url::parse(&self.wiki.url);
        match url {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return bad(
                    "wiki.url",
                    "must be an http(s) URL of the script path, e.g. https://www.mediawiki.org/w/",
                )
            }
        }
        if self.wiki.user_agent_contact.trim().is_empty() {
            return bad(
                "wiki.user_agent_contact",
                "must name a page or address where the operator can be reached",
            );
        }
        if !(1..=MAX_READS_IN_FLIGHT).contains(&self.wiki.reads_in_flight) {
            return bad(
                "wiki.reads_in_flight",
                "must be between 1 and 8: a few reads at a time is what a shared wiki allows",
            );
        }
        if !(0.0..=1.0).contains(&self.pages.max_removed_share) {
            return bad(
                "pages.max_removed_share",
                "must be a share between 0.0 and 1.0, e.g. 0.3",
            );
        }
        if self.pages.prefix.trim().is_empty() {
            return bad("pages.prefix", "must not be empty");
        }
        if let Err(e) = crate::core::colour::Palette::from_config(&self.status.colours) {
            return bad("status.colours", &format!("is wrong: {e}"));
        }
        if !STORE_URL_PREFIXES
            .iter()
            .any(|p| self.store.url.starts_with(p))
        {
            return bad(
                "store.url",
                "must start with sqlite://, mysql:// (or mariadb://), or mysql+replicacnf:// \
                 (on Toolforge: mysql+replicacnf://tools.db.svc.wikimedia.cloud/s12345__goalsbot)",
            );
        }
        Ok(())
    }

    /// The colour palette of `[status] colours` (validated on load).
    pub fn palette(&self) -> crate::core::colour::Palette {
        crate::core::colour::Palette::from_config(&self.status.colours).unwrap_or_default()
    }

    /// The wiki URL with a trailing slash, as mwbot wants the script path.
    pub fn wiki_url(&self) -> String {
        let u = self.wiki.url.trim();
        if u.ends_with('/') {
            u.to_string()
        } else {
            format!("{u}/")
        }
    }
}

/// Loads the configuration: `--config FILE`, else `$GOALSBOT_CONFIG`, else
/// `./goalsbot.toml`, else the built-in defaults; then the environment overrides.
pub fn load(explicit: Option<&Path>, env: &dyn Env) -> Result<Loaded, UsageError> {
    let chosen: Option<(PathBuf, &str)> = match explicit {
        Some(p) => Some((p.to_path_buf(), "--config")),
        None => env
            .var(ENV_CONFIG)
            .map(|p| (PathBuf::from(p), ENV_CONFIG))
            .or_else(|| {
                let local = PathBuf::from("goalsbot.toml");
                local.exists().then_some((local, "./goalsbot.toml"))
            }),
    };
    let (mut config, source) = match chosen {
        Some((path, via)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                UsageError::new(format!(
                    "cannot read config file {} (from {via}): {e}",
                    path.display()
                ))
            })?;
            (Config::from_toml(&text, &path)?, ConfigSource::File(path))
        }
        None => (Config::default_config(), ConfigSource::Defaults),
    };
    if let Some(url) = env.var(ENV_WIKI_URL) {
        config.wiki.url = url;
    }
    if let Some(url) = env.var(ENV_STORE_URL) {
        config.store.url = url;
    }
    if let Some(day) = env.var(ENV_TODAY) {
        config.pages.today = Some(day.trim().parse().map_err(|_| {
            UsageError::new(format!(
                "{ENV_TODAY}={day:?} is not a date: write it as YYYY-MM-DD, e.g. 2021-06-20"
            ))
        })?);
    }
    config
        .validate(Path::new(match &source {
            ConfigSource::File(_) => "(after environment overrides)",
            ConfigSource::Defaults => "(defaults with environment overrides)",
        }))
        .map_err(|e| UsageError::new(format!("{e} (check {ENV_WIKI_URL} / {ENV_STORE_URL})")))?;
    Ok(Loaded { config, source })
}

impl Config {
    fn default_config() -> Config {
        Config {
            wiki: WikiConfig::default(),
            pages: PagesConfig::default(),
            store: StoreConfig::default(),
            commands: CommandsConfig::default(),
            run: RunConfig::default(),
            status: StatusConfig::default(),
            web: WebConfig::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::default_config()
    }
}

/// A secret string: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for handing to the login call and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the bot logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials: anonymous reads only.
    Anonymous,
    /// A bot password (`Name@AppId` and the generated password).
    BotPassword {
        username: String,
        password: Secret,
        source: CredentialSource,
    },
    /// An owner-only OAuth 2 access token.
    OAuth2 {
        username: Option<String>,
        token: Secret,
        source: CredentialSource,
    },
}

/// Where credentials were found, for `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Environment,
    MwbotFile(PathBuf),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Environment => f.write_str("environment"),
            CredentialSource::MwbotFile(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Credentials {
    /// The account name to show (never the secret).
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Anonymous => None,
            Credentials::BotPassword { username, .. } => Some(username),
            Credentials::OAuth2 { username, .. } => username.as_deref(),
        }
    }

    /// Whether writing commands may run.
    pub fn can_write(&self) -> bool {
        !matches!(self, Credentials::Anonymous)
    }

    /// Every secret value, so output can be checked or scrubbed for them.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::Anonymous => vec![],
            Credentials::BotPassword { password, .. } => vec![password.expose()],
            Credentials::OAuth2 { token, .. } => vec![token.expose()],
        }
    }
}

/// The `[auth]` section of mwbot's own `~/.config/mwbot.toml`.
#[derive(Deserialize)]
struct MwbotFile {
    auth: Option<MwbotAuth>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MwbotAuth {
    BotPassword {
        username: String,
        password: String,
    },
    OAuth2 {
        username: String,
        oauth2_token: String,
    },
}

/// Finds credentials: the environment first, then mwbot's config file.
pub fn credentials(env: &dyn Env) -> Result<Credentials, UsageError> {
    let user = env.var(ENV_USERNAME);
    let pass = env.var(ENV_PASSWORD);
    let token = env.var(ENV_OAUTH2_TOKEN);
    match (user, pass, token) {
        (_, _, Some(token)) => {
            return Ok(Credentials::OAuth2 {
                username: env.var(ENV_USERNAME),
                token: Secret::new(token),
                source: CredentialSource::Environment,
            })
        }
        (Some(username), Some(password), None) => {
            return Ok(Credentials::BotPassword {
                username,
                password: Secret::new(password),
                source: CredentialSource::Environment,
            })
        }
        (Some(_), None, None) => {
            return Err(UsageError::new(format!(
                "{ENV_USERNAME} is set but {ENV_PASSWORD} is not: set both (a bot password from Special:BotPasswords), or unset {ENV_USERNAME}"
            )))
        }
        (None, Some(_), None) => {
            return Err(UsageError::new(format!(
                "{ENV_PASSWORD} is set but {ENV_USERNAME} is not: set {ENV_USERNAME} to the bot password's login name (Name@AppId)"
            )))
        }
        (None, None, None) => {}
    }
    let Some(home) = env.home() else {
        return Ok(Credentials::Anonymous);
    };
    let path = home.join(".config").join("mwbot.toml");
    if !path.exists() {
        return Ok(Credentials::Anonymous);
    }
    read_mwbot_file(&path)
}

fn read_mwbot_file(path: &Path) -> Result<Credentials, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))?;
    // Parse errors from toml quote the offending line, which may hold the
    // password: report only where the problem is.
    let file: MwbotFile = toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| format!(" near byte {}", s.start))
            .unwrap_or_default();
        UsageError::new(format!(
            "{} is not valid mwbot config{at}: it needs an [auth] section with username and password (or oauth2_token)",
            path.display()
        ))
    })?;
    let Some(auth) = file.auth else {
        return Ok(Credentials::Anonymous);
    };
    check_private(path)?;
    let source = CredentialSource::MwbotFile(path.to_path_buf());
    Ok(match auth {
        MwbotAuth::BotPassword { username, password } => Credentials::BotPassword {
            username,
            password: Secret::new(password),
            source,
        },
        MwbotAuth::OAuth2 {
            username,
            oauth2_token,
        } => Credentials::OAuth2 {
            username: Some(username),
            token: Secret::new(oauth2_token),
            source,
        },
    })
}

/// Refuses a credentials file that others can read, as mwbot does.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), UsageError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| UsageError::new(format!("cannot stat {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(UsageError::new(format!(
            "{} holds credentials but others can read it (mode {:o}): run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), UsageError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redact_url as mask_url;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, String>, Option<PathBuf>);
    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
        fn home(&self) -> Option<PathBuf> {
            self.1.clone()
        }
    }
    fn env(vars: &[(&'static str, &str)]) -> FakeEnv {
        FakeEnv(
            vars.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            None,
        )
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../config/goalsbot.example.toml");
        let c = Config::from_toml(text, Path::new("example")).unwrap();
        assert_eq!(c.wiki.maxlag, 5);
        assert_eq!(c.pages.years().len(), 2);
        assert_eq!(c.commands.allowed_users, vec!["Example User".to_string()]);
    }

    #[test]
    fn fiscal_years_follow_the_calendar_or_the_list() {
        let c = Config::from_toml(
            "[pages]\nfiscal_years = { current_and_before = 1 }\n",
            Path::new("x"),
        )
        .unwrap();
        let years = |day: &str| {
            c.pages
                .fiscal_years
                .on(day.parse().unwrap())
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(years("2021-06-30"), ["2019-20", "2020-21"]);
        assert_eq!(years("2021-07-01"), ["2020-21", "2021-22"]);
        let err = Config::from_toml(
            "[pages]\nfiscal_years = { current_and_befor = 1 }\n",
            Path::new("x"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("current_and_befor"), "{err}");
        let err = Config::from_toml("[pages]\nfiscal_years = 3\n", Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("current_and_before = 1"), "{err}");
        // GOALSBOT_TODAY moves today; a wrong date is named.
        let loaded = load(None, &env(&[(ENV_TODAY, "2021-07-02")])).unwrap();
        assert_eq!(
            loaded.config.pages.today(),
            "2021-07-02".parse::<NaiveDate>().unwrap()
        );
        let err = load(None, &env(&[(ENV_TODAY, "July")])).unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[wiki]\nmaxlagg = 3\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("maxlagg"), "{err}");
        let err = Config::from_toml("[wikki]\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("wikki"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err =
            Config::from_toml("[store]\nurl = \"postgres://x\"\n", Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("store.url"), "{err}");
        for url in [
            "sqlite://goals.sqlite",
            "mysql://u:p@h/d",
            "mariadb://u:p@h/d",
            "mysql+replicacnf://tools.db.svc.wikimedia.cloud/s12345__goalsbot",
        ] {
            let toml = format!("[store]\nurl = \"{url}\"\n");
            let config = Config::from_toml(&toml, Path::new("x")).unwrap();
            assert_eq!(config.store.url, url);
        }
        let err =
            Config::from_toml("[pages]\nfiscal_years = [\"2020\"]\n", Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("fiscal_years"), "{err}");
    }

    #[test]
    fn env_overrides_and_defaults() {
        let e = env(&[
            (ENV_WIKI_URL, "http://127.0.0.1:9/"),
            (ENV_STORE_URL, "sqlite://x.sqlite"),
        ]);
        let l = load(None, &e).unwrap();
        assert_eq!(l.config.wiki.url, "http://127.0.0.1:9/");
        assert_eq!(l.config.store.url, "sqlite://x.sqlite");
        assert_eq!(
            l.config
                .pages
                .quarter_page(&FiscalYear::starting(2020), Quarter::Q2),
            "Wikimedia Technology/Goals/2020-21 Q2"
        );
    }

    #[test]
    fn quarter_titles() {
        let p = PagesConfig::default();
        let fy = FiscalYear::starting(2020);
        assert_eq!(
            p.parse_quarter_title("Wikimedia_Technology/Goals/2020-21_Q2"),
            Some((fy.clone(), Quarter::Q2))
        );
        assert_eq!(
            p.parse_quarter_title(&p.quarter_page(&fy, Quarter::Q4)),
            Some((fy.clone(), Quarter::Q4))
        );
        assert_eq!(
            p.parse_quarter_title("Wikimedia Technology/Goals/2020-21"),
            None
        );
        assert_eq!(
            p.parse_quarter_title("Wikimedia Technology/Goals/2020-21 Q2/de"),
            None
        );
        assert_eq!(p.parse_quarter_title("Other/2020-21 Q2"), None);
    }

    #[test]
    fn credentials_from_env_never_debug_printed() {
        let e = env(&[(ENV_USERNAME, "Bot@app"), (ENV_PASSWORD, "s3cretpassw0rd")]);
        let c = credentials(&e).unwrap();
        assert_eq!(c.username(), Some("Bot@app"));
        assert!(!format!("{c:?}").contains("s3cretpassw0rd"));
        let err = credentials(&env(&[(ENV_USERNAME, "Bot@app")])).unwrap_err();
        assert!(err.to_string().contains(ENV_PASSWORD));
        assert_eq!(credentials(&env(&[])).unwrap(), Credentials::Anonymous);
    }

    #[test]
    fn mwbot_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join(".config");
        std::fs::create_dir_all(&cfg).unwrap();
        let file = cfg.join("mwbot.toml");
        std::fs::write(
            &file,
            "[auth]\nusername = \"A@b\"\npassword = \"pw123456\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = FakeEnv(HashMap::new(), Some(dir.path().to_path_buf()));
        let err = credentials(&e).unwrap_err().to_string();
        assert!(
            err.contains("chmod 600") && !err.contains("pw123456"),
            "{err}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(credentials(&e).unwrap().username(), Some("A@b"));
    }

    #[test]
    fn urls_are_masked() {
        assert_eq!(
            mask_url("mysql://u:p4ss@db:3306/s1__g"),
            "mysql://u:***@db:3306/s1__g"
        );
        assert_eq!(
            mask_url("sqlite://goalsbot.sqlite"),
            "sqlite://goalsbot.sqlite"
        );
        assert!(!format!(
            "{:?}",
            StoreConfig {
                url: "mysql://u:p4ss@h/d".into()
            }
        )
        .contains("p4ss"));
    }
}
