//! One order's watch: its state (reads, best verification seen, the
//! executions the stream delivered) and the verdicts drawn from it. Nothing
//! here awaits: the monitor does the reading and waiting, and hands each
//! snapshot here to learn whether it settles the order.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::budget::BrokerCalls;
use crate::detect::Backoff;
use crate::detect::FillDetectionConfig;
use crate::detect::Slippage;
use crate::detect::{Execution, FillResult, Verdict};
use crate::detect::{FillState, FillVerifier, Methods, Verification};
use crate::detect::{OrderSignal, Route};
use crate::port::EndpointCounts;
use crate::port::TradeUpdate;
use crate::port::{BrokerError, ErrorClass};
use crate::port::{Order, OrderStatus};

use super::TARGET;
use super::backoff::wait_before_retry;

/// How long a stream-first verdict waits for executions still on their
/// way, so that the fill is booked execution by execution.
pub(super) const EXECUTION_GRACE: Duration = Duration::from_secs(2);

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
pub(super) struct Reconnects {
    /// The last reconnect, or the end of the last read after one.
    last: Option<Instant>,
    /// A reconnect was folded into a read still to come.
    pending: bool,
}

impl Reconnects {
    /// A reconnect at `now`; true when it must be read at once, as the
    /// first of its storm.
    pub(super) fn arrived(&mut self, now: Instant) -> bool {
        let in_storm = self.last.is_some_and(|last| now < last + RECONNECT_STORM);
        self.last = Some(now);
        self.pending = in_storm;
        !in_storm
    }

    /// When the read for the folded reconnects is due, if one is.
    pub(super) fn due(&self) -> Option<Instant> {
        self.last
            .filter(|_| self.pending)
            .map(|last| last + RECONNECT_STORM)
    }

    /// The last reconnect, or the end of the last read after one.
    pub(super) fn last(&self) -> Option<Instant> {
        self.last
    }

    /// A read after a reconnect ended at `now`.
    pub(super) fn read_done(&mut self, now: Instant) {
        self.last = Some(now);
        self.pending = false;
    }
}

/// One order's monitor state.
pub(super) struct Watch<'a, B> {
    /// The order's stream subscription, when detecting stream-first.
    pub(super) route: Option<Route>,
    /// Executions seen on the stream: a duplicate is dropped unread.
    pub(super) executions: std::collections::BTreeSet<String>,
    /// Those executions, in the order they arrived.
    pub(super) fills: Vec<Execution>,
    pub(super) on_change: Option<&'a (dyn Fn(&Order) + Sync)>,
    /// Called before the cancel is sent.
    pub(super) before_cancel: Option<&'a CancelHook>,
    pub(super) broker: &'a B,
    pub(super) config: &'a FillDetectionConfig,
    pub(super) verifier: &'a dyn FillVerifier,
    pub(super) rng: ChaCha8Rng,
    pub(super) backoff: Backoff,
    pub(super) start: Instant,
    /// When monitoring gives way to the deadline path.
    pub(super) deadline: Instant,
    /// How long past the deadline the engine keeps reading an order the
    /// broker has not shown ended (see `reconcile_horizon`).
    pub(super) horizon: Instant,
    /// Logical reads of the order (one per poll, final or post-cancel read).
    pub(super) checks: u32,
    /// Reads made by the polling loop, for the strategy.
    pub(super) polls: u32,
    /// `polls` when the order last changed.
    pub(super) polls_at_change: u32,
    pub(super) api_calls: EndpointCounts,
    pub(super) retries: u32,
    /// The verification with the most filled quantity seen so far: filled
    /// quantity never decreases at a broker, so an older snapshot read later
    /// must not shrink it.
    pub(super) best: Option<Verification>,
    /// Status and filled quantity of the last snapshot, to log changes.
    pub(super) last_seen: Option<(OrderStatus, Decimal)>,
    pub(super) expected_price: Option<Decimal>,
    /// A guard that ends the watch early when it resolves, with why (in a
    /// mutex only so that a watch can be shared: it is polled through
    /// `get_mut`, never locked).
    pub(super) guard: Option<std::sync::Mutex<Guard>>,
    /// Why the guard ended the watch, once it has.
    pub(super) stopped: Option<String>,
    /// The latest snapshot.
    pub(super) order: Order,
}

/// A guard on a watch: resolves, with the reason, when the order should
/// no longer work (the market moved beyond the trader's slippage limit).
/// The watch then takes the deadline's path at once: a final read, the
/// cancel and the reads that verify it.
pub type Guard = std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>;

/// Called with the order and why, before a watch sends its cancel (the
/// deadline's, or a guard's): a journal records the cancel before it
/// leaves.
pub type BeforeCancel = std::sync::Arc<CancelHook>;

/// What [`BeforeCancel`] calls: the order, and why it is canceled.
pub type CancelHook = dyn Fn(&Order, &str) + Send + Sync;

impl<B: BrokerCalls> Watch<'_, B> {
    pub(super) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Notes the execution an update reports; false for a duplicate.
    pub(super) fn note_execution(&mut self, update: &TradeUpdate) -> bool {
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

    /// Notes an execution the fill activities reported, once.
    pub(super) fn note_piece(&mut self, execution: Execution) {
        if self.executions.insert(execution.id.clone()) {
            self.fills.push(execution);
        }
    }

    /// Notes the executions a signal brings; a snapshot or a gap brings
    /// none.
    pub(super) fn note_signal(&mut self, signal: OrderSignal) {
        match signal {
            OrderSignal::Update(update) => {
                self.note_execution(&update);
            }
            OrderSignal::Execution(execution) => self.note_piece(execution),
            OrderSignal::Snapshot(_) | OrderSignal::Gap => {}
        }
    }

    pub(super) fn executions_qty(&self) -> Decimal {
        self.fills.iter().map(|e| e.qty).sum()
    }

    /// The executions seen, when they make up `filled` exactly; none
    /// otherwise (the fill is then known only by its average price).
    pub(super) fn executions_making(&self, filled: Decimal) -> Vec<Execution> {
        if self.executions_qty() == filled {
            self.fills.clone()
        } else {
            Vec::new()
        }
    }

    /// The wait before retrying after `error`, or `None` when it must not be
    /// retried: permanent errors, and others once `max_retries` are spent.
    /// A 429 is waited out without spending a retry, up to
    /// `rate_limit_waits` times.
    pub(super) fn retry_delay(
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
    pub(super) fn observe(&mut self, order: Order) -> Option<FillResult> {
        let verification = self.verifier.verify(&order);
        debug!(target: TARGET, order_id = %order.id, elapsed_ms = self.elapsed_ms(), check = self.checks,
            status = %order.status, filled_qty = %order.filled_qty, methods = %verification.methods, "order checked");
        let seen = (order.status.clone(), order.filled_qty);
        // A snapshot showing less filled than one seen before is a stale
        // read: not a change to report (the trader would hear a fill go
        // backwards).
        let stale = order.filled_qty < self.best_qty();
        if !stale && self.last_seen.as_ref() != Some(&seen) {
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
    pub(super) fn terminal_verdict(&mut self) -> Option<FillResult> {
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
        let mut result = self.finish(verdict, None, reason);
        if status == OrderStatus::Replaced {
            result.replaced_by = self.order.replaced_by.clone();
        }
        Some(result)
    }

    pub(super) fn best_qty(&self) -> Decimal {
        self.best.as_ref().map_or(Decimal::ZERO, |b| b.filled_qty)
    }

    pub(super) fn mark_deadline(&self, mut result: FillResult) -> FillResult {
        match &self.stopped {
            Some(reason) => {
                result.reason = format!("{reason}; {}", result.reason);
                result.stopped = Some(reason.clone());
            }
            None => result.deadline_reached = true,
        }
        result
    }

    /// True while post-cancel read `read` is still due: within
    /// `post_cancel.max_reads`, and past them until the reconcile horizon
    /// (the caller stops as soon as the broker shows how the order ended).
    pub(super) fn read_due(&self, read: u32) -> bool {
        read < self.config.post_cancel.max_reads || Instant::now() < self.horizon
    }

    /// Builds the result and logs it. `methods` overrides the best
    /// verification's methods (for fills proven by a cancel refusal).
    pub(super) fn finish(
        &self,
        verdict: Verdict,
        methods: Option<Methods>,
        reason: String,
    ) -> FillResult {
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
            stopped: None,
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
            exits: Vec::new(),
            replaced_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a storm of reconnects costs two reads, not one per reconnect.
    /// Method: reconnects at 0, 300 and 600 ms, a read after the first,
    /// then check what is due and when.
    #[test]
    fn a_storm_of_reconnects_is_read_once_more_after_it_ends() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut reconnects = Reconnects::default();
        assert!(reconnects.arrived(ms(0)), "the first of a storm is read");
        assert_eq!(reconnects.due(), None);
        reconnects.read_done(ms(100));
        assert!(!reconnects.arrived(ms(300)), "folded into the storm");
        assert!(!reconnects.arrived(ms(600)), "folded into the storm");
        assert_eq!(reconnects.due(), Some(ms(600) + RECONNECT_STORM));
        reconnects.read_done(ms(1_600));
        assert_eq!(reconnects.due(), None);
        assert!(
            reconnects.arrived(ms(1_600) + RECONNECT_STORM),
            "a reconnect after the storm starts a new one"
        );
    }
}
