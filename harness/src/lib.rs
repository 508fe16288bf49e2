//! `fillproof-harness`: runs an engine against the simulated broker on
//! virtual time and measures it against the broker's ground truth. The
//! `fillproof` binary is a thin layer over this library.
//!
//! - [`runner`]: one seed on one paused current-thread runtime; many seeds
//!   across threads, merged in seed order.
//! - [`engines`]: the engines under test, the fillproof engine and two
//!   baselines kept to show what they get wrong.
//! - [`metrics`]: verdicts against the ledger, with DESIGN.md's
//!   definitions.
//! - [`report`]: tables and JSON; [`junit`]: JUnit XML for the gate.

pub mod cli;
pub mod commands;
pub mod import;
pub mod junit;
pub mod measure;
pub mod report;
pub mod run;

// Old paths, kept while callers outside this crate use them.
pub use measure::metrics;
pub use run::{engines, runner};
