//! Reading the engine's own audit log: its chain verified, then each
//! `submit` and `fill` record made into the incident's orders.

use std::collections::BTreeMap;

use fillproof_engine::{AuditEvent, AuditRecord};
use rust_decimal::Decimal;

use super::text::{printable, shown, strict_stamp, yaml_quote};
use super::validate::{
    OrderFacts, Witness, Witnessed, check_executions, check_span, positive_shares, stamp_text,
    tradable_price,
};
use super::{
    End, Execution, ImportError, Incident, IncidentOrder, MAX_CLOCK_SKEW, MAX_IMPORT_ORDERS,
    SKEW_US,
};

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
/// [`from_alpaca`](super::from_alpaca) apply where the log has the field: printable ids and
/// symbols, times that exist, positive quantities and prices, fills
/// within the order's quantity and limit, not after its recorded end and
/// within [`MAX_FILL_WAIT`](super::MAX_FILL_WAIT) of its submission, at most
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
