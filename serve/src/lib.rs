//! `fillproof serve`: the seeded simulated broker behind Alpaca's Trading
//! API v2, so that any bot in any language (alpaca-py, the C# and JS SDKs,
//! a hand-written client) meets the scenario's faults and is measured
//! against the broker's ground truth.
//!
//! Modules, from the edge inwards; each imports only those below it:
//!
//! - `http` ([`serve`], [`spawn_on_thread`]): the HTTP and websocket
//!   front, on the real clock: the `trade_updates` stream and the
//!   real-time market data stream. May import `api`, `feed`, `report`,
//!   `session`, `wire`.
//! - `feed`: the market data stream's protocol and encodings (JSON,
//!   MessagePack), without the socket. May import `market`, `bars`,
//!   `session`.
//! - `replay` ([`replay`], [`read_log`], [`read_keyed_log`]): a logged
//!   session again, on the paused clock. May import `report`, `session`
//!   (and through it `api`'s [`Session::dispatch`]), `wire`.
//! - `api` ([`Session::dispatch`], [`Answer`], [`query_param`]): Alpaca's
//!   routes, each endpoint's answer from the broker at the request's
//!   arrival time; with `market` (latest quotes and trades, assets),
//!   `bars` (bars, latest bars, snapshots from the market's tape) and
//!   `calendar` (`GET /v2/calendar`), `positions` (closing one
//!   position or all) and `lists` (the order list and the fill
//!   activities, through the broker's batched reads), `portfolio` (the
//!   account and its history), and `surface` (watchlists in
//!   `watchlists`, configurations in `configs`, corporate announcements,
//!   options, `GET /v3/clock`, `GET /v3/calendar/{market}`), and `data`
//!   (the Market Data API beyond bars and latest quotes: historical
//!   quotes and trades in `history`, crypto in `crypto`, options data in
//!   `options`, the screener in `screener`, news, corporate actions,
//!   auctions, and the exchange and condition tables in `tables`), and
//!   `unoffered` (what Alpaca offers and serve does not model, refused
//!   403 naming it). May import `session`, `wire`, and one another.
//! - `report` ([`Session::report`], [`Session::shut_down`], [`Report`]):
//!   the report, its claim-versus-ledger figures through
//!   [`fillproof_simulator::judge`]. May import `session`, `wire`.
//! - `session` ([`Session`], [`claims`], [`log`]): the session's state:
//!   its accounts (one per API key, each a simulated broker account over
//!   one clock and market), the request log (hash-chained, with each
//!   request's live answer and account), clients' claims, the bounds the
//!   accounts share; it knows nothing of HTTP. May import `wire`.
//! - [`wire`] ([`Reply`]): Alpaca's JSON shapes, error codes, the order
//!   body, and the reply a request gets. Imports no other module.
//!
//! Every module may import the engine and the simulator. Network code
//! lives in `http` here and in `fillproof-alpaca` only: the engine and the
//! simulator never link a socket.

mod api;
mod bars;
mod calendar;
mod configs;
mod crypto;
mod data;
mod feed;
mod history;
mod http;
mod lists;
mod market;
mod options;
mod portfolio;
mod positions;
mod replay;
mod report;
mod screener;
mod session;
mod surface;
mod tables;
mod unoffered;
mod watchlists;
pub mod wire;

pub use session::{claims, log};

pub use api::{Answer, MAX_ORDERS, query_param};
pub use claims::{ClaimRefused, MAX_CLAIMS};
pub use http::{LogSink, Timeouts, serve, serve_with, spawn_on_thread, spawn_on_thread_with};
pub use log::{LiveAnswer, LogHeader, LoggedRequest};
pub use portfolio::MAX_HISTORY_POINTS;
pub use replay::{
    Divergence, LogLine, ReplayError, RequestLog, Shown, read_keyed_log, read_log, replay,
};
pub use report::{FillReport, Judged, OrderReport, Report, report_reply};
pub use session::{MAX_ACCOUNTS, MAX_RESTARTS, Session};
pub use watchlists::{MAX_WATCHLIST_SYMBOLS, MAX_WATCHLISTS};
pub use wire::Reply;
