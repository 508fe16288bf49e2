//! Alpaca's crypto market data (`/v1beta3/crypto/us/...`, alpaca-py's
//! `CryptoHistoricalDataClient`), from the same market machinery as the
//! stocks: a symbol with a slash (`BTC/USD`) is a crypto pair, priced,
//! quoted and printed on the tape as any symbol the scenario lists.
//!
//! Every route takes `symbols` (pairs, comma-separated; a symbol without
//! a slash is 400 naming it, a pair the scenario does not price is 404)
//! and answers its records keyed by pair:
//!
//! - `bars` (`timeframe`, `start`, `end`, `limit`, `sort`,
//!   `page_token`) as the stock bars (`bars`): `{"bars": {S: [...]},
//!   "next_page_token"}`;
//! - `quotes`, `trades` as the stock history (`history`), each record in
//!   the crypto shape (`t`, `bp`, `bs`, `ap`, `as` for a quote; `t`, `p`,
//!   `s`, `i` for a trade: no exchange, conditions or tape; the tape
//!   knows no taker side, so `tks` is not sent);
//! - `latest/trades`, `latest/quotes` through the broker's market-data
//!   port, as the stocks' latest, and `latest/bars` (the minute bar in
//!   progress);
//! - `latest/orderbooks`: `{"orderbooks": {S: {"t", "b": [...], "a":
//!   [...]}}}`, one level a side, the quote's touches and sizes (the
//!   simulated market keeps no depth; a pair the scenario gives no quote
//!   model is quoted on both sides at its price, as its quotes are);
//! - `snapshots`: `{"snapshots": {S: {"latestTrade", "latestQuote",
//!   "minuteBar", "dailyBar", "prevDailyBar"}}}`.
//!
//! The location is `us`, the one alpaca-py's `CryptoFeed` names; another
//! is 404 naming it. Entry point: [`Session::crypto_route`]. Imports
//! `bars`, `history`, `market`, `session` and `wire`.

use std::time::Duration;

use fillproof_engine::MarketData as _;
use serde_json::{Map, Value, json};

use crate::bars::bad;
use crate::history::{Tick, by_symbol, read_ticks};
use crate::market::{number, symbols_param, unknown_symbol};
use crate::session::Session;
use crate::wire::{Reply, code};

/// The fields of a stock quote or trade a crypto record keeps.
const CRYPTO_FIELDS: &[&str] = &["t", "p", "s", "i", "bp", "bs", "ap", "as"];

/// `value` (a quote or trade, or `null`) in the crypto shape.
fn crypto_record(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(key, _)| CRYPTO_FIELDS.contains(&key.as_str()))
                .collect(),
        ),
        other => other,
    }
}

/// `reply`'s body made over by `reshape` when it is a 200.
fn reshaped(reply: Reply, reshape: impl FnOnce(Value) -> Value) -> Reply {
    match reply {
        Reply::Json { status: 200, body } => Reply::json(200, reshape(body)),
        other => other,
    }
}

/// Every record under `key` (a map by symbol of records, or of lists of
/// them) in the crypto shape.
fn crypto_records(mut body: Value, key: &str) -> Value {
    if let Some(Value::Object(by_symbol)) = body.get_mut(key) {
        for records in by_symbol.values_mut() {
            *records = match records.take() {
                Value::Array(list) => list.into_iter().map(crypto_record).collect(),
                one => crypto_record(one),
            };
        }
    }
    body
}

impl Session {
    /// The answer to a crypto data request at `arrival`, or `None` when
    /// `segments` are not under `/v1beta3/crypto`.
    pub(crate) async fn crypto_route(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        arrival: Duration,
    ) -> Option<Reply> {
        let ["v1beta3", "crypto", location, route @ ..] = segments else {
            return None;
        };
        if method != "GET" {
            return Some(Reply::error(405, code::BAD_REQUEST, "method not allowed"));
        }
        if *location != "us" {
            return Some(Reply::error(
                404,
                code::NOT_FOUND,
                &format!("crypto location \"{location}\" not found: use us"),
            ));
        }
        let symbols = match self.pairs(query) {
            Ok(symbols) => symbols,
            Err(refusal) => return Some(refusal),
        };
        Some(match route {
            ["bars"] => self.bars_many(query, arrival),
            ["quotes"] => self.crypto_ticks(&symbols, query, arrival, Tick::Quotes),
            ["trades"] => self.crypto_ticks(&symbols, query, arrival, Tick::Trades),
            ["latest", "trades"] => {
                reshaped(self.latest_many(query, "trades", arrival).await, |b| {
                    crypto_records(b, "trades")
                })
            }
            ["latest", "quotes"] => {
                reshaped(self.latest_many(query, "quotes", arrival).await, |b| {
                    crypto_records(b, "quotes")
                })
            }
            ["latest", "bars"] => self.latest_bars(query, arrival),
            ["latest", "orderbooks"] => self.orderbooks(&symbols, arrival).await,
            ["snapshots"] => reshaped(self.snapshots(query, arrival), |mut body| {
                if let Value::Object(by_symbol) = &mut body {
                    for snapshot in by_symbol.values_mut() {
                        for part in ["latestTrade", "latestQuote"] {
                            snapshot[part] = crypto_record(snapshot[part].take());
                        }
                    }
                }
                json!({ "snapshots": body })
            }),
            _ => Reply::error(404, code::NOT_FOUND, "endpoint not found"),
        })
    }

    /// The pairs `symbols` names, sorted and each once: every one with a
    /// slash, and priced by the scenario.
    fn pairs(&self, query: &str) -> Result<Vec<String>, Reply> {
        let mut symbols = symbols_param(query)?;
        if let Some(stock) = symbols.iter().find(|s| !s.contains('/')) {
            return Err(bad(&format!(
                "invalid symbol \"{stock}\" in symbols: a crypto pair is written BASE/QUOTE \
                 (BTC/USD)"
            )));
        }
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

    /// `quotes` or `trades` of `symbols` at `arrival`, in the crypto
    /// shape.
    fn crypto_ticks(
        &self,
        symbols: &[String],
        query: &str,
        arrival: Duration,
        kind: Tick,
    ) -> Reply {
        let result = read_ticks(query, self.stamp(arrival).unix_micros, &[])
            .and_then(|request| self.tick_pages(symbols, &request, kind));
        match result {
            Ok((pages, next)) => {
                let body = json!({ kind.key(): by_symbol(pages), "next_page_token": next });
                Reply::json(200, crypto_records(body, kind.key()))
            }
            Err(refusal) => refusal,
        }
    }

    /// `latest/orderbooks`: each pair's book at `arrival`, from its quote
    /// through the broker's market-data port.
    async fn orderbooks(&self, symbols: &[String], arrival: Duration) -> Reply {
        let at = self.stamp(arrival).to_string();
        let mut books = Map::new();
        for symbol in symbols {
            let Ok(quote) = self.broker.latest_quote(symbol).await else {
                return unknown_symbol(symbol);
            };
            books.insert(
                symbol.clone(),
                json!({
                    "t": at,
                    "b": [{ "p": number(quote.bid), "s": number(quote.bid_size) }],
                    "a": [{ "p": number(quote.ask), "s": number(quote.ask_size) }],
                }),
            );
        }
        Reply::json(200, json!({ "orderbooks": books }))
    }
}
