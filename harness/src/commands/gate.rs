//! `fillproof gate`: every scenario against its `expect:` thresholds, for
//! CI. Prints each shortfall with the metric, the threshold, the actual
//! value and the command that replays it; writes JUnit XML on request.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use fillproof_simulator::Scenario;

use super::{Exit, jobs, load, run::same_traces, scenario_files, seed_list, wall_clock, wall_ms};
use crate::cli::GateArgs;
use crate::measure::junit::{Case, write_junit};
use crate::measure::report::{Report, format_rate};
use crate::run::{RunSpec, run_seeds};

/// Runs `gate`: picks the scenario files, then gates each in turn (a
/// scenario that cannot run is a failed case), then writes the JUnit file
/// and the totals.
///
/// # Errors
/// A path that does not exist, or a JUnit file that cannot be written. A
/// scenario that does not load is reported as a failed case and makes the
/// exit code 2.
pub fn run(args: &GateArgs) -> Result<(Exit, bool)> {
    let files = gate_files(args)?;
    let mut cases = Vec::new();
    let mut bad_input = false;
    let mut short = false;
    print_header()?;
    for path in &files {
        let file = path.display().to_string();
        let prepared = match prepare(path, &file, args)? {
            Ok(prepared) => prepared,
            Err(refused) => {
                bad_input = true;
                outln!("{}", refused.line);
                cases.push(refused.case);
                continue;
            }
        };
        let gated = gate(&prepared, &file, args)?;
        print_row(&prepared, &gated)?;
        short |= !gated.failures.is_empty();
        cases.push(gated.case(&prepared.scenario.name, &file));
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

/// The scenario files the gate runs: those under the paths given (or
/// `scenarios`), this shard's share of them when sharded; none is an error.
fn gate_files(args: &GateArgs) -> Result<Vec<PathBuf>> {
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
    match args.shard {
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
            Ok(mine)
        }
        None => Ok(files),
    }
}

/// The table's header line.
fn print_header() -> Result<()> {
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
    Ok(())
}

/// A scenario ready to run: loaded, its seeds listed, its cost admitted.
struct Prepared {
    scenario: Arc<Scenario>,
    seeds: Vec<u64>,
    spec: RunSpec,
}

/// A scenario that cannot run: the line to print and its failed case.
struct Refused {
    line: String,
    case: Case,
}

/// Loads a scenario, lists its seeds and admits the run's cost; a scenario
/// that fails any of these is refused as bad input.
///
/// # Errors
/// A scenario whose own setup does not make a run.
fn prepare(path: &Path, file: &str, args: &GateArgs) -> Result<Result<Prepared, Refused>> {
    let scenario = match load(path) {
        Ok(scenario) => scenario,
        Err(error) => {
            return Ok(Err(Refused {
                line: format!("{:<6} {file}\n{error:#}", "ERROR"),
                case: Case::error(file, file, &format!("{error:#}")),
            }));
        }
    };
    let seeds = match seed_list(scenario.seed, args.seeds) {
        Ok(seeds) => seeds,
        Err(why) => {
            let error = format!(
                "{file}: the scenario's seed {} with --seeds {}: {why}",
                scenario.seed, args.seeds
            );
            return Ok(Err(Refused {
                line: format!("{:<6} {error}", "ERROR"),
                case: Case::error(&scenario.name, file, &error),
            }));
        }
    };
    let mut spec = RunSpec::from_scenario(scenario.clone(), scenario.seed)?;
    spec.record_trace = args.check_determinism;
    if let Err(error) = crate::run::cost::admit(&spec, seeds.len(), jobs(args.jobs)) {
        return Ok(Err(Refused {
            line: format!("{:<6} {file}\n{error:#}", "ERROR"),
            case: Case::error(&scenario.name, file, &format!("{error:#}")),
        }));
    }
    Ok(Ok(Prepared {
        scenario,
        seeds,
        spec,
    }))
}

/// What gating one scenario found.
struct Gated {
    report: Report,
    /// Every reason it fails; none when it passes.
    failures: Vec<String>,
    wall: f64,
}

impl Gated {
    /// The scenario's JUnit case.
    fn case(&self, name: &str, file: &str) -> Case {
        if self.failures.is_empty() {
            Case::pass(name, file, self.wall)
        } else {
            Case::failure(name, file, self.wall, &self.failures.join("\n"))
        }
    }
}

/// Runs a scenario's seeds (twice, when checking determinism) and lists
/// what fell short: thresholds, a missing `expect:`, traces that differ.
///
/// # Errors
/// A seed's setup error.
fn gate(prepared: &Prepared, file: &str, args: &GateArgs) -> Result<Gated> {
    let Prepared {
        scenario,
        seeds,
        spec,
    } = prepared;
    let started = wall_clock();
    let runs = run_seeds(spec, seeds, jobs(args.jobs), &|| {})?;
    let wall = wall_ms(started);
    let deterministic = !args.check_determinism
        || same_traces(
            &runs,
            &run_seeds(spec, seeds, jobs(args.jobs), &|| {})?,
            file,
        );
    let report = Report::own_setup(scenario, file, spec, wall, &runs);
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
    Ok(Gated {
        report,
        failures,
        wall,
    })
}

/// The scenario's row, and a line for each failure under it.
fn print_row(prepared: &Prepared, gated: &Gated) -> Result<()> {
    let m = &gated.report.metrics;
    outln!(
        "{:<6} {:<42} {:<9} {:>6} {:>9} {:>6} {:>6} {:>6} {:>6} {:>8.0}",
        if gated.failures.is_empty() {
            "PASS"
        } else {
            "FAIL"
        },
        prepared.scenario.name,
        crate::measure::report::budget_short(&prepared.scenario, prepared.spec.engine.as_str()),
        m.orders,
        format_rate(m.detection_rate),
        m.missed_fills,
        m.false_positives,
        m.unresolved,
        m.duplicate_orders,
        gated.wall
    );
    for failure in &gated.failures {
        outln!("       {failure}");
    }
    Ok(())
}
