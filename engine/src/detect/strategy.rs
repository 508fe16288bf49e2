//! The polling strategies' names, their presets, and the one translation
//! from named optional parameters (a scenario's `engine.polling`, a
//! command line's settings) to a [`PollingConfig`].
//!
//! Adding a strategy is one [`Strategy`] variant with its name, its
//! preset, and its arm in [`PollingConfig::from_params`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use crate::detect::polling::{BATCH_INTERVAL, BATCH_SAFETY};
use crate::detect::{AdaptivePolling, PollingConfig};

/// A polling strategy, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// [`PollingConfig::Fixed`].
    Fixed,
    /// [`PollingConfig::Linear`].
    Linear,
    /// [`PollingConfig::Exponential`].
    Exponential,
    /// [`PollingConfig::Adaptive`].
    Adaptive,
    /// [`PollingConfig::Hybrid`].
    Hybrid,
    /// [`PollingConfig::Batched`].
    Batched,
}

impl Strategy {
    /// Every strategy, in the order messages list them.
    pub const ALL: [Strategy; 6] = [
        Self::Fixed,
        Self::Linear,
        Self::Exponential,
        Self::Adaptive,
        Self::Hybrid,
        Self::Batched,
    ];

    /// The strategy's name: `fixed`, `linear`, `exponential`, `adaptive`,
    /// `hybrid`, `batched`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Linear => "linear",
            Self::Exponential => "exponential",
            Self::Adaptive => "adaptive",
            Self::Hybrid => "hybrid",
            Self::Batched => "batched",
        }
    }

    /// Every strategy's name, in [`Strategy::ALL`] order.
    #[must_use]
    pub fn names() -> [&'static str; 6] {
        Self::ALL.map(Self::name)
    }

    /// The strategy called `name`.
    ///
    /// # Errors
    /// [`UnknownStrategy`], whose message lists the names (and the closest
    /// one, when `name` looks like a typo of it).
    pub fn parse(name: &str) -> Result<Self, UnknownStrategy> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| UnknownStrategy {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(name: &str) -> Result<Self, UnknownStrategy> {
        Self::parse(name)
    }
}

/// A strategy name that names no strategy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "unknown strategy `{name}`{}; expected one of {}",
    crate::port::did_you_mean(name, &Strategy::names()),
    Strategy::names().join(", ")
)]
pub struct UnknownStrategy {
    /// The name given.
    pub name: String,
}

/// A strategy's parameters by name, each optional: what a scenario's
/// `engine.polling` block gives. Which ones a strategy needs and which it
/// refuses is [`PollingConfig::from_params`]'s to check.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PollingParams {
    /// Fixed: the interval; batched: between list reads.
    pub interval: Option<Duration>,
    /// Linear, exponential: the first interval.
    pub initial: Option<Duration>,
    /// Linear: growth per poll.
    pub step: Option<Duration>,
    /// Exponential: growth factor (default 2).
    pub factor: Option<f64>,
    /// Linear, exponential, adaptive: the cap.
    pub max: Option<Duration>,
    /// Adaptive: the first interval.
    pub first: Option<Duration>,
    /// Adaptive: the interval after the first and after any change.
    pub cruise: Option<Duration>,
    /// Adaptive: growth per unchanged poll after the patience.
    pub growth: Option<f64>,
    /// Adaptive: unchanged polls at the cruise interval before it grows.
    pub patience: Option<u32>,
    /// Adaptive: how long before the deadline the endgame starts.
    pub endgame: Option<Duration>,
    /// Adaptive: the interval in the endgame.
    pub endgame_interval: Option<Duration>,
    /// Hybrid: quiet time on the stream before a safety read; batched:
    /// quiet time before an order's own read.
    pub safety: Option<Duration>,
}

/// Why named parameters make no polling configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PollingParamsError {
    /// The strategy needs a parameter that is absent.
    #[error("strategy `{strategy}` needs `{param}`")]
    Needs {
        /// The strategy as named.
        strategy: String,
        /// The parameter.
        param: &'static str,
    },
    /// The strategy does not take a parameter that is present.
    #[error("strategy `{strategy}` does not take `{param}`")]
    DoesNotTake {
        /// The strategy as named.
        strategy: String,
        /// The parameter.
        param: &'static str,
    },
    /// No strategy has that name.
    #[error(transparent)]
    Unknown(#[from] UnknownStrategy),
}

impl PollingParams {
    /// Refuses the first of `names` that is present, for `strategy`.
    fn refuse(strategy: &str, present: &[(bool, &'static str)]) -> Result<(), PollingParamsError> {
        match present.iter().find(|(is, _)| *is) {
            Some(&(_, param)) => Err(PollingParamsError::DoesNotTake {
                strategy: strategy.to_owned(),
                param,
            }),
            None => Ok(()),
        }
    }

    /// `value`, or the error that `strategy` needs `param`.
    fn need(
        strategy: &str,
        value: Option<Duration>,
        param: &'static str,
    ) -> Result<Duration, PollingParamsError> {
        value.ok_or_else(|| PollingParamsError::Needs {
            strategy: strategy.to_owned(),
            param,
        })
    }

    /// The adaptive strategy's defaults with the parameters given here.
    fn adaptive(&self) -> AdaptivePolling {
        let defaults = AdaptivePolling::default();
        AdaptivePolling {
            first: self.first.unwrap_or(defaults.first),
            cruise: self.cruise.unwrap_or(defaults.cruise),
            patience: self.patience.unwrap_or(defaults.patience),
            growth: self.growth.unwrap_or(defaults.growth),
            max: self.max.unwrap_or(defaults.max),
            endgame: self.endgame.unwrap_or(defaults.endgame),
            endgame_interval: self.endgame_interval.unwrap_or(defaults.endgame_interval),
        }
    }
}

impl PollingConfig {
    /// The preset a strategy's bare name stands for:
    /// - `fixed`: every 1 s;
    /// - `linear`: [`PollingConfig::linear_default`] (500 ms, +100 ms per
    ///   poll, up to 2 s);
    /// - `exponential`: 250 ms, doubling, up to 4 s;
    /// - `adaptive`: [`PollingConfig::adaptive_default`];
    /// - `hybrid`: [`PollingConfig::hybrid_default`] (stream first);
    /// - `batched`: [`PollingConfig::batched_default`] (list reads).
    #[must_use]
    pub fn preset(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Fixed => Self::Fixed {
                interval: Duration::from_secs(1),
            },
            Strategy::Linear => Self::linear_default(),
            Strategy::Exponential => Self::Exponential {
                initial: Duration::from_millis(250),
                factor: 2.0,
                max: Duration::from_secs(4),
            },
            Strategy::Adaptive => Self::adaptive_default(),
            Strategy::Hybrid => Self::hybrid_default(),
            Strategy::Batched => Self::batched_default(),
        }
    }

    /// The strategy this configuration is one of.
    #[must_use]
    pub fn strategy(&self) -> Strategy {
        match self {
            Self::Fixed { .. } => Strategy::Fixed,
            Self::Linear { .. } => Strategy::Linear,
            Self::Exponential { .. } => Strategy::Exponential,
            Self::Adaptive(_) => Strategy::Adaptive,
            Self::Hybrid { .. } => Strategy::Hybrid,
            Self::Batched { .. } => Strategy::Batched,
        }
    }

    /// The configuration of the strategy named `strategy` with `params`.
    /// Fixed needs `interval`; linear needs `initial`, `step` and `max`;
    /// exponential needs `initial` and `max` (`factor` defaults to 2);
    /// adaptive and hybrid take their defaults for what is absent. The
    /// checks run in a fixed order: parameters only adaptive takes, then
    /// `safety` (only hybrid takes it), then the strategy's own. Ranges
    /// are not checked here ([`FillDetectionConfig::validate`](crate::detect::FillDetectionConfig::validate)
    /// does).
    ///
    /// # Errors
    /// The first parameter present that the strategy does not take, the
    /// first one absent that it needs, or an unknown strategy name.
    pub fn from_params(strategy: &str, params: &PollingParams) -> Result<Self, PollingParamsError> {
        let p = params;
        if strategy != Strategy::Adaptive.name() {
            PollingParams::refuse(
                strategy,
                &[
                    (p.first.is_some(), "first"),
                    (p.cruise.is_some(), "cruise"),
                    (p.growth.is_some(), "growth"),
                    (p.patience.is_some(), "patience"),
                    (p.endgame.is_some(), "endgame"),
                    (p.endgame_interval.is_some(), "endgame_interval"),
                ],
            )?;
        }
        if strategy != Strategy::Hybrid.name() && strategy != Strategy::Batched.name() {
            PollingParams::refuse(strategy, &[(p.safety.is_some(), "safety")])?;
        }
        let refuse = |present: &[(bool, &'static str)]| PollingParams::refuse(strategy, present);
        let need = |value, param| PollingParams::need(strategy, value, param);
        let (interval, initial, step) =
            (p.interval.is_some(), p.initial.is_some(), p.step.is_some());
        let (factor, max) = (p.factor.is_some(), p.max.is_some());
        match Strategy::parse(strategy)? {
            Strategy::Hybrid => {
                refuse(&[
                    (interval, "interval"),
                    (initial, "initial"),
                    (step, "step"),
                    (factor, "factor"),
                    (max, "max"),
                ])?;
                Ok(p.safety
                    .map_or_else(Self::hybrid_default, |safety| Self::Hybrid { safety }))
            }
            Strategy::Batched => {
                refuse(&[
                    (initial, "initial"),
                    (step, "step"),
                    (factor, "factor"),
                    (max, "max"),
                ])?;
                Ok(Self::Batched {
                    interval: p.interval.unwrap_or(BATCH_INTERVAL),
                    safety: p.safety.unwrap_or(BATCH_SAFETY),
                })
            }
            Strategy::Adaptive => {
                refuse(&[
                    (interval, "interval"),
                    (initial, "initial"),
                    (step, "step"),
                    (factor, "factor"),
                ])?;
                Ok(Self::Adaptive(p.adaptive()))
            }
            Strategy::Fixed => {
                refuse(&[
                    (initial, "initial"),
                    (step, "step"),
                    (factor, "factor"),
                    (max, "max"),
                ])?;
                Ok(Self::Fixed {
                    interval: need(p.interval, "interval")?,
                })
            }
            Strategy::Linear => {
                refuse(&[(interval, "interval"), (factor, "factor")])?;
                Ok(Self::Linear {
                    initial: need(p.initial, "initial")?,
                    step: need(p.step, "step")?,
                    max: need(p.max, "max")?,
                })
            }
            Strategy::Exponential => {
                refuse(&[(interval, "interval"), (step, "step")])?;
                Ok(Self::Exponential {
                    initial: need(p.initial, "initial")?,
                    factor: p.factor.unwrap_or(2.0),
                    max: need(p.max, "max")?,
                })
            }
        }
    }
}

impl AdaptivePolling {
    /// The keys [`AdaptivePolling::set`] accepts.
    pub const KEYS: [&'static str; 7] = [
        "first",
        "cruise",
        "patience",
        "growth",
        "max",
        "endgame",
        "endgame_interval",
    ];

    /// Sets the parameter `key` from its text `value`; durations are read
    /// with `duration` (the caller's duration syntax). Ranges are not
    /// checked here.
    ///
    /// # Errors
    /// An unknown key (`unknown setting `x``), or a value that does not
    /// read (`patience `x` is not a whole number`, `growth `x` is not a
    /// number`, `KEY: <the duration reader's error>`).
    pub fn set(
        &mut self,
        key: &str,
        value: &str,
        duration: impl FnOnce(&str) -> Result<Duration, String>,
    ) -> Result<(), String> {
        let slot = match key {
            "first" => &mut self.first,
            "cruise" => &mut self.cruise,
            "max" => &mut self.max,
            "endgame" => &mut self.endgame,
            "endgame_interval" => &mut self.endgame_interval,
            "patience" => {
                self.patience = value
                    .parse()
                    .map_err(|_| format!("patience `{value}` is not a whole number"))?;
                return Ok(());
            }
            "growth" => {
                self.growth = value
                    .parse()
                    .map_err(|_| format!("growth `{value}` is not a number"))?;
                return Ok(());
            }
            other => return Err(format!("unknown setting `{other}`")),
        };
        *slot = duration(value).map_err(|e| format!("{key}: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Option<Duration> {
        Some(Duration::from_millis(value))
    }

    fn error(strategy: &str, params: PollingParams) -> String {
        PollingConfig::from_params(strategy, &params)
            .expect_err("params must be refused")
            .to_string()
    }

    /// Goal: names, `ALL` and parsing agree, and an unknown name lists the
    /// names. Method: round-trip every strategy; parse a typo and nonsense.
    #[test]
    fn names_parse_back_and_unknown_names_list_them() {
        for strategy in Strategy::ALL {
            assert_eq!(Strategy::parse(strategy.name()), Ok(strategy));
            assert_eq!(strategy.name().parse::<Strategy>(), Ok(strategy));
            assert_eq!(PollingConfig::preset(strategy).strategy(), strategy);
            assert_eq!(PollingConfig::preset(strategy).name(), strategy.name());
        }
        assert_eq!(
            Strategy::parse("lienar").unwrap_err().to_string(),
            "unknown strategy `lienar` (did you mean `linear`?); expected one of fixed, linear, exponential, adaptive, hybrid, batched"
        );
        assert_eq!(
            Strategy::parse("banana").unwrap_err().to_string(),
            "unknown strategy `banana`; expected one of fixed, linear, exponential, adaptive, hybrid, batched"
        );
    }

    /// Goal: the presets are the ones `--strategy` has always meant.
    /// Method: compare each with its spelled-out configuration.
    #[test]
    fn presets_are_the_documented_ones() {
        assert_eq!(
            PollingConfig::preset(Strategy::Fixed),
            PollingConfig::Fixed {
                interval: Duration::from_secs(1)
            }
        );
        assert_eq!(
            PollingConfig::preset(Strategy::Exponential),
            PollingConfig::Exponential {
                initial: Duration::from_millis(250),
                factor: 2.0,
                max: Duration::from_secs(4),
            }
        );
        assert_eq!(
            PollingConfig::preset(Strategy::Linear),
            PollingConfig::linear_default()
        );
        assert_eq!(
            PollingConfig::preset(Strategy::Adaptive),
            PollingConfig::adaptive_default()
        );
        assert_eq!(
            PollingConfig::preset(Strategy::Hybrid),
            PollingConfig::hybrid_default()
        );
    }

    /// Goal: each strategy gets its parameters, and the defaults where
    /// they may be left out. Method: build one of each.
    #[test]
    fn params_build_each_strategy() {
        let fixed = PollingParams {
            interval: ms(750),
            ..PollingParams::default()
        };
        assert_eq!(
            PollingConfig::from_params("fixed", &fixed),
            Ok(PollingConfig::Fixed {
                interval: Duration::from_millis(750)
            })
        );
        let exponential = PollingParams {
            initial: ms(100),
            max: ms(1000),
            ..PollingParams::default()
        };
        assert_eq!(
            PollingConfig::from_params("exponential", &exponential),
            Ok(PollingConfig::Exponential {
                initial: Duration::from_millis(100),
                factor: 2.0,
                max: Duration::from_secs(1),
            })
        );
        let adaptive = PollingParams {
            cruise: ms(900),
            patience: Some(3),
            ..PollingParams::default()
        };
        assert_eq!(
            PollingConfig::from_params("adaptive", &adaptive),
            Ok(PollingConfig::Adaptive(AdaptivePolling {
                cruise: Duration::from_millis(900),
                patience: 3,
                ..AdaptivePolling::default()
            }))
        );
        assert_eq!(
            PollingConfig::from_params("hybrid", &PollingParams::default()),
            Ok(PollingConfig::hybrid_default())
        );
    }

    /// Goal: the messages are byte for byte the scenario loader's, in the
    /// loader's order of checks. Method: one refused set per rule.
    #[test]
    fn refusals_name_strategy_and_parameter() {
        let none = PollingParams::default();
        assert_eq!(error("fixed", none), "strategy `fixed` needs `interval`");
        assert_eq!(error("linear", none), "strategy `linear` needs `initial`");
        let safety = PollingParams {
            safety: ms(100),
            ..none
        };
        assert_eq!(
            error("fixed", safety),
            "strategy `fixed` does not take `safety`"
        );
        let first = PollingParams {
            first: ms(100),
            safety: ms(100),
            ..none
        };
        // Adaptive-only parameters are checked first, even before the name.
        assert_eq!(
            error("nonsense", first),
            "strategy `nonsense` does not take `first`"
        );
        let step = PollingParams {
            step: ms(100),
            ..none
        };
        assert_eq!(
            error("hybrid", step),
            "strategy `hybrid` does not take `step`"
        );
        assert_eq!(
            error("exponential", step),
            "strategy `exponential` does not take `step`"
        );
        assert_eq!(
            error("expnential", none),
            "unknown strategy `expnential` (did you mean `exponential`?); expected one of fixed, linear, exponential, adaptive, hybrid, batched"
        );
    }

    /// Goal: one adaptive parameter is set by its key, with the messages
    /// `--strategy adaptive:KEY=VALUE` gives. Method: set each kind of key,
    /// and refuse bad values and keys.
    #[test]
    fn adaptive_parameters_are_set_by_key() {
        let seconds = |v: &str| {
            v.strip_suffix('s')
                .and_then(|n| n.parse().ok())
                .map(Duration::from_secs)
                .ok_or_else(|| format!("`{v}` is not a duration"))
        };
        let mut adaptive = AdaptivePolling::default();
        adaptive.set("cruise", "3s", seconds).unwrap();
        adaptive.set("patience", "4", seconds).unwrap();
        adaptive.set("growth", "1.25", seconds).unwrap();
        assert_eq!(adaptive.cruise, Duration::from_secs(3));
        assert_eq!(adaptive.patience, 4);
        assert!((adaptive.growth - 1.25).abs() < f64::EPSILON);
        assert_eq!(
            adaptive.set("max", "x", seconds),
            Err("max: `x` is not a duration".to_owned())
        );
        assert_eq!(
            adaptive.set("patience", "1.5", seconds),
            Err("patience `1.5` is not a whole number".to_owned())
        );
        assert_eq!(
            adaptive.set("growth", "fast", seconds),
            Err("growth `fast` is not a number".to_owned())
        );
        assert_eq!(
            adaptive.set("speed", "1", seconds),
            Err("unknown setting `speed`".to_owned())
        );
        for key in AdaptivePolling::KEYS {
            assert_ne!(
                AdaptivePolling::default().set(key, "1s", seconds),
                Err(format!("unknown setting `{key}`"))
            );
        }
    }
}
