//! The engine's own costs, with the broker taken out:
//!
//! - per-poll overhead: one order monitored against a broker that answers
//!   at once, filling on read 10, 100 or 1,000 (a quick fill, a slow one,
//!   an order that sits for most of a long deadline), so the time per
//!   element is the engine's cost of one poll;
//! - pre-trade validation of one signal (the lifecycle specification asks
//!   for well under 100 µs per order);
//! - the engine's work per order under load (seed 003's criterion 8): the
//!   library's concurrent-traders flow with one trader and with a
//!   hundred, run whole on virtual time, so the time per element is the
//!   wall-clock work of one order (the engine's and the simulated
//!   broker's, the broker's the same in both).

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fillproof_benches::InstantBroker;
use fillproof_engine::{
    Decimal, FillDetectionConfig, FillDetector, PollingConfig, Side, Signal, ValidationConfig,
    validate,
};
use fillproof_harness::run::{RunSpec, run_seed, simulation_runtime};

/// Polls per monitored order, as described in the header.
const SIZES: [u32; 3] = [10, 100, 1_000];

fn per_poll(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine_poll");
    let runtime = simulation_runtime().expect("runtime");
    for polls in SIZES {
        let broker = Arc::new(InstantBroker::new(polls));
        let config = FillDetectionConfig {
            timeout: Duration::from_secs(3_600),
            polling: PollingConfig::Fixed {
                interval: fillproof_engine::MIN_POLL_INTERVAL,
            },
            ..FillDetectionConfig::default()
        };
        let detector = FillDetector::new(Arc::clone(&broker), config).expect("config");
        group.throughput(Throughput::Elements(u64::from(polls)));
        group.bench_with_input(BenchmarkId::new("polls", polls), &polls, |b, _| {
            b.iter(|| {
                broker.reset();
                runtime.block_on(detector.monitor(InstantBroker::order(), Some(Decimal::from(590))))
            });
        });
    }
    group.finish();
}

fn validation(c: &mut Criterion) {
    let signal = Signal {
        stop_price: None,
        trail: None,
        client_order_id: "c-1".into(),
        trader_id: "t-1".into(),
        symbol: "SPY".into(),
        side: Side::Buy,
        qty: Decimal::from(100),
        limit_price: Some("590.50".parse().expect("price")),
        stop_loss: Some("580.00".parse().expect("price")),
        take_profit: Some("600.00".parse().expect("price")),
        time_in_force: fillproof_engine::TimeInForce::Day,
        extended_hours: false,
    };
    let reference: Decimal = "590.10".parse().expect("price");
    let available = Some(Decimal::from(1_000_000));
    let config = ValidationConfig::default();
    let mut group = c.benchmark_group("validation");
    group.throughput(Throughput::Elements(1));
    group.bench_function("signal", |b| {
        b.iter(|| validate(std::hint::black_box(&signal), reference, available, &config));
    });
    group.finish();
}

/// Orders of the concurrent-traders flow each iteration runs.
const FLOW_ORDERS: u32 = 300;

fn traders(c: &mut Criterion) {
    let path = fillproof_benches::scenarios_dir().join("targets/concurrent-traders.yaml");
    let scenario = fillproof_simulator::Scenario::load(&path).expect("bundled scenario");
    let mut group = c.benchmark_group("traders");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(FLOW_ORDERS)));
    for count in [1, 100] {
        let mut flow = scenario.clone();
        flow.workload.traders = count;
        let seed = flow.seed;
        let mut spec = RunSpec::from_scenario(Arc::new(flow), seed).expect("spec");
        spec.orders = Some(FLOW_ORDERS);
        group.bench_with_input(BenchmarkId::new("orders", count), &spec, |b, spec| {
            b.iter(|| run_seed(spec, &|| {}).expect("run"));
        });
    }
    group.finish();
}

criterion_group!(benches, per_poll, validation, traders);
criterion_main!(benches);
