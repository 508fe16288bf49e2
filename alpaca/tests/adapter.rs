//! The REST adapter against `fillproof serve` on loopback, call by call:
//! each broker answer arrives as the engine's error class, and the
//! rate-limit headers reach the engine's call budget.

use std::time::Duration;

use fillproof_alpaca::{AlpacaBroker, AlpacaConfig};
use fillproof_engine::{Broker, BrokerError, OrderRequest, OrderType, Side, TimeInForce};
use fillproof_simulator::Scenario;
use serde_json::json;

const SCENARIO: &str = r#"
version: 1
name: adapter
seed: 6
workload:
  orders: 3
  symbols: [SPY]
  qty: 5
  reference_price: {SPY: "590.10"}
broker:
  fill: {probability: 1, delay: 50ms}
  rate_limit: {requests: 100, per: 60s}
"#;

fn request(client_order_id: &str) -> OrderRequest {
    OrderRequest {
        client_order_id: client_order_id.into(),
        symbol: "SPY".into(),
        qty: 5.into(),
        side: Side::Buy,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        limit_price: None,
        extended_hours: false,
        stop_price: None,
        trail: None,
        order_class: fillproof_engine::OrderClass::Simple,
        take_profit: None,
        stop_loss: None,
        notional: None,
    }
}

/// Asks `serve` at `base` to shut down, and checks it agreed.
async fn shut_down(base: &str) {
    let shutdown = reqwest::Client::new()
        .post(format!("{base}/_fillproof/shutdown"))
        .json(&json!({}))
        .send()
        .await
        .expect("shutdown");
    assert_eq!(shutdown.status().as_u16(), 200);
}

/// `fillproof serve` on the adapter's scenario, on a thread of its own:
/// its base URL, its handle, and a runtime for the client.
fn served() -> (
    String,
    std::thread::JoinHandle<fillproof_serve::Report>,
    tokio::runtime::Runtime,
) {
    served_on(SCENARIO)
}

/// [`served`], on the scenario `text`.
fn served_on(
    text: &str,
) -> (
    String,
    std::thread::JoinHandle<fillproof_serve::Report>,
    tokio::runtime::Runtime,
) {
    let scenario = Scenario::parse(text.as_bytes(), "adapter.yaml", None).expect("scenario");
    let (address, server) = fillproof_serve::spawn_on_thread(scenario, 6, None).expect("server");
    let base = format!("http://{address}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (base, server, runtime)
}

/// Submit, duplicate, read, position, cancel of a filled order, cancel of
/// an unknown one, and the rate-limit state after each answer.
#[test]
fn each_answer_maps_to_its_error_class() {
    let (base, server, runtime) = served();
    runtime.block_on(async {
        let config = AlpacaConfig::paper("key", "secret")
            .with_base_url(&base)
            .expect("url");
        let broker = AlpacaBroker::new(config).expect("client");
        assert_eq!(broker.rate_limit_state(), None, "no answer yet");
        let order = broker.submit_order(&request("a")).await.expect("placed");
        let state = broker.rate_limit_state().expect("headers read");
        assert_eq!((state.limit, state.remaining), (100, 99));
        let again = broker.submit_order(&request("a")).await;
        assert!(
            again
                .as_ref()
                .is_err_and(BrokerError::is_duplicate_client_order_id),
            "{again:?}"
        );
        fillproof_engine::clock::sleep(Duration::from_millis(200)).await;
        let read = broker.get_order(&order.id).await.expect("read");
        assert_eq!(read.filled_qty, 5.into());
        let by_client = broker.get_order_by_client_id("a").await.expect("read");
        assert_eq!(by_client.id, order.id);
        let position = broker.get_position("SPY").await.expect("position");
        assert_eq!(position.map(|p| p.qty), Some(5.into()));
        assert_eq!(broker.get_position("QQQ").await, Ok(None), "flat");
        let cancel = broker.cancel_order(&order.id).await;
        assert!(
            cancel.as_ref().is_err_and(BrokerError::is_already_filled),
            "{cancel:?}"
        );
        let unknown = broker
            .cancel_order("00000000-0000-4000-8000-000000000000")
            .await;
        assert!(
            matches!(unknown, Err(BrokerError::NotFound { .. })),
            "{unknown:?}"
        );
        let open = broker.submit_order(&request("b")).await.expect("placed");
        assert_eq!(broker.cancel_order(&open.id).await, Ok(()), "a 204");
        assert!(broker.rate_limit_state().expect("state").remaining < 99);
        shut_down(&base).await;
    });
    assert_eq!(server.join().expect("report").orders_placed, 2);
}

/// Goal: the adapter reads Alpaca's Market Data API into the engine's
/// market-data port. Method: against `fillproof serve` (its base URL is the
/// data URL too), SPY held at $590.10: the latest quote is that price on
/// both sides with 100 shares and a stamp, the latest trade is at it, and
/// an unpriced symbol is not found.
#[test]
fn market_data_reads_into_the_port() {
    use fillproof_engine::MarketData;
    let (base, server, runtime) = served();
    runtime.block_on(async {
        let config = AlpacaConfig::paper("key", "secret")
            .with_base_url(&base)
            .expect("url");
        assert_eq!(config.data_url, base);
        let broker = AlpacaBroker::new(config).expect("client");
        let price: fillproof_engine::Decimal = "590.1".parse().expect("price");
        let quote = broker.latest_quote("SPY").await.expect("quote");
        assert_eq!((quote.bid, quote.ask), (price, price));
        assert_eq!(quote.ask_size, 100.into());
        assert!(quote.at.is_some());
        let trade = broker.latest_trade("SPY").await.expect("trade");
        assert_eq!(trade.price, price);
        let missing = broker.latest_quote("ZZZZ").await.expect_err("unknown");
        assert!(matches!(missing, BrokerError::NotFound { .. }), "{missing}");
        let client = reqwest::Client::new();
        let _ = client
            .post(format!("{base}/_fillproof/shutdown"))
            .header("APCA-API-KEY-ID", "key")
            .header("APCA-API-SECRET-KEY", "secret")
            .send()
            .await;
    });
    server.join().expect("server stops");
}

/// The adapter's scenario with every order filling in two pieces, 20 ms
/// apart.
const PIECES: &str = r#"
version: 1
name: adapter-pieces
seed: 6
workload:
  orders: 2
  symbols: [SPY]
  qty: 5
  reference_price: {SPY: "590.10"}
broker:
  fill: {probability: 1, delay: 50ms, partial: {probability: 1, pieces: [2, 2], spacing: 20ms}}
"#;

/// Asserts that `records` hold two executions of the order `id` (SPY,
/// bought): a partial fill, then the fill completing its 5 shares.
fn assert_filled_in_two_pieces(records: &[fillproof_engine::FillActivity], id: &str) {
    use fillproof_engine::{FillKind, OrderStatus};
    let own: Vec<_> = records.iter().filter(|r| r.order_id == id).collect();
    let kinds: Vec<FillKind> = own.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [FillKind::PartialFill, FillKind::Fill], "{own:?}");
    let total: fillproof_engine::Decimal = own.iter().map(|r| r.qty).sum();
    assert_eq!(total, 5.into());
    assert_eq!((own[1].cum_qty, own[1].leaves_qty), (5.into(), 0.into()));
    assert_eq!(own[1].order_status, OrderStatus::Filled);
    assert!(own.iter().all(|r| r.symbol == "SPY" && r.side == Side::Buy));
    assert!(own.iter().all(|r| r.execution_id.is_none()));
}

/// Goal: the adapter's list read and fill activities read what `fillproof
/// serve` answers on Alpaca's routes into the engine's model. Method: two
/// orders, each filling in two pieces; the list of all orders (oldest
/// first) holds both filled, the open list none, the list after the
/// first's submission the second only; the activities hold four
/// executions, each order's a partial fill then a fill adding up to its
/// quantity; a page of one then the page after it (by its token) give the
/// first two records.
#[test]
fn lists_orders_and_reads_fill_activities() {
    use fillproof_engine::{ActivityQuery, Direction, OrderQuery, OrderStatus, StatusFilter};
    let (base, server, runtime) = served_on(PIECES);
    runtime.block_on(async {
        let config = AlpacaConfig::paper("key", "secret")
            .with_base_url(&base)
            .expect("url");
        let broker = AlpacaBroker::new(config).expect("client");
        let a = broker.submit_order(&request("a")).await.expect("placed");
        fillproof_engine::clock::sleep(Duration::from_millis(10)).await;
        let b = broker.submit_order(&request("b")).await.expect("placed");
        let every = OrderQuery {
            status: StatusFilter::All,
            direction: Direction::Asc,
            ..OrderQuery::default()
        };
        // The fills land 50 to 70 ms after each submit, on the real clock:
        // read until both show filled (a busy machine may take longer), at
        // most 10 s.
        let mut listed = Vec::new();
        for _ in 0..100 {
            fillproof_engine::clock::sleep(Duration::from_millis(100)).await;
            listed = broker.list_orders(&every).await.expect("listed");
            if listed.iter().all(|o| o.status == OrderStatus::Filled) {
                break;
            }
        }
        let ids: Vec<&str> = listed.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, [a.id.as_str(), b.id.as_str()]);
        assert!(
            listed
                .iter()
                .all(|o| o.status == OrderStatus::Filled && o.filled_qty == 5.into()),
            "{listed:?}"
        );
        let open = broker.list_orders(&OrderQuery::default()).await;
        assert_eq!(open, Ok(Vec::new()), "every order filled");
        let later = OrderQuery {
            after: a.submitted_at,
            ..every.clone()
        };
        let later = broker.list_orders(&later).await.expect("listed");
        assert_eq!(later.iter().map(|o| &o.id).collect::<Vec<_>>(), [&b.id]);

        let oldest_first = ActivityQuery {
            direction: Direction::Asc,
            ..ActivityQuery::default()
        };
        let records = broker.fill_activities(&oldest_first).await.expect("read");
        assert_eq!(records.len(), 4, "{records:?}");
        for order in [&a, &b] {
            assert_filled_in_two_pieces(&records, &order.id);
        }
        let first = ActivityQuery {
            page_size: 1,
            ..oldest_first.clone()
        };
        let page = broker.fill_activities(&first).await.expect("read");
        assert_eq!(page, records[..1]);
        let next = ActivityQuery {
            page_token: Some(page[0].id.clone()),
            ..first
        };
        let page = broker.fill_activities(&next).await.expect("read");
        assert_eq!(page, records[1..2]);
        shut_down(&base).await;
    });
    assert_eq!(server.join().expect("report").orders_placed, 2);
}
