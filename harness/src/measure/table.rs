//! The report as a table for people: the run's heading, one row per
//! metric, then notes, expectations and the replay command.

use std::fmt::Write as _;

use super::metrics::Metrics;
use super::report::{Report, format_actual, format_rate, format_value};

impl Report {
    /// The human-readable table: the heading, one row per metric, then the
    /// notes, the expectations and the replay command.
    #[must_use]
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.heading());
        for (name, value) in self.rows() {
            let _ = writeln!(out, "  {name:<24} {value}");
        }
        self.write_notes(&mut out);
        self.write_expectations(&mut out);
        let _ = writeln!(out, "  replay: {}", self.replay);
        out
    }

    /// The first line: scenario, seeds, engine, polling and call budget.
    fn heading(&self) -> String {
        let seeds = if self.seeds.len() == 1 {
            format!("seed {}", self.seed)
        } else {
            format!(
                "seeds {}..{} ({})",
                self.seed,
                self.seeds.last().map_or(self.seed, |s| s.seed),
                self.seeds.len()
            )
        };
        format!(
            "{}  ({}, engine {}, polling {}, call budget {})",
            self.scenario, seeds, self.engine, self.strategy, self.call_budget
        )
    }

    /// Every metric row, in the table's order: the verdicts, the calls,
    /// the engine's book and log, then the run itself.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let m = &self.metrics;
        let mut rows = verdict_rows(m);
        rows.extend(call_rows(m));
        rows.extend(book_rows(m));
        rows.extend(group_rows(m));
        rows.push(("trace hash", self.trace_hash.clone()));
        rows.push((
            "time",
            format!(
                "{:.1}s virtual in {:.0} ms wall (x{})",
                self.virtual_seconds, self.wall_ms, self.speedup
            ),
        ));
        rows
    }

    /// The unresolved orders, the swarm's mix, the verification and why
    /// expectations went unchecked.
    fn write_notes(&self, out: &mut String) {
        for example in &self.metrics.unresolved_examples {
            let _ = writeln!(out, "  unresolved {example}");
        }
        for line in self
            .seeds
            .iter()
            .flat_map(|s| s.swarm.iter().map(move |w| (s.seed, w)))
        {
            let _ = writeln!(out, "  swarm seed {:<13} {}", line.0, line.1);
        }
        if let Some(verification) = &self.verification {
            let _ = writeln!(out, "  {:<24} {}", "verified", verification.words());
        }
        if let Some(reason) = &self.expectations_skipped {
            let _ = writeln!(out, "  expectations not checked: {reason}");
        }
    }

    /// One line per `expect:` check: threshold, verdict, actual value and
    /// the seed (or the per-seed range) behind it.
    fn write_expectations(&self, out: &mut String) {
        for check in &self.expectations {
            let _ = writeln!(
                out,
                "  expect {:<24} {:<10} {} (actual {}{})",
                check.metric,
                check.threshold,
                if check.ok { "ok" } else { "FELL SHORT" },
                format_actual(check.actual),
                match (check.failed_seed, check.per_seed_range) {
                    (Some(seed), _) => format!(" at seed {seed}"),
                    (None, Some([lo, hi])) if lo == hi => {
                        format!(" pooled; {} per seed", format_value(lo))
                    }
                    (None, Some([lo, hi])) => format!(
                        " pooled; {} to {} per seed",
                        format_value(lo),
                        format_value(hi)
                    ),
                    (None, None) => String::new(),
                }
            );
        }
    }
}

/// A metric an engine cannot produce.
fn absent() -> String {
    "n/a".to_owned()
}

/// A count, or `n/a` when absent.
fn count(value: Option<u64>) -> String {
    value.map_or_else(absent, |v| v.to_string())
}

/// The rows of what the engine concluded against the ledger: orders,
/// detection, misses, inventions, placement, duplicates, consistency.
fn verdict_rows(m: &Metrics) -> Vec<(&'static str, String)> {
    let by = &m.orders_not_placed_by_cause;
    vec![
        ("orders", m.orders.to_string()),
        ("orders unrun", m.orders_unrun.to_string()),
        ("requests unlanded", m.requests_unlanded.to_string()),
        ("filled orders", m.filled_orders.to_string()),
        ("detection rate", format_rate(m.detection_rate)),
        (
            "missed fills",
            with_examples(m.missed_fills, &m.missed_examples),
        ),
        (
            "false positives",
            with_examples(m.false_positives, &m.false_positive_examples),
        ),
        (
            "price mismatches",
            m.price_mismatches
                .map_or_else(absent, |n| with_examples(n, &m.price_mismatch_examples)),
        ),
        ("timeout rate", format!("{:.4}", m.timeout_rate)),
        ("unresolved", m.unresolved.to_string()),
        (
            "abandoned orders",
            with_examples(m.abandoned_orders, &m.abandoned_examples),
        ),
        (
            "orders not placed",
            format!(
                "{}  (rate limit {}, outage {}, rejected by broker {}, shed {}, gave up {})",
                m.orders_not_placed,
                by.rate_limit,
                by.outage,
                by.rejected_by_broker,
                by.shed,
                by.gave_up
            ),
        ),
        ("placement rate", format_rate(m.placement_rate)),
        ("duplicate orders", m.duplicate_orders.to_string()),
        ("unknown broker orders", m.unknown_broker_orders.to_string()),
        ("consistency violations", count(m.consistency_violations)),
    ]
}

/// The rows of time, price and calls: detection latency, slippage, calls
/// per order, 429s, the submit queue's wait.
fn call_rows(m: &Metrics) -> Vec<(&'static str, String)> {
    vec![
        (
            "detection latency ms",
            m.detection_latency_ms.map_or_else(absent, |l| {
                format!(
                    "p50 {:.0}  p95 {:.0}  p99 {:.0}  max {:.0}",
                    l.p50, l.p95, l.p99, l.max
                )
            }),
        ),
        (
            "slippage bps",
            m.slippage_bps.map_or_else(absent, |s| {
                format!("p50 {:.2}  p95 {:.2}  worst {:.2}", s.p50, s.p95, s.worst)
            }),
        ),
        (
            "api calls per order",
            m.api_calls_per_order.map_or_else(absent, |calls| {
                format!(
                    "{calls:.2}  ({})",
                    m.api_calls_by_endpoint
                        .iter()
                        .filter(|(_, v)| **v > 0.0)
                        .map(|(k, v)| format!("{k} {v:.2}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        ),
        (
            "rate-limited calls",
            match m.rate_limited_share {
                Some(share) => {
                    format!("{}  ({:.2}% of calls)", m.rate_limited_calls, share * 100.0)
                }
                None => m.rate_limited_calls.to_string(),
            },
        ),
        (
            "submit queue wait ms",
            m.queue_wait_ms.map_or_else(absent, |w| {
                format!("p50 {:.0}  p95 {:.0}  max {:.0}", w.p50, w.p95, w.max)
            }),
        ),
    ]
}

/// The rows of the engine's own book and log: position alarms, P&L,
/// audit, surfaced errors, risk rejections, panics.
fn book_rows(m: &Metrics) -> Vec<(&'static str, String)> {
    vec![
        ("position alarms", count(m.position_alarms)),
        ("pnl mismatches", count(m.pnl_mismatches)),
        ("audit missing", count(m.audit_missing)),
        (
            "rate-limit errors",
            m.rate_limit_errors_surfaced.to_string(),
        ),
        ("risk rejections", m.risk_rejections.to_string()),
        (
            "engine panics",
            with_examples(m.engine_panics, &m.panic_examples),
        ),
    ]
}

/// The rows of brackets, replaces and a trader's cancels, when the run
/// had any (a run of simple orders shows none of them).
fn group_rows(m: &Metrics) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if m.leg_fills_missed.is_some() {
        rows.push(("leg fills missed", count(m.leg_fills_missed)));
        rows.push(("orphaned legs", count(m.orphaned_legs)));
    }
    if m.replace_races_lost.is_some() {
        rows.push(("replace races lost", count(m.replace_races_lost)));
    }
    if let Some(l) = m.cancel_latency_ms {
        rows.push((
            "cancel latency ms",
            format!("p50 {:.0}  p95 {:.0}  max {:.0}", l.p50, l.p95, l.max),
        ));
    }
    let percentiles = |p: Option<crate::measure::metrics::Percentiles>| {
        p.map_or_else(
            || "n/a".to_owned(),
            |p| format!("p50 {:.0}  p95 {:.0}  p99 {:.0}", p.p50, p.p95, p.p99),
        )
    };
    if m.status_updates_ahead_of_broker.is_some() {
        rows.push(("submit to ack ms", percentiles(m.submit_to_ack_ms)));
        rows.push(("submit to end ms", percentiles(m.submit_to_terminal_ms)));
        rows.push(("status update ms", percentiles(m.status_update_latency_ms)));
        rows.push(("updates ahead", count(m.status_updates_ahead_of_broker)));
    }
    if let Some(crashes) = m.crashes {
        rows.push(("crashes", crashes.to_string()));
        rows.push(("orders orphaned", count(m.orders_orphaned)));
        rows.push(("restart duplicates", count(m.duplicates_across_restarts)));
        rows.push((
            "restart missed fills",
            count(m.missed_fills_across_restarts),
        ));
        rows.push(("recovery pos. alarms", count(m.recovery_position_alarms)));
        rows.push((
            "recovery ms",
            m.recovery_ms.map_or_else(
                || "n/a".to_owned(),
                |r| format!("p50 {:.0}  p95 {:.0}  max {:.0}", r.p50, r.p95, r.max),
            ),
        ));
    }
    rows
}

/// A count, with the `seed:order` examples behind it.
fn with_examples(count: u64, examples: &[String]) -> String {
    if examples.is_empty() {
        count.to_string()
    } else {
        format!("{count}  (seed:order {})", examples.join(", "))
    }
}
