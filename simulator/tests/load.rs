//! Scenario loading: every contract and library file loads, and each kind of
//! bad file is refused with the right line, field and message.

use std::path::{Path, PathBuf};

use fillproof_simulator::Scenario;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Copies of the scenario contract's files that this version supports,
/// byte for byte, kept beside this test so a clone with nothing beside it
/// can check them; the library's own versions of these scenarios carry
/// tighter `expect:` blocks.
const CONTRACT_FILES: &[&str] = &[
    "tests/contract/cancel-fill-race.yaml",
    "tests/contract/incident-qqq-status-lag.yaml",
    "tests/contract/production-day.yaml",
    "tests/contract/stream-day.yaml",
];

/// The contract files load unchanged.
#[test]
fn contract_files_load() {
    for file in CONTRACT_FILES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        assert!(path.is_file(), "contract file {file} is missing");
        if let Err(error) = Scenario::load(&path) {
            panic!("{error}");
        }
    }
}

/// Every scenario of the library loads.
#[test]
fn library_scenarios_load() {
    let mut files = Vec::new();
    yaml_files(&workspace().join("scenarios"), &mut files);
    for file in &files {
        if let Err(error) = Scenario::load(file) {
            panic!("{error}");
        }
    }
}

const GOOD: &str = r#"version: 1
name: t
workload:
  orders: 2
  symbols: [SPY]
  qty: 10
  reference_price: {SPY: "590.10"}
broker:
  faults:
    get_order: {timeout: 0.01}
timeline:
  - {at: 1s, order: 1, event: fill}
expect:
  detection_rate: "== 1"
"#;

/// The good base file of the table below loads, so each bad variant fails
/// for the one reason it was made for.
#[test]
fn base_of_bad_file_table_is_good() {
    Scenario::parse(GOOD.as_bytes(), "good.yaml", None).expect("base file loads");
}

/// Each kind of bad file is refused with the line, the field path and a
/// message saying what is wrong.
#[test]
fn bad_files_name_line_field_and_problem() {
    // (replace this, with that, expected line, expected field, message needle)
    let cases: &[(&str, &str, Option<u64>, &str, &str)] = &[
        (
            "{timeout: 0.01}",
            "{timeout: 1.5}",
            Some(10),
            "broker.faults.get_order.timeout",
            "out of range; allowed: 0 to 1",
        ),
        (
            "{timeout: 0.01}",
            "{timout: 0.01}",
            Some(10),
            "broker.faults.get_order.timout",
            "did you mean `timeout`",
        ),
        (
            "  get_order: {",
            "  get_ordr: {",
            Some(10),
            "broker.faults.get_ordr",
            "did you mean `get_order`",
        ),
        (
            "qty: 10",
            "qty: {uniform: [10, 1]}",
            Some(6),
            "workload.qty.uniform",
            "out of order",
        ),
        (
            "{at: 1s,",
            "{at: -1s,",
            Some(12),
            "timeline[0].at",
            "negative",
        ),
        (
            "{at: 1s,",
            "{at: 1,",
            Some(12),
            "timeline[0].at",
            "needs a unit",
        ),
        (
            "order: 1,",
            "order: 5,",
            Some(12),
            "timeline[0].order",
            "does not exist",
        ),
        (
            "  reference_price: {SPY: \"590.10\"}\n",
            "  reference_price: {SPY: \"590.10\"}\n  list:\n    - {at: 0s, symbol: SPY, side: buy, qty: 5}\n",
            Some(4),
            "workload.orders",
            "workload.list has 1 orders",
        ),
        (
            "  orders: 2\n",
            "  orders: 2\n  list:\n    - {at: 1s, symbol: QQQ, side: buy, qty: 5}\n    - {at: 0s, symbol: SPY, side: sell, qty: 0, type: limit}\n",
            Some(6),
            "workload.list[0].symbol",
            "`QQQ` has no reference price",
        ),
        (
            "  orders: 2\n",
            "  orders: 2\n  list:\n    - {at: 1s, symbol: SPY, side: buy, qty: 5}\n    - {at: 0s, symbol: SPY, side: sell, qty: 5}\n",
            Some(7),
            "workload.list[1].at",
            "before the order above it",
        ),
        (
            "  orders: 2\n",
            "  orders: 2\n  list:\n    - {at: 0s, symbol: SPY, side: buy, qty: 0}\n    - {at: 0s, symbol: SPY, side: sell, qty: 5, type: limit}\n",
            Some(6),
            "workload.list[0].qty",
            "allowed: 1 to",
        ),
        (
            "  orders: 2\n",
            "  orders: 2\n  list:\n    - {at: 0s, symbol: SPY, side: buy, qty: 1}\n    - {at: 0s, symbol: SPY, side: sell, qty: 5, type: limit}\n",
            Some(7),
            "workload.list[1].limit_price",
            "a limit order needs one",
        ),
        (
            "  orders: 2\n",
            "  orders: 2\n  list:\n    - {at: 0s, symbol: SPY, side: hold, qty: 1}\n",
            Some(6),
            "workload.list[0].side",
            "unknown variant `hold`",
        ),
        (
            "order: 1,",
            "order: 1, client_order_id: abc,",
            Some(12),
            "timeline[0]",
            "names its order twice",
        ),
        (
            "{at: 1s, order: 1, event: fill}",
            "{order: 1, event: fault, call: submit, fault: lost_respons}",
            Some(12),
            "timeline[0].fault",
            "`lost_respons` is not a fault",
        ),
        (
            "{at: 1s, order: 1, event: fill}",
            "{order: 1, event: fault, call: get_ordr, fault: timeout}",
            Some(12),
            "timeline[0].call",
            "unknown endpoint `get_ordr` (did you mean `get_order`?); expected one of submit, get_order",
        ),
        (
            "{at: 1s, order: 1, event: fill}",
            "{order: 1, event: fault, call: list_orders, fault: timeout}",
            Some(12),
            "timeline[0].call",
            "is `list_orders`, a read of the whole account that strikes no one order",
        ),
        (
            "{at: 1s, order: 1, event: fill}",
            "{order: 1, event: fault, fault: lost_response}",
            Some(12),
            "timeline[0].call",
            "names the endpoint",
        ),
        (
            "{at: 1s, order: 1, event: fill}",
            "{order: 1, event: fill}",
            Some(12),
            "timeline[0].at",
            "say when the event happens",
        ),
        (
            "{at: 1s, order: 1, event: fill}",
            "{at: 1s, order: 1, event: fill, call: submit}",
            Some(12),
            "timeline[0]",
            "only `fault` events take",
        ),
        (
            "symbols: [SPY]",
            "symbols: [SPY, QQQ]",
            Some(7),
            "workload.reference_price",
            "no price for symbol `QQQ`",
        ),
        (
            "\"== 1\"",
            "\"about 1\"",
            Some(14),
            "expect.detection_rate",
            "no comparison",
        ),
        (
            "detection_rate:",
            "detection_rte:",
            Some(14),
            "expect.detection_rte",
            "did you mean `detection_rate`",
        ),
        (
            "version: 1",
            "version: 2",
            Some(1),
            "version",
            "reads version 1",
        ),
        (
            "\"590.10\"",
            "590.10",
            Some(7),
            "workload.reference_price.SPY",
            "decimal strings",
        ),
        (
            "name: t\n",
            "name: t\nseeed: 3\n",
            Some(3),
            "seeed",
            "did you mean `seed`",
        ),
        (
            "  - {at: 1s, order: 1, event: fill}\n",
            "  - {at: 1s, order: 1, event: fill}\n  - {at: 2s, order: 1, event: reject}\n",
            Some(13),
            "timeline[1].event",
            "never rejects an order that has filled",
        ),
        (
            "broker:\n",
            "engine:\n  rate_limit: {requests: 0, per: 60s}\nbroker:\n",
            Some(9),
            "engine.rate_limit.requests",
            "allow at least 1 request",
        ),
        (
            "orders: 2",
            "orders: 0",
            Some(4),
            "workload.orders",
            "allowed: 1 to",
        ),
        (
            r#"{SPY: "590.10"}"#,
            r#"{SPY: "0.0000000000000000000000000001"}"#,
            Some(7),
            "workload.reference_price.SPY",
            "allowed: 0.0001 to 10000000",
        ),
        (
            r#"{SPY: "590.10"}"#,
            r#"{SPY: "79228162514264337593543950335"}"#,
            Some(7),
            "workload.reference_price.SPY",
            "out of range; allowed: 0.0001 to 10000000",
        ),
        (
            "qty: 10",
            "qty: {uniform: [1, 1e12]}",
            None,
            "workload.qty",
            "allowed: 1 to 1000000000",
        ),
        (
            "broker:\n",
            "broker:\n  account: {buying_power: \"79228162514264337593543950335\"}\n",
            None,
            "broker.account.buying_power",
            "allowed: 0 to 1000000000000000",
        ),
        (
            "event: fill}",
            "event: fill, price: \"20000000\"}",
            Some(12),
            "timeline[0].price",
            "allowed: 0.0001 to 10000000",
        ),
        (
            "broker:\n",
            "engine:\n  polling: {strategy: fixed, interval: 1ns}\nbroker:\n",
            Some(9),
            "engine.polling.interval",
            "at least 10ms",
        ),
        (
            "broker:\n",
            "engine:\n  call_timeout: 0s\nbroker:\n",
            Some(9),
            "engine.call_timeout",
            "must be positive",
        ),
        (
            "broker:\n",
            "engine:\n  call_timeout: 61s\nbroker:\n",
            Some(9),
            "engine.call_timeout",
            "at most the submit deadline (60s)",
        ),
        (
            "broker:\n",
            "engine:\n  polling: {strategy: linaer, initial: 1s}\nbroker:\n",
            Some(9),
            "engine.polling",
            "unknown strategy `linaer` (did you mean `linear`?); expected one of fixed, linear, exponential, adaptive, hybrid",
        ),
        (
            "broker:\n",
            "engine:\n  polling: {strategy: linear, initial: 1s, max: 2s}\nbroker:\n",
            Some(9),
            "engine.polling",
            "strategy `linear` needs `step`",
        ),
        (
            "broker:\n",
            "engine:\n  polling: {strategy: fixed, interval: 1s, cruise: 2s}\nbroker:\n",
            Some(9),
            "engine.polling",
            "strategy `fixed` does not take `cruise`",
        ),
        (
            "broker:\n",
            "engine:\n  polling: {strategy: hybrid}\nbroker:\n",
            Some(9),
            "engine.polling",
            "add `broker.stream`",
        ),
        (
            "broker:\n",
            "broker:\n  stream: {delay: 40ms, drop: 1.5}\n",
            Some(9),
            "broker.stream.drop",
            "allowed: 0 to 1",
        ),
        (
            "broker:\n",
            "engine:\n  timeout: 87600h\nbroker:\n",
            Some(9),
            "engine.timeout",
            "at most 86400s",
        ),
    ];
    for (from, to, line, field, needle) in cases {
        assert!(GOOD.contains(from), "table row does not apply: {from}");
        let text = GOOD.replacen(from, to, 1);
        let error = Scenario::parse(text.as_bytes(), "bad.yaml", None).expect_err(to);
        let first = &error.diagnostics[0];
        let shown = error.to_string();
        assert_eq!(first.file, "bad.yaml", "{shown}");
        assert_eq!(first.line, *line, "line for {to}: {shown}");
        assert_eq!(
            first.field.as_deref(),
            Some(*field),
            "field for {to}: {shown}"
        );
        assert!(
            shown.contains(needle),
            "message for {to} lacks {needle:?}: {shown}"
        );
    }
}

/// Syntax errors, bombs, binaries, huge and missing files are refused with a
/// clear message and no panic.
#[test]
fn hostile_files_are_refused() {
    let broken = "version: 1\nname: [unclosed\n";
    let error = Scenario::parse(broken.as_bytes(), "broken.yaml", None).expect_err("syntax");
    assert!(error.diagnostics[0].line.is_some(), "{error}");

    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let error = Scenario::parse(bomb.as_bytes(), "bomb.yaml", None).expect_err("bomb");
    assert!(!error.to_string().is_empty());

    let deep = format!("version: 1\nname: {}{}\n", "[".repeat(500), "]".repeat(500));
    let error = Scenario::parse(deep.as_bytes(), "deep.yaml", None).expect_err("deep");
    assert!(error.to_string().contains("deep.yaml"), "{error}");

    let binary = b"version: 1\n\x00\x01\x02";
    let error = Scenario::parse(binary, "bin.yaml", None).expect_err("binary");
    assert!(error.to_string().contains("binary file"), "{error}");

    let latin1 = b"name: caf\xe9\n";
    let error = Scenario::parse(latin1, "latin1.yaml", None).expect_err("not utf-8");
    assert!(error.to_string().contains("not UTF-8"), "{error}");

    let huge = vec![b'#'; (fillproof_simulator::MAX_FILE_BYTES + 1) as usize];
    let error = Scenario::parse(&huge, "huge.yaml", None).expect_err("huge");
    assert!(error.to_string().contains("at most"), "{error}");

    let error = Scenario::load(Path::new("/nonexistent/scenario.yaml")).expect_err("missing");
    assert!(error.to_string().contains("check the path"), "{error}");
}

/// A scenario file in a fresh temporary folder, with a samples file beside
/// it when `samples` is given.
///
/// The folder goes, with both files, when the folder returned beside the
/// path is dropped.
fn scenario_with_samples(
    tag: &str,
    dist_field: &str,
    samples: Option<&str>,
) -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::Builder::new()
        .prefix(&format!("fillproof-samples-{tag}-"))
        .tempdir()
        .expect("temp dir");
    let dir = folder.path();
    if let Some(text) = samples {
        std::fs::write(dir.join("values.txt"), text).expect("samples");
    }
    let yaml = GOOD.replace("broker:\n", &format!("broker:\n{dist_field}\n"));
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, yaml).expect("scenario");
    (folder, path)
}

/// `samples_file` works wherever a distribution is allowed, relative to
/// the scenario file, for durations and plain numbers alike: before, only
/// `broker.latency` read its file and every other field silently drew 0.
#[test]
fn samples_file_works_wherever_a_distribution_does() {
    use fillproof_simulator::Dist;
    let (_scratch, path) = scenario_with_samples(
        "delay",
        "  fill:\n    delay: {samples_file: values.txt}",
        Some("250ms\n# a comment\n1s\n"),
    );
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    match &scenario.broker.fill.delay.0 {
        Dist::Samples(values) => assert_eq!(values, &[0.25, 1.0]),
        other => panic!("fill.delay not resolved: {other:?}"),
    }

    let (_scratch, path) = scenario_with_samples(
        "slippage",
        "  fill:\n    slippage_bps: {samples_file: values.txt}",
        Some("-3\n2.5\n"),
    );
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    match &scenario.broker.fill.slippage_bps.0 {
        Dist::Samples(values) => assert_eq!(values, &[-3.0, 2.5]),
        other => panic!("slippage_bps not resolved: {other:?}"),
    }

    let (_scratch, path) = scenario_with_samples(
        "missing",
        "  visibility:\n    status_lag: {samples_file: values.txt}",
        None,
    );
    let error = Scenario::load(&path).expect_err("missing samples file");
    let d = &error.diagnostics[0];
    assert_eq!(d.field.as_deref(), Some("broker.visibility.status_lag"));
    assert_eq!(d.line, Some(10), "{error}");
    assert!(error.to_string().contains("values.txt"), "{error}");
}

/// A `samples_file` that is a device or a FIFO is refused before it is
/// opened (`/dev/zero` used to be read until memory ran out, and a FIFO
/// hung the loader), and a file over the limit is refused unread.
#[test]
fn samples_file_must_be_a_bounded_regular_file() {
    for (tag, target) in [("zero", "/dev/zero"), ("folder", "/tmp")] {
        let (_scratch, path) = scenario_with_samples(
            tag,
            &format!("  latency:\n    get_order: {{samples_file: {target}}}"),
            None,
        );
        let error = Scenario::load(&path).expect_err("not a regular file");
        assert!(
            error.to_string().contains("not a regular file"),
            "{tag}: {error}"
        );
    }

    let (_scratch, path) = scenario_with_samples(
        "fifo",
        "  latency:\n    get_order: {samples_file: pipe}",
        None,
    );
    let fifo = path.with_file_name("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    let error = Scenario::load(&path).expect_err("fifo");
    assert!(error.to_string().contains("not a regular file"), "{error}");

    let big = "1ms\n".repeat((fillproof_simulator::MAX_SAMPLES_FILE_BYTES / 4 + 1) as usize);
    let (_scratch, path) = scenario_with_samples(
        "big",
        "  latency:\n    get_order: {samples_file: values.txt}",
        Some(&big),
    );
    let error = Scenario::load(&path).expect_err("too big");
    assert!(error.to_string().contains("at most"), "{error}");
}

/// `GOOD` with its timeline replaced by `timeline` (entries indented two
/// spaces; the first is on line 12) and `qty` as its workload quantity.
fn with_timeline(qty: &str, timeline: &str) -> String {
    GOOD.replacen("qty: 10", &format!("qty: {qty}"), 1)
        .replacen("  - {at: 1s, order: 1, event: fill}\n", timeline, 1)
}

/// The diagnostics of a file that must be refused, as (line, field).
fn refused(text: &str) -> (Vec<(Option<u64>, String)>, String) {
    let error = Scenario::parse(text.as_bytes(), "bad.yaml", None).expect_err(text);
    let found = error
        .diagnostics
        .iter()
        .map(|d| (d.line, d.field.clone().unwrap_or_default()))
        .collect();
    (found, error.to_string())
}

/// Scripted fills that add up to more than the order's quantity are
/// refused, naming the line and the order, whether the quantity is fixed,
/// listed or drawn (when every draw is too small); so is a fill that
/// scripts the rest of an order already filled.
#[test]
fn timeline_fills_past_the_order_quantity_are_refused() {
    let cases: &[(&str, &str, u64, &str, &str)] = &[
        (
            "10",
            "  - {at: 1s, order: 1, event: fill, qty: 6}\n  - {at: 2s, order: 1, event: fill, qty: 6}\n",
            13,
            "timeline[1].qty",
            "the fill at 2s for 6 shares is 2 too many for order 1 of 10 shares",
        ),
        (
            "10",
            "  - {at: 1s, order: 0, event: fill, qty: 11}\n",
            12,
            "timeline[0].qty",
            "for 11 shares is 1 too many for order 0 of 10 shares",
        ),
        (
            "10",
            "  - {at: 1s, order: 1, event: fill}\n  - {at: 2s, order: 1, event: fill, qty: 1}\n",
            13,
            "timeline[1].qty",
            "is 1 too many for order 1",
        ),
        (
            "10",
            "  - {at: 3s, order: 1, event: fill}\n  - {at: 2s, order: 1, event: fill, qty: 10}\n",
            12,
            "timeline[0].event",
            "the fill at 3s (the rest of the order) finds nothing left for order 1",
        ),
        (
            "{uniform: [1, 20]}",
            "  - {at: 1s, order: 1, event: fill, qty: 21}\n",
            12,
            "timeline[0].qty",
            "(`workload.qty` draws at most 20 for it)",
        ),
    ];
    for (qty, timeline, line, field, needle) in cases {
        let text = with_timeline(qty, timeline);
        let (found, shown) = refused(&text);
        assert_eq!(found, vec![(Some(*line), (*field).to_owned())], "{shown}");
        assert!(shown.contains(needle), "lacks {needle:?}: {shown}");
    }
    let listed = GOOD.replacen(
        "  orders: 2\n",
        "  orders: 2\n  list:\n    - {at: 0s, symbol: SPY, side: buy, qty: 5}\n    - {at: 1s, symbol: SPY, side: buy, qty: 7}\n",
        1,
    );
    let listed = listed.replacen(
        "order: 1, event: fill}",
        "order: 1, event: fill, qty: 8}",
        1,
    );
    let (found, shown) = refused(&listed);
    assert_eq!(
        found,
        vec![(Some(15), "timeline[0].qty".to_owned())],
        "{shown}"
    );
    assert!(
        shown.contains("1 too many for order 1 of 7 shares"),
        "{shown}"
    );
}

/// A fill the draw may not fit (some draws are too small) loads with a
/// warning saying the run refuses such a draw; one every draw fits loads
/// clean.
#[test]
fn timeline_fills_some_draws_do_not_fit_warn() {
    let text = with_timeline(
        "{uniform: [1, 20]}",
        "  - {at: 1s, order: 1, event: fill, qty: 15}\n",
    );
    let scenario = Scenario::parse(text.as_bytes(), "t.yaml", None).expect("loads");
    assert_eq!(scenario.warnings.len(), 1, "{:?}", scenario.warnings);
    let warning = &scenario.warnings[0];
    assert_eq!(warning.line, Some(12));
    assert_eq!(warning.field.as_deref(), Some("timeline[0].qty"));
    assert!(
        warning.message.contains("draws 1 to 20")
            && warning.message.contains("refused before it starts"),
        "{warning}"
    );
    let text = with_timeline(
        "{uniform: [15, 20]}",
        "  - {at: 1s, order: 1, event: fill, qty: 15}\n",
    );
    let scenario = Scenario::parse(text.as_bytes(), "t.yaml", None).expect("loads");
    assert!(scenario.warnings.is_empty(), "{:?}", scenario.warnings);
}

/// A fill scripted after the order has ended (cancelled, rejected or
/// expired in the timeline) is refused, and so is a second end.
#[test]
fn timeline_fills_after_the_order_ends_are_refused() {
    for end in ["cancel", "reject", "expire"] {
        let text = with_timeline(
            "10",
            &format!(
                "  - {{at: 2s, order: 1, event: {end}}}\n  - {{at: 3s, order: 1, event: fill, qty: 4}}\n"
            ),
        );
        let (found, shown) = refused(&text);
        assert_eq!(
            found,
            vec![(Some(13), "timeline[1].at".to_owned())],
            "{shown}"
        );
        assert!(
            shown.contains("fills at 3s, after the order has ended: order 1 is")
                && shown.contains("at 2s (`timeline[0]`, line 12)"),
            "{shown}"
        );
    }
    // A fill at the instant of a cancel has happened: it stands.
    let text = with_timeline(
        "10",
        "  - {at: 2s, order: 1, event: cancel}\n  - {at: 2s, order: 1, event: fill, qty: 4}\n",
    );
    Scenario::parse(text.as_bytes(), "t.yaml", None).expect("a fill as the order ends loads");
    let text = with_timeline(
        "10",
        "  - {at: 2s, order: 1, event: cancel}\n  - {at: 5s, order: 1, event: expire}\n",
    );
    let (found, shown) = refused(&text);
    assert_eq!(
        found,
        vec![(Some(13), "timeline[1].event".to_owned())],
        "{shown}"
    );
    assert!(shown.contains("ends the order again"), "{shown}");
}

/// A stream that would disconnect more than a million times within
/// `limits.max_virtual_time` is refused, with the bound and what to change;
/// the same flapping under a shorter run bound, or a realistic rate, loads.
#[test]
fn stream_flap_rate_is_bounded() {
    let flapping = GOOD.replacen(
        "broker:\n",
        "broker:\n  stream:\n    disconnects: {every: 1ms, down_for: 1ms}\n",
        1,
    );
    let (found, shown) = refused(&flapping);
    assert_eq!(
        found,
        vec![(Some(10), "broker.stream.disconnects.every".to_owned())],
        "{shown}"
    );
    assert!(
        shown.contains("about 302400000 disconnects within `limits.max_virtual_time` (604800s)")
            && shown.contains("at most 1000000")
            && shown.contains("make `every` average at least 604ms")
            && shown.contains("lower `limits.max_virtual_time` to at most 2000s"),
        "{shown}"
    );
    let bounded = format!("{flapping}limits: {{max_virtual_time: 30m}}\n");
    Scenario::parse(bounded.as_bytes(), "t.yaml", None).expect("a 30-minute bound fits");
    let realistic = GOOD.replacen(
        "broker:\n",
        "broker:\n  stream:\n    disconnects: {every: {exponential: {mean: 1s}}, down_for: 100ms}\n",
        1,
    );
    Scenario::parse(realistic.as_bytes(), "t.yaml", None).expect("once a second fits a week");
}

/// `shed_after` or a hybrid `safety` longer than the deadline loads with a
/// warning naming the line and the field; within the deadline, none.
#[test]
fn waits_longer_than_the_deadline_warn() {
    let engine = |settings: &str| {
        GOOD.replacen(
            "broker:\n",
            &format!("engine:\n  timeout: 60s\n{settings}broker:\n  stream: {{delay: 40ms}}\n"),
            1,
        )
    };
    let cases = [
        ("  shed_after: 90s\n", "engine.shed_after", "is 90s, longer"),
        (
            "  polling: {strategy: hybrid, safety: 2m}\n",
            "engine.polling.safety",
            "is 120s, longer",
        ),
    ];
    for (settings, field, needle) in cases {
        let text = engine(settings);
        let scenario = Scenario::parse(text.as_bytes(), "t.yaml", None).expect("loads");
        assert_eq!(scenario.warnings.len(), 1, "{:?}", scenario.warnings);
        let warning = &scenario.warnings[0];
        assert_eq!(warning.line, Some(10), "{warning}");
        assert_eq!(warning.field.as_deref(), Some(field), "{warning}");
        assert!(
            warning.message.contains(needle)
                && warning.message.contains("deadline (`engine.timeout`, 60s)"),
            "{warning}"
        );
    }
    for settings in [
        "  shed_after: 60s\n",
        "  polling: {strategy: hybrid, safety: 15s}\n",
    ] {
        let text = engine(settings);
        let scenario = Scenario::parse(text.as_bytes(), "t.yaml", None).expect("loads");
        assert!(scenario.warnings.is_empty(), "{:?}", scenario.warnings);
    }
}

/// Every (line, field) a refused file's error names, in order.
fn named(text: &str) -> Vec<(Option<u64>, String)> {
    refused(text).0
}

/// A file with a misspelt field and an out-of-range probability names
/// both, each with its line and field: the first problem no longer hides
/// the rest.
#[test]
fn misspelt_field_and_bad_probability_are_both_named() {
    let text = GOOD
        .replacen("name: t\n", "name: t\nseeed: 3\n", 1)
        .replacen("{timeout: 0.01}", "{timeout: 1.5}", 1);
    let (found, shown) = refused(&text);
    assert_eq!(
        found,
        vec![
            (Some(3), "seeed".to_owned()),
            (Some(11), "broker.faults.get_order.timeout".to_owned()),
        ],
        "{shown}"
    );
    assert!(
        shown.contains("did you mean `seed`") && shown.contains("out of range; allowed: 0 to 1"),
        "{shown}"
    );
}

/// A file with a problem of every sort (misspelt and unknown fields,
/// values out of range in block and flow mappings, an unknown variant, and
/// problems only the checks that span fields find) names each once, with
/// its line, column and field, in file order; nothing that follows from a
/// field left out (a required field now missing) is named.
#[test]
fn every_problem_of_a_file_is_named() {
    let text = r#"version: 1
name: t
workload:
  orders: 2
  symbols: [SPY, QQQ]
  qty: 10
  reference_price: {SPY: "590.10"}
engine:
  timout: 87600h
broker:
  fill:
    probability: 1.5
    partial: {probability: 0.2, pieces: [1, 5]}
  faults:
    get_order: {timeout: 0.01, zzz: 3, http_503: 2}
  stream:
    dropp: 0.1
timeline:
  - {at: -1s, order: 1, event: fill}
  - {at: 1s, order: 5, event: fill}
  - at: 2s
    order: 0
    event: explode
  - {at: 3s, order: 7, event: fill}
expect:
  false_positives: "about 0"
"#;
    let error = Scenario::parse(text.as_bytes(), "every.yaml", None).expect_err("refused");
    let found: Vec<(u64, u64, &str)> = error
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.line.unwrap_or(0),
                d.column.unwrap_or(0),
                d.field.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (7, 20, "workload.reference_price"),
            (9, 3, "engine.timout"),
            // The misspelt key is read as `timeout`, and its value checked.
            (9, 11, "engine.timeout"),
            (12, 18, "broker.fill.probability"),
            (13, 41, "broker.fill.partial.pieces"),
            (15, 32, "broker.faults.get_order.zzz"),
            (15, 50, "broker.faults.get_order.http_503"),
            (17, 5, "broker.stream.dropp"),
            (19, 10, "timeline[0].at"),
            (20, 21, "timeline[1].order"),
            (23, 12, "timeline[2].event"),
            // Named as in the file, though the item above it was left out.
            (24, 21, "timeline[3].order"),
            (26, 20, "expect.false_positives"),
        ],
        "{error}"
    );
    let shown = error.to_string();
    assert!(!shown.contains("missing field"), "{shown}");
}

/// A syntax error further on is named beside the first problem; a field
/// that cannot be left out without breaking the YAML (an anchor an alias
/// still names) ends the reading without a problem of its own making; a
/// file with more problems than `MAX_PARSE_PROBLEMS` names that many and
/// stops.
#[test]
fn syntax_errors_and_the_problem_cap() {
    let anchored = GOOD
        .replacen("name: t\n", "name: t\nbase: &b {timeout: 0.5}\n", 1)
        .replacen("get_order: {timeout: 0.01}", "get_order: *b", 1);
    assert_eq!(named(&anchored), vec![(Some(3), "base".to_owned())]);

    let text = GOOD
        .replacen("{timeout: 0.01}", "{timeout: 1.5}", 1)
        .replacen("\"== 1\"", "[unclosed", 1);
    let (found, shown) = refused(&text);
    assert_eq!(found.len(), 2, "{shown}");
    assert_eq!(
        found[0],
        (Some(10), "broker.faults.get_order.timeout".to_owned())
    );
    assert_eq!(found[1].0, Some(14), "{shown}");
    assert!(shown.contains("unclosed bracket"), "{shown}");

    let mut many = GOOD.replacen("  - {at: 1s, order: 1, event: fill}\n", "", 1);
    let events: String = (0..200)
        .map(|i| format!("  - {{at: 1s, order: 1, event: fill, zz{i}: 1}}\n"))
        .collect();
    many = many.replacen("timeline:\n", &format!("timeline:\n{events}"), 1);
    let found = named(&many);
    assert_eq!(found.len(), fillproof_simulator::MAX_PARSE_PROBLEMS);
    assert_eq!(found[0], (Some(12), "timeline[0].zz0".to_owned()));
    assert_eq!(found[49], (Some(61), "timeline[49].zz49".to_owned()));
}
