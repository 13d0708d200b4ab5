//! `goalsbot serve`: the tracker on the web, read-only (`docs/web.md`).
//!
//! Server-rendered pages over the same store the commands write: the
//! fiscal years, a year's heat map, each record with its history, any of
//! them as of a date, the conflicts waiting for a person, the recent runs,
//! and the export's JSON and CSV. The store is opened read-only; every page
//! first asks the store where its history stands ([`Store::head`], one
//! query) and answers `304 Not Modified` when the browser's copy is
//! current. The pages load nothing from elsewhere, and the
//! Content-Security-Policy says so.

mod pages;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::http::{header, HeaderValue, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::config::Config;
use crate::error::ExitCode;
use crate::store::Store;
use view::WikiLinks;

/// Where the server listens without `--listen` or `$PORT`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";

/// What every page says about where it may load from: nothing but this
/// server, no script at all, no frame, forms only to itself.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The templates, built into the program.
const TEMPLATES: [(&str, &str); 7] = [
    ("base.html", include_str!("templates/base.html")),
    ("index.html", include_str!("templates/index.html")),
    ("year.html", include_str!("templates/year.html")),
    ("record.html", include_str!("templates/record.html")),
    ("conflicts.html", include_str!("templates/conflicts.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("error.html", include_str!("templates/error.html")),
];

/// The stylesheet, served at `/style.css`.
const STYLE: &str = include_str!("templates/style.css");

/// The template environment: every value escaped for HTML (minijinja's
/// default for `.html`, said here so that no change of default loosens
/// it), and a value a template names but nobody gave is an error.
fn environment() -> Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, src) in TEMPLATES {
        env.add_template(name, src)
            .with_context(|| format!("the web template {name}"))?;
    }
    Ok(env)
}

/// What the handlers share.
pub struct Web {
    store: Store,
    links: WikiLinks,
    wiki_home: String,
    command_page: String,
    env: minijinja::Environment<'static>,
    /// The program's version: part of every `ETag`.
    build: String,
}

impl Web {
    /// The web view of `store`, linking into the wiki of `config`.
    pub fn new(config: &Config, store: Store) -> Result<Web> {
        let links = WikiLinks::new(&config.wiki.url)
            .with_context(|| format!("the wiki's URL {:?}", config.wiki.url))?;
        Ok(Web {
            store,
            wiki_home: links.page(&config.pages.prefix),
            links,
            command_page: config.command_page(),
            env: environment()?,
            build: env!("CARGO_PKG_VERSION").to_string(),
        })
    }

    /// The routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(pages::index))
            .route("/year/{fy}", get(pages::year))
            .route("/record/{*id}", get(pages::record))
            .route("/conflicts", get(pages::conflicts))
            .route("/runs", get(pages::runs))
            .route("/export/{file}", get(pages::export))
            .route("/style.css", get(pages::style))
            .fallback(pages::not_found)
            .layer(axum::middleware::from_fn(safe_headers))
            .with_state(Arc::new(self))
    }
}

/// The headers every answer carries: the CSP, no sniffing, no framing, no
/// referrer to the wiki.
async fn safe_headers(req: Request<axum::body::Body>, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// Where to listen: `--listen`, else `0.0.0.0:$PORT` (Toolforge's web
/// services set `PORT`), else [`DEFAULT_LISTEN`].
pub fn listen_addr(listen: Option<&str>, port: Option<&str>) -> Result<SocketAddr> {
    let addr = match (listen, port) {
        (Some(l), _) => l.to_string(),
        (None, Some(p)) => format!("0.0.0.0:{}", p.trim()),
        (None, None) => DEFAULT_LISTEN.to_string(),
    };
    addr.parse::<SocketAddr>().with_context(|| {
        format!("{addr:?} is not an address to listen on (e.g. 127.0.0.1:8000, or $PORT=8000)")
    })
}

/// `goalsbot serve`: opens the store read-only and serves the web view
/// until SIGTERM or Ctrl-C.
pub async fn command(config: &Config, listen: Option<&str>) -> Result<ExitCode> {
    let addr = listen_addr(listen, std::env::var("PORT").ok().as_deref())?;
    let url = config.web.store_url.as_deref().unwrap_or(&config.store.url);
    let store = Store::open_read_only(url).await?;
    let app = Web::new(config, store.clone())?.router();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr().context("the address listened on")?;
    // The one line a person or a test waits for.
    println!("goalsbot serve: listening on http://{bound}/");
    tracing::info!(%bound, "serving the web view");
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .await
        .context("serving the web view")?;
    store.close().await;
    Ok(ExitCode::Ok)
}

/// Resolves at SIGTERM (Kubernetes stopping the web service) or Ctrl-C.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_listen_then_port_then_the_default() {
        assert_eq!(
            listen_addr(Some("127.0.0.1:9"), Some("80")).unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(
            listen_addr(None, Some("8000")).unwrap(),
            "0.0.0.0:8000".parse().unwrap()
        );
        assert_eq!(
            listen_addr(None, None).unwrap(),
            DEFAULT_LISTEN.parse().unwrap()
        );
        let e = listen_addr(None, Some("eighty")).unwrap_err().to_string();
        assert!(e.contains("$PORT"), "{e}");
    }

    /// The hostile fixture page's records (a manager named
    /// `<script>alert(1)</script>Eve`, text with `<tags>`, …) in the year
    /// view: every text is escaped, and no tag of theirs reaches the page.
    #[test]
    fn hostile_text_is_escaped_in_the_year_view() {
        let e: crate::core::records::Export = serde_json::from_str(include_str!(
            "../../tests/fixtures/pages/Goalsbot_test%2FHostile_2020-21_Q2.json"
        ))
        .unwrap();
        let records = &e.fiscal_years[0];
        let v = view::year(records, &view::Filters::default());
        let env = environment().unwrap();
        let ctx = minijinja::context! {
            v, f => view::Filters::default(), as_of => None::<String>, as_of_shown => None::<String>,
            as_of_day => "", as_of_query => "", now_url => "/year/2020-21", open_conflicts => 0,
            changed => None::<String>, wiki_home => "https://wiki.example/w/index.php?title=Goals",
        };
        let html = env.get_template("year.html").unwrap().render(ctx).unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;Eve"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<tags>"), "{html}");
        assert!(
            html.contains("Tricky Things &amp; &quot;quotes&quot;"),
            "{html}"
        );
    }
}
