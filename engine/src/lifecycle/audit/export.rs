//! Export: a verified log's records for one trader and date range as CSV.

use super::*;

/// The records of `trader` whose date (UTC, `YYYY-MM-DD`) is within
/// `from..=to`, as CSV with a header, from a log that verifies (under
/// `key` when given, as [`verify_chain`]). Only that trader's records are
/// ever included. Text cells that a spreadsheet would take for a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) are
/// written with a `'` before them; numeric cells (`seq`, `qty`, `price`)
/// are numbers parsed from the record, never formulas, and are written as
/// they are, a negative number with its `-`.
///
/// # Errors
/// A date not written `YYYY-MM-DD`, or a log that does not verify.
pub fn export_csv(
    text: &str,
    key: Option<&AuditKey>,
    trader: &str,
    from: &str,
    to: &str,
) -> Result<String, AuditError> {
    for date in [from, to] {
        let valid = date.len() == 10
            && date.char_indices().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !valid {
            return Err(AuditError::BadDate {
                date: date.to_owned(),
            });
        }
    }
    verify_chain(text, key)?;
    let mut csv = String::from(
        "seq,timestamp,trader_id,event,client_order_id,order_id,symbol,side,qty,price,status,reason\n",
    );
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_record(line, index + 1)?;
        let date = record.ts.get(..10).unwrap_or("");
        if record.trader_id != trader || date < from || date > to {
            continue;
        }
        let numbers = [
            record.seq.to_string(),
            record.qty.to_string(),
            record.price.map(|p| p.to_string()).unwrap_or_default(),
        ];
        let texts = [
            record.ts,
            record.trader_id,
            record.event.as_str().to_owned(),
            record.client_order_id,
            record.order_id.unwrap_or_default(),
            record.symbol,
            record.side.to_string(),
        ];
        let [seq, qty, price] = numbers.map(|n| csv_field(&n));
        let [ts, trader_id, event, client, order, symbol, side] =
            texts.map(|t| csv_field(&neutralised(t)));
        let status = csv_field(&neutralised(record.status));
        let reason = csv_field(&neutralised(record.reason));
        let row = [
            seq, ts, trader_id, event, client, order, symbol, side, qty, price, status, reason,
        ];
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    Ok(csv)
}

/// A text cell a spreadsheet would read as a formula (OWASP's list: a
/// leading `=`, `+`, `-`, `@`, tab or carriage return) with a `'` before
/// it, so it is shown as text; any other cell as it is.
pub(super) fn neutralised(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

pub(super) fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}
