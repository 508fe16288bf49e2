//! Alpaca's Market Data API v2 bars, latest bars and snapshots for stocks,
//! from the tape the simulated market prints (one trade per path step; see
//! `fillproof_simulator::Market::bars`).
//!
//! Bars: `GET /v2/stocks/{symbol}/bars` answers `{"bars": [...], "symbol",
//! "next_page_token"}`, `GET /v2/stocks/bars?symbols=` answers `{"bars":
//! {S: [...]}, "next_page_token"}` (symbols in name order, a symbol with
//! no bar left out, `limit` counting the bars of all of them). A bar is
//! listed when its bucket's start lies from `start` to `end`, both
//! included; it holds the trades of its bucket up to the request's arrival,
//! so the bucket in progress shows its trades so far and no bar is ever
//! from the future. `start` defaults to New York's midnight of the day of
//! arrival, `end` to the arrival; either may be RFC 3339 or a date (a
//! `start` date is that New York day's midnight, an `end` date takes in
//! the whole day). A `start` before the session began is fine: the tape
//! begins with the session, so there is nothing before it. `feed`,
//! `adjustment`, `asof` and `currency` are checked and change nothing (one
//! feed, no corporate actions).
//!
//! Refusals name the parameter, in Alpaca's error shape: a symbol not
//! listed is 404 (as the latest quote and trade answer it); a missing or
//! unreadable `timeframe`, `start`, `end`, `sort`, `feed`, `adjustment`,
//! `limit` or `page_token` is 400; an `end` before `start`, a `limit`
//! outside 1 to 10,000, or a read over more steps of a tape than the
//! market reads at once is 422. Paging is by an opaque token: a page stops
//! at `limit` bars, or before a symbol whose read would take the request
//! past [`MAX_BAR_STEPS`] steps in all, and its token resumes there.
//!
//! Snapshots: `GET /v2/stocks/{symbol}/snapshot` answers `{"symbol",
//! "latestTrade", "latestQuote", "minuteBar", "dailyBar", "prevDailyBar"}`
//! and `GET /v2/stocks/snapshots?symbols=` answers `{S: {...}}` without the
//! symbol, as alpaca-py's `Snapshot` reads them; each part is `null` when
//! there is none (no trade yet, no bar in the minute, no day before the
//! session's first). The minute and daily bars are those in progress.
//!
//! Entry points: [`Session::bars_one`], [`Session::bars_many`],
//! [`Session::latest_bar`], [`Session::latest_bars`],
//! [`Session::snapshot_one`], [`Session::snapshots`]. Imports `api`'s
//! query reading, `market`'s shapes, `session` and `wire`.

use std::time::Duration;

use fillproof_engine::Timestamp;
use fillproof_simulator::{Bar, Date, MAX_BAR_LIMIT, MAX_BAR_STEPS, Timeframe};
use serde_json::{Map, Value, json};

use crate::api::query_param;
use crate::market::{number, quote_json, symbols_param, unknown_symbol};
use crate::session::Session;
use crate::wire::{Reply, code};

/// The bars a request gets when it names no `limit`, as Alpaca's default.
pub const DEFAULT_BAR_LIMIT: usize = 1_000;

/// The feeds Alpaca serves stocks from; every one answers the same tape.
pub(crate) const FEEDS: &[&str] = &["iex", "sip", "delayed_sip", "otc", "boats", "overnight"];

/// The corporate-action adjustments Alpaca takes (alone or joined by
/// commas); the tape has no corporate actions, so each reads it raw.
const ADJUSTMENTS: &[&str] = &["raw", "split", "dividend", "spin-off", "all"];

/// A bars request as read from its query, in wall-clock microseconds.
pub(crate) struct BarRequest {
    timeframe: Timeframe,
    /// The first bucket listed: the first bucket start at or after `start`.
    from: i64,
    /// Where reading ends (exclusive): the end of `end`'s bucket, or just
    /// past the arrival, whichever is first.
    until: i64,
    limit: usize,
    descending: bool,
    /// Where a page token resumes: the symbol and the instant (the next
    /// bucket's start going up, the last read bucket's start going down).
    token: Option<(String, i64)>,
}

/// A 400 naming what is wrong.
pub(crate) fn bad(message: &str) -> Reply {
    Reply::error(400, code::BAD_REQUEST, message)
}

/// A 422 naming what is wrong.
pub(crate) fn unprocessable(message: &str) -> Reply {
    Reply::error(422, code::UNPROCESSABLE, message)
}

/// `name`'s value as an instant: RFC 3339, or a date (its New York
/// midnight for `start`; for `end`, the last microsecond of that day).
pub(crate) fn instant(name: &str, text: &str) -> Result<i64, Reply> {
    if let Some(stamp) = Timestamp::parse_rfc3339(text) {
        return Ok(stamp.unix_micros);
    }
    let refused = || {
        bad(&format!(
            "invalid {name} \"{text}\": use RFC 3339 (2025-01-02T14:30:00Z) or a date (2025-01-02)"
        ))
    };
    let date: Date = text.parse().map_err(|_| refused())?;
    let day = if name == "end" {
        Date::from_days_since_epoch(date.days_since_epoch() + 1)
    } else {
        Some(date)
    };
    let midnight = day.and_then(Date::eastern_midnight).ok_or_else(refused)?;
    Ok(if name == "end" {
        midnight - 1
    } else {
        midnight
    })
}

/// The value of `name` when it is one of `allowed` (each part of a
/// comma-separated list when `list`), or the refusal naming it.
pub(crate) fn one_of(
    query: &str,
    name: &str,
    allowed: &[&str],
    list: bool,
) -> Result<Option<String>, Reply> {
    let Some(value) = query_param(query, name) else {
        return Ok(None);
    };
    let parts: Vec<&str> = if list {
        value.split(',').map(str::trim).collect()
    } else {
        vec![value.as_str()]
    };
    if parts.iter().all(|part| allowed.contains(part)) {
        Ok(Some(value))
    } else {
        Err(bad(&format!(
            "invalid {name} \"{value}\": use {}",
            allowed.join(", ")
        )))
    }
}

/// `limit`: 1 to [`MAX_BAR_LIMIT`], [`DEFAULT_BAR_LIMIT`] when absent.
pub(crate) fn limit(query: &str) -> Result<usize, Reply> {
    let Some(text) = query_param(query, "limit") else {
        return Ok(DEFAULT_BAR_LIMIT);
    };
    let limit: u64 = text
        .trim()
        .parse()
        .map_err(|_| bad(&format!("invalid limit \"{text}\": use a whole number")))?;
    usize::try_from(limit)
        .ok()
        .filter(|l| (1..=MAX_BAR_LIMIT).contains(l))
        .ok_or_else(|| {
            unprocessable(&format!(
                "limit {text} is out of range: use 1 to {MAX_BAR_LIMIT}"
            ))
        })
}

/// A page token: the symbol and instant to resume from, hex-encoded.
pub(crate) fn token(symbol: &str, at: i64) -> String {
    format!("{symbol}\n{at}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The symbol and instant of a page token, or `None` for a token this
/// server did not make.
fn read_token(text: &str) -> Option<(String, i64)> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 || bytes.len() > 256 {
        return None;
    }
    let raw: Option<Vec<u8>> = bytes
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect();
    let raw = String::from_utf8(raw?).ok()?;
    let (symbol, at) = raw.split_once('\n')?;
    Some((symbol.to_owned(), at.parse().ok()?))
}

/// A data request's `start` and `end` at `now` (wall-clock
/// microseconds): `start` defaults to New York's midnight, `end` to now;
/// an `end` before `start` is 422.
pub(crate) fn read_window(query: &str, now: i64) -> Result<(i64, i64), Reply> {
    let start = match query_param(query, "start") {
        Some(text) => instant("start", &text)?,
        None => Date::eastern(now).eastern_midnight().unwrap_or(now),
    };
    let end = match query_param(query, "end") {
        Some(text) => instant("end", &text)?,
        None => now,
    };
    if end < start {
        return Err(unprocessable(&format!(
            "end {} is before start {}",
            Timestamp::from_unix_micros(end),
            Timestamp::from_unix_micros(start)
        )));
    }
    Ok((start, end))
}

/// A request's `page_token`, when it has one: where the page resumes.
pub(crate) fn page_token(query: &str) -> Result<Option<(String, i64)>, Reply> {
    match query_param(query, "page_token").filter(|t| !t.is_empty()) {
        Some(text) => read_token(&text).map(Some).ok_or_else(|| {
            bad(&format!(
                "invalid page_token \"{text}\": pass next_page_token as it was sent"
            ))
        }),
        None => Ok(None),
    }
}

/// Reads a bars request's query at `now` (wall-clock microseconds).
pub(crate) fn read_request(query: &str, now: i64) -> Result<BarRequest, Reply> {
    let timeframe: Timeframe = query_param(query, "timeframe")
        .ok_or_else(|| bad("timeframe is required: 1Min, 5Min, 15Min, 1Hour or 1Day"))?
        .parse()
        .map_err(|error: fillproof_simulator::TimeframeError| bad(&error.to_string()))?;
    let (start, end) = read_window(query, now)?;
    let descending = one_of(query, "sort", &["asc", "desc"], false)?.as_deref() == Some("desc");
    one_of(query, "feed", FEEDS, false)?;
    one_of(query, "adjustment", ADJUSTMENTS, true)?;
    let limit = limit(query)?;
    let token = page_token(query)?;
    let from = if timeframe.bucket_start(start) == start {
        start
    } else {
        timeframe.next_bucket(start)
    };
    let until = timeframe.next_bucket(end).min(now.saturating_add(1));
    Ok(BarRequest {
        timeframe,
        from,
        until,
        limit,
        descending,
        token,
    })
}

/// A bar as the data API sends it.
pub(crate) fn bar_json(bar: &Bar) -> Value {
    json!({
        "t": bar.t.to_string(), "o": number(bar.o), "h": number(bar.h), "l": number(bar.l),
        "c": number(bar.c), "v": bar.v, "n": bar.n, "vw": number(bar.vw),
    })
}

/// One symbol's page of bars and where the next page resumes.
type Page = (Vec<Bar>, Option<i64>);

/// The bars of each symbol read, and the token of the next page.
type Pages = (Vec<(String, Vec<Bar>)>, Option<String>);

impl Session {
    /// The virtual time of the wall-clock instant `wall`, zero before the
    /// session began.
    pub(crate) fn virtual_at(&self, wall: i64) -> Duration {
        let origin = self.broker.model().time_origin();
        origin
            .elapsed_of(Timestamp::from_unix_micros(wall))
            .unwrap_or(Duration::ZERO)
    }

    /// The bars of `symbol` over its trades from `from` to `until`
    /// (wall-clock, end excluded), at most `limit`, and the wall-clock
    /// start of the bucket a read for more resumes at.
    fn read_bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        (from, until): (i64, i64),
        limit: usize,
    ) -> Result<Page, Reply> {
        let origin = self.broker.model().time_origin();
        let span = self.virtual_at(from)..self.virtual_at(until);
        let bars = self
            .broker
            .market()
            .bars(symbol, timeframe, origin, span, limit)
            .map_err(|error| unprocessable(&error.to_string()))?;
        let resume = bars
            .resume
            .map(|at| timeframe.bucket_start(origin.at(at).unix_micros));
        Ok((bars.bars, resume))
    }

    /// One page of `symbol`'s bars for `request`, resuming at `resume`
    /// when a token says where, in the order asked for.
    fn page(
        &self,
        symbol: &str,
        request: &BarRequest,
        resume: Option<i64>,
        limit: usize,
    ) -> Result<Page, Reply> {
        let tf = request.timeframe;
        if !request.descending {
            let from = resume.unwrap_or(request.from);
            return self.read_bars(symbol, tf, (from, request.until), limit);
        }
        // Going down: the `limit` buckets before where this page ends.
        let until = resume.unwrap_or(request.until);
        let mut first = tf.bucket_start(until.saturating_sub(1));
        for _ in 1..limit {
            if first <= request.from {
                break;
            }
            first = tf.previous_bucket(first);
        }
        let first = first.max(request.from);
        let (mut bars, _) = self.read_bars(symbol, tf, (first, until), MAX_BAR_LIMIT)?;
        bars.reverse();
        let epoch = self.broker.model().time_origin().epoch_unix_micros();
        let more = first > request.from && first > tf.bucket_start(epoch);
        Ok((bars, more.then_some(first)))
    }

    /// The steps a read of `symbol` from `from` to `until` walks at most.
    fn steps_between(&self, symbol: &str, from: i64, until: i64) -> u64 {
        let span = self.virtual_at(until).saturating_sub(self.virtual_at(from));
        let step = self
            .broker
            .market()
            .step_of(symbol)
            .unwrap_or(Duration::from_secs(1));
        u64::try_from(span.as_nanos() / step.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    /// The bars of `symbols` (sorted) for `request`: each symbol's bars, and
    /// the token of the next page.
    pub(crate) fn collect_bars(
        &self,
        symbols: &[String],
        request: &BarRequest,
    ) -> Result<Pages, Reply> {
        let invalid = || bad("invalid page_token: it does not belong to this request");
        let first = match &request.token {
            Some((symbol, at)) => {
                let known = symbols
                    .iter()
                    .position(|s| s == symbol)
                    .ok_or_else(invalid)?;
                if *at < request.from || *at > request.until {
                    return Err(invalid());
                }
                known
            }
            None => 0,
        };
        let (mut remaining, mut budget) = (request.limit, MAX_BAR_STEPS);
        let mut pages = Vec::new();
        for (index, symbol) in symbols.iter().enumerate().skip(first) {
            let resume = request
                .token
                .as_ref()
                .filter(|_| index == first)
                .map(|t| t.1);
            let steps = self.steps_between(symbol, resume.unwrap_or(request.from), request.until);
            if index > first && steps > budget {
                let at = if request.descending {
                    request.until
                } else {
                    request.from
                };
                return Ok((pages, Some(token(symbol, at))));
            }
            budget = budget.saturating_sub(steps);
            let (bars, next) = self.page(symbol, request, resume, remaining)?;
            remaining = remaining.saturating_sub(bars.len());
            pages.push((symbol.clone(), bars));
            if let Some(at) = next {
                return Ok((pages, Some(token(symbol, at))));
            }
            if remaining == 0 {
                let at = if request.descending {
                    request.until
                } else {
                    request.from
                };
                return Ok((pages, symbols.get(index + 1).map(|s| token(s, at))));
            }
        }
        Ok((pages, None))
    }

    /// `GET /v2/stocks/{symbol}/bars` at `arrival`.
    pub(crate) fn bars_one(&self, symbol: &str, query: &str, arrival: Duration) -> Reply {
        if self.broker.market().step_of(symbol).is_none() {
            return unknown_symbol(symbol);
        }
        let result = read_request(query, self.stamp(arrival).unix_micros)
            .and_then(|request| self.collect_bars(&[symbol.to_owned()], &request));
        match result {
            Ok((pages, next)) => {
                let bars: Vec<Value> = pages
                    .iter()
                    .flat_map(|(_, bars)| bars.iter().map(bar_json))
                    .collect();
                Reply::json(
                    200,
                    json!({ "bars": bars, "symbol": symbol, "next_page_token": next }),
                )
            }
            Err(refusal) => refusal,
        }
    }

    /// `GET /v2/stocks/bars?symbols=` at `arrival`.
    pub(crate) fn bars_many(&self, query: &str, arrival: Duration) -> Reply {
        let result = self.listed_symbols(query).and_then(|symbols| {
            let request = read_request(query, self.stamp(arrival).unix_micros)?;
            self.collect_bars(&symbols, &request)
        });
        match result {
            Ok((pages, next)) => {
                let bars: Map<String, Value> = pages
                    .into_iter()
                    .filter(|(_, bars)| !bars.is_empty())
                    .map(|(symbol, bars)| (symbol, bars.iter().map(bar_json).collect()))
                    .collect();
                Reply::json(200, json!({ "bars": bars, "next_page_token": next }))
            }
            Err(refusal) => refusal,
        }
    }

    /// The `symbols` of a multi-symbol request, sorted and each once, or
    /// the refusal (none named, too many, one not listed).
    pub(crate) fn listed_symbols(&self, query: &str) -> Result<Vec<String>, Reply> {
        let mut symbols = symbols_param(query)?;
        symbols.sort();
        symbols.dedup();
        match symbols
            .iter()
            .find(|s| self.broker.market().step_of(s).is_none())
        {
            Some(unknown) => Err(unknown_symbol(unknown)),
            None => Ok(symbols),
        }
    }

    /// The bar of `symbol` at `timeframe` whose bucket holds the wall-clock
    /// instant `at`, over its trades up to `until`; `None` when it has none.
    pub(crate) fn bar_holding(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        at: i64,
        until: i64,
    ) -> Result<Option<Bar>, Reply> {
        let from = timeframe.bucket_start(at);
        let (bars, _) = self.read_bars(
            symbol,
            timeframe,
            (from, until.min(timeframe.next_bucket(at))),
            1,
        )?;
        Ok(bars.last().copied())
    }

    /// The latest minute bar of `symbol` at `arrival` (the one in
    /// progress), as JSON or `null`.
    pub(crate) fn minute_bar(&self, symbol: &str, arrival: Duration) -> Result<Value, Reply> {
        let now = self.stamp(arrival).unix_micros;
        let bar = self.bar_holding(symbol, Timeframe::Minutes(1), now, now + 1)?;
        Ok(bar.as_ref().map_or(Value::Null, bar_json))
    }

    /// `GET /v2/stocks/{symbol}/bars/latest`: `{"symbol", "bar"}`.
    pub(crate) fn latest_bar(&self, symbol: &str, arrival: Duration) -> Reply {
        if self.broker.market().step_of(symbol).is_none() {
            return unknown_symbol(symbol);
        }
        match self.minute_bar(symbol, arrival) {
            Ok(bar) => Reply::json(200, json!({ "symbol": symbol, "bar": bar })),
            Err(refusal) => refusal,
        }
    }

    /// `GET /v2/stocks/bars/latest?symbols=`: `{"bars": {S: {...}}}`.
    pub(crate) fn latest_bars(&self, query: &str, arrival: Duration) -> Reply {
        let result = self.listed_symbols(query).and_then(|symbols| {
            let mut bars = Map::new();
            for symbol in symbols {
                let bar = self.minute_bar(&symbol, arrival)?;
                if !bar.is_null() {
                    bars.insert(symbol, bar);
                }
            }
            Ok(bars)
        });
        match result {
            Ok(bars) => Reply::json(200, json!({ "bars": bars })),
            Err(refusal) => refusal,
        }
    }

    /// `symbol`'s snapshot at `arrival`, without the symbol.
    pub(crate) fn snapshot(&self, symbol: &str, arrival: Duration) -> Result<Value, Reply> {
        let now = self.stamp(arrival).unix_micros;
        let today = Timeframe::Day.bucket_start(now);
        let daily = self.bar_holding(symbol, Timeframe::Day, now, now + 1)?;
        let previous = self.bar_holding(symbol, Timeframe::Day, today - 1, today)?;
        let quote = self
            .broker
            .market()
            .quote_at(symbol, arrival)
            .map_or(Value::Null, |quote| quote_json(&quote, self.stamp(arrival)));
        Ok(json!({
            "latestTrade": self.last_trade_json(symbol, arrival),
            "latestQuote": quote,
            "minuteBar": self.minute_bar(symbol, arrival)?,
            "dailyBar": daily.as_ref().map_or(Value::Null, bar_json),
            "prevDailyBar": previous.as_ref().map_or(Value::Null, bar_json),
        }))
    }

    /// The refusal of snapshots of `symbols` whose day bars would walk
    /// more than [`MAX_BAR_STEPS`] steps in all.
    pub(crate) fn snapshot_budget(
        &self,
        symbols: &[String],
        arrival: Duration,
    ) -> Result<(), Reply> {
        let now = self.stamp(arrival).unix_micros;
        let from = Timeframe::Day.previous_bucket(now);
        let steps: u64 = symbols
            .iter()
            .map(|s| self.steps_between(s, from, now))
            .fold(0, u64::saturating_add);
        if steps > MAX_BAR_STEPS {
            return Err(unprocessable(&format!(
                "symbols: {} snapshots read {steps} steps of the tape; at most {MAX_BAR_STEPS} are \
                 read per request: ask for fewer symbols",
                symbols.len()
            )));
        }
        Ok(())
    }

    /// `GET /v2/stocks/{symbol}/snapshot`.
    pub(crate) fn snapshot_one(&self, symbol: &str, arrival: Duration) -> Reply {
        if self.broker.market().step_of(symbol).is_none() {
            return unknown_symbol(symbol);
        }
        let result = self
            .snapshot_budget(&[symbol.to_owned()], arrival)
            .and_then(|()| self.snapshot(symbol, arrival));
        match result {
            Ok(Value::Object(mut snapshot)) => {
                snapshot.insert("symbol".into(), Value::from(symbol));
                Reply::json(200, Value::Object(snapshot))
            }
            Ok(other) => Reply::json(200, other),
            Err(refusal) => refusal,
        }
    }

    /// `GET /v2/stocks/snapshots?symbols=`: `{S: {...}}`.
    pub(crate) fn snapshots(&self, query: &str, arrival: Duration) -> Reply {
        let result = self.listed_symbols(query).and_then(|symbols| {
            self.snapshot_budget(&symbols, arrival)?;
            symbols
                .into_iter()
                .map(|symbol| Ok((symbol.clone(), self.snapshot(&symbol, arrival)?)))
                .collect::<Result<Map<String, Value>, Reply>>()
        });
        match result {
            Ok(snapshots) => Reply::json(200, Value::Object(snapshots)),
            Err(refusal) => refusal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page token reads back to what it was made of; text that is not
    /// one does not read.
    #[test]
    fn page_tokens_round_trip() {
        let made = token("SPY", 1_735_828_200_000_000);
        assert_eq!(
            read_token(&made),
            Some(("SPY".to_owned(), 1_735_828_200_000_000))
        );
        for bad in ["", "zz", "abc", "5350", "535059", &"00".repeat(200)] {
            assert_eq!(read_token(bad), None, "{bad}");
        }
    }
}
