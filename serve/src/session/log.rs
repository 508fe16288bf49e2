//! The request log `fillproof serve --request-log` writes and
//! `fillproof replay-session` reads: JSON lines, hash-chained.
//!
//! - Line 1, the header: the format's version ([`LOG_VERSION`]), the
//!   scenario file as given and the SHA-256 of its bytes, the seed, and
//!   the version of fillproof that served.
//! - One line per request in sequence order (`seq` 0, 1, 2, …, arrival
//!   times never decreasing): the request, its virtual arrival time, the
//!   key of the account it was for (absent for the session's own), and
//!   the live answer (its status and the SHA-256 of its body). A line is
//!   written once its request is answered; only a request still in flight
//!   at shutdown is written unanswered, with `null`.
//! - The end line, written at shutdown: how many requests the log holds,
//!   and which were in flight at shutdown (`in_flight`, their `seq`s).
//!
//! Every line is a JSON object whose last member is `"chain":"<hex>"`:
//! the SHA-256, in lowercase hex, of the previous line's chain (nothing for
//! the header) followed by this line's text without its `,"chain":"…"`
//! member. An edited, removed or reordered line breaks the chain there,
//! unless whoever edited it computed every chain after it again: keyless,
//! the chain catches accidents and unaware tools, not a deliberate
//! forgery. Under a key (`FILLPROOF_AUDIT_KEY`, the engine's
//! [`AuditKey`]) the chain is HMAC-SHA256 of the same bytes, the header
//! says `"chain_mode":"hmac-sha256"`, and only a holder of the key can
//! chain an edited line again.
//!
//! Requests are answered concurrently, so a request's line waits until
//! its answer is known and every earlier request's line is written.

use std::collections::BTreeMap;
use std::io::Write;

use fillproof_engine::{AuditKey, ChainMode, digest_hex};
use serde::{Deserialize, Serialize};

use crate::wire;
use crate::wire::Reply;

/// The version of the request log format this fillproof writes and reads.
pub const LOG_VERSION: u32 = 3;

/// The version of fillproof, as the log's header records it: a session
/// replays faithfully only on the fillproof that served it.
pub const FILLPROOF_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The member every line ends with.
const CHAIN: &str = ",\"chain\":\"";

/// The lowercase hex SHA-256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest_hex(None, [bytes])
}

/// The chain of a line whose text without its chain member is `content`,
/// after a line whose chain is `previous` (empty for the header), in a
/// keyless log: SHA-256.
#[must_use]
pub fn chain_hash(previous: &str, content: &str) -> String {
    keyed_chain_hash(None, previous, content)
}

/// [`chain_hash`] in a log chained under `key`: HMAC-SHA256 of the same
/// bytes, which only a holder of the key can compute.
#[must_use]
pub fn keyed_chain_hash(key: Option<&AuditKey>, previous: &str, content: &str) -> String {
    digest_hex(key, [previous.as_bytes(), content.as_bytes()])
}

/// `content`, a JSON object, with its chain member appended.
fn chained(key: Option<&AuditKey>, previous: &str, content: &str) -> (String, String) {
    let hash = keyed_chain_hash(key, previous, content);
    let open = content.strip_suffix('}').unwrap_or(content);
    (format!("{open}{CHAIN}{hash}\"}}"), hash)
}

/// A line's text without its chain member, and the chain it states; `None`
/// when it does not end with a chain member.
#[must_use]
pub fn split_chain(line: &str) -> Option<(String, &str)> {
    let at = line.rfind(CHAIN)?;
    let hash = line[at + CHAIN.len()..].strip_suffix("\"}")?;
    let well_formed = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| (format!("{}}}", &line[..at]), hash))
}

/// The first line of a request log: what the session served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHeader {
    /// The log format's version, [`LOG_VERSION`].
    pub fillproof_session: u32,
    /// The scenario file, as given to `serve`.
    pub scenario: String,
    /// The SHA-256 of the scenario file's bytes, lowercase hex.
    pub scenario_sha256: String,
    /// The seed.
    pub seed: u64,
    /// The version of fillproof that served the session.
    pub fillproof_version: String,
    /// `hmac-sha256` when the log is chained under a key
    /// (`FILLPROOF_AUDIT_KEY`); absent for a keyless (SHA-256) chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_mode: Option<ChainMode>,
    /// The wall-clock instant the session's time zero stood for, in Unix
    /// microseconds; absent for a session on the scenario's fixed epoch
    /// (and in logs written before sessions started at the wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch_unix_micros: Option<i64>,
}

impl LogHeader {
    /// The header of a session serving the scenario file `scenario`, whose
    /// bytes are `bytes`, with `seed`, on this fillproof.
    #[must_use]
    pub fn new(scenario: &str, bytes: &[u8], seed: u64) -> Self {
        Self {
            fillproof_session: LOG_VERSION,
            scenario: scenario.to_owned(),
            scenario_sha256: sha256_hex(bytes),
            seed,
            fillproof_version: FILLPROOF_VERSION.to_owned(),
            chain_mode: None,
            epoch_unix_micros: None,
        }
    }
}

/// The answer a request got live: what a faithful replay must answer too.
///
/// Only the status and the body are kept: headers (`Date`,
/// `X-Ratelimit-*`) are read off the clock when the answer leaves, which
/// on the real clock runs a little behind the virtual times the ledger
/// keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveAnswer {
    /// The HTTP status; 0 when the connection was closed with no answer (a
    /// timeout, a lost response, a reset).
    pub status: u16,
    /// The SHA-256 of the body as sent, lowercase hex (of nothing for a
    /// 204 or a closed connection).
    pub body_sha256: String,
}

impl LiveAnswer {
    /// The answer `reply` makes on the wire.
    #[must_use]
    pub fn of(reply: &Reply) -> Self {
        let (status, body) = match reply {
            Reply::Json { status, body } => (*status, body.to_string()),
            Reply::NoContent => (204, String::new()),
            Reply::Garbage => (200, wire::GARBAGE_BODY.to_owned()),
            Reply::Close => (0, String::new()),
        };
        Self {
            status,
            body_sha256: sha256_hex(body.as_bytes()),
        }
    }
}

/// One request as the server received it: what the log keeps and replay
/// feeds back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// Order of arrival at the session, from 0.
    pub seq: u64,
    /// Virtual arrival time, microseconds since the session began.
    pub t_us: u64,
    /// `GET`, `POST`, `DELETE`, ...
    pub method: String,
    /// The path, e.g. `/v2/orders/{id}`.
    pub path: String,
    /// The query string without `?`, possibly empty.
    pub query: String,
    /// The body, as UTF-8 text (a body that is not UTF-8 is kept lossily).
    pub body: String,
    /// The API key of the account the request was for (`APCA-API-KEY-ID`,
    /// or a digest of an OAuth token); absent for a request to the
    /// session's own account (a log with one keyless account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The live answer; `None` when the request was still in flight at
    /// shutdown (the end line lists it).
    pub answer: Option<LiveAnswer>,
}

/// The last line of a request log, written at shutdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEnd {
    /// Always true: marks the line.
    pub fillproof_session_end: bool,
    /// Request lines in the log.
    pub requests: u64,
    /// The sequence numbers of the requests still unanswered at shutdown,
    /// in order: the only request lines whose `answer` is `null` (absent
    /// when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<u64>,
}

/// Writes a request log: lines in sequence order, each once its answer is
/// known, chained.
pub(crate) struct LogWriter {
    sink: Box<dyn Write + Send>,
    key: Option<AuditKey>,
    chain: String,
    /// The next sequence number to write.
    next: u64,
    /// Request lines written.
    written: u64,
    /// Requests logged but not written yet, and whether each was answered.
    pending: BTreeMap<u64, (LoggedRequest, bool)>,
}

impl LogWriter {
    /// A log on `sink`, starting with `header`, chained under `key` when
    /// given (the header then says so).
    pub(crate) fn start(
        sink: Box<dyn Write + Send>,
        header: &LogHeader,
        key: Option<AuditKey>,
    ) -> std::io::Result<Self> {
        let header = LogHeader {
            chain_mode: key.as_ref().map(|_| ChainMode::HmacSha256),
            ..header.clone()
        };
        let mut writer = Self {
            sink,
            key,
            chain: String::new(),
            next: 0,
            written: 0,
            pending: BTreeMap::new(),
        };
        writer.write(&serde_json::to_string(&header)?)?;
        Ok(writer)
    }

    fn write(&mut self, content: &str) -> std::io::Result<()> {
        let (line, hash) = chained(self.key.as_ref(), &self.chain, content);
        self.sink.write_all(line.as_bytes())?;
        self.sink.write_all(b"\n")?;
        self.sink.flush()?;
        self.chain = hash;
        Ok(())
    }

    /// Takes a request, unanswered yet.
    pub(crate) fn received(&mut self, request: LoggedRequest) {
        self.pending.insert(request.seq, (request, false));
    }

    /// Records the live answer to request `seq`, and writes every line
    /// whose turn has come.
    pub(crate) fn answered(&mut self, seq: u64, answer: LiveAnswer) -> std::io::Result<()> {
        if let Some((request, done)) = self.pending.get_mut(&seq) {
            request.answer = Some(answer);
            *done = true;
        }
        while self.pending.get(&self.next).is_some_and(|(_, done)| *done) {
            self.write_next()?;
        }
        Ok(())
    }

    fn write_next(&mut self) -> std::io::Result<()> {
        if let Some((request, _)) = self.pending.remove(&self.next) {
            self.write(&serde_json::to_string(&request)?)?;
            self.written += 1;
        }
        self.next += 1;
        Ok(())
    }

    /// Writes every request left, answered or not, and the end line,
    /// which lists those unanswered.
    pub(crate) fn end(mut self) -> std::io::Result<()> {
        let mut in_flight = Vec::new();
        while let Some((&seq, (_, done))) = self.pending.first_key_value() {
            if !done {
                in_flight.push(seq);
            }
            self.next = seq;
            self.write_next()?;
        }
        let end = LogEnd {
            fillproof_session_end: true,
            requests: self.written,
            in_flight,
        };
        self.write(&serde_json::to_string(&end)?)
    }
}
