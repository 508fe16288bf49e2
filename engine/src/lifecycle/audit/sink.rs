//! Where records go: a file flushed line by line, or memory.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use super::*;

/// Where records go. `append` returns once the line is written and
/// flushed.
pub trait AuditSink: Send {
    /// Appends one record: `line` is its JSON form (without a newline),
    /// which is what a log holds; `record` is the same, parsed.
    ///
    /// # Errors
    /// The write's error; the caller must not send the order.
    fn append(&mut self, record: &AuditRecord, line: &str) -> std::io::Result<()>;
}

/// A file opened for appending; each line is flushed as it is written.
pub struct FileSink {
    file: std::fs::File,
}

impl FileSink {
    /// Opens (or creates) `path` for appending.
    ///
    /// # Errors
    /// The file system's error.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self { file })
    }
}

impl AuditSink for FileSink {
    fn append(&mut self, _record: &AuditRecord, line: &str) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.file.flush()
    }
}

/// Lines kept in memory, shared with whoever holds a clone: simulations
/// write no files while they run.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    lines: Arc<Mutex<Vec<String>>>,
}

impl MemorySink {
    /// The lines so far.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl AuditSink for MemorySink {
    fn append(&mut self, _record: &AuditRecord, line: &str) -> std::io::Result<()> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_owned());
        Ok(())
    }
}
