//! Stream-first detection against a scripted trade-updates stream beside
//! the scripted REST broker: stream events settle orders without reads,
//! duplicates and reordering never double-count, a reconnect or a quiet
//! stream sends the engine to REST, and a closed stream falls back to
//! polling.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fillproof_engine::clock::sleep_until;
use fillproof_engine::{
    Decimal, FillDetectionConfig, FillDetector, Order, OrderStatus, PollingConfig, StreamItem,
    TradeEvent, TradeUpdate, TradeUpdates, Verdict,
};
use support::{Script, ScriptedBroker, change, new_order, request};
use tokio::sync::mpsc;
use tokio::time::Instant;

const LATENCY: Duration = Duration::from_millis(40);

/// A stream that sends scripted items at scripted times (from its creation)
/// and then stays open, or closes when `close` is set.
struct ScriptedStream {
    start: Instant,
    items: Mutex<Vec<(Duration, StreamItem)>>,
    close: bool,
}

impl ScriptedStream {
    fn new(items: Vec<(u64, StreamItem)>, close: bool) -> Self {
        Self {
            start: Instant::now(),
            items: Mutex::new(
                items
                    .into_iter()
                    .map(|(ms, item)| (Duration::from_millis(ms), item))
                    .collect(),
            ),
            close,
        }
    }
}

impl TradeUpdates for ScriptedStream {
    fn subscribe(&self) -> mpsc::UnboundedReceiver<StreamItem> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let items = std::mem::take(&mut *self.items.lock().expect("lock"));
        let start = self.start;
        let close = self.close;
        tokio::spawn(async move {
            for (at, item) in items {
                sleep_until(start + at).await;
                let _ = sender.send(item);
            }
            if !close {
                // Stay open: the sender lives as long as the test.
                std::future::pending::<()>().await;
            }
        });
        receiver
    }
}

/// A trade update of order `new_order(100)`: `event` with `filled` done,
/// execution `execution` of `qty` when given.
fn update(event: TradeEvent, filled: i64, execution: Option<(&str, i64)>) -> StreamItem {
    let mut order: Order = new_order(100);
    order.filled_qty = Decimal::from(filled);
    order.filled_avg_price = (filled > 0).then(|| Decimal::from(590));
    order.status = match event {
        TradeEvent::Fill => OrderStatus::Filled,
        TradeEvent::PartialFill => OrderStatus::PartiallyFilled,
        TradeEvent::Canceled => OrderStatus::Canceled,
        TradeEvent::PendingCancel => OrderStatus::PendingCancel,
        _ => OrderStatus::New,
    };
    StreamItem::Update(Box::new(TradeUpdate {
        event,
        order,
        execution_id: execution.map(|(id, _)| id.to_owned()),
        qty: execution.map(|(_, qty)| Decimal::from(qty)),
        price: execution.map(|_| Decimal::from(590)),
        position_qty: None,
        at: fillproof_engine::Timestamp::from_unix_micros(0),
    }))
}

fn hybrid(timeout_s: u64, safety_s: u64) -> FillDetectionConfig {
    FillDetectionConfig {
        timeout: Duration::from_secs(timeout_s),
        polling: PollingConfig::Hybrid {
            safety: Duration::from_secs(safety_s),
        },
        ..FillDetectionConfig::default()
    }
}

/// The broker (creating the order on submit, following `script`) and a
/// hybrid detector listening to `stream`.
fn setup(
    script: Script,
    stream: &ScriptedStream,
    config: FillDetectionConfig,
) -> (Arc<ScriptedBroker>, FillDetector<ScriptedBroker>) {
    let broker = Arc::new(ScriptedBroker::empty(new_order(100), script, LATENCY));
    let detector = FillDetector::new(Arc::clone(&broker), config)
        .expect("valid")
        .with_trade_updates(stream);
    (broker, detector)
}

fn filled_at(ms: u64) -> Script {
    Script {
        changes: vec![change(ms, "filled", 100, Some("590"))],
        ..Script::default()
    }
}

/// A fill event settles the order as it arrives: no read at all.
#[tokio::test(start_paused = true)]
async fn stream_fill_needs_no_read() {
    let stream = ScriptedStream::new(
        vec![(1_050, update(TradeEvent::Fill, 100, Some(("e1", 100))))],
        false,
    );
    let (broker, detector) = setup(filled_at(1_000), &stream, hybrid(60, 15));
    let started = Instant::now();
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, Decimal::from(100));
    assert_eq!(started.elapsed(), Duration::from_millis(1_050));
    assert!(broker.calls().get_order_at.is_empty(), "no REST read");
}

/// The same execution twice, and a partial fill delivered after the fill
/// that completed the order: counted once, never shrunk.
#[tokio::test(start_paused = true)]
async fn duplicates_and_reordering_never_double_count() {
    let stream = ScriptedStream::new(
        vec![
            (500, update(TradeEvent::PartialFill, 40, Some(("e1", 40)))),
            (510, update(TradeEvent::PartialFill, 40, Some(("e1", 40)))),
            (900, update(TradeEvent::Fill, 100, Some(("e2", 60)))),
            (950, update(TradeEvent::PartialFill, 40, Some(("e1", 40)))),
        ],
        false,
    );
    let (_broker, detector) = setup(filled_at(800), &stream, hybrid(60, 15));
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, Decimal::from(100));

    // Only the partial, twice, then the broker cancels: 40, not 80.
    let stream = ScriptedStream::new(
        vec![
            (500, update(TradeEvent::PartialFill, 40, Some(("e1", 40)))),
            (600, update(TradeEvent::PartialFill, 40, Some(("e1", 40)))),
            (700, update(TradeEvent::Canceled, 40, None)),
        ],
        false,
    );
    let script = Script {
        changes: vec![
            change(450, "partially_filled", 40, Some("590")),
            change(650, "canceled", 40, Some("590")),
        ],
        ..Script::default()
    };
    let (_broker, detector) = setup(script, &stream, hybrid(60, 15));
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::PartiallyFilled);
    assert_eq!(result.filled_qty, Decimal::from(40));
}

/// The fill event is lost in a disconnect; on the reconnect the engine
/// reads the order over REST and finds the fill.
#[tokio::test(start_paused = true)]
async fn reconnect_sends_the_engine_to_rest() {
    let stream = ScriptedStream::new(vec![(2_000, StreamItem::Reconnected)], false);
    let (broker, detector) = setup(filled_at(1_000), &stream, hybrid(60, 15));
    let started = Instant::now();
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(broker.calls().get_order_at, [Duration::from_millis(2_040)]);
    assert!(started.elapsed() < Duration::from_millis(2_100));
}

/// A stream flapping every millisecond, in two storms (501 reconnects
/// from 2 s to 2.5 s, 201 from 8 s to 8.2 s; the fill at 8.1 s is lost in
/// the second): each storm costs two reads, one at its first reconnect and
/// one for the rest once it has been over for a second, not a read per
/// reconnect, and that second read finds the fill the storm lost.
#[tokio::test(start_paused = true)]
async fn a_reconnect_storm_is_read_once_more_not_per_reconnect() {
    let storm =
        |from_ms: u64, to_ms: u64| (from_ms..=to_ms).map(|ms| (ms, StreamItem::Reconnected));
    let stream = ScriptedStream::new(
        storm(2_000, 2_500).chain(storm(8_000, 8_200)).collect(),
        false,
    );
    let (broker, detector) = setup(filled_at(8_100), &stream, hybrid(60, 15));
    let started = Instant::now();
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(
        broker.calls().get_order_at,
        [2_040, 3_540, 8_040, 9_240].map(Duration::from_millis)
    );
    assert_eq!(started.elapsed(), Duration::from_millis(9_240));
}

/// A stream quiet on the order for the safety interval: one REST read.
#[tokio::test(start_paused = true)]
async fn quiet_stream_gets_a_safety_read() {
    let stream = ScriptedStream::new(Vec::new(), false);
    let (broker, detector) = setup(filled_at(1_000), &stream, hybrid(60, 5));
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    let reads = broker.calls().get_order_at;
    assert_eq!(reads.len(), 1, "{reads:?}");
    // Submitted at 40 ms, quiet for 5 s, read 40 ms later.
    assert_eq!(reads[0], Duration::from_millis(5_080));
}

/// A stream that closes leaves the order to polling on the safety
/// schedule, and it is still found.
#[tokio::test(start_paused = true)]
async fn closed_stream_falls_back_to_polling() {
    let stream = ScriptedStream::new(Vec::new(), true);
    let (broker, detector) = setup(filled_at(7_000), &stream, hybrid(60, 2));
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert!(broker.calls().get_order_at.len() >= 3);
}

/// REST lagging behind the stream never shrinks what the stream showed:
/// the stream saw 60 filled at 1 s; the REST view lags, so the final
/// verification at the 10 s deadline reads 0 filled and, after the cancel,
/// `canceled` with 0 filled. The engine ends with the 60 the broker filled,
/// not "not filled".
#[tokio::test(start_paused = true)]
async fn lagging_rest_never_shrinks_a_stream_fill() {
    let stream = ScriptedStream::new(
        vec![(1_000, update(TradeEvent::PartialFill, 60, Some(("e1", 60))))],
        false,
    );
    let script = Script {
        changes: vec![change(20_000, "partially_filled", 60, Some("590"))],
        on_cancel: vec![change(100, "canceled", 0, None)],
        ..Script::default()
    };
    let (broker, detector) = setup(script, &stream, hybrid(10, 60));
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::PartiallyFilled);
    assert_eq!(result.filled_qty, Decimal::from(60));
    assert!(!broker.calls().get_order_at.is_empty(), "REST was read");
}

/// Every execution the stream delivered makes up the result, each with its
/// own price, even when the fill event overtakes a partial one (the verdict
/// waits briefly for it); with an execution missing, none is reported and
/// the fill is booked at its average price.
#[tokio::test(start_paused = true)]
async fn executions_are_reported_when_complete() {
    let stream = ScriptedStream::new(
        vec![
            (900, update(TradeEvent::Fill, 100, Some(("e2", 60)))),
            (1_300, update(TradeEvent::PartialFill, 40, Some(("e1", 40)))),
        ],
        false,
    );
    let (_broker, detector) = setup(filled_at(800), &stream, hybrid(60, 15));
    let started = Instant::now();
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    let ids: Vec<&str> = result.executions.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e2", "e1"]);
    assert_eq!(started.elapsed(), Duration::from_millis(1_300));

    let stream = ScriptedStream::new(
        vec![(900, update(TradeEvent::Fill, 100, Some(("e2", 60))))],
        false,
    );
    let (_broker, detector) = setup(filled_at(800), &stream, hybrid(60, 15));
    let started = Instant::now();
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert!(result.executions.is_empty(), "{:?}", result.executions);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(2_900),
        "waited 2 s, no more"
    );
}

/// A safety read answered with a permanent error ends the watch at once as
/// unresolved, not after more reads; a transient one is just skipped.
#[tokio::test(start_paused = true)]
async fn safety_read_failing_for_good_is_unresolved() {
    let script = Script {
        get_errors: [fillproof_engine::BrokerError::NotFound {
            message: "order not found".into(),
        }]
        .into(),
        ..Script::default()
    };
    let stream = ScriptedStream::new(Vec::new(), false);
    let (broker, detector) = setup(script, &stream, hybrid(60, 5));
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Unresolved);
    assert!(
        result.reason.contains("failed permanently"),
        "{}",
        result.reason
    );
    assert_eq!(broker.calls().get_order_at.len(), 1);

    let script = Script {
        get_errors: [support::unavailable(); 1].into_iter().collect(),
        changes: vec![change(1_000, "filled", 100, Some("590"))],
        ..Script::default()
    };
    let stream = ScriptedStream::new(Vec::new(), false);
    let config = FillDetectionConfig {
        retry: fillproof_engine::RetryConfig {
            max_retries: 0,
            ..fillproof_engine::RetryConfig::default()
        },
        ..hybrid(60, 5)
    };
    let (broker, detector) = setup(script, &stream, config);
    let result = detector.execute(&request(100), None).await.expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(
        broker.calls().get_order_at.len(),
        2,
        "the next safety read found it"
    );
}
