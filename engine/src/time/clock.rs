//! Wall-clock stamps for records and events, read through one trait so a
//! simulated run uses virtual time and production uses the real clock; and
//! the timers every wait goes through, so that a run's pattern of waits can
//! be recorded (see [`record_timers`]) and replayed on bare tokio to measure
//! what the runtime itself costs.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::port::Timestamp;

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

/// One timer made on tokio's clock: which task made it (`None` outside a
/// task), when, its deadline, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerWait {
    /// The task that made it.
    pub task: Option<tokio::task::Id>,
    /// When it was made.
    pub start: Instant,
    /// When it fires.
    pub deadline: Instant,
    /// How it ended; `None` while it is alive, or when it ended outside
    /// the recording (or outside any runtime, where no virtual time can be
    /// read).
    pub end: Option<TimerEnd>,
}

/// How a recorded timer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerEnd {
    /// It fired and was seen to: its waiter woke at its deadline.
    Fired,
    /// It was dropped at this time, before it fired: a bound that was not
    /// reached (a call's timeout, a wait a stream event cut short). The
    /// runtime registered and cancelled it, but nothing woke for it.
    Dropped(Instant),
}

/// The timers made on this thread while it records, and which recording
/// they belong to (so that a timer outliving its recording, or ending on
/// another thread, is never noted in the wrong one).
struct TimerLog {
    id: u64,
    waits: Vec<TimerWait>,
}

thread_local! {
    static TIMER_LOG: RefCell<Option<TimerLog>> = const { RefCell::new(None) };
}

/// Numbers recordings across threads.
static RECORDINGS: AtomicU64 = AtomicU64::new(0);

pin_project_lite::pin_project! {
    /// A timer on tokio's clock, made by [`sleep`] or [`sleep_until`]. It is
    /// tokio's own `Sleep`; while its thread records (see
    /// [`record_timers`]) it also notes whether it fired or was dropped
    /// first, and when.
    #[must_use = "a timer does nothing until awaited"]
    pub struct Timer {
        #[pin]
        sleep: Sleep,
        // The recording and the index of this timer's entry in it, until
        // the timer has ended; `None` outside a recording.
        logged: Option<(u64, usize)>,
    }

    impl PinnedDrop for Timer {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(logged) = this.logged.take() {
                let end = tokio::runtime::Handle::try_current()
                    .ok()
                    .map(|_| TimerEnd::Dropped(Instant::now()));
                note_end(logged, end);
            }
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let fired = this.sleep.poll(cx);
        if fired.is_ready() {
            if let Some(logged) = this.logged.take() {
                note_end(logged, Some(TimerEnd::Fired));
            }
        }
        fired
    }
}

/// Notes how the timer at `index` of recording `id` ended, if this thread
/// still records it.
fn note_end((id, index): (u64, usize), end: Option<TimerEnd>) {
    TIMER_LOG.with(|log| {
        if let Some(log) = log.borrow_mut().as_mut().filter(|log| log.id == id) {
            if let Some(wait) = log.waits.get_mut(index) {
                wait.end = end;
            }
        }
    });
}

/// A timer that fires `duration` from now. Every wait in the engine, the
/// simulator and the harness goes through here or [`sleep_until`].
pub fn sleep(duration: Duration) -> Timer {
    sleep_until(Instant::now() + duration)
}

/// A timer that fires at `deadline`, noted in the timer log when this
/// thread is recording one.
#[expect(
    clippy::disallowed_methods,
    reason = "the one place a timer is made, so that every wait can be recorded"
)]
pub fn sleep_until(deadline: Instant) -> Timer {
    let logged = TIMER_LOG.with(|log| {
        log.borrow_mut().as_mut().map(|log| {
            log.waits.push(TimerWait {
                task: tokio::task::try_id(),
                start: Instant::now(),
                deadline,
                end: None,
            });
            (log.id, log.waits.len() - 1)
        })
    });
    Timer {
        sleep: tokio::time::sleep_until(deadline),
        logged,
    }
}

/// Runs `work` on this thread and returns, beside its result, every timer
/// made on this thread meanwhile, in the order they were made, with how
/// each ended. A run on a current-thread runtime made and dropped inside
/// `work` is recorded whole.
pub fn record_timers<R>(work: impl FnOnce() -> R) -> (R, Vec<TimerWait>) {
    let id = RECORDINGS.fetch_add(1, Ordering::Relaxed);
    let outer = TIMER_LOG.with(|log| {
        log.borrow_mut().replace(TimerLog {
            id,
            waits: Vec::new(),
        })
    });
    let result = work();
    let log = TIMER_LOG.with(|log| std::mem::replace(&mut *log.borrow_mut(), outer));
    (result, log.map(|log| log.waits).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    /// Every timer made while recording is noted with its task, start and
    /// deadline; none is noted outside a recording.
    #[test]
    fn records_timers_made_while_recording() {
        let runtime = paused_runtime();
        let ((), waits) = record_timers(|| {
            runtime.block_on(async {
                let origin = Instant::now();
                sleep(Duration::from_secs(1)).await;
                let task = tokio::spawn(async move {
                    sleep_until(origin + Duration::from_secs(5)).await;
                    tokio::task::id()
                });
                let id = task.await.unwrap();
                let waits = TIMER_LOG.with(|log| log.borrow().as_ref().unwrap().waits.clone());
                assert_eq!(waits.len(), 2);
                assert_eq!(waits[0].task, None);
                assert_eq!(waits[0].deadline - origin, Duration::from_secs(1));
                assert_eq!(waits[1].task, Some(id));
                assert_eq!(waits[1].start - origin, Duration::from_secs(1));
                assert_eq!(waits[1].deadline - origin, Duration::from_secs(5));
            });
        });
        assert_eq!(waits.len(), 2);
        assert!(waits.iter().all(|w| w.end == Some(TimerEnd::Fired)));
        runtime.block_on(async { sleep(Duration::from_secs(1)).await });
        assert!(TIMER_LOG.with(|log| log.borrow().is_none()));
    }

    /// A timer that loses a race (a call's timeout beaten by the answer) is
    /// noted as dropped at the moment it was, not as a wait until its
    /// deadline; the timer that won is noted as fired.
    #[test]
    fn notes_a_timer_dropped_before_it_fired() {
        let runtime = paused_runtime();
        let (origin, waits) = record_timers(|| {
            runtime.block_on(async {
                let origin = Instant::now();
                let bound = sleep(Duration::from_secs(5));
                let answer = sleep(Duration::from_millis(120));
                tokio::select! {
                    () = bound => unreachable!("the answer comes first"),
                    () = answer => {}
                }
                sleep(Duration::from_secs(1)).await;
                origin
            })
        });
        let ends: Vec<_> = waits.iter().map(|w| (w.deadline - origin, w.end)).collect();
        assert_eq!(
            ends,
            [
                (
                    Duration::from_secs(5),
                    Some(TimerEnd::Dropped(origin + Duration::from_millis(120)))
                ),
                (Duration::from_millis(120), Some(TimerEnd::Fired)),
                (Duration::from_millis(1120), Some(TimerEnd::Fired)),
            ]
        );
    }

    /// A timer still alive when its recording ends has no end; one made
    /// in a recording and ending in a later one is never noted in the
    /// later one.
    #[test]
    fn a_timer_outliving_its_recording_is_not_noted_in_the_next() {
        let runtime = paused_runtime();
        let (timer, first) = record_timers(|| {
            let _guard = runtime.enter();
            sleep(Duration::from_secs(1))
        });
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].end, None);
        let (dropped_at, second) = record_timers(|| {
            runtime.block_on(async {
                drop(sleep(Duration::from_millis(10)));
                let dropped_at = Instant::now();
                // Fires in this recording, at the same index as the one
                // just dropped in it.
                timer.await;
                dropped_at
            })
        });
        assert_eq!(second.len(), 1);
        assert_eq!(
            second[0].deadline - second[0].start,
            Duration::from_millis(10)
        );
        assert_eq!(second[0].end, Some(TimerEnd::Dropped(dropped_at)));
    }
}
