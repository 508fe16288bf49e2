//! The simulated trade_updates stream under flapping: a stream that is up
//! for 1 ms and down for 1 ms, without end, while 20 orders fill in pieces
//! and their events are delivered or lost. Each size is a span of virtual
//! time (10 s, 1 min, 10 min: 5,000 to 300,000 reconnects), with
//! throughput in reconnects; the cost per reconnect stays flat as the span
//! grows (the disconnect windows are looked up by binary search and those
//! long past are dropped, where a scan of every window drawn made it grow
//! with the span).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fillproof_engine::{Broker, StreamItem, TradeUpdates};
use fillproof_harness::run::simulation_runtime;
use fillproof_simulator::{BrokerModel, Scenario, SimBroker, Workload};
use tokio::time::Instant;

/// Virtual seconds per size.
const SPANS: [u64; 3] = [10, 60, 600];

const SCENARIO: &str = "version: 1
name: flapping-stream
seed: 5
workload:
  orders: 20
  symbols: [QQQ]
  qty: 100
  reference_price: {QQQ: \"100.00\"}
broker:
  fill:
    delay: {exponential: {mean: 3s}}
    partial: {probability: 0.5, pieces: [2, 4], spacing: 300ms}
  stream:
    delay: {lognormal: {median: 2ms, p99: 20ms}}
    disconnects: {every: 1ms, down_for: 1ms}
";

/// Places every order at time zero and reads the stream for `span` of
/// virtual time; returns the reconnects seen.
fn flap(scenario: &Scenario, span: Duration) -> usize {
    simulation_runtime().expect("runtime").block_on(async {
        let broker = SimBroker::new(BrokerModel::from_scenario(scenario), scenario.seed, false);
        let mut items = broker.subscribe();
        for intent in Workload::new(scenario, scenario.seed, None) {
            broker.register(&intent.request.client_order_id, intent.index);
            broker
                .submit_order(&intent.request)
                .await
                .expect("accepted");
        }
        let end = Instant::now() + span;
        let mut reconnects = 0;
        while let Ok(Some(item)) = tokio::time::timeout_at(end, items.recv()).await {
            reconnects += usize::from(item == StreamItem::Reconnected);
        }
        reconnects
    })
}

fn flapping(c: &mut Criterion) {
    let scenario = Scenario::parse(SCENARIO.as_bytes(), "flapping-stream.yaml", None)
        .expect("bench scenario parses");
    let mut group = c.benchmark_group("stream_flapping");
    group.sample_size(10);
    for secs in SPANS {
        let span = Duration::from_secs(secs);
        // Up 1 ms, down 1 ms: a reconnect every 2 ms.
        group.throughput(Throughput::Elements(secs * 500));
        group.bench_with_input(BenchmarkId::new("reconnects", secs), &span, |b, span| {
            b.iter(|| flap(&scenario, *span));
        });
    }
    group.finish();
}

criterion_group!(benches, flapping);
criterion_main!(benches);
