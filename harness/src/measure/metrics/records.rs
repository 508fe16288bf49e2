//! The engine's own records against the ledger at the end of a run: its
//! position book (positions, realized P&L) and its audit log. Each is
//! `None` for an engine that keeps no such record.

use std::time::Duration;

use fillproof_engine::Decimal;
use fillproof_simulator::LedgerOrder;

use super::OrderCheck;
use crate::run::SeedRun;

/// The decimal places realized P&L is compared at: far below a cent, far
/// above the residue of 28-digit division.
const PNL_PLACES: u32 = 10;

/// Replays every fill of the ledger through a fresh book, in the ledger's
/// order (by fill time, then acceptance order, then piece) on the trading
/// day of its own timestamp, charging the per-order commission once per
/// broker order, and counts the symbols whose realized P&L differs from
/// the engine's book, or that the book holds fills of unknown price in. `None` for an engine without a book.
pub(super) fn pnl_mismatch_count(run: &SeedRun) -> Option<u64> {
    let book = run.book.as_ref()?;
    let mut fills: Vec<(
        Duration,
        usize,
        usize,
        &LedgerOrder,
        &fillproof_simulator::Fill,
    )> = Vec::new();
    for (seq, order) in run.ledger.orders().iter().enumerate() {
        for (piece, fill) in order.fills_by(run.ended_at).enumerate() {
            fills.push((fill.at, seq, piece, order, fill));
        }
    }
    fills.sort_by_key(|(at, seq, piece, _, _)| (*at, *seq, *piece));
    let commission = run.commission;
    let mut truth = fillproof_engine::PositionBook::new(commission);
    for (at, _, piece, order, fill) in fills {
        let day = run.origin.at(at).trading_day();
        let charge = commission.on_piece(fill.qty, piece == 0);
        truth.apply_charged(&order.symbol, order.side, fill.qty, fill.price, day, charge);
    }
    Some(
        symbols_of(book, truth.positions().map(|(s, _)| s))
            .into_iter()
            .filter(|s| {
                let engine = book.position(s);
                // P&L over fills of unknown price cannot be said to match.
                // Compared to 10 decimal places: average-cost arithmetic
                // on 28 digits leaves residues of 1e-25 that depend only on
                // the order fills of one instant are applied in.
                !engine.priced()
                    || engine.realized_pnl.round_dp(PNL_PLACES)
                        != truth.position(s).realized_pnl.round_dp(PNL_PLACES)
            })
            .count() as u64,
    )
}

/// Orders the broker accepted without a `submit` record, or filled without
/// a `fill` record, in the engine's audit log; `None` for an engine that
/// keeps none.
pub(super) fn audit_missing_count(run: &SeedRun, checks: &[OrderCheck]) -> Option<u64> {
    let audit = run.audit.as_ref()?;
    Some(
        run.outcomes
            .iter()
            .zip(checks)
            .filter(|(outcome, check)| {
                let accepted = check.broker_orders > 0;
                (accepted && !audit.submitted.contains(&outcome.client_order_id))
                    || (check.ledger_qty > Decimal::ZERO
                        && !audit.filled.contains(&outcome.client_order_id))
            })
            .count() as u64,
    )
}

/// Every symbol in the engine's book or in `others`, once each, in name
/// order.
fn symbols_of<'a>(
    book: &'a fillproof_engine::PositionBook,
    others: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut symbols: Vec<&str> = book.positions().map(|(s, _)| s).chain(others).collect();
    symbols.sort_unstable();
    symbols.dedup();
    symbols
}

/// Symbols whose position in the engine's book differs from the ledger's
/// position at the end of the run; `None` for an engine without a book.
pub(super) fn consistency_violations(run: &SeedRun) -> Option<u64> {
    let book = run.book.as_ref()?;
    let truth = run.ledger.positions_at(run.ended_at);
    Some(
        symbols_of(book, truth.keys().map(String::as_str))
            .into_iter()
            .filter(|symbol| {
                book.position(symbol).qty != truth.get(*symbol).copied().unwrap_or(Decimal::ZERO)
            })
            .count() as u64,
    )
}
