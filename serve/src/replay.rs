//! `fillproof replay-session`: a logged session again, on the paused clock.
//!
//! Each logged request is handed to a fresh [`Session`] at its logged
//! arrival time, in log order. A broker call takes effect at its arrival
//! time plus its drawn request leg whatever the clock reads
//! ([`fillproof_simulator::at_arrival`]), so the replay reaches the same
//! ledger and the same report as the live session did, in virtual time,
//! in a moment.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::clock::sleep;

use crate::session::{LogHeader, LoggedRequest, Report, Session};

/// The largest request log `replay-session` reads.
pub const MAX_LOG_BYTES: u64 = 1 << 30;

/// A request log that cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file cannot be read.
    #[error("{0}")]
    Read(String),
    /// A line is not a log entry.
    #[error("{file}:{line}: {problem}")]
    Line {
        /// The log file.
        file: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
}

/// Reads a request log: its header and its requests, in log order.
///
/// # Errors
///
/// The file cannot be read, is not UTF-8, has no header, or a line is not
/// a log entry (named with its line number).
pub fn read_log(path: &Path) -> Result<(LogHeader, Vec<LoggedRequest>), ReplayError> {
    let file = path.display().to_string();
    let text = fillproof_simulator::read_bounded_text(
        path,
        MAX_LOG_BYTES,
        "a request log is one JSON object a line, as `fillproof serve --log` writes it",
    )
    .map_err(ReplayError::Read)?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let bad = |line: usize, problem: String| ReplayError::Line {
        file: file.clone(),
        line: line + 1,
        problem,
    };
    let Some((n, first)) = lines.next() else {
        return Err(bad(
            0,
            "is empty; a request log starts with its header line".into(),
        ));
    };
    let header: LogHeader = serde_json::from_str(first).map_err(|e| {
        bad(
            n,
            format!("is not a request log header ({{\"fillproof_session\": 1, \"scenario\", \"seed\"}}): {e}"),
        )
    })?;
    if header.fillproof_session != 1 {
        return Err(bad(
            n,
            format!(
                "is a version {} log; this fillproof reads version 1",
                header.fillproof_session
            ),
        ));
    }
    let mut requests = Vec::new();
    for (n, line) in lines {
        let entry: LoggedRequest = serde_json::from_str(line)
            .map_err(|e| bad(n, format!("is not a logged request: {e}")))?;
        requests.push(entry);
    }
    Ok((header, requests))
}

/// Replays `requests` against `session`, which must be new and run on the
/// paused clock, and returns the report taken where the live session took
/// it: at its shutdown, or after the last request when the log has none.
pub async fn replay(session: Arc<Session>, requests: Vec<LoggedRequest>) -> Report {
    let mut work = Vec::new();
    let mut last = Duration::ZERO;
    for entry in requests {
        let at = Duration::from_micros(entry.t_us);
        last = last.max(at);
        let now = session.elapsed();
        if at > now {
            sleep(at - now).await;
        }
        session.record(
            &entry.method,
            &entry.path,
            &entry.query,
            entry.body.as_bytes(),
            at,
        );
        match (entry.method.as_str(), entry.path.as_str()) {
            ("POST", "/_fillproof/shutdown") => return session.report(at),
            ("POST", "/_fillproof/claims") => {
                // A refused claim was refused live too; it changed nothing.
                let _ = session.claim(entry.body.as_bytes(), at);
            }
            _ => {
                let session = Arc::clone(&session);
                work.push(tokio::spawn(async move {
                    session
                        .dispatch(
                            &entry.method,
                            &entry.path,
                            &entry.query,
                            entry.body.as_bytes(),
                            at,
                        )
                        .await
                }));
            }
        }
    }
    for task in work {
        let _ = task.await;
    }
    session.report(last)
}
