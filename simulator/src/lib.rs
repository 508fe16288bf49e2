//! `fillproof-simulator`: a seeded, deterministic mock broker driven by YAML
//! scenarios. It implements the engine's [`fillproof_engine::Broker`] port
//! and keeps the ground truth the harness measures the engine against.
//!
//! - [`Scenario`]: the scenario file (`scenario/`, one file per section,
//!   each checked beside its types), loaded and checked by
//!   [`Scenario::load`], with errors naming file, line, column and field;
//!   [`Scenario::executor_config`] is the one translation of its `engine:`
//!   section.
//! - [`FaultKind`], [`FaultTable`], [`CallRefusal`]: the one vocabulary of
//!   faults (`fault.rs`).
//! - [`TimeOrigin`]: the one simulated time origin: virtual time to the
//!   broker's wall-clock stamps (`time.rs`).
//! - [`Calendar`]: the US equity trading calendar (NYSE and Nasdaq
//!   holidays and early closes, 2024 to 2028) with each [`TradingDay`]'s
//!   sessions in UTC, as Alpaca's `GET /v2/calendar` gives them
//!   (`calendar.rs`); not yet read by the broker.
//! - [`Market`], [`PricePath`], [`QuoteModel`]: the market's price paths
//!   (seeded, or replayed from a [`Recording`] of trades or bars), the
//!   quotes around them, and the tape it prints, one trade a step,
//!   bucketed into [`Bar`]s by [`Timeframe`] (`market/`), read from a
//!   scenario's `market:` section.
//! - [`Dist`], [`DurationDist`], [`NumberDist`]: random distributions as
//!   scenario files write them.
//! - [`BrokerModel`]: the broker's behaviour compiled from a scenario, and
//!   swarm mode's reweighting of it.
//! - [`SimBroker`]: the broker itself, on tokio's (paused) clock
//!   (`broker/`: a call's pure fate decision, accepting a submit, and the
//!   world every call shares).
//! - [`Ledger`]: the ground truth: accepted orders, fills, positions.
//! - [`Workload`]: the orders a run places, drawn per order from the seed.
//! - [`Trace`]: every broker event and API call, with a running hash.
//! - [`judge`]: the claim-versus-ledger rules `run`, `merge` and `serve`
//!   judge by.
//!
//! # Entropy
//!
//! A run has one `u64` seed. Every random stream is derived from it by
//! purpose and key with [`fillproof_engine::derive_rng`]: `workload` by
//! order index, `lifecycle` by order index (drawn when the order is
//! accepted), `call` by order, endpoint and call number, `swarm` once per
//! run. Nothing reads the machine's clock or entropy, so the same scenario
//! and seed give the same trace, and the same trace hash, on any machine.
//!
//! # Imports
//!
//! The crate imports the engine (its port, order model and configuration
//! types) and no network crate. Inside, `scenario/` reads the file and
//! knows nothing of a run; `model` compiles it; `broker/`, `lifecycle`,
//! `stream`, `ledger` and `trace` run it; `fault`, `time`, `calendar`,
//! `distribution` and `duration` are vocabulary every layer may use.

mod broker;
pub mod calendar;
mod distribution;
mod duration;
mod error;
mod expect;
mod fault;
pub mod judge;
mod ledger;
mod lifecycle;
mod market;
mod model;
mod recover;
mod scenario;
mod stream;
mod time;
mod trace;
mod view;
mod workload;

pub use broker::{LedgerRead, SimBroker, SubmitRecord, SubmitRefusal, at_arrival, uuid_shaped};
pub use calendar::{Calendar, Date, ParseDateError, Session, TradingDay, eastern_offset_seconds};
pub use distribution::{Dist, DurationDist, Number, NumberDist, Scalar, Seconds};
pub use duration::{Dur, format_duration, parse_duration};
pub use error::{Diagnostic, ScenarioError};
pub use expect::{Comparison, Expectation, METRICS};
pub use fault::{CallRefusal, FAULT_KINDS, FaultKind, FaultTable, UnknownFault};
pub use fillproof_engine::{closest, did_you_mean};
pub use ledger::{BrokerEnd, Fill, Ledger, LedgerOrder, LegRole, Links, TrueStatus, fill_done_by};
pub use lifecycle::{
    Overfill, Plan, check_scripted_quantities, marketable, on_price_grid, scripted_fills,
    slipped_price, within_limit,
};
pub use market::{
    Asset, Bar, Bars, BarsError, FLAT_SIZE, HaltRate, Hours, Listing, MAX_BAR_LIMIT, MAX_BAR_STEPS,
    MAX_DRAWN_HALTS, MAX_RECORDS, MAX_STEPS, MIN_STEP, Market, MarketError, MarketModel, PathModel,
    PricePath, QuoteModel, RecordError, RecordKind, Recording, Sessions, Stop, TapeTrade,
    Timeframe, TimeframeError, Triggered,
};
pub use model::{BrokerModel, EndpointFaults, OrderTarget, PartialModel, StreamModel};
pub use scenario::{
    AccountSpec, Amount, BrokerSpec, CancelSpec, CommissionSpec, CrashAt, CrashPoint, CrashesSpec,
    DEFAULT_BUYING_POWER, Endpoint, EngineKind, EngineRateLimit, EngineSpec, FORMAT_VERSION,
    FaultSpec, FillSpec, JournalSync, LatencySpec, Limits, ListedOrder, ListedSide, OrderKind,
    OutageSpec, PartialPolicySpec, PartialSpec, PiecesRange, PollingSpec, Price, Probability,
    RateLimitSpec, RejectionSpec, RiskSpec, Scenario, SideSpec, StaleReadSpec, TimelineEvent,
    TimelineKind, VisibilitySpec, Weight, WhenFilled, WorkloadSpec,
};
pub use scenario::{
    AssetStatus, HaltSpec, JumpSpec, MAX_HALTS_PER_HOUR, MarketHours, MarketSpec, PathFile,
    QuoteSpec, SymbolSpec, market_model,
};
pub use scenario::{
    ExitsSpec, TraderActions, TraderCancelSpec, TraderReplaceSpec, TraderSpec, exits,
    trader_actions,
};
pub use scenario::{
    MAX_DISCONNECTS_PER_RUN, MAX_FILE_BYTES, MAX_ORDERS, MAX_PARSE_PROBLEMS,
    MAX_SAMPLES_FILE_BYTES, polling_config, read_bounded, read_bounded_text,
};
pub use time::{DEFAULT_EPOCH_UNIX_MICROS, TimeOrigin, trace_micros};
pub use trace::{AcceptRecord, CallRecord, Seen, Trace, TraceEvent, TraceKind, first_divergence};
pub use view::{Look, order_view};
pub use workload::{Intent, Workload, client_order_id, index_of_client_order_id, order_qty};
