//! Every order a bot sends, on a market that moves: stops, stop limits and
//! trailing stops triggered by the tape; brackets, OCO and OTO with their
//! legs held, activated and one canceling the other; cancels across a
//! group; and Alpaca's refusals, each naming the field.

use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_engine::{
    Broker, BrokerError, Order, OrderClass, OrderRequest, OrderStatus, OrderType, Side, StopLoss,
    TimeInForce, Trail,
};
use fillproof_simulator::{BrokerModel, LedgerOrder, Scenario, SimBroker, TrueStatus};
use rust_decimal::Decimal;

/// A one-symbol (QQQ at $100) scenario on a market that moves (always
/// open), each order filling `delay` after it may, with `broker` lines
/// added to the broker section.
fn scenario(volatility: &str, delay: &str, broker: &str) -> Scenario {
    let text = format!(
        "version: 1\nname: orders\nseed: 21\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {{QQQ: \"100.00\"}}\nbroker:\n  fill: {{probability: 1, delay: {delay}}}\n{broker}market:\n  hours: always\n  symbols:\n    QQQ: {{volatility: {volatility}, quote: {{spread_bps: 2}}}}\n"
    );
    Scenario::parse(text.as_bytes(), "orders.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn broker(s: &Scenario) -> SimBroker {
    SimBroker::new(BrokerModel::from_scenario(s), s.seed, false)
}

fn price(text: &str) -> Decimal {
    text.parse().expect("price")
}

fn order(id: &str, side: Side, order_type: OrderType) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        symbol: "QQQ".into(),
        qty: Decimal::from(10),
        side,
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
    }
}

fn stop(id: &str, side: Side, at: &str) -> OrderRequest {
    OrderRequest {
        stop_price: Some(price(at)),
        ..order(id, side, OrderType::Stop)
    }
}

/// A market-entry bracket buying 10 with a take profit and a stop loss.
fn bracket(id: &str, take_profit: &str, stop_loss: &str) -> OrderRequest {
    OrderRequest {
        order_class: OrderClass::Bracket,
        take_profit: Some(price(take_profit)),
        stop_loss: Some(StopLoss {
            stop_price: price(stop_loss),
            limit_price: None,
        }),
        ..order(id, Side::Buy, OrderType::Market)
    }
}

fn ledger_order(broker: &SimBroker, id: &str) -> LedgerOrder {
    broker.with_ledger(|l| l.by_id(id).cloned().expect("in the ledger"))
}

/// The instant of every second of `[from, to)` at which the tape's price
/// `hits`.
fn first_second(
    broker: &SimBroker,
    from: Duration,
    to: Duration,
    mut hits: impl FnMut(Decimal) -> bool,
) -> Option<Duration> {
    let mut t = from;
    while t < to {
        if hits(broker.market().price_at("QQQ", t).expect("listed")) {
            return Some(t);
        }
        t += Duration::from_secs(1);
    }
    None
}

/// Goal: a stop waits for the tape to reach its stop price, then trades
/// as a market order. Method: on a moving market, a sell stop 0.3% under
/// and a buy stop 0.3% over the price; each triggers at the first second
/// the price is at or through its stop (never before), its fill comes at
/// or after that instant, and a buy stop never pays more than Alpaca's
/// 2.5% collar over its stop.
#[tokio::test(start_paused = true)]
async fn a_stop_triggers_when_the_tape_reaches_it() {
    let s = scenario("0.8", "0s", "");
    let b = broker(&s);
    let cases = [(Side::Sell, "99.70"), (Side::Buy, "100.30")];
    for (i, (side, at)) in cases.into_iter().enumerate() {
        let placed = b
            .submit_order(&stop(&format!("stop-{i}"), side, at))
            .await
            .expect("accepted");
        assert_eq!(placed.stop_price, Some(price(at)));
        let filed = ledger_order(&b, &placed.id);
        let triggered = filed
            .triggered_at
            .expect("the path reaches it within the run");
        let level = price(at);
        let sets_off = |p: Decimal| match side {
            Side::Sell => p <= level,
            Side::Buy => p >= level,
        };
        let first = first_second(
            &b,
            Duration::ZERO,
            triggered + Duration::from_secs(1),
            sets_off,
        );
        assert_eq!(first, Some(triggered), "{side:?} stop at {at}");
        let fill = filed.fills.first().expect("a triggered stop fills");
        assert!(fill.at >= triggered);
        if side == Side::Buy {
            assert!(fill.price <= level * price("1.025"), "{fill:?}");
        }
    }
}

/// Goal: a stop limit becomes a limit when triggered and never fills past
/// it. Method: a sell stop limit at 99.70 with a 99.65 limit: it fills
/// after triggering, at 99.65 or better.
#[tokio::test(start_paused = true)]
async fn a_stop_limit_trades_at_its_limit_or_better_once_triggered() {
    let b = broker(&scenario("0.8", "0s", ""));
    let request = OrderRequest {
        stop_price: Some(price("99.70")),
        limit_price: Some(price("99.65")),
        ..order("stop-limit", Side::Sell, OrderType::StopLimit)
    };
    let placed = b.submit_order(&request).await.expect("accepted");
    let filed = ledger_order(&b, &placed.id);
    let triggered = filed.triggered_at.expect("triggered");
    for fill in &filed.fills {
        assert!(
            fill.at >= triggered && fill.price >= price("99.65"),
            "{fill:?}"
        );
    }
}

/// Goal: a trailing stop's stop price trails the best price since it was
/// placed, and the order shows both as Alpaca does. Method: a sell
/// trailing stop with a $0.50 trail; at each second before it triggers its
/// read shows `hwm` = the highest price so far and `stop_price` = hwm -
/// 0.50; it triggers at the first second the price falls to that stop.
#[tokio::test(start_paused = true)]
async fn a_trailing_stop_trails_its_high_water_mark() {
    let b = broker(&scenario("0.8", "0s", ""));
    let request = OrderRequest {
        trail: Some(Trail::Price(price("0.50"))),
        ..order("trail", Side::Sell, OrderType::TrailingStop)
    };
    let placed = b.submit_order(&request).await.expect("accepted");
    let triggered = ledger_order(&b, &placed.id)
        .triggered_at
        .expect("a $0.50 trail triggers on this path");
    let mut high = Decimal::ZERO;
    let mut t = Duration::ZERO;
    while t < triggered {
        let p = b.market().price_at("QQQ", t).expect("listed");
        high = high.max(p);
        assert!(p > high - price("0.50"), "should have triggered at {t:?}");
        t += Duration::from_secs(1);
    }
    let p = b.market().price_at("QQQ", triggered).expect("listed");
    assert!(
        p <= high.max(p) - price("0.50"),
        "triggered at {p}, high {high}"
    );
    let read = b.get_order(&placed.id).await.expect("read");
    assert_eq!(read.trail, Some(Trail::Price(price("0.50"))));
    let hwm = read.hwm.expect("a trailing stop shows its mark");
    assert_eq!(read.stop_price, Some(hwm - price("0.50")));
}

/// Goal: a bracket's legs wait for the entry, then the first exit to fill
/// cancels the other. Method: a market-entry bracket (take profit +0.4%,
/// stop loss -0.4%) whose entry fills after 5 s: at 1 s both legs read
/// `held`; once the entry fills, exactly one leg fills and the other is
/// canceled at that instant; the position is flat after.
#[tokio::test(start_paused = true)]
async fn a_brackets_legs_wait_for_the_entry_then_one_cancels_the_other() {
    let b = broker(&scenario("0.8", "5s", ""));
    let placed = b
        .submit_order(&bracket("bracket", "100.40", "99.60"))
        .await
        .expect("accepted");
    assert_eq!(placed.order_class, OrderClass::Bracket);
    assert_eq!(placed.legs.len(), 2, "{placed:?}");
    sleep(Duration::from_secs(1)).await;
    let read = b.get_order(&placed.id).await.expect("read");
    for leg in &read.legs {
        assert_eq!(leg.status, OrderStatus::Held, "{leg:?}");
        assert_eq!(leg.side, Side::Sell);
    }
    let entry = ledger_order(&b, &placed.id);
    let filled_at = entry.fills.last().expect("the entry fills").at;
    let legs: Vec<LedgerOrder> = read.legs.iter().map(|l| ledger_order(&b, &l.id)).collect();
    let winners: Vec<&LedgerOrder> = legs.iter().filter(|l| !l.fills.is_empty()).collect();
    assert_eq!(winners.len(), 1, "exactly one exit fills: {legs:?}");
    let won_at = winners[0].fills[0].at;
    assert!(won_at >= filled_at);
    let loser = legs.iter().find(|l| l.fills.is_empty()).expect("a loser");
    assert_eq!(loser.status_at(won_at), TrueStatus::Canceled);
    let end = won_at + Duration::from_secs(3_600);
    let flat = b.with_ledger(|l| l.position_at("QQQ", end));
    assert_eq!(flat, Decimal::ZERO);
}

/// Goal: the other exit is canceled after the model's OCO delay, and a
/// reader sees both open meanwhile. Method: `oco_delay: 2s`; at the
/// winner's fill the loser still reads open (held or new), and canceled
/// 2 s later.
#[tokio::test(start_paused = true)]
async fn the_other_exit_is_canceled_after_the_oco_delay() {
    let b = broker(&scenario("0.8", "0s", "  cancel: {oco_delay: 2s}\n"));
    let placed = b
        .submit_order(&bracket("slow-oco", "100.40", "99.60"))
        .await
        .expect("accepted");
    let legs: Vec<LedgerOrder> = placed
        .legs
        .iter()
        .map(|l| ledger_order(&b, &l.id))
        .collect();
    let winner = legs.iter().find(|l| !l.fills.is_empty()).expect("a winner");
    let loser = legs.iter().find(|l| l.fills.is_empty()).expect("a loser");
    let won_at = winner.fills[0].at;
    assert!(!loser.status_at(won_at).is_terminal());
    assert_eq!(
        loser.status_at(won_at + Duration::from_secs(2)),
        TrueStatus::Canceled
    );
}

/// Goal: canceling any order of a group cancels the whole group. Method:
/// a bracket whose entry waits 60 s: a cancel of its stop-loss leg at 1 s
/// cancels the entry and both legs, nothing fills.
#[tokio::test(start_paused = true)]
async fn canceling_a_leg_cancels_the_group() {
    let b = broker(&scenario("0.8", "60s", ""));
    let placed = b
        .submit_order(&bracket("cancel-leg", "100.40", "99.60"))
        .await
        .expect("accepted");
    sleep(Duration::from_secs(1)).await;
    b.cancel_order(&placed.legs[1].id).await.expect("canceled");
    sleep(Duration::from_secs(1)).await;
    let read = b.get_order(&placed.id).await.expect("read");
    assert_eq!(read.status, OrderStatus::Canceled);
    for leg in &read.legs {
        assert_eq!(leg.status, OrderStatus::Canceled, "{leg:?}");
    }
    let end = Duration::from_secs(86_400);
    assert_eq!(b.with_ledger(|l| l.position_at("QQQ", end)), Decimal::ZERO);
}

/// Goal: an entry canceled before it fills cancels its held legs, and a
/// cancel that loses to the entry's fill leaves the legs to protect the
/// position. Method: two brackets; the first's entry (due at 60 s) is
/// canceled at 1 s: its legs end canceled unfilled. The second's entry
/// fills at 1 s, before a 5 s cancel processing ends: its legs go on and
/// one exit fills.
#[tokio::test(start_paused = true)]
async fn an_entry_canceled_in_time_takes_its_legs_and_one_too_late_does_not() {
    let b = broker(&scenario("0.8", "60s", ""));
    let early = b
        .submit_order(&bracket("early", "100.40", "99.60"))
        .await
        .expect("accepted");
    sleep(Duration::from_secs(1)).await;
    b.cancel_order(&early.id).await.expect("canceled");
    for leg in &early.legs {
        let leg = ledger_order(&b, &leg.id);
        assert!(leg.fills.is_empty());
        assert_eq!(leg.status_at(Duration::from_secs(2)), TrueStatus::Canceled);
    }

    let b = broker(&scenario("0.8", "1s", "  cancel: {processing: 5s}\n"));
    let late = b
        .submit_order(&bracket("late", "100.40", "99.60"))
        .await
        .expect("accepted");
    b.cancel_order(&late.id).await.expect("cancel accepted");
    let entry = ledger_order(&b, &late.id);
    assert_eq!(
        entry.filled_qty_at(Duration::from_secs(10)),
        Decimal::from(10)
    );
    let exits: Decimal = late
        .legs
        .iter()
        .map(|l| ledger_order(&b, &l.id).filled_qty_at(Duration::from_secs(86_400)))
        .sum();
    assert_eq!(exits, Decimal::from(10), "one exit closes the position");
}

/// Goal: an OCO exits a position: its take profit is the order itself,
/// its stop loss a leg, and the first to fill cancels the other. Method:
/// buy 10, then an OCO selling 10 (take profit 100.40, stop 99.60): one
/// fills, the position ends flat. An OCO with no position to close is
/// refused, naming why.
#[tokio::test(start_paused = true)]
async fn an_oco_closes_a_position_one_exit_only() {
    let b = broker(&scenario("0.8", "0s", ""));
    let refused = b.submit_order(&oco("naked")).await;
    assert!(
        matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains("oco orders must be exit orders")),
        "{refused:?}"
    );
    b.submit_order(&order("long", Side::Buy, OrderType::Market))
        .await
        .expect("bought");
    sleep(Duration::from_secs(1)).await;
    let placed = b.submit_order(&oco("exit")).await.expect("accepted");
    assert_eq!(placed.order_type, OrderType::Limit);
    assert_eq!(placed.limit_price, Some(price("100.40")));
    assert_eq!(placed.legs.len(), 1);
    let head = ledger_order(&b, &placed.id);
    let leg = ledger_order(&b, &placed.legs[0].id);
    assert_eq!(
        head.fills.is_empty(),
        !leg.fills.is_empty(),
        "exactly one fills"
    );
    let end = Duration::from_secs(86_400);
    assert_eq!(b.with_ledger(|l| l.position_at("QQQ", end)), Decimal::ZERO);
}

fn oco(id: &str) -> OrderRequest {
    OrderRequest {
        order_class: OrderClass::Oco,
        take_profit: Some(price("100.40")),
        stop_loss: Some(StopLoss {
            stop_price: price("99.60"),
            limit_price: None,
        }),
        ..order(id, Side::Sell, OrderType::Limit)
    }
}

/// The refusal of `request` by a fresh broker, as text.
async fn refusal(request: OrderRequest) -> String {
    let b = broker(&scenario("0.8", "0s", ""));
    match b.submit_order(&request).await {
        Err(BrokerError::Unprocessable { message }) => message,
        other => panic!("expected a 422, got {other:?}"),
    }
}

/// Goal: what Alpaca refuses, the broker refuses, naming the field.
/// Method: one request per rule; each refusal names the field or rule.
#[tokio::test(start_paused = true)]
async fn alpacas_rules_refuse_each_order_naming_the_field() {
    let limit_entry = |tp: &str, sl: &str| OrderRequest {
        limit_price: Some(price("100.00")),
        order_type: OrderType::Limit,
        ..bracket("b", tp, sl)
    };
    let cases: Vec<(OrderRequest, &str)> = vec![
        (order("s", Side::Sell, OrderType::Stop), "stop_price"),
        (
            OrderRequest {
                stop_price: Some(price("99")),
                ..order("sl", Side::Sell, OrderType::StopLimit)
            },
            "stop limit orders require both stop and limit price",
        ),
        (
            order("t", Side::Sell, OrderType::TrailingStop),
            "trail_price or trail_percent",
        ),
        (
            OrderRequest {
                trail: Some(Trail::Percent(price("0.05"))),
                ..order("tp", Side::Sell, OrderType::TrailingStop)
            },
            "trail_percent",
        ),
        (
            OrderRequest {
                stop_price: Some(price("99")),
                ..order("m", Side::Sell, OrderType::Market)
            },
            "market orders must not have stop_price",
        ),
        (
            OrderRequest {
                time_in_force: TimeInForce::Ioc,
                ..stop("ioc", Side::Sell, "99")
            },
            "time_in_force",
        ),
        (
            OrderRequest {
                stop_price: Some(price("99.001")),
                ..order("penny", Side::Sell, OrderType::Stop)
            },
            "invalid stop_price 99.001",
        ),
        (
            limit_entry("99.50", "99.00"),
            "take_profit.limit_price must be >= base_price + 0.01",
        ),
        (
            limit_entry("101.00", "100.50"),
            "stop_loss.stop_price must be <= base_price - 0.01",
        ),
        (
            OrderRequest {
                time_in_force: TimeInForce::Ioc,
                ..bracket("ioc", "101", "99")
            },
            "time_in_force",
        ),
        (
            OrderRequest {
                stop_loss: None,
                notional: None,
                ..bracket("half", "101", "99")
            },
            "stop_loss.stop_price",
        ),
        (
            OrderRequest {
                order_type: OrderType::Stop,
                stop_price: Some(price("100.50")),
                ..bracket("stop-entry", "101", "99")
            },
            "bracket orders must be market or limit orders",
        ),
        (
            OrderRequest {
                order_class: OrderClass::Simple,
                ..bracket("simple-with-legs", "101", "99")
            },
            "take_profit and stop_loss need order_class",
        ),
        (
            OrderRequest {
                qty: price("1.5"),
                time_in_force: TimeInForce::Day,
                ..bracket("fractional", "101", "99")
            },
            "fractional orders must be simple orders",
        ),
    ];
    for (request, expected) in cases {
        let id = request.client_order_id.clone();
        let message = refusal(request).await;
        assert!(message.contains(expected), "{id}: {message}");
    }
}

/// Goal: a bracket's legs are listed as Alpaca lists them. Method: the
/// answer to the submit nests both legs, each with its own id, the
/// bracket's class, the exit side and its prices.
#[tokio::test(start_paused = true)]
async fn a_bracket_shows_its_legs_nested() {
    let b = broker(&scenario("0.8", "60s", ""));
    let placed: Order = b
        .submit_order(&bracket("nested", "100.40", "99.60"))
        .await
        .expect("accepted");
    let [take_profit, stop_loss] = placed.legs.as_slice() else {
        panic!("two legs: {placed:?}");
    };
    assert_ne!(take_profit.id, stop_loss.id);
    assert_eq!(take_profit.order_type, OrderType::Limit);
    assert_eq!(take_profit.limit_price, Some(price("100.40")));
    assert_eq!(stop_loss.order_type, OrderType::Stop);
    assert_eq!(stop_loss.stop_price, Some(price("99.60")));
    for leg in [take_profit, stop_loss] {
        assert_eq!(leg.order_class, OrderClass::Bracket);
        assert_eq!(leg.side, Side::Sell);
        assert_eq!(leg.qty, Decimal::from(10));
        assert!(leg.legs.is_empty());
    }
}

fn limit(id: &str, side: Side, at: &str) -> OrderRequest {
    OrderRequest {
        limit_price: Some(price(at)),
        ..order(id, side, OrderType::Limit)
    }
}

/// Goal: a replace puts a new order in the old one's place, through
/// `pending_replace`, and the fills follow the new order. Method: a buy
/// resting 2% under the market; replaced at 1 s (2 s processing) by one at
/// the market's level: the answer is a new order (`replaces` the old),
/// accepted until 3 s; the old reads `pending_replace`, then `replaced`
/// with `replaced_by`; the new one fills, the old never does.
#[tokio::test(start_paused = true)]
async fn a_replace_takes_the_old_orders_place() {
    let b = broker(&scenario("0.8", "0s", "  cancel: {processing: 2s}\n"));
    let old = b
        .submit_order(&limit("far", Side::Buy, "98.00"))
        .await
        .expect("accepted");
    sleep(Duration::from_secs(1)).await;
    let change = fillproof_engine::ReplaceRequest {
        limit_price: Some(price("100.50")),
        client_order_id: Some("near".into()),
        ..Default::default()
    };
    let new = b.replace_order(&old.id, &change).await.expect("replaced");
    assert_ne!(new.id, old.id);
    assert_eq!(new.client_order_id, "near");
    assert_eq!(new.replaces.as_deref(), Some(old.id.as_str()));
    assert_eq!(new.limit_price, Some(price("100.50")));
    assert_eq!(new.status, OrderStatus::Accepted);
    let read = b.get_order(&old.id).await.expect("read");
    assert_eq!(read.status, OrderStatus::PendingReplace);
    sleep(Duration::from_secs(3)).await;
    let read = b.get_order(&old.id).await.expect("read");
    assert_eq!(read.status, OrderStatus::Replaced);
    assert_eq!(read.replaced_by.as_deref(), Some(new.id.as_str()));
    assert_eq!(read.filled_qty, Decimal::ZERO);
    let filed = ledger_order(&b, &new.id);
    assert_eq!(filed.accepted_at, Duration::from_secs(3));
    assert!(filed.fills.iter().all(|f| f.at >= Duration::from_secs(3)));
    assert_eq!(filed.qty, Decimal::from(10), "the remainder of the old");
}

/// Goal: a replace that loses to a fill is rejected and the fill stands.
/// Method: a marketable buy filling at 1 s, replaced at once with 5 s of
/// processing: the old order fills, the new one ends `rejected` with
/// nothing filled, the old one never reads `replaced`.
#[tokio::test(start_paused = true)]
async fn a_replace_that_loses_to_a_fill_is_rejected() {
    let b = broker(&scenario("0.8", "1s", "  cancel: {processing: 5s}\n"));
    let old = b
        .submit_order(&limit("marketable", Side::Buy, "101.00"))
        .await
        .expect("accepted");
    let change = fillproof_engine::ReplaceRequest {
        limit_price: Some(price("100.90")),
        ..Default::default()
    };
    let new = b.replace_order(&old.id, &change).await.expect("answered");
    sleep(Duration::from_secs(6)).await;
    let new = b.get_order(&new.id).await.expect("read");
    assert_eq!(new.status, OrderStatus::Rejected);
    assert_eq!(new.filled_qty, Decimal::ZERO);
    let old = b.get_order(&old.id).await.expect("read");
    assert_eq!(old.status, OrderStatus::Filled);
    assert_eq!(old.replaced_by, None);
}

/// Goal: a retried replace never places a second order. Method: the same
/// replace (naming its new client order id) sent twice: the second is
/// refused while the first is pending, and again once it took effect;
/// the ledger holds one order with that client order id.
#[tokio::test(start_paused = true)]
async fn a_retried_replace_never_places_a_second_order() {
    let b = broker(&scenario("0.8", "0s", "  cancel: {processing: 2s}\n"));
    let old = b
        .submit_order(&limit("rest", Side::Buy, "98.00"))
        .await
        .expect("accepted");
    let change = fillproof_engine::ReplaceRequest {
        limit_price: Some(price("97.50")),
        client_order_id: Some("once".into()),
        ..Default::default()
    };
    b.replace_order(&old.id, &change).await.expect("first");
    let again = b.replace_order(&old.id, &change).await;
    assert!(
        matches!(again, Err(BrokerError::Unprocessable { .. })),
        "{again:?}"
    );
    sleep(Duration::from_secs(3)).await;
    let later = b.replace_order(&old.id, &change).await;
    assert!(
        matches!(later, Err(BrokerError::Unprocessable { .. })),
        "{later:?}"
    );
    let copies = b.with_ledger(|l| {
        l.orders()
            .iter()
            .filter(|o| o.client_order_id == "once")
            .count()
    });
    assert_eq!(copies, 1);
}

/// Goal: a bracket's stop can be moved with a replace and the group
/// follows the new leg. Method: once the entry filled, replace the stop
/// loss's stop_price: the new leg takes the old one's place under the
/// entry (nested), the old one reads `replaced`; the group still fills
/// exactly one exit and ends flat.
#[tokio::test(start_paused = true)]
async fn moving_a_brackets_stop_replaces_its_leg_in_the_group() {
    let b = broker(&scenario("0.8", "0s", ""));
    let placed = b
        .submit_order(&bracket("move", "101.00", "99.00"))
        .await
        .expect("accepted");
    sleep(Duration::from_secs(1)).await;
    let old_stop = placed.legs[1].id.clone();
    let change = fillproof_engine::ReplaceRequest {
        stop_price: Some(price("99.50")),
        ..Default::default()
    };
    let new_stop = b.replace_order(&old_stop, &change).await.expect("moved");
    assert_eq!(new_stop.stop_price, Some(price("99.50")));
    let read = b.get_order(&placed.id).await.expect("read");
    assert_eq!(read.legs[1].id, new_stop.id, "{read:?}");
    assert_eq!(
        b.get_order(&old_stop).await.expect("read").status,
        OrderStatus::Replaced
    );
    let end = Duration::from_secs(86_400);
    let exits: Decimal = [read.legs[0].id.clone(), new_stop.id.clone(), old_stop]
        .iter()
        .map(|id| ledger_order(&b, id).filled_qty_at(end))
        .sum();
    assert_eq!(exits, Decimal::from(10));
    assert_eq!(b.with_ledger(|l| l.position_at("QQQ", end)), Decimal::ZERO);
}

/// Goal: replaces Alpaca refuses are refused, naming why. Method: a
/// replace changing nothing (403 `order parameters are not changed`), a
/// stop price on a limit order, a bracket's entry, a filled order.
#[tokio::test(start_paused = true)]
async fn replaces_alpaca_refuses_are_refused() {
    let b = broker(&scenario("0.8", "60s", ""));
    let resting = b
        .submit_order(&limit("r", Side::Buy, "98.00"))
        .await
        .expect("accepted");
    let same = fillproof_engine::ReplaceRequest {
        limit_price: Some(price("98.00")),
        ..Default::default()
    };
    let refused = b.replace_order(&resting.id, &same).await;
    assert!(
        matches!(&refused, Err(BrokerError::Forbidden { message }) if message == "order parameters are not changed"),
        "{refused:?}"
    );
    let stop = fillproof_engine::ReplaceRequest {
        stop_price: Some(price("97.00")),
        ..Default::default()
    };
    let refused = b.replace_order(&resting.id, &stop).await;
    assert!(
        matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains("stop_price")),
        "{refused:?}"
    );
    let group = b
        .submit_order(&bracket("entry", "101.00", "99.00"))
        .await
        .expect("accepted");
    let qty = fillproof_engine::ReplaceRequest {
        qty: Some(Decimal::from(5)),
        ..Default::default()
    };
    let refused = b.replace_order(&group.id, &qty).await;
    assert!(
        matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains("cannot be replaced")),
        "{refused:?}"
    );
    let b = broker(&scenario("0.8", "0s", ""));
    let filled = b
        .submit_order(&order("m", Side::Buy, OrderType::Market))
        .await
        .expect("accepted");
    sleep(Duration::from_secs(1)).await;
    let refused = b.replace_order(&filled.id, &qty).await;
    assert!(
        matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains("order is not open")),
        "{refused:?}"
    );
}

/// Goal: a notional order buys what its dollars buy, at the market.
/// Method: a $1,000 market buy of QQQ (about $100): its quantity is
/// $1,000 over the ask at acceptance, to 9 places rounded down; it fills
/// that quantity; it shows its amount. A limit notional, one with a qty
/// too, and one under a dollar are refused naming why; so is one in an
/// asset that is not fractionable.
#[tokio::test(start_paused = true)]
async fn a_notional_order_buys_what_its_dollars_buy() {
    let b = broker(&scenario("0.8", "0s", ""));
    let dollars = OrderRequest {
        qty: Decimal::ZERO,
        notional: Some(Decimal::from(1_000)),
        time_in_force: TimeInForce::Day,
        ..order("dollars", Side::Buy, OrderType::Market)
    };
    let ask = b
        .market()
        .quote_at("QQQ", Duration::ZERO)
        .expect("quote")
        .ask;
    let placed = b.submit_order(&dollars).await.expect("accepted");
    let expected = (Decimal::from(1_000) / ask)
        .round_dp_with_strategy(9, rust_decimal::RoundingStrategy::ToZero);
    assert_eq!(placed.qty, expected);
    assert_eq!(placed.notional, Some(Decimal::from(1_000)));
    sleep(Duration::from_secs(1)).await;
    let read = b.get_order(&placed.id).await.expect("read");
    assert_eq!(read.status, OrderStatus::Filled);
    assert_eq!(read.filled_qty, expected);
    for (request, needle) in [
        (
            OrderRequest {
                order_type: OrderType::Limit,
                limit_price: Some(price("100")),
                ..dollars.clone()
            },
            "type market",
        ),
        (
            OrderRequest {
                qty: Decimal::ONE,
                ..dollars.clone()
            },
            "only one of qty or notional",
        ),
        (
            OrderRequest {
                notional: Some(price("0.50")),
                ..dollars.clone()
            },
            "must be >= 1.00",
        ),
    ] {
        let refused = b
            .submit_order(&OrderRequest {
                client_order_id: format!("refused-{needle}"),
                ..request
            })
            .await;
        assert!(
            matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains(needle)),
            "{needle}: {refused:?}"
        );
    }
    let text = "version: 1\nname: n\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 1\n  reference_price: {QQQ: \"100.00\"}\nmarket:\n  symbols:\n    QQQ: {fractionable: false}\n";
    let s = Scenario::parse(text.as_bytes(), "n.yaml", None).expect("scenario");
    let whole_shares = broker(&s);
    let refused = whole_shares.submit_order(&dollars).await;
    assert!(
        matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains("not fractionable")),
        "{refused:?}"
    );
}

/// Goal: both exits touched in one instant fill exactly one. Method:
/// twenty brackets, once with `both_exits_touched: 1` and once without,
/// on one seed: in every group exactly one exit fills and at the same
/// instant either way; with both touched, the coin gives the fill to the
/// exit that would not have won in some groups, and the other exit reads
/// open until the OCO delay has passed.
#[tokio::test(start_paused = true)]
async fn both_exits_touched_at_once_fill_exactly_one() {
    let winners = |touched: &'static str| async move {
        let b = broker(&scenario(
            "0.8",
            "0s",
            &format!("  cancel: {{oco_delay: 1s, both_exits_touched: {touched}}}\n"),
        ));
        let mut outcome = Vec::new();
        for i in 0..20 {
            let placed = b
                .submit_order(&bracket(&format!("both-{i}"), "100.40", "99.60"))
                .await
                .expect("accepted");
            let legs: Vec<LedgerOrder> = placed
                .legs
                .iter()
                .map(|l| ledger_order(&b, &l.id))
                .collect();
            let filled: Vec<&LedgerOrder> = legs.iter().filter(|l| !l.fills.is_empty()).collect();
            assert_eq!(filled.len(), 1, "{legs:?}");
            let at = filled[0].fills[0].at;
            let loser = legs.iter().find(|l| l.fills.is_empty()).expect("a loser");
            assert!(!loser.status_at(at).is_terminal());
            assert_eq!(
                loser.status_at(at + Duration::from_secs(1)),
                TrueStatus::Canceled
            );
            outcome.push((at, filled[0].order_type));
        }
        outcome
    };
    let natural = winners("0").await;
    let touched = winners("1").await;
    let instants = |o: &[(Duration, OrderType)]| o.iter().map(|(at, _)| *at).collect::<Vec<_>>();
    assert_eq!(instants(&natural), instants(&touched));
    assert!(
        natural.iter().zip(&touched).any(|(n, t)| n.1 != t.1),
        "the coin never turned"
    );
}

/// The trade updates `items` delivered, as (event, order id).
fn events(
    items: &mut tokio::sync::mpsc::UnboundedReceiver<fillproof_engine::StreamItem>,
) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    while let Ok(item) = items.try_recv() {
        if let fillproof_engine::StreamItem::Update(update) = item {
            seen.push((update.event.as_str().to_owned(), update.order.id.clone()));
        }
    }
    seen
}

/// Goal: the stream sends `accepted`, `done_for_day` and `pending_new`
/// when Alpaca does. Method: a market keeping regular hours, the run
/// starting at 08:00 New York time: a `gtc` buy resting far under the
/// market is `accepted` at once, `new` at the 09:30 open and
/// `done_for_day` at the 16:00 close; replaced in the session (200 ms of
/// processing), its replacement is `pending_new`, then `new`, and the old
/// one `pending_replace`, then `replaced`.
#[tokio::test(start_paused = true)]
async fn the_stream_tells_accepted_done_for_day_and_pending_new() {
    use fillproof_engine::TradeUpdates;
    let text = "version: 1\nname: events\nseed: 3\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\nbroker:\n  fill: {probability: 1, delay: 0s}\n  cancel: {processing: 200ms}\n  stream: {delay: 1ms}\nmarket:\n  hours: regular\n  symbols:\n    QQQ: {volatility: 0}\n";
    let s = Scenario::parse(text.as_bytes(), "events.yaml", None).expect("scenario");
    let mut model = BrokerModel::from_scenario(&s);
    model.epoch_unix_micros = fillproof_engine::Timestamp::parse_rfc3339("2025-01-02T13:00:00Z")
        .expect("start")
        .unix_micros;
    let b = SimBroker::new(model, s.seed, false);
    let mut items = b.subscribe();
    let placed = b
        .submit_order(&limit("night", Side::Buy, "90.00"))
        .await
        .expect("accepted");
    sleep(Duration::from_secs(2 * 3_600)).await;
    let change = fillproof_engine::ReplaceRequest {
        limit_price: Some(price("91.00")),
        ..Default::default()
    };
    let new = b
        .replace_order(&placed.id, &change)
        .await
        .expect("replaced");
    sleep(Duration::from_secs(7 * 3_600)).await;
    let seen = events(&mut items);
    let of = |id: &str| {
        seen.iter()
            .filter(|(_, order)| order == id)
            .map(|(event, _)| event.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of(&placed.id),
        ["accepted", "new", "pending_replace", "replaced"]
    );
    assert_eq!(of(&new.id), ["pending_new", "new", "done_for_day"]);
}

/// The scenario of [`scenario`] (a still market, fills drawn 60 s after
/// they may) with `broker` lines and the `timeline` events given.
fn scripted(broker: &str, timeline: &str) -> Scenario {
    let base = "version: 1\nname: orders\nseed: 21\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\n";
    let text = format!(
        "{base}broker:\n  fill: {{probability: 1, delay: 60s}}\n{broker}market:\n  hours: always\n  symbols:\n    QQQ: {{volatility: 0, quote: {{spread_bps: 2}}}}\ntimeline:\n{timeline}"
    );
    Scenario::parse(text.as_bytes(), "orders.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Goal: a timeline scripts both exits of a bracket touched in one
/// instant: exactly one fills, the other reads open until the OCO delay
/// has passed and is canceled then. Method: twelve brackets, each with
/// its entry scripted to fill at 1 s and both legs at 30 s, a 2 s OCO
/// delay: in every group one leg fills (whole, at 30 s, at its price),
/// the other is open at 30 s and 31.9 s and canceled at 32 s; the
/// group's own coin gives the fill to the take profit in some groups and
/// to the stop loss in others.
#[tokio::test(start_paused = true)]
async fn a_timeline_scripts_both_exits_touched_in_one_instant() {
    let mut timeline = String::new();
    for i in 0..12 {
        timeline += &format!(
            "  - {{at: 1s, client_order_id: both-{i}, event: fill}}\n  - {{at: 30s, client_order_id: both-{i}, leg: take_profit, event: fill}}\n  - {{at: 30s, client_order_id: both-{i}, leg: stop_loss, event: fill, price: \"99.50\"}}\n"
        );
    }
    let b = broker(&scripted("  cancel: {oco_delay: 2s}\n", &timeline));
    let at = Duration::from_secs(30);
    let mut winners = Vec::new();
    for i in 0..12 {
        let placed = b
            .submit_order(&bracket(&format!("both-{i}"), "100.40", "99.60"))
            .await
            .expect("accepted");
        let legs: Vec<LedgerOrder> = placed
            .legs
            .iter()
            .map(|l| ledger_order(&b, &l.id))
            .collect();
        let (filled, open): (Vec<&LedgerOrder>, Vec<&LedgerOrder>) =
            legs.iter().partition(|l| !l.fills.is_empty());
        assert_eq!((filled.len(), open.len()), (1, 1), "{legs:?}");
        let (winner, loser) = (filled[0], open[0]);
        assert_eq!(winner.fills.len(), 1);
        assert_eq!(winner.fills[0].at, at);
        assert_eq!(winner.fills[0].qty, Decimal::from(10));
        let expected = match winner.order_type {
            OrderType::Limit => price("100.40"),
            _ => price("99.50"),
        };
        assert_eq!(winner.fills[0].price, expected);
        // A scripted stop's fill is its trigger.
        if winner.order_type == OrderType::Stop {
            assert_eq!(winner.triggered_at, Some(at));
        }
        for open_at in [at, at + Duration::from_millis(1_900)] {
            assert!(!loser.status_at(open_at).is_terminal(), "{loser:?}");
        }
        assert_eq!(
            loser.status_at(at + Duration::from_secs(2)),
            TrueStatus::Canceled
        );
        winners.push(winner.order_type);
    }
    assert!(
        winners.contains(&OrderType::Limit) && winners.contains(&OrderType::Stop),
        "the coin always chose one role: {winners:?}"
    );
}

/// Goal: a timeline scripts a leg filling while the entry's unfilled
/// remainder is being canceled. Method: a bracket whose entry fills 4 at
/// 1 s and the rest at 2.5 s; its client cancels it at 2 s and the broker
/// takes 2 s to process a cancel. The entry fills whole before the cancel
/// would take effect (4 s; it reads `pending_cancel` from 2 s), so its
/// legs work, and the take profit scripted at 3 s fills then, at its
/// limit; the stop loss is canceled after the OCO delay.
#[tokio::test(start_paused = true)]
async fn a_timeline_scripts_a_leg_filling_while_the_entry_is_canceled() {
    let timeline = "  - {at: 1s, client_order_id: race, event: fill, qty: 4}\n  - {at: 2.5s, client_order_id: race, event: fill}\n  - {at: 3s, client_order_id: race, leg: take_profit, event: fill}\n";
    let b = broker(&scripted(
        "  cancel: {processing: 2s, oco_delay: 100ms}\n",
        timeline,
    ));
    let placed = b
        .submit_order(&bracket("race", "100.40", "99.60"))
        .await
        .expect("accepted");
    sleep(Duration::from_secs(2)).await;
    b.cancel_order(&placed.id).await.expect("cancel accepted");
    let entry = ledger_order(&b, &placed.id);
    assert_eq!(
        entry.status_at(Duration::from_millis(2_100)),
        TrueStatus::PendingCancel
    );
    assert_eq!(entry.status_at(Duration::from_secs(5)), TrueStatus::Filled);
    let legs: Vec<LedgerOrder> = placed
        .legs
        .iter()
        .map(|l| ledger_order(&b, &l.id))
        .collect();
    let take_profit = legs
        .iter()
        .find(|l| l.order_type == OrderType::Limit)
        .expect("a take profit");
    let stop_loss = legs
        .iter()
        .find(|l| l.order_type == OrderType::Stop)
        .expect("a stop loss");
    assert_eq!(take_profit.fills.len(), 1);
    assert_eq!(take_profit.fills[0].at, Duration::from_secs(3));
    assert_eq!(take_profit.fills[0].price, price("100.40"));
    assert_eq!(
        stop_loss.status_at(Duration::from_millis(3_100)),
        TrueStatus::Canceled
    );
    assert!(stop_loss.fills.is_empty());
}

/// Goal: `check` refuses a `leg` it cannot apply, naming the field.
/// Method: a leg on a `fault`, and a leg of a workload order when the
/// workload's orders are simple.
#[test]
fn a_leg_the_timeline_cannot_apply_is_refused() {
    let text = "version: 1\nname: legs\nseed: 1\nworkload:\n  orders: 2\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\ntimeline:\n  - {at: 1s, order: 0, leg: stop_loss, event: fill}\n  - {client_order_id: x, leg: take_profit, event: fault, call: get_order, fault: timeout}\n  - {at: 1s, client_order_id: fp-1-1, leg: stop_loss, event: fill}\n";
    let error = Scenario::parse(text.as_bytes(), "legs.yaml", None)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("timeline[0].leg") && error.contains("order 0 has no legs"),
        "{error}"
    );
    assert!(
        error.contains("timeline[1].leg") && error.contains("a `fault` strikes a call"),
        "{error}"
    );
    assert!(
        error.contains("timeline[2].leg") && error.contains("order 1 has no legs"),
        "the workload's own id names order 1: {error}"
    );
    let listed = "version: 1\nname: legs\nseed: 1\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  list:\n    - {at: 0s, symbol: QQQ, side: buy, qty: 10}\n  reference_price: {QQQ: \"100.00\"}\n  exits: {take_profit_bps: 30, stop_loss_bps: 30}\ntimeline:\n  - {at: 1s, order: 0, leg: stop_loss, event: fill}\n";
    let error = Scenario::parse(listed.as_bytes(), "legs.yaml", None)
        .map(|_| ())
        .expect_err("a listed order has no legs")
        .to_string();
    assert!(error.contains("is a listed order"), "{error}");
    let apart = "version: 1\nname: legs\nseed: 1\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\n  exits: {take_profit_bps: 30, stop_loss_bps: 30}\ntimeline:\n  - {at: 20s, order: 0, leg: take_profit, event: fill, qty: 4}\n  - {at: 21s, order: 0, leg: stop_loss, event: fill}\n";
    let error = Scenario::parse(apart.as_bytes(), "legs.yaml", None)
        .map(|_| ())
        .expect_err("the later leg never fills")
        .to_string();
    assert!(
        error.contains("timeline[1].at") && error.contains("one cancels the other"),
        "{error}"
    );
}

/// Goal: a bot's order whose scripted leg it does not have is refused
/// at submit, naming the line, never left unscripted in silence; one
/// whose script fits is accepted, and a scripted fill is never cut by a
/// drawn rejection. Method: a scenario rejecting every order it draws,
/// scripting a take-profit leg for an OCO (its take profit is the order
/// itself), for an OTO with only a stop loss and for a simple order, and
/// a stop-loss leg for another OTO: the first three are refused with a
/// 422 naming the leg and line; the last is accepted and its scripted
/// leg fills.
#[tokio::test(start_paused = true)]
async fn a_scripted_leg_the_order_does_not_have_is_refused_at_submit() {
    let timeline = "  - {at: 0s, client_order_id: position, event: fill}\n  - {at: 5s, client_order_id: oco1, leg: take_profit, event: fill}\n  - {at: 5s, client_order_id: oto1, leg: take_profit, event: fill}\n  - {at: 5s, client_order_id: simple1, leg: stop_loss, event: fill}\n  - {at: 1s, client_order_id: oto2, event: fill}\n  - {at: 5s, client_order_id: oto2, leg: stop_loss, event: fill}\n";
    let b = broker(&scripted("  rejections: {probability: 1}\n", timeline));
    let oto = |id: &str| OrderRequest {
        order_class: OrderClass::Oto,
        stop_loss: Some(StopLoss {
            stop_price: price("99.60"),
            limit_price: None,
        }),
        ..order(id, Side::Buy, OrderType::Market)
    };
    // A position for the OCO to close.
    b.submit_order(&order("position", Side::Buy, OrderType::Market))
        .await
        .expect("scripted: no drawn rejection cuts it");
    b.submit_order(&order("unscripted", Side::Buy, OrderType::Market))
        .await
        .expect_err("a drawn rejection");
    for (request, says) in [
        (oco("oco1"), "script it without `leg`"),
        (
            oto("oto1"),
            "the take-profit leg of client_order_id \"oto1\" (line 19)",
        ),
        (
            order("simple1", Side::Buy, OrderType::Market),
            "simple order has no such leg",
        ),
    ] {
        let refused = b.submit_order(&request).await.expect_err("refused");
        assert!(refused.to_string().contains(says), "{refused}");
    }
    let placed = b.submit_order(&oto("oto2")).await.expect("its script fits");
    let leg = ledger_order(&b, &placed.legs[0].id);
    assert_eq!(leg.fills.len(), 1, "{leg:?}");
    assert_eq!(leg.fills[0].at, Duration::from_secs(5));
}

/// Goal: `check` refuses a `crash` event it cannot apply, naming the
/// field: one naming an order without a point, one naming an order with
/// an instant too, one on attempt 0, a point on another event, and a crash
/// at an instant with a field it does not take. A crash at an instant
/// naming no order is taken, and joins the crashes' instants.
#[test]
fn a_crash_event_the_timeline_cannot_apply_is_refused() {
    let text = "version: 1\nname: crash\nseed: 1\nworkload:\n  orders: 2\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\ntimeline:\n  - {order: 0, event: crash}\n  - {order: 1, event: crash, point: during_poll, at: 1s}\n  - {order: 1, event: crash, point: during_submit, attempt: 0}\n  - {order: 0, event: fill, at: 2s, point: during_poll}\n  - {at: 3s, event: crash, qty: 1}\n";
    let error = Scenario::parse(text.as_bytes(), "crash.yaml", None)
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    for (field, says) in [
        ("timeline[0].point", "is missing"),
        (
            "timeline[1]",
            "a crash at one of an order's calls takes `point` and `attempt` only",
        ),
        ("timeline[2].attempt", "is 0"),
        ("timeline[3].point", "only `crash` events take `point`"),
        ("timeline[4]", "a crash at an instant takes `at` only"),
    ] {
        assert!(
            error.contains(&format!("`{field}`: {says}")),
            "{field}: {error}"
        );
    }
    let instant = "version: 1\nname: crash\nseed: 1\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\ncrashes: {downtime: 2s}\ntimeline:\n  - {at: 3s, event: crash}\n";
    let s = Scenario::parse(instant.as_bytes(), "crash.yaml", None).expect("a crash at an instant");
    let settings = s.crash_settings().expect("it crashes");
    assert_eq!(
        settings
            .plan(1, Duration::from_secs(60))
            .iter()
            .map(|c| c.at)
            .collect::<Vec<_>>(),
        [Duration::from_secs(3)]
    );
}
