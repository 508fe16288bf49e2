//! Wall-clock stamps for records and events, read through one trait so a
//! simulated run uses virtual time and production uses the real clock; and
//! the timers every wait goes through, so that a run's pattern of waits can
//! be recorded (see [`record_timers`]) and replayed on bare tokio to measure
//! what the runtime itself costs.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

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

/// One wait on tokio's clock: which task waited (`None` outside a task),
/// from when, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerWait {
    /// The waiting task.
    pub task: Option<tokio::task::Id>,
    /// When the wait began.
    pub start: Instant,
    /// When it ends.
    pub deadline: Instant,
}

thread_local! {
    static TIMER_LOG: RefCell<Option<Vec<TimerWait>>> = const { RefCell::new(None) };
}

/// A timer that fires `duration` from now. Every wait in the engine, the
/// simulator and the harness goes through here or [`sleep_until`].
#[must_use = "a timer does nothing until awaited"]
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// A timer that fires at `deadline`, noted in the timer log when this
/// thread is recording one.
#[must_use = "a timer does nothing until awaited"]
#[expect(
    clippy::disallowed_methods,
    reason = "the one place a timer is made, so that every wait can be recorded"
)]
pub fn sleep_until(deadline: Instant) -> Sleep {
    TIMER_LOG.with(|log| {
        if let Some(waits) = log.borrow_mut().as_mut() {
            waits.push(TimerWait {
                task: tokio::task::try_id(),
                start: Instant::now(),
                deadline,
            });
        }
    });
    tokio::time::sleep_until(deadline)
}

/// Runs `work` on this thread and returns, beside its result, every timer
/// made on this thread meanwhile, in the order they were made. A run on a
/// current-thread runtime made here is recorded whole.
pub fn record_timers<R>(work: impl FnOnce() -> R) -> (R, Vec<TimerWait>) {
    let outer = TIMER_LOG.with(|log| log.borrow_mut().replace(Vec::new()));
    let result = work();
    let waits = TIMER_LOG.with(|log| std::mem::replace(&mut *log.borrow_mut(), outer));
    (result, waits.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every timer made while recording is noted with its task, start and
    /// deadline; none is noted outside a recording.
    #[test]
    fn records_timers_made_while_recording() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let ((), waits) = record_timers(|| {
            runtime.block_on(async {
                let origin = Instant::now();
                sleep(Duration::from_secs(1)).await;
                let task = tokio::spawn(async move {
                    sleep_until(origin + Duration::from_secs(5)).await;
                    tokio::task::id()
                });
                let id = task.await.unwrap();
                let waits = TIMER_LOG.with(|log| log.borrow().clone().unwrap());
                assert_eq!(waits.len(), 2);
                assert_eq!(waits[0].task, None);
                assert_eq!(waits[0].deadline - origin, Duration::from_secs(1));
                assert_eq!(waits[1].task, Some(id));
                assert_eq!(waits[1].start - origin, Duration::from_secs(1));
                assert_eq!(waits[1].deadline - origin, Duration::from_secs(5));
            });
        });
        assert_eq!(waits.len(), 2);
        runtime.block_on(async { sleep(Duration::from_secs(1)).await });
        assert!(TIMER_LOG.with(|log| log.borrow().is_none()));
    }
}
