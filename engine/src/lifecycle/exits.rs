//! A bracket's or OTO's exits, once its entry filled: every leg watched
//! (stream first, and by reading it) until the broker ends it, each leg's
//! fills booked into the positions and P&L and audited under the leg's
//! own `client_order_id`.
//!
//! One exit filling whole closes the position the group protected: the
//! broker cancels the other (one cancels other). The engine never leaves
//! that other exit working on a flat position: if it still works
//! [`ExecutorConfig::exit_grace`](crate::ExecutorConfig) later, the
//! engine cancels it itself, through the deadline's path (a final read,
//! the cancel, the reads that verify it), so a fill that wins that race
//! is booked, not lost.

use std::future::Future;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::budget::BrokerCalls;
use crate::detect::{FillResult, Guard, Verdict};
use tracing::warn;

use crate::lifecycle::audit::{AuditEvent, OpenExits};
use crate::lifecycle::book::ExitHold;
use crate::lifecycle::{OrderExecutor, Signal};
use crate::port::{Broker, Order, Side};

/// `future`'s output, when there is a future.
async fn maybe<T>(future: Option<impl Future<Output = T>>) -> Option<T> {
    match future {
        Some(future) => Some(future.await),
        None => None,
    }
}

impl<B: Broker + 'static> OrderExecutor<B> {
    /// Watches the exit `legs` of `signal`'s entry (the broker's id
    /// `entry_id`; read again, nested, when the submit's answer carried
    /// none) until each ends, booking and auditing each as it does.
    /// `closed`: another exit of the group already filled (before a
    /// restart), so a leg still working is canceled after the grace;
    /// `watch_for`: how long the legs are watched before the engine
    /// cancels them (what is left of `exits_watched_for` after a restart).
    pub(super) async fn watch_exits(
        &self,
        signal: &Signal,
        entry_id: &str,
        legs: Vec<Order>,
        (closed, watch_for): (bool, Duration),
    ) -> Vec<FillResult> {
        let legs = if legs.is_empty() {
            match self.detector.broker().get_order(entry_id).await {
                Ok(entry) => entry.legs,
                Err(_) => Vec::new(),
            }
        } else {
            legs
        };
        let held = exit_hold(signal, &legs);
        self.lock().hold(&held);
        let (closed, _) = tokio::sync::watch::channel(closed);
        let watch_leg = |leg: Order| {
            let mut flat = closed.subscribe();
            let grace = self.exit_grace;
            let guard: Guard = Box::pin(async move {
                let _ = flat.wait_for(|closed| *closed).await;
                crate::time::sleep(grace).await;
                "the other exit filled: the position it protected is closed, so this exit is \
                 canceled"
                    .to_owned()
            });
            let route = self.detector.route(&leg.client_order_id);
            let closed = &closed;
            let leg_signal = exit_signal(signal, &leg.client_order_id, leg.side, leg.qty);
            self.working
                .watching_exit(&leg_signal, &signal.client_order_id);
            async move {
                let result = self
                    .detector
                    .monitor_exit(leg, route, watch_for, Some(guard))
                    .await;
                if result.verdict == Verdict::Filled {
                    closed.send_replace(true);
                }
                self.book_exit(signal, &result);
                self.working.exit_done(&leg_signal.client_order_id);
                result
            }
        };
        let mut legs = legs.into_iter();
        let (first, second) = (legs.next(), legs.next());
        let (a, b) = tokio::join!(maybe(first.map(watch_leg)), maybe(second.map(watch_leg)));
        self.lock().release(&held);
        a.into_iter().chain(b).collect()
    }

    /// Books an exit leg's outcome (its fills, on its own side) and
    /// audits it under the leg's `client_order_id`.
    fn book_exit(&self, signal: &Signal, leg: &FillResult) {
        let leg_signal = exit_signal(signal, &leg.client_order_id, leg.side, leg.qty);
        self.lock().count_in_flight(&leg_signal);
        self.book_outcome(
            &leg_signal,
            Decimal::ZERO,
            (leg.filled_qty, leg.avg_price, leg.filled_at),
            &leg.executions,
        );
        self.record_outcome(
            &leg_signal,
            Some(&signal.client_order_id),
            &leg.order_id,
            leg,
        );
    }
}

/// The exit legs of an entry a crash left working, once read again: the
/// legs to watch, for [`OrderExecutor::resume_exits`].
#[derive(Debug, Clone)]
pub struct LocatedExits {
    /// The entry's signal (its exits, trader and symbol).
    entry: Signal,
    /// The entry's broker id.
    entry_id: String,
    /// Its legs the journal does not show ended, as the broker shows them.
    legs: Vec<Order>,
    /// Whether a leg the journal shows ended filled whole: the position
    /// the group protected is closed.
    closed: bool,
    /// What is left of the exits' watch, counted from when the engine
    /// concluded the entry filled.
    watch_for: Duration,
}

impl LocatedExits {
    /// The broker ids of the legs to watch.
    pub fn leg_ids(&self) -> impl Iterator<Item = &str> {
        self.legs.iter().map(|leg| leg.id.as_str())
    }
}

impl<B: Broker + 'static> OrderExecutor<B> {
    /// Reads again the entry of exits a crash left working
    /// ([`Journal::open_exits`]), with its legs (retried for the
    /// reconcile horizon), and keeps each leg the journal does not show
    /// ended, for [`Self::resume_exits`]. `None` when the entry could not
    /// be read (the journal still shows its exits open, for the next
    /// restart).
    ///
    /// [`Journal::open_exits`]: crate::lifecycle::Journal::open_exits
    pub async fn locate_exits(&self, open: OpenExits) -> Option<LocatedExits> {
        let OpenExits { entry, ended } = open;
        let entry_id = entry.order_id?;
        let order = match self.detector.read_after_restart(&entry_id).await {
            Ok(order) => order,
            Err(error) => {
                warn!(target: "fillproof::engine", client_order_id = %entry.signal.client_order_id,
                    %error, "the exits of an entry could not be read after a restart");
                return None;
            }
        };
        let is_ended = |leg: &Order| {
            ended
                .iter()
                .any(|e| e.signal.client_order_id == leg.client_order_id)
        };
        // The legs are watched for `exits_watched_for` from the entry's
        // fill, however many restarts came since.
        let since_fill = entry.concluded_at.map_or(Duration::ZERO, |at| {
            let micros = self.clock.now().unix_micros.saturating_sub(at.unix_micros);
            Duration::from_micros(u64::try_from(micros).unwrap_or(0))
        });
        Some(LocatedExits {
            watch_for: self.exits_watched_for.saturating_sub(since_fill),
            entry: entry.signal,
            entry_id,
            legs: order.legs.into_iter().filter(|l| !is_ended(l)).collect(),
            closed: ended
                .iter()
                .any(|leg| leg.filled_whole && leg.concluded == Some(AuditEvent::Fill)),
        })
    }

    /// Watches located exit legs to their ends, booking and auditing each,
    /// as [`Self::watch_exits`] does for an entry it saw fill, for what is
    /// left of `exits_watched_for` since the entry filled (then they are
    /// canceled: at once when none is left); a leg still working after
    /// another filled is canceled after the grace. Returns what each leg
    /// came to.
    pub async fn resume_exits(&self, located: LocatedExits) -> Vec<FillResult> {
        let LocatedExits {
            entry,
            entry_id,
            legs,
            closed,
            watch_for,
        } = located;
        if legs.is_empty() {
            return Vec::new();
        }
        self.watch_exits(&entry, &entry_id, legs, (closed, watch_for))
            .await
    }
}

/// The signal an exit leg of `entry` stands for in the book and the
/// journal: its own id, side and quantity, its entry's trader, symbol and
/// time in force.
fn exit_signal(entry: &Signal, client_order_id: &str, side: Side, qty: Decimal) -> Signal {
    Signal {
        stop_price: None,
        trail: None,
        client_order_id: client_order_id.to_owned(),
        trader_id: entry.trader_id.clone(),
        symbol: entry.symbol.clone(),
        side,
        qty,
        limit_price: None,
        stop_loss: None,
        take_profit: None,
        time_in_force: entry.time_in_force,
        extended_hours: false,
    }
}

/// What `signal`'s working exit `legs` hold, as the broker counts them:
/// their quantity in flight on the exit side, once for the pair (only one
/// can fill), so that the position limit sees what they may still do;
/// and, for a short bracket's buy exits, buying power, once for the pair
/// at the larger of their prices, so that new buys are checked against
/// what is left.
fn exit_hold(signal: &Signal, legs: &[Order]) -> ExitHold {
    let side = legs.first().map_or(signal.side, |leg| leg.side);
    let qty = legs
        .iter()
        .map(|leg| leg.qty)
        .max()
        .unwrap_or(Decimal::ZERO);
    let amount = legs
        .iter()
        .filter(|leg| leg.side == Side::Buy)
        .filter_map(|leg| leg.stop_price.or(leg.limit_price).map(|p| p * leg.qty))
        .max()
        .unwrap_or(Decimal::ZERO);
    ExitHold {
        symbol: signal.symbol.clone(),
        side,
        qty,
        amount,
    }
}

/// How long the engine watches exits by default: a day.
pub(super) const EXITS_WATCHED_FOR: Duration = Duration::from_secs(24 * 3_600);

/// How long, by default, the other exit may stay working after one
/// filled before the engine cancels it.
pub(super) const EXIT_GRACE: Duration = Duration::from_secs(5);
