//! `fillproof run`: runs scenarios and reports the metrics.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use fillproof_engine::{AuditHead, AuditKey, GENESIS, verify_chain};
use fillproof_simulator::first_divergence;
use serde::Serialize;

use super::{Exit, jobs, load_digested, progress, seed_list, spec, wall_clock, wall_ms};
use crate::cli::{Format, RunArgs};
use crate::measure::report::{Provenance, Report, ReportInput, SeedSummary, VERSION};
use crate::run::{SeedRun, run_seeds, run_seeds_into};

/// Why a run with another setup than the scenario's own skips `expect:`,
/// as its report says.
pub const OVERRIDDEN: &str = "--engine, --strategy or --orders overrides the scenario's setup";

/// Runs `run`: for each scenario, sets the run up, runs its seeds (again,
/// when checking determinism), prints its report, and writes the trace and
/// audit files asked for.
///
/// # Errors
/// A scenario that does not load, a bad flag, or a trace file that cannot
/// be written.
pub fn run(args: &RunArgs) -> Result<Exit> {
    let mut exit = Exit::Success;
    let mut trace_out = match &args.trace {
        Some(path) => {
            Some(BufWriter::new(File::create(path).with_context(|| {
                format!("creating trace file {}", path.display())
            })?))
        }
        None => None,
    };
    let audit_key = audit_key(args)?;
    for path in &args.scenarios {
        let setup = set_up(path, args, audit_key.as_ref())?;
        let ran = run_setup(&setup, args)?;
        if !ran.deterministic {
            exit = Exit::ShortFall;
        }
        let report = report(&setup, args, ran.summaries, ran.wall);
        match args.format {
            Format::Table => out!("{}", report.table()),
            Format::Json => outln!("{}", serde_json::to_string(&report)?),
        }
        if report.shortfalls().next().is_some() {
            exit = Exit::ShortFall;
        }
        if let Some(out) = &mut trace_out {
            write_traces(out, &ran.runs)?;
        }
        if let Some(audit) = &args.audit {
            let lines = ran
                .runs
                .first()
                .and_then(|r| r.audit.as_ref())
                .and_then(|a| a.lines.clone())
                .ok_or_else(|| {
                    anyhow::anyhow!("engine {} keeps no audit log", setup.spec.engine.as_str())
                })?;
            write_audit(audit, &lines, audit_key.as_ref())?;
        }
    }
    if let Some(mut out) = trace_out {
        out.flush().context("writing the trace file")?;
    }
    Ok(exit)
}

/// The key the audit log is chained under, when `--audit` asks for one
/// run's log (and only one run's).
///
/// # Errors
/// `--audit` with several scenarios or seeds, or a bad key.
fn audit_key(args: &RunArgs) -> Result<Option<AuditKey>> {
    if args.audit.is_some() && (args.scenarios.len() > 1 || args.seeds > 1) {
        return Err(anyhow::anyhow!(
            "--audit writes one run's audit log: give one scenario and one seed"
        ));
    }
    if args.audit.is_some() {
        super::audit::env_key()
    } else {
        Ok(None)
    }
}

/// One scenario's run, set up: what was loaded, the seeds (this shard's),
/// the spec with the flags applied, and its cost admitted.
struct Setup {
    scenario: std::sync::Arc<fillproof_simulator::Scenario>,
    /// The SHA-256 of the scenario file, hex.
    digest: String,
    file: String,
    first: u64,
    seeds: Vec<u64>,
    spec: crate::run::RunSpec,
    /// Flags to repeat in the replay command.
    flags: String,
    /// Whether the run keeps the scenario's own setup.
    own: bool,
    /// Orders per seed.
    orders: u64,
}

/// Loads a scenario and sets its run up from the flags.
///
/// # Errors
/// A scenario that does not load, a bad seed range or shard, a bad flag,
/// or a run that costs more than the machine has.
fn set_up(path: &Path, args: &RunArgs, audit_key: Option<&AuditKey>) -> Result<Setup> {
    let (scenario, digest) = load_digested(path)?;
    let file = path.display().to_string();
    let first = args.seed.unwrap_or(scenario.seed);
    let mut seeds = seed_list(first, args.seeds)
        .map_err(|why| anyhow::anyhow!("{file}: --seed {first} --seeds {}: {why}", args.seeds))?;
    if let Some(shard) = args.shard {
        seeds = shard.take(seeds);
        if seeds.is_empty() {
            return Err(anyhow::anyhow!(
                "--shard {}/{} leaves no seed of {}: run more seeds or fewer shards",
                shard.index + 1,
                shard.count,
                path.display()
            ));
        }
    }
    let (mut spec, flags, own) = spec(scenario.clone(), first, &args.setup)?;
    spec.record_trace = args.trace.is_some() || args.check_determinism;
    spec.swarm = spec.swarm || args.swarm;
    spec.keep_audit_lines = args.audit.is_some();
    spec.audit_key = audit_key.cloned();
    let orders = u64::from(spec.orders.unwrap_or(scenario.workload.orders.value));
    crate::run::cost::admit(&spec, seeds.len(), jobs(args.jobs))?;
    Ok(Setup {
        scenario,
        digest,
        file,
        first,
        seeds,
        spec,
        flags,
        own,
        orders,
    })
}

/// What running a scenario's seeds gave.
struct Ran {
    /// Whole runs, when something needs them (traces, determinism, the
    /// audit log); empty otherwise.
    runs: Vec<SeedRun>,
    summaries: Vec<SeedSummary>,
    wall: f64,
    /// False when a second run of the same seeds traced differently.
    deterministic: bool,
}

/// Runs the seeds with a progress bar, and again when checking
/// determinism.
///
/// # Errors
/// A seed's setup error.
fn run_setup(setup: &Setup, args: &RunArgs) -> Result<Ran> {
    let Setup {
        scenario,
        seeds,
        spec,
        orders,
        ..
    } = setup;
    let bar = progress(orders * seeds.len() as u64, &scenario.name);
    let started = wall_clock();
    // Whole runs are kept only when something needs them (traces,
    // determinism, the audit log); otherwise each is summarized as it
    // ends, so a swarm of many seeds holds one run per job at a time.
    let whole = args.trace.is_some() || args.check_determinism || args.audit.is_some();
    let (runs, summaries) = if whole {
        let runs = run_seeds(spec, seeds, jobs(args.jobs), &|| bar.inc(1))?;
        let summaries = runs.iter().map(SeedSummary::of).collect();
        (runs, summaries)
    } else {
        let summaries = run_seeds_into(spec, seeds, jobs(args.jobs), &|| bar.inc(1), |run| {
            SeedSummary::of(&run)
        })?;
        (Vec::new(), summaries)
    };
    let wall = wall_ms(started);
    bar.finish_and_clear();
    let deterministic = if args.check_determinism {
        let again = run_seeds(spec, seeds, jobs(args.jobs), &|| {})?;
        same_traces(&runs, &again, &setup.file)
    } else {
        true
    };
    Ok(Ran {
        runs,
        summaries,
        wall,
        deterministic,
    })
}

/// The scenario's report, with what it ran and how to replay it.
fn report(setup: &Setup, args: &RunArgs, summaries: Vec<SeedSummary>, wall: f64) -> Report {
    let spec = &setup.spec;
    let mut report = Report::of_summaries(
        &ReportInput {
            scenario: &setup.scenario,
            file: &setup.file,
            engine: spec.engine.as_str(),
            strategy: &args
                .setup
                .strategy
                .clone()
                .unwrap_or_else(|| spec.config.polling.name().to_owned()),
            wall_ms: wall,
            expectations: if setup.own {
                Ok(())
            } else {
                Err(OVERRIDDEN.to_owned())
            },
            replay_flags: setup.flags.clone(),
        },
        summaries,
    );
    report.provenance = Some(Provenance {
        fillproof_version: VERSION.to_owned(),
        scenario_sha256: setup.digest.clone(),
        first_seed: setup.first,
        seeds: args.seeds,
        workload_orders: setup.orders,
        orders_override: args.setup.orders,
        swarm: spec.swarm,
        shard: args.shard,
    });
    report
}

/// Writes the run's audit log to `path` and its head (records and last
/// hash, sealed when keyed) beside it, to `path` with `.head` added, for
/// `audit verify --head`.
///
/// # Errors
/// A file that cannot be written.
fn write_audit(path: &Path, lines: &[String], key: Option<&AuditKey>) -> Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    // The log was written and chained in memory just now; checking it
    // again gives the head and proves the chain before it is saved.
    let head = match verify_chain(&text, key) {
        Ok(head) => head,
        Err(_) if lines.is_empty() => AuditHead::new(0, GENESIS.to_owned(), key),
        Err(error) => {
            anyhow::bail!(
                "the run's own audit log does not verify ({error}); this is a fillproof bug, please report it"
            )
        }
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    let head_path = super::audit::head_path(path);
    std::fs::write(&head_path, head.to_json())
        .with_context(|| format!("writing {}", head_path.display()))
}

/// Compares two runs of the same seeds; prints the first divergent event of
/// each mismatch to stderr. True when all match.
pub fn same_traces(first: &[SeedRun], second: &[SeedRun], file: &str) -> bool {
    let mut same = true;
    for (a, b) in first.iter().zip(second) {
        if a.trace.hash() == b.trace.hash() {
            continue;
        }
        same = false;
        eprintln!(
            "determinism: {file} seed {} gave trace hashes {:016x} and {:016x}",
            a.seed,
            a.trace.hash(),
            b.trace.hash()
        );
        if let (Some(x), Some(y)) = (a.trace.events(), b.trace.events()) {
            if let Some((index, left, right)) = first_divergence(x, y) {
                eprintln!("  first divergent event, #{index}:");
                eprintln!(
                    "    first run:  {}",
                    left.map_or_else(|| "(none)".to_owned(), json)
                );
                eprintln!(
                    "    second run: {}",
                    right.map_or_else(|| "(none)".to_owned(), json)
                );
            }
        }
    }
    same
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[derive(Serialize)]
struct SeededEvent<'a> {
    seed: u64,
    #[serde(flatten)]
    event: &'a fillproof_simulator::TraceEvent,
}

fn write_traces<W: Write>(out: &mut W, runs: &[SeedRun]) -> Result<()> {
    for run in runs {
        for event in run.trace.events().unwrap_or_default() {
            serde_json::to_writer(
                &mut *out,
                &SeededEvent {
                    seed: run.seed,
                    event,
                },
            )?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
