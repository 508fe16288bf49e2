//! Drawing an order's lifecycle at acceptance, from the order's own stream.
//!
//! Everything the broker will do to the order — whether and when it fills,
//! in how many pieces, at what prices, how long its status field lags, how
//! the filled status is spelt, whether it is rejected later — is drawn here,
//! once, from a stream keyed by the seed and the order's workload index.
//! How often the engine polls can therefore never change what the broker
//! does.

use std::time::Duration;

use fillproof_engine::{OrderRequest, Side, derive_rng};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use crate::ledger::{BrokerEnd, Fill};
use crate::model::{BrokerModel, OrderTarget};
use crate::scenario::TimelineKind;

/// What the broker will do to one order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Refuse the submit outright.
    pub reject_now: bool,
    /// Fills, in time order.
    pub fills: Vec<Fill>,
    /// An end the broker chooses, and when.
    pub broker_end: Option<(Duration, BrokerEnd)>,
    /// Status field lag.
    pub status_lag: Duration,
    /// Spelling of the filled status.
    pub filled_spelling: String,
}

/// The stream an order's lifecycle is drawn from.
#[must_use]
pub fn lifecycle_rng(seed: u64, order_key: u64) -> ChaCha8Rng {
    derive_rng(seed, "lifecycle", order_key)
}

/// Draws the lifecycle of an order accepted at `accepted_at`. `index` is its
/// workload index, when known: timeline events for it replace the random
/// fill model.
#[must_use]
pub fn draw(
    model: &BrokerModel,
    rng: &mut ChaCha8Rng,
    index: Option<u32>,
    request: &OrderRequest,
    accepted_at: Duration,
) -> Plan {
    // A fixed order of draws keeps each order's stream aligned whatever the
    // knobs are set to.
    let reject_now = rng.random::<f64>() < model.reject_probability;
    let reject_later = rng.random::<f64>() < model.async_reject_probability;
    let reject_delay = model.async_reject_delay.sample(rng);
    let fills_at_all = rng.random::<f64>() < model.fill_probability;
    let delay = model.fill_delay.sample(rng);
    let in_pieces = rng.random::<f64>();
    let rests = rng.random::<f64>();
    let status_lag = model.status_lag.sample(rng);
    let filled_spelling = pick_spelling(model, rng.random::<f64>());
    let reference = model
        .reference_prices
        .get(&request.symbol)
        .copied()
        .or(request.limit_price)
        .unwrap_or(Decimal::ONE);

    let mut plan = Plan {
        reject_now,
        fills: Vec::new(),
        broker_end: None,
        status_lag,
        filled_spelling,
    };
    if reject_now {
        return plan;
    }
    let scripted = index
        .and_then(|i| model.timeline.get(&OrderTarget::Index(i)))
        .or_else(|| {
            // Most scenarios have no timeline: skip the key's allocation.
            (!model.timeline.is_empty())
                .then(|| {
                    model
                        .timeline
                        .get(&OrderTarget::ClientOrderId(request.client_order_id.clone()))
                })
                .flatten()
        });
    if let Some(events) = scripted {
        let mut remaining = request.qty;
        for event in events {
            let at = event.at().max(accepted_at);
            match event.event.value {
                TimelineKind::Fill => {
                    let qty = event.qty.map_or(remaining, Decimal::from).min(remaining);
                    if qty > Decimal::ZERO {
                        let price = event.price.map_or(reference, |p| p.0);
                        let price = within_limit(price, request.side, request.limit_price);
                        plan.fills.push(Fill { at, qty, price });
                        remaining -= qty;
                    }
                }
                TimelineKind::Reject => {
                    plan.broker_end.get_or_insert((at, BrokerEnd::Rejected));
                }
                TimelineKind::Cancel => {
                    plan.broker_end.get_or_insert((at, BrokerEnd::Canceled));
                }
                TimelineKind::Expire => {
                    plan.broker_end.get_or_insert((at, BrokerEnd::Expired));
                }
                // Call faults are kept apart, in the model's `call_faults`.
                TimelineKind::Fault => {}
            }
        }
        match plan.broker_end {
            // A rejected order never filled: `check` refuses a timeline
            // that fills an order before rejecting it, so fills left here
            // were scripted after the rejection.
            Some((_, BrokerEnd::Rejected)) => plan.fills.clear(),
            // Fills at the instant the broker ends the order have happened.
            Some((end, _)) => plan
                .fills
                .retain(|f| crate::ledger::fill_done_by(f.at, end)),
            None => {}
        }
        return plan;
    }
    if reject_later {
        plan.broker_end = Some((accepted_at + reject_delay, BrokerEnd::Rejected));
        return plan;
    }
    if !fills_at_all {
        return plan;
    }
    let pieces = match &model.partial {
        Some(partial) if in_pieces < partial.probability => {
            rng.random_range(partial.pieces_low..=partial.pieces_high)
        }
        _ => 1,
    };
    let qty = request.qty;
    let pieces = Decimal::from(pieces).min(qty).max(Decimal::ONE);
    let whole = qty.trunc();
    let count: u32 = pieces.try_into().unwrap_or(1);
    let base = (whole / pieces).floor();
    let mut leftover = qty - base * pieces;
    let mut at = accepted_at + delay;
    for piece in 0..count {
        if piece > 0 {
            at += model
                .partial
                .as_ref()
                .map_or(Duration::ZERO, |p| p.spacing.sample(rng));
        }
        let mut piece_qty = base;
        if leftover >= Decimal::ONE {
            piece_qty += Decimal::ONE;
            leftover -= Decimal::ONE;
        }
        if piece + 1 == count {
            piece_qty += leftover;
        }
        let bps = model.slippage_bps.0.sample(rng);
        plan.fills.push(Fill {
            at,
            qty: piece_qty,
            price: within_limit(
                slipped_price(reference, bps, request.side),
                request.side,
                request.limit_price,
            ),
        });
    }
    let last_rests = match &model.partial {
        Some(partial) => count > 1 && rests < partial.unfilled,
        None => false,
    };
    if last_rests {
        plan.fills.pop();
    }
    plan
}

fn pick_spelling(model: &BrokerModel, u: f64) -> String {
    let total: f64 = model.spellings.iter().map(|(_, w)| w).sum();
    let mut cumulative = 0.0;
    for (spelling, weight) in &model.spellings {
        cumulative += weight / total;
        if u < cumulative {
            return spelling.clone();
        }
    }
    model
        .spellings
        .last()
        .map_or_else(|| "filled".to_owned(), |(s, _)| s.clone())
}

/// The reference price moved `bps` basis points against the trader (up for
/// a buy, down for a sell), on the price grid: whole cents from $1.00 up,
/// hundredths of a cent below (as US equities trade), never below the
/// smallest increment.
#[must_use]
pub fn slipped_price(reference: Decimal, bps: f64, side: Side) -> Decimal {
    let bps = Decimal::from_f64(bps).unwrap_or(Decimal::ZERO).round_dp(4);
    let factor = Decimal::ONE + side.sign() * bps / Decimal::from(10_000);
    on_price_grid(reference.checked_mul(factor).unwrap_or(reference))
}

/// `price` rounded to its increment: $0.01 from $1.00 up, $0.0001 below,
/// and within the prices anything trades at ($0.0001 to $10,000,000).
#[must_use]
pub fn on_price_grid(price: Decimal) -> Decimal {
    let places = if price >= Decimal::ONE { 2 } else { 4 };
    price
        .round_dp(places)
        .clamp(fillproof_engine::MIN_PRICE, fillproof_engine::MAX_PRICE)
}

/// A fill price that respects the order's limit: a buy never pays more
/// than its limit and a sell never takes less.
#[must_use]
pub fn within_limit(price: Decimal, side: Side, limit: Option<Decimal>) -> Decimal {
    match (limit, side) {
        (Some(limit), Side::Buy) => price.min(limit),
        (Some(limit), Side::Sell) => price.max(limit),
        (None, _) => price,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slippage moves a buy up and a sell down, to the cent.
    #[test]
    fn slippage_is_against_the_trader() {
        let reference: Decimal = "100.00".parse().expect("price");
        assert_eq!(
            slipped_price(reference, 10.0, Side::Buy),
            "100.10".parse().expect("p")
        );
        assert_eq!(
            slipped_price(reference, 10.0, Side::Sell),
            "99.90".parse().expect("p")
        );
        assert_eq!(slipped_price(reference, 0.0, Side::Buy), reference);
    }

    /// Below $1.00 prices keep their sub-penny increments instead of being
    /// floored to a cent; from $1.00 up they are whole cents.
    #[test]
    fn sub_dollar_prices_keep_sub_penny_increments() {
        let reference: Decimal = "0.0042".parse().expect("price");
        assert_eq!(slipped_price(reference, 0.0, Side::Buy), reference);
        assert_eq!(
            slipped_price("0.5000".parse().expect("p"), 10.0, Side::Buy),
            "0.5005".parse::<Decimal>().expect("p")
        );
        assert_eq!(
            on_price_grid("1.234".parse().expect("p")),
            "1.23".parse::<Decimal>().expect("p")
        );
        assert_eq!(on_price_grid(Decimal::ZERO), Decimal::new(1, 4));
    }

    /// A limit order never fills through its limit: a buy is capped at the
    /// limit, a sell floored at it, a market order is untouched.
    #[test]
    fn limit_orders_never_fill_through_the_limit() {
        let limit: Decimal = "100.00".parse().expect("price");
        let above: Decimal = "100.10".parse().expect("price");
        let below: Decimal = "99.90".parse().expect("price");
        assert_eq!(within_limit(above, Side::Buy, Some(limit)), limit);
        assert_eq!(within_limit(below, Side::Buy, Some(limit)), below);
        assert_eq!(within_limit(below, Side::Sell, Some(limit)), limit);
        assert_eq!(within_limit(above, Side::Sell, Some(limit)), above);
        assert_eq!(within_limit(above, Side::Buy, None), above);
    }
}
