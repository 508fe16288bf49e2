//! Alpaca's Trading API v2 on the wire: the JSON a client reads (orders,
//! positions, the account, the clock, errors) and the order body it sends.
//!
//! Responses follow what alpaca-py validates: every decimal a string, ids
//! UUID-shaped, times RFC 3339, statuses lowercase, every required field
//! present (nullable ones as `null`). Requests are read loosely, as Alpaca
//! reads them: a quantity or a price may be a JSON number or a string, and
//! is kept exact; fields Alpaca does not know are ignored, and those it
//! takes that the simulator does not model (a position intent, options
//! legs) are refused naming the field, never dropped.

use std::str::FromStr;

use fillproof_engine::{Order, OrderRequest, OrderType, Side, TimeInForce, Timestamp};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Alpaca's error codes, by case (the code and the HTTP status are the
/// contract; the message is for people).
pub mod code {
    /// 400: the body is not a valid request.
    pub const BAD_REQUEST: u32 = 40_010_000;
    /// 422: a second order with a `client_order_id` already used.
    pub const DUPLICATE_CLIENT_ORDER_ID: u32 = 40_010_001;
    /// 422: a field's value is refused (an unknown symbol, a name in use):
    /// Alpaca's validation code, the same number as a used
    /// `client_order_id`'s.
    pub const INVALID_FIELD: u32 = 40_010_001;
    /// 401: missing or wrong keys.
    pub const UNAUTHORIZED: u32 = 40_110_000;
    /// 403: insufficient buying power, or another refusal.
    pub const FORBIDDEN: u32 = 40_310_000;
    /// 404: no such order or position.
    pub const NOT_FOUND: u32 = 40_410_000;
    /// 422: the request cannot be applied (an order already filled, ...).
    pub const UNPROCESSABLE: u32 = 42_210_000;
    /// 429: too many requests.
    pub const RATE_LIMITED: u32 = 42_910_000;
}

/// An error body: `{"code": <8 digits>, "message": "..."}`.
#[must_use]
pub fn error_body(code: u32, message: &str) -> Value {
    json!({ "code": code, "message": message })
}

/// What the server sends back for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A JSON body with a status.
    Json {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: Value,
    },
    /// 204 with no body (a cancel accepted).
    NoContent,
    /// 200 with a body no JSON parser takes (the garbage-body fault).
    Garbage,
    /// No answer: the connection is closed (a timeout, a lost response, a
    /// reset).
    Close,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Self::Json { status, body }
    }

    pub(crate) fn error(status: u16, code: u32, message: &str) -> Self {
        Self::json(status, error_body(code, message))
    }
}

/// The body a garbage-body fault sends with a 200: what a misconfigured
/// proxy answers, which no JSON parser takes.
pub const GARBAGE_BODY: &str = "<html><body><h1>502 Bad Gateway</h1></body></html>";

fn stamp(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_string()))
}

fn decimal(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, |d| Value::String(d.normalize().to_string()))
}

fn order_type(t: OrderType) -> &'static str {
    match t {
        OrderType::Market => "market",
        OrderType::Limit => "limit",
        OrderType::Stop => "stop",
        OrderType::StopLimit => "stop_limit",
        OrderType::TrailingStop => "trailing_stop",
    }
}

fn time_in_force(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Day => "day",
        TimeInForce::Gtc => "gtc",
        TimeInForce::Opg => "opg",
        TimeInForce::Cls => "cls",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
    }
}

/// `stamp` as an HTTP `Date` header: `Fri, 17 Oct 2025 13:30:01 GMT`.
#[must_use]
pub fn http_date(stamp: Timestamp) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // RFC 3339 text is `YYYY-MM-DDTHH:MM:SS.ffffffZ`; take its fields.
    let text = stamp.to_string();
    let field = |range: std::ops::Range<usize>| text.get(range).unwrap_or("00");
    let month: usize = field(5..7).parse().unwrap_or(1);
    let weekday = usize::try_from(stamp.trading_day().rem_euclid(7)).unwrap_or(0);
    format!(
        "{}, {} {} {} {} GMT",
        DAYS[weekday],
        field(8..10),
        MONTHS[month.clamp(1, 12) - 1],
        field(0..4),
        field(11..19)
    )
}

/// An order as Alpaca sends it. `asset_id` is the symbol's id (see
/// [`Session::asset_id`](crate::Session::asset_id)).
#[must_use]
pub fn order_json(order: &Order, asset_id: &str) -> Value {
    let status = order.status.as_str();
    let expired_at = match order.status {
        fillproof_engine::OrderStatus::Expired => stamp(order.updated_at),
        _ => Value::Null,
    };
    let canceled_at = match order.status {
        fillproof_engine::OrderStatus::Canceled => stamp(order.canceled_at),
        _ => Value::Null,
    };
    let filled_avg_price = if order.filled_qty > Decimal::ZERO {
        decimal(order.filled_avg_price)
    } else {
        Value::Null
    };
    let (trail_price, trail_percent) = match order.trail {
        Some(fillproof_engine::Trail::Price(price)) => (Some(price), None),
        Some(fillproof_engine::Trail::Percent(pct)) => (None, Some(pct)),
        None => (None, None),
    };
    let replaced_at = match order.status {
        fillproof_engine::OrderStatus::Replaced => stamp(order.updated_at),
        _ => Value::Null,
    };
    // Legs are shown only when the caller asked for them nested (it
    // strips them otherwise); an order with none shows null, as Alpaca's.
    let legs = if order.legs.is_empty() {
        Value::Null
    } else {
        Value::Array(
            order
                .legs
                .iter()
                .map(|leg| order_json(leg, asset_id))
                .collect(),
        )
    };
    json!({
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": stamp(order.submitted_at),
        "updated_at": stamp(order.updated_at.or(order.submitted_at)),
        "submitted_at": stamp(order.submitted_at),
        "filled_at": stamp(order.filled_at.filter(|_| order.filled_qty > Decimal::ZERO)),
        "expired_at": expired_at,
        "canceled_at": canceled_at,
        "failed_at": Value::Null,
        "replaced_at": replaced_at,
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "asset_id": asset_id,
        "symbol": order.symbol,
        "asset_class": "us_equity",
        "notional": decimal(order.notional),
        // A notional order shows its amount and no quantity, as Alpaca's.
        "qty": if order.notional.is_some() {
            Value::Null
        } else {
            decimal(Some(order.qty))
        },
        "filled_qty": decimal(Some(order.filled_qty)),
        "filled_avg_price": filled_avg_price,
        "order_class": match order.order_class {
            fillproof_engine::OrderClass::Simple => "",
            class => class.as_str(),
        },
        "order_type": order_type(order.order_type),
        "type": order_type(order.order_type),
        "side": order.side.to_string(),
        "time_in_force": time_in_force(order.time_in_force),
        "limit_price": decimal(order.limit_price),
        "stop_price": decimal(order.stop_price),
        "status": status,
        "extended_hours": order.extended_hours,
        "legs": legs,
        "trail_percent": decimal(trail_percent),
        "trail_price": decimal(trail_price),
        "hwm": decimal(order.hwm),
    })
}

/// A position as Alpaca sends it: signed quantity, side, average entry
/// price and cost basis.
#[must_use]
pub fn position_json(
    symbol: &str,
    asset_id: &str,
    qty: Decimal,
    avg_entry_price: Decimal,
    current_price: Decimal,
) -> Value {
    let market_value = qty * current_price;
    let cost_basis = qty * avg_entry_price;
    json!({
        "asset_id": asset_id,
        "symbol": symbol,
        "exchange": "",
        "asset_class": "us_equity",
        "asset_marginable": false,
        "avg_entry_price": decimal(Some(avg_entry_price)),
        "qty": decimal(Some(qty)),
        "qty_available": decimal(Some(qty)),
        "side": if qty < Decimal::ZERO { "short" } else { "long" },
        "market_value": decimal(Some(market_value)),
        "cost_basis": decimal(Some(cost_basis)),
        "unrealized_pl": decimal(Some(market_value - cost_basis)),
        "current_price": decimal(Some(current_price)),
    })
}

/// A fill activity as Alpaca sends a `FILL` record of `GET
/// /v2/account/activities`: decimals as strings, the execution's
/// `transaction_time` in RFC 3339, `type` `fill` when it completed the
/// order and `partial_fill` otherwise. `account_id` is the account's id
/// (`GET /v2/account`'s). Alpaca's records carry no execution id of their
/// own: the activity's `id` (a stamp, `::`, and a key) names it, and is
/// the `page_token` of the page after it.
#[must_use]
pub fn fill_activity_json(activity: &fillproof_engine::FillActivity, account_id: &str) -> Value {
    json!({
        "id": activity.id,
        "account_id": account_id,
        "activity_type": "FILL",
        "transaction_time": activity.transaction_time.to_string(),
        "type": match activity.kind {
            fillproof_engine::FillKind::Fill => "fill",
            fillproof_engine::FillKind::PartialFill => "partial_fill",
        },
        "price": decimal(Some(activity.price)),
        "qty": decimal(Some(activity.qty)),
        "side": activity.side.to_string(),
        "symbol": activity.symbol,
        "leaves_qty": decimal(Some(activity.leaves_qty)),
        "cum_qty": decimal(Some(activity.cum_qty)),
        "order_id": activity.order_id,
        "order_status": activity.order_status.as_str(),
    })
}

/// The account's figures at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// What new orders may still commit.
    pub buying_power: Decimal,
    /// Cash: the starting balance less what buys cost, plus what sales
    /// brought.
    pub cash: Decimal,
    /// Long positions at the current price.
    pub long_market_value: Decimal,
    /// Short positions at the current price (zero or negative).
    pub short_market_value: Decimal,
    /// Equity at the previous trading day's close (16:00 New York).
    pub last_equity: Decimal,
    /// Maintenance margin at the previous trading day's close.
    pub last_maintenance_margin: Decimal,
    /// The day of that close: what `last_equity` is as of.
    pub balance_asof: fillproof_simulator::Date,
    /// The account's `suspend_trade` configuration.
    pub trade_suspended_by_user: bool,
    /// Not the account's `no_shorting` configuration.
    pub shorting_enabled: bool,
}

/// Regulation T's initial margin, a share of each position's value.
const INITIAL_MARGIN_RATE: Decimal = Decimal::from_parts(5, 0, 0, false, 1);
/// The maintenance margin of every asset `GET /v2/assets` lists
/// (`maintenance_margin_requirement: 30`).
pub const MAINTENANCE_MARGIN_RATE: Decimal = Decimal::from_parts(3, 0, 0, false, 1);

impl Account {
    /// Cash plus the positions at the current price.
    #[must_use]
    pub fn equity(&self) -> Decimal {
        self.cash + self.long_market_value + self.short_market_value
    }

    /// The positions' gross value: longs plus the shorts' absolute value.
    #[must_use]
    pub fn gross_market_value(&self) -> Decimal {
        self.long_market_value - self.short_market_value
    }
}

/// The account as Alpaca sends it (alpaca-py's `TradeAccount`). The
/// pattern-day-trading fields (`pattern_day_trader`, `daytrade_count`,
/// `daytrading_buying_power`) are absent: Alpaca removed them from the
/// account on 2026-07-06 (its changelog "Pattern day trading fields and
/// configurations removed"; alpaca-py's models default them to `None`).
/// The account trades no options and moves no money: options levels 0,
/// fees, transfers and the SMA zero.
#[must_use]
pub fn account_json(id: &str, account: &Account) -> Value {
    let equity = account.equity();
    let money = |d: Decimal| decimal(Some(d));
    json!({
        "id": id,
        "account_number": format!("PA{}", id.get(..8).unwrap_or(id).to_ascii_uppercase()),
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "buying_power": money(account.buying_power),
        "regt_buying_power": money(account.buying_power),
        "non_marginable_buying_power": money(account.buying_power),
        "options_buying_power": money(account.buying_power),
        "cash": money(account.cash),
        "accrued_fees": "0",
        "pending_transfer_out": "0",
        "pending_transfer_in": "0",
        "long_market_value": money(account.long_market_value),
        "short_market_value": money(account.short_market_value),
        "portfolio_value": money(equity),
        "equity": money(equity),
        "last_equity": money(account.last_equity),
        "initial_margin": money(account.gross_market_value() * INITIAL_MARGIN_RATE),
        "maintenance_margin": money(account.gross_market_value() * MAINTENANCE_MARGIN_RATE),
        "last_maintenance_margin": money(account.last_maintenance_margin),
        "balance_asof": account.balance_asof.to_string(),
        "intraday_adjustments": "0",
        "pending_reg_taf_fees": "0",
        "sma": "0",
        "trading_blocked": false,
        "transfers_blocked": false,
        "account_blocked": false,
        "trade_suspended_by_user": account.trade_suspended_by_user,
        "shorting_enabled": account.shorting_enabled,
        "multiplier": "1",
        "options_approved_level": 0,
        "options_trading_level": 0,
        "created_at": "2024-01-02T14:30:00Z",
    })
}

/// The market clock at `now`: from `calendar` when the market keeps
/// regular hours, else always open.
#[must_use]
pub fn clock_json(
    now: Timestamp,
    calendar: Option<&fillproof_simulator::calendar::Calendar>,
) -> Value {
    let at = |micros: i64| Timestamp::from_unix_micros(micros).to_string();
    let unix = now.unix_micros;
    if let Some(calendar) = calendar {
        // Regular hours: the calendar's sessions (past its years, the
        // market is shown closed with no next open or close).
        let is_open =
            calendar.session_at(unix) == Some(fillproof_simulator::calendar::Session::Regular);
        let next_open = calendar.next_open(unix.saturating_add(1));
        let next_close = calendar.next_close(unix);
        return json!({
            "timestamp": now.to_string(),
            "is_open": is_open,
            "next_open": next_open.map(at),
            "next_close": next_close.map(at),
        });
    }
    // A market open at any hour: open now, with the winter session's
    // times (13:30 and 20:00 UTC) as the next open and close.
    let day = now.trading_day();
    let open_today = day * 86_400_000_000 + 48_600_000_000;
    let close_today = day * 86_400_000_000 + 72_000_000_000;
    json!({
        "timestamp": now.to_string(),
        "is_open": true,
        "next_open": at(open_today + 86_400_000_000),
        "next_close": at(close_today.max(unix + 1)),
    })
}

/// A trade update as the `trade_updates` stream sends it.
#[must_use]
pub fn trade_update_json(update: &fillproof_engine::TradeUpdate, asset_id: &str) -> Value {
    let mut data = json!({
        "event": update.event.as_str(),
        "timestamp": update.at.to_string(),
        "order": order_json(&update.order, asset_id),
    });
    if let Some(map) = data.as_object_mut() {
        if let Some(id) = &update.execution_id {
            map.insert("execution_id".into(), Value::String(id.clone()));
        }
        for (field, value) in [
            ("price", update.price),
            ("qty", update.qty),
            ("position_qty", update.position_qty),
        ] {
            if value.is_some() {
                map.insert(field.into(), decimal(value));
            }
        }
    }
    json!({ "stream": "trade_updates", "data": data })
}

/// Why an order body was refused, with the HTTP status and Alpaca code to
/// answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    /// 400 or 422.
    pub status: u16,
    /// Alpaca's code.
    pub code: u32,
    /// What was wrong.
    pub message: String,
}

impl BodyError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: 422,
            code: code::BAD_REQUEST,
            message: message.into(),
        }
    }
}

/// A decimal sent as a JSON number or a string, kept exact.
fn decimal_field(body: &Value, field: &str) -> Result<Option<Decimal>, BodyError> {
    let text = match body.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(other) => {
            return Err(BodyError::invalid(format!(
                "{field} must be a number or a decimal string, not {other}"
            )));
        }
    };
    Decimal::from_str(text.trim())
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .map(Some)
        .map_err(|_| BodyError::invalid(format!("{field} \"{text}\" is not a decimal number")))
}

fn text_field<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, BodyError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(BodyError::invalid(format!(
            "{field} must be a string, not {other}"
        ))),
    }
}

/// The order an order body asks for. `client_order_id` is the client's, or
/// `generated` when it sent none (Alpaca makes one up).
///
/// Fields are checked in a fixed order (symbol, quantity, side, type, time
/// in force, limit price, client order id), so a body with several faults
/// is always refused naming the same one.
///
/// # Errors
///
/// A body that is not a JSON object (400) or misses or spoils a field
/// (422), with Alpaca's code and a message naming the field.
pub fn order_request(bytes: &[u8], generated: &str) -> Result<(OrderRequest, bool), BodyError> {
    let body = json_object(bytes)?;
    refuse_unmodelled(&body)?;
    let symbol = symbol_field(&body)?;
    let (qty, notional) = qty_field(&body)?;
    let side = side_field(&body)?;
    let order_type = order_type_field(&body)?;
    let time_in_force = time_in_force_field(&body)?;
    let order_class = order_class_field(&body)?;
    let limit_price = decimal_field(&body, "limit_price")?;
    if order_type == OrderType::Limit
        && limit_price.is_none()
        && order_class != fillproof_engine::OrderClass::Oco
    {
        return Err(BodyError::invalid(
            "limit_price is required for limit orders",
        ));
    }
    let given = client_order_id_field(&body)?;
    let extended_hours = match body.get("extended_hours") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => {
            return Err(BodyError::invalid(format!(
                "extended_hours must be true or false, not {other}"
            )));
        }
    };
    let (take_profit, stop_loss) = legs_fields(&body)?;
    let request = OrderRequest {
        client_order_id: given.unwrap_or(generated).to_owned(),
        symbol,
        qty,
        side,
        order_type,
        time_in_force,
        limit_price,
        extended_hours,
        stop_price: decimal_field(&body, "stop_price")?,
        trail: trail_field(&body)?,
        order_class,
        take_profit,
        stop_loss,
        notional,
    };
    Ok((request, given.is_some()))
}

/// The changes a `PATCH /v2/orders/{id}` body asks for: `qty`,
/// `time_in_force`, `limit_price`, `stop_price`, `trail`,
/// `client_order_id`, each optional (an empty body changes nothing, which
/// the broker refuses).
///
/// # Errors
/// A body that is not a JSON object (400), a field that does not parse,
/// or one Alpaca takes that is not simulated (`notional`,
/// `advanced_instructions`), each naming the field (422).
pub fn replace_request(bytes: &[u8]) -> Result<fillproof_engine::ReplaceRequest, BodyError> {
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        json_object(bytes)?
    };
    for field in ["notional", "advanced_instructions"] {
        if body.get(field).is_some_and(|v| !v.is_null()) {
            return Err(BodyError::invalid(format!(
                "{field} is not simulated on a replace; send the replace without it"
            )));
        }
    }
    let time_in_force = match body.get("time_in_force") {
        None | Some(Value::Null) => None,
        Some(_) => Some(time_in_force_field(&body)?),
    };
    let client_order_id = client_order_id_field(&body)?.map(str::to_owned);
    Ok(fillproof_engine::ReplaceRequest {
        qty: decimal_field(&body, "qty")?,
        time_in_force,
        limit_price: decimal_field(&body, "limit_price")?,
        stop_price: decimal_field(&body, "stop_price")?,
        trail: decimal_field(&body, "trail")?,
        client_order_id,
    })
}

/// Order fields Alpaca takes that the simulated broker does not model:
/// an order carrying one is refused naming it, never accepted with the
/// field dropped.
const UNMODELLED: [&str; 2] = ["position_intent", "legs"];

/// Refuses any field of [`UNMODELLED`] that is set (null counts as
/// absent, as Alpaca reads it).
fn refuse_unmodelled(body: &Value) -> Result<(), BodyError> {
    if let Some(field) = UNMODELLED
        .iter()
        .find(|field| body.get(**field).is_some_and(|v| !v.is_null()))
    {
        return Err(BodyError::invalid(format!(
            "{field} is not simulated; send the order without it"
        )));
    }
    Ok(())
}

/// `order_class`: simple (or empty, or absent), bracket, oco or oto;
/// `mleg` (options) is refused as not simulated.
fn order_class_field(body: &Value) -> Result<fillproof_engine::OrderClass, BodyError> {
    let text = text_field(body, "order_class")?.unwrap_or("");
    fillproof_engine::OrderClass::parse(text).ok_or_else(|| {
        BodyError::invalid(format!(
            "order_class \"{text}\" is not simulated; use simple, bracket, oco or oto"
        ))
    })
}

/// `trail_price` or `trail_percent` (not both).
fn trail_field(body: &Value) -> Result<Option<fillproof_engine::Trail>, BodyError> {
    match (
        decimal_field(body, "trail_price")?,
        decimal_field(body, "trail_percent")?,
    ) {
        (Some(_), Some(_)) => Err(BodyError::invalid(
            "only one of trail_price or trail_percent may be given",
        )),
        (Some(price), None) => Ok(Some(fillproof_engine::Trail::Price(price))),
        (None, Some(pct)) => Ok(Some(fillproof_engine::Trail::Percent(pct))),
        (None, None) => Ok(None),
    }
}

/// `take_profit {limit_price}` and `stop_loss {stop_price, limit_price}`:
/// objects whose every field is read (one Alpaca does not take is
/// refused, naming it).
fn legs_fields(
    body: &Value,
) -> Result<(Option<Decimal>, Option<fillproof_engine::StopLoss>), BodyError> {
    let take_profit = match leg_object(body, "take_profit", &["limit_price"])? {
        None => None,
        Some(leg) => Some(decimal_field(leg, "limit_price")?.ok_or_else(|| {
            BodyError::invalid("take_profit.limit_price is required with take_profit")
        })?),
    };
    let stop_loss = match leg_object(body, "stop_loss", &["stop_price", "limit_price"])? {
        None => None,
        Some(leg) => Some(fillproof_engine::StopLoss {
            stop_price: decimal_field(leg, "stop_price")?.ok_or_else(|| {
                BodyError::invalid("stop_loss.stop_price is required with stop_loss")
            })?,
            limit_price: decimal_field(leg, "limit_price")?,
        }),
    };
    Ok((take_profit, stop_loss))
}

/// The object `body[field]` (absent or null: `None`), whose keys must be
/// among `known`.
fn leg_object<'a>(
    body: &'a Value,
    field: &str,
    known: &[&str],
) -> Result<Option<&'a Value>, BodyError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(leg @ Value::Object(map)) => {
            if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
                return Err(BodyError::invalid(format!(
                    "{field}.{key} is not a field Alpaca takes; use {}",
                    known.join(" or ")
                )));
            }
            Ok(Some(leg))
        }
        Some(other) => Err(BodyError::invalid(format!(
            "{field} must be an object, not {other}"
        ))),
    }
}

/// The body as a JSON object (400 when it is not one).
fn json_object(bytes: &[u8]) -> Result<Value, BodyError> {
    let body: Value = serde_json::from_slice(bytes).map_err(|e| BodyError {
        status: 400,
        code: code::BAD_REQUEST,
        message: format!("request body format is invalid: {e}"),
    })?;
    if !body.is_object() {
        return Err(BodyError {
            status: 400,
            code: code::BAD_REQUEST,
            message: "request body format is invalid: expected a JSON object".into(),
        });
    }
    Ok(body)
}

/// The symbol, trimmed and upper-cased; required.
fn symbol_field(body: &Value) -> Result<String, BodyError> {
    let symbol = text_field(body, "symbol")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| BodyError::invalid("symbol is required"))?;
    Ok(symbol.trim().to_ascii_uppercase())
}

/// The quantity, or the dollar amount of a notional order (the quantity
/// then zero, for the broker to work out): one of them, positive.
fn qty_field(body: &Value) -> Result<(Decimal, Option<Decimal>), BodyError> {
    let notional = decimal_field(body, "notional")?;
    let qty = decimal_field(body, "qty")?;
    match (qty, notional) {
        (Some(_), Some(_)) => Err(BodyError {
            status: 400,
            code: code::BAD_REQUEST,
            message: "only one of qty or notional is accepted".into(),
        }),
        (None, None) => Err(BodyError::invalid("qty is required (or notional)")),
        (Some(qty), None) if qty <= Decimal::ZERO => Err(BodyError::invalid("qty must be > 0")),
        (None, Some(notional)) if notional <= Decimal::ZERO => {
            Err(BodyError::invalid("notional must be > 0"))
        }
        (Some(qty), None) => Ok((qty, None)),
        (None, Some(notional)) => Ok((Decimal::ZERO, Some(notional))),
    }
}

/// `buy` or `sell`; required.
fn side_field(body: &Value) -> Result<Side, BodyError> {
    match text_field(body, "side")? {
        Some("buy") => Ok(Side::Buy),
        Some("sell") => Ok(Side::Sell),
        Some(other) => Err(BodyError::invalid(format!(
            "invalid side \"{other}\": use buy or sell"
        ))),
        None => Err(BodyError::invalid("side is required")),
    }
}

/// `type` (or `order_type`): market, limit, stop, stop_limit or
/// trailing_stop.
fn order_type_field(body: &Value) -> Result<OrderType, BodyError> {
    let kind = text_field(body, "type")?.or(text_field(body, "order_type")?);
    match kind {
        Some("market") => Ok(OrderType::Market),
        Some("limit") => Ok(OrderType::Limit),
        Some("stop") => Ok(OrderType::Stop),
        Some("stop_limit") => Ok(OrderType::StopLimit),
        Some("trailing_stop") => Ok(OrderType::TrailingStop),
        Some(other) => Err(BodyError::invalid(format!(
            "invalid order type \"{other}\""
        ))),
        None => Err(BodyError::invalid("type is required")),
    }
}

/// The time in force; required.
fn time_in_force_field(body: &Value) -> Result<TimeInForce, BodyError> {
    match text_field(body, "time_in_force")? {
        Some("day") => Ok(TimeInForce::Day),
        Some("gtc") => Ok(TimeInForce::Gtc),
        Some("opg") => Ok(TimeInForce::Opg),
        Some("cls") => Ok(TimeInForce::Cls),
        Some("ioc") => Ok(TimeInForce::Ioc),
        Some("fok") => Ok(TimeInForce::Fok),
        Some(other) => Err(BodyError::invalid(format!(
            "invalid time_in_force \"{other}\""
        ))),
        None => Err(BodyError::invalid("time_in_force is required")),
    }
}

/// The client's order id, when it sent a non-empty one of at most 128
/// characters.
fn client_order_id_field(body: &Value) -> Result<Option<&str>, BodyError> {
    let given = text_field(body, "client_order_id")?.filter(|id| !id.is_empty());
    if given.is_some_and(|id| id.chars().count() > 128) {
        return Err(BodyError::invalid(
            "client_order_id must be at most 128 characters",
        ));
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// alpaca-py sends `"qty": 3.0` as a number; a string works too; both
    /// are kept exact.
    #[test]
    fn quantities_are_numbers_or_strings_kept_exact() {
        let (request, given) = order_request(
            br#"{"symbol":"spy","qty":3.0,"side":"buy","type":"limit","time_in_force":"day","limit_price":"590.10"}"#,
            "gen",
        )
        .expect("valid");
        assert_eq!(request.qty, Decimal::from(3));
        assert_eq!(request.limit_price, Some(Decimal::new(59010, 2)));
        assert_eq!(request.symbol, "SPY");
        assert_eq!(request.client_order_id, "gen");
        assert!(!given);
        let (request, given) = order_request(
            br#"{"symbol":"SPY","qty":"0.1","side":"sell","type":"market","time_in_force":"gtc","client_order_id":"mine"}"#,
            "gen",
        )
        .expect("valid");
        assert_eq!(request.qty, Decimal::new(1, 1));
        assert_eq!(request.client_order_id, "mine");
        assert!(given);
    }

    /// The `Date` header names the right weekday and month.
    #[test]
    fn http_dates_are_rfc_1123() {
        let stamp = Timestamp::from_unix_micros(1_760_707_801_200_000);
        assert_eq!(http_date(stamp), "Fri, 17 Oct 2025 13:30:01 GMT");
        assert_eq!(
            http_date(Timestamp::from_unix_micros(0)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    /// A simple order may say so, and leave the fields it does not use
    /// null, as alpaca-py's requests can.
    #[test]
    fn a_simple_order_may_name_its_class_and_null_fields() {
        let body = br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day","order_class":"simple","take_profit":null,"stop_loss":null,"trail_price":null}"#;
        let (request, _) = order_request(body, "gen").expect("accepted");
        assert_eq!(request.symbol, "SPY");
    }

    /// A bracket's body carries its class and both legs; a trailing stop
    /// its trail; an OCO may leave its limit to its take profit.
    #[test]
    fn brackets_stops_and_trails_are_read_whole() {
        let body = br#"{"symbol":"SPY","qty":2,"side":"buy","type":"limit","limit_price":590,"time_in_force":"gtc","order_class":"bracket","take_profit":{"limit_price":600},"stop_loss":{"stop_price":"580","limit_price":"579.5"}}"#;
        let (request, _) = order_request(body, "gen").expect("accepted");
        assert_eq!(request.order_class, fillproof_engine::OrderClass::Bracket);
        assert_eq!(request.take_profit, Some(Decimal::from(600)));
        let stop_loss = request.stop_loss.expect("stop loss");
        assert_eq!(stop_loss.stop_price, Decimal::from(580));
        assert_eq!(stop_loss.limit_price, Some(Decimal::new(5795, 1)));
        let body = br#"{"symbol":"SPY","qty":2,"side":"sell","type":"trailing_stop","trail_percent":1.5,"time_in_force":"day"}"#;
        let (request, _) = order_request(body, "gen").expect("accepted");
        assert_eq!(request.order_type, OrderType::TrailingStop);
        assert_eq!(
            request.trail,
            Some(fillproof_engine::Trail::Percent(Decimal::new(15, 1)))
        );
        let body = br#"{"symbol":"SPY","qty":2,"side":"sell","type":"limit","time_in_force":"gtc","order_class":"oco","take_profit":{"limit_price":"600"},"stop_loss":{"stop_price":"580"}}"#;
        let (request, _) = order_request(body, "gen").expect("an oco may omit limit_price");
        assert_eq!(request.limit_price, None);
    }

    /// Each bad body is refused with the status, code and field Alpaca
    /// would name.
    #[test]
    fn bad_bodies_name_the_field() {
        for (body, status, needle) in [
            (&b"not json"[..], 400, "request body format is invalid"),
            (b"[1]", 400, "expected a JSON object"),
            (br#"{"qty":1,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "symbol is required"),
            (br#"{"symbol":"SPY","side":"buy","type":"market","time_in_force":"day"}"#, 422, "qty is required"),
            (br#"{"symbol":"SPY","qty":"x","side":"buy","type":"market","time_in_force":"day"}"#, 422, "qty \"x\""),
            (br#"{"symbol":"SPY","qty":-1,"side":"buy","type":"market","time_in_force":"day"}"#, 422, "qty must be > 0"),
            (br#"{"symbol":"SPY","qty":1,"side":"hold","type":"market","time_in_force":"day"}"#, 422, "invalid side"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"limit","time_in_force":"day"}"#, 422, "limit_price is required"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market"}"#, 422, "time_in_force is required"),
            (br#"{"symbol":"SPY","notional":10,"qty":1,"side":"buy","type":"market","time_in_force":"day"}"#, 400, "only one of qty or notional"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day","order_class":"mleg"}"#, 422, "order_class \"mleg\" is not simulated"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day","order_class":"bracket","take_profit":"600"}"#, 422, "take_profit must be an object"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day","order_class":"bracket","take_profit":{"limit_price":"600","stop_price":"1"}}"#, 422, "take_profit.stop_price is not a field"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day","order_class":"bracket","take_profit":{}}"#, 422, "take_profit.limit_price is required"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day","order_class":"bracket","stop_loss":{"limit_price":"570"}}"#, 422, "stop_loss.stop_price is required"),
            (br#"{"symbol":"SPY","qty":1,"side":"sell","type":"trailing_stop","time_in_force":"day","trail_percent":"1","trail_price":"2"}"#, 422, "only one of trail_price or trail_percent"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day","legs":[{"symbol":"SPY","ratio_qty":1}]}"#, 422, "legs is not simulated"),
            (br#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day","position_intent":"buy_to_open"}"#, 422, "position_intent is not simulated"),
        ] {
            let error = order_request(body, "gen").expect_err("refused");
            assert_eq!(error.status, status, "{error:?}");
            assert!(error.message.contains(needle), "{error:?} lacks {needle}");
        }
    }
}
