//! `fillproof audit`: verify an audit log's hash chain (and, with `--head`,
//! that it ends where its head says), or export one trader's records as
//! CSV once the chain verifies.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use fillproof_engine::{AuditError, AuditHead, AuditKey, export_csv, verify_chain};
use fillproof_simulator::read_bounded_text;

use super::Exit;
use crate::cli::AuditCommand;

/// The largest audit log read: about three million records, a busy
/// month; rotate logs larger than this.
pub const MAX_AUDIT_BYTES: u64 = 1 << 30;

/// The largest head file read; a head is one short line.
const MAX_HEAD_BYTES: u64 = 4 << 10;

/// An audit log's text: a regular file of at most [`MAX_AUDIT_BYTES`], in
/// UTF-8, read without ever holding more than the limit.
fn read_log(file: &Path) -> Result<String> {
    read_bounded_text(file, MAX_AUDIT_BYTES, "audit logs are JSON lines")
        .map_err(|message| anyhow!("audit log {}: {message}", file.display()))
}

/// Where the head of the log at `log` is kept: beside it, named as it is
/// with `.head` added.
#[must_use]
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// The key in `FILLPROOF_AUDIT_KEY`, if set.
///
/// # Errors
/// A key that is not UTF-8.
pub fn env_key() -> Result<Option<AuditKey>> {
    AuditKey::from_env().map_err(anyhow::Error::msg)
}

/// A failed check: bad input is an error (exit 2) naming the file; a log
/// that fails is reported on stdout as BROKEN (exit 1).
fn failed(file: &Path, error: &AuditError) -> Result<Exit> {
    if error.is_bad_input() {
        return Err(anyhow!("audit log {}: {error}", file.display()));
    }
    outln!("BROKEN  {}: {error}", file.display());
    Ok(Exit::ShortFall)
}

/// Runs `audit verify` or `audit export`.
///
/// # Errors
/// A file that cannot be read, is not a regular file, is too large or is
/// not text; a file that is not an audit log (empty, blank, a line that is
/// not a record); a keyed log without the key; a head file that cannot be
/// read; or (for export) a bad date.
pub fn run(command: &AuditCommand) -> Result<Exit> {
    let key = env_key()?;
    match command {
        AuditCommand::Verify { file, head } => {
            let text = read_log(file)?;
            let found = match verify_chain(&text, key.as_ref()) {
                Ok(found) => found,
                Err(error) => return failed(file, &error),
            };
            let mut checked = String::new();
            if let Some(head) = head {
                let path = head.clone().unwrap_or_else(|| head_path(file));
                let written = read_head(&path)?;
                if let Err(error) = written.check(&found, key.as_ref()) {
                    outln!(
                        "BROKEN  {}: {error} (head {})",
                        file.display(),
                        path.display()
                    );
                    return Ok(Exit::ShortFall);
                }
                checked = format!(", ends where its head {} says", path.display());
            }
            outln!(
                "ok  {}: {} records, hash chain intact ({}){checked}",
                file.display(),
                found.records,
                found.mode.as_str()
            );
            Ok(Exit::Success)
        }
        AuditCommand::Export {
            file,
            trader,
            from,
            to,
        } => {
            let text = read_log(file)?;
            match export_csv(&text, key.as_ref(), trader, from, to) {
                Ok(csv) => {
                    out!("{csv}");
                    Ok(Exit::Success)
                }
                Err(AuditError::BadDate { date }) => {
                    Err(anyhow!("date `{date}` is not written YYYY-MM-DD"))
                }
                Err(error) if error.is_bad_input() => {
                    Err(anyhow!("audit log {}: {error}", file.display()))
                }
                Err(error) => {
                    eprintln!(
                        "BROKEN  {}: {error}; nothing exported from a log that does not verify",
                        file.display()
                    );
                    Ok(Exit::ShortFall)
                }
            }
        }
    }
}

/// Reads the head at `path`.
///
/// # Errors
/// A head that cannot be read or is not one (exit 2, naming the file).
fn read_head(path: &Path) -> Result<AuditHead> {
    let text = read_bounded_text(path, MAX_HEAD_BYTES, "a head is one JSON object")
        .map_err(|message| anyhow!("audit head {}: {message}", path.display()))?;
    AuditHead::parse(&text).map_err(|e| {
        anyhow!(
            "audit head {}: not an audit head ({e}); `run --audit LOG` writes one as LOG.head",
            path.display()
        )
    })
}
