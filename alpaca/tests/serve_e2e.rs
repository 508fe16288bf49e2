//! End to end on loopback: the engine, through this crate's REST adapter,
//! against `fillproof serve`, on the real clock. The wire must not change
//! the verdict: the server's report, measured against its ledger, shows no
//! missed fill, no invented fill and no duplicate order, as the in-process
//! run of the same scenario does.

use std::path::Path;
use std::sync::Arc;

use std::time::Duration;

use fillproof_alpaca::{AlpacaBroker, AlpacaConfig, AlpacaStream};
use fillproof_engine::PollingConfig;
use fillproof_engine::clock::{SystemClock, sleep_until};
use fillproof_harness::measure::metrics::Tally;
use fillproof_harness::run::engines::Engine;
use fillproof_harness::run::{RunSpec, run_seed};
use fillproof_serve::Report;
use fillproof_simulator::{EngineKind, Scenario, Workload};
use serde_json::{Value, json};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/wire")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// A server for `scenario`, as `fillproof serve` runs one; its base URL
/// and a handle to its report.
fn start_server(scenario: Scenario) -> (String, std::thread::JoinHandle<Report>) {
    let seed = scenario.seed;
    let (address, server) =
        fillproof_serve::spawn_on_thread(scenario, seed, None).expect("server starts");
    (format!("http://{address}"), server)
}

async fn post(base_url: &str, path: &str, body: &Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{base_url}{path}"))
        .json(body)
        .send()
        .await
        .expect("server answers")
        .status()
        .as_u16()
}

/// Runs the engine over the wire on every order of `scenario`'s workload,
/// each placed at its arrival time, its verdict claimed to the server;
/// with `stream`, the engine listens to the server's trade_updates and
/// polls in hybrid mode. Returns the server's report at shutdown.
fn drive(scenario: &Scenario, stream: bool) -> Report {
    let seed = scenario.seed;
    let (base_url, server) = start_server(scenario.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = AlpacaConfig::paper("key", "secret")
            .with_base_url(&base_url)
            .expect("url");
        let broker = Arc::new(AlpacaBroker::new(config.clone()).expect("client"));
        let mut detection = scenario.detection_config().expect("engine section");
        if stream {
            detection.polling = PollingConfig::Hybrid {
                safety: Duration::from_secs(2),
            };
        }
        let executor = scenario.executor_config_with(detection).expect("config");
        let mut engine = Engine::new(
            EngineKind::Robust,
            broker,
            executor,
            Arc::new(SystemClock),
            seed,
            false,
        )
        .expect("engine");
        if stream {
            engine = engine.listening_to(&AlpacaStream::new(config));
            // Let the websocket connect and listen before the first order.
            fillproof_engine::clock::sleep(Duration::from_millis(300)).await;
        }
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for intent in Workload::new(scenario, seed, None) {
            sleep_until(start + intent.submit_at).await;
            let engine = engine.clone();
            tasks.push(tokio::spawn(async move {
                let signal = intent.signal();
                let verdict = engine.execute(&signal, intent.reference_price).await;
                (signal.client_order_id, verdict.filled_qty)
            }));
        }
        let mut claims = serde_json::Map::new();
        for task in tasks {
            let (id, qty) = task.await.expect("order task");
            claims.insert(id, json!(qty.to_string()));
        }
        let claimed = post(
            &base_url,
            "/_fillproof/claims",
            &json!({ "filled_qty": claims }),
        )
        .await;
        assert_eq!(claimed, 200);
        assert_eq!(
            post(&base_url, "/_fillproof/shutdown", &json!({})).await,
            200
        );
    });
    server.join().expect("server ends")
}

/// The engine over the wire, polling, against every fault class: the
/// server's report shows what the in-process run shows.
#[test]
fn engine_over_the_wire_misses_invents_and_duplicates_nothing() {
    let scenario = scenario("every-fault.yaml");
    let seed = scenario.seed;
    let report = drive(&scenario, false);

    let in_process = run_seed(
        &RunSpec::from_scenario(Arc::new(scenario.clone()), seed).expect("spec"),
        &|| {},
    )
    .expect("in-process run");
    let tally = Tally::of(&in_process);
    assert_eq!(
        (
            tally.missed_fills,
            tally.false_positives,
            tally.duplicate_orders
        ),
        (0, 0, 0),
        "in process"
    );
    assert_eq!(report.orders_placed, 12, "{report:#?}");
    assert!(report.filled_orders > 0, "{report:#?}");
    assert!(
        !report.faults_injected.is_empty(),
        "faults reached the wire: {:?}",
        report.faults_injected
    );
    assert_eq!(report.missed_fills, Some(0), "over the wire: {report:#?}");
    assert_eq!(
        report.false_positives,
        Some(0),
        "over the wire: {report:#?}"
    );
    assert_eq!(report.duplicate_orders, 0, "over the wire: {report:#?}");
    assert_eq!(
        report.detection_rate,
        Some(1.0),
        "over the wire: {report:#?}"
    );
    assert!(report.passed, "{report:#?}");
}

/// The engine listening to the server's trade_updates websocket through
/// `AlpacaStream`: every fill detected, and detected from the stream (the
/// REST reads stay below one an order; polling alone would read each
/// order several times).
#[test]
fn engine_listening_to_the_websocket_detects_every_fill_from_it() {
    let scenario = scenario("calm-session.yaml");
    let report = drive(&scenario, true);
    assert_eq!(report.orders_placed, 3, "{report:#?}");
    assert_eq!(report.filled_orders, 3, "{report:#?}");
    assert_eq!(report.missed_fills, Some(0), "{report:#?}");
    assert_eq!(report.false_positives, Some(0), "{report:#?}");
    assert_eq!(report.detection_rate, Some(1.0), "{report:#?}");
    let reads =
        report.calls_by_endpoint["get_order"] + report.calls_by_endpoint["get_order_by_client_id"];
    assert!(reads < 3, "REST reads {reads}: {report:#?}");
}
