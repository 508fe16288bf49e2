//! What brackets, replaces and a trader's cancels add to the verdicts,
//! each against the ledger by the simulator's judge:
//!
//! - a leg fill missed: an exit leg the broker filled for more than the
//!   engine reported of it when it concluded about it (an engine that
//!   watches no legs reports none); a leg reported beyond what the broker
//!   had filled then is a false positive, counted with the run's;
//! - an orphaned leg: an exit leg still working when the run ended while
//!   the position its group opened is closed (the entry filled and the
//!   exits filled as much);
//! - a replace race lost: an intent whose orders include a replacement,
//!   and whose fills across the chain the engine did not all report;
//! - cancel latency: from the trader's cancel to the engine's confirmed
//!   conclusion, for an order the broker had ended by then (a conclusion
//!   while it still worked is abandoned, judged elsewhere).

use std::time::Duration;

use fillproof_engine::Decimal;
use fillproof_simulator::LedgerOrder;
use fillproof_simulator::judge::{self, Claim};
use serde::{Deserialize, Serialize};

use super::{IntentIds, OrderCheck};
use crate::run::SeedRun;

/// One seed run's figures on legs, replaces and cancels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LegFigures {
    /// Exit legs of the workload's brackets.
    pub legs: u64,
    /// Legs whose fills the engine did not all report.
    pub leg_fills_missed: u64,
    /// Legs the engine reported more of than the broker had filled when
    /// it concluded about them (invented or premature): counted among
    /// the run's `false_positives`, by the intent (`slot`) they belong to.
    #[serde(default)]
    pub leg_false_positives: Vec<usize>,
    /// Legs left working on a closed position.
    pub orphaned_legs: u64,
    /// The intent (`slot`) of each leg whose fills the engine did not
    /// all report, for the figures of restarts.
    #[serde(default)]
    pub leg_misses: Vec<usize>,
    /// Intents with a replacement order.
    pub replaced: u64,
    /// Those whose fills across the chain the engine did not all report.
    pub replace_races_lost: u64,
    /// Orders a trader asked to cancel.
    pub cancels: u64,
    /// Request to confirmed conclusion of each, milliseconds.
    pub cancel_latencies_ms: Vec<f64>,
}

/// The legs of `run`'s ledger, each with the intent (slot) its group's
/// head belongs to.
fn legs_of<'a>(run: &'a SeedRun, ids: &IntentIds) -> Vec<(&'a LedgerOrder, usize)> {
    run.ledger
        .orders()
        .iter()
        .filter_map(|leg| {
            let (head, _) = leg.links.parent.as_ref()?;
            let head = run.ledger.by_id(head)?;
            Some((leg, ids.of_order(head)?))
        })
        .collect()
}

impl LegFigures {
    /// The figures of `run`, whose orders were judged as `checks`.
    #[must_use]
    pub fn of(run: &SeedRun, ids: &IntentIds, checks: &[OrderCheck]) -> Self {
        let mut figures = Self::default();
        let end = run.ended_at;
        for (leg, slot) in legs_of(run, ids) {
            figures.legs += 1;
            let outcome = &run.outcomes[slot];
            let claim = outcome
                .verdict
                .exits
                .iter()
                .find(|exit| exit.order_id == leg.id)
                .map(|exit| Claim {
                    qty: exit.filled_qty,
                    avg_price: exit.avg_price,
                    at: exit.concluded_at.unwrap_or(end),
                });
            // No report of the leg is a report of nothing filled, made
            // when the engine concluded about the order.
            let claim = claim.unwrap_or(Claim {
                qty: Decimal::ZERO,
                avg_price: None,
                at: outcome.concluded_at.unwrap_or(end),
            });
            let judged = judge::judge_order(&[leg], Some(leg), &[], Some(&claim), end);
            if judged.check.missed() {
                figures.leg_fills_missed += 1;
                figures.leg_misses.push(slot);
            }
            if judged.check.false_positive() {
                figures.leg_false_positives.push(slot);
            }
            if orphaned(run, leg, end) {
                figures.orphaned_legs += 1;
            }
        }
        figures.add_replaces(run, ids, checks);
        figures.add_cancels(run, checks);
        figures
    }

    /// Intents with a replacement, and those whose chain's fills the
    /// engine missed.
    fn add_replaces(&mut self, run: &SeedRun, ids: &IntentIds, checks: &[OrderCheck]) {
        let mut replaced = vec![false; run.outcomes.len()];
        for order in run.ledger.orders() {
            if order.links.replaces.is_some() && order.links.parent.is_none() {
                if let Some(slot) = ids.of_order(order) {
                    replaced[slot] = true;
                }
            }
        }
        for (check, replaced) in checks.iter().zip(replaced) {
            if replaced {
                self.replaced += 1;
                if check.missed() {
                    self.replace_races_lost += 1;
                }
            }
        }
    }

    /// Each trader's cancel, and how long the engine took to conclude
    /// about the order once the broker had ended it.
    fn add_cancels(&mut self, run: &SeedRun, checks: &[OrderCheck]) {
        for (outcome, check) in run.outcomes.iter().zip(checks) {
            let Some(asked) = outcome.cancel_requested_at else {
                continue;
            };
            // Every cancel a trader asked for, whether or not the engine
            // took it: one it dropped shows as a slow conclusion, or as an
            // order the broker filled.
            self.cancels += 1;
            // A cancel asked after the engine had concluded (a bracket's
            // exits still watched) reached nothing: no sample.
            let concluded = outcome
                .concluded_at
                .filter(|c| *c >= asked && !check.open_at_conclusion);
            if let Some(concluded) = concluded {
                let latency = concluded - asked;
                self.cancel_latencies_ms
                    .push(latency.as_secs_f64() * 1_000.0);
            }
        }
    }

    /// Adds another seed's figures.
    pub fn add(&mut self, other: &Self) {
        self.legs += other.legs;
        self.leg_fills_missed += other.leg_fills_missed;
        self.leg_false_positives
            .extend_from_slice(&other.leg_false_positives);
        self.orphaned_legs += other.orphaned_legs;
        self.replaced += other.replaced;
        self.replace_races_lost += other.replace_races_lost;
        self.cancels += other.cancels;
        self.cancel_latencies_ms
            .extend_from_slice(&other.cancel_latencies_ms);
    }
}

/// True when `leg` still works at `end` while the position its group
/// opened is closed: its entry filled, and its group's exits filled as
/// much.
fn orphaned(run: &SeedRun, leg: &LedgerOrder, end: Duration) -> bool {
    if leg.status_at(end).is_terminal() {
        return false;
    }
    let Some((head_id, _)) = &leg.links.parent else {
        return false;
    };
    let Some(head) = run.ledger.by_id(head_id) else {
        return false;
    };
    let opened = head.filled_qty_at(end);
    let closed: Decimal = run
        .ledger
        .orders()
        .iter()
        .filter(|o| o.links.parent.as_ref().is_some_and(|(h, _)| h == head_id))
        .map(|o| o.filled_qty_at(end))
        .sum();
    opened > Decimal::ZERO && closed >= opened
}
