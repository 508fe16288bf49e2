//! A trading signal: what a trader wants done, and the order it asks the
//! broker for.

use rust_decimal::Decimal;

use crate::port::{OrderRequest, OrderType, Side, TimeInForce};

/// A trading signal: what a trader wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Deterministic id of this intent; becomes the order's
    /// `client_order_id`, so a retry can never place a second order.
    pub client_order_id: String,
    /// Who wants it.
    pub trader_id: String,
    /// The instrument.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Quantity, positive.
    pub qty: Decimal,
    /// Limit price; `None` for a market order.
    pub limit_price: Option<Decimal>,
    /// Protective stop, checked to be on the losing side of the reference
    /// price. Validated and recorded; the broker port places no bracket
    /// orders, so it is not sent.
    pub stop_loss: Option<Decimal>,
    /// Profit target, checked to be on the winning side of the reference
    /// price. Validated and recorded, not sent.
    pub take_profit: Option<Decimal>,
    /// How long the order works: `day` unless the trader says otherwise.
    pub time_in_force: TimeInForce,
    /// May trade in the pre- and after-hours sessions (a limit `day`
    /// order only, as brokers require).
    pub extended_hours: bool,
}

impl Signal {
    /// The order the signal asks the broker for, in its time in force:
    /// limit when it has a limit price, market otherwise.
    #[must_use]
    pub fn request(&self) -> OrderRequest {
        OrderRequest {
            client_order_id: self.client_order_id.clone(),
            symbol: self.symbol.clone(),
            qty: self.qty,
            side: self.side,
            order_type: if self.limit_price.is_some() {
                OrderType::Limit
            } else {
                OrderType::Market
            },
            time_in_force: self.time_in_force,
            limit_price: self.limit_price,
            extended_hours: self.extended_hours,
            stop_price: None,
            trail: None,
            order_class: crate::port::OrderClass::Simple,
            take_profit: None,
            stop_loss: None,
        }
    }
}
