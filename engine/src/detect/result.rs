//! What the fill detector reports about one order.

use std::fmt;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::detect::Methods;
use crate::detect::Slippage;
use crate::port::{BrokerError, EndpointCounts};
use crate::port::{Order, Side, Timestamp};

/// The detector's conclusion about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The whole quantity filled.
    Filled,
    /// Part of the quantity filled and the rest is confirmed canceled or
    /// expired.
    PartiallyFilled,
    /// The broker confirmed a terminal state (canceled, expired) with nothing
    /// filled.
    NotFilled,
    /// The broker rejected the order.
    Rejected,
    /// No terminal state could be confirmed: the order may still be working.
    /// Never reported as `NotFilled`.
    Unresolved,
}

impl Verdict {
    /// The verdict's name in snake case.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filled => "filled",
            Self::PartiallyFilled => "partially_filled",
            Self::NotFilled => "not_filled",
            Self::Rejected => "rejected",
            Self::Unresolved => "unresolved",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the deadline's cancel went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The broker accepted the cancel request.
    Accepted,
    /// The broker refused it because the order had already filled.
    AlreadyFilled,
    /// The broker refused it for another reason (e.g. already canceled).
    Refused(BrokerError),
    /// No answer after every retry: it may or may not have been applied.
    Unknown(BrokerError),
}

/// Everything the detector learned about one order.
#[derive(Debug, Clone, PartialEq)]
pub struct FillResult {
    /// The broker's order id.
    pub order_id: String,
    /// The engine's id for the intent.
    pub client_order_id: String,
    /// The instrument.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// The ordered quantity.
    pub qty: Decimal,
    /// The conclusion.
    pub verdict: Verdict,
    /// What the broker filled, as far as the engine saw: for `Unresolved`,
    /// the most it ever saw filled.
    pub filled_qty: Decimal,
    /// Average fill price, when known.
    pub avg_price: Option<Decimal>,
    /// The broker's fill stamp, when known.
    pub filled_at: Option<Timestamp>,
    /// The methods that saw the fill.
    pub methods: Methods,
    /// Confidence in the fill, 0..=1 (0 when nothing filled).
    pub confidence: f64,
    /// Order reads made (monitor loop, final and post-cancel verification).
    pub checks: u32,
    /// Broker calls by endpoint, retries included.
    pub api_calls: EndpointCounts,
    /// Retries of failed calls.
    pub retries: u32,
    /// Virtual or real time from the start of monitoring to the verdict.
    pub elapsed: Duration,
    /// The moment the engine reached its verdict, on the runtime's clock:
    /// before any wait for executions still on their way, so that a claim
    /// is judged against what the broker had filled when it was made.
    pub decided_at: tokio::time::Instant,
    /// True when the deadline came before a fill was detected.
    pub deadline_reached: bool,
    /// Why the engine stopped watching before the deadline and took the
    /// deadline's path (cancel with verification), when a guard said so:
    /// the market moved beyond the trader's slippage limit.
    pub stopped: Option<String>,
    /// How the deadline's cancel went, when there was one.
    pub cancel: Option<CancelOutcome>,
    /// Slippage against the expected price, when both are known.
    pub slippage: Option<Slippage>,
    /// Why the verdict is what it is, in a sentence.
    pub reason: String,
    /// The executions that make up `filled_qty`, each with its own price and
    /// stamp, when the trade-updates stream delivered every one of them;
    /// empty otherwise (then only the average price is known).
    pub executions: Vec<Execution>,
    /// For a bracket's or OTO's entry that filled: what became of each of
    /// its exit legs, watched until it ended (empty for any other order).
    pub exits: Vec<FillResult>,
    /// The order that replaced this one, when the broker shows it
    /// `replaced` (its fills are the replacement's to report).
    pub replaced_by: Option<String>,
}

impl FillResult {
    /// This result followed by `next`'s, the order that replaced this
    /// one: one intent's fills across its replace chain. Quantities,
    /// executions and calls add up; the price is the volume-weighted
    /// average of both; the verdict, the order and the rest are `next`'s
    /// (a remainder not filled after a fill is a partial fill).
    #[must_use]
    pub fn followed_by(self, next: FillResult) -> FillResult {
        let filled_qty = self.filled_qty + next.filled_qty;
        let notional = |r: &FillResult| r.avg_price.map(|p| p * r.filled_qty);
        let avg_price = match (notional(&self), notional(&next)) {
            _ if filled_qty.is_zero() => None,
            (Some(a), Some(b)) => Some((a + b) / filled_qty),
            (None, Some(_)) if self.filled_qty.is_zero() => next.avg_price,
            (Some(_), None) if next.filled_qty.is_zero() => self.avg_price,
            _ => None,
        };
        let verdict = match next.verdict {
            Verdict::NotFilled if !filled_qty.is_zero() => Verdict::PartiallyFilled,
            Verdict::Filled if filled_qty < self.qty => Verdict::PartiallyFilled,
            other => other,
        };
        let mut api_calls = self.api_calls;
        api_calls.add(&next.api_calls);
        let mut executions = self.executions;
        executions.extend(next.executions);
        FillResult {
            verdict,
            filled_qty,
            avg_price,
            filled_at: next.filled_at.or(self.filled_at),
            checks: self.checks + next.checks,
            api_calls,
            retries: self.retries + next.retries,
            elapsed: self.elapsed + next.elapsed,
            executions,
            qty: self.qty,
            reason: format!("{} (after a replace)", next.reason),
            ..next
        }
    }
}

/// One execution of an order, as a trade update reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The broker's execution id.
    pub id: String,
    /// Quantity.
    pub qty: Decimal,
    /// Price.
    pub price: Decimal,
    /// When it happened at the broker.
    pub at: Timestamp,
}

/// A position check: the broker's position against the engine's
/// expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consistency {
    /// They agree.
    Consistent,
    /// They disagree after every read.
    Discrepancy {
        /// What the engine expected.
        expected: Decimal,
        /// What the broker last reported.
        broker: Decimal,
    },
    /// The broker's position could not be read.
    Unavailable(BrokerError),
}

/// An order placed at the broker, and what it took to place it.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// The broker's view of the order as placed.
    pub order: Order,
    /// Calls made, retries and lookups included.
    pub api_calls: EndpointCounts,
    /// Retries of failed calls.
    pub retries: u32,
    /// True when the order was found by `client_order_id` after a submit
    /// whose answer was lost or ambiguous.
    pub recovered_by_lookup: bool,
    /// True when the order was found only after the submit deadline (the
    /// broker was unreachable until then): it is overdue, so monitoring
    /// goes straight to the deadline path (final read, cancel, reads until
    /// the broker shows how it ended).
    pub overdue: bool,
}
