//! The order lifecycle: a trading signal from validation to a booked fill.
//!
//! Entry point: [`OrderExecutor`] (configured by [`ExecutorConfig`]),
//! which takes a [`Signal`] through [`validate`], the [`RiskLimits`], the
//! [`AuditLog`], submission and fill detection, the [`PositionBook`] and a
//! stream of [`OrderEvent`]s. The audit log's verification and export
//! ([`verify_chain`], [`export_csv`]) work on a log file alone.
//!
//! Imports: `detect`, `budget`, `time` and `port` — it is the top layer,
//! and nothing in the crate imports it.

mod audit;
mod book;
mod events;
mod executor;
mod exits;
mod recover;
mod risk;
mod signal;
mod trader;
mod validate;

pub use audit::{
    AUDIT_KEY_ENV, AuditEntry, AuditError, AuditEvent, AuditHead, AuditKey, AuditLog, AuditRecord,
    AuditSink, ChainMode, Durability, ExitPrices, FileSink, GENESIS, Journal, JournaledIntent,
    MemorySink, OpenExits, TornTail, digest_hex, export_csv, verify_audit_log, verify_chain,
};
pub use book::{AppliedFill, Commission, PositionBook, PositionState};
pub use events::{OrderEvent, OrderState};
pub use executor::{ExecutionError, ExecutorConfig, OrderExecutor, SlippageGuard};
pub use exits::LocatedExits;
pub use recover::{Located, Recovery};
pub use risk::{RiskLimits, RiskViolation};
pub use signal::Signal;
pub use validate::{
    MAX_AMOUNT, MAX_PRICE, MAX_QTY, MIN_PRICE, ValidationConfig, ValidationError, money,
    price_in_range, validate, validate_against_quote,
};
