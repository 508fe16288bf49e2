//! The checks that span several fields, run after a file parsed: the
//! problems (the file is refused) and the warnings (it loads, and they are
//! shown beside it).

use std::time::Duration;

use fillproof_engine::{
    Decimal, FillDetectionConfig, MAX_AMOUNT, MAX_PRICE, MAX_QTY, MIN_PRICE, price_in_range,
};
use serde_saphyr::Location;

use super::broker::check_flap_rate;
use super::engine::warn_waits_past_deadline;
use super::timeline::{check_timeline_event, check_timeline_orders};
use super::workload::check_listed_orders;
use super::{EngineRateLimit, FORMAT_VERSION, MAX_ORDERS, Scenario, TimelineKind, polling_config};
use crate::error::Diagnostic;
use crate::expect::Expectation;

/// `value is out of range; allowed: low to high`.
pub(super) fn out_of_range(value: impl std::fmt::Display, low: Decimal, high: Decimal) -> String {
    format!("is {value}, out of range; allowed: {low} to {high}")
}

/// Prices, quantities and money within the engine's bounds, so that no
/// arithmetic on them can overflow (see `fillproof_engine::MAX_PRICE` and
/// its neighbours).
fn check_bounds(scenario: &Scenario, c: &mut Checker<'_>) {
    let workload = &scenario.workload;
    for (symbol, price) in &workload.reference_price.value {
        if !price_in_range(price.0) {
            c.at(
                Some(workload.reference_price.referenced),
                format!("workload.reference_price.{symbol}"),
                out_of_range(price.0, MIN_PRICE, MAX_PRICE),
            );
        }
    }
    let most = workload.qty.0.upper_bound();
    if let Some(most) = most.filter(|q| *q > 1e9) {
        c.at(
            None,
            "workload.qty",
            format!("can draw {most}, out of range; allowed: 1 to {MAX_QTY}"),
        );
    }
    let commission = scenario.engine.commission.as_ref();
    let money = [
        (
            "broker.account.buying_power",
            scenario.broker.account.buying_power.map(|p| p.0),
        ),
        (
            "engine.risk.daily_loss_limit",
            scenario
                .engine
                .risk
                .as_ref()
                .and_then(|r| r.daily_loss_limit)
                .map(|p| p.0),
        ),
        (
            "engine.commission.per_order",
            commission.and_then(|c| c.per_order).map(|p| p.0),
        ),
        (
            "engine.commission.per_share",
            commission.and_then(|c| c.per_share).map(|p| p.0),
        ),
    ];
    for (field, amount) in money {
        if let Some(amount) = amount.filter(|a| *a > MAX_AMOUNT) {
            c.at(None, field, out_of_range(amount, Decimal::ZERO, MAX_AMOUNT));
        }
    }
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

/// The checks that span several fields: the problems, and the warnings.
pub(super) fn check<'a>(scenario: &Scenario, file: &'a str) -> Checker<'a> {
    let mut c = Checker {
        file,
        diagnostics: Vec::new(),
        warnings: Vec::new(),
    };
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
    let workload = &scenario.workload;
    let orders = workload.orders.value;
    if orders == 0 || orders > MAX_ORDERS {
        c.at(
            Some(workload.orders.referenced),
            "workload.orders",
            format!("is {orders}; allowed: 1 to {MAX_ORDERS}"),
        );
    }
    check_listed_orders(scenario, &mut c);
    if workload.traders == 0 {
        c.at(
            None,
            "workload.traders",
            "is 0; at least one trader places the orders",
        );
    }
    if workload.symbols.value.is_empty() {
        c.at(
            Some(workload.symbols.referenced),
            "workload.symbols",
            "is empty; list at least one symbol",
        );
    }
    let prices = &workload.reference_price.value;
    for symbol in &workload.symbols.value {
        if !prices.contains_key(symbol) {
            c.at(
                Some(workload.reference_price.referenced),
                "workload.reference_price",
                format!("has no price for symbol `{symbol}`; add `{symbol}: \"PRICE\"`"),
            );
        }
    }
    if let Some(polling) = &scenario.engine.polling {
        if let Err(message) = polling_config(&polling.value) {
            c.at(Some(polling.referenced), "engine.polling", message);
        }
        if polling.value.strategy == "hybrid" && scenario.broker.stream.is_none() {
            c.at(
                Some(polling.referenced),
                "engine.polling",
                "strategy `hybrid` detects from the broker's trade updates; add `broker.stream` (e.g. `stream: {delay: 40ms}`) or choose another strategy",
            );
        }
    }
    if let Some(disconnects) = scenario
        .broker
        .stream
        .as_ref()
        .and_then(|s| s.disconnects.as_ref())
    {
        if disconnects.value.every.0.upper_bound() == Some(0.0) {
            c.at(
                Some(disconnects.referenced),
                "broker.stream.disconnects.every",
                "is 0s; the stream must stay connected for a positive time between disconnects",
            );
        } else {
            check_flap_rate(disconnects, scenario.limits.max_virtual_time.0, &mut c);
        }
    }
    warn_waits_past_deadline(scenario, &mut c);
    if let Err(message) = scenario.detection_config() {
        let engine = &scenario.engine;
        if engine
            .polling
            .as_ref()
            .is_none_or(|p| polling_config(&p.value).is_ok())
        {
            // The line of the setting at fault, when the scenario has it.
            let line = [
                ("polling.", engine.polling.as_ref().map(|p| p.referenced)),
                ("timeout", engine.timeout.as_ref().map(|t| t.referenced)),
                (
                    "reconcile_horizon",
                    engine.reconcile_horizon.as_ref().map(|t| t.referenced),
                ),
                (
                    "partial_fill_policy",
                    engine.timeout.as_ref().map(|t| t.referenced),
                ),
            ]
            .into_iter()
            .find(|(field, _)| message.starts_with(field))
            .and_then(|(_, line)| line);
            let (field, problem) = message.split_once(' ').unwrap_or(("", &message));
            c.at(line, format!("engine.{field}"), problem);
        }
    }
    if let Some(limit) = &scenario.engine.call_timeout {
        let submit = FillDetectionConfig::default().submit_timeout;
        if limit.value.0.is_zero() || limit.value.0 > submit {
            c.at(
                Some(limit.referenced),
                "engine.call_timeout",
                format!(
                    "is {}; it must be positive and at most the submit deadline ({})",
                    crate::duration::format_duration(limit.value.0),
                    crate::duration::format_duration(submit)
                ),
            );
        }
    }
    for (endpoint, fault) in &scenario.broker.faults {
        let total: f64 = fault.value.probabilities().iter().sum();
        if total > 1.0 + 1e-12 {
            c.at(
                Some(fault.referenced),
                format!("broker.faults.{endpoint}"),
                format!("fault probabilities add up to {total}; their sum must be at most 1"),
            );
        }
    }
    let visibility = &scenario.broker.visibility;
    if !visibility.status_spelling.is_empty() {
        let total: f64 = visibility.status_spelling.values().map(|w| w.0).sum();
        if total <= 0.0 {
            c.at(
                None,
                "broker.visibility.status_spelling",
                "weights add up to 0; give at least one spelling a positive weight",
            );
        }
        for spelling in visibility.status_spelling.keys() {
            if spelling.trim().is_empty() {
                c.at(
                    None,
                    "broker.visibility.status_spelling",
                    "has an empty spelling",
                );
            }
        }
    }
    // The engine's client-side limit and the broker's bucket obey the same
    // rules; the engine refuses at run time what is let through here.
    for (section, limit) in [
        (
            "engine",
            &scenario
                .engine
                .rate_limit
                .as_ref()
                .and_then(EngineRateLimit::limit),
        ),
        ("broker", &scenario.broker.rate_limit.as_ref()),
    ] {
        let Some(limit) = limit else { continue };
        if limit.requests.value == 0 {
            c.at(
                Some(limit.requests.referenced),
                format!("{section}.rate_limit.requests"),
                "is 0; allow at least 1 request per window",
            );
        }
        if limit.per.0.is_zero() {
            c.at(
                Some(limit.requests.referenced),
                format!("{section}.rate_limit.per"),
                "is 0s; the window must be positive",
            );
        }
    }
    let stream_outages = scenario
        .broker
        .stream
        .as_ref()
        .map_or(&[][..], |s| &s.outages[..]);
    for (section, outages) in [
        ("broker.outages", &scenario.broker.outages[..]),
        ("broker.stream.outages", stream_outages),
    ] {
        for (i, outage) in outages.iter().enumerate() {
            if outage.duration.0.is_zero() {
                c.at(
                    None,
                    format!("{section}[{i}].for"),
                    "is 0s; an outage must last a positive time",
                );
            }
        }
    }
    check_bounds(scenario, &mut c);
    for (i, event) in scenario.timeline.iter().enumerate() {
        check_timeline_event(i, event, orders, &mut c);
    }
    check_timeline_orders(scenario, &mut c);
    for (i, event) in scenario.timeline.iter().enumerate() {
        if event.event.value != TimelineKind::Reject {
            continue;
        }
        let filled_before = scenario.timeline.iter().find(|other| {
            other.event.value == TimelineKind::Fill
                && crate::model::OrderTarget::of(other) == crate::model::OrderTarget::of(event)
                && other.at() <= event.at()
        });
        if let Some(fill) = filled_before {
            c.at(
                Some(event.location()),
                format!("timeline[{i}].event"),
                format!(
                    "{} fills at {} and is rejected at {}; a broker never rejects an \
                     order that has filled any quantity: use `cancel` or `expire`, or move \
                     the rejection before the fill",
                    event.target_name(),
                    crate::duration::format_duration(fill.at()),
                    crate::duration::format_duration(event.at())
                ),
            );
        }
    }
    for (metric, text) in &scenario.expect {
        if let Err(message) = Expectation::parse(metric, &text.value) {
            c.at(Some(text.referenced), format!("expect.{metric}"), message);
        }
    }
    if scenario.limits.settle.0 > Duration::from_secs(86_400) {
        c.at(
            None,
            "limits.settle",
            "is over a day; the settle window is at most 1d",
        );
    }
    if scenario.limits.max_virtual_time.0.is_zero() {
        c.at(
            None,
            "limits.max_virtual_time",
            "is 0s; give runs a positive bound",
        );
    }
    c
}
