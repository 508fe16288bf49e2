//! From a production incident to a regression scenario: what a broker's
//! export (Alpaca's order history and fill activities) or the engine's own
//! audit log says happened, as a scenario whose workload is those orders
//! and whose `timeline:` reproduces every execution, cancel, rejection and
//! expiry at its real offset from the first order.
//!
//! Reading is strict, and the importer writes only what it can stand
//! behind: a file that is not the export it claims to be, a record
//! missing a field the scenario needs, a quantity or price the simulator
//! cannot hold, an id or symbol with a control character, a time that
//! does not exist, or records that contradict each other (fills above the
//! order's quantity, before its submission, after its end or through its
//! limit; a status its `filled_qty` contradicts; fill activities their
//! order's `filled_qty`, `filled_at` or `filled_avg_price` contradicts; a
//! fill activity of another symbol or side than its order's; an id listed
//! twice) are bad
//! input, named with the file, the record and the field.
//! Records are read one at a time and the reading stops at the first bad
//! one; an export with more orders than a scenario holds is refused as
//! soon as the count is passed. Every string is written through
//! [`yaml_quote`], and the scenario's `engine.timeout` and
//! `limits.max_virtual_time` cover the longest wait for a fill, so that
//! the engine under test watches every order until the fills the broker
//! reported (an order filled more than [`MAX_FILL_WAIT`] after its
//! submission is refused: no scenario's engine watches an order that
//! long). The engine runs without a call budget (`rate_limit: none`: the
//! orders are replayed as the bot sent them) and with a price band that
//! admits every imported limit order.
//!
//! Entry points: [`from_alpaca`] (`alpaca.rs`, an order history and its
//! fill activities), [`from_audit`] / [`from_audit_with_key`] (`audit.rs`,
//! the engine's audit log), both giving an [`Incident`] whose records are
//! checked by `validate.rs`; [`scenario_yaml`] (`scenario.rs`) writes it as
//! a scenario. `stream.rs` reads an export one record at a time, and
//! `text.rs` holds the strict text rules (stamps, quoting).
//!
//! May import: `fillproof_engine` (the audit log, prices, quantities),
//! `fillproof_simulator` (durations). Nothing else of the harness: the
//! `import` command reads the files and writes the result.

mod alpaca;
mod audit;
mod scenario;
mod stream;
mod text;
mod validate;

use std::time::Duration;

use fillproof_engine::Side;
use rust_decimal::Decimal;

pub use alpaca::from_alpaca;
pub use audit::{from_audit, from_audit_with_key};
pub use scenario::{engine_timeout, scenario_yaml};
pub use stream::MAX_RECORD_VALUES;
pub use text::{printable, shown, strict_stamp, sub_micro_ns, yaml_quote};

/// The most orders one import takes: about what a scenario file (at most
/// [`fillproof_simulator::MAX_FILE_BYTES`], 1 MiB) holds with each order's
/// line and a fill or two. An export with more is refused as soon as the
/// count is passed, before anything is built.
pub const MAX_IMPORT_ORDERS: usize = 4_000;

/// The most fill activities one import takes (two per order of the
/// largest import), for the same reason.
pub const MAX_IMPORT_ACTIVITIES: usize = 2 * MAX_IMPORT_ORDERS;

/// The longest an order may wait for a fill, from its submission: the
/// scenario's `engine.timeout` must outlast it (by up to a minute), and
/// a scenario's engine watches an order for at most
/// [`fillproof_engine::MAX_DEADLINE`] (one day).
pub const MAX_FILL_WAIT: Duration = Duration::from_secs(86_400 - 60);

/// The longest stretch an incident may span, from its first order to the
/// last time it records.
pub const MAX_INCIDENT_SPAN: Duration = Duration::from_secs(366 * 86_400);

/// How far before its order's submission a stamp may fall and still be
/// taken as clock skew (the submission's and the execution's stamps can
/// come from different clocks: the engine's and the broker's in an audit
/// log, different services of the broker in an export). Such a stamp is
/// replayed at the submission; one earlier than this is refused: nothing
/// fills or ends before it is submitted.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(1);

/// [`MAX_CLOCK_SKEW`] in microseconds.
const SKEW_US: i64 = 1_000_000;

/// The engine's deadline when every fill comes before it: the engine's
/// own default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How an order ended at the broker, when the source says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Canceled (by the client or the broker).
    Canceled,
    /// Expired under its time in force.
    Expired,
    /// Rejected.
    Rejected,
}

impl End {
    fn event(self) -> &'static str {
        match self {
            Self::Canceled => "cancel",
            Self::Expired => "expire",
            Self::Rejected => "reject",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
        }
    }
}

/// One execution: when (Unix microseconds), how much, at what price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Unix microseconds.
    pub at_us: i64,
    /// Whole shares.
    pub qty: u64,
    /// Price.
    pub price: Decimal,
}

/// One order of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentOrder {
    /// Where it was read, for messages: `order 3 (id ...)`, `line 12`.
    pub record: String,
    /// The broker's id, for the comments.
    pub broker_id: String,
    /// The client's id, for the comments.
    pub client_order_id: String,
    /// The instrument.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Whole shares ordered.
    pub qty: u64,
    /// The limit price of a limit order.
    pub limit_price: Option<Decimal>,
    /// The order type as the source spelt it, when it is not market or
    /// limit (it is replayed as market).
    pub replayed_as_market: Option<String>,
    /// When it was submitted, Unix microseconds.
    pub submitted_us: i64,
    /// Its executions, in time order.
    pub executions: Vec<Execution>,
    /// How it ended, and when.
    pub end: Option<(End, i64)>,
    /// What the engine reported filled (audit imports only).
    pub reported_qty: Option<Decimal>,
}

/// What an import read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The files it came from, for the description: each as it is when
    /// plain, else quoted (see [`shown`]).
    pub source: String,
    /// The orders, in submission order.
    pub orders: Vec<IncidentOrder>,
    /// Things worth a comment in the scenario.
    pub notes: Vec<String>,
}

/// Bad input: the file, what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {location}: {problem}")]
pub struct ImportError {
    /// The file.
    pub file: String,
    /// The record (`order 3 (id ...)`, `line 12`) or `file`.
    pub location: String,
    /// What is wrong and what to do.
    pub problem: String,
}
