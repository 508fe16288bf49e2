//! The fill detector: its entry points (submit, execute, monitor) over the
//! pieces beside it: `submit.rs` (idempotent placement), `watch.rs` (one
//! order's state and verdicts), `monitor.rs` (the awaits: loops, deadline
//! path, cancel) and `consistency.rs` (the position check).
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
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::budget::BrokerCalls;
use crate::detect::Backoff;
use crate::detect::FillResult;
use crate::detect::{FillDetectionConfig, PollingConfig};
use crate::detect::{FillVerifier, RobustVerifier};
use crate::detect::{Route, StreamRouter};
use crate::port::EndpointCounts;
use crate::port::TradeUpdates;
use crate::port::{ConfigError, SubmitError};
use crate::port::{Order, OrderRequest};
use crate::port::{derive_rng, stable_hash};

use super::batch::Desk;
use super::result::Submission;
use super::watch::{BeforeCancel, Guard, Watch};

/// Watches orders until the broker confirms what happened to them.
///
/// Cheap to clone: clones share the broker, configuration and verifier.
pub struct FillDetector<B> {
    pub(super) broker: Arc<B>,
    pub(super) config: Arc<FillDetectionConfig>,
    pub(super) verifier: Arc<dyn FillVerifier>,
    pub(super) jitter_seed: u64,
    pub(super) router: Option<StreamRouter>,
    pub(super) before_cancel: Option<BeforeCancel>,
    /// The batched reads' desk, for the batched strategy.
    pub(super) desk: Option<Arc<Desk>>,
}

impl<B> Clone for FillDetector<B> {
    fn clone(&self) -> Self {
        Self {
            broker: Arc::clone(&self.broker),
            config: Arc::clone(&self.config),
            verifier: Arc::clone(&self.verifier),
            jitter_seed: self.jitter_seed,
            router: self.router.clone(),
            before_cancel: self.before_cancel.clone(),
            desk: self.desk.clone(),
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
        // The batched strategy reads through the desk; stream first shares
        // its reads after a reconnect and its safety reads through it.
        let desk = matches!(
            config.polling,
            PollingConfig::Batched { .. } | PollingConfig::Hybrid { .. }
        )
        .then(|| Arc::new(Desk::default()));
        Ok(Self {
            broker,
            config: Arc::new(config),
            verifier: Arc::new(RobustVerifier),
            jitter_seed: 0,
            router: None,
            before_cancel: None,
            desk,
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

    /// The subscription of the order `client_order_id`, when the detector
    /// detects stream-first (its trade updates) or batched (its snapshots
    /// and executions from the batched reads): take it before
    /// submitting, so that no event of it is missed, and hand it to
    /// [`FillDetector::monitor_submission`].
    #[must_use]
    pub fn route(&self, client_order_id: &str) -> Option<Route> {
        match (&self.router, &self.config.polling) {
            (Some(router), PollingConfig::Hybrid { .. }) => {
                let route = router.register(client_order_id);
                Some(match &self.desk {
                    Some(desk) => route.sharing_reads(Arc::clone(desk)),
                    None => route,
                })
            }
            (_, &PollingConfig::Batched { interval, safety }) => {
                let desk = self.desk.as_ref()?;
                desk.start(Arc::clone(&self.broker), (interval, safety));
                Some(desk.register(client_order_id))
            }
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

    /// Calls `hook` with the order and why before every cancel a watch
    /// sends (the journal's record of it).
    #[must_use]
    pub fn before_cancel(mut self, hook: BeforeCancel) -> Self {
        self.before_cancel = Some(hook);
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

    pub(super) fn rng_for(&self, client_order_id: &str) -> ChaCha8Rng {
        derive_rng(
            self.jitter_seed,
            "engine-backoff",
            stable_hash(client_order_id.as_bytes()),
        )
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
        self.monitor_guarded(submission, expected_price, on_change, route, None)
            .await
    }

    /// As [`FillDetector::monitor_submission`], with a `guard` that ends
    /// the watch early when it resolves: the order then takes the
    /// deadline's path at once (a final read, the cancel, the reads that
    /// verify it), and the result says why in
    /// [`FillResult::stopped`].
    pub async fn monitor_guarded(
        &self,
        submission: Submission,
        expected_price: Option<Decimal>,
        on_change: Option<&(dyn Fn(&Order) + Sync)>,
        route: Option<Route>,
        guard: Option<Guard>,
    ) -> FillResult {
        let deadline = if submission.overdue {
            Instant::now()
        } else {
            Instant::now() + self.config.timeout
        };
        let mut result = self
            .watch(
                submission.order,
                expected_price,
                on_change,
                (deadline, guard),
                route,
            )
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
        self.watch(order, expected_price, on_change, (deadline, None), route)
            .await
    }

    async fn watch(
        &self,
        order: Order,
        expected_price: Option<Decimal>,
        on_change: Option<&(dyn Fn(&Order) + Sync)>,
        (deadline, guard): (Instant, Option<Guard>),
        route: Option<Route>,
    ) -> FillResult {
        let mut watch = Watch {
            guard: guard.map(std::sync::Mutex::new),
            stopped: None,
            route,
            executions: std::collections::BTreeSet::new(),
            fills: Vec::new(),
            on_change,
            before_cancel: self.before_cancel.as_deref(),
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

    /// Watches an exit leg `order` (a bracket's take profit or stop loss,
    /// working or held) for up to `watch_for`, the stream through `route`:
    /// it ends when the broker confirms the leg ended, or earlier through
    /// the deadline's path (a final read, the cancel, the reads that
    /// verify it) when `guard` resolves. Its slippage is measured against
    /// the price the trader set for it: a stop loss's stop (what a stop
    /// gives up past it is its slippage), a take profit's limit.
    pub async fn monitor_exit(
        &self,
        order: Order,
        route: Option<Route>,
        watch_for: Duration,
        guard: Option<Guard>,
    ) -> FillResult {
        let deadline = Instant::now() + watch_for;
        let expected = order.stop_price.or(order.limit_price);
        self.watch(order, expected, None, (deadline, guard), route)
            .await
    }

    /// Watches `order` in a task of its own.
    pub fn spawn(&self, order: Order, expected_price: Option<Decimal>) -> JoinHandle<FillResult> {
        let detector = self.clone();
        tokio::spawn(async move { detector.monitor(order, expected_price).await })
    }
}
