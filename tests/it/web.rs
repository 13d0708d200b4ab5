//! `goalsbot serve` in a real browser (issue 31): headless Chromium from
//! Debian's packages, driven through its WebDriver (`chromedriver`) by
//! fantoccini, against the web view of a store filled by real syncs of the
//! real test wiki. `.ci/run` installs `chromium` and `chromium-driver` and
//! sets `GOALSBOT_REQUIRE_BROWSER`, so there a missing browser fails the
//! tests instead of skipping them.
//!
//! The tests save screenshots of the year view, a KR's history and the
//! conflicts page under `target/web-screenshots/`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;

use crate::support::{find_kr, raw, root, staff_save, test_wiki, with_cell, Setup};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const REQUIRE_VAR: &str = "GOALSBOT_REQUIRE_BROWSER";
const KR2: &str = "2020-21/front-line-defenses/kr2";

/// Whether the browser is here; without it the tests fail when
/// [`REQUIRE_VAR`] is set (CI) and are skipped, saying so, otherwise.
fn browser_here() -> bool {
    let here =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !here {
        assert!(
            std::env::var_os(REQUIRE_VAR).is_none(),
            "{REQUIRE_VAR} is set but {CHROMIUM} or {CHROMEDRIVER} is missing: \
             apt-get install chromium chromium-driver"
        );
        eprintln!(
            "skipped: no {CHROMIUM} / {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
    }
    here
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `goalsbot serve` on a free port of the loopback, for `s`'s store.
struct Served {
    _child: Killed,
    url: String,
}

fn serve(s: &Setup) -> Served {
    let mut child = s
        .cmd(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting goalsbot serve");
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("goalsbot serve: listening on ")
        .unwrap_or_else(|| panic!("serve said {line:?}"))
        .trim_end_matches('/')
        .to_string();
    Served { _child: child, url }
}

/// Headless Chromium behind its own chromedriver.
struct Browser {
    _driver: Killed,
    _profile: tempfile::TempDir,
    client: Client,
    rt: tokio::runtime::Runtime,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Killed(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting chromedriver"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        // The flags that keep Chromium off the network it cannot reach
        // here, with a profile of its own.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        let client = rt.block_on(async {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
                .expect("a WebDriver session of headless Chromium")
        });
        Browser {
            _driver: driver,
            _profile: profile,
            client,
            rt,
        }
    }

    fn goto(&self, url: &str) {
        self.rt.block_on(self.client.goto(url)).unwrap();
    }

    fn text(&self, css: &str) -> String {
        self.rt
            .block_on(async { self.client.find(Locator::Css(css)).await?.text().await })
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    fn texts(&self, css: &str) -> Vec<String> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
                out.push(e.text().await.unwrap());
            }
            out
        })
    }

    fn count(&self, css: &str) -> usize {
        self.rt
            .block_on(self.client.find_all(Locator::Css(css)))
            .unwrap()
            .len()
    }

    fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.rt
            .block_on(async { self.client.find(Locator::Css(css)).await?.attr(name).await })
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    fn attrs(&self, css: &str, name: &str) -> Vec<Option<String>> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
                out.push(e.attr(name).await.unwrap());
            }
            out
        })
    }

    fn script(&self, js: &str) -> Value {
        self.rt.block_on(self.client.execute(js, vec![])).unwrap()
    }

    fn screenshot(&self, name: &str) {
        let png = self.rt.block_on(self.client.screenshot()).unwrap();
        let dir = root().join("target/web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.rt.block_on(client.close());
    }
}

/// The status of each cell of the heat map, by (record id, quarter).
fn heat_map(b: &Browser) -> Vec<(String, String, String)> {
    let cells = b.script(
        "return Array.from(document.querySelectorAll('#heat tr[data-record] td')).map(td => \
         [td.parentElement.dataset.record, td.dataset.quarter, td.dataset.status, td.innerText]);",
    );
    cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_string(),
                c[1].as_str().unwrap().to_string(),
                c[2].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_year_view_and_a_krs_history_show_what_the_wiki_and_the_tracker_did() {
    if !browser_here() {
        return;
    }
    let s = Setup::new("web-year", None);
    s.ok(&["sync"]);
    let served = serve(&s);
    let b = Browser::start();

    // The heat map shows every status the store (and so the pages) holds.
    b.goto(&format!("{}/year/2020-21", served.url));
    let export = s.export(&[]);
    let cells = heat_map(&b);
    let mut statuses = 0;
    for fy in export["fiscal_years"].as_array().unwrap() {
        for o in fy["objectives"].as_array().unwrap() {
            for kr in o["key_results"].as_array().unwrap() {
                for q in ["Q1", "Q2", "Q3", "Q4"] {
                    let want = kr["quarters"][q]["status"].as_str().unwrap_or("none");
                    let got = cells
                        .iter()
                        .find(|(id, cq, _)| id == kr["id"].as_str().unwrap() && cq == q)
                        .unwrap_or_else(|| panic!("no cell {} {q}", kr["id"]));
                    assert_eq!(got.2, want, "{} {q}", kr["id"]);
                    statuses += usize::from(want != "none");
                }
            }
        }
    }
    assert!(statuses > 20, "the sample year has statuses: {statuses}");
    // The same word the wiki's table shows, in the cell (not only its colour).
    let q3 = format!("{}/2020-21 Q3", s.prefix);
    let on_wiki = crate::support::cell(&raw(&q3), KR2, "Q3");
    let label = on_wiki
        .rsplit('|')
        .next()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(label, "Complete", "{on_wiki}");
    let shown = b.text(&format!("tr[data-record='{KR2}'] td[data-quarter='Q3']"));
    assert!(
        shown.starts_with(&label),
        "{shown:?} vs the wiki's {on_wiki:?}"
    );
    assert_eq!(b.count("script"), 0, "no script on any page");
    b.screenshot("year");
    // Scrolled down the map, the quarter headings stay at the top.
    let top = b.script(
        "window.scrollTo(0, 1500); \
         return [window.scrollY, document.querySelector('#heat thead th').getBoundingClientRect().top];",
    );
    let (scrolled, heading) = (top[0].as_f64().unwrap(), top[1].as_f64().unwrap());
    assert!(scrolled > 1000.0 && heading.abs() < 2.0, "{top}");
    b.screenshot("year-scrolled");

    // A filter is a query parameter, and the form sets it.
    b.goto(&format!("{}/year/2020-21?status=at-risk", served.url));
    let filtered = heat_map(&b);
    assert!(!filtered.is_empty());
    let rows: std::collections::BTreeSet<_> = filtered.iter().map(|c| c.0.clone()).collect();
    for id in &rows {
        assert!(
            filtered.iter().any(|c| &c.0 == id && c.2 == "at-risk"),
            "{id} has no at-risk quarter"
        );
    }
    assert!(
        rows.len()
            < cells
                .iter()
                .map(|c| &c.0)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
    );

    // A staff edit, synced: the KR's timeline shows it first, with the
    // wiki user and a diff link that opens the wiki's diff.
    let before_edit = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(1100));
    staff_save(
        &q3,
        &with_cell(&raw(&q3), KR2, "Q4", "Concerns: staff moved it"),
    );
    s.ok(&["sync"]);
    b.goto(&format!("{}/record/{KR2}", served.url));
    let first = b.text(".timeline li:first-child");
    assert!(first.contains("Q4"), "{first}");
    assert!(
        first.contains("staff moved it") || first.contains("Concerns"),
        "{first}"
    );
    let user = b.text(".timeline li:first-child .user");
    let bot = test_wiki().username.split('@').next().unwrap().to_string();
    assert!(
        !user.is_empty() && user != "(hidden user)" && user != bot,
        "the person who saved, not the bot: {user}"
    );
    let diff = b.attr(".timeline li:first-child a.diff", "href").unwrap();
    assert!(diff.contains("diff=prev"), "{diff}");
    b.goto(&format!("{}/record/{KR2}#history", served.url));
    b.screenshot("kr-history");
    // Numbered down to the oldest, 1, whatever the entries hold (a
    // reversed list counts its nested items too unless told where to start).
    let list =
        b.script("const ol = document.querySelector('.timeline'); return [ol.reversed, ol.start];");
    assert_eq!(list, serde_json::json!([true, b.count(".timeline > li")]));
    // The first sync's entry, which gave every field its first value, is
    // folded so that it does not bury the changes.
    let oldest = b.text(".timeline > li:last-child details.fresh summary");
    assert!(oldest.starts_with("First recorded, with "), "{oldest}");
    // A later page's first values are folded too, and say so.
    let folded = b.texts(".timeline > li details.fresh summary");
    assert!(
        folded[..folded.len() - 1]
            .iter()
            .all(|f| f.ends_with("fields given their first value")),
        "{folded:?}"
    );
    b.goto(&diff);
    let wiki_page = b.rt.block_on(b.client.source()).unwrap();
    assert!(
        wiki_page.contains("staff moved it") && wiki_page.contains("diff"),
        "the diff link opens the wiki's diff of that revision"
    );

    // A tracker edit: the operator and the command.
    s.ok(&["set", KR2, "--quarter", "Q4", "--note", "tracker later"]);
    b.goto(&format!("{}/record/{KR2}", served.url));
    let first = b.text(".timeline li:first-child");
    assert!(first.contains("tracker later"), "{first}");
    assert_eq!(b.text(".timeline li:first-child .operator"), "Story Tester");
    let command = b.text(".timeline li:first-child .command");
    assert!(
        command.contains("set") && command.contains(KR2),
        "{command}"
    );

    // As of before the staff edit: the earlier value (the export's as-of).
    let then = find_kr(&s.export(&["--as-of", &before_edit.to_rfc3339()]), KR2).unwrap()
        ["quarters"]["Q4"]
        .clone();
    let earlier = then["note"].as_str().unwrap_or("").to_string();
    let earlier_status = then["status"].as_str().unwrap_or("none").to_string();
    assert_ne!(earlier_status, "concerns", "the staff edit changed it");

    b.goto(&format!(
        "{}/record/{KR2}?as_of={}",
        served.url,
        before_edit.format("%Y-%m-%dT%H:%M:%SZ")
    ));
    assert!(b.count(".as-of") == 1);
    let q4 = b.text(".quarters tr[data-quarter='Q4']");
    assert_eq!(
        b.attr(
            ".quarters tr[data-quarter='Q4'] td[data-status]",
            "data-status"
        )
        .as_deref(),
        Some(earlier_status.as_str()),
        "{q4}"
    );
    assert!(
        !q4.contains("staff moved it") && !q4.contains("tracker later"),
        "{q4}"
    );
    if !earlier.is_empty() {
        assert!(q4.contains(&earlier), "{q4} vs {earlier}");
    }
    let links = b.attrs("a", "href");
    assert!(
        links
            .iter()
            .flatten()
            .all(|h| !h.starts_with("javascript:")),
        "{links:?}"
    );
}

#[test]
fn a_conflict_appears_then_goes_and_hostile_text_stays_inert() {
    if !browser_here() {
        return;
    }
    let s = Setup::new("web-conflict", None);
    s.ok(&["sync"]);
    let q3 = format!("{}/2020-21 Q3", s.prefix);
    // Hostile words in a note: markup that must stay text in the view.
    let hostile = "Concerns: <script>document.title='owned'</script> \
                   \"><img src=x onerror=alert(1)> [javascript:alert(1) click]";
    staff_save(&q3, &with_cell(&raw(&q3), KR2, "Q2", hostile));
    crate::sync::both_sides_change_kr2_q4(&s);
    let held = s.run(&["sync"]);
    assert_eq!(held.code, Some(3), "{held:?}");
    let served = serve(&s);
    let b = Browser::start();

    b.goto(&format!("{}/conflicts", served.url));
    let list: Value = serde_json::from_str(&s.ok(&["conflicts", "--json"])).unwrap();
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert!(!ids.is_empty());
    assert_eq!(b.count("section.conflict"), ids.len());
    let first = b.text(&format!("#conflict-{}", ids[0]));
    assert!(first.contains(KR2), "{first}");
    assert!(first.contains(&q3), "the page it is on: {first}");
    assert!(
        first.contains("in the section of Front Line Defenses, KR2"),
        "and the section: {first}"
    );
    assert!(
        first.contains(&format!("{{{{goalsbot|resolve|{}|wiki}}}}", ids[0])),
        "the request that settles it: {first}"
    );
    assert!(
        first.contains("staff says") || first.contains("at-risk"),
        "{first}"
    );
    b.screenshot("conflicts");

    for id in &ids {
        s.ok(&["resolve", &id.to_string(), "--take", "store"]);
    }
    b.goto(&format!("{}/conflicts", served.url));
    assert_eq!(b.count("section.conflict"), 0);
    assert!(b.text("main").contains("No conflict is waiting"));

    // The hostile note reads as the words it is, and nothing ran.
    for page in ["/year/2020-21", &format!("/record/{KR2}")] {
        b.goto(&format!("{}{page}", served.url));
        let title = b.script("return document.title;");
        assert!(!title.as_str().unwrap().contains("owned"), "{title}");
        assert_eq!(b.count("script"), 0, "{page}");
        assert_eq!(b.count("main img"), 0, "{page}");
        assert!(
            b.text("main").contains("<script>"),
            "{page} shows the words"
        );
        let links = b.attrs("a", "href");
        assert!(
            links
                .iter()
                .flatten()
                .all(|h| !h.starts_with("javascript:")),
            "{page}: {links:?}"
        );
    }
}

/// The headers every page carries, and a reload that costs a `304`.
#[test]
fn pages_carry_the_csp_and_a_reload_is_not_modified() {
    let s = Setup::with_quarters("web-headers", None, &["Q3"]);
    s.ok(&["sync"]);
    let served = serve(&s);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for path in PAGES {
            let url = format!("{}{path}", served.url);
            let res = http.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            let h = res.headers().clone();
            assert_eq!(h["content-security-policy"], goalsbot::web::CSP, "{path}");
            assert_eq!(h["x-content-type-options"], "nosniff");
            let etag = h["etag"].to_str().unwrap().to_string();
            assert!(h.contains_key("last-modified"), "{path}");
            let html = h["content-type"].to_str().unwrap().starts_with("text/html");
            let body = res.text().await.unwrap();
            if html {
                // Nothing runs and nothing loads from elsewhere: the only
                // absolute addresses are links into the configured wiki.
                assert!(!body.contains("<script"), "{path}");
                assert!(!body.contains(" src="), "{path}");
                // As the page writes it: HTML-escaped (`/` is `&#x2f;`).
                let wiki = test_wiki().url.replace('/', "&#x2f;");
                let links = body.matches("href=\"http").count();
                assert!(links >= 1, "{path}: the footer links to the wiki");
                for (i, _) in body.match_indices("href=\"http") {
                    let target = &body[i + 6..];
                    assert!(
                        target.starts_with(&wiki),
                        "{path}: a link out of the wiki: {}",
                        &target[..target.len().min(80)]
                    );
                }
            }
            let again = http
                .get(&url)
                .header("If-None-Match", &etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304, "{path}");
        }
        // The downloads are the export's own files.
        let json = http
            .get(format!("{}/export/2020-21.json", served.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(json, s.ok(&["export", "--fy", "2020-21"]));
        // A page nobody made, an id nobody holds, a bad date: clear answers.
        for (path, code) in [
            ("/nowhere", 404),
            ("/year/1999-00", 404),
            ("/record/2020-21/no-such/kr9", 404),
            ("/year/2020-21?as_of=yesterday", 400),
        ] {
            let res = http
                .get(format!("{}{path}", served.url))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), code, "{path}");
        }
    });
}

/// Pages a person opens, for the checks that need no browser.
const PAGES: [&str; 7] = [
    "/",
    "/year/2020-21",
    "/record/2020-21/front-line-defenses/kr2",
    "/conflicts",
    "/runs",
    "/export/2020-21.json",
    "/export/2020-21.csv",
];

/// On MariaDB, the web view works with a user granted SELECT only (the
/// `[web] store_url` a ToolsDB operator would set up), and `doctor` says so.
#[test]
fn on_mariadb_a_select_only_user_is_enough() {
    let Some(server) = crate::support::mariadb::test_mariadb() else {
        return;
    };
    let url = server.fresh_database("web select only");
    let s = Setup::with_quarters("web-mariadb", Some(url.clone()), &["Q3"]);
    s.ok(&["sync"]);
    let db = crate::support::mariadb::parse_mysql_url(&url).database;
    let user = format!("ro_{}", db.trim_start_matches("goalsbot_"));
    let user: String = user.chars().take(60).collect();
    server.root_sql(&format!(
        "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'only-reads'; \
         GRANT SELECT ON `{db}`.* TO '{user}'@'127.0.0.1'"
    ));
    let mut ro = url::Url::parse(&url).unwrap();
    ro.set_username(&user).unwrap();
    ro.set_password(Some("only-reads")).unwrap();
    let config = std::fs::read_to_string(&s.cfg).unwrap();
    std::fs::write(&s.cfg, format!("{config}\n[web]\nstore_url = \"{ro}\"\n")).unwrap();

    let doctor = s.run(&["doctor"]);
    assert!(
        doctor
            .stdout
            .contains("`goalsbot serve` reads web.store_url read-only"),
        "{doctor:?}"
    );
    assert!(
        !doctor.stdout.contains("only-reads"),
        "no password in the report"
    );
    let served = serve(&s);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for path in PAGES {
            let res = reqwest::get(format!("{}{path}", served.url)).await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
        }
    });
    // The same user cannot write: the grant, not only the session, holds.
    let out = server
        .client(ro.as_str())
        .args(["--execute", "DELETE FROM history"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a SELECT-only user wrote");
}

/// The store the web view opens refuses writes, on SQLite and MariaDB,
/// whatever rights its user has; and a missing SQLite file is not created.
#[test]
fn the_web_views_store_refuses_writes() {
    use goalsbot::core::fields::{FieldChange, FieldKey};
    use goalsbot::store::{Provenance, Source, Store};
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    let mut urls = vec![sqlite.clone()];
    if let Some(server) = crate::support::mariadb::test_mariadb() {
        urls.push(server.fresh_database("web read only"));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let missing = Store::open_read_only(&sqlite).await.unwrap_err();
        assert!(
            format!("{missing:#}").contains("does not exist"),
            "{missing:#}"
        );
        assert!(!dir.path().join("store.sqlite").exists());
        for url in &urls {
            // Not migrated yet: the web view migrates nothing.
            if !url.starts_with("sqlite") {
                let e = Store::open_read_only(url).await.unwrap_err();
                assert!(format!("{e:#}").contains("goalsbot sync"), "{e:#}");
            }
            Store::open(url).await.unwrap().close().await;
            let store = Store::open_read_only(url).await.unwrap();
            let change = FieldChange {
                key: FieldKey::new("2020-21/web", "title"),
                old: None,
                new: Some(serde_json::json!("A title")),
            };
            let provenance = Provenance {
                at: chrono::Utc::now(),
                run_id: "web-test".into(),
                source: Source::Tracker {
                    operator: "Tester".into(),
                    command: "test".into(),
                },
            };
            let refused = store.apply(&provenance, &[change]).await;
            assert!(refused.is_err(), "{url}: the read-only store wrote");
            assert_eq!(store.head().await.unwrap().history_seq, 0, "{url}");
            store.close().await;
        }
    });
}
