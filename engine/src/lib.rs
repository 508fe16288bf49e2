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
//! - [`BrokerCalls`] and [`CallError`]: the broker as the engine calls it,
//!   through the call budget ([`RateLimitedBroker`]), where a call may end
//!   never sent; every [`Broker`] is one whose calls are always sent.
//! - [`FillDetectionConfig`]: timeouts, polling, retries and policies, with
//!   the defaults of the original specification, validated on construction.
//! - [`PollingStrategy`]: when to look next (fixed, linear-adaptive, capped
//!   exponential, adaptive, stream-first hybrid), each named by a
//!   [`Strategy`] with its preset.
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
//! # Layers and imports
//!
//! The modules live in five folders that import one way only,
//! `lifecycle → detect → budget → time → port` (a folder may use the
//! folders to its right, never to its left; `tests/layers.rs` fails on an
//! import against the direction). Each folder's `mod.rs` names its entry
//! points. The crate imports no other fillproof crate: the simulator and
//! the Alpaca adapter depend on it, never the other way.
//!
//! [`Decimal`]: rust_decimal::Decimal

mod budget;
mod detect;
mod lifecycle;
mod port;
mod time;

/// Wall-clock stamps and the timers every wait goes through (the `time`
/// layer, under the path callers have always used).
pub mod clock {
    pub use crate::time::{
        Clock, SystemClock, Timer, TimerEnd, TimerWait, VirtualClock, record_timers, sleep,
        sleep_until,
    };
}

pub use budget::{
    BrokerCalls, CallError, Priority, RateLimit, RateLimitedBroker, RateLimiter, with_priority,
};
pub use detect::{
    AbsenceProof, AdaptivePolling, Backoff, BeforeCancel, CancelHook, CancelOutcome, Consistency,
    ConsistencyConfig, Execution, FillDetectionConfig, FillDetector, FillResult, FillState,
    FillVerifier, MAX_DEADLINE, MIN_POLL_INTERVAL, Methods, OrderSignal, PartialFillPolicy,
    PollContext, PollingConfig, PollingParams, PollingParamsError, PollingStrategy,
    PostCancelConfig, RetryConfig, RobustVerifier, Route, Slippage, Strategy, StreamRouter,
    Submission, UnknownStrategy, Verdict, Verification,
};
pub use lifecycle::{
    AUDIT_KEY_ENV, AppliedFill, AuditEntry, AuditError, AuditEvent, AuditHead, AuditKey, AuditLog,
    AuditRecord, AuditSink, ChainMode, Commission, Durability, ExecutionError, ExecutorConfig,
    ExitPrices, FileSink, GENESIS, Journal, JournaledIntent, Located, LocatedExits, MAX_AMOUNT,
    MAX_PRICE, MAX_QTY, MIN_PRICE, MemorySink, OpenExits, OrderEvent, OrderExecutor, OrderState,
    PositionBook, PositionState, Recovery, RiskLimits, RiskViolation, Signal, SlippageGuard,
    TornTail, ValidationConfig, ValidationError, digest_hex, export_csv, money, price_in_range,
    validate, validate_against_quote, verify_audit_log, verify_chain,
};
pub use port::{
    ActivityQuery, Direction, FillActivity, FillKind, MAX_ACTIVITY_PAGE, MAX_LIST_LIMIT,
    OrderQuery, StatusFilter,
};
pub use port::{
    Broker, BrokerError, ConfigError, Endpoint, EndpointCounts, ErrorClass, MarketData, Order,
    OrderClass, OrderRequest, OrderStatus, OrderType, Position, Quote, QuoteSource, RateLimitState,
    ReplaceRequest, Side, StableBuildHasher, StableHasher, StopLoss, StreamItem, SubmitError,
    TimeInForce, Timestamp, Trade, TradeEvent, TradeUpdate, TradeUpdates, Trail, civil_from_days,
    closest, days_from_civil, derive_rng, did_you_mean, edit_distance, stable_hash,
};
pub use time::{Clock, SystemClock, VirtualClock};

pub use rust_decimal::Decimal;
