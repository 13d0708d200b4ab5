//! The harness the real-wiki tests share: [`Setup`] makes a wiki prefix of
//! its own with the sample quarter pages, a config and a store, and runs
//! the bot's binary against them.

use std::path::PathBuf;

use serde_json::Value;

use super::{goalsbot, root, run, test_wiki, unique_title, write_config, Run};

pub(crate) const QUARTERS: [&str; 4] = ["Q1", "Q2", "Q3", "Q4"];

pub(crate) fn page_text(q: &str) -> String {
    std::fs::read_to_string(root().join(format!(
        "tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_{q}.wikitext"
    )))
    .unwrap()
}

pub(crate) fn deck() -> PathBuf {
    root().join("tests/fixtures/import/fy2020-21-deck.json")
}

/// A wiki prefix of its own with the four quarter pages, and a config using `store_url`.
pub(crate) struct Setup {
    pub dir: tempfile::TempDir,
    pub cfg: PathBuf,
    pub prefix: String,
    pub store_url: String,
}

impl Setup {
    pub fn new(name: &str, store_url: Option<String>) -> Setup {
        Setup::with_quarters(name, store_url, &QUARTERS)
    }

    /// Only the given quarter pages are loaded.
    pub fn with_quarters(name: &str, store_url: Option<String>, quarters: &[&str]) -> Setup {
        let texts: Vec<(String, String)> = quarters
            .iter()
            .map(|q| (q.to_string(), page_text(q)))
            .collect();
        Setup::with_texts(name, store_url, &texts)
    }

    /// The given quarter pages (`("Q1", wikitext)`, …) are loaded.
    pub fn with_texts(name: &str, store_url: Option<String>, texts: &[(String, String)]) -> Setup {
        let pages: Vec<(String, String)> = texts
            .iter()
            .map(|(q, t)| (format!("2020-21 {q}"), t.clone()))
            .collect();
        Setup::with_pages(name, store_url, &["2020-21"], &pages)
    }

    /// The given pages (`("2019-20 Q3", wikitext)`, …) are loaded; the
    /// config tracks the fiscal years `fys`.
    pub fn with_pages(
        name: &str,
        store_url: Option<String>,
        fys: &[&str],
        texts: &[(String, String)],
    ) -> Setup {
        let w = test_wiki();
        let prefix = unique_title(name);
        let mut pages = Vec::new();
        for (fy_q, text) in texts {
            pages.push((format!("{prefix}/{fy_q}"), text.clone()));
        }
        // The emergency stop says run (the bot does nothing without it).
        pages.push((format!("{prefix}/Shutoff"), "run".to_string()));
        let refs: Vec<(&str, &str)> = pages
            .iter()
            .map(|(t, x)| (t.as_str(), x.as_str()))
            .collect();
        w.load_pages(&refs);
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(
            dir.path(),
            w,
            &format!(
                "\n[pages]\nprefix = \"{prefix}\"\nfiscal_years = [{}]\n\n\
                 [commands]\nshutoff_page = \"{prefix}/Shutoff\"\n",
                fys.iter()
                    .map(|f| format!("\"{f}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let store_url = store_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("store.sqlite").display()));
        Setup {
            dir,
            cfg,
            prefix,
            store_url,
        }
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Command {
        let w = test_wiki();
        let mut cmd = goalsbot(self.dir.path());
        cmd.arg("--config")
            .arg(&self.cfg)
            .args(args)
            .env("GOALSBOT_STORE_URL", &self.store_url)
            .env("GOALSBOT_OPERATOR", "Story Tester")
            .env("GOALSBOT_USERNAME", &w.username)
            .env("GOALSBOT_PASSWORD", &w.password);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run(self.cmd(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.code, Some(0), "goalsbot {args:?}: {out:?}");
        out.stdout
    }

    pub fn export(&self, extra: &[&str]) -> Value {
        let mut args = vec!["export", "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }
}

pub(crate) fn find_kr<'a>(export: &'a Value, id: &str) -> Option<&'a Value> {
    export["fiscal_years"]
        .as_array()?
        .iter()
        .flat_map(|fy| fy["objectives"].as_array().unwrap())
        .flat_map(|o| o["key_results"].as_array().unwrap())
        .find(|k| k["id"] == id)
}
