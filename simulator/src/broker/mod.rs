//! The simulated broker: the engine's `Broker` port over the ledger, with
//! latency, faults, rate limits and outages drawn from seeded streams.
//!
//! Each call draws its latency legs and its fault from a stream keyed by
//! the order, the endpoint and the call's number, so a call's fate never
//! depends on what other orders are doing. The request is applied at the
//! broker after the request leg, under one short lock on the world state;
//! no lock is held across an `await`.
//!
//! Entry points: [`SimBroker`] (the engine's `Broker` and `TradeUpdates`
//! ports, and [`SimBroker::land_read`] for the [`LedgerRead`]s a front end
//! answers from the ledger itself), [`at_arrival`] for a front end on the
//! real clock, and [`uuid_shaped`]. The files: `call.rs` (a call's draws, its journey and
//! its fate), `apply.rs` (what the broker does with a request that
//! arrived), `accept.rs` (a submit the broker accepts or refuses),
//! `world.rs` (the state every call shares: ledger, wire state, tally).
//! This module may import the ledger, the model, the lifecycle draws, the
//! stream, the trace and time; nothing imports it but the crate root.

mod accept;
mod apply;
mod call;
mod group;
mod list;
mod market;
mod replace;
mod terms;
mod world;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fillproof_engine::{ActivityQuery, FillActivity, OrderQuery};
use fillproof_engine::{
    Broker, BrokerError, EndpointCounts, Order, OrderRequest, Position, RateLimitState,
    ReplaceRequest, StreamItem, TradeUpdates, derive_rng, stable_hash,
};
use rand::Rng;
use tokio::time::Instant;

use crate::ledger::Ledger;
use crate::market::Market;
use crate::model::BrokerModel;
use crate::stream::{Happening, Publisher, StreamState};
use crate::time::{SimClock, trace_micros};
use crate::trace::{Trace, TraceEvent, TraceKind};

use apply::{Answer, Request};
use world::{Bucket, World};
pub use world::{SubmitRecord, SubmitRefusal};

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

/// A read a front end answers from the ledger itself, after its call has
/// travelled to the broker and landed (see [`SimBroker::land_read`]): the
/// simulated broker has no answer of its own for these, only the call's
/// latency, faults, outages and rate-limit place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerRead {
    /// The account's figures (`GET /v2/account`).
    Account,
    /// Every open position (`GET /v2/positions`).
    Positions,
    /// The market clock (`GET /v2/clock`).
    Clock,
}

impl LedgerRead {
    /// The endpoint whose latency, faults and call count the read takes.
    #[must_use]
    pub fn endpoint(self) -> crate::Endpoint {
        match self {
            Self::Account => crate::Endpoint::Account,
            Self::Positions => crate::Endpoint::Positions,
            Self::Clock => crate::Endpoint::Clock,
        }
    }
}

/// The seeded mock broker.
pub struct SimBroker {
    /// Order ids are UUID-shaped (for clients that check, as alpaca-py
    /// does) rather than `ord-0000001`, derived from this seed when set:
    /// the broker's own, or its account's ([`SimBroker::account`]).
    uuid_ids: Option<u64>,
    model: Arc<BrokerModel>,
    /// The market its orders trade in, drawn from the seed.
    market: Arc<Market>,
    seed: u64,
    /// Virtual time zero, and the stamp it stands for.
    clock: SimClock,
    world: Arc<Mutex<World>>,
    /// The trade-updates stream, when the model has one.
    publisher: Option<Publisher<World>>,
    /// A permit for each call that reached a crash point the timeline
    /// scripts and has not been waited for: the harness crashes the
    /// engine once for each.
    crash_points: Arc<tokio::sync::Semaphore>,
}

impl Clone for SimBroker {
    /// Another handle on the same broker (its state is shared), for a
    /// request that must still land after its caller stopped waiting.
    fn clone(&self) -> Self {
        Self {
            uuid_ids: self.uuid_ids,
            model: Arc::clone(&self.model),
            market: Arc::clone(&self.market),
            seed: self.seed,
            clock: self.clock,
            world: Arc::clone(&self.world),
            publisher: self.publisher.clone(),
            crash_points: Arc::clone(&self.crash_points),
        }
    }
}

/// A key naming whose stream a call draws from: the workload index for a
/// registered order, a hash of the name otherwise.
fn unregistered_key(name: &str) -> u64 {
    (1 << 63) | stable_hash(name.as_bytes())
}

impl SimBroker {
    /// Resolves when a call of the engine under test has reached a crash
    /// point the scenario's timeline scripts (at once, when one was
    /// reached and not yet waited for: each is waited for once): the
    /// harness crashes the engine then. The call itself never answers.
    pub async fn crash_point_reached(&self) {
        if let Ok(permit) = self.crash_points.acquire().await {
            permit.forget();
        }
    }

    /// The timeline's crash points no call has reached (so far): a crash
    /// scripted there has not happened.
    #[must_use]
    pub fn crash_points_unreached(&self) -> u64 {
        (self.model.crash_points.len() as u64).saturating_sub(self.world().crash_points_reached)
    }

    /// A broker following `model` with streams derived from `seed`. Call it
    /// inside the runtime that will run the simulation: virtual time zero is
    /// now. With `record_trace` the trace keeps every event, otherwise only
    /// its hash.
    #[must_use]
    pub fn new(model: BrokerModel, seed: u64, record_trace: bool) -> Self {
        let clock = SimClock::starting_now(model.time_origin());
        let market = Arc::new(Market::new(
            &model.market,
            seed,
            model.horizon,
            model.time_origin(),
        ));
        Self::trading_in(Arc::new(model), market, clock, seed, record_trace)
    }

    /// A broker with a ledger of its own over `market`, on `clock`.
    fn trading_in(
        model: Arc<BrokerModel>,
        market: Arc<Market>,
        clock: SimClock,
        seed: u64,
        record_trace: bool,
    ) -> Self {
        let bucket = model.rate_limit.map(|(requests, per)| Bucket {
            capacity: f64::from(requests),
            tokens: f64::from(requests),
            per_second: f64::from(requests) / per.as_secs_f64().max(1e-9),
            last: Duration::ZERO,
        });
        let world = Arc::new(Mutex::new(World {
            ledger: Ledger::default(),
            registry: indexmap::IndexMap::default(),
            call_numbers: indexmap::IndexMap::default(),
            bucket,
            healed: false,
            trace: Trace::new(record_trace),
            calls: EndpointCounts::default(),
            submits: indexmap::IndexMap::default(),
            stream: StreamState::new(seed),
            rate_state: None,
            faults_injected: std::collections::BTreeMap::new(),
            travelling: (0, None),
            crash_points_reached: 0,
            on_their_way: std::collections::BTreeMap::new(),
        }));
        let publisher = model.stream.clone().map(|stream| Publisher {
            world: Arc::clone(&world),
            model: Arc::new(stream),
            clock,
            seed,
            market: Arc::clone(&market),
        });
        Self {
            uuid_ids: None,
            seed,
            clock,
            world,
            publisher,
            crash_points: Arc::new(tokio::sync::Semaphore::new(0)),
            market,
            model,
        }
    }

    /// Another account at this broker: the same model, market and clock
    /// (time zero and prices are the broker's, not the account's), and a
    /// ledger, rate limit, stream and call numbering of its own. The
    /// scenario's draws are the same for every account, so each account
    /// meets the scenario as a lone trader would; its order ids are
    /// UUID-shaped and derived from the seed and `name` by SHA-256, so no
    /// two accounts share one.
    #[must_use]
    pub fn account(&self, name: &str) -> Self {
        let mut account = Self::trading_in(
            Arc::clone(&self.model),
            Arc::clone(&self.market),
            self.clock,
            self.seed,
            false,
        );
        // SHA-256 of the seed and the name, not the 64-bit hash streams
        // are keyed by: two names sharing an id seed would share ids.
        let digest =
            fillproof_engine::digest_hex(None, [&self.seed.to_le_bytes()[..], name.as_bytes()]);
        account.uuid_ids = Some(u64::from_str_radix(&digest[..16], 16).unwrap_or(self.seed));
        account
    }

    /// The same broker, giving its orders UUID-shaped ids derived from the
    /// seed, as a broker on the wire must (alpaca-py refuses any other id).
    #[must_use]
    pub fn with_uuid_ids(mut self) -> Self {
        self.uuid_ids = Some(self.seed);
        self
    }

    /// The seed the broker's order ids and the client order ids it makes
    /// up derive from: its account's when it is one, else its own.
    #[must_use]
    pub fn id_seed(&self) -> u64 {
        self.uuid_ids.unwrap_or(self.seed)
    }

    /// The seed the broker's streams derive from.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Faults injected so far, by [`CallRefusal`](crate::CallRefusal) name (`lost_response`,
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

    /// The market the broker's orders trade in.
    #[must_use]
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// Another handle on the market the broker's orders trade in, to read
    /// its prices and quotes after the broker is gone (a run's report
    /// judges fills against them).
    #[must_use]
    pub fn shared_market(&self) -> Arc<Market> {
        Arc::clone(&self.market)
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

    /// Calls made per endpoint, in [`Endpoint::ALL`](crate::Endpoint::ALL) order.
    #[must_use]
    pub fn calls(&self) -> EndpointCounts<u64> {
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

    /// Sends `read` to the broker as a call of its endpoint: its request
    /// leg, then the outage, rate-limit and fault draw that call meets,
    /// then its response leg, exactly as a [`Broker`] call's. Answers the
    /// instant the call landed (virtual time since the broker was
    /// created), at which the caller computes its answer from the ledger
    /// (a lagged view it draws itself, if any).
    ///
    /// # Errors
    /// What the call met instead of a clean answer: an outage's or a
    /// fault's error, or the rate limit's 429.
    pub async fn land_read(&self, read: LedgerRead) -> Result<Duration, BrokerError> {
        match self.call(Request::Read(read)).await? {
            Answer::Landed(at) => Ok(at),
            other => Err(other.mismatch()),
        }
    }

    fn micros(&self, t: Duration) -> u64 {
        trace_micros(t)
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
            Answer::Order(order) => Ok(*order),
            other => Err(other.mismatch()),
        }
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, BrokerError> {
        match self.call(Request::GetOrder(order_id.to_owned())).await? {
            Answer::Order(order) => Ok(*order),
            other => Err(other.mismatch()),
        }
    }

    async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<Order, BrokerError> {
        let request = Request::GetOrderByClientId(client_order_id.to_owned());
        match self.call(request).await? {
            Answer::Order(order) => Ok(*order),
            other => Err(other.mismatch()),
        }
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        match self.call(Request::Cancel(order_id.to_owned())).await? {
            Answer::Canceled => Ok(()),
            other => Err(other.mismatch()),
        }
    }

    async fn replace_order(
        &self,
        order_id: &str,
        replace: &ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        let request = Request::Replace(order_id.to_owned(), replace.clone());
        match self.call(request).await? {
            Answer::Order(order) => Ok(*order),
            other => Err(other.mismatch()),
        }
    }

    async fn get_position(&self, symbol: &str) -> Result<Option<Position>, BrokerError> {
        match self.call(Request::GetPosition(symbol.to_owned())).await? {
            Answer::Position(position) => Ok(position),
            other => Err(other.mismatch()),
        }
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, BrokerError> {
        match self.call(Request::ListOrders(query.clone())).await? {
            Answer::Orders(orders) => Ok(orders),
            other => Err(other.mismatch()),
        }
    }

    async fn fill_activities(
        &self,
        query: &ActivityQuery,
    ) -> Result<Vec<FillActivity>, BrokerError> {
        match self.call(Request::FillActivities(query.clone())).await? {
            Answer::Activities(records) => Ok(records),
            other => Err(other.mismatch()),
        }
    }
}
