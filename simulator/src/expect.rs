//! `expect:` thresholds: a metric, a comparison and a number.

use std::fmt;

/// The metrics a scenario may set thresholds on, as the harness reports
/// them.
pub const METRICS: &[&str] = &[
    "detection_rate",
    "missed_fills",
    "false_positives",
    "price_mismatches",
    "timeout_rate",
    "unresolved",
    "abandoned_orders",
    "orders_not_placed",
    "orders_shed",
    "rate_limited_share",
    "queue_wait_p50_ms",
    "queue_wait_p95_ms",
    "placement_rate",
    "duplicate_orders",
    "unknown_broker_orders",
    "engine_panics",
    "consistency_violations",
    "detection_latency_p50_ms",
    "detection_latency_p95_ms",
    "detection_latency_p99_ms",
    "detection_latency_max_ms",
    "slippage_p50_bps",
    "slippage_p95_bps",
    "slippage_worst_bps",
    "api_calls_per_order",
    "orders",
    "orders_unrun",
    "requests_unlanded",
    "crash_points_unreached",
    "filled_orders",
    "position_alarms",
    "rate_limited_calls",
    "pnl_mismatches",
    "audit_missing",
    "rate_limit_errors_surfaced",
    "risk_rejections",
    "leg_fills_missed",
    "orphaned_legs",
    "replace_races_lost",
    "cancel_latency_p50_ms",
    "cancel_latency_p95_ms",
    "crashes",
    "orders_orphaned",
    "duplicates_across_restarts",
    "missed_fills_across_restarts",
    "recovery_position_alarms",
    "recovery_p50_ms",
    "recovery_p95_ms",
    "submit_to_ack_p50_ms",
    "submit_to_ack_p95_ms",
    "submit_to_ack_p99_ms",
    "submit_to_terminal_p50_ms",
    "submit_to_terminal_p95_ms",
    "submit_to_terminal_p99_ms",
    "status_update_latency_p50_ms",
    "status_update_latency_p95_ms",
    "status_update_latency_p99_ms",
    "status_updates_ahead_of_broker",
];

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `>=`
    AtLeast,
    /// `<=`
    AtMost,
    /// `==`
    Equal,
    /// `>`
    Above,
    /// `<`
    Below,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Self::AtLeast => ">=",
            Self::AtMost => "<=",
            Self::Equal => "==",
            Self::Above => ">",
            Self::Below => "<",
        }
    }
}

/// One threshold: `metric op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The metric's name.
    pub metric: String,
    /// The comparison.
    pub comparison: Comparison,
    /// The threshold.
    pub value: f64,
}

impl Expectation {
    /// Parses `">= 0.999"` for `metric`.
    ///
    /// # Errors
    /// What is wrong and what is allowed.
    pub fn parse(metric: &str, text: &str) -> Result<Self, String> {
        if !METRICS.contains(&metric) {
            return Err(format!(
                "unknown metric `{metric}`{}; known metrics: {}",
                fillproof_engine::did_you_mean(metric, METRICS),
                METRICS.join(", ")
            ));
        }
        let trimmed = text.trim();
        let (comparison, rest) = [
            (">=", Comparison::AtLeast),
            ("<=", Comparison::AtMost),
            ("==", Comparison::Equal),
            (">", Comparison::Above),
            ("<", Comparison::Below),
        ]
        .iter()
        .find_map(|(symbol, comparison)| trimmed.strip_prefix(symbol).map(|rest| (*comparison, rest)))
        .ok_or_else(|| {
            format!("`{text}` has no comparison; write one of >=, <=, ==, >, < and a number, like \">= 0.999\"")
        })?;
        let value: f64 = rest.trim().parse().map_err(|_| {
            format!(
                "`{text}`: `{}` is not a number; write it like \">= 0.999\"",
                rest.trim()
            )
        })?;
        if !value.is_finite() {
            return Err(format!("`{text}`: the threshold must be a finite number"));
        }
        Ok(Self {
            metric: metric.to_owned(),
            comparison,
            value,
        })
    }

    /// True when `actual` meets the threshold.
    #[must_use]
    pub fn holds(&self, actual: f64) -> bool {
        match self.comparison {
            Comparison::AtLeast => actual >= self.value,
            Comparison::AtMost => actual <= self.value,
            // Metrics are ratios and counts computed from integers; an exact
            // comparison is what "== 1" means.
            Comparison::Equal => actual == self.value,
            Comparison::Above => actual > self.value,
            Comparison::Below => actual < self.value,
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.metric,
            self.comparison.symbol(),
            self.value
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every comparison parses and decides as written.
    #[test]
    fn parses_and_holds() {
        let e = Expectation::parse("detection_rate", ">= 0.9999").expect("valid");
        assert!(e.holds(1.0));
        assert!(!e.holds(0.9998));
        let e = Expectation::parse("unresolved", "<= 2").expect("valid");
        assert!(e.holds(2.0) && !e.holds(3.0));
        let e = Expectation::parse("false_positives", "== 0").expect("valid");
        assert!(e.holds(0.0) && !e.holds(1.0));
        let e = Expectation::parse("missed_fills", "> 0").expect("valid");
        assert!(e.holds(1.0) && !e.holds(0.0));
        let e = Expectation::parse("detection_rate", "< 1").expect("valid");
        assert!(e.holds(0.0) && !e.holds(1.0));
    }

    /// Unknown metrics get a suggestion; malformed thresholds say how to
    /// write them.
    #[test]
    fn refuses_bad_thresholds() {
        let error = Expectation::parse("detection_rte", ">= 1").expect_err("unknown");
        assert!(error.contains("did you mean `detection_rate`"), "{error}");
        let error = Expectation::parse("detection_rate", "about 1").expect_err("no op");
        assert!(error.contains("no comparison"), "{error}");
        let error = Expectation::parse("detection_rate", ">= lots").expect_err("nan");
        assert!(error.contains("not a number"), "{error}");
    }
}
