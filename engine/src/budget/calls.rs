//! The call-budget boundary: the broker as the engine calls it. A call
//! either reaches the broker (and ends with its answer or a
//! [`BrokerError`]) or is never sent, because the call budget had no turn
//! for it in time ([`CallError::NotSent`]).
//!
//! The [`Broker`] port stays a broker's: "not sent" is not something a
//! broker can answer, so it is not a [`BrokerError`]. Every [`Broker`] is
//! [`BrokerCalls`] whose calls are always sent; a
//! [`RateLimitedBroker`](crate::budget::RateLimitedBroker) is the one whose
//! routine polls and submissions may not be. Lookups, cancels and position
//! reads settle orders, so they always wait for a turn and return a plain
//! [`BrokerError`], as do replaces.

use std::future::Future;
use std::time::Duration;

use thiserror::Error;

use crate::port::{ActivityQuery, FillActivity, OrderQuery};
use crate::port::{Broker, BrokerError, Order, OrderRequest, Position, ReplaceRequest};

/// How a call through the call budget failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    /// Not sent: the call budget had no turn for this call within the wait
    /// it may take (a routine poll skipped under pressure, or a submission
    /// shed). The broker never saw it.
    #[error("not sent: the call budget had no turn within {max_wait:?}")]
    NotSent {
        /// The longest this call could have waited for a turn.
        max_wait: Duration,
    },
    /// Sent, and the broker answered with an error (or none came back).
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// The broker's calls as the engine makes them: through the call budget,
/// when there is one. Every [`Broker`] is one, with every call sent.
pub trait BrokerCalls: Send + Sync {
    /// Places an order (a submission may be shed unsent).
    fn submit_order(
        &self,
        request: &OrderRequest,
    ) -> impl Future<Output = Result<Order, CallError>> + Send;

    /// Reads an order by the broker's id (a routine poll may be skipped
    /// unsent).
    fn get_order(&self, order_id: &str) -> impl Future<Output = Result<Order, CallError>> + Send;

    /// Reads an order by the engine's `client_order_id`; always sent.
    fn get_order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send;

    /// Asks the broker to cancel an order; always sent.
    fn cancel_order(&self, order_id: &str) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Reads the position in one symbol; always sent.
    fn get_position(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Option<Position>, BrokerError>> + Send;

    /// Asks the broker to replace a working order; always sent (a trader
    /// asked for it, and its outcome settles the order).
    fn replace_order(
        &self,
        order_id: &str,
        replace: &ReplaceRequest,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send;

    /// Reads a page of orders in one call; at routine priority it may be
    /// skipped unsent, as a poll may.
    fn list_orders(
        &self,
        query: &OrderQuery,
    ) -> impl Future<Output = Result<Vec<Order>, CallError>> + Send;

    /// Reads a page of fill activities in one call; at routine priority
    /// it may be skipped unsent.
    fn fill_activities(
        &self,
        query: &ActivityQuery,
    ) -> impl Future<Output = Result<Vec<FillActivity>, CallError>> + Send;
}

impl<B: Broker> BrokerCalls for B {
    async fn submit_order(&self, request: &OrderRequest) -> Result<Order, CallError> {
        Ok(Broker::submit_order(self, request).await?)
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, CallError> {
        Ok(Broker::get_order(self, order_id).await?)
    }

    fn get_order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send {
        Broker::get_order_by_client_id(self, client_order_id)
    }

    fn cancel_order(&self, order_id: &str) -> impl Future<Output = Result<(), BrokerError>> + Send {
        Broker::cancel_order(self, order_id)
    }

    fn get_position(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Option<Position>, BrokerError>> + Send {
        Broker::get_position(self, symbol)
    }

    fn replace_order(
        &self,
        order_id: &str,
        replace: &ReplaceRequest,
    ) -> impl Future<Output = Result<Order, BrokerError>> + Send {
        Broker::replace_order(self, order_id, replace)
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, CallError> {
        Ok(Broker::list_orders(self, query).await?)
    }

    async fn fill_activities(&self, query: &ActivityQuery) -> Result<Vec<FillActivity>, CallError> {
        Ok(Broker::fill_activities(self, query).await?)
    }
}
