//! Quotes around a price path: a bid and an ask a spread apart, each with
//! a size, on the price grid, as the engine's market-data port's
//! [`Quote`].

use std::time::Duration;

use fillproof_engine::Quote;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use super::path::PricePath;
use crate::distribution::Dist;
use crate::lifecycle::on_price_grid;

/// How quotes sit around a path: the spread in basis points of the price
/// (drawn per step, at least one tick) and the size on each side.
/// Defaults: 2 bps, 100 shares a side.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteModel {
    /// The spread in basis points of the price.
    pub spread_bps: Dist,
    /// Shares on each side.
    pub size: Dist,
}

impl Default for QuoteModel {
    fn default() -> Self {
        Self {
            spread_bps: Dist::Fixed(2.0),
            size: Dist::Fixed(100.0),
        }
    }
}

/// The bid and ask around `price` at a spread of `bps` basis points: the
/// spread in whole ticks of the grid at this price (at least one), the bid
/// half of them (rounded down) under the price, so the ask is always above
/// it.
fn touches(price: Decimal, bps: f64) -> (Decimal, Decimal) {
    let tick = if price >= Decimal::ONE {
        Decimal::new(1, 2)
    } else {
        Decimal::new(1, 4)
    };
    let ticks = Decimal::from_f64(bps.max(0.0) / 10_000.0)
        .and_then(|share| price.checked_mul(share))
        .and_then(|spread| spread.checked_div(tick))
        .map_or(Decimal::ONE, |t| t.round().max(Decimal::ONE));
    let below = (ticks / Decimal::TWO).floor();
    let bid = (price - below * tick).max(tick);
    (bid, on_price_grid(bid + ticks * tick))
}

impl QuoteModel {
    /// The best touches any quote can show around `price`: the bid and ask
    /// at the narrowest spread the model can draw (one tick when it has no
    /// lower bound).
    #[must_use]
    pub fn best_touches(&self, price: Decimal) -> (Decimal, Decimal) {
        touches(price, self.spread_bps.lower_bound().unwrap_or(0.0))
    }

    /// The quote on `path` at `t`, drawn from the step's own stream (purpose
    /// `quote`, keyed by symbol and step), so a quote read twice is the
    /// same quote; its stamp is the caller's to set (`at` is `None`).
    pub fn quote_at(&self, path: &mut PricePath, seed: u64, symbol: &str, t: Duration) -> Quote {
        let price = path.price_at(t);
        let step = t.as_nanos() / path.step_size_nanos();
        let key = fillproof_engine::stable_hash(format!("{symbol}/{step}").as_bytes());
        let mut rng = fillproof_engine::derive_rng(seed, "quote", key);
        // The grid's increment at this price, and the spread in whole ticks
        // (at least one): the bid sits half of them (rounded down) under
        // the price, so the ask is always above it.
        let (bid, ask) = touches(price, self.spread_bps.sample(&mut rng));
        let size = |rng: &mut rand_chacha::ChaCha8Rng| {
            let shares = self.size.sample(rng).round();
            if shares.is_finite() && shares >= 1.0 {
                Decimal::from_f64(shares).unwrap_or(Decimal::ONE)
            } else {
                Decimal::ONE
            }
        };
        Quote {
            bid,
            bid_size: size(&mut rng),
            ask,
            ask_size: size(&mut rng),
            at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::PathModel;

    fn path(start: &str, volatility: f64) -> PricePath {
        let model = PathModel::new(
            start.parse().expect("price"),
            0.0,
            volatility,
            Duration::from_secs(1),
        )
        .expect("model");
        PricePath::new(model, 4, "SPY")
    }

    /// A quote straddles the path's price: the bid at or below it, the ask
    /// above, at least a tick apart, both on the grid.
    #[test]
    fn quotes_straddle_the_price_on_the_grid() {
        let quotes = QuoteModel {
            spread_bps: Dist::Uniform {
                low: 0.0,
                high: 20.0,
            },
            size: Dist::Uniform {
                low: 1.0,
                high: 900.0,
            },
        };
        for start in ["590.10", "0.5123"] {
            let mut p = path(start, 0.8);
            for i in 0..500 {
                let t = Duration::from_millis(i * 1_700);
                let price = p.price_at(t);
                let q = quotes.quote_at(&mut p, 4, "SPY", t);
                assert!(q.bid <= price && price < q.ask, "{q:?} around {price}");
                assert!(q.ask > q.bid);
                assert_eq!(q.bid, on_price_grid(q.bid));
                assert_eq!(q.ask, on_price_grid(q.ask));
                assert!(q.bid_size >= Decimal::ONE && q.ask_size >= Decimal::ONE);
            }
        }
    }

    /// The same instant gives the same quote; the default spread is 2 bps
    /// of the price, rounded to the grid.
    #[test]
    fn a_quote_is_its_instant() {
        let mut p = path("500.00", 0.0);
        let model = QuoteModel::default();
        let t = Duration::from_secs(42);
        let first = model.quote_at(&mut p, 4, "SPY", t);
        assert_eq!(first, model.quote_at(&mut p, 4, "SPY", t));
        assert_eq!(first.ask - first.bid, Decimal::new(10, 2));
        assert_eq!(first.bid, Decimal::new(49_995, 2));
        assert_eq!(first.bid_size, Decimal::from(100));
    }
}
