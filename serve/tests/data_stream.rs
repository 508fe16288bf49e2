//! The real-time market data stream over a real socket, as alpaca-py's
//! `StockDataStream` speaks it: the welcome, auth, a subscription, and a
//! trade and a quote at a path step, in JSON and in MessagePack; and the
//! errors Alpaca sends for a bad auth, an unknown action and a
//! subscription before auth.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A server as `fillproof serve` runs one: SPY flat at $590.10, one
/// print a second.
fn start() -> (SocketAddr, std::thread::JoinHandle<fillproof_serve::Report>) {
    let text = "version: 1\nname: stream\nseed: 3\nworkload:\n  orders: 1\n  symbols: [SPY]\n  qty: 5\n  type: market\n  reference_price: {SPY: \"590.10\"}\n";
    let scenario = fillproof_simulator::Scenario::parse(text.as_bytes(), "stream.yaml", None)
        .expect("scenario");
    fillproof_serve::spawn_on_thread(scenario, 3, None).expect("server starts")
}

/// Runs a client on a runtime of its own, on the real clock.
fn client<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(work)
}

/// Ends the session, as a bot's harness does.
async fn shut_down(address: SocketAddr) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = "POST /_fillproof/shutdown HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
}

/// Opens `/v2/iex`, asking for MessagePack as alpaca-py does when
/// `msgpack`.
async fn connect(address: SocketAddr, msgpack: bool) -> Socket {
    let mut request = format!("ws://{address}/v2/iex")
        .into_client_request()
        .expect("request");
    if msgpack {
        let kind = "application/msgpack".parse().expect("header");
        request.headers_mut().insert("content-type", kind);
    }
    tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade")
        .0
}

/// A MessagePack value as JSON, a timestamp extension as
/// `{"ext": -1, "bytes": n}`.
fn json_of(value: rmpv::Value) -> Value {
    match value {
        rmpv::Value::Ext(kind, bytes) => json!({ "ext": kind, "bytes": bytes.len() }),
        rmpv::Value::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_str().expect("string key").to_owned(), json_of(v)))
                .collect(),
        ),
        rmpv::Value::Array(items) => Value::Array(items.into_iter().map(json_of).collect()),
        rmpv::Value::String(s) => Value::from(s.into_str().expect("utf-8")),
        rmpv::Value::Integer(i) => i.as_i64().map_or(Value::Null, Value::from),
        rmpv::Value::F64(f) => Value::from(f),
        rmpv::Value::Boolean(b) => Value::from(b),
        _ => Value::Null,
    }
}

/// The next frame's messages (text frames as JSON, binary ones as
/// MessagePack); `None` once the server closed the socket.
async fn read(socket: &mut Socket, msgpack: bool) -> Option<Vec<Value>> {
    loop {
        let frame = match socket.next().await? {
            Ok(frame) => frame,
            Err(_) => return None,
        };
        let value = match frame {
            Message::Text(text) => {
                assert!(!msgpack, "a JSON frame on a MessagePack stream: {text}");
                serde_json::from_str(text.as_str()).expect("json")
            }
            Message::Binary(bytes) => {
                assert!(msgpack, "a binary frame on a JSON stream");
                json_of(rmpv::decode::read_value(&mut bytes.as_ref()).expect("msgpack"))
            }
            Message::Close(_) => return None,
            _ => continue,
        };
        return Some(value.as_array().expect("every frame is an array").clone());
    }
}

/// Sends `message` as the stream's encoding.
async fn send(socket: &mut Socket, msgpack: bool, message: &Value) {
    let frame = if msgpack {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &to_msgpack(message)).expect("encode");
        Message::Binary(bytes.into())
    } else {
        Message::Text(message.to_string().into())
    };
    socket.send(frame).await.expect("send");
}

fn to_msgpack(value: &Value) -> rmpv::Value {
    match value {
        Value::Object(fields) => rmpv::Value::Map(
            fields
                .iter()
                .map(|(k, v)| (rmpv::Value::from(k.as_str()), to_msgpack(v)))
                .collect(),
        ),
        Value::Array(items) => rmpv::Value::Array(items.iter().map(to_msgpack).collect()),
        Value::String(s) => rmpv::Value::from(s.as_str()),
        _ => rmpv::Value::Nil,
    }
}

/// Connects, authenticates and subscribes to SPY's trades and quotes, then
/// reads until a trade and a quote of SPY have come: both, as they came.
async fn trade_and_quote(address: SocketAddr, msgpack: bool) -> (Value, Value) {
    let mut socket = connect(address, msgpack).await;
    assert_eq!(
        read(&mut socket, msgpack).await,
        Some(vec![json!({"T": "success", "msg": "connected"})])
    );
    send(
        &mut socket,
        msgpack,
        &json!({"action": "auth", "key": "k", "secret": "s"}),
    )
    .await;
    assert_eq!(
        read(&mut socket, msgpack).await,
        Some(vec![json!({"T": "success", "msg": "authenticated"})])
    );
    let subscribe = json!({"action": "subscribe", "trades": ["SPY"], "quotes": ["SPY"]});
    send(&mut socket, msgpack, &subscribe).await;
    let subscribed = read(&mut socket, msgpack).await.expect("subscription");
    assert_eq!(subscribed[0]["T"], "subscription");
    assert_eq!(
        (&subscribed[0]["trades"], &subscribed[0]["quotes"]),
        (&json!(["SPY"]), &json!(["SPY"]))
    );
    let (mut trade, mut quote) = (None, None);
    // One print a second: each frame holds a step's trade and quote.
    for _ in 0..10 {
        for message in read(&mut socket, msgpack).await.expect("data") {
            match message["T"].as_str() {
                Some("t") => trade = trade.or(Some(message)),
                Some("q") => quote = quote.or(Some(message)),
                other => panic!("unexpected {other:?}: {message}"),
            }
        }
        if let (Some(trade), Some(quote)) = (&trade, &quote) {
            return (trade.clone(), quote.clone());
        }
    }
    panic!("no trade and quote in ten frames");
}

/// Goal: a JSON client gets a trade and a quote at a path step, shaped as
/// alpaca-py's `Trade` and `Quote` read them, `t` an RFC 3339 string.
#[test]
fn a_json_client_gets_trades_and_quotes() {
    let (address, server) = start();
    let (trade, quote) = client(async move {
        let got = trade_and_quote(address, false).await;
        shut_down(address).await;
        got
    });
    server.join().expect("server stops");
    assert_eq!(
        (&trade["S"], &trade["p"], &trade["s"], &trade["x"]),
        (&json!("SPY"), &json!(590.1), &json!(100), &json!("V"))
    );
    assert!(trade["i"].is_u64(), "{trade}");
    assert!(
        trade["t"].as_str().is_some_and(|t| t.ends_with(".000000Z")),
        "a step's start: {trade}"
    );
    assert_eq!(
        (&quote["S"], &quote["bp"], &quote["ap"], &quote["bs"]),
        (&json!("SPY"), &json!(590.1), &json!(590.1), &json!(100))
    );
    assert_eq!(quote["t"], trade["t"]);
}

/// Goal: a client that asks for MessagePack (alpaca-py's `Content-Type:
/// application/msgpack`) gets binary frames, `t` as MessagePack's 64-bit
/// timestamp extension, as alpaca-py's `msg["t"].to_datetime()` reads it.
#[test]
fn a_msgpack_client_gets_trades_and_quotes() {
    let (address, server) = start();
    let (trade, quote) = client(async move {
        let got = trade_and_quote(address, true).await;
        shut_down(address).await;
        got
    });
    server.join().expect("server stops");
    assert_eq!((&trade["p"], &trade["s"]), (&json!(590.1), &json!(100)));
    assert_eq!(trade["t"], json!({"ext": -1, "bytes": 8}));
    assert_eq!(
        (&quote["bp"], &quote["t"]),
        (&json!(590.1), &json!({"ext": -1, "bytes": 8}))
    );
}

/// Goal: refusals carry Alpaca's code and message. Method: a subscription
/// before auth is 401 `not authenticated`; an unknown action is 400
/// `invalid syntax`; an empty key is 402 `auth failed` and the socket
/// closes; in MessagePack too.
#[test]
fn bad_auth_and_unknown_actions_are_refused() {
    let (address, server) = start();
    client(async move {
        for msgpack in [false, true] {
            let mut socket = connect(address, msgpack).await;
            assert_eq!(
                read(&mut socket, msgpack).await.expect("welcome")[0]["msg"],
                "connected"
            );
            send(
                &mut socket,
                msgpack,
                &json!({"action": "subscribe", "trades": ["SPY"]}),
            )
            .await;
            assert_eq!(
                read(&mut socket, msgpack).await,
                Some(vec![
                    json!({"T": "error", "code": 401, "msg": "not authenticated"})
                ])
            );
            send(&mut socket, msgpack, &json!({"action": "dance"})).await;
            assert_eq!(
                read(&mut socket, msgpack).await,
                Some(vec![
                    json!({"T": "error", "code": 400, "msg": "invalid syntax"})
                ])
            );
            send(
                &mut socket,
                msgpack,
                &json!({"action": "auth", "key": "", "secret": "s"}),
            )
            .await;
            assert_eq!(
                read(&mut socket, msgpack).await,
                Some(vec![
                    json!({"T": "error", "code": 402, "msg": "auth failed"})
                ])
            );
            assert_eq!(
                read(&mut socket, msgpack).await,
                None,
                "closed after a failed auth"
            );
        }
        shut_down(address).await;
    });
    server.join().expect("server stops");
}
