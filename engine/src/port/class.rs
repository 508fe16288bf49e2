//! What an order carries beyond a side, a quantity and a limit: its class
//! (a bracket, OCO or OTO and their exit legs), the stop that triggers it
//! and how far a trailing stop trails. Shaped like Alpaca's request fields.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How an order relates to the orders placed with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderClass {
    /// One order on its own.
    #[default]
    Simple,
    /// An entry with a take-profit and a stop-loss leg, held until the
    /// entry fills, then one cancels the other.
    Bracket,
    /// One cancels other: a take-profit limit and a stop-loss, the first
    /// to fill cancels the other.
    Oco,
    /// One triggers other: an entry whose one exit leg is held until it
    /// fills.
    Oto,
}

impl OrderClass {
    /// Alpaca's spelling: `simple`, `bracket`, `oco`, `oto`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Bracket => "bracket",
            Self::Oco => "oco",
            Self::Oto => "oto",
        }
    }

    /// The class Alpaca spells `text` (`""` is a simple order).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "" | "simple" => Self::Simple,
            "bracket" => Self::Bracket,
            "oco" => Self::Oco,
            "oto" => Self::Oto,
            _ => return None,
        })
    }
}

/// How far a trailing stop's stop price trails the best price since the
/// order was placed (its high-water mark).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trail {
    /// A fixed distance in dollars (`trail_price`).
    Price(Decimal),
    /// A percentage of the high-water mark (`trail_percent`).
    Percent(Decimal),
}

impl Trail {
    /// The stop price this trail sets for an order on `side` whose best
    /// price so far is `hwm` (the highest for a sell, the lowest for a
    /// buy): below it for a sell, above it for a buy, to the cent.
    #[must_use]
    pub fn stop_price(self, side: crate::port::Side, hwm: Decimal) -> Decimal {
        let distance = match self {
            Self::Price(price) => price,
            Self::Percent(pct) => hwm * pct / Decimal::ONE_HUNDRED,
        };
        (hwm + side.sign() * distance).round_dp(2)
    }
}

/// The stop-loss leg of a bracket, OCO or OTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopLoss {
    /// The price that triggers it.
    pub stop_price: Decimal,
    /// With a limit, it becomes a stop-limit order when triggered.
    pub limit_price: Option<Decimal>,
}
