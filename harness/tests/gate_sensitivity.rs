//! The gate is sensitive: each sabotaged engine setting makes at least one
//! library scenario fall short of its own `expect:` block. Each sabotage
//! runs the library in name order with the scenario's own setup but the
//! one setting broken, and stops at the first scenario that catches it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::{AbsenceProof, PollingConfig};
use fillproof_harness::measure::report::Report;
use fillproof_harness::run::{RunSpec, run_seed};
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

/// The library scenario at `path` with `key: value` set in its `engine:`
/// section (replacing the scenario's own `key`, and creating the section
/// when it has none), as a careless setting in a real file would be.
fn with_engine_setting(path: &str, key: &str, value: &str) -> (String, Arc<Scenario>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(path);
    let text = std::fs::read_to_string(&path).expect("scenario");
    let mut lines: Vec<String> = Vec::new();
    let mut in_engine = false;
    let mut skipping = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_engine = line == "engine:";
            skipping = false;
        } else if in_engine {
            if line.starts_with(&format!("  {key}:")) {
                skipping = true;
                continue;
            }
            if skipping && line.starts_with("    ") {
                continue;
            }
            skipping = false;
        }
        lines.push(line.to_owned());
        if line == "engine:" {
            lines.push(format!("  {key}: {value}"));
        }
    }
    if !lines.iter().any(|l| l == "engine:") {
        lines.push(format!("engine:\n  {key}: {value}"));
    }
    let text = lines.join("\n") + "\n";
    let scenario = Scenario::parse(text.as_bytes(), &path.display().to_string(), path.parent())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    (path.display().to_string(), Arc::new(scenario))
}

/// The shortfalls of `path` with `key: value` injected into its `engine:`
/// section, run with its own seed.
fn shortfalls_with(path: &str, key: &str, value: &str) -> Vec<String> {
    let (file, scenario) = with_engine_setting(path, key, value);
    let spec = RunSpec::from_scenario(scenario.clone(), scenario.seed).expect("spec");
    let runs = [run_seed(&spec, &|| {}).expect("run")];
    let report = Report::own_setup(&scenario, &file, &spec, 0.0, &runs);
    report
        .shortfalls()
        .map(|check| format!("{} {}", check.metric, check.threshold))
        .collect()
}

/// Asserts that each scenario of `paths`, whose story `key: value` breaks,
/// falls short of `metric` with it in its `engine:` section.
fn assert_setting_caught(paths: &[&str], key: &str, value: &str, metric: &str) {
    for path in paths {
        let shortfalls = shortfalls_with(path, key, value);
        assert!(
            shortfalls
                .iter()
                .any(|s| s.starts_with(&format!("{metric} "))),
            "{path} with engine.{key}: {value} did not fall short of {metric}; its shortfalls: {shortfalls:?}"
        );
    }
}

// Careless settings, each injected into a scenario's `engine:` section as
// it would be written in a real file: each must fail the library scenarios
// whose story it breaks, on the metric that story is about.

/// A daily loss limit of one cent stops the engine trading after its first
/// losing fill: the production day must notice that it traded a sliver of
/// its signals (it has a floor on filled orders for this).
#[test]
fn a_one_cent_daily_loss_limit_fails_the_production_day() {
    assert_setting_caught(
        &["production-day.yaml"],
        "risk",
        r#"{daily_loss_limit: "0.01"}"#,
        "filled_orders",
    );
}

/// A hybrid safety interval of a day never reads an order the stream has
/// gone quiet on: the silent stream's fills surface only at the deadline.
#[test]
fn a_hybrid_safety_of_a_day_fails_the_silent_stream() {
    for metric in ["detection_latency_p95_ms", "timeout_rate"] {
        assert_setting_caught(
            &["silent-stream.yaml"],
            "polling",
            "{strategy: hybrid, safety: 24h}",
            metric,
        );
    }
}

/// Submissions that wait up to a day for a turn are sent long after their
/// signal, past deadlines of a minute: the budget scenarios' queue waits
/// and sheds notice.
#[test]
fn shed_after_a_day_fails_the_budget_scenarios() {
    for metric in ["queue_wait_p95_ms", "orders_shed"] {
        assert_setting_caught(
            &[
                "lifecycle/call-budget-burst.yaml",
                "lifecycle/call-budget-learns.yaml",
            ],
            "shed_after",
            "24h",
            metric,
        );
    }
}

/// A call timeout of a minute lets a hung read hold its order far past
/// when a fresh read would have answered.
#[test]
fn a_call_timeout_of_a_minute_fails_the_hung_reads() {
    assert_setting_caught(
        &["lifecycle/hung-reads.yaml"],
        "call_timeout",
        "60s",
        "detection_latency_p95_ms",
    );
}

/// A reconcile horizon of 1 ms gives up on an order at its deadline: the
/// outage longer than the submit deadline and the cancel pending for long
/// are where orders are learned of past it. (`outage.yaml`'s 20 s outage
/// ends within every deadline, so the horizon is not its story.)
#[test]
fn a_reconcile_horizon_of_1ms_fails_the_outage_and_long_pending_cancel() {
    assert_setting_caught(
        &[
            "lifecycle/lost-submit-then-long-outage.yaml",
            "lifecycle/long-pending-cancel.yaml",
        ],
        "reconcile_horizon",
        "1ms",
        "missed_fills",
    );
}

/// The seed-literal verifier detecting stream-first claims partial fills
/// as whole: the stream day's false positives notice.
#[test]
fn seed_literal_under_hybrid_fails_the_stream_day() {
    assert_setting_caught(
        &["stream-day.yaml"],
        "kind",
        "seed-literal",
        "false_positives",
    );
}

/// No retries: transient errors end orders that one more try would have
/// settled, and lost submit answers leave intents unplaced.
#[test]
fn no_retries_fails_the_transient_error_scenarios() {
    assert_setting_caught(&["transient-errors.yaml"], "max_retries", "0", "unresolved");
    assert_setting_caught(
        &[
            "lost-submit-responses.yaml",
            "lifecycle/lost-submit-responses-heavy.yaml",
        ],
        "max_retries",
        "0",
        "placement_rate",
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
