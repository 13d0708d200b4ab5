//! The shape of `src/`: prints the module dependency graph and fails on a
//! cycle, or on the pure core reaching the edge (network, database, runtime,
//! clock, or the `store`, `wiki`, `ops` and `app` modules).
//!
//! Run it alone to see the graph: `cargo test --test layout -- --nocapture`.
//!
//! A node is a top-level module of `src/` (`store`, `wiki`, `config`, …) or a
//! module one level under `core/` or `ops/` (`core::merge`, `ops::pull`);
//! files deeper than that belong to their node. An edge is any `crate::…`
//! path in shipped code (comments, `tests.rs` files and everything after a
//! file's first `#[cfg(test)]` are left out).
//!
//! It also keeps the repository's documents whole: nothing (source, doc
//! comments, `--help` text, README, `docs/`, config, deployment, templates,
//! tests) refers to a document outside the repository, every file in `docs/`
//! is linked from the README, the README stays short, and the links of the
//! README and `docs/` lead somewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Nodes that may be reached from the core besides the core itself.
const CORE_MAY_USE: &[&str] = &["error"];

/// Words that, in a core file, mean I/O, a runtime or the clock.
const CORE_FORBIDDEN: &[&str] = &[
    "tokio",
    "sqlx",
    "mwbot",
    "reqwest",
    "Utc::now",
    "Local::now",
    "SystemTime",
    "Instant::now",
    "std::fs",
    "std::net",
    "std::thread::sleep",
    "std::env::var",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules whose submodules are nodes of their own (a cycle
/// between two of their files counts); any other module is one node.
const SPLIT: [&str; 3] = ["core", "ops", "store"];

/// The node a file of `src/` belongs to (`None` for `lib.rs`, `main.rs`, `build.rs`).
fn node_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [one] if one == "lib" || one == "main" || one == "build" => None,
        [one] => Some(one.clone()),
        [top, _] | [top, _, ..] if !SPLIT.contains(&top.as_str()) => Some(top.clone()),
        [top, m] if m == "mod" => Some(top.clone()),
        [top, second, ..] => Some(format!("{top}::{second}")),
        [] => None,
    }
}

/// The node a `crate::a::b…` path names.
fn node_of_path(segments: &[&str]) -> Option<String> {
    match segments {
        [top, second, ..] if SPLIT.contains(top) => {
            // `crate::core::merge::…`, not an item of `core/mod.rs`.
            let is_module = second.chars().next().is_some_and(|c| c.is_lowercase());
            Some(if is_module {
                format!("{top}::{second}")
            } else {
                top.to_string()
            })
        }
        [top, ..] => Some(top.to_string()),
        [] => None,
    }
}

/// The code of a file with comments removed (line comments, doc comments, and
/// the tail of a line after ` // `).
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| match l.find(" // ") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
    /// Forbidden words found in core files: (file, word).
    core_io: Vec<(String, String)>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let path_re = regex::Regex::new(r"\bcrate((?:::[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let super_re = regex::Regex::new(r"\bsuper::([a-z_][a-z0-9_]*)").unwrap();
    // A `crate::ops::name` path names a module only when there is one by
    // that name (else it is an item of `ops/mod.rs`, e.g. a function).
    let nodes: BTreeSet<String> = files
        .iter()
        .filter_map(|f| node_of(f.strip_prefix(&src).unwrap()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut core_io = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(node) = node_of(rel) else { continue };
        // Test code may read fixtures and use anything: only what ships counts.
        if rel.ends_with("tests.rs") {
            continue;
        }
        let whole = std::fs::read_to_string(file).unwrap();
        let shipped = whole.split("#[cfg(test)]").next().unwrap_or("");
        let text = code(shipped);
        let out = edges.entry(node.clone()).or_default();
        for cap in path_re.captures_iter(&text) {
            let segments: Vec<&str> = cap[1].trim_start_matches("::").split("::").collect();
            if let Some(mut to) = node_of_path(&segments) {
                if !nodes.contains(&to) {
                    to = segments[0].to_string();
                }
                if to != node {
                    out.insert(to);
                }
            }
        }
        // `super::x` from a file directly under one of `SPLIT` names a sibling.
        let depth = rel.iter().count();
        let top = rel.iter().next().unwrap().to_string_lossy().to_string();
        if depth == 2 && SPLIT.contains(&top.as_str()) && !rel.ends_with("mod.rs") {
            for cap in super_re.captures_iter(&text) {
                let mut to = format!("{top}::{}", &cap[1]);
                // `super::check_changes`: an item of the parent's `mod.rs`.
                if !nodes.contains(&to) {
                    to.clone_from(&top);
                }
                if to != node {
                    out.insert(to);
                }
            }
        }
        if node.starts_with("core") {
            for word in CORE_FORBIDDEN {
                if text.contains(word) {
                    core_io.push((rel.display().to_string(), word.to_string()));
                }
            }
        }
    }
    Graph { edges, core_io }
}

/// The strongly connected components with more than one node (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        let edges = t.edges;
        for w in edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(lw));
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn src_has_no_module_cycle_and_a_pure_core() {
    let g = graph();
    println!("module dependency graph of src/ (node -> what it uses):");
    for (from, to) in &g.edges {
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        println!("  {from} -> {}", to.join(", "));
    }
    let cycles = cycles(&g.edges);
    let mut problems = Vec::new();
    for c in &cycles {
        problems.push(format!("cycle: {}", c.join(" <-> ")));
    }
    for (from, to) in &g.edges {
        if !from.starts_with("core") {
            continue;
        }
        for t in to {
            if !t.starts_with("core") && !CORE_MAY_USE.contains(&t.as_str()) {
                problems.push(format!("{from} uses the edge: {t}"));
            }
        }
    }
    for (file, word) in &g.core_io {
        problems.push(format!("src/{file} (core) mentions {word}"));
    }
    println!("{} nodes, {} cycles", g.edges.len(), cycles.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_a_cycle_and_an_edge_use() {
    // The check must be able to fail: a made-up graph with a circle.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges
        .entry("ops::a".into())
        .or_default()
        .insert("ops::b".into());
    edges
        .entry("ops::b".into())
        .or_default()
        .insert("ops::c".into());
    edges
        .entry("ops::c".into())
        .or_default()
        .insert("ops::a".into());
    edges
        .entry("core::x".into())
        .or_default()
        .insert("store".into());
    assert_eq!(
        cycles(&edges),
        vec![vec!["ops::a".to_string(), "ops::b".into(), "ops::c".into()]]
    );
    assert_eq!(
        node_of_path(&["core", "merge", "Plan"]),
        Some("core::merge".into())
    );
    assert_eq!(node_of_path(&["store", "Store"]), Some("store".into()));
    assert_eq!(
        node_of(Path::new("core/parse/table.rs")),
        Some("core::parse".into())
    );
    assert_eq!(
        node_of(Path::new("store/sqlite.rs")),
        Some("store::sqlite".into())
    );
    assert_eq!(node_of(Path::new("store/mod.rs")), Some("store".into()));
    assert_eq!(node_of(Path::new("wiki.rs")), Some("wiki".into()));
    assert_eq!(node_of(Path::new("ops/mod.rs")), Some("ops".into()));
}

// ---------------------------------------------------------------------------
// The repository documents itself: no reference to a document outside it.

/// The documents the repository has in `docs/` under these names (or had
/// once outside it, e.g. `commands.md`): a mention must be a `docs/` path.
const DOC_NAMES: &[&str] = &["cli.md", "commands.md", "pages.md", "records.md", "sync.md"];

/// The longest the README may grow: the detail belongs in `docs/`.
const README_MAX_LINES: usize = 250;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (relative to the root), recursively, sorted.
fn files_under(dir: &str) -> Vec<PathBuf> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), &mut out);
    out.sort();
    out
}

/// The files whose text must not point outside the repository: the source
/// (its doc comments and the clap help text of `goalsbot --help` and every
/// subcommand's `--help`, which come from `src/cli.rs`), the README, the
/// docs, config, deployment, templates, tests, benchmarks and CI.
///
/// Left out: this file (it names what it looks for), the store's migrations
/// (a released migration is never edited: stores keep its checksum), and
/// the pages captured from the wiki (`tests/fixtures/pages/*.html`, `*.wikitext`).
fn documented_files() -> Vec<(String, String)> {
    let mut paths: Vec<PathBuf> = vec![root().join("README.md"), root().join("Cargo.toml")];
    for dir in [
        "src",
        "docs",
        "config",
        "deploy",
        "wikitext_templates",
        "tests",
        "benches",
        ".ci",
    ] {
        paths.extend(files_under(dir));
    }
    let mut out = Vec::new();
    for path in paths {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let skip = rel == "tests/layout.rs"
            || rel.starts_with("src/store/migrations/")
            || (rel.starts_with("tests/fixtures/pages/")
                && (rel.ends_with(".html") || rel.ends_with(".wikitext")));
        if skip {
            continue;
        }
        // Binary files (none today) are not documents.
        if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((rel, text));
        }
    }
    out
}

/// The references in `text` (of the file `rel`) to documents outside the
/// repository: `../shared` or `../seeds` anywhere; a document name of
/// [`DOC_NAMES`] that is not a `docs/` path (inside `docs/`, a bare name of a
/// file there is one); `records.schema.json` other than the one in
/// `tests/fixtures/`. Each as `rel:line: the line`.
fn outside_references(rel: &str, text: &str) -> Vec<String> {
    let in_docs = rel.starts_with("docs/");
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut bad = ["../shared", "../seeds"]
            .iter()
            .any(|outside| line.contains(outside));
        for name in DOC_NAMES {
            for (at, _) in line.match_indices(name) {
                let before = &line[..at];
                // Part of a longer name (`my_sync.md`, `STATUS_TABLE.md`).
                if before
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
                {
                    continue;
                }
                let bare = !before.ends_with('/');
                let ok = before.ends_with("docs/")
                    || (in_docs && bare && root().join("docs").join(name).is_file());
                bad |= !ok;
            }
        }
        for (at, _) in line.match_indices("records.schema.json") {
            bad |= !line[..at].ends_with("tests/fixtures/");
        }
        if bad {
            found.push(format!("{rel}:{}: {}", i + 1, line.trim()));
        }
    }
    found
}

#[test]
fn nothing_refers_to_a_document_outside_the_repository() {
    let files = documented_files();
    assert!(
        files.iter().any(|(rel, _)| rel == "src/cli.rs")
            && files.iter().any(|(rel, _)| rel.starts_with("docs/")),
        "the check must see src/cli.rs (the --help text) and docs/"
    );
    let found: Vec<String> = files
        .iter()
        .flat_map(|(rel, text)| outside_references(rel, text))
        .collect();
    println!("{} files checked", files.len());
    assert!(
        found.is_empty(),
        "references to documents outside the repository (point to docs/ instead, \
         or say it directly):\n{}",
        found.join("\n")
    );
}

/// The GitHub anchor of a Markdown heading: lowercase, punctuation dropped,
/// spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of the Markdown links `[…](target)` in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

#[test]
fn the_readme_is_short_and_links_every_document_in_docs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, at most {README_MAX_LINES}: move the detail into docs/"
    );
    let targets = link_targets(&readme);
    let docs = files_under("docs");
    assert!(!docs.is_empty(), "docs/ is empty");
    let mut unlinked = Vec::new();
    for doc in &docs {
        let rel = doc
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let linked = targets
            .iter()
            .any(|t| t.split('#').next() == Some(rel.as_str()));
        if !linked {
            unlinked.push(rel);
        }
    }
    assert!(
        unlinked.is_empty(),
        "not linked from README.md: {}",
        unlinked.join(", ")
    );
}

#[test]
fn links_in_the_readme_and_docs_lead_to_files_and_headings_that_exist() {
    let mut files = vec![root().join("README.md")];
    files.extend(files_under("docs"));
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(root()).unwrap().display().to_string();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let to = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !to.exists() {
                broken.push(format!("{rel}: {target}: no such file"));
                continue;
            }
            let is_markdown = to.extension().is_some_and(|e| e == "md");
            if let (Some(fragment), true) = (fragment, is_markdown) {
                let heads = anchors(&std::fs::read_to_string(&to).unwrap());
                if !heads.contains(fragment) {
                    broken.push(format!("{rel}: {target}: no such heading"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_reference_checker_finds_what_it_must() {
    // The check must be able to fail.
    let bad = [
        ("src/x.rs", "//! As in `../shared/spec/sync.md`."),
        ("src/x.rs", "/// The counters of `cli.md` (`sync --json`)."),
        (
            "src/cli.rs",
            "    /// Store → stdout, in the format of records.md.",
        ),
        ("README.md", "see commands.md"),
        ("README.md", "[x](spec/pages.md)"),
        ("docs/x.md", "the on-wiki command (`commands.md`)"),
        ("src/x.rs", "/// Ids as `records.schema.json` allows them."),
        ("deploy/x.sh", "# the seeds: ../seeds/002.txt"),
    ];
    for (rel, line) in bad {
        assert_eq!(
            outside_references(rel, line).len(),
            1,
            "{rel}: {line:?} must be found"
        );
    }
    let good = [
        ("src/x.rs", "//! As in `docs/sync.md`, \"Pull\"."),
        ("README.md", "[docs/pages.md](docs/pages.md#statuses)"),
        (
            "docs/x.md",
            "see [sync.md](sync.md#push) and [cli.md](../docs/cli.md)",
        ),
        ("wikitext_templates/x.md", "as `STATUS_TABLE.md` says"),
        ("tests/x.rs", "read(\"tests/fixtures/records.schema.json\")"),
        (
            "docs/x.md",
            "[schema](../tests/fixtures/records.schema.json)",
        ),
    ];
    for (rel, line) in good {
        assert_eq!(
            outside_references(rel, line),
            Vec::<String>::new(),
            "{rel}: {line:?} is fine"
        );
    }
    assert_eq!(anchor(" The bot's status tables"), "the-bots-status-tables");
    assert_eq!(
        anchor(" Tracker edits: `set` and `import`"),
        "tracker-edits-set-and-import"
    );
    assert_eq!(
        anchor(" Opening the store: migrations one process at a time"),
        "opening-the-store-migrations-one-process-at-a-time"
    );
}
