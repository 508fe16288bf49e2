//! One seed's simulation on the current runtime: the broker and the engine
//! set up, the workload submitted, faults healed and the settle window
//! given, every order's outcome filed, and the ground truth collected.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fillproof_engine::clock::sleep_until;
use fillproof_engine::{Decimal, Verdict, VirtualClock};
use fillproof_simulator::{BrokerModel, Intent, SimBroker, Workload};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

use super::engines::{Engine, EngineVerdict};
use super::runner::{OrderOutcome, RunSpec, SeedRun, call_budget, executor_config};

pub(super) async fn simulate(spec: &RunSpec, on_order_done: &(dyn Fn() + Sync)) -> Result<SeedRun> {
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
