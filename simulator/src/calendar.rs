//! The regular US equity sessions (NYSE and Nasdaq), as Alpaca's
//! `GET /v2/calendar` answers them, bundled for 2024 to 2028.
//!
//! A trading day has a regular session 09:30–16:00 New York time (13:00 on
//! an early close), a pre-market from 04:00 and after-hours to 20:00 (17:00
//! on an early close, as Alpaca's `session_close` reads `"1700"` then).
//! Weekends and the exchanges' published holidays (with the 2025-01-09
//! national day of mourning) are closed. New York time becomes UTC by the US
//! daylight-saving rule in force since 2007: EDT (UTC−4) from the second
//! Sunday of March at 02:00 to the first Sunday of November at 02:00, EST
//! (UTC−5) otherwise. Instants are microseconds since the Unix epoch, as in
//! [`fillproof_engine::Timestamp`].
//!
//! Entry points: [`Calendar::us_equities`] and its questions
//! ([`Calendar::trading_day`], [`Calendar::session_at`],
//! [`Calendar::day_at`], [`Calendar::next_open`], [`Calendar::next_close`],
//! [`Calendar::days`], [`Calendar::settlement_date`]); [`Date`], a calendar date that reads (refusing
//! with [`ParseDateError`]) and writes `2025-01-02`; [`TradingDay`], one
//! day's instants and their Alpaca spellings; [`eastern_offset_seconds`],
//! New York's offset from UTC.
//!
//! Pure code: no I/O, no clock, nothing but tables and arithmetic, and
//! every question is answered in a bounded number of steps without
//! panicking on any input. Imports the engine's civil-date arithmetic
//! ([`days_from_civil`], [`civil_from_days`]) and `thiserror` (for
//! [`ParseDateError`]), nothing else of the crate.

use std::fmt;
use std::str::FromStr;

use fillproof_engine::{civil_from_days, days_from_civil};

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_HOUR: i64 = 3_600;
/// New York's offset from UTC in daylight-saving time (EDT).
const EDT_OFFSET_SECONDS: i64 = -4 * SECONDS_PER_HOUR;
/// New York's offset from UTC in standard time (EST).
const EST_OFFSET_SECONDS: i64 = -5 * SECONDS_PER_HOUR;

/// Minutes after New York midnight of each edge of a trading day.
const PRE_MARKET_OPEN: i64 = 4 * 60;
const REGULAR_OPEN: i64 = 9 * 60 + 30;
const REGULAR_CLOSE: i64 = 16 * 60;
const EARLY_CLOSE: i64 = 13 * 60;
const AFTER_HOURS_CLOSE: i64 = 20 * 60;
const EARLY_AFTER_HOURS_CLOSE: i64 = 17 * 60;

/// How many days ahead [`Calendar::next_open`] and [`Calendar::next_close`]
/// look: more than the longest run of closed days (a weekend with a holiday
/// on each side is four).
const LOOKAHEAD_DAYS: i64 = 10;

/// The first and last years whose days [`Calendar::us_equities`] knows.
const FIRST_YEAR: i32 = 2024;
const LAST_YEAR: i32 = 2028;

/// A date, proleptic Gregorian. Displayed, and parsed, as `2025-01-02`.
///
/// The fields are public, so a `Date` may be built that is no real date
/// (`2025-02-30`); [`Date::new`] and parsing refuse those, and every
/// question a [`Calendar`] answers treats one as no trading day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// The year (2025).
    pub year: i32,
    /// The month, 1 (January) to 12.
    pub month: u8,
    /// The day of the month, from 1.
    pub day: u8,
}

impl Date {
    /// The date `year-month-day`; `None` when it is no real date.
    #[must_use]
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        let date = Self { year, month, day };
        date.is_valid().then_some(date)
    }

    /// Whether this is a real date: month 1 to 12, day 1 to the month's
    /// length (29 February only in a leap year).
    #[must_use]
    pub fn is_valid(self) -> bool {
        let leap = self.year % 4 == 0 && (self.year % 100 != 0 || self.year % 400 == 0);
        let length = match self.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        (1..=length).contains(&self.day)
    }

    /// Days since 1970-01-01 (day 0) of a real date; for a date that is
    /// none, the day it would roll over to.
    #[must_use]
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        )
    }

    /// The date `days` days after 1970-01-01; `None` when its year does not
    /// fit an `i32`.
    #[must_use]
    pub fn from_days_since_epoch(days: i64) -> Option<Self> {
        // Past ±800 billion days the year overflows `i32` anyway; the bound
        // keeps the engine's arithmetic far from overflowing.
        if !(-800_000_000_000..=800_000_000_000).contains(&days) {
            return None;
        }
        let (year, month, day) = civil_from_days(days);
        Some(Self {
            year: i32::try_from(year).ok()?,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
        })
    }

    /// The New York calendar date at an instant (microseconds since the
    /// Unix epoch, UTC); defined for every `i64`.
    #[must_use]
    pub fn eastern(unix_micros: i64) -> Self {
        let local = eastern_seconds(unix_micros.div_euclid(MICROS_PER_SECOND));
        // Every `i64` of microseconds is within ±300,000 years of 1970.
        Self::from_days_since_epoch(local.div_euclid(SECONDS_PER_DAY)).unwrap_or(Self {
            year: 1970,
            month: 1,
            day: 1,
        })
    }

    /// The instant (microseconds since the Unix epoch) New York's day
    /// `self` begins: its midnight, at 05:00 UTC in standard time and 04:00
    /// in daylight-saving time (on either switch day, midnight is before
    /// the switch). `None` when it does not fit an `i64`.
    #[must_use]
    pub fn eastern_midnight(self) -> Option<i64> {
        eastern_to_utc_micros(self, 0)
    }

    /// Day of the week: 0 is Sunday, 6 is Saturday.
    fn weekday(self) -> i64 {
        // 1970-01-01 was a Thursday.
        (self.days_since_epoch() + 4).rem_euclid(7)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Why a text is no [`Date`]: it is not `YYYY-MM-DD`, or names no real day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a date written YYYY-MM-DD")]
pub struct ParseDateError {
    /// The text refused.
    pub text: String,
}

impl FromStr for Date {
    type Err = ParseDateError;

    /// Reads `2025-01-02`: four digits of year, two of month, two of day,
    /// naming a real date.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refused = || ParseDateError {
            text: text.to_owned(),
        };
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shaped {
            return Err(refused());
        }
        let year = text[0..4].parse().map_err(|_| refused())?;
        let month = text[5..7].parse().map_err(|_| refused())?;
        let day = text[8..10].parse().map_err(|_| refused())?;
        Self::new(year, month, day).ok_or_else(refused)
    }
}

/// Which part of the trading day an instant falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Session {
    /// No session: a weekend, a holiday, or the night.
    Closed,
    /// From 04:00 New York time to the regular open.
    PreMarket,
    /// The regular session, from 09:30 to the close (16:00, or 13:00 on an
    /// early close).
    Regular,
    /// From the regular close to 20:00 New York time (17:00 on an early
    /// close).
    AfterHours,
}

/// One trading day: its date and the instants (microseconds since the Unix
/// epoch, UTC) that bound its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TradingDay {
    /// The New York date of the day.
    pub date: Date,
    /// The regular open, 09:30 New York time.
    pub open: i64,
    /// The regular close, 16:00 New York time (13:00 on an early close).
    pub close: i64,
    /// The start of pre-market, 04:00 New York time.
    pub session_open: i64,
    /// The end of after-hours, 20:00 New York time (17:00 on an early
    /// close).
    pub session_close: i64,
    /// Whether the regular session closes early, at 13:00.
    pub early_close: bool,
}

impl TradingDay {
    /// The day of `date`, closing early or not; `None` when a time does
    /// not fit an `i64`.
    fn of(date: Date, early_close: bool) -> Option<Self> {
        let at = |minute| eastern_to_utc_micros(date, minute);
        let (close, session_close) = if early_close {
            (EARLY_CLOSE, EARLY_AFTER_HOURS_CLOSE)
        } else {
            (REGULAR_CLOSE, AFTER_HOURS_CLOSE)
        };
        Some(Self {
            date,
            open: at(REGULAR_OPEN)?,
            close: at(close)?,
            session_open: at(PRE_MARKET_OPEN)?,
            session_close: at(session_close)?,
            early_close,
        })
    }

    /// The session the instant falls in on this day: `Closed` before
    /// `session_open` and from `session_close` on.
    #[must_use]
    pub fn session_at(&self, unix_micros: i64) -> Session {
        if unix_micros < self.session_open || unix_micros >= self.session_close {
            Session::Closed
        } else if unix_micros < self.open {
            Session::PreMarket
        } else if unix_micros < self.close {
            Session::Regular
        } else {
            Session::AfterHours
        }
    }

    /// An instant's New York wall time as `"HH:MM"`.
    #[must_use]
    pub fn et_hhmm(unix_micros: i64) -> String {
        eastern_hhmm(unix_micros, ":")
    }

    /// The regular open as Alpaca's calendar writes it: `"09:30"`.
    #[must_use]
    pub fn open_et(&self) -> String {
        eastern_hhmm(self.open, ":")
    }

    /// The regular close as Alpaca's calendar writes it: `"16:00"`, or
    /// `"13:00"` on an early close.
    #[must_use]
    pub fn close_et(&self) -> String {
        eastern_hhmm(self.close, ":")
    }

    /// The start of pre-market as Alpaca's calendar writes its
    /// `session_open`: `"0400"`.
    #[must_use]
    pub fn session_open_et(&self) -> String {
        eastern_hhmm(self.session_open, "")
    }

    /// The end of after-hours as Alpaca's calendar writes its
    /// `session_close`: `"2000"`, or `"1700"` on an early close.
    #[must_use]
    pub fn session_close_et(&self) -> String {
        eastern_hhmm(self.session_close, "")
    }
}

/// New York's offset from UTC, in seconds, at an instant (microseconds
/// since the Unix epoch): −14,400 (EDT) or −18,000 (EST), by the US rule in
/// force since 2007, applied to every year. Defined for every `i64`.
#[must_use]
pub fn eastern_offset_seconds(unix_micros: i64) -> i64 {
    offset_at(unix_micros.div_euclid(MICROS_PER_SECOND))
}

/// [`eastern_offset_seconds`] of an instant in whole seconds.
fn offset_at(unix_seconds: i64) -> i64 {
    // The UTC year is New York's year at every daylight-saving switch.
    let Some(utc_date) = Date::from_days_since_epoch(unix_seconds.div_euclid(SECONDS_PER_DAY))
    else {
        return EST_OFFSET_SECONDS;
    };
    let year = i64::from(utc_date.year);
    // Second Sunday of March, 02:00 EST = 07:00 UTC; first Sunday of
    // November, 02:00 EDT = 06:00 UTC.
    let starts = nth_sunday(year, 3, 2) * SECONDS_PER_DAY + 7 * SECONDS_PER_HOUR;
    let ends = nth_sunday(year, 11, 1) * SECONDS_PER_DAY + 6 * SECONDS_PER_HOUR;
    if (starts..ends).contains(&unix_seconds) {
        EDT_OFFSET_SECONDS
    } else {
        EST_OFFSET_SECONDS
    }
}

/// The day (since 1970-01-01) of the `n`th Sunday of `month` in `year`.
fn nth_sunday(year: i64, month: i64, n: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    let weekday = (first + 4).rem_euclid(7);
    first + (7 - weekday) % 7 + 7 * (n - 1)
}

/// New York wall-clock seconds since the Unix epoch at an instant in UTC
/// seconds.
fn eastern_seconds(unix_seconds: i64) -> i64 {
    unix_seconds.saturating_add(offset_at(unix_seconds))
}

/// The instant (microseconds, UTC) of `minute` minutes after New York
/// midnight on `date`; `None` when it does not fit an `i64`. A wall time
/// the spring switch skips reads as the hour after; one the autumn switch
/// repeats reads as its first, daylight-saving, occurrence.
fn eastern_to_utc_micros(date: Date, minute: i64) -> Option<i64> {
    let local = date
        .days_since_epoch()
        .checked_mul(SECONDS_PER_DAY)?
        .checked_add(minute.checked_mul(60)?)?;
    let daylight = local.checked_sub(EDT_OFFSET_SECONDS)?;
    let utc = if offset_at(daylight) == EDT_OFFSET_SECONDS {
        daylight
    } else {
        local.checked_sub(EST_OFFSET_SECONDS)?
    };
    utc.checked_mul(MICROS_PER_SECOND)
}

/// The New York wall time of an instant as hours and minutes joined by
/// `separator`: `"09:30"` with `":"`, `"0400"` with `""`.
fn eastern_hhmm(unix_micros: i64, separator: &str) -> String {
    let local = eastern_seconds(unix_micros.div_euclid(MICROS_PER_SECOND));
    let minutes = local.rem_euclid(SECONDS_PER_DAY) / 60;
    format!("{:02}{separator}{:02}", minutes / 60, minutes % 60)
}

/// The sessions of the US equity market over a range of whole years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    first_year: i32,
    last_year: i32,
    /// Weekdays the market is closed, in date order.
    holidays: &'static [Date],
    /// Trading days whose regular session closes at 13:00, in date order.
    early_closes: &'static [Date],
}

impl Calendar {
    /// The bundled calendar: NYSE's published holidays and early closes
    /// for 2024 to 2028, with the 2025-01-09 national day of mourning.
    #[must_use]
    pub fn us_equities() -> Self {
        Self {
            first_year: FIRST_YEAR,
            last_year: LAST_YEAR,
            holidays: HOLIDAYS,
            early_closes: EARLY_CLOSES,
        }
    }

    /// The first year the calendar covers.
    #[must_use]
    pub fn first_year(&self) -> i32 {
        self.first_year
    }

    /// The last year the calendar covers.
    #[must_use]
    pub fn last_year(&self) -> i32 {
        self.last_year
    }

    /// The full-day closures on weekdays, in date order.
    #[must_use]
    pub fn holidays(&self) -> &[Date] {
        self.holidays
    }

    /// The trading days that close early, in date order.
    #[must_use]
    pub fn early_closes(&self) -> &[Date] {
        self.early_closes
    }

    /// Whether the instant's New York date falls in a covered year.
    #[must_use]
    pub fn covers(&self, unix_micros: i64) -> bool {
        self.covers_date(Date::eastern(unix_micros))
    }

    /// Whether `date` is a real date in a covered year.
    fn covers_date(&self, date: Date) -> bool {
        date.is_valid() && (self.first_year..=self.last_year).contains(&date.year)
    }

    /// The trading day on `date`; `None` on a weekend, a holiday, a date
    /// outside the covered years or no real date.
    #[must_use]
    pub fn trading_day(&self, date: Date) -> Option<TradingDay> {
        let weekday = self.covers_date(date).then(|| date.weekday())?;
        if weekday == 0 || weekday == 6 || self.holidays.binary_search(&date).is_ok() {
            return None;
        }
        TradingDay::of(date, self.early_closes.binary_search(&date).is_ok())
    }

    /// The session at an instant; `None` outside the covered years.
    #[must_use]
    pub fn session_at(&self, unix_micros: i64) -> Option<Session> {
        let date = Date::eastern(unix_micros);
        if !self.covers_date(date) {
            return None;
        }
        Some(
            self.trading_day(date)
                .map_or(Session::Closed, |day| day.session_at(unix_micros)),
        )
    }

    /// The trading day whose sessions, from `session_open` (inclusive) to
    /// `session_close` (exclusive), hold the instant; `None` when none does.
    #[must_use]
    pub fn day_at(&self, unix_micros: i64) -> Option<TradingDay> {
        self.trading_day(Date::eastern(unix_micros))
            .filter(|day| day.session_at(unix_micros) != Session::Closed)
    }

    /// The first regular open at or after the instant; `None` outside the
    /// covered years or when that open is past them.
    #[must_use]
    pub fn next_open(&self, unix_micros: i64) -> Option<i64> {
        self.first_day_from(unix_micros, |day| day.open >= unix_micros)
            .map(|day| day.open)
    }

    /// The first regular close strictly after the instant; `None` outside
    /// the covered years or when that close is past them.
    #[must_use]
    pub fn next_close(&self, unix_micros: i64) -> Option<i64> {
        self.first_day_from(unix_micros, |day| day.close > unix_micros)
            .map(|day| day.close)
    }

    /// The first trading day whose trading ends after the instant: its
    /// regular close, or with `extended` its after-hours end. `None`
    /// outside the covered years or when that day is past them.
    #[must_use]
    pub fn day_ending_after(&self, unix_micros: i64, extended: bool) -> Option<TradingDay> {
        self.first_day_from(unix_micros, |day| {
            let end = if extended {
                day.session_close
            } else {
                day.close
            };
            end > unix_micros
        })
    }

    /// The first trading day, from the instant's New York date on and
    /// within [`LOOKAHEAD_DAYS`], that `wanted` accepts.
    fn first_day_from(
        &self,
        unix_micros: i64,
        wanted: impl Fn(&TradingDay) -> bool,
    ) -> Option<TradingDay> {
        let start = Date::eastern(unix_micros);
        if !self.covers_date(start) {
            return None;
        }
        let first = start.days_since_epoch();
        (first..=first + LOOKAHEAD_DAYS)
            .filter_map(Date::from_days_since_epoch)
            .take_while(|date| self.covers_date(*date))
            .filter_map(|date| self.trading_day(date))
            .find(|day| wanted(day))
    }

    /// The trading days from `from` to `to`, both inclusive, within the
    /// covered years, in date order; none when either is no real date.
    pub fn days(&self, from: Date, to: Date) -> impl Iterator<Item = TradingDay> + '_ {
        let first = d(self.first_year, 1, 1);
        let last = d(self.last_year, 12, 31);
        let span = (from.is_valid() && to.is_valid())
            .then(|| from.max(first).days_since_epoch()..=to.min(last).days_since_epoch());
        span.into_iter()
            .flatten()
            .filter_map(Date::from_days_since_epoch)
            .filter_map(|date| self.trading_day(date))
    }

    /// The date a trade on the trading day `date` settles, as Alpaca's
    /// calendar gives its `settlement_date`: one settlement day on (T+1)
    /// from 2024-05-28, when the US moved to T+1, two (T+2) before. A
    /// settlement day is a weekday that is neither a market holiday nor a
    /// Federal Reserve holiday the market trades through (Columbus Day,
    /// Veterans Day: banks, and so settlement, are shut); past the covered
    /// years, a weekday that is not New Year's Day (observed). `None` when
    /// `date` is no trading day.
    #[must_use]
    pub fn settlement_date(&self, date: Date) -> Option<Date> {
        self.trading_day(date)?;
        let cycle = if date >= T_PLUS_ONE_FROM { 1 } else { 2 };
        let mut day = date.days_since_epoch();
        let mut counted = 0;
        // A run of closed days is at most four long (LOOKAHEAD_DAYS).
        for _ in 0..cycle * LOOKAHEAD_DAYS {
            day += 1;
            let next = Date::from_days_since_epoch(day)?;
            if self.settles_on(next) {
                counted += 1;
                if counted == cycle {
                    return Some(next);
                }
            }
        }
        None
    }

    /// Whether trades settle on `date` (see [`Calendar::settlement_date`]).
    fn settles_on(&self, date: Date) -> bool {
        let weekday = date.weekday();
        if weekday == 0 || weekday == 6 {
            return false;
        }
        if !self.covers_date(date) {
            let new_year = d(date.year, 1, 1);
            let observed = match new_year.weekday() {
                0 => d(date.year, 1, 2),
                _ => new_year,
            };
            return date != observed;
        }
        self.trading_day(date).is_some() && !bank_holiday(date)
    }
}

/// The first trade date settled T+1 (SEC rule 15c6-1 as amended).
const T_PLUS_ONE_FROM: Date = d(2024, 5, 28);

/// Whether `date` is a Federal Reserve holiday on which the market trades:
/// Columbus Day (the second Monday of October) or Veterans Day (11
/// November, the Monday after when it falls on a Sunday; not moved from a
/// Saturday).
fn bank_holiday(date: Date) -> bool {
    let year = i64::from(date.year);
    let first_of_october = days_from_civil(year, 10, 1);
    // Days to the first Monday (weekday 1; 1970-01-01 was a Thursday).
    let to_monday = (1 - (first_of_october + 4)).rem_euclid(7);
    let columbus = first_of_october + to_monday + 7;
    let veterans = days_from_civil(year, 11, 11);
    let veterans = if (veterans + 4).rem_euclid(7) == 0 {
        veterans + 1
    } else {
        veterans
    };
    let day = date.days_since_epoch();
    day == columbus || day == veterans
}

/// A date from its parts, unchecked: for the tables below, which hold only
/// real dates, and the first and last days of the covered years.
const fn d(year: i32, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

/// The weekdays NYSE and Nasdaq are closed all day, 2024 to 2028, in date
/// order. New Year's Day 2028 falls on a Saturday and is not observed, so
/// Friday 2027-12-31 trades.
static HOLIDAYS: &[Date] = &[
    // 2024
    d(2024, 1, 1),   // New Year's Day
    d(2024, 1, 15),  // Martin Luther King, Jr. Day
    d(2024, 2, 19),  // Washington's Birthday
    d(2024, 3, 29),  // Good Friday
    d(2024, 5, 27),  // Memorial Day
    d(2024, 6, 19),  // Juneteenth
    d(2024, 7, 4),   // Independence Day
    d(2024, 9, 2),   // Labor Day
    d(2024, 11, 28), // Thanksgiving Day
    d(2024, 12, 25), // Christmas Day
    // 2025
    d(2025, 1, 1),   // New Year's Day
    d(2025, 1, 9),   // National Day of Mourning for President Carter
    d(2025, 1, 20),  // Martin Luther King, Jr. Day
    d(2025, 2, 17),  // Washington's Birthday
    d(2025, 4, 18),  // Good Friday
    d(2025, 5, 26),  // Memorial Day
    d(2025, 6, 19),  // Juneteenth
    d(2025, 7, 4),   // Independence Day
    d(2025, 9, 1),   // Labor Day
    d(2025, 11, 27), // Thanksgiving Day
    d(2025, 12, 25), // Christmas Day
    // 2026
    d(2026, 1, 1),   // New Year's Day
    d(2026, 1, 19),  // Martin Luther King, Jr. Day
    d(2026, 2, 16),  // Washington's Birthday
    d(2026, 4, 3),   // Good Friday
    d(2026, 5, 25),  // Memorial Day
    d(2026, 6, 19),  // Juneteenth
    d(2026, 7, 3),   // Independence Day (Saturday), observed Friday
    d(2026, 9, 7),   // Labor Day
    d(2026, 11, 26), // Thanksgiving Day
    d(2026, 12, 25), // Christmas Day
    // 2027
    d(2027, 1, 1),   // New Year's Day
    d(2027, 1, 18),  // Martin Luther King, Jr. Day
    d(2027, 2, 15),  // Washington's Birthday
    d(2027, 3, 26),  // Good Friday
    d(2027, 5, 31),  // Memorial Day
    d(2027, 6, 18),  // Juneteenth (Saturday), observed Friday
    d(2027, 7, 5),   // Independence Day (Sunday), observed Monday
    d(2027, 9, 6),   // Labor Day
    d(2027, 11, 25), // Thanksgiving Day
    d(2027, 12, 24), // Christmas Day (Saturday), observed Friday
    // 2028
    d(2028, 1, 17),  // Martin Luther King, Jr. Day
    d(2028, 2, 21),  // Washington's Birthday
    d(2028, 4, 14),  // Good Friday
    d(2028, 5, 29),  // Memorial Day
    d(2028, 6, 19),  // Juneteenth
    d(2028, 7, 4),   // Independence Day
    d(2028, 9, 4),   // Labor Day
    d(2028, 11, 23), // Thanksgiving Day
    d(2028, 12, 25), // Christmas Day
];

/// The trading days whose regular session closes at 13:00, 2024 to 2028,
/// in date order: the day before Independence Day, the day after
/// Thanksgiving and Christmas Eve, each when a weekday trading day.
static EARLY_CLOSES: &[Date] = &[
    d(2024, 7, 3),
    d(2024, 11, 29),
    d(2024, 12, 24),
    d(2025, 7, 3),
    d(2025, 11, 28),
    d(2025, 12, 24),
    d(2026, 11, 27),
    d(2026, 12, 24),
    d(2027, 11, 26),
    d(2028, 7, 3),
    d(2028, 11, 24),
];

#[cfg(test)]
mod tests {
    use fillproof_engine::Timestamp;

    use super::*;
    use crate::DEFAULT_EPOCH_UNIX_MICROS;

    /// Microseconds of an RFC 3339 time.
    fn utc(text: &str) -> i64 {
        Timestamp::parse_rfc3339(text).unwrap().unix_micros
    }

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    fn day(text: &str) -> TradingDay {
        Calendar::us_equities()
            .trading_day(date(text))
            .unwrap_or_else(|| panic!("{text} trades"))
    }

    /// The simulator's default epoch, 2025-01-02 14:30:00Z, is that day's regular open.
    #[test]
    fn the_default_epoch_is_a_regular_open() {
        let calendar = Calendar::us_equities();
        let first = day("2025-01-02");
        assert_eq!(first.open, DEFAULT_EPOCH_UNIX_MICROS);
        assert_eq!(first.open, utc("2025-01-02T14:30:00Z"));
        assert_eq!(
            calendar.session_at(DEFAULT_EPOCH_UNIX_MICROS),
            Some(Session::Regular)
        );
        assert_eq!(
            calendar.next_open(DEFAULT_EPOCH_UNIX_MICROS),
            Some(DEFAULT_EPOCH_UNIX_MICROS)
        );
        assert_eq!(calendar.day_at(DEFAULT_EPOCH_UNIX_MICROS), Some(first));
    }

    /// The open is 14:30Z in winter and 13:30Z in summer, switching on the right days.
    #[test]
    fn opens_follow_daylight_saving() {
        assert_eq!(day("2025-01-06").open, utc("2025-01-06T14:30:00Z"));
        assert_eq!(day("2025-07-07").open, utc("2025-07-07T13:30:00Z"));
        assert_eq!(day("2025-03-07").open, utc("2025-03-07T14:30:00Z"));
        assert_eq!(day("2025-03-10").open, utc("2025-03-10T13:30:00Z"));
        assert_eq!(day("2025-10-31").open, utc("2025-10-31T13:30:00Z"));
        assert_eq!(day("2025-11-03").open, utc("2025-11-03T14:30:00Z"));
        // Each covered year's switch days: the second Sunday of March at
        // 07:00Z and the first Sunday of November at 06:00Z.
        for (march, november) in [
            ("2024-03-10", "2024-11-03"),
            ("2025-03-09", "2025-11-02"),
            ("2026-03-08", "2026-11-01"),
            ("2027-03-14", "2027-11-07"),
            ("2028-03-12", "2028-11-05"),
        ] {
            let spring = utc(&format!("{march}T07:00:00Z"));
            let autumn = utc(&format!("{november}T06:00:00Z"));
            assert_eq!(eastern_offset_seconds(spring - 1), -5 * 3_600, "{march}");
            assert_eq!(eastern_offset_seconds(spring), -4 * 3_600, "{march}");
            assert_eq!(eastern_offset_seconds(autumn - 1), -4 * 3_600, "{november}");
            assert_eq!(eastern_offset_seconds(autumn), -5 * 3_600, "{november}");
        }
        // Wall times on the switch days themselves: 01:00 and 04:00 local.
        let at = |text: &str, minute| eastern_to_utc_micros(date(text), minute);
        assert_eq!(at("2025-03-09", 60), Some(utc("2025-03-09T06:00:00Z")));
        assert_eq!(at("2025-03-09", 240), Some(utc("2025-03-09T08:00:00Z")));
        assert_eq!(at("2025-11-02", 60), Some(utc("2025-11-02T05:00:00Z")));
        assert_eq!(at("2025-11-02", 240), Some(utc("2025-11-02T09:00:00Z")));
        // The skipped hour reads as the hour after; the switch days are
        // Sundays, so closed.
        assert_eq!(at("2025-03-09", 150), Some(utc("2025-03-09T07:30:00Z")));
        let calendar = Calendar::us_equities();
        assert_eq!(calendar.trading_day(date("2025-03-09")), None);
        assert_eq!(calendar.trading_day(date("2025-11-02")), None);
    }

    /// Weekends and each kind of holiday are closed, and the days around them trade.
    #[test]
    fn weekends_and_holidays_are_closed() {
        let calendar = Calendar::us_equities();
        let closed = [
            "2025-01-04", // Saturday
            "2025-01-05", // Sunday
            "2025-04-18", // Good Friday
            "2025-11-27", // Thanksgiving Day
            "2026-07-03", // Independence Day on a Saturday, observed Friday
            "2027-07-05", // Independence Day on a Sunday, observed Monday
            "2027-12-24", // Christmas Day on a Saturday, observed Friday
            "2025-01-09", // National Day of Mourning
        ];
        for text in closed {
            assert_eq!(calendar.trading_day(date(text)), None, "{text}");
            let noon = utc(&format!("{text}T17:00:00Z"));
            assert_eq!(calendar.session_at(noon), Some(Session::Closed), "{text}");
            assert_eq!(calendar.day_at(noon), None, "{text}");
        }
        // New Year's Day 2028 falls on a Saturday and is not observed.
        for text in [
            "2025-01-08",
            "2025-01-10",
            "2026-07-02",
            "2027-07-06",
            "2027-12-31",
        ] {
            assert!(!day(text).early_close, "{text}");
        }
    }

    /// Early closes end the regular session at 13:00 ET and after-hours at 17:00 ET.
    #[test]
    fn early_closes_end_at_one() {
        for (text, close) in [
            ("2025-11-28", "2025-11-28T18:00:00Z"),
            ("2025-12-24", "2025-12-24T18:00:00Z"),
            ("2025-07-03", "2025-07-03T17:00:00Z"),
        ] {
            let early = day(text);
            assert!(early.early_close, "{text}");
            assert_eq!(early.close, utc(close), "{text}");
            assert_eq!(early.session_close - early.close, 4 * 3_600_000_000);
            let shown = [early.open_et(), early.close_et()];
            assert_eq!(shown, ["09:30", "13:00"], "{text}");
            let session = [early.session_open_et(), early.session_close_et()];
            assert_eq!(session, ["0400", "1700"], "{text}");
        }
        let regular = day("2025-11-26");
        assert!(!regular.early_close);
        assert_eq!(regular.close, utc("2025-11-26T21:00:00Z"));
        let shown = [regular.open_et(), regular.close_et()];
        assert_eq!(shown, ["09:30", "16:00"]);
        let session = [regular.session_open_et(), regular.session_close_et()];
        assert_eq!(session, ["0400", "2000"]);
        // 2026 and 2027 have no early close before Independence Day: it is
        // observed on the Friday before, or the day before is a Saturday.
        assert!(!day("2026-07-02").early_close);
        assert!(!day("2027-07-02").early_close);
    }

    /// Each session holds its own first instant and ends just before the next one's.
    #[test]
    fn session_at_each_session_and_edge() {
        let calendar = Calendar::us_equities();
        let at = |text| calendar.session_at(utc(text));
        assert_eq!(at("2025-01-02T08:59:59.999999Z"), Some(Session::Closed));
        assert_eq!(at("2025-01-02T09:00:00Z"), Some(Session::PreMarket));
        assert_eq!(at("2025-01-02T14:29:59.999999Z"), Some(Session::PreMarket));
        assert_eq!(at("2025-01-02T14:30:00Z"), Some(Session::Regular));
        assert_eq!(at("2025-01-02T20:59:59.999999Z"), Some(Session::Regular));
        assert_eq!(at("2025-01-02T21:00:00Z"), Some(Session::AfterHours));
        assert_eq!(at("2025-01-03T00:59:59.999999Z"), Some(Session::AfterHours));
        assert_eq!(at("2025-01-03T01:00:00Z"), Some(Session::Closed));
        // Summer, and an early close's after-hours ending at 17:00 ET.
        assert_eq!(at("2025-07-07T13:30:00Z"), Some(Session::Regular));
        assert_eq!(at("2025-07-08T00:00:00Z"), Some(Session::Closed));
        assert_eq!(at("2025-11-28T18:00:00Z"), Some(Session::AfterHours));
        assert_eq!(at("2025-11-28T22:00:00Z"), Some(Session::Closed));
        // `day_at` holds the same edges.
        let first = day("2025-01-02");
        assert_eq!(calendar.day_at(first.session_open), Some(first));
        assert_eq!(calendar.day_at(first.session_close - 1), Some(first));
        assert_eq!(calendar.day_at(first.session_open - 1), None);
        assert_eq!(calendar.day_at(first.session_close), None);
    }

    /// `next_open` and `next_close` step over closed days and stop at coverage's end.
    #[test]
    fn next_open_and_close_skip_closed_days() {
        let calendar = Calendar::us_equities();
        let open = |text| calendar.next_open(utc(text));
        let close = |text| calendar.next_close(utc(text));
        // A weekend: Friday's close to Monday's open.
        assert_eq!(
            open("2025-01-03T21:00:00Z"),
            Some(utc("2025-01-06T14:30:00Z"))
        );
        // A holiday: Wednesday to Friday over 2025-01-09.
        assert_eq!(
            open("2025-01-08T21:00:00Z"),
            Some(utc("2025-01-10T14:30:00Z"))
        );
        // Good Friday and the weekend: Thursday to Monday.
        assert_eq!(
            open("2025-04-17T20:00:00Z"),
            Some(utc("2025-04-21T13:30:00Z"))
        );
        // At an open, that open; just after it, the next day's.
        assert_eq!(
            open("2025-01-06T14:30:00Z"),
            Some(utc("2025-01-06T14:30:00Z"))
        );
        assert_eq!(
            open("2025-01-06T14:30:00.000001Z"),
            Some(utc("2025-01-07T14:30:00Z"))
        );
        // next_close is strictly after: at a close, the next day's close.
        assert_eq!(
            close("2025-01-06T10:00:00Z"),
            Some(utc("2025-01-06T21:00:00Z"))
        );
        assert_eq!(
            close("2025-01-06T21:00:00Z"),
            Some(utc("2025-01-07T21:00:00Z"))
        );
        assert_eq!(
            close("2025-11-26T21:00:00Z"),
            Some(utc("2025-11-28T18:00:00Z"))
        );
        // Outside coverage, and past its last open or close.
        assert_eq!(open("2023-12-29T21:00:00Z"), None);
        assert_eq!(close("2029-01-02T15:00:00Z"), None);
        assert_eq!(
            close("2028-12-29T15:00:00Z"),
            Some(utc("2028-12-29T21:00:00Z"))
        );
        assert_eq!(open("2028-12-29T15:00:00Z"), None);
        assert_eq!(close("2028-12-29T21:00:00Z"), None);
    }

    /// `days` counts each year's trading days: 2025 has 250, with 2025-01-09 closed.
    #[test]
    fn trading_days_per_year() {
        let calendar = Calendar::us_equities();
        let count = |from, to| calendar.days(date(from), date(to)).count();
        assert_eq!(count("2024-01-01", "2024-12-31"), 252);
        assert_eq!(count("2025-01-01", "2025-12-31"), 250);
        assert_eq!(count("2026-01-01", "2026-12-31"), 251);
        assert_eq!(count("2027-01-01", "2027-12-31"), 251);
        assert_eq!(count("2028-01-01", "2028-12-31"), 251);
        // Bounded by coverage, inclusive at both ends, empty when reversed.
        assert_eq!(count("1900-01-01", "2100-12-31"), 1_255);
        assert_eq!(count("2025-01-06", "2025-01-10"), 4);
        assert_eq!(count("2025-01-10", "2025-01-06"), 0);
        let week: Vec<String> = calendar
            .days(date("2025-01-06"), date("2025-01-10"))
            .map(|d| d.date.to_string())
            .collect();
        assert_eq!(
            week,
            ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10"]
        );
        let invalid = Date {
            year: 2025,
            month: 2,
            day: 30,
        };
        assert_eq!(calendar.days(invalid, date("2025-12-31")).count(), 0);
    }

    /// No `i64` instant or `i32` year panics; outside coverage every answer is `None`.
    #[test]
    fn extreme_inputs_answer_none() {
        let calendar = Calendar::us_equities();
        for t in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            assert!(!calendar.covers(t), "{t}");
            assert_eq!(calendar.session_at(t), None, "{t}");
            assert_eq!(calendar.day_at(t), None, "{t}");
            assert_eq!(calendar.next_open(t), None, "{t}");
            assert_eq!(calendar.next_close(t), None, "{t}");
            let offset = eastern_offset_seconds(t);
            assert!(offset == -4 * 3_600 || offset == -5 * 3_600, "{t}");
            let _ = Date::eastern(t).to_string();
            let odd = TradingDay {
                date: Date::eastern(t),
                open: t,
                close: t,
                session_open: t,
                session_close: t,
                early_close: false,
            };
            let _ = (odd.open_et(), odd.session_close_et(), odd.session_at(t));
        }
        for year in [i32::MIN, -1, 0, 2023, 2029, i32::MAX] {
            let edge = Date {
                year,
                month: 12,
                day: 31,
            };
            assert_eq!(calendar.trading_day(edge), None, "{year}");
            let _ = edge.days_since_epoch();
        }
        let (first, last) = (
            Date {
                year: i32::MIN,
                month: 1,
                day: 1,
            },
            Date {
                year: i32::MAX,
                month: 12,
                day: 31,
            },
        );
        assert_eq!(calendar.days(first, last).count(), 1_255);
        let nonsense = Date {
            year: 2025,
            month: u8::MAX,
            day: u8::MAX,
        };
        assert_eq!(calendar.trading_day(nonsense), None);
        assert_eq!(Date::from_days_since_epoch(i64::MAX), None);
        assert_eq!(Date::from_days_since_epoch(i64::MIN), None);
    }

    /// Dates read and write YYYY-MM-DD, refuse anything else, and turn at New York midnight.
    #[test]
    fn dates_read_and_write_iso() {
        assert_eq!(date("2025-01-02"), Date::new(2025, 1, 2).unwrap());
        assert_eq!(Date::new(2025, 1, 2).unwrap().to_string(), "2025-01-02");
        assert_eq!(date("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "",
            "2025-1-02",
            "20250102",
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-04-31",
            "+025-01-02",
            "2025-01-02T00:00:00Z",
            " 2025-01-02",
        ] {
            let refused = bad.parse::<Date>().unwrap_err();
            assert_eq!(refused.text, bad);
        }
        assert_eq!(Date::from_days_since_epoch(0), Date::new(1970, 1, 1));
        assert_eq!(date("2025-01-02").days_since_epoch(), 20_090);
        assert_eq!(
            Date::eastern(utc("2025-01-03T04:59:59Z")),
            date("2025-01-02")
        );
        assert_eq!(
            Date::eastern(utc("2025-01-03T05:00:00Z")),
            date("2025-01-03")
        );
        assert_eq!(
            Date::eastern(utc("2025-07-04T03:59:59Z")),
            date("2025-07-03")
        );
        assert_eq!(
            Date::eastern(utc("2025-07-04T04:00:00Z")),
            date("2025-07-04")
        );
    }

    /// Settlement dates: T+2 before 2024-05-28 and T+1 from it, skipping
    /// weekends, market holidays and the bank holidays the market trades
    /// through; none for a day that does not trade.
    #[test]
    fn settlement_follows_the_cycle_and_bank_holidays() {
        let calendar = Calendar::us_equities();
        let settles = |text: &str| calendar.settlement_date(date(text)).map(|d| d.to_string());
        for (trade, settle) in [
            // T+2 before 2024-05-28: Thursday to Monday.
            ("2024-05-23", "2024-05-28"),
            // 2024-05-24 (Friday) settles T+2 past Memorial Day.
            ("2024-05-24", "2024-05-29"),
            // T+1 from 2024-05-28.
            ("2024-05-28", "2024-05-29"),
            ("2025-01-03", "2025-01-06"),
            // Over the 2025-01-09 closure.
            ("2025-01-08", "2025-01-10"),
            // Columbus Day (2025-10-13) and Veterans Day (2025-11-11): the
            // market trades, nothing settles.
            ("2025-10-10", "2025-10-14"),
            ("2025-10-13", "2025-10-14"),
            ("2025-11-10", "2025-11-12"),
            // 2024's Columbus Day is 2024-10-14, Veterans Day 2024-11-11.
            ("2024-10-11", "2024-10-15"),
            ("2024-11-08", "2024-11-12"),
            // Good Friday (2025-04-18) is shut.
            ("2025-04-17", "2025-04-21"),
            // Past the covered years: 2029-01-01 is New Year's Day.
            ("2028-12-29", "2029-01-02"),
        ] {
            assert_eq!(settles(trade).as_deref(), Some(settle), "{trade}");
        }
        assert_eq!(settles("2025-01-04"), None, "a Saturday is no trading day");
        assert_eq!(settles("2023-12-29"), None, "before the covered years");
    }

    /// The tables hold sorted weekdays of covered years; each early close is a trading day.
    #[test]
    fn tables_hold_weekdays_in_order() {
        let calendar = Calendar::us_equities();
        for table in [calendar.holidays(), calendar.early_closes()] {
            assert!(table.windows(2).all(|pair| pair[0] < pair[1]));
            for entry in table {
                assert!(calendar.covers_date(*entry), "{entry}");
                assert!((1..=5).contains(&entry.weekday()), "{entry}");
            }
        }
        for early in calendar.early_closes() {
            assert!(calendar.trading_day(*early).unwrap().early_close, "{early}");
        }
        let per_year = |year| {
            let holidays = calendar.holidays().iter().filter(|d| d.year == year);
            let early = calendar.early_closes().iter().filter(|d| d.year == year);
            (holidays.count(), early.count())
        };
        let counts: Vec<_> = (2024..=2028).map(per_year).collect();
        assert_eq!(counts, [(10, 3), (11, 3), (10, 2), (10, 1), (9, 2)]);
    }
}
