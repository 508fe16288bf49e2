//! Clients' claims: every quantity a client said it believed filled, and
//! the rules that judge them against the broker's ledger.
//!
//! Every claim counts: a claim above what the broker had filled when it
//! was posted is a false positive whatever the client posts later, so a
//! client that posts its beliefs periodically is caught claiming early.
//! Missed fills and the detection rate are judged on the latest claim per
//! order, the client's final belief.
//!
//! What the broker had filled by a moment is read from the ledger when the
//! report is taken, not when the claim arrives: the ledger is a function
//! of arrival times, so a live session and its replay judge alike even
//! when the real clock ran a fill's task a little late.

use std::time::Duration;

use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde_json::Value;

/// The most claims one session keeps: past it a claims body is refused
/// whole (413), so a client cannot exhaust the server's memory.
pub const MAX_CLAIMS: usize = 1_000_000;

/// A client's claim: the quantity it believes filled, and when it said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The quantity claimed filled.
    pub qty: Decimal,
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
    /// quantities, 413 for one that would take the session past
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
    /// posted at `at`: all of it, or, when any entry is bad or it would
    /// take the session past [`MAX_CLAIMS`], none of it. Returns the
    /// number of client order ids claimed so far.
    ///
    /// # Errors
    ///
    /// The body is not that shape, a quantity is not a non-negative
    /// decimal (a JSON number or a decimal string), or the session would
    /// hold too many claims.
    pub fn take(&mut self, body: &[u8], at: Duration) -> Result<usize, ClaimRefused> {
        let parsed = parse(body)?;
        let raises = parsed
            .iter()
            .filter(|(id, qty)| self.by_order.get(id).is_none_or(|h| *qty > h.highest()))
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
        for (id, qty) in parsed {
            let claim = Claim { qty, at };
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

/// The entries of a claims body, every one checked.
fn parse(body: &[u8]) -> Result<Vec<(String, Decimal)>, ClaimRefused> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ClaimRefused::bad(format!("claims body is not JSON: {e}")))?;
    let Some(map) = value.get("filled_qty").and_then(Value::as_object) else {
        return Err(ClaimRefused::bad(
            "claims body must be {\"filled_qty\": {\"<client_order_id>\": <qty>}}".into(),
        ));
    };
    let mut parsed = Vec::with_capacity(map.len());
    for (id, qty) in map {
        let text = match qty {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            other => {
                return Err(ClaimRefused::bad(format!(
                    "filled_qty.{id} must be a number, not {other}"
                )));
            }
        };
        let qty = text
            .trim()
            .parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(text.trim()))
            .map_err(|_| {
                ClaimRefused::bad(format!(
                    "filled_qty.{id} \"{text}\" is not a decimal number"
                ))
            })?;
        if qty < Decimal::ZERO {
            return Err(ClaimRefused::bad(format!("filled_qty.{id} is negative")));
        }
        parsed.push((id.clone(), qty));
    }
    Ok(parsed)
}

/// How one order's claims compare with the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Some claim was above what the broker had filled when it was posted.
    pub false_positive: bool,
    /// The broker filled more than the latest claim (or there was none).
    pub missed: bool,
    /// The broker filled some, and the latest claim is exactly what it
    /// filled and was not above what had filled when it was posted.
    pub detected: bool,
}

/// The claim-versus-ledger rules for one client order id: `claims` (none
/// when the client never claimed it), `filled_at(t)` what the broker had
/// filled of it by `t` (zero before the broker had the order, or when it
/// never had it), `filled_now` what it filled by the report's time.
///
/// False positives are judged on every claim; missed fills and detection
/// on the latest claim, the client's final belief.
pub fn judge_claims(
    claims: Option<&ClaimHistory>,
    filled_at: impl Fn(Duration) -> Decimal,
    filled_now: Decimal,
) -> Verdict {
    let invented = |c: &Claim| c.qty > filled_at(c.at);
    let Some(history) = claims else {
        return Verdict {
            missed: filled_now > Decimal::ZERO,
            ..Verdict::default()
        };
    };
    let latest = history.latest;
    Verdict {
        false_positive: history.raises.iter().any(invented),
        missed: filled_now > latest.qty,
        detected: filled_now > Decimal::ZERO && latest.qty == filled_now && !invented(&latest),
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
                at: at(4)
            }
        );
        assert_eq!(book.kept, 2);
        // Filled 5 at 2 ms: the 5 claimed at 1 ms was early.
        let filled = |t: Duration| {
            if t >= at(2) {
                Decimal::from(5)
            } else {
                Decimal::ZERO
            }
        };
        let verdict = judge_claims(Some(history), filled, 5.into());
        assert!(verdict.false_positive && !verdict.missed && !verdict.detected);
    }
}
