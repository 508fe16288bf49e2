//! The log: appends records to a sink, each chained to the one before.

use std::sync::{Arc, Mutex, PoisonError};

use crate::time::Clock;

use super::*;

pub(super) struct Chain {
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

    /// A log that goes on from `journal`, read back after a crash: new
    /// records follow its last whole record, so the chain holds across the
    /// restart. The writer must drop a torn tail from the sink first
    /// ([`FileSink::open_after`] does).
    #[must_use]
    pub fn resume(
        sink: Box<dyn AuditSink>,
        clock: Arc<dyn Clock>,
        key: Option<AuditKey>,
        journal: &Journal,
    ) -> Self {
        let (seq, last_hash) = journal.end();
        Self {
            chain: Mutex::new(Chain {
                sink,
                seq,
                last_hash,
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
            stop_loss: entry.exits.stop_loss,
            take_profit: entry.exits.take_profit,
            exit_of: entry.exit_of,
            executions: entry
                .executions
                .into_iter()
                .map(|(qty, price, at)| (qty, price, at.to_string()))
                .collect(),
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
