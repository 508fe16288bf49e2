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

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fillproof_engine::clock::sleep_until;
use fillproof_engine::{StreamItem, TradeEvent, TradeUpdate, derive_rng, stable_hash};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::ledger::{Ledger, TrueStatus};
use crate::model::{StreamModel, in_window};
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
        }
    }
}

/// Longest an event held back for reordering waits on top of its delay.
const REORDER_HOLD: Duration = Duration::from_secs(2);

/// The shortest gap between disconnects, so that a degenerate `every`
/// cannot make the stream flap without end.
const MIN_CONNECTED: Duration = Duration::from_millis(1);

/// The stream's state: subscribers and the disconnect windows drawn so far.
pub(crate) struct StreamState {
    subscribers: Vec<mpsc::UnboundedSender<StreamItem>>,
    /// Disconnect windows (start, length), in time order, drawn lazily.
    windows: Vec<(Duration, Duration)>,
    rng: ChaCha8Rng,
    notifier_started: bool,
}

impl StreamState {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            subscribers: Vec::new(),
            windows: Vec::new(),
            rng: derive_rng(seed, "stream-disconnects", 0),
            notifier_started: false,
        }
    }

    /// True when someone listens.
    pub(crate) fn has_subscribers(&self) -> bool {
        !self.subscribers.is_empty()
    }

    /// Draws disconnect windows until one ends after `t`.
    fn draw_windows_past(&mut self, model: &StreamModel, t: Duration) {
        let Some((every, down_for)) = &model.disconnects else {
            return;
        };
        let end = |(start, length): &(Duration, Duration)| *start + *length;
        while self.windows.last().is_none_or(|w| end(w) <= t) {
            let from = self.windows.last().map_or(Duration::ZERO, end);
            let start = from + every.sample(&mut self.rng).max(MIN_CONNECTED);
            self.windows.push((start, down_for.sample(&mut self.rng)));
        }
    }

    /// True when the connection is down at `t`.
    fn is_down(&mut self, model: &StreamModel, t: Duration) -> bool {
        self.draw_windows_past(model, t);
        in_window(&self.windows, t) || in_window(&model.outages, t)
    }

    /// The first time after `t` at which the connection comes back.
    fn next_reconnect_after(&mut self, model: &StreamModel, t: Duration) -> Option<Duration> {
        self.draw_windows_past(model, t);
        self.windows
            .iter()
            .chain(&model.outages)
            .map(|(start, length)| *start + *length)
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
    /// Virtual time zero.
    pub start: Instant,
    /// Broker wall clock of virtual time zero.
    pub epoch_unix_micros: i64,
    /// The run's seed.
    pub seed: u64,
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
            start: self.start,
            epoch_unix_micros: self.epoch_unix_micros,
            seed: self.seed,
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
            let wake = self.start + deliver_at;
            let epoch = self.epoch_unix_micros;
            let order_id = order_id.to_owned();
            tokio::spawn(async move {
                sleep_until(wake).await;
                let mut world = lock(&world);
                let Some(update) = trade_update(world.ledger(), &order_id, happening, at, epoch)
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
            let start = self.start;
            tokio::spawn(async move {
                let mut now = start.elapsed();
                loop {
                    let next = {
                        let mut world = lock(&world);
                        if world.healed() {
                            return;
                        }
                        world.stream().next_reconnect_after(&model, now)
                    };
                    let Some(back) = next else { return };
                    sleep_until(start + back).await;
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
    order_id: &str,
    happening: Happening,
    at: Duration,
    epoch_unix_micros: i64,
) -> Option<TradeUpdate> {
    let order = ledger.by_id(order_id)?;
    let status = order.status_at(at);
    let ended_here = order.terminal_at(at) == Some(at);
    let mut execution = None;
    let event = match happening {
        Happening::New => TradeEvent::New,
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
                _ => return None,
            }
        }
        Happening::PendingCancel if status == TrueStatus::PendingCancel => {
            TradeEvent::PendingCancel
        }
        Happening::Canceled if status == TrueStatus::Canceled && ended_here => TradeEvent::Canceled,
        Happening::PendingCancel | Happening::Canceled => return None,
    };
    let micros = i64::try_from(at.as_micros()).unwrap_or(i64::MAX);
    Some(TradeUpdate {
        event,
        order: order.true_snapshot(at, epoch_unix_micros),
        position_qty: execution
            .as_ref()
            .map(|_| ledger.position_at(&order.symbol, at)),
        execution_id: execution.as_ref().map(|(id, _, _)| id.clone()),
        qty: execution.as_ref().map(|(_, qty, _)| *qty),
        price: execution.as_ref().map(|(_, _, price)| *price),
        at: fillproof_engine::Timestamp::from_unix_micros(epoch_unix_micros.saturating_add(micros)),
    })
}
