//! Running seeds: the engine under test against the simulated broker on
//! virtual time, and what each seed produced.
//!
//! Entry points:
//! - [`run_seed`], [`run_seeds`], [`run_seeds_into`] ([`runner`]): one seed
//!   on one paused current-thread runtime, phase by phase (set up, submit
//!   the workload, settle, file outcomes, check positions, wait for the
//!   requests still travelling, collect: `simulate.rs`); many seeds across
//!   threads, merged in seed order. [`RunSpec`] says how,
//!   [`SeedRun`] holds what came out (`seed.rs`).
//! - [`engines`]: the engines under test, the fillproof engine and the
//!   baselines kept to show what they get wrong.
//! - `tasks.rs`: the engine tasks, one per order, and their filing.
//! - `crash.rs`: the scenario's crashes of the engine under test, and the
//!   restarts after them ([`CrashRecord`]).
//! - [`cost::admit`]: the run's cost (memory, planned reads) estimated
//!   before it starts, and a run the machine cannot carry refused.
//! - [`strategies`]: the polling strategies `--strategy` and the sweep name.
//! - `status.rs`: the engine's status updates as heard ([`StatusEvents`]).
//!
//! May import: `fillproof_engine`, `fillproof_simulator`. Nothing from
//! `measure/`, `commands/` or the CLI: what a run produced is judged
//! elsewhere.

pub mod cost;
mod crash;
pub mod engines;
pub mod runner;
mod seed;
mod simulate;
mod status;
pub mod strategies;
mod tasks;

pub use crash::CrashRecord;
pub use runner::{run_seed, run_seeds, run_seeds_into, simulation_runtime};
pub use seed::{OrderOutcome, RunSpec, SeedRun};
pub use status::{Heard, StatusEvents};
