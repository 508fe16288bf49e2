//! Named polling strategies for `--strategy` and the sweep.

use fillproof_engine::{AdaptivePolling, PollingConfig, Strategy};

/// The polling configuration `--strategy` names: a strategy's bare name
/// is the engine's preset for it ([`PollingConfig::preset`]); the
/// shorthand `fixed:DURATION` (e.g. `fixed:1.5s`) sets the fixed interval,
/// and `adaptive:KEY=VALUE;...` (the keys of [`AdaptivePolling::KEYS`])
/// tunes the adaptive one. The names and presets are the engine's; this
/// shorthand syntax is the command line's own.
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
    Strategy::parse(name)
        .map(PollingConfig::preset)
        .map_err(|unknown| format!("{unknown} (or fixed:DURATION)"))
}

fn adaptive(name: &str, settings: &str) -> Result<PollingConfig, String> {
    let mut adaptive = AdaptivePolling::default();
    for setting in settings.split(';').filter(|s| !s.is_empty()) {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("strategy `{name}`: `{setting}` is not KEY=VALUE"))?;
        adaptive
            .set(key, value, fillproof_simulator::parse_duration)
            .map_err(|e| format!("strategy `{name}`: {e}"))?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Every bare name is the engine's preset; the shorthands set what they
    /// name and nothing else.
    #[test]
    fn names_are_the_engines_presets_and_shorthands_tune_them() {
        for strategy in Strategy::ALL {
            assert_eq!(preset(strategy.name()), Ok(PollingConfig::preset(strategy)));
        }
        assert_eq!(
            preset("fixed:1.5s"),
            Ok(PollingConfig::Fixed {
                interval: Duration::from_millis(1500)
            })
        );
        let Ok(PollingConfig::Adaptive(tuned)) = preset("adaptive:first=2s;patience=3") else {
            panic!("adaptive shorthand did not give an adaptive config");
        };
        assert_eq!(tuned.first, Duration::from_secs(2));
        assert_eq!(tuned.patience, 3);
        assert_eq!(tuned.cruise, AdaptivePolling::default().cruise);
    }

    /// A bad name or setting is refused with the name, the setting and
    /// what would do.
    #[test]
    fn bad_names_and_settings_say_what_was_wrong() {
        assert_eq!(
            preset("linaer"),
            Err(
                "unknown strategy `linaer` (did you mean `linear`?); expected one of fixed, \
                 linear, exponential, adaptive, hybrid, batched (or fixed:DURATION)"
                    .to_owned()
            )
        );
        assert_eq!(
            preset("adaptive:speed=2s"),
            Err("strategy `adaptive:speed=2s`: unknown setting `speed`".to_owned())
        );
        assert_eq!(
            preset("adaptive:patience=x"),
            Err("strategy `adaptive:patience=x`: patience `x` is not a whole number".to_owned())
        );
        assert_eq!(
            preset("fixed:0s"),
            Err("strategy `fixed:0s`: the interval must be positive".to_owned())
        );
    }
}
