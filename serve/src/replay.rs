//! `fillproof replay-session`: a logged session again, on the paused clock.
//!
//! Each logged request is handed to a fresh [`Session`] at its logged
//! arrival time, in log order. A broker call takes effect at its arrival
//! time plus its drawn request leg whatever the clock reads
//! ([`fillproof_simulator::at_arrival`]), so the replay reaches the same
//! ledger and the same report as the live session did, in virtual time,
//! in a moment.
//!
//! A log that cannot be replayed faithfully is refused before anything
//! runs ([`read_log`], [`RequestLog::check_scenario`]): a broken hash
//! chain, sequence numbers out of order, times that run backwards, lines
//! after the end, a header from another fillproof or another scenario. And
//! each replayed answer is compared with the live one the log recorded:
//! the first request answered otherwise is named ([`ReplayError::Diverged`])
//! rather than a report that would blame the bot for the replay's
//! difference.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fillproof_engine::clock::sleep;
use serde_json::Value;

use fillproof_engine::{AUDIT_KEY_ENV, AuditKey, ChainMode};

use crate::log::{
    FILLPROOF_VERSION, LOG_VERSION, LiveAnswer, LogEnd, LogHeader, LoggedRequest, keyed_chain_hash,
    sha256_hex, split_chain,
};
use crate::report::{Report, report_reply};
use crate::session::Session;

/// The largest request log `replay-session` reads.
pub const MAX_LOG_BYTES: u64 = 1 << 30;

/// A request log that cannot be replayed, or was not replayed faithfully.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file cannot be read.
    #[error("{0}")]
    Read(String),
    /// A line is not a log entry, or the log cannot be replayed faithfully
    /// from it.
    #[error("{file}:{line}: {problem}")]
    Line {
        /// The log file.
        file: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A request was answered otherwise in the replay than live.
    #[error("{0}")]
    Diverged(Box<Divergence>),
}

/// The first request a replay answered otherwise than the live session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file}:{line}: the replay diverges from the live session at request {seq} ({method} {path}): live it was answered {live}, the replay answers {replayed}; the replay's report would not be the live session's, so none is given"
)]
pub struct Divergence {
    /// The log file.
    pub file: String,
    /// The request's 1-based line.
    pub line: usize,
    /// Its sequence number.
    pub seq: u64,
    /// Its method.
    pub method: String,
    /// Its path.
    pub path: String,
    /// The live answer, as logged.
    pub live: Shown,
    /// The replay's answer.
    pub replayed: Shown,
}

/// A [`LiveAnswer`] as an error message shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(pub LiveAnswer);

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = &self.0.body_sha256;
        match self.0.status {
            0 => write!(f, "by closing the connection"),
            status => write!(f, "{status} with a body of SHA-256 {body}"),
        }
    }
}

/// One request of a log, with the line it was on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The 1-based line.
    pub line: usize,
    /// The request.
    pub request: LoggedRequest,
}

/// A request log, read and checked line by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    /// The file it was read from.
    pub file: String,
    /// Its header.
    pub header: LogHeader,
    /// The header's 1-based line.
    pub header_line: usize,
    /// Its requests, in sequence order.
    pub requests: Vec<LogLine>,
    /// Whether it has its end line (a session that did not shut down has
    /// none).
    pub ended: bool,
}

impl RequestLog {
    fn refuse(&self, line: usize, problem: String) -> ReplayError {
        ReplayError::Line {
            file: self.file.clone(),
            line,
            problem,
        }
    }

    /// Checks that `bytes`, the scenario file `path` about to be replayed,
    /// are the very bytes the session served.
    ///
    /// # Errors
    ///
    /// Their SHA-256 differs from the header's, naming the header's line.
    pub fn check_scenario(&self, path: &str, bytes: &[u8]) -> Result<(), ReplayError> {
        let digest = sha256_hex(bytes);
        if digest == self.header.scenario_sha256 {
            return Ok(());
        }
        Err(self.refuse(
            self.header_line,
            format!(
                "the session served a scenario of SHA-256 {} ({}), but {path} has SHA-256 {digest}: the scenario changed since, and the replay would not be faithful; give the scenario as it was served with --scenario",
                self.header.scenario_sha256, self.header.scenario
            ),
        ))
    }
}

/// Reads a request log and checks it can be replayed faithfully: the hash
/// chain holds on every line, the header is this format's and this
/// fillproof's, sequence numbers run 0, 1, 2, …, arrival times never
/// decrease, no request follows a shutdown, nothing follows the end
/// line, and every request has its live answer but those the end line
/// lists as in flight at shutdown. A log with no end line is read
/// ([`RequestLog::ended`] false); whether to replay it is the caller's.
///
/// # Errors
///
/// The file cannot be read or is not UTF-8, or a line fails a check, named
/// with its line number.
pub fn read_log(path: &Path) -> Result<RequestLog, ReplayError> {
    read_keyed_log(path, None)
}

/// [`read_log`] of a log chained under `key` (`FILLPROOF_AUDIT_KEY`), or
/// keyless when `None`: a keyed log needs its key, and with a key a
/// keyless log is refused (whoever edits one can chain it again).
///
/// # Errors
///
/// As [`read_log`]; a keyed log without a key, a keyless log with one, a
/// chain that does not hold under the key (another key, or a line edited
/// and chained again without it), naming line 1 or the line it breaks at.
pub fn read_keyed_log(path: &Path, key: Option<&AuditKey>) -> Result<RequestLog, ReplayError> {
    let file = path.display().to_string();
    let text = fillproof_simulator::read_bounded_text(
        path,
        MAX_LOG_BYTES,
        "a request log is one JSON object a line, as `fillproof serve --request-log` writes it",
    )
    .map_err(ReplayError::Read)?;
    let bad = |line: usize, problem: String| ReplayError::Line {
        file: file.clone(),
        line,
        problem,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_line, first)) = lines.next() else {
        return Err(bad(
            1,
            "is empty; a request log starts with its header line".into(),
        ));
    };
    let mut chain = String::new();
    let header = read_header(first, key, &mut chain).map_err(|p| bad(header_line, p))?;
    let mut log = RequestLog {
        file: file.clone(),
        header,
        header_line,
        requests: Vec::new(),
        ended: false,
    };
    let mut end_line = None;
    for (n, line) in lines {
        if let Some(end) = end_line {
            return Err(bad(
                n,
                format!(
                    "comes after the log's end line (line {end}): nothing follows the end of a session, so this log was added to"
                ),
            ));
        }
        let content = chained_content(line, key, &mut chain).map_err(|p| bad(n, p))?;
        if take_line(&mut log, n, &content).map_err(|(line, p)| bad(line, p))? {
            end_line = Some(n);
        }
    }
    log.ended = end_line.is_some();
    if !log.ended {
        check_answered(&log).map_err(|(line, p)| bad(line, p))?;
    }
    Ok(log)
}

/// Takes line `n` of a log, its chained `content` checked already: a
/// logged request joins `log`; the end line is checked against the
/// requests before it. `true` for the end line. On failure, the line to
/// name and why.
fn take_line(log: &mut RequestLog, n: usize, content: &str) -> Result<bool, (usize, String)> {
    let value: Value =
        serde_json::from_str(content).map_err(|e| (n, format!("is not a JSON object: {e}")))?;
    if value.get("fillproof_session_end").is_some() {
        let end: LogEnd = serde_json::from_value(value)
            .map_err(|e| (n, format!("is not the log's end line: {e}")))?;
        let count = log.requests.len() as u64;
        if end.requests != count {
            return Err((
                n,
                format!(
                    "the end line counts {} requests, but the log has {count}: request lines were removed or added",
                    end.requests
                ),
            ));
        }
        check_in_flight(log, &end.in_flight, n)?;
        return Ok(true);
    }
    let request: LoggedRequest =
        serde_json::from_value(value).map_err(|e| (n, format!("is not a logged request: {e}")))?;
    check_order(log, &request).map_err(|p| (n, p))?;
    log.requests.push(LogLine { line: n, request });
    Ok(false)
}

/// A log with no end line has every request answered: only requests in
/// flight at shutdown go unanswered, and the end line lists them. On
/// failure, the line to name and why.
fn check_answered(log: &RequestLog) -> Result<(), (usize, String)> {
    match log.requests.iter().find(|r| r.request.answer.is_none()) {
        Some(unanswered) => Err((
            unanswered.line,
            "has no live answer (\"answer\": null), and the log has no end line: a request's line is written once it is answered, and only requests in flight at shutdown are written without one, listed on the end line; this answer was removed".into(),
        )),
        None => Ok(()),
    }
}

/// The requests unanswered in `log` against `in_flight`, the end line's
/// (line `end`) list of those in flight at shutdown: the same requests,
/// each a broker call (claims and the shutdown are answered at once).
/// On failure, the line to name and why.
fn check_in_flight(log: &RequestLog, in_flight: &[u64], end: usize) -> Result<(), (usize, String)> {
    let mut listed = in_flight.iter().peekable();
    for LogLine { line, request } in &log.requests {
        let is_listed = listed.next_if(|seq| **seq == request.seq).is_some();
        match (&request.answer, is_listed) {
            (None, false) => {
                return Err((
                    *line,
                    format!(
                        "has no live answer (\"answer\": null), but the end line (line {end}) does not list it as in flight at shutdown: a request's line is written once it is answered, so this answer was removed, and the replay could not be checked against it"
                    ),
                ));
            }
            (Some(_), true) => {
                return Err((
                    end,
                    format!(
                        "lists request {} (line {line}) as in flight at shutdown, but that line has a live answer",
                        request.seq
                    ),
                ));
            }
            (None, true) if request.path.starts_with("/_fillproof/") => {
                return Err((
                    *line,
                    format!(
                        "has no live answer, but {} {} is answered as soon as it arrives and is never in flight at shutdown: this answer was removed",
                        request.method, request.path
                    ),
                ));
            }
            _ => {}
        }
    }
    match listed.next() {
        Some(seq) => Err((
            end,
            format!(
                "lists request {seq} as in flight at shutdown, but no request line with that seq comes before it unanswered (in_flight lists sequence numbers in increasing order)"
            ),
        )),
        None => Ok(()),
    }
}

/// The content of `line` without its chain member, once its chain is
/// checked against `chain`, the previous line's, which it replaces.
fn chained_content(
    line: &str,
    key: Option<&AuditKey>,
    chain: &mut String,
) -> Result<String, String> {
    let Some((content, stated)) = split_chain(line) else {
        return Err(
            "does not end with its \"chain\" member (64 lowercase hex digits): every line of a request log is chained to the one before".into(),
        );
    };
    let computed = keyed_chain_hash(key, chain, &content);
    if computed != stated {
        return Err(format!(
            "the hash chain breaks here: the line states {stated}, but it and the line before hash to {computed}{}; this line or the one before it was edited, removed or moved",
            if key.is_some() {
                " under the key (or the key is not the one the server ran with)"
            } else {
                ""
            }
        ));
    }
    stated.clone_into(chain);
    Ok(content)
}

/// The header, checked: chained (under `key`, which a keyed log needs and
/// a keyless one must not be given), this format, this fillproof.
fn read_header(
    line: &str,
    key: Option<&AuditKey>,
    chain: &mut String,
) -> Result<LogHeader, String> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| format!("is not a request log header (a JSON object): {e}"))?;
    match value.get("fillproof_session").and_then(Value::as_u64) {
        Some(version) if version == u64::from(LOG_VERSION) => {}
        Some(1) => {
            return Err(format!(
                "is the header of a version 1 request log, which has no scenario_sha256, fillproof_version, live answers or chain, so its replay cannot be checked; this fillproof replays version {LOG_VERSION} logs: serve the session again with `fillproof serve --request-log`"
            ));
        }
        Some(version) => {
            return Err(format!(
                "is the header of a version {version} request log; this fillproof reads version {LOG_VERSION}"
            ));
        }
        None => {
            return Err(
                "is not a request log header: it has no \"fillproof_session\" version".into(),
            );
        }
    }
    let keyed =
        value.get("chain_mode").and_then(Value::as_str) == Some(ChainMode::HmacSha256.as_str());
    match (keyed, key) {
        (true, None) => {
            return Err(format!(
                "the log is chained with HMAC-SHA256 under a key: set {AUDIT_KEY_ENV} to the key the server ran with to replay it"
            ));
        }
        (false, Some(_)) => {
            return Err(format!(
                "{AUDIT_KEY_ENV} is set, but this log's chain is keyless SHA-256, which anyone who edits the log can compute again: a server run with the key writes a keyed log, so this one was not written under it or was chained again without it; unset {AUDIT_KEY_ENV} to replay a keyless log"
            ));
        }
        _ => {}
    }
    let content = chained_content(line, key, chain)?;
    let header: LogHeader =
        serde_json::from_str(&content).map_err(|e| format!("is not a request log header: {e}"))?;
    if header.fillproof_version != FILLPROOF_VERSION {
        return Err(format!(
            "the session was served by fillproof {}, and this is fillproof {FILLPROOF_VERSION}: the broker's draws may differ between versions, so replay it with fillproof {}",
            header.fillproof_version, header.fillproof_version
        ));
    }
    Ok(header)
}

/// A request's sequence number and time, against the log so far.
fn check_order(log: &RequestLog, request: &LoggedRequest) -> Result<(), String> {
    let expected = log.requests.len() as u64;
    if request.seq != expected {
        return Err(format!(
            "has seq {} where {expected} comes next: sequence numbers run 0, 1, 2, … in log order, so lines were reordered, removed or added",
            request.seq
        ));
    }
    if let Some(previous) = log.requests.last() {
        if is_shutdown(&previous.request) {
            return Err(format!(
                "comes after the shutdown on line {}: a session takes no request after it",
                previous.line
            ));
        }
        if request.t_us < previous.request.t_us {
            return Err(format!(
                "arrives at t_us {}, before the request on line {} (t_us {}): arrival times never run backwards in a log",
                request.t_us, previous.line, previous.request.t_us
            ));
        }
    }
    Ok(())
}

fn is_shutdown(request: &LoggedRequest) -> bool {
    request.method == "POST" && request.path == SHUTDOWN
}

const SHUTDOWN: &str = "/_fillproof/shutdown";

/// A replayed request's answer: known at once, or when its task ends.
enum Replayed {
    Now(LiveAnswer),
    Later(tokio::task::JoinHandle<crate::Answer>),
}

/// Replays `log` against `session`, which must be new and run on the
/// paused clock, and returns the report taken where the live session took
/// it: at its shutdown, or after the last request when the log has none.
/// The report of a log with no end line is marked partial
/// ([`Report::mark_partial`]): it never passes.
///
/// # Errors
///
/// A request is answered otherwise than live ([`ReplayError::Diverged`],
/// the first in log order), or a replayed request's task failed.
pub async fn replay(session: Arc<Session>, log: &RequestLog) -> Result<Report, ReplayError> {
    let mut work = Vec::new();
    let mut last = Duration::ZERO;
    let mut report = None;
    for (index, LogLine { request: entry, .. }) in log.requests.iter().enumerate() {
        let at = Duration::from_micros(entry.t_us);
        last = last.max(at);
        let now = session.elapsed();
        if at > now {
            sleep(at - now).await;
        }
        let body = entry.body.as_bytes();
        let account = match session.for_logged(entry.key.as_deref()) {
            Ok(account) => account,
            Err(refusal) => {
                // Live, no request past the accounts' bound was logged:
                // this one diverges, in its place in the sequence.
                session.record(&entry.method, &entry.path, &entry.query, body, at);
                work.push((index, Replayed::Now(LiveAnswer::of(&refusal))));
                continue;
            }
        };
        let seq = account.record(&entry.method, &entry.path, &entry.query, body, at);
        let answer = match (entry.method.as_str(), entry.path.as_str()) {
            ("POST", SHUTDOWN) => {
                let taken = session.shut_down(seq, at).await;
                let answer = LiveAnswer::of(&report_reply(&taken));
                report = Some(taken);
                work.push((index, Replayed::Now(answer)));
                break;
            }
            ("POST", "/_fillproof/restart") => {
                Replayed::Now(LiveAnswer::of(&account.restart_reply(at)))
            }
            ("POST", "/_fillproof/claims") => {
                Replayed::Now(LiveAnswer::of(&account.claims_reply(body, at)))
            }
            _ => {
                let entry = entry.clone();
                Replayed::Later(tokio::spawn(async move {
                    account
                        .dispatch(
                            &entry.method,
                            &entry.path,
                            &entry.query,
                            entry.body.as_bytes(),
                            at,
                        )
                        .await
                }))
            }
        };
        work.push((index, answer));
    }
    let mut report = match report {
        Some(report) => report,
        None => {
            let mut done = Vec::with_capacity(work.len());
            for (index, replayed) in work {
                done.push((index, Replayed::Now(finish(log, index, replayed).await?)));
            }
            work = done;
            session.report(last)
        }
    };
    for (index, replayed) in work {
        let answer = finish(log, index, replayed).await?;
        compare(log, index, answer)?;
    }
    if !log.ended {
        report.mark_partial();
    }
    Ok(report)
}

/// The answer a replayed request gave.
async fn finish(
    log: &RequestLog,
    index: usize,
    replayed: Replayed,
) -> Result<LiveAnswer, ReplayError> {
    match replayed {
        Replayed::Now(answer) => Ok(answer),
        Replayed::Later(task) => task.await.map(|a| LiveAnswer::of(&a.reply)).map_err(|e| {
            log.refuse(
                log.requests[index].line,
                format!("replaying this request failed ({e}); this is a bug in fillproof, please report it with the log"),
            )
        }),
    }
}

/// The replayed answer to request `index` against the live one logged.
fn compare(log: &RequestLog, index: usize, replayed: LiveAnswer) -> Result<(), ReplayError> {
    let LogLine { line, request } = &log.requests[index];
    match &request.answer {
        Some(live) if *live != replayed => Err(ReplayError::Diverged(Box::new(Divergence {
            file: log.file.clone(),
            line: *line,
            seq: request.seq,
            method: request.method.clone(),
            path: request.path.clone(),
            live: Shown(live.clone()),
            replayed: Shown(replayed),
        }))),
        _ => Ok(()),
    }
}
