//! Execution slippage against the quote at submission: each broker order
//! that filled, its average fill price against the touch of the market
//! (the ask for a buy, the bid for a sell) at the instant it could first
//! trade (its acceptance; a stop's trigger; a bracket leg's activation),
//! from the ledger and the run's market, never from what the engine
//! believed.

use std::time::Duration;

use fillproof_engine::{Decimal, Side, TimeInForce};
use fillproof_simulator::{LedgerOrder, Market};
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use super::Percentiles;
use crate::run::SeedRun;

/// Slippage in basis points over the filled orders, positive against the
/// trader: the median, the 95th percentile (nearest rank) and the worst
/// (the most adverse, the largest).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Slippage {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// The most adverse.
    pub worst: f64,
}

impl Slippage {
    /// Nearest-rank figures of `samples` (basis points); `None` when there
    /// are none: nothing filled.
    #[must_use]
    pub fn of(samples: Vec<f64>) -> Option<Self> {
        Percentiles::of(samples).map(|p| Self {
            p50: p.p50,
            p95: p.p95,
            worst: p.max,
        })
    }
}

/// The touch an order on `side` trades against in `market` at `t`: the
/// ask for a buy, the bid for a sell; `None` for a symbol not listed.
#[must_use]
pub fn touch_at(market: &Market, symbol: &str, side: Side, t: Duration) -> Option<Decimal> {
    Some(market.quote_at(symbol, t)?.touch(side))
}

/// The slippage of `order` in basis points, to 4 places: (the volume-
/// weighted average of its fills by `end` − the touch when it could first
/// trade) ÷ that touch × 10,000, negated for a sell, so that paying more
/// than the ask or receiving less than the bid is positive. It could first
/// trade when the broker accepted it, or, accepted while the market was
/// closed to it, at the next open (the auction's instant for an `opg` or
/// `cls` order): the night's move is not the execution's; a stop when it
/// triggered (the move to its stop is not the execution's either), and a
/// bracket's leg once its entry filled. `None` when
/// nothing filled by `end`, or the market quotes no touch for it.
#[must_use]
pub fn order_slippage_bps(order: &LedgerOrder, market: &Market, end: Duration) -> Option<f64> {
    let (qty, notional) = order
        .fills_by(end)
        .fold((Decimal::ZERO, Decimal::ZERO), |(q, n), f| {
            (q + f.qty, n + f.qty * f.price)
        });
    if qty <= Decimal::ZERO {
        return None;
    }
    let touch = touch_at(
        market,
        &order.symbol,
        order.side,
        first_tradable(order, market),
    )
    .filter(|touch| *touch > Decimal::ZERO)?;
    let average = notional.checked_div(qty)?;
    let bps = (average - touch)
        .checked_div(touch)?
        .checked_mul(Decimal::from(10_000))?;
    (order.side.sign() * bps).round_dp(4).to_f64()
}

/// The first instant `order` could trade: a stop's (or trailing stop's)
/// trigger, when it became a market or limit order; otherwise when it
/// became active (its acceptance, or for a bracket's leg its entry's
/// fill), the next open when the market was closed to it then, or its
/// auction.
fn first_tradable(order: &LedgerOrder, market: &Market) -> Duration {
    if let Some(triggered) = order.triggered_at {
        return triggered;
    }
    let active = order
        .links
        .held_until
        .filter(|until| *until != Duration::MAX)
        .map_or(order.accepted_at, |until| until.max(order.accepted_at));
    let auction = matches!(order.time_in_force, TimeInForce::Opg | TimeInForce::Cls);
    match market.sessions() {
        Some(_) if auction => order.fills.first().map_or(active, |f| f.at),
        Some(sessions) => sessions
            .closed_until(active, order.extended_hours)
            .unwrap_or(active),
        None => active,
    }
}

/// The slippage of every broker order of `run` that filled any quantity by
/// the end of the run (an intent's duplicates each traded, and count), in
/// the ledger's order of acceptance.
#[must_use]
pub fn slippage_samples(run: &SeedRun) -> Vec<f64> {
    run.ledger
        .orders()
        .iter()
        .filter_map(|order| order_slippage_bps(order, &run.market, run.ended_at))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst is the most adverse sample, and no samples is no figure
    /// (not zero).
    #[test]
    fn worst_is_the_largest_and_none_is_absent() {
        let s = Slippage::of(vec![-3.0, 10.0, 1.5, 0.0]).expect("samples");
        assert_eq!((s.p50, s.p95, s.worst), (0.0, 10.0, 10.0));
        assert_eq!(Slippage::of(Vec::new()), None);
    }
}
