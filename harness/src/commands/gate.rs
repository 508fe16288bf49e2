//! `fillproof gate`: every scenario against its `expect:` thresholds, for
//! CI. Prints each shortfall with the metric, the threshold, the actual
//! value and the command that replays it; writes JUnit XML on request.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{Exit, jobs, load, run::same_traces, scenario_files, seed_list, wall_clock, wall_ms};
use crate::cli::GateArgs;
use crate::junit::{Case, write_junit};
use crate::report::{Report, format_rate};
use crate::run::{RunSpec, run_seeds};

/// Runs `gate`.
///
/// # Errors
/// A path that does not exist, or a JUnit file that cannot be written. A
/// scenario that does not load is reported as a failed case and makes the
/// exit code 2.
pub fn run(args: &GateArgs) -> Result<(Exit, bool)> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths.clone()
    };
    let files = scenario_files(&paths)?;
    if files.is_empty() {
        return Err(anyhow::anyhow!(
            "no scenario files (*.yaml) under {}; a gate that runs nothing cannot pass",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let files = match args.shard {
        Some(shard) => {
            let total = files.len();
            let mine = shard.take(files);
            if mine.is_empty() {
                return Err(anyhow::anyhow!(
                    "--shard {}/{} leaves none of the {total} scenarios; a gate that runs nothing cannot pass",
                    shard.index + 1,
                    shard.count
                ));
            }
            mine
        }
        None => files,
    };
    let mut cases = Vec::new();
    let mut bad_input = false;
    let mut short = false;
    outln!(
        "{:<6} {:<42} {:<9} {:>6} {:>9} {:>6} {:>6} {:>6} {:>6} {:>8}",
        "result",
        "scenario",
        "budget",
        "orders",
        "detection",
        "missed",
        "false+",
        "unres",
        "dupes",
        "wall ms"
    );
    for path in &files {
        let file = path.display().to_string();
        let scenario = match load(path) {
            Ok(scenario) => scenario,
            Err(error) => {
                bad_input = true;
                outln!("{:<6} {file}\n{error:#}", "ERROR");
                cases.push(Case::error(&file, &file, &format!("{error:#}")));
                continue;
            }
        };
        let seeds = match seed_list(scenario.seed, args.seeds) {
            Ok(seeds) => seeds,
            Err(why) => {
                bad_input = true;
                let error = format!(
                    "{file}: the scenario's seed {} with --seeds {}: {why}",
                    scenario.seed, args.seeds
                );
                outln!("{:<6} {error}", "ERROR");
                cases.push(Case::error(&scenario.name, &file, &error));
                continue;
            }
        };
        let mut spec = RunSpec::from_scenario(scenario.clone(), scenario.seed)?;
        spec.record_trace = args.check_determinism;
        if let Err(error) = crate::run::cost::admit(&spec, seeds.len(), jobs(args.jobs)) {
            bad_input = true;
            outln!("{:<6} {file}\n{error:#}", "ERROR");
            cases.push(Case::error(&scenario.name, &file, &format!("{error:#}")));
            continue;
        }
        let started = wall_clock();
        let runs = run_seeds(&spec, &seeds, jobs(args.jobs), &|| {})?;
        let wall = wall_ms(started);
        let deterministic = !args.check_determinism
            || same_traces(
                &runs,
                &run_seeds(&spec, &seeds, jobs(args.jobs), &|| {})?,
                &file,
            );
        let report = Report::own_setup(&scenario, &file, &spec, wall, &runs);
        let mut failures = report.shortfall_lines();
        if report.expectations.is_empty() {
            failures.push(format!(
                "{file} has no `expect:` thresholds; a gate needs at least one"
            ));
        }
        if !deterministic {
            failures.push(format!(
                "trace differs between two runs of the same seed · replay: {}",
                report.replay
            ));
        }
        let m = &report.metrics;
        outln!(
            "{:<6} {:<42} {:<9} {:>6} {:>9} {:>6} {:>6} {:>6} {:>6} {:>8.0}",
            if failures.is_empty() { "PASS" } else { "FAIL" },
            scenario.name,
            crate::report::budget_short(&scenario, spec.engine.as_str()),
            m.orders,
            format_rate(m.detection_rate),
            m.missed_fills,
            m.false_positives,
            m.unresolved,
            m.duplicate_orders,
            wall
        );
        for failure in &failures {
            outln!("       {failure}");
        }
        short |= !failures.is_empty();
        cases.push(if failures.is_empty() {
            Case::pass(&scenario.name, &file, wall)
        } else {
            Case::failure(&scenario.name, &file, wall, &failures.join("\n"))
        });
    }
    if let Some(junit) = &args.junit {
        write_junit(junit, &cases).with_context(|| format!("writing {}", junit.display()))?;
    }
    let passed = cases.iter().filter(|c| c.passed()).count();
    outln!("{passed} passed, {} failed", cases.len() - passed);
    Ok((
        if short {
            Exit::ShortFall
        } else {
            Exit::Success
        },
        bad_input,
    ))
}
