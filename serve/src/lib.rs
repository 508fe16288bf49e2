//! `fillproof serve`: the seeded simulated broker behind Alpaca's Trading
//! API v2, so that any bot in any language (alpaca-py, the C# and JS SDKs,
//! a hand-written client) meets the scenario's faults and is measured
//! against the broker's ground truth.
//!
//! - [`wire`]: Alpaca's JSON shapes, error codes and the order body.
//! - [`Session`]: the broker, the request log, clients' claims and the
//!   report; it answers a request at its arrival time and knows nothing of
//!   HTTP.
//! - [`serve`]: the HTTP and websocket front, on the real clock.
//! - [`claims`]: clients' claims and the rules that judge them against the
//!   ledger.
//! - [`log`]: the request log, hash-chained, with each request's live
//!   answer.
//! - [`replay`]: a logged session again, on the paused clock.
//!
//! Network code lives here and in `fillproof-alpaca` only: the engine and
//! the simulator never link a socket.

mod api;
mod http;
mod replay;
mod report;
mod session;
pub mod wire;

pub use session::{claims, log};

pub use api::{Answer, MAX_ORDERS, Reply, query_param};
pub use claims::{ClaimRefused, MAX_CLAIMS};
pub use http::{LogSink, serve, spawn_on_thread};
pub use log::{LiveAnswer, LogHeader, LoggedRequest};
pub use replay::{
    Divergence, LogLine, ReplayError, RequestLog, Shown, read_keyed_log, read_log, replay,
};
pub use report::{FillReport, Judged, OrderReport, Report, report_reply};
pub use session::Session;
