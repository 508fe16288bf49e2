//! Brackets, OCO, OTO, stops and trailing stops over the wire, shown as
//! Alpaca shows them: legs nested on request, each with its own UUID and
//! status; a trailing stop's mark and stop; Alpaca's refusals naming the
//! field.

use std::time::Duration;

use fillproof_serve::{Reply, Session};
use fillproof_simulator::Scenario;
use serde_json::Value;

const SCENARIO: &str = r#"
version: 1
name: orders
seed: 9
workload:
  orders: 1
  symbols: [SPY]
  qty: 5
  reference_price: {SPY: "590.10"}
broker:
  fill: {probability: 1, delay: 100ms}
"#;

fn session() -> std::sync::Arc<Session> {
    let scenario = Scenario::parse(SCENARIO.as_bytes(), "orders.yaml", None).expect("scenario");
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

const BRACKET: &str = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"gtc","order_class":"bracket","take_profit":{"limit_price":600},"stop_loss":{"stop_price":580,"limit_price":579.5}}"#;

/// Goal: a bracket is accepted whole and its legs shown as Alpaca shows
/// them. Method: post a bracket: the answer nests two legs (a sell limit
/// at 600 and a sell stop limit at 580/579.50, each a UUID, `held`, class
/// `bracket`); a read without `nested` shows `legs: null`, with
/// `nested=true` both legs, `new` once the entry filled (the take profit
/// works; the stop reads `new` until it triggers); the list shows three
/// orders flat and one nested.
#[tokio::test(start_paused = true)]
async fn a_bracket_is_shown_with_its_legs() {
    let s = session();
    let (status, placed) = call(&s, "POST", "/v2/orders", "", BRACKET).await;
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["order_class"], "bracket");
    let legs = placed["legs"]
        .as_array()
        .expect("legs nested in the answer");
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[0]["type"], "limit");
    assert_eq!(legs[0]["limit_price"], "600");
    assert_eq!(legs[1]["type"], "stop_limit");
    assert_eq!(legs[1]["stop_price"], "580");
    assert_eq!(legs[1]["limit_price"], "579.5");
    for leg in legs {
        assert_eq!(leg["status"], "held", "{leg}");
        assert_eq!(leg["side"], "sell");
        assert_eq!(leg["order_class"], "bracket");
        assert_eq!(leg["id"].as_str().map(str::len), Some(36), "{leg}");
        assert!(leg["legs"].is_null());
    }
    let id = placed["id"].as_str().expect("id").to_owned();
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let (_, flat) = call(&s, "GET", &format!("/v2/orders/{id}"), "", "").await;
    assert!(flat["legs"].is_null(), "{flat}");
    let (_, nested) = call(&s, "GET", &format!("/v2/orders/{id}"), "nested=True", "").await;
    assert_eq!(nested["status"], "filled");
    let statuses: Vec<&str> = nested["legs"]
        .as_array()
        .expect("legs")
        .iter()
        .filter_map(|l| l["status"].as_str())
        .collect();
    assert_eq!(statuses, ["new", "new"]);
    let (_, all) = call(&s, "GET", "/v2/orders", "status=all", "").await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    let (_, heads) = call(&s, "GET", "/v2/orders", "status=all&nested=true", "").await;
    assert_eq!(heads.as_array().map(Vec::len), Some(1));
    assert_eq!(heads[0]["legs"].as_array().map(Vec::len), Some(2));
}

/// Goal: a trailing stop shows its trail, mark and stop. Method: post a
/// sell trailing stop with a 1% trail on a still market at 590.10: it
/// shows trail_percent 1, hwm 590.1 and stop_price 584.2 (590.10 × 0.99
/// to the cent).
#[tokio::test(start_paused = true)]
async fn a_trailing_stop_shows_its_mark_and_stop() {
    let s = session();
    let body = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day"}"#;
    assert_eq!(call(&s, "POST", "/v2/orders", "", body).await.0, 200);
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let body = r#"{"symbol":"SPY","qty":5,"side":"sell","type":"trailing_stop","trail_percent":"1","time_in_force":"gtc"}"#;
    let (status, placed) = call(&s, "POST", "/v2/orders", "", body).await;
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["type"], "trailing_stop");
    assert_eq!(placed["trail_percent"], "1");
    assert!(placed["trail_price"].is_null());
    assert_eq!(placed["hwm"], "590.1");
    assert_eq!(placed["stop_price"], "584.2");
    assert_eq!(placed["status"], "new");
}

/// Goal: Alpaca's refusals of groups and stops reach the client as 422s
/// naming the field. Method: a take profit under the entry's base price,
/// a bracket in `ioc`, a stop without its price.
#[tokio::test(start_paused = true)]
async fn bad_groups_and_stops_are_refused_naming_the_field() {
    let s = session();
    for (body, needle) in [
        (
            r#"{"symbol":"SPY","qty":5,"side":"buy","type":"limit","limit_price":590,"time_in_force":"gtc","order_class":"bracket","take_profit":{"limit_price":589},"stop_loss":{"stop_price":580}}"#,
            "take_profit.limit_price must be >= base_price + 0.01",
        ),
        (
            r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"ioc","order_class":"bracket","take_profit":{"limit_price":600},"stop_loss":{"stop_price":580}}"#,
            "time_in_force",
        ),
        (
            r#"{"symbol":"SPY","qty":5,"side":"sell","type":"stop","time_in_force":"day"}"#,
            "stop_price",
        ),
    ] {
        let (status, answer) = call(&s, "POST", "/v2/orders", "", body).await;
        assert_eq!(status, 422, "{answer}");
        let message = answer["message"].as_str().expect("message");
        assert!(message.contains(needle), "{message}");
    }
}

/// The position in SPY as `GET /v2/positions/SPY` shows it (0 when
/// flat).
async fn position(s: &Session) -> String {
    let (status, body) = call(s, "GET", "/v2/positions/SPY", "", "").await;
    if status == 404 {
        return "0".into();
    }
    body["qty"].as_str().expect("qty").to_owned()
}

/// Goal: a position closes as Alpaca closes it. Method: buy 5; close 2
/// by `qty` (a market sell of 2), then 50% of the 3 left (1: whole
/// shares of a whole position), then the rest; both `qty` and
/// `percentage` is a 422; a flat symbol is 404 `position does not exist`.
#[tokio::test(start_paused = true)]
async fn a_position_closes_by_qty_percentage_or_whole() {
    let s = session();
    let buy = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day"}"#;
    assert_eq!(call(&s, "POST", "/v2/orders", "", buy).await.0, 200);
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let (status, order) = call(&s, "DELETE", "/v2/positions/SPY", "qty=2", "").await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(
        (order["side"].as_str(), order["qty"].as_str()),
        (Some("sell"), Some("2"))
    );
    assert_eq!(order["type"], "market");
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    assert_eq!(position(&s).await, "3");
    let (_, order) = call(&s, "DELETE", "/v2/positions/spy", "percentage=50", "").await;
    assert_eq!(order["qty"], "1");
    let (status, refused) = call(&s, "DELETE", "/v2/positions/SPY", "qty=1&percentage=5", "").await;
    assert_eq!(status, 422, "{refused}");
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let (_, order) = call(&s, "DELETE", "/v2/positions/SPY", "", "").await;
    assert_eq!(order["qty"], "2");
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    assert_eq!(position(&s).await, "0");
    let (status, missing) = call(&s, "DELETE", "/v2/positions/SPY", "", "").await;
    assert_eq!(
        (status, missing["message"].as_str()),
        (404, Some("position does not exist"))
    );
}

/// Goal: shares a bracket's exits hold cannot be closed twice, and
/// closing everything with `cancel_orders` frees them first. Method: a
/// bracket buying 5 fills; closing the position is Alpaca's 403 with the
/// figures (5 requested, 0 available, 5 held once for the two exits);
/// `DELETE /v2/positions?cancel_orders=True` cancels the exits and closes
/// the 5 (207, status 200 for SPY); the position ends flat.
#[tokio::test(start_paused = true)]
async fn a_brackets_exits_hold_its_shares_until_canceled() {
    let s = session();
    assert_eq!(call(&s, "POST", "/v2/orders", "", BRACKET).await.0, 200);
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let (status, refused) = call(&s, "DELETE", "/v2/positions/SPY", "", "").await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["message"],
        "insufficient qty available for order (requested: 5, available: 0)"
    );
    assert_eq!(refused["held_for_orders"], "5");
    let (status, closed) = call(&s, "DELETE", "/v2/positions", "cancel_orders=True", "").await;
    assert_eq!(status, 207, "{closed}");
    assert_eq!(closed[0]["symbol"], "SPY");
    assert_eq!(closed[0]["status"], 200, "{closed}");
    assert_eq!(closed[0]["body"]["qty"], "5");
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    assert_eq!(position(&s).await, "0");
}

/// Goal: `PATCH /v2/orders/{id}` replaces an order as Alpaca does.
/// Method: a buy resting at 580 replaced with a 585 limit: 200 with the
/// new order (`replaces` the old id, limit 585); the old reads
/// `replaced` with `replaced_by`; an empty body is 403 `order parameters
/// are not changed`; `notional` is refused naming it.
#[tokio::test(start_paused = true)]
async fn patch_replaces_an_order() {
    let s = session();
    let body = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"limit","limit_price":"580","time_in_force":"gtc"}"#;
    let (_, old) = call(&s, "POST", "/v2/orders", "", body).await;
    let old_id = old["id"].as_str().expect("id").to_owned();
    let path = format!("/v2/orders/{old_id}");
    let (status, new) = call(&s, "PATCH", &path, "", r#"{"limit_price":585}"#).await;
    assert_eq!(status, 200, "{new}");
    assert_eq!(new["replaces"], old_id.as_str());
    assert_eq!(new["limit_price"], "585");
    assert_ne!(new["id"], old["id"]);
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let (_, read) = call(&s, "GET", &path, "", "").await;
    assert_eq!(read["status"], "replaced");
    assert_eq!(read["replaced_by"], new["id"]);
    let new_path = format!("/v2/orders/{}", new["id"].as_str().expect("id"));
    let (status, refused) = call(&s, "PATCH", &new_path, "", "").await;
    assert_eq!(
        (status, refused["message"].as_str()),
        (403, Some("order parameters are not changed"))
    );
    let (status, refused) = call(&s, "PATCH", &new_path, "", r#"{"notional":"10"}"#).await;
    assert_eq!(status, 422);
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("notional"))
    );
}

/// Goal: closing everything with `cancel_orders` waits for the cancels
/// it sends, as Alpaca cancels before it liquidates. Method: a broker
/// that takes 10 ms to hear a cancel and 200 ms to process it; buy 6,
/// rest a sell limit of all 6 (it holds them), then `DELETE
/// /v2/positions?cancel_orders=true`: the limit ends canceled and the
/// 6 are sold (200), not refused as held.
#[tokio::test(start_paused = true)]
async fn closing_all_waits_for_its_cancels() {
    let text = SCENARIO.replace(
        "broker:\n",
        "broker:\n  latency: {cancel: 10ms}\n  cancel: {processing: 200ms}\n",
    );
    let scenario = Scenario::parse(text.as_bytes(), "orders.yaml", None).expect("scenario");
    let s = Session::new(&scenario, 9).expect("session");
    let buy = r#"{"symbol":"SPY","qty":6,"side":"buy","type":"market","time_in_force":"day"}"#;
    assert_eq!(call(&s, "POST", "/v2/orders", "", buy).await.0, 200);
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let rest = r#"{"symbol":"SPY","qty":6,"side":"sell","type":"limit","limit_price":"600","time_in_force":"gtc"}"#;
    let (_, resting) = call(&s, "POST", "/v2/orders", "", rest).await;
    let (status, closed) = call(&s, "DELETE", "/v2/positions", "cancel_orders=true", "").await;
    assert_eq!(status, 207);
    assert_eq!(closed[0]["status"], 200, "{closed}");
    assert_eq!(closed[0]["body"]["qty"], "6");
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let path = format!("/v2/orders/{}", resting["id"].as_str().expect("id"));
    assert_eq!(call(&s, "GET", &path, "", "").await.1["status"], "canceled");
    assert_eq!(position(&s).await, "0");
}

/// Goal: a notional order over the wire, as Alpaca shows it. Method: a
/// $500 market buy of SPY (held at 590.10): 200 with `notional` "500" and
/// `qty` null; it fills 500 ÷ 590.10 shares, to 9 places rounded down.
#[tokio::test(start_paused = true)]
async fn a_notional_order_shows_its_amount() {
    let s = session();
    let body =
        r#"{"symbol":"SPY","notional":500,"side":"buy","type":"market","time_in_force":"day"}"#;
    let (status, placed) = call(&s, "POST", "/v2/orders", "", body).await;
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["notional"], "500");
    assert!(placed["qty"].is_null(), "{placed}");
    fillproof_engine::clock::sleep(Duration::from_secs(1)).await;
    let path = format!("/v2/orders/{}", placed["id"].as_str().expect("id"));
    let (_, read) = call(&s, "GET", &path, "", "").await;
    assert_eq!(read["status"], "filled");
    assert_eq!(read["filled_qty"], "0.847314014");
}
