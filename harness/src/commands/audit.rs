//! `fillproof audit`: verify an audit log's hash chain, or export one
//! trader's records as CSV.

use std::path::Path;

use anyhow::{Context, Result};
use fillproof_engine::{export_csv, verify};
use fillproof_simulator::read_bounded_text;

use super::Exit;
use crate::cli::AuditCommand;

/// The largest audit log read: about three million records, a busy
/// month; rotate logs larger than this.
pub const MAX_AUDIT_BYTES: u64 = 1 << 30;

/// An audit log's text: a regular file of at most [`MAX_AUDIT_BYTES`], in
/// UTF-8, read without ever holding more than the limit.
fn read_log(file: &Path) -> Result<String> {
    read_bounded_text(file, MAX_AUDIT_BYTES, "audit logs are JSON lines")
        .map_err(|message| anyhow::anyhow!("audit log {}: {message}", file.display()))
}

/// Runs `audit verify` or `audit export`.
///
/// # Errors
/// A file that cannot be read, is not a regular file, is too large or is
/// not text; or (for export) a malformed log or date.
pub fn run(command: &AuditCommand) -> Result<Exit> {
    match command {
        AuditCommand::Verify { file } => {
            let text = read_log(file)?;
            match verify(&text) {
                Ok(count) => {
                    outln!("ok  {}: {count} records, hash chain intact", file.display());
                    Ok(Exit::Success)
                }
                Err(error) => {
                    outln!("BROKEN  {}: {error}", file.display());
                    Ok(Exit::ShortFall)
                }
            }
        }
        AuditCommand::Export {
            file,
            trader,
            from,
            to,
        } => {
            let text = read_log(file)?;
            let csv = export_csv(&text, trader, from, to)
                .with_context(|| format!("exporting {}", file.display()))?;
            out!("{csv}");
            Ok(Exit::Success)
        }
    }
}
