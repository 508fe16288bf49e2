//! Named polling strategies for `--strategy` and the sweep.

use std::time::Duration;

use fillproof_engine::PollingConfig;

/// The names `--strategy` accepts.
pub const NAMES: &[&str] = &["fixed", "linear", "exponential"];

/// The polling configuration a name stands for:
/// - `fixed`: every 1 s;
/// - `linear`: the original specification's 500 ms, +100 ms per poll, up to 2 s;
/// - `exponential`: 250 ms, doubling, up to 4 s.
///
/// # Errors
/// An unknown name, with the closest known one.
pub fn preset(name: &str) -> Result<PollingConfig, String> {
    match name {
        "fixed" => Ok(PollingConfig::Fixed {
            interval: Duration::from_secs(1),
        }),
        "linear" => Ok(PollingConfig::linear_default()),
        "exponential" => Ok(PollingConfig::Exponential {
            initial: Duration::from_millis(250),
            factor: 2.0,
            max: Duration::from_secs(4),
        }),
        other => Err(format!(
            "unknown strategy `{other}`{}; expected one of {}",
            fillproof_simulator::did_you_mean(other, NAMES),
            NAMES.join(", ")
        )),
    }
}
