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

mod stream;
mod text;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use fillproof_engine::{AuditEvent, AuditRecord, MAX_PRICE, MAX_QTY, MIN_PRICE, Side, Timestamp};
use rust_decimal::Decimal;
use serde_json::Value;

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

/// A time for messages: the RFC 3339 stamp of Unix microseconds `us`.
fn stamp_text(us: i64) -> String {
    Timestamp::from_unix_micros(us).to_string()
}

/// A time for messages to the nanosecond when `sub_ns` (the nanoseconds
/// past the microsecond `us`) is not 0.
fn stamp_text_ns(us: i64, sub_ns: u16) -> String {
    let text = stamp_text(us);
    match text.strip_suffix('Z') {
        Some(micros) if sub_ns > 0 => format!("{micros}{sub_ns:03}Z"),
        _ => text,
    }
}

/// A wait for messages: `6d 0h 30m`, `45m 0s`, `59.95s`.
fn wait_text(us: i64) -> String {
    let micros = u64::try_from(us).unwrap_or(0);
    let secs = micros / 1_000_000;
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if days > 0 {
        format!("{days}d {hours}h {minutes}m")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {}s", secs % 60)
    } else {
        fillproof_simulator::format_duration(Duration::from_micros(micros))
    }
}

/// A record's name for messages: `order 3 (id ...)`, `activity 2`.
fn record_name(label: &str, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{label} (id {})", shown(id)),
        None => label.to_owned(),
    }
}

/// `qty` as whole shares, or why it cannot be replayed: the simulator
/// holds whole shares only.
fn whole_shares(field: &str, qty: Decimal) -> Result<u64, String> {
    if qty < Decimal::ZERO {
        return Err(format!(
            "`{field}` is {qty}; a quantity is never negative (a sell is a positive quantity with side `sell`)"
        ));
    }
    if qty.fract() != Decimal::ZERO {
        return Err(format!(
            "`{field}` is {qty}; fillproof simulates whole shares, so a fractional order cannot be replayed"
        ));
    }
    if qty > MAX_QTY {
        return Err(format!(
            "`{field}` {qty} is too large; fillproof replays at most {MAX_QTY} shares"
        ));
    }
    u64::try_from(qty).map_err(|_| format!("`{field}` {qty} is too large"))
}

/// Whole shares, and more than none: an order's or an execution's size.
fn positive_shares(field: &str, qty: Decimal) -> Result<u64, String> {
    match whole_shares(field, qty)? {
        0 => Err(format!(
            "`{field}` is 0; an order or an execution has a positive quantity"
        )),
        shares => Ok(shares),
    }
}

/// `price` when the simulator can trade at it, or why not.
fn tradable_price(field: &str, price: Decimal) -> Result<Decimal, String> {
    if price <= Decimal::ZERO {
        return Err(format!("`{field}` is {price}; a price is positive"));
    }
    if !(MIN_PRICE..=MAX_PRICE).contains(&price) {
        return Err(format!(
            "`{field}` is {price}, out of the range fillproof trades at ({MIN_PRICE} to {MAX_PRICE})"
        ));
    }
    Ok(price)
}

/// The text of the JSON number `field` of the record `raw` (an object's
/// text), as the file writes it.
fn number_text(raw: &str, field: &str) -> Option<String> {
    let fields: BTreeMap<String, &serde_json::value::RawValue> = serde_json::from_str(raw).ok()?;
    fields.get(field).map(|value| value.get().to_owned())
}

/// The texts of a record's `legs` (`raw` is the record's text), as the
/// file writes them.
fn legs_text(raw: &str) -> Vec<&str> {
    #[derive(serde::Deserialize)]
    struct Legs<'a> {
        #[serde(borrow, default)]
        legs: Option<Vec<&'a serde_json::value::RawValue>>,
    }
    serde_json::from_str::<Legs<'_>>(raw)
        .ok()
        .and_then(|l| l.legs)
        .map(|legs| {
            legs.into_iter()
                .map(serde_json::value::RawValue::get)
                .collect()
        })
        .unwrap_or_default()
}

/// A record's fields, read with errors that name the record and field.
struct Fields<'a> {
    file: &'a str,
    record: String,
    value: &'a Value,
    /// The record's text as the file writes it: a JSON number is read
    /// from its own digits, never through a float.
    raw: &'a str,
}

impl Fields<'_> {
    fn error(&self, problem: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.to_owned(),
            location: self.record.clone(),
            problem: problem.into(),
        }
    }

    /// A string field, printable (no control character).
    fn text(&self, field: &str) -> Result<Option<&str>, ImportError> {
        match self.value.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                printable(field, s).map_err(|problem| self.error(problem))?;
                Ok(Some(s.as_str()))
            }
            Some(other) => Err(self.error(format!("`{field}` must be a string, not {other}"))),
        }
    }

    /// A string field that must be there and not be empty.
    fn required(&self, field: &str) -> Result<&str, ImportError> {
        match self.text(field)? {
            None => Err(self.error(format!("`{field}` is missing"))),
            Some(s) if s.trim().is_empty() => Err(self.error(format!("`{field}` is empty"))),
            Some(s) => Ok(s),
        }
    }

    /// A decimal field, read exactly: a string (as Alpaca writes
    /// quantities and prices) or a JSON number, each from its own digits
    /// (an exponent, `1E2`, is read exactly too); a value a decimal holds
    /// only rounded is refused.
    fn decimal(&self, field: &str) -> Result<Option<Decimal>, ImportError> {
        let text = match self.value.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(_)) => number_text(self.raw, field).ok_or_else(|| {
                self.error(format!(
                    "`{field}` is a JSON number whose digits cannot be read"
                ))
            })?,
            Some(other) => {
                return Err(self.error(format!("`{field}` must be a decimal, not {other}")));
            }
        };
        let text = text.trim();
        match fillproof_serve::claims::exact_decimal(text) {
            Ok(value) => Ok(Some(value)),
            Err(inexact) => Err(self.error(match text.parse::<Decimal>() {
                Ok(rounded) if inexact => format!(
                    "`{field}` {} has more digits than a decimal holds exactly (28 after the point); it would be read as {rounded}, which the export does not say",
                    yaml_quote(text)
                ),
                _ if inexact => format!(
                    "`{field}` {} is a number no decimal holds exactly (more than 28 digits, or beyond {}): the export does not say a quantity or price fillproof can replay",
                    yaml_quote(text),
                    Decimal::MAX
                ),
                _ => format!("`{field}` {} is not a decimal", yaml_quote(text)),
            })),
        }
    }

    /// A price field, when present: positive and tradable.
    fn price(&self, field: &str) -> Result<Option<Decimal>, ImportError> {
        self.decimal(field)?
            .map(|p| tradable_price(field, p).map_err(|problem| self.error(problem)))
            .transpose()
    }

    /// A quantity that must be there: whole shares, more than none.
    fn positive(&self, field: &str, missing: &str) -> Result<u64, ImportError> {
        let qty = self
            .decimal(field)?
            .ok_or_else(|| self.error(format!("`{field}` is missing{missing}")))?;
        positive_shares(field, qty).map_err(|problem| self.error(problem))
    }

    fn stamp(&self, field: &str) -> Result<Option<i64>, ImportError> {
        self.text(field)?
            .map(|t| {
                strict_stamp(t)
                    .map_err(|why| self.error(format!("`{field}` {} {why}", yaml_quote(t))))
            })
            .transpose()
    }

    /// The nanoseconds the stamp `field` gives past its microsecond.
    fn sub_ns(&self, field: &str) -> Result<u16, ImportError> {
        Ok(self.text(field)?.map_or(0, sub_micro_ns))
    }

    fn whole(&self, field: &str, qty: Decimal) -> Result<u64, ImportError> {
        whole_shares(field, qty).map_err(|problem| self.error(problem))
    }

    fn side(&self) -> Result<Side, ImportError> {
        match self.required("side")? {
            "buy" => Ok(Side::Buy),
            "sell" | "sell_short" => Ok(Side::Sell),
            other => Err(self.error(format!(
                "`side` {} is neither buy nor sell",
                yaml_quote(other)
            ))),
        }
    }
}

/// Where an execution was read, to name it when it contradicts its order:
/// the record and its time, quantity and price fields.
#[derive(Debug, Clone)]
struct Witness {
    file: String,
    record: String,
    at: &'static str,
    qty: &'static str,
    price: &'static str,
}

impl Witness {
    fn error(&self, problem: String) -> ImportError {
        ImportError {
            file: self.file.clone(),
            location: self.record.clone(),
            problem,
        }
    }
}

/// An execution and where it was read.
#[derive(Debug, Clone)]
struct Witnessed {
    execution: Execution,
    witness: Witness,
    /// The symbol and side the record gives, when it gives them (a fill
    /// activity does), to be checked against its order's.
    claims: (Option<String>, Option<Side>),
    /// The nanoseconds its stamp gives past its microsecond (0 to 999),
    /// which the replay's microseconds leave out: a fill and a cancel
    /// in the same microsecond are still ordered by them.
    sub_ns: u16,
}

/// What the executions of an order are checked against.
struct OrderFacts<'a> {
    record: &'a str,
    qty: u64,
    side: Side,
    limit_price: Option<Decimal>,
    submitted_us: i64,
    /// How it ended, when, and what says so (`its `canceled_at``).
    end: Option<(End, i64, &'a str)>,
    /// The nanoseconds the end's stamp gives past its microsecond.
    end_sub_ns: u16,
}

/// Refuses executions the order could not have had: more than its
/// quantity, through its limit, after it ended, or later after its
/// submission than a scenario's engine can watch it.
fn check_executions(facts: &OrderFacts<'_>, fills: &[Witnessed]) -> Result<(), ImportError> {
    let order = facts.record;
    let mut total: u64 = 0;
    for Witnessed {
        execution,
        witness,
        sub_ns,
        ..
    } in fills
    {
        if execution.at_us < facts.submitted_us.saturating_sub(SKEW_US) {
            return Err(witness.error(format!(
                "`{}` {} is before {order} was submitted ({}); a broker fills nothing before an order is submitted (stamps up to {} apart are taken as clock skew)",
                witness.at,
                stamp_text(execution.at_us),
                stamp_text(facts.submitted_us),
                fillproof_simulator::format_duration(MAX_CLOCK_SKEW)
            )));
        }
        total = total.saturating_add(execution.qty);
        if total > facts.qty {
            return Err(witness.error(format!(
                "`{}` {} brings the executions of {order} to {total} shares, above its `qty` {}; a broker never fills more than was ordered",
                witness.qty, execution.qty, facts.qty
            )));
        }
        if let Some(limit) = facts.limit_price {
            let (through, word) = match facts.side {
                Side::Buy => (execution.price > limit, "above"),
                Side::Sell => (execution.price < limit, "below"),
            };
            if through {
                return Err(witness.error(format!(
                    "`{}` {} is {word} the limit {limit} of {order}, a {} limit order; a broker never fills a limit order through its limit",
                    witness.price, execution.price, facts.side
                )));
            }
        }
        if let Some((end, at, source)) = facts.end {
            if (execution.at_us, *sub_ns) > (at, facts.end_sub_ns) {
                return Err(witness.error(format!(
                    "`{}` {} is after {order} ended ({} at {}, {source}); a broker fills nothing after an order ends",
                    witness.at,
                    stamp_text_ns(execution.at_us, *sub_ns),
                    end.past(),
                    stamp_text_ns(at, facts.end_sub_ns)
                )));
            }
        }
        let wait = execution.at_us.saturating_sub(facts.submitted_us);
        if u128::try_from(wait).unwrap_or(0) > MAX_FILL_WAIT.as_micros() {
            return Err(witness.error(format!(
                "`{}` {} fills {order} {} after its submission; a scenario's engine.timeout is at most 24h, so the engine under test would give the order up before this fill and fail the scenario's own expectations. fillproof replays fills that come within {} of their order's submission: leave this order out of the export to import the rest",
                witness.at,
                stamp_text(execution.at_us),
                wait_text(wait),
                wait_text(i64::try_from(MAX_FILL_WAIT.as_micros()).unwrap_or(i64::MAX))
            )));
        }
    }
    Ok(())
}

/// Refuses an incident whose records stretch over more than
/// [`MAX_INCIDENT_SPAN`] from its first order.
fn check_span(file: &str, orders: &[IncidentOrder]) -> Result<(), ImportError> {
    let zero = orders.iter().map(|o| o.submitted_us).min().unwrap_or(0);
    for order in orders {
        let last = order
            .executions
            .iter()
            .map(|e| e.at_us)
            .chain(order.end.map(|(_, at)| at))
            .fold(order.submitted_us, i64::max);
        let span = last.saturating_sub(zero);
        if u128::try_from(span).unwrap_or(0) > MAX_INCIDENT_SPAN.as_micros() {
            return Err(ImportError {
                file: file.to_owned(),
                location: order.record.clone(),
                problem: format!(
                    "records a time ({}) {} after the first order; an imported incident spans at most 366 days: import a shorter stretch of the export",
                    stamp_text(last),
                    wait_text(span)
                ),
            });
        }
    }
    Ok(())
}

/// The fill activities, by the order they fill, each with where it was
/// read. Non-fill activities are left out with a note.
fn read_activities(
    file: &str,
    text: &str,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, Vec<Witnessed>>, ImportError> {
    let mut by_order: BTreeMap<String, Vec<Witnessed>> = BTreeMap::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    stream::for_each_record(
        file,
        text,
        "a list of FILL activities",
        "activity",
        |i, value, raw| {
            let id = value.get("id").and_then(Value::as_str);
            let fields = Fields {
                file,
                record: record_name(&format!("activity {i}"), id),
                value: &value,
                raw,
            };
            if i >= MAX_IMPORT_ACTIVITIES {
                return Err(fields.error(format!(
                    "the file holds more than {MAX_IMPORT_ACTIVITIES} activities, the most one import takes (a scenario file holds at most 1 MiB): import a shorter stretch of the export"
                )));
            }
            if let Some(id) = fields.text("id")? {
                if let Some(first) = seen.insert(id.to_owned(), fields.record.clone()) {
                    return Err(fields.error(format!(
                        "`id` {} is also {first}'s; an export lists each activity once",
                        shown(id)
                    )));
                }
            }
            if let Some(kind) = fields.text("activity_type")? {
                if kind != "FILL" {
                    notes.push(format!(
                        "activity {i} is a {} activity, not a fill; left out",
                        yaml_quote(kind)
                    ));
                    return Ok(());
                }
            }
            let order_id = fields.required("order_id")?.to_owned();
            let symbol = fields.text("symbol")?.map(str::to_ascii_uppercase);
            let side = match fields.text("side")? {
                Some(_) => Some(fields.side()?),
                None => None,
            };
            let sub_ns = fields.sub_ns("transaction_time")?;
            let execution = Execution {
                at_us: fields
                    .stamp("transaction_time")?
                    .ok_or_else(|| fields.error("`transaction_time` is missing"))?,
                qty: fields.positive("qty", "")?,
                price: fields
                    .price("price")?
                    .ok_or_else(|| fields.error("`price` is missing"))?,
            };
            by_order.entry(order_id).or_default().push(Witnessed {
                execution,
                witness: Witness {
                    file: file.to_owned(),
                    record: fields.record,
                    at: "transaction_time",
                    qty: "qty",
                    price: "price",
                },
                claims: (symbol, side),
                sub_ns,
            });
            Ok(())
        },
    )?;
    Ok(by_order)
}

/// Alpaca's order history, read one record at a time.
struct AlpacaOrders<'a> {
    file: &'a str,
    /// Fill activities not yet claimed by an order.
    fills: BTreeMap<String, Vec<Witnessed>>,
    /// Each order id read, with its record.
    seen: BTreeMap<String, String>,
    orders: Vec<IncidentOrder>,
    notes: &'a mut Vec<String>,
}

impl AlpacaOrders<'_> {
    /// One order record (`label` is `order 3` or `order 3 leg 0`).
    /// `raw` is the record's text.
    fn order(&mut self, label: &str, value: &Value, raw: &str) -> Result<(), ImportError> {
        let id = value.get("id").and_then(Value::as_str);
        let fields = Fields {
            file: self.file,
            record: record_name(label, id),
            value,
            raw,
        };
        let broker_id = fields.required("id")?.to_owned();
        if let Some(first) = self.seen.get(&broker_id) {
            return Err(fields.error(format!(
                "`id` {} is also {first}'s; an export lists each order once",
                shown(&broker_id)
            )));
        }
        if self.orders.len() >= MAX_IMPORT_ORDERS {
            return Err(fields.error(format!(
                "the export holds more than {MAX_IMPORT_ORDERS} orders, the most one scenario holds (a scenario file is at most 1 MiB): import a shorter stretch of the history (GET /v2/orders takes `after` and `until`)"
            )));
        }
        self.seen.insert(broker_id.clone(), fields.record.clone());
        let qty = fields.positive("qty", " (a notional order cannot be replayed)")?;
        let kind = fields
            .text("type")?
            .or(fields.text("order_type")?)
            .unwrap_or("market");
        let limit_price = match kind {
            "limit" => Some(
                fields
                    .price("limit_price")?
                    .ok_or_else(|| fields.error("a limit order's `limit_price` is missing"))?,
            ),
            _ => None,
        };
        let submitted_us = match fields.stamp("submitted_at")? {
            Some(at) => at,
            None => fields
                .stamp("created_at")?
                .ok_or_else(|| fields.error("`submitted_at` and `created_at` are missing"))?,
        };
        let side = fields.side()?;
        let symbol = fields.required("symbol")?.to_ascii_uppercase();
        let end = Self::end(&fields, self.notes)?;
        if let Some((_, at, source)) = end {
            if at < submitted_us.saturating_sub(SKEW_US) {
                return Err(fields.error(format!(
                    "{source} {} is before the order was submitted ({}); an order ends after its submission (stamps up to {} apart are taken as clock skew)",
                    stamp_text(at),
                    stamp_text(submitted_us),
                    fillproof_simulator::format_duration(MAX_CLOCK_SKEW)
                )));
            }
        }
        Self::check_status(&fields, qty, end)?;
        let fills = self.executions(&fields, &broker_id, qty)?;
        Self::check_claims(&fields.record, &symbol, side, end, &fills)?;
        check_executions(
            &OrderFacts {
                record: &fields.record,
                qty,
                side,
                limit_price,
                submitted_us,
                end,
                end_sub_ns: match end {
                    Some((_, _, "its `updated_at`")) => fields.sub_ns("updated_at")?,
                    Some((End::Canceled, ..)) => fields.sub_ns("canceled_at")?,
                    Some((End::Expired, ..)) => fields.sub_ns("expired_at")?,
                    Some((End::Rejected, ..)) => fields.sub_ns("failed_at")?,
                    None => 0,
                },
            },
            &fills,
        )?;
        Self::check_activities(&fields, &fills)?;
        self.orders.push(IncidentOrder {
            record: fields.record.clone(),
            broker_id,
            client_order_id: fields.text("client_order_id")?.unwrap_or("").to_owned(),
            symbol,
            side,
            qty,
            limit_price,
            replayed_as_market: (!matches!(kind, "market" | "limit")).then(|| kind.to_owned()),
            submitted_us,
            executions: fills.into_iter().map(|f| f.execution).collect(),
            end: end.map(|(kind, at, _)| (kind, at)),
            reported_qty: None,
        });
        Ok(())
    }

    /// The order's executions, in time order: its fill activities, or
    /// without them one execution of its `filled_qty` at its
    /// `filled_avg_price` and `filled_at`. A `filled_qty` above the
    /// order's quantity is refused (one its activities disagree with is
    /// refused by [`Self::check_activities`]).
    fn executions(
        &mut self,
        fields: &Fields<'_>,
        broker_id: &str,
        qty: u64,
    ) -> Result<Vec<Witnessed>, ImportError> {
        let filled = fields.decimal("filled_qty")?.unwrap_or(Decimal::ZERO);
        let filled_shares = fields.whole("filled_qty", filled)?;
        if filled_shares > qty {
            return Err(fields.error(format!(
                "`filled_qty` {filled} is above its `qty` {qty}; a broker never fills more than was ordered"
            )));
        }
        let mut fills = self.fills.remove(broker_id).unwrap_or_default();
        if fills.is_empty() && filled_shares > 0 {
            fills.push(Witnessed {
                execution: Execution {
                    at_us: fields
                        .stamp("filled_at")?
                        .or(fields.stamp("updated_at")?)
                        .ok_or_else(|| fields.error("a filled order's `filled_at` is missing"))?,
                    qty: filled_shares,
                    price: fields.price("filled_avg_price")?.ok_or_else(|| {
                        fields.error("a filled order's `filled_avg_price` is missing")
                    })?,
                },
                witness: Witness {
                    file: fields.file.to_owned(),
                    record: fields.record.clone(),
                    at: "filled_at",
                    qty: "filled_qty",
                    price: "filled_avg_price",
                },
                claims: (None, None),
                sub_ns: match fields.text("filled_at")? {
                    Some(_) => fields.sub_ns("filled_at")?,
                    None => fields.sub_ns("updated_at")?,
                },
            });
        }
        fills.sort_by_key(|f| (f.execution.at_us, f.sub_ns));
        Ok(fills)
    }

    /// Refuses an order its fill activities contradict: they add up to
    /// another quantity than its `filled_qty` (whatever its status), the
    /// last of them is more than [`MAX_CLOCK_SKEW`] from its `filled_at`,
    /// or their volume-weighted average price is not its
    /// `filled_avg_price` to the digits the export writes (`590.04` is
    /// any average from 590.035 to 590.045).
    fn check_activities(fields: &Fields<'_>, fills: &[Witnessed]) -> Result<(), ImportError> {
        if fills.iter().all(|f| f.witness.record == fields.record) {
            // No activities: the one execution is the order's own fields.
            return Ok(());
        }
        let filled = fields.decimal("filled_qty")?.unwrap_or(Decimal::ZERO);
        let executed: u64 = fills.iter().map(|f| f.execution.qty).sum();
        if Decimal::from(executed) != filled {
            return Err(fields.error(format!(
                "`filled_qty` is {filled} but its fill activities add up to {executed}; an order's `filled_qty` is what its executions add up to: the export is damaged, or the activities are not the whole of this order's (export them for the same stretch as the orders)"
            )));
        }
        let Some(last) = fills.last() else {
            return Ok(());
        };
        if let Some(filled_at) = fields.stamp("filled_at")? {
            if (filled_at - last.execution.at_us).abs() > SKEW_US {
                return Err(fields.error(format!(
                    "`filled_at` {} is not the time of its last fill activity ({}, {}); an order's `filled_at` is its last execution's (stamps up to {} apart are taken as clock skew)",
                    stamp_text(filled_at),
                    last.witness.record,
                    stamp_text(last.execution.at_us),
                    fillproof_simulator::format_duration(MAX_CLOCK_SKEW)
                )));
            }
        }
        if let Some(average) = fields.decimal("filled_avg_price")? {
            // |Σ qty·price / executed − average| ≤ half a unit of the
            // average's last digit, compared without dividing.
            let notional = fills.iter().fold(Decimal::ZERO, |sum, f| {
                sum.saturating_add(Decimal::from(f.execution.qty).saturating_mul(f.execution.price))
            });
            let gap = notional
                .saturating_sub(average.saturating_mul(Decimal::from(executed)))
                .abs()
                .saturating_mul(Decimal::TWO);
            let unit = Decimal::new(1, average.scale());
            if gap > unit.saturating_mul(Decimal::from(executed)) {
                let vwap = notional
                    .checked_div(Decimal::from(executed))
                    .unwrap_or_default();
                return Err(fields.error(format!(
                    "`filled_avg_price` is {average} but its fill activities average {} (volume-weighted); the export writes the average to {} digits after the point, so it is off by more than rounding: the export is damaged or the activities are not this order's",
                    vwap.round_dp(average.scale() + 4).normalize(),
                    average.scale()
                )));
            }
        }
        Ok(())
    }

    /// Refuses a `status` its `filled_qty` contradicts: `filled` with
    /// nothing filled or less than its `qty`, `rejected` with something
    /// filled.
    fn check_status(
        fields: &Fields<'_>,
        qty: u64,
        end: Option<(End, i64, &'static str)>,
    ) -> Result<(), ImportError> {
        let filled = fields.decimal("filled_qty")?.unwrap_or(Decimal::ZERO);
        let status = fields.required("status")?;
        if status == "filled" && filled <= Decimal::ZERO {
            return Err(fields.error(format!(
                "`filled_qty` is {filled} but `status` is filled; a filled order has filled shares: the export is damaged or not the one it claims to be"
            )));
        }
        if status == "filled" && filled < Decimal::from(qty) {
            return Err(fields.error(format!(
                "`filled_qty` is {filled} but `status` is filled and its `qty` is {qty}; a filled order is filled whole (one partly filled is `partially_filled`, or `canceled` or `expired` with what filled): the export is damaged or not the one it claims to be"
            )));
        }
        if matches!(end, Some((End::Rejected, ..))) && filled > Decimal::ZERO {
            return Err(fields.error(format!(
                "`filled_qty` is {filled} but `status` is rejected; a broker fills nothing of an order it rejects: the export is damaged or not the one it claims to be"
            )));
        }
        Ok(())
    }

    /// Refuses executions that claim another symbol or side than their
    /// order's, or that fill an order the broker rejected.
    fn check_claims(
        order: &str,
        symbol: &str,
        side: Side,
        end: Option<(End, i64, &'static str)>,
        fills: &[Witnessed],
    ) -> Result<(), ImportError> {
        for fill in fills {
            let (claimed_symbol, claimed_side) = &fill.claims;
            if let Some(claimed) = claimed_symbol.as_deref().filter(|s| *s != symbol) {
                return Err(fill.witness.error(format!(
                    "`symbol` {} is not {}, the symbol of {order}, which its `order_id` names; an execution trades its order's symbol",
                    yaml_quote(claimed),
                    yaml_quote(symbol)
                )));
            }
            if let Some(claimed) = claimed_side.filter(|s| *s != side) {
                return Err(fill.witness.error(format!(
                    "`side` {claimed} is not {side}, the side of {order}, which its `order_id` names; an execution trades its order's side"
                )));
            }
            if matches!(end, Some((End::Rejected, ..))) {
                return Err(fill.witness.error(format!(
                    "fills {order}, whose `status` is rejected; a broker fills nothing of an order it rejects"
                )));
            }
        }
        Ok(())
    }

    /// How the order ended, when, and which field says when.
    fn end(
        fields: &Fields<'_>,
        notes: &mut Vec<String>,
    ) -> Result<Option<(End, i64, &'static str)>, ImportError> {
        let status = fields.required("status")?;
        let (end, field, source) = match status {
            "canceled" => (End::Canceled, "canceled_at", "its `canceled_at`"),
            "expired" => (End::Expired, "expired_at", "its `expired_at`"),
            "rejected" => (End::Rejected, "failed_at", "its `failed_at`"),
            "filled" => return Ok(None),
            other => {
                // Still working at export: the order is left working.
                notes.push(format!(
                    "{} was {} at export; the replay leaves it working",
                    fields.record,
                    yaml_quote(other)
                ));
                return Ok(None);
            }
        };
        let (at, source) = match fields.stamp(field)? {
            Some(at) => (at, source),
            None => (
                fields
                    .stamp("updated_at")?
                    .ok_or_else(|| fields.error(format!("a {status} order has no time for it")))?,
                "its `updated_at`",
            ),
        };
        Ok(Some((end, at, source)))
    }
}

/// Reads Alpaca's order history (`GET /v2/orders?status=all&nested=true`)
/// and, when given, its fill activities (`GET
/// /v2/account/activities/FILL`), which carry each execution's time,
/// quantity and price. Without activities an order's fill is one
/// execution of its `filled_qty` at its `filled_avg_price` and
/// `filled_at`. Both lists are read one record at a time, and the reading
/// stops at the first bad one.
///
/// # Errors
/// A file that is not such a list; a record missing or spoiling a field
/// (a control character in an id or symbol, a time that does not exist, a
/// quantity or price that is not positive); records that contradict each
/// other (an id listed twice; executions above the order's quantity,
/// more than [`MAX_CLOCK_SKEW`] before its submission, after it ended,
/// through its limit, or later than [`MAX_FILL_WAIT`] after its
/// submission, or after it ended to the nanosecond the stamps give; an
/// end before its submission; a `rejected` order with fills, a `filled`
/// one without or with less than its `qty`; fill activities that
/// disagree with their order's `filled_qty`, `filled_at` or
/// `filled_avg_price`; a fill activity of another symbol or
/// side than its order's; a key listed twice in a record); more than [`MAX_IMPORT_ORDERS`] orders or
/// [`MAX_IMPORT_ACTIVITIES`] activities. Each is named with the file,
/// the record and the field.
pub fn from_alpaca(
    orders_file: &str,
    orders_text: &str,
    activities: Option<(&str, &str)>,
) -> Result<Incident, ImportError> {
    let mut notes = Vec::new();
    let fills = match activities {
        Some((file, text)) => read_activities(file, text, &mut notes)?,
        None => BTreeMap::new(),
    };
    let mut reader = AlpacaOrders {
        file: orders_file,
        fills,
        seen: BTreeMap::new(),
        orders: Vec::new(),
        notes: &mut notes,
    };
    stream::for_each_record(
        orders_file,
        orders_text,
        "a list of orders",
        "order",
        |i, value, raw| {
            reader.order(&format!("order {i}"), &value, raw)?;
            // `nested=true` puts a bracket order's legs under it: each is
            // an order of its own.
            if let Some(Value::Array(legs)) = value.get("legs") {
                let texts = legs_text(raw);
                for (k, leg) in legs.iter().enumerate() {
                    let text = texts.get(k).copied().unwrap_or("");
                    reader.order(&format!("order {i} leg {k}"), leg, text)?;
                }
            }
            Ok(())
        },
    )?;
    let AlpacaOrders {
        fills, mut orders, ..
    } = reader;
    for (order_id, _) in fills {
        notes.push(format!(
            "fill activities of order {} match no order in the history; left out",
            shown(&order_id)
        ));
    }
    if orders.is_empty() {
        return Err(ImportError {
            file: orders_file.to_owned(),
            location: "file".into(),
            problem: "lists no orders; export them with GET /v2/orders?status=all&nested=true"
                .into(),
        });
    }
    orders.sort_by_key(|o| o.submitted_us);
    check_span(orders_file, &orders)?;
    let source = match activities {
        Some((file, _)) => format!("{} and {}", shown(orders_file), shown(file)),
        None => shown(orders_file),
    };
    Ok(Incident {
        source,
        orders,
        notes,
    })
}

/// The engine's audit log, read one record at a time.
struct AuditOrders<'a> {
    file: &'a str,
    orders: Vec<IncidentOrder>,
    /// Each order's slot, by client order id.
    index: BTreeMap<String, usize>,
    /// The line each order's end was read from.
    end_lines: BTreeMap<usize, usize>,
    notes: Vec<String>,
    /// Fill records without the broker's stamp.
    engine_times: usize,
}

impl AuditOrders<'_> {
    fn bad(&self, line: usize, problem: String) -> ImportError {
        ImportError {
            file: self.file.to_owned(),
            location: format!("line {line}"),
            problem,
        }
    }

    /// One record, read from line `line`.
    fn record(&mut self, line: usize, text: &str) -> Result<(), ImportError> {
        let record: AuditRecord = serde_json::from_str(text)
            .map_err(|e| self.bad(line, format!("is not an audit record: {e}")))?;
        let at = strict_stamp(&record.ts)
            .map_err(|why| self.bad(line, format!("`ts` {} {why}", yaml_quote(&record.ts))))?;
        for (field, value) in [
            ("client_order_id", Some(record.client_order_id.as_str())),
            ("order_id", record.order_id.as_deref()),
            ("symbol", Some(record.symbol.as_str())),
        ] {
            if let Some(value) = value {
                printable(field, value).map_err(|problem| self.bad(line, problem))?;
            }
        }
        match record.event {
            AuditEvent::Submit => self.submit(line, &record, at),
            AuditEvent::Fill => self.fill(line, &record, at),
            AuditEvent::NotFilled | AuditEvent::Reject => {
                let Some(&slot) = self.index.get(&record.client_order_id) else {
                    return Ok(());
                };
                if at < self.orders[slot].submitted_us.saturating_sub(SKEW_US) {
                    return Err(self.bad(
                        line,
                        format!(
                            "`ts` {} is before {} was submitted ({}); an order ends after its submission (stamps up to {} apart are taken as clock skew)",
                            stamp_text(at),
                            self.orders[slot].record,
                            stamp_text(self.orders[slot].submitted_us),
                            fillproof_simulator::format_duration(MAX_CLOCK_SKEW)
                        ),
                    ));
                }
                let order = &mut self.orders[slot];
                order.reported_qty.get_or_insert(Decimal::ZERO);
                let end = if record.event == AuditEvent::Reject {
                    End::Rejected
                } else {
                    End::Canceled
                };
                if (end == End::Canceled || order.executions.is_empty()) && order.end.is_none() {
                    order.end = Some((end, at));
                    self.end_lines.insert(slot, line);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn submit(&mut self, line: usize, record: &AuditRecord, at: i64) -> Result<(), ImportError> {
        if self.index.contains_key(&record.client_order_id) {
            return Ok(());
        }
        if record.client_order_id.trim().is_empty() {
            return Err(self.bad(line, "`client_order_id` is empty".into()));
        }
        if record.symbol.trim().is_empty() {
            return Err(self.bad(line, "`symbol` is empty".into()));
        }
        if self.orders.len() >= MAX_IMPORT_ORDERS {
            return Err(self.bad(
                line,
                format!(
                    "the log submits more than {MAX_IMPORT_ORDERS} orders, the most one scenario holds (a scenario file is at most 1 MiB): import a shorter stretch of the log"
                ),
            ));
        }
        let qty = positive_shares("qty", record.qty).map_err(|problem| self.bad(line, problem))?;
        let limit_price = record
            .price
            .map(|p| tradable_price("price", p))
            .transpose()
            .map_err(|problem| self.bad(line, problem))?;
        self.index
            .insert(record.client_order_id.clone(), self.orders.len());
        self.orders.push(IncidentOrder {
            record: format!(
                "line {line} (client order id {})",
                shown(&record.client_order_id)
            ),
            broker_id: record.order_id.clone().unwrap_or_default(),
            client_order_id: record.client_order_id.clone(),
            symbol: record.symbol.clone(),
            side: record.side,
            qty,
            limit_price,
            replayed_as_market: None,
            submitted_us: at,
            executions: Vec::new(),
            end: None,
            reported_qty: None,
        });
        Ok(())
    }

    fn fill(&mut self, line: usize, record: &AuditRecord, at: i64) -> Result<(), ImportError> {
        let Some(&slot) = self.index.get(&record.client_order_id) else {
            self.notes.push(format!(
                "line {line}: a fill of {} with no submit; left out",
                shown(&record.client_order_id)
            ));
            return Ok(());
        };
        let broker_at = match record.broker_at.as_deref() {
            Some(stamp) => strict_stamp(stamp).map_err(|why| {
                self.bad(line, format!("`broker_at` {} {why}", yaml_quote(stamp)))
            })?,
            None => {
                self.engine_times += 1;
                at
            }
        };
        let price = record.price.ok_or_else(|| {
            self.bad(
                line,
                "a fill record has no price; the fill cannot be replayed".into(),
            )
        })?;
        let execution = Execution {
            at_us: broker_at,
            qty: positive_shares("qty", record.qty).map_err(|problem| self.bad(line, problem))?,
            price: tradable_price("price", price).map_err(|problem| self.bad(line, problem))?,
        };
        let order = &self.orders[slot];
        // The order's end, when the log recorded it before this fill: an
        // end recorded after it is the engine learning of the end later.
        let end = order.end.map(|(kind, end_at)| {
            let end_line = self.end_lines.get(&slot).copied().unwrap_or(0);
            (kind, end_at, end_line)
        });
        let end_field = end.map(|(_, _, l)| format!("the `ts` of line {l}"));
        check_executions(
            &OrderFacts {
                record: &order.record,
                qty: order.qty,
                side: order.side,
                limit_price: order.limit_price,
                submitted_us: order.submitted_us,
                end: end
                    .zip(end_field.as_deref())
                    .map(|((kind, end_at, _), field)| (kind, end_at, field)),
                end_sub_ns: 0,
            },
            &[Witnessed {
                execution: execution.clone(),
                witness: Witness {
                    file: self.file.to_owned(),
                    record: format!("line {line}"),
                    at: if record.broker_at.is_some() {
                        "broker_at"
                    } else {
                        "ts"
                    },
                    qty: "qty",
                    price: "price",
                },
                claims: (None, None),
                sub_ns: 0,
            }],
        )?;
        let order = &mut self.orders[slot];
        // A fill record holds the quantity booked so far; the latest is
        // the order's.
        order.executions = vec![execution];
        order.reported_qty = Some(record.qty);
        if order.broker_id.is_empty() {
            order.broker_id = record.order_id.clone().unwrap_or_default();
        }
        Ok(())
    }
}

/// Reads the engine's audit log: each `submit` is an order (at the time
/// the engine wrote it), each `fill` an execution of the quantity the
/// engine booked at its price and the broker's stamp (`broker_at`; a log
/// without it gives the engine's own time, with a note), a `not_filled` a
/// cancel and a `reject` a rejection. The log must verify. The checks of
/// [`from_alpaca`] apply where the log has the field: printable ids and
/// symbols, times that exist, positive quantities and prices, fills
/// within the order's quantity and limit, not after its recorded end and
/// within [`MAX_FILL_WAIT`] of its submission, at most
/// [`MAX_IMPORT_ORDERS`] orders.
///
/// # Errors
/// The log does not verify (a broken hash chain, a line that is not a
/// record), or a record breaks one of those checks, named by its line.
pub fn from_audit(file: &str, text: &str) -> Result<Incident, ImportError> {
    from_audit_with_key(file, text, None)
}

/// [`from_audit`] of a log chained under `key` (`FILLPROOF_AUDIT_KEY`):
/// with a key, every record must carry an HMAC under it; without one, a
/// keyed log is refused.
///
/// # Errors
/// As [`from_audit`].
pub fn from_audit_with_key(
    file: &str,
    text: &str,
    key: Option<&fillproof_engine::AuditKey>,
) -> Result<Incident, ImportError> {
    fillproof_engine::verify_chain(text, key).map_err(|e| ImportError {
        file: file.to_owned(),
        location: "file".into(),
        problem: format!("does not verify ({e}); import only an intact audit log"),
    })?;
    let mut reader = AuditOrders {
        file,
        orders: Vec::new(),
        index: BTreeMap::new(),
        end_lines: BTreeMap::new(),
        notes: Vec::new(),
        engine_times: 0,
    };
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        reader.record(n + 1, line)?;
    }
    let AuditOrders {
        mut orders,
        mut notes,
        engine_times,
        ..
    } = reader;
    if engine_times > 0 {
        notes.push(format!(
            "{engine_times} fill records carry no broker stamp (a log from before `broker_at`); their fills are placed when the engine learned of them"
        ));
    }
    if orders.is_empty() {
        return Err(ImportError {
            file: file.to_owned(),
            location: "file".into(),
            problem: "holds no submit records; nothing to replay".into(),
        });
    }
    // A scenario lists its orders in submission order.
    orders.sort_by_key(|o| o.submitted_us);
    check_span(file, &orders)?;
    Ok(Incident {
        source: shown(file),
        orders,
        notes,
    })
}

fn offset(us: i64, zero: i64) -> String {
    let micros = u64::try_from(us.saturating_sub(zero)).unwrap_or(0);
    fillproof_simulator::format_duration(Duration::from_micros(micros))
}

/// A whole number of minutes as a scenario writes it: `46m`, `2h`,
/// `23h59m`.
fn minutes_text(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// The engine's deadline that outlasts a wait of `wait` for a fill: the
/// engine's default (60s) when the wait is shorter, else the wait rounded
/// up to the minute, plus a minute; at most a day (a wait of at most
/// [`MAX_FILL_WAIT`] gets at most that).
#[must_use]
pub fn engine_timeout(wait: Duration) -> Duration {
    if wait < DEFAULT_TIMEOUT {
        return DEFAULT_TIMEOUT;
    }
    let minutes = wait.as_micros().div_ceil(60_000_000) + 1;
    let minutes = u64::try_from(minutes).unwrap_or(u64::MAX).min(24 * 60);
    Duration::from_secs(minutes * 60)
}

/// The longest wait of an order for its last execution, and the order.
fn longest_wait(incident: &Incident) -> (Duration, Option<usize>) {
    incident
        .orders
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let last = o.executions.iter().map(|e| e.at_us).max()?;
            let wait = u64::try_from(last.saturating_sub(o.submitted_us)).unwrap_or(0);
            Some((Duration::from_micros(wait), Some(i)))
        })
        .max_by_key(|(wait, i)| (*wait, std::cmp::Reverse(*i)))
        .unwrap_or((Duration::ZERO, None))
}

/// The `engine:` and `limits:` sections: a deadline that outlasts every
/// wait for a fill, and a run bound past the last order's deadline,
/// reconcile horizon and settle window.
fn write_engine_and_limits(y: &mut String, incident: &Incident, zero: i64) {
    let (wait, slowest) = longest_wait(incident);
    let timeout = engine_timeout(wait);
    let _ = writeln!(y, "engine:");
    let _ = writeln!(
        y,
        "  # The engine under test watches each order longer than the broker took to\n  # fill it, so that a correct engine sees every fill the export records."
    );
    let why = match slowest {
        Some(i) => format!(
            "the longest wait for a fill, order {i}'s, is {}",
            fillproof_simulator::format_duration(wait)
        ),
        None => "nothing filled".to_owned(),
    };
    if timeout == DEFAULT_TIMEOUT {
        let _ = writeln!(y, "  timeout: 60s  # the engine's default; {why}");
    } else {
        let _ = writeln!(
            y,
            "  timeout: {}  # {why}, rounded up to the minute, plus a minute",
            minutes_text(timeout.as_secs() / 60)
        );
    }
    if let Some((band, i, gap)) = needed_price_band(incident) {
        let order = &incident.orders[i];
        let _ = writeln!(
            y,
            "  # Order {i}'s limit price {} is {}% from {}'s reference price {} (its first\n  # execution's price); the engine's default band of {DEFAULT_PRICE_BAND_PCT}% would refuse it\n  # before the broker sees it. This band, the widest gap rounded up to a\n  # whole percent, admits every limit order of the export.",
            order.limit_price.unwrap_or_default(),
            gap.round_dp(2).normalize(),
            one_line(&shown(&order.symbol)),
            reference_price(incident, &order.symbol),
        );
        let _ = writeln!(y, "  price_band_pct: {band}");
    }
    let _ = writeln!(
        y,
        "  # The scenario replays the orders as the bot sent them, and its expectations\n  # count every one: no call budget (the engine's default of 180 calls a\n  # minute would shed submissions of a burst the bot did send). Set one to\n  # test the budget against this incident."
    );
    let _ = writeln!(y, "  rate_limit: none");
    let last_submit = incident
        .orders
        .iter()
        .map(|o| o.submitted_us)
        .max()
        .unwrap_or(zero);
    let last_submit = Duration::from_micros(u64::try_from(last_submit - zero).unwrap_or(0));
    let horizon = fillproof_engine::FillDetectionConfig::default().reconcile_horizon;
    let settle = fillproof_simulator::Limits::default().settle.0;
    let needed = last_submit + timeout + horizon + settle;
    let hours = (needed.as_secs() / 3600 + 1).max(7 * 24);
    let _ = writeln!(y, "\nlimits:");
    let _ = writeln!(
        y,
        "  max_virtual_time: {hours}h  # past the last order ({}) plus the timeout, the reconcile horizon ({}) and the settle window ({})",
        fillproof_simulator::format_duration(last_submit),
        fillproof_simulator::format_duration(horizon),
        fillproof_simulator::format_duration(settle),
    );
}

/// `text` for a comment: the readers quote what they take from the
/// records (with [`shown`] or [`yaml_quote`]); this keeps a comment on its
/// line whatever an `Incident` built otherwise holds.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The header comments, name, description and seed.
fn write_header(y: &mut String, incident: &Incident, name: &str) {
    let executions: usize = incident.orders.iter().map(|o| o.executions.len()).sum();
    let _ = writeln!(
        y,
        "# Imported by `fillproof import` from {}.",
        one_line(&incident.source)
    );
    let _ = writeln!(
        y,
        "# {} orders, {executions} executions; times are offsets from the first order.",
        incident.orders.len()
    );
    for note in &incident.notes {
        let _ = writeln!(y, "# Note: {}", one_line(note));
    }
    let _ = writeln!(y, "version: 1");
    let _ = writeln!(y, "name: {}", yaml_quote(name));
    let _ = writeln!(
        y,
        "description: {}",
        yaml_quote(&format!(
            "Regression scenario imported from {}: the incident's orders, and every execution, cancel, rejection and expiry the broker reported, at its real offset.",
            incident.source
        ))
    );
    let _ = writeln!(y, "seed: 1\n");
}

/// The reference price the scenario gives `symbol`: its first
/// execution's price (or, before any execution, the first limit price).
fn reference_price(incident: &Incident, symbol: &str) -> Decimal {
    incident
        .orders
        .iter()
        .filter(|o| o.symbol == symbol)
        .find_map(|o| o.executions.first().map(|e| e.price).or(o.limit_price))
        .unwrap_or(Decimal::ONE)
}

/// The engine's default price band, in percent of the reference price
/// (`fillproof_engine::ValidationConfig::default`).
const DEFAULT_PRICE_BAND_PCT: u64 = 5;

/// The widest gap, in percent, between an imported limit price and its
/// symbol's reference price, rounded up to a whole percent, with the
/// order it belongs to; `None` when the engine's default band admits
/// every limit order. The engine refuses a limit price more than
/// `engine.price_band_pct` from the reference price (its deviation
/// rounded to the cent of a percent), so a band of this many percent
/// admits each one. Prices are within [`MIN_PRICE`]..=[`MAX_PRICE`], so
/// the band is at most 10^13 %, a whole number a scenario's
/// `price_band_pct` holds exactly.
fn needed_price_band(incident: &Incident) -> Option<(u64, usize, Decimal)> {
    let mut widest: Option<(Decimal, usize)> = None;
    for (i, order) in incident.orders.iter().enumerate() {
        let Some(limit) = order.limit_price else {
            continue;
        };
        let reference = reference_price(incident, &order.symbol);
        let gap = (limit - reference).abs() / reference * Decimal::ONE_HUNDRED;
        if widest.is_none_or(|(w, _)| gap > w) {
            widest = Some((gap, i));
        }
    }
    let (gap, i) = widest?;
    let band = u64::try_from(gap.ceil()).unwrap_or(u64::MAX);
    (band > DEFAULT_PRICE_BAND_PCT).then_some((band, i, gap))
}

/// The `workload:` section: every order in `list`.
fn write_workload(y: &mut String, incident: &Incident, zero: i64) {
    let mut symbols: Vec<&str> = incident.orders.iter().map(|o| o.symbol.as_str()).collect();
    symbols.sort_unstable();
    symbols.dedup();
    let reference = |symbol: &str| reference_price(incident, symbol);
    let _ = writeln!(y, "workload:");
    let _ = writeln!(y, "  orders: {}", incident.orders.len());
    let quoted: Vec<String> = symbols.iter().map(|s| yaml_quote(s)).collect();
    let _ = writeln!(y, "  symbols: [{}]", quoted.join(", "));
    let _ = writeln!(y, "  qty: 1  # not drawn from: every order is in `list`");
    let prices: Vec<String> = symbols
        .iter()
        .map(|s| format!("{}: \"{}\"", yaml_quote(s), reference(s)))
        .collect();
    let _ = writeln!(
        y,
        "  reference_price: {{{}}}  # each symbol's first execution (or limit) price",
        prices.join(", ")
    );
    let _ = writeln!(y, "  list:");
    for (i, order) in incident.orders.iter().enumerate() {
        let _ = write!(
            y,
            "    - {{at: {}, symbol: {}, side: {}, qty: {}",
            offset(order.submitted_us, zero),
            yaml_quote(&order.symbol),
            order.side,
            order.qty
        );
        if let Some(limit) = order.limit_price {
            let _ = write!(y, ", type: limit, limit_price: \"{limit}\"");
        }
        let mut comment = format!("order {i}");
        if !order.broker_id.is_empty() {
            let _ = write!(comment, ", broker id {}", shown(&order.broker_id));
        }
        if !order.client_order_id.is_empty() {
            let _ = write!(
                comment,
                ", client id {}",
                yaml_quote(&order.client_order_id)
            );
        }
        if let Some(kind) = &order.replayed_as_market {
            let _ = write!(
                comment,
                "; a {} order, replayed as market",
                yaml_quote(kind)
            );
        }
        let _ = writeln!(y, "}}  # {comment}");
    }
    let _ = writeln!(y);
}

/// The `broker:` section: neutral knobs.
fn write_broker(y: &mut String) {
    let _ = writeln!(y, "broker:");
    let _ = writeln!(
        y,
        "  # Neutral knobs: the export records what happened, not how the broker\n  # behaved on the way. Set what the incident showed (latency, faults,\n  # status lag) to reproduce it more closely."
    );
    let _ = writeln!(y, "  latency:");
    for endpoint in [
        "submit",
        "get_order",
        "get_order_by_client_id",
        "cancel",
        "get_position",
    ] {
        let _ = writeln!(y, "    {endpoint}: 0ms  # neutral: no latency was recorded");
    }
    let _ = writeln!(y, "  fill:");
    let _ = writeln!(
        y,
        "    probability: 0  # every fill comes from the timeline; orders it does not name never fill"
    );
    let _ = writeln!(y, "  cancel:");
    let _ = writeln!(
        y,
        "    when_filled: reject_422  # Alpaca's answer to a cancel of a filled order"
    );
    let _ = writeln!(
        y,
        "    processing: 0ms  # neutral: a cancel takes effect at once"
    );
}

/// The `timeline:` section: every execution and end at its offset.
fn write_timeline(y: &mut String, incident: &Incident, zero: i64) {
    let _ = writeln!(y, "\ntimeline:");
    let mut any = false;
    for (i, order) in incident.orders.iter().enumerate() {
        let mut last = order.submitted_us;
        for execution in &order.executions {
            any = true;
            let at = execution.at_us.max(order.submitted_us);
            last = last.max(at);
            let _ = writeln!(
                y,
                "  - {{at: {}, order: {i}, event: fill, qty: {}, price: \"{}\"}}",
                offset(at, zero),
                execution.qty,
                execution.price
            );
        }
        if let Some((end, at)) = order.end {
            // A broker never rejects an order that filled; such a record
            // is a cancel of the rest.
            let end = if end == End::Rejected && !order.executions.is_empty() {
                End::Canceled
            } else {
                end
            };
            any = true;
            // Never before a fill of the order (an audit log's end is the
            // engine's time, its fills the broker's).
            let _ = writeln!(
                y,
                "  - {{at: {}, order: {i}, event: {}}}",
                offset(at.max(last), zero),
                end.event()
            );
        }
    }
    if !any {
        y.truncate(y.len() - "\ntimeline:\n".len());
        let _ = writeln!(y, "\ntimeline: []  # nothing filled or ended");
    }
}

/// The `expect:` section: what a correct engine does.
fn write_expect(y: &mut String, incident: &Incident) {
    let filled = incident
        .orders
        .iter()
        .filter(|o| !o.executions.is_empty())
        .count();
    let _ = writeln!(y, "\nexpect:");
    let _ = writeln!(
        y,
        "  # What a correct engine does with this incident: see every fill, invent none,"
    );
    let _ = writeln!(y, "  # place each order once.");
    for (i, order) in incident.orders.iter().enumerate() {
        let broker: u64 = order.executions.iter().map(|e| e.qty).sum();
        if let Some(reported) = order.reported_qty {
            if reported != Decimal::from(broker) {
                let _ = writeln!(
                    y,
                    "  # At import the engine reported {reported} of order {i} filled; the log's fills add up to {broker}."
                );
            }
        }
    }
    let _ = writeln!(y, "  filled_orders: \"== {filled}\"");
    if filled > 0 {
        let _ = writeln!(y, "  detection_rate: \"== 1\"");
    }
    let _ = writeln!(y, "  missed_fills: \"== 0\"");
    let _ = writeln!(y, "  false_positives: \"== 0\"");
    let _ = writeln!(y, "  duplicate_orders: \"== 0\"");
}

/// The incident as a commented scenario named `name`. Every string taken
/// from the records is written with [`yaml_quote`] (or, in comments,
/// [`shown`]). `engine.timeout` outlasts the longest wait for a fill
/// ([`engine_timeout`]; the readers refuse a wait past
/// [`MAX_FILL_WAIT`]) and `limits.max_virtual_time` the whole run.
#[must_use]
pub fn scenario_yaml(incident: &Incident, name: &str) -> String {
    let zero = incident
        .orders
        .iter()
        .map(|o| o.submitted_us)
        .min()
        .unwrap_or(0);
    let mut y = String::new();
    write_header(&mut y, incident, name);
    write_workload(&mut y, incident, zero);
    write_engine_and_limits(&mut y, incident, zero);
    let _ = writeln!(y);
    write_broker(&mut y);
    write_timeline(&mut y, incident, zero);
    write_expect(&mut y, incident);
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole shares pass; a negative, a fractional and an out-of-range
    /// quantity are each refused with their own reason, and zero is
    /// refused where a positive quantity is due.
    #[test]
    fn whole_shares_names_what_is_wrong() {
        assert_eq!(whole_shares("qty", Decimal::from(300)), Ok(300));
        assert_eq!(whole_shares("qty", Decimal::ZERO), Ok(0));
        let zero = positive_shares("qty", Decimal::ZERO).expect_err("zero");
        assert!(zero.contains("`qty` is 0"), "{zero}");
        let negative = whole_shares("qty", Decimal::from(-5)).expect_err("negative");
        assert!(negative.contains("never negative"), "{negative}");
        let fraction = whole_shares("filled_qty", Decimal::new(15, 1)).expect_err("fraction");
        assert!(
            fraction.contains("`filled_qty` is 1.5") && fraction.contains("whole shares"),
            "{fraction}"
        );
        let huge = whole_shares("qty", Decimal::MAX).expect_err("too large");
        assert!(huge.contains("too large"), "{huge}");
    }

    /// The deadline outlasts the wait: the default below a minute, else
    /// the wait rounded up to the minute plus one, and a day at most.
    #[test]
    fn engine_timeout_outlasts_the_wait() {
        let s = Duration::from_secs;
        assert_eq!(engine_timeout(Duration::ZERO), s(60));
        assert_eq!(engine_timeout(Duration::from_millis(59_950)), s(60));
        assert_eq!(engine_timeout(s(60)), s(120));
        assert_eq!(engine_timeout(s(120)), s(180));
        assert_eq!(engine_timeout(s(45 * 60)), s(46 * 60));
        assert_eq!(engine_timeout(s(45 * 60 + 1)), s(47 * 60));
        assert_eq!(engine_timeout(MAX_FILL_WAIT), s(86_400));
        assert_eq!(minutes_text(46), "46m");
        assert_eq!(minutes_text(120), "2h");
        assert_eq!(minutes_text(1439), "23h59m");
    }
}
