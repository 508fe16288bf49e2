//! Every scenario of the library is a test: it loads, runs with its own
//! seed and engine, and meets its `expect:` thresholds. Canaries meet
//! theirs by showing their baseline's failure.

use std::path::{Path, PathBuf};

use fillproof_harness::commands::{load, scenario_files};
use fillproof_harness::report::Report;
use fillproof_harness::runner::{RunSpec, run_seed};

fn library() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    scenario_files(&[root]).expect("scenarios folder")
}

/// The shortfalls of `files`, each run with its own seed and engine.
fn shortfalls(files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for path in files {
        let scenario = load(path).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(
            !scenario.expect.is_empty(),
            "{} has no expect: block",
            path.display()
        );
        let spec = RunSpec::from_scenario(scenario.clone(), scenario.seed).expect("spec");
        let run = run_seed(&spec, &|| {}).expect("run");
        let file = path.display().to_string();
        let report = Report::own_setup(&scenario, &file, &spec, 0.0, &[run]);
        for check in report.shortfalls() {
            failures.push(format!(
                "{}: {} {} (actual {})",
                scenario.name,
                check.metric,
                check.threshold,
                fillproof_harness::report::format_actual(check.actual)
            ));
        }
    }
    failures
}

/// Each library scenario meets its thresholds, and each has some.
#[test]
fn every_library_scenario_meets_its_expectations() {
    let files = library();
    assert!(files.len() >= 20, "only {} scenarios", files.len());
    let failures = shortfalls(&files);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The scenario contract's files (copies kept with the simulator's tests)
/// run unchanged and meet their own thresholds.
#[test]
fn contract_files_run_unchanged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../simulator/tests/contract");
    let files = scenario_files(&[root]).expect("contract folder");
    assert_eq!(files.len(), 4, "{files:?}");
    let failures = shortfalls(&files);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each canary pins a baseline: it names a baseline engine, so that a
/// harness that stops catching that engine's bug fails its own gate.
#[test]
fn every_canary_runs_a_baseline() {
    let canaries: Vec<PathBuf> = library()
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "canaries"))
        .collect();
    assert!(canaries.len() >= 4, "only {} canaries", canaries.len());
    for path in canaries {
        let scenario = load(&path).unwrap_or_else(|e| panic!("{e:#}"));
        let kind = scenario.engine.kind.expect("a canary names its engine");
        assert_ne!(
            kind,
            fillproof_simulator::EngineKind::Robust,
            "{}",
            path.display()
        );
    }
}
