//! The broker's batched reads: the order list and the fill activities
//! answer from the ledger, with their own latency and faults (the
//! single-order read's when the scenario gives them none), each field out
//! of range refused by name.

use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_engine::{
    ActivityQuery, Broker, BrokerError, Direction, FillKind, OrderClass, OrderQuery, OrderRequest,
    OrderStatus, OrderType, Side, StatusFilter, TimeInForce,
};
use fillproof_simulator::{BrokerModel, Scenario, SimBroker};
use rust_decimal::Decimal;
use tokio::time::Instant;

/// A scenario whose orders fill in `pieces` pieces 100 ms apart, 1 s after
/// they are placed, with `broker` lines added to the broker section.
fn scenario(pieces: u32, broker: &str) -> Scenario {
    let partial = if pieces > 1 {
        format!(", partial: {{probability: 1, pieces: [{pieces}, {pieces}], spacing: 100ms}}")
    } else {
        String::new()
    };
    let text = format!(
        "version: 1\nname: batched\nseed: 5\nworkload:\n  orders: 1\n  symbols: [QQQ, SPY]\n  qty: 10\n  reference_price: {{QQQ: \"100.00\", SPY: \"500.00\"}}\nbroker:\n  fill: {{probability: 1, delay: 1s{partial}}}\n{broker}"
    );
    Scenario::parse(text.as_bytes(), "batched.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn broker(s: &Scenario) -> SimBroker {
    SimBroker::new(BrokerModel::from_scenario(s), s.seed, false)
}

fn order(id: &str, symbol: &str) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        symbol: symbol.into(),
        qty: Decimal::from(10),
        side: Side::Buy,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
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

fn all(limit: u32) -> OrderQuery {
    OrderQuery {
        status: StatusFilter::All,
        direction: Direction::Asc,
        limit,
        ..OrderQuery::default()
    }
}

/// Goal: one list read shows every order as a single read would, filtered
/// by status, symbol and window and cut at its limit. Method: three orders,
/// two of them filled; read the list before and after the fills.
#[tokio::test(start_paused = true)]
async fn the_list_shows_what_single_reads_show() {
    let s = scenario(1, "");
    let broker = broker(&s);
    let mut placed = Vec::new();
    for (n, symbol) in ["QQQ", "SPY", "QQQ"].into_iter().enumerate() {
        placed.push(
            broker
                .submit_order(&order(&format!("o{n}"), symbol))
                .await
                .unwrap(),
        );
        sleep(Duration::from_millis(300)).await;
    }
    let open = broker
        .list_orders(&OrderQuery {
            limit: 500,
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 3, "none filled yet: {open:?}");
    assert_eq!(open[0].client_order_id, "o2", "newest first by default");
    sleep(Duration::from_millis(600)).await;
    let listed = broker.list_orders(&all(500)).await.unwrap();
    for (listed, placed) in listed.iter().zip(&placed) {
        let single = broker.get_order(&placed.id).await.unwrap();
        assert_eq!(listed.id, single.id);
        assert_eq!(listed.filled_qty, single.filled_qty);
        assert_eq!(listed.status, single.status);
    }
    assert_eq!(listed[0].status, OrderStatus::Filled);
    assert_eq!(listed[2].status, OrderStatus::New);
    let closed = broker
        .list_orders(&OrderQuery {
            status: StatusFilter::Closed,
            ..all(500)
        })
        .await
        .unwrap();
    assert_eq!(closed.len(), 2, "{closed:?}");
    let spy = broker
        .list_orders(&OrderQuery {
            symbols: vec!["SPY".into()],
            ..all(500)
        })
        .await
        .unwrap();
    assert_eq!(spy.len(), 1);
    let after_first = broker
        .list_orders(&OrderQuery {
            after: placed[0].submitted_at,
            ..all(1)
        })
        .await
        .unwrap();
    assert_eq!(after_first.len(), 1, "cut at the limit");
    assert_eq!(after_first[0].client_order_id, "o1", "after is exclusive");
}

/// Goal: the fill activities give every execution once, with its own
/// price, quantity and what is left, paged by the last record's id.
/// Method: an order filling in four pieces; read them in pages of three.
#[tokio::test(start_paused = true)]
async fn fill_activities_give_each_execution_once_in_pages() {
    let s = scenario(4, "");
    let broker = broker(&s);
    let placed = broker.submit_order(&order("o0", "QQQ")).await.unwrap();
    sleep(Duration::from_secs(3)).await;
    let query = ActivityQuery {
        direction: Direction::Asc,
        page_size: 3,
        ..ActivityQuery::default()
    };
    let first = broker.fill_activities(&query).await.unwrap();
    assert_eq!(first.len(), 3);
    let token = first.last().map(|r| r.id.clone());
    let rest = broker
        .fill_activities(&ActivityQuery {
            page_token: token,
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    let records: Vec<_> = first.into_iter().chain(rest).collect();
    let fills = broker.with_ledger(|l| l.by_id(&placed.id).unwrap().fills.clone());
    assert_eq!(records.len(), fills.len());
    let mut cum = Decimal::ZERO;
    for (record, fill) in records.iter().zip(&fills) {
        cum += fill.qty;
        assert_eq!((record.qty, record.price), (fill.qty, fill.price));
        assert_eq!(record.order_id, placed.id);
        assert_eq!(record.cum_qty, cum);
        assert_eq!(record.leaves_qty, Decimal::from(10) - cum);
    }
    assert_eq!(records.last().unwrap().kind, FillKind::Fill);
    assert_eq!(records[0].kind, FillKind::PartialFill);
    let unknown = ActivityQuery {
        page_token: Some("nothing".into()),
        ..query
    };
    let error = broker.fill_activities(&unknown).await.unwrap_err();
    assert!(error.to_string().contains("page_token"), "{error}");
}

/// Goal: a query out of Alpaca's bounds is refused naming its field.
/// Method: a list limit of 501, an activity page of 0.
#[tokio::test(start_paused = true)]
async fn out_of_range_queries_are_refused_by_name() {
    let broker = broker(&scenario(1, ""));
    let error = broker.list_orders(&all(501)).await.unwrap_err();
    assert!(
        matches!(error, BrokerError::Unprocessable { .. }) && error.to_string().contains("limit"),
        "{error}"
    );
    let error = broker
        .fill_activities(&ActivityQuery {
            page_size: 0,
            ..ActivityQuery::default()
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("page_size"), "{error}");
}

/// Goal: the batched reads take the single read's latency and faults
/// unless the scenario gives them their own. Method: time a list read
/// under a 40 ms get_order, then under its own 300 ms; fail it with its
/// own fault.
#[tokio::test(start_paused = true)]
async fn batched_reads_have_their_own_latency_and_faults() {
    let inherits = broker(&scenario(1, "  latency:\n    get_order: 40ms\n"));
    let start = Instant::now();
    inherits.list_orders(&all(10)).await.unwrap();
    inherits
        .fill_activities(&ActivityQuery::default())
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(80));
    let own = broker(&scenario(
        1,
        "  latency:\n    get_order: 40ms\n    list_orders: 300ms\n  faults:\n    fill_activities: {http_503: 1}\n",
    ));
    let start = Instant::now();
    own.list_orders(&all(10)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    let error = own
        .fill_activities(&ActivityQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, BrokerError::Server { status: 503, .. }),
        "{error}"
    );
    assert_eq!(own.calls()[fillproof_engine::Endpoint::ListOrders], 1);
}

/// Goal: the reads a front end answers from the ledger itself (account,
/// positions, clock) travel as calls of their own endpoints: they take
/// get_order's latency and faults unless the scenario gives them their
/// own, they are counted, and each answers the instant it landed. Method:
/// under a 40 ms get_order, each read lands 20 ms after it left and
/// answers 20 ms later; `account` with its own 300 ms lands at 150 ms;
/// get_order's 503 fails `clock`, while `positions`, named with a
/// fault-free line of its own, is clean; a rate limit of one call refuses
/// the second read.
#[tokio::test(start_paused = true)]
async fn ledger_reads_travel_as_calls_of_their_own_endpoints() {
    use fillproof_engine::Endpoint;
    use fillproof_simulator::LedgerRead;
    let inherits = broker(&scenario(1, "  latency:\n    get_order: 40ms\n"));
    let start = Instant::now();
    for (n, read) in [
        LedgerRead::Account,
        LedgerRead::Positions,
        LedgerRead::Clock,
    ]
    .into_iter()
    .enumerate()
    {
        let landed = inherits.land_read(read).await.unwrap();
        let n = u32::try_from(n).unwrap();
        assert_eq!(
            landed,
            Duration::from_millis(40) * n + Duration::from_millis(20)
        );
    }
    assert_eq!(start.elapsed(), Duration::from_millis(120));
    for endpoint in [Endpoint::Account, Endpoint::Positions, Endpoint::Clock] {
        assert_eq!(inherits.calls()[endpoint], 1, "{endpoint}");
    }
    let own = broker(&scenario(
        1,
        "  latency:\n    get_order: 40ms\n    account: 300ms\n  faults:\n    get_order: {http_503: 1}\n    positions: {http_500: 0}\n",
    ));
    assert_eq!(
        own.land_read(LedgerRead::Account).await,
        Ok(Duration::from_millis(150))
    );
    let error = own.land_read(LedgerRead::Clock).await.unwrap_err();
    assert!(
        matches!(error, BrokerError::Server { status: 503, .. }),
        "{error}"
    );
    assert!(own.land_read(LedgerRead::Positions).await.is_ok());
    let limited = broker(&scenario(1, "  rate_limit: {requests: 1, per: 60s}\n"));
    assert!(limited.land_read(LedgerRead::Account).await.is_ok());
    let error = limited.land_read(LedgerRead::Clock).await.unwrap_err();
    assert!(matches!(error, BrokerError::RateLimited { .. }), "{error}");
}
