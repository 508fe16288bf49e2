//! The engine's brackets against the simulated broker: a signal with a
//! stop loss and a take profit becomes a bracket; the engine watches both
//! exits, books the one that fills into its positions and P&L (equal to
//! the ledger's), and never leaves the other working on a flat position.

use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::{
    AuditLog, ExecutorConfig, Journal, MemorySink, OrderExecutor, Side, Signal, TimeInForce,
    Verdict, VirtualClock,
};
use fillproof_simulator::{BrokerModel, Scenario, SimBroker, TrueStatus};

mod journals;
use journals::{journal_of, resealed};
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
        stop_price: None,
        trail: None,
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

/// The orders `which` picks that still work at the broker now.
fn working(broker: &SimBroker, which: impl Fn(&fillproof_simulator::LedgerOrder) -> bool) -> usize {
    let now = broker.elapsed();
    broker.with_ledger(|l| {
        l.orders()
            .iter()
            .filter(|o| which(o) && !o.status_at(now).is_terminal())
            .count()
    })
}

/// True for a bracket's exit leg.
fn is_leg(order: &fillproof_simulator::LedgerOrder) -> bool {
    order.links.parent.is_some()
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
/// filled (its slippage measured against its own stop or limit) and the
/// other ended unfilled; the engine's position is flat and
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
    // The exit's slippage is against its own price: the stop's, or the
    // take profit's limit.
    let exit = filled[0];
    let slippage = exit.slippage.expect("a filled exit's slippage");
    let own_price: Decimal = match exit.avg_price {
        Some(p) if p < Decimal::from(100) => "99.60".parse().expect("price"),
        _ => "100.40".parse().expect("price"),
    };
    assert_eq!(slippage.expected_price, own_price, "{exit:?}");
    assert_eq!(Some(slippage.fill_price), exit.avg_price);
    let book = executor.positions();
    assert_eq!(book.position("QQQ").qty, Decimal::ZERO);
    let now = broker.elapsed();
    assert_eq!(book.realized_pnl(), ledger_pnl(&broker, now));
    assert_eq!(working(&broker, |_| true), 0);
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

/// An executor under `config` (with a 30 s watch of exits) on a broker
/// filling every order in 100 ms on a QQQ market that holds still at
/// $100, so that a bracket's exits work on until the watch ends.
fn still_market_executor(config: ExecutorConfig) -> Arc<OrderExecutor<SimBroker>> {
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
        exits_watched_for: Duration::from_secs(30),
        ..config
    };
    Arc::new(OrderExecutor::new(broker, config, audit, clock, 1).expect("config"))
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
    let executor = still_market_executor(ExecutorConfig {
        buying_power: Some(Decimal::from(2_000)),
        ..ExecutorConfig::default()
    });
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

/// Goal: a long bracket's working stop loss counts against the position
/// limit, as the broker holds the shares for it. Method: a limit of 10
/// shares; a bracket buys 10 QQQ (its exits, sells of 10, work on a
/// market that holds still); meanwhile a sale of 15 is refused by the
/// position limit (short 15 if the stop loss filled too), which without
/// the exits counted would end short 5 and pass; once the exits are
/// canceled, the same sale passes the risk rules.
#[tokio::test(start_paused = true)]
async fn a_long_brackets_stop_loss_counts_against_the_position_limit() {
    let mut config = ExecutorConfig::default();
    config.risk.max_position = Some(Decimal::from(10));
    let executor = still_market_executor(config);
    let long = Signal {
        stop_loss: Some("99.60".parse().expect("price")),
        take_profit: Some("100.40".parse().expect("price")),
        ..signal("long")
    };
    let run = {
        let executor = Arc::clone(&executor);
        tokio::spawn(async move { executor.execute(&long, Decimal::from(100)).await })
    };
    fillproof_engine::clock::sleep(Duration::from_secs(5)).await;
    let sell = |id: &str| Signal {
        side: Side::Sell,
        qty: Decimal::from(15),
        stop_loss: None,
        take_profit: None,
        ..signal(id)
    };
    let refused = executor
        .execute(&sell("while-working"), Decimal::from(100))
        .await;
    assert!(
        matches!(
            &refused,
            Err(fillproof_engine::ExecutionError::Risk(
                fillproof_engine::RiskViolation::MaxPosition { projected, .. }
            )) if *projected == Decimal::from(-15)
        ),
        "{refused:?}"
    );
    let result = run.await.expect("joined").expect("placed");
    assert!(
        result.exits.iter().all(|e| e.verdict != Verdict::Filled),
        "{:?}",
        result.exits
    );
    let after = executor.execute(&sell("after"), Decimal::from(100)).await;
    assert!(
        !matches!(&after, Err(fillproof_engine::ExecutionError::Risk(_))),
        "{after:?}"
    );
}

/// The slippage figure's own arithmetic, for `order` against the touch
/// at `from`: (average fill − touch) ÷ touch × 10,000, adverse positive.
fn slippage_from(
    broker: &SimBroker,
    order: &fillproof_simulator::LedgerOrder,
    from: Duration,
) -> f64 {
    let touch = fillproof_harness::measure::metrics::touch_at(
        broker.market(),
        &order.symbol,
        order.side,
        from,
    )
    .expect("quoted");
    let qty: Decimal = order.fills.iter().map(|f| f.qty).sum();
    let average = order.fills.iter().map(|f| f.qty * f.price).sum::<Decimal>() / qty;
    let bps = (average - touch) / touch * Decimal::from(10_000) * order.side.sign();
    rust_decimal::prelude::ToPrimitive::to_f64(&bps.round_dp(4)).expect("finite")
}

/// Goal: the slippage figure measures a stop from its trigger and a
/// bracket's leg from its activation, not from when the broker accepted
/// it (the move to the stop, or the entry's wait, is not the exit's
/// execution). Method: on a moving market, a bracket whose exits both
/// fill in time, and a sell stop 0.3% under the market: the stop's
/// figure is its fill against the bid when it triggered (differing by
/// more than 10 bps from one taken at acceptance), and the filled leg's
/// against the touch when the entry filled (a stop leg's, at its
/// trigger).
#[tokio::test(start_paused = true)]
async fn slippage_measures_a_stop_from_its_trigger_and_a_leg_from_its_activation() {
    use fillproof_engine::{Broker, OrderClass, OrderRequest, OrderType, StopLoss};
    let broker = broker("0s");
    let request = |id: &str, order_type| OrderRequest {
        client_order_id: id.into(),
        symbol: "QQQ".into(),
        qty: Decimal::from(10),
        side: Side::Sell,
        order_type,
        time_in_force: TimeInForce::Gtc,
        limit_price: None,
        extended_hours: false,
        stop_price: None,
        trail: None,
        order_class: OrderClass::Simple,
        take_profit: None,
        stop_loss: None,
        notional: None,
    };
    let stop = broker
        .submit_order(&OrderRequest {
            stop_price: Some("99.70".parse().expect("price")),
            ..request("stop", OrderType::Stop)
        })
        .await
        .expect("accepted");
    let bracket = broker
        .submit_order(&OrderRequest {
            side: Side::Buy,
            order_class: OrderClass::Bracket,
            take_profit: Some("100.40".parse().expect("price")),
            stop_loss: Some(StopLoss {
                stop_price: "99.60".parse().expect("price"),
                limit_price: None,
            }),
            ..request("bracket", OrderType::Market)
        })
        .await
        .expect("accepted");
    let end = Duration::from_secs(30 * 86_400);
    let measured = |order: &fillproof_simulator::LedgerOrder| {
        fillproof_harness::measure::metrics::order_slippage_bps(order, broker.market(), end)
            .expect("filled")
    };
    let stop = broker.with_ledger(|l| l.by_id(&stop.id).cloned().expect("stop"));
    let triggered = stop.triggered_at.expect("the stop triggered");
    assert_eq!(measured(&stop), slippage_from(&broker, &stop, triggered));
    let at_acceptance = slippage_from(&broker, &stop, stop.accepted_at);
    assert!(
        (measured(&stop) - at_acceptance).abs() > 10.0,
        "{} vs {at_acceptance}",
        measured(&stop)
    );
    let entry = broker.with_ledger(|l| l.by_id(&bracket.id).cloned().expect("entry"));
    let activated = entry.fills.last().expect("the entry filled").at;
    let leg = bracket
        .legs
        .iter()
        .map(|l| broker.with_ledger(|ledger| ledger.by_id(&l.id).cloned().expect("leg")))
        .find(|l| !l.fills.is_empty())
        .expect("an exit filled");
    let from = match leg.order_type {
        fillproof_engine::OrderType::Limit => activated,
        _ => leg.triggered_at.expect("a stop leg that filled triggered"),
    };
    assert!(from >= activated);
    assert_eq!(measured(&leg), slippage_from(&broker, &leg, from));
}

/// Goal: a signal with a stop price is sent as a stop order and the
/// engine measures its slippage from its stop. Method: on a moving
/// market, a buy stop 0.3% over it (watched up to a day): the broker's
/// order is a `stop` at that stop, it triggers and fills, the engine
/// reports the fill the ledger holds and its slippage is the fill's
/// distance past the stop.
#[tokio::test(start_paused = true)]
async fn a_stop_signal_is_sent_as_a_stop_and_measured_from_its_stop() {
    let broker = broker("0s");
    let clock = VirtualClock::new(broker.model().time_origin().epoch_unix_micros()).shared();
    let audit = Arc::new(AuditLog::new(
        Box::new(MemorySink::default()),
        Arc::clone(&clock),
    ));
    let mut config = ExecutorConfig::default();
    config.detection.timeout = Duration::from_secs(86_400);
    let executor =
        OrderExecutor::new(Arc::clone(&broker), config, audit, clock, 1).expect("config");
    let stop: Decimal = "100.30".parse().expect("price");
    let breakout = Signal {
        stop_price: Some(stop),
        stop_loss: None,
        take_profit: None,
        ..signal("breakout")
    };
    let result = executor
        .execute(&breakout, Decimal::from(100))
        .await
        .expect("placed");
    let order = broker.with_ledger(|l| l.by_id(&result.order_id).cloned().expect("order"));
    assert_eq!(order.order_type, fillproof_engine::OrderType::Stop);
    assert_eq!(order.stop_price, Some(stop));
    assert!(order.triggered_at.is_some(), "{order:?}");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, order.filled_qty_at(broker.elapsed()));
    let slippage = result.slippage.expect("a filled stop's slippage");
    assert_eq!(slippage.expected_price, stop);
    let past = (slippage.fill_price - stop) / stop * Decimal::from(10_000);
    assert_eq!(slippage.bps, past.round_dp(4));
}

/// A bracket on `broker` placed by an executor auditing to `sink`, which
/// a crash stops once the entry has filled and its exits work: returns
/// the journal as the crash left it. Checks that it did leave the exits
/// working (else the caller would prove nothing).
async fn crash_while_exits_work(
    broker: &Arc<SimBroker>,
    sink: &MemorySink,
    clock: &Arc<dyn fillproof_engine::Clock>,
) -> Journal {
    let audit = Arc::new(AuditLog::new(Box::new(sink.clone()), Arc::clone(clock)));
    let first = OrderExecutor::new(
        Arc::clone(broker),
        ExecutorConfig::default(),
        audit,
        Arc::clone(clock),
        1,
    )
    .expect("config")
    .with_trade_updates(&**broker);
    let task = tokio::spawn(async move {
        first
            .execute(&signal("crash-bracket"), Decimal::from(100))
            .await
    });
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    task.abort();
    let _ = task.await;
    assert_eq!(
        working(broker, is_leg),
        2,
        "the crash came while both exits worked"
    );
    journal_of(sink)
}

/// A fresh executor on `broker` going on from `journal` in `sink`.
fn restarted(
    broker: &Arc<SimBroker>,
    sink: &MemorySink,
    clock: &Arc<dyn fillproof_engine::Clock>,
    journal: &Journal,
) -> OrderExecutor<SimBroker> {
    let audit = AuditLog::resume(Box::new(sink.clone()), Arc::clone(clock), None, journal);
    OrderExecutor::new(
        Arc::clone(broker),
        ExecutorConfig::default(),
        Arc::new(audit),
        Arc::clone(clock),
        1,
    )
    .expect("config")
    .with_trade_updates(&**broker)
}

/// Goal: a bracket's exits that a crash left working are found and
/// watched by the fresh engine, and its book ends as the ledger's.
/// Method: the engine crashes a second after placing a bracket (the
/// entry filled, both exits working); its journal's `submit` record gives
/// the entry's exits, so `open_exits` lists the entry; the fresh engine's
/// `recover` reads the entry again with its legs and watches both: one
/// fills, the other is canceled, each booked and audited under the
/// entry (`exit_of`); the position is flat, realized P&L is the ledger's,
/// no order works, and the journal shows nothing left open.
#[tokio::test(start_paused = true)]
async fn a_brackets_exits_a_crash_left_working_are_watched_again() {
    let broker = broker("0s");
    let clock = VirtualClock::new(broker.model().time_origin().epoch_unix_micros()).shared();
    let sink = MemorySink::default();
    let journal = crash_while_exits_work(&broker, &sink, &clock).await;
    let open = journal.open_exits();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].entry.signal.client_order_id, "crash-bracket");
    assert!(open[0].ended.is_empty());
    let fresh = restarted(&broker, &sink, &clock, &journal);
    let recovery = fresh.recover(&journal).await;
    assert!(recovery.outcomes.is_empty(), "{recovery:?}");
    let [(entry, legs)] = recovery.exits.as_slice() else {
        panic!("one entry's exits: {recovery:?}");
    };
    assert_eq!(entry, "crash-bracket");
    assert_eq!(legs.len(), 2, "{legs:?}");
    assert_eq!(
        legs.iter().filter(|l| l.verdict == Verdict::Filled).count(),
        1,
        "{legs:?}"
    );
    let now = broker.elapsed();
    assert_eq!(fresh.positions().position("QQQ").qty, Decimal::ZERO);
    assert_eq!(fresh.positions().realized_pnl(), ledger_pnl(&broker, now));
    assert_eq!(working(&broker, |_| true), 0);
    let after = journal_of(&sink);
    assert!(after.open_exits().is_empty());
    let legs_recorded = after
        .intents()
        .into_iter()
        .filter(|i| i.exit_of.as_deref() == Some("crash-bracket") && i.concluded.is_some())
        .count();
    assert_eq!(legs_recorded, 2);
}

/// Goal: watching exits again rests on the journal's record of them: a
/// journal whose `submit` record lost the entry's exits leaves the legs
/// to nobody (the sabotage the restart figures must catch). Method: the
/// crash above; the journal's `submit` record stripped of its stop loss
/// and take profit and the chain sealed again; the fresh engine then has
/// no exits to find, and both legs still work after its recovery.
#[tokio::test(start_paused = true)]
async fn a_journal_without_the_entrys_exits_leaves_its_legs_unwatched() {
    let broker = broker("0s");
    let clock = VirtualClock::new(broker.model().time_origin().epoch_unix_micros()).shared();
    let sink = MemorySink::default();
    let journal = crash_while_exits_work(&broker, &sink, &clock).await;
    let tampered = resealed(
        &journal,
        |_| true,
        |record| {
            record.stop_loss = None;
            record.take_profit = None;
        },
    );
    assert!(tampered.open_exits().is_empty());
    let fresh = restarted(&broker, &MemorySink::default(), &clock, &tampered);
    let recovery = fresh.recover(&tampered).await;
    assert!(recovery.exits.is_empty(), "{recovery:?}");
    assert_eq!(working(&broker, is_leg), 2);
}
