//! Where records go: a file flushed line by line, or memory.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use super::*;
use crate::lifecycle::trader::PENDING_CANCEL;

/// Where records go. `append` returns once the line is written and
/// flushed (and, under [`Durability::EveryRecord`], on disk).
pub trait AuditSink: Send {
    /// Appends one record: `line` is its JSON form (without a newline),
    /// which is what a log holds; `record` is the same, parsed.
    ///
    /// # Errors
    /// The write's error; the caller must not send the order.
    fn append(&mut self, record: &AuditRecord, line: &str) -> std::io::Result<()>;
}

/// When a file's records reach the disk (`fsync`), as opposed to the
/// operating system's cache, which a power cut loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every record is synced before `append` returns: a crash loses at
    /// most the write it interrupts (a torn tail).
    #[default]
    EveryRecord,
    /// Records are synced in groups of this many; a `submit` record (the
    /// one written before an order is sent) is always synced before the
    /// order goes, with whatever waits before it. A crash may lose the
    /// verdicts not yet synced: recovery then looks those orders up again,
    /// which costs calls but never an order.
    Batched(u32),
}

impl Durability {
    /// Whether `record`, written with `unsynced` records (it included)
    /// not yet synced, is synced now: batched, a record that goes before
    /// a call asking the broker to act (a `submit`, a `pending_cancel`)
    /// is synced at once, as the call waits for it.
    #[must_use]
    pub fn syncs(self, record: &AuditRecord, unsynced: u32) -> bool {
        match self {
            Self::EveryRecord => true,
            Self::Batched(group) => {
                record.event == AuditEvent::Submit
                    || (record.event == AuditEvent::Cancel && record.status == PENDING_CANCEL)
                    || unsynced >= group.max(1)
            }
        }
    }
}

/// A file opened for appending; each line is flushed as it is written,
/// and synced as its [`Durability`] says.
pub struct FileSink {
    file: std::fs::File,
    durability: Durability,
    unsynced: u32,
}

impl FileSink {
    /// Opens (or creates) `path` for appending, every record synced.
    ///
    /// # Errors
    /// The file system's error.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Self::open_with(path, Durability::EveryRecord)
    }

    /// Opens (or creates) `path` for appending under `durability`.
    ///
    /// # Errors
    /// The file system's error.
    pub fn open_with(path: &Path, durability: Durability) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file,
            durability,
            unsynced: 0,
        })
    }

    /// Reads the journal at `path` back after a crash (keyed with `key`),
    /// cuts a torn tail off the file, and opens it to append after the
    /// last whole record. A missing file is a fresh start.
    ///
    /// # Errors
    /// The file system's error, or a journal damaged before its last line
    /// (see [`Journal::read`]), as an `InvalidData` error naming the line.
    pub fn open_after(
        path: &Path,
        key: Option<&AuditKey>,
        durability: Durability,
    ) -> std::io::Result<(Self, Journal)> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error),
        };
        let journal = Journal::read(&text, key).map_err(|error| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {error}", path.display()),
            )
        })?;
        if let Some(torn) = journal.torn() {
            let keep = text.len() - torn.bytes;
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            file.set_len(keep as u64)?;
            file.sync_all()?;
        }
        Ok((Self::open_with(path, durability)?, journal))
    }
}

impl AuditSink for FileSink {
    fn append(&mut self, record: &AuditRecord, line: &str) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.file.flush()?;
        self.unsynced += 1;
        if self.durability.syncs(record, self.unsynced) {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(())
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
