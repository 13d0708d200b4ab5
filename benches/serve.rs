//! How fast `goalsbot serve` answers, page by page: p50 and p99 latency of
//! each page type over a store with N quarter pages' worth of records, on
//! SQLite and (when `GOALSBOT_BENCH_MYSQL_URL` names a MariaDB database
//! whose user may create `goalsbot_bench_*` databases) on MariaDB.
//!
//! ```sh
//! cargo bench --bench serve                      # N = 40 and 1000, SQLite
//! GOALSBOT_BENCH_PAGES=40,200 cargo bench --bench serve
//! bash benches/web/run.sh                        # SQLite and a throwaway MariaDB
//! ```
//!
//! The store is the scale benchmark's: N quarter pages are ceil(N/4)
//! fiscal years from 2000-01 on, each the FY2020-21 review deck's records
//! (5 objectives, 23 KRs, statuses in every quarter) with its years shifted,
//! written as a tracker import, then every KR's Q3 status and note changed
//! again by a wiki revision (so each KR has a history of both kinds), 20
//! conflicts waiting (two in each of the last ten years) and 60 runs
//! remembered. Each page type is asked `GOALSBOT_BENCH_REQUESTS`
//! times (200), one request at a time over one keep-alive connection, after
//! 20 unmeasured ones; the time is from sending the request to the last
//! byte of the answer.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{TimeZone, Utc};
use serde_json::Value;

use goalsbot::config::Config;
use goalsbot::core::export;
use goalsbot::core::fields::{self, FieldChange, FieldKey};
use goalsbot::core::records::{FiscalYear, FiscalYearRecords};
use goalsbot::store::{NewConflict, PageMerge, Provenance, RunEntry, RunState, Source, Store};
use goalsbot::web::Web;

const DECK: &str = include_str!("../tests/fixtures/import/fy2020-21-deck.json");

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The deck's year as fiscal year `fy` (`2000-01`, …).
fn year(fy: &FiscalYear) -> Result<FiscalYearRecords> {
    let text = DECK.replace("2020-21", &fy.to_string());
    let e = export::from_json(&text).context("the deck fixture")?;
    e.fiscal_years
        .into_iter()
        .next()
        .context("the deck has a year")
}

fn fiscal_year(i: usize) -> Result<FiscalYear> {
    let start = 2000 + i;
    format!("{start}-{:02}", (start + 1) % 100)
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Fills `store` with `pages` quarter pages' worth of records; returns the
/// middle year and one of its KRs.
async fn fill(store: &Store, pages: usize) -> Result<(FiscalYear, String)> {
    let years = pages.div_ceil(4);
    let t0 = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
    for i in 0..years {
        let fy = fiscal_year(i)?;
        let records = year(&fy)?;
        let changes: Vec<FieldChange> = fields::flatten(&records)
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(key, v)| FieldChange {
                key,
                old: None,
                new: Some(v),
            })
            .collect();
        let import = Provenance {
            at: t0,
            run_id: format!("bench-import-{i}"),
            source: Source::Tracker {
                operator: "Bench Operator".into(),
                command: "goalsbot import deck.json".into(),
            },
        };
        store.apply(&import, &changes).await?;
        // A wiki revision changes every KR's Q3 status and note.
        let now = store.load(&fy).await?;
        let current = fields::flatten(&now);
        let mut again = Vec::new();
        for o in &now.objectives {
            for kr in &o.key_results {
                for (field, value) in [
                    ("quarters.Q3.status", Value::from("at-risk")),
                    (
                        "quarters.Q3.note",
                        Value::from("blocked on the storage outage"),
                    ),
                ] {
                    let key = FieldKey::new(&kr.id, field);
                    again.push(FieldChange {
                        old: current.get(&key).filter(|v| !v.is_null()).cloned(),
                        key,
                        new: Some(value),
                    });
                }
            }
        }
        let revision = Provenance {
            at: t0 + chrono::Duration::days(30),
            run_id: format!("bench-sync-{i}"),
            source: Source::Wiki {
                page: format!("Wikimedia Technology/Goals/{fy} Q3"),
                revid: 1000 + i as u64,
                user: Some("Staff Member".into()),
                timestamp: t0 + chrono::Duration::days(30),
            },
        };
        // The last ten years' revisions also hold two conflicts each (a
        // Q4 status and note the tracker changed too): 20 waiting at most.
        let conflicts: Vec<NewConflict> = if i + 10 >= years {
            let kr = &now.objectives[1].key_results[0].id;
            ["quarters.Q4.status", "quarters.Q4.note"]
                .iter()
                .map(|f| NewConflict {
                    key: FieldKey::new(kr, *f),
                    base: None,
                    wiki: Some(Value::from("at-risk")),
                    store: Some(Value::from("complete")),
                })
                .collect()
        } else {
            vec![]
        };
        let title = format!("Wikimedia Technology/Goals/{fy} Q3");
        let merge = PageMerge {
            title: &title,
            revid: 1000 + i as u64,
            records: &now,
            conflicts: &conflicts,
            settled: &[],
            followed: &[],
            reading: None,
        };
        store.apply_merge(&revision, &again, &merge).await?;
    }
    for r in 0..60 {
        let at = t0 + chrono::Duration::hours(r);
        store
            .record_run(&RunEntry {
                run_id: format!("bench-run-{r}"),
                command: "sync".into(),
                outcome: RunState::NothingToDo,
                started: at,
                finished: at,
                summary: serde_json::json!({}),
            })
            .await?;
    }
    let fy = fiscal_year(years / 2)?;
    let kr = year(&fy)?.objectives[1].key_results[0].id.clone();
    Ok((fy, kr))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(
    http: &reqwest::Client,
    url: &str,
    n: usize,
    etag: Option<&str>,
) -> Result<(Duration, Duration, u16)> {
    let get = || {
        let mut r = http.get(url);
        if let Some(e) = etag {
            r = r.header("If-None-Match", e);
        }
        r
    };
    for _ in 0..20 {
        get().send().await?.bytes().await?;
    }
    let mut times = Vec::with_capacity(n);
    let mut status = 0;
    for _ in 0..n {
        let t = Instant::now();
        let res = get().send().await?;
        status = res.status().as_u16();
        res.bytes().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99), status))
}

async fn bench(backend: &str, url: &str, pages: usize, n: usize) -> Result<()> {
    let store = Store::open(url).await?;
    let t = Instant::now();
    let (fy, kr) = fill(&store, pages).await?;
    let filled = t.elapsed();
    store.close().await;
    let store = Store::open_read_only(url).await?;
    let app = Web::new(&Config::default(), store)?.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    eprintln!("{backend} {pages} pages: store filled in {filled:.1?}");
    let as_of = "2021-01-15";
    let paths = [
        ("years", "/".to_string()),
        ("year heat map", format!("/year/{fy}")),
        ("year, filtered", format!("/year/{fy}?status=at-risk")),
        ("year as of", format!("/year/{fy}?as_of={as_of}")),
        ("KR with history", format!("/record/{kr}")),
        ("KR as of", format!("/record/{kr}?as_of={as_of}")),
        ("conflicts", "/conflicts".to_string()),
        ("runs", "/runs".to_string()),
        ("download JSON", format!("/export/{fy}.json")),
        ("download CSV", format!("/export/{fy}.csv")),
    ];
    for (name, path) in &paths {
        let u = format!("{base}{path}");
        let (p50, p99, status) = measure(&http, &u, n, None).await?;
        anyhow::ensure!(status == 200, "{path}: {status}");
        println!(
            "| {backend} | {pages} | {name} | {:.2} | {:.2} |",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
    // A reload: 304 for one store query.
    let u = format!("{base}/year/{fy}");
    let etag = http.get(&u).send().await?.headers()["etag"]
        .to_str()?
        .to_string();
    let (p50, p99, status) = measure(&http, &u, n, Some(&etag)).await?;
    anyhow::ensure!(status == 304, "reload: {status}");
    println!(
        "| {backend} | {pages} | reload (304) | {:.2} | {:.2} |",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// A new database for one run, next to the one `url` names (the user must
/// be allowed to create it): the URL of the new one.
async fn fresh_mysql(url: &str, name: &str) -> Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("CREATE DATABASE `{name}`"))
        .execute(&mut conn)
        .await?;
    let mut u = url::Url::parse(url)?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let pages: Vec<usize> = env_or("GOALSBOT_BENCH_PAGES", "40,1000")
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("GOALSBOT_BENCH_PAGES: numbers, e.g. 40,1000")?;
    let n: usize = env_or("GOALSBOT_BENCH_REQUESTS", "200").parse()?;
    let mysql = std::env::var("GOALSBOT_BENCH_MYSQL_URL").ok();
    println!("| store | pages | page | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for &p in &pages {
        let dir = tempfile::tempdir()?;
        let sqlite = format!("sqlite://{}", dir.path().join("bench.sqlite").display());
        bench("SQLite", &sqlite, p, n).await?;
        if let Some(url) = &mysql {
            let db = fresh_mysql(url, &format!("goalsbot_bench_{p}")).await?;
            bench("MariaDB", &db, p, n).await?;
        }
    }
    Ok(())
}
