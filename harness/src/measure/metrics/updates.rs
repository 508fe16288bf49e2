//! The seeds' latency targets, from the engine's status updates as the
//! harness heard them, each judged against the ledger at the instant it
//! was heard ([`fillproof_simulator::judge::reached_at`]):
//!
//! - submit to acknowledgement: from the intent's first submit leaving
//!   the engine (the broker's record of it) to the engine's `submitted`
//!   update, once per intent;
//! - submit to the end: from the same submit to the engine's final
//!   update (filled, partly filled, not filled), once per intent;
//! - status update latency: from the broker reaching what an update says
//!   (the order accepted, a quantity filled, a cancel asked for, the
//!   order ended) to the update;
//! - updates ahead of the broker: updates saying what the ledger had not
//!   reached when they were heard (none of them is a latency).
//!
//! An update the listener lost leaves the figures absent: what is left
//! would be a sample chosen by the loss.

use std::collections::BTreeSet;
use std::time::Duration;

use fillproof_engine::{OrderEvent, OrderState, OrderStatus};
use fillproof_simulator::judge::{Reached, reached_at};
use serde::{Deserialize, Serialize};

use crate::run::SeedRun;

/// The status-update samples of one or more seed runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateFigures {
    /// Submit to acknowledgement, milliseconds, one per intent.
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
fn reached_of(event: &OrderEvent) -> Option<Reached> {
    match event.state {
        OrderState::Submitted => Some(Reached::Accepted),
        OrderState::Working => Some(
            match event.broker_status.as_deref().map(OrderStatus::parse) {
                Some(OrderStatus::PendingCancel) if event.filled_qty.is_zero() => {
                    Reached::CancelAsked
                }
                _ => Reached::Filled(event.filled_qty),
            },
        ),
        OrderState::Filled => Some(Reached::Filled(event.filled_qty)),
        OrderState::PartiallyFilled | OrderState::NotFilled => Some(Reached::Ended),
        OrderState::Pending | OrderState::Rejected | OrderState::Failed => None,
    }
}

fn ms(from: Duration, to: Duration) -> f64 {
    (to.as_secs_f64() - from.as_secs_f64()) * 1000.0
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
        for heard in &status.heard {
            let event = &heard.event;
            let Some(reached) = reached_of(event) else {
                continue;
            };
            let order = event
                .order_id
                .as_deref()
                .and_then(|id| run.ledger.by_id(id));
            let Some(moment) = order.and_then(|o| reached_at(o, reached, heard.at)) else {
                figures.ahead_of_broker += 1;
                continue;
            };
            figures.update_ms.push(ms(moment, heard.at));
            let sent = run
                .submits
                .get(&event.client_order_id)
                .and_then(|r| r.sent_at.iter().map(|(_, at)| *at).min());
            let Some(sent) = sent else {
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
