//! Shared by the property tests: generated scenarios (`Knobs`), a
//! moderate broker strategy, and drivers that run the engine on them.

#![allow(dead_code, reason = "each property test binary uses a different part")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fillproof_engine::{Decimal, FillDetectionConfig, FillDetector, FillResult, Verdict};
use fillproof_harness::measure::metrics::check_orders;
use fillproof_harness::run::{RunSpec, SeedRun, run_seed, simulation_runtime};
use fillproof_simulator::{BrokerModel, Scenario, SimBroker, Workload};
use proptest::prelude::*;

/// 100 cases unless `PROPTEST_CASES` says otherwise, generated from a
/// fixed seed unless `PROPTEST_RNG_SEED` gives another, so that a run
/// in CI is reproducible; failures are recorded under
/// `proptest-regressions/` and replayed first on every run.
pub fn config() -> ProptestConfig {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    ProptestConfig {
        cases: env("PROPTEST_CASES").map_or(100, |c| u32::try_from(c).unwrap_or(u32::MAX)),
        rng_seed: proptest::test_runner::RngSeed::Fixed(
            env("PROPTEST_RNG_SEED").unwrap_or(0x5eed_f111),
        ),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/proptests.txt",
            ),
        )),
        ..ProptestConfig::default()
    }
}

/// Knobs of a generated scenario; `yaml` writes it out.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub seed: u64,
    pub orders: u32,
    pub timeout_s: u32,
    pub fill_probability: f64,
    pub delay_ms: u32,
    pub partial: f64,
    pub pieces_high: u32,
    pub spacing_ms: u32,
    pub unfilled: f64,
    pub status_lag_ms: u32,
    pub stale: f64,
    pub read_faults: f64,
    pub submit_faults: f64,
    pub cancel_faults: f64,
    pub cancel_processing_ms: u32,
    pub accept_204: bool,
    pub position_lag_ms: u32,
    pub extra: String,
}

impl Knobs {
    pub fn yaml(&self) -> String {
        let f = self.read_faults;
        format!(
            r#"version: 1
name: generated
seed: {seed}
workload:
  orders: {orders}
  arrival: {{exponential: {{mean: 400ms}}}}
  symbols: [SPY, QQQ]
  side: {{buy: 0.5, sell: 0.5}}
  qty: {{uniform: [1, 300]}}
  reference_price: {{SPY: "590.10", QQQ: "512.30"}}
engine:
  timeout: {timeout}s
broker:
  account: {{buying_power: "1000000000"}}
  latency:
    submit: {{lognormal: {{median: 60ms, p99: 400ms}}}}
    get_order: {{uniform: [10ms, 150ms]}}
    get_order_by_client_id: 40ms
    cancel: {{request: {{uniform: [20ms, 600ms]}}, response: 20ms}}
    get_position: 30ms
  fill:
    probability: {fp}
    delay: {{exponential: {{mean: {delay}ms}}}}
    partial: {{probability: {partial}, pieces: [2, {pieces}], spacing: {{uniform: [10ms, {spacing}ms]}}, unfilled: {unfilled}}}
    slippage_bps: {{normal: {{mean: 0.5, std: 20}}}}
  visibility:
    status_lag: {{exponential: {{mean: {lag}ms}}}}
    status_spelling: {{filled: 0.4, FILLED: 0.2, OrderStatus.FILLED: 0.2, fill: 0.1, done: 0.1}}
    stale_reads: {{probability: {stale}, age: {{uniform: [100ms, 3s]}}}}
  faults:
    submit: {{lost_response: {sf}, http_500: {sf}, garbage_body: {sf}, timeout_after: 3s}}
    get_order: {{timeout: {f}, http_503: {f}, connection_reset: {f}, garbage_body: {f}, http_429: {f}, timeout_after: 2s}}
    get_order_by_client_id: {{http_503: {f}}}
    cancel: {{timeout: {cf}, http_502: {cf}, timeout_after: 2s}}
  cancel:
    when_filled: {when}
    processing: {proc}ms
  position_lag: {{uniform: [0ms, {plag}ms]}}
{extra}"#,
            seed = self.seed,
            orders = self.orders,
            timeout = self.timeout_s,
            fp = self.fill_probability,
            delay = self.delay_ms.max(1),
            partial = self.partial,
            pieces = self.pieces_high.max(2),
            spacing = self.spacing_ms.max(10),
            unfilled = self.unfilled,
            lag = self.status_lag_ms.max(1),
            stale = self.stale,
            sf = self.submit_faults,
            cf = self.cancel_faults,
            when = if self.accept_204 {
                "accept_204"
            } else {
                "reject_422"
            },
            proc = self.cancel_processing_ms,
            plag = self.position_lag_ms,
            extra = self.extra,
        )
    }

    pub fn scenario(&self) -> Arc<Scenario> {
        let text = self.yaml();
        Arc::new(
            Scenario::parse(text.as_bytes(), "generated.yaml", None)
                .unwrap_or_else(|e| panic!("{e}\n{text}")),
        )
    }
}

/// A broker of moderate misbehaviour: everything on, nothing extreme.
pub fn moderate() -> impl Strategy<Value = Knobs> {
    (
        any::<u64>(),
        4u32..16,
        5u32..30,
        0.5f64..1.0,
        50u32..6_000,
        (0.0f64..0.6, 2u32..6, 10u32..3_000, 0.0f64..0.5),
        0u32..1_000,
        0.0f64..0.2,
        (0.0f64..0.04, 0.0f64..0.05, 0.0f64..0.1),
        0u32..2_000,
        any::<bool>(),
    )
        .prop_map(
            |(
                seed,
                orders,
                timeout_s,
                fill_probability,
                delay_ms,
                partial,
                lag,
                stale,
                faults,
                proc,
                accept_204,
            )| {
                Knobs {
                    seed,
                    orders,
                    timeout_s,
                    fill_probability,
                    delay_ms,
                    partial: partial.0,
                    pieces_high: partial.1,
                    spacing_ms: partial.2,
                    unfilled: partial.3,
                    status_lag_ms: lag,
                    stale,
                    read_faults: faults.0,
                    submit_faults: faults.1,
                    cancel_faults: faults.2,
                    cancel_processing_ms: proc,
                    accept_204,
                    position_lag_ms: 0,
                    extra: String::new(),
                }
            },
        )
}

pub fn run(knobs: &Knobs) -> SeedRun {
    let scenario = knobs.scenario();
    let spec = RunSpec::from_scenario(scenario, knobs.seed).expect("spec");
    run_seed(&spec, &|| {}).expect("run")
}

pub fn run_with(knobs: &Knobs, adjust: impl FnOnce(&mut RunSpec)) -> SeedRun {
    let scenario = knobs.scenario();
    let mut spec = RunSpec::from_scenario(scenario, knobs.seed).expect("spec");
    adjust(&mut spec);
    run_seed(&spec, &|| {}).expect("run")
}

/// Every confident verdict matches the ledger; returns a description of
/// the first that does not.
pub fn confident_verdicts_are_right(run: &SeedRun) -> Result<(), String> {
    for (check, outcome) in check_orders(run).iter().zip(&run.outcomes) {
        let confident = outcome.verdict.verdict != Verdict::Unresolved;
        if confident && check.engine_qty != check.ledger_qty {
            return Err(format!(
                "order {}: verdict {} with {} but the broker filled {} ({})",
                check.index,
                outcome.verdict.verdict,
                check.engine_qty,
                check.ledger_qty,
                outcome.verdict.reason
            ));
        }
    }
    Ok(())
}

/// Runs the detector directly on the simulated broker (for properties
/// that need the full `FillResult`), optionally capturing logs. Returns
/// each result with its reference price and the ledger's average price.
pub fn detect_directly(
    knobs: &Knobs,
    adjust: impl FnOnce(&mut FillDetectionConfig),
    logs: Option<Arc<Mutex<Vec<u8>>>>,
) -> Vec<(FillResult, Decimal, Option<Decimal>)> {
    let scenario = knobs.scenario();
    let mut config = scenario.detection_config().expect("config");
    adjust(&mut config);
    let runtime = simulation_runtime().expect("runtime");
    let body = || {
        runtime.block_on(async {
            let broker = Arc::new(SimBroker::new(
                BrokerModel::from_scenario(&scenario),
                knobs.seed,
                false,
            ));
            let detector = FillDetector::new(Arc::clone(&broker), config)
                .expect("config")
                .with_jitter_seed(knobs.seed);
            let start = tokio::time::Instant::now();
            let mut tasks = Vec::new();
            for intent in Workload::new(&scenario, knobs.seed, None) {
                broker.register(&intent.request.client_order_id, intent.index);
                fillproof_engine::clock::sleep_until(start + intent.submit_at).await;
                let detector = detector.clone();
                let reference = intent.reference_price;
                tasks.push(tokio::spawn(async move {
                    (
                        detector.execute(&intent.request, Some(reference)).await,
                        reference,
                    )
                }));
            }
            let mut results = Vec::new();
            for task in tasks {
                let (result, reference) = task.await.expect("task");
                if let Ok(result) = result {
                    results.push((result, reference));
                }
            }
            fillproof_engine::clock::sleep(Duration::from_secs(300)).await;
            let end = broker.elapsed();
            results
                .into_iter()
                .map(|(result, reference)| {
                    let avg = broker.with_ledger(|l| {
                        l.by_id(&result.order_id).and_then(|o| o.avg_price_at(end))
                    });
                    (result, reference, avg)
                })
                .collect::<Vec<_>>()
        })
    };
    match logs {
        Some(buffer) => {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .without_time()
                .with_writer(move || BufferWriter(Arc::clone(&buffer)))
                .finish();
            tracing::subscriber::with_default(subscriber, body)
        }
        None => body(),
    }
}

pub struct BufferWriter(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for BufferWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every proptest regression file under `dir` (a `*.proptest-regressions`
/// file, or a `.txt` file in a `proptest-regressions/` folder), as a path from
/// `root` with `/` separators; `target/` and hidden folders are skipped.
pub fn regression_files(root: &std::path::Path, dir: &std::path::Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                regression_files(root, &path, found);
            }
            continue;
        }
        let in_folder = path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|p| p == "proptest-regressions");
        if (in_folder && name.ends_with(".txt")) || name.ends_with(".proptest-regressions") {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
            found.push(parts.join("/"));
        }
    }
}
