//! What an order's type and class require, checked as Alpaca checks them
//! before it accepts an order: the prices a stop, stop-limit or trailing
//! stop needs (and those it must not carry), the time in force each type
//! allows, and a bracket's, OCO's or OTO's legs against the base price.
//!
//! Each refusal is a 422 whose message names the field. Alpaca's texts
//! where they are known (its documentation and the answers clients
//! record); where none is known the message says plainly what is wrong.

use fillproof_engine::{BrokerError, OrderClass, OrderRequest, OrderType, Side, TimeInForce};
use rust_decimal::Decimal;

use crate::lifecycle::on_price_grid;

/// A 422 with `message`.
pub(super) fn refuse<T>(message: impl Into<String>) -> Result<T, BrokerError> {
    Err(BrokerError::Unprocessable {
        message: message.into(),
    })
}

/// Refuses a price field that is out of range or off the price grid.
fn check_price(field: &str, price: Decimal) -> Result<(), BrokerError> {
    if !fillproof_engine::price_in_range(price) {
        return refuse(format!(
            "{field} {price} must be from {} to {}",
            fillproof_engine::MIN_PRICE,
            fillproof_engine::MAX_PRICE
        ));
    }
    if price != on_price_grid(price) {
        return refuse(format!(
            "invalid {field} {price}. sub-penny increment does not fulfill minimum pricing criteria"
        ));
    }
    Ok(())
}

/// Refuses what an order's type requires and forbids: the stop price a
/// stop or stop limit needs, one trail for a trailing stop, no stop or
/// trail on a market or limit order, and the times in force Alpaca allows
/// a stop (`day`, `gtc`).
///
/// # Errors
/// A 422 naming the field.
pub(super) fn check_type(request: &OrderRequest) -> Result<(), BrokerError> {
    let stop = request.stop_price;
    let trail = request.trail;
    match request.order_type {
        OrderType::Market if request.limit_price.is_some() => {
            return refuse("market orders require no stop or limit price (limit_price)");
        }
        OrderType::Market | OrderType::Limit if stop.is_some() => {
            return refuse(format!(
                "{} orders must not have stop_price",
                type_name(request.order_type)
            ));
        }
        OrderType::Market | OrderType::Limit if trail.is_some() => {
            return refuse(format!(
                "{} orders must not have trail_price or trail_percent",
                type_name(request.order_type)
            ));
        }
        OrderType::Stop if stop.is_none() => {
            return refuse("stop orders require a stop price (stop_price)");
        }
        OrderType::Stop if request.limit_price.is_some() => {
            return refuse("stop orders must not have limit_price; send a stop_limit order");
        }
        OrderType::StopLimit if stop.is_none() || request.limit_price.is_none() => {
            return refuse("stop limit orders require both stop and limit price");
        }
        OrderType::TrailingStop if trail.is_none() => {
            return refuse("trailing stop orders must specify one of trail_price or trail_percent");
        }
        OrderType::TrailingStop if stop.is_some() || request.limit_price.is_some() => {
            return refuse(
                "trailing stop orders must not have stop_price or limit_price; the trail sets them",
            );
        }
        _ => {}
    }
    if let Some(stop) = stop {
        check_price("stop_price", stop)?;
    }
    match trail {
        Some(fillproof_engine::Trail::Percent(pct))
            if pct < Decimal::new(1, 1) || pct >= Decimal::ONE_HUNDRED =>
        {
            return refuse(format!(
                "trail_percent {pct} must be at least 0.1 and less than 100"
            ));
        }
        Some(fillproof_engine::Trail::Price(price)) => check_price("trail_price", price)?,
        _ => {}
    }
    let stop_type = matches!(
        request.order_type,
        OrderType::Stop | OrderType::StopLimit | OrderType::TrailingStop
    );
    if stop_type && !matches!(request.time_in_force, TimeInForce::Day | TimeInForce::Gtc) {
        return refuse(format!(
            "invalid time_in_force {} for {} orders: only day and gtc are accepted",
            tif_name(request.time_in_force),
            type_name(request.order_type)
        ));
    }
    Ok(())
}

/// Refuses a bracket, OCO or OTO that Alpaca would: the entry's type and
/// time in force, the legs each class needs, extended hours, and the
/// legs' prices against the base price (the entry's limit, else the
/// touch it would trade at; an OCO's take profit). A simple order
/// carrying a leg is refused too: nothing is dropped.
///
/// # Errors
/// A 422 naming the field.
pub(super) fn check_class(request: &OrderRequest, touch: Decimal) -> Result<(), BrokerError> {
    let class = request.order_class;
    let name = class.as_str();
    let (take_profit, stop_loss) = (request.take_profit, request.stop_loss);
    if class == OrderClass::Simple {
        if take_profit.is_some() || stop_loss.is_some() {
            return refuse(
                "take_profit and stop_loss need order_class bracket, oco or oto; a simple order \
                 carries no legs",
            );
        }
        return Ok(());
    }
    match class {
        OrderClass::Oco if request.order_type != OrderType::Limit => {
            return refuse("oco orders must be limit orders (type limit)");
        }
        OrderClass::Oco
            if request.limit_price.is_some()
                && take_profit.is_some()
                && request.limit_price != take_profit =>
        {
            return refuse(
                "an oco order's limit_price, when given, must be its take_profit.limit_price",
            );
        }
        OrderClass::Bracket | OrderClass::Oto
            if !matches!(request.order_type, OrderType::Market | OrderType::Limit) =>
        {
            return refuse(format!("{name} orders must be market or limit orders"));
        }
        OrderClass::Bracket | OrderClass::Oco if take_profit.is_none() => {
            return refuse(format!("{name} orders require take_profit.limit_price"));
        }
        OrderClass::Bracket | OrderClass::Oco if stop_loss.is_none() => {
            return refuse(format!("{name} orders require stop_loss.stop_price"));
        }
        OrderClass::Oto if take_profit.is_none() == stop_loss.is_none() => {
            return refuse("oto orders require one of take_profit or stop_loss, not both");
        }
        _ => {}
    }
    if !matches!(request.time_in_force, TimeInForce::Day | TimeInForce::Gtc) {
        return refuse(format!(
            "invalid time_in_force {} for {name} orders: only day and gtc are accepted",
            tif_name(request.time_in_force)
        ));
    }
    if request.extended_hours {
        return refuse(format!("extended_hours must be false for {name} orders"));
    }
    if !request.qty.fract().is_zero() {
        return refuse("fractional orders must be simple orders");
    }
    check_legs(request, touch)
}

/// The legs' prices against the base price: a take profit at least a cent
/// past it on the profitable side, a stop loss at least a cent past it on
/// the other; a stop-loss limit on the grid.
fn check_legs(request: &OrderRequest, touch: Decimal) -> Result<(), BrokerError> {
    let cent = Decimal::new(1, 2);
    // The exit's side: an OCO is the exit itself; a bracket's or OTO's
    // legs close what the entry opens.
    let exit = match request.order_class {
        OrderClass::Oco => request.side,
        _ => opposite(request.side),
    };
    let base = match request.order_class {
        OrderClass::Oco => request.take_profit.unwrap_or(touch),
        _ => request.limit_price.unwrap_or(touch),
    };
    if let Some(limit) = request.take_profit {
        check_price("take_profit.limit_price", limit)?;
        if request.order_class != OrderClass::Oco {
            match exit {
                Side::Sell if limit < base + cent => {
                    return refuse_base(
                        "take_profit.limit_price must be >= base_price + 0.01",
                        base,
                    );
                }
                Side::Buy if limit > base - cent => {
                    return refuse_base(
                        "take_profit.limit_price must be <= base_price - 0.01",
                        base,
                    );
                }
                _ => {}
            }
        }
    }
    if let Some(stop_loss) = request.stop_loss {
        check_price("stop_loss.stop_price", stop_loss.stop_price)?;
        if let Some(limit) = stop_loss.limit_price {
            check_price("stop_loss.limit_price", limit)?;
        }
        match exit {
            Side::Sell if stop_loss.stop_price > base - cent => {
                return refuse_base("stop_loss.stop_price must be <= base_price - 0.01", base);
            }
            Side::Buy if stop_loss.stop_price < base + cent => {
                return refuse_base("stop_loss.stop_price must be >= base_price + 0.01", base);
            }
            _ => {}
        }
    }
    Ok(())
}

/// A refusal against the base price, which it names.
fn refuse_base(rule: &str, base: Decimal) -> Result<(), BrokerError> {
    refuse(format!("{rule} (base_price {base})"))
}

/// The other side.
#[must_use]
pub(crate) fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

/// Alpaca's name of an order type.
fn type_name(order_type: OrderType) -> &'static str {
    match order_type {
        OrderType::Market => "market",
        OrderType::Limit => "limit",
        OrderType::Stop => "stop",
        OrderType::StopLimit => "stop limit",
        OrderType::TrailingStop => "trailing stop",
    }
}

/// Alpaca's name of a time in force.
fn tif_name(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Day => "day",
        TimeInForce::Gtc => "gtc",
        TimeInForce::Opg => "opg",
        TimeInForce::Cls => "cls",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
    }
}

/// The request as the broker files it: an OCO's head is its take profit,
/// a limit at `take_profit.limit_price` (its own `limit_price` may be
/// left out, as alpaca-py allows).
#[must_use]
pub(super) fn normalized(request: &OrderRequest) -> OrderRequest {
    let mut filed = request.clone();
    if filed.order_class == OrderClass::Oco {
        filed.limit_price = filed.take_profit.or(filed.limit_price);
    }
    filed
}

/// A notional order as the broker fills it: its quantity the shares its
/// dollar amount buys (or sells) at `touch`, to 9 decimal places, rounded
/// down. `None` for an order that names its quantity.
///
/// # Errors
/// Alpaca's refusals of a notional order: with a quantity too, not a
/// market `day` simple order, under a dollar.
pub(super) fn with_notional_qty(
    request: &OrderRequest,
    touch: Decimal,
) -> Result<Option<OrderRequest>, BrokerError> {
    let Some(notional) = request.notional else {
        return Ok(None);
    };
    if !request.qty.is_zero() {
        return refuse("only one of qty or notional is accepted");
    }
    if request.order_type != OrderType::Market || request.time_in_force != TimeInForce::Day {
        return refuse("notional orders require type market and time_in_force day");
    }
    if request.order_class != OrderClass::Simple {
        return refuse("fractional orders must be simple orders");
    }
    if notional < Decimal::ONE {
        return refuse(format!("notional {notional} must be >= 1.00"));
    }
    if notional > fillproof_engine::MAX_AMOUNT {
        return refuse(format!(
            "notional {notional} must be at most {}",
            fillproof_engine::MAX_AMOUNT
        ));
    }
    let qty = (notional / touch.max(fillproof_engine::MIN_PRICE))
        .round_dp_with_strategy(9, rust_decimal::RoundingStrategy::ToZero);
    Ok(Some(OrderRequest {
        qty,
        ..request.clone()
    }))
}
