//! Running seeds: one seed on its own current-thread tokio runtime with a
//! paused clock (its phases are in `simulate.rs`), and many seeds across
//! threads, merged in seed order.

use anyhow::{Context, Result};

use super::seed::{RunSpec, SeedRun};

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
