//! The broker's batched reads: the order list and the fill activities,
//! from the ledger as a REST read sees it at the instant it lands (stale
//! when the scenario's stale reads say so, the status field lagging by
//! each order's lag, as the single-order read's).

use std::time::Duration;

use fillproof_engine::{
    ActivityQuery, BrokerError, Direction, FillActivity, FillKind, Order, OrderQuery, OrderStatus,
    StatusFilter, Timestamp,
};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::SimBroker;
use crate::ledger::{Ledger, LedgerOrder, fill_done_by};
use crate::view::{Look, order_view};

/// A 422 naming the query field that is out of range.
fn refuse(field: &str, detail: &str) -> BrokerError {
    BrokerError::Unprocessable {
        message: format!("invalid {field}: {detail}"),
    }
}

/// True when `stamp` is inside the exclusive window (`after`, `until`).
fn within(stamp: Timestamp, after: Option<Timestamp>, until: Option<Timestamp>) -> bool {
    after.is_none_or(|a| stamp > a) && until.is_none_or(|u| stamp < u)
}

impl SimBroker {
    /// The orders `query` selects, as a list read landing at `now` shows
    /// them.
    pub(super) fn list_at(
        &self,
        ledger: &Ledger,
        now: Duration,
        rng: &mut ChaCha8Rng,
        query: &OrderQuery,
    ) -> Result<Vec<Order>, BrokerError> {
        query.check()?;
        let at = self.stale_time(now, rng);
        let origin = self.clock.origin();
        let shown = |o: &LedgerOrder| {
            order_view(
                ledger,
                &self.market,
                o,
                at.max(o.accepted_at),
                Look::Read,
                query.nested,
                origin,
            )
        };
        // In the direction asked for, and lazily: a page of the newest
        // orders views no more orders than it returns, and, the orders
        // being in acceptance order, the walk stops at the first order
        // past the window's far end (a turn's read of the orders since the
        // oldest one watched walks those, not the whole day).
        let ordered = ledger.accepted_in_time_order();
        let stamp = move |o: &LedgerOrder| origin.at(o.accepted_at);
        let orders: Box<dyn Iterator<Item = &LedgerOrder>> = match query.direction {
            Direction::Asc => Box::new(
                ledger
                    .orders()
                    .iter()
                    .take_while(move |o| !ordered || query.until.is_none_or(|u| stamp(o) < u)),
            ),
            Direction::Desc => Box::new(
                ledger
                    .orders()
                    .iter()
                    .rev()
                    .take_while(move |o| !ordered || query.after.is_none_or(|a| stamp(o) > a)),
            ),
        };
        let chosen = orders
            .filter(|o| o.accepted_at <= at)
            // Nested, a group's legs are listed under its head only.
            .filter(|o| !query.nested || o.links.parent.is_none())
            .filter(|o| within(origin.at(o.accepted_at), query.after, query.until))
            .filter(|o| query.symbols.is_empty() || query.symbols.contains(&o.symbol))
            .map(shown)
            .filter(|o| match query.status {
                StatusFilter::Open => !o.status.is_terminal(),
                StatusFilter::Closed => o.status.is_terminal(),
                StatusFilter::All => true,
            })
            .take(query.limit as usize)
            .collect();
        Ok(chosen)
    }

    /// The page of fill activities `query` selects, as a read landing at
    /// `now` shows them: every execution done by then, one record each.
    pub(super) fn activities_at(
        &self,
        ledger: &Ledger,
        now: Duration,
        rng: &mut ChaCha8Rng,
        query: &ActivityQuery,
    ) -> Result<Vec<FillActivity>, BrokerError> {
        query.check()?;
        let at = self.stale_time(now, rng);
        let origin = self.clock.origin();
        let mut all: Vec<(Duration, usize, usize, &LedgerOrder)> = Vec::new();
        for (n, order) in ledger.orders().iter().enumerate() {
            for (piece, fill) in order.fills.iter().enumerate() {
                if fill_done_by(fill.at, at) && within(origin.at(fill.at), query.after, query.until)
                {
                    all.push((fill.at, n, piece, order));
                }
            }
        }
        all.sort_by_key(|(t, n, piece, _)| (*t, *n, *piece));
        if query.direction == Direction::Desc {
            all.reverse();
        }
        let records = all
            .into_iter()
            .map(|(_, _, piece, order)| activity(order, piece, origin));
        // Only the page's records are made.
        let page = query.page_size as usize;
        let records: Vec<FillActivity> = match &query.page_token {
            None => records.take(page).collect(),
            Some(token) => {
                let mut records = records.skip_while(|r| &r.id != token);
                if records.next().is_none() {
                    return Err(refuse(
                        "page_token",
                        &format!("`{token}` names no activity of this account"),
                    ));
                }
                records.take(page).collect()
            }
        };
        Ok(records)
    }
}

/// Fill `piece` of `order` as its activity record.
fn activity(order: &LedgerOrder, piece: usize, origin: crate::time::TimeOrigin) -> FillActivity {
    let fill = &order.fills[piece];
    let cum_qty: Decimal = order.fills[..=piece].iter().map(|f| f.qty).sum();
    let leaves_qty = (order.qty - cum_qty).max(Decimal::ZERO);
    let done = leaves_qty.is_zero();
    let stamp = origin.at(fill.at);
    let execution_id = format!("{}-{piece}", order.id);
    FillActivity {
        id: format!("{}::{execution_id}", compact(stamp)),
        execution_id: Some(execution_id),
        order_id: order.id.clone(),
        symbol: order.symbol.clone(),
        side: order.side,
        qty: fill.qty,
        price: fill.price,
        cum_qty,
        leaves_qty,
        order_status: if done {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        },
        kind: if done {
            FillKind::Fill
        } else {
            FillKind::PartialFill
        },
        transaction_time: stamp,
    }
}

/// A stamp as Alpaca writes it at the head of an activity id:
/// `YYYYMMDDhhmmssmmm`.
fn compact(stamp: Timestamp) -> String {
    let micros = stamp.unix_micros;
    let seconds = micros.div_euclid(1_000_000);
    let millis = micros.rem_euclid(1_000_000) / 1000;
    let (year, month, day) = fillproof_engine::civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}{millis:03}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}
