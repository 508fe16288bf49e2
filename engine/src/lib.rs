//! `fillproof-engine`: the order-execution engine a trading bot runs in production.
//!
//! The engine submits orders idempotently, watches each one until the broker
//! confirms what happened to it, and reports a [`FillResult`] that never
//! claims a fill the broker did not make and never drops one it did. It talks
//! to the outside world only through the [`Broker`] port, so the same code runs
//! against a real broker's REST client and against `fillproof-simulator`.
//!
//! The pieces, one per module:
//! - [`Order`], [`OrderRequest`], [`OrderStatus`]: the order model, mirroring
//!   the Alpaca v2 order object, with quantities and prices in [`Decimal`].
//! - [`Broker`] and [`BrokerError`]: the port and its error taxonomy, each
//!   error classified as transient, permanent or ambiguous ([`ErrorClass`]).
//! - [`FillDetectionConfig`]: timeouts, polling, retries and policies, with
//!   the defaults of the original specification, validated on construction.
//! - [`PollingStrategy`]: when to look next (fixed, linear-adaptive, capped
//!   exponential).
//! - [`FillVerifier`]: what an order snapshot proves; [`RobustVerifier`]
//!   never makes a full fill out of corroborating evidence alone.
//! - [`Backoff`]: exponential backoff with jitter from an injected RNG.
//! - [`FillDetector`]: submission, the monitor loop, the deadline path with
//!   final verification, cancel and post-cancel verification, and the
//!   position consistency check.
//! - [`OrderExecutor`]: the whole lifecycle of a [`Signal`]: [`validate`],
//!   [`RiskLimits`], the [`AuditLog`], submission through a client-side
//!   [`RateLimiter`], fill detection, the [`PositionBook`] and a stream of
//!   [`OrderEvent`]s.
//! - [`clock`]: wall-clock stamps ([`Clock`]) and the timers every wait
//!   goes through, which a benchmark can record and replay.
//!
//! [`Decimal`]: rust_decimal::Decimal

mod audit;
mod backoff;
mod broker;
pub mod clock;
mod config;
mod detector;
mod entropy;
mod error;
mod executor;
mod order;
mod polling;
mod positions;
mod ratelimit;
mod result;
mod risk;
mod slippage;
mod stream;
mod verify;

pub use audit::{
    AUDIT_KEY_ENV, AuditEntry, AuditError, AuditEvent, AuditHead, AuditKey, AuditLog, AuditRecord,
    AuditSink, ChainMode, FileSink, GENESIS, MemorySink, digest_hex, export_csv, verify,
    verify_chain,
};
pub use backoff::Backoff;
pub use broker::{Broker, RateLimitState};
pub use clock::{Clock, SystemClock, VirtualClock};
pub use config::{
    AbsenceProof, ConsistencyConfig, FillDetectionConfig, MAX_DEADLINE, MIN_POLL_INTERVAL,
    PartialFillPolicy, PollingConfig, PostCancelConfig, RetryConfig,
};
pub use detector::{FillDetector, Submission};
pub use entropy::{StableBuildHasher, StableHasher, derive_rng, stable_hash};
pub use error::{BrokerError, ConfigError, ErrorClass, SubmitError};
pub use executor::{
    AppliedFill, ExecutionError, ExecutorConfig, OrderEvent, OrderExecutor, OrderState,
};
pub use order::{
    Order, OrderRequest, OrderStatus, OrderType, Position, Side, TimeInForce, Timestamp,
};
pub use polling::{AdaptivePolling, PollContext, PollingStrategy};
pub use positions::{Commission, PositionBook, PositionState};
pub use ratelimit::{Priority, RateLimit, RateLimitedBroker, RateLimiter, with_priority};
pub use result::{ApiCalls, CancelOutcome, Consistency, Execution, FillResult, Verdict};
pub use risk::{
    MAX_AMOUNT, MAX_PRICE, MAX_QTY, MIN_PRICE, RiskLimits, RiskViolation, Signal, ValidationConfig,
    ValidationError, money, price_in_range, validate,
};
pub use slippage::Slippage;
pub use stream::{
    OrderSignal, Route, StreamItem, StreamRouter, TradeEvent, TradeUpdate, TradeUpdates,
};
pub use verify::{FillState, FillVerifier, Methods, RobustVerifier, Verification};

pub use rust_decimal::Decimal;
