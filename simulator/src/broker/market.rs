//! The simulated broker as the engine's market-data source: the latest
//! quote and trade of each symbol, from the same prices its fills follow.
//! A scenario without a market section holds each symbol at its reference
//! price, quoted on both sides at it, and answers at once: market data
//! has no latency or faults of its own yet.

use fillproof_engine::{BrokerError, Decimal, MarketData, Quote, Trade};

use super::SimBroker;

/// Shares shown on each side of a quote, and in the latest trade.
const SIZE: u32 = 100;

impl SimBroker {
    /// The price `symbol` stands at now, or why it has none.
    fn market_price(&self, symbol: &str) -> Result<Decimal, BrokerError> {
        self.model()
            .reference_prices
            .get(symbol)
            .copied()
            .ok_or_else(|| BrokerError::NotFound {
                message: format!("symbol not found: {symbol}"),
            })
    }
}

impl MarketData for SimBroker {
    async fn latest_quote(&self, symbol: &str) -> Result<Quote, BrokerError> {
        let price = self.market_price(symbol)?;
        Ok(Quote {
            bid: price,
            bid_size: Decimal::from(SIZE),
            ask: price,
            ask_size: Decimal::from(SIZE),
            at: Some(self.model().time_origin().at(self.elapsed())),
        })
    }

    async fn latest_trade(&self, symbol: &str) -> Result<Trade, BrokerError> {
        Ok(Trade {
            price: self.market_price(symbol)?,
            size: Decimal::from(SIZE),
            at: Some(self.model().time_origin().at(self.elapsed())),
        })
    }
}
