//! Market Data API v2 bars, latest bars and snapshots, and the Trading
//! API's calendar, as `serve` answers them: shapes alpaca-py reads, the
//! tape the market prints, paging, and refusals that name the parameter.
//! The session starts at 2025-01-02T14:30:00Z (the scenario's epoch) with
//! SPY flat at $590.10 and QQQ at $500, each trading 100 shares a second.

use std::time::Duration;

use fillproof_serve::{Reply, Session};
use fillproof_simulator::Scenario;
use serde_json::Value;

const SCENARIO: &str = r#"
version: 1
name: market-data
seed: 5
workload:
  orders: 1
  symbols: [SPY, QQQ]
  qty: 5
  type: market
  reference_price: {SPY: "590.10", QQQ: "500"}
"#;

fn session() -> std::sync::Arc<Session> {
    let scenario =
        Scenario::parse(SCENARIO.as_bytes(), "market-data.yaml", None).expect("scenario");
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

/// The fields alpaca-py's `Bar` requires, typed as it reads them.
fn assert_bar_shape(bar: &Value) {
    assert!(bar["t"].as_str().is_some_and(|t| t.ends_with('Z')), "{bar}");
    for field in ["o", "h", "l", "c", "v", "n", "vw"] {
        assert!(bar[field].is_number(), "{field}: {bar}");
    }
}

/// A flat bar of `trades` prints of 100 shares at `price`, from `t`.
fn assert_flat_bar(bar: &Value, t: &str, price: f64, trades: u64) {
    assert_bar_shape(bar);
    assert_eq!(bar["t"], t, "{bar}");
    for field in ["o", "h", "l", "c", "vw"] {
        assert_eq!(bar[field], price, "{field}: {bar}");
    }
    assert_eq!(
        (bar["n"].as_u64(), bar["v"].as_u64()),
        (Some(trades), Some(trades * 100))
    );
}

fn minute(m: u32) -> String {
    format!("2025-01-02T14:{m:02}:00.000000Z")
}

/// Goal: bars are the tape bucketed, up to the present. Method: 10 min 30 s
/// into the session, 1Min bars of SPY by default run from New York's
/// midnight to now: 14:30 to 14:40, each of 60 one-second prints, the one
/// in progress of 31; 5Min and 1Day bucket the same prints; several
/// symbols answer by symbol; a start before the session and an end in the
/// future change nothing.
#[tokio::test(start_paused = true)]
async fn bars_bucket_the_tape_up_to_now() {
    let session = session();
    tokio::time::advance(Duration::from_secs(630)).await;
    let (status, body) = get(&session, "/v2/stocks/SPY/bars", "timeframe=1Min").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["symbol"], &body["next_page_token"]),
        (&Value::from("SPY"), &Value::Null)
    );
    let bars = body["bars"].as_array().expect("bars");
    assert_eq!(bars.len(), 11);
    assert_flat_bar(&bars[0], &minute(30), 590.1, 60);
    assert_flat_bar(&bars[10], &minute(40), 590.1, 31);

    let wide = "timeframe=1Min&start=2024-12-31T00:00:00Z&end=2025-02-01T00:00:00%2B00:00";
    let (_, same) = get(&session, "/v2/stocks/SPY/bars", wide).await;
    assert_eq!(same["bars"], body["bars"]);

    let (_, five) = get(&session, "/v2/stocks/SPY/bars", "timeframe=5Min").await;
    let five = five["bars"].as_array().expect("bars");
    assert_eq!(five.len(), 3);
    assert_flat_bar(&five[2], &minute(40), 590.1, 31);
    let (_, day) = get(
        &session,
        "/v2/stocks/SPY/bars",
        "timeframe=1D&feed=sip&adjustment=split,dividend",
    )
    .await;
    assert_flat_bar(&day["bars"][0], "2025-01-02T05:00:00.000000Z", 590.1, 631);

    let (status, many) = get(
        &session,
        "/v2/stocks/bars",
        "symbols=SPY,QQQ&timeframe=1Hour",
    )
    .await;
    assert_eq!(status, 200, "{many}");
    assert_eq!(many["next_page_token"], Value::Null);
    assert_flat_bar(
        &many["bars"]["QQQ"][0],
        "2025-01-02T14:00:00.000000Z",
        500.0,
        631,
    );
    assert_flat_bar(
        &many["bars"]["SPY"][0],
        "2025-01-02T14:00:00.000000Z",
        590.1,
        631,
    );

    let late = "timeframe=1Min&start=2025-01-02T14:38:30Z&end=2025-01-02T14:39:00Z";
    let (_, window) = get(&session, "/v2/stocks/SPY/bars", late).await;
    let times: Vec<&Value> = window["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| &b["t"])
        .collect();
    assert_eq!(
        times,
        [&Value::from(minute(39))],
        "bars start from start to end, both included"
    );
}

/// Every page's token, followed until there is none: the bars of each
/// page in order.
async fn pages(session: &Session, path: &str, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let query = match &token {
            Some(token) => format!("{query}&page_token={token}"),
            None => query.to_owned(),
        };
        let (status, page) = get(session, path, &query).await;
        assert_eq!(status, 200, "{page}");
        all.push(page["bars"].clone());
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return all,
        }
    }
    panic!("paging never ended");
}

/// Goal: paging by `limit` and `page_token` reads every bar once, going
/// up or down, across symbols. Method: eleven 1Min bars of SPY by pages
/// of 4 (4, 4, 3) and down by pages of 3; SPY and QQQ by pages of 7,
/// `limit` counting both symbols' bars.
#[tokio::test(start_paused = true)]
async fn pages_read_every_bar_once() {
    let session = session();
    tokio::time::advance(Duration::from_secs(630)).await;
    let (_, whole) = get(&session, "/v2/stocks/SPY/bars", "timeframe=1Min").await;
    let up = pages(&session, "/v2/stocks/SPY/bars", "timeframe=1Min&limit=4").await;
    let sizes: Vec<usize> = up
        .iter()
        .map(|p| p.as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [4, 4, 3]);
    let joined: Vec<Value> = up
        .iter()
        .flat_map(|p| p.as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(Value::Array(joined.clone()), whole["bars"]);

    let down = pages(
        &session,
        "/v2/stocks/SPY/bars",
        "timeframe=1Min&limit=3&sort=desc",
    )
    .await;
    let mut reversed: Vec<Value> = down
        .iter()
        .flat_map(|p| p.as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(reversed[0]["t"], minute(40));
    reversed.reverse();
    assert_eq!(reversed, joined);

    let both = pages(
        &session,
        "/v2/stocks/bars",
        "symbols=SPY,QQQ&timeframe=1Min&limit=7",
    )
    .await;
    let counts: Vec<(usize, usize)> = both
        .iter()
        .map(|p| {
            let n = |s: &str| p[s].as_array().map_or(0, Vec::len);
            (n("QQQ"), n("SPY"))
        })
        .collect();
    assert_eq!(counts, [(7, 0), (4, 3), (0, 7), (0, 1)]);
}

/// Goal: a bad market-data request is refused with Alpaca's error shape,
/// its status, and a message naming the parameter; a start before the
/// session is no error.
#[tokio::test(start_paused = true)]
async fn bad_market_data_requests_name_the_parameter() {
    let session = session();
    tokio::time::advance(Duration::from_secs(90)).await;
    let bars = "/v2/stocks/SPY/bars";
    for (path, query, status, message) in [
        (
            "/v2/stocks/ZZZZ/bars",
            "timeframe=1Min",
            404,
            "symbol not found: ZZZZ",
        ),
        (
            "/v2/stocks/bars",
            "symbols=SPY,ZZZZ&timeframe=1Min",
            404,
            "symbol not found: ZZZZ",
        ),
        (
            "/v2/stocks/bars",
            "timeframe=1Min",
            400,
            "symbols is required",
        ),
        (bars, "", 400, "timeframe is required"),
        (bars, "timeframe=2Day", 400, "invalid timeframe \"2Day\""),
        (bars, "timeframe=1Week", 400, "invalid timeframe \"1Week\""),
        (
            bars,
            "timeframe=1Min&start=yesterday",
            400,
            "invalid start \"yesterday\"",
        ),
        (
            bars,
            "timeframe=1Min&end=2025-13-01",
            400,
            "invalid end \"2025-13-01\"",
        ),
        (
            bars,
            "timeframe=1Min&start=2025-01-02T15:00:00Z&end=2025-01-02T14:00:00Z",
            422,
            "end 2025-01-02T14:00:00.000000Z is before start 2025-01-02T15:00:00.000000Z",
        ),
        (
            bars,
            "timeframe=1Min&limit=10001",
            422,
            "limit 10001 is out of range: use 1 to 10000",
        ),
        (
            bars,
            "timeframe=1Min&limit=0",
            422,
            "limit 0 is out of range",
        ),
        (
            bars,
            "timeframe=1Min&limit=many",
            400,
            "invalid limit \"many\"",
        ),
        (
            bars,
            "timeframe=1Min&page_token=nonsense",
            400,
            "invalid page_token \"nonsense\"",
        ),
        (
            bars,
            "timeframe=1Min&page_token=5a5a5a5a0a31",
            400,
            "invalid page_token: it does not belong",
        ),
        (
            bars,
            "timeframe=1Min&sort=up",
            400,
            "invalid sort \"up\": use asc, desc",
        ),
        (
            bars,
            "timeframe=1Min&feed=nasdaq",
            400,
            "invalid feed \"nasdaq\"",
        ),
        (
            bars,
            "timeframe=1Min&adjustment=raw,magic",
            400,
            "invalid adjustment \"raw,magic\"",
        ),
        (
            "/v2/stocks/ZZZZ/snapshot",
            "",
            404,
            "symbol not found: ZZZZ",
        ),
        (
            "/v2/stocks/snapshots",
            "symbols=QQQ,ZZZZ",
            404,
            "symbol not found: ZZZZ",
        ),
        (
            "/v2/stocks/ZZZZ/bars/latest",
            "",
            404,
            "symbol not found: ZZZZ",
        ),
        ("/v2/calendar", "start=soon", 400, "invalid start \"soon\""),
        (
            "/v2/calendar",
            "start=2025-02-01&end=2025-01-01",
            422,
            "end 2025-01-01 is before start 2025-02-01",
        ),
        (
            "/v2/calendar",
            "date_type=PAYDAY",
            400,
            "invalid date_type \"PAYDAY\"",
        ),
    ] {
        let (got, body) = get(&session, path, query).await;
        assert_eq!(got, status, "{path}?{query}: {body}");
        let text = body["message"].as_str().unwrap_or_default();
        assert!(text.starts_with(message), "{path}?{query}: {body}");
        assert!(
            body["code"]
                .as_u64()
                .is_some_and(|c| c / 100_000 == u64::from(status)),
            "{body}"
        );
    }
    let (status, early) = get(&session, bars, "timeframe=1Min&start=2020-01-01").await;
    assert_eq!(status, 200, "{early}");
    assert_eq!(early["bars"][0]["t"], minute(30));
}

/// Goal: a snapshot is what alpaca-py's `Snapshot` reads: the latest trade
/// (the tape's last print, its step its id), the latest quote, the minute
/// and daily bars in progress, and no previous day in the session's first.
/// Method: 95 s in, SPY's snapshot alone and with QQQ's; the latest bars.
#[tokio::test(start_paused = true)]
async fn snapshots_hold_the_latest_of_each() {
    let session = session();
    tokio::time::advance(Duration::from_millis(95_500)).await;
    let (status, one) = get(&session, "/v2/stocks/SPY/snapshot", "").await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["symbol"], "SPY");
    let trade = &one["latestTrade"];
    assert_eq!(
        (&trade["p"], &trade["s"], &trade["i"]),
        (&Value::from(590.1), &Value::from(100), &Value::from(95))
    );
    assert_eq!(trade["t"], "2025-01-02T14:31:35.000000Z");
    assert_eq!(one["latestQuote"]["bp"], 590.1);
    assert_eq!(one["latestQuote"]["t"], "2025-01-02T14:31:35.500000Z");
    assert_flat_bar(&one["minuteBar"], &minute(31), 590.1, 36);
    assert_flat_bar(&one["dailyBar"], "2025-01-02T05:00:00.000000Z", 590.1, 96);
    assert_eq!(one["prevDailyBar"], Value::Null);

    let (status, many) = get(&session, "/v2/stocks/snapshots", "symbols=QQQ,SPY").await;
    assert_eq!(status, 200, "{many}");
    let mut spy = many["SPY"].clone();
    assert_eq!(
        spy.get("symbol"),
        None,
        "keyed by symbol, as alpaca-py reads them"
    );
    spy["symbol"] = Value::from("SPY");
    assert_eq!(spy, one);
    assert_eq!(many["QQQ"]["latestTrade"]["p"], 500);

    let (_, latest) = get(&session, "/v2/stocks/SPY/bars/latest", "").await;
    assert_eq!(latest["bar"], one["minuteBar"]);
    let (_, latest) = get(&session, "/v2/stocks/bars/latest", "symbols=SPY").await;
    assert_eq!(latest["bars"]["SPY"], one["minuteBar"]);
    let (_, trade) = get(&session, "/v2/stocks/SPY/trades/latest", "").await;
    assert_eq!(trade["trade"], one["latestTrade"]);
}

/// Goal: the calendar lists trading days as Alpaca does. Method: the first
/// ten days of 2025 (New Year's Day, the weekend and the 2025-01-09 day of
/// mourning closed), an early close, settlement dates over a closure and
/// Columbus Day, the range picked by settlement date, and a range reaching
/// past the bundled years.
#[tokio::test(start_paused = true)]
async fn the_calendar_lists_trading_days() {
    let session = session();
    let (status, days) = get(&session, "/v2/calendar", "start=2025-01-01&end=2025-01-10").await;
    assert_eq!(status, 200, "{days}");
    let days = days.as_array().expect("list");
    let dates: Vec<&str> = days.iter().filter_map(|d| d["date"].as_str()).collect();
    assert_eq!(
        dates,
        [
            "2025-01-02",
            "2025-01-03",
            "2025-01-06",
            "2025-01-07",
            "2025-01-08",
            "2025-01-10"
        ]
    );
    assert_eq!(
        days[0],
        serde_json::json!({
            "date": "2025-01-02", "open": "09:30", "close": "16:00",
            "session_open": "0400", "session_close": "2000", "settlement_date": "2025-01-03",
        })
    );
    assert_eq!(days[4]["settlement_date"], "2025-01-10");

    let (_, early) = get(
        &session,
        "/v2/calendar",
        "start=2025-07-03T12:00:00Z&end=2025-07-03",
    )
    .await;
    assert_eq!(
        (&early[0]["close"], &early[0]["session_close"]),
        (&Value::from("13:00"), &Value::from("1700"))
    );
    let (_, columbus) = get(&session, "/v2/calendar", "start=2025-10-10&end=2025-10-10").await;
    assert_eq!(columbus[0]["settlement_date"], "2025-10-14");
    let (_, settling) = get(
        &session,
        "/v2/calendar",
        "start=2025-10-14&end=2025-10-14&date_type=SETTLEMENT",
    )
    .await;
    let traded: Vec<&Value> = settling
        .as_array()
        .expect("list")
        .iter()
        .map(|d| &d["date"])
        .collect();
    assert_eq!(
        traded,
        [&Value::from("2025-10-10"), &Value::from("2025-10-13")]
    );

    let (_, edge) = get(&session, "/v2/calendar", "start=2028-12-28&end=2030-01-31").await;
    let edge: Vec<&Value> = edge
        .as_array()
        .expect("list")
        .iter()
        .map(|d| &d["date"])
        .collect();
    assert_eq!(
        edge,
        [&Value::from("2028-12-28"), &Value::from("2028-12-29")]
    );
    let (status, outside) = get(&session, "/v2/calendar", "start=2031-01-01").await;
    assert_eq!((status, outside), (200, Value::Array(Vec::new())));
    let (_, all) = get(&session, "/v2/calendar", "").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1_255), "2024 to 2028");
}
