//! The Market Data API beyond bars and latest quotes, as `serve` answers
//! it: stock quotes and trades, crypto, options, news, the screener,
//! corporate actions, auctions, the reference tables, and crypto assets.
//! Shapes alpaca-py reads, paging, nothing from the future, filters, and
//! refusals naming the parameter. The session starts at
//! 2025-01-02T14:30:00Z with SPY at $590.10 moving a step a second, QQQ
//! held at $500 and BTC/USD at $97,000, each trading once a second.

use std::time::Duration;

use fillproof_serve::{Reply, Session};
use fillproof_simulator::Scenario;
use serde_json::Value;

const SCENARIO: &str = r#"
version: 1
name: data-surface
seed: 5
workload:
  orders: 1
  symbols: [SPY, QQQ, BTC/USD]
  qty: 1
  type: market
  reference_price: {SPY: "590.10", QQQ: "500", BTC/USD: "97000"}
market:
  hours: always
  symbols:
    SPY:
      volatility: 0.3
      step: 1s
      quote: {spread_bps: 2, size: 100}
"#;

fn session() -> std::sync::Arc<Session> {
    let scenario =
        Scenario::parse(SCENARIO.as_bytes(), "data-surface.yaml", None).expect("scenario");
    Session::new(&scenario, 5).expect("session")
}

async fn get(session: &Session, path: &str, query: &str) -> (u16, Value) {
    let at = session.elapsed();
    session.record("GET", path, query, b"", at);
    match session.dispatch("GET", path, query, b"", at).await.reply {
        Reply::Json { status, body } => (status, body),
        other => panic!("GET {path}?{query}: {other:?}"),
    }
}

/// `key`'s records of every page, following `next_page_token`, and the
/// number of pages.
async fn pages(session: &Session, path: &str, query: &str, key: &str) -> (Vec<Value>, usize) {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for page_count in 1..50 {
        let query = match &token {
            Some(token) => format!("{query}&page_token={token}"),
            None => query.to_owned(),
        };
        let (status, page) = get(session, path, &query).await;
        assert_eq!(status, 200, "{page}");
        match &page[key] {
            Value::Array(list) => all.extend(list.iter().cloned()),
            Value::Object(map) => all.extend(
                map.values()
                    .flat_map(|v| v.as_array().cloned().unwrap_or_default()),
            ),
            other => panic!("{key}: {other}"),
        }
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return (all, page_count),
        }
    }
    panic!("paging never ended");
}

/// Goal: stock quotes and trades are the tape's steps up to now, in
/// Alpaca's shapes. Method: 30 s in, SPY's trades since the session
/// began are 31 (steps 0 to 30), each with Alpaca's fields, stamped a
/// second apart and never after now; its quotes are as many, the bid
/// under the ask; the multi-symbol form keys them by symbol; an end in
/// the future changes nothing.
#[tokio::test(start_paused = true)]
async fn quotes_and_trades_are_the_tape_up_to_now() {
    let session = session();
    tokio::time::advance(Duration::from_secs(30)).await;
    let (status, body) = get(&session, "/v2/stocks/SPY/trades", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["symbol"], "SPY");
    assert_eq!(body["next_page_token"], Value::Null);
    let trades = body["trades"].as_array().expect("trades");
    assert_eq!(trades.len(), 31);
    for field in ["t", "x", "p", "s", "c", "i", "z"] {
        assert!(!trades[0][field].is_null(), "{field}: {}", trades[0]);
    }
    assert_eq!(trades[0]["t"], "2025-01-02T14:30:00.000000Z");
    assert_eq!(trades[30]["t"], "2025-01-02T14:30:30.000000Z");
    let far = "end=2030-01-01T00:00:00Z";
    let (_, same) = get(&session, "/v2/stocks/SPY/trades", far).await;
    assert_eq!(same["trades"], body["trades"]);

    let (status, quotes) = get(&session, "/v2/stocks/quotes", "symbols=SPY,QQQ&limit=10000").await;
    assert_eq!(status, 200, "{quotes}");
    assert_eq!(quotes["next_page_token"], Value::Null);
    let spy = quotes["quotes"]["SPY"].as_array().expect("SPY quotes");
    assert_eq!(spy.len(), 31);
    for quote in spy {
        for field in ["t", "bx", "ax", "bp", "ap", "bs", "as", "c", "z"] {
            assert!(!quote[field].is_null(), "{field}: {quote}");
        }
        assert!(quote["bp"].as_f64() < quote["ap"].as_f64(), "{quote}");
    }
    assert_eq!(quotes["quotes"]["QQQ"][0]["ap"], 500);
}

/// Goal: paging by `limit` and `page_token` reads every record once, up
/// or down, across symbols. Method: SPY's 31 trades by pages of 8 (four
/// pages), down by pages of 8 (the same trades reversed); SPY and QQQ by
/// pages of 20, `limit` counting both.
#[tokio::test(start_paused = true)]
async fn pages_read_every_record_once() {
    let session = session();
    tokio::time::advance(Duration::from_secs(30)).await;
    let (_, whole) = get(&session, "/v2/stocks/SPY/trades", "").await;
    let whole = whole["trades"].as_array().cloned().expect("trades");
    let (up, count) = pages(&session, "/v2/stocks/SPY/trades", "limit=8", "trades").await;
    assert_eq!((up.len(), count), (31, 4));
    assert_eq!(up, whole);
    let (mut down, _) = pages(
        &session,
        "/v2/stocks/SPY/trades",
        "limit=8&sort=desc",
        "trades",
    )
    .await;
    down.reverse();
    assert_eq!(down, whole);
    let (both, count) = pages(
        &session,
        "/v2/stocks/quotes",
        "symbols=QQQ,SPY&limit=20",
        "quotes",
    )
    .await;
    assert_eq!((both.len(), count), (62, 4));
}

/// Goal: a bad quotes or trades request is refused naming the parameter.
/// Method: a bad limit, sort, start, feed and page token; an end before
/// start; an unlisted symbol; no symbols.
#[tokio::test(start_paused = true)]
async fn bad_history_requests_name_the_parameter() {
    let session = session();
    tokio::time::advance(Duration::from_secs(5)).await;
    for (path, query, status, named) in [
        ("/v2/stocks/SPY/quotes", "limit=0", 422, "limit"),
        ("/v2/stocks/SPY/quotes", "limit=10001", 422, "limit"),
        ("/v2/stocks/SPY/quotes", "limit=x", 400, "limit"),
        ("/v2/stocks/SPY/trades", "sort=up", 400, "sort"),
        ("/v2/stocks/SPY/trades", "start=yesterday", 400, "start"),
        ("/v2/stocks/SPY/trades", "feed=nasdaq", 400, "feed"),
        ("/v2/stocks/SPY/trades", "page_token=zz", 400, "page_token"),
        (
            "/v2/stocks/SPY/trades",
            "start=2025-01-03&end=2025-01-02",
            422,
            "end",
        ),
        ("/v2/stocks/ZZZZ/trades", "", 404, "ZZZZ"),
        ("/v2/stocks/quotes", "", 400, "symbols"),
    ] {
        let (got, body) = get(&session, path, query).await;
        assert_eq!(got, status, "{path}?{query}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{path}?{query}: {message}");
    }
}

/// Goal: every crypto route answers keyed by pair, in the crypto shapes.
/// Method: 20 s in, BTC/USD's bars, quotes, trades, latest trade, quote,
/// bar, order book and snapshot; a stock symbol or an unknown location is
/// refused.
#[tokio::test(start_paused = true)]
async fn crypto_routes_answer_by_pair() {
    let session = session();
    tokio::time::advance(Duration::from_secs(20)).await;
    let base = "/v1beta3/crypto/us";
    let pair = "symbols=BTC%2FUSD";
    let (status, bars) = get(
        &session,
        &format!("{base}/bars"),
        &format!("{pair}&timeframe=1Min"),
    )
    .await;
    assert_eq!(status, 200, "{bars}");
    assert_eq!(bars["bars"]["BTC/USD"][0]["c"], 97_000);
    let (_, trades) = get(&session, &format!("{base}/trades"), pair).await;
    let trades = trades["trades"]["BTC/USD"].as_array().expect("trades");
    assert_eq!(trades.len(), 21);
    assert!(
        trades[0]["x"].is_null() && trades[0]["p"] == 97_000,
        "{}",
        trades[0]
    );
    let (_, quotes) = get(&session, &format!("{base}/quotes"), pair).await;
    let quote = &quotes["quotes"]["BTC/USD"][0];
    assert!(quote["bx"].is_null() && quote["bp"] == 97_000, "{quote}");
    for (route, key) in [
        ("latest/trades", "trades"),
        ("latest/quotes", "quotes"),
        ("latest/bars", "bars"),
    ] {
        let (status, latest) = get(&session, &format!("{base}/{route}"), pair).await;
        assert_eq!(status, 200, "{latest}");
        assert!(latest[key]["BTC/USD"]["t"].is_string(), "{route}: {latest}");
    }
    // The book is the quote's touches (the market keeps no depth): a
    // pair held at its reference price is quoted on both sides at it.
    let (_, books) = get(&session, &format!("{base}/latest/orderbooks"), pair).await;
    let book = &books["orderbooks"]["BTC/USD"];
    let (_, quotes) = get(&session, &format!("{base}/latest/quotes"), pair).await;
    let quote = &quotes["quotes"]["BTC/USD"];
    assert_eq!(book["b"][0]["p"], quote["bp"], "{book} {quote}");
    assert_eq!(book["a"][0]["p"], quote["ap"], "{book} {quote}");
    let (_, snapshots) = get(&session, &format!("{base}/snapshots"), pair).await;
    let snapshot = &snapshots["snapshots"]["BTC/USD"];
    assert_eq!(snapshot["latestTrade"]["p"], 97_000, "{snapshot}");
    assert!(snapshot["minuteBar"]["v"].is_number(), "{snapshot}");

    let (status, body) = get(&session, &format!("{base}/trades"), "symbols=SPY").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = get(&session, "/v1beta3/crypto/mars/trades", pair).await;
    assert_eq!(status, 404);
}

/// Goal: option data is empty for any contract, and refusals name the
/// parameter. Method: each route for SPY261218C00600000; the exchanges
/// table; a symbol that is not a contract and a bad chain filter.
#[tokio::test(start_paused = true)]
async fn options_have_no_data() {
    let session = session();
    let contract = "symbols=SPY261218C00600000";
    for (route, query, key) in [
        ("bars", format!("{contract}&timeframe=1Day"), "bars"),
        ("trades", contract.to_owned(), "trades"),
        ("quotes/latest", contract.to_owned(), "quotes"),
        (
            "trades/latest",
            format!("{contract}&feed=indicative"),
            "trades",
        ),
        ("snapshots", contract.to_owned(), "snapshots"),
        (
            "snapshots/SPY",
            "type=call&strike_price_gte=500".to_owned(),
            "snapshots",
        ),
    ] {
        let (status, body) = get(&session, &format!("/v1beta1/options/{route}"), &query).await;
        assert_eq!(status, 200, "{route}: {body}");
        assert_eq!(body[key], serde_json::json!({}), "{route}: {body}");
    }
    let (_, exchanges) = get(&session, "/v1beta1/options/meta/exchanges", "").await;
    assert_eq!(exchanges["O"], "OPRA - Options Price Reporting Authority");
    for (route, query, named) in [
        ("trades", "symbols=SPY", "symbol"),
        ("bars", "symbols=SPY261218C00600000", "timeframe"),
        ("snapshots/SPY", "type=straddle", "type"),
        ("snapshots/SPY", "expiration_date=soon", "expiration_date"),
        (
            "quotes/latest",
            "symbols=SPY261218C00600000&feed=sip",
            "feed",
        ),
    ] {
        let (status, body) = get(&session, &format!("/v1beta1/options/{route}"), query).await;
        assert_eq!(status, 400, "{route}?{query}: {body}");
        assert!(
            body["message"].as_str().unwrap_or_default().contains(named),
            "{body}"
        );
    }
}

/// Goal: news and corporate actions are empty, their parameters checked.
/// Method: a good request of each, then a bad limit, sort, date and type.
#[tokio::test(start_paused = true)]
async fn news_and_corporate_actions_are_empty() {
    let session = session();
    let (status, news) = get(
        &session,
        "/v1beta1/news",
        "symbols=SPY&start=2024-12-30T00:00:00Z&limit=10&sort=DESC&include_content=true",
    )
    .await;
    assert_eq!(status, 200, "{news}");
    assert_eq!(
        news,
        serde_json::json!({ "news": [], "next_page_token": null })
    );
    let (status, actions) = get(
        &session,
        "/v1/corporate-actions",
        "symbols=SPY&start=2024-10-01&end=2025-01-02&limit=1000&sort=asc&types=forward_split,cash_dividend",
    )
    .await;
    assert_eq!(status, 200, "{actions}");
    assert_eq!(actions["corporate_actions"], serde_json::json!({}));
    for (path, query, status, named) in [
        ("/v1beta1/news", "limit=51", 422, "limit"),
        ("/v1beta1/news", "sort=sideways", 400, "sort"),
        (
            "/v1beta1/news",
            "start=2025-01-03&end=2025-01-02",
            422,
            "end",
        ),
        (
            "/v1beta1/news",
            "include_content=maybe",
            400,
            "include_content",
        ),
        ("/v1/corporate-actions", "start=2025-13-01", 400, "start"),
        ("/v1/corporate-actions", "types=split", 400, "types"),
        ("/v1/corporate-actions", "limit=0", 422, "limit"),
    ] {
        let (got, body) = get(&session, path, query).await;
        assert_eq!(got, status, "{path}?{query}: {body}");
        assert!(
            body["message"].as_str().unwrap_or_default().contains(named),
            "{body}"
        );
    }
}

/// Goal: the screener ranks the stock symbols from the tape. Method: 60 s
/// in, most actives by volume list SPY and QQQ (no pair) with 61 trades
/// each; `top=1` keeps one; movers split SPY by its sign against its
/// first price; a bad `top` and `by` are refused.
#[tokio::test(start_paused = true)]
async fn the_screener_reads_the_tape() {
    let session = session();
    tokio::time::advance(Duration::from_secs(60)).await;
    let (status, actives) = get(
        &session,
        "/v1beta1/screener/stocks/most-actives",
        "by=trades&top=5",
    )
    .await;
    assert_eq!(status, 200, "{actives}");
    let list = actives["most_actives"].as_array().expect("most actives");
    let symbols: Vec<&str> = list.iter().filter_map(|a| a["symbol"].as_str()).collect();
    assert_eq!(symbols, ["QQQ", "SPY"]);
    assert_eq!(list[0]["trade_count"], 61);
    assert!(actives["last_updated"].is_string());
    let (_, one) = get(&session, "/v1beta1/screener/stocks/most-actives", "top=1").await;
    assert_eq!(one["most_actives"].as_array().map(Vec::len), Some(1));

    let (status, movers) = get(&session, "/v1beta1/screener/stocks/movers", "top=5").await;
    assert_eq!(status, 200, "{movers}");
    assert_eq!(movers["market_type"], "stocks");
    let named = |side: &str| -> Vec<String> {
        movers[side]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["symbol"].as_str().map(str::to_owned))
            .collect()
    };
    let (gainers, losers) = (named("gainers"), named("losers"));
    assert!(!gainers.contains(&"QQQ".to_owned()) && !losers.contains(&"QQQ".to_owned()));
    assert_eq!(gainers.len() + losers.len(), 1, "{movers}");
    for (query, named) in [("top=0", "top"), ("top=x", "top"), ("by=price", "by")] {
        let (status, body) = get(&session, "/v1beta1/screener/stocks/most-actives", query).await;
        assert!(status == 400 || status == 422, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap_or_default().contains(named),
            "{body}"
        );
    }
}

/// Goal: auctions are empty lists, and the reference tables are Alpaca's.
/// Method: SPY's auctions one and many; the exchanges and each tape's
/// conditions; a missing tape is refused.
#[tokio::test(start_paused = true)]
async fn auctions_and_tables() {
    let session = session();
    let (status, one) = get(&session, "/v2/stocks/SPY/auctions", "").await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["auctions"], serde_json::json!([]));
    let (_, many) = get(&session, "/v2/stocks/auctions", "symbols=SPY,QQQ").await;
    assert_eq!(many["auctions"], serde_json::json!({}));
    let (status, _) = get(&session, "/v2/stocks/ZZZZ/auctions", "").await;
    assert_eq!(status, 404);
    let (_, exchanges) = get(&session, "/v2/stocks/meta/exchanges", "").await;
    assert_eq!(exchanges["V"], "IEX");
    let (_, cts) = get(&session, "/v2/stocks/meta/conditions/trade", "tape=A").await;
    assert_eq!(cts[" "], "Regular Sale");
    let (_, utp) = get(&session, "/v2/stocks/meta/conditions/trade", "tape=C").await;
    assert_eq!(utp["@"], "Regular Sale");
    let (_, quotes) = get(&session, "/v2/stocks/meta/conditions/quote", "tape=C").await;
    assert_eq!(quotes["R"], "Regular Two Sided Open");
    let (status, body) = get(&session, "/v2/stocks/meta/conditions/trade", "").await;
    assert_eq!(status, 400, "{body}");
}

/// Goal: a crypto pair is a crypto asset, found by its slashed symbol,
/// and the asset list filters by class. Method: `GET /v2/assets/BTC/USD`
/// and `/v2/assets/BTCUSD`; the list with `asset_class=crypto` and
/// `us_equity`; a bad class is refused.
#[tokio::test(start_paused = true)]
async fn crypto_assets_are_crypto() {
    let session = session();
    for path in ["/v2/assets/BTC/USD", "/v2/assets/BTCUSD"] {
        let (status, asset) = get(&session, path, "").await;
        assert_eq!(status, 200, "{asset}");
        assert_eq!(
            (&asset["class"], &asset["exchange"]),
            (&Value::from("crypto"), &Value::from("CRYPTO"))
        );
        assert_eq!(asset["symbol"], "BTC/USD");
    }
    let classes = |body: &Value| -> Vec<String> {
        body.as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["symbol"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, crypto) = get(&session, "/v2/assets", "asset_class=crypto").await;
    assert_eq!(classes(&crypto), ["BTC/USD"]);
    let (_, stocks) = get(
        &session,
        "/v2/assets",
        "status=active&asset_class=us_equity",
    )
    .await;
    assert_eq!(classes(&stocks), ["SPY", "QQQ"]);
    let (status, body) = get(&session, "/v2/assets", "asset_class=bonds").await;
    assert_eq!(status, 422, "{body}");
}
