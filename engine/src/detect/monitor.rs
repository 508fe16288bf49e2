//! The monitor: every await of an order's watch. The poll loop and the
//! stream loop, the order read with its retries, the deadline path (final
//! verification, cancel, reads after the cancel) and the wait for
//! executions still on their way.

use std::sync::{Arc, PoisonError};
use std::task::Poll;

use rust_decimal::Decimal;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::budget::{BrokerCalls, CallError};
use crate::budget::{Priority, with_priority};
use crate::detect::Methods;
use crate::detect::OrderSignal;
use crate::detect::PartialFillPolicy;
use crate::detect::PollContext;
use crate::detect::Route;
use crate::detect::{CancelOutcome, FillResult, Verdict};
use crate::port::Endpoint;
use crate::port::ErrorClass;
use crate::port::{Order, OrderStatus};
use crate::time::{sleep, sleep_until};

use super::TARGET;
use super::watch::{EXECUTION_GRACE, Guard, Reconnects, Watch};

/// What woke a stream-first watch.
enum Wake {
    Signal(OrderSignal),
    Timer,
    Closed,
    /// The watch's guard resolved, with why.
    Guard(String),
}

/// The next signal on `signals`, the guard's resolution, or the timer at
/// `wake`.
async fn next_signal(
    signals: &mut tokio::sync::mpsc::UnboundedReceiver<OrderSignal>,
    guard: Option<&mut std::sync::Mutex<Guard>>,
    wake: Instant,
) -> Wake {
    let mut timer = std::pin::pin!(sleep_until(wake));
    let mut guard = guard.map(|g| g.get_mut().unwrap_or_else(PoisonError::into_inner));
    std::future::poll_fn(|cx| {
        if let Some(Poll::Ready(reason)) = guard.as_mut().map(|g| g.as_mut().poll(cx)) {
            return Poll::Ready(Wake::Guard(reason));
        }
        if let Poll::Ready(signal) = signals.poll_recv(cx) {
            return Poll::Ready(signal.map_or(Wake::Closed, Wake::Signal));
        }
        timer.as_mut().poll(cx).map(|()| Wake::Timer)
    })
    .await
}

/// Sleeps until `wake`; the guard's reason instead when it resolves
/// first.
async fn sleep_guarded(
    guard: Option<&mut std::sync::Mutex<Guard>>,
    wake: Instant,
) -> Option<String> {
    let Some(guard) = guard else {
        sleep_until(wake).await;
        return None;
    };
    let guard = guard.get_mut().unwrap_or_else(PoisonError::into_inner);
    let mut timer = std::pin::pin!(sleep_until(wake));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(reason) = guard.as_mut().poll(cx) {
            return Poll::Ready(Some(reason));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// How old a shared list read may be for a safety read to take it: the
/// safety reads of orders gone quiet within this of each other share one.
const SHARED_READ_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// Why the monitor loop stopped without a verdict.
enum LoopEnd {
    Deadline,
}

impl<B: BrokerCalls> Watch<'_, B> {
    pub(super) async fn run(&mut self) -> FillResult {
        info!(target: TARGET, order_id = %self.order.id, symbol = %self.order.symbol, qty = %self.order.qty,
            timeout_ms = self.config.timeout.as_millis() as u64, "monitoring started");
        if let Some(route) = &self.route {
            route.watching(&self.order);
        }
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

    /// Stream first (or batched): takes the order's trade updates (or the
    /// batched reads' snapshots and executions) as they come, reads it
    /// over REST after a reconnect (once per storm of reconnects, see
    /// [`Reconnects`]) and when its route has been quiet on it for the
    /// safety interval, until a verdict or `until`. `Ok(None)` when the
    /// route closed: polling takes over.
    async fn listen_until(&mut self, until: Instant) -> Result<Option<FillResult>, LoopEnd> {
        let Some(safety) = self.config.polling.safety() else {
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
            let order = match next_signal(&mut route.signals, self.guard.as_mut(), wake).await {
                Wake::Guard(reason) => return Err(self.stop(reason)),
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
                Wake::Signal(OrderSignal::Snapshot(order)) => {
                    quiet_since = Instant::now();
                    *order
                }
                Wake::Signal(OrderSignal::Execution(execution)) => {
                    quiet_since = Instant::now();
                    self.note_piece(execution);
                    continue;
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
                    match self.safety_read().await {
                        Ok(Some(order)) => order,
                        Ok(None) => continue,
                        Err(result) => return Ok(Some(result)),
                    }
                }
            };
            if let Some(result) = self.observe(order) {
                return Ok(Some(self.collect_executions(result).await));
            }
        }
    }

    /// The order's read when its route has been quiet for the safety
    /// interval (a shared list read at most [`SHARED_READ_AGE`] old, else
    /// its own): the snapshot, `None` when the read failed (the next
    /// comes after another quiet interval), or the verdict when it failed
    /// for good.
    async fn safety_read(&mut self) -> Result<Option<Order>, FillResult> {
        self.polls += 1;
        let since = Instant::now()
            .checked_sub(SHARED_READ_AGE)
            .unwrap_or_else(Instant::now);
        if let Some(order) = self.shared_read(Priority::Routine, since).await {
            return Ok(Some(order));
        }
        match with_priority(Priority::Routine, self.read()).await {
            Ok(order) => Ok(Some(order)),
            Err(CallError::Broker(error)) if error.class() == ErrorClass::Permanent => Err(self
                .finish(
                    Verdict::Unresolved,
                    None,
                    format!("reading the order failed permanently: {error}"),
                )),
            Err(_) => Ok(None),
        }
    }

    /// The read after a reconnect, at [`Priority::Catchup`]: queued for a
    /// turn of the call budget, never skipped, so a fill the stream lost
    /// surfaces as soon as the turn comes.
    async fn catch_up(&mut self, reconnects: &mut Reconnects) -> Option<Order> {
        debug!(target: TARGET, order_id = %self.order.id, "reading after a reconnect");
        let since = reconnects.last().unwrap_or_else(Instant::now);
        let read = match self.shared_read(Priority::Catchup, since).await {
            Some(order) => Ok(order),
            None => with_priority(Priority::Catchup, self.read()).await,
        };
        reconnects.read_done(Instant::now());
        read.ok()
    }

    /// The order from a list read the watches of a stream-first detector
    /// share (any that started at `since` or later); `None` without one,
    /// or when it did not show the order.
    async fn shared_read(&mut self, priority: Priority, since: Instant) -> Option<Order> {
        let desk = Arc::clone(self.route.as_ref()?.shared_reads()?);
        let client_order_id = self.order.client_order_id.clone();
        let read = desk.read_for(self.broker, &client_order_id, since);
        let order = with_priority(priority, read).await;
        // A replaced order shows under its own id: only the same order
        // answers for it.
        order.filter(|o| o.id == self.order.id)
    }

    /// A verdict reached while some of the order's executions are still on
    /// their way (events of one order can arrive out of order): waits up to
    /// [`EXECUTION_GRACE`] for them, so that the fill can be booked
    /// execution by execution, each at its own price.
    async fn collect_executions(&mut self, mut result: FillResult) -> FillResult {
        // Events already delivered (while the submission was being
        // resolved, say) are read first, without waiting.
        while let Some(Ok(signal)) = self.route.as_mut().map(|r| r.signals.try_recv()) {
            self.note_signal(signal);
        }
        // The batched reads bring a fill's executions on their next turn
        // when this one missed them: worth the wait even with none yet.
        let batched = self.route.as_ref().is_some_and(Route::brings_executions);
        if let Some(route) = self
            .route
            .as_ref()
            .filter(|_| self.executions_qty() < result.filled_qty)
        {
            route.want_executions(&self.order);
        }
        let until = Instant::now() + EXECUTION_GRACE;
        while (batched || !self.fills.is_empty()) && self.executions_qty() < result.filled_qty {
            let Some(route) = self.route.as_mut() else {
                break;
            };
            // The order has a verdict: no guard can change it now.
            match next_signal(&mut route.signals, None, until).await {
                Wake::Signal(signal @ (OrderSignal::Update(_) | OrderSignal::Execution(_))) => {
                    self.note_signal(signal);
                }
                Wake::Signal(OrderSignal::Snapshot(_)) => {}
                Wake::Signal(OrderSignal::Gap) | Wake::Timer | Wake::Closed | Wake::Guard(_) => {
                    break;
                }
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
            if let Some(reason) = sleep_guarded(self.guard.as_mut(), wake).await {
                return Err(self.stop(reason));
            }
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

    /// The guard resolved: it is spent, and the watch takes the deadline's
    /// path now.
    fn stop(&mut self, reason: String) -> LoopEnd {
        info!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), %reason,
            "stopping early");
        self.guard = None;
        self.stopped = Some(reason);
        LoopEnd::Deadline
    }

    async fn at_deadline(&mut self) -> FillResult {
        info!(target: TARGET, order_id = %self.order.id, elapsed_ms = self.elapsed_ms(), check = self.checks,
            "deadline reached");
        self.horizon = Instant::now() + self.config.reconcile_horizon;
        if self.config.final_verification {
            if let Some(result) = self.verify_once().await {
                let result = self.collect_executions(result).await;
                return self.mark_deadline(result);
            }
        }
        if let PartialFillPolicy::KeepWorking { extension } = self.config.partial_fill_policy {
            // An order its guard stopped does not keep working.
            if self.best_qty() > Decimal::ZERO && self.stopped.is_none() {
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
        // The cancel path reads over REST: executions the stream sent
        // meanwhile are collected now, so a fill is booked piece by piece.
        let result = self.collect_executions(result).await;
        self.mark_deadline(result)
    }

    /// One read; a verdict when it settles the order.
    async fn verify_once(&mut self) -> Option<FillResult> {
        match self.read().await {
            Ok(order) => self.observe(order),
            Err(_) => None,
        }
    }

    async fn cancel(&mut self) -> CancelOutcome {
        if let Some(journal) = self.before_cancel {
            journal(
                &self.order,
                self.stopped.as_deref().unwrap_or("the deadline passed"),
            );
        }
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
}
