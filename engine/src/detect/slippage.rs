//! Slippage: how far a fill's price is from the price the trader expected,
//! in basis points, signed so that positive is always against the trader.

use rust_decimal::Decimal;

use crate::port::Side;

/// Slippage of one fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slippage {
    /// The price the trader expected.
    pub expected_price: Decimal,
    /// The average fill price.
    pub fill_price: Decimal,
    /// Basis points, positive when adverse: a buy filled above the expected
    /// price or a sell filled below it.
    pub bps: Decimal,
    /// True when `bps` is above the configured threshold.
    pub flagged: bool,
}

impl Slippage {
    /// Slippage of a fill at `fill_price` against `expected_price`, flagged
    /// when adverse by more than `threshold_bps`. `None` when the expected
    /// price is not positive.
    #[must_use]
    pub fn measure(
        side: Side,
        expected_price: Decimal,
        fill_price: Decimal,
        threshold_bps: Decimal,
    ) -> Option<Self> {
        if expected_price <= Decimal::ZERO {
            return None;
        }
        // Prices come from outside: a figure that cannot be computed is
        // left out rather than allowed to overflow.
        let bps = fill_price
            .checked_sub(expected_price)?
            .checked_div(expected_price)?
            .checked_mul(Decimal::from(10_000))?
            .checked_mul(side.sign())?
            .round_dp(4);
        Some(Self {
            expected_price,
            fill_price,
            bps,
            flagged: bps > threshold_bps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    /// A buy filled above the expected price is adverse (positive); below it
    /// is favourable (negative).
    #[test]
    fn buy_sign() {
        let s = Slippage::measure(Side::Buy, d("100"), d("100.10"), d("5")).expect("positive");
        assert_eq!(s.bps, d("10"));
        assert!(s.flagged);
        let s = Slippage::measure(Side::Buy, d("100"), d("99.95"), d("5")).expect("positive");
        assert_eq!(s.bps, d("-5"));
        assert!(!s.flagged);
    }

    /// A sell filled below the expected price is adverse (positive); above it
    /// is favourable (negative).
    #[test]
    fn sell_sign() {
        let s = Slippage::measure(Side::Sell, d("590.10"), d("590.02"), d("1")).expect("positive");
        assert!(s.bps > Decimal::ZERO, "{}", s.bps);
        assert!(s.flagged);
        let s = Slippage::measure(Side::Sell, d("100"), d("100.10"), d("5")).expect("positive");
        assert_eq!(s.bps, d("-10"));
        assert!(!s.flagged);
    }

    /// No expected price, no slippage figure.
    #[test]
    fn zero_expected_price_gives_none() {
        assert_eq!(Slippage::measure(Side::Buy, d("0"), d("1"), d("5")), None);
    }

    /// Prices at the edge of `Decimal` give no figure instead of a panic.
    #[test]
    fn extreme_prices_never_panic() {
        let tiny = Decimal::new(1, 28);
        assert_eq!(
            Slippage::measure(Side::Buy, tiny, Decimal::MAX, d("5")),
            None
        );
        assert_eq!(
            Slippage::measure(Side::Sell, Decimal::MAX, Decimal::MIN, d("5")),
            None
        );
        let s = Slippage::measure(Side::Buy, tiny, tiny, d("5")).expect("equal prices");
        assert_eq!(s.bps, Decimal::ZERO);
    }
}
