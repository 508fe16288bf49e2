//! Execution slippage is judged from the ledger and the market: a broker
//! that slips every fill by a fixed amount shows that amount, a market
//! order on a moving market shows its fill's distance from the touch when
//! the broker accepted it (none when it fills then, unslipped), a run with
//! no fill has no figure (not 0), what the engine reports plays no part,
//! and a threshold on the figure fails the gate against a broker that
//! slips past it.

mod command;

use std::sync::Arc;

use command::{fillproof, scratch};
use fillproof_engine::{Decimal, Side};
use fillproof_harness::measure::metrics::{Metrics, Slippage, slippage_samples};
use fillproof_harness::measure::report::{Report, ReportInput};
use fillproof_harness::run::{RunSpec, SeedRun, run_seed};
use fillproof_simulator::Scenario;
use rust_decimal::prelude::ToPrimitive;

/// A scenario of `orders` market orders, half buys and half sells, in
/// NVDA at 141.20 and SPY at 250.00, filled whole by a broker whose
/// `fill:` section is `fill`, with `extra` appended (a `market:` or an
/// `expect:` section).
fn scenario_text(orders: u32, fill: &str, extra: &str) -> String {
    format!(
        r#"version: 1
name: slippage-judged
seed: 31
workload:
  orders: {orders}
  arrival: {{uniform: [100ms, 600ms]}}
  symbols: [NVDA, SPY]
  side: {{buy: 0.5, sell: 0.5}}
  qty: {{uniform: [1, 50]}}
  reference_price: {{NVDA: "141.20", SPY: "250.00"}}
engine:
  rate_limit: none
broker:
  latency:
    submit: 20ms
    get_order: 10ms
  fill: {fill}
{extra}"#
    )
}

/// SPY and NVDA moving (30% a year, a step every 500 ms), quoted 2 bps
/// wide, open at any hour.
const MOVING_MARKET: &str = r"market:
  hours: always
  symbols:
    NVDA: {volatility: 0.3, step: 500ms, quote: {spread_bps: 2}}
    SPY: {volatility: 0.3, step: 500ms, quote: {spread_bps: 2}}
";

fn parse(text: &str) -> Arc<Scenario> {
    Arc::new(Scenario::parse(text.as_bytes(), "t.yaml", None).unwrap_or_else(|e| panic!("{e}")))
}

fn run(scenario: Arc<Scenario>) -> SeedRun {
    let seed = scenario.seed;
    let spec = RunSpec::from_scenario(scenario, seed).expect("spec");
    run_seed(&spec, &|| {}).expect("run")
}

fn metrics(run: &SeedRun) -> Metrics {
    Metrics::over(std::slice::from_ref(run))
}

/// The most rounding a fill price to the cent can move a figure, in basis
/// points, for the cheaper symbol (NVDA at about 141.20).
const ROUNDING_BPS: f64 = 0.005 / 141.0 * 10_000.0;

/// A broker that slips every fill by a fixed 10 bps against the trader
/// shows 10 bps at p50, p95 and worst, within the cent's rounding: on the
/// flat quotes of a scenario without a market section (SPY at 250.00
/// slips to exactly 10) and on a moving market, filled the instant the
/// broker accepts.
#[test]
fn a_fixed_adverse_slippage_is_reported_as_asked() {
    for extra in ["", MOVING_MARKET] {
        let run = run(parse(&scenario_text(60, "{slippage_bps: 10}", extra)));
        let m = metrics(&run);
        assert_eq!(m.filled_orders, 60, "{extra}");
        let s = m.slippage_bps.expect("fills");
        println!("market {:?}: {s:?}", !extra.is_empty());
        for (name, value) in [("p50", s.p50), ("p95", s.p95), ("worst", s.worst)] {
            assert!(
                (value - 10.0).abs() <= ROUNDING_BPS,
                "{name} {value} is not 10 bps within rounding ({extra})"
            );
        }
        assert_eq!(m.get("slippage_p50_bps"), Some(s.p50));
        assert_eq!(m.get("slippage_p95_bps"), Some(s.p95));
        assert_eq!(m.get("slippage_worst_bps"), Some(s.worst));
        let samples = slippage_samples(&run);
        assert_eq!(samples.len(), 60);
        if extra.is_empty() {
            // The flat SPY quote is 250.00: 10 bps is 25 cents, exactly.
            let spy = run.ledger.orders().iter().zip(&samples);
            for (_, bps) in spy.filter(|(o, _)| o.symbol == "SPY") {
                assert_eq!(*bps, 10.0);
            }
        }
    }
}

/// On a moving market, a market order filled the instant the broker
/// accepts it, unslipped, trades at the touch: every figure is 0. Filled
/// a second or more later, each order's figure is its fill's distance from
/// the touch when the broker accepted it, worked out here from the ledger
/// and the market's quotes, and the market's moves show in it.
#[test]
fn a_market_order_on_a_moving_market_is_judged_against_the_touch_at_acceptance() {
    let at_once = run(parse(&scenario_text(40, "{}", MOVING_MARKET)));
    let s = metrics(&at_once).slippage_bps.expect("fills");
    assert_eq!(
        s,
        Slippage {
            p50: 0.0,
            p95: 0.0,
            worst: 0.0
        }
    );

    let later = run(parse(&scenario_text(
        40,
        "{delay: {uniform: [1s, 5s]}}",
        MOVING_MARKET,
    )));
    let samples = slippage_samples(&later);
    assert_eq!(later.ledger.orders().len(), 40);
    assert_eq!(samples.len(), 40);
    for (order, bps) in later.ledger.orders().iter().zip(&samples) {
        let quote = later
            .market
            .quote_at(&order.symbol, order.accepted_at)
            .expect("listed");
        let (touch, sign) = match order.side {
            Side::Buy => (quote.ask, 1.0),
            Side::Sell => (quote.bid, -1.0),
        };
        let (qty, notional) = order
            .fills
            .iter()
            .fold((Decimal::ZERO, Decimal::ZERO), |(q, n), f| {
                (q + f.qty, n + f.qty * f.price)
            });
        let average = (notional / qty).to_f64().expect("price");
        let touch = touch.to_f64().expect("price");
        let expected = sign * (average - touch) / touch * 10_000.0;
        assert!(
            (bps - expected).abs() < 1e-3,
            "{}: {bps} bps, the fill's distance from the touch is {expected}",
            order.id
        );
    }
    assert!(
        samples.iter().any(|bps| *bps != 0.0),
        "the market never moved between acceptance and fill: {samples:?}"
    );
}

/// A run in which nothing fills has no slippage figure: absent (`null` in
/// JSON, `n/a` in the table), never 0.
#[test]
fn no_fill_gives_an_absent_figure() {
    let scenario = parse(&scenario_text(10, "{probability: 0}", MOVING_MARKET));
    let run = run(scenario.clone());
    let m = metrics(&run);
    assert_eq!(m.filled_orders, 0);
    assert_eq!(m.slippage_bps, None);
    for name in ["slippage_p50_bps", "slippage_p95_bps", "slippage_worst_bps"] {
        assert_eq!(m.get(name), None, "{name}");
    }
    let report = Report::new(
        &ReportInput {
            scenario: &scenario,
            file: "t.yaml",
            engine: "robust",
            strategy: "linear",
            wall_ms: 1.0,
            expectations: Ok(()),
            replay_flags: String::new(),
        },
        std::slice::from_ref(&run),
    );
    let json = serde_json::to_value(&report).expect("json");
    assert!(json["slippage_bps"].is_null(), "{}", json["slippage_bps"]);
    assert!(
        report.table().contains("slippage bps             n/a"),
        "{}",
        report.table()
    );
}

/// What the engine reports plays no part: an engine that claims every
/// fill at a price of its own leaves the figure as the ledger and the
/// market make it.
#[test]
fn the_engines_prices_play_no_part() {
    let mut run = run(parse(&scenario_text(20, "{slippage_bps: 10}", "")));
    let before = metrics(&run).slippage_bps;
    for outcome in &mut run.outcomes {
        outcome.verdict.avg_price = Some(Decimal::ONE);
    }
    let after = metrics(&run);
    assert!(after.price_mismatches.is_some_and(|n| n > 0));
    assert_eq!(after.slippage_bps, before);
}

/// The gate fails a scenario whose `expect:` holds slippage to 5 bps
/// against a broker that slips 10 (exit 1, naming the metric, its
/// threshold and the actual figure), and passes the same run held to 15.
#[test]
fn a_slippage_threshold_fails_the_gate_against_a_broker_that_slips_past_it() {
    let folder = scratch("slippage-gate");
    let gate = |name: &str, threshold: &str| {
        let expect = format!("expect:\n  slippage_worst_bps: \"{threshold}\"\n");
        // SPY alone: its flat quote of 250.00 slips to exactly 10 bps.
        let text = scenario_text(20, "{slippage_bps: 10}", &expect)
            .replace("symbols: [NVDA, SPY]", "symbols: [SPY]");
        let file = folder.path().join(format!("{name}.yaml"));
        std::fs::write(&file, text).expect("write");
        fillproof(&["gate", file.to_str().expect("utf-8")])
    };
    let (code, stdout, stderr) = gate("strict", "<= 5");
    println!("{stdout}");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("slippage_worst_bps <= 5 fell short: actual 10"),
        "{stdout}"
    );
    let (code, stdout, stderr) = gate("lenient", "<= 15");
    assert_eq!(code, 0, "{stdout}{stderr}");
}

/// Goal: an order sent while the market is closed is judged against the
/// touch when it could first trade, not the night's move. Method: on a
/// moving SPY keeping regular hours, market buys sent at 17:30 New York
/// time fill at the next open at the touch, with no broker slippage: each
/// figure is 0, where measured from the evening's quote it would be the
/// overnight move.
#[test]
fn an_order_sent_while_closed_is_judged_from_the_open() {
    let text = r#"version: 1
name: overnight
seed: 1
workload:
  orders: 3
  symbols: [SPY]
  qty: 10
  reference_price: {SPY: "590.10"}
  list:
    - {at: 8h, symbol: SPY, side: buy, qty: 10}
    - {at: 8h1s, symbol: SPY, side: sell, qty: 10}
    - {at: 8h2s, symbol: SPY, side: buy, qty: 10}
engine:
  timeout: 20h
  polling: {strategy: linear, initial: 1s, step: 1s, max: 60s}
broker:
  fill: {probability: 1, delay: 0s}
market:
  hours: regular
  symbols:
    SPY: {volatility: 0.3, quote: {spread_bps: 2}}
"#;
    let run = run(parse(text));
    let m = metrics(&run);
    assert_eq!(m.filled_orders, 3);
    let slippage = m.slippage_bps.expect("fills");
    assert_eq!((slippage.p50, slippage.worst), (0.0, 0.0), "{slippage:?}");
}
