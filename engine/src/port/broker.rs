//! The broker port: the only way the engine reaches the outside world.
//!
//! A real broker's REST client implements it; so does the simulator. The
//! engine never knows which one it has.

use std::future::Future;
use std::sync::Arc;

use std::time::Duration;

use crate::port::BrokerError;
use crate::port::{ActivityQuery, FillActivity, OrderQuery};
use crate::port::{Order, OrderRequest, Position, ReplaceRequest};

/// The rate-limit state a broker reports with its answers (Alpaca sends
/// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` on
/// every response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitState {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in this window.
    pub remaining: u32,
    /// How long until the window resets (for Alpaca, the `Reset` epoch
    /// second less the time of the answer).
    pub reset_in: Duration,
}

/// A broker's order API.
///
/// Every call may fail with any [`BrokerError`]; the engine classifies and
/// recovers. Futures are `Send` so that each order can be monitored in its
/// own task on any runtime.
pub trait Broker: Send + Sync {
    /// Places an order. The broker must refuse a second order with a
    /// `client_order_id` it has seen (422).
    fn submit_order(
        &self,
        request: &OrderRequest,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send;

    /// Reads an order by the broker's id.
    fn get_order(&self, order_id: &str) -> impl Future<Output = Result<Order, BrokerError>> + Send;

    /// Reads an order by the engine's `client_order_id`.
    fn get_order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send;

    /// Asks the broker to cancel an order. Success means the request was
    /// accepted, not that the order is canceled: a fill can still land.
    fn cancel_order(&self, order_id: &str) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Reads the position in one symbol; `None` when flat.
    fn get_position(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Option<Position>, BrokerError>> + Send;

    /// Replaces the working order `order_id` with a new one carrying
    /// `replace`'s changes; answers the new order. A success does not mean
    /// the old order was replaced: if it filled first, the new order is
    /// rejected (`order_replace_rejected` on the stream).
    fn replace_order(
        &self,
        order_id: &str,
        replace: &ReplaceRequest,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send;

    /// Reads the orders `query` selects, in one call: one page of at most
    /// `query.limit`. A broker that serves no list read answers
    /// [`BrokerError::NotFound`], as a server without the route does; the
    /// engine then reads each order on its own.
    fn list_orders(
        &self,
        query: &OrderQuery,
    ) -> impl Future<Output = Result<Vec<Order>, BrokerError>> + Send {
        let _ = query;
        std::future::ready(Err(BrokerError::NotFound {
            message: "this broker serves no order list".into(),
        }))
    }

    /// Reads one page of the account's fill activities, one record per
    /// execution. A broker that serves none answers
    /// [`BrokerError::NotFound`]; the engine then books a fill at the
    /// order's average price.
    fn fill_activities(
        &self,
        query: &ActivityQuery,
    ) -> impl Future<Output = Result<Vec<FillActivity>, BrokerError>> + Send {
        let _ = query;
        std::future::ready(Err(BrokerError::NotFound {
            message: "this broker serves no fill activities".into(),
        }))
    }

    /// The rate-limit state reported with the latest answer, when the broker
    /// reports one: a REST adapter keeps the headers of its latest response.
    /// The engine's call budget learns from it.
    fn rate_limit_state(&self) -> Option<RateLimitState> {
        None
    }
}

impl<B: Broker + ?Sized> Broker for Arc<B> {
    fn submit_order(
        &self,
        request: &OrderRequest,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send {
        (**self).submit_order(request)
    }

    fn get_order(&self, order_id: &str) -> impl Future<Output = Result<Order, BrokerError>> + Send {
        (**self).get_order(order_id)
    }

    fn get_order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send {
        (**self).get_order_by_client_id(client_order_id)
    }

    fn cancel_order(&self, order_id: &str) -> impl Future<Output = Result<(), BrokerError>> + Send {
        (**self).cancel_order(order_id)
    }

    fn replace_order(
        &self,
        order_id: &str,
        replace: &ReplaceRequest,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send {
        (**self).replace_order(order_id, replace)
    }

    fn get_position(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Option<Position>, BrokerError>> + Send {
        (**self).get_position(symbol)
    }

    fn list_orders(
        &self,
        query: &OrderQuery,
    ) -> impl Future<Output = Result<Vec<Order>, BrokerError>> + Send {
        (**self).list_orders(query)
    }

    fn fill_activities(
        &self,
        query: &ActivityQuery,
    ) -> impl Future<Output = Result<Vec<FillActivity>, BrokerError>> + Send {
        (**self).fill_activities(query)
    }

    fn rate_limit_state(&self) -> Option<RateLimitState> {
        (**self).rate_limit_state()
    }
}
