//! Clients' claims: every quantity (and, when given, average price) a
//! client said it believed filled, judged against the broker's ledger by
//! [`fillproof_simulator::judge`]'s rules, the ones `fillproof run` judges
//! an engine by.
//!
//! Every claim counts: a claim above what the broker had filled when it
//! was posted is a false positive whatever the client posts later, so a
//! client that posts its beliefs periodically is caught claiming early.
//! Missed fills and price mismatches are judged on the latest claim per
//! order, the client's final belief; an order counts as detected when its
//! latest claim is exact and none of its claims was early.
//!
//! What the broker had filled by a moment is read from the ledger when the
//! report is taken, not when the claim arrives: the ledger is a function
//! of arrival times, so a live session and its replay judge alike even
//! when the real clock ran a fill's task a little late.

use std::time::Duration;

use fillproof_simulator::LedgerOrder;
use fillproof_simulator::judge::{self, ClaimCheck};
use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// The most claims one session keeps: past it a claims body is refused
/// whole (413), so a client cannot exhaust the server's memory.
pub const MAX_CLAIMS: usize = 1_000_000;

/// A client's claim: the quantity it believes filled, maybe the average
/// price it believes it filled at, and when it said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The quantity claimed filled.
    pub qty: Decimal,
    /// The average fill price claimed, when the body gave one.
    pub avg_price: Option<Decimal>,
    /// When the claim was posted, virtual time since the session began.
    pub at: Duration,
}

/// The claims for one client order id, as far as judging needs them.
///
/// A claim no higher than an earlier claim for the same order can only be
/// above what had filled when it was posted if the earlier one was too
/// (fills only accumulate), so besides the latest claim only the claims
/// that raised the quantity claimed are kept: judging them is judging
/// every claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHistory {
    /// The latest claim: the client's final belief.
    pub latest: Claim,
    /// The first claim and each claim above every claim before it, in
    /// posting order (so in increasing quantity).
    pub raises: Vec<Claim>,
}

impl ClaimHistory {
    fn highest(&self) -> Decimal {
        self.raises.last().map_or(Decimal::ZERO, |c| c.qty)
    }
}

/// A claims body refused, with the HTTP status to answer and why. A refused
/// body changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClaimRefused {
    /// 400 for a body that is not `{"filled_qty": {...}}` with decimal
    /// quantities (and, optionally, `"avg_price": {...}` with decimal
    /// prices of ids it claims), 413 for one that would take the session past
    /// [`MAX_CLAIMS`].
    pub status: u16,
    /// What is wrong, naming the entry.
    pub message: String,
}

impl ClaimRefused {
    fn bad(message: String) -> Self {
        Self {
            status: 400,
            message,
        }
    }
}

/// Every claim a session received, by client order id in order of first
/// claim.
#[derive(Debug, Default)]
pub struct ClaimBook {
    by_order: IndexMap<String, ClaimHistory>,
    kept: usize,
}

impl ClaimBook {
    /// Whether any claim was taken.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_order.is_empty()
    }

    /// Client order ids claimed.
    #[must_use]
    pub fn orders(&self) -> usize {
        self.by_order.len()
    }

    /// The claims for `client_order_id`.
    #[must_use]
    pub fn get(&self, client_order_id: &str) -> Option<&ClaimHistory> {
        self.by_order.get(client_order_id)
    }

    /// Every client order id claimed, with its claims.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ClaimHistory)> {
        self.by_order.iter()
    }

    /// Takes a claims body, `{"filled_qty": {"<client_order_id>": qty}}`,
    /// optionally with `"avg_price": {"<client_order_id>": price}` for
    /// some of the ids it claims, posted at `at`: all of it, or, when any entry is bad or it would
    /// take the session past [`MAX_CLAIMS`], none of it. Returns the
    /// number of client order ids claimed so far.
    ///
    /// # Errors
    ///
    /// The body is not that shape, a quantity or price is not a
    /// non-negative decimal (a JSON number or a decimal string), a price
    /// names an id the body claims no quantity for, or the session would
    /// hold too many claims.
    pub fn take(&mut self, body: &[u8], at: Duration) -> Result<usize, ClaimRefused> {
        let parsed = parse(body)?;
        let raises = parsed
            .iter()
            .filter(|(id, qty, _)| self.by_order.get(id).is_none_or(|h| *qty > h.highest()))
            .count();
        if self.kept.saturating_add(raises) > MAX_CLAIMS {
            return Err(ClaimRefused {
                status: 413,
                message: format!(
                    "a session keeps at most {MAX_CLAIMS} claims; {} are kept and this body adds {raises}: nothing of it was taken",
                    self.kept
                ),
            });
        }
        for (id, qty, avg_price) in parsed {
            let claim = Claim { qty, avg_price, at };
            match self.by_order.get_mut(&id) {
                Some(history) => {
                    if qty > history.highest() {
                        history.raises.push(claim);
                    }
                    history.latest = claim;
                }
                None => {
                    self.by_order.insert(
                        id,
                        ClaimHistory {
                            latest: claim,
                            raises: vec![claim],
                        },
                    );
                }
            }
        }
        self.kept += raises;
        Ok(self.by_order.len())
    }
}

/// The entries of a claims body, every one checked: id, quantity and the
/// price claimed for it, if any.
fn parse(body: &[u8]) -> Result<Vec<(String, Decimal, Option<Decimal>)>, ClaimRefused> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ClaimRefused::bad(format!("claims body is not JSON: {e}")))?;
    let Some(map) = value.get("filled_qty").and_then(Value::as_object) else {
        return Err(ClaimRefused::bad(
            "claims body must be {\"filled_qty\": {\"<client_order_id>\": <qty>}}".into(),
        ));
    };
    let prices = match value.get("avg_price") {
        None => None,
        Some(Value::Object(prices)) => Some(prices),
        Some(other) => {
            return Err(ClaimRefused::bad(format!(
                "avg_price must be {{\"<client_order_id>\": <price>}}, not {other}"
            )));
        }
    };
    if let Some(id) = prices
        .into_iter()
        .flat_map(Map::keys)
        .find(|id| !map.contains_key(*id))
    {
        return Err(ClaimRefused::bad(format!(
            "avg_price.{id} names an order this body claims no filled_qty for; a price is claimed with its quantity"
        )));
    }
    let mut parsed = Vec::with_capacity(map.len());
    for (id, qty) in map {
        let qty = non_negative(&format!("filled_qty.{id}"), qty)?;
        let price = prices
            .and_then(|p| p.get(id))
            .map(|price| non_negative(&format!("avg_price.{id}"), price))
            .transpose()?;
        parsed.push((id.clone(), qty, price));
    }
    Ok(parsed)
}

/// The non-negative decimal `value` (a JSON number or a decimal string)
/// at `field`.
fn non_negative(field: &str, value: &Value) -> Result<Decimal, ClaimRefused> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => {
            return Err(ClaimRefused::bad(format!(
                "{field} must be a number, not {other}"
            )));
        }
    };
    let number = text
        .trim()
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .map_err(|_| ClaimRefused::bad(format!("{field} \"{text}\" is not a decimal number")))?;
    if number < Decimal::ZERO {
        return Err(ClaimRefused::bad(format!("{field} is negative")));
    }
    Ok(number)
}

/// How one order's claims compare with the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Some claim was above what the broker had filled when it was posted.
    pub false_positive: bool,
    /// The broker filled more than the latest claim (or there was none).
    pub missed: bool,
    /// The broker filled some, the latest claim is exactly what it
    /// filled, and no claim for the order was above what had filled when
    /// it was posted ([`judge::detected`]): an order claimed early is not
    /// detected, whatever the client posts later.
    pub detected: bool,
    /// Whether the latest claim's average price differs from the ledger's
    /// for the quantity it claims; `None` when it claims no price, or
    /// nothing filled.
    pub price_mismatch: Option<bool>,
}

/// The claim-versus-ledger rules ([`fillproof_simulator::judge`]) for one
/// client order id: `claims` (none when the client never claimed it)
/// against `order`, the broker's order for it (none when the broker never
/// had it), the ledger read at `now`, the report's time.
///
/// False positives are judged on every claim, each at the moment it was
/// posted; missed fills and the price on the latest claim, the client's
/// final belief; detection on the latest claim and on there being no false
/// positive among them all.
#[must_use]
pub fn judge_claims(
    claims: Option<&ClaimHistory>,
    order: Option<&LedgerOrder>,
    now: Duration,
) -> Verdict {
    // What the broker had filled by `t`: nothing before it had the order.
    let filled_at = |t: Duration| {
        order
            .filter(|o| o.accepted_at <= t)
            .map_or(Decimal::ZERO, |o| o.filled_qty_at(t))
    };
    let filled = filled_at(now);
    let latest = claims.map(|h| h.latest);
    let check = ClaimCheck {
        filled,
        filled_when_claimed: latest.map_or(filled, |c| filled_at(c.at)),
        claimed: latest.map_or(Decimal::ZERO, |c| c.qty),
        open_when_claimed: false,
    };
    let false_positive = claims.is_some_and(|h| {
        h.raises
            .iter()
            .any(|c| judge::false_positive(c.qty, filled_at(c.at)))
    });
    Verdict {
        false_positive,
        missed: check.missed(),
        detected: judge::detected(check.filled, check.claimed, false_positive),
        price_mismatch: latest
            .zip(order)
            .and_then(|(c, o)| judge::price_mismatch(c.qty, c.avg_price, o.fills_by(now))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// A claim no higher than an earlier one is not kept among the raises,
    /// but becomes the latest; judging the raises finds every early claim.
    #[test]
    fn only_raises_and_the_latest_claim_are_kept() {
        let mut book = ClaimBook::default();
        book.take(br#"{"filled_qty": {"a": 5}}"#, at(1))
            .expect("ok");
        book.take(br#"{"filled_qty": {"a": 3}}"#, at(2))
            .expect("ok");
        book.take(br#"{"filled_qty": {"a": "5"}}"#, at(3))
            .expect("ok");
        book.take(br#"{"filled_qty": {"a": 7}}"#, at(4))
            .expect("ok");
        let history = book.get("a").expect("claimed");
        assert_eq!(
            history.raises.iter().map(|c| c.at).collect::<Vec<_>>(),
            vec![at(1), at(4)]
        );
        assert_eq!(
            history.latest,
            Claim {
                qty: 7.into(),
                avg_price: None,
                at: at(4)
            }
        );
        assert_eq!(book.kept, 2);
        // Filled 5 at 2 ms: the 5 claimed at 1 ms was early.
        let order = filled_order(&[(2, 5, "10")]);
        let verdict = judge_claims(Some(history), Some(&order), at(5));
        assert!(verdict.false_positive && !verdict.missed && !verdict.detected);
    }

    /// An order accepted at 0 ms with `fills` of (ms, qty, price).
    fn filled_order(fills: &[(u64, i64, &str)]) -> LedgerOrder {
        LedgerOrder {
            index: None,
            id: "o".into(),
            client_order_id: "a".into(),
            symbol: "SPY".into(),
            side: fillproof_engine::Side::Buy,
            qty: 100.into(),
            order_type: fillproof_engine::OrderType::Market,
            time_in_force: fillproof_engine::TimeInForce::Day,
            limit_price: None,
            accepted_at: Duration::ZERO,
            fills: fills
                .iter()
                .map(|(ms, qty, price)| fillproof_simulator::Fill {
                    at: at(*ms),
                    qty: (*qty).into(),
                    price: price.parse().expect("price"),
                })
                .collect(),
            broker_end: None,
            cancel_requested_at: None,
            cancel_effective_at: None,
            status_lag: Duration::ZERO,
            filled_spelling: "filled".into(),
        }
    }

    /// A price goes with its quantity: the latest claim's price is judged
    /// against the ledger's average for the quantity it claims, and a
    /// later claim without one leaves nothing to judge.
    #[test]
    fn the_latest_claims_price_is_judged() {
        let order = filled_order(&[(1, 10, "100"), (2, 10, "100.02")]);
        let judged = |bodies: &[&str]| {
            let mut book = ClaimBook::default();
            for body in bodies {
                book.take(body.as_bytes(), at(3)).expect("taken");
            }
            judge_claims(book.get("a"), Some(&order), at(3)).price_mismatch
        };
        let whole = r#"{"filled_qty": {"a": 20}, "avg_price": {"a": "100.01"}}"#;
        let first = r#"{"filled_qty": {"a": 10}, "avg_price": {"a": 100}}"#;
        let off = r#"{"filled_qty": {"a": 20}, "avg_price": {"a": 100.02}}"#;
        let bare = r#"{"filled_qty": {"a": 20}}"#;
        assert_eq!(judged(&[whole]), Some(false));
        assert_eq!(judged(&[first]), Some(false));
        assert_eq!(judged(&[off]), Some(true));
        assert_eq!(judged(&[off, whole]), Some(false));
        assert_eq!(judged(&[whole, off]), Some(true));
        assert_eq!(judged(&[off, bare]), None);
    }

    /// A price without its quantity, or not a price, refuses the body whole.
    #[test]
    fn bad_prices_refuse_the_body() {
        for (body, names) in [
            (
                r#"{"filled_qty": {"a": 1}, "avg_price": {"b": 1}}"#,
                "avg_price.b",
            ),
            (
                r#"{"filled_qty": {"a": 1}, "avg_price": {"a": "x"}}"#,
                "avg_price.a",
            ),
            (
                r#"{"filled_qty": {"a": 1}, "avg_price": {"a": -1}}"#,
                "avg_price.a",
            ),
            (r#"{"filled_qty": {"a": 1}, "avg_price": [1]}"#, "avg_price"),
        ] {
            let mut book = ClaimBook::default();
            let refused = book.take(body.as_bytes(), at(1)).expect_err(body);
            assert_eq!(refused.status, 400, "{body}");
            assert!(
                refused.message.contains(names),
                "{body}: {}",
                refused.message
            );
            assert!(book.is_empty(), "{body}");
        }
    }
}
