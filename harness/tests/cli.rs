//! The `fillproof` command line, end to end: exit codes, and whole-output
//! snapshots with wall-clock figures filtered out.

mod command;

use std::process::Command;

use command::{fillproof, scratch, workspace};

fn transcript(args: &[&str]) -> String {
    let (code, stdout, stderr) = fillproof(args);
    format!(
        "$ fillproof {}\nexit code: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        args.join(" ")
    )
}

macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            filters => vec![
                (r"\d+(\.\d+)? ms wall \(x\d+\)", "[WALL] ms wall (x[SPEEDUP])"),
                (r#""wall_ms":[0-9.]+"#, r#""wall_ms":"[WALL]""#),
                (r#""speedup":[0-9.]+"#, r#""speedup":"[SPEEDUP]""#),
            ],
        }, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

/// `check` on the good library exits 0 and lists each file.
#[test]
fn check_good_files() {
    snapshot!(
        "check_good",
        transcript(&[
            "check",
            "scenarios/cancel-fill-race.yaml",
            "scenarios/incidents"
        ])
    );
}

/// `check` on a bad file exits 2 and names file, line, field and fix.
#[test]
fn check_bad_file() {
    let folder = scratch("cli");
    let dir = folder.path();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\nname: bad\nworkload:\n  orders: 1\n  symbols: [SPY]\n  qty: 1\n  reference_price: {SPY: \"1\"}\nbroker:\n  faults:\n    get_order: {timeout: 1.5}\n",
    )
    .expect("write");
    let (code, stdout, stderr) = fillproof(&["check", bad.to_str().expect("utf-8 path")]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let stderr = stderr.replace(bad.to_str().expect("utf-8 path"), "bad.yaml");
    snapshot!("check_bad", stderr);
}

/// `check` on a file with several problems exits 2 and names every one,
/// each with its line, field and fix, in file order: a misspelt field, an
/// out-of-range probability, and a timeline order that does not exist.
#[test]
fn check_names_every_problem() {
    let folder = scratch("cli");
    let bad = folder.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\nname: bad\nworkload:\n  orders: 1\n  symbols: [SPY]\n  qty: 1\n  reference_price: {SPY: \"1\"}\nengine:\n  timout: 30s\nbroker:\n  faults:\n    get_order: {timeout: 1.5}\ntimeline:\n  - {at: 1s, order: 3, event: fill}\n",
    )
    .expect("write");
    let (code, stdout, stderr) = fillproof(&["check", bad.to_str().expect("utf-8 path")]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let stderr = stderr.replace(bad.to_str().expect("utf-8 path"), "bad.yaml");
    snapshot!("check_every_problem", stderr);
}

/// `run` on the QQQ incident: the table, exit 0.
#[test]
fn run_incident_table() {
    snapshot!(
        "run_incident",
        transcript(&["run", "scenarios/incidents/incident-qqq-status-lag.yaml"])
    );
}

/// `replay` of the cancel race: both orders side by side.
#[test]
fn replay_cancel_race() {
    snapshot!(
        "replay_cancel_race",
        transcript(&["replay", "scenarios/cancel-fill-race.yaml"])
    );
}

/// `replay` of a scenario with a `market:` section: each acceptance and
/// fill with the symbol's quote and price at its instant, the submit with
/// the instant it was sent and the quote then.
#[test]
fn replay_beside_the_market() {
    snapshot!(
        "replay_market_data_bot",
        transcript(&[
            "replay",
            "scenarios/wire/market-data-bot.yaml",
            "--order",
            "1"
        ])
    );
}

/// In a replay beside the market, each acceptance shows the quote the
/// run's market gives at that instant, and each submit the engine sent
/// shows when it was sent; a scenario without a `market:` section shows
/// no quote.
#[test]
fn replay_quotes_are_the_markets() {
    let (code, stdout, stderr) = fillproof(&["replay", "scenarios/wire/market-data-bot.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    let scenario =
        fillproof_harness::commands::load(&workspace().join("scenarios/wire/market-data-bot.yaml"))
            .expect("scenario");
    let seed = scenario.seed;
    let spec = fillproof_harness::run::RunSpec::from_scenario(scenario, seed).expect("spec");
    let run = fillproof_harness::run::run_seed(&spec, &|| {}).expect("run");
    assert!(!run.ledger.orders().is_empty());
    for order in run.ledger.orders() {
        let quote = run
            .market
            .quote_at(&order.symbol, order.accepted_at)
            .expect("listed");
        let line = format!(
            "accepted as {} · quote {:.2}×{:.2}, price ",
            order.id, quote.bid, quote.ask
        );
        assert!(stdout.contains(&line), "{line}\n{stdout}");
    }
    let submits: Vec<&str> = stdout.lines().filter(|l| l.contains("submit →")).collect();
    assert!(!submits.is_empty());
    for line in submits {
        assert!(line.contains(" · sent "), "{line}");
    }
    let (_, plain, _) = fillproof(&["replay", "scenarios/cancel-fill-race.yaml"]);
    assert!(!plain.contains("quote"), "{plain}");
}

/// The incident's JSON shows detection rate 1 for robust and 0 for naive,
/// with the fields DESIGN.md names at the top level.
#[test]
fn incident_json_robust_detects_naive_misses() {
    let file = "scenarios/incidents/incident-qqq-status-lag.yaml";
    let parse = |args: &[&str]| -> serde_json::Value {
        let (code, stdout, stderr) = fillproof(args);
        assert!(code == 0, "{stderr}");
        serde_json::from_str(stdout.trim()).expect("one JSON object")
    };
    let robust = parse(&["run", file, "--format", "json"]);
    let naive = parse(&["run", file, "--format", "json", "--engine", "naive"]);
    assert_eq!(robust["detection_rate"], 1.0);
    assert_eq!(naive["detection_rate"], 0.0);
    assert_eq!(naive["missed_fills"], 1);
    for field in [
        "detection_rate",
        "missed_fills",
        "false_positives",
        "timeout_rate",
        "unresolved",
        "duplicate_orders",
        "consistency_violations",
        "api_calls_per_order",
        "orders",
        "seed",
        "wall_ms",
    ] {
        assert!(
            robust[field].is_number(),
            "{field} is not a number: {}",
            robust[field]
        );
    }
    for p in ["p50", "p95", "p99", "max"] {
        assert!(robust["detection_latency_ms"][p].is_number(), "{p}");
    }
    assert!(robust["trace_hash"].is_string());
    assert_eq!(robust["scenario"], "incident-qqq-status-lag");
}

/// A shortfall exits 1 and prints the replay command; a missing file exits 2.
#[test]
fn exit_codes_for_shortfall_and_bad_input() {
    let (code, stdout, _) = fillproof(&[
        "gate",
        "scenarios/canaries/naive-misses-status-lag.yaml",
        "scenarios/cancel-fill-race.yaml",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = fillproof(&[
        "run",
        "scenarios/incidents/incident-qqq-status-lag.yaml",
        "--orders",
        "1",
        "--seed",
        "20251017",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = fillproof(&["run", "scenarios/no-such-file.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("check the path"), "{stderr}");
    let (code, _, stderr) = fillproof(&[
        "run",
        "scenarios/cancel-fill-race.yaml",
        "--strategy",
        "linaer",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("did you mean `linear`"), "{stderr}");
}

/// A gate over a scenario whose threshold cannot hold exits 1 and names
/// the metric, the threshold and the replay command; JUnit XML is written.
#[test]
fn gate_shortfall_exits_one_with_replay_and_junit() {
    let folder = scratch("gate");
    let dir = folder.path();
    let source =
        std::fs::read_to_string(workspace().join("scenarios/cancel-fill-race.yaml")).expect("read");
    let strict = source.replace("detection_rate: \"== 1\"", "timeout_rate: \"== 0\"");
    let file = dir.join("strict.yaml");
    std::fs::write(&file, strict).expect("write");
    let junit = dir.join("junit.xml");
    let (code, stdout, _) = fillproof(&[
        "gate",
        file.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("timeout_rate == 0 fell short: actual 1"),
        "{stdout}"
    );
    assert!(stdout.contains("replay: fillproof replay"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.contains("failures=\"1\""), "{xml}");
}

/// A gate that would run nothing is bad input (exit 2), and a file that
/// fails to load is one failed JUnit case while the other files still run.
#[test]
fn gate_refuses_to_run_nothing_and_reports_unloadable_files() {
    let folder = scratch("empty");
    let dir = folder.path();
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("temp dir");
    let (code, stdout, stderr) = fillproof(&["gate", empty.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stderr.contains("runs nothing"), "{stderr}");

    let mixed = dir.join("mixed");
    std::fs::create_dir_all(&mixed).expect("temp dir");
    std::fs::write(mixed.join("a-broken.yaml"), "version: 1\nname: [\n").expect("write");
    std::fs::copy(
        workspace().join("scenarios/cancel-fill-race.yaml"),
        mixed.join("b-good.yaml"),
    )
    .expect("copy");
    let junit = dir.join("junit.xml");
    let (code, stdout, _) = fillproof(&[
        "gate",
        mixed.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("PASS   cancel-fill-race"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.contains("tests=\"2\""), "{xml}");
}

/// `--trace` writes every event as a JSON line tagged with its seed.
#[test]
fn trace_file_has_one_json_line_per_event() {
    let folder = scratch("trace");
    let dir = folder.path();
    let trace = dir.join("trace.jsonl");
    let (code, _, stderr) = fillproof(&[
        "run",
        "scenarios/cancel-fill-race.yaml",
        "--seeds",
        "2",
        "--trace",
        trace.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&trace).expect("trace written");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(events.len() > 20, "{} events", events.len());
    assert!(
        events
            .iter()
            .all(|e| e["t_us"].is_number() && e["event"].is_string())
    );
    let seeds: std::collections::BTreeSet<u64> =
        events.iter().filter_map(|e| e["seed"].as_u64()).collect();
    assert_eq!(seeds, [7, 8].into_iter().collect());
}

/// The report does not depend on how many threads ran the seeds.
#[test]
fn output_does_not_depend_on_job_count() {
    let args = |jobs: &'static str| {
        vec![
            "run",
            "scenarios/swarm.yaml",
            "--seeds",
            "6",
            "--format",
            "json",
            "--jobs",
            jobs,
        ]
    };
    let strip = |text: String| -> serde_json::Value {
        let mut value: serde_json::Value = serde_json::from_str(text.trim()).expect("JSON");
        value["wall_ms"] = serde_json::Value::Null;
        value["speedup"] = serde_json::Value::Null;
        value
    };
    let (_, one, _) = fillproof(&args("1"));
    let (_, three, _) = fillproof(&args("3"));
    assert_eq!(strip(one), strip(three));
}

/// `run --audit` writes a log that `audit verify` accepts; an edited line
/// makes it exit 1 naming the line; `audit export` gives one trader's
/// records only.
#[test]
fn audit_log_round_trip() {
    let folder = scratch("audit-cli");
    let dir = folder.path();
    let log = dir.join("audit.jsonl");
    let log_arg = log.to_str().expect("utf-8");
    let (code, _, stderr) = fillproof(&[
        "run",
        "scenarios/lifecycle/many-traders.yaml",
        "--orders",
        "60",
        "--audit",
        log_arg,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = fillproof(&["audit", "verify", log_arg]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("hash chain intact"), "{stdout}");

    let (code, csv, stderr) = fillproof(&[
        "audit",
        "export",
        log_arg,
        "--trader",
        "trader-7",
        "--from",
        "2025-01-02",
        "--to",
        "2025-01-02",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r.split(',').nth(2) == Some("trader-7")),
        "{csv}"
    );

    let text = std::fs::read_to_string(&log).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[4] = lines[4].replacen("\"symbol\":\"", "\"symbol\":\"X", 1);
    std::fs::write(&log, lines.join("\n")).expect("write");
    let (code, stdout, _) = fillproof(&["audit", "verify", log_arg]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("line 5: record 5 was edited"), "{stdout}");
}

/// Counts of zero are bad input, refused before any work, and so is an
/// order a replay does not have.
#[test]
fn zero_counts_and_missing_orders_are_bad_input() {
    for args in [
        ["run", "scenarios/slippage.yaml", "--seeds", "0"],
        ["run", "scenarios/slippage.yaml", "--jobs", "0"],
        ["run", "scenarios/slippage.yaml", "--orders", "0"],
        ["gate", "scenarios/slippage.yaml", "--seeds", "0"],
        ["replay", "scenarios/cancel-fill-race.yaml", "--order", "99"],
    ] {
        let (code, stdout, stderr) = fillproof(&args);
        assert_eq!(code, 2, "{args:?}: {stdout}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?} did work: {stdout}");
    }
}

/// A reader that closes the pipe early (`fillproof run ... | head -1`)
/// ends the command quietly with exit 0, not with a panic.
#[test]
fn closed_stdout_pipe_exits_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fillproof"))
        .args([
            "run",
            "scenarios/slippage.yaml",
            "scenarios/status-lag.yaml",
        ])
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    // Close the read end before the run has printed anything.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `audit verify` and `audit export` refuse a device or a FIFO before
/// opening it (a FIFO used to hang them, `/dev/zero` to eat memory): exit 2
/// with the file named.
#[test]
fn audit_reads_only_bounded_regular_files() {
    let (code, _, stderr) = fillproof(&["audit", "verify", "/dev/zero"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("not a regular file"),
        "{stderr}"
    );

    let folder = scratch("audit-fifo");
    let dir = folder.path();
    let fifo = dir.join("audit.jsonl");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let fifo = fifo.to_str().expect("utf-8 path");
    let (code, _, stderr) = fillproof(&[
        "audit",
        "export",
        fifo,
        "--trader",
        "t",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-02",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

/// A scenario in a fresh temporary folder, which goes when the folder
/// returned beside its path is dropped.
fn temp_scenario(tag: &str, yaml: &str) -> (tempfile::TempDir, String) {
    let folder = scratch(&format!("cli-{tag}"));
    let path = folder.path().join("scenario.yaml");
    std::fs::write(&path, yaml).expect("scenario");
    let path = path.to_str().expect("utf-8 path").to_owned();
    (folder, path)
}

const NEVER_FILLS: &str = r#"version: 1
name: heavy
workload:
  orders: ORDERS
  symbols: [SPY]
  qty: 10
  reference_price: {SPY: "590.10"}
engine:
  timeout: TIMEOUT
  polling: {strategy: fixed, interval: INTERVAL}
broker:
  fill: {probability: 0}
"#;

fn never_fills(orders: &str, timeout: &str, interval: &str) -> String {
    NEVER_FILLS
        .replace("ORDERS", orders)
        .replace("TIMEOUT", timeout)
        .replace("INTERVAL", interval)
}

/// Runs whose work would explode are refused before any work, with the
/// figures and a way out: a ten-year deadline or 1 ns polling by `check`
/// (with line and field), a day of 10 ms polling for a thousand orders by
/// the run's plan, ten million orders at once by its memory estimate.
#[test]
fn runs_that_would_explode_are_refused() {
    let (_scratch, path) = temp_scenario("decade", &never_fills("1", "87600h", "1s"));
    let (code, _, stderr) = fillproof(&["check", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(":9:") && stderr.contains("engine.timeout"),
        "{stderr}"
    );

    let (_scratch, path) = temp_scenario("nanos", &never_fills("1", "60s", "1ns"));
    let (code, _, stderr) = fillproof(&["run", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("engine.polling.interval") && stderr.contains("10ms"),
        "{stderr}"
    );

    let (_scratch, path) = temp_scenario("day", &never_fills("1000", "24h", "10ms"));
    let (code, stdout, stderr) = fillproof(&["run", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "nothing ran: {stdout}");
    assert!(
        stderr.contains("order reads") && stderr.contains("shorten engine.timeout"),
        "{stderr}"
    );

    let (_scratch, path) = temp_scenario("burst", &never_fills("10000000", "10s", "1s"));
    let (code, _, stderr) = fillproof(&["run", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("in flight at once") && stderr.contains("workload.arrival"),
        "{stderr}"
    );
}

/// `--strategy hybrid` on a scenario without a trade-updates stream is bad
/// input, said before any work; on the stream day it runs.
#[test]
fn hybrid_needs_a_stream() {
    let (code, _, stderr) = fillproof(&["run", "scenarios/outage.yaml", "--strategy", "hybrid"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("broker.stream"), "{stderr}");
    let (code, stdout, stderr) =
        fillproof(&["run", "scenarios/stream-day.yaml", "--orders", "300"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("polling hybrid"), "{stdout}");
}

/// The shards of a run, merged, are the run: field by field the same JSON
/// report (wall-clock time aside, what the run was included), for each
/// scenario of the run; a shard given twice, or a shard with nothing to
/// run, is bad input.
#[test]
fn shards_merge_to_the_single_run() {
    let folder = scratch("shards");
    let dir = folder.path();
    let scenarios = ["scenarios/partial-fills.yaml", "scenarios/stream-day.yaml"];
    let base = |extra: &[&str]| {
        let mut args = vec!["run"];
        args.extend(scenarios);
        args.extend(["--seeds", "5", "--orders", "400", "--format", "json"]);
        args.extend(extra);
        let (code, stdout, stderr) = fillproof(&args);
        assert!(code <= 1, "{stderr}");
        stdout
    };
    let whole = base(&[]);
    let mut shard_files = Vec::new();
    for k in 1..=3 {
        let path = dir.join(format!("shard-{k}.json"));
        std::fs::write(&path, base(&["--shard", &format!("{k}/3")])).expect("shard");
        shard_files.push(path.to_str().expect("utf-8").to_owned());
    }
    let mut args = vec!["merge", "--format", "json"];
    args.extend(shard_files.iter().rev().map(String::as_str));
    let (code, merged, stderr) = fillproof(&args);
    assert!(code <= 1, "{stderr}");
    let strip = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|line| {
                let mut value: serde_json::Value = serde_json::from_str(line).expect("json");
                let object = value.as_object_mut().expect("object");
                object.remove("wall_ms");
                object.remove("speedup");
                value
            })
            .collect()
    };
    let (whole, mut merged) = (strip(&whole), strip(&merged));
    assert_eq!(whole.len(), 2);
    // The merge says which seeds it re-ran to vouch for them: half of
    // each shard's, rounded up (shards of 2, 2 and 1 seeds), and any a
    // threshold fell short on.
    for report in &mut merged {
        let verification = report
            .as_object_mut()
            .expect("object")
            .remove("verification")
            .expect("the merge says what it verified");
        assert_eq!(verification["mode"], "sample", "{verification}");
        assert_eq!(verification["seeds"], 5, "{verification}");
        let verified = verification["verified"].as_array().expect("seeds").len();
        assert!((3..=5).contains(&verified), "{verification}");
    }
    // What the run was is part of the report, and the same merged.
    for report in &whole {
        let provenance = &report["provenance"];
        assert_eq!(provenance["seeds"], 5, "{report}");
        assert_eq!(provenance["orders_override"], 400, "{report}");
        assert_eq!(
            provenance["scenario_sha256"].as_str().map(str::len),
            Some(64)
        );
        assert!(provenance.get("shard").is_none(), "a whole run: {report}");
    }
    assert_eq!(whole, merged);

    let junit = dir.join("swarm.xml");
    let junit_arg = junit.to_str().expect("utf-8").to_owned();
    let mut args = vec!["merge", "--junit", junit_arg.as_str()];
    args.extend(shard_files.iter().map(String::as_str));
    let (code, _, stderr) = fillproof(&args);
    assert!(code <= 1, "{stderr}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert_eq!(xml.matches("<testcase").count(), 2, "{xml}");

    let twice = [shard_files[0].as_str(), shard_files[0].as_str()];
    let (code, _, stderr) = fillproof(&[&["merge"][..], &twice[..]].concat());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("shard 1/3 of") && stderr.contains("is given twice"),
        "{stderr}"
    );
    let (code, _, stderr) = fillproof(&["run", scenarios[0], "--seeds", "2", "--shard", "3/3"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("leaves no seed"), "{stderr}");
    let (code, _, stderr) = fillproof(&["run", scenarios[0], "--shard", "0/3"]);
    assert_eq!(code, 2, "{stderr}");
}

/// A sweep split into shards (`sweep --shard K/N --format json`) and merged
/// prints the very table, and the very JSON points, one machine's sweep of
/// every seed prints; a shard needs JSON output, and sweep shards do not
/// mix with run shards.
#[test]
fn sweep_shards_merge_to_the_single_sweep() {
    let folder = scratch("sweep-shards");
    let dir = folder.path();
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "scenarios/status-lag.yaml",
            "scenarios/partial-fills.yaml",
            "--strategies",
            "linear,fixed,exponential",
            "--seeds",
            "5",
        ];
        args.extend(extra);
        let (code, stdout, stderr) = fillproof(&args);
        assert_eq!(code, 0, "{stderr}");
        stdout
    };
    let mut shard_files = Vec::new();
    for k in 1..=2 {
        let path = dir.join(format!("sweep-{k}.json"));
        std::fs::write(
            &path,
            sweep(&["--shard", &format!("{k}/2"), "--format", "json"]),
        )
        .expect("shard");
        shard_files.push(path.to_str().expect("utf-8").to_owned());
    }
    for format in ["table", "json"] {
        let whole = sweep(&["--format", format]);
        let mut args = vec!["merge", "--format", format];
        args.extend(shard_files.iter().map(String::as_str));
        let (code, merged, stderr) = fillproof(&args);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(whole, merged, "{format}");
        assert!(whole.lines().count() >= 6, "{whole}");
    }
    // A sweep's merge writes its JUnit file too: a case per strategy and
    // scenario.
    let junit = dir.join("sweep.xml");
    let junit = junit.to_str().expect("utf-8");
    let mut args = vec!["merge", "--junit", junit];
    args.extend(shard_files.iter().map(String::as_str));
    let (code, _, stderr) = fillproof(&args);
    assert_eq!(code, 0, "{stderr}");
    let xml = std::fs::read_to_string(junit).expect("sweep junit written");
    assert_eq!(xml.matches("<testcase").count(), 6, "{xml}");
    let (code, _, stderr) = fillproof(&["sweep", "scenarios/status-lag.yaml", "--shard", "1/2"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("add --format json"), "{stderr}");
    let run_shard = dir.join("run.json");
    let (_, run_json, _) = fillproof(&[
        "run",
        "scenarios/status-lag.yaml",
        "--seeds",
        "2",
        "--shard",
        "1/2",
        "--format",
        "json",
    ]);
    std::fs::write(&run_shard, run_json).expect("run shard");
    let (code, _, stderr) =
        fillproof(&["merge", &shard_files[0], run_shard.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("mix"), "{stderr}");
}

/// `--seed S --seeds N` with S + N - 1 past the largest seed is bad input
/// for `run`, and a scenario's own seed so near the top is for `sweep` and
/// `gate`; a list that ends exactly at the largest seed runs.
#[test]
fn seeds_never_wrap() {
    let max = u64::MAX.to_string();
    let (_scratch, path) = temp_scenario("wrap", &never_fills("5", "1s", "100ms"));
    let (code, stdout, stderr) = fillproof(&["run", &path, "--seed", &max, "--seeds", "3"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing ran: {stdout}");
    assert!(
        stderr.contains("3 seeds from 18446744073709551615 run past the largest seed")
            && stderr.contains("seeds never wrap"),
        "{stderr}"
    );
    let top = (u64::MAX - 2).to_string();
    let (code, stdout, stderr) = fillproof(&["run", &path, "--seed", &top, "--seeds", "3"]);
    assert!(code <= 1, "{stderr}");
    assert!(
        stdout.contains("seeds 18446744073709551613..18446744073709551615 (3)"),
        "{stdout}"
    );

    let near_top = format!("{}seed: {max}\n", never_fills("5", "1s", "100ms"));
    let (_scratch, path) = temp_scenario("wrap-own", &near_top);
    let (code, stdout, stderr) = fillproof(&["sweep", &path, "--seeds", "2"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("the scenario's seed 18446744073709551615 with --seeds 2")
            && stderr.contains("seeds never wrap"),
        "{stderr}"
    );
    let (code, stdout, stderr) = fillproof(&["gate", &path, "--seeds", "2"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains("ERROR") && stdout.contains("seeds never wrap"),
        "{stdout}"
    );
}

/// A timeline fill that only some draws of `workload.qty` fit: `check`
/// passes it with a warning (exit 0); a run whose seed draws too little for
/// the order is refused before any work (exit 2, naming the timeline's
/// line), never run with the fill cut short; a seed that draws enough runs.
#[test]
fn scripted_fill_larger_than_the_draw_refuses_the_run() {
    let yaml = "version: 1\nname: drawn\nworkload:\n  orders: 1\n  symbols: [SPY]\n  qty: {uniform: [1, 20]}\n  reference_price: {SPY: \"590.10\"}\ntimeline:\n  - {at: 1s, order: 0, event: fill, qty: 15}\n";
    let (_scratch, path) = temp_scenario("drawn", yaml);
    let (code, stdout, stderr) = fillproof(&["check", &path]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("warning: ")
            && stdout.contains(":9:")
            && stdout.contains("timeline[0].qty"),
        "{stdout}"
    );
    let scenario = fillproof_simulator::Scenario::load(std::path::Path::new(&path)).expect("loads");
    let qty = |seed| fillproof_simulator::order_qty(&scenario, seed, 0);
    let small = (1..200u64)
        .find(|seed| qty(*seed) < 15.into())
        .expect("a small draw");
    let large = (1..200u64)
        .find(|seed| qty(*seed) >= 15.into())
        .expect("a large draw");
    let (code, stdout, stderr) = fillproof(&["run", &path, "--seed", &small.to_string()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing ran: {stdout}");
    assert!(
        stderr.contains("line 9")
            && stderr.contains("for 15 shares is")
            && stderr.contains(&format!("past its {} shares", qty(small))),
        "{stderr}"
    );
    let (code, stdout, stderr) = fillproof(&["run", &path, "--seed", &large.to_string()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("warning: "),
        "run shows the warning too: {stderr}"
    );
}
