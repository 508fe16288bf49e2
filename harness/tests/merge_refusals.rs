//! `fillproof merge` refuses, with exit 2 and the reason, what it cannot
//! vouch for: shards of different runs, a shard missing or given twice, a
//! scenario changed since (or between) its shards ran, and counts no run
//! could have produced.

mod command;

use std::path::{Path, PathBuf};

use command::{fillproof, scratch};
use serde_json::Value;

/// A small scenario whose every seed falls short of its one threshold
/// (20 orders, all filled, against `filled_orders >= 21`), or passes it
/// with `threshold` ">= 1".
fn scenario_yaml(threshold: &str) -> String {
    format!(
        r#"version: 1
name: merge-check
seed: 7
workload:
  orders: 20
  arrival: {{exponential: {{mean: 500ms}}}}
  symbols: [SPY]
  qty: 10
  reference_price: {{SPY: "590.10"}}
engine:
  timeout: 10s
broker:
  account: {{buying_power: "1000000000"}}
  fill: {{delay: {{uniform: [100ms, 2s]}}}}
expect:
  filled_orders: "{threshold}"
"#
    )
}

const FALLS_SHORT: &str = ">= 21";
const HOLDS: &str = ">= 1";

/// A scratch folder holding the scenario, and the shards made in it.
struct Swarm {
    _folder: tempfile::TempDir,
    dir: PathBuf,
    scenario: String,
}

impl Swarm {
    fn new(tag: &str) -> Self {
        let folder = scratch(&format!("merge-{tag}"));
        let dir = folder.path().to_path_buf();
        let scenario = dir.join("scenario.yaml");
        std::fs::write(&scenario, scenario_yaml(FALLS_SHORT)).expect("scenario");
        Self {
            _folder: folder,
            dir,
            scenario: scenario.to_str().expect("utf-8").to_owned(),
        }
    }

    /// Rewrites the scenario with another threshold.
    fn edit(&self, threshold: &str) {
        std::fs::write(&self.scenario, scenario_yaml(threshold)).expect("scenario edited");
    }

    /// Runs shard `k` of `n` over 3 seeds (with `extra` flags) into
    /// `NAME.json`; returns its path.
    fn shard(&self, name: &str, k: u32, n: u32, extra: &[&str]) -> String {
        let slice = format!("{k}/{n}");
        let mut args = vec![
            "run",
            &self.scenario,
            "--seeds",
            "3",
            "--shard",
            &slice,
            "--format",
            "json",
        ];
        args.extend(extra);
        let (code, stdout, stderr) = fillproof(&args);
        assert!(code <= 1, "{args:?}: {stderr}");
        let path = self.dir.join(format!("{name}.json"));
        std::fs::write(&path, stdout).expect("shard written");
        path.to_str().expect("utf-8").to_owned()
    }

    /// The three shards of the run, unaltered.
    fn three(&self) -> [String; 3] {
        [1, 2, 3].map(|k| self.shard(&format!("shard-{k}"), k, 3, &[]))
    }

    /// A copy of `shard` with `change` made to its JSON, as `NAME.json`.
    fn tampered(&self, shard: &str, name: &str, change: impl FnOnce(&mut Value)) -> String {
        let text = std::fs::read_to_string(shard).expect("shard");
        let mut value: Value = serde_json::from_str(text.trim()).expect("one JSON report");
        change(&mut value);
        let path = self.dir.join(format!("{name}.json"));
        std::fs::write(&path, format!("{value}\n")).expect("tampered shard");
        path.to_str().expect("utf-8").to_owned()
    }
}

fn merge(files: &[&str]) -> (i32, String, String) {
    let mut args = vec!["merge"];
    args.extend(files);
    fillproof(&args)
}

fn name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name")
}

/// Merged, the three full shards fall short at seed 7 and exit 1; a third
/// shard run with `--orders 5` instead (whose report skips `expect:`) is
/// not a slice of that run, and is refused rather than hiding the others'
/// shortfall behind its skip.
#[test]
fn merge_refuses_a_shard_run_with_other_orders() {
    let swarm = Swarm::new("orders");
    let [one, two, three] = swarm.three();
    let (code, stdout, stderr) = merge(&[&one, &two, &three]);
    assert_eq!(code, 1, "the full shards fall short: {stdout}{stderr}");
    assert!(
        stdout.contains("FELL SHORT (actual 20 at seed 7)"),
        "{stdout}"
    );

    let odd = swarm.shard("shard-3-orders", 3, 3, &["--orders", "5"]);
    let (code, stdout, stderr) = merge(&[&one, &two, &odd]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing merged is printed: {stdout}");
    assert!(
        stderr.contains(name(&odd)) && stderr.contains("orders_override (--orders) is 5"),
        "{stderr}"
    );
}

/// A shard run with another engine, or another strategy, is not a slice
/// of the run: refused, naming where that shard is and its setup; a
/// shard in swarm mode beside plain ones likewise, naming the field.
#[test]
fn merge_refuses_a_shard_of_another_engine_setup() {
    let swarm = Swarm::new("setup");
    let [one, _, three] = swarm.three();
    for (tag, flags, setup) in [
        (
            "naive",
            ["--engine", "naive"],
            "engine naive, strategy linear",
        ),
        (
            "fixed",
            ["--strategy", "fixed"],
            "engine robust, strategy fixed",
        ),
    ] {
        let odd = swarm.shard(&format!("shard-2-{tag}"), 2, 3, &flags);
        let (code, stdout, stderr) = merge(&[&one, &odd, &three]);
        assert_eq!(code, 2, "{tag}: {stdout}{stderr}");
        assert!(
            stderr.contains("shard 2/3 of")
                && stderr.contains("(engine robust, strategy linear) is missing")
                && stderr.contains(&format!("report {odd}:1 holds shard 2/3 of")),
            "{tag}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("run with {setup}")),
            "{tag}: {stderr}"
        );
    }
    let swarmed = swarm.shard("shard-2-swarm", 2, 3, &["--swarm"]);
    let (code, _, stderr) = merge(&[&one, &swarmed, &three]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("report {swarmed}:1: provenance.swarm is true")),
        "{stderr}"
    );
}

/// A lone shard of three, or shards 1 and 3 without 2, are refused naming
/// the missing shard: merged, they would judge some seeds as the run.
#[test]
fn merge_refuses_a_missing_shard() {
    let swarm = Swarm::new("missing");
    let [one, _, three] = swarm.three();
    let (code, _, stderr) = merge(&[&one]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("shard 2/3 of") && stderr.contains("is missing (2 of 3 shards missing"),
        "{stderr}"
    );
    let (code, _, stderr) = merge(&[&three, &one]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("shard 2/3 of") && stderr.contains("is missing (1 of 3"),
        "{stderr}"
    );
}

/// Shard 2 given twice (beside 1 and 3) is refused naming the shard and
/// both places it was given.
#[test]
fn merge_refuses_a_repeated_shard() {
    let swarm = Swarm::new("repeated");
    let [one, two, three] = swarm.three();
    let again = swarm.shard("shard-2-again", 2, 3, &[]);
    let (code, _, stderr) = merge(&[&one, &two, &again, &three]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("shard 2/3 of")
            && stderr.contains("is given twice")
            && stderr.contains(name(&two))
            && stderr.contains(name(&again)),
        "{stderr}"
    );
}

/// Shards that fell short under the scenario as it ran are not judged by
/// a threshold edited in afterwards: the merge refuses the changed file
/// (its contents' digest, whatever the path), and merges again once the
/// file is as it was.
#[test]
fn merge_refuses_a_scenario_changed_after_its_shards_ran() {
    let swarm = Swarm::new("edited-after");
    let [one, two, three] = swarm.three();
    swarm.edit(HOLDS);
    let (code, stdout, stderr) = merge(&[&one, &two, &three]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("has changed since its shards ran"),
        "{stderr}"
    );
    swarm.edit(FALLS_SHORT);
    let (code, _, stderr) = merge(&[&one, &two, &three]);
    assert_eq!(code, 1, "the scenario as it ran: {stderr}");
}

/// A scenario edited between its shards' runs makes shards of two
/// different runs: refused, naming the digest that differs.
#[test]
fn merge_refuses_a_scenario_changed_between_shards() {
    let swarm = Swarm::new("edited-between");
    let one = swarm.shard("shard-1", 1, 3, &[]);
    swarm.edit(HOLDS);
    let two = swarm.shard("shard-2", 2, 3, &[]);
    let three = swarm.shard("shard-3", 3, 3, &[]);
    let (code, stdout, stderr) = merge(&[&one, &two, &three]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("provenance.scenario_sha256") && stderr.contains(name(&two)),
        "{stderr}"
    );
}

/// A shard made by another fillproof version, or one that does not say
/// what made it, is refused: the merge recomputes metrics and judges
/// thresholds with its own code.
#[test]
fn merge_refuses_shards_of_another_version() {
    let swarm = Swarm::new("version");
    let [one, two, three] = swarm.three();
    let older = swarm.tampered(&two, "shard-2-older", |report| {
        report["provenance"]["fillproof_version"] = "0.0.9".into();
    });
    let (code, _, stderr) = merge(&[&one, &older, &three]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(name(&older)) && stderr.contains("fillproof_version is 0.0.9"),
        "{stderr}"
    );
    let unsigned = swarm.tampered(&two, "shard-2-unsigned", |report| {
        report.as_object_mut().expect("object").remove("provenance");
    });
    let (code, _, stderr) = merge(&[&one, &unsigned, &three]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(name(&unsigned)) && stderr.contains("provenance"),
        "{stderr}"
    );
}

/// A shard whose raw counts no run could have made is refused, naming the
/// report, the seed and the field: more detected than filled, a latency
/// sample gone, a missed fill without its example, orders that are not the
/// workload's, negative times.
#[test]
fn merge_refuses_impossible_tallies() {
    let swarm = Swarm::new("tallies");
    let [one, two, three] = swarm.three();
    type Change = fn(&mut Value);
    let cases: [(&str, Change, &str); 10] = [
        (
            "price-mismatches-above-judged",
            |r| {
                let tally = &mut r["seed_runs"][0]["tally"];
                tally["price_mismatches"] =
                    (tally["price_checked"].as_u64().expect("count") + 1).into();
            },
            "tally.price_mismatches is 21, more than tally.price_checked 20",
        ),
        (
            "price-mismatch-without-example",
            |r| r["seed_runs"][0]["tally"]["price_mismatches"] = 1.into(),
            "tally.price_mismatches is 1, and tally.price_examples names 0 orders",
        ),
        (
            "detected-above-filled",
            |r| {
                let tally = &mut r["seed_runs"][0]["tally"];
                tally["detected"] = (tally["filled_orders"].as_u64().expect("count") + 1).into();
            },
            "tally.detected is 21, more than tally.filled_orders 20",
        ),
        (
            "latency-removed",
            |r| {
                let samples = r["seed_runs"][0]["tally"]["latencies_ms"]
                    .as_array_mut()
                    .expect("samples");
                samples.pop();
            },
            "tally.latencies_ms holds 19 samples, and tally.detected is 20",
        ),
        (
            "slippage-beyond-the-filled-orders",
            |r| {
                let samples = r["seed_runs"][0]["tally"]["slippage_bps"]
                    .as_array_mut()
                    .expect("samples");
                samples.push(samples[0].clone());
            },
            "tally.slippage_bps holds 21 samples, more than the broker orders that can have filled (tally.filled_orders 20 + tally.duplicate_orders 0 + tally.unknown_broker_orders 0)",
        ),
        (
            "missed-without-example",
            |r| {
                let tally = &mut r["seed_runs"][0]["tally"];
                tally["detected"] = 19.into();
                tally["missed_fills"] = 1.into();
                tally["latencies_ms"].as_array_mut().expect("samples").pop();
            },
            "tally.missed_fills is 1, and tally.examples[0] names 0 orders",
        ),
        (
            "orders-not-the-workload",
            |r| r["seed_runs"][0]["tally"]["orders_unrun"] = 3.into(),
            "tally.orders 20 and tally.orders_unrun 3 do not add up to the workload's 20 orders",
        ),
        (
            "negative-virtual-time",
            |r| r["seed_runs"][0]["virtual_seconds"] = (-1.0).into(),
            "virtual_seconds is -1; a time is never negative",
        ),
        (
            "negative-latency",
            |r| r["seed_runs"][0]["tally"]["latencies_ms"][0] = (-5.0).into(),
            "tally.latencies_ms holds -5",
        ),
        (
            "negative-queue-wait",
            |r| r["seed_runs"][0]["tally"]["queue_waits_ms"][0] = (-2.0).into(),
            "tally.queue_waits_ms holds -2",
        ),
    ];
    for (tag, change, field) in cases {
        let bad = swarm.tampered(&two, tag, change);
        let (code, stdout, stderr) = merge(&[&one, &bad, &three]);
        assert_eq!(code, 2, "{tag}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("{}:1: seed 8: {field}", name(&bad))),
            "{tag}: {stderr}"
        );
    }
}

/// Seeds belong to their shard's slice: a seed past the run's, or two
/// shards' seeds swapped (each then holds another's), are refused.
#[test]
fn merge_refuses_seeds_outside_their_slice() {
    let swarm = Swarm::new("slices");
    let [one, two, three] = swarm.three();
    let outside = swarm.tampered(&two, "shard-2-outside", |r| {
        r["seed_runs"][0]["seed"] = 100.into();
    });
    let (code, _, stderr) = merge(&[&one, &outside, &three]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:1: seed 100: not one of the run's seeds (3 seeds from 7",
            name(&outside)
        )),
        "{stderr}"
    );
    let one_holds_8 = swarm.tampered(&one, "shard-1-swapped", |r| {
        r["seed_runs"][0]["seed"] = 8.into();
    });
    let two_holds_7 = swarm.tampered(&two, "shard-2-swapped", |r| {
        r["seed_runs"][0]["seed"] = 7.into();
    });
    let (code, _, stderr) = merge(&[&one_holds_8, &two_holds_7, &three]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("seed 8: the run's seed number 2 (from 1), which shard 1/3 does not run"),
        "{stderr}"
    );
}

/// Price mismatches are carried per seed and add up over the shards: a
/// seed counting one (with its example) makes the merged report's
/// `price_mismatches` 1, where every seed judged its prices.
#[test]
fn merge_adds_up_price_mismatches() {
    let swarm = Swarm::new("prices");
    let [one, two, three] = swarm.three();
    let read = |args: &[&str]| {
        let (code, stdout, stderr) = fillproof(args);
        assert_eq!(code, 1, "falls short as written: {stdout}{stderr}");
        serde_json::from_str::<Value>(stdout.trim()).expect("one JSON report")
    };
    let merged = read(&["merge", &one, &two, &three, "--format", "json"]);
    assert_eq!(merged["price_mismatches"], 0, "{merged}");
    let judged: u64 = merged["seed_runs"]
        .as_array()
        .expect("seeds")
        .iter()
        .map(|s| s["tally"]["price_checked"].as_u64().expect("count"))
        .sum();
    assert_eq!(
        judged, 60,
        "every filled order of 3 seeds had its price judged"
    );
    // A count no run of seed 8 makes, taken on trust (`--verify none`),
    // adds up; re-run, it is refused.
    let wrong = swarm.reprinted(&two, "one-price-wrong", |r| {
        let tally = &mut r["seed_runs"][0]["tally"];
        tally["price_mismatches"] = 1.into();
        tally["price_examples"] = serde_json::json!(["8:3"]);
    });
    let merged = read(&[
        "merge", &one, &wrong, &three, "--format", "json", "--verify", "none",
    ]);
    assert_eq!(merged["price_mismatches"], 1, "{merged}");
    assert_eq!(
        merged["price_mismatch_examples"],
        serde_json::json!(["8:3"])
    );
    let (code, _, stderr) = merge(&[&one, &wrong, &three]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("seed 8: re-run with the report's setup (engine robust, strategy linear), it gives tally.price_"),
        "{stderr}"
    );
}

/// The naive baseline on a QQQ status-lag incident: it
/// misses fills on seeds 20251018 to 20251020, against
/// `missed_fills: "== 0"`.
const MISSES: &str = r#"version: 1
name: merge-misses
seed: 20251018
workload:
  orders: 4
  symbols: [QQQ]
  side: buy
  qty: 46
  type: market
  reference_price: {QQQ: "512.30"}
engine:
  kind: naive
  timeout: 60s
  polling: {strategy: linear, initial: 500ms, step: 100ms, max: 2s}
broker:
  latency:
    submit: 80ms
    get_order: {uniform: [20ms, 60ms]}
    cancel: 50ms
  fill:
    probability: 1
    delay: 1.2s
    slippage_bps: 1
  visibility:
    status_lag: {uniform: [0s, 90s]}
  cancel:
    when_filled: reject_422
expect:
  missed_fills: "== 0"
"#;

impl Swarm {
    /// A scratch folder holding [`MISSES`] as its scenario.
    fn misses(tag: &str) -> Self {
        let swarm = Self::new(tag);
        std::fs::write(&swarm.scenario, MISSES).expect("scenario");
        swarm
    }

    /// Runs shard `slice` of `seeds` seeds into `NAME.json`.
    fn seeds(&self, name: &str, seeds: &str, slice: &str) -> String {
        let args = [
            "run",
            &self.scenario,
            "--seeds",
            seeds,
            "--shard",
            slice,
            "--format",
            "json",
        ];
        let (code, stdout, stderr) = fillproof(&args);
        assert!(code <= 1, "{args:?}: {stderr}");
        let path = self.dir.join(format!("{name}.json"));
        std::fs::write(&path, stdout).expect("shard written");
        path.to_str().expect("utf-8").to_owned()
    }

    /// A copy of `shard` with `change` made to its JSON and then every
    /// field `run` derives from its seed runs and labels printed again,
    /// as a tamperer with this fillproof's code would: metrics, checks,
    /// trace hashes and the rest agree with the edit.
    fn reprinted(&self, shard: &str, name: &str, change: impl FnOnce(&mut Value)) -> String {
        use fillproof_harness::measure::report::{Provenance, Report, ReportInput, SeedSummary};
        let scenario =
            fillproof_simulator::Scenario::load(Path::new(&self.scenario)).expect("scenario loads");
        self.tampered(shard, name, |report| {
            change(report);
            let text = |field: &str| report[field].as_str().expect("text").to_owned();
            let runs: Vec<SeedSummary> =
                serde_json::from_value(report["seed_runs"].clone()).expect("seed runs");
            let mut again = Report::of_summaries(
                &ReportInput {
                    scenario: &scenario,
                    file: &text("file"),
                    engine: &text("engine"),
                    strategy: &text("strategy"),
                    wall_ms: report["wall_ms"].as_f64().expect("wall"),
                    expectations: report
                        .get("expectations_skipped")
                        .and_then(Value::as_str)
                        .map_or(Ok(()), |why| Err(why.to_owned())),
                    replay_flags: text("replay_flags"),
                },
                runs,
            );
            again.provenance = Some(
                serde_json::from_value::<Provenance>(report["provenance"].clone())
                    .expect("provenance"),
            );
            *report = serde_json::to_value(&again).expect("report");
        })
    }
}

/// What /tmp's `tamper.py` did: every missed fill of a seed made a
/// detection, consistently (detected = filled, missed 0, a latency sample
/// for each new detection, no missed examples).
fn hide_misses(tally: &mut Value) {
    let filled = tally["filled_orders"].as_u64().expect("count");
    let added = filled - tally["detected"].as_u64().expect("count");
    tally["detected"] = filled.into();
    tally["missed_fills"] = 0.into();
    tally["price_checked"] = filled.into();
    tally["timed_out"] = 0.into();
    let samples = tally["latencies_ms"].as_array_mut().expect("samples");
    samples.extend((0..added).map(|_| Value::from(1000.0)));
    tally["examples"][0] = serde_json::json!([]);
}

/// Seed runs whose counts were edited consistently, the whole report
/// printed again to agree, pass every threshold the honest shards fail;
/// the merge re-runs the seed and refuses, naming the report, the seed and
/// the field. One seed a shard: the default sample re-runs it. Under
/// `--verify none` the same shards merge to a report that says it is
/// unverified and exits 1, not 0.
#[test]
fn merge_reruns_a_sampled_seed_and_refuses_its_edited_counts() {
    let swarm = Swarm::misses("edited-counts");
    let one = swarm.seeds("shard-1", "2", "1/2");
    let two = swarm.seeds("shard-2", "2", "2/2");
    let (code, stdout, stderr) = merge(&[&one, &two]);
    assert_eq!(code, 1, "the naive engine misses fills: {stdout}{stderr}");
    assert!(
        stdout.contains("expect missed_fills") && stdout.contains("FELL SHORT"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verified                 2 of 2 seeds re-run"),
        "{stdout}"
    );
    let edit = |r: &mut Value| hide_misses(&mut r["seed_runs"][0]["tally"]);
    let one_hidden = swarm.reprinted(&one, "shard-1-hidden", edit);
    let two_hidden = swarm.reprinted(&two, "shard-2-hidden", edit);

    // Unverified, the edit passes the threshold: what the merge refuses.
    let junit = swarm.dir.join("unverified.xml");
    let junit = junit.to_str().expect("utf-8");
    let (code, stdout, stderr) = merge(&[
        &one_hidden,
        &two_hidden,
        "--verify",
        "none",
        "--junit",
        junit,
    ]);
    assert_eq!(code, 1, "unverified is never a pass: {stdout}{stderr}");
    assert!(!stdout.contains("FELL SHORT"), "{stdout}");
    assert!(stdout.contains("UNVERIFIED"), "{stdout}");
    let xml = std::fs::read_to_string(junit).expect("JUnit written");
    assert!(
        xml.contains("<failure") && xml.contains("unverified: merge --verify none"),
        "{xml}"
    );

    let (code, stdout, stderr) = merge(&[&one_hidden, &two_hidden]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing merged is printed: {stdout}");
    assert!(
        stderr.contains(&format!(
            "report {one_hidden}:1: seed 20251018: re-run with the report's setup (engine naive, strategy linear), it gives tally."
        )),
        "{stderr}"
    );
    // Edited in one shard only, the seed is still re-run and refused.
    let (code, _, stderr) = merge(&[&one, &two_hidden, "--verify", "all"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("report {two_hidden}:1: seed 20251019: re-run")),
        "{stderr}"
    );
}

/// One shard of three seeds, the middle one's counts edited consistently:
/// `--verify all` re-runs every seed and always refuses it; a sample of
/// it re-runs two of the three (half, rounded up), the same two for the
/// same `--verify-key`, and says which.
#[test]
fn merge_verify_all_refuses_any_edited_seed() {
    let swarm = Swarm::misses("verify-all");
    let whole = swarm.seeds("whole", "3", "1/1");
    let edited = swarm.reprinted(&whole, "whole-edited", |r| {
        hide_misses(&mut r["seed_runs"][1]["tally"]);
    });
    let (code, _, stderr) = merge(&[&edited, "--verify", "all"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("report {edited}:1: seed 20251019: re-run")),
        "{stderr}"
    );

    let verified = |key: &str| {
        let (code, stdout, stderr) = merge(&[&whole, "--verify-key", key, "--format", "json"]);
        assert_eq!(code, 1, "{stderr}");
        let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
        let verification = &report["verification"];
        assert_eq!(verification["mode"], "sample", "{verification}");
        assert_eq!(verification["seeds"], 3, "{verification}");
        assert_eq!(
            verification["key"],
            format!("{:0>16}", key),
            "{verification}"
        );
        let seeds: Vec<u64> = verification["verified"]
            .as_array()
            .expect("seeds")
            .iter()
            .map(|s| s.as_u64().expect("seed"))
            .collect();
        // Two sampled; the seed a threshold fell short on is among them or
        // added.
        assert!(seeds.len() == 2 || seeds.len() == 3, "{seeds:?}");
        assert!(
            seeds.contains(&20251018),
            "the first failing seed: {seeds:?}"
        );
        seeds
    };
    assert_eq!(verified("1f"), verified("1f"));
}

/// One seed's summary copied over another's (its seed rewritten) carries
/// the other's trace hash, which no run of a second seed makes: refused,
/// naming both seeds and their reports.
#[test]
fn merge_refuses_two_seeds_with_one_trace() {
    let swarm = Swarm::misses("one-trace");
    let one = swarm.seeds("shard-1", "2", "1/2");
    let two = swarm.seeds("shard-2", "2", "2/2");
    let donor: Value =
        serde_json::from_str(std::fs::read_to_string(&one).expect("shard").trim()).expect("json");
    let copied = swarm.reprinted(&two, "shard-2-copied", |r| {
        let mut run = donor["seed_runs"][0].clone();
        run["seed"] = 20251019.into();
        for list in run["tally"]["examples"].as_array_mut().expect("examples") {
            for example in list.as_array_mut().expect("list") {
                let renamed = example
                    .as_str()
                    .expect("example")
                    .replace("20251018:", "20251019:");
                *example = renamed.into();
            }
        }
        r["seed_runs"][0] = run;
    });
    let (code, stdout, stderr) = merge(&[&one, &copied]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "seed 20251018 (report {one}:1) and seed 20251019 (report {copied}:1) carry the same trace hash"
        )),
        "{stderr}"
    );
}

/// Every shard relabelled with another engine: the label alone disagrees
/// with the setup its scenario and replay flags make, and is refused
/// naming the field; relabelled throughout (engine, replay flags, the
/// skipped expectations, printed again), the seeds re-run with the
/// labelled engine give other results, and are refused.
#[test]
fn merge_refuses_a_relabelled_engine() {
    let swarm = Swarm::misses("relabelled");
    let one = swarm.seeds("shard-1", "2", "1/2");
    let two = swarm.seeds("shard-2", "2", "2/2");
    let label = |r: &mut Value| r["engine"] = "robust".into();
    let one_label = swarm.tampered(&one, "shard-1-label", label);
    let two_label = swarm.tampered(&two, "shard-2-label", label);
    let (code, _, stderr) = merge(&[&one_label, &two_label]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "report {one_label}:1: `engine` is \"robust\", and fillproof"
        )) && stderr.contains("prints \"naive\" there"),
        "{stderr}"
    );

    let setup = |r: &mut Value| {
        r["engine"] = "robust".into();
        r["replay_flags"] = "--engine robust".into();
        r["expectations_skipped"] =
            "--engine, --strategy or --orders overrides the scenario's setup".into();
    };
    let one_setup = swarm.reprinted(&one, "shard-1-setup", setup);
    let two_setup = swarm.reprinted(&two, "shard-2-setup", setup);
    let (code, _, stderr) = merge(&[&one_setup, &two_setup]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "report {one_setup}:1: seed 20251018: re-run with the report's setup (engine robust, strategy linear), it gives trace_hash"
        )),
        "{stderr}"
    );
}

/// A field this fillproof does not print, at the top, in the provenance
/// or in a seed's tally, is refused naming it: a merge takes a report
/// only as it was printed.
#[test]
fn merge_refuses_unknown_fields() {
    let swarm = Swarm::new("unknown");
    let [one, two, three] = swarm.three();
    type Change = fn(&mut Value);
    let cases: [(&str, Change, &str); 3] = [
        ("top", |r| r["zzz"] = 1.into(), "zzz"),
        (
            "provenance",
            |r| r["provenance"]["extra"] = "x".into(),
            "provenance.extra",
        ),
        (
            "tally",
            |r| r["seed_runs"][0]["tally"]["bogus"] = 5.into(),
            "seed_runs[0].tally.bogus",
        ),
    ];
    for (tag, change, field) in cases {
        let bad = swarm.tampered(&two, tag, change);
        let (code, stdout, stderr) = merge(&[&one, &bad, &three]);
        assert_eq!(code, 2, "{tag}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("report {bad}:1: unknown field `{field}`")),
            "{tag}: {stderr}"
        );
    }
}

/// A refused merge writes its JUnit file too, with one error case saying
/// why: a CI job reading the file never finds an earlier passing report
/// standing for a merge that was refused.
#[test]
fn a_refused_merge_replaces_its_junit_file_with_the_refusal() {
    let swarm = Swarm::new("junit");
    let [one, _, _] = swarm.three();
    let junit = swarm.dir.join("merge.xml");
    std::fs::write(&junit, "<testsuite failures=\"0\"/>").expect("stale file");
    let junit = junit.to_str().expect("utf-8");
    let (code, _, stderr) = merge(&[&one, "--junit", junit]);
    assert_eq!(code, 2, "{stderr}");
    let xml = std::fs::read_to_string(junit).expect("junit written");
    assert!(
        xml.contains("merge refused") && xml.contains("is missing"),
        "{xml}"
    );
}
