//! A scripted fake broker for the engine's tests: one order whose state
//! changes at fixed virtual times, plus queues of scripted errors and cancel
//! answers. It is deliberately simple; the seeded simulator is tested in its
//! own crate.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the script"
)]

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_engine::{
    Broker, BrokerError, Decimal, Order, OrderRequest, OrderStatus, OrderType, Position,
    RateLimitState, Side, TimeInForce, Timestamp,
};
use tokio::time::Instant;

/// One scripted change of the order's state.
#[derive(Debug, Clone)]
pub struct Change {
    /// When, since the broker was created.
    pub at: Duration,
    /// The status from then on.
    pub status: &'static str,
    /// Filled quantity from then on.
    pub filled_qty: i64,
    /// Average price from then on.
    pub price: Option<&'static str>,
}

/// What a cancel does, in order of calls; once empty, cancels answer `Ok`.
#[derive(Debug, Default)]
pub struct Script {
    /// State changes, in time order.
    pub changes: Vec<Change>,
    /// Errors answered to `get_order`, one per call, before answering.
    pub get_errors: VecDeque<BrokerError>,
    /// Answers to `cancel_order`, one per call.
    pub cancel_answers: VecDeque<Result<(), BrokerError>>,
    /// Changes applied when a cancel is accepted, relative to its time.
    pub on_cancel: Vec<Change>,
    /// Answers to `submit_order`: `Err` with `applied = true` creates the
    /// order and loses the answer.
    pub submit_answers: VecDeque<(bool, Result<(), BrokerError>)>,
    /// Errors answered to `get_order_by_client_id`.
    pub lookup_errors: VecDeque<BrokerError>,
    /// Position reads, one per call; once empty, the last one repeats.
    pub positions: VecDeque<Decimal>,
    /// A window (from, until) in which every read of the order, by id or
    /// by client order id, answers 503; other calls go through.
    pub reads_down: Option<(Duration, Duration)>,
    /// Latencies of the first `get_order` calls, one per call, in place of
    /// the broker's own.
    pub read_latencies: VecDeque<Duration>,
    /// The rate-limit state reported with every answer.
    pub rate_state: Option<RateLimitState>,
}

/// Counts and stamps of calls made.
#[derive(Debug, Default, Clone)]
pub struct Calls {
    /// Virtual times of `get_order` calls.
    pub get_order_at: Vec<Duration>,
    /// `cancel_order` calls.
    pub cancel: u32,
    /// `submit_order` calls.
    pub submit: u32,
    /// Orders created at the broker.
    pub orders_created: u32,
    /// `get_order_by_client_id` calls.
    pub lookup: u32,
}

/// The fake broker.
pub struct ScriptedBroker {
    start: Instant,
    latency: Duration,
    state: Mutex<State>,
}

struct State {
    script: Script,
    order: Order,
    created: bool,
    calls: Calls,
    last_position: Decimal,
}

pub const ORDER_ID: &str = "order-1";
pub const CLIENT_ID: &str = "client-1";

/// The order as submitted: 100 (or `qty`) QQQ, buy, market.
pub fn new_order(qty: i64) -> Order {
    Order {
        id: ORDER_ID.into(),
        client_order_id: CLIENT_ID.into(),
        symbol: "QQQ".into(),
        qty: Decimal::from(qty),
        side: Side::Buy,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        limit_price: None,
        status: OrderStatus::Accepted,
        filled_qty: Decimal::ZERO,
        filled_avg_price: None,
        submitted_at: Some(Timestamp::from_unix_micros(0)),
        filled_at: None,
        canceled_at: None,
        updated_at: None,
        extended_hours: false,
        stop_price: None,
        trail: None,
        hwm: None,
        order_class: fillproof_engine::OrderClass::Simple,
        legs: Vec::new(),
        replaces: None,
        replaced_by: None,
        notional: None,
    }
}

/// The request matching [`new_order`].
pub fn request(qty: i64) -> OrderRequest {
    OrderRequest {
        client_order_id: CLIENT_ID.into(),
        symbol: "QQQ".into(),
        qty: Decimal::from(qty),
        side: Side::Buy,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        limit_price: None,
        extended_hours: false,
        stop_price: None,
        trail: None,
        order_class: fillproof_engine::OrderClass::Simple,
        take_profit: None,
        stop_loss: None,
        notional: None,
    }
}

/// A 503 answer.
pub fn unavailable() -> BrokerError {
    BrokerError::Server {
        status: 503,
        message: "service unavailable".into(),
    }
}

/// A change at `at_ms`.
pub fn change(
    at_ms: u64,
    status: &'static str,
    filled_qty: i64,
    price: Option<&'static str>,
) -> Change {
    Change {
        at: Duration::from_millis(at_ms),
        status,
        filled_qty,
        price,
    }
}

impl ScriptedBroker {
    /// A broker holding `order` (already created) and following `script`,
    /// answering every call after `latency`.
    pub fn new(order: Order, script: Script, latency: Duration) -> Self {
        Self::build(order, script, latency, true)
    }

    /// A broker that has not created the order yet: it appears on submit.
    pub fn empty(order: Order, script: Script, latency: Duration) -> Self {
        Self::build(order, script, latency, false)
    }

    fn build(order: Order, script: Script, latency: Duration, created: bool) -> Self {
        Self {
            start: Instant::now(),
            latency,
            state: Mutex::new(State {
                script,
                order,
                created,
                calls: Calls::default(),
                last_position: Decimal::ZERO,
            }),
        }
    }

    /// Calls made so far.
    pub fn calls(&self) -> Calls {
        self.state.lock().expect("lock").calls.clone()
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn reads_down(&self, state: &State) -> bool {
        let now = self.now();
        state
            .script
            .reads_down
            .is_some_and(|(from, until)| from <= now && now < until)
    }

    /// The order as it stands now: the base with every change due applied.
    fn snapshot(&self, state: &mut State) -> Order {
        let now = self.now();
        let mut order = state.order.clone();
        for change in state.script.changes.iter().filter(|c| c.at <= now) {
            order.status = OrderStatus::parse(change.status);
            order.filled_qty = Decimal::from(change.filled_qty);
            order.filled_avg_price = change.price.map(|p| p.parse().expect("script price"));
            if change.filled_qty > 0 {
                let micros = i64::try_from(change.at.as_micros()).expect("fits");
                order.filled_at = Some(Timestamp::from_unix_micros(micros));
            }
        }
        order
    }
}

impl Broker for ScriptedBroker {
    fn rate_limit_state(&self) -> Option<RateLimitState> {
        self.state.lock().expect("lock").script.rate_state
    }

    async fn submit_order(&self, request: &OrderRequest) -> Result<Order, BrokerError> {
        sleep(self.latency).await;
        let mut state = self.state.lock().expect("lock");
        state.calls.submit += 1;
        if state.created {
            return Err(BrokerError::Unprocessable {
                message: "client_order_id must be unique".into(),
            });
        }
        let (applied, answer) = state
            .script
            .submit_answers
            .pop_front()
            .unwrap_or((true, Ok(())));
        if applied {
            state.created = true;
            state.calls.orders_created += 1;
            state.order.client_order_id = request.client_order_id.clone();
        }
        answer.map(|()| state.order.clone())
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, BrokerError> {
        let latency = self
            .state
            .lock()
            .expect("lock")
            .script
            .read_latencies
            .pop_front();
        sleep(latency.unwrap_or(self.latency)).await;
        let mut state = self.state.lock().expect("lock");
        let now = self.now();
        state.calls.get_order_at.push(now);
        if let Some(error) = state.script.get_errors.pop_front() {
            return Err(error);
        }
        if self.reads_down(&state) {
            return Err(unavailable());
        }
        assert_eq!(order_id, ORDER_ID, "engine asked for an order it never got");
        Ok(self.snapshot(&mut state))
    }

    async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<Order, BrokerError> {
        sleep(self.latency).await;
        let mut state = self.state.lock().expect("lock");
        state.calls.lookup += 1;
        if let Some(error) = state.script.lookup_errors.pop_front() {
            return Err(error);
        }
        if self.reads_down(&state) {
            return Err(unavailable());
        }
        if !state.created || client_order_id != state.order.client_order_id {
            return Err(BrokerError::NotFound {
                message: "order not found".into(),
            });
        }
        Ok(self.snapshot(&mut state))
    }

    async fn cancel_order(&self, _order_id: &str) -> Result<(), BrokerError> {
        sleep(self.latency).await;
        let mut state = self.state.lock().expect("lock");
        state.calls.cancel += 1;
        let answer = state.script.cancel_answers.pop_front().unwrap_or(Ok(()));
        if answer.is_ok() {
            let now = self.now();
            let follow: Vec<Change> = state
                .script
                .on_cancel
                .iter()
                .map(|c| Change {
                    at: now + c.at,
                    ..c.clone()
                })
                .collect();
            state.script.changes.extend(follow);
            state.script.changes.sort_by_key(|c| c.at);
        }
        answer
    }

    /// The scripted broker answers no replace: the engine's tests that
    /// replace run against the simulated broker.
    async fn replace_order(
        &self,
        _order_id: &str,
        _replace: &fillproof_engine::ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        Err(BrokerError::Unprocessable {
            message: "the scripted broker does not replace orders".into(),
        })
    }

    async fn get_position(&self, symbol: &str) -> Result<Option<Position>, BrokerError> {
        sleep(self.latency).await;
        let mut state = self.state.lock().expect("lock");
        let qty = state
            .script
            .positions
            .pop_front()
            .unwrap_or(state.last_position);
        state.last_position = qty;
        Ok(Some(Position {
            symbol: symbol.into(),
            qty,
            avg_entry_price: None,
        }))
    }
}
