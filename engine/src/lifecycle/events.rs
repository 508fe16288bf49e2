//! The executor's event stream: one [`OrderEvent`] per status change of an
//! order, for a UI or a logger.

use rust_decimal::Decimal;

use crate::port::Timestamp;

/// Where an order is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Passed the checks; recorded; about to be sent.
    Pending,
    /// The broker holds it.
    Submitted,
    /// The broker reported a change (status or filled quantity).
    Working,
    /// Done: filled.
    Filled,
    /// Done: partly filled, the rest canceled.
    PartiallyFilled,
    /// Done: confirmed not filled.
    NotFilled,
    /// Refused before sending, or rejected by the broker.
    Rejected,
    /// Submission failed or monitoring could not confirm an outcome.
    Failed,
}

/// One status change, for a UI or a logger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// The intent's id.
    pub client_order_id: String,
    /// Whose order.
    pub trader_id: String,
    /// Instrument.
    pub symbol: String,
    /// The broker's id, once known.
    pub order_id: Option<String>,
    /// The new state.
    pub state: OrderState,
    /// The broker's status, when the change came from the broker.
    pub broker_status: Option<String>,
    /// Filled quantity.
    pub filled_qty: Decimal,
    /// Average fill price.
    pub avg_price: Option<Decimal>,
    /// When (the broker's stamp for broker changes).
    pub at: Timestamp,
    /// Why the order ended as it did, on the last event (the verdict's
    /// reason: a slippage control's cancel says so here).
    pub reason: Option<String>,
}
