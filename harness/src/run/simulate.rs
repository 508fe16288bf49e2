//! One seed's simulation on the current runtime: the broker and the engine
//! set up, the workload submitted, faults healed and the settle window
//! given, every order's outcome filed, and the ground truth collected.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fillproof_engine::clock::sleep_until;
use fillproof_engine::{Commission, Decimal, EndpointCounts, VirtualClock};
use fillproof_simulator::{BrokerModel, Intent, SimBroker, Workload};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

use super::crash::{CrashRecord, Crashes, Rebuild, Running};
use super::engines::{AuditCollector, Engine};
use super::seed::{OrderOutcome, RunSpec, SeedRun};
use super::status::StatusLog;
use super::tasks::{Filed, Filing, Finished, spawn_order, unfinished};

/// Runs one seed on the current (paused) runtime. The phases, in order:
/// set up the broker and the engine, submit the workload, give the settle
/// window (faults heal when the workload is over), file every order's
/// outcome, let the engine check its positions, wait for the requests
/// still travelling to the broker, and collect what the run produced.
pub(super) async fn simulate(spec: &RunSpec, on_order_done: &(dyn Fn() + Sync)) -> Result<SeedRun> {
    let mut setup = set_up(spec)?;
    let scenario = &spec.scenario;
    let start = Instant::now();
    let run_limit = start + scenario.limits.max_virtual_time.0;

    let mut filing = Filing::new(setup.room, on_order_done);
    let mut crashes = setup.crashes.take();
    let mut engine = setup.engine.clone();
    let mut submitted = submit_workload(
        spec,
        &setup,
        (start, run_limit),
        (&mut filing, &mut engine, &mut crashes),
    )
    .await?;

    let window = Window::after(spec, start, submitted.last_submit, run_limit);
    let healer = heal_at(&setup.broker, window.workload_end);
    let mut running = Running {
        tasks: &mut submitted.tasks,
        filing: &mut filing,
        engine: &mut engine,
        intents: &submitted.intents,
        start,
    };
    settle(&mut running, window.settle_end, crashes.as_mut()).await?;
    setup.engine = engine;
    let crash_records = crashes.map(|c| {
        c.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    });
    let cut_short = window.settle_end >= run_limit;
    let unrun = setup
        .workload_orders
        .saturating_sub(submitted.intents.len() as u64);
    let outcomes = file_outcomes(submitted.intents, filing.results, cut_short, on_order_done);

    // The engine's calls end here: the position check below is the
    // harness reading positions, not the engine working orders.
    let calls = setup.broker.calls();
    // The 429s of the same calls: the share they are of `calls` never
    // counts an answer to a call `calls` leaves out.
    let rate_limited =
        fillproof_simulator::judge::rate_limited_calls(&setup.broker.faults_injected());
    // The run's time bound holds for the engine's own end-of-run checks
    // too: cut off, they report nothing (absent, not zero).
    let position_alarms = timeout_at(run_limit, check_positions(&setup.engine, &outcomes))
        .await
        .ok()
        .flatten();

    // The broker goes on after the engine has given up on an order (a fill
    // during cancel processing lands later): the truth is taken once the
    // settle window has closed, when everything the broker scheduled by
    // then has happened.
    sleep_until(window.settle_end).await;
    wait_for_travelling_requests(&setup.broker, scenario.limits.settle.0, run_limit).await;
    healer.abort();

    Ok(collect(
        spec,
        setup,
        Ended {
            start,
            outcomes,
            calls,
            rate_limited,
            position_alarms,
            unrun,
            panics: filing.panics,
            crashes: crash_records,
        },
    ))
}

/// The broker and the engine a seed runs, before any order.
struct Setup {
    broker: Arc<SimBroker>,
    engine: Engine<SimBroker>,
    /// What the engines' event streams said, and when.
    status: StatusLog,
    /// The engine's crashes, when the scenario has any.
    crashes: Option<Crashes>,
    /// Swarm mode's mix, when on.
    swarm: Vec<String>,
    /// The broker's time origin: the instant virtual time zero stands for.
    origin: fillproof_simulator::TimeOrigin,
    commission: Commission,
    /// The orders the run asks for.
    workload_orders: u64,
    /// Room reserved up front for the run's orders.
    room: usize,
}

/// Refuses, before any work, a strategy the scenario cannot serve (stream
/// first without a stream) and a timeline that fills an order past the
/// quantity drawn for it (never cut short). Returns whether the engine
/// detects stream first.
fn refuse_what_cannot_run(spec: &RunSpec, model: &BrokerModel) -> Result<bool> {
    let scenario = &spec.scenario;
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
    let orders = Workload::new(scenario, spec.seed, spec.orders).len();
    fillproof_simulator::check_scripted_quantities(model, scenario, spec.seed, orders)
        .map_err(|overfill| anyhow::anyhow!("{}, seed {}: {overfill}", scenario.name, spec.seed))?;
    Ok(hybrid)
}

/// Where the engine's audit log goes: a journal a crash can cut, kept
/// whole with what of it is durable, when the scenario crashes the
/// engine; otherwise a summary (with the lines when asked for).
fn collector_for(
    spec: &RunSpec,
    crashes: Option<&fillproof_simulator::CrashesSpec>,
) -> AuditCollector {
    match crashes {
        Some(crashes) => AuditCollector::journal(match crashes.journal {
            fillproof_simulator::JournalSync::EveryRecord => {
                fillproof_engine::Durability::EveryRecord
            }
            fillproof_simulator::JournalSync::Batched(n) => {
                fillproof_engine::Durability::Batched(n)
            }
        }),
        None => AuditCollector::new(spec.keep_audit_lines),
    }
}

/// Sets up the broker and the engine: refuses a strategy the scenario
/// cannot serve and a timeline that overfills an order, before any work.
fn set_up(spec: &RunSpec) -> Result<Setup> {
    let scenario = &spec.scenario;
    let mut model = BrokerModel::from_scenario(scenario);
    let swarm = if spec.swarm {
        model.swarm(spec.seed)
    } else {
        Vec::new()
    };
    let origin = model.time_origin();
    let hybrid = refuse_what_cannot_run(spec, &model)?;
    let broker = Arc::new(SimBroker::new(model, spec.seed, spec.record_trace));
    let config = scenario
        .executor_config_with(spec.config.clone())
        .map_err(anyhow::Error::msg)?;
    let commission = config.commission;
    // The engine's clock reads the broker's one origin.
    let clock: Arc<dyn fillproof_engine::Clock> =
        VirtualClock::new(origin.epoch_unix_micros()).shared();
    // A run that crashes its engine keeps the whole journal, and what of
    // it is durable.
    let crash_settings = scenario.crash_settings();
    let collector = collector_for(spec, crash_settings.as_ref());
    let rebuild = Rebuild {
        kind: spec.engine,
        broker: Arc::clone(&broker),
        config,
        clock,
        seed: spec.seed,
        key: spec.audit_key.clone(),
        collector,
        hybrid,
        origin_micros: origin.epoch_unix_micros(),
        status: StatusLog::default(),
    };
    let status = rebuild.status.clone();
    let engine = rebuild.engine(None).context("engine configuration")?;
    let workload_orders = u64::from(spec.orders.unwrap_or(scenario.workload.orders.value));
    // Room for the run's orders up front (at most a million: beyond that
    // the tables grow as they go).
    let room = usize::try_from(workload_orders.min(1 << 20)).unwrap_or(1 << 20);
    broker.reserve(room);
    let crashes = crash_settings.map(|settings| {
        Crashes::new(
            settings,
            spec.seed,
            scenario.limits.max_virtual_time.0,
            rebuild,
        )
    });
    Ok(Setup {
        broker,
        engine,
        status,
        crashes,
        swarm,
        origin,
        commission,
        workload_orders,
        room,
    })
}

/// The workload as submitted: the tasks still working, the intents sent,
/// and when the last of them was.
struct Submitted {
    tasks: JoinSet<Finished>,
    intents: Vec<Intent>,
    last_submit: Duration,
}

/// Submits the workload, each order at its time, one engine task per
/// order, reaping finished tasks as it goes; stops at the run's time bound.
async fn submit_workload(
    spec: &RunSpec,
    setup: &Setup,
    (start, run_limit): (Instant, Instant),
    (filing, engine, crashes): (
        &mut Filing<'_>,
        &mut Engine<SimBroker>,
        &mut Option<Crashes>,
    ),
) -> Result<Submitted> {
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let mut intents: Vec<Intent> = Vec::with_capacity(setup.room);
    let mut last_submit = Duration::ZERO;
    for intent in Workload::new(&spec.scenario, spec.seed, spec.orders) {
        setup
            .broker
            .register(&intent.request.client_order_id, intent.index);
        let at = start + intent.submit_at;
        if at >= run_limit {
            break;
        }
        // Crashes come first: at their instants, and whenever a call
        // reaches a crash point the timeline scripts.
        while let Some(crashes) = crashes.as_mut() {
            let planned = crashes.next_before(intent.submit_at).is_some();
            let mut running = Running {
                tasks: &mut tasks,
                filing,
                engine,
                intents: &intents,
                start,
            };
            if planned {
                crashes.crash(&mut running, None).await?;
                continue;
            }
            tokio::select! {
                biased;
                () = setup.broker.crash_point_reached() => {
                    crashes.crash(&mut running, Some(start.elapsed())).await?;
                }
                () = sleep_until(at) => break,
            }
        }
        sleep_until(at).await;
        while let Some(joined) = tasks.try_join_next_with_id() {
            filing.file(joined);
        }
        last_submit = intent.submit_at;
        let id = spawn_order(&mut tasks, engine, &setup.broker, &intent, start);
        filing.started(id, intent.index);
        intents.push(intent);
    }
    Ok(Submitted {
        tasks,
        intents,
        last_submit,
    })
}

/// When the workload is over and when the settle window closes.
struct Window {
    workload_end: Instant,
    settle_end: Instant,
}

impl Window {
    /// The workload is over once the last order has had its full deadline
    /// (and the keep-working extension); then faults heal and the engine
    /// gets its reconcile horizon (it may keep reading an order that long
    /// past its deadline) and the settle window to finish. Both end by the
    /// run's time bound.
    fn after(spec: &RunSpec, start: Instant, last_submit: Duration, run_limit: Instant) -> Self {
        let extension = match spec.config.partial_fill_policy {
            fillproof_engine::PartialFillPolicy::KeepWorking { extension } => extension,
            fillproof_engine::PartialFillPolicy::CancelRemainder => Duration::ZERO,
        };
        let workload_end = (start + last_submit + spec.config.timeout + extension).min(run_limit);
        let settle_end =
            (workload_end + spec.config.reconcile_horizon + spec.scenario.limits.settle.0)
                .min(run_limit);
        Self {
            workload_end,
            settle_end,
        }
    }
}

/// Heals the broker's faults at `at`, on a task of its own.
fn heal_at(broker: &Arc<SimBroker>, at: Instant) -> tokio::task::JoinHandle<()> {
    let broker = Arc::clone(broker);
    tokio::spawn(async move {
        sleep_until(at).await;
        broker.heal();
    })
}

/// Files tasks as they finish until `settle_end`, crashing the engine
/// when a crash comes before then; whatever is still working when the
/// settle window closes is stopped.
async fn settle(
    run: &mut Running<'_, '_>,
    settle_end: Instant,
    mut crashes: Option<&mut Crashes>,
) -> Result<()> {
    loop {
        let crash = crashes
            .as_deref()
            .and_then(|c| c.next_back_before(settle_end.duration_since(run.start)));
        let until = crash.map_or(settle_end, |c| run.start + c.at);
        let point = crashes.as_deref().map(Crashes::broker);
        let mut at_point = false;
        loop {
            let joined = tokio::select! {
                biased;
                () = async { point.expect("checked").crash_point_reached().await }, if point.is_some() => {
                    at_point = true;
                    break;
                }
                joined = timeout_at(until, run.tasks.join_next_with_id()) => joined,
            };
            match joined {
                Ok(Some(joined)) => run.filing.file(joined),
                _ => break,
            }
        }
        match crashes.as_deref_mut() {
            Some(crashes) if at_point => crashes.crash(run, Some(run.start.elapsed())).await?,
            Some(crashes) if crash.is_some() => crashes.crash(run, None).await?,
            _ => break,
        }
    }
    run.tasks.abort_all();
    while run.tasks.join_next().await.is_some() {}
    Ok(())
}

/// Every submitted order's outcome, in workload order; an order whose
/// engine never concluded is unfinished, with the reason the run ended.
fn file_outcomes(
    intents: Vec<Intent>,
    results: Vec<Option<Filed>>,
    cut_short: bool,
    on_order_done: &(dyn Fn() + Sync),
) -> Vec<OrderOutcome> {
    let mut outcomes = Vec::with_capacity(intents.len());
    for (intent, result) in intents.into_iter().zip(results) {
        let (verdict, concluded_at, cancel_requested_at) = result.unwrap_or_else(|| {
            on_order_done();
            let reason = if cut_short {
                "engine still working when limits.max_virtual_time ended the run"
            } else {
                "engine still working when the settle window closed"
            };
            (unfinished(reason.to_owned()), None, None)
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
            cancel_requested_at,
        });
    }
    outcomes
}

/// Requests the engine stopped waiting for still land at the broker: the
/// truth waits for the last of them, and gives what it placed a settle
/// window of its own, within the run's time bound.
async fn wait_for_travelling_requests(broker: &SimBroker, settle: Duration, run_limit: Instant) {
    while let Some(lands) = broker.requests_travelling_until() {
        let until = (lands + settle).min(run_limit);
        if Instant::now() >= until {
            break;
        }
        sleep_until(until).await;
    }
}

/// What the run's phases gathered before the truth is collected.
struct Ended {
    start: Instant,
    outcomes: Vec<OrderOutcome>,
    calls: EndpointCounts<u64>,
    rate_limited: u64,
    position_alarms: Option<u64>,
    unrun: u64,
    panics: Vec<(u32, String)>,
    crashes: Option<Vec<CrashRecord>>,
}

/// Collects what the run produced: the requests never landed, the ledger,
/// the trace, the submits, and the engine's book, fills and audit log.
fn collect(spec: &RunSpec, setup: Setup, ended: Ended) -> SeedRun {
    let Setup {
        broker,
        engine,
        swarm,
        origin,
        commission,
        status,
        ..
    } = setup;
    let unlanded = broker.requests_travelling();
    let ended_at = ended.start.elapsed();
    let ledger = broker.take_ledger();
    let (book, applied, audit, status) = match &engine {
        Engine::Executor(executor, sink) => (
            Some(executor.positions()),
            executor.applied(),
            Some(sink.summary()),
            Some(status.take()),
        ),
        Engine::Naive(_) => (None, Vec::new(), None, None),
    };
    SeedRun {
        seed: spec.seed,
        outcomes: ended.outcomes,
        ledger,
        market: broker.shared_market(),
        ended_at,
        trace: broker.trace(),
        calls: ended.calls,
        submits: broker.take_submits(),
        unrun: ended.unrun,
        unlanded,
        // Without a call budget nothing queues: the wait is absent, not 0.
        submit_waits: match &engine {
            Engine::Executor(executor, _) if spec.scenario.call_budget().is_some() => {
                Some(executor.detector().broker().submit_waits())
            }
            Engine::Executor(..) | Engine::Naive(_) => None,
        },
        panics: ended.panics,
        crashes: ended.crashes,
        crash_points_unreached: broker.crash_points_unreached(),
        origin,
        rate_limited: ended.rate_limited,
        position_alarms: ended.position_alarms,
        swarm,
        book,
        applied,
        commission,
        audit,
        status,
    }
}

/// The engine's own end-of-run position check once every order is done:
/// each symbol's broker position against the engine's fills, re-read
/// through position lag. Returns the symbols the engine reported
/// inconsistent. The naive baseline does not check its positions.
async fn check_positions(engine: &Engine<SimBroker>, outcomes: &[OrderOutcome]) -> Option<u64> {
    let Engine::Executor(executor, _) = engine else {
        return None;
    };
    let detector = executor.detector();
    let mut expected: indexmap::IndexMap<&str, Decimal> = indexmap::IndexMap::new();
    for outcome in outcomes {
        let exits: Decimal = outcome
            .verdict
            .exits
            .iter()
            .map(|exit| exit.side.sign() * exit.filled_qty)
            .sum();
        *expected
            .entry(outcome.symbol.as_str())
            .or_insert(Decimal::ZERO) += outcome.side.sign() * outcome.verdict.filled_qty + exits;
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
