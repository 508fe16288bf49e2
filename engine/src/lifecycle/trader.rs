//! What a trader may ask of a working order at any time: cancel it, or
//! replace it.
//!
//! A cancel goes through the watch's deadline path (a final read, the
//! cancel, the reads that verify it), so a fill that wins the race is
//! reported, not lost. A replace sends the broker's replace with a new
//! `client_order_id` derived from the intent's (`{id}-v{n}`): a retried
//! replace names the same one, and the broker refuses a second order under
//! it, so a replace is never placed twice; an ambiguous answer is settled
//! by looking that id up. The watch then follows the fills across the
//! replace chain: when the old order ends `replaced`, the replacement is
//! watched in its place.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

use crate::budget::BrokerCalls;
use crate::detect::Guard;
use crate::lifecycle::{AuditEvent, OrderExecutor, Signal};
use crate::port::{Broker, BrokerError, ErrorClass, Order, ReplaceRequest};

/// The status of the record that journals a trader's cancel before it is
/// sent.
pub(crate) const PENDING_CANCEL: &str = "pending_cancel";

/// The intent `{id}` and the number `n` a replace's `client_order_id`
/// (`{id}-v{n}`, as [`OrderExecutor::replace`] names it) carries; `None`
/// for any other id.
pub(crate) fn replace_of(client_order_id: &str) -> Option<(&str, u32)> {
    let (base, n) = client_order_id.rsplit_once("-v")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, n.parse().ok()?))
}

/// How many times a replace whose answer was lost is tried again.
const REPLACE_ATTEMPTS: u32 = 3;

/// The orders a trader may still change, by the intent's
/// `client_order_id`.
#[derive(Default)]
pub(crate) struct Working {
    orders: Mutex<BTreeMap<String, WorkingOrder>>,
    /// The exit legs being watched, by the leg's `client_order_id`: the
    /// leg's signal and its entry's `client_order_id`.
    exits: Mutex<BTreeMap<String, (Signal, String)>>,
}

/// One intent's order as it works now.
struct WorkingOrder {
    /// The signal it stands for.
    signal: Signal,
    /// The broker's id of the order working for it now, once placed.
    order_id: watch::Sender<Option<String>>,
    /// Replaces sent so far.
    replaces: u32,
    /// Set, with why, when a cancel is asked for (by the trader, or
    /// journaled before a crash).
    cancel: watch::Sender<Option<String>>,
}

impl Working {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, WorkingOrder>> {
        self.orders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that `signal` was handed over: from now on its trader may
    /// cancel or replace it, even before the broker answered its submit.
    pub(crate) fn handed_over(&self, signal: &Signal) {
        self.lock()
            .entry(signal.client_order_id.clone())
            .or_insert_with(|| WorkingOrder {
                signal: signal.clone(),
                order_id: watch::channel(None).0,
                replaces: 0,
                cancel: watch::channel(None).0,
            });
    }

    /// Notes that `client_order_id` was replaced `n` times before (by an
    /// engine that crashed): its next replace is `{id}-v{n+1}`.
    pub(crate) fn replaced_before(&self, client_order_id: &str, n: u32) {
        if let Some(order) = self.lock().get_mut(client_order_id) {
            order.replaces = order.replaces.max(n);
        }
    }

    /// Notes that `signal`'s order now works as `order_id`.
    pub(crate) fn working(&self, signal: &Signal, order_id: &str) {
        self.handed_over(signal);
        if let Some(order) = self.lock().get(&signal.client_order_id) {
            order.order_id.send_replace(Some(order_id.to_owned()));
        }
    }

    /// Forgets `client_order_id`: its order ended.
    pub(crate) fn done(&self, client_order_id: &str) {
        self.lock().remove(client_order_id);
    }

    fn lock_exits(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Signal, String)>> {
        self.exits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that exit leg `leg` of entry `entry` is being watched.
    pub(crate) fn watching_exit(&self, leg: &Signal, entry: &str) {
        self.lock_exits()
            .insert(leg.client_order_id.clone(), (leg.clone(), entry.to_owned()));
    }

    /// Forgets exit leg `client_order_id`: it ended.
    pub(crate) fn exit_done(&self, client_order_id: &str) {
        self.lock_exits().remove(client_order_id);
    }

    /// The signal an order of `client_order_id` works for (an intent's,
    /// or a replacement's `{id}-v{n}`, or an exit leg's), and for a leg
    /// its entry's `client_order_id`.
    pub(crate) fn signal_of(&self, client_order_id: &str) -> Option<(Signal, Option<String>)> {
        if let Some(order) = self.lock().get(client_order_id) {
            return Some((order.signal.clone(), None));
        }
        if let Some((leg, entry)) = self.lock_exits().get(client_order_id) {
            return Some((leg.clone(), Some(entry.clone())));
        }
        let (base, _) = replace_of(client_order_id)?;
        self.lock()
            .get(base)
            .map(|order| (order.signal.clone(), None))
    }

    /// Asks for `client_order_id`'s cancel, saying why; false when no
    /// such order works.
    pub(crate) fn ask_cancel(&self, client_order_id: &str, why: &str) -> bool {
        self.lock()
            .get(client_order_id)
            .map(|order| order.cancel.send_replace(Some(why.to_owned())))
            .is_some()
    }

    /// A guard that resolves when the trader cancels `client_order_id`
    /// (at once when it already did).
    pub(crate) fn cancel_guard(&self, client_order_id: &str) -> Option<Guard> {
        let mut asked = self.lock().get(client_order_id)?.cancel.subscribe();
        Some(Box::pin(async move {
            let why = match asked.wait_for(Option::is_some).await {
                Ok(why) => why.clone(),
                // The order was forgotten: it ended.
                Err(_) => None,
            };
            match why {
                Some(why) => why,
                None => std::future::pending().await,
            }
        }))
    }
}

/// `a` or `b`, whichever resolves first (`a` when both are ready).
pub(crate) fn either(a: Option<Guard>, b: Option<Guard>) -> Option<Guard> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Box::pin(async move {
            tokio::select! {
                biased;
                reason = a => reason,
                reason = b => reason,
            }
        })),
        (a, b) => a.or(b),
    }
}

impl<B: Broker + 'static> OrderExecutor<B> {
    /// Asks for the working order of `client_order_id` to be canceled:
    /// its watch takes the cancel path at once (or as soon as the submit
    /// is answered, for an order still being placed), and its result says
    /// how the order ended (a fill that won the race included). False when
    /// no order of that id was handed over, or it has ended.
    ///
    /// The first ask is journaled before the watch acts on it (a `cancel`
    /// record, status `pending_cancel`): an engine restarted after a
    /// crash cancels the order it finds, rather than let it work on.
    pub fn cancel(&self, client_order_id: &str) -> bool {
        let asked = self.working.lock().get(client_order_id).map(|order| {
            let asked_before = order.cancel.borrow().is_some();
            let order_id = order.order_id.borrow().clone();
            (asked_before, order.signal.clone(), order_id)
        });
        let Some((asked_before, signal, order_id)) = asked else {
            return false;
        };
        if !asked_before {
            let _ = self.audit(
                &signal,
                AuditEvent::Cancel,
                order_id.as_deref(),
                (signal.qty, None),
                PENDING_CANCEL,
                "the trader asked for a cancel",
            );
        }
        self.working
            .ask_cancel(client_order_id, "the trader canceled the order")
    }

    /// Replaces the working order of `client_order_id` with `change`
    /// (its `client_order_id` is set here: `{id}-v{n}`); answers the new
    /// order. An order still being placed is replaced once its submit is
    /// answered. The watch of the intent follows the replacement once the
    /// broker has replaced the old order; if the old one filled first,
    /// the broker rejects the new one and the fill is reported.
    ///
    /// # Errors
    /// No such working order (a `NotFound`), the broker refused the
    /// replace, or its answer was lost every time and no order under the
    /// new id could be found.
    pub async fn replace(
        &self,
        client_order_id: &str,
        mut change: ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        let not_working = || BrokerError::NotFound {
            message: format!("no working order for {client_order_id}"),
        };
        let (mut placed, signal) = {
            let orders = self.working.lock();
            let order = orders.get(client_order_id).ok_or_else(not_working)?;
            (order.order_id.subscribe(), order.signal.clone())
        };
        // Handed over but not yet placed: the replace waits for the
        // submit's answer (bounded by the submission's own deadline).
        let wait = self.detector.config().submit_timeout;
        let order_id = tokio::select! {
            biased;
            placed = placed.wait_for(Option::is_some) => placed.ok().and_then(|id| id.clone()),
            () = crate::time::sleep(wait) => None,
        }
        .ok_or_else(not_working)?;
        let n = {
            let mut orders = self.working.lock();
            let order = orders.get_mut(client_order_id).ok_or_else(not_working)?;
            order.replaces += 1;
            order.replaces
        };
        let new_id = format!("{client_order_id}-v{n}");
        change.client_order_id = Some(new_id.clone());
        // Written before the replace is sent, as every order is.
        let _ = self.audit(
            &Signal {
                client_order_id: new_id.clone(),
                qty: change.qty.unwrap_or(signal.qty),
                ..signal
            },
            AuditEvent::Submit,
            None,
            (
                change.qty.unwrap_or(rust_decimal::Decimal::ZERO),
                change.limit_price,
            ),
            "pending_replace",
            &format!("replaces {order_id} of {client_order_id}"),
        );
        let broker = self.detector.broker();
        let mut last = None;
        for _ in 0..REPLACE_ATTEMPTS {
            match broker.replace_order(&order_id, &change).await {
                Ok(order) => return Ok(order),
                Err(error) if error.class() == ErrorClass::Permanent => return Err(error),
                Err(error) => {
                    // The answer was lost or refused for now: the replace
                    // may have been applied. Look its new id up first.
                    if let Ok(order) = broker.get_order_by_client_id(&new_id).await {
                        return Ok(order);
                    }
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or(BrokerError::Timeout))
    }
}
