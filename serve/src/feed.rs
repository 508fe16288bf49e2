//! The real-time market data stream's protocol, as alpaca-py's
//! `StockDataStream` speaks it (`alpaca/data/live/websocket.py`), without
//! the socket (`http` carries the frames).
//!
//! Every frame the server sends is an array of messages, each tagged `T`.
//! On connecting a client reads `[{"T":"success","msg":"connected"}]`; it
//! authenticates with `{"action":"auth","key","secret"}` (or the
//! `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` headers of its upgrade
//! request) and reads `[{"T":"success","msg":"authenticated"}]`; it
//! subscribes with `{"action":"subscribe","trades":[...],"quotes":[...],
//! "bars":[...]}` (`"*"` for every symbol; also `updatedBars`,
//! `dailyBars`, `statuses`, `lulds`, which are kept but carry nothing
//! here) and reads the whole subscription back, `{"T":"subscription",...}`
//! with `corrections` and `cancelErrors` following `trades`; `unsubscribe`
//! takes symbols off. A symbol not listed may be subscribed, as on Alpaca,
//! and never trades.
//!
//! Data: at each path step of a subscribed symbol, as the session's clock
//! passes it, its trade (`{"T":"t","S","i","x","p","s","c","t","z"}`) and
//! quote (`{"T":"q","S","bx","bp","bs","ax","ap","as","c","t","z"}`), and
//! at each minute's end its minute bar (`{"T":"b","S","o","h","l","c","v",
//! "n","vw","t"}`); nothing while a halt holds it.
//!
//! Errors, as Alpaca sends them (`{"T":"error","code","msg"}`): 400
//! `invalid syntax` (an unknown action, a frame that does not read, a
//! subscription naming no symbol or an unknown channel), 401 `not
//! authenticated`, 402 `auth failed` (an empty key or secret; the socket
//! then closes), 403 `already authenticated`, 404 `auth timeout` (no auth
//! within 10 s), 405 `symbol limit exceeded` (past [`MAX_STREAM_SYMBOLS`]),
//! 406 `connection limit exceeded`, 407 `slow client` (more than
//! [`MAX_STREAM_BACKLOG`] messages due at once; the socket then closes).
//!
//! Encoding: MessagePack when the upgrade request's `Content-Type` is
//! `application/msgpack` (alpaca-py sends it, and reads `t` as
//! MessagePack's timestamp extension), in binary frames; JSON in text
//! frames otherwise. A client's frames are read in either.
//!
//! Entry points: [`Feed`] (one connection's state), [`Encoding`]. Imports
//! `market` and `bars`'s shapes and `session`.

use std::time::Duration;

use fillproof_engine::Timestamp;
use fillproof_simulator::{Market, TimeOrigin, Timeframe};
use indexmap::IndexSet;
use serde_json::{Map, Value, json};

use crate::bars::bar_json;
use crate::market::{quote_json, trade_json};
use crate::session::Session;

/// The most symbols one connection subscribes to, over every channel.
pub const MAX_STREAM_SYMBOLS: usize = 1_000;

/// The most messages due at once: past it the client is too slow (or the
/// server fell that far behind) and the socket closes.
pub const MAX_STREAM_BACKLOG: usize = 10_000;

/// The most messages in one frame (a frame stays well under the 1 MiB a
/// websocket client takes by default).
pub const FRAME_MESSAGES: usize = 1_000;

/// The channels a client subscribes to, in the order the subscription
/// message lists them.
const CHANNELS: [&str; 7] = [
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
];
const TRADES: usize = 0;
const QUOTES: usize = 1;
const BARS: usize = 2;

/// How a connection's frames are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON, in text frames.
    Json,
    /// MessagePack, in binary frames.
    MsgPack,
}

impl Encoding {
    /// The encoding a client asks for with its upgrade request's
    /// `Content-Type`.
    #[must_use]
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(kind) if kind.to_ascii_lowercase().contains("msgpack") => Self::MsgPack,
            _ => Self::Json,
        }
    }

    /// `messages` as one frame's bytes (an array).
    #[must_use]
    pub fn encode(self, messages: &[Value]) -> Vec<u8> {
        match self {
            Self::Json => Value::Array(messages.to_vec()).to_string().into_bytes(),
            Self::MsgPack => {
                let frame = rmpv::Value::Array(messages.iter().map(message_msgpack).collect());
                let mut bytes = Vec::new();
                // Writing to a vector cannot fail.
                let _ = rmpv::encode::write_value(&mut bytes, &frame);
                bytes
            }
        }
    }
}

/// A client's frame as JSON: MessagePack or JSON when `binary`, JSON
/// otherwise; `None` when it reads as neither.
#[must_use]
pub fn decode(bytes: &[u8], binary: bool) -> Option<Value> {
    if binary {
        let mut reader = bytes;
        if let Ok(value) = rmpv::decode::read_value(&mut reader) {
            if reader.is_empty() {
                return from_msgpack(value);
            }
        }
    }
    serde_json::from_slice(bytes).ok()
}

/// A MessagePack value as JSON; `None` for what JSON cannot hold (binary,
/// a key that is not a string).
fn from_msgpack(value: rmpv::Value) -> Option<Value> {
    Some(match value {
        rmpv::Value::Nil | rmpv::Value::Ext(..) => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(b),
        rmpv::Value::Integer(i) => i
            .as_u64()
            .map(Value::from)
            .or_else(|| i.as_i64().map(Value::from))?,
        rmpv::Value::F32(f) => Value::from(f64::from(f)),
        rmpv::Value::F64(f) => Value::from(f),
        rmpv::Value::String(s) => Value::String(s.into_str()?),
        rmpv::Value::Binary(_) => return None,
        rmpv::Value::Array(items) => {
            Value::Array(items.into_iter().map(from_msgpack).collect::<Option<_>>()?)
        }
        rmpv::Value::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| Some((k.as_str()?.to_owned(), from_msgpack(v)?)))
                .collect::<Option<Map<String, Value>>>()?,
        ),
    })
}

/// JSON as MessagePack.
fn to_msgpack(value: &Value) -> rmpv::Value {
    match value {
        Value::Null => rmpv::Value::Nil,
        Value::Bool(b) => rmpv::Value::Boolean(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => rmpv::Value::from(u),
            (None, Some(i)) => rmpv::Value::from(i),
            _ => rmpv::Value::F64(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => rmpv::Value::from(s.as_str()),
        Value::Array(items) => rmpv::Value::Array(items.iter().map(to_msgpack).collect()),
        Value::Object(fields) => rmpv::Value::Map(
            fields
                .iter()
                .map(|(k, v)| (rmpv::Value::from(k.as_str()), to_msgpack(v)))
                .collect(),
        ),
    }
}

/// A message as MessagePack: a data message's `t` as the timestamp
/// extension (type -1), as Alpaca sends it and alpaca-py reads it.
fn message_msgpack(message: &Value) -> rmpv::Value {
    let data = matches!(
        message.get("T").and_then(Value::as_str),
        Some("t" | "q" | "b")
    );
    let stamp = message
        .get("t")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse_rfc3339);
    match (data, stamp, message) {
        (true, Some(stamp), Value::Object(fields)) => rmpv::Value::Map(
            fields
                .iter()
                .map(|(k, v)| {
                    let value = if k == "t" {
                        timestamp_ext(stamp)
                    } else {
                        to_msgpack(v)
                    };
                    (rmpv::Value::from(k.as_str()), value)
                })
                .collect(),
        ),
        _ => to_msgpack(message),
    }
}

/// MessagePack's timestamp extension: 64 bits (nanoseconds above 34 bits
/// of seconds) from 1970 to 2514, 96 bits otherwise.
fn timestamp_ext(stamp: Timestamp) -> rmpv::Value {
    let seconds = stamp.unix_micros.div_euclid(1_000_000);
    let nanos = u32::try_from(stamp.unix_micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0);
    let bytes = match u64::try_from(seconds) {
        Ok(s) if s < 1 << 34 => ((u64::from(nanos) << 34) | s).to_be_bytes().to_vec(),
        _ => {
            let mut bytes = nanos.to_be_bytes().to_vec();
            bytes.extend_from_slice(&seconds.to_be_bytes());
            bytes
        }
    };
    rmpv::Value::Ext(-1, bytes)
}

/// A control message: success.
#[must_use]
pub fn success(msg: &str) -> Value {
    json!({ "T": "success", "msg": msg })
}

/// A control message: an error with Alpaca's code.
#[must_use]
pub fn error(code: u16, msg: &str) -> Value {
    json!({ "T": "error", "code": code, "msg": msg })
}

/// More messages were due than [`MAX_STREAM_BACKLOG`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowClient;

/// What a client's message asks of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The messages to send back, each in a frame of its own.
    pub replies: Vec<Value>,
    /// The socket closes after them.
    pub close: bool,
}

/// One connection's state: authenticated or not, and its subscriptions.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    authenticated: bool,
    channels: [IndexSet<String>; 7],
}

impl Feed {
    /// Whether the client has authenticated.
    #[must_use]
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Marks the client authenticated (by the headers of its upgrade
    /// request).
    pub fn authenticate(&mut self) {
        self.authenticated = true;
    }

    /// The answer to a client's message (`None` when the frame did not
    /// read).
    #[must_use]
    pub fn handle(&mut self, message: Option<&Value>) -> Answer {
        let reply = |value: Value, close: bool| Answer {
            replies: vec![value],
            close,
        };
        let action = message
            .and_then(|m| m.get("action"))
            .and_then(Value::as_str);
        match (action, message) {
            (Some("auth"), Some(message)) if !self.authenticated => {
                let given = |name: &str| {
                    message
                        .get(name)
                        .and_then(Value::as_str)
                        .is_some_and(|v| !v.trim().is_empty())
                };
                if given("key") && given("secret") {
                    self.authenticated = true;
                    reply(success("authenticated"), false)
                } else {
                    reply(error(402, "auth failed"), true)
                }
            }
            (Some("auth"), _) => reply(error(403, "already authenticated"), false),
            (Some("subscribe" | "unsubscribe"), _) if !self.authenticated => {
                reply(error(401, "not authenticated"), false)
            }
            (Some(action @ ("subscribe" | "unsubscribe")), Some(message)) => {
                match self.change(message, action == "subscribe") {
                    Ok(()) => reply(self.subscription(), false),
                    Err(refusal) => reply(refusal, false),
                }
            }
            _ => reply(error(400, "invalid syntax"), false),
        }
    }

    /// Applies a subscribe (`add`) or unsubscribe message: every key but
    /// `action` a channel with a list of symbols, one symbol at least;
    /// nothing changes when it is refused.
    fn change(&mut self, message: &Value, add: bool) -> Result<(), Value> {
        let Some(fields) = message.as_object() else {
            return Err(error(400, "invalid syntax"));
        };
        let mut next = self.channels.clone();
        let mut named = 0;
        for (key, value) in fields.iter().filter(|(key, _)| key.as_str() != "action") {
            let channel = CHANNELS.iter().position(|c| c == key);
            let symbols: Option<Vec<&str>> = value
                .as_array()
                .and_then(|list| list.iter().map(Value::as_str).collect());
            let (Some(channel), Some(symbols)) = (channel, symbols) else {
                return Err(error(400, "invalid syntax"));
            };
            named += symbols.len();
            for symbol in symbols {
                if add {
                    next[channel].insert(symbol.to_owned());
                } else {
                    next[channel].shift_remove(symbol);
                }
            }
        }
        if named == 0 {
            return Err(error(400, "invalid syntax"));
        }
        if next.iter().map(IndexSet::len).sum::<usize>() > MAX_STREAM_SYMBOLS {
            return Err(error(405, "symbol limit exceeded"));
        }
        self.channels = next;
        Ok(())
    }

    /// The whole subscription, as the reply to (un)subscribing.
    fn subscription(&self) -> Value {
        let mut message = Map::new();
        message.insert("T".into(), Value::from("subscription"));
        for (name, symbols) in CHANNELS.iter().zip(&self.channels) {
            message.insert((*name).into(), json!(symbols));
        }
        for mirror in ["corrections", "cancelErrors"] {
            message.insert(mirror.into(), json!(self.channels[TRADES]));
        }
        Value::Object(message)
    }

    /// The listed symbols `channel` carries, in the market's order.
    fn listed<'m>(&self, market: &'m Market, channel: usize) -> Vec<&'m str> {
        let wanted = &self.channels[channel];
        market
            .symbols()
            .filter(|s| wanted.contains("*") || wanted.contains(*s))
            .collect()
    }

    /// The listed symbols that trade or quote on this connection.
    fn ticking<'m>(&self, market: &'m Market) -> Vec<&'m str> {
        let (trades, quotes) = (self.listed(market, TRADES), self.listed(market, QUOTES));
        market
            .symbols()
            .filter(|s| trades.contains(s) || quotes.contains(s))
            .collect()
    }

    /// The first virtual instant after `after` at which something is due:
    /// a step of a symbol that trades or quotes here, or a minute's end
    /// when bars are subscribed; `None` when nothing is subscribed.
    #[must_use]
    pub fn next_due(&self, session: &Session, after: Duration) -> Option<Duration> {
        let market = session.broker().market();
        let steps = self.ticking(market).into_iter().filter_map(|symbol| {
            let step = market.step_of(symbol)?.as_nanos().max(1);
            let next = (after.as_nanos() / step + 1) * step;
            Some(Duration::from_nanos(
                u64::try_from(next).unwrap_or(u64::MAX),
            ))
        });
        let minute = (!self.listed(market, BARS).is_empty()).then(|| {
            let origin = session.broker().model().time_origin();
            let end = Timeframe::Minutes(1).next_bucket(origin.at(after).unix_micros);
            virtual_at(origin, end)
        });
        steps.chain(minute).min()
    }

    /// The messages due for the steps and minute ends after `after` up to
    /// `upto` (virtual time), in time order: trades and quotes at each
    /// step, then bars at each minute's end.
    ///
    /// # Errors
    /// [`SlowClient`] when more than [`MAX_STREAM_BACKLOG`] are due.
    pub fn due(
        &self,
        session: &Session,
        after: Duration,
        upto: Duration,
    ) -> Result<Vec<Value>, SlowClient> {
        if upto <= after {
            return Ok(Vec::new());
        }
        let market = session.broker().market();
        let origin = session.broker().model().time_origin();
        let tick = Duration::from_nanos(1);
        let steps = (after + tick)..(upto + tick);
        let mut due: Vec<(Duration, Value)> = Vec::new();
        let (trades, quotes) = (self.listed(market, TRADES), self.listed(market, QUOTES));
        for symbol in self.ticking(market) {
            let printed = market
                .trades(symbol, steps.clone(), MAX_STREAM_BACKLOG + 1)
                .unwrap_or_default();
            for trade in printed {
                let at = origin.at(trade.at);
                if trades.contains(&symbol) {
                    due.push((trade.at, tagged("t", symbol, trade_json(&trade, at))));
                }
                if let Some(quote) = quotes
                    .contains(&symbol)
                    .then(|| market.quote_at(symbol, trade.at))
                    .flatten()
                {
                    due.push((trade.at, tagged("q", symbol, quote_json(&quote, at))));
                }
            }
            if due.len() > MAX_STREAM_BACKLOG {
                return Err(SlowClient);
            }
        }
        self.minute_bars(market, origin, (after, upto), &mut due)?;
        due.sort_by_key(|(at, _)| *at);
        Ok(due.into_iter().map(|(_, message)| message).collect())
    }

    /// Adds the bar of each minute that ends after `after` up to `upto`
    /// for each symbol subscribed to bars, stamped at the minute's end.
    fn minute_bars(
        &self,
        market: &Market,
        origin: TimeOrigin,
        (after, upto): (Duration, Duration),
        due: &mut Vec<(Duration, Value)>,
    ) -> Result<(), SlowClient> {
        let symbols = self.listed(market, BARS);
        if symbols.is_empty() {
            return Ok(());
        }
        let minute = Timeframe::Minutes(1);
        let last = origin.at(upto).unix_micros;
        let mut end = minute.next_bucket(origin.at(after).unix_micros);
        while end <= last {
            let start = minute.previous_bucket(end);
            let at = virtual_at(origin, end);
            for symbol in &symbols {
                let read = virtual_at(origin, start)..at;
                let bar = market
                    .bars(symbol, minute, origin, read, 1)
                    .ok()
                    .and_then(|b| b.bars.first().copied());
                if let Some(bar) = bar {
                    due.push((at, tagged("b", symbol, bar_json(&bar))));
                }
            }
            if due.len() > MAX_STREAM_BACKLOG {
                return Err(SlowClient);
            }
            end = minute.next_bucket(end);
        }
        Ok(())
    }
}

/// `body` with the stream's tag `T` and symbol `S`.
fn tagged(kind: &str, symbol: &str, mut body: Value) -> Value {
    if let Value::Object(fields) = &mut body {
        fields.insert("T".into(), Value::from(kind));
        fields.insert("S".into(), Value::from(symbol));
    }
    body
}

/// The virtual time of the wall-clock instant `wall`, zero before the
/// origin.
fn virtual_at(origin: TimeOrigin, wall: i64) -> Duration {
    origin
        .elapsed_of(Timestamp::from_unix_micros(wall))
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data message's `t` goes out as MessagePack's timestamp extension,
    /// 64 bits wide; a control message's strings stay strings; a client's
    /// MessagePack frame reads as the JSON it stands for.
    #[test]
    fn msgpack_carries_stamps_as_the_timestamp_extension() {
        let trade =
            json!({"T": "t", "S": "SPY", "p": 590.1, "s": 100, "t": "2025-01-02T14:30:01.500000Z"});
        let bytes = Encoding::MsgPack.encode(&[trade, success("connected")]);
        let frame = rmpv::decode::read_value(&mut bytes.as_slice()).expect("msgpack");
        let messages = frame.as_array().expect("array");
        let field = |m: &rmpv::Value, key: &str| {
            m.as_map()
                .and_then(|pairs| pairs.iter().find(|(k, _)| k.as_str() == Some(key)))
                .map(|(_, v)| v.clone())
        };
        let seconds: u64 = 1_735_828_201;
        let stamp = (500_000_000u64 << 34) | seconds;
        assert_eq!(
            field(&messages[0], "t"),
            Some(rmpv::Value::Ext(-1, stamp.to_be_bytes().to_vec()))
        );
        assert_eq!(field(&messages[0], "p"), Some(rmpv::Value::F64(590.1)));
        assert_eq!(
            field(&messages[1], "msg"),
            Some(rmpv::Value::from("connected"))
        );
        let mut auth = Vec::new();
        let sent = rmpv::Value::Map(vec![
            (rmpv::Value::from("action"), rmpv::Value::from("auth")),
            (rmpv::Value::from("key"), rmpv::Value::from("k")),
        ]);
        rmpv::encode::write_value(&mut auth, &sent).expect("write");
        assert_eq!(
            decode(&auth, true),
            Some(json!({"action": "auth", "key": "k"}))
        );
        assert_eq!(
            decode(br#"{"action":"auth"}"#, false),
            Some(json!({"action": "auth"}))
        );
        assert_eq!(decode(b"\x81\xa3ke", true), None, "a cut-off map");
    }

    /// What falls due between two instants: each step's trade and quote of
    /// the symbols subscribed, and each minute's bar at its end, in time
    /// order; the next instant anything is due.
    #[tokio::test(start_paused = true)]
    async fn steps_and_minute_ends_fall_due() {
        let text = "version: 1\nname: feed\nseed: 1\nworkload:\n  orders: 1\n  symbols: [SPY, QQQ]\n  qty: 5\n  type: market\n  reference_price: {SPY: \"590.10\", QQQ: \"500\"}\n";
        let scenario = fillproof_simulator::Scenario::parse(text.as_bytes(), "feed.yaml", None)
            .expect("scenario");
        let session = Session::new(&scenario, 1).expect("session");
        let mut feed = Feed::default();
        feed.authenticate();
        assert_eq!(
            feed.next_due(&session, Duration::ZERO),
            None,
            "nothing subscribed"
        );
        let subscribe =
            json!({"action": "subscribe", "trades": ["SPY"], "quotes": ["SPY"], "bars": ["*"]});
        let _ = feed.handle(Some(&subscribe));
        assert_eq!(
            feed.next_due(&session, Duration::from_millis(2_500)),
            Some(Duration::from_secs(3))
        );
        let due = feed
            .due(&session, Duration::ZERO, Duration::from_secs(125))
            .expect("due");
        let kinds = |kind: &str| due.iter().filter(|m| m["T"] == kind).count();
        assert_eq!(
            (kinds("t"), kinds("q"), kinds("b")),
            (125, 125, 4),
            "steps 1 to 125; two minutes, two symbols"
        );
        assert_eq!(due[0]["t"], "2025-01-02T14:30:01.000000Z");
        let bars: Vec<(&Value, &Value, &Value)> = due
            .iter()
            .filter(|m| m["T"] == "b")
            .map(|m| (&m["S"], &m["t"], &m["n"]))
            .collect();
        let first = json!("2025-01-02T14:30:00.000000Z");
        let second = json!("2025-01-02T14:31:00.000000Z");
        assert_eq!(
            bars,
            [
                (&json!("SPY"), &first, &json!(60)),
                (&json!("QQQ"), &first, &json!(60)),
                (&json!("SPY"), &second, &json!(60)),
                (&json!("QQQ"), &second, &json!(60))
            ]
        );
        // Time order: a minute's bar comes at its end, after its last trade.
        let position = |kind: &str, t: &str| due.iter().position(|m| m["T"] == kind && m["t"] == t);
        assert!(
            position("b", "2025-01-02T14:30:00.000000Z")
                > position("t", "2025-01-02T14:30:59.000000Z")
        );
        assert!(
            position("b", "2025-01-02T14:30:00.000000Z")
                < position("t", "2025-01-02T14:31:01.000000Z")
        );
        assert_eq!(
            feed.due(&session, Duration::from_secs(125), Duration::from_secs(125)),
            Ok(Vec::new())
        );
        let flood = feed.due(&session, Duration::ZERO, Duration::from_secs(86_400));
        assert_eq!(flood, Err(SlowClient));
    }

    /// The protocol's answers: auth once, subscriptions only after it,
    /// channels and symbols checked, the symbol limit kept, unknown
    /// actions refused.
    #[test]
    fn messages_get_alpacas_answers() {
        let mut feed = Feed::default();
        let mut send = |text: &str| {
            let message: Value = serde_json::from_str(text).expect("json");
            let answer = feed.handle(Some(&message));
            (answer.replies[0].clone(), answer.close)
        };
        assert_eq!(
            send(r#"{"action":"subscribe","trades":["SPY"]}"#),
            (error(401, "not authenticated"), false)
        );
        assert_eq!(
            send(r#"{"action":"auth","key":"k","secret":"s"}"#),
            (success("authenticated"), false)
        );
        assert_eq!(
            send(r#"{"action":"auth","key":"k","secret":"s"}"#),
            (error(403, "already authenticated"), false)
        );
        let (subscribed, _) = send(r#"{"action":"subscribe","trades":["SPY","QQQ"],"bars":["*"]}"#);
        assert_eq!(subscribed["trades"], json!(["SPY", "QQQ"]));
        assert_eq!(subscribed["cancelErrors"], json!(["SPY", "QQQ"]));
        assert_eq!(subscribed["bars"], json!(["*"]));
        assert_eq!(subscribed["quotes"], json!([]));
        let (unsubscribed, _) = send(r#"{"action":"unsubscribe","trades":["SPY"]}"#);
        assert_eq!(unsubscribed["trades"], json!(["QQQ"]));
        for bad in [
            r#"{"action":"subscribe","trades":[]}"#,
            r#"{"action":"subscribe"}"#,
            r#"{"action":"subscribe","sprockets":["SPY"]}"#,
            r#"{"action":"subscribe","trades":"SPY"}"#,
            r#"{"action":"dance"}"#,
            r#"{"hello":"there"}"#,
        ] {
            assert_eq!(send(bad), (error(400, "invalid syntax"), false), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_STREAM_SYMBOLS).map(|i| format!("S{i}")).collect();
        let flood = json!({"action": "subscribe", "quotes": many}).to_string();
        assert_eq!(send(&flood), (error(405, "symbol limit exceeded"), false));
        let mut fresh = Feed::default();
        let refused = fresh.handle(Some(&json!({"action": "auth", "key": "", "secret": "s"})));
        assert_eq!(
            (refused.replies, refused.close),
            (vec![error(402, "auth failed")], true)
        );
        assert_eq!(
            fresh.handle(None).replies,
            vec![error(400, "invalid syntax")]
        );
    }
}
