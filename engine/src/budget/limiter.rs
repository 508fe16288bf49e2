//! The gate every engine call to the broker goes through: one call budget
//! shared by every order (calls wait their turn instead of running into the
//! broker's limit) and a per-call timeout (a call that hangs ends as an
//! ambiguous outcome instead of blocking its order past its deadline).
//!
//! Calls are served by [`Priority`]: deadline-critical calls (final
//! verification, cancels, post-cancel reads, lookups) always queue for a
//! turn, and take the turn of the earliest submission or catch-up read
//! still waiting for one (which moves one turn back), so an order's
//! deadline is never spent behind a queue of submissions; a routine poll
//! goes only if it gets a turn within one interval, and is otherwise
//! skipped, so under pressure polling thins out for every order instead of
//! crowding out the calls that settle orders; a catch-up read (an order
//! read after the stream reconnected, to find what the stream lost) queues
//! and is never skipped, and goes before queued submissions (but after
//! critical calls); a submission that cannot get a turn within its
//! longest wait is shed before it is sent ([`BrokerError::Deferred`]), and
//! so is one that more urgent calls would push back beyond it. A 429 pauses
//! the whole budget for the wait the broker asked for: no retry storm.
//!
//! The limiter is a token bucket in its GCRA form: it keeps the time at
//! which the next call may start and moves it on by one emission interval
//! per call, allowing a burst of `requests` at once. A call that must wait
//! sleeps on tokio's clock (virtual in simulations); no lock is held while
//! it sleeps.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::port::Broker;
use crate::port::{BrokerError, ConfigError};
use crate::port::{Order, OrderRequest, Position};
use crate::time::{sleep, sleep_until};

/// How urgent a call is, for the call budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A scheduled poll: skipped when no turn is free within one interval.
    Routine,
    /// A call that settles an order (final verification, cancel,
    /// post-cancel read, lookup, position check): always queues.
    Critical,
    /// A submission: queues up to the budget's longest submit wait, and is
    /// shed beyond it; critical calls go before it.
    Submit,
    /// A read that catches up with what the stream lost (an order read
    /// after a reconnect): queues, never skipped, before submissions;
    /// critical calls go before it.
    Catchup,
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `work` with its broker calls at `priority` (calls made outside any
/// such scope are [`Priority::Critical`]).
pub fn with_priority<F: Future>(priority: Priority, work: F) -> impl Future<Output = F::Output> {
    PRIORITY.scope(priority, work)
}

fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Critical)
}

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

/// A broker whose every call first waits its turn at a [`RateLimiter`]
/// (or goes straight through, without a limit), then, once sent, is
/// bounded by the call timeout when one is set. The wait for a turn is not
/// part of the call: a call queued behind a burst has not reached the
/// broker, so it cannot have timed out there.
pub struct RateLimitedBroker<B> {
    inner: B,
    limiter: Option<RateLimiter>,
    call_timeout: Option<Duration>,
    /// The longest a submission waits for a turn before it is shed.
    submit_max_wait: Duration,
    /// The wait each submission spent queued for its turn.
    submit_waits: Mutex<Vec<Duration>>,
}

impl<B> RateLimitedBroker<B> {
    /// Wraps `inner` with `limit`; `None` passes every call straight
    /// through.
    ///
    /// # Errors
    /// A limit out of range.
    pub fn new(inner: B, limit: Option<RateLimit>) -> Result<Self, ConfigError> {
        if let Some(limit) = &limit {
            limit.validate()?;
        }
        Ok(Self {
            inner,
            limiter: limit.map(RateLimiter::new),
            call_timeout: None,
            submit_max_wait: Duration::MAX,
            submit_waits: Mutex::new(Vec::new()),
        })
    }

    /// Sheds a submission that cannot get a turn within `max_wait`.
    #[must_use]
    pub fn with_submit_max_wait(mut self, max_wait: Duration) -> Self {
        self.submit_max_wait = max_wait;
        self
    }

    /// The wait each submission sent so far spent queued for its turn, in
    /// the order they were sent.
    #[must_use]
    pub fn submit_waits(&self) -> Vec<Duration> {
        self.submit_waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Bounds every call, once sent, by `limit`: past it the call ends
    /// with [`BrokerError::Timeout`], an ambiguous outcome (the broker may
    /// have acted).
    ///
    /// # Errors
    /// A zero limit.
    pub fn with_call_timeout(mut self, limit: Duration) -> Result<Self, ConfigError> {
        if limit.is_zero() {
            return Err(ConfigError::new(
                "call_timeout",
                "is zero; it must be a positive duration such as 5s",
            ));
        }
        self.call_timeout = Some(limit);
        Ok(self)
    }

    /// `call` within the call timeout. Callers box `call`: a broker's call
    /// (the simulator's holds its per-call random stream) is large, and
    /// boxed it is allocated once instead of moved through every layer
    /// (a seventh of a simulated run's time, measured).
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, BrokerError>>,
    ) -> Result<T, BrokerError> {
        match self.call_timeout {
            Some(limit) => within(limit, call).await,
            None => call.await,
        }
    }

    /// Waits for this call's turn, by the caller's [`Priority`].
    ///
    /// # Errors
    /// [`BrokerError::Deferred`] when a routine poll or a submission gets
    /// no turn within its longest wait: it is not sent.
    async fn turn(&self) -> Result<(), BrokerError> {
        let priority = current_priority();
        let waited = match (&self.limiter, priority) {
            // Without a budget nothing queues.
            (None, _) => Duration::ZERO,
            (Some(limiter), Priority::Critical) => {
                limiter.acquire().await;
                return Ok(());
            }
            (Some(limiter), Priority::Catchup) => {
                limiter.catch_up().await;
                return Ok(());
            }
            (Some(limiter), Priority::Routine) => {
                let max_wait = limiter.interval();
                limiter
                    .acquire_within(max_wait)
                    .await
                    .ok_or(BrokerError::Deferred { max_wait })?
            }
            (Some(limiter), Priority::Submit) => {
                let max_wait = self.submit_max_wait;
                limiter
                    .queue_submission(max_wait)
                    .await
                    .ok_or(BrokerError::Deferred { max_wait })?
            }
        };
        if priority == Priority::Submit {
            self.submit_waits
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(waited);
        }
        Ok(())
    }

    /// After an answer: a 429 pauses the whole budget for the wait the
    /// broker asked for (1 s when it gave none) and slows it by a tenth; a
    /// reported rate-limit state with nothing remaining pauses it until its
    /// reset.
    fn heed<T>(&self, answer: Result<T, BrokerError>) -> Result<T, BrokerError>
    where
        B: Broker,
    {
        let Some(limiter) = &self.limiter else {
            return answer;
        };
        if let Err(BrokerError::RateLimited { retry_after }) = &answer {
            let wait = retry_after.unwrap_or(Duration::from_secs(1));
            limiter.pause_until(Instant::now() + wait);
            limiter.slow_down();
        } else if let Some(state) = self.inner.rate_limit_state() {
            if state.remaining == 0 {
                limiter.pause_until(Instant::now() + state.reset_in);
            }
        }
        answer
    }

    /// The wrapped broker.
    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: Broker> Broker for RateLimitedBroker<B> {
    async fn submit_order(&self, request: &OrderRequest) -> Result<Order, BrokerError> {
        self.turn().await?;
        let answer = self
            .bounded(Box::pin(self.inner.submit_order(request)))
            .await;
        self.heed(answer)
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, BrokerError> {
        self.turn().await?;
        let answer = self.bounded(Box::pin(self.inner.get_order(order_id))).await;
        self.heed(answer)
    }

    async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<Order, BrokerError> {
        self.turn().await?;
        let answer = self
            .bounded(Box::pin(self.inner.get_order_by_client_id(client_order_id)))
            .await;
        self.heed(answer)
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        self.turn().await?;
        let answer = self
            .bounded(Box::pin(self.inner.cancel_order(order_id)))
            .await;
        self.heed(answer)
    }

    fn rate_limit_state(&self) -> Option<crate::port::RateLimitState> {
        self.inner.rate_limit_state()
    }

    async fn get_position(&self, symbol: &str) -> Result<Option<Position>, BrokerError> {
        self.turn().await?;
        let answer = self
            .bounded(Box::pin(self.inner.get_position(symbol)))
            .await;
        self.heed(answer)
    }
}

/// `call`, or [`BrokerError::Timeout`] (an ambiguous outcome: the broker may
/// have acted) when it takes longer than `limit`.
/// A call that completes at the very instant of the limit keeps its answer.
async fn within<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, BrokerError>>,
) -> Result<T, BrokerError> {
    let mut call = std::pin::pin!(call);
    let mut timer = std::pin::pin!(sleep(limit));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(answer) = call.as_mut().poll(cx) {
            return Poll::Ready(answer);
        }
        timer.as_mut().poll(cx).map(|()| Err(BrokerError::Timeout))
    })
    .await
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
