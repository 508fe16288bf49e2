//! Running one seed: a current-thread tokio runtime on a paused clock, the
//! simulated broker, the engine under test, the workload, then faults heal
//! and the engine gets a bounded settle window; the outcome of every order
//! is collected for comparison with the ledger.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fillproof_engine::clock::sleep_until;
use fillproof_engine::{
    AppliedFill, Commission, Decimal, ExecutorConfig, FillDetectionConfig, PollingConfig,
    PositionBook, RateLimit, RiskLimits, Side, ValidationConfig, Verdict, VirtualClock,
};
use fillproof_simulator::{
    BrokerModel, EngineKind, Intent, Ledger, Scenario, SimBroker, SubmitRecord, Trace, Workload,
};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

use super::engines::{Engine, EngineVerdict};

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
    pub calls: [u64; 5],
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
    /// The broker's epoch: virtual time zero as Unix microseconds.
    pub epoch_unix_micros: i64,
    /// Calls the broker answered 429
    /// ([`fillproof_simulator::judge::rate_limited_calls`]).
    pub rate_limited: u64,
    /// Symbols the engine's own reconciliation reported inconsistent;
    /// `None` for an engine that does not reconcile.
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

/// The executor configuration a scenario describes: its fill detection
/// configuration (given separately, since a run may override polling), its
/// client-side rate limit, risk limits and commission, and the broker
/// account's buying power. Risk limits the scenario leaves out are off:
/// the harness measures fill detection unless a scenario asks for limits.
///
/// # Errors
/// A limit out of range.
pub fn executor_config(
    scenario: &Scenario,
    detection: FillDetectionConfig,
) -> Result<ExecutorConfig> {
    let engine = &scenario.engine;
    let risk = engine.risk.as_ref().map_or(
        RiskLimits {
            max_position: None,
            daily_loss_limit: None,
            max_orders_per_minute: u32::MAX,
        },
        |r| RiskLimits {
            max_position: r.max_position.map(Decimal::from),
            daily_loss_limit: r.daily_loss_limit.map(|p| p.0),
            max_orders_per_minute: r.max_orders_per_minute.unwrap_or(u32::MAX),
        },
    );
    let commission = engine
        .commission
        .as_ref()
        .map_or(Commission::default(), |c| Commission {
            per_order: c.per_order.map_or(Decimal::ZERO, |p| p.0),
            per_share: c.per_share.map_or(Decimal::ZERO, |p| p.0),
        });
    let rate_limit = call_budget(scenario);
    if let Some(limit) = &rate_limit {
        limit
            .validate()
            .map_err(|e| anyhow::anyhow!("engine.{e}"))?;
    }
    let validation = ValidationConfig {
        price_band_pct: engine
            .price_band_pct
            .and_then(|w| Decimal::try_from(w.0).ok())
            .unwrap_or_else(|| ValidationConfig::default().price_band_pct),
    };
    Ok(ExecutorConfig {
        detection,
        validation,
        risk,
        commission,
        rate_limit,
        call_timeout: engine
            .call_timeout
            .as_ref()
            .map_or_else(|| ExecutorConfig::default().call_timeout, |t| t.value.0),
        submit_max_wait: engine
            .shed_after
            .as_ref()
            .map_or_else(|| ExecutorConfig::default().submit_max_wait, |t| t.value.0),
        buying_power: scenario.broker.account.buying_power.map(|p| p.0),
    })
}

/// The call budget the scenario's engine runs under: the engine's own
/// default (180 a minute) unless the scenario sets one, or none when it
/// says `rate_limit: none`, as a bot in production would run.
#[must_use]
pub fn call_budget(scenario: &Scenario) -> Option<RateLimit> {
    match &scenario.engine.rate_limit {
        None => ExecutorConfig::default().rate_limit,
        Some(budget) => budget.limit().map(|r| RateLimit {
            requests: r.requests.value,
            per: r.per.0,
        }),
    }
}

/// Runs one seed to completion on its own paused runtime.
///
/// # Errors
/// Only setup failures (a runtime that cannot start, a bad configuration);
/// everything the engine or broker does is an outcome, not an error.
pub fn run_seed(spec: &RunSpec, on_order_done: &(dyn Fn() + Sync)) -> Result<SeedRun> {
    let runtime = simulation_runtime().context("starting the simulation runtime")?;
    runtime.block_on(simulate(spec, on_order_done))
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

async fn simulate(spec: &RunSpec, on_order_done: &(dyn Fn() + Sync)) -> Result<SeedRun> {
    let scenario = &spec.scenario;
    let mut model = BrokerModel::from_scenario(scenario);
    let swarm = if spec.swarm {
        model.swarm(spec.seed)
    } else {
        Vec::new()
    };
    let epoch = model.epoch_unix_micros;
    let hybrid = matches!(
        spec.config.polling,
        fillproof_engine::PollingConfig::Hybrid { .. }
    );
    if hybrid && model.stream.is_none() {
        anyhow::bail!(
            "{}: strategy `hybrid` detects from the broker's trade updates, and this scenario has no `broker.stream`; add one or choose another strategy",
            scenario.name
        );
    }
    // A timeline that fills an order past the quantity drawn for it is
    // refused before any work, never cut short.
    let orders = Workload::new(scenario, spec.seed, spec.orders).len();
    fillproof_simulator::check_scripted_quantities(&model, scenario, spec.seed, orders)
        .map_err(|overfill| anyhow::anyhow!("{}, seed {}: {overfill}", scenario.name, spec.seed))?;
    let broker = Arc::new(SimBroker::new(model, spec.seed, spec.record_trace));
    let config = executor_config(scenario, spec.config.clone())?;
    let commission = config.commission;
    let clock = VirtualClock::new(epoch).shared();
    let engine = Engine::with_audit_key(
        spec.engine,
        Arc::clone(&broker),
        config,
        clock,
        spec.seed,
        spec.keep_audit_lines,
        spec.audit_key.clone(),
    )
    .context("engine configuration")?;
    let engine = if hybrid {
        engine.listening_to(&*broker)
    } else {
        engine
    };
    let start = Instant::now();
    let run_limit = start + scenario.limits.max_virtual_time.0;

    // Finished tasks are reaped as the run goes, so that a run of many
    // orders holds only the tasks still working; results are filed by
    // workload index, so reaping order never shows.
    let workload_orders = u64::from(spec.orders.unwrap_or(scenario.workload.orders.value));
    // Room for the run's orders up front (at most a million: beyond that
    // the tables grow as they go).
    let room = usize::try_from(workload_orders.min(1 << 20)).unwrap_or(1 << 20);
    broker.reserve(room);
    let mut tasks: JoinSet<(u32, EngineVerdict, Duration)> = JoinSet::new();
    let mut task_index: indexmap::IndexMap<tokio::task::Id, u32> = indexmap::IndexMap::new();
    let mut intents: Vec<Intent> = Vec::with_capacity(room);
    let mut results: Vec<Option<(EngineVerdict, Option<Duration>)>> = Vec::with_capacity(room);
    let mut panics: Vec<(u32, String)> = Vec::new();
    let file = |results: &mut Vec<Option<(EngineVerdict, Option<Duration>)>>,
                task_index: &mut indexmap::IndexMap<tokio::task::Id, u32>,
                panics: &mut Vec<(u32, String)>,
                joined: Result<
        (tokio::task::Id, (u32, EngineVerdict, Duration)),
        tokio::task::JoinError,
    >| {
        let (index, entry) = match joined {
            Ok((id, (index, verdict, at))) => {
                task_index.swap_remove(&id);
                (index, (verdict, Some(at)))
            }
            Err(error) => {
                let Some(index) = task_index.swap_remove(&error.id()) else {
                    return;
                };
                let message = panic_message(error);
                panics.push((index, message.clone()));
                (
                    index,
                    (unfinished(format!("engine task panicked: {message}")), None),
                )
            }
        };
        results[index as usize] = Some(entry);
        on_order_done();
    };
    let mut last_submit = Duration::ZERO;
    for intent in Workload::new(scenario, spec.seed, spec.orders) {
        broker.register(&intent.request.client_order_id, intent.index);
        let at = start + intent.submit_at;
        if at >= run_limit {
            break;
        }
        sleep_until(at).await;
        while let Some(joined) = tasks.try_join_next_with_id() {
            file(&mut results, &mut task_index, &mut panics, joined);
        }
        last_submit = intent.submit_at;
        let engine = engine.clone();
        let signal = intent.signal();
        let expected = intent.reference_price;
        let index = intent.index;
        let abort = tasks.spawn(async move {
            // Boxed, the order's (large) state is allocated once where it
            // runs, and the task the runtime moves about stays small.
            let verdict = Box::pin(engine.execute(&signal, expected)).await;
            // Judged at the moment the engine decided, not when it was done
            // collecting what followed (executions still on their way).
            let decided = verdict
                .decided_at
                .map_or_else(|| start.elapsed(), |at| at.duration_since(start));
            (index, verdict, decided)
        });
        task_index.insert(abort.id(), index);
        results.push(None);
        intents.push(intent);
    }

    // The workload is over once the last order has had its full deadline
    // (and the keep-working extension); then faults heal and the engine
    // gets its reconcile horizon (it may keep reading an order that long
    // past its deadline) and the settle window to finish.
    let extension = match spec.config.partial_fill_policy {
        fillproof_engine::PartialFillPolicy::KeepWorking { extension } => extension,
        fillproof_engine::PartialFillPolicy::CancelRemainder => Duration::ZERO,
    };
    let workload_end = (start + last_submit + spec.config.timeout + extension).min(run_limit);
    let settle_end =
        (workload_end + spec.config.reconcile_horizon + scenario.limits.settle.0).min(run_limit);
    let healer = {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move {
            sleep_until(workload_end).await;
            broker.heal();
        })
    };
    while let Ok(Some(joined)) = timeout_at(settle_end, tasks.join_next_with_id()).await {
        file(&mut results, &mut task_index, &mut panics, joined);
    }
    // Whatever is still working when the settle window closes is stopped.
    tasks.abort_all();
    drop(tasks);
    let cut_short = settle_end >= run_limit;
    let unrun = workload_orders.saturating_sub(intents.len() as u64);

    let mut outcomes = Vec::with_capacity(intents.len());
    for (intent, result) in intents.into_iter().zip(results) {
        let (verdict, concluded_at) = result.unwrap_or_else(|| {
            on_order_done();
            let reason = if cut_short {
                "engine still working when limits.max_virtual_time ended the run"
            } else {
                "engine still working when the settle window closed"
            };
            (unfinished(reason.to_owned()), None)
        });
        outcomes.push(OrderOutcome {
            index: intent.index,
            client_order_id: intent.request.client_order_id,
            symbol: intent.request.symbol,
            side: intent.request.side,
            qty: intent.request.qty,
            submitted_at: intent.submit_at,
            verdict,
            concluded_at,
        });
    }
    // The engine's calls end here: the reconciliation below is the
    // harness reading positions, not the engine working orders.
    let calls = broker.calls();
    // The 429s of the same calls: the share they are of `calls` never
    // counts an answer to a call `calls` leaves out.
    let rate_limited = fillproof_simulator::judge::rate_limited_calls(&broker.faults_injected());
    // The run's time bound holds for the engine's own end-of-run checks
    // too: cut off, they report nothing (absent, not zero).
    let position_alarms = timeout_at(run_limit, reconcile(&engine, &outcomes))
        .await
        .ok()
        .flatten();
    // The broker goes on after the engine has given up on an order (a fill
    // during cancel processing lands later): the truth is taken once the
    // settle window has closed, when everything the broker scheduled by
    // then has happened.
    sleep_until(settle_end).await;
    // Requests the engine stopped waiting for still land at the broker:
    // the truth waits for the last of them, and gives what it placed a
    // settle window of its own, within the run's time bound.
    while let Some(lands) = broker.requests_travelling_until() {
        let until = (lands + scenario.limits.settle.0).min(run_limit);
        if Instant::now() >= until {
            break;
        }
        sleep_until(until).await;
    }
    healer.abort();
    let unlanded = broker.requests_travelling();
    let ended_at = start.elapsed();
    let ledger = broker.take_ledger();
    let (book, applied, audit) = match &engine {
        Engine::Executor(executor, sink) => (
            Some(executor.positions()),
            executor.applied(),
            Some(sink.summary()),
        ),
        Engine::Naive(_) => (None, Vec::new(), None),
    };
    Ok(SeedRun {
        seed: spec.seed,
        outcomes,
        ledger,
        ended_at,
        trace: broker.trace(),
        calls,
        submits: broker.take_submits(),
        unrun,
        unlanded,
        // Without a call budget nothing queues: the wait is absent, not 0.
        submit_waits: match &engine {
            Engine::Executor(executor, _) if call_budget(scenario).is_some() => {
                Some(executor.detector().broker().submit_waits())
            }
            Engine::Executor(..) | Engine::Naive(_) => None,
        },
        panics,
        epoch_unix_micros: epoch,
        rate_limited,
        position_alarms,
        swarm,
        book,
        applied,
        commission,
        audit,
    })
}

/// The engine's own reconciliation once every order is done: each symbol's
/// broker position against the engine's fills, re-read through position
/// lag. Returns the symbols the engine reported inconsistent. The naive
/// baseline does not reconcile.
async fn reconcile(engine: &Engine<SimBroker>, outcomes: &[OrderOutcome]) -> Option<u64> {
    let Engine::Executor(executor, _) = engine else {
        return None;
    };
    let detector = executor.detector();
    let mut expected: indexmap::IndexMap<&str, Decimal> = indexmap::IndexMap::new();
    for outcome in outcomes {
        *expected
            .entry(outcome.symbol.as_str())
            .or_insert(Decimal::ZERO) += outcome.side.sign() * outcome.verdict.filled_qty;
    }
    let mut alarms = 0;
    for (symbol, qty) in expected {
        let (consistency, _) = detector.check_position(symbol, qty).await;
        if matches!(
            consistency,
            fillproof_engine::Consistency::Discrepancy { .. }
        ) {
            alarms += 1;
        }
    }
    Some(alarms)
}

/// What a panicking engine task said, or why it ended otherwise.
fn panic_message(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return error.to_string();
    }
    let payload = error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}

fn unfinished(reason: String) -> EngineVerdict {
    EngineVerdict {
        verdict: Verdict::Unresolved,
        filled_qty: Decimal::ZERO,
        avg_price: None,
        deadline_reached: true,
        refused: false,
        reason,
        order_id: None,
        broker_error: None,
        decided_at: None,
    }
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
