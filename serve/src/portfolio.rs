//! The account's value over time: `GET /v2/account` (its figures now and
//! at the previous close) and `GET /v2/account/portfolio/history`, both
//! from the ledger's fills up to the instant the call landed and the
//! market's price path, never the future.
//!
//! A [`Book`] is the ledger read once: the opening balance and every fill
//! done by the landing instant, in time order. Equity at an instant is
//! cash (the opening balance less buys, plus sales, filled by then) plus
//! each position marked at the market's price then. Before the session's
//! time origin the account holds its opening balance and nothing else.
//!
//! Portfolio history reads alpaca-py's `GetPortfolioHistoryRequest`:
//! `period` (a number and `D`, `W`, `M` or `A`; default `1M`),
//! `timeframe` (`1Min`, `5Min`, `15Min`, `1H`, `1D`; default `1Min`
//! under 7 days, `15Min` under 30, else `1D`), `date_end`, `start`, `end`,
//! `extended_hours`, `intraday_reporting` (`market_hours`,
//! `extended_hours`, `continuous`), `pnl_reset` (`per_day`, `no_reset`),
//! `cashflow_types`. Each point is labelled with its window's start (Unix
//! seconds) and valued at the window's end, or at the landing instant for
//! the window still running. Intraday points fall in the regular session
//! (both extended sessions with `extended_hours=true` or
//! `intraday_reporting=extended_hours`, all hours with `continuous`) on a
//! market that keeps the calendar's hours; daily points are the trading
//! days, each labelled with its New York midnight and valued at its close.
//! A bad parameter is 422 naming it; one history holds at most
//! [`MAX_HISTORY_POINTS`] points.
//!
//! Entry points: [`Session::account`], [`Session::portfolio_history`].
//! Imports `api`'s query reading, `session` and `wire`.

use std::time::Duration;

use fillproof_engine::{Side, Timestamp};
use fillproof_simulator::{Calendar, Date};
use indexmap::IndexMap;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use crate::api::query_param;
use crate::session::Session;
use crate::wire::{self, Reply, code};

/// The most points one portfolio history answers: a finer timeframe over
/// a longer period is refused, naming `timeframe`.
pub const MAX_HISTORY_POINTS: usize = 20_000;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// One fill done by the book's instant.
struct BookFill {
    at: Duration,
    symbol: String,
    signed_qty: Decimal,
    price: Decimal,
}

/// The ledger read once, up to an instant: what valuing the account at
/// any earlier instant needs.
pub(crate) struct Book {
    opening: Decimal,
    fills: Vec<BookFill>,
}

/// Cash and positions as a sweep along the book reaches an instant.
struct Holdings<'a> {
    book: &'a Book,
    next: usize,
    cash: Decimal,
    positions: IndexMap<String, Decimal>,
}

impl<'a> Holdings<'a> {
    fn new(book: &'a Book) -> Self {
        Self {
            book,
            next: 0,
            cash: book.opening,
            positions: IndexMap::new(),
        }
    }

    /// Applies every fill done by `t` (instants only move forward).
    fn advance_to(&mut self, t: Duration) {
        while let Some(fill) = self.book.fills.get(self.next).filter(|f| f.at <= t) {
            self.cash -= fill.signed_qty * fill.price;
            *self.positions.entry(fill.symbol.clone()).or_default() += fill.signed_qty;
            self.next += 1;
        }
    }
}

impl Session {
    /// The opening balance: the scenario's, or the paper account's that
    /// `Session::starting_at` puts in the model.
    fn opening_balance(&self) -> Decimal {
        self.broker
            .model()
            .buying_power
            .unwrap_or_else(|| Decimal::from(crate::session::DEFAULT_BUYING_POWER))
    }

    /// The ledger's fills done by `now`, in time order.
    pub(crate) fn book(&self, now: Duration) -> Book {
        let mut fills: Vec<BookFill> = self.broker.with_ledger(|ledger| {
            ledger
                .orders()
                .iter()
                .flat_map(|o| {
                    let sign = if o.side == Side::Buy {
                        Decimal::ONE
                    } else {
                        Decimal::NEGATIVE_ONE
                    };
                    o.fills_by(now).map(move |f| BookFill {
                        at: f.at,
                        symbol: o.symbol.clone(),
                        signed_qty: sign * f.qty,
                        price: f.price,
                    })
                })
                .collect()
        });
        fills.sort_by_key(|f| f.at);
        Book {
            opening: self.opening_balance(),
            fills,
        }
    }

    /// Longs and shorts (zero or negative) marked at `t`'s prices.
    fn marked(&self, positions: &IndexMap<String, Decimal>, t: Duration) -> (Decimal, Decimal) {
        let market = self.broker.market();
        positions
            .iter()
            .filter(|(_, qty)| !qty.is_zero())
            .map(|(symbol, qty)| *qty * market.price_at(symbol, t).unwrap_or(Decimal::ONE))
            .fold((Decimal::ZERO, Decimal::ZERO), |(long, short), value| {
                if value > Decimal::ZERO {
                    (long + value, short)
                } else {
                    (long, short + value)
                }
            })
    }

    /// The virtual time of the wall-clock instant `unix_micros`; `None`
    /// before the session's origin.
    fn elapsed_at(&self, unix_micros: i64) -> Option<Duration> {
        self.broker
            .model()
            .time_origin()
            .elapsed_of(Timestamp::from_unix_micros(unix_micros))
    }

    /// Equity and gross position value at the wall-clock instant
    /// `unix_micros`, swept forward by `holdings`.
    fn value_at(&self, holdings: &mut Holdings<'_>, unix_micros: i64) -> (Decimal, Decimal) {
        let Some(t) = self.elapsed_at(unix_micros) else {
            return (holdings.book.opening, Decimal::ZERO);
        };
        holdings.advance_to(t);
        let (long, short) = self.marked(&holdings.positions, t);
        (holdings.cash + long + short, long - short)
    }

    /// The calendar the market keeps, when it keeps regular hours.
    fn market_calendar(&self) -> Option<Calendar> {
        self.broker
            .market()
            .sessions()
            .map(|s| s.calendar().clone())
    }

    /// The last close at or before `unix_micros`: the calendar's, or
    /// 20:00 UTC of the day before for a market open at any hour.
    fn previous_close(&self, unix_micros: i64) -> i64 {
        let today = Date::eastern(unix_micros);
        let fallback =
            (unix_micros.div_euclid(MICROS_PER_DAY) - 1) * MICROS_PER_DAY + 72_000_000_000;
        let Some(calendar) = self.market_calendar() else {
            return fallback;
        };
        let from = Date::from_days_since_epoch(today.days_since_epoch() - 14).unwrap_or(today);
        calendar
            .days(from, today)
            .filter(|day| day.close <= unix_micros)
            .last()
            .map_or(fallback, |day| day.close)
    }

    /// `GET /v2/account` at `now`.
    pub(crate) fn account(&self, now: Duration) -> Reply {
        let market = self.broker.market();
        let opening = self.opening_balance();
        let buying_power = self.broker.with_ledger(|ledger| {
            ledger.buying_power_at(opening, now, |o| {
                market.commit_price(&o.symbol, o.limit_price, now)
            })
        });
        let book = self.book(now);
        let now_micros = self.stamp(now).unix_micros;
        let mut holdings = Holdings::new(&book);
        let last_close = self.previous_close(now_micros);
        let (last_equity, last_gross) = self.value_at(&mut holdings, last_close);
        holdings.advance_to(now);
        let (long, short) = self.marked(&holdings.positions, now);
        let configs = self.state().surface.configs.clone();
        let account = wire::Account {
            buying_power,
            cash: holdings.cash,
            long_market_value: long,
            short_market_value: short,
            last_equity,
            last_maintenance_margin: last_gross * wire::MAINTENANCE_MARGIN_RATE,
            balance_asof: Date::eastern(last_close),
            trade_suspended_by_user: configs.suspend_trade,
            shorting_enabled: !configs.no_shorting,
        };
        Reply::json(200, wire::account_json(&self.account_id(), &account))
    }

    /// `GET /v2/account/portfolio/history` at `now`.
    pub(crate) fn portfolio_history(&self, query: &str, now: Duration) -> Reply {
        let now_micros = self.stamp(now).unix_micros;
        let request = match HistoryRequest::read(query, now_micros) {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let calendar = self.market_calendar();
        let windows = match request.windows(calendar.as_ref(), now_micros) {
            Ok(windows) => windows,
            Err(refusal) => return refusal,
        };
        let book = self.book(now);
        let mut holdings = Holdings::new(&book);
        let (first_base, _) = self.value_at(&mut holdings, request.start);
        let mut base = first_base;
        let mut base_day = Date::eastern(request.start);
        let (mut stamps, mut equity, mut pl, mut pl_pct) = (vec![], vec![], vec![], vec![]);
        for (label, valued_at) in windows {
            let day = Date::eastern(label);
            if request.reset_daily && day != base_day {
                base = self.value_at(&mut holdings, label).0;
                base_day = day;
            }
            let (value, _) = self.value_at(&mut holdings, valued_at);
            stamps.push(label.div_euclid(1_000_000));
            equity.push(float(value));
            pl.push(float(value - base));
            pl_pct.push(if base.is_zero() {
                Value::Null
            } else {
                float((value - base) / base)
            });
        }
        Reply::json(
            200,
            json!({
                "timestamp": stamps,
                "equity": equity,
                "profit_loss": pl,
                "profit_loss_pct": pl_pct,
                "base_value": float(first_base),
                "base_value_asof": Date::eastern(request.start).to_string(),
                "timeframe": request.timeframe_name,
                "cashflow": {},
            }),
        )
    }
}

/// A dollar figure as portfolio history sends it: a JSON number, to the
/// cent (a ratio to 6 places).
fn float(value: Decimal) -> Value {
    let places = if value.abs() < Decimal::ONE { 6 } else { 2 };
    value
        .round_dp(places)
        .to_f64()
        .map_or(Value::Null, Value::from)
}

/// Where intraday points may fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hours {
    Regular,
    Extended,
    Continuous,
}

/// A portfolio history request, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HistoryRequest {
    /// The first window's earliest start, Unix microseconds.
    start: i64,
    /// No window starts at or after this, Unix microseconds.
    end: i64,
    /// The window's length; `None` for daily windows.
    step_micros: Option<i64>,
    timeframe_name: &'static str,
    hours: Hours,
    reset_daily: bool,
}

/// A 422 naming the parameter `name`.
fn refuse(name: &str, text: &str, expected: &str) -> Reply {
    Reply::error(
        422,
        code::UNPROCESSABLE,
        &format!("invalid {name} \"{text}\": use {expected}"),
    )
}

/// `period`'s length in days (`7D`, `2W`, `3M`, `1A`).
fn period_days(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (count, unit) = text.split_at(split);
    let count: i64 = count.parse().ok().filter(|n| (1..=100).contains(n))?;
    let days = match unit.to_ascii_uppercase().as_str() {
        "D" => 1,
        "W" => 7,
        "M" => 30,
        "A" | "Y" => 365,
        _ => return None,
    };
    Some(count * days)
}

/// `timeframe`'s window in microseconds (`None` for `1D`) and its name.
fn timeframe(text: &str) -> Option<(Option<i64>, &'static str)> {
    const MINUTE: i64 = 60_000_000;
    Some(match text.trim() {
        "1Min" => (Some(MINUTE), "1Min"),
        "5Min" => (Some(5 * MINUTE), "5Min"),
        "15Min" => (Some(15 * MINUTE), "15Min"),
        "1H" => (Some(60 * MINUTE), "1H"),
        "1D" => (None, "1D"),
        _ => return None,
    })
}

/// An RFC 3339 instant parameter, in Unix microseconds.
fn instant(query: &str, name: &str) -> Result<Option<i64>, Reply> {
    query_param(query, name)
        .map(|text| {
            let plus = text.replacen(' ', "+", 1);
            Timestamp::parse_rfc3339(&text)
                .or_else(|| Timestamp::parse_rfc3339(&plus))
                .map(|t| t.unix_micros)
                .ok_or_else(|| refuse(name, &text, "an RFC 3339 time"))
        })
        .transpose()
}

/// A `true`/`false` parameter, `false` when absent.
fn flag(query: &str, name: &str) -> Result<bool, Reply> {
    match query_param(query, name) {
        None => Ok(false),
        Some(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Some(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        Some(text) => Err(refuse(name, &text, "true or false")),
    }
}

/// One of `allowed`, `None` when absent.
fn one_of(
    query: &str,
    name: &str,
    allowed: &[&'static str],
) -> Result<Option<&'static str>, Reply> {
    query_param(query, name)
        .map(|text| {
            allowed
                .iter()
                .copied()
                .find(|a| a.eq_ignore_ascii_case(text.trim()))
                .ok_or_else(|| refuse(name, &text, &allowed.join(" or ")))
        })
        .transpose()
}

impl HistoryRequest {
    /// Reads `query` at `now` (Unix microseconds): the window never ends
    /// past `now`.
    fn read(query: &str, now: i64) -> Result<Self, Reply> {
        let days = query_param(query, "period")
            .map(|text| {
                period_days(&text).ok_or_else(|| refuse("period", &text, "1D, 2W, 3M or 1A"))
            })
            .transpose()?;
        let start = instant(query, "start")?;
        let mut end = instant(query, "end")?.unwrap_or(now).min(now);
        if let Some(text) = query_param(query, "date_end") {
            let date: Date = text
                .trim()
                .parse()
                .map_err(|_| refuse("date_end", &text, "a date such as 2025-01-02"))?;
            let next = Date::from_days_since_epoch(date.days_since_epoch() + 1)
                .and_then(Date::eastern_midnight)
                .unwrap_or(now);
            end = end.min(next);
        }
        let span_days = days.unwrap_or_else(|| {
            start.map_or(30, |s| (end - s).div_euclid(MICROS_PER_DAY).max(0) + 1)
        });
        let (step_micros, timeframe_name) = match query_param(query, "timeframe") {
            Some(text) => timeframe(&text)
                .ok_or_else(|| refuse("timeframe", &text, "1Min, 5Min, 15Min, 1H or 1D"))?,
            None if span_days < 7 => (Some(60_000_000), "1Min"),
            None if span_days < 30 => (Some(900_000_000), "15Min"),
            None => (None, "1D"),
        };
        let start = start.unwrap_or_else(|| end - span_days * MICROS_PER_DAY);
        if start > end {
            return Err(Reply::error(
                422,
                code::UNPROCESSABLE,
                "invalid start: it is after end (or after now)",
            ));
        }
        let extended = flag(query, "extended_hours")?;
        let hours = match one_of(
            query,
            "intraday_reporting",
            &["market_hours", "extended_hours", "continuous"],
        )? {
            Some("continuous") => Hours::Continuous,
            Some("extended_hours") => Hours::Extended,
            _ if extended => Hours::Extended,
            _ => Hours::Regular,
        };
        let reset = one_of(query, "pnl_reset", &["per_day", "no_reset"])?;
        check_cashflow_types(query)?;
        Ok(Self {
            start,
            end,
            step_micros,
            timeframe_name,
            hours,
            reset_daily: step_micros.is_some() && reset != Some("no_reset"),
        })
    }

    /// Each window's label and the instant it is valued at, oldest first.
    fn windows(&self, calendar: Option<&Calendar>, now: i64) -> Result<Vec<(i64, i64)>, Reply> {
        let too_many = || {
            Reply::error(
                422,
                code::UNPROCESSABLE,
                &format!(
                    "invalid timeframe \"{}\": the period holds more than {MAX_HISTORY_POINTS} \
                     points; use a coarser timeframe or a shorter period",
                    self.timeframe_name
                ),
            )
        };
        let mut windows = Vec::new();
        match self.step_micros {
            Some(step) => {
                let mut label = self.start.div_euclid(step) * step;
                while label < self.end {
                    if self.admits(calendar, label) {
                        if windows.len() >= MAX_HISTORY_POINTS {
                            return Err(too_many());
                        }
                        windows.push((label, (label + step).min(now)));
                    }
                    label += step;
                }
            }
            None => {
                let (first, last) = (Date::eastern(self.start), Date::eastern(self.end));
                let mut day = first.days_since_epoch();
                while day <= last.days_since_epoch() {
                    let date = Date::from_days_since_epoch(day).ok_or_else(too_many)?;
                    let midnight = date.eastern_midnight().ok_or_else(too_many)?;
                    let close = match calendar {
                        Some(c) => c.trading_day(date).map(|d| d.close),
                        None => Some(midnight + MICROS_PER_DAY),
                    };
                    if let Some(close) = close.filter(|_| midnight < self.end) {
                        if windows.len() >= MAX_HISTORY_POINTS {
                            return Err(too_many());
                        }
                        windows.push((midnight, close.min(now)));
                    }
                    day += 1;
                }
            }
        }
        Ok(windows)
    }

    /// Whether an intraday window starting at `label` is reported.
    fn admits(&self, calendar: Option<&Calendar>, label: i64) -> bool {
        let Some(calendar) = calendar else {
            return true;
        };
        use fillproof_simulator::Session as Phase;
        matches!(
            (self.hours, calendar.session_at(label)),
            (Hours::Continuous, _)
                | (_, Some(Phase::Regular))
                | (Hours::Extended, Some(Phase::PreMarket | Phase::AfterHours))
        )
    }
}

/// `cashflow_types`: activity types Alpaca knows (the account has no cash
/// flows, so the answer's `cashflow` is empty whichever are asked for).
fn check_cashflow_types(query: &str) -> Result<(), Reply> {
    let Some(listed) = query_param(query, "cashflow_types") else {
        return Ok(());
    };
    for kind in listed.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if !matches!(kind, "ALL" | "NONE") && !crate::lists::ACTIVITY_TYPES.contains(&kind) {
            return Err(refuse(
                "cashflow_types",
                kind,
                "activity types such as DIV or CSD, ALL or NONE",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 1_736_272_800_000_000; // 2025-01-07T18:00:00Z, a Tuesday

    /// Goal: periods and timeframes read as Alpaca spells them, with its
    /// defaults. Method: each unit and each timeframe, and the defaults by
    /// period length.
    #[test]
    fn periods_and_timeframes_read_as_alpaca_spells_them() {
        assert_eq!(period_days("1D"), Some(1));
        assert_eq!(period_days("2W"), Some(14));
        assert_eq!(period_days("3M"), Some(90));
        assert_eq!(period_days("1A"), Some(365));
        assert_eq!(period_days("D"), None);
        assert_eq!(period_days("1X"), None);
        for (query, name) in [("period=1D", "1Min"), ("period=2W", "15Min"), ("", "1D")] {
            let request = HistoryRequest::read(query, NOON).expect(query);
            assert_eq!(request.timeframe_name, name, "{query}");
        }
        let request = HistoryRequest::read("period=1W&timeframe=1H", NOON).expect("reads");
        assert_eq!(request.step_micros, Some(3_600_000_000));
        assert_eq!(request.end, NOON);
    }

    /// Goal: a window never reaches past now. Method: an `end` a day in the
    /// future is cut at now.
    #[test]
    fn the_window_never_reaches_past_now() {
        let request =
            HistoryRequest::read("end=2025-01-08T18:00:00Z&period=1D", NOON).expect("reads");
        assert_eq!(request.end, NOON);
    }
}
