//! Recovery after a crash: a fresh executor, its audit log resumed after
//! the journal's last whole record ([`AuditLog::resume`]), rebuilds its
//! book from the journal and finds out what became of every intent the
//! crash left in flight.
//!
//! The rule that keeps it safe: an intent whose `submit` record is in the
//! journal may have reached the broker, so it is never sent again. It is
//! looked up by its `client_order_id` (for `reconcile_horizon`: a submit
//! sent just before the crash may still be on its way) and, found, watched
//! to its end like any order (stream first when the executor listens, by
//! polling otherwise), its outcome booked and recorded; still absent at
//! the horizon, it was never placed, and is concluded so. The rebuilt
//! book is reconciled with the broker's positions where no order in
//! flight can move them ([`OrderExecutor::reconcile`]).
//!
//! [`AuditLog::resume`]: crate::lifecycle::AuditLog::resume

use rust_decimal::Decimal;
use tokio::time::Instant;

use crate::detect::{Consistency, Execution, FillResult, Submission};
use crate::lifecycle::audit::{Journal, JournaledIntent, OpenExits};
use crate::lifecycle::trader::replace_of;
use crate::lifecycle::{ExecutionError, OrderExecutor, Signal};
use crate::port::{Broker, SubmitError};

/// An intent left in flight by a crash, once looked up.
#[derive(Debug)]
pub struct Located {
    /// The intent, as the journal gives it.
    pub signal: Signal,
    /// Buying power set aside for it while it is watched.
    reserved: Decimal,
    /// Why, when a cancel of it is journaled: the order found is canceled
    /// at once.
    cancel_asked: Option<String>,
    /// The order found, or why none was.
    found: Result<Submission, SubmitError>,
}

impl Located {
    /// The broker's id of the order found, when the broker holds one.
    #[must_use]
    pub fn order_id(&self) -> Option<&str> {
        self.found.as_ref().ok().map(|s| s.order.id.as_str())
    }
}

/// What [`OrderExecutor::recover`] found and did.
#[derive(Debug)]
pub struct Recovery {
    /// Each intent the journal held in flight, by `client_order_id`, in
    /// journal order, with how it ended: watched to its end, or never
    /// placed.
    pub outcomes: Vec<(String, Result<FillResult, ExecutionError>)>,
    /// The rebuilt book against the broker's positions, for the symbols
    /// no intent in flight trades.
    pub positions: Vec<(String, Consistency)>,
    /// Each entry whose exit legs the crash left working, by
    /// `client_order_id`, in journal order, with what each leg watched
    /// again came to.
    pub exits: Vec<(String, Vec<FillResult>)>,
}

impl<B: Broker + 'static> OrderExecutor<B> {
    /// Recovers from `journal` in one call, for an engine restarting on
    /// its own: rebuilds the book ([`Self::restore`]), reconciles it with
    /// the broker ([`Self::reconcile`]), then locates and watches every
    /// intent in flight to its end, all at once ([`Self::locate`],
    /// [`Self::resume`]), and every exit leg the crash left working
    /// ([`Self::locate_exits`], [`Self::resume_exits`]); never sends one
    /// again. Returns when
    /// every one has ended.
    pub async fn recover(&self, journal: &Journal) -> Recovery {
        let in_flight = self.restore(journal);
        let open_exits = journal.open_exits();
        let positions = self.reconcile(&in_flight, &open_exits).await;
        let mut exits = tokio::task::JoinSet::new();
        for (place, open) in open_exits.into_iter().enumerate() {
            let executor = self.clone();
            exits.spawn(async move {
                let client_order_id = open.entry.signal.client_order_id.clone();
                let watched = match executor.locate_exits(open).await {
                    Some(located) => executor.resume_exits(located).await,
                    None => Vec::new(),
                };
                (place, client_order_id, watched)
            });
        }
        let mut watches = tokio::task::JoinSet::new();
        for (place, intent) in in_flight.into_iter().enumerate() {
            let executor = self.clone();
            watches.spawn(async move {
                let client_order_id = intent.signal.client_order_id.clone();
                let located = executor.locate(intent).await;
                (place, client_order_id, executor.resume(located).await)
            });
        }
        let mut outcomes = Vec::with_capacity(watches.len());
        while let Some(joined) = watches.join_next().await {
            if let Ok(outcome) = joined {
                outcomes.push(outcome);
            }
        }
        let mut watched = Vec::with_capacity(exits.len());
        while let Some(joined) = exits.join_next().await {
            if let Ok(legs) = joined {
                watched.push(legs);
            }
        }
        Recovery {
            outcomes: in_order(outcomes),
            positions,
            exits: in_order(watched),
        }
    }

    /// Rebuilds the book from `journal`, which this executor's audit log
    /// goes on from: every concluded intent's fill is booked (its
    /// quantity at its average price, on its side), so positions, realized
    /// P&L and buying power are as the engine left them. Returns the
    /// intents still in flight, in journal order, for [`Self::locate`];
    /// nothing is sent.
    pub fn restore(&self, journal: &Journal) -> Vec<JournaledIntent> {
        let intents = journal.intents();
        let ids: std::collections::BTreeSet<&str> = intents
            .iter()
            .map(|i| i.signal.client_order_id.as_str())
            .collect();
        let mut in_flight = Vec::new();
        for intent in &intents {
            // A replace of an intent is found with it: watching the
            // intent's order follows its replace chain.
            if intent.in_flight() && !replaces_one_of(&intent.signal.client_order_id, &ids) {
                in_flight.push(intent.clone());
            }
        }
        // Booked in the order the engine concluded (average cost depends
        // on the order fills are booked in).
        let mut concluded: Vec<&JournaledIntent> = intents
            .iter()
            .filter(|intent| intent.concluded_seq.is_some())
            .collect();
        concluded.sort_by_key(|intent| intent.concluded_seq);
        for intent in concluded {
            let Some((qty, price, at)) = intent.filled else {
                continue;
            };
            // Counted in flight, then settled: booking gives back what
            // it counted, and nothing else moves.
            self.lock().count_in_flight(&intent.signal);
            let executions: Vec<Execution> = intent
                .executions
                .iter()
                .map(|&(qty, price, at)| Execution {
                    id: String::new(),
                    qty,
                    price,
                    at,
                })
                .collect();
            self.book_outcome(&intent.signal, Decimal::ZERO, (qty, price, at), &executions);
        }
        in_flight
    }

    /// Reconciles the rebuilt book with the broker: each symbol of the
    /// book that no intent in flight (`in_flight`) and no exit leg left
    /// open (`open_exits`) trades, its position read from the broker
    /// (through position lag, as the end-of-run check reads it) against
    /// the book's. A symbol one of those trades is left out: its position
    /// moves while that order is found. Returns each symbol checked and
    /// what the reads found.
    pub async fn reconcile(
        &self,
        in_flight: &[JournaledIntent],
        open_exits: &[OpenExits],
    ) -> Vec<(String, Consistency)> {
        let moving = |symbol: &str| {
            in_flight.iter().any(|i| i.signal.symbol == symbol)
                || open_exits.iter().any(|o| o.entry.signal.symbol == symbol)
        };
        let book = self.positions();
        let symbols: Vec<(String, Decimal)> = book
            .positions()
            .filter(|(symbol, _)| !moving(symbol))
            .map(|(symbol, state)| (symbol.to_owned(), state.qty))
            .collect();
        let mut found = Vec::with_capacity(symbols.len());
        for (symbol, expected) in symbols {
            let (consistency, _) = self.detector.check_position(&symbol, expected).await;
            found.push((symbol, consistency));
        }
        found
    }

    /// Looks up the order of `intent`, one the crash left in flight, by
    /// its `client_order_id`, never sending it again, until no submit of
    /// it can still arrive (the reconcile horizon after the submit
    /// deadline that followed its record), and counts it in flight
    /// meanwhile (its buying power at its limit, when it has one).
    pub async fn locate(&self, intent: JournaledIntent) -> Located {
        let signal = intent.signal;
        let reference = signal.limit_price.unwrap_or(Decimal::ZERO);
        let reserved = self.lock().reserve(&signal, reference, Instant::now());
        self.working.handed_over(&signal);
        self.working
            .replaced_before(&signal.client_order_id, intent.replaces);
        // How long ago it was recorded, by the engine's clock.
        let recorded_ago = intent.recorded_at.map(|at| {
            let micros = self.clock.now().unix_micros.saturating_sub(at.unix_micros);
            std::time::Duration::from_micros(u64::try_from(micros).unwrap_or(0))
        });
        let found = self.detector.locate(&signal.request(), recorded_ago).await;
        Located {
            signal,
            reserved,
            cancel_asked: intent.cancel_asked,
            found,
        }
    }

    /// Watches a located intent's order to its end, books and records it,
    /// as for an order this executor placed (no slippage figure and no
    /// slippage control: the touch it was sent against is not known), and
    /// cancels it at once when a cancel of it is journaled; an
    /// intent whose order never turned up is concluded not placed.
    ///
    /// # Errors
    /// [`SubmitError::NotPlaced`] when the broker holds no such order
    /// past the horizon; [`SubmitError::Unknown`] when it could not be
    /// reached.
    pub async fn resume(&self, located: Located) -> Result<FillResult, ExecutionError> {
        let Located {
            signal,
            reserved,
            cancel_asked,
            found,
        } = located;
        let submission = match found {
            Ok(submission) => submission,
            Err(error) => {
                self.working.done(&signal.client_order_id);
                let context = "recovered after a restart: ";
                return Err(self.fail_submission(&signal, reserved, error, context));
            }
        };
        if let Some(why) = cancel_asked {
            // A cancel journaled before the crash: the watch takes the
            // cancel path at once.
            let why = format!("a cancel journaled before a restart ({why})");
            self.working.ask_cancel(&signal.client_order_id, &why);
        }
        let route = self.detector.route(&signal.client_order_id);
        Ok(self
            .see_through(&signal, reserved, (None, None), submission, route)
            .await)
    }
}

/// Results as `(place, id, result)`, in place order, without the place.
fn in_order<T>(mut results: Vec<(usize, String, T)>) -> Vec<(String, T)> {
    results.sort_by_key(|(place, _, _)| *place);
    results
        .into_iter()
        .map(|(_, id, result)| (id, result))
        .collect()
}

/// Whether `client_order_id` names a replace of one of `ids`: the
/// executor sends a replace as `<id>-v<n>`.
fn replaces_one_of(client_order_id: &str, ids: &std::collections::BTreeSet<&str>) -> bool {
    replace_of(client_order_id).is_some_and(|(base, _)| ids.contains(base))
}
