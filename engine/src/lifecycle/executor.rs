//! The order lifecycle: a trading signal through validation, risk checks,
//! an audit record written before anything is sent, idempotent submission,
//! fill detection, position update and events.
//!
//! ```text
//! signal ─ validate ─ risk ─ audit "submit" (PENDING) ─ submit (SUBMITTED)
//!        ─ monitor (every status change is an event) ─ positions ─ audit
//! ```
//!
//! Pre-trade state (positions, orders in flight, buying power, each
//! trader's recent orders) sits behind one short lock taken before
//! submission and after the verdict; the polling loop never takes it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rust_decimal::Decimal;
use thiserror::Error;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::budget::{BrokerCalls, RateLimit, RateLimitedBroker};
use crate::detect::FillDetectionConfig;
use crate::detect::FillVerifier;
use crate::detect::Guard;
use crate::detect::{BeforeCancel, FillDetector};
use crate::detect::{CancelOutcome, Execution, FillResult, Route, Submission, Verdict};
use crate::lifecycle::book::Book;
use crate::lifecycle::money;
use crate::lifecycle::trader::{PENDING_CANCEL, Working};
use crate::lifecycle::{AppliedFill, Commission, PositionBook};
use crate::lifecycle::{AuditEntry, AuditEvent, AuditLog, ExitPrices};
use crate::lifecycle::{OrderEvent, OrderState};
use crate::lifecycle::{
    RiskLimits, RiskViolation, Signal, ValidationConfig, ValidationError, price_in_range, validate,
    validate_against_quote,
};
use crate::port::{Broker, MarketData, Quote, QuoteSource};
use crate::port::{ConfigError, SubmitError};
use crate::port::{Order, OrderStatus, OrderType, Timestamp};
use crate::time::Clock;

/// Everything the executor needs to know. Defaults: the fill detector's;
/// validation within 5% of the reference price; the default risk limits;
/// no commission; a call budget of 180 calls a minute (a submission waits
/// at most 30 s for a turn); 5 s per call; buying power not checked.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Fill detection and submission retries.
    pub detection: FillDetectionConfig,
    /// Pre-trade validation.
    pub validation: ValidationConfig,
    /// Risk limits.
    pub risk: RiskLimits,
    /// Commission deducted from realized P&L.
    pub commission: Commission,
    /// Client-side rate limit on every broker call; `None`: no limit.
    pub rate_limit: Option<RateLimit>,
    /// The longest one broker call may take, once sent, before the engine
    /// stops waiting and treats it as an ambiguous outcome (the broker may
    /// have acted); default 5 s.
    pub call_timeout: Duration,
    /// The longest a submission waits for a turn in the call budget before
    /// it is shed, never sent; default 30 s.
    pub submit_max_wait: Duration,
    /// The account's buying power at the start; `None`: not checked.
    pub buying_power: Option<Decimal>,
    /// Slippage control: cancel a working order when the market moves
    /// too far against it (needs market data, see
    /// [`OrderExecutor::with_market_data`]); `None`: off.
    pub slippage_guard: Option<SlippageGuard>,
    /// How long a bracket's or OTO's exits are watched once its entry
    /// filled (the deadline's path cancels one still working then);
    /// default a day.
    pub exits_watched_for: Duration,
    /// How long the other exit may stay working after one filled whole
    /// (the broker cancels it) before the engine cancels it itself;
    /// default 5 s.
    pub exit_grace: Duration,
}

/// Slippage control (seed 003, US4): while an order works, the latest
/// quote is read every `every`; when the touch it trades against (the ask
/// for a buy, the bid for a sell) has moved more than `max_bps` against
/// it from the signal's price, the order is canceled through the
/// deadline's path (a final read, the cancel, the reads that verify it),
/// so a fill that lands during the cancel is still reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlippageGuard {
    /// The most the touch may move against the order, in basis points of
    /// the signal's price.
    pub max_bps: Decimal,
    /// How often the quote is read.
    pub every: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            detection: FillDetectionConfig::default(),
            validation: ValidationConfig::default(),
            risk: RiskLimits::default(),
            commission: Commission::default(),
            rate_limit: Some(RateLimit::DEFAULT),
            call_timeout: Duration::from_secs(5),
            submit_max_wait: Duration::from_secs(30),
            buying_power: None,
            slippage_guard: None,
            exits_watched_for: super::exits::EXITS_WATCHED_FOR,
            exit_grace: super::exits::EXIT_GRACE,
        }
    }
}

/// How an execution ended without a fill result.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExecutionError {
    /// The signal failed validation; nothing was sent.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// A risk rule refused it; nothing was sent.
    #[error("{0}")]
    Risk(#[from] RiskViolation),
    /// The audit record could not be written, so the order was not sent.
    #[error("audit log write failed, order not sent: {0}")]
    Audit(String),
    /// Submission failed.
    #[error("{0}")]
    Submit(#[from] SubmitError),
}

/// Takes trading signals through the whole order lifecycle.
pub struct OrderExecutor<B> {
    pub(super) detector: FillDetector<RateLimitedBroker<Arc<B>>>,
    validation: ValidationConfig,
    risk: RiskLimits,
    book: Arc<Mutex<Book>>,
    audit: Arc<AuditLog>,
    events: broadcast::Sender<OrderEvent>,
    pub(super) clock: Arc<dyn Clock>,
    slippage_guard: Option<SlippageGuard>,
    /// Where limit prices are checked against the latest quote, when set.
    quotes: Option<Arc<dyn QuoteSource>>,
    pub(super) exits_watched_for: Duration,
    pub(super) exit_grace: Duration,
    /// Orders a trader may still cancel or replace.
    pub(super) working: Arc<Working>,
}

impl<B> Clone for OrderExecutor<B> {
    fn clone(&self) -> Self {
        Self {
            detector: self.detector.clone(),
            validation: self.validation.clone(),
            risk: self.risk.clone(),
            book: Arc::clone(&self.book),
            audit: Arc::clone(&self.audit),
            events: self.events.clone(),
            clock: Arc::clone(&self.clock),
            slippage_guard: self.slippage_guard,
            quotes: self.quotes.clone(),
            exits_watched_for: self.exits_watched_for,
            exit_grace: self.exit_grace,
            working: Arc::clone(&self.working),
        }
    }
}

/// Events kept for a slow subscriber before it starts missing them.
const EVENT_CAPACITY: usize = 4096;

impl<B: Broker + 'static> OrderExecutor<B> {
    /// An executor over `broker`, auditing to `audit`, stamping with
    /// `clock`, drawing retry jitter from `seed`.
    ///
    /// # Errors
    /// A configuration value out of range.
    pub fn new(
        broker: Arc<B>,
        config: ExecutorConfig,
        audit: Arc<AuditLog>,
        clock: Arc<dyn Clock>,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        if config.call_timeout > config.detection.submit_timeout {
            return Err(ConfigError::new(
                "call_timeout",
                format!(
                    "({:?}) is longer than submit_timeout ({:?}); one call cannot take longer than the whole submission",
                    config.call_timeout, config.detection.submit_timeout
                ),
            ));
        }
        let limited = Arc::new(
            RateLimitedBroker::new(broker, config.rate_limit)?
                .with_call_timeout(config.call_timeout)?
                .with_submit_max_wait(config.submit_max_wait),
        );
        let working: Arc<Working> = Arc::default();
        let detector = FillDetector::new(limited, config.detection)?
            .with_jitter_seed(seed)
            .before_cancel(cancel_journal(Arc::clone(&audit), Arc::clone(&working)));
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Ok(Self {
            detector,
            validation: config.validation,
            risk: config.risk,
            book: Arc::new(Mutex::new(Book::new(
                config.commission,
                config.buying_power,
            ))),
            audit,
            events,
            clock,
            slippage_guard: config.slippage_guard,
            quotes: None,
            exits_watched_for: config.exits_watched_for,
            exit_grace: config.exit_grace,
            working,
        })
    }

    /// Checks every limit price against the latest quote `market` gives
    /// before anything is sent (the seeds' "price reasonable"): a limit
    /// beyond the validation band from the touch, or a symbol with no
    /// quote, is refused.
    #[must_use]
    pub fn with_market_data<M: MarketData + 'static>(mut self, market: Arc<M>) -> Self {
        self.quotes = Some(market);
        self
    }

    /// Listens to `source`'s trade updates for stream-first detection
    /// ([`PollingConfig::Hybrid`](crate::PollingConfig::Hybrid)); call it
    /// inside the runtime the executor runs on.
    #[must_use]
    pub fn with_trade_updates(mut self, source: &dyn crate::port::TradeUpdates) -> Self {
        self.detector = self.detector.with_trade_updates(source);
        self
    }

    /// Replaces the fill verifier (a harness measures flawed ones).
    #[must_use]
    pub fn with_verifier(mut self, verifier: Arc<dyn FillVerifier>) -> Self {
        self.detector = self.detector.with_verifier(verifier);
        self
    }

    /// The fill detector in use.
    #[must_use]
    pub fn detector(&self) -> &FillDetector<RateLimitedBroker<Arc<B>>> {
        &self.detector
    }

    /// A receiver of every status change from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<OrderEvent> {
        self.events.subscribe()
    }

    /// The positions and P&L so far, as the broker's statement shows them:
    /// every fill applied in the order the broker stamped it (orders are
    /// detected out of that order, and average-cost P&L depends on it),
    /// each on the trading day of its stamp.
    #[must_use]
    pub fn positions(&self) -> PositionBook {
        self.lock().statement()
    }

    /// Every fill applied to the positions, in order.
    #[must_use]
    pub fn applied(&self) -> Vec<AppliedFill> {
        self.lock().applied().to_vec()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn today(&self) -> i64 {
        self.clock.now().trading_day()
    }

    fn emit(
        &self,
        signal: &Signal,
        state: OrderState,
        order: Option<&Order>,
        at: Option<Timestamp>,
    ) {
        // Nobody listening: skip building an event that would be dropped.
        if self.events.receiver_count() == 0 {
            return;
        }
        let _ = self.events.send(OrderEvent {
            client_order_id: signal.client_order_id.clone(),
            trader_id: signal.trader_id.clone(),
            symbol: signal.symbol.clone(),
            order_id: order.map(|o| o.id.clone()),
            state,
            broker_status: order.map(|o| o.status.to_string()),
            filled_qty: order.map_or(Decimal::ZERO, |o| o.filled_qty),
            avg_price: order.and_then(|o| o.filled_avg_price),
            at: at.unwrap_or_else(|| self.clock.now()),
            reason: None,
        });
    }

    pub(super) fn audit(
        &self,
        signal: &Signal,
        event: AuditEvent,
        order_id: Option<&str>,
        fill: (Decimal, Option<Decimal>),
        status: &str,
        reason: &str,
    ) -> std::io::Result<()> {
        self.audit_at(
            signal,
            event,
            order_id,
            fill,
            status,
            reason,
            Stamps::default(),
        )
    }

    /// [`Self::audit`], with the broker's stamp of a fill and, for an exit
    /// leg, the entry it protects. A `submit` record of an order with
    /// exits carries them, for a restarted engine to watch.
    #[expect(
        clippy::too_many_arguments,
        reason = "one record's fields, named at each call; a struct would only rename them"
    )]
    fn audit_at(
        &self,
        signal: &Signal,
        event: AuditEvent,
        order_id: Option<&str>,
        (qty, price): (Decimal, Option<Decimal>),
        status: &str,
        reason: &str,
        stamps: Stamps<'_>,
    ) -> std::io::Result<()> {
        self.audit.record(audit_entry(
            signal,
            (event, order_id),
            (qty, price),
            (status, reason),
            stamps,
        ))
    }

    /// Validation and risk checks; on success the order is counted in
    /// flight and its buying power reserved.
    fn admit(&self, signal: &Signal, reference: Decimal) -> Result<Decimal, ExecutionError> {
        let today = self.today();
        let mut book = self.lock();
        validate(signal, reference, book.available(), &self.validation)?;
        let now = Instant::now();
        let exposure = book.exposure(signal, today, now);
        self.risk.check(signal, &exposure)?;
        Ok(book.reserve(signal, reference, now))
    }

    /// Books an order's outcome (`fill`: quantity, average price, the
    /// broker's stamp) into the book, giving back what [`Self::admit`]
    /// reserved. A price outside what the engine trades at is a broker's
    /// garbage, not a price: the fill is booked with its price unknown.
    pub(super) fn book_outcome(
        &self,
        signal: &Signal,
        reserved: Decimal,
        (filled, price, filled_at): (Decimal, Option<Decimal>, Option<Timestamp>),
        executions: &[Execution],
    ) {
        let today = self.today();
        let filled_at = filled_at.unwrap_or_else(|| self.clock.now());
        let price = price.filter(|p| {
            let sane = price_in_range(*p);
            if !sane {
                warn!(target: "fillproof::engine", client_order_id = %signal.client_order_id, price = %p,
                    "fill price out of range; booked with its price unknown");
            }
            sane
        });
        self.lock().book_outcome(
            signal,
            reserved,
            (filled, price, filled_at),
            executions,
            today,
        );
    }

    /// Takes `signal` through the lifecycle. `reference` is the price the
    /// trader expects (the market price for a market order).
    ///
    /// The phases: admit (validation and risk), record the intent in the
    /// audit log, place the order, watch it, book the outcome, record it.
    ///
    /// # Errors
    /// Validation, a risk rule, the audit log, or submission refused or
    /// failed the order; in each case the broker holds no order from it, or
    /// (for [`SubmitError::Unknown`]) it cannot be told whether it does.
    pub async fn execute(
        &self,
        signal: &Signal,
        reference: Decimal,
    ) -> Result<FillResult, ExecutionError> {
        let quote = self.latest_quote(signal).await;
        // Slippage control measures the market's moves from the touch the
        // order was sent against, or the trader's price without a quote.
        let baseline = match &quote {
            Some(Ok(quote)) => quote.touch(signal.side),
            _ => reference,
        };
        let quote = quote.filter(|_| signal.limit_price.is_some());
        let reserved = self.admit_or_refuse(signal, reference, quote)?;
        self.record_intent(signal, reserved)?;
        let route = self.detector.route(&signal.client_order_id);
        self.working.handed_over(signal);
        let submission = self.place(signal, reserved).await?;
        let prices = (signal.expected_price(reference), Some(baseline));
        Ok(self
            .see_through(signal, reserved, prices, submission, route)
            .await)
    }

    /// Watches the order `submission` placed (or found) for `signal` to
    /// its end, across its replace chain, then books and records the
    /// outcome and, for a bracket's entry that filled, watches its exits.
    /// `expected` is the price its slippage is measured from, `baseline`
    /// the touch slippage control measures moves from (`None`: neither).
    pub(super) async fn see_through(
        &self,
        signal: &Signal,
        reserved: Decimal,
        (expected, baseline): (Option<Decimal>, Option<Decimal>),
        submission: Submission,
        route: Option<Route>,
    ) -> FillResult {
        let order_id = submission.order.id.clone();
        let legs = submission.order.legs.clone();
        self.working.working(signal, &order_id);
        let result = self
            .watch(signal, (expected, baseline), submission, route)
            .await;
        let mut result = self.follow_replacements(signal, expected, result).await;
        self.working.done(&signal.client_order_id);
        let order_id = result.order_id.clone();
        self.book_outcome(
            signal,
            reserved,
            (result.filled_qty, result.avg_price, result.filled_at),
            &result.executions,
        );
        self.record_outcome(signal, None, &order_id, &result);
        // A bracket's or OTO's exits work once its entry filled whole.
        if signal.has_exits() && result.verdict == Verdict::Filled {
            let watch = (false, self.exits_watched_for);
            result.exits = self.watch_exits(signal, &order_id, legs, watch).await;
        }
        result
    }

    /// The latest quote of the signal's symbol, for a limit order when
    /// the executor checks prices against the market (`None`: not
    /// checked).
    async fn latest_quote(&self, signal: &Signal) -> Option<Result<Quote, ValidationError>> {
        let quotes = self
            .quotes
            .as_ref()
            .filter(|_| signal.limit_price.is_some() || self.slippage_guard.is_some())?;
        Some(quotes.quote(&signal.symbol).await.map_err(|error| {
            ValidationError::QuoteUnavailable {
                symbol: signal.symbol.clone(),
                reason: error.to_string(),
            }
        }))
    }

    /// Admission: the reservation, or the refusal audited and announced.
    fn admit_or_refuse(
        &self,
        signal: &Signal,
        reference: Decimal,
        quote: Option<Result<Quote, ValidationError>>,
    ) -> Result<Decimal, ExecutionError> {
        let checked = match quote {
            Some(Ok(quote)) => validate_against_quote(signal, &quote, &self.validation),
            Some(Err(error)) => Err(error),
            None => Ok(()),
        };
        checked
            .map_err(ExecutionError::from)
            .and_then(|()| self.admit(signal, reference))
            .inspect_err(|error| {
            let _ = self.audit(
                signal,
                AuditEvent::Refused,
                None,
                (signal.qty, signal.limit_price),
                "refused",
                &error.to_string(),
            );
            info!(target: "fillproof::engine", client_order_id = %signal.client_order_id, %error, "signal refused");
            self.emit(signal, OrderState::Rejected, None, None);
        })
    }

    /// The audit record written before anything is sent; when it cannot be
    /// written the reservation is given back and nothing is sent.
    fn record_intent(&self, signal: &Signal, reserved: Decimal) -> Result<(), ExecutionError> {
        if let Err(error) = self.audit(
            signal,
            AuditEvent::Submit,
            None,
            (signal.qty, signal.limit_price),
            "pending",
            "about to send",
        ) {
            self.book_outcome(signal, reserved, (Decimal::ZERO, None, None), &[]);
            self.emit(signal, OrderState::Failed, None, None);
            return Err(ExecutionError::Audit(error.to_string()));
        }
        self.emit(signal, OrderState::Pending, None, None);
        Ok(())
    }

    /// Idempotent submission; a failure is audited, its reservation given
    /// back and announced.
    async fn place(
        &self,
        signal: &Signal,
        reserved: Decimal,
    ) -> Result<Submission, ExecutionError> {
        let request = signal.request();
        match self.detector.submit(&request).await {
            Ok(submission) => Ok(submission),
            Err(error) => {
                self.working.done(&signal.client_order_id);
                Err(self.fail_submission(signal, reserved, error, ""))
            }
        }
    }

    /// An intent whose order was never placed (or whose placing could
    /// not be confirmed): the end audited (`context` before the error),
    /// its reservation given back, the end announced; returns the error.
    pub(super) fn fail_submission(
        &self,
        signal: &Signal,
        reserved: Decimal,
        error: SubmitError,
        context: &str,
    ) -> ExecutionError {
        let (event, state) = match error {
            SubmitError::Rejected { .. } => (AuditEvent::Reject, OrderState::Rejected),
            SubmitError::NotPlaced { .. }
            | SubmitError::Unknown { .. }
            | SubmitError::Shed { .. } => (AuditEvent::Failure, OrderState::Failed),
        };
        let _ = self.audit(
            signal,
            event,
            None,
            (signal.qty, None),
            "not placed",
            &format!("{context}{error}"),
        );
        self.book_outcome(signal, reserved, (Decimal::ZERO, None, None), &[]);
        self.emit(signal, state, None, None);
        error.into()
    }

    /// Records the placed order and watches it, announcing every change.
    async fn watch(
        &self,
        signal: &Signal,
        (expected, baseline): (Option<Decimal>, Option<Decimal>),
        submission: Submission,
        route: Option<Route>,
    ) -> FillResult {
        let _ = self.audit(
            signal,
            AuditEvent::Submitted,
            Some(&submission.order.id),
            (signal.qty, signal.limit_price),
            submission.order.status.as_str(),
            if submission.recovered_by_lookup {
                "found by client_order_id after a lost answer"
            } else {
                "accepted"
            },
        );
        self.emit(
            signal,
            OrderState::Submitted,
            Some(&submission.order),
            submission.order.updated_at,
        );
        let on_change =
            |order: &Order| self.emit(signal, OrderState::Working, Some(order), order.updated_at);
        let guard = super::trader::either(
            baseline.and_then(|baseline| self.slippage_guard_for(signal, baseline)),
            self.working.cancel_guard(&signal.client_order_id),
        );
        self.detector
            .monitor_guarded(submission, expected, Some(&on_change), route, guard)
            .await
    }

    /// The replacement `order_id`, read (a few tries: its read may be
    /// skipped under the call budget, or fail for a moment).
    async fn read_replacement(&self, order_id: &str) -> Option<Order> {
        for attempt in 0..5u32 {
            if let Ok(order) = self.detector.broker().get_order(order_id).await {
                return Some(order);
            }
            crate::time::sleep(Duration::from_millis(200) * (attempt + 1)).await;
        }
        None
    }

    /// Follows `result`'s order across its replace chain: while the
    /// broker shows the order watched `replaced`, its replacement is
    /// watched in its place (a trader's cancel still reaches it), and the
    /// results are added up.
    async fn follow_replacements(
        &self,
        signal: &Signal,
        expected: Option<Decimal>,
        mut result: FillResult,
    ) -> FillResult {
        while let Some(next) = result.replaced_by.clone() {
            let Some(order) = self.read_replacement(&next).await else {
                // The replacement cannot be read: the intent stays
                // unresolved rather than concluded.
                break;
            };
            self.working.working(signal, &order.id);
            let route = self.detector.route(&order.client_order_id);
            let submission = Submission {
                order,
                api_calls: crate::port::EndpointCounts::default(),
                retries: 0,
                recovered_by_lookup: false,
                overdue: false,
            };
            let guard = self.working.cancel_guard(&signal.client_order_id);
            let next_result = self
                .detector
                .monitor_guarded(submission, expected, None, route, guard)
                .await;
            result = result.followed_by(next_result);
        }
        result
    }

    /// The slippage control's guard on `signal`'s order, when the executor
    /// has one and market data to read: resolves when the touch has moved
    /// more than the limit against the order from `reference` (the touch it
    /// was sent against), or, for a stop or stop limit, from its stop (the
    /// market moving to the stop is what the order waits for; past it, the
    /// gap is its slippage). A trailing stop has none: its stop moves.
    fn slippage_guard_for(&self, signal: &Signal, reference: Decimal) -> Option<Guard> {
        let limits = self.slippage_guard?;
        let reference = match signal.order_type() {
            OrderType::TrailingStop => return None,
            OrderType::Stop | OrderType::StopLimit => signal.stop_price?,
            _ => reference,
        };
        let quotes = Arc::clone(self.quotes.as_ref()?);
        let symbol = signal.symbol.clone();
        let side = signal.side;
        Some(Box::pin(async move {
            // Bounded by the watch: it drops the guard when it ends.
            loop {
                crate::time::sleep(limits.every).await;
                // A quote that cannot be read moves nothing.
                let Ok(quote) = quotes.quote(&symbol).await else {
                    continue;
                };
                let (name, touch) = (Quote::touch_name(side), quote.touch(side));
                // Up for a buy, down for a sell: against the order.
                let against = side.sign() * (touch - reference);
                let moved_bps = (against / reference * Decimal::from(10_000)).round_dp(1);
                if moved_bps > limits.max_bps {
                    return format!(
                        "slippage control: the {name} moved to {}, {moved_bps} bps against the \
                         {} it was sent at; max_slippage is {} bps",
                        money(touch),
                        money(reference),
                        limits.max_bps
                    );
                }
            }
        }))
    }

    /// The record of how the cancel that ended the watch went: sent
    /// early (a trader's cancel, slippage control, the other exit's fill:
    /// the reason says which), or at the deadline.
    fn record_cancel(
        &self,
        signal: &Signal,
        order_id: &str,
        result: &FillResult,
        cancel: &CancelOutcome,
        stamps: Stamps<'_>,
    ) {
        let _ = self.audit_at(
            signal,
            AuditEvent::Cancel,
            Some(order_id),
            (signal.qty, None),
            if result.stopped.is_some() {
                "stopped"
            } else {
                "deadline"
            },
            &result.stopped.as_ref().map_or_else(
                || cancel_note(cancel),
                |why| format!("{why}; {}", cancel_note(cancel)),
            ),
            stamps,
        );
    }

    /// The audit records of how the order ended (the deadline's cancel,
    /// every fill booked, the verdict) and the last event; an exit leg's
    /// records name the entry it protects (`exit_of`).
    pub(super) fn record_outcome(
        &self,
        signal: &Signal,
        exit_of: Option<&str>,
        order_id: &str,
        result: &FillResult,
    ) {
        let stamps = |broker_at| Stamps {
            broker_at,
            exit_of,
            executions: &[],
        };
        let fill_stamps = |broker_at| Stamps {
            executions: &result.executions,
            ..stamps(broker_at)
        };
        if let Some(cancel) = &result.cancel {
            self.record_cancel(signal, order_id, result, cancel, stamps(None));
        }
        let (event, state, status) = verdict_record(result.verdict);
        if event != AuditEvent::Fill && result.filled_qty > Decimal::ZERO {
            // The order ended otherwise, but quantity was booked: the audit
            // log records every fill the positions hold.
            let _ = self.audit_at(
                signal,
                AuditEvent::Fill,
                Some(order_id),
                (result.filled_qty, result.avg_price),
                if result.filled_qty < result.qty {
                    OrderStatus::PartiallyFilled.as_str()
                } else {
                    OrderStatus::Filled.as_str()
                },
                &result.reason,
                fill_stamps(result.filled_at),
            );
        }
        let _ = self.audit_at(
            signal,
            event,
            Some(order_id),
            (result.filled_qty, result.avg_price),
            status.as_str(),
            &result.reason,
            if event == AuditEvent::Fill {
                fill_stamps(result.filled_at)
            } else {
                stamps(None)
            },
        );
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(OrderEvent {
                client_order_id: signal.client_order_id.clone(),
                trader_id: signal.trader_id.clone(),
                symbol: signal.symbol.clone(),
                order_id: Some(order_id.to_owned()),
                state,
                broker_status: None,
                filled_qty: result.filled_qty,
                avg_price: result.avg_price,
                at: self.clock.now(),
                reason: Some(result.reason.clone()),
            });
        }
    }
}

/// The record of `event` about `signal`'s order (`order_id`, once
/// known): what filled (or was ordered) and at what price, its status and
/// why, and what it carries beside. A `submit` record of an order with
/// exits carries them, for a restarted engine to watch.
fn audit_entry(
    signal: &Signal,
    (event, order_id): (AuditEvent, Option<&str>),
    (qty, price): (Decimal, Option<Decimal>),
    (status, reason): (&str, &str),
    stamps: Stamps<'_>,
) -> AuditEntry {
    let exits = if event == AuditEvent::Submit {
        ExitPrices {
            stop_loss: signal.stop_loss,
            take_profit: signal.take_profit,
        }
    } else {
        ExitPrices::default()
    };
    AuditEntry {
        event,
        trader_id: signal.trader_id.clone(),
        client_order_id: signal.client_order_id.clone(),
        order_id: order_id.map(str::to_owned),
        symbol: signal.symbol.clone(),
        side: signal.side,
        qty,
        price,
        status: status.to_owned(),
        reason: reason.to_owned(),
        broker_at: stamps.broker_at,
        exits,
        exit_of: stamps.exit_of.map(str::to_owned),
        executions: match stamps.executions {
            [_, _, ..] => stamps
                .executions
                .iter()
                .map(|e| (e.qty, e.price, e.at))
                .collect(),
            _ => Vec::new(),
        },
    }
}

/// The hook that journals every cancel a watch sends, before it leaves
/// (a `cancel` record, status `pending_cancel`, saying why), under the
/// intent (or exit leg) the order works for.
fn cancel_journal(audit: Arc<AuditLog>, working: Arc<Working>) -> BeforeCancel {
    Arc::new(move |order: &Order, why: &str| {
        let Some((signal, exit_of)) = working.signal_of(&order.client_order_id) else {
            return;
        };
        let _ = audit.record(audit_entry(
            &signal,
            (AuditEvent::Cancel, Some(&order.id)),
            (order.qty, None),
            (PENDING_CANCEL, &format!("about to send a cancel: {why}")),
            Stamps {
                exit_of: exit_of.as_deref(),
                ..Stamps::default()
            },
        ));
    })
}

/// What a record carries beside its fields: the broker's stamp of a
/// fill and its executions, and for an exit leg the `client_order_id` of
/// its entry.
#[derive(Debug, Clone, Copy, Default)]
struct Stamps<'a> {
    broker_at: Option<crate::port::Timestamp>,
    exit_of: Option<&'a str>,
    /// A fill record's executions (written when there are more than one).
    executions: &'a [Execution],
}

/// How the deadline's cancel went, for the audit log.
fn cancel_note(cancel: &CancelOutcome) -> String {
    match cancel {
        CancelOutcome::Accepted => "cancel accepted".to_owned(),
        CancelOutcome::AlreadyFilled => "cancel refused: already filled".to_owned(),
        CancelOutcome::Refused(e) => format!("cancel refused: {e}"),
        CancelOutcome::Unknown(e) => format!("cancel unanswered: {e}"),
    }
}

/// A verdict's audit event, lifecycle state and the status recorded.
fn verdict_record(verdict: Verdict) -> (AuditEvent, OrderState, OrderStatus) {
    match verdict {
        Verdict::Filled => (AuditEvent::Fill, OrderState::Filled, OrderStatus::Filled),
        Verdict::PartiallyFilled => (
            AuditEvent::Fill,
            OrderState::PartiallyFilled,
            OrderStatus::Canceled,
        ),
        Verdict::NotFilled => (
            AuditEvent::NotFilled,
            OrderState::NotFilled,
            OrderStatus::Canceled,
        ),
        Verdict::Rejected => (
            AuditEvent::Reject,
            OrderState::Rejected,
            OrderStatus::Rejected,
        ),
        Verdict::Unresolved => (
            AuditEvent::Failure,
            OrderState::Failed,
            OrderStatus::Unknown("unresolved".into()),
        ),
    }
}
