//! fillproof's engine trading through Alpaca: the engine's [`Broker`]
//! port over Alpaca's Trading API v2 REST, and its
//! [`TradeUpdates`](fillproof_engine::TradeUpdates) port over the
//! `trade_updates` websocket.
//!
//! The same engine that `fillproof run` measures against the simulator
//! trades for real through these, or against `fillproof serve` on
//! loopback. The adapter adds no behaviour of its own: no retries, no
//! caching; errors are mapped to the engine's [`BrokerError`] classes by
//! HTTP status and Alpaca code, and the `X-Ratelimit-*` headers of every
//! answer feed the engine's call budget.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use fillproof_alpaca::{AlpacaBroker, AlpacaConfig};
//! let config = AlpacaConfig::from_env()?; // APCA_API_KEY_ID, APCA_API_SECRET_KEY
//! let broker = AlpacaBroker::new(config)?;
//! # Ok(()) }
//! ```
//!
//! Entry points: [`AlpacaBroker`] (REST) and the stream's
//! [`AlpacaStream`], configured by [`AlpacaConfig`]. Imports: the engine
//! (its ports and order model) and the network crates; nothing of the
//! simulator or the harness.
//!
//! [`Broker`]: fillproof_engine::Broker
//! [`BrokerError`]: fillproof_engine::BrokerError

mod broker;
mod config;
mod stream;
pub mod wire;

pub use broker::{AlpacaBroker, rate_limit_state, status_error};
pub use config::{AlpacaConfig, ConfigError, PAPER_STREAM_URL, PAPER_URL};
pub use stream::{AlpacaStream, trade_update};

/// Why the adapter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AlpacaError {
    /// The configuration is incomplete.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Installs rustls' ring provider for the process before any connection:
/// reqwest and tokio-tungstenite over rustls need one, and installing it a
/// second time is harmless.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
