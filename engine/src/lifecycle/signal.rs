//! A trading signal: what a trader wants done, and the order it asks the
//! broker for.

use rust_decimal::Decimal;

use crate::port::{OrderClass, OrderRequest, OrderType, Side, StopLoss, TimeInForce};

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
    /// price; sent as the stop-loss leg of a bracket (with a take profit)
    /// or an OTO (alone).
    pub stop_loss: Option<Decimal>,
    /// Profit target, checked to be on the winning side of the reference
    /// price; sent as the take-profit leg of a bracket or an OTO.
    pub take_profit: Option<Decimal>,
    /// How long the order works: `day` unless the trader says otherwise.
    pub time_in_force: TimeInForce,
    /// May trade in the pre- and after-hours sessions (a limit `day`
    /// order only, as brokers require).
    pub extended_hours: bool,
}

impl Signal {
    /// True when the signal carries a stop loss or a take profit: its
    /// order is a bracket (both) or an OTO (one), with exit legs.
    #[must_use]
    pub fn has_exits(&self) -> bool {
        self.stop_loss.is_some() || self.take_profit.is_some()
    }

    /// The order the signal asks the broker for, in its time in force:
    /// limit when it has a limit price, market otherwise; a bracket when
    /// it carries both a stop loss and a take profit, an OTO with one.
    #[must_use]
    pub fn request(&self) -> OrderRequest {
        let order_class = match (self.stop_loss, self.take_profit) {
            (Some(_), Some(_)) => OrderClass::Bracket,
            (None, None) => OrderClass::Simple,
            _ => OrderClass::Oto,
        };
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
            order_class,
            take_profit: self.take_profit,
            stop_loss: self.stop_loss.map(|stop_price| StopLoss {
                stop_price,
                limit_price: None,
            }),
            notional: None,
        }
    }
}
