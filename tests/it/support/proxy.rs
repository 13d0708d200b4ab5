//! A fault-injecting HTTP proxy between the bot and the real test wiki.
//!
//! Every request that gets through is answered by the real MediaWiki; the
//! proxy only forwards bytes (one request per connection: it asks the wiki to
//! close after answering and tells the bot the same). On a schedule ("the 3rd
//! `action=edit` POST") or at random with a seed it answers instead, as a
//! sick production wiki does:
//!
//! - [`Fault::Maxlag`]: HTTP 200, `MediaWiki-API-Error: maxlag`,
//!   `Retry-After: N`, `X-Database-Lag`, and the API's `maxlag` error in the
//!   error format the request asked for (only on `api.php` requests that
//!   carry `maxlag`, as MediaWiki does);
//! - [`Fault::Unavailable`]: HTTP 503 with `Retry-After: N`;
//! - [`Fault::TooMany`]: HTTP 429 with `Retry-After: N`;
//! - [`Fault::ResetBefore`]: the request is read, never forwarded, and the
//!   connection reset;
//! - [`Fault::ResetAfter`]: the request is forwarded and fully answered by
//!   the wiki (a save happens), and the answer dropped: the connection is
//!   reset instead;
//! - [`Fault::Delay`]: the request is forwarded after a pause.
//!
//! It counts the faults it injected by kind and records every request it saw
//! (method, action, title, when it came and when it was answered, the fault),
//! so tests can check that waits were obeyed and that give-up limits are finite.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy can do to a request instead of (or besides) forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Maxlag { retry_after: u64 },
    Unavailable { retry_after: u64 },
    TooMany { retry_after: u64 },
    ResetBefore,
    ResetAfter,
    Delay { millis: u64 },
}

/// The kind of a fault, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Maxlag,
    Unavailable503,
    TooMany429,
    ResetBefore,
    ResetAfter,
    Delay,
}

impl Fault {
    pub fn kind(&self) -> Kind {
        match self {
            Fault::Maxlag { .. } => Kind::Maxlag,
            Fault::Unavailable { .. } => Kind::Unavailable503,
            Fault::TooMany { .. } => Kind::TooMany429,
            Fault::ResetBefore => Kind::ResetBefore,
            Fault::ResetAfter => Kind::ResetAfter,
            Fault::Delay { .. } => Kind::Delay,
        }
    }

    /// The wait the answer asks for, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Fault::Maxlag { retry_after }
            | Fault::Unavailable { retry_after }
            | Fault::TooMany { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Which requests a rule or the random faults apply to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// `GET` or `POST`.
    pub method: Option<String>,
    /// The API `action` (`edit`, `query`, …), or `rest` for `rest.php` (Parsoid HTML).
    pub action: Option<String>,
}

impl Match {
    pub fn any() -> Match {
        Match::default()
    }
    /// `action=edit` POSTs: page saves.
    pub fn edits() -> Match {
        Match {
            method: Some("POST".into()),
            action: Some("edit".into()),
        }
    }
    /// API requests with this action (any method).
    pub fn action(action: &str) -> Match {
        Match {
            method: None,
            action: Some(action.into()),
        }
    }
    fn matches(&self, method: &str, action: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.action.as_deref().is_none_or(|a| a == action)
    }
}

/// "The `nth` request matching `when` (counted from when the rule was added) gets `fault`."
#[derive(Debug, Clone)]
struct Rule {
    when: Match,
    nth: usize,
    seen: usize,
    fault: Fault,
}

/// Random faults: each matching request gets, with probability
/// `per_mille / 1000`, one of `faults` (uniformly), drawn from a seeded generator.
#[derive(Debug, Clone)]
struct Random {
    state: u64,
    per_mille: u64,
    faults: Vec<Fault>,
    when: Match,
    /// With probability `outage_per_mille`/1000 a request starts an outage:
    /// it and the next `outage_len - 1` requests (any) get [`OUTAGE`] faults in turn.
    outage_per_mille: u64,
    outage_len: usize,
    outage_left: usize,
}

/// The faults of an outage, in turn: the wiki is down, and a save's answer is lost on the way.
const OUTAGE: [Fault; 4] = [
    Fault::Unavailable { retry_after: 1 },
    Fault::ResetAfter,
    Fault::ResetBefore,
    Fault::TooMany { retry_after: 1 },
];

impl Random {
    /// splitmix64: small, seeded, good enough to pick faults.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The API action, `rest` for `rest.php`, else the path.
    pub action: String,
    /// The `title` parameter, if any (edits name their page).
    pub title: Option<String>,
    /// The request's path and query (which read a REST request was).
    pub path: String,
    /// Whether the request carried `maxlag=` (the wiki etiquette).
    pub maxlag: bool,
    /// When it came, and when the proxy was done with it.
    pub at: Instant,
    pub done: Instant,
    /// What the proxy did to it (`None`: forwarded untouched).
    pub fault: Option<Fault>,
    /// The local port of the proxy's connection to the wiki, when it
    /// forwarded the request: the client address the wiki's own server log
    /// names for it (`127.0.0.1:PORT [200]: GET …`).
    pub upstream_port: Option<u16>,
}

/// "After the `nth` request matching `when`, every request gets `fault`": a wiki that goes down and stays down.
#[derive(Debug, Clone)]
struct Down {
    when: Match,
    nth: usize,
    seen: usize,
    fault: Fault,
}

impl Seen {
    /// Whether the wiki got this request (untouched, delayed, or answered into the void).
    pub fn reached_the_wiki(&self) -> bool {
        matches!(
            self.fault,
            None | Some(Fault::Delay { .. }) | Some(Fault::ResetAfter)
        )
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    down: Option<Down>,
    random: Option<Random>,
    seen: Vec<Seen>,
    counts: BTreeMap<Kind, u64>,
    outages: u64,
}

/// A running proxy; it stops when dropped.
pub struct Proxy {
    /// The wiki's script path through the proxy (`http://127.0.0.1:PORT/`).
    pub url: String,
    state: Arc<Mutex<State>>,
    _rt: tokio::runtime::Runtime,
}

impl Proxy {
    /// Starts a proxy in front of the wiki at `upstream` (its script path, `http://HOST:PORT/`).
    pub fn start(upstream: &str) -> Proxy {
        let u = url::Url::parse(upstream).expect("upstream url");
        let up: SocketAddr = format!(
            "{}:{}",
            u.host_str().expect("host"),
            u.port_or_known_default().expect("port")
        )
        .parse()
        .expect("upstream is an IP address and port");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("fault-proxy")
            .build()
            .expect("proxy runtime");
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        rt.spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, up, st).await;
                });
            }
        });
        let mut url = u.clone();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        Proxy {
            url: url.to_string(),
            state,
            _rt: rt,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `nth` request (1-based) matching `when` from now on gets `fault`.
    pub fn on(&self, when: Match, nth: usize, fault: Fault) {
        self.lock().rules.push(Rule {
            when,
            nth,
            seen: 0,
            fault,
        });
    }

    /// From now on, each request matching `when` gets one of `faults` with
    /// probability `per_mille`/1000, drawn from `seed`.
    pub fn random(&self, seed: u64, per_mille: u64, faults: &[Fault], when: Match) {
        self.lock().random = Some(Random {
            state: seed,
            per_mille,
            faults: faults.to_vec(),
            when,
            outage_per_mille: 0,
            outage_len: 0,
            outage_left: 0,
        });
    }

    /// With the random faults: each request starts, with probability
    /// `per_mille`/1000, an outage of `len` requests in a row that all fail.
    pub fn outages(&self, per_mille: u64, len: usize) {
        if let Some(r) = self.lock().random.as_mut() {
            r.outage_per_mille = per_mille;
            r.outage_len = len;
        }
    }

    /// Outages started so far.
    pub fn outages_started(&self) -> u64 {
        self.lock().outages
    }

    /// After the `nth` request matching `when` (from now on), every request gets `fault` until [`Proxy::calm`].
    pub fn down_after(&self, when: Match, nth: usize, fault: Fault) {
        self.lock().down = Some(Down {
            when,
            nth,
            seen: 0,
            fault,
        });
    }

    /// No more faults: scheduled rules not yet fired, random faults and a down wiki are dropped.
    pub fn calm(&self) {
        let mut s = self.lock();
        s.rules.clear();
        s.random = None;
        s.down = None;
    }

    /// Every request seen so far, in the order they came.
    pub fn seen(&self) -> Vec<Seen> {
        let mut seen = self.lock().seen.clone();
        seen.sort_by_key(|r| r.at);
        seen
    }

    /// Faults injected so far, by kind.
    pub fn counts(&self) -> BTreeMap<Kind, u64> {
        self.lock().counts.clone()
    }

    /// Scheduled rules that have not fired yet.
    pub fn pending_rules(&self) -> usize {
        self.lock().rules.len()
    }
}

/// The fault (if any) for a request, under the state's rules and random draw.
fn decide(st: &Mutex<State>, method: &str, action: &str, has_maxlag: bool) -> Option<Fault> {
    let mut s = st.lock().unwrap_or_else(|e| e.into_inner());
    // A maxlag answer only where MediaWiki would give one.
    let applicable = |f: &Fault| !matches!(f, Fault::Maxlag { .. }) || has_maxlag;
    let mut down = None;
    if let Some(d) = s.down.as_mut() {
        if d.seen >= d.nth && applicable(&d.fault) {
            down = Some(d.fault);
        } else if d.when.matches(method, action) {
            d.seen += 1;
        }
    }
    if let Some(f) = down {
        *s.counts.entry(f.kind()).or_insert(0) += 1;
        return Some(f);
    }
    let mut fired = None;
    for (i, r) in s.rules.iter_mut().enumerate() {
        if r.when.matches(method, action) && applicable(&r.fault) {
            r.seen += 1;
            if r.seen == r.nth && fired.is_none() {
                fired = Some(i);
            }
        }
    }
    let mut fault = fired.map(|i| s.rules.remove(i).fault);
    let mut started = false;
    if fault.is_none() {
        if let Some(r) = s.random.as_mut() {
            if r.outage_left == 0 && r.outage_len > 0 && r.next() % 1000 < r.outage_per_mille {
                r.outage_left = r.outage_len;
                started = true;
            }
            if r.outage_left > 0 {
                let f = OUTAGE[(r.outage_len - r.outage_left) % OUTAGE.len()];
                r.outage_left -= 1;
                if applicable(&f) {
                    fault = Some(f);
                }
            }
        }
    }
    if started {
        s.outages += 1;
    }
    if fault.is_none() {
        if let Some(r) = s.random.as_mut() {
            if r.when.matches(method, action) && !r.faults.is_empty() {
                let roll = r.next() % 1000;
                let pick = (r.next() % r.faults.len() as u64) as usize;
                if roll < r.per_mille && applicable(&r.faults[pick]) {
                    fault = Some(r.faults[pick]);
                }
            }
        }
    }
    if let Some(f) = fault {
        *s.counts.entry(f.kind()).or_insert(0) += 1;
    }
    fault
}

/// A request read off the wire.
struct Request {
    method: String,
    path: String,
    /// Header lines, without the request line.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request's parameters: the query string, and a form body.
    fn params(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        if let Some((_, q)) = self.path.split_once('?') {
            out.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        if self
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        {
            out.extend(url::form_urlencoded::parse(&self.body).into_owned());
        }
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request (head, then body by Content-Length or chunked).
async fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        // Read until the last chunk, then decode.
        while find(&rest, b"0\r\n\r\n").is_none() {
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        let mut body = Vec::new();
        let mut at = 0;
        while let Some(eol) = find(&rest[at..], b"\r\n") {
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[at..at + eol])
                    .split(';')
                    .next()
                    .unwrap_or("0")
                    .trim(),
                16,
            )
            .unwrap_or(0);
            at += eol + 2;
            if size == 0 || at + size > rest.len() {
                break;
            }
            body.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
        body
    } else {
        let len: usize = get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        while rest.len() < len {
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    };
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

/// Forwards `req` to the wiki (asking it to close after answering) and
/// returns its whole answer. `port` gets the connection's local port.
async fn forward(
    req: &Request,
    up: SocketAddr,
    port: &mut Option<u16>,
) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(up).await?;
    *port = s.local_addr().ok().map(|a| a.port());
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
    for (k, v) in &req.headers {
        let k_l = k.to_ascii_lowercase();
        if matches!(
            k_l.as_str(),
            "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "host"
        ) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Host: {up}\r\n"));
    if !req.body.is_empty() || req.method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    s.write_all(head.as_bytes()).await?;
    s.write_all(&req.body).await?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// `answer` with `Connection: close` (the proxy serves one request per connection).
fn closing(answer: Vec<u8>) -> Vec<u8> {
    let Some(end) = find(&answer, b"\r\n\r\n") else {
        return answer;
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        if line
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer[end + 4..]);
    bytes
}

fn response(status: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    out.into_bytes()
}

/// MediaWiki's maxlag answer (ApiMain::checkMaxLag), in the request's error format.
fn maxlag_answer(retry_after: u64, errorformat: Option<&str>) -> Vec<u8> {
    let info = format!("Waiting for 10.64.0.1: {retry_after} seconds lagged.");
    let body = match errorformat {
        None | Some("bc") => serde_json::json!({
            "error": {"code": "maxlag", "info": info, "host": "10.64.0.1",
                      "lag": retry_after, "type": "db",
                      "*": "See http://127.0.0.1/api.php for API usage."},
            "servedby": "fault-proxy"
        }),
        Some(_) => serde_json::json!({
            "errors": [{"code": "maxlag", "text": info,
                        "data": {"host": "10.64.0.1", "lag": retry_after, "type": "db"},
                        "module": "main"}],
            "docref": "See http://127.0.0.1/api.php for API usage.",
            "servedby": "fault-proxy"
        }),
    };
    response(
        "200 OK",
        &[
            ("Content-Type", "application/json; charset=utf-8".into()),
            ("MediaWiki-API-Error", "maxlag".into()),
            ("Retry-After", retry_after.to_string()),
            ("X-Database-Lag", format!("{retry_after} seconds")),
        ],
        &body.to_string(),
    )
}

/// Closes `conn` with a reset (RST) instead of an orderly close.
fn reset(conn: TcpStream) {
    // A zero linger does not block on drop (the warning's case): it resets at once.
    #[allow(deprecated)]
    let _ = conn.set_linger(Some(Duration::ZERO));
    drop(conn);
}

async fn serve(mut conn: TcpStream, up: SocketAddr, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    let Some(req) = read_request(&mut conn).await? else {
        return Ok(());
    };
    let at = Instant::now();
    let params = req.params();
    let param = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone());
    let path_only = req.path.split('?').next().unwrap_or_default();
    let action = if path_only.contains("rest.php") {
        "rest".to_string()
    } else if path_only.ends_with("api.php") {
        param("action").unwrap_or_else(|| "help".into())
    } else {
        path_only.to_string()
    };
    let has_maxlag = path_only.ends_with("api.php") && param("maxlag").is_some();
    let fault = decide(&st, &req.method, &action, has_maxlag);
    let mut upstream_port = None;
    let result = match fault {
        None => {
            let answer = forward(&req, up, &mut upstream_port).await?;
            conn.write_all(&closing(answer)).await
        }
        Some(Fault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            let answer = forward(&req, up, &mut upstream_port).await?;
            conn.write_all(&closing(answer)).await
        }
        Some(Fault::Maxlag { retry_after }) => {
            conn.write_all(&maxlag_answer(
                retry_after,
                param("errorformat").as_deref(),
            ))
            .await
        }
        Some(Fault::Unavailable { retry_after }) => {
            conn.write_all(&response(
                "503 Service Unavailable",
                &[
                    ("Content-Type", "text/html; charset=utf-8".into()),
                    ("Retry-After", retry_after.to_string()),
                ],
                "<html><body><h1>Service Unavailable</h1>Our servers are currently under maintenance or experiencing a technical issue.</body></html>",
            ))
            .await
        }
        Some(Fault::TooMany { retry_after }) => {
            conn.write_all(&response(
                "429 Too Many Requests",
                &[
                    ("Content-Type", "text/html; charset=utf-8".into()),
                    ("Retry-After", retry_after.to_string()),
                ],
                "<html><body><h1>Too Many Requests</h1></body></html>",
            ))
            .await
        }
        Some(Fault::ResetBefore) => {
            reset(conn);
            Ok(())
        }
        Some(Fault::ResetAfter) => {
            // The wiki does the work; its answer goes nowhere.
            let _ = forward(&req, up, &mut upstream_port).await?;
            reset(conn);
            Ok(())
        }
    };
    let seen = Seen {
        method: req.method.clone(),
        action,
        title: param("title"),
        path: req.path.clone(),
        maxlag: has_maxlag,
        at,
        done: Instant::now(),
        fault,
        upstream_port,
    };
    st.lock().unwrap_or_else(|e| e.into_inner()).seen.push(seen);
    result
}
