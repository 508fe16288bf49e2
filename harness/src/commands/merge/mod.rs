//! `fillproof merge`: the shards of a run (`run --shard K/N --format json`)
//! or of a sweep (`sweep --shard K/N --format json`), combined into the
//! report, or the sweep's table, one machine would have printed.
//!
//! A merge vouches for what it prints, so it refuses (exit 2, naming the
//! report, the seed and the field) what it cannot vouch for: shards of
//! different runs (fillproof version, scenario contents, `--orders`,
//! engine setup, seeds or shard count differ), a shard missing or given
//! twice, a scenario changed since its shards ran, a seed whose raw
//! counts no run could have produced, two seeds with one trace, a report
//! that is not as this fillproof prints it (a field unknown, a label or a
//! metric changed), and a seed that, re-run, does not give what its shard
//! reported ([`vouch`]).
//!
//! Entry point: [`run`]. The refusals live in `refuse` and the re-runs in
//! [`vouch`]; both may import `crate::run` and `crate::measure` (and
//! nothing of the other subcommands), as this file may.

mod refuse;
mod vouch;

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::{Exit, jobs, load_digested};
use crate::cli::{Format, MergeArgs, Shard, Verify};
use crate::measure::junit::{Case, write_junit};
use crate::measure::report::{Provenance, Report, ReportInput, SeedSummary, Verification};
use refuse::{check_shard, every_shard_once, same_run, totals_fit};

/// The largest shard report read.
const MAX_REPORT_BYTES: u64 = 1 << 30;

/// How many examples of each kind one seed's tally names (the metrics'
/// own bound).
const EXAMPLES: u64 = 10;

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
    #[serde(default)]
    provenance: Option<Provenance>,
    seed_runs: Vec<SeedSummary>,
    #[serde(default)]
    sweep: bool,
    /// Where it was read: `FILE:LINE`.
    #[serde(skip)]
    source: String,
    /// The report as read, every field.
    #[serde(skip)]
    value: Value,
    /// The stable hash of its line's bytes, which a sample of its seeds
    /// is drawn with.
    #[serde(skip)]
    bytes_hash: u64,
}

impl ShardReport {
    /// Its provenance and slice, once [`check_shard`] has vouched for them.
    fn slice(&self) -> Result<(&Provenance, Shard)> {
        let provenance = self.provenance.as_ref().ok_or_else(|| {
            anyhow!(
                "report {}: says nothing of the run that made it (no `provenance`): it is not the output of this fillproof's `run --shard K/N --format json`; rerun the shard",
                self.source
            )
        })?;
        let shard = provenance.shard.ok_or_else(|| {
            anyhow!(
                "report {}: provenance.shard is absent: a whole run's report, not a shard's; merge combines the reports of `--shard K/N`",
                self.source
            )
        })?;
        Ok((provenance, shard))
    }
}

/// Runs `merge`.
///
/// # Errors
/// A report that cannot be read or parsed, shards of different runs, a
/// shard missing or given twice, a seed with impossible counts, or a
/// scenario file that no longer loads or has changed since the shards ran.
pub fn run(args: &MergeArgs) -> Result<Exit> {
    let merged = merge(args);
    // A refused merge leaves no earlier JUnit file standing for it: the
    // file says the merge was refused, and why.
    if let (Err(error), Some(junit)) = (&merged, &args.junit) {
        let case = Case::error("merge", "merge", &format!("merge refused: {error:#}"));
        write_junit(junit, &[case]).with_context(|| format!("writing {}", junit.display()))?;
    }
    merged
}

/// [`run`], but for the JUnit file of a refusal.
fn merge(args: &MergeArgs) -> Result<Exit> {
    let all = read_all(args)?;
    let sweeps = all.iter().filter(|shard| shard.sweep).count();
    let plan = vouch::Plan {
        verify: args.verify,
        key: args.verify_key.unwrap_or_else(vouch::random_key),
        jobs: jobs(args.jobs),
    };
    let seen = seen_of(&all)?;
    // Every group is vouched for before anything is printed.
    let merged = group(all)
        .into_iter()
        .map(|(key, shards)| merge_group(&key, shards, &seen, &plan))
        .collect::<Result<Vec<Report>>>()?;
    // A verdict no seed was re-run for is not one the merge vouches for.
    let unverified = args.verify == Verify::None;
    let exit = if unverified {
        Exit::ShortFall
    } else {
        Exit::Success
    };
    if sweeps > 0 {
        print_sweep(args, &merged, unverified, exit)
    } else {
        print_reports(args, &merged, unverified, exit)
    }
}

/// Every shard report given, each checked on its own, and no two seeds
/// with one trace.
///
/// # Errors
/// A report that cannot be read or parsed, `sweep` and `run` shards mixed,
/// a shard that fails its own checks, or two seeds with one trace.
fn read_all(args: &MergeArgs) -> Result<Vec<ShardReport>> {
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
    for shard in &all {
        check_shard(shard)?;
    }
    vouch::distinct_traces(&all)?;
    Ok(all)
}

/// Where each shard of each setup is, to say so when one is missing.
///
/// # Errors
/// A report that is not a shard's.
fn seen_of(all: &[ShardReport]) -> Result<Vec<Seen>> {
    all.iter()
        .map(|shard| {
            shard.slice().map(|(_, slice)| Seen {
                source: shard.source.clone(),
                file: shard.file.clone(),
                setup: format!("engine {}, strategy {}", shard.engine, shard.strategy),
                slice,
            })
        })
        .collect()
}

/// A group's key: scenario file, engine, strategy.
type GroupKey = (String, String, String);

/// Shards of the same scenario, engine and strategy, in first-seen order.
fn group(all: Vec<ShardReport>) -> IndexMap<GroupKey, Vec<ShardReport>> {
    let mut groups: IndexMap<GroupKey, Vec<ShardReport>> = IndexMap::new();
    for shard in all {
        let key = (
            shard.file.clone(),
            shard.engine.clone(),
            shard.strategy.clone(),
        );
        groups.entry(key).or_default().push(shard);
    }
    groups
}

/// A merged sweep: its points as one machine's sweep prints them, what was
/// verified beside them on stderr, and the JUnit file.
///
/// # Errors
/// Standard output is closed, or the JUnit file cannot be written.
fn print_sweep(args: &MergeArgs, merged: &[Report], unverified: bool, exit: Exit) -> Result<Exit> {
    if let Some(first) = merged.first() {
        let baseline = first.strategy.clone();
        super::sweep::print_points(&super::sweep::points(merged), &baseline, args.format)?;
    }
    // The points are the sweep's own; what was verified goes beside.
    for report in merged {
        if let Some(verification) = &report.verification {
            eprintln!(
                "merge: {} (strategy {}): {}",
                report.scenario,
                report.strategy,
                verification.words()
            );
        }
    }
    if let Some(junit) = &args.junit {
        // A sweep's exit is its points' (as one machine's sweep);
        // the JUnit file says what each strategy's checks found.
        let mut sweep_exit = exit;
        let cases = junit_cases(merged, unverified, &mut sweep_exit);
        write_junit(junit, &cases).with_context(|| format!("writing {}", junit.display()))?;
    }
    Ok(exit)
}

/// Merged runs: each report as `run` prints it, and the JUnit file; a
/// shortfall makes the exit one.
///
/// # Errors
/// Standard output is closed, or the JUnit file cannot be written.
fn print_reports(
    args: &MergeArgs,
    merged: &[Report],
    unverified: bool,
    mut exit: Exit,
) -> Result<Exit> {
    for report in merged {
        match args.format {
            Format::Table => out!("{}", report.table()),
            Format::Json => outln!("{}", serde_json::to_string(report)?),
        }
    }
    let cases = junit_cases(merged, unverified, &mut exit);
    if let Some(junit) = &args.junit {
        write_junit(junit, &cases).with_context(|| format!("writing {}", junit.display()))?;
    }
    Ok(exit)
}

/// One JUnit case per merged report: passed, or failed with its
/// shortfalls (and `unverified` when no seed was re-run); a failure makes
/// `exit` a shortfall.
fn junit_cases(merged: &[Report], unverified: bool, exit: &mut Exit) -> Vec<Case> {
    let mut cases = Vec::new();
    for report in merged {
        let mut failures = report.shortfall_lines();
        if unverified {
            failures.push(format!(
                "unverified: merge --verify none re-ran no seed of {}; the shards' results are taken on trust",
                report.file
            ));
        }
        cases.push(if failures.is_empty() {
            Case::pass(&report.scenario, &report.file, report.wall_ms)
        } else {
            *exit = Exit::ShortFall;
            Case::failure(
                &report.scenario,
                &report.file,
                report.wall_ms,
                &failures.join("\n"),
            )
        });
    }
    cases
}

/// Where a shard was given, of what scenario, with what setup.
struct Seen {
    source: String,
    file: String,
    setup: String,
    slice: Shard,
}

/// The report of one scenario, engine and strategy's shards, once they are
/// shown to be every slice of one run of the scenario as it is on disk:
/// the shards checked complete, the scenario checked unchanged, each
/// shard's setup rebuilt and its report checked as printed, the seeds
/// pooled into one report, and seeds re-run to verify it.
fn merge_group(
    key: &GroupKey,
    shards: Vec<ShardReport>,
    seen: &[Seen],
    plan: &vouch::Plan,
) -> Result<Report> {
    let (file, engine, strategy) = key;
    let what = check_complete(key, &shards, seen)?;
    let (scenario, mut provenance) = load_as_ran(file, &shards)?;
    // Each shard's setup, rebuilt as `run` or `sweep` builds it, and its
    // report exactly as this fillproof prints it with that setup.
    let setups = shards
        .iter()
        .map(|shard| vouch::setup_of(shard, &scenario))
        .collect::<Result<Vec<_>>>()?;
    for (shard, setup) in shards.iter().zip(&setups) {
        vouch::as_printed(shard, &scenario, setup)?;
    }
    let wall_ms: f64 = shards.iter().map(|s| s.wall_ms).sum();
    let skipped = setups[0].expectations.clone().err();
    let replay_flags = setups[0].flags.clone();
    let runs = pooled_runs(&shards, wall_ms, &what)?;
    let mut report = Report::of_summaries(
        &ReportInput {
            scenario: &scenario,
            file,
            engine,
            strategy,
            wall_ms,
            expectations: skipped.map_or(Ok(()), Err),
            replay_flags,
        },
        runs,
    );
    provenance.shard = None;
    report.provenance = Some(provenance);
    report.verification = Some(verify(&report, &shards, &setups, plan)?);
    Ok(report)
}

/// The group's shards are of one run, and every shard is there once;
/// returns the group's name for later messages.
///
/// # Errors
/// Shards of different runs, or a shard missing (saying where it is when
/// it was run with another setup) or given twice.
fn check_complete(key: &GroupKey, shards: &[ShardReport], seen: &[Seen]) -> Result<String> {
    let (file, engine, strategy) = key;
    let setup = format!("engine {engine}, strategy {strategy}");
    let what = format!("{file} ({setup})");
    for other in &shards[1..] {
        same_run(&shards[0], other, &what)?;
    }
    every_shard_once(shards, &what).map_err(|missing| {
        // The missing shard may be there, run with another engine setup.
        let elsewhere = seen.iter().find(|s| {
            s.file == *file && Some(s.slice) == missing.shard && s.setup != setup
        });
        match elsewhere {
            Some(s) => anyhow!(
                "{}; report {} holds shard {} of {file} run with {}: shards of one run share their engine and strategy",
                missing.message,
                s.source,
                s.slice,
                s.setup
            ),
            None => anyhow!("{}", missing.message),
        }
    })?;
    Ok(what)
}

/// The scenario as it is on disk, shown to be the one the shards ran, and
/// the shards' provenance.
///
/// # Errors
/// A scenario that no longer loads, has changed since the shards ran, or
/// makes another workload than the shards say.
fn load_as_ran(
    file: &str,
    shards: &[ShardReport],
) -> Result<(std::sync::Arc<fillproof_simulator::Scenario>, Provenance)> {
    let (provenance, _) = shards[0].slice()?;
    let provenance = provenance.clone();
    let (scenario, digest) = load_digested(Path::new(file))
        .with_context(|| format!("loading {file}, the scenario the shards ran"))?;
    if digest != provenance.scenario_sha256 {
        bail!(
            "{file} has changed since its shards ran (SHA-256 {} then, {digest} now): its `expect:` thresholds may not be the ones the shards ran under; merge with the scenario as it was, or rerun the shards",
            provenance.scenario_sha256
        );
    }
    let workload = provenance
        .orders_override
        .unwrap_or(scenario.workload.orders.value);
    if provenance.workload_orders != u64::from(workload) {
        bail!(
            "report {}: provenance.workload_orders is {}, and {file} with --orders {} makes a workload of {workload}",
            shards[0].source,
            provenance.workload_orders,
            provenance
                .orders_override
                .map_or_else(|| "(none)".to_owned(), |n| n.to_string()),
        );
    }
    Ok((scenario, provenance))
}

/// Every shard's seeds, in seed order, each once, with totals a run could
/// have produced.
///
/// # Errors
/// A seed in two shards, or totals that do not fit.
fn pooled_runs(shards: &[ShardReport], wall_ms: f64, what: &str) -> Result<Vec<SeedSummary>> {
    let mut runs: Vec<SeedSummary> = shards
        .iter()
        .flat_map(|s| s.seed_runs.iter().cloned())
        .collect();
    runs.sort_by_key(|r| r.seed);
    if let Some(pair) = runs.windows(2).find(|w| w[0].seed == w[1].seed) {
        bail!(
            "seed {} of {what} is in two shards; merge each shard once",
            pair[0].seed
        );
    }
    totals_fit(&runs, wall_ms, what)?;
    Ok(runs)
}

/// Re-runs seeds: a sample of each shard's, and every seed a threshold
/// fell short on, so that a failure printed is one a run makes.
///
/// # Errors
/// A seed that, re-run, does not give what its shard reported.
fn verify(
    report: &Report,
    shards: &[ShardReport],
    setups: &[vouch::Setup],
    plan: &vouch::Plan,
) -> Result<Verification> {
    let mut picks: Vec<BTreeSet<u64>> = shards.iter().map(|s| vouch::sample(s, plan)).collect();
    if plan.verify != Verify::None {
        for seed in report.shortfalls().filter_map(|check| check.failed_seed) {
            if let Some(i) = shards
                .iter()
                .position(|s| s.seed_runs.iter().any(|r| r.seed == seed))
            {
                picks[i].insert(seed);
            }
        }
    }
    let mut verified = Vec::new();
    for ((shard, setup), pick) in shards.iter().zip(setups).zip(&picks) {
        vouch::rerun(shard, setup, pick, plan.jobs)?;
        verified.extend(pick.iter().copied());
    }
    verified.sort_unstable();
    let sampled = matches!(plan.verify, Verify::Sample | Verify::PerShard(_));
    Ok(Verification {
        mode: plan.verify.to_string(),
        key: sampled.then(|| format!("{:016x}", plan.key)),
        seeds: report.seed_runs.len() as u64,
        verified,
    })
}

/// The reports in one JSON-lines file, each told where it was read.
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
            let source = format!("{}:{}", path.display(), number + 1);
            let not_a_report = |error: serde_json::Error| {
                anyhow!("report {source}: not a `fillproof run --format json` report: {error}")
            };
            let value: Value = serde_json::from_str(line).map_err(not_a_report)?;
            let report: ShardReport =
                serde_json::from_value(value.clone()).map_err(not_a_report)?;
            Ok(ShardReport {
                source: source.clone(),
                value,
                bytes_hash: fillproof_engine::stable_hash(line.as_bytes()),
                ..report
            })
        })
        .collect::<Result<_>>()?;
    if reports.is_empty() {
        return Err(anyhow!("report {} holds no report", path.display()));
    }
    Ok(reports)
}
