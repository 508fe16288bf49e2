//! Each API key is an account of its own, over real sockets: its orders,
//! positions, stream and rate limit its own, another key's orders 404,
//! the report per key and in total; the credentials each SDK sends; and
//! the server letting go of idle and slow clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fillproof_serve::{LogHeader, Report, Session, Timeouts};
use fillproof_simulator::Scenario;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn scenario(extra: &str) -> Scenario {
    let text = format!(
        "version: 1\nname: accounts\nseed: 4\nworkload:\n  orders: 20\n  symbols: [SPY]\n  qty: 5\n  type: market\n  reference_price: {{SPY: \"590.10\"}}\nbroker:\n  fill: {{delay: {{uniform: [40ms, 50ms]}}}}\n{extra}\n"
    );
    Scenario::parse(text.as_bytes(), "accounts.yaml", None).unwrap_or_else(|e| panic!("{e}"))
}

fn start_with(
    scenario: Scenario,
    log: Option<PathBuf>,
    timeouts: Timeouts,
) -> (SocketAddr, std::thread::JoinHandle<Report>) {
    let log = log.map(|path| {
        let header = LogHeader::new("accounts.yaml", b"the scenario's bytes", scenario.seed);
        let file = std::fs::File::create(path).expect("log file");
        (Box::new(file) as Box<dyn std::io::Write + Send>, header)
    });
    let seed = scenario.seed;
    fillproof_serve::spawn_on_thread_with(scenario, seed, log, timeouts).expect("server starts")
}

fn start(scenario: Scenario) -> (SocketAddr, std::thread::JoinHandle<Report>) {
    start_with(scenario, None, Timeouts::default())
}

fn client<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(work)
}

/// How a request names its account.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Key(&'a str),
    Bearer(&'a str),
    None,
}

impl Auth<'_> {
    fn headers(self) -> String {
        match self {
            Auth::Key(key) => format!("APCA-API-KEY-ID: {key}\r\nAPCA-API-SECRET-KEY: s\r\n"),
            Auth::Bearer(token) => format!("Authorization: Bearer {token}\r\n"),
            Auth::None => String::new(),
        }
    }
}

/// One HTTP/1.1 request; its status and JSON body (`Null` when empty).
async fn http(
    address: SocketAddr,
    auth: Auth<'_>,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        auth.headers(),
        body.len()
    );
    stream.write_all(text.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The request log at `path` replayed on virtual time against a fresh
/// session of `scenario`: the report it gives.
fn replay(path: &std::path::Path, scenario: &Scenario) -> Report {
    let log = fillproof_serve::read_log(path).expect("log reads");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(async {
            let session = Session::new(scenario, log.header.seed).expect("session");
            fillproof_serve::replay(Arc::clone(&session), &log)
                .await
                .expect("replays")
        })
}

fn order_body(client_order_id: &str) -> String {
    format!(
        r#"{{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day","client_order_id":"{client_order_id}"}}"#
    )
}

async fn submit(address: SocketAddr, auth: Auth<'_>, client_order_id: &str) -> String {
    let (status, order) = http(
        address,
        auth,
        "POST",
        "/v2/orders",
        &order_body(client_order_id),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    order["id"].as_str().expect("order id").to_owned()
}

async fn shutdown(address: SocketAddr) -> Value {
    let (status, report) = http(address, Auth::None, "POST", "/_fillproof/shutdown", "").await;
    assert_eq!(status, 200, "{report}");
    report
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect()
}

/// Two keys trade two accounts: each lists, reads and holds only its own
/// orders and position, another key's order id answers 404 as an unknown
/// order does, and the report gives each key's figures and their total.
#[test]
fn each_key_is_an_account_of_its_own() {
    let (address, server) = start(scenario(""));
    let report = client(async move {
        let a = submit(address, Auth::Key("alice"), "a-1").await;
        let b = submit(address, Auth::Key("bob"), "b-1").await;
        let b2 = submit(address, Auth::Key("bob"), "b-2").await;
        assert_ne!(a, b, "two accounts never share an order id");
        fillproof_engine::clock::sleep(Duration::from_millis(200)).await;
        let (_, alices) = http(
            address,
            Auth::Key("alice"),
            "GET",
            "/v2/orders?status=all",
            "",
        )
        .await;
        assert_eq!(ids(&alices), vec![a.as_str()]);
        let (_, bobs) = http(
            address,
            Auth::Key("bob"),
            "GET",
            "/v2/orders?status=all",
            "",
        )
        .await;
        assert_eq!(ids(&bobs).len(), 2);
        assert!(ids(&bobs).contains(&b.as_str()) && ids(&bobs).contains(&b2.as_str()));
        let (status, body) = http(
            address,
            Auth::Key("alice"),
            "GET",
            &format!("/v2/orders/{b}"),
            "",
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (404, Some(40_410_000)),
            "{body}"
        );
        let (status, _) = http(
            address,
            Auth::Key("bob"),
            "DELETE",
            &format!("/v2/orders/{a}"),
            "",
        )
        .await;
        assert_eq!(status, 404, "a key cannot cancel another account's order");
        let (status, _) = http(
            address,
            Auth::Key("alice"),
            "GET",
            "/v2/orders:by_client_order_id?client_order_id=b-1",
            "",
        )
        .await;
        assert_eq!(status, 404);
        let (_, position) = http(address, Auth::Key("alice"), "GET", "/v2/positions/SPY", "").await;
        assert_eq!(position["qty"], "5", "{position}");
        let (_, position) = http(address, Auth::Key("bob"), "GET", "/v2/positions/SPY", "").await;
        assert_eq!(position["qty"], "10", "{position}");
        let (_, activities) = http(
            address,
            Auth::Key("alice"),
            "GET",
            "/v2/account/activities/FILL",
            "",
        )
        .await;
        assert_eq!(activities.as_array().map(Vec::len), Some(1), "{activities}");
        shutdown(address).await
    });
    let _ = server.join();
    assert_three_orders_in_two_accounts(&report);
}

/// The report of `each_key_is_an_account_of_its_own`: the total, each
/// key's own figures, and every order naming its account.
fn assert_three_orders_in_two_accounts(report: &Value) {
    assert_eq!(report["orders_placed"], 3);
    assert_eq!(report["filled_orders"], 3);
    let accounts = report["accounts"].as_array().expect("per-key reports");
    let per_key: Vec<(&str, u64)> = accounts
        .iter()
        .map(|a| {
            (
                a["key"].as_str().unwrap_or(""),
                a["orders_placed"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(per_key, vec![("alice", 1), ("bob", 2)]);
    let owners: Vec<&str> = report["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter_map(|o| o["account"].as_str())
        .collect();
    assert_eq!(owners.iter().filter(|k| **k == "bob").count(), 2);
    assert_eq!(owners.iter().filter(|k| **k == "alice").count(), 1);
}

/// Claims are judged in the account whose key posts them; the session's
/// total claims figures stay absent until every account that placed an
/// order has claimed (a total over part of the accounts would pass a bot
/// that never said what it saw), and a keyless claim is refused while
/// several accounts trade.
#[test]
fn claims_are_judged_per_key_and_the_total_waits_for_every_account() {
    let (address, server) = start(scenario("expect:\n  missed_fills: \"== 0\""));
    let report = client(async move {
        submit(address, Auth::Key("alice"), "a-1").await;
        submit(address, Auth::Key("bob"), "b-1").await;
        fillproof_engine::clock::sleep(Duration::from_millis(200)).await;
        let claims = r#"{"filled_qty": {"a-1": 5}}"#;
        let (status, body) = http(address, Auth::None, "POST", "/_fillproof/claims", claims).await;
        assert_eq!(
            status, 422,
            "which account a keyless claim is for cannot be told: {body}"
        );
        let (status, _) = http(
            address,
            Auth::Key("alice"),
            "POST",
            "/_fillproof/claims",
            claims,
        )
        .await;
        assert_eq!(status, 200);
        let (_, early) = http(address, Auth::None, "GET", "/_fillproof/report", "").await;
        assert_eq!(
            early["missed_fills"],
            Value::Null,
            "bob has not claimed: {early}"
        );
        assert_eq!(early["passed"], false, "an absent figure never holds");
        // Bob claims alice's order id: in his account it is an order he
        // never had (invented), and his own fill is missed.
        let (status, _) = http(
            address,
            Auth::Key("bob"),
            "POST",
            "/_fillproof/claims",
            claims,
        )
        .await;
        assert_eq!(status, 200);
        shutdown(address).await
    });
    let _ = server.join();
    let accounts = report["accounts"].as_array().expect("per-key reports");
    assert_eq!(accounts[0]["missed_fills"], 0, "alice saw her fill");
    assert_eq!(accounts[1]["missed_fills"], 1, "bob missed his");
    assert_eq!(accounts[1]["false_positives"], 1, "and invented one");
    assert_eq!(report["missed_fills"], 1);
    assert_eq!(report["false_positives"], 1);
    assert_eq!(report["detection_rate"], 0.5);
    assert_eq!(report["passed"], false);
}

/// A key's trade_updates stream carries its own account's orders only.
#[test]
fn a_key_hears_only_its_own_trade_updates() {
    let (address, server) = start(scenario("  stream: {}"));
    client(async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/stream/"))
            .await
            .expect("the legacy SDK's path with a trailing slash connects");
        let auth =
            json!({"action": "authenticate", "data": {"key_id": "alice", "secret_key": "s"}});
        socket
            .send(Message::text(auth.to_string()))
            .await
            .expect("send");
        let listen = json!({"action": "listen", "data": {"streams": ["trade_updates"]}});
        socket
            .send(Message::text(listen.to_string()))
            .await
            .expect("send");
        let mut seen = Vec::new();
        let first_two = async {
            while seen.len() < 2 {
                let Some(Ok(message)) = socket.next().await else {
                    break;
                };
                let value: Value = serde_json::from_slice(&message.into_data()).unwrap_or_default();
                seen.push(value);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), first_two)
            .await
            .expect("handshake");
        assert_eq!(seen[0]["data"]["status"], "authorized");
        submit(address, Auth::Key("bob"), "b-1").await;
        submit(address, Auth::Key("alice"), "a-1").await;
        let mut orders = Vec::new();
        let updates = async {
            while let Some(Ok(message)) = socket.next().await {
                let value: Value = serde_json::from_slice(&message.into_data()).unwrap_or_default();
                orders.push(
                    value["data"]["order"]["client_order_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                );
                if value["data"]["event"] == "fill" {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), updates).await;
        assert!(!orders.is_empty(), "alice hears her own order");
        assert!(
            orders.iter().all(|id| id == "a-1"),
            "alice heard {orders:?}"
        );
        shutdown(address).await;
    });
    let _ = server.join();
}

/// Each key has its own place in the broker's rate limit, as each Alpaca
/// key has its own 200 a minute.
#[test]
fn each_key_has_a_rate_limit_of_its_own() {
    let (address, server) = start(scenario("  rate_limit: {requests: 3, per: 60s}"));
    client(async move {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(
                http(address, Auth::Key("alice"), "GET", "/v2/orders", "")
                    .await
                    .0,
            );
        }
        assert_eq!(statuses, vec![200, 200, 200, 429]);
        let (status, _) = http(address, Auth::Key("bob"), "GET", "/v2/orders", "").await;
        assert_eq!(status, 200, "bob's budget is his own");
        shutdown(address).await;
    });
    let _ = server.join();
}

/// `account.per_key: false`: every key trades the one account.
#[test]
fn a_scenario_may_have_every_key_trade_one_account() {
    let scenario = scenario("  account: {per_key: false}");
    let (address, server) = start(scenario);
    let report = client(async move {
        let a = submit(address, Auth::Key("alice"), "a-1").await;
        let (status, order) = http(
            address,
            Auth::Key("bob"),
            "GET",
            &format!("/v2/orders/{a}"),
            "",
        )
        .await;
        assert_eq!(
            (status, order["client_order_id"].as_str()),
            (200, Some("a-1"))
        );
        shutdown(address).await
    });
    let _ = server.join();
    assert_eq!(report["orders_placed"], 1);
    assert!(report.get("accounts").is_none(), "one account: {report}");
}

/// An OAuth bearer token names an account as a key id does, and the
/// request log keeps a digest of it, never the token.
#[test]
fn a_bearer_token_names_an_account_and_stays_out_of_the_log() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("session.jsonl");
    let (address, server) = start_with(scenario(""), Some(path.clone()), Timeouts::default());
    client(async move {
        let id = submit(address, Auth::Bearer("secret-token-1"), "t-1").await;
        let (status, _) = http(
            address,
            Auth::Bearer("secret-token-1"),
            "GET",
            &format!("/v2/orders/{id}"),
            "",
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = http(
            address,
            Auth::Bearer("another-token"),
            "GET",
            &format!("/v2/orders/{id}"),
            "",
        )
        .await;
        assert_eq!(status, 404, "another token is another account");
        let (status, body) = http(address, Auth::Bearer(""), "GET", "/v2/orders", "").await;
        assert_eq!((status, body["code"].as_i64()), (401, Some(40_110_000)));
        shutdown(address).await;
    });
    let _ = server.join();
    let log = std::fs::read_to_string(&path).expect("log");
    assert!(!log.contains("secret-token-1"), "the token is not logged");
    assert!(
        log.contains("\"key\":\"oauth:"),
        "the account is named by a digest"
    );
}

/// A session in which two keys traded replays on virtual time to the very
/// same report: each logged request goes to its key's account.
#[test]
fn a_session_of_several_keys_replays_to_the_same_report() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("session.jsonl");
    let (address, server) = start_with(scenario(""), Some(path.clone()), Timeouts::default());
    client(async move {
        for i in 0..3 {
            submit(address, Auth::Key("alice"), &format!("a-{i}")).await;
            submit(address, Auth::Key("bob"), &format!("b-{i}")).await;
        }
        fillproof_engine::clock::sleep(Duration::from_millis(100)).await;
        let claims = r#"{"filled_qty": {"a-0": 5, "a-1": 5, "a-2": 5}}"#;
        http(
            address,
            Auth::Key("alice"),
            "POST",
            "/_fillproof/claims",
            claims,
        )
        .await;
        shutdown(address).await;
    });
    let live = server.join().expect("server");
    let replayed = replay(&path, &scenario(""));
    assert_eq!(replayed, live);
    assert_eq!(live.accounts.len(), 2);
}

/// Past [`fillproof_serve::MAX_ACCOUNTS`] keys a new key is refused 403,
/// and the keys already trading go on.
#[test]
fn keys_past_the_bound_are_refused() {
    let (address, server) = start(scenario(""));
    client(async move {
        for i in 0..fillproof_serve::MAX_ACCOUNTS {
            let key = format!("key-{i}");
            let (status, _) = http(address, Auth::Key(&key), "GET", "/v2/clock", "").await;
            assert_eq!(status, 200, "key {i}");
        }
        let (status, body) = http(address, Auth::Key("one-too-many"), "GET", "/v2/clock", "").await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains("accounts"),
            "{body}"
        );
        let (status, _) = http(address, Auth::Key("key-0"), "GET", "/v2/clock", "").await;
        assert_eq!(status, 200);
        shutdown(address).await;
    });
    let _ = server.join();
}

/// Connections that send nothing, or stop halfway through a request's
/// head, are closed once idle past the timeout; a body that stops coming
/// is answered 408; the server goes on serving.
#[test]
fn idle_and_slow_clients_are_let_go() {
    let timeouts = Timeouts {
        idle: Duration::from_millis(500),
        body: Duration::from_millis(500),
    };
    let (address, server) = start_with(scenario(""), None, timeouts);
    client(async move {
        let mut idle = Vec::new();
        for _ in 0..200 {
            idle.push(TcpStream::connect(address).await.expect("connect"));
        }
        let mut kept_alive = TcpStream::connect(address).await.expect("connect");
        kept_alive
            .write_all(b"GET /v2/clock HTTP/1.1\r\nHost: x\r\nAPCA-API-KEY-ID: k\r\nAPCA-API-SECRET-KEY: s\r\n\r\n")
            .await
            .expect("write");
        let mut half = TcpStream::connect(address).await.expect("connect");
        half.write_all(b"GET /v2/clock HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let mut slow = TcpStream::connect(address).await.expect("connect");
        slow.write_all(
            b"POST /v2/orders HTTP/1.1\r\nHost: x\r\nAPCA-API-KEY-ID: k\r\nAPCA-API-SECRET-KEY: s\r\nContent-Length: 100\r\n\r\n{\"symbol\":",
        )
        .await
        .expect("write");
        let closed = |mut stream: TcpStream| async move {
            let mut buffer = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer))
                .await
                .map(|_| String::from_utf8_lossy(&buffer).into_owned())
        };
        for stream in idle {
            let answer = closed(stream).await.expect("an idle connection is closed");
            assert_eq!(answer, "", "closed without a word");
        }
        let answer = closed(kept_alive)
            .await
            .expect("a kept-alive connection left idle is closed");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "its request was answered first: {answer}"
        );
        assert!(closed(half).await.is_ok(), "a half-sent head is let go");
        let answer = closed(slow).await.expect("a stalled body is let go");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        let (status, _) = http(address, Auth::Key("k"), "GET", "/v2/clock", "").await;
        assert_eq!(status, 200, "the server goes on serving");
        shutdown(address).await;
    });
    let _ = server.join();
}

/// An API body over a megabyte is refused 413 unread, and a claim naming
/// a client order id longer than the broker takes is refused naming it.
#[test]
fn bodies_and_claim_ids_are_bounded() {
    let (address, server) = start(scenario(""));
    client(async move {
        let huge = format!(r#"{{"symbol":"{}"}}"#, "X".repeat(2 << 20));
        let (status, _) = http(address, Auth::Key("k"), "POST", "/v2/orders", &huge).await;
        assert_eq!(status, 413);
        let long = "c".repeat(129);
        let claims = format!(r#"{{"filled_qty": {{"{long}": 5}}}}"#);
        let (status, body) = http(
            address,
            Auth::Key("k"),
            "POST",
            "/_fillproof/claims",
            &claims,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("129 characters"),
            "{body}"
        );
        shutdown(address).await;
    });
    let _ = server.join();
}

/// A client that closes its trade_updates stream is answered with a close
/// frame, as the websocket protocol asks (a client left without one sees
/// the connection fail, and some wait on it), during the handshake and
/// while listening.
#[test]
fn the_stream_answers_a_close_with_a_close() {
    let (address, server) = start(scenario("  stream: {}"));
    client(async move {
        for listening in [false, true] {
            let (mut socket, _) =
                tokio_tungstenite::connect_async(format!("ws://{address}/stream"))
                    .await
                    .expect("connects");
            if listening {
                let auth = json!({"action": "auth", "key": "k", "secret": "s"});
                socket
                    .send(Message::text(auth.to_string()))
                    .await
                    .expect("send");
                let listen = json!({"action": "listen", "data": {"streams": ["trade_updates"]}});
                socket
                    .send(Message::text(listen.to_string()))
                    .await
                    .expect("send");
                for _ in 0..2 {
                    let _ = socket.next().await;
                }
            }
            socket.send(Message::Close(None)).await.expect("close");
            let answer = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
            assert!(
                matches!(answer, Ok(Some(Ok(Message::Close(_))))),
                "listening {listening}: {answer:?}"
            );
        }
        shutdown(address).await;
    });
    let _ = server.join();
}

/// The session passes only when every account does: a bot that missed
/// its one fill fails it, though pooled with a bot that saw ten its
/// detection rate would pass (10 of 11 against `>= 0.9`).
#[test]
fn one_failing_account_fails_the_session() {
    let (address, server) = start(scenario("expect:\n  detection_rate: \">= 0.9\""));
    let report = client(async move {
        submit(address, Auth::Key("alice"), "a-0").await;
        let mut bobs = Vec::new();
        for i in 0..10 {
            let cid = format!("b-{i}");
            submit(address, Auth::Key("bob"), &cid).await;
            bobs.push(format!("\"{cid}\": 5"));
        }
        fillproof_engine::clock::sleep(Duration::from_millis(300)).await;
        let alice = r#"{"filled_qty": {"a-0": 0}}"#;
        http(
            address,
            Auth::Key("alice"),
            "POST",
            "/_fillproof/claims",
            alice,
        )
        .await;
        let bob = format!(r#"{{"filled_qty": {{{}}}}}"#, bobs.join(","));
        http(
            address,
            Auth::Key("bob"),
            "POST",
            "/_fillproof/claims",
            &bob,
        )
        .await;
        shutdown(address).await
    });
    let _ = server.join();
    let detection = report["detection_rate"].as_f64().unwrap_or_default();
    assert!((detection - 10.0 / 11.0).abs() < 1e-9, "{report}");
    assert_eq!(
        report["expectations"][0]["ok"], true,
        "the pooled rate holds"
    );
    assert_eq!(report["accounts"][0]["passed"], false, "alice's does not");
    assert_eq!(report["passed"], false, "so the session fails");
}

/// A key that only opened a stream, or whose request came during the
/// shutdown, left nothing in the request log: it takes no part in the
/// report, a keyless claim still finds the one account that traded, and
/// the session replays to the same report.
#[test]
fn a_key_that_only_opened_a_stream_takes_no_part() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("session.jsonl");
    let (address, server) = start_with(
        scenario("  stream: {}"),
        Some(path.clone()),
        Timeouts::default(),
    );
    client(async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/stream"))
            .await
            .expect("connects");
        let auth = json!({"action": "auth", "key": "watcher", "secret": "s"});
        socket
            .send(Message::text(auth.to_string()))
            .await
            .expect("send");
        let _ = socket.next().await;
        submit(address, Auth::Key("trader"), "t-0").await;
        fillproof_engine::clock::sleep(Duration::from_millis(200)).await;
        let claims = r#"{"filled_qty": {"t-0": 5}}"#;
        let (status, body) = http(address, Auth::None, "POST", "/_fillproof/claims", claims).await;
        assert_eq!(status, 200, "one account traded: {body}");
        shutdown(address).await;
    });
    let live = server.join().expect("server");
    assert!(live.accounts.is_empty(), "{:?}", live.accounts);
    assert_eq!(live.missed_fills, Some(0));
    let replayed = replay(&path, &scenario("  stream: {}"));
    assert_eq!(replayed, live);
}

/// Every id an account is given is its own: the account's id and number,
/// its watchlists' ids, the client order ids serve makes up; another
/// key's watchlist id answers 404 as an unknown one does.
#[test]
fn every_id_an_account_is_given_is_its_own() {
    let (address, server) = start(scenario(""));
    client(async move {
        let (_, a) = http(address, Auth::Key("alice"), "GET", "/v2/account", "").await;
        let (_, b) = http(address, Auth::Key("bob"), "GET", "/v2/account", "").await;
        assert_ne!(a["id"], b["id"]);
        assert_ne!(a["account_number"], b["account_number"]);
        let list = r#"{"name":"mine","symbols":["SPY"]}"#;
        let (_, a_list) = http(address, Auth::Key("alice"), "POST", "/v2/watchlists", list).await;
        let (_, b_list) = http(address, Auth::Key("bob"), "POST", "/v2/watchlists", list).await;
        assert_ne!(a_list["id"], b_list["id"]);
        let a_id = a_list["id"].as_str().expect("id");
        let (status, _) = http(
            address,
            Auth::Key("bob"),
            "DELETE",
            &format!("/v2/watchlists/{a_id}"),
            "",
        )
        .await;
        assert_eq!(status, 404);
        let body = r#"{"symbol":"SPY","qty":1,"side":"buy","type":"market","time_in_force":"day"}"#;
        let (_, a_order) = http(address, Auth::Key("alice"), "POST", "/v2/orders", body).await;
        let (_, b_order) = http(address, Auth::Key("bob"), "POST", "/v2/orders", body).await;
        assert_ne!(a_order["client_order_id"], b_order["client_order_id"]);
        shutdown(address).await;
    });
    let _ = server.join();
}

/// A session's bounds are the session's, whichever accounts spend them:
/// restarts from two keys count against the one bound.
#[test]
fn the_sessions_bounds_count_every_account() {
    let (address, server) = start(scenario(""));
    client(async move {
        for i in 0..fillproof_serve::MAX_RESTARTS {
            let key = if i % 2 == 0 { "alice" } else { "bob" };
            let (status, _) =
                http(address, Auth::Key(key), "POST", "/_fillproof/restart", "").await;
            assert_eq!(status, 200, "restart {i}");
        }
        let (status, body) = http(
            address,
            Auth::Key("carol"),
            "POST",
            "/_fillproof/restart",
            "",
        )
        .await;
        assert_eq!(status, 422, "{body}");
        shutdown(address).await;
    });
    let _ = server.join();
}

/// A key id longer than 128 characters, or in the form OAuth tokens'
/// accounts are named by, is not authorized: no key id can reach a
/// token's account.
#[test]
fn key_ids_are_bounded_and_cannot_take_a_tokens_account() {
    let (address, server) = start(scenario(""));
    client(async move {
        let long = "k".repeat(129);
        let (status, _) = http(address, Auth::Key(&long), "GET", "/v2/clock", "").await;
        assert_eq!(status, 401);
        let (status, _) = http(address, Auth::Key(&"k".repeat(128)), "GET", "/v2/clock", "").await;
        assert_eq!(status, 200);
        let (status, _) = http(
            address,
            Auth::Key("oauth:0123456789abcdef"),
            "GET",
            "/v2/clock",
            "",
        )
        .await;
        assert_eq!(status, 401);
        shutdown(address).await;
    });
    let _ = server.join();
}

/// Crypto market data needs no keys, as on Alpaca (the JS SDK sends
/// none); every other route still does. A feature serve does not model
/// is refused 403 naming it, never a 404.
#[test]
fn crypto_data_needs_no_keys_and_unmodelled_features_are_refused() {
    let text = "version: 1\nname: crypto\nseed: 4\nworkload:\n  orders: 2\n  symbols: [SPY, BTC/USD]\n  qty: 1\n  type: market\n  reference_price: {SPY: \"590.10\", BTC/USD: \"97000\"}\n";
    let scenario =
        Scenario::parse(text.as_bytes(), "crypto.yaml", None).unwrap_or_else(|e| panic!("{e}"));
    let (address, server) = start(scenario);
    client(async move {
        let path = "/v1beta3/crypto/us/latest/quotes?symbols=BTC%2FUSD";
        let (status, quotes) = http(address, Auth::None, "GET", path, "").await;
        assert_eq!(status, 200, "{quotes}");
        assert!(quotes["quotes"]["BTC/USD"]["ap"].is_number(), "{quotes}");
        let (status, _) = http(
            address,
            Auth::None,
            "GET",
            "/v2/stocks/SPY/quotes/latest",
            "",
        )
        .await;
        assert_eq!(status, 401, "stock data needs keys");
        let (status, _) = http(address, Auth::None, "GET", "/v2/orders", "").await;
        assert_eq!(status, 401);
        for (method, path) in [
            ("GET", "/v2/wallets"),
            ("GET", "/v2beta1/events/activities"),
            ("POST", "/v2/positions/SPY261218C00600000/do-not-exercise"),
            ("GET", "/v1beta1/forex/latest/rates?currency_pairs=USDJPY"),
        ] {
            let (status, body) = http(address, Auth::Key("k"), method, path, "").await;
            assert_eq!(
                (status, body["code"].as_i64()),
                (403, Some(40_310_000)),
                "{path}: {body}"
            );
        }
        shutdown(address).await;
    });
    let _ = server.join();
}
