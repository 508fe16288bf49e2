//! One record: what happened ([`AuditEvent`]), what the executor gives
//! ([`AuditEntry`]), and the record as written and chained ([`AuditRecord`]).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::port::Side;

use super::*;

/// What a record records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// About to send the order (written before the broker call).
    Submit,
    /// The broker holds the order.
    Submitted,
    /// Validation or a risk rule refused the signal; nothing was sent.
    Refused,
    /// The broker rejected the order.
    Reject,
    /// Filled, completely or in part.
    Fill,
    /// The deadline's cancel, and how it went.
    Cancel,
    /// Confirmed not filled.
    NotFilled,
    /// Submission or monitoring failed, or ended unresolved.
    Failure,
}

/// A record's content, as given by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// What happened.
    pub event: AuditEvent,
    /// Whose order.
    pub trader_id: String,
    /// The intent's id.
    pub client_order_id: String,
    /// The broker's id, once known.
    pub order_id: Option<String>,
    /// Instrument.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Quantity: ordered for submits, filled for fills.
    pub qty: Decimal,
    /// Price, when there is one.
    pub price: Option<Decimal>,
    /// Status after the event.
    pub status: String,
    /// Why, in a sentence.
    pub reason: String,
    /// For a fill: when the broker says it filled (the last execution's
    /// stamp), which the record's own `ts`, the engine's clock when it
    /// learned of the fill, follows.
    pub broker_at: Option<crate::port::Timestamp>,
    /// For a `submit` record of an order with exits (a bracket or an
    /// OTO): its stop loss and take profit, so that a restarted engine
    /// knows the order has exit legs to watch.
    pub exits: ExitPrices,
    /// For a record of an exit leg: the `client_order_id` of the entry it
    /// protects.
    pub exit_of: Option<String>,
    /// For a fill record of an order filled in more than one piece: each
    /// piece's quantity, price and broker stamp, in order (the average
    /// alone cannot rebuild average-cost P&L to the cent, nor book each
    /// piece when it happened).
    pub executions: Vec<(Decimal, Decimal, crate::port::Timestamp)>,
}

/// An entry's exits, as its `submit` record gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitPrices {
    /// The stop loss's stop price.
    pub stop_loss: Option<Decimal>,
    /// The take profit's limit price.
    pub take_profit: Option<Decimal>,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Wall-clock stamp, RFC 3339 UTC.
    pub ts: String,
    /// What happened.
    pub event: AuditEvent,
    /// Whose order.
    pub trader_id: String,
    /// The intent's id.
    pub client_order_id: String,
    /// The broker's id.
    pub order_id: Option<String>,
    /// Instrument.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Quantity.
    pub qty: Decimal,
    /// Price.
    pub price: Option<Decimal>,
    /// Status after the event.
    pub status: String,
    /// Why.
    pub reason: String,
    /// For a fill: the broker's stamp of it, RFC 3339 UTC. Absent in
    /// other records (and in logs written before it existed, which verify
    /// unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_at: Option<String>,
    /// For a `submit` record of a bracket or an OTO: its stop loss's stop
    /// price. Absent otherwise (and in logs written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<Decimal>,
    /// For a `submit` record of a bracket or an OTO: its take profit's
    /// limit price. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<Decimal>,
    /// For a record of an exit leg: the `client_order_id` of the entry it
    /// protects. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_of: Option<String>,
    /// For a fill record of an order filled in more than one piece: each
    /// piece's quantity, price and broker stamp (RFC 3339 UTC), in order.
    /// Absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executions: Vec<(Decimal, Decimal, String)>,
    /// `hmac-sha256` in a keyed log's records; absent in a keyless one
    /// (so keyless records are written as before the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainMode>,
    /// Hash of the previous line ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 (HMAC-SHA256 when keyed) of `prev_hash`, a newline and this
    /// line's bytes without `hash`, hex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl AuditRecord {
    /// The keyless hash of this record as the writer would write it
    /// (serde_json's form). [`verify_chain`] does not use it: it hashes a
    /// line's own bytes, which are these for a line the writer wrote.
    #[must_use]
    pub fn expected_hash(&self) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        let json = serde_json::to_string(&body).unwrap_or_default();
        chain_hash(None, &self.prev_hash, &[&json])
    }

    /// The record as a line: its body (every field but `hash`) with the
    /// hash of `prev_hash` and that body appended, serialized once.
    pub(super) fn sealed_line(&mut self, key: Option<&AuditKey>) -> String {
        self.hash = String::new();
        // A line is about 400 bytes: one allocation, no regrowth.
        let mut line = String::with_capacity(640);
        self.write_body(&mut line);
        self.hash = chain_hash(key, &self.prev_hash, &[&line]);
        line.pop();
        line.push_str(",\"hash\":\"");
        line.push_str(&self.hash);
        line.push_str("\"}");
        line
    }

    /// Writes the record without `hash` as the JSON object serde_json
    /// makes of it, byte for byte (a property test holds the two equal;
    /// [`AuditRecord::expected_hash`] goes
    /// through serde_json). Written by hand because a record is written
    /// for every event of every order, and the generic serializer was a
    /// third of the log's cost. [`verify_chain`] hashes a line's bytes as
    /// they are, whatever wrote them.
    pub(super) fn write_body(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(out, "{{\"seq\":{}", self.seq);
        out.push_str(",\"ts\":");
        push_json_str(out, &self.ts);
        out.push_str(",\"event\":\"");
        out.push_str(self.event.as_str());
        out.push_str("\",\"trader_id\":");
        push_json_str(out, &self.trader_id);
        out.push_str(",\"client_order_id\":");
        push_json_str(out, &self.client_order_id);
        out.push_str(",\"order_id\":");
        match &self.order_id {
            Some(id) => push_json_str(out, id),
            None => out.push_str("null"),
        }
        out.push_str(",\"symbol\":");
        push_json_str(out, &self.symbol);
        out.push_str(match self.side {
            Side::Buy => ",\"side\":\"buy\"",
            Side::Sell => ",\"side\":\"sell\"",
        });
        // A decimal is written as its string, which never needs escaping.
        let _ = write!(out, ",\"qty\":\"{}\"", self.qty);
        match &self.price {
            Some(price) => {
                let _ = write!(out, ",\"price\":\"{price}\"");
            }
            None => out.push_str(",\"price\":null"),
        }
        out.push_str(",\"status\":");
        push_json_str(out, &self.status);
        out.push_str(",\"reason\":");
        push_json_str(out, &self.reason);
        if let Some(at) = &self.broker_at {
            out.push_str(",\"broker_at\":");
            push_json_str(out, at);
        }
        for (name, price) in [
            ("stop_loss", self.stop_loss),
            ("take_profit", self.take_profit),
        ] {
            if let Some(price) = price {
                let _ = write!(out, ",\"{name}\":\"{price}\"");
            }
        }
        if let Some(entry) = &self.exit_of {
            out.push_str(",\"exit_of\":");
            push_json_str(out, entry);
        }
        for (n, (qty, price, at)) in self.executions.iter().enumerate() {
            out.push_str(if n == 0 { ",\"executions\":[" } else { "," });
            let _ = write!(out, "[\"{qty}\",\"{price}\",");
            push_json_str(out, at);
            out.push(']');
            if n + 1 == self.executions.len() {
                out.push(']');
            }
        }
        if let Some(mode) = self.chain {
            out.push_str(",\"chain\":\"");
            out.push_str(mode.as_str());
            out.push('"');
        }
        out.push_str(",\"prev_hash\":");
        push_json_str(out, &self.prev_hash);
        out.push('}');
    }
}

impl AuditEvent {
    /// The record's spelling of the event (serde's `snake_case`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Submitted => "submitted",
            Self::Refused => "refused",
            Self::Reject => "reject",
            Self::Fill => "fill",
            Self::Cancel => "cancel",
            Self::NotFilled => "not_filled",
            Self::Failure => "failure",
        }
    }
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it:
/// `"` and `\` with a backslash, the control characters with a backslash
/// letter where JSON has one and as `\u00XX` otherwise, everything else
/// as it is.
pub(super) fn push_json_str(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}
