//! From a production incident to a regression scenario: what a broker's
//! export (Alpaca's order history and fill activities) or the engine's own
//! audit log says happened, as a scenario whose workload is those orders
//! and whose `timeline:` reproduces every execution, cancel, rejection and
//! expiry at its real offset from the first order.
//!
//! Reading is strict: a file that is not the export it claims to be, a
//! record missing a field the scenario needs, or a quantity the simulator
//! cannot hold is bad input, named with the record and the field.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use fillproof_engine::{AuditEvent, AuditRecord, Side};
use rust_decimal::Decimal;
use serde_json::Value;

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
    /// The files it came from, for the description.
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

/// Microseconds since the epoch of an RFC 3339 stamp.
fn stamp_us(text: &str) -> Option<i64> {
    fillproof_engine::Timestamp::parse_rfc3339(text).map(|t| t.unix_micros)
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
    u64::try_from(qty).map_err(|_| format!("`{field}` {qty} is too large"))
}

/// A record's fields, read with errors that name the record and field.
struct Fields<'a> {
    file: &'a str,
    record: String,
    value: &'a Value,
}

impl Fields<'_> {
    fn error(&self, problem: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.to_owned(),
            location: self.record.clone(),
            problem: problem.into(),
        }
    }

    fn text(&self, field: &str) -> Result<Option<&str>, ImportError> {
        match self.value.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.error(format!("`{field}` must be a string, not {other}"))),
        }
    }

    fn required(&self, field: &str) -> Result<&str, ImportError> {
        self.text(field)?
            .ok_or_else(|| self.error(format!("`{field}` is missing")))
    }

    fn decimal(&self, field: &str) -> Result<Option<Decimal>, ImportError> {
        let text = match self.value.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(self.error(format!("`{field}` must be a decimal, not {other}")));
            }
        };
        text.trim()
            .parse::<Decimal>()
            .map(Some)
            .map_err(|_| self.error(format!("`{field}` \"{text}\" is not a decimal")))
    }

    fn stamp(&self, field: &str) -> Result<Option<i64>, ImportError> {
        self.text(field)?
            .map(|t| {
                stamp_us(t)
                    .ok_or_else(|| self.error(format!("`{field}` \"{t}\" is not an RFC 3339 time")))
            })
            .transpose()
    }

    fn whole(&self, field: &str, qty: Decimal) -> Result<u64, ImportError> {
        whole_shares(field, qty).map_err(|problem| self.error(problem))
    }

    fn side(&self) -> Result<Side, ImportError> {
        match self.required("side")? {
            "buy" => Ok(Side::Buy),
            "sell" | "sell_short" => Ok(Side::Sell),
            other => Err(self.error(format!("`side` \"{other}\" is neither buy nor sell"))),
        }
    }
}

fn parse_json(file: &str, text: &str, what: &str) -> Result<Vec<Value>, ImportError> {
    let bad = |problem: String| ImportError {
        file: file.to_owned(),
        location: "file".into(),
        problem,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "is not JSON ({e}); expected {what}, as Alpaca's API returns it"
        ))
    })?;
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(bad(format!("is not a JSON list; expected {what}"))),
    }
}

/// Reads Alpaca's order history (`GET /v2/orders?status=all&nested=true`)
/// and, when given, its fill activities (`GET
/// /v2/account/activities/FILL`), which carry each execution's time,
/// quantity and price. Without activities an order's fill is one
/// execution of its `filled_qty` at its `filled_avg_price` and
/// `filled_at`.
///
/// # Errors
///
/// A file that is not such a list, or a record missing or spoiling a
/// field, named with the record.
pub fn from_alpaca(
    orders_file: &str,
    orders_text: &str,
    activities: Option<(&str, &str)>,
) -> Result<Incident, ImportError> {
    let mut notes = Vec::new();
    let mut executions: BTreeMap<String, Vec<Execution>> = BTreeMap::new();
    if let Some((file, text)) = activities {
        for (i, value) in parse_json(file, text, "a list of FILL activities")?
            .iter()
            .enumerate()
        {
            let fields = Fields {
                file,
                record: format!("activity {i}"),
                value,
            };
            if let Some(kind) = fields.text("activity_type")? {
                if kind != "FILL" {
                    notes.push(format!(
                        "activity {i} is a {kind} activity, not a fill; left out"
                    ));
                    continue;
                }
            }
            let order_id = fields.required("order_id")?.to_owned();
            let qty = fields
                .decimal("qty")?
                .ok_or_else(|| fields.error("`qty` is missing"))?;
            let execution = Execution {
                at_us: fields
                    .stamp("transaction_time")?
                    .ok_or_else(|| fields.error("`transaction_time` is missing"))?,
                qty: fields.whole("qty", qty)?,
                price: fields
                    .decimal("price")?
                    .ok_or_else(|| fields.error("`price` is missing"))?,
            };
            executions.entry(order_id).or_default().push(execution);
        }
    }
    let mut orders = Vec::new();
    let mut records: Vec<Value> = Vec::new();
    for value in parse_json(orders_file, orders_text, "a list of orders")? {
        // `nested=true` puts a bracket order's legs under it: each is an
        // order of its own.
        if let Some(Value::Array(legs)) = value.get("legs") {
            records.extend(legs.iter().cloned());
        }
        records.push(value);
    }
    for (i, value) in records.iter().enumerate() {
        let id = value.get("id").and_then(Value::as_str).unwrap_or("?");
        let fields = Fields {
            file: orders_file,
            record: format!("order {i} (id {id})"),
            value,
        };
        let broker_id = fields.required("id")?.to_owned();
        let qty = fields.decimal("qty")?.ok_or_else(|| {
            fields.error("`qty` is missing (a notional order cannot be replayed)")
        })?;
        let kind = fields
            .text("type")?
            .or(fields.text("order_type")?)
            .unwrap_or("market");
        let limit_price = match kind {
            "limit" => Some(
                fields
                    .decimal("limit_price")?
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
        let filled = fields.decimal("filled_qty")?.unwrap_or(Decimal::ZERO);
        let mut order_executions = executions.remove(&broker_id).unwrap_or_default();
        if order_executions.is_empty() && filled > Decimal::ZERO {
            order_executions.push(Execution {
                at_us: fields
                    .stamp("filled_at")?
                    .or(fields.stamp("updated_at")?)
                    .ok_or_else(|| fields.error("a filled order's `filled_at` is missing"))?,
                qty: fields.whole("filled_qty", filled)?,
                price: fields.decimal("filled_avg_price")?.ok_or_else(|| {
                    fields.error("a filled order's `filled_avg_price` is missing")
                })?,
            });
        }
        order_executions.sort_by_key(|e| e.at_us);
        let executed: u64 = order_executions.iter().map(|e| e.qty).sum();
        if Decimal::from(executed) != filled {
            notes.push(format!(
                "order {i} (id {broker_id}) reads filled_qty {filled} but its fill activities add up to {executed}; the activities are replayed"
            ));
        }
        let status = fields.required("status")?;
        let end = match status {
            "canceled" => Some((End::Canceled, fields.stamp("canceled_at")?)),
            "expired" => Some((End::Expired, fields.stamp("expired_at")?)),
            "rejected" => Some((End::Rejected, fields.stamp("failed_at")?)),
            _ => None,
        }
        .map(|(end, at)| {
            at.or(fields.stamp("updated_at").ok().flatten())
                .map(|at| (end, at))
                .ok_or_else(|| fields.error(format!("a {status} order has no time for it")))
        })
        .transpose()?;
        if end.is_none() && !matches!(status, "filled") {
            notes.push(format!(
                "order {i} (id {broker_id}) was `{status}` at export; the replay leaves it working"
            ));
        }
        orders.push(IncidentOrder {
            broker_id,
            client_order_id: fields.text("client_order_id")?.unwrap_or("").to_owned(),
            symbol: fields.required("symbol")?.to_ascii_uppercase(),
            side: fields.side()?,
            qty: fields.whole("qty", qty)?,
            limit_price,
            replayed_as_market: (!matches!(kind, "market" | "limit")).then(|| kind.to_owned()),
            submitted_us,
            executions: order_executions,
            end,
            reported_qty: None,
        });
    }
    for (order_id, _) in executions {
        notes.push(format!(
            "fill activities of order {order_id} match no order in the history; left out"
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
    let source = match activities {
        Some((file, _)) => format!("{orders_file} and {file}"),
        None => orders_file.to_owned(),
    };
    Ok(Incident {
        source,
        orders,
        notes,
    })
}

/// Reads the engine's audit log: each `submit` is an order (at the time
/// the engine wrote it), each `fill` an execution of the quantity the
/// engine booked at its price and the broker's stamp (`broker_at`; a log
/// without it gives the engine's own time, with a note), a `not_filled` a
/// cancel and a `reject` a rejection. The log must verify, keyless (a
/// keyed log is refused: see [`from_audit_with_key`]).
///
/// # Errors
///
/// The log does not verify (a broken hash chain, a line that is not a
/// record), or a record's time does not parse.
pub fn from_audit(file: &str, text: &str) -> Result<Incident, ImportError> {
    from_audit_with_key(file, text, None)
}

/// [`from_audit`] of a log chained under `key` (`FILLPROOF_AUDIT_KEY`):
/// with a key, every record must carry an HMAC under it.
///
/// # Errors
///
/// As [`from_audit`].
pub fn from_audit_with_key(
    file: &str,
    text: &str,
    key: Option<&fillproof_engine::AuditKey>,
) -> Result<Incident, ImportError> {
    let bad = |location: String, problem: String| ImportError {
        file: file.to_owned(),
        location,
        problem,
    };
    fillproof_engine::verify_chain(text, key).map_err(|e| {
        bad(
            "file".into(),
            format!("does not verify ({e}); import only an intact audit log"),
        )
    })?;
    let mut notes = Vec::new();
    let mut orders: Vec<IncidentOrder> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut engine_times = 0;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line_no = n + 1;
        let record: AuditRecord = serde_json::from_str(line).map_err(|e| {
            bad(
                format!("line {line_no}"),
                format!("is not an audit record: {e}"),
            )
        })?;
        let at = stamp_us(&record.ts).ok_or_else(|| {
            bad(
                format!("line {line_no}"),
                format!("`ts` \"{}\" is not an RFC 3339 time", record.ts),
            )
        })?;
        let whole = |qty: Decimal| {
            whole_shares("qty", qty).map_err(|problem| bad(format!("line {line_no}"), problem))
        };
        match record.event {
            AuditEvent::Submit => {
                if index.contains_key(&record.client_order_id) {
                    continue;
                }
                index.insert(record.client_order_id.clone(), orders.len());
                orders.push(IncidentOrder {
                    broker_id: record.order_id.clone().unwrap_or_default(),
                    client_order_id: record.client_order_id.clone(),
                    symbol: record.symbol.clone(),
                    side: record.side,
                    qty: whole(record.qty)?,
                    limit_price: record.price,
                    replayed_as_market: None,
                    submitted_us: at,
                    executions: Vec::new(),
                    end: None,
                    reported_qty: None,
                });
            }
            AuditEvent::Fill => {
                let Some(&slot) = index.get(&record.client_order_id) else {
                    notes.push(format!(
                        "line {line_no}: a fill of {} with no submit; left out",
                        record.client_order_id
                    ));
                    continue;
                };
                let broker_at = match record.broker_at.as_deref().map(stamp_us) {
                    Some(Some(at)) => at,
                    Some(None) => {
                        return Err(bad(
                            format!("line {line_no}"),
                            "`broker_at` is not an RFC 3339 time".into(),
                        ));
                    }
                    None => {
                        engine_times += 1;
                        at
                    }
                };
                let order = &mut orders[slot];
                // A fill record holds the quantity booked so far; the
                // latest is the order's.
                order.executions = vec![Execution {
                    at_us: broker_at,
                    qty: whole(record.qty)?,
                    price: record.price.ok_or_else(|| {
                        bad(
                            format!("line {line_no}"),
                            "a fill record has no price; the fill cannot be replayed".into(),
                        )
                    })?,
                }];
                order.reported_qty = Some(record.qty);
                if order.broker_id.is_empty() {
                    order.broker_id = record.order_id.clone().unwrap_or_default();
                }
            }
            AuditEvent::NotFilled | AuditEvent::Reject => {
                let Some(&slot) = index.get(&record.client_order_id) else {
                    continue;
                };
                let order = &mut orders[slot];
                order.reported_qty.get_or_insert(Decimal::ZERO);
                let end = if record.event == AuditEvent::Reject {
                    End::Rejected
                } else {
                    End::Canceled
                };
                if end == End::Canceled || order.executions.is_empty() {
                    order.end.get_or_insert((end, at));
                }
            }
            _ => {}
        }
    }
    if engine_times > 0 {
        notes.push(format!(
            "{engine_times} fill records carry no broker stamp (a log from before `broker_at`); their fills are placed when the engine learned of them"
        ));
    }
    if orders.is_empty() {
        return Err(bad(
            "file".into(),
            "holds no submit records; nothing to replay".into(),
        ));
    }
    Ok(Incident {
        source: file.to_owned(),
        orders,
        notes,
    })
}

fn offset(us: i64, zero: i64) -> String {
    let micros = u64::try_from(us.saturating_sub(zero)).unwrap_or(0);
    fillproof_simulator::format_duration(Duration::from_micros(micros))
}

fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// The incident as a commented scenario named `name`.
#[must_use]
pub fn scenario_yaml(incident: &Incident, name: &str) -> String {
    let zero = incident
        .orders
        .iter()
        .map(|o| o.submitted_us)
        .min()
        .unwrap_or(0);
    let mut symbols: Vec<&str> = incident.orders.iter().map(|o| o.symbol.as_str()).collect();
    symbols.sort_unstable();
    symbols.dedup();
    let reference = |symbol: &str| {
        incident
            .orders
            .iter()
            .filter(|o| o.symbol == symbol)
            .find_map(|o| o.executions.first().map(|e| e.price).or(o.limit_price))
            .unwrap_or(Decimal::ONE)
    };
    let executions: usize = incident.orders.iter().map(|o| o.executions.len()).sum();
    let filled = incident
        .orders
        .iter()
        .filter(|o| !o.executions.is_empty())
        .count();
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Imported by `fillproof import` from {}.",
        incident.source
    );
    let _ = writeln!(
        y,
        "# {} orders, {executions} executions; times are offsets from the first order.",
        incident.orders.len()
    );
    for note in &incident.notes {
        let _ = writeln!(y, "# Note: {note}");
    }
    let _ = writeln!(y, "version: 1");
    let _ = writeln!(y, "name: {name}");
    let _ = writeln!(y, "description: >");
    let _ = writeln!(
        y,
        "  Regression scenario imported from {}: the incident's orders, and every",
        incident.source
    );
    let _ = writeln!(
        y,
        "  execution, cancel, rejection and expiry the broker reported, at its real offset."
    );
    let _ = writeln!(y, "seed: 1\n");
    let _ = writeln!(y, "workload:");
    let _ = writeln!(y, "  orders: {}", incident.orders.len());
    let _ = writeln!(y, "  symbols: [{}]", symbols.join(", "));
    let _ = writeln!(y, "  qty: 1  # not drawn from: every order is in `list`");
    let prices: Vec<String> = symbols
        .iter()
        .map(|s| format!("{s}: \"{}\"", reference(s)))
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
            order.symbol,
            order.side,
            order.qty
        );
        if let Some(limit) = order.limit_price {
            let _ = write!(y, ", type: limit, limit_price: \"{limit}\"");
        }
        let mut comment = format!("order {i}");
        if !order.broker_id.is_empty() {
            let _ = write!(comment, ", broker id {}", order.broker_id);
        }
        if !order.client_order_id.is_empty() {
            let _ = write!(
                comment,
                ", client id {}",
                yaml_string(&order.client_order_id)
            );
        }
        if let Some(kind) = &order.replayed_as_market {
            let _ = write!(comment, "; a {kind} order, replayed as market");
        }
        let _ = writeln!(y, "}}  # {comment}");
    }
    let _ = writeln!(y);
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
    let _ = writeln!(y, "\ntimeline:");
    let mut any = false;
    for (i, order) in incident.orders.iter().enumerate() {
        for execution in &order.executions {
            any = true;
            let at = execution.at_us.max(order.submitted_us);
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
            let _ = writeln!(
                y,
                "  - {{at: {}, order: {i}, event: {}}}",
                offset(at.max(order.submitted_us), zero),
                end.event()
            );
        }
    }
    if !any {
        y.truncate(y.len() - "\ntimeline:\n".len());
        let _ = writeln!(y, "\ntimeline: []  # nothing filled or ended");
    }
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
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole shares pass; a negative, a fractional and an out-of-range
    /// quantity are each refused with their own reason.
    #[test]
    fn whole_shares_names_what_is_wrong() {
        assert_eq!(whole_shares("qty", Decimal::from(300)), Ok(300));
        assert_eq!(whole_shares("qty", Decimal::ZERO), Ok(0));
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
}
