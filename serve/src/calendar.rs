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
//! Entry point: [`Session::calendar`]. Imports `api`'s query reading and
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

impl Session {
    /// `GET /v2/calendar` with its `query`.
    pub(crate) fn calendar(&self, query: &str) -> Reply {
        let calendar = Calendar::us_equities();
        let first = Date::new(calendar.first_year(), 1, 1);
        let last = Date::new(calendar.last_year(), 12, 31);
        let (start, end) = match (date_param(query, "start"), date_param(query, "end")) {
            (Ok(start), Ok(end)) => (start, end),
            (Err(refusal), _) | (_, Err(refusal)) => return refusal,
        };
        if let (Some(start), Some(end)) = (start, end) {
            if end < start {
                return Reply::error(
                    422,
                    code::UNPROCESSABLE,
                    &format!("end {end} is before start {start}"),
                );
            }
        }
        let (Some(start), Some(end)) = (start.or(first), end.or(last)) else {
            return Reply::json(200, Value::Array(Vec::new()));
        };
        let by_settlement = match query_param(query, "date_type").as_deref() {
            None | Some("TRADING") => false,
            Some("SETTLEMENT") => true,
            Some(other) => {
                return Reply::error(
                    400,
                    code::BAD_REQUEST,
                    &format!("invalid date_type \"{other}\": use TRADING or SETTLEMENT"),
                );
            }
        };
        let days: Vec<Value> = if by_settlement {
            // A day settles at most a week after it trades.
            let before = Date::from_days_since_epoch(start.days_since_epoch() - 7).unwrap_or(start);
            calendar
                .days(before, end)
                .filter(|day| {
                    calendar
                        .settlement_date(day.date)
                        .is_some_and(|settles| settles >= start && settles <= end)
                })
                .map(|day| day_json(&calendar, &day))
                .collect()
        } else {
            calendar
                .days(start, end)
                .map(|day| day_json(&calendar, &day))
                .collect()
        };
        Reply::json(200, Value::Array(days))
    }
}
