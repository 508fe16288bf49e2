//! The broker's behaviour, compiled from a scenario's `broker:` section into
//! the form the simulated broker draws from, and swarm mode's reweighting.

use std::collections::BTreeMap;
use std::time::Duration;

use fillproof_engine::derive_rng;
use rand::Rng;
use rust_decimal::Decimal;

use crate::distribution::{Dist, DurationDist, NumberDist};
use crate::fault::{FaultKind, FaultTable};
use crate::ledger::LegRole;
use crate::market::MarketModel;
use crate::scenario::{
    CrashPoint, Endpoint, FaultSpec, PartialSpec, Scenario, StreamSpec, TimelineEvent,
    TimelineKind, VisibilitySpec, WhenFilled,
};
use crate::time::{DEFAULT_EPOCH_UNIX_MICROS, TimeOrigin};

/// An order as a scenario's `timeline:` names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrderTarget {
    /// By workload (arrival) index.
    Index(u32),
    /// By the client's id for it.
    ClientOrderId(String),
    /// An exit leg of the order named.
    Leg(Box<OrderTarget>, LegRole),
}

impl OrderTarget {
    /// The order `event` names (its leg, when it names one); `None` for an
    /// event that names none, which `check` refuses.
    #[must_use]
    pub fn of(event: &TimelineEvent) -> Option<Self> {
        let order = match (&event.order, &event.client_order_id) {
            (Some(order), _) => Self::Index(order.value),
            (None, Some(id)) => Self::ClientOrderId(id.value.clone()),
            (None, None) => return None,
        };
        Some(match event.leg {
            Some(role) => Self::Leg(Box::new(order), role),
            None => order,
        })
    }

    /// The order that heads the target: the order itself, or a leg's.
    #[must_use]
    pub fn head(&self) -> &Self {
        match self {
            Self::Leg(head, _) => head.head(),
            order => order,
        }
    }
}

/// Faults of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointFaults {
    /// Chance of each fault per call.
    pub probabilities: FaultTable<f64>,
    /// When the engine sees a timeout.
    pub timeout_after: Duration,
    /// Retry-After of a 429.
    pub retry_after: Duration,
}

impl Default for EndpointFaults {
    fn default() -> Self {
        Self {
            probabilities: FaultTable::default(),
            timeout_after: Duration::from_secs(5),
            retry_after: Duration::from_secs(1),
        }
    }
}

impl EndpointFaults {
    /// The fault a uniform draw `u` in 0..1 selects, if any.
    #[must_use]
    pub fn pick(&self, u: f64) -> Option<FaultKind> {
        let mut cumulative = 0.0;
        for (kind, p) in self.probabilities.by_kind() {
            cumulative += p;
            if u < cumulative {
                return Some(kind);
            }
        }
        None
    }
}

/// Fills in pieces.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialModel {
    /// Chance a filling order fills in pieces.
    pub probability: f64,
    /// Fewest pieces.
    pub pieces_low: u32,
    /// Most pieces.
    pub pieces_high: u32,
    /// Time between pieces.
    pub spacing: DurationDist,
    /// Chance the last piece never fills.
    pub unfilled: f64,
}

/// Everything the simulated broker draws from.
#[derive(Debug, Clone)]
pub struct BrokerModel {
    /// Request and response legs per endpoint, indexed by [`Endpoint::index`].
    pub latency: [(DurationDist, DurationDist); Endpoint::ALL.len()],
    /// Faults per endpoint, indexed by [`Endpoint::index`].
    pub faults: [EndpointFaults; Endpoint::ALL.len()],
    /// Chance an order fills.
    pub fill_probability: f64,
    /// Acceptance to first fill.
    pub fill_delay: DurationDist,
    /// Fills in pieces, when set.
    pub partial: Option<PartialModel>,
    /// Slippage in basis points, positive against the trader.
    pub slippage_bps: NumberDist,
    /// How long the status field lags, per order.
    pub status_lag: DurationDist,
    /// Spellings of the filled status with their weights.
    pub spellings: Vec<(String, f64)>,
    /// Stale reads: chance and age.
    pub stale_reads: Option<(f64, DurationDist)>,
    /// What a cancel of a filled order answers.
    pub when_filled: WhenFilled,
    /// How long an accepted cancel takes.
    pub cancel_processing: Duration,
    /// How long the broker takes to cancel the other exit of a bracket or
    /// OCO once one fills.
    pub oco_cancel_delay: DurationDist,
    /// The chance both exits of a group are touched in the instant the
    /// first fills.
    pub both_exits_touched: f64,
    /// Token bucket: calls per window.
    pub rate_limit: Option<(u32, Duration)>,
    /// Outage windows: start and length.
    pub outages: Vec<(Duration, Duration)>,
    /// How far positions lag fills.
    pub position_lag: DurationDist,
    /// Chance a submit is refused at once.
    pub reject_probability: f64,
    /// Chance an accepted order is rejected later.
    pub async_reject_probability: f64,
    /// When a later rejection lands, after acceptance.
    pub async_reject_delay: DurationDist,
    /// Scripted events by workload order index.
    pub timeline: BTreeMap<OrderTarget, Vec<TimelineEvent>>,
    /// Faults scripted for single calls: (order, endpoint index, call
    /// number from 0) to the fault.
    pub call_faults: BTreeMap<(OrderTarget, usize, u32), FaultKind>,
    /// The timeline's crashes of the engine under test: where, by order,
    /// endpoint index and call number from 0.
    pub crash_points: BTreeMap<(OrderTarget, usize, u32), CrashPoint>,
    /// The symbols the broker lists, their prices, quotes and asset flags.
    pub market: MarketModel,
    /// The run's last instant (the scenario's `limits.max_virtual_time`):
    /// no order trades later, and halts drawn at a rate stop there.
    pub horizon: Duration,
    /// Broker wall-clock of virtual time zero, in Unix microseconds (see
    /// [`BrokerModel::time_origin`]).
    pub epoch_unix_micros: i64,
    /// The account's starting buying power, when limited.
    pub buying_power: Option<Decimal>,
    /// Symbols the account may not trade.
    pub not_tradable: Vec<String>,
    /// The trade-updates stream, when the scenario has one.
    pub stream: Option<StreamModel>,
}

/// True when `t` falls in one of `windows`, each a start and a length.
#[must_use]
pub fn in_window(windows: &[(Duration, Duration)], t: Duration) -> bool {
    windows
        .iter()
        .any(|(start, length)| *start <= t && t < *start + *length)
}

/// The trade-updates stream's delivery and faults.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamModel {
    /// Delivery delay after the event.
    pub delay: DurationDist,
    /// Chance an event is never delivered.
    pub drop: f64,
    /// Chance an event is delivered twice.
    pub duplicate: f64,
    /// Chance an event is held back so later ones overtake it.
    pub reorder: f64,
    /// Time from one reconnect to the next disconnect, and each
    /// disconnect's length.
    pub disconnects: Option<(DurationDist, DurationDist)>,
    /// Scripted windows of the stream being down: start and length.
    pub outages: Vec<(Duration, Duration)>,
}

impl EndpointFaults {
    /// The faults `spec` sets, with the defaults for what it leaves out.
    fn from_spec(spec: &FaultSpec) -> Self {
        let defaults = Self::default();
        Self {
            probabilities: spec.probabilities(),
            timeout_after: spec.timeout_after.map_or(defaults.timeout_after, |d| d.0),
            retry_after: spec.retry_after.map_or(defaults.retry_after, |d| d.0),
        }
    }
}

impl PartialModel {
    /// The partial fills `spec` describes.
    fn from_spec(spec: &PartialSpec) -> Self {
        Self {
            probability: spec.probability.0,
            pieces_low: spec.pieces.low,
            pieces_high: spec.pieces.high,
            spacing: spec.spacing.clone(),
            unfilled: spec.unfilled.0,
        }
    }
}

impl StreamModel {
    /// The stream `spec` describes.
    fn from_spec(spec: &StreamSpec) -> Self {
        Self {
            delay: spec.delay.clone(),
            drop: spec.drop.0,
            duplicate: spec.duplicate.0,
            reorder: spec.reorder.0,
            disconnects: spec
                .disconnects
                .as_ref()
                .map(|d| (d.value.every.clone(), d.value.down_for.clone())),
            outages: spec
                .outages
                .iter()
                .map(|o| (o.at.0, o.duration.0))
                .collect(),
        }
    }
}

/// The spellings of the filled status with their weights: `filled` alone
/// unless the scenario gives some.
fn spellings(visibility: &VisibilitySpec) -> Vec<(String, f64)> {
    if visibility.status_spelling.is_empty() {
        vec![("filled".to_owned(), 1.0)]
    } else {
        visibility
            .status_spelling
            .iter()
            .map(|(s, w)| (s.clone(), w.0))
            .collect()
    }
}

/// What a timeline scripts for the broker to do, apart from its random
/// model: events by order, each order's in time order (the order the
/// broker applies them in); faults of single calls; crashes of the engine
/// at single calls.
#[derive(Debug, Default)]
struct Scripted {
    timeline: BTreeMap<OrderTarget, Vec<TimelineEvent>>,
    call_faults: BTreeMap<(OrderTarget, usize, u32), FaultKind>,
    crash_points: BTreeMap<(OrderTarget, usize, u32), CrashPoint>,
}

/// Sorts a scenario's timeline into what the broker model holds.
fn scripted(events: &[TimelineEvent]) -> Scripted {
    let mut scripted = Scripted::default();
    for event in events {
        let Some(target) = OrderTarget::of(event) else {
            continue;
        };
        let attempt = event.attempt.unwrap_or(1).saturating_sub(1);
        match event.event.value {
            TimelineKind::Fault => {
                // `check` refuses a fault event without a known fault or
                // an endpoint; such an event is left out here.
                let fault = event
                    .fault
                    .as_ref()
                    .and_then(|f| FaultKind::named(&f.value));
                if let (Some(fault), Some(call)) = (fault, event.call) {
                    scripted
                        .call_faults
                        .insert((target, call.index(), attempt), fault);
                }
            }
            TimelineKind::Crash => {
                // `check` refuses a crash without a point.
                if let Some(point) = event.point {
                    scripted
                        .crash_points
                        .insert((target, point.endpoint().index(), attempt), point);
                }
            }
            _ => scripted
                .timeline
                .entry(target)
                .or_default()
                .push(event.clone()),
        }
    }
    for events in scripted.timeline.values_mut() {
        events.sort_by_key(TimelineEvent::at);
    }
    scripted
}

impl BrokerModel {
    /// The wall-clock stamp of the broker's virtual time zero.
    #[must_use]
    pub fn time_origin(&self) -> TimeOrigin {
        TimeOrigin::new(self.epoch_unix_micros)
    }

    /// The model a loaded scenario describes.
    #[must_use]
    pub fn from_scenario(scenario: &Scenario) -> Self {
        let broker = &scenario.broker;
        // The batched reads and the account, positions and clock reads are
        // reads of the same API: unless the scenario gives them their own,
        // they take the single-order read's latency and faults.
        let given = |endpoint: Endpoint| match endpoint {
            Endpoint::ListOrders
            | Endpoint::FillActivities
            | Endpoint::Account
            | Endpoint::Positions
            | Endpoint::Clock
                if !broker.latency.contains_key(&endpoint)
                    && !broker.faults.contains_key(&endpoint) =>
            {
                Endpoint::GetOrder
            }
            other => other,
        };
        let latency = Endpoint::ALL.map(|endpoint| {
            broker.latency.get(&given(endpoint)).map_or_else(
                || (DurationDist::default(), DurationDist::default()),
                |l| l.legs(),
            )
        });
        let faults = Endpoint::ALL.map(|endpoint| {
            broker
                .faults
                .get(&given(endpoint))
                .map_or_else(EndpointFaults::default, |spec| {
                    EndpointFaults::from_spec(&spec.value)
                })
        });
        let spellings = spellings(&broker.visibility);
        let Scripted {
            timeline,
            call_faults,
            crash_points,
        } = scripted(&scenario.timeline);
        Self {
            latency,
            faults,
            fill_probability: broker.fill.probability.0,
            fill_delay: broker.fill.delay.clone(),
            partial: broker.fill.partial.as_ref().map(PartialModel::from_spec),
            slippage_bps: broker.fill.slippage_bps.clone(),
            status_lag: broker.visibility.status_lag.clone(),
            spellings,
            stale_reads: broker
                .visibility
                .stale_reads
                .as_ref()
                .map(|s| (s.probability.0, s.age.clone())),
            when_filled: broker.cancel.when_filled,
            cancel_processing: broker.cancel.processing.0,
            oco_cancel_delay: broker.cancel.oco_delay.clone(),
            both_exits_touched: broker.cancel.both_exits_touched.0,
            rate_limit: broker
                .rate_limit
                .as_ref()
                .map(|r| (r.requests.value, r.per.0)),
            outages: broker
                .outages
                .iter()
                .map(|o| (o.at.0, o.duration.0))
                .collect(),
            position_lag: broker.position_lag.clone(),
            reject_probability: broker.rejections.probability.0,
            async_reject_probability: broker.rejections.async_probability.0,
            async_reject_delay: broker.rejections.async_delay.clone(),
            timeline,
            call_faults,
            crash_points,
            market: crate::scenario::market_model(scenario),
            horizon: scenario.limits.max_virtual_time.0,
            epoch_unix_micros: DEFAULT_EPOCH_UNIX_MICROS,
            buying_power: Some(scenario.buying_power()),
            not_tradable: broker.account.not_tradable.clone(),
            stream: broker.stream.as_ref().map(StreamModel::from_spec),
        }
    }

    /// Swarm mode: from `seed`'s own stream, switches off about half of the
    /// fault kinds present and scales each remaining probability by a random
    /// weight in (0, 1], so it stays within the scenario's bound. Returns a
    /// line per knob saying what it became.
    pub fn swarm(&mut self, seed: u64) -> Vec<String> {
        let mut rng = derive_rng(seed, "swarm", 0);
        let mut report = Vec::new();
        let mut decide = |name: String, rng: &mut rand_chacha::ChaCha8Rng| -> f64 {
            let weight = if rng.random::<bool>() {
                0.0
            } else {
                1.0 - rng.random::<f64>()
            };
            if weight == 0.0 {
                report.push(format!("{name}: off"));
            } else {
                report.push(format!("{name}: x{weight:.3}"));
            }
            weight
        };
        for endpoint in Endpoint::ALL {
            let faults = &mut self.faults[endpoint.index()];
            for (kind, p) in faults.probabilities.by_kind_mut() {
                if *p > 0.0 {
                    *p *= decide(format!("faults.{endpoint}.{kind}"), &mut rng);
                }
            }
        }
        if let Some(partial) = &mut self.partial {
            partial.probability *= decide("fill.partial".into(), &mut rng);
        }
        if let Some((p, _)) = &mut self.stale_reads {
            *p *= decide("visibility.stale_reads".into(), &mut rng);
        }
        if !self.status_lag.0.is_zero() && decide("visibility.status_lag".into(), &mut rng) == 0.0 {
            self.status_lag = DurationDist(Dist::Fixed(0.0));
        }
        if !self.outages.is_empty() && decide("outages".into(), &mut rng) == 0.0 {
            self.outages.clear();
        }
        if self.rate_limit.is_some() && decide("rate_limit".into(), &mut rng) == 0.0 {
            self.rate_limit = None;
        }
        if self.reject_probability > 0.0 {
            self.reject_probability *= decide("rejections.probability".into(), &mut rng);
        }
        if self.async_reject_probability > 0.0 {
            self.async_reject_probability *=
                decide("rejections.async_probability".into(), &mut rng);
        }
        report
    }
}
