//! The append-only audit log: one JSON line per submit, fill, cancel,
//! rejection and failure, each carrying a hash of the hash before it and
//! its own exact bytes, so that an edited, removed or reordered line is
//! detected by [`verify_chain`]. A record is written and flushed before the
//! broker call it precedes: an order is on disk before it is sent.
//!
//! Two modes: keyless, the hash is SHA-256, which proves the log is
//! consistent but can be recomputed by anyone who edits it; keyed with an
//! [`AuditKey`], it is HMAC-SHA256, which only a holder of the key can
//! compute. The chain's [`AuditHead`] (records and last hash), kept beside
//! the log, detects records cut from its end.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use hmac::{Hmac, Mac as _};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::port::Side;
use crate::time::Clock;

/// The hash a log's first record chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The environment variable that holds the audit key: when set (and not
/// empty), logs are chained with HMAC-SHA256 under it, and verifying one
/// needs it.
pub const AUDIT_KEY_ENV: &str = "FILLPROOF_AUDIT_KEY";

/// How a log's records are chained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainMode {
    /// SHA-256, keyless: anyone can recompute it.
    #[serde(rename = "sha256")]
    Sha256,
    /// HMAC-SHA256 under an [`AuditKey`]: only a holder of the key can.
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl ChainMode {
    /// The mode's name, as records and heads spell it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::HmacSha256 => "hmac-sha256",
        }
    }

    fn of(key: Option<&AuditKey>) -> Self {
        if key.is_some() {
            Self::HmacSha256
        } else {
            Self::Sha256
        }
    }
}

/// The secret an HMAC-SHA256 chain is keyed with. Its `Debug` shows no
/// part of it.
#[derive(Clone)]
pub struct AuditKey {
    mac: Hmac<Sha256>,
}

impl AuditKey {
    /// A key of these bytes; `None` when there are none.
    #[must_use]
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.is_empty() {
            return None;
        }
        let mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret).ok()?;
        Some(Self { mac })
    }

    /// The key in [`AUDIT_KEY_ENV`]: `None` when it is unset or empty.
    ///
    /// # Errors
    /// A value that is not UTF-8.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(AUDIT_KEY_ENV) {
            Ok(value) => Ok(Self::new(value.as_bytes())),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                "{AUDIT_KEY_ENV} is not UTF-8: give the key as text (for example 64 hex digits)"
            )),
        }
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<secret>)")
    }
}

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
    fn sealed_line(&mut self, key: Option<&AuditKey>) -> String {
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

/// SHA-256 (HMAC-SHA256 under `key`) of `prev_hash`, a newline and the
/// body, given in `parts`, in lower-case hex.
fn chain_hash(key: Option<&AuditKey>, prev_hash: &str, parts: &[&str]) -> String {
    let head: [&[u8]; 2] = [prev_hash.as_bytes(), b"\n"];
    digest_hex(
        key,
        head.into_iter().chain(parts.iter().map(|p| p.as_bytes())),
    )
}

/// SHA-256 of `parts`, one after another (HMAC-SHA256 under `key`, which
/// only a holder of the key can compute), in lower-case hex: the one
/// digest every fillproof hash chain and file digest is made with (the
/// audit log, `fillproof serve`'s request log, a scenario's digest).
#[must_use]
pub fn digest_hex<'a>(key: Option<&AuditKey>, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    match key {
        None => {
            let mut hasher = Sha256::new();
            for part in parts {
                hasher.update(part);
            }
            hex(&hasher.finalize())
        }
        Some(key) => {
            let mut mac = key.mac.clone();
            for part in parts {
                mac.update(part);
            }
            hex(&mac.finalize().into_bytes())
        }
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * bytes.len());
    for &byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Whether `a` and `b` are equal, in time that depends on their lengths
/// only (a MAC compared byte by byte with an early exit tells a forger
/// how much of a guess was right).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
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

/// The log: a sink, the chain's head, a clock for stamps, and the key
/// when keyed.
pub struct AuditLog {
    chain: Mutex<Chain>,
    clock: Arc<dyn Clock>,
    key: Option<AuditKey>,
}

impl AuditLog {
    /// A new keyless log writing to `sink`, chaining from [`GENESIS`] with
    /// SHA-256.
    #[must_use]
    pub fn new(sink: Box<dyn AuditSink>, clock: Arc<dyn Clock>) -> Self {
        Self::with_key(sink, clock, None)
    }

    /// A new log writing to `sink`, chained with HMAC-SHA256 under `key`
    /// (keyless SHA-256 when `None`).
    #[must_use]
    pub fn with_key(
        sink: Box<dyn AuditSink>,
        clock: Arc<dyn Clock>,
        key: Option<AuditKey>,
    ) -> Self {
        Self {
            chain: Mutex::new(Chain {
                sink,
                seq: 0,
                last_hash: GENESIS.to_owned(),
            }),
            clock,
            key,
        }
    }

    /// The chain's head so far: records written and the last one's hash,
    /// sealed when keyed. Kept beside the log, it detects a cut tail.
    #[must_use]
    pub fn head(&self) -> AuditHead {
        let chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        AuditHead::new(chain.seq, chain.last_hash.clone(), self.key.as_ref())
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
            chain: self.key.as_ref().map(|_| ChainMode::HmacSha256),
            prev_hash: chain.last_hash.clone(),
            hash: String::new(),
        };
        let line = record.sealed_line(self.key.as_ref());
        chain.sink.append(&record, &line)?;
        chain.seq = record.seq;
        chain.last_hash = record.hash;
        Ok(())
    }
}

/// The chain's head: how many records a log holds and the last one's hash,
/// written beside the log (`LOG.head`, one JSON object) so that a log cut
/// short is detected. Keyed, it carries a seal (HMAC-SHA256 of the count
/// and the hash) that only a holder of the key can write for a shorter
/// log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    /// Records in the log.
    pub records: u64,
    /// The last record's hash ([`GENESIS`] for none).
    pub last_hash: String,
    /// How the log is chained.
    pub mode: ChainMode,
    /// Keyed: HMAC-SHA256 of `records` and `last_hash`, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl AuditHead {
    /// The head of a log of `records` records ending with `last_hash`,
    /// sealed under `key`.
    #[must_use]
    pub fn new(records: u64, last_hash: String, key: Option<&AuditKey>) -> Self {
        let seal = key.map(|key| Self::seal_of(key, records, &last_hash));
        Self {
            records,
            last_hash,
            mode: ChainMode::of(key),
            seal,
        }
    }

    fn seal_of(key: &AuditKey, records: u64, last_hash: &str) -> String {
        let mut mac = key.mac.clone();
        mac.update(format!("fillproof audit head\n{records}\n{last_hash}").as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// The head as a line of JSON, newline-terminated.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a head written by [`AuditHead::to_json`].
    ///
    /// # Errors
    /// Text that is not such a head, with the parser's word on why (which
    /// names the field).
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text.trim_end()).map_err(|e| e.to_string())
    }

    /// Checks that `log`, the head a verified log ends with (from
    /// [`verify_chain`]), is the one this head was written for.
    ///
    /// # Errors
    /// [`AuditError::HeadMismatch`] naming what differs: the mode, the
    /// count (a cut tail, or records added), the last hash, or the seal.
    pub fn check(&self, log: &AuditHead, key: Option<&AuditKey>) -> Result<(), AuditError> {
        let mismatch = |detail: String| Err(AuditError::HeadMismatch { detail });
        if self.mode != log.mode {
            return mismatch(format!(
                "the head says the log is chained with {}, and it is chained with {}",
                self.mode.as_str(),
                log.mode.as_str()
            ));
        }
        if self.records > log.records {
            return mismatch(format!(
                "the log holds {} records and its head {}: {} records were cut from its end",
                log.records,
                self.records,
                self.records - log.records
            ));
        }
        if self.records < log.records {
            return mismatch(format!(
                "the log holds {} records and its head {}: records were added after the head was written",
                log.records, self.records
            ));
        }
        if !same(&self.last_hash, &log.last_hash) {
            return mismatch(format!(
                "the log's last record (record {}) has hash {} and its head says {}: the log's last records are not the ones the head was written for",
                log.records, log.last_hash, self.last_hash
            ));
        }
        if let Some(key) = key {
            let expected = Self::seal_of(key, self.records, &self.last_hash);
            if !self
                .seal
                .as_deref()
                .is_some_and(|seal| same(seal, &expected))
            {
                return mismatch(
                    "the head's seal does not match its count and hash under this key: the head was edited, or written with another key".into(),
                );
            }
        }
        Ok(())
    }
}

/// What [`verify_chain`] or [`export_csv`] found wrong, and on which line
/// (1-based). [`AuditError::is_bad_input`] tells input that is not an
/// audit log (or cannot be checked as given) from a log that fails.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuditError {
    /// A date argument not written `YYYY-MM-DD`.
    #[error("date `{date}` is not written YYYY-MM-DD")]
    BadDate {
        /// What was given.
        date: String,
    },
    /// An empty file.
    #[error("the file is empty; an audit log holds one JSON record per line")]
    Empty,
    /// A file of blank lines only.
    #[error(
        "the file holds only blank lines ({lines}); an audit log holds one JSON record per line"
    )]
    Blank {
        /// How many.
        lines: usize,
    },
    /// A line that is not a record: not JSON, or JSON without a record's
    /// fields.
    #[error("line {line}: {detail}")]
    Malformed {
        /// The line.
        line: usize,
        /// What is wrong, with the parser's word.
        detail: String,
    },
    /// A keyed record, and no key to check it with.
    #[error(
        "line {line}: record {seq} is chained with HMAC-SHA256; set {AUDIT_KEY_ENV} to the key the log was written with to verify it"
    )]
    KeyRequired {
        /// The line.
        line: usize,
        /// The record's sequence number.
        seq: u64,
    },
    /// A keyless record where a key was given: with a key, every record
    /// must carry an HMAC, or anyone could have rewritten the log.
    #[error(
        "line {line}: record {seq} carries a keyless SHA-256 hash, and {AUDIT_KEY_ENV} is set: the log was written without the key, or rewritten by someone without it"
    )]
    NotKeyed {
        /// The line.
        line: usize,
        /// The record's sequence number.
        seq: u64,
    },
    /// A record whose bytes do not match its hash: it was edited (or,
    /// keyed, written with another key).
    #[error("line {line}: record {seq} was edited (its hash does not match its bytes)")]
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
    /// The log does not end where its head says.
    #[error("{detail}")]
    HeadMismatch {
        /// What differs.
        detail: String,
    },
}

impl AuditError {
    /// True for input that is not an audit log, or cannot be checked as
    /// given (a bad date, an empty file, a line that is not a record, a
    /// keyed log without the key); false for a log that fails its checks.
    #[must_use]
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::BadDate { .. }
                | Self::Empty
                | Self::Blank { .. }
                | Self::Malformed { .. }
                | Self::KeyRequired { .. }
        )
    }
}

/// Checks a whole keyless log; returns how many records it holds. A keyed
/// log is refused ([`AuditError::KeyRequired`]): use [`verify_chain`].
///
/// # Errors
/// As [`verify_chain`].
pub fn verify_audit_log(text: &str) -> Result<u64, AuditError> {
    verify_chain(text, None).map(|head| head.records)
}

/// Checks a whole log, hashing each line's exact bytes (every byte but
/// its final `,"hash":"…"}`, which must end it, with a `}` in its place) with
/// the hash before it: SHA-256 without a key, HMAC-SHA256 under `key`.
/// With a key every record must be keyed; without one a keyed record is
/// refused. Blank lines between records are skipped. Returns the head the
/// log ends with.
///
/// # Errors
/// An empty or blank log, or the first line that is not a record, is
/// edited, out of chain, or in the wrong mode.
pub fn verify_chain(text: &str, key: Option<&AuditKey>) -> Result<AuditHead, AuditError> {
    if text.is_empty() {
        return Err(AuditError::Empty);
    }
    let mut previous_seq = 0;
    let mut previous_hash = GENESIS.to_owned();
    let mut blank = 0;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        let record = parse_record(line, line_number)?;
        check_line(line, line_number, &record, key)?;
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
    if previous_seq == 0 {
        return Err(AuditError::Blank { lines: blank });
    }
    Ok(AuditHead::new(previous_seq, previous_hash, key))
}

/// A line as a record; a line that is not one says whether it is JSON.
fn parse_record(line: &str, line_number: usize) -> Result<AuditRecord, AuditError> {
    serde_json::from_str(line).map_err(|error| {
        let json = serde_json::from_str::<serde_json::Value>(line).is_ok();
        AuditError::Malformed {
            line: line_number,
            detail: if json {
                format!("not an audit record ({error})")
            } else {
                format!("not JSON ({error}); an audit log holds one JSON record per line")
            },
        }
    })
}

/// Checks a record's mode against the key, and its hash against its
/// line's bytes.
fn check_line(
    line: &str,
    line_number: usize,
    record: &AuditRecord,
    key: Option<&AuditKey>,
) -> Result<(), AuditError> {
    let keyed = record.chain == Some(ChainMode::HmacSha256);
    match (keyed, key) {
        (true, None) => {
            return Err(AuditError::KeyRequired {
                line: line_number,
                seq: record.seq,
            });
        }
        (false, Some(_)) => {
            return Err(AuditError::NotKeyed {
                line: line_number,
                seq: record.seq,
            });
        }
        _ => {}
    }
    let edited = AuditError::Edited {
        line: line_number,
        seq: record.seq,
    };
    // The writer ends each line with its hash; a line that does not end
    // with the hash it holds, as the writer writes it, was rewritten.
    let tail_len = ",\"hash\":\"\"}".len() + record.hash.len();
    let Some(body) = line
        .len()
        .checked_sub(tail_len)
        .and_then(|at| line.get(..at).zip(line.get(at..)))
        .filter(|(_, tail)| {
            tail.strip_prefix(",\"hash\":\"")
                .and_then(|t| t.strip_suffix("\"}"))
                == Some(record.hash.as_str())
        })
        .map(|(body, _)| body)
    else {
        return Err(edited);
    };
    let expected = chain_hash(key, &record.prev_hash, &[body, "}"]);
    if same(&expected, &record.hash) {
        Ok(())
    } else {
        Err(edited)
    }
}

/// The records of `trader` whose date (UTC, `YYYY-MM-DD`) is within
/// `from..=to`, as CSV with a header, from a log that verifies (under
/// `key` when given, as [`verify_chain`]). Only that trader's records are
/// ever included. Text cells that a spreadsheet would take for a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) are
/// written with a `'` before them; numeric cells (`seq`, `qty`, `price`)
/// are numbers parsed from the record, never formulas, and are written as
/// they are, a negative number with its `-`.
///
/// # Errors
/// A date not written `YYYY-MM-DD`, or a log that does not verify.
pub fn export_csv(
    text: &str,
    key: Option<&AuditKey>,
    trader: &str,
    from: &str,
    to: &str,
) -> Result<String, AuditError> {
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
    verify_chain(text, key)?;
    let mut csv = String::from(
        "seq,timestamp,trader_id,event,client_order_id,order_id,symbol,side,qty,price,status,reason\n",
    );
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_record(line, index + 1)?;
        let date = record.ts.get(..10).unwrap_or("");
        if record.trader_id != trader || date < from || date > to {
            continue;
        }
        let numbers = [
            record.seq.to_string(),
            record.qty.to_string(),
            record.price.map(|p| p.to_string()).unwrap_or_default(),
        ];
        let texts = [
            record.ts,
            record.trader_id,
            record.event.as_str().to_owned(),
            record.client_order_id,
            record.order_id.unwrap_or_default(),
            record.symbol,
            record.side.to_string(),
        ];
        let [seq, qty, price] = numbers.map(|n| csv_field(&n));
        let [ts, trader_id, event, client, order, symbol, side] =
            texts.map(|t| csv_field(&neutralised(t)));
        let status = csv_field(&neutralised(record.status));
        let reason = csv_field(&neutralised(record.reason));
        let row = [
            seq, ts, trader_id, event, client, order, symbol, side, qty, price, status, reason,
        ];
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    Ok(csv)
}

/// A text cell a spreadsheet would read as a formula (OWASP's list: a
/// leading `=`, `+`, `-`, `@`, tab or carriage return) with a `'` before
/// it, so it is shown as text; any other cell as it is.
fn neutralised(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
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
    use crate::port::Timestamp;

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
        /// the fields hold: `expected_hash`, and logs chained by hand
        /// through serde_json, must match what the writer writes.
        #[test]
        fn body_is_written_as_serde_json_writes_it(
            chain in prop::option::of(prop::sample::select(vec![ChainMode::Sha256, ChainMode::HmacSha256])),
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
                chain,
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
        assert_eq!(verify_audit_log(&lines.join("\n")).map(|n| n > 0), Ok(true));
    }

    fn sample_log() -> Vec<String> {
        sample_log_keyed(None).0
    }

    /// Five submits, alternately alice's and bob's, under `key`, and the
    /// log's head.
    fn sample_log_keyed(key: Option<AuditKey>) -> (Vec<String>, AuditHead) {
        let sink = MemorySink::default();
        let log = AuditLog::with_key(Box::new(sink.clone()), Arc::new(FixedClock), key);
        for n in 0..5 {
            log.record(entry(
                if n % 2 == 0 { "alice" } else { "bob" },
                AuditEvent::Submit,
                n,
            ))
            .expect("memory never fails");
        }
        (sink.lines(), log.head())
    }

    /// An untouched log verifies, with its record count, and each line's
    /// hash is the one recomputed from its content.
    /// The chain's hash is SHA-256 of the previous hash, a newline and the
    /// body, in lower-case hex (checked against an independent SHA-256).
    #[test]
    fn hash_is_sha256_hex_of_previous_and_body() {
        assert_eq!(
            chain_hash(None, GENESIS, &[r#"{"a":1}"#]),
            "f21735afd2cd6af4fc5804b0045cebfd545aef8396d29d030c39cb8880b45b7f"
        );
    }

    /// The digest of parts is that of their concatenation, keyed or not;
    /// another key's differs, and so does the keyless one.
    #[test]
    fn digest_hex_is_of_the_parts_one_after_another() {
        let whole_of = |key: Option<&AuditKey>| {
            let whole = digest_hex(key, [&b"previous content"[..]]);
            assert_eq!(digest_hex(key, [&b"previous "[..], b"content"]), whole);
            assert_eq!(whole.len(), 64);
            whole
        };
        let key = AuditKey::new(b"k").expect("key");
        let other = AuditKey::new(b"other").expect("key");
        let keyed = whole_of(Some(&key));
        assert_ne!(whole_of(Some(&other)), keyed);
        assert_ne!(whole_of(None), keyed);
        // SHA-256 of "previous content", from an independent implementation.
        assert_eq!(
            whole_of(None),
            "1dcaf1234b3749710bc6d5b7f14cf271bf082851ad6582334b28d5970df08be0"
        );
    }

    /// Keyed, it is HMAC-SHA256 of the same message (checked against an
    /// independent HMAC), and the head's seal likewise.
    #[test]
    fn keyed_hash_is_hmac_sha256_of_previous_and_body() {
        let key = AuditKey::new(b"k").expect("key");
        assert_eq!(
            chain_hash(Some(&key), GENESIS, &[r#"{"a":"#, "1}"]),
            "6f0f2566167e1d58dbd509d76beecdcf835ec50cc7ccb24de468d91a8f34e8e3"
        );
        assert_eq!(
            AuditHead::new(3, GENESIS.into(), Some(&key))
                .seal
                .as_deref(),
            Some("decd9072930c14275372b5035ffc2346c10d4e1e32fbfcad337322895ee3b6c9")
        );
        assert!(AuditKey::new(b"").is_none());
        assert_eq!(format!("{key:?}"), "AuditKey(<secret>)");
    }

    #[test]
    fn intact_log_verifies() {
        let lines = sample_log();
        assert_eq!(verify_audit_log(&lines.join("\n")), Ok(5));
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
            verify_audit_log(&lines.join("\n")),
            Err(AuditError::Edited { line: 3, seq: 3 })
        );
    }

    /// A removed line breaks the chain where it was.
    #[test]
    fn removed_line_is_detected() {
        let mut lines = sample_log();
        lines.remove(1);
        let error = verify_audit_log(&lines.join("\n")).expect_err("gap");
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
        let error = verify_audit_log(&lines.join("\n")).expect_err("reordered");
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
        let csv = export_csv(&text, None, "alice", "2025-01-02", "2025-01-02").expect("export");
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
        let none = export_csv(&text, None, "alice", "2025-01-03", "2025-01-31").expect("export");
        assert_eq!(none.lines().count(), 1);
        assert_eq!(
            export_csv(&text, None, "alice", "2025/01/02", "2025-01-02"),
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
        assert_eq!(verify_audit_log(&on_disk), Ok(1));
    }

    /// A line edited so that it parses to the same record, `"qty":"100"`
    /// written as the number 99.999999999999999999 (which parses to 100),
    /// is caught: the hash covers the line's bytes, not the record parsed
    /// back and written again. So is a space added between fields.
    #[test]
    fn edit_that_reads_back_the_same_is_detected() {
        let sink = MemorySink::default();
        let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
        for n in 0..3 {
            let mut e = entry("alice", AuditEvent::Submit, n);
            e.qty = Decimal::from(100);
            log.record(e).expect("memory");
        }
        let lines = sink.lines();
        assert_eq!(verify_audit_log(&lines.join("\n")), Ok(3));
        let mut edited = lines.clone();
        edited[1] = edited[1].replace(r#""qty":"100""#, r#""qty":99.999999999999999999"#);
        assert_ne!(edited[1], lines[1]);
        let parsed: AuditRecord = serde_json::from_str(&edited[1]).expect("still a record");
        assert_eq!(parsed.qty, Decimal::from(100), "reads back the same");
        assert_eq!(
            verify_audit_log(&edited.join("\n")),
            Err(AuditError::Edited { line: 2, seq: 2 })
        );
        let mut spaced = lines;
        spaced[2] = spaced[2].replacen(r#","symbol":"#, r#", "symbol":"#, 1);
        assert_eq!(
            verify_audit_log(&spaced.join("\n")),
            Err(AuditError::Edited { line: 3, seq: 3 })
        );
    }

    /// An empty file, a file of blank lines and a line that is not JSON
    /// are bad input, each saying which; the line is named.
    #[test]
    fn empty_blank_and_non_json_logs_are_bad_input() {
        assert_eq!(verify_audit_log(""), Err(AuditError::Empty));
        assert_eq!(
            verify_audit_log("\n  \n"),
            Err(AuditError::Blank { lines: 2 })
        );
        let mut lines = sample_log();
        lines.insert(2, "not json at all".into());
        let error = verify_audit_log(&lines.join("\n")).expect_err("not JSON");
        assert!(
            matches!(error, AuditError::Malformed { line: 3, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("not JSON"), "{error}");
        let error = verify_audit_log(r#"{"seq":1}"#).expect_err("not a record");
        assert!(
            error.to_string().contains("not an audit record") && error.to_string().contains("ts"),
            "{error}"
        );
        for bad in [AuditError::Empty, AuditError::Blank { lines: 1 }, error] {
            assert!(bad.is_bad_input(), "{bad}");
        }
        assert!(!AuditError::Edited { line: 1, seq: 1 }.is_bad_input());
    }

    /// The head the writer keeps is the one verification ends with; a log
    /// cut short, or one record longer, no longer matches it, and the
    /// mismatch says which.
    #[test]
    fn head_detects_a_cut_tail() {
        let (lines, head) = sample_log_keyed(None);
        assert_eq!(head.records, 5);
        let whole = verify_chain(&lines.join("\n"), None).expect("verifies");
        assert_eq!(whole, head);
        assert_eq!(head.check(&whole, None), Ok(()));
        assert_eq!(AuditHead::parse(&head.to_json()), Ok(head.clone()));

        let cut = verify_chain(&lines[..3].join("\n"), None).expect("a shorter chain verifies");
        let error = head.check(&cut, None).expect_err("cut tail");
        assert!(
            error.to_string().contains("holds 3 records and its head 5")
                && error
                    .to_string()
                    .contains("2 records were cut from its end"),
            "{error}"
        );
        let stale = AuditHead::new(3, cut.last_hash.clone(), None);
        let error = stale.check(&whole, None).expect_err("added");
        assert!(error.to_string().contains("added"), "{error}");
        let mut other = head.clone();
        other.last_hash = GENESIS.into();
        let error = other.check(&whole, None).expect_err("other hash");
        assert!(error.to_string().contains("last record"), "{error}");
        assert!(AuditHead::parse(r#"{"records":"five"}"#).is_err());
    }

    /// A keyed log verifies under its key only: another key finds the
    /// first record edited, no key is refused as bad input (the key is
    /// named), and a keyed head's seal must match the key.
    #[test]
    fn keyed_log_verifies_under_its_key_only() {
        let key = AuditKey::new(b"the right key").expect("key");
        let wrong = AuditKey::new(b"another key").expect("key");
        let (lines, head) = sample_log_keyed(Some(key.clone()));
        assert!(
            lines[0].contains(r#""chain":"hmac-sha256","prev_hash""#),
            "{}",
            lines[0]
        );
        let text = lines.join("\n");
        let verified = verify_chain(&text, Some(&key)).expect("verifies");
        assert_eq!(verified, head);
        assert_eq!(head.mode, ChainMode::HmacSha256);
        assert_eq!(head.check(&verified, Some(&key)), Ok(()));

        assert_eq!(
            verify_chain(&text, Some(&wrong)),
            Err(AuditError::Edited { line: 1, seq: 1 })
        );
        let error = verify_chain(&text, None).expect_err("no key");
        assert_eq!(error, AuditError::KeyRequired { line: 1, seq: 1 });
        assert!(error.is_bad_input());
        assert!(error.to_string().contains(AUDIT_KEY_ENV), "{error}");

        // A head for a cut log, its count and hash taken from the log but
        // sealed without the key, does not pass.
        let cut = verify_chain(&lines[..3].join("\n"), Some(&key)).expect("verifies");
        let mut forged = AuditHead::new(3, cut.last_hash.clone(), Some(&wrong));
        assert!(forged.check(&cut, Some(&key)).is_err());
        forged.seal = None;
        let error = forged.check(&cut, Some(&key)).expect_err("unsealed");
        assert!(error.to_string().contains("seal"), "{error}");
    }

    /// Without the key a keyed log cannot be re-forged: a record edited
    /// and the chain recomputed keyless fails keyed verification (and so
    /// does one recomputed under a key of the forger's own).
    #[test]
    fn keyed_log_cannot_be_reforged_without_the_key() {
        let key = AuditKey::new(b"the right key").expect("key");
        let (lines, _) = sample_log_keyed(Some(key.clone()));
        let rechain = |forger: Option<&AuditKey>| {
            let mut prev = GENESIS.to_owned();
            let mut out = Vec::new();
            for line in &lines {
                let mut record: AuditRecord = serde_json::from_str(line).expect("record");
                if record.seq == 3 {
                    record.qty = Decimal::from(1000);
                }
                record.chain = forger.map(|_| ChainMode::HmacSha256);
                record.prev_hash = prev;
                let line = record.sealed_line(forger);
                prev = record.hash;
                out.push(line);
            }
            out.join("\n")
        };
        let keyless = rechain(None);
        assert_eq!(
            verify_audit_log(&keyless),
            Ok(5),
            "keyless, anyone can recompute it"
        );
        assert_eq!(
            verify_chain(&keyless, Some(&key)),
            Err(AuditError::NotKeyed { line: 1, seq: 1 })
        );
        let own_key = AuditKey::new(b"forger").expect("key");
        assert_eq!(
            verify_chain(&rechain(Some(&own_key)), Some(&key)),
            Err(AuditError::Edited { line: 1, seq: 1 })
        );
    }

    /// Export verifies first: a tampered log is refused, not exported.
    #[test]
    fn export_refuses_a_tampered_log() {
        let mut lines = sample_log();
        lines[2] = lines[2].replace(r#""qty":"10""#, r#""qty":"1000""#);
        assert_eq!(
            export_csv(&lines.join("\n"), None, "alice", "2025-01-01", "2025-12-31"),
            Err(AuditError::Edited { line: 3, seq: 3 })
        );
    }

    /// Text cells that a spreadsheet would run as a formula are written
    /// with a `'` before them; a negative price stays a number.
    #[test]
    fn export_neutralises_formulas_in_text_cells() {
        let sink = MemorySink::default();
        let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
        let mut e = entry("alice", AuditEvent::Submit, 1);
        e.client_order_id = "=HYPERLINK(\"http://x\",\"y\")".into();
        e.symbol = "@SUM(A1)".into();
        e.status = "+1".into();
        e.reason = "-2+3".into();
        e.order_id = Some("\tcmd".into());
        e.price = Some("-5.00".parse().expect("price"));
        log.record(e).expect("memory");
        let csv = export_csv(
            &sink.lines().join("\n"),
            None,
            "alice",
            "2025-01-02",
            "2025-01-02",
        )
        .expect("export");
        let row = csv.lines().nth(1).expect("row");
        assert_eq!(
            row,
            "1,2025-01-02T14:30:00.000000Z,alice,submit,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'\tcmd,'@SUM(A1),buy,10,-5.00,'+1,'-2+3"
        );
    }

    /// A log written before the chain covered exact bytes (by the writer
    /// at 72f93e0, a submit, its acceptance and a stamped fill) verifies
    /// unchanged: its lines are the bytes the old scheme re-serialised.
    #[test]
    fn log_written_before_the_byte_exact_chain_verifies() {
        const OLD: &str = r#"{"seq":1,"ts":"2025-01-02T14:30:00.000000Z","event":"submit","trader_id":"trader-0","client_order_id":"fp-1350189-0","order_id":null,"symbol":"QQQ","side":"buy","qty":"46","price":null,"status":"pending","reason":"about to send","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"9aa43caf0151b503b40bed4376f1e4c5a80974fee1814b102147b6ef478fded2"}
{"seq":2,"ts":"2025-01-02T14:30:00.080000Z","event":"submitted","trader_id":"trader-0","client_order_id":"fp-1350189-0","order_id":"ord-0000000","symbol":"QQQ","side":"buy","qty":"46","price":null,"status":"accepted","reason":"accepted","prev_hash":"9aa43caf0151b503b40bed4376f1e4c5a80974fee1814b102147b6ef478fded2","hash":"8883586cc5703d23b715e5d45dd50519aab20cea4bc647287cf33f5b4136e8af"}
{"seq":3,"ts":"2025-01-02T14:30:01.274000Z","event":"fill","trader_id":"trader-0","client_order_id":"fp-1350189-0","order_id":"ord-0000000","symbol":"QQQ","side":"buy","qty":"46","price":"512.35","status":"filled","reason":"fill confirmed by filled_qty+avg_price+filled_at","broker_at":"2025-01-02T14:30:01.240000Z","prev_hash":"8883586cc5703d23b715e5d45dd50519aab20cea4bc647287cf33f5b4136e8af","hash":"64842512d285bbe444fab52c067de3fad1dbbcd4a5d6a4ca5c05707dfc63fe68"}
"#;
        let head = verify_chain(OLD, None).expect("an old log verifies");
        assert_eq!(head.records, 3);
        assert!(head.last_hash.starts_with("64842512d285"), "{head:?}");
    }
}
