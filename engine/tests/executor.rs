//! The order executor against the scripted broker: the audit record is on
//! disk before the broker sees the order, events follow every change,
//! positions follow fills, and refused signals never reach the broker.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fillproof_engine::{
    AuditEvent, AuditLog, AuditRecord, AuditSink, Decimal, ExecutionError, ExecutorConfig,
    MemorySink, OrderExecutor, OrderState, RiskLimits, RiskViolation, Side, Signal, Verdict,
    VirtualClock, verify_audit_log,
};
use support::{CLIENT_ID, Script, ScriptedBroker, change, new_order};

fn signal(qty: i64) -> Signal {
    Signal {
        stop_price: None,
        trail: None,
        client_order_id: CLIENT_ID.into(),
        trader_id: "alice".into(),
        symbol: "QQQ".into(),
        side: Side::Buy,
        qty: Decimal::from(qty),
        limit_price: None,
        stop_loss: None,
        take_profit: None,
        time_in_force: fillproof_engine::TimeInForce::Day,
        extended_hours: false,
    }
}

/// A second intent, of `qty`, with its own client order id.
fn another_signal(qty: i64) -> Signal {
    Signal {
        client_order_id: "client-2".into(),
        ..signal(qty)
    }
}

/// A sink that notes how many submits the broker had seen when each line
/// was written.
struct WitnessSink {
    broker: Arc<ScriptedBroker>,
    seen: Arc<Mutex<Vec<(String, u32)>>>,
}

impl AuditSink for WitnessSink {
    fn append(&mut self, record: &AuditRecord, _line: &str) -> std::io::Result<()> {
        let event = serde_json::to_string(&record.event).map_err(std::io::Error::other)?;
        self.seen
            .lock()
            .expect("lock")
            .push((event, self.broker.calls().submit));
        Ok(())
    }
}

fn executor(
    broker: &Arc<ScriptedBroker>,
    config: ExecutorConfig,
) -> (OrderExecutor<ScriptedBroker>, MemorySink) {
    let sink = MemorySink::default();
    let clock = VirtualClock::new(1_735_828_200_000_000).shared();
    let audit = Arc::new(AuditLog::new(Box::new(sink.clone()), Arc::clone(&clock)));
    let executor = OrderExecutor::new(Arc::clone(broker), config, audit, clock, 1).expect("config");
    (executor, sink)
}

/// A broker that creates the order on submit and follows `script`,
/// answering after 20 ms.
fn scripted(script: Script) -> Arc<ScriptedBroker> {
    Arc::new(ScriptedBroker::empty(
        new_order(100),
        script,
        Duration::from_millis(20),
    ))
}

fn filling_broker() -> Arc<ScriptedBroker> {
    let script = Script {
        changes: vec![
            change(500, "partially_filled", 40, Some("100")),
            change(1_000, "filled", 100, Some("101")),
        ],
        ..Script::default()
    };
    Arc::new(ScriptedBroker::empty(
        new_order(100),
        script,
        Duration::from_millis(20),
    ))
}

/// The "submit" record is written before the broker sees the order, and
/// the whole log verifies.
#[tokio::test(start_paused = true)]
async fn audit_record_precedes_the_broker_call() {
    let broker = filling_broker();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let clock = VirtualClock::new(0).shared();
    let sink = WitnessSink {
        broker: Arc::clone(&broker),
        seen: Arc::clone(&seen),
    };
    let audit = Arc::new(AuditLog::new(Box::new(sink), Arc::clone(&clock)));
    let executor = OrderExecutor::new(
        Arc::clone(&broker),
        ExecutorConfig::default(),
        audit,
        clock,
        1,
    )
    .expect("config");
    let result = executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("filled");
    assert_eq!(result.verdict, Verdict::Filled);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen[0], ("\"submit\"".to_owned(), 0), "{seen:?}");
    assert_eq!(seen[1].0, "\"submitted\"");
    assert_eq!(seen.last().map(|s| s.0.as_str()), Some("\"fill\""));
}

/// Events follow the lifecycle in order: pending, submitted, each broker
/// change, then the verdict; positions and P&L follow the fill.
#[tokio::test(start_paused = true)]
async fn events_and_positions_follow_the_order() {
    let broker = filling_broker();
    let (executor, sink) = executor(&broker, ExecutorConfig::default());
    let mut events = executor.subscribe();
    executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("filled");
    let mut states = Vec::new();
    while let Ok(event) = events.try_recv() {
        states.push(event.state);
    }
    assert_eq!(states.first(), Some(&OrderState::Pending));
    assert_eq!(states.get(1), Some(&OrderState::Submitted));
    assert!(states.contains(&OrderState::Working));
    assert_eq!(states.last(), Some(&OrderState::Filled));
    let position = executor.positions().position("QQQ");
    assert_eq!(position.qty, Decimal::from(100));
    assert_eq!(position.avg_entry_price, Decimal::from(101));
    assert_eq!(executor.applied().len(), 1);
    // submit, submitted, fill
    assert_eq!(verify_audit_log(&sink.lines().join("\n")), Ok(3));
}

/// A signal that fails validation never reaches the broker; the refusal is
/// audited with its message.
#[tokio::test(start_paused = true)]
async fn invalid_signal_never_reaches_broker() {
    let broker = filling_broker();
    let config = ExecutorConfig {
        buying_power: Some(Decimal::from(3_200)),
        ..ExecutorConfig::default()
    };
    let (executor, sink) = executor(&broker, config);
    let error = executor
        .execute(&signal(50), Decimal::from(100))
        .await
        .expect_err("too expensive");
    assert_eq!(
        error.to_string(),
        "Insufficient funds for $5,000.00 order; available: $3,200.00"
    );
    assert_eq!(broker.calls().submit, 0);
    let lines = sink.lines();
    assert_eq!(lines.len(), 1);
    let record: AuditRecord = serde_json::from_str(&lines[0]).expect("record");
    assert_eq!(record.event, AuditEvent::Refused);
    assert!(record.reason.contains("Insufficient funds"));
}

/// The max-position rule refuses an order that would take the position
/// past the limit, naming the numbers.
#[tokio::test(start_paused = true)]
async fn max_position_rule_refuses() {
    let broker = filling_broker();
    let config = ExecutorConfig {
        risk: RiskLimits {
            max_position: Some(Decimal::from(50)),
            ..RiskLimits::default()
        },
        ..ExecutorConfig::default()
    };
    let (executor, _) = executor(&broker, config);
    let error = executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect_err("too big");
    assert!(
        matches!(
            error,
            ExecutionError::Risk(RiskViolation::MaxPosition { .. })
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "max position size: QQQ position would be 100 (limit 50)"
    );
    assert_eq!(broker.calls().submit, 0);
}

/// The position limit counts orders in flight with their side: while a
/// sell of 100 works, another sell of 100 would take the position to -200
/// and is refused; once the first has filled and left the in-flight count,
/// a sell of 50 (to -150, the limit) goes.
#[tokio::test(start_paused = true)]
async fn max_position_counts_orders_in_flight_by_side() {
    let broker = filling_broker();
    let config = ExecutorConfig {
        risk: RiskLimits {
            max_position: Some(Decimal::from(150)),
            ..RiskLimits::default()
        },
        ..ExecutorConfig::default()
    };
    let (trader, _) = executor(&broker, config);
    let sell = |id: &str, qty: i64| Signal {
        client_order_id: id.into(),
        side: Side::Sell,
        ..signal(qty)
    };
    let first = sell(CLIENT_ID, 100);
    let second = sell(&another_signal(0).client_order_id, 100);
    let (done, refused) = tokio::join!(trader.execute(&first, Decimal::from(100)), async {
        fillproof_engine::clock::sleep(Duration::from_millis(100)).await;
        trader.execute(&second, Decimal::from(100)).await
    });
    assert_eq!(done.expect("first fills").verdict, Verdict::Filled);
    let error = refused.expect_err("-200 is past the limit");
    assert_eq!(
        error.to_string(),
        "max position size: QQQ position would be -200 (limit 150)"
    );
    let third = trader
        .execute(&sell("client-3", 50), Decimal::from(100))
        .await;
    assert!(
        !matches!(third, Err(ExecutionError::Risk(_))),
        "-150 is within the limit: {third:?}"
    );
}

/// The per-trader order rate: the third order within a minute is refused
/// when the limit is two; a minute later orders go again.
#[tokio::test(start_paused = true)]
async fn order_rate_rule_refuses_and_recovers() {
    // The broker refuses every order at once, so each execution is quick;
    // refused orders still count against the rate.
    let refuse = || {
        (
            false,
            Err(fillproof_engine::BrokerError::Forbidden {
                message: "account restricted".into(),
            }),
        )
    };
    let script = Script {
        submit_answers: std::iter::repeat_with(refuse).take(10).collect(),
        ..Script::default()
    };
    let broker = scripted(script);
    let config = ExecutorConfig {
        risk: RiskLimits {
            max_orders_per_minute: 2,
            ..RiskLimits::default()
        },
        ..ExecutorConfig::default()
    };
    let (executor, _) = executor(&broker, config);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(executor.execute(&signal(1), Decimal::from(100)).await);
    }
    let error = outcomes.pop().expect("three").expect_err("third refused");
    assert_eq!(
        error.to_string(),
        "max orders per minute: trader alice placed 2 orders in the last minute (limit 2)"
    );
    fillproof_engine::clock::sleep(Duration::from_secs(61)).await;
    let again = executor.execute(&signal(1), Decimal::from(100)).await;
    assert!(matches!(again, Err(ExecutionError::Submit(_))), "{again:?}");
    assert_eq!(broker.calls().submit, 3);
}

/// The daily loss rule refuses new orders once today's realized loss has
/// reached the limit.
#[tokio::test(start_paused = true)]
async fn daily_loss_rule_refuses() {
    let broker = filling_broker();
    let config = ExecutorConfig {
        risk: RiskLimits {
            daily_loss_limit: Some(Decimal::from(100)),
            ..RiskLimits::default()
        },
        commission: fillproof_engine::Commission {
            per_order: Decimal::from(150),
            per_share: Decimal::ZERO,
        },
        ..ExecutorConfig::default()
    };
    let (executor, _) = executor(&broker, config);
    // The first fill pays 150 commission: a realized loss of 150.
    executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("filled");
    let second = another_signal(1);
    let error = executor
        .execute(&second, Decimal::from(100))
        .await
        .expect_err("limit reached");
    assert_eq!(
        error.to_string(),
        "daily loss limit: realized P&L today is -$150.00 (limit -$100.00)"
    );
}

/// The events of the audit lines, in order.
fn audit_events(sink: &MemorySink) -> Vec<String> {
    sink.lines()
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("json line");
            value["event"].as_str().expect("event").to_owned()
        })
        .collect()
}

/// An order that fills 300 ms after a 10 s deadline, whose cancel is
/// refused as "already filled" while no read of it succeeds.
fn filled_unread() -> Script {
    Script {
        changes: vec![change(10_300, "filled", 100, Some("101"))],
        cancel_answers: [Err(fillproof_engine::BrokerError::Unprocessable {
            message: r#"order is already in "filled" state"#.into(),
        })]
        .into(),
        reads_down: Some((Duration::from_secs(9), Duration::from_secs(100_000))),
        ..Script::default()
    }
}

/// The default configuration with a 10 s deadline, a 60 s reconcile
/// horizon and, when given, that much buying power.
fn short_deadline(buying_power: Option<i64>) -> ExecutorConfig {
    let mut config = ExecutorConfig {
        buying_power: buying_power.map(Decimal::from),
        ..ExecutorConfig::default()
    };
    config.detection.timeout = Duration::from_secs(10);
    config.detection.reconcile_horizon = Duration::from_secs(60);
    config
}

/// A fill proven only by a cancel refused as "already filled", with no
/// read of the order succeeding within the horizon: the quantity is booked
/// with its price unknown, never at the reference price, and the symbol's
/// P&L is marked incomplete.
#[tokio::test(start_paused = true)]
async fn fill_of_unknown_price_is_booked_without_a_price() {
    let broker = scripted(filled_unread());
    let (executor, sink) = executor(&broker, short_deadline(None));
    let result = executor
        .execute(&signal(100), Decimal::from(95))
        .await
        .expect("executed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.avg_price, None);
    let position = executor.positions().position("QQQ");
    assert_eq!(position.qty, Decimal::from(100));
    assert_eq!(position.unpriced_qty, Decimal::from(100));
    assert_eq!(
        position.avg_entry_price,
        Decimal::ZERO,
        "not the reference 95"
    );
    assert!(!position.priced());
    assert_eq!(executor.applied()[0].price, None);
    assert!(audit_events(&sink).contains(&"fill".to_owned()));
}

/// An order that fills 40 and is then rejected by the broker ends
/// rejected, but the 40 it booked has its `fill` record before the
/// `reject` one.
#[tokio::test(start_paused = true)]
async fn fill_before_a_rejection_is_audited() {
    let script = Script {
        changes: vec![
            change(500, "partially_filled", 40, Some("100")),
            change(1_000, "rejected", 40, Some("100")),
        ],
        ..Script::default()
    };
    let broker = scripted(script);
    let (executor, sink) = executor(&broker, ExecutorConfig::default());
    let result = executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("executed");
    assert_eq!(result.verdict, Verdict::Rejected);
    assert_eq!(result.filled_qty, Decimal::from(40));
    assert_eq!(executor.positions().position("QQQ").qty, Decimal::from(40));
    let events = audit_events(&sink);
    let tail: Vec<&str> = events
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(tail, ["fill", "reject"], "{events:?}");
    let lines = sink.lines();
    let fill: serde_json::Value = serde_json::from_str(&lines[lines.len() - 2]).expect("json");
    assert_eq!(fill["status"], "partially_filled", "{fill}");
    assert_eq!(fill["qty"], "40", "{fill}");
}

/// A read that hangs for five minutes ends at the call timeout as an
/// ambiguous outcome and is retried: the fill is seen seconds after it
/// happened, long before the deadline, instead of five minutes later.
#[tokio::test(start_paused = true)]
async fn hung_reads_end_at_the_call_timeout() {
    let script = Script {
        changes: vec![change(2_000, "filled", 100, Some("101"))],
        read_latencies: [Duration::from_secs(300)].into(),
        ..Script::default()
    };
    let broker = scripted(script);
    let mut config = ExecutorConfig::default();
    config.detection.timeout = Duration::from_secs(30);
    config.call_timeout = Duration::from_secs(2);
    let (executor, _sink) = executor(&broker, config);
    let started = tokio::time::Instant::now();
    let result = executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("executed");
    assert_eq!(result.verdict, Verdict::Filled);
    assert!(!result.deadline_reached);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(result.retries >= 1);
}

/// A broker answering a fill at a price near `Decimal::MAX`, against an
/// account whose buying power is near it too: nothing panics, and the
/// fill is booked with its price unknown instead of at the garbage price.
#[tokio::test(start_paused = true)]
async fn garbage_fill_price_never_panics() {
    let script = Script {
        changes: vec![change(
            500,
            "filled",
            100,
            Some("79228162514264337593543950335"),
        )],
        ..Script::default()
    };
    let broker = scripted(script);
    let config = ExecutorConfig {
        buying_power: Some(Decimal::MAX),
        ..ExecutorConfig::default()
    };
    let (executor, _sink) = executor(&broker, config);
    let result = executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("executed");
    assert_eq!(result.verdict, Verdict::Filled);
    let position = executor.positions().position("QQQ");
    assert_eq!(position.qty, Decimal::from(100));
    assert!(!position.priced(), "the garbage price is not booked");
}

/// Buying power follows each buy: reserved at the limit (or reference)
/// price while the order is in flight, then charged at the fill's price; a
/// fill whose price is unknown keeps its reservation spent.
#[tokio::test(start_paused = true)]
async fn buying_power_follows_reservations_and_fills() {
    let filled_at_101 = || Script {
        changes: vec![change(500, "filled", 100, Some("101"))],
        ..Script::default()
    };
    // 15,000 of buying power; 100 at 100 reserves 10,000, fills at 10,100.
    let broker = scripted(filled_at_101());
    let config = ExecutorConfig {
        buying_power: Some(Decimal::from(15_000)),
        ..ExecutorConfig::default()
    };
    let (trader, _sink) = executor(&broker, config);
    trader
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("filled");
    // 4,900 left: 49 at 100 is affordable, 50 is not.
    let mut next = another_signal(50);
    let error = trader
        .execute(&next, Decimal::from(100))
        .await
        .expect_err("50 at 100 is more than 4,900");
    assert!(
        error.to_string().contains("available: $4,900.00"),
        "{error}"
    );

    // The same buy proven filled by a cancel refusal with no price: the
    // 10,000 reserved stays spent.
    let broker = scripted(filled_unread());
    let (trader, _sink) = executor(&broker, short_deadline(Some(15_000)));
    trader
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("filled, price unknown");
    next.qty = Decimal::from(51);
    let error = trader
        .execute(&next, Decimal::from(100))
        .await
        .expect_err("5,100 is more than the 5,000 left");
    assert!(
        error.to_string().contains("available: $5,000.00"),
        "{error}"
    );

    // A buy that ends with nothing filled gives its reservation back whole.
    let script = Script {
        on_cancel: vec![change(100, "canceled", 0, None)],
        ..Script::default()
    };
    let broker = scripted(script);
    let (trader, sink) = executor(&broker, short_deadline(Some(15_000)));
    let result = trader
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("not filled");
    assert_eq!(result.verdict, Verdict::NotFilled);
    assert!(trader.applied().is_empty());
    assert!(!audit_events(&sink).contains(&"fill".to_owned()));
    next.qty = Decimal::from(150);
    let error = trader
        .execute(&next, Decimal::from(101))
        .await
        .expect_err("15,150 is more than 15,000");
    assert!(
        error.to_string().contains("available: $15,000.00"),
        "{error}"
    );
}

/// Under a call budget whose queue is longer than a submission may wait,
/// the submission is shed before it is sent: the broker never sees it, the
/// trader gets a clear error, and it is audited as a failure.
#[tokio::test(start_paused = true)]
async fn submission_beyond_its_wait_is_shed_unsent() {
    let broker = filling_broker();
    let config = ExecutorConfig {
        rate_limit: Some(fillproof_engine::RateLimit {
            requests: 1,
            per: Duration::from_secs(60),
        }),
        submit_max_wait: Duration::from_secs(5),
        ..ExecutorConfig::default()
    };
    let (trader, sink) = executor(&broker, config);
    // The one call of this minute goes to a position read.
    let _ = trader.detector().check_position("QQQ", Decimal::ZERO).await;
    let error = trader
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect_err("shed");
    assert!(
        matches!(
            error,
            ExecutionError::Submit(fillproof_engine::SubmitError::Shed { .. })
        ),
        "{error}"
    );
    assert!(error.to_string().contains("shed"), "{error}");
    assert_eq!(broker.calls().submit, 0, "never sent");
    assert_eq!(
        audit_events(&sink).last().map(String::as_str),
        Some("failure")
    );
}

/// Market data for the quote checks: QQQ quoted `bid` / `ask`, the ask
/// moving to `moved_ask` once `moves_at` has passed since it was made; any
/// other symbol unknown.
struct Quotes {
    bid: &'static str,
    ask: &'static str,
    moved_ask: &'static str,
    start: tokio::time::Instant,
    moves_at: Duration,
}

impl Quotes {
    /// QQQ quoted 99.98 / 100.02, still.
    fn still() -> Self {
        Self::moving("99.98", "100.02", "100.02", Duration::MAX)
    }

    fn moving(
        bid: &'static str,
        ask: &'static str,
        moved_ask: &'static str,
        moves_at: Duration,
    ) -> Self {
        Self {
            bid,
            ask,
            moved_ask,
            start: tokio::time::Instant::now(),
            moves_at,
        }
    }
}

impl fillproof_engine::MarketData for Quotes {
    async fn latest_quote(
        &self,
        symbol: &str,
    ) -> Result<fillproof_engine::Quote, fillproof_engine::BrokerError> {
        if symbol != "QQQ" {
            return Err(fillproof_engine::BrokerError::NotFound {
                message: format!("symbol not found: {symbol}"),
            });
        }
        let ask = if self.start.elapsed() >= self.moves_at {
            self.moved_ask
        } else {
            self.ask
        };
        Ok(fillproof_engine::Quote {
            bid: self.bid.parse().expect("bid"),
            bid_size: Decimal::from(100),
            ask: ask.parse().expect("ask"),
            ask_size: Decimal::from(100),
            at: None,
        })
    }

    async fn latest_trade(
        &self,
        _symbol: &str,
    ) -> Result<fillproof_engine::Trade, fillproof_engine::BrokerError> {
        Err(fillproof_engine::BrokerError::NotFound {
            message: "no trades here".into(),
        })
    }
}

/// A limit signal for `symbol` on `side` at `limit`.
fn limit_signal(symbol: &str, side: Side, limit: &str) -> Signal {
    Signal {
        symbol: symbol.into(),
        side,
        limit_price: Some(limit.parse().expect("limit")),
        ..signal(10)
    }
}

/// Goal: a limit price far from the latest quote is refused before
/// anything is sent, naming the quote; one near it is sent. Method: QQQ
/// quoted 99.98 / 100.02 and a 5% band: a buy at 106 (6% over the ask) and
/// a sell at 94 (6% under the bid) are refused with the quote in the
/// message and the broker sees no submit, even though both are within the
/// band of the reference price the caller gives; a buy at 104.90 is sent.
#[tokio::test(start_paused = true)]
async fn a_limit_far_from_the_quote_is_refused_before_the_broker() {
    let broker = filling_broker();
    let (executor, sink) = executor(&broker, ExecutorConfig::default());
    let executor = executor.with_market_data(Arc::new(Quotes::still()));
    let cases = [
        (
            Side::Buy,
            "106",
            "104",
            "Limit price $106.00 is 5.98% from the latest ask $100.02 (bid $99.98 / ask $100.02); allowed: within 5%",
        ),
        (
            Side::Sell,
            "94",
            "96",
            "Limit price $94.00 is 5.98% from the latest bid $99.98 (bid $99.98 / ask $100.02); allowed: within 5%",
        ),
    ];
    for (side, limit, reference, message) in cases {
        let error = executor
            .execute(
                &limit_signal("QQQ", side, limit),
                reference.parse().expect("reference"),
            )
            .await
            .expect_err("refused");
        assert_eq!(error.to_string(), message);
    }
    assert_eq!(broker.calls().submit, 0);
    assert!(sink.lines().iter().all(|l| l.contains("\"refused\"")));
    executor
        .execute(
            &limit_signal("QQQ", Side::Buy, "104.90"),
            Decimal::from(104),
        )
        .await
        .expect("a limit within the band of the ask is sent");
    assert_eq!(broker.calls().submit, 1);
}

/// Goal: no quote, no order, when prices are checked against the market.
/// Method: a limit signal for a symbol the market data does not know is
/// refused naming the symbol and the reason, and nothing is sent; a market
/// order needs no quote and is sent.
#[tokio::test(start_paused = true)]
async fn a_limit_without_a_quote_is_not_sent() {
    let broker = filling_broker();
    let (executor, _sink) = executor(&broker, ExecutorConfig::default());
    let executor = executor.with_market_data(Arc::new(Quotes::still()));
    let error = executor
        .execute(&limit_signal("ZZZZ", Side::Buy, "10"), Decimal::from(10))
        .await
        .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "No latest quote for ZZZZ to check the price against (HTTP 404 not found: symbol not found: ZZZZ); nothing was sent"
    );
    assert_eq!(broker.calls().submit, 0);
    let market = Signal {
        symbol: "ZZZZ".into(),
        ..signal(10)
    };
    executor
        .execute(&market, Decimal::from(10))
        .await
        .expect("a market order is sent");
    assert_eq!(broker.calls().submit, 1);
}

/// An executor with slippage control at 50 bps, reading the quote every
/// second, over `broker` and a market whose ask jumps 2% at 3 s.
fn guarded(broker: &Arc<ScriptedBroker>) -> (OrderExecutor<ScriptedBroker>, MemorySink) {
    let config = ExecutorConfig {
        slippage_guard: Some(fillproof_engine::SlippageGuard {
            max_bps: Decimal::from(50),
            every: Duration::from_secs(1),
        }),
        ..ExecutorConfig::default()
    };
    let (executor, sink) = executor(broker, config);
    let market = Quotes::moving("99.99", "100.02", "102.00", Duration::from_secs(3));
    (executor.with_market_data(Arc::new(market)), sink)
}

/// Goal: slippage control cancels a working order when the market moves
/// beyond the trader's limit, through the cancel path, and says why in
/// the result, the audit log and the event stream. Method: a buy that the
/// broker leaves working while the ask jumps 200 bps at 3 s (limit 50):
/// the order is canceled within the next second, long before its deadline,
/// and confirmed not filled; the audit's cancel record and the last event
/// give the reason.
#[tokio::test(start_paused = true)]
async fn slippage_control_cancels_when_the_market_moves_away() {
    let broker = scripted(Script {
        on_cancel: vec![change(50, "canceled", 0, None)],
        ..Script::default()
    });
    let (executor, sink) = guarded(&broker);
    let mut events = executor.subscribe();
    let started = tokio::time::Instant::now();
    let result = executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("placed");
    let stopped = result.stopped.as_deref().expect("stopped by the guard");
    assert!(
        stopped.starts_with("slippage control: the ask moved to $102.00"),
        "{stopped}"
    );
    assert_eq!(result.verdict, Verdict::NotFilled);
    assert!(!result.deadline_reached);
    assert_eq!(broker.calls().cancel, 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let lines = sink.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"status\":\"stopped\"") && l.contains("slippage control")),
        "{lines:#?}"
    );
    let mut last = None;
    while let Ok(event) = events.try_recv() {
        last = Some(event);
    }
    let last = last.expect("events");
    assert!(
        last.reason
            .as_deref()
            .is_some_and(|r| r.contains("slippage control")),
        "{last:?}"
    );
}

/// Goal: a fill that lands while slippage control cancels is still
/// reported. Method: the order fills at 3.05 s, just after the guard
/// fires at 3 s; the broker refuses the cancel as already filled; the
/// engine reads the fill back and books it, with the guard's reason kept.
#[tokio::test(start_paused = true)]
async fn a_fill_during_the_slippage_cancel_is_still_reported() {
    let broker = scripted(Script {
        changes: vec![change(3_050, "filled", 100, Some("101.50"))],
        cancel_answers: [Err(fillproof_engine::BrokerError::Unprocessable {
            message: r#"order is already in "filled" state"#.into(),
        })]
        .into(),
        ..Script::default()
    });
    let (executor, _sink) = guarded(&broker);
    let result = executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("placed");
    assert!(result.stopped.is_some(), "{result:?}");
    assert_eq!(
        broker.calls().cancel,
        1,
        "the fill came after the cancel was sent"
    );
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(result.filled_qty, Decimal::from(100));
    assert_eq!(result.avg_price, Some("101.50".parse().expect("price")));
    assert_eq!(executor.positions().position("QQQ").qty, Decimal::from(100));
}

/// Goal: slippage control measures the market's moves from the touch the
/// order was sent against, so a wide spread that never moves cancels
/// nothing. Method: the ask stands 1% over the trader's price (100.00)
/// from the start and never moves; with a 50 bps limit the order works
/// until it fills, and nothing is canceled.
#[tokio::test(start_paused = true)]
async fn slippage_control_ignores_a_spread_that_never_moves() {
    let broker = filling_broker();
    let config = ExecutorConfig {
        slippage_guard: Some(fillproof_engine::SlippageGuard {
            max_bps: Decimal::from(50),
            every: Duration::from_millis(100),
        }),
        ..ExecutorConfig::default()
    };
    let (executor, _sink) = executor(&broker, config);
    let executor = executor.with_market_data(Arc::new(Quotes::moving(
        "99.00",
        "101.00",
        "101.00",
        Duration::MAX,
    )));
    let result = executor
        .execute(&signal(100), Decimal::from(100))
        .await
        .expect("placed");
    assert_eq!(result.stopped, None, "{result:?}");
    assert_eq!(result.verdict, Verdict::Filled);
    assert_eq!(broker.calls().cancel, 0);
}

/// Goal: slippage control measures a stop from its stop, not from the
/// touch it was sent against, and leaves a trailing stop alone (its stop
/// moves with the market). Method: the ask jumps from $100.02 to $102.00
/// at 3 s (limit 50 bps), the broker leaving every order working: a buy
/// stop at $101.00 (the jump 99 bps past it) is canceled by the guard,
/// naming its stop; one at $101.80 (20 bps past it) and a trailing stop
/// are not.
#[tokio::test(start_paused = true)]
async fn slippage_control_measures_a_stop_from_its_stop() {
    let outcome = |stop: Option<&'static str>, trail: Option<fillproof_engine::Trail>| async move {
        let broker = scripted(Script {
            on_cancel: vec![change(50, "canceled", 0, None)],
            ..Script::default()
        });
        let (executor, _sink) = guarded(&broker);
        let signal = Signal {
            stop_price: stop.map(|s| s.parse().expect("price")),
            trail,
            ..signal(10)
        };
        executor
            .execute(&signal, Decimal::from(100))
            .await
            .expect("placed")
    };
    let gapped = outcome(Some("101.00"), None).await;
    let stopped = gapped.stopped.as_deref().expect("stopped by the guard");
    assert!(
        stopped.contains("moved to $102.00") && stopped.contains("against the $101.00"),
        "{stopped}"
    );
    let near = outcome(Some("101.80"), None).await;
    assert_eq!(near.stopped, None, "{near:?}");
    let trailing = outcome(None, Some(fillproof_engine::Trail::Percent(Decimal::ONE))).await;
    assert_eq!(trailing.stopped, None, "{trailing:?}");
}
