//! The ledger: the ground truth of every order the broker accepted, every
//! fill and every position. API answers are views of it through lags and
//! faults; the ledger itself is never wrong.
//!
//! An order's fills are drawn when it is accepted and stored with the
//! virtual time at which each happens; the state at any time is computed
//! from them, so no background task is needed to make fills "happen".
//!
//! One rule decides what "at the same instant" means everywhere the ledger
//! reads, cuts or cancels: a fill planned at `at` has happened at every
//! `t >= at` ([`fill_done_by`]). A read at `t` shows it, and a cancel or a
//! broker-chosen end taking effect at `t` keeps it, so nothing a read has
//! shown is ever taken back.

use std::time::Duration;

use fillproof_engine::{
    Order, OrderClass, OrderStatus, OrderType, Side, StableBuildHasher, TimeInForce, Trail,
};
use indexmap::IndexMap;
use rust_decimal::Decimal;

use crate::time::TimeOrigin;

/// A fill, planned at acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// When it happens, since the run began.
    pub at: Duration,
    /// Quantity.
    pub qty: Decimal,
    /// Price.
    pub price: Decimal,
}

/// How an order ended without the engine asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerEnd {
    /// The broker rejected it after accepting it.
    Rejected,
    /// The broker canceled it on its own.
    Canceled,
    /// It expired.
    Expired,
    /// A replacing order took its place.
    Replaced,
}

/// One order the broker accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerOrder {
    /// The workload index, when the harness registered the client id.
    pub index: Option<u32>,
    /// The broker's id.
    pub id: String,
    /// The engine's id.
    pub client_order_id: String,
    /// Instrument.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Ordered quantity.
    pub qty: Decimal,
    /// Order type.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// May trade in the pre- and after-hours sessions.
    pub extended_hours: bool,
    /// When the broker accepted it.
    pub accepted_at: Duration,
    /// Fills, in time order; a cancel removes those it prevents.
    pub fills: Vec<Fill>,
    /// An end the broker chose, and when.
    pub broker_end: Option<(Duration, BrokerEnd)>,
    /// When a cancel request reached the broker.
    pub cancel_requested_at: Option<Duration>,
    /// When that cancel takes effect; fills before it still happen.
    pub cancel_effective_at: Option<Duration>,
    /// How long the status field lags the fills.
    pub status_lag: Duration,
    /// How the filled status is spelt for this order.
    pub filled_spelling: String,
    /// The price that triggers a stop or stop-limit order.
    pub stop_price: Option<Decimal>,
    /// How far a trailing stop trails.
    pub trail: Option<Trail>,
    /// When a stop order triggered, if it does.
    pub triggered_at: Option<Duration>,
    /// The dollar amount of a notional order (its `qty` is the shares
    /// the amount bought at acceptance).
    pub notional: Option<Decimal>,
    /// Its group and its replace chain.
    pub links: Links,
}

/// How an order is tied to others: the group it belongs to (a bracket,
/// OCO or OTO) and the replace chain.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Links {
    /// Simple, or the class of its group.
    pub class: OrderClass,
    /// For a leg: the id of the order that heads its group (a bracket's or
    /// an OTO's entry, an OCO's take profit) and the leg's role.
    pub parent: Option<(String, LegRole)>,
    /// For the head of a group: its legs' ids.
    pub legs: Vec<String>,
    /// For a leg: held before this instant (`Duration::MAX`: held until
    /// it ends); `None` for an order never held.
    pub held_until: Option<Duration>,
    /// The order this one replaced.
    pub replaces: Option<String>,
    /// The order that replaces this one, once the replace is requested.
    pub replaced_by: Option<String>,
    /// When a replace request reached the broker, and when it takes
    /// effect (the order is `pending_replace` between the two).
    pub replace_requested: Option<(Duration, Duration)>,
}

/// A leg's part in its group; a scenario's `timeline:` names it
/// `take_profit` or `stop_loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegRole {
    /// The take-profit limit.
    TakeProfit,
    /// The stop loss (stop or stop limit).
    StopLoss,
}

/// The true state of an order at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrueStatus {
    /// Accepted, nothing filled.
    New,
    /// Some filled.
    PartiallyFilled,
    /// All filled.
    Filled,
    /// A cancel is being processed.
    PendingCancel,
    /// A replace is being processed.
    PendingReplace,
    /// A leg waiting for its entry to fill.
    Held,
    /// Replaced by another order.
    Replaced,
    /// Canceled (by request or by the broker).
    Canceled,
    /// Expired.
    Expired,
    /// Rejected.
    Rejected,
}

impl TrueStatus {
    /// The canonical (Alpaca) spelling of the status: `new`,
    /// `partially_filled`, `filled`, `pending_cancel`, `canceled`,
    /// `expired`, `rejected`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::PendingCancel => "pending_cancel",
            Self::PendingReplace => "pending_replace",
            Self::Held => "held",
            Self::Replaced => "replaced",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
        }
    }

    /// True for states after which nothing changes.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Expired | Self::Rejected | Self::Replaced
        )
    }
}

/// True when a fill planned at `fill_at` has happened by `t`: fills at the
/// same instant as a read, a cancel or an end are done.
#[must_use]
pub fn fill_done_by(fill_at: Duration, t: Duration) -> bool {
    fill_at <= t
}

impl LedgerOrder {
    /// Fills that have happened by `t`.
    pub fn fills_by(&self, t: Duration) -> impl Iterator<Item = &Fill> {
        self.fills.iter().take_while(move |f| fill_done_by(f.at, t))
    }

    /// Quantity filled by `t`.
    #[must_use]
    pub fn filled_qty_at(&self, t: Duration) -> Decimal {
        self.fills_by(t).map(|f| f.qty).sum()
    }

    /// Volume-weighted average price of the fills by `t`, to 4 places.
    #[must_use]
    pub fn avg_price_at(&self, t: Duration) -> Option<Decimal> {
        let (qty, notional) = self
            .fills_by(t)
            .fold((Decimal::ZERO, Decimal::ZERO), |(q, n), f| {
                (q + f.qty, n + f.qty * f.price)
            });
        (qty > Decimal::ZERO).then(|| (notional / qty).round_dp(4))
    }

    /// The time of the last fill by `t`.
    #[must_use]
    pub fn last_fill_at(&self, t: Duration) -> Option<Duration> {
        self.fills_by(t).last().map(|f| f.at)
    }

    /// The true status at `t`.
    #[must_use]
    pub fn status_at(&self, t: Duration) -> TrueStatus {
        if let Some((at, end)) = self.broker_end {
            if at <= t {
                return match end {
                    BrokerEnd::Rejected => TrueStatus::Rejected,
                    _ if self.filled_qty_at(t) >= self.qty => TrueStatus::Filled,
                    BrokerEnd::Canceled => TrueStatus::Canceled,
                    BrokerEnd::Expired => TrueStatus::Expired,
                    BrokerEnd::Replaced => TrueStatus::Replaced,
                };
            }
        }
        let filled = self.filled_qty_at(t);
        if filled >= self.qty {
            return TrueStatus::Filled;
        }
        if self.cancel_effective_at.is_some_and(|at| at <= t) {
            return TrueStatus::Canceled;
        }
        if self.cancel_requested_at.is_some_and(|at| at <= t) {
            return TrueStatus::PendingCancel;
        }
        if self.links.replace_requested.is_some_and(|(at, _)| at <= t) {
            return TrueStatus::PendingReplace;
        }
        if self.links.held_until.is_some_and(|until| t < until) {
            return TrueStatus::Held;
        }
        if filled > Decimal::ZERO {
            TrueStatus::PartiallyFilled
        } else {
            TrueStatus::New
        }
    }

    /// When the order reached a terminal state, if it has by `t`.
    #[must_use]
    pub fn terminal_at(&self, t: Duration) -> Option<Duration> {
        let mut candidates = Vec::new();
        if let Some((at, _)) = self.broker_end {
            candidates.push(at);
        }
        if let Some(at) = self.cancel_effective_at {
            candidates.push(at);
        }
        if let Some(last) = self.fills.last() {
            if self.fills.iter().map(|f| f.qty).sum::<Decimal>() >= self.qty {
                candidates.push(last.at);
            }
        }
        candidates.into_iter().filter(|at| *at <= t).min()
    }

    /// Applies a cancel request that reached the broker at `now` and takes
    /// `processing` to complete: fills up to the instant it completes still
    /// happen, later ones never do.
    pub fn request_cancel(&mut self, now: Duration, processing: Duration) -> Duration {
        let effective = now.saturating_add(processing);
        self.cancel_requested_at = Some(now);
        self.cancel_effective_at = Some(effective);
        self.fills.retain(|f| fill_done_by(f.at, effective));
        effective
    }

    /// The order as the API shows it at `now`: `filled_qty`, price and
    /// stamps as of `now`, the status field as of `now - status_lag`.
    #[must_use]
    pub fn snapshot(&self, now: Duration, origin: TimeOrigin) -> Order {
        self.snapshot_with(now, now.saturating_sub(self.status_lag), true, origin)
    }

    /// The order as it truly stands at `now`: no status lag, the filled
    /// status spelt `filled`. What a trade update carries.
    #[must_use]
    pub fn true_snapshot(&self, now: Duration, origin: TimeOrigin) -> Order {
        self.snapshot_with(now, now, false, origin)
    }

    /// The order at `now` with its status as of `status_time`, the filled
    /// status in the order's own spelling when `spelled`.
    fn snapshot_with(
        &self,
        now: Duration,
        status_time: Duration,
        spelled: bool,
        origin: TimeOrigin,
    ) -> Order {
        let stamp = |t: Duration| origin.at(t);
        let raw_status = if status_time < self.accepted_at {
            "accepted"
        } else {
            match self.status_at(status_time) {
                TrueStatus::Filled if spelled => self.filled_spelling.as_str(),
                other => other.as_str(),
            }
        };
        let status = OrderStatus::parse(raw_status);
        let canceled_at = match status {
            OrderStatus::Canceled | OrderStatus::Expired => {
                self.terminal_at(status_time).map(stamp)
            }
            _ => None,
        };
        let mut updated = self.accepted_at;
        if let Some(last) = self.last_fill_at(now) {
            updated = updated.max(last);
        }
        let requests = [
            self.cancel_requested_at,
            self.links.replace_requested.map(|(at, _)| at),
            self.links.held_until,
        ];
        for at in requests.into_iter().flatten().filter(|at| *at <= now) {
            updated = updated.max(at);
        }
        Order {
            id: self.id.clone(),
            client_order_id: self.client_order_id.clone(),
            symbol: self.symbol.clone(),
            qty: self.qty,
            side: self.side,
            order_type: self.order_type,
            time_in_force: self.time_in_force,
            limit_price: self.limit_price,
            status,
            filled_qty: self.filled_qty_at(now),
            filled_avg_price: self.avg_price_at(now),
            submitted_at: Some(stamp(self.accepted_at)),
            filled_at: self.last_fill_at(now).map(stamp),
            canceled_at,
            updated_at: Some(stamp(updated)),
            extended_hours: self.extended_hours,
            // A trailing stop's stop price and mark move with the market:
            // the broker, which has it, writes them.
            stop_price: self.stop_price,
            trail: self.trail,
            hwm: None,
            order_class: self.links.class,
            legs: Vec::new(),
            replaces: self.links.replaces.clone(),
            replaced_by: self.links.replaced_by.clone(),
            notional: self.notional,
        }
    }
}

/// Every order the broker accepted, in acceptance order.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    orders: Vec<LedgerOrder>,
    by_id: IndexMap<String, usize, StableBuildHasher>,
    by_client_id: IndexMap<String, usize, StableBuildHasher>,
    /// Some order was inserted accepted before the one inserted before it:
    /// the orders are not in order of acceptance time, and a read cannot
    /// stop at the first order outside its window.
    out_of_order: bool,
}

impl Ledger {
    /// Makes room for `orders` more orders, so that a run of a known size
    /// does not grow (and copy) its tables as it goes.
    pub fn reserve(&mut self, orders: usize) {
        self.orders.reserve(orders);
        self.by_id.reserve(orders);
        self.by_client_id.reserve(orders);
    }

    /// Records an accepted order.
    pub fn insert(&mut self, order: LedgerOrder) {
        let slot = self.orders.len();
        self.out_of_order |= self
            .orders
            .last()
            .is_some_and(|last| order.accepted_at < last.accepted_at);
        self.by_id.insert(order.id.clone(), slot);
        self.by_client_id
            .insert(order.client_order_id.clone(), slot);
        self.orders.push(order);
    }

    /// Whether the orders' acceptance times never decrease along
    /// [`Ledger::orders`] (as inserted), so that a read walking them may
    /// stop at the first order outside its window of acceptance times.
    #[must_use]
    pub fn accepted_in_time_order(&self) -> bool {
        !self.out_of_order
    }

    /// Every order, in acceptance order.
    #[must_use]
    pub fn orders(&self) -> &[LedgerOrder] {
        &self.orders
    }

    /// An order by broker id.
    #[must_use]
    pub fn by_id(&self, id: &str) -> Option<&LedgerOrder> {
        self.by_id.get(id).map(|&slot| &self.orders[slot])
    }

    /// An order by broker id, to change.
    pub fn by_id_mut(&mut self, id: &str) -> Option<&mut LedgerOrder> {
        self.by_id.get(id).map(|&slot| &mut self.orders[slot])
    }

    /// An order by client order id.
    #[must_use]
    pub fn by_client_id(&self, client_order_id: &str) -> Option<&LedgerOrder> {
        self.by_client_id
            .get(client_order_id)
            .map(|&slot| &self.orders[slot])
    }

    /// Net position in `symbol` at `t`: buys minus sells filled by then.
    #[must_use]
    pub fn position_at(&self, symbol: &str, t: Duration) -> Decimal {
        self.orders
            .iter()
            .filter(|o| o.symbol == symbol)
            .map(|o| o.side.sign() * o.filled_qty_at(t))
            .sum()
    }

    /// Buying power left at `t`: `initial`, less the cost of buy fills and
    /// the reserved cost of open buys (at `reference` prices), plus the
    /// proceeds of sell fills.
    #[must_use]
    pub fn buying_power_at(
        &self,
        initial: Decimal,
        t: Duration,
        reference: impl Fn(&LedgerOrder) -> Decimal,
    ) -> Decimal {
        let mut available = initial;
        for order in &self.orders {
            let filled = order.filled_qty_at(t);
            let cost = order.fills_by(t).map(|f| f.qty * f.price).sum::<Decimal>();
            match order.side {
                Side::Buy => {
                    available -= cost;
                    if !order.status_at(t).is_terminal() {
                        available -= (order.qty - filled) * reference(order);
                    }
                }
                Side::Sell => available += cost,
            }
        }
        available
    }

    /// Net positions of every symbol traded, at `t`, in first-trade order.
    #[must_use]
    pub fn positions_at(&self, t: Duration) -> IndexMap<String, Decimal> {
        let mut positions = IndexMap::new();
        for order in &self.orders {
            *positions
                .entry(order.symbol.clone())
                .or_insert(Decimal::ZERO) += order.side.sign() * order.filled_qty_at(t);
        }
        positions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(fills: &[(u64, i64, &str)], lag_ms: u64) -> LedgerOrder {
        LedgerOrder {
            index: Some(0),
            id: "ord-0".into(),
            client_order_id: "c-0".into(),
            symbol: "QQQ".into(),
            side: Side::Buy,
            qty: Decimal::from(100),
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            limit_price: None,
            accepted_at: Duration::from_millis(100),
            fills: fills
                .iter()
                .map(|(at, qty, price)| Fill {
                    at: Duration::from_millis(*at),
                    qty: Decimal::from(*qty),
                    price: price.parse().expect("price"),
                })
                .collect(),
            broker_end: None,
            cancel_requested_at: None,
            cancel_effective_at: None,
            status_lag: Duration::from_millis(lag_ms),
            filled_spelling: "FILLED".into(),
            extended_hours: false,
            stop_price: None,
            trail: None,
            triggered_at: None,
            notional: None,
            links: Default::default(),
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// The ledger knows whether its orders are in order of acceptance
    /// time (a list read may then stop at its window's far end), and stops
    /// claiming it once one is inserted out of order.
    #[test]
    fn the_ledger_knows_when_its_orders_are_out_of_time_order() {
        let accepted = |n: usize, at: u64| LedgerOrder {
            id: format!("ord-{n}"),
            client_order_id: format!("c-{n}"),
            accepted_at: ms(at),
            ..order(&[], 0)
        };
        let mut ledger = Ledger::default();
        for (n, at) in [(0, 100), (1, 100), (2, 250)] {
            ledger.insert(accepted(n, at));
        }
        assert!(
            ledger.accepted_in_time_order(),
            "equal times keep the order"
        );
        ledger.insert(accepted(3, 200));
        assert!(!ledger.accepted_in_time_order());
        ledger.insert(accepted(4, 300));
        assert!(
            !ledger.accepted_in_time_order(),
            "once out of order, always"
        );
    }

    /// With a status lag, a read between the fill and the catch-up shows the
    /// whole quantity filled while the status still reads not filled.
    #[test]
    fn status_lags_filled_qty() {
        let o = order(&[(1_300, 100, "512.35")], 70_000);
        let between = o.snapshot(ms(5_000), TimeOrigin::new(0));
        assert_eq!(between.filled_qty, Decimal::from(100));
        assert_eq!(between.status, OrderStatus::Accepted);
        assert!(between.filled_at.is_some());
        let after = o.snapshot(ms(71_400), TimeOrigin::new(0));
        assert_eq!(after.status, OrderStatus::Filled);
    }

    /// Partial fills show partially_filled with the VWAP of the pieces.
    #[test]
    fn partial_fills_average_their_prices() {
        let o = order(&[(200, 40, "10"), (400, 60, "20")], 0);
        let s = o.snapshot(ms(300), TimeOrigin::new(0));
        assert_eq!(s.status, OrderStatus::PartiallyFilled);
        assert_eq!(s.filled_qty, Decimal::from(40));
        let s = o.snapshot(ms(500), TimeOrigin::new(0));
        assert_eq!(s.status, OrderStatus::Filled);
        assert_eq!(s.filled_avg_price, Some(Decimal::from(16)));
    }

    /// A cancel keeps fills before it takes effect and drops later ones.
    #[test]
    fn cancel_processing_lets_earlier_fills_win() {
        let mut o = order(&[(1_000, 40, "10"), (3_000, 60, "10")], 0);
        o.request_cancel(ms(500), ms(2_000));
        assert_eq!(o.status_at(ms(600)), TrueStatus::PendingCancel);
        assert_eq!(o.status_at(ms(2_600)), TrueStatus::Canceled);
        assert_eq!(o.filled_qty_at(ms(10_000)), Decimal::from(40));

        let mut o = order(&[(1_000, 100, "10")], 0);
        o.request_cancel(ms(500), ms(2_000));
        assert_eq!(o.status_at(ms(5_000)), TrueStatus::Filled);
    }

    /// A fill a read has shown survives a cancel that takes effect at the
    /// same instant: the read at t shows partially_filled/40, a cancel at t
    /// with no processing time keeps those 40, and the order ends canceled
    /// with 40 filled, never canceled with 0.
    #[test]
    fn cancel_at_the_instant_of_a_fill_keeps_it() {
        let mut o = order(&[(1_000, 40, "10"), (3_000, 60, "10")], 0);
        let read = o.snapshot(ms(1_000), TimeOrigin::new(0));
        assert_eq!(read.status, OrderStatus::PartiallyFilled);
        assert_eq!(read.filled_qty, Decimal::from(40));
        o.request_cancel(ms(1_000), Duration::ZERO);
        assert_eq!(o.filled_qty_at(ms(10_000)), Decimal::from(40));
        assert_eq!(
            o.snapshot(ms(1_000), TimeOrigin::new(0)).filled_qty,
            Decimal::from(40)
        );
        assert_eq!(o.status_at(ms(10_000)), TrueStatus::Canceled);

        // With processing time, the fill landing exactly when the cancel
        // completes is kept too.
        let mut o = order(&[(1_000, 40, "10"), (3_000, 60, "10")], 0);
        o.request_cancel(ms(500), ms(2_500));
        assert_eq!(o.filled_qty_at(ms(10_000)), Decimal::from(100));
        assert_eq!(o.status_at(ms(10_000)), TrueStatus::Filled);
    }

    /// Positions net buys against sells.
    #[test]
    fn positions_net_sides() {
        let mut ledger = Ledger::default();
        ledger.insert(order(&[(100, 100, "1")], 0));
        let mut sell = order(&[(100, 100, "1")], 0);
        sell.id = "ord-1".into();
        sell.client_order_id = "c-1".into();
        sell.side = Side::Sell;
        sell.qty = Decimal::from(100);
        sell.fills[0].qty = Decimal::from(30);
        ledger.insert(sell);
        assert_eq!(ledger.position_at("QQQ", ms(1_000)), Decimal::from(70));
        assert_eq!(ledger.position_at("QQQ", ms(50)), Decimal::ZERO);
    }
}
