//! The batched reads under one key's budget: one list read a turn settles
//! every open order, the fill activities book each execution at its own
//! price, a hung list read holds up no order, and an engine whose list
//! reads always fail still detects every fill by the orders' own reads.
//! Each test runs the library's one-order-a-second day (fewer orders) or
//! a variant of it written here.

use std::path::Path;
use std::sync::Arc;

use fillproof_engine::{PollingConfig, Strategy};
use fillproof_harness::measure::metrics::Metrics;
use fillproof_harness::run::{RunSpec, run_seed};
use fillproof_simulator::Scenario;

const DAY: &str = "budget/one-order-a-second.yaml";

/// The library day's text with `edit` applied, its orders cut to `orders`.
fn day(orders: u32, edit: impl Fn(String) -> String) -> Arc<Scenario> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(DAY);
    let text = std::fs::read_to_string(&path).expect("the library day");
    let text = edit(text.replace("orders: 1200", &format!("orders: {orders}")));
    Arc::new(Scenario::parse(text.as_bytes(), DAY, None).unwrap_or_else(|e| panic!("{e}")))
}

fn metrics(scenario: Arc<Scenario>, polling: Option<PollingConfig>) -> Metrics {
    let seed = scenario.seed;
    let mut spec = RunSpec::from_scenario(scenario, seed).expect("spec");
    if let Some(polling) = polling {
        spec = spec.with_polling(polling);
    }
    let run = run_seed(&spec, &|| {}).expect("run");
    Metrics::over(std::slice::from_ref(&run))
}

fn per_order(m: &Metrics, endpoint: &str) -> f64 {
    m.api_calls_by_endpoint[endpoint]
}

fn p95(m: &Metrics) -> f64 {
    m.detection_latency_ms.as_ref().expect("fills detected").p95
}

/// Goal: one list read a turn is shared by every open order, so the day
/// fits the budget with fills detected faster than per-order polling
/// detects them on the same budget. Method: the same 300 orders batched
/// and linear; compare reads and the p95.
#[test]
fn one_list_read_a_turn_serves_every_open_order() {
    let batched = metrics(day(300, |t| t), None);
    let linear = metrics(
        day(300, |t| t),
        Some(PollingConfig::preset(Strategy::Linear)),
    );
    assert_eq!(batched.missed_fills, 0);
    assert_eq!(batched.false_positives, 0);
    assert_eq!(batched.rate_limited_calls, 0);
    assert!(
        per_order(&batched, "get_order") < 0.1,
        "orders read themselves only when the list cannot settle them: {:?}",
        batched.api_calls_by_endpoint
    );
    assert!(
        per_order(&batched, "list_orders") < 1.5,
        "a list read serves several orders: {:?}",
        batched.api_calls_by_endpoint
    );
    assert!(
        p95(&batched) * 3.0 < p95(&linear),
        "batched p95 {} against linear {}",
        p95(&batched),
        p95(&linear)
    );
}

/// Goal: each execution is booked at its own price from the fill
/// activities, so P&L matches the ledger's to the cent. Method: every
/// order fills in pieces; with the activities read the engine's P&L is
/// the ledger's, and with the activities always failing (the sabotage)
/// fills are booked at the broker's rounded average and P&L differs.
#[test]
fn fills_in_pieces_are_booked_execution_by_execution() {
    let pieces = |t: String| t.replace("partial: {probability: 0.15", "partial: {probability: 1");
    let exact = metrics(day(200, pieces), None);
    assert_eq!(exact.missed_fills, 0);
    assert_eq!(exact.pnl_mismatches, Some(0), "booked per execution");
    let blind = metrics(
        day(200, |t| {
            pieces(t).replace(
                "  rate_limit: {requests: 200, per: 60s}",
                "  rate_limit: {requests: 200, per: 60s}\n  faults:\n    fill_activities: {http_503: 1}",
            )
        }),
        None,
    );
    assert_eq!(blind.missed_fills, 0, "the list still detects every fill");
    assert!(
        blind.pnl_mismatches.is_some_and(|n| n > 0),
        "without the activities the average price cannot match to the cent: {:?}",
        blind.pnl_mismatches
    );
}

/// Goal: a list read that hangs until its timeout holds up no order:
/// later turns go on beside it. Method: a list read in ten times out;
/// every fill is still detected, the p95 within a second and a half.
#[test]
fn a_hung_list_read_holds_up_no_turn() {
    let hung = metrics(
        day(300, |t| {
            t.replace(
                "  rate_limit: {requests: 200, per: 60s}",
                "  rate_limit: {requests: 200, per: 60s}\n  faults:\n    list_orders: {timeout: 0.1}",
            )
        }),
        None,
    );
    assert_eq!(hung.missed_fills, 0);
    assert!(p95(&hung) < 1500.0, "p95 {}", p95(&hung));
}

/// Goal: an engine whose list reads always fail still detects every fill,
/// each order reading itself after its quiet time. Method: list reads
/// answer 503 every time; no fill is missed and the orders' own reads
/// did the work.
#[test]
fn orders_read_themselves_when_the_list_always_fails() {
    let failing = metrics(
        day(100, |t| {
            t.replace(
                "  rate_limit: {requests: 200, per: 60s}",
                "  rate_limit: {requests: 200, per: 60s}\n  faults:\n    list_orders: {http_503: 1}",
            )
        }),
        None,
    );
    assert_eq!(failing.missed_fills, 0);
    assert_eq!(failing.false_positives, 0);
    assert!(
        per_order(&failing, "get_order") >= 1.0,
        "{:?}",
        failing.api_calls_by_endpoint
    );
}

/// Goal: stream-first detection reads after a reconnect, and when the
/// stream goes quiet, through one list read shared by every order asking,
/// never one read per order. Method: the library's stream outage under
/// one key's budget (a thousand orders, the stream down for 20 s): every
/// fill the stream lost is found, no order reads itself, and the list
/// reads number a small fraction of the orders.
#[test]
fn stream_first_shares_one_list_read_after_a_reconnect() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/stream-outage-under-budget.yaml");
    let scenario = Arc::new(Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")));
    let m = metrics(scenario, None);
    assert_eq!(m.missed_fills, 0);
    assert_eq!(m.false_positives, 0);
    assert_eq!(
        per_order(&m, "get_order"),
        0.0,
        "{:?}",
        m.api_calls_by_endpoint
    );
    assert!(
        per_order(&m, "list_orders") < 0.1,
        "{:?}",
        m.api_calls_by_endpoint
    );
}

/// Goal: a fill a watch learns of by its own read (its order left out of
/// the list's newest page) still gets its executions, so P&L stays
/// exact. Method: fills spread up to 25 minutes after their orders, so
/// that some fill while older than the newest 500 orders; the engine's
/// P&L is the ledger's (asked only of the list's fills, one symbol's
/// P&L differed).
#[test]
fn fills_read_outside_the_list_still_get_their_executions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/batched/late-closers.yaml");
    let scenario = Arc::new(Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")));
    let m = metrics(scenario, None);
    assert_eq!(m.missed_fills, 0);
    assert_eq!(m.pnl_mismatches, Some(0));
}
