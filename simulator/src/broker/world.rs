//! The state every call of a [`SimBroker`](super::SimBroker) shares: the
//! ledger, the wire state (call numbers, the rate limit's bucket, requests
//! on their way, the stream) and the tally (calls, faults injected, what
//! became of every submit, the trace).

use std::time::Duration;

use fillproof_engine::{BrokerError, EndpointCounts, RateLimitState};
use tokio::time::Instant;

use crate::fault::CallRefusal;
use crate::ledger::Ledger;
use crate::model::in_window;
use crate::stream::{StreamState, StreamWorld};
use crate::time::trace_micros;
use crate::trace::{Trace, TraceEvent, TraceKind};

pub(super) struct World {
    pub(super) ledger: Ledger,
    /// Client order id to workload index, as registered by the harness.
    pub(super) registry: indexmap::IndexMap<String, u32, fillproof_engine::StableBuildHasher>,
    /// Calls made per (order key, endpoint).
    pub(super) call_numbers:
        indexmap::IndexMap<(u64, usize), u32, fillproof_engine::StableBuildHasher>,
    pub(super) bucket: Option<Bucket>,
    pub(super) healed: bool,
    pub(super) trace: Trace,
    /// Calls per endpoint, indexed by [`Endpoint::index`](crate::Endpoint::index).
    pub(super) calls: EndpointCounts<u64>,
    /// What became of every submit, by client order id.
    pub(super) submits:
        indexmap::IndexMap<String, SubmitRecord, fillproof_engine::StableBuildHasher>,
    pub(super) stream: StreamState,
    /// The rate-limit state sent with the latest answer.
    pub(super) rate_state: Option<RateLimitState>,
    /// Faults injected, by kind.
    pub(super) faults_injected: std::collections::BTreeMap<&'static str, u64>,
    /// Requests whose caller stopped waiting, still on their way: how many,
    /// and when the last of them lands.
    pub(super) travelling: (u64, Option<Instant>),
    /// Calls that reached a crash point the timeline scripts.
    pub(super) crash_points_reached: u64,
    /// Every request sent and not yet applied, whether or not its caller
    /// still waits: how many land at each virtual time.
    pub(super) on_their_way: std::collections::BTreeMap<Duration, u32>,
}

impl World {
    /// Passes a call arriving at `now` through the broker's gates: an
    /// outage window among `outages`, then the rate limit (its bucket
    /// spends a token on every call it lets through), neither once healed;
    /// notes the rate-limit state sent with the answer.
    pub(super) fn pass_gates(&mut self, now: Duration, outages: &[(Duration, Duration)]) -> Gates {
        let in_outage = !self.healed && in_window(outages, now);
        let limited = if in_outage || self.healed {
            Ok(())
        } else {
            self.bucket.as_mut().map_or(Ok(()), |b| b.take(now))
        };
        self.rate_state = if self.healed {
            None
        } else {
            self.bucket.as_ref().map(Bucket::state)
        };
        Gates { in_outage, limited }
    }

    /// A request that was to land at `at` has landed (or never will).
    pub(super) fn not_on_its_way(&mut self, at: Duration) {
        if let std::collections::btree_map::Entry::Occupied(mut entry) = self.on_their_way.entry(at)
        {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }
}

impl StreamWorld for World {
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn stream(&mut self) -> &mut StreamState {
        &mut self.stream
    }

    fn healed(&self) -> bool {
        self.healed
    }

    fn trace(&mut self, at: Duration, kind: TraceKind) {
        let t_us = trace_micros(at);
        self.trace.push(TraceEvent { t_us, kind });
    }
}

/// Why a submit the broker received did not place an order, as the broker
/// knows it (not as the engine guessed it).
///
/// Not a [`CallRefusal`](crate::CallRefusal): the broker's own refusal of the order
/// (`Rejected`) is an answer, not a refusal of the call, and of a fault only
/// whether it kept the request from the broker matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubmitRefusal {
    /// The broker's rate limit answered 429.
    RateLimit,
    /// The broker was in an outage window (503).
    Outage,
    /// The broker refused the order itself (403 or 422).
    Rejected,
    /// An injected fault answered instead, and the request was not applied
    /// (500, 502, 503, 504 or a timeout before the broker).
    Fault,
}

/// Every submit the broker received for one client order id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitRecord {
    /// Submit calls that reached the broker.
    pub attempts: u32,
    /// When each of them was sent (virtual time, before its request leg),
    /// by its call number for the order, in the order they landed.
    pub sent_at: Vec<(u32, Duration)>,
    /// True once one of them placed an order.
    pub placed: bool,
    /// True when the broker refused the order itself at least once.
    pub rejected: bool,
    /// Why the last unplaced attempt was refused.
    pub last_refusal: Option<SubmitRefusal>,
}

/// A token bucket refilled continuously.
pub(super) struct Bucket {
    pub(super) capacity: f64,
    pub(super) tokens: f64,
    pub(super) per_second: f64,
    pub(super) last: Duration,
}

impl Bucket {
    /// What the broker reports with an answer: its limit, the whole tokens
    /// left, and (the bucket refilling continuously) the time until the
    /// next token.
    pub(super) fn state(&self) -> RateLimitState {
        let reset_in = if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        };
        RateLimitState {
            limit: self.capacity as u32,
            remaining: self.tokens.max(0.0) as u32,
            reset_in,
        }
    }

    /// Takes a token at `now`, or says how long until one is free.
    pub(super) fn take(&mut self, now: Duration) -> Result<(), Duration> {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.per_second;
            // Whole milliseconds, rounded up, as a Retry-After header would.
            Err(Duration::from_millis((wait * 1000.0).ceil() as u64))
        }
    }
}

/// Notes what became of a submit the broker received.
pub(super) fn note_submit<T>(
    world: &mut World,
    target: &str,
    sent: (u32, Duration),
    result: &Result<T, BrokerError>,
    refusal: Option<CallRefusal>,
) {
    let refusal = match refusal {
        Some(CallRefusal::Outage) => Some(SubmitRefusal::Outage),
        Some(CallRefusal::RateLimit) => Some(SubmitRefusal::RateLimit),
        // A call with no refusal was applied: an error is the broker's own.
        None if result.is_err() => Some(SubmitRefusal::Rejected),
        Some(CallRefusal::Fault(fault)) if !fault.applied() => Some(SubmitRefusal::Fault),
        _ => None,
    };
    let placed = world.ledger.by_client_id(target).is_some();
    let record = world.submits.entry(target.to_owned()).or_default();
    record.attempts += 1;
    record.sent_at.push(sent);
    record.placed |= placed;
    // A refusal after the order was placed (a resubmit of the same id,
    // refused as a duplicate) says nothing of why it was not placed.
    if let Some(refusal) = refusal.filter(|_| !placed) {
        record.rejected |= refusal == SubmitRefusal::Rejected;
        record.last_refusal = Some(refusal);
    }
}

/// What the broker's gates made of a call arriving: whether an outage
/// window holds it, and the rate limit's answer (`Err` with the wait until
/// a token is free).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Gates {
    /// An outage window holds the call.
    pub(super) in_outage: bool,
    /// The rate limit let it through, or says how long until it would.
    pub(super) limited: Result<(), Duration>,
}
