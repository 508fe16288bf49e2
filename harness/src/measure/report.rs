//! Reports: the metrics of a scenario run with what identifies and replays
//! it, as a table for people (`table.rs`) and JSON for tools.

use fillproof_simulator::{Comparison, Expectation, Scenario};
use serde::{Deserialize, Serialize};

use crate::measure::metrics::{Metrics, Tally};
use crate::run::SeedRun;

/// What a report keeps of one seed run: enough to rebuild the report of
/// any set of seeds (the shards of a swarm, merged) exactly as one run of
/// them all would have printed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedSummary {
    /// The seed.
    pub seed: u64,
    /// Its trace hash.
    pub trace_hash: u64,
    /// Its trace events.
    pub trace_events: u64,
    /// Virtual time at the end, seconds.
    pub virtual_seconds: f64,
    /// Swarm mode's mix, when on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swarm: Vec<String>,
    /// The raw counts and samples of its metrics.
    pub tally: Tally,
}

impl SeedSummary {
    /// The summary of `run`.
    #[must_use]
    pub fn of(run: &SeedRun) -> Self {
        Self {
            seed: run.seed,
            trace_hash: run.trace.hash(),
            trace_events: run.trace.len(),
            virtual_seconds: run.ended_at.as_secs_f64(),
            swarm: run.swarm.clone(),
            tally: Tally::of(run),
        }
    }
}

/// The fillproof version that makes a report, as it says in the report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a run was, beyond its seeds' results: what `fillproof merge` holds
/// the shards of one run to, and refuses to combine when they differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The fillproof version that ran it ([`VERSION`]).
    pub fillproof_version: String,
    /// SHA-256 of the scenario file's bytes as the run read them, hex: the
    /// file's contents, whatever its path.
    pub scenario_sha256: String,
    /// The run's first seed (of all its shards).
    pub first_seed: u64,
    /// The run's seed count (of all its shards).
    pub seeds: u32,
    /// The workload's size: `--orders`, or the scenario's
    /// `workload.orders`.
    pub workload_orders: u64,
    /// `--orders`, when given.
    pub orders_override: Option<u32>,
    /// Swarm mode, from the scenario or `--swarm`.
    pub swarm: bool,
    /// The slice of the seeds this report holds (`--shard K/N`); absent
    /// for a whole run, and for shards merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::cli::Shard>,
}

/// A threshold and how the run did against it. A threshold holds when it
/// holds for every seed: `actual` is the first failing seed's value, or the
/// pooled value when every seed passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The metric.
    pub metric: String,
    /// The threshold as written: `>= 0.9999`.
    pub threshold: String,
    /// The measured value; `None` when the metric is absent (nothing to
    /// measure, or an engine that cannot produce it).
    pub actual: Option<f64>,
    /// True when it holds.
    pub ok: bool,
    /// The first seed it failed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_seed: Option<u64>,
    /// Over several seeds, the least and greatest value a seed measured
    /// (the threshold is checked against each).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_seed_range: Option<[f64; 2]>,
}

/// One seed's identity in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedLine {
    /// The seed.
    pub seed: u64,
    /// Its trace hash, hex.
    pub trace_hash: String,
    /// Trace events.
    pub trace_events: u64,
    /// Virtual time at the end, seconds.
    pub virtual_seconds: f64,
    /// Swarm mode's mix, when on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub swarm: Vec<String>,
}

impl SeedLine {
    /// The line of one seed's summary.
    fn of(run: &SeedSummary) -> Self {
        Self {
            seed: run.seed,
            trace_hash: hex(run.trace_hash),
            trace_events: run.trace_events,
            virtual_seconds: run.virtual_seconds,
            swarm: run.swarm.clone(),
        }
    }
}

/// A scenario's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub file: String,
    /// First seed.
    pub seed: u64,
    /// The engine.
    pub engine: String,
    /// The polling strategy.
    pub strategy: String,
    /// The call budget the engine ran under, in words: the engine's
    /// default, the scenario's, or none.
    pub call_budget: String,
    /// The metrics, at the top level.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// One trace hash for the whole report: of the seeds' hashes, in order.
    pub trace_hash: String,
    /// Every seed.
    pub seeds: Vec<SeedLine>,
    /// Virtual time simulated, all seeds, seconds.
    pub virtual_seconds: f64,
    /// Wall-clock time of the run, milliseconds.
    pub wall_ms: f64,
    /// Virtual time over wall time.
    pub speedup: f64,
    /// The `expect:` checks, when evaluated.
    pub expectations: Vec<Check>,
    /// Why expectations were not evaluated, when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectations_skipped: Option<String>,
    /// The command that replays the first seed (or the first failing one).
    pub replay: String,
    /// The flags that command repeats (`--engine naive`).
    pub replay_flags: String,
    /// What the run was (version, scenario digest, seeds, workload,
    /// shard), for `fillproof merge`; absent from the gate's reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Each seed run's summary, in seed order: what `fillproof merge`
    /// rebuilds the report of several shards from.
    pub seed_runs: Vec<SeedSummary>,
    /// True for one strategy's report of a sweep (`sweep --shard`): merged
    /// shards of a sweep print the sweep's table.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sweep: bool,
    /// Which seeds `fillproof merge` re-ran to vouch for the shards'
    /// results; absent from a run's own report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// What `fillproof merge` re-ran of the shards it merged: each seed re-run
/// gave, field for field, the summary its shard reported (a merge that
/// finds one that does not is refused, not printed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// How the seeds were chosen: `sample`, `all`, `none`, or a number of
    /// seeds per shard report (`merge --verify`).
    pub mode: String,
    /// The key that picked the sample, hex (`merge --verify-key` picks the
    /// same seeds of the same shards again); absent when nothing was
    /// sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The run's seeds.
    pub seeds: u64,
    /// The seeds re-run, each matching its shard's summary, in order.
    pub verified: Vec<u64>,
}

impl Verification {
    /// The verification in words, for the table.
    #[must_use]
    pub fn words(&self) -> String {
        if self.mode == "none" {
            return "UNVERIFIED: merge --verify none re-ran no seed; the shards' results are taken on trust".to_owned();
        }
        let listed: Vec<String> = self.verified.iter().take(8).map(u64::to_string).collect();
        format!(
            "{} of {} seeds re-run, each as its shard reported (seeds {}{}; --verify {}{})",
            self.verified.len(),
            self.seeds,
            listed.join(", "),
            if self.verified.len() > 8 { ", ..." } else { "" },
            self.mode,
            self.key
                .as_ref()
                .map_or_else(String::new, |key| format!(", --verify-key {key}"))
        )
    }
}

/// The call budget `engine` runs `scenario` under, in words.
#[must_use]
pub fn budget_in_words(scenario: &Scenario, engine: &str) -> String {
    if engine.starts_with("naive") {
        return "none (the naive baselines keep no budget)".into();
    }
    let per = |limit: &fillproof_engine::RateLimit| {
        format!(
            "{} per {}",
            limit.requests,
            crate::measure::report::duration_words(limit.per)
        )
    };
    match (&scenario.engine.rate_limit, scenario.call_budget()) {
        (None, Some(limit)) => format!("{} (the engine's default)", per(&limit)),
        (_, Some(limit)) => per(&limit),
        (_, None) => "none (rate_limit: none)".into(),
    }
}

/// The call budget `engine` runs `scenario` under, in a table's column:
/// `default` (the engine's own), `none`, or the scenario's `N/D`.
#[must_use]
pub fn budget_short(scenario: &Scenario, engine: &str) -> String {
    if engine.starts_with("naive") {
        return "none".into();
    }
    match (&scenario.engine.rate_limit, scenario.call_budget()) {
        (None, Some(_)) => "default".into(),
        (_, Some(limit)) => format!("{}/{}", limit.requests, duration_words(limit.per)),
        (_, None) => "none".into(),
    }
}

/// A duration as a scenario writes it: `60s`, `1500ms`.
#[must_use]
pub fn duration_words(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 && d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Hex form of a trace hash.
#[must_use]
pub fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}

/// Combines seed hashes in order into one.
#[must_use]
pub fn combined_hash(seeds: impl Iterator<Item = (u64, u64)>) -> u64 {
    let mut bytes = Vec::new();
    for (seed, trace_hash) in seeds {
        bytes.extend_from_slice(&seed.to_le_bytes());
        bytes.extend_from_slice(&trace_hash.to_le_bytes());
    }
    fillproof_engine::stable_hash(&bytes)
}

/// What a report needs besides the runs.
pub struct ReportInput<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Its file.
    pub file: &'a str,
    /// Engine name.
    pub engine: &'a str,
    /// Strategy name.
    pub strategy: &'a str,
    /// Wall-clock milliseconds.
    pub wall_ms: f64,
    /// Evaluate `expect:`; otherwise the reason not to.
    pub expectations: Result<(), String>,
    /// Flags to repeat in the replay command (`--engine naive`).
    pub replay_flags: String,
}

impl Report {
    /// Builds the report of `runs`.
    #[must_use]
    pub fn new(input: &ReportInput<'_>, runs: &[SeedRun]) -> Self {
        let summaries: Vec<SeedSummary> = runs.iter().map(SeedSummary::of).collect();
        Self::of_summaries(input, summaries)
    }

    /// Builds the report of the seed runs `runs` summarizes, in their order:
    /// pools the metrics (and keeps each seed's), checks `expect:` and the
    /// counts that fail any run, then names a seed to replay.
    #[must_use]
    pub fn of_summaries(input: &ReportInput<'_>, runs: Vec<SeedSummary>) -> Self {
        let tallies: Vec<Tally> = runs.iter().map(|r| r.tally.clone()).collect();
        let metrics = Metrics::from_tallies(&tallies);
        let per_seed = per_seed_metrics(&runs, &metrics);
        let virtual_seconds: f64 = runs.iter().map(|r| r.virtual_seconds).sum();
        let (mut expectations, expectations_skipped) = match &input.expectations {
            Ok(()) => (evaluate(input.scenario, &metrics, &per_seed), None),
            Err(reason) => (Vec::new(), Some(reason.clone())),
        };
        expectations.extend(standing_checks(input.scenario, &runs));
        let first = runs.first().map_or(input.scenario.seed, |r| r.seed);
        // The replay names a seed that shows the failure.
        let seed = expectations
            .iter()
            .find_map(|c| c.failed_seed)
            .unwrap_or(first);
        Self {
            scenario: input.scenario.name.clone(),
            file: input.file.to_owned(),
            seed: first,
            engine: input.engine.to_owned(),
            strategy: input.strategy.to_owned(),
            call_budget: budget_in_words(input.scenario, input.engine),
            metrics,
            trace_hash: hex(combined_hash(runs.iter().map(|r| (r.seed, r.trace_hash)))),
            seeds: runs.iter().map(SeedLine::of).collect(),
            virtual_seconds,
            wall_ms: input.wall_ms,
            speedup: if input.wall_ms > 0.0 {
                (virtual_seconds * 1000.0 / input.wall_ms).round()
            } else {
                0.0
            },
            expectations,
            expectations_skipped,
            replay: replay_command(input.file, seed, &input.replay_flags),
            replay_flags: input.replay_flags.clone(),
            provenance: None,
            seed_runs: runs,
            sweep: false,
            verification: None,
        }
    }

    /// The report of runs made with the scenario's own setup, as the gate
    /// makes them: expectations checked, nothing to repeat on replay.
    #[must_use]
    pub fn own_setup(
        scenario: &Scenario,
        file: &str,
        spec: &crate::run::RunSpec,
        wall_ms: f64,
        runs: &[SeedRun],
    ) -> Self {
        Self::new(
            &ReportInput {
                scenario,
                file,
                engine: spec.engine.as_str(),
                strategy: spec.config.polling.name(),
                wall_ms,
                expectations: Ok(()),
                replay_flags: String::new(),
            },
            runs,
        )
    }

    /// One line per threshold that fell short: metric, threshold, actual
    /// value and the replay command.
    #[must_use]
    pub fn shortfall_lines(&self) -> Vec<String> {
        self.shortfalls()
            .map(|c| {
                format!(
                    "{} {} fell short: actual {} · replay: {}",
                    c.metric,
                    c.threshold,
                    format_actual(c.actual),
                    self.replay
                )
            })
            .collect()
    }

    /// The checks that fell short.
    pub fn shortfalls(&self) -> impl Iterator<Item = &Check> {
        self.expectations.iter().filter(|c| !c.ok)
    }
}

/// Each seed's own metrics (the pooled ones when there is one seed).
fn per_seed_metrics(runs: &[SeedSummary], pooled: &Metrics) -> Vec<(u64, Metrics)> {
    if runs.len() == 1 {
        vec![(runs[0].seed, pooled.clone())]
    } else {
        runs.iter()
            .map(|r| {
                (
                    r.seed,
                    Metrics::from_tallies(std::slice::from_ref(&r.tally)),
                )
            })
            .collect()
    }
}

/// Counts that fail a run whatever `expect:` says, with the first seed
/// that shows them: engine panics always; orders left unrun and requests
/// still travelling unless the scenario says how many it accepts.
fn standing_checks(scenario: &Scenario, runs: &[SeedSummary]) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut must_be_zero = |metric: &str, threshold: &str, count: fn(&Tally) -> u64| {
        let total: u64 = runs.iter().map(|r| count(&r.tally)).sum();
        if total > 0 {
            checks.push(Check {
                metric: metric.to_owned(),
                threshold: threshold.to_owned(),
                actual: Some(total as f64),
                ok: false,
                failed_seed: runs.iter().find(|r| count(&r.tally) > 0).map(|r| r.seed),
                per_seed_range: None,
            });
        }
    };
    // A run in which the engine panicked fails.
    must_be_zero("engine_panics", "== 0", |t| t.engine_panics);
    // Orders the run's time bound left unrun fail it, unless the
    // scenario says how many it accepts.
    // So do requests still on their way when it ended: the ledger
    // cannot say what they would have done.
    if !scenario.expect.contains_key("requests_unlanded") {
        must_be_zero(
            "requests_unlanded",
            "== 0 (limits.max_virtual_time ended the run while requests were still on their way to the broker; raise it, or accept them with a requests_unlanded expectation)",
            |t| t.requests_unlanded,
        );
    }
    // A crash the timeline scripts at a call that never came did not
    // happen: the run did not test what the scenario says.
    if !scenario.expect.contains_key("crash_points_unreached") {
        must_be_zero(
            "crash_points_unreached",
            "== 0 (a crash point in the timeline names a call the order never made, so that crash never happened; name a call it makes, or accept it with a crash_points_unreached expectation)",
            |t| t.crash_points_unreached,
        );
    }
    if !scenario.expect.contains_key("orders_unrun") {
        must_be_zero(
            "orders_unrun",
            "== 0 (limits.max_virtual_time ended the run first; raise it, or accept them with an orders_unrun expectation)",
            |t| t.orders_unrun,
        );
    }
    checks
}

/// A metric value without noise: integers as integers.
#[must_use]
pub fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// The one-line command that replays `seed` of `file`.
#[must_use]
pub fn replay_command(file: &str, seed: u64, flags: &str) -> String {
    let mut command = format!("fillproof replay {file} --seed {seed}");
    if !flags.is_empty() {
        command.push(' ');
        command.push_str(flags);
    }
    command
}

/// A rate to four places, or `n/a` when it is absent.
#[must_use]
pub fn format_rate(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.4}"))
}

/// A measured value, or `n/a` when the metric is absent.
#[must_use]
pub fn format_actual(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), format_value)
}

/// Metrics that are absent exactly when the broker filled nothing.
const FILL_METRICS: &[&str] = &[
    "detection_rate",
    "detection_latency_p50_ms",
    "detection_latency_p95_ms",
    "detection_latency_p99_ms",
    "detection_latency_max_ms",
    "slippage_p50_bps",
    "slippage_p95_bps",
    "slippage_worst_bps",
];

/// Checks every `expect:` threshold against every seed. An absent metric
/// fails its threshold as vacuous, except a fill metric in a scenario that
/// says `filled_orders: "== 0"`: there, nothing to detect is the story.
fn evaluate(scenario: &Scenario, pooled: &Metrics, per_seed: &[(u64, Metrics)]) -> Vec<Check> {
    let expects_no_fills = scenario
        .expect
        .get("filled_orders")
        .and_then(|text| Expectation::parse("filled_orders", &text.value).ok())
        .is_some_and(|e| e.comparison == Comparison::Equal && e.value == 0.0);
    scenario
        .expect
        .iter()
        .filter_map(|(metric, text)| {
            let expectation = Expectation::parse(metric, &text.value).ok()?;
            let holds = |value: Option<f64>| match value {
                Some(actual) => expectation.holds(actual),
                None => expects_no_fills && FILL_METRICS.contains(&metric.as_str()),
            };
            let failed = per_seed
                .iter()
                .map(|(seed, m)| (*seed, m.get(metric)))
                .find(|(_, value)| !holds(*value));
            let values: Vec<f64> = per_seed.iter().filter_map(|(_, m)| m.get(metric)).collect();
            let per_seed_range = (per_seed.len() > 1 && !values.is_empty()).then(|| {
                values
                    .iter()
                    .fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], v| {
                        [lo.min(*v), hi.max(*v)]
                    })
            });
            Some(Check {
                metric: metric.clone(),
                threshold: text.value.trim().to_owned(),
                actual: failed.map_or_else(|| pooled.get(metric), |(_, value)| value),
                ok: failed.is_none(),
                failed_seed: failed.map(|(seed, _)| seed),
                per_seed_range,
            })
        })
        .collect()
}
