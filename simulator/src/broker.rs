//! The simulated broker: the engine's `Broker` port over the ledger, with
//! latency, faults, rate limits and outages drawn from seeded streams.
//!
//! Each call draws its latency legs and its fault from a stream keyed by
//! the order, the endpoint and the call's number, so a call's fate never
//! depends on what other orders are doing. The request is applied at the
//! broker after the request leg, under one short lock on the world state;
//! no lock is held across an `await`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fillproof_engine::clock::{sleep, sleep_until};
use fillproof_engine::{
    Broker, BrokerError, Order, OrderRequest, Position, RateLimitState, StreamItem, TradeUpdates,
    derive_rng, stable_hash,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use tokio::time::Instant;

use crate::fault::{CallRefusal, FaultKind};
use crate::ledger::{Ledger, LedgerOrder, TrueStatus};
use crate::lifecycle::{draw, lifecycle_rng};
use crate::model::{BrokerModel, OrderTarget, in_window};
use crate::scenario::{Endpoint, WhenFilled};
use crate::stream::{Happening, Publisher, StreamState, StreamWorld};
use crate::time::{SimClock, trace_micros};
use crate::trace::{AcceptRecord, CallRecord, Seen, Trace, TraceEvent, TraceKind};

tokio::task_local! {
    /// The virtual time at which the calls of a task arrived at the broker,
    /// when a front end (the HTTP server) says so; see [`at_arrival`].
    static ARRIVAL: Duration;
}

/// Runs `calls` as calls that arrived at the broker at virtual time
/// `arrival` (since the broker was created).
///
/// A call then takes effect at `arrival` plus its drawn request leg, exactly,
/// whatever the clock reads when its task wakes: on the real clock, where a
/// server runs, the ledger is then a function of the arrival times alone,
/// so a logged session replays on the paused clock to the same ledger.
pub async fn at_arrival<F: std::future::Future>(arrival: Duration, calls: F) -> F::Output {
    ARRIVAL.scope(arrival, calls).await
}

/// A UUID-shaped id (8-4-4-4-12 hex digits, version 4 and variant bits
/// set) derived from the seed, a purpose and a key: the same inputs give
/// the same id on any machine, and no id is random.
#[must_use]
pub fn uuid_shaped(seed: u64, purpose: &str, key: u64) -> String {
    let mut rng = derive_rng(seed, purpose, key);
    let bits: u128 = rng.random();
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The seeded mock broker.
pub struct SimBroker {
    /// Order ids are UUID-shaped (for clients that check, as alpaca-py
    /// does) rather than `ord-0000001`.
    uuid_ids: bool,
    model: Arc<BrokerModel>,
    seed: u64,
    /// Virtual time zero, and the stamp it stands for.
    clock: SimClock,
    world: Arc<Mutex<World>>,
    /// The trade-updates stream, when the model has one.
    publisher: Option<Publisher<World>>,
}

impl Clone for SimBroker {
    /// Another handle on the same broker (its state is shared), for a
    /// request that must still land after its caller stopped waiting.
    fn clone(&self) -> Self {
        Self {
            uuid_ids: self.uuid_ids,
            model: Arc::clone(&self.model),
            seed: self.seed,
            clock: self.clock,
            world: Arc::clone(&self.world),
            publisher: self.publisher.clone(),
        }
    }
}

struct World {
    ledger: Ledger,
    /// Client order id to workload index, as registered by the harness.
    registry: indexmap::IndexMap<String, u32, fillproof_engine::StableBuildHasher>,
    /// Calls made per (order key, endpoint).
    call_numbers: indexmap::IndexMap<(u64, usize), u32, fillproof_engine::StableBuildHasher>,
    bucket: Option<Bucket>,
    healed: bool,
    trace: Trace,
    /// Calls per endpoint, indexed by [`Endpoint::index`].
    calls: [u64; 5],
    /// What became of every submit, by client order id.
    submits: indexmap::IndexMap<String, SubmitRecord, fillproof_engine::StableBuildHasher>,
    stream: StreamState,
    /// The rate-limit state sent with the latest answer.
    rate_state: Option<RateLimitState>,
    /// Faults injected, by kind.
    faults_injected: std::collections::BTreeMap<&'static str, u64>,
    /// Requests whose caller stopped waiting, still on their way: how many,
    /// and when the last of them lands.
    travelling: (u64, Option<Instant>),
    /// Every request sent and not yet applied, whether or not its caller
    /// still waits: how many land at each virtual time.
    on_their_way: std::collections::BTreeMap<Duration, u32>,
}

impl World {
    /// A request that was to land at `at` has landed (or never will).
    fn not_on_its_way(&mut self, at: Duration) {
        if let std::collections::btree_map::Entry::Occupied(mut entry) = self.on_their_way.entry(at)
        {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }
}

impl StreamWorld for World {
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn stream(&mut self) -> &mut StreamState {
        &mut self.stream
    }

    fn healed(&self) -> bool {
        self.healed
    }

    fn trace(&mut self, at: Duration, kind: TraceKind) {
        let t_us = trace_micros(at);
        self.trace.push(TraceEvent { t_us, kind });
    }
}

/// Why a submit the broker received did not place an order, as the broker
/// knows it (not as the engine guessed it).
///
/// Not a [`CallRefusal`]: the broker's own refusal of the order
/// (`Rejected`) is an answer, not a refusal of the call, and of a fault only
/// whether it kept the request from the broker matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubmitRefusal {
    /// The broker's rate limit answered 429.
    RateLimit,
    /// The broker was in an outage window (503).
    Outage,
    /// The broker refused the order itself (403 or 422).
    Rejected,
    /// An injected fault answered instead, and the request was not applied
    /// (500, 502, 503, 504 or a timeout before the broker).
    Fault,
}

/// Every submit the broker received for one client order id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubmitRecord {
    /// Submit calls that reached the broker.
    pub attempts: u32,
    /// True once one of them placed an order.
    pub placed: bool,
    /// True when the broker refused the order itself at least once.
    pub rejected: bool,
    /// Why the last unplaced attempt was refused.
    pub last_refusal: Option<SubmitRefusal>,
}

/// A token bucket refilled continuously.
struct Bucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    last: Duration,
}

impl Bucket {
    /// What the broker reports with an answer: its limit, the whole tokens
    /// left, and (the bucket refilling continuously) the time until the
    /// next token.
    fn state(&self) -> RateLimitState {
        let reset_in = if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        };
        RateLimitState {
            limit: self.capacity as u32,
            remaining: self.tokens.max(0.0) as u32,
            reset_in,
        }
    }

    /// Takes a token at `now`, or says how long until one is free.
    fn take(&mut self, now: Duration) -> Result<(), Duration> {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.per_second;
            // Whole milliseconds, rounded up, as a Retry-After header would.
            Err(Duration::from_millis((wait * 1000.0).ceil() as u64))
        }
    }
}

/// Per-call draws, made before the call starts.
struct CallDraws {
    number: u32,
    request: Duration,
    response: Duration,
    fault: Option<FaultKind>,
    rng: ChaCha8Rng,
}

/// A key naming whose stream a call draws from: the workload index for a
/// registered order, a hash of the name otherwise.
fn unregistered_key(name: &str) -> u64 {
    (1 << 63) | stable_hash(name.as_bytes())
}

impl SimBroker {
    /// A broker following `model` with streams derived from `seed`. Call it
    /// inside the runtime that will run the simulation: virtual time zero is
    /// now. With `record_trace` the trace keeps every event, otherwise only
    /// its hash.
    #[must_use]
    pub fn new(model: BrokerModel, seed: u64, record_trace: bool) -> Self {
        let bucket = model.rate_limit.map(|(requests, per)| Bucket {
            capacity: f64::from(requests),
            tokens: f64::from(requests),
            per_second: f64::from(requests) / per.as_secs_f64().max(1e-9),
            last: Duration::ZERO,
        });
        let clock = SimClock::starting_now(model.time_origin());
        let world = Arc::new(Mutex::new(World {
            ledger: Ledger::default(),
            registry: indexmap::IndexMap::default(),
            call_numbers: indexmap::IndexMap::default(),
            bucket,
            healed: false,
            trace: Trace::new(record_trace),
            calls: [0; 5],
            submits: indexmap::IndexMap::default(),
            stream: StreamState::new(seed),
            rate_state: None,
            faults_injected: std::collections::BTreeMap::new(),
            travelling: (0, None),
            on_their_way: std::collections::BTreeMap::new(),
        }));
        let publisher = model.stream.clone().map(|stream| Publisher {
            world: Arc::clone(&world),
            model: Arc::new(stream),
            clock,
            seed,
        });
        Self {
            uuid_ids: false,
            seed,
            clock,
            world,
            publisher,
            model: Arc::new(model),
        }
    }

    /// The same broker, giving its orders UUID-shaped ids derived from the
    /// seed, as a broker on the wire must (alpaca-py refuses any other id).
    #[must_use]
    pub fn with_uuid_ids(mut self) -> Self {
        self.uuid_ids = true;
        self
    }

    /// The seed the broker's streams derive from.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Faults injected so far, by [`CallRefusal`] name (`lost_response`,
    /// `http_504`, ..., and `outage` and `rate_limit` for calls an outage
    /// or the rate limit answered), in name order.
    #[must_use]
    pub fn faults_injected(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.world().faults_injected.clone()
    }

    /// Schedules `happenings` of `order_id` on the stream, when anyone
    /// listens.
    fn publish(
        &self,
        world: &mut World,
        order_id: &str,
        key: u64,
        happenings: impl IntoIterator<Item = (Happening, Duration)>,
    ) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        if !world.stream.has_subscribers() {
            return;
        }
        for (happening, at) in happenings {
            publisher.schedule(order_id, key, happening, at, world.healed);
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock leaves plain data behind, still
        // consistent call by call; keep serving it rather than panic again.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Virtual time since the broker was created.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The model in force.
    #[must_use]
    pub fn model(&self) -> &BrokerModel {
        &self.model
    }

    /// Tells the broker that `client_order_id` is workload order `index`, so
    /// that its lifecycle and timeline are the ones drawn for that index.
    pub fn register(&self, client_order_id: &str, index: u32) {
        self.world()
            .registry
            .insert(client_order_id.to_owned(), index);
    }

    /// Makes room for a run of `orders` orders.
    pub fn reserve(&self, orders: usize) {
        let mut world = self.world();
        world.ledger.reserve(orders);
        world.registry.reserve(orders);
        world.submits.reserve(orders);
    }

    /// Heals every fault: no more transient errors, outages or rate limits.
    /// Latency, lags and the fill model stay.
    pub fn heal(&self) {
        let now = self.micros(self.elapsed());
        let mut world = self.world();
        world.healed = true;
        world.trace.push(TraceEvent {
            t_us: now,
            kind: TraceKind::Healed,
        });
    }

    /// Reads the ledger.
    pub fn with_ledger<R>(&self, read: impl FnOnce(&Ledger) -> R) -> R {
        read(&self.world().ledger)
    }

    /// Takes the ledger out at the end of a run, leaving an empty one:
    /// cheaper than a copy for a run of many orders.
    #[must_use]
    pub fn take_ledger(&self) -> Ledger {
        std::mem::take(&mut self.world().ledger)
    }

    /// The trace's running hash.
    #[must_use]
    pub fn trace_hash(&self) -> u64 {
        self.world().trace.hash()
    }

    /// A copy of the trace.
    #[must_use]
    pub fn trace(&self) -> Trace {
        self.world().trace.clone()
    }

    /// When the last submit or cancel whose caller stopped waiting lands,
    /// while any is still on its way: the ledger is not the whole truth
    /// before then.
    #[must_use]
    pub fn requests_travelling_until(&self) -> Option<Instant> {
        let world = self.world();
        match world.travelling {
            (0, _) => None,
            (_, lands) => lands,
        }
    }

    /// Submits and cancels whose caller stopped waiting that have not
    /// reached the broker yet (reads change nothing when they land).
    #[must_use]
    pub fn requests_travelling(&self) -> u64 {
        self.world().travelling.0
    }

    /// When each request sent to the broker and not yet applied lands,
    /// whether or not its caller still waits: virtual time since the
    /// broker was created (its arrival plus its drawn request leg),
    /// earliest first, one entry per request. A front end that ends a
    /// session waits for the last of them, so that the ledger it judges
    /// holds every request sent before the end.
    #[must_use]
    pub fn requests_on_their_way(&self) -> Vec<Duration> {
        let world = self.world();
        world
            .on_their_way
            .iter()
            .flat_map(|(at, n)| std::iter::repeat_n(*at, *n as usize))
            .collect()
    }

    /// Calls made per endpoint, in [`Endpoint::ALL`] order.
    #[must_use]
    pub fn calls(&self) -> [u64; 5] {
        self.world().calls
    }

    /// Takes out what became of every submit, by client order id, in the
    /// order the ids were first seen, at the end of a run (as
    /// [`SimBroker::take_ledger`] does the ledger), leaving none.
    #[must_use]
    pub fn take_submits(
        &self,
    ) -> indexmap::IndexMap<String, SubmitRecord, fillproof_engine::StableBuildHasher> {
        std::mem::take(&mut self.world().submits)
    }

    fn micros(&self, t: Duration) -> u64 {
        trace_micros(t)
    }

    /// The wall-clock stamp of virtual time zero, as the ledger takes it.
    fn epoch_unix_micros(&self) -> i64 {
        self.clock.origin().epoch_unix_micros()
    }

    fn key_for_client_id(world: &World, client_order_id: &str) -> (u64, Option<u32>) {
        match world.registry.get(client_order_id) {
            Some(&index) => (u64::from(index), Some(index)),
            None => (unregistered_key(client_order_id), None),
        }
    }

    fn key_for_id(world: &World, id: &str) -> (u64, Option<u32>) {
        match world.ledger.by_id(id) {
            Some(order) => match order.index {
                Some(index) => (u64::from(index), Some(index)),
                None => (unregistered_key(&order.client_order_id), None),
            },
            None => (unregistered_key(id), None),
        }
    }

    /// The fault the scenario's `timeline:` scripts for call `number` of
    /// `endpoint` on the order `order` (by index) or `target` names.
    fn scripted_fault(
        &self,
        world: &World,
        endpoint: Endpoint,
        order: Option<u32>,
        target: &str,
        number: u32,
    ) -> Option<FaultKind> {
        let faults = &self.model.call_faults;
        let at = |target: OrderTarget| faults.get(&(target, endpoint.index(), number)).copied();
        if let Some(fault) = order.and_then(|index| at(OrderTarget::Index(index))) {
            return Some(fault);
        }
        let client_order_id = match endpoint {
            Endpoint::Submit | Endpoint::GetOrderByClientId => Some(target),
            Endpoint::GetOrder | Endpoint::Cancel => world
                .ledger
                .by_id(target)
                .map(|o| o.client_order_id.as_str()),
            Endpoint::GetPosition => None,
        }?;
        at(OrderTarget::ClientOrderId(client_order_id.to_owned()))
    }

    fn draws(
        &self,
        world: &mut World,
        endpoint: Endpoint,
        key: u64,
        order: Option<u32>,
        target: &str,
    ) -> CallDraws {
        let slot = world
            .call_numbers
            .entry((key, endpoint.index()))
            .or_insert(0);
        let number = *slot;
        *slot += 1;
        world.calls[endpoint.index()] += 1;
        let mut mix = [0u8; 17];
        mix[..8].copy_from_slice(&key.to_le_bytes());
        mix[8] = endpoint.index() as u8;
        mix[9..13].copy_from_slice(&number.to_le_bytes());
        let mut rng = derive_rng(self.seed, "call", stable_hash(&mix));
        let (request_leg, response_leg) = &self.model.latency[endpoint.index()];
        let request = request_leg.sample(&mut rng);
        let response = response_leg.sample(&mut rng);
        let u = rng.random::<f64>();
        let fault = if world.healed {
            None
        } else {
            (!self.model.call_faults.is_empty())
                .then(|| self.scripted_fault(world, endpoint, order, target, number))
                .flatten()
                .or_else(|| self.model.faults[endpoint.index()].pick(u))
        };
        CallDraws {
            number,
            request,
            response,
            fault,
            rng,
        }
    }

    /// One API call: request leg, apply at the broker (unless a fault, an
    /// outage or the rate limit stops it), response leg.
    ///
    /// The request travels on its own: when the caller stops waiting
    /// before it arrives (a client's timeout), it still arrives and is
    /// applied at its drawn time, as a request already sent is by a real
    /// broker; only the answer then has nobody to go to.
    async fn call(&self, request: Request) -> Result<Answer, BrokerError> {
        let endpoint = request.endpoint();
        let (draws, order) = {
            let mut world = self.world();
            let (key, order) = match &request {
                Request::Submit(r) => Self::key_for_client_id(&world, &r.client_order_id),
                Request::GetOrderByClientId(id) => Self::key_for_client_id(&world, id),
                Request::GetOrder(id) | Request::Cancel(id) => Self::key_for_id(&world, id),
                Request::GetPosition(symbol) => {
                    (unregistered_key(&format!("position/{symbol}")), None)
                }
            };
            let draws = self.draws(&mut world, endpoint, key, order, request.target());
            (draws, order)
        };
        let arrival = ARRIVAL.try_with(|arrival| *arrival).ok();
        let lands = match arrival {
            Some(arrival) => Some(self.clock.instant_at(arrival + draws.request)),
            None if !draws.request.is_zero() => Some(Instant::now() + draws.request),
            None => None,
        };
        let landing = match arrival {
            Some(arrival) => Some(arrival + draws.request),
            None => lands.map(|lands| self.clock.elapsed_at(lands)),
        };
        if let Some(at) = landing {
            *self.world().on_their_way.entry(at).or_insert(0) += 1;
        }
        let mut in_flight = InFlight {
            broker: self,
            call: Some(Travelling {
                request,
                draws,
                order,
                arrival,
                lands,
                landing,
            }),
        };
        if let Some(lands) = lands {
            sleep_until(lands).await;
        }
        let Some(call) = in_flight.call.take() else {
            unreachable!("a call lands once, and only here or when its caller is gone");
        };
        let (result, wait) = self.land(call, false);
        if !wait.is_zero() {
            sleep(wait).await;
        }
        result
    }

    /// Applies a call that has arrived; returns the answer and how long it
    /// takes to reach the caller.
    fn land(&self, call: Travelling, abandoned: bool) -> (Result<Answer, BrokerError>, Duration) {
        let Travelling {
            request,
            mut draws,
            order,
            arrival,
            landing,
            ..
        } = call;
        let endpoint = request.endpoint();
        let faults = &self.model.faults[endpoint.index()];
        let now = arrival.map_or_else(|| self.elapsed(), |arrival| arrival + draws.request);
        let mut world = self.world();
        if let Some(at) = landing {
            world.not_on_its_way(at);
        }
        let (result, applied, refusal) = match self.fate(&mut world, now, draws.fault) {
            Fate::Outage => (
                Err(BrokerError::Server {
                    status: 503,
                    message: "service unavailable".into(),
                }),
                false,
                Some(CallRefusal::Outage),
            ),
            Fate::RateLimited(retry_after) => (
                Err(BrokerError::RateLimited {
                    retry_after: Some(retry_after),
                }),
                false,
                Some(CallRefusal::RateLimit),
            ),
            Fate::Clean => (
                self.apply(&mut world, now, &mut draws.rng, order, &request),
                true,
                None,
            ),
            Fate::Fault(fault) => {
                if fault.applied() {
                    // The broker acts; the answer is what breaks.
                    let _ = self.apply(&mut world, now, &mut draws.rng, order, &request);
                }
                (
                    Err(fault_error(fault, faults.retry_after)),
                    fault.applied(),
                    Some(CallRefusal::Fault(fault)),
                )
            }
        };
        let landed = Landed {
            request: &request,
            draws: &draws,
            order,
            now,
            result: &result,
            applied,
            refusal,
            abandoned,
        };
        self.note_landed(&mut world, &landed);
        let wait = match draws.fault {
            Some(FaultKind::Timeout | FaultKind::LostResponse) => {
                faults.timeout_after.saturating_sub(draws.request)
            }
            _ => draws.response,
        };
        (result, wait)
    }

    /// What becomes of a call arriving at `now` whose draws picked `fault`:
    /// an outage or the rate limit answers first (the bucket spends a
    /// token on every call it lets through), then the drawn fault, if any.
    fn fate(&self, world: &mut World, now: Duration, fault: Option<FaultKind>) -> Fate {
        let in_outage = !world.healed && in_window(&self.model.outages, now);
        let limited = if in_outage || world.healed {
            Ok(())
        } else {
            world.bucket.as_mut().map_or(Ok(()), |b| b.take(now))
        };
        world.rate_state = if world.healed {
            None
        } else {
            world.bucket.as_ref().map(Bucket::state)
        };
        match (in_outage, limited, fault) {
            (true, _, _) => Fate::Outage,
            (false, Err(retry_after), _) => Fate::RateLimited(retry_after),
            (false, Ok(()), Some(fault)) => Fate::Fault(fault),
            (false, Ok(()), None) => Fate::Clean,
        }
    }

    /// Counts a landed call's fault, notes what became of a submit, and
    /// traces the call.
    fn note_landed(&self, world: &mut World, landed: &Landed<'_>) {
        let endpoint = landed.request.endpoint();
        let target = landed.request.target();
        if let Some(refusal) = landed.refusal {
            *world.faults_injected.entry(refusal.as_str()).or_insert(0) += 1;
        }
        if endpoint == Endpoint::Submit {
            note_submit(world, target, landed.result, landed.refusal);
        }
        let outcome = match landed.result {
            Ok(_) => std::borrow::Cow::Borrowed("ok"),
            Err(error) => std::borrow::Cow::Owned(error.to_string()),
        };
        let seen = landed.result.as_ref().ok().and_then(Answer::seen);
        let t_us = self.micros(landed.now);
        world.trace.push_call(
            t_us,
            CallRecord {
                endpoint: endpoint.as_str(),
                order: landed.order,
                target,
                call: landed.draws.number,
                outcome,
                applied: landed.applied,
                fault: landed.refusal.map(CallRefusal::as_str),
                seen,
                abandoned: landed.abandoned,
            },
        );
    }

    /// What the broker does with a request it received.
    fn apply(
        &self,
        world: &mut World,
        now: Duration,
        rng: &mut ChaCha8Rng,
        index: Option<u32>,
        request: &Request,
    ) -> Result<Answer, BrokerError> {
        match request {
            Request::Submit(order) => self.accept(world, now, order, index).map(Answer::Order),
            Request::GetOrder(id) => self
                .read(world.ledger.by_id(id), now, rng)
                .map(Answer::Order),
            Request::GetOrderByClientId(id) => self
                .read(world.ledger.by_client_id(id), now, rng)
                .map(Answer::Order),
            Request::Cancel(id) => self
                .cancel_at(world, now, id, index)
                .map(|()| Answer::Canceled),
            Request::GetPosition(symbol) => {
                let lag = self.model.position_lag.sample(rng);
                let qty = world.ledger.position_at(symbol, now.saturating_sub(lag));
                Ok(Answer::Position((qty != Decimal::ZERO).then(|| Position {
                    symbol: symbol.clone(),
                    qty,
                    avg_entry_price: None,
                })))
            }
        }
    }

    /// An order read at `now`: its snapshot, possibly a stale one, or 404.
    fn read(
        &self,
        order: Option<&LedgerOrder>,
        now: Duration,
        rng: &mut ChaCha8Rng,
    ) -> Result<Order, BrokerError> {
        let at = self.stale_time(now, rng);
        order
            .map(|o| o.snapshot(at.max(o.accepted_at), self.epoch_unix_micros()))
            .ok_or_else(not_found)
    }

    fn stale_time(&self, now: Duration, rng: &mut ChaCha8Rng) -> Duration {
        // Draw both numbers whether or not the read is stale, so the stream
        // stays aligned.
        let u = rng.random::<f64>();
        match &self.model.stale_reads {
            Some((probability, age)) => {
                let age = age.sample(rng);
                if u < *probability {
                    now.saturating_sub(age)
                } else {
                    now
                }
            }
            None => now,
        }
    }

    fn accept(
        &self,
        world: &mut World,
        now: Duration,
        request: &OrderRequest,
        index: Option<u32>,
    ) -> Result<Order, BrokerError> {
        if world
            .ledger
            .by_client_id(&request.client_order_id)
            .is_some()
        {
            return Err(BrokerError::Unprocessable {
                message: "client_order_id must be unique".into(),
            });
        }
        // A broker refuses what it cannot trade; within these bounds no sum
        // of the ledger's can overflow, whatever an engine sends.
        if request.qty <= Decimal::ZERO || request.qty > fillproof_engine::MAX_QTY {
            return Err(BrokerError::Unprocessable {
                message: format!(
                    "qty must be more than 0 and at most {}",
                    fillproof_engine::MAX_QTY
                ),
            });
        }
        if let Some(limit) = request
            .limit_price
            .filter(|p| !fillproof_engine::price_in_range(*p))
        {
            return Err(BrokerError::Unprocessable {
                message: format!(
                    "limit_price {limit} must be from {} to {}",
                    fillproof_engine::MIN_PRICE,
                    fillproof_engine::MAX_PRICE
                ),
            });
        }
        if self.model.not_tradable.contains(&request.symbol) {
            return Err(BrokerError::Unprocessable {
                message: format!("asset {} is not tradable", request.symbol),
            });
        }
        let reference_of = |symbol: &str, limit: Option<Decimal>| {
            limit
                .or_else(|| self.model.reference_prices.get(symbol).copied())
                .unwrap_or(Decimal::ONE)
        };
        if let (fillproof_engine::Side::Buy, Some(initial)) =
            (request.side, self.model.buying_power)
        {
            let available = world
                .ledger
                .buying_power_at(initial, now, |o| reference_of(&o.symbol, o.limit_price));
            let cost = request.qty * reference_of(&request.symbol, request.limit_price);
            if cost > available {
                return Err(BrokerError::Forbidden {
                    message: format!(
                        "insufficient buying power: order costs {cost}, available {available}"
                    ),
                });
            }
        }
        let key = index.map_or_else(|| unregistered_key(&request.client_order_id), u64::from);
        let mut rng = lifecycle_rng(self.seed, key);
        // A harness run checks the timeline against each order's quantity
        // before it starts; an order whose quantity only its client knows
        // (a bot under `serve`) is refused here, never filled short.
        let plan = draw(&self.model, &mut rng, index, request, now).map_err(|overfill| {
            BrokerError::Unprocessable {
                message: format!("the scenario's timeline does not fit this order: {overfill}"),
            }
        })?;
        if plan.reject_now {
            return Err(BrokerError::Unprocessable {
                message: "order rejected by broker risk check".into(),
            });
        }
        let id = match index {
            _ if self.uuid_ids => uuid_shaped(self.seed, "order-id", key),
            Some(index) => format!("ord-{index:07}"),
            None => format!(
                "ord-x{:016x}",
                stable_hash(request.client_order_id.as_bytes())
            ),
        };
        world.trace.push_accept(
            self.micros(now),
            AcceptRecord {
                order: index,
                id: &id,
                accepted_at: now,
                fills: &plan.fills,
                broker_end: plan.broker_end,
            },
        );
        let order = LedgerOrder {
            index,
            id,
            client_order_id: request.client_order_id.clone(),
            symbol: request.symbol.clone(),
            side: request.side,
            qty: request.qty,
            order_type: request.order_type,
            time_in_force: request.time_in_force,
            limit_price: request.limit_price,
            accepted_at: now,
            fills: plan.fills,
            broker_end: plan.broker_end,
            cancel_requested_at: None,
            cancel_effective_at: None,
            status_lag: plan.status_lag,
            filled_spelling: plan.filled_spelling,
        };
        let snapshot = order.snapshot(now, self.epoch_unix_micros());
        let happenings: Vec<(Happening, Duration)> = std::iter::once((Happening::New, now))
            .chain(
                order
                    .fills
                    .iter()
                    .enumerate()
                    .map(|(piece, fill)| (Happening::Fill(piece), fill.at)),
            )
            .chain(order.broker_end.map(|(at, _)| (Happening::BrokerEnd, at)))
            .collect();
        let id = order.id.clone();
        world.ledger.insert(order);
        self.publish(world, &id, key, happenings);
        Ok(snapshot)
    }

    fn cancel_at(
        &self,
        world: &mut World,
        now: Duration,
        id: &str,
        index: Option<u32>,
    ) -> Result<(), BrokerError> {
        let processing = self.model.cancel_processing;
        let when_filled = self.model.when_filled;
        let Some(order) = world.ledger.by_id_mut(id) else {
            return Err(not_found());
        };
        match order.status_at(now) {
            TrueStatus::Filled => match when_filled {
                WhenFilled::Reject422 => Err(BrokerError::Unprocessable {
                    message: r#"order is already in "filled" state"#.into(),
                }),
                WhenFilled::Accept204 => Ok(()),
            },
            TrueStatus::Canceled | TrueStatus::Expired | TrueStatus::Rejected => {
                let state = match order.status_at(now) {
                    TrueStatus::Expired => "expired",
                    TrueStatus::Rejected => "rejected",
                    _ => "canceled",
                };
                Err(BrokerError::Unprocessable {
                    message: format!(r#"order is already in "{state}" state"#),
                })
            }
            TrueStatus::PendingCancel => Ok(()),
            TrueStatus::New | TrueStatus::PartiallyFilled => {
                let effective = order.request_cancel(now, processing);
                let key = order
                    .index
                    .map_or_else(|| unregistered_key(&order.client_order_id), u64::from);
                self.publish(
                    world,
                    id,
                    key,
                    [
                        (Happening::PendingCancel, now),
                        (Happening::Canceled, effective),
                    ],
                );
                let t_us = self.micros(now);
                world.trace.push(TraceEvent {
                    t_us,
                    kind: TraceKind::CancelRequested {
                        order: index,
                        effective_us: self.micros(effective),
                    },
                });
                Ok(())
            }
        }
    }
}

fn not_found() -> BrokerError {
    BrokerError::NotFound {
        message: "order not found".into(),
    }
}

fn fault_error(fault: FaultKind, retry_after: Duration) -> BrokerError {
    let server = |status: u16, message: &str| BrokerError::Server {
        status,
        message: message.to_owned(),
    };
    match fault {
        FaultKind::Timeout | FaultKind::LostResponse => BrokerError::Timeout,
        FaultKind::ConnectionReset => BrokerError::ConnectionReset,
        FaultKind::Http500 => server(500, "internal server error"),
        FaultKind::Http502 => server(502, "bad gateway"),
        FaultKind::Http503 => server(503, "service unavailable"),
        FaultKind::Http504 => server(504, "gateway timeout"),
        FaultKind::Http429 => BrokerError::RateLimited {
            retry_after: Some(retry_after),
        },
        FaultKind::GarbageBody => BrokerError::BadBody {
            detail: "expected value at line 1 column 1: <html><body>502 Bad Gateway".into(),
        },
    }
}

/// A request on its way to the broker, owning what it names, so that it
/// can land after its caller stopped waiting.
enum Request {
    Submit(OrderRequest),
    GetOrder(String),
    GetOrderByClientId(String),
    Cancel(String),
    GetPosition(String),
}

impl Request {
    fn endpoint(&self) -> Endpoint {
        match self {
            Self::Submit(_) => Endpoint::Submit,
            Self::GetOrder(_) => Endpoint::GetOrder,
            Self::GetOrderByClientId(_) => Endpoint::GetOrderByClientId,
            Self::Cancel(_) => Endpoint::Cancel,
            Self::GetPosition(_) => Endpoint::GetPosition,
        }
    }

    /// The broker id, client id or symbol the request names.
    fn target(&self) -> &str {
        match self {
            Self::Submit(request) => &request.client_order_id,
            Self::GetOrder(id)
            | Self::GetOrderByClientId(id)
            | Self::Cancel(id)
            | Self::GetPosition(id) => id,
        }
    }
}

/// The broker's answer to a [`Request`] it applied.
enum Answer {
    Order(Order),
    Canceled,
    Position(Option<Position>),
}

impl Answer {
    /// What the answer shows the caller, for the trace.
    fn seen(&self) -> Option<Seen> {
        match self {
            Self::Order(order) => seen_order(order),
            Self::Canceled => None,
            Self::Position(position) => Some(Seen::Position(position.as_ref().map(|p| p.qty))),
        }
    }

    /// An answer of another kind than the request asked for: the broker's
    /// own bug, never the caller's.
    fn mismatch(&self) -> BrokerError {
        BrokerError::BadBody {
            detail: "the simulated broker answered with the wrong kind of answer (a fillproof bug: please report it)".into(),
        }
    }
}

/// What the broker does with a call that arrived.
enum Fate {
    /// An outage window answers 503; nothing is applied.
    Outage,
    /// The rate limit answers 429, with the wait until a token is free.
    RateLimited(Duration),
    /// The drawn fault answers (after the broker acted, for the faults
    /// that apply first).
    Fault(FaultKind),
    /// The broker applies the request and answers.
    Clean,
}

/// A call that has landed, as it is counted and traced.
struct Landed<'a> {
    request: &'a Request,
    draws: &'a CallDraws,
    order: Option<u32>,
    now: Duration,
    result: &'a Result<Answer, BrokerError>,
    applied: bool,
    refusal: Option<CallRefusal>,
    abandoned: bool,
}

/// A call between its departure and its arrival at the broker.
struct Travelling {
    request: Request,
    draws: CallDraws,
    order: Option<u32>,
    arrival: Option<Duration>,
    /// When it arrives, on the runtime's clock; `None` when at once.
    lands: Option<Instant>,
    /// When it arrives, virtual time since the broker was created (its
    /// entry in `on_their_way`); `None` when at once.
    landing: Option<Duration>,
}

/// Holds a call while its request travels. Dropped before the request
/// arrives (its caller stopped waiting), it sends the request on by itself:
/// it lands at its time all the same, and its answer goes nowhere.
struct InFlight<'a> {
    broker: &'a SimBroker,
    call: Option<Travelling>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        // Outside a runtime there is no time for it to land in.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if let Some(at) = call.landing {
                self.broker.world().not_on_its_way(at);
            }
            return;
        };
        let broker = self.broker.clone();
        // Only a submit or a cancel changes what the broker does: the
        // truth waits for those; a read that lands later changes nothing.
        let changes_the_ledger = matches!(call.request, Request::Submit(_) | Request::Cancel(_));
        if changes_the_ledger {
            let mut world = broker.world();
            let (count, last) = &mut world.travelling;
            *count += 1;
            *last = (*last).max(call.lands);
        }
        runtime.spawn(async move {
            if let Some(lands) = call.lands {
                sleep_until(lands).await;
            }
            let _ = broker.land(call, true);
            if changes_the_ledger {
                broker.world().travelling.0 -= 1;
            }
        });
    }
}

/// Notes what became of a submit the broker received.
fn note_submit(
    world: &mut World,
    target: &str,
    result: &Result<Answer, BrokerError>,
    refusal: Option<CallRefusal>,
) {
    let refusal = match refusal {
        Some(CallRefusal::Outage) => Some(SubmitRefusal::Outage),
        Some(CallRefusal::RateLimit) => Some(SubmitRefusal::RateLimit),
        // A call with no refusal was applied: an error is the broker's own.
        None if result.is_err() => Some(SubmitRefusal::Rejected),
        Some(CallRefusal::Fault(fault)) if !fault.applied() => Some(SubmitRefusal::Fault),
        _ => None,
    };
    let placed = world.ledger.by_client_id(target).is_some();
    let record = world.submits.entry(target.to_owned()).or_default();
    record.attempts += 1;
    record.placed |= placed;
    // A refusal after the order was placed (a resubmit of the same id,
    // refused as a duplicate) says nothing of why it was not placed.
    if let Some(refusal) = refusal.filter(|_| !placed) {
        record.rejected |= refusal == SubmitRefusal::Rejected;
        record.last_refusal = Some(refusal);
    }
}

fn seen_order(order: &Order) -> Option<Seen> {
    Some(Seen::Order {
        status: order.status.clone(),
        filled_qty: order.filled_qty,
    })
}

impl TradeUpdates for SimBroker {
    /// Subscribes to the scenario's stream; without one the subscription
    /// is closed at once.
    fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<StreamItem> {
        match &self.publisher {
            Some(publisher) => publisher.subscribe(),
            None => tokio::sync::mpsc::unbounded_channel().1,
        }
    }
}

impl Broker for SimBroker {
    fn rate_limit_state(&self) -> Option<RateLimitState> {
        self.world().rate_state
    }

    async fn submit_order(&self, request: &OrderRequest) -> Result<Order, BrokerError> {
        match self.call(Request::Submit(request.clone())).await? {
            Answer::Order(order) => Ok(order),
            other => Err(other.mismatch()),
        }
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, BrokerError> {
        match self.call(Request::GetOrder(order_id.to_owned())).await? {
            Answer::Order(order) => Ok(order),
            other => Err(other.mismatch()),
        }
    }

    async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<Order, BrokerError> {
        let request = Request::GetOrderByClientId(client_order_id.to_owned());
        match self.call(request).await? {
            Answer::Order(order) => Ok(order),
            other => Err(other.mismatch()),
        }
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        match self.call(Request::Cancel(order_id.to_owned())).await? {
            Answer::Canceled => Ok(()),
            other => Err(other.mismatch()),
        }
    }

    async fn get_position(&self, symbol: &str) -> Result<Option<Position>, BrokerError> {
        match self.call(Request::GetPosition(symbol.to_owned())).await? {
            Answer::Position(position) => Ok(position),
            other => Err(other.mismatch()),
        }
    }
}
