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
//! longest wait is shed before it is sent ([`CallError::NotSent`]), and
//! so is one that more urgent calls would push back beyond it. A 429 pauses
//! the whole budget for the wait the broker asked for: no retry storm.
//! The turns themselves are the [`RateLimiter`]'s.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use crate::budget::calls::{BrokerCalls, CallError};
use crate::budget::limiter::{RateLimit, RateLimiter};
use crate::port::{ActivityQuery, FillActivity, OrderQuery};
use crate::port::{Broker, RateLimitState};
use crate::port::{BrokerError, ConfigError};
use crate::port::{Order, OrderRequest, Position, ReplaceRequest};
use crate::time::sleep;

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

/// Runs `work` with its order submissions and order reads by id at
/// `priority` (calls made outside any such scope are
/// [`Priority::Critical`]). The calls that settle an order (a lookup by
/// client order id, a cancel, a position read) always take the critical
/// turn, in any scope: a settling call left unsent would leave an order's
/// fate unknown, so [`BrokerCalls`](crate::budget::BrokerCalls) gives them
/// no "not sent" result.
pub fn with_priority<F: Future>(priority: Priority, work: F) -> impl Future<Output = F::Output> {
    PRIORITY.scope(priority, work)
}

fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Critical)
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

    /// Waits for a turn for a call that settles an order (a lookup, a
    /// cancel, a position read): it always queues.
    async fn critical_turn(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
    }

    /// Waits for this call's turn, by the caller's [`Priority`].
    ///
    /// # Errors
    /// [`CallError::NotSent`] when a routine poll or a submission gets no
    /// turn within its longest wait: it is not sent.
    async fn turn(&self) -> Result<(), CallError> {
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
                    .ok_or(CallError::NotSent { max_wait })?
            }
            (Some(limiter), Priority::Submit) => {
                let max_wait = self.submit_max_wait;
                limiter
                    .queue_submission(max_wait)
                    .await
                    .ok_or(CallError::NotSent { max_wait })?
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

    /// The rate-limit state the wrapped broker reported with its latest
    /// answer, when it reports one.
    pub fn rate_limit_state(&self) -> Option<RateLimitState>
    where
        B: Broker,
    {
        self.inner.rate_limit_state()
    }
}

impl<B: Broker> BrokerCalls for RateLimitedBroker<B> {
    async fn submit_order(&self, request: &OrderRequest) -> Result<Order, CallError> {
        self.turn().await?;
        let answer = self
            .bounded(Box::pin(self.inner.submit_order(request)))
            .await;
        Ok(self.heed(answer)?)
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, CallError> {
        self.turn().await?;
        let answer = self.bounded(Box::pin(self.inner.get_order(order_id))).await;
        Ok(self.heed(answer)?)
    }

    async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<Order, BrokerError> {
        self.critical_turn().await;
        let answer = self
            .bounded(Box::pin(self.inner.get_order_by_client_id(client_order_id)))
            .await;
        self.heed(answer)
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        self.critical_turn().await;
        let answer = self
            .bounded(Box::pin(self.inner.cancel_order(order_id)))
            .await;
        self.heed(answer)
    }

    async fn get_position(&self, symbol: &str) -> Result<Option<Position>, BrokerError> {
        self.critical_turn().await;
        let answer = self
            .bounded(Box::pin(self.inner.get_position(symbol)))
            .await;
        self.heed(answer)
    }

    async fn replace_order(
        &self,
        order_id: &str,
        replace: &ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        self.critical_turn().await;
        let answer = self
            .bounded(Box::pin(self.inner.replace_order(order_id, replace)))
            .await;
        self.heed(answer)
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, CallError> {
        self.turn().await?;
        let answer = self.bounded(Box::pin(self.inner.list_orders(query))).await;
        Ok(self.heed(answer)?)
    }

    async fn fill_activities(&self, query: &ActivityQuery) -> Result<Vec<FillActivity>, CallError> {
        self.turn().await?;
        let answer = self
            .bounded(Box::pin(self.inner.fill_activities(query)))
            .await;
        Ok(self.heed(answer)?)
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
