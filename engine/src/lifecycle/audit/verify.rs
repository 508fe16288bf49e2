//! Verification: a log read back and its chain checked, line by line.

use thiserror::Error;

use super::*;

/// What [`verify_chain`] or [`export_csv`] found wrong, and on which line
/// (1-based). [`AuditError::is_bad_input`] tells input that is not an
/// audit log (or cannot be checked as given) from a log that fails.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuditError {
    /// A date argument not written `YYYY-MM-DD`.
    #[error("date `{date}` is not written YYYY-MM-DD")]
    BadDate {
        /// What was given.
        date: String,
    },
    /// An empty file.
    #[error("the file is empty; an audit log holds one JSON record per line")]
    Empty,
    /// A file of blank lines only.
    #[error(
        "the file holds only blank lines ({lines}); an audit log holds one JSON record per line"
    )]
    Blank {
        /// How many.
        lines: usize,
    },
    /// A line that is not a record: not JSON, or JSON without a record's
    /// fields.
    #[error("line {line}: {detail}")]
    Malformed {
        /// The line.
        line: usize,
        /// What is wrong, with the parser's word.
        detail: String,
    },
    /// A keyed record, and no key to check it with.
    #[error(
        "line {line}: record {seq} is chained with HMAC-SHA256; set {AUDIT_KEY_ENV} to the key the log was written with to verify it"
    )]
    KeyRequired {
        /// The line.
        line: usize,
        /// The record's sequence number.
        seq: u64,
    },
    /// A keyless record where a key was given: with a key, every record
    /// must carry an HMAC, or anyone could have rewritten the log.
    #[error(
        "line {line}: record {seq} carries a keyless SHA-256 hash, and {AUDIT_KEY_ENV} is set: the log was written without the key, or rewritten by someone without it"
    )]
    NotKeyed {
        /// The line.
        line: usize,
        /// The record's sequence number.
        seq: u64,
    },
    /// A record whose bytes do not match its hash: it was edited (or,
    /// keyed, written with another key).
    #[error("line {line}: record {seq} was edited (its hash does not match its bytes)")]
    Edited {
        /// The line.
        line: usize,
        /// The record's sequence number.
        seq: u64,
    },
    /// A record that does not follow the one before it: records were
    /// removed, inserted or reordered.
    #[error(
        "line {line}: record {seq} does not follow record {previous} (expected {expected}); records were removed or reordered"
    )]
    Broken {
        /// The line.
        line: usize,
        /// The record's sequence number.
        seq: u64,
        /// The previous record's sequence number.
        previous: u64,
        /// The sequence number expected here.
        expected: u64,
    },
    /// The log does not end where its head says.
    #[error("{detail}")]
    HeadMismatch {
        /// What differs.
        detail: String,
    },
}

impl AuditError {
    /// True for input that is not an audit log, or cannot be checked as
    /// given (a bad date, an empty file, a line that is not a record, a
    /// keyed log without the key); false for a log that fails its checks.
    #[must_use]
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::BadDate { .. }
                | Self::Empty
                | Self::Blank { .. }
                | Self::Malformed { .. }
                | Self::KeyRequired { .. }
        )
    }
}

/// Checks a whole keyless log; returns how many records it holds. A keyed
/// log is refused ([`AuditError::KeyRequired`]): use [`verify_chain`].
///
/// # Errors
/// As [`verify_chain`].
pub fn verify_audit_log(text: &str) -> Result<u64, AuditError> {
    verify_chain(text, None).map(|head| head.records)
}

/// Checks a whole log, hashing each line's exact bytes (every byte but
/// its final `,"hash":"…"}`, which must end it, with a `}` in its place) with
/// the hash before it: SHA-256 without a key, HMAC-SHA256 under `key`.
/// With a key every record must be keyed; without one a keyed record is
/// refused. Blank lines between records are skipped. Returns the head the
/// log ends with.
///
/// # Errors
/// An empty or blank log, or the first line that is not a record, is
/// edited, out of chain, or in the wrong mode.
pub fn verify_chain(text: &str, key: Option<&AuditKey>) -> Result<AuditHead, AuditError> {
    if text.is_empty() {
        return Err(AuditError::Empty);
    }
    let mut previous_seq = 0;
    let mut previous_hash = GENESIS.to_owned();
    let mut blank = 0;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        let record = parse_record(line, line_number)?;
        check_line(line, line_number, &record, key)?;
        if record.seq != previous_seq + 1 || record.prev_hash != previous_hash {
            return Err(AuditError::Broken {
                line: line_number,
                seq: record.seq,
                previous: previous_seq,
                expected: previous_seq + 1,
            });
        }
        previous_seq = record.seq;
        previous_hash = record.hash;
    }
    if previous_seq == 0 {
        return Err(AuditError::Blank { lines: blank });
    }
    Ok(AuditHead::new(previous_seq, previous_hash, key))
}

/// A line as a record; a line that is not one says whether it is JSON.
pub(super) fn parse_record(line: &str, line_number: usize) -> Result<AuditRecord, AuditError> {
    serde_json::from_str(line).map_err(|error| {
        let json = serde_json::from_str::<serde_json::Value>(line).is_ok();
        AuditError::Malformed {
            line: line_number,
            detail: if json {
                format!("not an audit record ({error})")
            } else {
                format!("not JSON ({error}); an audit log holds one JSON record per line")
            },
        }
    })
}

/// Checks a record's mode against the key, and its hash against its
/// line's bytes.
pub(super) fn check_line(
    line: &str,
    line_number: usize,
    record: &AuditRecord,
    key: Option<&AuditKey>,
) -> Result<(), AuditError> {
    let keyed = record.chain == Some(ChainMode::HmacSha256);
    match (keyed, key) {
        (true, None) => {
            return Err(AuditError::KeyRequired {
                line: line_number,
                seq: record.seq,
            });
        }
        (false, Some(_)) => {
            return Err(AuditError::NotKeyed {
                line: line_number,
                seq: record.seq,
            });
        }
        _ => {}
    }
    let edited = AuditError::Edited {
        line: line_number,
        seq: record.seq,
    };
    // The writer ends each line with its hash; a line that does not end
    // with the hash it holds, as the writer writes it, was rewritten.
    let tail_len = ",\"hash\":\"\"}".len() + record.hash.len();
    let Some(body) = line
        .len()
        .checked_sub(tail_len)
        .and_then(|at| line.get(..at).zip(line.get(at..)))
        .filter(|(_, tail)| {
            tail.strip_prefix(",\"hash\":\"")
                .and_then(|t| t.strip_suffix("\"}"))
                == Some(record.hash.as_str())
        })
        .map(|(body, _)| body)
    else {
        return Err(edited);
    };
    let expected = chain_hash(key, &record.prev_hash, &[body, "}"]);
    if same(&expected, &record.hash) {
        Ok(())
    } else {
        Err(edited)
    }
}
