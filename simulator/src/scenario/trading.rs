//! What the workload's traders do beyond placing an order: brackets
//! (`workload.exits`: a take profit and a stop loss on every drawn order)
//! and changes of mind (`workload.trader`: a cancel, or a replace moving
//! the limit, some time after the order was placed). Each order draws
//! them from a stream of its own (`trader`), so switching them on moves no
//! other draw.

use std::time::Duration;

use fillproof_engine::{Decimal, Side, derive_rng};
use rand::Rng;
use rust_decimal::prelude::FromPrimitive;
use serde::Deserialize;

use super::check::Checker;
use super::values::Probability;
use crate::distribution::DurationDist;

/// `workload.exits`: every drawn order is a bracket, its take profit and
/// stop loss this many basis points from its reference price.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitsSpec {
    /// The take profit's distance, on the profitable side; 1 to 5,000.
    pub take_profit_bps: f64,
    /// The stop loss's distance, on the losing side; 1 to 5,000.
    pub stop_loss_bps: f64,
}

/// `workload.trader`: changes of mind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraderSpec {
    /// Cancel the working order.
    #[serde(default)]
    pub cancel: Option<TraderCancelSpec>,
    /// Replace the working order, moving its limit.
    #[serde(default)]
    pub replace: Option<TraderReplaceSpec>,
}

/// A cancel some orders get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraderCancelSpec {
    /// The chance an order gets one.
    pub probability: Probability,
    /// How long after its submission.
    pub after: DurationDist,
}

/// A replace some (limit) orders get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraderReplaceSpec {
    /// The chance an order gets one.
    pub probability: Probability,
    /// How long after its submission.
    pub after: DurationDist,
    /// How far the new limit moves towards the market (up for a buy, down
    /// for a sell), in basis points of the old; -5,000 to 5,000.
    pub move_bps: f64,
}

/// What one order's trader does after placing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraderActions {
    /// Cancel it this long after its submission.
    pub cancel_after: Option<Duration>,
    /// Replace it this long after its submission, with this limit.
    pub replace: Option<(Duration, Decimal)>,
}

/// The take profit and stop loss of an order on `side` whose reference
/// price is `reference`, on the price grid.
#[must_use]
pub fn exits(spec: &ExitsSpec, side: Side, reference: Decimal) -> (Decimal, Decimal) {
    let at = |bps: f64| {
        let bps = Decimal::from_f64(bps).unwrap_or(Decimal::ZERO);
        crate::lifecycle::on_price_grid(reference * (Decimal::ONE + bps / Decimal::from(10_000)))
    };
    let sign = if side == Side::Buy { 1.0 } else { -1.0 };
    (
        at(sign * spec.take_profit_bps),
        at(-sign * spec.stop_loss_bps),
    )
}

/// What order `index` (on `side`, limit `limit`) of a run under `seed`
/// has its trader do; draws from the order's own `trader` stream, both
/// draws always made.
#[must_use]
pub fn trader_actions(
    spec: Option<&TraderSpec>,
    seed: u64,
    index: u32,
    side: Side,
    limit: Option<Decimal>,
) -> TraderActions {
    let Some(spec) = spec else {
        return TraderActions::default();
    };
    let mut rng = derive_rng(seed, "trader", u64::from(index));
    let (u_cancel, u_replace): (f64, f64) = (rng.random(), rng.random());
    let cancel_after = spec.cancel.as_ref().and_then(|c| {
        let after = c.after.sample(&mut rng);
        (u_cancel < c.probability.0).then_some(after)
    });
    let replace = spec.replace.as_ref().and_then(|r| {
        let after = r.after.sample(&mut rng);
        let limit = limit.filter(|_| u_replace < r.probability.0)?;
        let sign = if side == Side::Buy { 1.0 } else { -1.0 };
        let factor = Decimal::from_f64(1.0 + sign * r.move_bps / 10_000.0)?;
        Some((after, crate::lifecycle::on_price_grid(limit * factor)))
    });
    TraderActions {
        cancel_after,
        replace,
    }
}

/// Checks `workload.exits` and `workload.trader`: distances in range,
/// and a replace only of limit orders.
pub(super) fn check(
    exits: Option<&ExitsSpec>,
    trader: Option<&TraderSpec>,
    limit_orders: bool,
    c: &mut Checker<'_>,
) {
    if let Some(exits) = exits {
        for (field, bps) in [
            ("workload.exits.take_profit_bps", exits.take_profit_bps),
            ("workload.exits.stop_loss_bps", exits.stop_loss_bps),
        ] {
            if !(1.0..=5_000.0).contains(&bps) {
                c.at(None, field, format!("is {bps}; allowed: 1 to 5000"));
            }
        }
    }
    if let Some(replace) = trader.and_then(|t| t.replace.as_ref()) {
        if !(-5_000.0..=5_000.0).contains(&replace.move_bps) {
            c.at(
                None,
                "workload.trader.replace.move_bps",
                format!("is {}; allowed: -5000 to 5000", replace.move_bps),
            );
        }
        if !limit_orders {
            c.at(
                None,
                "workload.trader.replace",
                "moves a limit: it needs `type: limit` orders",
            );
        }
    }
}
