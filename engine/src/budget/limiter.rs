//! The limiter behind the call budget: a token bucket in its GCRA form.
//! It keeps the time at which the next call may start and moves it on by
//! one emission interval per call, allowing a burst of `requests` at once.
//! A call that must wait sleeps on tokio's clock (virtual in simulations);
//! no lock is held while it sleeps.
//!
//! Calls rank for turns: deadline-critical calls take the turn of the
//! earliest queued submission or catch-up read (which moves one turn
//! back); a queued call pushed past its longest wait is shed.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::port::ConfigError;
use crate::time::sleep_until;

/// `requests` calls per `per`, with bursts of up to `requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls per window, at least 1.
    pub requests: u32,
    /// The window, positive.
    pub per: Duration,
}

impl RateLimit {
    /// 180 calls a minute: 90% of the 200 a minute Alpaca documents per
    /// API key, a margin for the other clients of the same key.
    pub const DEFAULT: Self = Self {
        requests: 180,
        per: Duration::from_secs(60),
    };

    /// Checks the ranges.
    ///
    /// # Errors
    /// A zero count or window.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.requests == 0 {
            return Err(ConfigError::new(
                "rate_limit.requests",
                "is 0; allow at least 1 call per window",
            ));
        }
        if self.per.is_zero() {
            return Err(ConfigError::new(
                "rate_limit.per",
                "is zero; the window must be positive",
            ));
        }
        Ok(())
    }

    fn interval(&self) -> Duration {
        self.per / self.requests
    }
}

/// The limiter's state: when the next call may go.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    schedule: Mutex<Schedule>,
}

/// The limiter's mutable state.
#[derive(Debug)]
struct Schedule {
    /// Theoretical arrival time of the next call.
    next: Option<Instant>,
    /// The interval between calls (the limit's, lengthened by each 429:
    /// the broker allows less than the budget thought).
    interval: Duration,
    /// Calls holding a turn that has not started yet and that a more
    /// urgent call may take (submissions, catch-up reads).
    queued: Vec<Queued>,
    /// The id the next queued call gets.
    next_id: u64,
}

/// How a call ranks for taking another's turn: a call takes the queued
/// turns of lower ranks.
const SUBMIT_RANK: u8 = 0;
/// A catch-up read's rank: before submissions.
const CATCH_UP_RANK: u8 = 1;
/// A deadline-critical call's rank: before everything queued.
const CRITICAL_RANK: u8 = 2;

/// A call holding a turn a more urgent call may take.
#[derive(Debug)]
struct Queued {
    id: u64,
    /// Its rank: [`SUBMIT_RANK`] or [`CATCH_UP_RANK`].
    rank: u8,
    /// When its turn starts.
    turn: Instant,
    /// The latest its turn may start, past which it is shed; `None` for a
    /// call never shed.
    latest: Option<Instant>,
    /// Set when more urgent calls pushed its turn beyond `latest`.
    shed: bool,
    /// Wakes its waiter when it is shed.
    wake: Arc<Notify>,
}

impl Schedule {
    /// Hands the earliest turn before `own` (a call's own reservation)
    /// queued by a call ranked below `rank` to that call: each such queued
    /// call from there on moves to the next one's turn, the last to `own`.
    /// A call moved past its latest start is shed and the move stops
    /// there. Returns the call's turn and whether `own` went to someone.
    fn overtake(&mut self, rank: u8, own: Instant, now: Instant) -> (Instant, bool) {
        let mut movable: Vec<usize> = (0..self.queued.len())
            .filter(|&i| {
                let q = &self.queued[i];
                q.rank < rank && !q.shed && q.turn > now && q.turn < own
            })
            .collect();
        movable.sort_by_key(|&i| self.queued[i].turn);
        let Some(&first) = movable.first() else {
            return (own, true);
        };
        let taken = self.queued[first].turn;
        for (k, &i) in movable.iter().enumerate() {
            let moved_to = movable.get(k + 1).map_or(own, |&j| self.queued[j].turn);
            let call = &mut self.queued[i];
            if call.latest.is_some_and(|latest| moved_to > latest) {
                call.shed = true;
                call.wake.notify_one();
                return (taken, false);
            }
            call.turn = moved_to;
        }
        (taken, true)
    }
}

impl RateLimiter {
    /// A limiter for `limit`.
    #[must_use]
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            schedule: Mutex::new(Schedule {
                next: None,
                interval: limit.interval(),
                queued: Vec::new(),
                next_id: 0,
            }),
        }
    }

    fn schedule(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn burst(&self) -> Duration {
        self.limit.interval() * self.limit.requests.saturating_sub(1)
    }

    /// The interval between calls now.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.schedule().interval
    }

    /// The broker refused a call the budget let through: lengthen the
    /// interval by a tenth, up to one call per window.
    pub fn slow_down(&self) {
        let mut schedule = self.schedule();
        schedule.interval = schedule.interval.mul_f64(1.1).min(self.limit.per);
    }

    /// Reserves the next turn, unless it is more than `max_wait` away (then
    /// nothing is reserved). Returns when the turn starts.
    fn reserve(&self, max_wait: Option<Duration>) -> Option<Instant> {
        self.reserve_in(&mut self.schedule(), max_wait)
    }

    fn reserve_in(&self, schedule: &mut Schedule, max_wait: Option<Duration>) -> Option<Instant> {
        let now = Instant::now();
        // An idle limiter's schedule catches up with now: the bucket is
        // full again, but holds no more than the burst.
        let theoretical = schedule.next.unwrap_or(now).max(now);
        // A call may start once the schedule is no more than a burst
        // ahead of it.
        let start = theoretical
            .checked_sub(self.burst())
            .map_or(now, |t| t.max(now));
        if max_wait.is_some_and(|max| start - now > max) {
            return None;
        }
        schedule.next = Some(theoretical + schedule.interval);
        Some(start)
    }

    /// Reserves a turn for a call of `rank` (within `max_wait`, when
    /// given), taking the earliest turn queued by a lower rank.
    fn take_turn(
        &self,
        schedule: &mut Schedule,
        rank: u8,
        max_wait: Option<Duration>,
    ) -> Option<Instant> {
        let before = schedule.next;
        let own = self.reserve_in(schedule, max_wait)?;
        let (start, own_used) = schedule.overtake(rank, own, Instant::now());
        if !own_used {
            // A call was shed instead of moving back: the turn reserved
            // here is nobody's, so it is given back.
            schedule.next = before;
        }
        Some(start)
    }

    /// Waits until a call may go: a deadline-critical call, which takes
    /// the turn of the earliest queued submission or catch-up read.
    pub async fn acquire(&self) {
        let start = self.take_turn(&mut self.schedule(), CRITICAL_RANK, None);
        if let Some(start) = start {
            wait_for(start).await;
        }
    }

    /// Waits for a turn that starts within `max_wait`, and returns the
    /// wait; `None` (nothing reserved, no wait) when there is none.
    pub async fn acquire_within(&self, max_wait: Duration) -> Option<Duration> {
        let start = self.reserve(Some(max_wait))?;
        let waited = start.saturating_duration_since(Instant::now());
        wait_for(start).await;
        Some(waited)
    }

    /// Queues a submission for a turn within `max_wait`, which critical
    /// calls and catch-up reads may take, each moving it one turn back.
    /// Returns the wait; `None` (not sent) when no turn is free within
    /// `max_wait`, or when others pushed it beyond.
    pub async fn queue_submission(&self, max_wait: Duration) -> Option<Duration> {
        self.queue(SUBMIT_RANK, Some(max_wait)).await
    }

    /// Queues a catch-up read (an order read after the stream reconnected)
    /// for a turn without bound: it takes the turn of the earliest queued
    /// submission, and critical calls may take its turn, each moving it
    /// one turn back. Returns the wait.
    pub async fn catch_up(&self) -> Duration {
        self.queue(CATCH_UP_RANK, None).await.unwrap_or_default()
    }

    /// Queues a call of `rank` for a turn within `max_wait` (without bound
    /// when `None`). Returns the wait, or `None` when shed.
    async fn queue(&self, rank: u8, max_wait: Option<Duration>) -> Option<Duration> {
        let queued_at = Instant::now();
        let (id, wake) = {
            let mut schedule = self.schedule();
            let turn = self.take_turn(&mut schedule, rank, max_wait)?;
            if turn <= queued_at {
                return Some(Duration::ZERO);
            }
            let id = schedule.next_id;
            schedule.next_id += 1;
            let wake = Arc::new(Notify::new());
            schedule.queued.push(Queued {
                id,
                rank,
                turn,
                latest: max_wait.and_then(|max| queued_at.checked_add(max)),
                shed: false,
                wake: Arc::clone(&wake),
            });
            (id, wake)
        };
        loop {
            let turn = {
                let mut schedule = self.schedule();
                let at = schedule.queued.iter().position(|q| q.id == id)?;
                let (turn, shed) = (schedule.queued[at].turn, schedule.queued[at].shed);
                if shed || turn <= Instant::now() {
                    schedule.queued.remove(at);
                    return (!shed).then(|| queued_at.elapsed());
                }
                turn
            };
            first_of(sleep_until(turn), wake.notified()).await;
        }
    }

    /// No call starts before `until`, and none in a burst right after it:
    /// what a 429's Retry-After asks for.
    pub fn pause_until(&self, until: Instant) {
        let paused = until + self.burst();
        let mut schedule = self.schedule();
        schedule.next = Some(schedule.next.map_or(paused, |n| n.max(paused)));
    }
}

/// Waits for whichever of `a` and `b` finishes first.
async fn first_of(a: impl Future<Output = ()>, b: impl Future<Output = ()>) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Sleeps until `start`; a call with its turn now goes straight on: no
/// timer, no yield.
async fn wait_for(start: Instant) {
    if start > Instant::now() {
        sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of `requests` goes at once; the next waits one interval, and
    /// a long run keeps to the rate.
    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate() {
        let limiter = RateLimiter::new(RateLimit {
            requests: 5,
            per: Duration::from_secs(1),
        });
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes at once");
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        for _ in 0..50 {
            limiter.acquire().await;
        }
        // Call k (from 0) starts at k intervals less the burst's four.
        assert_eq!(start.elapsed(), Duration::from_millis(55 * 200 - 4 * 200));
    }

    /// After an idle spell the burst is available again, but no more.
    #[tokio::test(start_paused = true)]
    async fn idle_refills_burst_only() {
        let limiter = RateLimiter::new(RateLimit {
            requests: 3,
            per: Duration::from_secs(3),
        });
        for _ in 0..3 {
            limiter.acquire().await;
        }
        crate::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    /// With the schedule five turns ahead, a call that may wait one turn
    /// (a routine poll) gets none and reserves nothing; one that may wait
    /// ten seconds (a submission) gets its turn; a critical one always
    /// does.
    #[tokio::test(start_paused = true)]
    async fn bounded_waits_get_a_turn_or_nothing() {
        let limiter = RateLimiter::new(RateLimit {
            requests: 1,
            per: Duration::from_secs(1),
        });
        let start = Instant::now();
        for _ in 0..5 {
            assert!(limiter.reserve(None).is_some());
        }
        assert_eq!(limiter.acquire_within(Duration::from_secs(1)).await, None);
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "a skipped call never waits"
        );
        let waited = limiter.acquire_within(Duration::from_secs(10)).await;
        assert_eq!(waited, Some(Duration::from_secs(5)));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(6));
    }

    /// After a 429 asking for 10 s, no call starts before it, and the next
    /// ones come at the rate, not in a burst.
    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_call_and_skips_the_burst() {
        let limiter = RateLimiter::new(RateLimit {
            requests: 5,
            per: Duration::from_secs(5),
        });
        let start = Instant::now();
        limiter.pause_until(start + Duration::from_secs(10));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(11));
    }

    /// Each refusal the budget let through lengthens its interval by a
    /// tenth, never beyond one call per window.
    #[test]
    fn slowing_down_lengthens_the_interval_up_to_the_window() {
        let limiter = RateLimiter::new(RateLimit {
            requests: 10,
            per: Duration::from_secs(1),
        });
        assert_eq!(limiter.interval(), Duration::from_millis(100));
        limiter.slow_down();
        assert_eq!(limiter.interval(), Duration::from_millis(110));
        for _ in 0..100 {
            limiter.slow_down();
        }
        assert_eq!(limiter.interval(), Duration::from_secs(1));
    }

    /// Zero counts and windows are refused with the field.
    #[test]
    fn limits_are_validated() {
        let zero = RateLimit {
            requests: 0,
            per: Duration::from_secs(1),
        };
        assert_eq!(
            zero.validate().expect_err("zero").field,
            "rate_limit.requests"
        );
    }
}
