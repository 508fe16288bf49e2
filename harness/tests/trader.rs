//! A trader's cancel and replace of a working order, through the engine,
//! against the simulated broker: the cancel is verified and a fill that
//! wins its race is reported; a replace is followed across the chain and
//! never placed twice, even when its answer is lost.

use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_engine::{
    AuditLog, ExecutorConfig, MemorySink, OrderExecutor, ReplaceRequest, Side, Signal, TimeInForce,
    Verdict, VirtualClock,
};
use fillproof_simulator::{BrokerModel, Scenario, SimBroker};
use rust_decimal::Decimal;

/// QQQ held at $100 (quoted 99.99/100.01), orders filling after `delay`,
/// with `broker` lines added to the broker section.
fn broker(delay: &str, broker: &str) -> Arc<SimBroker> {
    let text = format!(
        "version: 1\nname: trader\nseed: 5\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {{QQQ: \"100.00\"}}\nbroker:\n  fill: {{probability: 1, delay: {delay}}}\n{broker}market:\n  hours: always\n  symbols:\n    QQQ: {{quote: {{spread_bps: 2}}}}\n"
    );
    let s = Scenario::parse(text.as_bytes(), "trader.yaml", None).expect("scenario");
    Arc::new(SimBroker::new(
        BrokerModel::from_scenario(&s),
        s.seed,
        false,
    ))
}

fn executor(broker: &Arc<SimBroker>) -> Arc<OrderExecutor<SimBroker>> {
    let clock = VirtualClock::new(broker.model().time_origin().epoch_unix_micros()).shared();
    let audit = Arc::new(AuditLog::new(
        Box::new(MemorySink::default()),
        Arc::clone(&clock),
    ));
    let config = ExecutorConfig {
        detection: fillproof_engine::FillDetectionConfig {
            timeout: Duration::from_secs(600),
            ..Default::default()
        },
        ..ExecutorConfig::default()
    };
    Arc::new(
        OrderExecutor::new(Arc::clone(broker), config, audit, clock, 1)
            .expect("config")
            .with_trade_updates(&**broker),
    )
}

fn limit_buy(id: &str, limit: &str) -> Signal {
    Signal {
        stop_price: None,
        trail: None,
        client_order_id: id.into(),
        trader_id: "t".into(),
        symbol: "QQQ".into(),
        side: Side::Buy,
        qty: Decimal::from(10),
        limit_price: Some(limit.parse().expect("price")),
        stop_loss: None,
        take_profit: None,
        time_in_force: TimeInForce::Gtc,
        extended_hours: false,
    }
}

/// Goal: a trader's cancel is verified. Method: a buy resting under the
/// market; the trader cancels it at 1 s; the result is not filled, with
/// the cancel's outcome, and the ledger shows it canceled.
#[tokio::test(start_paused = true)]
async fn a_traders_cancel_is_verified() {
    let broker = broker("0s", "");
    let executor = executor(&broker);
    let run = {
        let executor = Arc::clone(&executor);
        tokio::spawn(async move {
            executor
                .execute(&limit_buy("c", "99.00"), Decimal::from(100))
                .await
        })
    };
    sleep(Duration::from_secs(1)).await;
    assert!(executor.cancel("c"), "the order is working");
    let result = run.await.expect("joined").expect("placed");
    assert_eq!(result.verdict, Verdict::NotFilled, "{result:?}");
    assert!(result.cancel.is_some());
    let status = broker.with_ledger(|l| l.by_client_id("c").map(|o| o.status_at(broker.elapsed())));
    assert_eq!(status, Some(fillproof_simulator::TrueStatus::Canceled));
    assert!(!executor.cancel("c"), "nothing left to cancel");
}

/// Goal: a fill that wins the race with a trader's cancel is reported.
/// Method: a marketable buy filling at 1.5 s; the trader cancels at 1 s,
/// the broker takes 2 s to cancel: the fill lands first and the result is
/// filled, with the ledger's quantity.
#[tokio::test(start_paused = true)]
async fn a_fill_that_wins_the_cancel_race_is_reported() {
    let broker = broker("1500ms", "  cancel: {processing: 2s}\n");
    let executor = executor(&broker);
    let run = {
        let executor = Arc::clone(&executor);
        tokio::spawn(async move {
            executor
                .execute(&limit_buy("race", "101.00"), Decimal::from(100))
                .await
        })
    };
    sleep(Duration::from_secs(1)).await;
    assert!(executor.cancel("race"));
    let result = run.await.expect("joined").expect("placed");
    assert_eq!(result.verdict, Verdict::Filled, "{result:?}");
    assert_eq!(result.filled_qty, Decimal::from(10));
    assert_eq!(executor.positions().position("QQQ").qty, Decimal::from(10));
}

/// Goal: a replace is followed across the chain, and its lost answer
/// never makes a second order. Method: a buy resting at 99.00; the trader
/// replaces it at 1 s with a marketable 100.50 limit, every replace's
/// answer lost: the engine finds the replacement by its client order id,
/// follows it and reports it filled at the ledger's price; the ledger
/// holds exactly one replacement.
#[tokio::test(start_paused = true)]
async fn a_replace_is_followed_and_never_placed_twice() {
    let broker = broker(
        "0s",
        "  faults:\n    replace: {lost_response: 1.0, timeout_after: 1s}\n",
    );
    let executor = executor(&broker);
    let run = {
        let executor = Arc::clone(&executor);
        tokio::spawn(async move {
            executor
                .execute(&limit_buy("move", "99.00"), Decimal::from(100))
                .await
        })
    };
    sleep(Duration::from_secs(1)).await;
    let change = ReplaceRequest {
        limit_price: Some("100.50".parse().expect("price")),
        ..ReplaceRequest::default()
    };
    let new = executor.replace("move", change).await.expect("replaced");
    assert_eq!(new.client_order_id, "move-v1");
    let result = run.await.expect("joined").expect("placed");
    assert_eq!(result.verdict, Verdict::Filled, "{result:?}");
    assert_eq!(result.order_id, new.id);
    let (copies, price) = broker.with_ledger(|l| {
        let copies = l
            .orders()
            .iter()
            .filter(|o| o.client_order_id.starts_with("move-v"))
            .count();
        (
            copies,
            l.by_id(&new.id)
                .and_then(|o| o.avg_price_at(broker.elapsed())),
        )
    });
    assert_eq!(copies, 1);
    assert_eq!(result.avg_price, price);
    assert_eq!(executor.positions().position("QQQ").qty, Decimal::from(10));
}

/// Goal: a cancel sent before the submit is answered is not dropped.
/// Method: a submit that takes 500 ms to reach the broker; the trader
/// cancels 10 ms after handing the order over: the engine cancels it as
/// soon as it is placed, and the ledger shows it canceled unfilled.
#[tokio::test(start_paused = true)]
async fn a_cancel_before_the_submit_is_answered_is_kept() {
    let broker = broker(
        "2s",
        "  latency: {submit: {request: 500ms, response: 10ms}}\n",
    );
    let executor = executor(&broker);
    let run = {
        let executor = Arc::clone(&executor);
        tokio::spawn(async move {
            executor
                .execute(&limit_buy("early", "101.00"), Decimal::from(100))
                .await
        })
    };
    sleep(Duration::from_millis(10)).await;
    assert!(executor.cancel("early"), "handed over, so cancelable");
    let result = run.await.expect("joined").expect("placed");
    assert_eq!(result.verdict, Verdict::NotFilled, "{result:?}");
    let filled = broker.with_ledger(|l| {
        l.by_client_id("early")
            .map(|o| o.filled_qty_at(broker.elapsed()))
    });
    assert_eq!(filled, Some(Decimal::ZERO));
}
