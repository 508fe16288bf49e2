//! What a run of one seed is asked ([`RunSpec`]) and what it produced
//! ([`SeedRun`], an [`OrderOutcome`] per order), apart from how it runs
//! (`simulate.rs`, one seed; `runner.rs`, many).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fillproof_engine::{
    AppliedFill, Commission, Decimal, FillDetectionConfig, PollingConfig, PositionBook, Side,
};
use fillproof_simulator::{EngineKind, Ledger, Market, Scenario, SubmitRecord, Trace};

use super::engines::EngineVerdict;

/// How to run one seed.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// The run seed.
    pub seed: u64,
    /// Orders, overriding the scenario's count.
    pub orders: Option<u32>,
    /// The engine.
    pub engine: EngineKind,
    /// The fill detector configuration.
    pub config: FillDetectionConfig,
    /// Keep every trace event (for `--trace`, replay and determinism checks).
    pub record_trace: bool,
    /// Swarm mode.
    pub swarm: bool,
    /// Keep the engine's audit log lines (for `run --audit`).
    pub keep_audit_lines: bool,
    /// Chain the audit log with HMAC-SHA256 under this key (`run --audit`
    /// with `FILLPROOF_AUDIT_KEY` set); keyless SHA-256 when `None`.
    pub audit_key: Option<fillproof_engine::AuditKey>,
}

impl RunSpec {
    /// The scenario's own setup for `seed`: its engine, its configuration,
    /// its swarm flag.
    ///
    /// # Errors
    /// An `engine:` section that does not make a valid configuration.
    pub fn from_scenario(scenario: Arc<Scenario>, seed: u64) -> Result<Self> {
        let config = scenario
            .detection_config()
            .map_err(anyhow::Error::msg)
            .context("engine section")?;
        Ok(Self {
            engine: scenario.engine.kind.unwrap_or(EngineKind::Robust),
            swarm: scenario.swarm,
            scenario,
            seed,
            orders: None,
            config,
            record_trace: false,
            keep_audit_lines: false,
            audit_key: None,
        })
    }

    /// Replaces the polling strategy.
    #[must_use]
    pub fn with_polling(mut self, polling: PollingConfig) -> Self {
        self.config.polling = polling;
        self
    }
}

/// One order's outcome.
#[derive(Debug, Clone)]
pub struct OrderOutcome {
    /// Workload index.
    pub index: u32,
    /// Client order id of the intent.
    pub client_order_id: String,
    /// Instrument.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Ordered quantity.
    pub qty: Decimal,
    /// When it was submitted, virtual.
    pub submitted_at: Duration,
    /// What the engine concluded.
    pub verdict: EngineVerdict,
    /// When the engine concluded, virtual; `None` when it never did within
    /// the run's bounds.
    pub concluded_at: Option<Duration>,
    /// When the trader asked the engine to cancel the order, virtual, when
    /// it did (whether or not the engine took it).
    pub cancel_requested_at: Option<Duration>,
}

/// Everything one seed produced.
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Per order, in workload order.
    pub outcomes: Vec<OrderOutcome>,
    /// The ground truth.
    pub ledger: Ledger,
    /// The market the broker's orders traded in: each symbol's price and
    /// quote at any instant of the run (flat at the reference price for a
    /// scenario without a `market:` section).
    pub market: Arc<Market>,
    /// Virtual time at the end.
    pub ended_at: Duration,
    /// The trace (events kept only when recording).
    pub trace: Trace,
    /// Broker calls per endpoint made by the engine (the harness's own
    /// end-of-run reads are not counted).
    pub calls: fillproof_engine::EndpointCounts<u64>,
    /// What became of every submit the broker received, by client order id.
    pub submits: indexmap::IndexMap<String, SubmitRecord, fillproof_engine::StableBuildHasher>,
    /// Workload orders never started: the run's time bound came first.
    pub unrun: u64,
    /// Requests the engine sent that had not reached the broker when the
    /// run's time bound ended it: what they would have done is unknown.
    pub unlanded: u64,
    /// The wait each submission spent queued in the engine's call budget;
    /// `None` for an engine without one.
    pub submit_waits: Option<Vec<Duration>>,
    /// Engine tasks that panicked: `(workload index, panic message)`.
    pub panics: Vec<(u32, String)>,
    /// The broker's time origin: what wall-clock instant virtual time zero
    /// stands for.
    pub origin: fillproof_simulator::TimeOrigin,
    /// Calls the broker answered 429
    /// ([`fillproof_simulator::judge::rate_limited_calls`]).
    pub rate_limited: u64,
    /// Symbols the engine's own end-of-run position check reported
    /// inconsistent; `None` for an engine that checks no positions.
    pub position_alarms: Option<u64>,
    /// Swarm mode's mix, when on.
    pub swarm: Vec<String>,
    /// The engine's positions and P&L at the end (engines with a book).
    pub book: Option<PositionBook>,
    /// The fills the engine applied to its book, in order.
    pub applied: Vec<AppliedFill>,
    /// The commission the engine charged.
    pub commission: Commission,
    /// The engine's audit log, summarized (engines that keep one).
    pub audit: Option<super::engines::AuditSummary>,
    /// The engine's crashes and restarts, when the scenario crashes it.
    pub crashes: Option<Vec<super::crash::CrashRecord>>,
    /// Crash points the timeline scripts that no call reached: crashes
    /// that never happened.
    pub crash_points_unreached: u64,
    /// The status updates the engine's event stream sent, as heard
    /// (engines with an event stream).
    pub status: Option<super::status::StatusEvents>,
}
