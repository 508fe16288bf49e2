//! What Alpaca sends, read into the engine's order model: the order JSON
//! (one order or a list), the `FILL` account activities, error bodies,
//! RFC 3339 stamps and the `Date` header.
//!
//! Reading is strict where the engine's safety depends on it (an order
//! without an id or a parseable quantity is a bad body, an ambiguous
//! outcome) and tolerant elsewhere (unknown fields are ignored; a status
//! spelling the engine does not know is kept verbatim).

use std::str::FromStr;

use fillproof_engine::{
    FillActivity, FillKind, Order, OrderClass, OrderStatus, OrderType, Side, TimeInForce,
    Timestamp, Trail,
};
use rust_decimal::Decimal;
use serde::Deserialize;

/// An order as Alpaca sends it; decimals are strings.
#[derive(Debug, Deserialize)]
struct WireOrder {
    id: String,
    client_order_id: String,
    symbol: String,
    qty: Option<String>,
    side: String,
    #[serde(rename = "type")]
    order_type: String,
    time_in_force: String,
    limit_price: Option<String>,
    #[serde(default)]
    extended_hours: Option<bool>,
    status: String,
    filled_qty: Option<String>,
    filled_avg_price: Option<String>,
    submitted_at: Option<String>,
    filled_at: Option<String>,
    canceled_at: Option<String>,
    updated_at: Option<String>,
    #[serde(default)]
    stop_price: Option<String>,
    #[serde(default)]
    trail_price: Option<String>,
    #[serde(default)]
    trail_percent: Option<String>,
    #[serde(default)]
    hwm: Option<String>,
    #[serde(default)]
    order_class: Option<String>,
    #[serde(default)]
    legs: Option<Vec<WireOrder>>,
    #[serde(default)]
    replaces: Option<String>,
    #[serde(default)]
    replaced_by: Option<String>,
    #[serde(default)]
    notional: Option<String>,
}

fn decimal(field: &str, text: Option<&str>) -> Result<Option<Decimal>, String> {
    text.map(|t| {
        Decimal::from_str(t.trim())
            .or_else(|_| Decimal::from_scientific(t.trim()))
            .map_err(|_| format!("{field} \"{t}\" is not a decimal"))
    })
    .transpose()
}

fn stamp(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, String> {
    text.map(|t| {
        Timestamp::parse_rfc3339(t)
            .ok_or_else(|| format!("{field} \"{t}\" is not an RFC 3339 time"))
    })
    .transpose()
}

/// Reads an order body.
///
/// # Errors
///
/// The body is not an order: not JSON, a required field missing, or a
/// quantity, price, side, type or stamp that does not parse. The message
/// names the field.
pub fn order(body: &[u8]) -> Result<Order, String> {
    let wire: WireOrder = serde_json::from_slice(body).map_err(|e| format!("not an order: {e}"))?;
    from_wire(wire)
}

/// Reads a list of orders (`GET /v2/orders`), each as [`order`] reads one.
///
/// # Errors
///
/// The body is not a JSON array, or an order in it does not read: the
/// message names its place in the list (from 0) and the field.
pub fn orders(body: &[u8]) -> Result<Vec<Order>, String> {
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("not a list of orders: {e}"))?;
    list.into_iter()
        .enumerate()
        .map(|(n, value)| {
            serde_json::from_value::<WireOrder>(value)
                .map_err(|e| e.to_string())
                .and_then(from_wire)
                .map_err(|e| format!("order {n} of the list: {e}"))
        })
        .collect()
}

/// The order `wire` stands for, its legs read the same way.
fn from_wire(wire: WireOrder) -> Result<Order, String> {
    let side = match wire.side.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => return Err(format!("side \"{other}\" is neither buy nor sell")),
    };
    let order_type = match wire.order_type.as_str() {
        "market" => OrderType::Market,
        "limit" => OrderType::Limit,
        "stop" => OrderType::Stop,
        "stop_limit" => OrderType::StopLimit,
        "trailing_stop" => OrderType::TrailingStop,
        other => return Err(format!("type \"{other}\" is not an order type")),
    };
    let time_in_force = match wire.time_in_force.as_str() {
        "day" => TimeInForce::Day,
        "gtc" => TimeInForce::Gtc,
        "opg" => TimeInForce::Opg,
        "cls" => TimeInForce::Cls,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        other => return Err(format!("time_in_force \"{other}\" is not known")),
    };
    Ok(Order {
        // A notional order shows its amount and no quantity.
        qty: match decimal("qty", wire.qty.as_deref())? {
            Some(qty) => qty,
            None if wire.notional.is_some() => Decimal::ZERO,
            None => return Err("qty is missing, and no notional amount either".into()),
        },
        notional: decimal("notional", wire.notional.as_deref())?,
        filled_qty: decimal("filled_qty", wire.filled_qty.as_deref())?.unwrap_or(Decimal::ZERO),
        filled_avg_price: decimal("filled_avg_price", wire.filled_avg_price.as_deref())?,
        limit_price: decimal("limit_price", wire.limit_price.as_deref())?,
        submitted_at: stamp("submitted_at", wire.submitted_at.as_deref())?,
        filled_at: stamp("filled_at", wire.filled_at.as_deref())?,
        canceled_at: stamp("canceled_at", wire.canceled_at.as_deref())?,
        updated_at: stamp("updated_at", wire.updated_at.as_deref())?,
        status: OrderStatus::parse(&wire.status),
        id: wire.id,
        client_order_id: wire.client_order_id,
        symbol: wire.symbol,
        side,
        order_type,
        time_in_force,
        extended_hours: wire.extended_hours.unwrap_or(false),
        stop_price: decimal("stop_price", wire.stop_price.as_deref())?,
        trail: match (
            decimal("trail_price", wire.trail_price.as_deref())?,
            decimal("trail_percent", wire.trail_percent.as_deref())?,
        ) {
            (Some(price), _) => Some(Trail::Price(price)),
            (None, Some(pct)) => Some(Trail::Percent(pct)),
            (None, None) => None,
        },
        hwm: decimal("hwm", wire.hwm.as_deref())?,
        order_class: match wire.order_class.as_deref() {
            None => OrderClass::Simple,
            Some(text) => OrderClass::parse(text)
                .ok_or_else(|| format!("order_class \"{text}\" is not an order class"))?,
        },
        legs: wire
            .legs
            .unwrap_or_default()
            .into_iter()
            .map(from_wire)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("a leg: {e}"))?,
        replaces: wire.replaces,
        replaced_by: wire.replaced_by,
    })
}

/// Reads a page of `FILL` account activities (`GET
/// /v2/account/activities/FILL`), one record per execution. Alpaca sends
/// each record's numbers as strings (a JSON number is read exactly too);
/// `side` `sell_short` is a sell; `execution_id` is read when a record
/// carries one, and is `None` otherwise (Alpaca's records name an
/// execution by the activity's `id`).
///
/// # Errors
///
/// The body is not a JSON array of objects, or a record lacks a field,
/// carries another `activity_type`, or has a number, stamp, `type` or
/// `side` that does not read: the message names the record's place in the
/// page (from 0) and the field.
pub fn fill_activities(body: &[u8]) -> Result<Vec<FillActivity>, String> {
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("not a list of activities: {e}"))?;
    list.iter()
        .enumerate()
        .map(|(n, value)| {
            fill_activity(value).map_err(|e| format!("activity {n} of the page: {e}"))
        })
        .collect()
}

/// A field of an activity record, present and not null.
fn present<'a>(
    record: &'a serde_json::Value,
    field: &str,
) -> Result<&'a serde_json::Value, String> {
    record
        .get(field)
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("{field} is missing"))
}

/// A text field of an activity record.
fn text_of<'a>(record: &'a serde_json::Value, field: &str) -> Result<&'a str, String> {
    let value = present(record, field)?;
    value
        .as_str()
        .ok_or_else(|| format!("{field} {value} is not a string"))
}

/// A decimal field of an activity record: a string, or a JSON number read
/// as written.
fn decimal_of(record: &serde_json::Value, field: &str) -> Result<Decimal, String> {
    match present(record, field)? {
        serde_json::Value::String(text) => {
            decimal(field, Some(text)).map(Option::unwrap_or_default)
        }
        serde_json::Value::Number(number) => {
            decimal(field, Some(&number.to_string())).map(Option::unwrap_or_default)
        }
        other => Err(format!("{field} {other} is not a decimal")),
    }
}

/// One `FILL` activity record.
fn fill_activity(record: &serde_json::Value) -> Result<FillActivity, String> {
    if !record.is_object() {
        return Err(format!("{record} is not an object"));
    }
    let activity_type = text_of(record, "activity_type")?;
    if activity_type != "FILL" {
        return Err(format!("activity_type \"{activity_type}\" is not FILL"));
    }
    let kind = match text_of(record, "type")? {
        "fill" => FillKind::Fill,
        "partial_fill" => FillKind::PartialFill,
        other => return Err(format!("type \"{other}\" is neither fill nor partial_fill")),
    };
    let side = match text_of(record, "side")? {
        "buy" => Side::Buy,
        "sell" | "sell_short" => Side::Sell,
        other => return Err(format!("side \"{other}\" is not buy, sell or sell_short")),
    };
    let transaction_time = text_of(record, "transaction_time")?;
    let execution_id = match record.get("execution_id") {
        None | Some(serde_json::Value::Null) => None,
        Some(_) => Some(text_of(record, "execution_id")?.to_owned()),
    };
    Ok(FillActivity {
        id: text_of(record, "id")?.to_owned(),
        execution_id,
        order_id: text_of(record, "order_id")?.to_owned(),
        symbol: text_of(record, "symbol")?.to_owned(),
        side,
        qty: decimal_of(record, "qty")?,
        price: decimal_of(record, "price")?,
        cum_qty: decimal_of(record, "cum_qty")?,
        leaves_qty: decimal_of(record, "leaves_qty")?,
        order_status: OrderStatus::parse(text_of(record, "order_status")?),
        kind,
        transaction_time: Timestamp::parse_rfc3339(transaction_time).ok_or_else(|| {
            format!("transaction_time \"{transaction_time}\" is not an RFC 3339 time")
        })?,
    })
}

/// An error body: Alpaca's 8-digit code and its message, either possibly
/// absent (a 401 has been seen without a code; a proxy answers HTML).
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// Alpaca's code, e.g. 40010001.
    pub code: Option<u64>,
    /// The message.
    pub message: Option<String>,
}

/// Reads an error body, leniently: anything unreadable is an empty one.
#[must_use]
pub fn error_body(body: &[u8]) -> ErrorBody {
    serde_json::from_slice(body).unwrap_or_default()
}

fn digits(text: &str) -> Option<i64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Parses an HTTP `Date` header (`Fri, 17 Oct 2025 13:30:01 GMT`) to
/// seconds since the epoch.
#[must_use]
pub fn parse_http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = text.split_whitespace().skip(1);
    let day = digits(parts.next()?)?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)?;
    let year = digits(parts.next()?)?;
    let mut clock = parts.next()?.split(':');
    let hour = digits(clock.next()?)?;
    let minute = digits(clock.next()?)?;
    let second = digits(clock.next()?)?;
    let month = i64::try_from(month).ok()? + 1;
    Timestamp::from_utc((year, month, day), (hour, minute, second), 0)
        .map(|t| t.unix_micros.div_euclid(1_000_000))
}

/// A number of the data API (prices and sizes are JSON numbers), read
/// exactly as written.
fn data_number(value: &serde_json::Value, field: &str) -> Result<Decimal, String> {
    match value {
        serde_json::Value::Number(number) => Decimal::from_str(&number.to_string())
            .or_else(|_| Decimal::from_scientific(&number.to_string()))
            .map_err(|_| format!("{field}: {number} is not a number we can hold")),
        other => Err(format!("{field}: expected a number, got {other}")),
    }
}

/// The object under `key` of a latest-quote or latest-trade body.
fn latest_object(body: &[u8], key: &str) -> Result<serde_json::Value, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    value
        .get(key)
        .cloned()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| format!("no `{key}` object in the answer"))
}

/// A latest-quote body (`{"symbol": ..., "quote": {"ap", "as", "bp", "bs",
/// "t", ...}}`) as the engine's quote.
///
/// # Errors
/// The body is not JSON, has no quote, or a field is missing or not a
/// number.
pub fn latest_quote(body: &[u8]) -> Result<fillproof_engine::Quote, String> {
    let quote = latest_object(body, "quote")?;
    Ok(fillproof_engine::Quote {
        ask: data_number(&quote["ap"], "quote.ap")?,
        ask_size: data_number(&quote["as"], "quote.as")?,
        bid: data_number(&quote["bp"], "quote.bp")?,
        bid_size: data_number(&quote["bs"], "quote.bs")?,
        at: stamp("quote.t", quote["t"].as_str())?,
    })
}

/// A latest-trade body (`{"symbol": ..., "trade": {"p", "s", "t", ...}}`)
/// as the engine's trade.
///
/// # Errors
/// As [`latest_quote`].
pub fn latest_trade(body: &[u8]) -> Result<fillproof_engine::Trade, String> {
    let trade = latest_object(body, "trade")?;
    Ok(fillproof_engine::Trade {
        price: data_number(&trade["p"], "trade.p")?,
        size: data_number(&trade["s"], "trade.s")?,
        at: stamp("trade.t", trade["t"].as_str())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Date` header's form.
    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Fri, 17 Oct 2025 13:30:01 GMT"),
            Some(1_760_707_801)
        );
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(parse_http_date("Fri, 17 Oct 2025 1x:30:01 GMT"), None);
        assert_eq!(parse_http_date("Fri, 17 Oct 2025 :30:01 GMT"), None);
    }

    /// An order body reads into the engine's model; a body missing what the
    /// engine needs is refused with the field named.
    #[test]
    fn orders_read_exactly_and_refuse_what_is_missing() {
        let body = br#"{"id":"6a1b","client_order_id":"c-1","symbol":"SPY","qty":"5","side":"buy","type":"limit","order_type":"limit","time_in_force":"day","limit_price":"590.1","status":"partially_filled","filled_qty":"2","filled_avg_price":"590.02","submitted_at":"2025-10-17T13:30:01.2Z","filled_at":null,"canceled_at":null,"updated_at":"2025-10-17T13:30:02Z","extra":1}"#;
        let order = order(body).expect("an order");
        assert_eq!(order.qty, Decimal::from(5));
        assert_eq!(order.filled_qty, Decimal::from(2));
        assert_eq!(order.filled_avg_price, Some(Decimal::new(59002, 2)));
        assert_eq!(order.status, OrderStatus::PartiallyFilled);
        assert_eq!(order.order_type, OrderType::Limit);
        assert_eq!(
            order.submitted_at.map(|t| t.unix_micros),
            Some(1_760_707_801_200_000)
        );
        let missing = br#"{"client_order_id":"c","symbol":"SPY","qty":"5","side":"buy","type":"market","time_in_force":"day","status":"new"}"#;
        assert!(super::order(missing).expect_err("no id").contains("id"));
        let bad_qty = br#"{"id":"1","client_order_id":"c","symbol":"SPY","qty":"five","side":"buy","type":"market","time_in_force":"day","status":"new"}"#;
        assert!(
            super::order(bad_qty)
                .expect_err("bad qty")
                .contains("qty \"five\"")
        );
        assert!(super::order(b"<html>").is_err());
    }

    /// A FILL record as Alpaca sends it (alpaca-py's test data, reworded).
    const FILL_RECORD: &str = r#"{"id":"20220304095318500::092cd749-b783-49cb-a36e-4d8666be201f","account_id":"6e8cb861-e8b9-4278-8ed2-c8452535a165","activity_type":"FILL","transaction_time":"2022-03-04T14:53:18.500245Z","type":"partial_fill","price":"2630.95","qty":"9","side":"sell_short","symbol":"GOOGL","leaves_qty":"1","order_id":"b677e464-c2d0-4fdd-a4b1-8830b386aa50","cum_qty":"9","order_status":"partially_filled"}"#;

    /// Goal: a FILL record reads into the engine's activity, exactly.
    /// Method: a record as Alpaca sends it, and one with an execution id
    /// and a number sent as a JSON number.
    #[test]
    fn a_fill_record_reads_exactly() {
        let page = fill_activities(format!("[{FILL_RECORD}]").as_bytes()).expect("a page");
        assert_eq!(page.len(), 1);
        let record = &page[0];
        assert_eq!(
            record.id,
            "20220304095318500::092cd749-b783-49cb-a36e-4d8666be201f"
        );
        assert_eq!(record.execution_id, None);
        assert_eq!(record.execution_key(), record.id);
        assert_eq!(record.order_id, "b677e464-c2d0-4fdd-a4b1-8830b386aa50");
        assert_eq!(record.symbol, "GOOGL");
        assert_eq!(record.side, Side::Sell, "sell_short is a sell");
        assert_eq!(record.qty, Decimal::from(9));
        assert_eq!(record.price, Decimal::new(263_095, 2));
        assert_eq!((record.cum_qty, record.leaves_qty), (9.into(), 1.into()));
        assert_eq!(record.order_status, OrderStatus::PartiallyFilled);
        assert_eq!(record.kind, FillKind::PartialFill);
        assert_eq!(record.transaction_time.unix_micros, 1_646_405_598_500_245);
        let with_id = FILL_RECORD
            .replace(r#""qty":"9""#, r#""qty":9.5,"execution_id":"e-1""#)
            .replace(r#""type":"partial_fill""#, r#""type":"fill""#);
        let page = fill_activities(format!("[{with_id}]").as_bytes()).expect("a page");
        assert_eq!(page[0].execution_id.as_deref(), Some("e-1"));
        assert_eq!(page[0].execution_key(), "e-1");
        assert_eq!(page[0].qty, Decimal::new(95, 1));
        assert_eq!(page[0].kind, FillKind::Fill);
    }

    /// Goal: a record without a field is refused naming the record and the
    /// field. Method: the second record of a page lacks `order_id`; another
    /// page's record has `price` null.
    #[test]
    fn a_record_missing_a_field_is_refused_naming_it() {
        let missing =
            FILL_RECORD.replace(r#""order_id":"b677e464-c2d0-4fdd-a4b1-8830b386aa50","#, "");
        let error = fill_activities(format!("[{FILL_RECORD},{missing}]").as_bytes())
            .expect_err("no order_id");
        assert_eq!(error, "activity 1 of the page: order_id is missing");
        let null = FILL_RECORD.replace(r#""price":"2630.95""#, r#""price":null"#);
        let error = fill_activities(format!("[{null}]").as_bytes()).expect_err("null price");
        assert_eq!(error, "activity 0 of the page: price is missing");
    }

    /// Goal: a garbage number, stamp, type or activity type is refused
    /// naming the record and the field. Method: one spoiled field per
    /// page; a body that is not a list.
    #[test]
    fn a_garbage_number_is_refused_naming_the_field() {
        for (from, to, named) in [
            (
                r#""qty":"9""#,
                r#""qty":"nine""#,
                r#"qty "nine" is not a decimal"#,
            ),
            (
                r#""cum_qty":"9""#,
                r#""cum_qty":true"#,
                "cum_qty true is not a decimal",
            ),
            (
                r#""transaction_time":"2022-03-04T14:53:18.500245Z""#,
                r#""transaction_time":"yesterday""#,
                r#"transaction_time "yesterday""#,
            ),
            (
                r#""type":"partial_fill""#,
                r#""type":"trade""#,
                r#"type "trade""#,
            ),
            (
                r#""activity_type":"FILL""#,
                r#""activity_type":"DIV""#,
                r#"activity_type "DIV""#,
            ),
        ] {
            let spoiled = FILL_RECORD.replace(from, to);
            assert_ne!(spoiled, FILL_RECORD, "{from}");
            let error = fill_activities(format!("[{spoiled}]").as_bytes()).expect_err(to);
            assert!(error.starts_with("activity 0 of the page: "), "{error}");
            assert!(error.contains(named), "{error}");
        }
        assert!(fill_activities(b"{}").is_err_and(|e| e.contains("not a list")));
    }

    /// Goal: a list of orders reads each as a single order reads; a broken
    /// one is refused naming its place. Method: two orders, then a list
    /// whose second order has no id.
    #[test]
    fn order_lists_read_each_order_or_name_the_broken_one() {
        let one = r#"{"id":"1","client_order_id":"c-1","symbol":"SPY","qty":"5","side":"buy","type":"market","time_in_force":"day","status":"filled","filled_qty":"5"}"#;
        let two = one.replace(r#""id":"1""#, r#""id":"2""#);
        let list = orders(format!("[{one},{two}]").as_bytes()).expect("a list");
        let ids: Vec<&str> = list.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(orders(b"[]"), Ok(Vec::new()));
        let broken = one.replace(r#""id":"1","#, "");
        let error = orders(format!("[{one},{broken}]").as_bytes()).expect_err("no id");
        assert!(error.starts_with("order 1 of the list: "), "{error}");
        assert!(error.contains("id"), "{error}");
    }

    /// A data-API body without its object, or with a field that is not a
    /// number, is refused naming what is wrong; numbers are read exactly.
    #[test]
    fn latest_bodies_are_read_exactly_or_refused() {
        let quote = latest_quote(
            br#"{"symbol":"SPY","quote":{"ap":590.13,"as":200,"bp":590.11,"bs":100,"t":"2026-12-07T14:30:00Z"}}"#,
        )
        .expect("quote");
        assert_eq!(quote.ask, Decimal::new(59_013, 2));
        assert_eq!(quote.bid_size, Decimal::from(100));
        assert!(latest_quote(br#"{"symbol":"SPY"}"#).is_err_and(|e| e.contains("`quote`")));
        assert!(
            latest_trade(br#"{"trade":{"p":"590.1","s":1}}"#).is_err_and(|e| e.contains("trade.p"))
        );
    }
}
