//! Idempotent placement: a submission that never places an order twice,
//! and the lookups by `client_order_id` that resolve a submit which got no
//! answer (reconciling it, until `reconcile_horizon` if need be).

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::budget::{BrokerCalls, CallError};
use crate::budget::{Priority, with_priority};
use crate::detect::AbsenceProof;
use crate::detect::Backoff;
use crate::port::{BrokerError, ErrorClass, SubmitError};
use crate::port::{Endpoint, EndpointCounts};
use crate::port::{Order, OrderRequest};
use crate::time::sleep;

use super::TARGET;
use super::backoff::wait_before_retry;
use super::detector::FillDetector;
use super::result::Submission;

impl<B: BrokerCalls + 'static> FillDetector<B> {
    /// Places an order without ever placing it twice.
    ///
    /// - A 429 says the broker did not act: the submit is retried after its
    ///   Retry-After (or the backoff, if longer), without spending a retry,
    ///   until the submit deadline.
    /// - An ambiguous failure (timeout, reset, 5xx, bad body) may have placed
    ///   the order, so it is resolved by looking the order up by its
    ///   `client_order_id` before anything else; lookups repeat with backoff
    ///   until the broker answers or the submit deadline passes. Only a
    ///   lookup that answers "not found" allows a resubmit, and resubmits
    ///   are bounded by `retry.max_retries`.
    /// - A 422 refusing a duplicate `client_order_id` means an earlier
    ///   attempt landed: the order is looked up and returned.
    /// - Any other 403 or 422 is a rejection.
    /// - When the submit deadline passes while the broker still cannot say
    ///   whether it holds the order (an outage or a 429 storm after a lost
    ///   answer), lookups go on, with backoff, for up to
    ///   `reconcile_horizon` more: the broker may hold a live order, and an
    ///   order nobody watches is the worst outcome. An order found then is
    ///   [`Submission::overdue`]; one confirmed absent was never placed and
    ///   is not sent again.
    ///
    /// # Errors
    /// [`SubmitError::Rejected`] when the broker refuses the order;
    /// [`SubmitError::NotPlaced`] when the broker confirmed it holds no
    /// such order after every attempt; [`SubmitError::Unknown`] when it
    /// could not be told whether the broker holds it.
    pub async fn submit(&self, request: &OrderRequest) -> Result<Submission, SubmitError> {
        let mut attempt = Attempt {
            backoff: Backoff::new(&self.config.retry),
            rng: self.rng_for(&request.client_order_id),
            api_calls: EndpointCounts::default(),
            retries: 0,
            deadline: Instant::now() + self.config.submit_timeout,
            failed_lookups: 0,
            unanswered_at: None,
        };
        let client_order_id = &request.client_order_id;
        let mut resubmits = 0u32;
        let mut waits = 0u32;
        // The last error of a submit that may still land.
        let mut unanswered: Option<BrokerError> = None;
        loop {
            attempt.api_calls[Endpoint::Submit] += 1;
            let sent = with_priority(Priority::Submit, self.broker.submit_order(request)).await;
            let error = match sent {
                Err(CallError::NotSent { max_wait }) => {
                    // Never sent: the call budget had no turn for it. An
                    // earlier submit left without an answer may still
                    // land: the order may be placed, and is looked for.
                    if let Some(last) = unanswered.take() {
                        warn!(target: TARGET, %client_order_id, max_wait_ms = max_wait.as_millis() as u64,
                            "resubmit not sent: no turn under the rate limit; an earlier submit may still arrive");
                        return self.absent(request, attempt, last).await;
                    }
                    warn!(target: TARGET, %client_order_id, max_wait_ms = max_wait.as_millis() as u64,
                        "submission shed: no turn under the rate limit");
                    return Err(SubmitError::Shed {
                        client_order_id: client_order_id.clone(),
                        max_wait,
                    });
                }
                Ok(order) => {
                    info!(target: TARGET, order_id = %order.id, %client_order_id, symbol = %request.symbol,
                        qty = %request.qty, side = %request.side, "order submitted");
                    return Ok(attempt.submission(order, false));
                }
                Err(CallError::Broker(error)) => error,
            };
            if error.may_still_arrive() {
                attempt.unanswered_at = Some(Instant::now());
                unanswered = Some(error.clone());
            }
            if error.class() == ErrorClass::Permanent && !error.is_duplicate_client_order_id() {
                info!(target: TARGET, %client_order_id, %error, "order rejected");
                return Err(SubmitError::Rejected {
                    client_order_id: client_order_id.clone(),
                    source: error,
                });
            }
            if error.class() == ErrorClass::Transient {
                // The broker did not act; wait as asked, within the deadline.
                let delay =
                    wait_before_retry(&error, &attempt.backoff, waits.min(2), &mut attempt.rng);
                if waits >= self.config.retry.rate_limit_waits
                    || Instant::now() + delay >= attempt.deadline
                {
                    return self.absent(request, attempt, error).await;
                }
                warn!(target: TARGET, %client_order_id, delay_ms = delay.as_millis() as u64, %error,
                    "submit refused for now; retrying");
                sleep(delay).await;
                waits += 1;
                attempt.retries += 1;
                continue;
            }
            match self.look_up(request, &mut attempt).await {
                Lookup::Found(order) => {
                    info!(target: TARGET, order_id = %order.id, %client_order_id, %error,
                        "submit answer lost; order found by client_order_id");
                    return Ok(attempt.submission(*order, true));
                }
                Lookup::Unknown(last) => return self.reconcile(request, attempt, last).await,
                Lookup::Absent => {}
            }
            if resubmits >= self.config.retry.max_retries {
                return self.absent(request, attempt, error).await;
            }
            let delay = wait_before_retry(&error, &attempt.backoff, resubmits, &mut attempt.rng);
            warn!(target: TARGET, %client_order_id, attempt = resubmits + 1, delay_ms = delay.as_millis() as u64,
                %error, "submit failed and the broker holds no such order; retrying");
            sleep(delay).await;
            resubmits += 1;
            attempt.retries += 1;
        }
    }

    /// Every attempt is spent and the broker says it holds no such order.
    /// That proves the order absent only when no submit can still arrive:
    /// while one that got no answer may still be travelling, the order is
    /// looked up by `client_order_id`, with backoff, until
    /// `reconcile_horizon` after that submit; an order that turns up is
    /// returned (overdue, and so cancelled, when the submit deadline has
    /// passed), and only one still absent then was never placed.
    async fn absent(
        &self,
        request: &OrderRequest,
        attempt: Attempt,
        last: BrokerError,
    ) -> Result<Submission, SubmitError> {
        let client_order_id = &request.client_order_id;
        let Some(unanswered_at) = attempt
            .unanswered_at
            .filter(|_| self.config.absence == AbsenceProof::AfterInFlightSubmits)
        else {
            return Err(attempt.not_placed(client_order_id, last));
        };
        let submit_deadline = attempt.deadline;
        warn!(target: TARGET, %client_order_id, %last,
            horizon_ms = self.config.reconcile_horizon.as_millis() as u64,
            "no order found, but a submit without an answer may still arrive; reconciling by client_order_id");
        self.await_arrival(request, attempt, (unanswered_at, submit_deadline), last)
            .await
    }

    /// The order of an intent whose submit may have been sent when the
    /// engine crashed (its journal holds the intent, recorded
    /// `recorded_ago`, and no verdict): it is looked up by
    /// `client_order_id`, with backoff, until `reconcile_horizon` after
    /// the last instant a submit of it may have left (the submit deadline
    /// after it was recorded; a submit sent just before the crash may
    /// still be on its way), never sent again.
    ///
    /// # Errors
    /// [`SubmitError::NotPlaced`] when no order turned up by the horizon;
    /// [`SubmitError::Unknown`] when the broker could not be reached.
    pub async fn locate(
        &self,
        request: &OrderRequest,
        recorded_ago: Option<Duration>,
    ) -> Result<Submission, SubmitError> {
        let now = Instant::now();
        // Its submits were sent from when the intent was recorded until
        // the submit deadline after: the horizon runs from the last of
        // them, whatever restarts came since (unknown: from now).
        let last_sent = recorded_ago.map_or(now, |ago| {
            now.checked_sub(ago).unwrap_or(now) + self.config.submit_timeout
        });
        let attempt = Attempt {
            backoff: Backoff::new(&self.config.retry),
            rng: self.rng_for(&request.client_order_id),
            api_calls: EndpointCounts::default(),
            retries: 0,
            // A broker that cannot be reached is tried for a horizon
            // from now, however old the intent.
            deadline: now + self.config.reconcile_horizon,
            failed_lookups: 0,
            unanswered_at: Some(last_sent),
        };
        let last = BrokerError::NotFound {
            message: "the engine restarted; its journal holds the intent and no verdict".into(),
        };
        // Found before its horizon, the order is watched to its full
        // deadline from now.
        self.await_arrival(
            request,
            attempt,
            (last_sent, now + self.config.timeout),
            last,
        )
        .await
    }

    /// Reads the order `order_id`, with its legs, for a restarted engine
    /// (a bracket's entry whose exits it must find again): a read that
    /// fails for now is tried again, with backoff, for
    /// `reconcile_horizon` from now. The read settles orders, so it always
    /// waits for a turn under the call budget.
    ///
    /// # Errors
    /// The last failure, once it is permanent or the horizon passed.
    pub async fn read_after_restart(&self, order_id: &str) -> Result<Order, BrokerError> {
        let deadline = Instant::now() + self.config.reconcile_horizon;
        let backoff = Backoff::new(&self.config.retry);
        let mut rng = self.rng_for(order_id);
        let mut tries = 0u32;
        loop {
            let error =
                match with_priority(Priority::Critical, self.broker.get_order(order_id)).await {
                    Ok(order) => return Ok(order),
                    Err(CallError::Broker(error)) => error,
                    Err(CallError::NotSent { .. }) => BrokerError::Timeout,
                };
            let delay = wait_before_retry(&error, &backoff, tries, &mut rng);
            if error.class() == ErrorClass::Permanent || Instant::now() + delay >= deadline {
                return Err(error);
            }
            warn!(target: TARGET, %order_id, attempt = tries + 1, delay_ms = delay.as_millis() as u64,
                %error, "read after a restart failed; retrying");
            sleep(delay).await;
            tries += 1;
        }
    }

    /// Looks `request`'s order up until `reconcile_horizon` after
    /// `unanswered_at`, the last instant a submit of it may have left: an
    /// order found then is returned (overdue when `submit_deadline` has
    /// passed); one still absent at the horizon was never placed.
    async fn await_arrival(
        &self,
        request: &OrderRequest,
        mut attempt: Attempt,
        (unanswered_at, submit_deadline): (Instant, Instant),
        last: BrokerError,
    ) -> Result<Submission, SubmitError> {
        let client_order_id = &request.client_order_id;
        let horizon = unanswered_at + self.config.reconcile_horizon;
        // Lookups that fail go on past the horizon: the lookup made there
        // decides, and one the broker turns away for now (a 429, an
        // outage) is tried again for a submit deadline more (longer when
        // the caller allows it: a restarted engine keeps trying to reach
        // the broker about an old intent).
        attempt.deadline = attempt.deadline.max(horizon + self.config.submit_timeout);
        let mut absent_reads = 0u32;
        loop {
            match self.look_up(request, &mut attempt).await {
                Lookup::Found(order) => {
                    let overdue = Instant::now() >= submit_deadline;
                    warn!(target: TARGET, order_id = %order.id, %client_order_id, overdue,
                        "a submit that got no answer arrived late; order found by client_order_id");
                    let mut submission = attempt.submission(*order, true);
                    submission.overdue = overdue;
                    return Ok(submission);
                }
                Lookup::Unknown(error) => {
                    error!(target: TARGET, %client_order_id, %error,
                        "broker unreachable through the reconcile horizon; the order's fate is unknown");
                    return Err(attempt.unknown(client_order_id, error));
                }
                Lookup::Absent => {}
            }
            let now = Instant::now();
            if now >= horizon {
                info!(target: TARGET, %client_order_id,
                    "no submit can still arrive and the broker holds no such order: not placed");
                return Err(attempt.not_placed(client_order_id, last));
            }
            // The last lookup is made at the horizon, not before it.
            let delay = attempt.backoff.delay(absent_reads, &mut attempt.rng);
            sleep(delay.min(horizon - now)).await;
            absent_reads = absent_reads.saturating_add(1);
            attempt.retries += 1;
        }
    }

    /// The submit deadline passed with the outcome unknown: keep looking the
    /// order up, with backoff, until the broker answers or the reconcile
    /// horizon passes.
    async fn reconcile(
        &self,
        request: &OrderRequest,
        mut attempt: Attempt,
        last: BrokerError,
    ) -> Result<Submission, SubmitError> {
        let client_order_id = &request.client_order_id;
        if last.class() == ErrorClass::Permanent {
            return Err(attempt.unknown(client_order_id, last));
        }
        warn!(target: TARGET, %client_order_id, %last,
            horizon_ms = self.config.reconcile_horizon.as_millis() as u64,
            "submit outcome unknown at the deadline; reconciling by client_order_id");
        attempt.deadline += self.config.reconcile_horizon;
        match self.look_up(request, &mut attempt).await {
            Lookup::Found(order) => {
                warn!(target: TARGET, order_id = %order.id, %client_order_id,
                    "order found after the submit deadline; cancelling it");
                let mut submission = attempt.submission(*order, true);
                submission.overdue = true;
                Ok(submission)
            }
            Lookup::Absent => Err(attempt.not_placed(client_order_id, last)),
            Lookup::Unknown(last) => {
                error!(target: TARGET, %client_order_id, %last,
                    "broker unreachable through the reconcile horizon; the order's fate is unknown");
                Err(attempt.unknown(client_order_id, last))
            }
        }
    }

    /// Looks the order up by client order id until the broker answers or the
    /// attempt's deadline passes.
    async fn look_up(&self, request: &OrderRequest, attempt: &mut Attempt) -> Lookup {
        loop {
            attempt.api_calls[Endpoint::GetOrderByClientId] += 1;
            let error = match self
                .broker
                .get_order_by_client_id(&request.client_order_id)
                .await
            {
                Ok(order) => return Lookup::Found(Box::new(order)),
                Err(BrokerError::NotFound { .. }) => {
                    attempt.failed_lookups = 0;
                    return Lookup::Absent;
                }
                Err(error) => error,
            };
            let tries = attempt.failed_lookups;
            let delay = wait_before_retry(&error, &attempt.backoff, tries, &mut attempt.rng);
            if error.class() == ErrorClass::Permanent || Instant::now() + delay >= attempt.deadline
            {
                return Lookup::Unknown(error);
            }
            warn!(target: TARGET, client_order_id = %request.client_order_id, attempt = tries + 1,
                delay_ms = delay.as_millis() as u64, %error, "lookup by client_order_id failed; retrying");
            sleep(delay).await;
            attempt.failed_lookups += 1;
            attempt.retries += 1;
        }
    }
}

enum Lookup {
    Found(Box<Order>),
    Absent,
    Unknown(BrokerError),
}

/// One submission's deadline, backoff and counters.
struct Attempt {
    backoff: Backoff,
    rng: ChaCha8Rng,
    api_calls: EndpointCounts,
    retries: u32,
    deadline: Instant,
    /// Lookups that failed in a row: the backoff goes on growing across
    /// the reconcile horizon instead of starting over.
    failed_lookups: u32,
    /// When the latest submit that got no answer (a timeout, a reset)
    /// ended: it may still be on its way to the broker.
    unanswered_at: Option<Instant>,
}

impl Attempt {
    /// The intent was never placed; `last` is the last attempt's error.
    fn not_placed(&self, client_order_id: &str, last: BrokerError) -> SubmitError {
        SubmitError::NotPlaced {
            client_order_id: client_order_id.to_owned(),
            attempts: self.api_calls[Endpoint::Submit],
            last,
        }
    }

    /// Whether the broker holds the intent could not be told.
    fn unknown(&self, client_order_id: &str, last: BrokerError) -> SubmitError {
        SubmitError::Unknown {
            client_order_id: client_order_id.to_owned(),
            attempts: self.api_calls[Endpoint::Submit],
            last,
        }
    }

    fn submission(&self, order: Order, recovered_by_lookup: bool) -> Submission {
        Submission {
            order,
            api_calls: self.api_calls,
            retries: self.retries,
            recovered_by_lookup,
            overdue: false,
        }
    }
}
