//! Multi-method fill verification: what one order snapshot proves.
//!
//! Four fields can speak of a fill: `status`, `filled_qty`,
//! `filled_avg_price` and `filled_at`. Only the first two can prove that the
//! whole quantity filled. A positive price or a fill stamp is also present
//! on a partial fill, so they corroborate and raise confidence but never make
//! a full fill on their own.

use std::fmt;

use rust_decimal::Decimal;

use crate::port::{Order, OrderStatus, Timestamp};

/// How much of the order a snapshot shows filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillState {
    /// Nothing filled.
    None,
    /// Some but not all of the quantity filled.
    Partial,
    /// The whole quantity filled.
    Full,
}

/// Which verification methods saw a fill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Methods {
    /// `status` reads filled, in any spelling.
    pub status: bool,
    /// `filled_qty >= qty`.
    pub filled_qty: bool,
    /// `filled_avg_price > 0`.
    pub avg_price: bool,
    /// `filled_at` is set.
    pub filled_at: bool,
    /// The broker refused a cancel because the order was already filled.
    pub cancel_refused_as_filled: bool,
}

impl Methods {
    /// True when no method saw a fill.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Methods seen here or in `other`.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self {
            status: self.status || other.status,
            filled_qty: self.filled_qty || other.filled_qty,
            avg_price: self.avg_price || other.avg_price,
            filled_at: self.filled_at || other.filled_at,
            cancel_refused_as_filled: self.cancel_refused_as_filled
                || other.cancel_refused_as_filled,
        }
    }

    /// A confidence score in 0..=1: the weights of the methods that saw the
    /// fill. The two that prove a full fill weigh 0.35 each, the two that
    /// corroborate 0.15 each; a cancel refused as "already filled" is the
    /// broker's own word and weighs 0.35.
    #[must_use]
    pub fn confidence(&self) -> f64 {
        let weights = [
            (self.status, 0.35),
            (self.filled_qty, 0.35),
            (self.avg_price, 0.15),
            (self.filled_at, 0.15),
            (self.cancel_refused_as_filled, 0.35),
        ];
        let total: f64 = weights
            .iter()
            .filter(|(seen, _)| *seen)
            .map(|(_, w)| w)
            .sum();
        total.min(1.0)
    }
}

impl fmt::Display for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.status, "status"),
            (self.filled_qty, "filled_qty"),
            (self.avg_price, "avg_price"),
            (self.filled_at, "filled_at"),
            (self.cancel_refused_as_filled, "cancel_refused_as_filled"),
        ];
        let mut first = true;
        for (seen, name) in names {
            if seen {
                if !first {
                    f.write_str("+")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// What one snapshot proves.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// How much filled.
    pub state: FillState,
    /// Which methods saw a fill.
    pub methods: Methods,
    /// The quantity the snapshot shows filled. When `status` proves a full
    /// fill while `filled_qty` lags, this is the ordered quantity.
    pub filled_qty: Decimal,
    /// The average fill price, when positive.
    pub avg_price: Option<Decimal>,
    /// The fill stamp, when set.
    pub filled_at: Option<Timestamp>,
}

/// Decides what an order snapshot proves. The engine uses
/// [`RobustVerifier`]; a harness can plug in others to show what their rules
/// get wrong.
pub trait FillVerifier: Send + Sync {
    /// What `order` proves.
    fn verify(&self, order: &Order) -> Verification;
}

/// The engine's verifier: a full fill needs `status` filled (any spelling)
/// or `filled_qty >= qty`; price and stamp only corroborate.
#[derive(Debug, Clone, Copy, Default)]
pub struct RobustVerifier;

impl RobustVerifier {
    /// Which of the four fields see a fill, whatever they prove together.
    #[must_use]
    pub fn methods(order: &Order) -> Methods {
        Methods {
            status: order.status == OrderStatus::Filled,
            filled_qty: order.qty > Decimal::ZERO && order.filled_qty >= order.qty,
            avg_price: order
                .filled_avg_price
                .is_some_and(|price| price > Decimal::ZERO),
            filled_at: order.filled_at.is_some(),
            cancel_refused_as_filled: false,
        }
    }
}

impl FillVerifier for RobustVerifier {
    fn verify(&self, order: &Order) -> Verification {
        let methods = Self::methods(order);
        let (state, filled_qty) = if methods.status || methods.filled_qty {
            (FillState::Full, order.filled_qty.max(order.qty))
        } else if order.filled_qty > Decimal::ZERO {
            (FillState::Partial, order.filled_qty)
        } else {
            (FillState::None, Decimal::ZERO)
        };
        Verification {
            state,
            methods,
            filled_qty,
            avg_price: order
                .filled_avg_price
                .filter(|price| *price > Decimal::ZERO),
            filled_at: order.filled_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::{OrderType, Side, TimeInForce};

    fn order(status: &str, qty: i64, filled: i64, price: Option<&str>, stamped: bool) -> Order {
        Order {
            id: "o-1".into(),
            client_order_id: "c-1".into(),
            symbol: "QQQ".into(),
            qty: Decimal::from(qty),
            side: Side::Buy,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            limit_price: None,
            status: OrderStatus::parse(status),
            filled_qty: Decimal::from(filled),
            filled_avg_price: price.map(|p| p.parse().expect("test price")),
            submitted_at: None,
            filled_at: stamped.then_some(Timestamp::from_unix_micros(1)),
            canceled_at: None,
            updated_at: None,
            extended_hours: false,
            stop_price: None,
            trail: None,
            hwm: None,
            order_class: crate::port::OrderClass::Simple,
            legs: Vec::new(),
            replaces: None,
            replaced_by: None,
            notional: None,
        }
    }

    /// The status method proves a full fill in every spelling, even with
    /// `filled_qty` lagging at zero.
    #[test]
    fn status_proves_full_fill_in_every_spelling() {
        for spelling in ["filled", "FILLED", "OrderStatus.FILLED", "fill"] {
            let v = RobustVerifier.verify(&order(spelling, 46, 0, None, false));
            assert_eq!(v.state, FillState::Full, "{spelling}");
            assert!(v.methods.status, "{spelling}");
            assert_eq!(v.filled_qty, Decimal::from(46), "{spelling}");
        }
    }

    /// `filled_qty` proves a full fill while the status still lags.
    #[test]
    fn filled_qty_proves_full_fill_under_status_lag() {
        let v = RobustVerifier.verify(&order("accepted", 46, 46, Some("512.35"), true));
        assert_eq!(v.state, FillState::Full);
        assert_eq!(v.methods.to_string(), "filled_qty+avg_price+filled_at");
        assert!((v.methods.confidence() - 0.65).abs() < 1e-9);
        assert_eq!(v.avg_price, Some("512.35".parse().expect("price")));
    }

    /// A partial fill has a positive price and a stamp, but it is not a full
    /// fill: the corroborating methods never make one alone.
    #[test]
    fn partial_fill_with_positive_price_is_not_full() {
        let v = RobustVerifier.verify(&order("partially_filled", 100, 40, Some("590.1"), true));
        assert_eq!(v.state, FillState::Partial);
        assert_eq!(v.filled_qty, Decimal::from(40));
        assert!(!v.methods.status);
        assert!(!v.methods.filled_qty);
        assert!(v.methods.avg_price);
        assert!(v.methods.filled_at);

        // Even with the status field lagging at "accepted".
        let v = RobustVerifier.verify(&order("accepted", 100, 40, Some("590.1"), true));
        assert_eq!(v.state, FillState::Partial);
    }

    /// Nothing filled is nothing, and an unknown status proves nothing.
    #[test]
    fn unfilled_and_unknown_status_prove_nothing() {
        let v = RobustVerifier.verify(&order("new", 10, 0, None, false));
        assert_eq!(v.state, FillState::None);
        assert!(v.methods.is_empty());
        assert_eq!(v.methods.to_string(), "none");
        assert_eq!(v.methods.confidence(), 0.0);
        let v = RobustVerifier.verify(&order("fully_executed", 10, 0, None, false));
        assert_eq!(v.state, FillState::None);
    }

    /// A price of zero is no evidence of a fill, and an order of zero
    /// quantity (a broker sending garbage) never reads as filled through
    /// `filled_qty >= qty`.
    #[test]
    fn zero_price_and_zero_quantity_prove_nothing() {
        let v = RobustVerifier.verify(&order("new", 10, 0, Some("0"), false));
        assert!(!v.methods.avg_price);
        assert_eq!(v.avg_price, None);
        let v = RobustVerifier.verify(&order("new", 0, 0, None, false));
        assert!(!v.methods.filled_qty);
        assert_eq!(v.state, FillState::None);
    }

    /// A union holds every method either side saw; only the empty set is
    /// empty.
    #[test]
    fn union_keeps_every_method_and_is_empty_only_when_none() {
        let one = |set: fn(&mut Methods)| {
            let mut m = Methods::default();
            set(&mut m);
            m
        };
        let setters: [fn(&mut Methods); 5] = [
            |m| m.status = true,
            |m| m.filled_qty = true,
            |m| m.avg_price = true,
            |m| m.filled_at = true,
            |m| m.cancel_refused_as_filled = true,
        ];
        for set in setters {
            let m = one(set);
            assert!(!m.is_empty());
            assert_eq!(m.union(Methods::default()), m);
            assert_eq!(Methods::default().union(m), m);
        }
        assert!(Methods::default().is_empty());
    }

    /// All four methods together give full confidence.
    #[test]
    fn all_methods_give_full_confidence() {
        let v = RobustVerifier.verify(&order("filled", 10, 10, Some("1"), true));
        assert_eq!(v.methods.confidence(), 1.0);
    }
}
