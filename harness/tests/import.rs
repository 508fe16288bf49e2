//! `fillproof import`: an Alpaca export and the engine's own audit log
//! become scenarios that replay the incident's executions at their real
//! offsets; malformed or truncated input is bad input (exit 2) naming what
//! is wrong.

mod command;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use command::{fillproof, scratch, workspace};
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

/// A path named `name` in a fresh temporary folder, which goes (with the
/// file) when the folder returned beside it is dropped.
fn temp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let folder = scratch("import");
    let path = folder.path().join(name);
    (folder, path)
}

/// The bundled Alpaca export imports, with one command, into a scenario
/// that loads, replays each execution of the fill activities at its
/// offset from the first order (three pieces of the SPY order, the QQQ
/// fill 59.95 s in), and holds its own expectations with the engine; the
/// bundled copy under `scenarios/incidents/` is what the command writes.
#[test]
fn alpaca_export_replays_every_execution_at_its_offset() {
    let (_scratch, out) = temp("alpaca.yaml");
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

/// Without the fill activities, each order that filled replays as one
/// execution of its whole `filled_qty` at its `filled_avg_price`, at its
/// `filled_at`'s offset from the first order; the orders that filled
/// nothing replay none. Expected values are read from the export itself.
#[test]
fn alpaca_export_without_activities_replays_one_execution_per_filled_order() {
    let (_scratch, out) = temp("alpaca-orders-only.yaml");
    let out_text = out.display().to_string();
    let export = "scenarios/incidents/alpaca-export/orders.json";
    let (code, _, stderr) = fillproof(&["import", "alpaca", export, "-o", &out_text]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(workspace().join(export)).expect("export");
    let orders: Vec<serde_json::Value> = serde_json::from_str(&text).expect("json");
    let stamp = |value: &serde_json::Value| {
        fillproof_engine::Timestamp::parse_rfc3339(value.as_str().expect("a stamp"))
            .expect("RFC 3339")
            .unix_micros
    };
    let decimal = |value: &serde_json::Value| -> Decimal {
        value.as_str().expect("a decimal").parse().expect("decimal")
    };
    let first = orders
        .iter()
        .map(|o| stamp(&o["submitted_at"]))
        .min()
        .expect("orders");
    let mut expected = Vec::new();
    for (index, order) in orders.iter().enumerate() {
        let filled = decimal(&order["filled_qty"]);
        if filled > Decimal::ZERO {
            let offset = u64::try_from(stamp(&order["filled_at"]) - first).expect("after");
            expected.push((
                u32::try_from(index).expect("index"),
                Duration::from_micros(offset),
                filled,
                decimal(&order["filled_avg_price"]),
            ));
        }
    }
    expected.sort();
    assert_eq!(expected.len(), 3, "the export has three filled orders");
    let scenario = Scenario::load(&out).expect("loads");
    let (fills, _) = fills(&scenario, 1);
    assert_eq!(fills, expected);
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

/// An audit log chained by hand, so that any content verifies: each
/// record gets its sequence number, the hash before it and its own hash.
fn chained(records: Vec<fillproof_engine::AuditRecord>) -> String {
    let mut prev = fillproof_engine::GENESIS.to_owned();
    let mut log = String::new();
    for (seq, mut record) in (1..).zip(records) {
        record.seq = seq;
        record.prev_hash = prev;
        record.hash = String::new();
        record.hash = record.expected_hash();
        prev = record.hash.clone();
        log.push_str(&serde_json::to_string(&record).expect("record"));
        log.push('\n');
    }
    fillproof_engine::verify(&log).expect("the hand-made log verifies");
    log
}

/// One record for `chained`: `event` of `client_order_id` at second `at`
/// of 2025-10-17 13:30 UTC.
fn record(
    event: fillproof_engine::AuditEvent,
    client_order_id: &str,
    qty: u32,
    price: Option<&str>,
    at: u32,
    broker_at: Option<&str>,
) -> fillproof_engine::AuditRecord {
    fillproof_engine::AuditRecord {
        seq: 0,
        ts: format!("2025-10-17T13:30:{at:02}.000000Z"),
        event,
        trader_id: "t".into(),
        client_order_id: client_order_id.into(),
        order_id: Some(format!("id-{client_order_id}")),
        symbol: "SPY".into(),
        side: fillproof_engine::Side::Buy,
        qty: Decimal::from(qty),
        price: price.map(|p| p.parse().expect("price")),
        status: String::new(),
        reason: String::new(),
        broker_at: broker_at.map(str::to_owned),
        chain: None,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// How an audit log's orders end: a rejection ends its order rejected and
/// a not-filled record ends its order canceled, each at the record's
/// time, also after a partial fill; a fill record without the broker's
/// stamp (a log from before `broker_at`) is placed at the engine's time
/// and counted in a note, which a log of stamped fills does not carry; a
/// bad `broker_at` names its line.
#[test]
fn audit_import_reads_ends_and_unstamped_fills() {
    use fillproof_engine::AuditEvent::{Fill, NotFilled, Reject, Submit};
    use fillproof_harness::import::{End, Execution};
    let stamp = |second: u32| {
        fillproof_engine::Timestamp::parse_rfc3339(&format!("2025-10-17T13:30:{second:02}Z"))
            .expect("stamp")
            .unix_micros
    };
    let log = chained(vec![
        record(Submit, "rejected", 10, None, 1, None),
        record(Reject, "rejected", 10, None, 2, None),
        record(Submit, "unfilled", 5, None, 3, None),
        record(NotFilled, "unfilled", 0, None, 6, None),
        record(Submit, "old-log", 7, None, 4, None),
        record(Fill, "old-log", 7, Some("590.10"), 9, None),
        record(Submit, "partial", 8, None, 5, None),
        record(
            Fill,
            "partial",
            3,
            Some("100"),
            8,
            Some("2025-10-17T13:30:07Z"),
        ),
        record(NotFilled, "partial", 3, Some("100"), 10, None),
    ]);
    let incident = import::from_audit("old.audit.jsonl", &log).expect("imports");
    let by_id = |id: &str| {
        incident
            .orders
            .iter()
            .find(|o| o.client_order_id == id)
            .unwrap_or_else(|| panic!("{id} imported"))
    };
    assert_eq!(by_id("rejected").end, Some((End::Rejected, stamp(2))));
    assert!(by_id("rejected").executions.is_empty());
    assert_eq!(by_id("unfilled").end, Some((End::Canceled, stamp(6))));
    assert_eq!(by_id("partial").end, Some((End::Canceled, stamp(10))));
    assert_eq!(
        by_id("partial").executions,
        vec![Execution {
            at_us: stamp(7),
            qty: 3,
            price: Decimal::from(100),
        }]
    );
    assert_eq!(
        by_id("old-log").executions,
        vec![Execution {
            at_us: stamp(9),
            qty: 7,
            price: "590.10".parse().expect("price"),
        }]
    );
    assert_eq!(by_id("old-log").end, None);
    assert!(
        incident
            .notes
            .iter()
            .any(|n| n.starts_with("1 fill records carry no broker stamp")),
        "{:?}",
        incident.notes
    );

    // The engine's reported quantity agrees with the log's fills here, so
    // no order carries the disagreement comment; where it does not, the
    // order does.
    let yaml = import::scenario_yaml(&incident, "old-log");
    assert!(!yaml.contains("the engine reported"), "{yaml}");
    let mut disagreeing = incident.clone();
    let slot = disagreeing
        .orders
        .iter()
        .position(|o| o.client_order_id == "partial")
        .expect("partial");
    disagreeing.orders[slot].reported_qty = Some(Decimal::from(8));
    let yaml = import::scenario_yaml(&disagreeing, "old-log");
    assert!(
        yaml.contains(&format!(
            "# At import the engine reported 8 of order {slot} filled; the log's fills add up to 3."
        )),
        "{yaml}"
    );

    let stamped = chained(vec![
        record(Submit, "partial", 8, None, 5, None),
        record(
            Fill,
            "partial",
            8,
            Some("100"),
            8,
            Some("2025-10-17T13:30:07Z"),
        ),
    ]);
    let incident = import::from_audit("new.audit.jsonl", &stamped).expect("imports");
    assert!(
        !incident.notes.iter().any(|n| n.contains("broker stamp")),
        "{:?}",
        incident.notes
    );

    let bad = chained(vec![
        record(Submit, "partial", 8, None, 5, None),
        record(Fill, "partial", 8, Some("100"), 8, Some("yesterday")),
    ]);
    let error = import::from_audit("bad.audit.jsonl", &bad).expect_err("bad broker_at");
    assert_eq!(error.location, "line 2");
    assert!(error.problem.contains("broker_at"), "{error}");
}

/// A source that rejects an order after part of it filled (no broker
/// does, and the scenario schema refuses it) replays the fill and then a
/// cancel of the rest; a rejection with nothing filled stays a rejection;
/// an export with nothing filled or ended has an empty timeline and no
/// detection rate among its expectations.
#[test]
fn rejection_after_a_fill_replays_as_a_cancel() {
    let order = |id: &str, filled: &str| {
        serde_json::json!({
            "id": id, "client_order_id": format!("c-{id}"), "symbol": "SPY",
            "qty": "10", "filled_qty": filled, "side": "buy", "type": "market",
            "submitted_at": "2025-10-17T13:30:00Z",
            "filled_at": "2025-10-17T13:30:01Z", "filled_avg_price": "590.10",
            "failed_at": "2025-10-17T13:30:02Z", "status": "rejected",
        })
    };
    let orders = serde_json::json!([order("a", "4"), order("b", "0")]).to_string();
    let incident = import::from_alpaca("orders.json", &orders, None).expect("imports");
    let yaml = import::scenario_yaml(&incident, "rejected-after-fill");
    assert!(
        yaml.contains("{at: 1s, order: 0, event: fill, qty: 4, price: \"590.10\"}"),
        "{yaml}"
    );
    assert!(yaml.contains("{at: 2s, order: 0, event: cancel}"), "{yaml}");
    assert!(yaml.contains("{at: 2s, order: 1, event: reject}"), "{yaml}");
    Scenario::parse(yaml.as_bytes(), "rejected-after-fill.yaml", None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));

    // An export of orders still working: nothing to replay but the orders.
    let mut working = order("c", "0");
    working["status"] = "accepted".into();
    let orders = serde_json::json!([working]).to_string();
    let incident = import::from_alpaca("orders.json", &orders, None).expect("imports");
    let yaml = import::scenario_yaml(&incident, "still-working");
    assert_eq!(yaml.matches("\ntimeline").count(), 1, "{yaml}");
    assert!(yaml.contains("\ntimeline: []"), "{yaml}");
    // With nothing filled there is no detection rate to hold it to.
    assert!(yaml.contains("filled_orders: \"== 0\""), "{yaml}");
    assert!(!yaml.contains("detection_rate"), "{yaml}");
    Scenario::parse(yaml.as_bytes(), "still-working.yaml", None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
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
        let (_scratch, path) = temp(name);
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
    let (_scratch, audit) = temp("run.audit.jsonl");
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
