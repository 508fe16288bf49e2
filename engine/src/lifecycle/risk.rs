//! Risk limits: would the order take the account past a limit? Checked
//! before anything reaches the broker; each violation names the rule and
//! the numbers.

use rust_decimal::Decimal;
use thiserror::Error;

use crate::lifecycle::money;

/// Risk limits. Defaults: 10,000 shares per symbol, $10,000.00 daily loss,
/// 100 orders a minute per trader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskLimits {
    /// Largest absolute position per symbol, counting orders in flight;
    /// `None`: no limit.
    pub max_position: Option<Decimal>,
    /// Largest realized loss in a trading day; `None`: no limit.
    pub daily_loss_limit: Option<Decimal>,
    /// Most orders a trader may place in any minute.
    pub max_orders_per_minute: u32,
}

impl Default for RiskLimits {
    fn default() -> Self {
        Self {
            max_position: Some(Decimal::from(10_000)),
            daily_loss_limit: Some(Decimal::from(10_000)),
            max_orders_per_minute: 100,
        }
    }
}

/// A risk rule a signal would break.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RiskViolation {
    /// The position would grow past the limit.
    #[error("max position size: {symbol} position would be {projected} (limit {limit})")]
    MaxPosition {
        /// The symbol.
        symbol: String,
        /// The position after this order and those in flight.
        projected: Decimal,
        /// The limit.
        limit: Decimal,
    },
    /// Today's realized loss is at or past the limit.
    #[error("daily loss limit: realized P&L today is {} (limit -{})", money(*pnl), money(*limit))]
    DailyLoss {
        /// Today's realized P&L.
        pnl: Decimal,
        /// The limit.
        limit: Decimal,
    },
    /// The trader placed too many orders in the last minute.
    #[error(
        "max orders per minute: trader {trader} placed {count} orders in the last minute (limit {limit})"
    )]
    OrderRate {
        /// The trader.
        trader: String,
        /// Orders in the last minute.
        count: u32,
        /// The limit.
        limit: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    /// Risk violations carry the rule and the numbers.
    #[test]
    fn risk_messages_name_rule_and_numbers() {
        let v = RiskViolation::MaxPosition {
            symbol: "SPY".into(),
            projected: d("12000"),
            limit: d("10000"),
        };
        assert_eq!(
            v.to_string(),
            "max position size: SPY position would be 12000 (limit 10000)"
        );
        let v = RiskViolation::DailyLoss {
            pnl: d("-10250"),
            limit: d("10000"),
        };
        assert_eq!(
            v.to_string(),
            "daily loss limit: realized P&L today is -$10,250.00 (limit -$10,000.00)"
        );
        let v = RiskViolation::OrderRate {
            trader: "t1".into(),
            count: 100,
            limit: 100,
        };
        assert_eq!(
            v.to_string(),
            "max orders per minute: trader t1 placed 100 orders in the last minute (limit 100)"
        );
    }
}
