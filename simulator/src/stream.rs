//! The simulated broker's `trade_updates` stream.
//!
//! Every event is scheduled when the ledger learns of it (acceptance plans
//! the fills and any end the broker chooses; a cancel request schedules
//! `pending_cancel` and `canceled`) and checked against the ledger at
//! delivery: an event the ledger no longer holds (a fill a cancel
//! prevented, an end that came too late) is never published. What is
//! published is the order as it truly stood when the event happened, with
//! no status lag, so the stream is usually ahead of the REST view.
//!
//! Faults are drawn per event from a stream keyed by the order and the
//! event, never by what the engine does: delivery delay, drops, duplicates,
//! events held back so later ones overtake them. Disconnects are drawn
//! from a stream of their own; events delivered while the connection is
//! down are lost, and subscribers are told when it is back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fillproof_engine::clock::sleep_until;
use fillproof_engine::{StreamItem, TradeEvent, TradeUpdate, derive_rng, stable_hash};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::ledger::{Ledger, TrueStatus};
use crate::market::Market;
use crate::model::{StreamModel, in_window};
use crate::time::{SimClock, TimeOrigin};
use crate::trace::TraceKind;

/// Something that happened to an order, for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Happening {
    /// Accepted.
    New,
    /// Fill piece number `0`, in the order's fills.
    Fill(usize),
    /// An end the broker chose (rejection, its own cancel, expiry).
    BrokerEnd,
    /// A cancel request reached the broker.
    PendingCancel,
    /// That cancel took effect.
    Canceled,
    /// A cancel was refused (the order waits on a replace).
    CancelRejected,
    /// A replace request reached the broker.
    PendingReplace,
    /// That replace was refused: the order filled first.
    ReplaceRejected,
    /// Accepted while the market is closed to it (`new` follows at the
    /// open).
    Accepted,
    /// A replacement received, waiting for its replace to take effect.
    PendingNew,
    /// A `gtc` order still working at its first session's close.
    DoneForDay,
}

impl Happening {
    /// The event's number within its order, for its draws.
    fn number(self) -> u64 {
        match self {
            Self::New => 0,
            Self::Fill(piece) => 1 + piece as u64,
            Self::BrokerEnd => 1_000_000,
            Self::PendingCancel => 1_000_001,
            Self::Canceled => 1_000_002,
            Self::CancelRejected => 1_000_003,
            Self::PendingReplace => 1_000_004,
            Self::ReplaceRejected => 1_000_005,
            Self::Accepted => 1_000_006,
            Self::PendingNew => 1_000_007,
            Self::DoneForDay => 1_000_008,
        }
    }
}

/// Longest an event held back for reordering waits on top of its delay.
const REORDER_HOLD: Duration = Duration::from_secs(2);

/// The shortest gap between disconnects, so that a degenerate `every`
/// cannot make the stream flap without end.
const MIN_CONNECTED: Duration = Duration::from_millis(1);

/// How long a disconnect window is kept after it ended, counted from the
/// latest time asked about. Deliveries ask about the moment they wake, so
/// none asks about a time this far back; the windows before it are
/// dropped, so a stream flapping for days holds a bounded number.
const KEEP_WINDOWS_FOR: Duration = Duration::from_secs(60);

/// The stream's state: subscribers and the disconnect windows drawn so far.
pub(crate) struct StreamState {
    subscribers: Vec<mpsc::UnboundedSender<StreamItem>>,
    /// Disconnect windows (start, length), drawn lazily in time order: they
    /// never overlap, so both starts and ends are sorted, and a time is
    /// looked up by binary search. Those ended [`KEEP_WINDOWS_FOR`] before
    /// the latest time asked about are dropped.
    windows: VecDeque<(Duration, Duration)>,
    /// The end of the last window drawn, whether or not still kept.
    drawn_until: Option<Duration>,
    /// The latest time asked about.
    latest: Duration,
    /// Windows looked at by lookups so far: the work they cost.
    probes: u64,
    rng: ChaCha8Rng,
    notifier_started: bool,
}

/// A window's end.
fn end((start, length): &(Duration, Duration)) -> Duration {
    *start + *length
}

impl StreamState {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            subscribers: Vec::new(),
            windows: VecDeque::new(),
            drawn_until: None,
            latest: Duration::ZERO,
            probes: 0,
            rng: derive_rng(seed, "stream-disconnects", 0),
            notifier_started: false,
        }
    }

    /// True when someone listens.
    pub(crate) fn has_subscribers(&self) -> bool {
        !self.subscribers.is_empty()
    }

    /// Draws disconnect windows until one ends after `t`, and drops those
    /// no lookup needs any more.
    fn draw_windows_past(&mut self, model: &StreamModel, t: Duration) {
        let Some((every, down_for)) = &model.disconnects else {
            return;
        };
        while self.drawn_until.is_none_or(|until| until <= t) {
            let from = self.drawn_until.unwrap_or(Duration::ZERO);
            let start = from + every.sample(&mut self.rng).max(MIN_CONNECTED);
            let window = (start, down_for.sample(&mut self.rng));
            self.drawn_until = Some(end(&window));
            self.windows.push_back(window);
        }
        self.latest = self.latest.max(t);
        let horizon = self.latest.saturating_sub(KEEP_WINDOWS_FOR);
        while self.windows.front().is_some_and(|w| end(w) < horizon) {
            self.windows.pop_front();
        }
    }

    /// The index of the first kept window that ends after `t`, by binary
    /// search.
    fn first_ending_after(&mut self, t: Duration) -> usize {
        let probes = &mut self.probes;
        self.windows.partition_point(|w| {
            *probes += 1;
            end(w) <= t
        })
    }

    /// True when the connection is down at `t`.
    fn is_down(&mut self, model: &StreamModel, t: Duration) -> bool {
        self.draw_windows_past(model, t);
        let i = self.first_ending_after(t);
        let in_disconnect = self.windows.get(i).is_some_and(|(start, _)| *start <= t);
        in_disconnect || in_window(&model.outages, t)
    }

    /// The first time after `t` at which the connection comes back.
    fn next_reconnect_after(&mut self, model: &StreamModel, t: Duration) -> Option<Duration> {
        self.draw_windows_past(model, t);
        let i = self.first_ending_after(t);
        self.windows
            .get(i)
            .into_iter()
            .chain(&model.outages)
            .map(end)
            .filter(|end| *end > t)
            .min()
    }

    fn send(&mut self, item: &StreamItem) {
        self.subscribers.retain(|s| s.send(item.clone()).is_ok());
    }
}

/// What a delivery task needs of the broker.
pub(crate) struct Publisher<W> {
    /// The broker's state.
    pub world: Arc<Mutex<W>>,
    /// The stream's model.
    pub model: Arc<StreamModel>,
    /// Virtual time zero, and the stamp it stands for.
    pub clock: SimClock,
    /// The run's seed.
    pub seed: u64,
    /// The market, for what only it knows of an order (a trailing stop's
    /// mark).
    pub market: Arc<Market>,
}

/// The parts of the broker's state the stream reads and writes.
pub(crate) trait StreamWorld: Send + 'static {
    /// The ledger.
    fn ledger(&self) -> &Ledger;
    /// The stream's state.
    fn stream(&mut self) -> &mut StreamState;
    /// True once faults have healed.
    fn healed(&self) -> bool;
    /// Notes an event in the run's trace, at `at` since the run began.
    fn trace(&mut self, at: Duration, kind: TraceKind);
}

impl<W> Clone for Publisher<W> {
    fn clone(&self) -> Self {
        Self {
            world: Arc::clone(&self.world),
            model: Arc::clone(&self.model),
            clock: self.clock,
            seed: self.seed,
            market: Arc::clone(&self.market),
        }
    }
}

fn lock<W>(world: &Mutex<W>) -> std::sync::MutexGuard<'_, W> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: StreamWorld> Publisher<W> {
    /// Schedules the delivery of `happening` of order `order_id` (keyed
    /// `key` for its draws), which happens at `at`: after its delay, unless
    /// dropped, perhaps twice, perhaps held back. `healed` switches the
    /// faults off.
    pub(crate) fn schedule(
        &self,
        order_id: &str,
        key: u64,
        happening: Happening,
        at: Duration,
        healed: bool,
    ) {
        let mut mix = [0u8; 16];
        mix[..8].copy_from_slice(&key.to_le_bytes());
        mix[8..].copy_from_slice(&happening.number().to_le_bytes());
        let mut rng = derive_rng(self.seed, "stream", stable_hash(&mix));
        let model = &self.model;
        // Every number is drawn whatever the knobs, so streams stay aligned.
        let delay = model.delay.sample(&mut rng);
        let again = model.delay.sample(&mut rng);
        let [drop, duplicate, reorder, hold]: [f64; 4] = std::array::from_fn(|_| rng.random());
        if !healed && drop < model.drop {
            return;
        }
        let mut first = at + delay;
        if !healed && reorder < model.reorder {
            first += REORDER_HOLD.mul_f64(hold);
        }
        let mut deliveries = vec![first];
        if !healed && duplicate < model.duplicate {
            deliveries.push(first + again);
        }
        for deliver_at in deliveries {
            let world = Arc::clone(&self.world);
            let model = Arc::clone(&self.model);
            let market = Arc::clone(&self.market);
            let wake = self.clock.instant_at(deliver_at);
            let origin = self.clock.origin();
            let order_id = order_id.to_owned();
            tokio::spawn(async move {
                sleep_until(wake).await;
                let mut world = lock(&world);
                let Some(update) =
                    trade_update(world.ledger(), &market, &order_id, happening, at, origin)
                else {
                    return;
                };
                let delivered = world.healed() || !world.stream().is_down(&model, deliver_at);
                let index = world.ledger().by_id(&order_id).and_then(|o| o.index);
                world.trace(
                    deliver_at,
                    TraceKind::Stream {
                        order: index,
                        update: update.event.as_str().to_owned(),
                        filled_qty: update.order.filled_qty,
                        delivered,
                    },
                );
                if delivered {
                    world.stream().send(&StreamItem::Update(Box::new(update)));
                }
            });
        }
    }

    /// A new subscription; the first one starts the task that tells
    /// subscribers of each reconnect.
    pub(crate) fn subscribe(&self) -> mpsc::UnboundedReceiver<StreamItem> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let start_notifier = {
            let mut world = lock(&self.world);
            let stream = world.stream();
            stream.subscribers.push(sender);
            !std::mem::replace(&mut stream.notifier_started, true)
        };
        if start_notifier {
            let world = Arc::clone(&self.world);
            let model = Arc::clone(&self.model);
            let clock = self.clock;
            tokio::spawn(async move {
                let mut now = clock.elapsed();
                loop {
                    let next = {
                        let mut world = lock(&world);
                        if world.healed() {
                            return;
                        }
                        world.stream().next_reconnect_after(&model, now)
                    };
                    let Some(back) = next else { return };
                    sleep_until(clock.instant_at(back)).await;
                    now = back;
                    let mut world = lock(&world);
                    world.trace(back, TraceKind::StreamReconnected);
                    let stream = world.stream();
                    stream.send(&StreamItem::Reconnected);
                    if !stream.has_subscribers() {
                        return;
                    }
                }
            });
        }
        receiver
    }
}

/// The trade update for `happening` of order `order_id` at `at`, when the
/// ledger still holds it.
fn trade_update(
    ledger: &Ledger,
    market: &Market,
    order_id: &str,
    happening: Happening,
    at: Duration,
    origin: TimeOrigin,
) -> Option<TradeUpdate> {
    let order = ledger.by_id(order_id)?;
    let status = order.status_at(at);
    let ended_here = order.terminal_at(at) == Some(at);
    let mut execution = None;
    let event = match happening {
        // A leg's `new` is its activation, at the instant its entry filled;
        // an order accepted while the market was closed is `new` at the
        // open.
        Happening::New
            if at == order.links.held_until.unwrap_or(order.accepted_at)
                || Some(at) == routed_at(market, order) =>
        {
            TradeEvent::New
        }
        Happening::New => return None,
        Happening::Accepted => TradeEvent::Accepted,
        Happening::PendingNew if at < order.accepted_at => TradeEvent::PendingNew,
        Happening::PendingNew => return None,
        Happening::DoneForDay if !status.is_terminal() => TradeEvent::DoneForDay,
        Happening::DoneForDay => return None,
        Happening::Fill(piece) => {
            let fill = order.fills.get(piece).filter(|f| f.at == at)?;
            let cumulative: Decimal = order.fills[..=piece].iter().map(|f| f.qty).sum();
            execution = Some((format!("{}-{piece}", order.id), fill.qty, fill.price));
            if cumulative >= order.qty {
                TradeEvent::Fill
            } else {
                TradeEvent::PartialFill
            }
        }
        Happening::BrokerEnd => {
            let (end_at, _) = order.broker_end?;
            if end_at != at || !ended_here {
                return None;
            }
            match status {
                TrueStatus::Rejected => TradeEvent::Rejected,
                TrueStatus::Canceled => TradeEvent::Canceled,
                TrueStatus::Expired => TradeEvent::Expired,
                TrueStatus::Replaced => TradeEvent::Replaced,
                _ => return None,
            }
        }
        Happening::CancelRejected => TradeEvent::CancelRejected,
        Happening::PendingReplace if status == TrueStatus::PendingReplace => {
            TradeEvent::PendingReplace
        }
        Happening::PendingReplace => return None,
        Happening::ReplaceRejected => TradeEvent::ReplaceRejected,
        Happening::PendingCancel if status == TrueStatus::PendingCancel => {
            TradeEvent::PendingCancel
        }
        Happening::Canceled if status == TrueStatus::Canceled && ended_here => TradeEvent::Canceled,
        Happening::PendingCancel | Happening::Canceled => return None,
    };
    Some(TradeUpdate {
        event,
        order: crate::view::order_view(
            ledger,
            market,
            order,
            at,
            crate::view::Look::True,
            true,
            origin,
        ),
        position_qty: execution
            .as_ref()
            .map(|_| ledger.position_at(&order.symbol, at)),
        execution_id: execution.as_ref().map(|(id, _, _)| id.clone()),
        qty: execution.as_ref().map(|(_, qty, _)| *qty),
        price: execution.as_ref().map(|(_, _, price)| *price),
        at: origin.at(at),
    })
}

/// When an order accepted while its market was closed reaches it: the
/// next open (of the extended session, for an order that trades in it);
/// `None` when its market was open then, or keeps no hours.
#[must_use]
pub(crate) fn routed_at(market: &Market, order: &crate::ledger::LedgerOrder) -> Option<Duration> {
    market
        .sessions()?
        .closed_until(order.accepted_at, order.extended_hours)
        .filter(|open| *open != Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::{Dist, DurationDist};

    fn flapping(every_ms: f64, down_ms: f64) -> StreamModel {
        StreamModel {
            delay: DurationDist(Dist::Fixed(0.0)),
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            disconnects: Some((
                DurationDist(Dist::Fixed(every_ms)),
                DurationDist(Dist::Fixed(down_ms)),
            )),
            outages: Vec::new(),
        }
    }

    /// A stream flapping every millisecond for ten virtual minutes (300,000
    /// disconnects), asked about every half millisecond: each lookup costs
    /// a binary search over the windows kept, never a scan of every window
    /// drawn (which cost some 45 billion looks here), and the windows kept
    /// stay bounded.
    #[test]
    fn a_flapping_stream_costs_logarithmic_work_per_lookup() {
        let model = flapping(0.001, 0.001);
        let mut state = StreamState::new(3);
        let step = Duration::from_micros(500);
        let span = Duration::from_secs(600);
        let lookups = span.as_micros() / step.as_micros();
        let mut down = 0u64;
        let mut reconnects = 0u64;
        let mut t = Duration::ZERO;
        while t < span {
            down += u64::from(state.is_down(&model, t));
            let back = state.next_reconnect_after(&model, t).expect("disconnects");
            assert!(back > t);
            reconnects += u64::from(back - t <= step);
            t += step;
        }
        // Connected 1 ms, down 1 ms: half of the times asked about are down.
        assert_eq!(down, u64::try_from(lookups / 2).expect("fits"));
        assert!(reconnects > 0);
        let kept = state.windows.len();
        // 60 s of windows, 2 ms each, and the one being drawn.
        assert!(kept <= 30_002, "{kept} windows kept");
        // Two binary searches per time, each at most log2(kept) + 1 looks.
        let per_lookup = u64::from(kept.ilog2()) + 2;
        let bound = 2 * u64::try_from(lookups).expect("fits") * per_lookup;
        assert!(
            state.probes <= bound,
            "{} windows looked at for {lookups} times, bound {bound}",
            state.probes
        );
    }

    /// The lookups answer as a scan of every window would, about disconnects
    /// of random lengths, with scripted outages overlapping them.
    #[test]
    fn binary_search_answers_as_a_scan() {
        let mut model = flapping(0.0, 0.0);
        model.disconnects = Some((
            DurationDist(Dist::Exponential { mean: 0.04 }),
            DurationDist(Dist::Exponential { mean: 0.01 }),
        ));
        model.outages = vec![
            (Duration::from_millis(500), Duration::from_millis(300)),
            (Duration::from_millis(100), Duration::from_millis(5)),
        ];
        let mut state = StreamState::new(11);
        // Draw the windows of the whole span first, so none is dropped.
        state.draw_windows_past(&model, Duration::from_secs(2));
        let all: Vec<_> = state.windows.iter().copied().collect();
        for ms in 0..2_000u64 {
            let t = Duration::from_millis(ms) + Duration::from_micros(ms % 7 * 100);
            let scan_down = in_window(&all, t) || in_window(&model.outages, t);
            assert_eq!(state.is_down(&model, t), scan_down, "at {t:?}");
            let scan_back = all
                .iter()
                .chain(&model.outages)
                .map(end)
                .filter(|e| *e > t)
                .min();
            assert_eq!(state.next_reconnect_after(&model, t), scan_back, "at {t:?}");
        }
    }
}
