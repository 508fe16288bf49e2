//! The gate every engine call to the broker goes through: a client-side
//! rate limiter (calls wait their turn instead of running into the
//! broker's limit) and a per-call timeout (a call that hangs ends as an
//! ambiguous outcome instead of blocking its order past its deadline).
//!
//! The limiter is a token bucket in its GCRA form: it keeps the time at
//! which the next call may start and moves it on by one emission interval
//! per call, allowing a burst of `requests` at once. A call that must wait
//! sleeps on tokio's clock (virtual in simulations); no lock is held while
//! it sleeps.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use crate::broker::Broker;
use crate::clock::{sleep, sleep_until};
use crate::error::{BrokerError, ConfigError};
use crate::order::{Order, OrderRequest, Position};

/// `requests` calls per `per`, with bursts of up to `requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls per window, at least 1.
    pub requests: u32,
    /// The window, positive.
    pub per: Duration,
}

impl RateLimit {
    /// 190 calls a minute: a margin below the 200 a minute of common
    /// retail broker APIs.
    pub const DEFAULT: Self = Self {
        requests: 190,
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
    /// Theoretical arrival time of the next call.
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `limit`.
    #[must_use]
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            next: Mutex::new(None),
        }
    }

    /// Waits until a call may go.
    pub async fn acquire(&self) {
        let start = {
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let interval = self.limit.interval();
            let burst = interval * self.limit.requests.saturating_sub(1);
            // An idle limiter's schedule catches up with now: the bucket
            // is full again, but holds no more than the burst.
            let theoretical = next.unwrap_or(now).max(now);
            // A call may start once the schedule is no more than a burst
            // ahead of it.
            let start = theoretical.checked_sub(burst).map_or(now, |t| t.max(now));
            *next = Some(theoretical + interval);
            (start > now).then_some(start)
        };
        // A call with its turn now goes straight on: no timer, no yield.
        if let Some(start) = start {
            sleep_until(start).await;
        }
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
        })
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

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, BrokerError>>,
    ) -> Result<T, BrokerError> {
        match self.call_timeout {
            Some(limit) => within(limit, call).await,
            None => call.await,
        }
    }

    async fn turn(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
    }

    /// The wrapped broker.
    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: Broker> Broker for RateLimitedBroker<B> {
    async fn submit_order(&self, request: &OrderRequest) -> Result<Order, BrokerError> {
        self.turn().await;
        self.bounded(self.inner.submit_order(request)).await
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, BrokerError> {
        self.turn().await;
        self.bounded(self.inner.get_order(order_id)).await
    }

    async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<Order, BrokerError> {
        self.turn().await;
        self.bounded(self.inner.get_order_by_client_id(client_order_id))
            .await
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        self.turn().await;
        self.bounded(self.inner.cancel_order(order_id)).await
    }

    async fn get_position(&self, symbol: &str) -> Result<Option<Position>, BrokerError> {
        self.turn().await;
        self.bounded(self.inner.get_position(symbol)).await
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
        crate::clock::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
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
