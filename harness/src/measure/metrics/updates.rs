//! The seeds' latency targets, from the engine's status updates as the
//! harness heard them, each judged against the ledger at the instant it
//! was heard ([`fillproof_simulator::judge::reached_at`]):
//!
//! - submit to acknowledgement: from the trader handing the intent to the
//!   engine (its wait in the engine's submit queue included) to the
//!   engine's `submitted` update, once per intent;
//! - submit to the end: from the same instant to the engine's final
//!   update (filled, partly filled, not filled), once per intent;
//! - status update latency: from the broker reaching what an update says
//!   (the order accepted, a quantity filled across its replace chain, a
//!   cancel asked for, the order ended) to the first update saying it;
//! - updates ahead of the broker: updates saying what the ledger had not
//!   reached when they were heard (none of them is a latency).
//!
//! An update the listener lost leaves the figures absent: what is left
//! would be a sample chosen by the loss.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fillproof_engine::{OrderEvent, OrderState, OrderStatus};
use fillproof_simulator::judge::{Reached, reached_at};
use fillproof_simulator::{Ledger, LedgerOrder};
use serde::{Deserialize, Serialize};

use crate::run::SeedRun;

/// The status-update samples of one or more seed runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateFigures {
    /// The trader's submission to acknowledgement, milliseconds, one per
    /// intent.
    pub submit_to_ack_ms: Vec<f64>,
    /// Submit to the final update, milliseconds, one per intent.
    pub submit_to_terminal_ms: Vec<f64>,
    /// Broker change to update, milliseconds, one per update.
    pub update_ms: Vec<f64>,
    /// Updates saying what the ledger had not reached when heard.
    pub ahead_of_broker: u64,
    /// Updates the harness's listener lost.
    pub lost: u64,
}

/// What an update says the broker reached; `None` for an update that
/// reports no broker change (a signal refused, a submission that failed).
/// A working order's update says what its broker status says: a cancel
/// asked for, the order ended (canceled, expired, replaced, rejected), or
/// else the quantity filled.
fn reached_of(event: &OrderEvent) -> Option<Reached> {
    match event.state {
        OrderState::Submitted => Some(Reached::Accepted),
        OrderState::Working => Some(
            match event.broker_status.as_deref().map(OrderStatus::parse) {
                Some(OrderStatus::PendingCancel) => Reached::CancelAsked,
                Some(OrderStatus::Filled) | None => Reached::Filled(event.filled_qty),
                Some(status) if status.is_terminal() => Reached::Ended,
                Some(_) => Reached::Filled(event.filled_qty),
            },
        ),
        OrderState::Filled => Some(Reached::Filled(event.filled_qty)),
        OrderState::PartiallyFilled | OrderState::NotFilled => Some(Reached::Ended),
        OrderState::Pending | OrderState::Rejected | OrderState::Failed => None,
    }
}

/// The order `id` names and the orders it replaced, newest first: a
/// replace chain's fills add up across it.
fn chain<'a>(ledger: &'a Ledger, id: &str) -> Vec<&'a LedgerOrder> {
    let mut chain = Vec::new();
    let mut next = ledger.by_id(id);
    while let Some(order) = next {
        if chain.len() > MAX_CHAIN {
            break;
        }
        chain.push(order);
        next = order
            .links
            .replaces
            .as_deref()
            .and_then(|id| ledger.by_id(id));
    }
    chain
}

/// The longest replace chain followed (a bound against a ledger whose
/// links loop).
const MAX_CHAIN: usize = 1_000;

/// Milliseconds from `from` to `to`, to the microsecond (the ledger's
/// own precision: a sample written in a report or shard stays short).
fn ms(from: Duration, to: Duration) -> f64 {
    let micros = to.as_micros() as f64 - from.as_micros() as f64;
    micros / 1000.0
}

impl UpdateFigures {
    /// One seed run's samples; `None` for an engine without an event
    /// stream.
    #[must_use]
    pub fn of(run: &SeedRun) -> Option<Self> {
        let status = run.status.as_ref()?;
        let mut figures = Self {
            lost: status.lost,
            ..Self::default()
        };
        let (mut acked, mut ended) = (BTreeSet::new(), BTreeSet::new());
        let mut heard_of = BTreeSet::new();
        // When the trader handed each intent to the engine: a wait in the
        // engine's own submit queue is part of the trader's.
        let handed: BTreeMap<&str, Duration> = run
            .outcomes
            .iter()
            .map(|o| (o.client_order_id.as_str(), o.submitted_at))
            .collect();
        for heard in &status.heard {
            let event = &heard.event;
            let Some(reached) = reached_of(event) else {
                continue;
            };
            let orders = event
                .order_id
                .as_deref()
                .map_or_else(Vec::new, |id| chain(&run.ledger, id));
            let Some(moment) = reached_at(&orders, reached, heard.at) else {
                figures.ahead_of_broker += 1;
                continue;
            };
            // The first update of a change is when the trader heard of
            // it; one repeating it (the watch's first look after the
            // acknowledgement, the verdict after the fill's update) adds
            // no sample.
            if heard_of.insert((event.order_id.as_deref(), reached)) {
                figures.update_ms.push(ms(moment, heard.at));
            }
            let Some(&sent) = handed.get(event.client_order_id.as_str()) else {
                continue;
            };
            let id = event.client_order_id.as_str();
            if event.state == OrderState::Submitted && acked.insert(id) {
                figures.submit_to_ack_ms.push(ms(sent, heard.at));
            }
            let last = matches!(
                event.state,
                OrderState::Filled | OrderState::PartiallyFilled | OrderState::NotFilled
            );
            if last && ended.insert(id) {
                figures.submit_to_terminal_ms.push(ms(sent, heard.at));
            }
        }
        Some(figures)
    }

    /// Adds another run's samples.
    pub fn add(&mut self, other: &Self) {
        self.submit_to_ack_ms
            .extend_from_slice(&other.submit_to_ack_ms);
        self.submit_to_terminal_ms
            .extend_from_slice(&other.submit_to_terminal_ms);
        self.update_ms.extend_from_slice(&other.update_ms);
        self.ahead_of_broker += other.ahead_of_broker;
        self.lost += other.lost;
    }

    /// The samples, when none was lost.
    #[must_use]
    pub fn whole(&self) -> Option<&Self> {
        (self.lost == 0).then_some(self)
    }
}
