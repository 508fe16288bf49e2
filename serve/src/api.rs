//! Alpaca's Trading API v2 routes: each endpoint's answer from the
//! session's broker, at the request's arrival time.
//!
//! Entry point: [`Session::dispatch`], which routes a request and returns
//! its [`Answer`]. Orders (submit, read, cancel), positions, the account
//! and the clock each have their handler here, the order list and the
//! fill activities theirs in `lists`; a broker error becomes Alpaca's
//! answer to it (`error_reply`). Each trading read (an order, the order
//! list, the fill activities, a position, the positions, the account,
//! the clock) goes through one of the simulated broker's calls, so it
//! meets its endpoint's latency, faults and rate-limit place: the
//! positions, the account and the clock through
//! [`SimBroker::land_read`](fillproof_simulator::SimBroker::land_read),
//! then answered from the ledger at the instant the call landed. Imports
//! `session`, `lists` and `wire`.

use std::time::Duration;

use fillproof_engine::{Broker, BrokerError, Order, OrderRequest, RateLimitState, Timestamp};
use fillproof_simulator::{LedgerRead, at_arrival, uuid_shaped};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::session::{Intent, Session, State};
use crate::wire::{self, Reply, code, error_body};

/// The most orders one session holds: past it a submit is refused (403),
/// so a client that floods the server cannot exhaust its memory.
pub const MAX_ORDERS: usize = 100_000;

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

impl Session {
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
        if let Some(reply) = crate::unoffered::unoffered(&segments) {
            return reply;
        }
        if let Some(reply) = self.data_route(method, &segments, query, arrival).await {
            return reply;
        }
        if let Some(reply) = self.market_route(method, &segments, query, arrival).await {
            return reply;
        }
        if let Some(reply) = self.surface_route(method, &segments, query, body).await {
            return reply;
        }
        match (method, segments.as_slice()) {
            ("POST", ["v2", "orders"]) => self.submit(body).await,
            ("GET", ["v2", "orders"]) => self.list_orders(query).await,
            ("DELETE", ["v2", "orders"]) => self.cancel_all(arrival).await,
            ("GET", ["v2", "orders:by_client_order_id"]) => {
                match query_param(query, "client_order_id") {
                    Some(id) => {
                        self.read(self.broker.get_order_by_client_id(&id).await, nested(query))
                    }
                    None => Reply::error(422, code::BAD_REQUEST, "client_order_id is required"),
                }
            }
            ("GET", ["v2", "orders", id]) => {
                self.read(self.broker.get_order(id).await, nested(query))
            }
            ("PATCH", ["v2", "orders", id]) => match wire::replace_request(body) {
                Ok(replace) => self.read(self.broker.replace_order(id, &replace).await, true),
                Err(error) => Reply::error(error.status, error.code, &error.message),
            },
            ("DELETE", ["v2", "orders", id]) => match self.broker.cancel_order(id).await {
                Ok(()) => Reply::NoContent,
                Err(error) => error_reply(&error),
            },
            ("GET", ["v2", "positions"]) => {
                self.landed(LedgerRead::Positions, |at| self.positions(at))
                    .await
            }
            ("DELETE", ["v2", "positions"]) => self.close_all_positions(query, arrival).await,
            ("DELETE", ["v2", "positions", symbol]) => {
                self.close_position(symbol, query, arrival).await
            }
            ("GET", ["v2", "positions", symbol]) => self.position(symbol, arrival).await,
            ("GET", ["v2", "account"]) => {
                self.landed(LedgerRead::Account, |at| self.account(at))
                    .await
            }
            ("GET", ["v2", "account", "activities"]) => self.activities(None, query).await,
            ("GET", ["v2", "account", "activities", kind]) => {
                self.activities(Some(kind), query).await
            }
            ("GET", ["v2", "clock"]) => self.landed(LedgerRead::Clock, |at| self.clock(at)).await,
            ("GET", ["v2", "calendar"]) => self.calendar(query),
            (
                _,
                [
                    "v2",
                    "orders" | "positions" | "account" | "clock" | "calendar",
                    ..,
                ],
            ) => Reply::error(405, code::BAD_REQUEST, "method not allowed"),
            _ => Reply::error(404, code::NOT_FOUND, "endpoint not found"),
        }
    }

    /// An order answered, its legs nested when `nested` (a submit's answer
    /// always nests them, as Alpaca's does).
    pub(crate) fn read(&self, result: Result<Order, BrokerError>, nested: bool) -> Reply {
        match result {
            Ok(mut order) => {
                if !nested {
                    order.legs.clear();
                }
                Reply::json(200, wire::order_json(&order, &self.asset_id(&order.symbol)))
            }
            Err(error) => error_reply(&error),
        }
    }

    async fn submit(&self, body: &[u8]) -> Reply {
        let (request, given) = {
            let mut state = self.state();
            let generated = uuid_shaped(self.broker.id_seed(), "client-order-id", state.generated);
            let parsed = match wire::order_request(body, &generated) {
                Ok(parsed) => parsed,
                Err(error) => return Reply::error(error.status, error.code, &error.message),
            };
            if !parsed.1 {
                state.generated += 1;
            }
            if let Some(refusal) = self.admit(&mut state, &parsed.0) {
                return refusal;
            }
            parsed
        };
        self.place(&request, given).await
    }

    /// The order the session places for the client (closing a position):
    /// named with a client order id made up as Alpaca makes one, admitted
    /// under the same lock, then placed.
    pub(crate) async fn place_for_client(&self, mut request: OrderRequest) -> Reply {
        {
            let mut state = self.state();
            request.client_order_id =
                uuid_shaped(self.broker.id_seed(), "client-order-id", state.generated);
            state.generated += 1;
            if let Some(refusal) = self.admit(&mut state, &request) {
                return refusal;
            }
        }
        self.place(&request, false).await
    }

    /// Admits `request` to the session, under the state's lock (so the
    /// arrival order is the order requests were read in): refused past the
    /// session's bound on orders, else its client order id registered with
    /// the broker by arrival index.
    fn admit(&self, state: &mut State, request: &OrderRequest) -> Option<Reply> {
        if state.surface.configs.suspend_trade {
            // Alpaca's refusal of any order while trading is suspended.
            return Some(Reply::error(
                403,
                code::FORBIDDEN,
                "new orders are rejected: trading is suspended by the account's suspend_trade \
                 configuration",
            ));
        }
        if !self.admit_order() {
            return Some(Reply::error(
                403,
                code::FORBIDDEN,
                &format!("fillproof serve holds at most {MAX_ORDERS} orders a session"),
            ));
        }
        let (index, new) = state.arrivals.insert_full(request.client_order_id.clone());
        if new {
            self.broker.register(
                &request.client_order_id,
                u32::try_from(index).unwrap_or(u32::MAX),
            );
        }
        None
    }

    /// Places an admitted `request` with the broker (its client order id
    /// the client's own when `given`) and answers the order, legs nested.
    async fn place(&self, request: &OrderRequest, given: bool) -> Reply {
        let result = self.broker.submit_order(request).await;
        if !given {
            self.note_placement(request, result.is_ok());
        }
        self.read(result, true)
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

    pub(crate) async fn cancel_all(&self, now: Duration) -> Reply {
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
            self.price_at(symbol, now)
        } else {
            (amount / filled).round_dp(4)
        }
    }

    /// The market's price of `symbol` at `now` (a dollar for a symbol
    /// the market does not list, which no order of the ledger can hold).
    fn price_at(&self, symbol: &str, now: Duration) -> Decimal {
        self.broker
            .market()
            .price_at(symbol, now)
            .unwrap_or(Decimal::ONE)
    }

    fn position_reply(&self, symbol: &str, qty: Decimal, now: Duration) -> Value {
        wire::position_json(
            symbol,
            &self.asset_id(symbol),
            qty,
            self.entry_price(symbol, qty, now),
            self.price_at(symbol, now),
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

    /// Sends `read` to the broker and, once it landed, answers `answer` of
    /// the landing instant; what the call met instead, as Alpaca answers it.
    pub(crate) async fn landed(
        &self,
        read: LedgerRead,
        answer: impl FnOnce(Duration) -> Reply,
    ) -> Reply {
        match self.broker.land_read(read).await {
            Ok(at) => answer(at),
            Err(error) => error_reply(&error),
        }
    }

    /// The market clock at `now`.
    fn clock(&self, now: Duration) -> Reply {
        let calendar = self.broker.market().sessions().map(|s| s.calendar());
        Reply::json(200, wire::clock_json(self.stamp(now), calendar))
    }

    /// The account's id (a UUID derived from the seed, and the key of a
    /// key's account).
    pub(crate) fn account_id(&self) -> String {
        uuid_shaped(self.broker.id_seed(), "account-id", 0)
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
}

/// The reply to a broker error, as Alpaca answers it.
pub(crate) fn error_reply(error: &BrokerError) -> Reply {
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

/// True when the query asks for legs nested (`nested=true`, in any case:
/// alpaca-py sends Python's `True`).
fn nested(query: &str) -> bool {
    query_param(query, "nested").is_some_and(|v| v.eq_ignore_ascii_case("true"))
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
    use fillproof_simulator::TrueStatus;

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
            assert_eq!(status.as_str(), name);
        }
        let reply = error_reply(&BrokerError::Server {
            status: 504,
            message: "gateway timeout".into(),
        });
        assert_eq!(reply, Reply::error(504, 50_400_000, "gateway timeout"),);
    }
}
