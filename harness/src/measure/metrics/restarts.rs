//! What the engine's crashes and restarts add to the verdicts (a
//! scenario's `crashes:` section), each against the ledger:
//!
//! - an orphaned order: a broker order of an intent a crash left in
//!   flight, still working when the fresh engine had finished recovering
//!   (or landing after it),
//!   that the recovery did not find and the fresh engine did not place
//!   (a bracket's exit leg counts with its entry's intent, and is found
//!   with its entry when the engine goes on to report the leg, or on its
//!   own when recovery reads an entry the journal shows filled and
//!   watches its legs again; an intent the
//!   journal shows never sent is sent by the fresh engine
//!   under its own id; one sent again under a new id leaves the first
//!   order to nobody): an order no running engine watches;
//! - a duplicate across a restart: a broker order beyond one of an intent
//!   a crash left in flight;
//! - a fill missed across a restart: an intent a crash left in flight
//!   whose fills the engine did not all report (the run's own rule), or
//!   an exit leg of one whose fills it did not all report;
//! - a recovery position alarm: a symbol whose broker position disagreed
//!   with the book the fresh engine rebuilt from its journal (its own
//!   check, where no order in flight moves the position);
//! - recovery time: from the fresh engine's start to the instant it had
//!   located every intent in flight (found at the broker, or concluded
//!   never placed) and read again every entry whose exit legs the journal
//!   shows open, virtual; a recovery that never finished gives none.

use fillproof_engine::Decimal;
use serde::{Deserialize, Serialize};

use super::{IntentIds, LegFigures, OrderCheck};
use crate::run::{CrashRecord, SeedRun};

/// One seed run's figures on crashes and restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartFigures {
    /// Crashes that came.
    pub crashes: u64,
    /// Broker orders no running engine watched after a restart.
    pub orders_orphaned: u64,
    /// Broker orders beyond one of intents a crash left in flight.
    pub duplicates_across_restarts: u64,
    /// Intents a crash left in flight whose fills the engine did not all
    /// report.
    pub missed_fills_across_restarts: u64,
    /// Each finished recovery's time, milliseconds.
    pub recovery_ms: Vec<f64>,
    /// Symbols whose broker position disagreed with a book rebuilt from
    /// the journal (the engine's own check at recovery); `None` when no
    /// recovery checked (an engine without a journal).
    #[serde(default)]
    pub recovery_position_alarms: Option<u64>,
}

impl RestartFigures {
    /// The figures of `run`; `None` when its scenario has no crashes.
    #[must_use]
    pub fn of(
        run: &SeedRun,
        ids: &IntentIds,
        checks: &[OrderCheck],
        legs: &LegFigures,
    ) -> Option<Self> {
        let records = run.crashes.as_ref()?;
        let mut figures = Self {
            crashes: records.len() as u64,
            ..Self::default()
        };
        let mut interrupted = vec![false; checks.len()];
        let mut orphaned = std::collections::BTreeSet::new();
        for (number, record) in records.iter().enumerate() {
            for &index in &record.in_flight {
                if let Some(slot) = interrupted.get_mut(index as usize) {
                    *slot = true;
                }
            }
            if let Some(alarms) = record.position_alarms {
                *figures.recovery_position_alarms.get_or_insert(0) += alarms;
            }
            let Some(recovered) = record.recovered_at else {
                continue;
            };
            figures
                .recovery_ms
                .push((recovered - record.restarted_at).as_secs_f64() * 1_000.0);
            orphaned.extend(orphans_after(run, ids, (number, record), recovered));
        }
        figures.orders_orphaned = orphaned.len() as u64;
        for (check, _) in checks.iter().zip(&interrupted).filter(|(_, i)| **i) {
            figures.duplicates_across_restarts += u64::from(check.broker_orders.saturating_sub(1));
            figures.missed_fills_across_restarts += u64::from(check.missed());
        }
        // An exit leg's fills missed count for its entry's intent.
        figures.missed_fills_across_restarts += legs
            .leg_misses
            .iter()
            .filter(|slot| interrupted.get(**slot).copied().unwrap_or(false))
            .count() as u64;
        Some(figures)
    }

    /// Adds another seed's figures.
    pub fn add(&mut self, other: &Self) {
        self.crashes += other.crashes;
        self.orders_orphaned += other.orders_orphaned;
        self.duplicates_across_restarts += other.duplicates_across_restarts;
        self.missed_fills_across_restarts += other.missed_fills_across_restarts;
        self.recovery_ms.extend_from_slice(&other.recovery_ms);
        if let Some(more) = other.recovery_position_alarms {
            *self.recovery_position_alarms.get_or_insert(0) += more;
        }
    }
}

/// The broker orders crash `number` (`record`) left to nobody: of an
/// intent the crash stopped, working when its recovery had finished
/// (`recovered`) or landing after, neither found by that recovery nor
/// sent again by the fresh engine.
fn orphans_after(
    run: &SeedRun,
    ids: &IntentIds,
    (number, record): (usize, &CrashRecord),
    recovered: std::time::Duration,
) -> Vec<String> {
    // Sent again under a new id by this engine: watched by it.
    let resent = format!("-restart{}", number + 1);
    let mut orphaned = Vec::new();
    for order in run.ledger.orders() {
        // A bracket's exit leg belongs to its entry's intent; a
        // leg the crash left working is watched only if recovery
        // found it.
        let Some(slot) = ids
            .of_order(order)
            .or_else(|| ids.of_leg(&run.ledger, order))
        else {
            continue;
        };
        // An intent the journal shows never sent is sent by the
        // fresh engine, under its own id, and watched by it.
        let stopped = record.in_flight.contains(&(slot as u32))
            && !record.delivered_again.contains(&(slot as u32));
        // A leg held until its entry fills works from then.
        let held = order
            .links
            .held_until
            .is_some_and(|until| until > recovered && order.accepted_at <= recovered);
        // Working when recovery had finished, or landing after it
        // (a submit from before the crash, still on its way).
        let working = order.accepted_at > recovered || !order.status_at(recovered).is_terminal();
        // A replacement of an order recovery found is watched
        // with it: the watch follows the replace chain. An exit
        // leg of an entry recovery found is watched when the
        // entry's watch goes on to it: the engine reports the leg.
        let located = |o| chain(&run.ledger, o).any(|id| record.located.iter().any(|l| l == id));
        let head = order
            .links
            .parent
            .as_ref()
            .and_then(|(head, _)| run.ledger.by_id(head));
        let reported = run
            .outcomes
            .get(slot)
            .is_some_and(|outcome| outcome.verdict.exits.iter().any(|e| e.order_id == order.id));
        // A leg of an entry that never filled whole never worked: the
        // entry's watch ends it with the entry.
        let never_worked = head.is_some_and(|head| {
            head.fills_by(run.ended_at).map(|f| f.qty).sum::<Decimal>() < head.qty
        });
        let found = located(order) || ((reported || never_worked) && head.is_some_and(located));
        // The fresh engine sent it again under its own id (an exit leg: its
        // entry): it watches it.
        let resent_here = std::iter::once(order)
            .chain(head)
            .any(|o| o.client_order_id.ends_with(&resent));
        if stopped && (working || held) && !resent_here && !found {
            orphaned.push(order.id.clone());
        }
    }
    orphaned
}

/// The ids of `order` and of every order it replaced, back to the first.
fn chain<'a>(
    ledger: &'a fillproof_simulator::Ledger,
    order: &'a fillproof_simulator::LedgerOrder,
) -> impl Iterator<Item = &'a str> {
    std::iter::successors(Some(order), move |o| {
        o.links.replaces.as_deref().and_then(|id| ledger.by_id(id))
    })
    .map(|o| o.id.as_str())
    .take(64)
}
