//! Historical quotes and trades, for stocks (Alpaca's Market Data API v2)
//! and crypto pairs (v1beta3, through `crypto`), from the tape the
//! simulated market prints: one trade per path step at the step's price,
//! and the quote the market shows at that step, both stamped at the
//! step's start. No trade or quote is listed while a halt holds the
//! symbol or the market is closed (the tape prints none then).
//!
//! Single symbol: `GET /v2/stocks/{symbol}/quotes` answers `{"quotes":
//! [...], "symbol", "next_page_token"}` (`trades` alike). Several:
//! `GET /v2/stocks/quotes?symbols=` answers `{"quotes": {S: [...]},
//! "next_page_token"}`, symbols in name order, a symbol with none left
//! out, `limit` counting the records of all of them. A record is listed
//! when its stamp lies from `start` to `end`, both included, and never
//! after the request's arrival: nothing from the future. `start` and
//! `end`, their defaults, `limit` (1 to 10,000, default 1,000), `sort`,
//! `feed` and `page_token` read as bars read them (`bars`), with the
//! same refusals; `asof` and `currency` change nothing.
//!
//! Paging is by the same opaque token as bars: the symbol and the
//! wall-clock instant the next page starts at (going up) or ends before
//! (going down). A page going down reads the `limit` steps before where
//! it ends, so a page that spans a halt may hold fewer than `limit`
//! records and still name a next page.
//!
//! Entry points: [`Session::ticks_one`], [`Session::ticks_many`], and
//! [`Session::tick_pages`] for the crypto routes. Imports `bars`'
//! request reading, `market`'s shapes, `session` and `wire`.

use std::time::Duration;

use fillproof_simulator::TapeTrade;
use serde_json::{Map, Value, json};

use crate::api::query_param;
use crate::bars::{FEEDS, bad, limit, one_of, page_token, token};
use crate::market::{quote_json, trade_json, unknown_symbol};
use crate::session::Session;
use crate::wire::Reply;

/// What a history request lists: quotes or trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// The market's quotes, one per step.
    Quotes,
    /// The tape's trades, one per step.
    Trades,
}

impl Tick {
    /// The key the records are listed under.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::Quotes => "quotes",
            Self::Trades => "trades",
        }
    }
}

/// A quotes or trades request as read from its query, in wall-clock
/// microseconds.
pub(crate) struct TickRequest {
    /// The first instant listed.
    from: i64,
    /// Where reading ends (exclusive): just past `end`, or just past the
    /// arrival, whichever is first.
    until: i64,
    limit: usize,
    descending: bool,
    /// Where a page token resumes: the symbol and the instant.
    token: Option<(String, i64)>,
}

/// Reads a quotes or trades request's query at `now` (wall-clock
/// microseconds); `feeds` are the feeds the route takes (none for crypto).
pub(crate) fn read_ticks(query: &str, now: i64, feeds: &[&str]) -> Result<TickRequest, Reply> {
    let (start, end) = crate::bars::read_window(query, now)?;
    let descending = one_of(query, "sort", &["asc", "desc"], false)?.as_deref() == Some("desc");
    if feeds.is_empty() {
        if let Some(feed) = query_param(query, "feed") {
            return Err(bad(&format!(
                "invalid feed \"{feed}\": crypto data takes its location in the path, not a feed"
            )));
        }
    } else {
        one_of(query, "feed", feeds, false)?;
    }
    let limit = limit(query)?;
    let token = page_token(query)?;
    Ok(TickRequest {
        from: start,
        until: end.saturating_add(1).min(now.saturating_add(1)),
        limit,
        descending,
        token,
    })
}

/// Each symbol's records, and the token of the next page.
pub(crate) type TickPages = (Vec<(String, Vec<Value>)>, Option<String>);

impl Session {
    /// The trades of `symbol` printed from `from` to `until` (wall clock,
    /// end excluded), at most `max` from the start.
    fn tape(&self, symbol: &str, (from, until): (i64, i64), max: usize) -> Vec<TapeTrade> {
        let span = self.virtual_at(from)..self.virtual_at(until);
        if span.is_empty() {
            return Vec::new();
        }
        self.broker
            .market()
            .trades(symbol, span, max)
            .unwrap_or_default()
    }

    /// The record `kind` shows of the step `trade` prints at.
    fn tick_json(&self, symbol: &str, trade: &TapeTrade, kind: Tick) -> Value {
        let at = self.stamp(trade.at);
        match kind {
            Tick::Trades => trade_json(trade, at),
            Tick::Quotes => self
                .broker
                .market()
                .quote_at(symbol, trade.at)
                .map_or(Value::Null, |quote| quote_json(&quote, at)),
        }
    }

    /// One page of `symbol`'s steps for `request`, resuming at `resume`,
    /// at most `max` of them, in the order asked for; and the wall-clock
    /// instant the next page resumes at, when there is more.
    fn tick_page(
        &self,
        symbol: &str,
        request: &TickRequest,
        resume: Option<i64>,
        max: usize,
    ) -> (Vec<TapeTrade>, Option<i64>) {
        let wall = |trade: &TapeTrade| self.stamp(trade.at).unix_micros;
        if !request.descending {
            let from = resume.unwrap_or(request.from);
            let mut trades = self.tape(symbol, (from, request.until), max.saturating_add(1));
            let next = (trades.len() > max).then(|| wall(&trades[max]));
            trades.truncate(max);
            return (trades, next);
        }
        // Going down: the `max` steps before where this page ends.
        let until = resume.unwrap_or(request.until);
        let step = self
            .broker
            .market()
            .step_of(symbol)
            .unwrap_or(Duration::from_secs(1));
        let step_micros = i64::try_from(step.as_micros()).unwrap_or(i64::MAX);
        let count = i64::try_from(max).unwrap_or(i64::MAX);
        let first = until
            .saturating_sub(step_micros.saturating_mul(count))
            .max(request.from);
        let mut trades = self.tape(symbol, (first, until), max);
        trades.reverse();
        let epoch = self.broker.model().time_origin().epoch_unix_micros();
        let more = first > request.from && first > epoch;
        (trades, more.then_some(first))
    }

    /// The records of `symbols` (sorted, each listed) for `request`, and
    /// the token of the next page.
    pub(crate) fn tick_pages(
        &self,
        symbols: &[String],
        request: &TickRequest,
        kind: Tick,
    ) -> Result<TickPages, Reply> {
        let invalid = || bad("invalid page_token: it does not belong to this request");
        let first = match &request.token {
            Some((symbol, at)) => {
                if *at < request.from || *at > request.until {
                    return Err(invalid());
                }
                symbols
                    .iter()
                    .position(|s| s == symbol)
                    .ok_or_else(invalid)?
            }
            None => 0,
        };
        let restart = if request.descending {
            request.until
        } else {
            request.from
        };
        let mut remaining = request.limit;
        let mut pages = Vec::new();
        for (index, symbol) in symbols.iter().enumerate().skip(first) {
            let resume = request
                .token
                .as_ref()
                .filter(|_| index == first)
                .map(|t| t.1);
            let (trades, next) = self.tick_page(symbol, request, resume, remaining);
            remaining = remaining.saturating_sub(trades.len());
            let records = trades
                .iter()
                .map(|trade| self.tick_json(symbol, trade, kind))
                .collect();
            pages.push((symbol.clone(), records));
            if let Some(at) = next {
                return Ok((pages, Some(token(symbol, at))));
            }
            if remaining == 0 {
                return Ok((pages, symbols.get(index + 1).map(|s| token(s, restart))));
            }
        }
        Ok((pages, None))
    }

    /// `GET /v2/stocks/{symbol}/quotes` or `/trades` at `arrival`.
    pub(crate) fn ticks_one(
        &self,
        symbol: &str,
        query: &str,
        arrival: Duration,
        kind: Tick,
    ) -> Reply {
        if self.broker.market().step_of(symbol).is_none() {
            return unknown_symbol(symbol);
        }
        let result = read_ticks(query, self.stamp(arrival).unix_micros, FEEDS)
            .and_then(|request| self.tick_pages(&[symbol.to_owned()], &request, kind));
        match result {
            Ok((pages, next)) => {
                let records: Vec<Value> = pages.into_iter().flat_map(|(_, r)| r).collect();
                Reply::json(
                    200,
                    json!({ kind.key(): records, "symbol": symbol, "next_page_token": next }),
                )
            }
            Err(refusal) => refusal,
        }
    }

    /// `GET /v2/stocks/quotes?symbols=` or `/trades?symbols=` at
    /// `arrival`.
    pub(crate) fn ticks_many(&self, query: &str, arrival: Duration, kind: Tick) -> Reply {
        let result = self.listed_symbols(query).and_then(|symbols| {
            let request = read_ticks(query, self.stamp(arrival).unix_micros, FEEDS)?;
            self.tick_pages(&symbols, &request, kind)
        });
        match result {
            Ok((pages, next)) => Reply::json(
                200,
                json!({ kind.key(): by_symbol(pages), "next_page_token": next }),
            ),
            Err(refusal) => refusal,
        }
    }
}

/// Pages as a map by symbol, a symbol with no record left out.
pub(crate) fn by_symbol(pages: Vec<(String, Vec<Value>)>) -> Map<String, Value> {
    pages
        .into_iter()
        .filter(|(_, records)| !records.is_empty())
        .map(|(symbol, records)| (symbol, Value::Array(records)))
        .collect()
}
