//! `fillproof audit`: verify an audit log's hash chain, or export one
//! trader's records as CSV.

use anyhow::{Context, Result};
use fillproof_engine::{export_csv, verify};

use super::Exit;
use crate::cli::AuditCommand;

/// Runs `audit verify` or `audit export`.
///
/// # Errors
/// A file that cannot be read, or (for export) a malformed log or date.
pub fn run(command: &AuditCommand) -> Result<Exit> {
    match command {
        AuditCommand::Verify { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
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
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let csv = export_csv(&text, trader, from, to)
                .with_context(|| format!("exporting {}", file.display()))?;
            out!("{csv}");
            Ok(Exit::Success)
        }
    }
}
