//! The call budget: one budget of broker calls shared by every order, and
//! the limiter behind it.
//!
//! Entry points: [`BrokerCalls`] (the broker as the engine calls it, where
//! a call may end [`CallError::NotSent`]), [`RateLimitedBroker`] (a broker whose every call first
//! waits its turn, by the caller's [`Priority`], set with
//! [`with_priority`]), [`RateLimiter`] and its [`RateLimit`].
//!
//! Imports: `time` (every wait is a recordable timer) and `port` (the
//! broker it wraps, its errors). Nothing here knows about orders being
//! watched or executed.

mod calls;
mod gate;
mod limiter;

pub use calls::{BrokerCalls, CallError};
pub use gate::{Priority, RateLimitedBroker, with_priority};
pub use limiter::{RateLimit, RateLimiter};
