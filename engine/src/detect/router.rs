//! The trade-updates router: hands each order's events from a
//! [`TradeUpdates`] stream to the task watching that order, by
//! `client_order_id`, and a reconnect to every one of them. A [`Route`]
//! is also how the batched reads (`batch.rs`) reach a watching task.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::detect::Execution;
use crate::detect::batch::Desk;
use crate::port::{Order, StreamItem, TradeUpdate, TradeUpdates};

/// What the router hands a watching task.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderSignal {
    /// An event of this order.
    Update(Box<TradeUpdate>),
    /// The stream reconnected after a gap: read the order over REST.
    Gap,
    /// The order as a list read showed it.
    Snapshot(Box<Order>),
    /// One of the order's executions, from the fill activities.
    Execution(Execution),
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

/// An order's subscription at the router, at the batched reads' desk, or
/// both (a stream-first watch that shares the desk's list reads);
/// dropping it unsubscribes.
pub struct Route {
    stream: Option<Routes>,
    desk: Option<Arc<Desk>>,
    /// True when the desk, not the stream, brings the order's news.
    batched: bool,
    client_order_id: String,
    /// The order's signals.
    pub signals: mpsc::UnboundedReceiver<OrderSignal>,
}

impl Route {
    /// A subscription at the batched reads' desk.
    pub(crate) fn batched(
        desk: Arc<Desk>,
        client_order_id: &str,
        signals: mpsc::UnboundedReceiver<OrderSignal>,
    ) -> Self {
        Self {
            stream: None,
            desk: Some(desk),
            batched: true,
            client_order_id: client_order_id.to_owned(),
            signals,
        }
    }

    /// This stream subscription, its reads after a reconnect and its
    /// safety reads shared through `desk`.
    pub(crate) fn sharing_reads(mut self, desk: Arc<Desk>) -> Self {
        desk.enter(&self.client_order_id, None);
        self.desk = Some(desk);
        self
    }

    /// True when the route brings the order's executions from the fill
    /// activities: a fill it shows is worth waiting on for its pieces.
    pub(crate) fn brings_executions(&self) -> bool {
        self.batched
    }

    /// The desk a stream-first watch shares its reads through.
    pub(crate) fn shared_reads(&self) -> Option<&Arc<Desk>> {
        self.desk.as_ref().filter(|_| !self.batched)
    }

    /// The watch read a fill of `order` itself and waits for its
    /// executions: the desk's next turn reads them.
    pub(crate) fn want_executions(&self, order: &Order) {
        if let Some(desk) = self.desk.as_ref().filter(|_| self.batched) {
            desk.want_executions(&self.client_order_id, order);
        }
    }

    /// The order is watched now, as `order` shows it: the desk's reads
    /// cover it from its submission on.
    pub(crate) fn watching(&self, order: &Order) {
        if let Some(desk) = &self.desk {
            desk.watching(&self.client_order_id, order);
        }
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        if let Some(routes) = &self.stream {
            routes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.client_order_id);
        }
        if let Some(desk) = &self.desk {
            desk.leave(&self.client_order_id);
        }
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
            stream: Some(Arc::clone(&self.routes)),
            desk: None,
            batched: false,
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
