//! The engine's layers import one way only:
//! `lifecycle → detect → budget → time → port`. A folder may import the
//! folders to its right, never those to its left; this test reads every
//! source file under `engine/src` and fails naming the file, the line and
//! the import that runs against the direction.

use std::path::{Path, PathBuf};

/// The layers, from the top (imports everything below) to the bottom
/// (imports nothing).
const LAYERS: [&str; 5] = ["lifecycle", "detect", "budget", "time", "port"];

/// One import against the direction.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    line: usize,
    import: String,
    why: String,
}

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

/// The code of a line, without its `//` comment (doc comments included:
/// an intra-doc link is not an import).
fn code_of(line: &str) -> &str {
    let mut in_string = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The first segments of the paths after `crate::` at `rest`: one for
/// `crate::detect::X`, one per item for `crate::{detect::X, port::Y}`.
fn first_segments(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let mut depth = 0usize;
    let mut items = vec![String::new()];
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => items.push(String::new()),
            _ => {}
        }
        if depth == 0 && c != ',' {
            if let Some(last) = items.last_mut() {
                last.push(c);
            }
        }
    }
    items
        .iter()
        .map(|item| ident(item))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Every `crate::…` path in `text` (a file of layer `layer`) that names a
/// layer to the left of `layer`, or reaches past the layers through the
/// crate root.
fn violations(layer: &str, text: &str) -> Vec<Violation> {
    let own = rank(layer).expect("a known layer");
    let mut found = Vec::new();
    // `use` statements may span lines: join them, keeping line numbers of
    // where each path starts.
    for (index, line) in text.lines().enumerate() {
        let code = code_of(line);
        let mut at = 0;
        while let Some(offset) = code[at..].find("crate::") {
            let start = at + offset;
            at = start + "crate::".len();
            // `fillproof_crate::` or `my_crate::` is not this crate.
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut rest = code[at..].to_owned();
            if rest.starts_with('{') && !rest.contains('}') {
                // A grouped import over several lines.
                for next in text.lines().skip(index + 1) {
                    rest.push_str(code_of(next));
                    if next.contains("};") {
                        break;
                    }
                }
            }
            for target in first_segments(&rest) {
                let why = match rank(&target) {
                    Some(theirs) if theirs < own => format!(
                        "`{layer}` imports `{target}`, a layer above it (imports run {})",
                        LAYERS.join(" → ")
                    ),
                    Some(_) => continue,
                    None => format!(
                        "`{layer}` imports `crate::{target}` through the crate root; import it from its layer"
                    ),
                };
                found.push(Violation {
                    line: index + 1,
                    import: format!("crate::{}", rest.trim_end_matches([';', ' '])),
                    why,
                });
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable source folder")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Goal: no engine source file imports against the layer direction.
/// Method: scan every file under `engine/src/<layer>/` for `crate::`
/// paths and check each against the file's own layer.
#[test]
fn imports_run_one_way_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut report = Vec::new();
    let mut layered = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(layer) = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .filter(|first| rank(first).is_some() && relative.components().count() > 1)
        else {
            // The crate root (lib.rs) re-exports every layer.
            continue;
        };
        layered += 1;
        let text = std::fs::read_to_string(file).expect("readable source file");
        for v in violations(layer, &text) {
            report.push(format!(
                "engine/src/{}:{}: {}\n    {}",
                relative.display(),
                v.line,
                v.why,
                v.import
            ));
        }
    }
    assert!(layered > 10, "found only {layered} files in the layers");
    assert!(
        report.is_empty(),
        "imports against the layer direction:\n{}",
        report.join("\n")
    );
}

/// Goal: the checker catches an import against the direction, in every
/// form it takes. Method: synthetic file texts, one bad import each.
#[test]
fn the_checker_catches_an_upward_import() {
    let bad = "use std::sync::Arc;\n\nuse crate::detect::FillDetector;\n";
    let found = violations("budget", bad);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].line, 3);
    assert_eq!(found[0].import, "crate::detect::FillDetector");
    assert!(
        found[0].why.contains("`budget` imports `detect`"),
        "{found:?}"
    );

    let grouped = "use crate::{\n    port::Order,\n    lifecycle::Signal,\n};\n";
    let found = violations("detect", grouped);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, 1);
    assert!(found[0].why.contains("`lifecycle`"), "{found:?}");

    let inline = "fn f(x: &crate::time::Timer) {}\n";
    assert_eq!(violations("port", inline).len(), 1);

    let root = "use crate::Broker;\n";
    assert!(violations("detect", root)[0].why.contains("crate root"));
}

/// Goal: the checker passes what the direction allows. Method: imports to
/// the right, within the same layer, and `crate::` in comments and in
/// other crates' names.
#[test]
fn the_checker_allows_downward_imports_and_comments() {
    let good = "use crate::detect::FillDetector;\nuse crate::lifecycle::Signal;\n\
                use crate::{budget::Priority, port::Order};\n\
                /// See [`X`](crate::lifecycle::OrderExecutor).\n\
                // crate::lifecycle in a comment\n\
                use fillproof_crate::detect;\n";
    assert_eq!(violations("lifecycle", good), Vec::new());
    assert_eq!(
        violations("time", "use crate::port::Timestamp;\n"),
        Vec::new()
    );
}
