//! Recorded paths (`file:` in a symbol of the `market:` section): reading
//! each file the section names, relative to the scenario's folder, as
//! `samples.rs` reads sample files.

use std::path::Path;
use std::sync::Arc;

use super::Scenario;
use super::read::{MAX_SAMPLES_FILE_BYTES, read_bounded_text};
use crate::error::{Diagnostic, ScenarioError};
use crate::market::{MIN_STEP, Recording};

/// Reads every recorded file of the `market:` section, relative to
/// `base_dir` (the scenario file's folder), into its symbol's spec. Each
/// problem names the scenario `file` and the line of the `file:` field,
/// and its message the recorded file, the record's line and the column.
pub(super) fn resolve_recorded_files(
    scenario: &mut Scenario,
    file: &str,
    base_dir: Option<&Path>,
) -> Result<(), ScenarioError> {
    let Some(market) = &mut scenario.market else {
        return Ok(());
    };
    let mut diagnostics = Vec::new();
    for (symbol, spec) in &mut market.symbols {
        let step = spec.value.step.0.max(MIN_STEP);
        let Some(path_file) = &mut spec.value.file else {
            continue;
        };
        let full = base_dir.map_or_else(
            || Path::new(&path_file.value.name).to_path_buf(),
            |dir| dir.join(&path_file.value.name),
        );
        match read_recording(&full, step) {
            Ok(recording) => path_file.value.recording = Some(Arc::new(recording)),
            Err(message) => {
                let at = path_file.referenced;
                diagnostics.push(Diagnostic {
                    file: file.to_owned(),
                    line: Some(at.line()).filter(|l| *l > 0),
                    column: Some(at.column()).filter(|c| *c > 0),
                    field: Some(format!("market.symbols.{symbol}.file")),
                    message: format!("`{}`: {message}", full.display()),
                });
            }
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(ScenarioError { diagnostics })
    }
}

/// The recording in the file at `path`, for a path moving every `step`.
fn read_recording(path: &Path, step: std::time::Duration) -> Result<Recording, String> {
    let text = read_bounded_text(
        path,
        MAX_SAMPLES_FILE_BYTES,
        "write a CSV of trades (timestamp,price) or bars (timestamp,open,high,low,close)",
    )?;
    Recording::parse(&text, step).map_err(|error| error.to_string())
}
