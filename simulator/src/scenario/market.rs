//! The `market:` section: when the market trades, and per symbol how its
//! price moves (a seeded process: drift, volatility and jumps; or a
//! recorded `file:` of trades or bars, read by `recorded.rs`), its halts,
//! how it is quoted, and what kind of asset it is.
//!
//! A scenario without the section holds each symbol at its reference
//! price, quoted at it on both sides, trading at any hour.

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Scenario;
use super::broker::OutageSpec;
use super::check::Checker;
use super::values::Price;
use crate::distribution::{Dist, DurationDist, NumberDist};
use crate::duration::Dur;
use crate::market::{
    Asset, HaltRate, Hours, Listing, MarketError, MarketModel, PathModel, QuoteModel, Recording,
};

/// The most halts a symbol may draw per virtual hour.
pub const MAX_HALTS_PER_HOUR: f64 = 60.0;

/// When the market trades.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketHours {
    /// The regular US equity sessions of the bundled calendar, with pre-
    /// and after-hours sessions for orders that may trade in them.
    #[default]
    Regular,
    /// Open for the whole run, whatever the calendar says: for testing
    /// outside market hours.
    Always,
}

/// The `market:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketSpec {
    /// When the market trades; default `regular`.
    #[serde(default)]
    pub hours: MarketHours,
    /// How each symbol's price moves, by symbol.
    #[serde(default)]
    pub symbols: IndexMap<String, Spanned<SymbolSpec>>,
}

/// One symbol of the `market:` section. Defaults: the workload's
/// reference price, no drift, no volatility, a 1 s step, no jumps or
/// halts, a 2 bps spread with 100 shares a side, an active asset that is
/// tradable, fractionable, shortable and easy to borrow.
///
/// With `file:` the price replays a recorded CSV of trades or bars from
/// the run's start (its first record is virtual time zero; the format and
/// the intrabar convention for bars are in `market/recorded.rs`); `price`,
/// `drift`, `volatility` and `jumps` are then refused, while `step` (the
/// grid the replay moves on), halts, quotes and the asset's flags apply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolSpec {
    /// A recorded path: a CSV file of trades or bars, relative to the
    /// scenario's folder.
    #[serde(default)]
    pub file: Option<Spanned<PathFile>>,
    /// The price at the start; default the workload's reference price.
    #[serde(default)]
    pub price: Option<Price>,
    /// Yearly drift of the log-price (0.05 is 5% a year); default 0.
    #[serde(default)]
    pub drift: Option<f64>,
    /// Yearly volatility (0.2 is 20% a year); default 0.
    #[serde(default)]
    pub volatility: Option<f64>,
    /// Time between two moves of the price; default 1s, at least 100ms.
    #[serde(default = "default_step")]
    pub step: Dur,
    /// Price gaps: a chance per step and a size.
    #[serde(default)]
    pub jumps: Option<JumpSpec>,
    /// Trading halts.
    #[serde(default)]
    pub halts: HaltSpec,
    /// Quotes around the price.
    #[serde(default)]
    pub quote: QuoteSpec,
    /// `active` or `inactive`; an inactive asset is refused.
    #[serde(default)]
    pub status: AssetStatus,
    /// The broker accepts orders in it; default true.
    #[serde(default = "yes")]
    pub tradable: bool,
    /// Fractional quantities are accepted; default true.
    #[serde(default = "yes")]
    pub fractionable: bool,
    /// It may be sold short; default true.
    #[serde(default = "yes")]
    pub shortable: bool,
    /// Easy to borrow for a short sale; default true.
    #[serde(default = "yes")]
    pub easy_to_borrow: bool,
}

/// The recorded file a symbol's path replays: its name as the scenario
/// writes it, and its records once read (when the scenario is loaded).
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "String")]
pub struct PathFile {
    /// The path, relative to the scenario's folder.
    pub name: String,
    /// The records, once read; `None` until then, or when the file could
    /// not be read (which loading reports).
    pub recording: Option<Arc<Recording>>,
}

impl From<String> for PathFile {
    fn from(name: String) -> Self {
        Self {
            name,
            recording: None,
        }
    }
}

/// An asset's status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    /// Listed and trading.
    #[default]
    Active,
    /// Delisted or suspended: orders are refused.
    Inactive,
}

/// Price gaps: at each step, with `probability`, the log-price moves by a
/// draw of `size` (-0.05 is a gap of about 5% down).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JumpSpec {
    /// Chance of a jump at each step.
    pub probability: super::values::Probability,
    /// The jump, as a log-return.
    pub size: NumberDist,
}

/// Trading halts: windows, and halts drawn at a rate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltSpec {
    /// Scripted halts: start and length.
    #[serde(default)]
    pub windows: Vec<OutageSpec>,
    /// Halts drawn per virtual hour; default none.
    #[serde(default)]
    pub per_hour: f64,
    /// Length of a drawn halt; default 5m.
    #[serde(default = "default_halt_length")]
    pub length: DurationDist,
}

/// Quotes around the price: the spread in basis points of the price (at
/// least one tick) and the shares on each side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteSpec {
    /// The spread, in basis points; default 2.
    #[serde(default = "default_spread")]
    pub spread_bps: NumberDist,
    /// Shares on each side; default 100.
    #[serde(default = "default_size")]
    pub size: NumberDist,
}

impl Default for QuoteSpec {
    fn default() -> Self {
        Self {
            spread_bps: default_spread(),
            size: default_size(),
        }
    }
}

fn default_step() -> Dur {
    Dur(Duration::from_secs(1))
}

fn default_halt_length() -> DurationDist {
    DurationDist::fixed(Duration::from_secs(300))
}

fn default_spread() -> NumberDist {
    NumberDist::fixed(2.0)
}

fn default_size() -> NumberDist {
    NumberDist::fixed(100.0)
}

fn yes() -> bool {
    true
}

impl SymbolSpec {
    /// The listing this symbol describes, starting at `reference` when it
    /// gives no price of its own.
    ///
    /// # Errors
    /// The first setting out of range, no price at all, or a setting
    /// beside `file` that a recorded path takes from its file.
    pub fn listing(
        &self,
        reference: Option<rust_decimal::Decimal>,
    ) -> Result<Listing, MarketError> {
        let mut path = self.path_model(reference)?;
        path = path.with_halts(
            self.halts
                .windows
                .iter()
                .map(|w| (w.at.0, w.duration.0))
                .collect(),
        );
        if !(0.0..=MAX_HALTS_PER_HOUR).contains(&self.halts.per_hour) {
            return Err(MarketError {
                field: "halts.per_hour",
                problem: format!(
                    "{} is out of range; allowed: 0 to {MAX_HALTS_PER_HOUR}",
                    self.halts.per_hour
                ),
            });
        }
        for (field, dist) in [
            ("quote.spread_bps", &self.quote.spread_bps),
            ("quote.size", &self.quote.size),
        ] {
            if dist.0.upper_bound().is_some_and(|high| high > 1e6) {
                return Err(MarketError {
                    field,
                    problem: "can draw more than 1000000; allowed: up to 1000000".into(),
                });
            }
        }
        Ok(Listing {
            path,
            quotes: Some(QuoteModel {
                spread_bps: self.quote.spread_bps.0.clone(),
                size: self.quote.size.0.clone(),
            }),
            asset: Asset {
                active: self.status == AssetStatus::Active,
                tradable: self.tradable,
                fractionable: self.fractionable,
                shortable: self.shortable,
                easy_to_borrow: self.easy_to_borrow,
            },
            halt_rate: (self.halts.per_hour > 0.0).then(|| HaltRate {
                per_hour: self.halts.per_hour,
                length: self.halts.length.clone(),
            }),
        })
    }

    /// How the price moves, before halts: replayed from `file`, or drawn
    /// from `reference` (or `price`) with drift, volatility and jumps.
    fn path_model(
        &self,
        reference: Option<rust_decimal::Decimal>,
    ) -> Result<PathModel, MarketError> {
        if let Some(file) = &self.file {
            let given = [
                ("price", self.price.is_some()),
                ("drift", self.drift.is_some()),
                ("volatility", self.volatility.is_some()),
                ("jumps", self.jumps.is_some()),
            ];
            if let Some((field, _)) = given.into_iter().find(|(_, given)| *given) {
                return Err(MarketError {
                    field,
                    problem: format!(
                        "is given beside `file`; a recorded path takes its prices from \
                         `{}`: give `{field}` or `file`, not both",
                        file.value.name
                    ),
                });
            }
            let recording = file.value.recording.clone().ok_or_else(|| MarketError {
                field: "file",
                problem: format!("`{}` was not read", file.value.name),
            })?;
            return PathModel::recorded(recording, self.step.0);
        }
        let start = self.price.map(|p| p.0).or(reference).ok_or(MarketError {
            field: "price",
            problem: "has no value; give `price: \"590.10\"` here or a \
                      workload.reference_price for the symbol"
                .into(),
        })?;
        let mut path = PathModel::new(
            start,
            self.drift.unwrap_or(0.0),
            self.volatility.unwrap_or(0.0),
            self.step.0,
        )?;
        if let Some(jumps) = &self.jumps {
            path = path.with_jumps(jumps.probability.0, jumps.size.0.clone())?;
        }
        Ok(path)
    }
}

/// The market `scenario` describes: each symbol of its `market:` section
/// as it says, and every other symbol with a reference price flat at it.
/// A symbol whose settings are out of range (which `check` refuses) is
/// held flat at its reference price, if it has one.
#[must_use]
pub fn market_model(scenario: &Scenario) -> MarketModel {
    let references = &scenario.workload.reference_price.value;
    let mut listings: IndexMap<String, Listing> = references
        .iter()
        .map(|(symbol, price)| (symbol.clone(), Listing::flat(price.0)))
        .collect();
    let mut hours = Hours::Always;
    if let Some(market) = &scenario.market {
        hours = match market.hours {
            MarketHours::Regular => Hours::Regular,
            MarketHours::Always => Hours::Always,
        };
        for (symbol, spec) in &market.symbols {
            let reference = references.get(symbol).map(|p| p.0);
            if let Ok(listing) = spec.value.listing(reference) {
                listings.insert(symbol.clone(), listing);
            }
        }
    }
    MarketModel { listings, hours }
}

/// Checks the `market:` section: every symbol's settings in range and
/// priced, and halt windows of positive length.
pub(super) fn check(scenario: &Scenario, c: &mut Checker<'_>) {
    let Some(market) = &scenario.market else {
        return;
    };
    let references = &scenario.workload.reference_price.value;
    for (symbol, spec) in &market.symbols {
        let here = Some(spec.referenced);
        // A file that could not be read is reported where it was read.
        let unread = |field: &str| {
            field == "file"
                && spec
                    .value
                    .file
                    .as_ref()
                    .is_some_and(|f| f.value.recording.is_none())
        };
        let listed = spec.value.listing(references.get(symbol).map(|p| p.0));
        if let Some(error) = listed.err().filter(|e| !unread(e.field)) {
            c.at(
                here,
                format!("market.symbols.{symbol}.{}", error.field),
                error.problem,
            );
        }
        for (i, window) in spec.value.halts.windows.iter().enumerate() {
            if window.duration.0.is_zero() {
                c.at(
                    here,
                    format!("market.symbols.{symbol}.halts.windows[{i}].for"),
                    "is 0s; a halt lasts a positive time",
                );
            }
        }
        if matches!(spec.value.halts.length.0, Dist::Fixed(x) if x <= 0.0)
            && spec.value.halts.per_hour > 0.0
        {
            c.at(
                here,
                format!("market.symbols.{symbol}.halts.length"),
                "is 0s; a drawn halt lasts a positive time",
            );
        }
    }
}
