//! `fillproof-simulator`: the seeded mock broker that implements the
//! engine's [`fillproof_engine::Broker`] port from a YAML scenario.
//!
//! This crate is a placeholder in the workspace: the scenario schema, the
//! broker and its ground-truth ledger are not written yet, and nothing here
//! simulates anything.
