//! The call budget against the scripted broker: a 429 or an exhausted
//! reported limit holds every call, polls that find no turn are skipped
//! and never counted as calls, submissions record their queue wait, and
//! deadline-critical calls go before queued submissions and catch-up reads.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fillproof_engine::{
    Broker, BrokerCalls, BrokerError, CallError, Endpoint, FillDetectionConfig, FillDetector,
    Order, OrderRequest, Position, Priority, RateLimit, RateLimitState, RateLimitedBroker, Verdict,
    with_priority,
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
        result.api_calls[Endpoint::GetOrder] as usize,
        reads,
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
        matches!(skipped, Err(CallError::NotSent { .. })),
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
        ..Script::default()
    };
    let broker = Arc::new(ScriptedBroker::new(new_order(100), script, LATENCY));
    let skipping = Arc::new(SkipFirstRead {
        inner: Arc::clone(&broker),
        skipped: AtomicBool::new(false),
    });
    let detector = FillDetector::new(skipping, FillDetectionConfig::default()).expect("valid");
    let result = detector.monitor(new_order(100), None).await;
    assert_eq!(result.verdict, Verdict::Filled);
    // Every read that reached the broker is counted; the skipped one is not.
    let reached = broker.calls().get_order_at.len() as u32;
    assert_eq!(result.api_calls[Endpoint::GetOrder], reached);
    assert_eq!(result.retries, 0, "a deferred poll is not retried");
}

/// The scripted broker behind a budget that skips the first order read,
/// as a budget with no turn for a routine poll does.
struct SkipFirstRead {
    inner: Arc<ScriptedBroker>,
    skipped: AtomicBool,
}

impl BrokerCalls for SkipFirstRead {
    async fn submit_order(&self, request: &OrderRequest) -> Result<Order, CallError> {
        Ok(Broker::submit_order(&*self.inner, request).await?)
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, CallError> {
        if !self.skipped.swap(true, Ordering::Relaxed) {
            return Err(CallError::NotSent {
                max_wait: Duration::from_millis(330),
            });
        }
        Ok(Broker::get_order(&*self.inner, order_id).await?)
    }

    async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<Order, BrokerError> {
        Broker::get_order_by_client_id(&*self.inner, client_order_id).await
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        Broker::cancel_order(&*self.inner, order_id).await
    }

    async fn replace_order(
        &self,
        order_id: &str,
        replace: &fillproof_engine::ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        Broker::replace_order(&*self.inner, order_id, replace).await
    }

    async fn get_position(&self, symbol: &str) -> Result<Option<Position>, BrokerError> {
        Broker::get_position(&*self.inner, symbol).await
    }

    async fn list_orders(
        &self,
        query: &fillproof_engine::OrderQuery,
    ) -> Result<Vec<Order>, CallError> {
        Ok(Broker::list_orders(&*self.inner, query).await?)
    }

    async fn fill_activities(
        &self,
        query: &fillproof_engine::ActivityQuery,
    ) -> Result<Vec<fillproof_engine::FillActivity>, CallError> {
        Ok(Broker::fill_activities(&*self.inner, query).await?)
    }
}

/// A broker that answers at once and logs each call as it arrives: its
/// name and the virtual milliseconds since the broker was made.
struct LogBroker {
    start: Instant,
    log: Mutex<Vec<(&'static str, u64)>>,
}

impl LogBroker {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            log: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, call: &'static str) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).expect("fits");
        self.log.lock().expect("lock").push((call, ms));
    }

    fn log(&self) -> Vec<(&'static str, u64)> {
        self.log.lock().expect("lock").clone()
    }
}

impl Broker for LogBroker {
    async fn submit_order(&self, _request: &OrderRequest) -> Result<Order, BrokerError> {
        self.note("submit");
        Ok(new_order(100))
    }

    async fn get_order(&self, _order_id: &str) -> Result<Order, BrokerError> {
        self.note("get_order");
        Ok(new_order(100))
    }

    async fn get_order_by_client_id(&self, _client_order_id: &str) -> Result<Order, BrokerError> {
        self.note("lookup");
        Ok(new_order(100))
    }

    async fn cancel_order(&self, _order_id: &str) -> Result<(), BrokerError> {
        self.note("cancel");
        Ok(())
    }

    async fn replace_order(
        &self,
        _order_id: &str,
        _replace: &fillproof_engine::ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        self.note("replace");
        Ok(new_order(100))
    }

    async fn get_position(&self, _symbol: &str) -> Result<Option<Position>, BrokerError> {
        self.note("position");
        Ok(None)
    }
}

/// A budget of one call a second in front of a [`LogBroker`], shedding
/// submissions that would wait longer than `shed_after`.
fn one_a_second(shed_after: Duration) -> Arc<RateLimitedBroker<Arc<LogBroker>>> {
    let limit = RateLimit {
        requests: 1,
        per: Duration::from_secs(1),
    };
    Arc::new(
        RateLimitedBroker::new(Arc::new(LogBroker::new()), Some(limit))
            .expect("limit")
            .with_submit_max_wait(shed_after),
    )
}

/// Starts a submission through `gate` now, in a task of its own.
fn submit(
    gate: &Arc<RateLimitedBroker<Arc<LogBroker>>>,
) -> tokio::task::JoinHandle<Result<Order, CallError>> {
    let gate = Arc::clone(gate);
    tokio::spawn(
        async move { with_priority(Priority::Submit, gate.submit_order(&request(100))).await },
    )
}

/// Four submissions queue at 0 s for the turns at 0, 1, 2 and 3 s. A
/// cancel and a final read issued at 0.5 s (deadline-critical: no priority
/// scope) take the turns at 1 and 2 s; the queued submissions go after
/// them, each moved back by two turns.
#[tokio::test(start_paused = true)]
async fn critical_calls_go_before_queued_submissions() {
    let gate = one_a_second(Duration::from_secs(60));
    let submissions: Vec<_> = (0..4).map(|_| submit(&gate)).collect();
    tokio::task::yield_now().await;
    fillproof_engine::clock::sleep(Duration::from_millis(500)).await;
    let critical = {
        let gate = Arc::clone(&gate);
        tokio::spawn(async move {
            gate.cancel_order(support::ORDER_ID).await.expect("cancel");
            gate.get_order(support::ORDER_ID).await.expect("final read");
        })
    };
    for submission in submissions {
        submission.await.expect("task").expect("sent");
    }
    critical.await.expect("task");
    assert_eq!(
        gate.inner().log(),
        [
            ("submit", 0),
            ("cancel", 1_000),
            ("get_order", 2_000),
            ("submit", 3_000),
            ("submit", 4_000),
            ("submit", 5_000),
        ]
    );
    assert_eq!(
        gate.submit_waits(),
        [0, 3_000, 4_000, 5_000].map(Duration::from_millis)
    );
}

/// A submission that a critical call would push beyond its longest wait
/// is shed, never sent; the turn it leaves goes to the next call, so no
/// turn is wasted.
#[tokio::test(start_paused = true)]
async fn a_submission_pushed_past_its_wait_is_shed() {
    let gate = one_a_second(Duration::from_secs(3));
    let submissions: Vec<_> = (0..4).map(|_| submit(&gate)).collect();
    tokio::task::yield_now().await;
    fillproof_engine::clock::sleep(Duration::from_millis(500)).await;
    gate.cancel_order(support::ORDER_ID).await.expect("cancel");
    let mut answers = Vec::new();
    for submission in submissions {
        answers.push(submission.await.expect("task"));
    }
    assert!(answers[..3].iter().all(Result::is_ok), "{answers:?}");
    assert!(
        matches!(answers[3], Err(CallError::NotSent { .. })),
        "{:?}",
        answers[3]
    );
    let _ = gate.get_position("QQQ").await;
    assert_eq!(
        gate.inner().log(),
        [
            ("submit", 0),
            ("cancel", 1_000),
            ("submit", 2_000),
            ("submit", 3_000),
            ("position", 4_000),
        ]
    );
}

/// With the budget booked five turns ahead by queued submissions, a
/// routine poll is skipped, but a catch-up read (after a reconnect) queues
/// and takes the first queued submission's turn; a critical call made
/// later still goes before it.
#[tokio::test(start_paused = true)]
async fn catch_up_reads_go_before_submissions_and_after_critical_calls() {
    let gate = one_a_second(Duration::from_secs(60));
    let submissions: Vec<_> = (0..5).map(|_| submit(&gate)).collect();
    tokio::task::yield_now().await;
    let skipped = with_priority(Priority::Routine, gate.get_order(support::ORDER_ID)).await;
    assert!(
        matches!(skipped, Err(CallError::NotSent { .. })),
        "{skipped:?}"
    );
    let catch_up = {
        let gate = Arc::clone(&gate);
        tokio::spawn(async move {
            with_priority(Priority::Catchup, gate.get_order(support::ORDER_ID)).await
        })
    };
    tokio::task::yield_now().await;
    fillproof_engine::clock::sleep(Duration::from_millis(500)).await;
    gate.cancel_order(support::ORDER_ID).await.expect("cancel");
    catch_up.await.expect("task").expect("catch-up read sent");
    for submission in submissions {
        submission.await.expect("task").expect("sent");
    }
    assert_eq!(
        gate.inner().log(),
        [
            ("submit", 0),
            ("cancel", 1_000),
            ("get_order", 2_000),
            ("submit", 3_000),
            ("submit", 4_000),
            ("submit", 5_000),
            ("submit", 6_000),
        ]
    );
}

/// Goal: a call that settles an order (a lookup by client order id, a
/// cancel, a position read) is never left unsent, whatever priority scope
/// the caller wraps it in: its result type has no "not sent". Method: queue
/// submissions at one call a second, then make each settling call inside a
/// routine and a submission scope; each goes at the next turn, before the
/// queued submissions, as an unscoped (critical) call does.
#[tokio::test(start_paused = true)]
async fn settling_calls_take_the_critical_turn_in_any_scope() {
    let gate = one_a_second(Duration::from_secs(60));
    let queued: Vec<_> = (0..3).map(|_| submit(&gate)).collect();
    tokio::task::yield_now().await;
    let position = with_priority(Priority::Routine, gate.get_position("SPY")).await;
    assert!(position.is_ok(), "position read went unsent: {position:?}");
    let lookup = with_priority(Priority::Submit, gate.get_order_by_client_id("c")).await;
    assert!(lookup.is_ok(), "lookup went unsent: {lookup:?}");
    let cancel = with_priority(Priority::Catchup, gate.cancel_order(support::ORDER_ID)).await;
    assert!(cancel.is_ok(), "cancel went unsent: {cancel:?}");
    for submission in queued {
        submission.await.expect("task").expect("sent");
    }
    let log = gate.inner().log();
    assert_eq!(
        &log[..4],
        [
            ("submit", 0),
            ("position", 1_000),
            ("lookup", 2_000),
            ("cancel", 3_000)
        ],
        "settling calls went after queued submissions: {log:?}"
    );
}
