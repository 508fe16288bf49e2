//! One serving session: the simulated broker, what clients asked of it (the
//! request log), what they claimed, and the report against the ledger.
//!
//! [`Session::dispatch`] answers one API request at its arrival time and
//! knows nothing of HTTP: the server calls it for each request, and
//! [`replay`](crate::replay) calls it again for each logged request on the
//! paused clock, which is why a session replays to the same ledger.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_engine::{Broker, BrokerError, Order, OrderRequest, RateLimitState, Timestamp};
use fillproof_simulator::judge;
use fillproof_simulator::{
    BrokerModel, Endpoint, Expectation, Scenario, SimBroker, TrueStatus, at_arrival, uuid_shaped,
};
use indexmap::{IndexMap, IndexSet};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::claims::{ClaimBook, ClaimRefused, judge_claims};
use crate::log::{LiveAnswer, LogHeader, LogWriter, LoggedRequest};
use crate::wire::{self, code, error_body};

/// The most orders one session holds: past it a submit is refused (403),
/// so a client that floods the server cannot exhaust its memory.
pub const MAX_ORDERS: usize = 100_000;

/// What the server sends back for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A JSON body with a status.
    Json {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: Value,
    },
    /// 204 with no body (a cancel accepted).
    NoContent,
    /// 200 with a body no JSON parser takes (the garbage-body fault).
    Garbage,
    /// No answer: the connection is closed (a timeout, a lost response, a
    /// reset).
    Close,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self::Json { status, body }
    }

    fn error(status: u16, code: u32, message: &str) -> Self {
        Self::json(status, error_body(code, message))
    }
}

/// A reply and the rate-limit state to send with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// What to send.
    pub reply: Reply,
    /// `X-Ratelimit-*` headers, when the broker has a rate limit.
    pub rate_limit: Option<RateLimitState>,
    /// The broker's clock when it answered, for the `Date` header.
    pub now: Timestamp,
}

/// An order's body, to tell a resend of the same order from a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Intent {
    symbol: String,
    side: fillproof_engine::Side,
    qty: Decimal,
    limit_price: Option<Decimal>,
}

impl Intent {
    fn of(request: &OrderRequest) -> Self {
        Self {
            symbol: request.symbol.clone(),
            side: request.side,
            qty: request.qty,
            limit_price: request.limit_price,
        }
    }
}

#[derive(Default)]
struct State {
    seq: u64,
    /// Client order ids seen in submits, in arrival order: an order's
    /// arrival index is its place here.
    arrivals: IndexSet<String>,
    /// Client order ids the server made up, for submits that sent none.
    generated: u64,
    /// Orders placed by a submit with no client id whose answer the client
    /// never got: a later identical submit is a resend of the same order.
    undelivered: Vec<(Intent, String)>,
    /// Order id to the order it duplicates.
    duplicates: IndexMap<String, String>,
    claims: ClaimBook,
    /// A shutdown has arrived: the session takes no request after it.
    closed: bool,
}

/// A serving session over one scenario and seed.
pub struct Session {
    broker: SimBroker,
    scenario: String,
    expectations: Vec<Expectation>,
    state: Mutex<State>,
    log: Mutex<Option<LogWriter>>,
    buying_power: Decimal,
}

impl Session {
    /// A session serving `scenario` with streams derived from `seed`. Call
    /// it inside the runtime that will serve: time zero is now.
    ///
    /// # Errors
    ///
    /// The scenario's `expect:` block does not parse.
    pub fn new(scenario: &Scenario, seed: u64) -> Result<Arc<Self>, String> {
        let model = BrokerModel::from_scenario(scenario);
        let buying_power = model.buying_power.unwrap_or_else(|| Decimal::from(100_000));
        Ok(Arc::new(Self {
            broker: SimBroker::new(model, seed, false).with_uuid_ids(),
            scenario: scenario.name.clone(),
            expectations: scenario.expectations()?,
            state: Mutex::new(State::default()),
            log: Mutex::new(None),
            buying_power,
        }))
    }

    /// Logs every request from now on to `sink`, one JSON line each after
    /// `header`, chained (see [`crate::log`]).
    ///
    /// # Errors
    ///
    /// The header cannot be written.
    pub fn log_to(
        &self,
        sink: Box<dyn std::io::Write + Send>,
        header: &LogHeader,
    ) -> std::io::Result<()> {
        self.log_keyed_to(sink, header, None)
    }

    /// [`Session::log_to`], the chain keyed with HMAC-SHA256 under `key`
    /// when given (`FILLPROOF_AUDIT_KEY`): only a holder of the key can
    /// compute it, so a line edited and chained again without it is
    /// refused on replay.
    ///
    /// # Errors
    ///
    /// The header cannot be written.
    pub fn log_keyed_to(
        &self,
        sink: Box<dyn std::io::Write + Send>,
        header: &LogHeader,
        key: Option<fillproof_engine::AuditKey>,
    ) -> std::io::Result<()> {
        let writer = LogWriter::start(sink, header, key)?;
        *self.log() = Some(writer);
        Ok(())
    }

    fn log(&self) -> MutexGuard<'_, Option<LogWriter>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The simulated broker.
    #[must_use]
    pub fn broker(&self) -> &SimBroker {
        &self.broker
    }

    /// Virtual time since the session began, in whole microseconds (the
    /// log's resolution, so that a replay sees the very same times).
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        let elapsed = self.broker.elapsed();
        Duration::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }

    fn stamp(&self, t: Duration) -> Timestamp {
        let micros = i64::try_from(t.as_micros()).unwrap_or(i64::MAX);
        Timestamp::from_unix_micros(self.broker.model().epoch_unix_micros.saturating_add(micros))
    }

    /// The UUID-shaped id of `name` for `purpose`: the same name always
    /// maps to the same UUID in a session with this seed.
    fn derived_id(&self, purpose: &str, name: &str) -> String {
        uuid_shaped(
            self.broker.seed(),
            purpose,
            fillproof_engine::stable_hash(name.as_bytes()),
        )
    }

    /// The id Alpaca gives the asset `symbol`.
    #[must_use]
    pub fn asset_id(&self, symbol: &str) -> String {
        self.derived_id("asset-id", symbol)
    }

    /// The UUID-shaped execution id a client sees for the simulator's
    /// execution `id`.
    #[must_use]
    pub fn execution_id(&self, id: &str) -> String {
        self.derived_id("execution-id", id)
    }

    /// Records a request that arrived at `t` in the log, giving it its
    /// sequence number: what replay does for each logged request. Called
    /// right before the request is handled, with no wait in between, so
    /// that log order is handling order.
    pub fn record(&self, method: &str, path: &str, query: &str, body: &[u8], t: Duration) -> u64 {
        let closing = method == "POST" && path == "/_fillproof/shutdown";
        self.log_request(method, path, query, body, Some(t), closing)
            .map_or(0, |(seq, _)| seq)
    }

    /// Records a request arriving now, giving it its sequence number and
    /// its arrival time, both taken at once so that arrival times never
    /// decrease along the log. Called right before the request is
    /// handled, with no wait in between, so that log order is handling
    /// order; its answer goes to [`Session::answered`].
    ///
    /// `None` once a shutdown has arrived ([`Session::arrive_shutdown`]):
    /// the session takes no request after it, and the request is not
    /// logged.
    pub fn arrive(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Option<(u64, Duration)> {
        self.log_request(method, path, query, body, None, false)
    }

    /// Records the shutdown (`POST /_fillproof/shutdown`, Ctrl-C, SIGTERM)
    /// arriving now, as [`Session::arrive`] does, and closes the session
    /// to every request after it; its answer is
    /// [`Session::shut_down`]'s. `None` when a shutdown arrived already.
    pub fn arrive_shutdown(&self) -> Option<(u64, Duration)> {
        self.log_request("POST", "/_fillproof/shutdown", "", b"", None, true)
    }

    fn log_request(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        at: Option<Duration>,
        closing: bool,
    ) -> Option<(u64, Duration)> {
        let mut log = self.log();
        let (seq, t) = {
            let mut state = self.state();
            if state.closed && at.is_none() {
                return None;
            }
            state.closed |= closing;
            let seq = state.seq;
            state.seq += 1;
            (seq, at.unwrap_or_else(|| self.elapsed()))
        };
        if let Some(writer) = log.as_mut() {
            writer.received(LoggedRequest {
                seq,
                t_us: u64::try_from(t.as_micros()).unwrap_or(u64::MAX),
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                body: String::from_utf8_lossy(body).into_owned(),
                answer: None,
            });
        }
        Some((seq, t))
    }

    /// Logs the answer given live to request `seq`.
    pub fn answered(&self, seq: u64, reply: &Reply) {
        let mut log = self.log();
        if let Some(writer) = log.as_mut() {
            if let Err(error) = writer.answered(seq, LiveAnswer::of(reply)) {
                Self::log_failed(&mut log, &error);
            }
        }
    }

    /// A log that cannot be written loses replay, not the session: say so
    /// once and stop logging.
    fn log_failed(log: &mut Option<LogWriter>, error: &std::io::Error) {
        tracing::error!(target: "fillproof::serve", %error, "request log write failed; logging stops");
        *log = None;
    }

    /// Ends the session whose shutdown request `seq` arrived at `at`:
    /// lets every request still on its way to the broker land (the broker
    /// applies a request at its arrival whether or not anyone waits, so
    /// before then the ledger is not the whole truth), takes the report
    /// when the last of them has landed (at `at` when none was on its
    /// way), logs it as the shutdown's answer, writes what is left of the
    /// log and its end line, and logs no more.
    ///
    /// The wait is bounded by the requests' drawn request legs, and is in
    /// virtual time: the report's time is the last landing, so a replay
    /// takes the very same report.
    pub async fn shut_down(&self, seq: u64, at: Duration) -> Report {
        let (in_flight, until) = self.let_land(at).await;
        let mut report = self.report(until);
        report.requests_in_flight_at_shutdown = in_flight;
        self.answered(seq, &report_reply(&report));
        if let Some(writer) = self.log().take() {
            if let Err(error) = writer.end() {
                Self::log_failed(&mut None, &error);
            }
        }
        report
    }

    /// Waits until no request is on its way to the broker. Returns how
    /// many were still on their way at `at` (landing after it), and the
    /// time the last of them landed (`at` when none).
    async fn let_land(&self, at: Duration) -> (u64, Duration) {
        // A request that arrived in the same instant as the shutdown may
        // not have left for the broker yet (a replay hands it to a task
        // of its own): let it leave first.
        tokio::task::yield_now().await;
        let on_their_way = self.broker.requests_on_their_way();
        let in_flight = on_their_way.iter().filter(|lands| **lands > at).count() as u64;
        let mut until = at;
        while let Some(&last) = self.broker.requests_on_their_way().last() {
            until = until.max(last);
            let now = self.broker.elapsed();
            // Past its time and not landed yet: its task has not run; give
            // it the runtime.
            sleep(last.saturating_sub(now).max(Duration::from_millis(1))).await;
        }
        (in_flight, until)
    }

    /// Answers one API request (`/v2/...`) that arrived at `arrival`.
    pub async fn dispatch(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        arrival: Duration,
    ) -> Answer {
        let reply = at_arrival(arrival, self.route(method, path, query, body, arrival)).await;
        Answer {
            reply,
            rate_limit: self.broker.rate_limit_state(),
            now: self.stamp(self.elapsed().max(arrival)),
        }
    }

    async fn route(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        arrival: Duration,
    ) -> Reply {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        match (method, segments.as_slice()) {
            ("POST", ["v2", "orders"]) => self.submit(body).await,
            ("GET", ["v2", "orders"]) => self.list_orders(query, arrival),
            ("DELETE", ["v2", "orders"]) => self.cancel_all(arrival).await,
            ("GET", ["v2", "orders:by_client_order_id"]) => {
                match query_param(query, "client_order_id") {
                    Some(id) => self.read(self.broker.get_order_by_client_id(&id).await),
                    None => Reply::error(422, code::BAD_REQUEST, "client_order_id is required"),
                }
            }
            ("GET", ["v2", "orders", id]) => self.read(self.broker.get_order(id).await),
            ("DELETE", ["v2", "orders", id]) => match self.broker.cancel_order(id).await {
                Ok(()) => Reply::NoContent,
                Err(error) => error_reply(&error),
            },
            ("GET", ["v2", "positions"]) => self.positions(arrival),
            ("GET", ["v2", "positions", symbol]) => self.position(symbol, arrival).await,
            ("GET", ["v2", "account"]) => self.account(arrival),
            ("GET", ["v2", "clock"]) => Reply::json(200, wire::clock_json(self.stamp(arrival))),
            (_, ["v2", "orders" | "positions" | "account" | "clock", ..]) => {
                Reply::error(405, code::BAD_REQUEST, "method not allowed")
            }
            _ => Reply::error(404, code::NOT_FOUND, "endpoint not found"),
        }
    }

    fn read(&self, result: Result<Order, BrokerError>) -> Reply {
        match result {
            Ok(order) => Reply::json(200, wire::order_json(&order, &self.asset_id(&order.symbol))),
            Err(error) => error_reply(&error),
        }
    }

    async fn submit(&self, body: &[u8]) -> Reply {
        let (request, given) = {
            let mut state = self.state();
            let generated = uuid_shaped(self.broker.seed(), "client-order-id", state.generated);
            let parsed = match wire::order_request(body, &generated) {
                Ok(parsed) => parsed,
                Err(error) => return Reply::error(error.status, error.code, &error.message),
            };
            if !parsed.1 {
                state.generated += 1;
            }
            let orders = self.broker.with_ledger(|l| l.orders().len());
            if orders >= MAX_ORDERS {
                return Reply::error(
                    403,
                    code::FORBIDDEN,
                    &format!("fillproof serve holds at most {MAX_ORDERS} orders a session"),
                );
            }
            let (index, new) = state.arrivals.insert_full(parsed.0.client_order_id.clone());
            if new {
                self.broker.register(
                    &parsed.0.client_order_id,
                    u32::try_from(index).unwrap_or(u32::MAX),
                );
            }
            parsed
        };
        let result = self.broker.submit_order(&request).await;
        if !given {
            self.note_placement(&request, result.is_ok());
        }
        self.read(result)
    }

    /// Tells a resend from a new order, for a submit that sent no client id
    /// (a broker cannot refuse a resend it cannot recognise): an order
    /// placed with the same body as an earlier order whose answer the
    /// client never got is a duplicate of it.
    fn note_placement(&self, request: &OrderRequest, delivered: bool) {
        let Some(id) = self.broker.with_ledger(|l| {
            l.by_client_id(&request.client_order_id)
                .map(|o| o.id.clone())
        }) else {
            return;
        };
        let intent = Intent::of(request);
        let mut state = self.state();
        if let Some(slot) = state.undelivered.iter().position(|(i, _)| *i == intent) {
            let (_, original) = state.undelivered.remove(slot);
            state.duplicates.insert(id.clone(), original);
        }
        if !delivered {
            state.undelivered.push((intent, id));
        }
    }

    fn list_orders(&self, query: &str, now: Duration) -> Reply {
        let status = query_param(query, "status").unwrap_or_else(|| "open".into());
        if !matches!(status.as_str(), "open" | "closed" | "all") {
            return Reply::error(
                422,
                code::BAD_REQUEST,
                &format!("invalid status \"{status}\": use open, closed or all"),
            );
        }
        let limit = match query_param(query, "limit").map(|l| l.parse::<usize>()) {
            None => 50,
            Some(Ok(limit)) if (1..=500).contains(&limit) => limit,
            Some(_) => {
                return Reply::error(422, code::BAD_REQUEST, "limit must be from 1 to 500");
            }
        };
        let ascending = query_param(query, "direction").as_deref() == Some("asc");
        let symbols: Option<Vec<String>> = query_param(query, "symbols").map(|s| {
            s.split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .collect()
        });
        let epoch = self.broker.model().epoch_unix_micros;
        let orders: Vec<Value> = self.broker.with_ledger(|ledger| {
            let mut chosen: Vec<_> = ledger
                .orders()
                .iter()
                .filter(|o| o.accepted_at <= now)
                .filter(|o| {
                    let terminal = o.status_at(now).is_terminal();
                    match status.as_str() {
                        "open" => !terminal,
                        "closed" => terminal,
                        _ => true,
                    }
                })
                .filter(|o| symbols.as_ref().is_none_or(|s| s.contains(&o.symbol)))
                .collect();
            if !ascending {
                chosen.reverse();
            }
            chosen
                .into_iter()
                .take(limit)
                .map(|o| wire::order_json(&o.snapshot(now, epoch), &self.asset_id(&o.symbol)))
                .collect()
        });
        Reply::json(200, Value::Array(orders))
    }

    async fn cancel_all(&self, now: Duration) -> Reply {
        let open: Vec<String> = self.broker.with_ledger(|ledger| {
            ledger
                .orders()
                .iter()
                .filter(|o| o.accepted_at <= now && !o.status_at(now).is_terminal())
                .map(|o| o.id.clone())
                .collect()
        });
        let mut results = Vec::with_capacity(open.len());
        for id in open {
            let (status, body) = match self.broker.cancel_order(&id).await {
                Ok(()) => (200, Value::Null),
                Err(error) => match error_reply(&error) {
                    Reply::Json { status, body } => (status, body),
                    _ => (500, error_body(50_000_000, &error.to_string())),
                },
            };
            results.push(json!({ "id": id, "status": status, "body": body }));
        }
        Reply::json(207, Value::Array(results))
    }

    /// Average entry price of the position in `symbol` at `now`: the
    /// average price of the fills on the position's side.
    fn entry_price(&self, symbol: &str, qty: Decimal, now: Duration) -> Decimal {
        let long = qty > Decimal::ZERO;
        let (amount, filled) = self.broker.with_ledger(|ledger| {
            ledger
                .orders()
                .iter()
                .filter(|o| o.symbol == symbol)
                .filter(|o| (o.side == fillproof_engine::Side::Buy) == long)
                .flat_map(|o| o.fills_by(now))
                .fold((Decimal::ZERO, Decimal::ZERO), |(a, q), f| {
                    (a + f.qty * f.price, q + f.qty)
                })
        });
        if filled.is_zero() {
            self.reference_price(symbol)
        } else {
            (amount / filled).round_dp(4)
        }
    }

    fn reference_price(&self, symbol: &str) -> Decimal {
        self.broker
            .model()
            .reference_prices
            .get(symbol)
            .copied()
            .unwrap_or(Decimal::ONE)
    }

    fn position_reply(&self, symbol: &str, qty: Decimal, now: Duration) -> Value {
        wire::position_json(
            symbol,
            &self.asset_id(symbol),
            qty,
            self.entry_price(symbol, qty, now),
            self.reference_price(symbol),
        )
    }

    async fn position(&self, symbol: &str, now: Duration) -> Reply {
        let symbol = symbol.to_ascii_uppercase();
        match self.broker.get_position(&symbol).await {
            Ok(Some(position)) => Reply::json(200, self.position_reply(&symbol, position.qty, now)),
            Ok(None) => Reply::error(404, code::NOT_FOUND, "position does not exist"),
            Err(error) => error_reply(&error),
        }
    }

    fn positions(&self, now: Duration) -> Reply {
        let positions = self.broker.with_ledger(|l| l.positions_at(now));
        let list = positions
            .iter()
            .filter(|(_, qty)| !qty.is_zero())
            .map(|(symbol, qty)| self.position_reply(symbol, *qty, now))
            .collect();
        Reply::json(200, Value::Array(list))
    }

    fn account(&self, now: Duration) -> Reply {
        let (buying_power, cash) = self.broker.with_ledger(|ledger| {
            let buying_power = ledger.buying_power_at(self.buying_power, now, |o| {
                o.limit_price
                    .unwrap_or_else(|| self.reference_price(&o.symbol))
            });
            let cash = ledger.orders().iter().fold(self.buying_power, |cash, o| {
                let cost: Decimal = o.fills_by(now).map(|f| f.qty * f.price).sum();
                match o.side {
                    fillproof_engine::Side::Buy => cash - cost,
                    fillproof_engine::Side::Sell => cash + cost,
                }
            });
            (buying_power, cash)
        });
        let id = uuid_shaped(self.broker.seed(), "account-id", 0);
        Reply::json(200, wire::account_json(&id, buying_power, cash))
    }

    /// Takes a client's claims, `{"filled_qty": {"<client_order_id>": qty}}`
    /// with optional `"avg_price": {"<client_order_id>": price}`,
    /// posted at `at`: every claim is kept and judged at the moment it
    /// was posted (see [`crate::claims`]). Returns the number of client
    /// order ids claimed so far.
    ///
    /// # Errors
    ///
    /// The body is not that shape, a quantity or price is not a
    /// non-negative decimal, or the session would keep more than
    /// [`MAX_CLAIMS`](crate::MAX_CLAIMS) claims; a refused body changes
    /// nothing.
    pub fn claim(&self, body: &[u8], at: Duration) -> Result<usize, ClaimRefused> {
        self.state().claims.take(body, at)
    }

    /// The answer to a claims body posted at `at`: `{"claims": n}`, or the
    /// refusal.
    pub fn claims_reply(&self, body: &[u8], at: Duration) -> Reply {
        match self.claim(body, at) {
            Ok(count) => Reply::json(200, json!({ "claims": count })),
            Err(refused) => Reply::error(refused.status, code::BAD_REQUEST, &refused.message),
        }
    }

    /// The report at virtual time `now`: per order what the broker did,
    /// calls by endpoint, 429s, faults by kind, duplicate orders, and once
    /// claims were posted the fills missed and invented against the ledger.
    #[must_use]
    pub fn report(&self, now: Duration) -> Report {
        let state = self.state();
        let mut orders = Vec::new();
        let (mut filled, mut detected, mut missed, mut false_positives) = (0u64, 0u64, 0u64, 0u64);
        let (mut priced, mut price_mismatches) = (0u64, 0u64);
        let claimed = !state.claims.is_empty();
        self.broker.with_ledger(|ledger| {
            for o in ledger.orders().iter().filter(|o| o.accepted_at <= now) {
                let filled_qty = o.filled_qty_at(now);
                let claims = state.claims.get(&o.client_order_id);
                if claimed {
                    let verdict = judge_claims(claims, Some(o), now);
                    false_positives += u64::from(verdict.false_positive);
                    missed += u64::from(verdict.missed);
                    detected += u64::from(verdict.detected);
                    if let Some(mismatch) = verdict.price_mismatch {
                        priced += 1;
                        price_mismatches += u64::from(mismatch);
                    }
                }
                filled += u64::from(filled_qty > Decimal::ZERO);
                let ms = |t: Duration| u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
                orders.push(OrderReport {
                    arrival_index: state
                        .arrivals
                        .get_index_of(&o.client_order_id)
                        .and_then(|i| u32::try_from(i).ok()),
                    id: o.id.clone(),
                    client_order_id: o.client_order_id.clone(),
                    symbol: o.symbol.clone(),
                    side: o.side.to_string(),
                    qty: o.qty,
                    accepted_at_ms: ms(o.accepted_at),
                    status: status_name(o.status_at(now)).to_owned(),
                    filled_qty,
                    fills: o
                        .fills_by(now)
                        .map(|f| FillReport {
                            at_ms: ms(f.at),
                            qty: f.qty,
                            price: f.price,
                        })
                        .collect(),
                    cancel_requested_at_ms: o.cancel_requested_at.filter(|t| *t <= now).map(ms),
                    claimed_qty: claims.map(|c| c.latest.qty),
                    claimed_avg_price: claims.and_then(|c| c.latest.avg_price),
                    duplicate_of: state.duplicates.get(&o.id).cloned(),
                });
            }
            // Claims for orders the broker never had (by the report's
            // time) invent fills too; looked up by id, not searched for,
            // since a session may hold a million claims.
            if claimed {
                false_positives += state
                    .claims
                    .iter()
                    .filter(|(id, _)| ledger.by_client_id(id).is_none_or(|o| o.accepted_at > now))
                    .filter(|(_, c)| judge_claims(Some(c), None, now).false_positive)
                    .count() as u64;
            }
        });
        let faults = self.broker.faults_injected();
        let calls = self.broker.calls();
        let mut report = Report {
            scenario: self.scenario.clone(),
            seed: self.broker.seed(),
            at_ms: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
            requests: state.seq,
            orders_placed: orders.len() as u64,
            filled_orders: filled,
            calls_by_endpoint: Endpoint::ALL
                .iter()
                .map(|e| (e.as_str().to_owned(), calls[e.index()]))
                .collect(),
            rate_limited_calls: judge::rate_limited_calls(&faults),
            faults_injected: faults.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            duplicate_orders: state.duplicates.len() as u64,
            claims: claimed.then_some(state.claims.orders() as u64),
            missed_fills: claimed.then_some(missed),
            false_positives: claimed.then_some(false_positives),
            price_mismatches: (priced > 0).then_some(price_mismatches),
            detection_rate: (claimed && filled > 0).then(|| detected as f64 / filled as f64),
            orders,
            requests_in_flight_at_shutdown: 0,
            expectations: Vec::new(),
            partial: false,
            passed: true,
        };
        report.judge(&self.expectations);
        report
    }
}

/// An order as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderReport {
    /// Its arrival index (the `order` a timeline names), when a submit
    /// carried its client id.
    pub arrival_index: Option<u32>,
    /// The broker's id.
    pub id: String,
    /// The client's id (made up by the server when the client sent none).
    pub client_order_id: String,
    /// The instrument.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Ordered quantity.
    pub qty: Decimal,
    /// When the broker accepted it, virtual milliseconds.
    pub accepted_at_ms: u64,
    /// Its true status at the report's time.
    pub status: String,
    /// Quantity truly filled by then.
    pub filled_qty: Decimal,
    /// Each execution.
    pub fills: Vec<FillReport>,
    /// When a cancel was first asked for.
    pub cancel_requested_at_ms: Option<u64>,
    /// What the client claimed filled last, if it claimed.
    pub claimed_qty: Option<Decimal>,
    /// The average price that claim gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_avg_price: Option<Decimal>,
    /// The order this one duplicates: a resend of a submit whose answer the
    /// client never got.
    pub duplicate_of: Option<String>,
}

/// One execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillReport {
    /// When, virtual milliseconds.
    pub at_ms: u64,
    /// How much.
    pub qty: Decimal,
    /// At what price.
    pub price: Decimal,
}

/// One `expect:` threshold, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// `metric op value`.
    pub expectation: String,
    /// The measured value; absent when the session cannot measure it.
    pub actual: Option<f64>,
    /// Whether it held (an absent metric never holds).
    pub ok: bool,
}

/// A session's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The report's virtual time, milliseconds since the session began:
    /// at a shutdown, when the last request still on its way to the
    /// broker landed ([`Report::requests_in_flight_at_shutdown`]), or the
    /// shutdown's own time when none was.
    pub at_ms: u64,
    /// API requests and claims received.
    pub requests: u64,
    /// Orders the broker accepted.
    pub orders_placed: u64,
    /// Orders with any quantity filled.
    pub filled_orders: u64,
    /// Broker calls by endpoint.
    pub calls_by_endpoint: IndexMap<String, u64>,
    /// `rate_limited_calls`, as the README's metrics table defines it
    /// ([`judge::rate_limited_calls`]).
    pub rate_limited_calls: u64,
    /// Faults injected, by kind.
    pub faults_injected: IndexMap<String, u64>,
    /// Orders that are resends of an order already placed.
    pub duplicate_orders: u64,
    /// Client order ids claimed; absent before any claim.
    pub claims: Option<u64>,
    /// `missed_fills`, judged on the latest claim per order; absent
    /// before any claim.
    pub missed_fills: Option<u64>,
    /// `false_positives`, judged on every claim at the moment it was
    /// posted, client order ids the broker never had included; absent
    /// before any claim.
    pub false_positives: Option<u64>,
    /// `price_mismatches`, judged on the latest claim per order; absent
    /// when no latest claim gave a price for a filled order.
    #[serde(default)]
    pub price_mismatches: Option<u64>,
    /// `detection_rate`, judged on the latest claim per order; absent
    /// before any claim, or when nothing filled.
    pub detection_rate: Option<f64>,
    /// Every order.
    pub orders: Vec<OrderReport>,
    /// Requests still on their way to the broker when the session shut
    /// down (broker calls: a `DELETE /v2/orders` makes one per open
    /// order). The report waited for them to land and is taken when the
    /// last did (`at_ms`), so the orders they placed and the cancels they
    /// asked for are in it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests_in_flight_at_shutdown: u64,
    /// The scenario's `expect:` thresholds, judged.
    pub expectations: Vec<Judged>,
    /// True for the replay of a request log with no end line (`fillproof
    /// replay-session --partial`): a report of part of a session, which
    /// never passes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// True when every threshold held (never for a partial report).
    pub passed: bool,
}

impl Report {
    /// The value of `metric`, when the session measures it.
    #[must_use]
    pub fn metric(&self, metric: &str) -> Option<f64> {
        let count = |n: u64| Some(n as f64);
        match metric {
            "detection_rate" => self.detection_rate,
            "missed_fills" => self.missed_fills.and_then(count),
            "false_positives" => self.false_positives.and_then(count),
            "price_mismatches" => self.price_mismatches.and_then(count),
            "duplicate_orders" => count(self.duplicate_orders),
            "filled_orders" => count(self.filled_orders),
            "orders" => count(self.orders_placed),
            "rate_limited_calls" => count(self.rate_limited_calls),
            _ => None,
        }
    }

    /// Marks the report as one of part of a session (a request log with
    /// no end line): it does not pass, whatever its thresholds say.
    pub fn mark_partial(&mut self) {
        self.partial = true;
        self.passed = false;
    }

    fn judge(&mut self, expectations: &[Expectation]) {
        self.expectations = expectations
            .iter()
            .map(|e| {
                let actual = self.metric(&e.metric);
                Judged {
                    expectation: e.to_string(),
                    actual,
                    ok: actual.is_some_and(|a| e.holds(a)),
                }
            })
            .collect();
        self.passed = self.expectations.iter().all(|j| j.ok);
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn status_name(status: TrueStatus) -> &'static str {
    match status {
        TrueStatus::New => "new",
        TrueStatus::PartiallyFilled => "partially_filled",
        TrueStatus::Filled => "filled",
        TrueStatus::PendingCancel => "pending_cancel",
        TrueStatus::Canceled => "canceled",
        TrueStatus::Expired => "expired",
        TrueStatus::Rejected => "rejected",
    }
}

/// The answer to a shutdown: the report.
#[must_use]
pub fn report_reply(report: &Report) -> Reply {
    Reply::json(200, serde_json::to_value(report).unwrap_or(Value::Null))
}

/// The reply to a broker error, as Alpaca answers it.
fn error_reply(error: &BrokerError) -> Reply {
    match error {
        BrokerError::Timeout | BrokerError::ConnectionReset => Reply::Close,
        BrokerError::BadBody { .. } => Reply::Garbage,
        BrokerError::Server { status, message } => {
            Reply::error(*status, u32::from(*status) * 100_000, message)
        }
        BrokerError::RateLimited { .. } => {
            Reply::error(429, code::RATE_LIMITED, "rate limit exceeded")
        }
        BrokerError::NotFound { message } => Reply::error(404, code::NOT_FOUND, message),
        BrokerError::Forbidden { message } => Reply::error(403, code::FORBIDDEN, message),
        BrokerError::Unprocessable { .. } if error.is_duplicate_client_order_id() => Reply::error(
            422,
            code::DUPLICATE_CLIENT_ORDER_ID,
            "client_order_id must be unique",
        ),
        BrokerError::Unprocessable { message } => Reply::error(422, code::UNPROCESSABLE, message),
    }
}

/// The value of `name` in a query string, percent-decoded.
#[must_use]
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| char::from(b).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Query values are percent-decoded as a client encodes them; a broken
    /// escape is kept as written rather than guessed.
    #[test]
    fn query_values_are_percent_decoded() {
        let query =
            "status=all&client_order_id=a%2Fb%20c+d&name=caf%C3%A9&odd=100%25&bad=%zz&end=%4";
        assert_eq!(
            query_param(query, "client_order_id").as_deref(),
            Some("a/b c d")
        );
        assert_eq!(query_param(query, "name").as_deref(), Some("caf\u{e9}"));
        assert_eq!(query_param(query, "odd").as_deref(), Some("100%"));
        assert_eq!(query_param(query, "bad").as_deref(), Some("%zz"));
        assert_eq!(query_param(query, "end").as_deref(), Some("%4"));
        assert_eq!(query_param(query, "status").as_deref(), Some("all"));
        assert_eq!(query_param(query, "missing"), None);
    }

    /// Every true status has its Alpaca spelling in the report; a 5xx
    /// carries its status in Alpaca's 8-digit code.
    #[test]
    fn statuses_and_server_codes_are_spelt_as_alpaca_does() {
        for (status, name) in [
            (TrueStatus::New, "new"),
            (TrueStatus::PartiallyFilled, "partially_filled"),
            (TrueStatus::Filled, "filled"),
            (TrueStatus::PendingCancel, "pending_cancel"),
            (TrueStatus::Canceled, "canceled"),
            (TrueStatus::Expired, "expired"),
            (TrueStatus::Rejected, "rejected"),
        ] {
            assert_eq!(status_name(status), name);
        }
        let reply = error_reply(&BrokerError::Server {
            status: 504,
            message: "gateway timeout".into(),
        });
        assert_eq!(reply, Reply::error(504, 50_400_000, "gateway timeout"),);
    }
}
