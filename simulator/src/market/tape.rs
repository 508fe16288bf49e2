//! The tape: every listed symbol trades once per step of its price path,
//! at the step's price, and bars bucket those trades by wall-clock time as
//! Alpaca's Market Data API does.
//!
//! A trade's size is drawn from the listing's quote size distribution, on
//! a stream of its own keyed by symbol and step (purpose `trade`), so the
//! tape reads the same in any order; a flat listing (no quote model)
//! trades [`FLAT_SIZE`] shares. No trade prints while a halt holds, and
//! the tape ends at the path's last step ([`MAX_STEPS`]).
//!
//! Bars ([`Market::bars`]) are aligned to wall-clock time: minute bars to
//! whole minutes within the UTC hour, hour bars to whole hours within the
//! UTC day, day bars to New York's midnight (05:00 UTC in winter, 04:00 in
//! summer). A bar covers its bucket's trades within the span read; a
//! bucket with no trade (a halt held it) has no bar. The work a read does
//! is bounded: at most [`MAX_BAR_STEPS`] steps and [`MAX_BAR_LIMIT`] bars.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use fillproof_engine::Timestamp;
use rust_decimal::Decimal;

use super::MAX_STEPS;
use super::path::PricePath;
use super::sessions::Sessions;
use super::venue::{FLAT_SIZE, Live, Market, lock};
use crate::calendar::Date;
use crate::distribution::Dist;
use crate::time::TimeOrigin;

/// The most steps of a tape one bar read walks (a little over 23 days at
/// one step a second).
pub const MAX_BAR_STEPS: u64 = 2_000_000;

/// The most bars one read returns, as Alpaca's `limit` allows.
pub const MAX_BAR_LIMIT: usize = 10_000;

const MICROS_PER_MINUTE: i64 = 60_000_000;
const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// One trade on a symbol's tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapeTrade {
    /// The path step it prints at (its id on the tape).
    pub step: u64,
    /// The virtual instant it prints: its step's start.
    pub at: Duration,
    /// Its price: the path's price at the step.
    pub price: Decimal,
    /// Its size in shares (at least one).
    pub size: u64,
}

/// The span of wall-clock time one bar covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeframe {
    /// 1 to 59 minutes, aligned within the UTC hour.
    Minutes(u8),
    /// 1 to 23 hours, aligned within the UTC day.
    Hours(u8),
    /// One New York calendar day, from its midnight.
    Day,
}

/// A timeframe that does not read, naming what was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid timeframe \"{0}\": use 1Min to 59Min (or 1T to 59T), 1Hour to 23Hour (or 1H to 23H), or 1Day (1D)"
)]
pub struct TimeframeError(pub String);

impl FromStr for Timeframe {
    type Err = TimeframeError;

    /// Alpaca's spellings: `5Min` or `5T`, `1Hour` or `1H`, `1Day` or `1D`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refused = || TimeframeError(text.to_owned());
        let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
        let (amount, unit) = text.split_at(digits);
        let amount: u8 = amount.parse().map_err(|_| refused())?;
        match unit {
            "Min" | "T" if (1..=59).contains(&amount) => Ok(Self::Minutes(amount)),
            "Hour" | "H" if (1..=23).contains(&amount) => Ok(Self::Hours(amount)),
            "Day" | "D" if amount == 1 => Ok(Self::Day),
            _ => Err(refused()),
        }
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Minutes(n) => write!(f, "{n}Min"),
            Self::Hours(n) => write!(f, "{n}Hour"),
            Self::Day => f.write_str("1Day"),
        }
    }
}

impl Timeframe {
    /// The start (microseconds since the Unix epoch) of the bucket that
    /// holds the instant `unix_micros`.
    #[must_use]
    pub fn bucket_start(self, unix_micros: i64) -> i64 {
        match self {
            Self::Minutes(n) => {
                let hour = unix_micros.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR;
                let minute = (unix_micros - hour) / MICROS_PER_MINUTE;
                hour + minute / i64::from(n) * i64::from(n) * MICROS_PER_MINUTE
            }
            Self::Hours(n) => {
                let day = unix_micros.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
                let hour = (unix_micros - day) / MICROS_PER_HOUR;
                day + hour / i64::from(n) * i64::from(n) * MICROS_PER_HOUR
            }
            Self::Day => Date::eastern(unix_micros)
                .eastern_midnight()
                .unwrap_or(unix_micros),
        }
    }

    /// The start of the bucket after the one holding `unix_micros`.
    #[must_use]
    pub fn next_bucket(self, unix_micros: i64) -> i64 {
        let start = self.bucket_start(unix_micros);
        match self {
            Self::Minutes(n) => {
                let hour_end =
                    start.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR + MICROS_PER_HOUR;
                (start + i64::from(n) * MICROS_PER_MINUTE).min(hour_end)
            }
            Self::Hours(n) => {
                let day_end = start.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY + MICROS_PER_DAY;
                (start + i64::from(n) * MICROS_PER_HOUR).min(day_end)
            }
            Self::Day => {
                let date = Date::eastern(unix_micros);
                Date::from_days_since_epoch(date.days_since_epoch() + 1)
                    .and_then(Date::eastern_midnight)
                    .unwrap_or(i64::MAX)
            }
        }
    }

    /// The start of the bucket before the one holding `unix_micros`.
    #[must_use]
    pub fn previous_bucket(self, unix_micros: i64) -> i64 {
        self.bucket_start(self.bucket_start(unix_micros).saturating_sub(1))
    }
}

/// One bar: the trades of a bucket, as Alpaca's bars name their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// The bucket's start, wall-clock.
    pub t: Timestamp,
    /// The first trade's price.
    pub o: Decimal,
    /// The highest price.
    pub h: Decimal,
    /// The lowest price.
    pub l: Decimal,
    /// The last trade's price.
    pub c: Decimal,
    /// Shares traded.
    pub v: u64,
    /// Trades printed.
    pub n: u64,
    /// The volume-weighted average price, to six places.
    pub vw: Decimal,
}

/// What a bar read gives back: the bars, and where the read stopped short
/// of the span's end when `limit` bars' worth of buckets were read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bars {
    /// The bars in time order.
    pub bars: Vec<Bar>,
    /// The virtual instant a read for the next bars starts from; `None`
    /// when the read reached the span's end.
    pub resume: Option<Duration>,
}

/// A bar read refused, naming the request's field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct BarsError {
    /// The field at fault (`symbol`, `start`).
    pub field: &'static str,
    /// What is wrong and what would do.
    pub problem: String,
}

/// A bar being built.
struct Building {
    start: i64,
    end: i64,
    bar: Bar,
    notional: Decimal,
}

impl Building {
    fn new(timeframe: Timeframe, wall: i64, trade: &TapeTrade) -> Self {
        let bar = Bar {
            t: Timestamp::from_unix_micros(timeframe.bucket_start(wall)),
            o: trade.price,
            h: trade.price,
            l: trade.price,
            c: trade.price,
            v: 0,
            n: 0,
            vw: trade.price,
        };
        let mut building = Self {
            start: bar.t.unix_micros,
            end: timeframe.next_bucket(wall),
            bar,
            notional: Decimal::ZERO,
        };
        building.add(trade);
        building
    }

    fn add(&mut self, trade: &TapeTrade) {
        let bar = &mut self.bar;
        bar.h = bar.h.max(trade.price);
        bar.l = bar.l.min(trade.price);
        bar.c = trade.price;
        bar.v = bar.v.saturating_add(trade.size);
        bar.n += 1;
        self.notional += trade.price * Decimal::from(trade.size);
    }

    fn finish(mut self) -> Bar {
        if self.bar.v > 0 {
            self.bar.vw = (self.notional / Decimal::from(self.bar.v)).round_dp(6);
        }
        self.bar
    }
}

/// `a / b` rounded up.
fn div_ceil(a: u128, b: u128) -> u64 {
    u64::try_from(a.div_ceil(b.max(1))).unwrap_or(u64::MAX)
}

impl Market {
    /// The time between two steps of `symbol`'s path (and trades on its
    /// tape); `None` for a symbol not listed.
    #[must_use]
    pub fn step_of(&self, symbol: &str) -> Option<Duration> {
        let (live, _) = self.live(symbol)?;
        Some(lock(&live.path).step())
    }

    /// The trades of `symbol` printed in `span` (virtual time, start
    /// included, end not), at most `max` of them from its start; `None`
    /// for a symbol not listed.
    #[must_use]
    pub fn trades(
        &self,
        symbol: &str,
        span: Range<Duration>,
        max: usize,
    ) -> Option<Vec<TapeTrade>> {
        let (live, seed) = self.live(symbol)?;
        let mut path = lock(&live.path);
        let (first, end) = steps_in(&path, &span);
        let mut trades = Vec::new();
        let sessions = self.sessions();
        walk(
            (symbol, live, seed, sessions),
            &mut path,
            first..end,
            |trade| {
                trades.push(trade);
                trades.len() < max
            },
        );
        Some(trades)
    }

    /// The last trade of `symbol` at or before `t`: the trade of the step
    /// `t` falls in, or of the last step before the halts holding it; `None`
    /// for a symbol not listed, or when a halt has held it from the start.
    #[must_use]
    pub fn last_trade(&self, symbol: &str, t: Duration) -> Option<TapeTrade> {
        let (live, seed) = self.live(symbol)?;
        let mut path = lock(&live.path);
        let nanos = path.step_size_nanos();
        let mut at = t;
        // Each pass moves `at` to just before a halt's start: at most one
        // pass per halt.
        for _ in 0..=path.halts().len() {
            let step = step_at(nanos, at);
            let start = start_of(nanos, step);
            let holding = path
                .halts()
                .iter()
                .find(|&&(h, length)| start >= h && start < h.saturating_add(length));
            match holding {
                Some(&(halt, _)) => at = halt.checked_sub(Duration::from_nanos(1))?,
                None => return Some(trade_at(symbol, live, seed, &mut path, step)),
            }
        }
        None
    }

    /// The bars of `symbol` at `timeframe` over the trades printed in
    /// `span` (virtual time, start included, end not), buckets aligned on
    /// the wall clock `origin` maps virtual time to, at most `limit` of
    /// them (capped at [`MAX_BAR_LIMIT`]); a read that stops at `limit`
    /// buckets says where to resume.
    ///
    /// # Errors
    /// A symbol not listed (`symbol`), or a read of more than
    /// [`MAX_BAR_STEPS`] steps (`start`, naming the range and timeframe).
    pub fn bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        origin: TimeOrigin,
        span: Range<Duration>,
        limit: usize,
    ) -> Result<Bars, BarsError> {
        let (live, seed) = self.live(symbol).ok_or_else(|| BarsError {
            field: "symbol",
            problem: format!("{symbol} is not listed"),
        })?;
        let limit = limit.clamp(1, MAX_BAR_LIMIT);
        let mut path = lock(&live.path);
        let nanos = path.step_size_nanos();
        let (first, end) = steps_in(&path, &span);
        if first >= end {
            return Ok(Bars::default());
        }
        let wall = |step: u64| origin.at(start_of(nanos, step)).unix_micros;
        let mut last_bucket_end = wall(first);
        for _ in 0..limit {
            last_bucket_end = timeframe.next_bucket(last_bucket_end);
        }
        let past_limit = origin
            .elapsed_of(Timestamp::from_unix_micros(last_bucket_end))
            .map_or(u64::MAX, |d| div_ceil(d.as_nanos(), nanos));
        let stop = end.min(past_limit);
        let steps = stop.saturating_sub(first);
        if steps > MAX_BAR_STEPS {
            return Err(too_many_steps(
                symbol,
                timeframe,
                origin,
                &span,
                steps,
                path.step(),
            ));
        }
        let mut bars = Vec::new();
        let mut building: Option<Building> = None;
        let sessions = self.sessions();
        walk(
            (symbol, live, seed, sessions),
            &mut path,
            first..stop,
            |trade| {
                let w = wall(trade.step);
                match building.as_mut() {
                    Some(b) if w >= b.start && w < b.end => b.add(&trade),
                    _ => {
                        bars.extend(building.take().map(Building::finish));
                        building = Some(Building::new(timeframe, w, &trade));
                    }
                }
                true
            },
        );
        bars.extend(building.map(Building::finish));
        let resume = (stop < end).then(|| start_of(nanos, stop));
        Ok(Bars { bars, resume })
    }
}

/// The refusal of a read longer than [`MAX_BAR_STEPS`].
fn too_many_steps(
    symbol: &str,
    timeframe: Timeframe,
    origin: TimeOrigin,
    span: &Range<Duration>,
    steps: u64,
    step: Duration,
) -> BarsError {
    BarsError {
        field: "start",
        problem: format!(
            "start {} to end {} at timeframe {timeframe} reads {steps} steps of {symbol}'s tape \
             (one each {step:?}); at most {MAX_BAR_STEPS} are read per request: narrow start and \
             end, or ask for fewer bars with limit",
            origin.at(span.start),
            origin.at(span.end),
        ),
    }
}

/// The step `t` falls in, at most [`MAX_STEPS`].
fn step_at(nanos: u128, t: Duration) -> u64 {
    u64::try_from(t.as_nanos() / nanos.max(1))
        .unwrap_or(u64::MAX)
        .min(MAX_STEPS)
}

/// The instant step `step` starts.
fn start_of(nanos: u128, step: u64) -> Duration {
    let at = u128::from(step).saturating_mul(nanos);
    Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
}

/// The steps whose start lies in `span`, as a first step and an end
/// (exclusive), within the tape's steps (0 to [`MAX_STEPS`]).
fn steps_in(path: &PricePath, span: &Range<Duration>) -> (u64, u64) {
    let nanos = path.step_size_nanos();
    let last = MAX_STEPS + 1;
    let first = div_ceil(span.start.as_nanos(), nanos).min(last);
    let end = div_ceil(span.end.as_nanos(), nanos).min(last);
    (first, end.max(first))
}

/// Shows `visit` each trade of `steps` in order, skipping the steps a
/// halt holds and those when the market does not trade at all (outside
/// every session, when it keeps regular hours), until it answers false.
fn walk(
    (symbol, live, seed, sessions): (&str, &Live, u64, Option<&Sessions>),
    path: &mut PricePath,
    steps: Range<u64>,
    mut visit: impl FnMut(TapeTrade) -> bool,
) {
    let nanos = path.step_size_nanos();
    // The market is known to trade before this instant.
    let mut open_until = Duration::ZERO;
    let mut halts: Vec<(Duration, Duration)> = path
        .halts()
        .iter()
        .map(|&(start, length)| (start, start.saturating_add(length)))
        .collect();
    halts.sort_unstable();
    let mut next_halt = 0;
    let mut step = steps.start;
    while step < steps.end {
        let at = start_of(nanos, step);
        while next_halt < halts.len() && halts[next_halt].1 <= at {
            next_halt += 1;
        }
        if let Some(sessions) = sessions.filter(|_| at >= open_until) {
            // Trades print in every session, extended ones included.
            if let Some(opens) = sessions.closed_until(at, true) {
                step = div_ceil(opens.as_nanos(), nanos).max(step + 1);
                continue;
            }
            open_until = sessions.trading_ends(at, true);
        }
        if let Some(&(_, halt_end)) = halts.get(next_halt).filter(|h| h.0 <= at) {
            // Skip to the first step at or after the halt's end (at least
            // one step on, as the halt holds this one).
            step = div_ceil(halt_end.as_nanos(), nanos).max(step + 1);
            continue;
        }
        if !visit(trade_at(symbol, live, seed, path, step)) {
            return;
        }
        step += 1;
    }
}

/// The trade at `step` of `symbol`'s tape.
fn trade_at(symbol: &str, live: &Live, seed: u64, path: &mut PricePath, step: u64) -> TapeTrade {
    let at = start_of(path.step_size_nanos(), step);
    TapeTrade {
        step,
        at,
        price: path.price_at(at),
        size: trade_size(symbol, live, seed, step),
    }
}

/// The size of the trade at `step`: drawn from the quote model's size on
/// the step's own stream, or [`FLAT_SIZE`] for a flat listing.
fn trade_size(symbol: &str, live: &Live, seed: u64, step: u64) -> u64 {
    let Some(quotes) = &live.quotes else {
        return u64::from(FLAT_SIZE);
    };
    let shares = match quotes.size {
        Dist::Fixed(shares) => shares,
        ref size => {
            let key = fillproof_engine::stable_hash(format!("{symbol}/{step}").as_bytes());
            size.sample(&mut fillproof_engine::derive_rng(seed, "trade", key))
        }
    }
    .round();
    if shares.is_finite() && shares >= 1.0 {
        // A whole, positive, finite number of shares: the cast saturates
        // past u64's range.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a rounded positive share count, saturating"
        )]
        let whole = shares as u64;
        whole
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::{Listing, MarketModel, PathModel, QuoteModel};

    /// 2025-01-02 14:30:27 UTC (09:30:27 New York): a session's epoch that
    /// is not on a minute.
    const EPOCH: i64 = 1_735_828_227_000_000;

    fn origin() -> TimeOrigin {
        TimeOrigin::new(EPOCH)
    }

    /// SPY moving at 80% a year with drawn quote sizes, QQQ flat at $500.
    fn market() -> Market {
        let moving = PathModel::new(
            "590.10".parse().expect("price"),
            0.0,
            0.8,
            Duration::from_secs(1),
        )
        .expect("path");
        let mut spy = Listing::flat(Decimal::ONE);
        spy.path = moving;
        spy.quotes = Some(QuoteModel {
            spread_bps: Dist::Fixed(2.0),
            size: Dist::Uniform {
                low: 1.0,
                high: 500.0,
            },
        });
        let mut listings = indexmap::IndexMap::new();
        listings.insert("SPY".to_owned(), spy);
        listings.insert("QQQ".to_owned(), Listing::flat(Decimal::new(500, 0)));
        Market::new(
            &MarketModel {
                listings,
                ..MarketModel::default()
            },
            7,
            Duration::from_secs(86_400),
            crate::time::TimeOrigin::default(),
        )
    }

    fn read(
        market: &Market,
        symbol: &str,
        timeframe: Timeframe,
        span: Range<Duration>,
    ) -> Vec<Bar> {
        market
            .bars(symbol, timeframe, origin(), span, MAX_BAR_LIMIT)
            .expect("bars")
            .bars
    }

    /// Each minute bar opens at the price of its first step, closes at the
    /// price of its last, spans its lows and highs, and counts one trade a
    /// step; the first bar starts on the minute the epoch falls in.
    #[test]
    fn bars_agree_with_the_path() {
        let market = market();
        let bars = read(
            &market,
            "SPY",
            Timeframe::Minutes(1),
            Duration::ZERO..Duration::from_secs(600),
        );
        assert_eq!(bars.len(), 11, "10 minutes from 14:30:27 touch 11 minutes");
        assert_eq!(bars[0].t.to_string(), "2025-01-02T14:30:00.000000Z");
        assert_eq!(bars[0].n, 33, "14:30:27 to 14:30:59");
        assert_eq!(bars[1].n, 60);
        for bar in &bars {
            let first = bar.t.unix_micros.max(EPOCH);
            let at =
                |micros: i64| Duration::from_micros(u64::try_from(micros - EPOCH).expect("after"));
            let last = (bar.t.unix_micros + MICROS_PER_MINUTE - 1_000_000).min(EPOCH + 599_000_000);
            assert_eq!(Some(bar.o), market.price_at("SPY", at(first)), "{bar:?}");
            assert_eq!(Some(bar.c), market.price_at("SPY", at(last)), "{bar:?}");
            assert!(
                bar.h >= bar.o.max(bar.c) && bar.l <= bar.o.min(bar.c),
                "{bar:?}"
            );
            assert!(bar.vw >= bar.l && bar.vw <= bar.h, "{bar:?}");
        }
        let trades = market
            .trades("SPY", Duration::ZERO..Duration::from_secs(33), usize::MAX)
            .expect("listed");
        assert_eq!(bars[0].v, trades.iter().map(|t| t.size).sum::<u64>());
        assert!(
            trades.iter().any(|t| t.size != trades[0].size),
            "sizes are drawn"
        );
    }

    /// The tape is a function of the instant: bars read twice, or after
    /// reading later ones, or in pieces, are the same bars.
    #[test]
    fn bars_read_in_any_order_agree() {
        let hour = Duration::from_secs(3_600);
        let first = read(
            &market(),
            "SPY",
            Timeframe::Minutes(5),
            Duration::ZERO..hour,
        );
        let market = market();
        let _later = read(&market, "SPY", Timeframe::Hours(1), hour..hour * 5);
        let again = read(&market, "SPY", Timeframe::Minutes(5), Duration::ZERO..hour);
        assert_eq!(first, again);
        assert_eq!(
            first,
            read(&market, "SPY", Timeframe::Minutes(5), Duration::ZERO..hour)
        );
        // From 14:35 (273 s after the epoch) on, in two pieces.
        let split = Duration::from_secs(273 + 1_800);
        let mut pieces = read(
            &market,
            "SPY",
            Timeframe::Minutes(5),
            Duration::from_secs(273)..split,
        );
        pieces.extend(read(&market, "SPY", Timeframe::Minutes(5), split..hour));
        assert_eq!(pieces, first[1..]);
    }

    /// A flat listing's bars are flat at its price, 100 shares a trade.
    #[test]
    fn a_flat_symbols_bars_are_flat() {
        let bars = read(
            &market(),
            "QQQ",
            Timeframe::Minutes(15),
            Duration::ZERO..Duration::from_secs(3_600),
        );
        let price = Decimal::new(500, 0);
        assert_eq!(bars.len(), 5);
        for bar in bars {
            assert_eq!(
                (bar.o, bar.h, bar.l, bar.c, bar.vw),
                (price, price, price, price, price)
            );
            assert_eq!(bar.v, bar.n * 100);
        }
    }

    /// Day bars start at New York's midnight: 05:00 UTC in winter, 04:00
    /// in summer; minute and hour buckets align to the UTC hour and day.
    #[test]
    fn buckets_align_to_the_wall_clock() {
        let at = |text: &str| Timestamp::parse_rfc3339(text).expect("stamp").unix_micros;
        let show = |micros: i64| Timestamp::from_unix_micros(micros).to_string();
        assert_eq!(
            show(Timeframe::Day.bucket_start(at("2025-01-02T04:59:59Z"))),
            "2025-01-01T05:00:00.000000Z"
        );
        assert_eq!(
            show(Timeframe::Day.bucket_start(at("2025-07-02T14:30:00Z"))),
            "2025-07-02T04:00:00.000000Z"
        );
        assert_eq!(
            show(Timeframe::Day.next_bucket(at("2025-03-09T12:00:00Z"))),
            "2025-03-10T04:00:00.000000Z"
        );
        assert_eq!(
            show(Timeframe::Day.previous_bucket(at("2025-03-10T12:00:00Z"))),
            "2025-03-09T05:00:00.000000Z"
        );
        assert_eq!(
            show(Timeframe::Minutes(15).bucket_start(at("2025-01-02T14:44:59Z"))),
            "2025-01-02T14:30:00.000000Z"
        );
        assert_eq!(
            show(Timeframe::Minutes(7).next_bucket(at("2025-01-02T14:58:00Z"))),
            "2025-01-02T15:00:00.000000Z"
        );
        assert_eq!(
            show(Timeframe::Hours(4).bucket_start(at("2025-01-02T14:44:59Z"))),
            "2025-01-02T12:00:00.000000Z"
        );
        assert_eq!(
            show(Timeframe::Hours(1).previous_bucket(at("2025-01-02T00:10:00Z"))),
            "2025-01-01T23:00:00.000000Z"
        );
    }

    /// Alpaca's spellings read, and print back in the long form; others
    /// are refused naming what was sent.
    #[test]
    fn timeframes_read_alpacas_spellings() {
        for (text, shown) in [
            ("1Min", "1Min"),
            ("5T", "5Min"),
            ("15Min", "15Min"),
            ("1Hour", "1Hour"),
            ("4H", "4Hour"),
            ("1Day", "1Day"),
            ("1D", "1Day"),
        ] {
            assert_eq!(text.parse::<Timeframe>().expect(text).to_string(), shown);
        }
        for bad in [
            "", "Min", "0Min", "60Min", "24Hour", "2Day", "1Week", "1Month", "1min", "-1Min",
        ] {
            let error = bad.parse::<Timeframe>().expect_err(bad);
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("invalid timeframe \"{bad}\"")),
                "{error}"
            );
        }
    }

    /// A read stops at `limit` buckets and says where to resume; one that
    /// would walk more than MAX_BAR_STEPS steps is refused naming its
    /// range and timeframe; an unlisted symbol is refused naming it.
    #[test]
    fn reads_are_bounded() {
        let market = market();
        let hour = Duration::from_secs(3_600);
        let page = market
            .bars(
                "QQQ",
                Timeframe::Minutes(1),
                origin(),
                Duration::ZERO..hour,
                3,
            )
            .expect("bars");
        assert_eq!(page.bars.len(), 3);
        assert_eq!(page.resume, Some(Duration::from_secs(153)), "14:33:00");
        let rest = market
            .bars(
                "QQQ",
                Timeframe::Minutes(1),
                origin(),
                Duration::from_secs(153)..hour,
                MAX_BAR_LIMIT,
            )
            .expect("bars");
        assert_eq!((rest.bars.len(), rest.resume), (58, None));
        let long = Duration::from_secs(MAX_BAR_STEPS + 10);
        let refused = market
            .bars("QQQ", Timeframe::Day, origin(), Duration::ZERO..long, 100)
            .expect_err("too long");
        assert_eq!(refused.field, "start");
        assert!(
            refused
                .problem
                .contains("at timeframe 1Day reads 2000010 steps"),
            "{refused}"
        );
        let unknown = market
            .bars("ZZZZ", Timeframe::Day, origin(), Duration::ZERO..hour, 1)
            .expect_err("unlisted");
        assert_eq!(unknown.to_string(), "symbol: ZZZZ is not listed");
    }

    /// No trade prints in a halt; the last trade before an instant a halt
    /// holds is the one before the halt began.
    #[test]
    fn halts_print_nothing() {
        let halted = PathModel::new(Decimal::new(100, 0), 0.0, 0.0, Duration::from_secs(1))
            .expect("path")
            .with_halts(vec![(Duration::from_secs(10), Duration::from_secs(100))]);
        let mut listing = Listing::flat(Decimal::ONE);
        listing.path = halted;
        let mut listings = indexmap::IndexMap::new();
        listings.insert("H".to_owned(), listing);
        let market = Market::new(
            &MarketModel {
                listings,
                ..MarketModel::default()
            },
            1,
            Duration::from_secs(3_600),
            crate::time::TimeOrigin::default(),
        );
        let trades = market
            .trades("H", Duration::ZERO..Duration::from_secs(120), usize::MAX)
            .expect("listed");
        let steps: Vec<u64> = trades.iter().map(|t| t.step).collect();
        assert_eq!(steps.len(), 20, "{steps:?}");
        assert_eq!((steps[9], steps[10]), (9, 110));
        let last = market
            .last_trade("H", Duration::from_secs(50))
            .expect("before the halt");
        assert_eq!((last.step, last.at), (9, Duration::from_secs(9)));
        assert_eq!(
            market
                .last_trade("H", Duration::from_millis(110_500))
                .map(|t| t.step),
            Some(110)
        );
    }
}
