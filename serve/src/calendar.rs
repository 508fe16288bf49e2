//! The Trading API's `GET /v2/calendar`: the US equity market's trading
//! days from the bundled calendar ([`fillproof_simulator::Calendar`]), each
//! as Alpaca answers it: `{"date": "2025-01-02", "open": "09:30", "close":
//! "16:00", "session_open": "0400", "session_close": "2000",
//! "settlement_date": "2025-01-03"}` (times in New York; an early close
//! reads `"13:00"` and `"1700"`).
//!
//! `start` and `end` (both included) are dates, or RFC 3339 instants read
//! as their New York date; they default to the first and last covered
//! days. Alpaca's calendar runs from 1970 to 2029; the bundled one covers
//! 2024 to 2028, so a range reaching outside answers the covered days in
//! it, and one wholly outside answers `[]`. `date_type=SETTLEMENT` picks
//! the days whose settlement date is in the range instead (`TRADING`, the
//! default, picks by trading date). Refusals name the parameter: an
//! unreadable `start`, `end` or `date_type` is 400; an `end` before
//! `start` is 422.
//!
//! `GET /v3/calendar/{market}` (the newer JS SDK's) answers the same days
//! as `{"market": {...}, "calendar": [{"date", "pre_start", "pre_end",
//! "core_start", "core_end", "post_start", "post_end",
//! "settlement_date"}]}`, each phase an RFC 3339 instant.
//!
//! Entry points: [`Session::calendar`], [`Session::calendar_v3`]. Imports `api`'s query reading and
//! `wire`.

use fillproof_engine::Timestamp;
use fillproof_simulator::{Calendar, Date, TradingDay};
use serde_json::{Value, json};

use crate::api::query_param;
use crate::session::Session;
use crate::wire::{Reply, code};

/// The date `name` gives: a date, or an RFC 3339 instant's New York date.
fn date_param(query: &str, name: &str) -> Result<Option<Date>, Reply> {
    let Some(text) = query_param(query, name) else {
        return Ok(None);
    };
    if let Ok(date) = text.trim().parse::<Date>() {
        return Ok(Some(date));
    }
    match Timestamp::parse_rfc3339(&text) {
        Some(stamp) => Ok(Some(Date::eastern(stamp.unix_micros))),
        None => Err(Reply::error(
            400,
            code::BAD_REQUEST,
            &format!("invalid {name} \"{text}\": use a date (2025-01-02) or RFC 3339"),
        )),
    }
}

/// One trading day as Alpaca's calendar lists it.
fn day_json(calendar: &Calendar, day: &TradingDay) -> Value {
    json!({
        "date": day.date.to_string(),
        "open": day.open_et(),
        "close": day.close_et(),
        "session_open": day.session_open_et(),
        "session_close": day.session_close_et(),
        "settlement_date": calendar.settlement_date(day.date).map(|d| d.to_string()),
    })
}

/// The trading days `query` asks for (`start`, `end`, `date_type`), or
/// the refusal naming the parameter.
fn days_asked(calendar: &Calendar, query: &str) -> Result<Vec<TradingDay>, Reply> {
    let first = Date::new(calendar.first_year(), 1, 1);
    let last = Date::new(calendar.last_year(), 12, 31);
    let start = date_param(query, "start")?;
    let end = date_param(query, "end")?;
    if let (Some(start), Some(end)) = (start, end) {
        if end < start {
            return Err(Reply::error(
                422,
                code::UNPROCESSABLE,
                &format!("end {end} is before start {start}"),
            ));
        }
    }
    let (Some(start), Some(end)) = (start.or(first), end.or(last)) else {
        return Ok(Vec::new());
    };
    let by_settlement = match query_param(query, "date_type").as_deref() {
        None | Some("TRADING") => false,
        Some("SETTLEMENT") => true,
        Some(other) => {
            return Err(Reply::error(
                400,
                code::BAD_REQUEST,
                &format!("invalid date_type \"{other}\": use TRADING or SETTLEMENT"),
            ));
        }
    };
    if !by_settlement {
        return Ok(calendar.days(start, end).collect());
    }
    // A day settles at most a week after it trades.
    let before = Date::from_days_since_epoch(start.days_since_epoch() - 7).unwrap_or(start);
    Ok(calendar
        .days(before, end)
        .filter(|day| {
            calendar
                .settlement_date(day.date)
                .is_some_and(|settles| settles >= start && settles <= end)
        })
        .collect())
}

/// One trading day as `GET /v3/calendar/{market}` lists it: each phase's
/// start and end as RFC 3339 instants.
fn day_json_v3(calendar: &Calendar, day: &TradingDay) -> Value {
    let at = |micros: i64| Timestamp::from_unix_micros(micros).to_string();
    json!({
        "date": day.date.to_string(),
        "pre_start": at(day.session_open),
        "pre_end": at(day.open),
        "core_start": at(day.open),
        "core_end": at(day.close),
        "post_start": at(day.close),
        "post_end": at(day.session_close),
        "settlement_date": calendar.settlement_date(day.date).map(|d| d.to_string()),
    })
}

/// The market the bundled calendar is, as the v3 endpoints name it.
pub(crate) fn nyse_json() -> Value {
    json!({
        "mic": "XNYS", "bic": Value::Null, "acronym": "NYSE",
        "name": "New York Stock Exchange", "timezone": "America/New_York",
    })
}

impl Session {
    /// `GET /v2/calendar` with its `query`.
    pub(crate) fn calendar(&self, query: &str) -> Reply {
        let calendar = Calendar::us_equities();
        match days_asked(&calendar, query) {
            Ok(days) => Reply::json(
                200,
                Value::Array(days.iter().map(|d| day_json(&calendar, d)).collect()),
            ),
            Err(refusal) => refusal,
        }
    }

    /// `GET /v3/calendar/{market}` with its `query`: the bundled calendar
    /// is the NYSE's (`NYSE` or its MIC `XNYS`); another market is
    /// refused naming it (serve has no calendar for it).
    pub(crate) fn calendar_v3(&self, market: &str, query: &str) -> Reply {
        if !matches!(market, "NYSE" | "XNYS") {
            return Reply::error(
                400,
                code::BAD_REQUEST,
                &format!("invalid market \"{market}\": fillproof serve's calendar is the NYSE's"),
            );
        }
        let calendar = Calendar::us_equities();
        match days_asked(&calendar, query) {
            Ok(days) => Reply::json(
                200,
                json!({
                    "market": nyse_json(),
                    "calendar": days.iter().map(|d| day_json_v3(&calendar, d)).collect::<Vec<_>>(),
                }),
            ),
            Err(refusal) => refusal,
        }
    }
}
