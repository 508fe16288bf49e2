//! `broker.visibility`: how reads lag the truth.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::distribution::DurationDist;
use crate::scenario::check::Checker;
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

impl VisibilitySpec {
    /// Checks the status spellings: some weight, and no empty spelling.
    pub(super) fn check(&self, c: &mut Checker<'_>) {
        if self.status_spelling.is_empty() {
            return;
        }
        let total: f64 = self.status_spelling.values().map(|w| w.0).sum();
        if total <= 0.0 {
            c.at(
                None,
                "broker.visibility.status_spelling",
                "weights add up to 0; give at least one spelling a positive weight",
            );
        }
        for spelling in self.status_spelling.keys() {
            if spelling.trim().is_empty() {
                c.at(
                    None,
                    "broker.visibility.status_spelling",
                    "has an empty spelling",
                );
            }
        }
    }
}
