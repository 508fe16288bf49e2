//! Loading and validating the bundled scenario library: every file under
//! `scenarios/`, as `fillproof check scenarios/` and the gate do before
//! running anything. One element is one file.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fillproof_benches::scenarios_dir;
use fillproof_harness::commands::scenario_files;
use fillproof_simulator::Scenario;

fn load_library(c: &mut Criterion) {
    let files = scenario_files(&[scenarios_dir()]).expect("scenarios folder");
    let mut group = c.benchmark_group("scenarios");
    group.throughput(Throughput::Elements(files.len() as u64));
    group.bench_function("load_and_validate_library", |b| {
        b.iter(|| {
            for file in &files {
                Scenario::load(file).expect("bundled scenarios load");
            }
        });
    });
    group.finish();
}

criterion_group!(benches, load_library);
criterion_main!(benches);
