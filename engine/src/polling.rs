//! Polling strategies: when the monitor loop reads an order next.
//!
//! A strategy is built per order from a [`PollingConfig`], so each order's
//! monitor keeps its own state and no lock is shared between orders.

use std::time::Duration;

use crate::config::PollingConfig;

/// What a strategy may look at when choosing the next interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollContext {
    /// Reads made so far by the monitor loop.
    pub polls_done: u32,
    /// Time since monitoring started.
    pub elapsed: Duration,
    /// Time left until the deadline.
    pub remaining: Duration,
}

/// Chooses the wait before the next read.
pub trait PollingStrategy: Send {
    /// The wait before the next read. The monitor never sleeps past the
    /// deadline, whatever this returns.
    fn next_interval(&mut self, context: PollContext) -> Duration;
}

struct Fixed {
    interval: Duration,
}

impl PollingStrategy for Fixed {
    fn next_interval(&mut self, _context: PollContext) -> Duration {
        self.interval
    }
}

struct Linear {
    initial: Duration,
    step: Duration,
    max: Duration,
}

impl PollingStrategy for Linear {
    fn next_interval(&mut self, context: PollContext) -> Duration {
        self.initial
            .saturating_add(self.step.saturating_mul(context.polls_done))
            .min(self.max)
    }
}

struct Exponential {
    initial: Duration,
    factor: f64,
    max: Duration,
}

impl PollingStrategy for Exponential {
    fn next_interval(&mut self, context: PollContext) -> Duration {
        // Exponents past 64 saturate at the cap anyway; bounding them keeps
        // `powi` finite.
        let exponent = i32::try_from(context.polls_done.min(64)).unwrap_or(64);
        let scaled = self.initial.as_secs_f64() * self.factor.powi(exponent);
        if scaled >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(scaled)
        }
    }
}

impl PollingConfig {
    /// A fresh strategy for one order.
    #[must_use]
    pub fn build(&self) -> Box<dyn PollingStrategy> {
        match *self {
            Self::Fixed { interval } => Box::new(Fixed { interval }),
            Self::Linear { initial, step, max } => Box::new(Linear { initial, step, max }),
            Self::Exponential {
                initial,
                factor,
                max,
            } => Box::new(Exponential {
                initial,
                factor,
                max,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intervals(config: &PollingConfig, count: u32) -> Vec<Duration> {
        let mut strategy = config.build();
        (0..count)
            .map(|polls_done| {
                strategy.next_interval(PollContext {
                    polls_done,
                    elapsed: Duration::ZERO,
                    remaining: Duration::from_secs(60),
                })
            })
            .collect()
    }

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    /// Linear-adaptive grows 0.5 s by 0.1 s per poll and stops at 2 s.
    #[test]
    fn linear_grows_by_step_up_to_cap() {
        let got = intervals(&PollingConfig::linear_default(), 18);
        let mut want = ms(&[
            500, 600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900,
            2000,
        ]);
        want.extend(ms(&[2000, 2000]));
        assert_eq!(got, want);
    }

    /// Exponential doubles from its start and stops at its cap.
    #[test]
    fn exponential_doubles_up_to_cap() {
        let config = PollingConfig::Exponential {
            initial: Duration::from_millis(250),
            factor: 2.0,
            max: Duration::from_secs(3),
        };
        assert_eq!(
            intervals(&config, 6),
            ms(&[250, 500, 1000, 2000, 3000, 3000])
        );
        // A very late poll stays at the cap rather than overflowing.
        let mut strategy = config.build();
        let late = strategy.next_interval(PollContext {
            polls_done: u32::MAX,
            elapsed: Duration::ZERO,
            remaining: Duration::ZERO,
        });
        assert_eq!(late, Duration::from_secs(3));
    }

    /// Fixed never changes.
    #[test]
    fn fixed_is_constant() {
        let config = PollingConfig::Fixed {
            interval: Duration::from_millis(750),
        };
        assert_eq!(intervals(&config, 3), ms(&[750, 750, 750]));
    }
}
