//! The cost of a moving market: the bundled production day (10,000
//! orders, every fault class) as it is, and with a `market:` section
//! giving each of its five symbols a moving path and a spread (one a
//! volatile one with price gaps), open for the whole run. The target: the
//! run with a market within 1.5 times the run without.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fillproof_benches::scenarios_dir;
use fillproof_harness::run::{RunSpec, run_seed};
use fillproof_simulator::Scenario;

/// Orders in the bundled production day.
const ORDERS: u32 = 10_000;

/// The market section the moving runs add.
const MARKET: &str = "
market:
  hours: always
  symbols:
    QQQ: {volatility: 0.25, quote: {spread_bps: {uniform: [1, 3]}}}
    SPY: {volatility: 0.2}
    AAPL: {volatility: 0.3}
    MSFT: {volatility: 0.3}
    NVDA: {volatility: 0.6, jumps: {probability: 0.0001, size: {normal: {mean: 0, std: 0.01}}}}
";

/// The production day, with `market` appended.
fn spec(market: &str) -> RunSpec {
    let path = scenarios_dir().join("production-day.yaml");
    let text = std::fs::read_to_string(&path).expect("bundled scenario reads");
    let scenario = Scenario::parse(
        format!("{text}{market}").as_bytes(),
        "production-day.yaml",
        Some(&scenarios_dir()),
    )
    .expect("scenario parses");
    let seed = scenario.seed;
    let mut spec = RunSpec::from_scenario(Arc::new(scenario), seed).expect("spec");
    spec.orders = Some(ORDERS);
    spec
}

fn market(c: &mut Criterion) {
    let mut group = c.benchmark_group("market");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(u64::from(ORDERS)));
    for (name, section) in [("still", ""), ("moving", MARKET)] {
        let spec = spec(section);
        group.bench_with_input(
            BenchmarkId::new("production_day", name),
            &spec,
            |b, spec| b.iter(|| run_seed(spec, &|| {}).expect("run")),
        );
    }
    group.finish();
}

criterion_group!(benches, market);
criterion_main!(benches);
