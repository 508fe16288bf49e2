//! The simulator never takes back what it has shown: once any read has
//! shown an order a filled quantity, the ledger's final quantity for that
//! order is at least that. Checked on generated scenarios laid out on a
//! whole-millisecond grid (fixed latencies, fill delays and spacings drawn
//! from millisecond samples, cancels with no processing time), where reads,
//! fills and cancels often fall on the same instant. Two in three fill
//! delays are short of the deadline, so every case shows fills.
//!
//! Checked against the mutant it was written for: a cancel that drops the
//! fills at the instant it takes effect (`f.at < effective`) fails it.

mod support;

use std::sync::Arc;

use fillproof_engine::Decimal;
use fillproof_harness::run::{RunSpec, run_seed};
use fillproof_simulator::{Scenario, Seen, TraceKind};
use proptest::prelude::*;

/// Whole-millisecond settings of one generated scenario.
#[derive(Debug, Clone)]
struct Grid {
    seed: u64,
    delays_ms: Vec<u32>,
    spacing_ms: Vec<u32>,
    processing_ms: u32,
    read_ms: u32,
    cancel_ms: u32,
}

fn grid() -> impl Strategy<Value = Grid> {
    (
        any::<u64>(),
        prop::collection::vec(1_900u32..2_200, 1..6),
        prop::collection::vec(0u32..400, 1..4),
        prop::sample::select(vec![0u32, 0, 10, 100]),
        prop::sample::select(vec![0u32, 0, 10]),
        prop::sample::select(vec![0u32, 0, 10]),
    )
        .prop_map(
            |(seed, delays_ms, spacing_ms, processing_ms, read_ms, cancel_ms)| Grid {
                seed,
                delays_ms,
                spacing_ms,
                processing_ms,
                read_ms,
                cancel_ms,
            },
        )
}

fn scenario(grid: &Grid) -> Arc<Scenario> {
    let Grid {
        seed,
        delays_ms,
        spacing_ms,
        processing_ms,
        read_ms,
        cancel_ms,
    } = grid;
    let list = |values: &[u32]| {
        values
            .iter()
            .map(|v| format!("{v}ms"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        r#"version: 1
name: same-instant
seed: {seed}
workload:
  orders: 12
  arrival: 700ms
  symbols: [SPY]
  qty: {{uniform: [2, 200]}}
  reference_price: {{SPY: "590.10"}}
engine:
  timeout: 2s
  polling: {{strategy: fixed, interval: 100ms}}
broker:
  latency:
    submit: 20ms
    get_order: {read_ms}ms
    get_order_by_client_id: {read_ms}ms
    cancel: {{request: {cancel_ms}ms, response: 10ms}}
    get_position: 10ms
  fill:
    probability: 0.9
    delay: {{samples: [{early}{delays}]}}
    partial: {{probability: 0.7, pieces: [2, 4], spacing: {{samples: [{spacing}]}}, unfilled: 0.3}}
  cancel:
    when_filled: reject_422
    processing: {processing_ms}ms
"#,
        delays = list(delays_ms),
        spacing = list(spacing_ms),
        early = "1s, ".repeat(2 * delays_ms.len()),
    );
    Arc::new(
        Scenario::parse(text.as_bytes(), "same-instant.yaml", None)
            .unwrap_or_else(|e| panic!("{e}\n{text}")),
    )
}

proptest! {
    #![proptest_config(support::config())]

    /// Every filled quantity a read showed is still in the ledger at the
    /// end of the run.
    #[test]
    fn shown_fills_are_never_taken_back(grid in grid()) {
        let scenario = scenario(&grid);
        let mut spec = RunSpec::from_scenario(scenario, grid.seed).expect("spec");
        spec.record_trace = true;
        let run = run_seed(&spec, &|| {}).expect("run");
        let events = run.trace.events().expect("trace kept");
        let mut reads = 0;
        for event in events {
            let TraceKind::Call { endpoint, target, seen: Some(Seen::Order { filled_qty, .. }), .. } = &event.kind else {
                continue;
            };
            let order = match *endpoint {
                "get_order" => run.ledger.by_id(target),
                _ => run.ledger.by_client_id(target),
            };
            let order = order.expect("a read showed an order the ledger holds");
            let last = order.filled_qty_at(run.ended_at);
            prop_assert!(
                last >= *filled_qty,
                "at {} us a {endpoint} read of {target} showed {filled_qty} filled; the ledger ends with {last}",
                event.t_us
            );
            if *filled_qty > Decimal::ZERO {
                reads += 1;
            }
        }
        // A run that showed no fill at all would check nothing.
        prop_assert!(reads > 0, "no read showed a fill");
    }
}
