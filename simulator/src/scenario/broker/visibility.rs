//! `broker.visibility`: how reads lag the truth.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::distribution::DurationDist;
use crate::scenario::values::{Probability, Weight};

/// How reads lag the truth.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisibilitySpec {
    /// How long the status field lags `filled_qty`, per order; default 0.
    #[serde(default)]
    pub status_lag: DurationDist,
    /// Weights of the spellings of the filled status; default `filled`.
    #[serde(default)]
    pub status_spelling: IndexMap<String, Weight>,
    /// Reads that return an older snapshot.
    #[serde(default)]
    pub stale_reads: Option<StaleReadSpec>,
}

/// Reads that return an older snapshot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaleReadSpec {
    /// Chance a read is stale.
    pub probability: Probability,
    /// How old the snapshot is.
    pub age: DurationDist,
}
