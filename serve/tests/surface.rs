//! The rest of Alpaca's Trading API surface through `Session::dispatch`
//! on the paused clock: watchlists, account configurations, portfolio
//! history, every activity type, corporate announcements, options, the v3
//! clock and the account's fields; each endpoint's success shape, its
//! refusals naming the field, its bounds and its rate-limit place.

use fillproof_serve::{MAX_WATCHLISTS, Reply, Session};
use fillproof_simulator::Scenario;
use serde_json::{Value, json};

const SCENARIO: &str = r#"
version: 1
name: surface
seed: 9
workload:
  orders: 2
  symbols: [SPY, QQQ]
  qty: 5
  type: market
  reference_price: {SPY: "590.10", QQQ: "500"}
broker:
  fill: {probability: 1, delay: 100ms}
"#;

fn session_with(broker: &str) -> std::sync::Arc<Session> {
    let text = format!("{SCENARIO}{broker}");
    let scenario = Scenario::parse(text.as_bytes(), "surface.yaml", None).expect("scenario");
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

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

/// Goal: watchlists are created, read, edited and deleted as Alpaca's
/// are, by id and by name. Method: the whole life of one list.
#[tokio::test(start_paused = true)]
async fn watchlists_live_as_alpacas_do() {
    let session = session_with("");
    let (status, list) = call(
        &session,
        "POST",
        "/v2/watchlists",
        "",
        r#"{"name":"tech","symbols":["spy"]}"#,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let id = list["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 36);
    assert_eq!(list["assets"][0]["symbol"], "SPY");
    assert!(
        list["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let (status, all) = call(&session, "GET", "/v2/watchlists", "", "").await;
    assert_eq!((status, all.as_array().map(Vec::len)), (200, Some(1)));
    assert!(all[0].get("assets").is_none());
    let path = format!("/v2/watchlists/{id}");
    let (_, added) = call(&session, "POST", &path, "", r#"{"symbol":"QQQ"}"#).await;
    assert_eq!(added["assets"].as_array().map(Vec::len), Some(2));
    let (_, removed) = call(&session, "DELETE", &format!("{path}/SPY"), "", "").await;
    assert_eq!(removed["assets"][0]["symbol"], "QQQ");
    let (_, renamed) = call(&session, "PUT", &path, "", r#"{"name":"index"}"#).await;
    assert_eq!(renamed["name"], "index");
    let (status, by_name) = call(&session, "GET", "/v2/watchlists:by_name", "name=index", "").await;
    assert_eq!((status, by_name["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(
        call(
            &session,
            "DELETE",
            "/v2/watchlists:by_name",
            "name=index",
            ""
        )
        .await
        .0,
        204
    );
    let (status, gone) = call(&session, "GET", &path, "", "").await;
    assert_eq!((status, gone["code"].as_u64()), (404, Some(40_410_000)));
}

/// Goal: a watchlist refuses what Alpaca refuses, naming it, and past its
/// bound. Method: an unknown symbol, a name in use, a symbol twice, then
/// lists up to the bound and one more.
#[tokio::test(start_paused = true)]
async fn watchlist_refusals_name_the_symbol_the_name_and_the_bound() {
    let session = session_with("");
    let (status, body) = call(
        &session,
        "POST",
        "/v2/watchlists",
        "",
        r#"{"name":"a","symbols":["NOPE"]}"#,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (422, Some(40_010_001)));
    assert!(message(&body).contains("NOPE"), "{body}");
    call(&session, "POST", "/v2/watchlists", "", r#"{"name":"a"}"#).await;
    let (status, body) = call(&session, "POST", "/v2/watchlists", "", r#"{"name":"a"}"#).await;
    assert_eq!(status, 422);
    assert!(message(&body).contains("\"a\""), "{body}");
    let (status, body) = call(
        &session,
        "POST",
        "/v2/watchlists",
        "",
        r#"{"name":"b","symbols":["SPY","spy"]}"#,
    )
    .await;
    assert_eq!(status, 422);
    assert!(message(&body).contains("SPY"), "{body}");
    for i in 1..MAX_WATCHLISTS {
        let (status, _) = call(
            &session,
            "POST",
            "/v2/watchlists",
            "",
            &format!(r#"{{"name":"l{i}"}}"#),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, body) = call(&session, "POST", "/v2/watchlists", "", r#"{"name":"over"}"#).await;
    assert_eq!(status, 422);
    assert!(
        message(&body).contains(&MAX_WATCHLISTS.to_string()),
        "{body}"
    );
}

/// Goal: configurations answer alpaca-py's fields, a patch is kept and
/// refuses by field, and `suspend_trade` refuses orders. Method: read,
/// patch, a bad patch, then a submit while suspended.
#[tokio::test(start_paused = true)]
async fn configurations_are_kept_refused_by_field_and_suspend_trading() {
    let session = session_with("");
    let (status, configs) = call(&session, "GET", "/v2/account/configurations", "", "").await;
    assert_eq!(status, 200);
    for field in [
        "trade_confirm_email",
        "suspend_trade",
        "no_shorting",
        "fractional_trading",
        "max_margin_multiplier",
        "ptp_no_exception_entry",
        "max_options_trading_level",
    ] {
        assert!(configs.get(field).is_some(), "{field}: {configs}");
    }
    let (status, body) = call(
        &session,
        "PATCH",
        "/v2/account/configurations",
        "",
        r#"{"no_shorting":"maybe"}"#,
    )
    .await;
    assert_eq!(status, 422);
    assert!(message(&body).contains("no_shorting"), "{body}");
    let (status, patched) = call(
        &session,
        "PATCH",
        "/v2/account/configurations",
        "",
        r#"{"suspend_trade":true,"no_shorting":true}"#,
    )
    .await;
    assert_eq!(
        (status, patched["suspend_trade"].as_bool()),
        (200, Some(true))
    );
    let (_, account) = call(&session, "GET", "/v2/account", "", "").await;
    assert_eq!(account["trade_suspended_by_user"], true);
    assert_eq!(account["shorting_enabled"], false);
    let order = r#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day"}"#;
    let (status, body) = call(&session, "POST", "/v2/orders", "", order).await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(40_310_000)));
    assert!(message(&body).contains("suspend_trade"), "{body}");
}

/// Goal: the account carries every field alpaca-py's `TradeAccount`
/// reads, decimals as strings, with equity cash plus positions. Method:
/// buy, let it fill, read the account.
#[tokio::test(start_paused = true)]
async fn the_account_has_every_field_alpaca_has() {
    let session = session_with("");
    let order = r#"{"symbol":"SPY","qty":2,"side":"buy","type":"market","time_in_force":"day"}"#;
    assert_eq!(call(&session, "POST", "/v2/orders", "", order).await.0, 200);
    fillproof_engine::clock::sleep(std::time::Duration::from_secs(1)).await;
    let (_, account) = call(&session, "GET", "/v2/account", "", "").await;
    for field in [
        "buying_power",
        "regt_buying_power",
        "non_marginable_buying_power",
        "options_buying_power",
        "cash",
        "accrued_fees",
        "pending_transfer_out",
        "pending_transfer_in",
        "portfolio_value",
        "equity",
        "last_equity",
        "long_market_value",
        "short_market_value",
        "initial_margin",
        "maintenance_margin",
        "last_maintenance_margin",
        "balance_asof",
        "intraday_adjustments",
        "pending_reg_taf_fees",
        "sma",
        "multiplier",
    ] {
        assert!(account[field].is_string(), "{field}: {account}");
    }
    for field in ["options_approved_level", "options_trading_level"] {
        assert_eq!(account[field], 0, "{field}");
    }
    let number = |field: &str| {
        account[field]
            .as_str()
            .and_then(|s| s.parse::<rust_decimal::Decimal>().ok())
            .expect(field)
    };
    assert_eq!(
        number("equity"),
        number("cash") + number("long_market_value") + number("short_market_value")
    );
    assert!(number("long_market_value") > rust_decimal::Decimal::ZERO);
    assert!(account.get("daytrading_buying_power").is_none());
}

/// Goal: portfolio history answers alpaca-py's shape from the ledger,
/// never past now, and refuses bad parameters by name. Method: a buy,
/// then a 1-day minute history, then bad parameters one by one.
#[tokio::test(start_paused = true)]
async fn portfolio_history_follows_the_ledger_and_refuses_by_name() {
    let session = session_with("");
    let order = r#"{"symbol":"SPY","qty":2,"side":"buy","type":"market","time_in_force":"day"}"#;
    call(&session, "POST", "/v2/orders", "", order).await;
    fillproof_engine::clock::sleep(std::time::Duration::from_secs(300)).await;
    let (status, history) = call(
        &session,
        "GET",
        "/v2/account/portfolio/history",
        "period=1D&timeframe=1Min&intraday_reporting=continuous",
        "",
    )
    .await;
    assert_eq!(status, 200, "{history}");
    let stamps = history["timestamp"].as_array().expect("timestamps");
    assert!(!stamps.is_empty());
    assert_eq!(
        history["equity"].as_array().map(Vec::len),
        Some(stamps.len())
    );
    assert_eq!(
        history["profit_loss_pct"].as_array().map(Vec::len),
        Some(stamps.len())
    );
    assert_eq!(history["timeframe"], "1Min");
    assert!(history["base_value"].is_number());
    let now = session
        .broker()
        .model()
        .time_origin()
        .at(session.elapsed())
        .unix_micros
        / 1_000_000;
    assert!(stamps.iter().all(|t| t.as_i64().is_some_and(|t| t <= now)));
    for (query, name) in [
        ("period=1Q", "period"),
        ("timeframe=2Min", "timeframe"),
        ("start=soon", "start"),
        ("date_end=someday", "date_end"),
        ("extended_hours=maybe", "extended_hours"),
        ("pnl_reset=weekly", "pnl_reset"),
        ("intraday_reporting=sometimes", "intraday_reporting"),
        (
            "period=1A&timeframe=1Min&intraday_reporting=continuous",
            "timeframe",
        ),
    ] {
        let (status, body) =
            call(&session, "GET", "/v2/account/portfolio/history", query, "").await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(message(&body).contains(name), "{query}: {body}");
    }
}

/// Goal: every activity type Alpaca has is answered (non-trade types with
/// an empty list) and an unknown one refused naming it. Method: DIV, a
/// list with FILL, an unknown type.
#[tokio::test(start_paused = true)]
async fn every_activity_type_is_answered_and_unknown_ones_refused() {
    let session = session_with("");
    let (status, body) = call(&session, "GET", "/v2/account/activities/DIV", "", "").await;
    assert_eq!((status, body), (200, json!([])));
    let (status, body) = call(
        &session,
        "GET",
        "/v2/account/activities",
        "activity_types=FILL,DIV",
        "",
    )
    .await;
    assert_eq!((status, body.is_array()), (200, true));
    let (status, body) = call(&session, "GET", "/v2/account/activities/BONUS", "", "").await;
    assert_eq!(status, 422);
    assert!(message(&body).contains("BONUS"), "{body}");
}

/// Goal: announcements and options, which the simulated market has none
/// of, are refused as Alpaca refuses an account without them (403
/// `40310000`) naming them; a malformed announcements query by the
/// parameter. Method: each route once.
#[tokio::test(start_paused = true)]
async fn announcements_and_options_are_refused() {
    let session = session_with("");
    let query = "ca_types=dividend,split&since=2025-01-01&until=2025-02-01";
    let (status, body) = call(
        &session,
        "GET",
        "/v2/corporate_actions/announcements",
        query,
        "",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(40_310_000)),
        "{body}"
    );
    assert!(message(&body).contains("corporate announcements"), "{body}");
    for (query, name) in [
        ("since=2025-01-01&until=2025-02-01", "ca_types"),
        ("ca_types=dividend&until=2025-02-01", "since"),
        (
            "ca_types=dividend&since=2025-01-01&until=2025-06-01",
            "until",
        ),
    ] {
        let (status, body) = call(
            &session,
            "GET",
            "/v2/corporate_actions/announcements",
            query,
            "",
        )
        .await;
        assert_eq!(status, 422, "{query}");
        assert!(message(&body).contains(name), "{query}: {body}");
    }
    let (status, _) = call(
        &session,
        "GET",
        "/v2/corporate_actions/announcements/7c3ac77f-894c-4c08-987f-18a2e43e8e2a",
        "",
        "",
    )
    .await;
    assert_eq!(status, 403);
    for (method, path) in [
        ("GET", "/v2/options/contracts"),
        ("GET", "/v2/options/contracts/SPY250117C00500000"),
        ("POST", "/v2/positions/SPY250117C00500000/exercise"),
    ] {
        let (status, body) = call(&session, method, path, "", "").await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (403, Some(40_310_000)),
            "{path}"
        );
        assert!(message(&body).contains("options"), "{path}: {body}");
    }
}

/// Goal: `GET /v3/clock` answers the NYSE's clock as `/v2/clock` reads
/// it. Method: a session on a Saturday with regular hours.
#[tokio::test(start_paused = true)]
async fn the_v3_clock_agrees_with_the_v2_clock() {
    let saturday = fillproof_engine::Timestamp::parse_rfc3339("2025-01-04T15:00:00Z")
        .expect("stamp")
        .unix_micros;
    let text = format!("{SCENARIO}market:\n  hours: regular\n");
    let scenario = Scenario::parse(text.as_bytes(), "clock.yaml", None).expect("scenario");
    let session = Session::starting_at(&scenario, 9, Some(saturday)).expect("session");
    let (status, v3) = call(&session, "GET", "/v3/clock", "", "").await;
    assert_eq!(status, 200, "{v3}");
    let clock = &v3["clocks"][0];
    assert_eq!(clock["market"]["acronym"], "NYSE");
    assert_eq!(clock["is_market_day"], false);
    assert_eq!(clock["phase"], "closed");
    let (_, v2) = call(&session, "GET", "/v2/clock", "", "").await;
    assert_eq!(clock["next_market_open"], v2["next_open"]);
    let (status, body) = call(&session, "GET", "/v3/clock", "markets=LSE", "").await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("LSE"), "{body}");
}

/// Goal: each new endpoint is a call of the broker's account endpoint and
/// meets its rate limit. Method: a limit of 3 a second; the fourth of the
/// new reads in the same instant is 429.
#[tokio::test(start_paused = true)]
async fn the_new_endpoints_take_their_place_in_the_rate_limit() {
    for (path, query) in [
        ("/v2/watchlists", ""),
        ("/v2/account/configurations", ""),
        ("/v2/account/portfolio/history", "period=1D"),
        ("/v2/account/activities/DIV", ""),
        ("/v2/options/contracts", ""),
        ("/v3/clock", ""),
    ] {
        let session = session_with("  rate_limit: {requests: 3, per: 1s}\n");
        for _ in 0..3 {
            let (status, body) = call(&session, "GET", path, query, "").await;
            assert_ne!(status, 429, "{path}: {body}");
        }
        let (status, body) = call(&session, "GET", path, query, "").await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (429, Some(42_910_000)),
            "{path}"
        );
    }
}

/// Goal: `GET /v3/calendar/{market}` (the JS SDK's `calendar()`) lists
/// the same trading days as `/v2/calendar`, each phase an instant.
/// Method: one week with a holiday, by both versions; another market
/// refused naming it.
#[tokio::test(start_paused = true)]
async fn the_v3_calendar_lists_the_v2_calendars_days() {
    let session = session_with("");
    let range = "start=2025-07-01T00:00:00.000Z&end=2025-07-07T00:00:00.000Z";
    let (status, v2) = call(&session, "GET", "/v2/calendar", range, "").await;
    assert_eq!(status, 200, "{v2}");
    let (status, v3) = call(&session, "GET", "/v3/calendar/NYSE", range, "").await;
    assert_eq!(status, 200, "{v3}");
    assert_eq!(v3["market"]["mic"], "XNYS");
    let dates = |days: &Value, field: &str| -> Vec<String> {
        days.as_array()
            .expect("days")
            .iter()
            .map(|d| d[field].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let days = dates(&v2, "date");
    assert_eq!(days, dates(&v3["calendar"], "date"));
    assert!(
        !days.contains(&"2025-07-04".to_owned()),
        "Independence Day: {days:?}"
    );
    let early = v3["calendar"]
        .as_array()
        .and_then(|days| days.iter().find(|d| d["date"] == "2025-07-03"))
        .expect("July 3rd trades");
    assert_eq!(early["core_start"], "2025-07-03T13:30:00.000000Z");
    assert_eq!(
        early["core_end"], "2025-07-03T17:00:00.000000Z",
        "an early close at 13:00"
    );
    assert_eq!(early["post_start"], early["core_end"]);
    assert_eq!(early["pre_end"], early["core_start"]);
    let (status, body) = call(&session, "GET", "/v3/calendar/LSE", "", "").await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("LSE"), "{body}");
}

/// Goal: `GET /v2/orders` honours every filter alpaca-py's `get_orders`
/// sends: `status`, `side`, `symbols`, `after`, `until`, `limit`,
/// `direction` and `nested`. Method: four orders a second apart (a
/// bracket among them), each filter alone against the list it must give.
#[tokio::test(start_paused = true)]
async fn the_order_list_honours_every_filter() {
    let session = session_with("");
    let body = |symbol: &str, side: &str, cid: &str| {
        format!(
            r#"{{"symbol":"{symbol}","qty":5,"side":"{side}","type":"market","time_in_force":"day","client_order_id":"{cid}"}}"#
        )
    };
    let bracket = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"gtc","order_class":"bracket","take_profit":{"limit_price":600},"stop_loss":{"stop_price":580,"limit_price":579.5},"client_order_id":"d"}"#;
    let mut stamps = Vec::new();
    for order in [
        body("SPY", "buy", "a"),
        body("QQQ", "buy", "b"),
        body("SPY", "sell", "c"),
        bracket.to_owned(),
    ] {
        let (status, placed) = call(&session, "POST", "/v2/orders", "", &order).await;
        assert_eq!(status, 200, "{placed}");
        stamps.push(
            placed["submitted_at"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        fillproof_engine::clock::sleep(std::time::Duration::from_secs(1)).await;
    }
    let cids = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|o| o["client_order_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let list = |query: String| {
        let session = std::sync::Arc::clone(&session);
        async move {
            let (status, body) = call(&session, "GET", "/v2/orders", &query, "").await;
            assert_eq!(status, 200, "{query}: {body}");
            body
        }
    };
    // Nested, a bracket's legs roll up under it; flat, they are listed
    // as orders of their own, as on Alpaca.
    let all = "status=all&nested=true".to_owned();
    let nested = list(all.clone()).await;
    assert_eq!(
        cids(&nested),
        ["d", "c", "b", "a"],
        "newest first by default"
    );
    assert_eq!(
        nested[0]["legs"].as_array().map(Vec::len),
        Some(2),
        "{}",
        nested[0]
    );
    let flat = list("status=all".to_owned()).await;
    assert_eq!(flat.as_array().map(Vec::len), Some(6), "{flat}");
    assert!(
        flat.as_array()
            .expect("list")
            .iter()
            .all(|o| o["legs"].is_null()),
        "{flat}"
    );
    assert_eq!(
        cids(&list(format!("{all}&direction=asc")).await),
        ["a", "b", "c", "d"]
    );
    assert_eq!(cids(&list(format!("{all}&side=sell")).await), ["c"]);
    assert_eq!(cids(&list(format!("{all}&symbols=QQQ")).await), ["b"]);
    assert_eq!(
        cids(&list(format!("{all}&symbols=QQQ,SPY&side=buy")).await),
        ["d", "b", "a"]
    );
    assert_eq!(cids(&list(format!("{all}&limit=2")).await), ["d", "c"]);
    assert_eq!(
        cids(&list(format!("{all}&after={}", stamps[1])).await),
        ["d", "c"]
    );
    assert_eq!(
        cids(&list(format!("{all}&until={}", stamps[1])).await),
        ["a"]
    );
    let (status, body) = call(&session, "GET", "/v2/orders", "status=all&side=up", "").await;
    assert_eq!(status, 422, "{body}");
    assert!(message(&body).contains("side"), "{body}");
}
