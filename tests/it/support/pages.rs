//! Reading and saving pages of the test wiki as a person would, and finding
//! a status cell in a page's wikitext: what most real-wiki tests look at.

use serde_json::Value;

use super::{test_wiki, Setup};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// The page's current wikitext, straight from the wiki.
pub(crate) fn raw(title: &str) -> String {
    let url = format!("{}index.php", test_wiki().url);
    block_on(async {
        reqwest::Client::new()
            .get(url)
            .query(&[("title", title), ("action", "raw")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}

pub(crate) fn title(s: &Setup, q: &str) -> String {
    format!("{}/2020-21 {q}", s.prefix)
}

/// The line of a status cell: the row of `kr`, the cell of quarter `q`.
pub(crate) fn cell(text: &str, kr: &str, q: &str) -> String {
    let mut in_row = false;
    for line in text.lines() {
        if line.starts_with("|-") {
            in_row = line.contains(&format!("data-goalsbot-kr=\"{kr}\""));
        }
        if in_row && line.contains(&format!("data-goalsbot-quarter=\"{q}\"")) {
            return line.rsplit(" | ").next().unwrap_or("").trim().to_string();
        }
    }
    panic!("no cell {kr} {q} in:\n{text}");
}

/// `text` with the status cell of `kr` in quarter `q` replaced by `value`, as a person would type it.
pub(crate) fn with_cell(text: &str, kr: &str, q: &str, value: &str) -> String {
    crate::simulation::with_cell(text, kr, q, value).unwrap_or_else(|| panic!("no cell {kr} {q}"))
}

/// A person (the wiki's Admin user) saves `text` as the page.
pub(crate) fn staff_save(title: &str, text: &str) {
    test_wiki().load_pages(&[(title, text)]);
}

/// The page's revisions, newest first: `(revid, user, comment)`.
pub(crate) fn revisions(title: &str) -> Vec<(u64, String, String)> {
    let w = test_wiki();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let v: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}api.php", w.url))
            .query(&[
                ("action", "query"),
                ("prop", "revisions"),
                ("titles", title),
                ("rvprop", "ids|user|comment"),
                ("rvlimit", "max"),
                ("format", "json"),
                ("formatversion", "2"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    v["query"]["pages"][0]["revisions"]
        .as_array()
        .map(|revs| {
            revs.iter()
                .map(|r| {
                    (
                        r["revid"].as_u64().unwrap(),
                        r["user"].as_str().unwrap_or("").to_string(),
                        r["comment"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Revisions of `title` newer than `after`, by the bot.
pub(crate) fn bot_edits_since(title: &str, after: u64) -> Vec<(u64, String, String)> {
    let bot = &test_wiki().username;
    let bot = bot.split('@').next().unwrap_or(bot);
    revisions(title)
        .into_iter()
        .filter(|(r, u, _)| *r > after && u == bot)
        .collect()
}

pub(crate) fn latest_revid(title: &str) -> u64 {
    revisions(title).first().map(|r| r.0).unwrap_or(0)
}
