//! The HTTP front: an accept loop serving each connection with hyper, an
//! axum router for Alpaca's API, the `trade_updates` websocket and
//! fillproof's own endpoints.
//!
//! A fault that must end a request with no answer at all (a timeout, a
//! lost response, a reset) cannot be spelt by an axum handler, which always
//! answers. The handler marks its response with [`CloseConnection`]
//! instead, and the connection's service turns a marked response into an
//! error, on which hyper closes the connection without writing anything.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use fillproof_engine::{StreamItem, TradeUpdates};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::api::Answer;
use crate::feed::{self, Encoding, FRAME_MESSAGES, Feed};
use crate::report::{Report, report_reply};
use crate::session::Session;
use crate::wire::{self, Reply, code, error_body};

/// Marks a response the connection must drop unanswered.
#[derive(Debug, Clone, Copy)]
struct CloseConnection;

/// The error that makes hyper close a connection with no answer.
#[derive(Debug, thiserror::Error)]
#[error("connection closed by an injected fault")]
struct Dropped;

/// How long a websocket client has to authenticate and listen.
const STREAM_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most market data streams open at once in a session.
const MAX_DATA_STREAMS: usize = 64;

/// How long `serve` waits on a client before it lets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A connection with no request under way (idle, or sending a
    /// request's head too slowly) is closed after this long.
    pub idle: Duration,
    /// A request whose body has not all arrived this long after its head
    /// is answered 408 and its connection closed.
    pub body: Duration,
}

impl Default for Timeouts {
    /// 60 s idle, 30 s for a body: far longer than a bot waits between
    /// requests on a kept-alive connection, and a small order body takes
    /// milliseconds.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(60),
            body: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
struct App {
    session: Arc<Session>,
    timeouts: Timeouts,
    /// Set to the report once a shutdown was asked for.
    stop: watch::Sender<Option<Report>>,
    /// Market data streams open now.
    data_streams: Arc<AtomicUsize>,
}

/// Serves `session` on `listener` until `POST /_fillproof/shutdown` or
/// until `interrupt` completes, and returns the report taken then.
///
/// Each connection is served in a task of its own; a request's broker work
/// runs in a task of its own too, so a client that disconnects mid-request
/// never cuts a call short: the ledger holds what the broker did.
pub async fn serve(
    listener: TcpListener,
    session: Arc<Session>,
    interrupt: impl Future<Output = ()>,
) -> Report {
    serve_with(listener, session, interrupt, Timeouts::default()).await
}

/// [`serve`], letting go of slow and idle clients after `timeouts`.
pub async fn serve_with(
    listener: TcpListener,
    session: Arc<Session>,
    interrupt: impl Future<Output = ()>,
    timeouts: Timeouts,
) -> Report {
    let (stop, mut stopped) = watch::channel(None);
    let app = App {
        session: Arc::clone(&session),
        timeouts,
        stop,
        data_streams: Arc::default(),
    };
    let router = router(app.clone());
    tokio::pin!(interrupt);
    let mut interrupted = false;
    loop {
        tokio::select! {
            biased;
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                // The report comes when the requests still on their way
                // have landed; meanwhile the server goes on answering, 503
                // to anything new. A shutdown asked for over HTTP already
                // under way ends the session with its report instead.
                if let Some((seq, at)) = session.arrive_shutdown() {
                    let session = Arc::clone(&session);
                    let stop = app.stop.clone();
                    tokio::spawn(async move {
                        stop.send_replace(Some(session.shut_down(seq, at).await));
                    });
                }
            }
            changed = stopped.changed() => {
                let report = stopped.borrow().clone();
                match (changed, report) {
                    (Ok(()), Some(report)) => return report,
                    _ => continue,
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                tokio::spawn(serve_connection(stream, router.clone(), timeouts.idle));
            }
        }
    }
}

/// The routes: Alpaca's API (the fallback), the `trade_updates` stream,
/// the real-time market data stream (one path per feed, as on Alpaca's
/// data stream host), and fillproof's own endpoints.
fn router(app: App) -> Router {
    Router::new()
        .route("/stream", get(stream))
        // The legacy Python SDK connects to `/stream/`.
        .route("/stream/", get(stream))
        .route("/v2/iex", get(data_stream))
        .route("/v2/sip", get(data_stream))
        .route("/v2/delayed_sip", get(data_stream))
        .route("/_fillproof/report", get(report))
        .route("/_fillproof/claims", post(claims))
        .route("/_fillproof/restart", post(restart))
        .route("/_fillproof/shutdown", post(shutdown))
        .fallback(api)
        .method_not_allowed_fallback(|| async {
            json_response(405, &error_body(code::BAD_REQUEST, "method not allowed"))
        })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(app)
}

/// Serves one connection with hyper until it ends, or until it has sent
/// no whole request head for `idle`; a response marked
/// [`CloseConnection`] closes it without an answer.
async fn serve_connection(stream: tokio::net::TcpStream, router: Router, idle: Duration) {
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await;
            let response = match response {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<CloseConnection>().is_some() {
                Err(Dropped)
            } else {
                Ok::<_, Dropped>(response)
            }
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(target: "fillproof::serve", %error, "connection ended");
    }
}

/// The account a request's credentials name, in each form the SDKs
/// send: the `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` headers (the key
/// id names the account), or `Authorization: Bearer <token>` (an OAuth
/// token: a digest of it names the account, so the request log never
/// holds the token). `None` when neither form is complete.
fn credentials(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let (Some(key), Some(_secret)) = (header("apca-api-key-id"), header("apca-api-secret-key")) {
        return account_key(key);
    }
    let token = header("authorization")?;
    let (scheme, token) = token.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| oauth_account(token))
}

/// The longest key id taken (Alpaca's are 20 characters): the key names
/// its account in every log line and report.
const MAX_KEY_CHARS: usize = 128;

/// The account a key id names; `None` (not authorized) for one longer
/// than [`MAX_KEY_CHARS`], or one in the `oauth:` form OAuth tokens'
/// accounts are named by, which no key id may take.
fn account_key(key: &str) -> Option<String> {
    (key.chars().count() <= MAX_KEY_CHARS && !key.starts_with("oauth:")).then(|| key.to_owned())
}

/// The account name an OAuth token stands for.
fn oauth_account(token: &str) -> String {
    format!("oauth:{}", &crate::log::sha256_hex(token.as_bytes())[..16])
}

fn authorized(headers: &HeaderMap) -> bool {
    credentials(headers).is_some()
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn unauthorized() -> Response<Body> {
    json_response(
        401,
        &error_body(code::UNAUTHORIZED, "request is not authorized"),
    )
}

/// The largest API request body read: an order is a few hundred bytes,
/// a watchlist of a thousand symbols some ten kilobytes.
const MAX_API_BODY_BYTES: usize = 1 << 20;

/// The largest claims body read: about 60 bytes an order, for a session
/// of a million orders.
const MAX_CLAIMS_BODY_BYTES: usize = 64 << 20;

/// A request's body of at most `limit` bytes, all of it arrived within
/// `timeout`, or the Alpaca-shaped error that refuses it (413 over the
/// limit, 408 too slow; hyper then closes the connection, which still
/// holds the rest of the body).
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, Response<Body>> {
    let refuse = |status: u16, message: String| {
        let mut response = json_response(status, &error_body(code::BAD_REQUEST, &message));
        response
            .headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
        response
    };
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(refuse(
            413,
            format!("request body unreadable or over {limit} bytes: {error}"),
        )),
        Err(_) => Err(refuse(
            408,
            format!(
                "request body not received within {} s of the request's head",
                timeout.as_secs_f64()
            ),
        )),
    }
}

/// Alpaca's API: logged, then answered by the session at its arrival time.
async fn api(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    let body = match read_body(body, MAX_API_BODY_BYTES, app.timeouts.body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    // The Trading API's versions and the Market Data API's.
    let versions = [
        "/v1/",
        "/v1beta1/",
        "/v1beta3/",
        "/v2/",
        "/v2beta1/",
        "/v3/",
    ];
    if !versions.iter().any(|v| uri.path().starts_with(v)) {
        return json_response(404, &error_body(code::NOT_FOUND, "endpoint not found"));
    }
    // Crypto market data needs no keys on Alpaca (the JS SDK sends none):
    // keyless, it is read through the session's own account, as market
    // data is the same in every account.
    let key = credentials(&headers);
    let keyless = ["/v1beta3/crypto/", "/v1beta1/crypto-perps/"];
    if key.is_none() && !keyless.iter().any(|p| uri.path().starts_with(p)) {
        return unauthorized();
    }
    let session = match key {
        Some(key) => match app.session.for_key(Some(&key)) {
            Ok(account) => account,
            Err(refusal) => return answer_json(&refusal),
        },
        None => Arc::clone(&app.session),
    };
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    // The broker's work runs apart from the connection: a client that
    // hangs up mid-request does not cancel what the broker does, and its
    // answer is logged all the same.
    let work = tokio::spawn(async move {
        let (seq, arrival) = session.arrive(method.as_str(), &path, &query, &body)?;
        let answer = session
            .dispatch(method.as_str(), &path, &query, &body, arrival)
            .await;
        session.answered(seq, &answer.reply);
        Some(answer)
    });
    match work.await {
        Ok(Some(answer)) => answer_response(&answer),
        Ok(None) => shutting_down(),
        Err(error) => {
            tracing::error!(target: "fillproof::serve", %error, "request task failed");
            json_response(500, &error_body(50_000_000, "internal server error"))
        }
    }
}

/// The answer to a request that arrives after the shutdown, while the
/// session lets the requests still on their way land: it is not part of
/// the session, and is not logged.
fn shutting_down() -> Response<Body> {
    json_response(
        503,
        &error_body(
            50_300_000,
            "the fillproof session is shutting down and takes no more requests",
        ),
    )
}

fn answer_response(answer: &Answer) -> Response<Body> {
    let mut response = match &answer.reply {
        Reply::Json { status, body } => json_response(*status, body),
        Reply::NoContent => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Reply::Garbage => {
            let mut response = Response::new(Body::from(wire::GARBAGE_BODY));
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("text/html"));
            response
        }
        Reply::Close => {
            let mut response = Response::new(Body::empty());
            response.extensions_mut().insert(CloseConnection);
            return response;
        }
    };
    let headers = response.headers_mut();
    if let Ok(date) = HeaderValue::from_str(&wire::http_date(answer.now)) {
        headers.insert("date", date);
    }
    if let Some(limit) = answer.rate_limit {
        let reset = answer.now.unix_micros.div_euclid(1_000_000)
            + i64::try_from(limit.reset_in.as_secs()).unwrap_or(i64::MAX / 2)
            + i64::from(limit.reset_in.subsec_nanos() > 0);
        for (name, value) in [
            ("x-ratelimit-limit", i64::from(limit.limit)),
            ("x-ratelimit-remaining", i64::from(limit.remaining)),
            ("x-ratelimit-reset", reset),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    response
}

async fn report(State(app): State<App>) -> Response<Body> {
    let report = app.session.report(app.session.elapsed());
    json_response(200, &serde_json::to_value(&report).unwrap_or(Value::Null))
}

/// A bot's claims, for the account its credentials name (the one
/// account keys have traded when it sends none).
async fn claims(State(app): State<App>, headers: HeaderMap, body: Body) -> Response<Body> {
    own_endpoint(
        &app,
        &headers,
        body,
        "/_fillproof/claims",
        MAX_CLAIMS_BODY_BYTES,
        |a, b, at| a.claims_reply(b, at),
    )
    .await
}

/// A bot's restart, for the account its credentials name (as `claims`).
async fn restart(State(app): State<App>, headers: HeaderMap, body: Body) -> Response<Body> {
    own_endpoint(
        &app,
        &headers,
        body,
        "/_fillproof/restart",
        MAX_API_BODY_BYTES,
        |a, _, at| a.restart_reply(at),
    )
    .await
}

/// A POST to one of fillproof's own per-account endpoints at `path`: its
/// body read (at most `limit` bytes), its account found, the request
/// logged, `answer` given and logged.
async fn own_endpoint(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    path: &str,
    limit: usize,
    answer: impl FnOnce(&Session, &[u8], Duration) -> Reply,
) -> Response<Body> {
    let body = match read_body(body, limit, app.timeouts.body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let account = match app.session.for_key(credentials(headers).as_deref()) {
        Ok(account) => account,
        Err(refusal) => return answer_json(&refusal),
    };
    let Some((seq, at)) = account.arrive("POST", path, "", &body) else {
        return shutting_down();
    };
    let reply = answer(&account, &body, at);
    account.answered(seq, &reply);
    answer_json(&reply)
}

async fn shutdown(State(app): State<App>) -> Response<Body> {
    let Some((seq, at)) = app.session.arrive_shutdown() else {
        return shutting_down();
    };
    // The session waits for the requests still on their way to land: that
    // work runs apart from the connection, so a client that hangs up
    // meanwhile still ends the session with its report.
    let session = Arc::clone(&app.session);
    let mut ending = Ending {
        work: Some(tokio::spawn(
            async move { session.shut_down(seq, at).await },
        )),
        stop: app.stop.clone(),
    };
    let Some(work) = ending.work.as_mut() else {
        return shutting_down();
    };
    let report = work.await;
    ending.work = None;
    let report = report.unwrap_or_else(|error| {
        tracing::error!(target: "fillproof::serve", %error, "shutdown task failed");
        Report::default()
    });
    let reply = report_reply(&report);
    app.stop.send_replace(Some(report));
    answer_json(&reply)
}

/// A shutdown's work, which outlives the request that asked for it:
/// dropped before the report was sent on (its client hung up), it sends
/// the report on itself once taken.
struct Ending {
    work: Option<tokio::task::JoinHandle<Report>>,
    stop: watch::Sender<Option<Report>>,
}

impl Drop for Ending {
    fn drop(&mut self) {
        // Outside a runtime (it is being dropped) nothing waits for it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some(work) = self.work.take() {
            let stop = self.stop.clone();
            runtime.spawn(async move {
                stop.send_replace(Some(work.await.unwrap_or_default()));
            });
        }
    }
}

/// A JSON reply of fillproof's own, with no broker headers.
fn answer_json(reply: &Reply) -> Response<Body> {
    match reply {
        Reply::Json { status, body } => json_response(*status, body),
        _ => json_response(500, &error_body(50_000_000, "internal server error")),
    }
}

/// The `trade_updates` websocket.
async fn stream(State(app): State<App>, upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(move |socket| async move {
        if let Err(error) = stream_session(socket, &app.session).await {
            tracing::debug!(target: "fillproof::serve", %error, "stream ended");
        }
    })
}

/// A frame's JSON, from a text or binary message.
fn frame_json(message: &Message) -> Option<Value> {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).ok(),
        Message::Binary(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

fn frame(value: &Value) -> Message {
    Message::Binary(Bytes::from(value.to_string()))
}

/// The account a stream's authentication names, in each form clients
/// send: `{"action":"authenticate","data":{"key_id","secret_key"}}`
/// (alpaca-py, the legacy SDKs), `{"action":"auth","key","secret"}`
/// (newer clients), or `{"action":"authenticate","data":{"oauth_token"}}`.
/// `None` when the message is no authentication; `Some(None)` when it is
/// one without complete credentials.
fn stream_credentials(value: &Value) -> Option<Option<String>> {
    fn text(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
    match value.get("action").and_then(Value::as_str)? {
        "authenticate" => {
            let data = value.get("data");
            let field = |name: &str| text(data.and_then(|d| d.get(name)));
            Some(
                match (field("key_id"), field("secret_key"), field("oauth_token")) {
                    (Some(key), Some(_), _) => account_key(key),
                    (_, _, Some(token)) => Some(oauth_account(token)),
                    _ => None,
                },
            )
        }
        "auth" => Some(
            text(value.get("key"))
                .filter(|_| text(value.get("secret")).is_some())
                .and_then(account_key),
        ),
        _ => None,
    }
}

/// Answers a client's close frame, as the protocol asks (a client left
/// without one sees the connection fail, 1006): the websocket queues the
/// answer when the close arrives and writes it on the next read, which
/// then finds the connection closed.
async fn answer_close(socket: &mut WebSocket) {
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.recv()).await;
}

async fn next_json(socket: &mut WebSocket) -> Result<Option<Value>, axum::Error> {
    loop {
        match tokio::time::timeout(STREAM_HANDSHAKE_TIMEOUT, socket.recv()).await {
            Err(_) | Ok(None) => return Ok(None),
            Ok(Some(message)) => {
                let message = message?;
                if matches!(message, Message::Close(_)) {
                    answer_close(socket).await;
                    return Ok(None);
                }
                if let Some(value) = frame_json(&message) {
                    return Ok(Some(value));
                }
            }
        }
    }
}

async fn stream_session(mut socket: WebSocket, front: &Arc<Session>) -> Result<(), axum::Error> {
    // Authenticate.
    let Some(auth) = next_json(&mut socket).await? else {
        return Ok(());
    };
    let action = auth
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("authenticate")
        .to_owned();
    let account = stream_credentials(&auth)
        .flatten()
        .and_then(|key| front.for_key(Some(&key)).ok());
    let ok = account.is_some();
    let status = if ok { "authorized" } else { "unauthorized" };
    socket
        .send(frame(&json!({
            "stream": "authorization",
            "data": { "status": status, "action": action },
        })))
        .await?;
    let Some(session) = account else {
        return socket.send(Message::Close(None)).await;
    };
    // Listen.
    loop {
        let Some(listen) = next_json(&mut socket).await? else {
            return Ok(());
        };
        let streams = listen
            .pointer("/data/streams")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if listen.get("action").and_then(Value::as_str) == Some("listen") {
            socket
                .send(frame(&json!({
                    "stream": "listening",
                    "data": { "streams": streams },
                })))
                .await?;
            if streams.iter().any(|s| s.as_str() == Some("trade_updates")) {
                break;
            }
        }
    }
    let mut updates = session.broker().subscribe();
    loop {
        tokio::select! {
            biased;
            item = updates.recv() => match item {
                Some(StreamItem::Update(mut update)) => {
                    let asset = session.asset_id(&update.order.symbol);
                    // Clients read execution ids as UUIDs (alpaca-py refuses
                    // anything else): derive one from the simulator's id.
                    update.execution_id = update
                        .execution_id
                        .as_deref()
                        .map(|id| session.execution_id(id));
                    socket.send(frame(&wire::trade_update_json(&update, &asset))).await?;
                }
                // The scenario's stream went down: so does the socket;
                // what happened in between is lost, as on the real stream.
                Some(StreamItem::Reconnected) | None => {
                    return socket.send(Message::Close(None)).await;
                }
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) => return Ok(()),
                Some(Ok(Message::Close(_))) => {
                    answer_close(&mut socket).await;
                    return Ok(());
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The real-time market data stream (see [`crate::feed`]): MessagePack
/// when the upgrade asks for it with its `Content-Type`, JSON otherwise.
async fn data_stream(
    State(app): State<App>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let encoding = Encoding::from_content_type(content_type);
    let by_headers = authorized(&headers);
    upgrade.on_upgrade(move |socket| async move {
        let open = DataStreamCount::open(&app.data_streams);
        let mut link = DataLink { socket, encoding };
        let ended = if open.is_none() {
            link.close_with(feed::error(406, "connection limit exceeded"))
                .await
        } else {
            data_session(&mut link, &app, by_headers).await
        };
        if let Err(error) = ended {
            tracing::debug!(target: "fillproof::serve", %error, "data stream ended");
        }
    })
}

/// One open market data stream, counted while it lives.
struct DataStreamCount(Arc<AtomicUsize>);

impl DataStreamCount {
    /// Counts a stream in; `None` when [`MAX_DATA_STREAMS`] are open.
    fn open(count: &Arc<AtomicUsize>) -> Option<Self> {
        let opened = count.fetch_add(1, Ordering::SeqCst);
        let counted = Self(Arc::clone(count));
        (opened < MAX_DATA_STREAMS).then_some(counted)
    }
}

impl Drop for DataStreamCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A market data stream's socket and the encoding it speaks.
struct DataLink {
    socket: WebSocket,
    encoding: Encoding,
}

impl DataLink {
    /// Sends `messages` in frames of at most [`FRAME_MESSAGES`].
    async fn send(&mut self, messages: &[Value]) -> Result<(), axum::Error> {
        for chunk in messages.chunks(FRAME_MESSAGES) {
            let bytes = self.encoding.encode(chunk);
            let message = match self.encoding {
                Encoding::MsgPack => Message::Binary(Bytes::from(bytes)),
                Encoding::Json => {
                    Message::Text(String::from_utf8_lossy(&bytes).into_owned().into())
                }
            };
            self.socket.send(message).await?;
        }
        Ok(())
    }

    /// Sends `last` and closes the socket.
    async fn close_with(&mut self, last: Value) -> Result<(), axum::Error> {
        self.send(&[last]).await?;
        self.socket.send(Message::Close(None)).await
    }
}

/// What woke a market data stream.
enum Wake {
    /// A client's frame, or `None` when the client went away.
    Frame(Option<Message>),
    /// Data is due.
    Due,
    /// The client did not authenticate in time.
    AuthTimeout,
    /// The session is over.
    Stopped,
}

/// Serves one market data stream: the welcome, then the client's messages
/// and the data due, until either side ends it, the client falls too far
/// behind, or the session stops.
async fn data_session(link: &mut DataLink, app: &App, by_headers: bool) -> Result<(), axum::Error> {
    let session = &app.session;
    let mut stop = app.stop.subscribe();
    let mut feed = Feed::default();
    link.send(&[feed::success("connected")]).await?;
    if by_headers {
        feed.authenticate();
        link.send(&[feed::success("authenticated")]).await?;
    }
    let auth_timer = fillproof_engine::clock::sleep(STREAM_HANDSHAKE_TIMEOUT);
    tokio::pin!(auth_timer);
    let mut sent_up_to = session.elapsed();
    loop {
        let due_in = feed
            .next_due(session, sent_up_to)
            .map(|at| at.saturating_sub(session.elapsed()));
        let wake = tokio::select! {
            frame = link.socket.recv() => Wake::Frame(frame.and_then(Result::ok)),
            () = async {
                match due_in {
                    Some(wait) => fillproof_engine::clock::sleep(wait).await,
                    None => std::future::pending().await,
                }
            } => Wake::Due,
            () = &mut auth_timer, if !feed.authenticated() => Wake::AuthTimeout,
            _ = stop.changed() => Wake::Stopped,
        };
        // What was due before anything else happens: a change of
        // subscription applies from now on.
        let now = session.elapsed();
        match feed.due(session, sent_up_to, now) {
            Ok(messages) => link.send(&messages).await?,
            Err(feed::SlowClient) => return link.close_with(feed::error(407, "slow client")).await,
        }
        sent_up_to = now;
        let frame = match wake {
            Wake::Due => continue,
            Wake::AuthTimeout => return link.close_with(feed::error(404, "auth timeout")).await,
            Wake::Frame(Some(Message::Close(_))) => {
                answer_close(&mut link.socket).await;
                return Ok(());
            }
            Wake::Stopped | Wake::Frame(None) => {
                return link.socket.send(Message::Close(None)).await;
            }
            Wake::Frame(Some(frame)) => frame,
        };
        let message = match &frame {
            Message::Text(text) => feed::decode(text.as_bytes(), false),
            Message::Binary(bytes) => feed::decode(bytes, true),
            _ => continue,
        };
        let answer = feed.handle(message.as_ref());
        for reply in &answer.replies {
            link.send(std::slice::from_ref(reply)).await?;
        }
        if answer.close {
            return link.socket.send(Message::Close(None)).await;
        }
    }
}

/// A request log for [`spawn_on_thread`]: where to write, and its header.
pub type LogSink = (Box<dyn std::io::Write + Send>, crate::log::LogHeader);

/// Serves `scenario` with `seed` on 127.0.0.1 (a free port) from a thread
/// of its own with its own current-thread runtime, as `fillproof serve`
/// does, logging requests to `log` when given: for a test suite that
/// starts a server beside the bot it tests. Time zero is the log header's
/// `epoch_unix_micros` when it has one, else the scenario's fixed epoch.
/// The handle yields the report once a client posts `/_fillproof/shutdown`.
///
/// # Errors
///
/// No port can be bound, the runtime cannot start, the scenario's
/// `expect:` block does not parse, or the log's header cannot be written.
pub fn spawn_on_thread(
    scenario: fillproof_simulator::Scenario,
    seed: u64,
    log: Option<LogSink>,
) -> std::io::Result<(std::net::SocketAddr, std::thread::JoinHandle<Report>)> {
    spawn_on_thread_with(scenario, seed, log, Timeouts::default())
}

/// [`spawn_on_thread`], letting go of slow and idle clients after
/// `timeouts`.
///
/// # Errors
///
/// As [`spawn_on_thread`].
pub fn spawn_on_thread_with(
    scenario: fillproof_simulator::Scenario,
    seed: u64,
    log: Option<LogSink>,
    timeouts: Timeouts,
) -> std::io::Result<(std::net::SocketAddr, std::thread::JoinHandle<Report>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        runtime.block_on(async move {
            let started = (|| {
                let listener = TcpListener::from_std(listener)?;
                let epoch = log
                    .as_ref()
                    .and_then(|(_, header)| header.epoch_unix_micros);
                let session =
                    Session::starting_at(&scenario, seed, epoch).map_err(std::io::Error::other)?;
                if let Some((sink, header)) = log {
                    session.log_to(sink, &header)?;
                }
                Ok::<_, std::io::Error>((listener, session))
            })();
            match started {
                Ok((listener, session)) => {
                    let _ = ready_tx.send(Ok(()));
                    serve_with(listener, session, std::future::pending(), timeouts).await
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                    Report::default()
                }
            }
        })
    });
    ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the server thread ended before it started"))??;
    Ok((address, handle))
}
