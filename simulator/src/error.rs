//! Errors: what is wrong with a scenario file, where, and what to do.

use std::fmt;

use thiserror::Error;

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// The field path, e.g. `broker.faults.get_order.timeout`.
    pub field: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with one scenario file, at least one problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ScenarioError {
    /// The problems, in file order where known.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl ScenarioError {
    /// One problem without a location in the file.
    #[must_use]
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        Self {
            diagnostics: vec![Diagnostic {
                file: file.to_owned(),
                line: None,
                column: None,
                field: None,
                message: message.into(),
            }],
        }
    }
}
