//! The simulated trade_updates stream: events follow the ledger's truth,
//! each fault knob does what it says, disconnects lose events and announce
//! the reconnect, and the same seed gives the same stream.

use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_engine::{Broker, StreamItem, TradeUpdates};
use fillproof_simulator::{BrokerModel, Intent, Scenario, SimBroker, Workload};
use rust_decimal::Decimal;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

fn scenario(orders: u32, broker: &str) -> Scenario {
    let text = format!(
        "version: 1\nname: stream\nseed: 9\nworkload:\n  orders: {orders}\n  symbols: [QQQ]\n  qty: 100\n  reference_price: {{QQQ: \"100.00\"}}\nbroker:\n  account: {{buying_power: \"1000000000\"}}\n{broker}\n"
    );
    Scenario::parse(text.as_bytes(), "stream.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Places every order of `s` at time zero, runs `for_` of virtual time and
/// returns what the stream delivered, with delivery times.
async fn run(
    s: &Scenario,
    for_: Duration,
    cancel_at: Option<Duration>,
) -> (SimBroker, Vec<(Duration, StreamItem)>) {
    let broker = SimBroker::new(BrokerModel::from_scenario(s), s.seed, false);
    let mut items: UnboundedReceiver<StreamItem> = broker.subscribe();
    let intents: Vec<Intent> = Workload::new(s, s.seed, None).collect();
    let mut ids = Vec::new();
    for intent in &intents {
        broker.register(&intent.request.client_order_id, intent.index);
        ids.push(
            broker
                .submit_order(&intent.request)
                .await
                .expect("accepted")
                .id,
        );
    }
    if let Some(at) = cancel_at {
        sleep(at).await;
        for id in &ids {
            let _ = broker.cancel_order(id).await;
        }
    }
    let start = Instant::now();
    let mut seen = Vec::new();
    let end = start + for_;
    while let Ok(Some(item)) = tokio::time::timeout_at(end, items.recv()).await {
        seen.push((broker.elapsed(), item));
    }
    (broker, seen)
}

fn updates(items: &[(Duration, StreamItem)]) -> Vec<(Duration, &fillproof_engine::TradeUpdate)> {
    items
        .iter()
        .filter_map(|(at, item)| match item {
            StreamItem::Update(update) => Some((*at, &**update)),
            StreamItem::Reconnected => None,
        })
        .collect()
}

const PARTIAL: &str = "  fill:\n    delay: 1s\n    partial: {probability: 1, pieces: [3, 3], spacing: 500ms}\n  stream:\n    delay: 50ms";

/// With a fixed delay and no faults, each order's events are `new`, its
/// partial fills and `fill`, each 50 ms after the ledger's moment, with the
/// ledger's cumulative quantity, distinct execution ids and the true status.
#[tokio::test(start_paused = true)]
async fn events_follow_the_ledger() {
    let s = scenario(2, PARTIAL);
    let (broker, items) = run(&s, Duration::from_secs(10), None).await;
    let updates = updates(&items);
    assert_eq!(updates.len(), 2 * 4, "{updates:#?}");
    broker.with_ledger(|ledger| {
        for order in ledger.orders() {
            let mine: Vec<_> = updates
                .iter()
                .filter(|(_, u)| u.order.id == order.id)
                .collect();
            let events: Vec<&str> = mine.iter().map(|(_, u)| u.event.as_str()).collect();
            assert_eq!(events, ["new", "partial_fill", "partial_fill", "fill"]);
            let mut cumulative = Decimal::ZERO;
            for ((at, update), fill) in mine[1..].iter().zip(&order.fills) {
                cumulative += fill.qty;
                assert_eq!(*at, fill.at + Duration::from_millis(50));
                assert_eq!(update.order.filled_qty, cumulative);
                assert_eq!(update.qty, Some(fill.qty));
                assert_eq!(update.price, Some(fill.price));
            }
            assert_eq!(mine[3].1.order.status.as_str(), "filled");
            let mut ids: Vec<_> = mine
                .iter()
                .filter_map(|(_, u)| u.execution_id.clone())
                .collect();
            ids.dedup();
            assert_eq!(ids.len(), 3);
        }
    });
}

/// A cancel publishes `pending_cancel` and `canceled`; the fills it
/// prevented are never published.
#[tokio::test(start_paused = true)]
async fn cancel_events_and_prevented_fills() {
    let s = scenario(
        1,
        "  fill:\n    delay: 1s\n    partial: {probability: 1, pieces: [3, 3], spacing: 2s}\n  cancel: {processing: 500ms}\n  stream:\n    delay: 10ms",
    );
    let (_, items) = run(
        &s,
        Duration::from_secs(20),
        Some(Duration::from_millis(1_500)),
    )
    .await;
    let events: Vec<&str> = updates(&items)
        .iter()
        .map(|(_, u)| u.event.as_str())
        .collect();
    assert_eq!(
        events,
        ["new", "partial_fill", "pending_cancel", "canceled"]
    );
}

/// `drop: 1` delivers nothing; `duplicate: 1` delivers every event twice,
/// with the same execution id.
#[tokio::test(start_paused = true)]
async fn drop_and_duplicate_knobs() {
    let s = scenario(2, &format!("{PARTIAL}\n    drop: 1"));
    let (_, items) = run(&s, Duration::from_secs(10), None).await;
    assert!(items.is_empty(), "{items:#?}");

    let s = scenario(2, &format!("{PARTIAL}\n    duplicate: 1"));
    let (_, items) = run(&s, Duration::from_secs(10), None).await;
    let updates = updates(&items);
    assert_eq!(updates.len(), 2 * 4 * 2);
    let fills = updates
        .iter()
        .filter(|(_, u)| u.execution_id.is_some())
        .count();
    let mut ids: Vec<_> = updates
        .iter()
        .filter_map(|(_, u)| u.execution_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(fills, 2 * ids.len());
}

/// `reorder: 1` holds events back, so some arrive after a later event of
/// the same order.
#[tokio::test(start_paused = true)]
async fn reorder_knob_reorders() {
    let s = scenario(20, &format!("{PARTIAL}\n    reorder: 1"));
    let (_, items) = run(&s, Duration::from_secs(20), None).await;
    let updates = updates(&items);
    let out_of_order = updates.windows(2).filter(|w| {
        w[0].1.order.id == w[1].1.order.id && w[0].1.order.filled_qty > w[1].1.order.filled_qty
    });
    assert!(out_of_order.count() > 0);
}

/// A stream outage from 1.2 s to 1.8 s loses the events delivered in it
/// and announces the reconnect at 1.8 s.
#[tokio::test(start_paused = true)]
async fn outage_loses_events_and_announces_the_reconnect() {
    let s = scenario(
        1,
        &format!("{PARTIAL}\n    outages: [{{at: 1200ms, for: 600ms}}]"),
    );
    let (_, items) = run(&s, Duration::from_secs(10), None).await;
    let described: Vec<(u128, &str)> = items
        .iter()
        .map(|(at, item)| {
            let name = match item {
                StreamItem::Update(u) => u.event.as_str(),
                StreamItem::Reconnected => "reconnected",
            };
            (at.as_millis(), name)
        })
        .collect();
    // Fills at 1.0, 1.5 and 2.0 s, delivered 50 ms later: the 1.55 s one
    // falls in the outage.
    assert_eq!(
        described,
        [
            (50, "new"),
            (1_050, "partial_fill"),
            (1_800, "reconnected"),
            (2_050, "fill")
        ]
    );
}

/// The same seed gives the same stream, item for item and instant for
/// instant, with every fault knob on.
#[tokio::test(start_paused = true)]
async fn same_seed_same_stream() {
    let knobs = "\n    delay: {lognormal: {median: 40ms, p99: 400ms}}\n    drop: 0.1\n    duplicate: 0.1\n    reorder: 0.2\n    disconnects: {every: 3s, down_for: 500ms}";
    let broker = format!(
        "  fill:\n    delay: {{exponential: {{mean: 2s}}}}\n    partial: {{probability: 0.5, pieces: [2, 4], spacing: 300ms}}\n  stream:{knobs}"
    );
    let s = scenario(50, &broker);
    let (_, first) = run(&s, Duration::from_secs(30), None).await;
    let (_, second) = run(&s, Duration::from_secs(30), None).await;
    assert!(first.len() > 100);
    assert_eq!(first, second);
}

/// A stream flapping every millisecond (up 1 ms, down 1 ms) for ten
/// virtual minutes announces each of its reconnects, one every 2 ms, and
/// the events delivered while it is up arrive: the run finishes, where a scan of
/// every disconnect drawn so far for each delivery and each reconnect made
/// it quadratic in virtual time.
#[tokio::test(start_paused = true)]
async fn a_stream_flapping_every_millisecond_runs_to_the_end() {
    let s = scenario(
        1,
        // `check` bounds the flap rate by the run's length: a 2 ms cycle
        // fits a run of at most 2,000 s.
        "  fill:\n    delay: 300s\n  stream:\n    disconnects: {every: 1ms, down_for: 1ms}\nlimits:\n  max_virtual_time: 30m",
    );
    let (_, items) = run(&s, Duration::from_secs(600), None).await;
    let reconnects = items
        .iter()
        .filter(|(_, item)| matches!(item, StreamItem::Reconnected))
        .count();
    // At 2 ms, 4 ms, ... up to the last before 600 s.
    assert_eq!(reconnects, 299_999);
    let events: Vec<(u128, &str)> = updates(&items)
        .iter()
        .map(|(at, u)| (at.as_micros(), u.event.as_str()))
        .collect();
    // Accepted at 0 and filled at 300 s, each delivered at once, while the
    // stream is up (from 0 to 1 ms, 2 to 3 ms, and so on).
    assert_eq!(events, [(0, "new"), (300_000_000, "fill")]);
}
