//! The position consistency check: the broker's position in a symbol
//! against the engine's expectation, re-read because positions lag fills.

use rust_decimal::Decimal;
use tracing::{error, warn};

use crate::budget::BrokerCalls;
use crate::detect::Consistency;
use crate::port::BrokerError;
use crate::port::{Endpoint, EndpointCounts};
use crate::time::sleep;

use super::TARGET;
use super::detector::FillDetector;

impl<B: BrokerCalls + 'static> FillDetector<B> {
    /// Compares the broker's position in `symbol` with `expected`, re-reading
    /// up to the configured bound because positions can lag fills. Logs a
    /// discrepancy at ERROR.
    pub async fn check_position(
        &self,
        symbol: &str,
        expected: Decimal,
    ) -> (Consistency, EndpointCounts) {
        let settings = &self.config.consistency;
        let mut api_calls = EndpointCounts::default();
        let mut last = None;
        for read in 0..settings.max_reads {
            if read > 0 {
                sleep(settings.interval).await;
            }
            api_calls[Endpoint::GetPosition] += 1;
            match self.broker.get_position(symbol).await {
                Ok(position) => {
                    let broker = position.map_or(Decimal::ZERO, |p| p.qty);
                    if broker == expected {
                        return (Consistency::Consistent, api_calls);
                    }
                    last = Some(Ok(broker));
                }
                Err(error) => last = Some(Err(error)),
            }
        }
        let outcome = match last {
            Some(Ok(broker)) => {
                error!(target: TARGET, %symbol, %expected, %broker, "position inconsistent with fills");
                Consistency::Discrepancy { expected, broker }
            }
            Some(Err(error)) => {
                warn!(target: TARGET, %symbol, %error, "position could not be read");
                Consistency::Unavailable(error)
            }
            None => Consistency::Unavailable(BrokerError::Timeout),
        };
        (outcome, api_calls)
    }
}
