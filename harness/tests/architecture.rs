//! The workspace's module graph has no import cycle: within each crate, no
//! file reaches itself through the `crate::` and `super::` paths of other
//! files (a module and its own parent or child do not count: they are one
//! room). The engine's layer order is checked by `engine/tests/layers.rs`;
//! this test covers every crate's files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `src`, by module path (`detect::watch`).
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).expect("source folder reads");
        for path in entries.map(|e| e.expect("entry").path()) {
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source file reads");
                found.insert(module_of(src, &path), text);
            }
        }
    }
    found
}

fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Module = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The modules `text` (the source of `module`) names through `crate::`
/// and `super::` paths, outside comments and its test module.
fn imports(module: &Module, text: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in code.lines().map(without_comment) {
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
            for (at, _) in line.match_indices(prefix) {
                let before = line[..at].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = &line[at + prefix.len()..];
                let path: Vec<String> = rest
                    .split("::")
                    .map(|p| {
                        p.chars()
                            .take_while(|c| {
                                c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'
                            })
                            .collect::<String>()
                    })
                    .take_while(|p| !p.is_empty())
                    .collect();
                let mut full = base.clone();
                full.extend(path);
                while !full.is_empty() && !known.contains(&full) {
                    full.pop();
                }
                if !full.is_empty() && &full != module {
                    out.insert(full);
                }
            }
        }
    }
    out
}

/// `line` up to a `//` comment (one not part of a `://` address).
fn without_comment(line: &str) -> &str {
    let cut = line
        .match_indices("//")
        .find(|(at, _)| !line[..*at].ends_with(':'))
        .map_or(line.len(), |(at, _)| at);
    &line[..cut]
}

/// The parent module of `module`, as `super::` resolves from its file.
fn parent(module: &Module) -> Module {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// One module is the other or contains it.
fn related(a: &Module, b: &Module) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Each cycle once (found from its smallest module), as the path of
/// modules from that module back to itself.
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let edges = |m: &Module| -> Vec<Module> {
        graph
            .get(m)
            .map(|deps| deps.iter().filter(|d| !related(m, d)).cloned().collect())
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    for start in graph.keys() {
        // Depth-first from `start`, looking for a way back to it.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges(&at) {
                if &next == start {
                    let mut cycle = path.clone();
                    cycle.push(next);
                    found.push(cycle);
                } else if next > *start && seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next, longer));
                }
            }
        }
    }
    found
}

fn graph_of(sources: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let known: BTreeSet<Module> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(module, text)| (module.clone(), imports(module, text, &known)))
        .collect()
}

fn workspace_src(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

/// No crate of the workspace has two files that reach each other.
#[test]
fn no_crate_has_an_import_cycle() {
    for krate in ["engine", "simulator", "harness", "serve", "alpaca"] {
        let sources = modules(&workspace_src(krate));
        assert!(
            sources.len() > 3,
            "{krate}: only {} files found",
            sources.len()
        );
        let cycles = cycles(&graph_of(&sources));
        let shown: Vec<String> = cycles
            .iter()
            .map(|c| {
                c.iter()
                    .map(|m| m.join("::"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            })
            .collect();
        assert!(shown.is_empty(), "{krate}: import cycles: {shown:#?}");
    }
}

/// The checker finds a cycle through two files, and one through three,
/// and leaves a module importing its own parent alone.
#[test]
fn the_checker_finds_cycles_and_ignores_parents() {
    let file = |name: &str, text: &str| {
        (
            name.split("::").map(str::to_owned).collect::<Module>(),
            text.to_owned(),
        )
    };
    let two: BTreeMap<_, _> = [
        file("detect", "mod config;\nmod polling;"),
        file("detect::config", "use super::polling::Strategy;"),
        file("detect::polling", "use crate::detect::config::Config;"),
    ]
    .into_iter()
    .collect();
    assert_eq!(cycles(&graph_of(&two)).len(), 1, "config and polling");
    let three: BTreeMap<_, _> = [
        file("a", "use crate::b::B;"),
        file("b", "use crate::c::C; // crate::a in a comment"),
        file("c", "fn f() { crate::a::go(); }"),
    ]
    .into_iter()
    .collect();
    assert_eq!(cycles(&graph_of(&three)).len(), 1, "a, b and c");
    let parents: BTreeMap<_, _> = [
        file("broker", "mod call;\nuse call::fate;"),
        file("broker::call", "use super::SimBroker;"),
    ]
    .into_iter()
    .collect();
    assert!(cycles(&graph_of(&parents)).is_empty());
}
