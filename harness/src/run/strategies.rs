//! Named polling strategies for `--strategy` and the sweep.

use std::time::Duration;

use fillproof_engine::{AdaptivePolling, PollingConfig};

/// The names `--strategy` accepts; `fixed:DURATION` (e.g. `fixed:1.5s`)
/// sets the fixed interval, and `adaptive:KEY=VALUE;...` (keys `first`,
/// `cruise`, `patience`, `growth`, `max`, `endgame`, `endgame_interval`) tunes the
/// adaptive one.
pub const NAMES: &[&str] = &["fixed", "linear", "exponential", "adaptive", "hybrid"];

/// The polling configuration a name stands for:
/// - `fixed`: every 1 s (`fixed:1.5s`: every 1.5 s);
/// - `linear`: the original specification's 500 ms, +100 ms per poll, up to 2 s;
/// - `exponential`: 250 ms, doubling, up to 4 s;
/// - `adaptive`: [`PollingConfig::adaptive_default`];
/// - `hybrid`: stream first, [`PollingConfig::hybrid_default`] (needs a
///   scenario with `broker.stream`).
///
/// # Errors
/// An unknown name, with the closest known one, or a bad interval.
pub fn preset(name: &str) -> Result<PollingConfig, String> {
    if let Some(interval) = name.strip_prefix("fixed:") {
        let interval = fillproof_simulator::parse_duration(interval)
            .map_err(|e| format!("strategy `{name}`: {e}"))?;
        if interval.is_zero() {
            return Err(format!("strategy `{name}`: the interval must be positive"));
        }
        return Ok(PollingConfig::Fixed { interval });
    }
    if let Some(settings) = name.strip_prefix("adaptive:") {
        return adaptive(name, settings);
    }
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
        "adaptive" => Ok(PollingConfig::adaptive_default()),
        "hybrid" => Ok(PollingConfig::hybrid_default()),
        other => Err(format!(
            "unknown strategy `{other}`{}; expected one of {} (or fixed:DURATION)",
            fillproof_simulator::did_you_mean(other, NAMES),
            NAMES.join(", ")
        )),
    }
}

fn adaptive(name: &str, settings: &str) -> Result<PollingConfig, String> {
    let mut adaptive = AdaptivePolling::default();
    for setting in settings.split(';').filter(|s| !s.is_empty()) {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("strategy `{name}`: `{setting}` is not KEY=VALUE"))?;
        let duration = || {
            fillproof_simulator::parse_duration(value)
                .map_err(|e| format!("strategy `{name}`: {key}: {e}"))
        };
        match key {
            "first" => adaptive.first = duration()?,
            "cruise" => adaptive.cruise = duration()?,
            "max" => adaptive.max = duration()?,
            "endgame" => adaptive.endgame = duration()?,
            "endgame_interval" => adaptive.endgame_interval = duration()?,
            "patience" => {
                adaptive.patience = value.parse().map_err(|_| {
                    format!("strategy `{name}`: patience `{value}` is not a whole number")
                })?;
            }
            "growth" => {
                adaptive.growth = value
                    .parse()
                    .map_err(|_| format!("strategy `{name}`: growth `{value}` is not a number"))?;
            }
            other => return Err(format!("strategy `{name}`: unknown setting `{other}`")),
        }
    }
    let config = PollingConfig::Adaptive(adaptive);
    let check = fillproof_engine::FillDetectionConfig {
        polling: config.clone(),
        ..fillproof_engine::FillDetectionConfig::default()
    };
    check
        .validate()
        .map_err(|e| format!("strategy `{name}`: {e}"))?;
    Ok(config)
}
