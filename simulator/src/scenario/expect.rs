//! The `expect:` section: metric thresholds, parsed.

use super::Scenario;
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
