//! Time: wall-clock stamps read through one trait ([`Clock`]:
//! [`SystemClock`] in production, [`VirtualClock`] in simulations) and the
//! one recordable way to wait ([`sleep`], [`sleep_until`], recorded by
//! [`record_timers`]).
//!
//! Imports: `port` only (the [`Timestamp`](crate::Timestamp) a clock
//! reads). Every layer above waits through here; `clippy.toml` bans
//! tokio's own sleep everywhere else.

mod clock;

pub use clock::{
    Clock, SystemClock, Timer, TimerEnd, TimerWait, VirtualClock, record_timers, sleep, sleep_until,
};
