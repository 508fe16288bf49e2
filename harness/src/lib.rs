//! `fillproof-harness`: runs an engine against the simulated broker on
//! virtual time and measures it against the broker's ground truth. The
//! `fillproof` binary (`main.rs`) is a thin layer over this library.
//!
//! The folders, their entry points, and what each may import (imports run
//! `commands → measure → run`, and `commands → import`, never back):
//! - [`cli`]: every clap type of the command line. Imports nothing of the
//!   crate.
//! - [`commands`]: one file per subcommand (`commands::run::run`,
//!   `commands::gate::run`, ...), and what they share (`load`,
//!   `scenario_files`, `spec`). May import every other folder.
//! - [`run`]: one seed on one paused current-thread runtime, phase by phase
//!   ([`run::run_seed`]); many seeds across threads, merged in seed order
//!   ([`run::run_seeds`]); the engines under test ([`run::engines`]); the
//!   run's cost admission ([`run::cost::admit`]); the strategy names
//!   ([`run::strategies`]). Imports the engine and the simulator only.
//! - [`measure`]: verdicts against the ledger with DESIGN.md's definitions
//!   ([`measure::metrics`], over the simulator's judge), reports as tables
//!   and JSON ([`measure::report`]), JUnit XML for the gate
//!   ([`measure::junit`]). May import `run` and `cli`'s `Shard`.
//! - [`import`]: a broker's export or the engine's audit log made into a
//!   regression scenario ([`import::from_alpaca`], [`import::from_audit`],
//!   [`import::scenario_yaml`]). Imports the engine only.

pub mod cli;
pub mod commands;
pub mod crowd;
pub mod import;
pub mod measure;
pub mod run;
