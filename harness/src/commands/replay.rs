//! `fillproof replay`: one seed's orders side by side, at virtual-time
//! resolution: what the broker really did, and what the engine saw and
//! decided. For a scenario with a `market:` section, the market beside
//! them: the symbol's quote (`bid×ask`) and price at each broker line of an
//! order, and at the instant the engine sent each submit.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, anyhow};
use fillproof_engine::Decimal;
use fillproof_simulator::{LedgerOrder, Market, TraceKind};

use super::{Exit, load, spec};
use crate::cli::ReplayArgs;
use crate::measure::metrics::{IntentIds, OrderCheck, check_orders};
use crate::run::{OrderOutcome, SeedRun, run_seed};

/// Width of the broker column.
const BROKER_WIDTH: usize = 42;

/// Runs `replay`.
///
/// # Errors
/// A scenario that does not load, a bad flag, or an order that does not
/// exist.
pub fn run(args: &ReplayArgs) -> Result<Exit> {
    let scenario = load(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let (mut spec, _, _) = spec(scenario.clone(), seed, &args.setup)?;
    spec.record_trace = true;
    let no_such_order = |order: u32, count: usize| {
        anyhow!(
            "order {order} does not exist; this run has orders 0 to {}",
            count.saturating_sub(1)
        )
    };
    // Checked against the workload before any work, and against what the
    // run reached (its time bound can stop the workload early) after.
    let workload = spec.orders.unwrap_or(scenario.workload.orders.value) as usize;
    if let Some(order) = args.order.filter(|o| *o as usize >= workload) {
        return Err(no_such_order(order, workload));
    }
    crate::run::cost::admit(&spec, 1, 1)?;
    let run = run_seed(&spec, &|| {})?;
    if let Some(order) = args.order.filter(|o| *o as usize >= run.outcomes.len()) {
        return Err(no_such_order(order, run.outcomes.len()));
    }
    let market = scenario.market.is_some();
    out!("{}", render(&run, args.order, spec.engine.as_str(), market));
    Ok(Exit::Success)
}

fn secs(t: Duration) -> String {
    format!("{:.3}s", t.as_secs_f64())
}

/// One line of an order's timeline: when, a rank that orders lines of the
/// same instant (broker before engine), the broker column and the engine
/// column.
type Row = (Duration, u8, String, String);

/// The side-by-side timeline of `only` (or every order) of `run`: for each
/// order a heading, then the broker's rows, the engine's calls, the stream
/// and the verdict merged by time, then the truth against the verdict.
/// With `market` (a scenario with a `market:` section), each acceptance
/// and fill also shows the symbol's quote and price at its instant, and
/// each submit the engine sent those at the instant it was sent; the
/// broker column then widens to the longest line shown.
#[must_use]
pub fn render(run: &SeedRun, only: Option<u32>, engine: &str, market: bool) -> String {
    let checks = check_orders(run);
    let ids = IntentIds::new(run);
    let market = market.then_some(&*run.market);
    let timelines: Vec<(&OrderOutcome, &OrderCheck, Vec<Row>)> = run
        .outcomes
        .iter()
        .zip(&checks)
        .filter(|(outcome, _)| only.is_none_or(|i| i == outcome.index))
        .map(|(outcome, check)| (outcome, check, timeline(run, &ids, outcome, market)))
        .collect();
    let width = match market {
        Some(_) => timelines
            .iter()
            .flat_map(|(_, _, rows)| rows.iter().map(|row| row.2.chars().count()))
            .fold(BROKER_WIDTH, usize::max),
        None => BROKER_WIDTH,
    };
    let mut out = String::new();
    for (outcome, check, rows) in timelines {
        write_heading(&mut out, run, outcome, engine, width);
        for (at, _, broker, engine_text) in rows {
            let line = format!("  {:<10} {:<width$} {}", secs(at), broker, engine_text);
            let _ = writeln!(out, "{}", line.trim_end());
        }
        write_truth(&mut out, outcome, check);
    }
    out
}

/// One order's rows (the broker's, the engine's calls, the stream, the
/// verdict), merged by time.
fn timeline(
    run: &SeedRun,
    ids: &IntentIds,
    outcome: &OrderOutcome,
    market: Option<&Market>,
) -> Vec<Row> {
    let mut rows = broker_rows(run, ids, outcome, market);
    rows.extend(call_rows(run, outcome, market));
    rows.extend(stream_rows(run, outcome));
    rows.extend(crash_rows(run, outcome));
    rows.extend(verdict_row(outcome));
    rows.sort_by_key(|row| (row.0, row.1));
    rows
}

/// `symbol`'s quote and price in `market` at `t`, as a replay line shows
/// them, each to its price grid's places: `589.99×590.01, price 590.00`;
/// `None` for a symbol not listed.
fn quote_words(market: &Market, symbol: &str, t: Duration) -> Option<String> {
    let quote = market.quote_at(symbol, t)?;
    let price = market.price_at(symbol, t)?;
    let grid = |p: Decimal| {
        let places = if p >= Decimal::ONE { 2 } else { 4 };
        format!("{p:.places$}")
    };
    Some(format!(
        "{}×{}, price {}",
        grid(quote.bid),
        grid(quote.ask),
        grid(price)
    ))
}

/// `text`, followed by `symbol`'s quote at `t` when `market` is shown.
fn with_quote(text: String, market: Option<&Market>, symbol: &str, t: Duration) -> String {
    match market.and_then(|m| quote_words(m, symbol, t)) {
        Some(words) => format!("{text} · quote {words}"),
        None => text,
    }
}

/// The order's heading and the column titles, the broker column `width`
/// wide.
fn write_heading(
    out: &mut String,
    run: &SeedRun,
    outcome: &OrderOutcome,
    engine: &str,
    width: usize,
) {
    let _ = writeln!(
        out,
        "order {} · {} · {} {} {} · engine {} · seed {}",
        outcome.index,
        outcome.client_order_id,
        outcome.side,
        outcome.qty,
        outcome.symbol,
        engine,
        run.seed
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<width$} engine (what it saw and decided)",
        "time", "broker (ground truth)"
    );
}

/// What the broker did with the order's broker orders: acceptance, fills
/// (each with the quote then, when `market` is shown), the status field
/// catching up, cancels, the broker's own ends.
fn broker_rows(
    run: &SeedRun,
    ids: &IntentIds,
    outcome: &OrderOutcome,
    market: Option<&Market>,
) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mine = |o: &&LedgerOrder| ids.of_order(o) == Some(outcome.index as usize);
    for order in run.ledger.orders().iter().filter(mine) {
        let quoted = |text: String, t: Duration| with_quote(text, market, &order.symbol, t);
        rows.push((
            order.accepted_at,
            0,
            quoted(format!("accepted as {}", order.id), order.accepted_at),
            String::new(),
        ));
        let mut total = rust_decimal::Decimal::ZERO;
        for fill in order.fills_by(run.ended_at) {
            total += fill.qty;
            let text = format!("fill {} @ {} (total {})", fill.qty, fill.price, total);
            rows.push((fill.at, 1, quoted(text, fill.at), String::new()));
        }
        if let Some(done) = order.terminal_at(run.ended_at) {
            let shown = done + order.status_lag;
            if !order.status_lag.is_zero() && shown <= run.ended_at {
                rows.push((
                    shown,
                    1,
                    "status field catches up".to_owned(),
                    String::new(),
                ));
            }
        }
        if let (Some(requested), Some(effective)) =
            (order.cancel_requested_at, order.cancel_effective_at)
        {
            rows.push((
                requested,
                0,
                format!("cancel requested (effective {})", secs(effective)),
                String::new(),
            ));
            if order.filled_qty_at(run.ended_at) < order.qty && effective <= run.ended_at {
                rows.push((effective, 1, "canceled".to_owned(), String::new()));
            }
        }
        if let Some((at, end)) = order.broker_end {
            rows.push((
                at,
                1,
                format!("{end:?} by the broker").to_lowercase(),
                String::new(),
            ));
        }
    }
    rows
}

/// The engine's calls about the order, with what each one met; a submit,
/// when `market` is shown, with the quote at the instant it was sent.
fn call_rows(run: &SeedRun, outcome: &OrderOutcome, market: Option<&Market>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for event in run.trace.events().unwrap_or_default() {
        if let TraceKind::Call {
            endpoint,
            order: Some(i),
            target,
            call,
            outcome: answer,
            seen,
            applied,
            fault,
            abandoned,
        } = &event.kind
        {
            if *i != outcome.index {
                continue;
            }
            let mut text = format!("{endpoint} → {answer}");
            if let Some(seen) = seen {
                let _ = write!(text, " ({seen})");
            }
            if let Some(fault) = fault {
                let effect = if *applied {
                    "applied at broker"
                } else {
                    "not applied"
                };
                let _ = write!(text, " [{fault}, {effect}]");
            }
            if *abandoned {
                text.push_str(" [arrived after the caller stopped waiting; answer went nowhere]");
            }
            if let Some(sent) = market.filter(|_| *endpoint == "submit").and_then(|_| {
                let record = run.submits.get(target.as_str())?;
                record.sent_at.iter().find(|(n, _)| n == call).map(|s| s.1)
            }) {
                let at = format!("sent {}", secs(sent));
                text = format!("{text} · {}", with_quote(at, market, &outcome.symbol, sent));
            }
            rows.push((Duration::from_micros(event.t_us), 2, String::new(), text));
        }
    }
    rows
}

/// The trade updates about the order, and the stream's reconnects while
/// it was working.
fn stream_rows(run: &SeedRun, outcome: &OrderOutcome) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for event in run.trace.events().unwrap_or_default() {
        let text = match &event.kind {
            TraceKind::Stream {
                order: Some(i),
                update,
                filled_qty,
                delivered,
            } if *i == outcome.index => {
                let lost = if *delivered {
                    ""
                } else {
                    " [lost: connection down]"
                };
                format!("stream → {update} ({filled_qty} filled){lost}")
            }
            // A reconnect concerns the orders working at the time.
            TraceKind::StreamReconnected
                if outcome.concluded_at.is_none_or(|end| {
                    let at = Duration::from_micros(event.t_us);
                    outcome.submitted_at <= at && at <= end
                }) =>
            {
                "stream reconnected".to_owned()
            }
            _ => continue,
        };
        rows.push((Duration::from_micros(event.t_us), 2, String::new(), text));
    }
    rows
}

/// The engine's crashes that caught the order in flight, on both sides:
/// the broker goes on (calls in flight still land); the engine's task is
/// dropped, and after the downtime a fresh engine recovers it as its kind
/// does (found by `client_order_id` from the journal, delivered again, or
/// forgotten).
fn crash_rows(run: &SeedRun, outcome: &OrderOutcome) -> Vec<Row> {
    let Some(records) = &run.crashes else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for (number, record) in records.iter().enumerate() {
        if !record.in_flight.contains(&outcome.index) {
            continue;
        }
        let n = number + 1;
        rows.push((
            record.at,
            2,
            format!("engine crash {n}: the broker goes on"),
            format!(
                "CRASH {n}: task dropped, down until {}",
                secs(record.restarted_at)
            ),
        ));
        let found = run
            .ledger
            .orders()
            .iter()
            .find(|o| {
                o.client_order_id == outcome.client_order_id && record.located.contains(&o.id)
            })
            .map(|o| o.id.clone());
        let concluded = record.concluded.contains(&outcome.index);
        let legs = legs_found(run, outcome, &record.located);
        let recovered = match (found, record.delivered_again.contains(&outcome.index)) {
            (_, _) if concluded && !legs.is_empty() => format!(
                "RESTART {n}: its verdict is in the journal; its exit legs {} read again and watched",
                legs.join(", ")
            ),
            (_, _) if concluded => {
                format!("RESTART {n}: its verdict is in the journal; nothing to recover")
            }
            (Some(id), _) => format!("RESTART {n}: in the journal; found {id} by client_order_id"),
            (None, true) => {
                format!("RESTART {n}: the journal shows it never sent; its signal is sent now")
            }
            (None, false) if record.reads_journal => {
                format!("RESTART {n}: in the journal; looking it up by client_order_id")
            }
            (None, false) => {
                format!("RESTART {n}: no journal; the fresh engine knows nothing of it")
            }
        };
        rows.push((record.restarted_at, 2, String::new(), recovered));
    }
    rows
}

/// The exit legs of `outcome`'s order that a recovery found (`located`).
fn legs_found(run: &SeedRun, outcome: &OrderOutcome, located: &[String]) -> Vec<String> {
    run.ledger
        .orders()
        .iter()
        .filter(|leg| located.contains(&leg.id))
        .filter(|leg| {
            leg.links
                .parent
                .as_ref()
                .and_then(|(head, _)| run.ledger.by_id(head))
                .is_some_and(|head| head.client_order_id == outcome.client_order_id)
        })
        .map(|leg| leg.id.clone())
        .collect()
}

/// The engine's verdict, when it concluded.
fn verdict_row(outcome: &OrderOutcome) -> Option<Row> {
    let at = outcome.concluded_at?;
    let v = &outcome.verdict;
    let price = v.avg_price.map_or_else(String::new, |p| format!(" @ {p}"));
    Some((
        at,
        3,
        String::new(),
        format!(
            "verdict {} {}{}: {}",
            v.verdict, v.filled_qty, price, v.reason
        ),
    ))
}

/// The truth against the engine's verdict: a match, a missed fill or an
/// invented one, and duplicates.
fn write_truth(out: &mut String, outcome: &OrderOutcome, check: &OrderCheck) {
    let verdict = if check.engine_qty == check.ledger_qty {
        "match"
    } else if check.engine_qty < check.ledger_qty {
        "MISSED FILL"
    } else {
        "INVENTED FILL"
    };
    let _ = writeln!(
        out,
        "  truth: filled {} · engine: {} {} · {}{}\n",
        check.ledger_qty,
        outcome.verdict.verdict,
        check.engine_qty,
        verdict,
        if check.broker_orders > 1 {
            format!(" · {} broker orders (duplicates)", check.broker_orders)
        } else {
            String::new()
        }
    );
}
