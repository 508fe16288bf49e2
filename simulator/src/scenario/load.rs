//! Reading a scenario file: size and encoding guards, then the parse
//! (`parse.rs`), the sample files (`samples.rs`), the recorded paths
//! (`recorded.rs`) and the checks (`check.rs`).

use std::path::Path;

use super::Scenario;
use super::check::check;
use super::parse::parse_yaml;
use super::read::{MAX_FILE_BYTES, read_bounded};
use super::recorded::resolve_recorded_files;
use super::samples::resolve_sample_files;
use crate::error::{Diagnostic, ScenarioError};

impl Scenario {
    /// Reads and checks a scenario file.
    ///
    /// # Errors
    /// A [`ScenarioError`] naming the file, the line and column where known,
    /// the field, what is wrong and what is allowed.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let metadata = std::fs::metadata(path).map_err(|error| {
            ScenarioError::whole_file(
                &file,
                format!("cannot read the file: {error}; check the path"),
            )
        })?;
        if !metadata.is_file() {
            return Err(ScenarioError::whole_file(
                &file,
                "is not a file; give the path of a .yaml scenario",
            ));
        }
        if metadata.len() > MAX_FILE_BYTES {
            return Err(ScenarioError::whole_file(
                &file,
                format!(
                    "is {} bytes; scenario files are at most {MAX_FILE_BYTES} bytes (put long latency samples in a `samples_file`)",
                    metadata.len()
                ),
            ));
        }
        let bytes = read_bounded(path, MAX_FILE_BYTES)
            .map_err(|message| ScenarioError::whole_file(&file, message))?;
        Self::parse(&bytes, &file, path.parent())
    }

    /// Parses and checks scenario text. `file` names it in errors;
    /// `base_dir` resolves `samples_file` paths and recorded paths
    /// (`market.symbols.X.file`).
    ///
    /// # Errors
    /// As [`Scenario::load`].
    pub fn parse(bytes: &[u8], file: &str, base_dir: Option<&Path>) -> Result<Self, ScenarioError> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ScenarioError::whole_file(
                file,
                format!(
                    "is {} bytes; scenario files are at most {MAX_FILE_BYTES} bytes",
                    bytes.len()
                ),
            ));
        }
        if let Some(offset) = bytes.iter().position(|b| *b == 0) {
            return Err(ScenarioError::whole_file(
                file,
                format!("is a binary file (NUL byte at offset {offset}); scenarios are YAML text"),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|error| {
            ScenarioError::whole_file(
                file,
                format!(
                    "is not UTF-8 text (invalid byte at offset {}); scenarios are YAML text",
                    error.valid_up_to()
                ),
            )
        })?;
        let mut parsed = parse_yaml(text, file);
        let mut diagnostics = std::mem::take(&mut parsed.diagnostics);
        // In file order; problems without a line (whole-file bounds) last.
        let in_order = |mut diagnostics: Vec<Diagnostic>| {
            diagnostics.sort_by_key(|d| (d.line.is_none(), d.line, d.column));
            ScenarioError { diagnostics }
        };
        // A file that parsed only with fields renamed or left out is still
        // checked, so that every problem is named at once; what follows
        // from a field left out is not reported again.
        let Some(mut scenario) = parsed.scenario.take() else {
            return Err(in_order(diagnostics));
        };
        if let Err(error) = resolve_sample_files(&mut scenario, file, text, base_dir) {
            diagnostics.extend(error.diagnostics);
        }
        if let Err(error) = resolve_recorded_files(&mut scenario, file, base_dir) {
            diagnostics.extend(error.diagnostics);
        }
        let checked = check(&scenario, file);
        let later = |found: Vec<Diagnostic>| -> Vec<Diagnostic> {
            found
                .into_iter()
                .map(|d| parsed.in_file(d))
                .filter(|d| parsed.unrelated(d))
                .collect()
        };
        diagnostics.extend(later(checked.diagnostics));
        let warnings = later(checked.warnings);
        if diagnostics.is_empty() {
            scenario.warnings = warnings;
            Ok(scenario)
        } else {
            Err(in_order(diagnostics))
        }
    }
}
