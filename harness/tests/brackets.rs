//! The engine's brackets against the simulated broker: a signal with a
//! stop loss and a take profit becomes a bracket; the engine watches both
//! exits, books the one that fills into its positions and P&L (equal to
//! the ledger's), and never leaves the other working on a flat position.

use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::{
    AuditLog, ExecutorConfig, MemorySink, OrderExecutor, Side, Signal, TimeInForce, Verdict,
    VirtualClock,
};
use fillproof_simulator::{BrokerModel, Scenario, SimBroker, TrueStatus};
use rust_decimal::Decimal;

/// QQQ at $100 on a moving market (always open), fills after `delay`,
/// the broker canceling the other exit `oco_delay` after one fills.
fn broker(oco_delay: &str) -> Arc<SimBroker> {
    let text = format!(
        "version: 1\nname: brackets\nseed: 21\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {{QQQ: \"100.00\"}}\nbroker:\n  fill: {{probability: 1, delay: 200ms}}\n  cancel: {{oco_delay: {oco_delay}}}\nmarket:\n  hours: always\n  symbols:\n    QQQ: {{volatility: 0.8, quote: {{spread_bps: 2}}}}\n"
    );
    let s = Scenario::parse(text.as_bytes(), "brackets.yaml", None).expect("scenario");
    Arc::new(SimBroker::new(
        BrokerModel::from_scenario(&s),
        s.seed,
        false,
    ))
}

fn executor(broker: &Arc<SimBroker>) -> OrderExecutor<SimBroker> {
    let clock = VirtualClock::new(broker.model().time_origin().epoch_unix_micros()).shared();
    let audit = Arc::new(AuditLog::new(
        Box::new(MemorySink::default()),
        Arc::clone(&clock),
    ));
    let executor = OrderExecutor::new(
        Arc::clone(broker),
        ExecutorConfig::default(),
        audit,
        clock,
        1,
    )
    .expect("config");
    executor.with_trade_updates(&**broker)
}

fn signal(id: &str) -> Signal {
    Signal {
        client_order_id: id.into(),
        trader_id: "t".into(),
        symbol: "QQQ".into(),
        side: Side::Buy,
        qty: Decimal::from(10),
        limit_price: None,
        stop_loss: Some("99.60".parse().expect("price")),
        take_profit: Some("100.40".parse().expect("price")),
        time_in_force: TimeInForce::Gtc,
        extended_hours: false,
    }
}

/// Realized P&L of QQQ in the ledger by `t`: sells' proceeds less buys'
/// cost, for a position that ends flat.
fn ledger_pnl(broker: &SimBroker, t: Duration) -> Decimal {
    broker.with_ledger(|ledger| {
        ledger
            .orders()
            .iter()
            .flat_map(|o| o.fills_by(t).map(move |f| -o.side.sign() * f.qty * f.price))
            .sum()
    })
}

/// Goal: a bracket's exit is watched and booked, and the book equals the
/// ledger. Method: a buy signal with a stop loss and a take profit
/// becomes a bracket; the engine's result lists both exits, exactly one
/// filled and the other ended unfilled; the engine's position is flat and
/// its realized P&L equals the ledger's; no leg is left working.
#[tokio::test(start_paused = true)]
async fn a_brackets_exit_is_booked_and_the_book_equals_the_ledger() {
    let broker = broker("0s");
    let executor = executor(&broker);
    let result = executor
        .execute(&signal("bracket-0"), Decimal::from(100))
        .await
        .expect("placed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.exits.len(), 2, "{result:?}");
    let filled: Vec<_> = result
        .exits
        .iter()
        .filter(|e| e.verdict == Verdict::Filled)
        .collect();
    assert_eq!(filled.len(), 1, "{:?}", result.exits);
    assert!(result.exits.iter().any(|e| e.verdict == Verdict::NotFilled));
    let book = executor.positions();
    assert_eq!(book.position("QQQ").qty, Decimal::ZERO);
    let now = broker.elapsed();
    assert_eq!(book.realized_pnl(), ledger_pnl(&broker, now));
    let open_legs = broker.with_ledger(|l| {
        l.orders()
            .iter()
            .filter(|o| !o.status_at(now).is_terminal())
            .count()
    });
    assert_eq!(open_legs, 0);
}

/// Goal: the engine never leaves an exit working on a flat position, even
/// when the broker is slow to cancel it. Method: the broker cancels the
/// other exit an hour after one fills; the engine cancels it itself after
/// its 5 s grace, and the ledger shows it canceled within a minute of
/// the winner's fill.
#[tokio::test(start_paused = true)]
async fn the_engine_cancels_an_exit_the_broker_leaves_working() {
    let broker = broker("1h");
    let executor = executor(&broker);
    let result = executor
        .execute(&signal("slow-oco"), Decimal::from(100))
        .await
        .expect("placed");
    let winner = result
        .exits
        .iter()
        .find(|e| e.verdict == Verdict::Filled)
        .expect("one exit filled");
    let loser = result
        .exits
        .iter()
        .find(|e| e.verdict != Verdict::Filled)
        .expect("the other");
    assert!(loser.cancel.is_some(), "the engine canceled it: {loser:?}");
    let (won_at, loser_status) = broker.with_ledger(|l| {
        let won = l.by_id(&winner.order_id).expect("winner").fills[0].at;
        let lost = l.by_id(&loser.order_id).expect("loser");
        (won, lost.status_at(won + Duration::from_secs(60)))
    });
    assert_eq!(loser_status, TrueStatus::Canceled, "won at {won_at:?}");
    assert_eq!(executor.positions().position("QQQ").qty, Decimal::ZERO);
}

/// Goal: a short bracket's exits hold buying power while they work, as
/// the broker's do. Method: $2,000 of buying power; a short bracket
/// sells 10 QQQ at $100 (its exits are buys, the stop at $100.40, on a
/// market that holds still, so they work on); meanwhile a buy of 20 at
/// $100 ($2,000) is refused for want of buying power, which without the
/// exits' hold the sale's proceeds would cover; once the exits are
/// canceled, the same buy is admitted.
#[tokio::test(start_paused = true)]
async fn a_short_brackets_exits_hold_buying_power() {
    let text = "version: 1\nname: hold\nseed: 4\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\nbroker:\n  fill: {probability: 1, delay: 100ms}\nmarket:\n  hours: always\n  symbols:\n    QQQ: {volatility: 0, quote: {spread_bps: 2}}\n";
    let s = Scenario::parse(text.as_bytes(), "hold.yaml", None).expect("scenario");
    let broker = Arc::new(SimBroker::new(
        BrokerModel::from_scenario(&s),
        s.seed,
        false,
    ));
    let clock = VirtualClock::new(broker.model().time_origin().epoch_unix_micros()).shared();
    let audit = Arc::new(AuditLog::new(
        Box::new(MemorySink::default()),
        Arc::clone(&clock),
    ));
    let config = ExecutorConfig {
        buying_power: Some(Decimal::from(2_000)),
        exits_watched_for: Duration::from_secs(30),
        ..ExecutorConfig::default()
    };
    let executor =
        Arc::new(OrderExecutor::new(Arc::clone(&broker), config, audit, clock, 1).expect("config"));
    let short = Signal {
        side: Side::Sell,
        stop_loss: Some("100.40".parse().expect("price")),
        take_profit: Some("99.60".parse().expect("price")),
        ..signal("short")
    };
    let run = {
        let executor = Arc::clone(&executor);
        tokio::spawn(async move { executor.execute(&short, Decimal::from(100)).await })
    };
    fillproof_engine::clock::sleep(Duration::from_secs(5)).await;
    let buy = |id: &str| Signal {
        qty: Decimal::from(20),
        limit_price: Some(Decimal::from(100)),
        stop_loss: None,
        take_profit: None,
        ..signal(id)
    };
    let refused = executor
        .execute(&buy("while-held"), Decimal::from(100))
        .await;
    assert!(
        matches!(
            &refused,
            Err(fillproof_engine::ExecutionError::Validation(_))
        ),
        "{refused:?}"
    );
    let result = run.await.expect("joined").expect("placed");
    assert!(
        result.exits.iter().all(|e| e.verdict != Verdict::Filled),
        "{:?}",
        result.exits
    );
    let admitted = executor.execute(&buy("after"), Decimal::from(100)).await;
    assert!(admitted.is_ok(), "{admitted:?}");
}
