//! When a stop order triggers: the first instant the market's last trade
//! (the path's price) reaches its stop price, or, for a trailing stop, a
//! trail behind the best price since it was placed (its high-water mark).
//!
//! Stops watch the regular session only and never a halted symbol, as
//! Alpaca's do: a price the tape does not print cannot trigger them or
//! move a high-water mark.

use std::time::Duration;

use fillproof_engine::{Side, Trail};
use rust_decimal::Decimal;

use super::venue::{Market, lock};

/// What a stop waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A fixed stop price: a sell triggers at or below it, a buy at or
    /// above it.
    Level(Decimal),
    /// A trailing stop: the stop price follows the high-water mark.
    Trailing(Trail),
}

/// A stop that triggered: when, and the high-water mark then (a trailing
/// stop's; `None` for a fixed stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggered {
    /// The instant it triggered.
    pub at: Duration,
    /// A trailing stop's high-water mark when it triggered.
    pub hwm: Option<Decimal>,
}

/// The best of two prices for an order on `side`'s trail: the higher for
/// a sell, the lower for a buy.
fn best(side: Side, a: Decimal, b: Decimal) -> Decimal {
    match side {
        Side::Sell => a.max(b),
        Side::Buy => a.min(b),
    }
}

/// Whether a trade at `price` sets off a stop at `stop` for `side`.
fn sets_off(side: Side, stop: Decimal, price: Decimal) -> bool {
    match side {
        Side::Sell => price <= stop,
        Side::Buy => price >= stop,
    }
}

impl Market {
    /// The first instant in `[from, until)` a stop on `symbol` for `side`
    /// triggers; `None` when it does not (or the symbol is not listed).
    #[must_use]
    pub fn first_trigger(
        &self,
        symbol: &str,
        side: Side,
        stop: Stop,
        from: Duration,
        until: Duration,
    ) -> Option<Triggered> {
        let mut hwm: Option<Decimal> = None;
        let level = match stop {
            Stop::Level(level) => Some((side, level)),
            Stop::Trailing(_) => None,
        };
        let at = self.walk_printed(symbol, from, until, level, |price| match stop {
            Stop::Level(level) => sets_off(side, level, price),
            Stop::Trailing(trail) => {
                let mark = hwm.map_or(price, |h| best(side, h, price));
                hwm = Some(mark);
                sets_off(side, trail.stop_price(side, mark), price)
            }
        })?;
        Some(Triggered { at, hwm })
    }

    /// A trailing stop's high-water mark at `to`, placed at `from`: the
    /// best price printed between them (the price at `from` when none
    /// was); `None` for a symbol not listed.
    #[must_use]
    pub fn high_water_mark(
        &self,
        symbol: &str,
        side: Side,
        from: Duration,
        to: Duration,
    ) -> Option<Decimal> {
        let mut hwm: Option<Decimal> = None;
        let end = to.saturating_add(Duration::from_nanos(1));
        self.walk_printed(symbol, from, end, None, |price| {
            hwm = Some(hwm.map_or(price, |h| best(side, h, price)));
            false
        });
        hwm.or_else(|| self.price_at(symbol, from))
    }

    /// Shows `visit` the price of each step of `symbol` the tape prints in
    /// `[from, until)` (the regular session, not halted), in time order,
    /// until it answers true; returns that step's instant. With a fixed
    /// stop's `level` (and its side), the blocks whose prices never reach
    /// it are skipped. A price that never moves is shown once.
    fn walk_printed(
        &self,
        symbol: &str,
        from: Duration,
        until: Duration,
        level: Option<(Side, Decimal)>,
        mut visit: impl FnMut(Decimal) -> bool,
    ) -> Option<Duration> {
        let (live, _) = self.live(symbol)?;
        let mut path = lock(&live.path);
        let mut t = from;
        let mut open_until = Duration::ZERO;
        while t < until {
            if let Some(sessions) = self.sessions().filter(|_| t >= open_until) {
                if let Some(opens) = sessions.closed_until(t, false) {
                    t = opens;
                    continue;
                }
                open_until = sessions.trading_ends(t, false);
            }
            if let Some(end) = path.halt_end(t) {
                t = end;
                continue;
            }
            if path.is_still() {
                // The price never moves: what it does now it always does.
                return visit(path.price_at(t)).then_some(t);
            }
            if let Some((side, level)) = level {
                let ((low, high), next) = path.block_range(t);
                if !sets_off(side, level, low) && !sets_off(side, level, high) {
                    t = next?;
                    continue;
                }
            }
            if visit(path.price_at(t)) {
                return Some(t);
            }
            t = path.next_step_after(t)?;
        }
        None
    }
}
