//! The `expect:` section: metric thresholds, parsed.

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::Scenario;
use super::check::Checker;
use crate::expect::Expectation;

impl Scenario {
    /// The `expect:` thresholds, parsed.
    ///
    /// # Errors
    /// The first threshold that does not parse (a loaded scenario has none).
    pub fn expectations(&self) -> Result<Vec<Expectation>, String> {
        self.expect
            .iter()
            .map(|(metric, text)| Expectation::parse(metric, &text.value))
            .collect()
    }
}

/// Checks the `expect:` section: every threshold parses.
pub(super) fn check(expect: &IndexMap<String, Spanned<String>>, c: &mut Checker<'_>) {
    for (metric, text) in expect {
        if let Err(message) = Expectation::parse(metric, &text.value) {
            c.at(Some(text.referenced), format!("expect.{metric}"), message);
        }
    }
}
