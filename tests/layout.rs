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

/// The node a file of `src/` belongs to (`None` for `lib.rs`, `main.rs`, `build.rs`).
fn node_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [one] if one == "lib" || one == "main" || one == "build" => None,
        [one] => Some(one.clone()),
        [top, _] | [top, _, ..] if top != "core" && top != "ops" => Some(top.clone()),
        [top, m] if m == "mod" => Some(top.clone()),
        [top, second, ..] => Some(format!("{top}::{second}")),
        [] => None,
    }
}

/// The node a `crate::a::b…` path names.
fn node_of_path(segments: &[&str]) -> Option<String> {
    match segments {
        [top, second, ..] if *top == "core" || *top == "ops" => {
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
        // `super::x` from a file directly under core/ or ops/ names a sibling.
        let depth = rel.iter().count();
        let top = rel.iter().next().unwrap().to_string_lossy().to_string();
        if depth == 2 && (top == "core" || top == "ops") && !rel.ends_with("mod.rs") {
            for cap in super_re.captures_iter(&text) {
                let to = format!("{top}::{}", &cap[1]);
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
    assert_eq!(node_of(Path::new("store/sqlite.rs")), Some("store".into()));
    assert_eq!(node_of(Path::new("ops/mod.rs")), Some("ops".into()));
}
