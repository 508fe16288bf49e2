//! The swarm workflow in `docs/ci/` runs as written: a team copies it
//! as it is, so its matrix, its variables and its `fillproof` commands are
//! checked against the command line here.

mod command;

use std::collections::BTreeMap;

use command::{fillproof, scratch, workspace};
use serde::Deserialize;

#[derive(Deserialize)]
struct Workflow {
    env: BTreeMap<String, String>,
    jobs: Jobs,
}

#[derive(Deserialize)]
struct Jobs {
    shard: Job,
    merge: Job,
}

#[derive(Deserialize)]
struct Job {
    strategy: Option<Strategy>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Strategy {
    matrix: Matrix,
}

#[derive(Deserialize)]
struct Matrix {
    shard: Vec<u32>,
}

#[derive(Deserialize)]
struct Step {
    run: Option<String>,
}

/// The `fillproof` arguments of the job's one step that runs it: the
/// words after `cargo run ... --`, up to a redirection or a pipe, with
/// line continuations joined, `vars` put in for the workflow's variables
/// and the shell's quotes taken off.
fn fillproof_args(job: &Job, vars: &[(&str, &str)]) -> Vec<String> {
    let scripts: Vec<&String> = job
        .steps
        .iter()
        .filter_map(|step| step.run.as_ref())
        .filter(|run| run.contains("cargo run"))
        .collect();
    assert_eq!(scripts.len(), 1, "one step runs fillproof: {scripts:?}");
    let script = scripts[0].replace("\\\n", " ");
    let (_, command) = script
        .split_once("cargo run --release --locked -- ")
        .expect("the step runs the release build");
    let command = command.split(['>', '|', '\n']).next().expect("a command");
    let mut command = command.to_owned();
    for (name, value) in vars {
        command = command.replace(name, value);
    }
    command
        .split_whitespace()
        .map(|word| word.trim_matches('"').to_owned())
        .collect()
}

fn strip_wall_clock(report: &str) -> String {
    report
        .lines()
        .filter(|line| !line.contains(" ms wall "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The matrix runs every shard from 1 to `SHARDS` once; each shard's
/// command, with a small scenario and seed count put in for the workflow's
/// `SCENARIO` and `SEEDS`, makes a JSON report; the merge job's command
/// over those reports prints the report one machine running every seed
/// prints (wall-clock time aside) and writes the JUnit file.
#[test]
fn swarm_workflow_runs_as_written() {
    let path = workspace().join("docs/ci/swarm.yml");
    let text = std::fs::read_to_string(&path).expect("docs/ci/swarm.yml");
    let workflow: Workflow = serde_saphyr::from_str(&text).expect("the workflow parses");
    let shards: u32 = workflow.env["SHARDS"].parse().expect("SHARDS is a number");
    let matrix = &workflow
        .jobs
        .shard
        .strategy
        .as_ref()
        .expect("a matrix")
        .matrix;
    assert_eq!(matrix.shard, (1..=shards).collect::<Vec<_>>());
    assert!(workflow.env.contains_key("SCENARIO") && workflow.env.contains_key("SEEDS"));

    let folder = scratch("swarm");
    let dir = folder.path();
    let scenario = "scenarios/partial-fills.yaml";
    let seeds = shards.to_string();
    let mut shard_files = Vec::new();
    for &k in &matrix.shard {
        let k = k.to_string();
        let args = fillproof_args(
            &workflow.jobs.shard,
            &[
                ("${{ matrix.shard }}", &k),
                ("$SHARDS", &shards.to_string()),
                ("$SCENARIO", scenario),
                ("$SEEDS", &seeds),
            ],
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = fillproof(&args);
        assert!(code <= 1, "shard {k}: {args:?}: {stderr}");
        let file = dir.join(format!("shard-{k}.json"));
        std::fs::write(&file, stdout).expect("shard report");
        shard_files.push(file.to_str().expect("utf-8").to_owned());
    }

    let junit = dir.join("swarm-junit.xml");
    let args = fillproof_args(&workflow.jobs.merge, &[]);
    let mut merge: Vec<&str> = Vec::new();
    for word in &args {
        match word.as_str() {
            "shards/*/shard.json" => merge.extend(shard_files.iter().map(String::as_str)),
            "swarm-junit.xml" => merge.push(junit.to_str().expect("utf-8")),
            other => merge.push(other),
        }
    }
    assert!(
        merge.len() > args.len(),
        "the merge reads the shards: {args:?}"
    );
    let (code, merged, stderr) = fillproof(&merge);
    assert!(code <= 1, "{merge:?}: {stderr}");
    let (code, whole, stderr) = fillproof(&["run", scenario, "--seeds", &seeds]);
    assert!(code <= 1, "{stderr}");
    // The merge adds the one line a run has not: the seeds it re-ran.
    let (verified, merged): (Vec<&str>, Vec<&str>) = merged
        .lines()
        .partition(|line| line.trim_start().starts_with("verified "));
    assert_eq!(
        verified.len(),
        1,
        "the merge says what it re-ran: {merged:?}"
    );
    assert!(verified[0].contains("seeds re-run"), "{verified:?}");
    let merged = merged.join("\n") + "\n";
    assert_eq!(strip_wall_clock(&merged), strip_wall_clock(&whole));
    let xml = std::fs::read_to_string(&junit).expect("JUnit written");
    assert_eq!(xml.matches("<testcase").count(), 1, "{xml}");
}
