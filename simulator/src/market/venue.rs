//! The market a run trades in: each listed symbol's path, quotes and asset
//! flags ([`MarketModel`], compiled from a scenario), and their live state
//! during a run ([`Market`]), which answers the price, the quote and the
//! first instant an order can trade.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use fillproof_engine::{Quote, Side};
use indexmap::IndexMap;
use rand::Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::path::{PathModel, PricePath};
use super::quote::QuoteModel;
use super::sessions::{Hours, Sessions};
use crate::distribution::{Dist, DurationDist};
use crate::lifecycle::marketable;
use crate::time::TimeOrigin;

/// Shares shown on each side of a flat quote (a symbol without a market
/// model), and in its trades.
pub const FLAT_SIZE: u32 = 100;

/// The most halts a rate draws for one symbol in a run: past it the
/// symbol trades on.
pub const MAX_DRAWN_HALTS: usize = 10_000;

/// What the broker says of a symbol as an asset: whether it is active,
/// tradable, fractionable and shortable. Default: all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "an asset is these flags, as Alpaca shows them"
)]
pub struct Asset {
    /// Listed and trading (`status: active`); an inactive asset is refused.
    pub active: bool,
    /// The broker accepts orders in it.
    pub tradable: bool,
    /// Fractional quantities are accepted.
    pub fractionable: bool,
    /// It may be sold short.
    pub shortable: bool,
    /// It is easy to borrow for a short sale.
    pub easy_to_borrow: bool,
}

impl Default for Asset {
    fn default() -> Self {
        Self {
            active: true,
            tradable: true,
            fractionable: true,
            shortable: true,
            easy_to_borrow: true,
        }
    }
}

/// Halts drawn at a rate: how many per virtual hour, and how long each.
#[derive(Debug, Clone, PartialEq)]
pub struct HaltRate {
    /// Mean halts per virtual hour.
    pub per_hour: f64,
    /// Each halt's length.
    pub length: DurationDist,
}

/// One symbol of the market: how its price moves, how it is quoted, what
/// kind of asset it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// Its price path (a constant price unless a market section moves it).
    pub path: PathModel,
    /// Quotes around the price; `None` quotes both sides at the price
    /// itself (a symbol without a market model).
    pub quotes: Option<QuoteModel>,
    /// Its asset flags.
    pub asset: Asset,
    /// Halts drawn at a rate, beside the path's own windows.
    pub halt_rate: Option<HaltRate>,
}

impl Listing {
    /// A symbol held at `price`, quoted at it on both sides, never halted.
    #[must_use]
    pub fn flat(price: Decimal) -> Self {
        let path = PathModel::new(price, 0.0, 0.0, super::MIN_STEP.max(Duration::from_secs(1)))
            .unwrap_or_else(|_| {
                PathModel::new(
                    fillproof_engine::MIN_PRICE,
                    0.0,
                    0.0,
                    Duration::from_secs(1),
                )
                .expect("the grid's lowest price is a path's start")
            });
        Self {
            path,
            quotes: None,
            asset: Asset::default(),
            halt_rate: None,
        }
    }
}

/// Every symbol the broker lists, in the scenario's order, and when the
/// market trades.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarketModel {
    /// The listings by symbol.
    pub listings: IndexMap<String, Listing>,
    /// When the market trades; default always.
    pub hours: Hours,
}

/// A listing during a run: its path (read under a short lock: a path
/// caches what it has drawn) and its halts. The tape (`tape.rs`) reads the
/// path and the quote model's sizes.
#[derive(Debug)]
pub(super) struct Live {
    pub(super) path: Mutex<PricePath>,
    pub(super) quotes: Option<QuoteModel>,
    asset: Asset,
}

/// The market during a run: prices, quotes and halts per symbol, each a
/// pure function of the seed, the symbol and the instant.
#[derive(Debug)]
pub struct Market {
    seed: u64,
    live: IndexMap<String, Live>,
    /// The sessions, when the market keeps regular hours.
    sessions: Option<Sessions>,
}

impl Market {
    /// The market `model` describes under `seed`, with halts drawn at a
    /// rate up to `horizon` (a run's last instant) and its sessions (when
    /// it keeps regular hours) in the time of a run starting at `origin`.
    #[must_use]
    pub fn new(model: &MarketModel, seed: u64, horizon: Duration, origin: TimeOrigin) -> Self {
        let live = model
            .listings
            .iter()
            .map(|(symbol, listing)| {
                let mut path = listing.path.clone();
                if let Some(rate) = &listing.halt_rate {
                    let mut halts = path.halts().to_vec();
                    halts.extend(draw_halts(rate, seed, symbol, horizon));
                    path = path.with_halts(halts);
                }
                let live = Live {
                    path: Mutex::new(PricePath::new(path, seed, symbol)),
                    quotes: listing.quotes.clone(),
                    asset: listing.asset,
                };
                (symbol.clone(), live)
            })
            .collect();
        let sessions = (model.hours == Hours::Regular).then(|| Sessions::new(origin));
        Self {
            seed,
            live,
            sessions,
        }
    }

    /// The sessions, when the market keeps regular hours (`None`: it
    /// trades at any instant).
    #[must_use]
    pub fn sessions(&self) -> Option<&Sessions> {
        self.sessions.as_ref()
    }

    /// The listed symbols, in the scenario's order.
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        self.live.keys().map(String::as_str)
    }

    /// The live listing of `symbol` and the seed its draws derive from,
    /// for the tape; `None` for a symbol not listed.
    pub(super) fn live(&self, symbol: &str) -> Option<(&Live, u64)> {
        self.live.get(symbol).map(|live| (live, self.seed))
    }

    /// The asset `symbol` is; `None` for a symbol this market does not
    /// list.
    #[must_use]
    pub fn asset(&self, symbol: &str) -> Option<Asset> {
        self.live.get(symbol).map(|l| l.asset)
    }

    /// The price of `symbol` at `t`; `None` for a symbol not listed.
    #[must_use]
    pub fn price_at(&self, symbol: &str, t: Duration) -> Option<Decimal> {
        let live = self.live.get(symbol)?;
        Some(lock(&live.path).price_at(t))
    }

    /// The quote of `symbol` at `t` (unstamped); `None` for a symbol not
    /// listed.
    #[must_use]
    pub fn quote_at(&self, symbol: &str, t: Duration) -> Option<Quote> {
        let live = self.live.get(symbol)?;
        let mut path = lock(&live.path);
        Some(self.quote(symbol, live, &mut path, t))
    }

    /// The price an order is valued at while it commits buying power at
    /// `t`: its limit, else its symbol's price then (a dollar for a symbol
    /// not listed, which the broker refuses before it commits anything).
    #[must_use]
    pub fn commit_price(&self, symbol: &str, limit: Option<Decimal>, t: Duration) -> Decimal {
        limit
            .or_else(|| self.price_at(symbol, t))
            .unwrap_or(Decimal::ONE)
    }

    /// True when `symbol` is halted at `t`.
    #[must_use]
    pub fn halted_at(&self, symbol: &str, t: Duration) -> bool {
        self.live
            .get(symbol)
            .is_some_and(|live| lock(&live.path).halted_at(t))
    }

    /// The first instant from `from` (before `until`) at which an order on
    /// `side` with `limit` can trade `symbol`, and the touch it trades
    /// against then (the ask for a buy, the bid for a sell): the market is
    /// open (with `extended`, its pre- and after-hours sessions count),
    /// the symbol is not halted and the touch is at the limit or better.
    /// `None` when that never happens before `until`, or the symbol is not
    /// listed.
    #[must_use]
    pub fn first_fill(
        &self,
        symbol: &str,
        order: (Side, Option<Decimal>, bool),
        from: Duration,
        until: Duration,
    ) -> Option<(Duration, Decimal)> {
        let (side, limit, extended) = order;
        let live = self.live.get(symbol)?;
        let half_cent = Decimal::new(5, 3);
        let log_of = |price: Decimal| {
            price
                .to_f64()
                .filter(|p| *p > 0.0)
                .map_or(f64::NEG_INFINITY, f64::ln)
        };
        // The log-prices a buy must be under and a sell at or over.
        let bounds = limit.map_or((f64::INFINITY, f64::NEG_INFINITY), |limit| {
            (log_of(limit + half_cent), log_of(limit - half_cent))
        });
        let mut path = lock(&live.path);
        let mut t = from;
        // The market is known open before this instant.
        let mut open_until = Duration::ZERO;
        // Each pass moves `t` strictly forward (to an open, past a halt, a
        // block or a step), and `until` bounds it.
        while t < until {
            if let Some(sessions) = self.sessions.as_ref().filter(|_| t >= open_until) {
                if let Some(opens) = sessions.closed_until(t, extended) {
                    t = opens;
                    continue;
                }
                open_until = sessions.trading_ends(t, extended);
            }
            if let Some(end) = path.halt_end(t) {
                t = end;
                continue;
            }
            if let Some(limit) = limit.filter(|_| !path.is_still()) {
                let ((low, high), next) = path.block_range(t);
                // An ask is above the price and a bid at or below it: a
                // block whose prices never pass the limit holds no fill.
                let can = match side {
                    Side::Buy => low < limit,
                    Side::Sell => high >= limit,
                };
                if !can {
                    t = next?;
                    continue;
                }
                // The same test on this step's log-price, before the price
                // is rounded and its quote drawn: widened by half a cent, the
                // most rounding to the grid moves a price, so it never
                // skips a step the exact test would keep.
                let log_price = path.log_price_at(t);
                let can = match side {
                    Side::Buy => log_price < bounds.0,
                    Side::Sell => log_price >= bounds.1,
                };
                if !can {
                    t = path.next_step_after(t)?;
                    continue;
                }
            }
            let quote = self.quote(symbol, live, &mut path, t);
            let touch = quote.touch(side);
            if marketable(side, limit, touch) {
                return Some((t, touch));
            }
            if path.is_still() && quotes_hold(live.quotes.as_ref()) {
                // Neither the price nor the quote ever changes: an order
                // that cannot trade now never can.
                return None;
            }
            if path.is_still()
                && !can_ever_trade(live.quotes.as_ref(), side, limit, path.price_at(t))
            {
                // The price holds and no spread the model can draw brings
                // the touch to the limit: walking the steps would only
                // draw quotes that never trade.
                return None;
            }
            t = path.next_step_after(t)?;
        }
        None
    }

    /// The quote of `live` at `t`: flat at the price, or drawn by its
    /// quote model.
    fn quote(&self, symbol: &str, live: &Live, path: &mut PricePath, t: Duration) -> Quote {
        match &live.quotes {
            Some(model) => model.quote_at(path, self.seed, symbol, t),
            None => {
                let price = path.price_at(t);
                Quote {
                    bid: price,
                    bid_size: Decimal::from(FLAT_SIZE),
                    ask: price,
                    ask_size: Decimal::from(FLAT_SIZE),
                    at: None,
                }
            }
        }
    }
}

/// On a price that holds, whether any quote the model can draw puts the
/// touch at the limit: the narrowest spread's ask for a buy, its bid for a
/// sell.
fn can_ever_trade(
    quotes: Option<&QuoteModel>,
    side: Side,
    limit: Option<Decimal>,
    price: Decimal,
) -> bool {
    let Some(model) = quotes else {
        return false;
    };
    let (best_bid, best_ask) = model.best_touches(price);
    let best = match side {
        Side::Buy => best_ask,
        Side::Sell => best_bid,
    };
    marketable(side, limit, best)
}

/// True when quotes never change while the price holds: flat quotes, or
/// a fixed spread and size.
fn quotes_hold(quotes: Option<&QuoteModel>) -> bool {
    quotes
        .is_none_or(|q| matches!(q.spread_bps, Dist::Fixed(_)) && matches!(q.size, Dist::Fixed(_)))
}

/// The path, whoever last panicked holding it: a path's cache is whole
/// after every step, so a poisoned lock holds a usable path.
pub(super) fn lock(path: &Mutex<PricePath>) -> std::sync::MutexGuard<'_, PricePath> {
    path.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Halts at `rate` for `symbol` up to `horizon`, from the market's halt
/// stream: exponential gaps between starts, each of a drawn length.
fn draw_halts(
    rate: &HaltRate,
    seed: u64,
    symbol: &str,
    horizon: Duration,
) -> Vec<(Duration, Duration)> {
    let mut halts = Vec::new();
    if rate.per_hour <= 0.0 {
        return halts;
    }
    let mut rng = fillproof_engine::derive_rng(
        seed,
        "halts",
        fillproof_engine::stable_hash(symbol.as_bytes()),
    );
    let mean_gap = 3_600.0 / rate.per_hour;
    let mut at = Duration::ZERO;
    while halts.len() < MAX_DRAWN_HALTS {
        let u: f64 = rng.random();
        let gap = -mean_gap * (1.0 - u).ln();
        at = at.saturating_add(Duration::try_from_secs_f64(gap).unwrap_or(Duration::MAX));
        if at >= horizon {
            break;
        }
        let length = rate.length.sample(&mut rng);
        halts.push((at, length));
        at = at.saturating_add(length);
    }
    halts
}
