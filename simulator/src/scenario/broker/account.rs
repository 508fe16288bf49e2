//! `broker.account`: buying power, symbols the account may not trade, and
//! whether each API key is an account of its own.

use serde::Deserialize;

use crate::scenario::values::Price;

/// The broker account behind the orders.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// Cash available for buys; a buy costing more is refused with 403.
    /// Default: a paper account's [`DEFAULT_BUYING_POWER`].
    #[serde(default)]
    pub buying_power: Option<Price>,
    /// Symbols the account may not trade; orders in them are refused with
    /// 422. Default none.
    #[serde(default)]
    pub not_tradable: Vec<String>,
    /// Whether each API key that trades over `fillproof serve` is an
    /// account of its own (its orders, positions, activities, stream and
    /// rate limit its own; another key's order ids answer 404), as at
    /// Alpaca, where a key belongs to one account. `false`: every key
    /// trades this one account. Default `true`.
    #[serde(default)]
    pub per_key: Option<bool>,
}

/// The opening balance of an account the scenario does not describe: a
/// paper account's, in dollars.
pub const DEFAULT_BUYING_POWER: u32 = 100_000;

impl super::super::Scenario {
    /// Whether each API key is an account of its own (`account.per_key`,
    /// default `true`).
    #[must_use]
    pub fn account_per_key(&self) -> bool {
        self.broker.account.per_key.unwrap_or(true)
    }

    /// The account's buying power: the `account:` block's, else the
    /// default paper account's ([`DEFAULT_BUYING_POWER`]), enforced by
    /// the broker and known to the engine: no account is unlimited (a
    /// scenario that needs more says so).
    #[must_use]
    pub fn buying_power(&self) -> rust_decimal::Decimal {
        self.broker.account.buying_power.map_or_else(
            || rust_decimal::Decimal::from(DEFAULT_BUYING_POWER),
            |p| p.0,
        )
    }
}
