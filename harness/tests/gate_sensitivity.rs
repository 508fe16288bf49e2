//! The gate is sensitive: each sabotaged engine setting makes at least one
//! library scenario fall short of its own `expect:` block. Each sabotage
//! runs the library in name order with the scenario's own setup but the
//! one setting broken, and stops at the first scenario that catches it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::{AbsenceProof, PollingConfig};
use fillproof_harness::report::Report;
use fillproof_harness::runner::{RunSpec, run_seed};
use fillproof_simulator::{EngineKind, Scenario};

fn library() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("library folder")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"),
        &mut files,
    );
    files
}

/// The first library scenario (robust engine scenarios only: the canaries
/// pin baselines) whose gate fails under `sabotage`, with the shortfall.
fn first_caught(sabotage: impl Fn(&mut RunSpec)) -> Option<String> {
    for path in library() {
        let scenario = Arc::new(Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")));
        if scenario
            .engine
            .kind
            .is_some_and(|k| k != EngineKind::Robust)
        {
            continue;
        }
        let mut spec = RunSpec::from_scenario(scenario.clone(), scenario.seed).expect("spec");
        sabotage(&mut spec);
        let runs = [run_seed(&spec, &|| {}).expect("run")];
        let file = path.display().to_string();
        let report = Report::own_setup(&scenario, &file, &spec, 0.0, &runs);
        if let Some(check) = report.shortfalls().next() {
            return Some(format!(
                "{}: {} {}",
                scenario.name, check.metric, check.threshold
            ));
        }
    }
    None
}

/// The shortfalls of the library scenario at `path` (from the
/// repository's `scenarios/`) run with its own setup but `sabotage`.
fn shortfalls_of(path: &str, sabotage: impl Fn(&mut RunSpec)) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(path);
    let scenario = Arc::new(Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")));
    let mut spec = RunSpec::from_scenario(scenario.clone(), scenario.seed).expect("spec");
    sabotage(&mut spec);
    let runs = [run_seed(&spec, &|| {}).expect("run")];
    let file = path.display().to_string();
    let report = Report::own_setup(&scenario, &file, &spec, 0.0, &runs);
    report
        .shortfalls()
        .map(|check| format!("{} {}", check.metric, check.threshold))
        .collect()
}

/// Asserts that the scenario at `path`, whose story `sabotage` breaks,
/// falls short of `metric` under it (and so its gate fails).
fn assert_caught(path: &str, metric: &str, sabotage: impl Fn(&mut RunSpec)) {
    let shortfalls = shortfalls_of(path, sabotage);
    assert!(
        shortfalls
            .iter()
            .any(|s| s.starts_with(&format!("{metric} "))),
        "{path} did not fall short of {metric} under the sabotage; its shortfalls: {shortfalls:?}"
    );
}

// The library passes as it is (`tests/scenarios.rs`), so each catch below
// is the sabotage's.

/// The rule earlier engines used: the first "not found" after the retries
/// proves absence, though a submit that got no answer is still on its way.
/// The late-requests scenario, whose submits arrive after the engine gave
/// up on them, misses those orders' fills and leaves them working.
#[test]
fn trusting_the_first_not_found_is_caught_by_late_requests() {
    let sabotage = |s: &mut RunSpec| s.config.absence = AbsenceProof::FirstNotFound;
    assert_caught("late-requests.yaml", "missed_fills", sabotage);
    assert_caught("late-requests.yaml", "abandoned_orders", sabotage);
}

/// Final verification at the deadline switched off.
#[test]
fn final_verification_off_is_caught() {
    let caught = first_caught(|s| s.config.final_verification = false);
    assert!(caught.is_some(), "no library scenario noticed");
    println!("caught by {}", caught.unwrap_or_default());
}

/// Polling fixed at 25 s.
#[test]
fn polling_every_25_seconds_is_caught() {
    let caught = first_caught(|s| {
        s.config.polling = PollingConfig::Fixed {
            interval: Duration::from_secs(25),
        }
    });
    assert!(caught.is_some(), "no library scenario noticed");
    println!("caught by {}", caught.unwrap_or_default());
}

/// A 300 ms deadline.
#[test]
fn timeout_of_300_ms_is_caught() {
    let caught = first_caught(|s| s.config.timeout = Duration::from_millis(300));
    assert!(caught.is_some(), "no library scenario noticed");
    println!("caught by {}", caught.unwrap_or_default());
}

/// No retries of failed calls.
#[test]
fn no_retries_is_caught() {
    let caught = first_caught(|s| s.config.retry.max_retries = 0);
    assert!(caught.is_some(), "no library scenario noticed");
    println!("caught by {}", caught.unwrap_or_default());
}

/// Post-cancel reads off: the configuration refuses zero reads and a zero
/// reconcile horizon (past which reads stop even while the order shows
/// open), so one read and a 1 ms horizon are as close to off as it allows.
#[test]
fn post_cancel_reads_off_is_caught() {
    let caught = first_caught(|s| {
        s.config.post_cancel.max_reads = 1;
        s.config.reconcile_horizon = Duration::from_millis(1);
    });
    assert!(caught.is_some(), "no library scenario noticed");
    println!("caught by {}", caught.unwrap_or_default());
}

/// The ANY-of-4 verifier.
#[test]
fn any_of_four_verifier_is_caught() {
    let caught = first_caught(|s| s.engine = EngineKind::SeedLiteral);
    assert!(caught.is_some(), "no library scenario noticed");
    println!("caught by {}", caught.unwrap_or_default());
}

/// The reconcile horizon cut to 1 ms: unknown submits, long cancels and
/// fills proven only by a cancel refusal are given up on at the deadline.
#[test]
fn no_reconcile_horizon_is_caught() {
    let caught = first_caught(|s| s.config.reconcile_horizon = Duration::from_millis(1));
    assert!(caught.is_some(), "no library scenario noticed");
    println!("caught by {}", caught.unwrap_or_default());
}
