//! The `workload:` section: the orders a run places, drawn or listed.

use std::fmt;
use std::time::Duration;

use fillproof_engine::{Decimal, MAX_PRICE, MAX_QTY, MIN_PRICE, TimeInForce, price_in_range};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::Scenario;
use super::check::{Checker, out_of_range};
use super::values::{Price, Weight};
use crate::distribution::{Dist, DurationDist, NumberDist};
use crate::duration::Dur;
use crate::model::OrderTarget;

/// Most orders a scenario may place.
pub const MAX_ORDERS: u32 = 10_000_000;

/// The orders a run places.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// How many orders, 1 to 10,000,000.
    pub orders: Spanned<u32>,
    /// Gap between one order's submission and the next; default none.
    #[serde(default)]
    pub arrival: Option<DurationDist>,
    /// Symbols, drawn uniformly per order.
    pub symbols: Spanned<Vec<String>>,
    /// Buy, sell, or weights of each; default buy.
    #[serde(default)]
    pub side: SideSpec,
    /// Quantity per order, rounded to a whole number from 1 to
    /// 1,000,000,000.
    pub qty: NumberDist,
    /// Order type; default market.
    #[serde(rename = "type", default)]
    pub order_type: OrderKind,
    /// How long each drawn order works: `day` (the default), `gtc`,
    /// `opg`, `cls`, `ioc` or `fok`.
    #[serde(default = "day")]
    pub time_in_force: TimeInForce,
    /// The price each symbol trades at, as decimal strings.
    pub reference_price: Spanned<IndexMap<String, Price>>,
    /// Traders placing orders, round robin; default 1.
    #[serde(default = "default_traders")]
    pub traders: u32,
    /// The orders themselves, one entry each in submission order, as
    /// `fillproof import` writes them from an incident. When given, `orders`
    /// counts them, and `arrival`, `side`, `qty` and `type` are not drawn
    /// from; default none.
    #[serde(default)]
    pub list: Vec<Spanned<ListedOrder>>,
    /// Every drawn order a bracket: a take profit and a stop loss this
    /// many basis points from its reference price; default none.
    #[serde(default)]
    pub exits: Option<super::trading::ExitsSpec>,
    /// What traders do after placing an order: a cancel, or a replace
    /// moving its limit; default nothing.
    #[serde(default)]
    pub trader: Option<super::trading::TraderSpec>,
}

/// One order of a listed workload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedOrder {
    /// When it is submitted, since the run began.
    pub at: Dur,
    /// The instrument; it needs a `reference_price`.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: ListedSide,
    /// Whole shares, 1 to 1,000,000,000.
    pub qty: u64,
    /// `market` (default) or `limit`.
    #[serde(rename = "type", default)]
    pub order_type: OrderKind,
    /// The limit price of a limit order, a decimal string.
    #[serde(default)]
    pub limit_price: Option<Price>,
    /// How long it works; default the workload's `time_in_force`.
    #[serde(default)]
    pub time_in_force: Option<TimeInForce>,
    /// May trade in the pre- and after-hours sessions (a limit `day`
    /// order only); default false.
    #[serde(default)]
    pub extended_hours: bool,
}

/// The side of a listed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListedSide {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

fn day() -> TimeInForce {
    TimeInForce::Day
}

fn default_traders() -> u32 {
    1
}

/// Market or limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Market orders.
    #[default]
    Market,
    /// Limit orders at the reference price.
    Limit,
}

/// Which side orders take.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SideSpec {
    /// Always buy.
    #[default]
    Buy,
    /// Always sell.
    Sell,
    /// Buy with weight `buy`, sell with weight `sell`.
    Mixed {
        /// Weight of buys.
        buy: f64,
        /// Weight of sells.
        sell: f64,
    },
}

impl<'de> Deserialize<'de> for SideSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SideVisitor;
        impl<'de> Visitor<'de> for SideVisitor {
            type Value = SideSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`buy`, `sell`, or weights such as {buy: 0.6, sell: 0.4}")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<SideSpec, E> {
                match value {
                    "buy" => Ok(SideSpec::Buy),
                    "sell" => Ok(SideSpec::Sell),
                    other => Err(E::custom(format!(
                        "unknown side `{other}`; expected `buy`, `sell`, or weights such as {{buy: 0.6, sell: 0.4}}"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SideSpec, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Weights {
                    #[serde(default)]
                    buy: Weight,
                    #[serde(default)]
                    sell: Weight,
                }
                let w = Weights::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if w.buy.0 + w.sell.0 <= 0.0 {
                    return Err(de::Error::custom("side weights must not both be zero"));
                }
                Ok(SideSpec::Mixed {
                    buy: w.buy.0,
                    sell: w.sell.0,
                })
            }
        }
        deserializer.deserialize_any(SideVisitor)
    }
}

/// Checks the `workload:` section: how many orders, the listed orders,
/// the traders, and a reference price for every symbol.
pub(super) fn check(workload: &WorkloadSpec, c: &mut Checker<'_>) {
    let orders = workload.orders.value;
    if orders == 0 || orders > MAX_ORDERS {
        c.at(
            Some(workload.orders.referenced),
            "workload.orders",
            format!("is {orders}; allowed: 1 to {MAX_ORDERS}"),
        );
    }
    check_listed_orders(workload, c);
    super::trading::check(
        workload.exits.as_ref(),
        workload.trader.as_ref(),
        workload.order_type == OrderKind::Limit,
        c,
    );
    if workload.traders == 0 {
        c.at(
            None,
            "workload.traders",
            "is 0; at least one trader places the orders",
        );
    }
    if workload.symbols.value.is_empty() {
        c.at(
            Some(workload.symbols.referenced),
            "workload.symbols",
            "is empty; list at least one symbol",
        );
    }
    let prices = &workload.reference_price.value;
    for symbol in &workload.symbols.value {
        if !prices.contains_key(symbol) {
            c.at(
                Some(workload.reference_price.referenced),
                "workload.reference_price",
                format!("has no price for symbol `{symbol}`; add `{symbol}: \"PRICE\"`"),
            );
        }
    }
}

/// Reference prices and quantities within the engine's bounds, so that no
/// arithmetic on them can overflow (see `fillproof_engine::MAX_PRICE` and
/// its neighbours).
pub(super) fn check_bounds(workload: &WorkloadSpec, c: &mut Checker<'_>) {
    for (symbol, price) in &workload.reference_price.value {
        if !price_in_range(price.0) {
            c.at(
                Some(workload.reference_price.referenced),
                format!("workload.reference_price.{symbol}"),
                out_of_range(price.0, MIN_PRICE, MAX_PRICE),
            );
        }
    }
    let most = workload.qty.0.upper_bound();
    if let Some(most) = most.filter(|q| *q > 1e9) {
        c.at(
            None,
            "workload.qty",
            format!("can draw {most}, out of range; allowed: 1 to {MAX_QTY}"),
        );
    }
}

/// Checks a listed workload: `orders` counts the list, each order has a
/// priced symbol, a whole positive quantity within the bounds, a limit
/// price exactly when it is a limit order, and the list is in submission
/// order.
fn check_listed_orders(workload: &WorkloadSpec, c: &mut Checker<'_>) {
    let list = &workload.list;
    if list.is_empty() {
        return;
    }
    if usize::try_from(workload.orders.value).ok() != Some(list.len()) {
        c.at(
            Some(workload.orders.referenced),
            "workload.orders",
            format!(
                "is {} but workload.list has {} orders; make them equal",
                workload.orders.value,
                list.len()
            ),
        );
    }
    let mut previous = Duration::ZERO;
    for (i, order) in list.iter().enumerate() {
        let here = Some(order.referenced);
        let field = |name: &str| format!("workload.list[{i}].{name}");
        let order = &order.value;
        if !workload.reference_price.value.contains_key(&order.symbol) {
            c.at(
                here,
                field("symbol"),
                format!(
                    "`{}` has no reference price; add `{}: \"PRICE\"` to workload.reference_price",
                    order.symbol, order.symbol
                ),
            );
        }
        if order.qty == 0 || Decimal::from(order.qty) > MAX_QTY {
            c.at(
                here,
                field("qty"),
                format!("is {}; allowed: 1 to {MAX_QTY} whole shares", order.qty),
            );
        }
        match (order.order_type, order.limit_price) {
            (OrderKind::Limit, None) => c.at(
                here,
                field("limit_price"),
                "is missing; a limit order needs one",
            ),
            (OrderKind::Market, Some(_)) => c.at(
                here,
                field("limit_price"),
                "is set on a market order; add `type: limit` or remove it",
            ),
            (OrderKind::Limit, Some(price)) if !price_in_range(price.0) => {
                c.at(
                    here,
                    field("limit_price"),
                    out_of_range(price.0, MIN_PRICE, MAX_PRICE),
                );
            }
            _ => {}
        }
        if order.at.0 < previous {
            c.at(
                here,
                field("at"),
                format!(
                    "is {}, before the order above it ({}); list orders in submission order",
                    crate::duration::format_duration(order.at.0),
                    crate::duration::format_duration(previous)
                ),
            );
        }
        previous = previous.max(order.at.0);
    }
}

/// The fewest and most shares the workload can order for `target`: exact
/// for a listed order or a fixed `workload.qty`, the draw's bounds
/// otherwise, and any quantity for an order named by client order id.
pub(super) fn qty_bounds(scenario: &Scenario, target: &OrderTarget) -> (u64, u64) {
    const MOST: u64 = 1_000_000_000;
    let workload = &scenario.workload;
    // A leg is for its entry's quantity.
    let OrderTarget::Index(index) = target.head() else {
        return (1, MOST);
    };
    if let Some(order) = workload.list.get(*index as usize) {
        return (order.value.qty, order.value.qty);
    }
    // As the workload draws: rounded, at least 1 and at most a billion.
    let whole = |v: f64| {
        if v.is_finite() {
            v.round().clamp(1.0, 1e9) as u64
        } else {
            MOST
        }
    };
    let dist = &workload.qty.0;
    let least = match dist {
        Dist::Fixed(value) => whole(*value),
        Dist::Uniform { low, .. } => whole(*low),
        Dist::Samples(values) => values.iter().copied().reduce(f64::min).map_or(1, whole),
        _ => 1,
    };
    (least, dist.upper_bound().map_or(MOST, whole))
}
