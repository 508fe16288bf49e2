//! Crashes of the engine under test, and its restarts (the scenario's
//! `crashes:` section).
//!
//! At a crash every task of the engine is dropped at once: the calls it
//! had in flight still reach the broker (the simulated network delivers
//! them), and its journal keeps what its sync policy made durable, with
//! a torn write at its end when the crash says so. After the downtime a
//! fresh engine starts:
//! - an engine that keeps a journal (`robust`, `seed-literal`) reads it
//!   back, rebuilds its book, and recovers every intent in flight: located
//!   by `client_order_id` and watched to its end, or concluded never
//!   placed; a signal the crash stopped before its `submit` record is
//!   delivered again (it was never sent); one whose verdict is in the
//!   journal is filed with it;
//! - one that keeps its state only in memory (`memory-only` and the naive
//!   baselines) knows nothing of the orders it had in flight: their
//!   signals are delivered again and it sends them under new ids.
//!
//! Each crash is recorded (when, the intents in flight, what recovery
//! found and when it had found everything) for the metrics that judge
//! restarts against the ledger.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use fillproof_engine::clock::{sleep, sleep_until};
use fillproof_engine::{
    AuditEvent, AuditKey, Clock, Decimal, ExecutorConfig, Journal, JournaledIntent, LocatedExits,
    OpenExits, OrderExecutor, Verdict,
};
use fillproof_simulator::{CrashAt, CrashesSpec, EngineKind, Intent, SimBroker};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::engines::{AuditCollector, Engine, EngineVerdict, ExitClaim, verdict_of};
use super::tasks::{Filing, Finished, finished, spawn_order, with_trader};

/// One crash of a run and the restart after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashRecord {
    /// When the engine crashed, virtual, since the run began.
    pub at: Duration,
    /// When the fresh engine started.
    pub restarted_at: Duration,
    /// When recovery had located every intent in flight (found at the
    /// broker or concluded never placed) and read again every entry whose
    /// exit legs the journal shows open; `None` while it had not.
    pub recovered_at: Option<Duration>,
    /// The workload intents whose engine task the crash stopped.
    pub in_flight: Vec<u32>,
    /// The broker ids of the orders recovery found.
    pub located: Vec<String>,
    /// The intents in flight whose signal the fresh engine was given
    /// again under the same id: its journal shows them never sent.
    pub delivered_again: Vec<u32>,
    /// The intents in flight whose verdict the journal already held (the
    /// crash stopped their task after it was written).
    pub concluded: Vec<u32>,
    /// Whether the crash tore the journal's last write.
    pub torn: bool,
    /// Whether the fresh engine read a journal back (a memory-only
    /// engine, or a naive baseline, has none).
    pub reads_journal: bool,
    /// Symbols whose broker position disagreed with the book the fresh
    /// engine rebuilt from its journal (those no order in flight trades);
    /// `None` when it did not check (no journal, or a crash came first).
    pub position_alarms: Option<u64>,
    /// Lookups still under way.
    pending: usize,
}

/// What builds the run's engine, at the start and again after a crash.
pub(super) struct Rebuild {
    pub(super) kind: EngineKind,
    pub(super) broker: Arc<SimBroker>,
    pub(super) config: ExecutorConfig,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) seed: u64,
    pub(super) key: Option<AuditKey>,
    pub(super) collector: AuditCollector,
    pub(super) hybrid: bool,
    /// The virtual-time origin's wall-clock stamp, in microseconds.
    pub(super) origin_micros: i64,
    /// Where each engine's status updates are heard.
    pub(super) status: super::status::StatusLog,
}

impl Rebuild {
    /// The engine of the run: reading the broker's quotes, listening to
    /// its trade updates when it detects stream first, its log going on
    /// after `journal` when it restarts from one.
    ///
    /// # Errors
    /// A configuration out of range.
    pub(super) fn engine(
        &self,
        journal: Option<&Journal>,
    ) -> Result<Engine<SimBroker>, fillproof_engine::ConfigError> {
        let engine = Engine::build(
            self.kind,
            Arc::clone(&self.broker),
            self.config.clone(),
            (Arc::clone(&self.clock), self.seed),
            (self.collector.clone(), self.key.clone()),
            journal,
        )?
        .reading_quotes(Arc::clone(&self.broker));
        if let Some(events) = engine.events() {
            self.status.listen(events, Arc::clone(&self.broker));
        }
        Ok(if self.hybrid {
            engine.listening_to(&*self.broker)
        } else {
            engine
        })
    }
}

/// The run's crashes still to come, and those that came.
pub(super) struct Crashes {
    settings: CrashesSpec,
    seed: u64,
    plan: VecDeque<CrashAt>,
    /// Crashes at scripted crash points so far.
    at_points: u64,
    pub(super) records: Arc<Mutex<Vec<CrashRecord>>>,
    rebuild: Rebuild,
}

/// The run's state a crash acts on.
pub(super) struct Running<'r, 'f> {
    pub(super) tasks: &'r mut JoinSet<Finished>,
    pub(super) filing: &'r mut Filing<'f>,
    pub(super) engine: &'r mut Engine<SimBroker>,
    pub(super) intents: &'r [Intent],
    pub(super) start: Instant,
}

/// Locks `records`, whatever a panicking task left.
fn lock(records: &Mutex<Vec<CrashRecord>>) -> std::sync::MutexGuard<'_, Vec<CrashRecord>> {
    records.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Crashes {
    /// The crashes `settings` plan for seed `seed` before `until`, and
    /// those at the timeline's crash points; the engine rebuilt by
    /// `rebuild`.
    pub(super) fn new(settings: CrashesSpec, seed: u64, until: Duration, rebuild: Rebuild) -> Self {
        Self {
            plan: settings.plan(seed, until).into(),
            settings,
            seed,
            at_points: 0,
            records: Arc::default(),
            rebuild,
        }
    }

    /// The broker whose calls reach the timeline's crash points.
    pub(super) fn broker(&self) -> &SimBroker {
        &self.rebuild.broker
    }

    /// The next crash, when it comes before `t` (virtual, since the run
    /// began).
    pub(super) fn next_before(&self, t: Duration) -> Option<CrashAt> {
        self.plan.front().copied().filter(|crash| crash.at < t)
    }

    /// The next crash, when the engine would be back up from it before
    /// `t`, the run's end: a crash whose restart comes after the run
    /// ended would leave a book judged in the middle of its recovery.
    pub(super) fn next_back_before(&self, t: Duration) -> Option<CrashAt> {
        self.plan
            .front()
            .copied()
            .filter(|crash| crash.at + crash.downtime < t)
    }

    /// Crashes the engine at the next crash's instant (or now, `at_point`,
    /// when a call reached a crash point the timeline scripts), keeps it
    /// down, and starts a fresh one that recovers as its kind does. A
    /// planned crash that would come while the engine is down is dropped.
    ///
    /// # Errors
    /// A journal the harness kept that the engine cannot read back, or an
    /// engine that cannot be built again: fillproof's own bugs.
    pub(super) async fn crash(
        &mut self,
        run: &mut Running<'_, '_>,
        at_point: Option<Duration>,
    ) -> Result<()> {
        let Some(crash) = self.next_crash(run.start, at_point).await else {
            return Ok(());
        };
        sleep_until(run.start + crash.at).await;
        // When it came: later than planned when the engine was busy
        // recovering from the one before.
        let crashed_at = run.start.elapsed();
        run.tasks.abort_all();
        let mut in_flight = Vec::new();
        while let Some(joined) = run.tasks.join_next_with_id().await {
            in_flight.extend(run.filing.crashed(joined));
        }
        in_flight.sort_unstable();
        let text = self.rebuild.collector.crash(crash.torn);
        sleep(crash.downtime).await;
        let restarted_at = run.start.elapsed();
        // The engine was down: no crash of it came meanwhile.
        while self.plan.front().is_some_and(|next| next.at < restarted_at) {
            self.plan.pop_front();
        }
        let reads_journal = matches!(
            self.rebuild.kind,
            EngineKind::Robust | EngineKind::SeedLiteral
        );
        let journal = if reads_journal {
            Some(
                Journal::read(&text, self.rebuild.key.as_ref())
                    .context("the engine's journal, read back after a crash")?,
            )
        } else {
            None
        };
        *run.engine = self
            .rebuild
            .engine(journal.as_ref())
            .context("the engine, built again after a crash")?;
        let number = {
            let mut records = lock(&self.records);
            records.push(CrashRecord {
                at: crashed_at,
                restarted_at,
                in_flight: in_flight.clone(),
                torn: crash.torn,
                reads_journal,
                ..CrashRecord::default()
            });
            records.len() - 1
        };
        match &journal {
            Some(journal) => {
                self.recover(run, journal, (&in_flight, number, crashed_at))
                    .await;
            }
            None => self.deliver_again(run, &in_flight, number),
        }
        let mut records = lock(&self.records);
        if records[number].pending == 0 {
            records[number].recovered_at = Some(run.start.elapsed());
        }
        Ok(())
    }

    /// The crash to come: at a crash point reached at `at_point`, or the
    /// next planned one (unless a call reaches a crash point first: that
    /// crash comes then, and the planned one stays planned); `None` when
    /// none is left.
    async fn next_crash(&mut self, start: Instant, at_point: Option<Duration>) -> Option<CrashAt> {
        if let Some(now) = at_point {
            return Some(self.at_point(now));
        }
        let planned = self.plan.front().copied()?;
        tokio::select! {
            biased;
            () = self.rebuild.broker.crash_point_reached() => Some(self.at_point(start.elapsed())),
            () = sleep_until(start + planned.at) => self.plan.pop_front(),
        }
    }

    /// The crash at a scripted crash point reached at `now`.
    fn at_point(&mut self, now: Duration) -> CrashAt {
        self.at_points += 1;
        self.settings.at_point(self.seed, self.at_points, now)
    }

    /// Recovery from the journal: the book rebuilt and checked against
    /// the broker's positions where no order in flight moves them (before
    /// any signal to come is taken), every intent in flight located and
    /// watched (one task each, its trader's actions still to come acting
    /// on it), every concluded one the crash stopped filed with its
    /// journaled verdict, and every signal stopped before its `submit`
    /// record delivered again.
    async fn recover(
        &mut self,
        run: &mut Running<'_, '_>,
        journal: &Journal,
        (stopped, number, crashed_at): (&[u32], usize, Duration),
    ) {
        let Engine::Executor(executor, _) = &*run.engine else {
            return;
        };
        let executor = executor.clone();
        let in_flight = executor.restore(journal);
        let view = JournalView::of(journal);
        let open: Vec<OpenExits> = view.open_exits.values().cloned().collect();
        let alarms = executor
            .reconcile(&in_flight, &open)
            .await
            .iter()
            .filter(|(_, c)| matches!(c, fillproof_engine::Consistency::Discrepancy { .. }))
            .count();
        lock(&self.records)[number].position_alarms = Some(alarms as u64);
        let watched: Vec<(JournaledIntent, &Intent)> = in_flight
            .into_iter()
            .filter_map(|journaled| {
                let cid = &journaled.signal.client_order_id;
                let intent = run
                    .intents
                    .iter()
                    .find(|i| &i.request.client_order_id == cid)?;
                Some((journaled, intent))
            })
            .collect();
        lock(&self.records)[number].pending = watched.len();
        for (journaled, intent) in watched {
            let index = intent.index;
            let actions = still_to_come(intent, crashed_at, run.start.elapsed());
            let asked = cancel_asked_before(intent, crashed_at);
            let engine = run.engine.clone();
            let executor = executor.clone();
            let records = Arc::clone(&self.records);
            let start = run.start;
            let id = run
                .tasks
                .spawn(async move {
                    let cid = journaled.signal.client_order_id.clone();
                    let watch = async {
                        let located = executor.locate(journaled).await;
                        note_located(&records, number, located.order_id(), start);
                        verdict_of(executor.resume(located).await)
                    };
                    let (verdict, cancel_at) =
                        with_trader(Box::pin(watch), &engine, &cid, actions, start).await;
                    finished(index, verdict, cancel_at.or(asked), start)
                })
                .id();
            run.filing.resumed(id, index);
        }
        self.settle_stopped(run, &view, stopped, (number, crashed_at));
        self.watch_open_exits(run, (&executor, &view), number);
    }

    /// The intents the crash stopped that no recovery watches: one whose
    /// verdict the journal holds is filed with it (and with its exit legs
    /// the journal shows ended; [`Self::watch_open_exits`] adds those it
    /// watches again); one stopped before its `submit` record is
    /// delivered again (it was never sent).
    fn settle_stopped(
        &self,
        run: &mut Running<'_, '_>,
        view: &JournalView,
        stopped: &[u32],
        (number, crashed_at): (usize, Duration),
    ) {
        for &index in stopped {
            let Some(intent) = run.intents.get(index as usize) else {
                continue;
            };
            let cid = &intent.request.client_order_id;
            match view.intents.get(cid) {
                Some(journaled) if journaled.in_flight() => {}
                Some(journaled) if journaled.concluded.is_some() => {
                    lock(&self.records)[number].concluded.push(index);
                    // Filed now, with the legs the journal shows ended;
                    // what a leg watched again comes to joins it then.
                    let at = self.virtual_at(journaled, run.start);
                    let verdict = self.journaled_verdict(view, journaled, run.start);
                    let asked = cancel_asked_before(intent, crashed_at);
                    run.filing.concluded(index, verdict, (at, asked));
                }
                _ => {
                    let id = spawn_order(
                        run.tasks,
                        run.engine,
                        &self.rebuild.broker,
                        intent,
                        run.start,
                    );
                    run.filing.resumed(id, index);
                    lock(&self.records)[number].delivered_again.push(index);
                }
            }
        }
    }

    /// Watches again the exit legs of every entry the journal shows open,
    /// as the engine's own recovery does: those of an intent the crash
    /// stopped, and those whose records a batched journal lost (the
    /// intent's task had ended: what it reported stands).
    fn watch_open_exits(
        &self,
        run: &mut Running<'_, '_>,
        (executor, view): (&OrderExecutor<SimBroker>, &JournalView),
        number: usize,
    ) {
        for (cid, open) in &view.open_exits {
            let Some(intent) = run
                .intents
                .iter()
                .find(|i| &i.request.client_order_id == cid)
            else {
                continue;
            };
            let verdict = self.journaled_verdict(view, &open.entry, run.start);
            let id = self.watch_exits_again(run, executor, (intent.index, verdict), (open, number));
            run.filing.resumed(id, intent.index);
        }
    }

    /// The verdict the journal holds of concluded `journaled`, with its
    /// exit legs the journal shows ended.
    fn journaled_verdict(
        &self,
        view: &JournalView,
        journaled: &JournaledIntent,
        start: Instant,
    ) -> EngineVerdict {
        let at = self.virtual_at(journaled, start);
        let mut verdict = journaled_verdict(journaled);
        verdict.decided_at = Some(start + at);
        verdict.exits = view
            .ended_legs(&journaled.signal.client_order_id)
            .map(|leg| self.journaled_exit(leg, start))
            .collect();
        verdict
    }

    /// Spawns the task that watches again the exit legs of a concluded
    /// entry (`open`) a crash left working, and files the entry's
    /// journaled verdict with every leg's outcome; returns the task's id.
    fn watch_exits_again(
        &self,
        run: &mut Running<'_, '_>,
        executor: &OrderExecutor<SimBroker>,
        (index, mut verdict): (u32, EngineVerdict),
        (open, number): (&OpenExits, usize),
    ) -> tokio::task::Id {
        let executor = executor.clone();
        let open = open.clone();
        let records = Arc::clone(&self.records);
        let start = run.start;
        // Recovery is done when the entry's legs are found, too.
        lock(&records)[number].pending += 1;
        run.tasks
            .spawn(async move {
                let located = executor.locate_exits(open).await;
                let legs = located.iter().flat_map(LocatedExits::leg_ids);
                note_found(&records, number, legs);
                note_located(&records, number, None, start);
                if let Some(located) = located {
                    let watched = executor.resume_exits(located).await;
                    verdict.exits.extend(watched.iter().map(ExitClaim::of));
                }
                finished(index, verdict, None, start)
            })
            .id()
    }

    /// What the journal says the engine reported of an exit leg that
    /// ended before the crash.
    fn journaled_exit(&self, leg: &JournaledIntent, start: Instant) -> ExitClaim {
        let (filled_qty, avg_price) = leg
            .filled
            .map_or((Decimal::ZERO, None), |(qty, price, _)| (qty, price));
        let at = self.virtual_at(leg, start);
        ExitClaim {
            order_id: leg.order_id.clone().unwrap_or_default(),
            side: leg.signal.side,
            filled_qty,
            avg_price,
            concluded_at: Some(at),
            decided_at: start + at,
        }
    }

    /// An engine without a journal: every signal the crash stopped is
    /// delivered again, and sent under a new id (`-restart<crash>`).
    fn deliver_again(&self, run: &mut Running<'_, '_>, stopped: &[u32], number: usize) {
        for &index in stopped {
            let Some(intent) = run.intents.get(index as usize) else {
                continue;
            };
            let mut again = intent.clone();
            again.request.client_order_id =
                format!("{}-restart{}", intent.request.client_order_id, number + 1);
            let id = spawn_order(
                run.tasks,
                run.engine,
                &self.rebuild.broker,
                &again,
                run.start,
            );
            run.filing.resumed(id, index);
        }
    }

    /// When the journal says the engine concluded about `intent`, as
    /// virtual time since the run began (the crash, when unknown).
    fn virtual_at(&self, intent: &JournaledIntent, start: Instant) -> Duration {
        intent
            .concluded_at
            .map(|at| at.unix_micros.saturating_sub(self.rebuild.origin_micros))
            .and_then(|micros| u64::try_from(micros).ok())
            .map_or_else(|| start.elapsed(), Duration::from_micros)
    }
}

/// The verdict a journal records for a concluded intent: its fill
/// (filled whole, or in part), never filled, refused or rejected, or
/// unresolved.
fn journaled_verdict(intent: &JournaledIntent) -> EngineVerdict {
    let (filled_qty, avg_price) = intent
        .filled
        .map_or((Decimal::ZERO, None), |(qty, price, _)| (qty, price));
    let verdict = match intent.concluded {
        Some(AuditEvent::Fill) if filled_qty >= intent.signal.qty => Verdict::Filled,
        Some(AuditEvent::Fill) => Verdict::PartiallyFilled,
        Some(AuditEvent::NotFilled) => Verdict::NotFilled,
        Some(AuditEvent::Refused | AuditEvent::Reject) => Verdict::Rejected,
        _ => Verdict::Unresolved,
    };
    EngineVerdict {
        verdict,
        filled_qty,
        avg_price,
        deadline_reached: false,
        refused: intent.concluded == Some(AuditEvent::Refused),
        reason: "concluded before the crash, as the journal records".to_owned(),
        order_id: intent.order_id.clone(),
        broker_error: None,
        decided_at: None,
        exits: Vec::new(),
    }
}

/// The journal as recovery reads it.
struct JournalView {
    /// Each intent, by `client_order_id`.
    intents: std::collections::BTreeMap<String, JournaledIntent>,
    /// The entries whose exit legs the crash may have left working, by
    /// `client_order_id`.
    open_exits: std::collections::BTreeMap<String, OpenExits>,
}

impl JournalView {
    fn of(journal: &Journal) -> Self {
        Self {
            intents: journal
                .intents()
                .into_iter()
                .map(|intent| (intent.signal.client_order_id.clone(), intent))
                .collect(),
            open_exits: journal
                .open_exits()
                .into_iter()
                .map(|open| (open.entry.signal.client_order_id.clone(), open))
                .collect(),
        }
    }

    /// The exit legs of entry `client_order_id` the journal shows ended.
    fn ended_legs<'a>(
        &'a self,
        client_order_id: &'a str,
    ) -> impl Iterator<Item = &'a JournaledIntent> {
        self.intents.values().filter(move |leg| {
            leg.concluded.is_some() && leg.exit_of.as_deref() == Some(client_order_id)
        })
    }
}

/// Notes the exit legs the fresh engine of recovery `number` found to
/// watch again (`leg_ids`): no longer orphaned.
fn note_found<'a>(
    records: &Mutex<Vec<CrashRecord>>,
    number: usize,
    leg_ids: impl Iterator<Item = &'a str>,
) {
    lock(records)[number]
        .located
        .extend(leg_ids.map(str::to_owned));
}

/// Notes that recovery `number` located an order (`order_id`, when the
/// broker held one); the last of its lookups finishes the recovery.
fn note_located(
    records: &Mutex<Vec<CrashRecord>>,
    number: usize,
    order_id: Option<&str>,
    start: Instant,
) {
    let mut records = lock(records);
    let record = &mut records[number];
    record.located.extend(order_id.map(str::to_owned));
    record.pending = record.pending.saturating_sub(1);
    if record.pending == 0 {
        record.recovered_at = Some(start.elapsed());
    }
}

/// When `intent`'s trader asked for its cancel, if it did before the
/// crash at `crashed_at` (the engine that crashed took it), since the run
/// began.
fn cancel_asked_before(intent: &Intent, crashed_at: Duration) -> Option<Duration> {
    intent
        .actions
        .cancel_after
        .map(|after| intent.submit_at + after)
        .filter(|due| *due < crashed_at)
}

/// The actions of `intent`'s trader still to come when an engine that
/// crashed at `crashed_at` restarts at `now` (virtual, since the run
/// began), timed from now: one due during the downtime comes at once,
/// one due before the crash was taken by the engine that crashed.
fn still_to_come(
    intent: &Intent,
    crashed_at: Duration,
    now: Duration,
) -> fillproof_simulator::TraderActions {
    let from_now = |after: Duration| {
        let due = intent.submit_at + after;
        (due >= crashed_at).then(|| due.saturating_sub(now))
    };
    fillproof_simulator::TraderActions {
        cancel_after: intent.actions.cancel_after.and_then(from_now),
        replace: intent
            .actions
            .replace
            .and_then(|(after, limit)| from_now(after).map(|after| (after, limit))),
    }
}
