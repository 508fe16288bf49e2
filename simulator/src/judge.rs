//! The claim-versus-ledger rules: how a claim about one order (a quantity
//! filled, maybe an average price, and the instant it was made) is judged
//! against the ledger, how the verdicts add up to a figure, and how the
//! broker's 429s are counted. `fillproof run` (and `merge`, which adds up
//! its counts) and `fillproof serve` both judge with these functions, so a
//! metric means the same in each.
//!
//! Entry point: [`judge_order`], one order's claims (the engine's one
//! verdict, or every claim a client posted) against every broker order
//! made for it; [`detection_rate`] and [`price_mismatches`] aggregate the
//! verdicts. Imports the ledger and the fault vocabulary only.
//!
//! The two callers differ in what an "order" is, not in how it is judged:
//! `run` judges a workload intent (every broker order carrying its
//! `client_order_id`, retries included, summed), `serve` judges one
//! client's `client_order_id` against the one ledger order the broker
//! holds for it.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::fault::{CallRefusal, FaultKind};
use crate::ledger::{Fill, LedgerOrder};

/// The decimal places an average fill price is compared at: those of the
/// broker's `filled_avg_price` (the ledger's snapshots round to them).
pub const PRICE_DP: u32 = 4;

/// One claim about an order: the quantity claimed filled, maybe the
/// average price claimed, and the instant it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The quantity claimed filled.
    pub qty: Decimal,
    /// The average fill price claimed, when the claim gave one.
    pub avg_price: Option<Decimal>,
    /// When the claim was made, virtual time since the run (or session)
    /// began.
    pub at: Duration,
}

/// Whether the broker filled an order at all: any quantity above zero.
#[must_use]
pub fn filled(filled: Decimal) -> bool {
    filled > Decimal::ZERO
}

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
pub fn detected(filled_qty: Decimal, final_claim: Decimal, any_false_positive: bool) -> bool {
    filled(filled_qty) && final_claim == filled_qty && !any_false_positive
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
    /// A claim made before the final one was a false positive (`fillproof
    /// serve` keeps every claim a client posted; `fillproof run` judges
    /// the engine's one verdict, so never).
    pub earlier_false_positive: bool,
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

    /// The check of the claims about one order against `orders` (every
    /// broker order made for it, none when the broker never had it), the
    /// ledger read at `end`: `last` is the final claim (none when nothing
    /// was claimed: a claim of zero at `end`), `earlier` the claims before
    /// it that may have claimed more than had filled then (the final claim
    /// among them changes nothing).
    #[must_use]
    pub fn of_claims(
        orders: &[&LedgerOrder],
        earlier: &[Claim],
        last: Option<&Claim>,
        end: Duration,
    ) -> Self {
        let (claimed, claimed_at) = last.map_or((Decimal::ZERO, end), |c| (c.qty, c.at));
        let mut check = Self {
            claimed,
            earlier_false_positive: earlier
                .iter()
                .any(|c| false_positive(c.qty, filled_by(orders, c.at))),
            ..Self::default()
        };
        for order in orders {
            check.add_order(order, claimed_at, end);
        }
        check
    }

    /// Adds one more broker order of the claim's order.
    pub fn add_order(&mut self, order: &LedgerOrder, claimed_at: Duration, end: Duration) {
        self.filled += filled_by(&[order], end);
        self.filled_when_claimed += filled_by(&[order], claimed_at);
        // A replacement not yet in effect is no working order: if its
        // replace wins, the order it replaces is still open then.
        self.open_when_claimed |=
            order.accepted_at <= claimed_at && !order.status_at(claimed_at).is_terminal();
    }

    /// The broker filled some quantity ([`filled`]).
    #[must_use]
    pub fn filled(&self) -> bool {
        filled(self.filled)
    }

    /// The final claim, or a claim before it, was above what the broker
    /// had filled when it was made ([`false_positive`]).
    #[must_use]
    pub fn false_positive(&self) -> bool {
        self.earlier_false_positive || false_positive(self.claimed, self.filled_when_claimed)
    }

    /// The broker filled more than the final claim.
    #[must_use]
    pub fn missed(&self) -> bool {
        self.filled > self.claimed
    }

    /// The broker filled some, and the final claim is exactly what it
    /// filled and neither it nor any claim before it was made before the
    /// broker filled it ([`detected`]).
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

/// What the broker had filled of `orders` by `t`: nothing of an order
/// before it had the order.
fn filled_by(orders: &[&LedgerOrder], t: Duration) -> Decimal {
    orders
        .iter()
        .filter(|o| o.accepted_at <= t)
        .map(|o| o.filled_qty_at(t))
        .sum()
}

/// One order's claims judged against the ledger: what the rules compare,
/// the price, and when the broker last filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Judgement {
    /// The quantities the rules compare.
    pub check: ClaimCheck,
    /// Whether the final claim's average price differs from the ledger's
    /// ([`price_mismatch`] of the [`judged_fills`]); `None` when there is
    /// nothing to judge.
    pub price_mismatch: Option<bool>,
    /// The last fill of any of the order's broker orders by the end.
    pub last_fill_at: Option<Duration>,
}

impl Judgement {
    /// Detection latency ([`latency_ms`]) of a claim concluded at
    /// `concluded_at`: only for a detected order with a fill, and a claim
    /// that concluded.
    #[must_use]
    pub fn latency_ms(&self, concluded_at: Option<Duration>) -> Option<f64> {
        match (self.check.detected(), self.last_fill_at, concluded_at) {
            (true, Some(fill), Some(seen)) => Some(latency_ms(fill, seen)),
            _ => None,
        }
    }
}

/// Judges the claims about one order against `orders`, every broker order
/// made for it (none when the broker never had it), the ledger read at
/// `end`: `last` is the final claim, `earlier` the claims before it
/// ([`ClaimCheck::of_claims`]), and `named` the broker order the final
/// claim is about, when the claimant names one (its fills judge the
/// price, [`judged_fills`]).
#[must_use]
pub fn judge_order<'a>(
    orders: &[&'a LedgerOrder],
    named: Option<&'a LedgerOrder>,
    earlier: &[Claim],
    last: Option<&Claim>,
    end: Duration,
) -> Judgement {
    let check = ClaimCheck::of_claims(orders, earlier, last, end);
    Judgement {
        check,
        price_mismatch: last
            .and_then(|c| price_mismatch(c.qty, c.avg_price, judged_fills(orders, named, end))),
        last_fill_at: orders.iter().filter_map(|o| o.last_fill_at(end)).max(),
    }
}

/// The fills a claimed price is judged against, in fill order: those of
/// the broker order the claim names (`named`) by `end`, when it is one of
/// `orders`; otherwise those of every order in `orders`, by fill time
/// (fills at one instant stay in the order `orders` gives).
#[must_use]
pub fn judged_fills<'a>(
    orders: &[&'a LedgerOrder],
    named: Option<&'a LedgerOrder>,
    end: Duration,
) -> Vec<&'a Fill> {
    if let Some(order) = named.filter(|n| orders.iter().any(|o| o.id == n.id)) {
        return order.fills_by(end).collect();
    }
    let mut fills: Vec<&Fill> = orders.iter().flat_map(|o| o.fills_by(end)).collect();
    // Stable: fills at one instant stay in acceptance order.
    fills.sort_by_key(|f| f.at);
    fills
}

/// The detection rate: orders detected over orders the broker filled;
/// `None` when nothing filled.
#[must_use]
pub fn detection_rate(detected: u64, filled: u64) -> Option<f64> {
    (filled > 0).then(|| detected as f64 / filled as f64)
}

/// The price mismatches figure: `mismatched` of the `checked` orders whose
/// claimed price was judged; `None` when no order had a price to judge.
#[must_use]
pub fn price_mismatches(checked: u64, mismatched: u64) -> Option<u64> {
    (checked > 0).then_some(mismatched)
}

/// What an engine's status update says the broker reached for one order:
/// the order accepted, a quantity filled, a cancel asked for, the order
/// ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reached {
    /// The broker holds the order.
    Accepted,
    /// This much of the order is filled (none: accepted).
    Filled(Decimal),
    /// A cancel of it reached the broker (`pending_cancel`).
    CancelAsked,
    /// It ended: filled, canceled, expired, rejected or replaced.
    Ended,
}

/// When the broker reached what an update says of `chain[0]` (with the
/// orders it replaced after it, newest first), judged at `by`, the
/// instant the engine reported it: a quantity filled counts the chain's
/// fills together; acceptance, a cancel and the end are the named
/// order's own. `None` when the ledger had not reached it by then (an
/// update ahead of the broker, or one about something that never
/// happened, or no order named).
#[must_use]
pub fn reached_at(chain: &[&LedgerOrder], reached: Reached, by: Duration) -> Option<Duration> {
    let order = chain.first()?;
    let at = match reached {
        Reached::Accepted => Some(order.accepted_at),
        Reached::Filled(qty) if qty <= Decimal::ZERO => Some(order.accepted_at),
        Reached::Filled(qty) => {
            let mut fills: Vec<&Fill> = chain.iter().flat_map(|o| &o.fills).collect();
            fills.sort_by_key(|f| f.at);
            let mut cum = Decimal::ZERO;
            fills.into_iter().find_map(|fill| {
                cum += fill.qty;
                (cum >= qty).then_some(fill.at)
            })
        }
        Reached::CancelAsked => order.cancel_requested_at,
        Reached::Ended => order.terminal_at(by),
    };
    at.filter(|at| *at <= by)
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
                earlier_false_positive: false,
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
            extended_hours: false,
            stop_price: None,
            trail: None,
            triggered_at: None,
            notional: None,
            links: Default::default(),
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

    /// One order's claims judged whole: an early claim among the earlier
    /// ones keeps an exact final claim from being a detection; without it
    /// the final claim is detected, its price judged against the named
    /// order's fills, and its latency runs from the last fill.
    #[test]
    fn judge_order_weighs_every_claim() {
        let mut order = LedgerOrder {
            index: None,
            id: "o".into(),
            client_order_id: "c".into(),
            symbol: "SPY".into(),
            side: fillproof_engine::Side::Buy,
            qty: 20.into(),
            order_type: fillproof_engine::OrderType::Market,
            time_in_force: fillproof_engine::TimeInForce::Day,
            limit_price: None,
            accepted_at: Duration::ZERO,
            fills: vec![fill(10, 10, "100"), fill(20, 10, "102")],
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
        let at = Duration::from_millis;
        let claim = |qty: i64, ms: u64| Claim {
            qty: qty.into(),
            avg_price: Some(price("101")),
            at: at(ms),
        };
        let last = claim(20, 30);
        let clean = judge_order(
            &[&order],
            Some(&order),
            &[claim(10, 15)],
            Some(&last),
            at(40),
        );
        assert!(clean.check.detected() && !clean.check.false_positive());
        assert_eq!(clean.price_mismatch, Some(false));
        assert_eq!(clean.last_fill_at, Some(at(20)));
        let latency = clean.latency_ms(Some(at(30))).expect("detected");
        assert!((latency - 10.0).abs() < 1e-9);
        let early = judge_order(&[&order], None, &[claim(20, 15)], Some(&last), at(40));
        assert!(early.check.false_positive() && !early.check.detected());
        assert_eq!(early.latency_ms(Some(at(30))), None);
        // Nothing is filled of an order before the broker had it.
        order.accepted_at = at(50);
        let before = judge_order(&[&order], None, &[], Some(&claim(10, 40)), at(40));
        assert!(before.check.false_positive() && !before.check.filled());
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
