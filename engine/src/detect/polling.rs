//! Polling strategies: when the monitor loop reads an order next, and
//! their settings ([`PollingConfig`], checked here against
//! [`MIN_POLL_INTERVAL`]).
//!
//! A strategy is built per order from a [`PollingConfig`], so each order's
//! monitor keeps its own state and no lock is shared between orders. The
//! detection config holds a [`PollingConfig`]; nothing here reads the
//! config. The strategies' names and presets are in `strategy.rs`.

use std::time::Duration;

use crate::port::ConfigError;

/// The shortest polling interval the engine accepts: a broker is not read
/// more often than a hundred times a second per order.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The batched strategy's default interval between list reads.
pub(crate) const BATCH_INTERVAL: Duration = Duration::from_millis(700);

/// The batched strategy's default quiet time before an order's own read.
pub(crate) const BATCH_SAFETY: Duration = Duration::from_secs(10);

/// How often the monitor loop reads an order.
#[derive(Debug, Clone, PartialEq)]
pub enum PollingConfig {
    /// The same interval every time.
    Fixed {
        /// The interval; default 1 s.
        interval: Duration,
    },
    /// Starts at `initial` and grows by `step` after every poll, up to `max`.
    /// The original specification's strategy: 0.5 s, +0.1 s, 2 s.
    Linear {
        /// First interval; default 500 ms.
        initial: Duration,
        /// Growth per poll; default 100 ms.
        step: Duration,
        /// Cap; default 2 s.
        max: Duration,
    },
    /// Starts at `initial` and multiplies by `factor` after every poll, up to
    /// `max`.
    Exponential {
        /// First interval; default 250 ms.
        initial: Duration,
        /// Growth factor, at least 1; default 2.
        factor: f64,
        /// Cap; default 4 s.
        max: Duration,
    },
    /// A steady cruise while fills are likely, backing off while nothing
    /// changes, dense again before the deadline; see [`AdaptivePolling`].
    Adaptive(AdaptivePolling),
    /// Stream first: the broker's trade updates drive detection, and the
    /// order is read over REST only when the stream has been quiet on it for
    /// `safety` (a safety poll), after a reconnect, and on the deadline path.
    /// Without a stream it is fixed polling every `safety`.
    Hybrid {
        /// Quiet time before a safety read; default 15 s.
        safety: Duration,
    },
    /// Batched: one list read every `interval` settles every open order
    /// the detector watches, and the fill activities give each execution
    /// of the fills it shows; an order reads itself only when no list read
    /// has shown it for `safety` (outside the page, the list failing).
    Batched {
        /// Between list reads while orders are open; default 700 ms.
        interval: Duration,
        /// Quiet time before an order's own read; default 10 s.
        safety: Duration,
    },
}

impl PollingConfig {
    /// The original specification's linear-adaptive polling: 500 ms, +100 ms
    /// per poll, capped at 2 s.
    #[must_use]
    pub fn linear_default() -> Self {
        Self::Linear {
            initial: Duration::from_millis(500),
            step: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }

    /// The stream-first strategy with its default 15 s safety poll.
    #[must_use]
    pub fn hybrid_default() -> Self {
        Self::Hybrid {
            safety: Duration::from_secs(15),
        }
    }

    /// The batched strategy with its defaults: a list read every 700 ms,
    /// an order's own read after 10 s unseen.
    #[must_use]
    pub fn batched_default() -> Self {
        Self::Batched {
            interval: BATCH_INTERVAL,
            safety: BATCH_SAFETY,
        }
    }

    /// The quiet time after which a watch that takes its news from a
    /// route (the stream, or the batched reads) reads its order itself;
    /// `None` for strategies that only poll.
    #[must_use]
    pub fn safety(&self) -> Option<Duration> {
        match *self {
            Self::Hybrid { safety } | Self::Batched { safety, .. } => Some(safety),
            _ => None,
        }
    }

    /// A short name for reports: `fixed`, `linear`, `exponential`,
    /// `adaptive`, `hybrid`, `batched`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.strategy().name()
    }

    /// Checks every interval's range.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Fixed { interval: every } => interval("polling.interval", *every),
            Self::Hybrid { safety } => interval("polling.safety", *safety),
            Self::Batched {
                interval: every,
                safety,
            } => {
                interval("polling.interval", *every)?;
                interval("polling.safety", *safety)
            }
            Self::Linear {
                initial,
                step: _,
                max,
            } => {
                interval("polling.initial", *initial)?;
                cap_at_least_initial(*initial, *max)
            }
            Self::Exponential {
                initial,
                factor,
                max,
            } => {
                interval("polling.initial", *initial)?;
                if !factor.is_finite() || *factor < 1.0 {
                    return Err(ConfigError::new(
                        "polling.factor",
                        format!("is {factor}; it must be a finite number of at least 1"),
                    ));
                }
                cap_at_least_initial(*initial, *max)
            }
            Self::Adaptive(adaptive) => {
                interval("polling.first", adaptive.first)?;
                interval("polling.cruise", adaptive.cruise)?;
                interval("polling.endgame_interval", adaptive.endgame_interval)?;
                if !adaptive.growth.is_finite() || adaptive.growth < 1.0 {
                    return Err(ConfigError::new(
                        "polling.growth",
                        format!(
                            "is {}; it must be a finite number of at least 1",
                            adaptive.growth
                        ),
                    ));
                }
                cap_at_least_initial(adaptive.cruise, adaptive.max)
            }
        }
    }
}

fn cap_at_least_initial(initial: Duration, max: Duration) -> Result<(), ConfigError> {
    if max < initial {
        return Err(ConfigError::new(
            "polling.max",
            format!(
                "({max:?}) is below polling.initial ({initial:?}); the cap must be at least the first interval"
            ),
        ));
    }
    Ok(())
}

/// A polling interval: at least [`MIN_POLL_INTERVAL`].
fn interval(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value < MIN_POLL_INTERVAL {
        return Err(ConfigError::new(
            field,
            format!(
                "is {value:?}; a polling interval must be at least {MIN_POLL_INTERVAL:?} (reading one order more often only burns the broker's rate limit)"
            ),
        ));
    }
    Ok(())
}

/// What a strategy may look at when choosing the next interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollContext {
    /// Reads made so far by the monitor loop.
    pub polls_done: u32,
    /// Time since monitoring started.
    pub elapsed: Duration,
    /// Time left until the deadline.
    pub remaining: Duration,
    /// Reads since the order last changed (status or filled quantity); the
    /// submit answer counts as the first change.
    pub polls_since_change: u32,
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

/// Polls where fills are likely and backs off where they are not: a
/// steady cruise interval while fills are likely (the first look
/// included, unless `first` says otherwise), growing once nothing has
/// changed for `patience` polls and snapping back when something changes
/// (partial fills come in bursts), and a dense endgame before the deadline,
/// so that a last-second fill is seen before the engine has to cancel,
/// which costs more calls than a poll.
///
/// The defaults: every 1.4 s (the first look included); after 8 unchanged
/// polls (about 11 s) the interval grows by half each poll up to 10 s;
/// every 500 ms in the last 2 s before the deadline. Why these: on the
/// bundled scenarios most fills land in the first seconds, spread roughly
/// exponentially, and for such fills a steady interval is the cheapest way
/// to a given p95 latency; polling faster at first (300 ms) bought a lower
/// median for about 0.7 more calls per order on the production day, so the
/// first look defaults to the cruise interval. Orders still open after the
/// patience are mostly orders that will not fill; backing off there saves
/// most of what they would cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptivePolling {
    /// First interval; default 1.4 s.
    pub first: Duration,
    /// Interval after the first, and after any change; default 1.4 s.
    pub cruise: Duration,
    /// Unchanged polls at the cruise interval before it grows; default 8.
    pub patience: u32,
    /// Growth per unchanged poll after that, at least 1; default 1.5.
    pub growth: f64,
    /// Cap; default 10 s.
    pub max: Duration,
    /// How long before the deadline the endgame starts; default 2 s.
    pub endgame: Duration,
    /// Interval in the endgame; default 500 ms.
    pub endgame_interval: Duration,
}

impl Default for AdaptivePolling {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(1400),
            cruise: Duration::from_millis(1400),
            patience: 8,
            growth: 1.5,
            max: Duration::from_secs(10),
            endgame: Duration::from_secs(2),
            endgame_interval: Duration::from_millis(500),
        }
    }
}

impl PollingStrategy for AdaptivePolling {
    fn next_interval(&mut self, context: PollContext) -> Duration {
        if context.remaining <= self.endgame {
            return self.endgame_interval;
        }
        let steady = if context.polls_done == 0 {
            self.first
        } else {
            let exponent = i32::try_from(
                context
                    .polls_since_change
                    .saturating_sub(self.patience.max(1))
                    .min(64),
            )
            .unwrap_or(64);
            let scaled = self.cruise.as_secs_f64() * self.growth.powi(exponent);
            if scaled >= self.max.as_secs_f64() {
                self.max
            } else {
                Duration::from_secs_f64(scaled)
            }
        };
        // Land on the start of the endgame rather than skip past it.
        let until_endgame = context.remaining - self.endgame;
        if until_endgame > Duration::ZERO && steady > until_endgame {
            until_endgame
        } else {
            steady
        }
    }
}

impl PollingConfig {
    /// The adaptive strategy with its defaults ([`AdaptivePolling`]).
    #[must_use]
    pub fn adaptive_default() -> Self {
        Self::Adaptive(AdaptivePolling::default())
    }

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
            Self::Adaptive(adaptive) => Box::new(adaptive),
            // The safety poll's schedule; the stream does the rest.
            Self::Hybrid { safety } => Box::new(Fixed { interval: safety }),
            // Without the batched reads, each order reads itself as
            // seldom as the safety read.
            Self::Batched { safety, .. } => Box::new(Fixed { interval: safety }),
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
                    polls_since_change: polls_done,
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
            polls_since_change: u32::MAX,
        });
        assert_eq!(late, Duration::from_secs(3));
    }

    /// Adaptive: a quick first look, a cruise growing while nothing
    /// changes, back to cruise after a change, never past the start of the
    /// endgame, and dense within it.
    #[test]
    fn adaptive_cruises_resets_and_ends_dense() {
        let mut s = PollingConfig::adaptive_default().build();
        let at = |polls_done, polls_since_change, remaining_ms| PollContext {
            polls_done,
            elapsed: Duration::ZERO,
            remaining: Duration::from_millis(remaining_ms),
            polls_since_change,
        };
        // (polls done, polls since a change, ms to the deadline) → ms, why
        for ((done, since, remaining), want, why) in [
            ((0, 0, 60_000), 1_400, "first look"),
            ((1, 1, 60_000), 1_400, "cruise"),
            ((8, 8, 60_000), 1_400, "patience"),
            ((9, 9, 60_000), 2_100, "growth"),
            ((10, 10, 60_000), 3_150, "growth"),
            ((30, 30, 60_000), 10_000, "cap"),
            ((30, 1, 60_000), 1_400, "a change resets"),
            ((30, 30, 5_000), 3_000, "lands on the endgame"),
            ((31, 31, 1_500), 500, "dense endgame"),
        ] {
            assert_eq!(
                s.next_interval(at(done, since, remaining)),
                Duration::from_millis(want),
                "{why}"
            );
        }
        let mut quick = PollingConfig::Adaptive(AdaptivePolling {
            first: Duration::from_millis(300),
            cruise: Duration::from_secs(1),
            patience: 1,
            growth: 2.0,
            max: Duration::from_secs(4),
            ..AdaptivePolling::default()
        })
        .build();
        assert_eq!(
            quick.next_interval(at(0, 0, 60_000)),
            Duration::from_millis(300),
            "first look"
        );
        assert_eq!(
            quick.next_interval(at(2, 2, 60_000)),
            Duration::from_secs(2)
        );
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
