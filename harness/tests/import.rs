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
use fillproof_harness::run::{RunSpec, run_seed};
use fillproof_simulator::Scenario;
use rust_decimal::Decimal;

/// Every fill of a run's ledger: (order index, virtual time to the
/// microsecond, the resolution of a broker's stamps, qty, price).
fn fills(
    scenario: &Scenario,
    seed: u64,
) -> (
    Vec<(u32, Duration, Decimal, Decimal)>,
    fillproof_harness::run::SeedRun,
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
    let tally = fillproof_harness::measure::metrics::Tally::of(&run);
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
  account: {buying_power: "1000000000"}
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
    let tally = fillproof_harness::measure::metrics::Tally::of(&rerun);
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
    fillproof_engine::verify_audit_log(&log).expect("the hand-made log verifies");
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
        stop_loss: None,
        take_profit: None,
        exit_of: None,
        executions: Vec::new(),
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

/// In the engine's audit log, a rejection followed by a fill the broker
/// stamped before it (the engine logs every fill the positions hold, also
/// of an order it reports rejected) replays as a fill and a cancel of the
/// rest: a broker never fills an order it rejected. In an export a
/// rejected order with fills is refused (`contradictory_exports_are_refused`);
/// a rejection with nothing filled stays a rejection; an export with
/// nothing filled or ended has an empty timeline and no detection rate
/// among its expectations.
#[test]
fn rejection_after_a_fill_replays_as_a_cancel() {
    use fillproof_engine::AuditEvent::{Fill, Reject, Submit};
    let log = chained(vec![
        record(Submit, "a", 10, None, 0, None),
        record(Reject, "a", 0, None, 2, None),
        record(
            Fill,
            "a",
            4,
            Some("590.10"),
            3,
            Some("2025-10-17T13:30:01Z"),
        ),
    ]);
    let incident = import::from_audit("run.audit.jsonl", &log).expect("imports");
    let yaml = import::scenario_yaml(&incident, "rejected-after-fill");
    assert!(
        yaml.contains("{at: 1s, order: 0, event: fill, qty: 4, price: \"590.10\"}"),
        "{yaml}"
    );
    assert!(yaml.contains("{at: 2s, order: 0, event: cancel}"), "{yaml}");
    Scenario::parse(yaml.as_bytes(), "rejected-after-fill.yaml", None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));

    let order = |id: &str, status: &str| {
        serde_json::json!({
            "id": id, "client_order_id": format!("c-{id}"), "symbol": "SPY",
            "qty": "10", "filled_qty": "0", "side": "buy", "type": "market",
            "submitted_at": "2025-10-17T13:30:00Z",
            "failed_at": "2025-10-17T13:30:02Z", "status": status,
        })
    };
    let orders = serde_json::json!([order("b", "rejected")]).to_string();
    let incident = import::from_alpaca("orders.json", &orders, None).expect("imports");
    let yaml = import::scenario_yaml(&incident, "rejected");
    assert!(yaml.contains("{at: 2s, order: 0, event: reject}"), "{yaml}");
    Scenario::parse(yaml.as_bytes(), "rejected.yaml", None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));

    // An export of orders still working: nothing to replay but the orders.
    let orders = serde_json::json!([order("c", "accepted")]).to_string();
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

/// An Alpaca order record: `id`, a buy of 10 SPY submitted at
/// 2025-10-17T13:30:00Z, market, still `new`; tests set what they need.
fn alpaca_order(id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "client_order_id": format!("c-{id}"), "symbol": "SPY",
        "qty": "10", "filled_qty": "0", "side": "buy", "type": "market",
        "submitted_at": "2025-10-17T13:30:00Z", "status": "new",
    })
}

/// `order` filled whole at `at` for `price`.
fn filled(mut order: serde_json::Value, at: &str, price: &str) -> serde_json::Value {
    order["filled_qty"] = order["qty"].clone();
    order["filled_at"] = at.into();
    order["filled_avg_price"] = price.into();
    order["status"] = "filled".into();
    order
}

/// A FILL activity `id` of `qty` shares of order `order_id` at `at`.
fn activity(id: &str, order_id: &str, qty: &str, price: &str, at: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "activity_type": "FILL", "transaction_time": at, "type": "fill",
        "price": price, "qty": qty, "side": "buy", "symbol": "SPY", "order_id": order_id,
    })
}

/// Writes `orders` (and `activities`, when given) to files named `name`
/// and `name.fills.json` in `folder` and imports them; returns exit
/// code, stderr, and the scenario's path.
fn import_files(
    folder: &tempfile::TempDir,
    name: &str,
    orders: &str,
    activities: Option<&str>,
) -> (i32, String, PathBuf) {
    let orders_path = folder.path().join(name);
    std::fs::write(&orders_path, orders).expect("write orders");
    let out = folder.path().join(format!("{name}.yaml"));
    let orders_text = orders_path.display().to_string();
    let out_text = out.display().to_string();
    let mut args = vec!["import", "alpaca", &orders_text, "-o", &out_text];
    let fills_path = folder.path().join(format!("{name}.fills.json"));
    let fills_text = fills_path.display().to_string();
    if let Some(activities) = activities {
        std::fs::write(&fills_path, activities).expect("write activities");
        args.extend(["--activities", &fills_text]);
    }
    let (code, _, stderr) = fillproof(&args);
    (code, stderr, out)
}

/// Fills long after their order's submission (a limit order resting 45
/// minutes, a market order filled two minutes in, an order partly filled
/// at 90 s and canceled an hour later) give a scenario whose
/// `engine.timeout` outlasts each wait, and which the robust engine
/// passes with its own `expect:` block; before, the engine gave each
/// order up at the default 60 s and the scenario failed.
#[test]
fn slow_fills_are_covered_by_the_engine_timeout() {
    let folder = scratch("import-slow");
    let mut limit = alpaca_order("resting");
    limit["type"] = "limit".into();
    limit["limit_price"] = "590.10".into();
    let limit = filled(limit, "2025-10-17T14:15:00Z", "590.05");
    let market = filled(alpaca_order("market"), "2025-10-17T13:32:00Z", "590.20");
    let mut partial = alpaca_order("partial");
    partial["filled_qty"] = "4".into();
    partial["filled_at"] = "2025-10-17T13:31:30Z".into();
    partial["filled_avg_price"] = "590.00".into();
    partial["status"] = "canceled".into();
    partial["canceled_at"] = "2025-10-17T14:30:00Z".into();
    for (name, order, timeout) in [
        ("limit-45m.json", limit, "timeout: 46m"),
        ("market-2m.json", market, "timeout: 3m"),
        ("partial-then-cancel.json", partial, "timeout: 3m"),
    ] {
        let orders = serde_json::json!([order]).to_string();
        let (code, stderr, out) = import_files(&folder, name, &orders, None);
        assert_eq!(code, 0, "{name}: {stderr}");
        let yaml = std::fs::read_to_string(&out).expect("written");
        assert!(yaml.contains(timeout), "{name}: {yaml}");
        let (code, stdout, stderr) = fillproof(&["run", &out.display().to_string()]);
        assert_eq!(code, 0, "{name}: {stdout}{stderr}\n{yaml}");
        assert!(!stdout.contains("FELL SHORT"), "{name}: {stdout}");
        assert!(stdout.contains("expect filled_orders"), "{stdout}");
    }
}

/// A GTC order filled six days after its submission cannot be watched by
/// any scenario's engine (engine.timeout is at most a day): the import is
/// refused, naming the file, the order and the field, and saying why.
#[test]
fn a_fill_later_than_a_day_is_refused() {
    let folder = scratch("import-gtc");
    let mut gtc = alpaca_order("gtc");
    gtc["type"] = "limit".into();
    gtc["limit_price"] = "590.10".into();
    gtc["time_in_force"] = "gtc".into();
    let gtc = filled(gtc, "2025-10-23T14:00:00Z", "590.05");
    let orders = serde_json::json!([gtc]).to_string();
    let (code, stderr, out) = import_files(&folder, "gtc.json", &orders, None);
    assert_eq!(code, 2, "{stderr}");
    for needle in [
        "gtc.json: order 0 (id gtc): `filled_at`",
        "6d 0h 30m after its submission",
        "engine.timeout is at most 24h",
    ] {
        assert!(stderr.contains(needle), "{stderr} lacks {needle}");
    }
    assert!(!out.exists(), "nothing is written");
    // The same wait through a fill activity names the activity.
    let orders = serde_json::json!([alpaca_order("gtc")]).to_string();
    let fills = serde_json::json!([activity(
        "f1",
        "gtc",
        "10",
        "590.05",
        "2025-10-23T14:00:00Z"
    )])
    .to_string();
    let (code, stderr, _) = import_files(&folder, "gtc2.json", &orders, Some(&fills));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("gtc2.json.fills.json: activity 0 (id f1): `transaction_time`"),
        "{stderr}"
    );
}

/// An id, client id or symbol with a control character is refused with
/// exit 2 naming the record and the field: an order id ending in a line
/// break and an `engine:` block no longer becomes part of the scenario.
#[test]
fn control_characters_in_ids_and_symbols_are_refused() {
    let folder = scratch("import-control");
    let injection = "a\n  engine:\n    timeout: 1ms";
    for (field, needle) in [
        (
            "id",
            "order 0 (id \"a\\n  engine:\\n    timeout: 1ms\"): `id`",
        ),
        ("client_order_id", "order 0 (id x): `client_order_id`"),
        ("symbol", "order 0 (id x): `symbol`"),
    ] {
        let mut order = filled(alpaca_order("x"), "2025-10-17T13:30:01Z", "590.10");
        order[field] = injection.into();
        let orders = serde_json::json!([order]).to_string();
        let name = format!("control-{field}.json");
        let (code, stderr, out) = import_files(&folder, &name, &orders, None);
        assert_eq!(code, 2, "{field}: {stderr}");
        assert!(stderr.contains(&name), "{stderr}");
        assert!(stderr.contains(needle), "{stderr} lacks {needle}");
        assert!(stderr.contains("control character (U+000A"), "{stderr}");
        assert!(!out.exists(), "{field}: nothing is written");
    }
    // In a fill activity's order id too.
    let orders = serde_json::json!([alpaca_order("x")]).to_string();
    let fills = serde_json::json!([activity(
        "f1",
        "x\u{2028}y",
        "10",
        "590.10",
        "2025-10-17T13:30:01Z"
    )])
    .to_string();
    let (code, stderr, _) = import_files(&folder, "control-fill.json", &orders, Some(&fills));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("activity 0 (id f1): `order_id`") && stderr.contains("U+2028"),
        "{stderr}"
    );
}

/// Quotes, `#` and `: ` in a symbol, the ids and the scenario's name are
/// written escaped: the scenario loads, the symbol and the name read back
/// as given, the ids' comments unquote to the ids, and nothing else in
/// the scenario changes (the engine's timeout stays the importer's).
#[test]
fn quoted_strings_round_trip() {
    let symbol = "BRK \"B\" #1: X\\Y";
    let id = "id \"7\" # not: a comment";
    let client = "client: #1 \"quoted\"";
    let mut order = filled(alpaca_order(id), "2025-10-17T13:30:01Z", "590.10");
    order["symbol"] = symbol.into();
    order["client_order_id"] = client.into();
    let orders = serde_json::json!([order]).to_string();
    let incident = import::from_alpaca("orders.json", &orders, None).expect("imports");
    let name = "incident: \"odd\" # name";
    let yaml = import::scenario_yaml(&incident, name);
    let scenario = Scenario::parse(yaml.as_bytes(), "quoted.yaml", None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(scenario.name, name);
    assert_eq!(scenario.workload.list[0].value.symbol, symbol);
    assert_eq!(scenario.workload.symbols.value, vec![symbol.to_owned()]);
    assert_eq!(
        scenario.engine.timeout.as_ref().map(|t| t.value.0),
        Some(Duration::from_secs(60))
    );
    for text in [id, client] {
        let quoted = import::yaml_quote(text);
        assert!(yaml.contains(&quoted), "{yaml} lacks {quoted}");
        let back: String = serde_json::from_str(&quoted).expect("a quoted string");
        assert_eq!(back, text);
    }
    // Through the command, the same export imports and loads.
    let folder = scratch("import-quoted");
    let (code, stderr, out) = import_files(&folder, "quoted.json", &orders, None);
    assert_eq!(code, 0, "{stderr}");
    Scenario::load(&out).expect("the written scenario loads");
}

/// Exports that contradict themselves are refused with exit 2, naming
/// the file, the record (index and id) and the field: executions above
/// the order's quantity, a second or more before its submission, after
/// the order ended, or through its limit; an end before the submission;
/// a `rejected` order with fills, a `filled` one without; a fill
/// activity of another symbol or side than its order's; an order or
/// activity id listed twice; times that do not exist (a
/// leap second among them); a quantity with more digits than a decimal
/// holds exactly; zero or negative quantities and prices. None says
/// "please report it".
#[test]
fn contradictory_exports_are_refused() {
    let folder = scratch("import-contradictions");
    let at = |s: u32| format!("2025-10-17T13:30:{s:02}Z");
    let order = || alpaca_order("a");
    let fill = |id: &str, qty: &str, price: &str, s: u32| activity(id, "a", qty, price, &at(s));
    let limit = |side: &str| {
        let mut o = order();
        o["type"] = "limit".into();
        o["limit_price"] = "590.10".into();
        o["side"] = side.into();
        o
    };
    let with = |mut o: serde_json::Value, field: &str, value: &str| {
        o[field] = value.into();
        o
    };
    let canceled = {
        let mut o = with(order(), "status", "canceled");
        o["canceled_at"] = at(5).into();
        o
    };
    type Case = (
        &'static str,
        Vec<serde_json::Value>,
        Option<Vec<serde_json::Value>>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "over-qty.json",
            vec![order()],
            Some(vec![fill("f1", "6", "590", 1), fill("f2", "6", "590", 2)]),
            "over-qty.json.fills.json: activity 1 (id f2): `qty` 6 brings the executions of order 0 (id a) to 12 shares, above its `qty` 10",
        ),
        (
            "filled-over-qty.json",
            vec![filled(with(order(), "qty", "8"), &at(1), "590").tap("filled_qty", "10")],
            None,
            "filled-over-qty.json: order 0 (id a): `filled_qty` 10 is above its `qty` 8",
        ),
        (
            "after-end.json",
            vec![canceled.clone()],
            Some(vec![fill("f1", "4", "590", 7)]),
            "after-end.json.fills.json: activity 0 (id f1): `transaction_time` 2025-10-17T13:30:07.000000Z is after order 0 (id a) ended (canceled at 2025-10-17T13:30:05.000000Z, its `canceled_at`)",
        ),
        (
            "duplicate-order.json",
            vec![order(), order()],
            None,
            "duplicate-order.json: order 1 (id a): `id` a is also order 0 (id a)'s",
        ),
        (
            "duplicate-activity.json",
            vec![order()],
            Some(vec![fill("f1", "4", "590", 1), fill("f1", "4", "590", 2)]),
            "duplicate-activity.json.fills.json: activity 1 (id f1): `id` f1 is also activity 0 (id f1)'s",
        ),
        (
            "buy-through-limit.json",
            vec![limit("buy")],
            Some(vec![fill("f1", "10", "590.11", 1)]),
            "buy-through-limit.json.fills.json: activity 0 (id f1): `price` 590.11 is above the limit 590.10 of order 0 (id a), a buy limit order",
        ),
        (
            "sell-through-limit.json",
            vec![filled(limit("sell"), &at(1), "590.09")],
            None,
            "sell-through-limit.json: order 0 (id a): `filled_avg_price` 590.09 is below the limit 590.10",
        ),
        (
            "february-30.json",
            vec![with(order(), "submitted_at", "2025-02-30T13:30:00Z")],
            None,
            "february-30.json: order 0 (id a): `submitted_at` \"2025-02-30T13:30:00Z\" is not a time: 2025-02 has 28 days, not 30",
        ),
        (
            "offset.json",
            vec![filled(order(), "2025-10-17T13:30:01+99:99", "590")],
            None,
            "offset.json: order 0 (id a): `filled_at` \"2025-10-17T13:30:01+99:99\" has the offset +99:99",
        ),
        (
            "zero-qty.json",
            vec![with(order(), "qty", "0")],
            None,
            "zero-qty.json: order 0 (id a): `qty` is 0",
        ),
        (
            "negative-qty.json",
            vec![with(order(), "qty", "-3")],
            None,
            "negative-qty.json: order 0 (id a): `qty` is -3",
        ),
        (
            "zero-limit.json",
            vec![with(limit("buy"), "limit_price", "0")],
            None,
            "zero-limit.json: order 0 (id a): `limit_price` is 0; a price is positive",
        ),
        (
            "negative-price.json",
            vec![order()],
            Some(vec![fill("f1", "4", "-590", 1)]),
            "negative-price.json.fills.json: activity 0 (id f1): `price` is -590; a price is positive",
        ),
        (
            "zero-fill.json",
            vec![order()],
            Some(vec![fill("f1", "0", "590", 1)]),
            "zero-fill.json.fills.json: activity 0 (id f1): `qty` is 0",
        ),
        (
            "before-submit.json",
            vec![filled(order(), "2025-10-17T13:29:00Z", "590")],
            None,
            "before-submit.json: order 0 (id a): `filled_at` 2025-10-17T13:29:00.000000Z is before order 0 (id a) was submitted (2025-10-17T13:30:00.000000Z)",
        ),
        (
            "activity-before-submit.json",
            vec![order()],
            Some(vec![activity(
                "f1",
                "a",
                "4",
                "590",
                "2025-10-17T13:29:58.999Z",
            )]),
            "activity-before-submit.json.fills.json: activity 0 (id f1): `transaction_time` 2025-10-17T13:29:58.999000Z is before order 0 (id a) was submitted",
        ),
        (
            "cancel-before-submit.json",
            vec![with(
                with(order(), "status", "canceled"),
                "canceled_at",
                "2025-10-16T13:30:00Z",
            )],
            None,
            "cancel-before-submit.json: order 0 (id a): its `canceled_at` 2025-10-16T13:30:00.000000Z is before the order was submitted",
        ),
        (
            "rejected-filled.json",
            vec![with(
                with(
                    filled(order(), &at(1), "590").tap("filled_qty", "4"),
                    "status",
                    "rejected",
                ),
                "failed_at",
                &at(2),
            )],
            None,
            "rejected-filled.json: order 0 (id a): `filled_qty` is 4 but `status` is rejected",
        ),
        (
            "rejected-activity.json",
            vec![with(
                with(order(), "status", "rejected"),
                "failed_at",
                &at(2),
            )],
            Some(vec![fill("f1", "4", "590", 1)]),
            "rejected-activity.json.fills.json: activity 0 (id f1): fills order 0 (id a), whose `status` is rejected",
        ),
        (
            "filled-nothing.json",
            vec![filled(order(), &at(1), "590").tap("filled_qty", "0")],
            None,
            "filled-nothing.json: order 0 (id a): `filled_qty` is 0 but `status` is filled",
        ),
        (
            "activity-symbol.json",
            vec![filled(order(), &at(1), "590")],
            Some(vec![fill("f1", "10", "230", 1).tap("symbol", "AAPL")]),
            "activity-symbol.json.fills.json: activity 0 (id f1): `symbol` \"AAPL\" is not \"SPY\", the symbol of order 0 (id a)",
        ),
        (
            "activity-side.json",
            vec![filled(order(), &at(1), "590")],
            Some(vec![fill("f1", "10", "590", 1).tap("side", "sell")]),
            "activity-side.json.fills.json: activity 0 (id f1): `side` sell is not buy, the side of order 0 (id a)",
        ),
        (
            "fractional-digits.json",
            vec![filled(order(), &at(1), "590").tap("qty", "10.00000000000000000000000000001")],
            None,
            "fractional-digits.json: order 0 (id a): `qty` \"10.00000000000000000000000000001\" has more digits than a decimal holds exactly",
        ),
        (
            "leap-second.json",
            vec![filled(
                with(order(), "submitted_at", "2025-10-17T13:30:60Z"),
                "2025-10-17T13:31:01Z",
                "590",
            )],
            None,
            "leap-second.json: order 0 (id a): `submitted_at` \"2025-10-17T13:30:60Z\" is not a time: its second is 60",
        ),
        (
            "activities-short.json",
            vec![filled(order(), &at(2), "590")],
            Some(vec![fill("f1", "5", "590", 2)]),
            "activities-short.json: order 0 (id a): `filled_qty` is 10 but its fill activities add up to 5",
        ),
        (
            "canceled-activities.json",
            vec![canceled.clone()],
            Some(vec![fill("f1", "10", "590", 2)]),
            "canceled-activities.json: order 0 (id a): `filled_qty` is 0 but its fill activities add up to 10",
        ),
        (
            "filled-partly.json",
            vec![filled(order(), &at(1), "590").tap("filled_qty", "4")],
            None,
            "filled-partly.json: order 0 (id a): `filled_qty` is 4 but `status` is filled and its `qty` is 10",
        ),
        (
            "filled-at-elsewhere.json",
            vec![filled(order(), &at(2), "590")],
            Some(vec![fill("f1", "10", "590", 40)]),
            "filled-at-elsewhere.json: order 0 (id a): `filled_at` 2025-10-17T13:30:02.000000Z is not the time of its last fill activity (activity 0 (id f1), 2025-10-17T13:30:40.000000Z)",
        ),
        (
            "average-elsewhere.json",
            vec![filled(order(), &at(2), "590.00")],
            Some(vec![fill("f1", "5", "590", 1), fill("f2", "5", "600", 2)]),
            "average-elsewhere.json: order 0 (id a): `filled_avg_price` is 590.00 but its fill activities average 595 (volume-weighted)",
        ),
        (
            "same-microsecond.json",
            vec![
                canceled
                    .clone()
                    .tap("canceled_at", "2025-10-17T13:30:05.0000001Z")
                    .tap("filled_qty", "10"),
            ],
            Some(vec![
                fill("f1", "10", "590", 0).tap("transaction_time", "2025-10-17T13:30:05.0000009Z"),
            ]),
            "same-microsecond.json.fills.json: activity 0 (id f1): `transaction_time` 2025-10-17T13:30:05.000000900Z is after order 0 (id a) ended (canceled at 2025-10-17T13:30:05.000000100Z, its `canceled_at`)",
        ),
    ];
    for (name, orders, fills, needle) in cases {
        let orders = serde_json::Value::from(orders).to_string();
        let fills = fills.map(|f| serde_json::Value::from(f).to_string());
        let (code, stderr, out) = import_files(&folder, name, &orders, fills.as_deref());
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr}\nlacks: {needle}");
        assert!(!stderr.contains("please report"), "{name}: {stderr}");
        assert!(!out.exists(), "{name}: nothing is written");
    }
}

/// An order's `filled_avg_price` is its fill activities' volume-weighted
/// average to the digits the export writes it with: the bundled SPY
/// order's fills (100 at 590.02, 120 at 590.05, 80 at 590.06) average
/// 590.0426666..., so `590.04` and `590.0427` agree with them and
/// `590.0433` does not. A fill stamped within the cancel's microsecond
/// but before it (by the stamps' nanoseconds) is kept.
#[test]
fn an_average_price_agrees_with_its_activities_to_its_digits() {
    let at = |s: &str| format!("2025-10-17T13:30:0{s}Z");
    let fills = serde_json::json!([
        activity("f1", "a", "100", "590.02", &at("1")),
        activity("f2", "a", "120", "590.05", &at("2")),
        activity("f3", "a", "80", "590.06", &at("3")),
    ])
    .to_string();
    let import = |average: &str| {
        let order = filled(alpaca_order("a").tap("qty", "300"), &at("3"), average);
        let orders = serde_json::json!([order]).to_string();
        import::from_alpaca("orders.json", &orders, Some(("fills.json", &fills)))
    };
    for agrees in [
        "590.04",
        "590.0427",
        "590.042667",
        "590.0426666666666666666666667",
    ] {
        import(agrees).unwrap_or_else(|e| panic!("{agrees}: {e}"));
    }
    for disagrees in ["590.0433", "590.05", "590.0426", "590.04266"] {
        let error = import(disagrees).expect_err(disagrees).to_string();
        assert!(
            error.contains(&format!(
                "`filled_avg_price` is {disagrees} but its fill activities average 590.0426"
            )),
            "{error}"
        );
    }

    let order = alpaca_order("a")
        .tap("status", "canceled")
        .tap("canceled_at", "2025-10-17T13:30:05.0000009Z")
        .tap("filled_qty", "10");
    let orders = serde_json::json!([order]).to_string();
    let fills = serde_json::json!([activity(
        "f1",
        "a",
        "10",
        "590",
        "2025-10-17T13:30:05.0000001Z"
    )])
    .to_string();
    import::from_alpaca("orders.json", &orders, Some(("fills.json", &fills)))
        .expect("a fill before the cancel within its microsecond imports");
}

/// A quantity or price written as a JSON number is read from its own
/// digits, never through a float: `10.00000000000000000000000000001`
/// is refused (a decimal holds it only rounded), `100.000000000000001`
/// is a fractional quantity, a 20-digit price is written whole, and an
/// exponent (`1e2`, `"1E2"`, `5.9012E2`) is read exactly, in an order
/// and in its legs.
#[test]
fn json_numbers_are_read_exactly() {
    let order = |qty: &str, filled: &str, price: &str| {
        format!(
            r#"[{{"id":"a","client_order_id":"c-a","symbol":"SPY","side":"buy","type":"market","submitted_at":"2025-10-17T13:30:00Z","status":"filled","filled_at":"2025-10-17T13:30:01Z","qty":{qty},"filled_qty":{filled},"filled_avg_price":{price}}}]"#
        )
    };
    let import = |text: &str| import::from_alpaca("orders.json", text, None);
    let error = import(&order(
        "10.00000000000000000000000000001",
        "10.00000000000000000000000000001",
        "590",
    ))
    .expect_err("rounded")
    .to_string();
    assert!(
        error.contains("`qty` \"10.00000000000000000000000000001\" has more digits than a decimal holds exactly"),
        "{error}"
    );
    let error = import(&order("100.000000000000001", "100.000000000000001", "590"))
        .expect_err("fractional")
        .to_string();
    assert!(
        error.contains("`qty` is 100.000000000000001; fillproof simulates whole shares"),
        "{error}"
    );
    let incident = import(&order("1e2", r#""1E2""#, "5.9012345678901234567E2")).expect("imports");
    assert_eq!(incident.orders[0].qty, 100);
    let price = incident.orders[0].executions[0].price;
    assert_eq!(price.to_string(), "590.12345678901234567");
    let yaml = import::scenario_yaml(&incident, "numbers");
    assert!(yaml.contains("price: \"590.12345678901234567\""), "{yaml}");

    let legs = order("1e1", "10", "590").replacen(
        r#""status":"filled","#,
        r#""status":"filled","legs":[{"id":"b","symbol":"SPY","side":"sell","type":"limit","limit_price":600.000000000000001,"submitted_at":"2025-10-17T13:30:00Z","status":"new","qty":1E1,"filled_qty":0}],"#,
        1,
    );
    let incident = import(&legs).expect("imports");
    assert_eq!(incident.orders[1].qty, 10);
    assert_eq!(
        incident.orders[1]
            .limit_price
            .map(|p| p.to_string())
            .as_deref(),
        Some("600.000000000000001")
    );
}

/// Sets a field of a JSON record in a chain of builders.
trait Tap {
    fn tap(self, field: &str, value: &str) -> Self;
}

impl Tap for serde_json::Value {
    fn tap(mut self, field: &str, value: &str) -> Self {
        self[field] = value.into();
        self
    }
}

/// Records are read one at a time and the reading stops at the first bad
/// one: a bad first record followed by a malformed tail is reported as
/// the bad record (not as a JSON error at the end); a list of empty
/// objects is refused at record 0; a record of more JSON values than one
/// order holds is refused; and an export of more orders than a scenario
/// holds is refused at the first order past the bound, naming it.
#[test]
fn records_are_streamed_and_bounded() {
    let folder = scratch("import-stream");
    let first_bad = format!(
        "[{}, {{\"id\": \"b\", \"qty\": ",
        alpaca_order("a").tap("qty", "0")
    );
    let (code, stderr, _) = import_files(&folder, "tail.json", &first_bad, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("tail.json: order 0 (id a): `qty` is 0"),
        "{stderr}"
    );
    assert!(!stderr.contains("is not JSON"), "{stderr}");

    // Good records, then a malformed tail: the JSON error names the
    // record it falls in.
    let good_then_broken = format!("[{}, {{\"id\": ", alpaca_order("a"));
    let (code, stderr, _) = import_files(&folder, "broken.json", &good_then_broken, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("broken.json: order 1: is not JSON"),
        "{stderr}"
    );

    let empties = format!("[{}{{}}]", "{},".repeat(200_000));
    let (code, stderr, _) = import_files(&folder, "empties.json", &empties, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("empties.json: order 0: `id` is missing"),
        "{stderr}"
    );

    let huge = format!("[{{\"legs\": [{}{{}}]}}]", "{},".repeat(20_000));
    let (code, stderr, _) = import_files(&folder, "huge.json", &huge, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "huge.json: order 0: holds more than {} JSON values",
            import::MAX_RECORD_VALUES
        )),
        "{stderr}"
    );

    let bound = import::MAX_IMPORT_ORDERS;
    let many: Vec<serde_json::Value> = (0..=bound)
        .map(|i| alpaca_order(&format!("o{i}")))
        .collect();
    let many = serde_json::Value::from(many).to_string();
    let (code, stderr, out) = import_files(&folder, "many.json", &many, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "many.json: order {bound} (id o{bound}): the export holds more than {bound} orders"
        )),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// Within the order bound, ids long enough to make the scenario larger
/// than a scenario file holds are refused with that reason, not as a bug
/// of the importer.
#[test]
fn a_scenario_too_large_for_a_file_is_refused() {
    let folder = scratch("import-large");
    let long = "x".repeat(500);
    let orders: Vec<serde_json::Value> = (0..2_500)
        .map(|i| alpaca_order(&format!("{long}{i}")))
        .collect();
    let orders = serde_json::Value::from(orders).to_string();
    let (code, stderr, out) = import_files(&folder, "large.json", &orders, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("large.json: the scenario of its 2500 orders would be")
            && stderr.contains("over the 1048576 bytes a scenario file holds"),
        "{stderr}"
    );
    assert!(!stderr.contains("please report"), "{stderr}");
    assert!(!out.exists());
}

/// The audit log import applies the same checks where the log has the
/// field: a control character in an id, a time that does not exist, a
/// zero quantity, a fill above the order's quantity or through its limit,
/// a fill recorded after the order's end, a fill more than a day after
/// its submission, and a fill or an end more than a second before it are
/// refused, naming the line and the field.
#[test]
fn audit_import_applies_the_same_checks() {
    use fillproof_engine::AuditEvent::{Fill, NotFilled, Submit};
    let mut bad_id = record(Submit, "a", 10, None, 1, None);
    bad_id.client_order_id = "a\n  engine: {}".into();
    let mut bad_ts = record(Submit, "a", 10, None, 1, None);
    bad_ts.ts = "2025-02-30T13:30:00Z".into();
    let cases: Vec<(&str, Vec<fillproof_engine::AuditRecord>, &str)> = vec![
        ("control", vec![bad_id], "line 1: `client_order_id`"),
        (
            "date",
            vec![bad_ts],
            "line 1: `ts` \"2025-02-30T13:30:00Z\" is not a time",
        ),
        (
            "zero",
            vec![record(Submit, "a", 0, None, 1, None)],
            "line 1: `qty` is 0",
        ),
        (
            "over",
            vec![
                record(Submit, "a", 10, None, 1, None),
                record(Fill, "a", 12, Some("590"), 2, Some("2025-10-17T13:30:02Z")),
            ],
            "line 2: `qty` 12 brings the executions of line 1 (client order id a) to 12 shares",
        ),
        (
            "through",
            vec![
                record(Submit, "a", 10, Some("590.10"), 1, None),
                record(Fill, "a", 10, Some("591"), 2, Some("2025-10-17T13:30:02Z")),
            ],
            "line 2: `price` 591 is above the limit 590.10",
        ),
        (
            "after-end",
            vec![
                record(Submit, "a", 10, None, 1, None),
                record(NotFilled, "a", 0, None, 3, None),
                record(Fill, "a", 10, Some("590"), 5, Some("2025-10-17T13:30:04Z")),
            ],
            "line 3: `broker_at` 2025-10-17T13:30:04.000000Z is after line 1 (client order id a) ended (canceled at 2025-10-17T13:30:03.000000Z, the `ts` of line 2)",
        ),
        (
            "late",
            vec![
                record(Submit, "a", 10, None, 1, None),
                record(Fill, "a", 10, Some("590"), 2, Some("2025-10-19T13:30:02Z")),
            ],
            "line 2: `broker_at` 2025-10-19T13:30:02.000000Z fills line 1 (client order id a) 2d 0h 0m after its submission",
        ),
        (
            "fill-before-submit",
            vec![
                record(Submit, "a", 10, None, 5, None),
                record(Fill, "a", 10, Some("590"), 6, Some("2025-10-17T13:30:03Z")),
            ],
            "line 2: `broker_at` 2025-10-17T13:30:03.000000Z is before line 1 (client order id a) was submitted (2025-10-17T13:30:05.000000Z)",
        ),
        (
            "end-before-submit",
            vec![
                record(Submit, "a", 10, None, 5, None),
                record(NotFilled, "a", 0, None, 2, None),
            ],
            "line 2: `ts` 2025-10-17T13:30:02.000000Z is before line 1 (client order id a) was submitted",
        ),
    ];
    for (name, records, needle) in cases {
        let error = import::from_audit("run.audit.jsonl", &chained(records))
            .expect_err(name)
            .to_string();
        assert!(
            error.starts_with("run.audit.jsonl: ") && error.contains(needle),
            "{name}: {error}\nlacks: {needle}"
        );
    }
}

/// A fill or an end stamped less than a second before its order's
/// submission is clock skew between the stamps: it is imported, and
/// replayed at the submission. (A second or more is refused, in
/// `contradictory_exports_are_refused`.)
#[test]
fn clock_skew_within_a_second_is_replayed_at_the_submission() {
    assert_eq!(import::MAX_CLOCK_SKEW, Duration::from_secs(1));
    let orders = serde_json::json!([
        filled(alpaca_order("a"), "2025-10-17T13:29:59.001Z", "590.10"),
        filled(alpaca_order("b"), "2025-10-17T13:29:59.500Z", "590.10"),
    ])
    .to_string();
    let fills = serde_json::json!([activity(
        "f1",
        "a",
        "10",
        "590.10",
        "2025-10-17T13:29:59.001Z"
    )])
    .to_string();
    let incident =
        import::from_alpaca("orders.json", &orders, Some(("fills.json", &fills))).expect("imports");
    let yaml = import::scenario_yaml(&incident, "skew");
    for i in 0..2 {
        assert!(
            yaml.contains(&format!(
                "{{at: 0s, order: {i}, event: fill, qty: 10, price: \"590.10\"}}"
            )),
            "{yaml}"
        );
    }
    Scenario::parse(yaml.as_bytes(), "skew.yaml", None).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
}

/// Exports the engine's defaults would fail on their own expectations
/// import into scenarios the robust engine passes: a take-profit limit
/// sell 6% above the entry and a limit buy 5.93% above the first fill
/// (the engine's 5% price band refused each before the broker saw it;
/// the scenario now sets `engine.price_band_pct` to the widest gap,
/// rounded up), and 400 market orders 2 ms apart (the engine's default
/// call budget of 180 calls a minute shed most; the scenario now runs
/// without one, replaying the orders as the bot sent them).
#[test]
fn imported_scenarios_pass_their_own_expectations() {
    let folder = scratch("import-defaults");
    let limit = |id: &str, side: &str, price: &str, submitted: &str, at: &str| {
        let mut order = alpaca_order(id);
        order["type"] = "limit".into();
        order["limit_price"] = price.into();
        order["side"] = side.into();
        order["submitted_at"] = submitted.into();
        filled(order, at, price)
    };
    let entry = |symbol: &str, price: &str| {
        filled(alpaca_order("entry"), "2025-10-17T13:30:01Z", price).tap("symbol", symbol)
    };
    let take_profit = serde_json::json!([
        entry("XYZ", "10.00"),
        limit(
            "tp",
            "sell",
            "10.60",
            "2025-10-17T13:30:02Z",
            "2025-10-17T14:10:00Z"
        )
        .tap("symbol", "XYZ"),
    ]);
    let band = serde_json::json!([
        entry("SPY", "590.00"),
        limit(
            "far",
            "buy",
            "625.00",
            "2025-11-20T14:30:00Z",
            "2025-11-20T14:30:02Z"
        ),
    ]);
    let burst: Vec<serde_json::Value> = (0..400_u32)
        .map(|i| {
            let submitted = format!("2025-10-17T13:30:{:02}.{:03}Z", i * 2 / 1000, i * 2 % 1000);
            let at = format!(
                "2025-10-17T13:30:{:02}.{:03}Z",
                5 + i * 2 / 1000,
                i * 2 % 1000
            );
            filled(
                alpaca_order(&format!("b{i}")).tap("qty", "1"),
                &at,
                "590.00",
            )
            .tap("submitted_at", &submitted)
        })
        .collect();
    let burst = serde_json::Value::from(burst);
    for (name, orders, needle, filled_orders) in [
        ("take-profit.json", take_profit, "price_band_pct: 6\n", 2),
        ("band.json", band, "price_band_pct: 6\n", 2),
        ("burst.json", burst, "rate_limit: none", 400),
    ] {
        let (code, stderr, out) = import_files(&folder, name, &orders.to_string(), None);
        assert_eq!(code, 0, "{name}: {stderr}");
        let yaml = std::fs::read_to_string(&out).expect("written");
        assert!(yaml.contains(needle), "{name}: {yaml}");
        let (code, stdout, stderr) = fillproof(&["run", &out.display().to_string()]);
        assert_eq!(code, 0, "{name}: {stdout}{stderr}");
        assert!(!stdout.contains("FELL SHORT"), "{name}: {stdout}");
        assert!(
            stdout.contains(&format!("ok (actual {filled_orders})")),
            "{name}: {stdout}"
        );
    }
}

/// A record holding a key twice (`"qty": "10", "qty": "5"`: which one
/// counts depends on the JSON reader) is refused, naming the file, the
/// record and the key, in an order, a leg and an activity alike.
#[test]
fn a_key_listed_twice_in_a_record_is_refused() {
    let folder = scratch("import-dupkey");
    let order = alpaca_order("a").to_string();
    let twice = order.replacen(r#""qty":"10""#, r#""qty":"10","qty":"5""#, 1);
    assert_ne!(twice, order, "the key is doubled");
    let (code, stderr, out) = import_files(&folder, "dupkey.json", &format!("[{twice}]"), None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("dupkey.json: order 0: holds the key \"qty\" twice"),
        "{stderr}"
    );
    assert!(!out.exists());
    let leg = format!(
        "[{}]",
        alpaca_order("p")
            .to_string()
            .replacen('}', &format!(",\"legs\":[{twice}]}}"), 1)
    );
    let (code, stderr, _) = import_files(&folder, "dupleg.json", &leg, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("dupleg.json: order 0: holds the key \"qty\" twice"),
        "{stderr}"
    );
    let fill = activity("f1", "a", "4", "590", "2025-10-17T13:30:01Z").to_string();
    let fill_twice = fill.replacen(r#""price":"590""#, r#""price":"590","price":"1""#, 1);
    assert_ne!(fill_twice, fill);
    let (code, stderr, _) = import_files(
        &folder,
        "dupfill.json",
        &format!("[{order}]"),
        Some(&format!("[{fill_twice}]")),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("dupfill.json.fills.json: activity 0: holds the key \"price\" twice"),
        "{stderr}"
    );
}

/// `--name ""` (or blank) is refused with exit 2 and nothing written.
#[test]
fn an_empty_name_is_refused() {
    let folder = scratch("import-name");
    let orders = folder.path().join("orders.json");
    std::fs::write(&orders, serde_json::json!([alpaca_order("a")]).to_string()).expect("write");
    let out = folder.path().join("out.yaml");
    for name in ["", "  "] {
        let (code, _, stderr) = fillproof(&[
            "import",
            "alpaca",
            &orders.display().to_string(),
            "--name",
            name,
            "-o",
            &out.display().to_string(),
        ]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("--name is empty"), "{stderr}");
        assert!(!out.exists(), "nothing is written");
    }
}
