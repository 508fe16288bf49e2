//! Every response shape `serve` sends, as golden JSON, and checked against
//! what alpaca-py validates: the fields it requires are present and typed
//! as it reads them (UUID ids, lowercase statuses, decimal strings, RFC
//! 3339 stamps, booleans).

use std::time::Duration;

use fillproof_serve::{Reply, Session};
use fillproof_simulator::Scenario;
use serde_json::Value;

const SCENARIO: &str = r#"
version: 1
name: shapes
seed: 9
workload:
  orders: 2
  symbols: [SPY]
  qty: 5
  type: market
  reference_price: {SPY: "590.10"}
broker:
  latency: {submit: 10ms, get_order: 5ms, cancel: 5ms, get_position: 5ms}
  fill: {probability: 1, delay: 100ms}
"#;

fn session() -> std::sync::Arc<Session> {
    let scenario = Scenario::parse(SCENARIO.as_bytes(), "shapes.yaml", None).expect("scenario");
    Session::new(&scenario, 9).expect("session")
}

async fn call(
    session: &Session,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
) -> (u16, Value) {
    let at = session.elapsed();
    session.record(method, path, query, body.as_bytes(), at);
    match session
        .dispatch(method, path, query, body.as_bytes(), at)
        .await
        .reply
    {
        Reply::Json { status, body } => (status, body),
        Reply::NoContent => (204, Value::Null),
        other => panic!("{method} {path}: {other:?}"),
    }
}

fn is_uuid(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        let groups: Vec<&str> = s.split('-').collect();
        groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
            && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
    })
}

fn is_stamp(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() >= 20 && s.as_bytes()[10] == b'T' && s.ends_with('Z'))
}

fn is_decimal(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.parse::<rust_decimal::Decimal>().is_ok())
}

/// The fields alpaca-py's `Order` model requires, typed as it reads them.
fn assert_order_shape(order: &Value) {
    assert!(is_uuid(&order["id"]), "id: {order}");
    assert!(order["client_order_id"].is_string(), "{order}");
    for stamp in ["created_at", "updated_at", "submitted_at"] {
        assert!(is_stamp(&order[stamp]), "{stamp}: {order}");
    }
    let status = order["status"].as_str().expect("status");
    assert_eq!(status, status.to_ascii_lowercase());
    assert!(order["time_in_force"].is_string() && order["extended_hours"].is_boolean());
    for decimal in ["qty", "filled_qty"] {
        assert!(is_decimal(&order[decimal]), "{decimal}: {order}");
    }
    assert!(is_uuid(&order["asset_id"]));
    for nullable in [
        "filled_at",
        "filled_avg_price",
        "canceled_at",
        "expired_at",
        "failed_at",
        "limit_price",
        "stop_price",
        "legs",
    ] {
        assert!(
            order.get(nullable).is_some(),
            "{nullable} present (null or value): {order}"
        );
    }
}

/// An order's life on the wire, every shape along the way: submit, read,
/// read by client id, list, position, account, clock, cancel of a filled
/// order, a second submit with the same id, not found.
#[tokio::test(start_paused = true)]
async fn every_response_shape_is_what_alpaca_py_reads() {
    let session = session();
    let body = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day","client_order_id":"bot-0"}"#;
    let (status, submitted) = call(&session, "POST", "/v2/orders", "", body).await;
    assert_eq!(status, 200);
    assert_order_shape(&submitted);
    assert_eq!(submitted["status"], "new");
    assert_eq!(submitted["filled_avg_price"], Value::Null);
    insta::assert_json_snapshot!("order_new", submitted);

    tokio::time::advance(Duration::from_millis(500)).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    let (status, filled) = call(&session, "GET", &format!("/v2/orders/{id}"), "", "").await;
    assert_eq!(status, 200);
    assert_order_shape(&filled);
    assert_eq!(filled["status"], "filled");
    assert!(is_decimal(&filled["filled_avg_price"]) && is_stamp(&filled["filled_at"]));
    insta::assert_json_snapshot!("order_filled", filled);

    let (status, by_client) = call(
        &session,
        "GET",
        "/v2/orders:by_client_order_id",
        "client_order_id=bot-0",
        "",
    )
    .await;
    assert_eq!((status, &by_client["id"]), (200, &filled["id"]));

    let (status, listed) = call(&session, "GET", "/v2/orders", "status=all&limit=5", "").await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (_, open) = call(&session, "GET", "/v2/orders", "", "").await;
    assert_eq!(
        open,
        Value::Array(vec![]),
        "the default lists open orders only"
    );

    let (status, position) = call(&session, "GET", "/v2/positions/SPY", "", "").await;
    assert_eq!(status, 200);
    for field in ["avg_entry_price", "qty", "cost_basis"] {
        assert!(is_decimal(&position[field]), "{field}: {position}");
    }
    assert!(is_uuid(&position["asset_id"]) && position["exchange"].is_string());
    assert_eq!(
        (&position["side"], &position["qty"]),
        (&Value::from("long"), &Value::from("5"))
    );
    insta::assert_json_snapshot!("position", position);

    let (status, account) = call(&session, "GET", "/v2/account", "", "").await;
    assert_eq!(status, 200);
    assert!(is_uuid(&account["id"]) && account["account_number"].is_string());
    assert_eq!(account["status"], "ACTIVE");
    insta::assert_json_snapshot!("account", account);

    let (status, clock) = call(&session, "GET", "/v2/clock", "", "").await;
    assert_eq!(status, 200);
    for field in ["timestamp", "next_open", "next_close"] {
        assert!(is_stamp(&clock[field]), "{field}: {clock}");
    }
    insta::assert_json_snapshot!("clock", clock);

    let errors = [
        (
            "DELETE",
            format!("/v2/orders/{id}"),
            "",
            "",
            422,
            42_210_000,
        ),
        ("POST", "/v2/orders".to_owned(), "", body, 422, 40_010_001),
        (
            "GET",
            "/v2/orders/00000000-0000-4000-8000-000000000000".to_owned(),
            "",
            "",
            404,
            40_410_000,
        ),
        (
            "GET",
            "/v2/positions/QQQ".to_owned(),
            "",
            "",
            404,
            40_410_000,
        ),
        (
            "POST",
            "/v2/orders".to_owned(),
            "",
            "{not json",
            400,
            40_010_000,
        ),
        (
            "GET",
            "/v2/orders".to_owned(),
            "status=everything",
            "",
            422,
            40_010_000,
        ),
        ("PUT", "/v2/account".to_owned(), "", "", 405, 40_010_000),
        ("GET", "/v2/nothing".to_owned(), "", "", 404, 40_410_000),
    ];
    let mut shapes = Vec::new();
    for (method, path, query, body, want_status, want_code) in errors {
        let (status, error) = call(&session, method, &path, query, body).await;
        assert_eq!(status, want_status, "{method} {path}: {error}");
        assert_eq!(error["code"], want_code, "{method} {path}: {error}");
        assert!(error["message"].is_string());
        shapes.push(error);
    }
    insta::assert_json_snapshot!("errors", shapes);

    let (status, results) = call(&session, "DELETE", "/v2/orders", "", "").await;
    assert_eq!(
        (status, results),
        (207, Value::Array(vec![])),
        "nothing open"
    );
}

/// A trade update as the stream sends it carries the order in the same
/// shape as REST, the execution's price and quantity as decimal strings.
#[tokio::test(start_paused = true)]
async fn trade_update_shape() {
    let session = session();
    let body = r#"{"symbol":"SPY","qty":"5","side":"buy","type":"market","time_in_force":"day","client_order_id":"bot-1"}"#;
    let (_, order) = call(&session, "POST", "/v2/orders", "", body).await;
    let mut engine_order: fillproof_engine::Order = fillproof_engine::Order {
        id: order["id"].as_str().expect("id").to_owned(),
        client_order_id: "bot-1".into(),
        symbol: "SPY".into(),
        qty: 5.into(),
        side: fillproof_engine::Side::Buy,
        order_type: fillproof_engine::OrderType::Market,
        time_in_force: fillproof_engine::TimeInForce::Day,
        limit_price: None,
        status: fillproof_engine::OrderStatus::Filled,
        filled_qty: 5.into(),
        filled_avg_price: Some("590.11".parse().expect("price")),
        submitted_at: Some(fillproof_engine::Timestamp::from_unix_micros(
            1_735_828_201_000_000,
        )),
        filled_at: Some(fillproof_engine::Timestamp::from_unix_micros(
            1_735_828_201_100_000,
        )),
        canceled_at: None,
        updated_at: Some(fillproof_engine::Timestamp::from_unix_micros(
            1_735_828_201_100_000,
        )),
        extended_hours: false,
        stop_price: None,
        trail: None,
        hwm: None,
        order_class: fillproof_engine::OrderClass::Simple,
        legs: Vec::new(),
        replaces: None,
        replaced_by: None,
        notional: None,
    };
    engine_order.filled_qty = 5.into();
    let update = fillproof_engine::TradeUpdate {
        event: fillproof_engine::TradeEvent::Fill,
        order: engine_order,
        execution_id: Some(session.execution_id("exec-1")),
        qty: Some(5.into()),
        price: Some("590.11".parse().expect("price")),
        position_qty: Some(5.into()),
        at: fillproof_engine::Timestamp::from_unix_micros(1_735_828_201_100_000),
    };
    let frame = fillproof_serve::wire::trade_update_json(&update, &session.asset_id("SPY"));
    assert_eq!(frame["stream"], "trade_updates");
    assert_order_shape(&frame["data"]["order"]);
    assert!(is_uuid(&frame["data"]["execution_id"]));
    for field in ["price", "qty", "position_qty"] {
        assert!(is_decimal(&frame["data"][field]), "{field}: {frame}");
    }
    insta::assert_json_snapshot!("trade_update", frame);
}

/// The views served from the ledger say what the ledger holds: order lists
/// by status, direction and limit (bad values refused), the positions list
/// with each side's average entry price, cash after the fills, equity
/// with the positions marked to the market's price, and
/// cancel-all cancelling the open orders only.
#[tokio::test(start_paused = true)]
async fn ledger_views_follow_the_ledger() {
    let text = r#"
version: 1
name: views
seed: 9
workload:
  orders: 4
  symbols: [SPY, QQQ]
  qty: 5
  reference_price: {SPY: "100.00", QQQ: "50.00"}
broker:
  fill: {probability: 0}
timeline:
  - {at: 0s, order: 0, event: fill, qty: 2, price: "100.00"}
  - {at: 0s, order: 0, event: fill, qty: 2, price: "101.00"}
  - {at: 0s, order: 1, event: fill, qty: 3, price: "50.00"}
"#;
    let scenario = Scenario::parse(text.as_bytes(), "views.yaml", None).expect("scenario");
    let session = Session::new(&scenario, 9).expect("session");
    let order = |id: &str, symbol: &str, side: &str, qty: u32| {
        format!(
            r#"{{"symbol":"{symbol}","qty":{qty},"side":"{side}","type":"market","time_in_force":"day","client_order_id":"{id}"}}"#
        )
    };
    for (id, symbol, side, qty) in [
        ("o0", "SPY", "buy", 4),
        ("o1", "QQQ", "sell", 3),
        ("o2", "SPY", "buy", 5),
        ("o3", "QQQ", "buy", 1),
    ] {
        let (status, _) = call(
            &session,
            "POST",
            "/v2/orders",
            "",
            &order(id, symbol, side, qty),
        )
        .await;
        assert_eq!(status, 200);
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("list")
            .iter()
            .map(|o| o["client_order_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (_, open) = call(&session, "GET", "/v2/orders", "status=open", "").await;
    assert_eq!(ids(&open), ["o3", "o2"], "newest first");
    let (_, closed) = call(&session, "GET", "/v2/orders", "status=closed", "").await;
    assert_eq!(ids(&closed), ["o1", "o0"]);
    let (_, all) = call(
        &session,
        "GET",
        "/v2/orders",
        "status=all&direction=asc&limit=3",
        "",
    )
    .await;
    assert_eq!(ids(&all), ["o0", "o1", "o2"]);
    let (_, spy) = call(&session, "GET", "/v2/orders", "status=all&symbols=spy", "").await;
    assert_eq!(ids(&spy), ["o2", "o0"]);
    for limit in ["0", "501", "many"] {
        let (status, error) =
            call(&session, "GET", "/v2/orders", &format!("limit={limit}"), "").await;
        assert_eq!(status, 422, "limit {limit}: {error}");
    }

    let (status, positions) = call(&session, "GET", "/v2/positions", "", "").await;
    assert_eq!(status, 200);
    let positions = positions.as_array().expect("list").clone();
    assert_eq!(positions.len(), 2, "{positions:?}");
    let of = |symbol: &str| {
        positions
            .iter()
            .find(|p| p["symbol"] == symbol)
            .expect("position")
            .clone()
    };
    assert_eq!(
        (of("SPY")["qty"].as_str(), of("SPY")["side"].as_str()),
        (Some("4"), Some("long"))
    );
    assert_eq!(
        of("SPY")["avg_entry_price"],
        "100.5",
        "the average of the long side's fills"
    );
    assert_eq!(
        (of("QQQ")["qty"].as_str(), of("QQQ")["side"].as_str()),
        (Some("-3"), Some("short"))
    );
    assert_eq!(
        of("QQQ")["avg_entry_price"],
        "50",
        "the short side's fills only"
    );

    let (_, account) = call(&session, "GET", "/v2/account", "", "").await;
    // 100,000 - 402 (SPY bought) + 150 (QQQ sold).
    assert_eq!(account["cash"], "99748");
    // Positions at the market's price: 4 SPY at $100 long, 3 QQQ at $50
    // short; equity is cash plus the one less the other.
    assert_eq!(account["long_market_value"], "400");
    assert_eq!(account["short_market_value"], "-150");
    assert_eq!(account["equity"], "99998");
    assert_eq!(account["portfolio_value"], "99998");

    let (status, results) = call(&session, "DELETE", "/v2/orders", "", "").await;
    assert_eq!(status, 207);
    let results = results.as_array().expect("list").clone();
    assert_eq!(results.len(), 2, "the two open orders: {results:?}");
    assert!(results.iter().all(|r| r["status"] == 200), "{results:?}");
    let (_, open) = call(&session, "GET", "/v2/orders", "status=open", "").await;
    assert_eq!(ids(&open), Vec::<String>::new());
    let report = session.report(session.elapsed());
    let canceled = report
        .orders
        .iter()
        .filter(|o| o.cancel_requested_at_ms.is_some())
        .count();
    assert_eq!(canceled, 2, "{report:#?}");
}

/// Goal: over the wire, a limit the price never reaches never fills, a
/// marketable one fills at the market's price, and a symbol the scenario
/// does not price is refused. Method: SPY at $590.10, every order filling
/// after 100 ms: a buy limit at $1.00, a buy limit at $600.00, and a
/// market buy of ZZZZ; read each a minute later.
#[tokio::test(start_paused = true)]
async fn limits_fill_only_where_the_market_is() {
    let session = session();
    let limit = |id: &str, price: &str| {
        format!(
            r#"{{"symbol":"SPY","qty":5,"side":"buy","type":"limit","limit_price":"{price}","time_in_force":"day","client_order_id":"{id}"}}"#
        )
    };
    let (status, far) = call(&session, "POST", "/v2/orders", "", &limit("far", "1.00")).await;
    assert_eq!(status, 200);
    let (status, near) = call(&session, "POST", "/v2/orders", "", &limit("near", "600.00")).await;
    assert_eq!(status, 200);
    let unknown = r#"{"symbol":"ZZZZ","qty":5,"side":"buy","type":"market","time_in_force":"day"}"#;
    let (status, refusal) = call(&session, "POST", "/v2/orders", "", unknown).await;
    assert_eq!(status, 422, "{refusal}");
    assert_eq!(refusal["message"], "asset ZZZZ not found");
    tokio::time::advance(Duration::from_secs(60)).await;
    let read = |order: &Value| format!("/v2/orders/{}", order["id"].as_str().expect("id"));
    let (_, far) = call(&session, "GET", &read(&far), "", "").await;
    assert_eq!(far["status"], "new", "{far}");
    assert_eq!(far["filled_qty"], "0");
    let (_, near) = call(&session, "GET", &read(&near), "", "").await;
    assert_eq!(near["status"], "filled", "{near}");
    assert_eq!(near["filled_avg_price"], "590.1");
}

/// Goal: a bot that reads a price gets the market the fills follow.
/// Method: SPY at $590.10 with no market section: the latest quote is that
/// price on both sides and the latest trade is at it, singly and for
/// several symbols, stamped now; a buy at the quote it read fills there.
/// An unpriced symbol is 404 naming it; a multi-symbol read without
/// `symbols` is 400. The assets list holds the scenario's symbols, each
/// readable by ticker or id; an unknown one is 404.
#[tokio::test(start_paused = true)]
async fn market_data_and_assets_follow_the_scenarios_prices() {
    let session = session();
    let (status, quote) = call(&session, "GET", "/v2/stocks/SPY/quotes/latest", "", "").await;
    assert_eq!(status, 200, "{quote}");
    assert_eq!(quote["symbol"], "SPY");
    assert_eq!(quote["quote"]["ap"], 590.1);
    assert_eq!(quote["quote"]["bp"], 590.1);
    assert_eq!(quote["quote"]["as"], 100);
    assert!(is_stamp(&quote["quote"]["t"]), "{quote}");
    let (status, trade) = call(&session, "GET", "/v2/stocks/SPY/trades/latest", "", "").await;
    assert_eq!(status, 200, "{trade}");
    assert_eq!(trade["trade"]["p"], 590.1);
    let (status, many) = call(
        &session,
        "GET",
        "/v2/stocks/quotes/latest",
        "symbols=SPY",
        "",
    )
    .await;
    assert_eq!(status, 200, "{many}");
    assert_eq!(many["quotes"]["SPY"]["ap"], 590.1);
    let (status, trades) = call(
        &session,
        "GET",
        "/v2/stocks/trades/latest",
        "symbols=SPY",
        "",
    )
    .await;
    assert_eq!(status, 200, "{trades}");
    assert_eq!(trades["trades"]["SPY"]["p"], 590.1);

    let (status, missing) = call(&session, "GET", "/v2/stocks/ZZZZ/quotes/latest", "", "").await;
    assert_eq!(
        (status, &missing["message"]),
        (404, &Value::from("symbol not found: ZZZZ"))
    );
    let (status, many) = call(
        &session,
        "GET",
        "/v2/stocks/quotes/latest",
        "symbols=SPY,ZZZZ",
        "",
    )
    .await;
    assert_eq!(
        (status, &many["message"]),
        (404, &Value::from("symbol not found: ZZZZ"))
    );
    let (status, _) = call(&session, "GET", "/v2/stocks/trades/latest", "", "").await;
    assert_eq!(status, 400);

    let body = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"limit","limit_price":"590.10","time_in_force":"day"}"#;
    let (status, order) = call(&session, "POST", "/v2/orders", "", body).await;
    assert_eq!(status, 200, "{order}");
    tokio::time::advance(Duration::from_secs(5)).await;
    let id = order["id"].as_str().expect("id");
    let (_, read) = call(&session, "GET", &format!("/v2/orders/{id}"), "", "").await;
    assert_eq!(
        read["status"], "filled",
        "a buy at the quote read fills: {read}"
    );
    assert_eq!(read["filled_avg_price"], "590.1");

    let (status, assets) = call(&session, "GET", "/v2/assets", "", "").await;
    assert_eq!(status, 200);
    let assets = assets.as_array().expect("list");
    assert_eq!(assets.len(), 1);
    assert_eq!(assets[0]["symbol"], "SPY");
    assert_eq!(assets[0]["status"], "active");
    assert_eq!(assets[0]["tradable"], true);
    assert!(is_uuid(&assets[0]["id"]));
    let id = assets[0]["id"].as_str().expect("id");
    let (status, by_id) = call(&session, "GET", &format!("/v2/assets/{id}"), "", "").await;
    assert_eq!((status, &by_id["symbol"]), (200, &Value::from("SPY")));
    let (status, by_symbol) = call(&session, "GET", "/v2/assets/SPY", "", "").await;
    assert_eq!((status, &by_symbol["id"]), (200, &Value::from(id)));
    let (status, _) = call(&session, "GET", "/v2/assets/ZZZZ", "", "").await;
    assert_eq!(status, 404);
}

/// Goal: a served session without an `account:` block trades a paper
/// account's $100,000, enforced. Method: SPY at $590.10: a buy of 200
/// ($118,020) is refused 403; a buy of 100 ($59,010) is placed, after
/// which another 100 is refused, and the account's buying power says
/// what is left.
#[tokio::test(start_paused = true)]
async fn buying_power_is_enforced_without_an_account_block() {
    let session = session();
    let buy = |qty: u32| {
        format!(
            r#"{{"symbol":"SPY","qty":{qty},"side":"buy","type":"market","time_in_force":"day"}}"#
        )
    };
    let (status, refusal) = call(&session, "POST", "/v2/orders", "", &buy(200)).await;
    assert_eq!(status, 403, "{refusal}");
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("insufficient buying power")),
        "{refusal}"
    );
    let (status, _) = call(&session, "POST", "/v2/orders", "", &buy(100)).await;
    assert_eq!(status, 200);
    let (status, _) = call(&session, "POST", "/v2/orders", "", &buy(100)).await;
    assert_eq!(status, 403);
    let (_, account) = call(&session, "GET", "/v2/account", "", "").await;
    assert_eq!(account["buying_power"], "40990");
}

/// Goal: a market keeping regular hours shows its clock from the
/// calendar, and one open always says so. Method: a session started on
/// Saturday 2025-01-04 with `market.hours` regular is closed, next opening
/// Monday 2025-01-06 at 14:30Z; the same with `hours: always` is open.
#[tokio::test(start_paused = true)]
async fn the_clock_follows_the_markets_hours() {
    let saturday = fillproof_engine::Timestamp::parse_rfc3339("2025-01-04T15:00:00Z")
        .expect("stamp")
        .unix_micros;
    for (hours, open, next_open) in [
        ("regular", false, "2025-01-06T14:30:00"),
        ("always", true, "2025-01-05T13:30:00"),
    ] {
        let text = format!("{SCENARIO}market:\n  hours: {hours}\n");
        let scenario = Scenario::parse(text.as_bytes(), "clock.yaml", None).expect("scenario");
        let session = Session::starting_at(&scenario, 9, Some(saturday)).expect("session");
        let (status, clock) = call(&session, "GET", "/v2/clock", "", "").await;
        assert_eq!(status, 200);
        assert_eq!(clock["is_open"], Value::Bool(open), "{hours}: {clock}");
        let next = clock["next_open"].as_str().expect("next_open");
        assert!(next.starts_with(next_open), "{hours}: {clock}");
    }
}

/// Goal: positions are marked to the moving market: unrealized P&L moves
/// with the price, and equity is cash plus what the positions are worth.
/// Method: on a volatile SPY, buy 10 and read the position and the account
/// at three later minutes; each read's current price is the market's then
/// (the latest trade), its unrealized P&L is 10 × (price − entry), the
/// price changes between reads, and equity = cash + market value.
#[tokio::test(start_paused = true)]
async fn positions_are_marked_to_the_moving_market() {
    let text =
        format!("{SCENARIO}market:\n  hours: always\n  symbols:\n    SPY: {{volatility: 1.0}}\n");
    let scenario = Scenario::parse(text.as_bytes(), "moving.yaml", None).expect("scenario");
    let session = Session::new(&scenario, 9).expect("session");
    let body = r#"{"symbol":"SPY","qty":10,"side":"buy","type":"market","time_in_force":"day"}"#;
    let (status, _) = call(&session, "POST", "/v2/orders", "", body).await;
    assert_eq!(status, 200);
    let mut prices = Vec::new();
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(60)).await;
        let (_, position) = call(&session, "GET", "/v2/positions/SPY", "", "").await;
        let number = |v: &Value| -> f64 { v.as_str().expect("decimal").parse().expect("number") };
        let current = number(&position["current_price"]);
        let entry = number(&position["avg_entry_price"]);
        let unrealized = number(&position["unrealized_pl"]);
        assert!(
            (unrealized - 10.0 * (current - entry)).abs() < 1e-6,
            "{position}"
        );
        let (_, trade) = call(&session, "GET", "/v2/stocks/SPY/trades/latest", "", "").await;
        assert_eq!(trade["trade"]["p"].as_f64(), Some(current), "{trade}");
        let (_, account) = call(&session, "GET", "/v2/account", "", "").await;
        let equity = number(&account["equity"]);
        let cash = number(&account["cash"]);
        assert!((equity - (cash + 10.0 * current)).abs() < 1e-6, "{account}");
        prices.push(current);
    }
    assert!(
        prices.windows(2).any(|w| w[0] != w[1]),
        "the market never moved: {prices:?}"
    );
}
