//! The batched reads: one list read per interval for every order the
//! detector watches, and one read of the fill activities when the list
//! shows a fill whose executions are not yet known, instead of a read per
//! order. Each watching task gets its order's snapshot and executions
//! through its [`Route`], as the stream's events come.
//!
//! The [`Desk`] keeps who is watched (by `client_order_id`), from when,
//! and which executions each has been handed; one task per detector reads
//! for them all, at [`Priority::Routine`] (a read the call budget has no
//! turn for is skipped, and the next waits half as long again, up to the
//! safety read's quiet time, and queues for its turn). The interval
//! stretches with the pages a read took: a thousand open orders cost two
//! calls a turn, not one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tracing::debug;

use crate::budget::{BrokerCalls, CallError, Priority, with_priority};
use crate::detect::{Execution, OrderSignal, Route};
use crate::port::{ActivityQuery, Direction, FillActivity, MAX_ACTIVITY_PAGE, MAX_LIST_LIMIT};
use crate::port::{Order, OrderQuery, StatusFilter, Timestamp};
use crate::time::sleep;

use super::TARGET;

/// The most activity pages one turn reads.
const MAX_ACTIVITY_PAGES: u32 = 10;

/// One watched order.
struct Entry {
    /// Where its snapshots and executions go; `None` for a stream-first
    /// watch, which asks for a shared read instead ([`Desk::read_for`]).
    signals: Option<mpsc::UnboundedSender<OrderSignal>>,
    /// Once its watch started: its submission stamp, when the broker
    /// gave one.
    started: Option<Option<Timestamp>>,
    /// The executions handed to it, by key.
    executions: BTreeSet<String>,
    /// Their quantity.
    executed: Decimal,
    /// A fill its watch learned of by its own read, whose executions it
    /// waits for: the broker id, the quantity filled, the submission stamp.
    wanted: Option<(String, Decimal, Option<Timestamp>)>,
}

/// The orders one shared list read showed, by `client_order_id`; `None`
/// when the read failed.
type Shared = Option<Arc<BTreeMap<String, Order>>>;

/// Who the batched reads read for.
#[derive(Default)]
pub(crate) struct Desk {
    entries: Mutex<BTreeMap<String, Entry>>,
    wake: Arc<Notify>,
    started: AtomicBool,
    /// When a turn last read the open orders beside the newest.
    open_read: Mutex<Option<Instant>>,
    /// The latest shared list read (under way or done) and when it
    /// started, for stream-first watches.
    latest: Mutex<Option<(Instant, Arc<tokio::sync::OnceCell<Shared>>)>>,
}

impl Drop for Desk {
    fn drop(&mut self) {
        // The reading task wakes, finds the desk gone, and ends.
        self.wake.notify_one();
    }
}

/// Fills whose executions a turn looks for: by broker id, the owner's
/// `client_order_id` and the quantity of executions still to find.
type Wanting = BTreeMap<String, (String, Decimal)>;

/// The window of one turn's list read.
struct Window {
    /// Orders submitted after this (exclusive); `None` when a watched
    /// order's submission stamp is unknown: then the newest orders.
    after: Option<Timestamp>,
    /// The watched orders, by `client_order_id`.
    watched: BTreeSet<String>,
}

impl Desk {
    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes the order `client_order_id`.
    pub(crate) fn register(self: &Arc<Self>, client_order_id: &str) -> Route {
        let (sender, signals) = mpsc::unbounded_channel();
        self.enter(client_order_id, Some(sender));
        Route::batched(Arc::clone(self), client_order_id, signals)
    }

    /// Enters the order `client_order_id` on the desk, its news going to
    /// `signals` (none: a stream-first watch's).
    pub(crate) fn enter(
        &self,
        client_order_id: &str,
        signals: Option<mpsc::UnboundedSender<OrderSignal>>,
    ) {
        self.entries().insert(
            client_order_id.to_owned(),
            Entry {
                signals,
                started: None,
                executions: BTreeSet::new(),
                executed: Decimal::ZERO,
                wanted: None,
            },
        );
    }

    /// The order `client_order_id` as one list read shows it, for a
    /// stream-first watch's read after a reconnect or its safety read:
    /// any read of every order the desk watches that started at `since`
    /// or later serves (the watches asking after one reconnect share one
    /// read); else a new one starts, at the caller's priority. `None` when
    /// the read failed or did not show the order: the watch then reads
    /// its order itself.
    pub(crate) async fn read_for<B: BrokerCalls>(
        &self,
        broker: &B,
        client_order_id: &str,
        since: Instant,
    ) -> Option<Order> {
        let cell = {
            let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
            match latest.as_ref() {
                Some((started, cell)) if *started >= since => Arc::clone(cell),
                _ => {
                    let cell = Arc::new(tokio::sync::OnceCell::new());
                    *latest = Some((Instant::now(), Arc::clone(&cell)));
                    cell
                }
            }
        };
        let shared = cell
            .get_or_init(|| async {
                let window = self.window()?;
                let (listed, _) = list(broker, self, &window).await.ok()?;
                let by_id = listed
                    .into_iter()
                    .map(|o| (o.client_order_id.clone(), o))
                    .collect();
                Some(Arc::new(by_id))
            })
            .await;
        shared.as_ref()?.get(client_order_id).cloned()
    }

    /// The order's watch started with `order`: read for it from now on.
    pub(crate) fn watching(&self, client_order_id: &str, order: &Order) {
        if let Some(entry) = self.entries().get_mut(client_order_id) {
            entry.started = Some(order.submitted_at);
        }
        self.wake.notify_one();
    }

    /// The order's watch ended.
    pub(crate) fn leave(&self, client_order_id: &str) {
        self.entries().remove(client_order_id);
    }

    /// Starts the reading task on the current runtime, once.
    pub(crate) fn start<B: BrokerCalls + 'static>(
        self: &Arc<Self>,
        broker: Arc<B>,
        (interval, longest): (Duration, Duration),
    ) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let desk = Arc::downgrade(self);
        let wake = Arc::clone(&self.wake);
        tokio::spawn(read_for_the_desk(desk, wake, broker, (interval, longest)));
    }

    /// The window of the next list read; `None` when no watch has
    /// started.
    fn window(&self) -> Option<Window> {
        let entries = self.entries();
        let started: Vec<(&String, Option<Timestamp>)> = entries
            .iter()
            .filter_map(|(id, e)| e.started.map(|since| (id, since)))
            .collect();
        if started.is_empty() {
            return None;
        }
        let oldest = started
            .iter()
            .map(|(_, since)| *since)
            .try_fold(None::<Timestamp>, |oldest, since| {
                since.map(|s| Some(oldest.map_or(s, |o| o.min(s))))
            })
            .flatten();
        Some(Window {
            after: oldest.map(just_before),
            watched: started.into_iter().map(|(id, _)| id.clone()).collect(),
        })
    }

    /// The orders whose fill the desk has not handed all the executions
    /// of: those `listed` shows so, and those whose watch asked
    /// ([`Desk::want_executions`]). By broker id, the owner's
    /// `client_order_id` and the quantity still to find; with the oldest
    /// one's submission stamp.
    fn wanting_executions(&self, listed: &[Order]) -> (Wanting, Option<Timestamp>) {
        let entries = self.entries();
        let mut wanting = Wanting::new();
        let mut oldest: Option<Timestamp> = None;
        let mut since_of = |since: Option<Timestamp>| {
            if let Some(at) = since {
                oldest = Some(oldest.map_or(at, |o| o.min(at)));
            }
        };
        for order in listed {
            let Some(entry) = entries.get(&order.client_order_id) else {
                continue;
            };
            if entry.started.is_some() && order.filled_qty > entry.executed {
                let left = order.filled_qty - entry.executed;
                wanting.insert(order.id.clone(), (order.client_order_id.clone(), left));
                since_of(order.submitted_at);
            }
        }
        for (owner, entry) in entries.iter() {
            if let Some((id, filled, since)) = &entry.wanted {
                if *filled > entry.executed && !wanting.contains_key(id) {
                    wanting.insert(id.clone(), (owner.clone(), *filled - entry.executed));
                    since_of(*since);
                }
            }
        }
        (wanting, oldest)
    }

    /// The watch of `client_order_id` read a fill of `order` itself and
    /// waits for its executions: the next turn reads them.
    pub(crate) fn want_executions(&self, client_order_id: &str, order: &Order) {
        if let Some(entry) = self.entries().get_mut(client_order_id) {
            entry.wanted = Some((order.id.clone(), order.filled_qty, order.submitted_at));
        }
    }

    /// True when `record` is an execution the desk has not handed yet.
    fn is_new(&self, record: &FillActivity, wanting: &Wanting) -> bool {
        wanting
            .get(&record.order_id)
            .and_then(|(owner, _)| {
                self.entries()
                    .get(owner)
                    .map(|e| !e.executions.contains(record.execution_key()))
            })
            .unwrap_or(false)
    }

    /// Hands each new execution of `records` to the watch of its order.
    fn hand_executions(&self, records: &[FillActivity], wanting: &Wanting) {
        let mut entries = self.entries();
        for record in records {
            let Some(entry) = wanting
                .get(&record.order_id)
                .and_then(|(owner, _)| entries.get_mut(owner))
            else {
                continue;
            };
            let key = record.execution_key();
            if !entry.executions.insert(key.to_owned()) {
                continue;
            }
            entry.executed += record.qty;
            let Some(signals) = &entry.signals else {
                continue;
            };
            let _ = signals.send(OrderSignal::Execution(Execution {
                id: key.to_owned(),
                qty: record.qty,
                price: record.price,
                at: record.transaction_time,
            }));
        }
    }

    /// Hands each watched order of `listed` its snapshot.
    fn hand_snapshots(&self, listed: Vec<Order>) {
        let entries = self.entries();
        for order in listed {
            if let Some(signals) = entries
                .get(&order.client_order_id)
                .and_then(|e| e.signals.as_ref())
            {
                let _ = signals.send(OrderSignal::Snapshot(Box::new(order)));
            }
        }
    }

    fn watching_any(&self) -> bool {
        self.entries().values().any(|e| e.started.is_some())
    }
}

/// The microsecond before `stamp`: a read's `after` is exclusive, and
/// the order (or execution) at `stamp` must be in it.
fn just_before(stamp: Timestamp) -> Timestamp {
    Timestamp::from_unix_micros(stamp.unix_micros - 1)
}

/// The most turns in flight at once: a read that hangs until its timeout
/// holds up no later turn.
const MAX_TURNS_IN_FLIGHT: usize = 3;

/// How a turn ended.
enum Turned {
    /// The list read took this many calls.
    Read(u32),
    /// The call budget had no turn for the list read: it was not sent.
    NotSent,
    /// The list read failed, or no watch had started.
    Failed,
}

/// The reading task: a turn every interval while some order is watched,
/// asleep while none is; it ends when the desk is gone. Turns overlap (up
/// to [`MAX_TURNS_IN_FLIGHT`]), so one read hanging until its timeout
/// delays no order. Turns read at [`Priority::Routine`]; one the call
/// budget did not send lengthens the wait by half (up to `longest`, the
/// safety read's quiet time) and the next turn queues for its calls
/// ([`Priority::Catchup`]), so a budget busy with submissions slows the
/// reads without starving them; each turn read shortens the wait by a
/// quarter back to the interval; a list read of many pages stretches it
/// by as many intervals.
async fn read_for_the_desk<B: BrokerCalls + 'static>(
    desk: Weak<Desk>,
    wake: Arc<Notify>,
    broker: Arc<B>,
    (interval, longest): (Duration, Duration),
) {
    let mut wait = interval;
    let mut priority = Priority::Routine;
    let mut turns = tokio::task::JoinSet::new();
    loop {
        let Some(watching) = desk.upgrade().map(|d| d.watching_any()) else {
            return;
        };
        if !watching {
            wake.notified().await;
            continue;
        }
        sleep(wait).await;
        while turns.len() >= MAX_TURNS_IN_FLIGHT {
            turns.join_next().await;
        }
        let Some(desk) = desk.upgrade() else {
            return;
        };
        let broker = Arc::clone(&broker);
        turns.spawn(with_priority(priority, async move {
            turn(&*broker, &desk).await
        }));
        // The next wait starts when this turn ends, or, when it hangs,
        // after one wait more, beside it.
        let hung = sleep(wait);
        tokio::pin!(hung);
        let turned = tokio::select! {
            biased;
            Some(Ok(turned)) = turns.join_next() => Some(turned),
            () = &mut hung => None,
        };
        let Some(turned) = turned else {
            continue;
        };
        (wait, priority) = match turned {
            // Back toward the interval a quarter at a time.
            Turned::Read(pages) => (
                (wait.mul_f64(0.75))
                    .max(interval.saturating_mul(pages.max(1)))
                    .min(longest),
                Priority::Routine,
            ),
            // Starved: the next turn waits longer, and queues for its
            // call (one read settles every open order: worth more than
            // any one submission).
            Turned::NotSent => (wait.mul_f64(1.5).min(longest), Priority::Catchup),
            Turned::Failed => (wait, priority),
        };
    }
}

/// One turn: the list read, the activities read when the list shows
/// fills with executions unknown, then every watch handed its news
/// (executions first, so a fill's pieces are there when its snapshot
/// settles it). The activities read queues for its calls
/// ([`Priority::Catchup`]): without it a fill is booked at its average
/// price.
async fn turn<B: BrokerCalls>(broker: &B, desk: &Desk) -> Turned {
    let Some(window) = desk.window() else {
        return Turned::Failed;
    };
    let (listed, pages) = match list(broker, desk, &window).await {
        Ok(read) => read,
        Err(CallError::NotSent { .. }) => return Turned::NotSent,
        Err(CallError::Broker(_)) => return Turned::Failed,
    };
    let (wanting, oldest) = desk.wanting_executions(&listed);
    if !wanting.is_empty() {
        let after = oldest.map(just_before);
        let read = activities(broker, desk, after, &wanting);
        if let Some(records) = with_priority(Priority::Catchup, read).await {
            desk.hand_executions(&records, &wanting);
        }
    }
    desk.hand_snapshots(listed);
    Turned::Read(pages)
}

/// How often a turn whose newest page leaves watched orders out also
/// reads the open orders: orders working that long are seldom about to
/// change, and each read of them is a call more.
const OPEN_READ_EVERY: Duration = Duration::from_secs(3);

/// The list read of one turn: every order since the oldest watched,
/// newest first, one page; when the page is full and leaves out orders
/// watched, the open orders too, newest first (an order working for long
/// is open: it is among them), at most every [`OPEN_READ_EVERY`]. The
/// orders (each group's legs listed after its head) and the calls made,
/// or why the first failed.
async fn list<B: BrokerCalls>(
    broker: &B,
    desk: &Desk,
    window: &Window,
) -> Result<(Vec<Order>, u32), CallError> {
    let query = OrderQuery {
        status: StatusFilter::All,
        after: window.after,
        until: None,
        direction: Direction::Desc,
        symbols: Vec::new(),
        nested: true,
        limit: MAX_LIST_LIMIT,
    };
    let mut orders = flatten(broker.list_orders(&query).await.inspect_err(|error| {
        debug!(target: TARGET, %error, "list read failed");
    })?);
    let full = orders.len() >= MAX_LIST_LIMIT as usize;
    let shown: BTreeSet<&str> = orders.iter().map(|o| o.client_order_id.as_str()).collect();
    let left_out = window.watched.iter().any(|id| !shown.contains(id.as_str()));
    let now = Instant::now();
    let due = {
        let mut last = desk
            .open_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = full && left_out && last.is_none_or(|at| now >= at + OPEN_READ_EVERY);
        if due {
            *last = Some(now);
        }
        due
    };
    if !due {
        return Ok((orders, 1));
    }
    let open = OrderQuery {
        status: StatusFilter::Open,
        after: None,
        ..query
    };
    let seen: BTreeSet<String> = orders.iter().map(|o| o.id.clone()).collect();
    if let Ok(more) = broker.list_orders(&open).await {
        orders.extend(flatten(more).into_iter().filter(|o| !seen.contains(&o.id)));
    }
    Ok((orders, 2))
}

/// Each head followed by its legs: a group's legs are watched on their
/// own, and each gets its snapshot.
fn flatten(listed: Vec<Order>) -> Vec<Order> {
    listed
        .into_iter()
        .flat_map(|head| {
            let legs = head.legs.clone();
            std::iter::once(head).chain(legs)
        })
        .collect()
}

/// The fill activities after `after`, newest first (an execution the list
/// just showed is among the newest), page after page until every order
/// `wanting` (by broker id, the quantity of executions still to find) has
/// its executions, or [`MAX_ACTIVITY_PAGES`] were read; `None` when the
/// first read failed.
async fn activities<B: BrokerCalls>(
    broker: &B,
    desk: &Desk,
    after: Option<Timestamp>,
    wanting: &Wanting,
) -> Option<Vec<FillActivity>> {
    let mut query = ActivityQuery {
        after,
        until: None,
        direction: Direction::Desc,
        page_size: MAX_ACTIVITY_PAGE,
        page_token: None,
    };
    let mut left: BTreeMap<&str, Decimal> = wanting
        .iter()
        .map(|(id, (_, qty))| (id.as_str(), *qty))
        .collect();
    let mut records = Vec::new();
    for page in 1..=MAX_ACTIVITY_PAGES {
        let batch = match broker.fill_activities(&query).await {
            Ok(batch) => batch,
            Err(error) if page == 1 => {
                debug!(target: TARGET, %error, "fill activities read failed");
                return None;
            }
            Err(_) => break,
        };
        let full = batch.len() >= MAX_ACTIVITY_PAGE as usize;
        query.page_token = batch.last().map(|r| r.id.clone());
        for record in &batch {
            if desk.is_new(record, wanting) {
                if let Some(qty) = left.get_mut(record.order_id.as_str()) {
                    *qty -= record.qty;
                }
            }
        }
        records.extend(batch);
        left.retain(|_, qty| *qty > Decimal::ZERO);
        if !full || left.is_empty() {
            break;
        }
    }
    Some(records)
}
