//! The trace: every broker event and every API call, stamped with virtual
//! time, hashed as it grows so that a run is identified by one number.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::time::Duration;

use fillproof_engine::{Decimal, OrderStatus, StableHasher};
use serde::Serialize;

use crate::ledger::{BrokerEnd, Fill};

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TraceEvent {
    /// Virtual microseconds since the run began.
    pub t_us: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: TraceKind,
}

/// What a trace line records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceKind {
    /// A call reached the broker (or was refused on the way).
    Call {
        /// The endpoint.
        endpoint: &'static str,
        /// The order's workload index, when known.
        order: Option<u32>,
        /// The broker id or client id or symbol the call named.
        target: String,
        /// The call's number for this order and endpoint, from 0.
        call: u32,
        /// What the engine will see: `ok`, or the error.
        outcome: Cow<'static, str>,
        /// True when the broker applied the request.
        applied: bool,
        /// The injected fault, `outage` or `rate_limit` that shaped the
        /// answer, if any.
        fault: Option<&'static str>,
        /// For order and position reads: what the engine was shown.
        seen: Option<Seen>,
        /// True when the caller had stopped waiting before the request
        /// arrived: applied all the same, its answer went nowhere.
        abandoned: bool,
    },
    /// The broker accepted an order and drew its lifecycle.
    Accept {
        /// The order's workload index, when known.
        order: Option<u32>,
        /// The broker's id.
        id: String,
        /// The planned fills as `qty@price+offset_us`, and any planned
        /// rejection.
        plan: String,
    },
    /// The broker accepted a cancel request.
    CancelRequested {
        /// The order's workload index, when known.
        order: Option<u32>,
        /// Virtual microseconds at which the cancel takes effect.
        effective_us: u64,
    },
    /// The broker's faults healed (the harness's settle window began).
    Healed,
    /// A trade update reached the stream's subscribers, or was lost
    /// because the connection was down.
    Stream {
        /// The order's workload index, when known.
        order: Option<u32>,
        /// The update's event, as on the wire (`partial_fill`, ...).
        update: String,
        /// The order's filled quantity it carried.
        filled_qty: rust_decimal::Decimal,
        /// False when the connection was down and the event was lost.
        delivered: bool,
    },
    /// The stream's connection came back after a disconnect or outage.
    StreamReconnected,
}

/// What a read showed the engine, as a trace line prints it: an order's
/// `status/filled_qty`, or a position's quantity (`flat` for none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seen {
    /// An order read.
    Order {
        /// The status field returned.
        status: OrderStatus,
        /// The filled quantity returned.
        filled_qty: Decimal,
    },
    /// A position read: the quantity, or `None` when flat.
    Position(Option<Decimal>),
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Order { status, filled_qty } => write!(f, "{status}/{filled_qty}"),
            Self::Position(None) => f.write_str("flat"),
            Self::Position(Some(qty)) => write!(f, "{qty}"),
        }
    }
}

impl Serialize for Seen {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An API call as it is traced, borrowing what the caller holds: hashing
/// it allocates nothing, and it is copied into a [`TraceEvent`] only when
/// the trace keeps its events.
#[derive(Debug, Clone)]
pub struct CallRecord<'a> {
    /// The endpoint.
    pub endpoint: &'static str,
    /// The order's workload index, when known.
    pub order: Option<u32>,
    /// The broker id or client id or symbol the call named.
    pub target: &'a str,
    /// The call's number for this order and endpoint, from 0.
    pub call: u32,
    /// What the engine will see: `ok`, or the error.
    pub outcome: Cow<'static, str>,
    /// True when the broker applied the request.
    pub applied: bool,
    /// The fault, `outage` or `rate_limit` that shaped the answer, if any.
    pub fault: Option<&'static str>,
    /// What a read showed.
    pub seen: Option<Seen>,
    /// True when the caller had stopped waiting before the request
    /// arrived: it was applied all the same, and its answer went nowhere.
    pub abandoned: bool,
}

/// An accepted order's drawn lifecycle as it is traced, borrowing the
/// plan: hashed field by field, printed as `qty@price+offset_us` (and any
/// broker-chosen end) only when the trace keeps its events.
#[derive(Debug, Clone, Copy)]
pub struct AcceptRecord<'a> {
    /// The order's workload index, when known.
    pub order: Option<u32>,
    /// The broker's id.
    pub id: &'a str,
    /// When the broker accepted it; offsets are from here.
    pub accepted_at: Duration,
    /// The planned fills.
    pub fills: &'a [Fill],
    /// An end the broker chose, and when.
    pub broker_end: Option<(Duration, BrokerEnd)>,
}

impl AcceptRecord<'_> {
    fn offset_us(&self, at: Duration) -> u64 {
        crate::time::trace_micros(at.saturating_sub(self.accepted_at))
    }

    fn plan_text(&self) -> String {
        self.fills
            .iter()
            .map(|f| format!("{}@{}+{}", f.qty, f.price, self.offset_us(f.at)))
            .chain(
                self.broker_end
                    .iter()
                    .map(|(at, end)| format!("{end:?}+{}", self.offset_us(*at))),
            )
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A trace under construction: a running FNV-1a hash over every event's
/// fields (see [`StableHasher`]), and the events themselves when
/// recording. The hash is the same whether or not events are kept.
#[derive(Debug, Clone)]
pub struct Trace {
    hasher: StableHasher,
    count: u64,
    events: Option<Vec<TraceEvent>>,
}

impl Trace {
    /// A trace that keeps its events when `record` is true, and only the
    /// hash otherwise.
    #[must_use]
    pub fn new(record: bool) -> Self {
        Self {
            hasher: StableHasher::default(),
            count: 0,
            events: record.then(Vec::new),
        }
    }

    /// Appends an event.
    pub fn push(&mut self, event: TraceEvent) {
        event.hash(&mut self.hasher);
        self.keep(|| event);
    }

    /// Counts an event already hashed, and keeps it when recording: `build`
    /// runs only then.
    fn keep(&mut self, build: impl FnOnce() -> TraceEvent) {
        self.count += 1;
        if let Some(events) = &mut self.events {
            events.push(build());
        }
    }

    /// Appends an API call. Its hash covers the same fields as the
    /// [`TraceKind::Call`] it becomes, whether or not events are kept.
    pub fn push_call(&mut self, t_us: u64, call: CallRecord<'_>) {
        let hasher = &mut self.hasher;
        t_us.hash(hasher);
        "call".hash(hasher);
        call.endpoint.hash(hasher);
        call.order.hash(hasher);
        call.target.hash(hasher);
        call.call.hash(hasher);
        call.outcome.hash(hasher);
        call.applied.hash(hasher);
        call.fault.hash(hasher);
        call.seen.hash(hasher);
        if call.abandoned {
            // Hashed only when set, so runs without such calls keep the
            // hashes they had before the flag existed.
            "abandoned".hash(hasher);
        }
        self.keep(|| TraceEvent {
            t_us,
            kind: TraceKind::Call {
                endpoint: call.endpoint,
                order: call.order,
                target: call.target.to_owned(),
                call: call.call,
                outcome: call.outcome,
                applied: call.applied,
                fault: call.fault,
                seen: call.seen,
                abandoned: call.abandoned,
            },
        });
    }

    /// Appends an accepted order and its plan; the hash covers the same
    /// content as the [`TraceKind::Accept`] it becomes.
    pub fn push_accept(&mut self, t_us: u64, accept: AcceptRecord<'_>) {
        let hasher = &mut self.hasher;
        t_us.hash(hasher);
        "accept".hash(hasher);
        accept.order.hash(hasher);
        accept.id.hash(hasher);
        accept.fills.len().hash(hasher);
        for fill in accept.fills {
            fill.qty.hash(hasher);
            fill.price.hash(hasher);
            accept.offset_us(fill.at).hash(hasher);
        }
        accept
            .broker_end
            .map(|(at, end)| (accept.offset_us(at), end))
            .hash(hasher);
        self.keep(|| TraceEvent {
            t_us,
            kind: TraceKind::Accept {
                order: accept.order,
                id: accept.id.to_owned(),
                plan: accept.plan_text(),
            },
        });
    }

    /// The running hash.
    #[must_use]
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    /// Events so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True before the first event.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The recorded events, when recording.
    #[must_use]
    pub fn events(&self) -> Option<&[TraceEvent]> {
        self.events.as_deref()
    }

    /// Writes the recorded events as JSON lines.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_json_lines<W: Write>(&self, mut out: W) -> std::io::Result<()> {
        for event in self.events.iter().flatten() {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// The first place two recorded traces differ: the index and both events
/// (either may be missing when one trace is longer).
#[must_use]
pub fn first_divergence<'a>(
    a: &'a [TraceEvent],
    b: &'a [TraceEvent],
) -> Option<(usize, Option<&'a TraceEvent>, Option<&'a TraceEvent>)> {
    let common = a.len().min(b.len());
    (0..common)
        .find(|&i| a[i] != b[i])
        .or((a.len() != b.len()).then_some(common))
        .map(|i| (i, a.get(i), b.get(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t_us: u64) -> TraceEvent {
        TraceEvent {
            t_us,
            kind: TraceKind::Healed,
        }
    }

    /// The first differing event is found, and a longer trace diverges
    /// where the shorter one ends.
    #[test]
    fn first_divergence_names_the_first_difference() {
        let a = vec![event(1), event(2), event(3)];
        let b = vec![event(1), event(5), event(3)];
        let (index, left, right) = first_divergence(&a, &b).expect("they differ");
        assert_eq!(index, 1);
        assert_eq!(left, Some(&event(2)));
        assert_eq!(right, Some(&event(5)));
        assert_eq!(first_divergence(&a, &a), None);
        let (index, _, right) = first_divergence(&a, &a[..2]).expect("lengths differ");
        assert_eq!((index, right), (2, None));
    }

    /// The hash runs over every event, and recording is optional.
    #[test]
    fn hash_covers_every_event() {
        let mut recorded = Trace::new(true);
        let mut hashed_only = Trace::new(false);
        for t in 0..3 {
            recorded.push(event(t));
            hashed_only.push(event(t));
        }
        assert_eq!(recorded.hash(), hashed_only.hash());
        assert_eq!(recorded.events().map(<[_]>::len), Some(3));
        assert_eq!(hashed_only.events(), None);
        let mut other = Trace::new(false);
        for t in [0, 1, 4] {
            other.push(event(t));
        }
        assert_ne!(other.hash(), recorded.hash());
        let mut out = Vec::new();
        recorded.write_json_lines(&mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.lines().count(), 3);
        assert!(text.starts_with(r#"{"t_us":0,"event":"healed"}"#), "{text}");
    }

    fn call(qty: u32) -> CallRecord<'static> {
        CallRecord {
            endpoint: "get_order",
            order: Some(7),
            target: "ord-0000007",
            call: 2,
            outcome: Cow::Borrowed("ok"),
            applied: true,
            fault: None,
            seen: Some(Seen::Order {
                status: OrderStatus::PartiallyFilled,
                filled_qty: Decimal::from(qty),
            }),
            abandoned: false,
        }
    }

    fn accept(fills: &[Fill]) -> AcceptRecord<'_> {
        AcceptRecord {
            order: Some(7),
            id: "ord-0000007",
            accepted_at: Duration::from_secs(1),
            fills,
            broker_end: Some((Duration::from_millis(3_500), BrokerEnd::Expired)),
        }
    }

    /// Calls and acceptances hash the same whether or not events are kept,
    /// every field counts, and a kept event prints what a reader needs.
    #[test]
    fn calls_and_acceptances_hash_the_same_kept_or_not() {
        let fills = [Fill {
            at: Duration::from_millis(1_250),
            qty: Decimal::from(40),
            price: "512.31".parse().expect("price"),
        }];
        let mut recorded = Trace::new(true);
        let mut hashed_only = Trace::new(false);
        for trace in [&mut recorded, &mut hashed_only] {
            trace.push_accept(1_000_000, accept(&fills));
            trace.push_call(2_000_000, call(40));
        }
        assert_eq!(recorded.hash(), hashed_only.hash());
        assert_eq!(recorded.len(), 2);

        let mut other_qty = Trace::new(false);
        other_qty.push_accept(1_000_000, accept(&fills));
        other_qty.push_call(2_000_000, call(41));
        assert_ne!(other_qty.hash(), hashed_only.hash());
        let mut other_fill = Trace::new(false);
        let later = [Fill {
            at: Duration::from_millis(1_251),
            ..fills[0].clone()
        }];
        other_fill.push_accept(1_000_000, accept(&later));
        other_fill.push_call(2_000_000, call(40));
        assert_ne!(other_fill.hash(), hashed_only.hash());

        let mut out = Vec::new();
        recorded.write_json_lines(&mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.contains(r#""plan":"40@512.31+250000,Expired+2500000""#),
            "{text}"
        );
        assert!(text.contains(r#""seen":"partially_filled/40""#), "{text}");
    }
}
