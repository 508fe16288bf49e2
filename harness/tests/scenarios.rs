//! Every scenario of the library is a test: it loads, runs with its own
//! seed and engine, and meets its `expect:` thresholds. Canaries meet
//! theirs by showing their baseline's failure.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fillproof_harness::commands::{load, scenario_files};
use fillproof_harness::measure::report::Report;
use fillproof_harness::run::{RunSpec, run_seed};

/// Files under `folder` of the repository, relative to its root.
fn files_under(folder: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    scenario_files(&[root.join(folder)])
        .expect("scenario folder")
        .into_iter()
        .map(|p| p.strip_prefix(&root).expect("under the root").to_path_buf())
        .collect()
}

fn library() -> Vec<PathBuf> {
    files_under("scenarios")
}

fn contract() -> Vec<PathBuf> {
    files_under("simulator/tests/contract")
}

/// The report of each of `files` (paths relative to the repository's
/// root), run with its own seed and engine, as the gate makes it.
fn reports(files: &[PathBuf]) -> Vec<(PathBuf, Report)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    files
        .iter()
        .map(|relative| {
            let scenario = load(&root.join(relative)).unwrap_or_else(|e| panic!("{e:#}"));
            assert!(
                !scenario.expect.is_empty(),
                "{} has no expect: block",
                relative.display()
            );
            let spec = RunSpec::from_scenario(scenario.clone(), scenario.seed).expect("spec");
            let run = run_seed(&spec, &|| {}).expect("run");
            let file = relative.display().to_string();
            let report = Report::own_setup(&scenario, &file, &spec, 0.0, &[run]);
            (relative.clone(), report)
        })
        .collect()
}

/// The library's and the contract's reports, made once for every test of
/// this file that reads them.
fn all_reports() -> &'static [(PathBuf, Report)] {
    static REPORTS: OnceLock<Vec<(PathBuf, Report)>> = OnceLock::new();
    REPORTS.get_or_init(|| {
        let mut files = library();
        files.extend(contract());
        reports(&files)
    })
}

/// The shortfalls of `reports`.
fn shortfalls<'a>(reports: impl Iterator<Item = &'a (PathBuf, Report)>) -> Vec<String> {
    let mut failures = Vec::new();
    for (_, report) in reports {
        for check in report.shortfalls() {
            failures.push(format!(
                "{}: {} {} (actual {})",
                report.scenario,
                check.metric,
                check.threshold,
                fillproof_harness::measure::report::format_actual(check.actual)
            ));
        }
    }
    failures
}

fn is_contract(path: &Path) -> bool {
    path.starts_with("simulator")
}

/// Each library scenario meets its thresholds, and each has some.
#[test]
fn every_library_scenario_meets_its_expectations() {
    let library = all_reports().iter().filter(|(p, _)| !is_contract(p));
    assert!(
        library.clone().count() >= 20,
        "only {} scenarios",
        library.count()
    );
    let failures = shortfalls(library);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The scenario contract's files (copies kept with the simulator's tests)
/// run unchanged and meet their own thresholds.
#[test]
fn contract_files_run_unchanged() {
    let contract = all_reports().iter().filter(|(p, _)| is_contract(p));
    assert_eq!(contract.clone().count(), 4);
    let failures = shortfalls(contract);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each canary pins a baseline: it names a baseline engine, so that a
/// harness that stops catching that engine's bug fails its own gate.
#[test]
fn every_canary_runs_a_baseline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let canaries: Vec<PathBuf> = library()
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "canaries"))
        .collect();
    assert!(canaries.len() >= 4, "only {} canaries", canaries.len());
    for path in canaries {
        let scenario = load(&root.join(&path)).unwrap_or_else(|e| panic!("{e:#}"));
        let kind = scenario.engine.kind.expect("a canary names its engine");
        assert_ne!(
            kind,
            fillproof_simulator::EngineKind::Robust,
            "{}",
            path.display()
        );
    }
}

/// Where a report's golden copy is kept: `harness/tests/golden/`, the
/// scenario's path with `/` spelled `__` and `.json` for `.yaml`.
fn golden_path(relative: &Path) -> PathBuf {
    let name = relative
        .with_extension("json")
        .display()
        .to_string()
        .replace('/', "__");
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// A report as the golden copy keeps it: the JSON report, wall-clock time
/// aside (the only figure a machine may change).
fn golden_text(report: &Report) -> String {
    let mut json = serde_json::to_value(report).expect("report serialises");
    if let Some(map) = json.as_object_mut() {
        map.remove("wall_ms");
        map.remove("speedup");
    }
    serde_json::to_string_pretty(&json).expect("json") + "\n"
}

/// Behaviour is pinned: every library scenario's and contract file's
/// report at its own seed (trace hash, every metric, every seed's raw
/// counts and latency samples) equals its golden copy. A change that must
/// alter a figure says so in its own commit and rewrites the copies with
/// `FILLPROOF_BLESS=1 cargo test -p fillproof-harness --test scenarios`.
#[test]
fn every_report_matches_its_golden_copy() {
    let bless = std::env::var_os("FILLPROOF_BLESS").is_some();
    let mut differ = Vec::new();
    for (relative, report) in all_reports() {
        let path = golden_path(relative);
        let text = golden_text(report);
        if bless {
            std::fs::create_dir_all(path.parent().expect("folder")).expect("golden folder");
            std::fs::write(&path, &text).expect("golden copy written");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(golden) if golden == text => {}
            Ok(golden) => {
                let line = golden
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .map_or(golden.lines().count().min(text.lines().count()), |i| i);
                differ.push(format!(
                    "{}: differs from {} at line {}: golden {:?}, now {:?}",
                    relative.display(),
                    path.display(),
                    line + 1,
                    golden.lines().nth(line).unwrap_or(""),
                    text.lines().nth(line).unwrap_or("")
                ));
            }
            Err(e) => differ.push(format!("{}: no golden copy ({e})", path.display())),
        }
    }
    assert!(
        differ.is_empty(),
        "{}\n(a change meant to alter figures rewrites the copies with FILLPROOF_BLESS=1 and says why in its commit)",
        differ.join("\n")
    );
}
