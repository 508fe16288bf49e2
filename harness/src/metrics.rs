//! Metrics: each order's engine verdict against the ledger, with the
//! definitions of DESIGN.md.
//!
//! An intent's truth is what the broker filled for it across every broker
//! order that carries its client order id (retries that made duplicates
//! included), at the end of the run.

use std::time::Duration;

use fillproof_engine::{Decimal, Verdict};
use fillproof_simulator::{Endpoint, Ledger};
use indexmap::IndexMap;
use serde::Serialize;

use crate::runner::SeedRun;

/// One order compared with the truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderCheck {
    /// Workload index.
    pub index: u32,
    /// What the broker filled for the intent.
    pub ledger_qty: Decimal,
    /// What the engine reported.
    pub engine_qty: Decimal,
    /// Broker orders placed for the intent.
    pub broker_orders: u32,
    /// Virtual time of the fill that completed the ledger quantity.
    pub filled_at: Option<Duration>,
    /// Engine detection latency, for correctly detected fills.
    pub latency: Option<Duration>,
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

/// Compares every order of a seed run with its ledger.
#[must_use]
pub fn check_orders(run: &SeedRun) -> Vec<OrderCheck> {
    let ids = IntentIds::new(run);
    let count = run.outcomes.len();
    let mut ledger_qty = vec![Decimal::ZERO; count];
    let mut broker_orders = vec![0u32; count];
    let mut filled_at: Vec<Option<Duration>> = vec![None; count];
    for order in run.ledger.orders() {
        let Some(slot) = ids.of_order(order) else {
            continue;
        };
        broker_orders[slot] += 1;
        ledger_qty[slot] += order.filled_qty_at(run.ended_at);
        if let Some(at) = order.last_fill_at(run.ended_at) {
            filled_at[slot] = Some(filled_at[slot].map_or(at, |t: Duration| t.max(at)));
        }
    }
    run.outcomes
        .iter()
        .map(|outcome| {
            let slot = outcome.index as usize;
            let engine_qty = outcome.verdict.filled_qty;
            let latency = match (filled_at[slot], outcome.concluded_at) {
                (Some(fill), Some(seen))
                    if engine_qty == ledger_qty[slot] && engine_qty > Decimal::ZERO =>
                {
                    Some(seen.saturating_sub(fill))
                }
                _ => None,
            };
            OrderCheck {
                index: outcome.index,
                ledger_qty: ledger_qty[slot],
                engine_qty,
                broker_orders: broker_orders[slot],
                filled_at: filled_at[slot],
                latency,
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
    /// Nearest-rank percentiles of `values` (milliseconds).
    #[must_use]
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
            values[index]
        };
        Self {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// The metrics of DESIGN.md over one or more seed runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Orders placed (intents).
    pub orders: u64,
    /// Orders the broker filled, any quantity.
    pub filled_orders: u64,
    /// Filled orders whose engine quantity equals the ledger's, over filled
    /// orders; 1 when nothing filled.
    pub detection_rate: f64,
    /// Orders where the broker filled more than the engine reported.
    pub missed_fills: u64,
    /// Orders where the engine reported more than the broker filled.
    pub false_positives: u64,
    /// Orders whose deadline came before the engine settled them, over all.
    pub timeout_rate: f64,
    /// Orders the engine could not bring to a confirmed terminal state.
    pub unresolved: u64,
    /// Broker orders beyond one per intent.
    pub duplicate_orders: u64,
    /// Symbols whose engine position differs from the ledger's at the end.
    pub consistency_violations: u64,
    /// Detection latency of correctly detected fills.
    pub detection_latency_ms: Percentiles,
    /// Broker calls per order, all endpoints, retries included.
    pub api_calls_per_order: f64,
    /// Broker calls per order by endpoint.
    pub api_calls_by_endpoint: IndexMap<String, f64>,
    /// Calls the broker's rate limit refused with 429.
    pub rate_limited_calls: u64,
    /// Symbols the engine's own end-of-run reconciliation reported
    /// inconsistent with the broker's positions.
    pub position_alarms: u64,
    /// Symbols whose realized P&L in the engine's book differs from the
    /// P&L of the ledger's true fills applied in the same order (engines
    /// with a position book).
    pub pnl_mismatches: u64,
    /// Orders the broker accepted that have no `submit` record in the
    /// engine's audit log, or that filled and have no `fill` record.
    pub audit_missing: u64,
    /// Orders whose outcome reached the trader as a rate-limit error.
    pub rate_limit_errors_surfaced: u64,
    /// Signals refused by validation or a risk rule before sending.
    pub risk_rejections: u64,
    /// Up to ten orders (seed:index) that missed a fill.
    pub missed_examples: Vec<String>,
    /// Up to ten orders (seed:index) with an invented fill.
    pub false_positive_examples: Vec<String>,
    /// Up to ten unresolved orders (seed:index) with the engine's reason.
    pub unresolved_examples: Vec<String>,
}

/// How many offending orders a report names.
const EXAMPLES: usize = 10;

impl Metrics {
    /// The metrics over `runs`, pooled.
    #[must_use]
    pub fn over(runs: &[SeedRun]) -> Self {
        let mut orders = 0u64;
        let mut filled = 0u64;
        let mut detected = 0u64;
        let mut missed = 0u64;
        let mut invented = 0u64;
        let mut timed_out = 0u64;
        let mut unresolved = 0u64;
        let mut duplicates = 0u64;
        let mut violations = 0u64;
        let mut latencies = Vec::new();
        let mut calls = [0u64; 5];
        let mut rate_limited = 0u64;
        let mut position_alarms = 0u64;
        let mut pnl_mismatches = 0u64;
        let mut audit_missing = 0u64;
        let mut rate_limit_errors = 0u64;
        let mut risk_rejections = 0u64;
        let mut missed_examples = Vec::new();
        let mut false_positive_examples = Vec::new();
        let mut unresolved_examples = Vec::new();
        for run in runs {
            let checks = check_orders(run);
            for (check, outcome) in checks.iter().zip(&run.outcomes) {
                orders += 1;
                if check.ledger_qty > Decimal::ZERO {
                    filled += 1;
                    if check.engine_qty == check.ledger_qty {
                        detected += 1;
                    }
                }
                if check.ledger_qty > check.engine_qty {
                    missed += 1;
                    if missed_examples.len() < EXAMPLES {
                        missed_examples.push(format!("{}:{}", run.seed, check.index));
                    }
                }
                if check.engine_qty > check.ledger_qty {
                    invented += 1;
                    if false_positive_examples.len() < EXAMPLES {
                        false_positive_examples.push(format!("{}:{}", run.seed, check.index));
                    }
                }
                if outcome.verdict.deadline_reached {
                    timed_out += 1;
                }
                if outcome.verdict.verdict == Verdict::Unresolved {
                    unresolved += 1;
                    if unresolved_examples.len() < EXAMPLES {
                        unresolved_examples.push(format!(
                            "{}:{} ({})",
                            run.seed, check.index, outcome.verdict.reason
                        ));
                    }
                }
                duplicates += u64::from(check.broker_orders.saturating_sub(1));
                if let Some(latency) = check.latency {
                    latencies.push(latency.as_secs_f64() * 1000.0);
                }
            }
            violations += consistency_violations(run, &run.ledger);
            pnl_mismatches += pnl_mismatch_count(run);
            audit_missing += audit_missing_count(run, &checks);
            rate_limit_errors += run
                .outcomes
                .iter()
                .filter(|o| o.verdict.reason.contains("HTTP 429"))
                .count() as u64;
            risk_rejections += run.outcomes.iter().filter(|o| o.verdict.refused).count() as u64;
            for (total, n) in calls.iter_mut().zip(run.calls) {
                *total += n;
            }
            rate_limited += run.rate_limited;
            position_alarms += run.position_alarms;
        }
        let per_order = |n: u64| {
            if orders == 0 {
                0.0
            } else {
                n as f64 / orders as f64
            }
        };
        let api_calls_by_endpoint = Endpoint::ALL
            .iter()
            .map(|e| (e.as_str().to_owned(), round4(per_order(calls[e.index()]))))
            .collect();
        Self {
            orders,
            filled_orders: filled,
            detection_rate: if filled == 0 {
                1.0
            } else {
                detected as f64 / filled as f64
            },
            missed_fills: missed,
            false_positives: invented,
            timeout_rate: per_order(timed_out),
            unresolved,
            duplicate_orders: duplicates,
            consistency_violations: violations,
            detection_latency_ms: Percentiles::of(latencies),
            api_calls_per_order: round4(per_order(calls.iter().sum())),
            api_calls_by_endpoint,
            rate_limited_calls: rate_limited,
            position_alarms,
            pnl_mismatches,
            audit_missing,
            rate_limit_errors_surfaced: rate_limit_errors,
            risk_rejections,
            missed_examples,
            false_positive_examples,
            unresolved_examples,
        }
    }

    /// A metric by its `expect:` name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "detection_rate" => self.detection_rate,
            "missed_fills" => self.missed_fills as f64,
            "false_positives" => self.false_positives as f64,
            "timeout_rate" => self.timeout_rate,
            "unresolved" => self.unresolved as f64,
            "duplicate_orders" => self.duplicate_orders as f64,
            "consistency_violations" => self.consistency_violations as f64,
            "detection_latency_p50_ms" => self.detection_latency_ms.p50,
            "detection_latency_p95_ms" => self.detection_latency_ms.p95,
            "detection_latency_p99_ms" => self.detection_latency_ms.p99,
            "detection_latency_max_ms" => self.detection_latency_ms.max,
            "api_calls_per_order" => self.api_calls_per_order,
            "orders" => self.orders as f64,
            "filled_orders" => self.filled_orders as f64,
            "position_alarms" => self.position_alarms as f64,
            "pnl_mismatches" => self.pnl_mismatches as f64,
            "audit_missing" => self.audit_missing as f64,
            "rate_limit_errors_surfaced" => self.rate_limit_errors_surfaced as f64,
            "risk_rejections" => self.risk_rejections as f64,
            "rate_limited_calls" => self.rate_limited_calls as f64,
            _ => return None,
        })
    }
}

/// Replays the ledger's true fills through a fresh book, in the order the
/// engine applied its own (then any the engine never applied), and counts
/// the symbols whose realized P&L differs from the engine's.
fn pnl_mismatch_count(run: &SeedRun) -> u64 {
    let Some(book) = &run.book else {
        return 0;
    };
    let ids = IntentIds::new(run);
    let count = run.outcomes.len();
    let mut qty = vec![Decimal::ZERO; count];
    let mut notional = vec![Decimal::ZERO; count];
    for order in run.ledger.orders() {
        let Some(slot) = ids.of_order(order) else {
            continue;
        };
        let filled = order.filled_qty_at(run.ended_at);
        if let Some(price) = order.avg_price_at(run.ended_at) {
            qty[slot] += filled;
            notional[slot] += filled * price;
        }
    }
    let mut truth = fillproof_engine::PositionBook::new(run.commission);
    let mut done = vec![false; count];
    let mut day = 0;
    for fill in &run.applied {
        let Some(slot) = ids.of_client_id(&fill.client_order_id) else {
            continue;
        };
        day = fill.day;
        if !done[slot] && qty[slot] > Decimal::ZERO {
            truth.apply(
                &fill.symbol,
                fill.side,
                qty[slot],
                notional[slot] / qty[slot],
                fill.day,
            );
            done[slot] = true;
        }
    }
    for (slot, outcome) in run.outcomes.iter().enumerate() {
        if !done[slot] && qty[slot] > Decimal::ZERO {
            truth.apply(
                &outcome.symbol,
                outcome.side,
                qty[slot],
                notional[slot] / qty[slot],
                day,
            );
        }
    }
    let mut symbols: Vec<&str> = book.positions().map(|(s, _)| s).collect();
    symbols.extend(truth.positions().map(|(s, _)| s));
    symbols.sort_unstable();
    symbols.dedup();
    symbols
        .into_iter()
        .filter(|s| book.position(s).realized_pnl != truth.position(s).realized_pnl)
        .count() as u64
}

/// Orders the broker accepted without a `submit` record, or filled without
/// a `fill` record, in the engine's audit log (all of them for an engine
/// that keeps none).
fn audit_missing_count(run: &SeedRun, checks: &[OrderCheck]) -> u64 {
    let empty = crate::engines::AuditSummary::default();
    let audit = run.audit.as_ref().unwrap_or(&empty);
    run.outcomes
        .iter()
        .zip(checks)
        .filter(|(outcome, check)| {
            let accepted = check.broker_orders > 0;
            (accepted && !audit.submitted.contains(&outcome.client_order_id))
                || (check.ledger_qty > Decimal::ZERO
                    && !audit.filled.contains(&outcome.client_order_id))
        })
        .count() as u64
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// Symbols whose position by the engine's reported fills differs from the
/// ledger's position at the end of the run.
fn consistency_violations(run: &SeedRun, ledger: &Ledger) -> u64 {
    let mut engine: IndexMap<&str, Decimal> = IndexMap::new();
    for outcome in &run.outcomes {
        *engine
            .entry(outcome.symbol.as_str())
            .or_insert(Decimal::ZERO) += outcome.side.sign() * outcome.verdict.filled_qty;
    }
    let truth = ledger.positions_at(run.ended_at);
    let mut symbols: Vec<&str> = engine.keys().copied().collect();
    for symbol in truth.keys() {
        if !symbols.contains(&symbol.as_str()) {
            symbols.push(symbol);
        }
    }
    symbols
        .into_iter()
        .filter(|symbol| {
            engine.get(symbol).copied().unwrap_or(Decimal::ZERO)
                != truth.get(*symbol).copied().unwrap_or(Decimal::ZERO)
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank percentiles of a known list.
    #[test]
    fn percentiles_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(values);
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }

    /// Retry suffixes map back to their intent.
    #[test]
    fn intent_of_strips_retry_suffix() {
        assert_eq!(intent_of("fp-7-12", "fp-7-"), Some(12));
        assert_eq!(intent_of("fp-7-12-r2", "fp-7-"), Some(12));
        assert_eq!(intent_of("other", "fp-7-"), None);
    }
}
