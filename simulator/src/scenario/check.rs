//! The checks that span several fields, run after a file parsed: the
//! problems (the file is refused) and the warnings (it loads, and they are
//! shown beside it).

use fillproof_engine::{Decimal, MAX_AMOUNT};
use serde_saphyr::Location;

use super::{
    FORMAT_VERSION, Scenario, broker, crashes, engine, expect, limits, market, timeline, workload,
};
use crate::error::Diagnostic;

/// `value is out of range; allowed: low to high`.
pub(super) fn out_of_range(value: impl std::fmt::Display, low: Decimal, high: Decimal) -> String {
    format!("is {value}, out of range; allowed: {low} to {high}")
}

pub(super) struct Checker<'a> {
    file: &'a str,
    pub(super) diagnostics: Vec<Diagnostic>,
    pub(super) warnings: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn diagnostic(
        &self,
        location: Option<Location>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: self.file.to_owned(),
            line: location.map(|l| l.line()).filter(|l| *l > 0),
            column: location.map(|l| l.column()).filter(|c| *c > 0),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A problem: the file is refused.
    pub(super) fn at(
        &mut self,
        location: Option<Location>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let diagnostic = self.diagnostic(location, field, message);
        self.diagnostics.push(diagnostic);
    }

    /// A warning: the file loads, and the warning is shown beside it.
    pub(super) fn warn(
        &mut self,
        location: Option<Location>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let diagnostic = self.diagnostic(location, field, message);
        self.warnings.push(diagnostic);
    }
}

/// The checks that span several fields, section by section: the problems,
/// and the warnings.
///
/// Problems are listed in file order, and those without a line (and
/// those on one node) in the order found here, so the order of the calls
/// below is part of what a user reads: keep it. That is why the bounds on
/// prices, quantities and money come after every section's own checks.
pub(super) fn check<'a>(scenario: &Scenario, file: &'a str) -> Checker<'a> {
    let mut c = Checker {
        file,
        diagnostics: Vec::new(),
        warnings: Vec::new(),
    };
    check_version(scenario, &mut c);
    workload::check(&scenario.workload, &mut c);
    engine::check(scenario, &mut c);
    broker::check(scenario, &mut c);
    market::check(scenario, &mut c);
    workload::check_bounds(&scenario.workload, &mut c);
    broker::check_bounds(&scenario.broker, &mut c);
    engine::check_bounds(&scenario.engine, &mut c);
    timeline::check(scenario, &mut c);
    crashes::check(scenario, &mut c);
    expect::check(&scenario.expect, &mut c);
    limits::check(&scenario.limits, &mut c);
    c
}

/// Refuses a format version this build does not read.
fn check_version(scenario: &Scenario, c: &mut Checker<'_>) {
    if scenario.version.value != FORMAT_VERSION {
        c.at(
            Some(scenario.version.referenced),
            "version",
            format!(
                "is {}; this build reads version {FORMAT_VERSION}",
                scenario.version.value
            ),
        );
    }
}

/// Refuses an amount of money above what the engine's arithmetic holds.
pub(super) fn check_amount(field: &str, amount: Option<Decimal>, c: &mut Checker<'_>) {
    if let Some(amount) = amount.filter(|a| *a > MAX_AMOUNT) {
        c.at(None, field, out_of_range(amount, Decimal::ZERO, MAX_AMOUNT));
    }
}
