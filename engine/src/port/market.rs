//! The market-data port: the latest quote and trade of a symbol, beside the
//! [`Broker`](crate::Broker) REST port and the trade-updates stream. A
//! real broker's data API is one adapter of it; the simulated broker,
//! whose fills follow the same prices, is another.

use std::future::Future;
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::port::{BrokerError, Side, Timestamp};

/// The best bid and ask of a symbol at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// The best bid: what a market sell fills at.
    pub bid: Decimal,
    /// Shares bid.
    pub bid_size: Decimal,
    /// The best ask: what a market buy fills at.
    pub ask: Decimal,
    /// Shares offered.
    pub ask_size: Decimal,
    /// When the quote stood, when the source says.
    pub at: Option<Timestamp>,
}

impl Quote {
    /// The side of the quote an order on `side` trades against: the ask
    /// for a buy, the bid for a sell.
    #[must_use]
    pub fn touch(&self, side: Side) -> Decimal {
        match side {
            Side::Buy => self.ask,
            Side::Sell => self.bid,
        }
    }

    /// The name of that side, for messages: `ask` or `bid`.
    #[must_use]
    pub fn touch_name(side: Side) -> &'static str {
        match side {
            Side::Buy => "ask",
            Side::Sell => "bid",
        }
    }
}

/// The last trade of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    /// Its price.
    pub price: Decimal,
    /// Its size in shares.
    pub size: Decimal,
    /// When it traded, when the source says.
    pub at: Option<Timestamp>,
}

/// Where the engine reads the market.
pub trait MarketData: Send + Sync {
    /// The latest quote of `symbol`.
    ///
    /// # Errors
    /// [`BrokerError::NotFound`] for a symbol the source does not know;
    /// any other [`BrokerError`] as the source fails.
    fn latest_quote(&self, symbol: &str)
    -> impl Future<Output = Result<Quote, BrokerError>> + Send;

    /// The latest trade of `symbol`.
    ///
    /// # Errors
    /// As [`MarketData::latest_quote`].
    fn latest_trade(&self, symbol: &str)
    -> impl Future<Output = Result<Trade, BrokerError>> + Send;
}

impl<M: MarketData> MarketData for Arc<M> {
    fn latest_quote(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Quote, BrokerError>> + Send {
        (**self).latest_quote(symbol)
    }

    fn latest_trade(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Trade, BrokerError>> + Send {
        (**self).latest_trade(symbol)
    }
}

/// The latest quote of a symbol behind a boxed future: the side of
/// [`MarketData`] an executor can hold whatever the source (every
/// [`MarketData`] is one).
pub trait QuoteSource: Send + Sync {
    /// The latest quote of `symbol`.
    fn quote<'a>(
        &'a self,
        symbol: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Quote, BrokerError>> + Send + 'a>>;
}

impl<M: MarketData> QuoteSource for M {
    fn quote<'a>(
        &'a self,
        symbol: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Quote, BrokerError>> + Send + 'a>> {
        Box::pin(self.latest_quote(symbol))
    }
}
