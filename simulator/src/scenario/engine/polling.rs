//! `engine.polling`: the polling strategies a scenario names, their
//! parameters, and their translation into the engine's [`PollingConfig`];
//! the check that the hybrid strategy has a stream to detect from.

use fillproof_engine::{PollingConfig, PollingParams};
use serde::Deserialize;

use crate::duration::Dur;
use crate::scenario::Scenario;
use crate::scenario::check::Checker;

/// A polling strategy: `{strategy: linear, initial: 500ms, step: 100ms,
/// max: 2s}`, `{strategy: fixed, interval: 1s}`, `{strategy: exponential,
/// initial: 250ms, factor: 2, max: 4s}` or `{strategy: adaptive}` (with
/// optional `first`, `cruise`, `growth`, `max`, `endgame`,
/// `endgame_interval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollingSpec {
    /// A [`fillproof_engine::Strategy`] name: `fixed`, `linear`,
    /// `exponential`, `adaptive` or `hybrid`.
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

/// A polling configuration from its scenario spelling: the engine's one
/// translation of named parameters ([`PollingConfig::from_params`]), which
/// owns the strategies' names and which parameters each takes.
///
/// # Errors
/// A missing or extra parameter, or an unknown strategy.
pub fn polling_config(spec: &PollingSpec) -> Result<PollingConfig, String> {
    let duration = |value: Option<Dur>| value.map(|d| d.0);
    let params = PollingParams {
        interval: duration(spec.interval),
        initial: duration(spec.initial),
        step: duration(spec.step),
        factor: spec.factor,
        max: duration(spec.max),
        first: duration(spec.first),
        cruise: duration(spec.cruise),
        growth: spec.growth,
        patience: spec.patience,
        endgame: duration(spec.endgame),
        endgame_interval: duration(spec.endgame_interval),
        safety: duration(spec.safety),
    };
    PollingConfig::from_params(&spec.strategy, &params).map_err(|e| e.to_string())
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
