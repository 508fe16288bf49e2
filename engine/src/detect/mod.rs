//! Fill detection: everything between "the order is sent" and "the broker
//! confirmed what happened to it".
//!
//! Entry points: [`FillDetector`] (submission, monitoring, the deadline
//! path, the position check), configured by [`FillDetectionConfig`] with
//! its [`PollingConfig`]; the pieces it is made of, each usable alone:
//! [`PollingStrategy`], [`FillVerifier`] / [`RobustVerifier`],
//! [`Backoff`], [`Slippage`]; the strategies' names and presets
//! ([`Strategy`], [`PollingConfig::preset`], [`PollingConfig::from_params`]);
//! and what it reports ([`FillResult`], [`Verdict`], [`Submission`]).
//!
//! Inside: `detector.rs` (the entry points), `batch.rs` (one list read
//! for every open order, the fill activities for their executions),
//! `submit.rs` (idempotent
//! placement, reconciling an unanswered submit), `watch.rs` (pure state
//! and verdicts), `monitor.rs` (every await), `consistency.rs`,
//! `router.rs` (trade updates to the watching task), `config.rs`,
//! `polling.rs` with `strategy.rs`, `verify.rs`, `backoff.rs`,
//! `slippage.rs`, `result.rs`.
//!
//! Imports: `budget` (call priorities, [`BrokerCalls`](crate::budget::BrokerCalls)),
//! `time` (timers) and `port`.
//! Never `lifecycle`: detection knows nothing of signals, risk, books or
//! audit logs.

/// The `tracing` target of every engine log line.
const TARGET: &str = "fillproof::engine";

mod backoff;
mod batch;
mod config;
mod consistency;
mod detector;
mod monitor;
mod polling;
mod result;
mod router;
mod slippage;
mod strategy;
mod submit;
mod verify;
mod watch;

pub use backoff::Backoff;
pub use config::{
    AbsenceProof, ConsistencyConfig, FillDetectionConfig, MAX_DEADLINE, PartialFillPolicy,
    PostCancelConfig, RetryConfig,
};
pub use detector::FillDetector;
pub use polling::{
    AdaptivePolling, MIN_POLL_INTERVAL, PollContext, PollingConfig, PollingStrategy,
};
pub use result::{CancelOutcome, Consistency, Execution, FillResult, Submission, Verdict};
pub use router::{OrderSignal, Route, StreamRouter};
pub use slippage::Slippage;
pub use strategy::{PollingParams, PollingParamsError, Strategy, UnknownStrategy};

pub use verify::{FillState, FillVerifier, Methods, RobustVerifier, Verification};
pub use watch::{BeforeCancel, CancelHook, Guard};
