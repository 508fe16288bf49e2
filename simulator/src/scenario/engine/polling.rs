//! `engine.polling`: the polling strategies a scenario names, their
//! parameters, and their translation into the engine's [`PollingConfig`];
//! the check that the hybrid strategy has a stream to detect from.

use fillproof_engine::{AdaptivePolling, PollingConfig};
use serde::Deserialize;

use crate::duration::Dur;
use crate::scenario::Scenario;
use crate::scenario::check::Checker;
use fillproof_engine::did_you_mean;

/// A polling strategy: `{strategy: linear, initial: 500ms, step: 100ms,
/// max: 2s}`, `{strategy: fixed, interval: 1s}`, `{strategy: exponential,
/// initial: 250ms, factor: 2, max: 4s}` or `{strategy: adaptive}` (with
/// optional `first`, `cruise`, `growth`, `max`, `endgame`,
/// `endgame_interval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollingSpec {
    /// `fixed`, `linear` or `exponential`.
    pub strategy: String,
    /// Fixed interval.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// First interval.
    #[serde(default)]
    pub initial: Option<Dur>,
    /// Linear growth per poll.
    #[serde(default)]
    pub step: Option<Dur>,
    /// Exponential growth factor.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Cap.
    #[serde(default)]
    pub max: Option<Dur>,
    /// Adaptive: first interval.
    #[serde(default)]
    pub first: Option<Dur>,
    /// Adaptive: interval after the first and after any change.
    #[serde(default)]
    pub cruise: Option<Dur>,
    /// Adaptive: unchanged polls at the cruise interval before it grows.
    #[serde(default)]
    pub patience: Option<u32>,
    /// Adaptive: growth per unchanged poll after that.
    #[serde(default)]
    pub growth: Option<f64>,
    /// Adaptive: how long before the deadline the endgame starts.
    #[serde(default)]
    pub endgame: Option<Dur>,
    /// Adaptive: interval in the endgame.
    #[serde(default)]
    pub endgame_interval: Option<Dur>,
    /// Hybrid: quiet time on the stream before a safety read.
    #[serde(default)]
    pub safety: Option<Dur>,
}

/// The strategies `engine.polling.strategy` accepts.
pub const STRATEGIES: &[&str] = &["fixed", "linear", "exponential", "adaptive", "hybrid"];

/// A polling configuration from its scenario spelling.
///
/// # Errors
/// A missing or extra parameter, or an unknown strategy.
pub fn polling_config(spec: &PollingSpec) -> Result<PollingConfig, String> {
    let adaptive_only = [
        (spec.first.is_some(), "first"),
        (spec.cruise.is_some(), "cruise"),
        (spec.growth.is_some(), "growth"),
        (spec.patience.is_some(), "patience"),
        (spec.endgame.is_some(), "endgame"),
        (spec.endgame_interval.is_some(), "endgame_interval"),
    ];
    if spec.strategy != "adaptive" {
        for (present, name) in adaptive_only {
            refuse(spec, present, name)?;
        }
    }
    if spec.strategy != "hybrid" {
        refuse(spec, spec.safety.is_some(), "safety")?;
    }
    match spec.strategy.as_str() {
        "hybrid" => hybrid_polling(spec),
        "adaptive" => adaptive_polling(spec),
        "fixed" => {
            refuse(spec, spec.initial.is_some(), "initial")?;
            refuse(spec, spec.step.is_some(), "step")?;
            refuse(spec, spec.factor.is_some(), "factor")?;
            refuse(spec, spec.max.is_some(), "max")?;
            Ok(PollingConfig::Fixed {
                interval: need(spec, spec.interval, "interval")?,
            })
        }
        "linear" => {
            refuse(spec, spec.interval.is_some(), "interval")?;
            refuse(spec, spec.factor.is_some(), "factor")?;
            Ok(PollingConfig::Linear {
                initial: need(spec, spec.initial, "initial")?,
                step: need(spec, spec.step, "step")?,
                max: need(spec, spec.max, "max")?,
            })
        }
        "exponential" => {
            refuse(spec, spec.interval.is_some(), "interval")?;
            refuse(spec, spec.step.is_some(), "step")?;
            Ok(PollingConfig::Exponential {
                initial: need(spec, spec.initial, "initial")?,
                factor: spec.factor.unwrap_or(2.0),
                max: need(spec, spec.max, "max")?,
            })
        }
        other => Err(format!(
            "unknown strategy `{other}`{}; expected one of {}",
            did_you_mean(other, STRATEGIES),
            STRATEGIES.join(", ")
        )),
    }
}

/// The duration `name` the strategy needs, or why it is missing.
fn need(spec: &PollingSpec, value: Option<Dur>, name: &str) -> Result<std::time::Duration, String> {
    value
        .map(|d| d.0)
        .ok_or_else(|| format!("strategy `{}` needs `{name}`", spec.strategy))
}

/// Refuses `name` when `present`: the strategy does not take it.
fn refuse(spec: &PollingSpec, present: bool, name: &str) -> Result<(), String> {
    if present {
        Err(format!(
            "strategy `{}` does not take `{name}`",
            spec.strategy
        ))
    } else {
        Ok(())
    }
}

/// The hybrid strategy: only `safety`, or the engine's default.
fn hybrid_polling(spec: &PollingSpec) -> Result<PollingConfig, String> {
    for (present, name) in [
        (spec.interval.is_some(), "interval"),
        (spec.initial.is_some(), "initial"),
        (spec.step.is_some(), "step"),
        (spec.factor.is_some(), "factor"),
        (spec.max.is_some(), "max"),
    ] {
        refuse(spec, present, name)?;
    }
    Ok(spec
        .safety
        .map_or_else(PollingConfig::hybrid_default, |safety| {
            PollingConfig::Hybrid { safety: safety.0 }
        }))
}

/// The adaptive strategy: the engine's defaults, with what the scenario
/// sets.
fn adaptive_polling(spec: &PollingSpec) -> Result<PollingConfig, String> {
    refuse(spec, spec.interval.is_some(), "interval")?;
    refuse(spec, spec.initial.is_some(), "initial")?;
    refuse(spec, spec.step.is_some(), "step")?;
    refuse(spec, spec.factor.is_some(), "factor")?;
    let mut adaptive = AdaptivePolling::default();
    if let Some(first) = spec.first {
        adaptive.first = first.0;
    }
    if let Some(cruise) = spec.cruise {
        adaptive.cruise = cruise.0;
    }
    if let Some(patience) = spec.patience {
        adaptive.patience = patience;
    }
    if let Some(growth) = spec.growth {
        adaptive.growth = growth;
    }
    if let Some(max) = spec.max {
        adaptive.max = max.0;
    }
    if let Some(endgame) = spec.endgame {
        adaptive.endgame = endgame.0;
    }
    if let Some(interval) = spec.endgame_interval {
        adaptive.endgame_interval = interval.0;
    }
    Ok(PollingConfig::Adaptive(adaptive))
}

/// Refuses a polling section that makes no strategy, and the hybrid
/// strategy without a stream to detect from.
pub(super) fn check_polling(scenario: &Scenario, c: &mut Checker<'_>) {
    let Some(polling) = &scenario.engine.polling else {
        return;
    };
    if let Err(message) = polling_config(&polling.value) {
        c.at(Some(polling.referenced), "engine.polling", message);
    }
    if polling.value.strategy == "hybrid" && scenario.broker.stream.is_none() {
        c.at(
            Some(polling.referenced),
            "engine.polling",
            "strategy `hybrid` detects from the broker's trade updates; add `broker.stream` (e.g. `stream: {delay: 40ms}`) or choose another strategy",
        );
    }
}
