//! `fillproof merge`: the shards of a run (`run --shard K/N --format json`)
//! or of a sweep (`sweep --shard K/N --format json`), combined into the
//! report, or the sweep's table, one machine would have printed.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use indexmap::IndexMap;
use serde::Deserialize;

use super::{Exit, load};
use crate::cli::{Format, MergeArgs};
use crate::junit::{Case, write_junit};
use crate::report::{Report, ReportInput, SeedSummary};

/// The largest shard report read.
const MAX_REPORT_BYTES: u64 = 1 << 30;

/// What a shard's JSON report holds that the merged report is built from.
#[derive(Deserialize)]
struct ShardReport {
    file: String,
    engine: String,
    strategy: String,
    wall_ms: f64,
    #[serde(default)]
    expectations_skipped: Option<String>,
    replay_flags: String,
    seed_runs: Vec<SeedSummary>,
    #[serde(default)]
    sweep: bool,
}

/// Runs `merge`.
///
/// # Errors
/// A report that cannot be read or parsed, a seed in two shards, or a
/// scenario file that no longer loads.
pub fn run(args: &MergeArgs) -> Result<Exit> {
    // Shards of the same scenario, engine and strategy, in first-seen order.
    let mut groups: IndexMap<(String, String, String), Vec<ShardReport>> = IndexMap::new();
    let mut all = Vec::new();
    for path in &args.reports {
        all.extend(read_reports(path)?);
    }
    let sweeps = all.iter().filter(|shard| shard.sweep).count();
    if sweeps > 0 && sweeps < all.len() {
        return Err(anyhow!(
            "the reports mix `sweep --shard` and `run --shard` output; merge each kind apart"
        ));
    }
    for shard in all {
        let key = (
            shard.file.clone(),
            shard.engine.clone(),
            shard.strategy.clone(),
        );
        groups.entry(key).or_default().push(shard);
    }
    let mut exit = Exit::Success;
    let mut cases = Vec::new();
    let mut merged = Vec::new();
    for ((file, engine, strategy), shards) in groups {
        let scenario = load(Path::new(&file))
            .with_context(|| format!("loading {file}, the scenario the shards ran"))?;
        let wall_ms = shards.iter().map(|s| s.wall_ms).sum();
        let skipped = shards.iter().find_map(|s| s.expectations_skipped.clone());
        let replay_flags = shards[0].replay_flags.clone();
        let mut runs: Vec<SeedSummary> = shards.into_iter().flat_map(|s| s.seed_runs).collect();
        runs.sort_by_key(|r| r.seed);
        if let Some(pair) = runs.windows(2).find(|w| w[0].seed == w[1].seed) {
            return Err(anyhow!(
                "seed {} of {file} is in two shards; merge each shard once",
                pair[0].seed
            ));
        }
        let report = Report::of_summaries(
            &ReportInput {
                scenario: &scenario,
                file: &file,
                engine: &engine,
                strategy: &strategy,
                wall_ms,
                expectations: skipped.map_or(Ok(()), Err),
                replay_flags,
            },
            runs,
        );
        if sweeps > 0 {
            merged.push(report);
            continue;
        }
        match args.format {
            Format::Table => out!("{}", report.table()),
            Format::Json => outln!("{}", serde_json::to_string(&report)?),
        }
        let failures = report.shortfall_lines();
        cases.push(if failures.is_empty() {
            Case::pass(&report.scenario, &file, report.wall_ms)
        } else {
            exit = Exit::ShortFall;
            Case::failure(
                &report.scenario,
                &file,
                report.wall_ms,
                &failures.join("\n"),
            )
        });
    }
    if let Some(first) = merged.first() {
        let baseline = first.strategy.clone();
        super::sweep::print_points(&super::sweep::points(&merged), &baseline, args.format)?;
        return Ok(exit);
    }
    if let Some(junit) = &args.junit {
        write_junit(junit, &cases).with_context(|| format!("writing {}", junit.display()))?;
    }
    Ok(exit)
}

/// The reports in one JSON-lines file.
fn read_reports(path: &Path) -> Result<Vec<ShardReport>> {
    let text = fillproof_simulator::read_bounded_text(
        path,
        MAX_REPORT_BYTES,
        "reports are `fillproof run --format json` output",
    )
    .map_err(|message| anyhow!("report {}: {message}", path.display()))?;
    let reports: Vec<ShardReport> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line).map_err(|error| {
                anyhow!(
                    "report {}:{}: not a `fillproof run --format json` report: {error}",
                    path.display(),
                    number + 1
                )
            })
        })
        .collect::<Result<_>>()?;
    if reports.is_empty() {
        return Err(anyhow!("report {} holds no report", path.display()));
    }
    Ok(reports)
}
