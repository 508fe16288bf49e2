//! The trade-updates port: a broker's push stream of order events (Alpaca's
//! `trade_updates` websocket), beside the [`Broker`](crate::Broker) REST
//! port, and the router that hands each order's events to the task
//! watching it.
//!
//! A stream is fast but not a ledger: events arrive late, twice, out of
//! order or not at all, and a reconnect loses whatever happened while the
//! connection was down. The engine therefore takes stream events as
//! observations of the order (each carries the order as the broker holds
//! it, with its cumulative filled quantity, so a duplicate or a reordered
//! event can never count a fill twice or shrink one), keeps a slow REST
//! poll for orders the stream has gone quiet on, and reads every open
//! order over REST after a reconnect.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

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

/// What the router hands a watching task.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderSignal {
    /// An event of this order.
    Update(Box<TradeUpdate>),
    /// The stream reconnected after a gap: read the order over REST.
    Gap,
}

// Ordered by client order id, so a reconnect wakes the watching tasks in
// the same order on every run.
type Routes = Arc<Mutex<BTreeMap<String, mpsc::UnboundedSender<OrderSignal>>>>;

/// Hands each order's events to the task watching it, by
/// `client_order_id`; events of orders nobody watches are dropped.
#[derive(Clone, Default)]
pub struct StreamRouter {
    routes: Routes,
}

/// An order's subscription at the router; dropping it unsubscribes.
pub struct Route {
    routes: Routes,
    client_order_id: String,
    /// The order's signals.
    pub signals: mpsc::UnboundedReceiver<OrderSignal>,
}

impl Drop for Route {
    fn drop(&mut self) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.client_order_id);
    }
}

impl StreamRouter {
    /// A router fed by `source`, in a task on the current runtime; the task
    /// ends when the source closes.
    #[must_use]
    pub fn start(source: &dyn TradeUpdates) -> Self {
        let router = Self::default();
        let mut items = source.subscribe();
        let routes = Arc::clone(&router.routes);
        tokio::spawn(async move {
            while let Some(item) = items.recv().await {
                route(&routes, item);
            }
        });
        router
    }

    /// Subscribes the order `client_order_id`, before it is submitted so
    /// that no event of it is missed.
    #[must_use]
    pub fn register(&self, client_order_id: &str) -> Route {
        let (sender, signals) = mpsc::unbounded_channel();
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(client_order_id.to_owned(), sender);
        Route {
            routes: Arc::clone(&self.routes),
            client_order_id: client_order_id.to_owned(),
            signals,
        }
    }
}

fn route(routes: &Routes, item: StreamItem) {
    let routes = routes.lock().unwrap_or_else(PoisonError::into_inner);
    match item {
        StreamItem::Update(update) => {
            if let Some(sender) = routes.get(&update.order.client_order_id) {
                let _ = sender.send(OrderSignal::Update(update));
            }
        }
        StreamItem::Reconnected => {
            for sender in routes.values() {
                let _ = sender.send(OrderSignal::Gap);
            }
        }
    }
}
