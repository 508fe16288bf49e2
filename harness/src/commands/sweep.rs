//! `fillproof sweep`: every polling strategy against the same seeds of
//! each scenario (common random numbers: the broker's fills do not depend
//! on how often anyone polls), as a table of detection latency against API
//! calls per order, and an SVG plot of that frontier.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;
use serde::Serialize;

use fillproof_engine::PollingConfig;
use indexmap::IndexMap;

use super::{Exit, jobs, load_digested, scenario_files, seed_list, wall_clock, wall_ms};
use crate::cli::{Format, SweepArgs};
use crate::measure::report::{Provenance, Report, ReportInput, SeedSummary, VERSION};
use crate::run::strategies;
use crate::run::{RunSpec, run_seeds_into};

/// One strategy on one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Scenario name.
    pub scenario: String,
    /// Strategy name.
    pub strategy: String,
    /// Detection rate over the seeds.
    pub detection_rate: f64,
    /// Detection latency p50, ms.
    pub p50_ms: f64,
    /// Detection latency p95, ms.
    pub p95_ms: f64,
    /// Detection latency p99, ms.
    pub p99_ms: f64,
    /// Broker calls per order, all endpoints.
    pub api_calls_per_order: f64,
    /// Change in calls per order against the first strategy, percent.
    pub calls_vs_baseline_pct: f64,
    /// Change in p95 latency against the first strategy, percent.
    pub p95_vs_baseline_pct: f64,
}

/// Why a sweep's reports skip `expect:`, as they say.
pub const COMPARES: &str = "a sweep compares strategies; `expect:` holds for the scenario's own";

/// Runs `sweep`: checks the strategies and flags, sweeps each scenario's
/// seeds with every strategy, then prints the shard's reports or the
/// points (and draws the plot).
///
/// # Errors
/// A scenario that does not load, an unknown strategy, a shard that leaves
/// a scenario no seed, `--shard` without `--format json`, or a plot that
/// cannot be written.
pub fn run(args: &SweepArgs) -> Result<Exit> {
    let configs = strategy_configs(args)?;
    let mut reports = Vec::new();
    for path in scenario_files(&args.scenarios)? {
        sweep_scenario(&path, args, &configs, &mut reports)?;
    }
    if args.shard.is_some() {
        for report in &reports {
            outln!("{}", serde_json::to_string(report)?);
        }
        return Ok(Exit::Success);
    }
    let points = points(&reports);
    print_points(&points, &configs[0].0, args.format)?;
    if let Some(plot) = &args.plot {
        draw(&points, plot).with_context(|| format!("writing {}", plot.display()))?;
    }
    Ok(Exit::Success)
}

/// The strategies named, each with its polling configuration, in order.
///
/// # Errors
/// An unknown strategy, none at all, or `--shard` without `--format json`.
fn strategy_configs(args: &SweepArgs) -> Result<Vec<(String, PollingConfig)>> {
    let configs = args
        .strategies
        .iter()
        .map(|name| strategies::preset(name).map(|c| (name.clone(), c)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    if configs.is_empty() {
        return Err(anyhow!("--strategies names no strategy"));
    }
    if args.shard.is_some() && args.format != Format::Json {
        return Err(anyhow!(
            "--shard prints a shard's reports for `fillproof merge`: add --format json"
        ));
    }
    Ok(configs)
}

/// Sweeps one scenario: its seeds (this shard's) with every strategy it
/// can serve, one report each, added to `reports`.
///
/// # Errors
/// A scenario that does not load, a bad seed range, a shard that leaves no
/// seed, or a run refused or failing to set up.
fn sweep_scenario(
    path: &Path,
    args: &SweepArgs,
    configs: &[(String, PollingConfig)],
    reports: &mut Vec<Report>,
) -> Result<()> {
    let (scenario, digest) = load_digested(path)?;
    let file = path.display().to_string();
    let mut seeds = seed_list(scenario.seed, args.seeds).map_err(|why| {
        anyhow!(
            "{file}: the scenario's seed {} with --seeds {}: {why}",
            scenario.seed,
            args.seeds
        )
    })?;
    if let Some(shard) = args.shard {
        seeds = shard.take(seeds);
        if seeds.is_empty() {
            return Err(anyhow!(
                "--shard {}/{} leaves no seed of {file}: sweep more seeds or use fewer shards",
                shard.index + 1,
                shard.count
            ));
        }
    }
    for (name, polling) in configs {
        if matches!(polling, PollingConfig::Hybrid { .. }) && scenario.broker.stream.is_none() {
            eprintln!(
                "{}: strategy {name} needs a broker.stream; left out of the sweep",
                scenario.name
            );
            continue;
        }
        let spec =
            RunSpec::from_scenario(scenario.clone(), scenario.seed)?.with_polling(polling.clone());
        crate::run::cost::admit(&spec, seeds.len(), jobs(args.jobs))?;
        let started = wall_clock();
        let summaries = run_seeds_into(&spec, &seeds, jobs(args.jobs), &|| {}, |run| {
            SeedSummary::of(&run)
        })?;
        let mut report = Report::of_summaries(
            &ReportInput {
                scenario: &scenario,
                file: &file,
                engine: spec.engine.as_str(),
                strategy: name,
                wall_ms: wall_ms(started),
                expectations: Err(COMPARES.to_owned()),
                replay_flags: format!("--strategy {name}"),
            },
            summaries,
        );
        report.sweep = true;
        report.provenance = Some(Provenance {
            fillproof_version: VERSION.to_owned(),
            scenario_sha256: digest.clone(),
            first_seed: scenario.seed,
            seeds: args.seeds,
            workload_orders: u64::from(scenario.workload.orders.value),
            orders_override: None,
            swarm: spec.swarm,
            shard: args.shard,
        });
        reports.push(report);
    }
    Ok(())
}

/// The sweep's table (or one JSON point a line), against `baseline`.
///
/// # Errors
/// Standard output is closed.
pub fn print_points(points: &[Point], baseline: &str, format: Format) -> Result<()> {
    match format {
        Format::Table => out!("{}", table(points, baseline)),
        Format::Json => {
            for point in points {
                outln!("{}", serde_json::to_string(point)?);
            }
        }
    }
    Ok(())
}

/// The sweep's points: each strategy's report on each scenario, in report
/// order, measured against the first strategy reported for the scenario.
/// A strategy that detected no fill is left out, with a note.
#[must_use]
pub fn points(reports: &[Report]) -> Vec<Point> {
    let mut points = Vec::new();
    let mut baselines: IndexMap<&str, (f64, f64)> = IndexMap::new();
    for report in reports {
        let m = &report.metrics;
        let (Some(detection_rate), Some(latency), Some(calls)) = (
            m.detection_rate,
            m.detection_latency_ms.as_ref(),
            m.api_calls_per_order,
        ) else {
            eprintln!(
                "{}: strategy {} detected no fill; left out of the sweep",
                report.scenario, report.strategy
            );
            continue;
        };
        let (base_calls, base_p95) = *baselines
            .entry(report.file.as_str())
            .or_insert((calls, latency.p95));
        let change = |value: f64, base: f64| {
            if base > 0.0 {
                (value / base - 1.0) * 100.0
            } else {
                0.0
            }
        };
        points.push(Point {
            scenario: report.scenario.clone(),
            strategy: report.strategy.clone(),
            detection_rate,
            p50_ms: latency.p50,
            p95_ms: latency.p95,
            p99_ms: latency.p99,
            api_calls_per_order: calls,
            calls_vs_baseline_pct: change(calls, base_calls),
            p95_vs_baseline_pct: change(latency.p95, base_p95),
        });
    }
    points
}

fn table(points: &[Point], baseline: &str) -> String {
    let mut out = format!(
        "{:<42} {:<12} {:>9} {:>8} {:>8} {:>8} {:>9} {:>10} {:>9}\n",
        "scenario",
        "strategy",
        "detection",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "calls/ord",
        "calls vs",
        "p95 vs"
    );
    out.push_str(&format!("{:>110}\n", format!("(vs {baseline})")));
    for p in points {
        out.push_str(&format!(
            "{:<42} {:<12} {:>9.4} {:>8.0} {:>8.0} {:>8.0} {:>9.2} {:>9.1}% {:>8.1}%\n",
            p.scenario,
            p.strategy,
            p.detection_rate,
            p.p50_ms,
            p.p95_ms,
            p.p99_ms,
            p.api_calls_per_order,
            p.calls_vs_baseline_pct,
            p.p95_vs_baseline_pct
        ));
    }
    out
}

/// Colours for strategies, in `--strategies` order.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws the frontier: a log-scale chart framed to the points, a grey line
/// per scenario, a coloured series per strategy, and the legend.
fn draw(points: &[Point], path: &Path) -> Result<()> {
    let (max_x, min_y, max_y) = bounds(points);
    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Detection latency p95 against API calls per order",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..max_x, (min_y..max_y).log_scale())
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("API calls per order")
        .y_desc("detection latency p95 (ms, log scale)")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    // A grey line joins each scenario's strategies: the trade-off it offers.
    for scenario in first_seen(points, |p| &p.scenario) {
        let line: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.scenario == scenario)
            .map(|p| (p.api_calls_per_order, p.p95_ms.max(min_y)))
            .collect();
        chart
            .draw_series(LineSeries::new(line, RGBColor(200, 200, 200)))
            .map_err(|e| anyhow!("{e}"))?;
    }
    for (i, strategy) in first_seen(points, |p| &p.strategy).iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.strategy == *strategy)
            .map(|p| (p.api_calls_per_order, p.p95_ms.max(min_y)))
            .collect();
        chart
            .draw_series(
                series
                    .into_iter()
                    .map(|xy| Circle::new(xy, 5, colour.filled())),
            )
            .map_err(|e| anyhow!("{e}"))?
            .label(strategy.to_string())
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, colour.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// The chart's bounds: the largest x, and the smallest and largest y.
/// Latencies span two orders of magnitude across scenarios: a log scale
/// keeps the fast ones readable.
fn bounds(points: &[Point]) -> (f64, f64, f64) {
    let max_x = points
        .iter()
        .map(|p| p.api_calls_per_order)
        .fold(1.0, f64::max)
        * 1.1;
    let max_y = points.iter().map(|p| p.p95_ms).fold(100.0, f64::max) * 1.5;
    let min_y = points
        .iter()
        .map(|p| p.p95_ms)
        .filter(|v| *v > 0.0)
        .fold(max_y, f64::min)
        .max(1.0)
        / 1.5;
    (max_x, min_y, max_y)
}

/// The distinct values `key` takes over `points`, in the order first seen.
fn first_seen<'a>(points: &'a [Point], key: impl Fn(&'a Point) -> &'a String) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for p in points {
        if !seen.contains(&key(p).as_str()) {
            seen.push(key(p));
        }
    }
    seen
}
