//! The handlers: each asks the store for its head (one query), answers
//! `304` when the browser's copy is current, else reads what it shows and
//! renders it.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::{context, Value};
use serde::Deserialize;

use super::view::{self, Filters};
use super::{Web, STYLE};
use crate::core::export;
use crate::core::records::FiscalYear;
use crate::store::{record_fiscal_year, StoreHead};

/// Runs recent enough to be listed.
const RECENT_RUNS: u32 = 50;

/// Why a page cannot be shown.
pub(super) struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn not_found(message: impl Into<String>) -> Failure {
        Failure {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Failure {
        Failure {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

/// A store error: logged in full; the page says only that the store did
/// not answer (its URL is redacted anyway, but a page is no log).
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        tracing::error!(
            error = format!("{e:#}"),
            "the web view could not read the store"
        );
        Failure {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "The tracker's store did not answer. Try again in a minute.".into(),
        }
    }
}

/// A page's body and type.
pub(super) struct Body {
    content_type: &'static str,
    text: String,
    /// A download's file name.
    attachment: Option<String>,
}

impl Body {
    fn html(text: String) -> Body {
        Body {
            content_type: "text/html; charset=utf-8",
            text,
            attachment: None,
        }
    }
}

/// The `as_of` query parameter.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AsOf {
    #[serde(default)]
    as_of: Option<String>,
}

impl AsOf {
    fn time(&self) -> Result<Option<DateTime<Utc>>, Failure> {
        match self.as_of.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => view::parse_as_of(s).map(Some).map_err(Failure::bad_request),
        }
    }
}

/// The heat map's parameters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct YearQuery {
    #[serde(default)]
    as_of: Option<String>,
    #[serde(flatten)]
    filters: Filters,
}

impl Web {
    /// What every page's layout needs, beside its own values.
    fn layout(&self, head: &StoreHead, as_of: Option<DateTime<Utc>>, path: &str) -> Value {
        context! {
            as_of => as_of.map(|t| view::as_of_param(&t)),
            as_of_shown => as_of.map(|t| view::when(&t)),
            as_of_day => as_of.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default(),
            as_of_query => as_of.map(|t| format!("?as_of={}", view::as_of_param(&t))).unwrap_or_default(),
            now_url => path,
            open_conflicts => head.open_conflicts,
            changed => head.changed.map(|t| view::when(&t)),
            wiki_home => self.wiki_home,
        }
    }

    fn render(&self, name: &str, ctx: Value) -> Result<Body, Failure> {
        let t = self
            .env
            .get_template(name)
            .map_err(|e| anyhow::anyhow!(e))?;
        let text = t
            .render(ctx)
            .map_err(|e| anyhow::anyhow!("rendering {name}: {e:#}"))?;
        Ok(Body::html(text))
    }

    fn failure(&self, head: Option<&StoreHead>, f: Failure) -> Response {
        let empty = StoreHead {
            history_seq: 0,
            runs: 0,
            conflicts: 0,
            open_conflicts: 0,
            changed: None,
        };
        let ctx = context! {
            status => format!("{} {}", f.status.as_u16(), f.status.canonical_reason().unwrap_or("")),
            message => f.message,
            ..self.layout(head.unwrap_or(&empty), None, "/")
        };
        let body = self
            .render("error.html", ctx)
            .map(|b| b.text)
            .unwrap_or_else(|_| "error".into());
        let mut res = (f.status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        res
    }
}

/// Answers with the page `page` makes, or `304` when the browser's copy
/// (`If-None-Match`) is of the same store head.
async fn respond<F>(web: &Web, headers: &HeaderMap, page: impl FnOnce(StoreHead) -> F) -> Response
where
    F: Future<Output = Result<Body, Failure>>,
{
    let head = match web.store.head().await {
        Ok(h) => h,
        Err(e) => return web.failure(None, e.into()),
    };
    let etag = head.etag(&web.build);
    let current = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let last_modified = head
        .changed
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    let mut res = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match page(head.clone()).await {
            Ok(body) => {
                let mut res = body.text.into_response();
                let h = res.headers_mut();
                if let Ok(v) = HeaderValue::from_str(body.content_type) {
                    h.insert(header::CONTENT_TYPE, v);
                }
                if let Some(name) = body.attachment {
                    if let Ok(v) =
                        HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                    {
                        h.insert(header::CONTENT_DISPOSITION, v);
                    }
                }
                res
            }
            Err(f) => return web.failure(Some(&head), f),
        }
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = last_modified.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    // Always ask again; the ETag makes asking cost one store query.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// A year's records, now or as of a time.
async fn records_at(
    web: &Web,
    fy: &FiscalYear,
    as_of: Option<DateTime<Utc>>,
) -> Result<crate::core::records::FiscalYearRecords, Failure> {
    Ok(match as_of {
        Some(t) => web.store.load_as_of(fy, t).await?,
        None => web.store.load(fy).await?,
    })
}

/// The fiscal year `s` names, when the store holds it (`404` otherwise).
async fn held_year(web: &Web, s: &str) -> Result<FiscalYear, Failure> {
    let fy = s
        .parse::<FiscalYear>()
        .map_err(|_| Failure::not_found(format!("{s:?} is not a fiscal year (e.g. 2020-21)")))?;
    if !web.store.fiscal_years().await?.contains(&fy) {
        return Err(Failure::not_found(format!(
            "The tracker holds no fiscal year {fy}."
        )));
    }
    Ok(fy)
}

pub(super) async fn index(
    State(web): State<Arc<Web>>,
    Query(q): Query<AsOf>,
    headers: HeaderMap,
) -> Response {
    let web: &Web = &web;
    respond(web, &headers, |head| async move {
        let as_of = q.time()?;
        let years: Vec<String> = web
            .store
            .fiscal_years()
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        let ctx = context! { years, ..web.layout(&head, as_of, "/") };
        web.render("index.html", ctx)
    })
    .await
}

pub(super) async fn year(
    State(web): State<Arc<Web>>,
    Path(fy): Path<String>,
    Query(q): Query<YearQuery>,
    headers: HeaderMap,
) -> Response {
    let web: &Web = &web;
    respond(web, &headers, |head| async move {
        let as_of = AsOf { as_of: q.as_of }.time()?;
        let fy = held_year(web, &fy).await?;
        let records = records_at(web, &fy, as_of).await?;
        let v = view::year(&records, &q.filters);
        let path = format!("/year/{fy}");
        let ctx = context! { v, f => q.filters, ..web.layout(&head, as_of, &path) };
        web.render("year.html", ctx)
    })
    .await
}

pub(super) async fn record(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
    headers: HeaderMap,
) -> Response {
    let web: &Web = &web;
    respond(web, &headers, |head| async move {
        let as_of = q.time()?;
        let id = id.trim_matches('/').to_string();
        let fy = record_fiscal_year(&id)
            .map_err(|_| Failure::not_found(format!("{id:?} is not a record id")))?;
        let records = records_at(web, &fy, as_of).await?;
        let history = web.store.history(&id).await?;
        let shown = view::record(&records, &id);
        if shown.is_none() && history.is_empty() {
            return Err(Failure::not_found(format!(
                "The tracker holds no record {id}."
            )));
        }
        let removed = shown.is_none();
        let r = shown.unwrap_or_else(|| view::RecordView {
            id: id.clone(),
            fiscal_year: fy.to_string(),
            kind: "record".into(),
            title: id.clone(),
            fields: vec![],
            quarters: vec![],
            parent: None,
            children: vec![],
        });
        let history = view::timeline(&web.links, &history, as_of);
        let path = format!("/record/{id}");
        let ctx = context! { r, removed, history, ..web.layout(&head, as_of, &path) };
        web.render("record.html", ctx)
    })
    .await
}

pub(super) async fn conflicts(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let web: &Web = &web;
    respond(web, &headers, |head| async move {
        let list = web.store.conflicts(false).await?;
        // The records of the conflicts' years, for the sections: two queries.
        let wanted: std::collections::BTreeSet<FiscalYear> = list
            .iter()
            .filter_map(|c| record_fiscal_year(&c.key.record).ok())
            .collect();
        let wanted: Vec<FiscalYear> = wanted.into_iter().collect();
        let years = web.store.load_of(&wanted).await?;
        let conflicts = view::conflicts(&web.links, &list, &years);
        let ctx = context! {
            conflicts,
            command_page => web.command_page,
            command_page_url => web.links.page(&web.command_page),
            ..web.layout(&head, None, "/conflicts")
        };
        web.render("conflicts.html", ctx)
    })
    .await
}

pub(super) async fn runs(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let web: &Web = &web;
    respond(web, &headers, |head| async move {
        let runs: Vec<view::RunView> = web
            .store
            .recent_runs(RECENT_RUNS)
            .await?
            .iter()
            .map(|r| view::run(&web.links, r))
            .collect();
        let ctx = context! { runs, ..web.layout(&head, None, "/runs") };
        web.render("runs.html", ctx)
    })
    .await
}

/// `/export/2020-21.json` or `.csv` (`?as_of=`): the same file `goalsbot export` writes.
pub(super) async fn export(
    State(web): State<Arc<Web>>,
    Path(file): Path<String>,
    Query(q): Query<AsOf>,
    headers: HeaderMap,
) -> Response {
    let web: &Web = &web;
    respond(web, &headers, |_| async move {
        let as_of = q.time()?;
        let (stem, csv) = match (file.strip_suffix(".json"), file.strip_suffix(".csv")) {
            (Some(s), _) => (s, false),
            (_, Some(s)) => (s, true),
            _ => return Err(Failure::not_found("Downloads are YEAR.json or YEAR.csv.")),
        };
        let fy = held_year(web, stem).await?;
        let e = web.store.export(std::slice::from_ref(&fy), as_of).await?;
        let suffix = as_of.map(|t| format!("-as-of-{}", t.format("%Y%m%dT%H%M%SZ")));
        let name = format!(
            "goals-{fy}{}.{}",
            suffix.unwrap_or_default(),
            if csv { "csv" } else { "json" }
        );
        Ok(Body {
            content_type: if csv {
                "text/csv; charset=utf-8"
            } else {
                "application/json"
            },
            text: if csv {
                export::to_csv(&e)
            } else {
                export::to_json(&e)
            },
            attachment: Some(name),
        })
    })
    .await
}

pub(super) async fn style() -> Response {
    let mut res = STYLE.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    res
}

pub(super) async fn not_found(State(web): State<Arc<Web>>) -> Response {
    web.failure(None, Failure::not_found("No such page."))
}
