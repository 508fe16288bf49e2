//! Reading a scenario file: size and encoding guards, then the parse
//! (`parse.rs`), the sample files (`samples.rs`) and the checks
//! (`check.rs`).

use std::path::Path;

use super::Scenario;
use super::check::check;
use super::parse::parse_yaml;
use super::samples::resolve_sample_files;
use crate::error::{Diagnostic, ScenarioError};

/// Scenario files larger than this are refused: the largest real one is a
/// few kilobytes, and a latency sample file has its own limit.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Sample files larger than this are refused.
pub const MAX_SAMPLES_FILE_BYTES: u64 = 16 * 1024 * 1024;

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
    /// `base_dir` resolves `samples_file` paths.
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

/// The bytes of a regular file of at most `limit` bytes. Anything else (a
/// folder, a device such as `/dev/zero`, a FIFO, a socket) is refused
/// before it is opened, and no more than `limit + 1` bytes are ever read,
/// so a file that grows after the check is refused too.
///
/// # Errors
/// What is wrong, in words for a person.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !metadata.is_file() {
        return Err(
            "is not a regular file (a folder, device, FIFO or socket); give the path of a file"
                .to_owned(),
        );
    }
    if metadata.len() > limit {
        return Err(format!(
            "is {} bytes; at most {limit} are read",
            metadata.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("grew past {limit} bytes while being read"));
    }
    Ok(bytes)
}

/// The text of a regular file of at most `limit` bytes, read as
/// [`read_bounded`] reads it; `hint` says what the file should hold when it
/// is not UTF-8.
///
/// # Errors
/// What is wrong, in words for a person.
pub fn read_bounded_text(path: &Path, limit: u64, hint: &str) -> Result<String, String> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| {
        format!(
            "is not UTF-8 text (invalid byte at offset {}); {hint}",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A file of exactly the limit is read whole; one byte more is refused.
    #[test]
    fn read_bounded_takes_exactly_the_limit() {
        let dir = tempfile::Builder::new()
            .prefix("fillproof-bounded-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("eight.txt");
        std::fs::write(&path, b"12345678").expect("write");
        assert_eq!(read_bounded(&path, 8).expect("at the limit"), b"12345678");
        let error = read_bounded(&path, 7).expect_err("over the limit");
        assert_eq!(error, "is 8 bytes; at most 7 are read");
    }
}
