//! Reading Alpaca's export: the order history, and the fill activities
//! when given, one record at a time, each checked against its order.

use std::collections::BTreeMap;

use fillproof_engine::Side;
use rust_decimal::Decimal;
use serde_json::Value;

use super::stream;
use super::text::{shown, yaml_quote};
use super::validate::{
    Fields, OrderFacts, Witness, Witnessed, check_executions, check_span, legs_text, record_name,
    stamp_text,
};
use super::{
    End, Execution, ImportError, Incident, IncidentOrder, MAX_CLOCK_SKEW, MAX_IMPORT_ACTIVITIES,
    MAX_IMPORT_ORDERS, SKEW_US,
};

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
    /// `raw` is the record's text. Its id is taken once, its terms read,
    /// its end, status, executions and claims checked against each other,
    /// then the order is filed.
    fn order(&mut self, label: &str, value: &Value, raw: &str) -> Result<(), ImportError> {
        let id = value.get("id").and_then(Value::as_str);
        let fields = Fields {
            file: self.file,
            record: record_name(label, id),
            value,
            raw,
        };
        let broker_id = self.admit_id(&fields)?;
        let terms = Terms::of(&fields)?;
        let end = Self::end_after_submission(&fields, self.notes, terms.submitted_us)?;
        Self::check_status(&fields, terms.qty, end)?;
        let fills = self.executions(&fields, &broker_id, terms.qty)?;
        Self::check_claims(&fields.record, &terms.symbol, terms.side, end, &fills)?;
        check_executions(
            &OrderFacts {
                record: &fields.record,
                qty: terms.qty,
                side: terms.side,
                limit_price: terms.limit_price,
                submitted_us: terms.submitted_us,
                end,
                end_sub_ns: end_sub_ns(&fields, end)?,
            },
            &fills,
        )?;
        Self::check_activities(&fields, &fills)?;
        self.orders.push(IncidentOrder {
            record: fields.record.clone(),
            broker_id,
            client_order_id: fields.text("client_order_id")?.unwrap_or("").to_owned(),
            symbol: terms.symbol,
            side: terms.side,
            qty: terms.qty,
            limit_price: terms.limit_price,
            replayed_as_market: (!matches!(terms.kind, "market" | "limit"))
                .then(|| terms.kind.to_owned()),
            submitted_us: terms.submitted_us,
            executions: fills.into_iter().map(|f| f.execution).collect(),
            end: end.map(|(kind, at, _)| (kind, at)),
            reported_qty: None,
        });
        Ok(())
    }

    /// The order's broker id, taken once: an id listed twice, or an order
    /// past the most one scenario holds, is refused.
    fn admit_id(&mut self, fields: &Fields<'_>) -> Result<String, ImportError> {
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
        Ok(broker_id)
    }

    /// How the order ended, when it did: after its submission (up to the
    /// clock skew allowed).
    fn end_after_submission(
        fields: &Fields<'_>,
        notes: &mut Vec<String>,
        submitted_us: i64,
    ) -> Result<Option<(End, i64, &'static str)>, ImportError> {
        let end = Self::end(fields, notes)?;
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
        Ok(end)
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

/// What an order record says of the order itself, read in this order so
/// that the first problem named is the same whatever follows.
struct Terms<'a> {
    qty: u64,
    /// The order type as the export spells it (`market` when absent).
    kind: &'a str,
    limit_price: Option<Decimal>,
    submitted_us: i64,
    side: Side,
    symbol: String,
}

impl<'a> Terms<'a> {
    /// The order's quantity, type, limit price, submission, side and
    /// symbol.
    fn of(fields: &'a Fields<'_>) -> Result<Self, ImportError> {
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
        Ok(Self {
            qty,
            kind,
            limit_price,
            submitted_us,
            side,
            symbol,
        })
    }
}

/// The nanoseconds past its microsecond of the stamp that ended the order.
fn end_sub_ns(
    fields: &Fields<'_>,
    end: Option<(End, i64, &'static str)>,
) -> Result<u16, ImportError> {
    match end {
        Some((_, _, "its `updated_at`")) => fields.sub_ns("updated_at"),
        Some((End::Canceled, ..)) => fields.sub_ns("canceled_at"),
        Some((End::Expired, ..)) => fields.sub_ns("expired_at"),
        Some((End::Rejected, ..)) => fields.sub_ns("failed_at"),
        None => Ok(0),
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
/// through its limit, or later than [`MAX_FILL_WAIT`](super::MAX_FILL_WAIT) after its
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
