//! Exponential backoff with jitter drawn from an injected RNG.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::detect::RetryConfig;
use crate::port::BrokerError;

/// Backoff before retry number `attempt` (0 for the first retry):
/// `min(base * 2^attempt, max)`, of which the fraction `jitter` is random.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    jitter: f64,
}

impl Backoff {
    /// A backoff from the retry settings.
    #[must_use]
    pub fn new(config: &RetryConfig) -> Self {
        Self {
            base: config.backoff_base,
            max: config.backoff_max,
            jitter: config.jitter,
        }
    }

    /// The delay before jitter: `min(base * 2^attempt, max)`.
    #[must_use]
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay with jitter: a uniform draw from
    /// `[ceiling * (1 - jitter), ceiling]`.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(attempt);
        if self.jitter <= 0.0 {
            return ceiling;
        }
        let fraction = 1.0 - self.jitter * rng.random::<f64>();
        ceiling.mul_f64(fraction)
    }
}

/// The wait before retry `attempt`: the backoff, or the broker's Retry-After
/// when that is longer.
pub(super) fn wait_before_retry(
    error: &BrokerError,
    backoff: &Backoff,
    attempt: u32,
    rng: &mut ChaCha8Rng,
) -> Duration {
    let delay = backoff.delay(attempt, rng);
    error.retry_after().map_or(delay, |after| after.max(delay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::derive_rng;

    /// The ceiling doubles from the base and stops at the cap.
    #[test]
    fn ceiling_doubles_up_to_cap() {
        let backoff = Backoff::new(&RetryConfig::default());
        let got: Vec<u64> = (0..7)
            .map(|attempt| backoff.ceiling(attempt).as_millis() as u64)
            .collect();
        assert_eq!(got, vec![500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(8));
    }

    /// Every jittered delay lies within `[ceiling * (1 - jitter), ceiling]`,
    /// and the draws are not all the same.
    #[test]
    fn jitter_stays_within_bounds() {
        let backoff = Backoff::new(&RetryConfig::default());
        let mut rng = derive_rng(42, "backoff-test", 0);
        let mut distinct = std::collections::BTreeSet::new();
        for attempt in 0..5 {
            let ceiling = backoff.ceiling(attempt);
            for _ in 0..200 {
                let delay = backoff.delay(attempt, &mut rng);
                assert!(delay <= ceiling, "{delay:?} above {ceiling:?}");
                assert!(
                    delay >= ceiling.mul_f64(0.5),
                    "{delay:?} below half of {ceiling:?}"
                );
                distinct.insert(delay);
            }
        }
        assert!(
            distinct.len() > 100,
            "jitter drew only {} values",
            distinct.len()
        );
    }

    /// The same seed gives the same delays: jitter is reproducible.
    #[test]
    fn jitter_is_reproducible_from_seed() {
        let backoff = Backoff::new(&RetryConfig::default());
        let draws = |seed| {
            let mut rng = derive_rng(seed, "backoff-test", 0);
            (0..4)
                .map(|a| backoff.delay(a, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    /// Without jitter the delay is the ceiling exactly.
    #[test]
    fn zero_jitter_is_exact() {
        let config = RetryConfig {
            jitter: 0.0,
            ..RetryConfig::default()
        };
        let backoff = Backoff::new(&config);
        let mut rng = derive_rng(1, "backoff-test", 0);
        assert_eq!(backoff.delay(2, &mut rng), Duration::from_secs(2));
    }
}
