//! Risk limits: would the order take the account past a limit? Checked
//! before anything reaches the broker; each violation names the rule and
//! the numbers.

use rust_decimal::Decimal;
use thiserror::Error;

use crate::lifecycle::{Signal, money};

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

/// What the risk rules look at: the account as the book holds it when a
/// signal arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exposure {
    /// Realized P&L today.
    pub daily_pnl: Decimal,
    /// The position held in the signal's symbol.
    pub held: Decimal,
    /// Quantity of the symbol's buy orders in flight (a short bracket's
    /// working exits among them, the pair counted once).
    pub buying: Decimal,
    /// Quantity of its sell orders in flight (a long bracket's working
    /// exits among them, the pair counted once).
    pub selling: Decimal,
    /// The trader's orders in the last minute.
    pub recent_orders: u32,
}

impl RiskLimits {
    /// The first rule `signal` would break given `exposure`, in the order
    /// daily loss, position size, order rate.
    pub(crate) fn check(&self, signal: &Signal, exposure: &Exposure) -> Result<(), RiskViolation> {
        daily_loss(self.daily_loss_limit, exposure.daily_pnl)?;
        max_position(self.max_position, signal, exposure)?;
        order_rate(self.max_orders_per_minute, signal, exposure.recent_orders)
    }
}

/// Refuses when today's realized P&L is at or past `-limit`.
fn daily_loss(limit: Option<Decimal>, pnl: Decimal) -> Result<(), RiskViolation> {
    match limit {
        Some(limit) if pnl <= -limit => Err(RiskViolation::DailyLoss { pnl, limit }),
        _ => Ok(()),
    }
}

/// Refuses when the position would exceed `limit` if this order and
/// every order in flight on its side filled: a sell counts the sells in
/// flight (a long bracket's stop loss among them, as the broker holds
/// those shares for it), a buy the buys; orders on the other side may
/// never fill, so they do not offset it.
fn max_position(
    limit: Option<Decimal>,
    signal: &Signal,
    exposure: &Exposure,
) -> Result<(), RiskViolation> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let same_side = match signal.side {
        crate::port::Side::Buy => exposure.buying,
        crate::port::Side::Sell => exposure.selling,
    };
    let projected = exposure
        .held
        .saturating_add(signal.side.sign() * same_side.saturating_add(signal.qty));
    if projected.abs() > limit {
        return Err(RiskViolation::MaxPosition {
            symbol: signal.symbol.clone(),
            projected,
            limit,
        });
    }
    Ok(())
}

/// Refuses when the trader already placed `limit` orders in the last
/// minute.
fn order_rate(limit: u32, signal: &Signal, count: u32) -> Result<(), RiskViolation> {
    if count >= limit {
        return Err(RiskViolation::OrderRate {
            trader: signal.trader_id.clone(),
            count,
            limit,
        });
    }
    Ok(())
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

    fn buy(qty: &str) -> Signal {
        Signal {
            stop_price: None,
            trail: None,
            client_order_id: "c".into(),
            trader_id: "t1".into(),
            symbol: "SPY".into(),
            side: crate::port::Side::Buy,
            qty: d(qty),
            limit_price: None,
            stop_loss: None,
            take_profit: None,
            time_in_force: crate::port::TimeInForce::Day,
            extended_hours: false,
        }
    }

    fn flat() -> Exposure {
        Exposure {
            daily_pnl: Decimal::ZERO,
            held: Decimal::ZERO,
            buying: Decimal::ZERO,
            selling: Decimal::ZERO,
            recent_orders: 0,
        }
    }

    /// Goal: each rule refuses at its limit and passes below it. Method:
    /// the default limits against exposures at and just inside each.
    #[test]
    fn each_rule_refuses_at_its_limit() {
        let limits = RiskLimits::default();
        assert_eq!(limits.check(&buy("100"), &flat()), Ok(()));
        let losing = Exposure {
            daily_pnl: d("-10000"),
            ..flat()
        };
        assert!(matches!(
            limits.check(&buy("1"), &losing),
            Err(RiskViolation::DailyLoss { .. })
        ));
        let almost = Exposure {
            daily_pnl: d("-9999.99"),
            ..flat()
        };
        assert_eq!(limits.check(&buy("1"), &almost), Ok(()));
        // Held and in flight both count toward the position.
        let loaded = Exposure {
            held: d("6000"),
            buying: d("3000"),
            ..flat()
        };
        assert_eq!(limits.check(&buy("1000"), &loaded), Ok(()));
        assert_eq!(
            limits.check(&buy("1001"), &loaded),
            Err(RiskViolation::MaxPosition {
                symbol: "SPY".into(),
                projected: d("10001"),
                limit: d("10000"),
            })
        );
        let busy = Exposure {
            recent_orders: 100,
            ..flat()
        };
        assert!(matches!(
            limits.check(&buy("1"), &busy),
            Err(RiskViolation::OrderRate { count: 100, .. })
        ));
    }

    /// Goal: the position limit holds the worst case on the order's own
    /// side: what is in flight on the other side (which may never fill)
    /// offsets nothing, and a long bracket's working stop loss counts as a
    /// sale in flight. Method: a limit of 100; long 100 with its exits
    /// (sell 100) working, a sale of 150 (meant to end short 50) would end
    /// short 150 if the stop loss filled too, and is refused; a sale of 50
    /// passes (short 50 at worst). 100 bought in flight do not make room
    /// for a sale of 150 from flat.
    #[test]
    fn the_position_limit_counts_working_exits_on_the_orders_side() {
        let limits = RiskLimits {
            max_position: Some(d("100")),
            ..RiskLimits::default()
        };
        let mut sell = buy("150");
        sell.side = crate::port::Side::Sell;
        let protected = Exposure {
            held: d("100"),
            selling: d("100"),
            ..flat()
        };
        assert_eq!(
            limits.check(&sell, &protected),
            Err(RiskViolation::MaxPosition {
                symbol: "SPY".into(),
                projected: d("-150"),
                limit: d("100"),
            })
        );
        let unprotected = Exposure {
            selling: Decimal::ZERO,
            ..protected
        };
        assert_eq!(limits.check(&sell, &unprotected), Ok(()));
        sell.qty = d("50");
        assert_eq!(limits.check(&sell, &protected), Ok(()));
        sell.qty = d("150");
        let buys_flying = Exposure {
            buying: d("100"),
            ..flat()
        };
        assert!(matches!(
            limits.check(&sell, &buys_flying),
            Err(RiskViolation::MaxPosition { .. })
        ));
    }

    /// Goal: the rules are checked in a fixed order and absent limits are
    /// not checked. Method: an exposure breaking every rule.
    #[test]
    fn rules_run_in_order_and_absent_limits_pass() {
        let everything = Exposure {
            daily_pnl: d("-20000"),
            held: d("20000"),
            buying: Decimal::ZERO,
            selling: Decimal::ZERO,
            recent_orders: 500,
        };
        let mut limits = RiskLimits::default();
        assert!(matches!(
            limits.check(&buy("1"), &everything),
            Err(RiskViolation::DailyLoss { .. })
        ));
        limits.daily_loss_limit = None;
        assert!(matches!(
            limits.check(&buy("1"), &everything),
            Err(RiskViolation::MaxPosition { .. })
        ));
        limits.max_position = None;
        assert!(matches!(
            limits.check(&buy("1"), &everything),
            Err(RiskViolation::OrderRate { .. })
        ));
    }
}
