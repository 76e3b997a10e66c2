//! Issue 14: the crate's files import one way. Reads every `crate::` path
//! under `src/` (the `vego` crate, not the server or the CLI) and checks
//! that no engine, codec, model or data-structure file imports the public
//! handles (`api/`), and that no files import each other around a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`engine::flush`) → source text, for every file under `src/`.
fn modules(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().with_extension("");
                let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                    parts.pop();
                }
                out.insert(parts.join("::"), std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

/// The modules `src` names through `crate::` paths, resolved to the longest
/// known module (`crate::engine::flush::sync_wal` → `engine::flush`);
/// braces expand (`crate::engine::{flush, install}`).
fn imports(src: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in src.match_indices("crate::") {
        let rest = &src[i + "crate::".len()..];
        let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        let path = path.trim_end_matches(':').to_owned();
        let mut paths = vec![path.clone()];
        if rest[path.len()..].starts_with("::{") {
            let inner = &rest[path.len() + 3..];
            let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
            paths = inner
                .split(',')
                .map(|item| item.trim().split([' ', ':']).next().unwrap_or(""))
                .filter(|item| !item.is_empty())
                .map(|item| if item == "self" { path.clone() } else { format!("{path}::{item}") })
                .collect();
        }
        for p in paths {
            let segs: Vec<&str> = p.split("::").collect();
            if let Some(m) = (1..=segs.len()).rev().map(|n| segs[..n].join("::")).find(|m| known.contains(m)) {
                found.insert(m);
            }
        }
    }
    found
}

fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let known: BTreeSet<String> = mods.keys().cloned().collect();
    mods.iter()
        .filter(|(m, _)| !m.starts_with("bin") && !m.starts_with("server") && !m.is_empty())
        .map(|(m, src)| {
            // A module's own children and parents are not edges between files.
            let to = imports(src, &known)
                .into_iter()
                .filter(|t| t != m && !t.starts_with(&format!("{m}::")) && !m.starts_with(&format!("{t}::")))
                .collect();
            (m.clone(), to)
        })
        .collect()
}

#[test]
fn nothing_below_the_public_handles_imports_them() {
    let bad: Vec<String> = edges()
        .iter()
        .filter(|(m, _)| !m.starts_with("api") && m.as_str() != "inspect")
        .flat_map(|(m, to)| to.iter().filter(|t| t.starts_with("api")).map(move |t| format!("{m} -> {t}")))
        .collect();
    assert!(bad.is_empty(), "imports of api/ from below it: {bad:?}");
}

#[test]
fn no_files_import_each_other_around_a_cycle() {
    let g = edges();
    // Depth-first search for a back edge, reporting the cycle it closes.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            return Some(path[i..].to_vec());
        }
        if !done.insert(m.to_owned()) {
            return None;
        }
        path.push(m.to_owned());
        for t in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(t, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        let cycle = visit(m, &g, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "import cycle: {:?}", cycle.unwrap());
    }
}

#[test]
fn the_import_reader_sees_a_planted_cycle() {
    // The checks above are only worth something if the reader finds edges.
    let known: BTreeSet<String> = ["engine::flush", "engine::install", "api::db"].map(String::from).into();
    let src = "use crate::engine::{flush, install::record};\nlet x = crate::api::db::Db::open;";
    let found = imports(src, &known);
    assert_eq!(found, known);
    let g = edges();
    assert!(g["engine::flush"].contains("engine::install"), "{:?}", g["engine::flush"]);
    assert!(g["api::db"].contains("engine::lifecycle"), "{:?}", g["api::db"]);
}
