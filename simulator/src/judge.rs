//! The claim-versus-ledger rules: how a claim about one order (a quantity
//! filled, maybe an average price, and the instant it was made) is judged
//! against the ledger, and how the broker's 429s are counted. `fillproof
//! run` (and `merge`, which adds up its counts) and `fillproof serve` both
//! judge with these functions, so a metric means the same in each.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::fault::{CallRefusal, FaultKind};
use crate::ledger::{Fill, LedgerOrder};

/// The decimal places an average fill price is compared at: those of the
/// broker's `filled_avg_price` (the ledger's snapshots round to them).
pub const PRICE_DP: u32 = 4;

/// A claim of `claimed` filled, made when the broker had filled
/// `filled_when_claimed`, is a false positive: it claims more than the
/// broker had filled at that instant (a phantom or premature fill), whatever
/// the broker fills later.
#[must_use]
pub fn false_positive(claimed: Decimal, filled_when_claimed: Decimal) -> bool {
    claimed > filled_when_claimed
}

/// Whether an order counts as detected: the broker filled some (`filled`
/// above zero), the final claim is exactly what it filled, and no claim
/// about the order, the final one or any before it, was a false positive
/// ([`false_positive`]): an order claimed before the broker filled it is
/// not detected, whatever is claimed later. `fillproof run` judges one
/// claim per order (the engine's verdict), `fillproof serve` every claim a
/// client posted; both count detections with this rule.
#[must_use]
pub fn detected(filled: Decimal, final_claim: Decimal, any_false_positive: bool) -> bool {
    filled > Decimal::ZERO && final_claim == filled && !any_false_positive
}

/// What the ledger says of one order (or of every broker order made for
/// one intent) against a final claim: the quantities the rules compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClaimCheck {
    /// What the broker had filled by the end (of the run, or at the
    /// report's time).
    pub filled: Decimal,
    /// What the broker had filled at the instant the claim was made.
    pub filled_when_claimed: Decimal,
    /// The quantity claimed filled (zero when nothing was claimed).
    pub claimed: Decimal,
    /// A broker order was still open at the instant of the claim.
    pub open_when_claimed: bool,
}

impl ClaimCheck {
    /// The check of a claim of `claimed` made at `claimed_at` against
    /// `orders` (every broker order of the claim's order), the ledger read
    /// at `end` for what was filled in the end.
    #[must_use]
    pub fn of<'a>(
        orders: impl IntoIterator<Item = &'a LedgerOrder>,
        claimed: Decimal,
        claimed_at: Duration,
        end: Duration,
    ) -> Self {
        let mut check = Self {
            claimed,
            ..Self::default()
        };
        for order in orders {
            check.add_order(order, claimed_at, end);
        }
        check
    }

    /// Adds one more broker order of the claim's order.
    pub fn add_order(&mut self, order: &LedgerOrder, claimed_at: Duration, end: Duration) {
        self.filled += order.filled_qty_at(end);
        self.filled_when_claimed += order.filled_qty_at(claimed_at);
        self.open_when_claimed |= !order.status_at(claimed_at).is_terminal();
    }

    /// The broker filled some quantity.
    #[must_use]
    pub fn filled(&self) -> bool {
        self.filled > Decimal::ZERO
    }

    /// The claim is above what the broker had filled when it was made
    /// ([`false_positive`]).
    #[must_use]
    pub fn false_positive(&self) -> bool {
        false_positive(self.claimed, self.filled_when_claimed)
    }

    /// The broker filled more than the final claim.
    #[must_use]
    pub fn missed(&self) -> bool {
        self.filled > self.claimed
    }

    /// The broker filled some, and the claim (the only one this check
    /// holds) is exactly what it filled and was not made before the broker
    /// filled it ([`detected`]).
    #[must_use]
    pub fn detected(&self) -> bool {
        detected(self.filled, self.claimed, self.false_positive())
    }

    /// The claim was made while the broker still had the order open, or
    /// the broker filled after the claim and the claim missed it.
    #[must_use]
    pub fn abandoned(&self) -> bool {
        self.open_when_claimed || (self.filled > self.filled_when_claimed && self.missed())
    }
}

/// Detection latency in milliseconds: from the last fill of a correctly
/// detected order to the claim; signed, never clamped.
#[must_use]
pub fn latency_ms(last_fill_at: Duration, claimed_at: Duration) -> f64 {
    (claimed_at.as_secs_f64() - last_fill_at.as_secs_f64()) * 1000.0
}

/// The ledger's average price for the first `qty` the broker filled: the
/// volume-weighted average of `fills`, taken in the order given (fill
/// order), up to `qty` (the last fill counted in part), to [`PRICE_DP`]
/// places. `None` when `qty` is not positive or `fills` hold nothing.
#[must_use]
pub fn ledger_avg_price<'a>(
    fills: impl IntoIterator<Item = &'a Fill>,
    qty: Decimal,
) -> Option<Decimal> {
    let (mut taken, mut notional) = (Decimal::ZERO, Decimal::ZERO);
    for fill in fills {
        if taken >= qty {
            break;
        }
        let part = fill.qty.min(qty - taken);
        taken += part;
        notional += part * fill.price;
    }
    (taken > Decimal::ZERO).then(|| (notional / taken).round_dp(PRICE_DP))
}

/// Whether a claimed average price differs from the ledger's average for
/// the quantity claimed ([`ledger_avg_price`] of `fills`), both compared
/// at [`PRICE_DP`] places. `None` when there is nothing to judge: no price
/// claimed, nothing claimed, or nothing filled (a price on a fill the
/// broker never made is already a false positive).
#[must_use]
pub fn price_mismatch<'a>(
    claimed_qty: Decimal,
    claimed_price: Option<Decimal>,
    fills: impl IntoIterator<Item = &'a Fill>,
) -> Option<bool> {
    let claimed_price = claimed_price?;
    if claimed_qty <= Decimal::ZERO {
        return None;
    }
    let truth = ledger_avg_price(fills, claimed_qty)?;
    Some(claimed_price.round_dp(PRICE_DP) != truth)
}

/// Calls the broker answered 429, from its count of faults injected by
/// kind: its rate limit's (`rate_limit`) and injected `http_429` faults
/// alike. A client sees the same answer either way, and either way it is
/// a call the client must make again.
#[must_use]
pub fn rate_limited_calls(faults_injected: &BTreeMap<&'static str, u64>) -> u64 {
    [CallRefusal::RateLimit.as_str(), FaultKind::Http429.as_str()]
        .iter()
        .filter_map(|kind| faults_injected.get(kind))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(ms: u64, qty: i64, price: &str) -> Fill {
        Fill {
            at: Duration::from_millis(ms),
            qty: Decimal::from(qty),
            price: price.parse().expect("price"),
        }
    }

    fn price(text: &str) -> Decimal {
        text.parse().expect("price")
    }

    /// An order counts as filled when the broker filled any quantity of
    /// it, and only then.
    #[test]
    fn filled_means_any_quantity() {
        let of = |filled: i64| ClaimCheck {
            filled: Decimal::from(filled),
            ..ClaimCheck::default()
        };
        assert!(of(1).filled());
        assert!(of(100).filled());
        assert!(!of(0).filled());
    }

    /// Latency runs from the last fill to the claim, in milliseconds,
    /// signed: a claim before the fill is negative, never clamped.
    #[test]
    fn latency_is_signed_milliseconds_from_fill_to_claim() {
        let at = Duration::from_millis;
        assert!((latency_ms(at(1_000), at(3_500)) - 2_500.0).abs() < 1e-9);
        assert!((latency_ms(at(3_500), at(1_000)) + 2_500.0).abs() < 1e-9);
        assert!(latency_ms(at(7), at(7)).abs() < 1e-12);
    }

    /// Each verdict of a claim against the ledger, case by case:
    /// (filled in the end, filled when claimed, claimed, open when
    /// claimed) → (detected, missed, false positive, abandoned).
    #[test]
    fn claim_verdicts_against_the_ledger() {
        let cases = [
            ((100, 100, 100, false), (true, false, false, false), "exact"),
            ((100, 40, 100, false), (false, false, true, false), "early"),
            ((100, 100, 40, false), (false, true, false, false), "less"),
            (
                (100, 40, 40, false),
                (false, true, false, true),
                "late fill",
            ),
            ((40, 40, 40, true), (true, false, false, true), "open"),
            ((0, 0, 0, false), (false, false, false, false), "nothing"),
            ((0, 0, 10, false), (false, false, true, false), "phantom"),
        ];
        for ((filled, when, claimed, open), (detected, missed, invented, abandoned), why) in cases {
            let c = ClaimCheck {
                filled: filled.into(),
                filled_when_claimed: when.into(),
                claimed: claimed.into(),
                open_when_claimed: open,
            };
            assert_eq!(c.detected(), detected, "detected: {why}");
            assert_eq!(c.missed(), missed, "missed: {why}");
            assert_eq!(c.false_positive(), invented, "false positive: {why}");
            assert_eq!(c.abandoned(), abandoned, "abandoned: {why}");
        }
    }

    /// One early claim among several keeps an order from being detected,
    /// however exact the final claim.
    #[test]
    fn an_early_claim_is_never_a_detection() {
        assert!(detected(5.into(), 5.into(), false));
        assert!(!detected(5.into(), 5.into(), true), "claimed early once");
        assert!(!detected(5.into(), 4.into(), false));
        assert!(!detected(Decimal::ZERO, Decimal::ZERO, false));
    }

    /// The ledger's average for the quantity claimed takes fills in order,
    /// the last in part.
    #[test]
    fn ledger_average_covers_the_quantity_claimed() {
        let fills = [fill(1, 10, "100"), fill(2, 10, "102"), fill(3, 20, "110")];
        assert_eq!(ledger_avg_price(&fills, 10.into()), Some(price("100")));
        assert_eq!(ledger_avg_price(&fills, 15.into()), Some(price("100.6667")));
        assert_eq!(ledger_avg_price(&fills, 20.into()), Some(price("101")));
        assert_eq!(ledger_avg_price(&fills, 40.into()), Some(price("105.5")));
        // Beyond what filled: the average of all of it.
        assert_eq!(ledger_avg_price(&fills, 50.into()), Some(price("105.5")));
        assert_eq!(ledger_avg_price(&fills, Decimal::ZERO), None);
        assert_eq!(ledger_avg_price(&[], 5.into()), None);
    }

    /// The ledger's average for everything filled is the `filled_avg_price`
    /// its snapshots show, so an engine that reads it matches exactly.
    #[test]
    fn whole_fill_average_is_the_snapshots() {
        let order = LedgerOrder {
            index: None,
            id: "o".into(),
            client_order_id: "c".into(),
            symbol: "SPY".into(),
            side: fillproof_engine::Side::Buy,
            qty: 30.into(),
            order_type: fillproof_engine::OrderType::Market,
            time_in_force: fillproof_engine::TimeInForce::Day,
            limit_price: None,
            accepted_at: Duration::ZERO,
            fills: vec![
                fill(1, 7, "100.01"),
                fill(2, 11, "100.03"),
                fill(3, 12, "99.99"),
            ],
            broker_end: None,
            cancel_requested_at: None,
            cancel_effective_at: None,
            status_lag: Duration::ZERO,
            filled_spelling: "filled".into(),
        };
        let end = Duration::from_millis(3);
        assert_eq!(
            ledger_avg_price(&order.fills, order.filled_qty_at(end)),
            order.avg_price_at(end)
        );
        let check = ClaimCheck::of([&order], 30.into(), end, end);
        assert!(check.detected() && !check.open_when_claimed);
        let early = ClaimCheck::of([&order], 30.into(), Duration::from_millis(2), end);
        assert!(early.false_positive() && early.open_when_claimed);
    }

    /// A claimed price is judged at the snapshot's precision: equal after
    /// rounding holds, a cent off is a mismatch, and a claim without a
    /// price, of nothing, or on nothing filled is not judged.
    #[test]
    fn price_mismatch_at_the_snapshots_precision() {
        let fills = [fill(1, 10, "100"), fill(2, 20, "100.01")];
        let exact = Some(price("100.0067"));
        assert_eq!(price_mismatch(30.into(), exact, &fills), Some(false));
        let unrounded = Some(price("100.006666666"));
        assert_eq!(price_mismatch(30.into(), unrounded, &fills), Some(false));
        assert_eq!(
            price_mismatch(30.into(), Some(price("100.0167")), &fills),
            Some(true)
        );
        // Claiming 10 at the whole order's average is wrong for those 10.
        assert_eq!(price_mismatch(10.into(), exact, &fills), Some(true));
        assert_eq!(price_mismatch(30.into(), None, &fills), None);
        assert_eq!(price_mismatch(Decimal::ZERO, exact, &fills), None);
        assert_eq!(price_mismatch(30.into(), exact, &[]), None);
    }

    /// Every 429 counts, the rate limit's and injected ones alike; other
    /// faults do not.
    #[test]
    fn rate_limited_calls_are_every_429() {
        let faults = BTreeMap::from([("rate_limit", 3), ("http_429", 4), ("http_503", 5)]);
        assert_eq!(rate_limited_calls(&faults), 7);
        assert_eq!(rate_limited_calls(&BTreeMap::new()), 0);
    }
}
