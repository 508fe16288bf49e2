//! One simulated time origin.
//!
//! A run's time is virtual time since the broker was created (a
//! [`Duration`], "elapsed"), on tokio's clock, paused in a simulated run.
//! What the broker stamps on an order (`submitted_at`, `filled_at`) and on
//! a trade update is a wall-clock [`Timestamp`]: the scenario's fixed
//! epoch plus elapsed virtual time, never the machine's clock.
//! [`TimeOrigin`] is that epoch, and the one place elapsed time becomes a
//! stamp and back (after TigerBeetle's `TimeSim`: realtime = epoch +
//! monotonic).
//!
//! Entry points: [`TimeOrigin::at`], [`TimeOrigin::elapsed_of`],
//! [`trace_micros`]; inside the crate, `SimClock` pairs the origin with
//! virtual time zero on the runtime's clock. Imports only the engine's
//! [`Timestamp`] and tokio's clock.

use std::time::Duration;

use fillproof_engine::Timestamp;
use tokio::time::Instant;

/// 2025-01-02T14:30:00Z, a market open: the broker's wall clock at virtual
/// time zero.
pub const DEFAULT_EPOCH_UNIX_MICROS: i64 = 1_735_828_200_000_000;

/// The wall-clock stamp of virtual time zero: every stamp the simulated
/// broker gives is this origin plus elapsed virtual time.
///
/// Default: [`DEFAULT_EPOCH_UNIX_MICROS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeOrigin {
    epoch_unix_micros: i64,
}

impl Default for TimeOrigin {
    fn default() -> Self {
        Self::new(DEFAULT_EPOCH_UNIX_MICROS)
    }
}

impl TimeOrigin {
    /// The origin whose virtual time zero is `epoch_unix_micros`
    /// (microseconds since the Unix epoch).
    #[must_use]
    pub const fn new(epoch_unix_micros: i64) -> Self {
        Self { epoch_unix_micros }
    }

    /// Virtual time zero, in microseconds since the Unix epoch.
    #[must_use]
    pub const fn epoch_unix_micros(self) -> i64 {
        self.epoch_unix_micros
    }

    /// The wall-clock stamp of `elapsed` virtual time, saturating at the
    /// end of time.
    #[must_use]
    pub fn at(self, elapsed: Duration) -> Timestamp {
        let micros = i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX);
        Timestamp::from_unix_micros(self.epoch_unix_micros.saturating_add(micros))
    }

    /// The virtual time `stamp` stands for; `None` for a stamp before the
    /// origin.
    #[must_use]
    pub fn elapsed_of(self, stamp: Timestamp) -> Option<Duration> {
        let micros = stamp.unix_micros.checked_sub(self.epoch_unix_micros)?;
        u64::try_from(micros).ok().map(Duration::from_micros)
    }
}

/// Elapsed virtual time as the trace writes it: whole microseconds,
/// saturating.
#[must_use]
pub fn trace_micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// The simulated broker's clock: virtual time zero on the runtime's clock
/// (set when the broker is created) and the stamp it stands for. The
/// broker and its stream share one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimClock {
    start: Instant,
    origin: TimeOrigin,
}

impl SimClock {
    /// A clock whose virtual time zero is now on the runtime's clock.
    pub(crate) fn starting_now(origin: TimeOrigin) -> Self {
        Self {
            start: Instant::now(),
            origin,
        }
    }

    /// Virtual time since zero.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The runtime's instant of `elapsed` virtual time.
    pub(crate) fn instant_at(&self, elapsed: Duration) -> Instant {
        self.start + elapsed
    }

    /// The virtual time of the runtime's `instant` (zero before zero).
    pub(crate) fn elapsed_at(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.start)
    }

    /// The wall-clock stamp of virtual time zero.
    pub(crate) fn origin(&self) -> TimeOrigin {
        self.origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stamp is the origin plus elapsed time, and reads back to it.
    #[test]
    fn a_stamp_is_the_origin_plus_elapsed_time() {
        let origin = TimeOrigin::default();
        let elapsed = Duration::from_millis(1_500);
        let stamp = origin.at(elapsed);
        assert_eq!(stamp.unix_micros, DEFAULT_EPOCH_UNIX_MICROS + 1_500_000);
        assert_eq!(origin.elapsed_of(stamp), Some(elapsed));
        assert_eq!(
            origin.elapsed_of(Timestamp::from_unix_micros(0)),
            None,
            "a stamp before the origin has no virtual time"
        );
    }
}
