//! The simulated broker as the engine's market-data source: the latest
//! quote and trade (the tape's last print) of each symbol, from the same
//! market its fills follow
//! (a symbol without a market model is held at its reference price and
//! quoted at it on both sides). Market data answers at once: it has no
//! latency or faults of its own yet.

use fillproof_engine::{BrokerError, Decimal, MarketData, Quote, Trade};

use super::SimBroker;
use crate::market::FLAT_SIZE;

/// The refusal for a symbol the market does not list.
fn not_found(symbol: &str) -> BrokerError {
    BrokerError::NotFound {
        message: format!("symbol not found: {symbol}"),
    }
}

impl MarketData for SimBroker {
    async fn latest_quote(&self, symbol: &str) -> Result<Quote, BrokerError> {
        let now = self.elapsed();
        let quote = self
            .market
            .quote_at(symbol, now)
            .ok_or_else(|| not_found(symbol))?;
        Ok(Quote {
            at: Some(self.model().time_origin().at(now)),
            ..quote
        })
    }

    async fn latest_trade(&self, symbol: &str) -> Result<Trade, BrokerError> {
        let now = self.elapsed();
        let price = self
            .market
            .price_at(symbol, now)
            .ok_or_else(|| not_found(symbol))?;
        // The tape's last print; a symbol halted since time zero has none
        // yet, and reads at its price, stamped now.
        Ok(match self.market.last_trade(symbol, now) {
            Some(trade) => Trade {
                price: trade.price,
                size: Decimal::from(trade.size),
                at: Some(self.model().time_origin().at(trade.at)),
            },
            None => Trade {
                price,
                size: Decimal::from(FLAT_SIZE),
                at: Some(self.model().time_origin().at(now)),
            },
        })
    }
}
