//! Wall-clock stamps for records and events, read through one trait so a
//! simulated run uses virtual time and production uses the real clock.

use std::sync::Arc;

use tokio::time::Instant;

use crate::order::Timestamp;

/// A source of wall-clock stamps.
pub trait Clock: Send + Sync {
    /// The current stamp.
    fn now(&self) -> Timestamp;
}

/// The machine's clock, for production.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "production records carry real wall-clock time; simulations use VirtualClock"
    )]
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        Timestamp::from_unix_micros(micros)
    }
}

/// A fixed epoch plus tokio's (possibly paused) elapsed time, for
/// simulations: the same run gives the same stamps on any machine.
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock {
    epoch_unix_micros: i64,
    start: Instant,
}

impl VirtualClock {
    /// A clock reading `epoch_unix_micros` now. Create it inside the runtime
    /// whose clock it follows.
    #[must_use]
    pub fn new(epoch_unix_micros: i64) -> Self {
        Self {
            epoch_unix_micros,
            start: Instant::now(),
        }
    }

    /// As a shared clock.
    #[must_use]
    pub fn shared(self) -> Arc<dyn Clock> {
        Arc::new(self)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        let elapsed = i64::try_from(self.start.elapsed().as_micros()).unwrap_or(i64::MAX);
        Timestamp::from_unix_micros(self.epoch_unix_micros.saturating_add(elapsed))
    }
}
