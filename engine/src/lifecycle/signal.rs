//! A trading signal: what a trader wants done, and the order it asks the
//! broker for.

use rust_decimal::Decimal;

use crate::port::{OrderClass, OrderRequest, OrderType, Side, StopLoss, TimeInForce, Trail};

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
    /// Stop price: the order waits until the market trades at or through
    /// it (at or above for a buy, at or below for a sell), then trades as
    /// a market order, or as a limit order when it has a limit price (a
    /// stop limit).
    pub stop_price: Option<Decimal>,
    /// Trail of a trailing stop: its stop follows the best price since it
    /// was placed by this much (a price, or a percent of it).
    pub trail: Option<Trail>,
}

impl Signal {
    /// True when the signal carries a stop loss or a take profit: its
    /// order is a bracket (both) or an OTO (one), with exit legs.
    #[must_use]
    pub fn has_exits(&self) -> bool {
        self.stop_loss.is_some() || self.take_profit.is_some()
    }

    /// The order's type: a trailing stop when it has a trail; a stop
    /// limit with a stop and a limit price; a stop with a stop price; a
    /// limit with a limit price; a market order otherwise.
    #[must_use]
    pub fn order_type(&self) -> OrderType {
        match (self.trail, self.stop_price, self.limit_price) {
            (Some(_), _, _) => OrderType::TrailingStop,
            (None, Some(_), Some(_)) => OrderType::StopLimit,
            (None, Some(_), None) => OrderType::Stop,
            (None, None, Some(_)) => OrderType::Limit,
            (None, None, None) => OrderType::Market,
        }
    }

    /// The price the engine measures the order's slippage from, given
    /// the market's `reference` price when it is sent: a stop's stop
    /// (what it gives up past its stop is its slippage), the market's
    /// price for a market or limit order. `None` for a trailing stop: its
    /// stop is not known until it triggers.
    #[must_use]
    pub fn expected_price(&self, reference: Decimal) -> Option<Decimal> {
        match self.order_type() {
            OrderType::TrailingStop => None,
            OrderType::Stop | OrderType::StopLimit => self.stop_price,
            _ => Some(reference),
        }
    }

    /// The most a share may cost as far as the engine can tell when it is
    /// sent, for the buying power a buy sets aside: its limit; a stop's
    /// stop; a trailing stop's first stop (the reference price and its
    /// trail); the `reference` price for a market order.
    #[must_use]
    pub fn unit_cost(&self, reference: Decimal) -> Decimal {
        if let Some(limit) = self.limit_price {
            return limit;
        }
        if let Some(stop) = self.stop_price {
            return stop;
        }
        match self.trail {
            Some(Trail::Price(amount)) => reference.saturating_add(amount),
            Some(Trail::Percent(pct)) => {
                reference.saturating_add(reference.saturating_mul(pct) / Decimal::from(100))
            }
            None => reference,
        }
    }

    /// The order the signal asks the broker for, in its time in force, of
    /// its [`Signal::order_type`]; a bracket when it carries both a stop
    /// loss and a take profit, an OTO with one.
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
            order_type: self.order_type(),
            time_in_force: self.time_in_force,
            limit_price: self.limit_price,
            extended_hours: self.extended_hours,
            stop_price: self.stop_price,
            trail: self.trail,
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
