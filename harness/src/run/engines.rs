//! The engines under test: the fillproof engine, and baselines kept as
//! what-not-to-do so the harness can show what they get wrong.
//!
//! - `robust`: the [`OrderExecutor`] with the [`RobustVerifier`].
//! - `seed-literal`: the same lifecycle with [`LiteralVerifier`], the original
//!   specification's literal rule that ANY of four methods confirms a fill.
//!   A partial fill has a positive price and a fill stamp, so it "confirms"
//!   a full fill that never happened.
//! - `naive`: the original `_wait_for_fill`, as it was: one submit, then the
//!   status field only; it cancels at the deadline and takes a failed cancel
//!   for "no fill". No bug is added to it.
//! - `naive-retry`: the same detector behind the retry policy the most
//!   common Python client applies on its own: every call, POST included, is
//!   retried on 429 and 504, three times, 3 s apart, without looking the
//!   order up first. The bot sends no client order id, so each retry is a
//!   new order to the broker (modelled as a fresh `-rN` id).

use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::clock::{sleep, sleep_until};
use fillproof_engine::{
    AuditEvent, AuditLog, AuditRecord, AuditSink, Broker, BrokerError, CallError, Clock, Decimal,
    ExecutionError, ExecutorConfig, FillDetectionConfig, FillState, FillVerifier, Order,
    OrderExecutor, OrderRequest, OrderStatus, RobustVerifier, Signal, SubmitError, Verdict,
    Verification,
};
use fillproof_simulator::EngineKind;
use tokio::time::Instant;

/// The literal rule of the original specification: a fill is confirmed
/// when ANY of status, `filled_qty >= qty`, a positive average price or a
/// fill stamp says so, and it is taken to be the whole quantity.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiteralVerifier;

impl FillVerifier for LiteralVerifier {
    fn verify(&self, order: &Order) -> Verification {
        let methods = RobustVerifier::methods(order);
        let any = methods.status || methods.filled_qty || methods.avg_price || methods.filled_at;
        let (state, filled_qty) = if any {
            (FillState::Full, order.qty)
        } else {
            (FillState::None, Decimal::ZERO)
        };
        Verification {
            state,
            methods,
            filled_qty,
            avg_price: order.filled_avg_price,
            filled_at: order.filled_at,
        }
    }
}

/// What an engine's audit log held, in the form the metrics need: which
/// intents have a `submit` and a `fill` record, and the lines themselves
/// when asked to keep them (for `run --audit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSummary {
    /// Client order ids with a `submit` record.
    pub submitted: indexmap::IndexSet<String, fillproof_engine::StableBuildHasher>,
    /// Client order ids with a `fill` record.
    pub filled: indexmap::IndexSet<String, fillproof_engine::StableBuildHasher>,
    /// Every line, when kept.
    pub lines: Option<Vec<String>>,
}

/// An audit sink that keeps the summary (and the lines on request) in
/// memory: a simulated run writes no files while it runs. As a crashing
/// run's journal, it keeps every line and what of them is durable.
#[derive(Debug, Clone, Default)]
pub struct AuditCollector {
    summary: Arc<std::sync::Mutex<AuditSummary>>,
    disk: Arc<std::sync::Mutex<Disk>>,
}

/// What of the journal a crash would keep: the lines synced, under the
/// journal's sync policy.
#[derive(Debug, Clone, Copy, Default)]
struct Disk {
    /// When records are synced.
    durability: fillproof_engine::Durability,
    /// Lines synced.
    durable: usize,
    /// Lines written since the last sync.
    unsynced: u32,
}

impl AuditCollector {
    /// A collector; `keep_lines` keeps every line too.
    #[must_use]
    pub fn new(keep_lines: bool) -> Self {
        Self {
            summary: Arc::new(std::sync::Mutex::new(AuditSummary {
                lines: keep_lines.then(Vec::new),
                ..AuditSummary::default()
            })),
            disk: Arc::default(),
        }
    }

    /// A collector kept as a journal a crash can cut: every line kept,
    /// synced as `durability` says.
    #[must_use]
    pub fn journal(durability: fillproof_engine::Durability) -> Self {
        let collector = Self::new(true);
        collector.disk().durability = durability;
        collector
    }

    fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.disk
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What was collected.
    #[must_use]
    pub fn summary(&self) -> AuditSummary {
        self.summary.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A crash: the lines not yet synced are lost, and with `torn` the
    /// write under way is cut short (half a line, no newline). Returns the
    /// journal as the restarted engine reads it; the collector keeps the
    /// lines that survived (the restarted engine's log cuts the torn write
    /// off before it appends).
    #[must_use]
    pub fn crash(&self, torn: bool) -> String {
        let durable = self.disk().durable;
        let mut summary = self
            .summary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let lines = summary.lines.get_or_insert_with(Vec::new);
        let interrupted = lines.get(durable).or(lines.last()).cloned();
        lines.truncate(durable);
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        if let Some(line) = interrupted.filter(|_| torn) {
            let cut = line.len() / 2;
            text.push_str(line.get(..cut).unwrap_or_default());
        }
        let records: Vec<AuditRecord> = lines
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        summary.submitted.clear();
        summary.filled.clear();
        for record in records {
            note_record(&mut summary, &record);
        }
        self.disk().unsynced = 0;
        text
    }
}

/// Notes in `summary` which intents `record` says were submitted or filled.
fn note_record(summary: &mut AuditSummary, record: &AuditRecord) {
    match record.event {
        AuditEvent::Submit => {
            summary.submitted.insert(record.client_order_id.clone());
        }
        AuditEvent::Fill => {
            summary.filled.insert(record.client_order_id.clone());
        }
        _ => {}
    }
}

impl AuditSink for AuditCollector {
    fn append(&mut self, record: &AuditRecord, line: &str) -> std::io::Result<()> {
        let mut summary = self
            .summary
            .lock()
            .map_err(|_| std::io::Error::other("audit collector poisoned"))?;
        note_record(&mut summary, record);
        if let Some(lines) = &mut summary.lines {
            lines.push(line.to_owned());
            let written = lines.len();
            let mut disk = self.disk();
            disk.unsynced += 1;
            if disk.durability.syncs(record, disk.unsynced) {
                disk.durable = written;
                disk.unsynced = 0;
            }
        }
        Ok(())
    }
}

/// What an engine concluded about one order.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineVerdict {
    /// The verdict; a signal refused before sending, or an order the broker
    /// refused, is `Rejected`; a submission whose fate is unknown is
    /// `Unresolved`.
    pub verdict: Verdict,
    /// Filled quantity the engine reports.
    pub filled_qty: Decimal,
    /// Average price the engine reports.
    pub avg_price: Option<Decimal>,
    /// True when the deadline came before the engine settled the order.
    pub deadline_reached: bool,
    /// True when validation or a risk rule refused the signal: nothing was
    /// sent.
    pub refused: bool,
    /// Why, in a sentence.
    pub reason: String,
    /// The broker id of the order the engine watched, if it got one.
    pub order_id: Option<String>,
    /// The call error that reached the trader as the outcome, when the
    /// order ended on one (a submission that failed, or one the call
    /// budget shed unsent).
    pub broker_error: Option<CallError>,
    /// When the engine reached its verdict, when it says so; otherwise the
    /// verdict was reached when the engine returned it.
    pub decided_at: Option<Instant>,
    /// What the engine reported of each exit leg of a bracket whose entry
    /// filled (empty for any other order, and for an engine that watches
    /// no legs).
    pub exits: Vec<ExitClaim>,
}

/// What an engine reported of one exit leg.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitClaim {
    /// The leg's broker id.
    pub order_id: String,
    /// The leg's side (the other side from its entry's, for a bracket).
    pub side: fillproof_engine::Side,
    /// Filled quantity the engine reports.
    pub filled_qty: Decimal,
    /// Average price the engine reports.
    pub avg_price: Option<Decimal>,
    /// When the engine concluded about the leg, since the run began.
    pub concluded_at: Option<Duration>,
    /// When it concluded, on the runtime's clock.
    pub decided_at: Instant,
}

impl ExitClaim {
    /// What the engine reported of the exit leg `exit`.
    #[must_use]
    pub fn of(exit: &fillproof_engine::FillResult) -> Self {
        Self {
            order_id: exit.order_id.clone(),
            side: exit.side,
            filled_qty: exit.filled_qty,
            avg_price: exit.avg_price,
            concluded_at: None,
            decided_at: exit.decided_at,
        }
    }
}

/// An engine ready to execute orders against broker `B`.
pub enum Engine<B> {
    /// The fillproof engine, or the seed-literal baseline (same lifecycle,
    /// other verifier), with what its audit log wrote.
    Executor(OrderExecutor<B>, AuditCollector),
    /// The naive baseline.
    Naive(NaiveEngine<B>),
}

impl<B: fillproof_engine::Broker + 'static> Engine<B> {
    /// The engine's event stream, for an engine that has one.
    #[must_use]
    pub fn events(&self) -> Option<tokio::sync::broadcast::Receiver<fillproof_engine::OrderEvent>> {
        match self {
            Self::Executor(executor, _) => Some(executor.subscribe()),
            Self::Naive(_) => None,
        }
    }
}

impl<B> Clone for Engine<B> {
    fn clone(&self) -> Self {
        match self {
            Self::Executor(e, sink) => Self::Executor(e.clone(), sink.clone()),
            Self::Naive(n) => Self::Naive(n.clone()),
        }
    }
}

impl<B: Broker + 'static> Engine<B> {
    /// The engine of `kind` over `broker`, with `config`, stamping with
    /// `clock` and drawing jitter from `seed`.
    ///
    /// # Errors
    /// A configuration out of range.
    pub fn new(
        kind: EngineKind,
        broker: Arc<B>,
        config: ExecutorConfig,
        clock: Arc<dyn Clock>,
        seed: u64,
        keep_audit_lines: bool,
    ) -> Result<Self, fillproof_engine::ConfigError> {
        Self::with_audit_key(kind, broker, config, clock, seed, keep_audit_lines, None)
    }

    /// [`Engine::new`], its audit log chained with HMAC-SHA256 under
    /// `audit_key` (keyless SHA-256 when `None`).
    ///
    /// # Errors
    /// A configuration out of range.
    pub fn with_audit_key(
        kind: EngineKind,
        broker: Arc<B>,
        config: ExecutorConfig,
        clock: Arc<dyn Clock>,
        seed: u64,
        keep_audit_lines: bool,
        audit_key: Option<fillproof_engine::AuditKey>,
    ) -> Result<Self, fillproof_engine::ConfigError> {
        let sink = AuditCollector::new(keep_audit_lines);
        Self::build(kind, broker, config, (clock, seed), (sink, audit_key), None)
    }

    /// The engine of `kind` over `broker`, with `config`, stamping with
    /// the clock and drawing jitter from the seed, writing its audit log
    /// to `sink` (chained under the key, when given): after `journal`,
    /// when it restarts from one.
    ///
    /// # Errors
    /// A configuration out of range.
    pub fn build(
        kind: EngineKind,
        broker: Arc<B>,
        config: ExecutorConfig,
        (clock, seed): (Arc<dyn Clock>, u64),
        (sink, audit_key): (AuditCollector, Option<fillproof_engine::AuditKey>),
        journal: Option<&fillproof_engine::Journal>,
    ) -> Result<Self, fillproof_engine::ConfigError> {
        if matches!(kind, EngineKind::Naive | EngineKind::NaiveRetry) {
            config.detection.validate()?;
            return Ok(Self::Naive(NaiveEngine {
                broker,
                config: config.detection,
                retry: kind == EngineKind::NaiveRetry,
                placed: Arc::default(),
            }));
        }
        let audit = Arc::new(match journal {
            Some(journal) => AuditLog::resume(
                Box::new(sink.clone()),
                Arc::clone(&clock),
                audit_key,
                journal,
            ),
            None => AuditLog::with_key(Box::new(sink.clone()), Arc::clone(&clock), audit_key),
        });
        let mut executor = OrderExecutor::new(broker, config, audit, clock, seed)?;
        if kind == EngineKind::SeedLiteral {
            executor = executor.with_verifier(Arc::new(LiteralVerifier));
        }
        Ok(Self::Executor(executor, sink))
    }

    /// Feeds the executor `source`'s trade updates (the naive baselines
    /// only poll). Call it inside the run's runtime.
    #[must_use]
    pub fn listening_to(self, source: &dyn fillproof_engine::TradeUpdates) -> Self {
        match self {
            Self::Executor(executor, sink) => {
                Self::Executor(executor.with_trade_updates(source), sink)
            }
            naive @ Self::Naive(_) => naive,
        }
    }

    /// Has the executor check every limit price against `market`'s latest
    /// quote before sending it (the naive baselines check nothing).
    #[must_use]
    pub fn reading_quotes<M: fillproof_engine::MarketData + 'static>(self, market: Arc<M>) -> Self {
        match self {
            Self::Executor(executor, sink) => {
                Self::Executor(executor.with_market_data(market), sink)
            }
            naive @ Self::Naive(_) => naive,
        }
    }

    /// Places and watches one order.
    pub async fn execute(&self, signal: &Signal, expected_price: Decimal) -> EngineVerdict {
        match self {
            Self::Executor(executor, _) => {
                verdict_of(executor.execute(signal, expected_price).await)
            }
            Self::Naive(naive) => naive.execute(&signal.request()).await,
        }
    }
}

/// What the executor's outcome for one intent says, as the harness files
/// it: a signal refused before sending, or an order the broker refused, is
/// `Rejected`; one never placed `NotFilled`; one whose fate is unknown
/// `Unresolved`.
pub fn verdict_of(outcome: Result<fillproof_engine::FillResult, ExecutionError>) -> EngineVerdict {
    match outcome {
        Ok(result) => EngineVerdict {
            verdict: result.verdict,
            filled_qty: result.filled_qty,
            avg_price: result.avg_price,
            deadline_reached: result.deadline_reached,
            refused: false,
            reason: result.reason,
            order_id: Some(result.order_id),
            broker_error: None,
            decided_at: Some(result.decided_at),
            exits: result.exits.iter().map(ExitClaim::of).collect(),
        },
        Err(error) => EngineVerdict {
            verdict: match &error {
                ExecutionError::Validation(_) | ExecutionError::Risk(_) => Verdict::Rejected,
                ExecutionError::Submit(SubmitError::Rejected { .. }) => Verdict::Rejected,
                // The broker confirmed it holds no such order, or the
                // engine shed it unsent.
                ExecutionError::Submit(
                    SubmitError::NotPlaced { .. } | SubmitError::Shed { .. },
                ) => Verdict::NotFilled,
                ExecutionError::Submit(SubmitError::Unknown { .. }) | ExecutionError::Audit(_) => {
                    Verdict::Unresolved
                }
            },
            filled_qty: Decimal::ZERO,
            avg_price: None,
            deadline_reached: false,
            refused: matches!(
                error,
                ExecutionError::Validation(_) | ExecutionError::Risk(_)
            ),
            reason: error.to_string(),
            order_id: None,
            broker_error: match &error {
                ExecutionError::Submit(
                    SubmitError::Rejected { source: last, .. }
                    | SubmitError::NotPlaced { last, .. }
                    | SubmitError::Unknown { last, .. },
                ) => Some(CallError::Broker(last.clone())),
                // A shed submission carries the budget's refusal.
                ExecutionError::Submit(SubmitError::Shed { max_wait, .. }) => {
                    Some(CallError::NotSent {
                        max_wait: *max_wait,
                    })
                }
                _ => None,
            },
            decided_at: None,
            exits: Vec::new(),
        },
    }
}

impl<B: Broker + 'static> Engine<B> {
    /// The trader cancels the working order of `client_order_id`: the
    /// executor verifies it; the naive baseline sends the cancel once and
    /// reads on. False when the engine has no such working order.
    pub async fn cancel(&self, client_order_id: &str) -> bool {
        match self {
            Self::Executor(executor, _) => executor.cancel(client_order_id),
            Self::Naive(naive) => match naive.placed_id(client_order_id) {
                Some(id) => naive.broker.cancel_order(&id).await.is_ok(),
                None => false,
            },
        }
    }

    /// The trader replaces the working order of `client_order_id` with a
    /// new limit: the executor makes it idempotent and follows the chain;
    /// the naive baseline sends it once, blindly, and watches the old
    /// order on. True when the broker answered the replace.
    pub async fn replace(&self, client_order_id: &str, limit_price: Decimal) -> bool {
        let change = fillproof_engine::ReplaceRequest {
            limit_price: Some(limit_price),
            ..fillproof_engine::ReplaceRequest::default()
        };
        match self {
            Self::Executor(executor, _) => executor.replace(client_order_id, change).await.is_ok(),
            Self::Naive(naive) => match naive.placed_id(client_order_id) {
                Some(id) => naive.broker.replace_order(&id, &change).await.is_ok(),
                None => false,
            },
        }
    }
}

impl<B> NaiveEngine<B> {
    /// Notes the broker id `client_order_id` was placed under, for its
    /// trader; gives the order back.
    fn note_placed(&self, client_order_id: &str, order: Order) -> Order {
        self.placed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(client_order_id.to_owned(), order.id.clone());
        order
    }

    /// The broker id `client_order_id` was placed under.
    fn placed_id(&self, client_order_id: &str) -> Option<String> {
        self.placed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(client_order_id)
            .cloned()
    }
}

/// The original status-only fill detector, kept to measure what it misses;
/// with `retry`, behind the Python client's own retry policy.
pub struct NaiveEngine<B> {
    broker: Arc<B>,
    config: FillDetectionConfig,
    retry: bool,
    /// The broker id each order was placed under, by client order id, for
    /// the trader's cancels and replaces.
    placed: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
}

impl<B> Clone for NaiveEngine<B> {
    fn clone(&self) -> Self {
        Self {
            broker: Arc::clone(&self.broker),
            config: self.config.clone(),
            retry: self.retry,
            placed: Arc::clone(&self.placed),
        }
    }
}

/// Retries the Python client makes of a call answered 429 or 504.
const CLIENT_RETRIES: u32 = 3;

/// The Python client's fixed wait between those retries.
const CLIENT_RETRY_WAIT: Duration = Duration::from_secs(3);

/// True for the answers the Python client retries on its own.
fn client_retries(error: &BrokerError) -> bool {
    matches!(
        error,
        BrokerError::RateLimited { .. } | BrokerError::Server { status: 504, .. }
    )
}

impl<B: Broker> NaiveEngine<B> {
    /// One call as the bot makes it: once, or with `retry` up to three more
    /// times on 429 and 504, 3 s apart. `attempt` builds the call for the
    /// attempt's number.
    async fn call<T, F>(&self, mut attempt: impl FnMut(u32) -> F) -> Result<T, BrokerError>
    where
        F: std::future::Future<Output = Result<T, BrokerError>>,
    {
        let mut number = 0;
        loop {
            match attempt(number).await {
                Err(error) if self.retry && number < CLIENT_RETRIES && client_retries(&error) => {
                    number += 1;
                    sleep(CLIENT_RETRY_WAIT).await;
                }
                other => return other,
            }
        }
    }

    async fn execute(&self, request: &OrderRequest) -> EngineVerdict {
        let not_filled =
            |reason: &str, order_id: Option<String>, deadline_reached: bool| EngineVerdict {
                verdict: Verdict::NotFilled,
                filled_qty: Decimal::ZERO,
                avg_price: None,
                deadline_reached,
                refused: false,
                reason: reason.to_owned(),
                order_id,
                broker_error: None,
                decided_at: None,
                exits: Vec::new(),
            };
        let submitted = self
            .call(|attempt| {
                let mut attempt_request = request.clone();
                if attempt > 0 {
                    // The bot sent no client order id: to the broker each
                    // retry is a new order.
                    attempt_request.client_order_id =
                        format!("{}-r{attempt}", request.client_order_id);
                }
                async move { self.broker.submit_order(&attempt_request).await }
            })
            .await;
        let order = match submitted {
            Ok(order) => self.note_placed(&request.client_order_id, order),
            Err(error) => {
                return EngineVerdict {
                    broker_error: Some(CallError::Broker(error)),
                    ..not_filled("submit failed", None, false)
                };
            }
        };
        let start = Instant::now();
        let deadline = start + self.config.timeout;
        let mut strategy = self.config.polling.build();
        let mut polls = 0;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let interval = strategy.next_interval(fillproof_engine::PollContext {
                polls_done: polls,
                elapsed: now - start,
                remaining: deadline - now,
                // The naive detector never tracks changes.
                polls_since_change: polls,
            });
            sleep_until((now + interval).min(deadline)).await;
            polls += 1;
            if let Ok(read) = self.call(|_| self.broker.get_order(&order.id)).await {
                match read.status {
                    OrderStatus::Filled => {
                        return EngineVerdict {
                            verdict: Verdict::Filled,
                            filled_qty: read.qty,
                            avg_price: read.filled_avg_price,
                            deadline_reached: false,
                            refused: false,
                            reason: "status reads filled".into(),
                            order_id: Some(order.id),
                            broker_error: None,
                            decided_at: None,
                            exits: Vec::new(),
                        };
                    }
                    OrderStatus::Canceled | OrderStatus::Expired | OrderStatus::Rejected => {
                        return not_filled("status reads terminal", Some(order.id), false);
                    }
                    _ => {}
                }
            }
        }
        // Whatever the cancel answers, the naive detector reports no fill:
        // "already filled" is taken as a failed cancel.
        let _ = self.call(|_| self.broker.cancel_order(&order.id)).await;
        not_filled("timed out; cancelled", Some(order.id), true)
    }
}
