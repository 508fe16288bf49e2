//! Building the scenario YAML of an incident: header, workload, engine and
//! limits, broker, the `timeline:` of every execution and end, and
//! `expect:`.

use std::fmt::Write as _;
use std::time::Duration;

use rust_decimal::Decimal;

use super::text::{shown, yaml_quote};
use super::{DEFAULT_TIMEOUT, End, Incident};

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
/// [`MAX_FILL_WAIT`](super::MAX_FILL_WAIT) gets at most that).
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
        "  # The export does not record the account's buying power: a desk's, so\n  # that the broker refuses nothing for funds that the incident's accepted.\n  account: {{buying_power: \"1000000000\"}}"
    );
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
/// [`MAX_FILL_WAIT`](super::MAX_FILL_WAIT)) and `limits.max_virtual_time` the whole run.
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
    use crate::import::MAX_FILL_WAIT;

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
