//! `serve` over real sockets on loopback: faults that close a connection
//! unanswered, clients that hang up or flood, and a logged session that
//! replays on virtual time to the very same report.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fillproof_serve::{LogHeader, Report, Session};
use fillproof_simulator::Scenario;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn scenario(broker: &str) -> Scenario {
    let text = format!(
        "version: 1\nname: http\nseed: 4\nworkload:\n  orders: 200\n  symbols: [SPY]\n  qty: 5\n  type: market\n  reference_price: {{SPY: \"590.10\"}}\nbroker:\n{broker}\n"
    );
    Scenario::parse(text.as_bytes(), "http.yaml", None).unwrap_or_else(|e| panic!("{e}"))
}

/// A server as `fillproof serve` runs one, logging to `log` when given.
fn start(
    scenario: Scenario,
    log: Option<PathBuf>,
) -> (SocketAddr, std::thread::JoinHandle<Report>) {
    let log = log.map(|path| {
        let header = LogHeader::new("http.yaml", b"the scenario's bytes", scenario.seed);
        let file = std::fs::File::create(path).expect("log file");
        (Box::new(file) as Box<dyn std::io::Write + Send>, header)
    });
    let seed = scenario.seed;
    fillproof_serve::spawn_on_thread(scenario, seed, log).expect("server starts")
}

/// Runs a client on a runtime of its own, on the real clock.
fn client<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(work)
}

/// An authenticated HTTP/1.1 request, as a client writes it.
fn request_text(method: &str, path: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAPCA-API-KEY-ID: k\r\nAPCA-API-SECRET-KEY: s\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One HTTP/1.1 request; the status and body, or `None` when the server
/// closed the connection without a byte.
async fn http(address: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(request_text(method, path, body).as_bytes())
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    if answer.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Some((status, body))
}

fn order_body(client_order_id: &str) -> String {
    format!(
        r#"{{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day","client_order_id":"{client_order_id}"}}"#
    )
}

async fn shutdown(address: SocketAddr) {
    assert_eq!(
        http(address, "POST", "/_fillproof/shutdown", "")
            .await
            .map(|a| a.0),
        Some(200)
    );
}

/// A lost response closes the connection with no answer at all, after the
/// scenario's delay, and the order it placed stands; a request without
/// keys is refused with Alpaca's 401.
#[test]
fn lost_response_closes_the_connection_and_the_order_stands() {
    let (address, server) = start(
        scenario("  faults:\n    submit: {lost_response: 1, timeout_after: 100ms}"),
        None,
    );
    client(async {
        assert_eq!(
            http(address, "POST", "/v2/orders", &order_body("lost-0")).await,
            None
        );
        let found = http(
            address,
            "GET",
            "/v2/orders:by_client_order_id?client_order_id=lost-0",
            "",
        )
        .await;
        assert_eq!(found.map(|a| a.0), Some(200));
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream
            .write_all(b"GET /v2/account HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains(r#""code":40110000"#), "{answer}");
        shutdown(address).await;
    });
    let report = server.join().expect("report");
    assert_eq!(report.orders_placed, 1);
    assert_eq!(report.faults_injected.get("lost_response"), Some(&1));
}

/// A client that hangs up while its submit is on its way loses nothing:
/// the broker still applies it, and the order can be read afterwards.
#[test]
fn client_hanging_up_mid_request_loses_no_ledger_state() {
    let (address, server) = start(
        scenario("  latency: {submit: {request: 150ms, response: 10ms}}"),
        None,
    );
    client(async {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let body = order_body("gone-0");
        let request = request_text("POST", "/v2/orders", &body);
        stream.write_all(request.as_bytes()).await.expect("write");
        drop(stream);
        // The submit lands 150 ms after it arrived, on the real clock: read
        // until it shows (a busy machine may take longer), at most 10 s.
        let mut found = None;
        for _ in 0..50 {
            fillproof_engine::clock::sleep(Duration::from_millis(200)).await;
            found = http(
                address,
                "GET",
                "/v2/orders:by_client_order_id?client_order_id=gone-0",
                "",
            )
            .await
            .map(|a| a.0);
            if found == Some(200) {
                break;
            }
        }
        assert_eq!(found, Some(200));
        shutdown(address).await;
    });
    assert_eq!(server.join().expect("report").orders_placed, 1);
}

/// A flood of concurrent submits against a rate limit: every request is
/// answered, and the ledger holds exactly the orders whose submits were
/// answered 200.
#[test]
fn a_flood_is_answered_and_the_ledger_matches_the_answers() {
    let (address, server) = start(
        scenario(
            // An account that carries the flood ($442,575 of buys): the
            // test is of the rate limit, not of buying power.
            "  latency: {submit: {uniform: [1ms, 20ms]}}\n  rate_limit: {requests: 50, per: 1s}\n  account: {buying_power: \"1000000\"}",
        ),
        None,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let accepted = runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..150 {
            tasks.push(tokio::spawn(async move {
                http(
                    address,
                    "POST",
                    "/v2/orders",
                    &order_body(&format!("flood-{i}")),
                )
                .await
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.expect("task").map(|a| a.0));
        }
        shutdown(address).await;
        statuses
    });
    assert!(
        accepted.iter().all(|s| matches!(s, Some(200 | 429))),
        "{accepted:?}"
    );
    let ok = accepted.iter().filter(|s| **s == Some(200)).count() as u64;
    let report = server.join().expect("report");
    assert!(
        report.rate_limited_calls > 0,
        "the flood met the rate limit"
    );
    assert_eq!(report.orders_placed, ok);
    assert_eq!(report.rate_limited_calls, 150 - ok);
}

/// A session logged live, on the real clock, with faults and claims,
/// replays on the paused clock to the same report, field by field.
#[test]
fn a_logged_session_replays_to_the_same_report() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/wire/every-fault.yaml");
    let scenario = Scenario::load(&path).expect("scenario");
    let scratch = tempfile::Builder::new()
        .prefix("fillproof-replay-")
        .tempdir()
        .expect("temp dir");
    let dir = scratch.path();
    let log = dir.join("session.jsonl");
    let (address, server) = start(scenario.clone(), Some(log.clone()));
    client(async {
        let mut ids = Vec::new();
        for i in 0..8 {
            let id = format!("replay-{i}");
            if let Some((200, body)) = http(address, "POST", "/v2/orders", &order_body(&id)).await {
                let order: serde_json::Value = serde_json::from_str(&body).expect("json");
                ids.push(order["id"].as_str().expect("id").to_owned());
            }
            fillproof_engine::clock::sleep(Duration::from_millis(30)).await;
        }
        fillproof_engine::clock::sleep(Duration::from_millis(300)).await;
        for id in &ids {
            let _ = http(address, "GET", &format!("/v2/orders/{id}"), "").await;
        }
        if let Some(first) = ids.first() {
            let _ = http(address, "DELETE", &format!("/v2/orders/{first}"), "").await;
        }
        let _ = http(address, "GET", "/v2/positions/SPY", "").await;
        let claims = r#"{"filled_qty": {"replay-0": 5, "replay-1": "0"}}"#;
        assert_eq!(
            http(address, "POST", "/_fillproof/claims", claims)
                .await
                .map(|a| a.0),
            Some(200)
        );
        shutdown(address).await;
    });
    let live = server.join().expect("report");
    let log = fillproof_serve::read_log(&log).expect("log reads");
    assert_eq!(log.header.seed, scenario.seed);
    assert!(log.ended, "the shutdown ends the log");
    assert!(
        log.requests.iter().all(|l| l.request.answer.is_some()),
        "every request was answered before the shutdown: {log:#?}"
    );
    let replay_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("rt");
    let replayed = replay_runtime.block_on(async {
        let session = Session::new(&scenario, log.header.seed).expect("session");
        fillproof_serve::replay(Arc::clone(&session), &log)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    });
    assert!(live.requests > 10, "{live:#?}");
    assert_eq!(replayed, live);
}

/// A submit still on its way to the broker at shutdown lands before the
/// report is taken: the report holds its order, says one request was in
/// flight, and is taken when it landed (its 1s request leg). Its answer,
/// a second later, never left: it is the one request written with no
/// answer, the end line lists it (`in_flight`), the log reads, and it
/// replays to the live report.
#[test]
fn a_request_in_flight_at_shutdown_lands_before_the_report() {
    let scenario = scenario("  latency: {submit: {uniform: [2s, 2s]}}");
    let scratch = tempfile::Builder::new()
        .prefix("fillproof-in-flight-")
        .tempdir()
        .expect("temp dir");
    let log = scratch.path().join("session.jsonl");
    let (address, server) = start(scenario.clone(), Some(log.clone()));
    client(async {
        let pending =
            tokio::spawn(
                async move { http(address, "POST", "/v2/orders", &order_body("slow")).await },
            );
        fillproof_engine::clock::sleep(Duration::from_millis(200)).await;
        shutdown(address).await;
        assert_eq!(pending.await.expect("task"), None, "cut by the shutdown");
    });
    let live = server.join().expect("report");
    assert_eq!(live.orders_placed, 1, "{live:#?}");
    assert_eq!(live.orders[0].client_order_id, "slow");
    assert_eq!(live.requests_in_flight_at_shutdown, 1, "{live:#?}");
    assert_eq!(live.at_ms, live.orders[0].accepted_at_ms, "{live:#?}");
    let text = std::fs::read_to_string(&log).expect("log");
    let end = text.lines().last().expect("end line");
    assert!(end.contains(r#""in_flight":[0]"#), "{text}");
    let log = fillproof_serve::read_log(&log).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(log.ended);
    assert_eq!(log.requests[0].request.answer, None, "{text}");
    let replayed = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("rt")
        .block_on(async {
            let session = Session::new(&scenario, log.header.seed).expect("session");
            fillproof_serve::replay(session, &log)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        });
    assert_eq!(replayed, live);
    assert!(!replayed.partial);
}

/// Goal: serve refuses a scenario that crashes the engine (it drives no
/// engine, and a crash point would hold a bot's call forever), naming
/// what to remove. Method: a scenario with a `crashes:` section, and one
/// with a timeline `crash` event.
#[tokio::test]
async fn serve_refuses_a_scenario_that_crashes_the_engine() {
    for extra in [
        "crashes:\n  at: [5s]\n",
        "timeline:\n  - {order: 0, event: crash, point: during_submit}\n",
    ] {
        let text = format!(
            "version: 1\nname: crashes\nseed: 1\nworkload:\n  orders: 1\n  symbols: [SPY]\n  qty: 1\n  reference_price: {{SPY: \"590.10\"}}\n{extra}"
        );
        let s = Scenario::parse(text.as_bytes(), "crashes.yaml", None).expect("scenario");
        let error = Session::starting_at(&s, 1, None)
            .map(|_| ())
            .expect_err("refused");
        assert!(error.contains("serve drives no engine"), "{error}");
    }
}

/// Goal: serve's report judges a bot's restart: orders it left working
/// that no claim since covers are orphaned, and an order sent again under
/// a new id is a duplicate across the restart; a bot that finds its
/// order by client id and claims it leaves neither. Method: orders that
/// rest a minute before filling; a bot places `r-0` and `r-1`, reports a
/// restart, then finds `r-0` and claims it, and sends `r-1` again as
/// `r-1b`: one orphaned order (`r-1`, unclaimed and working), one
/// duplicate; before the restart, neither figure is in the report.
#[test]
fn a_restart_report_counts_orphans_and_orders_sent_again() {
    let (address, server) = start(scenario("  fill: {probability: 1, delay: 60s}"), None);
    client(async {
        for id in ["r-0", "r-1"] {
            let placed = http(address, "POST", "/v2/orders", &order_body(id)).await;
            assert_eq!(placed.map(|a| a.0), Some(200));
        }
        let report = http(address, "GET", "/_fillproof/report", "")
            .await
            .expect("report");
        assert!(!report.1.contains("orders_orphaned"), "{}", report.1);
        let restarted = http(address, "POST", "/_fillproof/restart", "").await;
        assert_eq!(restarted, Some((200, r#"{"restarts":1}"#.to_owned())));
        let found = http(
            address,
            "GET",
            "/v2/orders:by_client_order_id?client_order_id=r-0",
            "",
        )
        .await;
        assert_eq!(found.map(|a| a.0), Some(200));
        let claimed = http(
            address,
            "POST",
            "/_fillproof/claims",
            r#"{"filled_qty":{"r-0":"0"}}"#,
        )
        .await;
        assert_eq!(claimed.map(|a| a.0), Some(200));
        let again = http(address, "POST", "/v2/orders", &order_body("r-1b")).await;
        assert_eq!(again.map(|a| a.0), Some(200));
        shutdown(address).await;
    });
    let report = server.join().expect("server");
    assert_eq!(report.restarts, Some(1));
    assert_eq!(report.orders_orphaned, Some(1));
    assert_eq!(report.duplicates_across_restarts, Some(1));
}

/// The JSON body of an answer.
fn json_of(answer: &(u16, String)) -> serde_json::Value {
    serde_json::from_str(&answer.1).unwrap_or_else(|e| panic!("{e}: {answer:?}"))
}

/// Goal: `GET /v2/orders` goes through the broker's `list_orders` call and
/// meets that endpoint's faults, and only its. Method: a scenario whose
/// order list always answers 503; the list answers 503 with Alpaca's
/// code, while an order read and the account answer 200.
#[test]
fn a_fault_on_list_orders_answers_the_order_list_503() {
    let (address, server) = start(scenario("  faults:\n    list_orders: {http_503: 1}"), None);
    client(async {
        let placed = http(address, "POST", "/v2/orders", &order_body("l-0"))
            .await
            .expect("answered");
        assert_eq!(placed.0, 200, "{placed:?}");
        let id = json_of(&placed)["id"].as_str().expect("id").to_owned();
        let listed = http(address, "GET", "/v2/orders?status=all", "")
            .await
            .expect("answered");
        assert_eq!(listed.0, 503, "{listed:?}");
        assert_eq!(json_of(&listed)["code"], 50_300_000);
        let read = http(address, "GET", &format!("/v2/orders/{id}"), "").await;
        assert_eq!(read.map(|a| a.0), Some(200));
        let account = http(address, "GET", "/v2/account", "").await;
        assert_eq!(account.map(|a| a.0), Some(200));
        shutdown(address).await;
    });
    let report = server.join().expect("report");
    assert_eq!(report.faults_injected.get("http_503"), Some(&1));
}

/// Goal: the order list takes a place under the rate limit like any call.
/// Method: a limit of 3 requests a minute; three lists answer 200, the
/// fourth 429 with Alpaca's code.
#[test]
fn the_order_list_past_the_rate_limit_answers_429() {
    let (address, server) = start(scenario("  rate_limit: {requests: 3, per: 60s}"), None);
    client(async {
        for n in 0..3 {
            let listed = http(address, "GET", "/v2/orders", "").await;
            assert_eq!(listed.map(|a| a.0), Some(200), "list {n}");
        }
        let limited = http(address, "GET", "/v2/orders", "")
            .await
            .expect("answered");
        assert_eq!(limited.0, 429, "{limited:?}");
        assert_eq!(json_of(&limited)["code"], 42_910_000);
        shutdown(address).await;
    });
    assert_eq!(server.join().expect("report").rate_limited_calls, 1);
}

/// Goal: the account, positions and clock reads go through the broker's
/// calls and take a place under the rate limit each. Method: a limit of 3
/// requests a minute; the account, the positions and the clock answer
/// 200, then the account answers 429.
#[test]
fn account_positions_and_clock_reads_take_rate_limit_places() {
    let (address, server) = start(scenario("  rate_limit: {requests: 3, per: 60s}"), None);
    client(async {
        for path in ["/v2/account", "/v2/positions", "/v2/clock"] {
            let read = http(address, "GET", path, "").await;
            assert_eq!(read.map(|a| a.0), Some(200), "{path}");
        }
        let limited = http(address, "GET", "/v2/account", "").await;
        assert_eq!(limited.map(|a| a.0), Some(429));
        shutdown(address).await;
    });
    assert_eq!(server.join().expect("report").rate_limited_calls, 1);
}

/// Goal: the order list honours `after` and `until`, both exclusive, on
/// the orders' submission stamps. Method: three orders placed 20 ms
/// apart; the window after the first and until the third lists the
/// second only; after the first alone lists the other two, oldest first
/// with `direction=asc`; a malformed `after` is 422 naming it.
#[test]
fn the_order_list_honours_after_and_until() {
    let (address, server) = start(scenario("  fill: {probability: 0}"), None);
    client(async {
        let mut stamps = Vec::new();
        for n in 0..3 {
            let placed = http(
                address,
                "POST",
                "/v2/orders",
                &order_body(&format!("w-{n}")),
            )
            .await
            .expect("answered");
            assert_eq!(placed.0, 200, "{placed:?}");
            stamps.push(
                json_of(&placed)["submitted_at"]
                    .as_str()
                    .expect("stamp")
                    .to_owned(),
            );
            fillproof_engine::clock::sleep(Duration::from_millis(20)).await;
        }
        let ids = |answer: &(u16, String)| -> Vec<String> {
            json_of(answer)
                .as_array()
                .expect("a list")
                .iter()
                .map(|o| o["client_order_id"].as_str().expect("id").to_owned())
                .collect()
        };
        let window = format!(
            "/v2/orders?status=all&after={}&until={}",
            stamps[0], stamps[2]
        );
        let between = http(address, "GET", &window, "").await.expect("answered");
        assert_eq!(between.0, 200, "{between:?}");
        assert_eq!(ids(&between), ["w-1"]);
        let after = format!("/v2/orders?status=all&direction=asc&after={}", stamps[0]);
        let later = http(address, "GET", &after, "").await.expect("answered");
        assert_eq!(ids(&later), ["w-1", "w-2"]);
        let bad = http(address, "GET", "/v2/orders?after=yesterday", "")
            .await
            .expect("answered");
        assert_eq!(bad.0, 422, "{bad:?}");
        let message = json_of(&bad)["message"].as_str().unwrap_or("").to_owned();
        assert!(message.contains("after"), "{message}");
        shutdown(address).await;
    });
    server.join().expect("report");
}

/// The status order `id` reads once it reads filled, polled every 50 ms
/// on the real clock (a busy machine may take longer), or the last one
/// read after 2.5 s.
async fn status_once_filled(address: SocketAddr, id: &str) -> String {
    let mut status = String::new();
    for _ in 0..50 {
        fillproof_engine::clock::sleep(Duration::from_millis(50)).await;
        let read = http(address, "GET", &format!("/v2/orders/{id}"), "")
            .await
            .expect("answered");
        status = json_of(&read)["status"].as_str().unwrap_or("").to_owned();
        if status == "filled" {
            break;
        }
    }
    status
}

/// Goal: the fill activities list one record per execution, as Alpaca
/// renders `FILL` activities. Method: an order that fills in three pieces;
/// once it reads filled, `GET /v2/account/activities/FILL?direction=asc`
/// holds three records of it: two `partial_fill` then a `fill`, their
/// quantities adding up to the order's with `cum_qty` and `leaves_qty`
/// following, numbers as strings; the `activity_types=FILL` form answers
/// the same, and another type is refused naming it.
#[test]
fn fill_activities_list_one_record_per_execution() {
    let (address, server) = start(
        scenario(
            "  fill: {probability: 1, delay: 50ms, partial: {probability: 1, pieces: [3, 3], spacing: 20ms}}",
        ),
        None,
    );
    client(async {
        let placed = http(address, "POST", "/v2/orders", &order_body("p-0"))
            .await
            .expect("answered");
        let id = json_of(&placed)["id"].as_str().expect("id").to_owned();
        assert_eq!(status_once_filled(address, &id).await, "filled");
        let path = "/v2/account/activities/FILL?direction=asc";
        let answer = http(address, "GET", path, "").await.expect("answered");
        assert_eq!(answer.0, 200, "{answer:?}");
        let records = json_of(&answer);
        let records = records.as_array().expect("a list");
        assert_eq!(records.len(), 3, "{records:?}");
        let kinds: Vec<&str> = records
            .iter()
            .map(|r| r["type"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(kinds, ["partial_fill", "partial_fill", "fill"]);
        let number = |r: &serde_json::Value, field: &str| -> rust_decimal::Decimal {
            r[field]
                .as_str()
                .expect("a string")
                .parse()
                .expect("a decimal")
        };
        let mut cum = rust_decimal::Decimal::ZERO;
        for record in records {
            assert_eq!(record["activity_type"], "FILL");
            assert_eq!(record["order_id"], id.as_str());
            assert_eq!(
                (&record["symbol"], &record["side"]),
                (&"SPY".into(), &"buy".into())
            );
            cum += number(record, "qty");
            assert_eq!(number(record, "cum_qty"), cum, "{record}");
            assert_eq!(
                number(record, "leaves_qty"),
                rust_decimal::Decimal::from(5) - cum
            );
            assert!(number(record, "price") > rust_decimal::Decimal::ZERO);
            assert!(
                record["transaction_time"]
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z'))
            );
        }
        assert_eq!(cum, rust_decimal::Decimal::from(5));
        assert_eq!(records[2]["order_status"], "filled");
        let listed = http(
            address,
            "GET",
            "/v2/account/activities?activity_types=FILL&direction=asc",
            "",
        )
        .await
        .expect("answered");
        assert_eq!(json_of(&listed), json_of(&answer));
        let other = http(address, "GET", "/v2/account/activities/DIV", "")
            .await
            .expect("answered");
        // The simulated account has no dividends: Alpaca's empty list.
        assert_eq!(other.0, 200, "{other:?}");
        assert_eq!(other.1.trim(), "[]", "{other:?}");
        shutdown(address).await;
    });
    server.join().expect("report");
}
