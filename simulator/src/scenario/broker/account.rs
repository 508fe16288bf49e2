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
