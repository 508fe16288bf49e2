//! `broker.fill` and `broker.rejections`: whether, when, in how many
//! pieces and at what price orders fill, and which are rejected.

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::distribution::{DurationDist, NumberDist};
use crate::scenario::values::Probability;

/// When and how orders fill.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillSpec {
    /// Chance an order fills at all; default 1.
    #[serde(default = "certain")]
    pub probability: Probability,
    /// Time from acceptance to the first fill; default 0.
    #[serde(default)]
    pub delay: DurationDist,
    /// Fills in several pieces.
    #[serde(default)]
    pub partial: Option<PartialSpec>,
    /// Price slippage in basis points, positive against the trader; default 0.
    #[serde(default)]
    pub slippage_bps: NumberDist,
}

fn certain() -> Probability {
    Probability(1.0)
}

impl Default for FillSpec {
    fn default() -> Self {
        Self {
            probability: certain(),
            delay: DurationDist::default(),
            partial: None,
            slippage_bps: NumberDist::default(),
        }
    }
}

/// Fills in several pieces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialSpec {
    /// Chance a filling order fills in pieces.
    pub probability: Probability,
    /// How many pieces, `[low, high]`, 2 to 1000.
    pub pieces: PiecesRange,
    /// Time between pieces.
    #[serde(default)]
    pub spacing: DurationDist,
    /// Chance that the last piece never fills: the remainder rests until
    /// it is cancelled. Default 0.
    #[serde(default)]
    pub unfilled: Probability,
}

/// A range of piece counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiecesRange {
    /// Fewest pieces.
    pub low: u32,
    /// Most pieces.
    pub high: u32,
}

impl<'de> Deserialize<'de> for PiecesRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Vec::<u32>::deserialize(deserializer)?;
        let [low, high] = values[..] else {
            return Err(de::Error::custom(format!(
                "`pieces` takes two counts [low, high], got {}",
                values.len()
            )));
        };
        if low < 2 || high > 1000 || high < low {
            return Err(de::Error::custom(format!(
                "`pieces` [{low}, {high}] is out of range; allowed: 2 <= low <= high <= 1000"
            )));
        }
        Ok(Self { low, high })
    }
}

/// Rejections of submitted orders.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionSpec {
    /// Chance a submit is refused at once (422); default 0.
    #[serde(default)]
    pub probability: Probability,
    /// Chance an accepted order is rejected later; default 0.
    #[serde(default)]
    pub async_probability: Probability,
    /// When, after acceptance, a later rejection lands; default 0.
    #[serde(default)]
    pub async_delay: DurationDist,
}
