//! The engine's [`Broker`] port over Alpaca's REST API.
//!
//! One request per call, no retries of its own: the engine owns retries,
//! and a hidden retry of a submit is how orders get placed twice. Every
//! answer is mapped by HTTP status and Alpaca code first, message second;
//! a request that times out, a connection that drops and a body that does
//! not parse are ambiguous outcomes (the order may exist), never failures.
//!
//! The batched reads are `GET /v2/orders` (the order list, read with the
//! single order's parser) and `GET /v2/account/activities/FILL` (one
//! record per execution); a query outside Alpaca's bounds (a list limit
//! of 1 to 500, a page of 1 to 100) is refused before it is sent, as the
//! simulated broker refuses it.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use fillproof_engine::{
    ActivityQuery, Broker, BrokerError, FillActivity, Order, OrderClass, OrderQuery, OrderRequest,
    Position, RateLimitState, ReplaceRequest, Trail,
};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::json;

use crate::config::AlpacaConfig;
use crate::wire;

/// Alpaca's code for a second order with a used `client_order_id`.
const CODE_DUPLICATE_CLIENT_ORDER_ID: u64 = 40_010_001;
/// Alpaca's code for "already in a final state" on a cancel.
const CODE_UNPROCESSABLE: u64 = 42_210_000;

/// The most bytes of an answer read: an order is about 1 KB, a list of 500
/// about 500 KB.
const MAX_BODY_BYTES: usize = 4 << 20;

/// The broker port over Alpaca's REST API.
#[derive(Debug)]
pub struct AlpacaBroker {
    client: reqwest::Client,
    config: AlpacaConfig,
    rate_limit: Mutex<Option<RateLimitState>>,
}

impl AlpacaBroker {
    /// A client for `config`'s endpoint and keys.
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built (no TLS backend).
    pub fn new(config: AlpacaConfig) -> Result<Self, crate::AlpacaError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| crate::AlpacaError::Client(e.to_string()))?;
        Ok(Self {
            client,
            config,
            rate_limit: Mutex::new(None),
        })
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &AlpacaConfig {
        &self.config
    }

    /// Sends one request; answers with its status, headers and body, or the
    /// transport failure as a broker error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Vec<u8>), BrokerError> {
        self.send_to(&self.config.base_url, method, path, query, body)
            .await
    }

    /// As [`AlpacaBroker::send`], to the server at `base`.
    async fn send_to(
        &self,
        base: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Vec<u8>), BrokerError> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let mut request = self
            .client
            .request(method, url)
            .header("APCA-API-KEY-ID", &self.config.key_id)
            .header("APCA-API-SECRET-KEY", self.config.secret_key());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let mut response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status();
        self.note_rate_limit(response.headers());
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(BrokerError::BadBody {
                            detail: format!("answer longer than {MAX_BODY_BYTES} bytes"),
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => return Err(transport_error(&error)),
            }
        }
        let retry_after = retry_after(response.headers());
        if status.is_success() {
            Ok((status, bytes))
        } else {
            Err(status_error(status, &bytes, retry_after))
        }
    }

    fn note_rate_limit(&self, headers: &HeaderMap) {
        if let Some(state) = rate_limit_state(headers) {
            *self
                .rate_limit
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(state);
        }
    }

    async fn order_call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<Order, BrokerError> {
        let (_, bytes) = self.send(method, path, query, body).await?;
        wire::order(&bytes).map_err(|detail| BrokerError::BadBody { detail })
    }
}

/// A transport failure: a timeout is an unknown outcome; anything else
/// after the request may have left is a dropped connection (also
/// unknown); a body that breaks off is a bad body.
fn transport_error(error: &reqwest::Error) -> BrokerError {
    if error.is_timeout() {
        BrokerError::Timeout
    } else if error.is_body() || error.is_decode() {
        BrokerError::BadBody {
            detail: error.to_string(),
        }
    } else {
        BrokerError::ConnectionReset
    }
}

/// The error an HTTP error status means, by status and Alpaca code first,
/// message second.
#[must_use]
pub fn status_error(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> BrokerError {
    let parsed = wire::error_body(body);
    let message = parsed
        .message
        .clone()
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    match status.as_u16() {
        429 => BrokerError::RateLimited { retry_after },
        404 => BrokerError::NotFound { message },
        401 | 403 => BrokerError::Forbidden {
            message: format!("HTTP {}: {message}", status.as_u16()),
        },
        _ if parsed.code == Some(CODE_DUPLICATE_CLIENT_ORDER_ID) => BrokerError::Unprocessable {
            message: "client_order_id must be unique".into(),
        },
        422 if parsed.code == Some(CODE_UNPROCESSABLE)
            && message.to_ascii_lowercase().contains("filled") =>
        {
            BrokerError::Unprocessable {
                message: r#"order is already in "filled" state"#.into(),
            }
        }
        code @ 500..=599 => BrokerError::Server {
            status: code,
            message,
        },
        _ => BrokerError::Unprocessable { message },
    }
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` in seconds, when sent.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_number(headers, "retry-after")
        .and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
}

/// The rate-limit state of an answer's headers: `X-Ratelimit-Reset` is the
/// Unix second the quota refills, read against the answer's own `Date`
/// header (the server's clock, not this machine's).
#[must_use]
pub fn rate_limit_state(headers: &HeaderMap) -> Option<RateLimitState> {
    let limit = u32::try_from(header_number(headers, "x-ratelimit-limit")?).ok()?;
    let remaining = u32::try_from(header_number(headers, "x-ratelimit-remaining")?.max(0)).ok()?;
    let reset = header_number(headers, "x-ratelimit-reset")?;
    let now = headers
        .get("date")
        .and_then(|d| d.to_str().ok())
        .and_then(wire::parse_http_date)
        .unwrap_or_else(unix_now);
    let reset_in = Duration::from_secs(u64::try_from(reset.saturating_sub(now)).unwrap_or(0));
    Some(RateLimitState {
        limit,
        remaining,
        reset_in,
    })
}

#[expect(
    clippy::disallowed_methods,
    reason = "a real broker's rate-limit reset is a wall-clock second; used only when the answer has no Date header"
)]
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A decimal as Alpaca reads it: a string, exact.
fn text(d: Decimal) -> serde_json::Value {
    d.normalize().to_string().into()
}

/// The body of `POST /v2/orders` for `request`: every field the request
/// carries, none dropped.
fn order_body(request: &OrderRequest) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    body.insert("symbol".into(), request.symbol.clone().into());
    match request.notional {
        Some(notional) => body.insert("notional".into(), text(notional)),
        None => body.insert("qty".into(), text(request.qty)),
    };
    body.insert("side".into(), request.side.to_string().into());
    body.insert(
        "type".into(),
        serde_json::to_value(request.order_type).unwrap_or_default(),
    );
    body.insert(
        "time_in_force".into(),
        serde_json::to_value(request.time_in_force).unwrap_or_default(),
    );
    body.insert(
        "client_order_id".into(),
        request.client_order_id.clone().into(),
    );
    if request.extended_hours {
        body.insert("extended_hours".into(), true.into());
    }
    let prices = [
        ("limit_price", request.limit_price),
        ("stop_price", request.stop_price),
    ];
    for (field, value) in prices {
        if let Some(value) = value {
            body.insert(field.into(), text(value));
        }
    }
    match request.trail {
        Some(Trail::Price(price)) => body.insert("trail_price".into(), text(price)),
        Some(Trail::Percent(pct)) => body.insert("trail_percent".into(), text(pct)),
        None => None,
    };
    if request.order_class != OrderClass::Simple {
        body.insert("order_class".into(), request.order_class.as_str().into());
    }
    if let Some(limit) = request.take_profit {
        body.insert("take_profit".into(), json!({ "limit_price": text(limit) }));
    }
    if let Some(stop_loss) = request.stop_loss {
        let mut leg = serde_json::Map::new();
        leg.insert("stop_price".into(), text(stop_loss.stop_price));
        if let Some(limit) = stop_loss.limit_price {
            leg.insert("limit_price".into(), text(limit));
        }
        body.insert("stop_loss".into(), leg.into());
    }
    body.into()
}

/// The query string of `GET /v2/orders` for `query`: every filter it
/// sets, the window's ends in RFC 3339, the symbols comma-joined. A query
/// out of Alpaca's bounds is refused before any request is sent (it would
/// cost a rate-limit place for Alpaca's 422).
///
/// # Errors
/// `limit` out of bounds ([`OrderQuery::check`]).
fn list_params(query: &OrderQuery) -> Result<Vec<(&'static str, String)>, BrokerError> {
    query.check()?;
    let mut params = vec![
        ("status", query.status.as_str().to_owned()),
        ("limit", query.limit.to_string()),
        ("direction", query.direction.as_str().to_owned()),
        ("nested", query.nested.to_string()),
    ];
    if let Some(after) = query.after {
        params.push(("after", after.to_string()));
    }
    if let Some(until) = query.until {
        params.push(("until", until.to_string()));
    }
    if !query.symbols.is_empty() {
        params.push(("symbols", query.symbols.join(",")));
    }
    Ok(params)
}

/// The query string of `GET /v2/account/activities/FILL` for `query`.
///
/// # Errors
/// `page_size` out of bounds ([`ActivityQuery::check`]).
fn activity_params(query: &ActivityQuery) -> Result<Vec<(&'static str, String)>, BrokerError> {
    query.check()?;
    let mut params = vec![
        ("direction", query.direction.as_str().to_owned()),
        ("page_size", query.page_size.to_string()),
    ];
    if let Some(after) = query.after {
        params.push(("after", after.to_string()));
    }
    if let Some(until) = query.until {
        params.push(("until", until.to_string()));
    }
    if let Some(token) = &query.page_token {
        params.push(("page_token", token.clone()));
    }
    Ok(params)
}

/// `params` as the pairs [`AlpacaBroker::send`] takes.
fn borrowed<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The body of `PATCH /v2/orders/{id}`: the fields `replace` changes.
fn replace_body(replace: &ReplaceRequest) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    let prices = [
        ("qty", replace.qty),
        ("limit_price", replace.limit_price),
        ("stop_price", replace.stop_price),
        ("trail", replace.trail),
    ];
    for (field, value) in prices {
        if let Some(value) = value {
            body.insert(field.into(), text(value));
        }
    }
    if let Some(tif) = replace.time_in_force {
        body.insert(
            "time_in_force".into(),
            serde_json::to_value(tif).unwrap_or_default(),
        );
    }
    if let Some(id) = &replace.client_order_id {
        body.insert("client_order_id".into(), id.clone().into());
    }
    body.into()
}

impl Broker for AlpacaBroker {
    async fn submit_order(&self, request: &OrderRequest) -> Result<Order, BrokerError> {
        self.order_call(Method::POST, "/v2/orders", &[], Some(order_body(request)))
            .await
    }

    async fn replace_order(
        &self,
        order_id: &str,
        replace: &ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        let path = format!("/v2/orders/{order_id}");
        self.order_call(Method::PATCH, &path, &[], Some(replace_body(replace)))
            .await
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, BrokerError> {
        // Nested: a bracket's legs come with it.
        let path = format!("/v2/orders/{order_id}");
        self.order_call(Method::GET, &path, &[("nested", "true")], None)
            .await
    }

    async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<Order, BrokerError> {
        self.order_call(
            Method::GET,
            "/v2/orders:by_client_order_id",
            &[("client_order_id", client_order_id), ("nested", "true")],
            None,
        )
        .await
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        self.send(Method::DELETE, &format!("/v2/orders/{order_id}"), &[], None)
            .await
            .map(|_| ())
    }

    async fn get_position(&self, symbol: &str) -> Result<Option<Position>, BrokerError> {
        match self
            .send(Method::GET, &format!("/v2/positions/{symbol}"), &[], None)
            .await
        {
            Ok((_, bytes)) => {
                let value: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| BrokerError::BadBody {
                        detail: format!("not a position: {e}"),
                    })?;
                let field = |name: &str| {
                    value
                        .get(name)
                        .and_then(serde_json::Value::as_str)
                        .and_then(|t| t.parse::<Decimal>().ok())
                };
                let qty = field("qty").ok_or_else(|| BrokerError::BadBody {
                    detail: "position has no decimal qty".into(),
                })?;
                Ok(Some(Position {
                    symbol: symbol.to_owned(),
                    qty,
                    avg_entry_price: field("avg_entry_price"),
                }))
            }
            Err(BrokerError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, BrokerError> {
        let params = list_params(query)?;
        let (_, bytes) = self
            .send(Method::GET, "/v2/orders", &borrowed(&params), None)
            .await?;
        wire::orders(&bytes).map_err(|detail| BrokerError::BadBody { detail })
    }

    async fn fill_activities(
        &self,
        query: &ActivityQuery,
    ) -> Result<Vec<FillActivity>, BrokerError> {
        let params = activity_params(query)?;
        let path = "/v2/account/activities/FILL";
        let (_, bytes) = self
            .send(Method::GET, path, &borrowed(&params), None)
            .await?;
        wire::fill_activities(&bytes).map_err(|detail| BrokerError::BadBody { detail })
    }

    fn rate_limit_state(&self) -> Option<RateLimitState> {
        *self
            .rate_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fillproof_engine::MarketData for AlpacaBroker {
    async fn latest_quote(&self, symbol: &str) -> Result<fillproof_engine::Quote, BrokerError> {
        let path = format!("/v2/stocks/{symbol}/quotes/latest");
        let data_url = self.config.data_url.clone();
        let (_, bytes) = self
            .send_to(&data_url, Method::GET, &path, &[], None)
            .await?;
        wire::latest_quote(&bytes).map_err(|detail| BrokerError::BadBody { detail })
    }

    async fn latest_trade(&self, symbol: &str) -> Result<fillproof_engine::Trade, BrokerError> {
        let path = format!("/v2/stocks/{symbol}/trades/latest");
        let data_url = self.config.data_url.clone();
        let (_, bytes) = self
            .send_to(&data_url, Method::GET, &path, &[], None)
            .await?;
        wire::latest_trade(&bytes).map_err(|detail| BrokerError::BadBody { detail })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each answer Alpaca gives maps to the error class the engine must
    /// act on, by status and code, whatever the message says.
    #[test]
    fn errors_map_by_status_and_code_first() {
        let duplicate = status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"code":40010001,"message":"something reworded"}"#,
            None,
        );
        assert!(duplicate.is_duplicate_client_order_id(), "{duplicate:?}");
        let filled = status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"code":42210000,"message":"order is already in \"filled\" state"}"#,
            None,
        );
        assert!(filled.is_already_filled(), "{filled:?}");
        let canceled = status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"code":42210000,"message":"order is already in \"canceled\" state"}"#,
            None,
        );
        assert!(!canceled.is_already_filled(), "{canceled:?}");
        assert_eq!(
            status_error(
                StatusCode::TOO_MANY_REQUESTS,
                b"rate limit exceeded",
                Some(Duration::from_secs(3))
            ),
            BrokerError::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert!(matches!(
            status_error(
                StatusCode::NOT_FOUND,
                br#"{"code":40410000,"message":"order not found"}"#,
                None
            ),
            BrokerError::NotFound { .. }
        ));
        assert!(matches!(
            status_error(
                StatusCode::FORBIDDEN,
                br#"{"code":40310000,"message":"insufficient buying power"}"#,
                None
            ),
            BrokerError::Forbidden { .. }
        ));
        // A 401 without a code, as seen live.
        assert!(matches!(
            status_error(
                StatusCode::UNAUTHORIZED,
                br#"{"message":"unauthorized."}"#,
                None
            ),
            BrokerError::Forbidden { .. }
        ));
        assert_eq!(
            status_error(StatusCode::GATEWAY_TIMEOUT, b"<html>504</html>", None),
            BrokerError::Server {
                status: 504,
                message: "<html>504</html>".into()
            }
        );
    }

    /// A cancel refused with Alpaca's code for a final state and a message
    /// that says filled is "already filled" whatever its wording; a
    /// `Retry-After` header is read in seconds.
    #[test]
    fn codes_decide_before_wording() {
        let reworded = status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"code":42210000,"message":"order status is filled"}"#,
            None,
        );
        assert!(reworded.is_already_filled(), "{reworded:?}");
        let other_code = status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"code":40010000,"message":"order status is filled"}"#,
            None,
        );
        assert!(!other_code.is_already_filled(), "{other_code:?}");
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "3".parse().expect("value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
    }

    /// Without a `Date` header the reset is read against this machine's
    /// clock.
    #[test]
    fn rate_limit_reset_without_a_date_header_uses_the_clock() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", "200".parse().expect("value"));
        headers.insert("x-ratelimit-remaining", "0".parse().expect("value"));
        headers.insert(
            "x-ratelimit-reset",
            (unix_now() + 30).to_string().parse().expect("value"),
        );
        let state = rate_limit_state(&headers).expect("state");
        assert!(
            (Duration::from_secs(29)..=Duration::from_secs(30)).contains(&state.reset_in),
            "{state:?}"
        );
    }

    /// Goal: a list read sends every filter Alpaca takes, and a limit out
    /// of range is refused before anything is sent. Method: the default
    /// query, one setting every filter, limits 0 and 501.
    #[test]
    fn list_queries_name_every_filter() {
        let defaults = list_params(&OrderQuery::default()).expect("in range");
        assert_eq!(
            borrowed(&defaults),
            [
                ("status", "open"),
                ("limit", "50"),
                ("direction", "desc"),
                ("nested", "false")
            ]
        );
        let query = OrderQuery {
            status: fillproof_engine::StatusFilter::All,
            after: fillproof_engine::Timestamp::parse_rfc3339("2025-01-02T14:30:00Z"),
            until: fillproof_engine::Timestamp::parse_rfc3339("2025-01-02T15:30:00.5Z"),
            direction: fillproof_engine::Direction::Asc,
            symbols: vec!["SPY".into(), "QQQ".into()],
            nested: true,
            limit: 500,
        };
        let params = list_params(&query).expect("in range");
        assert_eq!(
            borrowed(&params),
            [
                ("status", "all"),
                ("limit", "500"),
                ("direction", "asc"),
                ("nested", "true"),
                ("after", "2025-01-02T14:30:00.000000Z"),
                ("until", "2025-01-02T15:30:00.500000Z"),
                ("symbols", "SPY,QQQ"),
            ]
        );
        for limit in [0, 501] {
            let refused = list_params(&OrderQuery {
                limit,
                ..OrderQuery::default()
            });
            assert!(
                matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains("limit")),
                "{refused:?}"
            );
        }
    }

    /// Goal: an activities read sends its window, order, page size and
    /// token; a page size out of range is refused before anything is
    /// sent.
    #[test]
    fn activity_queries_name_their_page() {
        let query = ActivityQuery {
            after: fillproof_engine::Timestamp::parse_rfc3339("2025-01-02T14:30:00Z"),
            page_token: Some("20250102143000000::x".into()),
            page_size: 10,
            ..ActivityQuery::default()
        };
        let params = activity_params(&query).expect("in range");
        assert_eq!(
            borrowed(&params),
            [
                ("direction", "desc"),
                ("page_size", "10"),
                ("after", "2025-01-02T14:30:00.000000Z"),
                ("page_token", "20250102143000000::x"),
            ]
        );
        let refused = activity_params(&ActivityQuery {
            page_size: 101,
            ..ActivityQuery::default()
        });
        assert!(
            matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains("page_size")),
            "{refused:?}"
        );
    }

    /// The rate-limit headers read against the answer's Date header.
    #[test]
    fn rate_limit_headers_are_read_against_the_date_header() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", "200".parse().expect("value"));
        headers.insert("x-ratelimit-remaining", "17".parse().expect("value"));
        headers.insert("x-ratelimit-reset", "1760707831".parse().expect("value"));
        headers.insert(
            "date",
            "Fri, 17 Oct 2025 13:30:01 GMT".parse().expect("value"),
        );
        assert_eq!(
            rate_limit_state(&headers),
            Some(RateLimitState {
                limit: 200,
                remaining: 17,
                reset_in: Duration::from_secs(30)
            })
        );
        headers.remove("x-ratelimit-limit");
        assert_eq!(rate_limit_state(&headers), None);
    }
}
