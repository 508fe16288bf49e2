//! Running one seed: a current-thread tokio runtime on a paused clock, the
//! simulated broker, the engine under test, the workload, then faults heal
//! and the engine gets a bounded settle window; the outcome of every order
//! is collected for comparison with the ledger. The phases themselves are
//! in `simulate.rs`; many seeds run across threads here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fillproof_engine::{
    AppliedFill, Commission, Decimal, FillDetectionConfig, PollingConfig, PositionBook, Side,
};
use fillproof_simulator::{EngineKind, Ledger, Scenario, SubmitRecord, Trace};

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
}

/// Everything one seed produced.
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Per order, in workload order.
    pub outcomes: Vec<OrderOutcome>,
    /// The ground truth.
    pub ledger: Ledger,
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
}

/// Runs one seed to completion on its own paused runtime.
///
/// # Errors
/// Only setup failures (a runtime that cannot start, a bad configuration);
/// everything the engine or broker does is an outcome, not an error.
pub fn run_seed(spec: &RunSpec, on_order_done: &(dyn Fn() + Sync)) -> Result<SeedRun> {
    let runtime = simulation_runtime().context("starting the simulation runtime")?;
    runtime.block_on(super::simulate::simulate(spec, on_order_done))
}

/// The runtime a simulated run uses: one thread, tokio's clock paused, so
/// virtual time advances only when every task waits, and a run is the
/// same on any machine. Benches and tests that stand beside a run use it
/// too.
///
/// # Errors
/// The runtime's, if it cannot start.
pub fn simulation_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
}

/// Runs `seeds` on up to `jobs` threads, one runtime per seed, and returns
/// the results in seed order whatever the job count.
///
/// # Errors
/// The first seed's setup error, in seed order.
pub fn run_seeds(
    spec: &RunSpec,
    seeds: &[u64],
    jobs: usize,
    on_order_done: &(dyn Fn() + Sync),
) -> Result<Vec<SeedRun>> {
    run_seeds_into(spec, seeds, jobs, on_order_done, |run| run)
}

/// As [`run_seeds`], keeping of each run only what `keep` makes of it, as
/// soon as it ends: a swarm of many seeds then holds one run per job at a
/// time, not every run.
///
/// # Errors
/// The first seed's setup error, in seed order.
pub fn run_seeds_into<T: Send>(
    spec: &RunSpec,
    seeds: &[u64],
    jobs: usize,
    on_order_done: &(dyn Fn() + Sync),
    keep: impl Fn(SeedRun) -> T + Sync,
) -> Result<Vec<T>> {
    let jobs = jobs.clamp(1, seeds.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<T>>>> =
        seeds.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let seed_spec = RunSpec {
                        seed,
                        ..spec.clone()
                    };
                    let result = run_seed(&seed_spec, on_order_done).map(&keep);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .zip(seeds)
        .map(|(slot, seed)| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(anyhow::anyhow!("seed {seed} produced no result")))
        })
        .collect()
}
