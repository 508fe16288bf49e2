//! Metrics: each order's engine verdict against the ledger, with the
//! definitions of DESIGN.md.
//!
//! An intent's truth is what the broker filled for it across every broker
//! order that carries its client order id (retries that made duplicates
//! included), at the end of the run.

//!
//! Entry points: [`Tally::of`] (one seed run's counts, each order judged
//! by [`check_orders`]), [`Tally::add`], [`Metrics::from_tallies`] and
//! [`Metrics::over`] (the pooled figures), [`Metrics::get`] (a metric by
//! its `expect:` name).
//!
//! Files: `orders.rs` (one order against the ledger), `submits.rs` (why an
//! intent was not placed), `records.rs` (the engine's book and audit log
//! against the ledger), `percentiles.rs`, `slippage.rs` (each filled
//! order's price against the quote when the broker accepted it), `tally.rs`
//! (one seed's counts and how they add up); this file holds the metrics
//! themselves.
//!
//! May import: `crate::run` (the seed runs it measures),
//! `fillproof_simulator` (its judge and ledger), `fillproof_engine`.

mod legs;
mod orders;
mod percentiles;
mod records;
mod restarts;
mod slippage;
mod submits;
mod tally;
mod updates;

use fillproof_simulator::judge;
use indexmap::IndexMap;
use serde::Serialize;

pub use legs::LegFigures;
pub use orders::{IntentIds, OrderCheck, check_orders};
pub use percentiles::Percentiles;
pub use restarts::RestartFigures;
pub use slippage::{Slippage, order_slippage_bps, slippage_samples, touch_at};
pub use submits::NotPlaced;
pub use tally::Tally;
pub use updates::UpdateFigures;

use crate::run::SeedRun;

/// The metrics of DESIGN.md over one or more seed runs. A metric an engine
/// cannot produce (the naive baselines keep no position book, no audit log
/// and check no positions) is `None`: `null` in JSON, `n/a` in tables.
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
    /// Crash points the timeline scripts that no call reached: crashes
    /// that never happened (any fails the run unless expected).
    #[serde(default)]
    pub crash_points_unreached: u64,
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
    /// Execution slippage of the broker orders that filled, in basis
    /// points, positive against the trader: each order's average fill
    /// price against the touch (ask for a buy, bid for a sell) of the
    /// market when the broker accepted it; `None` when none filled.
    pub slippage_bps: Option<Slippage>,
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
    /// Symbols the engine's own end-of-run position check reported
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
    /// Exit legs of brackets the broker filled for more than the engine
    /// reported of them; `None` when the run placed no bracket.
    pub leg_fills_missed: Option<u64>,
    /// Exit legs still working when the run ended while the position
    /// their bracket opened was closed; `None` when the run placed no
    /// bracket.
    pub orphaned_legs: Option<u64>,
    /// Replaced orders whose fills across the replace chain the engine did
    /// not all report; `None` when nothing was replaced.
    pub replace_races_lost: Option<u64>,
    /// A trader's cancel to the engine's conclusion, for orders the broker
    /// had ended by then; `None` when no trader canceled.
    pub cancel_latency_ms: Option<Percentiles>,
    /// The engine's crashes; `None` when the scenario has none.
    pub crashes: Option<u64>,
    /// Broker orders no running engine watched after a restart; `None`
    /// when no crash came (nor for the three figures below).
    pub orders_orphaned: Option<u64>,
    /// Broker orders beyond one of intents a crash left in flight.
    pub duplicates_across_restarts: Option<u64>,
    /// Intents a crash left in flight whose fills the engine did not all
    /// report.
    pub missed_fills_across_restarts: Option<u64>,
    /// From a restart to every intent in flight located, virtual.
    pub recovery_ms: Option<Percentiles>,
    /// Symbols whose broker position disagreed with a book rebuilt from
    /// the journal; `None` when no crash came.
    pub recovery_position_alarms: Option<u64>,
    /// From an intent's first submit leaving to the engine's `submitted`
    /// update; `None` for an engine without an event stream, or when an
    /// update was lost.
    pub submit_to_ack_ms: Option<Percentiles>,
    /// From an intent's first submit leaving to the engine's final update.
    pub submit_to_terminal_ms: Option<Percentiles>,
    /// From the broker reaching what an update says to the update.
    pub status_update_latency_ms: Option<Percentiles>,
    /// Updates saying what the broker had not reached when they were
    /// heard.
    pub status_updates_ahead_of_broker: Option<u64>,
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
        let calls: u64 = t.calls.total();
        let orders_not_placed = t.not_placed.total();
        let [missed, fp, unresolved, abandoned, panics] = t.examples.clone();
        let updates = t.updates.as_ref().and_then(UpdateFigures::whole);
        Self {
            orders: t.orders,
            orders_unrun: t.orders_unrun,
            requests_unlanded: t.requests_unlanded,
            crash_points_unreached: t.crash_points_unreached,
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
            slippage_bps: Slippage::of(t.slippage_bps.clone()),
            api_calls_per_order: ratio(calls, t.sent).map(round4),
            api_calls_by_endpoint: t
                .calls
                .iter()
                .map(|(e, n)| (e.as_str().to_owned(), ratio(n, t.sent).map_or(0.0, round4)))
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
            leg_fills_missed: (t.legs.legs > 0).then_some(t.legs.leg_fills_missed),
            orphaned_legs: (t.legs.legs > 0).then_some(t.legs.orphaned_legs),
            replace_races_lost: (t.legs.replaced > 0).then_some(t.legs.replace_races_lost),
            cancel_latency_ms: Percentiles::of(t.legs.cancel_latencies_ms.clone()),
            crashes: t.restarts.as_ref().map(|r| r.crashes),
            orders_orphaned: came(&t.restarts, |r| r.orders_orphaned),
            duplicates_across_restarts: came(&t.restarts, |r| r.duplicates_across_restarts),
            missed_fills_across_restarts: came(&t.restarts, |r| r.missed_fills_across_restarts),
            recovery_position_alarms: t
                .restarts
                .as_ref()
                .filter(|r| r.crashes > 0)
                .and_then(|r| r.recovery_position_alarms),
            recovery_ms: t
                .restarts
                .as_ref()
                .and_then(|r| Percentiles::of(r.recovery_ms.clone())),
            submit_to_ack_ms: updates.and_then(|u| Percentiles::of(u.submit_to_ack_ms.clone())),
            submit_to_terminal_ms: updates
                .and_then(|u| Percentiles::of(u.submit_to_terminal_ms.clone())),
            status_update_latency_ms: updates.and_then(|u| Percentiles::of(u.update_ms.clone())),
            status_updates_ahead_of_broker: updates.map(|u| u.ahead_of_broker),
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
        let slippage = |pick: fn(&Slippage) -> f64| self.slippage_bps.as_ref().map(pick);
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
            "slippage_p50_bps" => slippage(|s| s.p50),
            "slippage_p95_bps" => slippage(|s| s.p95),
            "slippage_worst_bps" => slippage(|s| s.worst),
            "api_calls_per_order" => self.api_calls_per_order,
            "orders" => count(self.orders),
            "orders_unrun" => count(self.orders_unrun),
            "requests_unlanded" => count(self.requests_unlanded),
            "crash_points_unreached" => count(self.crash_points_unreached),
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
            "leg_fills_missed" => self.leg_fills_missed.map(|n| n as f64),
            "orphaned_legs" => self.orphaned_legs.map(|n| n as f64),
            "replace_races_lost" => self.replace_races_lost.map(|n| n as f64),
            "crashes" => self.crashes.map(|n| n as f64),
            "orders_orphaned" => self.orders_orphaned.map(|n| n as f64),
            "duplicates_across_restarts" => self.duplicates_across_restarts.map(|n| n as f64),
            "missed_fills_across_restarts" => self.missed_fills_across_restarts.map(|n| n as f64),
            "recovery_position_alarms" => self.recovery_position_alarms.map(|n| n as f64),
            "recovery_p50_ms" => self.recovery_ms.map(|p| p.p50),
            "recovery_p95_ms" => self.recovery_ms.map(|p| p.p95),
            "submit_to_ack_p50_ms" => self.submit_to_ack_ms.map(|p| p.p50),
            "submit_to_ack_p95_ms" => self.submit_to_ack_ms.map(|p| p.p95),
            "submit_to_ack_p99_ms" => self.submit_to_ack_ms.map(|p| p.p99),
            "submit_to_terminal_p50_ms" => self.submit_to_terminal_ms.map(|p| p.p50),
            "submit_to_terminal_p95_ms" => self.submit_to_terminal_ms.map(|p| p.p95),
            "submit_to_terminal_p99_ms" => self.submit_to_terminal_ms.map(|p| p.p99),
            "status_update_latency_p50_ms" => self.status_update_latency_ms.map(|p| p.p50),
            "status_update_latency_p95_ms" => self.status_update_latency_ms.map(|p| p.p95),
            "status_update_latency_p99_ms" => self.status_update_latency_ms.map(|p| p.p99),
            "status_updates_ahead_of_broker" => {
                self.status_updates_ahead_of_broker.map(|n| n as f64)
            }
            "cancel_latency_p50_ms" => self.cancel_latency_ms.map(|p| p.p50),
            "cancel_latency_p95_ms" => self.cancel_latency_ms.map(|p| p.p95),
            _ => None,
        }
    }
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// A restart figure, when a crash came: with none, a figure about
/// restarts cannot be produced, and is absent rather than 0.
fn came(restarts: &Option<RestartFigures>, figure: fn(&RestartFigures) -> u64) -> Option<u64> {
    restarts.as_ref().filter(|r| r.crashes > 0).map(figure)
}
