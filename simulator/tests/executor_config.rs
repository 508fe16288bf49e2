//! The `engine:` section has one translation into the engine's
//! configuration, `Scenario::executor_config` (and `call_budget`), which
//! `run`, `merge`, `replay` and `serve` all use. These tests pin what each
//! knob becomes, and what an absent knob defaults to.

use std::time::Duration;

use fillproof_engine::{Commission, Decimal, ExecutorConfig, RateLimit, RiskLimits};
use fillproof_simulator::Scenario;

fn scenario(engine: &str) -> Scenario {
    let text = format!(
        "version: 1\nname: knobs\nworkload:\n  orders: 2\n  symbols: [SPY]\n  qty: 1\n  \
         reference_price: {{SPY: \"590.10\"}}\n{engine}\n"
    );
    Scenario::parse(text.as_bytes(), "knobs.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn config(engine: &str) -> ExecutorConfig {
    scenario(engine)
        .executor_config()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

/// A scenario without an `engine:` section runs the engine's defaults,
/// under its default call budget, with risk limits off, and knows the
/// default paper account's buying power.
#[test]
fn an_absent_section_is_the_engines_defaults_with_risk_off() {
    let defaults = ExecutorConfig::default();
    let config = config("");
    assert_eq!(config.rate_limit, defaults.rate_limit);
    assert_eq!(scenario("").call_budget(), defaults.rate_limit);
    assert_eq!(config.call_timeout, defaults.call_timeout);
    assert_eq!(config.submit_max_wait, defaults.submit_max_wait);
    assert_eq!(config.commission, Commission::default());
    assert_eq!(
        config.validation.price_band_pct,
        defaults.validation.price_band_pct
    );
    assert_eq!(
        config.buying_power,
        Some(Decimal::from(fillproof_simulator::DEFAULT_BUYING_POWER))
    );
    assert_eq!(
        config.risk,
        RiskLimits {
            max_position: None,
            daily_loss_limit: None,
            max_orders_per_minute: u32::MAX,
        }
    );
    assert_eq!(
        config.detection,
        scenario("").detection_config().expect("detection")
    );
}

/// Each knob of the section lands in its field of the configuration.
#[test]
fn every_knob_lands_in_its_field() {
    let config = config(
        "engine:\n  rate_limit: {requests: 10, per: 1s}\n  call_timeout: 2s\n  shed_after: 5s\n  \
         risk: {max_position: 100, daily_loss_limit: \"250.50\", max_orders_per_minute: 30}\n  \
         commission: {per_order: \"1\", per_share: \"0.005\"}\n  price_band_pct: 2.5\n\
         broker: {account: {buying_power: \"10000\"}}",
    );
    assert_eq!(
        config.rate_limit,
        Some(RateLimit {
            requests: 10,
            per: Duration::from_secs(1)
        })
    );
    assert_eq!(config.call_timeout, Duration::from_secs(2));
    assert_eq!(config.submit_max_wait, Duration::from_secs(5));
    assert_eq!(
        config.risk,
        RiskLimits {
            max_position: Some(dec("100")),
            daily_loss_limit: Some(dec("250.50")),
            max_orders_per_minute: 30,
        }
    );
    assert_eq!(
        config.commission,
        Commission {
            per_order: dec("1"),
            per_share: dec("0.005"),
        }
    );
    assert_eq!(config.validation.price_band_pct, dec("2.5"));
    assert_eq!(config.buying_power, Some(dec("10000")));
}

/// `rate_limit: none` runs without a call budget; empty risk and commission
/// blocks leave their limits off and charge nothing.
#[test]
fn no_budget_and_empty_blocks() {
    assert_eq!(scenario("engine: {rate_limit: none}").call_budget(), None);
    assert_eq!(config("engine: {rate_limit: none}").rate_limit, None);
    let config = config("engine: {risk: {}, commission: {}}");
    assert_eq!(config.risk.max_orders_per_minute, u32::MAX);
    assert_eq!(config.risk.max_position, None);
    assert_eq!(config.commission, Commission::default());
}

/// A run that overrides polling keeps everything else the section says.
#[test]
fn a_polling_override_keeps_the_rest() {
    let scenario = scenario("engine: {call_timeout: 2s, rate_limit: none}");
    let mut detection = scenario.detection_config().expect("detection");
    detection.polling = fillproof_engine::PollingConfig::preset(fillproof_engine::Strategy::Fixed);
    let config = scenario
        .executor_config_with(detection.clone())
        .expect("config");
    assert_eq!(config.detection, detection);
    assert_eq!(config.call_timeout, Duration::from_secs(2));
    assert_eq!(config.rate_limit, None);
}
