//! What a merge checks beyond a shard's own arithmetic: that no two seeds
//! carry one trace, that each report is exactly what this fillproof prints
//! for its seeds with its setup (no field unknown, no label or metric
//! changed), and, by re-running seeds, that a seed's results are what the
//! seed makes.
//!
//! The scenario is on disk (its digest checked) and the fillproof is the
//! one that ran the shards, so each seed's summary can be made again with
//! [`run_seed`](crate::run::run_seed), from the setup the report says it
//! ran with, rebuilt as `run` and `sweep` build it. A seed re-run that
//! differs from its shard's summary in any field refuses the merge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum as _;
use fillproof_simulator::Scenario;
use serde_json::Value;

use super::ShardReport;
use crate::cli::{EngineArg, SetupArgs, Verify};
use crate::measure::report::{Report, ReportInput, SeedSummary, VERSION, hex};
use crate::run::{RunSpec, run_seeds_into};

/// How a merge re-runs seeds.
pub(super) struct Plan {
    /// Which seeds (`--verify`).
    pub verify: Verify,
    /// The key a sample is drawn with (`--verify-key`, or random).
    pub key: u64,
    /// Seeds re-run at once.
    pub jobs: usize,
}

/// A key no shard's author can know before the merge: the standard
/// library draws `RandomState`'s keys from the operating system's entropy.
/// (A merge reads no clock or entropy inside a simulated run; this is the
/// merge's own choice of what to re-run.)
pub(super) fn random_key() -> u64 {
    use std::hash::BuildHasher as _;
    std::hash::RandomState::new().hash_one(0x5eed_u64)
}

/// The setup a shard's report says it ran with, rebuilt as `run` (or, for
/// a sweep's report, `sweep`) builds it.
pub(super) struct Setup {
    /// What each seed ran with.
    pub spec: RunSpec,
    /// The strategy's name, as the report says it.
    pub strategy: String,
    /// The flags the replay command repeats.
    pub flags: String,
    /// `expect:` evaluated, or the reason it was not.
    pub expectations: Result<(), String>,
}

impl Setup {
    /// The setup in words, for messages.
    fn words(&self) -> String {
        let mut words = format!(
            "engine {}, strategy {}",
            self.spec.engine.as_str(),
            self.strategy
        );
        if let Some(orders) = self.spec.orders {
            words.push_str(&format!(", --orders {orders}"));
        }
        if self.spec.swarm {
            words.push_str(", swarm mode");
        }
        words
    }
}

/// The flags of a report's `replay_flags`, as `run` writes them
/// (`--engine E --strategy S --orders N`, each at most once).
fn flags_of(text: &str) -> Result<SetupArgs, String> {
    let mut setup = SetupArgs {
        engine: None,
        strategy: None,
        orders: None,
    };
    let mut words = text.split_whitespace();
    while let Some(flag) = words.next() {
        let value = words.next().ok_or_else(|| format!("{flag} has no value"))?;
        match flag {
            "--engine" if setup.engine.is_none() => {
                setup.engine = Some(EngineArg::from_str(value, false)?);
            }
            "--strategy" if setup.strategy.is_none() => setup.strategy = Some(value.to_owned()),
            "--orders" if setup.orders.is_none() => {
                setup.orders = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--orders {value} is not a count of orders"))?,
                );
            }
            other => {
                return Err(format!(
                    "{other} is not a flag a report repeats (--engine, --strategy, --orders, each once)"
                ));
            }
        }
    }
    Ok(setup)
}

/// The setup `shard` ran with: the scenario's, overridden by the flags its
/// report repeats, in swarm mode as its provenance says, rebuilt as `run`
/// or `sweep` builds it.
///
/// # Errors
/// Flags `run` does not write, or that disagree with the provenance or
/// the scenario.
pub(super) fn setup_of(shard: &ShardReport, scenario: &Arc<Scenario>) -> Result<Setup> {
    let (provenance, _) = shard.slice()?;
    let source = &shard.source;
    let given = &shard.replay_flags;
    let args =
        flags_of(given).map_err(|why| anyhow!("report {source}: replay_flags {given:?}: {why}"))?;
    let (mut spec, flags, own) =
        super::super::spec(Arc::clone(scenario), provenance.first_seed, &args)
            .with_context(|| format!("report {source}: replay_flags {given:?}"))?;
    if flags != *given {
        bail!(
            "report {source}: replay_flags is {given:?}, and fillproof {VERSION} writes those flags {flags:?}"
        );
    }
    if args.orders != provenance.orders_override {
        bail!(
            "report {source}: replay_flags {given:?} and provenance.orders_override {:?} disagree on --orders",
            provenance.orders_override
        );
    }
    let strategy = args
        .strategy
        .clone()
        .unwrap_or_else(|| spec.config.polling.name().to_owned());
    let expectations = if shard.sweep {
        if args.engine.is_some() || args.orders.is_some() || args.strategy.is_none() {
            bail!(
                "report {source}: replay_flags is {given:?}, and a sweep's report repeats `--strategy NAME` alone"
            );
        }
        if provenance.first_seed != scenario.seed {
            bail!(
                "report {source}: provenance.first_seed is {}, and a sweep of {} starts at its seed {}",
                provenance.first_seed,
                shard.file,
                scenario.seed
            );
        }
        if provenance.swarm != scenario.swarm {
            bail!(
                "report {source}: provenance.swarm is {}, and a sweep of {} runs with swarm {}, as the scenario says",
                provenance.swarm,
                shard.file,
                scenario.swarm
            );
        }
        Err(super::super::sweep::COMPARES.to_owned())
    } else {
        if scenario.swarm && !provenance.swarm {
            bail!(
                "report {source}: provenance.swarm is false, and {} says swarm: true: every run of it is in swarm mode",
                shard.file
            );
        }
        spec.swarm = provenance.swarm;
        if own {
            Ok(())
        } else {
            Err(super::super::run::OVERRIDDEN.to_owned())
        }
    };
    Ok(Setup {
        spec,
        strategy,
        flags,
        expectations,
    })
}

/// `shard`'s report is, field for field, the one this fillproof prints for
/// its seed runs with its setup: no field it does not print, none missing,
/// and the labels (engine, strategy), metrics and checks the ones its
/// seed runs make.
///
/// # Errors
/// The first field that differs, named.
pub(super) fn as_printed(shard: &ShardReport, scenario: &Scenario, setup: &Setup) -> Result<()> {
    let mut report = Report::of_summaries(
        &ReportInput {
            scenario,
            file: &shard.file,
            engine: setup.spec.engine.as_str(),
            strategy: &setup.strategy,
            wall_ms: shard.wall_ms,
            expectations: setup.expectations.clone(),
            replay_flags: setup.flags.clone(),
        },
        shard.seed_runs.clone(),
    );
    report.provenance.clone_from(&shard.provenance);
    report.sweep = shard.sweep;
    let printed = reprinted(&report)?;
    let source = &shard.source;
    match first_difference("", &printed, &shard.value) {
        None => Ok(()),
        Some(Difference::Unknown(field)) => Err(anyhow!(
            "report {source}: unknown field `{field}`: fillproof {VERSION} prints no such field; merge takes a report only as `run --shard` or `sweep --shard` prints it"
        )),
        Some(Difference::Absent(field)) => Err(anyhow!(
            "report {source}: field `{field}` is absent, and fillproof {VERSION} prints it in the report of its seed_runs run with its setup ({}, from {} and replay_flags {:?}): the report was changed after its run; rerun the shard",
            setup.words(),
            shard.file,
            setup.flags
        )),
        Some(Difference::Differs {
            path,
            expected,
            actual,
        }) => Err(anyhow!(
            "report {source}: `{path}` is {actual}, and fillproof {VERSION} prints {expected} there for the report's seed_runs run with its setup ({}, from {} and replay_flags {:?}): the report was changed after its run; rerun the shard",
            setup.words(),
            shard.file,
            setup.flags
        )),
    }
}

/// `value` as JSON reads it back: what a report printed of it holds.
fn reprinted<T: serde::Serialize>(value: &T) -> Result<Value> {
    Ok(serde_json::from_str(&serde_json::to_string(value)?)?)
}

/// No two seeds carry the same trace hash. Each seed's submissions name
/// the seed (client order ids `fp-SEED-N`) and are in its trace, so two
/// seeds that sent an order never run the same trace: one seed's results
/// copied over another's are refused.
///
/// # Errors
/// The two seeds and their reports.
pub(super) fn distinct_traces(all: &[ShardReport]) -> Result<()> {
    let mut first: BTreeMap<u64, (u64, &str)> = BTreeMap::new();
    for shard in all {
        for run in shard.seed_runs.iter().filter(|r| r.tally.sent > 0) {
            match first.get(&run.trace_hash) {
                Some((seed, source)) if *seed != run.seed => bail!(
                    "seed {seed} (report {source}) and seed {} (report {}) carry the same trace hash {}: a seed's submissions name it (client order ids fp-SEED-N), so no two seeds that sent orders run one trace; one seed's results stand in for another's",
                    run.seed,
                    shard.source,
                    hex(run.trace_hash)
                ),
                Some(_) => {}
                None => {
                    first.insert(run.trace_hash, (run.seed, &shard.source));
                }
            }
        }
    }
    Ok(())
}

/// The seeds of `shard` the plan re-runs: for a sample, an order of its
/// seeds drawn from the plan's key and the report's bytes, and the first
/// of them (half, rounded up, or the number asked for).
pub(super) fn sample(shard: &ShardReport, plan: &Plan) -> BTreeSet<u64> {
    let seeds = shard.seed_runs.len();
    let take = match plan.verify {
        Verify::None => 0,
        Verify::All => seeds,
        Verify::Sample => seeds.div_ceil(2),
        Verify::PerShard(n) => seeds.min(n as usize),
    };
    let mut salt = plan.key.to_le_bytes().to_vec();
    salt.extend_from_slice(&shard.bytes_hash.to_le_bytes());
    let salt = fillproof_engine::stable_hash(&salt);
    let mut order: Vec<(u64, u64)> = shard
        .seed_runs
        .iter()
        .map(|run| {
            let mut bytes = salt.to_le_bytes().to_vec();
            bytes.extend_from_slice(&run.seed.to_le_bytes());
            (fillproof_engine::stable_hash(&bytes), run.seed)
        })
        .collect();
    order.sort_unstable();
    order.into_iter().take(take).map(|(_, seed)| seed).collect()
}

/// Re-runs `seeds` of `shard` with its setup; each must give, field for
/// field, the summary the shard reported.
///
/// # Errors
/// A seed that cannot run, or whose re-run differs: the report, the seed
/// and the first field that differs.
pub(super) fn rerun(
    shard: &ShardReport,
    setup: &Setup,
    seeds: &BTreeSet<u64>,
    jobs: usize,
) -> Result<()> {
    if seeds.is_empty() {
        return Ok(());
    }
    let source = &shard.source;
    let seeds: Vec<u64> = seeds.iter().copied().collect();
    let context = || format!("report {source}: re-running seeds {seeds:?} to verify them");
    crate::run::cost::admit(&setup.spec, seeds.len(), jobs).with_context(context)?;
    let runs = run_seeds_into(&setup.spec, &seeds, jobs, &|| {}, |run| {
        SeedSummary::of(&run)
    })
    .with_context(context)?;
    let reported = shard
        .value
        .get("seed_runs")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("report {source}: seed_runs is not a list"))?;
    for run in runs {
        let index = shard
            .seed_runs
            .iter()
            .position(|r| r.seed == run.seed)
            .ok_or_else(|| anyhow!("report {source}: seed {} is not in it", run.seed))?;
        let made = reprinted(&run)?;
        let said = &reported[index];
        // The trace first: it covers everything the run did.
        let difference = first_difference("trace_hash", &made["trace_hash"], &said["trace_hash"])
            .or_else(|| first_difference("", &made, said));
        let Some(difference) = difference else {
            continue;
        };
        let (field, mut made, mut said) = match difference {
            Difference::Unknown(field) => (field, "no such field".to_owned(), "one".to_owned()),
            Difference::Absent(field) => (field, "one".to_owned(), "none".to_owned()),
            Difference::Differs {
                path,
                expected,
                actual,
            } => (path, expected, actual),
        };
        if field == "trace_hash" {
            let hash = |text: &str| text.parse().map_or_else(|_| text.to_owned(), hex);
            (made, said) = (hash(&made), hash(&said));
        }
        bail!(
            "report {source}: seed {}: re-run with the report's setup ({}), it gives {field} {made}, and the report says {said}: the shard's results are not what the seed makes with the setup the report names; rerun the shard",
            run.seed,
            setup.words()
        );
    }
    Ok(())
}

/// Where two JSON values first differ.
enum Difference {
    /// A field in the second the first lacks.
    Unknown(String),
    /// A field of the first the second lacks.
    Absent(String),
    /// A value that differs: where, and each side's, shortened.
    Differs {
        path: String,
        expected: String,
        actual: String,
    },
}

/// Where `actual` first differs from `expected`, depth first: a field
/// unknown or absent before a value that differs.
fn first_difference(path: &str, expected: &Value, actual: &Value) -> Option<Difference> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            if let Some(key) = a.keys().find(|k| !e.contains_key(*k)) {
                return Some(Difference::Unknown(join(key)));
            }
            if let Some(key) = e.keys().find(|k| !a.contains_key(*k)) {
                return Some(Difference::Absent(join(key)));
            }
            e.iter()
                .find_map(|(key, value)| first_difference(&join(key), value, &a[key]))
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(&format!("{path}[{i}]"), x, y)),
        (Value::Array(e), Value::Array(a)) => Some(Difference::Differs {
            path: path.to_owned(),
            expected: format!("a list of {}", e.len()),
            actual: format!("a list of {}", a.len()),
        }),
        _ if expected == actual => None,
        _ => Some(Difference::Differs {
            path: path.to_owned(),
            expected: shortened(expected),
            actual: shortened(actual),
        }),
    }
}

/// A JSON value's text, cut to 80 characters.
fn shortened(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        text
    } else {
        format!("{}...", text.chars().take(80).collect::<String>())
    }
}
