//! `fillproof import`: an incident's records as a regression scenario.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use fillproof_simulator::{MAX_FILE_BYTES, Scenario, read_bounded_text};

use super::Exit;
use crate::cli::ImportCommand;
use crate::import::{self, Incident};

/// The largest export or audit log read.
const MAX_INPUT_BYTES: u64 = 256 << 20;

fn read(path: &Path, hint: &str) -> Result<String> {
    read_bounded_text(path, MAX_INPUT_BYTES, hint).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map_or_else(|| "import".into(), |s| s.to_string_lossy().into_owned());
    let slug: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("incident-{}", slug.trim_matches('-'))
}

/// Runs `import`: reads the records, writes the scenario (to `--output`
/// or stdout), and checks that it loads.
///
/// # Errors
/// A file that cannot be read or is not what it claims to be (exit 2,
/// naming the record and field), or an output that cannot be written.
pub fn run(command: &ImportCommand) -> Result<Exit> {
    let (incident, name, output) = match command {
        ImportCommand::Alpaca {
            orders,
            activities,
            output,
            name,
        } => (
            read_alpaca(orders, activities.as_deref())?,
            name.clone().unwrap_or_else(|| default_name(orders)),
            output,
        ),
        ImportCommand::Audit {
            audit_log,
            output,
            name,
        } => (
            read_audit(audit_log)?,
            name.clone().unwrap_or_else(|| default_name(audit_log)),
            output,
        ),
    };
    if name.trim().is_empty() {
        return Err(anyhow!(
            "--name is empty; a scenario's name says what it replays (leave --name out for `incident-` and the file's stem)"
        ));
    }
    let yaml = checked_yaml(&incident, &name, output.as_deref())?;
    match output {
        Some(path) => {
            std::fs::write(path, &yaml)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} ({} orders from {}); run it with: fillproof run {}",
                path.display(),
                incident.orders.len(),
                incident.source,
                path.display()
            );
        }
        None => out!("{yaml}"),
    }
    Ok(Exit::Success)
}

/// An incident from Alpaca's order history and, when given, its fill
/// activities.
///
/// # Errors
/// A file that cannot be read or is not the export it claims to be.
fn read_alpaca(orders: &Path, activities: Option<&Path>) -> Result<Incident> {
    let orders_text = read(
        orders,
        "an order history is JSON, as GET /v2/orders returns it",
    )?;
    let activities_text = activities
        .map(|path| {
            read(
                path,
                "fill activities are JSON, as GET /v2/account/activities/FILL returns them",
            )
        })
        .transpose()?;
    let activities_name = activities.map(|p| p.display().to_string());
    Ok(import::from_alpaca(
        &orders.display().to_string(),
        &orders_text,
        activities_name.as_deref().zip(activities_text.as_deref()),
    )?)
}

/// An incident from the engine's audit log, checked under the
/// `FILLPROOF_AUDIT_KEY` when set.
///
/// # Errors
/// A file that cannot be read, a bad key, or a log that is not what it
/// claims to be.
fn read_audit(audit_log: &Path) -> Result<Incident> {
    let text = read(
        audit_log,
        "an audit log is JSON lines, as the engine writes it",
    )?;
    let key = super::audit::env_key()?;
    Ok(import::from_audit_with_key(
        &audit_log.display().to_string(),
        &text,
        key.as_ref(),
    )?)
}

/// The incident's scenario YAML, shown to fit in a scenario file and to
/// load.
///
/// # Errors
/// A scenario too large for a file, or one that does not load (a bug).
fn checked_yaml(incident: &Incident, name: &str, output: Option<&Path>) -> Result<String> {
    let yaml = import::scenario_yaml(incident, name);
    let label = output.map_or_else(
        || "imported scenario".to_owned(),
        |p| p.display().to_string(),
    );
    let base = output.and_then(|p| p.parent());
    if yaml.len() as u64 > MAX_FILE_BYTES {
        return Err(anyhow!(
            "{}: the scenario of its {} orders would be {} bytes, over the {MAX_FILE_BYTES} bytes a scenario file holds; import a shorter stretch of the export",
            incident.source,
            incident.orders.len(),
            yaml.len()
        ));
    }
    Scenario::parse(yaml.as_bytes(), &label, base)
        .map_err(|e| anyhow!("the imported scenario does not load; please report it:\n{e}"))?;
    Ok(yaml)
}
