//! The engine's [`TradeUpdates`] port over Alpaca's `trade_updates`
//! websocket.
//!
//! A subscription runs a task that connects, authenticates, listens, and
//! hands each event on. When the connection drops it reconnects (1 s,
//! doubling to 30 s) and, once listening again, sends
//! [`StreamItem::Reconnected`]: Alpaca does not replay what happened in
//! between, so the engine must read its open orders over REST. The task
//! ends when the subscriber drops its receiver.

use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_engine::{StreamItem, TradeEvent, TradeUpdate, TradeUpdates};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::config::AlpacaConfig;
use crate::wire;

/// The longest wait between reconnects.
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// Alpaca's trade_updates stream for one account.
#[derive(Debug, Clone)]
pub struct AlpacaStream {
    config: AlpacaConfig,
}

impl AlpacaStream {
    /// The stream of `config`'s account.
    #[must_use]
    pub fn new(config: AlpacaConfig) -> Self {
        Self { config }
    }
}

impl TradeUpdates for AlpacaStream {
    /// Starts the subscription's task; call it inside a tokio runtime.
    fn subscribe(&self) -> mpsc::UnboundedReceiver<StreamItem> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let config = self.config.clone();
        tokio::spawn(async move { run(config, sender).await });
        receiver
    }
}

async fn run(config: AlpacaConfig, sender: mpsc::UnboundedSender<StreamItem>) {
    let mut wait = Duration::from_secs(1);
    let mut connected_before = false;
    while !sender.is_closed() {
        match listen(&config, &sender, connected_before).await {
            Ok(()) => {
                connected_before = true;
                wait = Duration::from_secs(1);
            }
            Err(error) => {
                tracing::warn!(target: "fillproof::alpaca", %error, "trade_updates stream down; reconnecting");
                sleep(wait).await;
                wait = (wait * 2).min(RECONNECT_MAX);
            }
        }
    }
}

/// One connection: authenticate, listen, forward until it ends. `Ok` when
/// it was listening and then closed; `Err` when it never got that far.
async fn listen(
    config: &AlpacaConfig,
    sender: &mpsc::UnboundedSender<StreamItem>,
    reconnected: bool,
) -> Result<(), String> {
    crate::install_crypto_provider();
    let (mut socket, _) = tokio_tungstenite::connect_async(config.stream_url.as_str())
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", config.stream_url))?;
    let auth = json!({
        "action": "auth",
        "key": config.key_id,
        "secret": config.secret_key(),
    });
    socket
        .send(Message::text(auth.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    let reply = next_json(&mut socket).await?;
    if reply.pointer("/data/status").and_then(Value::as_str) != Some("authorized") {
        return Err("the stream refused the keys (unauthorized)".into());
    }
    let listen = json!({"action": "listen", "data": {"streams": ["trade_updates"]}});
    socket
        .send(Message::text(listen.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let reply = next_json(&mut socket).await?;
        if reply.get("stream").and_then(Value::as_str) == Some("listening") {
            break;
        }
    }
    if reconnected && sender.send(StreamItem::Reconnected).is_err() {
        return Ok(());
    }
    while let Some(message) = socket.next().await {
        let Ok(message) = message else { break };
        let Some(value) = frame_json(&message) else {
            if matches!(message, Message::Close(_)) {
                break;
            }
            continue;
        };
        if let Some(update) = trade_update(&value) {
            if sender.send(StreamItem::Update(Box::new(update))).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn frame_json(message: &Message) -> Option<Value> {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).ok(),
        Message::Binary(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

async fn next_json<S>(socket: &mut S) -> Result<Value, String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match socket.next().await {
            None => return Err("the stream closed during the handshake".into()),
            Some(Err(error)) => return Err(error.to_string()),
            Some(Ok(message)) => {
                if let Some(value) = frame_json(&message) {
                    return Ok(value);
                }
            }
        }
    }
}

/// A `trade_updates` frame read into the engine's model; `None` for any
/// other frame or one whose order does not parse.
#[must_use]
pub fn trade_update(frame: &Value) -> Option<TradeUpdate> {
    if frame.get("stream").and_then(Value::as_str) != Some("trade_updates") {
        return None;
    }
    let data = frame.get("data")?;
    let order_bytes = serde_json::to_vec(data.get("order")?).ok()?;
    let order = match wire::order(&order_bytes) {
        Ok(order) => order,
        Err(problem) => {
            tracing::warn!(target: "fillproof::alpaca", %problem, "trade update with an unreadable order, skipped");
            return None;
        }
    };
    let decimal = |name: &str| {
        data.get(name).and_then(|v| match v {
            Value::String(s) => s.parse::<Decimal>().ok(),
            Value::Number(n) => n.to_string().parse::<Decimal>().ok(),
            _ => None,
        })
    };
    let at = data
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(fillproof_engine::Timestamp::parse_rfc3339)
        .or(order.updated_at)?;
    Some(TradeUpdate {
        event: TradeEvent::parse(data.get("event").and_then(Value::as_str)?),
        execution_id: data
            .get("execution_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        qty: decimal("qty"),
        price: decimal("price"),
        position_qty: decimal("position_qty"),
        at,
        order,
    })
}
