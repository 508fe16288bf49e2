//! Measuring runs: what each seed's engine concluded judged against the
//! broker's ledger, and the reports made of it.
//!
//! Entry points:
//! - [`metrics`]: `Tally::of` (one seed's counts, judged through the
//!   simulator's judge) and `Metrics::from_tallies` (pooled figures, with
//!   DESIGN.md's definitions).
//! - [`report`]: `Report::new` / `Report::of_summaries` (the metrics of a
//!   scenario run with what identifies and replays it), `Report::table`
//!   for people and JSON for tools.
//! - [`junit`]: `write_junit`, the gate's JUnit XML.
//!
//! May import: `run/` (the runs it measures), `cli::Shard` (a report says
//! which shard it is), `fillproof_simulator` (its
//! judge, the scenario's `expect:`), `fillproof_engine`. Nothing from
//! `commands/`.

pub mod junit;
pub mod metrics;
pub mod report;
mod table;
