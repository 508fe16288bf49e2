//! Why an intent taken for execution never became a broker order: the
//! broker's record of its submits ([`submits_by_intent`]) and the causes
//! counted ([`NotPlaced`]).

use fillproof_simulator::SubmitRefusal;
use serde::{Deserialize, Serialize};

use super::IntentIds;
use crate::run::SeedRun;

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

/// What the broker saw of one intent's submits, over every client order id
/// that maps to it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct IntentSubmits {
    /// At least one submit reached the broker.
    pub(super) sent: bool,
    /// The broker refused the order itself at least once.
    rejected: bool,
    /// The refusal of the last unplaced attempt.
    last_refusal: Option<SubmitRefusal>,
}

impl IntentSubmits {
    /// Why the broker holds no order for the intent: a broker rejection if
    /// any, else the refusal of the last attempt; `None` when no submit
    /// reached it or the last was simply lost.
    pub(super) fn cause(&self) -> Option<SubmitRefusal> {
        if self.rejected {
            Some(SubmitRefusal::Rejected)
        } else {
            self.last_refusal
        }
    }
}

/// The broker's record of submits, gathered per intent in one pass.
pub(super) fn submits_by_intent(run: &SeedRun, ids: &IntentIds) -> Vec<IntentSubmits> {
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

/// The count of `by` an intent the broker holds no order for adds to:
/// `shed` when the engine shed it before sending (its own word), else the
/// broker's cause ([`IntentSubmits::cause`]); `gave_up` when there is none
/// or it was a fault.
pub(super) fn not_placed_count<'a>(
    by: &'a mut NotPlaced,
    shed: bool,
    submits: &IntentSubmits,
) -> &'a mut u64 {
    match submits.cause() {
        _ if shed => &mut by.shed,
        Some(SubmitRefusal::RateLimit) => &mut by.rate_limit,
        Some(SubmitRefusal::Outage) => &mut by.outage,
        Some(SubmitRefusal::Rejected) => &mut by.rejected_by_broker,
        Some(SubmitRefusal::Fault) | None => &mut by.gave_up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
