//! One order's engine verdict against the ledger: the broker orders of an
//! intent gathered by client order id ([`IntentIds`]), judged as one claim
//! by the simulator's judge ([`check_orders`]).

use std::time::Duration;

use fillproof_engine::Decimal;
use fillproof_simulator::LedgerOrder;
use fillproof_simulator::judge::{self, Claim, ClaimCheck};
use serde::Serialize;

use crate::run::SeedRun;

/// One order compared with the truth. The rules that judge it are
/// [`fillproof_simulator::judge`]'s, the ones `fillproof serve` judges a
/// bot's claims by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderCheck {
    /// Workload index.
    pub index: u32,
    /// What the broker filled for the intent by the end of the run.
    pub ledger_qty: Decimal,
    /// What the broker had filled for the intent when the engine concluded
    /// (the end of the run, for an engine that never concluded).
    pub ledger_qty_at_conclusion: Decimal,
    /// What the engine reported.
    pub engine_qty: Decimal,
    /// Broker orders placed for the intent.
    pub broker_orders: u32,
    /// Virtual time of the fill that completed the ledger quantity.
    pub filled_at: Option<Duration>,
    /// Engine detection latency in milliseconds (conclusion − the last fill
    /// it reports), for correctly detected fills; signed, never clamped.
    pub latency_ms: Option<f64>,
    /// True when a broker order of the intent was still open when the
    /// engine concluded.
    pub open_at_conclusion: bool,
    /// Whether the average price the engine reported differs from the
    /// ledger's for the quantity it reported
    /// ([`judge::price_mismatch`]); `None` when it reported no price, or
    /// nothing filled.
    pub price_mismatch: Option<bool>,
}

impl OrderCheck {
    /// The engine's verdict as the judge sees it: a claim of `engine_qty`
    /// made at the conclusion.
    fn claim(&self) -> ClaimCheck {
        ClaimCheck {
            filled: self.ledger_qty,
            filled_when_claimed: self.ledger_qty_at_conclusion,
            claimed: self.engine_qty,
            open_when_claimed: self.open_at_conclusion,
            earlier_false_positive: false,
        }
    }

    /// The broker filled some quantity.
    #[must_use]
    pub fn filled(&self) -> bool {
        self.claim().filled()
    }

    /// The engine claimed more than the broker had filled when it
    /// concluded: a phantom or premature fill.
    #[must_use]
    pub fn false_positive(&self) -> bool {
        self.claim().false_positive()
    }

    /// The broker filled more than the engine reported.
    #[must_use]
    pub fn missed(&self) -> bool {
        self.claim().missed()
    }

    /// A fill reported with the ledger's exact quantity, and not before
    /// the broker had made it.
    #[must_use]
    pub fn detected(&self) -> bool {
        self.claim().detected()
    }

    /// The engine concluded while the broker still had the order open, or
    /// the broker filled after the conclusion and the engine never
    /// reported it.
    #[must_use]
    pub fn abandoned(&self) -> bool {
        self.claim().abandoned()
    }
}

/// The intent index a client order id belongs to: the workload's id,
/// possibly with a `-rN` retry suffix.
fn intent_of(client_order_id: &str, prefix: &str) -> Option<u32> {
    let rest = client_order_id.strip_prefix(prefix)?;
    let digits = rest.split('-').next()?;
    digits.parse().ok()
}

/// Maps broker orders and client order ids of one seed run back to the
/// workload intent they belong to.
pub struct IntentIds {
    prefix: String,
    count: usize,
    /// Replacement orders (by broker id) and the intent of the order they
    /// replace, whatever client order id they carry.
    replacements: indexmap::IndexMap<String, usize, fillproof_engine::StableBuildHasher>,
}

impl IntentIds {
    /// The mapping for `run`.
    #[must_use]
    pub fn new(run: &SeedRun) -> Self {
        let mut ids = Self {
            prefix: format!("fp-{:x}-", run.seed),
            count: run.outcomes.len(),
            replacements: indexmap::IndexMap::default(),
        };
        // A replacement is filed after the order it replaces: one pass
        // follows every chain.
        for order in run.ledger.orders() {
            let Some(old) = &order.links.replaces else {
                continue;
            };
            let slot = run.ledger.by_id(old).and_then(|old| ids.of_order(old));
            if let Some(slot) = slot {
                ids.replacements.insert(order.id.clone(), slot);
            }
        }
        ids
    }

    /// The intent of a client order id, when it is one of this run's.
    #[must_use]
    pub fn of_client_id(&self, client_order_id: &str) -> Option<usize> {
        intent_of(client_order_id, &self.prefix)
            .map(|i| i as usize)
            .filter(|i| *i < self.count)
    }

    /// The intent of a broker order: the one of the order it replaced, its
    /// registered index, or its client order id. A bracket's exit leg
    /// belongs to none ([`Self::of_leg`]).
    #[must_use]
    pub fn of_order(&self, order: &fillproof_simulator::LedgerOrder) -> Option<usize> {
        if order.links.parent.is_some() {
            return None;
        }
        if let Some(slot) = self.replacements.get(&order.id) {
            return Some(*slot);
        }
        order
            .index
            .map(|i| i as usize)
            .filter(|i| *i < self.count)
            .or_else(|| self.of_client_id(&order.client_order_id))
    }

    /// The intent whose bracket an exit leg belongs to.
    #[must_use]
    pub fn of_leg(
        &self,
        ledger: &fillproof_simulator::Ledger,
        leg: &fillproof_simulator::LedgerOrder,
    ) -> Option<usize> {
        let (head, _) = leg.links.parent.as_ref()?;
        self.of_order(ledger.by_id(head)?)
    }
}

/// How many orders `orders` (one intent's) placed: the orders not
/// replacing another, and a replace's orders beyond the first (a
/// replace placed twice). A replacement in a chain is not a duplicate.
fn placements(orders: &[&LedgerOrder]) -> u32 {
    let mut replaced: Vec<&str> = Vec::new();
    let mut count = 0u32;
    for order in orders {
        match &order.links.replaces {
            None => count += 1,
            Some(old) if replaced.contains(&old.as_str()) => count += 1,
            Some(old) => replaced.push(old),
        }
    }
    count
}

/// Compares every order of a seed run with its ledger: the engine's
/// verdict is one claim, made when it concluded (the end of the run, for an
/// engine that never concluded), about every broker order of its intent,
/// judged by [`judge::judge_order`].
#[must_use]
pub fn check_orders(run: &SeedRun) -> Vec<OrderCheck> {
    let ids = IntentIds::new(run);
    let mut broker_orders: Vec<Vec<&LedgerOrder>> = vec![Vec::new(); run.outcomes.len()];
    for order in run.ledger.orders() {
        if let Some(slot) = ids.of_order(order) {
            broker_orders[slot].push(order);
        }
    }
    run.outcomes
        .iter()
        .zip(&broker_orders)
        .enumerate()
        .map(|(slot, (outcome, orders))| {
            let claim = Claim {
                qty: outcome.verdict.filled_qty,
                avg_price: outcome.verdict.avg_price,
                at: outcome.concluded_at.unwrap_or(run.ended_at),
            };
            // The order the engine watched names the fills its price is
            // judged against, when it is one of the intent's; a
            // replacement's claim covers its replace chain (the engine
            // reports the chain's fills together), judged against every
            // fill of the intent.
            let watched = outcome
                .verdict
                .order_id
                .as_deref()
                .and_then(|id| run.ledger.by_id(id))
                .filter(|o| ids.of_order(o) == Some(slot) && o.links.replaces.is_none());
            let judged = judge::judge_order(orders, watched, &[], Some(&claim), run.ended_at);
            let check = judged.check;
            OrderCheck {
                index: outcome.index,
                ledger_qty: check.filled,
                ledger_qty_at_conclusion: check.filled_when_claimed,
                engine_qty: check.claimed,
                broker_orders: placements(orders),
                filled_at: judged.last_fill_at,
                latency_ms: judged.latency_ms(outcome.concluded_at),
                open_at_conclusion: check.open_when_claimed,
                price_mismatch: judged.price_mismatch,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ledger: i64, at_conclusion: i64, engine: i64, open: bool) -> OrderCheck {
        OrderCheck {
            index: 0,
            ledger_qty: Decimal::from(ledger),
            ledger_qty_at_conclusion: Decimal::from(at_conclusion),
            engine_qty: Decimal::from(engine),
            broker_orders: 1,
            filled_at: None,
            latency_ms: None,
            open_at_conclusion: open,
            price_mismatch: None,
        }
    }

    /// Each verdict of an order against the ledger, case by case:
    /// (ledger at the end, ledger when the engine concluded, engine's
    /// claim, open at conclusion) → (detected, missed, false positive,
    /// abandoned), with the reason.
    #[test]
    fn order_verdicts_against_the_ledger() {
        let cases = [
            (
                (100, 100, 100, false),
                (true, false, false, false),
                "exact, in time",
            ),
            (
                (100, 40, 100, false),
                (false, false, true, false),
                "claimed before the broker filled",
            ),
            (
                (100, 100, 40, false),
                (false, true, false, false),
                "reported less",
            ),
            (
                (100, 40, 40, false),
                (false, true, false, true),
                "filled after the conclusion, unreported",
            ),
            (
                (40, 40, 40, true),
                (true, false, false, true),
                "concluded while the order was open",
            ),
            (
                (0, 0, 0, false),
                (false, false, false, false),
                "nothing filled, nothing claimed",
            ),
            (
                (0, 0, 10, false),
                (false, false, true, false),
                "phantom fill",
            ),
            (
                (100, 40, 100, true),
                (false, false, true, true),
                "premature and open",
            ),
        ];
        for ((ledger, at, engine, open), (detected, missed, invented, abandoned), why) in cases {
            let c = check(ledger, at, engine, open);
            assert_eq!(c.detected(), detected, "detected: {why}");
            assert_eq!(c.missed(), missed, "missed: {why}");
            assert_eq!(c.false_positive(), invented, "false positive: {why}");
            assert_eq!(c.abandoned(), abandoned, "abandoned: {why}");
            assert_eq!(c.filled(), ledger > 0, "filled: {why}");
        }
    }

    /// Only this run's intents map: an index at or past the workload's end,
    /// or another run's prefix, maps to nothing; a registered index past
    /// the end falls back to the client order id.
    #[test]
    fn intent_ids_stay_inside_the_workload() {
        let ids = IntentIds {
            prefix: "fp-7-".into(),
            count: 3,
            replacements: indexmap::IndexMap::default(),
        };
        assert_eq!(ids.of_client_id("fp-7-2"), Some(2));
        assert_eq!(ids.of_client_id("fp-7-3"), None);
        assert_eq!(ids.of_client_id("fp-8-1"), None);
        let order = |index: Option<u32>, client: &str| fillproof_simulator::LedgerOrder {
            index,
            id: "ord".into(),
            client_order_id: client.into(),
            symbol: "SPY".into(),
            side: fillproof_engine::Side::Buy,
            qty: Decimal::ONE,
            order_type: fillproof_engine::OrderType::Market,
            time_in_force: fillproof_engine::TimeInForce::Day,
            limit_price: None,
            accepted_at: Duration::ZERO,
            fills: Vec::new(),
            broker_end: None,
            cancel_requested_at: None,
            cancel_effective_at: None,
            status_lag: Duration::ZERO,
            filled_spelling: "filled".into(),
            extended_hours: false,
            stop_price: None,
            trail: None,
            triggered_at: None,
            notional: None,
            links: Default::default(),
        };
        assert_eq!(ids.of_order(&order(Some(1), "x")), Some(1));
        assert_eq!(ids.of_order(&order(Some(0), "x")), Some(0));
        assert_eq!(ids.of_order(&order(Some(3), "fp-7-2")), Some(2));
        assert_eq!(ids.of_order(&order(Some(3), "x")), None);
        assert_eq!(ids.of_order(&order(None, "fp-7-1-r1")), Some(1));
    }

    /// Retry suffixes map back to their intent.
    #[test]
    fn intent_of_strips_retry_suffix() {
        assert_eq!(intent_of("fp-7-12", "fp-7-"), Some(12));
        assert_eq!(intent_of("fp-7-12-r2", "fp-7-"), Some(12));
        assert_eq!(intent_of("other", "fp-7-"), None);
    }
}
