//! `broker.account`: buying power and symbols the account may not trade.

use serde::Deserialize;

use crate::scenario::values::Price;

/// The broker account behind the orders.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// Cash available for buys; a buy costing more is refused with 403.
    /// Default: not limited.
    #[serde(default)]
    pub buying_power: Option<Price>,
    /// Symbols the account may not trade; orders in them are refused with
    /// 422. Default none.
    #[serde(default)]
    pub not_tradable: Vec<String>,
}

/// The opening balance of an account the scenario does not describe, when
/// it trades in a market (a `market:` section) or is served to a bot: a
/// paper account's, in dollars.
pub const DEFAULT_BUYING_POWER: u32 = 100_000;

impl super::super::Scenario {
    /// The account's buying power: the `account:` block's, else the
    /// default paper account's ([`DEFAULT_BUYING_POWER`]) for a scenario
    /// with a `market:` section; `None` (not limited) for one without,
    /// which keeps its constant prices and its unlimited account.
    #[must_use]
    pub fn buying_power(&self) -> Option<rust_decimal::Decimal> {
        self.broker.account.buying_power.map(|p| p.0).or_else(|| {
            self.market
                .as_ref()
                .map(|_| rust_decimal::Decimal::from(DEFAULT_BUYING_POWER))
        })
    }
}
