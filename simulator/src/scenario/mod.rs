//! The scenario file: its schema, parsed with `serde-saphyr` into typed
//! structs that refuse unknown fields, one file per top-level section,
//! each checked beside its types.
//!
//! Entry points: [`Scenario::load`] and [`Scenario::parse`] (in `load.rs`)
//! read and check a file; [`Scenario::detection_config`] and
//! [`Scenario::executor_config`] (in `engine.rs`) translate its `engine:`
//! section into the engine's configuration.
//!
//! Every value with a range is checked while it is parsed (probabilities,
//! durations, distributions, prices), so the error carries the line and
//! column; checks that span several fields (symbols without a reference
//! price, timeline orders that do not exist) run afterwards, section by
//! section (`check.rs` calls each), using the locations kept by
//! [`Spanned`] fields.
//!
//! This module may import the crate's value types (`distribution`,
//! `duration`, `expect`, `error`, `suggest`, `recover`, `fault`) and the
//! engine's configuration types; nothing here runs a simulation.
//!
//! Defaults, where a field is left out: `seed` 1; `workload.side` buy;
//! `workload.type` market; `workload.traders` 1; no arrival gaps (every
//! order at the start); `engine` the engine's own defaults; no latency, no
//! faults; every order fills at once in one piece at the reference price;
//! status never lags; cancel of a filled order answers 422; no rate limit,
//! no outages; `limits.settle` 2m, `limits.max_virtual_time` 7d.

mod broker;
mod check;
mod crashes;
mod engine;
mod expect;
mod limits;
mod load;
mod market;
mod parse;
mod read;
mod recorded;
mod samples;
mod timeline;
mod trading;
mod values;
mod workload;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

pub use broker::{
    AccountSpec, BrokerSpec, CancelSpec, DEFAULT_BUYING_POWER, Endpoint, FaultSpec, FillSpec,
    LatencySpec, MAX_DISCONNECTS_PER_RUN, OutageSpec, PartialSpec, PiecesRange, RejectionSpec,
    StaleReadSpec, StreamSpec, VisibilitySpec, WhenFilled,
};
pub use crashes::{CrashAt, CrashesSpec, JournalSync};
pub use engine::{
    CommissionSpec, EngineKind, EngineRateLimit, EngineSpec, PartialPolicySpec, PollingSpec,
    RiskSpec, polling_config,
};
pub use limits::Limits;
pub use market::{
    AssetStatus, HaltSpec, JumpSpec, MAX_HALTS_PER_HOUR, MarketHours, MarketSpec, PathFile,
    QuoteSpec, SymbolSpec, market_model,
};
pub use parse::MAX_PARSE_PROBLEMS;
pub use read::{MAX_FILE_BYTES, MAX_SAMPLES_FILE_BYTES, read_bounded, read_bounded_text};
pub use timeline::{CrashPoint, TimelineEvent, TimelineKind};
pub use trading::{
    ExitsSpec, TraderActions, TraderCancelSpec, TraderReplaceSpec, TraderSpec, exits,
    trader_actions,
};
pub use values::{Amount, Price, Probability, RateLimitSpec, Weight};
pub use workload::{ListedOrder, ListedSide, MAX_ORDERS, OrderKind, SideSpec, WorkloadSpec};

/// The scenario format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Format version; must be [`FORMAT_VERSION`].
    pub version: Spanned<u32>,
    /// Short name, used in reports.
    pub name: String,
    /// What the scenario tests.
    #[serde(default)]
    pub description: String,
    /// The run seed; default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The orders to place.
    pub workload: WorkloadSpec,
    /// How the engine under test is set up.
    #[serde(default)]
    pub engine: EngineSpec,
    /// How the broker behaves.
    #[serde(default)]
    pub broker: BrokerSpec,
    /// The market the orders trade in: hours, and how each symbol's price
    /// moves; default none (each symbol flat at its reference price, open
    /// at any hour).
    #[serde(default)]
    pub market: Option<MarketSpec>,
    /// Exact events for named orders; overrides the random model for them.
    #[serde(default)]
    pub timeline: Vec<TimelineEvent>,
    /// Crashes of the engine under test, and its restarts from its
    /// journal.
    #[serde(default)]
    pub crashes: Option<CrashesSpec>,
    /// Metric thresholds: `detection_rate: ">= 0.999"`.
    #[serde(default)]
    pub expect: IndexMap<String, Spanned<String>>,
    /// Per seed, switch off a random subset of fault kinds and weight the
    /// rest at random within the scenario's bounds.
    #[serde(default)]
    pub swarm: bool,
    /// Bounds on a run.
    #[serde(default)]
    pub limits: Limits,
    /// What `check` found questionable but not wrong (a setting that can
    /// never take effect, a scripted fill a draw may not fit); filled in by
    /// [`Scenario::parse`], never read from the file.
    #[serde(skip)]
    pub warnings: Vec<crate::error::Diagnostic>,
}

fn default_seed() -> u64 {
    1
}
