//! Validating an incident's records: quantities in whole shares, prices
//! the simulator can hold, a record's fields read strictly ([`Fields`]),
//! an order's executions against the order ([`check_executions`]), and the
//! incident's span ([`check_span`]).

use std::collections::BTreeMap;
use std::time::Duration;

use fillproof_engine::{MAX_PRICE, MAX_QTY, MIN_PRICE, Side, Timestamp};
use rust_decimal::Decimal;
use serde_json::Value;

use super::text::{printable, shown, strict_stamp, sub_micro_ns, yaml_quote};
use super::{
    End, Execution, ImportError, IncidentOrder, MAX_CLOCK_SKEW, MAX_FILL_WAIT, MAX_INCIDENT_SPAN,
    SKEW_US,
};

/// A time for messages: the RFC 3339 stamp of Unix microseconds `us`.
pub(super) fn stamp_text(us: i64) -> String {
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
pub(super) fn record_name(label: &str, id: Option<&str>) -> String {
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
pub(super) fn positive_shares(field: &str, qty: Decimal) -> Result<u64, String> {
    match whole_shares(field, qty)? {
        0 => Err(format!(
            "`{field}` is 0; an order or an execution has a positive quantity"
        )),
        shares => Ok(shares),
    }
}

/// `price` when the simulator can trade at it, or why not.
pub(super) fn tradable_price(field: &str, price: Decimal) -> Result<Decimal, String> {
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
pub(super) fn legs_text(raw: &str) -> Vec<&str> {
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
pub(super) struct Fields<'a> {
    pub(super) file: &'a str,
    pub(super) record: String,
    pub(super) value: &'a Value,
    /// The record's text as the file writes it: a JSON number is read
    /// from its own digits, never through a float.
    pub(super) raw: &'a str,
}

impl Fields<'_> {
    pub(super) fn error(&self, problem: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.to_owned(),
            location: self.record.clone(),
            problem: problem.into(),
        }
    }

    /// A string field, printable (no control character).
    pub(super) fn text(&self, field: &str) -> Result<Option<&str>, ImportError> {
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
    pub(super) fn required(&self, field: &str) -> Result<&str, ImportError> {
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
    pub(super) fn decimal(&self, field: &str) -> Result<Option<Decimal>, ImportError> {
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
    pub(super) fn price(&self, field: &str) -> Result<Option<Decimal>, ImportError> {
        self.decimal(field)?
            .map(|p| tradable_price(field, p).map_err(|problem| self.error(problem)))
            .transpose()
    }

    /// A quantity that must be there: whole shares, more than none.
    pub(super) fn positive(&self, field: &str, missing: &str) -> Result<u64, ImportError> {
        let qty = self
            .decimal(field)?
            .ok_or_else(|| self.error(format!("`{field}` is missing{missing}")))?;
        positive_shares(field, qty).map_err(|problem| self.error(problem))
    }

    pub(super) fn stamp(&self, field: &str) -> Result<Option<i64>, ImportError> {
        self.text(field)?
            .map(|t| {
                strict_stamp(t)
                    .map_err(|why| self.error(format!("`{field}` {} {why}", yaml_quote(t))))
            })
            .transpose()
    }

    /// The nanoseconds the stamp `field` gives past its microsecond.
    pub(super) fn sub_ns(&self, field: &str) -> Result<u16, ImportError> {
        Ok(self.text(field)?.map_or(0, sub_micro_ns))
    }

    pub(super) fn whole(&self, field: &str, qty: Decimal) -> Result<u64, ImportError> {
        whole_shares(field, qty).map_err(|problem| self.error(problem))
    }

    pub(super) fn side(&self) -> Result<Side, ImportError> {
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
pub(super) struct Witness {
    pub(super) file: String,
    pub(super) record: String,
    pub(super) at: &'static str,
    pub(super) qty: &'static str,
    pub(super) price: &'static str,
}

impl Witness {
    pub(super) fn error(&self, problem: String) -> ImportError {
        ImportError {
            file: self.file.clone(),
            location: self.record.clone(),
            problem,
        }
    }
}

/// An execution and where it was read.
#[derive(Debug, Clone)]
pub(super) struct Witnessed {
    pub(super) execution: Execution,
    pub(super) witness: Witness,
    /// The symbol and side the record gives, when it gives them (a fill
    /// activity does), to be checked against its order's.
    pub(super) claims: (Option<String>, Option<Side>),
    /// The nanoseconds its stamp gives past its microsecond (0 to 999),
    /// which the replay's microseconds leave out: a fill and a cancel
    /// in the same microsecond are still ordered by them.
    pub(super) sub_ns: u16,
}

/// What the executions of an order are checked against.
pub(super) struct OrderFacts<'a> {
    pub(super) record: &'a str,
    pub(super) qty: u64,
    pub(super) side: Side,
    pub(super) limit_price: Option<Decimal>,
    pub(super) submitted_us: i64,
    /// How it ended, when, and what says so (`its `canceled_at``).
    pub(super) end: Option<(End, i64, &'a str)>,
    /// The nanoseconds the end's stamp gives past its microsecond.
    pub(super) end_sub_ns: u16,
}

/// Refuses executions the order could not have had: more than its
/// quantity, through its limit, after it ended, or later after its
/// submission than a scenario's engine can watch it.
pub(super) fn check_executions(
    facts: &OrderFacts<'_>,
    fills: &[Witnessed],
) -> Result<(), ImportError> {
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
pub(super) fn check_span(file: &str, orders: &[IncidentOrder]) -> Result<(), ImportError> {
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
}
