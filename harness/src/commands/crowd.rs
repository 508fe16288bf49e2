//! `fillproof crowd`: many bots against one `serve`, the latency each
//! stage saw and the ledger against what the bots saw.

use std::time::Duration;

use anyhow::Result;

use super::{Exit, load};
use crate::cli::{CrowdArgs, Format};
use crate::crowd::{CrowdReport, CrowdSpec, run_crowd};

/// The rise in p95 latency from the first stage to the last that seed
/// 003's criterion 8 allows: less than 5%.
const P95_RATIO_TARGET: f64 = 1.05;

/// Runs `crowd`: exit 1 when the ledger is not what the bots saw, or a
/// request went unanswered or was answered other than 2xx (the latency
/// figures are the machine's, and reported, not judged).
///
/// # Errors
/// The scenario does not load, or the server cannot start.
pub fn run(args: &CrowdArgs) -> Result<Exit> {
    let scenario = load(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let spec = CrowdSpec {
        bots: args.bots.iter().map(|&n| n as usize).collect(),
        stage: Duration::from_secs(args.seconds),
        pace: Duration::from_millis(args.pace_ms),
        drain: Duration::from_secs(args.drain_seconds),
    };
    let report = run_crowd((*scenario).clone(), seed, &spec)?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string(&report)?),
        Format::Table => print_table(&report)?,
    }
    let lost: u64 = report.stages.iter().map(|s| s.lost + s.refused).sum();
    Ok(if report.ledger.holds() && lost == 0 {
        Exit::Success
    } else {
        Exit::ShortFall
    })
}

fn print_table(report: &CrowdReport) -> Result<()> {
    outln!(
        "{} (seed {}), on this machine's real clock",
        report.scenario,
        report.seed
    );
    outln!(
        "{:>5} {:>9} {:>7} {:>5} {:>7} {:>9} {:>9} {:>9}  answers",
        "bots",
        "2xx",
        "orders",
        "lost",
        "refused",
        "p50 ms",
        "p95 ms",
        "p99 ms"
    );
    for stage in &report.stages {
        let (p50, p95, p99) = stage.latency_ms.map_or_else(
            || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
            |p| {
                (
                    format!("{:.2}", p.p50),
                    format!("{:.2}", p.p95),
                    format!("{:.2}", p.p99),
                )
            },
        );
        let answers: Vec<String> = stage
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        outln!(
            "{:>5} {:>9} {:>7} {:>5} {:>7} {p50:>9} {p95:>9} {p99:>9}  {}",
            stage.bots,
            stage.requests,
            stage.orders,
            stage.lost,
            stage.refused,
            answers.join(", ")
        );
    }
    match report.p95_ratio {
        Some(ratio) => outln!(
            "p95 at {} bots / p95 at {}: {ratio:.3} (target <= {P95_RATIO_TARGET}: {})",
            report.stages.last().map_or(0, |s| s.bots),
            report.stages.first().map_or(0, |s| s.bots),
            if ratio <= P95_RATIO_TARGET {
                "met"
            } else {
                "not met"
            }
        ),
        None => outln!("p95 ratio: absent (it needs two stages with answered requests)"),
    }
    if report.ledger.holds() {
        outln!(
            "ledger: {} orders, each as its bot saw it, in its own account",
            report.ledger.orders
        );
    } else {
        outln!(
            "ledger: {} of {} orders disagree with what the bots saw:",
            report.ledger.mismatches.len(),
            report.ledger.orders
        );
        for mismatch in &report.ledger.mismatches {
            outln!("  {mismatch}");
        }
    }
    Ok(())
}
