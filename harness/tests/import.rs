//! `fillproof import`: an Alpaca export and the engine's own audit log
//! become scenarios that replay the incident's executions at their real
//! offsets; malformed or truncated input is bad input (exit 2) naming what
//! is wrong.

mod command;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use command::{fillproof, workspace};
use fillproof_harness::import;
use fillproof_harness::runner::{RunSpec, run_seed};
use fillproof_simulator::Scenario;
use rust_decimal::Decimal;

/// Every fill of a run's ledger: (order index, virtual time to the
/// microsecond, the resolution of a broker's stamps, qty, price).
fn fills(
    scenario: &Scenario,
    seed: u64,
) -> (
    Vec<(u32, Duration, Decimal, Decimal)>,
    fillproof_harness::runner::SeedRun,
) {
    let mut spec = RunSpec::from_scenario(Arc::new(scenario.clone()), seed).expect("spec");
    spec.keep_audit_lines = true;
    let run = run_seed(&spec, &|| {}).expect("run");
    let mut all = Vec::new();
    for order in run.ledger.orders() {
        for fill in &order.fills {
            let at = Duration::from_micros(u64::try_from(fill.at.as_micros()).expect("micros"));
            all.push((
                order.index.expect("workload order"),
                at,
                fill.qty,
                fill.price,
            ));
        }
    }
    all.sort();
    (all, run)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fillproof-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// The bundled Alpaca export imports, with one command, into a scenario
/// that loads, replays each execution of the fill activities at its
/// offset from the first order (three pieces of the SPY order, the QQQ
/// fill 59.95 s in), and holds its own expectations with the engine; the
/// bundled copy under `scenarios/incidents/` is what the command writes.
#[test]
fn alpaca_export_replays_every_execution_at_its_offset() {
    let out = temp("alpaca.yaml");
    let out_text = out.display().to_string();
    let (code, _, stderr) = fillproof(&[
        "import",
        "alpaca",
        "scenarios/incidents/alpaca-export/orders.json",
        "--activities",
        "scenarios/incidents/alpaca-export/fills.json",
        "--name",
        "incident-alpaca-export",
        "-o",
        &out_text,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let written = std::fs::read_to_string(&out).expect("written");
    let bundled = std::fs::read_to_string(
        workspace().join("scenarios/incidents/alpaca-export-incident.yaml"),
    )
    .expect("bundled");
    assert_eq!(
        written, bundled,
        "the bundled scenario is the command's output"
    );
    let scenario = Scenario::load(&out).expect("loads");
    let (fills, run) = fills(&scenario, 1);
    let ms = Duration::from_millis;
    let price = |p: &str| p.parse::<Decimal>().expect("price");
    assert_eq!(
        fills,
        vec![
            (0, ms(59_950), Decimal::from(46), price("512.35")),
            (1, ms(2_980), Decimal::from(100), price("590.02")),
            (1, ms(3_880), Decimal::from(120), price("590.05")),
            (1, ms(4_780), Decimal::from(80), price("590.06")),
            (2, ms(6_080), Decimal::from(80), price("228.47")),
        ]
    );
    let tally = fillproof_harness::metrics::Tally::of(&run);
    assert_eq!((tally.missed_fills, tally.false_positives), (0, 0));
    let (code, stdout, _) = fillproof(&["run", &out_text]);
    assert_eq!(code, 0, "{stdout}");
    // The baseline that threw fills away fails the scenario's thresholds.
    let (_, naive, _) = fillproof(&["run", &out_text, "--engine", "naive"]);
    assert!(naive.contains("missed fills             1"), "{naive}");
}

/// Round trip: a simulated run's audit log, imported and run again,
/// reproduces the same executions at the same virtual times (whole fills,
/// as the audit log records one fill per order with the broker's stamp).
#[test]
fn audit_log_round_trip_reproduces_the_executions() {
    let original = Scenario::parse(
        br#"
version: 1
name: round-trip
seed: 3
workload:
  orders: 30
  arrival: {uniform: [100ms, 2s]}
  symbols: [SPY, QQQ]
  side: {buy: 0.5, sell: 0.5}
  qty: {uniform: [1, 300]}
  type: limit
  reference_price: {SPY: "590.10", QQQ: "512.30"}
engine:
  timeout: 20s
broker:
  latency: {submit: 40ms, get_order: 20ms, cancel: 30ms}
  fill: {probability: 0.8, delay: {uniform: [0s, 15s]}, slippage_bps: {normal: {mean: 0, std: 3}}}
  visibility: {status_lag: 300ms}
  faults:
    get_order: {http_503: 0.05}
"#,
        "round-trip.yaml",
        None,
    )
    .expect("scenario");
    let (before, run) = fills(&original, 3);
    assert!(before.len() > 10, "{before:?}");
    let lines = run
        .audit
        .and_then(|a| a.lines)
        .expect("audit lines kept")
        .join("\n");
    let incident = import::from_audit("run.audit.jsonl", &lines).expect("imports");
    assert_eq!(incident.orders.len(), 30);
    let yaml = import::scenario_yaml(&incident, "round-trip-imported");
    let imported = Scenario::parse(yaml.as_bytes(), "imported.yaml", None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let (after, rerun) = fills(&imported, 1);
    assert_eq!(after, before, "{yaml}");
    let tally = fillproof_harness::metrics::Tally::of(&rerun);
    assert_eq!((tally.missed_fills, tally.false_positives), (0, 0));
}

/// Bad input, each a clear error naming the file and what is wrong, exit
/// 2, never a panic.
#[test]
fn malformed_or_truncated_input_is_bad_input() {
    let orders =
        std::fs::read_to_string(workspace().join("scenarios/incidents/alpaca-export/orders.json"))
            .expect("fixture");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated.json",
            orders[..orders.len() / 2].to_owned(),
            "is not JSON",
        ),
        (
            "object.json",
            r#"{"orders": []}"#.into(),
            "is not a JSON list",
        ),
        ("empty.json", "[]".into(), "lists no orders"),
        (
            "no-qty.json",
            orders.replacen(r#""qty": "46","#, "", 1),
            "order 0 (id 61e69015-8549-4bfd-b9c3-01e75e7c83da): `qty` is missing",
        ),
        (
            "fraction.json",
            orders.replacen(r#""qty": "46","#, r#""qty": "0.5","#, 1),
            "fractional",
        ),
        (
            "bad-time.json",
            orders.replacen("2025-10-17T13:30:00.120Z", "yesterday", 2),
            "`submitted_at` \"yesterday\" is not an RFC 3339 time",
        ),
        (
            "bad-side.json",
            orders.replacen(r#""side": "buy""#, r#""side": "hold""#, 1),
            "`side` \"hold\"",
        ),
    ];
    for (name, text, needle) in cases {
        let path = temp(name);
        std::fs::write(&path, text).expect("write");
        let (code, stdout, stderr) = fillproof(&["import", "alpaca", &path.display().to_string()]);
        assert_eq!(code, 2, "{name}: {stdout}{stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr} lacks {needle}");
        assert!(stderr.contains(name), "{name}: the file is named: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (code, _, stderr) = fillproof(&["import", "alpaca", "no/such/orders.json"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no/such/orders.json"), "{stderr}");

    // A tampered audit log does not verify, and is refused.
    let audit = temp("run.audit.jsonl");
    let (code, _, stderr) = fillproof(&[
        "run",
        "scenarios/incidents/incident-qqq-status-lag.yaml",
        "--audit",
        &audit.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&audit).expect("audit");
    std::fs::write(&audit, text.replacen(r#""qty":"46""#, r#""qty":"64""#, 1)).expect("tamper");
    let (code, _, stderr) = fillproof(&["import", "audit", &audit.display().to_string()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("does not verify"), "{stderr}");
}
