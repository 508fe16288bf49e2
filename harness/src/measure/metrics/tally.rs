//! One seed run's raw counts and samples ([`Tally::of`]) and how the
//! tallies of seeds add up ([`Tally::add`]).

use fillproof_engine::{BrokerError, CallError, EndpointCounts, Verdict};
use serde::{Deserialize, Serialize};

use super::records::{audit_missing_count, consistency_violations, pnl_mismatch_count};
use super::submits::{not_placed_count, submits_by_intent};
use super::{
    IntentIds, LegFigures, NotPlaced, OrderCheck, RestartFigures, check_orders, slippage_samples,
};
use crate::run::{OrderOutcome, SeedRun};

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
    /// Crash points the timeline scripts that no call reached.
    #[serde(default)]
    pub crash_points_unreached: u64,
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
    /// Position alarms, when the engine checks its positions.
    pub position_alarms: Option<u64>,
    /// Intents whose submit reached the broker.
    pub sent: u64,
    /// The engine's calls by endpoint (a JSON array in `Endpoint::ALL`
    /// order in a shard).
    pub calls: EndpointCounts<u64>,
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
    /// Slippage of each broker order that filled, basis points
    /// ([`super::order_slippage_bps`]).
    #[serde(default)]
    pub slippage_bps: Vec<f64>,
    /// Submit queue waits, milliseconds; `None` for an engine without a
    /// call budget.
    pub queue_waits_ms: Option<Vec<f64>>,
    /// Examples: missed, false positive, unresolved, abandoned, panicked.
    pub examples: [Vec<String>; 5],
    /// Bracket legs, replaces and a trader's cancels.
    #[serde(default)]
    pub legs: LegFigures,
    /// Crashes and restarts; `None` when the scenario has none.
    #[serde(default)]
    pub restarts: Option<RestartFigures>,
    /// The engine's status updates against the ledger; `None` for an
    /// engine without an event stream.
    #[serde(default)]
    pub updates: Option<super::UpdateFigures>,
}

impl Tally {
    /// One seed run's tally, by phase: each order's verdicts against the
    /// ledger and what became of its intent; then what the run saw beyond
    /// the workload's orders (the broker's orders of no intent, requests
    /// left unlanded, panics, the engine's calls); then the engine's own
    /// records against the ledger.
    #[must_use]
    pub fn of(run: &SeedRun) -> Self {
        let mut t = Self::default();
        let ids = IntentIds::new(run);
        let checks = check_orders(run);
        let submits = submits_by_intent(run, &ids);
        for (check, outcome) in checks.iter().zip(&run.outcomes) {
            let example = || format!("{}:{}", run.seed, check.index);
            t.orders += 1;
            t.add_judgement(check, example);
            t.add_engine_verdict(outcome, example);
            if !outcome.verdict.refused && check.broker_orders == 0 {
                let shed = matches!(
                    outcome.verdict.broker_error,
                    Some(CallError::NotSent { .. })
                );
                *not_placed_count(&mut t.not_placed, shed, &submits[outcome.index as usize]) += 1;
            }
        }
        t.sent = submits.iter().filter(|s| s.sent).count() as u64;
        t.slippage_bps = slippage_samples(run);
        t.add_run(run, &ids);
        t.add_records(run, &checks);
        t.legs = LegFigures::of(run, &ids, &checks);
        t.restarts = RestartFigures::of(run, &ids, &checks, &t.legs);
        t.updates = super::UpdateFigures::of(run);
        // A leg's invented or premature fill is the run's false positive.
        for slot in &t.legs.leg_false_positives {
            t.false_positives += 1;
            let [_, fp_ex, _, _, _] = &mut t.examples;
            note(fp_ex, || {
                format!("{}:{} (an exit leg)", run.seed, checks[*slot].index)
            });
        }
        t
    }

    /// Counts one order's verdicts against the ledger ([`OrderCheck`]),
    /// naming it (`example`) among the offenders it is one of, with its
    /// broker orders beyond the first and its detection latency.
    fn add_judgement(&mut self, check: &OrderCheck, example: impl Fn() -> String) {
        let [missed_ex, fp_ex, _, abandoned_ex, _] = &mut self.examples;
        if check.filled() {
            self.filled_orders += 1;
        }
        if check.detected() {
            self.detected += 1;
        }
        if check.missed() {
            self.missed_fills += 1;
            note(missed_ex, &example);
        }
        if check.false_positive() {
            self.false_positives += 1;
            note(fp_ex, &example);
        }
        if check.abandoned() {
            self.abandoned_orders += 1;
            note(abandoned_ex, &example);
        }
        if let Some(mismatch) = check.price_mismatch {
            self.price_checked += 1;
            if mismatch {
                self.price_mismatches += 1;
                note(&mut self.price_examples, &example);
            }
        }
        self.duplicate_orders += u64::from(check.broker_orders.saturating_sub(1));
        if let Some(latency) = check.latency_ms {
            self.latencies_ms.push(latency);
        }
    }

    /// Counts what the engine itself said of one order: its deadline, an
    /// unresolved verdict (named with the engine's reason), a refusal
    /// before sending or an intent taken, a 429 that reached the trader.
    fn add_engine_verdict(&mut self, outcome: &OrderOutcome, example: impl Fn() -> String) {
        let verdict = &outcome.verdict;
        if verdict.deadline_reached {
            self.timed_out += 1;
        }
        if verdict.verdict == Verdict::Unresolved {
            self.unresolved += 1;
            let [_, _, unresolved_ex, _, _] = &mut self.examples;
            note(unresolved_ex, || {
                format!("{} ({})", example(), verdict.reason)
            });
        }
        if verdict.refused {
            self.risk_rejections += 1;
        } else {
            self.taken += 1;
        }
        if matches!(
            verdict.broker_error,
            Some(CallError::Broker(BrokerError::RateLimited { .. }))
        ) {
            self.rate_limit_errors_surfaced += 1;
        }
    }

    /// Counts what the run saw beyond the workload's orders: broker orders
    /// of no intent, intents left unstarted and requests unlanded by the
    /// time bound, panicked engine tasks, and the engine's calls.
    fn add_run(&mut self, run: &SeedRun, ids: &IntentIds) {
        self.unknown_broker_orders = run
            .ledger
            .orders()
            .iter()
            .filter(|o| ids.of_order(o).is_none() && ids.of_leg(&run.ledger, o).is_none())
            .count() as u64;
        self.orders_unrun = run.unrun;
        self.requests_unlanded = run.unlanded;
        self.crash_points_unreached = run.crash_points_unreached;
        let [_, _, _, _, panic_ex] = &mut self.examples;
        for (index, message) in &run.panics {
            self.engine_panics += 1;
            note(panic_ex, || format!("{}:{index} ({message})", run.seed));
        }
        self.calls = run.calls;
        self.rate_limited_calls = run.rate_limited;
        self.queue_waits_ms = run
            .submit_waits
            .as_ref()
            .map(|waits| waits.iter().map(|w| w.as_secs_f64() * 1000.0).collect());
    }

    /// The engine's own records against the ledger: its book's positions
    /// and P&L, its audit log, its position check's alarms; each `None`
    /// for an engine that keeps no such record.
    fn add_records(&mut self, run: &SeedRun, checks: &[OrderCheck]) {
        self.consistency_violations = consistency_violations(run);
        self.pnl_mismatches = pnl_mismatch_count(run);
        self.audit_missing = audit_missing_count(run, checks);
        self.position_alarms = run.position_alarms;
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
            crash_points_unreached,
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
        self.calls.add(&other.calls);
        self.legs.add(&other.legs);
        match (&mut self.restarts, &other.restarts) {
            (Some(mine), Some(more)) => mine.add(more),
            (mine @ None, Some(more)) if first => *mine = Some(more.clone()),
            _ => {}
        }
        match (&mut self.updates, &other.updates) {
            (Some(mine), Some(more)) => mine.add(more),
            (mine @ None, Some(more)) if first => *mine = Some(more.clone()),
            _ => {}
        }
        self.latencies_ms.extend_from_slice(&other.latencies_ms);
        self.slippage_bps.extend_from_slice(&other.slippage_bps);
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
