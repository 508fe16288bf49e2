//! The append-only audit log: one JSON line per submit, fill, cancel,
//! rejection and failure, each carrying the SHA-256 hash of the line
//! before it, so that an edited, removed or reordered line is detected by
//! [`verify`]. A record is written and flushed before the broker call it
//! precedes: an order is on disk before it is sent.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::clock::Clock;
use crate::order::Side;

/// The hash a log's first record chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
    pub broker_at: Option<crate::order::Timestamp>,
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
    /// Hash of the previous line ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 of `prev_hash` and this record without `hash`, hex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl AuditRecord {
    /// The hash this record should carry.
    #[must_use]
    pub fn expected_hash(&self) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        let json = serde_json::to_string(&body).unwrap_or_default();
        hash_body(&self.prev_hash, &json)
    }

    /// The record as a line: its body (every field but `hash`) with the
    /// hash of `prev_hash` and that body appended, serialized once.
    fn sealed_line(&mut self) -> String {
        self.hash = String::new();
        // A line is about 400 bytes: one allocation, no regrowth.
        let mut line = String::with_capacity(640);
        self.write_body(&mut line);
        self.hash = hash_body(&self.prev_hash, &line);
        line.pop();
        line.push_str(",\"hash\":\"");
        line.push_str(&self.hash);
        line.push_str("\"}");
        line
    }

    /// Writes the record without `hash` as the JSON object serde_json
    /// makes of it, byte for byte (a property test holds the two equal;
    /// [`AuditRecord::expected_hash`], which [`verify`] uses, still goes
    /// through serde_json). Written by hand because a record is written
    /// for every event of every order, and the generic serializer was a
    /// third of the log's cost.
    fn write_body(&self, out: &mut String) {
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
fn push_json_str(out: &mut String, text: &str) {
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

/// SHA-256 of `prev_hash`, a newline and `body`, hex.
fn hash_body(prev_hash: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.as_bytes());
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(2 * digest.len());
    for byte in digest {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Where records go. `append` returns once the line is written and
/// flushed.
pub trait AuditSink: Send {
    /// Appends one record: `line` is its JSON form (without a newline),
    /// which is what a log holds; `record` is the same, parsed.
    ///
    /// # Errors
    /// The write's error; the caller must not send the order.
    fn append(&mut self, record: &AuditRecord, line: &str) -> std::io::Result<()>;
}

/// A file opened for appending; each line is flushed as it is written.
pub struct FileSink {
    file: std::fs::File,
}

impl FileSink {
    /// Opens (or creates) `path` for appending.
    ///
    /// # Errors
    /// The file system's error.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self { file })
    }
}

impl AuditSink for FileSink {
    fn append(&mut self, _record: &AuditRecord, line: &str) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.file.flush()
    }
}

/// Lines kept in memory, shared with whoever holds a clone: simulations
/// write no files while they run.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    lines: Arc<Mutex<Vec<String>>>,
}

impl MemorySink {
    /// The lines so far.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl AuditSink for MemorySink {
    fn append(&mut self, _record: &AuditRecord, line: &str) -> std::io::Result<()> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_owned());
        Ok(())
    }
}

struct Chain {
    sink: Box<dyn AuditSink>,
    seq: u64,
    last_hash: String,
}

/// The log: a sink, the chain's head, and a clock for stamps.
pub struct AuditLog {
    chain: Mutex<Chain>,
    clock: Arc<dyn Clock>,
}

impl AuditLog {
    /// A new log writing to `sink`, chaining from [`GENESIS`].
    #[must_use]
    pub fn new(sink: Box<dyn AuditSink>, clock: Arc<dyn Clock>) -> Self {
        Self {
            chain: Mutex::new(Chain {
                sink,
                seq: 0,
                last_hash: GENESIS.to_owned(),
            }),
            clock,
        }
    }

    /// Writes one record and flushes it.
    ///
    /// # Errors
    /// The sink's error; the chain does not advance.
    pub fn record(&self, entry: AuditEntry) -> std::io::Result<()> {
        let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        let mut record = AuditRecord {
            seq: chain.seq + 1,
            ts: self.clock.now().to_string(),
            event: entry.event,
            trader_id: entry.trader_id,
            client_order_id: entry.client_order_id,
            order_id: entry.order_id,
            symbol: entry.symbol,
            side: entry.side,
            qty: entry.qty,
            price: entry.price,
            status: entry.status,
            reason: entry.reason,
            broker_at: entry.broker_at.map(|t| t.to_string()),
            prev_hash: chain.last_hash.clone(),
            hash: String::new(),
        };
        let line = record.sealed_line();
        chain.sink.append(&record, &line)?;
        chain.seq = record.seq;
        chain.last_hash = record.hash;
        Ok(())
    }
}

/// What [`verify`] or [`export_csv`] found wrong, and on which line
/// (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuditError {
    /// A date argument not written `YYYY-MM-DD`.
    #[error("date `{date}` is not written YYYY-MM-DD")]
    BadDate {
        /// What was given.
        date: String,
    },
    /// A line that is not a record.
    #[error("line {line}: not an audit record ({detail})")]
    Malformed {
        /// The line.
        line: usize,
        /// What the parser said.
        detail: String,
    },
    /// A record whose content does not match its hash: it was edited.
    #[error("line {line}: record {seq} was edited (its hash does not match its content)")]
    Edited {
        /// The line.
        line: usize,
        /// The record's sequence number.
        seq: u64,
    },
    /// A record that does not follow the one before it: records were
    /// removed, inserted or reordered.
    #[error(
        "line {line}: record {seq} does not follow record {previous} (expected {expected}); records were removed or reordered"
    )]
    Broken {
        /// The line.
        line: usize,
        /// The record's sequence number.
        seq: u64,
        /// The previous record's sequence number.
        previous: u64,
        /// The sequence number expected here.
        expected: u64,
    },
}

/// Checks a whole log; returns how many records it holds.
///
/// # Errors
/// The first line that is malformed, edited, or out of chain.
pub fn verify(text: &str) -> Result<u64, AuditError> {
    let mut previous_seq = 0;
    let mut previous_hash = GENESIS.to_owned();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: AuditRecord =
            serde_json::from_str(line).map_err(|e| AuditError::Malformed {
                line: line_number,
                detail: e.to_string(),
            })?;
        if record.hash != record.expected_hash() {
            return Err(AuditError::Edited {
                line: line_number,
                seq: record.seq,
            });
        }
        if record.seq != previous_seq + 1 || record.prev_hash != previous_hash {
            return Err(AuditError::Broken {
                line: line_number,
                seq: record.seq,
                previous: previous_seq,
                expected: previous_seq + 1,
            });
        }
        previous_seq = record.seq;
        previous_hash = record.hash;
    }
    Ok(previous_seq)
}

/// The records of `trader` whose date (UTC, `YYYY-MM-DD`) is within
/// `from..=to`, as CSV with a header. Only that trader's records are ever
/// included.
///
/// # Errors
/// A malformed line, or a date not written `YYYY-MM-DD`.
pub fn export_csv(text: &str, trader: &str, from: &str, to: &str) -> Result<String, AuditError> {
    for date in [from, to] {
        let valid = date.len() == 10
            && date.char_indices().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !valid {
            return Err(AuditError::BadDate {
                date: date.to_owned(),
            });
        }
    }
    let mut csv = String::from(
        "seq,timestamp,trader_id,event,client_order_id,order_id,symbol,side,qty,price,status,reason\n",
    );
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: AuditRecord =
            serde_json::from_str(line).map_err(|e| AuditError::Malformed {
                line: index + 1,
                detail: e.to_string(),
            })?;
        let date = record.ts.get(..10).unwrap_or("");
        if record.trader_id != trader || date < from || date > to {
            continue;
        }
        let event = serde_json::to_value(record.event)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let fields = [
            record.seq.to_string(),
            record.ts,
            record.trader_id,
            event,
            record.client_order_id,
            record.order_id.unwrap_or_default(),
            record.symbol,
            record.side.to_string(),
            record.qty.to_string(),
            record.price.map(|p| p.to_string()).unwrap_or_default(),
            record.status,
            record.reason,
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    Ok(csv)
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::order::Timestamp;

    fn any_decimal() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..=12).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
    }

    fn any_event() -> impl Strategy<Value = AuditEvent> {
        prop::sample::select(vec![
            AuditEvent::Submit,
            AuditEvent::Submitted,
            AuditEvent::Refused,
            AuditEvent::Reject,
            AuditEvent::Fill,
            AuditEvent::Cancel,
            AuditEvent::NotFilled,
            AuditEvent::Failure,
        ])
    }

    /// Text with every kind of character JSON treats apart: quotes,
    /// backslashes, each control character, and multi-byte characters.
    fn any_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                prop::char::range('\u{0}', '\u{7f}'),
                Just('"'),
                Just('\\'),
                any::<char>(),
            ],
            0..24,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        /// The hand-written line is serde_json's, byte for byte, whatever
        /// the fields hold: `verify` recomputes hashes through serde_json.
        #[test]
        fn body_is_written_as_serde_json_writes_it(
            seq in any::<u64>(),
            event in any_event(),
            texts in prop::collection::vec(any_text(), 8),
            order_id in any::<bool>(),
            broker_at in any::<bool>(),
            buy in any::<bool>(),
            qty in any_decimal(),
            price in prop::option::of(any_decimal()),
        ) {
            let record = AuditRecord {
                seq,
                ts: texts[0].clone(),
                event,
                trader_id: texts[1].clone(),
                client_order_id: texts[2].clone(),
                order_id: order_id.then(|| texts[3].clone()),
                symbol: texts[4].clone(),
                side: if buy { Side::Buy } else { Side::Sell },
                qty,
                price,
                status: texts[5].clone(),
                reason: texts[6].clone(),
                broker_at: broker_at.then(|| texts[7].clone()),
                prev_hash: texts[7].clone(),
                hash: String::new(),
            };
            let mut line = String::new();
            record.write_body(&mut line);
            prop_assert_eq!(line, serde_json::to_string(&record).expect("serializes"));
        }
    }

    struct FixedClock;

    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_unix_micros(1_735_828_200_000_000)
        }
    }

    fn entry(trader: &str, event: AuditEvent, n: u32) -> AuditEntry {
        AuditEntry {
            event,
            trader_id: trader.into(),
            client_order_id: format!("c-{n}"),
            order_id: Some(format!("o-{n}")),
            symbol: "SPY".into(),
            side: Side::Buy,
            qty: Decimal::from(10),
            price: Some("590.10".parse().expect("price")),
            status: "filled".into(),
            reason: "fill confirmed, by status".into(),
            broker_at: (event == AuditEvent::Fill)
                .then(|| Timestamp::from_unix_micros(1_735_828_199_500_000)),
        }
    }

    /// A fill record carries the broker's stamp; a record without one is
    /// written exactly as before the field existed, so older logs verify.
    #[test]
    fn broker_stamp_is_written_only_on_fills() {
        let sink = MemorySink::default();
        let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
        log.record(entry("t", AuditEvent::Submit, 1))
            .expect("submit");
        log.record(entry("t", AuditEvent::Fill, 1)).expect("fill");
        let lines = sink.lines();
        assert!(!lines[0].contains("broker_at"), "{}", lines[0]);
        assert!(
            lines[1].contains(r#""broker_at":"2025-01-02T14:29:59.500000Z""#),
            "{}",
            lines[1]
        );
        assert_eq!(verify(&lines.join("\n")).map(|n| n > 0), Ok(true));
    }

    fn sample_log() -> Vec<String> {
        let sink = MemorySink::default();
        let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
        for n in 0..5 {
            log.record(entry(
                if n % 2 == 0 { "alice" } else { "bob" },
                AuditEvent::Submit,
                n,
            ))
            .expect("memory never fails");
        }
        sink.lines()
    }

    /// An untouched log verifies, with its record count, and each line's
    /// hash is the one recomputed from its content.
    /// The chain's hash is SHA-256 of the previous hash, a newline and the
    /// body, in lower-case hex (checked against an independent SHA-256).
    #[test]
    fn hash_is_sha256_hex_of_previous_and_body() {
        assert_eq!(
            hash_body(GENESIS, r#"{"a":1}"#),
            "f21735afd2cd6af4fc5804b0045cebfd545aef8396d29d030c39cb8880b45b7f"
        );
    }

    #[test]
    fn intact_log_verifies() {
        let lines = sample_log();
        assert_eq!(verify(&lines.join("\n")), Ok(5));
        let record: AuditRecord = serde_json::from_str(&lines[0]).expect("record");
        assert_eq!(record.hash, record.expected_hash());
        assert_eq!(record.prev_hash, GENESIS);
    }

    /// An edited line is caught on that line.
    #[test]
    fn edited_line_is_detected() {
        let mut lines = sample_log();
        lines[2] = lines[2].replace("\"qty\":\"10\"", "\"qty\":\"1000\"");
        assert_eq!(
            verify(&lines.join("\n")),
            Err(AuditError::Edited { line: 3, seq: 3 })
        );
    }

    /// A removed line breaks the chain where it was.
    #[test]
    fn removed_line_is_detected() {
        let mut lines = sample_log();
        lines.remove(1);
        let error = verify(&lines.join("\n")).expect_err("gap");
        assert!(
            matches!(
                error,
                AuditError::Broken {
                    line: 2,
                    seq: 3,
                    ..
                }
            ),
            "{error}"
        );
    }

    /// Swapped lines break the chain.
    #[test]
    fn reordered_lines_are_detected() {
        let mut lines = sample_log();
        lines.swap(3, 4);
        let error = verify(&lines.join("\n")).expect_err("reordered");
        assert!(
            matches!(error, AuditError::Broken { line: 4, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("removed or reordered"));
    }

    /// A trader's export holds only their records, within the dates.
    #[test]
    fn export_is_per_trader_and_date_range() {
        let text = sample_log().join("\n");
        let csv = export_csv(&text, "alice", "2025-01-02", "2025-01-02").expect("export");
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter()
                .all(|r| r.contains(",alice,") && !r.contains("bob"))
        );
        assert!(
            rows[0].contains("\"fill confirmed, by status\""),
            "{}",
            rows[0]
        );
        let none = export_csv(&text, "alice", "2025-01-03", "2025-01-31").expect("export");
        assert_eq!(none.lines().count(), 1);
        assert_eq!(
            export_csv(&text, "alice", "2025/01/02", "2025-01-02"),
            Err(AuditError::BadDate {
                date: "2025/01/02".into()
            })
        );
    }

    /// A file sink writes each record as a line, flushed: the file holds
    /// it as soon as `record` returns.
    #[test]
    fn file_sink_persists_before_returning() {
        let dir = tempfile::Builder::new()
            .prefix("fillproof-audit-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::new(
            Box::new(FileSink::open(&path).expect("open")),
            Arc::new(FixedClock),
        );
        log.record(entry("alice", AuditEvent::Submit, 1))
            .expect("write");
        let on_disk = std::fs::read_to_string(&path).expect("read");
        assert_eq!(on_disk.lines().count(), 1);
        assert_eq!(verify(&on_disk), Ok(1));
    }
}
