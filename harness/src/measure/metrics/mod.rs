//! Metrics: each order's engine verdict against the ledger, with the
//! definitions of DESIGN.md.
//!
//! An intent's truth is what the broker filled for it across every broker
//! order that carries its client order id (retries that made duplicates
//! included), at the end of the run.

use std::time::Duration;

use fillproof_engine::{BrokerError, Decimal, Timestamp, Verdict};
use fillproof_simulator::judge::{self, Claim, ClaimCheck};
use fillproof_simulator::{Endpoint, LedgerOrder, SubmitRefusal};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::runner::SeedRun;

/// One order compared with the truth. The rules that judge it are
/// [`fillproof_simulator::judge`]'s, the ones `fillproof serve` judges a
/// bot's claims by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderCheck {
    /// Workload index.
    pub index: u32,
    /// What the broker filled for the intent by the end of the run.
    pub ledger_qty: Decimal,
    /// What the broker had filled for the intent when the engine concluded
    /// (the end of the run, for an engine that never concluded).
    pub ledger_qty_at_conclusion: Decimal,
    /// What the engine reported.
    pub engine_qty: Decimal,
    /// Broker orders placed for the intent.
    pub broker_orders: u32,
    /// Virtual time of the fill that completed the ledger quantity.
    pub filled_at: Option<Duration>,
    /// Engine detection latency in milliseconds (conclusion − the last fill
    /// it reports), for correctly detected fills; signed, never clamped.
    pub latency_ms: Option<f64>,
    /// True when a broker order of the intent was still open when the
    /// engine concluded.
    pub open_at_conclusion: bool,
    /// Whether the average price the engine reported differs from the
    /// ledger's for the quantity it reported
    /// ([`judge::price_mismatch`]); `None` when it reported no price, or
    /// nothing filled.
    pub price_mismatch: Option<bool>,
}

impl OrderCheck {
    /// The engine's verdict as the judge sees it: a claim of `engine_qty`
    /// made at the conclusion.
    fn claim(&self) -> ClaimCheck {
        ClaimCheck {
            filled: self.ledger_qty,
            filled_when_claimed: self.ledger_qty_at_conclusion,
            claimed: self.engine_qty,
            open_when_claimed: self.open_at_conclusion,
            earlier_false_positive: false,
        }
    }

    /// The broker filled some quantity.
    #[must_use]
    pub fn filled(&self) -> bool {
        self.claim().filled()
    }

    /// The engine claimed more than the broker had filled when it
    /// concluded: a phantom or premature fill.
    #[must_use]
    pub fn false_positive(&self) -> bool {
        self.claim().false_positive()
    }

    /// The broker filled more than the engine reported.
    #[must_use]
    pub fn missed(&self) -> bool {
        self.claim().missed()
    }

    /// A fill reported with the ledger's exact quantity, and not before
    /// the broker had made it.
    #[must_use]
    pub fn detected(&self) -> bool {
        self.claim().detected()
    }

    /// The engine concluded while the broker still had the order open, or
    /// the broker filled after the conclusion and the engine never
    /// reported it.
    #[must_use]
    pub fn abandoned(&self) -> bool {
        self.claim().abandoned()
    }
}

/// The intent index a client order id belongs to: the workload's id,
/// possibly with a `-rN` retry suffix.
fn intent_of(client_order_id: &str, prefix: &str) -> Option<u32> {
    let rest = client_order_id.strip_prefix(prefix)?;
    let digits = rest.split('-').next()?;
    digits.parse().ok()
}

/// Maps broker orders and client order ids of one seed run back to the
/// workload intent they belong to.
pub struct IntentIds {
    prefix: String,
    count: usize,
}

impl IntentIds {
    /// The mapping for `run`.
    #[must_use]
    pub fn new(run: &SeedRun) -> Self {
        Self {
            prefix: format!("fp-{:x}-", run.seed),
            count: run.outcomes.len(),
        }
    }

    /// The intent of a client order id, when it is one of this run's.
    #[must_use]
    pub fn of_client_id(&self, client_order_id: &str) -> Option<usize> {
        intent_of(client_order_id, &self.prefix)
            .map(|i| i as usize)
            .filter(|i| *i < self.count)
    }

    /// The intent of a broker order: its registered index, or its client
    /// order id.
    #[must_use]
    pub fn of_order(&self, order: &fillproof_simulator::LedgerOrder) -> Option<usize> {
        order
            .index
            .map(|i| i as usize)
            .filter(|i| *i < self.count)
            .or_else(|| self.of_client_id(&order.client_order_id))
    }
}

/// Compares every order of a seed run with its ledger: the engine's
/// verdict is one claim, made when it concluded (the end of the run, for an
/// engine that never concluded), about every broker order of its intent,
/// judged by [`judge::judge_order`].
#[must_use]
pub fn check_orders(run: &SeedRun) -> Vec<OrderCheck> {
    let ids = IntentIds::new(run);
    let mut broker_orders: Vec<Vec<&LedgerOrder>> = vec![Vec::new(); run.outcomes.len()];
    for order in run.ledger.orders() {
        if let Some(slot) = ids.of_order(order) {
            broker_orders[slot].push(order);
        }
    }
    run.outcomes
        .iter()
        .zip(&broker_orders)
        .enumerate()
        .map(|(slot, (outcome, orders))| {
            let claim = Claim {
                qty: outcome.verdict.filled_qty,
                avg_price: outcome.verdict.avg_price,
                at: outcome.concluded_at.unwrap_or(run.ended_at),
            };
            // The order the engine watched names the fills its price is
            // judged against, when it is one of the intent's.
            let watched = outcome
                .verdict
                .order_id
                .as_deref()
                .and_then(|id| run.ledger.by_id(id))
                .filter(|o| ids.of_order(o) == Some(slot));
            let judged = judge::judge_order(orders, watched, &[], Some(&claim), run.ended_at);
            let check = judged.check;
            OrderCheck {
                index: outcome.index,
                ledger_qty: check.filled,
                ledger_qty_at_conclusion: check.filled_when_claimed,
                engine_qty: check.claimed,
                broker_orders: u32::try_from(orders.len()).unwrap_or(u32::MAX),
                filled_at: judged.last_fill_at,
                latency_ms: judged.latency_ms(outcome.concluded_at),
                open_at_conclusion: check.open_when_claimed,
                price_mismatch: judged.price_mismatch,
            }
        })
        .collect()
}

/// Percentiles of detection latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (milliseconds); `None` when
    /// there are none.
    #[must_use]
    pub fn of(mut values: Vec<f64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
            values[index]
        };
        Some(Self {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: values[values.len() - 1],
        })
    }
}

/// Intents taken for execution that never became a broker order, by the
/// cause the broker saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotPlaced {
    /// The broker's rate limit refused the last attempt.
    pub rate_limit: u64,
    /// The broker was in an outage at the last attempt.
    pub outage: u64,
    /// The broker refused the order itself (403, 422).
    pub rejected_by_broker: u64,
    /// The engine shed it before sending: its call budget had no turn for
    /// the submission within the longest wait (the engine's word, checked:
    /// the broker holds no order for it).
    pub shed: u64,
    /// The engine stopped trying (or never sent) for any other reason.
    pub gave_up: u64,
}

impl NotPlaced {
    /// All of them.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.rate_limit + self.outage + self.rejected_by_broker + self.shed + self.gave_up
    }
}

/// The metrics of DESIGN.md over one or more seed runs. A metric an engine
/// cannot produce (the naive baselines keep no position book, no audit log
/// and do no reconciliation) is `None`: `null` in JSON, `n/a` in tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Intents in the workload that the run started.
    pub orders: u64,
    /// Intents of the workload the run never started: `limits.max_virtual_time`
    /// ended the run before their submission time.
    pub orders_unrun: u64,
    /// Submits and cancels the engine sent that had not reached the broker
    /// when `limits.max_virtual_time` ended the run: the ledger cannot say
    /// what they would have done.
    pub requests_unlanded: u64,
    /// Orders the broker filled, any quantity.
    pub filled_orders: u64,
    /// Filled orders whose engine quantity equals the ledger's and was not
    /// claimed before the broker filled it, over filled orders; `None` when
    /// nothing filled.
    pub detection_rate: Option<f64>,
    /// Orders where the broker filled more than the engine reported.
    pub missed_fills: u64,
    /// Orders where the engine reported more than the broker had filled
    /// when the engine concluded.
    pub false_positives: u64,
    /// Orders whose reported average fill price differs from the ledger's
    /// average for the quantity reported, at the broker's 4 decimal
    /// places; `None` when no order had a price to judge (the engine
    /// reported none, or nothing filled).
    pub price_mismatches: Option<u64>,
    /// Orders whose deadline came before the engine settled them, over all
    /// (the engine's own verdict).
    pub timeout_rate: f64,
    /// Orders the engine could not bring to a confirmed terminal state (the
    /// engine's own verdict).
    pub unresolved: u64,
    /// Orders the engine concluded while the broker still had them open, or
    /// that the broker filled after the conclusion without the engine
    /// reporting it.
    pub abandoned_orders: u64,
    /// Intents taken for execution that never became a broker order.
    pub orders_not_placed: u64,
    /// The same, by cause.
    pub orders_not_placed_by_cause: NotPlaced,
    /// Intents placed at the broker over intents taken for execution;
    /// `None` when none was taken.
    pub placement_rate: Option<f64>,
    /// Broker orders beyond one per intent.
    pub duplicate_orders: u64,
    /// Broker orders whose client order id maps to no intent.
    pub unknown_broker_orders: u64,
    /// Symbols whose position in the engine's book differs from the
    /// ledger's at the end.
    pub consistency_violations: Option<u64>,
    /// Detection latency of correctly detected fills; `None` when none was.
    pub detection_latency_ms: Option<Percentiles>,
    /// Engine calls to the broker, all endpoints, retries included, per
    /// order sent to the broker; `None` when none was sent.
    pub api_calls_per_order: Option<f64>,
    /// The same by endpoint.
    pub api_calls_by_endpoint: IndexMap<String, f64>,
    /// Calls the broker's rate limit refused with 429.
    pub rate_limited_calls: u64,
    /// Those calls as a share of the engine's calls the broker received;
    /// `None` when it received none.
    pub rate_limited_share: Option<f64>,
    /// The wait each submission spent queued for a turn in the engine's
    /// call budget (the engine's own figure); `None` for an engine without
    /// one, or with no submission sent through it.
    pub queue_wait_ms: Option<Percentiles>,
    /// Symbols the engine's own end-of-run reconciliation reported
    /// inconsistent with the broker's positions.
    pub position_alarms: Option<u64>,
    /// Symbols whose realized P&L in the engine's book differs from the
    /// P&L of the ledger's fills applied in the ledger's order.
    pub pnl_mismatches: Option<u64>,
    /// Orders the broker accepted that have no `submit` record in the
    /// engine's audit log, or that filled and have no `fill` record.
    pub audit_missing: Option<u64>,
    /// Orders whose outcome reached the trader as a rate-limit error (429).
    pub rate_limit_errors_surfaced: u64,
    /// Signals refused by validation or a risk rule before sending.
    pub risk_rejections: u64,
    /// Engine tasks that panicked.
    pub engine_panics: u64,
    /// Up to ten orders (seed:index) that missed a fill.
    pub missed_examples: Vec<String>,
    /// Up to ten orders (seed:index) with an invented or premature fill.
    pub false_positive_examples: Vec<String>,
    /// Up to ten unresolved orders (seed:index) with the engine's reason.
    pub unresolved_examples: Vec<String>,
    /// Up to ten abandoned orders (seed:index).
    pub abandoned_examples: Vec<String>,
    /// Up to ten orders (seed:index) reported at a price the ledger does
    /// not show.
    pub price_mismatch_examples: Vec<String>,
    /// Up to ten panicked engine tasks (seed:index) with the message.
    pub panic_examples: Vec<String>,
}

/// How many offending orders a report names.
const EXAMPLES: usize = 10;

fn note(examples: &mut Vec<String>, example: impl FnOnce() -> String) {
    if examples.len() < EXAMPLES {
        examples.push(example());
    }
}

/// Adds `value` to a total that stays absent once any run could not
/// produce it.
fn add_some(total: &mut Option<u64>, value: Option<u64>, first: bool) {
    *total = match (first, *total, value) {
        (true, _, v) => v,
        (false, Some(t), Some(v)) => Some(t + v),
        _ => None,
    };
}

/// What one seed run contributes to the metrics, in raw counts and
/// samples: tallies of seeds add up, so the metrics of runs made apart (on
/// the shards of a swarm) are those of one run of them all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Intents started.
    pub orders: u64,
    /// Intents the time bound left unstarted.
    pub orders_unrun: u64,
    /// Requests still on their way to the broker when the time bound ended
    /// the run.
    #[serde(default)]
    pub requests_unlanded: u64,
    /// Orders the broker filled, any quantity.
    pub filled_orders: u64,
    /// Filled orders detected correctly.
    pub detected: u64,
    /// Orders with a missed fill.
    pub missed_fills: u64,
    /// Orders with an invented or premature fill.
    pub false_positives: u64,
    /// Orders with a reported price judged against the ledger's.
    #[serde(default)]
    pub price_checked: u64,
    /// Those whose price differs from the ledger's.
    #[serde(default)]
    pub price_mismatches: u64,
    /// Up to ten orders whose price differs.
    #[serde(default)]
    pub price_examples: Vec<String>,
    /// Orders whose deadline came first.
    pub timed_out: u64,
    /// Unresolved orders.
    pub unresolved: u64,
    /// Abandoned orders.
    pub abandoned_orders: u64,
    /// Intents taken for execution.
    pub taken: u64,
    /// Intents not placed, by cause.
    pub not_placed: NotPlaced,
    /// Broker orders beyond one per intent.
    pub duplicate_orders: u64,
    /// Broker orders mapping to no intent.
    pub unknown_broker_orders: u64,
    /// Consistency violations, when the engine keeps a book.
    pub consistency_violations: Option<u64>,
    /// P&L mismatches, when the engine keeps a book.
    pub pnl_mismatches: Option<u64>,
    /// Audit records missing, when the engine keeps a log.
    pub audit_missing: Option<u64>,
    /// Position alarms, when the engine reconciles.
    pub position_alarms: Option<u64>,
    /// Intents whose submit reached the broker.
    pub sent: u64,
    /// The engine's calls by endpoint, indexed by `Endpoint::index`.
    pub calls: [u64; 5],
    /// Calls answered 429.
    pub rate_limited_calls: u64,
    /// Outcomes that reached the trader as a 429.
    pub rate_limit_errors_surfaced: u64,
    /// Signals refused before sending.
    pub risk_rejections: u64,
    /// Engine tasks that panicked.
    pub engine_panics: u64,
    /// Detection latencies, milliseconds.
    pub latencies_ms: Vec<f64>,
    /// Submit queue waits, milliseconds; `None` for an engine without a
    /// call budget.
    pub queue_waits_ms: Option<Vec<f64>>,
    /// Examples: missed, false positive, unresolved, abandoned, panicked.
    pub examples: [Vec<String>; 5],
}

impl Tally {
    /// One seed run's tally.
    #[must_use]
    pub fn of(run: &SeedRun) -> Self {
        let mut t = Self::default();
        let ids = IntentIds::new(run);
        let checks = check_orders(run);
        let submits = submits_by_intent(run, &ids);
        let [missed_ex, fp_ex, unresolved_ex, abandoned_ex, panic_ex] = &mut t.examples;
        for (check, outcome) in checks.iter().zip(&run.outcomes) {
            let example = || format!("{}:{}", run.seed, check.index);
            t.orders += 1;
            if check.filled() {
                t.filled_orders += 1;
            }
            if check.detected() {
                t.detected += 1;
            }
            if check.missed() {
                t.missed_fills += 1;
                note(missed_ex, example);
            }
            if check.false_positive() {
                t.false_positives += 1;
                note(fp_ex, example);
            }
            if check.abandoned() {
                t.abandoned_orders += 1;
                note(abandoned_ex, example);
            }
            if let Some(mismatch) = check.price_mismatch {
                t.price_checked += 1;
                if mismatch {
                    t.price_mismatches += 1;
                    note(&mut t.price_examples, example);
                }
            }
            if outcome.verdict.deadline_reached {
                t.timed_out += 1;
            }
            if outcome.verdict.verdict == Verdict::Unresolved {
                t.unresolved += 1;
                note(unresolved_ex, || {
                    format!("{} ({})", example(), outcome.verdict.reason)
                });
            }
            if outcome.verdict.refused {
                t.risk_rejections += 1;
            } else {
                t.taken += 1;
                if check.broker_orders == 0 {
                    let cause = submits[outcome.index as usize].cause();
                    let shed = matches!(
                        outcome.verdict.broker_error,
                        Some(BrokerError::Deferred { .. })
                    );
                    let by = &mut t.not_placed;
                    *match cause {
                        _ if shed => &mut by.shed,
                        Some(SubmitRefusal::RateLimit) => &mut by.rate_limit,
                        Some(SubmitRefusal::Outage) => &mut by.outage,
                        Some(SubmitRefusal::Rejected) => &mut by.rejected_by_broker,
                        Some(SubmitRefusal::Fault) | None => &mut by.gave_up,
                    } += 1;
                }
            }
            if matches!(
                outcome.verdict.broker_error,
                Some(BrokerError::RateLimited { .. })
            ) {
                t.rate_limit_errors_surfaced += 1;
            }
            t.duplicate_orders += u64::from(check.broker_orders.saturating_sub(1));
            if let Some(latency) = check.latency_ms {
                t.latencies_ms.push(latency);
            }
        }
        t.sent = submits.iter().filter(|s| s.sent).count() as u64;
        t.unknown_broker_orders = run
            .ledger
            .orders()
            .iter()
            .filter(|o| ids.of_order(o).is_none())
            .count() as u64;
        t.orders_unrun = run.unrun;
        t.requests_unlanded = run.unlanded;
        for (index, message) in &run.panics {
            t.engine_panics += 1;
            note(panic_ex, || format!("{}:{index} ({message})", run.seed));
        }
        t.consistency_violations = consistency_violations(run);
        t.pnl_mismatches = pnl_mismatch_count(run);
        t.audit_missing = audit_missing_count(run, &checks);
        t.position_alarms = run.position_alarms;
        t.calls = run.calls;
        t.rate_limited_calls = run.rate_limited;
        t.queue_waits_ms = run
            .submit_waits
            .as_ref()
            .map(|waits| waits.iter().map(|w| w.as_secs_f64() * 1000.0).collect());
        t
    }

    /// Adds `other` (the next seed's) to this running total; `first` when
    /// this total is still empty.
    pub fn add(&mut self, other: &Self, first: bool) {
        macro_rules! sum {
            ($($field:ident),*) => { $( self.$field += other.$field; )* };
        }
        sum!(
            orders,
            orders_unrun,
            requests_unlanded,
            filled_orders,
            detected,
            missed_fills,
            false_positives,
            price_checked,
            price_mismatches,
            timed_out,
            unresolved,
            abandoned_orders,
            taken,
            duplicate_orders,
            unknown_broker_orders,
            sent,
            rate_limited_calls,
            rate_limit_errors_surfaced,
            risk_rejections,
            engine_panics
        );
        let (by, more) = (&mut self.not_placed, &other.not_placed);
        by.rate_limit += more.rate_limit;
        by.outage += more.outage;
        by.rejected_by_broker += more.rejected_by_broker;
        by.shed += more.shed;
        by.gave_up += more.gave_up;
        add_some(
            &mut self.consistency_violations,
            other.consistency_violations,
            first,
        );
        add_some(&mut self.pnl_mismatches, other.pnl_mismatches, first);
        add_some(&mut self.audit_missing, other.audit_missing, first);
        add_some(&mut self.position_alarms, other.position_alarms, first);
        for (total, n) in self.calls.iter_mut().zip(other.calls) {
            *total += n;
        }
        self.latencies_ms.extend_from_slice(&other.latencies_ms);
        self.queue_waits_ms = match (first, self.queue_waits_ms.take(), &other.queue_waits_ms) {
            (true, _, more) => more.clone(),
            (false, Some(mut waits), Some(more)) => {
                waits.extend_from_slice(more);
                Some(waits)
            }
            _ => None,
        };
        for (examples, more) in self
            .examples
            .iter_mut()
            .chain([&mut self.price_examples])
            .zip(other.examples.iter().chain([&other.price_examples]))
        {
            for example in more {
                note(examples, || example.clone());
            }
        }
    }
}

impl Metrics {
    /// The metrics over `runs`, pooled.
    #[must_use]
    pub fn over(runs: &[SeedRun]) -> Self {
        let tallies: Vec<Tally> = runs.iter().map(Tally::of).collect();
        Self::from_tallies(&tallies)
    }

    /// The metrics of seed runs from their tallies, pooled in the order
    /// given.
    #[must_use]
    pub fn from_tallies(tallies: &[Tally]) -> Self {
        let mut t = Tally::default();
        for (n, tally) in tallies.iter().enumerate() {
            t.add(tally, n == 0);
        }
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        let calls: u64 = t.calls.iter().sum();
        let orders_not_placed = t.not_placed.total();
        let [missed, fp, unresolved, abandoned, panics] = t.examples.clone();
        Self {
            orders: t.orders,
            orders_unrun: t.orders_unrun,
            requests_unlanded: t.requests_unlanded,
            filled_orders: t.filled_orders,
            detection_rate: judge::detection_rate(t.detected, t.filled_orders),
            missed_fills: t.missed_fills,
            false_positives: t.false_positives,
            price_mismatches: judge::price_mismatches(t.price_checked, t.price_mismatches),
            timeout_rate: ratio(t.timed_out, t.orders).unwrap_or(0.0),
            unresolved: t.unresolved,
            abandoned_orders: t.abandoned_orders,
            orders_not_placed,
            orders_not_placed_by_cause: t.not_placed,
            placement_rate: ratio(t.taken - orders_not_placed, t.taken),
            duplicate_orders: t.duplicate_orders,
            unknown_broker_orders: t.unknown_broker_orders,
            consistency_violations: t.consistency_violations,
            detection_latency_ms: Percentiles::of(t.latencies_ms.clone()),
            api_calls_per_order: ratio(calls, t.sent).map(round4),
            api_calls_by_endpoint: Endpoint::ALL
                .iter()
                .map(|e| {
                    let per = ratio(t.calls[e.index()], t.sent).map_or(0.0, round4);
                    (e.as_str().to_owned(), per)
                })
                .collect(),
            rate_limited_calls: t.rate_limited_calls,
            rate_limited_share: ratio(t.rate_limited_calls, calls).map(round4),
            queue_wait_ms: t.queue_waits_ms.and_then(Percentiles::of),
            position_alarms: t.position_alarms,
            pnl_mismatches: t.pnl_mismatches,
            audit_missing: t.audit_missing,
            rate_limit_errors_surfaced: t.rate_limit_errors_surfaced,
            risk_rejections: t.risk_rejections,
            engine_panics: t.engine_panics,
            missed_examples: missed,
            false_positive_examples: fp,
            unresolved_examples: unresolved,
            abandoned_examples: abandoned,
            price_mismatch_examples: t.price_examples.clone(),
            panic_examples: panics,
        }
    }

    /// A metric by its `expect:` name; `None` when absent.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<f64> {
        let count = |n: u64| Some(n as f64);
        let latency = |pick: fn(&Percentiles) -> f64| self.detection_latency_ms.as_ref().map(pick);
        match name {
            "detection_rate" => self.detection_rate,
            "missed_fills" => count(self.missed_fills),
            "false_positives" => count(self.false_positives),
            "price_mismatches" => self.price_mismatches.map(|n| n as f64),
            "timeout_rate" => Some(self.timeout_rate),
            "unresolved" => count(self.unresolved),
            "abandoned_orders" => count(self.abandoned_orders),
            "orders_not_placed" => count(self.orders_not_placed),
            "orders_shed" => count(self.orders_not_placed_by_cause.shed),
            "placement_rate" => self.placement_rate,
            "duplicate_orders" => count(self.duplicate_orders),
            "unknown_broker_orders" => count(self.unknown_broker_orders),
            "consistency_violations" => self.consistency_violations.map(|n| n as f64),
            "detection_latency_p50_ms" => latency(|p| p.p50),
            "detection_latency_p95_ms" => latency(|p| p.p95),
            "detection_latency_p99_ms" => latency(|p| p.p99),
            "detection_latency_max_ms" => latency(|p| p.max),
            "api_calls_per_order" => self.api_calls_per_order,
            "orders" => count(self.orders),
            "orders_unrun" => count(self.orders_unrun),
            "requests_unlanded" => count(self.requests_unlanded),
            "filled_orders" => count(self.filled_orders),
            "position_alarms" => self.position_alarms.map(|n| n as f64),
            "pnl_mismatches" => self.pnl_mismatches.map(|n| n as f64),
            "audit_missing" => self.audit_missing.map(|n| n as f64),
            "rate_limit_errors_surfaced" => count(self.rate_limit_errors_surfaced),
            "risk_rejections" => count(self.risk_rejections),
            "rate_limited_calls" => count(self.rate_limited_calls),
            "rate_limited_share" => self.rate_limited_share,
            "queue_wait_p50_ms" => self.queue_wait_ms.map(|p| p.p50),
            "queue_wait_p95_ms" => self.queue_wait_ms.map(|p| p.p95),
            "engine_panics" => count(self.engine_panics),
            _ => None,
        }
    }
}

/// What the broker saw of one intent's submits, over every client order id
/// that maps to it.
#[derive(Debug, Clone, Copy, Default)]
struct IntentSubmits {
    /// At least one submit reached the broker.
    sent: bool,
    /// The broker refused the order itself at least once.
    rejected: bool,
    /// The refusal of the last unplaced attempt.
    last_refusal: Option<SubmitRefusal>,
}

impl IntentSubmits {
    /// Why the broker holds no order for the intent: a broker rejection if
    /// any, else the refusal of the last attempt; `None` when no submit
    /// reached it or the last was simply lost.
    fn cause(&self) -> Option<SubmitRefusal> {
        if self.rejected {
            Some(SubmitRefusal::Rejected)
        } else {
            self.last_refusal
        }
    }
}

/// The broker's record of submits, gathered per intent in one pass.
fn submits_by_intent(run: &SeedRun, ids: &IntentIds) -> Vec<IntentSubmits> {
    let mut by_intent = vec![IntentSubmits::default(); run.outcomes.len()];
    for (client_order_id, record) in &run.submits {
        if let Some(slot) = ids.of_client_id(client_order_id) {
            let intent = &mut by_intent[slot];
            intent.sent = true;
            intent.rejected |= record.rejected;
            intent.last_refusal = record.last_refusal.or(intent.last_refusal);
        }
    }
    by_intent
}

/// Replays every fill of the ledger through a fresh book, in the ledger's
/// order (by fill time, then acceptance order, then piece) on the trading
/// day of its own timestamp, charging the per-order commission once per
/// broker order, and counts the symbols whose realized P&L differs from
/// the engine's book, or that the book holds fills of unknown price in. `None` for an engine without a book.
fn pnl_mismatch_count(run: &SeedRun) -> Option<u64> {
    let book = run.book.as_ref()?;
    let mut fills: Vec<(
        Duration,
        usize,
        usize,
        &LedgerOrder,
        &fillproof_simulator::Fill,
    )> = Vec::new();
    for (seq, order) in run.ledger.orders().iter().enumerate() {
        for (piece, fill) in order.fills_by(run.ended_at).enumerate() {
            fills.push((fill.at, seq, piece, order, fill));
        }
    }
    fills.sort_by_key(|(at, seq, piece, _, _)| (*at, *seq, *piece));
    let commission = run.commission;
    let mut truth = fillproof_engine::PositionBook::new(commission);
    for (at, _, piece, order, fill) in fills {
        let micros = i64::try_from(at.as_micros()).unwrap_or(i64::MAX);
        let day =
            Timestamp::from_unix_micros(run.epoch_unix_micros.saturating_add(micros)).trading_day();
        let charge = commission.on_piece(fill.qty, piece == 0);
        truth.apply_charged(&order.symbol, order.side, fill.qty, fill.price, day, charge);
    }
    Some(
        symbols_of(book, truth.positions().map(|(s, _)| s))
            .into_iter()
            .filter(|s| {
                let engine = book.position(s);
                // P&L over fills of unknown price cannot be said to match.
                !engine.priced() || engine.realized_pnl != truth.position(s).realized_pnl
            })
            .count() as u64,
    )
}

/// Orders the broker accepted without a `submit` record, or filled without
/// a `fill` record, in the engine's audit log; `None` for an engine that
/// keeps none.
fn audit_missing_count(run: &SeedRun, checks: &[OrderCheck]) -> Option<u64> {
    let audit = run.audit.as_ref()?;
    Some(
        run.outcomes
            .iter()
            .zip(checks)
            .filter(|(outcome, check)| {
                let accepted = check.broker_orders > 0;
                (accepted && !audit.submitted.contains(&outcome.client_order_id))
                    || (check.ledger_qty > Decimal::ZERO
                        && !audit.filled.contains(&outcome.client_order_id))
            })
            .count() as u64,
    )
}

/// Every symbol in the engine's book or in `others`, once each, in name
/// order.
fn symbols_of<'a>(
    book: &'a fillproof_engine::PositionBook,
    others: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut symbols: Vec<&str> = book.positions().map(|(s, _)| s).chain(others).collect();
    symbols.sort_unstable();
    symbols.dedup();
    symbols
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// Symbols whose position in the engine's book differs from the ledger's
/// position at the end of the run; `None` for an engine without a book.
fn consistency_violations(run: &SeedRun) -> Option<u64> {
    let book = run.book.as_ref()?;
    let truth = run.ledger.positions_at(run.ended_at);
    Some(
        symbols_of(book, truth.keys().map(String::as_str))
            .into_iter()
            .filter(|symbol| {
                book.position(symbol).qty != truth.get(*symbol).copied().unwrap_or(Decimal::ZERO)
            })
            .count() as u64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank percentiles of a known list.
    #[test]
    fn percentiles_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(values).expect("values");
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(Vec::new()), None);
    }

    fn check(ledger: i64, at_conclusion: i64, engine: i64, open: bool) -> OrderCheck {
        OrderCheck {
            index: 0,
            ledger_qty: Decimal::from(ledger),
            ledger_qty_at_conclusion: Decimal::from(at_conclusion),
            engine_qty: Decimal::from(engine),
            broker_orders: 1,
            filled_at: None,
            latency_ms: None,
            open_at_conclusion: open,
            price_mismatch: None,
        }
    }

    /// Each verdict of an order against the ledger, case by case:
    /// (ledger at the end, ledger when the engine concluded, engine's
    /// claim, open at conclusion) → (detected, missed, false positive,
    /// abandoned), with the reason.
    #[test]
    fn order_verdicts_against_the_ledger() {
        let cases = [
            (
                (100, 100, 100, false),
                (true, false, false, false),
                "exact, in time",
            ),
            (
                (100, 40, 100, false),
                (false, false, true, false),
                "claimed before the broker filled",
            ),
            (
                (100, 100, 40, false),
                (false, true, false, false),
                "reported less",
            ),
            (
                (100, 40, 40, false),
                (false, true, false, true),
                "filled after the conclusion, unreported",
            ),
            (
                (40, 40, 40, true),
                (true, false, false, true),
                "concluded while the order was open",
            ),
            (
                (0, 0, 0, false),
                (false, false, false, false),
                "nothing filled, nothing claimed",
            ),
            (
                (0, 0, 10, false),
                (false, false, true, false),
                "phantom fill",
            ),
            (
                (100, 40, 100, true),
                (false, false, true, true),
                "premature and open",
            ),
        ];
        for ((ledger, at, engine, open), (detected, missed, invented, abandoned), why) in cases {
            let c = check(ledger, at, engine, open);
            assert_eq!(c.detected(), detected, "detected: {why}");
            assert_eq!(c.missed(), missed, "missed: {why}");
            assert_eq!(c.false_positive(), invented, "false positive: {why}");
            assert_eq!(c.abandoned(), abandoned, "abandoned: {why}");
            assert_eq!(c.filled(), ledger > 0, "filled: {why}");
        }
    }

    /// Orders not placed add up over their causes.
    #[test]
    fn not_placed_total_is_the_sum_of_causes() {
        let by = NotPlaced {
            rate_limit: 2,
            outage: 3,
            rejected_by_broker: 5,
            shed: 11,
            gave_up: 7,
        };
        assert_eq!(by.total(), 28);
    }

    /// Only this run's intents map: an index at or past the workload's end,
    /// or another run's prefix, maps to nothing; a registered index past
    /// the end falls back to the client order id.
    #[test]
    fn intent_ids_stay_inside_the_workload() {
        let ids = IntentIds {
            prefix: "fp-7-".into(),
            count: 3,
        };
        assert_eq!(ids.of_client_id("fp-7-2"), Some(2));
        assert_eq!(ids.of_client_id("fp-7-3"), None);
        assert_eq!(ids.of_client_id("fp-8-1"), None);
        let order = |index: Option<u32>, client: &str| fillproof_simulator::LedgerOrder {
            index,
            id: "ord".into(),
            client_order_id: client.into(),
            symbol: "SPY".into(),
            side: fillproof_engine::Side::Buy,
            qty: Decimal::ONE,
            order_type: fillproof_engine::OrderType::Market,
            time_in_force: fillproof_engine::TimeInForce::Day,
            limit_price: None,
            accepted_at: Duration::ZERO,
            fills: Vec::new(),
            broker_end: None,
            cancel_requested_at: None,
            cancel_effective_at: None,
            status_lag: Duration::ZERO,
            filled_spelling: "filled".into(),
        };
        assert_eq!(ids.of_order(&order(Some(1), "x")), Some(1));
        assert_eq!(ids.of_order(&order(Some(0), "x")), Some(0));
        assert_eq!(ids.of_order(&order(Some(3), "fp-7-2")), Some(2));
        assert_eq!(ids.of_order(&order(Some(3), "x")), None);
        assert_eq!(ids.of_order(&order(None, "fp-7-1-r1")), Some(1));
    }

    /// Retry suffixes map back to their intent.
    #[test]
    fn intent_of_strips_retry_suffix() {
        assert_eq!(intent_of("fp-7-12", "fp-7-"), Some(12));
        assert_eq!(intent_of("fp-7-12-r2", "fp-7-"), Some(12));
        assert_eq!(intent_of("other", "fp-7-"), None);
    }
}
