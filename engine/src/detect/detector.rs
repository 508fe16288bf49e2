//! The fill detector: idempotent submission, the monitor loop, the deadline
//! path, and the position consistency check.
//!
//! One [`FillDetector`] serves any number of orders. Each order is watched by
//! its own state machine (a private `Watch`) in its own task; the only things
//! shared between orders are the broker handle, the read-only configuration
//! and the verifier, so nothing on the hot path takes a lock.
//!
//! The monitor loop reads the order on the polling strategy's schedule and
//! stops as soon as a snapshot proves a full fill or the broker confirms a
//! terminal state. At the deadline it reads once more (final verification),
//! then cancels. A cancel refused as "already filled" is followed by reads
//! that return the fill; an accepted or unanswered cancel is followed by
//! reads, up to a bound, until the broker shows how the order ended. When it
//! never does, the verdict is [`Verdict::Unresolved`], never `NotFilled`.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::budget::{BrokerCalls, CallError};
use crate::budget::{Priority, with_priority};
use crate::detect::Backoff;
use crate::detect::PollContext;
use crate::detect::Slippage;
use crate::detect::{AbsenceProof, FillDetectionConfig, PartialFillPolicy, PollingConfig};
use crate::detect::{CancelOutcome, Consistency, Execution, FillResult, Verdict};
use crate::detect::{FillState, FillVerifier, Methods, RobustVerifier, Verification};
use crate::port::{BrokerError, ConfigError, ErrorClass, SubmitError};
use crate::port::{Endpoint, EndpointCounts};
use crate::port::{Order, OrderRequest, OrderStatus};
use crate::port::{OrderSignal, Route, StreamRouter, TradeUpdate, TradeUpdates};
use crate::port::{derive_rng, stable_hash};
use crate::time::{sleep, sleep_until};

/// The `tracing` target of every engine log line.
const TARGET: &str = "fillproof::engine";

/// An order placed at the broker, and what it took to place it.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// The broker's view of the order as placed.
    pub order: Order,
    /// Calls made, retries and lookups included.
    pub api_calls: EndpointCounts,
    /// Retries of failed calls.
    pub retries: u32,
    /// True when the order was found by `client_order_id` after a submit
    /// whose answer was lost or ambiguous.
    pub recovered_by_lookup: bool,
    /// True when the order was found only after the submit deadline (the
    /// broker was unreachable until then): it is overdue, so monitoring
    /// goes straight to the deadline path (final read, cancel, reads until
    /// the broker shows how it ended).
    pub overdue: bool,
}

/// Watches orders until the broker confirms what happened to them.
///
/// Cheap to clone: clones share the broker, configuration and verifier.
pub struct FillDetector<B> {
    broker: Arc<B>,
    config: Arc<FillDetectionConfig>,
    verifier: Arc<dyn FillVerifier>,
    jitter_seed: u64,
    router: Option<StreamRouter>,
}

impl<B> Clone for FillDetector<B> {
    fn clone(&self) -> Self {
        Self {
            broker: Arc::clone(&self.broker),
            config: Arc::clone(&self.config),
            verifier: Arc::clone(&self.verifier),
            jitter_seed: self.jitter_seed,
            router: self.router.clone(),
        }
    }
}

impl<B: BrokerCalls + 'static> FillDetector<B> {
    /// A detector with the [`RobustVerifier`] and jitter seed 0.
    ///
    /// # Errors
    /// A [`ConfigError`] when a configuration value is out of range.
    pub fn new(broker: Arc<B>, config: FillDetectionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            broker,
            config: Arc::new(config),
            verifier: Arc::new(RobustVerifier),
            jitter_seed: 0,
            router: None,
        })
    }

    /// Listens to `source`'s trade updates (in a task on the current
    /// runtime), for the [`PollingConfig::Hybrid`] strategy; other
    /// strategies ignore the stream.
    #[must_use]
    pub fn with_trade_updates(mut self, source: &dyn TradeUpdates) -> Self {
        self.router = Some(StreamRouter::start(source));
        self
    }

    /// The stream subscription of the order `client_order_id`, when the
    /// detector detects stream-first: take it before submitting, so that
    /// no event of the order is missed, and hand it to
    /// [`FillDetector::monitor_submission`].
    #[must_use]
    pub fn route(&self, client_order_id: &str) -> Option<Route> {
        match (&self.router, &self.config.polling) {
            (Some(router), PollingConfig::Hybrid { .. }) => Some(router.register(client_order_id)),
            _ => None,
        }
    }

    /// Replaces the verifier (a harness uses this to measure flawed rules).
    #[must_use]
    pub fn with_verifier(mut self, verifier: Arc<dyn FillVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Seeds the backoff jitter. Each order draws from its own stream, keyed
    /// by this seed and its `client_order_id`, so runs are reproducible and
    /// one order's retries never shift another's.
    #[must_use]
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = seed;
        self
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &FillDetectionConfig {
        &self.config
    }

    /// The broker handle.
    #[must_use]
    pub fn broker(&self) -> &Arc<B> {
        &self.broker
    }

    fn rng_for(&self, client_order_id: &str) -> ChaCha8Rng {
        derive_rng(
            self.jitter_seed,
            "engine-backoff",
            stable_hash(client_order_id.as_bytes()),
        )
    }

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
        loop {
            attempt.api_calls[Endpoint::Submit] += 1;
            let sent = with_priority(Priority::Submit, self.broker.submit_order(request)).await;
            let error = match sent {
                Err(CallError::NotSent { max_wait }) => {
                    // Never sent: the call budget had no turn for it.
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
        mut attempt: Attempt,
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
        let horizon = unanswered_at + self.config.reconcile_horizon;
        attempt.deadline = horizon;
        warn!(target: TARGET, %client_order_id, %last,
            horizon_ms = self.config.reconcile_horizon.as_millis() as u64,
            "no order found, but a submit without an answer may still arrive; reconciling by client_order_id");
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

    /// Submits `request` and watches the order it placed. The result's call
    /// counts include the submission's.
    ///
    /// # Errors
    /// As [`FillDetector::submit`].
    pub async fn execute(
        &self,
        request: &OrderRequest,
        expected_price: Option<Decimal>,
    ) -> Result<FillResult, SubmitError> {
        let route = self.route(&request.client_order_id);
        let submission = self.submit(request).await?;
        Ok(self
            .monitor_submission(submission, expected_price, None, route)
            .await)
    }

    /// Watches the order `submission` placed, as [`FillDetector::monitor_with`];
    /// an [`overdue`](Submission::overdue) one goes straight to the
    /// deadline path. `route` is the order's stream subscription, from
    /// [`FillDetector::route`]. The result's call counts include the
    /// submission's.
    pub async fn monitor_submission(
        &self,
        submission: Submission,
        expected_price: Option<Decimal>,
        on_change: Option<&(dyn Fn(&Order) + Sync)>,
        route: Option<Route>,
    ) -> FillResult {
        let deadline = if submission.overdue {
            Instant::now()
        } else {
            Instant::now() + self.config.timeout
        };
        let mut result = self
            .watch(submission.order, expected_price, on_change, deadline, route)
            .await;
        result.api_calls.add(&submission.api_calls);
        result.retries += submission.retries;
        result
    }

    /// Watches `order` (as the broker returned it on submission) until the
    /// broker confirms what happened to it. `expected_price` is what the
    /// trader expected to pay or receive, for the slippage figure.
    pub async fn monitor(&self, order: Order, expected_price: Option<Decimal>) -> FillResult {
        self.monitor_with(order, expected_price, None).await
    }

    /// As [`FillDetector::monitor`], calling `on_change` with every snapshot
    /// whose status or filled quantity differs from the one before (the
    /// submit answer included): the hook behind an event stream.
    pub async fn monitor_with(
        &self,
        order: Order,
        expected_price: Option<Decimal>,
        on_change: Option<&(dyn Fn(&Order) + Sync)>,
    ) -> FillResult {
        let deadline = Instant::now() + self.config.timeout;
        let route = self.route(&order.client_order_id);
        self.watch(order, expected_price, on_change, deadline, route)
            .await
    }

    async fn watch(
        &self,
        order: Order,
        expected_price: Option<Decimal>,
        on_change: Option<&(dyn Fn(&Order) + Sync)>,
        deadline: Instant,
        route: Option<Route>,
    ) -> FillResult {
        let mut watch = Watch {
            route,
            executions: std::collections::BTreeSet::new(),
            fills: Vec::new(),
            on_change,
            broker: &*self.broker,
            config: &self.config,
            verifier: &*self.verifier,
            rng: self.rng_for(&order.client_order_id),
            backoff: Backoff::new(&self.config.retry),
            start: Instant::now(),
            deadline,
            // Set when the deadline path starts.
            horizon: deadline,
            checks: 0,
            polls: 0,
            polls_at_change: 0,
            api_calls: EndpointCounts::default(),
            retries: 0,
            best: None,
            last_seen: None,
            expected_price,
            order,
        };
        watch.run().await
    }

    /// Watches `order` in a task of its own.
    pub fn spawn(&self, order: Order, expected_price: Option<Decimal>) -> JoinHandle<FillResult> {
        let detector = self.clone();
        tokio::spawn(async move { detector.monitor(order, expected_price).await })
    }

    /// Compares the broker's position in `symbol` with `expected`, re-reading
    /// up to the configured bound because positions can lag fills. Logs a
    /// discrepancy at ERROR.
    pub async fn check_position(
        &self,
        symbol: &str,
        expected: Decimal,
    ) -> (Consistency, EndpointCounts) {
        let settings = &self.config.consistency;
        let mut api_calls = EndpointCounts::default();
        let mut last = None;
        for read in 0..settings.max_reads {
            if read > 0 {
                sleep(settings.interval).await;
            }
            api_calls[Endpoint::GetPosition] += 1;
            match self.broker.get_position(symbol).await {
                Ok(position) => {
                    let broker = position.map_or(Decimal::ZERO, |p| p.qty);
                    if broker == expected {
                        return (Consistency::Consistent, api_calls);
                    }
                    last = Some(Ok(broker));
                }
                Err(error) => last = Some(Err(error)),
            }
        }
        let outcome = match last {
            Some(Ok(broker)) => {
                error!(target: TARGET, %symbol, %expected, %broker, "position inconsistent with fills");
                Consistency::Discrepancy { expected, broker }
            }
            Some(Err(error)) => {
                warn!(target: TARGET, %symbol, %error, "position could not be read");
                Consistency::Unavailable(error)
            }
            None => Consistency::Unavailable(BrokerError::Timeout),
        };
        (outcome, api_calls)
    }
}

enum Lookup {
    Found(Box<Order>),
    Absent,
    Unknown(BrokerError),
}

/// One submission's budget and counters.
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

/// The wait before retry `attempt`: the backoff, or the broker's Retry-After
/// when that is longer.
fn wait_before_retry(
    error: &BrokerError,
    backoff: &Backoff,
    attempt: u32,
    rng: &mut ChaCha8Rng,
) -> Duration {
    let delay = backoff.delay(attempt, rng);
    error.retry_after().map_or(delay, |after| after.max(delay))
}

/// How long a stream-first verdict waits for executions still on their
/// way, so that the fill is booked execution by execution.
const EXECUTION_GRACE: Duration = Duration::from_secs(2);

/// Reconnects closer together than this (counted from the last reconnect
/// or the end of the last read after one) are one storm.
const RECONNECT_STORM: Duration = Duration::from_secs(1);

/// The reconnects a stream-first watch has seen, for reading the order
/// once per storm of them instead of once per reconnect: the first
/// reconnect of a storm is read at once; those arriving while that read is
/// on its way or within [`RECONNECT_STORM`] of the last are folded into
/// one more read, made once the storm has been over for
/// [`RECONNECT_STORM`]. A stream that flaps without end gets the safety
/// reads meanwhile.
#[derive(Debug, Default)]
struct Reconnects {
    /// The last reconnect, or the end of the last read after one.
    last: Option<Instant>,
    /// A reconnect was folded into a read still to come.
    pending: bool,
}

impl Reconnects {
    /// A reconnect at `now`; true when it must be read at once, as the
    /// first of its storm.
    fn arrived(&mut self, now: Instant) -> bool {
        let in_storm = self.last.is_some_and(|last| now < last + RECONNECT_STORM);
        self.last = Some(now);
        self.pending = in_storm;
        !in_storm
    }

    /// When the read for the folded reconnects is due, if one is.
    fn due(&self) -> Option<Instant> {
        self.last
            .filter(|_| self.pending)
            .map(|last| last + RECONNECT_STORM)
    }

    /// A read after a reconnect ended at `now`.
    fn read_done(&mut self, now: Instant) {
        self.last = Some(now);
        self.pending = false;
    }
}

/// What woke a stream-first watch.
enum Wake {
    Signal(OrderSignal),
    Timer,
    Closed,
}

/// The next signal on `signals`, or the timer at `wake`.
async fn next_signal(
    signals: &mut tokio::sync::mpsc::UnboundedReceiver<OrderSignal>,
    wake: Instant,
) -> Wake {
    let mut timer = std::pin::pin!(sleep_until(wake));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(signal) = signals.poll_recv(cx) {
            return Poll::Ready(signal.map_or(Wake::Closed, Wake::Signal));
        }
        timer.as_mut().poll(cx).map(|()| Wake::Timer)
    })
    .await
}

/// One order's monitor state.
struct Watch<'a, B> {
    /// The order's stream subscription, when detecting stream-first.
    route: Option<Route>,
    /// Executions seen on the stream: a duplicate is dropped unread.
    executions: std::collections::BTreeSet<String>,
    /// Those executions, in the order they arrived.
    fills: Vec<Execution>,
    on_change: Option<&'a (dyn Fn(&Order) + Sync)>,
    broker: &'a B,
    config: &'a FillDetectionConfig,
    verifier: &'a dyn FillVerifier,
    rng: ChaCha8Rng,
    backoff: Backoff,
    start: Instant,
    /// When monitoring gives way to the deadline path.
    deadline: Instant,
    /// How long past the deadline the engine keeps reading an order the
    /// broker has not shown ended (see `reconcile_horizon`).
    horizon: Instant,
    /// Logical reads of the order (one per poll, final or post-cancel read).
    checks: u32,
    /// Reads made by the polling loop, for the strategy.
    polls: u32,
    /// `polls` when the order last changed.
    polls_at_change: u32,
    api_calls: EndpointCounts,
    retries: u32,
    /// The verification with the most filled quantity seen so far: filled
    /// quantity never decreases at a broker, so an older snapshot read later
    /// must not shrink it.
    best: Option<Verification>,
    /// Status and filled quantity of the last snapshot, to log changes.
    last_seen: Option<(OrderStatus, Decimal)>,
    expected_price: Option<Decimal>,
    /// The latest snapshot.
    order: Order,
}

/// Why the monitor loop stopped without a verdict.
enum LoopEnd {
    Deadline,
}

impl<B: BrokerCalls> Watch<'_, B> {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn run(&mut self) -> FillResult {
        info!(target: TARGET, order_id = %self.order.id, symbol = %self.order.symbol, qty = %self.order.qty,
            timeout_ms = self.config.timeout.as_millis() as u64, "monitoring started");
        let snapshot = self.order.clone();
        if let Some(result) = self.observe(snapshot) {
            return self.collect_executions(result).await;
        }
        match self.poll_until(self.deadline).await {
            Ok(result) => return result,
            Err(LoopEnd::Deadline) => {}
        }
        self.at_deadline().await
    }

    /// Stream first: takes the order's trade updates as they come, reads
    /// it over REST after a reconnect (once per storm of reconnects, see
    /// [`Reconnects`]) and when the stream has been quiet on it for the
    /// safety interval, until a verdict or `until`. `Ok(None)` when the
    /// stream closed: polling takes over.
    async fn listen_until(&mut self, until: Instant) -> Result<Option<FillResult>, LoopEnd> {
        let PollingConfig::Hybrid { safety } = self.config.polling else {
            return Ok(None);
        };
        let mut quiet_since = Instant::now();
        let mut reconnects = Reconnects::default();
        loop {
            let now = Instant::now();
            if now >= until {
                return Err(LoopEnd::Deadline);
            }
            let due = reconnects.due();
            let wake = (quiet_since + safety).min(until).min(due.unwrap_or(until));
            let Some(route) = self.route.as_mut() else {
                return Ok(None);
            };
            let order = match next_signal(&mut route.signals, wake).await {
                Wake::Closed => {
                    warn!(target: TARGET, order_id = %self.order.id, "trade updates closed; polling instead");
                    self.route = None;
                    return Ok(None);
                }
                Wake::Signal(OrderSignal::Update(update)) => {
                    quiet_since = Instant::now();
                    if !self.note_execution(&update) {
                        continue;
                    }
                    debug!(target: TARGET, order_id = %self.order.id, event = update.event.as_str(),
                        "trade update");
                    update.order
                }
                Wake::Signal(OrderSignal::Gap) => {
                    if !reconnects.arrived(Instant::now()) {
                        // Folded into the storm's read.
                        continue;
                    }
                    // Events may have been lost: REST says what happened.
                    quiet_since = Instant::now();
                    match self.catch_up(&mut reconnects).await {
                        Some(order) => order,
                        None => continue,
                    }
                }
                Wake::Timer if wake >= until => {
                    // The read at the deadline is the final verification's.
                    return Err(LoopEnd::Deadline);
                }
                Wake::Timer if due.is_some_and(|due| due <= wake) => {
                    // The storm is over: one read for the reconnects in it.
                    quiet_since = Instant::now();
                    match self.catch_up(&mut reconnects).await {
                        Some(order) => order,
                        None => continue,
                    }
                }
                Wake::Timer => {
                    quiet_since = Instant::now();
                    self.polls += 1;
                    match with_priority(Priority::Routine, self.read()).await {
                        Ok(order) => order,
                        Err(CallError::Broker(error)) if error.class() == ErrorClass::Permanent => {
                            return Ok(Some(self.finish(
                                Verdict::Unresolved,
                                None,
                                format!("reading the order failed permanently: {error}"),
                            )));
                        }
                        Err(_) => continue,
                    }
                }
            };
            if let Some(result) = self.observe(order) {
                return Ok(Some(self.collect_executions(result).await));
            }
        }
    }

    /// The read after a reconnect, at [`Priority::Catchup`]: queued for a
    /// turn of the call budget, never skipped, so a fill the stream lost
    /// surfaces as soon as the turn comes.
    async fn catch_up(&mut self, reconnects: &mut Reconnects) -> Option<Order> {
        debug!(target: TARGET, order_id = %self.order.id, "reading after a reconnect");
        let read = with_priority(Priority::Catchup, self.read()).await;
        reconnects.read_done(Instant::now());
        read.ok()
    }

    /// Notes the execution an update reports; false for a duplicate.
    fn note_execution(&mut self, update: &TradeUpdate) -> bool {
        let Some(id) = &update.execution_id else {
            return true;
        };
        if !self.executions.insert(id.clone()) {
            debug!(target: TARGET, order_id = %self.order.id, execution_id = %id,
                "duplicate execution on the stream; dropped");
            return false;
        }
        if let (Some(qty), Some(price)) = (update.qty, update.price) {
            self.fills.push(Execution {
                id: id.clone(),
                qty,
                price,
                at: update.at,
            });
        }
        true
    }

    fn executions_qty(&self) -> Decimal {
        self.fills.iter().map(|e| e.qty).sum()
    }

    /// The executions seen, when they make up `filled` exactly; none
    /// otherwise (the fill is then known only by its average price).
    fn executions_making(&self, filled: Decimal) -> Vec<Execution> {
        if self.executions_qty() == filled {
            self.fills.clone()
        } else {
            Vec::new()
        }
    }

    /// A verdict reached while some of the order's executions are still on
    /// their way (events of one order can arrive out of order): waits up to
    /// [`EXECUTION_GRACE`] for them, so that the fill can be booked
    /// execution by execution, each at its own price.
    async fn collect_executions(&mut self, mut result: FillResult) -> FillResult {
        // Events already delivered (while the submission was being
        // resolved, say) are read first, without waiting.
        while let Some(Ok(signal)) = self.route.as_mut().map(|r| r.signals.try_recv()) {
            if let OrderSignal::Update(update) = signal {
                self.note_execution(&update);
            }
        }
        let until = Instant::now() + EXECUTION_GRACE;
        while !self.fills.is_empty() && self.executions_qty() < result.filled_qty {
            let Some(route) = self.route.as_mut() else {
                break;
            };
            match next_signal(&mut route.signals, until).await {
                Wake::Signal(OrderSignal::Update(update)) => {
                    self.note_execution(&update);
                }
                Wake::Signal(OrderSignal::Gap) | Wake::Timer | Wake::Closed => break,
            }
        }
        result.executions = self.executions_making(result.filled_qty);
        result.elapsed = self.start.elapsed();
        result
    }

    /// Reads on the strategy's schedule until a verdict or `until`.
    async fn poll_until(&mut self, until: Instant) -> Result<FillResult, LoopEnd> {
        if self.route.is_some() {
            if let Some(result) = self.listen_until(until).await? {
                return Ok(result);
            }
        }
        let mut strategy = self.config.polling.build();
        loop {
            let now = Instant::now();
            if now >= until {
                return Err(LoopEnd::Deadline);
            }
            let interval = strategy.next_interval(PollContext {
                polls_done: self.polls,
                elapsed: now - self.start,
                remaining: until - now,
                polls_since_change: self.polls - self.polls_at_change,
            });
            let wake = (now + interval).min(until);
            sleep_until(wake).await;
            if wake >= until {
                // The read at the deadline is the final verification's.
                return Err(LoopEnd::Deadline);
            }
            self.polls += 1;
            match with_priority(Priority::Routine, self.read()).await {
                Ok(order) => {
                    if let Some(result) = self.observe(order) {
                        return Ok(result);
                    }
                }
                Err(CallError::Broker(error)) if error.class() == ErrorClass::Permanent => {
                    return Ok(self.finish(
                        Verdict::Unresolved,
                        None,
                        format!("reading the order failed permanently: {error}"),
                    ));
                }
                // Retries are spent; keep monitoring on the normal schedule.
                Err(_) => {}
            }
        }
    }

    /// One logical read of the order, with retries on transient and
    /// ambiguous errors.
    async fn read(&mut self) -> Result<Order, CallError> {
        self.checks += 1;
        let mut attempt = 0u32;
        let mut waits = 0u32;
        loop {
            self.api_calls[Endpoint::GetOrder] += 1;
            let error = match self.broker.get_order(&self.order.id).await {
                Ok(order) => return Ok(order),
                Err(error @ CallError::NotSent { .. }) => {
                    // A poll the call budget skipped: never sent.
                    self.api_calls[Endpoint::GetOrder] -= 1;
                    return Err(error);
                }
                Err(CallError::Broker(error)) => error,
            };
            let Some(delay) = self.retry_delay(&error, &mut attempt, &mut waits) else {
                warn!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(),
                    check = self.checks, %error, "order read failed");
                return Err(CallError::Broker(error));
            };
            warn!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), check = self.checks,
                attempt, delay_ms = delay.as_millis() as u64, %error, "order read failed; retrying");
            sleep(delay).await;
        }
    }

    /// The wait before retrying after `error`, or `None` when it must not be
    /// retried: permanent errors, and others once `max_retries` are spent.
    /// A 429 is waited out without spending a retry, up to
    /// `rate_limit_waits` times.
    fn retry_delay(
        &mut self,
        error: &BrokerError,
        attempt: &mut u32,
        waits: &mut u32,
    ) -> Option<Duration> {
        let retry = &self.config.retry;
        match error.class() {
            ErrorClass::Permanent => None,
            ErrorClass::Transient if *waits < retry.rate_limit_waits => {
                let delay = wait_before_retry(error, &self.backoff, (*waits).min(2), &mut self.rng);
                *waits += 1;
                self.retries += 1;
                Some(delay)
            }
            _ if *attempt >= retry.max_retries => None,
            _ => {
                let delay = wait_before_retry(error, &self.backoff, *attempt, &mut self.rng);
                *attempt += 1;
                self.retries += 1;
                Some(delay)
            }
        }
    }

    /// Records a snapshot and returns a verdict when it settles the order.
    fn observe(&mut self, order: Order) -> Option<FillResult> {
        let verification = self.verifier.verify(&order);
        debug!(target: TARGET, order_id = %order.id, elapsed_ms = self.elapsed_ms(), check = self.checks,
            status = %order.status, filled_qty = %order.filled_qty, methods = %verification.methods, "order checked");
        let seen = (order.status.clone(), order.filled_qty);
        if self.last_seen.as_ref() != Some(&seen) {
            info!(target: TARGET, order_id = %order.id, elapsed_ms = self.elapsed_ms(), check = self.checks,
                status = %order.status, filled_qty = %order.filled_qty, "order changed");
            self.last_seen = Some(seen);
            self.polls_at_change = self.polls;
            if let Some(hook) = self.on_change {
                hook(&order);
            }
        }
        if self
            .best
            .as_ref()
            .is_none_or(|best| verification.filled_qty >= best.filled_qty)
        {
            self.best = Some(verification.clone());
        }
        self.order = order;
        if verification.state == FillState::Full {
            return Some(self.finish(
                Verdict::Filled,
                Some(verification.methods),
                format!("fill confirmed by {}", verification.methods),
            ));
        }
        self.terminal_verdict()
    }

    /// A verdict when the latest snapshot is terminal without a full fill.
    fn terminal_verdict(&mut self) -> Option<FillResult> {
        let status = self.order.status.clone();
        let filled = self.best_qty() > Decimal::ZERO;
        let (verdict, reason) = match status {
            OrderStatus::Rejected => (Verdict::Rejected, "broker rejected the order".to_owned()),
            OrderStatus::Canceled | OrderStatus::Expired if filled => (
                Verdict::PartiallyFilled,
                format!("partly filled, remainder {status}"),
            ),
            OrderStatus::Canceled | OrderStatus::Expired => (
                Verdict::NotFilled,
                format!("broker confirmed {status} with nothing filled"),
            ),
            OrderStatus::Replaced => (
                Verdict::Unresolved,
                "order was replaced; its replacement is not watched here".to_owned(),
            ),
            _ => return None,
        };
        Some(self.finish(verdict, None, reason))
    }

    fn best_qty(&self) -> Decimal {
        self.best.as_ref().map_or(Decimal::ZERO, |b| b.filled_qty)
    }

    async fn at_deadline(&mut self) -> FillResult {
        info!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), check = self.checks,
            "deadline reached");
        self.horizon = Instant::now() + self.config.reconcile_horizon;
        if self.config.final_verification {
            if let Some(result) = self.verify_once().await {
                return self.mark_deadline(result);
            }
        }
        if let PartialFillPolicy::KeepWorking { extension } = self.config.partial_fill_policy {
            if self.best_qty() > Decimal::ZERO {
                let until = self.deadline + extension;
                if let Ok(result) = self.poll_until(until).await {
                    return self.mark_deadline(result);
                }
            }
        }
        let outcome = self.cancel().await;
        let result = match outcome {
            CancelOutcome::AlreadyFilled => self.confirm_refused_cancel().await,
            other => self.after_cancel(other).await,
        };
        self.mark_deadline(result)
    }

    fn mark_deadline(&self, mut result: FillResult) -> FillResult {
        result.deadline_reached = true;
        result
    }

    /// One read; a verdict when it settles the order.
    async fn verify_once(&mut self) -> Option<FillResult> {
        match self.read().await {
            Ok(order) => self.observe(order),
            Err(_) => None,
        }
    }

    async fn cancel(&mut self) -> CancelOutcome {
        let mut attempt = 0u32;
        let mut waits = 0u32;
        loop {
            self.api_calls[Endpoint::Cancel] += 1;
            let error = match self.broker.cancel_order(&self.order.id).await {
                Ok(()) => {
                    info!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), "cancel accepted");
                    return CancelOutcome::Accepted;
                }
                Err(error) => error,
            };
            if error.is_already_filled() {
                info!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), %error,
                    "cancel refused: order already filled");
                return CancelOutcome::AlreadyFilled;
            }
            if error.class() == ErrorClass::Permanent {
                info!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), %error, "cancel refused");
                return CancelOutcome::Refused(error);
            }
            // Cancel is idempotent at the broker, so retrying is safe.
            let Some(delay) = self.retry_delay(&error, &mut attempt, &mut waits) else {
                warn!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), %error,
                    "cancel unanswered after retries");
                return CancelOutcome::Unknown(error);
            };
            warn!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), attempt,
                delay_ms = delay.as_millis() as u64, %error, "cancel failed; retrying");
            sleep(delay).await;
        }
    }

    /// True while post-cancel read `read` is still due: within
    /// `post_cancel.max_reads`, and past them until the reconcile horizon
    /// (the caller stops as soon as the broker shows how the order ended).
    fn read_due(&self, read: u32) -> bool {
        read < self.config.post_cancel.max_reads || Instant::now() < self.horizon
    }

    /// Waits before post-cancel read `read`.
    async fn wait_to_read(&self, read: u32) {
        let wait = self.config.post_cancel.wait_before(read);
        if !wait.is_zero() {
            sleep(wait).await;
        }
    }

    /// The broker said the order is already filled: read it back to get the
    /// quantity and price, until the reconcile horizon if need be. The
    /// broker's refusal is itself evidence of the fill, so if the reads
    /// never corroborate it the order is still reported filled, with lower
    /// confidence and its price unknown (never a guess).
    async fn confirm_refused_cancel(&mut self) -> FillResult {
        let refusal = Methods {
            cancel_refused_as_filled: true,
            ..Methods::default()
        };
        let mut read = 0u32;
        while self.read_due(read) {
            self.wait_to_read(read).await;
            read += 1;
            if let Some(mut result) = self.verify_once().await {
                if result.verdict == Verdict::Filled {
                    result.methods = result.methods.union(refusal);
                    result.confidence = result.methods.confidence();
                    result.cancel = Some(CancelOutcome::AlreadyFilled);
                }
                return result;
            }
        }
        let qty = self.order.qty;
        let mut result = self.finish(
            Verdict::Filled,
            Some(refusal),
            "cancel refused as already filled; no read showed the fill, so its price is unknown"
                .to_owned(),
        );
        if result.filled_qty < qty {
            // A price seen on part of the fill is not the whole fill's.
            result.avg_price = None;
            result.slippage = None;
        }
        result.filled_qty = qty;
        result.executions = self.executions_making(qty);
        result.cancel = Some(CancelOutcome::AlreadyFilled);
        result
    }

    /// Reads until the broker shows how the order ended: `max_reads` reads,
    /// and past them, while the broker still shows the order open (a long
    /// `pending_cancel`) or cannot be read, until the reconcile horizon.
    ///
    /// When the cancel went unanswered and a read shows the order still
    /// open (not even `pending_cancel`), the cancel is sent again, up to
    /// `retry.max_retries` times: cancel is idempotent at the broker, and an
    /// order left working after its deadline is exactly what the deadline
    /// is there to prevent.
    async fn after_cancel(&mut self, mut outcome: CancelOutcome) -> FillResult {
        let mut resends = 0u32;
        let mut read = 0u32;
        while self.read_due(read) {
            self.wait_to_read(read).await;
            read += 1;
            let Ok(order) = self.read().await else {
                continue;
            };
            if let Some(mut result) = self.observe(order) {
                result.cancel = Some(outcome);
                return result;
            }
            let open = self.order.status != OrderStatus::PendingCancel;
            if open
                && matches!(outcome, CancelOutcome::Unknown(_))
                && resends < self.config.retry.max_retries
            {
                resends += 1;
                info!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), check = self.checks,
                    "cancel went unanswered and the order is still open; sending it again");
                outcome = self.cancel().await;
                if outcome == CancelOutcome::AlreadyFilled {
                    return self.confirm_refused_cancel().await;
                }
            }
        }
        let reason = format!(
            "no terminal state after cancel ({}); last status {} with {} filled",
            match &outcome {
                CancelOutcome::Accepted => "accepted".to_owned(),
                CancelOutcome::AlreadyFilled => "already filled".to_owned(),
                CancelOutcome::Refused(error) => format!("refused: {error}"),
                CancelOutcome::Unknown(error) => format!("unanswered: {error}"),
            },
            self.order.status,
            self.best_qty()
        );
        let mut result = self.finish(Verdict::Unresolved, None, reason);
        result.cancel = Some(outcome);
        result
    }

    /// Builds the result and logs it. `methods` overrides the best
    /// verification's methods (for fills proven by a cancel refusal).
    fn finish(&self, verdict: Verdict, methods: Option<Methods>, reason: String) -> FillResult {
        let best = self.best.clone();
        let filled_qty = best.as_ref().map_or(Decimal::ZERO, |b| b.filled_qty);
        let avg_price = best.as_ref().and_then(|b| b.avg_price);
        let methods =
            methods.unwrap_or_else(|| best.as_ref().map(|b| b.methods).unwrap_or_default());
        let confidence = if filled_qty > Decimal::ZERO || methods.cancel_refused_as_filled {
            methods.confidence()
        } else {
            0.0
        };
        let slippage = match (self.expected_price, avg_price) {
            (Some(expected), Some(price)) => Slippage::measure(
                self.order.side,
                expected,
                price,
                self.config.slippage_threshold_bps,
            ),
            _ => None,
        };
        if let Some(s) = slippage.filter(|s| s.flagged) {
            warn!(target: TARGET, order_id = %self.order.id, expected = %s.expected_price, price = %s.fill_price,
                bps = %s.bps, "slippage above threshold");
        }
        let elapsed = self.start.elapsed();
        info!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), check = self.checks,
            verdict = %verdict, filled_qty = %filled_qty, %methods, confidence, %reason, "monitoring finished");
        FillResult {
            order_id: self.order.id.clone(),
            client_order_id: self.order.client_order_id.clone(),
            symbol: self.order.symbol.clone(),
            side: self.order.side,
            qty: self.order.qty,
            verdict,
            filled_qty,
            avg_price,
            filled_at: best.as_ref().and_then(|b| b.filled_at),
            methods,
            confidence,
            checks: self.checks,
            api_calls: self.api_calls,
            retries: self.retries,
            elapsed,
            decided_at: Instant::now(),
            deadline_reached: false,
            cancel: None,
            slippage,
            reason,
            executions: self.executions_making(filled_qty),
        }
    }
}
