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
use fillproof_simulator::judge;
use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::marker::PhantomData;

/// The most claims one session keeps: past it a claims body is refused
/// whole (413), so a client cannot exhaust the server's memory.
pub const MAX_CLAIMS: usize = 1_000_000;

/// The longest client order id a claim names: the broker's bound on a
/// client order id (Alpaca takes at most 128 characters).
pub const MAX_CLAIM_ID_CHARS: usize = 128;

/// A client's claim: the quantity it believes filled, maybe the average
/// price it believes it filled at, and when it said so (the judge's
/// [`Claim`](fillproof_simulator::judge::Claim)).
pub use fillproof_simulator::judge::Claim;

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
    /// Claims kept (the raises: what the session's bound counts).
    #[must_use]
    pub fn kept(&self) -> usize {
        self.kept
    }

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
    /// The body is not that shape, names an id twice in `filled_qty` or
    /// `avg_price`, a quantity or price is not a non-negative decimal (a
    /// JSON number or a decimal string) a [`Decimal`] holds exactly, a price
    /// names an id the body claims no quantity for, or the session would
    /// hold too many claims.
    pub fn take(&mut self, body: &[u8], at: Duration) -> Result<usize, ClaimRefused> {
        self.take_beside(body, at, 0)
    }

    /// [`ClaimBook::take`] in a session whose other accounts keep
    /// `others` claims: the session's bound is on every account's claims
    /// together.
    ///
    /// # Errors
    ///
    /// As [`ClaimBook::take`].
    pub fn take_beside(
        &mut self,
        body: &[u8],
        at: Duration,
        others: usize,
    ) -> Result<usize, ClaimRefused> {
        let parsed = parse(body)?;
        let raises = parsed
            .iter()
            .filter(|(id, qty, _)| self.by_order.get(id).is_none_or(|h| *qty > h.highest()))
            .count();
        let kept = self.kept.saturating_add(others);
        if kept.saturating_add(raises) > MAX_CLAIMS {
            return Err(ClaimRefused {
                status: 413,
                message: format!(
                    "a session keeps at most {MAX_CLAIMS} claims; {kept} are kept and this body adds {raises}: nothing of it was taken"
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

/// The members of a JSON object in the order written, each value's text
/// as written: a repeated key is kept as often as it appears, where a
/// parsed map would keep only its last value, and a number's digits are
/// not rounded through a float.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
                while let Some(member) = map.next_entry::<String, &'a RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visit(PhantomData))
    }
}

impl<'a> Members<'a> {
    /// The members of `raw`, when it is an object.
    fn of(raw: &'a RawValue) -> Option<Self> {
        serde_json::from_str(raw.get()).ok()
    }

    /// Refuses a key given twice, naming it: the body would say two things
    /// of one entry and only one could be judged.
    fn unique(&self, field: &str) -> Result<IndexMap<&str, &'a RawValue>, ClaimRefused> {
        let mut seen = IndexMap::with_capacity(self.0.len());
        for (key, value) in &self.0 {
            if seen.insert(key.as_str(), *value).is_some() {
                return Err(ClaimRefused::bad(format!(
                    "{field} names \"{key}\" more than once: a claims body gives each order one value (a JSON object with a repeated key would keep only its last, and the other would never be judged); nothing of this body was taken"
                )));
            }
        }
        Ok(seen)
    }
}

/// At most the first 80 characters of a value's JSON text, for a message.
fn shown(raw: &RawValue) -> String {
    let text = raw.get();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The entries of a claims body, every one checked: id, quantity and the
/// price claimed for it, if any.
fn parse(body: &[u8]) -> Result<Vec<(String, Decimal, Option<Decimal>)>, ClaimRefused> {
    let raw: &RawValue = serde_json::from_slice(body)
        .map_err(|e| ClaimRefused::bad(format!("claims body is not JSON: {e}")))?;
    let shape = || {
        ClaimRefused::bad(
            "claims body must be {\"filled_qty\": {\"<client_order_id>\": <qty>}}".into(),
        )
    };
    let top = Members::of(raw).ok_or_else(shape)?;
    let top = top.unique("the claims body")?;
    let map = top
        .get("filled_qty")
        .and_then(|raw| Members::of(raw))
        .ok_or_else(shape)?;
    let prices = match top.get("avg_price") {
        None => None,
        Some(raw) => Some(Members::of(raw).ok_or_else(|| {
            ClaimRefused::bad(format!(
                "avg_price must be {{\"<client_order_id>\": <price>}}, not {}",
                shown(raw)
            ))
        })?),
    };
    let quantities = map.unique("filled_qty")?;
    let prices = prices.as_ref().map(|p| p.unique("avg_price")).transpose()?;
    if let Some(id) = prices
        .iter()
        .flat_map(IndexMap::keys)
        .find(|id| !quantities.contains_key(*id))
    {
        return Err(ClaimRefused::bad(format!(
            "avg_price.{id} names an order this body claims no filled_qty for; a price is claimed with its quantity"
        )));
    }
    let mut parsed = Vec::with_capacity(map.0.len());
    for (id, qty) in &map.0 {
        if id.is_empty() || id.chars().count() > MAX_CLAIM_ID_CHARS {
            let shown: String = id.chars().take(40).collect();
            return Err(ClaimRefused::bad(format!(
                "filled_qty names \"{shown}…\" ({} characters): a client order id is 1 to {MAX_CLAIM_ID_CHARS} characters, as the broker takes one; nothing of this body was taken",
                id.chars().count()
            )));
        }
        let qty = non_negative(&format!("filled_qty.{id}"), qty)?;
        let price = prices
            .as_ref()
            .and_then(|p| p.get(id.as_str()))
            .map(|price| non_negative(&format!("avg_price.{id}"), price))
            .transpose()?;
        parsed.push((id.clone(), qty, price));
    }
    Ok(parsed)
}

/// The non-negative decimal `value` (a JSON number or a decimal string)
/// at `field`, read exactly from its text: a value a decimal cannot hold
/// exactly is refused, not rounded into a claim the client never made.
fn non_negative(field: &str, value: &RawValue) -> Result<Decimal, ClaimRefused> {
    let raw = value.get().trim();
    let text = match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw)
            .map_err(|e| ClaimRefused::bad(format!("{field} is not a JSON string: {e}")))?,
        Some(b'-' | b'0'..=b'9') => raw.to_owned(),
        _ => {
            return Err(ClaimRefused::bad(format!(
                "{field} must be a number, not {}",
                shown(value)
            )));
        }
    };
    let number = exact_decimal(text.trim()).map_err(|inexact| {
        ClaimRefused::bad(if inexact {
            format!(
                "{field} \"{text}\" has more digits than a decimal holds exactly (28 after the point, 28 or 29 in all): rounded, it would be judged as a claim the client never made"
            )
        } else {
            format!("{field} \"{text}\" is not a decimal number")
        })
    })?;
    if number < Decimal::ZERO {
        return Err(ClaimRefused::bad(format!("{field} is negative")));
    }
    Ok(number)
}

/// `text` (a decimal, maybe with an exponent: `5`, `4.75`, `1e2`) as a
/// [`Decimal`] holding exactly its value. `Err(true)` when it is a number
/// that a decimal could only hold rounded (or not at all), `Err(false)`
/// when it is not a number.
///
/// # Errors
/// `true` when `text` is a number no decimal holds exactly, `false`
/// when it is not a number.
pub fn exact_decimal(text: &str) -> Result<Decimal, bool> {
    let (digits, exponent) = match text.find(['e', 'E']) {
        Some(at) => {
            let exponent = text[at + 1..].parse::<i64>().map_err(|_| false)?;
            (&text[..at], exponent)
        }
        None => (text, 0),
    };
    let significand = match Decimal::from_str_exact(digits) {
        Ok(number) => number,
        // Trailing zeros after the point say nothing about the value.
        Err(_) if digits.contains('.') && digits.ends_with('0') => {
            Decimal::from_str_exact(digits.trim_end_matches('0'))
                .map_err(|_| digits.parse::<Decimal>().is_ok())?
        }
        Err(_) => return Err(digits.parse::<Decimal>().is_ok()),
    };
    if exponent == 0 {
        return Ok(significand);
    }
    let mut mantissa = significand.mantissa();
    if mantissa == 0 {
        return Ok(Decimal::ZERO);
    }
    // The value is mantissa × 10^shift.
    let mut shift = exponent.saturating_sub(i64::from(significand.scale()));
    while shift > 0 {
        mantissa = mantissa.checked_mul(10).ok_or(true)?;
        shift -= 1;
    }
    while shift < -28 && mantissa % 10 == 0 {
        mantissa /= 10;
        shift += 1;
    }
    let scale = shift
        .checked_neg()
        .and_then(|s| u32::try_from(s).ok())
        .ok_or(true)?;
    if scale > 28 {
        return Err(true);
    }
    Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| true)
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
    let orders: Vec<&LedgerOrder> = order.into_iter().collect();
    let judged = judge::judge_order(
        &orders,
        order,
        claims.map_or(&[], |h| h.raises.as_slice()),
        claims.map(|h| &h.latest),
        now,
    );
    Verdict {
        false_positive: judged.check.false_positive(),
        missed: judged.check.missed(),
        detected: judged.check.detected(),
        price_mismatch: judged.price_mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// The session's bound counts every account's claims: a body that
    /// fits this account's book is refused whole when the other accounts
    /// keep the rest of the room.
    #[test]
    fn the_bound_counts_the_other_accounts_claims() {
        let mut book = ClaimBook::default();
        let body = br#"{"filled_qty": {"a": 1, "b": 1}}"#;
        let refused = book
            .take_beside(body, Duration::ZERO, MAX_CLAIMS - 1)
            .expect_err("two claims do not fit in one place");
        assert_eq!(refused.status, 413);
        assert!(book.is_empty(), "nothing of a refused body is taken");
        assert_eq!(
            book.take_beside(body, Duration::ZERO, MAX_CLAIMS - 2),
            Ok(2)
        );
        assert_eq!(book.kept(), 2);
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
            extended_hours: false,
            stop_price: None,
            trail: None,
            triggered_at: None,
            notional: None,
            links: Default::default(),
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

    /// Decimals are read exactly, exponents included; what a decimal could
    /// only hold rounded is told from what is not a number at all.
    #[test]
    fn decimals_are_read_exactly() {
        let exact = |text: &str| exact_decimal(text).map(|d| d.to_string());
        assert_eq!(
            exact("4.99999999999999999"),
            Ok("4.99999999999999999".into())
        );
        assert_eq!(exact("0.5e1"), Ok("5".into()));
        assert_eq!(exact("5E-2"), Ok("0.05".into()));
        assert_eq!(exact("1.50e2"), Ok("150".into()));
        assert_eq!(exact("0e999999999999"), Ok("0".into()));
        assert_eq!(exact("5.0000000000000000000000000000000"), Ok("5".into()));
        assert_eq!(exact("5.00000000000000000000000000001"), Err(true));
        assert_eq!(exact("1e-29"), Err(true));
        assert_eq!(exact("1e29"), Err(true));
        assert_eq!(exact("1e-9223372036854775808"), Err(true));
        assert_eq!(exact("1e9223372036854775807"), Err(true));
        assert_eq!(exact("five"), Err(false));
        assert_eq!(exact("5e"), Err(false));
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
