//! The engine tasks of a seed run: one per order, spawned with its
//! trader acting on it ([`spawn_order`]), and filed by workload index as
//! they end ([`Filing`]), a crash's stopped tasks included.

use std::time::Duration;

use fillproof_engine::clock::sleep_until;
use fillproof_engine::{Decimal, Verdict};
use fillproof_simulator::{Intent, SimBroker};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::engines::{Engine, EngineVerdict};

/// What an engine task hands back: its workload index, the engine's
/// verdict, and when the engine decided (virtual, since the start).
pub(super) type Finished = (u32, EngineVerdict, Duration, Option<Duration>);

/// A finished order as filed: the verdict, when the engine concluded
/// (`None` when it never did), and when its trader asked for a cancel.
pub(super) type Filed = (EngineVerdict, Option<Duration>, Option<Duration>);

/// Where finished engine tasks are filed. Finished tasks are reaped as the
/// run goes, so that a run of many orders holds only the tasks still
/// working; results are filed by workload index, so reaping order never
/// shows.
pub(super) struct Filing<'a> {
    /// Per workload order submitted, its result once its task ended.
    pub(super) results: Vec<Option<Filed>>,
    /// The workload index of each task still working.
    task_index: indexmap::IndexMap<tokio::task::Id, u32>,
    /// Engine tasks that panicked: `(workload index, panic message)`.
    pub(super) panics: Vec<(u32, String)>,
    on_order_done: &'a (dyn Fn() + Sync),
}

impl<'a> Filing<'a> {
    pub(super) fn new(room: usize, on_order_done: &'a (dyn Fn() + Sync)) -> Self {
        Self {
            results: Vec::with_capacity(room),
            task_index: indexmap::IndexMap::new(),
            panics: Vec::new(),
            on_order_done,
        }
    }

    /// A task started for the order at workload `index`.
    pub(super) fn started(&mut self, id: tokio::task::Id, index: u32) {
        self.task_index.insert(id, index);
        self.results.push(None);
    }

    /// A task started again for the order at workload `index`, after a
    /// crash: a recovery, or the signal delivered again.
    pub(super) fn resumed(&mut self, id: tokio::task::Id, index: u32) {
        self.task_index.insert(id, index);
    }

    /// Files what a task ended with when the engine crashed: the index of
    /// a task the crash stopped, or `None` when it had ended (filed).
    pub(super) fn crashed(
        &mut self,
        joined: Result<(tokio::task::Id, Finished), tokio::task::JoinError>,
    ) -> Option<u32> {
        match joined {
            Err(error) if error.is_cancelled() => self.task_index.swap_remove(&error.id()),
            joined => {
                self.file(joined);
                None
            }
        }
    }

    /// Files the verdict the engine had concluded for `index` before a
    /// crash stopped its task (its journal says so), at `at`, with when
    /// its trader had asked for a cancel (`cancel_at`: `None`, never).
    pub(super) fn concluded(
        &mut self,
        index: u32,
        verdict: EngineVerdict,
        (at, cancel_at): (Duration, Option<Duration>),
    ) {
        if let Some(slot) = self.results.get_mut(index as usize).filter(|s| s.is_none()) {
            *slot = Some((verdict, Some(at), cancel_at));
            (self.on_order_done)();
        }
    }

    /// Files what a task ended with: its verdict, or a panic as an
    /// unfinished order.
    pub(super) fn file(
        &mut self,
        joined: Result<(tokio::task::Id, Finished), tokio::task::JoinError>,
    ) {
        let (index, entry) = match joined {
            Ok((id, (index, verdict, at, cancel_at))) => {
                self.task_index.swap_remove(&id);
                (index, (verdict, Some(at), cancel_at))
            }
            Err(error) => {
                let Some(index) = self.task_index.swap_remove(&error.id()) else {
                    return;
                };
                let message = panic_message(error);
                self.panics.push((index, message.clone()));
                (
                    index,
                    (
                        unfinished(format!("engine task panicked: {message}")),
                        None,
                        None,
                    ),
                )
            }
        };
        // The first conclusion stands: a recovery that watches an order
        // again after a crash lost its verdict record changes no claim;
        // what it reports of exit legs the first did not is added.
        match &mut self.results[index as usize] {
            None => {
                self.results[index as usize] = Some(entry);
                (self.on_order_done)();
            }
            Some((filed, _, _)) => {
                for exit in entry.0.exits {
                    if !filed.exits.iter().any(|e| e.order_id == exit.order_id) {
                        filed.exits.push(exit);
                    }
                }
            }
        }
    }
}

/// Spawns the engine task placing and watching `intent`'s order, its
/// trader acting on it; returns the task's id.
pub(super) fn spawn_order(
    tasks: &mut JoinSet<Finished>,
    engine: &Engine<SimBroker>,
    broker: &SimBroker,
    intent: &Intent,
    start: Instant,
) -> tokio::task::Id {
    let engine = engine.clone();
    // A trader sets a bracket's exits from the touch it would trade at
    // (the ask for a buy, the bid for a sell): the broker checks them
    // against it.
    let price = broker
        .market()
        .quote_at(&intent.request.symbol, intent.submit_at)
        .map_or(intent.reference_price, |q| q.touch(intent.request.side));
    let signal = intent.signal_at(price);
    // The price a bracket's exits are set from is the one its trader
    // expects to trade at (its stop loss and take profit are checked
    // against it).
    let expected = if intent.exits.is_some() {
        price
    } else {
        intent.reference_price
    };
    let index = intent.index;
    let actions = intent.actions;
    let abort = tasks.spawn(async move {
        // Boxed, the order's (large) state is allocated once where it
        // runs, and the task the runtime moves about stays small.
        let execute = Box::pin(engine.execute(&signal, expected));
        let (verdict, cancel_at) =
            with_trader(execute, &engine, &signal.client_order_id, actions, start).await;
        finished(index, verdict, cancel_at, start)
    });
    abort.id()
}

/// A task's result for workload order `index`: judged at the moment the
/// engine decided (and each exit leg when it concluded about it), not
/// when it was done collecting what followed (executions still on their
/// way); a verdict without its moment was decided now.
pub(super) fn finished(
    index: u32,
    mut verdict: EngineVerdict,
    cancel_at: Option<Duration>,
    start: Instant,
) -> Finished {
    let decided = verdict
        .decided_at
        .map_or_else(|| start.elapsed(), |at| at.duration_since(start));
    for exit in &mut verdict.exits {
        exit.concluded_at = Some(exit.decided_at.duration_since(start));
    }
    (index, verdict, decided, cancel_at)
}

/// Runs `execute` (the engine placing and watching `client_order_id`'s
/// order) while its trader acts on it: a replace, then a cancel, each at
/// its time after the order was handed over. Returns the engine's verdict
/// and when the cancel was asked for (`None`: none), whether or not the
/// engine took it. The trader stops when the engine concludes.
pub(super) async fn with_trader(
    execute: impl std::future::Future<Output = EngineVerdict>,
    engine: &Engine<SimBroker>,
    client_order_id: &str,
    actions: fillproof_simulator::TraderActions,
    start: Instant,
) -> (EngineVerdict, Option<Duration>) {
    if actions == fillproof_simulator::TraderActions::default() {
        return (execute.await, None);
    }
    let handed = Instant::now();
    let cancel_at = std::sync::Mutex::new(None);
    let trader = async {
        let mut steps: Vec<(Duration, Option<Decimal>)> = actions
            .replace
            .map(|(after, limit)| (after, Some(limit)))
            .into_iter()
            .chain(actions.cancel_after.map(|after| (after, None)))
            .collect();
        steps.sort_by_key(|(after, _)| *after);
        for (after, limit) in steps {
            sleep_until(handed + after).await;
            match limit {
                Some(limit) => {
                    engine.replace(client_order_id, limit).await;
                }
                None => {
                    // The trader asked, whether or not the engine takes it.
                    let asked = start.elapsed();
                    *cancel_at
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(asked);
                    engine.cancel(client_order_id).await;
                }
            }
        }
        // Done: the engine's verdict is what ends the wait.
        std::future::pending::<EngineVerdict>().await
    };
    let verdict = tokio::select! {
        biased;
        verdict = execute => verdict,
        verdict = trader => verdict,
    };
    let asked = *cancel_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    (verdict, asked)
}

/// What a panicking engine task said, or why it ended otherwise.
fn panic_message(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return error.to_string();
    }
    let payload = error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}

pub(super) fn unfinished(reason: String) -> EngineVerdict {
    EngineVerdict {
        verdict: Verdict::Unresolved,
        filled_qty: Decimal::ZERO,
        avg_price: None,
        deadline_reached: true,
        refused: false,
        reason,
        order_id: None,
        broker_error: None,
        decided_at: None,
        exits: Vec::new(),
    }
}
