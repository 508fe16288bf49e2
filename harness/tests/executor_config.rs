//! The `engine:` section has one translation, in the simulator
//! (`Scenario::executor_config`, `Scenario::call_budget`): this test proves
//! it gives what the harness's own translation (`runner::executor_config`,
//! `runner::call_budget`) gives, for every scenario of the library and for
//! sections that set each knob, so the harness can switch to it.

use std::path::Path;

use fillproof_harness::commands::scenario_files;
use fillproof_harness::runner;
use fillproof_simulator::Scenario;

/// Both translations of `scenario`, as text: the configuration's `Debug`
/// (`ExecutorConfig` has no `PartialEq`), or the error's message.
fn both(scenario: &Scenario) -> (String, String) {
    let detection = scenario.detection_config().expect("detection config");
    let harness = runner::executor_config(scenario, detection.clone())
        .map(|config| format!("{config:?}"))
        .map_err(|error| error.to_string());
    let simulator = scenario
        .executor_config_with(detection)
        .map(|config| format!("{config:?}"));
    assert_eq!(
        scenario
            .executor_config()
            .map(|config| format!("{config:?}")),
        simulator,
        "executor_config() and executor_config_with(detection_config()) differ"
    );
    let text = |result: Result<String, String>| result.unwrap_or_else(|e| format!("error: {e}"));
    (text(harness), text(simulator))
}

/// Every library scenario's engine section translates the same in both.
#[test]
fn library_scenarios_translate_the_same_in_both_crates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files = scenario_files(&[root]).expect("scenario folder");
    assert!(files.len() > 10, "only {} scenarios found", files.len());
    for file in files {
        let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let (harness, simulator) = both(&scenario);
        assert_eq!(harness, simulator, "{}", file.display());
        assert_eq!(
            runner::call_budget(&scenario),
            scenario.call_budget(),
            "{}",
            file.display()
        );
    }
}

/// Sections that set every knob (risk limits, commission, price band, call
/// timeout, shedding, buying power, a budget or none) translate the same.
#[test]
fn every_engine_knob_translates_the_same_in_both_crates() {
    let engines = [
        "engine: {rate_limit: none}",
        "engine: {rate_limit: {requests: 10, per: 1s}, call_timeout: 2s, shed_after: 5s}",
        "engine:\n  risk: {max_position: 100, daily_loss_limit: \"250.50\", max_orders_per_minute: 30}\n  commission: {per_order: \"1\", per_share: \"0.005\"}\n  price_band_pct: 2.5",
        "engine: {risk: {}, commission: {}}\nbroker: {account: {buying_power: \"10000\"}}",
    ];
    for engine in engines {
        let text = format!(
            "version: 1\nname: knobs\nworkload:\n  orders: 2\n  symbols: [SPY]\n  qty: 1\n  \
             reference_price: {{SPY: \"590.10\"}}\n{engine}\n"
        );
        let scenario = Scenario::parse(text.as_bytes(), "knobs.yaml", None)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let (harness, simulator) = both(&scenario);
        assert_eq!(harness, simulator, "{engine}");
        assert_eq!(
            runner::call_budget(&scenario),
            scenario.call_budget(),
            "{engine}"
        );
    }
}
