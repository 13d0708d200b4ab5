//! Toolforge's `replica.my.cnf`: the ToolsDB user and password, turned into a `mysql://` store URL.
//!
//! On Toolforge the operator writes no password into `goalsbot.toml`:
//!
//! ```toml
//! [store]
//! url = "mysql+replicacnf://tools.db.svc.wikimedia.cloud/s12345__goalsbot"
//! ```
//!
//! and the store takes `user` and `password` from the environment that
//! Toolforge injects into every job, `TOOL_TOOLSDB_USER` and
//! `TOOL_TOOLSDB_PASSWORD` (a Build Service image sees no home directory
//! unless mounted), else from the `[client]` group of
//! `replica.my.cnf` in the tool's home (`$TOOL_DATA_DIR`, else `$HOME`; or
//! the file named by `GOALSBOT_REPLICA_CNF`) —
//! the order of Toolforge's own `toolforge` library. The credentials never reach a message or a log: errors name
//! the file, never its contents, and the URL they make is only handed to the
//! database driver.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The URL scheme that asks for credentials from `replica.my.cnf`.
pub const SCHEME: &str = "mysql+replicacnf";

/// Overrides where `replica.my.cnf` is read from.
pub const PATH_VAR: &str = "GOALSBOT_REPLICA_CNF";

/// The ToolsDB user Toolforge puts in every job's environment.
pub const USER_VAR: &str = "TOOL_TOOLSDB_USER";

/// The ToolsDB password Toolforge puts in every job's environment.
pub const PASSWORD_VAR: &str = "TOOL_TOOLSDB_PASSWORD";

/// The login from `TOOL_TOOLSDB_USER` / `TOOL_TOOLSDB_PASSWORD` as `get`
/// reads them, when both are set (`get` is the environment, or a map in tests).
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let user = get(USER_VAR).filter(|u| !u.is_empty())?;
    let password = get(PASSWORD_VAR).filter(|p| !p.is_empty())?;
    Some(Credentials { user, password })
}

/// The ToolsDB login from `replica.my.cnf`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The database user, e.g. `s12345`.
    pub user: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// Reads `user` and `password` from the `[client]` group of a MySQL option file's text.
///
/// Follows the option-file rules that matter here: `#` and `;` lines are
/// comments, `#` also ends an unquoted value, spaces around `=` and the value
/// are dropped, and a value in single or double quotes keeps everything
/// inside, with `\\`, `\'`, `\"`, `\n`, `\t`, `\r`, `\b` and `\s` (space)
/// unescaped. A later line wins over an earlier one, as in MySQL.
pub fn parse(text: &str) -> Result<Credentials> {
    let mut in_client = false;
    let mut saw_client = false;
    let mut user = None;
    let mut password = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(group) = line.strip_prefix('[') {
            let Some(end) = group.find(']') else {
                bail!("line {}: a group header without `]`", n + 1);
            };
            in_client = group[..end].trim().eq_ignore_ascii_case("client");
            saw_client |= in_client;
            continue;
        }
        if !in_client {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v),
            None => (line, ""),
        };
        // MySQL treats `-` and `_` in option names alike.
        let key = key.to_ascii_lowercase().replace('-', "_");
        let slot = match key.as_str() {
            "user" => &mut user,
            "password" => &mut password,
            _ => continue,
        };
        // The error names the line only: the value may be a password.
        *slot = Some(value_of(value).with_context(|| format!("line {}: {key}", n + 1))?);
    }
    if !saw_client {
        bail!("no [client] group");
    }
    match (user, password) {
        (Some(user), Some(password)) if !user.is_empty() => Ok(Credentials { user, password }),
        (Some(_), Some(_)) => bail!("the [client] group has an empty user"),
        _ => bail!("the [client] group needs both user and password"),
    }
}

/// One option value: quoted (escapes undone) or bare (up to a `#` comment).
fn value_of(raw: &str) -> Result<String> {
    let v = raw.trim_start();
    let Some(quote) = v.chars().next().filter(|c| *c == '\'' || *c == '"') else {
        let bare = v.split('#').next().unwrap_or("");
        return Ok(bare.trim_end().to_string());
    };
    let mut out = String::new();
    let mut chars = v[1..].chars();
    loop {
        match chars.next() {
            None => bail!("a quoted value without its closing quote"),
            Some(c) if c == quote => break,
            Some('\\') => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('b') => out.push('\u{8}'),
                Some('s') => out.push(' '),
                Some(c @ ('\\' | '\'' | '"')) => out.push(c),
                // MySQL keeps an unknown escape as written.
                Some(c) => {
                    out.push('\\');
                    out.push(c);
                }
                None => bail!("a quoted value without its closing quote"),
            },
            Some(c) => out.push(c),
        }
    }
    let rest = chars.as_str().trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        bail!("text after the closing quote");
    }
    Ok(out)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so any
/// password survives the URL (the `url` crate leaves `%` as it is).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `mysql://` URL for a `mysql+replicacnf://HOST[:PORT]/DB` URL and a login.
pub fn mysql_url(url: &str, credentials: &Credentials) -> Result<String> {
    let u = url::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
    if u.scheme() != SCHEME {
        bail!("{url} is not a {SCHEME}:// URL");
    }
    if !u.username().is_empty() || u.password().is_some() {
        bail!(
            "{SCHEME}:// takes the user and password from {USER_VAR} / {PASSWORD_VAR} \
             or replica.my.cnf; leave them out of the URL"
        );
    }
    let host = u.host_str().filter(|h| !h.is_empty()).with_context(|| {
        format!("{url} names no host (on Toolforge: tools.db.svc.wikimedia.cloud)")
    })?;
    let database = u.path().trim_start_matches('/');
    if database.is_empty() || database.contains('/') {
        bail!("{url} must name one database, e.g. {SCHEME}://tools.db.svc.wikimedia.cloud/s12345__goalsbot");
    }
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = u.query().map(|q| format!("?{q}")).unwrap_or_default();
    Ok(format!(
        "mysql://{}:{}@{host}{port}/{database}{query}",
        encode(&credentials.user),
        encode(&credentials.password)
    ))
}

/// The tool's home that Toolforge names in every job, also where `$HOME` is
/// not it (Build Service images).
pub const TOOL_DIR_VAR: &str = "TOOL_DATA_DIR";

/// Where `replica.my.cnf` is: `$GOALSBOT_REPLICA_CNF`, else
/// `$TOOL_DATA_DIR/replica.my.cnf` (a Toolforge job, whose `$HOME` may not be
/// the tool's), else `$HOME/replica.my.cnf`.
pub fn default_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(PATH_VAR).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(dir) = std::env::var_os(TOOL_DIR_VAR).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(dir).join("replica.my.cnf"));
    }
    let home = dirs::home_dir()
        .with_context(|| format!("no home directory to find replica.my.cnf in; set {PATH_VAR}"))?;
    Ok(home.join("replica.my.cnf"))
}

/// Reads the login from the option file at `path`.
pub fn read(path: &Path) -> Result<Credentials> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the ToolsDB credentials {}: on Toolforge run goalsbot as the tool \
             (`become TOOL`; jobs get {USER_VAR} and {PASSWORD_VAR}), elsewhere set \
             {PATH_VAR} to a file with [client] user and password",
            path.display()
        )
    })?;
    parse(&text).with_context(|| format!("reading the ToolsDB credentials {}", path.display()))
}

/// The `mysql://` URL for a `mysql+replicacnf://` URL, with the login read from `path`.
pub fn resolve_with(url: &str, path: &Path) -> Result<String> {
    mysql_url(url, &read(path)?)
}

/// The `mysql://` URL for a `mysql+replicacnf://` URL, with the login from
/// the environment ([`from_env`]), else read from [`default_path`].
pub fn resolve(url: &str) -> Result<String> {
    if let Some(credentials) = from_env(|k| std::env::var(k).ok()) {
        return mysql_url(url, &credentials);
    }
    resolve_with(url, &default_path()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_gives_the_login_when_both_are_set() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            from_env(env(&[(USER_VAR, "s54321"), (PASSWORD_VAR, "p@ss")])),
            Some(creds("s54321", "p@ss"))
        );
        assert_eq!(from_env(env(&[(USER_VAR, "s54321")])), None);
        assert_eq!(from_env(env(&[(USER_VAR, ""), (PASSWORD_VAR, "x")])), None);
        let shown = format!(
            "{:?}",
            from_env(env(&[(USER_VAR, "u"), (PASSWORD_VAR, "hunter2")]))
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    #[test]
    fn reads_a_toolforge_file() {
        let text = "[client]\nuser = s52788\npassword = Zm9vYmFyYmF6cXV4\n";
        assert_eq!(parse(text).unwrap(), creds("s52788", "Zm9vYmFyYmF6cXV4"));
    }

    #[test]
    fn quoted_values_keep_spaces_hashes_and_escapes() {
        let text = "[client]\nuser='s1'\npassword = \"a b#c\\\"d\\\\e\\sf\" # trailing comment\n";
        assert_eq!(parse(text).unwrap(), creds("s1", "a b#c\"d\\e f"));
        let single = "[client]\nuser = s1\npassword = 'it''s'\n";
        assert!(parse(single).is_err(), "text after the closing quote");
        let unclosed = "[client]\nuser = s1\npassword = 'abc\n";
        let err = format!("{:#}", parse(unclosed).unwrap_err());
        assert!(err.contains("line 3") && !err.contains("abc"), "{err}");
    }

    #[test]
    fn comments_blank_lines_and_other_groups_are_skipped() {
        let text = "# Toolforge credentials\n; another comment\n\n[mysql]\nuser = wrong\n\
                    password = wrong\n\n  [ client ]  \n  user=s2  # the tool\n\
                    password=p4ss;word\n[mysqldump]\npassword = other\n";
        assert_eq!(parse(text).unwrap(), creds("s2", "p4ss;word"));
    }

    #[test]
    fn later_lines_win_and_option_names_fold() {
        let text = "[CLIENT]\nuser=a\nuser=b\nPassword=x\n";
        assert_eq!(parse(text).unwrap(), creds("b", "x"));
    }

    #[test]
    fn missing_parts_are_named() {
        let err = parse("user=a\npassword=b\n").unwrap_err().to_string();
        assert!(err.contains("no [client] group"), "{err}");
        let err = parse("[client]\nuser=a\n").unwrap_err().to_string();
        assert!(err.contains("needs both user and password"), "{err}");
        let err = parse("[client]\nuser=\npassword=b\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty user"), "{err}");
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let shown = format!("{:?}", creds("s1", "hunter2"));
        assert!(
            shown.contains("s1") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn the_url_carries_the_login_percent_encoded() {
        let url = "mysql+replicacnf://tools.db.svc.wikimedia.cloud/s12345__goalsbot";
        assert_eq!(
            mysql_url(url, &creds("s12345", "abc")).unwrap(),
            "mysql://s12345:abc@tools.db.svc.wikimedia.cloud/s12345__goalsbot"
        );
        // `%` itself must be encoded, or `%41` would reach the server as `A`.
        assert_eq!(
            mysql_url(
                "mysql+replicacnf://127.0.0.1:3307/goalsbot_x?ssl-mode=disabled",
                &creds("u ser", "p@ss:w/o#rd%41ü")
            )
            .unwrap(),
            "mysql://u%20ser:p%40ss%3Aw%2Fo%23rd%2541%C3%BC@127.0.0.1:3307/goalsbot_x?ssl-mode=disabled"
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        let c = creds("u", "p");
        for (url, says) in [
            ("mysql+replicacnf://u:p@host/db", "leave them out"),
            ("mysql+replicacnf://host/", "one database"),
            ("mysql+replicacnf://host/a/b", "one database"),
            ("mysql://host/db", "not a mysql+replicacnf"),
        ] {
            let err = mysql_url(url, &c).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn a_missing_file_says_what_to_do() {
        let err = read(Path::new("/nonexistent/replica.my.cnf")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(PATH_VAR) && msg.contains("become"), "{msg}");
    }
}
