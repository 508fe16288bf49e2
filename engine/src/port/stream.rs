//! The trade-updates port: a broker's push stream of order events (Alpaca's
//! `trade_updates` websocket), beside the [`Broker`](crate::Broker) REST
//! port. The router that hands each order's events to the task watching
//! it is detection's (`detect/router.rs`).
//!
//! A stream is fast but not a ledger: events arrive late, twice, out of
//! order or not at all, and a reconnect loses whatever happened while the
//! connection was down. The engine therefore takes stream events as
//! observations of the order (each carries the order as the broker holds
//! it, with its cumulative filled quantity, so a duplicate or a reordered
//! event can never count a fill twice or shrink one), keeps a slow REST
//! poll for orders the stream has gone quiet on, and reads every open
//! order over REST after a reconnect.

use std::sync::Arc;

use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::port::{Order, Timestamp};

/// What happened to an order, as a trade update names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeEvent {
    /// The order was routed to the exchange.
    New,
    /// Part of the order filled.
    PartialFill,
    /// The order filled completely.
    Fill,
    /// A cancel is being processed.
    PendingCancel,
    /// The order was canceled.
    Canceled,
    /// The order was rejected.
    Rejected,
    /// The order expired.
    Expired,
    /// A replace is being processed.
    PendingReplace,
    /// The order was replaced by another.
    Replaced,
    /// A replace was refused (the order filled, or ended, first).
    ReplaceRejected,
    /// A cancel was refused.
    CancelRejected,
    /// Accepted, not yet routed (the market is closed to it).
    Accepted,
    /// Received, not yet accepted (a replacement waiting for its replace).
    PendingNew,
    /// Done for the day: it works again at the next session.
    DoneForDay,
    /// Any other event, as the broker spells it.
    Other(String),
}

impl TradeEvent {
    /// The event's name on the wire (`partial_fill`, `fill`, ...).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::New => "new",
            Self::PartialFill => "partial_fill",
            Self::Fill => "fill",
            Self::PendingCancel => "pending_cancel",
            Self::Canceled => "canceled",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::PendingReplace => "pending_replace",
            Self::Replaced => "replaced",
            Self::ReplaceRejected => "order_replace_rejected",
            Self::CancelRejected => "order_cancel_rejected",
            Self::Accepted => "accepted",
            Self::PendingNew => "pending_new",
            Self::DoneForDay => "done_for_day",
            Self::Other(name) => name,
        }
    }

    /// The event named `name` on the wire.
    #[must_use]
    pub fn parse(name: &str) -> Self {
        match name {
            "new" => Self::New,
            "partial_fill" => Self::PartialFill,
            "fill" => Self::Fill,
            "pending_cancel" => Self::PendingCancel,
            "canceled" => Self::Canceled,
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            "pending_replace" => Self::PendingReplace,
            "replaced" => Self::Replaced,
            "order_replace_rejected" => Self::ReplaceRejected,
            "order_cancel_rejected" => Self::CancelRejected,
            "accepted" => Self::Accepted,
            "pending_new" => Self::PendingNew,
            "done_for_day" => Self::DoneForDay,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One trade update: the event and the order as the broker held it then.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeUpdate {
    /// What happened.
    pub event: TradeEvent,
    /// The order after the event, with its cumulative filled quantity.
    pub order: Order,
    /// The execution's id, for fill events: the same execution delivered
    /// twice carries the same id.
    pub execution_id: Option<String>,
    /// This execution's quantity, for fill events.
    pub qty: Option<Decimal>,
    /// This execution's price, for fill events.
    pub price: Option<Decimal>,
    /// The account's position in the symbol after the execution.
    pub position_qty: Option<Decimal>,
    /// When the event happened at the broker.
    pub at: Timestamp,
}

/// What a trade-updates subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// An event.
    Update(Box<TradeUpdate>),
    /// The connection dropped and is back: events in between may be lost
    /// (the broker does not replay them), so every open order must be read
    /// over REST before the stream is trusted again.
    Reconnected,
}

/// A broker's trade-updates stream. A websocket client implements it by
/// reading frames in a task of its own and sending them on the channel.
pub trait TradeUpdates: Send + Sync {
    /// A new subscription: every item from now on, in delivery order.
    fn subscribe(&self) -> mpsc::UnboundedReceiver<StreamItem>;
}

impl<T: TradeUpdates + ?Sized> TradeUpdates for Arc<T> {
    fn subscribe(&self) -> mpsc::UnboundedReceiver<StreamItem> {
        (**self).subscribe()
    }
}
