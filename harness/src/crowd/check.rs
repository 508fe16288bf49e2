//! The broker's ledger against what the bots saw: every order a bot was
//! told it had is in its own account, nothing else is, and each ended as
//! the bot saw it end: the same status, the same quantity filled. An
//! order the bot never saw end is a mismatch: what it saw cannot be
//! checked.

use std::collections::BTreeMap;

use fillproof_serve::{OrderReport, Report};
use serde::Serialize;

use super::BotLog;

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedgerCheck {
    /// Orders compared.
    pub orders: u64,
    /// Each disagreement, in words: empty when the ledger is what the
    /// bots saw.
    pub mismatches: Vec<String>,
}

impl LedgerCheck {
    /// Whether the ledger is what the bots saw.
    #[must_use]
    pub fn holds(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Compares the session's `report` (every account's orders, each naming
/// its account) with the bots' `logs`.
#[must_use]
pub fn check_ledger(report: &Report, logs: &[BotLog]) -> LedgerCheck {
    let mut ledger: BTreeMap<(&str, &str), &OrderReport> = BTreeMap::new();
    for order in &report.orders {
        ledger.insert(
            (order.account.as_deref().unwrap_or(""), order.id.as_str()),
            order,
        );
    }
    let mut check = LedgerCheck::default();
    for log in logs {
        for (id, seen) in &log.orders {
            check.orders += 1;
            let Some(order) = ledger.remove(&(log.key.as_str(), id.as_str())) else {
                check.mismatches.push(format!(
                    "{}: order {id} ({}) was accepted, and the ledger has no such order in its account",
                    log.key, seen.client_order_id
                ));
                continue;
            };
            if order.client_order_id != seen.client_order_id {
                check.mismatches.push(format!(
                    "{}: order {id} is {} in the ledger, {} to the bot",
                    log.key, order.client_order_id, seen.client_order_id
                ));
            }
            if !super::is_terminal(&seen.status) {
                check.mismatches.push(format!(
                    "{}: order {id} was last seen {} with {} filled: the bot never saw it end, so what it saw cannot be checked",
                    log.key, seen.status, seen.filled_qty
                ));
            } else if order.status != seen.status || order.filled_qty.to_string() != seen.filled_qty
            {
                check.mismatches.push(format!(
                    "{}: order {id} ended {} with {} filled to the bot, {} with {} in the ledger",
                    log.key, seen.status, seen.filled_qty, order.status, order.filled_qty
                ));
            }
        }
    }
    for ((account, id), order) in ledger {
        check.mismatches.push(format!(
            "{account}: the ledger holds order {id} ({}) that no bot was told of",
            order.client_order_id
        ));
    }
    check
}
