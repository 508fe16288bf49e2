//! The correctness properties of the original design, each checked against
//! the simulator's ground truth on generated scenarios or broker
//! behaviours. 100 cases each by default; `PROPTEST_CASES` overrides.
//! Property 7 (logging completeness) lives in `proptests_logging.rs`: it
//! installs a `tracing` subscriber, which must not share a process with
//! tests running in parallel.
//!
//! Most properties share one strong form: every *confident* verdict
//! (filled, partially filled, not filled, rejected) reports exactly what
//! the broker filled, and doubt is only ever expressed as `Unresolved`.

mod support;

/// Every proptest regression file in the workspace is one a live test
/// reads: the harness's properties persist to
/// `harness/proptest-regressions/proptests.txt` (`support::config`), the
/// engine's in-file properties to `engine/proptest-regressions/<file>.txt`.
/// A file anywhere else holds cases no run replays; its lines belong in
/// the live file.
#[test]
fn every_proptest_regression_file_is_replayed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let live = [
        "harness/proptest-regressions/proptests.txt",
        "engine/proptest-regressions/audit.txt",
    ];
    let mut found = Vec::new();
    support::regression_files(&root, &root, &mut found);
    let orphans: Vec<&String> = found
        .iter()
        .filter(|f| !live.contains(&f.as_str()))
        .collect();
    assert!(
        orphans.is_empty(),
        "proptest regression files no test replays (merge their `cc` lines into {}): {orphans:?}",
        live[0]
    );
    assert!(
        found.iter().any(|f| f == live[0]),
        "the live regression file {} is missing; found {found:?}",
        live[0]
    );
}

mod proptests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use fillproof_engine::{
        Decimal, Endpoint, FillState, FillVerifier, Order, OrderStatus, OrderType,
        PartialFillPolicy, PollingConfig, RobustVerifier, Side, TimeInForce, Timestamp, Verdict,
    };
    use fillproof_harness::measure::metrics::{Metrics, check_orders};
    use fillproof_harness::run::{RunSpec, SeedRun, run_seed};
    use fillproof_simulator::{Scenario, TraceKind};
    use proptest::prelude::*;

    use crate::support::{
        Knobs, confident_verdicts_are_right, config, detect_directly, moderate, run, run_with,
    };

    proptest! {
        // Each case runs hours of exits on a moving market: two in five of
        // the cases the others run.
        #![proptest_config(ProptestConfig { cases: config().cases * 2 / 5, ..config() })]

        /// Brackets under any fault mix: every order a bracket on a moving
        /// market (exits 10 to 80 bps away, the broker canceling the other
        /// exit after up to 20 s), with every REST fault at moderate
        /// rates: the engine's position in every symbol and its realized
        /// P&L equal the ledger's, no exit leg is left working on a closed
        /// position, and no confident verdict is wrong.
        #[test]
        fn brackets_keep_the_book_and_orphan_no_leg(
            knobs in moderate(),
            exit_bps in 10u32..80,
            oco_delay_s in 0u32..20,
        ) {
            // Entries fill whole, as in the P&L property: the engine books
            // an order's fill at its average price, the ledger each piece.
            let text = Knobs { partial: 0.0, ..knobs.clone() }
                .yaml()
                .replace("side: {buy: 0.5, sell: 0.5}", "side: buy")
                .replace(
                    "engine:\n",
                    "engine:\n  exits_watched_for: 2h\n",
                )
                .replace(
                    "  cancel:\n",
                    &format!("  cancel:\n    oco_delay: {oco_delay_s}s\n"),
                )
                .replace(
                    "  symbols: [SPY, QQQ]\n",
                    &format!("  symbols: [SPY, QQQ]\n  exits: {{take_profit_bps: {exit_bps}, stop_loss_bps: {exit_bps}}}\n"),
                )
                + "market:\n  hours: always\n  symbols:\n    SPY: {volatility: 3.0}\n    QQQ: {volatility: 3.0}\nlimits:\n  settle: 3h\n";
            let scenario = Arc::new(Scenario::parse(text.as_bytes(), "brackets.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}")));
            let spec = RunSpec::from_scenario(scenario, knobs.seed).expect("spec");
            let run = run_seed(&spec, &|| {}).expect("run");
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.consistency_violations, Some(0), "{:?}", m.unresolved_examples);
            prop_assert_eq!(m.pnl_mismatches, Some(0));
            prop_assert!(matches!(m.orphaned_legs, Some(0) | None), "{:?}", m.orphaned_legs);
            prop_assert!(confident_verdicts_are_right(&run).is_ok(), "{:?}", confident_verdicts_are_right(&run));
        }

    }

    proptest! {
        // Short runs: half the cases the others run.
        #![proptest_config(ProptestConfig { cases: config().cases / 2, ..config() })]

        /// Crash and restart: under any fault mix, crashes at any instants
        /// (one to three, within the workload's life), down for up to 3 s,
        /// the journal synced every record or in batches, its last write
        /// torn or not: the recovered engine places no order twice, leaves
        /// no order working unwatched, misses no fill (across the restarts
        /// and in all), and its book equals the ledger (every position and
        /// the realized P&L). Checked against the mutant "a fresh engine
        /// that reads no journal" (the memory-only canary).
        #[test]
        fn crashes_lose_nothing(
            knobs in moderate(),
            instants_ms in prop::collection::vec(0u32..20_000, 1..4),
            downtime_ms in 0u32..3_000,
            torn in any::<bool>(),
            batched in prop::option::of(1u32..16),
        ) {
            let at: Vec<String> = instants_ms.iter().map(|ms| format!("{ms}ms")).collect();
            let journal = batched.map_or_else(|| "every_record".to_owned(), |n| format!("{{batched: {n}}}"));
            let extra = format!(
                "crashes:\n  at: [{}]\n  downtime: {downtime_ms}ms\n  torn: {}\n  journal: {journal}\n",
                at.join(", "),
                if torn { 1 } else { 0 },
            );
            // Orders fill whole, as in the P&L property: the book is
            // rebuilt from each order's fill at its average price.
            let scenario = Knobs { extra, partial: 0.0, ..knobs.clone() }.scenario();
            let spec = RunSpec::from_scenario(scenario, knobs.seed).expect("spec");
            let run = run_seed(&spec, &|| {}).expect("run");
            let m = Metrics::over(std::slice::from_ref(&run));
            lost_nothing_across_crashes(&m)?;
            prop_assert_eq!(m.duplicate_orders, 0);
            prop_assert_eq!(m.consistency_violations, Some(0), "{:?}", m.unresolved_examples);
            prop_assert_eq!(m.pnl_mismatches, Some(0));
            prop_assert!(confident_verdicts_are_right(&run).is_ok(), "{:?}", confident_verdicts_are_right(&run));
        }
    }

    /// What every crash property holds of a run: a crash came, and none
    /// left an order orphaned, placed one twice or missed a fill.
    fn lost_nothing_across_crashes(m: &Metrics) -> Result<(), TestCaseError> {
        prop_assert!(m.crashes.is_some_and(|n| n >= 1), "{:?}", m.crashes);
        prop_assert_eq!(m.orders_orphaned, Some(0));
        prop_assert_eq!(m.duplicates_across_restarts, Some(0));
        prop_assert_eq!(m.missed_fills_across_restarts, Some(0));
        prop_assert_eq!(m.missed_fills, 0, "{:?}", m.missed_examples);
        Ok(())
    }

    /// The library's fault mixes a crash property runs under: every
    /// library scenario at the top level without a timeline of its own,
    /// and the bracket day (every order a bracket, its exit legs working
    /// across crashes).
    const FAULT_MIXES: [&str; 17] = [
        "orders/bracket-day.yaml",
        "cancel-accept-204.yaml",
        "keep-working.yaml",
        "last-second-fills.yaml",
        "latency-tails.yaml",
        "lost-submit-responses.yaml",
        "outage.yaml",
        "partial-fills.yaml",
        "position-lag.yaml",
        "production-day.yaml",
        "rate-limit.yaml",
        "rejections.yaml",
        "slippage.yaml",
        "stale-reads.yaml",
        "status-lag.yaml",
        "status-spellings.yaml",
        "transient-errors.yaml",
    ];

    /// Each symbol's position in `run`'s ledger by its end: what the
    /// broker's fills add up to.
    fn ledger_positions(run: &SeedRun) -> std::collections::BTreeMap<String, Decimal> {
        let mut positions = std::collections::BTreeMap::new();
        for order in run.ledger.orders() {
            let filled: Decimal = order.fills_by(run.ended_at).map(|f| f.qty).sum();
            *positions
                .entry(order.symbol.clone())
                .or_insert(Decimal::ZERO) += order.side.sign() * filled;
        }
        positions.retain(|_, qty| !qty.is_zero());
        positions
    }

    proptest! {
        // A few dozen orders of a library scenario each: half the cases.
        #![proptest_config(ProptestConfig { cases: config().cases / 2, ..config() })]

        /// Crash and restart in the library's fault mixes: any library
        /// scenario's broker (a few dozen of its orders), crashes at one
        /// to three instants in its first minute and at one to three
        /// points of its orders' lives (after the submit record, during
        /// the submit, a read or a cancel): no duplicate, no order
        /// orphaned, no fill missed, nothing invented, and the recovered
        /// engine's book holds the ledger's position in every symbol.
        #[test]
        fn library_fault_mixes_lose_nothing_across_crashes(
            mix in prop::sample::select(FAULT_MIXES.to_vec()),
            orders in 10u32..40,
            seed in any::<u64>(),
            instants_ms in prop::collection::vec(0u32..60_000, 1..4),
            points in prop::collection::vec((0u32..10, 0usize..4, 1u32..3), 1..4),
            downtime_ms in 0u32..3_000,
        ) {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(mix);
            let text = std::fs::read_to_string(&path).expect("library scenario");
            let names = ["before_submit", "during_submit", "during_poll", "during_cancel"];
            let at: Vec<String> = instants_ms.iter().map(|ms| format!("{ms}ms")).collect();
            let mut extra = format!(
                "\ncrashes:\n  at: [{}]\n  downtime: {downtime_ms}ms\ntimeline:\n",
                at.join(", ")
            );
            for (order, point, attempt) in &points {
                extra += &format!(
                    "  - {{order: {order}, event: crash, point: {}, attempt: {attempt}}}\n",
                    names[*point]
                );
            }
            let text = text + &extra;
            let scenario = Arc::new(Scenario::parse(text.as_bytes(), mix, None).unwrap_or_else(|e| panic!("{e}")));
            let mut spec = RunSpec::from_scenario(scenario, seed).expect("spec");
            spec.orders = Some(orders);
            let run = run_seed(&spec, &|| {}).expect("run");
            let m = Metrics::over(std::slice::from_ref(&run));
            lost_nothing_across_crashes(&m)?;
            prop_assert_eq!(m.false_positives, 0, "{:?}", m.false_positive_examples);
            prop_assert_eq!(m.duplicate_orders, 0);
            let book: std::collections::BTreeMap<String, Decimal> = run
                .book
                .as_ref()
                .expect("the robust engine's book")
                .positions()
                .filter(|(_, p)| !p.qty.is_zero())
                .map(|(symbol, p)| (symbol.to_owned(), p.qty))
                .collect();
            prop_assert_eq!(book, ledger_positions(&run), "{:?}", m.unresolved_examples);
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// Property 1, fill detection completeness: under a broker with
        /// every fault class at moderate rates, every fill the broker makes
        /// is reported with its exact quantity, nothing is invented, nothing
        /// is left unresolved and no order is placed twice. Checked against
        /// the mutant "a status-only verifier" (`filled_qty >= qty` ignored).
        #[test]
        fn fill_detection_completeness(knobs in moderate()) {
            let run = run(&knobs);
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.missed_fills, 0, "{:?}", m.missed_examples);
            prop_assert_eq!(m.false_positives, 0, "{:?}", m.false_positive_examples);
            prop_assert_eq!(m.unresolved, 0, "{:?}", m.unresolved_examples);
            prop_assert_eq!(m.duplicate_orders, 0);
        }

        /// Property 2, multi-method redundancy (verifier): a snapshot proves
        /// a full fill exactly when the status reads filled (any spelling)
        /// or `filled_qty >= qty`; price and stamp never do on their own.
        /// Checked against the mutants "`filled_qty >= qty` ignored" and
        /// (through the unit tests beside it) "a positive price proves it".
        #[test]
        fn multi_method_redundancy_verifier(
            status in prop::sample::select(vec![
                "new", "accepted", "partially_filled", "filled", "FILLED", "OrderStatus.FILLED",
                "fill", "pending_cancel", "canceled", "done", "expired",
            ]),
            qty in 1i64..1000,
            filled_fraction in 0.0f64..1.0,
            whole in any::<bool>(),
            priced in any::<bool>(),
            stamped in any::<bool>(),
        ) {
            // Half the cases fill the whole quantity, so a verifier that
            // ignores `filled_qty >= qty` is caught.
            let filled = if whole { qty } else { ((qty as f64) * filled_fraction).floor() as i64 };
            let order = Order {
                id: "o".into(), client_order_id: "c".into(), symbol: "SPY".into(),
                qty: Decimal::from(qty), side: Side::Buy, order_type: OrderType::Market,
                time_in_force: TimeInForce::Day, limit_price: None,
                status: OrderStatus::parse(status), filled_qty: Decimal::from(filled),
                filled_avg_price: priced.then(|| Decimal::from(100)),
                submitted_at: None, filled_at: stamped.then_some(Timestamp::from_unix_micros(1)),
                canceled_at: None, updated_at: None,
                extended_hours: false,
                stop_price: None, trail: None, hwm: None, order_class: fillproof_engine::OrderClass::Simple, legs: Vec::new(), replaces: None, replaced_by: None,
                notional: None,
            };
            let v = RobustVerifier.verify(&order);
            let proven = order.status == OrderStatus::Filled || filled >= qty;
            prop_assert_eq!(v.state == FillState::Full, proven);
            if !proven {
                prop_assert_eq!(v.filled_qty, Decimal::from(filled));
            }
        }

        /// Property 2, multi-method redundancy (end to end): with the status
        /// field lagging by up to two minutes and spelt five ways (one
        /// unknown), every fill is still found through `filled_qty`, and a
        /// whole fill is reported as filled. Checked against the mutant
        /// "`filled_qty >= qty` ignored".
        #[test]
        fn multi_method_redundancy_under_status_lag(knobs in moderate(), lag_s in 10u32..120) {
            let knobs = Knobs {
                status_lag_ms: lag_s * 1000,
                read_faults: 0.0, submit_faults: 0.0, cancel_faults: 0.0, stale: 0.0,
                ..knobs
            };
            let run = run(&knobs);
            prop_assert!(confident_verdicts_are_right(&run).is_ok(), "{:?}", confident_verdicts_are_right(&run));
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.missed_fills, 0, "{:?}", m.unresolved_examples);
            prop_assert_eq!(m.false_positives, 0);
            // A whole fill is reported as filled, found through
            // `filled_qty` while the status still lags.
            for (check, outcome) in check_orders(&run).iter().zip(&run.outcomes) {
                if check.ledger_qty == outcome.qty {
                    prop_assert_eq!(outcome.verdict.verdict, Verdict::Filled, "order {}: {}", check.index, outcome.verdict.reason);
                }
            }
        }

        /// Property 3, error-recovery resilience: under heavy transient
        /// errors on every endpoint, no verdict is confidently wrong, no
        /// order is duplicated, no fill is missed and no order is left open
        /// at the broker. Checked against the mutant "give up (unresolved)
        /// on the first read error".
        #[test]
        fn error_recovery_resilience(
            knobs in moderate(),
            read in 0.02f64..0.1,
            submit in 0.02f64..0.15,
            cancel in 0.05f64..0.3,
        ) {
            let knobs = Knobs { read_faults: read, submit_faults: submit, cancel_faults: cancel, ..knobs };
            let run = run(&knobs);
            prop_assert!(confident_verdicts_are_right(&run).is_ok(), "{:?}", confident_verdicts_are_right(&run));
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.duplicate_orders, 0);
            prop_assert_eq!(m.false_positives, 0, "{:?}", m.false_positive_examples);
            // Recovery means doubt is rare, not a way out: every read error
            // is retried and the monitor keeps going, so the engine still
            // misses nothing and leaves nothing open at the broker.
            prop_assert_eq!(m.missed_fills, 0, "{:?}", m.unresolved_examples);
            prop_assert_eq!(m.abandoned_orders, 0, "{:?}", m.abandoned_examples);
        }

        /// Property 4, final verification guarantee: fills scripted from a
        /// second before to a second after each order's deadline are all
        /// reported, with nothing unresolved, and a fill before the
        /// deadline is found without a cancel. Checked against the mutant
        /// "final verification off by default": the cancel check fails it.
        #[test]
        fn final_verification_guarantee(
            seed in any::<u64>(),
            offsets_ms in prop::collection::vec(-1_000i64..1_000, 4),
            processing_ms in 0u32..1_500,
            accept_204 in any::<bool>(),
        ) {
            // Orders are submitted at 0 s, 2 s, 4 s, 6 s (fixed arrival) and
            // watched for 10 s; the monitor starts after the submit answer.
            let timeline: String = offsets_ms.iter().enumerate().map(|(i, off)| {
                let at_ms = (i as i64) * 2_000 + 10_000 + off;
                format!("  - {{at: {at_ms}ms, order: {i}, event: fill}}\n")
            }).collect();
            let text = format!(r#"version: 1
name: last-second
seed: {seed}
workload:
  orders: 4
  arrival: 2s
  symbols: [SPY]
  qty: 100
  reference_price: {{SPY: "590.10"}}
engine:
  timeout: 10s
broker:
  account: {{buying_power: "1000000000"}}
  latency:
    submit: 60ms
    get_order: {{uniform: [10ms, 100ms]}}
    cancel: {{request: {{uniform: [20ms, 500ms]}}, response: 20ms}}
  fill: {{probability: 0}}
  cancel: {{when_filled: {when}, processing: {processing_ms}ms}}
timeline:
{timeline}"#, when = if accept_204 { "accept_204" } else { "reject_422" });
            let scenario = Arc::new(Scenario::parse(text.as_bytes(), "t.yaml", None).expect("valid"));
            let mut spec = RunSpec::from_scenario(scenario, seed).expect("spec");
            spec.record_trace = true;
            let run = run_seed(&spec, &|| {}).expect("run");
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.detection_rate, Some(1.0), "{:?} {:?}", m.missed_examples, m.unresolved_examples);
            prop_assert_eq!(m.unresolved, 0);
            prop_assert_eq!(m.false_positives, 0);
            // The deadline falls 10.06 s after each submit (the monitor
            // starts once the 60 ms submit answer is in). A fill 150 ms or
            // more before it is found by the final read at the deadline, so
            // the engine never sends a cancel for it: cancelling a filled
            // order is what the final verification exists to avoid.
            for (i, off) in offsets_ms.iter().enumerate() {
                if *off > -150 {
                    continue;
                }
                let cancels = run.trace.events().expect("trace kept").iter().filter(|e| matches!(
                    &e.kind,
                    TraceKind::Call { endpoint: "cancel", order: Some(o), .. } if *o == i as u32
                )).count();
                prop_assert_eq!(cancels, 0, "order {} filled {} ms before its deadline was sent a cancel", i, -off);
            }
        }

        /// Property 5, cancel-detect race handling: whatever the cancel's
        /// flight time, processing time and answer to a filled order, and
        /// wherever the fill lands around the cancel, the engine reports
        /// what the broker filled. Checked against the mutant "a cancel
        /// refused as already filled means no fill".
        #[test]
        fn cancel_detect_race_handling(knobs in moderate(), processing_ms in 0u32..3_000, accept_204 in any::<bool>()) {
            let knobs = Knobs {
                // Fills cluster around the deadline.
                delay_ms: knobs.timeout_s * 1000,
                cancel_processing_ms: processing_ms,
                accept_204,
                read_faults: 0.0, submit_faults: 0.0, cancel_faults: 0.0,
                ..knobs
            };
            let run = run(&knobs);
            prop_assert!(confident_verdicts_are_right(&run).is_ok(), "{:?}", confident_verdicts_are_right(&run));
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.missed_fills, 0, "{:?}", m.unresolved_examples);
            prop_assert_eq!(m.unresolved, 0, "{:?}", m.unresolved_examples);
        }

        /// Property 6, state consistency: the engine's positions equal the
        /// ledger's at the end, and its own reconciliation raises no alarm
        /// through position lag of up to two seconds. Checked against the
        /// mutant "the book adds twice the quantity of a fill".
        #[test]
        fn state_consistency(knobs in moderate(), position_lag_ms in 0u32..2_000) {
            let knobs = Knobs { position_lag_ms, ..knobs };
            let run = run(&knobs);
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.consistency_violations, Some(0), "{:?} {:?}", m.missed_examples, m.unresolved_examples);
            prop_assert_eq!(m.position_alarms, Some(0));
        }

        /// Property 8, slippage consistency: each reported slippage is the
        /// side-aware distance, in basis points, between the broker's
        /// average fill price and the reference price; positive exactly when
        /// adverse; flagged exactly above the threshold. Checked against the
        /// mutant "slippage not signed by side".
        #[test]
        fn slippage_consistency(knobs in moderate(), threshold in 0u32..60) {
            let knobs = Knobs { read_faults: 0.0, submit_faults: 0.0, cancel_faults: 0.0, ..knobs };
            let results = detect_directly(&knobs, |c| c.slippage_threshold_bps = Decimal::from(threshold), None);
            for (result, reference, ledger_avg) in results {
                let Some(s) = result.slippage else { continue };
                let avg = ledger_avg.expect("a fill has a price");
                prop_assert_eq!(s.fill_price, avg);
                let raw = (avg - reference) / reference * Decimal::from(10_000);
                let expected = (raw * result.side.sign()).round_dp(4);
                prop_assert_eq!(s.bps, expected);
                let adverse = match result.side { Side::Buy => avg > reference, Side::Sell => avg < reference };
                prop_assert_eq!(s.bps > Decimal::ZERO, adverse);
                prop_assert_eq!(s.flagged, s.bps > Decimal::from(threshold));
            }
        }

        /// Property 9, partial-fill handling: under either policy, the
        /// reported quantity is exactly what the broker filled, and under
        /// cancel-the-remainder an order left partly filled is reported as
        /// partially filled. Checked against the mutant "a partial fill is
        /// reported as unresolved".
        #[test]
        fn partial_fill_handling(knobs in moderate(), keep_working in any::<bool>()) {
            let knobs = Knobs {
                partial: 0.9, unfilled: 0.5, spacing_ms: 4_000,
                read_faults: 0.0, submit_faults: 0.0, cancel_faults: 0.0,
                ..knobs
            };
            let run = run_with(&knobs, |spec| {
                if keep_working {
                    spec.config.partial_fill_policy = PartialFillPolicy::KeepWorking { extension: spec.config.timeout };
                }
            });
            prop_assert!(confident_verdicts_are_right(&run).is_ok(), "{:?}", confident_verdicts_are_right(&run));
            // With no faults there is nothing to doubt: an order left partly
            // filled is reported as partially filled, never as unresolved.
            for (check, outcome) in check_orders(&run).iter().zip(&run.outcomes) {
                let partly = check.ledger_qty > Decimal::ZERO && check.ledger_qty < outcome.qty;
                if partly {
                    prop_assert_eq!(outcome.verdict.verdict, Verdict::PartiallyFilled, "order {}: {}", check.index, outcome.verdict.reason);
                }
            }
        }

        /// Property 10, adaptive polling efficiency: against the very same
        /// broker (same seed, common random numbers), linear-adaptive
        /// polling reads no more than polling at its initial interval
        /// throughout, fewer where orders wait, and finds every fill as
        /// exactly. Checked against the mutant "polling never grows".
        #[test]
        fn adaptive_polling_efficiency(knobs in moderate()) {
            let knobs = Knobs {
                read_faults: 0.0, submit_faults: 0.0, cancel_faults: 0.0, stale: 0.0, status_lag_ms: 0,
                ..knobs
            };
            let adaptive = run_with(&knobs, |s| s.config.polling = PollingConfig::linear_default());
            let fixed = run_with(&knobs, |s| s.config.polling = PollingConfig::Fixed { interval: Duration::from_millis(500) });
            let (a, f) = (Metrics::over(std::slice::from_ref(&adaptive)), Metrics::over(std::slice::from_ref(&fixed)));
            prop_assert!(adaptive.calls[Endpoint::GetOrder] <= fixed.calls[Endpoint::GetOrder], "adaptive {} reads, fixed {}", adaptive.calls[Endpoint::GetOrder], fixed.calls[Endpoint::GetOrder]);
            // Where orders wait long enough for the interval to grow (more
            // than three reads each at the fixed 500 ms), growing must save
            // reads: polling that never grows reads exactly as often.
            if fixed.calls[Endpoint::GetOrder] > 3 * u64::from(knobs.orders) {
                prop_assert!(adaptive.calls[Endpoint::GetOrder] < fixed.calls[Endpoint::GetOrder], "adaptive {} reads, fixed {}", adaptive.calls[Endpoint::GetOrder], fixed.calls[Endpoint::GetOrder]);
            }
            prop_assert_eq!(a.detection_rate.unwrap_or(1.0), 1.0);
            prop_assert_eq!(f.detection_rate.unwrap_or(1.0), 1.0);
            // A fill found before the deadline is seen within one capped
            // interval (2 s) plus one read's latency (at most 150 ms).
            for (check, outcome) in check_orders(&adaptive).iter().zip(&adaptive.outcomes) {
                if outcome.verdict.verdict == Verdict::Filled && !outcome.verdict.deadline_reached {
                    let latency = check.latency_ms.expect("a detected fill has a latency");
                    prop_assert!((0.0..=2_150.0).contains(&latency), "order {} seen {} ms after its fill", check.index, latency);
                }
            }
        }

        /// Idempotent submission: no interleaving of lost answers, 504s
        /// after applying, resets, garbage bodies and failing lookups ever
        /// leaves more than one broker order for one intent.
        #[test]
        fn lost_responses_and_retries_never_duplicate(
            knobs in moderate(),
            lost in 0.0f64..0.5,
            ambiguous in 0.0f64..0.1,
            lookup_faults in 0.0f64..0.3,
        ) {
            let extra = String::new();
            let mut text = Knobs { submit_faults: 0.0, extra, ..knobs.clone() }.yaml();
            text = text.replace(
                "    submit: {lost_response: 0, http_500: 0, garbage_body: 0, timeout_after: 3s}",
                &format!("    submit: {{lost_response: {lost}, http_504: {ambiguous}, garbage_body: {ambiguous}, connection_reset: {ambiguous}, timeout_after: 3s}}"),
            );
            text = text.replace(
                &format!("    get_order_by_client_id: {{http_503: {}}}", knobs.read_faults),
                &format!("    get_order_by_client_id: {{timeout: {lookup_faults}, http_503: {lookup_faults}, timeout_after: 2s}}"),
            );
            let scenario = Arc::new(Scenario::parse(text.as_bytes(), "dup.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}")));
            let spec = RunSpec::from_scenario(scenario, knobs.seed).expect("spec");
            let run = run_seed(&spec, &|| {}).expect("run");
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.duplicate_orders, 0);
            prop_assert!(confident_verdicts_are_right(&run).is_ok(), "{:?}", confident_verdicts_are_right(&run));
        }

        /// Positions and P&L: with commission and slippage, the engine's
        /// position in every symbol equals the ledger's, and its realized
        /// P&L equals that of the broker's true fills applied in the same
        /// order.
        #[test]
        fn positions_and_pnl_equal_the_ledgers(knobs in moderate(), per_share_mills in 0u32..20) {
            let extra = String::new();
            // Orders fill whole here: the engine books an order's fill at
            // its average price, the ledger each piece at its own time, and
            // average-cost P&L of interleaved pieces differs between the two.
            let text = Knobs { extra, partial: 0.0, ..knobs.clone() }.yaml().replace(
                "engine:\n",
                &format!("engine:\n  commission: {{per_order: \"0.25\", per_share: \"0.{per_share_mills:03}\"}}\n"),
            );
            let scenario = Arc::new(Scenario::parse(text.as_bytes(), "pnl.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}")));
            let spec = RunSpec::from_scenario(scenario, knobs.seed).expect("spec");
            let run = run_seed(&spec, &|| {}).expect("run");
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.consistency_violations, Some(0), "{:?}", m.unresolved_examples);
            prop_assert_eq!(m.pnl_mismatches, Some(0));
            prop_assert!(run.book.is_some());
        }

        /// The stream never makes the engine less safe: stream-first
        /// detection under every stream fault at once (a delay tail, drops,
        /// duplicates, reordering, disconnects), on top of a broker with
        /// every REST fault at moderate rates, misses nothing, invents
        /// nothing, duplicates nothing, leaves nothing open, and no
        /// confident verdict is wrong. (Most ways of getting the stream
        /// wrong cost latency here, not correctness: the REST deadline path
        /// still settles every order; this property pins that down.)
        #[test]
        fn stream_first_is_never_less_safe(
            knobs in moderate(),
            drop in 0.0f64..0.2,
            duplicate in 0.0f64..0.3,
            reorder in 0.0f64..0.5,
            every_s in 5u32..120,
            down_ms in 100u32..10_000,
            safety_s in 1u64..20,
        ) {
            let extra = format!(
                "  stream:\n    delay: {{lognormal: {{median: 40ms, p99: 400ms}}}}\n    drop: {drop}\n    duplicate: {duplicate}\n    reorder: {reorder}\n    disconnects: {{every: {{exponential: {{mean: {every_s}s}}}}, down_for: {{uniform: [10ms, {down_ms}ms]}}}}\n"
            );
            let knobs = Knobs { extra, ..knobs };
            let run = run_with(&knobs, |spec| {
                spec.config.polling = PollingConfig::Hybrid { safety: Duration::from_secs(safety_s) };
            });
            prop_assert!(confident_verdicts_are_right(&run).is_ok(), "{:?}", confident_verdicts_are_right(&run));
            let m = Metrics::over(std::slice::from_ref(&run));
            prop_assert_eq!(m.missed_fills, 0, "{:?}", m.unresolved_examples);
            prop_assert_eq!(m.false_positives, 0, "{:?}", m.false_positive_examples);
            prop_assert_eq!(m.duplicate_orders, 0);
            prop_assert_eq!(m.abandoned_orders, 0, "{:?}", m.abandoned_examples);
        }
    }
}
