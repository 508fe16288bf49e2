//! The call budget against the scripted broker: a 429 or an exhausted
//! reported limit holds every call, polls that find no turn are skipped
//! and never counted as calls, and submissions record their queue wait.

mod support;

use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::{
    Broker, BrokerError, FillDetectionConfig, FillDetector, Priority, RateLimit, RateLimitState,
    RateLimitedBroker, Verdict, with_priority,
};
use support::{Script, ScriptedBroker, change, new_order, request};
use tokio::time::Instant;

const LATENCY: Duration = Duration::from_millis(40);

fn budget(script: Script, requests: u32) -> Arc<RateLimitedBroker<Arc<ScriptedBroker>>> {
    let broker = Arc::new(ScriptedBroker::new(new_order(100), script, LATENCY));
    Arc::new(
        RateLimitedBroker::new(
            broker,
            Some(RateLimit {
                requests,
                per: Duration::from_secs(60),
            }),
        )
        .expect("limit"),
    )
}

/// A 429 asking for 10 s holds the next call, whoever makes it, for 10 s.
#[tokio::test(start_paused = true)]
async fn a_429_holds_every_call() {
    let script = Script {
        get_errors: [BrokerError::RateLimited {
            retry_after: Some(Duration::from_secs(10)),
        }]
        .into(),
        ..Script::default()
    };
    let gate = budget(script, 600);
    let started = Instant::now();
    assert!(gate.get_order(support::ORDER_ID).await.is_err());
    let _ = gate.get_position("QQQ").await;
    // The 429 came back at 40 ms; the next call waited until 10.04 s and
    // took 40 ms.
    assert_eq!(started.elapsed(), Duration::from_millis(10_080));
}

/// A reported state with nothing remaining holds the next call until the
/// reset, without a 429.
#[tokio::test(start_paused = true)]
async fn an_exhausted_reported_limit_holds_every_call() {
    let script = Script {
        rate_state: Some(RateLimitState {
            limit: 200,
            remaining: 0,
            reset_in: Duration::from_secs(5),
        }),
        ..Script::default()
    };
    let gate = budget(script, 600);
    assert_eq!(gate.rate_limit_state().map(|s| s.remaining), Some(0));
    let started = Instant::now();
    let _ = gate.get_position("QQQ").await;
    let _ = gate.get_position("QQQ").await;
    assert_eq!(started.elapsed(), Duration::from_millis(5_080));
}

/// Routine polls with no turn within one interval are skipped: never sent,
/// never counted; the order is still settled by the deadline's critical
/// read. Submissions record the wait they spent queued.
#[tokio::test(start_paused = true)]
async fn skipped_polls_are_not_calls() {
    let script = Script {
        changes: vec![change(3_000, "filled", 100, Some("590"))],
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let gate = Arc::new(
        RateLimitedBroker::new(
            Arc::clone(&broker),
            Some(RateLimit {
                requests: 2,
                per: Duration::from_secs(60),
            }),
        )
        .expect("limit"),
    );
    let config = FillDetectionConfig {
        timeout: Duration::from_secs(10),
        ..FillDetectionConfig::default()
    };
    let detector = FillDetector::new(Arc::clone(&gate), config).expect("valid");
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    let reads = broker.calls().get_order_at.len();
    assert_eq!(
        result.api_calls.get_order as usize, reads,
        "only sent reads count"
    );
    assert!(
        reads <= 2,
        "{reads} reads went through a budget of 2 a minute"
    );
    assert_eq!(gate.submit_waits(), [Duration::ZERO]);
    // A critical call takes the next turn; a routine call behind it would
    // wait more than one interval, so it is not sent at all.
    let before = broker.calls().get_order_at.len();
    let (critical, skipped) = tokio::join!(
        gate.get_order(support::ORDER_ID),
        with_priority(Priority::Routine, gate.get_order(support::ORDER_ID))
    );
    assert!(critical.is_ok());
    assert!(
        matches!(skipped, Err(BrokerError::Deferred { .. })),
        "{skipped:?}"
    );
    assert_eq!(broker.calls().get_order_at.len(), before + 1);
}

/// A poll the budget defers was never sent: it is not counted as a call,
/// and the next poll goes on as scheduled.
#[tokio::test(start_paused = true)]
async fn a_deferred_poll_is_not_a_call() {
    let script = Script {
        changes: vec![change(2_000, "filled", 100, Some("590"))],
        get_errors: [BrokerError::Deferred {
            max_wait: Duration::from_millis(330),
        }]
        .into(),
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::new(new_order(100), script, LATENCY));
    let detector =
        FillDetector::new(Arc::clone(&broker), FillDetectionConfig::default()).expect("valid");
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    // The scripted broker notes the deferred call too; the engine does not.
    let reached = broker.calls().get_order_at.len() as u32;
    assert_eq!(result.api_calls.get_order, reached - 1);
    assert_eq!(result.retries, 0, "a deferred poll is not retried");
}
