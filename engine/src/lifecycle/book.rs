//! The book: positions and P&L from fills, in `Decimal`, by the
//! average-cost method ([`PositionBook`]), inside the lifecycle's one book
//! of the account (`Book`: positions, orders in flight, buying power,
//! recent orders, every fill booked). The average-cost method:
//! adding to a position moves its average entry price; reducing it
//! realizes `(exit − entry) × quantity` (sign-aware), less commission; a
//! fill that crosses zero closes the old position and opens the rest on
//! the other side at the fill price.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::time::Instant;

use crate::detect::Execution;
use crate::lifecycle::risk::Exposure;
use crate::lifecycle::{Signal, price_in_range};
use crate::port::{Side, Timestamp};

/// Commission charged per fill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Commission {
    /// Per order that fills; default 0.
    pub per_order: Decimal,
    /// Per share filled; default 0.
    pub per_share: Decimal,
}

impl Commission {
    /// Commission on a fill of `qty`.
    #[must_use]
    pub fn on(&self, qty: Decimal) -> Decimal {
        self.per_share
            .checked_mul(qty)
            .and_then(|c| c.checked_add(self.per_order))
            .unwrap_or(Decimal::MAX)
    }

    /// Commission on one piece of an order's fill, as a broker statement
    /// listing the pieces charges it: the per-share part on every piece,
    /// the per-order part on the `first` only.
    #[must_use]
    pub fn on_piece(&self, qty: Decimal, first: bool) -> Decimal {
        if first {
            self.on(qty)
        } else {
            self.per_share.checked_mul(qty).unwrap_or(Decimal::MAX)
        }
    }
}

/// One symbol's position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PositionState {
    /// Signed quantity: positive long, negative short.
    pub qty: Decimal,
    /// Average entry price of the open quantity; zero when flat.
    pub avg_entry_price: Decimal,
    /// Realized P&L since the book opened, commission deducted.
    pub realized_pnl: Decimal,
    /// Commission paid.
    pub commission_paid: Decimal,
    /// Signed quantity booked with its price unknown (a fill proven only by
    /// a cancel refused as "already filled"); part of `qty`, left out of the
    /// average entry price and realized P&L.
    pub unpriced_qty: Decimal,
    /// Fills booked with their price unknown: while any is, realized P&L
    /// is what the priced fills give and may not be the broker's.
    pub unpriced_fills: u32,
}

impl PositionState {
    /// True when every fill in this position has a known price, so its
    /// realized P&L is complete.
    #[must_use]
    pub fn priced(&self) -> bool {
        self.unpriced_fills == 0
    }
}

/// A priced fill's effect on `position`: the new average entry price and
/// the P&L realized before commission, by the average-cost method over the
/// priced quantity; `None` when a figure would overflow.
fn priced_effect(
    position: &PositionState,
    signed: Decimal,
    price: Decimal,
) -> Option<(Decimal, Decimal)> {
    let qty = signed.abs();
    let priced = position.qty.checked_sub(position.unpriced_qty)?;
    let open = priced.abs();
    if priced.is_zero() || priced.is_sign_positive() == signed.is_sign_positive() {
        let cost = open
            .checked_mul(position.avg_entry_price)?
            .checked_add(qty.checked_mul(price)?)?;
        return Some((cost.checked_div(open.checked_add(qty)?)?, Decimal::ZERO));
    }
    let closing = qty.min(open);
    let direction = if priced.is_sign_positive() {
        Decimal::ONE
    } else {
        Decimal::NEGATIVE_ONE
    };
    let realized = closing
        .checked_mul(price.checked_sub(position.avg_entry_price)?)?
        .checked_mul(direction)?;
    let avg = if qty == open {
        Decimal::ZERO
    } else if qty > open {
        // Crossed zero: the rest opens on the other side.
        price
    } else {
        position.avg_entry_price
    };
    Some((avg, realized))
}

/// Every symbol's position, and realized P&L by trading day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PositionBook {
    positions: BTreeMap<String, PositionState>,
    daily: BTreeMap<i64, Decimal>,
    commission: Commission,
}

impl PositionBook {
    /// An empty book charging `commission`.
    #[must_use]
    pub fn new(commission: Commission) -> Self {
        Self {
            commission,
            ..Self::default()
        }
    }

    /// Applies a fill of `qty` at `price` on trading day `day`; returns the
    /// P&L it realized, commission deducted.
    pub fn apply(
        &mut self,
        symbol: &str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        day: i64,
    ) -> Decimal {
        let commission = self.commission.on(qty);
        self.apply_charged(symbol, side, qty, price, day, commission)
    }

    /// Applies one piece of an order's fill, charging `commission` for it
    /// instead of the book's rate: a broker statement that lists an order's
    /// fills one by one charges the per-order part once. A fill whose
    /// figures would overflow (a price near `Decimal::MAX` from a broker
    /// sending garbage) is booked as [unpriced](PositionBook::apply_unpriced)
    /// rather than allowed to panic.
    pub fn apply_charged(
        &mut self,
        symbol: &str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        day: i64,
        commission: Decimal,
    ) -> Decimal {
        if qty <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let position = self.positions.entry(symbol.to_owned()).or_default();
        let signed = side.sign() * qty;
        let Some((avg_entry_price, gross)) = priced_effect(position, signed, price) else {
            self.book_unpriced(symbol, signed, day, commission);
            return Decimal::ZERO;
        };
        let realized = gross.saturating_sub(commission);
        position.avg_entry_price = avg_entry_price;
        position.qty = position.qty.saturating_add(signed);
        position.realized_pnl = position.realized_pnl.saturating_add(realized);
        position.commission_paid = position.commission_paid.saturating_add(commission);
        let daily = self.daily.entry(day).or_insert(Decimal::ZERO);
        *daily = daily.saturating_add(realized);
        realized
    }

    /// Books a fill of `qty` whose price is not known: the position moves,
    /// commission is charged on trading day `day`, and the symbol is marked
    /// [not fully priced](PositionState::priced).
    pub fn apply_unpriced(&mut self, symbol: &str, side: Side, qty: Decimal, day: i64) {
        if qty <= Decimal::ZERO {
            return;
        }
        let commission = self.commission.on(qty);
        self.book_unpriced(symbol, side.sign() * qty, day, commission);
    }

    fn book_unpriced(&mut self, symbol: &str, signed: Decimal, day: i64, commission: Decimal) {
        let position = self.positions.entry(symbol.to_owned()).or_default();
        position.qty = position.qty.saturating_add(signed);
        position.unpriced_qty = position.unpriced_qty.saturating_add(signed);
        position.unpriced_fills = position.unpriced_fills.saturating_add(1);
        position.realized_pnl = position.realized_pnl.saturating_sub(commission);
        position.commission_paid = position.commission_paid.saturating_add(commission);
        let daily = self.daily.entry(day).or_insert(Decimal::ZERO);
        *daily = daily.saturating_sub(commission);
    }

    /// One symbol's position (flat when never traded).
    #[must_use]
    pub fn position(&self, symbol: &str) -> PositionState {
        self.positions.get(symbol).copied().unwrap_or_default()
    }

    /// Every symbol traded, in name order.
    pub fn positions(&self) -> impl Iterator<Item = (&str, &PositionState)> {
        self.positions.iter().map(|(s, p)| (s.as_str(), p))
    }

    /// The commission this book charges.
    #[must_use]
    pub fn commission(&self) -> Commission {
        self.commission
    }

    /// Realized P&L on trading day `day`.
    #[must_use]
    pub fn daily_pnl(&self, day: i64) -> Decimal {
        self.daily.get(&day).copied().unwrap_or(Decimal::ZERO)
    }

    /// Realized P&L over every symbol.
    #[must_use]
    pub fn realized_pnl(&self) -> Decimal {
        self.positions.values().map(|p| p.realized_pnl).sum()
    }
}

/// A fill applied to the positions, in the order applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedFill {
    /// The intent's id.
    pub client_order_id: String,
    /// Instrument.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Quantity.
    pub qty: Decimal,
    /// Price; `None` when only a cancel refused as "already filled" proved
    /// the fill and no read showed its price.
    pub price: Option<Decimal>,
    /// Trading day (days since the Unix epoch, UTC) of `filled_at`.
    pub day: i64,
    /// When the broker filled it: its fill stamp, or the engine's clock
    /// when the broker gave none.
    pub filled_at: Timestamp,
    /// Commission charged for it (an order's executions booked one by one
    /// pay the per-order part once).
    pub commission: Decimal,
}

/// The lifecycle's one book of the account: the positions and P&L the
/// risk rules read, the orders in flight and the buying power they hold,
/// each trader's recent orders, and every fill booked, in the order booked
/// (from which [`Book::statement`] rebuilds the positions as the broker's
/// statement orders them).
#[derive(Debug, Default)]
pub(crate) struct Book {
    positions: PositionBook,
    /// Quantity of orders in flight by symbol, each side on its own.
    in_flight: BTreeMap<String, Flying>,
    /// Buying power left, when checked.
    available: Option<Decimal>,
    /// Each trader's order times within the last minute.
    recent: BTreeMap<String, VecDeque<Instant>>,
    applied: Vec<AppliedFill>,
}

/// The quantity of one symbol's orders in flight, each side on its own:
/// the worst case either way is what the position limit must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flying {
    buying: Decimal,
    selling: Decimal,
}

impl Flying {
    /// The quantity in flight on `side`.
    fn side(&mut self, side: Side) -> &mut Decimal {
        match side {
            Side::Buy => &mut self.buying,
            Side::Sell => &mut self.selling,
        }
    }
}

/// What a bracket's working exits hold, from when its entry filled until
/// both ended: their quantity in flight on the exit side, counted once
/// for the pair (only one can fill), and, for buy exits, the buying power
/// the broker sets aside for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExitHold {
    /// The symbol.
    pub symbol: String,
    /// The exits' side.
    pub side: Side,
    /// The largest exit's quantity.
    pub qty: Decimal,
    /// Buying power set aside.
    pub amount: Decimal,
}

/// How long an order counts toward its trader's order rate.
const ORDER_RATE_WINDOW: Duration = Duration::from_secs(60);

impl Book {
    /// An empty book charging `commission`, with `buying_power` to spend
    /// (`None`: not checked).
    pub(crate) fn new(commission: Commission, buying_power: Option<Decimal>) -> Self {
        Self {
            positions: PositionBook::new(commission),
            available: buying_power,
            ..Self::default()
        }
    }

    /// Buying power left, when checked.
    pub(crate) fn available(&self) -> Option<Decimal> {
        self.available
    }

    /// What the risk rules look at for `signal` at `now` on trading day
    /// `today`. Forgets the trader's orders older than the rate window.
    pub(crate) fn exposure(&mut self, signal: &Signal, today: i64, now: Instant) -> Exposure {
        let recent = self.recent.entry(signal.trader_id.clone()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= ORDER_RATE_WINDOW)
        {
            recent.pop_front();
        }
        let flying = self
            .in_flight
            .get(&signal.symbol)
            .copied()
            .unwrap_or_default();
        Exposure {
            daily_pnl: self.positions.daily_pnl(today),
            held: self.positions.position(&signal.symbol).qty,
            buying: flying.buying,
            selling: flying.selling,
            recent_orders: u32::try_from(recent.len()).unwrap_or(u32::MAX),
        }
    }

    /// Books an admitted signal: its order time, its quantity in flight,
    /// and the buying power a buy reserves (returned).
    pub(crate) fn reserve(&mut self, signal: &Signal, reference: Decimal, now: Instant) -> Decimal {
        self.recent
            .entry(signal.trader_id.clone())
            .or_default()
            .push_back(now);
        self.fly(&signal.symbol, signal.side, signal.qty);
        // Bounded by validation: at most MAX_QTY x MAX_PRICE.
        let reserved = match signal.side {
            Side::Buy => signal.qty * signal.unit_cost(reference),
            Side::Sell => Decimal::ZERO,
        };
        if let Some(available) = &mut self.available {
            *available = available.saturating_sub(reserved);
        }
        reserved
    }

    /// Adds `qty` (negative: takes it back) to `symbol`'s orders in
    /// flight on `side`.
    fn fly(&mut self, symbol: &str, side: Side, qty: Decimal) {
        let flying = self
            .in_flight
            .entry(symbol.to_owned())
            .or_default()
            .side(side);
        *flying = flying.saturating_add(qty);
    }

    /// Counts a bracket's working exits, as the broker does: their
    /// quantity in flight (so the position limit sees what they may still
    /// do) and the buying power buy exits hold; [`Book::release`] undoes
    /// it when both ended.
    pub(crate) fn hold(&mut self, exits: &ExitHold) {
        self.fly(&exits.symbol, exits.side, exits.qty);
        if let Some(available) = &mut self.available {
            *available = available.saturating_sub(exits.amount);
        }
    }

    /// Undoes [`Book::hold`].
    pub(crate) fn release(&mut self, exits: &ExitHold) {
        self.fly(&exits.symbol, exits.side, -exits.qty);
        if let Some(available) = &mut self.available {
            *available = available.saturating_add(exits.amount);
        }
    }

    /// Counts `signal`'s quantity in flight, as [`Book::reserve`] does
    /// (without reserving buying power), so that booking its outcome gives
    /// it back: an exit leg's, or a journaled intent's being rebuilt.
    pub(crate) fn count_in_flight(&mut self, signal: &Signal) {
        self.fly(&signal.symbol, signal.side, signal.qty);
    }

    /// Undoes [`Book::reserve`] and books what filled (`fill`: quantity,
    /// price if known and sane, stamp): execution by execution when every
    /// one is known and priced, otherwise the whole quantity at the average
    /// price, on trading day `today`. A fill whose price is unknown keeps a
    /// buy's reservation spent (the best estimate of its cost) and credits
    /// a sale nothing until its price is known.
    pub(crate) fn book_outcome(
        &mut self,
        signal: &Signal,
        reserved: Decimal,
        (filled, price, filled_at): (Decimal, Option<Decimal>, Timestamp),
        executions: &[Execution],
        today: i64,
    ) {
        self.fly(&signal.symbol, signal.side, -signal.qty);
        if let Some(available) = &mut self.available {
            match price {
                Some(price) => {
                    let notional = filled.saturating_mul(price);
                    let back = available.saturating_add(reserved);
                    *available = match signal.side {
                        Side::Buy => back.saturating_sub(notional),
                        Side::Sell => back.saturating_add(notional),
                    };
                }
                None if filled.is_zero() => *available = available.saturating_add(reserved),
                None => {}
            }
        }
        if filled.is_zero() {
            return;
        }
        let commission = self.positions.commission();
        let pieces: Vec<(Decimal, Option<Decimal>, Timestamp)> = if price.is_some()
            && !executions.is_empty()
            && executions.iter().all(|e| price_in_range(e.price))
        {
            executions
                .iter()
                .map(|e| (e.qty, Some(e.price), e.at))
                .collect()
        } else {
            vec![(filled, price, filled_at)]
        };
        for (piece, (qty, price, at)) in pieces.into_iter().enumerate() {
            let charge = commission.on_piece(qty, piece == 0);
            match price {
                Some(price) => {
                    self.positions.apply_charged(
                        &signal.symbol,
                        signal.side,
                        qty,
                        price,
                        today,
                        charge,
                    );
                }
                None => self
                    .positions
                    .apply_unpriced(&signal.symbol, signal.side, qty, today),
            }
            self.applied.push(AppliedFill {
                client_order_id: signal.client_order_id.clone(),
                symbol: signal.symbol.clone(),
                side: signal.side,
                qty,
                price,
                day: at.trading_day(),
                filled_at: at,
                commission: charge,
            });
        }
    }

    /// The positions and P&L as the broker's statement shows them: every
    /// fill booked, applied in the order the broker stamped it (orders are
    /// detected out of that order, and average-cost P&L depends on it),
    /// each on the trading day of its stamp.
    pub(crate) fn statement(&self) -> PositionBook {
        let mut fills: Vec<&AppliedFill> = self.applied.iter().collect();
        // A stable sort keeps the booked order among fills stamped alike.
        fills.sort_by_key(|f| f.filled_at);
        let mut positions = PositionBook::new(self.positions.commission());
        for fill in fills {
            match fill.price {
                Some(price) => {
                    positions.apply_charged(
                        &fill.symbol,
                        fill.side,
                        fill.qty,
                        price,
                        fill.day,
                        fill.commission,
                    );
                }
                None => positions.apply_unpriced(&fill.symbol, fill.side, fill.qty, fill.day),
            }
        }
        positions
    }

    /// Every fill booked, in order.
    pub(crate) fn applied(&self) -> &[AppliedFill] {
        &self.applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: i64) -> Decimal {
        Decimal::from(v)
    }

    /// The specification's example: long 100 at 70,000, sold at 72,000,
    /// realizes 200,000 before commission, and the position is flat.
    #[test]
    fn seed_example_realizes_two_hundred_thousand() {
        let mut book = PositionBook::default();
        assert_eq!(book.apply("BTC", Side::Buy, d(100), d(70_000), 0), d(0));
        assert_eq!(
            book.apply("BTC", Side::Sell, d(100), d(72_000), 0),
            d(200_000)
        );
        let p = book.position("BTC");
        assert_eq!(
            (p.qty, p.avg_entry_price, p.realized_pnl),
            (d(0), d(0), d(200_000))
        );
        assert_eq!(book.daily_pnl(0), d(200_000));
    }

    /// A fill with its price unknown moves the position but not the average
    /// price or realized P&L of the priced fills, and marks the symbol.
    #[test]
    fn unpriced_fill_moves_quantity_only() {
        let mut book = PositionBook::default();
        book.apply("SPY", Side::Buy, d(100), d(10), 0);
        book.apply_unpriced("SPY", Side::Buy, d(50), 0);
        let p = book.position("SPY");
        assert_eq!(
            (p.qty, p.avg_entry_price, p.unpriced_qty),
            (d(150), d(10), d(50))
        );
        assert!(!p.priced());
        assert_eq!(book.apply("SPY", Side::Sell, d(100), d(12), 0), d(200));
        let p = book.position("SPY");
        assert_eq!((p.qty, p.avg_entry_price), (d(50), d(0)));
        assert!(book.position("QQQ").priced());
    }

    /// Figures at the edge of `Decimal` never panic: a fill whose cost
    /// would overflow is booked without a price, and tiny prices work.
    #[test]
    fn extreme_figures_never_panic() {
        let mut book = PositionBook::default();
        book.apply("X", Side::Buy, d(10), Decimal::MAX, 0);
        book.apply("X", Side::Buy, Decimal::MAX, Decimal::MAX, 0);
        book.apply("X", Side::Sell, d(5), Decimal::MAX, 0);
        let p = book.position("X");
        assert!(!p.priced());
        let tiny = Decimal::new(1, 28);
        let mut book = PositionBook::default();
        book.apply("Y", Side::Buy, d(3), tiny, 0);
        book.apply("Y", Side::Sell, d(3), tiny * d(2), 0);
        assert!(book.position("Y").priced());
        assert_eq!(book.position("Y").qty, d(0));
        let huge = PositionBook::new(Commission {
            per_order: Decimal::MAX,
            per_share: Decimal::MAX,
        });
        let mut huge = huge;
        huge.apply("Z", Side::Buy, d(1), d(1), 0);
    }

    /// Commission is deducted from realized P&L on every fill.
    #[test]
    fn commission_is_deducted() {
        let mut book = PositionBook::new(Commission {
            per_order: d(1),
            per_share: "0.01".parse().expect("d"),
        });
        assert_eq!(book.apply("SPY", Side::Buy, d(100), d(10), 3), d(-2));
        assert_eq!(book.apply("SPY", Side::Sell, d(100), d(11), 3), d(98));
        assert_eq!(book.position("SPY").commission_paid, d(4));
        assert_eq!(book.daily_pnl(3), d(96));
        assert_eq!(book.daily_pnl(4), d(0));
    }

    /// Adding averages the entry price; reducing keeps it and realizes.
    #[test]
    fn add_then_reduce() {
        let mut book = PositionBook::default();
        book.apply("QQQ", Side::Buy, d(100), d(10), 0);
        book.apply("QQQ", Side::Buy, d(100), d(20), 0);
        assert_eq!(book.position("QQQ").avg_entry_price, d(15));
        assert_eq!(book.apply("QQQ", Side::Sell, d(50), d(25), 0), d(500));
        let p = book.position("QQQ");
        assert_eq!((p.qty, p.avg_entry_price), (d(150), d(15)));
    }

    /// A sale larger than the long closes it and opens a short at the fill
    /// price; buying back the short realizes on the short side.
    #[test]
    fn flip_long_to_short() {
        let mut book = PositionBook::default();
        book.apply("AAPL", Side::Buy, d(100), d(200), 0);
        assert_eq!(book.apply("AAPL", Side::Sell, d(150), d(210), 0), d(1_000));
        let p = book.position("AAPL");
        assert_eq!((p.qty, p.avg_entry_price), (d(-50), d(210)));
        assert_eq!(book.apply("AAPL", Side::Buy, d(50), d(200), 0), d(500));
        assert_eq!(book.position("AAPL").qty, d(0));
        assert_eq!(book.realized_pnl(), d(1_500));
    }
}
