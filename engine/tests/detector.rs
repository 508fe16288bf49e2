//! The fill detector against a scripted broker: the monitor loop, error
//! recovery, every deadline outcome, partial fills and idempotent submission.

mod support;

use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::{
    BrokerError, CancelOutcome, Consistency, Decimal, Endpoint, FillDetectionConfig, FillDetector,
    FillResult, PartialFillPolicy, SubmitError, Verdict,
};
use support::{Script, ScriptedBroker, change, new_order, request};

const LATENCY: Duration = Duration::from_millis(40);

fn config(timeout_s: u64) -> FillDetectionConfig {
    FillDetectionConfig {
        timeout: Duration::from_secs(timeout_s),
        ..FillDetectionConfig::default()
    }
}

fn setup(
    script: Script,
    config: FillDetectionConfig,
) -> (Arc<ScriptedBroker>, FillDetector<ScriptedBroker>) {
    let broker = Arc::new(ScriptedBroker::new(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config)
        .expect("valid config")
        .with_jitter_seed(9);
    (broker, detector)
}

fn qty(n: i64) -> Decimal {
    Decimal::from(n)
}

/// A script whose first `count` submits are refused with 429, each asking
/// for a wait of `retry_after`.
fn rate_limited_submits(retry_after: Duration, count: usize) -> Script {
    let limited = || {
        (
            false,
            Err(BrokerError::RateLimited {
                retry_after: Some(retry_after),
            }),
        )
    };
    Script {
        submit_answers: std::iter::repeat_with(limited).take(count).collect(),
        ..Script::default()
    }
}

/// The QQQ incident: the status field lags for 70 s while `filled_qty` shows
/// the fill after 1.2 s. The detector reports the fill within one poll of it,
/// long before its 60 s deadline, without cancelling.
#[tokio::test(start_paused = true)]
async fn status_lag_fill_is_detected_before_deadline() {
    let script = Script {
        changes: vec![
            change(1_200, "accepted", 100, Some("512.35")),
            change(70_000, "filled", 100, Some("512.35")),
        ],
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(60));
    let result = detector
        .monitor(new_order(100), Some("512.30".parse().expect("price")))
        .await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, qty(100));
    assert!(!result.deadline_reached);
    assert!(
        result.elapsed < Duration::from_secs(3),
        "{:?}",
        result.elapsed
    );
    assert!(result.methods.filled_qty && !result.methods.status);
    assert_eq!(broker.calls().cancel, 0);
    let slippage = result.slippage.expect("expected price was given");
    assert!(slippage.bps > Decimal::ZERO);
}

/// A fill already visible in the submit answer ends monitoring at once.
#[tokio::test(start_paused = true)]
async fn fill_in_submit_answer_needs_no_read() {
    let (broker, detector) = setup(Script::default(), config(60));
    let mut order = new_order(100);
    order.status = fillproof_engine::OrderStatus::parse("FILLED");
    order.filled_qty = qty(100);
    let result = detector.monitor(order, None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.checks, 0);
    assert!(broker.calls().get_order_at.is_empty());
}

/// Transient and ambiguous read errors are retried with backoff and the fill
/// is still found; each retry is counted.
#[tokio::test(start_paused = true)]
async fn transient_read_errors_are_retried() {
    let script = Script {
        changes: vec![change(300, "filled", 100, Some("1"))],
        get_errors: [
            BrokerError::Server {
                status: 503,
                message: "unavailable".into(),
            },
            BrokerError::Timeout,
            BrokerError::ConnectionReset,
        ]
        .into(),
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(60));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.retries, 3);
    assert_eq!(result.api_calls[Endpoint::GetOrder], 4);
    assert_eq!(broker.calls().get_order_at.len(), 4);
}

/// A 429 with Retry-After makes the next attempt wait at least that long.
#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let script = Script {
        changes: vec![change(100, "filled", 100, Some("1"))],
        get_errors: [BrokerError::RateLimited {
            retry_after: Some(Duration::from_secs(5)),
        }]
        .into(),
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(60));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    let times = broker.calls().get_order_at;
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= Duration::from_secs(5), "{times:?}");
}

/// A permanent read error fails fast: one call, no retries, and the verdict
/// is unresolved rather than "not filled".
#[tokio::test(start_paused = true)]
async fn permanent_read_error_fails_fast_and_unresolved() {
    let script = Script {
        get_errors: [BrokerError::NotFound {
            message: "order not found".into(),
        }]
        .into(),
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(60));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Unresolved);
    assert_eq!(result.retries, 0);
    assert_eq!(broker.calls().get_order_at.len(), 1);
}

/// When every retry of a read fails, monitoring goes on at the polling
/// schedule and finds the fill later.
#[tokio::test(start_paused = true)]
async fn monitoring_continues_after_retries_are_spent() {
    let script = Script {
        changes: vec![change(200, "filled", 100, Some("1"))],
        get_errors: std::iter::repeat_n(BrokerError::Timeout, 4).collect(),
        ..Script::default()
    };
    let (_broker, detector) = setup(script, config(60));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.checks, 2);
    assert_eq!(result.api_calls[Endpoint::GetOrder], 5);
}

/// A script whose order fills whole at `fill_at_ms` (price 590.02) and
/// whose cancel is refused as "already filled".
fn filled_then_cancel_refused(fill_at_ms: u64) -> Script {
    Script {
        changes: vec![change(fill_at_ms, "filled", 100, Some("590.02"))],
        cancel_answers: [Err(BrokerError::Unprocessable {
            message: r#"order is already in "filled" state"#.into(),
        })]
        .into(),
        ..Script::default()
    }
}

/// Deadline, cancel refused as "already filled": the detector reads the
/// order back and reports the fill with its price.
#[tokio::test(start_paused = true)]
async fn cancel_refused_as_filled_returns_the_fill() {
    let script = filled_then_cancel_refused(10_300);
    let (_broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, qty(100));
    assert_eq!(result.avg_price, Some("590.02".parse().expect("price")));
    assert!(result.deadline_reached);
    assert_eq!(result.cancel, Some(CancelOutcome::AlreadyFilled));
    assert!(result.methods.cancel_refused_as_filled);
}

/// Cancel refused as "already filled" while reads still lag the fill by
/// two seconds: the post-cancel reads wait between them (250 ms, doubling)
/// and so see the fill with its price, rather than spending every read at
/// once and reporting the quantity without one.
#[tokio::test(start_paused = true)]
async fn reads_after_a_refused_cancel_wait_for_a_lagging_fill() {
    let script = filled_then_cancel_refused(12_000);
    let (_broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, qty(100));
    assert_eq!(result.avg_price, Some("590.02".parse().expect("price")));
}

/// A rejection the broker makes after accepting the order is a verdict at
/// once: rejected, nothing filled, no cancel, long before the deadline.
#[tokio::test(start_paused = true)]
async fn late_rejection_is_reported_at_once() {
    let script = Script {
        changes: vec![change(1_000, "rejected", 0, None)],
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(60));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Rejected, "{}", result.reason);
    assert!(!result.deadline_reached);
    assert!(
        result.elapsed < Duration::from_secs(5),
        "{:?}",
        result.elapsed
    );
    assert_eq!(broker.calls().cancel, 0);
}

/// Keep-working extends the deadline only for an order with something
/// filled: an order with nothing filled is cancelled at the deadline.
#[tokio::test(start_paused = true)]
async fn keep_working_does_not_extend_an_unfilled_order() {
    let script = Script {
        on_cancel: vec![change(0, "canceled", 0, None)],
        ..Script::default()
    };
    let mut config = config(10);
    config.partial_fill_policy = PartialFillPolicy::KeepWorking {
        extension: Duration::from_secs(30),
    };
    let (broker, detector) = setup(script, config);
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::NotFilled, "{}", result.reason);
    assert_eq!(broker.calls().cancel, 1);
    assert!(
        result.elapsed < Duration::from_secs(15),
        "{:?}",
        result.elapsed
    );
}

/// A 10 s order whose cancel is accepted and left `pending_cancel`, and
/// which fills `fill_after_ms` after the cancel; the detector's result.
async fn filled_while_cancel_pending(fill_after_ms: u64) -> (Arc<ScriptedBroker>, FillResult) {
    let script = Script {
        on_cancel: vec![
            change(0, "pending_cancel", 0, None),
            change(fill_after_ms, "filled", 100, Some("590.05")),
        ],
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    (broker, result)
}

/// Deadline, cancel accepted, and the fill lands while the cancel is pending:
/// post-cancel verification reports the fill.
#[tokio::test(start_paused = true)]
async fn cancel_accepted_then_filled_reports_fill() {
    let (broker, result) = filled_while_cancel_pending(1_000).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.cancel, Some(CancelOutcome::Accepted));
    assert_eq!(broker.calls().cancel, 1);
}

/// Deadline, cancel accepted and confirmed with nothing filled: not filled.
#[tokio::test(start_paused = true)]
async fn cancel_accepted_then_canceled_is_not_filled() {
    let script = Script {
        on_cancel: vec![
            change(0, "pending_cancel", 0, None),
            change(1_500, "canceled", 0, None),
        ],
        ..Script::default()
    };
    let (_broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::NotFilled);
    assert_eq!(result.filled_qty, Decimal::ZERO);
    assert_eq!(result.confidence, 0.0);
}

/// Deadline, cancel never answered and the order never terminal: the verdict
/// is unresolved, never "not filled", and the cancel was retried and resent.
#[tokio::test(start_paused = true)]
async fn cancel_timeout_without_terminal_state_is_unresolved() {
    let script = Script {
        cancel_answers: std::iter::repeat_n(Err(BrokerError::Timeout), 100).collect(),
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Unresolved);
    assert!(matches!(
        result.cancel,
        Some(CancelOutcome::Unknown(BrokerError::Timeout))
    ));
    // Four attempts, then three resends of four attempts each.
    assert_eq!(broker.calls().cancel, 16);
    assert!(
        result.reason.contains("no terminal state"),
        "{}",
        result.reason
    );
}

/// Deadline, cancel timed out but it was applied: reads show the order
/// canceled, so "not filled" is confirmed.
#[tokio::test(start_paused = true)]
async fn cancel_timeout_then_canceled_is_not_filled() {
    let script = Script {
        changes: vec![change(11_000, "canceled", 0, None)],
        cancel_answers: std::iter::repeat_n(Err(BrokerError::Timeout), 4).collect(),
        ..Script::default()
    };
    let (_broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::NotFilled);
}

/// The final verification at the deadline catches a fill that landed after
/// the last poll, without a cancel.
#[tokio::test(start_paused = true)]
async fn final_verification_catches_last_second_fill() {
    let script = Script {
        changes: vec![change(9_990, "filled", 100, Some("1"))],
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert!(result.deadline_reached);
    assert_eq!(broker.calls().cancel, 0);
}

/// A partial fill at the deadline under the default policy: the remainder is
/// canceled and the filled part reported, with the broker's quantity.
#[tokio::test(start_paused = true)]
async fn partial_fill_cancels_remainder() {
    let script = Script {
        changes: vec![change(1_000, "partially_filled", 40, Some("590.1"))],
        on_cancel: vec![change(500, "canceled", 40, Some("590.1"))],
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::PartiallyFilled);
    assert_eq!(result.filled_qty, qty(40));
    assert_eq!(broker.calls().cancel, 1);
}

/// Under keep-working, a partial fill is watched past the deadline and its
/// completion reported without a cancel.
#[tokio::test(start_paused = true)]
async fn keep_working_policy_waits_for_the_remainder() {
    let script = Script {
        changes: vec![
            change(1_000, "partially_filled", 40, Some("590.1")),
            change(12_000, "filled", 100, Some("590.2")),
        ],
        ..Script::default()
    };
    let mut config = config(10);
    config.partial_fill_policy = PartialFillPolicy::KeepWorking {
        extension: Duration::from_secs(5),
    };
    let (broker, detector) = setup(script, config);
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, qty(100));
    assert_eq!(broker.calls().cancel, 0);
}

/// A lost submit answer is resolved by looking the order up by its
/// client order id: one order at the broker, no resubmit.
#[tokio::test(start_paused = true)]
async fn lost_submit_answer_is_found_by_client_id() {
    let script = Script {
        submit_answers: [(true, Err(BrokerError::Timeout))].into(),
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config(60)).expect("valid");
    let submission = detector
        .submit(&request(100))
        .await
        .expect("found by lookup");
    assert!(submission.recovered_by_lookup);
    let calls = broker.calls();
    assert_eq!(calls.orders_created, 1);
    assert_eq!(calls.submit, 1);
    assert_eq!(calls.lookup, 1);
}

/// A submit that failed without reaching the broker is retried after the
/// lookup says "not found": still exactly one order.
#[tokio::test(start_paused = true)]
async fn unapplied_submit_is_retried_once_absent() {
    let script = Script {
        submit_answers: [(false, Err(BrokerError::ConnectionReset))].into(),
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config(60)).expect("valid");
    let submission = detector
        .submit(&request(100))
        .await
        .expect("second attempt lands");
    assert!(!submission.recovered_by_lookup);
    assert_eq!(submission.retries, 1);
    let calls = broker.calls();
    assert_eq!(calls.orders_created, 1);
    assert_eq!(calls.submit, 2);
}

/// When the lookup itself keeps failing until the submit deadline, the
/// detector does not resubmit blindly: it reports the submission as unknown.
#[tokio::test(start_paused = true)]
async fn unknown_submit_is_not_resubmitted_blindly() {
    let script = Script {
        submit_answers: [(false, Err(BrokerError::Timeout))].into(),
        lookup_errors: std::iter::repeat_n(BrokerError::Timeout, 1000).collect(),
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config(60)).expect("valid");
    let error = detector.submit(&request(100)).await.expect_err("unknown");
    assert!(matches!(error, SubmitError::Unknown { .. }), "{error}");
    assert_eq!(broker.calls().submit, 1);
}

/// A 429 on submit is waited out without spending a retry: five in a row,
/// more than `max_retries`, still end with the order placed once.
#[tokio::test(start_paused = true)]
async fn rate_limited_submit_waits_without_spending_retries() {
    let script = rate_limited_submits(Duration::from_secs(1), 5);
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config(60)).expect("valid");
    let submission = detector.submit(&request(100)).await.expect("placed");
    assert_eq!(submission.api_calls[Endpoint::Submit], 6);
    assert_eq!(
        submission.api_calls[Endpoint::GetOrderByClientId],
        0,
        "a 429 needs no lookup"
    );
    assert_eq!(broker.calls().orders_created, 1);
}

/// A submit the broker refuses with 429 forever is waited out at most
/// `rate_limit_waits` times, then reported as not placed with the 429 as
/// its last error; each wait is counted as a retry.
#[tokio::test(start_paused = true)]
async fn endless_rate_limit_on_submit_stops_after_its_waits() {
    let script = rate_limited_submits(Duration::from_millis(100), 100);
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let mut config = config(60);
    config.retry.rate_limit_waits = 4;
    let detector = FillDetector::new(Arc::clone(&broker), config).expect("valid");
    let error = detector
        .submit(&request(100))
        .await
        .expect_err("never placed");
    match error {
        SubmitError::NotPlaced { attempts, last, .. } => {
            assert_eq!(attempts, 5, "one first try and four waits");
            assert!(matches!(last, BrokerError::RateLimited { .. }), "{last}");
        }
        other => panic!("expected not placed, got {other}"),
    }
    assert_eq!(broker.calls().submit, 5);
    assert_eq!(broker.calls().orders_created, 0);
}

/// A 429 whose wait would end past the submit deadline is not waited out:
/// with 10 s waits and a 25 s deadline the engine tries at 0 s, 10 s and
/// 20 s, and gives up at the third answer rather than wait past 25 s.
#[tokio::test(start_paused = true)]
async fn rate_limit_waits_stop_at_the_submit_deadline() {
    let script = rate_limited_submits(Duration::from_secs(10), 100);
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let mut config = config(60);
    config.submit_timeout = Duration::from_secs(25);
    let detector = FillDetector::new(Arc::clone(&broker), config).expect("valid");
    let started = tokio::time::Instant::now();
    let error = detector
        .submit(&request(100))
        .await
        .expect_err("never placed");
    assert!(
        matches!(error, SubmitError::NotPlaced { attempts: 3, .. }),
        "{error}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(25),
        "waited past the deadline: {elapsed:?}"
    );
    assert!(elapsed >= Duration::from_secs(20), "{elapsed:?}");
}

/// Lookups by client order id that keep failing back off (doubling from
/// 500 ms, capped at 8 s) and stop at the reconcile horizon after the
/// submit deadline: within 20 s and 40 s more that is at most sixteen
/// lookups, where a backoff that never grew would make a hundred or more.
#[tokio::test(start_paused = true)]
async fn failing_lookups_back_off_and_stop_at_the_deadline() {
    let unavailable = || BrokerError::Server {
        status: 503,
        message: "service unavailable".into(),
    };
    let script = Script {
        submit_answers: [(false, Err(BrokerError::Timeout))].into(),
        lookup_errors: std::iter::repeat_with(unavailable).take(1_000).collect(),
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let mut config = config(60);
    config.submit_timeout = Duration::from_secs(20);
    config.reconcile_horizon = config_horizon();
    let detector = FillDetector::new(Arc::clone(&broker), config)
        .expect("valid")
        .with_jitter_seed(3);
    let started = tokio::time::Instant::now();
    let error = detector.submit(&request(100)).await.expect_err("unknown");
    assert!(matches!(error, SubmitError::Unknown { .. }), "{error}");
    // No wait crosses the deadline and the horizon after it; only the last
    // call's own latency may.
    let bound = Duration::from_secs(20) + config_horizon() + LATENCY;
    assert!(started.elapsed() <= bound, "{:?}", started.elapsed());
    let lookups = broker.calls().lookup;
    assert!((2..=16).contains(&lookups), "{lookups} lookups");
    assert_eq!(broker.calls().submit, 1, "never resubmitted blindly");
}

/// A read answered 429 is waited out `rate_limit_waits` times without
/// spending a retry, then retried `max_retries` times like any transient
/// error, then fails as one check; the monitor goes on reading on its
/// schedule. Every check therefore makes exactly 1 + 2 + 3 calls here.
#[tokio::test(start_paused = true)]
async fn rate_limited_reads_wait_a_bounded_number_of_times() {
    let limited = || BrokerError::RateLimited {
        retry_after: Some(Duration::from_millis(10)),
    };
    let script = Script {
        get_errors: std::iter::repeat_with(limited).take(10_000).collect(),
        ..Script::default()
    };
    let mut config = config(5);
    config.retry.rate_limit_waits = 2;
    let (broker, detector) = setup(script, config);
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Unresolved, "{}", result.reason);
    let reads = broker.calls().get_order_at.len() as u32;
    assert_eq!(reads, result.checks * 6, "{} checks", result.checks);
}

/// When every ambiguous submit is looked up and not found, and the retries
/// are spent, the order is reported as not placed (not unknown), but only
/// once no submit that got no answer can still arrive: lookups go on until
/// the reconcile horizon after the last of them.
#[tokio::test(start_paused = true)]
async fn submit_absent_after_every_retry_is_not_placed() {
    let config = config(60);
    let horizon = config.reconcile_horizon;
    let start = tokio::time::Instant::now();
    let broker = submit_into_resets(config).await;
    assert!(
        start.elapsed() >= horizon,
        "concluded absent after {:?}, before a submit sent without an answer could no longer arrive",
        start.elapsed()
    );
    assert!(
        broker.calls().lookup > 4,
        "{} lookups",
        broker.calls().lookup
    );
    assert_eq!(broker.calls().orders_created, 0);
}

/// The rule of earlier engines, kept as `AbsenceProof::FirstNotFound`:
/// the first "not found" after the retries is taken as absence at once.
#[tokio::test(start_paused = true)]
async fn first_not_found_rule_concludes_absent_at_once() {
    let mut config = config(60);
    config.absence = fillproof_engine::AbsenceProof::FirstNotFound;
    let broker = submit_into_resets(config).await;
    assert_eq!(broker.calls().lookup, 4);
}

/// Submits against a broker that resets every submit and never holds the
/// order; asserts the intent ends not placed after its four attempts.
async fn submit_into_resets(config: FillDetectionConfig) -> Arc<ScriptedBroker> {
    let reset = || (false, Err(BrokerError::ConnectionReset));
    let script = Script {
        submit_answers: std::iter::repeat_with(reset).take(4).collect(),
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config).expect("valid");
    let error = detector
        .submit(&request(100))
        .await
        .expect_err("not placed");
    assert!(
        matches!(error, SubmitError::NotPlaced { attempts: 4, .. }),
        "{error}"
    );
    broker
}

/// A permanent refusal of a submit fails fast with the broker's reason.
#[tokio::test(start_paused = true)]
async fn refused_submit_fails_fast() {
    let script = Script {
        submit_answers: [(
            false,
            Err(BrokerError::Forbidden {
                message: "insufficient buying power".into(),
            }),
        )]
        .into(),
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config(60)).expect("valid");
    let error = detector.submit(&request(100)).await.expect_err("refused");
    assert!(matches!(error, SubmitError::Rejected { .. }));
    assert!(error.to_string().contains("insufficient buying power"));
    assert_eq!(broker.calls().submit, 1);
}

/// A lagging position is re-read until it matches; a real discrepancy is
/// reported with both figures.
#[tokio::test(start_paused = true)]
async fn position_check_tolerates_lag_and_reports_discrepancy() {
    let script = Script {
        positions: [qty(0), qty(100)].into(),
        ..Script::default()
    };
    let settings = config(60);
    let interval = settings.consistency.interval;
    let (_broker, detector) = setup(script, settings);
    let started = tokio::time::Instant::now();
    let (consistency, calls) = detector.check_position("QQQ", qty(100)).await;
    assert_eq!(consistency, Consistency::Consistent);
    assert_eq!(calls[Endpoint::GetPosition], 2);
    // The first read goes at once; the re-read waits one interval.
    assert_eq!(started.elapsed(), interval + LATENCY * 2);

    let script = Script {
        positions: [qty(60)].into(),
        ..Script::default()
    };
    let (_broker, detector) = setup(script, config(60));
    let (consistency, _) = detector.check_position("QQQ", qty(100)).await;
    assert_eq!(
        consistency,
        Consistency::Discrepancy {
            expected: qty(100),
            broker: qty(60)
        }
    );
}

/// Many orders are watched at once, each in its own task.
#[tokio::test(start_paused = true)]
async fn many_orders_in_parallel_tasks() {
    let mut handles = Vec::new();
    for i in 0..50u64 {
        let script = Script {
            changes: vec![change(100 * i, "filled", 100, Some("1"))],
            ..Script::default()
        };
        let (_broker, detector) = setup(script, config(60));
        handles.push(detector.spawn(new_order(100), None));
    }
    for handle in handles {
        assert_eq!(handle.await.expect("task").verdict, Verdict::Filled);
    }
}

/// A bad configuration is refused when the detector is built.
#[test]
fn detector_refuses_invalid_config() {
    let broker = Arc::new(ScriptedBroker::new(
        new_order(1),
        Script::default(),
        LATENCY,
    ));
    let mut config = config(60);
    config.timeout = Duration::ZERO;
    let error = FillDetector::new(broker, config).err().expect("refused");
    assert_eq!(error.field, "timeout");
}

/// A 429 on a read is waited out without spending a retry: more of them than
/// `max_retries` still end in the fill being found by the same read.
#[tokio::test(start_paused = true)]
async fn rate_limited_reads_do_not_spend_retries() {
    let limited = || BrokerError::RateLimited {
        retry_after: Some(Duration::from_millis(200)),
    };
    let script = Script {
        changes: vec![change(0, "filled", 100, Some("1"))],
        get_errors: std::iter::repeat_with(limited).take(6).collect(),
        ..Script::default()
    };
    let (_broker, detector) = setup(script, config(60));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.checks, 1, "one logical read");
    assert_eq!(result.api_calls[Endpoint::GetOrder], 7);
}

/// A cancel lost in an outage is sent again once reads show the order still
/// open, and the order is then confirmed canceled instead of unresolved.
#[tokio::test(start_paused = true)]
async fn unanswered_cancel_is_resent_when_order_still_open() {
    let unavailable = || {
        Err(BrokerError::Server {
            status: 503,
            message: "service unavailable".into(),
        })
    };
    let script = Script {
        cancel_answers: std::iter::repeat_with(unavailable).take(4).collect(),
        on_cancel: vec![
            change(0, "pending_cancel", 0, None),
            change(300, "canceled", 0, None),
        ],
        ..Script::default()
    };
    let (broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::NotFilled, "{}", result.reason);
    assert_eq!(broker.calls().cancel, 5);
    assert_eq!(result.cancel, Some(CancelOutcome::Accepted));
}

fn config_horizon() -> Duration {
    Duration::from_secs(40)
}

/// A submit whose answer is lost, then a broker unreachable for longer
/// than the submit deadline: the detector keeps looking the order up by
/// `client_order_id` past the deadline, finds it when the broker is back
/// (100 s in), and reports the fill it made meanwhile. Before the reconcile
/// horizon, this order was reported unknown with nothing filled.
#[tokio::test(start_paused = true)]
async fn unknown_submit_is_reconciled_once_the_broker_is_back() {
    let script = Script {
        submit_answers: [(true, Err(BrokerError::Timeout))].into(),
        reads_down: Some((Duration::ZERO, Duration::from_secs(100))),
        changes: vec![change(30_000, "filled", 100, Some("590.02"))],
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config(60))
        .expect("valid")
        .with_jitter_seed(5);
    let submission = detector.submit(&request(100)).await.expect("found");
    assert!(submission.recovered_by_lookup && submission.overdue);
    let result = detector
        .monitor_submission(submission, None, None, None)
        .await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, qty(100));
    assert_eq!(result.avg_price, Some("590.02".parse().expect("price")));
    assert_eq!(broker.calls().submit, 1, "never resubmitted");
}

/// The same, with the order still open when the broker comes back: being
/// past its deadline, it is cancelled at once instead of being left to
/// work unwatched, and its end is confirmed by reads.
#[tokio::test(start_paused = true)]
async fn order_found_after_the_submit_deadline_is_cancelled() {
    let script = Script {
        submit_answers: [(true, Err(BrokerError::Timeout))].into(),
        reads_down: Some((Duration::ZERO, Duration::from_secs(100))),
        on_cancel: vec![change(100, "canceled", 0, None)],
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config(60))
        .expect("valid")
        .with_jitter_seed(5);
    let started = tokio::time::Instant::now();
    let result = detector.execute(&request(100), None).await.expect("found");
    assert_eq!(result.verdict, Verdict::NotFilled);
    assert!(result.deadline_reached);
    assert_eq!(result.cancel, Some(CancelOutcome::Accepted));
    assert_eq!(broker.calls().cancel, 1);
    // Cancelled as soon as found, not after a fresh 60 s of monitoring.
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
}

/// A cancel that stays `pending_cancel` for 60 s, longer than the 16
/// post-cancel reads last (about 45 s), and a fill that lands at the end
/// of it: the detector keeps reading while the broker shows the order
/// open and reports the fill.
#[tokio::test(start_paused = true)]
async fn long_pending_cancel_is_read_until_it_ends() {
    let (broker, result) = filled_while_cancel_pending(60_000).await;
    assert_eq!(result.verdict, Verdict::Filled, "{}", result.reason);
    assert_eq!(result.filled_qty, qty(100));
    assert_eq!(result.cancel, Some(CancelOutcome::Accepted));
    // With backoff: a minute of reads at up to 4 s apart, not a busy loop.
    let reads = broker.calls().get_order_at.len();
    assert!((16..40).contains(&reads), "{reads} reads");
}

/// A cancel refused as "already filled" while reads fail for a minute
/// longer than the post-cancel reads last: the reads go on until one
/// succeeds, and the fill is reported with the broker's price.
#[tokio::test(start_paused = true)]
async fn refused_cancel_is_priced_once_a_read_succeeds() {
    let mut script = filled_then_cancel_refused(10_300);
    script.reads_down = Some((Duration::from_secs(9), Duration::from_secs(200)));
    let (_broker, detector) = setup(script, config(10));
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, qty(100));
    assert_eq!(result.avg_price, Some("590.02".parse().expect("price")));
}

/// When no read succeeds within the horizon, the fill the cancel refusal
/// proved is reported with its quantity and no price: never a guess.
#[tokio::test(start_paused = true)]
async fn refused_cancel_without_a_read_has_no_price() {
    let mut script = filled_then_cancel_refused(5_000);
    script.changes = vec![change(5_000, "partially_filled", 40, Some("590.00"))];
    script
        .changes
        .push(change(10_300, "filled", 100, Some("590.02")));
    script.reads_down = Some((Duration::from_secs(9), Duration::from_secs(100_000)));
    let mut config = config(10);
    config.reconcile_horizon = Duration::from_secs(60);
    let (_broker, detector) = setup(script, config);
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, qty(100));
    assert_eq!(
        result.avg_price, None,
        "the partial's price is not the fill's"
    );
}

/// A submit whose answer is lost, then a 429 storm (each answer asking for
/// a 10 s wait) on the lookups for two minutes, longer than the submit
/// deadline: the lookups wait as asked, go on past the deadline, and find
/// the order once the storm passes.
#[tokio::test(start_paused = true)]
async fn unknown_submit_is_reconciled_through_a_rate_limit_storm() {
    let limited = || BrokerError::RateLimited {
        retry_after: Some(Duration::from_secs(10)),
    };
    let script = Script {
        submit_answers: [(true, Err(BrokerError::Timeout))].into(),
        lookup_errors: std::iter::repeat_with(limited).take(12).collect(),
        changes: vec![change(5_000, "filled", 100, Some("590.02"))],
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config(60))
        .expect("valid")
        .with_jitter_seed(5);
    let result = detector.execute(&request(100), None).await.expect("found");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, qty(100));
    assert_eq!(broker.calls().lookup, 13);
    assert_eq!(broker.calls().submit, 1);
}

/// The adaptive strategy is given the reads since the order last changed:
/// while nothing changes its interval grows, and the read that sees a
/// partial fill brings it back to the cruise interval at once.
#[tokio::test(start_paused = true)]
async fn adaptive_polling_returns_to_cruise_after_a_change() {
    let script = Script {
        changes: vec![
            change(9_500, "partially_filled", 40, Some("512.35")),
            change(40_000, "filled", 100, Some("512.35")),
        ],
        ..Script::default()
    };
    let adaptive = fillproof_engine::AdaptivePolling {
        first: Duration::from_secs(1),
        cruise: Duration::from_secs(1),
        patience: 1,
        growth: 2.0,
        max: Duration::from_secs(8),
        ..fillproof_engine::AdaptivePolling::default()
    };
    let config = FillDetectionConfig {
        polling: fillproof_engine::PollingConfig::Adaptive(adaptive),
        ..config(60)
    };
    let (broker, detector) = setup(script, config);
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    // Each read reaches the broker one 40 ms latency after its interval.
    let gaps_ms: Vec<u128> = std::iter::once(Duration::ZERO)
        .chain(broker.calls().get_order_at)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    // 1 s, then doubling while unchanged; the read at 16.2 s sees the
    // partial fill, and the next two go at the cruise interval before the
    // growth starts again; the read at 40.44 s sees the fill.
    assert_eq!(
        gaps_ms,
        [
            1_040, 1_040, 2_040, 4_040, 8_040, 1_040, 1_040, 2_040, 4_040, 8_040, 8_040
        ]
    );
}
