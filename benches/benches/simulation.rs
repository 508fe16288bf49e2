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
//! in simulated API calls per second, and beside it a bare-tokio baseline:
//! as many tasks, each sleeping on the paused clock as many times as the
//! simulation made API calls, with no engine or broker work, the floor of
//! what the runtime itself costs.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fillproof_benches::scenarios_dir;
use fillproof_harness::commands::load;
use fillproof_harness::runner::{RunSpec, run_seed};

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
fn bare_tokio(tasks: u64, sleeps_per_task: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
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

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation");
    group.sample_size(10);
    for orders in SIZES {
        let spec = spec(orders);
        // One run to learn how many API calls this size makes.
        let probe = run_seed(&spec, &|| {}).expect("run");
        let calls: u64 = probe.calls.iter().sum();
        group.measurement_time(Duration::from_secs(if orders >= 100_000 { 90 } else { 20 }));

        group.throughput(Throughput::Elements(u64::from(orders)));
        group.bench_with_input(BenchmarkId::new("orders", orders), &spec, |b, spec| {
            b.iter(|| run_seed(spec, &|| {}).expect("run"));
        });

        group.throughput(Throughput::Elements(calls));
        group.bench_with_input(BenchmarkId::new("api_calls", orders), &spec, |b, spec| {
            b.iter(|| run_seed(spec, &|| {}).expect("run"));
        });

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
