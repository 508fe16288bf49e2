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
//!
//! Files: `record.rs` (what a record holds and its line), `chain.rs` (the
//! digest, the key, the head), `log.rs` (appending), `sink.rs` (where lines
//! go), `verify.rs` (checking a log read back), `export.rs` (CSV).
//! Imports: `time` (the clock stamping records) and `port`.

mod chain;
mod export;
mod journal;
mod log;
mod record;
mod sink;
mod verify;

#[cfg(test)]
mod tests;

pub use chain::{AUDIT_KEY_ENV, AuditHead, AuditKey, ChainMode, GENESIS, digest_hex};
pub use export::export_csv;
pub use journal::{Journal, JournaledIntent, OpenExits, TornTail};
pub use log::AuditLog;
pub use record::{AuditEntry, AuditEvent, AuditRecord, ExitPrices};
pub use sink::{AuditSink, Durability, FileSink, MemorySink};
pub use verify::{AuditError, verify_audit_log, verify_chain};

use chain::{chain_hash, same};
use verify::{check_line, parse_record};
