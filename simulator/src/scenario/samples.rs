//! `samples_file` distributions: every place one may stand, and reading
//! the samples it names.

use std::path::Path;

use super::Scenario;
use super::broker::{BrokerSpec, LatencySpec};
use super::read::{MAX_SAMPLES_FILE_BYTES, read_bounded_text};
use crate::distribution::Dist;
use crate::duration::parse_duration;
use crate::error::{Diagnostic, ScenarioError};

/// Every distribution of a scenario, with its field path and whether its
/// values are durations: the places a `samples_file` may stand.
fn distributions_mut(scenario: &mut Scenario) -> Vec<(String, &mut Dist, bool)> {
    let mut out: Vec<(String, &mut Dist, bool)> = Vec::new();
    let workload = &mut scenario.workload;
    if let Some(arrival) = &mut workload.arrival {
        out.push(("workload.arrival".into(), &mut arrival.0, true));
    }
    out.push(("workload.qty".into(), &mut workload.qty.0, false));
    broker_distributions(&mut scenario.broker, &mut out);
    out
}

/// The distributions of the `broker:` section, in the order
/// [`distributions_mut`] lists them.
fn broker_distributions<'a>(
    broker: &'a mut BrokerSpec,
    out: &mut Vec<(String, &'a mut Dist, bool)>,
) {
    for (endpoint, latency) in &mut broker.latency {
        match latency {
            LatencySpec::RoundTrip(d) => {
                out.push((format!("broker.latency.{endpoint}"), &mut d.0, true));
            }
            LatencySpec::Legs { request, response } => {
                out.push((
                    format!("broker.latency.{endpoint}.request"),
                    &mut request.0,
                    true,
                ));
                out.push((
                    format!("broker.latency.{endpoint}.response"),
                    &mut response.0,
                    true,
                ));
            }
        }
    }
    out.push(("broker.fill.delay".into(), &mut broker.fill.delay.0, true));
    out.push((
        "broker.fill.slippage_bps".into(),
        &mut broker.fill.slippage_bps.0,
        false,
    ));
    if let Some(partial) = &mut broker.fill.partial {
        out.push((
            "broker.fill.partial.spacing".into(),
            &mut partial.spacing.0,
            true,
        ));
    }
    let visibility = &mut broker.visibility;
    out.push((
        "broker.visibility.status_lag".into(),
        &mut visibility.status_lag.0,
        true,
    ));
    if let Some(stale) = &mut visibility.stale_reads {
        out.push((
            "broker.visibility.stale_reads.age".into(),
            &mut stale.age.0,
            true,
        ));
    }
    out.push((
        "broker.position_lag".into(),
        &mut broker.position_lag.0,
        true,
    ));
    out.push((
        "broker.rejections.async_delay".into(),
        &mut broker.rejections.async_delay.0,
        true,
    ));
    if let Some(stream) = &mut broker.stream {
        out.push(("broker.stream.delay".into(), &mut stream.delay.0, true));
        if let Some(disconnects) = &mut stream.disconnects {
            out.push((
                "broker.stream.disconnects.every".into(),
                &mut disconnects.value.every.0,
                true,
            ));
            out.push((
                "broker.stream.disconnects.down_for".into(),
                &mut disconnects.value.down_for.0,
                true,
            ));
        }
    }
}

/// Replaces every `samples_file` with the samples it holds, read relative
/// to `base_dir` (the scenario file's folder).
pub(super) fn resolve_sample_files(
    scenario: &mut Scenario,
    file: &str,
    text: &str,
    base_dir: Option<&Path>,
) -> Result<(), ScenarioError> {
    let mut diagnostics = Vec::new();
    for (field, dist, durations) in distributions_mut(scenario) {
        let Dist::SamplesFile(relative) = &*dist else {
            continue;
        };
        let full = base_dir.map_or_else(
            || Path::new(relative).to_path_buf(),
            |dir| dir.join(relative),
        );
        match read_samples(&full, durations) {
            Ok(values) => *dist = Dist::Samples(values),
            Err(message) => diagnostics.push(Diagnostic {
                file: file.to_owned(),
                line: line_of_samples_file(text, relative),
                column: None,
                field: Some(field),
                message: format!("samples_file `{}`: {message}", full.display()),
            }),
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(ScenarioError { diagnostics })
    }
}

/// The line (from 1) of the first `samples_file` naming `path`.
fn line_of_samples_file(text: &str, path: &str) -> Option<u64> {
    text.lines()
        .position(|line| line.contains("samples_file") && line.contains(path))
        .and_then(|index| u64::try_from(index + 1).ok())
}

/// One value a line (durations, or plain numbers when `durations` is
/// false); blank lines and `#` comments are skipped.
fn read_samples(path: &Path, durations: bool) -> Result<Vec<f64>, String> {
    let text = read_bounded_text(path, MAX_SAMPLES_FILE_BYTES, "write one value a line")?;
    let mut values = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let value = if durations {
            parse_duration(line)
                .map_err(|e| format!("line {}: {e}", number + 1))?
                .as_secs_f64()
        } else {
            line.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("line {}: `{line}` is not a number", number + 1))?
        };
        values.push(value);
    }
    if values.is_empty() {
        return Err("holds no samples; write one value a line".to_owned());
    }
    Ok(values)
}
