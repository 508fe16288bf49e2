//! `fillproof-simulator`: a seeded, deterministic mock broker driven by YAML
//! scenarios. It implements the engine's [`fillproof_engine::Broker`] port
//! and keeps the ground truth the harness measures the engine against.
//!
//! - [`Scenario`]: the scenario file, loaded and checked by
//!   [`Scenario::load`], with errors naming file, line, column and field.
//! - [`Dist`], [`DurationDist`], [`NumberDist`]: random distributions as
//!   scenario files write them.

mod distribution;
mod duration;
mod error;
mod expect;
mod load;
mod scenario;
mod suggest;

pub use distribution::{Dist, DurationDist, Number, NumberDist, Scalar, Seconds};
pub use duration::{Dur, format_duration, parse_duration};
pub use error::{Diagnostic, ScenarioError};
pub use expect::{Comparison, Expectation, METRICS};
pub use load::{MAX_FILE_BYTES, MAX_ORDERS, STRATEGIES, polling_config};
pub use scenario::{
    BrokerSpec, CancelSpec, Endpoint, EngineKind, EngineSpec, FAULT_KINDS, FORMAT_VERSION,
    FaultSpec, FillSpec, LatencySpec, Limits, OrderKind, OutageSpec, PartialPolicySpec,
    PartialSpec, PiecesRange, PollingSpec, Price, Probability, RateLimitSpec, RejectionSpec,
    Scenario, SideSpec, StaleReadSpec, TimelineEvent, TimelineKind, VisibilitySpec, Weight,
    WhenFilled, Workload,
};
pub use suggest::{closest, did_you_mean};
