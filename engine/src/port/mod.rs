//! The ports: what the engine knows of the outside world, and nothing else.
//!
//! Entry points: the [`Broker`] trait (the REST port), the
//! [`TradeUpdates`] trait (the push stream port) and the [`MarketData`]
//! trait (latest quote and trade); the batched reads' queries and records
//! ([`OrderQuery`], [`ActivityQuery`], [`FillActivity`]); the order model
//! ([`Order`], [`OrderRequest`], [`OrderStatus`], [`Timestamp`] with its
//! civil-date arithmetic [`days_from_civil`] and [`civil_from_days`], ...); the
//! port's calls by name ([`Endpoint`], counted by [`EndpointCounts`]); the
//! error taxonomy ([`BrokerError`], [`ErrorClass`], [`ConfigError`],
//! [`SubmitError`]); the "did you mean" leaf ([`did_you_mean`], which
//! every message naming a misspelt name uses); and the seeded-randomness leaf (`entropy`:
//! [`derive_rng`], [`stable_hash`]), which every layer may use.
//!
//! Imports: nothing from the rest of the crate. `port` is the bottom
//! layer (`lifecycle → detect → budget → time → port`); a real broker's
//! REST client, the simulator and the engine all meet here.

mod broker;
mod class;
mod endpoint;
mod entropy;
mod error;
mod list;
mod market;
mod order;
mod stream;
mod suggest;
mod timestamp;

pub use broker::{Broker, RateLimitState};
pub use class::{OrderClass, StopLoss, Trail};
pub use endpoint::{Endpoint, EndpointCounts};
pub use entropy::{StableBuildHasher, StableHasher, derive_rng, stable_hash};
pub use error::{BrokerError, ConfigError, ErrorClass, SubmitError};
pub use list::{
    ActivityQuery, Direction, FillActivity, FillKind, MAX_ACTIVITY_PAGE, MAX_LIST_LIMIT,
    OrderQuery, StatusFilter,
};
pub use market::{MarketData, Quote, QuoteSource, Trade};
pub use order::{
    Order, OrderRequest, OrderStatus, OrderType, Position, ReplaceRequest, Side, TimeInForce,
};
pub use stream::{StreamItem, TradeEvent, TradeUpdate, TradeUpdates};
pub use suggest::{closest, did_you_mean, edit_distance};
pub use timestamp::{Timestamp, civil_from_days, days_from_civil};
