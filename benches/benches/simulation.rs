//! End-to-end simulation throughput: the robust engine against the
//! simulated broker on the production-day scenario (every fault class at a
//! low rate, a rate limit, an outage), at three sizes:
//!
//! - 1,000 orders: a morning of one bot, the size of a quick local check;
//! - 10,000 orders: the bundled production day, what CI gates on;
//! - 100,000 orders: a month of one bot, or a day of a desk, the size of a
//!   seed sweep's single run.
//!
//! Each size is measured twice, with throughput in orders per second and
//! in simulated API calls per second, and beside it two bare-tokio
//! baselines on a paused clock, with no engine or broker work:
//!
//! - `bare_tokio_sleeps`: as many tasks as orders, each sleeping as many
//!   times as the simulation made API calls per order, on durations of
//!   1 ms to 1 s that many tasks share (the runtime's best case);
//! - `bare_tokio_replay`: every timer the simulated run made (the engine's
//!   poll intervals, backoffs and call timeouts, the broker's request and
//!   response legs, the rate limiter), replayed task by task in the order
//!   it made them: a timer that fired is slept through to its deadline, a
//!   timer dropped unfired (a call's timeout that the answer beat) is
//!   registered and cancelled when the run dropped it (the runtime's floor
//!   for this very run).
//!
//! Their throughput is in timers per second, so `api_calls` over
//! `bare_tokio_sleeps` is the share of the runtime's best case a simulated
//! call reaches, and the replay's time over the run's is the share of a
//! run that is the runtime's own timer work.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fillproof_benches::scenarios_dir;
use fillproof_engine::clock::{TimerEnd, record_timers};
use fillproof_harness::commands::load;
use fillproof_harness::run::{RunSpec, run_seed, simulation_runtime};

/// Orders per size, as described in the header.
const SIZES: [u32; 3] = [1_000, 10_000, 100_000];

fn spec(orders: u32) -> RunSpec {
    let scenario =
        load(&scenarios_dir().join("production-day.yaml")).expect("bundled scenario loads");
    let mut spec = RunSpec::from_scenario(scenario.clone(), scenario.seed).expect("spec");
    spec.orders = Some(orders);
    spec
}

/// `tasks` tasks each sleeping `sleeps_per_task` times on a paused clock.
#[expect(
    clippy::disallowed_methods,
    reason = "the baseline is bare tokio, without the engine's timer wrapper"
)]
fn bare_tokio(tasks: u64, sleeps_per_task: u64) {
    simulation_runtime().expect("runtime").block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                tokio::spawn(async move {
                    for step in 0..sleeps_per_task {
                        tokio::time::sleep(Duration::from_millis(1 + (i + step) % 997)).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task");
        }
    });
}

/// What became of one recorded timer, as the replay repeats it.
#[derive(Clone, Copy)]
enum Fate {
    /// It fired: the task slept until its deadline.
    Waited,
    /// It was dropped unfired at this offset: registered and cancelled,
    /// never woken for (a call's timeout that the answer beat).
    Dropped(Duration),
}

/// One recorded timer: its deadline (offset from the run's first timer)
/// and its fate.
#[derive(Clone, Copy)]
struct ReplayTimer {
    deadline: Duration,
    fate: Fate,
}

/// A recorded run's timers, task by task: when each task made its first
/// timer (offset from the run's first timer) and its timers in the order it
/// made them. Timers made outside a task (the harness's own arrival waits)
/// are left out; the replay makes one such wait per task instead.
struct Replay {
    tasks: Vec<(Duration, Arc<[ReplayTimer]>)>,
    /// Timers replayed, with one arrival wait per task.
    timers: u64,
}

impl Replay {
    fn record(spec: &RunSpec) -> Self {
        let (run, waits) = record_timers(|| run_seed(spec, &|| {}));
        run.expect("run");
        let origin = waits.first().map(|w| w.start).expect("the run waits");
        let mut tasks: indexmap::IndexMap<tokio::task::Id, (Duration, Vec<ReplayTimer>)> =
            indexmap::IndexMap::new();
        for wait in &waits {
            let Some(task) = wait.task else { continue };
            let fate = match wait.end {
                Some(TimerEnd::Fired) => Fate::Waited,
                Some(TimerEnd::Dropped(at)) => Fate::Dropped(at - origin),
                // Alive when the run ended: dropped with its task.
                None => Fate::Dropped(Duration::MAX),
            };
            tasks
                .entry(task)
                .or_insert_with(|| (wait.start - origin, Vec::new()))
                .1
                .push(ReplayTimer {
                    deadline: wait.deadline - origin,
                    fate,
                });
        }
        let mut tasks: Vec<(Duration, Arc<[ReplayTimer]>)> = tasks
            .into_values()
            .map(|(start, timers)| (start, Arc::from(timers)))
            .collect();
        tasks.sort_by_key(|(start, _)| *start);
        let timers = tasks.iter().map(|(_, d)| d.len() as u64 + 1).sum();
        Self { tasks, timers }
    }

    /// Replays the timers on bare tokio: each task starts when it first
    /// made a timer and makes its timers in the same order: it sleeps until
    /// the deadline of each that fired, and registers each that was dropped
    /// unfired, cancelling it once the replay's clock reaches the time the
    /// run dropped it.
    #[expect(
        clippy::disallowed_methods,
        reason = "the baseline is bare tokio, without the engine's timer wrapper"
    )]
    fn run(&self) {
        simulation_runtime().expect("runtime").block_on(async {
            let origin = tokio::time::Instant::now();
            let mut handles = Vec::with_capacity(self.tasks.len());
            for (start, timers) in &self.tasks {
                let start = *start;
                tokio::time::sleep_until(origin + start).await;
                let timers = Arc::clone(timers);
                handles.push(tokio::spawn(async move {
                    replay_task(origin, start, &timers).await;
                }));
            }
            for handle in handles {
                handle.await.expect("task");
            }
        });
    }
}

/// One task's timers, replayed as [`Replay::run`] describes. The replay's
/// time is followed from the deadlines it waits for (on the paused clock a
/// wait ends at its deadline, or at once when that has passed), so the
/// replay reads the clock no more than the run's own timers make it.
#[expect(
    clippy::disallowed_methods,
    reason = "the baseline is bare tokio, without the engine's timer wrapper"
)]
async fn replay_task(origin: tokio::time::Instant, start: Duration, timers: &[ReplayTimer]) {
    // Armed timers, each with the time the run dropped it; a slot emptied
    // is used again, so a task allocates only for the most it holds at
    // once (two in the production day).
    let mut slots: Vec<(Pin<Box<Option<tokio::time::Sleep>>>, Duration)> = Vec::new();
    let mut armed = 0usize;
    let mut now = start;
    for timer in timers {
        match timer.fate {
            Fate::Waited => {
                tokio::time::sleep_until(origin + timer.deadline).await;
                now = now.max(timer.deadline);
            }
            Fate::Dropped(until) => {
                let sleep = tokio::time::sleep_until(origin + timer.deadline);
                let index = match slots.iter().position(|(slot, _)| slot.is_none()) {
                    Some(index) => index,
                    None => {
                        slots.push((Box::pin(None), Duration::MAX));
                        slots.len() - 1
                    }
                };
                let (slot, slot_until) = &mut slots[index];
                slot.set(Some(sleep));
                *slot_until = until;
                if let Some(sleep) = slot.as_mut().as_pin_mut() {
                    register(sleep).await;
                }
                armed += 1;
            }
        }
        if armed == 0 {
            continue;
        }
        for (slot, until) in &mut slots {
            if *until <= now {
                slot.set(None);
                *until = Duration::MAX;
                armed -= 1;
            }
        }
    }
}

/// Polls a timer once, as awaiting it in a `select` does: the runtime
/// registers it.
async fn register(sleep: Pin<&mut tokio::time::Sleep>) {
    let mut sleep = sleep;
    std::future::poll_fn(|cx| {
        let _ = sleep.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation");
    group.sample_size(10);
    for orders in SIZES {
        let spec = spec(orders);
        // One run to learn how many API calls this size makes.
        let probe = run_seed(&spec, &|| {}).expect("run");
        let calls: u64 = probe.calls.total();
        group.measurement_time(Duration::from_secs(if orders >= 100_000 { 90 } else { 20 }));

        group.throughput(Throughput::Elements(u64::from(orders)));
        group.bench_with_input(BenchmarkId::new("orders", orders), &spec, |b, spec| {
            b.iter(|| run_seed(spec, &|| {}).expect("run"));
        });

        group.throughput(Throughput::Elements(calls));
        group.bench_with_input(BenchmarkId::new("api_calls", orders), &spec, |b, spec| {
            b.iter(|| run_seed(spec, &|| {}).expect("run"));
        });

        let replay = Replay::record(&spec);
        group.throughput(Throughput::Elements(replay.timers));
        group.bench_with_input(
            BenchmarkId::new("bare_tokio_replay", orders),
            &replay,
            |b, replay| b.iter(|| replay.run()),
        );

        let per_task = calls.div_ceil(u64::from(orders));
        group.throughput(Throughput::Elements(per_task * u64::from(orders)));
        group.bench_with_input(
            BenchmarkId::new("bare_tokio_sleeps", orders),
            &orders,
            |b, &orders| {
                b.iter(|| bare_tokio(u64::from(orders), per_task));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, simulation);
criterion_main!(benches);
