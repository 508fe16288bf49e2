//! The market a simulated broker trades in: per symbol, a price path
//! ([`PricePath`], from a [`PathModel`]: seeded, or replayed from a
//! [`Recording`] of trades or bars) and the quotes around it
//! ([`QuoteModel`], giving the engine's `Quote`).
//!
//! The path is drawn from its own random stream (purpose `market`, keyed by
//! the symbol), so nothing the engine does changes it, and it reads the
//! same at any instant whatever was asked before: [`PricePath::price_at`]
//! answers in any order, with memory bounded by checkpoints.
//!
//! Entry points: [`PathModel::new`], [`PricePath::new`],
//! [`PricePath::price_at`], [`QuoteModel::quote_at`], and the tape a
//! market prints ([`Market::trades`], [`Market::last_trade`],
//! [`Market::bars`] by [`Timeframe`]). Imports the distributions, the
//! price grid (`lifecycle::on_price_grid`), the calendar's New York dates
//! (for day bars), the time origin and the engine's seeded streams only.
//!
//! Read from a scenario's `market:` section (`scenario/market.rs`), where
//! a path may be replayed from a recording (`recorded.rs`); the simulated
//! broker fills against it (`venue.rs`).

/// The most steps a path takes (a week at one step a second, or 70 days at
/// the default 10 s): beyond it the price holds. Here, beside the
/// checkpoint spacing, because the drawn and the recorded paths share
/// both.
pub const MAX_STEPS: u64 = 6_048_000;

/// Steps between two checkpoints (and the blocks whose ranges a search
/// skips): a price is at most this many draws from one, and a path of
/// [`MAX_STEPS`] keeps about 6,000 of them.
pub(crate) const CHECKPOINT_EVERY: u64 = 1_024;

mod path;
mod quote;
mod recorded;
mod sessions;
mod tape;
mod trigger;
mod venue;

pub use path::{MIN_STEP, MarketError, PathModel, PricePath};
pub use quote::QuoteModel;
pub use recorded::{MAX_RECORDS, RecordError, RecordKind, Recording};
pub use sessions::{Hours, Sessions};
pub use tape::{
    Bar, Bars, BarsError, MAX_BAR_LIMIT, MAX_BAR_STEPS, TapeTrade, Timeframe, TimeframeError,
};
pub use trigger::{Stop, Triggered};
pub use venue::{Asset, FLAT_SIZE, HaltRate, Listing, MAX_DRAWN_HALTS, Market, MarketModel};
