//! `fillproof check`: validates scenario files and lists every problem,
//! and the warnings of the files that load.

use anyhow::Result;
use fillproof_simulator::Scenario;

use super::{Exit, scenario_files};
use crate::cli::CheckArgs;

/// Runs `check`.
///
/// # Errors
/// Any file with problems: the error lists them all, for exit code 2.
/// Warnings alone do not fail it: each is printed under its file's `ok`.
pub fn run(args: &CheckArgs) -> Result<Exit> {
    let files = scenario_files(&args.scenarios)?;
    let mut problems = Vec::new();
    for file in &files {
        match Scenario::load(file) {
            Ok(scenario) => {
                outln!("ok  {} ({})", file.display(), scenario.name);
                for warning in &scenario.warnings {
                    outln!("    warning: {warning}");
                }
            }
            Err(error) => problems.push(error.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(Exit::Success)
    } else {
        Err(anyhow::anyhow!("{}", problems.join("\n")))
    }
}
