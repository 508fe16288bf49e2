//! The market a `market:` section describes, observed through the
//! simulated broker: fills where the path lets them happen, at the touch,
//! halts, the asset's flags, and a path no order can move.

use std::path::Path;
use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_engine::{
    Broker, BrokerError, MarketData, OrderRequest, OrderStatus, OrderType, Side, TimeInForce,
};
use fillproof_simulator::{BrokerModel, Scenario, SimBroker};
use rust_decimal::Decimal;

/// A one-symbol (QQQ at $100) scenario whose market section is `market`
/// (indented two spaces per level), every order filling after `delay`.
fn scenario(market: &str, delay: &str) -> Scenario {
    let text = format!(
        "version: 1\nname: market\nseed: 9\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {{QQQ: \"100.00\"}}\nbroker:\n  fill: {{probability: 1, delay: {delay}}}\nmarket:\n{market}\n"
    );
    Scenario::parse(text.as_bytes(), "market.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn broker(s: &Scenario) -> SimBroker {
    SimBroker::new(BrokerModel::from_scenario(s), s.seed, false)
}

fn request(id: &str, side: Side, qty: &str, limit: Option<&str>) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        symbol: "QQQ".into(),
        side,
        qty: qty.parse().expect("qty"),
        order_type: if limit.is_some() {
            OrderType::Limit
        } else {
            OrderType::Market
        },
        time_in_force: TimeInForce::Day,
        limit_price: limit.map(|l| l.parse().expect("limit")),
        extended_hours: false,
        stop_price: None,
        trail: None,
        order_class: fillproof_engine::OrderClass::Simple,
        take_profit: None,
        stop_loss: None,
        notional: None,
    }
}

fn price(text: &str) -> Decimal {
    text.parse().expect("price")
}

/// The fills of the order the broker knows as `id`: (when, price).
fn fills(broker: &SimBroker, id: &str) -> Vec<(Duration, Decimal)> {
    broker.with_ledger(|ledger| {
        ledger
            .orders()
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.fills.iter().map(|f| (f.at, f.price)).collect())
            .unwrap_or_default()
    })
}

const VOLATILE: &str = "  hours: always\n  symbols:\n    QQQ: {volatility: 0.8, quote: {spread_bps: {uniform: [1, 6]}}}";

/// Goal: a resting limit fills the first instant the market reaches it,
/// never before. Method: on a volatile path, rest a buy 0.2% under the
/// market and a sell 0.2% over it; each fills at a time when the touch
/// (the ask for the buy, the bid for the sell) is at its limit or better,
/// at that limit or better, and at no earlier step was the touch there.
#[tokio::test(start_paused = true)]
async fn a_resting_limit_fills_the_first_instant_the_market_reaches_it() {
    let s = scenario(VOLATILE, "0s");
    let broker = broker(&s);
    let market = broker.market();
    let cases = [(Side::Buy, "99.80"), (Side::Sell, "100.20")];
    for (i, (side, limit)) in cases.into_iter().enumerate() {
        let order = broker
            .submit_order(&request(&format!("rest-{i}"), side, "10", Some(limit)))
            .await
            .expect("accepted");
        let fills = fills(&broker, &order.id);
        assert_eq!(fills.len(), 1, "{side:?} at {limit}: {fills:?}");
        let (at, filled_at) = fills[0];
        assert!(
            at > Duration::ZERO,
            "{side:?} filled at once, on a market away from it"
        );
        let limit = price(limit);
        let touch = |t: Duration| {
            let q = market.quote_at("QQQ", t).expect("quote");
            if side == Side::Buy { q.ask } else { q.bid }
        };
        let better = |p: Decimal| {
            if side == Side::Buy {
                p <= limit
            } else {
                p >= limit
            }
        };
        assert!(better(touch(at)), "{side:?}: touch {} at {at:?}", touch(at));
        assert!(
            better(filled_at),
            "{side:?} filled at {filled_at}, past {limit}"
        );
        let mut t = Duration::ZERO;
        while t < at {
            assert!(
                !better(touch(t)),
                "{side:?}: the touch reached {limit} at {t:?}, before {at:?}"
            );
            t += Duration::from_secs(1);
        }
    }
}

/// Goal: a market order fills at the touch. Method: with no slippage, a
/// buy fills at the ask and a sell at the bid of the instant each fills,
/// and the two differ by the spread.
#[tokio::test(start_paused = true)]
async fn a_market_order_fills_at_the_touch() {
    let s = scenario(VOLATILE, "3s");
    let broker = broker(&s);
    for (i, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
        let order = broker
            .submit_order(&request(&format!("mkt-{i}"), side, "10", None))
            .await
            .expect("accepted");
        let (at, filled_at) = fills(&broker, &order.id)[0];
        assert_eq!(at, Duration::from_secs(3));
        let quote = broker.market().quote_at("QQQ", at).expect("quote");
        let touch = if side == Side::Buy {
            quote.ask
        } else {
            quote.bid
        };
        assert_eq!(filled_at, touch, "{side:?} at {quote:?}");
        assert!(quote.ask > quote.bid);
    }
}

/// Goal: a halted symbol accepts orders and fills none until the halt
/// ends. Method: a halt from 2s for 10s; a market order due at 3s is
/// accepted and fills at 12s, the halt's end, and the broker says it was
/// halted in between.
#[tokio::test(start_paused = true)]
async fn a_halted_symbol_fills_nothing_until_the_halt_ends() {
    let market = "  hours: always\n  symbols:\n    QQQ: {halts: {windows: [{at: 2s, for: 10s}]}}";
    let s = scenario(market, "3s");
    let broker = broker(&s);
    let order = broker
        .submit_order(&request("halted", Side::Buy, "10", None))
        .await
        .expect("a halted symbol accepts orders");
    assert!(broker.market().halted_at("QQQ", Duration::from_secs(5)));
    assert!(!broker.market().halted_at("QQQ", Duration::from_secs(12)));
    assert_eq!(fills(&broker, &order.id)[0].0, Duration::from_secs(12));
    sleep(Duration::from_secs(6)).await;
    let read = broker.get_order(&order.id).await.expect("read");
    assert_eq!(read.status, OrderStatus::New, "filled during the halt");
}

/// Goal: the path is the seed's and the symbol's, whatever the orders do.
/// Method: two brokers on one scenario, one trading heavily and one idle,
/// quote the same at every second of a minute.
#[tokio::test(start_paused = true)]
async fn orders_never_move_the_market() {
    let s = scenario(VOLATILE, "1s");
    let busy = broker(&s);
    let idle = broker(&s);
    for i in 0..20 {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        busy.submit_order(&request(&format!("o-{i}"), side, "10", Some("100.00")))
            .await
            .expect("accepted");
    }
    for second in (0..60).rev() {
        let t = Duration::from_secs(second);
        assert_eq!(
            busy.market().quote_at("QQQ", t),
            idle.market().quote_at("QQQ", t)
        );
    }
    sleep(Duration::from_secs(5)).await;
    assert_eq!(
        busy.latest_quote("QQQ").await.expect("quote"),
        idle.latest_quote("QQQ").await.expect("quote")
    );
}

/// Goal: orders the asset's flags forbid are refused as Alpaca refuses
/// them. Method: one symbol per flag; each refusal names the asset.
#[tokio::test(start_paused = true)]
async fn an_assets_flags_refuse_what_they_forbid() {
    let market = "  hours: always\n  symbols:\n    QQQ: {status: inactive}";
    let b = broker(&scenario(market, "0s"));
    let refused = b.submit_order(&request("a", Side::Buy, "1", None)).await;
    assert!(
        matches!(refused, Err(BrokerError::Unprocessable { ref message }) if message == "asset QQQ is not active"),
        "{refused:?}"
    );

    let market = "  hours: always\n  symbols:\n    QQQ: {tradable: false}";
    let b = broker(&scenario(market, "0s"));
    let refused = b.submit_order(&request("b", Side::Buy, "1", None)).await;
    assert!(
        matches!(refused, Err(BrokerError::Unprocessable { ref message }) if message == "asset QQQ is not tradable"),
        "{refused:?}"
    );

    let market = "  hours: always\n  symbols:\n    QQQ: {fractionable: false}";
    let b = broker(&scenario(market, "0s"));
    let refused = b.submit_order(&request("c", Side::Buy, "1.5", None)).await;
    assert!(
        matches!(refused, Err(BrokerError::Unprocessable { ref message }) if message == "asset QQQ is not fractionable"),
        "{refused:?}"
    );
    assert!(
        b.submit_order(&request("c2", Side::Buy, "2", None))
            .await
            .is_ok()
    );

    let market = "  hours: always\n  symbols:\n    QQQ: {shortable: false}";
    let b = broker(&scenario(market, "0s"));
    let refused = b.submit_order(&request("d", Side::Sell, "5", None)).await;
    assert!(
        matches!(refused, Err(BrokerError::Forbidden { ref message }) if message == "asset QQQ cannot be sold short"),
        "{refused:?}"
    );
    b.submit_order(&request("e", Side::Buy, "5", None))
        .await
        .expect("a buy");
    assert!(
        b.submit_order(&request("f", Side::Sell, "5", None))
            .await
            .is_ok(),
        "selling what is held is not a short sale"
    );
}

/// Goal: a market section out of range is refused with the field and the
/// line. Method: a volatility of 12, a step under 100ms, a symbol with no
/// price anywhere, and an unknown field.
#[test]
fn a_market_section_out_of_range_names_the_field() {
    let text = |market: &str| {
        format!(
            "version: 1\nname: m\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 1\n  reference_price: {{QQQ: \"100.00\"}}\nmarket:\n{market}\n"
        )
    };
    let cases = [
        (
            "  symbols:\n    QQQ: {volatility: 12}",
            "market.symbols.QQQ.volatility",
            "10:",
        ),
        (
            "  symbols:\n    QQQ: {step: 10ms}",
            "market.symbols.QQQ.step",
            "10:",
        ),
        (
            "  symbols:\n    SPY: {volatility: 0.2}",
            "market.symbols.SPY.price",
            "10:",
        ),
        ("  symbols:\n    QQQ: {volatilty: 0.2}", "volatilty", "10:"),
        ("  hours: weekends", "market.hours", "9:"),
    ];
    for (market, field, line) in cases {
        let body = text(market);
        let error = Scenario::parse(body.as_bytes(), "m.yaml", None)
            .expect_err(market)
            .to_string();
        assert!(error.contains(field), "{market}: {error}");
        assert!(
            error.contains(&format!("m.yaml:{line}")),
            "{market}: {error}"
        );
    }
}

/// A broker on a still market (QQQ at $100, quoted 99.99 / 100.01)
/// keeping regular hours, whose virtual time zero is `start` (RFC 3339),
/// every order filling `delay` after it may.
fn at_hours(start: &str, delay: &str) -> SimBroker {
    let s = scenario("  symbols:\n    QQQ: {volatility: 0}", delay);
    let mut model = BrokerModel::from_scenario(&s);
    model.epoch_unix_micros = fillproof_engine::Timestamp::parse_rfc3339(start)
        .expect("start")
        .unix_micros;
    SimBroker::new(model, s.seed, false)
}

fn hours(h: u64, m: u64) -> Duration {
    Duration::from_secs(h * 3_600 + m * 60)
}

fn with_tif(mut request: OrderRequest, tif: TimeInForce) -> OrderRequest {
    request.time_in_force = tif;
    request
}

/// Goal: orders sent while the market is closed wait for the open, and a
/// day order expires at its day's close. Method: from 08:00 New York time
/// (13:00Z, winter) on 2025-01-02, a market buy fills at the 09:30 open;
/// a buy limit under the ask rests and expires at the 16:00 close, while
/// the same as `gtc` lives on past it.
#[tokio::test(start_paused = true)]
async fn orders_wait_for_the_open_and_day_orders_expire_at_the_close() {
    let broker = at_hours("2025-01-02T13:00:00Z", "0s");
    let market = broker
        .submit_order(&request("open", Side::Buy, "10", None))
        .await
        .expect("accepted while closed");
    assert_eq!(
        fills(&broker, &market.id),
        vec![(hours(1, 30), price("100.01"))]
    );
    let day = broker
        .submit_order(&request("day", Side::Buy, "10", Some("99.00")))
        .await
        .expect("accepted");
    let gtc = broker
        .submit_order(&with_tif(
            request("gtc", Side::Buy, "10", Some("99.00")),
            TimeInForce::Gtc,
        ))
        .await
        .expect("accepted");
    sleep(hours(8, 0) + Duration::from_secs(1)).await;
    let day = broker.get_order(&day.id).await.expect("read");
    assert_eq!(
        day.status,
        OrderStatus::Expired,
        "a day order past its close"
    );
    let gtc = broker.get_order(&gtc.id).await.expect("read");
    assert_eq!(gtc.status, OrderStatus::New, "a gtc order past the close");
}

/// Goal: extended-hours orders trade before the open only as limit day
/// orders, as Alpaca requires. Method: at 08:00 New York time an
/// extended limit buy over the ask fills at once, the same without the
/// flag waits for the open, and an extended market order is refused.
#[tokio::test(start_paused = true)]
async fn extended_hours_orders_trade_before_the_open() {
    let broker = at_hours("2025-01-02T13:00:00Z", "0s");
    let mut extended = request("ext", Side::Buy, "10", Some("100.05"));
    extended.extended_hours = true;
    let order = broker.submit_order(&extended).await.expect("accepted");
    assert_eq!(
        fills(&broker, &order.id),
        vec![(Duration::ZERO, price("100.01"))]
    );
    let regular = broker
        .submit_order(&request("reg", Side::Buy, "10", Some("100.05")))
        .await
        .expect("accepted");
    assert_eq!(fills(&broker, &regular.id)[0].0, hours(1, 30));
    let mut market = request("ext-mkt", Side::Buy, "10", None);
    market.extended_hours = true;
    let refused = broker.submit_order(&market).await;
    assert!(
        matches!(refused, Err(BrokerError::Unprocessable { ref message }) if message == "extended hours order must be DAY limit orders"),
        "{refused:?}"
    );
}

/// Goal: `opg` and `cls` trade in the auctions, whole, at the opening and
/// closing price; sent too late for their auction they are refused; an
/// `ioc` sent while closed is canceled unfilled. Method: from 08:00 New
/// York time, an opg fills at 09:30 and a cls at 16:00, each at the
/// market's price; at 10:00 an opg is refused; before the open an ioc is
/// canceled at once.
#[tokio::test(start_paused = true)]
async fn auctions_fill_at_the_open_and_the_close() {
    let broker = at_hours("2025-01-02T13:00:00Z", "0s");
    let opg = broker
        .submit_order(&with_tif(
            request("opg", Side::Buy, "10", None),
            TimeInForce::Opg,
        ))
        .await
        .expect("accepted");
    let cls = broker
        .submit_order(&with_tif(
            request("cls", Side::Sell, "10", None),
            TimeInForce::Cls,
        ))
        .await
        .expect("accepted");
    assert_eq!(
        fills(&broker, &opg.id),
        vec![(hours(1, 30), price("100.00"))]
    );
    assert_eq!(
        fills(&broker, &cls.id),
        vec![(hours(8, 0), price("100.00"))]
    );
    let ioc = broker
        .submit_order(&with_tif(
            request("ioc", Side::Buy, "10", None),
            TimeInForce::Ioc,
        ))
        .await
        .expect("accepted");
    assert!(fills(&broker, &ioc.id).is_empty());
    assert_eq!(
        broker.get_order(&ioc.id).await.expect("read").status,
        OrderStatus::Canceled
    );
    sleep(hours(2, 0)).await;
    let late = broker
        .submit_order(&with_tif(
            request("late", Side::Buy, "10", None),
            TimeInForce::Opg,
        ))
        .await;
    assert!(
        matches!(late, Err(BrokerError::Unprocessable { ref message }) if message.starts_with("opg orders are not accepted from 09:28")),
        "{late:?}"
    );
}

/// Goal: `hours: always` trades at any instant. Method: on Saturday
/// 2025-01-04, a market order fills at once under `always`, and waits for
/// Monday's open under regular hours.
#[tokio::test(start_paused = true)]
async fn a_market_open_always_trades_on_a_saturday() {
    let s = scenario(
        "  hours: always\n  symbols:\n    QQQ: {volatility: 0}",
        "0s",
    );
    let mut model = BrokerModel::from_scenario(&s);
    model.epoch_unix_micros = fillproof_engine::Timestamp::parse_rfc3339("2025-01-04T15:00:00Z")
        .expect("start")
        .unix_micros;
    let always = SimBroker::new(model, s.seed, false);
    let order = always
        .submit_order(&request("sat", Side::Buy, "1", None))
        .await
        .expect("accepted");
    assert_eq!(fills(&always, &order.id)[0].0, Duration::ZERO);
    let regular = at_hours("2025-01-04T15:00:00Z", "0s");
    let order = regular
        .submit_order(&request("sat", Side::Buy, "1", None))
        .await
        .expect("accepted");
    // Monday 2025-01-06 09:30 New York time is 14:30Z, 47.5 hours on.
    assert_eq!(fills(&regular, &order.id)[0].0, hours(47, 30));
}

/// Goal: the tape prints trades only while the market trades. Method:
/// from Saturday 2025-01-04 15:00Z under regular hours, no trade prints
/// over the weekend; the first is at Monday's pre-market open (04:00 New
/// York time, 09:00Z, 42 hours on); under `hours: always` trades print
/// from the start.
#[test]
fn the_tape_is_silent_while_the_market_is_closed() {
    let weekend = Duration::ZERO..hours(43, 0);
    let regular = at_hours("2025-01-04T15:00:00Z", "0s");
    let trades = regular
        .market()
        .trades("QQQ", weekend.clone(), 10)
        .expect("listed");
    assert_eq!(trades.first().map(|t| t.at), Some(hours(42, 0)));
    let s = scenario(
        "  hours: always\n  symbols:\n    QQQ: {volatility: 0}",
        "0s",
    );
    let always = broker(&s);
    let trades = always.market().trades("QQQ", weekend, 10).expect("listed");
    assert_eq!(trades.first().map(|t| t.at), Some(Duration::ZERO));
}

/// A one-symbol scenario (QQQ, open always, seed `seed`) whose QQQ is
/// `symbol` (a flow mapping naming a file under tests/fixtures), every
/// order filling `delay` after it may; the `QQQ:` line is line 14.
fn recorded_text(symbol: &str, delay: &str, seed: u64) -> String {
    format!(
        "version: 1\nname: recorded\nseed: {seed}\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {{QQQ: \"100.00\"}}\nbroker:\n  fill: {{probability: 1, delay: {delay}}}\nmarket:\n  hours: always\n  symbols:\n    QQQ: {symbol}\n"
    )
}

fn parse_recorded(text: &str) -> Result<Scenario, fillproof_simulator::ScenarioError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    Scenario::parse(text.as_bytes(), "recorded.yaml", Some(&dir))
}

fn recorded(symbol: &str, delay: &str, seed: u64) -> Scenario {
    let text = recorded_text(symbol, delay, seed);
    parse_recorded(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const TRADES: &str = "{file: fixtures/qqq-trades.csv}";

/// Goal: a recorded path replays its records from the run's start, and a
/// resting limit fills exactly when the recorded price crosses it, at the
/// touch of the quote around that price. Method: QQQ replays
/// fixtures/qqq-trades.csv (100.00, 99.90 at 5s, 99.85 at 12s, 99.95 at
/// 12.4s, 99.75 at 20s, 99.95 at 30s; quotes 2 bps, a cent either side);
/// the market reads each record from its instant (the 12.4s trade from
/// the next step), and a buy limit at 99.80 fills at 20s at the ask,
/// 99.76, not at 19s when the ask is 99.96.
#[tokio::test(start_paused = true)]
async fn a_resting_limit_fills_when_the_recorded_price_crosses_it() {
    let broker = broker(&recorded(TRADES, "0s", 9));
    let market = broker.market();
    let seen: Vec<Decimal> = [0, 4, 5, 12, 13, 19, 20, 30, 3_600]
        .into_iter()
        .map(|s| {
            market
                .price_at("QQQ", Duration::from_secs(s))
                .expect("listed")
        })
        .collect();
    let expected = [
        "100.00", "100.00", "99.90", "99.85", "99.95", "99.95", "99.75", "99.95", "99.95",
    ];
    assert_eq!(seen, expected.map(price));
    let order = broker
        .submit_order(&request("rest", Side::Buy, "10", Some("99.80")))
        .await
        .expect("accepted");
    let at = Duration::from_secs(20);
    assert_eq!(fills(&broker, &order.id), vec![(at, price("99.76"))]);
    let quote = market.quote_at("QQQ", at).expect("quote");
    assert_eq!((quote.bid, quote.ask), (price("99.74"), price("99.76")));
    let before = market
        .quote_at("QQQ", at - Duration::from_secs(1))
        .expect("quote");
    assert_eq!(before.ask, price("99.96"));
}

/// Goal: a market order on a recorded path fills at the touch around the
/// recorded price. Method: due at 5s, when the tape reads 99.90, a buy
/// fills at the ask 99.91 and a sell at the bid 99.89.
#[tokio::test(start_paused = true)]
async fn a_market_order_fills_at_the_recorded_touch() {
    let broker = broker(&recorded(TRADES, "5s", 9));
    let cases = [(Side::Buy, "99.91"), (Side::Sell, "99.89")];
    for (i, (side, touch)) in cases.into_iter().enumerate() {
        let order = broker
            .submit_order(&request(&format!("mkt-{i}"), side, "10", None))
            .await
            .expect("accepted");
        assert_eq!(
            fills(&broker, &order.id),
            vec![(Duration::from_secs(5), price(touch))],
            "{side:?}"
        );
    }
}

/// Goal: recorded bars replay their open, the extreme nearer the open,
/// the other extreme and the close, and limits fill at the extremes.
/// Method: fixtures/qqq-bars.csv holds two one-minute bars; the market
/// reads open, low, high, close at 0, 15, 30, 45s of the first (its low is
/// nearer the open) and open, high, low, close in the second; a sell
/// limit at 100.40 fills at the first bar's high (30s, bid 100.49) and a
/// buy limit at 99.55 at the second bar's low (90s, ask 99.51).
#[tokio::test(start_paused = true)]
async fn recorded_bars_fill_at_their_extremes() {
    let broker = broker(&recorded("{file: fixtures/qqq-bars.csv}", "0s", 9));
    let seen: Vec<Decimal> = [0, 15, 30, 45, 60, 75, 90, 105, 600]
        .into_iter()
        .map(|s| {
            broker
                .market()
                .price_at("QQQ", Duration::from_secs(s))
                .expect("listed")
        })
        .collect();
    let expected = [
        "100.00", "99.90", "100.50", "100.20", "100.20", "100.30", "99.50", "99.60", "99.60",
    ];
    assert_eq!(seen, expected.map(price));
    let sell = broker
        .submit_order(&request("high", Side::Sell, "10", Some("100.40")))
        .await
        .expect("accepted");
    assert_eq!(
        fills(&broker, &sell.id),
        vec![(Duration::from_secs(30), price("100.49"))]
    );
    let buy = broker
        .submit_order(&request("low", Side::Buy, "10", Some("99.55")))
        .await
        .expect("accepted");
    assert_eq!(
        fills(&broker, &buy.id),
        vec![(Duration::from_secs(90), price("99.51"))]
    );
}

/// Goal: a run on a recorded path is the same run twice, and the path is
/// the file's whatever the seed. Method: two brokers on one scenario take
/// the same orders and end with the same fills and trace hash; a broker
/// under another seed reads the same prices every second for a minute.
#[tokio::test(start_paused = true)]
async fn a_recorded_run_is_the_same_twice() {
    let s = recorded(TRADES, "1s", 9);
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let broker = SimBroker::new(BrokerModel::from_scenario(&s), s.seed, true);
        let mut ids = Vec::new();
        for (i, limit) in [None, Some("99.80"), Some("99.90"), None]
            .into_iter()
            .enumerate()
        {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let order = broker
                .submit_order(&request(&format!("o-{i}"), side, "10", limit))
                .await
                .expect("accepted");
            ids.push(order.id);
        }
        sleep(Duration::from_secs(60)).await;
        let all: Vec<Vec<(Duration, Decimal)>> = ids.iter().map(|id| fills(&broker, id)).collect();
        assert!(all.iter().all(|f| !f.is_empty()), "{all:?}");
        outcomes.push((all, broker.trace_hash()));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    let other = broker(&recorded(TRADES, "1s", 10));
    let same = broker(&s);
    for second in 0..60 {
        let t = Duration::from_secs(second);
        assert_eq!(
            other.market().price_at("QQQ", t),
            same.market().price_at("QQQ", t)
        );
    }
}

/// Goal: a recorded file's problems are refused with the scenario's line
/// and field, the recorded file, the record's line and the column.
/// Method: a missing file, a negative price on line 4 of
/// fixtures/qqq-bad-price.csv, and `volatility` beside `file`.
#[test]
fn a_recorded_files_problems_name_file_line_and_column() {
    let cases = [
        (
            "{file: fixtures/missing.csv}",
            vec!["market.symbols.QQQ.file", "missing.csv", "cannot read it"],
        ),
        (
            "{file: fixtures/qqq-bad-price.csv}",
            vec![
                "market.symbols.QQQ.file",
                "qqq-bad-price.csv",
                "line 4, column `price`: is -5; prices are positive",
            ],
        ),
        (
            "{file: fixtures/qqq-trades.csv, volatility: 0.2}",
            vec!["market.symbols.QQQ.volatility", "beside `file`"],
        ),
    ];
    for (symbol, words) in cases {
        let error = parse_recorded(&recorded_text(symbol, "0s", 9))
            .expect_err(symbol)
            .to_string();
        assert!(error.contains("recorded.yaml:14"), "{symbol}: {error}");
        for word in words {
            assert!(error.contains(word), "{symbol}: {word} not in {error}");
        }
        assert_eq!(error.lines().count(), 1, "{symbol}: one problem: {error}");
    }
}

/// Goal: a scenario without an account block trades a paper account's
/// buying power, market or not; one with a block trades its own. Method:
/// a buy of 900 QQQ at $100 ($90,000) is accepted and a second of 200
/// ($20,000, past the $100,000 left) is refused with 403, with and without
/// a market section; with an account block of $1,000,000 both are
/// accepted.
#[tokio::test(start_paused = true)]
async fn a_scenario_without_an_account_trades_a_paper_account() {
    let flat = "version: 1\nname: flat\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\nbroker:\n  fill: {probability: 1, delay: 1h}\n";
    let with_market = format!("{flat}market:\n  hours: always\n");
    let own = format!("{flat}  account: {{buying_power: \"1000000\"}}\n");
    for (text, second_accepted) in [(flat.to_owned(), false), (with_market, false), (own, true)] {
        let s = Scenario::parse(text.as_bytes(), "account.yaml", None).expect("scenario");
        let b = broker(&s);
        b.submit_order(&request("a", Side::Buy, "900", None))
            .await
            .expect("within the account");
        let second = b.submit_order(&request("b", Side::Buy, "200", None)).await;
        if second_accepted {
            assert!(second.is_ok(), "{text}: {second:?}");
        } else {
            assert!(
                matches!(second, Err(BrokerError::Forbidden { ref message }) if message.starts_with("insufficient buying power")),
                "{text}: {second:?}"
            );
            assert_eq!(
                s.buying_power(),
                Decimal::from(fillproof_simulator::DEFAULT_BUYING_POWER)
            );
        }
    }
}

/// Goal: partial fills keep working on a moving market, each piece at the
/// touch of its own instant and within the limit. Method: a volatile QQQ,
/// every order in 3 to 5 pieces a few seconds apart; for a market buy and
/// a marketable buy limit, every piece's price is the ask at its instant
/// (at most the limit), and the pieces add up to the order.
#[tokio::test(start_paused = true)]
async fn partial_fills_follow_the_market_piece_by_piece() {
    let text = "version: 1\nname: pieces\nseed: 9\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\nbroker:\n  fill: {probability: 1, delay: 1s, partial: {probability: 1, pieces: [3, 5], spacing: {uniform: [1s, 5s]}, unfilled: 0}}\nmarket:\n  hours: always\n  symbols:\n    QQQ: {volatility: 0.8}\n";
    let s = Scenario::parse(text.as_bytes(), "pieces.yaml", None).expect("scenario");
    let b = broker(&s);
    for (id, limit) in [("mkt", None), ("lmt", Some("100.50"))] {
        let order = b
            .submit_order(&request(id, Side::Buy, "100", limit))
            .await
            .expect("accepted");
        let pieces = b.with_ledger(|l| {
            l.orders()
                .iter()
                .find(|o| o.id == order.id)
                .map(|o| o.fills.clone())
                .expect("order")
        });
        assert!(pieces.len() >= 3, "{id}: {pieces:?}");
        let total: Decimal = pieces.iter().map(|f| f.qty).sum();
        assert_eq!(total, Decimal::from(100), "{id}");
        for piece in &pieces {
            let quote = b.market().quote_at("QQQ", piece.at).expect("quote");
            assert_eq!(piece.price, quote.ask, "{id}: {piece:?} against {quote:?}");
            if let Some(limit) = limit {
                assert!(piece.price <= price(limit), "{id}: {piece:?}");
            }
        }
        assert!(
            pieces.windows(2).any(|w| w[0].price != w[1].price),
            "{id}: every piece at one price on a moving market: {pieces:?}"
        );
    }
}

/// Goal: a halted symbol has no auction, and a sub-penny limit is refused
/// as Alpaca refuses it. Method: a cls order whose close falls in a halt
/// expires unfilled at the close; a buy limit at 100.005 is refused with
/// 422 naming the price.
#[tokio::test(start_paused = true)]
async fn a_halted_auction_fills_nothing_and_sub_penny_limits_are_refused() {
    let s = scenario(
        "  symbols:\n    QQQ: {volatility: 0, halts: {windows: [{at: 7h50m, for: 20m}]}}",
        "0s",
    );
    let mut model = BrokerModel::from_scenario(&s);
    model.epoch_unix_micros = fillproof_engine::Timestamp::parse_rfc3339("2025-01-02T13:00:00Z")
        .expect("start")
        .unix_micros;
    let b = SimBroker::new(model, s.seed, false);
    let cls = b
        .submit_order(&with_tif(
            request("cls", Side::Sell, "10", None),
            TimeInForce::Cls,
        ))
        .await
        .expect("accepted");
    assert!(fills(&b, &cls.id).is_empty(), "filled in a halted auction");
    sleep(hours(8, 1)).await;
    assert_eq!(
        b.get_order(&cls.id).await.expect("read").status,
        OrderStatus::Expired
    );
    let refused = b
        .submit_order(&request("sub", Side::Buy, "1", Some("100.005")))
        .await;
    assert!(
        matches!(refused, Err(BrokerError::Unprocessable { ref message }) if message == "invalid limit_price 100.005. sub-penny increment does not fulfill minimum pricing criteria"),
        "{refused:?}"
    );
}

/// Goal: `check` says what a scripted fill does in a market: it takes
/// effect as written, and a price off the grid is no execution's. Method:
/// a scenario with a market section and a timeline fill at 100.005 loads
/// with both warnings, naming the field.
#[test]
fn scripted_fills_in_a_market_are_flagged() {
    let text = "version: 1\nname: script\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: 10\n  reference_price: {QQQ: \"100.00\"}\nmarket:\n  hours: always\ntimeline:\n  - {at: 1s, order: 0, event: fill, price: \"100.005\"}\n";
    let s = Scenario::parse(text.as_bytes(), "script.yaml", None).expect("loads");
    let warnings: Vec<String> = s.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("timeline[0].price") && w.contains("off the price grid")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("takes effect as written")),
        "{warnings:?}"
    );
}
