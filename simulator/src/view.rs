//! An order as the API shows it: the ledger's snapshot with what only the
//! market knows (a trailing stop's high-water mark and the stop price it
//! sets) and, for the head of a bracket, OCO or OTO, its legs nested.
//!
//! Imports the ledger and the market; the broker's reads, serve's lists
//! and the stream show orders through it.

use std::time::Duration;

use fillproof_engine::Order;

use crate::ledger::{Ledger, LedgerOrder};
use crate::market::Market;
use crate::time::TimeOrigin;

/// How an order is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// As a REST read shows it: the status field lags by the order's lag.
    Read,
    /// As it truly stands (what a trade update carries).
    True,
}

/// `order` at `now` as the API shows it, looked at as `look`, with its
/// legs nested when `nested` and it heads a group.
#[must_use]
pub fn order_view(
    ledger: &Ledger,
    market: &Market,
    order: &LedgerOrder,
    now: Duration,
    look: Look,
    nested: bool,
    origin: TimeOrigin,
) -> Order {
    let mut shown = match look {
        Look::Read => order.snapshot(now, origin),
        Look::True => order.true_snapshot(now, origin),
    };
    if let Some(trail) = order.trail {
        // The mark stops moving once the stop triggered.
        let to = order.triggered_at.map_or(now, |t| t.min(now));
        if let Some(hwm) = market.high_water_mark(&order.symbol, order.side, order.accepted_at, to)
        {
            shown.hwm = Some(hwm);
            shown.stop_price = Some(trail.stop_price(order.side, hwm));
        }
    }
    if nested {
        shown.legs = order
            .links
            .legs
            .iter()
            .filter_map(|id| ledger.by_id(id))
            .map(|leg| order_view(ledger, market, leg, now, look, false, origin))
            .collect();
    }
    shown
}
