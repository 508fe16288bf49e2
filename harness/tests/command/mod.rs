//! Shared by the tests that run the `fillproof` binary: the workspace root,
//! one way to run the binary from it, and scratch folders for its files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, where relative scenario paths resolve.
pub fn workspace() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

/// Runs the binary from the workspace root; returns exit code, stdout and
/// stderr.
pub fn fillproof(args: &[&str]) -> (i32, String, String) {
    fillproof_env(args, &[])
}

/// [`fillproof`] with these environment variables set; the audit key
/// (`FILLPROOF_AUDIT_KEY`) is never taken from the test's own
/// environment, only from `env`.
pub fn fillproof_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fillproof"))
        .args(args)
        .current_dir(workspace())
        .env_remove("FILLPROOF_AUDIT_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A fresh folder under the system's temporary directory, named
/// `fillproof-TAG-…`, removed with all it holds when the test ends.
pub fn scratch(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("fillproof-{tag}-"))
        .tempdir()
        .expect("temp dir")
}
