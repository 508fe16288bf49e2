//! Measuring runs: what each seed's engine concluded judged against the
//! broker's ledger, and the reports made of it.
//!
//! Entry points:
//! - [`metrics`]: `Tally::of` (one seed's counts, judged through the
//!   simulator's judge) and `Metrics::from_tallies` (pooled figures, with
//!   DESIGN.md's definitions).
//!
//! May import: `run/` (the runs it measures), `fillproof_simulator` (its
//! judge, the scenario's `expect:`), `fillproof_engine`. Nothing from
//! `commands/`.

pub mod metrics;
